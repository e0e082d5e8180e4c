//! From the review topics into the store: each flag with the content of the message it
//! flags, fetched from the message's source topic. An offset is stored for commit only after
//! its record is settled — its flag's row is in the database, or the record is kept in
//! `rejected_records` with a reason — so a crash redelivers (and the `flag_id` primary key
//! absorbs the repeat) but never loses a flag.
//!
//! No record may hold up the ones behind it for good. A failure that can pass (database or
//! broker unreachable, a lost serialisation race) or that an operator must fix (permissions,
//! schema) is retried with a growing pause, the partition waiting; data the database refuses
//! (SQLSTATE classes 22, 23, 54) would be refused again, so that record is set aside with
//! reason `store_refused` and the partition moves on.

mod fetch;
mod progress;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use tracing::{error, info, warn};
use vigil_core::{FLAG_SCHEMA_VERSION, Flag};

use crate::config::ConsoleConfig;

pub use progress::{IngestProgress, PartitionProgress, RejectReason};

use crate::store::{Content, IncomingFlag, Rejected, Store, StoreError, Stored};
use fetch::ContentFetcher;
use progress::ProgressContext;

/// The first pause after a failure; it doubles up to [`MAX_RETRY_BACKOFF`].
const RETRY_BACKOFF: Duration = Duration::from_secs(1);
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(30);
/// How long one poll may block; bounds how quickly shutdown is noticed.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Bound on seeking back and on the final commit.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Ingestion could not start or stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A Kafka client could not be created or subscribed (check `[kafka]`, `[review]`).
    #[error("cannot set up the review consumer ({what}): {source}")]
    Setup {
        /// Which call.
        what: &'static str,
        /// The client error.
        source: KafkaError,
    },
    /// The brokers refused the TLS or SASL settings.
    #[error(transparent)]
    Access(#[from] vigil_kafka::AccessError),
    /// `attachments.file_roots` is unusable.
    #[error("attachments.file_roots: {path}: {source}")]
    FileRoot {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn setup(what: &'static str) -> impl FnOnce(KafkaError) -> IngestError {
    move |source| IngestError::Setup { what, source }
}

/// Why one review record could not be settled yet.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the source record {0} did not arrive in time")]
    FetchTimeout(String),
}

/// Counts of what one ingestion run did, for tests and the stop log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Flags stored for the first time.
    pub stored: u64,
    /// Flags already stored (redeliveries, replays).
    pub duplicates: u64,
    /// Records kept in `rejected_records` instead (not flags, or refused by the database).
    pub rejected: u64,
    /// Video contact sheets that could not be rendered (in full); their flags are stored.
    pub contact_sheets_failed: u64,
}

/// Why a review record is not a usable flag: a reason and a detail that quotes no value.
fn parse_flag(payload: &[u8]) -> Result<Flag, (RejectReason, String)> {
    let flag: Flag = serde_json::from_slice(payload).map_err(|e| {
        (
            RejectReason::InvalidFlag,
            format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        )
    })?;
    if flag.schema_version != FLAG_SCHEMA_VERSION {
        return Err((
            RejectReason::UnsupportedSchemaVersion,
            format!(
                "schema_version {} (this console reads {FLAG_SCHEMA_VERSION})",
                flag.schema_version
            ),
        ));
    }
    flag.check()
        .map_err(|defect| (RejectReason::InvalidFlag, defect.to_string()))?;
    Ok(flag)
}

/// The pause before reading a failed record again: doubling from [`RETRY_BACKOFF`] to
/// [`MAX_RETRY_BACKOFF`] while failures follow each other, back to the start on success.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let pause = RETRY_BACKOFF.saturating_mul(1 << self.failures.min(5));
        self.failures = self.failures.saturating_add(1);
        pause.min(MAX_RETRY_BACKOFF)
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Sleeps `pause` unless `shutdown` is set meanwhile.
fn pause(pause: Duration, shutdown: &AtomicBool) {
    let step = Duration::from_millis(100);
    let mut left = pause;
    while !left.is_zero() && !shutdown.load(Ordering::SeqCst) {
        std::thread::sleep(step.min(left));
        left = left.saturating_sub(step);
    }
}

/// One review record as read.
struct Record<'a> {
    queue: &'a str,
    partition: i32,
    offset: i64,
    payload: &'a [u8],
}

/// What ingestion needs for each record.
struct Ingestor<'a> {
    store: &'a Store,
    rt: &'a tokio::runtime::Handle,
    fetcher: ContentFetcher,
    progress: Arc<IngestProgress>,
    stats: IngestStats,
    config: &'a ConsoleConfig,
}

impl Ingestor<'_> {
    /// Keeps `record` in `rejected_records` and counts it.
    fn reject(
        &mut self,
        record: &Record<'_>,
        reason: RejectReason,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.rt.block_on(self.store.reject(&Rejected {
            queue: record.queue,
            partition: record.partition,
            offset: record.offset,
            reason: reason.as_str(),
            detail,
            payload: record.payload,
        }))?;
        self.stats.rejected += 1;
        self.progress.rejected(record.queue, reason);
        Ok(())
    }

    /// Stores `record`'s flag with its content, or keeps a record that is not a usable flag
    /// in `rejected_records`.
    fn settle(&mut self, record: &Record<'_>) -> Result<(), Failure> {
        let flag = match parse_flag(record.payload) {
            Ok(flag) => flag,
            Err((reason, detail)) => {
                warn!(queue = %record.queue, partition = record.partition, offset = record.offset, reason = reason.as_str(), "review record is not a usable flag; kept in rejected_records");
                return Ok(self.reject(record, reason, &detail)?);
            }
        };
        let content = self.fetcher.fetch(&flag)?;
        if let Content::Stored { videos, .. } = &content {
            for reason in videos.iter().filter_map(|sheet| sheet.failure) {
                warn!(queue = %record.queue, partition = record.partition, offset = record.offset, reason, "no full contact sheet for a flagged video; the flag is stored with the reason");
                self.stats.contact_sheets_failed += 1;
                self.progress.contact_sheet_failed(reason);
            }
        }
        let incoming = IncomingFlag {
            flag,
            queue: record.queue.to_string(),
            partition: record.partition,
            offset: record.offset,
            content,
            leads_only: self.config.leads_only(record.queue),
        };
        match self.rt.block_on(self.store.insert_flag(&incoming))? {
            Stored::New => self.stats.stored += 1,
            Stored::Duplicate => self.stats.duplicates += 1,
        }
        Ok(())
    }

    /// After `failure`: sets `record` aside if the database refused its data (it would be
    /// refused again), so the partition moves on. Returns whether it did.
    fn set_aside(&mut self, record: &Record<'_>, failure: &Failure) -> bool {
        let Failure::Store(err) = failure else {
            return false;
        };
        let Some(sqlstate) = err.refused_data() else {
            return false;
        };
        let detail = format!(
            "the database refused the flag (SQLSTATE {sqlstate}, at {})",
            err.what()
        );
        match self.reject(record, RejectReason::StoreRefused, &detail) {
            Ok(()) => {
                error!(queue = %record.queue, partition = record.partition, offset = record.offset, %sqlstate, "the database refused a flag; kept in rejected_records for a lead");
                true
            }
            Err(err) => {
                warn!(error = %err, "cannot keep the refused record either; retrying");
                false
            }
        }
    }
}

/// Consumes the review topics into `store` until `shutdown` is set, then commits what was
/// settled; reports each partition's position in `progress`. Blocks the calling thread (not
/// an async runtime's); database calls run on `rt`.
pub fn ingest(
    config: &ConsoleConfig,
    store: &Store,
    rt: &tokio::runtime::Handle,
    shutdown: &AtomicBool,
    progress: Arc<IngestProgress>,
) -> Result<IngestStats, IngestError> {
    vigil_kafka::check_access(&config.kafka)?;
    let topics = config.topics.clone();
    // Offsets are stored by hand once a record is settled; the client commits only stored
    // offsets. Its statistics report the partitions' positions ([`IngestProgress`]).
    let client = vigil_kafka::client::review_ingest(&config.kafka, &config.review.group_id);
    let consumer: BaseConsumer<ProgressContext> = client
        .create_with_context(ProgressContext(progress.clone()))
        .map_err(setup("review consumer"))?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).map_err(setup("subscribe"))?;
    let mut ingestor = Ingestor {
        store,
        rt,
        fetcher: ContentFetcher::new(config)?,
        progress,
        stats: IngestStats::default(),
        config,
    };
    info!(topics = ?topics, group = %config.review.group_id, "reading the review topics");

    let mut backoff = Backoff::default();
    while !shutdown.load(Ordering::SeqCst) {
        let message = match consumer.poll(POLL_INTERVAL) {
            None => continue,
            Some(Err(err)) => {
                warn!(error = %err, "review consumer");
                continue;
            }
            Some(Ok(message)) => message,
        };
        let record = Record {
            queue: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            payload: message.payload().unwrap_or_default(),
        };
        let (queue, partition, offset) =
            (record.queue.to_string(), record.partition, record.offset);
        let settled = match ingestor.settle(&record) {
            Ok(()) => true,
            Err(failure) => {
                let set_aside = ingestor.set_aside(&record, &failure);
                if !set_aside {
                    let wait = backoff.next();
                    match &failure {
                        Failure::Store(err) if !err.retryable() => {
                            error!(%queue, partition, offset, error = %err, retry_in = ?wait, "the database fails in a way an operator must fix (permissions, schema?); the partition waits")
                        }
                        _ => {
                            warn!(%queue, partition, offset, error = %failure, retry_in = ?wait, "cannot store the flag yet; retrying")
                        }
                    }
                    drop(message);
                    pause(wait, shutdown);
                    if let Err(err) =
                        consumer.seek(&queue, partition, Offset::Offset(offset), CALL_TIMEOUT)
                    {
                        warn!(%queue, partition, offset, error = %err, "cannot seek back; the record is read again after a restart");
                    }
                }
                set_aside
            }
        };
        if settled {
            backoff.reset();
            if let Err(err) = consumer.store_offset(&queue, partition, offset) {
                // The partition was revoked meanwhile; its new owner reads the record again.
                warn!(%queue, partition, offset, error = %err, "cannot store offset");
            }
        }
    }
    if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing stored yet since the last commit is not an error.
        if !matches!(err, KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) {
            warn!(error = %err, "final commit failed; the last flags are read again (and de-duplicated)");
        }
    }
    let stats = ingestor.stats;
    info!(?stats, "review ingestion stopped");
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_to_a_ceiling_and_starts_over_after_a_success() {
        let mut backoff = Backoff::default();
        let secs: Vec<u64> = (0..8).map(|_| backoff.next().as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        backoff.reset();
        assert_eq!(backoff.next(), RETRY_BACKOFF);
    }

    #[test]
    fn a_flag_is_checked_before_it_is_stored() {
        assert_eq!(
            parse_flag(b"{not json").unwrap_err().0,
            RejectReason::InvalidFlag
        );
        let flag = crate::test_support::keyword_flag(
            ["m-1", "c-1", "u-1"],
            time::OffsetDateTime::UNIX_EPOCH,
        );
        let json = |f: &Flag| serde_json::to_vec(f).unwrap();
        assert_eq!(parse_flag(&json(&flag)).unwrap(), flag);
        let mut forged = flag.clone();
        forged.message_id = "m-2".into();
        let (reason, detail) = parse_flag(&json(&forged)).unwrap_err();
        assert_eq!(reason, RejectReason::InvalidFlag);
        assert!(detail.starts_with("flag_id "), "{detail}");
        let mut future = flag;
        future.schema_version = 2;
        assert_eq!(
            parse_flag(&json(&future)).unwrap_err().0,
            RejectReason::UnsupportedSchemaVersion
        );
    }
}
