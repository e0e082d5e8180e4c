//! The entry state's Kafka side, for `vigil run`: the state topics are created when missing,
//! read to their end before scanning starts and followed afterwards (every instance holds
//! the whole table), and the console's decisions are fed into the state topic, one record
//! per decided entry, by whichever instance of the group owns the decision's partition.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::BaseRecord;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;
use time::OffsetDateTime;
use tracing::{info, warn};
use vigil_metrics::Metrics;

use super::config::ContainmentConfig;
use super::contain::Containment;
use super::record::{DecisionState, EntryId, MatchOutcome, StateKey};
use super::table::EntryTable;
use crate::acked::AckedProducer;
use crate::client;
use crate::config::KafkaConfig;
use crate::read::{Start, ToolError, reached, starting_points};

/// How long metadata, offset and admin calls may block.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A partition that sends nothing for this long during catch-up counts as read (an open
/// transaction's records are not readable yet).
const CATCH_UP_IDLE: Duration = Duration::from_secs(5);
/// Records read between two checks of whether start-up caught up (an idle poll checks too).
const CATCH_UP_CHECK_EVERY: u64 = 1000;
/// How often the table is pruned and its gauges refreshed.
const HOUSEKEEPING: Duration = Duration::from_secs(5);
/// Most decisions fed back per batch.
const FEEDBACK_BATCH: usize = 500;
/// Pause before a batch whose writes failed is sent again.
const FEEDBACK_BACKOFF: Duration = Duration::from_secs(1);

/// Creates the state and sightings topics when missing: the state topic compacted (its
/// latest record per key is the state, kept for ever), the sightings topic compacted and
/// deleted after the longer window.
pub fn ensure_topics(kafka: &KafkaConfig, config: &ContainmentConfig) -> Result<(), ToolError> {
    let admin: AdminClient<DefaultClientContext> = client::probe(kafka).create().map_err(
        ToolError::kafka("cannot create an admin client", &config.state_topic),
    )?;
    let retention_ms = (config.rules().sighting_retention() + Duration::from_secs(3600))
        .as_millis()
        .to_string();
    let replication = config.topic_replication_factor.map_or(-1, i32::from);
    let partitions = i32::try_from(config.topic_partitions).unwrap_or(i32::MAX);
    let topics = [
        NewTopic::new(
            &config.state_topic,
            partitions,
            TopicReplication::Fixed(replication),
        )
        .set("cleanup.policy", "compact"),
        NewTopic::new(
            &config.sightings_topic,
            partitions,
            TopicReplication::Fixed(replication),
        )
        .set("cleanup.policy", "compact,delete")
        .set("retention.ms", &retention_ms),
    ];
    let options = AdminOptions::new().operation_timeout(Some(CALL_TIMEOUT));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ToolError::Setup(format!("cannot start an admin runtime: {e}")))?;
    let results = runtime
        .block_on(admin.create_topics(&topics, &options))
        .map_err(ToolError::kafka(
            "cannot create topics",
            &config.state_topic,
        ))?;
    for result in results {
        match result {
            Ok(topic) => info!(%topic, "created an entry-state topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(ToolError::Kafka {
                    what: "cannot create the topic",
                    topic,
                    source: rdkafka::error::KafkaError::AdminOp(code),
                });
            }
        }
    }
    Ok(())
}

/// A consumer assigned every partition of the state topic (from the beginning) and of the
/// sightings topic (from the start of the sighting retention), with the ends they had.
struct Follower {
    consumer: BaseConsumer,
    ends: HashMap<(String, i32), i64>,
    state_topic: String,
}

impl Follower {
    fn open(kafka: &KafkaConfig, config: &ContainmentConfig) -> Result<Follower, ToolError> {
        let group = format!("{}-entry-state", kafka.group_id);
        let consumer: BaseConsumer =
            client::reader(kafka, &group)
                .create()
                .map_err(ToolError::kafka(
                    "cannot create a consumer",
                    &config.state_topic,
                ))?;
        let since = OffsetDateTime::now_utc() - config.rules().sighting_retention();
        let since_ms = i64::try_from(since.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let mut ends = HashMap::new();
        let mut assignment = TopicPartitionList::new();
        for (topic, start) in [
            (&config.state_topic, Start::Beginning),
            (&config.sightings_topic, Start::Time(since_ms)),
        ] {
            let (points, topic_ends) = starting_points(&consumer, topic, start)?;
            for element in points.elements() {
                let _ =
                    assignment.add_partition_offset(topic, element.partition(), element.offset());
            }
            ends.extend(
                topic_ends
                    .into_iter()
                    .map(|(p, end)| ((topic.clone(), p), end)),
            );
        }
        consumer.assign(&assignment).map_err(ToolError::kafka(
            "cannot assign partitions",
            &config.state_topic,
        ))?;
        Ok(Follower {
            consumer,
            ends,
            state_topic: config.state_topic.clone(),
        })
    }

    /// Whether every partition's position reached the end it had at start.
    fn caught_up(&self) -> bool {
        let Ok(positions) = self.consumer.position() else {
            return false;
        };
        self.ends
            .iter()
            .all(|((topic, partition), &end)| reached(&positions, topic, *partition, end))
    }

    fn apply(&self, table: &RwLock<EntryTable>, message: &BorrowedMessage<'_>, metrics: &Metrics) {
        let Some(key) = message.key() else {
            metrics.entry_state_unreadable();
            return;
        };
        let mut table = table.write().unwrap_or_else(|p| p.into_inner());
        let applied = if message.topic() == self.state_topic {
            table.apply_state(key, message.payload())
        } else {
            table.apply_sighting(key, message.payload())
        };
        if applied.is_err() {
            metrics.entry_state_unreadable();
            warn!(
                topic = message.topic(),
                partition = message.partition(),
                offset = message.offset(),
                "skipped an unreadable entry-state record"
            );
        }
    }
}

/// Creates the topics, reads them to their end (within `containment.catch_up_timeout_secs`),
/// then follows them on a thread of its own until `shutdown`; feeds decisions back on
/// another when `containment.feed_decisions`. Returns the containment the scanning threads
/// apply.
pub fn start(
    kafka: &KafkaConfig,
    config: &ContainmentConfig,
    decisions_topic: &str,
    metrics: Arc<Metrics>,
    shutdown: Arc<AtomicBool>,
) -> Result<Containment, ToolError> {
    ensure_topics(kafka, config)?;
    let follower = Follower::open(kafka, config)?;
    let containment = Containment::new(Arc::default(), config.rules());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(config.catch_up_timeout_secs);
    let mut last_progress = Instant::now();
    let mut read = 0u64;
    // Positions are asked for between batches, not per record (a per-record call made a
    // restart read 11,000 records a second).
    let mut check = true;
    loop {
        if check && follower.caught_up() {
            break;
        }
        if Instant::now() > deadline {
            return Err(ToolError::Setup(format!(
                "the entry state was not read to its end within {} s \
                 (containment.catch_up_timeout_secs); the brokers may be unreachable",
                config.catch_up_timeout_secs
            )));
        }
        if last_progress.elapsed() > CATCH_UP_IDLE {
            warn!("entry-state partitions idle before their end (an open transaction?); going on");
            break;
        }
        check = match follower.consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                last_progress = Instant::now();
                read += 1;
                follower.apply(containment.table(), &message, &metrics);
                read.is_multiple_of(CATCH_UP_CHECK_EVERY)
            }
            _ => true,
        };
    }
    let entries = containment.table().read().map_or(0, |t| t.len());
    info!(
        read,
        entries,
        took_ms = started.elapsed().as_millis() as u64,
        "entry state read"
    );
    housekeeping(&containment, &metrics);
    let (following, stop) = (containment.clone(), shutdown.clone());
    let follow_metrics = metrics.clone();
    std::thread::Builder::new()
        .name("vigil-entry-state".into())
        .spawn(move || follow(&follower, &following, &follow_metrics, &stop))
        .map_err(|e| ToolError::Setup(format!("cannot start the entry-state thread: {e}")))?;
    if config.feed_decisions {
        let feedback = Feedback::open(kafka, config, decisions_topic)?;
        std::thread::Builder::new()
            .name("vigil-feedback".into())
            .spawn(move || feedback.run(&metrics, &shutdown))
            .map_err(|e| ToolError::Setup(format!("cannot start the feedback thread: {e}")))?;
    }
    Ok(containment)
}

fn follow(
    follower: &Follower,
    containment: &Containment,
    metrics: &Metrics,
    shutdown: &AtomicBool,
) {
    let mut last_housekeeping = Instant::now();
    while !shutdown.load(Ordering::SeqCst) {
        match follower.consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => follower.apply(containment.table(), &message, metrics),
            Some(Err(err)) => {
                warn!(error = %err, "reading the entry state failed; retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
            None => {}
        }
        if last_housekeeping.elapsed() >= HOUSEKEEPING {
            last_housekeeping = Instant::now();
            housekeeping(containment, metrics);
        }
    }
}

/// Drops sightings past their window and refreshes the gauges.
fn housekeeping(containment: &Containment, metrics: &Metrics) {
    let now = OffsetDateTime::now_utc();
    let rules = *containment.rules();
    let mut table = containment
        .table()
        .write()
        .unwrap_or_else(|p| p.into_inner());
    table.prune(now, rules.sighting_retention());
    let quarantined = table.quarantined_entries(now, &rules);
    let by_reason = |reason| quarantined.iter().filter(|(_, r, _)| *r == reason).count();
    metrics.set_entry_state(
        table.disabled_entries(now).len(),
        by_reason(vigil_core::QuarantineReason::Precision),
        by_reason(vigil_core::QuarantineReason::Flood),
    );
}

/// A decision as the console publishes it: only what feedback reads.
#[derive(Debug, Deserialize)]
struct FedDecision {
    decision_id: i64,
    flag_id: String,
    decision: String,
    #[serde(with = "time::serde::rfc3339")]
    decided_at: OffsetDateTime,
    matches: Vec<FedMatch>,
}

#[derive(Debug, Deserialize)]
struct FedMatch {
    list: String,
    list_version: String,
    entry: String,
    /// Per-match outcome; absent: the flag's decision holds for every match.
    #[serde(default)]
    outcome: Option<MatchOutcome>,
}

/// The entry-state records a decision gives: one per decided entry (an escalation decides
/// nothing).
fn state_records(decision: &FedDecision) -> Vec<(StateKey, DecisionState)> {
    let flag_outcome = match decision.decision.as_str() {
        "confirm" => Some(MatchOutcome::Confirmed),
        "false_positive" => Some(MatchOutcome::FalsePositive),
        _ => None,
    };
    let mut out = Vec::new();
    for m in &decision.matches {
        let Some(outcome) = m.outcome.or(flag_outcome) else {
            continue;
        };
        out.push((
            StateKey::Decision {
                id: EntryId::new(&m.list, &m.entry),
                flag_id: decision.flag_id.clone(),
            },
            DecisionState {
                outcome,
                list_version: m.list_version.clone(),
                decided_at: decision.decided_at,
                decision_id: decision.decision_id,
            },
        ));
    }
    out
}

/// Feeds the decisions topic into the state topic, in the group `<kafka.group_id>-feedback`:
/// a batch's offsets are committed only after its state records are acknowledged, so a crash
/// writes some again (same keys, same values), never loses one.
struct Feedback {
    consumer: BaseConsumer,
    producer: AckedProducer,
    decisions_topic: String,
    state_topic: String,
}

impl Feedback {
    fn open(
        kafka: &KafkaConfig,
        config: &ContainmentConfig,
        decisions_topic: &str,
    ) -> Result<Feedback, ToolError> {
        let group = format!("{}-feedback", kafka.group_id);
        let consumer: BaseConsumer =
            client::reader(kafka, &group)
                .create()
                .map_err(ToolError::kafka(
                    "cannot create a consumer",
                    decisions_topic,
                ))?;
        consumer
            .subscribe(&[decisions_topic])
            .map_err(ToolError::kafka("cannot subscribe", decisions_topic))?;
        Ok(Feedback {
            consumer,
            producer: AckedProducer::new(kafka, &config.state_topic)?,
            decisions_topic: decisions_topic.to_string(),
            state_topic: config.state_topic.clone(),
        })
    }

    fn run(&self, metrics: &Metrics, shutdown: &AtomicBool) {
        info!(topic = %self.decisions_topic, "feeding decisions back into the entry state");
        while !shutdown.load(Ordering::SeqCst) {
            let mut batch: Vec<(StateKey, DecisionState)> = Vec::new();
            let mut progress: BTreeMap<i32, i64> = BTreeMap::new();
            let mut read = 0;
            while read < FEEDBACK_BATCH {
                // Wait for the first decision only; then take what has arrived, so one
                // decision is not held back waiting for a batch.
                let wait = if read == 0 {
                    Duration::from_millis(200)
                } else {
                    Duration::ZERO
                };
                let Some(result) = self.consumer.poll(wait) else {
                    break;
                };
                read += 1;
                let message = match result {
                    Ok(message) => message,
                    Err(err) => {
                        warn!(error = %err, "reading decisions failed; retrying");
                        break;
                    }
                };
                progress.insert(message.partition(), message.offset() + 1);
                match serde_json::from_slice::<FedDecision>(message.payload().unwrap_or_default()) {
                    Ok(decision) => batch.extend(state_records(&decision)),
                    Err(_) => {
                        metrics.entry_state_unreadable();
                        warn!(
                            partition = message.partition(),
                            offset = message.offset(),
                            "skipped an unreadable decision"
                        );
                    }
                }
            }
            if progress.is_empty() {
                continue;
            }
            while !shutdown.load(Ordering::SeqCst) {
                match self.write(&batch) {
                    Ok(()) => break,
                    Err(err) => {
                        warn!(error = %err, "writing decisions to the entry state failed; retrying");
                        std::thread::sleep(FEEDBACK_BACKOFF);
                    }
                }
            }
            for (_, state) in &batch {
                metrics.entry_decision_fed(state.outcome.as_str());
            }
            let mut offsets = TopicPartitionList::new();
            for (&partition, &next) in &progress {
                let _ = offsets.add_partition_offset(
                    &self.decisions_topic,
                    partition,
                    Offset::Offset(next),
                );
            }
            if let Err(err) = self.consumer.commit(&offsets, CommitMode::Sync) {
                warn!(error = %err, "cannot commit feedback progress; decisions may be fed again");
            }
        }
    }

    fn write(&self, batch: &[(StateKey, DecisionState)]) -> Result<(), ToolError> {
        for (key, state) in batch {
            let key = key.encode();
            let value = serde_json::to_vec(state).unwrap_or_default();
            self.producer.send(
                BaseRecord::to(&self.state_topic)
                    .key(&key[..])
                    .payload(&value[..]),
            )?;
        }
        self.producer.settle(&self.state_topic, CALL_TIMEOUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_gives_one_state_record_per_decided_entry() {
        let text = r#"{"schema_version":1,"decision_id":7,"flag_id":"f","message_id":"m",
            "queue":"vigil.flags","decision":"false_positive","reviewer":"reviewer-1",
            "role":"reviewer","decided_at":"2026-12-07T10:00:00Z","matches":[
            {"detector":"pdq","list":"bank","list_version":"3","entry":"e-1","category":"A"},
            {"detector":"keyword","list":"kw","list_version":"9","entry":"r-2","category":"G",
             "outcome":"confirmed"}]}"#;
        let decision: FedDecision = serde_json::from_str(text).unwrap();
        let records = state_records(&decision);
        let outcomes: Vec<(&str, MatchOutcome)> = records
            .iter()
            .map(|(key, state)| match key {
                StateKey::Decision { id, .. } => (id.entry.as_str(), state.outcome),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                ("e-1", MatchOutcome::FalsePositive),
                ("r-2", MatchOutcome::Confirmed)
            ]
        );
        let escalation: FedDecision =
            serde_json::from_str(&text.replace("\"false_positive\"", "\"escalate\"")).unwrap();
        assert_eq!(
            state_records(&escalation).len(),
            1,
            "only the match decided on its own"
        );
    }
}
