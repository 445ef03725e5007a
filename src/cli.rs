//! The command line as clap sees it (SPEC §2, §4): commands, options, their
//! environment twins and help text. Nothing here reads the environment or
//! the file system beyond what clap does, except to see which twins are set;
//! `config` turns this into settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::mapping::checks::Shard;

/// Deliver Segment analytics events to Planhat.
///
/// Reads Segment messages as newline-delimited JSON (files, folders of S3
/// exports, gzip or not, or standard input), translates each into Planhat
/// API calls and sends them in batches, with the original event times.
#[derive(Debug, Parser)]
#[command(name = "segment-planhat", version, max_term_width = 100)]
#[command(
    after_help = "Exit codes: 0 all delivered or skipped by policy; 1 some messages \
rejected or failed; 2 usage, configuration, authentication or fatal I/O error, a \
redirect, or a stdout that cannot be written; 130 interrupted by Ctrl-C, 143 by SIGTERM, 129 by \
SIGHUP (each finishes the request in flight and writes the checkpoint)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    // The argument structs are boxed: they are large, `Completions` is small.
    /// Translate messages and send them to Planhat (or print them with --dry-run).
    Send(Box<SendArgs>),
    /// Read and map messages without sending; report what would happen.
    Validate(Box<ValidateArgs>),
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// The command line as the definitions below give it, with what derive
/// cannot say about environment twins applied to every option at once
/// (SPEC §4, §7), so that an option added later gets it too:
///
/// - a boolean twin takes `true/false`, `1/0`, `yes/no`, `on/off` in any
///   case, and a wrong value names the variable;
/// - a twin set to the empty string counts as unset (clap would take the
///   empty string as the value);
/// - help shows a twin's value only when it is set: clap writes an unset
///   one as `[env: NAME=]`, which reads as "set to empty".
pub fn command() -> clap::Command {
    Cli::command().mut_subcommands(|command| command.mut_args(twin))
}

/// Parses the process's arguments with [`command`]; a mistake prints clap's
/// message and exits 2.
pub fn parse() -> Cli {
    let command = command();
    let matches = command
        .clone()
        .try_get_matches()
        .unwrap_or_else(|error| from_twin(error, &command).exit());
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// clap names the option whose value it refused; when that value came from
/// the option's environment twin, the message says so (SPEC §7), since the
/// user never typed the option.
fn from_twin(error: clap::Error, command: &clap::Command) -> clap::Error {
    use clap::error::{ContextKind, ContextValue};
    let (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) = (
        error.get(ContextKind::InvalidArg),
        error.get(ContextKind::InvalidValue),
    ) else {
        return error;
    };
    let long = arg.split_whitespace().next().unwrap_or_default();
    let typed = std::env::args().any(|word| word == long || word.starts_with(&format!("{long}=")));
    let twin = command
        .get_subcommands()
        .flat_map(clap::Command::get_arguments)
        .find(|a| a.get_long().is_some_and(|name| format!("--{name}") == long))
        .and_then(Arg::get_env);
    let Some(twin) =
        twin.filter(|name| !typed && std::env::var_os(name).as_deref() == Some(value.as_ref()))
    else {
        return error;
    };
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    let reason = first.strip_prefix("error: ").unwrap_or(first);
    let message = format!(
        "{reason}\n(the value comes from {})\n",
        twin.to_string_lossy()
    );
    clap::Error::raw(error.kind(), message).with_cmd(command)
}

/// One option as [`command`] describes it.
fn twin(arg: Arg) -> Arg {
    let Some(value) = arg.get_env().map(std::env::var_os) else {
        return arg;
    };
    let arg = match arg.get_action() {
        ArgAction::SetTrue => arg.value_parser(BoolTwin),
        _ => arg,
    };
    match value {
        Some(value) if value.is_empty() => arg.env(None::<&str>),
        Some(_) => arg,
        None => arg.hide_env_values(true),
    }
}

/// The value of a boolean option's environment twin. On the command line a
/// flag takes no value (clap passes `true`), so a wrong value always comes
/// from the environment.
#[derive(Clone)]
struct BoolTwin;

impl TypedValueParser for BoolTwin {
    type Value = bool;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<bool, clap::Error> {
        let text = value.to_string_lossy();
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => {
                let name = arg
                    .and_then(Arg::get_env)
                    .map_or_else(|| "the environment".into(), |name| name.to_string_lossy());
                let message = format!(
                    "{name}={text:?} is neither on nor off; use true/false, 1/0, yes/no or on/off\n"
                );
                Err(clap::Error::raw(ErrorKind::InvalidValue, message).with_cmd(command))
            }
        }
    }
}

/// Options shared by `send` and `validate`: where input comes from and how
/// it is translated.
#[derive(Debug, Args)]
pub struct MappingArgs {
    /// Input: files, folders (every file below, in path order),
    /// s3://BUCKET/PREFIX or gs://BUCKET/PREFIX (every object below, in key
    /// order, read in place) or - for standard input. No PATH reads standard
    /// input. Files, folders and objects are read once first for each user's
    /// company (group calls, company traits), so an event gets its user's
    /// company as of its time even when the group call comes later; with
    /// standard input among them, only earlier lines count. Object-store
    /// credentials come from where the clouds' own tools look. s3://: the
    /// AWS CLI's chain - AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_SESSION_TOKEN; AWS_PROFILE with ~/.aws/credentials and
    /// ~/.aws/config (SSO, assume-role, credential_process); AWS_ROLE_ARN
    /// with AWS_WEB_IDENTITY_TOKEN_FILE; container and instance roles - with
    /// AWS_REGION and AWS_ENDPOINT_URL (S3-compatible stores). gs://:
    /// GOOGLE_APPLICATION_CREDENTIALS, application default credentials or
    /// the machine's service account; STORAGE_EMULATOR_HOST for an emulator.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Planhat API access token; with it, identify and group also update
    /// end-user and company profiles.
    #[arg(
        long,
        env = "PLANHAT_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: Option<String>,

    /// Read the API access token from a file.
    #[arg(
        long,
        env = "PLANHAT_API_TOKEN_FILE",
        value_name = "PATH",
        conflicts_with = "api_token"
    )]
    pub api_token_file: Option<PathBuf>,

    /// The `source` written on every item; an empty label omits it [default: the
    /// mapping file's source_label, else Segment].
    #[arg(long, env = "PLANHAT_SOURCE_LABEL", value_name = "TEXT")]
    pub source_label: Option<String>,

    /// A mapping file (TOML): event actions, weights and drops, trait → field
    /// mappings, and metrics from events ("The mapping file" in the
    /// documentation shows one).
    #[arg(long, env = "PLANHAT_MAP", value_name = "PATH")]
    pub map: Option<PathBuf>,

    /// Hand each message to Planhat's own Segment receiver
    /// (https://<SUBDOMAIN>.planhat.com/dock/segment) instead of translating it.
    #[arg(long, env = "PLANHAT_RECEIVER")]
    pub receiver: bool,

    /// Attribute anonymous messages (no userId or email, only an anonymousId) to
    /// the user a message with both ids, or an alias, links that anonymousId
    /// to. Input files are read twice, so a link found anywhere in them counts;
    /// standard input is read once, so there only links from earlier lines apply.
    #[arg(long, env = "PLANHAT_STITCH")]
    pub stitch: bool,

    /// Keep only shard K of N (K from 0), split by a stable hash of each user's
    /// identity (a group call's by its groupId), to run N processes side by
    /// side. Every shard learns every user's company and link.
    #[arg(long, env = "PLANHAT_SHARD", value_name = "K/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,

    /// Send messages even when their `integrations` object turns Planhat off.
    #[arg(long, env = "PLANHAT_IGNORE_INTEGRATIONS")]
    pub ignore_integrations: bool,

    /// Skip a message whose messageId is among the last N distinct ones; 0 turns
    /// deduplication off.
    #[arg(
        long,
        env = "PLANHAT_DEDUPE_WINDOW",
        default_value_t = 1_000_000,
        value_name = "N"
    )]
    pub dedupe_window: usize,

    /// Keep only these message types (comma-separated).
    #[arg(
        long,
        env = "PLANHAT_TYPES",
        value_delimiter = ',',
        value_name = "TYPE,..."
    )]
    pub types: Vec<MessageType>,

    /// Keep only events at or after this time (RFC 3339 or a date, UTC when no
    /// zone is given).
    #[arg(long, env = "PLANHAT_SINCE", value_name = "TIME")]
    pub since: Option<String>,

    /// Keep only events before this time.
    #[arg(long, env = "PLANHAT_UNTIL", value_name = "TIME")]
    pub until: Option<String>,

    /// Longest line read, in bytes; a longer line is rejected line_too_long
    /// without being held in memory.
    #[arg(
        long,
        env = "PLANHAT_MAX_LINE_BYTES",
        default_value_t = 1_048_576,
        value_name = "BYTES",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_line_bytes: u64,
}

/// Where and as whom `send` delivers; `validate` sends nothing and has none
/// of these.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Planhat tenant token (needed to send activities).
    #[arg(
        long,
        env = "PLANHAT_TENANT_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub tenant_token: Option<String>,

    /// Read the tenant token from a file.
    #[arg(
        long,
        env = "PLANHAT_TENANT_TOKEN_FILE",
        value_name = "PATH",
        conflicts_with = "tenant_token"
    )]
    pub tenant_token_file: Option<PathBuf>,

    /// Main API host label: https://<SUBDOMAIN>.planhat.com (api-eu, api-us2, ... for
    /// other clusters).
    #[arg(
        long,
        env = "PLANHAT_SUBDOMAIN",
        default_value = "api",
        value_name = "LABEL"
    )]
    pub subdomain: String,

    /// Base URL of the main API, replacing the one built from --subdomain.
    #[arg(long, env = "PLANHAT_API_URL", value_name = "URL")]
    pub api_url: Option<String>,

    /// Base URL of the analytics API [default: https://analytics.planhat.com].
    #[arg(long, env = "PLANHAT_ANALYTICS_URL", value_name = "URL")]
    pub analytics_url: Option<String>,
}

/// A Segment message type, for --types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageType {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
    Delete,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Print the requests that would be sent, one JSON object per line, and send
    /// nothing. Needs no token.
    #[arg(long, env = "PLANHAT_DRY_RUN")]
    pub dry_run: bool,

    /// Indent --dry-run output.
    #[arg(long, env = "PLANHAT_PRETTY", requires = "dry_run")]
    pub pretty: bool,

    /// Items per activity or metric request, at most; the default leaves it to
    /// --max-body-bytes. Upsert requests hold at most 5000.
    #[arg(long, env = "PLANHAT_BATCH_SIZE", default_value_t = 50_000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,

    /// Bytes per request body, at most (Planhat's hard limit is 32 MB, about
    /// 150,000 events): activity and metric requests are filled to it.
    #[arg(long, env = "PLANHAT_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024,
          value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_body_bytes: u64,

    /// Send a batch once its oldest event has waited this long (e.g. 2s, 500ms).
    #[arg(long, env = "PLANHAT_FLUSH_INTERVAL", default_value = "2s", value_name = "DURATION",
          value_parser = parse_duration)]
    pub flush_interval: Duration,

    /// Append rejected and failed messages to this file (created only when needed).
    #[arg(
        long,
        env = "PLANHAT_FAILED",
        default_value = "planhat-failed.ndjson",
        value_name = "PATH"
    )]
    pub failed: PathBuf,

    /// Record progress here after each delivered request, and what the run
    /// learned beside it (PATH.memory) when it ends, so that a rerun over the
    /// same, grown export reads only what is new: sources it covers in full are
    /// not read, a file that only grew is read from where it ended, the same
    /// stdin stream resumes. One run at a time holds it; the --failed file is
    /// cut back to the length it records. A rerun with other --map, --stitch,
    /// --types, --since, --until, --ignore-integrations, --dedupe-window,
    /// --receiver, --shard or API token is refused (--restart starts over).
    #[arg(long, env = "PLANHAT_CHECKPOINT", value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,

    /// With --checkpoint: start over, reading and sending everything, even
    /// though inputs or options changed since it was written, or an older
    /// version wrote it.
    #[arg(long, env = "PLANHAT_RESTART", requires = "checkpoint")]
    pub restart: bool,

    /// Retries of a request after a 408, 429, 500, 502, 503, 504 or transport error.
    #[arg(
        long,
        env = "PLANHAT_MAX_RETRIES",
        default_value_t = 8,
        value_name = "N"
    )]
    pub max_retries: u32,

    /// Timeout of each request (e.g. 30s).
    #[arg(long, env = "PLANHAT_TIMEOUT", default_value = "30s", value_name = "DURATION",
          value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Requests in any minute to the main API (/endusers, /companies, /dock/segment),
    /// and at most 50 in any second; Planhat's soft quota is 200 a minute.
    #[arg(long, env = "PLANHAT_API_RATE", default_value_t = 180, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub api_rate: u32,

    /// When to draw the progress bar on stderr.
    #[arg(long, env = "PLANHAT_PROGRESS", value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// Print only errors on stderr.
    #[arg(short, long, env = "PLANHAT_QUIET")]
    pub quiet: bool,

    /// Also write the final summary as JSON to this file.
    #[arg(long, env = "PLANHAT_SUMMARY_JSON", value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Print the report as one JSON object.
    #[arg(long, env = "PLANHAT_JSON")]
    pub json: bool,

    /// Report what a rerun of send with this checkpoint would read and send:
    /// the sources new or grown since its last run, and the usual counts for
    /// their lines. Reads the checkpoint and its memory; writes nothing.
    #[arg(long, env = "PLANHAT_CHECKPOINT", value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
}

/// When to draw the progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// When stderr is a terminal.
    Auto,
    Always,
    Never,
}

/// A request timeout: a duration above zero (with none, every request would
/// fail at once).
fn parse_timeout(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err("a timeout of 0 lets no request finish; try 30s".into()),
        timeout => Ok(timeout),
    }
}

/// A duration: a number with `ms`, `s`, `m` or `h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; try 2s, 500ms or 1m"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit {other:?}; use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("{text:?}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn durations_take_units_and_bare_seconds() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }
}
