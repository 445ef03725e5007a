//! What users see (SPEC §7): completion scripts run in real shells, errors
//! found before anything is sent, hints that fit the command, environment
//! twins as people write them, and help that matches what a command uses.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use clap::Parser;
use segment_planhat::cli::Cli;
use segment_planhat::error::Status;

use crate::http::{FakeClock, TENANT, mock, send, tracks, write_input};
use crate::support::mock_planhat::{Fault, MockPlanhat};
use crate::support::{bin, repo, stderr_of, stdout_of};

/// The completion script the binary prints for `shell`.
fn script(shell: &str) -> String {
    let output = bin().args(["completions", shell]).output().unwrap();
    assert!(output.status.success());
    stdout_of(&output)
}

/// Whether `shell` can be run here; CI machines may lack zsh or fish, and
/// then the test says so and passes.
fn installed(shell: &str) -> bool {
    let found = Command::new(shell)
        .args(["-c", "exit 0"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("note: {shell} is not installed; its completion script was not run");
    }
    found
}

/// Runs `program` in `shell` and returns its standard output.
fn run_in(shell: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(shell)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout_of(&output)
}

#[test]
fn bash_completes_options_of_a_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("complete.bash"), script("bash")).unwrap();
    // What bash sets before calling the function bound with `complete -F`:
    // the words, the index of the one being completed, and the function's
    // arguments (command, current word, previous word).
    let complete = |words: &str, current: usize| {
        let words: Vec<&str> = words.split(' ').collect();
        let program = format!(
            "source complete.bash
             COMP_WORDS=({})
             COMP_CWORD={current}
             _segment__planhat segment-planhat '{}' '{}'
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words.join(" "),
            words[current],
            words[current - 1],
        );
        run_in("bash", &["-c", &program], dir.path())
    };
    assert_eq!(complete("segment-planhat send --prog", 2), "--progress\n");
    assert_eq!(complete("segment-planhat validate --js", 2), "--json\n");
    assert_eq!(complete("segment-planhat send --progress n", 3), "never\n");
    assert_eq!(complete("segment-planhat completions fi", 2), "fish\n");
}

#[test]
fn fish_completes_options_and_the_shell_names() {
    if !installed("fish") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("complete.fish"), script("fish")).unwrap();
    let complete = |line: &str| {
        let program = format!("source complete.fish; complete -C '{line}'");
        let out = run_in("fish", &["--no-config", "-c", &program], dir.path());
        // Each candidate is followed by a tab and its description.
        out.lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(complete("segment-planhat send --prog"), ["--progress"]);
    assert_eq!(
        complete("segment-planhat completions "),
        ["bash", "elvish", "fish", "powershell", "zsh"]
    );
}

/// Drives an interactive zsh in a pseudo-terminal (zsh's own zpty): types
/// `line` and Tab, and records every candidate the completion function
/// offers by wrapping `compadd`.
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT='' RPROMPT=''"
zpty -w z "fpath=($PWD \$fpath); autoload -Uz compinit; compinit -u -d $PWD/zcompdump"
# compadd is wrapped to print each candidate behind a marker, spelled so that
# the echo of this definition does not hold it; a candidate may be offered
# more than once.
zpty -w z 'compadd () { builtin compadd -O h "$@"; print -l -- "" ${^h/#/${(L):-HIT}:}; builtin compadd "$@" }'
zpty -w z 'bindkey "^I" complete-word'
zpty -w -n z "$1"$'\t'
out=""
integer i
for (( i = 0; i < 100; i++ )); do
  if zpty -r -t z chunk; then out+=$chunk
  elif [[ $out == *hit:* ]]; then break
  else sleep 0.05; fi
done
zpty -d z
print -r -- ${(F)${(M)${(f)${out//$'\r'/}}:#hit:*}#hit:}
"#;

#[test]
fn zsh_completes_options_of_a_subcommand() {
    if !installed("zsh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("_segment-planhat"), script("zsh")).unwrap();
    std::fs::write(dir.path().join("driver.zsh"), ZSH_DRIVER).unwrap();
    let out = run_in(
        "zsh",
        &["-f", "driver.zsh", "segment-planhat send --prog"],
        dir.path(),
    );
    let offered: BTreeSet<&str> = out.lines().map(str::trim).collect();
    assert_eq!(offered, BTreeSet::from(["--progress"]), "{out}");
}

// ---- errors found before sending, and hints that fit (item 5) ----

/// A `send` of `input` to `mock` by the binary, with `extra` options.
fn send_to(mock: &MockPlanhat, input: &Path, extra: &[&str]) -> Output {
    bin()
        .args(["send", "--tenant-token", TENANT, "--analytics-url"])
        .arg(mock.url())
        .args(extra)
        .arg(input)
        .output()
        .unwrap()
}

#[test]
fn an_unwritable_failed_or_checkpoint_path_stops_the_run_before_anything_is_sent() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(2));
    let nowhere = dir.path().join("no-such-folder/file");
    let nowhere = nowhere.to_str().unwrap();
    for flag in ["--failed", "--checkpoint"] {
        let output = send_to(&mock, &input, &[flag, nowhere]);
        assert_eq!(output.status.code(), Some(2), "{flag}");
        let stderr = stderr_of(&output);
        assert!(
            stderr.contains(flag) && stderr.contains(nowhere),
            "{stderr}"
        );
        assert!(mock.requests().is_empty(), "{flag}: something was sent");
    }
    // A run where nothing fails still creates no failed file, and the check
    // leaves nothing behind.
    let failed = dir.path().join("failed.ndjson");
    let output = send_to(&mock, &input, &["--failed", failed.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["events.ndjson"]);
}

#[test]
fn values_that_cannot_work_are_usage_errors() {
    for (args, named) in [
        (&["--timeout", "0"][..], "--timeout"),
        (
            &["--since", "2024-03-02", "--until", "2024-03-01"][..],
            "--since",
        ),
    ] {
        let output = bin()
            .args(["send", "--dry-run"])
            .args(args)
            .write_stdin(format!("{}\n", tracks(1)[0]))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = stderr_of(&output);
        assert!(stderr.contains(named), "{stderr}");
    }
}

#[test]
fn an_interrupted_run_without_a_checkpoint_does_not_suggest_rerunning_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(2));
    let args = [
        "segment-planhat",
        "send",
        "--dry-run",
        input.to_str().unwrap(),
    ];
    let cli = Cli::try_parse_from(args).unwrap();
    let config = segment_planhat::config::resolve(cli).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let io = segment_planhat::Io {
        out: &mut out,
        err: &mut err,
        clock: Box::new(FakeClock::new()),
        // Ctrl-C before the first line.
        interrupt: Arc::new(AtomicBool::new(true)),
    };
    assert_eq!(
        segment_planhat::run(config, io).unwrap(),
        Status::Interrupted
    );
    let stderr = String::from_utf8(err).unwrap();
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!stderr.contains("same --checkpoint"), "{stderr}");
}

#[test]
fn a_resumed_run_counts_in_english_and_a_touched_source_is_not_read_again() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(1));
    let checkpoint = dir.path().join("checkpoint.json");
    let args = ["--checkpoint", checkpoint.to_str().unwrap()];
    assert_eq!(send_to(&mock, &input, &args).status.code(), Some(0));
    // Without the memory (a run killed before it ended), handled lines are
    // read again for what they teach, and said so.
    std::fs::remove_file(dir.path().join("checkpoint.json.memory")).unwrap();
    let again = send_to(&mock, &input, &args);
    let stderr = stderr_of(&again);
    assert!(stderr.contains("skipping 1 line of "), "{stderr}");
    assert!(
        stderr.contains("resumed: 1 line already handled"),
        "{stderr}"
    );
    // With it, the source is not read at all.
    let known = send_to(&mock, &input, &args);
    let stderr = stderr_of(&known);
    assert!(
        stderr.contains("not reading 1 source the last run covered in full (1 line)"),
        "{stderr}"
    );

    let file = std::fs::File::options().write(true).open(&input).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    // Its bytes are the memory's: checked, it is not read again whatever
    // its time says.
    let touched = send_to(&mock, &input, &args);
    assert_eq!(touched.status.code(), Some(0));
    let stderr = stderr_of(&touched);
    assert!(stderr.contains("not reading 1 source"), "{stderr}");
    assert_eq!(mock.delivered_items().len(), 1);
}

#[test]
fn the_status_line_calls_rejected_lines_rejected() {
    let output = bin()
        .args(["send", "--dry-run", "--progress", "always"])
        .write_stdin(format!("{}\nnot json\n", tracks(1)[0]))
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("rejected 1 · failed 0"), "{stderr}");
}

#[test]
fn a_request_without_answer_says_how_many_tries_and_which_timeout() {
    let mock = mock();
    mock.push_fault(Fault::Delay(Duration::from_secs(2)));
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(1));
    let args = ["--max-retries", "0", "--timeout", "200ms"];
    let outcome = send(
        &mock,
        &FakeClock::new(),
        dir.path(),
        &[&args[..], &[input.to_str().unwrap()]].concat(),
    );
    assert_eq!(outcome.result.unwrap(), Status::Problems);
    let failed = std::fs::read_to_string(dir.path().join("failed.ndjson")).unwrap();
    assert!(
        failed.contains("no answer after 1 try: timed out after 200ms (--timeout)"),
        "{failed}"
    );
}

// ---- secrets left out where the tool puts them (item 6) ----

#[test]
fn a_one_letter_token_never_rewrites_other_text() {
    // Nothing listens on port 1: every try is refused.
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(1));
    let failed = dir.path().join("failed.ndjson");
    let output = bin()
        .args(["send", "--tenant-token", "e", "--max-retries", "0"])
        .args(["--analytics-url", "http://127.0.0.1:1", "--failed"])
        .arg(&failed)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
    let failed = std::fs::read_to_string(&failed).unwrap();
    for text in [&stderr_of(&output), &failed] {
        assert!(text.contains("Connection refused"), "{text}");
        assert!(!text.contains("{tenantToken}"), "{text}");
    }
}

// ---- boolean environment twins (item 7) ----

#[test]
fn boolean_twins_take_the_usual_words_and_an_empty_one_is_unset() {
    let dry_run = |value: &str| {
        bin()
            .env("PLANHAT_DRY_RUN", value)
            .arg("send")
            .write_stdin(format!("{}\n", tracks(1)[0]))
            .output()
            .unwrap()
    };
    for on in ["1", "yes", "On", "TRUE", "true"] {
        let output = dry_run(on);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{on}: {}",
            stderr_of(&output)
        );
        assert!(stdout_of(&output).contains("\"method\""), "{on}");
    }
    // Off, or empty: a real send, which needs a token.
    for off in ["0", "no", "OFF", "false", ""] {
        let output = dry_run(off);
        assert_eq!(output.status.code(), Some(2), "{off:?}");
        assert!(
            stderr_of(&output).contains("needs a tenant token"),
            "{off:?}: {}",
            stderr_of(&output)
        );
    }
    let output = dry_run("maybe");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("PLANHAT_DRY_RUN"),
        "{}",
        stderr_of(&output)
    );
    // An empty twin of an option with a value counts as unset too.
    let output = bin()
        .env("PLANHAT_DEDUPE_WINDOW", "")
        .args(["send", "--dry-run"])
        .write_stdin(format!("{}\n", tracks(1)[0]))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

// ---- help and README that match (item 8) ----

#[test]
fn validate_help_lists_only_what_validate_uses_and_shows_unset_twins_without_a_value() {
    let help = stdout_of(&bin().args(["validate", "--help"]).output().unwrap());
    for send_only in [
        "--tenant-token",
        "--api-url",
        "--analytics-url",
        "--subdomain",
    ] {
        assert!(!help.contains(send_only), "{send_only} in validate --help");
    }
    assert!(help.contains("--api-token") && help.contains("--map"));
    assert!(help.contains("[env: PLANHAT_MAP]"), "{help}");
    assert!(
        !help.contains("examples/"),
        "points at a path an installed binary lacks"
    );
    let help = bin()
        .env("PLANHAT_SUBDOMAIN", "api-eu")
        .args(["send", "--help"])
        .output()
        .unwrap();
    let help = stdout_of(&help);
    assert!(help.contains("[env: PLANHAT_SUBDOMAIN=api-eu]"), "{help}");
    assert!(help.contains("[env: PLANHAT_TENANT_TOKEN_FILE]"), "{help}");
}

#[test]
fn every_option_has_an_environment_twin() {
    let command = segment_planhat::cli::command();
    for subcommand in command.get_subcommands() {
        for arg in subcommand.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_positional() || id == "help" || id == "version" {
                continue;
            }
            assert!(
                arg.get_env().is_some(),
                "{} --{id} has no twin",
                subcommand.get_name()
            );
        }
    }
}

#[test]
fn the_subdomain_of_the_web_app_is_refused_with_the_api_label() {
    let output = bin()
        .args(["send", "--dry-run", "--subdomain", "app-eu"])
        .write_stdin(format!("{}\n", tracks(1)[0]))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("--subdomain api-eu"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn validate_says_why_identify_and_group_rules_matched_nothing() {
    let output = bin()
        .current_dir(repo(""))
        .args([
            "validate",
            "--map",
            "examples/planhat-map.toml",
            "examples/events.ndjson",
        ])
        .output()
        .unwrap();
    let report = stdout_of(&output);
    assert!(report.contains("matched nothing"), "{report}");
    assert!(report.contains("apply only with an API token"), "{report}");
}

#[test]
fn the_docs_show_the_bundled_mapping_file_and_commands_that_work() {
    let mapping = std::fs::read_to_string(repo("docs/mapping.md")).unwrap();
    let example = std::fs::read_to_string(repo("examples/planhat-map.toml")).unwrap();
    let start = mapping.find("```toml\n").expect("a TOML block") + "```toml\n".len();
    let end = start + mapping[start..].find("```").unwrap();
    assert!(
        mapping[start..end] == example,
        "the TOML block of docs/mapping.md differs from examples/planhat-map.toml"
    );
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    // zcat stops at a file that is not gzip; -f passes it through.
    for line in readme.lines().filter(|l| l.contains("zcat ")) {
        assert!(line.contains("zcat -f "), "{line}");
    }
}
