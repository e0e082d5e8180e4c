//! The render job (the review console's contact sheets) through the real worker
//! (`vigil video-worker`, confined as for hashing): thumbnails of the frames nearest the
//! times asked, within their size; and hostile or broken videos, and stand-in workers that
//! lie about thumbnails, end with a reason code, never a panic. Clips are made here with
//! Debian's `ffmpeg`.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::path::{Path, PathBuf};

mod common;

use common::{
    WORKER_MEMORY_BOUND_BYTES, corrupt_middle, encode_clip, huge_screen_gif, noise, ten_hour_claim,
    video_pool,
};
use vigil_core::ReasonCode;
use vigil_video::protocol::{MAX_RENDER_FRAMES, MAX_THUMBNAIL_SIDE};
use vigil_video::{Forms, PoolSettings, VideoConfig, VideoPool, WorkerCommand};

fn pool() -> VideoPool {
    video_pool(VideoConfig::default())
}

fn clip(dir: &Path, name: &str, size: &str, rate: u32, seconds: f64) -> PathBuf {
    let source = format!("testsrc2=size={size}:rate={rate}");
    encode_clip(dir, name, &source, seconds, &["-pix_fmt", "yuv420p"])
}

fn reason(pool: &VideoPool, video: &[u8], times: &[u64]) -> ReasonCode {
    match pool.render(video, times) {
        Ok(rendered) => panic!(
            "expected a failure, got {} thumbnails",
            rendered.thumbnails.len()
        ),
        Err(failure) => {
            assert!(!failure.detail.is_empty());
            failure.reason
        }
    }
}

#[test]
fn the_frames_nearest_the_times_asked_come_back_small() {
    let dir = tempfile::tempdir().unwrap();
    let video = std::fs::read(clip(dir.path(), "hd.mp4", "1280x720", 25, 3.0)).unwrap();
    let started = std::time::Instant::now();
    let rendered = pool()
        .render(&video, &[2_490, 0, 1_010, 1_000, 99_000])
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(rendered.info.duration_s.map(|s| s.round()), Some(3.0));
    assert!(rendered.stopped.is_none());
    assert!(rendered.seccomp, "confined as for hashing");
    assert!(
        rendered.peak_rss_bytes > 0 && rendered.peak_rss_bytes < WORKER_MEMORY_BOUND_BYTES,
        "{} bytes",
        rendered.peak_rss_bytes
    );
    // In time order; 1010 ms is nearest the frame at 1000 ms (25 frames a second); 99 s is
    // past the end and gets none.
    let times: Vec<(u64, u64)> = rendered
        .thumbnails
        .iter()
        .map(|t| (t.time_ms, t.frame_ms))
        .collect();
    assert_eq!(
        times,
        [(0, 0), (1_000, 1_000), (1_010, 1_000), (2_490, 2_480)]
    );
    for t in &rendered.thumbnails {
        assert_eq!((t.width, t.height), (MAX_THUMBNAIL_SIDE, 180));
        assert_eq!(t.rgb.len(), 320 * 180 * 3);
    }
    // testsrc2 moves: different times are different pictures.
    assert_ne!(rendered.thumbnails[0].rgb, rendered.thumbnails[3].rgb);
    assert_eq!(rendered.thumbnails[1].rgb, rendered.thumbnails[2].rgb);
    eprintln!(
        "rendered 4 thumbnails of a 3 s 1280x720 clip in {elapsed:?}, worker peak RSS {} MiB",
        rendered.peak_rss_bytes >> 20
    );

    // A small clip is not enlarged; more times than a job takes are cut to the first 16.
    let small = std::fs::read(clip(dir.path(), "small.webm", "160x120", 10, 3.0)).unwrap();
    let many: Vec<u64> = (0..30).map(|i| i * 100).collect();
    let rendered = pool().render(&small, &many).unwrap();
    assert_eq!(rendered.thumbnails.len(), MAX_RENDER_FRAMES);
    assert!(
        rendered
            .thumbnails
            .iter()
            .all(|t| (t.width, t.height) == (160, 120))
    );

    // An animated GIF's frames (a GIF attachment's frame that matched an image list).
    let gif = encode_clip(
        dir.path(),
        "a.gif",
        "testsrc2=size=200x100:rate=10",
        2.0,
        &[],
    );
    let rendered = pool()
        .render(&std::fs::read(gif).unwrap(), &[0, 1_500])
        .unwrap();
    let frames: Vec<(u64, u32, u32)> = rendered
        .thumbnails
        .iter()
        .map(|t| (t.frame_ms, t.width, t.height))
        .collect();
    assert_eq!(frames, [(0, 200, 100), (1_500, 200, 100)]);
}

#[test]
fn hostile_and_broken_videos_are_reason_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(clip(dir.path(), "c.mp4", "160x120", 25, 2.0)).unwrap();
    let pool = pool();
    assert_eq!(
        reason(&pool, &noise(64 * 1024), &[0]),
        ReasonCode::VideoDecodeFailed
    );
    assert_eq!(reason(&pool, b"", &[0]), ReasonCode::VideoDecodeFailed);
    assert_eq!(
        reason(&pool, &good[..good.len() / 2], &[0]),
        ReasonCode::VideoDecodeFailed
    );
    match pool.render(&corrupt_middle(&good), &[0, 1_000, 1_900]) {
        Ok(rendered) => assert!(rendered.thumbnails.len() <= 3),
        Err(failure) => assert_eq!(failure.reason, ReasonCode::VideoDecodeFailed),
    }
    assert_eq!(
        reason(&pool, &huge_screen_gif(), &[0]),
        ReasonCode::VideoDecodeFailed
    );
    // A ten-hour duration claim is refused from the header, as for hashing.
    let long = std::fs::read(clip(dir.path(), "d.mp4", "64x64", 10, 1.0)).unwrap();
    assert_eq!(
        reason(&pool, &ten_hour_claim(long), &[0]),
        ReasonCode::VideoTooLong
    );
}

#[test]
fn the_limits_of_hashing_bound_rendering_too() {
    let dir = tempfile::tempdir().unwrap();
    let hd = std::fs::read(clip(dir.path(), "m.mp4", "1280x720", 10, 1.0)).unwrap();
    let too_large = VideoConfig {
        max_pixels_per_frame: 640 * 480,
        ..VideoConfig::default()
    };
    assert_eq!(
        reason(&video_pool(too_large), &hd, &[0]),
        ReasonCode::VideoTooLarge
    );
    let slow = VideoConfig {
        max_time_ms: 1,
        ..VideoConfig::default()
    };
    assert_eq!(
        reason(&video_pool(slow), &hd, &[0]),
        ReasonCode::VideoTimeout
    );
    let small_memory = VideoConfig {
        max_memory_bytes: 64 * 1024 * 1024,
        ..VideoConfig::default()
    };
    assert_eq!(
        reason(&video_pool(small_memory), &hd, &[0]),
        ReasonCode::VideoMemoryLimit
    );
    // Frames past video.max_frames: the ones before stand, with the reason.
    let few = VideoConfig {
        max_frames: 5,
        ..VideoConfig::default()
    };
    let rendered = video_pool(few).render(&hd, &[0, 900]).unwrap();
    assert_eq!(rendered.thumbnails.len(), 1);
    assert_eq!(
        rendered.stopped.map(|s| s.reason),
        Some(ReasonCode::VideoTooManyFrames)
    );
}

#[test]
fn a_worker_lying_about_thumbnails_costs_that_video_only() {
    let shell = |lines: &str| {
        let script = format!("cat >/dev/null; printf '%s\\n' {lines}");
        let command = WorkerCommand {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
        };
        VideoPool::new(
            command,
            PoolSettings::new(&VideoConfig::default(), 1, Forms::default()),
        )
    };
    let info = r#"'{"event":"info","container":"gif","codec":"gif","width":2,"height":1,"frame_rate":10.0,"duration_s":null}'"#;
    let thumb = |time_ms: u64, width: u32, rgb: &str| {
        format!(
            r#"'{{"event":"thumbnail","time_ms":{time_ms},"frame_ms":0,"width":{width},"height":1,"rgb":"{rgb}"}}'"#
        )
    };
    let done = r#"'{"event":"done","frames_decoded":1,"frames_hashed":1,"stopped":null,"peak_rss_bytes":1,"seccomp":true}'"#;
    // Six bytes: two RGB pixels.
    let honest = shell(&format!("{info} {} {done}", thumb(0, 2, "AAAAAAAA")))
        .render(b"v", &[0])
        .unwrap();
    assert_eq!(honest.thumbnails[0].rgb, [0; 6]);
    let lies = [
        ("not asked for", thumb(5, 2, "AAAAAAAA")),
        (
            "over its size",
            thumb(0, MAX_THUMBNAIL_SIDE + 1, "AAAAAAAA"),
        ),
        ("short of pixels", thumb(0, 2, "AAAA")),
        ("not base64", thumb(0, 2, "!!!!!!!!")),
    ];
    for (what, lie) in lies {
        let failure = shell(&format!("{info} {lie} {done}"))
            .render(b"v", &[0])
            .unwrap_err();
        assert_eq!(failure.reason, ReasonCode::VideoWorkerCrashed, "{what}");
    }
    let twice = shell(&format!(
        "{info} {} {} {done}",
        thumb(0, 2, "AAAAAAAA"),
        thumb(0, 2, "AAAAAAAA")
    ));
    assert_eq!(
        twice.render(b"v", &[0]).unwrap_err().reason,
        ReasonCode::VideoWorkerCrashed,
        "more thumbnails than times"
    );
    let crashed = shell("; kill -SEGV $$").render(b"v", &[0]).unwrap_err();
    assert_eq!(crashed.reason, ReasonCode::VideoWorkerCrashed);
}
