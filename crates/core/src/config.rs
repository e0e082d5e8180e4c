//! The configuration file's machinery, whatever its sections: one TOML file, overridable per
//! key from the environment, each section checked by the crate that owns it, once at
//! start-up. The sections themselves live with their crates (`vigil_lists::ListsConfig`,
//! `vigil_kafka::config::KafkaConfig`, ...), and the binary assembles the whole (`vigil-config`).
//!
//! Environment overrides are named `VIGIL_<SECTION>__<KEY>` (double underscore between path
//! segments, case-insensitive), e.g. `VIGIL_KAFKA__BROKERS=10.0.0.5:9092` or
//! `VIGIL_MATCH__PDQ_MAX_DISTANCE=20`. The value is read as a TOML value when it parses as one
//! (`20`, `true`, `["a","b"]`, `"123"`), otherwise as a string. Variables without `__` after
//! the prefix (such as `VIGIL_CONFIG`) are not overrides.
//!
//! ```
//! use std::path::Path;
//! use serde::Deserialize;
//! use vigil_core::config::{self, Invalid, Section};
//!
//! #[derive(Debug, Default, Deserialize)]
//! #[serde(deny_unknown_fields, default)]
//! struct File {
//!     answer: u32,
//! }
//!
//! impl Section for File {
//!     fn validate(&self) -> Result<(), Invalid> {
//!         if self.answer > 42 {
//!             return Err(Invalid::new("answer", "is above 42"));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let file: File = config::from_toml("answer = 7", "vigil.toml", Path::new("/etc"), []).unwrap();
//! assert_eq!(file.answer, 7);
//! let err = config::from_toml::<File>("answer = 43", "vigil.toml", Path::new("/etc"), []);
//! assert_eq!(err.unwrap_err().to_string(), "config vigil.toml: key `answer`: is above 42");
//! ```

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
