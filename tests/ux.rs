//! What users see (SPEC §7): completion scripts run in real shells, errors
//! found before anything is sent, hints that fit the command, environment
//! twins as people write them, and help that matches what a command uses.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::{bin, stdout_of};

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
