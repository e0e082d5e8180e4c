//! Delivery: scanning threads run the pipeline on each dispatched record and produce its
//! outputs; the last delivery report of a record completes it. A failed output is re-sent
//! (at-least-once, the record staying in flight) or fails its record (exactly-once, which
//! aborts the transaction), as the commit strategy chose at start-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::RunConfig;
use crossbeam_channel::{Receiver, Sender};
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use time::OffsetDateTime;
use tracing::warn;
use vigil_core::{ReasonCode, Source};
use vigil_metrics::{Metrics, OutputKind};
use vigil_scan::{Outcome, SharedPipeline, Trace};

use crate::entries::Containment;
use crate::records::{InputRecord, OutputRecord, outputs};
use crate::tracker::TopicPartition;

/// Pause between re-sends of an output whose delivery failed (at-least-once).
const RETRY_BACKOFF: Duration = Duration::from_millis(500);

/// A record done with: all its outputs acknowledged (`ok`), or one failed.
pub(super) struct Completion {
    pub(super) tp: TopicPartition,
    pub(super) offset: i64,
    pub(super) epoch: u64,
    pub(super) ok: bool,
}

/// A record handed to the scanning pool.
pub(super) struct Job {
    pub(super) record: InputRecord,
    pub(super) epoch: u64,
    /// The crash-loop breaker condemned the record: dead-letter it without scanning.
    pub(super) poison: bool,
}

/// All outputs of one input record; the last delivery report completes the record.
pub(super) struct Pending {
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

/// An output to send again: its record's outputs and its index among them.
pub(super) type Retry = (Arc<Pending>, usize);

/// The producer's context: delivery reports complete records.
pub(super) struct DeliveryContext {
    pub(super) completions: Sender<Completion>,
    /// Where failed outputs go to be re-sent; none: a failed output fails its record.
    pub(super) retries: Option<Sender<Retry>>,
    pub(super) metrics: Arc<Metrics>,
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
    /// Re-sends until delivered (the record's offset stays unstored meanwhile), or fails the
    /// record, which aborts the transaction.
    fn failed(&self, pending: Arc<Pending>, index: usize) {
        match &self.retries {
            Some(retries) => {
                let _ = retries.send((pending, index));
            }
            None => pending.settle(false, &self.completions),
        }
    }
}

/// The producer of every output.
pub(super) type Output = ThreadedProducer<DeliveryContext>;

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

/// What every scanning thread shares.
pub(super) struct Shared {
    pub(super) config: Arc<RunConfig>,
    pub(super) pipeline: Arc<SharedPipeline>,
    pub(super) producer: Arc<Output>,
    pub(super) completions: Sender<Completion>,
    pub(super) metrics: Arc<Metrics>,
    /// The entry state, when `[containment]` is enabled.
    pub(super) containment: Option<Containment>,
}

/// A scanning thread: scans each job and sends its outputs (or completes it at once when it
/// has none).
pub(super) fn scan_worker(jobs: Receiver<Job>, shared: Arc<Shared>) {
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
        let mut outcome = if poison {
            condemned(source, now)
        } else {
            pipeline.process_traced(&record.payload, source, now, &mut trace)
        };
        let contained = shared
            .containment
            .as_ref()
            .map(|c| c.apply(&mut outcome, now))
            .unwrap_or_default();
        shared
            .metrics
            .record_outcome(&outcome, &trace, started.elapsed());
        for q in &contained.quarantined {
            shared.metrics.match_quarantined(&q.list, q.reason.as_str());
        }
        let records = outputs(
            &shared.config,
            pipeline.list_versions(),
            &record,
            &outcome,
            &contained,
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
                OutputKind::Verdict | OutputKind::Sighting => {}
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

/// Re-sends failed outputs after a pause, in order.
pub(super) fn retry_worker(retries: Receiver<Retry>, producer: Arc<Output>) {
    for (pending, index) in retries {
        std::thread::sleep(RETRY_BACKOFF);
        send(&producer, &pending, index);
    }
}
