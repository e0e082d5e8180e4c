//! Video hashing speed (issue 23), on the clips `scripts/bench-video` puts in
//! `.cache/bench-video/` (Meta's sample videos, a generated 1280×720 and 1920×1080 clip). That
//! script runs this bench on one core (`taskset -c 0`: the worker, its start-up, the pool's
//! threads and FFmpeg's CLI share it) and times Meta's reference (PyPI `vpdq`) on the same
//! files and core in the same run; docs/benchmarks.md records the ratios.
//!
//! Per clip, at one hash per second (`1hz`) and every frame (`every_frame`):
//!
//! - `ffmpeg_threads1`: `ffmpeg -threads 1 -i FILE -f null -`, the baseline (a process start
//!   included, as in vigil's figure).
//! - `vigil_worker`: `VideoPool::hash` with the default query forms (8 dihedral, trimmed
//!   and inset): job and bytes over the pipe, the confined worker's decode and hashes, the
//!   JSON events parsed back. One worker start per video is charged: the pool starts the
//!   next worker while this one decodes, on the same core. Matching is not included (see
//!   `VIGIL_INDEX_BENCH=vpdq-100k cargo bench --bench index`).
//! - `vigil_worker_primary` (every frame only): the same without extra query forms, the
//!   reference's work alone.
//! - `inprocess`: the same decode loop and hashes in this process (no worker, no pipe).
//! - `inprocess_decode`: that loop hashing frame 0 only: what decoding costs vigil at one
//!   hash per second (non-reference frames skipped as there).
//!
//! What is measured is CPU time (user + system of this process and of its reaped children,
//! from `/proc/self/stat`, 10 ms ticks over iterations of 0.1–10 s), not wall time: on this
//! shared machine waiting for the core is noise, and the cost asked for is CPU. Each
//! measured `vigil_worker` iteration reaps exactly one worker (the one that served it,
//! started during the iteration before), so one start-up is charged per video.
//!
//! `VIGIL_VIDEO_BENCH=720p,1080p` selects clips by name; `VIGIL_VIDEO_BENCH_MODES=1hz`
//! one rate. Each worker's peak RSS is printed (`peak_rss`).
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, criterion_group, criterion_main};
use vigil_video::{Forms, Job, PoolSettings, VideoConfig, VideoPool, WorkerCommand};

fn clips() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/bench-video");
    let mut clips: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/bench-video", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    clips.sort();
    let wanted = std::env::var("VIGIL_VIDEO_BENCH").ok();
    clips.retain(|p| {
        wanted.as_deref().is_none_or(|w| {
            let stem = p.file_stem().unwrap().to_string_lossy();
            w.split(',').any(|name| stem == name)
        })
    });
    assert!(!clips.is_empty(), "no clips in {}", dir.display());
    clips
}

fn modes() -> Vec<(&'static str, f64)> {
    let wanted = std::env::var("VIGIL_VIDEO_BENCH_MODES").ok();
    [("1hz", 1.0), ("every_frame", 0.0)]
        .into_iter()
        .filter(|(name, _)| {
            wanted
                .as_deref()
                .is_none_or(|w| w.split(',').any(|m| m == *name))
        })
        .collect()
}

/// Whether this process may run on one CPU only (the figures mean one core).
fn one_core() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .is_some_and(|cpus| !cpus.contains([',', '-']))
}

/// CPU time of this process and its reaped children.
struct CpuTime;

fn cpu_now() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command's closing parenthesis, from field 3 (state): utime, stime,
    // cutime and cstime are fields 14 to 17, in USER_HZ (100 on Linux).
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11..15]
        .iter()
        .map(|f| f.parse::<u64>().unwrap())
        .sum();
    Duration::from_millis(ticks * 10)
}

static WALL: WallTime = WallTime;

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        cpu_now() - start
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

const FORMS: Forms = Forms {
    dihedral: true,
    trim: true,
};

fn settings(seconds_per_hash: f64) -> PoolSettings {
    let config = VideoConfig {
        seconds_per_hash,
        ..VideoConfig::default()
    };
    PoolSettings::new(&config, 1, FORMS)
}

fn ffmpeg_null(path: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-threads", "1", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn in_process(path: &Path, seconds_per_hash: f64) -> u64 {
    let settings = settings(seconds_per_hash);
    let job = Job {
        bytes: 0,
        seconds_per_hash,
        limits: settings.limits,
        forms: FORMS,
        render: None,
    };
    let mut frames = 0;
    vigil_video_decode::hash_video(path, &job, |event| {
        if let vigil_video::Event::Frame(_) = event {
            frames += 1;
        }
        Ok(())
    })
    .unwrap();
    frames
}

fn video(c: &mut Criterion<CpuTime>) {
    if !one_core() {
        eprintln!(
            "warning: not pinned to one CPU; scripts/bench-video runs this under taskset -c 0"
        );
    }
    let command = WorkerCommand::vigil(env!("CARGO_BIN_EXE_vigil").into());
    for (mode, seconds_per_hash) in modes() {
        let pool = VideoPool::new(command.clone(), settings(seconds_per_hash));
        for path in clips() {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            let first = pool.hash(&bytes).unwrap();
            assert!(first.stopped.is_none(), "{name}: {:?}", first.stopped);
            eprintln!(
                "{mode}/{name}: {}x{} {:.2} fps, {} frames decoded, {} hashed, \
                 peak_rss {:.1} MB, seccomp {}",
                first.info.width,
                first.info.height,
                first.info.frame_rate,
                first.frames_decoded,
                first.frames.len(),
                first.peak_rss_bytes as f64 / 1e6,
                first.seccomp
            );
            let mut group = c.benchmark_group(format!("{mode}/{name}"));
            group.sample_size(10);
            group.warm_up_time(Duration::from_secs(1));
            group.measurement_time(Duration::from_secs(8));
            group.bench_function("ffmpeg_threads1", |b| b.iter(|| ffmpeg_null(&path)));
            group.bench_function("vigil_worker", |b| {
                b.iter(|| pool.hash(&bytes).unwrap().frames.len())
            });
            // The breakdown: at every frame what the query forms cost, at one hash per
            // second what the worker process and the hashing cost.
            if seconds_per_hash == 0.0 {
                let primary = VideoPool::new(
                    command.clone(),
                    PoolSettings {
                        forms: Forms::default(),
                        ..settings(seconds_per_hash)
                    },
                );
                group.bench_function("vigil_worker_primary", |b| {
                    b.iter(|| primary.hash(&bytes).unwrap().frames.len())
                });
            } else {
                group.bench_function("inprocess", |b| {
                    b.iter(|| in_process(&path, seconds_per_hash))
                });
                group.bench_function("inprocess_decode", |b| b.iter(|| in_process(&path, 1e9)));
            }
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = video
}
criterion_main!(benches);
