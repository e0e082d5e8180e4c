//! Every metric vigil exports: name, help and labels, in one place. Labels are bounded: list
//! names, versions and categories come from the loaded lists, topics and partitions from the
//! configuration and assignment, the rest from closed sets. Never user ids, message ids or
//! content. `docs/auditing.md` explains each one.

/// A metric's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (name ends in `_total`).
    Counter,
    /// A value now.
    Gauge,
    /// Observations in buckets (`_bucket`, `_sum`, `_count` series).
    Histogram,
}

impl Kind {
    /// The `# TYPE` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A metric's name, type, help text and label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Def {
    /// The full name (`vigil_` prefix, base-unit suffix).
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Label names, in order.
    pub labels: &'static [&'static str],
}

const fn def(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    labels: &'static [&'static str],
) -> Def {
    Def {
        name,
        kind,
        help,
        labels,
    }
}

/// Build facts; the value is always 1.
pub const BUILD_INFO: Def = def(
    "vigil_build_info",
    Kind::Gauge,
    "vigil build: version and delivery mode (value 1)",
    &["version", "delivery"],
);
/// 1 while `/readyz` would answer 200.
pub const READY: Def = def(
    "vigil_ready",
    Kind::Gauge,
    "1 when lists are loaded, the group is joined and the poll loop is progressing",
    &[],
);
/// Records read from the input topics.
pub const MESSAGES_CONSUMED: Def = def(
    "vigil_messages_consumed_total",
    Kind::Counter,
    "Records read from the input topics (redeliveries count again)",
    &["topic"],
);
/// Records processed, by verdict.
pub const MESSAGES_SCANNED: Def = def(
    "vigil_messages_scanned_total",
    Kind::Counter,
    "Records processed, by verdict: clean, flagged, or error (not scanned, dead-lettered)",
    &["verdict"],
);
/// Flags produced, by review topic and severity.
pub const FLAGS: Def = def(
    "vigil_flags_total",
    Kind::Counter,
    "Flags produced, by the review topic they were routed to and their severity",
    &["review_topic", "severity"],
);
/// Matches, by list, list version, category and detector.
pub const MATCHES: Def = def(
    "vigil_matches_total",
    Kind::Counter,
    "Matches inside flags, by list, list version, entry category and detector",
    &["list", "list_version", "category", "detector"],
);
/// Matches found and not flagged, by the suppressed match's list and why.
pub const MATCHES_SUPPRESSED: Def = def(
    "vigil_matches_suppressed_total",
    Kind::Counter,
    "Matches found and not flagged, by the suppressed match's list and reason (allow_list, disabled)",
    &["list", "reason"],
);
/// Flagged matches of quarantined entries.
pub const MATCHES_QUARANTINED: Def = def(
    "vigil_matches_quarantined_total",
    Kind::Counter,
    "Flagged matches whose entry is quarantined, by list and reason (precision, flood)",
    &["list", "reason"],
);
/// Entries quarantined now.
pub const ENTRIES_QUARANTINED: Def = def(
    "vigil_entries_quarantined",
    Kind::Gauge,
    "Entries whose new matches go to verification, by reason (precision, flood)",
    &["reason"],
);
/// Entries disabled now.
pub const ENTRIES_DISABLED: Def = def(
    "vigil_entries_disabled",
    Kind::Gauge,
    "Entries disabled by the overlay (vigil lists disable, the console)",
    &[],
);
/// Reviewers' per-entry decisions fed into the entry state.
pub const ENTRY_DECISIONS: Def = def(
    "vigil_entry_decisions_total",
    Kind::Counter,
    "Reviewers' decisions on entries written to the entry-state topic, by outcome (confirmed, false_positive)",
    &["outcome"],
);
/// Entry-state and decision records that could not be read.
pub const ENTRY_STATE_UNREADABLE: Def = def(
    "vigil_entry_state_unreadable_total",
    Kind::Counter,
    "Records of the entry-state, sightings or decisions topics skipped as unreadable",
    &[],
);
/// Hamming distance of perceptual matches.
pub const MATCH_DISTANCE: Def = def(
    "vigil_match_hamming_distance",
    Kind::Histogram,
    "Hamming distance of each perceptual-hash match, by algorithm",
    &["algorithm"],
);
/// Time to process one record.
pub const SCAN_DURATION: Def = def(
    "vigil_scan_duration_seconds",
    Kind::Histogram,
    "Time to process one record: parse, resolve and every detector",
    &[],
);
/// Time per pipeline stage.
pub const STAGE_DURATION: Def = def(
    "vigil_scan_stage_duration_seconds",
    Kind::Histogram,
    "Time one record spent in a stage (parse, resolve, exact, decode, hash, match, text, video), for records that reached it",
    &["stage"],
);
/// Videos handed to the video workers, by result.
pub const VIDEOS: Def = def(
    "vigil_videos_total",
    Kind::Counter,
    "Videos and animated images handed to a video worker, by result: hashed (wholly or in part) or failed",
    &["result"],
);
/// Video failures by reason.
pub const VIDEO_FAILURES: Def = def(
    "vigil_video_failures_total",
    Kind::Counter,
    "Videos a worker could not hash at all, by reason code (video_decode_failed, video_timeout, video_worker_crashed, ...)",
    &["reason"],
);
/// Workers that died or were killed.
pub const VIDEO_WORKER_RESTARTS: Def = def(
    "vigil_video_worker_restarts_total",
    Kind::Counter,
    "Video workers that crashed or were killed (wall clock, CPU limit) and were replaced",
    &[],
);
/// Seconds of video decoded.
pub const VIDEO_DECODED: Def = def(
    "vigil_video_decoded_seconds_total",
    Kind::Counter,
    "Seconds of video decoded (frames decoded at the stream's frame rate)",
    &[],
);
/// Frames decoded and hashed.
pub const VIDEO_FRAMES: Def = def(
    "vigil_video_frames_total",
    Kind::Counter,
    "Video frames by step: decoded (sampled or not) and hashed",
    &["step"],
);
/// Time per video.
pub const VIDEO_DURATION: Def = def(
    "vigil_video_duration_seconds",
    Kind::Histogram,
    "Wall time of one video in a worker, from handing it over to its last hash or failure",
    &[],
);
/// Peak memory per worker.
pub const VIDEO_WORKER_MEMORY: Def = def(
    "vigil_video_worker_peak_memory_bytes",
    Kind::Histogram,
    "Peak resident memory of a video worker, per video hashed",
    &[],
);
/// Attachments by outcome.
pub const ATTACHMENTS: Def = def(
    "vigil_attachments_total",
    Kind::Counter,
    "Attachments of parsed messages by outcome: hashed, exact_only, too_large, undecodable, timed_out, unsupported, unresolved",
    &["outcome"],
);
/// Attachments read from `file://` uris.
pub const ATTACHMENTS_FETCHED: Def = def(
    "vigil_attachments_fetched_total",
    Kind::Counter,
    "Attachments read from file:// uris (the rest were inline)",
    &[],
);
/// Error records, by reason code and stage.
pub const ERRORS: Def = def(
    "vigil_errors_total",
    Kind::Counter,
    "Error records (parts of records that could not be scanned), by reason code and stage",
    &["reason", "stage"],
);
/// Records written to the dead-letter topic.
pub const DEAD_LETTERS: Def = def(
    "vigil_dead_letters_total",
    Kind::Counter,
    "Records copied to the dead-letter topic, by their first reason code",
    &["reason"],
);
/// Output records acknowledged by the broker.
pub const OUTPUTS: Def = def(
    "vigil_output_records_total",
    Kind::Counter,
    "Output records acknowledged by the broker, by kind: flag, dead_letter, verdict, sighting",
    &["kind"],
);
/// Failed output deliveries.
pub const PRODUCER_ERRORS: Def = def(
    "vigil_producer_errors_total",
    Kind::Counter,
    "Output deliveries that failed (at-least-once re-sends them), by kind",
    &["kind"],
);
/// Records being scanned or awaiting acknowledgement.
pub const IN_FLIGHT: Def = def(
    "vigil_in_flight_messages",
    Kind::Gauge,
    "Records dispatched to scanning whose outputs are not yet acknowledged",
    &[],
);
/// Records polled but not yet dispatched.
pub const BUFFERED_MESSAGES: Def = def(
    "vigil_buffered_messages",
    Kind::Gauge,
    "Records polled and waiting for a scanning slot (bounded by kafka.max_in_flight)",
    &[],
);
/// Bytes of records polled but not yet dispatched.
pub const BUFFERED_BYTES: Def = def(
    "vigil_buffered_bytes",
    Kind::Gauge,
    "Bytes of records waiting for a scanning slot (pauses at kafka.max_buffered_bytes)",
    &[],
);
/// Partitions assigned to this member.
pub const ASSIGNED_PARTITIONS: Def = def(
    "vigil_assigned_partitions",
    Kind::Gauge,
    "Input partitions assigned to this consumer",
    &[],
);
/// Partitions paused for backpressure.
pub const PAUSED_PARTITIONS: Def = def(
    "vigil_paused_partitions",
    Kind::Gauge,
    "Assigned partitions paused because the buffer is full (backpressure)",
    &[],
);
/// Partitions the crash-loop breaker reads carefully or one record at a time.
pub const GUARDED_PARTITIONS: Def = def(
    "vigil_crash_guarded_partitions",
    Kind::Gauge,
    "Assigned partitions the crash-loop breaker reads carefully (committing every batch) or serially (one record at a time) after starts that ended without a clean release",
    &["mode"],
);
/// Consumer lag per partition, from librdkafka statistics.
pub const CONSUMER_LAG: Def = def(
    "vigil_consumer_lag_messages",
    Kind::Gauge,
    "Records behind the partition's high watermark (librdkafka statistics), per assigned partition",
    &["topic", "partition"],
);
/// Offset commits by result.
pub const COMMITS: Def = def(
    "vigil_offset_commits_total",
    Kind::Counter,
    "Offset commits (at-least-once) or transaction commits (exactly-once), by result: ok, error",
    &["result"],
);
/// Commit latency.
pub const COMMIT_DURATION: Def = def(
    "vigil_commit_duration_seconds",
    Kind::Histogram,
    "Time from requesting an offset or transaction commit to its acknowledgement",
    &[],
);
/// Exactly-once: transactions aborted.
pub const TRANSACTIONS_ABORTED: Def = def(
    "vigil_transactions_aborted_total",
    Kind::Counter,
    "Exactly-once transactions aborted (their records are scanned again)",
    &[],
);
/// Rebalance events.
pub const REBALANCES: Def = def(
    "vigil_rebalances_total",
    Kind::Counter,
    "Rebalance events of this member, by kind: assign, revoke, lost",
    &["kind"],
);
/// A list in force; the value is always 1.
pub const LIST_INFO: Def = def(
    "vigil_list_info",
    Kind::Gauge,
    "A list in force (value 1): name, kind, version and the SHA-256 of its data file",
    &["list", "kind", "version", "sha256"],
);
/// Entries of a list in force.
pub const LIST_ENTRIES: Def = def(
    "vigil_list_entries",
    Kind::Gauge,
    "Entries or rules of each list in force",
    &["list"],
);
/// When the version in force was loaded.
pub const LIST_LOADED: Def = def(
    "vigil_list_loaded_timestamp_seconds",
    Kind::Gauge,
    "Unix time the version in force of each list was loaded",
    &["list"],
);
/// When the publisher made the version in force.
pub const LIST_CREATED: Def = def(
    "vigil_list_created_timestamp_seconds",
    Kind::Gauge,
    "Unix time the publisher made the version in force (manifest created_at; absent without a manifest)",
    &["list"],
);
/// List reload attempts that found a change, by result.
pub const LIST_RELOADS: Def = def(
    "vigil_list_reloads_total",
    Kind::Counter,
    "List updates seen on reload, by result: replaced (new version in force), refused (old version kept)",
    &["list", "result"],
);
/// Whether the last update of a list was accepted.
pub const LIST_RELOAD_OK: Def = def(
    "vigil_list_last_reload_success",
    Kind::Gauge,
    "1 if the last update seen for a list was put in force (or none was seen), 0 if refused",
    &["list"],
);

/// Every metric, for documentation and tests.
pub const ALL: &[Def] = &[
    BUILD_INFO,
    READY,
    MESSAGES_CONSUMED,
    MESSAGES_SCANNED,
    FLAGS,
    MATCHES,
    MATCHES_SUPPRESSED,
    MATCHES_QUARANTINED,
    ENTRIES_QUARANTINED,
    ENTRIES_DISABLED,
    ENTRY_DECISIONS,
    ENTRY_STATE_UNREADABLE,
    MATCH_DISTANCE,
    SCAN_DURATION,
    STAGE_DURATION,
    VIDEOS,
    VIDEO_FAILURES,
    VIDEO_WORKER_RESTARTS,
    VIDEO_DECODED,
    VIDEO_FRAMES,
    VIDEO_DURATION,
    VIDEO_WORKER_MEMORY,
    ATTACHMENTS,
    ATTACHMENTS_FETCHED,
    ERRORS,
    DEAD_LETTERS,
    OUTPUTS,
    PRODUCER_ERRORS,
    IN_FLIGHT,
    BUFFERED_MESSAGES,
    BUFFERED_BYTES,
    ASSIGNED_PARTITIONS,
    PAUSED_PARTITIONS,
    GUARDED_PARTITIONS,
    CONSUMER_LAG,
    COMMITS,
    COMMIT_DURATION,
    TRANSACTIONS_ABORTED,
    REBALANCES,
    LIST_INFO,
    LIST_ENTRIES,
    LIST_LOADED,
    LIST_CREATED,
    LIST_RELOADS,
    LIST_RELOAD_OK,
];

/// Items in the review store, by review topic and status (`vigil review`).
pub const REVIEW_FLAGS: Def = def(
    "vigil_review_flags",
    Kind::Gauge,
    "Flags in the review store, by review topic and status (open, escalated, decided)",
    &["queue", "status"],
);
/// Age of the oldest item waiting in each review topic.
pub const REVIEW_OLDEST_WAITING: Def = def(
    "vigil_review_oldest_waiting_age_seconds",
    Kind::Gauge,
    "Seconds since the oldest open or escalated flag of a review topic was flagged",
    &["queue"],
);
/// Decided flags by latest decision, per list version, category and detector.
pub const REVIEW_DECIDED: Def = def(
    "vigil_review_decided_flags",
    Kind::Gauge,
    "Matches of decided flags by their outcome under the flag's latest decision (confirm, false_positive; escalate while escalated), per list, list version, category and detector: counted per match, so a per-match decision counts each match by its own outcome",
    &["list", "list_version", "category", "detector", "decision"],
);
/// Confirmed share of decided flags.
pub const REVIEW_PRECISION: Def = def(
    "vigil_review_precision_ratio",
    Kind::Gauge,
    "Confirmed / (confirmed + false positive) matches, per list, list version, category and detector (absent until one is decided)",
    &["list", "list_version", "category", "detector"],
);
/// Decisions not yet acknowledged by the decisions topic.
pub const REVIEW_DECISIONS_UNPUBLISHED: Def = def(
    "vigil_review_decisions_unpublished",
    Kind::Gauge,
    "Decisions recorded but not yet acknowledged by the decisions topic (the outbox)",
    &[],
);

/// Review records set aside instead of stored as flags, by reason.
pub const REVIEW_REJECTED_RECORDS: Def = def(
    "vigil_review_rejected_records_total",
    Kind::Counter,
    "Review records this console kept in rejected_records instead of the queue, by review topic and reason (invalid_flag, unsupported_schema_version, store_refused)",
    &["queue", "reason"],
);
/// Video contact sheets that could not be rendered, by reason.
pub const REVIEW_CONTACT_SHEET_FAILURES: Def = def(
    "vigil_review_contact_sheet_failures_total",
    Kind::Counter,
    "Flagged videos whose contact sheet this console could not render in full at ingest, by reason code (the flag is stored; its page says why)",
    &["reason"],
);
/// The console group's committed offset per review-topic partition.
pub const REVIEW_INGEST_COMMITTED: Def = def(
    "vigil_review_ingest_committed_offset",
    Kind::Gauge,
    "Offset the console's consumer group committed on a review-topic partition (-1: none yet), from librdkafka statistics",
    &["topic", "partition"],
);
/// Records waiting behind the console group's committed offset.
pub const REVIEW_INGEST_LAG: Def = def(
    "vigil_review_ingest_lag_messages",
    Kind::Gauge,
    "Records of a review-topic partition after the console group's committed offset, from librdkafka statistics",
    &["topic", "partition"],
);

/// Every metric of the review console (`vigil review`, on `review.metrics_listen`).
pub const REVIEW: &[Def] = &[
    REVIEW_FLAGS,
    REVIEW_OLDEST_WAITING,
    REVIEW_DECIDED,
    REVIEW_PRECISION,
    REVIEW_DECISIONS_UNPUBLISHED,
    REVIEW_REJECTED_RECORDS,
    REVIEW_CONTACT_SHEET_FAILURES,
    REVIEW_INGEST_COMMITTED,
    REVIEW_INGEST_LAG,
];
