//! A user's company history kept as its *changes* (SPEC §5.1): its
//! associations in time order (equal times: input order), of which only
//! the first and each one that names another company than the one before
//! it are kept. The as-of rule gives the same company on the changes as on
//! every association, so memory grows with users and changes, not with
//! group calls.
//!
//! The changes of every user sit in blocks sorted by user, then time, so
//! that one is found by binary search, a merge reads them in order, and a
//! block's memory goes back as soon as a merge has read past it. Blocks are
//! also the pieces the saved memory is written in (SPEC §6.1).
//!
//! Pure: no I/O.

use serde::{Deserialize, Serialize};

/// An association as learned: a user (its key's 64-bit hash), a company
/// (its index among the interned companies), the time of its message
/// (milliseconds, [`NO_TIME`] for none) and its place in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Association {
    pub user: u64,
    pub time: i64,
    /// Its place among the associations, in input order. 0 is history's
    /// (changes saved by an earlier run), which comes before every one
    /// learned since; learned ones count from 1.
    pub order: u32,
    pub company: u32,
}

/// An association's time when its message had none that parses: earlier
/// than every time (SPEC §5.1). Real times start at year 0.
pub const NO_TIME: i64 = i64::MIN;

impl Association {
    /// The order of the merge: by user, then time, then input order.
    pub fn key(&self) -> (u64, i64, u32) {
        (self.user, self.time, self.order)
    }
}

/// About this many changes a block, so that a merge holds one block more
/// than it keeps and a saved piece stays small. A user's changes are never
/// split between blocks, so a block can be longer.
const BLOCK: usize = 1 << 16;

/// Changes of many users, sorted by user, then time, then input order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    users: Vec<u64>,
    times: Vec<i64>,
    companies: Vec<u32>,
}

impl Block {
    fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether it is in order and names only companies below `companies`:
    /// what a block read from a file must be before it is used.
    pub fn is_valid(&self, companies: u32) -> bool {
        let same_len = self.times.len() == self.len() && self.companies.len() == self.len();
        same_len
            && self.companies.iter().all(|&c| c < companies)
            && (1..self.len())
                .all(|i| (self.users[i - 1], self.times[i - 1]) <= (self.users[i], self.times[i]))
    }
}

/// Every user's changes.
#[derive(Debug, Default)]
pub struct Changes {
    blocks: Vec<Block>,
    len: usize,
}

impl Changes {
    /// How many changes are kept.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The blocks, in order: what the saved memory writes.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Adds a block read back from the saved memory, after the ones before
    /// it; false when it does not follow them in order.
    pub fn push_block(&mut self, block: Block) -> bool {
        let follows = match (self.blocks.last(), block.users.first()) {
            (Some(last), Some(first)) => last.users.last().is_some_and(|l| l < first),
            _ => true,
        };
        if follows && block.len() > 0 {
            self.len += block.len();
            self.blocks.push(block);
        }
        follows
    }

    /// The changes of `user`, oldest first, as (time, company).
    pub fn of(&self, user: u64) -> impl Iterator<Item = (i64, u32)> + '_ {
        let index = self
            .blocks
            .partition_point(|block| block.users.last().is_some_and(|&last| last < user));
        let block = self.blocks.get(index);
        let (start, end) = block.map_or((0, 0), |block| {
            let start = block.users.partition_point(|&u| u < user);
            let end = block.users.partition_point(|&u| u <= user);
            (start, end)
        });
        (start..end).filter_map(move |i| {
            let block = block?;
            Some((block.times[i], block.companies[i]))
        })
    }

    /// The changes as associations of history (order 0), in merge order,
    /// each block let go once read.
    pub fn into_associations(self) -> impl Iterator<Item = Association> {
        self.blocks.into_iter().flat_map(|block| {
            let Block {
                users,
                times,
                companies,
            } = block;
            users
                .into_iter()
                .zip(times)
                .zip(companies)
                .map(|((user, time), company)| Association {
                    user,
                    time,
                    order: 0,
                    company,
                })
        })
    }

    /// Reduces associations in merge order (by user, then time, then input
    /// order) to changes: a user's first, and each that names another
    /// company than the one before it.
    pub fn reduce(sorted: impl Iterator<Item = Association>) -> Changes {
        let mut changes = Changes::default();
        let mut block = Block::default();
        let mut previous: Option<(u64, u32)> = None;
        for association in sorted {
            let Association { user, company, .. } = association;
            if previous == Some((user, company)) {
                continue;
            }
            let new_user = previous.is_none_or(|(last, _)| last != user);
            if new_user && block.len() >= BLOCK {
                changes.len += block.len();
                changes.blocks.push(std::mem::take(&mut block));
            }
            block.users.push(user);
            block.times.push(association.time);
            block.companies.push(company);
            previous = Some((user, company));
        }
        if block.len() > 0 {
            changes.len += block.len();
            block.users.shrink_to_fit();
            block.times.shrink_to_fit();
            block.companies.shrink_to_fit();
            changes.blocks.push(block);
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn association(user: u64, time: i64, order: u32, company: u32) -> Association {
        Association {
            user,
            time,
            order,
            company,
        }
    }

    #[test]
    fn only_the_first_and_each_change_of_company_are_kept() {
        let sorted = [
            association(1, 10, 1, 0),
            association(1, 20, 2, 0),
            association(1, 30, 3, 1),
            association(1, 40, 4, 1),
            association(1, 50, 5, 0),
            association(2, 5, 6, 0),
            association(2, 6, 7, 0),
        ];
        let changes = Changes::reduce(sorted.into_iter());
        assert_eq!(changes.len(), 4);
        assert_eq!(
            changes.of(1).collect::<Vec<_>>(),
            [(10, 0), (30, 1), (50, 0)]
        );
        assert_eq!(changes.of(2).collect::<Vec<_>>(), [(5, 0)]);
        assert_eq!(changes.of(3).count(), 0);
        assert_eq!(changes.of(0).count(), 0);
    }

    #[test]
    fn a_user_is_never_split_between_blocks_and_is_found_in_any() {
        // Two changes for each of many users: blocks cut only between users.
        let sorted = (0..BLOCK as u64 + 10).flat_map(|user| {
            [
                association(user * 2, 1, 1, 0),
                association(user * 2, 2, 2, 1),
            ]
        });
        let changes = Changes::reduce(sorted);
        assert!(changes.blocks.len() >= 2);
        for block in &changes.blocks {
            assert!(block.is_valid(2));
            assert_eq!(block.len() % 2, 0, "a user's two changes together");
        }
        for user in [0, 2 * (BLOCK as u64 / 2), 2 * (BLOCK as u64 + 9)] {
            assert_eq!(changes.of(user).collect::<Vec<_>>(), [(1, 0), (2, 1)]);
            assert_eq!(changes.of(user + 1).count(), 0);
        }
        let back: Vec<Association> = changes.into_associations().collect();
        assert_eq!(back.len(), 2 * (BLOCK + 10));
        assert!(back.iter().all(|a| a.order == 0));
    }

    #[test]
    fn blocks_read_back_must_follow_each_other_and_be_in_order() {
        let changes = Changes::reduce((0..4).map(|user| association(user, 0, 1, 0)));
        let block = changes.blocks()[0].clone();
        let mut again = Changes::default();
        assert!(again.push_block(block.clone()));
        assert!(!again.push_block(block.clone()), "not after itself");
        assert!(!block.is_valid(0), "names a company not stored");
        let mut shuffled = block;
        shuffled.users.swap(0, 1);
        assert!(!shuffled.is_valid(1));
    }
}
