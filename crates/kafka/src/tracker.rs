//! Per-partition contiguous-completion watermarks.
//!
//! Records are scanned in parallel, so they complete out of order. The offset that may be
//! stored (committed) for a partition is the lowest offset still in flight, or one past the
//! highest dispatched offset when nothing is in flight: storing anything higher would lose
//! the unfinished records below it on a crash. Offsets may have gaps (compaction, transaction
//! markers); only dispatched offsets count.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A topic-partition (the topic shared: one allocation per topic, not per record).
pub type TopicPartition = (Arc<str>, i32);

/// Watermarks of every assigned partition.
#[derive(Debug, Default)]
pub struct Tracker {
    partitions: HashMap<TopicPartition, Partition>,
    next_epoch: u64,
    in_flight: usize,
}

#[derive(Debug)]
struct Partition {
    /// Changes on every assignment, so completions of work dispatched under an earlier
    /// assignment are ignored.
    epoch: u64,
    in_flight: BTreeSet<i64>,
    /// One past the highest offset dispatched.
    next: Option<i64>,
    /// The last watermark reported (stored), or where reading started.
    stored: Option<i64>,
}

impl Tracker {
    /// Starts tracking `tp` (a new assignment); returns its epoch.
    pub fn assign(&mut self, tp: TopicPartition) -> u64 {
        self.revoke(&tp);
        self.next_epoch += 1;
        let epoch = self.next_epoch;
        self.partitions.insert(
            tp,
            Partition {
                epoch,
                in_flight: BTreeSet::new(),
                next: None,
                stored: None,
            },
        );
        epoch
    }

    /// Stops tracking `tp`; its in-flight work will be ignored when it completes (and
    /// redelivered to whoever owns the partition next).
    pub fn revoke(&mut self, tp: &TopicPartition) {
        if let Some(p) = self.partitions.remove(tp) {
            self.in_flight -= p.in_flight.len();
        }
    }

    /// The partitions being tracked.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions.keys()
    }

    /// Records that `offset` of `tp` was handed to a worker; returns the epoch to complete it
    /// with, or `None` if `tp` is not assigned.
    pub fn dispatch(&mut self, tp: &TopicPartition, offset: i64) -> Option<u64> {
        let p = self.partitions.get_mut(tp)?;
        if p.in_flight.insert(offset) {
            self.in_flight += 1;
        }
        // The first record read marks where this assignment started: nothing to store below.
        p.stored.get_or_insert(offset);
        p.next = Some(p.next.map_or(offset + 1, |n| n.max(offset + 1)));
        Some(p.epoch)
    }

    /// Records that `offset` of `tp` is done (all its outputs acknowledged). Returns the new
    /// watermark (the next offset to read) if it advanced past the last one returned.
    pub fn complete(&mut self, tp: &TopicPartition, offset: i64, epoch: u64) -> Option<i64> {
        let p = self.partitions.get_mut(tp).filter(|p| p.epoch == epoch)?;
        if !p.in_flight.remove(&offset) {
            return None;
        }
        self.in_flight -= 1;
        let watermark = p.watermark()?;
        if p.stored.is_some_and(|s| s >= watermark) {
            return None;
        }
        p.stored = Some(watermark);
        Some(watermark)
    }

    /// The watermark of `tp`: the next offset to read, everything below it being complete.
    pub fn watermark(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp)?.watermark()
    }

    /// Records dispatched and not completed, across partitions.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Records of `tp` dispatched and not completed.
    pub fn in_flight_of(&self, tp: &TopicPartition) -> usize {
        self.partitions.get(tp).map_or(0, |p| p.in_flight.len())
    }
}

impl Partition {
    fn watermark(&self) -> Option<i64> {
        self.in_flight.first().copied().or(self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        ("dms".into(), p)
    }

    #[test]
    fn out_of_order_completions_advance_only_contiguously() {
        let mut t = Tracker::default();
        let e = t.assign(tp(0));
        for offset in 10..15 {
            assert_eq!(t.dispatch(&tp(0), offset), Some(e));
        }
        assert_eq!(t.in_flight(), 5);
        // (completed offset, expected new watermark)
        let steps = [
            (12, None),
            (11, None),
            (10, Some(13)),
            (14, None),
            (13, Some(15)),
        ];
        for (offset, expected) in steps {
            assert_eq!(
                t.complete(&tp(0), offset, e),
                expected,
                "completing {offset}"
            );
        }
        assert_eq!(t.in_flight(), 0);
        assert_eq!(t.watermark(&tp(0)), Some(15));
    }

    #[test]
    fn gaps_in_offsets_do_not_block() {
        let mut t = Tracker::default();
        let e = t.assign(tp(0));
        t.dispatch(&tp(0), 3);
        t.dispatch(&tp(0), 7);
        assert_eq!(t.complete(&tp(0), 7, e), None);
        assert_eq!(t.complete(&tp(0), 3, e), Some(8));
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = Tracker::default();
        let (e0, e1) = (t.assign(tp(0)), t.assign(tp(1)));
        t.dispatch(&tp(0), 0);
        t.dispatch(&tp(1), 0);
        t.dispatch(&tp(1), 1);
        assert_eq!(t.complete(&tp(1), 0, e1), Some(1));
        assert_eq!(t.in_flight_of(&tp(0)), 1);
        assert_eq!(t.complete(&tp(0), 0, e0), Some(1));
        assert_eq!(t.complete(&tp(1), 1, e1), Some(2));
    }

    #[test]
    fn revoke_mid_flight_ignores_late_completions() {
        let mut t = Tracker::default();
        let old = t.assign(tp(0));
        t.dispatch(&tp(0), 5);
        t.dispatch(&tp(0), 6);
        t.revoke(&tp(0));
        assert_eq!(t.in_flight(), 0);
        assert_eq!(t.dispatch(&tp(0), 7), None, "not assigned");
        assert_eq!(t.complete(&tp(0), 5, old), None);
        // Reassigned: a completion from the old assignment must not move the new watermark.
        let new = t.assign(tp(0));
        assert_ne!(old, new);
        t.dispatch(&tp(0), 6);
        assert_eq!(t.complete(&tp(0), 6, old), None);
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.complete(&tp(0), 6, new), Some(7));
    }

    #[test]
    fn duplicate_completions_and_dispatches_count_once() {
        let mut t = Tracker::default();
        let e = t.assign(tp(0));
        t.dispatch(&tp(0), 1);
        t.dispatch(&tp(0), 1);
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.complete(&tp(0), 1, e), Some(2));
        assert_eq!(t.complete(&tp(0), 1, e), None);
        assert_eq!(t.in_flight(), 0);
    }
}
