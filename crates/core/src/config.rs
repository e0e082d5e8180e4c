//! The configuration file: one TOML file, overridable per key from the environment, validated
//! once at start-up. Every default lives in [`defaults`]; `docs/config.md` documents each key.
//!
//! Environment overrides are named `VIGIL_<SECTION>__<KEY>` (double underscore between path
//! segments, case-insensitive), e.g. `VIGIL_KAFKA__BROKERS=10.0.0.5:9092` or
//! `VIGIL_MATCH__PDQ_MAX_DISTANCE=20`. The value is read as a TOML value when it parses as one
//! (`20`, `true`, `["a","b"]`, `"123"`), otherwise as a string. Variables without `__` after
//! the prefix (such as `VIGIL_CONFIG`) are not overrides.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What every section of the configuration does when the file is loaded, in this order:
/// relative paths resolved against the file's directory, values checked, secrets read from
/// their sources. Each key in an [`Invalid`] is the full dotted key (`kafka.brokers`).
pub trait Section {
    /// Resolves relative paths against `base`, the configuration file's directory.
    fn resolve_paths(&mut self, base: &Path) {
        let _ = base;
    }

    /// Checks ranges and cross-field rules.
    fn validate(&self) -> Result<(), Invalid>;

    /// Reads secrets from the files or environment variables the section names (after
    /// [`Section::validate`]); `env` is the process environment. Errors never quote a secret.
    fn read_secrets(&mut self, env: &[(String, String)]) -> Result<(), Invalid> {
        let _ = env;
        Ok(())
    }
}

/// A section's value that cannot be used: the dotted key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The dotted key, e.g. `kafka.brokers`.
    pub key: String,
    /// What is wrong (never a secret's value).
    pub message: String,
}

impl Invalid {
    /// `key` is wrong: `message`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A configuration that cannot be used. Never retryable: fix the file or the environment.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A key is unknown, mistyped or out of range.
    #[error("config {origin}: key `{key}`: {message}")]
    Invalid {
        /// The dotted key, e.g. `kafka.brokers`.
        key: String,
        /// What is wrong.
        message: String,
        /// The file, or the environment variable that set the key.
        origin: String,
    },
}

/// Reads `path`, applies overrides from `env` (pass `std::env::vars()`), resolves relative
/// paths against the file's directory and validates.
pub fn load<T: Section + DeserializeOwned>(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    from_toml(&text, &path.display().to_string(), &base, env)
}

/// The defaults with `env` overrides applied (used when there is no config file); relative
/// paths resolve against `base`.
pub fn from_env<T: Section + DeserializeOwned>(
    base: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    from_toml("", "defaults", base, env)
}

/// Parses TOML `text`; `origin` names it in errors.
pub fn from_toml<T: Section + DeserializeOwned>(
    text: &str,
    origin: &str,
    base: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let mut table: toml::Table =
        text.parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax {
                path: PathBuf::from(origin),
                message: syntax_message(text, &e),
            })?;
    let env: Vec<(String, String)> = env.into_iter().collect();
    let overrides = apply_env(&mut table, env.iter().cloned())?;
    let origin_of = |key: &str| {
        overrides
            .iter()
            .find(|(_, k)| key == k || key.starts_with(&format!("{k}.")))
            .map(|(var, _)| format!("environment variable {var}"))
            .unwrap_or_else(|| origin.to_string())
    };
    let mut config: T =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Invalid {
                origin: origin_of(&key),
                message: e.into_inner().message().to_string(),
                key,
            }
        })?;
    config.resolve_paths(base);
    let invalid = |Invalid { key, message }: Invalid| ConfigError::Invalid {
        origin: origin_of(&key),
        key,
        message,
    };
    config.validate().map_err(invalid)?;
    config.read_secrets(&env).map_err(invalid)?;
    Ok(config)
}

/// Resolves each of `paths` that is relative against `base`.
pub fn resolve<'a>(base: &Path, paths: impl IntoIterator<Item = &'a mut PathBuf>) {
    for path in paths {
        if path.is_relative() {
            *path = base.join(&*path);
        }
    }
}

/// A file a component will read at start-up must exist and be readable now.
pub fn check_readable(key: &str, path: &Path) -> Result<(), Invalid> {
    if !path.is_file() {
        return Err(Invalid::new(
            key,
            format!("{} is not a file", path.display()),
        ));
    }
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| Invalid::new(key, format!("cannot read {}: {e}", path.display())))
}

/// `key` must be at least 1, for each `(key, value)`.
pub fn check_positive<'a>(values: impl IntoIterator<Item = (&'a str, u64)>) -> Result<(), Invalid> {
    match values.into_iter().find(|(_, value)| *value == 0) {
        Some((key, _)) => Err(Invalid::new(key, "must be at least 1")),
        None => Ok(()),
    }
}

/// Every default value, in one place.
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
    /// `text.max_scan_bytes`: 1 MiB of text (about 500 printed pages) is scanned per message.
    pub const TEXT_MAX_SCAN_BYTES: u64 = 1024 * 1024;
    /// `kafka.brokers`.
    pub const KAFKA_BROKERS: &str = "127.0.0.1:9092";
    /// `kafka.group_id`.
    pub const KAFKA_GROUP_ID: &str = "vigil";
    /// `kafka.input_topics`.
    pub const KAFKA_INPUT_TOPIC: &str = "dms";
    /// `kafka.review_topic`.
    pub const KAFKA_REVIEW_TOPIC: &str = "vigil.flags";
    /// `kafka.dead_letter_topic`.
    pub const KAFKA_DEAD_LETTER_TOPIC: &str = "vigil.dlq";
    /// `kafka.max_in_flight`: messages dispatched but not yet completed, across partitions.
    pub const KAFKA_MAX_IN_FLIGHT: usize = 1000;
    /// `kafka.max_buffered_bytes`: 64 MiB.
    pub const KAFKA_MAX_BUFFERED_BYTES: u64 = 64 * 1024 * 1024;
    /// `kafka.shutdown_timeout_secs`.
    pub const KAFKA_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
    /// `kafka.transaction_interval_ms`: how often exactly-once mode commits a transaction.
    pub const KAFKA_TRANSACTION_INTERVAL_MS: u64 = 100;
    /// `kafka.commit_interval_ms`: how often at-least-once mode commits stored offsets.
    pub const KAFKA_COMMIT_INTERVAL_MS: u64 = 5000;
    /// `kafka.stall_timeout_secs`: `/healthz` fails when the poll loop is stuck this long.
    pub const KAFKA_STALL_TIMEOUT_SECS: u64 = 60;
    /// `kafka.crash_loop_limit`: processes one record may end, alone in flight, before it is
    /// dead-lettered unscanned.
    pub const KAFKA_CRASH_LOOP_LIMIT: u32 = 2;
    /// `lists.reload_interval_ms`: how often `vigil run` looks for new list versions.
    pub const LISTS_RELOAD_INTERVAL_MS: u64 = 60_000;
    /// `admin.listen`.
    pub const ADMIN_LISTEN: &str = "127.0.0.1:9464";
    /// `review.listen`: the review console.
    pub const REVIEW_LISTEN: &str = "127.0.0.1:8480";
    /// `review.metrics_listen`: the review console's `/metrics` and `/healthz`.
    pub const REVIEW_METRICS_LISTEN: &str = "127.0.0.1:9465";
    /// `review.database_url`: the local development database (`deploy/local/postgres`), as
    /// its console role.
    pub const REVIEW_DATABASE_URL: &str =
        "postgres://vigil_console:vigil_console@127.0.0.1:55432/vigil";
    /// `review.group_id`: the console's consumer group on the review topics.
    pub const REVIEW_GROUP_ID: &str = "vigil-review";
    /// `review.decisions_topic`.
    pub const REVIEW_DECISIONS_TOPIC: &str = "vigil.decisions";
    /// `review.lease_secs`: how long a claimed item stays with its reviewer.
    pub const REVIEW_LEASE_SECS: u64 = 15 * 60;
    /// `review.content_retention_days`: message text and images are purged after this.
    pub const REVIEW_CONTENT_RETENTION_DAYS: u32 = 30;
    /// `review.session_ttl_secs`: a login lasts one working day.
    pub const REVIEW_SESSION_TTL_SECS: u64 = 8 * 60 * 60;
    /// `review.content_fetch_timeout_ms`: fetching a flagged message from its source topic.
    pub const REVIEW_CONTENT_FETCH_TIMEOUT_MS: u64 = 10_000;
    /// `review.session_idle_timeout_secs`: a session unused this long ends.
    pub const REVIEW_SESSION_IDLE_TIMEOUT_SECS: u64 = 30 * 60;
    /// `review.reauth_after_secs`: revealing an image needs a password (or a fresh sign-in
    /// through the proxy) within this long.
    pub const REVIEW_REAUTH_AFTER_SECS: u64 = 15 * 60;
    /// `review.header_read_timeout_ms`: how long a client may take to send a request's
    /// headers.
    pub const REVIEW_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
    /// `review.proxy_user_header`: what oauth2-proxy and most SSO proxies send.
    pub const REVIEW_PROXY_USER_HEADER: &str = "x-forwarded-user";
    /// Largest accepted `match.pdq_max_distance`: beyond it unrelated images start matching
    /// (two random PDQ hashes are about 128 ± 8 bits apart).
    pub const PDQ_MAX_DISTANCE_LIMIT: u32 = 64;
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[lists]`: which lists to load.
    pub lists: ListsConfig,
    /// `[match]`: matching thresholds.
    #[serde(rename = "match")]
    pub matching: MatchConfig,
    /// `[attachments]`: attachment limits and fetching.
    pub attachments: AttachmentsConfig,
    /// `[input]`: limits on input records.
    pub input: InputConfig,
    /// `[text]`: text scanning.
    pub text: TextConfig,
    /// `[kafka]`: the broker runtime (`vigil run`).
    pub kafka: KafkaConfig,
    /// `[admin]`: the admin HTTP endpoint.
    pub admin: AdminConfig,
    /// `[review]`: the review console (`vigil review`).
    pub review: ReviewConfig,
    /// `[[routes]]`: which review topic a flag goes to, by category; first match wins.
    pub routes: Vec<Route>,
}

/// `[[routes]]`: flags with a match in `category` go to `topic` instead of
/// `kafka.review_topic`. Routes are tried in order; the first whose category any match has wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// A match category, e.g. `A`.
    pub category: String,
    /// The review topic for it.
    pub topic: String,
}

impl Config {
    /// The review topic for a flag with these categories.
    pub fn route<'a>(&'a self, categories: &[String]) -> &'a str {
        self.routes
            .iter()
            .find(|r| categories.contains(&r.category))
            .map_or(self.kafka.review_topic.as_str(), |r| r.topic.as_str())
    }
}

/// `[lists]`. Relative paths are resolved against the configuration file's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ListsConfig {
    /// Hash lists: paths, or tables naming the format (see `docs/lists.md`).
    pub hash_lists: Vec<ListSource>,
    /// Keyword lists (CSV: `rule_id,term,category[,whole_word,severity]`).
    pub keyword_lists: Vec<ListSource>,
    /// How often `vigil run` checks the list files for a new version; 0 turns the periodic
    /// check off (SIGHUP still reloads).
    pub reload_interval_ms: u64,
    /// Public keys (PEM, ed25519) that sign list manifests. When any is given, every list
    /// must carry a manifest with a valid signature by one of them.
    pub trusted_keys: Vec<PathBuf>,
    /// Lets `vigil run` start with lists and no `trusted_keys`: for lists the operator makes
    /// and places alone (development, tests). `vigil scan` never needs it.
    pub allow_unsigned: bool,
    /// Refuse a list whose manifest `created_at` is older than this (a frozen feed); lists
    /// without a manifest are refused too when it is set. Unset: no age limit.
    pub max_age_secs: Option<u64>,
    /// A file recording the highest manifest version accepted per list, so a restart
    /// cannot roll a list back; unset: versions are only compared within one process.
    pub ledger_file: Option<PathBuf>,
    /// Default for each list's `lenient`: skip and count malformed lines instead of refusing
    /// the list.
    pub lenient: bool,
}

impl Default for ListsConfig {
    fn default() -> Self {
        ListsConfig {
            hash_lists: Vec::new(),
            keyword_lists: Vec::new(),
            reload_interval_ms: defaults::LISTS_RELOAD_INTERVAL_MS,
            trusted_keys: Vec::new(),
            allow_unsigned: false,
            max_age_secs: None,
            ledger_file: None,
            lenient: false,
        }
    }
}

impl ListsConfig {
    /// What `vigil run` requires: a signature on every list, unless `allow_unsigned` says
    /// unsigned lists are intended. A long-running scanner reads list files that others can
    /// write (a Secret, a volume); `vigil scan` reads files its operator names and does not
    /// ask this.
    pub fn check_signed(&self) -> Result<(), String> {
        let any = !self.hash_lists.is_empty() || !self.keyword_lists.is_empty();
        if any && self.trusted_keys.is_empty() && !self.allow_unsigned {
            return Err(
                "config key `lists.trusted_keys` is empty, so nothing shows who made the lists, \
                 and `vigil run` refuses unsigned lists: set `lists.trusted_keys` (docs/lists.md), \
                 or `lists.allow_unsigned = true` for lists you make and place yourself"
                    .into(),
            );
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), Invalid> {
        if self.allow_unsigned && !self.trusted_keys.is_empty() {
            return Err(Invalid::new(
                "lists.allow_unsigned",
                "cannot be true with `lists.trusted_keys` set (every list must then be signed)",
            ));
        }
        Ok(())
    }
}

/// The file formats of hash lists (`docs/lists.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ListFormat {
    /// vigil CSV: `algorithm,hash,entry_id,category[,severity,deleted,...]`.
    Csv,
    /// HMA / python-threatexchange: `<signal_type> <hash>` per line.
    Hma,
    /// One hash per line; the algorithm comes from the list's `algorithm`.
    Bare,
    /// JSON lines with the CSV's fields.
    Jsonl,
}

impl ListFormat {
    /// The format a file's extension implies: `.csv`, `.jsonl`/`.ndjson`; anything else is
    /// `bare` when an algorithm is given, `hma` otherwise.
    pub fn for_path(path: &Path, algorithm_given: bool) -> ListFormat {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match extension.as_deref() {
            Some("csv") => ListFormat::Csv,
            Some("jsonl" | "ndjson") => ListFormat::Jsonl,
            _ if algorithm_given => ListFormat::Bare,
            _ => ListFormat::Hma,
        }
    }
}

/// One list in `lists.hash_lists` / `lists.keyword_lists`: a path, or a table.
/// The schema is the table form's (a bare path is a string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ListSource {
    /// The data file.
    pub path: PathBuf,
    /// The list's name in matches; default: the manifest's name, else the file stem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// File format; default from the extension ([`ListFormat::for_path`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<ListFormat>,
    /// The algorithm of every hash in a `bare` list (`pdq`, `md5`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// Category of entries in formats without one (`hma`, `bare`); default: the list name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The manifest; default: `<path>.manifest.json` when that file exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<PathBuf>,
    /// Skip and count malformed lines; default `lists.lenient`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lenient: Option<bool>,
}

impl From<PathBuf> for ListSource {
    fn from(path: PathBuf) -> Self {
        ListSource {
            path,
            name: None,
            format: None,
            algorithm: None,
            category: None,
            manifest: None,
            lenient: None,
        }
    }
}

/// The table form of [`ListSource`], with its unknown keys refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListSourceTable {
    path: PathBuf,
    name: Option<String>,
    format: Option<ListFormat>,
    algorithm: Option<String>,
    category: Option<String>,
    manifest: Option<PathBuf>,
    lenient: Option<bool>,
}

impl<'de> Deserialize<'de> for ListSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ListSource;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a path, or a table with `path` and options")
            }
            fn visit_str<E: serde::de::Error>(self, path: &str) -> Result<ListSource, E> {
                Ok(ListSource::from(PathBuf::from(path)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ListSource, A::Error> {
                let t = ListSourceTable::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(ListSource {
                    path: t.path,
                    name: t.name,
                    format: t.format,
                    algorithm: t.algorithm,
                    category: t.category,
                    manifest: t.manifest,
                    lenient: t.lenient,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
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

/// `[text]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TextConfig {
    /// Keywords and rules search a message's text up to this many bytes (cut at a character
    /// boundary); a longer text is reported with `text_truncated`, never silently cut.
    pub max_scan_bytes: u64,
}

impl Default for TextConfig {
    fn default() -> Self {
        TextConfig {
            max_scan_bytes: defaults::TEXT_MAX_SCAN_BYTES,
        }
    }
}

/// `[kafka]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// Consumer group.
    pub group_id: String,
    /// Topics carrying DMs.
    pub input_topics: Vec<String>,
    /// Where flags go.
    pub review_topic: String,
    /// Where unscannable records go.
    pub dead_letter_topic: String,
    /// Where one verdict per scanned record goes (for audit and coverage); none if unset.
    pub verdict_topic: Option<String>,
    /// Delivery guarantee.
    pub delivery: Delivery,
    /// Most records dispatched to scanning but not completed; the rest wait in a local queue.
    pub max_in_flight: usize,
    /// When the records waiting for dispatch reach this size, the assignment is paused, and
    /// resumed at half. Pausing discards what the client prefetched (it is fetched again on
    /// resume), so the bound is large enough to make that rare and the refetch overlap work.
    pub max_buffered_bytes: u64,
    /// Scanning threads; 0 means one per available CPU.
    pub worker_threads: usize,
    /// Bound on draining in-flight work at shutdown (and at partition revocation).
    pub shutdown_timeout_secs: u64,
    /// Exactly-once: how often the open transaction is committed.
    pub transaction_interval_ms: u64,
    /// At-least-once: how often the completed offsets are committed (a crash redelivers at
    /// most this much).
    pub commit_interval_ms: u64,
    /// Exactly-once: the producer's `transactional.id`; empty means
    /// `<group_id>-<hostname>-<admin port>`. Keep it stable across restarts of one instance
    /// and distinct between instances.
    pub transactional_id: String,
    /// `/healthz` fails when the poll loop has not progressed for this long.
    pub stall_timeout_secs: u64,
    /// Also dead-letter records that were scanned only in part (an attachment could not be
    /// fetched, decoded or was too large), so they can be replayed after a fix.
    pub dead_letter_partial: bool,
    /// At-least-once: a record that ends this many vigil processes (an abort or an
    /// out-of-memory kill) while it is the only record in flight is dead-lettered
    /// (`crash_loop`) instead of being scanned again; 0 turns the crash-loop breaker off.
    pub crash_loop_limit: u32,
    /// `[kafka.tls]`: TLS to the brokers; unset: plaintext.
    pub tls: Option<TlsConfig>,
    /// `[kafka.sasl]`: SASL authentication; unset: none.
    pub sasl: Option<SaslConfig>,
    /// `[kafka.client]`: librdkafka properties passed to the consumer and the producer as is
    /// (e.g. `"security.protocol" = "SASL_SSL"`). Values of secret-looking keys are redacted in
    /// `Debug`.
    pub client: ClientProperties,
    /// `[kafka.consumer]`: librdkafka properties for the consumer only (after `client`).
    pub consumer: ClientProperties,
    /// `[kafka.producer]`: librdkafka properties for the producer only (after `client`).
    pub producer: ClientProperties,
}

/// How strongly each input record is tied to its outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Offsets are stored only after every output of a record is acknowledged; a crash may
    /// repeat outputs (with identical flag ids), never lose them.
    #[default]
    AtLeastOnce,
    /// Outputs and offsets are committed in one Kafka transaction; consumers reading with
    /// `isolation.level=read_committed` see each output once.
    ExactlyOnce,
}

/// librdkafka properties; `Debug` redacts the values of keys that look secret.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ClientProperties(pub std::collections::BTreeMap<String, String>);

impl ClientProperties {
    /// Whether `key` names a secret (password, secret, private key material).
    pub fn is_secret(key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        ["password", "secret", "key.pem", "private", "token"]
            .iter()
            .any(|needle| key.contains(needle))
    }
}

impl std::fmt::Debug for ClientProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if ClientProperties::is_secret(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

/// A password. `Debug` and serialisation show `<redacted>`, and a value of another type than
/// a string is refused without being echoed (an unquoted numeric password in an environment
/// override would otherwise appear in the error).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must pass it on (the Kafka client).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "writeOnly": true })
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl Visitor {
            fn refuse<E: serde::de::Error>(self) -> Result<Secret, E> {
                Err(E::custom(
                    "must be a string (quote it in TOML and in VIGIL_* overrides)",
                ))
            }
        }
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Secret, E> {
                Ok(Secret::new(value))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
                self.refuse()
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
                self.refuse()
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
                self.refuse()
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
                self.refuse()
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// `[kafka.tls]`: TLS to the brokers (librdkafka `security.protocol` `SSL`, or `SASL_SSL`
/// with `[kafka.sasl]`). Paths resolve against the configuration file's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// CA certificates (PEM) the brokers' certificates must chain to; unset: the system's.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), for brokers that require one; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// The password of `key_file`, if it is encrypted.
    pub key_password: Option<Secret>,
    /// Check that a broker's certificate names the host vigil connected to.
    pub verify_hostname: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_file: None,
            cert_file: None,
            key_file: None,
            key_password: None,
            verify_hostname: true,
        }
    }
}

/// `[kafka.sasl]`: SASL authentication (librdkafka `security.protocol` `SASL_SSL` with
/// `[kafka.tls]`, else `SASL_PLAINTEXT`). The password comes from exactly one of `password`,
/// `password_file` and `password_env`, read once when the configuration is loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// The SASL mechanism.
    pub mechanism: SaslMechanism,
    /// The principal's user name.
    pub username: String,
    /// The password itself (prefer `password_file` or `password_env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A file holding the password (one trailing line break is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// The password from whichever source is set.
    #[serde(skip)]
    resolved: Secret,
}

impl SaslConfig {
    /// The password, read from its source when the configuration was loaded.
    pub fn password(&self) -> &Secret {
        &self.resolved
    }
}

/// `kafka.sasl.mechanism`. GSSAPI (Kerberos) and OAUTHBEARER are not built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SaslMechanism {
    /// SCRAM with SHA-256: the password never crosses the wire.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    /// The password in clear text: only over TLS.
    #[serde(rename = "PLAIN")]
    Plain,
}

impl SaslMechanism {
    /// The name librdkafka and Kafka use.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::Plain => "PLAIN",
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: defaults::KAFKA_BROKERS.into(),
            group_id: defaults::KAFKA_GROUP_ID.into(),
            input_topics: vec![defaults::KAFKA_INPUT_TOPIC.into()],
            review_topic: defaults::KAFKA_REVIEW_TOPIC.into(),
            dead_letter_topic: defaults::KAFKA_DEAD_LETTER_TOPIC.into(),
            verdict_topic: None,
            delivery: Delivery::default(),
            max_in_flight: defaults::KAFKA_MAX_IN_FLIGHT,
            max_buffered_bytes: defaults::KAFKA_MAX_BUFFERED_BYTES,
            worker_threads: 0,
            shutdown_timeout_secs: defaults::KAFKA_SHUTDOWN_TIMEOUT_SECS,
            transaction_interval_ms: defaults::KAFKA_TRANSACTION_INTERVAL_MS,
            commit_interval_ms: defaults::KAFKA_COMMIT_INTERVAL_MS,
            transactional_id: String::new(),
            stall_timeout_secs: defaults::KAFKA_STALL_TIMEOUT_SECS,
            dead_letter_partial: true,
            crash_loop_limit: defaults::KAFKA_CRASH_LOOP_LIMIT,
            tls: None,
            sasl: None,
            client: ClientProperties::default(),
            consumer: ClientProperties::default(),
            producer: ClientProperties::default(),
        }
    }
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin HTTP server (metrics, health).
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: defaults::ADMIN_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9464))),
        }
    }
}

/// `[review]`: the review console, `vigil review`. It reads the review topics with the
/// `[kafka]` section's brokers and security settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// Address of the console's HTTP server.
    pub listen: SocketAddr,
    /// Address of the console's `/metrics` and `/healthz`, apart from the pages people use
    /// (and from the sign-in proxy): for Prometheus and probes.
    pub metrics_listen: SocketAddr,
    /// PostgreSQL connection URL of the console's runtime role; it holds the database
    /// password, so `Debug` redacts it.
    pub database_url: Secret,
    /// PostgreSQL connection URL of the role that owns the review store (redacted too):
    /// `vigil review migrate` migrates as it and grants `database_url`'s role what the
    /// console needs. Keep it out of the console's own environment where a migration job
    /// can run instead; the console uses it only when it finds the schema behind.
    pub owner_database_url: Option<Secret>,
    /// Allow the console to run as the role that owns the review store, which could then
    /// alter its own access log (development and tests; refused otherwise).
    pub single_role: bool,
    /// Consumer group on the review topics.
    pub group_id: String,
    /// Review topics to read; empty: `kafka.review_topic` and every route's topic.
    pub topics: Vec<String>,
    /// Where every decision is produced (no content).
    pub decisions_topic: String,
    /// How long a claim keeps an item away from other reviewers.
    pub lease_secs: u64,
    /// Message text and images are deleted this many days after they were stored; flags,
    /// decisions and the access log stay.
    pub content_retention_days: u32,
    /// How long a login lasts.
    pub session_ttl_secs: u64,
    /// A session unused this long ends (the person signs in again).
    pub session_idle_timeout_secs: u64,
    /// Revealing an image needs the person to have proved who they are within this long: the
    /// password again, or in `proxy` mode a fresh sign-in at `proxy_reauth_url`.
    pub reauth_after_secs: u64,
    /// Bound on fetching one flagged message from its source topic before retrying.
    pub content_fetch_timeout_ms: u64,
    /// How long a client may take to send a request's headers before its connection is
    /// closed (a client trickling them would otherwise hold the connection).
    pub header_read_timeout_ms: u64,
    /// Session cookies carry `Secure` (set false only to try the console over plain HTTP on
    /// localhost).
    pub secure_cookies: bool,
    /// How people sign in: `local` (accounts with passwords) or `proxy` (a trusted reverse
    /// proxy that authenticated them names the account in `proxy_user_header`).
    pub auth: ReviewAuth,
    /// `proxy` mode: the request header carrying the account's user name.
    pub proxy_user_header: String,
    /// `proxy` mode: where to send a person to sign in afresh at the proxy before a reveal
    /// (e.g. oauth2-proxy's `/oauth2/sign_in?rd={next}` with its provider asked to prompt
    /// for the login); `{next}` becomes the console path to return to, URL-encoded.
    /// Required in `proxy` mode.
    pub proxy_reauth_url: Option<String>,
    /// The addresses of the reverse proxies in front of the console. Their
    /// `X-Forwarded-For` is believed: the client is the right-most address in it that is not
    /// one of them (for the access log and sign-in throttling). In `proxy` mode they are the
    /// only peers allowed to send requests, so the user header cannot be forged around them.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// How people sign in to the review console.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAuth {
    /// Local accounts with argon2id password hashes.
    #[default]
    Local,
    /// A trusted reverse proxy (SSO) authenticates and names the account in a header; the
    /// account must exist and its role comes from the console, never from the proxy.
    Proxy,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            listen: defaults::REVIEW_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8480))),
            metrics_listen: defaults::REVIEW_METRICS_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9465))),
            database_url: Secret::new(defaults::REVIEW_DATABASE_URL),
            owner_database_url: None,
            single_role: false,
            group_id: defaults::REVIEW_GROUP_ID.to_string(),
            topics: Vec::new(),
            decisions_topic: defaults::REVIEW_DECISIONS_TOPIC.to_string(),
            lease_secs: defaults::REVIEW_LEASE_SECS,
            content_retention_days: defaults::REVIEW_CONTENT_RETENTION_DAYS,
            session_ttl_secs: defaults::REVIEW_SESSION_TTL_SECS,
            session_idle_timeout_secs: defaults::REVIEW_SESSION_IDLE_TIMEOUT_SECS,
            reauth_after_secs: defaults::REVIEW_REAUTH_AFTER_SECS,
            content_fetch_timeout_ms: defaults::REVIEW_CONTENT_FETCH_TIMEOUT_MS,
            header_read_timeout_ms: defaults::REVIEW_HEADER_READ_TIMEOUT_MS,
            secure_cookies: true,
            auth: ReviewAuth::Local,
            proxy_user_header: defaults::REVIEW_PROXY_USER_HEADER.to_string(),
            proxy_reauth_url: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ReviewConfig {
    /// The review topics the console reads: `review.topics`, or by default every topic
    /// `vigil run` writes flags to.
    pub fn review_topics(&self, config: &Config) -> Vec<String> {
        if !self.topics.is_empty() {
            return self.topics.clone();
        }
        let mut topics = vec![config.kafka.review_topic.clone()];
        for route in &config.routes {
            if !topics.contains(&route.topic) {
                topics.push(route.topic.clone());
            }
        }
        topics
    }

    fn validate(&self) -> Result<(), Invalid> {
        let postgres = |url: &Secret| {
            url.expose().starts_with("postgres://") || url.expose().starts_with("postgresql://")
        };
        // The values themselves are not echoed: they hold passwords.
        if !postgres(&self.database_url) {
            return Err(Invalid::new(
                "review.database_url",
                "must be a postgres:// or postgresql:// URL",
            ));
        }
        if let Some(owner) = &self.owner_database_url {
            if !postgres(owner) {
                return Err(Invalid::new(
                    "review.owner_database_url",
                    "must be a postgres:// or postgresql:// URL",
                ));
            }
            if owner.expose() == self.database_url.expose() {
                return Err(Invalid::new(
                    "review.owner_database_url",
                    "must name another role than review.database_url (the point is two)",
                ));
            }
        }
        if self.metrics_listen == self.listen {
            return Err(Invalid::new(
                "review.metrics_listen",
                "must differ from review.listen",
            ));
        }
        if self.group_id.trim().is_empty() {
            return Err(Invalid::new("review.group_id", "must not be empty"));
        }
        for topic in &self.topics {
            check_topic("review.topics", topic)?;
        }
        check_topic("review.decisions_topic", &self.decisions_topic)?;
        if self.auth == ReviewAuth::Proxy {
            if self.trusted_proxies.is_empty() {
                return Err(Invalid::new(
                    "review.trusted_proxies",
                    "proxy sign-in needs the proxy's addresses (anyone else could send the header)",
                ));
            }
            if !is_header_name(&self.proxy_user_header) {
                return Err(Invalid::new(
                    "review.proxy_user_header",
                    format!("`{}` is not a header name", self.proxy_user_header),
                ));
            }
            match self.proxy_reauth_url.as_deref() {
                Some(url)
                    if url.starts_with('/')
                        || url.starts_with("https://")
                        || url.starts_with("http://") => {}
                _ => {
                    return Err(Invalid::new(
                        "review.proxy_reauth_url",
                        "proxy sign-in needs the proxy's URL for a fresh sign-in before a reveal \
                         (a path or http(s) URL, `{next}` for the page to return to)",
                    ));
                }
            }
        }
        for (key, value) in [
            ("review.lease_secs", self.lease_secs),
            (
                "review.content_retention_days",
                u64::from(self.content_retention_days),
            ),
            ("review.session_ttl_secs", self.session_ttl_secs),
            (
                "review.session_idle_timeout_secs",
                self.session_idle_timeout_secs,
            ),
            ("review.reauth_after_secs", self.reauth_after_secs),
            (
                "review.content_fetch_timeout_ms",
                self.content_fetch_timeout_ms,
            ),
            ("review.header_read_timeout_ms", self.header_read_timeout_ms),
        ] {
            if value == 0 {
                return Err(Invalid::new(key, "must be at least 1"));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Reads `path`, applies overrides from `env` (pass `std::env::vars()`), resolves relative
    /// paths against the file's directory and validates.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        load(path, env)
    }

    /// The defaults with `env` overrides applied (used when there is no config file); relative
    /// paths resolve against `base`.
    pub fn from_env(
        base: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        from_env(base, env)
    }

    /// Parses TOML `text`; `origin` names it in errors.
    pub fn from_toml(
        text: &str,
        origin: &str,
        base: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        from_toml(text, origin, base, env)
    }
}

impl Section for Config {
    fn resolve_paths(&mut self, base: &Path) {
        let lists = &mut self.lists;
        let sources = lists
            .hash_lists
            .iter_mut()
            .chain(lists.keyword_lists.iter_mut());
        let source_paths =
            sources.flat_map(|s| std::iter::once(&mut s.path).chain(s.manifest.as_mut()));
        resolve(
            base,
            source_paths
                .chain(lists.trusted_keys.iter_mut())
                .chain(lists.ledger_file.iter_mut())
                .chain(self.attachments.file_roots.iter_mut())
                .chain(self.kafka.paths_mut()),
        );
    }

    /// Checks ranges and cross-field rules; returns the offending key and what is wrong.
    fn validate(&self) -> Result<(), Invalid> {
        let m = &self.matching;
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
        if m.pdq_min_quality > 100 {
            return Err(Invalid::new(
                "match.pdq_min_quality",
                format!("{} is not a quality (0 to 100)", m.pdq_min_quality),
            ));
        }
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
        let a = &self.attachments;
        for (key, value) in [
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
        ] {
            if value == 0 {
                return Err(Invalid::new(key, "must be at least 1"));
            }
        }
        if a.max_total_bytes_per_message < a.max_bytes {
            return Err(Invalid::new(
                "attachments.max_total_bytes_per_message",
                format!(
                    "{} is below attachments.max_bytes ({}): no maximal attachment could be scanned",
                    a.max_total_bytes_per_message, a.max_bytes
                ),
            ));
        }
        if self.input.max_message_bytes == 0 {
            return Err(Invalid::new(
                "input.max_message_bytes",
                "must be at least 1",
            ));
        }
        if self.text.max_scan_bytes == 0 {
            return Err(Invalid::new("text.max_scan_bytes", "must be at least 1"));
        }
        self.lists.validate()?;
        self.kafka.validate()?;
        self.review.validate()?;
        for route in &self.routes {
            if route.category.trim().is_empty() {
                return Err(Invalid::new("routes.category", "must not be empty"));
            }
            check_topic("routes.topic", &route.topic)?;
            self.kafka
                .check_output_topic("routes.topic", &route.topic)?;
        }
        Ok(())
    }

    fn read_secrets(&mut self, env: &[(String, String)]) -> Result<(), Invalid> {
        self.kafka.read_secrets(env)
    }
}

impl KafkaConfig {
    fn validate(&self) -> Result<(), Invalid> {
        if self.brokers.trim().is_empty() {
            return Err(Invalid::new(
                "kafka.brokers",
                "must name at least one host:port",
            ));
        }
        for broker in self.brokers.split(',').map(str::trim) {
            let valid = broker.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !valid {
                return Err(Invalid::new(
                    "kafka.brokers",
                    format!("`{broker}` is not host:port"),
                ));
            }
        }
        if self.group_id.trim().is_empty() {
            return Err(Invalid::new("kafka.group_id", "must not be empty"));
        }
        if self.input_topics.is_empty() {
            return Err(Invalid::new(
                "kafka.input_topics",
                "must name at least one topic",
            ));
        }
        for topic in &self.input_topics {
            check_topic("kafka.input_topics", topic)?;
        }
        check_topic("kafka.review_topic", &self.review_topic)?;
        check_topic("kafka.dead_letter_topic", &self.dead_letter_topic)?;
        if self.review_topic == self.dead_letter_topic {
            return Err(Invalid::new(
                "kafka.dead_letter_topic",
                "must differ from kafka.review_topic",
            ));
        }
        self.check_output_topic("kafka.review_topic", &self.review_topic)?;
        self.check_output_topic("kafka.dead_letter_topic", &self.dead_letter_topic)?;
        if let Some(topic) = &self.verdict_topic {
            check_topic("kafka.verdict_topic", topic)?;
            self.check_output_topic("kafka.verdict_topic", topic)?;
            if topic == &self.review_topic || topic == &self.dead_letter_topic {
                return Err(Invalid::new(
                    "kafka.verdict_topic",
                    "must differ from the review and dead-letter topics",
                ));
            }
        }
        let positive = [
            ("kafka.max_in_flight", self.max_in_flight as u64),
            ("kafka.max_buffered_bytes", self.max_buffered_bytes),
            ("kafka.shutdown_timeout_secs", self.shutdown_timeout_secs),
            (
                "kafka.transaction_interval_ms",
                self.transaction_interval_ms,
            ),
            ("kafka.commit_interval_ms", self.commit_interval_ms),
            ("kafka.stall_timeout_secs", self.stall_timeout_secs),
        ];
        check_positive(positive)?;
        // vigil owns these: letting them through would silently break its delivery guarantee.
        let owned = [
            "bootstrap.servers",
            "group.id",
            "enable.auto.commit",
            "enable.auto.offset.store",
            "enable.idempotence",
            "transactional.id",
            "isolation.level",
        ];
        for (section, properties) in [
            ("kafka.client", &self.client),
            ("kafka.consumer", &self.consumer),
            ("kafka.producer", &self.producer),
        ] {
            if let Some(key) = properties.0.keys().find(|k| owned.contains(&k.as_str())) {
                return Err(Invalid::new(
                    section,
                    format!("`{key}` is set by vigil itself (use the [kafka] keys)"),
                ));
            }
        }
        self.validate_security()
    }

    /// The paths of `[kafka.tls]` and `[kafka.sasl]`, to resolve against the file's directory.
    fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        let tls = self.tls.iter_mut().flat_map(|t| {
            t.ca_file
                .iter_mut()
                .chain(t.cert_file.iter_mut())
                .chain(t.key_file.iter_mut())
        });
        tls.chain(
            self.sasl
                .iter_mut()
                .flat_map(|s| s.password_file.iter_mut()),
        )
    }

    /// `[kafka.tls]` and `[kafka.sasl]`: files readable, one password source, no clear-text
    /// password on the wire.
    fn validate_security(&self) -> Result<(), Invalid> {
        if let Some(tls) = &self.tls {
            for (key, path) in [
                ("kafka.tls.ca_file", &tls.ca_file),
                ("kafka.tls.cert_file", &tls.cert_file),
                ("kafka.tls.key_file", &tls.key_file),
            ] {
                if let Some(path) = path {
                    check_readable(key, path)?;
                }
            }
            match (&tls.cert_file, &tls.key_file) {
                (Some(_), None) => {
                    return Err(Invalid::new(
                        "kafka.tls.key_file",
                        "is needed with cert_file",
                    ));
                }
                (None, Some(_)) => {
                    return Err(Invalid::new(
                        "kafka.tls.cert_file",
                        "is needed with key_file",
                    ));
                }
                _ => {}
            }
            if tls.key_password.is_some() && tls.key_file.is_none() {
                return Err(Invalid::new(
                    "kafka.tls.key_password",
                    "is set without kafka.tls.key_file",
                ));
            }
        }
        let Some(sasl) = &self.sasl else {
            return Ok(());
        };
        if sasl.username.trim().is_empty() {
            return Err(Invalid::new("kafka.sasl.username", "must not be empty"));
        }
        let sources = [
            sasl.password.is_some(),
            sasl.password_file.is_some(),
            sasl.password_env.is_some(),
        ];
        match sources.iter().filter(|set| **set).count() {
            0 => {
                return Err(Invalid::new(
                    "kafka.sasl.password",
                    "no password: set one of password, password_file, password_env",
                ));
            }
            1 => {}
            _ => {
                return Err(Invalid::new(
                    "kafka.sasl.password",
                    "set only one of password, password_file, password_env",
                ));
            }
        }
        if let Some(path) = &sasl.password_file {
            check_readable("kafka.sasl.password_file", path)?;
        }
        if sasl.mechanism == SaslMechanism::Plain && self.tls.is_none() {
            return Err(Invalid::new(
                "kafka.sasl.mechanism",
                "PLAIN sends the password in clear text: configure [kafka.tls] too, or use SCRAM",
            ));
        }
        Ok(())
    }

    /// Reads the SASL password from its source (after [`KafkaConfig::validate`]); `env` is
    /// the process environment. Errors never quote the password.
    fn read_secrets(&mut self, env: &[(String, String)]) -> Result<(), Invalid> {
        let Some(sasl) = &mut self.sasl else {
            return Ok(());
        };
        let (key, password) = if let Some(password) = &sasl.password {
            ("kafka.sasl.password", password.expose().to_string())
        } else if let Some(path) = &sasl.password_file {
            let key = "kafka.sasl.password_file";
            let bytes = std::fs::read(path)
                .map_err(|e| Invalid::new(key, format!("cannot read {}: {e}", path.display())))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Invalid::new(key, format!("{} is not UTF-8", path.display())))?;
            let password = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            (key, password.to_string())
        } else if let Some(var) = &sasl.password_env {
            let value = env.iter().find(|(name, _)| name == var).map(|(_, v)| v);
            let value = value.ok_or_else(|| {
                Invalid::new(
                    "kafka.sasl.password_env",
                    format!("environment variable {var} is not set"),
                )
            })?;
            ("kafka.sasl.password_env", value.clone())
        } else {
            return Err(Invalid::new("kafka.sasl.password", "no password"));
        };
        if password.is_empty() {
            return Err(Invalid::new(key, "the password is empty"));
        }
        sasl.resolved = Secret::new(password);
        Ok(())
    }

    /// An output topic must not be consumed by vigil itself.
    fn check_output_topic(&self, key: &'static str, topic: &str) -> Result<(), Invalid> {
        if self.input_topics.iter().any(|t| t == topic) {
            return Err(Invalid::new(
                key,
                format!("`{topic}` is also an input topic: vigil would consume its own output"),
            ));
        }
        Ok(())
    }
}

/// A TOML syntax error as line, column and message: the parser's own rendering quotes the
/// offending line, which may hold a password.
fn syntax_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    let Some(before) = error.span().and_then(|span| text.get(..span.start)) else {
        return message.to_string();
    };
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

/// Kafka topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
/// Whether `name` is a legal HTTP header name (an RFC 9110 token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn check_topic(key: &'static str, topic: &str) -> Result<(), Invalid> {
    let legal = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if legal {
        Ok(())
    } else {
        Err(Invalid::new(
            key,
            format!("`{topic}` is not a legal Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)"),
        ))
    }
}

/// Applies `VIGIL_A__B=value` overrides; returns (variable, dotted key) for each applied.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut applied = Vec::new();
    let mut env: Vec<(String, String)> = env.into_iter().collect();
    env.sort();
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix("VIGIL_") else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let key = segments.join(".");
        let invalid = |message: String| ConfigError::Invalid {
            key: key.clone(),
            message,
            origin: format!("environment variable {var}"),
        };
        if segments.iter().any(String::is_empty) {
            return Err(invalid(
                "empty key segment (use single `__` between keys)".into(),
            ));
        }
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        let (last, parents) = segments
            .split_last()
            .ok_or_else(|| invalid("empty key".into()))?;
        let mut node = &mut *table;
        for segment in parents {
            let entry = node
                .entry(segment.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            node = entry
                .as_table_mut()
                .ok_or_else(|| invalid(format!("`{segment}` is not a section")))?;
        }
        node.insert(last.clone(), value);
        applied.push((var, key));
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_toml(text, "test.toml", Path::new("/etc/vigil"), env)
    }

    fn invalid_key(result: Result<Config, ConfigError>) -> (String, String, String) {
        match result {
            Err(ConfigError::Invalid {
                key,
                message,
                origin,
            }) => (key, message, origin),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse("", &[]).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.matching.pdq_max_distance, 31);
        assert_eq!(config.kafka.input_topics, ["dms"]);
    }

    #[test]
    fn issue_example_parses_and_resolves_paths() {
        let text = r#"
            [lists]
            hash_lists = [
                "lists/sample-hashes.csv",
                { path = "/abs/ncmec.txt", format = "hma", category = "ncmec", manifest = "m.json" },
            ]
            keyword_lists = ["lists/sample-keywords.csv"]
            trusted_keys = ["keys/iwf.pub"]
            [match]
            pdq_max_distance = 31
            pdq_min_quality = 50
            [kafka]
            brokers = "127.0.0.1:9092"
            group_id = "vigil"
            input_topics = ["dms"]
            review_topic = "vigil.flags"
            dead_letter_topic = "vigil.dlq"
            [admin]
            listen = "127.0.0.1:9464"
        "#;
        let config = parse(text, &[]).unwrap();
        let lists = &config.lists;
        assert_eq!(
            lists.hash_lists[0],
            ListSource::from(PathBuf::from("/etc/vigil/lists/sample-hashes.csv"))
        );
        let ncmec = &lists.hash_lists[1];
        assert_eq!(ncmec.path, PathBuf::from("/abs/ncmec.txt"));
        assert_eq!(ncmec.format, Some(ListFormat::Hma));
        assert_eq!(ncmec.category.as_deref(), Some("ncmec"));
        assert_eq!(ncmec.manifest, Some(PathBuf::from("/etc/vigil/m.json")));
        assert_eq!(
            lists.trusted_keys,
            [PathBuf::from("/etc/vigil/keys/iwf.pub")]
        );
        assert_eq!(lists.reload_interval_ms, defaults::LISTS_RELOAD_INTERVAL_MS);
    }

    #[test]
    fn bad_keys_are_named() {
        let table = [
            (
                "[kafka]\nbrokerz = \"x:1\"",
                "kafka.brokerz",
                "unknown field",
            ),
            (
                "[lists]\nhash_lists = [{ path = \"a.txt\", fromat = \"hma\" }]",
                "lists.hash_lists[0].fromat",
                "unknown field `fromat`",
            ),
            (
                "[lists]\nhash_lists = [{ path = \"a.txt\", format = \"xml\" }]",
                "lists.hash_lists[0].format",
                "unknown variant `xml`",
            ),
            (
                "[match]\npdq_max_distance = \"far\"",
                "match.pdq_max_distance",
                "invalid type",
            ),
            (
                "[match]\npdq_max_distance = 200",
                "match.pdq_max_distance",
                "above 64",
            ),
            (
                "[match]\npdq_min_quality = 101",
                "match.pdq_min_quality",
                "0 to 100",
            ),
            (
                "[kafka]\nbrokers = \"localhost\"",
                "kafka.brokers",
                "not host:port",
            ),
            (
                "[kafka]\ninput_topics = []",
                "kafka.input_topics",
                "at least one",
            ),
            (
                "[kafka]\nreview_topic = \"bad topic\"",
                "kafka.review_topic",
                "legal Kafka topic",
            ),
            (
                "[kafka]\nreview_topic = \"dms\"",
                "kafka.review_topic",
                "also an input topic",
            ),
            (
                "[kafka]\ndead_letter_topic = \"vigil.flags\"",
                "kafka.dead_letter_topic",
                "differ",
            ),
            ("[admin]\nlisten = \"nowhere\"", "admin.listen", "invalid"),
            (
                "[attachments]\nmax_bytes = 0",
                "attachments.max_bytes",
                "at least 1",
            ),
            (
                "[lists]\nallow_unsigned = true\ntrusted_keys = [\"lists.pub\"]",
                "lists.allow_unsigned",
                "cannot be true",
            ),
            (
                "[attachments]\nmax_attachments_per_message = 0",
                "attachments.max_attachments_per_message",
                "at least 1",
            ),
            (
                "[attachments]\nmax_total_bytes_per_message = 1000",
                "attachments.max_total_bytes_per_message",
                "below attachments.max_bytes",
            ),
            ("[nonsense]\nx = 1", "nonsense", "unknown field"),
            (
                "[kafka]\ndelivery = \"twice\"",
                "kafka.delivery",
                "unknown variant",
            ),
            (
                "[kafka]\nmax_in_flight = 0",
                "kafka.max_in_flight",
                "at least 1",
            ),
            (
                "[kafka]\nverdict_topic = \"dms\"",
                "kafka.verdict_topic",
                "also an input topic",
            ),
            (
                "[kafka]\nverdict_topic = \"vigil.dlq\"",
                "kafka.verdict_topic",
                "must differ",
            ),
            (
                "[kafka.producer]\n\"transactional.id\" = \"x\"",
                "kafka.producer",
                "set by vigil",
            ),
            (
                "[kafka.client]\n\"group.id\" = \"x\"",
                "kafka.client",
                "set by vigil",
            ),
            (
                "[[routes]]\ncategory = \"A\"\ntopic = \"dms\"",
                "routes.topic",
                "input topic",
            ),
            (
                "[[routes]]\ncategory = \"A\"",
                "routes[0]",
                "missing field `topic`",
            ),
        ];
        for (text, key, needle) in table {
            let (got_key, message, origin) = invalid_key(parse(text, &[]));
            assert_eq!(got_key, key, "{text}");
            assert!(message.contains(needle), "{text}: {message}");
            assert_eq!(origin, "test.toml");
        }
    }

    #[test]
    fn kafka_runtime_keys_and_routes() {
        let text = r#"
            [kafka]
            verdict_topic = "vigil.verdicts"
            delivery = "exactly-once"
            max_in_flight = 64
            [kafka.client]
            "security.protocol" = "SASL_SSL"
            "sasl.password" = "hunter2"
            [[routes]]
            category = "A"
            topic = "vigil.flags.urgent"
            [[routes]]
            category = "grooming.secrecy"
            topic = "vigil.flags.grooming"
        "#;
        let config = parse(text, &[]).unwrap();
        assert_eq!(config.kafka.delivery, Delivery::ExactlyOnce);
        assert_eq!(config.kafka.max_in_flight, 64);
        let cats = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(config.route(&cats(&["B", "A"])), "vigil.flags.urgent");
        assert_eq!(
            config.route(&cats(&["grooming.secrecy"])),
            "vigil.flags.grooming"
        );
        assert_eq!(config.route(&cats(&["B"])), "vigil.flags");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("SASL_SSL"), "{debug}");
    }

    /// A directory with the files `[kafka.tls]` and `[kafka.sasl]` name (contents are not
    /// checked here: the Kafka client reads them).
    fn security_files() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in ["ca.pem", "client.pem", "client.key"] {
            std::fs::write(dir.path().join(name), "-----BEGIN-----\n").unwrap();
        }
        std::fs::write(dir.path().join("password"), "s3cr3t-from-file\n").unwrap();
        dir
    }

    const SECURED: &str = r#"
        [kafka.tls]
        ca_file = "ca.pem"
        cert_file = "client.pem"
        key_file = "client.key"
        key_password = "k3y-passw0rd"
        [kafka.sasl]
        mechanism = "SCRAM-SHA-512"
        username = "vigil"
        password_file = "password"
    "#;

    #[test]
    fn tls_and_sasl_resolve_paths_read_the_password_and_redact_it() {
        let dir = security_files();
        let config = Config::from_toml(SECURED, "test.toml", dir.path(), []).unwrap();
        let tls = config.kafka.tls.as_ref().unwrap();
        assert_eq!(tls.ca_file, Some(dir.path().join("ca.pem")));
        assert_eq!(tls.key_file, Some(dir.path().join("client.key")));
        assert!(tls.verify_hostname);
        let sasl = config.kafka.sasl.as_ref().unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
        assert_eq!(sasl.password_file, Some(dir.path().join("password")));
        // One trailing line break (as `echo` writes) is not part of the password.
        assert_eq!(sasl.password().expose(), "s3cr3t-from-file");
        let debug = format!("{config:?} {config:#?}");
        for secret in ["s3cr3t-from-file", "k3y-passw0rd"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("<redacted>"), "{debug}");
        let serialized = serde_json::to_string(&config).unwrap();
        assert!(!serialized.contains("k3y-passw0rd"), "{serialized}");
    }

    #[test]
    fn sasl_passwords_come_from_exactly_one_source() {
        let dir = security_files();
        let sasl = |source: &str| {
            format!("[kafka.tls]\n[kafka.sasl]\nmechanism = \"PLAIN\"\nusername = \"u\"\n{source}")
        };
        let load = |text: &str, env: &[(&str, &str)]| {
            let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
            Config::from_toml(text, "test.toml", dir.path(), env)
        };
        let config = load(&sasl("password = \"inline-pw\""), &[]).unwrap();
        let password = |c: &Config| {
            c.kafka
                .sasl
                .as_ref()
                .unwrap()
                .password()
                .expose()
                .to_string()
        };
        assert_eq!(password(&config), "inline-pw");
        let config = load(
            &sasl("password_env = \"KAFKA_PW\""),
            &[("KAFKA_PW", "env-pw")],
        )
        .unwrap();
        assert_eq!(password(&config), "env-pw");
        // The whole section from the environment, the password through another variable.
        let config = load(
            "",
            &[
                ("VIGIL_KAFKA__TLS__VERIFY_HOSTNAME", "false"),
                ("VIGIL_KAFKA__SASL__MECHANISM", "SCRAM-SHA-256"),
                ("VIGIL_KAFKA__SASL__USERNAME", "vigil"),
                ("VIGIL_KAFKA__SASL__PASSWORD_ENV", "KAFKA_PW"),
                ("KAFKA_PW", "env-pw"),
            ],
        )
        .unwrap();
        assert_eq!(password(&config), "env-pw");
        assert!(!config.kafka.tls.as_ref().unwrap().verify_hostname);

        /// (configuration, environment, the key named, a word of the message)
        type Case<'a> = (String, &'a [(&'a str, &'a str)], &'a str, &'a str);
        let table: &[Case<'_>] = &[
            (sasl(""), &[], "kafka.sasl.password", "no password"),
            (
                sasl("password = \"a\"\npassword_env = \"KAFKA_PW\""),
                &[("KAFKA_PW", "b")],
                "kafka.sasl.password",
                "only one",
            ),
            (
                sasl("password_env = \"KAFKA_PW\""),
                &[],
                "kafka.sasl.password_env",
                "KAFKA_PW is not set",
            ),
            (
                sasl("password_file = \"missing\""),
                &[],
                "kafka.sasl.password_file",
                "not a file",
            ),
            (sasl("password = \"\""), &[], "kafka.sasl.password", "empty"),
            (
                "[kafka.sasl]\nmechanism = \"GSSAPI\"\nusername = \"u\"\npassword = \"x\"".into(),
                &[],
                "kafka.sasl.mechanism",
                "unknown variant",
            ),
            (
                "[kafka.sasl]\nmechanism = \"PLAIN\"\nusername = \"u\"\npassword = \"x\"".into(),
                &[],
                "kafka.sasl.mechanism",
                "clear text",
            ),
            (
                "[kafka.tls]\nca_file = \"nowhere.pem\"".into(),
                &[],
                "kafka.tls.ca_file",
                "nowhere.pem",
            ),
            (
                "[kafka.tls]\ncert_file = \"client.pem\"".into(),
                &[],
                "kafka.tls.key_file",
                "needed with cert_file",
            ),
            (
                "[kafka.tls]\nkey_password = \"x\"".into(),
                &[],
                "kafka.tls.key_password",
                "without kafka.tls.key_file",
            ),
            (
                "[kafka.tls]\ncafile = \"ca.pem\"".into(),
                &[],
                "kafka.tls.cafile",
                "unknown field",
            ),
        ];
        for (text, env, key, needle) in table {
            let (got_key, message, _) = invalid_key(load(text, env));
            assert_eq!(got_key, *key, "{text}");
            assert!(message.contains(needle), "{text}: {message}");
        }
    }

    #[test]
    fn errors_never_quote_a_password() {
        // An unquoted numeric password from the environment is a TOML integer.
        let (key, message, origin) = invalid_key(parse(
            "[kafka.sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"u\"",
            &[("VIGIL_KAFKA__SASL__PASSWORD", "918273645")],
        ));
        assert_eq!(key, "kafka.sasl.password");
        assert!(message.contains("must be a string"), "{message}");
        assert!(!message.contains("918273645"), "{message}");
        assert_eq!(origin, "environment variable VIGIL_KAFKA__SASL__PASSWORD");
        // A syntax error names the line and column, not the line's text.
        let err = parse("[kafka.sasl]\npassword = hunter2-unquoted\n", &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2, column"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let err = parse("[kafka\nbrokers = 1", &[]).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        assert!(err.to_string().contains("test.toml"), "{err}");
    }

    #[test]
    fn env_overrides_apply_with_types() {
        let config = parse(
            "[kafka]\nbrokers = \"a:1\"",
            &[
                ("VIGIL_KAFKA__BROKERS", "b:2,c:3"),
                ("VIGIL_MATCH__PDQ_MAX_DISTANCE", "20"),
                ("VIGIL_KAFKA__INPUT_TOPICS", r#"["x", "y"]"#),
                ("VIGIL_KAFKA__GROUP_ID", r#""123""#),
                ("VIGIL_CONFIG", "/ignored.toml"),
                ("HOME", "/root"),
            ],
        )
        .unwrap();
        assert_eq!(config.kafka.brokers, "b:2,c:3");
        assert_eq!(config.matching.pdq_max_distance, 20);
        assert_eq!(config.kafka.input_topics, ["x", "y"]);
        assert_eq!(config.kafka.group_id, "123");
    }

    #[test]
    fn env_errors_name_the_variable() {
        let (key, _, origin) = invalid_key(parse("", &[("VIGIL_KAFKA__BROKERZ", "a:1")]));
        assert_eq!(key, "kafka.brokerz");
        assert_eq!(origin, "environment variable VIGIL_KAFKA__BROKERZ");
        let (key, _, origin) = invalid_key(parse("", &[("VIGIL_MATCH__PDQ_MAX_DISTANCE", "99")]));
        assert_eq!(key, "match.pdq_max_distance");
        assert_eq!(origin, "environment variable VIGIL_MATCH__PDQ_MAX_DISTANCE");
    }
}
