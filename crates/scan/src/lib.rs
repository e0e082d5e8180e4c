//! The scanning core: a pure, synchronous [`Scanner`] (message in, [`Verdict`] out) built from
//! [`Detector`]s, and the [`Pipeline`] that turns one raw input record into flags and error
//! records — the same function whether the record came from a file line or a Kafka message.
//!
//! - [`Detector`] — the seam every detector implements: it reads a [`ScanContext`] (the
//!   message and its resolved attachments) and adds matches or problems to [`Findings`].
//!   Detectors never see where the message came from; they read the clock only to bound an
//!   image's work and to time their steps into the [`Trace`]. Their only I/O is the video
//!   detector's, to its worker processes.
//! - [`Scanner`] — runs every detector, contains a panicking detector to that message, and
//!   assembles the [`vigil_core::Flag`].
//! - [`Resolver`] — the only I/O before scanning: base64 decoding and `file://` fetching
//!   beneath configured roots (no symlink followed), within size limits per attachment and
//!   per message.
//! - [`Pipeline`] — parse → resolve → scan, emitting [`vigil_core::ErrorRecord`]s for whatever
//!   could not be scanned; built once from a [`config::ScanConfig`] (lists compiled then).
//! - [`ListSet`] and [`Reloader`] — the lists in force, re-read when their files change and
//!   swapped into the [`SharedPipeline`] scanning threads read.
//! - [`VideoDetector`] — videos and animated images, hashed in isolated worker processes
//!   (`vigil-video`) and matched against vPDQ lists and, frame by frame, image lists.
//! - [`Trace`] — the time of each [`TimedStep`] and the attachment outcomes of one record,
//!   for metrics.
//! - [`BoundedLines`] — JSON-lines framing that never holds more than the record limit.
//! - [`config`] — the `[match]`, `[attachments]` and `[input]` sections, and
//!   [`config::ScanConfig`], everything scanning reads of the file.
//!
//! ```
//! use vigil_core::Source;
//! use vigil_scan::Pipeline;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let keywords = dir.path().join("kw.csv");
//! std::fs::write(&keywords, "rule_id,term,category\nk1,home alone,grooming.isolation\n").unwrap();
//! let mut config = vigil_scan::config::ScanConfig::default();
//! config.lists.keyword_lists.push(keywords.into());
//! let pipeline = Pipeline::from_config(&config).unwrap();
//!
//! let record = br#"{"message_id":"m-1","conversation_id":"c-1","sender_id":"u-1",
//!   "recipient_ids":["u-2"],"sent_at":"2026-11-26T07:00:00Z","text":"are you home alone?"}"#;
//! let source = Source::File { file: "dms.jsonl".into(), line: 1 };
//! let outcome = pipeline.process(record, source, time::OffsetDateTime::now_utc());
//! let flag = outcome.flag.unwrap();
//! assert_eq!(flag.matches[0].category, "grooming.isolation");
//! assert!(outcome.errors.is_empty());
//! ```

mod allow;
pub mod config;
mod detector;
mod detectors;
mod lines;
mod pipeline;
mod reload;
mod resolve;
mod scanner;
mod trace;
mod url;
mod video;

pub use allow::AllowLists;
pub use detector::{Detector, Findings, Problem, ScanContext};
pub use detectors::{
    ExactHashDetector, HashLimit, HashLimits, ImageHashDetector, ImageMatchSettings,
    KeywordDetector, decode_limits,
};
pub use lines::{BoundedLines, Record};
pub use pipeline::{BuildError, ListKind, LoadedList, Outcome, Pipeline};
pub use reload::{ListChange, ListSet, ReloadReport, Reloader, SharedPipeline};
pub use resolve::{ResolvedAttachment, Resolver};
pub use scanner::{Scanner, Verdict};
pub use trace::{AttachmentOutcome, TimedStep, Trace, VideoObservation};
pub use url::UrlDetector;
pub use video::{VideoDetector, VideoLists};
