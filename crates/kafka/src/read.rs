//! Reading a whole topic once, as the offline tools do (`vigil audit`, `vigil dlq replay`):
//! every partition from a start point up to the end it had when reading began.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::KafkaConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::access::{AccessError, check_access};
use crate::client;

/// An offline tool could not read or write Kafka. Retrying helps when the broker was
/// unreachable; a missing topic or refused authorisation needs a fix first.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// A client call failed.
    #[error("{what} (topic `{topic}`): {source}")]
    Kafka {
        /// What was being done.
        what: &'static str,
        /// The topic concerned.
        topic: String,
        /// The client error.
        source: rdkafka::error::KafkaError,
    },
    /// The brokers refused the TLS or SASL settings.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The topic does not exist (or has no partitions).
    #[error("topic `{0}` does not exist")]
    NoSuchTopic(String),
    /// Start-up could not finish: a thread or runtime would not start, or the state could
    /// not be read in time (retrying helps once the cause is gone).
    #[error("{0}")]
    Setup(String),
    /// Outputs could not all be delivered; nothing past them was committed.
    #[error("{failed} record(s) could not be delivered to `{topic}`; rerun to retry them")]
    Undelivered {
        /// The destination topic.
        topic: String,
        /// How many failed.
        failed: usize,
    },
}

impl ToolError {
    pub(crate) fn kafka(
        what: &'static str,
        topic: &str,
    ) -> impl FnOnce(rdkafka::error::KafkaError) -> ToolError {
        let topic = topic.to_string();
        move |source| ToolError::Kafka {
            what,
            topic,
            source,
        }
    }
}

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The first retained record.
    Beginning,
    /// The first record produced at or after this Unix time in milliseconds.
    Time(i64),
    /// The group's committed offset (the beginning when it has none).
    Committed,
}

/// How long reading waits for a partition that has not reached its end before giving up on
/// it (an open transaction can hold a read_committed reader back).
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long metadata and offset calls may block.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A consumer reading `topic` once.
pub(crate) struct TopicReader {
    pub(crate) consumer: BaseConsumer,
    topic: String,
    /// Per partition: the end (high watermark) when reading began.
    ends: HashMap<i32, i64>,
}

impl TopicReader {
    /// A reader of `topic` with `group` (committed offsets live there), positioned at `start`.
    pub(crate) fn open(
        kafka: &KafkaConfig,
        topic: &str,
        group: &str,
        start: Start,
    ) -> Result<TopicReader, ToolError> {
        check_access(kafka)?;
        let consumer: BaseConsumer = client::reader(kafka, group)
            .create()
            .map_err(ToolError::kafka("cannot create a consumer", topic))?;
        let (assignment, ends) = starting_points(&consumer, topic, start)?;
        consumer
            .assign(&assignment)
            .map_err(ToolError::kafka("cannot assign partitions", topic))?;
        Ok(TopicReader {
            consumer,
            topic: topic.to_string(),
            ends,
        })
    }

    /// Calls `each` for every record up to the ends; returns whether every partition was
    /// read to its end (false when one stayed idle for too long).
    pub(crate) fn read(
        &self,
        mut each: impl FnMut(&BorrowedMessage<'_>),
    ) -> Result<bool, ToolError> {
        let mut last_progress = Instant::now();
        loop {
            if self.done()? {
                return Ok(true);
            }
            if last_progress.elapsed() > IDLE_TIMEOUT {
                return Ok(false);
            }
            match self.consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    last_progress = Instant::now();
                    let end = self.ends.get(&message.partition()).copied().unwrap_or(-1);
                    if message.offset() < end {
                        each(&message);
                    }
                }
                Some(Err(err)) => {
                    return Err(ToolError::Kafka {
                        what: "cannot read",
                        topic: self.topic.clone(),
                        source: err,
                    });
                }
                None => {}
            }
        }
    }

    /// Whether every partition's position reached its end.
    fn done(&self) -> Result<bool, ToolError> {
        let positions = self
            .consumer
            .position()
            .map_err(ToolError::kafka("cannot read positions", &self.topic))?;
        Ok(self
            .ends
            .iter()
            .all(|(&partition, &end)| reached(&positions, &self.topic, partition, end)))
    }
}

/// Where `consumer` starts reading each partition of `topic` for `start`, and the end
/// (high watermark) each had; -1 for a partition with nothing to read from there.
pub(crate) fn starting_points(
    consumer: &BaseConsumer,
    topic: &str,
    start: Start,
) -> Result<(TopicPartitionList, HashMap<i32, i64>), ToolError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), CALL_TIMEOUT)
        .map_err(ToolError::kafka("cannot read metadata", topic))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(ToolError::NoSuchTopic(topic.to_string()));
    }
    let mut ends = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for &partition in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, CALL_TIMEOUT)
            .map_err(ToolError::kafka("cannot read watermarks", topic))?;
        // An empty partition has no position to reach: nothing to read.
        ends.insert(partition, if low >= high { -1 } else { high });
        let offset = match start {
            Start::Beginning => Offset::Beginning,
            Start::Time(ms) => Offset::Offset(ms),
            Start::Committed => Offset::Stored,
        };
        let _ = assignment.add_partition_offset(topic, partition, offset);
    }
    if start == Start::Committed {
        let committed = consumer
            .committed_offsets(assignment.clone(), CALL_TIMEOUT)
            .map_err(ToolError::kafka("cannot read committed offsets", topic))?;
        for element in committed.elements() {
            if let Offset::Offset(at) = element.offset() {
                let end = ends.entry(element.partition()).or_insert(-1);
                if at >= *end {
                    *end = -1;
                }
            }
        }
    }
    if let Start::Time(_) = start {
        assignment = consumer
            .offsets_for_times(assignment, CALL_TIMEOUT)
            .map_err(ToolError::kafka("cannot find offsets for the time", topic))?;
        // Partitions with nothing at or after the time report -1 (end): nothing to read.
        for element in assignment.elements() {
            if element.offset() == Offset::End {
                ends.insert(element.partition(), -1);
            }
        }
    }
    Ok((assignment, ends))
}

/// Whether a consumer at `positions` has read `topic`/`partition` up to `end` (an empty
/// partition, `end` ≤ 0, has nothing to read).
pub(crate) fn reached(
    positions: &TopicPartitionList,
    topic: &str,
    partition: i32,
    end: i64,
) -> bool {
    end <= 0
        || positions
            .find_partition(topic, partition)
            .is_some_and(|e| matches!(e.offset(), Offset::Offset(o) if o >= end))
}

/// The high watermark of each listed partition of `topic` (for coverage), or `None` for
/// partitions that cannot be queried.
pub(crate) fn high_watermarks(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: impl IntoIterator<Item = i32>,
) -> HashMap<i32, i64> {
    partitions
        .into_iter()
        .filter_map(|p| {
            let (_, high) = consumer.fetch_watermarks(topic, p, CALL_TIMEOUT).ok()?;
            Some((p, high))
        })
        .collect()
}

/// How many records `topic`/`partition` holds at the offsets of `ranges` (inclusive, in
/// order), as a read_committed consumer sees them: transaction markers and aborted or
/// compacted records are not records.
pub(crate) fn count_records(
    kafka: &KafkaConfig,
    topic: &str,
    partition: i32,
    ranges: &[[i64; 2]],
) -> Result<u64, ToolError> {
    let group = format!("vigil-audit-gaps-{}", std::process::id());
    let consumer: BaseConsumer = client::reader(kafka, &group)
        .create()
        .map_err(ToolError::kafka("cannot create a consumer", topic))?;
    let mut found = 0;
    for &[first, last] in ranges {
        let mut assignment = TopicPartitionList::new();
        let _ = assignment.add_partition_offset(topic, partition, Offset::Offset(first));
        consumer
            .assign(&assignment)
            .map_err(ToolError::kafka("cannot assign partitions", topic))?;
        let mut last_progress = Instant::now();
        // A record after the range always exists (the one whose verdict closed the gap).
        while last_progress.elapsed() < IDLE_TIMEOUT {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) if message.offset() > last => break,
                Some(Ok(message)) => {
                    last_progress = Instant::now();
                    found += u64::from(message.offset() >= first);
                }
                Some(Err(err)) => {
                    return Err(ToolError::Kafka {
                        what: "cannot read",
                        topic: topic.to_string(),
                        source: err,
                    });
                }
                None => {}
            }
        }
    }
    Ok(found)
}
