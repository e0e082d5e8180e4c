//! Committing: one strategy per delivery mode, chosen once at start-up.
//!
//! - At-least-once: a record's offset is stored once all its outputs are acknowledged
//!   (through the watermarks), and stored offsets are committed on an interval by a commit
//!   thread, on revocation and at shutdown; a failed output is re-sent, its record staying in
//!   flight. Commits carry the crash-loop breaker's marks.
//! - Exactly-once: outputs and offsets are committed in one transaction on an interval (after
//!   draining what is in flight); a failed output fails the transaction, which is aborted and
//!   every partition rewound to its last commit.
//!
//! [`Commits`] makes the decisions (pure, unit-tested); the loop carries them out through
//! the calls below and [`Step`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::{Delivery, KafkaConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, warn};
use vigil_metrics::Metrics;

use super::deliver::Output;
use super::error::RunError;
use crate::breaker::Mark;
use crate::client;
use crate::tracker::TopicPartition;

/// How long transactional and synchronous commit calls may block.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the commit thread looks whether its interval has passed.
const COMMIT_CHECK: Duration = Duration::from_millis(50);

/// The commit strategy of the delivery mode.
#[derive(Debug)]
pub(super) enum Commits {
    /// Offsets stored per record, committed on an interval.
    AtLeastOnce,
    /// Outputs and offsets in one transaction.
    ExactlyOnce(Transaction),
}

/// Exactly-once: the state of the open transaction.
#[derive(Debug)]
pub(super) struct Transaction {
    interval: Duration,
    /// When the transaction is next committed (if there is anything in it).
    next: Instant,
    /// Records were dispatched since the last commit.
    dirty: bool,
    /// An output of the open transaction failed; it must be aborted.
    failed: bool,
}

/// What the loop does at a revocation or at shutdown, once drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Commit the stored offsets; with `release`, commit the partitions' clean-release marks.
    CommitStored {
        /// Whether the partitions are released cleanly (not lost, not crashed).
        release: bool,
    },
    /// Commit the open transaction with the completed offsets.
    CommitTransaction,
    /// The partitions are someone else's already: forget them, abort the transaction and
    /// rewind the rest to their last commit.
    ForgetAndRewind,
    /// Abort the open transaction; what it held is read again by whoever reads next.
    Abort,
}

impl Commits {
    /// The strategy of `kafka.delivery`, its first commit due in `kafka.transaction_interval_ms`.
    pub(super) fn new(k: &KafkaConfig, now: Instant) -> Commits {
        match k.delivery {
            Delivery::AtLeastOnce => Commits::AtLeastOnce,
            Delivery::ExactlyOnce => {
                let interval = Duration::from_millis(k.transaction_interval_ms);
                Commits::ExactlyOnce(Transaction {
                    interval,
                    next: now + interval,
                    dirty: false,
                    failed: false,
                })
            }
        }
    }

    /// The producer's settings: transactional under exactly-once.
    pub(super) fn producer_settings(&self, k: &KafkaConfig, admin_port: u16) -> ClientConfig {
        match self {
            Commits::AtLeastOnce => client::producer(k),
            Commits::ExactlyOnce(_) => {
                client::transactional_producer(k, client::transactional_id(k, admin_port))
            }
        }
    }

    /// Readies `producer`: exactly-once registers the transactional id (fencing a previous
    /// instance) and opens the first transaction.
    pub(super) fn start(&self, producer: &Output) -> Result<(), RunError> {
        if let Commits::ExactlyOnce(_) = self {
            producer
                .init_transactions(CALL_TIMEOUT)
                .map_err(|source| RunError::Setup {
                    what: "transactional producer",
                    source,
                })?;
            begin(producer)?;
        }
        Ok(())
    }

    /// Whether a failed output is re-sent (its record staying in flight) rather than failing
    /// its record.
    pub(super) fn resends(&self) -> bool {
        matches!(self, Commits::AtLeastOnce)
    }

    /// Whether offsets are stored as records complete and committed by the commit thread;
    /// only then do commits carry the crash-loop breaker's marks.
    pub(super) fn stores_offsets(&self) -> bool {
        matches!(self, Commits::AtLeastOnce)
    }

    /// A record was dispatched.
    pub(super) fn dispatched(&mut self) {
        if let Commits::ExactlyOnce(t) = self {
            t.dirty = true;
        }
    }

    /// A record completed, all its outputs acknowledged (`ok`) or not; returns whether it
    /// counts as done for its partition's watermark. At-least-once leaves a failed record in
    /// flight (its watermark stays below it until it is redelivered); exactly-once counts it
    /// but fails the transaction.
    pub(super) fn completed(&mut self, ok: bool) -> bool {
        match self {
            Commits::AtLeastOnce => ok,
            Commits::ExactlyOnce(t) => {
                t.failed |= !ok;
                true
            }
        }
    }

    /// Whether a revocation waits for every partition's records (a transaction holds them
    /// all) rather than only the revoked partitions'.
    pub(super) fn drains_all(&self) -> bool {
        matches!(self, Commits::ExactlyOnce(_))
    }

    /// What a revocation does once drained; `lost`: the partitions were taken without a
    /// revocation (session timeout), so they are already someone else's.
    pub(super) fn on_revoke(&self, lost: bool) -> Step {
        match self {
            Commits::AtLeastOnce => Step::CommitStored { release: !lost },
            Commits::ExactlyOnce(_) if lost => Step::ForgetAndRewind,
            Commits::ExactlyOnce(_) => Step::CommitTransaction,
        }
    }

    /// What shutdown does; `drained`: nothing was left in flight.
    pub(super) fn on_close(&self, drained: bool) -> Step {
        match self {
            Commits::AtLeastOnce => Step::CommitStored { release: true },
            Commits::ExactlyOnce(t) if drained && !t.failed => Step::CommitTransaction,
            Commits::ExactlyOnce(_) => Step::Abort,
        }
    }

    /// Whether the loop commits the transaction now: its interval passed and it holds
    /// records or a failure. An empty transaction is not committed; its interval restarts.
    pub(super) fn due(&mut self, now: Instant) -> bool {
        let Commits::ExactlyOnce(t) = self else {
            return false;
        };
        if now < t.next {
            return false;
        }
        if t.dirty || t.failed {
            return true;
        }
        t.next = now + t.interval;
        false
    }

    /// Whether the open transaction failed (it will be aborted instead of committed).
    pub(super) fn failed(&self) -> bool {
        matches!(self, Commits::ExactlyOnce(t) if t.failed)
    }

    /// The transaction was committed at `now`: empty, the next commit an interval away.
    pub(super) fn committed(&mut self, now: Instant) {
        if let Commits::ExactlyOnce(t) = self {
            t.dirty = false;
            t.next = now + t.interval;
        }
    }

    /// The transaction was aborted: empty and no longer failed.
    pub(super) fn aborted(&mut self) {
        if let Commits::ExactlyOnce(t) = self {
            t.dirty = false;
            t.failed = false;
        }
    }
}

/// What every commit of stored offsets or marks goes through.
pub(super) struct Committer {
    pub(super) metrics: Arc<Metrics>,
    /// At-least-once: offsets were stored since the last commit.
    pub(super) uncommitted: AtomicBool,
    /// Held by every commit: the commit thread's commit of stored offsets must not land
    /// after an explicit commit issued later, or it would overwrite that commit's mark.
    lock: Mutex<()>,
}

impl Committer {
    pub(super) fn new(metrics: Arc<Metrics>) -> Committer {
        Committer {
            metrics,
            uncommitted: AtomicBool::new(false),
            lock: Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Commits stored offsets synchronously; returns whether they are committed (or there
    /// were none). A failure only means redelivery, so it is logged, not fatal.
    pub(super) fn commit_stored<C: ConsumerContext>(&self, consumer: &BaseConsumer<C>) -> bool {
        let _held = self.lock();
        let requested = Instant::now();
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => true,
            result => {
                self.metrics.commit(result.is_ok(), requested.elapsed());
                if let Err(err) = &result {
                    warn!(error = %err, "offset commit failed; uncommitted records would be redelivered");
                }
                result.is_ok()
            }
        }
    }

    /// Commits `positions` (per partition: the next offset to read and its mark)
    /// synchronously, whatever is stored, under the same lock and timing as
    /// [`Committer::commit_stored`].
    pub(super) fn commit_marks<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        positions: &[(TopicPartition, i64, Mark)],
    ) {
        if positions.is_empty() {
            return;
        }
        let tpl = offsets_list(
            positions
                .iter()
                .map(|(tp, offset, mark)| (tp, *offset, *mark)),
        );
        let _held = self.lock();
        let requested = Instant::now();
        let result = consumer.commit(&tpl, CommitMode::Sync);
        self.metrics.commit(result.is_ok(), requested.elapsed());
        if let Err(err) = result {
            warn!(error = %err, "commit of crash-loop marks failed; a crash now would go unnoticed");
        }
    }

    /// At-least-once: commits the stored offsets every `interval` while any were stored
    /// since the last commit. Synchronous, so each commit is timed, and on its own thread,
    /// so a slow or unreachable coordinator never holds up polling (and the health beat).
    pub(super) fn run<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        interval: Duration,
        stop: &AtomicBool,
    ) {
        let step = interval.min(COMMIT_CHECK);
        let mut next = Instant::now() + interval;
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(step);
            if Instant::now() < next {
                continue;
            }
            next = Instant::now() + interval;
            if self.uncommitted.swap(false, Ordering::SeqCst) && !self.commit_stored(consumer) {
                self.uncommitted.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// Stores `advanced` watermarks (the next offsets to read), with each partition's `mark`, for
/// the next commit. `store_offsets` stores exactly what it is given (the deprecated
/// single-message calls add 1), and refuses — per partition, silently — a list naming a
/// partition twice: keep the highest.
pub(super) fn store<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    advanced: &[(TopicPartition, i64)],
    mark: impl Fn(&TopicPartition) -> Mark,
) {
    let latest = highest(advanced);
    if latest.is_empty() {
        return;
    }
    let tpl = offsets_list(
        latest
            .into_iter()
            .map(|(tp, offset)| (tp, offset, mark(tp))),
    );
    let refused = consumer
        .store_offsets(&tpl)
        .err()
        .map(|e| e.to_string())
        .or_else(|| {
            let errors: Vec<String> = tpl
                .elements()
                .iter()
                .filter_map(|e| {
                    e.error()
                        .err()
                        .map(|err| format!("{}/{}: {err}", e.topic(), e.partition()))
                })
                .collect();
            (!errors.is_empty()).then(|| errors.join(", "))
        });
    if let Some(error) = refused {
        // After a revocation the partition is someone else's: they will redeliver.
        debug!(%error, "offset store refused");
    }
}

/// The highest of `advanced` per partition.
fn highest(advanced: &[(TopicPartition, i64)]) -> BTreeMap<&TopicPartition, i64> {
    let mut latest: BTreeMap<&TopicPartition, i64> = BTreeMap::new();
    for (tp, offset) in advanced {
        let entry = latest.entry(tp).or_insert(*offset);
        *entry = (*entry).max(*offset);
    }
    latest
}

/// Offsets (the next to read) with their marks as metadata (none when clean).
fn offsets_list<'a>(
    positions: impl Iterator<Item = (&'a TopicPartition, i64, Mark)>,
) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset, mark) in positions {
        let mut element = tpl.add_partition(topic, *partition);
        let _ = element.set_offset(Offset::Offset(offset));
        if mark != Mark::default() {
            element.set_metadata(mark.encode());
        }
    }
    tpl
}

/// Exactly-once: sends `offsets` (the completed watermarks) into the open transaction and
/// commits it.
pub(super) fn commit_transaction<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    producer: &Output,
    offsets: &TopicPartitionList,
    metrics: &Metrics,
) -> Result<KafkaResult<()>, RunError> {
    let metadata = consumer
        .group_metadata()
        .ok_or_else(|| RunError::Fatal("consumer group metadata unavailable".into()))?;
    let requested = Instant::now();
    let result = match offsets.count() {
        0 => Ok(()),
        _ => producer.send_offsets_to_transaction(offsets, &metadata, CALL_TIMEOUT),
    }
    .and_then(|()| producer.commit_transaction(CALL_TIMEOUT));
    metrics.commit(result.is_ok(), requested.elapsed());
    Ok(result)
}

/// Exactly-once: aborts the open transaction and rewinds every partition to its last
/// committed offset, so the aborted records are read again.
pub(super) fn abort_and_rewind<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    producer: &Output,
    metrics: &Metrics,
) -> Result<(), RunError> {
    metrics.transaction_aborted();
    producer
        .abort_transaction(CALL_TIMEOUT)
        .map_err(|e| RunError::Fatal(format!("cannot abort transaction: {e}")))?;
    let committed = consumer
        .committed(CALL_TIMEOUT)
        .map_err(|e| RunError::Fatal(format!("cannot read committed offsets: {e}")))?;
    let rewind = rewind_points(&committed);
    if rewind.count() > 0 {
        consumer
            .seek_partitions(rewind, CALL_TIMEOUT)
            .map_err(|e| RunError::Fatal(format!("cannot rewind after abort: {e}")))?;
    }
    Ok(())
}

/// Where to rewind after an abort: the committed offsets; partitions with none rewind to the
/// beginning (nothing of theirs was ever committed, so all of it must be read again).
fn rewind_points(committed: &TopicPartitionList) -> TopicPartitionList {
    let mut rewind = TopicPartitionList::new();
    for element in committed.elements() {
        let offset = match element.offset() {
            Offset::Invalid => Offset::Beginning,
            offset => offset,
        };
        let _ = rewind.add_partition_offset(element.topic(), element.partition(), offset);
    }
    rewind
}

/// Exactly-once: opens the next transaction.
pub(super) fn begin(producer: &Output) -> Result<(), RunError> {
    producer
        .begin_transaction()
        .map_err(|e| RunError::Fatal(format!("cannot begin transaction: {e}")))
}

/// Whether a failed transactional call leaves the transaction to be aborted (rather than the
/// producer fenced or broken for good).
pub(super) fn requires_abort(err: &KafkaError) -> bool {
    matches!(err, KafkaError::Transaction(e) if e.txn_requires_abort())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(100);

    fn strategy(delivery: Delivery, now: Instant) -> Commits {
        let k = KafkaConfig {
            delivery,
            transaction_interval_ms: 100,
            ..KafkaConfig::default()
        };
        Commits::new(&k, now)
    }

    #[test]
    fn at_least_once_resends_stores_and_commits_on_its_own_thread() {
        let now = Instant::now();
        let mut commits = strategy(Delivery::AtLeastOnce, now);
        assert!(commits.resends() && commits.stores_offsets());
        // A failed record stays in flight, so its partition's watermark stays below it.
        assert!(!commits.completed(false));
        assert!(commits.completed(true));
        commits.dispatched();
        assert!(!commits.failed());
        // The loop never commits a transaction; the commit thread commits stored offsets.
        assert!(!commits.due(now + 10 * INTERVAL));
        // Revocation waits only for the revoked partitions; a lost one is not released.
        assert!(!commits.drains_all());
        assert_eq!(
            commits.on_revoke(false),
            Step::CommitStored { release: true }
        );
        assert_eq!(
            commits.on_revoke(true),
            Step::CommitStored { release: false }
        );
        for drained in [true, false] {
            assert_eq!(
                commits.on_close(drained),
                Step::CommitStored { release: true }
            );
        }
        let producer =
            strategy(Delivery::AtLeastOnce, now).producer_settings(&KafkaConfig::default(), 9464);
        assert_eq!(producer.get("transactional.id"), None);
    }

    #[test]
    fn exactly_once_commits_on_its_interval_only_what_it_holds() {
        let t0 = Instant::now();
        let mut commits = strategy(Delivery::ExactlyOnce, t0);
        assert!(!commits.resends() && !commits.stores_offsets());
        assert!(!commits.due(t0), "before the interval");
        // Nothing dispatched: not committed, and the interval starts again.
        assert!(!commits.due(t0 + INTERVAL));
        commits.dispatched();
        assert!(!commits.due(t0 + INTERVAL + INTERVAL / 2));
        assert!(commits.due(t0 + 2 * INTERVAL));
        // Still due until it is committed.
        assert!(commits.due(t0 + 3 * INTERVAL));
        commits.committed(t0 + 3 * INTERVAL);
        assert!(!commits.due(t0 + 4 * INTERVAL), "empty again");
        commits.dispatched();
        assert!(commits.due(t0 + 5 * INTERVAL));
        // A transaction holds every partition: revocation drains them all.
        assert!(commits.drains_all());
        assert_eq!(commits.on_revoke(false), Step::CommitTransaction);
        assert_eq!(commits.on_revoke(true), Step::ForgetAndRewind);
        assert_eq!(commits.on_close(true), Step::CommitTransaction);
        assert_eq!(commits.on_close(false), Step::Abort, "not drained");
    }

    #[test]
    fn exactly_once_a_failed_output_fails_the_transaction_until_aborted() {
        let t0 = Instant::now();
        let mut commits = strategy(Delivery::ExactlyOnce, t0);
        assert!(commits.completed(true));
        // The record counts as done (its offset goes with the transaction), but the
        // transaction must be aborted: due even though nothing was dispatched.
        assert!(commits.completed(false));
        assert!(commits.failed());
        assert!(commits.completed(true));
        assert!(commits.failed(), "a later success does not clear it");
        assert!(commits.due(t0 + INTERVAL));
        assert_eq!(commits.on_close(true), Step::Abort);
        commits.aborted();
        assert!(!commits.failed());
        assert!(!commits.due(t0 + INTERVAL), "aborted: nothing left");
        assert_eq!(commits.on_close(true), Step::CommitTransaction);
    }

    #[test]
    fn the_transactional_producer_is_chosen_with_the_strategy() {
        let k = KafkaConfig {
            delivery: Delivery::ExactlyOnce,
            group_id: "scanners".into(),
            transactional_id: "eos-1".into(),
            ..KafkaConfig::default()
        };
        let commits = Commits::new(&k, Instant::now());
        let producer = commits.producer_settings(&k, 9464);
        assert_eq!(producer.get("transactional.id"), Some("eos-1"));
    }

    #[test]
    fn an_abort_rewinds_to_the_commits_or_else_the_beginning() {
        let mut committed = TopicPartitionList::new();
        let _ = committed.add_partition_offset("in", 0, Offset::Offset(42));
        let _ = committed.add_partition_offset("in", 1, Offset::Invalid);
        let rewind = rewind_points(&committed);
        let at = |p| rewind.find_partition("in", p).map(|e| e.offset());
        assert_eq!(at(0), Some(Offset::Offset(42)));
        assert_eq!(at(1), Some(Offset::Beginning));
        assert_eq!(rewind.count(), 2);
    }

    #[test]
    fn stored_offsets_keep_the_highest_per_partition_and_marks_as_metadata() {
        let (a, b): (TopicPartition, TopicPartition) = (("in".into(), 0), ("in".into(), 1));
        let advanced = [
            (a.clone(), 5),
            (b.clone(), 3),
            (a.clone(), 9),
            (a.clone(), 7),
        ];
        let latest = highest(&advanced);
        assert_eq!(latest.get(&a), Some(&9));
        assert_eq!(latest.get(&b), Some(&3));
        assert_eq!(latest.len(), 2);
        let marked = Mark {
            unclean: 1,
            alone: 0,
        };
        let tpl = offsets_list([(&a, 9, Mark::default()), (&b, 3, marked)].into_iter());
        let a_element = tpl.find_partition("in", 0).unwrap();
        assert_eq!(a_element.offset(), Offset::Offset(9));
        assert_eq!(a_element.metadata(), "", "a clean mark writes no metadata");
        let b_element = tpl.find_partition("in", 1).unwrap();
        assert_eq!(b_element.offset(), Offset::Offset(3));
        assert_eq!(Mark::parse(b_element.metadata()), marked);
    }
}
