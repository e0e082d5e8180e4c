//! From the review topics into the store: each flag with the content of the message it
//! flags, fetched from the message's source topic. An offset is stored for commit only after
//! its flag's row is in the database, so a crash redelivers (and the `flag_id` primary key
//! absorbs the repeat) but never loses a flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};
use vigil_core::{Config, FLAG_SCHEMA_VERSION, Flag, Message, Source};
use vigil_scan::Resolver;

use crate::store::{Content, Image, IncomingFlag, Store, StoreError, Stored};

/// Waiting after a failure that may pass (database or source broker unreachable) before
/// reading the same record again.
const RETRY_BACKOFF: Duration = Duration::from_secs(1);
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

/// Why one review record could not be stored yet; the record is read again.
#[derive(Debug, thiserror::Error)]
enum Transient {
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
    /// Records kept in `rejected_records` (not flags).
    pub rejected: u64,
}

/// Reads flagged messages from their source topics.
struct ContentFetcher {
    consumer: BaseConsumer,
    resolver: Resolver,
    timeout: Duration,
}

impl ContentFetcher {
    fn new(config: &Config) -> Result<ContentFetcher, IngestError> {
        let mut client = vigil_kafka::consumer_settings(config);
        client
            .set("group.id", format!("{}-content", config.review.group_id))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            // A record gone from the topic (retention) must be an error, not a silent jump.
            .set("auto.offset.reset", "error")
            .set("isolation.level", "read_committed")
            // Point lookups: a fetch returns as soon as the record is there (with the
            // default 500 ms wait, each lookup took half a second: 2 flags/s).
            .set("fetch.wait.max.ms", "10");
        let consumer: BaseConsumer = client.create().map_err(setup("content consumer"))?;
        let resolver = Resolver::new(config.attachments.max_bytes, &config.attachments.file_roots)
            .map_err(|(path, source)| IngestError::FileRoot { path, source })?;
        Ok(ContentFetcher {
            consumer,
            resolver,
            timeout: Duration::from_millis(config.review.content_fetch_timeout_ms),
        })
    }

    fn fetch(&self, source: &Source) -> Result<Content, Transient> {
        let Source::Kafka {
            topic,
            partition,
            offset,
        } = source
        else {
            return Ok(Content::Unavailable(
                "flagged by `vigil scan` from a file; the console fetches content only from Kafka"
                    .into(),
            ));
        };
        let mut assignment = TopicPartitionList::new();
        if assignment
            .add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .is_err()
            || self.consumer.assign(&assignment).is_err()
        {
            return Err(Transient::FetchTimeout(source.to_string()));
        }
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) if m.topic() == topic && m.partition() == *partition => {
                    if m.offset() != *offset {
                        return Ok(Content::Unavailable(format!(
                            "the source record {source} is no longer in its topic"
                        )));
                    }
                    return Ok(self.content(m.payload().unwrap_or_default()));
                }
                Some(Err(KafkaError::MessageConsumption(
                    RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::UnknownTopicOrPartition,
                ))) => {
                    return Ok(Content::Unavailable(format!(
                        "the source record {source} is no longer in its topic"
                    )));
                }
                _ => {}
            }
        }
        Err(Transient::FetchTimeout(source.to_string()))
    }

    fn content(&self, payload: &[u8]) -> Content {
        let message = match Message::parse(payload) {
            Ok(message) => message,
            Err(err) => {
                return Content::Unavailable(format!(
                    "the source record is not a valid message ({})",
                    err.reason.as_str()
                ));
            }
        };
        let (attachments, _) = self.resolver.resolve(&message);
        let images = attachments
            .into_iter()
            .filter_map(|a| {
                let media = a.media_type.filter(|m| m.is_image())?;
                Some(Image {
                    attachment_id: a.attachment_id,
                    media_type: media.as_str().to_string(),
                    data: a.bytes,
                })
            })
            .collect();
        Content::Stored {
            text: message.text,
            images,
        }
    }
}

/// Why a review record is not a flag: a reason code and a detail that quotes no value.
fn parse_flag(payload: &[u8]) -> Result<Flag, (&'static str, String)> {
    let flag: Flag = serde_json::from_slice(payload).map_err(|e| {
        (
            "invalid_flag",
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
            "unsupported_schema_version",
            format!(
                "schema_version {} (this console reads {FLAG_SCHEMA_VERSION})",
                flag.schema_version
            ),
        ));
    }
    Ok(flag)
}

/// Consumes the review topics into `store` until `shutdown` is set, then commits what was
/// stored. Blocks the calling thread (not an async runtime's); database calls run on `rt`.
pub fn ingest(
    config: &Config,
    store: &Store,
    rt: &tokio::runtime::Handle,
    shutdown: &AtomicBool,
) -> Result<IngestStats, IngestError> {
    vigil_kafka::check_access(config)?;
    let topics = config.review.review_topics(config);
    let mut client = vigil_kafka::consumer_settings(config);
    client
        .set("group.id", &config.review.group_id)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // Offsets are stored by hand once a flag is in the database; the client commits
        // only stored offsets.
        .set("enable.auto.offset.store", "false")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("isolation.level", "read_committed");
    let consumer: BaseConsumer = client.create().map_err(setup("review consumer"))?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).map_err(setup("subscribe"))?;
    let fetcher = ContentFetcher::new(config)?;
    info!(topics = ?topics, group = %config.review.group_id, "reading the review topics");

    let mut stats = IngestStats::default();
    while !shutdown.load(Ordering::SeqCst) {
        let message = match consumer.poll(POLL_INTERVAL) {
            None => continue,
            Some(Err(err)) => {
                warn!(error = %err, "review consumer");
                continue;
            }
            Some(Ok(message)) => message,
        };
        let (queue, partition, offset) = (
            message.topic().to_string(),
            message.partition(),
            message.offset(),
        );
        let payload = message.payload().unwrap_or_default();
        let outcome = match parse_flag(payload) {
            Err((reason, detail)) => {
                warn!(%queue, partition, offset, reason, "review record is not a flag; kept in rejected_records");
                rt.block_on(store.reject(&queue, partition, offset, reason, &detail))
                    .map(|()| stats.rejected += 1)
                    .map_err(Transient::from)
            }
            Ok(flag) => fetcher.fetch(&flag.source).and_then(|content| {
                let incoming = IncomingFlag {
                    flag,
                    queue: queue.clone(),
                    partition,
                    offset,
                    content,
                };
                match rt.block_on(store.insert_flag(&incoming))? {
                    Stored::New => stats.stored += 1,
                    Stored::Duplicate => stats.duplicates += 1,
                }
                Ok(())
            }),
        };
        drop(message);
        match outcome {
            Ok(()) => {
                if let Err(err) = consumer.store_offset(&queue, partition, offset) {
                    // The partition was revoked meanwhile; its new owner reads the record again.
                    warn!(%queue, partition, offset, error = %err, "cannot store offset");
                }
            }
            Err(err) => {
                warn!(%queue, partition, offset, error = %err, "cannot store the flag yet; retrying");
                std::thread::sleep(RETRY_BACKOFF);
                if let Err(err) =
                    consumer.seek(&queue, partition, Offset::Offset(offset), CALL_TIMEOUT)
                {
                    warn!(%queue, partition, offset, error = %err, "cannot seek back; the record is read again after a restart");
                }
            }
        }
    }
    if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing stored yet since the last commit is not an error.
        if !matches!(err, KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) {
            warn!(error = %err, "final commit failed; the last flags are read again (and de-duplicated)");
        }
    }
    info!(?stats, "review ingestion stopped");
    Ok(stats)
}
