//! vPDQ against Meta's reference: every clip `scripts/test-videos` encodes (H.264 with
//! B-frames, VP9, HEVC, MOV, 3GP, odd and tiny sizes, one frame, variable frame rate,
//! rotation metadata, audio first, GIF, WebP, APNG, letterboxing, photographs) hashed by the
//! confined worker at 1 and 0 seconds per hash, frame by frame against PyPI `vpdq` built
//! against the same FFmpeg (`.cache/videos/oracle.jsonl`, written by `scripts/test`); and
//! Meta's own sample videos against the hashes Meta committed, which another FFmpeg build
//! made: there the bar is the oracle's own distances and match results.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::path::{Path, PathBuf};

use serde_json::Value;
use vigil_hash::PdqHash;
use vigil_video::{Forms, PoolSettings, VideoConfig, VideoPool, WorkerCommand};

/// A frame as both sides print it: number, hash, quality, timestamp.
type Frame = (u64, String, u8, f64);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pool(seconds_per_hash: f64) -> VideoPool {
    let config = VideoConfig {
        seconds_per_hash,
        ..VideoConfig::default()
    };
    let command = WorkerCommand::vigil(env!("CARGO_BIN_EXE_vigil").into());
    VideoPool::new(command, PoolSettings::new(&config, 2, Forms::default()))
}

fn oracle(name: &str) -> Vec<Value> {
    let path = root().join(".cache/videos").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run scripts/test-videos and scripts/vpdq-oracle.py as scripts/test does",
            path.display()
        )
    });
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Ours, or `None` where the worker reports a failure.
fn ours(path: &Path, seconds_per_hash: f64) -> Option<Vec<Frame>> {
    let video = std::fs::read(path).unwrap();
    let hashes = pool(seconds_per_hash).hash(&video).ok()?;
    assert!(
        hashes.stopped.is_none(),
        "{}: {:?}",
        path.display(),
        hashes.stopped
    );
    Some(
        hashes
            .frames
            .iter()
            .map(|f| (f.frame, f.hash.to_hex(), f.quality, f.timestamp))
            .collect(),
    )
}

fn theirs(line: &Value) -> Option<Vec<Frame>> {
    if !line["error"].is_null() {
        return None;
    }
    let frames = line["features"].as_array().unwrap();
    Some(
        frames
            .iter()
            .map(|f| {
                (
                    f["frame"].as_u64().unwrap(),
                    f["hex"].as_str().unwrap().to_string(),
                    f["quality"].as_u64().unwrap() as u8,
                    f["timestamp"].as_f64().unwrap(),
                )
            })
            .collect(),
    )
}

fn distance(a: &str, b: &str) -> u32 {
    PdqHash::from_hex(a)
        .unwrap()
        .distance(&PdqHash::from_hex(b).unwrap())
}

/// Frames compared, frames identical, and every difference (file, frame, bits).
#[derive(Default)]
struct Tally {
    frames: usize,
    identical: usize,
    differences: Vec<(String, u64, u32)>,
}

impl Tally {
    fn compare(&mut self, file: &str, ours: &[Frame], theirs: &[Frame]) {
        let numbers = |frames: &[Frame]| frames.iter().map(|f| f.0).collect::<Vec<_>>();
        assert_eq!(numbers(ours), numbers(theirs), "{file}: frames sampled");
        for (a, b) in ours.iter().zip(theirs) {
            assert_eq!(a.3, b.3, "{file} frame {}: timestamp", a.0);
            self.frames += 1;
            if a == b {
                self.identical += 1;
            } else {
                self.differences
                    .push((file.into(), a.0, distance(&a.1, &b.1)));
            }
        }
    }

    /// Every frame identical: hash, quality, timestamp (the differences are printed first).
    fn check(&self) {
        eprintln!(
            "vPDQ frames identical to the reference: {} / {}; differing: {:?}",
            self.identical, self.frames, self.differences
        );
        assert!(self.frames > 0);
        assert_eq!(self.identical, self.frames);
    }
}

#[test]
fn every_generated_clip_hashes_as_the_reference_does() {
    let mut tally = Tally::default();
    let mut failures = 0;
    for line in oracle("oracle.jsonl") {
        let file = line["file"].as_str().unwrap();
        let seconds = line["seconds_per_hash"].as_f64().unwrap();
        let path = root().join(".cache/videos").join(file);
        match (ours(&path, seconds), theirs(&line)) {
            (Some(ours), Some(theirs)) => tally.compare(file, &ours, &theirs),
            (None, None) => failures += 1,
            (ours, theirs) => panic!(
                "{file} at {seconds}: ours {} the reference {}",
                if ours.is_some() { "hashed," } else { "failed," },
                if theirs.is_some() { "hashed" } else { "failed" }
            ),
        }
    }
    // The 4×4 clip (under PDQ's 5 pixels) and the animated WebP (FFmpeg 5.1 reads no size
    // from it) fail on both sides, at both rates.
    assert_eq!(failures, 4);
    tally.check();
}

/// Meta's committed per-frame hashes (`frame,quality,hex,timestamp`).
fn meta(file: &str) -> Vec<Frame> {
    let name = file.replace(".mp4", ".txt");
    let text = std::fs::read_to_string(root().join("tests/golden/vpdq-meta").join(name)).unwrap();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[2].to_string(),
                f[1].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

/// python-threatexchange's brute matcher: (query %, compared %).
fn brute(query: &[Frame], compared: &[Frame]) -> (f64, f64) {
    let kept = |frames: &[Frame]| {
        let mut seen = std::collections::HashSet::new();
        frames
            .iter()
            .filter(|f| seen.insert(f.1.clone()))
            .filter(|f| f.2 >= 50)
            .map(|f| f.1.clone())
            .collect::<Vec<_>>()
    };
    let (q, c) = (kept(query), kept(compared));
    let share = |a: &[String], b: &[String]| {
        let hits = a
            .iter()
            .filter(|x| b.iter().any(|y| distance(x, y) <= 31))
            .count();
        hits as f64 * 100.0 / a.len() as f64
    };
    (share(&q, &c), share(&c, &q))
}

#[test]
fn meta_sample_videos_stand_to_metas_hashes_as_the_reference_does() {
    let mut tally = Tally::default();
    let mut compared = 0;
    for line in oracle("oracle-meta.jsonl") {
        let file = line["file"].as_str().unwrap();
        let path = root().join("tests/fixtures/videos").join(file);
        let Some(reference) = theirs(&line) else {
            assert!(
                ours(&path, 0.0).is_none(),
                "{file}: the reference fails on it"
            );
            continue;
        };
        let ours = ours(&path, 0.0).unwrap();
        tally.compare(file, &ours, &reference);
        let meta = meta(file);
        let distances = |frames: &[Frame]| -> Vec<u32> {
            frames
                .iter()
                .zip(&meta)
                .map(|(a, b)| distance(&a.1, &b.1))
                .collect()
        };
        let (d_ours, d_ref) = (distances(&ours), distances(&reference));
        let same = d_ours.iter().zip(&d_ref).filter(|(a, b)| a == b).count();
        let mean = |d: &[u32]| d.iter().sum::<u32>() as f64 / d.len() as f64;
        eprintln!(
            "{file}: {} frames; distance to Meta's hashes mean {:.2} (reference {:.2}), \
             max {} (reference {}), the same as the reference's for {same}",
            meta.len(),
            mean(&d_ours),
            mean(&d_ref),
            d_ours.iter().max().unwrap(),
            d_ref.iter().max().unwrap(),
        );
        assert_eq!(ours.len(), meta.len(), "{file}: every frame");
        assert_eq!(same, d_ours.len(), "{file}: distances to Meta's hashes");
        assert_eq!(
            brute(&ours, &meta),
            brute(&reference, &meta),
            "{file}: match"
        );
        assert_eq!(brute(&ours, &meta), (100.0, 100.0), "{file}: match");
        compared += 1;
    }
    assert_eq!(compared, 3);
    tally.check();
}
