//! What ingestion did and where it stands: the records it set aside, by review topic and
//! reason, and on each review-topic partition (from librdkafka's statistics) the console
//! group's committed offset and the records waiting behind it. The console's metrics
//! listener exports them; alerts fire when a record is set aside and when a partition's
//! committed offset stops moving while records wait (a record that cannot be stored, a
//! database that refuses every write).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rdkafka::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::statistics::Statistics;

/// One partition's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionProgress {
    /// The group's committed offset; -1 while nothing was committed.
    pub committed: i64,
    /// Records after the committed offset (before the first commit: after the partition's
    /// first record).
    pub lag: i64,
}

/// Why a review record was set aside instead of stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// Not a flag this console can use (malformed, or failing [`Flag::check`]).
    ///
    /// [`Flag::check`]: vigil_core::Flag::check
    InvalidFlag,
    /// A flag of a schema version this console does not read.
    UnsupportedSchemaVersion,
    /// The database refused the flag's data (SQLSTATE class 22, 23 or 54).
    StoreRefused,
}

impl RejectReason {
    /// Every reason.
    pub const ALL: [RejectReason; 3] = [
        RejectReason::InvalidFlag,
        RejectReason::UnsupportedSchemaVersion,
        RejectReason::StoreRefused,
    ];

    /// The stored and exported code.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidFlag => "invalid_flag",
            RejectReason::UnsupportedSchemaVersion => "unsupported_schema_version",
            RejectReason::StoreRefused => "store_refused",
        }
    }
}

/// What ingestion set aside, and the latest position of every partition the console reads.
/// Cheap to share.
#[derive(Debug, Default)]
pub struct IngestProgress {
    partitions: Mutex<BTreeMap<(String, i32), PartitionProgress>>,
    rejected: Mutex<BTreeMap<(String, RejectReason), u64>>,
    contact_sheet_failures: Mutex<BTreeMap<&'static str, u64>>,
}

impl IngestProgress {
    /// Progress that counts set-aside records from zero for every reason on each of `queues`
    /// (so that the first one shows as an increase).
    pub fn new(queues: &[String]) -> IngestProgress {
        let rejected = queues
            .iter()
            .flat_map(|q| RejectReason::ALL.map(|r| ((q.clone(), r), 0)))
            .collect();
        IngestProgress {
            partitions: Mutex::default(),
            rejected: Mutex::new(rejected),
            contact_sheet_failures: Mutex::default(),
        }
    }

    /// Counts a record of `queue` set aside for `reason`.
    pub(crate) fn rejected(&self, queue: &str, reason: RejectReason) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry((queue.to_string(), reason))
            .or_default() += 1;
    }

    /// Records set aside since start: review topic, reason, count.
    pub fn rejected_counts(&self) -> Vec<(String, RejectReason, u64)> {
        self.rejected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|((queue, reason), n)| (queue.clone(), *reason, *n))
            .collect()
    }

    /// Counts a flagged video whose contact sheet failed for `reason` (a reason code).
    pub(crate) fn contact_sheet_failed(&self, reason: &'static str) {
        *self
            .contact_sheet_failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    /// Contact sheets that failed since start: reason, count.
    pub fn contact_sheet_failures(&self) -> Vec<(&'static str, u64)> {
        self.contact_sheet_failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|(reason, n)| (*reason, *n))
            .collect()
    }

    /// Every assigned partition: topic, partition, position.
    pub fn snapshot(&self) -> Vec<(String, i32, PartitionProgress)> {
        self.partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|((topic, partition), p)| (topic.clone(), *partition, *p))
            .collect()
    }

    fn update(&self, statistics: &Statistics) {
        let now: BTreeMap<(String, i32), PartitionProgress> = statistics
            .topics
            .iter()
            .flat_map(|(topic, t)| {
                t.partitions
                    .values()
                    .filter(|p| p.partition >= 0 && p.desired)
                    .filter_map(move |p| {
                        let end = if p.ls_offset >= 0 {
                            p.ls_offset
                        } else {
                            p.hi_offset
                        };
                        let progress =
                            position(p.committed_offset, p.consumer_lag, end, p.lo_offset)?;
                        Some(((topic.clone(), p.partition), progress))
                    })
            })
            .collect();
        *self
            .partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = now;
    }
}

/// A partition's position from librdkafka's figures (negative: unknown). librdkafka reports
/// no lag before the group's first commit, which is exactly when a partition stuck on its
/// first record needs one: then it is the records since the partition's start.
fn position(committed: i64, lag: i64, end: i64, start: i64) -> Option<PartitionProgress> {
    let lag = if lag >= 0 {
        lag
    } else if committed < 0 && end >= 0 && start >= 0 {
        end - start
    } else {
        return None;
    };
    Some(PartitionProgress {
        committed: committed.max(-1),
        lag: lag.max(0),
    })
}

/// The review consumer's context: its statistics update an [`IngestProgress`].
pub(crate) struct ProgressContext(pub(crate) Arc<IngestProgress>);

impl ClientContext for ProgressContext {
    fn stats(&self, statistics: Statistics) {
        self.0.update(&statistics);
    }
}

impl ConsumerContext for ProgressContext {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_is_known_from_the_lag_or_before_the_first_commit_from_the_start() {
        let known = |committed, lag| Some(PartitionProgress { committed, lag });
        let cases = [
            // (committed, librdkafka's lag, end, start) -> position
            ((40, 2, 42, 0), known(40, 2)),
            ((42, 0, 42, 0), known(42, 0)),
            // Nothing committed yet (librdkafka says -1001 and no lag): all since the start.
            ((-1001, -1, 42, 10), known(-1, 32)),
            // Watermarks not fetched yet: unknown, not zero.
            ((-1001, -1, -1001, -1001), None),
            ((40, -1, 42, 0), None),
        ];
        for ((committed, lag, end, start), want) in cases {
            assert_eq!(
                position(committed, lag, end, start),
                want,
                "{committed} {lag} {end} {start}"
            );
        }
    }
}
