//! The review console behind `vigil review`: flags from the review topics become a queue
//! that safety teams work in the browser.
//!
//! - [`ingest::ingest`] — consumes the review topics into PostgreSQL, fetching each flagged
//!   message's text and images from its source topic (only if it is the message flagged),
//!   rendering blurred previews ([`preview`]) and the contact sheets of matched videos
//!   ([`contact`], in a confined video worker), de-duplicating on `flag_id`, setting aside
//!   records that cannot be stored, and storing an offset for commit only after its record
//!   is settled.
//! - [`Store`] — the database (schema in `crates/review/migrations/`; [`Store::for_console`]
//!   as the console's own role, [`Store::migrate`] as the owner): flags, matches, content
//!   (purged after `review.content_retention_days` unless under a legal hold, [`holds`]),
//!   reviewers, sessions, decisions and the hash-chained, append-only access log ([`chain`]);
//!   content sealed at rest ([`sealing`]); flags grouped by account into [`cases`].
//! - [`router`] — the console's pages; [`throttle`] slows password guessing.
//! - [`config`] — the `[review]` section, and [`config::ConsoleConfig`], what the console
//!   reads of the file.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use std::time::Duration;
//! use vigil_review::config::ConsoleConfig;
//! use vigil_review::{Store, ingest};
//!
//! // The binary assembles it from the configuration file's sections (`vigil-config`).
//! let config = ConsoleConfig { topics: vec!["vigil.flags".into()], ..ConsoleConfig::default() };
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let store = rt
//!     .block_on(Store::for_console(&config.review, Duration::from_secs(10)))
//!     .unwrap();
//! let shutdown = AtomicBool::new(false); // set it from a signal handler
//! let queues = config.topics.clone();
//! let progress = std::sync::Arc::new(ingest::IngestProgress::new(&queues)); // for /metrics
//! let stats = ingest::ingest(&config, &store, rt.handle(), &shutdown, progress).unwrap();
//! println!("{} new flags", stats.stored);
//! ```

pub mod access;
pub mod accounts;
pub mod batch;
pub mod cases;
pub mod chain;
pub mod config;
pub mod contact;
pub mod decisions;
mod export;
pub mod holds;
pub mod ingest;
mod listen;
pub mod package;
pub mod preview;
pub mod queue;
pub mod reports;
pub mod retention;
mod schema;
pub mod sealing;
mod server;
mod sessions;
mod store;
#[cfg(test)]
mod test_support;
pub mod throttle;
pub mod wellness;
// Handlers return `Result<Response, WebError>`, and a web error may be a whole page.
#[allow(clippy::result_large_err)]
mod web;

pub use schema::Migrated;
pub use server::{ConsoleError, Listeners, run};
pub use store::{Content, Image, IncomingFlag, Rejected, Store, StoreError, Stored};
pub use web::{admin_router, router};
