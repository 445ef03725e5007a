//! The dedupe window (SPEC §5.5): the last `--dedupe-window` distinct
//! messageIds, as 64-bit hashes; what the saved memory keeps of it
//! (§6.1); and the first pass's view of it, which is the window as the
//! main pass will hold it when it reaches each message.
//!
//! Pure: no I/O.

use crate::fnv::fnv1a64;

/// Remembers the last `capacity` distinct messageIds, as 64-bit hashes
/// (SPEC §5.5). The hashes sit in a ring, oldest first, and an
/// open-addressed index of 32-bit ring positions finds them: 14 bytes per
/// id in all, about 14 MiB for the default million, where a `HashSet` plus
/// a queue needs over twice that while they grow.
#[derive(Debug)]
pub struct DedupeWindow {
    capacity: usize,
    /// The hashes in the window; once full, `oldest` is the next to go.
    ring: Vec<u64>,
    oldest: usize,
    /// Linear-probing index: a ring position plus one, or 0 for empty. At
    /// most two thirds full, so probes stay short; a power of two would
    /// make it up to four times the window for some sizes.
    slots: Vec<u32>,
}

impl DedupeWindow {
    /// A window of `capacity` ids; 0 turns deduplication off.
    pub fn new(capacity: usize) -> DedupeWindow {
        // Positions are stored in 32 bits.
        let capacity = capacity.min(u32::MAX as usize - 1);
        let slots = (capacity + capacity / 2).max(2);
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
        }
    }

    /// Records `id` and says whether it was already in the window. A
    /// repeated id does not move: the window holds distinct ids in the order
    /// they were first seen.
    pub fn is_repeat(&mut self, id: &str) -> bool {
        self.is_repeat_hash(fnv1a64(id.as_bytes()))
    }

    fn is_repeat_hash(&mut self, hash: u64) -> bool {
        if self.capacity == 0 {
            return false;
        }
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

    /// How many ids the window holds.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The hashes in the window, oldest first: what the saved memory keeps
    /// of it (SPEC §6.1).
    pub fn hashes(&self) -> impl Iterator<Item = u64> + '_ {
        let (newer, older) = self.ring.split_at(self.oldest);
        older.iter().chain(newer).copied()
    }

    /// Adds hashes saved by [`DedupeWindow::hashes`], oldest first, as if
    /// their ids were met again in that order.
    pub fn restore(&mut self, hashes: impl IntoIterator<Item = u64>) {
        for hash in hashes {
            self.is_repeat_hash(hash);
        }
    }

    /// Whether `hash` is in the window and stays there while `added` more
    /// distinct ids come in.
    fn holds_after(&self, hash: u64, added: usize) -> bool {
        let Some(slot) = self.find(hash) else {
            return false;
        };
        let position = self.slots[slot] as usize - 1;
        // Its place from the oldest: the oldest ones go first.
        let age = (position + self.capacity - self.oldest) % self.capacity;
        let leaving = (self.ring.len() + added).saturating_sub(self.capacity);
        age >= leaving
    }

    /// The hash's first slot: multiplied by the golden ratio, which spreads
    /// every bit over the high ones (FNV-1a's last bytes reach them
    /// poorly), then scaled from the whole 64-bit range to the table
    /// (Lemire's reduction), so the table can have any size.
    fn home(&self, hash: u64) -> usize {
        let spread = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((u128::from(spread) * self.slots.len() as u128) >> 64) as usize
    }

    fn next(&self, slot: usize) -> usize {
        let next = slot + 1;
        if next == self.slots.len() { 0 } else { next }
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

/// The first pass's view of the window (SPEC §5.1: a duplicate teaches
/// nothing): the main pass's window as it stands before the main pass
/// (empty, or history's, SPEC §6.1) and the ids the first pass has met
/// since, which the main pass will meet in the same order. So the first
/// pass calls a message a duplicate exactly when the main pass will,
/// without a copy of history's window.
#[derive(Debug)]
pub struct Ahead {
    met: DedupeWindow,
}

impl Ahead {
    pub fn new(capacity: usize) -> Ahead {
        Ahead {
            met: DedupeWindow::new(capacity),
        }
    }

    /// Whether `id` will be a duplicate when the main pass reaches it,
    /// `window` being the main pass's window before it starts.
    pub fn is_repeat(&mut self, window: &DedupeWindow, id: &str) -> bool {
        if window.capacity == 0 {
            return false;
        }
        let hash = fnv1a64(id.as_bytes());
        if self.met.find(hash).is_some() || window.holds_after(hash, self.met.len()) {
            return true;
        }
        self.met.is_repeat_hash(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_window_saved_and_restored_holds_the_same_ids_in_the_same_order() {
        let mut window = DedupeWindow::new(3);
        for id in ["a", "b", "c", "d", "b"] {
            window.is_repeat(id);
        }
        let saved: Vec<u64> = window.hashes().collect();
        assert_eq!(saved.len(), 3);
        let mut restored = DedupeWindow::new(3);
        restored.restore(saved);
        for id in ["b", "d", "e", "b", "c", "a", "d"] {
            assert_eq!(restored.is_repeat(id), window.is_repeat(id), "{id}");
        }
        let mut again = DedupeWindow::new(3);
        again.restore(window.hashes().collect::<Vec<_>>());
        assert!(again.is_repeat("d") && !again.is_repeat("e"));
    }

    #[test]
    fn the_first_pass_sees_the_duplicates_the_main_pass_will_see() {
        // A window holding history's ids, then ids met in the new input:
        // the first pass's answers, before the main pass has touched the
        // window, are the main pass's answers when it meets them in turn.
        let mut state = 11u64;
        for capacity in [1, 2, 5, 16] {
            let mut window = DedupeWindow::new(capacity);
            let mut random = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % (capacity as u64 * 3 + 4)).to_string()
            };
            for _ in 0..capacity * 2 {
                window.is_repeat(&random());
            }
            let new: Vec<String> = (0..200).map(|_| random()).collect();
            let mut ahead = Ahead::new(capacity);
            let first_pass: Vec<bool> = new.iter().map(|id| ahead.is_repeat(&window, id)).collect();
            let main_pass: Vec<bool> = new.iter().map(|id| window.is_repeat(id)).collect();
            assert_eq!(first_pass, main_pass, "capacity {capacity}");
        }
        let off = DedupeWindow::new(0);
        assert!(!Ahead::new(0).is_repeat(&off, "a"));
    }
}
