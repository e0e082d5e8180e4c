use vigil_core::{Match, Message, ReasonCode};

use crate::{ResolvedAttachment, Trace};

/// What a detector sees: the message and the attachments that could be resolved to bytes.
#[derive(Debug, Clone, Copy)]
pub struct ScanContext<'a> {
    /// The message (text, ids).
    pub message: &'a Message,
    /// Attachments with their bytes; unresolvable ones are absent (already reported).
    pub attachments: &'a [ResolvedAttachment],
}

/// Something that kept part of a message from being scanned: becomes an error record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Why.
    pub reason: ReasonCode,
    /// The attachment concerned, if any.
    pub attachment_id: Option<String>,
    /// Content-free explanation.
    pub detail: String,
}

/// Where detectors put their results.
#[derive(Debug, Default)]
pub struct Findings {
    /// Matches found so far.
    pub matches: Vec<Match>,
    /// Matches that join a flag only when something else matched: evidence worth showing
    /// beside a match, not a reason to flag (a shortened link nobody resolved).
    pub evidence: Vec<Match>,
    /// Problems found so far.
    pub problems: Vec<Problem>,
    /// Time spent per step and images hashed: observation only, never read back.
    pub trace: Trace,
}

/// The seam every detector implements. Implementations never learn the message's source:
/// their matches depend only on the message, its attachments and the lists. The only I/O is
/// the video detector's, which hands a video to an isolated worker process and reads its
/// hashes back.
///
/// Clocks are allowed for two things only. A detector may bound its work in wall-clock time
/// (the image detector's per-image budget); what it could not finish is then a problem
/// (`image_timeout`), never clean. And a detector times its own steps into
/// [`Findings::trace`], because only it knows where one step ends and the next begins
/// (decoding and hashing run on a helper thread); the trace observes and never changes a
/// result.
pub trait Detector: Send + Sync {
    /// A short stable name for logs and problems, e.g. `exact-hash`.
    fn name(&self) -> &'static str;

    /// Examines `context` and records matches (and any per-attachment problems).
    fn detect(&self, context: &ScanContext<'_>, findings: &mut Findings);
}
