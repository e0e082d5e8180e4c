//! `vigil hash --algorithms vpdq` on real clips, end to end: the vPDQ hash and what was
//! decoded in one JSON line per file, a reason code and exit status 1 for what cannot be
//! decoded, and a list made from one clip's hash finding a re-encoded, rescaled copy of it
//! through `vigil match` but not another clip.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;

use std::path::{Path, PathBuf};

use common::{encode_clip, json_lines, run, vigil};

fn encode(dir: &Path, name: &str, source: &str, seconds: u32, extra: &[&str]) -> PathBuf {
    encode_clip(dir, name, source, f64::from(seconds), extra)
}

#[test]
fn hash_prints_vpdq_and_the_stream_and_names_what_fails() {
    let dir = tempfile::tempdir().unwrap();
    let clip = encode(
        dir.path(),
        "a.webm",
        "testsrc2=size=320x180:rate=25",
        3,
        &[],
    );
    let junk = dir.path().join("junk.mp4");
    std::fs::write(&junk, b"\x00\x00\x00\x18ftypmp42 not really").unwrap();
    let output = run(
        vigil(dir.path())
            .args([
                "hash",
                "--algorithms",
                "vpdq,sha256",
                "--seconds-per-hash",
                "0.5",
            ])
            .arg(&clip)
            .arg(&junk),
        b"",
    );
    assert_eq!(output.status.code(), Some(1), "one file failed");
    let lines = json_lines(&output.stdout);
    let vpdq = lines[0]["vpdq"].as_array().unwrap();
    // 25 frames/s, one hash per 12 frames (floor(0.5 × 25)), over 75 frames.
    let timestamps: Vec<&str> = vpdq
        .iter()
        .map(|f| f.as_str().unwrap().rsplit(',').next().unwrap())
        .collect();
    assert_eq!(
        timestamps,
        [
            "0.000", "0.480", "0.960", "1.440", "1.920", "2.400", "2.880"
        ]
    );
    let video = &lines[0]["video"];
    assert_eq!(video["codec"], "vp9");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(180))
    );
    assert_eq!(video["frames_decoded"], 75);
    assert_eq!(video["frames_hashed"], 7);
    assert!(lines[0]["sha256"].is_string() && lines[0].get("error").is_none());
    assert_eq!(lines[1]["error"], "video_decode_failed");
    assert!(
        lines[1]["sha256"].is_string(),
        "exact digests despite the failure"
    );
    assert!(lines[1].get("vpdq").is_none());
}

#[test]
fn a_list_made_from_a_clip_finds_its_reencoded_copy_and_not_another_clip() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = "testsrc2=size=640x360:rate=30";
    let original = encode(dir.path(), "o.mp4", pattern, 4, &["-crf", "18"]);
    // Another codec, a third of the pixels, heavier compression, another frame rate.
    let copy = encode(
        dir.path(),
        "c.webm",
        pattern,
        4,
        &["-vf", "scale=368:208,fps=24", "-b:v", "150k"],
    );
    let other = encode(
        dir.path(),
        "x.mp4",
        "mandelbrot=size=640x360:rate=30",
        4,
        &[],
    );
    let hash = |path: &Path| {
        let output = run(
            vigil(dir.path())
                .args(["hash", "--algorithms", "vpdq"])
                .arg(path),
            b"",
        );
        assert!(output.status.success());
        json_lines(&output.stdout).remove(0)
    };
    let listed = hash(&original);
    let list = dir.path().join("videos.hma");
    let json = serde_json::to_string(&listed["vpdq"]).unwrap();
    std::fs::write(&list, format!("vpdq {json}\n")).unwrap();
    let queries = format!("{}\n{}\n", hash(&copy), hash(&other));
    let output = run(
        vigil(dir.path())
            .args(["match", "--algorithm", "vpdq", "--list"])
            .arg(&list),
        queries.as_bytes(),
    );
    let results = json_lines(&output.stdout);
    let found = results[0]["matches"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{}", results[0]);
    assert!(found[0]["query_match_percent"].as_f64().unwrap() >= 80.0);
    assert!(found[0]["best_distance"].as_u64().unwrap() <= 31);
    assert_eq!(
        results[1]["matches"].as_array().unwrap().len(),
        0,
        "{}",
        results[1]
    );
}
