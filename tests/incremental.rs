//! Keeping Planhat current (SPEC §6.1): a rerun with the same checkpoint
//! over a grown export reads only what is new, and sends for it exactly
//! what one run over history followed by the new sources would send.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use crate::http::{API, FakeClock, TENANT, mock, send, send_with_ctrl_c};
use crate::resume::spawn_send_with;
use crate::support::mock_planhat::{MockConfig, MockPlanhat};
use crate::support::{bin, stderr_of, stdout_of};
use segment_planhat::error::Status;

/// Writes `lines` to `root/segment-logs/<folder>/part-0.ndjson`.
fn write_part(root: &Path, folder: &str, lines: &[Value]) -> PathBuf {
    let dir = root.join("segment-logs").join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("part-0.ndjson");
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// The first day of a two-source export, as Segment lays it out: the
/// backend's folder sorts before the web app's, which holds the group
/// calls. Returns the files in the order a run reads them.
fn history(root: &Path) -> Vec<PathBuf> {
    let backend = write_part(
        root,
        "backend/2024-03-01",
        &[
            json!({"type":"track","userId":"u1","event":"Invoice Paid","messageId":"h10",
            "timestamp":"2024-03-01T10:00:00Z"}),
            json!({"type":"track","userId":"u2","event":"Invoice Paid","messageId":"h11",
            "timestamp":"2024-03-01T10:01:00Z"}),
            json!({"type":"track","userId":"u4","event":"Invoice Paid","messageId":"h12",
            "context":{"groupId":"initech"},"timestamp":"2024-03-01T10:02:00Z"}),
        ],
    );
    let web = write_part(
        root,
        "web/2024-03-01",
        &[
            json!({"type":"identify","userId":"u1","anonymousId":"a1","messageId":"h1",
            "traits":{"email":"u1@x.io","plan":"pro"},"timestamp":"2024-03-01T09:00:00Z"}),
            json!({"type":"group","userId":"u1","groupId":"acme","messageId":"h2",
            "traits":{"name":"Acme","seats":5},"timestamp":"2024-03-01T09:01:00Z"}),
            json!({"type":"page","userId":"u1","name":"Home","messageId":"h3",
            "timestamp":"2024-03-01T09:02:00Z"}),
            json!({"type":"group","userId":"u2","groupId":"globex","messageId":"h4",
            "traits":{"name":"Globex"},"timestamp":"2024-03-01T09:03:00Z"}),
            json!({"type":"track","userId":"u2","event":"Report Built","messageId":"h5",
            "timestamp":"2024-03-01T09:04:00Z"}),
            json!({"type":"page","anonymousId":"a2","name":"Pricing","messageId":"h6",
            "timestamp":"2024-03-01T09:05:00Z"}),
            json!({"type":"identify","userId":"u3","anonymousId":"a2","messageId":"h7",
            "traits":{"email":"u3@y.io"},"timestamp":"2024-03-01T09:06:00Z"}),
            json!({"type":"group","userId":"u3","groupId":"acme","messageId":"h8",
            "traits":{"seats":6},"timestamp":"2024-03-01T09:07:00Z"}),
        ],
    );
    vec![backend, web]
}

/// The next day: a new source's folder that sorts before the old ones, and
/// new days of both old sources. u1 moves to globex at 11:00; one backend
/// event repeats a messageId of history; an anonymous view on the new
/// source belongs to u3, linked in history.
fn next_day(root: &Path) -> Vec<PathBuf> {
    let mobile = write_part(
        root,
        "aaa-mobile/2024-03-02",
        &[
            json!({"type":"screen","userId":"u1","name":"Dashboard","messageId":"n1",
            "timestamp":"2024-03-02T08:00:00Z"}),
            json!({"type":"track","userId":"u2","event":"Report Built","messageId":"n2",
            "timestamp":"2024-03-02T08:01:00Z"}),
            json!({"type":"screen","anonymousId":"a2","name":"Settings","messageId":"n3",
            "timestamp":"2024-03-02T08:02:00Z"}),
        ],
    );
    let backend = write_part(
        root,
        "backend/2024-03-02",
        &[
            json!({"type":"track","userId":"u1","event":"Invoice Paid","messageId":"h10",
            "timestamp":"2024-03-01T10:00:00Z"}),
            json!({"type":"track","userId":"u1","event":"Invoice Paid","messageId":"n4",
            "timestamp":"2024-03-02T12:00:00Z"}),
            json!({"type":"track","userId":"u4","event":"Invoice Paid","messageId":"n5",
            "context":{"groupId":"initech"},"timestamp":"2024-03-02T12:01:00Z"}),
        ],
    );
    let web = write_part(
        root,
        "web/2024-03-02",
        &[
            json!({"type":"identify","userId":"u2","messageId":"n6",
            "traits":{"email":"u2@x.io","title":"CTO"},"timestamp":"2024-03-02T09:00:00Z"}),
            json!({"type":"group","userId":"u1","groupId":"globex","messageId":"n7",
            "traits":{"name":"Globex Corp"},"timestamp":"2024-03-02T11:00:00Z"}),
            json!({"type":"page","anonymousId":"a9","name":"Home","messageId":"n8",
            "timestamp":"2024-03-02T11:01:00Z"}),
            json!({"type":"identify","userId":"u9","anonymousId":"a9","messageId":"n9",
            "traits":{"email":"u9@z.io"},"timestamp":"2024-03-02T11:02:00Z"}),
        ],
    );
    vec![mobile, backend, web]
}

/// Each item a request carried, with its route: `activity`, `endusers`,
/// `companies`.
fn route_of(path: &str) -> &'static str {
    if path.contains("/analytics/") {
        "activity"
    } else if path.contains("/endusers") {
        "endusers"
    } else if path.contains("/companies") {
        "companies"
    } else {
        panic!("unexpected path {path}")
    }
}

/// The items the mock accepted since `from` requests, by route.
fn delivered(mock: &MockPlanhat, from: usize) -> Vec<(&'static str, Value)> {
    mock.requests()[from..]
        .iter()
        .flat_map(|r| {
            let route = route_of(&r.path);
            r.accepted.iter().map(move |item| (route, item.clone()))
        })
        .collect()
}

/// The items a dry-run over `paths`, in that order, prints, by route.
fn dry_run(paths: &[PathBuf], mode: &[&str]) -> Vec<(&'static str, Value)> {
    let mut args: Vec<&str> = mode.to_vec();
    args.extend(paths.iter().map(|path| path.to_str().unwrap()));
    crate::companies::dry_run(Path::new("."), &args)
        .into_iter()
        .map(|(path, item)| (route_of(&path), item))
        .collect()
}

/// Activities as sorted text, to compare as multisets.
fn activities(items: &[(&str, Value)]) -> Vec<String> {
    let mut texts: Vec<String> = items
        .iter()
        .filter(|(route, _)| *route == "activity")
        .map(|(_, item)| item.to_string())
        .collect();
    texts.sort();
    texts
}

/// What Planhat holds of each profile once every upsert is applied in
/// order: a later value wins, `custom` merges key by key.
fn profiles(items: &[(&str, Value)]) -> BTreeMap<String, Map<String, Value>> {
    let mut state: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (route, item) in items.iter().filter(|(route, _)| *route != "activity") {
        let key = item["externalId"]
            .as_str()
            .or(item["email"].as_str())
            .unwrap();
        let profile = state.entry(format!("{route} {key}")).or_default();
        for (field, value) in item.as_object().unwrap() {
            match (field.as_str(), profile.get_mut(field)) {
                ("custom", Some(Value::Object(custom))) => {
                    custom.extend(value.as_object().unwrap().clone());
                }
                _ => {
                    profile.insert(field.clone(), value.clone());
                }
            }
        }
    }
    state
}

/// `send` with a checkpoint in `dir` over `root/segment-logs`.
fn send_export(mock: &MockPlanhat, dir: &Path, root: &Path, mode: &[&str]) -> crate::http::Outcome {
    let checkpoint = dir.join("checkpoint.json");
    let export = root.join("segment-logs");
    let mut args = vec!["--checkpoint", checkpoint.to_str().unwrap()];
    args.extend(mode);
    args.push(export.to_str().unwrap());
    send(mock, &FakeClock::new(), dir, &args)
}

#[test]
fn a_rerun_reads_only_the_new_sources_and_sends_what_one_run_over_all_would() {
    for mode in [&[][..], &["--api-token", API][..], &["--stitch"][..]] {
        let mock = mock();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let old = history(root);
        let first = send_export(&mock, root, root, mode);
        assert_eq!(
            first.result.unwrap(),
            Status::Clean,
            "{mode:?}: {}",
            first.stderr
        );
        let after_first = mock.requests().len();
        let run1 = delivered(&mock, 0);

        let new = next_day(root);
        if mode.is_empty() {
            validate_shows_the_next_run(root);
        }
        let second = send_export(&mock, root, root, mode);
        assert_eq!(
            second.result.unwrap(),
            Status::Clean,
            "{mode:?}: {}",
            second.stderr
        );
        assert!(
            second
                .stderr
                .contains("not reading 2 sources the last run covered in full (11 lines)"),
            "{mode:?}: {}",
            second.stderr
        );
        let run2 = delivered(&mock, after_first);

        // One run over history, in the order it was read, then the new
        // sources in path order.
        let all: Vec<PathBuf> = old.iter().chain(&new).cloned().collect();
        let whole = dry_run(&all, mode);
        let history_only = dry_run(&old, mode);
        let mut both = run1.clone();
        both.extend(run2.iter().cloned());
        assert_eq!(activities(&both), activities(&whole), "{mode:?}");
        assert_eq!(activities(&run1), activities(&history_only), "{mode:?}");
        assert_eq!(profiles(&both), profiles(&whole), "{mode:?}");

        let texts = activities(&run2);
        let action = |action: &str, user: &str| {
            texts
                .iter()
                .map(|t| serde_json::from_str::<Value>(t).unwrap())
                .filter(|a| a["action"] == action && a["externalId"] == user)
                .collect::<Vec<Value>>()
        };
        assert_eq!(
            action("Viewed Dashboard Screen", "u1")[0]["cId"],
            "acme",
            "{mode:?}: history's group call"
        );
        let paid = action("Invoice Paid", "u1");
        assert_eq!(paid.len(), 1, "{mode:?}: h10 is a duplicate of history's");
        assert_eq!(paid[0]["cId"], "globex", "{mode:?}: u1 moved at 11:00");
        let stitched = action("Viewed Settings Screen", "u3");
        assert_eq!(
            stitched.len(),
            usize::from(mode == ["--stitch"]),
            "{mode:?}: a2 was linked in history"
        );
    }
}

/// `validate --checkpoint` before the rerun: what it reads, the counts of
/// those lines, and nothing written.
fn validate_shows_the_next_run(root: &Path) {
    let checkpoint = root.join("checkpoint.json");
    let memory = root.join("checkpoint.json.memory");
    let before = (
        std::fs::read(&checkpoint).unwrap(),
        std::fs::read(&memory).unwrap(),
    );
    let output = bin()
        .args(["validate", "--checkpoint"])
        .arg(&checkpoint)
        .arg(root.join("segment-logs"))
        .output()
        .unwrap();
    let report = stdout_of(&output);
    assert!(
        report.contains("a rerun reads 3 new sources, and 0 sources the last run covered in part"),
        "{report}"
    );
    assert!(
        report.contains("not read, known in full  2 sources (11 lines)"),
        "{report}"
    );
    assert!(
        report.contains("aaa-mobile/2024-03-02/part-0.ndjson: 3 lines"),
        "{report}"
    );
    assert!(report.contains("messages      10"), "{report}");
    assert!(report.contains("  duplicate"), "{report}");
    let json = bin()
        .args(["validate", "--json", "--checkpoint"])
        .arg(&checkpoint)
        .arg(root.join("segment-logs"))
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["rerun"]["not_read"]["lines"], 11, "{json}");
    assert_eq!(json["rerun"]["new"].as_array().unwrap().len(), 3, "{json}");
    let after = (
        std::fs::read(&checkpoint).unwrap(),
        std::fs::read(&memory).unwrap(),
    );
    assert!(before == after, "validate writes nothing");
}

/// Sets a file's modification time.
fn set_modified(path: &Path, time: SystemTime) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(time).unwrap();
}

/// The binary's `send` to `mock` with a checkpoint in `dir`, exit code and
/// stderr.
fn send_bin(mock: &MockPlanhat, dir: &Path, extra: &[&str], paths: &[&Path]) -> (i32, String) {
    let output = bin()
        .args(["send", "--tenant-token", TENANT, "--analytics-url"])
        .arg(mock.url())
        .args(["--progress", "never", "--checkpoint"])
        .arg(dir.join("checkpoint.json"))
        .arg("--failed")
        .arg(dir.join("failed.ndjson"))
        .args(extra)
        .args(paths)
        .output()
        .unwrap();
    (output.status.code().unwrap(), stderr_of(&output))
}

#[test]
fn a_rerun_reads_no_byte_of_the_files_it_covers() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = history(root);
    let export = root.join("segment-logs");
    assert_eq!(send_bin(&mock, root, &[], &[&export]).0, 0);
    let sent = mock.delivered_items().len();
    let new = next_day(root);
    let all: Vec<PathBuf> = old.iter().chain(&new).cloned().collect();
    let mut expected = activities(&dry_run(&all, &[]));
    for item in activities(&dry_run(&old, &[])) {
        let at = expected.iter().position(|e| *e == item).unwrap();
        expected.remove(at);
    }
    // Garbage of the same size, with the old modification time: read, it
    // would be rejected line by line.
    for path in &old {
        let modified = std::fs::metadata(path).unwrap().modified().unwrap();
        let size = std::fs::metadata(path).unwrap().len() as usize;
        std::fs::write(path, "x".repeat(size)).unwrap();
        set_modified(path, modified);
    }
    let (code, stderr) = send_bin(&mock, root, &[], &[&export]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("rejected") && !stderr.contains("invalid"),
        "{stderr}"
    );
    assert!(!root.join("failed.ndjson").exists(), "{stderr}");
    let items: Vec<(&str, Value)> = mock.delivered_items()[sent..]
        .iter()
        .map(|item| ("activity", item.clone()))
        .collect();
    assert_eq!(activities(&items), expected);
    assert_eq!(expected.len(), 6);
}

#[test]
fn a_touched_file_is_hashed_not_sent_again_and_a_changed_one_is_refused() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = history(root);
    let export = root.join("segment-logs");
    assert_eq!(send_bin(&mock, root, &[], &[&export]).0, 0);
    let requests = mock.requests().len();
    // Touched: the same bytes, a new time.
    set_modified(&old[1], SystemTime::now() + Duration::from_secs(60));
    let (code, stderr) = send_bin(&mock, root, &[], &[&export]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("not reading 2 sources"), "{stderr}");
    assert_eq!(mock.requests().len(), requests, "nothing sent again");
    // Other bytes of the same size, a new time: refused.
    let text = std::fs::read_to_string(&old[0]).unwrap();
    std::fs::write(&old[0], text.replace("u1", "u7")).unwrap();
    set_modified(&old[0], SystemTime::now() + Duration::from_secs(120));
    let (code, stderr) = send_bin(&mock, root, &[], &[&export]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("changed since the checkpoint") && stderr.contains("--restart"),
        "{stderr}"
    );
    assert_eq!(mock.requests().len(), requests);
}

#[test]
fn a_grown_file_sends_only_its_new_lines() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("live.ndjson");
    let lines = crate::http::tracks(6);
    let text = |lines: &[Value]| -> String { lines.iter().map(|l| format!("{l}\n")).collect() };
    std::fs::write(&input, text(&lines[..3])).unwrap();
    assert_eq!(send_bin(&mock, dir.path(), &[], &[&input]).0, 0);
    std::fs::write(&input, text(&lines)).unwrap();
    let (code, stderr) = send_bin(&mock, dir.path(), &[], &[&input]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        crate::http::actions(&mock.delivered_items()),
        crate::http::events(&lines),
        "each line once"
    );
    // What a third run would read, before it runs.
    std::fs::write(
        &input,
        text(&[&lines[..], &crate::http::tracks(8)[6..]].concat()),
    )
    .unwrap();
    let output = bin()
        .args(["validate", "--checkpoint"])
        .arg(dir.path().join("checkpoint.json"))
        .arg(&input)
        .output()
        .unwrap();
    let report = stdout_of(&output);
    assert!(report.contains("2 new lines past the 6 known"), "{report}");
    assert!(report.contains("messages      2"), "{report}");
}

#[test]
fn a_changed_option_is_refused_before_anything_is_read_and_restart_starts_over() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    history(root);
    let export = root.join("segment-logs");
    assert_eq!(send_bin(&mock, root, &[], &[&export]).0, 0);
    let requests = mock.requests().len();
    let (code, stderr) = send_bin(&mock, root, &["--dedupe-window", "10"], &[&export]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--dedupe-window differs") && stderr.contains("1000000 then, 10 now"),
        "{stderr}"
    );
    let map = root.join("map.toml");
    std::fs::write(&map, "[events]\n\"Invoice Paid\" = { weight = 3 }\n").unwrap();
    let (code, stderr) = send_bin(&mock, root, &["--map", map.to_str().unwrap()], &[&export]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--map differs") && stderr.contains("none then"),
        "{stderr}"
    );
    assert_eq!(mock.requests().len(), requests, "nothing sent");
    let (code, stderr) = send_bin(
        &mock,
        root,
        &["--dedupe-window", "10", "--restart"],
        &[&export],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(mock.requests().len() > requests, "everything sent again");
}

#[test]
fn a_memory_of_another_version_is_refused_with_what_to_do() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let input = crate::http::write_input(dir.path(), &crate::http::tracks(2));
    assert_eq!(send_bin(&mock, dir.path(), &[], &[&input]).0, 0);
    let memory = dir.path().join("checkpoint.json.memory");
    let mut frames = segment_planhat::frames::FrameWriter::new(Vec::new());
    frames
        .write(&(segment_planhat::memory::FORMAT, 0u32))
        .unwrap();
    std::fs::write(&memory, frames.finish().unwrap()).unwrap();
    let (code, stderr) = send_bin(&mock, dir.path(), &[], &[&input]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("format version 0") && stderr.contains("--restart"),
        "{stderr}"
    );
    std::fs::write(&memory, b"not a memory at all").unwrap();
    let (code, stderr) = send_bin(&mock, dir.path(), &[], &[&input]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot be read"), "{stderr}");
}

/// `count` track messages with ids and names from `first` on.
fn tracks_from(first: usize, count: usize) -> Vec<Value> {
    (first..first + count)
        .map(|i| {
            json!({"type":"track","messageId":format!("m{i}"),"userId":format!("u{}", i % 3),
                "event":format!("Event {i}"),"timestamp":"2024-03-01T12:00:00Z"})
        })
        .collect()
}

#[test]
fn a_rerun_killed_midway_loses_nothing_and_repeats_at_most_the_request_in_flight() {
    let mock = MockPlanhat::start(MockConfig {
        tenant_token: Some(TENANT.into()),
        delay: Duration::from_millis(25),
        ..MockConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let old = tracks_from(0, 100);
    crate::http::write_input(&logs, &old);
    let run = || spawn_send_with(&mock, dir.path(), &logs, &[]);
    let first = run().wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    let after_first = mock.requests().len();

    let new = tracks_from(100, 600);
    let text: String = new.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(logs.join("later.ndjson"), text).unwrap();
    let mut second = run();
    assert!(
        mock.wait_for_requests(after_first + 8, Duration::from_secs(20)),
        "the rerun did not start"
    );
    second.kill().unwrap(); // SIGKILL
    second.wait().unwrap();
    let third = run().wait_with_output().unwrap();
    assert_eq!(third.status.code(), Some(0), "{}", stderr_of(&third));

    let items = mock.delivered_items();
    let all: Vec<Value> = old.iter().chain(&new).cloned().collect();
    let mut seen = crate::http::actions(&items);
    let total = seen.len();
    seen.dedup();
    assert_eq!(seen, crate::http::events(&all), "nothing lost");
    assert!(total - all.len() <= 20, "{} sent twice", total - all.len());
    let history_again = items[100..]
        .iter()
        .filter(|item| old.iter().any(|m| m["event"] == item["action"]))
        .count();
    assert_eq!(history_again, 0, "history is not sent again");
}

#[test]
fn ctrl_c_during_a_rerun_keeps_what_waited_and_the_next_run_sends_it_once() {
    let mode = ["--api-token", API, "--batch-size", "4"];
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = history(root);
    let first_mock = mock();
    let first = send_export(&first_mock, root, root, &mode);
    assert_eq!(first.result.unwrap(), Status::Clean, "{}", first.stderr);
    let run1 = delivered(&first_mock, 0);

    let new = next_day(root);
    // Ctrl-C as the rerun's first request arrives: the profiles of the
    // lines mapped by then wait, unsent, and the memory knows those lines.
    let checkpoint = root.join("checkpoint.json");
    let export = root.join("segment-logs");
    let mut args = vec!["--checkpoint", checkpoint.to_str().unwrap()];
    args.extend(mode);
    args.push(export.to_str().unwrap());
    let config = MockConfig {
        tenant_token: Some(TENANT.into()),
        api_token: Some(API.into()),
        ..MockConfig::default()
    };
    let (second_mock, second) = send_with_ctrl_c(config, root, &args, |_| true);
    assert_eq!(
        second.result.unwrap(),
        Status::Interrupted,
        "{}",
        second.stderr
    );
    let run2 = delivered(&second_mock, 0);
    assert!(root.join("checkpoint.json.memory").exists());

    let third_mock = mock();
    let third = send_export(&third_mock, root, root, &mode);
    assert_eq!(third.result.unwrap(), Status::Clean, "{}", third.stderr);
    assert!(!third.stderr.contains("duplicate"), "{}", third.stderr);
    let run3 = delivered(&third_mock, 0);

    let all: Vec<PathBuf> = old.iter().chain(&new).cloned().collect();
    let whole = dry_run(&all, &mode);
    let every: Vec<(&str, Value)> = [run1, run2, run3].concat();
    assert_eq!(activities(&every), activities(&whole), "each activity once");
    assert_eq!(profiles(&every), profiles(&whole));
}

#[test]
fn standard_input_that_grew_sends_only_its_new_lines_and_another_stream_is_refused() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let lines = tracks_from(0, 5);
    let text = |lines: &[Value]| -> String { lines.iter().map(|l| format!("{l}\n")).collect() };
    let run = |stdin: String| {
        bin()
            .args(["send", "--tenant-token", TENANT, "--analytics-url"])
            .arg(mock.url())
            .args(["--progress", "never", "--checkpoint"])
            .arg(dir.path().join("checkpoint.json"))
            .arg("--failed")
            .arg(dir.path().join("failed.ndjson"))
            .write_stdin(stdin)
            .output()
            .unwrap()
    };
    assert_eq!(run(text(&lines[..3])).status.code(), Some(0));
    let grown = run(text(&lines));
    assert_eq!(grown.status.code(), Some(0), "{}", stderr_of(&grown));
    assert_eq!(
        crate::http::actions(&mock.delivered_items()),
        crate::http::events(&lines)
    );
    let other = run(text(&tracks_from(10, 6)));
    assert_eq!(other.status.code(), Some(2));
    assert!(
        stderr_of(&other).contains("standard input is not the stream"),
        "{}",
        stderr_of(&other)
    );
}
