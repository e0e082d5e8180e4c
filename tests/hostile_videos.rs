//! Hostile and broken videos through the real worker (`vigil video-worker`, confined): each
//! ends within its limits with its reason code, and whatever a worker does — crash, hang,
//! print garbage, never start — costs that video alone, as a typed failure. Clips are made
//! here with Debian's `ffmpeg` and then damaged.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;

use common::{
    WORKER_MEMORY_BOUND_BYTES, corrupt_middle, encode_clip, huge_screen_gif, noise, ten_hour_claim,
    video_pool,
};
use vigil_core::ReasonCode;
use vigil_video::{Forms, PoolSettings, VideoConfig, VideoPool, WorkerCommand};

fn pool() -> VideoPool {
    video_pool(VideoConfig::default())
}

/// Encodes a clip of ffmpeg's test source (`size`, `rate`, `seconds`) into `dir`.
fn clip(dir: &Path, name: &str, size: &str, rate: u32, seconds: f64, extra: &[&str]) -> PathBuf {
    let source = format!("testsrc2=size={size}:rate={rate}");
    encode_clip(dir, name, &source, seconds, extra)
}

fn reason(pool: &VideoPool, video: &[u8]) -> ReasonCode {
    match pool.hash(video) {
        Ok(hashes) => panic!("expected a failure, got {} frames", hashes.frames.len()),
        Err(failure) => {
            assert!(!failure.detail.is_empty());
            failure.reason
        }
    }
}

#[test]
fn a_sound_clip_hashes_within_the_memory_bound_confined() {
    let dir = tempfile::tempdir().unwrap();
    let path = clip(
        dir.path(),
        "ok.mp4",
        "320x240",
        30,
        3.0,
        &["-pix_fmt", "yuv420p"],
    );
    let hashes = pool().hash(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(hashes.info.codec, "h264");
    assert_eq!((hashes.info.width, hashes.info.height), (320, 240));
    assert_eq!(hashes.frames_decoded, 90);
    let timestamps: Vec<f64> = hashes.frames.iter().map(|f| f.timestamp).collect();
    assert_eq!(timestamps, [0.0, 1.0, 2.0]);
    assert!(hashes.frames.iter().all(|f| f.quality == 100));
    assert!(hashes.stopped.is_none());
    assert!(hashes.seccomp, "seccomp works on this kernel");
    assert!(
        hashes.peak_rss_bytes > 0 && hashes.peak_rss_bytes < WORKER_MEMORY_BOUND_BYTES,
        "{} bytes",
        hashes.peak_rss_bytes
    );
}

#[test]
fn random_bytes_truncated_and_corrupt_files_are_decode_failures() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(clip(dir.path(), "c.mp4", "160x120", 25, 2.0, &[])).unwrap();
    let pool = pool();
    assert_eq!(
        reason(&pool, &noise(64 * 1024)),
        ReasonCode::VideoDecodeFailed
    );
    assert_eq!(reason(&pool, b""), ReasonCode::VideoDecodeFailed);
    // ffmpeg writes the index (moov) last: half a file has none.
    assert_eq!(
        reason(&pool, &good[..good.len() / 2]),
        ReasonCode::VideoDecodeFailed
    );
    // Corrupt packets: the decoder conceals or refuses, the worker ends either way.
    match pool.hash(&corrupt_middle(&good)) {
        Ok(hashes) => assert!(hashes.frames_decoded <= 50),
        Err(failure) => assert_eq!(failure.reason, ReasonCode::VideoDecodeFailed),
    }
}

#[test]
fn a_gif_declaring_a_huge_screen_is_refused_from_its_header() {
    // 65535 × 65535 × 4 bytes would be 17 GB.
    let failure = pool().hash(&huge_screen_gif()).unwrap_err();
    // Over FFmpeg's own bound (2^31 pixels), so no size survives the header.
    assert_eq!(failure.reason, ReasonCode::VideoDecodeFailed);
    assert!(failure.detail.contains("frame size"), "{}", failure.detail);
}

#[test]
fn limits_end_a_video_with_their_reason_and_keep_the_frames_before_them() {
    let dir = tempfile::tempdir().unwrap();
    // Many tiny frames: 16 × 16 at 1000 frames a second.
    let tiny = std::fs::read(clip(dir.path(), "t.mkv", "16x16", 1000, 4.0, &[])).unwrap();
    let hashes = video_pool(VideoConfig {
        max_frames: 1500,
        ..VideoConfig::default()
    })
    .hash(&tiny)
    .unwrap();
    assert_eq!(hashes.frames_decoded, 1501, "stops at the first frame over");
    assert_eq!(
        hashes.frames.len(),
        2,
        "frames 0 and 1000 hashed before the limit"
    );
    let stopped = hashes.stopped.unwrap();
    assert_eq!(stopped.reason, ReasonCode::VideoTooManyFrames);

    let clip = std::fs::read(clip(dir.path(), "l.mp4", "320x240", 30, 3.0, &[])).unwrap();
    let too_long = VideoConfig {
        max_duration_secs: 1,
        ..VideoConfig::default()
    };
    // The container declares 3 s: not decoded at all.
    assert_eq!(
        reason(&video_pool(too_long), &clip),
        ReasonCode::VideoTooLong
    );
    let too_large = VideoConfig {
        max_pixels_per_frame: 320 * 239,
        ..VideoConfig::default()
    };
    assert_eq!(
        reason(&video_pool(too_large), &clip),
        ReasonCode::VideoTooLarge
    );
}

#[test]
fn a_ten_hour_duration_claim_is_refused_without_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let clip = std::fs::read(clip(dir.path(), "d.mp4", "64x64", 10, 1.0, &[])).unwrap();
    assert_eq!(
        reason(&pool(), &ten_hour_claim(clip)),
        ReasonCode::VideoTooLong
    );
}

#[test]
fn the_wall_clock_kills_a_slow_worker() {
    let dir = tempfile::tempdir().unwrap();
    let clip = std::fs::read(clip(dir.path(), "w.mp4", "320x240", 30, 2.0, &[])).unwrap();
    let pool = video_pool(VideoConfig {
        max_time_ms: 1,
        ..VideoConfig::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(reason(&pool, &clip), ReasonCode::VideoTimeout);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_worker_that_crashes_prints_garbage_or_is_missing_costs_one_video() {
    let shell = |script: &str| {
        let command = WorkerCommand {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
        };
        VideoPool::new(
            command,
            PoolSettings::new(&VideoConfig::default(), 1, Forms::default()),
        )
    };
    let crashed = shell("cat >/dev/null; kill -SEGV $$")
        .hash(b"video")
        .unwrap_err();
    assert_eq!(crashed.reason, ReasonCode::VideoWorkerCrashed);
    assert!(crashed.detail.contains("signal 11"), "{}", crashed.detail);
    let garbage = shell("cat >/dev/null; echo '{\"event\":\"nonsense\"}'").hash(b"v");
    assert_eq!(garbage.unwrap_err().reason, ReasonCode::VideoWorkerCrashed);
    let silent = shell("cat >/dev/null; exit 3").hash(b"v").unwrap_err();
    assert_eq!(silent.reason, ReasonCode::VideoWorkerCrashed);
    assert!(silent.detail.contains("status 3"), "{}", silent.detail);
    let cpu = shell("cat >/dev/null; kill -XCPU $$")
        .hash(b"v")
        .unwrap_err();
    assert_eq!(cpu.reason, ReasonCode::VideoCpuLimit);
    let sandbox = shell("cat >/dev/null; kill -SYS $$")
        .hash(b"v")
        .unwrap_err();
    assert_eq!(sandbox.reason, ReasonCode::VideoWorkerCrashed);
    assert!(sandbox.detail.contains("sandbox"), "{}", sandbox.detail);
    // And the pool still serves a real worker afterwards.
    let dir = tempfile::tempdir().unwrap();
    let clip = std::fs::read(clip(dir.path(), "a.webm", "64x48", 10, 1.0, &[])).unwrap();
    assert_eq!(pool().hash(&clip).unwrap().frames.len(), 1);
}

#[test]
fn a_worker_without_enough_address_space_fails_with_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let clip = std::fs::read(clip(dir.path(), "m.mp4", "1280x720", 10, 1.0, &[])).unwrap();
    let failure = video_pool(VideoConfig {
        max_memory_bytes: 64 * 1024 * 1024,
        ..VideoConfig::default()
    })
    .hash(&clip)
    .unwrap_err();
    assert_eq!(failure.reason, ReasonCode::VideoMemoryLimit, "{failure:?}");
}

/// An MP4 box: size, kind, body.
fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = u32::try_from(8 + body.len())
        .unwrap()
        .to_be_bytes()
        .to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

/// A QuickTime file whose movie header is compressed (`moov` → `cmov` → `dcom` zlib +
/// `cmvd`), declaring `declared` bytes once inflated and holding `zeros` zero bytes deflated.
fn compressed_movie(declared: u32, zeros: usize) -> Vec<u8> {
    use std::io::Write;
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..zeros / chunk.len() {
        deflate.write_all(&chunk).unwrap();
    }
    let mut cmvd = declared.to_be_bytes().to_vec();
    cmvd.extend_from_slice(&deflate.finish().unwrap());
    let cmov = [mp4_box(b"dcom", b"zlib"), mp4_box(b"cmvd", &cmvd)].concat();
    let mut file = mp4_box(b"ftyp", b"qt  \0\0\0\0qt  ");
    file.extend_from_slice(&mp4_box(b"moov", &mp4_box(b"cmov", &cmov)));
    file
}

#[test]
fn a_zip_bomb_in_a_compressed_movie_box_ends_within_its_limits() {
    // 256 MiB of zeros deflated to a quarter of a megabyte, and the same box declaring 4 GiB
    // (what the demuxer allocates before inflating) with nothing behind it.
    let bombs = [
        (
            "inflates to 256 MiB",
            compressed_movie(256 << 20, 256 << 20),
            // Inflated (about a second), then nothing in it is a stream.
            ReasonCode::VideoDecodeFailed,
        ),
        (
            "declares 4 GiB",
            compressed_movie(u32::MAX - 16, 0),
            ReasonCode::VideoMemoryLimit,
        ),
    ];
    let pool = video_pool(VideoConfig {
        max_memory_bytes: 512 * 1024 * 1024,
        max_time_ms: 10_000,
        ..VideoConfig::default()
    });
    for (name, bomb, expected) in bombs {
        assert!(bomb.len() < 1 << 20, "{name}: {} bytes", bomb.len());
        let start = std::time::Instant::now();
        let failure = pool.hash(&bomb).unwrap_err();
        assert_eq!(failure.reason, expected, "{name}: {failure:?}");
        assert!(start.elapsed() < Duration::from_secs(10), "{name}");
    }
}

#[test]
fn a_playlist_naming_a_local_video_is_refused_by_the_confined_worker() {
    // FFmpeg's HLS demuxer would open and decode the file a playlist names; reading files is
    // something the sandbox allows, so only the worker's demuxer list stops it.
    let dir = tempfile::tempdir().unwrap();
    let listed = clip(dir.path(), "local.mp4", "64x48", 10, 1.0, &[]);
    let playlist = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{}\n#EXT-X-ENDLIST\n",
        listed.display()
    );
    let pool = pool();
    assert_eq!(
        reason(&pool, playlist.as_bytes()),
        ReasonCode::VideoDecodeFailed
    );
    let rendered = pool.render(playlist.as_bytes(), &[0]).unwrap_err();
    assert_eq!(rendered.reason, ReasonCode::VideoDecodeFailed);
    // The same file sent as itself is hashed: the refusal is the playlist's.
    assert_eq!(
        pool.hash(&std::fs::read(&listed).unwrap())
            .unwrap()
            .frames
            .len(),
        1
    );
}
