//! The policy checks that decide, before any mapping, whether a message is
//! sent at all (SPEC §5.5): the dedupe window, the `integrations` switches
//! and the `--types`/`--since`/`--until` filters.
//!
//! Pure: no I/O.

use crate::segment::json::{Object, Value};

use crate::segment::time::EventTime;
use crate::segment::{Kind, Message};

/// Remembers the last `capacity` distinct messageIds, as 64-bit hashes
/// (SPEC §5.5). The hashes sit in a ring, oldest first, and an
/// open-addressed index of 32-bit ring positions finds them: 12 bytes per
/// id in all, about 16 MiB for the default million, where a `HashSet` plus
/// a queue needs over twice that while they grow.
#[derive(Debug)]
pub struct DedupeWindow {
    capacity: usize,
    /// The hashes in the window; once full, `oldest` is the next to go.
    ring: Vec<u64>,
    oldest: usize,
    /// Linear-probing index: a ring position plus one, or 0 for empty. At
    /// most half full, so probes stay short.
    slots: Vec<u32>,
    /// `64 - log2(slots.len())`, for Fibonacci hashing into the slots.
    shift: u32,
}

/// The golden ratio in 64 bits: multiplying by it spreads any hash's bits
/// over the top bits, which pick the slot.
const FIBONACCI: u64 = 0x9e37_79b9_7f4a_7c15;

impl DedupeWindow {
    /// A window of `capacity` ids; 0 turns deduplication off.
    pub fn new(capacity: usize) -> DedupeWindow {
        // Positions are stored in 32 bits.
        let capacity = capacity.min(u32::MAX as usize - 1);
        let slots = (capacity * 2).next_power_of_two().max(2);
        DedupeWindow {
            capacity,
            // Reserved, not touched: the pages are used only as ids arrive.
            ring: Vec::with_capacity(capacity),
            oldest: 0,
            slots: if capacity == 0 {
                Vec::new()
            } else {
                vec![0; slots]
            },
            shift: 64 - slots.trailing_zeros(),
        }
    }

    /// Records `id` and says whether it was already in the window. A
    /// repeated id does not move: the window holds distinct ids in the order
    /// they were first seen.
    pub fn is_repeat(&mut self, id: &str) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let hash = fnv1a64(id.as_bytes());
        if self.find(hash).is_some() {
            return true;
        }
        let position = if self.ring.len() < self.capacity {
            self.ring.push(hash);
            self.ring.len() - 1
        } else {
            let position = self.oldest;
            self.remove(position);
            self.ring[position] = hash;
            self.oldest = (position + 1) % self.capacity;
            position
        };
        let mut slot = self.home(hash);
        while self.slots[slot] != 0 {
            slot = self.next(slot);
        }
        self.slots[slot] = position as u32 + 1;
        false
    }

    fn home(&self, hash: u64) -> usize {
        (hash.wrapping_mul(FIBONACCI) >> self.shift) as usize
    }

    fn next(&self, slot: usize) -> usize {
        (slot + 1) & (self.slots.len() - 1)
    }

    /// The slot holding `hash`, if it is in the window.
    fn find(&self, hash: u64) -> Option<usize> {
        let mut slot = self.home(hash);
        loop {
            match self.slots[slot] {
                0 => return None,
                entry if self.ring[entry as usize - 1] == hash => return Some(slot),
                _ => slot = self.next(slot),
            }
        }
    }

    /// Takes the ring entry at `position` out of the index, shifting later
    /// entries of its probe run back so that no lookup stops early.
    fn remove(&mut self, position: usize) {
        let Some(mut hole) = self.find(self.ring[position]) else {
            return;
        };
        let mut probe = hole;
        loop {
            probe = self.next(probe);
            let entry = self.slots[probe];
            if entry == 0 {
                break;
            }
            let home = self.home(self.ring[entry as usize - 1]);
            // The entry may fill the hole unless its home lies cyclically
            // after the hole and at or before where it sits.
            let stays = if hole <= probe {
                hole < home && home <= probe
            } else {
                hole < home || home <= probe
            };
            if !stays {
                self.slots[hole] = entry;
                hole = probe;
            }
        }
        self.slots[hole] = 0;
    }
}

/// FNV-1a, 64 bits: stable across runs, machines and versions, unlike the
/// standard library's randomly seeded hasher.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether the message's `integrations` object leaves Planhat on (SPEC §5.5):
/// `Planhat` (exact key, else a case-insensitive match) decides when it is a
/// boolean and an object means on; otherwise `All` (or `all`) decides when it
/// is a boolean; otherwise on.
pub fn planhat_enabled(message: &Message) -> bool {
    let Some(integrations) = message.object("integrations") else {
        return true;
    };
    let planhat = integrations.get("Planhat").or_else(|| {
        integrations
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("planhat"))
            .map(|(_, value)| value)
    });
    match planhat {
        Some(Value::Bool(on)) => *on,
        Some(Value::Object(_)) => true,
        _ => all_switch(integrations).unwrap_or(true),
    }
}

fn all_switch(integrations: &Object<'_>) -> Option<bool> {
    ["All", "all"]
        .iter()
        .find_map(|key| integrations.get(key).and_then(Value::as_bool))
}

/// One of N shards of the input (SPEC §10): a message belongs to shard
/// `index` when the FNV-1a 64 hash of its identity's UTF-8 bytes, modulo
/// `count`, is `index`. The hash never changes, so every machine and
/// version agrees on the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Counted from 0, as Kubernetes' JOB_COMPLETION_INDEX is.
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Reads `K/N`, with 0 ≤ K < N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let usage = || {
            format!(
                "{text:?} is not K/N: give this shard's number K (from 0) and the count N, as 0/3"
            )
        };
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: u64 = index.trim().parse().map_err(|_| usage())?;
        let count: u64 = count.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count} does not exist: K counts from 0 and must be below N"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether the message with this identity belongs to this shard.
    pub fn owns(&self, identity: &[u8]) -> bool {
        fnv1a64(identity) % self.count == self.index
    }
}

/// The `--types`, `--since` and `--until` filters (SPEC §5.5).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// The types to keep; `None` keeps all.
    pub types: Option<Vec<Kind>>,
    /// Keep events at or after this time.
    pub since: Option<EventTime>,
    /// Keep events before this time.
    pub until: Option<EventTime>,
}

impl Filters {
    /// Whether a message of `kind` at `time` is filtered out. A message whose
    /// time is unknown (absent or unparseable) is never filtered by time:
    /// it cannot be placed outside the window, and dropping it silently
    /// would lose data; the timestamp check that follows reports it.
    pub fn excludes(&self, kind: Kind, time: Option<EventTime>) -> bool {
        if let Some(types) = &self.types
            && !types.contains(&kind)
        {
            return true;
        }
        match time {
            Some(time) => {
                self.since.is_some_and(|since| time < since)
                    || self.until.is_some_and(|until| time >= until)
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::parse_line;

    fn message(line: &str) -> Message<'_> {
        parse_line(line.as_bytes())
            .next()
            .expect("a line has a message")
            .expect("test line parses")
    }

    fn enabled(integrations: &str) -> bool {
        planhat_enabled(&message(&format!(
            r#"{{"type":"track","integrations":{integrations}}}"#
        )))
    }

    #[test]
    fn integrations_truth_table() {
        let cases = [
            ("null", true),
            ("{}", true),
            (r#"{"Planhat":false}"#, false),
            (r#"{"Planhat":true}"#, true),
            (r#"{"Planhat":{"opt":1}}"#, true),
            (r#"{"planhat":false}"#, false),
            (r#"{"PLANHAT":false,"All":true}"#, false),
            (r#"{"Planhat":true,"planhat":false}"#, true),
            (r#"{"All":false}"#, false),
            (r#"{"all":false}"#, false),
            (r#"{"All":true}"#, true),
            (r#"{"All":false,"Planhat":true}"#, true),
            (r#"{"All":true,"Planhat":false}"#, false),
            (r#"{"All":false,"Planhat":{}}"#, true),
            (r#"{"All":false,"Planhat":null}"#, false),
            (r#"{"All":false,"Planhat":0}"#, false),
            (r#"{"All":false,"Planhat":"yes"}"#, false),
            (r#"{"All":"no","Planhat":null}"#, true),
            (r#"{"Salesforce":false}"#, true),
            ("\"text\"", true),
        ];
        for (integrations, expected) in cases {
            assert_eq!(enabled(integrations), expected, "{integrations}");
        }
    }

    #[test]
    fn dedupe_window_forgets_the_oldest_distinct_id() {
        let mut window = DedupeWindow::new(2);
        assert!(!window.is_repeat("a"));
        assert!(window.is_repeat("a"));
        assert!(!window.is_repeat("b"));
        assert!(window.is_repeat("a"), "a repeat does not refresh or evict");
        assert!(!window.is_repeat("c"));
        assert!(
            !window.is_repeat("a"),
            "a was the oldest and left the window"
        );
        assert!(window.is_repeat("c"));
    }

    #[test]
    fn dedupe_window_agrees_with_a_simple_model_through_many_evictions() {
        use std::collections::{HashSet, VecDeque};
        for capacity in [1, 2, 3, 7, 64] {
            let mut window = DedupeWindow::new(capacity);
            let (mut seen, mut order) = (HashSet::new(), VecDeque::new());
            let mut state = 42u64 + capacity as u64;
            for _ in 0..20_000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Few distinct ids, so repeats and evictions are frequent.
                let id = (state % (capacity as u64 * 3 + 5)).to_string();
                let expected = seen.contains(&id);
                if !expected {
                    seen.insert(id.clone());
                    order.push_back(id.clone());
                    if order.len() > capacity {
                        seen.remove(&order.pop_front().unwrap());
                    }
                }
                assert_eq!(
                    window.is_repeat(&id),
                    expected,
                    "capacity {capacity}, id {id}"
                );
            }
        }
    }

    #[test]
    fn dedupe_window_of_zero_is_off() {
        let mut window = DedupeWindow::new(0);
        assert!(!window.is_repeat("a"));
        assert!(!window.is_repeat("a"));
    }

    #[test]
    fn fnv1a64_matches_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shards_are_read_from_k_slash_n() {
        assert_eq!(Shard::parse("0/3"), Ok(Shard { index: 0, count: 3 }));
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["3/3", "1/0", "1", "a/3", "-1/3", "1/3/4", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_identity_belongs_to_exactly_one_shard_and_the_split_is_stable() {
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for id in ["u_1", "u_2", "ana@x.io", "", "🚀"] {
            assert_eq!(
                shards.iter().filter(|s| s.owns(id.as_bytes())).count(),
                1,
                "{id}"
            );
        }
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c: fixed forever.
        assert_eq!(0xaf63_dc4c_8601_ec8c_u64 % 3, 1);
        assert!(shards[1].owns(b"a"));
    }

    #[test]
    fn filters_keep_types_and_a_half_open_time_window() {
        let at = |text: &str| EventTime::parse_str(text).expect("test time parses");
        let filters = Filters {
            types: Some(vec![Kind::Track, Kind::Identify]),
            since: Some(at("2024-01-01")),
            until: Some(at("2024-02-01")),
        };
        assert!(filters.excludes(Kind::Page, Some(at("2024-01-10"))));
        assert!(!filters.excludes(Kind::Track, Some(at("2024-01-01"))));
        assert!(filters.excludes(Kind::Track, Some(at("2023-12-31T23:59:59.999Z"))));
        assert!(filters.excludes(Kind::Track, Some(at("2024-02-01"))));
        assert!(!filters.excludes(Kind::Track, None));
        assert!(!Filters::default().excludes(Kind::Alias, None));
    }
}
