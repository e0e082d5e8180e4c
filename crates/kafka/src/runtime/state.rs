//! The poll thread's state: the watermarks, the records waiting for dispatch, the crash-loop
//! guards and the commit strategy; how completions settle into it, how it drains, and how
//! the strategy's steps are carried out on it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use tracing::warn;

use super::commit::{
    self, CALL_TIMEOUT, Commits, Committer, Step, abort_and_rewind, begin, requires_abort,
};
use super::deliver::{Completion, Output};
use super::error::RunError;
use crate::breaker::{Guard, Mark, Mode};
use crate::records::InputRecord;
use crate::tracker::{TopicPartition, Tracker};

/// How long a drain waits for one completion before looking at its deadline again.
const DRAIN_STEP: Duration = Duration::from_millis(50);

/// What the state needs of the consumer's context: the committer and the producer.
pub(super) trait LoopContext: ConsumerContext {
    /// Every commit of stored offsets and marks.
    fn committer(&self) -> &Committer;
    /// The producer of every output (and of the transactions).
    fn producer(&self) -> &Output;
}

/// The poll thread's state (shared with the rebalance callbacks, which run on it).
pub(super) struct LoopState {
    pub(super) tracker: Tracker,
    /// Records polled but not yet dispatched (dispatch is bounded by `max_in_flight`). Not in
    /// the tracker, so never stored: dropping them (revocation, rewind, shutdown) only means
    /// they are read again.
    pub(super) waiting: VecDeque<InputRecord>,
    /// Size of `waiting`, counted by [`buffered_size`].
    pub(super) waiting_bytes: u64,
    pub(super) completions: Receiver<Completion>,
    pub(super) paused: bool,
    pub(super) commits: Commits,
    /// Shutting down: the final commit is done; revocations only forget partitions.
    pub(super) closing: bool,
    /// The crash-loop breaker's state of each assigned partition (at-least-once, when on).
    pub(super) guards: HashMap<TopicPartition, Guard>,
}

/// What a waiting record costs in memory: its bytes plus bookkeeping.
pub(super) fn buffered_size(record: &InputRecord) -> u64 {
    let headers: usize = record.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    (record.payload.len() + record.key.as_ref().map_or(0, Vec::len) + headers + 128) as u64
}

impl LoopState {
    /// A state with nothing assigned, completions arriving on `completions`.
    pub(super) fn new(commits: Commits, completions: Receiver<Completion>) -> LoopState {
        LoopState {
            tracker: Tracker::default(),
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            completions,
            paused: false,
            commits,
            closing: false,
            guards: HashMap::new(),
        }
    }

    /// Applies one completion; returns the partition's new watermark if it advanced.
    fn apply(&mut self, done: Completion) -> Option<(TopicPartition, i64)> {
        if !self.commits.completed(done.ok) {
            return None;
        }
        let watermark = self.tracker.complete(&done.tp, done.offset, done.epoch)?;
        Some((done.tp, watermark))
    }

    /// Applies `first` (if any) and every completion already queued; stores the watermarks
    /// that advanced when the strategy stores offsets.
    pub(super) fn settle<C: LoopContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        first: Option<Completion>,
    ) {
        let completions = self.completions.clone();
        let advanced: Vec<_> = first
            .into_iter()
            .chain(completions.try_iter())
            .filter_map(|done| self.apply(done))
            .collect();
        if !self.commits.stores_offsets() || advanced.is_empty() {
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
        commit::store(consumer, &stored, |tp| {
            self.guards.get(tp).map_or(Mark::default(), Guard::mark)
        });
        let committer = consumer.context().committer();
        if !stored.is_empty() {
            committer.uncommitted.store(true, Ordering::SeqCst);
        }
        if was_serial && !self.serial() {
            committer.commit_marks(consumer, &self.guarded_positions());
        } else if changed || self.guarded(Mode::Careful) > 0 {
            committer.commit_stored(consumer);
        }
    }

    /// Whether some partition is read one record at a time (then the whole process is).
    pub(super) fn serial(&self) -> bool {
        self.guarded(Mode::Serial) > 0
    }

    /// How many partitions are read in `mode`.
    pub(super) fn guarded(&self, mode: Mode) -> usize {
        self.guards.values().filter(|g| g.mode() == mode).count()
    }

    /// Every guarded partition's position (its watermark, or where it started) and mark.
    pub(super) fn guarded_positions(&self) -> Vec<(TopicPartition, i64, Mark)> {
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
    fn release<C: LoopContext>(&self, consumer: &BaseConsumer<C>, released: &[TopicPartition]) {
        let positions: Vec<_> = released
            .iter()
            .filter_map(|tp| {
                let guard = self.guards.get(tp)?;
                let position = self.position(tp, guard);
                Some((tp.clone(), position, guard.release_mark(position)))
            })
            .collect();
        consumer
            .context()
            .committer()
            .commit_marks(consumer, &positions);
    }

    /// Waits for completions until `done` holds or `deadline` passes; returns whether `done`.
    pub(super) fn drain<C: LoopContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        deadline: Instant,
        done: impl Fn(&Tracker) -> bool,
    ) -> bool {
        loop {
            self.settle(consumer, None);
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
            match self.completions.recv_timeout(left.min(DRAIN_STEP)) {
                Ok(completion) => self.settle(consumer, Some(completion)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return done(&self.tracker),
            }
        }
    }

    /// Carries out `step` of the commit strategy; `partitions` are those revoked or, at
    /// shutdown, all guarded ones.
    pub(super) fn perform<C: LoopContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        step: Step,
        partitions: &[TopicPartition],
    ) -> Result<(), RunError> {
        match step {
            Step::CommitStored { release } => {
                consumer.context().committer().commit_stored(consumer);
                if release {
                    self.release(consumer, partitions);
                }
                Ok(())
            }
            Step::CommitTransaction => self.commit_transaction(consumer),
            Step::ForgetAndRewind => {
                for tp in partitions {
                    self.tracker.revoke(tp);
                }
                self.abort_and_rewind(consumer)
            }
            Step::Abort => consumer
                .context()
                .producer()
                .abort_transaction(CALL_TIMEOUT)
                .map_err(|e| RunError::Fatal(e.to_string())),
        }
    }

    /// Exactly-once: commits the open transaction with the completed offsets and, unless
    /// closing, opens the next one. Everything dispatched must be complete (drained) first.
    pub(super) fn commit_transaction<C: LoopContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), RunError> {
        if self.commits.failed() {
            return self.abort_and_rewind(consumer);
        }
        let mut offsets = TopicPartitionList::new();
        for tp in self.tracker.partitions() {
            if let Some(watermark) = self.tracker.watermark(tp) {
                let _ = offsets.add_partition_offset(&tp.0, tp.1, Offset::Offset(watermark));
            }
        }
        let context = consumer.context();
        let (producer, metrics) = (context.producer(), &context.committer().metrics);
        match commit::commit_transaction(consumer, producer, &offsets, metrics)? {
            Ok(()) => {
                self.commits.committed(Instant::now());
                self.begin_unless_closing(producer)
            }
            Err(err) if requires_abort(&err) => {
                warn!(error = %err, "transaction aborted; rewinding to the last commit");
                self.abort_and_rewind(consumer)
            }
            Err(err) => Err(RunError::Fatal(format!("cannot commit transaction: {err}"))),
        }
    }

    /// Exactly-once: aborts the open transaction and rewinds every partition to its last
    /// committed offset, forgetting what was dispatched or waiting since, so the aborted
    /// records are scanned again.
    fn abort_and_rewind<C: LoopContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), RunError> {
        let context = consumer.context();
        abort_and_rewind(consumer, context.producer(), &context.committer().metrics)?;
        for tp in self.tracker.partitions().cloned().collect::<Vec<_>>() {
            self.tracker.assign(tp);
        }
        self.waiting.clear();
        self.waiting_bytes = 0;
        self.commits.aborted();
        self.begin_unless_closing(context.producer())
    }

    fn begin_unless_closing(&self, producer: &Output) -> Result<(), RunError> {
        if self.closing {
            Ok(())
        } else {
            begin(producer)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::config::{Delivery, KafkaConfig};

    use super::*;

    fn state(delivery: Delivery) -> LoopState {
        let k = KafkaConfig {
            delivery,
            ..KafkaConfig::default()
        };
        let (_, completions) = crossbeam_channel::unbounded();
        LoopState::new(Commits::new(&k, Instant::now()), completions)
    }

    fn done(tp: &TopicPartition, offset: i64, epoch: u64, ok: bool) -> Completion {
        Completion {
            tp: tp.clone(),
            offset,
            epoch,
            ok,
        }
    }

    #[test]
    fn at_least_once_a_failed_record_holds_its_partition_back() {
        let mut state = state(Delivery::AtLeastOnce);
        let tp: TopicPartition = (Arc::from("in"), 0);
        let epoch = state.tracker.assign(tp.clone());
        for offset in 10..13 {
            state.tracker.dispatch(&tp, offset);
        }
        assert_eq!(state.apply(done(&tp, 10, epoch, false)), None);
        assert_eq!(state.apply(done(&tp, 11, epoch, true)), None);
        assert_eq!(state.apply(done(&tp, 12, epoch, true)), None);
        assert_eq!(
            state.tracker.in_flight(),
            1,
            "the failed record is still out"
        );
        assert_eq!(state.tracker.watermark(&tp), Some(10));
        // Its re-sent outputs acknowledged, it completes and the watermark jumps past all.
        assert_eq!(
            state.apply(done(&tp, 10, epoch, true)),
            Some((tp.clone(), 13))
        );
        assert_eq!(state.tracker.in_flight(), 0);
    }

    #[test]
    fn exactly_once_a_failed_record_completes_and_fails_the_transaction() {
        let mut state = state(Delivery::ExactlyOnce);
        let tp: TopicPartition = (Arc::from("in"), 0);
        let epoch = state.tracker.assign(tp.clone());
        state.tracker.dispatch(&tp, 10);
        state.commits.dispatched();
        assert_eq!(
            state.apply(done(&tp, 10, epoch, false)),
            Some((tp.clone(), 11))
        );
        assert_eq!(state.tracker.in_flight(), 0, "nothing left to drain");
        assert!(state.commits.failed(), "the commit must be an abort");
    }

    #[test]
    fn completions_of_an_earlier_assignment_are_ignored() {
        let mut state = state(Delivery::AtLeastOnce);
        let tp: TopicPartition = (Arc::from("in"), 3);
        let old = state.tracker.assign(tp.clone());
        state.tracker.dispatch(&tp, 5);
        // Revoked and assigned again (or rewound): the old record is read again.
        let new = state.tracker.assign(tp.clone());
        state.tracker.dispatch(&tp, 5);
        assert_eq!(state.apply(done(&tp, 5, old, true)), None);
        assert_eq!(state.tracker.in_flight_of(&tp), 1);
        assert_eq!(state.apply(done(&tp, 5, new, true)), Some((tp.clone(), 6)));
    }

    #[test]
    fn waiting_records_are_counted_with_their_bookkeeping() {
        let record = InputRecord {
            topic: Arc::from("in"),
            partition: 0,
            offset: 1,
            key: Some(b"key".to_vec()),
            payload: vec![0; 100],
            headers: vec![("h".into(), b"vv".to_vec())],
        };
        assert_eq!(buffered_size(&record), 100 + 3 + 3 + 128);
    }
}
