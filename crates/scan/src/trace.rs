//! What processing one record cost and what happened to its attachments, for metrics. A
//! [`Trace`] observes; it never changes a result.

use std::time::{Duration, Instant};

use vigil_core::ReasonCode;

/// A step of processing a record, timed separately: the `stage` label of the stage-duration
/// metric. Not where an error arose: that is [`vigil_core::ErrorStage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimedStep {
    /// Size check, JSON parsing and validation.
    Parse,
    /// Attachment bodies to bytes (base64, `file://`).
    Resolve,
    /// MD5/SHA digests of raw attachment bytes and their list lookup.
    Exact,
    /// Image decoding under the limits.
    Decode,
    /// PDQ (with variants) and pHash/dHash/aHash of decoded pixels.
    Hash,
    /// Perceptual hash lookup in the multi-index.
    Match,
    /// Text normalisation, automata, regex and co-occurrence rules.
    Text,
    /// A video or animated image in a worker process: decoding and hashing its frames.
    Video,
}

impl TimedStep {
    /// Every stage, in processing order.
    pub const ALL: [TimedStep; 8] = [
        TimedStep::Parse,
        TimedStep::Resolve,
        TimedStep::Exact,
        TimedStep::Decode,
        TimedStep::Hash,
        TimedStep::Match,
        TimedStep::Text,
        TimedStep::Video,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            TimedStep::Parse => "parse",
            TimedStep::Resolve => "resolve",
            TimedStep::Exact => "exact",
            TimedStep::Decode => "decode",
            TimedStep::Hash => "hash",
            TimedStep::Match => "match",
            TimedStep::Text => "text",
            TimedStep::Video => "video",
        }
    }
}

/// What became of one attachment. Every attachment of a parsed message has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachmentOutcome {
    /// Decoded as an image or video and perceptually hashed (and its exact digests matched).
    Hashed,
    /// Only exact digests: not an image, or no list holds perceptual hashes.
    ExactOnly,
    /// Over `attachments.max_bytes`, the message's attachment byte budget or the image
    /// limits.
    TooLarge,
    /// A corrupt, truncated or otherwise undecodable image.
    Undecodable,
    /// An image not decoded and hashed within `attachments.max_image_time_ms`.
    TimedOut,
    /// A media type or image format vigil does not read (exact digests still matched).
    Unsupported,
    /// The body could not be turned into bytes (bad base64, refused or unreadable `uri`), or
    /// was not read: past the message's attachment count.
    Unresolved,
}

impl AttachmentOutcome {
    /// Every outcome.
    pub const ALL: [AttachmentOutcome; 7] = [
        AttachmentOutcome::Hashed,
        AttachmentOutcome::ExactOnly,
        AttachmentOutcome::TooLarge,
        AttachmentOutcome::Undecodable,
        AttachmentOutcome::TimedOut,
        AttachmentOutcome::Unsupported,
        AttachmentOutcome::Unresolved,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentOutcome::Hashed => "hashed",
            AttachmentOutcome::ExactOnly => "exact_only",
            AttachmentOutcome::TooLarge => "too_large",
            AttachmentOutcome::Undecodable => "undecodable",
            AttachmentOutcome::TimedOut => "timed_out",
            AttachmentOutcome::Unsupported => "unsupported",
            AttachmentOutcome::Unresolved => "unresolved",
        }
    }

    /// The outcome of an attachment that has a problem with `reason`.
    pub fn of_problem(reason: ReasonCode) -> AttachmentOutcome {
        match reason {
            ReasonCode::AttachmentTooLarge
            | ReasonCode::AttachmentBudgetExceeded
            | ReasonCode::ImageTooLarge => AttachmentOutcome::TooLarge,
            ReasonCode::VideoTooLong
            | ReasonCode::VideoTooManyFrames
            | ReasonCode::VideoTooLarge
            | ReasonCode::VideoMemoryLimit => AttachmentOutcome::TooLarge,
            ReasonCode::Undecodable
            | ReasonCode::DetectorPanic
            | ReasonCode::VideoDecodeFailed
            | ReasonCode::VideoWorkerCrashed => AttachmentOutcome::Undecodable,
            ReasonCode::ImageTimeout | ReasonCode::VideoTimeout | ReasonCode::VideoCpuLimit => {
                AttachmentOutcome::TimedOut
            }
            ReasonCode::UnsupportedMediaType | ReasonCode::UnsupportedImageFormat => {
                AttachmentOutcome::Unsupported
            }
            _ => AttachmentOutcome::Unresolved,
        }
    }
}

/// Time per stage and attachment outcomes of one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    stages: [Option<Duration>; TimedStep::ALL.len()],
    attachments: [u32; AttachmentOutcome::ALL.len()],
    fetched: u32,
    /// Attachments perceptually hashed (an animated image may be hashed twice: once here).
    hashed: Vec<String>,
    videos: Vec<VideoObservation>,
}

/// One video handed to a worker: how long it took and what came of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoObservation {
    /// Wall time from handing it over to its last hash (or failure).
    pub elapsed: Duration,
    /// Why nothing was hashed, if nothing was.
    pub failure: Option<ReasonCode>,
    /// Whether the worker died or was killed (and was replaced).
    pub worker_died: bool,
    /// Milliseconds of video decoded.
    pub decoded_ms: u64,
    /// Frames decoded, sampled or not.
    pub frames_decoded: u64,
    /// Frames hashed.
    pub frames_hashed: u64,
    /// The worker's peak resident memory.
    pub peak_rss_bytes: u64,
}

impl Trace {
    /// Runs `f`, adding its duration to `stage`.
    pub fn time<T>(&mut self, stage: TimedStep, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let value = f();
        self.add(stage, start.elapsed());
        value
    }

    /// Adds `spent` to `stage`.
    pub fn add(&mut self, stage: TimedStep, spent: Duration) {
        let slot = &mut self.stages[stage as usize];
        *slot = Some(slot.unwrap_or_default() + spent);
    }

    /// The stages that ran, with the time spent in each.
    pub fn stages(&self) -> impl Iterator<Item = (TimedStep, Duration)> + '_ {
        TimedStep::ALL
            .into_iter()
            .filter_map(|stage| Some((stage, self.stages[stage as usize]?)))
    }

    /// A detector decoded and perceptually hashed attachment `attachment_id` (as an image,
    /// a video, or both).
    pub fn hashed(&mut self, attachment_id: &str) {
        if !self.was_hashed(attachment_id) {
            self.hashed.push(attachment_id.to_string());
        }
    }

    /// Whether attachment `attachment_id` was perceptually hashed.
    pub fn was_hashed(&self, attachment_id: &str) -> bool {
        self.hashed.iter().any(|id| id == attachment_id)
    }

    /// Records a video handed to a worker.
    pub fn video(&mut self, observation: VideoObservation) {
        self.videos.push(observation);
    }

    /// The videos handed to workers.
    pub fn videos(&self) -> &[VideoObservation] {
        &self.videos
    }

    /// Counts an attachment's outcome.
    pub fn attachment(&mut self, outcome: AttachmentOutcome) {
        self.attachments[outcome as usize] += 1;
    }

    /// Counts an attachment read from a `file://` uri.
    pub fn fetched(&mut self) {
        self.fetched += 1;
    }

    /// Attachments by outcome (zero counts included).
    pub fn attachments(&self) -> impl Iterator<Item = (AttachmentOutcome, u32)> + '_ {
        AttachmentOutcome::ALL
            .into_iter()
            .map(|outcome| (outcome, self.attachments[outcome as usize]))
    }

    /// Attachments read from `file://` uris.
    pub fn fetched_count(&self) -> u32 {
        self.fetched
    }

    /// Adds `other`'s times and counts to this one.
    pub fn merge(&mut self, other: &Trace) {
        for (stage, spent) in other.stages() {
            self.add(stage, spent);
        }
        for (outcome, n) in other.attachments() {
            self.attachments[outcome as usize] += n;
        }
        self.fetched += other.fetched;
        for id in &other.hashed {
            self.hashed(id);
        }
        self.videos.extend_from_slice(&other.videos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_accumulate_and_only_those_that_ran_are_reported() {
        let mut trace = Trace::default();
        trace.add(TimedStep::Decode, Duration::from_millis(2));
        trace.add(TimedStep::Decode, Duration::from_millis(3));
        trace.add(TimedStep::Parse, Duration::ZERO);
        let stages: Vec<_> = trace.stages().collect();
        assert_eq!(
            stages,
            [
                (TimedStep::Parse, Duration::ZERO),
                (TimedStep::Decode, Duration::from_millis(5))
            ]
        );
        let mut other = Trace::default();
        other.add(TimedStep::Decode, Duration::from_millis(1));
        other.attachment(AttachmentOutcome::TooLarge);
        other.hashed("a");
        other.hashed("a");
        trace.merge(&other);
        assert_eq!(
            trace.stages().nth(1),
            Some((TimedStep::Decode, Duration::from_millis(6)))
        );
        assert!(trace.was_hashed("a") && !trace.was_hashed("b"));
        assert_eq!(trace.hashed, ["a"], "once, however often");
        assert_eq!(
            trace
                .attachments()
                .find(|(o, _)| *o == AttachmentOutcome::TooLarge),
            Some((AttachmentOutcome::TooLarge, 1))
        );
    }

    #[test]
    fn problem_reasons_map_to_outcomes() {
        let table = [
            (ReasonCode::AttachmentTooLarge, AttachmentOutcome::TooLarge),
            (ReasonCode::ImageTooLarge, AttachmentOutcome::TooLarge),
            (
                ReasonCode::AttachmentBudgetExceeded,
                AttachmentOutcome::TooLarge,
            ),
            (
                ReasonCode::TooManyAttachments,
                AttachmentOutcome::Unresolved,
            ),
            (ReasonCode::Undecodable, AttachmentOutcome::Undecodable),
            (ReasonCode::ImageTimeout, AttachmentOutcome::TimedOut),
            (
                ReasonCode::UnsupportedImageFormat,
                AttachmentOutcome::Unsupported,
            ),
            (
                ReasonCode::UnsupportedMediaType,
                AttachmentOutcome::Unsupported,
            ),
            (ReasonCode::InvalidBase64, AttachmentOutcome::Unresolved),
            (
                ReasonCode::AttachmentNotFound,
                AttachmentOutcome::Unresolved,
            ),
            (ReasonCode::UriNotAllowed, AttachmentOutcome::Unresolved),
            (ReasonCode::VideoTooLong, AttachmentOutcome::TooLarge),
            (ReasonCode::VideoMemoryLimit, AttachmentOutcome::TooLarge),
            (
                ReasonCode::VideoDecodeFailed,
                AttachmentOutcome::Undecodable,
            ),
            (
                ReasonCode::VideoWorkerCrashed,
                AttachmentOutcome::Undecodable,
            ),
            (ReasonCode::VideoTimeout, AttachmentOutcome::TimedOut),
            (ReasonCode::VideoCpuLimit, AttachmentOutcome::TimedOut),
            (
                ReasonCode::VideoWorkerUnavailable,
                AttachmentOutcome::Unresolved,
            ),
        ];
        for (reason, outcome) in table {
            assert_eq!(AttachmentOutcome::of_problem(reason), outcome, "{reason:?}");
        }
    }
}
