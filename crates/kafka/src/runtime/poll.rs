//! Polling: the poll thread takes records in batches, settles completions, dispatches to the
//! scanning pool (bounded by `max_in_flight`; one record at a time, marked, while the
//! crash-loop breaker reads a partition serially), pauses the assignment under backpressure
//! and commits the transaction when the strategy says it is due.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::KafkaConfig;
use crossbeam_channel::Sender;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::producer::Producer;
use tracing::{debug, warn};
use vigil_metrics::{Metrics, RuntimeGauges};

use super::deliver::{Job, Output};
use super::error::RunError;
use super::rebalance::RunContext;
use super::state::{LoopState, buffered_size};
use crate::Health;
use crate::breaker::Mode;
use crate::records::InputRecord;

/// Most records taken from the consumer per loop iteration.
pub(super) const POLL_BATCH: usize = 512;
/// How long one poll may block when idle; bounds how stale the health beat gets.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long one poll may block while records are in flight or waiting, so completions free
/// dispatch slots promptly.
const BUSY_POLL_INTERVAL: Duration = Duration::from_millis(2);

/// Polls, settles and dispatches until `shutdown` is set or the producer fails for good.
pub(super) fn poll_loop(
    consumer: &BaseConsumer<RunContext>,
    producer: &Output,
    jobs: &Sender<Job>,
    k: &KafkaConfig,
    health: &Health,
    shutdown: &AtomicBool,
) -> Result<(), RunError> {
    let metrics = &consumer.context().metrics;
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
        state.settle(consumer, None);
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
        if state.commits.due(Instant::now()) {
            let deadline = Instant::now() + Duration::from_secs(k.shutdown_timeout_secs);
            state.drain(consumer, deadline, |t| t.in_flight() == 0);
            state.commit_transaction(consumer)?;
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

/// Counts `polled` per topic (records of one topic come in runs).
fn count_consumed(metrics: &Metrics, polled: &[InputRecord]) {
    for run in polled.chunk_by(|a, b| Arc::ptr_eq(&a.topic, &b.topic)) {
        metrics.consumed(&run[0].topic, run.len() as u64);
    }
}

/// Pauses or resumes the whole assignment.
pub(super) fn set_paused(consumer: &BaseConsumer<RunContext>, state: &mut LoopState, paused: bool) {
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
    pub(super) fn dispatch(
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
            self.commits.dispatched();
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
            consumer
                .context()
                .committer
                .commit_marks(consumer, &positions);
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
