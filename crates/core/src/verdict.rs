use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{ReasonCode, Source};

/// Version of the verdict wire format (`docs/schemas/verdict.schema.json`).
pub const VERDICT_SCHEMA_VERSION: u32 = 1;

/// What happened to one input record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// Scanned; nothing matched (see `errors` for parts that could not be scanned).
    Clean,
    /// Scanned; a flag was produced.
    Flagged,
    /// Not scanned (read or parse error); the record went to the dead-letter topic.
    Error,
}

/// A list and the version of it that was in force.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListVersion {
    /// List name.
    pub list: String,
    /// List version.
    pub version: String,
}

/// One record per input record, so auditors can prove coverage (every offset accounted for)
/// and attribute matches to list versions. Never carries content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictRecord {
    /// Always [`VERDICT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The input record.
    pub source: Source,
    /// The message id, when the record had a readable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The outcome.
    pub verdict: VerdictKind,
    /// The flag's id, when flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_id: Option<String>,
    /// The review topic the flag went to, when flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_topic: Option<String>,
    /// Reason codes of everything that could not be scanned (empty when fully scanned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ReasonCode>,
    /// The lists in force when the record was scanned.
    pub lists: Vec<ListVersion>,
    /// When the record was scanned.
    #[serde(with = "time::serde::rfc3339")]
    pub scanned_at: OffsetDateTime,
}
