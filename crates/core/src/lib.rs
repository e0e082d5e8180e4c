//! The vocabulary every vigil component shares: what comes in, what goes out, and the
//! machinery of the configuration file.
//!
//! - [`Message`] — a direct message as it arrives (a Kafka record value or one JSON line),
//!   parsed and validated by [`Message::parse`], which fails with a content-free
//!   [`MessageError`] carrying a [`ReasonCode`].
//! - [`Flag`] — a review-queue item: one per flagged message, listing every [`Match`] with the
//!   list, list version, entry or rule, category and per-kind evidence (attachment id and
//!   distance, or character [`Span`]s into the original text). [`Flag::compute_id`] makes the
//!   id deterministic so that redeliveries de-duplicate.
//! - [`Algorithm`] — the hash algorithms, named once: wire name, parsing, whether exact,
//!   length; a match's [`DetectorKind`] is an algorithm or a kind of text rule.
//! - [`ErrorRecord`] — what is emitted for input that cannot be scanned (fully or in part): a
//!   reason code and the [`Source`] coordinates, never content.
//! - [`VerdictRecord`] — one small record per input record, for auditors: what happened to
//!   it (clean, flagged, error), which flag, which list versions were in force.
//! - [`config`] — the configuration file's machinery: TOML with `VIGIL_SECTION__KEY`
//!   environment overrides, errors naming key and origin, [`config::Section`] (what each
//!   crate's section does at load), [`config::Secret`]. The sections live with their crates.
//!
//! The wire formats are documented in `docs/schemas/` (JSON Schema plus prose).
//!
//! ```
//! use vigil_core::{Message, ReasonCode};
//!
//! let line = br#"{"message_id":"m-1","conversation_id":"c-1","sender_id":"u-1",
//!   "recipient_ids":["u-2"],"sent_at":"2026-11-26T07:00:00Z","text":"hi"}"#;
//! let message = Message::parse(line).unwrap();
//! assert_eq!(message.message_id, "m-1");
//!
//! let err = Message::parse(br#"{"message_id":"m-2"}"#).unwrap_err();
//! assert_eq!(err.reason, ReasonCode::MissingField);
//! assert_eq!(err.message_id.as_deref(), Some("m-2"));
//! ```

mod algorithm;
pub mod config;
mod flag;
mod media;
mod message;
mod record;
mod source;
mod verdict;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use config::ConfigError;
pub use flag::{
    AttachmentDigest, DetectorKind, EntryContext, FLAG_SCHEMA_VERSION, Flag, FlagDefect,
    MAX_LIST_FIELD_BYTES, MAX_VIDEO_SEGMENTS, Match, MatchSubject, QuarantineReason, Severity,
    Span, VideoEvidence, VideoSegment,
};
pub use media::MediaType;
pub use message::{
    Attachment, AttachmentBody, MESSAGE_SCHEMA_VERSION, Message, MessageError, SenderDetails,
    valid_id,
};
pub use record::{ERROR_SCHEMA_VERSION, ErrorRecord, ErrorStage, ReasonCode};
pub use source::Source;
pub use verdict::{
    ListVersion, ListVersions, QuarantinedEntry, SuppressReason, SuppressedMatch,
    VERDICT_SCHEMA_VERSION, VerdictKind, VerdictMatch, VerdictRecord,
};

/// The first 16 bytes of SHA-256 over `parts`, each part length-prefixed so that no two
/// different part lists hash the same input; lowercase hex. Used for the deterministic ids
/// of flags and error records, and for the pseudonymous conversation keys of entry sightings.
pub fn stable_id(domain: &str, parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(&hasher.finalize()[..16])
}
