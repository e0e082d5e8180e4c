//! `[video]`: how videos and animated images are decoded, and the limits that bound one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::config::{Invalid, Section, check_positive};

/// Every default of `[video]`, in one place.
pub mod defaults {
    /// `video.seconds_per_hash`: one frame hashed per second, as Meta's reference and the
    /// lists made with it.
    pub const SECONDS_PER_HASH: f64 = 1.0;
    /// `video.max_duration_secs`: ten minutes.
    pub const MAX_DURATION_SECS: u64 = 600;
    /// `video.max_frames`: decoded frames (sampled or not), 10 minutes at 60 frames/s and
    /// some; past it a flood of tiny frames stops.
    pub const MAX_FRAMES: u64 = 40_000;
    /// `video.max_pixels_per_frame`: 4096 × 2304 (above 4K UHD).
    pub const MAX_PIXELS_PER_FRAME: u64 = 4096 * 2304;
    /// `video.max_time_ms`: wall time for one video, decode and hashing included.
    pub const MAX_TIME_MS: u64 = 120_000;
    /// `video.max_memory_bytes`: address space of one worker (FFmpeg's buffers for a
    /// 4K stream and the RGB frame fit well within it).
    pub const MAX_MEMORY_BYTES: u64 = 2 * 1024 * 1024 * 1024;
}

/// `[video]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VideoConfig {
    /// Decode and hash videos and animated images (off: their exact digests only).
    pub enabled: bool,
    /// Videos decoded at once, each in its own worker process (0: one per CPU).
    pub workers: usize,
    /// Hash one frame every this many seconds of video (0: every frame), as Meta's vPDQ
    /// `seconds_per_hash`; lists should be hashed with the same value.
    pub seconds_per_hash: f64,
    /// A video longer than this is hashed up to it (`video_too_long`); a container that
    /// declares more is not decoded at all.
    pub max_duration_secs: u64,
    /// Frames decoded per video, sampled or not (`video_too_many_frames` past it).
    pub max_frames: u64,
    /// Pixels of one frame (`video_too_large` past it, from the stream's header).
    pub max_pixels_per_frame: u64,
    /// Wall time for one video, from handing it to a worker to its last hash
    /// (`video_timeout`: the worker is killed).
    pub max_time_ms: u64,
    /// Address space of one worker process (`video_memory_limit`).
    pub max_memory_bytes: u64,
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            enabled: true,
            workers: 0,
            seconds_per_hash: defaults::SECONDS_PER_HASH,
            max_duration_secs: defaults::MAX_DURATION_SECS,
            max_frames: defaults::MAX_FRAMES,
            max_pixels_per_frame: defaults::MAX_PIXELS_PER_FRAME,
            max_time_ms: defaults::MAX_TIME_MS,
            max_memory_bytes: defaults::MAX_MEMORY_BYTES,
        }
    }
}

/// The smallest address space a worker can start FFmpeg in.
const MIN_MEMORY_BYTES: u64 = 64 * 1024 * 1024;

impl Section for VideoConfig {
    fn validate(&self) -> Result<(), Invalid> {
        check_positive([
            ("video.max_duration_secs", self.max_duration_secs),
            ("video.max_frames", self.max_frames),
            ("video.max_pixels_per_frame", self.max_pixels_per_frame),
            ("video.max_time_ms", self.max_time_ms),
        ])?;
        if !(self.seconds_per_hash.is_finite() && self.seconds_per_hash >= 0.0) {
            return Err(Invalid::new(
                "video.seconds_per_hash",
                "must be a number of seconds, 0 or more",
            ));
        }
        if self.max_memory_bytes < MIN_MEMORY_BYTES {
            return Err(Invalid::new(
                "video.max_memory_bytes",
                format!("must be at least {MIN_MEMORY_BYTES} (64 MiB)"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_each_bound_is_checked() {
        assert_eq!(VideoConfig::default().validate(), Ok(()));
        type Break = fn(&mut VideoConfig);
        let cases: [(&str, Break); 4] = [
            ("video.max_frames", |c| c.max_frames = 0),
            ("video.seconds_per_hash", |c| c.seconds_per_hash = -1.0),
            ("video.seconds_per_hash", |c| c.seconds_per_hash = f64::NAN),
            ("video.max_memory_bytes", |c| c.max_memory_bytes = 1 << 20),
        ];
        for (key, break_it) in cases {
            let mut config = VideoConfig::default();
            break_it(&mut config);
            assert_eq!(config.validate().map_err(|e| e.key), Err(key.to_string()));
        }
    }
}
