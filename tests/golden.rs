//! Golden tests: each `tests/fixtures/golden/<case>.input.ndjson` is run
//! through `send --dry-run` without an API token and with one (and with
//! `--map <case>.map.toml` when that file exists, and the flags in
//! `<case>.args`, one per line, when that file exists), and the requests on
//! stdout and the problem lines on stderr are compared with the reviewed
//! files beside it. `UPDATE_GOLDEN=1 cargo test golden` rewrites them; read
//! the diff before committing.

use std::path::Path;

use crate::support::{bin, fixture, stderr_of, stdout_of};

/// The modes of SPEC §5: without an API token identify and group are
/// activities or skipped; with one they are profile upserts; with
/// `--receiver` every message goes to Planhat's Segment receiver (§5.6).
const MODES: [(&str, &[&str]); 3] = [
    ("activities", &[]),
    ("profiles", &["--api-token", "golden-api-token"]),
    ("receiver", &["--receiver"]),
];

fn check(expected_path: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(expected_path, actual).expect("writing a golden file");
        return None;
    }
    let expected = std::fs::read_to_string(expected_path).unwrap_or_default();
    (expected != actual).then(|| {
        format!(
            "{} differs from the output:\n--- expected\n{expected}\n--- actual\n{actual}",
            expected_path.display()
        )
    })
}

#[test]
fn dry_run_output_matches_the_reviewed_files() {
    let dir = fixture("golden");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("the golden folder exists")
        .map(|entry| entry.expect("listing golden").path())
        .filter(|path| path.to_string_lossy().ends_with(".input.ndjson"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 6, "golden cases are missing: {cases:?}");
    let mut differences = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".input.ndjson", "");
        let map = format!("{name}.map.toml");
        let mut case_flags: Vec<String> = if dir.join(&map).exists() {
            vec!["--map".into(), map]
        } else {
            Vec::new()
        };
        if let Ok(args) = std::fs::read_to_string(dir.join(format!("{name}.args"))) {
            case_flags.extend(args.lines().map(str::to_owned));
        }
        for (mode, flags) in MODES {
            let output = bin()
                .current_dir(&dir)
                .args(["send", "--dry-run", "-q"])
                .args(flags)
                .args(&case_flags)
                .arg(format!("{name}.input.ndjson"))
                .output()
                .expect("the binary runs");
            let code = output.status.code().expect("an exit code");
            let stdout = stdout_of(&output);
            let stderr = format!("exit {code}\n{}", stderr_of(&output));
            differences.extend(check(
                &dir.join(format!("{name}.{mode}.requests.ndjson")),
                &stdout,
            ));
            differences.extend(check(
                &dir.join(format!("{name}.{mode}.stderr.txt")),
                &stderr,
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}
