//! `[match]`, `[attachments]` and `[input]`: how near a hash must be to match, what an
//! attachment may cost, how large a record may be. [`ScanConfig`] is what scanning reads of
//! the whole file: these sections and those of the crates it drives (`[lists]`, `[text]`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::config::{Invalid, Section, check_positive, resolve};
use vigil_index::VpdqThresholds;
use vigil_lists::{ListSource, ListsConfig, VPDQ_MAX_DISTANCE_LIMIT, check_percent};
use vigil_text::TextConfig;
use vigil_video::{VideoConfig, WorkerCommand};

/// Every default of `[match]`, `[attachments]` and `[input]`, in one place.
pub mod defaults {
    /// `match.pdq_max_distance`: the Hamming radius HMA and ThreatExchange use.
    pub const PDQ_MAX_DISTANCE: u32 = 31;
    /// `match.pdq_min_quality`: PDQ hashes below this quality are too flat to match on.
    pub const PDQ_MIN_QUALITY: u8 = 50;
    /// `match.pdq_dihedral`: also match rotated and mirrored copies.
    pub const PDQ_DIHEDRAL: bool = true;
    /// `match.pdq_trim_borders`: also match copies framed by a uniform border.
    pub const PDQ_TRIM_BORDERS: bool = true;
    /// `match.phash_max_distance`, `match.dhash_max_distance`, `match.ahash_max_distance`:
    /// out of 64 bits.
    pub const HASH64_MAX_DISTANCE: u32 = 8;
    /// Largest accepted 64-bit-hash distance.
    pub const HASH64_MAX_DISTANCE_LIMIT: u32 = 16;
    /// Largest accepted `match.pdq_max_distance`: beyond it unrelated images start matching
    /// (two random PDQ hashes are about 128 ± 8 bits apart).
    pub const PDQ_MAX_DISTANCE_LIMIT: u32 = 64;
    /// `match.vpdq_max_distance`: python-threatexchange's frame distance tolerance.
    pub const VPDQ_MAX_DISTANCE: u32 = 31;
    /// `match.vpdq_min_quality`: its frame quality tolerance.
    pub const VPDQ_MIN_QUALITY: u8 = 50;
    /// `match.vpdq_query_match_percent`: the share of a video's frames that must match a
    /// listed video.
    pub const VPDQ_QUERY_MATCH_PERCENT: f64 = 80.0;
    /// `match.vpdq_compared_match_percent`: the share of the listed video's frames that must
    /// match (0: a clip of a listed video matches).
    pub const VPDQ_COMPARED_MATCH_PERCENT: f64 = 0.0;
    /// `attachments.max_image_width` and `max_image_height`, in pixels.
    pub const MAX_IMAGE_DIMENSION: u32 = 8192;
    /// `attachments.max_image_alloc_bytes`: decoded pixels, 256 MiB.
    pub const MAX_IMAGE_ALLOC_BYTES: u64 = 256 * 1024 * 1024;
    /// `attachments.max_decode_memory_bytes`: 640 MiB, room for one image at the default
    /// limits (201 MB of pixels and 268 MB of PDQ luma) or several ordinary photographs.
    pub const MAX_DECODE_MEMORY_BYTES: u64 = 640 * 1024 * 1024;
    /// `attachments.max_image_time_ms`: decoding and hashing one image; the largest image the
    /// default limits admit takes about 1 s on one core.
    pub const MAX_IMAGE_TIME_MS: u64 = 2000;
    /// `attachments.max_bytes`: 20 MiB.
    pub const MAX_ATTACHMENT_BYTES: u64 = 20 * 1024 * 1024;
    /// `attachments.max_attachments_per_message`: messaging apps send at most 10 to 30 files
    /// per message (Discord and Slack 10, Telegram albums 10, iMessage and WhatsApp 30-100).
    pub const MAX_ATTACHMENTS_PER_MESSAGE: u64 = 100;
    /// `attachments.max_total_bytes_per_message`: 256 MiB, twelve maximal attachments or
    /// fifty 5 MB photographs; what one scanning thread holds at most.
    pub const MAX_TOTAL_ATTACHMENT_BYTES_PER_MESSAGE: u64 = 256 * 1024 * 1024;
    /// `input.max_message_bytes`: 32 MiB, room for one maximal attachment inline in base64.
    pub const MAX_MESSAGE_BYTES: u64 = 32 * 1024 * 1024;
}

/// The number of scanning threads a setting asks for: 0 means one per available CPU.
pub fn scanning_threads(setting: usize) -> usize {
    match setting {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
}

/// What scanning reads of the configuration, assembled by the binary from the file's sections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanConfig {
    /// `[lists]`: the lists to load.
    pub lists: ListsConfig,
    /// `[match]`: matching thresholds.
    pub matching: MatchConfig,
    /// `[attachments]`: attachment limits and fetching.
    pub attachments: AttachmentsConfig,
    /// `[input]`: limits on input records.
    pub input: InputConfig,
    /// `[text]`: text scanning.
    pub text: TextConfig,
    /// `[video]`: decoding videos and animated images.
    pub video: VideoConfig,
    /// `[urls]`: shortened links.
    pub urls: vigil_url::UrlsConfig,
    /// The program a video worker runs (`vigil video-worker`): set by the binary, which
    /// knows its own path. Without it videos get their exact digests only.
    pub video_worker: Option<WorkerCommand>,
}

/// `[match]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// Largest PDQ Hamming distance that counts as a match.
    pub pdq_max_distance: u32,
    /// PDQ hashes of lower quality are not matched.
    pub pdq_min_quality: u8,
    /// Also match the 8 rotations and mirrorings of each image (computed from one DCT).
    pub pdq_dihedral: bool,
    /// Also match the content inside uniform borders, when an image has them.
    pub pdq_trim_borders: bool,
    /// Largest pHash Hamming distance (of 64 bits) that counts as a match.
    pub phash_max_distance: u32,
    /// Largest dHash Hamming distance that counts as a match.
    pub dhash_max_distance: u32,
    /// Largest aHash Hamming distance that counts as a match.
    pub ahash_max_distance: u32,
    /// Largest Hamming distance at which a video frame matches a listed video's frame.
    pub vpdq_max_distance: u32,
    /// Video frames of lower quality are not compared (on either side).
    pub vpdq_min_quality: u8,
    /// Least share, in percent, of a video's frames that must match a listed video.
    pub vpdq_query_match_percent: f64,
    /// Least share, in percent, of the listed video's frames that must match the video.
    pub vpdq_compared_match_percent: f64,
    /// `[match.categories.<category>]`: stricter PDQ thresholds for entries of one category,
    /// in every list (a category that deserves fewer false positives, say).
    pub categories: BTreeMap<String, CategoryThresholds>,
}

/// `[match.categories.<category>]`: thresholds that tighten `[match]`'s (and every list's)
/// for one category.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryThresholds {
    /// At most `match.pdq_max_distance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdq_max_distance: Option<u32>,
    /// At least `match.pdq_min_quality`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdq_min_quality: Option<u8>,
    /// At most `match.phash_max_distance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phash_max_distance: Option<u32>,
    /// At most `match.dhash_max_distance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhash_max_distance: Option<u32>,
    /// At most `match.ahash_max_distance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahash_max_distance: Option<u32>,
    /// A listed video of this category matches only if at least this share of the
    /// message's video matched (on top of its list's `vpdq_query_match_percent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpdq_query_match_percent: Option<f64>,
    /// ...and at least this share of the listed video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpdq_compared_match_percent: Option<f64>,
}

impl MatchConfig {
    /// Checks that PDQ thresholds set for a list or category (`key`) only tighten
    /// `match.pdq_max_distance` and `match.pdq_min_quality`: those bound what the index is
    /// asked for, so nothing looser could be found.
    pub fn check_pdq_tightens(
        &self,
        key: &str,
        max_distance: Option<u32>,
        min_quality: Option<u8>,
    ) -> Result<(), Invalid> {
        if let Some(d) = max_distance.filter(|&d| d > self.pdq_max_distance) {
            return Err(Invalid::new(
                format!("{key}.pdq_max_distance"),
                format!(
                    "{d} is looser than match.pdq_max_distance ({}), which it can only tighten",
                    self.pdq_max_distance
                ),
            ));
        }
        if let Some(q) = min_quality.filter(|&q| q < self.pdq_min_quality || q > 100) {
            return Err(Invalid::new(
                format!("{key}.pdq_min_quality"),
                format!(
                    "{q} is not a quality from match.pdq_min_quality ({}) to 100: it can only tighten",
                    self.pdq_min_quality
                ),
            ));
        }
        Ok(())
    }

    /// Checks that pHash, dHash and aHash distances set for a list or category (`key`)
    /// only tighten `match.*_max_distance`, which bound what the index is asked for.
    pub fn check_family_tightens(
        &self,
        key: &str,
        distances: [Option<u32>; 3],
    ) -> Result<(), Invalid> {
        let global = [
            ("phash_max_distance", self.phash_max_distance),
            ("dhash_max_distance", self.dhash_max_distance),
            ("ahash_max_distance", self.ahash_max_distance),
        ];
        for ((name, limit), set) in global.into_iter().zip(distances) {
            if let Some(d) = set.filter(|&d| d > limit) {
                return Err(Invalid::new(
                    format!("{key}.{name}"),
                    format!("{d} is looser than match.{name} ({limit}), which it can only tighten"),
                ));
            }
        }
        Ok(())
    }

    /// Checks every hash list's PDQ, pHash, dHash and aHash thresholds against these (the
    /// lists are another section).
    pub fn check_list_thresholds(&self, lists: &ListsConfig) -> Result<(), Invalid> {
        for (i, source) in lists.hash_lists.iter().enumerate() {
            let key = format!("lists.hash_lists[{i}]");
            self.check_pdq_tightens(&key, source.pdq_max_distance, source.pdq_min_quality)?;
            let family = [
                source.phash_max_distance,
                source.dhash_max_distance,
                source.ahash_max_distance,
            ];
            self.check_family_tightens(&key, family)?;
        }
        Ok(())
    }

    /// The vPDQ thresholds of the hash list `source`: its own settings, else these.
    pub fn vpdq_thresholds(&self, source: &ListSource) -> VpdqThresholds {
        VpdqThresholds {
            max_distance: source.vpdq_max_distance.unwrap_or(self.vpdq_max_distance),
            min_quality: source.vpdq_min_quality.unwrap_or(self.vpdq_min_quality),
            query_match_percent: source
                .vpdq_query_match_percent
                .unwrap_or(self.vpdq_query_match_percent),
            compared_match_percent: source
                .vpdq_compared_match_percent
                .unwrap_or(self.vpdq_compared_match_percent),
        }
    }
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            pdq_max_distance: defaults::PDQ_MAX_DISTANCE,
            pdq_min_quality: defaults::PDQ_MIN_QUALITY,
            pdq_dihedral: defaults::PDQ_DIHEDRAL,
            pdq_trim_borders: defaults::PDQ_TRIM_BORDERS,
            phash_max_distance: defaults::HASH64_MAX_DISTANCE,
            dhash_max_distance: defaults::HASH64_MAX_DISTANCE,
            ahash_max_distance: defaults::HASH64_MAX_DISTANCE,
            vpdq_max_distance: defaults::VPDQ_MAX_DISTANCE,
            vpdq_min_quality: defaults::VPDQ_MIN_QUALITY,
            vpdq_query_match_percent: defaults::VPDQ_QUERY_MATCH_PERCENT,
            vpdq_compared_match_percent: defaults::VPDQ_COMPARED_MATCH_PERCENT,
            categories: BTreeMap::new(),
        }
    }
}

/// `[attachments]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentsConfig {
    /// Largest attachment, decoded, in bytes; larger ones are reported `attachment_too_large`.
    pub max_bytes: u64,
    /// Attachments of one message that are resolved; the rest are reported together
    /// (`too_many_attachments`) without being read.
    pub max_attachments_per_message: u64,
    /// Bytes that one message's attachments may take together, decoded; an attachment that
    /// would go past it is reported `attachment_budget_exceeded` without being read.
    pub max_total_bytes_per_message: u64,
    /// Directories that `file://` attachment URIs may point into. Empty: `file://` is refused.
    pub file_roots: Vec<PathBuf>,
    /// Images declaring a larger width are refused before decoding (`image_too_large`).
    pub max_image_width: u32,
    /// Images declaring a larger height are refused before decoding.
    pub max_image_height: u32,
    /// Images whose decoded pixels would take more bytes are refused before decoding.
    pub max_image_alloc_bytes: u64,
    /// Memory that decoding and hashing images may hold at once across scanning threads; an
    /// image waits for its share (pixels plus 4 bytes per pixel for hashing).
    pub max_decode_memory_bytes: u64,
    /// Wall-clock budget for decoding and hashing one image, waiting for memory included.
    /// Past it the image is reported `image_timeout` (its exact hashes still match) and its
    /// work is abandoned to a helper thread, which keeps its memory until it finishes.
    pub max_image_time_ms: u64,
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        AttachmentsConfig {
            max_bytes: defaults::MAX_ATTACHMENT_BYTES,
            max_attachments_per_message: defaults::MAX_ATTACHMENTS_PER_MESSAGE,
            max_total_bytes_per_message: defaults::MAX_TOTAL_ATTACHMENT_BYTES_PER_MESSAGE,
            file_roots: Vec::new(),
            max_image_width: defaults::MAX_IMAGE_DIMENSION,
            max_image_height: defaults::MAX_IMAGE_DIMENSION,
            max_image_alloc_bytes: defaults::MAX_IMAGE_ALLOC_BYTES,
            max_decode_memory_bytes: defaults::MAX_DECODE_MEMORY_BYTES,
            max_image_time_ms: defaults::MAX_IMAGE_TIME_MS,
        }
    }
}

/// `[input]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// Largest input record (JSON line or Kafka value) in bytes.
    pub max_message_bytes: u64,
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            max_message_bytes: defaults::MAX_MESSAGE_BYTES,
        }
    }
}

impl Section for MatchConfig {
    fn validate(&self) -> Result<(), Invalid> {
        let m = self;
        if m.pdq_max_distance > defaults::PDQ_MAX_DISTANCE_LIMIT {
            return Err(Invalid::new(
                "match.pdq_max_distance",
                format!(
                    "{} is above {}: unrelated images would match",
                    m.pdq_max_distance,
                    defaults::PDQ_MAX_DISTANCE_LIMIT
                ),
            ));
        }
        for (key, quality) in [
            ("match.pdq_min_quality", m.pdq_min_quality),
            ("match.vpdq_min_quality", m.vpdq_min_quality),
        ] {
            if quality > 100 {
                return Err(Invalid::new(
                    key,
                    format!("{quality} is not a quality (0 to 100)"),
                ));
            }
        }
        if m.vpdq_max_distance > VPDQ_MAX_DISTANCE_LIMIT {
            return Err(Invalid::new(
                "match.vpdq_max_distance",
                format!(
                    "{} is above {VPDQ_MAX_DISTANCE_LIMIT}: unrelated frames would match",
                    m.vpdq_max_distance
                ),
            ));
        }
        check_percent(
            "match.vpdq_query_match_percent",
            Some(m.vpdq_query_match_percent),
        )?;
        check_percent(
            "match.vpdq_compared_match_percent",
            Some(m.vpdq_compared_match_percent),
        )?;
        for (key, value) in [
            ("match.phash_max_distance", m.phash_max_distance),
            ("match.dhash_max_distance", m.dhash_max_distance),
            ("match.ahash_max_distance", m.ahash_max_distance),
        ] {
            if value > defaults::HASH64_MAX_DISTANCE_LIMIT {
                return Err(Invalid::new(
                    key,
                    format!(
                        "{value} is above {}: unrelated images would match",
                        defaults::HASH64_MAX_DISTANCE_LIMIT
                    ),
                ));
            }
        }
        for (category, t) in &m.categories {
            let key = format!("match.categories.{category}");
            self.check_pdq_tightens(&key, t.pdq_max_distance, t.pdq_min_quality)?;
            let family = [
                t.phash_max_distance,
                t.dhash_max_distance,
                t.ahash_max_distance,
            ];
            self.check_family_tightens(&key, family)?;
            for (name, value) in [
                ("vpdq_query_match_percent", t.vpdq_query_match_percent),
                ("vpdq_compared_match_percent", t.vpdq_compared_match_percent),
            ] {
                vigil_lists::config::check_percent(&format!("{key}.{name}"), value)?;
            }
        }
        Ok(())
    }
}

impl Section for AttachmentsConfig {
    fn resolve_paths(&mut self, base: &Path) {
        resolve(base, self.file_roots.iter_mut());
    }

    fn validate(&self) -> Result<(), Invalid> {
        let a = self;
        check_positive([
            ("attachments.max_image_width", u64::from(a.max_image_width)),
            (
                "attachments.max_image_height",
                u64::from(a.max_image_height),
            ),
            ("attachments.max_image_alloc_bytes", a.max_image_alloc_bytes),
            (
                "attachments.max_decode_memory_bytes",
                a.max_decode_memory_bytes,
            ),
            ("attachments.max_image_time_ms", a.max_image_time_ms),
            ("attachments.max_bytes", a.max_bytes),
            (
                "attachments.max_attachments_per_message",
                a.max_attachments_per_message,
            ),
        ])?;
        if a.max_total_bytes_per_message < a.max_bytes {
            return Err(Invalid::new(
                "attachments.max_total_bytes_per_message",
                format!(
                    "{} is below attachments.max_bytes ({}): no maximal attachment could be scanned",
                    a.max_total_bytes_per_message, a.max_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl Section for InputConfig {
    fn validate(&self) -> Result<(), Invalid> {
        check_positive([("input.max_message_bytes", self.max_message_bytes)])
    }
}
