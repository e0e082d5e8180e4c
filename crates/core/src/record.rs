use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Source;

/// Version of the error-record wire format (`docs/schemas/error-record.schema.json`).
pub const ERROR_SCHEMA_VERSION: u32 = 1;

/// Why input could not be scanned, in full or in part. Stable, snake_case on the wire; safe to
/// use as a metric label (a bounded set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// A blank line where a message was expected.
    EmptyLine,
    /// The record is not valid UTF-8.
    InvalidUtf8,
    /// The record is larger than `input.max_message_bytes`.
    MessageTooLarge,
    /// The record is not well-formed JSON (or not a JSON object).
    MalformedJson,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type or an invalid value.
    InvalidField,
    /// `schema_version` names a version this build does not read.
    UnsupportedSchemaVersion,
    /// An attachment is structurally wrong (neither or both of `data`/`uri`, duplicate id).
    InvalidAttachment,
    /// An attachment's `data` is not valid base64.
    InvalidBase64,
    /// An attachment's `media_type` is not one vigil knows; only exact hashes were checked.
    UnsupportedMediaType,
    /// An attachment is larger than `attachments.max_bytes`.
    AttachmentTooLarge,
    /// The message has more attachments than `attachments.max_attachments_per_message`; one
    /// record names the first attachment left out and how many were.
    TooManyAttachments,
    /// An attachment would take the message's attachments together past
    /// `attachments.max_total_bytes_per_message`.
    AttachmentBudgetExceeded,
    /// An attachment `uri` has a scheme vigil does not fetch.
    UnsupportedUriScheme,
    /// An attachment `uri` points outside the configured allow-list.
    UriNotAllowed,
    /// An attachment `uri` names a file that does not exist.
    AttachmentNotFound,
    /// An attachment could not be read (an I/O error that may be transient).
    AttachmentUnreadable,
    /// An attachment is an image in a format this build does not decode (or its media type
    /// says image and its bytes are not one); only exact hashes were checked.
    UnsupportedImageFormat,
    /// An image declares more pixels or bytes than the `attachments.max_image_*` limits
    /// (a decompression bomb is refused here, from its header); only exact hashes checked.
    ImageTooLarge,
    /// An image is corrupt or truncated, or its decoder failed; only exact hashes checked.
    Undecodable,
    /// Decoding and hashing an image took longer than `attachments.max_image_time_ms`; only
    /// exact hashes checked.
    ImageTimeout,
    /// A video declares, or decodes to, a longer duration than `video.max_duration_secs`; frames
    /// up to the limit were still hashed and matched.
    VideoTooLong,
    /// A video decoded to more frames than `video.max_frames`; the frames before the limit
    /// were still hashed and matched.
    VideoTooManyFrames,
    /// A video's frames have more pixels than `video.max_pixels_per_frame`; only exact hashes
    /// checked.
    VideoTooLarge,
    /// A video or animated image could not be demuxed or decoded (no video stream, unknown
    /// codec, corrupt data); frames decoded before the failure were still matched.
    VideoDecodeFailed,
    /// Decoding and hashing a video took longer than `video.max_time_ms`; its worker was
    /// killed; only exact hashes checked.
    VideoTimeout,
    /// A video's worker used more CPU time than its limit and was killed; only exact hashes
    /// checked.
    VideoCpuLimit,
    /// A video's worker ran out of its address-space limit (`video.max_memory_bytes`); only
    /// exact hashes checked.
    VideoMemoryLimit,
    /// A video's isolated worker died (a signal, or output that is not the protocol); only
    /// exact hashes checked. The worker is replaced; the scanner is unaffected.
    VideoWorkerCrashed,
    /// No video worker could be started (the worker program is missing or the system
    /// refused a process); only exact hashes checked. Retrying can help.
    VideoWorkerUnavailable,
    /// The text is longer than `text.max_scan_bytes`: only its beginning (up to that
    /// many bytes) was scanned for keywords and rules.
    TextTruncated,
    /// A detector panicked on this input; the other detectors' results stand.
    DetectorPanic,
    /// Processing the record failed outside any detector (a bug); the record was not scanned.
    InternalError,
    /// The record ended `kafka.crash_loop_limit` vigil processes (an abort or an
    /// out-of-memory kill, which no panic handler can hold) while it was the only record
    /// being scanned; it was dead-lettered without being scanned again.
    CrashLoop,
}

/// Where in processing an error record's error arose (its `stage` field). Not a timed step:
/// those are the scanner's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorStage {
    /// Framing: reading the record itself.
    Read,
    /// Parsing and validating the message JSON.
    Parse,
    /// Turning attachments into bytes (base64, `file://`).
    Resolve,
    /// Decoding attachments into pixels.
    Decode,
    /// Running detectors.
    Scan,
}

impl ErrorStage {
    /// The wire name, e.g. `parse`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorStage::Read => "read",
            ErrorStage::Parse => "parse",
            ErrorStage::Resolve => "resolve",
            ErrorStage::Decode => "decode",
            ErrorStage::Scan => "scan",
        }
    }
}

impl ReasonCode {
    /// Every reason code, for documentation and exhaustive tests.
    pub const ALL: [ReasonCode; 34] = [
        ReasonCode::EmptyLine,
        ReasonCode::InvalidUtf8,
        ReasonCode::MessageTooLarge,
        ReasonCode::MalformedJson,
        ReasonCode::MissingField,
        ReasonCode::InvalidField,
        ReasonCode::UnsupportedSchemaVersion,
        ReasonCode::InvalidAttachment,
        ReasonCode::InvalidBase64,
        ReasonCode::UnsupportedMediaType,
        ReasonCode::AttachmentTooLarge,
        ReasonCode::TooManyAttachments,
        ReasonCode::AttachmentBudgetExceeded,
        ReasonCode::UnsupportedUriScheme,
        ReasonCode::UriNotAllowed,
        ReasonCode::AttachmentNotFound,
        ReasonCode::AttachmentUnreadable,
        ReasonCode::UnsupportedImageFormat,
        ReasonCode::ImageTooLarge,
        ReasonCode::Undecodable,
        ReasonCode::ImageTimeout,
        ReasonCode::VideoTooLong,
        ReasonCode::VideoTooManyFrames,
        ReasonCode::VideoTooLarge,
        ReasonCode::VideoDecodeFailed,
        ReasonCode::VideoTimeout,
        ReasonCode::VideoCpuLimit,
        ReasonCode::VideoMemoryLimit,
        ReasonCode::VideoWorkerCrashed,
        ReasonCode::VideoWorkerUnavailable,
        ReasonCode::TextTruncated,
        ReasonCode::DetectorPanic,
        ReasonCode::InternalError,
        ReasonCode::CrashLoop,
    ];

    /// The wire name, e.g. `malformed_json`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::EmptyLine => "empty_line",
            ReasonCode::InvalidUtf8 => "invalid_utf8",
            ReasonCode::MessageTooLarge => "message_too_large",
            ReasonCode::MalformedJson => "malformed_json",
            ReasonCode::MissingField => "missing_field",
            ReasonCode::InvalidField => "invalid_field",
            ReasonCode::UnsupportedSchemaVersion => "unsupported_schema_version",
            ReasonCode::InvalidAttachment => "invalid_attachment",
            ReasonCode::InvalidBase64 => "invalid_base64",
            ReasonCode::UnsupportedMediaType => "unsupported_media_type",
            ReasonCode::AttachmentTooLarge => "attachment_too_large",
            ReasonCode::TooManyAttachments => "too_many_attachments",
            ReasonCode::AttachmentBudgetExceeded => "attachment_budget_exceeded",
            ReasonCode::UnsupportedUriScheme => "unsupported_uri_scheme",
            ReasonCode::UriNotAllowed => "uri_not_allowed",
            ReasonCode::AttachmentNotFound => "attachment_not_found",
            ReasonCode::AttachmentUnreadable => "attachment_unreadable",
            ReasonCode::UnsupportedImageFormat => "unsupported_image_format",
            ReasonCode::ImageTooLarge => "image_too_large",
            ReasonCode::Undecodable => "undecodable",
            ReasonCode::ImageTimeout => "image_timeout",
            ReasonCode::VideoTooLong => "video_too_long",
            ReasonCode::VideoTooManyFrames => "video_too_many_frames",
            ReasonCode::VideoTooLarge => "video_too_large",
            ReasonCode::VideoDecodeFailed => "video_decode_failed",
            ReasonCode::VideoTimeout => "video_timeout",
            ReasonCode::VideoCpuLimit => "video_cpu_limit",
            ReasonCode::VideoMemoryLimit => "video_memory_limit",
            ReasonCode::VideoWorkerCrashed => "video_worker_crashed",
            ReasonCode::VideoWorkerUnavailable => "video_worker_unavailable",
            ReasonCode::TextTruncated => "text_truncated",
            ReasonCode::DetectorPanic => "detector_panic",
            ReasonCode::InternalError => "internal_error",
            ReasonCode::CrashLoop => "crash_loop",
        }
    }

    /// The reason with wire name `name`, if there is one.
    pub fn from_wire(name: &str) -> Option<ReasonCode> {
        ReasonCode::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The stage this reason belongs to.
    pub fn stage(self) -> ErrorStage {
        match self {
            ReasonCode::EmptyLine | ReasonCode::InvalidUtf8 | ReasonCode::MessageTooLarge => {
                ErrorStage::Read
            }
            ReasonCode::MalformedJson
            | ReasonCode::MissingField
            | ReasonCode::InvalidField
            | ReasonCode::UnsupportedSchemaVersion
            | ReasonCode::InvalidAttachment => ErrorStage::Parse,
            ReasonCode::InvalidBase64
            | ReasonCode::UnsupportedMediaType
            | ReasonCode::AttachmentTooLarge
            | ReasonCode::TooManyAttachments
            | ReasonCode::AttachmentBudgetExceeded
            | ReasonCode::UnsupportedUriScheme
            | ReasonCode::UriNotAllowed
            | ReasonCode::AttachmentNotFound
            | ReasonCode::AttachmentUnreadable => ErrorStage::Resolve,
            ReasonCode::UnsupportedImageFormat
            | ReasonCode::ImageTooLarge
            | ReasonCode::Undecodable
            | ReasonCode::ImageTimeout
            | ReasonCode::VideoTooLong
            | ReasonCode::VideoTooManyFrames
            | ReasonCode::VideoTooLarge
            | ReasonCode::VideoDecodeFailed
            | ReasonCode::VideoTimeout
            | ReasonCode::VideoCpuLimit
            | ReasonCode::VideoMemoryLimit
            | ReasonCode::VideoWorkerCrashed
            | ReasonCode::VideoWorkerUnavailable => ErrorStage::Decode,
            ReasonCode::TextTruncated
            | ReasonCode::DetectorPanic
            | ReasonCode::InternalError
            | ReasonCode::CrashLoop => ErrorStage::Scan,
        }
    }

    /// Whether trying the same input again may succeed (only transient I/O and a worker
    /// that could not be started can).
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ReasonCode::AttachmentUnreadable | ReasonCode::VideoWorkerUnavailable
        )
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record of input that could not be scanned, in full (read/parse stage) or in part (one
/// attachment, one detector). Carries coordinates and a content-free `detail`, never message
/// text or attachment bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRecord {
    /// Always [`ERROR_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Deterministic id: the same input error always has the same id.
    pub error_id: String,
    /// Why.
    pub reason: ReasonCode,
    /// Where in the pipeline (derived from `reason`).
    pub stage: ErrorStage,
    /// Whether a retry of the same input can help (derived from `reason`).
    pub retryable: bool,
    /// The input record's coordinates.
    pub source: Source,
    /// The message id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The attachment concerned, for attachment-level errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_id: Option<String>,
    /// The JSON path of the offending field, when there is one (e.g. `attachments[1].data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A human-readable explanation that never quotes content.
    pub detail: String,
    /// When the error was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

impl ErrorRecord {
    /// Builds a record; `stage`, `retryable` and `error_id` follow from the arguments.
    pub fn new(
        reason: ReasonCode,
        source: Source,
        message_id: Option<String>,
        attachment_id: Option<String>,
        field: Option<String>,
        detail: String,
        recorded_at: OffsetDateTime,
    ) -> ErrorRecord {
        let error_id = crate::stable_id(
            "vigil-error-v1",
            &[
                source.to_string().as_bytes(),
                reason.as_str().as_bytes(),
                message_id.as_deref().unwrap_or("").as_bytes(),
                attachment_id.as_deref().unwrap_or("").as_bytes(),
            ],
        );
        ErrorRecord {
            schema_version: ERROR_SCHEMA_VERSION,
            error_id,
            reason,
            stage: reason.stage(),
            retryable: reason.retryable(),
            source,
            message_id,
            attachment_id,
            field,
            detail,
            recorded_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for reason in ReasonCode::ALL {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            let back: ReasonCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, reason);
            assert_eq!(ReasonCode::from_wire(reason.as_str()), Some(reason));
        }
        assert_eq!(ReasonCode::from_wire("no_such_reason"), None);
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let retryable: Vec<_> = ReasonCode::ALL
            .into_iter()
            .filter(|r| r.retryable())
            .collect();
        assert_eq!(
            retryable,
            [
                ReasonCode::AttachmentUnreadable,
                ReasonCode::VideoWorkerUnavailable
            ]
        );
    }

    #[test]
    fn error_ids_are_deterministic_and_distinct() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let src = |line| Source::File {
            file: "in.jsonl".into(),
            line,
        };
        let make =
            |line, reason| ErrorRecord::new(reason, src(line), None, None, None, String::new(), at);
        let a = make(3, ReasonCode::MalformedJson);
        assert_eq!(a.error_id, make(3, ReasonCode::MalformedJson).error_id);
        assert_ne!(a.error_id, make(4, ReasonCode::MalformedJson).error_id);
        assert_ne!(a.error_id, make(3, ReasonCode::EmptyLine).error_id);
        assert_eq!(a.stage, ErrorStage::Parse);
        assert_eq!(a.error_id.len(), 32);
    }
}
