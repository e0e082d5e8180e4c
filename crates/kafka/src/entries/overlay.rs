//! The disabled-entry overlay from outside `vigil run`: `vigil lists disable|enable|disabled`
//! (and the console) write and read the state topic directly. A disabling survives list
//! reloads and new list versions, since it names the list and the entry, not a version.

use std::time::Duration;

use rdkafka::producer::BaseRecord;
use time::OffsetDateTime;
use tracing::info;

use super::config::ContainmentConfig;
use super::record::{Disabled, EntryId, StateKey};
use super::sync::ensure_topics;
use super::table::EntryTable;
use crate::acked::AckedProducer;
use crate::config::KafkaConfig;
use crate::read::{Start, ToolError, TopicReader};

/// How long a write may wait for its acknowledgement.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Disables `id` (until `disabled.until`, or until enabled); every instance stops flagging
/// its matches once it reads the record.
pub fn disable(
    kafka: &KafkaConfig,
    config: &ContainmentConfig,
    id: &EntryId,
    disabled: &Disabled,
) -> Result<(), ToolError> {
    let value = serde_json::to_vec(disabled).unwrap_or_default();
    write(kafka, config, &StateKey::Disabled(id.clone()), Some(&value))?;
    info!(list = %id.list, entry = %id.entry, by = %disabled.by, "entry disabled");
    Ok(())
}

/// Enables `id` again (a tombstone for its disabling).
pub fn enable(
    kafka: &KafkaConfig,
    config: &ContainmentConfig,
    id: &EntryId,
    by: &str,
) -> Result<(), ToolError> {
    write(kafka, config, &StateKey::Disabled(id.clone()), None)?;
    info!(list = %id.list, entry = %id.entry, %by, "entry enabled");
    Ok(())
}

/// Marks quarantined `id` verified by `by`: decisions and sightings before now stop
/// counting, so its matches go to the main queue again.
pub fn verify(
    kafka: &KafkaConfig,
    config: &ContainmentConfig,
    id: &EntryId,
    by: &str,
) -> Result<(), ToolError> {
    let value = super::record::Verified {
        by: by.to_string(),
        at: OffsetDateTime::now_utc(),
    };
    let value = serde_json::to_vec(&value).unwrap_or_default();
    write(kafka, config, &StateKey::Verified(id.clone()), Some(&value))?;
    info!(list = %id.list, entry = %id.entry, %by, "quarantined entry verified");
    Ok(())
}

fn write(
    kafka: &KafkaConfig,
    config: &ContainmentConfig,
    key: &StateKey,
    value: Option<&[u8]>,
) -> Result<(), ToolError> {
    ensure_topics(kafka, config)?;
    let producer = AckedProducer::new(kafka, &config.state_topic)?;
    let key = key.encode();
    let mut record = BaseRecord::to(&config.state_topic).key(&key[..]);
    if let Some(value) = value {
        record = record.payload(value);
    }
    producer.send(record)?;
    producer.settle(&config.state_topic, WRITE_TIMEOUT)
}

/// The state topic read to its end (decisions, disablings, verifications; not sightings).
/// Unreadable records are skipped and counted in the second value.
pub fn read_state(
    kafka: &KafkaConfig,
    config: &ContainmentConfig,
) -> Result<(EntryTable, u64), ToolError> {
    let group = format!("{}-entry-state-tool", kafka.group_id);
    let reader = TopicReader::open(kafka, &config.state_topic, &group, Start::Beginning)?;
    let mut table = EntryTable::default();
    let mut unreadable = 0;
    reader.read(|message| {
        use rdkafka::Message;
        let applied = message
            .key()
            .ok_or(super::table::Unreadable)
            .and_then(|key| table.apply_state(key, message.payload()));
        unreadable += u64::from(applied.is_err());
    })?;
    Ok((table, unreadable))
}
