//! VpdqIndex gives exactly python-threatexchange's percentages: the golden table that
//! `scripts/vpdq-match-golden.py` made with the reference brute matcher
//! (`tests/golden/vpdq-matches.jsonl`: random and clustered query/list pairs and edge cases),
//! through the multi-index and the scan.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Value, json};
use vigil_hash::VpdqFeature;
use vigil_index::{HashList, VpdqIndex, VpdqThresholds};
use vigil_lists::{ListFile, ListFormat, ListSource};

/// Per listed video, the reference's (query %, compared %), `None` where it divided by zero.
type Reference = Vec<Option<(f64, f64)>>;

/// The cases, each with the reference's percentages read bit-exact (from the numbers' text:
/// serde_json's own float parsing may be a unit in the last place off).
fn golden() -> Vec<(Value, Reference)> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/vpdq-matches.jsonl");
    let exact = |raw: &RawValue| raw.get().parse::<f64>().unwrap();
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let raw: HashMap<String, Box<RawValue>> = serde_json::from_str(line).unwrap();
            let results: Vec<Option<HashMap<String, Box<RawValue>>>> =
                serde_json::from_str(raw["results"].get()).unwrap();
            let reference = results
                .iter()
                .map(|r| {
                    let r = r.as_ref()?;
                    Some((
                        exact(&r["query_match_percent"]),
                        exact(&r["compared_match_percent"]),
                    ))
                })
                .collect();
            (serde_json::from_str(line).unwrap(), reference)
        })
        .collect()
}

/// The case's listed videos as a JSON-lines list, entry `i` with id `i`.
fn list(case: &Value) -> HashList {
    let text: String = case["listed"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, video)| {
            let line = json!({"algorithm": "vpdq", "hash": video, "entry_id": i, "category": "A"});
            format!("{line}\n")
        })
        .collect();
    let mut source = ListSource::from(PathBuf::from("golden.jsonl"));
    source.format = Some(ListFormat::Jsonl);
    let file = ListFile::read_unchecked(&source, text.into_bytes());
    HashList::from_file(&source, file, false).unwrap()
}

#[test]
fn percentages_equal_the_reference_brute_matchers() {
    let cases = golden();
    assert!(cases.len() >= 30);
    let (mut compared, mut matched) = (0, 0);
    for (case, reference) in &cases {
        let name = case["case"].as_str().unwrap();
        let query = VpdqFeature::list_from_json(&case["query"].to_string()).unwrap();
        let list = Arc::new(list(case));
        let every = VpdqThresholds {
            max_distance: u32::try_from(case["distance_tolerance"].as_u64().unwrap()).unwrap(),
            min_quality: u8::try_from(case["quality_tolerance"].as_u64().unwrap()).unwrap(),
            query_match_percent: 0.0,
            compared_match_percent: 0.0,
        };
        // The reference's percentages of every listed video some frame matched.
        let want: Vec<(String, f64, f64)> = reference
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let (q, c) = (*r)?;
                (q > 0.0).then(|| (i.to_string(), q, c))
            })
            .collect();
        compared += reference.len();
        let defaults = VpdqThresholds {
            query_match_percent: 80.0,
            ..every
        };
        for mih in [0, usize::MAX] {
            for (thresholds, least) in [(every, 0.0), (defaults, 80.0)] {
                let index = VpdqIndex::build_with([(list.clone(), thresholds)], mih);
                let mut got: Vec<(String, f64, f64)> = index
                    .lookup(&query)
                    .into_iter()
                    .map(|m| {
                        let id = m.entry.entry_id.into_owned();
                        (id, m.query_match_percent, m.compared_match_percent)
                    })
                    .collect();
                got.sort_by(|a, b| a.0.cmp(&b.0));
                let want: Vec<(String, f64, f64)> =
                    want.iter().filter(|w| w.1 >= least).cloned().collect();
                if least > 0.0 && mih == 0 {
                    matched += want.len();
                }
                assert_eq!(got, want, "{name}, at {least} %, multi-index from {mih}");
            }
        }
    }
    assert!(
        compared >= 150 && matched >= 10,
        "{compared} pairs, {matched} matches"
    );
}
