//! Every list parser over arbitrary bytes. The first byte picks the parser (its low three
//! bits), strict or lenient (bit 7) and, for bare lists, the algorithm (bits 3–5); the rest
//! is the file:
//!
//! | low bits | parser |
//! |---|---|
//! | 0 | hash list, vigil CSV |
//! | 1 | hash list, JSON lines |
//! | 2 | hash list, HMA `<signal_type> <hash>` lines |
//! | 3 | hash list, bare hashes |
//! | 4 | keyword list (CSV) |
//! | 5 | rule file (TOML: `[[regex]]`, `[[cooccurrence]]`) |
//! | 6 | list manifest (JSON) |
//! | 7 | vigil configuration (TOML, then after a NUL byte `VIGIL_…=value` lines) |
//!
//! Never panics. A list that loads is consistent: entry counts agree, every hash reads back
//! from its hex, ids are unique, the exact and near indexes find every entry; keyword and
//! rule lists compile and their matches lie inside the text.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use vigil_core::Algorithm;
use vigil_core::config::{Invalid, Section};
use vigil_hash::{ExactAlgorithm, Family};
use vigil_index::{ExactIndex, HashList, HashValue, NearIndex};
use vigil_lists::{ListFile, ListFormat, ListSource, ListsConfig, Manifest};
use vigil_scan::config::{AttachmentsConfig, InputConfig, MatchConfig};
use vigil_text::TextConfig;
use vigil_text::{KeywordList, KeywordMatcher, RuleKind};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let lenient = selector & 0x80 != 0;
    match selector & 7 {
        0 => hash_list(file, ListFormat::Csv, None, lenient),
        1 => hash_list(file, ListFormat::Jsonl, None, lenient),
        2 => hash_list(file, ListFormat::Hma, None, lenient),
        3 => {
            let algorithm = Algorithm::ALL[usize::from((selector >> 3) & 7) % 7];
            hash_list(file, ListFormat::Bare, Some(algorithm), lenient)
        }
        4 => keyword_list(file, "kw.csv"),
        5 => keyword_list(file, "rules.toml"),
        6 => manifest(file),
        _ => config(file),
    }
});

fn hash_list(bytes: &[u8], format: ListFormat, algorithm: Option<Algorithm>, lenient: bool) {
    let mut source = ListSource::from(PathBuf::from("fuzz.list"));
    source.name = Some("fuzz".into());
    source.format = Some(format);
    source.algorithm = algorithm.map(|a| a.as_str().to_string());
    let file = ListFile::read_unchecked(&source, bytes.to_vec());
    let Ok(list) = HashList::from_file(&source, file, lenient) else {
        return;
    };
    let list = std::sync::Arc::new(list);
    let entries: Vec<_> = list.entries().collect();
    assert_eq!(entries.len(), list.len());
    assert_eq!(list.info.entries, list.len());
    assert!(lenient || list.info.skipped_lines == 0);
    let _ = list.heap_bytes();

    // Ids are unique in the list in force; formats without ids use the hash, which is unique
    // per algorithm (a pHash and a dHash may share their hex).
    let mut ids: Vec<(Option<Algorithm>, &str)> = entries
        .iter()
        .map(|e| {
            let derived = matches!(format, ListFormat::Hma | ListFormat::Bare);
            (derived.then_some(e.algorithm), e.entry_id.as_ref())
        })
        .collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        panic!("entry id {:?} appears twice in a loaded list", w[0].1);
    }
    for entry in &entries {
        assert!(!entry.entry_id.is_empty(), "empty entry id");
        assert!(!entry.category.is_empty(), "empty category");
        // A listed video's value is its identity, read back from its frames.
        let text = match entry.value {
            HashValue::Vpdq(_) => vigil_hash::VpdqFeature::list_to_json(entry.frames),
            _ => entry.value.to_hex(),
        };
        assert_eq!(
            HashValue::parse(entry.algorithm, &text),
            Ok(entry.value),
            "a listed hash does not read back from its text"
        );
    }

    let exact = ExactIndex::build([list.clone()]);
    let near = NearIndex::build_with([list.clone()], 1);
    let videos = vigil_index::VpdqIndex::build_with(
        [(list.clone(), vigil_index::VpdqThresholds::default())],
        1,
    );
    for entry in entries.iter().take(64) {
        let hits: Vec<String> = match (ExactAlgorithm::try_from(entry.algorithm).ok(), entry.value)
        {
            (Some(algorithm), HashValue::Digest(digest)) => exact
                .lookup(algorithm, &digest)
                .map(|h| h.entry.entry_id.into_owned())
                .collect(),
            (None, HashValue::Pdq(hash)) => near
                .near_pdq(&[hash], 0)
                .into_iter()
                .map(|h| h.entry.entry_id.into_owned())
                .collect(),
            (None, HashValue::Bits64(hash)) => {
                let family = Family::try_from(entry.algorithm).expect("a 64-bit family");
                near.near_bits64(family, hash, 0)
                    .into_iter()
                    .map(|h| h.entry.entry_id.into_owned())
                    .collect()
            }
            // A video matches itself when any of its frames is kept.
            (None, HashValue::Vpdq(_)) if vigil_index::kept_frames(entry.frames, 50).is_empty() => {
                continue;
            }
            (None, HashValue::Vpdq(_)) => videos
                .lookup(entry.frames)
                .into_iter()
                .map(|m| m.entry.entry_id.into_owned())
                .collect(),
            _ => panic!("{} entry with a {:?} value", entry.algorithm, entry.value),
        };
        assert!(
            hits.iter().any(|id| *id == entry.entry_id),
            "the index does not find a listed {} entry",
            entry.algorithm
        );
    }
}

fn keyword_list(bytes: &[u8], path: &str) {
    let Ok(list) = KeywordList::parse("kw", Path::new(path), bytes) else {
        return;
    };
    assert_eq!(list.info.entries, list.rules.len() + list.extra.len());
    let mut ids: Vec<&str> = list.rules.iter().map(|r| r.rule_id.as_str()).collect();
    ids.extend(list.extra.regexes.iter().map(|r| r.rule_id.as_str()));
    ids.extend(list.extra.cooccurrences.iter().map(|r| r.rule_id.as_str()));
    assert!(ids.iter().all(|id| !id.trim().is_empty()), "empty rule id");
    ids.sort_unstable();
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "duplicate rule id");
    for rule in &list.rules {
        assert!(rule.kind == RuleKind::Allow || !rule.category.is_empty());
    }
    for rule in &list.extra.cooccurrences {
        assert!(rule.groups.len() >= 2 && rule.within_words >= 1);
        assert!(rule.groups.iter().all(|g| !g.is_empty()));
    }
    // Compiling many fuzzed regular expressions is slow and proves little more than a few.
    if list.extra.regexes.len() > 8 {
        return;
    }
    let text = String::from_utf8_lossy(bytes);
    let Ok(matcher) = KeywordMatcher::build(vec![list]) else {
        return;
    };
    vigil_fuzz::check_matches(&matcher, &text);
}

fn manifest(bytes: &[u8]) {
    let Ok(manifest) = serde_json::from_slice::<Manifest>(bytes) else {
        return;
    };
    let again: Manifest =
        serde_json::from_slice(&manifest.to_bytes()).expect("a written manifest reads back");
    assert_eq!(again, manifest);
}

fn config(bytes: &[u8]) {
    let (toml, env) = match bytes.iter().position(|&b| b == 0) {
        Some(nul) => (&bytes[..nul], &bytes[nul + 1..]),
        None => (bytes, &[][..]),
    };
    let Ok(toml) = std::str::from_utf8(toml) else {
        return;
    };
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let _ = vigil_core::config::from_toml::<File>(toml, "fuzz.toml", Path::new("/etc/vigil"), env);
}

/// The configuration file's sections whose crates need no broker or database client, so
/// the fuzz build stays light: the loader, environment overrides and these sections' checks.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
struct File {
    lists: ListsConfig,
    #[serde(rename = "match")]
    matching: MatchConfig,
    attachments: AttachmentsConfig,
    input: InputConfig,
    text: TextConfig,
}

impl Section for File {
    fn resolve_paths(&mut self, base: &Path) {
        self.lists.resolve_paths(base);
        self.attachments.resolve_paths(base);
    }

    fn validate(&self) -> Result<(), Invalid> {
        self.matching.validate()?;
        self.attachments.validate()?;
        self.input.validate()?;
        self.text.validate()?;
        self.lists.validate()
    }
}
