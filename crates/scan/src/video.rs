//! The video detector: videos and animated images, decoded and hashed in isolated worker
//! processes, matched against vPDQ lists (the whole video) and image PDQ lists (each sampled
//! frame).

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use vigil_core::{
    Algorithm, DetectorKind, MAX_VIDEO_SEGMENTS, Match, MatchSubject, VideoEvidence, VideoSegment,
};
use vigil_hash::{PdqHash, VpdqFeature, sniff_video};
use vigil_index::{NearIndex, VpdqIndex, VpdqMatch};
use vigil_video::{VideoHashes, VideoPool};

use crate::{Detector, Findings, HashLimits, Problem, ScanContext, TimedStep, VideoObservation};

/// What [`VideoDetector`] matches a video's frames against.
#[derive(Debug)]
pub struct VideoLists {
    /// Listed videos.
    pub vpdq: VpdqIndex,
    /// Listed images (PDQ), which a single frame may match.
    pub images: Option<Arc<NearIndex>>,
    /// Largest PDQ distance at which a frame matches a listed image (`match.pdq_max_distance`).
    pub pdq_max_distance: u32,
    /// Frames of lower quality are not matched against images (`match.pdq_min_quality`).
    pub pdq_min_quality: u8,
    /// Stricter thresholds of some lists and categories.
    pub hash_limits: HashLimits,
}

/// Hashes each video attachment (declared `video/*`, or recognised as a video container or
/// an animated GIF, PNG or WebP) in a worker of `pool`, then matches:
/// - the video's vPDQ (each sampled frame as the reference hashes it) against vPDQ lists, and
///   the same video in each extra query form (rotations and mirrorings, trimmed borders, the
///   picture inside a blurred fill) — one match per listed video, the best form;
/// - every sampled frame, in every form, against image PDQ lists — one match per listed
///   image, the closest frame, with its time.
///
/// A video the workers could not hash is a problem with its reason code (`video_timeout`,
/// `video_decode_failed`, …); one cut short (`video_too_long`, …) is matched on the frames
/// hashed and reported too. Its exact digests are matched by the exact detector regardless.
#[derive(Debug)]
pub struct VideoDetector {
    pool: VideoPool,
    lists: VideoLists,
}

impl VideoDetector {
    /// A detector hashing in `pool` and matching against `lists`.
    pub fn new(pool: VideoPool, lists: VideoLists) -> VideoDetector {
        VideoDetector { pool, lists }
    }

    fn match_videos(&self, attachment_id: &str, video: &VideoHashes, findings: &mut Findings) {
        if self.lists.vpdq.is_empty() {
            return;
        }
        let primary = video.vpdq();
        // The best match per listed video: the video as decoded first, then each form.
        let mut best: HashMap<(&str, String), (Option<String>, VpdqMatch<'_>)> = HashMap::new();
        let mut order = Vec::new();
        let forms = std::iter::once((None, primary.clone())).chain(
            form_names(video)
                .into_iter()
                .map(|form| (Some(form.clone()), in_form(video, &form)))
                .filter(|(_, features)| *features != primary),
        );
        for (form, features) in forms {
            for found in self.lists.vpdq.lookup(&features) {
                let key = (found.list.name.as_str(), found.entry.entry_id.to_string());
                match best.get_mut(&key) {
                    Some(kept) if !better(&found, &kept.1) => {}
                    Some(kept) => *kept = (form.clone(), found),
                    None => {
                        order.push(key.clone());
                        best.insert(key, (form.clone(), found));
                    }
                }
            }
        }
        for key in order {
            let (form, found) = &best[&key];
            let shares = (
                (found.query_frames_matched, found.query_frames),
                (found.compared_frames_matched, found.compared_frames),
            );
            let limits = &self.lists.hash_limits;
            if !limits.admits_video(&found.list.name, found.entry.category, shares.0, shares.1) {
                continue;
            }
            findings
                .matches
                .push(video_match(attachment_id, form.clone(), found));
        }
    }

    fn match_frames(&self, attachment_id: &str, video: &VideoHashes, findings: &mut Findings) {
        let Some(images) = &self.lists.images else {
            return;
        };
        let min_quality = self.lists.pdq_min_quality;
        // (frame, form, quality) of each query hash.
        let mut queries: Vec<(usize, Option<&str>, u8)> = Vec::new();
        let mut hashes: Vec<PdqHash> = Vec::new();
        for (i, frame) in video.frames.iter().enumerate() {
            let whole = (None, frame.hash, frame.quality);
            let forms = frame
                .variants
                .iter()
                .map(|v| (v.variant.as_deref(), v.hash, v.quality));
            for (form, hash, quality) in std::iter::once(whole).chain(forms) {
                if quality >= min_quality {
                    queries.push((i, form, quality));
                    hashes.push(hash);
                }
            }
        }
        if hashes.is_empty() {
            return;
        }
        // A hit per listed image is the closest query over all frames; on ties near_pdq
        // reports the first query, which is the earliest frame (frames are in time order).
        for hit in images.near_pdq(&hashes, self.lists.pdq_max_distance) {
            let (frame, form, quality) = queries[hit.query];
            let limits = &self.lists.hash_limits;
            if !limits.admits(&hit.list.name, hit.entry.category, hit.distance, quality) {
                continue;
            }
            findings.matches.push(Match {
                detector: DetectorKind::Hash(Algorithm::Pdq),
                list: hit.list.name.clone(),
                list_version: hit.list.version.clone(),
                category: hit.entry.category.to_string(),
                severity: hit.entry.severity,
                subject: MatchSubject::Attachment {
                    attachment_id: attachment_id.to_string(),
                    entry_id: hit.entry.entry_id.to_string(),
                    distance: hit.distance,
                    quality: Some(quality),
                    variant: form.map(str::to_string),
                    frame_ms: Some(millis(video.frames[frame].timestamp)),
                    video: None,
                },
            });
        }
    }
}

/// Whether `a` is a better match of the same listed video than `b`: a larger share of the
/// query matched (compared exactly, cross-multiplied), then more of the listed video, then
/// closer.
fn better(a: &VpdqMatch<'_>, b: &VpdqMatch<'_>) -> bool {
    let share = |m: &VpdqMatch<'_>, of: &VpdqMatch<'_>| m.query_frames_matched * of.query_frames;
    let rank = |m: &VpdqMatch<'_>, of| {
        (
            share(m, of),
            m.compared_frames_matched,
            Reverse(m.best_distance),
        )
    };
    rank(a, b) > rank(b, a)
}

/// Every extra query form some frame of `video` has, in order of first appearance.
fn form_names(video: &VideoHashes) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for frame in &video.frames {
        for name in frame.variants.iter().filter_map(|v| v.variant.as_ref()) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// The video's vPDQ with each frame in `form`. A frame without that form (no border to
/// trim, or a form whose hash repeated another's) stands as its nearest form: `trimmed+X`
/// falls back to `X`, and a form to the frame as decoded.
fn in_form(video: &VideoHashes, form: &str) -> Vec<VpdqFeature> {
    let orientation = form.split_once('+').map(|(_, o)| o);
    video
        .frames
        .iter()
        .map(|frame| {
            let find = |name: &str| {
                frame
                    .variants
                    .iter()
                    .find(|v| v.variant.as_deref() == Some(name))
            };
            let (hash, quality) = find(form)
                .or_else(|| orientation.and_then(find))
                .map_or((frame.hash, frame.quality), |v| (v.hash, v.quality));
            VpdqFeature {
                hash,
                quality,
                timestamp: frame.timestamp,
            }
        })
        .collect()
}

/// How much of the video was decoded: its frames at its frame rate, else (a rate FFmpeg
/// could not tell) up to its last hashed frame.
fn decoded_ms(video: &VideoHashes) -> u64 {
    let rate = video.info.frame_rate;
    if rate.is_finite() && rate > 0.0 {
        millis(video.frames_decoded as f64 / rate)
    } else {
        video.frames.last().map_or(0, |f| millis(f.timestamp))
    }
}

/// Seconds as whole milliseconds (vPDQ timestamps are never negative).
fn millis(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1000.0).round() as u64
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn video_match(attachment_id: &str, form: Option<String>, found: &VpdqMatch<'_>) -> Match {
    let segments = found
        .segments
        .iter()
        .take(MAX_VIDEO_SEGMENTS)
        .map(|s| VideoSegment {
            start_ms: millis(s.start_s),
            end_ms: millis(s.end_s),
            listed_start_ms: millis(s.listed_start_s),
            listed_end_ms: millis(s.listed_end_s),
            frames: count(s.frames),
        })
        .collect();
    Match {
        detector: DetectorKind::Hash(Algorithm::Vpdq),
        list: found.list.name.clone(),
        list_version: found.list.version.clone(),
        category: found.entry.category.to_string(),
        severity: found.entry.severity,
        subject: MatchSubject::Attachment {
            attachment_id: attachment_id.to_string(),
            entry_id: found.entry.entry_id.to_string(),
            distance: found.best_distance,
            quality: None,
            variant: form,
            frame_ms: None,
            video: Some(VideoEvidence {
                query_frames: count(found.query_frames),
                query_frames_matched: count(found.query_frames_matched),
                compared_frames: count(found.compared_frames),
                compared_frames_matched: count(found.compared_frames_matched),
                segments,
            }),
        },
    }
}

impl Detector for VideoDetector {
    fn name(&self) -> &'static str {
        "video"
    }

    fn detect(&self, context: &ScanContext<'_>, findings: &mut Findings) {
        for attachment in context.attachments {
            let declared = attachment.media_type.is_some_and(|m| m.is_video());
            if !declared && sniff_video(&attachment.bytes).is_none() {
                continue;
            }
            let start = Instant::now();
            let hashed = self.pool.hash(&attachment.bytes);
            let elapsed = start.elapsed();
            findings.trace.add(TimedStep::Video, elapsed);
            let video = match hashed {
                Ok(video) => video,
                Err(failure) => {
                    findings.trace.video(VideoObservation {
                        elapsed,
                        failure: Some(failure.reason),
                        worker_died: failure.worker_died(),
                        decoded_ms: 0,
                        frames_decoded: 0,
                        frames_hashed: 0,
                        peak_rss_bytes: 0,
                    });
                    findings.problems.push(Problem {
                        reason: failure.reason,
                        attachment_id: Some(attachment.attachment_id.clone()),
                        detail: failure.detail,
                    });
                    continue;
                }
            };
            findings.trace.hashed(&attachment.attachment_id);
            findings.trace.video(VideoObservation {
                elapsed,
                failure: None,
                worker_died: false,
                decoded_ms: decoded_ms(&video),
                frames_decoded: video.frames_decoded,
                frames_hashed: video.frames.len() as u64,
                peak_rss_bytes: video.peak_rss_bytes,
            });
            if let Some(stopped) = &video.stopped {
                findings.problems.push(Problem {
                    reason: stopped.reason,
                    attachment_id: Some(attachment.attachment_id.clone()),
                    detail: format!(
                        "{}; the {} frames hashed before it were matched",
                        stopped.detail,
                        video.frames.len()
                    ),
                });
            }
            let start = Instant::now();
            self.match_videos(&attachment.attachment_id, &video, findings);
            self.match_frames(&attachment.attachment_id, &video, findings);
            findings.trace.add(TimedStep::Match, start.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vigil_hash::PdqQuery;
    use vigil_video::{HashedFrame, VideoInfo};

    use super::*;

    fn hash(n: u64) -> PdqHash {
        PdqHash::from_limbs([n, 0, 0, 0])
    }

    fn frame(at: f64, base: u64, forms: &[&str]) -> HashedFrame {
        HashedFrame {
            frame: at as u64,
            timestamp: at,
            hash: hash(base),
            quality: 90,
            variants: forms
                .iter()
                .enumerate()
                .map(|(i, form)| PdqQuery {
                    variant: Some(form.to_string()),
                    hash: hash(base + 1 + i as u64),
                    quality: 80,
                })
                .collect(),
        }
    }

    fn video(frames: Vec<HashedFrame>) -> VideoHashes {
        VideoHashes {
            info: VideoInfo {
                container: "mov,mp4,m4a,3gp,3g2,mj2".into(),
                codec: "h264".into(),
                width: 64,
                height: 64,
                frame_rate: 25.0,
                duration_s: Some(2.0),
            },
            frames,
            frames_decoded: 50,
            stopped: None,
            peak_rss_bytes: 0,
            seccomp: true,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn a_form_a_frame_lacks_stands_as_its_nearest_form() {
        let v = video(vec![
            frame(0.0, 100, &["rotate90", "trimmed", "trimmed+rotate90"]),
            frame(1.0, 200, &["rotate90"]),
        ]);
        assert_eq!(form_names(&v), ["rotate90", "trimmed", "trimmed+rotate90"]);
        let hashes = |form: &str| -> Vec<(PdqHash, u8)> {
            in_form(&v, form)
                .iter()
                .map(|f| (f.hash, f.quality))
                .collect()
        };
        // Frame 1 has no border to trim: trimmed+rotate90 falls back to rotate90 ...
        assert_eq!(
            hashes("trimmed+rotate90"),
            [(hash(103), 80), (hash(201), 80)]
        );
        // ... and trimmed to the frame as decoded.
        assert_eq!(hashes("trimmed"), [(hash(102), 80), (hash(200), 90)]);
        let times: Vec<f64> = in_form(&v, "rotate90")
            .iter()
            .map(|f| f.timestamp)
            .collect();
        assert_eq!(times, [0.0, 1.0]);
    }

    #[test]
    fn decoded_time_comes_from_frames_and_rate_else_the_last_frame() {
        let mut v = video(vec![frame(0.0, 1, &[]), frame(1.0, 2, &[])]);
        assert_eq!(decoded_ms(&v), 2000);
        v.info.frame_rate = 0.0;
        assert_eq!(decoded_ms(&v), 1000);
        assert_eq!(millis(1.0005), 1001);
        assert_eq!(millis(-0.5), 0);
    }
}
