use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::algorithm::by_wire_name;
use crate::{Algorithm, Source};

/// Version of the flag wire format (`docs/schemas/flag.schema.json`).
pub const FLAG_SCHEMA_VERSION: u32 = 1;

/// The detector that produced a match: a hash algorithm over attachments, or a kind of text
/// rule. On the wire it is one name (`sha256`, `pdq`, `keyword`, …): the algorithm's own.
///
/// The derived order (hashes in [`Algorithm`] order, then text) sorts a flag's matches, so
/// the flag id depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DetectorKind {
    /// An attachment's hash matched a hash-list entry.
    Hash(Algorithm),
    /// A keyword-list term found in the text.
    Keyword,
    /// A regular-expression rule matched the text.
    Regex,
    /// Terms of every group of a co-occurrence rule appeared close together in the text.
    Cooccurrence,
    /// A link in the text matched a URL-list entry (a page, folder or domain).
    Url,
}

impl DetectorKind {
    /// The text rule kinds, after the hash algorithms.
    const TEXT: [DetectorKind; 4] = [
        DetectorKind::Keyword,
        DetectorKind::Regex,
        DetectorKind::Cooccurrence,
        DetectorKind::Url,
    ];

    /// The wire name, e.g. `sha256`.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorKind::Hash(algorithm) => algorithm.as_str(),
            DetectorKind::Keyword => "keyword",
            DetectorKind::Regex => "regex",
            DetectorKind::Cooccurrence => "cooccurrence",
            DetectorKind::Url => "url",
        }
    }

    /// Every kind: each algorithm's, then the text rules'.
    pub fn all() -> impl Iterator<Item = DetectorKind> + Clone {
        let hashes = Algorithm::ALL.into_iter().map(DetectorKind::Hash);
        hashes.chain(DetectorKind::TEXT)
    }

    /// The kind with exactly this wire name.
    pub fn from_wire(name: &str) -> Option<DetectorKind> {
        DetectorKind::all().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DetectorKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DetectorKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DetectorKind, D::Error> {
        by_wire_name(deserializer, DetectorKind::all(), DetectorKind::as_str)
    }
}

/// How urgently a human should look. A flag's severity is the highest of its matches'.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look when the queue allows.
    Low,
    /// The default for text rules.
    #[default]
    Medium,
    /// Review soon.
    High,
    /// Review now; the default for hash-list matches (known material).
    Critical,
}

impl Severity {
    /// Parses the wire name (`low`, `medium`, `high`, `critical`), ignoring ASCII case.
    pub fn parse(value: &str) -> Option<Severity> {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(value.trim()))
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A half-open range `[start, end)` of the ORIGINAL message text, counted in Unicode scalar
/// values (Rust `char`s, Python `str` indices) — not bytes, not UTF-16 code units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// First character of the match.
    pub start: usize,
    /// One past the last character of the match.
    pub end: usize,
}

/// One hit: which detector, which list entry or rule, and the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Match {
    /// What found it.
    pub detector: DetectorKind,
    /// The list's name.
    pub list: String,
    /// The list's version at the time of the match.
    pub list_version: String,
    /// The entry's or rule's category (data from the list, e.g. IWF `A`/`B`/`C`).
    pub category: String,
    /// The entry's or rule's severity.
    pub severity: Severity,
    /// Kind-specific evidence.
    #[serde(flatten)]
    pub subject: MatchSubject,
}

/// The evidence of a match, by kind of detector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MatchSubject {
    /// An attachment matched a hash-list entry.
    Attachment {
        /// The matching attachment.
        attachment_id: String,
        /// The list entry's id.
        entry_id: String,
        /// Hamming distance between the attachment's hash and the entry (0 for exact hashes).
        distance: u32,
        /// Hash quality (0–100) for perceptual hashes that define one (PDQ).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quality: Option<u8>,
        /// Which form of the image matched, when not the image as stored: a rotation or
        /// mirroring (`rotate90`, `rotate180`, `rotate270`, `flip_x`, `flip_y`,
        /// `flip_plus1`, `flip_minus1`), the content inside its borders (`trimmed`), or both
        /// (`trimmed+rotate90`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variant: Option<String>,
        /// For a frame of a video that matched an image-list entry: the frame's time, in
        /// milliseconds from the start of the video.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        frame_ms: Option<u64>,
        /// For a video that matched a listed video (vPDQ): how much of each matched, and
        /// where in the message's video.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        video: Option<VideoEvidence>,
    },
    /// The text matched a rule, or a link in it a URL-list entry.
    Text {
        /// The rule's id (for a URL list, the entry's id).
        rule_id: String,
        /// Every place in the original text where the rule matched, in order.
        spans: Vec<Span>,
        /// For a URL list: the lookup expression (`host/path`) that matched the entry, the
        /// most specific one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expression: Option<String>,
        /// For a link in an attachment's file name rather than in the text: that attachment.
        /// The spans are then in its `file_name`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment_id: Option<String>,
    },
}

/// Most segments a [`VideoEvidence`] carries (the earliest ones).
pub const MAX_VIDEO_SEGMENTS: usize = 64;

/// How a message's video matched a listed video, frame by frame (vPDQ). Counts rather than
/// percentages, so that the evidence is exact: the query-match percentage is
/// `query_frames_matched × 100 / query_frames`, the compared-match percentage likewise.
/// Frames are the distinct sampled frames of sufficient quality on each side.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoEvidence {
    /// The message's video's frames compared.
    pub query_frames: u32,
    /// Of these, the ones that matched a frame of the listed video.
    pub query_frames_matched: u32,
    /// The listed video's frames.
    pub compared_frames: u32,
    /// Of these, the ones that some frame of the message's video matched.
    pub compared_frames_matched: u32,
    /// The stretches of the message's video that matched, in time order (at most
    /// [`MAX_VIDEO_SEGMENTS`], the earliest).
    pub segments: Vec<VideoSegment>,
}

impl VideoEvidence {
    /// The share of the message's video's frames that matched, in percent.
    pub fn query_match_percent(&self) -> f64 {
        percent(self.query_frames_matched, self.query_frames)
    }

    /// The share of the listed video's frames that matched, in percent.
    pub fn compared_match_percent(&self) -> f64 {
        percent(self.compared_frames_matched, self.compared_frames)
    }

    fn is_consistent(&self) -> bool {
        self.query_frames_matched <= self.query_frames
            && self.compared_frames_matched <= self.compared_frames
            && self.segments.len() <= MAX_VIDEO_SEGMENTS
            && self.segments.iter().all(|s| {
                s.start_ms <= s.end_ms && s.listed_start_ms <= s.listed_end_ms && s.frames > 0
            })
    }
}

fn percent(count: u32, of: u32) -> f64 {
    if of == 0 {
        0.0
    } else {
        f64::from(count) * 100.0 / f64::from(of)
    }
}

/// A stretch of the message's video whose frames each matched a frame of the listed video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoSegment {
    /// Time of the stretch's first frame, in milliseconds from the start.
    pub start_ms: u64,
    /// Time of its last frame.
    pub end_ms: u64,
    /// The earliest listed frame a frame of the stretch matched, in the listed video's time.
    pub listed_start_ms: u64,
    /// The latest such listed frame.
    pub listed_end_ms: u64,
    /// Frames in the stretch.
    pub frames: u32,
}

impl Match {
    /// The list entry's id (hash lists) or the rule's id (text): what decisions, disabling
    /// and quarantine apply to, with the list.
    pub fn entry(&self) -> &str {
        match &self.subject {
            MatchSubject::Attachment { entry_id, .. } => entry_id,
            MatchSubject::Text { rule_id, .. } => rule_id,
        }
    }

    /// The attachment it matched (for a link, the one whose file name held it); none for
    /// the text.
    pub fn attachment_id(&self) -> Option<&str> {
        match &self.subject {
            MatchSubject::Attachment { attachment_id, .. } => Some(attachment_id),
            MatchSubject::Text { attachment_id, .. } => attachment_id.as_deref(),
        }
    }

    /// A sort key that orders matches deterministically: attachments by id, then text (the
    /// message's, then file names' by attachment), then by detector, list and entry.
    fn order_key(&self) -> (u8, &str, DetectorKind, &str, &str) {
        match &self.subject {
            MatchSubject::Attachment {
                attachment_id,
                entry_id,
                ..
            } => (0, attachment_id, self.detector, &self.list, entry_id),
            MatchSubject::Text {
                rule_id,
                attachment_id,
                ..
            } => (
                1,
                attachment_id.as_deref().unwrap_or(""),
                self.detector,
                &self.list,
                rule_id,
            ),
        }
    }
}

/// A review-queue item: one message with everything it matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    /// Always [`FLAG_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Deterministic: see [`Flag::compute_id`].
    pub flag_id: String,
    /// The flagged message.
    pub message_id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// Its sender.
    pub sender_id: String,
    /// When the message was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    /// When vigil flagged it (not part of the id).
    #[serde(with = "time::serde::rfc3339")]
    pub flagged_at: OffsetDateTime,
    /// The highest severity among the matches.
    pub severity: Severity,
    /// The distinct categories among the matches, sorted (for routing and queue filters).
    pub categories: Vec<String>,
    /// Where the message was read from; a review tool fetches the content from there.
    pub source: Source,
    /// Every hit, in a deterministic order.
    pub matches: Vec<Match>,
    /// The SHA-256 of each attachment the scanner read, so that a review tool fetching the
    /// message by `source` can tell it is the message flagged (not part of the id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentDigest>,
    /// What `vigil run` knows of each matched entry beyond the match (not part of the id):
    /// how many conversations it matched lately and whether it is quarantined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<EntryContext>,
}

/// One matched list entry or rule as the entry state sees it when the flag is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryContext {
    /// The list.
    pub list: String,
    /// The entry id (hash lists) or rule id (text).
    pub entry: String,
    /// Distinct conversations it matched in the re-share window (24 hours by default), this
    /// message's included: one entry suddenly matching many conversations is a viral image
    /// or a bad entry.
    pub conversations: u32,
    /// Why the entry is quarantined, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<QuarantineReason>,
}

/// Why an entry's new matches go to verification rather than the main queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineReason {
    /// Reviewers marked enough of its matches false positives (the precision rule).
    Precision,
    /// It matched more distinct conversations in the flood window than allowed.
    Flood,
}

impl QuarantineReason {
    /// The wire name (also the `reason` metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineReason::Precision => "precision",
            QuarantineReason::Flood => "flood",
        }
    }
}

/// An attachment's id and the SHA-256 of its bytes, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentDigest {
    /// The attachment's id in its message.
    pub attachment_id: String,
    /// SHA-256 of the raw bytes.
    pub sha256: String,
}

impl AttachmentDigest {
    /// The digest of attachment `attachment_id` with these bytes.
    pub fn of(attachment_id: &str, bytes: &[u8]) -> AttachmentDigest {
        use sha2::{Digest, Sha256};
        AttachmentDigest {
            attachment_id: attachment_id.to_string(),
            sha256: hex::encode(Sha256::digest(bytes)),
        }
    }
}

impl Flag {
    /// Builds a flag from a message's matches (which must not be empty). Sorts the matches,
    /// derives severity and categories, and computes the id.
    pub fn new(
        message_id: String,
        conversation_id: String,
        sender_id: String,
        sent_at: OffsetDateTime,
        source: Source,
        mut matches: Vec<Match>,
        flagged_at: OffsetDateTime,
    ) -> Flag {
        matches.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        matches.dedup();
        let severity = matches.iter().map(|m| m.severity).max().unwrap_or_default();
        let mut categories: Vec<String> = matches.iter().map(|m| m.category.clone()).collect();
        categories.sort();
        categories.dedup();
        let flag_id = Flag::compute_id(&conversation_id, &message_id, &matches);
        Flag {
            schema_version: FLAG_SCHEMA_VERSION,
            flag_id,
            message_id,
            conversation_id,
            sender_id,
            sent_at,
            flagged_at,
            severity,
            categories,
            source,
            matches,
            attachments: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// The flag id: 32 hex characters of SHA-256 over the conversation id, the message id and
    /// the canonical JSON of each match (in the order [`Flag::new`] sorts them). The same
    /// message matched against the same list versions always gets the same id, whichever
    /// topic, partition, offset or file line it was read from and whenever it was scanned, so
    /// a review store can de-duplicate redeliveries and replays.
    pub fn compute_id(conversation_id: &str, message_id: &str, matches: &[Match]) -> String {
        let encoded: Vec<Vec<u8>> = matches
            .iter()
            .map(|m| serde_json::to_vec(m).unwrap_or_default())
            .collect();
        let mut parts: Vec<&[u8]> = vec![conversation_id.as_bytes(), message_id.as_bytes()];
        parts.extend(encoded.iter().map(Vec::as_slice));
        crate::stable_id("vigil-flag-v1", &parts)
    }

    /// Checks a flag read from a review topic, which anyone with write access to it could
    /// have produced: identifiers as [`Message::parse`](crate::Message::parse) accepts them,
    /// list fields of at most [`MAX_LIST_FIELD_BYTES`] without control characters, at least
    /// one match, ordered spans, a valid source, and the id [`Flag::compute_id`] gives (a
    /// flag carrying another flag's id would otherwise take its place in a store that
    /// de-duplicates on it). The error names the field, never its value.
    pub fn check(&self) -> Result<(), FlagDefect> {
        let defect = |field: String, rule: &'static str| Err(FlagDefect { field, rule });
        for (field, value) in [
            ("message_id", &self.message_id),
            ("conversation_id", &self.conversation_id),
            ("sender_id", &self.sender_id),
        ] {
            if !crate::message::valid_id(value) {
                return defect(field.into(), ID_RULE);
            }
        }
        if self.matches.is_empty() {
            return defect("matches".into(), "must list at least one match");
        }
        for (i, m) in self.matches.iter().enumerate() {
            let (entry, evidence_ok) = match &m.subject {
                MatchSubject::Attachment {
                    attachment_id,
                    entry_id,
                    variant,
                    video,
                    ..
                } => {
                    if !crate::message::valid_id(attachment_id) {
                        return defect(format!("matches[{i}].attachment_id"), ID_RULE);
                    }
                    let variant_ok = variant.as_deref().is_none_or(list_field)
                        && video.as_ref().is_none_or(VideoEvidence::is_consistent);
                    (("entry_id", entry_id), variant_ok)
                }
                MatchSubject::Text {
                    rule_id,
                    spans,
                    expression,
                    attachment_id,
                } => {
                    if attachment_id
                        .as_deref()
                        .is_some_and(|id| !crate::message::valid_id(id))
                    {
                        return defect(format!("matches[{i}].attachment_id"), ID_RULE);
                    }
                    let ok = spans.iter().all(|s| s.start <= s.end)
                        && expression.as_deref().is_none_or(list_field);
                    (("rule_id", rule_id), ok)
                }
            };
            if !evidence_ok {
                return defect(
                    format!("matches[{i}]"),
                    "has a malformed variant, video evidence or span",
                );
            }
            for (name, value) in [
                ("list", &m.list),
                ("list_version", &m.list_version),
                ("category", &m.category),
                entry,
            ] {
                if !list_field(value) {
                    return defect(format!("matches[{i}].{name}"), LIST_FIELD_RULE);
                }
            }
        }
        for (i, a) in self.attachments.iter().enumerate() {
            if !crate::message::valid_id(&a.attachment_id) {
                return defect(format!("attachments[{i}].attachment_id"), ID_RULE);
            }
            if a.sha256.len() != 64
                || !a
                    .sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return defect(
                    format!("attachments[{i}].sha256"),
                    "must be 64 lowercase hex digits",
                );
            }
        }
        if let Some(i) = self.categories.iter().position(|c| !list_field(c)) {
            return defect(format!("categories[{i}]"), LIST_FIELD_RULE);
        }
        let source_ok = match &self.source {
            Source::Kafka {
                topic,
                partition,
                offset,
            } => {
                (1..=249).contains(&topic.len())
                    && topic
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                    && *partition >= 0
                    && *offset >= 0
            }
            Source::File { file, .. } => file.len() <= 4096 && !file.contains('\0'),
        };
        if !source_ok {
            return defect(
                "source".into(),
                "must name a valid topic, partition and offset, or file",
            );
        }
        if self.flag_id != Flag::compute_id(&self.conversation_id, &self.message_id, &self.matches)
        {
            return defect(
                "flag_id".into(),
                "is not the id of this conversation, message and matches",
            );
        }
        Ok(())
    }
}

/// Longest list name, version, category, entry or rule id a flag may carry.
pub const MAX_LIST_FIELD_BYTES: usize = 1024;

const ID_RULE: &str = "must be 1 to 256 bytes without control characters";
const LIST_FIELD_RULE: &str = "must be 1 to 1024 bytes without control characters";

fn list_field(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_LIST_FIELD_BYTES && !value.chars().any(char::is_control)
}

/// Why a flag is unusable: the field and the rule it breaks (never the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {rule}")]
pub struct FlagDefect {
    /// The field, as a JSON path (`matches[2].list`).
    pub field: String,
    /// What it must be.
    pub rule: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_match(rule: &str, category: &str, severity: Severity) -> Match {
        Match {
            detector: DetectorKind::Keyword,
            list: "kw".into(),
            list_version: "v1".into(),
            category: category.into(),
            severity,
            subject: MatchSubject::Text {
                rule_id: rule.into(),
                spans: vec![Span { start: 0, end: 4 }],
                expression: None,
                attachment_id: None,
            },
        }
    }

    fn image_match(attachment: &str, entry: &str) -> Match {
        Match {
            detector: DetectorKind::Hash(Algorithm::Sha256),
            list: "hashes".into(),
            list_version: "v1".into(),
            category: "A".into(),
            severity: Severity::Critical,
            subject: MatchSubject::Attachment {
                attachment_id: attachment.into(),
                entry_id: entry.into(),
                distance: 0,
                quality: None,
                variant: None,
                frame_ms: None,
                video: None,
            },
        }
    }

    fn flag(matches: Vec<Match>, source_line: u64, at: i64) -> Flag {
        Flag::new(
            "m".into(),
            "c".into(),
            "u".into(),
            OffsetDateTime::UNIX_EPOCH,
            Source::File {
                file: "f".into(),
                line: source_line,
            },
            matches,
            OffsetDateTime::from_unix_timestamp(at).unwrap(),
        )
    }

    #[test]
    fn id_ignores_order_source_and_time_but_not_evidence() {
        let a = text_match("r1", "grooming", Severity::High);
        let b = image_match("att-1", "e1");
        let base = flag(vec![a.clone(), b.clone()], 1, 0);
        assert_eq!(
            base.flag_id,
            flag(vec![b.clone(), a.clone()], 9, 1000).flag_id
        );
        let mut other_version = b.clone();
        other_version.list_version = "v2".into();
        assert_ne!(
            base.flag_id,
            flag(vec![a.clone(), other_version], 1, 0).flag_id
        );
        assert_ne!(base.flag_id, flag(vec![a], 1, 0).flag_id);
    }

    #[test]
    fn severity_and_categories_are_derived() {
        let f = flag(
            vec![
                text_match("r2", "z-cat", Severity::Low),
                image_match("a", "e"),
                text_match("r1", "grooming", Severity::High),
            ],
            1,
            0,
        );
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.categories, ["A", "grooming", "z-cat"]);
        assert!(matches!(
            f.matches[0].subject,
            MatchSubject::Attachment { .. }
        ));
    }

    #[test]
    fn match_round_trips_through_json() {
        for m in [
            image_match("a", "e"),
            text_match("r", "c", Severity::Medium),
        ] {
            let json = serde_json::to_string(&m).unwrap();
            let back: Match = serde_json::from_str(&json).unwrap();
            assert_eq!(back, m, "{json}");
        }
    }

    #[test]
    fn check_accepts_what_flag_new_builds_and_names_the_field_of_each_defect() {
        let mut good = flag(
            vec![
                image_match("a1", "e-1"),
                text_match("r", "grooming", Severity::High),
            ],
            1,
            0,
        );
        good.attachments = vec![AttachmentDigest::of("a1", b"image bytes")];
        assert_eq!(good.check(), Ok(()));
        type Case = (&'static str, fn(&mut Flag));
        let cases: &[Case] = &[
            ("message_id", |f| f.message_id = "m\0".into()),
            ("sender_id", |f| f.sender_id = "u".repeat(257)),
            ("conversation_id", |f| f.conversation_id.clear()),
            ("matches", |f| f.matches.clear()),
            ("matches[0].attachment_id", |f| {
                if let MatchSubject::Attachment { attachment_id, .. } = &mut f.matches[0].subject {
                    attachment_id.push('\n');
                }
            }),
            ("matches[0].entry_id", |f| {
                if let MatchSubject::Attachment { entry_id, .. } = &mut f.matches[0].subject {
                    *entry_id = "e".repeat(MAX_LIST_FIELD_BYTES + 1);
                }
            }),
            ("matches[1].list", |f| f.matches[1].list = "kw\0".into()),
            ("matches[1]", |f| {
                if let MatchSubject::Text { spans, .. } = &mut f.matches[1].subject {
                    spans[0] = Span { start: 5, end: 4 };
                }
            }),
            ("categories[0]", |f| f.categories[0] = "\u{7}".into()),
            ("attachments[0].sha256", |f| {
                f.attachments[0].sha256 = f.attachments[0].sha256.to_uppercase()
            }),
            ("source", |f| {
                f.source = Source::Kafka {
                    topic: "dms/x".into(),
                    partition: 0,
                    offset: 1,
                }
            }),
            ("source", |f| {
                f.source = Source::Kafka {
                    topic: "dms".into(),
                    partition: -1,
                    offset: 1,
                }
            }),
            // Another flag's id: it would shadow that flag in a store keyed on ids.
            ("flag_id", |f| f.flag_id = "0".repeat(32)),
        ];
        for (field, spoil) in cases {
            let mut bad = good.clone();
            spoil(&mut bad);
            let defect = bad.check().unwrap_err();
            assert_eq!(defect.field, *field, "{defect}");
        }
    }

    fn video_match(evidence: VideoEvidence) -> Match {
        let mut m = image_match("v1", "video-9");
        m.detector = DetectorKind::Hash(Algorithm::Vpdq);
        if let MatchSubject::Attachment {
            video, distance, ..
        } = &mut m.subject
        {
            *distance = 12;
            *video = Some(evidence);
        }
        m
    }

    #[test]
    fn video_evidence_is_exact_round_trips_and_must_be_consistent() {
        let segment = VideoSegment {
            start_ms: 1000,
            end_ms: 3000,
            listed_start_ms: 0,
            listed_end_ms: 2000,
            frames: 3,
        };
        let evidence = VideoEvidence {
            query_frames: 4,
            query_frames_matched: 3,
            compared_frames: 8,
            compared_frames_matched: 2,
            segments: vec![segment],
        };
        assert_eq!(evidence.query_match_percent(), 75.0);
        assert_eq!(evidence.compared_match_percent(), 25.0);
        let m = video_match(evidence.clone());
        let json = serde_json::to_string(&m).unwrap();
        assert!(
            !json.contains('.'),
            "integers only, so ids are stable: {json}"
        );
        assert_eq!(serde_json::from_str::<Match>(&json).unwrap(), m);
        assert_eq!(flag(vec![m], 1, 0).check(), Ok(()));
        type Spoil = fn(&mut VideoEvidence);
        let spoils: &[Spoil] = &[
            |e| e.query_frames_matched = 5,
            |e| e.compared_frames_matched = 9,
            |e| e.segments[0].end_ms = 999,
            |e| e.segments[0].listed_start_ms = 2001,
            |e| e.segments[0].frames = 0,
            |e| e.segments = vec![e.segments[0]; MAX_VIDEO_SEGMENTS + 1],
        ];
        for spoil in spoils {
            let mut bad = evidence.clone();
            spoil(&mut bad);
            let defect = flag(vec![video_match(bad)], 1, 0).check().unwrap_err();
            assert_eq!(defect.field, "matches[0]", "{defect}");
        }
    }

    /// The names and the order of every kind as flags carried them before kinds were defined
    /// in terms of [`Algorithm`]: the wire form and the flag ids must not change.
    #[test]
    fn detector_kinds_keep_their_wire_names_and_order() {
        let wire = [
            "md5",
            "sha1",
            "sha256",
            "pdq",
            "phash",
            "dhash",
            "ahash",
            "vpdq",
            "keyword",
            "regex",
            "cooccurrence",
            "url",
        ];
        let kinds: Vec<DetectorKind> = wire
            .iter()
            .map(|name| serde_json::from_str(&format!("\"{name}\"")).unwrap())
            .collect();
        for (kind, name) in kinds.iter().zip(wire) {
            assert_eq!(serde_json::to_string(kind).unwrap(), format!("\"{name}\""));
            assert_eq!(DetectorKind::from_wire(name), Some(*kind));
        }
        assert!(kinds.is_sorted(), "{kinds:?}");
        assert_eq!(DetectorKind::all().count(), wire.len());
        for bad in ["SHA256", "sha-256", "link", ""] {
            let err = serde_json::from_str::<DetectorKind>(&format!("\"{bad}\"")).unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn severity_parses_wire_names() {
        assert_eq!(Severity::parse("HIGH"), Some(Severity::High));
        assert_eq!(Severity::parse(" low "), Some(Severity::Low));
        assert_eq!(Severity::parse("urgent"), None);
    }
}
