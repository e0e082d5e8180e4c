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
    /// Problems found so far.
    pub problems: Vec<Problem>,
    /// Time spent per stage and images hashed (observation only).
    pub trace: Trace,
}

/// The seam every detector implements. Implementations are pure: no I/O, no clocks, no
/// knowledge of the message's source, so the same message always gives the same findings.
pub trait Detector: Send + Sync {
    /// A short stable name for logs and problems, e.g. `exact-hash`.
    fn name(&self) -> &'static str;

    /// Examines `context` and records matches (and any per-attachment problems).
    fn detect(&self, context: &ScanContext<'_>, findings: &mut Findings);
}
