//! vigil's Prometheus metrics: what was consumed and scanned, what matched which list version,
//! where the time went, how far behind the consumer is and which lists are in force — never
//! message content, user ids or message ids.
//!
//! - [`names`] — every metric's name, help and labels, declared once.
//! - [`Metrics`] — the registry and every metric, with one recording method per event:
//!   [`Metrics::record_outcome`] after a record is processed (verdict, matches, distances,
//!   stage latencies, attachments, errors), the runtime's gauges and counters, and
//!   [`Metrics::lists_in_force`] / [`Metrics::list_update`] from list loading.
//! - [`Metrics::render`] — the text exposition format for `/metrics`.
//!
//! The process collector adds the standard `process_*` metrics (CPU, resident memory, file
//! descriptors) on Linux.
//!
//! ```
//! use std::time::Duration;
//! use vigil_core::Source;
//! use vigil_metrics::{BuildInfo, Metrics};
//! use vigil_scan::{Pipeline, Trace};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let keywords = dir.path().join("kw.csv");
//! std::fs::write(&keywords, "rule_id,term,category\nk1,home alone,grooming.isolation\n").unwrap();
//! let mut config = vigil_scan::config::ScanConfig::default();
//! config.lists.keyword_lists.push(keywords.into());
//! let pipeline = Pipeline::from_config(&config).unwrap();
//!
//! let metrics = Metrics::new(&BuildInfo { version: "0.1.0", delivery: "at-least-once" });
//! let record = br#"{"message_id":"m-1","conversation_id":"c-1","sender_id":"u-1",
//!   "recipient_ids":["u-2"],"sent_at":"2026-11-26T07:00:00Z","text":"home alone?"}"#;
//! let source = Source::File { file: "dms.jsonl".into(), line: 1 };
//! let mut trace = Trace::default();
//! let outcome = pipeline.process_traced(record, source, time::OffsetDateTime::now_utc(), &mut trace);
//! metrics.record_outcome(&outcome, &trace, Duration::from_micros(40));
//!
//! let text = metrics.render();
//! assert!(text.contains(r#"vigil_messages_scanned_total{verdict="flagged"} 1"#));
//! assert!(text.contains("grooming.isolation"));
//! assert!(!text.contains("home alone")); // content never becomes a label
//! ```

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Counter, Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use vigil_core::{DetectorKind, MatchSubject, VerdictKind};
use vigil_scan::{
    AttachmentOutcome, ListChange, LoadedList, Outcome, ReloadReport, TimedStep, Trace,
    VideoObservation,
};

pub mod names;

use names::Def;

/// Buckets for per-record and per-stage latency: 5 µs to 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Buckets for commit latency: 1 ms to 30 s.
const COMMIT_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets for Hamming distances: 64-bit hashes match up to ~10 bits, PDQ up to ~31 of 256.
const DISTANCE_BUCKETS: &[f64] = &[
    0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0, 24.0, 28.0, 31.0, 40.0, 64.0,
];

/// Buckets for the time of one video: 10 ms to 2 minutes (`video.max_time_ms`).
const VIDEO_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// Buckets for a worker's peak memory: 32 MiB to 2 GiB (`video.max_memory_bytes`).
const MEMORY_BUCKETS: &[f64] = &[
    33_554_432.0,
    67_108_864.0,
    134_217_728.0,
    268_435_456.0,
    536_870_912.0,
    1_073_741_824.0,
    2_147_483_648.0,
];

/// The video workers' series.
#[derive(Debug)]
struct VideoMetrics {
    /// hashed, failed.
    videos: [IntCounter; 2],
    failures: IntCounterVec,
    restarts: IntCounter,
    decoded: Counter,
    /// decoded, hashed.
    frames: [IntCounter; 2],
    duration: Histogram,
    memory: Histogram,
}

impl VideoMetrics {
    fn new(registry: &Registry) -> VideoMetrics {
        let videos = counter_vec(registry, names::VIDEOS);
        let frames = counter_vec(registry, names::VIDEO_FRAMES);
        VideoMetrics {
            videos: ["hashed", "failed"].map(|r| videos.with_label_values(&[r])),
            failures: counter_vec(registry, names::VIDEO_FAILURES),
            restarts: counter(registry, names::VIDEO_WORKER_RESTARTS),
            decoded: register(
                registry,
                Counter::with_opts(opts(names::VIDEO_DECODED)).expect("valid metric definition"),
            ),
            frames: ["decoded", "hashed"].map(|s| frames.with_label_values(&[s])),
            duration: histogram(registry, names::VIDEO_DURATION, VIDEO_BUCKETS),
            memory: histogram(registry, names::VIDEO_WORKER_MEMORY, MEMORY_BUCKETS),
        }
    }

    fn record(&self, video: &VideoObservation) {
        self.duration.observe(video.elapsed.as_secs_f64());
        if video.worker_died {
            self.restarts.inc();
        }
        match video.failure {
            Some(reason) => {
                self.videos[1].inc();
                self.failures.with_label_values(&[reason.as_str()]).inc();
            }
            None => {
                self.videos[0].inc();
                self.decoded.inc_by(video.decoded_ms as f64 / 1000.0);
                self.frames[0].inc_by(video.frames_decoded);
                self.frames[1].inc_by(video.frames_hashed);
                self.memory.observe(video.peak_rss_bytes as f64);
            }
        }
    }
}

/// What `vigil_build_info` reports.
#[derive(Debug, Clone, Copy)]
pub struct BuildInfo<'a> {
    /// The crate version.
    pub version: &'a str,
    /// `at-least-once` or `exactly-once`.
    pub delivery: &'a str,
}

/// Which output a produced record was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// A flag on a review topic.
    Flag,
    /// A copy of an unscannable record on the dead-letter topic.
    DeadLetter,
    /// A verdict on the verdict topic.
    Verdict,
    /// An entry sighting on the sightings topic.
    Sighting,
}

impl OutputKind {
    fn as_str(self) -> &'static str {
        match self {
            OutputKind::Flag => "flag",
            OutputKind::DeadLetter => "dead_letter",
            OutputKind::Verdict => "verdict",
            OutputKind::Sighting => "sighting",
        }
    }
}

/// The runtime's queue state, sampled once per poll-loop iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeGauges {
    /// Records dispatched and not yet completed.
    pub in_flight: usize,
    /// Records polled and waiting for a slot.
    pub buffered: usize,
    /// Their bytes.
    pub buffered_bytes: u64,
    /// Partitions assigned.
    pub assigned: usize,
    /// Partitions paused for backpressure.
    pub paused: usize,
    /// Partitions the crash-loop breaker reads carefully.
    pub careful: usize,
    /// Partitions the crash-loop breaker reads one record at a time.
    pub serial: usize,
}

/// Every metric vigil exports, registered in one registry.
pub struct Metrics {
    registry: Registry,
    ready: IntGauge,
    consumed: IntCounterVec,
    scanned: [IntCounter; 3],
    flags: IntCounterVec,
    matches: IntCounterVec,
    suppressed: IntCounterVec,
    quarantined: IntCounterVec,
    /// `precision`, `flood`.
    entries_quarantined: [IntGauge; 2],
    entries_disabled: IntGauge,
    entry_decisions: IntCounterVec,
    entry_state_unreadable: IntCounter,
    distance: HistogramVec,
    scan_duration: Histogram,
    stage_duration: Vec<Histogram>,
    attachments: Vec<IntCounter>,
    fetched: IntCounter,
    video: VideoMetrics,
    errors: IntCounterVec,
    dead_letters: IntCounterVec,
    outputs: [IntCounter; 4],
    producer_errors: [IntCounter; 4],
    in_flight: IntGauge,
    buffered: IntGauge,
    buffered_bytes: IntGauge,
    assigned: IntGauge,
    paused: IntGauge,
    /// `careful`, `serial`.
    guarded: [IntGauge; 2],
    lag: IntGaugeVec,
    lag_labels: Mutex<BTreeSet<(String, String)>>,
    commits: [IntCounter; 2],
    commit_duration: Histogram,
    aborted: IntCounter,
    rebalances: IntCounterVec,
    list_info: IntGaugeVec,
    list_entries: IntGaugeVec,
    list_loaded: GaugeVec,
    list_created: GaugeVec,
    list_reloads: IntCounterVec,
    list_reload_ok: IntGaugeVec,
    /// Label sets of the list gauges in force, so a replaced version's series disappear.
    list_labels: Mutex<Vec<ListLabels>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ListLabels {
    list: String,
    kind: &'static str,
    version: String,
    sha256: String,
    created: bool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn opts(def: Def) -> Opts {
    Opts::new(def.name, def.help)
}

fn histogram_opts(def: Def, buckets: &[f64]) -> HistogramOpts {
    HistogramOpts::new(def.name, def.help).buckets(buckets.to_vec())
}

/// Registers `metric`; names are constants checked by the tests, so a clash is a bug.
fn register<M: Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique and valid");
    metric
}

fn counter_vec(registry: &Registry, def: Def) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(opts(def), def.labels).expect("valid metric definition"),
    )
}

fn gauge_vec(registry: &Registry, def: Def) -> IntGaugeVec {
    register(
        registry,
        IntGaugeVec::new(opts(def), def.labels).expect("valid metric definition"),
    )
}

fn float_gauge_vec(registry: &Registry, def: Def) -> GaugeVec {
    register(
        registry,
        GaugeVec::new(opts(def), def.labels).expect("valid metric definition"),
    )
}

fn gauge(registry: &Registry, def: Def) -> IntGauge {
    register(
        registry,
        IntGauge::with_opts(opts(def)).expect("valid metric definition"),
    )
}

fn counter(registry: &Registry, def: Def) -> IntCounter {
    register(
        registry,
        IntCounter::with_opts(opts(def)).expect("valid metric definition"),
    )
}

fn histogram(registry: &Registry, def: Def, buckets: &[f64]) -> Histogram {
    register(
        registry,
        Histogram::with_opts(histogram_opts(def, buckets)).expect("valid metric definition"),
    )
}

fn histogram_vec(registry: &Registry, def: Def, buckets: &[f64]) -> HistogramVec {
    register(
        registry,
        HistogramVec::new(histogram_opts(def, buckets), def.labels)
            .expect("valid metric definition"),
    )
}

impl Metrics {
    /// Registers every metric (and the process collector where the platform has one).
    pub fn new(build: &BuildInfo<'_>) -> Metrics {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        {
            let process = prometheus::process_collector::ProcessCollector::for_self();
            registry
                .register(Box::new(process))
                .expect("the process collector registers once");
        }
        let build_info = gauge_vec(&registry, names::BUILD_INFO);
        build_info
            .with_label_values(&[build.version, build.delivery])
            .set(1);
        let scanned = counter_vec(&registry, names::MESSAGES_SCANNED);
        let stage_duration = histogram_vec(&registry, names::STAGE_DURATION, LATENCY_BUCKETS);
        let attachments = counter_vec(&registry, names::ATTACHMENTS);
        let outputs = counter_vec(&registry, names::OUTPUTS);
        let producer_errors = counter_vec(&registry, names::PRODUCER_ERRORS);
        let guarded = gauge_vec(&registry, names::GUARDED_PARTITIONS);
        let commits = counter_vec(&registry, names::COMMITS);
        let kinds = [
            OutputKind::Flag,
            OutputKind::DeadLetter,
            OutputKind::Verdict,
            OutputKind::Sighting,
        ];
        let rebalances = counter_vec(&registry, names::REBALANCES);
        for kind in ["assign", "revoke", "lost"] {
            rebalances.with_label_values(&[kind]);
        }
        Metrics {
            ready: gauge(&registry, names::READY),
            consumed: counter_vec(&registry, names::MESSAGES_CONSUMED),
            scanned: [VerdictKind::Clean, VerdictKind::Flagged, VerdictKind::Error]
                .map(|v| scanned.with_label_values(&[verdict_label(v)])),
            flags: counter_vec(&registry, names::FLAGS),
            matches: counter_vec(&registry, names::MATCHES),
            suppressed: counter_vec(&registry, names::MATCHES_SUPPRESSED),
            quarantined: counter_vec(&registry, names::MATCHES_QUARANTINED),
            entries_quarantined: {
                let by_reason = gauge_vec(&registry, names::ENTRIES_QUARANTINED);
                ["precision", "flood"].map(|reason| by_reason.with_label_values(&[reason]))
            },
            entries_disabled: gauge(&registry, names::ENTRIES_DISABLED),
            entry_decisions: counter_vec(&registry, names::ENTRY_DECISIONS),
            entry_state_unreadable: counter(&registry, names::ENTRY_STATE_UNREADABLE),
            distance: histogram_vec(&registry, names::MATCH_DISTANCE, DISTANCE_BUCKETS),
            scan_duration: histogram(&registry, names::SCAN_DURATION, LATENCY_BUCKETS),
            stage_duration: TimedStep::ALL
                .iter()
                .map(|s| stage_duration.with_label_values(&[s.as_str()]))
                .collect(),
            attachments: AttachmentOutcome::ALL
                .iter()
                .map(|o| attachments.with_label_values(&[o.as_str()]))
                .collect(),
            fetched: counter(&registry, names::ATTACHMENTS_FETCHED),
            video: VideoMetrics::new(&registry),
            errors: counter_vec(&registry, names::ERRORS),
            dead_letters: counter_vec(&registry, names::DEAD_LETTERS),
            outputs: kinds.map(|k| outputs.with_label_values(&[k.as_str()])),
            producer_errors: kinds.map(|k| producer_errors.with_label_values(&[k.as_str()])),
            in_flight: gauge(&registry, names::IN_FLIGHT),
            buffered: gauge(&registry, names::BUFFERED_MESSAGES),
            buffered_bytes: gauge(&registry, names::BUFFERED_BYTES),
            assigned: gauge(&registry, names::ASSIGNED_PARTITIONS),
            paused: gauge(&registry, names::PAUSED_PARTITIONS),
            guarded: ["careful", "serial"].map(|m| guarded.with_label_values(&[m])),
            lag: gauge_vec(&registry, names::CONSUMER_LAG),
            lag_labels: Mutex::new(BTreeSet::new()),
            commits: ["ok", "error"].map(|r| commits.with_label_values(&[r])),
            commit_duration: histogram(&registry, names::COMMIT_DURATION, COMMIT_BUCKETS),
            aborted: counter(&registry, names::TRANSACTIONS_ABORTED),
            rebalances,
            list_info: gauge_vec(&registry, names::LIST_INFO),
            list_entries: gauge_vec(&registry, names::LIST_ENTRIES),
            list_loaded: float_gauge_vec(&registry, names::LIST_LOADED),
            list_created: float_gauge_vec(&registry, names::LIST_CREATED),
            list_reloads: counter_vec(&registry, names::LIST_RELOADS),
            list_reload_ok: gauge_vec(&registry, names::LIST_RELOAD_OK),
            list_labels: Mutex::new(Vec::new()),
            registry,
        }
    }

    /// Everything in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding our own registry into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Whether `/readyz` answers 200.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// `n` records read from `topic`.
    pub fn consumed(&self, topic: &str, n: u64) {
        self.consumed.with_label_values(&[topic]).inc_by(n);
    }

    /// One record processed in `elapsed`: its verdict, matches, distances, stage times,
    /// attachments and error records.
    pub fn record_outcome(&self, outcome: &Outcome, trace: &Trace, elapsed: Duration) {
        let verdict = match outcome.verdict() {
            VerdictKind::Clean => 0,
            VerdictKind::Flagged => 1,
            VerdictKind::Error => 2,
        };
        self.scanned[verdict].inc();
        self.scan_duration.observe(elapsed.as_secs_f64());
        for (stage, spent) in trace.stages() {
            self.stage_duration[stage as usize].observe(spent.as_secs_f64());
        }
        for (outcome, n) in trace.attachments() {
            if n > 0 {
                self.attachments[outcome as usize].inc_by(u64::from(n));
            }
        }
        if trace.fetched_count() > 0 {
            self.fetched.inc_by(u64::from(trace.fetched_count()));
        }
        for video in trace.videos() {
            self.video.record(video);
        }
        for error in &outcome.errors {
            self.errors
                .with_label_values(&[error.reason.as_str(), error.stage.as_str()])
                .inc();
        }
        for s in &outcome.suppressed {
            self.suppressed
                .with_label_values(&[&s.list, s.reason.as_str()])
                .inc();
        }
        let Some(flag) = &outcome.flag else {
            return;
        };
        for m in &flag.matches {
            let detector = m.detector.as_str();
            self.matches
                .with_label_values(&[&m.list, &m.list_version, &m.category, detector])
                .inc();
            if let (DetectorKind::Hash(algorithm), MatchSubject::Attachment { distance, .. }) =
                (m.detector, &m.subject)
                && !algorithm.is_exact()
            {
                self.distance
                    .with_label_values(&[detector])
                    .observe(f64::from(*distance));
            }
        }
    }

    /// A flagged match's entry is quarantined for `reason`.
    pub fn match_quarantined(&self, list: &str, reason: &str) {
        self.quarantined.with_label_values(&[list, reason]).inc();
    }

    /// The entry state now: entries disabled, and quarantined by the precision and the
    /// flood rule.
    pub fn set_entry_state(&self, disabled: usize, precision: usize, flood: usize) {
        let int = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.entries_disabled.set(int(disabled));
        self.entries_quarantined[0].set(int(precision));
        self.entries_quarantined[1].set(int(flood));
    }

    /// A reviewer's decision on an entry was written to the entry state.
    pub fn entry_decision_fed(&self, outcome: &str) {
        self.entry_decisions.with_label_values(&[outcome]).inc();
    }

    /// An entry-state, sighting or decision record could not be read.
    pub fn entry_state_unreadable(&self) {
        self.entry_state_unreadable.inc();
    }

    /// A flag was routed to `review_topic`.
    pub fn flag_routed(&self, review_topic: &str, severity: &str) {
        self.flags
            .with_label_values(&[review_topic, severity])
            .inc();
    }

    /// A record went to the dead-letter topic with first reason `reason`.
    pub fn dead_lettered(&self, reason: &str) {
        self.dead_letters.with_label_values(&[reason]).inc();
    }

    /// An output record was acknowledged.
    pub fn output_delivered(&self, kind: OutputKind) {
        self.outputs[kind as usize].inc();
    }

    /// An output record's delivery failed.
    pub fn producer_error(&self, kind: OutputKind) {
        self.producer_errors[kind as usize].inc();
    }

    /// The runtime's queues now.
    pub fn set_runtime(&self, gauges: RuntimeGauges) {
        let int = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.in_flight.set(int(gauges.in_flight));
        self.buffered.set(int(gauges.buffered));
        self.buffered_bytes
            .set(i64::try_from(gauges.buffered_bytes).unwrap_or(i64::MAX));
        self.assigned.set(int(gauges.assigned));
        self.paused.set(int(gauges.paused));
        self.guarded[0].set(int(gauges.careful));
        self.guarded[1].set(int(gauges.serial));
    }

    /// Consumer lag of each assigned partition (from librdkafka statistics); partitions not
    /// listed lose their series.
    pub fn set_lag<'a>(&self, lags: impl IntoIterator<Item = (&'a str, i32, i64)>) {
        let mut previous = self
            .lag_labels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut current = BTreeSet::new();
        for (topic, partition, lag) in lags {
            let labels = (topic.to_string(), partition.to_string());
            self.lag.with_label_values(&[&labels.0, &labels.1]).set(lag);
            current.insert(labels);
        }
        for (topic, partition) in previous.difference(&current) {
            let _ = self.lag.remove_label_values(&[topic, partition]);
        }
        *previous = current;
    }

    /// An offset or transaction commit finished after `took`.
    pub fn commit(&self, ok: bool, took: Duration) {
        self.commits[usize::from(!ok)].inc();
        self.commit_duration.observe(took.as_secs_f64());
    }

    /// Exactly-once: a transaction was aborted.
    pub fn transaction_aborted(&self) {
        self.aborted.inc();
    }

    /// A rebalance event: `assign`, `revoke` or `lost`.
    pub fn rebalance(&self, kind: &'static str) {
        self.rebalances.with_label_values(&[kind]).inc();
    }

    /// The lists now in force, loaded at `loaded_at` (Unix seconds) unless already reported
    /// with the same version; series of versions no longer in force are removed.
    pub fn lists_in_force(&self, lists: &[LoadedList], loaded_at: f64) {
        let mut previous = self
            .list_labels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current: Vec<ListLabels> = lists
            .iter()
            .map(|l| ListLabels {
                list: l.info.name.clone(),
                kind: l.kind.as_str(),
                version: l.info.version.clone(),
                sha256: l.info.sha256.clone(),
                created: l.info.provenance.is_some(),
            })
            .collect();
        for old in previous.iter().filter(|old| !current.contains(old)) {
            let _ = self.list_info.remove_label_values(&[
                &old.list,
                old.kind,
                &old.version,
                &old.sha256,
            ]);
            if !current.iter().any(|c| c.list == old.list) {
                let _ = self.list_entries.remove_label_values(&[&old.list]);
                let _ = self.list_loaded.remove_label_values(&[&old.list]);
                let _ = self.list_reload_ok.remove_label_values(&[&old.list]);
            }
            if old.created {
                let _ = self.list_created.remove_label_values(&[&old.list]);
            }
        }
        for (labels, list) in current.iter().zip(lists) {
            let name = labels.list.as_str();
            self.list_info
                .with_label_values(&[name, labels.kind, &labels.version, &labels.sha256])
                .set(1);
            self.list_entries
                .with_label_values(&[name])
                .set(i64::try_from(list.info.entries).unwrap_or(i64::MAX));
            if !previous.contains(labels) {
                self.list_loaded.with_label_values(&[name]).set(loaded_at);
            }
            if let Some(provenance) = &list.info.provenance {
                self.list_created
                    .with_label_values(&[name])
                    .set(provenance.created_at.unix_timestamp() as f64);
            }
            let ok = self.list_reload_ok.with_label_values(&[name]);
            if !previous.iter().any(|p| p.list == name) {
                ok.set(1);
            }
        }
        *previous = current;
    }

    /// What a reload found: each list update replaced or refused.
    pub fn list_update(&self, report: &ReloadReport) {
        for change in &report.changes {
            let (list, result, ok) = match change {
                ListChange::Replaced { new, .. } => (&new.name, "replaced", 1),
                ListChange::Refused { kept, .. } => (&kept.name, "refused", 0),
            };
            self.list_reloads.with_label_values(&[list, result]).inc();
            self.list_reload_ok.with_label_values(&[list]).set(ok);
        }
    }
}

fn verdict_label(verdict: VerdictKind) -> &'static str {
    match verdict {
        VerdictKind::Clean => "clean",
        VerdictKind::Flagged => "flagged",
        VerdictKind::Error => "error",
    }
}

#[cfg(test)]
mod tests;
