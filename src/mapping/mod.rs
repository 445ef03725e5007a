//! Translation of Segment messages into Planhat items (SPEC §5): the checks
//! of §5.5 in their fixed order, then one item per message for the route its
//! type and the token mode call for.
//!
//! Pure: no I/O, no clock, no environment. The only state is the dedupe
//! window, the user → company memory and the anonymousId → userId links,
//! which a run builds up message by message.

pub mod checks;
pub mod identity;
pub mod ids;
pub mod metrics;
pub mod profile;
pub mod rules;
pub mod stitch;

use crate::segment::json::Value;

use crate::planhat::items::{Activity, Forward, Info, Item, Who};
use crate::segment::lookup::text;
use crate::segment::time::{BadTimestamp, EventTime, message_time};
use crate::segment::{Kind, Message};
use checks::{DedupeWindow, Filters, Shard};
use identity::CompanyMemory;
use rules::{EventRule, Rules};
use stitch::{Stitch, Stitching};

/// How messages are translated; resolved once from the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Whether an API token is set: identify and group then update profiles.
    pub profiles: bool,
    /// The `source` written on every item; `None` omits it.
    pub source_label: Option<String>,
    /// Skip the `integrations` check.
    pub ignore_integrations: bool,
    /// How many distinct messageIds the dedupe window holds; 0 is off.
    pub dedupe_window: usize,
    pub filters: Filters,
    /// The mapping file's rules (SPEC §11); empty without `--map`.
    pub rules: Rules,
    /// Hand messages to Planhat's Segment receiver (SPEC §5.6).
    pub receiver: bool,
    /// Keep only this shard's messages (SPEC §10).
    pub shard: Option<Shard>,
    /// What anonymousId → userId links are kept for (SPEC §5.7).
    pub stitch: Stitch,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            profiles: false,
            source_label: Some("Segment".into()),
            ignore_integrations: false,
            dedupe_window: 1_000_000,
            filters: Filters::default(),
            rules: Rules::default(),
            receiver: false,
            shard: None,
            stitch: Stitch::Off,
        }
    }
}

/// Why a message is not sent, by policy: these do not affect the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    Duplicate,
    UnsupportedType,
    DisabledByIntegrations,
    Filtered,
    /// Neither externalId nor email, only an anonymousId (SPEC §5.1).
    Anonymous,
    GroupAssociation,
    /// A batch envelope with no messages (SPEC §3).
    EmptyBatch,
}

/// Why a message cannot be sent: these make the exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reject {
    /// The line is not JSON.
    InvalidJson,
    /// The line is JSON but not an object.
    NotAnObject,
    /// The input could not be read past this point (a corrupt gzip stream).
    Unreadable,
    /// The line is longer than `--max-line-bytes` (SPEC §3).
    LineTooLong,
    UnknownType,
    NoIdentity,
    NoGroupId,
    BadTimestamp,
    NoEvent,
}

impl Skip {
    /// The reason's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Skip::Duplicate => "duplicate",
            Skip::UnsupportedType => "unsupported_type",
            Skip::DisabledByIntegrations => "disabled_by_integrations",
            Skip::Filtered => "filtered",
            Skip::Anonymous => "anonymous",
            Skip::GroupAssociation => "group_association",
            Skip::EmptyBatch => "empty_batch",
        }
    }

    /// Whether reports list examples of it: not for duplicates and filters,
    /// which are expected in bulk (SPEC §5.5).
    pub fn listed(self) -> bool {
        !matches!(self, Skip::Duplicate | Skip::Filtered)
    }
}

impl Reject {
    /// The reason's name in reports and in the failed file.
    pub fn name(self) -> &'static str {
        match self {
            Reject::InvalidJson => "invalid_json",
            Reject::NotAnObject => "not_an_object",
            Reject::Unreadable => "unreadable",
            Reject::LineTooLong => "line_too_long",
            Reject::UnknownType => "unknown_type",
            Reject::NoIdentity => "no_identity",
            Reject::NoGroupId => "no_group_id",
            Reject::BadTimestamp => "bad_timestamp",
            Reject::NoEvent => "no_event",
        }
    }
}

/// What became of one message.
// Built and consumed once per message on the stack; boxing the item would
// cost an allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<'m> {
    Send(Item<'m>),
    Skip(Skip),
    Reject(Reject, String),
    /// Another shard's message (`--shard`): not this run's to count or send.
    OtherShard,
}

/// A message's outcome with the facts reports count.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped<'m> {
    pub outcome: Outcome<'m>,
    /// The event time, when it has a usable one.
    pub time: Option<EventTime>,
}

/// How many messages each mapping-file rule applied to, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleHits {
    pub events: Vec<u64>,
    pub identify: Vec<u64>,
    pub group: Vec<u64>,
}

/// Translates messages one at a time, in input order.
#[derive(Debug)]
pub struct Mapper {
    options: Options,
    dedupe: DedupeWindow,
    memory: CompanyMemory,
    stitching: Stitching,
    hits: RuleHits,
}

impl Mapper {
    pub fn new(options: Options) -> Mapper {
        let rules = &options.rules;
        Mapper {
            dedupe: DedupeWindow::new(options.dedupe_window),
            memory: CompanyMemory::default(),
            stitching: Stitching::new(options.stitch),
            hits: RuleHits {
                events: vec![0; rules.events.len()],
                identify: vec![0; rules.identify.len()],
                group: vec![0; rules.group.len()],
            },
            options,
        }
    }

    /// Whether a line that is not a message belongs to this shard: one shard
    /// only reports it, the one its text hashes to.
    pub fn owns_unparsed(&self, line: &[u8]) -> bool {
        self.options.shard.is_none_or(|shard| shard.owns(line))
    }

    /// The shard this mapper keeps, if any.
    pub fn shard(&self) -> Option<Shard> {
        self.options.shard
    }

    /// Whether anonymous messages are attributed through links (`--stitch`):
    /// then the input files are read for links first, with [`Mapper::learn`].
    pub fn stitches(&self) -> bool {
        self.stitching.is_on()
    }

    /// Learns the anonymousId → userId links a message carries (SPEC §5.7),
    /// when links are kept. [`Mapper::map`] does this itself; stitching's
    /// first pass over the input files calls only this.
    pub fn learn(&mut self, message: &Message) {
        self.stitching.learn(message);
    }

    /// How many `anonymous` skips so far `--stitch` would attribute; only
    /// when estimating (`validate` without `--stitch`).
    pub fn would_stitch(&self) -> Option<u64> {
        self.stitching.would_attribute()
    }

    /// The mapping file's rules and how often each applied so far.
    pub fn rule_hits(&self) -> (&Rules, &RuleHits) {
        (&self.options.rules, &self.hits)
    }

    /// Decides and builds what `message` becomes. The checks run in SPEC
    /// §5.5's order and the first that applies decides.
    pub fn map<'m>(&'m mut self, message: &'m Message<'m>) -> Mapped<'m> {
        // Every parsed message links, whatever its outcome or shard.
        self.stitching.learn(message);
        let links = self.stitching.applied();
        if let Some(shard) = self.options.shard
            && !shard.owns(
                identity::shard_key(message, links)
                    .unwrap_or_default()
                    .as_bytes(),
            )
        {
            return Mapped {
                outcome: Outcome::OtherShard,
                time: None,
            };
        }
        let time = message_time(&message.fields);
        let usable_time = time.as_ref().ok().copied().flatten();
        let outcome = self.decide(message, time);
        Mapped {
            outcome,
            time: usable_time,
        }
    }

    fn decide<'m>(
        &'m mut self,
        message: &'m Message,
        time: Result<Option<EventTime>, BadTimestamp>,
    ) -> Outcome<'m> {
        let Mapper {
            options,
            dedupe,
            memory,
            stitching,
            hits,
        } = self;
        if let Some(id) = message.message_id()
            && dedupe.is_repeat(&id)
        {
            return Outcome::Skip(Skip::Duplicate);
        }
        let kind = match &message.kind {
            Ok(kind) => *kind,
            Err(text) if text.is_empty() => {
                return Outcome::Reject(Reject::UnknownType, "no \"type\" field".into());
            }
            Err(text) => {
                return Outcome::Reject(Reject::UnknownType, format!("unknown type {text:?}"));
            }
        };
        if matches!(kind, Kind::Alias | Kind::Delete) {
            return Outcome::Skip(Skip::UnsupportedType);
        }
        if !options.ignore_integrations && !checks::planhat_enabled(message) {
            return Outcome::Skip(Skip::DisabledByIntegrations);
        }
        let action = rule_name(kind, message);
        let rule = action.as_deref().and_then(|name| options.rules.event(name));
        if let Some((index, rule)) = rule {
            hits.events[index] += 1;
            if rule.drop {
                return Outcome::Skip(Skip::Filtered);
            }
        }
        let rule = rule.map(|(_, rule)| rule);
        let known_time = time.as_ref().ok().copied().flatten();
        if options.filters.excludes(kind, known_time) {
            return Outcome::Skip(Skip::Filtered);
        }
        let source = options.source_label.as_deref();
        if kind == Kind::Group {
            return group(memory, options, &mut hits.group, message);
        }
        let who = identity::resolve(message, memory, stitching.applied());
        let Some(user) = identity::user_key(&who) else {
            let Some(anonymous) = identity::anonymous_id(message) else {
                return Outcome::Reject(
                    Reject::NoIdentity,
                    "no userId, user id trait, email or anonymousId to tell who this is".into(),
                );
            };
            stitching.skipped(&anonymous);
            return Outcome::Skip(Skip::Anonymous);
        };
        if kind == Kind::Identify {
            if let Some(company) = identity::traits_company(message.traits()) {
                memory.learn(user, &company);
            }
            if options.profiles && !options.receiver {
                let rules = &options.rules.identify;
                let user =
                    profile::end_user(who, message.traits(), source, rules, &mut hits.identify);
                return Outcome::Send(Item::EndUser(user));
            }
        }
        let date = match time {
            Ok(date) => date,
            Err(bad) => return Outcome::Reject(Reject::BadTimestamp, bad.to_string()),
        };
        if kind == Kind::Track && action.is_none() {
            return Outcome::Reject(Reject::NoEvent, "track has no \"event\" name".into());
        }
        if options.receiver {
            let renamed = rule.and_then(|rule| rule.action.clone());
            let event = match kind {
                Kind::Track => renamed,
                _ => renamed.or(action),
            };
            return Outcome::Send(Item::Receiver(Forward {
                message,
                kind,
                user_id: who.external_id,
                company: who.company,
                event,
            }));
        }
        Outcome::Send(Item::Activity(activity(
            kind, message, who, date, source, action, rule,
        )))
    }
}

/// A group call teaches the memory, and with an API token upserts the
/// company (SPEC §5.4).
fn group<'m>(
    memory: &mut CompanyMemory,
    options: &'m Options,
    hits: &mut [u64],
    message: &'m Message,
) -> Outcome<'m> {
    let Some(group_id) = crate::segment::lookup::id_text(message.get("groupId")) else {
        return Outcome::Reject(Reject::NoGroupId, "group has no \"groupId\"".into());
    };
    if let Some(user) = crate::segment::lookup::id_text(message.get("userId")) {
        memory.learn(&user, &group_id);
    }
    if options.receiver {
        return Outcome::Send(Item::Receiver(Forward {
            message,
            kind: Kind::Group,
            user_id: crate::segment::lookup::id_text(message.get("userId")),
            company: Some(group_id),
            event: None,
        }));
    }
    if !options.profiles {
        return Outcome::Skip(Skip::GroupAssociation);
    }
    let source = options.source_label.as_deref();
    let item = profile::company(
        group_id,
        message.traits(),
        source,
        &options.rules.group,
        hits,
    );
    Outcome::Send(Item::Company(item))
}

/// The activity item for a track, page or screen (with its action, which a
/// mapping-file rule may replace and weigh), or for an identify sent without
/// an API token (identity fields only).
fn activity<'m>(
    kind: Kind,
    message: &'m Message,
    who: Who,
    date: Option<EventTime>,
    source: Option<&'m str>,
    action: Option<String>,
    rule: Option<&'m EventRule>,
) -> Activity<'m> {
    let info = match kind {
        Kind::Track => Some(Info {
            properties: message.object("properties"),
            overrides: Vec::new(),
            fallbacks: Vec::new(),
        }),
        Kind::Page | Kind::Screen => Some(view_info(message)),
        _ => None,
    };
    let renamed = rule.and_then(|rule| rule.action.clone());
    Activity {
        who,
        action: renamed.or(action),
        date,
        info,
        source,
        weight: rule.and_then(|rule| rule.weight.as_ref()),
    }
}

/// The name the mapping file's `[events]` and `[metrics]` keys match: a
/// track's event, a view's action (SPEC §11).
pub(crate) fn rule_name(kind: Kind, message: &Message) -> Option<String> {
    match kind {
        Kind::Track => text(message.get("event")).map(str::to_owned),
        Kind::Page | Kind::Screen => Some(view_action(kind, message)),
        _ => None,
    }
}

/// `Viewed <fullName> Page` (fullName = category + " " + name when both
/// exist, else name) or `Loaded a Page`; `Viewed <name> Screen` or
/// `Loaded a Screen` (SPEC §5.2, as facade names them).
fn view_action(kind: Kind, message: &Message) -> String {
    let name = text(message.get("name"));
    let category = text(message.get("category"));
    match (kind, name, category) {
        (Kind::Page, Some(name), Some(category)) => format!("Viewed {category} {name} Page"),
        (Kind::Page, Some(name), None) => format!("Viewed {name} Page"),
        (Kind::Page, None, _) => "Loaded a Page".into(),
        (_, Some(name), _) => format!("Viewed {name} Screen"),
        (_, None, _) => "Loaded a Screen".into(),
    }
}

/// A view's info: its properties, the message's `name` and `category` over
/// them, and `context.page`'s url, path, title, referrer and search where
/// the properties lack them.
fn given<'o, 'a>(value: Option<&'o Value<'a>>) -> Option<&'o Value<'a>> {
    value.filter(|v| crate::segment::lookup::is_given(v))
}

fn view_info<'m>(message: &'m Message<'m>) -> Info<'m> {
    let overrides = ["name", "category"]
        .into_iter()
        .filter_map(|key| Some((key, given(message.get(key))?)))
        .collect();
    let page = message.context("page").and_then(Value::as_object);
    let fallbacks = ["url", "path", "title", "referrer", "search"]
        .into_iter()
        .filter_map(|key| Some((key, given(page?.get(key))?)))
        .collect();
    Info {
        properties: message.object("properties"),
        overrides,
        fallbacks,
    }
}

#[cfg(test)]
mod tests;
