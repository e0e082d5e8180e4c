//! What the scanner and a decoding worker say to each other over the worker's stdin and
//! stdout: one [`Job`] line and the video's bytes in, [`Event`] lines out. JSON lines, so a
//! worker's output is readable when debugging. A hashing job gets nothing of the video's
//! content back but its frame hashes; a [render job](RenderJob) (the review console's
//! contact sheet) gets a few small thumbnails, never more than [`MAX_RENDER_FRAMES`] of at
//! most [`MAX_THUMBNAIL_SIDE`] pixels a side.

use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};
use vigil_core::ReasonCode;

/// One video to decode and hash. Followed on the worker's stdin by exactly `bytes` bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Length of the video that follows.
    pub bytes: u64,
    /// vPDQ's `seconds_per_hash` (0: every frame).
    pub seconds_per_hash: f64,
    /// What bounds the worker.
    pub limits: JobLimits,
    /// Which extra query forms of each sampled frame to hash.
    pub forms: Forms,
    /// When present, the worker renders thumbnails of these frames instead of hashing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render: Option<RenderJob>,
}

/// Most frames one render job may ask for.
pub const MAX_RENDER_FRAMES: usize = 16;
/// Largest side of a thumbnail, in pixels.
pub const MAX_THUMBNAIL_SIDE: u32 = 320;

/// Thumbnails of the frames at some times, for a person to look at (blurred first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderJob {
    /// The times, in milliseconds from the start as vPDQ counts them (frame number over
    /// frame rate): each gets the decoded frame nearest to it. At most
    /// [`MAX_RENDER_FRAMES`].
    pub times_ms: Vec<u64>,
    /// The thumbnails' longest side (at most [`MAX_THUMBNAIL_SIDE`]); smaller frames are not
    /// enlarged.
    pub max_side: u32,
}

impl RenderJob {
    /// Whether a worker may serve it: few enough frames, small enough thumbnails.
    pub fn within_bounds(&self) -> bool {
        self.times_ms.len() <= MAX_RENDER_FRAMES
            && (1..=MAX_THUMBNAIL_SIDE).contains(&self.max_side)
    }
}

/// The limits a worker applies to itself before it decodes anything.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobLimits {
    /// Longer videos are hashed up to this (declared longer: not decoded).
    pub max_duration_secs: u64,
    /// Decoded frames, sampled or not.
    pub max_frames: u64,
    /// Pixels of one frame.
    pub max_pixels_per_frame: u64,
    /// CPU seconds (`RLIMIT_CPU`): the kernel's own bound, beside the scanner's wall clock.
    pub cpu_secs: u64,
    /// Address space (`RLIMIT_AS`).
    pub memory_bytes: u64,
}

/// The query forms hashed besides each frame as decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forms {
    /// The 8 rotations and mirrorings (from the same DCT: nearly free).
    pub dihedral: bool,
    /// The content inside uniform borders (letterboxing, pillarboxing) and the sharp picture
    /// inside a blurred fill.
    pub trim: bool,
}

/// What a worker reports, one JSON line each: [`Event::Info`] once, [`Event::Frame`] per
/// hashed frame (a render job: [`Event::Thumbnail`] per frame rendered), then
/// [`Event::Done`] or [`Event::Failed`] last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The stream about to be decoded.
    Info(VideoInfo),
    /// One sampled frame.
    Frame(WireFrame),
    /// One rendered frame (render jobs only).
    Thumbnail(WireThumbnail),
    /// Decoding ended; `stopped` says why early, if it did.
    Done(Summary),
    /// Nothing could be decoded.
    Failed(Failure),
}

/// The video stream decoded: what `vigil hash` prints under `"video"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoInfo {
    /// FFmpeg's container name (`mov,mp4,m4a,3gp,3g2,mj2`, `gif`, …).
    pub container: String,
    /// FFmpeg's decoder name (`h264`, `vp9`, `gif`, …).
    pub codec: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second as the reference reads it (`avg_frame_rate`, else `r_frame_rate`).
    pub frame_rate: f64,
    /// The container's declared duration, if it declares one.
    pub duration_s: Option<f64>,
}

/// One hashed frame on the wire (hashes as hex).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireFrame {
    /// The decoder's output frame number, from 0.
    pub frame: u64,
    /// Seconds, as the reference computes them.
    pub timestamp: f64,
    /// PDQ of the frame as decoded: the vPDQ feature.
    pub hash: String,
    /// Its quality.
    pub quality: u8,
    /// The extra query forms: `rotate90`, `trimmed`, `trimmed+mirror`, …
    pub variants: Vec<WireVariant>,
}

/// One extra query form of a frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireVariant {
    /// Its name (as image matches name theirs).
    pub form: String,
    /// PDQ hash, hex.
    pub hash: String,
    /// Quality of the form it was computed from.
    pub quality: u8,
}

/// One rendered frame on the wire.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireThumbnail {
    /// The time asked for.
    pub time_ms: u64,
    /// The time of the frame rendered (the nearest decoded one).
    pub frame_ms: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels, RGB24 rows without padding, base64 (standard alphabet, padded).
    pub rgb: String,
}

impl std::fmt::Debug for WireThumbnail {
    /// Sizes only: the pixels are content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireThumbnail")
            .field("time_ms", &self.time_ms)
            .field("frame_ms", &self.frame_ms)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("rgb_chars", &self.rgb.len())
            .finish()
    }
}

/// How decoding ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Frames the decoder produced.
    pub frames_decoded: u64,
    /// Frames hashed (sampled); for a render job, the thumbnails rendered.
    pub frames_hashed: u64,
    /// Why decoding stopped before the end, if it did (a limit, or corrupt data after some
    /// frames); the frames before it stand.
    pub stopped: Option<Failure>,
    /// The worker's peak resident memory.
    pub peak_rss_bytes: u64,
    /// Whether the worker's seccomp filter was in force (its resource limits always are).
    pub seccomp: bool,
}

/// Why a video could not be (fully) decoded: a reason code and a description that names no
/// content (FFmpeg's error text, a limit and the value that crossed it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    /// The reason code.
    pub reason: ReasonCode,
    /// What happened.
    pub detail: String,
}

impl Failure {
    /// A failure for `reason`.
    pub fn new(reason: ReasonCode, detail: impl Into<String>) -> Failure {
        Failure {
            reason,
            detail: detail.into(),
        }
    }

    /// Whether the worker died or was killed for it (crashed, broke the protocol, ran out of
    /// wall clock or CPU time) rather than reporting the failure itself: it is replaced, and
    /// many of these in a row are a crash loop.
    pub fn worker_died(&self) -> bool {
        matches!(
            self.reason,
            ReasonCode::VideoTimeout | ReasonCode::VideoCpuLimit | ReasonCode::VideoWorkerCrashed
        )
    }
}

/// The longest job header line a worker reads (a header is ~300 bytes).
const MAX_HEADER_BYTES: u64 = 64 * 1024;

/// Sends a job: its header line, then the video.
pub fn write_job(mut out: impl Write, job: &Job, video: &[u8]) -> io::Result<()> {
    let mut line = serde_json::to_vec(job).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.write_all(video)?;
    out.flush()
}

/// Reads a job and its video, refusing a video longer than `max_bytes`.
pub fn read_job(mut input: impl BufRead, max_bytes: u64) -> io::Result<(Job, Vec<u8>)> {
    let mut line = Vec::new();
    (&mut input)
        .take(MAX_HEADER_BYTES)
        .read_until(b'\n', &mut line)?;
    let job: Job =
        serde_json::from_slice(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if job.bytes > max_bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a job of {} bytes; at most {max_bytes}", job.bytes),
        ));
    }
    let mut video = Vec::with_capacity(usize::try_from(job.bytes).unwrap_or(0));
    input.take(job.bytes).read_to_end(&mut video)?;
    if video.len() as u64 != job.bytes {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "the job announced {} bytes, {} came",
                job.bytes,
                video.len()
            ),
        ));
    }
    Ok((job, video))
}

/// Writes one event line.
pub fn write_event(mut out: impl Write, event: &Event) -> io::Result<()> {
    let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(bytes: u64) -> Job {
        Job {
            bytes,
            seconds_per_hash: 1.0,
            limits: JobLimits {
                max_duration_secs: 60,
                max_frames: 100,
                max_pixels_per_frame: 1 << 20,
                cpu_secs: 10,
                memory_bytes: 1 << 30,
            },
            forms: Forms::default(),
            render: None,
        }
    }

    #[test]
    fn a_job_round_trips_and_a_short_or_oversized_one_is_refused() {
        let mut wire = Vec::new();
        write_job(&mut wire, &job(5), b"video").unwrap();
        let (read, video) = read_job(&wire[..], 5).unwrap();
        assert_eq!((read, video.as_slice()), (job(5), &b"video"[..]));
        assert!(read_job(&wire[..], 4).is_err(), "over the cap");
        assert!(read_job(&wire[..wire.len() - 1], 5).is_err(), "truncated");
        assert!(
            read_job(&b"{\"bytes\":1}\nx"[..], 5).is_err(),
            "incomplete header"
        );
    }

    #[test]
    fn a_render_job_round_trips_and_is_bounded() {
        let render = RenderJob {
            times_ms: vec![0, 1500],
            max_side: MAX_THUMBNAIL_SIDE,
        };
        let mut wire = Vec::new();
        let sent = Job {
            render: Some(render.clone()),
            ..job(1)
        };
        write_job(&mut wire, &sent, b"v").unwrap();
        assert_eq!(read_job(&wire[..], 1).unwrap().0, sent);
        assert!(render.within_bounds());
        let too_many = RenderJob {
            times_ms: vec![0; MAX_RENDER_FRAMES + 1],
            ..render.clone()
        };
        assert!(!too_many.within_bounds());
        for max_side in [0, MAX_THUMBNAIL_SIDE + 1] {
            assert!(
                !RenderJob {
                    max_side,
                    ..render.clone()
                }
                .within_bounds()
            );
        }
        // A hashing job's line is as before: workers of the previous build read it.
        let mut plain = Vec::new();
        write_job(&mut plain, &job(1), b"v").unwrap();
        assert!(!String::from_utf8_lossy(&plain).contains("render"));
    }

    #[test]
    fn events_carry_reason_codes_by_wire_name() {
        let event = Event::Failed(Failure::new(ReasonCode::VideoDecodeFailed, "no stream"));
        let mut wire = Vec::new();
        write_event(&mut wire, &event).unwrap();
        let text = String::from_utf8(wire).unwrap();
        assert!(text.contains("\"event\":\"failed\""), "{text}");
        assert!(
            text.contains("\"reason\":\"video_decode_failed\""),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event);
    }
}
