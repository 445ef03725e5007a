//! Translation of Segment messages into Planhat items (SPEC §5): the checks
//! of §5.5 in their fixed order, then one item per message for the route its
//! type and the token mode call for.
//!
//! Pure: no I/O, no clock, no environment. The only state is the dedupe
//! window, the user → company associations and the anonymousId → userId
//! links, which a run builds up message by message, or for the
//! associations and links in a first pass over the whole input.

pub mod checks;
pub mod companies;
pub mod dedupe;
pub mod identity;
pub mod ids;
pub mod memory;
pub mod metrics;
mod outcome;
pub mod profile;
mod routes;
pub mod rules;
pub mod stitch;

use crate::planhat::items::{Company, Forward, Item};
use crate::segment::lookup::id_text;
use crate::segment::time::{BadTimestamp, EventTime, message_time};
use crate::segment::{Kind, Message};
use checks::{Filters, Shard};
use companies::{Association, Associations, FirstGroups};
use dedupe::{Ahead, DedupeWindow};
pub use outcome::{Mapped, Outcome, Reject, Skip};
pub(crate) use routes::rule_name;
use routes::{activity, announce, group};
use rules::Rules;
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

/// What mapping a message may learn from it (SPEC §6.1): a line that the
/// saved memory knows is not learned twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lessons {
    /// Everything: a line no run has mapped.
    All,
    /// All but its user → company association, which a first pass taught
    /// already (a run stopped before it mapped the line).
    AllButAssociations,
    /// Nothing: a line the memory knows, mapped again only to send what it
    /// still owes (Ctrl-C left it waiting).
    None,
}

/// How many messages each mapping-file rule applied to, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleHits {
    pub events: Vec<u64>,
    pub identify: Vec<u64>,
    pub group: Vec<u64>,
}

impl RuleHits {
    fn new(rules: &Rules) -> RuleHits {
        RuleHits {
            events: vec![0; rules.events.len()],
            identify: vec![0; rules.identify.len()],
            group: vec![0; rules.group.len()],
        }
    }
}

/// Translates messages one at a time, in input order.
#[derive(Debug)]
pub struct Mapper {
    options: Options,
    dedupe: DedupeWindow,
    /// The user → company associations (SPEC §5.1).
    associations: Associations,
    /// Whether associations are learned as messages are mapped, from what
    /// has been read so far: when no first pass collected them all
    /// (standard input is among the sources).
    learning: bool,
    /// During the first pass: its view of the dedupe window, since a
    /// duplicate teaches nothing.
    first_pass: Option<Ahead>,
    /// Each company's first group-call name, for company-first (SPEC §6).
    first_groups: FirstGroups,
    stitching: Stitching,
    hits: RuleHits,
    /// Where other shards' messages count their rule hits: every message is
    /// mapped, so that every shard learns alike, but only a shard's own are
    /// reported.
    other_hits: RuleHits,
}

impl Mapper {
    pub fn new(options: Options) -> Mapper {
        Mapper {
            dedupe: DedupeWindow::new(options.dedupe_window),
            associations: Associations::default(),
            learning: true,
            first_pass: None,
            first_groups: FirstGroups::default(),
            stitching: Stitching::new(options.stitch),
            hits: RuleHits::new(&options.rules),
            other_hits: RuleHits::new(&options.rules),
            options,
        }
    }

    /// Whether user → company associations are learned as messages are
    /// mapped (no first pass collected them: standard input is among the
    /// sources).
    pub fn learns_as_it_goes(&self) -> bool {
        self.learning
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

    /// Starts the first pass (SPEC §5.1, §5.7). With `companies` (every
    /// source can be read twice), it collects every user → company
    /// association and each company's first group-call name, and the run
    /// learns none as it goes; without, only stitching's links.
    pub fn begin_first_pass(&mut self, companies: bool) {
        if companies {
            self.first_pass = Some(Ahead::new(self.options.dedupe_window));
            self.learning = false;
            self.associations.collect();
        }
    }

    /// Whether the first pass holds as many associations as it may: the
    /// caller then takes them ([`Mapper::take_associations`]) to keep
    /// until the end of the pass.
    pub fn associations_full(&self) -> bool {
        self.associations.is_full()
    }

    /// The associations the first pass holds, sorted, to be handed back to
    /// [`Mapper::end_first_pass`].
    pub fn take_associations(&mut self) -> Vec<Association> {
        self.associations.take_run()
    }

    /// Ends the first pass: identifies known only by an anonymousId give
    /// their associations to the users now linked, every association
    /// learned (`taken` hands back those taken before, each run sorted) is
    /// reduced to the users' company changes, and the pass's dedupe window
    /// is let go.
    pub fn end_first_pass<'a, I: Iterator<Item = Association> + 'a>(&mut self, taken: Vec<I>) {
        if self.first_pass.is_none() {
            return;
        }
        if let Some(links) = self.stitching.applied() {
            let user_of = |key| links.user_by_key(key).map(str::to_owned);
            self.associations.link(user_of);
        }
        self.associations.merge(taken);
        self.first_pass = None;
    }

    /// Learns what a message of the first pass teaches: its anonymousId →
    /// userId links (SPEC §5.7), when links are kept, and its user → company
    /// association and group-call name, when the pass collects them. What
    /// teaches is decided as [`Mapper::map`] decides it: a duplicate,
    /// disabled or filtered message teaches nothing.
    pub fn learn(&mut self, message: &Message) {
        self.stitching.learn(message);
        let Some(ahead) = &mut self.first_pass else {
            return;
        };
        if let Some(id) = message.message_id()
            && ahead.is_repeat(&self.dedupe, &id)
        {
            return;
        }
        let Ok(kind @ (Kind::Group | Kind::Identify)) = message.kind else {
            return;
        };
        let options = &self.options;
        let time = message_time(&message.fields).ok().flatten();
        if !options.ignore_integrations && !checks::planhat_enabled(message)
            || options.filters.excludes(kind, time)
        {
            return;
        }
        if kind == Kind::Group {
            let Some(group_id) = id_text(message.get("groupId")) else {
                return;
            };
            if let Some(user) = id_text(message.get("userId")) {
                self.associations.learn(&user, &group_id, time);
            }
            if options.profiles && !options.receiver {
                let name = profile::company_name(message.traits(), &options.rules.group);
                self.first_groups.group_call(&group_id, name.as_deref());
            }
            return;
        }
        let Some(company) = identity::traits_company(message.traits()) else {
            return;
        };
        // Without --stitch no links are kept and nothing is known by one.
        let links = self.stitching.applied();
        let who = identity::person(message, None);
        match identity::user_key(&who) {
            Some(user) => self.associations.learn(user, &company, time),
            // Its link may come later in the input: it waits for the end of
            // the pass.
            None if links.is_some() => {
                if let Some(anonymous) = identity::anonymous_id(message) {
                    self.associations
                        .learn_anonymous(&anonymous, &company, time);
                }
            }
            None => {}
        }
    }

    /// Passes over a message of the first pass that teaches nothing new
    /// (the saved memory has what it teaches) but that the main pass maps
    /// before the ones that do: its messageId enters the pass's view of the
    /// dedupe window as it will enter the window.
    pub fn pass_over(&mut self, message: &Message) {
        if let Some(ahead) = &mut self.first_pass
            && let Some(id) = message.message_id()
        {
            ahead.is_repeat(&self.dedupe, &id);
        }
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
    /// §5.5's order and the first that applies decides. Another shard's
    /// message is mapped too, for what it teaches (SPEC §10), and comes out
    /// as [`Outcome::OtherShard`].
    pub fn map<'m>(&'m mut self, message: &'m Message<'m>) -> Mapped<'m> {
        self.map_with(message, Lessons::All)
    }

    /// [`Mapper::map`], learning only `lessons` from the message.
    pub fn map_with<'m>(&'m mut self, message: &'m Message<'m>, lessons: Lessons) -> Mapped<'m> {
        // Every parsed message links, whatever its outcome or shard.
        if lessons != Lessons::None {
            self.stitching.learn(message);
        }
        let links = self.stitching.applied();
        let owned = self.options.shard.is_none_or(|shard| {
            shard.owns(
                identity::shard_key(message, links)
                    .unwrap_or_default()
                    .as_bytes(),
            )
        });
        let time = message_time(&message.fields);
        let usable_time = time.as_ref().ok().copied().flatten();
        let (outcome, announce) = self.decide(message, time, owned, lessons);
        Mapped {
            outcome: if owned { outcome } else { Outcome::OtherShard },
            time: usable_time,
            announce,
        }
    }

    fn decide<'m>(
        &'m mut self,
        message: &'m Message,
        time: Result<Option<EventTime>, BadTimestamp>,
        owned: bool,
        lessons: Lessons,
    ) -> (Outcome<'m>, Option<Company<'m>>) {
        let Mapper {
            options,
            dedupe,
            associations,
            learning,
            first_groups,
            stitching,
            hits,
            other_hits,
            ..
        } = self;
        let hits = if owned { hits } else { other_hits };
        // A message mapped again was no duplicate when it was first mapped
        // (it would be settled), and its id is in the window since.
        if lessons != Lessons::None
            && let Some(id) = message.message_id()
            && dedupe.is_repeat(&id)
        {
            return (Outcome::Skip(Skip::Duplicate), None);
        }
        let kind = match &message.kind {
            Ok(kind) => *kind,
            Err(text) if text.is_empty() => {
                let outcome = Outcome::Reject(Reject::UnknownType, "no \"type\" field".into());
                return (outcome, None);
            }
            Err(text) => {
                let detail = format!("unknown type {text:?}");
                return (Outcome::Reject(Reject::UnknownType, detail), None);
            }
        };
        if matches!(kind, Kind::Alias | Kind::Delete) {
            return (Outcome::Skip(Skip::UnsupportedType), None);
        }
        if !options.ignore_integrations && !checks::planhat_enabled(message) {
            return (Outcome::Skip(Skip::DisabledByIntegrations), None);
        }
        let action = rule_name(kind, message);
        let rule = action.as_deref().and_then(|name| options.rules.event(name));
        if let Some((index, rule)) = rule {
            hits.events[index] += 1;
            if rule.drop {
                return (Outcome::Skip(Skip::Filtered), None);
            }
        }
        let rule = rule.map(|(_, rule)| rule);
        let known_time = time.as_ref().ok().copied().flatten();
        if options.filters.excludes(kind, known_time) {
            return (Outcome::Skip(Skip::Filtered), None);
        }
        let source = options.source_label.as_deref();
        if kind == Kind::Group {
            let learns = *learning && lessons == Lessons::All;
            let learned = learns.then_some(&mut *associations);
            let outcome = group(learned, options, &mut hits.group, message, known_time);
            if let Some(group_id) = id_text(message.get("groupId")) {
                first_groups.reached(&group_id);
            }
            return (outcome, None);
        }
        let mut who = identity::person(message, stitching.applied());
        let Some(user) = identity::user_key(&who) else {
            let Some(anonymous) = identity::anonymous_id(message) else {
                let detail = "no userId, user id trait, email or anonymousId to tell who this is";
                return (Outcome::Reject(Reject::NoIdentity, detail.into()), None);
            };
            if owned {
                stitching.skipped(&anonymous);
            }
            return (Outcome::Skip(Skip::Anonymous), None);
        };
        let own_company = identity::own_company(message);
        if kind == Kind::Identify
            && *learning
            && lessons == Lessons::All
            && let Some(company) = identity::traits_company(message.traits())
        {
            associations.learn(user, &company, known_time);
        }
        who.company = own_company.or_else(|| {
            let user = identity::user_key(&who)?;
            associations.company_at(user, known_time).map(str::to_owned)
        });
        if kind == Kind::Identify && options.profiles && !options.receiver {
            let rules = &options.rules.identify;
            let announce = announce(first_groups, options, who.company.as_deref());
            let user = profile::end_user(who, message.traits(), source, rules, &mut hits.identify);
            return (Outcome::Send(Item::EndUser(user)), announce);
        }
        let date = match time {
            Ok(date) => date,
            Err(bad) => return (Outcome::Reject(Reject::BadTimestamp, bad.to_string()), None),
        };
        if kind == Kind::Track && action.is_none() {
            let detail = "track has no \"event\" name";
            return (Outcome::Reject(Reject::NoEvent, detail.into()), None);
        }
        if options.receiver {
            let renamed = rule.and_then(|rule| rule.action.clone());
            let event = match kind {
                Kind::Track => renamed,
                _ => renamed.or(action),
            };
            let forward = Forward {
                message,
                kind,
                user_id: who.external_id,
                company: who.company,
                event,
            };
            return (Outcome::Send(Item::Receiver(forward)), None);
        }
        let announce = announce(first_groups, options, who.company.as_deref());
        let activity = activity(kind, message, who, date, source, action, rule);
        (Outcome::Send(Item::Activity(activity)), announce)
    }
}

#[cfg(test)]
mod tests;
