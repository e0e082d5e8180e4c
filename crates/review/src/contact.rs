//! Contact sheets of flagged videos: a few frames of each video attachment that matched —
//! every frame that matched an image list (`frame_ms`), the first and last frame of every
//! matched stretch (vPDQ segments) and, room permitting, their middles — rendered at ingest
//! by a confined video worker (`vigil_video::VideoPool::render`: the console never decodes a
//! video itself), blurred like images, and kept beside the flag. The video is never stored:
//! a reviewer sees why it matched without downloading it.

use std::collections::BTreeSet;

use vigil_core::{Match, MatchSubject};
use vigil_video::{Failure, VideoPool};

use crate::preview::{self, Preview};

/// Frames of one video on its contact sheet.
pub const MAX_FRAMES_PER_VIDEO: usize = 12;

/// One frame of a contact sheet.
#[derive(Clone, PartialEq, Eq)]
pub struct SheetFrame {
    /// The time the sheet asked for (a match's `frame_ms` or a segment's end), in ms.
    pub time_ms: u64,
    /// The time of the frame shown (the decoded frame nearest to it).
    pub frame_ms: u64,
    /// The frame as a small PNG, shown only when revealed.
    pub thumbnail: Vec<u8>,
    /// Its blurred mosaic.
    pub preview: Preview,
}

impl std::fmt::Debug for SheetFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetFrame")
            .field("time_ms", &self.time_ms)
            .field("frame_ms", &self.frame_ms)
            .field("thumbnail_bytes", &self.thumbnail.len())
            .field("preview", &self.preview)
            .finish()
    }
}

/// The contact sheet of one video attachment, or why it has none (or only part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    /// The attachment.
    pub attachment_id: String,
    /// The video's declared duration, when the worker read one.
    pub duration_ms: Option<u64>,
    /// The frames rendered, in time order.
    pub frames: Vec<SheetFrame>,
    /// Why frames are missing (a reason code and what happened), content-free.
    pub note: Option<String>,
    /// The reason code of a failed render, for counting.
    pub failure: Option<&'static str>,
}

/// The attachments of `matches` with video evidence (a matching frame or stretch), in order.
pub fn video_attachments(matches: &[Match]) -> Vec<&str> {
    let mut ids: Vec<&str> = matches
        .iter()
        .filter_map(|m| match &m.subject {
            MatchSubject::Attachment {
                attachment_id,
                frame_ms,
                video,
                ..
            } if frame_ms.is_some() || video.is_some() => Some(attachment_id.as_str()),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The times to show of `attachment_id`, in order, at most [`MAX_FRAMES_PER_VIDEO`]: the
/// frames that matched image lists first, then the starts, ends and middles of matched
/// stretches, as many as fit.
pub fn frame_times(matches: &[Match], attachment_id: &str) -> Vec<u64> {
    let mut frames = Vec::new();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    let mut middles = Vec::new();
    for m in matches {
        let MatchSubject::Attachment {
            attachment_id: id,
            frame_ms,
            video,
            ..
        } = &m.subject
        else {
            continue;
        };
        if id != attachment_id {
            continue;
        }
        frames.extend(*frame_ms);
        for s in video.iter().flat_map(|v| &v.segments) {
            starts.push(s.start_ms);
            ends.push(s.end_ms);
            middles.push(s.start_ms + (s.end_ms.saturating_sub(s.start_ms)) / 2);
        }
    }
    let mut chosen = BTreeSet::new();
    for time in [frames, starts, ends, middles].into_iter().flatten() {
        if chosen.len() == MAX_FRAMES_PER_VIDEO {
            break;
        }
        chosen.insert(time);
    }
    chosen.into_iter().collect()
}

/// What matched at `time_ms` of `attachment_id`: one line per match (content-free: lists,
/// entries, distances).
pub fn matched_at(matches: &[Match], attachment_id: &str, time_ms: u64) -> Vec<String> {
    matches
        .iter()
        .filter_map(|m| {
            let MatchSubject::Attachment {
                attachment_id: id,
                entry_id,
                distance,
                frame_ms,
                video,
                ..
            } = &m.subject
            else {
                return None;
            };
            if id != attachment_id {
                return None;
            }
            let list = format!("{} entry {entry_id}", m.list);
            if *frame_ms == Some(time_ms) {
                return Some(format!("{list}: this frame, distance {distance}"));
            }
            let within = video
                .as_ref()?
                .segments
                .iter()
                .any(|s| (s.start_ms..=s.end_ms).contains(&time_ms));
            within.then(|| format!("{list}: within a matched stretch (vPDQ)"))
        })
        .collect()
}

/// Where a video matched, on a line as long as the video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// The line's length: the video's duration when known, else its latest time shown or
    /// matched (at least 1 ms).
    pub span_ms: u64,
    /// The matched stretches (vPDQ segments), `(start_ms, end_ms)`, in order.
    pub segments: Vec<(u64, u64)>,
    /// The frames that matched an image list (`frame_ms`).
    pub frames: Vec<u64>,
}

impl Timeline {
    /// The timeline of `attachment_id`, whose duration is `duration_ms` if known and whose
    /// sheet shows frames at `shown_ms`.
    pub fn of(
        matches: &[Match],
        attachment_id: &str,
        duration_ms: Option<u64>,
        shown_ms: &[u64],
    ) -> Timeline {
        let mut segments = Vec::new();
        let mut frames = Vec::new();
        for m in matches {
            if let MatchSubject::Attachment {
                attachment_id: id,
                frame_ms,
                video,
                ..
            } = &m.subject
                && id == attachment_id
            {
                frames.extend(*frame_ms);
                segments.extend(
                    video
                        .iter()
                        .flat_map(|v| &v.segments)
                        .map(|s| (s.start_ms, s.end_ms)),
                );
            }
        }
        segments.sort_unstable();
        segments.dedup();
        frames.sort_unstable();
        frames.dedup();
        let latest = segments
            .iter()
            .map(|s| s.1)
            .chain(frames.iter().copied())
            .chain(shown_ms.iter().copied())
            .max()
            .unwrap_or(0);
        Timeline {
            span_ms: duration_ms.unwrap_or(latest).max(latest).max(1),
            segments,
            frames,
        }
    }

    /// Where `ms` lies on a line `width` long.
    pub fn x(&self, ms: u64, width: f64) -> f64 {
        (ms.min(self.span_ms) as f64 / self.span_ms as f64 * width * 10.0).round() / 10.0
    }
}

/// Renders the contact sheet of `video` (attachment `attachment_id` of a flag with
/// `matches`) through `pool`. A failure is a note on the sheet, never an error: the flag
/// is stored either way.
pub fn render(
    pool: Option<&VideoPool>,
    matches: &[Match],
    attachment_id: &str,
    video: &[u8],
) -> Sheet {
    let mut sheet = Sheet {
        attachment_id: attachment_id.to_string(),
        duration_ms: None,
        frames: Vec::new(),
        note: None,
        failure: None,
    };
    let Some(pool) = pool else {
        sheet.note =
            Some("no contact sheet: video decoding is off in this console (video.enabled)".into());
        return sheet;
    };
    let times = frame_times(matches, attachment_id);
    let rendered = match pool.render(video, &times) {
        Ok(rendered) => rendered,
        Err(failure) => {
            sheet.note = Some(note(&failure));
            sheet.failure = Some(failure.reason.as_str());
            return sheet;
        }
    };
    sheet.duration_ms = rendered
        .info
        .duration_s
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| (s * 1000.0).round() as u64);
    let mut shown = BTreeSet::new();
    for t in rendered.thumbnails {
        // Two times nearest the same frame show it once.
        if !shown.insert(t.frame_ms) {
            continue;
        }
        let Some((thumbnail, preview)) = preview::frame(t.width, t.height, t.rgb) else {
            continue;
        };
        sheet.frames.push(SheetFrame {
            time_ms: t.time_ms,
            frame_ms: t.frame_ms,
            thumbnail,
            preview,
        });
    }
    if let Some(stopped) = rendered.stopped {
        sheet.note = Some(note(&stopped));
        sheet.failure = Some(stopped.reason.as_str());
    } else if sheet.frames.is_empty() {
        sheet.note = Some("no contact sheet: no frame at the matched times".into());
    }
    sheet
}

fn note(failure: &Failure) -> String {
    format!(
        "no contact sheet: {} ({})",
        failure.reason.as_str(),
        failure.detail
    )
}

#[cfg(test)]
mod tests {
    use vigil_core::{DetectorKind, Severity, VideoEvidence, VideoSegment};

    use super::*;

    fn attachment(id: &str, frame_ms: Option<u64>, segments: &[(u64, u64)]) -> Match {
        Match {
            detector: DetectorKind::Hash(if frame_ms.is_some() {
                vigil_core::Algorithm::Pdq
            } else {
                vigil_core::Algorithm::Vpdq
            }),
            list: "videos".into(),
            list_version: "sha256:0".into(),
            category: "A".into(),
            severity: Severity::Critical,
            subject: MatchSubject::Attachment {
                attachment_id: id.into(),
                entry_id: "e-1".into(),
                distance: 3,
                quality: None,
                variant: None,
                frame_ms,
                video: (!segments.is_empty()).then(|| VideoEvidence {
                    query_frames: 10,
                    query_frames_matched: 5,
                    compared_frames: 10,
                    compared_frames_matched: 5,
                    segments: segments
                        .iter()
                        .map(|&(start_ms, end_ms)| VideoSegment {
                            start_ms,
                            end_ms,
                            listed_start_ms: start_ms,
                            listed_end_ms: end_ms,
                            frames: 2,
                        })
                        .collect(),
                }),
            },
        }
    }

    #[test]
    fn matched_frames_come_first_then_segment_ends_then_middles_within_the_cap() {
        let matches = [
            attachment("v1", Some(7_000), &[]),
            attachment("v1", None, &[(1_000, 3_000), (10_000, 10_000)]),
            attachment("v2", Some(5), &[]),
        ];
        assert_eq!(
            frame_times(&matches, "v1"),
            [1_000, 2_000, 3_000, 7_000, 10_000]
        );
        assert_eq!(frame_times(&matches, "v2"), [5]);
        assert_eq!(video_attachments(&matches), ["v1", "v2"]);

        // 20 stretches: the frame, 11 starts; no end or middle fits.
        let many: Vec<(u64, u64)> = (0..20).map(|i| (i * 10_000, i * 10_000 + 4_000)).collect();
        let matches = [
            attachment("v", Some(999_999), &many),
            attachment("v", None, &many),
        ];
        let times = frame_times(&matches, "v");
        assert_eq!(times.len(), MAX_FRAMES_PER_VIDEO);
        assert!(times.contains(&999_999));
        assert!(
            times.iter().all(|t| t % 10_000 == 0 || *t == 999_999),
            "{times:?}"
        );
    }

    #[test]
    fn each_frame_says_what_matched_there() {
        let matches = [
            attachment("v1", Some(2_000), &[]),
            attachment("v1", None, &[(1_000, 3_000)]),
        ];
        assert_eq!(
            matched_at(&matches, "v1", 2_000),
            [
                "videos entry e-1: this frame, distance 3",
                "videos entry e-1: within a matched stretch (vPDQ)"
            ]
        );
        assert!(matched_at(&matches, "v1", 5_000).is_empty());
        assert!(matched_at(&matches, "v2", 2_000).is_empty());
    }

    #[test]
    fn the_timeline_spans_the_duration_or_else_the_latest_time() {
        let matches = [
            attachment("v1", Some(9_000), &[]),
            attachment("v1", None, &[(1_000, 3_000), (1_000, 3_000)]),
        ];
        let known = Timeline::of(&matches, "v1", Some(20_000), &[]);
        assert_eq!(known.span_ms, 20_000);
        assert_eq!(known.segments, [(1_000, 3_000)]);
        assert_eq!(known.frames, [9_000]);
        assert_eq!(known.x(5_000, 1000.0), 250.0);
        assert_eq!(known.x(99_000, 1000.0), 1000.0, "clipped");
        // No duration (or one shorter than what matched): the latest time.
        assert_eq!(Timeline::of(&matches, "v1", None, &[]).span_ms, 9_000);
        assert_eq!(
            Timeline::of(&matches, "v1", Some(2_000), &[12_000]).span_ms,
            12_000
        );
        assert_eq!(Timeline::of(&[], "v1", None, &[]).span_ms, 1, "never zero");
    }

    #[test]
    fn without_a_pool_the_sheet_says_why() {
        let matches = [attachment("v1", Some(0), &[])];
        let sheet = render(None, &matches, "v1", b"video");
        assert!(sheet.frames.is_empty());
        assert!(sheet.note.unwrap().contains("video.enabled"));
        assert_eq!(sheet.failure, None);
    }

    #[test]
    fn a_failed_render_is_a_note_with_its_reason() {
        let pool = VideoPool::new(
            vigil_video::WorkerCommand::vigil("/nonexistent/vigil".into()),
            vigil_video::PoolSettings::new(
                &vigil_video::VideoConfig::default(),
                1,
                vigil_video::Forms::default(),
            ),
        );
        let matches = [attachment("v1", Some(0), &[])];
        let sheet = render(Some(&pool), &matches, "v1", b"video");
        assert_eq!(sheet.failure, Some("video_worker_unavailable"));
        assert!(
            sheet
                .note
                .unwrap()
                .starts_with("no contact sheet: video_worker_unavailable")
        );
    }
}
