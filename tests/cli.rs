//! The command line as a user meets it: input from stdin, files and
//! folders, gzip in every form, exit codes, the validate report, settings
//! errors, secrets, and the committed completion scripts.

use std::io::Write;

use predicates::prelude::*;
use serde_json::Value;

use crate::support::{bin, fixture, gzip, repo, stderr_of, stdout_of};

const TRACK: &str =
    r#"{"type":"track","userId":"u1","event":"E","timestamp":"2024-03-01T12:00:00Z"}"#;

fn track(event: &str) -> String {
    TRACK.replace("\"E\"", &format!("{event:?}"))
}

/// The requests a dry-run printed, parsed.
fn requests(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each dry-run line is JSON"))
        .collect()
}

/// The actions of every activity a dry-run printed, in order.
fn actions(stdout: &str) -> Vec<String> {
    requests(stdout)
        .iter()
        .flat_map(|r| r["body"].as_array().cloned().unwrap_or_default())
        .filter_map(|item| item["action"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn dry_run_reads_stdin_when_no_path_is_given() {
    let output = bin()
        .args(["send", "--dry-run"])
        .write_stdin(format!("{}\n{}\n", track("A"), track("B")))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(actions(&stdout_of(&output)), ["A", "B"]);
}

#[test]
fn dash_reads_stdin_between_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1.ndjson"), track("First") + "\n").unwrap();
    std::fs::write(dir.path().join("2.ndjson"), track("Last") + "\n").unwrap();
    let output = bin()
        .current_dir(dir.path())
        .args([
            "send",
            "--dry-run",
            "--batch-size",
            "1",
            "1.ndjson",
            "-",
            "2.ndjson",
        ])
        .write_stdin(track("Middle"))
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(actions(&stdout_of(&output)), ["First", "Middle", "Last"]);
    assert_eq!(
        requests(&stdout_of(&output)).len(),
        3,
        "--batch-size 1: one event per request"
    );
}

#[test]
fn folders_are_read_in_path_order_skipping_hidden_files_and_gzip_is_found_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let day1 = dir.path().join("segment-logs/src1/1709251200000");
    let day2 = dir.path().join("segment-logs/src1/1709337600000");
    std::fs::create_dir_all(&day1).unwrap();
    std::fs::create_dir_all(&day2).unwrap();
    std::fs::write(day1.join("a.gz"), gzip(track("Gzipped").as_bytes())).unwrap();
    // Downloaded S3 objects are often already unzipped but still named .gz.
    std::fs::write(day1.join("b.gz"), track("Plain Named Gz")).unwrap();
    let mut concatenated = gzip((track("Member 1") + "\n").as_bytes());
    concatenated.extend(gzip((track("Member 2") + "\n").as_bytes()));
    std::fs::write(day2.join("c.json.gz"), concatenated).unwrap();
    std::fs::write(day2.join(".partial.gz"), track("Hidden")).unwrap();
    let output = bin()
        .args(["send", "--dry-run"])
        .arg(dir.path().join("segment-logs"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        actions(&stdout_of(&output)),
        ["Gzipped", "Plain Named Gz", "Member 1", "Member 2"]
    );
}

#[test]
fn gzip_on_stdin_is_decompressed() {
    let output = bin()
        .args(["send", "--dry-run", "-"])
        .write_stdin(gzip((track("Zipped Pipe") + "\n").as_bytes()))
        .output()
        .unwrap();
    assert_eq!(actions(&stdout_of(&output)), ["Zipped Pipe"]);
}

#[test]
fn a_truncated_gzip_file_is_reported_and_the_next_file_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut broken = gzip(&(track("Before Break") + "\n").repeat(2000).into_bytes());
    broken.truncate(broken.len() / 2);
    std::fs::write(dir.path().join("1.gz"), broken).unwrap();
    std::fs::write(dir.path().join("2.ndjson"), track("Next File")).unwrap();
    let output = bin()
        .args(["send", "--dry-run"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("1.gz:") && stderr.contains("unreadable"),
        "{stderr}"
    );
    let actions = actions(&stdout_of(&output));
    assert_eq!(actions.last().map(String::as_str), Some("Next File"));
    assert!(actions.len() > 1);
}

#[test]
fn exit_code_is_1_when_a_line_is_rejected_and_0_when_only_skipped() {
    bin()
        .args(["send", "--dry-run"])
        .write_stdin(format!(
            "{TRACK}\n{{\"type\":\"alias\",\"userId\":\"u\"}}\n"
        ))
        .assert()
        .code(0);
    bin()
        .args(["send", "--dry-run"])
        .write_stdin(format!("{TRACK}\nnot json\n"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("-:2: invalid_json"));
}

#[test]
fn rejected_lines_are_positioned_and_capped_on_stderr() {
    let input = (1..=30)
        .map(|i| format!("{{\"type\":\"page\",\"name\":\"p{i}\"}}\n"))
        .collect::<String>();
    let output = bin()
        .args(["send", "--dry-run"])
        .write_stdin(input)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("-:1: no_identity: "), "{stderr}");
    assert!(stderr.contains("-:20: no_identity"), "{stderr}");
    assert!(!stderr.contains("-:21: "), "{stderr}");
    assert!(
        stderr.contains("10 more problem lines not shown"),
        "{stderr}"
    );
    assert!(stderr.contains("rejected 30: no_identity 30"), "{stderr}");
}

#[test]
fn bad_lines_never_stop_the_run() {
    let output = bin()
        .args(["send", "--dry-run", "bad_lines.input.ndjson"])
        .current_dir(fixture("golden"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(actions(&stdout_of(&output)), ["Fine", "After Bad Lines"]);
}

#[test]
fn validate_reports_every_message_type_of_the_bundled_example() {
    let output = bin()
        .current_dir(repo(""))
        .args(["validate", "--json", "examples/events.ndjson"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let report: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    for kind in [
        "identify", "track", "page", "screen", "group", "alias", "delete",
    ] {
        assert!(
            report["types"][kind].as_u64() >= Some(1),
            "{kind} missing: {report}"
        );
    }
    assert_eq!(report["messages"], 16);
    assert_eq!(report["outcomes"]["would_send"], 10);
    assert_eq!(report["routes"]["activity"], 10);
    assert_eq!(report["outcomes"]["skipped"]["duplicate"]["count"], 1);
    assert_eq!(
        report["outcomes"]["skipped"]["duplicate"]["examples"],
        serde_json::json!([])
    );
    assert_eq!(
        report["outcomes"]["skipped"]["unsupported_type"]["count"],
        2
    );
    assert_eq!(
        report["outcomes"]["skipped"]["disabled_by_integrations"]["examples"],
        serde_json::json!(["examples/events.ndjson:10"])
    );
    assert_eq!(
        report["outcomes"]["skipped"]["anonymous"]["examples"],
        serde_json::json!(["examples/events.ndjson:1"])
    );
    assert_eq!(report["outcomes"]["would_stitch"], 1);
    assert_eq!(report["distinct_users"], 3);
    assert_eq!(report["distinct_companies"], 2);
    assert_eq!(report["earliest"], "2024-03-01T09:00:00.123Z");
    assert_eq!(report["latest"], "2024-03-02T12:00:00.000Z");
}

#[test]
fn validate_with_an_api_token_counts_profile_routes_and_exits_1_on_rejects() {
    let output = bin()
        .current_dir(fixture("golden"))
        .args([
            "validate",
            "--json",
            "--api-token",
            "t",
            "profiles.input.ndjson",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(report["routes"]["end_user"], 4);
    assert_eq!(report["routes"]["company"], 2);
    assert_eq!(
        report["outcomes"]["skipped"]["anonymous"]["examples"],
        serde_json::json!(["profiles.input.ndjson:5"])
    );
    assert_eq!(report["outcomes"]["rejected"]["no_group_id"]["count"], 1);
}

#[test]
fn validate_text_report_lists_reasons_with_examples() {
    bin()
        .current_dir(fixture("golden"))
        .args(["validate", "skips.input.ndjson"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("disabled_by_integrations"))
        .stdout(predicate::str::contains("e.g. skips.input.ndjson:5"))
        .stdout(predicate::str::contains("unknown_type"));
}

#[test]
fn sending_without_a_tenant_token_names_the_option_and_variable() {
    bin()
        .args(["send", "-"])
        .write_stdin(TRACK)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("--tenant-token")
                .and(predicate::str::contains("PLANHAT_TENANT_TOKEN")),
        );
}

#[test]
fn settings_errors_exit_2_before_reading_input() {
    let cases: [&[&str]; 6] = [
        &["--subdomain", "api.evil.com"],
        &["--api-url", "http://planhat.example.com"],
        &["--analytics-url", "ftp://127.0.0.1"],
        &["--since", "last tuesday"],
        &["--types", "track,bogus"],
        &["--tenant-token", "a", "--tenant-token-file", "b"],
    ];
    for args in cases {
        let output = bin()
            .args(["send", "--dry-run"])
            .args(args)
            .write_stdin(TRACK)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr_of(&output)
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    bin()
        .args(["send", "--dry-run", "no/such/file.ndjson"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/file.ndjson"));
}

#[test]
fn tokens_come_from_files_and_an_empty_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    bin()
        .args(["send", "--dry-run", "--api-token-file"])
        .arg(&empty)
        .write_stdin(TRACK)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("empty"));
    let token = dir.path().join("api");
    std::fs::write(&token, "api-secret-from-file\n").unwrap();
    let identify = r#"{"type":"identify","userId":"u1","traits":{"email":"a@b.co"}}"#;
    let output = bin()
        .args(["send", "--dry-run", "--api-token-file"])
        .arg(&token)
        .write_stdin(identify)
        .output()
        .unwrap();
    let stdout = stdout_of(&output);
    assert!(
        stdout.contains("\"url\":\"https://api.planhat.com/endusers\""),
        "{stdout}"
    );
}

#[test]
fn secrets_never_appear_in_help_output_or_errors() {
    let tenant = "tenant-SECRET-1234";
    let api = "api-SECRET-5678";
    let write_key = "wk_must_not_appear";
    let runs = [
        bin()
            .env("PLANHAT_TENANT_TOKEN", tenant)
            .env("PLANHAT_API_TOKEN", api)
            .args(["send", "--help"])
            .output(),
        bin()
            .env("PLANHAT_TENANT_TOKEN", tenant)
            .env("PLANHAT_API_TOKEN", api)
            .current_dir(fixture("golden"))
            .args([
                "send",
                "--dry-run",
                "envelopes.input.ndjson",
                "profiles.input.ndjson",
            ])
            .output(),
        bin()
            .args([
                "send",
                "--dry-run",
                "--tenant-token",
                tenant,
                "--api-token",
                api,
                "--pretty",
            ])
            .write_stdin(format!(
                "{TRACK}\n{{\"type\":\"identify\",\"userId\":\"u\",\"writeKey\":\"{write_key}\"}}\n"
            ))
            .output(),
        bin()
            .args(["validate", "--api-token", api])
            .current_dir(fixture("golden"))
            .arg("envelopes.input.ndjson")
            .output(),
        bin()
            .args([
                "send",
                "--tenant-token",
                tenant,
                "--api-url",
                "http://remote.example.com",
            ])
            .write_stdin(TRACK)
            .output(),
    ];
    for output in runs {
        let output = output.unwrap();
        let all = stdout_of(&output) + &stderr_of(&output);
        for secret in [tenant, api, write_key] {
            assert!(!all.contains(secret), "{secret} leaked:\n{all}");
        }
    }
}

#[test]
fn dry_run_output_uses_placeholders_and_configured_urls() {
    let identify = r#"{"type":"identify","userId":"u1","traits":{"email":"a@b.co"}}"#;
    let output = bin()
        .args([
            "send",
            "--dry-run",
            "--api-token",
            "x",
            "--subdomain",
            "api-eu",
            "--tenant-token",
            "t0k",
        ])
        .write_stdin(format!("{identify}\n{TRACK}\n"))
        .output()
        .unwrap();
    let requests = requests(&stdout_of(&output));
    assert_eq!(
        requests.len(),
        2,
        "the identify's upsert goes first, then the activity"
    );
    assert_eq!(requests[0]["method"], "PUT");
    assert_eq!(requests[0]["url"], "https://api-eu.planhat.com/endusers");
    assert_eq!(requests[1]["method"], "POST");
    assert_eq!(
        requests[1]["url"],
        "https://analytics.planhat.com/analytics/bulk/{tenantToken}"
    );
    assert_eq!(
        requests[0].as_object().unwrap().len(),
        3,
        "method, url, body and nothing else"
    );
}

#[test]
fn pretty_dry_run_indents_each_request() {
    let output = bin()
        .args(["send", "--dry-run", "--pretty"])
        .write_stdin(TRACK)
        .output()
        .unwrap();
    let stdout = stdout_of(&output);
    assert!(stdout.contains("\n  \"method\": \"POST\""), "{stdout}");
    let parsed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(parsed["body"][0]["action"], "E");
}

#[test]
fn a_dry_run_writes_no_failed_file() {
    let dir = tempfile::tempdir().unwrap();
    bin()
        .current_dir(dir.path())
        .args(["send", "--dry-run"])
        .write_stdin("not json\n")
        .assert()
        .code(1);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_closed_stdout_ends_a_dry_run_quietly() {
    let mut input = String::new();
    for i in 0..20_000 {
        input.push_str(&track(&format!("Event {i}")));
        input.push('\n');
    }
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("segment-planhat"))
        .args(["send", "--dry-run", "--batch-size", "1", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stderr_of(&output), "");
}

#[test]
fn filters_skip_by_type_and_time_and_the_summary_counts_them() {
    let page = r#"{"type":"page","userId":"u1","name":"P","timestamp":"2024-03-01T12:00:00Z"}"#;
    let old = TRACK.replace("2024-03-01", "2023-01-01");
    let output = bin()
        .args([
            "send",
            "--dry-run",
            "--types",
            "track",
            "--since",
            "2024-01-01",
        ])
        .write_stdin(format!("{TRACK}\n{page}\n{old}\n"))
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(actions(&stdout_of(&output)), ["E"]);
    assert!(
        stderr_of(&output).contains("filtered 2"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn completions_are_committed_and_match_the_binary() {
    for (shell, file) in [
        ("bash", "segment-planhat.bash"),
        ("zsh", "_segment-planhat"),
        ("fish", "segment-planhat.fish"),
        ("elvish", "segment-planhat.elv"),
        ("powershell", "_segment-planhat.ps1"),
    ] {
        let output = bin().args(["completions", shell]).output().unwrap();
        assert!(output.status.success());
        let path = repo("completions").join(file);
        if std::env::var_os("UPDATE_COMPLETIONS").is_some() {
            std::fs::write(&path, &output.stdout).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == output.stdout,
            "{} is out of date: run UPDATE_COMPLETIONS=1 cargo test completions",
            path.display()
        );
    }
}

/// Runs the binary with `args` in the repository on a pseudo-terminal
/// (util-linux `script`) as its stdin, stdout and stderr; returns all it
/// wrote, and how it ended.
fn on_a_terminal(args: &str) -> (String, Option<i32>) {
    let binary = assert_cmd::cargo::cargo_bin("segment-planhat");
    let output = std::process::Command::new("script")
        .args(["-qec", &format!("{} {args}", binary.display()), "/dev/null"])
        .current_dir(repo(""))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("util-linux `script` is installed (see .ci/run)");
    (stdout_of(&output), output.status.code())
}

#[test]
fn a_terminal_on_stdin_is_refused_with_a_hint_instead_of_waiting() {
    let (text, code) = on_a_terminal("send --dry-run");
    assert!(text.contains("standard input is a terminal"), "{text}");
    assert!(text.contains("zcat"), "{text}");
    assert_eq!(code, Some(2), "{text}");
}

#[test]
fn validate_draws_the_bar_on_a_terminal_and_not_into_a_pipe() {
    // The report still comes after the bar.
    let (text, code) = on_a_terminal("validate examples/events.ndjson");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("% ETA"), "{text}");
    assert!(text.contains("would send    10"), "{text}");
    let piped = bin()
        .current_dir(repo(""))
        .args(["validate", "examples/events.ndjson"])
        .output()
        .unwrap();
    assert!(!stderr_of(&piped).contains("ETA"), "{}", stderr_of(&piped));
}

#[test]
fn progress_always_draws_the_bar_on_stderr_without_a_terminal() {
    let output = bin()
        .current_dir(repo(""))
        .args([
            "send",
            "--dry-run",
            "--progress",
            "always",
            "examples/events.ndjson",
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("100%") && stderr.contains("read 16 · "),
        "{stderr}"
    );
    let quiet = bin()
        .current_dir(repo(""))
        .args(["send", "--dry-run", "-q", "examples/events.ndjson"])
        .output()
        .unwrap();
    assert_eq!(stderr_of(&quiet), "", "-q keeps only errors");
}

#[test]
fn without_a_terminal_a_status_line_is_printed_every_10_seconds() {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("segment-planhat"))
        .args(["send", "--dry-run", "--progress", "never"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(10_800) {
        writeln!(stdin, "{TRACK}").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    let status_lines = stderr.lines().filter(|l| l.starts_with("read ")).count();
    assert_eq!(status_lines, 1, "{stderr}");
    assert!(
        stderr.contains(" · sent ") && stderr.contains(" requests · "),
        "{stderr}"
    );
}

#[test]
fn mapping_file_errors_name_file_line_and_key_before_any_input_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[events]\n\"Signed In\" = { acton = \"x\" }\n",
            "map.toml:2: [events] \"Signed In\".acton: unknown key",
        ),
        (
            "[events]\n\"A\" = { weight = 1 }\n\"B\" = { weight = 0 }\n",
            "map.toml:3: [events] \"B\".weight: must be a positive number",
        ),
        (
            "[events]\n\"A\" = { weight = \"heavy\" }\n",
            "map.toml:2: [events] \"A\".weight: must be a positive number",
        ),
        (
            "\n[identify]\njob_title = \"jobTitle\"\n",
            "map.toml:3: [identify] job_title: Planhat has no field \"jobTitle\"",
        ),
        (
            "[group]\nid = \"externalId\"\n",
            "map.toml:2: [group] id: externalId identifies the record",
        ),
        (
            "[events]\n\"Viewed ** Page\" = { weight = 2 }\n",
            "map.toml:2: [events] \"Viewed ** Page\": bad pattern",
        ),
        ("weights = 1\n", "map.toml:1: weights: unknown key"),
        ("[events\n", "map.toml:1: "),
    ];
    for (text, expected) in cases {
        std::fs::write(dir.path().join("map.toml"), text).unwrap();
        let output = bin()
            .current_dir(dir.path())
            .args(["send", "--dry-run", "--map", "map.toml"])
            .write_stdin(TRACK)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(output.stdout.is_empty(), "input was read despite {text:?}");
        let stderr = stderr_of(&output);
        assert!(stderr.contains(expected), "{text:?}: {stderr}");
    }
    bin()
        .args(["validate", "--map", "no/such/map.toml"])
        .write_stdin(TRACK)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/map.toml"));
}

#[test]
fn validate_reports_how_often_each_mapping_rule_matched() {
    let output = bin()
        .current_dir(repo(""))
        .args([
            "validate",
            "--json",
            "--api-token",
            "x",
            "--map",
            "examples/planhat-map.toml",
            "examples/events.ndjson",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let report: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    let matched = |key: &str| {
        report["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|rule| rule["key"] == key)
            .map(|rule| rule["matched"].as_u64().unwrap())
    };
    assert_eq!(matched("Signed In"), Some(1));
    assert_eq!(matched("Viewed * Page"), Some(3));
    assert_eq!(matched("title"), Some(1));
    assert_eq!(matched("employees"), Some(1));
    assert_eq!(matched("website"), None, "commented out in the example");
    assert_eq!(
        report["outcomes"]["skipped"]["filtered"]["count"], 1,
        "Loaded a Page is dropped"
    );
    assert_eq!(
        report["unmatched_rules"],
        serde_json::json!([
            "[events] Application Backgrounded",
            "[events] Application *"
        ])
    );
}

#[test]
fn the_source_label_flag_wins_over_the_mapping_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("map.toml"),
        "source_label = \"From File\"\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let output = bin()
            .current_dir(dir.path())
            .args(["send", "--dry-run", "--map", "map.toml"])
            .args(extra)
            .write_stdin(TRACK)
            .output()
            .unwrap();
        requests(&stdout_of(&output))[0]["body"][0]
            .get("source")
            .cloned()
    };
    assert_eq!(run(&[]), Some(Value::from("From File")));
    assert_eq!(run(&["--source-label", "Flag"]), Some(Value::from("Flag")));
    assert_eq!(run(&["--source-label", ""]), None);
}

#[test]
fn validate_in_receiver_mode_counts_the_receiver_route() {
    let output = bin()
        .current_dir(repo(""))
        .args(["validate", "--json", "--receiver", "examples/events.ndjson"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(
        report["routes"]["receiver"], 11,
        "identify, group, track, page and screen each go alone"
    );
    assert_eq!(report["routes"]["activity"], 0);
}

#[test]
fn messages_point_at_the_fix_for_a_pretty_printed_file_and_a_missing_token() {
    let output = bin()
        .args(["validate", "-"])
        .write_stdin("{\n  \"type\": \"track\"\n}\n")
        .output()
        .unwrap();
    assert!(
        stderr_of(&output).contains("-:1: invalid_json") && stderr_of(&output).contains("jq -c ."),
        "{}",
        stderr_of(&output)
    );
    let output = bin()
        .args(["send", "-"])
        .env_remove("PLANHAT_TENANT_TOKEN")
        .env_remove("PLANHAT_TENANT_TOKEN_FILE")
        .write_stdin("{}\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("PLANHAT_TENANT_TOKEN_FILE"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn a_bad_value_from_an_environment_twin_names_the_variable() {
    let output = bin()
        .args(["send", "--dry-run", "-"])
        .env("PLANHAT_MAX_BODY_BYTES", "1000")
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("from PLANHAT_MAX_BODY_BYTES"), "{stderr}");
    // Typed on the command line, the option is what clap names.
    let output = bin()
        .args(["send", "--dry-run", "--max-body-bytes", "1000", "-"])
        .env("PLANHAT_MAX_BODY_BYTES", "1000")
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(!stderr_of(&output).contains("PLANHAT_MAX_BODY_BYTES"));
}

#[test]
fn man_pages_are_committed_and_match_the_binary() {
    // One page for the tool and one for each command that takes options,
    // rendered from the same definition as --help (SPEC §7).
    let command = segment_planhat::cli::command();
    let mut pages = vec![("segment-planhat.1".to_owned(), command.clone())];
    for sub in command
        .get_subcommands()
        .filter(|c| c.get_name() != "completions")
    {
        let name: &'static str = format!("segment-planhat-{}", sub.get_name()).leak();
        pages.push((format!("{name}.1"), sub.clone().name(name)));
    }
    for (file, page) in pages {
        let mut rendered = Vec::new();
        clap_mangen::Man::new(page).render(&mut rendered).unwrap();
        let path = repo("man").join(&file);
        if std::env::var_os("UPDATE_MAN").is_some() {
            std::fs::create_dir_all(repo("man")).unwrap();
            std::fs::write(&path, &rendered).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == rendered,
            "{} is out of date: run UPDATE_MAN=1 cargo test man_pages",
            path.display()
        );
    }
}
