//! The consume → scan → produce loop.
//!
//! One poll thread owns the consumer: it polls, hands records to a pool of scanning threads,
//! applies completions to the per-partition watermarks and stores offsets; it never scans.
//! Scanning threads run the pipeline and produce each record's outputs; the last delivery
//! report of a record completes it. Rebalance (revoke) and shutdown share one drain path.
//! Backpressure: past `max_in_flight` records the assignment is paused, and resumed at half.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use time::OffsetDateTime;
use tracing::{debug, error, info, warn};
use vigil_core::config::Delivery;
use vigil_core::{Config, ReasonCode, Source};
use vigil_metrics::{Metrics, OutputKind, RuntimeGauges};
use vigil_scan::{Outcome, SharedPipeline, Trace};

use crate::Health;
use crate::access::{AccessError, check_access};
use crate::breaker::{self, Guard, Mark, Mode};
use crate::client;
use crate::records::{InputRecord, OutputRecord, outputs};
use crate::tracker::{TopicPartition, Tracker};

/// Why the runtime stopped with an error. Retrying by restarting the process is always safe:
/// nothing is committed that was not completed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A Kafka client could not be created or configured (check `[kafka]` / `[kafka.client]`).
    #[error("cannot set up the Kafka {what}: {source}")]
    Setup {
        /// Which client or call.
        what: &'static str,
        /// The client error.
        source: KafkaError,
    },
    /// An unrecoverable client error (e.g. the transactional producer was fenced).
    #[error("fatal Kafka error: {0}")]
    Fatal(String),
    /// The brokers refused the TLS or SASL settings at start-up.
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// How long transactional and synchronous commit calls may block.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between re-sends of an output whose delivery failed (at-least-once).
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// Most records taken from the consumer per loop iteration.
const POLL_BATCH: usize = 512;
/// How long one poll may block when idle; bounds how stale the health beat gets.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long one poll may block while records are in flight or waiting, so completions free
/// dispatch slots promptly.
const BUSY_POLL_INTERVAL: Duration = Duration::from_millis(2);

struct Completion {
    tp: TopicPartition,
    offset: i64,
    epoch: u64,
    ok: bool,
}

struct Job {
    record: InputRecord,
    epoch: u64,
    /// The crash-loop breaker condemned the record: dead-letter it without scanning.
    poison: bool,
}

/// All outputs of one input record; the last delivery report completes the record.
struct Pending {
    tp: TopicPartition,
    offset: i64,
    epoch: u64,
    records: Vec<OutputRecord>,
    remaining: AtomicUsize,
    failed: AtomicBool,
}

impl Pending {
    fn settle(&self, ok: bool, completions: &Sender<Completion>) {
        if !ok {
            self.failed.store(true, Ordering::SeqCst);
        }
        if self.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            let _ = completions.send(Completion {
                tp: self.tp.clone(),
                offset: self.offset,
                epoch: self.epoch,
                ok: !self.failed.load(Ordering::SeqCst),
            });
        }
    }
}

type Retry = (Arc<Pending>, usize);

struct DeliveryContext {
    delivery: Delivery,
    completions: Sender<Completion>,
    retries: Sender<Retry>,
    metrics: Arc<Metrics>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Retry>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let (pending, index) = *opaque;
        let kind = pending.records[index].kind;
        match result {
            Ok(_) => {
                self.metrics.output_delivered(kind);
                pending.settle(true, &self.completions);
            }
            Err((err, _)) => {
                let topic = &pending.records[index].topic;
                warn!(%topic, error = %err, "output delivery failed");
                self.metrics.producer_error(kind);
                self.failed(pending, index);
            }
        }
    }
}

impl DeliveryContext {
    /// At-least-once re-sends until delivered (the record's offset stays unstored meanwhile);
    /// exactly-once fails the record, which aborts the transaction.
    fn failed(&self, pending: Arc<Pending>, index: usize) {
        match self.delivery {
            Delivery::AtLeastOnce => {
                let _ = self.retries.send((pending, index));
            }
            Delivery::ExactlyOnce => pending.settle(false, &self.completions),
        }
    }
}

type Output = ThreadedProducer<DeliveryContext>;

/// Enqueues output `index` of `pending`, waiting while the producer queue is full.
fn send(producer: &Output, pending: &Arc<Pending>, index: usize) {
    let record = &pending.records[index];
    let mut base = BaseRecord::with_opaque_to(&record.topic, Box::new((pending.clone(), index)))
        .payload(&record.payload);
    // Verdicts have no headers: an empty native header list would still cost an allocation.
    if !record.headers.is_empty() {
        base = base.headers(record.headers.iter().fold(
            OwnedHeaders::new_with_capacity(record.headers.len()),
            |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value),
                })
            },
        ));
    }
    if let Some(key) = &record.key {
        base = base.key(key);
    }
    loop {
        match producer.send(base) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                base = returned;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((err, returned)) => {
                warn!(topic = %record.topic, error = %err, "cannot enqueue output");
                producer.context().metrics.producer_error(record.kind);
                let (pending, index) = *returned.delivery_opaque;
                producer.context().failed(pending, index);
                return;
            }
        }
    }
}

struct LoopState {
    tracker: Tracker,
    /// Records polled but not yet dispatched (dispatch is bounded by `max_in_flight`). Not in
    /// the tracker, so never stored: dropping them (revocation, rewind, shutdown) only means
    /// they are read again.
    waiting: VecDeque<InputRecord>,
    /// Size of `waiting`, counted by [`buffered_size`].
    waiting_bytes: u64,
    completions: Receiver<Completion>,
    paused: bool,
    /// Exactly-once: an output of the open transaction failed; it must be aborted.
    txn_failed: bool,
    /// Exactly-once: records were dispatched since the last commit.
    txn_dirty: bool,
    /// Shutting down: the final commit is done; revocations only forget partitions.
    closing: bool,
    /// The crash-loop breaker's state of each assigned partition (at-least-once, when on).
    guards: HashMap<TopicPartition, Guard>,
}

struct RunContext {
    state: Mutex<LoopState>,
    delivery: Delivery,
    drain_timeout: Duration,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    producer: Arc<Output>,
    /// At-least-once: offsets were stored since the last commit.
    uncommitted: AtomicBool,
    /// At-least-once: the crash-loop breaker, unless `kafka.crash_loop_limit` is 0.
    breaker: Option<breaker::Settings>,
    /// Whether a partition without a committed offset starts at its beginning.
    from_earliest: bool,
    /// Held by every commit: the commit thread's commit of stored offsets must not land
    /// after an explicit commit issued later, or it would overwrite that commit's mark.
    commit_lock: Mutex<()>,
}

impl ClientContext for RunContext {
    /// librdkafka statistics (every `statistics.interval.ms`): consumer lag per partition.
    fn stats(&self, statistics: Statistics) {
        let lags: Vec<(&str, i32, i64)> = statistics
            .topics
            .iter()
            .flat_map(|(topic, t)| {
                t.partitions
                    .values()
                    .filter(|p| p.partition >= 0 && p.desired && p.consumer_lag >= 0)
                    .map(move |p| (topic.as_str(), p.partition, p.consumer_lag))
            })
            .collect();
        self.metrics.set_lag(lags);
        let up = statistics
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP");
        self.health.set_brokers_reachable(up);
    }
}

impl RunContext {
    fn state(&self) -> MutexGuard<'_, LoopState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn commit_lock(&self) -> MutexGuard<'_, ()> {
        self.commit_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The crash-loop breaker on newly `assigned` partitions: reads the marks committed
    /// there, sets up their guards and commits one more start on each.
    fn guard(
        &self,
        consumer: &BaseConsumer<Self>,
        assigned: &TopicPartitionList,
        state: &mut LoopState,
    ) {
        let Some(settings) = self.breaker else {
            return;
        };
        let committed = match consumer.committed_offsets(assigned.clone(), CALL_TIMEOUT) {
            Ok(committed) => committed,
            Err(err) => {
                let effect = "no crash-loop breaker on these partitions";
                return warn!(error = %err, "cannot read committed offsets; {effect}");
            }
        };
        let mut marks = Vec::new();
        for element in committed.elements() {
            let (topic, partition) = (element.topic(), element.partition());
            let found = Mark::parse(element.metadata());
            let committed_at = match element.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            };
            let needs_end = committed_at.is_none() || Guard::needs_log_end(found);
            let bounds = if needs_end {
                let bounds = consumer.fetch_watermarks(topic, partition, CALL_TIMEOUT);
                if let Err(err) = &bounds {
                    warn!(topic, partition, error = %err, "cannot read the partition's offsets");
                }
                bounds.ok()
            } else {
                None
            };
            let start = match (committed_at, bounds) {
                (Some(offset), _) => offset,
                (None, Some((low, high))) => {
                    if self.from_earliest {
                        low
                    } else {
                        high
                    }
                }
                (None, None) => continue,
            };
            // Only consulted after unclean starts; unknown then: careful until released.
            let log_end = bounds.map_or(i64::MAX, |(_, high)| high);
            let guard = Guard::new(start, found, log_end, settings);
            if guard.mode() != Mode::Normal {
                warn!(
                    topic,
                    partition,
                    offset = start,
                    unclean_starts = found.unclean,
                    mode = ?guard.mode(),
                    "earlier reads of this partition ended without a clean release; \
                     reading it carefully"
                );
            }
            if guard.is_poison(start) {
                error!(
                    topic,
                    partition,
                    offset = start,
                    crashes = found.alone,
                    "this record ended vigil processes while scanned alone; \
                     dead-lettering it unscanned"
                );
            }
            let tp: TopicPartition = (Arc::from(topic), partition);
            marks.push((tp.clone(), start, guard.start_mark()));
            state.guards.insert(tp, guard);
        }
        commit_marks(consumer, &marks);
    }
}

impl ConsumerContext for RunContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let lost = consumer.assignment_lost();
        self.metrics.rebalance(if lost { "lost" } else { "revoke" });
        let revoked: Vec<TopicPartition> = tpl
            .elements()
            .iter()
            .map(|e| (Arc::from(e.topic()), e.partition()))
            .collect();
        let mut state = self.state();
        if !state.closing {
            let deadline = Instant::now() + self.drain_timeout;
            let outcome = match self.delivery {
                Delivery::AtLeastOnce => {
                    state.drain(consumer, self.delivery, deadline, |t| {
                        revoked.iter().all(|tp| t.in_flight_of(tp) == 0)
                    });
                    commit_stored(consumer, &self.metrics);
                    if !lost {
                        state.release(consumer, &revoked);
                    }
                    Ok(())
                }
                Delivery::ExactlyOnce => {
                    state.drain(consumer, self.delivery, deadline, |t| t.in_flight() == 0);
                    if lost {
                        for tp in &revoked {
                            state.tracker.revoke(tp);
                        }
                        state.abort_and_rewind(consumer, &self.producer, &self.metrics)
                    } else {
                        state.commit_transaction(consumer, &self.producer, &self.metrics)
                    }
                }
            };
            if let Err(err) = outcome {
                error!(error = %err, "commit on revocation failed");
                self.health.set_failed(err.to_string());
            }
        }
        for tp in &revoked {
            state.tracker.revoke(tp);
            state.guards.remove(tp);
        }
        state.waiting.retain(|r| {
            !revoked
                .iter()
                .any(|(t, p)| *t == r.topic && *p == r.partition)
        });
        state.waiting_bytes = state.waiting.iter().map(buffered_size).sum();
        info!(partitions = ?revoked, "partitions revoked");
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let mut state = self.state();
                let assigned: Vec<TopicPartition> = tpl
                    .elements()
                    .iter()
                    .map(|e| (Arc::from(e.topic()), e.partition()))
                    .collect();
                for tp in &assigned {
                    state.tracker.assign(tp.clone());
                }
                self.guard(consumer, tpl, &mut state);
                if state.paused
                    && tpl.count() > 0
                    && let Err(err) = consumer.pause(tpl)
                {
                    warn!(error = %err, "cannot pause newly assigned partitions");
                }
                self.health.set_joined();
                self.metrics.rebalance("assign");
                info!(partitions = ?assigned, "partitions assigned");
            }
            Rebalance::Revoke(_) => self.health.set_joined(),
            Rebalance::Error(err) => warn!(error = %err, "rebalance error"),
        }
    }
}

impl LoopState {
    /// Applies one completion; returns the partition's new watermark if it advanced.
    fn apply(&mut self, done: Completion, delivery: Delivery) -> Option<(TopicPartition, i64)> {
        if !done.ok {
            match delivery {
                // Left in flight: the partition's watermark stays below it until redelivery.
                Delivery::AtLeastOnce => return None,
                Delivery::ExactlyOnce => self.txn_failed = true,
            }
        }
        let watermark = self.tracker.complete(&done.tp, done.offset, done.epoch)?;
        Some((done.tp, watermark))
    }

    /// Applies `first` (if any) and every completion already queued; at-least-once stores
    /// the watermarks that advanced.
    fn settle(
        &mut self,
        consumer: &BaseConsumer<RunContext>,
        delivery: Delivery,
        first: Option<Completion>,
    ) {
        let completions = self.completions.clone();
        let advanced: Vec<_> = first
            .into_iter()
            .chain(completions.try_iter())
            .filter_map(|done| self.apply(done, delivery))
            .collect();
        if delivery != Delivery::AtLeastOnce || advanced.is_empty() {
            return;
        }
        let was_serial = self.serial();
        let mut changed = false;
        for (tp, watermark) in &advanced {
            if let Some(guard) = self.guards.get_mut(tp) {
                changed |= guard.advance(*watermark);
            }
        }
        // While serial, guarded positions go out with each record's mark instead: a stored
        // offset could be committed after a mark and erase it.
        let stored: Vec<_> = advanced
            .into_iter()
            .filter(|(tp, _)| !was_serial || !self.guards.contains_key(tp))
            .collect();
        store(consumer, &stored, |tp| {
            self.guards.get(tp).map_or(Mark::default(), Guard::mark)
        });
        let context = consumer.context();
        if !stored.is_empty() {
            context.uncommitted.store(true, Ordering::SeqCst);
        }
        if was_serial && !self.serial() {
            commit_marks(consumer, &self.guarded_positions());
        } else if changed || self.guarded(Mode::Careful) > 0 {
            commit_stored(consumer, &context.metrics);
        }
    }

    /// Whether some partition is read one record at a time (then the whole process is).
    fn serial(&self) -> bool {
        self.guarded(Mode::Serial) > 0
    }

    /// How many partitions are read in `mode`.
    fn guarded(&self, mode: Mode) -> usize {
        self.guards.values().filter(|g| g.mode() == mode).count()
    }

    /// Every guarded partition's position (its watermark, or where it started) and mark.
    fn guarded_positions(&self) -> Vec<(TopicPartition, i64, Mark)> {
        self.guards
            .iter()
            .map(|(tp, guard)| (tp.clone(), self.position(tp, guard), guard.mark()))
            .collect()
    }

    fn position(&self, tp: &TopicPartition, guard: &Guard) -> i64 {
        self.tracker.watermark(tp).unwrap_or(guard.start())
    }

    /// A clean release of `released` (revocation, shutdown): commits each guarded
    /// partition's position with its release mark.
    fn release(&self, consumer: &BaseConsumer<RunContext>, released: &[TopicPartition]) {
        let positions: Vec<_> = released
            .iter()
            .filter_map(|tp| {
                let guard = self.guards.get(tp)?;
                let position = self.position(tp, guard);
                Some((tp.clone(), position, guard.release_mark(position)))
            })
            .collect();
        commit_marks(consumer, &positions);
    }

    /// Waits for completions until `done` holds or `deadline` passes; returns whether `done`.
    fn drain(
        &mut self,
        consumer: &BaseConsumer<RunContext>,
        delivery: Delivery,
        deadline: Instant,
        done: impl Fn(&Tracker) -> bool,
    ) -> bool {
        loop {
            self.settle(consumer, delivery, None);
            if done(&self.tracker) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                warn!(
                    in_flight = self.tracker.in_flight(),
                    "drain timed out; the rest will be redelivered"
                );
                return false;
            }
            match self.completions.recv_timeout(left.min(POLL_INTERVAL)) {
                Ok(completion) => self.settle(consumer, delivery, Some(completion)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return done(&self.tracker),
            }
        }
    }

    /// Exactly-once: commits the open transaction with the completed offsets and, unless
    /// closing, opens the next one. Everything dispatched must be complete (drained) first.
    fn commit_transaction(
        &mut self,
        consumer: &BaseConsumer<RunContext>,
        producer: &Output,
        metrics: &Metrics,
    ) -> Result<(), RunError> {
        if self.txn_failed {
            return self.abort_and_rewind(consumer, producer, metrics);
        }
        let mut offsets = TopicPartitionList::new();
        for tp in self.tracker.partitions().cloned().collect::<Vec<_>>() {
            if let Some(watermark) = self.tracker.watermark(&tp) {
                let _ = offsets.add_partition_offset(&tp.0, tp.1, Offset::Offset(watermark));
            }
        }
        let metadata = consumer
            .group_metadata()
            .ok_or_else(|| RunError::Fatal("consumer group metadata unavailable".into()))?;
        let requested = Instant::now();
        let result = match offsets.count() {
            0 => Ok(()),
            _ => producer.send_offsets_to_transaction(&offsets, &metadata, CALL_TIMEOUT),
        }
        .and_then(|()| producer.commit_transaction(CALL_TIMEOUT));
        metrics.commit(result.is_ok(), requested.elapsed());
        match result {
            Ok(()) => {
                self.txn_dirty = false;
                if self.closing {
                    Ok(())
                } else {
                    begin(producer)
                }
            }
            Err(err) if requires_abort(&err) => {
                warn!(error = %err, "transaction aborted; rewinding to the last commit");
                self.abort_and_rewind(consumer, producer, metrics)
            }
            Err(err) => Err(RunError::Fatal(format!("cannot commit transaction: {err}"))),
        }
    }

    /// Exactly-once: aborts the open transaction and rewinds every partition to its last
    /// committed offset, so the aborted records are scanned again.
    fn abort_and_rewind(
        &mut self,
        consumer: &BaseConsumer<RunContext>,
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
        for tp in self.tracker.partitions().cloned().collect::<Vec<_>>() {
            self.tracker.assign(tp);
        }
        self.waiting.clear();
        self.waiting_bytes = 0;
        self.txn_failed = false;
        self.txn_dirty = false;
        if self.closing {
            Ok(())
        } else {
            begin(producer)
        }
    }
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

fn begin(producer: &Output) -> Result<(), RunError> {
    producer
        .begin_transaction()
        .map_err(|e| RunError::Fatal(format!("cannot begin transaction: {e}")))
}

fn requires_abort(err: &KafkaError) -> bool {
    matches!(err, KafkaError::Transaction(e) if e.txn_requires_abort())
}

/// Stores `advanced` watermarks (the next offsets to read), with each partition's `mark`, for
/// the next commit. `store_offsets` stores exactly what it is given (the deprecated
/// single-message calls add 1), and refuses — per partition, silently — a list naming a
/// partition twice: keep the highest.
fn store(
    consumer: &BaseConsumer<RunContext>,
    advanced: &[(TopicPartition, i64)],
    mark: impl Fn(&TopicPartition) -> Mark,
) {
    let mut latest: BTreeMap<&TopicPartition, i64> = BTreeMap::new();
    for (tp, offset) in advanced {
        let entry = latest.entry(tp).or_insert(*offset);
        *entry = (*entry).max(*offset);
    }
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

/// Commits stored offsets synchronously; returns whether they are committed (or there were
/// none). A failure only means redelivery, so it is logged, not fatal.
fn commit_stored(consumer: &BaseConsumer<RunContext>, metrics: &Metrics) -> bool {
    let _held = consumer.context().commit_lock();
    let requested = Instant::now();
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => true,
        result => {
            metrics.commit(result.is_ok(), requested.elapsed());
            if let Err(err) = &result {
                warn!(error = %err, "offset commit failed; uncommitted records would be redelivered");
            }
            result.is_ok()
        }
    }
}

/// Commits `positions` (per partition: the next offset to read and its mark) synchronously,
/// whatever is stored, under the same lock and timing as [`commit_stored`].
fn commit_marks(consumer: &BaseConsumer<RunContext>, positions: &[(TopicPartition, i64, Mark)]) {
    if positions.is_empty() {
        return;
    }
    let tpl = offsets_list(
        positions
            .iter()
            .map(|(tp, offset, mark)| (tp, *offset, *mark)),
    );
    let context = consumer.context();
    let _held = context.commit_lock();
    let requested = Instant::now();
    let result = consumer.commit(&tpl, CommitMode::Sync);
    context.metrics.commit(result.is_ok(), requested.elapsed());
    if let Err(err) = result {
        warn!(error = %err, "commit of crash-loop marks failed; a crash now would go unnoticed");
    }
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

struct Shared {
    config: Arc<Config>,
    pipeline: Arc<SharedPipeline>,
    producer: Arc<Output>,
    completions: Sender<Completion>,
    metrics: Arc<Metrics>,
}

fn scan_worker(jobs: Receiver<Job>, shared: Arc<Shared>) {
    for Job {
        record,
        epoch,
        poison,
    } in jobs
    {
        let source = Source::Kafka {
            topic: record.topic.to_string(),
            partition: record.partition,
            offset: record.offset,
        };
        let now = OffsetDateTime::now_utc();
        let pipeline = shared.pipeline.current();
        let started = Instant::now();
        let mut trace = Trace::default();
        let outcome = if poison {
            condemned(source, now)
        } else {
            pipeline.process_traced(&record.payload, source, now, &mut trace)
        };
        shared
            .metrics
            .record_outcome(&outcome, &trace, started.elapsed());
        let records = outputs(
            &shared.config,
            pipeline.list_versions(),
            &record,
            &outcome,
            now,
        );
        drop(pipeline);
        for output in &records {
            match output.kind {
                OutputKind::Flag => {
                    let severity = outcome.flag.as_ref().map_or("", |f| f.severity.as_str());
                    shared.metrics.flag_routed(&output.topic, severity);
                }
                OutputKind::DeadLetter => {
                    let reason = outcome.errors.first().map_or("", |e| e.reason.as_str());
                    shared.metrics.dead_lettered(reason);
                }
                OutputKind::Verdict => {}
            }
        }
        let tp = (record.topic, record.partition);
        if records.is_empty() {
            let _ = shared.completions.send(Completion {
                tp,
                offset: record.offset,
                epoch,
                ok: true,
            });
            continue;
        }
        let pending = Arc::new(Pending {
            tp,
            offset: record.offset,
            epoch,
            remaining: AtomicUsize::new(records.len()),
            failed: AtomicBool::new(false),
            records,
        });
        for index in 0..pending.records.len() {
            send(&shared.producer, &pending, index);
        }
    }
}

/// The outcome of a record the crash-loop breaker dead-letters without scanning.
fn condemned(source: Source, now: OffsetDateTime) -> Outcome {
    let detail = "this record ended vigil processes while it was scanned alone; not scanned again";
    Outcome::record_error(ReasonCode::CrashLoop, source, detail.into(), now)
}

fn retry_worker(retries: Receiver<Retry>, producer: Arc<Output>) {
    for (pending, index) in retries {
        std::thread::sleep(RETRY_BACKOFF);
        send(&producer, &pending, index);
    }
}

fn setup(what: &'static str) -> impl FnOnce(KafkaError) -> RunError {
    move |source| RunError::Setup { what, source }
}

/// Consumes `config.kafka.input_topics` until `shutdown` is set, then drains, commits and
/// returns. Blocks the calling thread (run it off any async runtime).
pub fn run(
    config: Arc<Config>,
    pipeline: Arc<SharedPipeline>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    shutdown: Arc<AtomicBool>,
) -> Result<(), RunError> {
    let k = &config.kafka;
    check_access(k)?;
    let delivery = k.delivery;
    let (completions_tx, completions_rx) = unbounded();
    let (retries_tx, retries_rx) = unbounded();
    let settings = match delivery {
        Delivery::AtLeastOnce => client::producer(k),
        Delivery::ExactlyOnce => client::transactional_producer(
            k,
            client::transactional_id(k, config.admin.listen.port()),
        ),
    };
    let producer: Arc<Output> = Arc::new(
        settings
            .create_with_context(DeliveryContext {
                delivery,
                completions: completions_tx.clone(),
                retries: retries_tx,
                metrics: metrics.clone(),
            })
            .map_err(setup("producer"))?,
    );
    if delivery == Delivery::ExactlyOnce {
        producer
            .init_transactions(CALL_TIMEOUT)
            .map_err(setup("transactional producer"))?;
        begin(&producer)?;
    }
    let context = RunContext {
        state: Mutex::new(LoopState {
            tracker: Tracker::default(),
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            completions: completions_rx,
            paused: false,
            txn_failed: false,
            txn_dirty: false,
            closing: false,
            guards: HashMap::new(),
        }),
        delivery,
        drain_timeout: Duration::from_secs(k.shutdown_timeout_secs),
        health: health.clone(),
        metrics: metrics.clone(),
        producer: producer.clone(),
        uncommitted: AtomicBool::new(false),
        breaker: (delivery == Delivery::AtLeastOnce && k.crash_loop_limit > 0).then(|| {
            breaker::Settings {
                limit: k.crash_loop_limit,
                // A second crash leaves the committed offset within about this of its cause.
                serial_window: (2 * k.max_in_flight + POLL_BATCH) as i64,
            }
        }),
        from_earliest: client::scanner_consumer(k)
            .get("auto.offset.reset")
            .is_none_or(|reset| ["earliest", "smallest", "beginning"].contains(&reset)),
        commit_lock: Mutex::new(()),
    };
    let consumer: Arc<BaseConsumer<RunContext>> = Arc::new(
        client::scanner_consumer(k)
            .create_with_context(context)
            .map_err(setup("consumer"))?,
    );
    let topics: Vec<&str> = k.input_topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).map_err(setup("subscription"))?;
    health.set_lists_loaded();

    let shared = Arc::new(Shared {
        config: config.clone(),
        pipeline,
        producer: producer.clone(),
        completions: completions_tx,
        metrics,
    });
    let (jobs_tx, jobs_rx) = unbounded::<Job>();
    let workers = match k.worker_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    for i in 0..workers {
        let (jobs, shared) = (jobs_rx.clone(), shared.clone());
        std::thread::Builder::new()
            .name(format!("vigil-scan-{i}"))
            .spawn(move || scan_worker(jobs, shared))
            .map_err(|e| RunError::Fatal(format!("cannot start scanning threads: {e}")))?;
    }
    let retry_producer = producer.clone();
    std::thread::Builder::new()
        .name("vigil-retry".into())
        .spawn(move || retry_worker(retries_rx, retry_producer))
        .map_err(|e| RunError::Fatal(format!("cannot start the retry thread: {e}")))?;
    let stop_committing = Arc::new(AtomicBool::new(false));
    let committer = match delivery {
        Delivery::AtLeastOnce => {
            let (consumer, stop) = (consumer.clone(), stop_committing.clone());
            let interval = Duration::from_millis(k.commit_interval_ms);
            let thread = std::thread::Builder::new()
                .name("vigil-commit".into())
                .spawn(move || commit_worker(&consumer, interval, &stop))
                .map_err(|e| RunError::Fatal(format!("cannot start the commit thread: {e}")))?;
            Some(thread)
        }
        Delivery::ExactlyOnce => None,
    };
    info!(topics = ?k.input_topics, group = %k.group_id, ?delivery, workers, "consuming");

    let result = poll_loop(&consumer, &producer, &jobs_tx, &config, &health, &shutdown);
    if let Err(err) = &result {
        health.set_failed(err.to_string());
    }
    stop_committing.store(true, Ordering::SeqCst);
    if let Some(committer) = committer {
        let _ = committer.join();
    }
    close(
        &consumer,
        &producer,
        Duration::from_secs(k.shutdown_timeout_secs),
    );
    result
}

fn poll_loop(
    consumer: &BaseConsumer<RunContext>,
    producer: &Output,
    jobs: &Sender<Job>,
    config: &Config,
    health: &Health,
    shutdown: &AtomicBool,
) -> Result<(), RunError> {
    let k = &config.kafka;
    let delivery = k.delivery;
    let metrics = &consumer.context().metrics;
    let interval = Duration::from_millis(k.transaction_interval_ms);
    let mut next_commit = Instant::now() + interval;
    let mut polled = Vec::with_capacity(POLL_BATCH);
    let mut topics: Vec<Arc<str>> = Vec::new();
    while !shutdown.load(Ordering::SeqCst) {
        health.beat();
        if let Some((code, reason)) = producer.client().fatal_error() {
            return Err(RunError::Fatal(format!("producer: {code}: {reason}")));
        }
        let busy = {
            let state = consumer.context().state();
            state.tracker.in_flight() > 0 || !state.waiting.is_empty()
        };
        // Take what is already fetched in one go (up to a batch), so the bookkeeping below
        // (completions, offset store, dispatch, pause) runs per batch, not per record.
        let mut timeout = if busy {
            BUSY_POLL_INTERVAL
        } else {
            POLL_INTERVAL
        };
        while polled.len() < POLL_BATCH {
            match consumer.poll(timeout) {
                Some(Ok(message)) => polled.push(owned(&message, &mut topics)),
                Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::AllBrokersDown))) => {
                    warn!("no Kafka broker reachable; retrying");
                    health.set_brokers_reachable(false);
                }
                Some(Err(err)) => warn!(error = %err, "consumer error"),
                None => break,
            }
            timeout = Duration::ZERO;
        }
        if !polled.is_empty() {
            health.set_brokers_reachable(true);
            count_consumed(metrics, &polled);
            let mut state = consumer.context().state();
            state.waiting_bytes += polled.iter().map(buffered_size).sum::<u64>();
            state.waiting.extend(polled.drain(..));
        }
        let mut state = consumer.context().state();
        state.settle(consumer, delivery, None);
        state.dispatch(consumer, jobs, k.max_in_flight);
        // Pausing makes librdkafka drop what it prefetched and fetch it again on resume (after
        // its outstanding long-poll fetch returns), so it is kept for real overload, and
        // resuming at half overlaps the refetch with the work still queued.
        let waiting = state.waiting_bytes;
        if !state.paused && waiting >= k.max_buffered_bytes {
            set_paused(consumer, &mut state, true);
        } else if state.paused && waiting <= k.max_buffered_bytes / 2 {
            set_paused(consumer, &mut state, false);
        }
        if delivery == Delivery::ExactlyOnce && Instant::now() >= next_commit {
            if state.txn_dirty || state.txn_failed {
                let deadline = Instant::now() + Duration::from_secs(k.shutdown_timeout_secs);
                state.drain(consumer, delivery, deadline, |t| t.in_flight() == 0);
                state.commit_transaction(consumer, producer, metrics)?;
            }
            next_commit = Instant::now() + interval;
        }
        metrics.set_runtime(RuntimeGauges {
            in_flight: state.tracker.in_flight(),
            buffered: state.waiting.len(),
            buffered_bytes: state.waiting_bytes,
            assigned: state.tracker.partitions().count(),
            paused: if state.paused {
                state.tracker.partitions().count()
            } else {
                0
            },
            careful: state.guarded(Mode::Careful),
            serial: state.guarded(Mode::Serial),
        });
    }
    Ok(())
}

/// At-least-once: commits the stored offsets every `interval` while any were stored since
/// the last commit. Synchronous, so each commit is timed, and on its own thread, so a slow
/// or unreachable coordinator never holds up polling (and the health beat).
fn commit_worker(consumer: &BaseConsumer<RunContext>, interval: Duration, stop: &AtomicBool) {
    let step = interval.min(POLL_INTERVAL);
    let mut next = Instant::now() + interval;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(step);
        if Instant::now() < next {
            continue;
        }
        next = Instant::now() + interval;
        let context = consumer.context();
        if context.uncommitted.swap(false, Ordering::SeqCst)
            && !commit_stored(consumer, &context.metrics)
        {
            context.uncommitted.store(true, Ordering::SeqCst);
        }
    }
}

/// Counts `polled` per topic (records of one topic come in runs).
fn count_consumed(metrics: &Metrics, polled: &[InputRecord]) {
    for run in polled.chunk_by(|a, b| Arc::ptr_eq(&a.topic, &b.topic)) {
        metrics.consumed(&run[0].topic, run.len() as u64);
    }
}

fn set_paused(consumer: &BaseConsumer<RunContext>, state: &mut LoopState, paused: bool) {
    let assignment = match consumer.assignment() {
        Ok(assignment) => assignment,
        Err(err) => return warn!(error = %err, "cannot read the assignment"),
    };
    let result = if paused {
        consumer.pause(&assignment)
    } else {
        consumer.resume(&assignment)
    };
    match result {
        Ok(()) => {
            state.paused = paused;
            debug!(paused, waiting_bytes = state.waiting_bytes, "backpressure");
        }
        Err(err) => warn!(error = %err, paused, "cannot pause or resume partitions"),
    }
}

/// What a waiting record costs in memory: its bytes plus bookkeeping.
fn buffered_size(record: &InputRecord) -> u64 {
    let headers: usize = record.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    (record.payload.len() + record.key.as_ref().map_or(0, Vec::len) + headers + 128) as u64
}

/// `message` copied out of the consumer's buffer; `topics` interns topic names.
fn owned(message: &BorrowedMessage<'_>, topics: &mut Vec<Arc<str>>) -> InputRecord {
    let name = message.topic();
    let topic = match topics.iter().find(|t| &***t == name) {
        Some(topic) => topic.clone(),
        None => {
            let topic: Arc<str> = Arc::from(name);
            topics.push(topic.clone());
            topic
        }
    };
    InputRecord {
        topic,
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().unwrap_or_default().to_vec(),
        headers: message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

impl LoopState {
    /// Hands waiting records to the scanning pool while fewer than `max_in_flight` are out
    /// (one, marked, while serial).
    fn dispatch(
        &mut self,
        consumer: &BaseConsumer<RunContext>,
        jobs: &Sender<Job>,
        max_in_flight: usize,
    ) {
        if self.serial() {
            return self.dispatch_alone(consumer, jobs);
        }
        while self.tracker.in_flight() < max_in_flight {
            let Some(record) = self.waiting.pop_front() else {
                return;
            };
            self.waiting_bytes -= buffered_size(&record);
            let tp = (record.topic.clone(), record.partition);
            let Some(epoch) = self.tracker.dispatch(&tp, record.offset) else {
                debug!(
                    ?tp,
                    "record of an unassigned partition dropped; it will be redelivered"
                );
                continue;
            };
            self.txn_dirty = true;
            let _ = jobs.send(Job {
                record,
                epoch,
                poison: false,
            });
        }
    }

    /// Serial: when nothing is in flight, commits the next record's offset with its alone
    /// mark (and every other guarded position), then hands it over — so if it ends the
    /// process, the next owner knows which record did.
    fn dispatch_alone(&mut self, consumer: &BaseConsumer<RunContext>, jobs: &Sender<Job>) {
        if self.tracker.in_flight() > 0 {
            return;
        }
        while let Some(record) = self.waiting.pop_front() {
            self.waiting_bytes -= buffered_size(&record);
            let tp = (record.topic.clone(), record.partition);
            if !self.tracker.partitions().any(|t| *t == tp) {
                continue; // revoked: whoever owns it now reads it again
            }
            let mut positions = self.guarded_positions();
            positions.retain(|(t, _, _)| *t != tp);
            let guard = self.guards.get(&tp);
            if let Some(guard) = guard {
                positions.push((tp.clone(), record.offset, guard.alone_mark(record.offset)));
            }
            let poison = guard.is_some_and(|g| g.is_poison(record.offset));
            commit_marks(consumer, &positions);
            let Some(epoch) = self.tracker.dispatch(&tp, record.offset) else {
                continue;
            };
            let _ = jobs.send(Job {
                record,
                epoch,
                poison,
            });
            return;
        }
    }
}

/// Shutdown: pause, drain within the bound, commit, leave the group, flush the producer.
fn close(consumer: &BaseConsumer<RunContext>, producer: &Output, bound: Duration) {
    info!("shutting down: draining in-flight records");
    let context = consumer.context();
    let (delivery, metrics) = (context.delivery, &context.metrics);
    let mut state = context.state();
    set_paused(consumer, &mut state, true);
    let deadline = Instant::now() + bound;
    let drained = state.drain(consumer, delivery, deadline, |t| t.in_flight() == 0);
    state.closing = true;
    let committed = match delivery {
        Delivery::AtLeastOnce => {
            commit_stored(consumer, metrics);
            let all: Vec<TopicPartition> = state.guards.keys().cloned().collect();
            state.release(consumer, &all);
            Ok(())
        }
        Delivery::ExactlyOnce if drained && !state.txn_failed => {
            state.commit_transaction(consumer, producer, metrics)
        }
        Delivery::ExactlyOnce => producer
            .abort_transaction(CALL_TIMEOUT)
            .map_err(|e| RunError::Fatal(e.to_string())),
    };
    if let Err(err) = committed {
        warn!(error = %err, "final commit failed; uncommitted records will be redelivered");
    }
    drop(state);
    consumer.unsubscribe();
    // Whatever the drain and commit left of the bound (an unreachable broker must not
    // double it).
    let left = deadline.saturating_duration_since(Instant::now());
    if let Err(err) = producer.flush(left.max(Duration::from_secs(1))) {
        warn!(error = %err, "producer flush incomplete");
    }
    info!(drained, "stopped");
}
