use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::{DetectorKind, Match, QuarantineReason, ReasonCode, Source};

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

/// The list versions in force for a pipeline: shared, so a verdict takes them by reference
/// count, and serialised to JSON once, because every verdict carries them.
#[derive(Clone)]
pub struct ListVersions {
    versions: Arc<[ListVersion]>,
    json: Arc<RawValue>,
}

impl ListVersions {
    /// Wraps `versions`.
    pub fn new(versions: Vec<ListVersion>) -> Self {
        let json = serde_json::value::to_raw_value(&versions)
            .expect("a list of string pairs serialises to JSON");
        ListVersions {
            versions: versions.into(),
            json: Arc::from(json),
        }
    }
}

impl std::ops::Deref for ListVersions {
    type Target = [ListVersion];

    fn deref(&self) -> &[ListVersion] {
        &self.versions
    }
}

impl std::fmt::Debug for ListVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.versions.fmt(f)
    }
}

impl PartialEq for ListVersions {
    fn eq(&self, other: &Self) -> bool {
        self.versions == other.versions
    }
}

impl Serialize for ListVersions {
    /// Writes the JSON made once (verdicts are only ever JSON).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ListVersions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<ListVersion>::deserialize(deserializer).map(ListVersions::new)
    }
}

/// A list entry kind that matched, without the entry: which list, version, category and
/// detector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictMatch {
    /// List name.
    pub list: String,
    /// List version in force.
    pub list_version: String,
    /// The matched entry's category.
    pub category: String,
    /// The detector that matched.
    pub detector: DetectorKind,
}

impl VerdictMatch {
    /// The distinct (list, version, category, detector) of `matches`, sorted.
    pub fn summarise(matches: &[Match]) -> Vec<VerdictMatch> {
        let mut out: Vec<VerdictMatch> = matches
            .iter()
            .map(|m| VerdictMatch {
                list: m.list.clone(),
                list_version: m.list_version.clone(),
                category: m.category.clone(),
                detector: m.detector,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Why a match that was found was not flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressReason {
    /// An allow list's entry matched the same attachment.
    AllowList,
    /// The entry is disabled (`vigil lists disable`, or a lead in the console).
    Disabled,
}

impl SuppressReason {
    /// The wire name (also the `reason` metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressReason::AllowList => "allow_list",
            SuppressReason::Disabled => "disabled",
        }
    }
}

/// A match found and not flagged, and what suppressed it: never silent, never content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressedMatch {
    /// The suppressed match's list.
    pub list: String,
    /// Its version.
    pub list_version: String,
    /// Its entry's category.
    pub category: String,
    /// Its detector.
    pub detector: DetectorKind,
    /// Its entry.
    pub entry: String,
    /// The attachment it matched (none for a text rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_id: Option<String>,
    /// Why.
    pub reason: SuppressReason,
    /// For `allow_list`: the allow list whose entry suppressed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_list: Option<String>,
    /// That list's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_list_version: Option<String>,
    /// That entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_entry: Option<String>,
}

/// An entry of a flagged match that is quarantined (`vigil run`'s entry state).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantinedEntry {
    /// The list.
    pub list: String,
    /// Its version.
    pub list_version: String,
    /// The entry id or rule id.
    pub entry: String,
    /// Why.
    pub reason: QuarantineReason,
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
    /// What matched, one entry per distinct (list, version, category, detector), when
    /// flagged: so an audit attributes flags to list versions without reading flags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<VerdictMatch>,
    /// Matches found and not flagged (an allow list's entry matched the same attachment, or
    /// the entry is disabled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<SuppressedMatch>,
    /// Entries of the flag's matches that are quarantined: the flag went to the verification
    /// topic when all of its entries are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<QuarantinedEntry>,
    /// The lists in force when the record was scanned.
    pub lists: ListVersions,
    /// When the record was scanned.
    #[serde(with = "time::serde::rfc3339")]
    pub scanned_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_versions_serialise_as_the_plain_list_and_read_back() {
        let versions = vec![
            ListVersion {
                list: "ncmec \"pdq\"".into(),
                version: "2026-11-26".into(),
            },
            ListVersion {
                list: "keywords".into(),
                version: "v7".into(),
            },
        ];
        let shared = ListVersions::new(versions.clone());
        assert_eq!(
            serde_json::to_string(&shared).unwrap(),
            serde_json::to_string(&versions).unwrap()
        );
        let record = VerdictRecord {
            schema_version: VERDICT_SCHEMA_VERSION,
            source: Source::Kafka {
                topic: "dms".into(),
                partition: 3,
                offset: 42,
            },
            message_id: Some("m-1".into()),
            verdict: VerdictKind::Clean,
            flag_id: None,
            review_topic: None,
            errors: Vec::new(),
            matches: Vec::new(),
            suppressed: Vec::new(),
            quarantined: Vec::new(),
            lists: shared,
            scanned_at: OffsetDateTime::UNIX_EPOCH,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains(r#""lists":[{"list":"ncmec \"pdq\"","version":"2026-11-26"},"#));
        let back: VerdictRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.lists[1].version, "v7");
    }
}
