//! `[lists]`: which lists to load, and what they must prove about themselves. Relative paths
//! are resolved against the configuration file's directory.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::config::{Invalid, Section, resolve};

/// Every default of `[lists]`, in one place.
pub mod defaults {
    /// `lists.reload_interval_ms`: how often `vigil run` looks for new list versions.
    pub const LISTS_RELOAD_INTERVAL_MS: u64 = 60_000;
}

/// `[lists]`. Relative paths are resolved against the configuration file's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ListsConfig {
    /// Hash lists: paths, or tables naming the format (see `docs/lists.md`).
    pub hash_lists: Vec<ListSource>,
    /// Keyword lists (CSV: `rule_id,term,category[,whole_word,severity]`).
    pub keyword_lists: Vec<ListSource>,
    /// URL lists: one URL, folder or domain per line, or CSV / JSON lines with `url` or
    /// `url_sha256` (see `docs/lists.md`).
    pub url_lists: Vec<ListSource>,
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
            url_lists: Vec::new(),
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
        let any = !self.hash_lists.is_empty()
            || !self.keyword_lists.is_empty()
            || !self.url_lists.is_empty();
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
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
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
    /// Makes this hash list an allow list: its entries, when an attachment matches them,
    /// suppress that attachment's matches of these categories in other lists (`*`: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppresses: Option<Vec<String>>,
    /// This hash list's PDQ distance: at most `match.pdq_max_distance`, which it tightens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdq_max_distance: Option<u32>,
    /// This hash list's PDQ quality: at least `match.pdq_min_quality`, which it tightens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdq_min_quality: Option<u8>,
    /// This hash list's pHash distance: at most `match.phash_max_distance`, which it tightens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phash_max_distance: Option<u32>,
    /// This hash list's dHash distance: at most `match.dhash_max_distance`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dhash_max_distance: Option<u32>,
    /// This hash list's aHash distance: at most `match.ahash_max_distance`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ahash_max_distance: Option<u32>,
    /// This hash list's `match.vpdq_max_distance`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpdq_max_distance: Option<u32>,
    /// This hash list's `match.vpdq_min_quality`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpdq_min_quality: Option<u8>,
    /// This hash list's `match.vpdq_query_match_percent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpdq_query_match_percent: Option<f64>,
    /// This hash list's `match.vpdq_compared_match_percent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpdq_compared_match_percent: Option<f64>,
}

/// Largest vPDQ frame distance a list may set, as for `match.vpdq_max_distance`: beyond it
/// unrelated frames match.
pub const VPDQ_MAX_DISTANCE_LIMIT: u32 = 64;

impl ListSource {
    /// Checks its PDQ and vPDQ thresholds (`key` names it in errors, e.g.
    /// `lists.hash_lists[0]`).
    fn check_thresholds(&self, key: &str, hash_list: bool) -> Result<(), Invalid> {
        let set = [
            ("suppresses", self.suppresses.is_some()),
            ("pdq_max_distance", self.pdq_max_distance.is_some()),
            ("pdq_min_quality", self.pdq_min_quality.is_some()),
            ("phash_max_distance", self.phash_max_distance.is_some()),
            ("dhash_max_distance", self.dhash_max_distance.is_some()),
            ("ahash_max_distance", self.ahash_max_distance.is_some()),
            ("vpdq_max_distance", self.vpdq_max_distance.is_some()),
            ("vpdq_min_quality", self.vpdq_min_quality.is_some()),
            (
                "vpdq_query_match_percent",
                self.vpdq_query_match_percent.is_some(),
            ),
            (
                "vpdq_compared_match_percent",
                self.vpdq_compared_match_percent.is_some(),
            ),
        ];
        if let Some((name, _)) = set.iter().find(|(_, set)| *set && !hash_list) {
            return Err(Invalid::new(
                format!("{key}.{name}"),
                "only hash lists match images and videos",
            ));
        }
        if let Some(categories) = &self.suppresses
            && (categories.is_empty() || categories.iter().any(|c| c.trim().is_empty()))
        {
            return Err(Invalid::new(
                format!("{key}.suppresses"),
                "names the categories an allow list suppresses (`*` for all); none may be empty",
            ));
        }
        if let Some(d) = self
            .vpdq_max_distance
            .filter(|&d| d > VPDQ_MAX_DISTANCE_LIMIT)
        {
            return Err(Invalid::new(
                format!("{key}.vpdq_max_distance"),
                format!("{d} is above {VPDQ_MAX_DISTANCE_LIMIT}: unrelated frames would match"),
            ));
        }
        for (name, quality) in [
            ("pdq_min_quality", self.pdq_min_quality),
            ("vpdq_min_quality", self.vpdq_min_quality),
        ] {
            if let Some(q) = quality.filter(|&q| q > 100) {
                return Err(Invalid::new(
                    format!("{key}.{name}"),
                    format!("{q} is not a quality (0 to 100)"),
                ));
            }
        }
        for (name, value) in [
            ("vpdq_query_match_percent", self.vpdq_query_match_percent),
            (
                "vpdq_compared_match_percent",
                self.vpdq_compared_match_percent,
            ),
        ] {
            check_percent(&format!("{key}.{name}"), value)?;
        }
        Ok(())
    }
}

/// A share in percent: a number from 0 to 100, if given.
pub fn check_percent(key: &str, value: Option<f64>) -> Result<(), Invalid> {
    match value {
        Some(p) if !(0.0..=100.0).contains(&p) => Err(Invalid::new(
            key,
            format!("{p} is not a percentage (0 to 100)"),
        )),
        _ => Ok(()),
    }
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
            suppresses: None,
            pdq_max_distance: None,
            pdq_min_quality: None,
            phash_max_distance: None,
            dhash_max_distance: None,
            ahash_max_distance: None,
            vpdq_max_distance: None,
            vpdq_min_quality: None,
            vpdq_query_match_percent: None,
            vpdq_compared_match_percent: None,
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
    suppresses: Option<Vec<String>>,
    pdq_max_distance: Option<u32>,
    pdq_min_quality: Option<u8>,
    phash_max_distance: Option<u32>,
    dhash_max_distance: Option<u32>,
    ahash_max_distance: Option<u32>,
    vpdq_max_distance: Option<u32>,
    vpdq_min_quality: Option<u8>,
    vpdq_query_match_percent: Option<f64>,
    vpdq_compared_match_percent: Option<f64>,
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
                    suppresses: t.suppresses,
                    pdq_max_distance: t.pdq_max_distance,
                    pdq_min_quality: t.pdq_min_quality,
                    phash_max_distance: t.phash_max_distance,
                    dhash_max_distance: t.dhash_max_distance,
                    ahash_max_distance: t.ahash_max_distance,
                    vpdq_max_distance: t.vpdq_max_distance,
                    vpdq_min_quality: t.vpdq_min_quality,
                    vpdq_query_match_percent: t.vpdq_query_match_percent,
                    vpdq_compared_match_percent: t.vpdq_compared_match_percent,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Section for ListsConfig {
    fn resolve_paths(&mut self, base: &Path) {
        let sources = self
            .hash_lists
            .iter_mut()
            .chain(self.keyword_lists.iter_mut())
            .chain(self.url_lists.iter_mut());
        let source_paths =
            sources.flat_map(|s| std::iter::once(&mut s.path).chain(s.manifest.as_mut()));
        resolve(
            base,
            source_paths
                .chain(self.trusted_keys.iter_mut())
                .chain(self.ledger_file.iter_mut()),
        );
    }

    fn validate(&self) -> Result<(), Invalid> {
        if self.allow_unsigned && !self.trusted_keys.is_empty() {
            return Err(Invalid::new(
                "lists.allow_unsigned",
                "cannot be true with `lists.trusted_keys` set (every list must then be signed)",
            ));
        }
        for (i, source) in self.hash_lists.iter().enumerate() {
            source.check_thresholds(&format!("lists.hash_lists[{i}]"), true)?;
        }
        for (i, source) in self.keyword_lists.iter().enumerate() {
            source.check_thresholds(&format!("lists.keyword_lists[{i}]"), false)?;
        }
        for (i, source) in self.url_lists.iter().enumerate() {
            source.check_thresholds(&format!("lists.url_lists[{i}]"), false)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(json: &str) -> ListsConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_hash_list_carries_its_vpdq_thresholds() {
        let config = lists(
            r#"{"hash_lists": ["a.csv", {"path": "v.txt", "format": "hma",
                "vpdq_max_distance": 20, "vpdq_min_quality": 60,
                "vpdq_query_match_percent": 90, "vpdq_compared_match_percent": 50.5}]}"#,
        );
        let v = &config.hash_lists[1];
        assert_eq!(
            (
                v.vpdq_max_distance,
                v.vpdq_min_quality,
                v.vpdq_query_match_percent,
                v.vpdq_compared_match_percent
            ),
            (Some(20), Some(60), Some(90.0), Some(50.5))
        );
        assert_eq!(config.hash_lists[0].vpdq_query_match_percent, None);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn bad_vpdq_thresholds_are_named() {
        let table = [
            (
                r#"{"hash_lists": [{"path": "v", "vpdq_max_distance": 65}]}"#,
                "lists.hash_lists[0].vpdq_max_distance",
                "65 is above 64",
            ),
            (
                r#"{"hash_lists": [{"path": "v", "vpdq_min_quality": 101}]}"#,
                "lists.hash_lists[0].vpdq_min_quality",
                "101 is not a quality",
            ),
            (
                r#"{"hash_lists": ["a", {"path": "v", "vpdq_query_match_percent": 100.5}]}"#,
                "lists.hash_lists[1].vpdq_query_match_percent",
                "100.5 is not a percentage",
            ),
            (
                r#"{"hash_lists": [{"path": "v", "vpdq_compared_match_percent": -1}]}"#,
                "lists.hash_lists[0].vpdq_compared_match_percent",
                "-1 is not a percentage",
            ),
            (
                r#"{"keyword_lists": [{"path": "k.csv", "vpdq_min_quality": 50}]}"#,
                "lists.keyword_lists[0].vpdq_min_quality",
                "only hash lists",
            ),
        ];
        for (json, key, message) in table {
            let err = lists(json).validate().unwrap_err();
            assert_eq!(err.key, key, "{json}");
            assert!(err.message.contains(message), "{json}: {err:?}");
        }
    }
}
