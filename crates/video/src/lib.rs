//! Video attachments, decoded out of process.
//!
//! FFmpeg's demuxers and decoders are the largest attack surface vigil has, so the scanner
//! never runs them: a [`VideoPool`] hands each video to a worker process of its own
//! (`vigil video-worker`, built from `vigil-video-decode`), which limits its address space
//! and CPU time, forbids itself the network, new processes and writing files, decodes,
//! hashes the sampled frames (vPDQ and the extra query forms) and reports the hashes — never
//! pixels, except the few small thumbnails a render job asks for — as JSON lines. A worker
//! that crashes, hangs or exceeds a limit costs that video alone: a [`Failure`] with a
//! reason code (`video_timeout`, `video_worker_crashed`, …).
//!
//! - [`VideoConfig`]: `[video]`, the limits and the number of workers.
//! - [`protocol`]: the [`Job`] a worker reads and the [`Event`]s it writes.
//! - [`VideoPool`], [`PoolSettings`], [`WorkerCommand`]: the scanner's side.
//! - [`VideoHashes`], [`HashedFrame`]: what comes back; [`VideoHashes::vpdq`] is the vPDQ
//!   hash in Meta's form.
//! - [`VideoPool::render`], [`Rendered`], [`Thumbnail`]: small thumbnails of chosen frames,
//!   for the review console's contact sheet, from a worker under the same limits.
//!
//! ```
//! use vigil_video::{Forms, PoolSettings, VideoConfig, VideoPool, WorkerCommand};
//!
//! // A worker program that is not there: the video fails with a retryable reason code
//! // instead of taking the scanner down.
//! let settings = PoolSettings::new(&VideoConfig::default(), 2, Forms::default());
//! let pool = VideoPool::new(WorkerCommand::vigil("/nonexistent/vigil".into()), settings);
//! let failure = pool.hash(b"\x00\x00\x00\x18ftypmp42").unwrap_err();
//! assert_eq!(failure.reason.as_str(), "video_worker_unavailable");
//! assert!(failure.reason.retryable());
//! ```

pub mod config;
mod pool;
pub mod protocol;

pub use config::VideoConfig;
pub use pool::{
    HashedFrame, PoolSettings, Rendered, Thumbnail, VideoHashes, VideoPool, WorkerCommand,
};
pub use protocol::{Event, Failure, Forms, Job, JobLimits, RenderJob, VideoInfo};
