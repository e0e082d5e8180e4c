//! Which containers the decoding loop opens: every kind vigil hashes (the `video_decode` fuzz
//! target's seeds, one tiny clip per container and codec, made by `scripts/fuzz-video-seeds`),
//! and never a playlist that names other files.

use std::path::{Path, PathBuf};

use vigil_core::ReasonCode;
use vigil_video::protocol::{Event, Forms, Job, JobLimits};
use vigil_video_decode::hash_video;

fn job() -> Job {
    Job {
        bytes: 0,
        seconds_per_hash: 0.0,
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

fn events(path: &Path) -> Vec<Event> {
    let mut events = Vec::new();
    hash_video(path, &job(), |event| {
        events.push(event.clone());
        Ok(())
    })
    .expect("collecting events never fails");
    events
}

fn seed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds/video_decode")
        .join(name)
}

#[test]
fn every_container_vigil_hashes_is_opened() {
    // (The animated WebP seed is left out: FFmpeg 5.1 reads only still WebP.)
    for (name, container) in [
        ("h264-bframes-32x32.mp4", "mov,mp4,m4a,3gp,3g2,mj2"),
        ("h264-audio-first-32x32.mp4", "mov,mp4,m4a,3gp,3g2,mj2"),
        ("h264-48x16.mov", "mov,mp4,m4a,3gp,3g2,mj2"),
        ("mjpeg-16x16.mov", "mov,mp4,m4a,3gp,3g2,mj2"),
        ("mpeg4-32x32.3gp", "mov,mp4,m4a,3gp,3g2,mj2"),
        ("h263-sqcif.3gp", "mov,mp4,m4a,3gp,3g2,mj2"),
        ("vp9-32x32.webm", "matroska,webm"),
        ("vp8-24x40.mkv", "matroska,webm"),
        ("anim-32x32.gif", "gif"),
        ("anim-24x24.apng", "apng"),
    ] {
        let events = events(&seed(name));
        assert!(
            matches!(events.first(), Some(Event::Info(info)) if info.container == container),
            "{name}: {events:?}"
        );
        assert!(
            matches!(events.last(), Some(Event::Done(s)) if s.frames_hashed > 0 && s.stopped.is_none()),
            "{name}: {events:?}"
        );
    }
}

/// FFmpeg's HLS demuxer opens the segments a playlist names, local files by absolute path
/// included, and would decode them as the video: the worker must refuse the playlist.
#[test]
fn a_playlist_naming_a_local_video_is_refused() {
    let clip = seed("h264-bframes-32x32.mp4")
        .canonicalize()
        .expect("the seed clip is there");
    let dir = std::env::temp_dir().join(format!("vigil-playlist-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // No extension, as the worker's memory file has none: FFmpeg probes the content.
    let playlist = dir.join("video");
    let hls = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{}\n#EXT-X-ENDLIST\n",
        clip.display()
    );
    std::fs::write(&playlist, hls).unwrap();
    let events = events(&playlist);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        matches!(events.as_slice(), [Event::Failed(f)] if f.reason == ReasonCode::VideoDecodeFailed),
        "{events:?}"
    );
}
