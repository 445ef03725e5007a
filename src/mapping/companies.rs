//! The company of a message that names none itself (SPEC §5.1): the user →
//! company associations that group calls and identify traits teach, each
//! with its message's event time, and the rule that picks the one in force
//! at a message's time. Also what company-first needs of the first pass
//! (§6): each company's first group-call `name`, and whether its group call
//! has been reached, so that a company an event names before its group call
//! is upserted, minimally, before the event.
//!
//! Pure: no I/O. The associations are the state that grows with the number
//! of users, so they are kept compactly: a 64-bit hash per user, each
//! company's id once, and 24 bytes per association (its time, its place in
//! the input, its company and the user's association before it).

use std::collections::HashMap;

use crate::segment::time::EventTime;

use super::ids::{Interned, Key};

/// An association's time when its message had none that parses: earlier
/// than every time (SPEC §5.1). Real times start at year 0.
const NO_TIME: i64 = i64::MIN;
/// The end of a user's chain of associations.
const NONE: u32 = u32::MAX;

/// Every user → company association learned, in input order per user.
#[derive(Debug, Default)]
pub struct Associations {
    /// Hash of a user key (externalId, else email) → the user's latest
    /// association.
    latest: HashMap<Key, u32>,
    entries: Vec<Association>,
    companies: Interned,
    /// First pass, `--stitch`: associations of identifies known only by an
    /// anonymousId whose link may come later, by a hash of the anonymousId.
    by_anonymous: Vec<(Key, Association)>,
}

#[derive(Debug, Clone, Copy)]
struct Association {
    /// Milliseconds since the epoch, or [`NO_TIME`].
    time: i64,
    /// Its place among the associations in input order, which breaks ties
    /// of time: an association learned by anonymousId joins its user's
    /// chain only at the end of the first pass, out of input order.
    order: u32,
    company: u32,
    /// The same user's association added before this one, or [`NONE`].
    earlier: u32,
}

impl Associations {
    /// Learns that `user` belongs to `company` from a message of `time`.
    /// Associations are learned in input order.
    pub fn learn(&mut self, user: &str, company: &str, time: Option<EventTime>) {
        let association = self.next(company, time);
        self.add(Key::of(user), association);
    }

    /// A new association, numbered in input order.
    fn next(&mut self, company: &str, time: Option<EventTime>) -> Association {
        let order = u32::try_from(self.entries.len() + self.by_anonymous.len())
            .expect("fewer than 4 billion associations");
        Association {
            time: time.map_or(NO_TIME, EventTime::millis),
            order,
            company: self.companies.store(company),
            earlier: NONE,
        }
    }

    fn add(&mut self, user: Key, association: Association) {
        let index = u32::try_from(self.entries.len()).expect("fewer than 4 billion associations");
        let earlier = self.latest.insert(user, index).unwrap_or(NONE);
        self.entries.push(Association {
            earlier,
            ..association
        });
    }

    /// Learns an association of an identify known only by its
    /// `anonymousId` (first pass, `--stitch`), for [`Associations::link`]
    /// to give to the user the anonymousId turns out to be linked to.
    pub fn learn_anonymous(&mut self, anonymous: &str, company: &str, time: Option<EventTime>) {
        let association = self.next(company, time);
        self.by_anonymous.push((Key::of(anonymous), association));
    }

    /// At the end of the first pass, when every link is known: the
    /// associations learned by anonymousId go to their linked users, with
    /// their places in the input.
    pub fn link(&mut self, user_of: impl Fn(Key) -> Option<String>) {
        for (anonymous, association) in std::mem::take(&mut self.by_anonymous) {
            if let Some(user) = user_of(anonymous) {
                self.add(Key::of(&user), association);
            }
        }
    }

    /// The company of `user` as of `time`: the latest association at or
    /// before it (equal times: the later in the input); when there is none,
    /// or the message has no time, the earliest association (equal times:
    /// the earlier in the input).
    pub fn company_at(&self, user: &str, time: Option<EventTime>) -> Option<&str> {
        let mut next = *self.latest.get(&Key::of(user))?;
        let mut in_force: Option<Association> = None;
        let mut earliest: Option<Association> = None;
        // Equal times: the later in the input is in force, the earlier is
        // the earliest.
        let key = |a: Association| (a.time, a.order);
        while next != NONE {
            let association = self.entries[next as usize];
            if let Some(time) = time
                && association.time <= time.millis()
                && in_force.is_none_or(|best| key(association) > key(best))
            {
                in_force = Some(association);
            }
            if earliest.is_none_or(|best| key(association) < key(best)) {
                earliest = Some(association);
            }
            next = association.earlier;
        }
        let chosen = in_force.or(earliest)?;
        Some(self.companies.get(chosen.company))
    }
}

/// What the first pass keeps of each company that has a group call, for
/// company-first (SPEC §6). Companies are few: kept by their ids' text.
#[derive(Debug, Default)]
pub struct FirstGroups {
    companies: HashMap<String, FirstGroup>,
}

#[derive(Debug)]
struct FirstGroup {
    /// The `name` trait of its first group call, if it had one.
    name: Option<String>,
    /// Whether the run has reached its first group call, or has announced
    /// the company already: then nothing more is owed.
    settled: bool,
}

impl FirstGroups {
    /// Notes a group call the first pass reads: the first one of a company
    /// gives its name.
    pub fn group_call(&mut self, company: &str, name: Option<&str>) {
        if !self.companies.contains_key(company) {
            let name = name.map(str::to_owned);
            let first = FirstGroup {
                name,
                settled: false,
            };
            self.companies.insert(company.to_owned(), first);
        }
    }

    /// Notes that the run reached a group call of `company`: its own upsert
    /// comes now, so no minimal one is owed.
    pub fn reached(&mut self, company: &str) {
        if let Some(first) = self.companies.get_mut(company) {
            first.settled = true;
        }
    }

    /// When `company` has a group call later in the input and has not been
    /// announced: its first group call's name (`Some(None)` when that call
    /// had none), and the company counts as announced from now on.
    pub fn announce(&mut self, company: &str) -> Option<Option<&str>> {
        let first = self.companies.get_mut(company)?;
        if first.settled {
            return None;
        }
        first.settled = true;
        Some(first.name.as_deref())
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
        assert_eq!(known.entries.len(), 100);
    }

    #[test]
    fn a_company_is_announced_once_and_not_after_its_group_call() {
        let mut firsts = FirstGroups::default();
        firsts.group_call("acme", Some("Acme"));
        firsts.group_call("acme", Some("Acme Inc"));
        firsts.group_call("globex", None);
        firsts.group_call("initech", Some("Initech"));
        assert_eq!(
            firsts.announce("acme"),
            Some(Some("Acme")),
            "the first name"
        );
        assert_eq!(firsts.announce("acme"), None, "once");
        assert_eq!(firsts.announce("globex"), Some(None));
        firsts.reached("initech");
        assert_eq!(firsts.announce("initech"), None, "its own upsert came");
        assert_eq!(firsts.announce("never-grouped"), None);
    }
}
