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

use serde::{Deserialize, Serialize};

/// Every default value, in one place.
pub mod defaults {
    /// `match.pdq_max_distance`: the Hamming radius HMA and ThreatExchange use.
    pub const PDQ_MAX_DISTANCE: u32 = 31;
    /// `match.pdq_min_quality`: PDQ hashes below this quality are too flat to match on.
    pub const PDQ_MIN_QUALITY: u8 = 50;
    /// `attachments.max_bytes`: 20 MiB.
    pub const MAX_ATTACHMENT_BYTES: u64 = 20 * 1024 * 1024;
    /// `input.max_message_bytes`: 32 MiB, room for one maximal attachment inline in base64.
    pub const MAX_MESSAGE_BYTES: u64 = 32 * 1024 * 1024;
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
    /// `admin.listen`.
    pub const ADMIN_LISTEN: &str = "127.0.0.1:9464";
    /// Largest accepted `match.pdq_max_distance`: beyond it unrelated images start matching
    /// (two random PDQ hashes are about 128 ± 8 bits apart).
    pub const PDQ_MAX_DISTANCE_LIMIT: u32 = 64;
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// `[kafka]`: the broker runtime (`vigil run`).
    pub kafka: KafkaConfig,
    /// `[admin]`: the admin HTTP endpoint.
    pub admin: AdminConfig,
}

/// `[lists]`. Relative paths are resolved against the configuration file's directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListsConfig {
    /// Hash lists (CSV: `algorithm,hash,entry_id,category[,severity,...]`).
    pub hash_lists: Vec<PathBuf>,
    /// Keyword lists (CSV: `rule_id,term,category[,whole_word,severity]`).
    pub keyword_lists: Vec<PathBuf>,
}

/// `[match]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// Largest PDQ Hamming distance that counts as a match.
    pub pdq_max_distance: u32,
    /// PDQ hashes of lower quality are not matched.
    pub pdq_min_quality: u8,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            pdq_max_distance: defaults::PDQ_MAX_DISTANCE,
            pdq_min_quality: defaults::PDQ_MIN_QUALITY,
        }
    }
}

/// `[attachments]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentsConfig {
    /// Largest attachment, decoded, in bytes; larger ones are reported `attachment_too_large`.
    pub max_bytes: u64,
    /// Directories that `file://` attachment URIs may point into. Empty: `file://` is refused.
    pub file_roots: Vec<PathBuf>,
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        AttachmentsConfig {
            max_bytes: defaults::MAX_ATTACHMENT_BYTES,
            file_roots: Vec::new(),
        }
    }
}

/// `[input]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// `[kafka]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: defaults::KAFKA_BROKERS.into(),
            group_id: defaults::KAFKA_GROUP_ID.into(),
            input_topics: vec![defaults::KAFKA_INPUT_TOPIC.into()],
            review_topic: defaults::KAFKA_REVIEW_TOPIC.into(),
            dead_letter_topic: defaults::KAFKA_DEAD_LETTER_TOPIC.into(),
        }
    }
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

impl Config {
    /// Reads `path`, applies overrides from `env` (pass `std::env::vars()`), resolves relative
    /// paths against the file's directory and validates.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        Config::from_toml(&text, &path.display().to_string(), &base, env)
    }

    /// The defaults with `env` overrides applied (used when there is no config file); relative
    /// paths resolve against `base`.
    pub fn from_env(
        base: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Config::from_toml("", "defaults", base, env)
    }

    /// Parses TOML `text`; `origin` names it in errors.
    pub fn from_toml(
        text: &str,
        origin: &str,
        base: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: PathBuf::from(origin),
                    message: e.to_string().trim_end().to_string(),
                })?;
        let overrides = apply_env(&mut table, env)?;
        let origin_of = |key: &str| {
            overrides
                .iter()
                .find(|(_, k)| key == k || key.starts_with(&format!("{k}.")))
                .map(|(var, _)| format!("environment variable {var}"))
                .unwrap_or_else(|| origin.to_string())
        };
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                ConfigError::Invalid {
                    origin: origin_of(&key),
                    message: e.into_inner().message().to_string(),
                    key,
                }
            })?;
        config.resolve_paths(base);
        config
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                origin: origin_of(key),
                key: key.to_string(),
                message,
            })?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let lists = &mut self.lists;
        for path in lists
            .hash_lists
            .iter_mut()
            .chain(lists.keyword_lists.iter_mut())
            .chain(self.attachments.file_roots.iter_mut())
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// Checks ranges and cross-field rules; returns the offending key and what is wrong.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        let m = &self.matching;
        if m.pdq_max_distance > defaults::PDQ_MAX_DISTANCE_LIMIT {
            return Err((
                "match.pdq_max_distance",
                format!(
                    "{} is above {}: unrelated images would match",
                    m.pdq_max_distance,
                    defaults::PDQ_MAX_DISTANCE_LIMIT
                ),
            ));
        }
        if m.pdq_min_quality > 100 {
            return Err((
                "match.pdq_min_quality",
                format!("{} is not a quality (0 to 100)", m.pdq_min_quality),
            ));
        }
        if self.attachments.max_bytes == 0 {
            return Err(("attachments.max_bytes", "must be at least 1".into()));
        }
        if self.input.max_message_bytes == 0 {
            return Err(("input.max_message_bytes", "must be at least 1".into()));
        }
        self.kafka.validate()
    }
}

impl KafkaConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.brokers.trim().is_empty() {
            return Err(("kafka.brokers", "must name at least one host:port".into()));
        }
        for broker in self.brokers.split(',').map(str::trim) {
            let valid = broker.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !valid {
                return Err(("kafka.brokers", format!("`{broker}` is not host:port")));
            }
        }
        if self.group_id.trim().is_empty() {
            return Err(("kafka.group_id", "must not be empty".into()));
        }
        if self.input_topics.is_empty() {
            return Err(("kafka.input_topics", "must name at least one topic".into()));
        }
        for topic in &self.input_topics {
            check_topic("kafka.input_topics", topic)?;
        }
        check_topic("kafka.review_topic", &self.review_topic)?;
        check_topic("kafka.dead_letter_topic", &self.dead_letter_topic)?;
        if self.review_topic == self.dead_letter_topic {
            return Err((
                "kafka.dead_letter_topic",
                "must differ from kafka.review_topic".into(),
            ));
        }
        for (key, topic) in [
            ("kafka.review_topic", &self.review_topic),
            ("kafka.dead_letter_topic", &self.dead_letter_topic),
        ] {
            if self.input_topics.contains(topic) {
                return Err((
                    key,
                    format!("`{topic}` is also an input topic: vigil would consume its own output"),
                ));
            }
        }
        Ok(())
    }
}

/// Kafka topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn check_topic(key: &'static str, topic: &str) -> Result<(), (&'static str, String)> {
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
        Err((
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
            hash_lists = ["lists/sample-hashes.csv", "/abs/other.csv"]
            keyword_lists = ["lists/sample-keywords.csv"]
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
        assert_eq!(
            config.lists.hash_lists,
            [
                PathBuf::from("/etc/vigil/lists/sample-hashes.csv"),
                PathBuf::from("/abs/other.csv")
            ]
        );
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
            ("[nonsense]\nx = 1", "nonsense", "unknown field"),
        ];
        for (text, key, needle) in table {
            let (got_key, message, origin) = invalid_key(parse(text, &[]));
            assert_eq!(got_key, key, "{text}");
            assert!(message.contains(needle), "{text}: {message}");
            assert_eq!(origin, "test.toml");
        }
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
