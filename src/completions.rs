//! Shell completion scripts (SPEC §7): what `segment-planhat completions
//! SHELL` prints. clap_complete writes them from the command-line
//! definition; this module owns the two places where its output does not
//! work for this binary and patches them, so that the scripts work in each
//! shell rather than only look right.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// The name the scripts complete.
const BIN: &str = "segment-planhat";

/// Writes the completion script for `shell`.
pub fn write(shell: Shell, out: &mut dyn Write) -> Result<()> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, BIN, &mut script);
    let mut script = String::from_utf8(script)?;
    match shell {
        Shell::Bash => script = fix_bash(&script),
        Shell::Fish => script.push_str(&fish_positional_values(&command)),
        _ => {}
    }
    out.write_all(script.as_bytes())?;
    Ok(())
}

/// clap_complete's bash script names a subcommand's state in two ways when
/// the binary's name has a hyphen: the loop that reads the words sets
/// `segment__planhat__subcmd__send`, the `case` that offers the options
/// matches `segment__subcmd__planhat__subcmd__send`, so after a subcommand
/// nothing completes (clap-rs/clap issue, open upstream). The case labels
/// are renamed to what the loop sets.
fn fix_bash(script: &str) -> String {
    let set = format!("{}__", BIN.replace('-', "__"));
    let matched = format!("{}__", BIN.replace('-', "__subcmd__"));
    script.replace(&matched, &set)
}

/// clap_complete's fish script completes only options and subcommands, not
/// positional arguments, so `completions <TAB>` offered no shell. This adds
/// the possible values of each subcommand's positional arguments.
fn fish_positional_values(command: &clap::Command) -> String {
    let condition = format!("__fish_{}_using_subcommand", BIN.replace('-', "_"));
    let mut lines = String::new();
    for subcommand in command.get_subcommands() {
        for argument in subcommand.get_positionals() {
            let values: Vec<_> = argument
                .get_possible_values()
                .iter()
                .filter(|value| !value.is_hide_set())
                .map(|value| value.get_name().to_owned())
                .collect();
            if values.is_empty() {
                continue;
            }
            let values = values.join(" ");
            lines.push_str(&format!(
                "complete -c {BIN} -n \"{condition} {}; and not __fish_seen_subcommand_from \
                 {values}\" -f -a \"{values}\"\n",
                subcommand.get_name(),
            ));
        }
    }
    lines
}
