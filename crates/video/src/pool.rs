//! The scanner's side of video decoding: at most `workers` worker processes at once, one
//! per video, each bounded by the wall clock here and by the limits it sets on itself.
//!
//! A worker serves one video and exits, so a video never shares a process with another
//! user's, a worker a hostile file corrupted is gone before the next video, and its CPU
//! limit is per video. Whatever happens to a worker (a crash, a hang, a limit, garbage on
//! its stdout) costs that video only: the caller gets a [`Failure`] with a reason code.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use vigil_core::ReasonCode;
use vigil_hash::{PdqHash, PdqQuery, VpdqFeature};

use crate::config::VideoConfig;
use base64::Engine as _;

use crate::protocol::{
    Event, Failure, Forms, Job, JobLimits, MAX_RENDER_FRAMES, MAX_THUMBNAIL_SIDE, RenderJob,
    VideoInfo, WireFrame, WireThumbnail, write_job,
};

/// The program (and arguments) that runs one worker: `vigil video-worker` by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl WorkerCommand {
    /// `program video-worker`.
    pub fn vigil(program: PathBuf) -> WorkerCommand {
        WorkerCommand {
            program,
            args: vec!["video-worker".into()],
        }
    }
}

/// One sampled frame's hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct HashedFrame {
    /// The decoder's output frame number, from 0.
    pub frame: u64,
    /// Seconds from the start, as vPDQ computes them.
    pub timestamp: f64,
    /// PDQ of the frame as decoded (the vPDQ feature).
    pub hash: PdqHash,
    /// Its PDQ quality.
    pub quality: u8,
    /// The extra query forms (rotations, trimmed).
    pub variants: Vec<PdqQuery>,
}

/// A rendered frame: RGB24 pixels, rows without padding.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// The time asked for, in milliseconds.
    pub time_ms: u64,
    /// The time of the frame rendered (the decoded frame nearest to it).
    pub frame_ms: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 3` bytes.
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for Thumbnail {
    /// Sizes only: the pixels are content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbnail")
            .field("time_ms", &self.time_ms)
            .field("frame_ms", &self.frame_ms)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// What a render job gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The stream decoded (its declared duration, when it has one).
    pub info: VideoInfo,
    /// A thumbnail per time asked for that has a frame, in the order asked.
    pub thumbnails: Vec<Thumbnail>,
    /// Why decoding stopped before every time was reached, if it did.
    pub stopped: Option<Failure>,
    /// The worker's peak resident memory.
    pub peak_rss_bytes: u64,
    /// Whether the worker's seccomp filter was in force.
    pub seccomp: bool,
}

/// A video's hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoHashes {
    /// The stream decoded.
    pub info: VideoInfo,
    /// The sampled frames, in order.
    pub frames: Vec<HashedFrame>,
    /// Frames decoded, sampled or not.
    pub frames_decoded: u64,
    /// Why decoding stopped early, if it did: the frames before it stand.
    pub stopped: Option<Failure>,
    /// The worker's peak resident memory.
    pub peak_rss_bytes: u64,
    /// Whether the worker's seccomp filter was in force.
    pub seccomp: bool,
    /// Wall time from handing the video over to the last hash.
    pub elapsed: Duration,
}

impl VideoHashes {
    /// The vPDQ hash: each sampled frame's PDQ, quality and timestamp.
    pub fn vpdq(&self) -> Vec<VpdqFeature> {
        self.frames
            .iter()
            .map(|f| VpdqFeature {
                hash: f.hash,
                quality: f.quality,
                timestamp: f.timestamp,
            })
            .collect()
    }
}

/// What a pool does with each video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolSettings {
    /// Videos decoded at once.
    pub workers: usize,
    /// vPDQ's `seconds_per_hash`.
    pub seconds_per_hash: f64,
    /// The limits each worker sets on itself.
    pub limits: JobLimits,
    /// Wall time per video.
    pub max_time: Duration,
    /// Extra query forms.
    pub forms: Forms,
}

impl PoolSettings {
    /// The settings `[video]` asks for, with `workers` resolved to a number and the query
    /// forms the image matching settings ask for.
    pub fn new(config: &VideoConfig, workers: usize, forms: Forms) -> PoolSettings {
        PoolSettings {
            workers: workers.max(1),
            seconds_per_hash: config.seconds_per_hash,
            limits: JobLimits {
                max_duration_secs: config.max_duration_secs,
                max_frames: config.max_frames,
                max_pixels_per_frame: config.max_pixels_per_frame,
                // The kernel's bound sits one second past the wall clock's, so a busy
                // worker meets the wall clock first and an idle-looking one still ends.
                cpu_secs: config.max_time_ms.div_ceil(1000) + 1,
                memory_bytes: config.max_memory_bytes,
            },
            max_time: Duration::from_millis(config.max_time_ms),
            forms,
        }
    }
}

/// Decodes videos in worker processes, at most `workers` at once.
///
/// A worker takes 50–75 ms to load (FFmpeg's shared libraries), so the pool starts the
/// next one as it hands a video over: it loads while the video decodes, and waits on its
/// stdin for the next video. At most `workers` wait; dropping the pool ends them.
#[derive(Debug)]
pub struct VideoPool {
    command: WorkerCommand,
    settings: PoolSettings,
    busy: Mutex<usize>,
    freed: Condvar,
    ready: Mutex<Vec<Child>>,
}

/// The longest event line a worker may send (a frame with every variant is ~2 KB).
const MAX_EVENT_BYTES: u64 = 64 * 1024;
/// The longest line of a render job: the largest thumbnail in base64, and its fields.
const MAX_THUMBNAIL_EVENT_BYTES: u64 =
    (MAX_THUMBNAIL_SIDE as u64 * MAX_THUMBNAIL_SIDE as u64 * 3).div_ceil(3) * 4 + 1024;

/// How long a worker that reported its last event has to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

impl VideoPool {
    /// A pool starting workers with `command`.
    pub fn new(command: WorkerCommand, settings: PoolSettings) -> VideoPool {
        VideoPool {
            command,
            settings,
            busy: Mutex::new(0),
            freed: Condvar::new(),
            ready: Mutex::new(Vec::new()),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    /// Decodes and hashes one video in a worker of its own, waiting for a free slot first.
    pub fn hash(&self, video: &[u8]) -> Result<VideoHashes, Failure> {
        let started = Instant::now();
        let job = self.job(video, None);
        let collected = Collected {
            max_frames: self.settings.limits.max_frames,
            ..Collected::default()
        };
        let mut hashes = self.run(video, &job, MAX_EVENT_BYTES, collected)?;
        hashes.elapsed = started.elapsed();
        Ok(hashes)
    }

    /// Renders thumbnails (longest side at most [`MAX_THUMBNAIL_SIDE`]) of the frames
    /// nearest `times_ms` (vPDQ's times: frame number over frame rate, so a flag's
    /// `frame_ms` and segment times name the frames that matched), in a worker of its own
    /// under the same limits and wall clock as hashing. Times past the first
    /// [`MAX_RENDER_FRAMES`] are ignored; a time past the last frame gets no thumbnail.
    pub fn render(&self, video: &[u8], times_ms: &[u64]) -> Result<Rendered, Failure> {
        let render = RenderJob {
            times_ms: times_ms.iter().copied().take(MAX_RENDER_FRAMES).collect(),
            max_side: MAX_THUMBNAIL_SIDE,
        };
        let job = self.job(video, Some(render.clone()));
        self.run(
            video,
            &job,
            MAX_THUMBNAIL_EVENT_BYTES,
            RenderCollected {
                job: render,
                info: None,
                thumbnails: Vec::new(),
            },
        )
    }

    fn job(&self, video: &[u8], render: Option<RenderJob>) -> Job {
        Job {
            bytes: video.len() as u64,
            seconds_per_hash: self.settings.seconds_per_hash,
            limits: self.settings.limits,
            forms: self.settings.forms,
            render,
        }
    }

    /// Runs `job` in a worker of its own, waiting for a free slot first.
    fn run<C: Collect>(
        &self,
        video: &[u8],
        job: &Job,
        max_line: u64,
        collector: C,
    ) -> Result<C::Output, Failure> {
        let _slot = self.acquire();
        let started = Instant::now();
        let mut child = self.take_ready()?;
        self.start_next();
        let outcome = self.converse(&mut child, job, video, started, max_line, collector);
        let killed = matches!(outcome, Err(Ended::Failed(_)));
        let status = finish(&mut child, killed);
        outcome.map_err(|failure| match failure {
            Ended::Failed(failure) => failure,
            Ended::Cut => judge_exit(status),
        })
    }

    fn acquire(&self) -> Slot<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        while *busy >= self.settings.workers {
            busy = self.freed.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        *busy += 1;
        Slot(self)
    }

    /// A started worker still waiting for its video, else a new one.
    fn take_ready(&self) -> Result<Child, Failure> {
        let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut child) = ready.pop() {
            if matches!(child.try_wait(), Ok(None)) {
                return Ok(child);
            }
            let _ = child.wait();
        }
        drop(ready);
        self.spawn()
    }

    /// Starts a worker for a later video, unless enough are waiting (a failure to start
    /// one shows when a video needs it).
    fn start_next(&self) {
        let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        if ready.len() < self.settings.workers
            && let Ok(child) = self.spawn()
        {
            ready.push(child);
        }
    }

    fn spawn(&self) -> Result<Child, Failure> {
        Command::new(&self.command.program)
            .args(&self.command.args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                Failure::new(
                    ReasonCode::VideoWorkerUnavailable,
                    format!("cannot start the video worker: {}", e.kind()),
                )
            })
    }

    /// Sends the job and reads events until the last, within the wall clock.
    fn converse<C: Collect>(
        &self,
        child: &mut Child,
        job: &Job,
        video: &[u8],
        started: Instant,
        max_line: u64,
        mut collector: C,
    ) -> Result<C::Output, Ended> {
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Ended::Cut);
        };
        let deadline = started + self.settings.max_time;
        std::thread::scope(|scope| {
            let (events, received) = mpsc::channel();
            // A worker that dies early breaks the pipe: its exit status says why.
            scope.spawn(move || write_job(stdin, job, video));
            scope.spawn(move || read_events(stdout, max_line, &events));
            let ended = loop {
                let wait = deadline.saturating_duration_since(Instant::now());
                match received.recv_timeout(wait) {
                    Ok(Some(event)) => match collector.take(event) {
                        Ok(None) => continue,
                        Ok(Some(output)) => break Ok(output),
                        Err(failure) => break Err(Ended::Failed(failure)),
                    },
                    Ok(None) => break Err(Ended::Failed(violation("a line that is not an event"))),
                    Err(RecvTimeoutError::Disconnected) => break Err(Ended::Cut),
                    Err(RecvTimeoutError::Timeout) => {
                        break Err(Ended::Failed(Failure::new(
                            ReasonCode::VideoTimeout,
                            format!(
                                "not done within video.max_time_ms ({} ms)",
                                self.settings.max_time.as_millis()
                            ),
                        )));
                    }
                }
            };
            // Unblocks both threads: the pipes close with the process. A worker whose output
            // merely ended is left to exit, so its status says why.
            if let Err(Ended::Failed(_)) = ended {
                let _ = child.kill();
            }
            ended
        })
    }
}

impl Drop for VideoPool {
    /// Ends the waiting workers: their stdin closes, they read no job and exit.
    fn drop(&mut self) {
        let ready = self.ready.get_mut().unwrap_or_else(|p| p.into_inner());
        for mut child in ready.drain(..) {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

/// How a conversation ended without hashes.
enum Ended {
    /// With a failure the worker reported or the wall clock decided.
    Failed(Failure),
    /// The worker's output stopped (it died, or sent something that is not the protocol):
    /// its exit status says why.
    Cut,
}

/// A worker slot, given back when dropped.
struct Slot<'a>(&'a VideoPool);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut busy = self.0.busy.lock().unwrap_or_else(|p| p.into_inner());
        *busy -= 1;
        self.0.freed.notify_one();
    }
}

/// Reads event lines, sending `None` for a line that is not an event (the conversation is
/// then over) and stopping at end of output.
fn read_events(stdout: ChildStdout, max_line: u64, events: &mpsc::Sender<Option<Event>>) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(max_line).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let event = serde_json::from_slice::<Event>(&line).ok();
                let bad = event.is_none();
                if events.send(event).is_err() || bad {
                    return;
                }
            }
        }
    }
}

/// Takes a worker's events one by one until the last.
trait Collect {
    /// What the last event completes.
    type Output;
    /// Takes one event: `Some` output when it was the last.
    fn take(&mut self, event: Event) -> Result<Option<Self::Output>, Failure>;
}

/// The events of one hashed video so far.
#[derive(Default)]
struct Collected {
    max_frames: u64,
    info: Option<VideoInfo>,
    frames: Vec<HashedFrame>,
}

impl Collect for Collected {
    type Output = VideoHashes;

    fn take(&mut self, event: Event) -> Result<Option<VideoHashes>, Failure> {
        match event {
            Event::Info(info) if self.info.is_none() => self.info = Some(info),
            Event::Frame(frame) if self.info.is_some() => {
                if self.frames.len() as u64 >= self.max_frames {
                    return Err(violation("more frames than the limit"));
                }
                self.frames.push(frame_from_wire(frame)?);
            }
            Event::Done(summary) => {
                let info = self
                    .info
                    .take()
                    .ok_or_else(|| violation("no stream info"))?;
                return Ok(Some(VideoHashes {
                    info,
                    frames: std::mem::take(&mut self.frames),
                    frames_decoded: summary.frames_decoded,
                    stopped: summary.stopped,
                    peak_rss_bytes: summary.peak_rss_bytes,
                    seccomp: summary.seccomp,
                    elapsed: Duration::ZERO,
                }));
            }
            Event::Failed(failure) => return Err(failure),
            _ => return Err(violation("events out of order")),
        }
        Ok(None)
    }
}

/// The events of one rendered video so far.
struct RenderCollected {
    job: RenderJob,
    info: Option<VideoInfo>,
    thumbnails: Vec<Thumbnail>,
}

impl Collect for RenderCollected {
    type Output = Rendered;

    fn take(&mut self, event: Event) -> Result<Option<Rendered>, Failure> {
        match event {
            Event::Info(info) if self.info.is_none() => self.info = Some(info),
            Event::Thumbnail(wire) if self.info.is_some() => {
                if self.thumbnails.len() >= self.job.times_ms.len()
                    || !self.job.times_ms.contains(&wire.time_ms)
                {
                    return Err(violation("a thumbnail not asked for"));
                }
                self.thumbnails
                    .push(thumbnail_from_wire(wire, self.job.max_side)?);
            }
            Event::Done(summary) => {
                let info = self
                    .info
                    .take()
                    .ok_or_else(|| violation("no stream info"))?;
                return Ok(Some(Rendered {
                    info,
                    thumbnails: std::mem::take(&mut self.thumbnails),
                    stopped: summary.stopped,
                    peak_rss_bytes: summary.peak_rss_bytes,
                    seccomp: summary.seccomp,
                }));
            }
            Event::Failed(failure) => return Err(failure),
            _ => return Err(violation("events out of order")),
        }
        Ok(None)
    }
}

/// A thumbnail from the wire, if it is one: within `max_side`, with as many pixels as it
/// says.
fn thumbnail_from_wire(wire: WireThumbnail, max_side: u32) -> Result<Thumbnail, Failure> {
    let sides = 1..=max_side;
    if !sides.contains(&wire.width) || !sides.contains(&wire.height) {
        return Err(violation("a thumbnail over its size"));
    }
    let rgb = base64::engine::general_purpose::STANDARD
        .decode(&wire.rgb)
        .map_err(|_| violation("a thumbnail that is not base64"))?;
    if rgb.len() as u64 != u64::from(wire.width) * u64::from(wire.height) * 3 {
        return Err(violation("a thumbnail whose pixels do not fill it"));
    }
    Ok(Thumbnail {
        time_ms: wire.time_ms,
        frame_ms: wire.frame_ms,
        width: wire.width,
        height: wire.height,
        rgb,
    })
}

fn frame_from_wire(frame: WireFrame) -> Result<HashedFrame, Failure> {
    let hash = |hex: &str| PdqHash::from_hex(hex).map_err(|_| violation("a malformed hash"));
    let variants = frame
        .variants
        .iter()
        .map(|v| {
            Ok(PdqQuery {
                variant: Some(v.form.clone()),
                hash: hash(&v.hash)?,
                quality: v.quality,
            })
        })
        .collect::<Result<_, Failure>>()?;
    Ok(HashedFrame {
        frame: frame.frame,
        timestamp: frame.timestamp,
        hash: hash(&frame.hash)?,
        quality: frame.quality,
        variants,
    })
}

fn violation(what: &str) -> Failure {
    Failure::new(
        ReasonCode::VideoWorkerCrashed,
        format!("the video worker broke the protocol: {what}"),
    )
}

/// Reaps the worker: at once when it was killed, else after it exits, killing it if it
/// lingers past a grace period (its status is then `None`: it stopped responding).
fn finish(child: &mut Child, killed: bool) -> Option<ExitStatus> {
    if killed {
        let _ = child.wait();
        return None;
    }
    let until = Instant::now() + EXIT_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Why a worker's output stopped, from how it exited.
fn judge_exit(status: Option<ExitStatus>) -> Failure {
    const SIGKILL: i32 = 9;
    const SIGXCPU: i32 = 24;
    const SIGSYS: i32 = 31;
    match status.and_then(|s| s.signal()) {
        // RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one.
        Some(SIGXCPU | SIGKILL) => Failure::new(
            ReasonCode::VideoCpuLimit,
            "the video worker used up its CPU time",
        ),
        Some(SIGSYS) => Failure::new(
            ReasonCode::VideoWorkerCrashed,
            "the video worker made a system call its sandbox forbids",
        ),
        Some(signal) => Failure::new(
            ReasonCode::VideoWorkerCrashed,
            format!("the video worker died of signal {signal}"),
        ),
        None => Failure::new(
            ReasonCode::VideoWorkerCrashed,
            match status.and_then(|s| s.code()) {
                Some(code) => format!("the video worker exited with status {code} mid-video"),
                None => "the video worker stopped answering and was killed".to_string(),
            },
        ),
    }
}
