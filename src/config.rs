//! Settings resolved once (SPEC §4): command-line arguments and their
//! environment twins become a `Config`. Tokens are read from files here,
//! URLs and the subdomain are checked here, and the terminal questions
//! (is stdin a terminal? draw a progress bar?) are answered here, so nothing
//! after this looks at the environment.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::base_url;
use crate::cli::{
    self, ConnectionArgs, MappingArgs, MessageType, ProgressMode, SendArgs, ValidateArgs,
};
use crate::error::Usage;
use crate::input::{self, Source};
use crate::mapping::rules::Rules;
use crate::mapping::stitch::Stitch;
use crate::mapping::{self, checks::Filters};
use crate::planhat::{Endpoints, Limits};
use crate::segment::Kind;
use crate::segment::time::EventTime;

/// A token. Its `Debug` never shows the value, so it cannot leak through a
/// log line or an error.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// One of the options that decide what a message teaches (SPEC §6.1), as
/// the saved memory records it: its name and its value in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Setting {
    pub name: String,
    pub value: String,
}

/// What to do.
#[derive(Debug)]
pub enum Config {
    Send(SendConfig),
    Validate(ValidateConfig),
    Completions(clap_complete::Shell),
}

/// Settings shared by `send` and `validate`. `validate` sends nothing: it
/// has no tenant token, and its endpoints are Planhat's defaults, unused.
#[derive(Debug)]
pub struct Common {
    pub sources: Vec<Source>,
    pub mapping: mapping::Options,
    pub endpoints: Endpoints,
    pub tenant_token: Option<Secret>,
    pub api_token: Option<Secret>,
    /// Lines longer than this are rejected unread (SPEC §3).
    pub max_line_bytes: usize,
    /// The options a saved memory depends on (SPEC §6.1).
    pub taught_by: Vec<Setting>,
}

#[derive(Debug)]
pub struct SendConfig {
    pub common: Common,
    pub dry_run: bool,
    pub pretty: bool,
    pub limits: Limits,
    pub flush_interval: Duration,
    pub failed: PathBuf,
    pub checkpoint: Option<PathBuf>,
    pub restart: bool,
    pub max_retries: u32,
    pub timeout: Duration,
    /// Main-API requests per minute.
    pub api_rate: u32,
    /// Draw the progress bar (else a status line every 10 s on stderr).
    pub progress: bool,
    pub quiet: bool,
    pub summary_json: Option<PathBuf>,
}

#[derive(Debug)]
pub struct ValidateConfig {
    pub common: Common,
    pub json: bool,
    /// Report what a rerun with this checkpoint would read (SPEC §6.1).
    pub checkpoint: Option<PathBuf>,
    /// Draw the progress bar: stderr is a terminal.
    pub progress: bool,
}

/// Resolves the parsed command line.
pub fn resolve(cli: cli::Cli) -> Result<Config> {
    Ok(match cli.command {
        cli::Command::Send(args) => Config::Send(send(*args)?),
        cli::Command::Validate(args) => Config::Validate(validate(*args)?),
        cli::Command::Completions { shell } => Config::Completions(shell),
    })
}

fn send(args: SendArgs) -> Result<SendConfig> {
    let mut common = common(args.mapping, Some(args.connection))?;
    input::set_object_retries(&mut common.sources, args.max_retries);
    if !args.dry_run && common.tenant_token.is_none() {
        return Err(Usage(
            "sending needs a tenant token: pass --tenant-token-file PATH, --tenant-token TOKEN, \
             or set PLANHAT_TENANT_TOKEN_FILE or PLANHAT_TENANT_TOKEN (or add --dry-run to see \
             the requests without sending)"
                .into(),
        )
        .into());
    }
    if !args.dry_run {
        refuse_failed_file_as_input(&args.failed, &common.sources)?;
        writable("--failed", &args.failed, false)?;
        if let Some(checkpoint) = &args.checkpoint {
            writable("--checkpoint", checkpoint, true)?;
        }
    }
    let progress = match args.progress {
        ProgressMode::Always => true,
        ProgressMode::Never => false,
        ProgressMode::Auto => !args.quiet && std::io::stderr().is_terminal(),
    };
    Ok(SendConfig {
        common,
        dry_run: args.dry_run,
        pretty: args.pretty,
        limits: Limits {
            batch_size: args.batch_size as usize,
            max_body_bytes: usize::try_from(args.max_body_bytes).unwrap_or(usize::MAX),
        },
        flush_interval: args.flush_interval,
        failed: args.failed,
        checkpoint: args.checkpoint,
        restart: args.restart,
        max_retries: args.max_retries,
        timeout: args.timeout,
        api_rate: args.api_rate,
        progress,
        quiet: args.quiet,
        summary_json: args.summary_json,
    })
}

fn validate(args: ValidateArgs) -> Result<ValidateConfig> {
    let mut common = common(args.mapping, None)?;
    // Without --stitch, validate keeps links anyway, to tell users how many
    // anonymous messages --stitch would attribute (SPEC §5.7).
    if common.mapping.stitch == Stitch::Off {
        common.mapping.stitch = Stitch::Estimate {
            later_links: !common.sources.contains(&Source::Stdin),
        };
    }
    Ok(ValidateConfig {
        common,
        json: args.json,
        checkpoint: args.checkpoint,
        progress: std::io::stderr().is_terminal(),
    })
}

fn common(args: MappingArgs, connection: Option<ConnectionArgs>) -> Result<Common> {
    let (tenant_token, endpoints) = match connection {
        Some(connection) => (
            token(
                connection.tenant_token,
                connection.tenant_token_file.as_deref(),
                "tenant",
            )?,
            endpoints(
                &connection.subdomain,
                connection.api_url,
                connection.analytics_url,
            )?,
        ),
        None => (None, endpoints("api", None, None)?),
    };
    let api_token = token(args.api_token, args.api_token_file.as_deref(), "API")?;
    let filters = Filters {
        types: (!args.types.is_empty()).then(|| args.types.iter().map(|t| kind(*t)).collect()),
        since: time_flag("--since", args.since.as_deref())?,
        until: time_flag("--until", args.until.as_deref())?,
    };
    if let (Some(since), Some(until)) = (filters.since, filters.until)
        && since >= until
    {
        bail!(Usage(format!(
            "--since {} is not before --until {}: no event could be kept",
            args.since.unwrap_or_default(),
            args.until.unwrap_or_default()
        )));
    }
    let (rules, map_digest) = match &args.map {
        Some(path) => {
            let (rules, digest) = rules(path)?;
            (rules, Some(digest))
        }
        None => (Rules::default(), None),
    };
    let source_label = args
        .source_label
        .clone()
        .or_else(|| rules.source_label.clone())
        .unwrap_or_else(|| "Segment".into());
    let mapping = mapping::Options {
        profiles: api_token.is_some(),
        source_label: Some(source_label).filter(|label| !label.is_empty()),
        rules,
        receiver: args.receiver,
        shard: args.shard,
        stitch: if args.stitch { Stitch::On } else { Stitch::Off },
        ignore_integrations: args.ignore_integrations,
        dedupe_window: args.dedupe_window,
        filters,
    };
    let taught_by = taught_by(&mapping, map_digest);
    let sources = input::resolve(&args.paths)?;
    if sources.contains(&Source::Stdin) && std::io::stdin().is_terminal() {
        return Err(Usage(
            "no input: standard input is a terminal. Pipe Segment NDJSON in \
             (zcat -f logs/*.gz | segment-planhat ...) or pass files or folders"
                .into(),
        )
        .into());
    }
    Ok(Common {
        sources,
        mapping,
        endpoints,
        tenant_token,
        api_token,
        // Saturates on 32-bit targets, where no line could be longer anyway.
        max_line_bytes: usize::try_from(args.max_line_bytes).unwrap_or(usize::MAX),
        taught_by,
    })
}

/// The options that decide what a message teaches (SPEC §6.1), in words.
/// The mapping file counts by its content, not its path; tokens and URLs
/// do not count, nor does anything that changes only how requests go.
fn taught_by(mapping: &mapping::Options, map: Option<u64>) -> Vec<Setting> {
    let on = |flag: bool| if flag { "on" } else { "off" }.to_owned();
    let time = |time: Option<EventTime>| time.map_or_else(|| "none".into(), |t| t.to_string());
    let types = match &mapping.filters.types {
        None => "all".to_owned(),
        Some(types) => {
            let mut names: Vec<&str> = types.iter().map(|kind| kind.name()).collect();
            names.sort_unstable();
            names.dedup();
            names.join(",")
        }
    };
    [
        (
            "--map",
            map.map_or_else(
                || "none".into(),
                |digest| format!("a mapping file with content {digest:016x}"),
            ),
        ),
        ("--stitch", on(mapping.stitch == Stitch::On)),
        ("--types", types),
        ("--since", time(mapping.filters.since)),
        ("--until", time(mapping.filters.until)),
        ("--ignore-integrations", on(mapping.ignore_integrations)),
        ("--dedupe-window", mapping.dedupe_window.to_string()),
        ("--receiver", on(mapping.receiver)),
        (
            "--shard",
            mapping
                .shard
                .map_or_else(|| "none".into(), |s| format!("{}/{}", s.index, s.count)),
        ),
        (
            "an API token",
            if mapping.profiles { "given" } else { "none" }.into(),
        ),
    ]
    .into_iter()
    .map(|(name, value)| Setting {
        name: name.into(),
        value,
    })
    .collect()
}

/// Reads and checks the mapping file, before any input is read; returns
/// its rules and a hash of its content.
fn rules(path: &Path) -> Result<(Rules, u64)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the mapping file {}", path.display()))?;
    let rules =
        Rules::parse(&text).map_err(|error| Usage(format!("{}:{error}", path.display())))?;
    Ok((rules, crate::fnv::fnv1a64(text.as_bytes())))
}

fn kind(message_type: MessageType) -> Kind {
    match message_type {
        MessageType::Identify => Kind::Identify,
        MessageType::Track => Kind::Track,
        MessageType::Page => Kind::Page,
        MessageType::Screen => Kind::Screen,
        MessageType::Group => Kind::Group,
        MessageType::Alias => Kind::Alias,
        MessageType::Delete => Kind::Delete,
    }
}

fn time_flag(flag: &str, value: Option<&str>) -> Result<Option<EventTime>> {
    let Some(value) = value else { return Ok(None) };
    match EventTime::parse_str(value) {
        Some(time) => Ok(Some(time)),
        None => Err(Usage(format!(
            "{flag} {value:?} is not a time; use RFC 3339 (2024-03-01T12:00:00Z) or a date (2024-03-01)"
        ))
        .into()),
    }
}

/// A token from its option (or environment twin) or its file. The file's
/// surrounding whitespace, such as a final newline, is not part of it.
fn token(value: Option<String>, file: Option<&Path>, which: &str) -> Result<Option<Secret>> {
    let flag = if which == "tenant" {
        "tenant-token"
    } else {
        "api-token"
    };
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the {which} token file {}", path.display()))?;
        let text = text.trim();
        if text.is_empty() {
            bail!(Usage(format!(
                "the {which} token file {} is empty",
                path.display()
            )));
        }
        return Ok(Some(Secret(text.to_owned())));
    }
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() => Err(Usage(format!(
            "the {which} token is empty (--{flag} or PLANHAT_{}_TOKEN)",
            which.to_uppercase()
        ))
        .into()),
        other => Ok(other.map(Secret)),
    }
}

fn endpoints(
    subdomain: &str,
    api_url: Option<String>,
    analytics_url: Option<String>,
) -> Result<Endpoints> {
    let api = match api_url {
        Some(url) => base_url::check("--api-url", &url)?,
        None => {
            let valid = !subdomain.is_empty()
                && subdomain
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                bail!(Usage(format!(
                    "--subdomain {subdomain:?} is not a host label: use lower-case letters, digits \
                     and '-' only (api, api-eu, api-us2, ...)"
                )));
            }
            // The web app's address is the one people see, and the easy
            // mistake: app-eu.planhat.com serves the app, api-eu the API.
            if let Some(cluster) = subdomain.strip_prefix("app")
                && (cluster.is_empty() || cluster.starts_with('-'))
            {
                bail!(Usage(format!(
                    "--subdomain {subdomain} is Planhat's web app, not its API; \
                     use --subdomain api{cluster}"
                )));
            }
            format!("https://{subdomain}.planhat.com")
        }
    };
    let analytics = match analytics_url {
        Some(url) => base_url::check("--analytics-url", &url)?,
        None => "https://analytics.planhat.com".into(),
    };
    Ok(Endpoints { analytics, api })
}

/// Fails unless `path` can be written, so that a wrong `--failed` or
/// `--checkpoint` is found before anything is sent rather than after. An
/// existing file that is appended to is opened for appending and left as it
/// is; otherwise a file beside it is created and removed: the failed file is
/// created only when needed, and a `replaced` file (the checkpoint, written
/// beside and renamed) needs its folder writable.
fn writable(flag: &str, path: &Path, replaced: bool) -> Result<()> {
    let tried = if path.exists() && !replaced {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
    } else {
        let mut probe = path.as_os_str().to_owned();
        probe.push(format!(".probe-{}", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|_| std::fs::remove_file(&probe))
    };
    tried.map_err(|error| {
        Usage(format!(
            "{flag} {}: cannot write there ({error}); pass a path in a folder you can write to",
            path.display()
        ))
        .into()
    })
}

/// The failed file is appended to while input is read; reading it at the
/// same time would feed the run its own output.
fn refuse_failed_file_as_input(failed: &Path, sources: &[Source]) -> Result<()> {
    let Ok(failed_path) = failed.canonicalize() else {
        return Ok(());
    };
    for source in sources {
        if let Source::File { path, .. } = source
            && path.canonicalize().is_ok_and(|p| p == failed_path)
        {
            bail!(Usage(format!(
                "{} is both an input and the failed file; move it aside first (mv {0} retry.ndjson) \
                 or pass --failed with another path",
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_must_be_a_host_label() {
        let api = |s| endpoints(s, None, None).map(|e| e.api);
        assert_eq!(api("api-eu").unwrap(), "https://api-eu.planhat.com");
        for bad in [
            "API",
            "api.evil.com",
            "",
            "api/x",
            "api eu",
            "app",
            "app-eu",
        ] {
            assert!(api(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let secret = Secret("tok-123".into());
        assert!(!format!("{secret:?}").contains("tok-123"));
    }
}
