//! `vigil dlq replay`: puts dead-lettered records back on an input topic after a fix (a list
//! or decoder update, a raised limit), with their keys, values and original headers.
//!
//! Idempotent: progress is committed in a consumer group (by default one per source,
//! destination and reason filter), only after the re-injected records are acknowledged, so
//! running the same replay twice re-injects nothing the second time; after a crash at most
//! the last unacknowledged batch is re-injected again, and vigil recognises those records by
//! their deterministic flag ids. The `vigil.error.*` headers are dropped (a record that fails
//! again gets fresh ones) and `vigil.replayed_from` names the dead-letter coordinates.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::KafkaConfig;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use vigil_core::ReasonCode;

use crate::acked::AckedProducer;
use crate::read::{Start, ToolError, TopicReader};
use crate::records::headers;

/// Header added to re-injected records: `<dead-letter topic>/<partition>/<offset>`.
pub const REPLAYED_FROM: &str = "vigil.replayed_from";
/// Records re-injected between commits of progress.
const BATCH: usize = 1000;
/// How long to wait for a batch's acknowledgements.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    /// The dead-letter topic.
    pub from: String,
    /// The topic to re-inject into (usually an input topic).
    pub to: String,
    /// Only records whose reasons include one of these (all when empty).
    pub reasons: Vec<ReasonCode>,
    /// Consumer group keeping the progress; `None`: derived from the other fields.
    pub group: Option<String>,
    /// Count what would be replayed without producing or committing.
    pub dry_run: bool,
}

impl ReplayRequest {
    /// The consumer group that keeps this replay's progress.
    pub fn group(&self) -> String {
        if let Some(group) = &self.group {
            return group.clone();
        }
        let mut reasons: Vec<&str> = self.reasons.iter().map(|r| r.as_str()).collect();
        reasons.sort_unstable();
        let filter = if reasons.is_empty() {
            "all".to_string()
        } else {
            reasons.join("+")
        };
        format!("vigil-dlq-replay.{}.{}.{filter}", self.from, self.to)
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    /// The progress group.
    pub group: String,
    /// Dead-letter records read (not yet replayed by this group).
    pub read: u64,
    /// Re-injected (or, in a dry run, that would be).
    pub replayed: u64,
    /// Passed over by the reason filter.
    pub skipped: u64,
    /// Re-injected per first reason code.
    pub by_reason: BTreeMap<String, u64>,
    /// Whether the dead-letter topic was read to its end.
    pub complete: bool,
    /// Whether nothing was produced or committed.
    pub dry_run: bool,
}

/// The reasons a dead-letter record carries (`vigil.error.reasons`).
fn reasons_of(message: &impl Message) -> Vec<String> {
    let Some(all) = message.headers() else {
        return Vec::new();
    };
    all.iter()
        .find(|h| h.key == headers::ERROR_REASONS)
        .and_then(|h| h.value)
        .map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Replays `request` with the brokers and client settings of `[kafka]`.
pub fn replay(kafka: &KafkaConfig, request: &ReplayRequest) -> Result<ReplaySummary, ToolError> {
    let group = request.group();
    let reader = TopicReader::open(kafka, &request.from, &group, Start::Committed)?;
    let producer = AckedProducer::new(kafka, &request.to)?;
    let wanted: Vec<&str> = request.reasons.iter().map(|r| r.as_str()).collect();
    let mut summary = ReplaySummary {
        group,
        dry_run: request.dry_run,
        ..ReplaySummary::default()
    };
    // Offsets to commit once the records before them are acknowledged.
    let mut progress: BTreeMap<i32, i64> = BTreeMap::new();
    let mut since_commit = 0usize;
    let mut failure = None;
    let complete = reader.read(|message| {
        if failure.is_some() {
            return;
        }
        summary.read += 1;
        progress.insert(message.partition(), message.offset() + 1);
        let reasons = reasons_of(message);
        if !wanted.is_empty() && !reasons.iter().any(|r| wanted.contains(&r.as_str())) {
            summary.skipped += 1;
            return;
        }
        summary.replayed += 1;
        let first = reasons.first().cloned().unwrap_or_default();
        *summary.by_reason.entry(first).or_default() += 1;
        if request.dry_run {
            return;
        }
        let origin = format!(
            "{}/{}/{}",
            request.from,
            message.partition(),
            message.offset()
        );
        let mut kept = OwnedHeaders::new();
        if let Some(all) = message.headers() {
            for h in all.iter().filter(|h| !h.key.starts_with("vigil.error.")) {
                kept = kept.insert(h);
            }
        }
        kept = kept.insert(Header {
            key: REPLAYED_FROM,
            value: Some(&origin),
        });
        let mut record = BaseRecord::to(&request.to)
            .payload(message.payload().unwrap_or_default())
            .headers(kept);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Err(err) = producer.send(record) {
            failure = Some(err);
            return;
        }
        since_commit += 1;
        if since_commit >= BATCH {
            since_commit = 0;
            if let Err(err) = settle(&producer, &reader, &request.from, &request.to, &progress) {
                failure = Some(err);
            }
        }
    })?;
    if let Some(err) = failure {
        return Err(err);
    }
    if !request.dry_run {
        settle(&producer, &reader, &request.from, &request.to, &progress)?;
    }
    summary.complete = complete;
    Ok(summary)
}

/// Waits for every record sent so far to be acknowledged, then commits `progress`.
fn settle(
    producer: &AckedProducer,
    reader: &TopicReader,
    from: &str,
    to: &str,
    progress: &BTreeMap<i32, i64>,
) -> Result<(), ToolError> {
    producer.settle(to, FLUSH_TIMEOUT)?;
    if progress.is_empty() {
        return Ok(());
    }
    let mut offsets = TopicPartitionList::new();
    for (&partition, &next) in progress {
        let _ = offsets.add_partition_offset(from, partition, Offset::Offset(next));
    }
    reader
        .consumer
        .commit(&offsets, CommitMode::Sync)
        .map_err(ToolError::kafka("cannot commit replay progress", from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_group_is_per_source_destination_and_filter() {
        let mut request = ReplayRequest {
            from: "vigil.dlq".into(),
            to: "dms".into(),
            reasons: vec![ReasonCode::Undecodable, ReasonCode::ImageTooLarge],
            group: None,
            dry_run: false,
        };
        assert_eq!(
            request.group(),
            "vigil-dlq-replay.vigil.dlq.dms.image_too_large+undecodable"
        );
        request.reasons.clear();
        assert_eq!(request.group(), "vigil-dlq-replay.vigil.dlq.dms.all");
        request.group = Some("mine".into());
        assert_eq!(request.group(), "mine");
    }
}
