//! The company of a message that names none itself (SPEC §5.1): the user →
//! company associations that group calls and identify traits teach, each
//! with its message's event time, and the rule that picks the one in force
//! at a message's time. What company-first needs of the first pass (§6) is
//! in [`first_groups`].
//!
//! A user's history is kept as its changes ([`changes`]): memory grows with
//! users and changes, not with group calls (SPEC §3, §8). Associations
//! learned since the last reduction wait, in input order, until they are
//! reduced with the changes. During the first pass they are only
//! collected; when more wait than the bound allows, the caller takes them
//! as a sorted run to keep elsewhere (a temporary file) and hands every run
//! back at the end of the pass, where all of them are reduced at once, so
//! the result is exact however the input's times interleave. When the run
//! learns as it goes (standard input among the sources), the waiting ones
//! are looked up too, and reduced into the changes whenever the bound is
//! reached: an association that arrives later than others of its user but
//! lands between two of them of one company then meets their changes only,
//! as an incremental run's new associations meet history's (§5.1).
//!
//! Pure: no I/O.

pub mod changes;
pub mod first_groups;

use std::collections::HashMap;

use itertools::Itertools;

use crate::segment::time::EventTime;

use super::ids::{Interned, Key};
pub use changes::{Association, Block, Changes, NO_TIME};
pub use first_groups::FirstGroups;

/// How many associations wait, unreduced, before they are reduced (or, in
/// the first pass, taken as a run): 12 MiB of them.
const MAX_WAITING: usize = 1 << 19;
/// The end of a user's chain of waiting associations.
const NONE: u32 = u32::MAX;

/// Every user → company association learned: history's changes, and those
/// learned since.
#[derive(Debug)]
pub struct Associations {
    changes: Changes,
    /// Learned and not yet reduced, in input order.
    waiting: Vec<Association>,
    /// When the run learns as it goes, the waiting ones are found by user:
    /// each user's latest, and for each one the user's one before it.
    latest: Option<HashMap<u64, u32>>,
    earlier: Vec<u32>,
    companies: Interned,
    /// First pass, `--stitch`: associations of identifies known only by an
    /// anonymousId whose link may come later, by a hash of the anonymousId.
    by_anonymous: Vec<(Key, Association)>,
    /// The next association's place in the input; history's are 0.
    next_order: u32,
}

impl Default for Associations {
    fn default() -> Associations {
        Associations {
            changes: Changes::default(),
            waiting: Vec::new(),
            latest: Some(HashMap::new()),
            earlier: Vec::new(),
            companies: Interned::default(),
            by_anonymous: Vec::new(),
            next_order: 1,
        }
    }
}

fn user_hash(user: &str) -> u64 {
    Key::of(user).whole()
}

impl Associations {
    /// Learns that `user` belongs to `company` from a message of `time`.
    /// Associations are learned in input order.
    pub fn learn(&mut self, user: &str, company: &str, time: Option<EventTime>) {
        let association = self.next(user_hash(user), company, time);
        self.add(association);
    }

    /// A new association, numbered in input order. Past four billion in
    /// one run, ties of time among the later ones are broken arbitrarily.
    fn next(&mut self, user: u64, company: &str, time: Option<EventTime>) -> Association {
        let order = self.next_order;
        self.next_order = self.next_order.saturating_add(1);
        Association {
            user,
            time: time.map_or(NO_TIME, EventTime::millis),
            order,
            company: self.companies.store(company),
        }
    }

    fn add(&mut self, association: Association) {
        if let Some(latest) = &mut self.latest {
            let index = u32::try_from(self.waiting.len()).expect("the bound is far below 2^32");
            self.earlier
                .push(latest.insert(association.user, index).unwrap_or(NONE));
            self.waiting.push(association);
            if self.waiting.len() >= MAX_WAITING {
                self.merge(Vec::<std::iter::Empty<Association>>::new());
            }
        } else {
            self.waiting.push(association);
        }
    }

    /// Starts the first pass: associations are only collected from now on,
    /// not looked up, until [`Associations::merge`].
    pub fn collect(&mut self) {
        self.latest = None;
        self.earlier = Vec::new();
    }

    /// Whether so many associations wait that they should be taken as a
    /// run ([`Associations::take_run`]); only while collecting.
    pub fn is_full(&self) -> bool {
        self.latest.is_none() && self.waiting.len() >= MAX_WAITING
    }

    /// The waiting associations sorted in merge order, to be handed back to
    /// [`Associations::merge`]; none wait afterwards.
    pub fn take_run(&mut self) -> Vec<Association> {
        let mut run = std::mem::take(&mut self.waiting);
        run.sort_unstable_by_key(Association::key);
        run
    }

    /// Learns an association of an identify known only by its
    /// `anonymousId` (first pass, `--stitch`), for [`Associations::link`]
    /// to give to the user the anonymousId turns out to be linked to.
    pub fn learn_anonymous(&mut self, anonymous: &str, company: &str, time: Option<EventTime>) {
        let association = self.next(0, company, time);
        self.by_anonymous.push((Key::of(anonymous), association));
    }

    /// At the end of the first pass, when every link is known: the
    /// associations learned by anonymousId go to their linked users, with
    /// their places in the input.
    pub fn link(&mut self, user_of: impl Fn(Key) -> Option<String>) {
        for (anonymous, association) in std::mem::take(&mut self.by_anonymous) {
            if let Some(user) = user_of(anonymous) {
                let user = user_hash(&user);
                self.add(Association {
                    user,
                    ..association
                });
            }
        }
    }

    /// Reduces the changes, the `runs` taken before (each in merge order)
    /// and the associations waiting into the changes, and looks up the
    /// ones learned from now on as they come.
    pub fn merge<'a, I: Iterator<Item = Association> + 'a>(&mut self, runs: Vec<I>) {
        let history = std::mem::take(&mut self.changes).into_associations();
        let waiting = self.take_run().into_iter();
        let streams = runs
            .into_iter()
            .map(|run| Box::new(run) as Box<dyn Iterator<Item = Association> + 'a>)
            .chain([
                Box::new(history) as Box<dyn Iterator<Item = Association> + 'a>,
                Box::new(waiting),
            ]);
        let merged = streams.kmerge_by(|a, b| a.key() < b.key());
        let changes = Changes::reduce(merged);
        self.changes = changes;
        self.latest = Some(HashMap::new());
        self.earlier = Vec::new();
    }

    /// Reduces the associations waiting into the changes, when the run
    /// learns as it goes (the first pass's are reduced at its end).
    pub fn settle(&mut self) {
        if self.latest.is_some() && !self.waiting.is_empty() {
            self.merge(Vec::<std::iter::Empty<Association>>::new());
        }
    }

    /// The companies, by index, and the changes: what the saved memory
    /// keeps (SPEC §6.1), once [`Associations::settle`]d.
    pub fn saved(&self) -> (&Interned, &Changes) {
        (&self.companies, &self.changes)
    }

    /// Adds a company saved by [`Associations::saved`], after those
    /// added; false when the memory is damaged.
    pub fn restore_company(&mut self, company: &str) -> bool {
        self.companies.restore(company)
    }

    /// Adds a block of changes saved by [`Associations::saved`], after
    /// those added; false when it is out of order or names a company not
    /// added.
    pub fn restore_changes(&mut self, block: Block) -> bool {
        let companies = u32::try_from(self.companies.len()).unwrap_or(u32::MAX);
        block.is_valid(companies) && self.changes.push_block(block)
    }

    /// The company of `user` as of `time`: the latest association at or
    /// before it (equal times: the later in the input); when there is none,
    /// or the message has no time, the earliest association (equal times:
    /// the earlier in the input).
    pub fn company_at(&self, user: &str, time: Option<EventTime>) -> Option<&str> {
        let user = user_hash(user);
        // (time, place in the input, company): history's changes in their
        // order, then the waiting ones by theirs.
        let history = self
            .changes
            .of(user)
            .enumerate()
            .map(|(index, (time, company))| (time, 0, index, company));
        let mut next = self
            .latest
            .as_ref()
            .and_then(|latest| latest.get(&user).copied())
            .unwrap_or(NONE);
        let waiting = std::iter::from_fn(|| {
            let association = self.waiting.get(next as usize)?;
            next = self.earlier[next as usize];
            let Association {
                time,
                order,
                company,
                ..
            } = *association;
            Some((time, order, 0, company))
        });
        let mut in_force = None;
        let mut earliest = None;
        for association in history.chain(waiting) {
            let key = |a: (i64, u32, usize, u32)| (a.0, a.1, a.2);
            if let Some(time) = time
                && association.0 <= time.millis()
                && in_force.is_none_or(|best| key(association) > key(best))
            {
                in_force = Some(association);
            }
            if earliest.is_none_or(|best| key(association) < key(best)) {
                earliest = Some(association);
            }
        }
        let (_, _, _, company) = in_force.or(earliest)?;
        Some(self.companies.get(company))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Option<EventTime> {
        EventTime::from_millis(ms)
    }

    #[test]
    fn the_latest_association_at_or_before_the_time_is_in_force() {
        let mut known = Associations::default();
        known.learn("u", "first", at(100));
        known.learn("u", "second", at(200));
        assert_eq!(known.company_at("u", at(150)), Some("first"));
        assert_eq!(known.company_at("u", at(200)), Some("second"), "at counts");
        assert_eq!(known.company_at("u", at(10_000)), Some("second"));
        assert_eq!(known.company_at("other", at(150)), None);
    }

    #[test]
    fn a_user_who_moves_takes_each_company_in_its_time_whatever_the_input_order() {
        let mut known = Associations::default();
        // Read out of time order, as two sources' folders are.
        known.learn("u", "globex", at(500));
        known.learn("u", "acme", at(100));
        assert_eq!(known.company_at("u", at(300)), Some("acme"));
        assert_eq!(known.company_at("u", at(600)), Some("globex"));
    }

    #[test]
    fn equal_times_take_the_later_in_the_input() {
        let mut known = Associations::default();
        known.learn("u", "acme", at(100));
        known.learn("u", "globex", at(100));
        assert_eq!(known.company_at("u", at(100)), Some("globex"));
        assert_eq!(known.company_at("u", at(200)), Some("globex"));
    }

    #[test]
    fn a_message_older_than_every_association_takes_the_earliest() {
        let mut known = Associations::default();
        known.learn("u", "late", at(900));
        known.learn("u", "early", at(300));
        known.learn("u", "early-too", at(300));
        assert_eq!(
            known.company_at("u", at(5)),
            Some("early"),
            "equal earliest: the earlier in the input"
        );
    }

    #[test]
    fn a_message_with_no_time_takes_the_earliest() {
        let mut known = Associations::default();
        known.learn("u", "late", at(900));
        known.learn("u", "early", at(300));
        assert_eq!(known.company_at("u", None), Some("early"));
    }

    #[test]
    fn an_association_without_a_time_is_earlier_than_every_time() {
        let mut known = Associations::default();
        known.learn("u", "timed", at(500));
        known.learn("u", "untimed", None);
        assert_eq!(known.company_at("u", at(100)), Some("untimed"));
        assert_eq!(known.company_at("u", at(600)), Some("timed"));
        assert_eq!(known.company_at("u", None), Some("untimed"));
    }

    #[test]
    fn each_company_is_stored_once() {
        let mut known = Associations::default();
        for user in 0..100 {
            known.learn(&format!("u{user}"), "acme", at(user));
        }
        assert_eq!(known.companies.store("acme"), 0);
        assert_eq!(known.companies.store("globex"), 1);
        assert_eq!(known.waiting.len(), 100);
    }

    /// Associations (user, company, time) learned as a first pass learns
    /// them: collected, taken as a sorted run every `run` of them (as the
    /// bound makes the pass do), and merged at the end.
    fn collected(list: &[(&str, &str, Option<i64>)], run: usize) -> Associations {
        let mut known = Associations::default();
        known.collect();
        let mut runs = Vec::new();
        for (index, (user, company, time)) in list.iter().enumerate() {
            known.learn(user, company, time.and_then(EventTime::from_millis));
            if (index + 1) % run == 0 {
                runs.push(known.take_run().into_iter());
            }
        }
        known.merge(runs);
        known
    }

    /// The rule of SPEC §5.1 over every association, as written.
    fn by_the_rule<'a>(
        list: &[(&str, &'a str, Option<i64>)],
        user: &str,
        time: Option<i64>,
    ) -> Option<&'a str> {
        let of_user = list.iter().enumerate().filter(|(_, a)| a.0 == user);
        let key =
            |(index, a): &(usize, &(&str, &str, Option<i64>))| (a.2.unwrap_or(NO_TIME), *index);
        let in_force = of_user
            .clone()
            .filter(|entry| time.is_some_and(|t| entry.1.2.unwrap_or(NO_TIME) <= t))
            .max_by_key(key);
        in_force
            .or_else(|| of_user.min_by_key(key))
            .map(|(_, a)| a.1)
    }

    #[test]
    fn a_user_who_moves_away_and_back_keeps_three_changes_however_many_calls() {
        let mut list = Vec::new();
        for (company, from) in [("a", 0), ("b", 1000), ("a", 2000)] {
            for call in 0..300 {
                list.push(("u", company, Some(from + call)));
            }
        }
        let known = collected(&list, 128);
        assert_eq!(known.changes.len(), 3, "a hundred calls cost one");
        for (time, company) in [(5, "a"), (1500, "b"), (2999, "a"), (-10, "a")] {
            assert_eq!(known.company_at("u", at(time)), Some(company), "{time}");
        }
    }

    #[test]
    fn associations_out_of_time_order_reduce_as_if_they_came_in_it() {
        // Read newest first, as a folder of a later day sorts first.
        let list = [
            ("u", "a", Some(300)),
            ("u", "b", Some(200)),
            ("u", "a", Some(100)),
            ("u", "a", Some(250)),
        ];
        for run in [1, 2, 10] {
            let known = collected(&list, run);
            assert_eq!(known.changes.len(), 3, "a(100) b(200) a(250)");
            for time in [50, 100, 199, 200, 249, 250, 300, 400] {
                assert_eq!(
                    known.company_at("u", at(time)),
                    by_the_rule(&list, "u", Some(time)),
                    "{time} with runs of {run}"
                );
            }
        }
    }

    #[test]
    fn equal_times_keep_input_order_through_the_reduction() {
        let list = [
            ("u", "a", Some(100)),
            ("u", "b", Some(100)),
            ("u", "b", Some(100)),
            ("u", "a", Some(50)),
        ];
        let known = collected(&list, 1);
        assert_eq!(
            known.company_at("u", at(100)),
            Some("b"),
            "the later in the input"
        );
        assert_eq!(known.company_at("u", at(99)), Some("a"));
        let earliest = [("v", "a", Some(100)), ("v", "b", Some(100))];
        let known = collected(&earliest, 1);
        assert_eq!(
            known.company_at("v", at(5)),
            Some("a"),
            "the earlier in the input"
        );
        assert_eq!(known.changes.len(), 2);
    }

    #[test]
    fn an_association_without_a_time_is_the_earliest_change() {
        let list = [
            ("u", "timed", Some(500)),
            ("u", "untimed", None),
            ("u", "untimed", None),
        ];
        let known = collected(&list, 2);
        assert_eq!(known.changes.len(), 2);
        assert_eq!(known.company_at("u", None), Some("untimed"));
        assert_eq!(known.company_at("u", at(100)), Some("untimed"));
        assert_eq!(known.company_at("u", at(600)), Some("timed"));
    }

    #[test]
    fn a_late_association_between_two_of_historys_of_one_company_meets_their_changes_only() {
        // History: a at 100 and at 300, one change; b at 200 comes later.
        // Over every association, a is back in force from 300; over
        // history's changes and the new one, b stays (SPEC §5.1).
        let mut known = collected(&[("u", "a", Some(100)), ("u", "a", Some(300))], 2);
        assert_eq!(known.changes.len(), 1);
        known.learn("u", "b", at(200));
        assert_eq!(known.company_at("u", at(250)), Some("b"));
        assert_eq!(known.company_at("u", at(400)), Some("b"), "documented");
        assert_eq!(known.company_at("u", at(150)), Some("a"));
        // The same holds once the new one is reduced with them.
        known.merge(Vec::<std::vec::IntoIter<Association>>::new());
        assert_eq!(known.company_at("u", at(400)), Some("b"));
        assert_eq!(known.changes.len(), 2);
    }

    #[test]
    fn collected_runs_reduced_at_the_end_agree_with_the_rule_over_every_association() {
        // Users who move back and forth, with times that interleave as two
        // folders' do, equal times and missing ones, in runs of every size.
        let users = ["u0", "u1", "u2", "u3", "u4"];
        let companies = ["a", "b", "c"];
        let mut state = 7u64;
        let mut random = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let list: Vec<(&str, &str, Option<i64>)> = (0..600)
            .map(|_| {
                let user = users[random(5) as usize];
                let company = companies[random(3) as usize];
                let time = (random(10) > 0).then(|| random(40) as i64 * 10);
                (user, company, time)
            })
            .collect();
        for run in [1, 7, 64, 600] {
            let known = collected(&list, run);
            for user in users.iter().chain(&["nobody"]) {
                for time in (-1..42).map(|t| Some(t * 10 - 5)).chain([None]) {
                    assert_eq!(
                        known.company_at(user, time.and_then(EventTime::from_millis)),
                        by_the_rule(&list, user, time),
                        "{user} at {time:?}, runs of {run}"
                    );
                }
            }
        }
    }

    #[test]
    fn learning_as_the_run_goes_reduces_whenever_the_bound_is_reached() {
        let mut known = Associations::default();
        for call in 0..MAX_WAITING as i64 + 10 {
            let user = if call % 2 == 0 { "u" } else { "v" };
            known.learn(user, "acme", at(call));
        }
        assert_eq!(known.changes.len(), 2, "reduced once the bound was reached");
        assert_eq!(known.waiting.len(), 10);
        known.learn("u", "globex", at(i64::from(u32::MAX)));
        assert_eq!(known.company_at("u", at(5)), Some("acme"));
        assert_eq!(
            known.company_at("u", at(i64::from(u32::MAX))),
            Some("globex")
        );
        assert_eq!(known.company_at("v", None), Some("acme"));
    }
}
