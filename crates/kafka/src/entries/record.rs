//! The records of the entry-state topic (compacted: decisions per entry, the disabled
//! overlay, verifications) and of the sightings topic (compacted with a retention: which
//! conversations an entry matched lately). Keys are JSON arrays, so a list or entry id
//! holding any character cannot make two keys collide; a key's latest value is its state,
//! and writing the same key twice is harmless (a redelivered decision or sighting).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A list entry or text rule: the unit decisions, disabling and quarantine apply to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId {
    /// The list's name.
    pub list: String,
    /// The entry id (hash lists) or rule id (text).
    pub entry: String,
}

impl EntryId {
    /// `entry` of `list`.
    pub fn new(list: impl Into<String>, entry: impl Into<String>) -> EntryId {
        EntryId {
            list: list.into(),
            entry: entry.into(),
        }
    }
}

/// A key of the entry-state topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateKey {
    /// One flag's decision on one entry (the latest decision on that flag wins).
    Decision {
        /// The entry decided.
        id: EntryId,
        /// The flag it was decided on.
        flag_id: String,
    },
    /// The entry is disabled (a tombstone enables it again).
    Disabled(EntryId),
    /// A lead verified the quarantined entry: earlier decisions and sightings no longer count.
    Verified(EntryId),
}

impl StateKey {
    /// The key's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let parts: Vec<&str> = match self {
            StateKey::Decision { id, flag_id } => vec!["decision", &id.list, &id.entry, flag_id],
            StateKey::Disabled(id) => vec!["disabled", &id.list, &id.entry],
            StateKey::Verified(id) => vec!["verified", &id.list, &id.entry],
        };
        serde_json::to_vec(&parts).unwrap_or_default()
    }

    /// Reads a key; `None` for anything else (a record another tool wrote).
    pub fn decode(bytes: &[u8]) -> Option<StateKey> {
        let parts: Vec<String> = serde_json::from_slice(bytes).ok()?;
        let id = |list: &str, entry: &str| EntryId::new(list, entry);
        match parts.as_slice() {
            [kind, list, entry, flag_id] if kind == "decision" => Some(StateKey::Decision {
                id: id(list, entry),
                flag_id: flag_id.clone(),
            }),
            [kind, list, entry] if kind == "disabled" => Some(StateKey::Disabled(id(list, entry))),
            [kind, list, entry] if kind == "verified" => Some(StateKey::Verified(id(list, entry))),
            _ => None,
        }
    }
}

/// What a reviewer decided about one match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOutcome {
    /// The match is what the list says.
    Confirmed,
    /// It is not.
    FalsePositive,
}

impl MatchOutcome {
    /// The wire name (also the `outcome` metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOutcome::Confirmed => "confirmed",
            MatchOutcome::FalsePositive => "false_positive",
        }
    }

    /// Parses the wire name.
    pub fn parse(value: &str) -> Option<MatchOutcome> {
        [MatchOutcome::Confirmed, MatchOutcome::FalsePositive]
            .into_iter()
            .find(|o| o.as_str() == value)
    }
}

/// The value of a [`StateKey::Decision`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionState {
    /// The outcome for this entry.
    pub outcome: MatchOutcome,
    /// The list version the flag matched.
    pub list_version: String,
    /// When it was decided.
    #[serde(with = "time::serde::rfc3339")]
    pub decided_at: OffsetDateTime,
    /// The console's decision id.
    pub decision_id: i64,
}

/// The value of a [`StateKey::Disabled`]: who disabled the entry, why, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disabled {
    /// Why (free text from a lead: never message content).
    pub reason: String,
    /// Who: a console pseudonym or the operator's name given to `vigil lists disable`.
    pub by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Until when; none: until enabled.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
}

impl Disabled {
    /// Whether it is in force at `now`.
    pub fn in_force(&self, now: OffsetDateTime) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

/// The value of a [`StateKey::Verified`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verified {
    /// Who verified it.
    pub by: String,
    /// When: decisions and sightings before this no longer count.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A key of the sightings topic: an entry matched in a conversation (by pseudonym: a keyed
/// digest of the conversation id, so the topic holds no conversation ids).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SightingKey {
    /// The entry.
    pub id: EntryId,
    /// The conversation's pseudonym.
    pub conversation: String,
}

impl SightingKey {
    /// The sighting of `id` in `conversation_id`.
    pub fn new(id: EntryId, conversation_id: &str) -> SightingKey {
        SightingKey {
            id,
            conversation: vigil_core::stable_id("vigil-sighting-v1", &[conversation_id.as_bytes()]),
        }
    }

    /// The key's bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&[&self.id.list, &self.id.entry, &self.conversation]).unwrap_or_default()
    }

    /// Reads a key; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<SightingKey> {
        let [list, entry, conversation]: [String; 3] = serde_json::from_slice(bytes).ok()?;
        Some(SightingKey {
            id: EntryId::new(list, entry),
            conversation,
        })
    }
}

/// The value of a sighting: when the entry last matched in the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sighting {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_whatever_the_ids_hold() {
        let id = EntryId::new("list \"a\",b", "e/1\u{0}");
        for key in [
            StateKey::Decision {
                id: id.clone(),
                flag_id: "f1".into(),
            },
            StateKey::Disabled(id.clone()),
            StateKey::Verified(id.clone()),
        ] {
            assert_eq!(StateKey::decode(&key.encode()), Some(key));
        }
        let sighting = SightingKey::new(id, "conversation-9");
        assert_eq!(
            SightingKey::decode(&sighting.encode()),
            Some(sighting.clone())
        );
        assert!(!sighting.conversation.contains("conversation"));
        assert_eq!(StateKey::decode(b"[\"other\",\"x\"]"), None);
        assert_eq!(StateKey::decode(b"not json"), None);
    }

    #[test]
    fn a_disabling_is_in_force_until_its_end() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let mut disabled = Disabled {
            reason: "stock photo".into(),
            by: "lead-1".into(),
            at,
            until: None,
        };
        assert!(disabled.in_force(at + time::Duration::days(9999)));
        disabled.until = Some(at + time::Duration::days(1));
        assert!(disabled.in_force(at + time::Duration::hours(23)));
        assert!(!disabled.in_force(at + time::Duration::days(1)));
    }
}
