//! The Kafka runtime behind `vigil run`: a consumer group member that scans every record of
//! the input topics and writes flags to review topics, unscannable records to a dead-letter
//! topic and (optionally) one verdict per record to a verdict topic — without ever losing a
//! record across crashes, deploys and rebalances.
//!
//! - [`run`] — the blocking consume → scan → produce loop (at-least-once by default: an
//!   offset is stored only after every output of its record is acknowledged, through
//!   per-partition contiguous-completion watermarks; exactly-once: outputs and offsets in
//!   one transaction).
//! - [`Health`] and [`admin`] — `/healthz` (alive, poll loop progressing), `/readyz`
//!   (lists loaded, group joined), `/metrics` (recorded into [`vigil_metrics::Metrics`] by
//!   the loop, the scanning threads and delivery reports) and `/lists`.
//! - [`records::outputs`] — the pure mapping from a scan outcome to output records, with the
//!   `vigil.error.*` dead-letter headers in [`records::headers`].
//! - [`tracker::Tracker`] — the watermarks.
//! - [`breaker`] — the crash-loop breaker: a record that ends the process (an abort, an
//!   out-of-memory kill) is found through marks in the committed offsets' metadata and
//!   dead-lettered after `kafka.crash_loop_limit` crashes, instead of stalling its partition.
//! - [`audit::audit`] — the report behind `vigil audit`, from the verdict topic alone.
//! - [`replay::replay`] — `vigil dlq replay`: dead-lettered records back onto an input
//!   topic, idempotently.
//! - [`client`] — one settings builder per client role (scanner consumer, producers,
//!   readers, the review console's consumers); `[kafka.tls]`, `[kafka.sasl]` and the user's
//!   properties are layered in one place, each key vigil owns is set once.
//! - [`AccessError`] — every client shares `[kafka.tls]` and `[kafka.sasl]`; each command
//!   connects once at start-up and stops with the cause if the brokers refuse the TLS
//!   handshake or the SASL credentials (librdkafka alone would retry forever).
//! - [`config`] — the `[kafka]`, `[admin]` and `[[routes]]` sections, and
//!   [`config::RunConfig`], what `vigil run` reads besides scanning.
//!
//! The runtime knows the scanner only through [`vigil_scan::SharedPipeline`] (the pipeline
//! in force, which a list reload may swap between two records); detectors know nothing of
//! Kafka.
//!
//! ```no_run
//! use std::sync::{Arc, atomic::AtomicBool};
//! use std::time::Duration;
//! use vigil_kafka::config::{KafkaConfig, RunConfig};
//! use vigil_kafka::{Health, run};
//! use vigil_metrics::{BuildInfo, Metrics};
//! use vigil_scan::{Reloader, config::ScanConfig};
//!
//! // The binary assembles both from the configuration file's sections (`vigil-config`).
//! let config = Arc::new(RunConfig {
//!     kafka: KafkaConfig { input_topics: vec!["dms".into()], ..KafkaConfig::default() },
//!     ..RunConfig::default()
//! });
//! let reloader = Reloader::start(ScanConfig::default(), config.kafka.worker_threads).unwrap();
//! let pipeline = reloader.shared(); // call reloader.reload(..) from a timer to pick up new lists
//! let health = Arc::new(Health::new(Duration::from_secs(config.kafka.stall_timeout_secs)));
//! let metrics = Arc::new(Metrics::new(&BuildInfo { version: "0.1.0", delivery: "at-least-once" }));
//! let shutdown = Arc::new(AtomicBool::new(false)); // set it from a signal handler
//! run(config, pipeline, health, metrics, shutdown).unwrap();
//! ```

mod access;
mod acked;
pub mod admin;
pub mod audit;
pub mod breaker;
pub mod client;
pub mod config;
pub mod entries;
mod health;
mod read;
pub mod records;
pub mod replay;
mod runtime;
pub mod tracker;

pub use access::{AccessError, check_access};
pub use health::Health;
pub use read::ToolError;
pub use runtime::{RunError, run};
