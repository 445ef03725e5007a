//! Compact storage for the state that grows with the number of distinct
//! people (SPEC §3, §8): ids kept as 64-bit hashes, and id text that many
//! entries share (a company, a linked user) stored once. The user → company
//! memory and stitching's links are built from these.
//!
//! A hash stands for its id: two ids with one 64-bit hash would be taken
//! for one. Among a million ids the chance of any such pair is about one in
//! thirty million.
//!
//! Pure: no I/O.

use std::collections::HashMap;

use crate::fnv::fnv1a64;

/// The 64-bit FNV-1a hash of an id, kept as two halves: a table entry of
/// a key and a `u32` index then packs into 12 bytes, where a `u64` key pads
/// it to 16, and such tables are most of what the run holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u32; 2]);

impl Key {
    pub fn of(id: &str) -> Key {
        let hash = fnv1a64(id.as_bytes());
        Key([hash as u32, (hash >> 32) as u32])
    }

    /// The hash whole, where it is stored in a sorted array rather than a
    /// table, or saved.
    pub fn whole(self) -> u64 {
        u64::from(self.0[0]) | u64::from(self.0[1]) << 32
    }

    /// The key of a hash saved whole.
    pub fn from_whole(hash: u64) -> Key {
        Key([hash as u32, (hash >> 32) as u32])
    }
}

/// Strings stored once each, end to end, and found again by index.
#[derive(Debug, Default)]
pub struct Interned {
    text: String,
    /// String `i` ends at `ends[i]`.
    ends: Vec<usize>,
    /// Hash of a string → its index. A hash collision only costs a second
    /// copy: the text is compared before an index is reused.
    by_key: HashMap<Key, u32>,
}

impl Interned {
    /// The index of `text`, storing it when new.
    pub fn store(&mut self, text: &str) -> u32 {
        let key = Key::of(text);
        if let Some(&index) = self.by_key.get(&key)
            && self.get(index) == text
        {
            return index;
        }
        let index = u32::try_from(self.ends.len()).expect("fewer than 4 billion distinct ids");
        self.text.push_str(text);
        self.ends.push(self.text.len());
        self.by_key.entry(key).or_insert(index);
        index
    }

    /// How many strings are stored.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Every string, by index.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.ends.len()).map(|index| self.get(index as u32))
    }

    /// Stores strings saved by [`Interned::iter`], after those stored;
    /// false when one of them is stored already (they were saved once
    /// each, so the file is damaged).
    pub fn restore(&mut self, text: &str) -> bool {
        let expected = self.ends.len() as u32;
        self.store(text) == expected
    }

    /// The string stored at `index`.
    pub fn get(&self, index: u32) -> &str {
        let index = index as usize;
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.text[start..self.ends[index]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_stored_once_and_found_by_index() {
        let mut interned = Interned::default();
        let a = interned.store("acme");
        let b = interned.store("globex");
        assert_eq!(interned.store("acme"), a);
        assert_ne!(a, b);
        assert_eq!((interned.get(a), interned.get(b)), ("acme", "globex"));
        assert_eq!(interned.text, "acmeglobex");
        assert_eq!(interned.store(""), 2);
        assert_eq!(interned.get(2), "");
    }
}
