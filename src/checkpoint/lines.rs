//! Sets of line numbers as ranges: the shape in which a checkpoint keeps
//! handled lines, so that a million lines past a waiting one cost a few
//! numbers.

/// A set of line numbers, as sorted, disjoint, non-adjacent inclusive
/// ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineSet {
    pub(super) ranges: Vec<[u64; 2]>,
}

impl LineSet {
    /// Lines 1 to `last`, less `except` (ascending).
    pub(super) fn up_to_except(last: u64, except: impl Iterator<Item = u64>) -> LineSet {
        let mut ranges = Vec::new();
        let mut next = 1;
        for line in except.filter(|&line| line <= last) {
            if line > next {
                ranges.push([next, line - 1]);
            }
            next = next.max(line + 1);
        }
        if next <= last {
            ranges.push([next, last]);
        }
        LineSet { ranges }
    }

    pub(super) fn normalized(mut ranges: Vec<[u64; 2]>) -> LineSet {
        ranges.retain(|[first, last]| first <= last);
        ranges.sort_unstable();
        let mut merged: Vec<[u64; 2]> = Vec::with_capacity(ranges.len());
        for [first, last] in ranges {
            match merged.last_mut() {
                Some(previous) if first <= previous[1].saturating_add(1) => {
                    previous[1] = previous[1].max(last);
                }
                _ => merged.push([first, last]),
            }
        }
        LineSet { ranges: merged }
    }

    pub(super) fn union(&self, other: &LineSet) -> LineSet {
        LineSet::normalized(self.ranges.iter().chain(&other.ranges).copied().collect())
    }

    /// The lines of this set that are not in `other`.
    pub(super) fn minus(&self, other: &LineSet) -> LineSet {
        let mut ranges = Vec::new();
        let mut others = other.ranges.iter().peekable();
        for &[first, last] in &self.ranges {
            let mut from = first;
            // Ranges of `other` wholly before this one are behind us for good.
            while others.next_if(|[_, end]| *end < from).is_some() {}
            for &[cut_first, cut_last] in others.clone() {
                if cut_first > last {
                    break;
                }
                if cut_first > from {
                    ranges.push([from, cut_first - 1]);
                }
                from = from.max(cut_last.saturating_add(1));
                if from > last {
                    break;
                }
            }
            if from <= last {
                ranges.push([from, last]);
            }
        }
        LineSet { ranges }
    }

    /// The set of these lines (ascending).
    pub(super) fn of_lines(lines: &[u64]) -> LineSet {
        LineSet::normalized(lines.iter().map(|&line| [line, line]).collect())
    }

    /// Whether `line` is in the set.
    pub fn contains(&self, line: u64) -> bool {
        let after = self.ranges.partition_point(|[first, _]| *first <= line);
        after > 0 && self.ranges[after - 1][1] >= line
    }

    /// How many lines the set holds.
    pub fn count(&self) -> u64 {
        self.ranges
            .iter()
            .map(|[first, last]| last - first + 1)
            .sum()
    }

    /// The leading lines: `n` when lines 1 to `n` are all in the set.
    pub(super) fn prefix(&self) -> u64 {
        match self.ranges.first() {
            Some([1, last]) => *last,
            _ => 0,
        }
    }

    pub(super) fn beyond_prefix(&self) -> Vec<[u64; 2]> {
        let skip = usize::from(self.prefix() > 0);
        self.ranges[skip..].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[[u64; 2]]) -> LineSet {
        LineSet::normalized(ranges.to_vec())
    }

    #[test]
    fn handled_lines_are_those_mapped_and_not_waiting() {
        let lines = LineSet::up_to_except(10, [3, 4, 7].into_iter());
        assert_eq!(lines, set(&[[1, 2], [5, 6], [8, 10]]));
        assert_eq!(lines.prefix(), 2);
        assert_eq!(lines.beyond_prefix(), [[5, 6], [8, 10]]);
        assert_eq!(lines.count(), 7);
        assert!(lines.contains(1) && lines.contains(6) && lines.contains(10));
        assert!(!lines.contains(3) && !lines.contains(7) && !lines.contains(11));
        // A waiting message past the last mapped line changes nothing.
        assert_eq!(LineSet::up_to_except(4, [1, 9].into_iter()), set(&[[2, 4]]));
        assert_eq!(LineSet::up_to_except(0, std::iter::empty()), set(&[]));
        assert_eq!(
            set(&[[1, 2], [3, 5], [9, 9], [4, 6]]),
            set(&[[1, 6], [9, 9]])
        );
        assert_eq!(set(&[[1, 2]]).union(&set(&[[4, 5]])).prefix(), 2);
    }

    #[test]
    fn sets_subtract_range_by_range() {
        let a = set(&[[1, 10], [20, 30]]);
        let b = set(&[[3, 4], [8, 22], [25, 25], [29, 40]]);
        assert_eq!(a.minus(&b), set(&[[1, 2], [5, 7], [23, 24], [26, 28]]));
        assert_eq!(a.minus(&LineSet::default()), a);
        assert_eq!(LineSet::default().minus(&a), LineSet::default());
        assert_eq!(a.minus(&a), LineSet::default());
        // A brute-force check on small sets.
        for mask in 0u32..256 {
            let x = LineSet::up_to_except(8, (1..=8).filter(|l| mask & (1 << (l - 1)) != 0));
            let y = LineSet::up_to_except(8, (1..=8).filter(|l| mask & (1 << (8 - l)) == 0));
            for line in 0..=9 {
                let (in_x, in_y) = (x.contains(line), y.contains(line));
                assert_eq!(x.minus(&y).contains(line), in_x && !in_y, "{mask} {line}");
            }
        }
    }
}
