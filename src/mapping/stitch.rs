//! Stitching anonymous messages to the person who logs in later (SPEC §5.7):
//! the anonymousId → userId links that messages carrying both ids reveal,
//! which `--stitch` uses to attribute anonymous messages and which
//! `validate` without it uses to say how many it would attribute.
//!
//! Pure: no I/O. The links are the one piece of state that grows with the
//! input here, so they are kept compactly: a 64-bit hash per anonymousId
//! and each userId's text once, whatever the number of its anonymousIds.

use std::collections::{HashMap, HashSet};

use crate::segment::lookup::id_text;
use crate::segment::{Kind, Message};

use super::ids::{Interned, Key};

/// What a run does with links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stitch {
    /// No links are kept (`send` without `--stitch`).
    #[default]
    Off,
    /// Links are kept only to count the `anonymous` skips `--stitch` would
    /// attribute (`validate` without `--stitch`). `later_links` says whether
    /// a link found after the skip counts: it does for files, which
    /// `--stitch` reads twice, and not when standard input is among the
    /// sources, since `--stitch` reads it once.
    Estimate { later_links: bool },
    /// Anonymous messages are attributed through their links (`--stitch`).
    On,
}

/// anonymousId → userId links; the first link of an anonymousId wins.
#[derive(Debug, Default)]
pub struct Links {
    /// Hash of an anonymousId → index of its user.
    by_anonymous: HashMap<Key, u32>,
    /// Every linked userId once, so that a user with many anonymousIds is
    /// stored once.
    users: Interned,
}

/// Calls `link(anonymous, user)` for each link a message carries, whatever
/// becomes of it: its `anonymousId` → `userId`, and for an alias
/// `previousId` → `userId`. Only the top-level `userId` counts (numbers as
/// text); links are never followed through one another.
fn each_link(message: &Message, mut link: impl FnMut(&str, &str)) {
    let Some(user) = id_text(message.get("userId")) else {
        return;
    };
    if let Some(anonymous) = id_text(message.get("anonymousId")) {
        link(&anonymous, &user);
    }
    if message.kind == Ok(Kind::Alias)
        && let Some(previous) = id_text(message.get("previousId"))
    {
        link(&previous, &user);
    }
}

impl Links {
    fn learn(&mut self, message: &Message) {
        each_link(message, |anonymous, user| self.link(anonymous, user));
    }

    fn link(&mut self, anonymous: &str, user: &str) {
        let key = Key::of(anonymous);
        if self.by_anonymous.contains_key(&key) {
            return;
        }
        let index = self.users.store(user);
        self.by_anonymous.insert(key, index);
    }

    /// The user `anonymous` is linked to, if any.
    pub fn user_of(&self, anonymous: &str) -> Option<&str> {
        self.user_by_key(Key::of(anonymous))
    }

    /// The linked users, each once, and each link as the hash of its
    /// anonymousId and its user's index among them: what the saved memory
    /// keeps (SPEC §6.1).
    pub fn saved(&self) -> (&Interned, impl Iterator<Item = (u64, u32)> + '_) {
        let links = self
            .by_anonymous
            .iter()
            .map(|(key, user)| (key.whole(), *user));
        (&self.users, links)
    }

    /// Adds a user saved by [`Links::saved`], after those added; false
    /// when the memory is damaged.
    pub fn restore_user(&mut self, user: &str) -> bool {
        self.users.restore(user)
    }

    /// Adds a link saved by [`Links::saved`]; false when it names a user
    /// not added.
    pub fn restore_link(&mut self, anonymous: u64, user: u32) -> bool {
        let known = (user as usize) < self.users.len();
        if known {
            self.by_anonymous.insert(Key::from_whole(anonymous), user);
        }
        known
    }

    /// The user the anonymousId of this hash is linked to, if any.
    pub fn user_by_key(&self, anonymous: Key) -> Option<&str> {
        let index = *self.by_anonymous.get(&anonymous)?;
        Some(self.users.get(index))
    }
}

/// A run's links and what it does with them.
#[derive(Debug, Default)]
pub struct Stitching {
    mode: Stitch,
    /// `On`: the links.
    links: Links,
    /// `Estimate`: the anonymousIds that have a link, without their users,
    /// which the estimate does not need...
    linked: HashSet<Key>,
    /// ...the anonymous skips whose link was already known...
    linked_skips: u64,
    /// ...and the anonymousId hashes of the others, which a later link may
    /// still explain. One entry per skip, so repeats count as often as
    /// they were skipped.
    unlinked_skips: Vec<Key>,
}

impl Stitching {
    pub fn new(mode: Stitch) -> Stitching {
        Stitching {
            mode,
            ..Stitching::default()
        }
    }

    /// Whether anonymous messages are attributed: then the input files are
    /// read for links before the run (SPEC §5.7).
    pub fn is_on(&self) -> bool {
        self.mode == Stitch::On
    }

    /// Learns a parsed message's links, when links are kept at all.
    pub fn learn(&mut self, message: &Message) {
        match self.mode {
            Stitch::Off => {}
            Stitch::Estimate { .. } => each_link(message, |anonymous, _| {
                self.linked.insert(Key::of(anonymous));
            }),
            Stitch::On => self.links.learn(message),
        }
    }

    /// The links anonymous messages are attributed through: only with
    /// `--stitch`.
    pub fn applied(&self) -> Option<&Links> {
        self.is_on().then_some(&self.links)
    }

    /// The links, to restore saved ones into: only with `--stitch`.
    pub fn applied_mut(&mut self) -> Option<&mut Links> {
        self.is_on().then_some(&mut self.links)
    }

    /// Notes a message skipped `anonymous`, for the estimate.
    pub fn skipped(&mut self, anonymous: &str) {
        let Stitch::Estimate { later_links } = self.mode else {
            return;
        };
        let key = Key::of(anonymous);
        if self.linked.contains(&key) {
            self.linked_skips += 1;
        } else if later_links {
            self.unlinked_skips.push(key);
        }
    }

    /// How many `anonymous` skips `--stitch` would have attributed, so far
    /// (`Estimate` only).
    pub fn would_attribute(&self) -> Option<u64> {
        let Stitch::Estimate { .. } = self.mode else {
            return None;
        };
        let later = self.unlinked_skips.iter();
        let later = later.filter(|key| self.linked.contains(key)).count();
        Some(self.linked_skips + later as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::parse_line;

    fn learn(links: &mut Links, line: &str) {
        for message in parse_line(line.as_bytes()) {
            links.learn(&message.expect("test line parses"));
        }
    }

    #[test]
    fn a_message_with_both_ids_links_them_and_the_first_link_wins() {
        let mut links = Links::default();
        learn(&mut links, r#"{"type":"page","anonymousId":"a1"}"#);
        assert_eq!(links.user_of("a1"), None, "one id is no link");
        learn(
            &mut links,
            r#"{"type":"track","anonymousId":"a1","userId":"u1"}"#,
        );
        learn(
            &mut links,
            r#"{"type":"track","anonymousId":"a1","userId":"u2"}"#,
        );
        assert_eq!(links.user_of("a1"), Some("u1"));
        learn(
            &mut links,
            r#"{"type":"custom","anonymousId":7,"userId":42.0}"#,
        );
        assert_eq!(links.user_of("7"), Some("42"), "numbers as text");
        learn(
            &mut links,
            r#"{"type":"track","anonymousId":"","userId":"u3"}"#,
        );
        learn(
            &mut links,
            r#"{"type":"track","anonymousId":"a4","userId":""}"#,
        );
        learn(
            &mut links,
            r#"{"type":"track","anonymousId":"a5","traits":{"userId":"t"}}"#,
        );
        assert_eq!(links.user_of(""), None);
        assert_eq!(links.user_of("a4"), None);
        assert_eq!(links.user_of("a5"), None, "only the top-level userId");
    }

    #[test]
    fn an_alias_links_its_previous_id_and_links_do_not_chain() {
        let mut links = Links::default();
        learn(
            &mut links,
            r#"{"type":"alias","previousId":"p1","userId":"a2"}"#,
        );
        learn(
            &mut links,
            r#"{"type":"identify","anonymousId":"a2","userId":"u"}"#,
        );
        assert_eq!(links.user_of("p1"), Some("a2"), "not followed to u");
        learn(
            &mut links,
            r#"{"type":"track","previousId":"p3","userId":"u"}"#,
        );
        assert_eq!(links.user_of("p3"), None, "previousId counts on an alias");
    }

    #[test]
    fn each_user_is_stored_once() {
        let mut links = Links::default();
        for i in 0..100 {
            let line = format!(
                r#"{{"type":"page","anonymousId":"a{i}","userId":"user-{}"}}"#,
                i % 2
            );
            learn(&mut links, &line);
        }
        // Two users stored: the next one gets index 2.
        assert_eq!(links.users.store("user-2"), 2);
        assert_eq!(links.user_of("a98"), Some("user-0"));
        assert_eq!(links.user_of("a99"), Some("user-1"));
    }

    #[test]
    fn the_estimate_counts_later_links_only_when_the_input_is_read_twice() {
        let link = parse_line(br#"{"type":"identify","anonymousId":"a","userId":"u"}"#)
            .next()
            .unwrap()
            .unwrap();
        for (later_links, expected) in [(true, 3), (false, 1)] {
            let mut stitching = Stitching::new(Stitch::Estimate { later_links });
            stitching.skipped("a");
            stitching.skipped("a");
            stitching.skipped("never");
            stitching.learn(&link);
            stitching.skipped("a");
            assert_eq!(stitching.would_attribute(), Some(expected));
            assert!(stitching.applied().is_none());
        }
        assert_eq!(Stitching::new(Stitch::On).would_attribute(), None);
        let mut off = Stitching::new(Stitch::Off);
        off.learn(&link);
        assert_eq!(off.links.user_of("a"), None, "no links kept when off");
    }
}
