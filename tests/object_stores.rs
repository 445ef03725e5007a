//! Reading Segment's exports in place (SPEC §3.1): `s3://` PATHs against a
//! real S3-compatible server (s3s with its file-system back end) that each
//! test starts on 127.0.0.1, sometimes behind a proxy that cuts a download
//! midway. Objects are written as files under the server's root, which is
//! how s3s-fs stores them.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{TENANT, events, tracks};
use crate::support::mock_planhat::{MockConfig, MockPlanhat};
use crate::support::{bin, gzip, kill, stderr_of, stdout_of};

const BUCKET: &str = "segment-export";
const ACCESS_KEY: &str = "AKIATESTKEY";
const SECRET_KEY: &str = "s3cr3t-k3y-n0t-t0-b3-pr1nt3d";

/// An S3-compatible server on 127.0.0.1, serving the folders under `root`
/// as buckets.
struct S3Server {
    root: tempfile::TempDir,
    addr: SocketAddr,
}

impl S3Server {
    fn start() -> S3Server {
        S3Server::serving(true)
    }

    /// A stand-in for a GCS emulator: `object_store` speaks GCS's XML API,
    /// whose listing and ranged reads are S3's, and an emulator takes no
    /// token (`STORAGE_EMULATOR_HOST`, as Google's client libraries read it).
    fn start_gcs() -> S3Server {
        S3Server::serving(false)
    }

    fn serving(with_auth: bool) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        if with_auth {
            builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        }
        let service = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let http = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        continue;
                    };
                    let connection = http
                        .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                        .into_owned();
                    tokio::spawn(async move {
                        // A cut connection ends here; the server goes on.
                        connection.await.ok();
                    });
                }
            });
        });
        S3Server { root, addr }
    }

    fn put(&self, key: &str, bytes: &[u8]) {
        let path = self.root.path().join(BUCKET).join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The binary, pointed at `endpoint` with the test credentials, the way a
/// user's environment points the AWS CLI.
fn s3_bin(endpoint: &str) -> assert_cmd::Command {
    let mut command = bin();
    clear_cloud_env(&mut command);
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    command
}

/// The machine's own AWS and Google settings must not reach the tests.
fn clear_cloud_env<C: EnvRemove>(command: &mut C) {
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") || name.starts_with("GOOGLE_") {
            command.remove(&name);
        }
    }
}

trait EnvRemove {
    fn remove(&mut self, name: &str);
}

impl EnvRemove for assert_cmd::Command {
    fn remove(&mut self, name: &str) {
        self.env_remove(name);
    }
}

impl EnvRemove for Command {
    fn remove(&mut self, name: &str) {
        self.env_remove(name);
    }
}

fn ndjson(messages: &[Value]) -> Vec<u8> {
    messages
        .iter()
        .map(|m| format!("{m}\n"))
        .collect::<String>()
        .into_bytes()
}

fn track(event: &str) -> Value {
    json!({"type":"track","userId":"u1","event":event,"timestamp":"2024-03-01T12:00:00Z"})
}

/// The actions of every activity a dry run would send, in order.
fn dry_run_actions(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .flat_map(|request| request["body"].as_array().cloned().unwrap_or_default())
        .filter_map(|item| item["action"].as_str().map(str::to_owned))
        .collect()
}

fn dry_run(server_url: &str, paths: &[&str], extra: &[&str]) -> std::process::Output {
    s3_bin(server_url)
        .args(["send", "--dry-run", "--progress", "never"])
        .args(extra)
        .args(paths)
        .output()
        .unwrap()
}

fn export(server: &S3Server) {
    server.put("logs/b.ndjson", &ndjson(&[track("b1"), track("b2")]));
    server.put("logs/a/2.gz", &gzip(&ndjson(&[track("a2")])));
    server.put("logs/a/1.ndjson", &ndjson(&[track("a1")]));
    server.put("logs/.hidden/x.ndjson", &ndjson(&[track("hidden")]));
    server.put("logs/a/.dot.ndjson", &ndjson(&[track("dot")]));
    server.put("logs/a/empty", b"");
    server.put("logs-old/z.ndjson", &ndjson(&[track("old")]));
}

#[test]
fn a_prefix_is_read_as_a_folder_in_key_order_without_hidden_keys_or_other_folders() {
    let server = S3Server::start();
    export(&server);
    for prefix in ["logs", "logs/"] {
        let url = format!("s3://{BUCKET}/{prefix}");
        // AWS_ENDPOINT_URL wins over the crate's own AWS_ENDPOINT, as for
        // the AWS CLI: had this one been used, plain http to it is refused.
        let output = s3_bin(&server.url())
            .env("AWS_ENDPOINT", "http://s3.example.com")
            .args(["send", "--dry-run", "--progress", "never", &url])
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        assert_eq!(
            dry_run_actions(&stdout_of(&output)),
            ["a1", "a2", "b1", "b2"],
            "{prefix}"
        );
        assert!(!stderr.contains(SECRET_KEY), "{stderr}");
    }
    // One object by its key, mixed with a local file.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.ndjson");
    std::fs::write(&local, ndjson(&[track("local")])).unwrap();
    let one = format!("s3://{BUCKET}/logs/a/2.gz");
    let output = dry_run(&server.url(), &[local.to_str().unwrap(), &one], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(dry_run_actions(&stdout_of(&output)), ["local", "a2"]);
}

#[test]
fn positions_in_an_object_are_its_url_and_line() {
    let server = S3Server::start();
    server.put(
        "logs/bad.ndjson",
        b"{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\"}\nnot json\n",
    );
    let output = s3_bin(&server.url())
        .args(["validate", &format!("s3://{BUCKET}/logs/")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report = stdout_of(&output);
    assert!(
        report.contains(&format!("s3://{BUCKET}/logs/bad.ndjson:2")),
        "{report}"
    );
}

#[test]
fn a_missing_bucket_refused_credentials_and_an_empty_prefix_stop_before_anything_is_sent() {
    let server = S3Server::start();
    export(&server);
    let missing = s3_bin(&server.url())
        .args(["validate", "s3://no-such-bucket/logs/"])
        .output()
        .unwrap();
    let stderr = stderr_of(&missing);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("s3://no-such-bucket/logs/"), "{stderr}");
    assert!(stderr.contains("bucket was not found"), "{stderr}");

    let refused = s3_bin(&server.url())
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")
        .args(["validate", &format!("s3://{BUCKET}/logs/")])
        .output()
        .unwrap();
    let stderr = stderr_of(&refused);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("credentials were refused"), "{stderr}");
    assert!(stderr.contains("AWS_SECRET_ACCESS_KEY"), "{stderr}");
    assert!(!stderr.contains("wrong-secret-value"), "{stderr}");

    let empty = s3_bin(&server.url())
        .args(["validate", &format!("s3://{BUCKET}/nothing-here/")])
        .output()
        .unwrap();
    let stderr = stderr_of(&empty);
    assert_eq!(empty.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no objects to read"), "{stderr}");

    let plain = s3_bin("http://s3.example.com")
        .args(["validate", &format!("s3://{BUCKET}/logs/")])
        .output()
        .unwrap();
    let stderr = stderr_of(&plain);
    assert_eq!(plain.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("plain http"), "{stderr}");
}

/// A proxy in front of `upstream` that cuts the answers to GETs of `key`:
/// the first after `keep` bytes, later ones (until `cuts` in all) after
/// `then_keep`.
struct CuttingProxy {
    addr: SocketAddr,
    cut: Arc<AtomicUsize>,
    ranges: Arc<std::sync::Mutex<Vec<String>>>,
    /// The start of every request that passed, lower-cased.
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl CuttingProxy {
    fn start(
        upstream: SocketAddr,
        request_line: String,
        [keep, then_keep]: [usize; 2],
        cuts: usize,
    ) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicUsize::new(0));
        let ranges = Arc::new(std::sync::Mutex::new(Vec::new()));
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (cut_count, range_log) = (Arc::clone(&cut), Arc::clone(&ranges));
        let head_log = Arc::clone(&heads);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = TcpStream::connect(upstream).unwrap();
                let armed = Arc::new(AtomicUsize::new(0));
                let (mut from_client, mut to_server) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (request_line, armed_up) = (request_line.clone(), Arc::clone(&armed));
                let (cut_count_up, range_log) = (Arc::clone(&cut_count), Arc::clone(&range_log));
                let head_log = Arc::clone(&head_log);
                thread::spawn(move || {
                    let mut buffer = [0; 16 * 1024];
                    while let Ok(n) = from_client.read(&mut buffer) {
                        if n == 0 {
                            break;
                        }
                        let text = String::from_utf8_lossy(&buffer[..n]).to_lowercase();
                        head_log.lock().unwrap().push(text.clone());
                        if text.starts_with(&request_line.to_lowercase()) {
                            let range = text
                                .lines()
                                .find(|l| l.starts_with("range:"))
                                .unwrap_or("range: none")
                                .to_owned();
                            range_log.lock().unwrap().push(range);
                            let seen = cut_count_up.fetch_add(1, Ordering::SeqCst);
                            if seen < cuts {
                                let limit = if seen == 0 { keep } else { then_keep };
                                armed_up.store(limit, Ordering::SeqCst);
                            }
                        }
                        if to_server.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    to_server.shutdown(Shutdown::Write).ok();
                });
                let (mut from_server, mut to_client) = (server, client);
                thread::spawn(move || {
                    let mut buffer = [0; 4096];
                    let mut sent = 0;
                    while let Ok(n) = from_server.read(&mut buffer) {
                        if n == 0 {
                            break;
                        }
                        let limit = armed.load(Ordering::SeqCst);
                        let n = if limit > 0 { n.min(limit - sent) } else { n };
                        if to_client.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                        sent += n;
                        if limit > 0 && sent >= limit {
                            // The connection dies mid-answer.
                            to_client.shutdown(Shutdown::Both).ok();
                            from_server.shutdown(Shutdown::Both).ok();
                            break;
                        }
                    }
                    to_client.shutdown(Shutdown::Write).ok();
                });
            }
        });
        CuttingProxy {
            addr,
            cut,
            ranges,
            heads,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

#[test]
fn a_download_cut_midway_goes_on_with_a_range_request_and_loses_and_repeats_nothing() {
    let server = S3Server::start();
    let messages = tracks(3000);
    server.put("logs/big.ndjson.gz", &gzip(&ndjson(&messages)));
    let proxy = CuttingProxy::start(
        server.addr,
        Cloud::S3.get_line("logs/big.ndjson.gz"),
        [3000, 0],
        1,
    );
    let output = dry_run(&proxy.url(), &[&format!("s3://{BUCKET}/logs/")], &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(proxy.cut.load(Ordering::SeqCst) >= 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "retrying GET s3://{BUCKET}/logs/big.ndjson.gz from byte"
        )),
        "{stderr}"
    );
    let ranges = proxy.ranges.lock().unwrap().clone();
    assert_eq!(ranges[0], "range: none", "{ranges:?}");
    assert!(ranges[1].starts_with("range: bytes="), "{ranges:?}");
    let mut actions = dry_run_actions(&stdout_of(&output));
    assert_eq!(actions.len(), 3000, "nothing lost, nothing read twice");
    actions.sort();
    assert_eq!(actions, events(&messages));
}

#[test]
fn a_download_that_keeps_breaking_is_unreadable_from_there_and_the_run_goes_on() {
    let server = S3Server::start();
    server.put("logs/1-big.ndjson", &ndjson(&tracks(3000)));
    server.put("logs/2-next.ndjson", &ndjson(&[track("next")]));
    let proxy = CuttingProxy::start(
        server.addr,
        Cloud::S3.get_line("logs/1-big.ndjson"),
        [20_000, 100],
        usize::MAX,
    );
    let output = dry_run(
        &proxy.url(),
        &[&format!("s3://{BUCKET}/logs/")],
        &["--max-retries", "1"],
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("(attempt 1 of 1)"), "{stderr}");
    assert!(stderr.contains("unreadable"), "{stderr}");
    let actions = dry_run_actions(&stdout_of(&output));
    assert_eq!(actions.last().map(String::as_str), Some("next"));
    assert!(actions.len() < 3001);
}

fn spawn_send(
    server_url: &str,
    mock: &MockPlanhat,
    dir: &Path,
    url: &str,
    extra: &[&str],
) -> std::process::Child {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("segment-planhat"));
    clear_cloud_env(&mut command);
    command
        .env("AWS_ENDPOINT_URL", server_url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .args([
            "send",
            "--tenant-token",
            TENANT,
            "--analytics-url",
            &mock.url(),
            "--batch-size",
            "20",
            "--progress",
            "never",
        ])
        .args(extra)
        .arg("--checkpoint")
        .arg(dir.join("checkpoint.json"))
        .arg("--failed")
        .arg(dir.join("failed.ndjson"))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn slow_mock() -> MockPlanhat {
    MockPlanhat::start(MockConfig {
        tenant_token: Some(TENANT.into()),
        delay: Duration::from_millis(25),
        ..MockConfig::default()
    })
    .unwrap()
}

#[test]
fn a_killed_run_over_objects_resumes_from_its_checkpoint_and_loses_nothing() {
    let server = S3Server::start();
    let first = tracks(600);
    server.put("logs/1.ndjson", &ndjson(&first[..300]));
    server.put("logs/2.ndjson.gz", &gzip(&ndjson(&first[300..])));
    let mock = slow_mock();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("s3://{BUCKET}/logs/");
    let mut child = spawn_send(&server.url(), &mock, dir.path(), &url, &[]);
    assert!(
        mock.wait_for_requests(8, Duration::from_secs(20)),
        "the run did not start"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(mock.delivered_items().len() < 600, "the kill came too late");

    let output = spawn_send(&server.url(), &mock, dir.path(), &url, &[])
        .wait_with_output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("already handled"), "{stderr}");
    let delivered: Vec<Value> = mock.delivered_items();
    let mut actions: Vec<String> = delivered
        .iter()
        .map(|item| item["action"].as_str().unwrap().to_owned())
        .collect();
    actions.sort();
    actions.dedup();
    assert_eq!(actions, events(&first), "nothing lost");
    assert!(
        delivered.len() - 600 <= 20,
        "at most the request in flight again"
    );
    let checkpoint: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("checkpoint.json")).unwrap())
            .unwrap();
    let entry = &checkpoint["sources"][0];
    assert_eq!(entry["path"], format!("s3://{BUCKET}/logs/1.ndjson"));
    assert!(entry["etag"].is_string(), "{entry}");
}

#[test]
fn an_object_overwritten_since_the_checkpoint_is_refused_unless_restart() {
    let server = S3Server::start();
    server.put("logs/1.ndjson", &ndjson(&[track("e1"), track("e2")]));
    let mock = slow_mock();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("s3://{BUCKET}/logs/");
    let output = spawn_send(&server.url(), &mock, dir.path(), &url, &[])
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    // The same size, other bytes.
    server.put("logs/1.ndjson", &ndjson(&[track("e3"), track("e4")]));
    let output = spawn_send(&server.url(), &mock, dir.path(), &url, &[])
        .wait_with_output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("s3://{BUCKET}/logs/1.ndjson changed")),
        "{stderr}"
    );
    assert!(stderr.contains("ETag"), "{stderr}");
    let output = spawn_send(&server.url(), &mock, dir.path(), &url, &["--restart"])
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let actions: Vec<String> = mock
        .delivered_items()
        .iter()
        .map(|item| item["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["e1", "e2", "e3", "e4"]);
}

#[test]
fn stitching_reads_objects_twice_as_it_reads_files() {
    let server = S3Server::start();
    server.put(
        "logs/1.ndjson",
        &ndjson(&[
            json!({"type":"page","anonymousId":"anon-1","name":"Pricing","timestamp":"2024-03-01T12:00:00Z"}),
        ]),
    );
    server.put(
        "logs/2.ndjson",
        &ndjson(&[
            json!({"type":"identify","anonymousId":"anon-1","userId":"u-9","timestamp":"2024-03-01T12:05:00Z"}),
        ]),
    );
    let output = dry_run(
        &server.url(),
        &[&format!("s3://{BUCKET}/logs/")],
        &["--stitch"],
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("reading 2 inputs once first"), "{stderr}");
    assert!(stdout_of(&output).contains("u-9"), "{}", stdout_of(&output));
}

#[test]
fn progress_knows_the_total_from_the_listing() {
    let server = S3Server::start();
    server.put("logs/1.ndjson", &ndjson(&tracks(50)));
    let output = s3_bin(&server.url())
        .args(["send", "--dry-run", "--progress", "always"])
        .arg(format!("s3://{BUCKET}/logs/"))
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("% ETA"), "{stderr}");
}

#[test]
fn a_rerun_issues_no_get_for_an_object_the_memory_covers() {
    let server = S3Server::start();
    server.put("logs/b/1.ndjson", &ndjson(&[track("e1"), track("e2")]));
    let proxy = CuttingProxy::start(
        server.addr,
        Cloud::S3.get_line("logs/b/1.ndjson"),
        [0, 0],
        0,
    );
    let mock = slow_mock();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("s3://{BUCKET}/logs/");
    let output = spawn_send(&proxy.url(), &mock, dir.path(), &url, &[])
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let gets = proxy.ranges.lock().unwrap().len();
    assert_eq!(
        gets, 2,
        "the first run reads it, in the first pass and the run"
    );
    // A new object that sorts before the old one, and one after.
    server.put("logs/a/2.ndjson", &ndjson(&[track("e3")]));
    server.put("logs/c/3.ndjson.gz", &gzip(&ndjson(&[track("e4")])));
    let output = spawn_send(&proxy.url(), &mock, dir.path(), &url, &[])
        .wait_with_output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("not reading 1 source"), "{stderr}");
    assert_eq!(
        proxy.ranges.lock().unwrap().len(),
        gets,
        "no GET of the old object"
    );
    let actions: Vec<String> = mock
        .delivered_items()
        .iter()
        .map(|item| item["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["e1", "e2", "e3", "e4"]);
}

#[test]
fn the_region_is_aws_region_else_aws_default_region() {
    let server = S3Server::start();
    server.put("logs/1.ndjson", &ndjson(&[track("e1")]));
    let proxy = CuttingProxy::start(server.addr, Cloud::S3.get_line("none"), [0, 0], 0);
    let cases: [(&[(&str, &str)], &str); 2] = [
        (&[("AWS_DEFAULT_REGION", "eu-north-1")], "eu-north-1"),
        (
            &[
                ("AWS_REGION", "ap-south-1"),
                ("AWS_DEFAULT_REGION", "eu-north-1"),
            ],
            "ap-south-1",
        ),
    ];
    for (vars, region) in cases {
        proxy.heads.lock().unwrap().clear();
        let mut command = bin();
        clear_cloud_env(&mut command);
        command
            .env("AWS_ENDPOINT_URL", proxy.url())
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .envs(vars.iter().copied());
        let output = command
            .args(["validate", &format!("s3://{BUCKET}/logs/")])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        let heads = proxy.heads.lock().unwrap().clone();
        let scope = format!("/{region}/s3/aws4_request");
        assert!(
            !heads.is_empty() && heads.iter().all(|head| head.contains(&scope)),
            "{vars:?}: {heads:?}"
        );
    }
}

/// What a [`rewriting_proxy`] does with a request whose first line holds
/// the rule's text.
#[derive(Clone)]
enum Rewrite {
    /// Answer it with this status line and XML body, without asking upstream.
    Answer(&'static str, &'static str),
    /// Pass it on, and add a zero-byte object of this key to the listing it
    /// answers.
    AddToListing(&'static str),
    /// Never answer it.
    Hang,
}

/// A proxy in front of `upstream` that applies `rules` (the first whose
/// text the request line holds) and passes everything else as it came. One
/// request per connection, so that the end of each answer is the end of
/// the stream.
fn rewriting_proxy(upstream: SocketAddr, rules: Vec<(String, Rewrite)>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let rules = Arc::new(rules);
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let rules = Arc::clone(&rules);
            thread::spawn(move || relay(client, upstream, &rules));
        }
    });
    addr
}

fn relay(mut client: TcpStream, upstream: SocketAddr, rules: &[(String, Rewrite)]) {
    let mut request = Vec::new();
    let mut byte = [0; 1];
    while !request.ends_with(b"\r\n\r\n") && client.read(&mut byte).unwrap_or(0) == 1 {
        request.push(byte[0]);
    }
    let first_line = head_line(&request);
    let rule = rules
        .iter()
        .find(|(text, _)| first_line.contains(text.as_str()))
        .map(|(_, rule)| rule.clone());
    if let Some(Rewrite::Hang) = rule {
        std::thread::sleep(Duration::from_secs(600));
        return;
    }
    if let Some(Rewrite::Answer(status, body)) = rule {
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(answer.as_bytes()).ok();
        return;
    }
    let head = String::from_utf8_lossy(&request);
    let head: String = head
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:") && !line.is_empty())
        .map(|line| format!("{line}\r\n"))
        .collect();
    let mut server = TcpStream::connect(upstream).unwrap();
    server
        .write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).unwrap();
    let Some(Rewrite::AddToListing(key)) = rule else {
        client.write_all(&answer).ok();
        return;
    };
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (head, body) = answer.split_at(split);
    let head = String::from_utf8_lossy(head).to_string();
    let mut body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_vec()
    };
    let text = String::from_utf8_lossy(&body).to_string();
    if let Some(end) = text.find("</ListBucketResult>") {
        let marker = format!(
            "<Contents><Key>{key}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>\
             <ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size>\
             <StorageClass>STANDARD</StorageClass></Contents>"
        );
        body = format!("{}{marker}{}", &text[..end], &text[end..]).into_bytes();
    }
    let head: String = head
        .lines()
        .filter(|line| {
            let lower = line.to_ascii_lowercase();
            !line.is_empty()
                && !lower.starts_with("content-length:")
                && !lower.starts_with("transfer-encoding:")
                && !lower.starts_with("connection:")
        })
        .map(|line| format!("{line}\r\n"))
        .collect();
    let out = format!(
        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    client.write_all(out.as_bytes()).ok();
    client.write_all(&body).ok();
}

/// What S3 answers for a key it does not have.
const NO_SUCH_KEY: Rewrite = Rewrite::Answer(
    "404 Not Found",
    "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>",
);

/// What S3 answers a read the credentials may not make.
const ACCESS_DENIED: Rewrite = Rewrite::Answer(
    "403 Forbidden",
    "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
);

/// A request's first line.
fn head_line(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    text.lines().next().unwrap_or_default().to_owned()
}

/// A chunked HTTP body, joined.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[test]
fn a_zero_byte_folder_marker_in_the_listing_is_skipped() {
    let server = S3Server::start();
    server.put(
        "logs/day/part-0.ndjson",
        &ndjson(&[track("e1"), track("e2")]),
    );
    // S3 has no object at the marker's key without its `/`.
    let rules = vec![
        (format!(" /{BUCKET}/logs/day "), NO_SUCH_KEY),
        ("list-type=2".to_owned(), Rewrite::AddToListing("logs/day/")),
    ];
    let proxy = rewriting_proxy(server.addr, rules);
    let output = dry_run(
        &format!("http://{proxy}"),
        &[&format!("s3://{BUCKET}/logs/")],
        &[],
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("unreadable"), "{stderr}");
    assert_eq!(
        dry_run_actions(&stdout_of(&output)),
        ["e1", "e2"],
        "{stderr}"
    );
    assert!(stderr.contains("reading 1 input once first"), "{stderr}");
}

/// The two clouds the tests read from: S3 with its credentials, GCS's
/// emulator (the same server, no token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cloud {
    S3,
    Gcs,
}

impl Cloud {
    const BOTH: [Cloud; 2] = [Cloud::S3, Cloud::Gcs];

    fn server(self) -> S3Server {
        match self {
            Cloud::S3 => S3Server::start(),
            Cloud::Gcs => S3Server::start_gcs(),
        }
    }

    /// `s3://` or `gs://` and the bucket, then `path`.
    fn url(self, path: &str) -> String {
        let scheme = match self {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gs",
        };
        format!("{scheme}://{BUCKET}/{path}")
    }

    /// The binary's process, its cloud pointed at `endpoint` (a proxy's or
    /// the server's address), with a clean environment.
    fn process(self, endpoint: SocketAddr) -> Command {
        let mut command = crate::support::bin_process();
        clear_cloud_env(&mut command);
        match self {
            Cloud::S3 => command
                .env("AWS_ENDPOINT_URL", format!("http://{endpoint}"))
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            Cloud::Gcs => command.env("STORAGE_EMULATOR_HOST", endpoint.to_string()),
        };
        command
    }

    /// How a GET of `key` names it: GCS's XML client encodes every byte of
    /// the bucket and the key but letters and digits.
    fn get_line(self, key: &str) -> String {
        let encode = |text: &str| -> String {
            text.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        match self {
            Cloud::S3 => format!("GET /{BUCKET}/{key} "),
            Cloud::Gcs => format!("GET /{}/{} ", encode(BUCKET), encode(key)),
        }
    }

    /// What the credentials lack when a read is refused.
    fn permission(self) -> &'static str {
        match self {
            Cloud::S3 => "s3:GetObject",
            Cloud::Gcs => "storage.objects.get",
        }
    }
}

/// `send` to `mock` with a checkpoint and failed file in `dir`.
fn send_from(
    cloud: Cloud,
    endpoint: SocketAddr,
    mock: &MockPlanhat,
    dir: &Path,
    args: &[&str],
) -> Command {
    let mut command = cloud.process(endpoint);
    command
        .args([
            "send",
            "--tenant-token",
            TENANT,
            "--analytics-url",
            &mock.url(),
        ])
        .args(["--progress", "never", "--checkpoint"])
        .arg(dir.join("checkpoint.json"))
        .arg("--failed")
        .arg(dir.join("failed.ndjson"))
        .args(args);
    command
}

#[test]
fn a_read_the_credentials_may_not_make_stops_the_run_before_anything_is_sent() {
    for cloud in Cloud::BOTH {
        let server = cloud.server();
        server.put("logs/1.ndjson", &ndjson(&[track("e1"), track("e2")]));
        server.put("logs/2.ndjson", &ndjson(&[track("e3")]));
        let rules = vec![(cloud.get_line("logs/2.ndjson"), ACCESS_DENIED)];
        let proxy = rewriting_proxy(server.addr, rules);
        let mock = slow_mock();
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let output = send_from(cloud, proxy, &mock, dir.path(), &[&cloud.url("logs/")])
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{cloud:?}: {stderr}");
        assert!(mock.requests().is_empty(), "{cloud:?}: something was sent");
        let object = cloud.url("logs/2.ndjson");
        assert!(
            stderr.contains(&format!("reading {object} was refused"))
                && stderr.contains(cloud.permission()),
            "{cloud:?}: {stderr}"
        );
        assert!(!stderr.contains("retrying"), "not retried: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{cloud:?}");
    }
}

#[test]
fn a_read_refused_halfway_through_a_run_with_standard_input_stops_it_as_a_refused_token_does() {
    // With standard input among the inputs there is no first pass: the
    // refusal comes as the run reaches the object. The request in flight
    // is finished and counted; the rerun, allowed to read, sends the rest.
    let cloud = Cloud::Gcs;
    let server = cloud.server();
    server.put(
        "logs/1.ndjson",
        &ndjson(&[track("o1"), track("o2"), track("o3")]),
    );
    server.put("logs/2.ndjson", &ndjson(&[track("o4")]));
    let rules = vec![(cloud.get_line("logs/2.ndjson"), ACCESS_DENIED)];
    let denying = rewriting_proxy(server.addr, rules);
    let mock = slow_mock();
    let dir = tempfile::tempdir().unwrap();
    let stdin = ndjson(&[track("s1"), track("s2")]);
    let url = cloud.url("logs/");
    let run = |endpoint| {
        let mut child = send_from(
            cloud,
            endpoint,
            &mock,
            dir.path(),
            &["--batch-size", "2", "-", &url],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        child.stdin.take().unwrap().write_all(&stdin).unwrap();
        child.wait_with_output().unwrap()
    };
    let refused = run(denying);
    let stderr = stderr_of(&refused);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("storage.objects.get"), "{stderr}");
    let first: Vec<String> = mock
        .delivered_items()
        .iter()
        .map(|item| item["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(!first.contains(&"o4".to_owned()), "{first:?}");
    assert!(first.len() >= 2, "what came before was sent: {first:?}");

    let allowed = run(server.addr);
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr_of(&allowed));
    let mut all: Vec<String> = mock
        .delivered_items()
        .iter()
        .map(|item| item["action"].as_str().unwrap().to_owned())
        .collect();
    all.sort();
    assert_eq!(
        all,
        ["o1", "o2", "o3", "o4", "s1", "s2"],
        "nothing lost, nothing twice"
    );
}

/// The actions a dry-run through `endpoint` over `urls` would send, with
/// its exit code and stderr.
fn cloud_dry_run(cloud: Cloud, endpoint: SocketAddr, urls: &[&str]) -> (i32, Vec<String>, String) {
    let output = cloud
        .process(endpoint)
        .args(["send", "--dry-run", "--progress", "never"])
        .args(urls)
        .output()
        .unwrap();
    let actions = dry_run_actions(&stdout_of(&output));
    (output.status.code().unwrap(), actions, stderr_of(&output))
}

#[test]
fn gcs_through_its_emulator_lists_and_reads_as_s3_does() {
    let cloud = Cloud::Gcs;
    let server = cloud.server();
    export(&server);
    // Order, hidden keys, empty objects, gzip, both prefix spellings.
    for prefix in ["logs", "logs/"] {
        let (code, actions, stderr) = cloud_dry_run(cloud, server.addr, &[&cloud.url(prefix)]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(actions, ["a1", "a2", "b1", "b2"], "{prefix}");
    }
    let (code, actions, _) = cloud_dry_run(cloud, server.addr, &[&cloud.url("logs/a/2.gz")]);
    assert_eq!(
        (code, actions),
        (0, vec!["a2".to_owned()]),
        "one object by key"
    );
    // A zero-byte folder marker in the listing.
    let rules = vec![
        (cloud.get_line("logs/a"), NO_SUCH_KEY),
        ("list-type=2".to_owned(), Rewrite::AddToListing("logs/a/")),
    ];
    let marked = rewriting_proxy(server.addr, rules);
    let (code, actions, stderr) = cloud_dry_run(cloud, marked, &[&cloud.url("logs/")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(actions, ["a1", "a2", "b1", "b2"]);
    // Plain http to a host that is not this machine is refused.
    let output = cloud
        .process(server.addr)
        .env("STORAGE_EMULATOR_HOST", "emulator.example.com:4443")
        .args(["validate", &cloud.url("logs/")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("STORAGE_EMULATOR_HOST"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn a_gcs_download_cut_midway_goes_on_by_range_and_an_overwritten_object_is_refused_on_resume() {
    let cloud = Cloud::Gcs;
    let server = cloud.server();
    let messages = tracks(3000);
    server.put("logs/big.ndjson.gz", &gzip(&ndjson(&messages)));
    let proxy = CuttingProxy::start(
        server.addr,
        cloud.get_line("logs/big.ndjson.gz"),
        [3000, 0],
        1,
    );
    let (code, mut actions, stderr) = cloud_dry_run(cloud, proxy.addr, &[&cloud.url("logs/")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "retrying GET {} from byte",
            cloud.url("logs/big.ndjson.gz")
        )),
        "{stderr}"
    );
    let ranges = proxy.ranges.lock().unwrap().clone();
    assert!(ranges[1].starts_with("range: bytes="), "{ranges:?}");
    actions.sort();
    assert_eq!(
        actions,
        events(&messages),
        "nothing lost, nothing read twice"
    );

    // Overwritten since the checkpoint: refused, unless --restart.
    server.put("logs/1.ndjson", &ndjson(&[track("e1"), track("e2")]));
    let mock = slow_mock();
    let dir = tempfile::tempdir().unwrap();
    let url = cloud.url("logs/1.ndjson");
    let first = send_from(cloud, server.addr, &mock, dir.path(), &[&url])
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    server.put("logs/1.ndjson", &ndjson(&[track("e3"), track("e4")]));
    let again = send_from(cloud, server.addr, &mock, dir.path(), &[&url])
        .output()
        .unwrap();
    let stderr = stderr_of(&again);
    assert_eq!(again.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{url} changed")), "{stderr}");
}

/// A listener on 127.0.0.1 that takes connections and never answers: an
/// instance metadata address that hangs.
fn silent_listener() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming().flatten() {
            held.push(connection);
        }
    });
    addr
}

/// An address on 127.0.0.1 where nothing listens: connections are refused.
fn refusing_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The binary for `s3://` against `server` with no credentials in the
/// environment, `home` as its HOME (where ~/.aws lives) and the instance
/// metadata service at `metadata`.
fn s3_without_keys(server: &S3Server, home: &Path, metadata: SocketAddr) -> assert_cmd::Command {
    let mut command = bin();
    clear_cloud_env(&mut command);
    command
        .env("HOME", home)
        .env("AWS_ENDPOINT_URL", server.url())
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://{metadata}"),
        );
    command
}

#[test]
fn credentials_come_from_a_profile_and_its_region_or_from_a_credential_process() {
    let server = S3Server::start();
    server.put("logs/1.ndjson", &ndjson(&[track("e1")]));
    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!(
            "[backfill]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    )
    .unwrap();
    let process = home.path().join("credentials.sh");
    std::fs::write(
        &process,
        format!(
            "#!/bin/sh\necho '{{\"Version\":1,\"AccessKeyId\":\"{ACCESS_KEY}\",\"SecretAccessKey\":\"{SECRET_KEY}\"}}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &process,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile backfill]\nregion = eu-west-3\n\n[profile process]\nregion = us-east-1\ncredential_process = {}\n",
            process.display()
        ),
    )
    .unwrap();
    let proxy = CuttingProxy::start(server.addr, Cloud::S3.get_line("none"), [0, 0], 0);
    for (profile, region) in [("backfill", "eu-west-3"), ("process", "us-east-1")] {
        proxy.heads.lock().unwrap().clear();
        let mut command = bin();
        clear_cloud_env(&mut command);
        let output = command
            .env("HOME", home.path())
            .env("AWS_PROFILE", profile)
            .env("AWS_ENDPOINT_URL", proxy.url())
            .env(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                format!("http://{}", refusing_address()),
            )
            .args(["send", "--dry-run", &format!("s3://{BUCKET}/logs/")])
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(0), "{profile}: {stderr}");
        assert_eq!(dry_run_actions(&stdout_of(&output)), ["e1"], "{profile}");
        let heads = proxy.heads.lock().unwrap().clone();
        let scope = format!("/{region}/s3/aws4_request");
        assert!(
            heads.iter().all(|h| h.contains(&scope)),
            "{profile}: {heads:?}"
        );
        assert!(!stderr.contains(SECRET_KEY));
    }
}

#[test]
fn no_credentials_stop_the_run_within_five_seconds_saying_what_was_tried() {
    let server = S3Server::start();
    server.put("logs/1.ndjson", &ndjson(&[track("e1")]));
    let home = tempfile::tempdir().unwrap();
    for metadata in [refusing_address(), silent_listener()] {
        let started = std::time::Instant::now();
        let output = s3_without_keys(&server, home.path(), metadata)
            .env("AWS_PROFILE", "backfill")
            .args(["validate", &format!("s3://{BUCKET}/logs/")])
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        for tried in [
            "no AWS credentials",
            "no AWS_ACCESS_KEY_ID",
            "no profile 'backfill'",
            "no web identity",
            "instance metadata",
            "AWS_PROFILE=NAME",
        ] {
            assert!(stderr.contains(tried), "{tried}: {stderr}");
        }
    }
    // GCS without credentials, the metadata server hanging or refusing.
    for metadata in [refusing_address(), silent_listener()] {
        let started = std::time::Instant::now();
        let mut command = bin();
        clear_cloud_env(&mut command);
        let output = command
            .env("HOME", home.path())
            .env("GCE_METADATA_HOST", metadata.to_string())
            .env("GCE_METADATA_IP", metadata.to_string())
            .args(["validate", &format!("gs://{BUCKET}/logs/")])
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(
            stderr.contains("GOOGLE_APPLICATION_CREDENTIALS"),
            "{stderr}"
        );
    }
}

#[test]
fn a_stopping_signal_ends_a_listing_or_a_read_that_waits_at_once() {
    let server = S3Server::start();
    server.put("logs/1.ndjson", &ndjson(&[track("e1")]));
    // A listing that never answers, then a read that never answers.
    let listing = silent_listener();
    let reading = rewriting_proxy(
        server.addr,
        vec![(Cloud::S3.get_line("logs/1.ndjson"), Rewrite::Hang)],
    );
    for (endpoint, signal, code) in [
        (listing, "TERM", 143),
        (reading, "INT", 130),
        (reading, "HUP", 129),
    ] {
        let mut child = Cloud::S3
            .process(endpoint)
            .args([
                "send",
                "--dry-run",
                "--progress",
                "never",
                &Cloud::S3.url("logs/"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        assert!(child.try_wait().unwrap().is_none(), "it should be waiting");
        let signalled = std::time::Instant::now();
        kill(signal, child.id());
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(code),
            "{signal}: {}",
            stderr_of(&output)
        );
        assert!(
            signalled.elapsed() < Duration::from_secs(2),
            "{signal}: took {:?}",
            signalled.elapsed()
        );
    }
}

#[test]
fn progress_moves_through_the_first_pass_over_objects() {
    // Two objects of one size, read twice (the first pass, then the run):
    // while the first pass waits on the second, a quarter of all the
    // reading is done. Without the pass on the bar it would show 0% (the
    // run has handled nothing) or 50% (a total of one reading).
    let server = S3Server::start();
    server.put("logs/1.ndjson", &ndjson(&tracks(40)));
    server.put("logs/2.ndjson", &ndjson(&tracks(40)));
    let proxy = rewriting_proxy(
        server.addr,
        vec![(Cloud::S3.get_line("logs/2.ndjson"), Rewrite::Hang)],
    );
    let child = Cloud::S3
        .process(proxy)
        .args([
            "send",
            "--dry-run",
            "--progress",
            "always",
            &Cloud::S3.url("logs/"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    kill("TERM", child.id());
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("reading 2 inputs once first"), "{stderr}");
    assert!(stderr.contains(" 25% ETA"), "{stderr}");
}
