//! Messages that Planhat receives as two items (SPEC §11): an activity (or
//! receiver body) and a metric, sent in different requests that settle at
//! different times. A message whose activity or metric fails goes to the
//! failed file once, and only when both are settled: the first failure waits
//! here for the other item. Writing it earlier would write it twice after a
//! crash or Ctrl-C between the two, since the line is not handled until both
//! are settled and a rerun sends it again.

use std::collections::VecDeque;

use super::ItemFailure;
use crate::planhat::Origin;

/// The messages with two items not both settled, in input order.
#[derive(Debug, Default)]
pub struct Pairs {
    waiting: VecDeque<Pair>,
}

#[derive(Debug)]
struct Pair {
    origin: Origin,
    /// How many of its two items are settled.
    settled: u8,
    /// The failure of the item that settled first, if it failed.
    failure: Option<ItemFailure>,
    /// Whether the item that settled first was the metric.
    first_metric: bool,
}

impl Pairs {
    /// The message at `origin` is about to be sent as two items. Messages
    /// come in input order, so the queue stays sorted.
    pub fn add(&mut self, origin: Origin) {
        self.waiting.push_back(Pair {
            origin,
            settled: 0,
            failure: None,
            first_metric: false,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// One item of the message at `origin` settled, delivered (`None`) or
    /// failed; `metric` says whether it was the metric. Returns the failure
    /// to write to the failed file now, if any: for a message of one item
    /// its own; for a pair, once both items are settled, the first failure
    /// of the two.
    pub fn settle(
        &mut self,
        origin: Origin,
        metric: bool,
        failure: Option<&ItemFailure>,
    ) -> Option<ItemFailure> {
        let Ok(index) = self
            .waiting
            .binary_search_by_key(&origin, |pair| pair.origin)
        else {
            return failure.cloned();
        };
        let pair = &mut self.waiting[index];
        pair.settled += 1;
        if pair.settled == 1 {
            pair.failure = failure.cloned();
            pair.first_metric = metric;
            return None;
        }
        let failure = pair.failure.take().or_else(|| failure.cloned());
        // Both routes settle in input order, so finished pairs gather at the
        // front.
        while self.waiting.front().is_some_and(|pair| pair.settled == 2) {
            self.waiting.pop_front();
        }
        failure
    }
}

impl Pairs {
    /// The messages whose first settled item failed and waits here for the
    /// other, with whether it was the metric: that item is not settled for
    /// a checkpoint, since its failure is not yet written anywhere.
    pub fn held(&self) -> impl Iterator<Item = (Origin, bool)> + '_ {
        self.waiting
            .iter()
            .filter(|pair| pair.settled == 1 && pair.failure.is_some())
            .map(|pair| (pair.origin, pair.first_metric))
    }

    /// The messages whose metric is settled, delivered, and their other
    /// item not yet: a rerun sends only that other item.
    pub fn metric_settled(&self) -> impl Iterator<Item = Origin> + '_ {
        self.waiting
            .iter()
            .filter(|pair| pair.settled == 1 && pair.first_metric && pair.failure.is_none())
            .map(|pair| pair.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u64) -> Origin {
        Origin {
            source: 0,
            line,
            message: 0,
        }
    }

    fn failure(reason: &str) -> ItemFailure {
        ItemFailure {
            index: 0,
            reason: reason.into(),
            status: Some(400),
            message: String::new(),
        }
    }

    #[test]
    fn a_single_item_message_writes_its_own_failure_at_once() {
        let mut pairs = Pairs::default();
        pairs.add(at(2));
        assert_eq!(
            pairs
                .settle(at(1), false, Some(&failure("http_400")))
                .unwrap()
                .reason,
            "http_400"
        );
        assert_eq!(pairs.settle(at(3), false, None), None);
    }

    #[test]
    fn a_pair_writes_once_after_both_settle_whichever_failed() {
        let mut pairs = Pairs::default();
        for line in 1..=3 {
            pairs.add(at(line));
        }
        // Line 1: both fail; the first failure is the one written.
        assert_eq!(pairs.settle(at(1), false, Some(&failure("http_400"))), None);
        // Line 2: only the metric (settling second) fails.
        assert_eq!(pairs.settle(at(2), false, None), None);
        // Line 3: only the activity (settling first) fails.
        assert_eq!(pairs.settle(at(3), false, Some(&failure("http_422"))), None);
        let first = pairs.settle(at(1), false, Some(&failure("http_413")));
        assert_eq!(first.unwrap().reason, "http_400");
        assert_eq!(
            pairs
                .settle(at(2), false, Some(&failure("http_503")))
                .unwrap()
                .reason,
            "http_503"
        );
        assert_eq!(pairs.settle(at(3), false, None).unwrap().reason, "http_422");
        assert!(pairs.is_empty(), "finished pairs are let go");
    }

    #[test]
    fn a_held_failure_keeps_its_item_unsettled() {
        let mut pairs = Pairs::default();
        pairs.add(at(1));
        pairs.add(at(2));
        pairs.settle(at(1), false, Some(&failure("http_400")));
        pairs.settle(at(2), true, None);
        assert_eq!(pairs.held().collect::<Vec<_>>(), [(at(1), false)]);
        pairs.settle(at(1), true, None);
        assert_eq!(pairs.held().count(), 0);
    }
}
