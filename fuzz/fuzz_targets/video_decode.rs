//! The video worker's container and frame path over arbitrary bytes, in process:
//! `vigil_video_decode::hash_video`, the loop `serve` runs once the video is in a memory file
//! (FFmpeg's demuxer and decoder, the vPDQ sampling, RGB conversion, PDQ with the dihedral
//! and trimmed query forms), with tight limits (64 frames, 256 × 256 pixels, 8 s) and
//! `seconds_per_hash = 0`, so every decoded frame reaches the hasher.
//!
//! Never panics. The events are what the scanner's pool accepts: `info` before any frame,
//! then frames, then exactly one `done` or `failed` and nothing after; every event survives
//! the JSON-lines round trip the pool reads it through. The container is one the worker's
//! demuxer list allows (MP4/QuickTime/3GP, Matroska/WebM, GIF, APNG, WebP): never a playlist
//! that opens other files. A failure carries a reason code the worker itself can give
//! (`video_decode_failed`, `video_too_long`, `video_too_many_frames`, `video_too_large`,
//! `video_memory_limit`); `done` has at least one frame when it says it stopped early.
//! Frames are numbered 0, 1, 2, … (every frame is sampled), at most `max_frames` of them;
//! timestamps are finite, non-decreasing and within the duration limit; every hash (the
//! frame's and each query form's) is 64 lowercase hex digits, distinct, and every quality
//! ≤ 100. The stream's declared size is within the pixel limit and at least 5 × 5.
//!
//! Unlike the worker, this process has no `RLIMIT_AS`, no CPU limit and no seccomp filter:
//! what FFmpeg does wrong in C (a wild read, a huge allocation) shows here as an
//! AddressSanitizer report or libFuzzer's memory limits, where the worker would die of a
//! signal or its limits (`video_worker_crashed`, `video_memory_limit`). FFmpeg's own C code is
//! not instrumented: coverage guidance comes from vigil's side of the loop (and the
//! comparisons libFuzzer intercepts in libc), so mutations reach deep into a demuxer mostly
//! from the seeds in `fuzz/seeds/video_decode/`. As in the worker's sandbox, where an
//! `RLIMIT_AS` makes a large allocation fail, FFmpeg's allocator is capped (`av_max_alloc`,
//! 256 MiB per allocation): an out-of-memory failure must come back as `video_memory_limit`.
//!
//! `VIGIL_FUZZ_PRINT_EVENTS=1` prints each event line to stderr (what a worker would write).
#![no_main]

use std::fs::File;
use std::io::{Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use ffmpeg_next as ffmpeg;
use libfuzzer_sys::fuzz_target;
use vigil_core::ReasonCode;
use vigil_hash::Dihedral;
use vigil_video::protocol::{Event, Forms, Job, JobLimits, write_event};

const LIMITS: JobLimits = JobLimits {
    max_duration_secs: 8,
    max_frames: 64,
    max_pixels_per_frame: 256 * 256,
    // Only the worker's sandbox applies these two; here libFuzzer's limits stand in.
    cpu_secs: 10,
    memory_bytes: 1 << 30,
};

/// FFmpeg's names of the demuxers the worker allows.
const CONTAINERS: [&str; 5] = [
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "gif",
    "apng",
    "webp_pipe",
];

/// The largest single allocation FFmpeg may make (`av_max_alloc`).
const MAX_ALLOC_BYTES: usize = 256 << 20;

/// The smallest frame side PDQ hashes (`vigil_hash::MIN_DIMENSION`).
const MIN_SIDE: u32 = 5;

fn job(bytes: usize) -> Job {
    Job {
        bytes: bytes as u64,
        seconds_per_hash: 0.0,
        limits: LIMITS,
        forms: Forms {
            dihedral: true,
            trim: true,
        },
        render: None,
    }
}

/// One anonymous memory file, rewritten for each input, and the path FFmpeg opens it by
/// (as `serve` puts the video in one).
fn memory_file() -> &'static Mutex<(File, PathBuf)> {
    static FILE: OnceLock<Mutex<(File, PathBuf)>> = OnceLock::new();
    FILE.get_or_init(|| {
        // SAFETY: a NUL-terminated name; the descriptor returned is checked and then owned.
        let fd = unsafe { libc::memfd_create(c"vigil-fuzz-video".as_ptr(), 0) };
        assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        Mutex::new((file, path))
    })
}

fn init() {
    // SAFETY: sets a global of libavutil before any FFmpeg call.
    unsafe { ffmpeg::ffi::av_max_alloc(MAX_ALLOC_BYTES) };
}

fn print_events() -> bool {
    static PRINT: OnceLock<bool> = OnceLock::new();
    *PRINT.get_or_init(|| std::env::var_os("VIGIL_FUZZ_PRINT_EVENTS").is_some_and(|v| v == "1"))
}

fn is_hash(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A query form's name: an orientation, a box (`trimmed`, `inset`), or a box's orientation.
fn is_form(form: &str) -> bool {
    let oriented = |name: &str| Dihedral::ALL[1..].iter().any(|d| d.as_str() == name);
    match form.split_once('+') {
        Some((base, orientation)) => matches!(base, "trimmed" | "inset") && oriented(orientation),
        None => matches!(form, "trimmed" | "inset") || oriented(form),
    }
}

/// What the worker itself reports; the other `video_*` codes are the pool's.
fn worker_reason(reason: ReasonCode) -> bool {
    matches!(
        reason,
        ReasonCode::VideoDecodeFailed
            | ReasonCode::VideoTooLong
            | ReasonCode::VideoTooManyFrames
            | ReasonCode::VideoTooLarge
            | ReasonCode::VideoMemoryLimit
    )
}

/// Checks each event as it comes, in order.
#[derive(Default)]
struct Checker {
    info: bool,
    frames: u64,
    last_timestamp: f64,
    ended: bool,
}

impl Checker {
    fn take(&mut self, event: &Event) {
        assert!(!self.ended, "an event after done/failed: {event:?}");
        // The pool reads each line back with serde_json.
        let mut line = Vec::new();
        write_event(&mut line, event).expect("writes to a Vec");
        if print_events() {
            eprint!("{}", String::from_utf8_lossy(&line));
        }
        let read: Event = serde_json::from_slice(&line)
            .unwrap_or_else(|e| panic!("the pool cannot read {event:?} back: {e}"));
        assert_eq!(std::mem::discriminant(&read), std::mem::discriminant(event));
        match event {
            Event::Info(info) => {
                assert!(!self.info, "a second info event");
                self.info = true;
                // The worker's demuxers (`format_whitelist`): never a playlist that opens
                // other files (fuzz/regressions/video_decode/hls-playlist-reads-a-local-file).
                assert!(
                    CONTAINERS.contains(&info.container.as_str()),
                    "read as {}",
                    info.container
                );
                let pixels = u64::from(info.width) * u64::from(info.height);
                assert!(
                    pixels <= LIMITS.max_pixels_per_frame,
                    "{}x{} over the pixel limit",
                    info.width,
                    info.height
                );
                assert!(
                    info.width >= MIN_SIDE && info.height >= MIN_SIDE,
                    "{info:?}"
                );
                assert!(
                    info.frame_rate.is_finite() && info.frame_rate > 0.0,
                    "{info:?}"
                );
                if let Some(duration) = info.duration_s {
                    assert!(
                        duration > 0.0 && duration <= LIMITS.max_duration_secs as f64,
                        "declared duration {duration} decoded"
                    );
                }
            }
            Event::Thumbnail(_) => panic!("a thumbnail from a hashing job"),
            Event::Frame(frame) => {
                assert!(self.info, "a frame before the stream's info");
                assert_eq!(frame.frame, self.frames, "every frame is sampled, in order");
                self.frames += 1;
                assert!(
                    self.frames <= LIMITS.max_frames,
                    "frame {} over max_frames",
                    frame.frame
                );
                assert!(is_hash(&frame.hash), "hash {:?}", frame.hash);
                assert!(frame.quality <= 100, "quality {}", frame.quality);
                let t = frame.timestamp;
                assert!(
                    t.is_finite() && t >= self.last_timestamp,
                    "timestamp {t} after {}",
                    self.last_timestamp
                );
                assert!(
                    t <= LIMITS.max_duration_secs as f64,
                    "timestamp {t} past the limit"
                );
                self.last_timestamp = t;
                // Each distinct hash once (`vigil_hash::pdq_queries`); a name can repeat
                // (two trimmed boxes are both `trimmed`).
                for (i, variant) in frame.variants.iter().enumerate() {
                    assert!(is_hash(&variant.hash), "{variant:?}");
                    assert!(variant.quality <= 100, "{variant:?}");
                    assert!(is_form(&variant.form), "{variant:?}");
                    assert!(
                        variant.hash != frame.hash
                            && frame.variants[..i].iter().all(|v| v.hash != variant.hash),
                        "query hash {} twice",
                        variant.hash
                    );
                }
            }
            Event::Done(summary) => {
                self.ended = true;
                assert!(self.info, "done without the stream's info");
                assert_eq!(summary.frames_hashed, self.frames);
                assert!(summary.frames_hashed <= LIMITS.max_frames);
                assert!(summary.frames_decoded >= summary.frames_hashed);
                // A limit is found on the frame that crosses it, which is not hashed.
                assert!(
                    summary.frames_decoded <= summary.frames_hashed + 1,
                    "{summary:?}: every decoded frame is sampled"
                );
                if let Some(failure) = &summary.stopped {
                    assert!(
                        summary.frames_hashed > 0,
                        "stopped before any frame: {summary:?}"
                    );
                    assert!(worker_reason(failure.reason), "{failure:?}");
                }
            }
            Event::Failed(failure) => {
                self.ended = true;
                assert!(worker_reason(failure.reason), "{failure:?}");
                assert!(!failure.detail.is_empty());
            }
        }
    }
}

fuzz_target!(init: init(), |data: &[u8]| {
    let file = memory_file().lock().unwrap_or_else(|e| e.into_inner());
    let (mut memory, path) = (&file.0, &file.1);
    memory.set_len(0).expect("truncates the memory file");
    memory.rewind().expect("rewinds the memory file");
    memory.write_all(data).expect("writes the memory file");

    let mut checker = Checker::default();
    vigil_video_decode::hash_video(path, &job(data.len()), |event| {
        checker.take(event);
        Ok(())
    })
    .expect("emit never fails");
    assert!(checker.ended, "neither done nor failed");
});
