//! Throughput of the scan path, each measured against a baseline in the same run (the machine
//! is shared and noisy, so only ratios are comparable). Results: docs/benchmarks.md.
//!
//! - `keywords`: the Aho-Corasick keyword matcher vs. lower-casing the text and calling
//!   `str::find` per term, on 183-byte messages with 1,000 terms.
//! - `exact_lookup`: the sorted-array SHA-256 index vs. a `HashMap`, 1M entries.
//! - `near_pdq_1m`: PDQ radius-31 search over 1M hashes with 16 query forms, the
//!   multi-index vs. the linear scan.
//! - `pipeline`: parse + resolve + scan of the example messages vs. the unavoidable part of
//!   that work (parse JSON, decode base64, three digests) and vs. parsing the JSON alone;
//!   and the same traced, with every metric recorded (what `vigil run` pays for metrics).
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use time::OffsetDateTime;
use vigil_config::Config;
use vigil_core::Source;
use vigil_hash::{Digest, ExactAlgorithm, ExactDigests, PdqHash};
use vigil_index::{ExactIndex, HashList, HashValue, NearIndex};
use vigil_metrics::{BuildInfo, Metrics};
use vigil_scan::{Pipeline, Trace};
use vigil_text::{KeywordList, KeywordMatcher};

/// Deterministic pseudo-random numbers (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn word(&mut self) -> String {
        let len = 3 + (self.next() % 7) as usize;
        (0..len)
            .map(|_| (b'a' + (self.next() % 26) as u8) as char)
            .collect()
    }
}

fn keywords(c: &mut Criterion) {
    let mut rng = Rng(1);
    let terms: Vec<String> = (0..1000)
        .map(|_| {
            let words = 1 + rng.next() % 3;
            (0..words).map(|_| rng.word()).collect::<Vec<_>>().join(" ")
        })
        .collect();
    let mut csv = String::from("rule_id,term,category\n");
    for (i, term) in terms.iter().enumerate() {
        csv += &format!("r{i},{term},c\n");
    }
    let list = KeywordList::parse("bench", Path::new("bench.csv"), csv.as_bytes()).unwrap();
    let matcher = KeywordMatcher::build(vec![list]).unwrap();
    let messages: Vec<String> = (0..200)
        .map(|i| {
            let mut text = String::new();
            while text.len() < 183 {
                text += &rng.word();
                text.push(' ');
            }
            if i % 10 == 0 {
                text += &terms[i % terms.len()].to_uppercase();
            }
            text
        })
        .collect();
    let bytes: usize = messages.iter().map(String::len).sum();

    let mut group = c.benchmark_group("keywords");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("vigil_aho_corasick", |b| {
        b.iter(|| {
            messages
                .iter()
                .map(|m| matcher.find(black_box(m)).len())
                .sum::<usize>()
        })
    });
    let normalizer = vigil_text::Normalizer::new(vigil_text::Steps::ALL);
    group.bench_function("vigil_normalize_only", |b| {
        b.iter(|| {
            messages
                .iter()
                .map(|m| normalizer.normalize(black_box(m)).text.len())
                .sum::<usize>()
        })
    });
    group.bench_function("baseline_find_per_term", |b| {
        b.iter(|| {
            messages
                .iter()
                .map(|m| {
                    let lower = black_box(m).to_lowercase();
                    terms.iter().filter(|t| lower.contains(t.as_str())).count()
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

fn exact_lookup(c: &mut Criterion) {
    const ENTRIES: u64 = 1_000_000;
    let digest = |i: u64| ExactAlgorithm::Sha256.digest(&i.to_le_bytes());
    let mut csv = String::with_capacity(ENTRIES as usize * 80);
    csv += "algorithm,hash,entry_id,category\n";
    for i in 0..ENTRIES {
        csv += &format!("sha256,{},e{i},A\n", digest(i).to_hex());
    }
    let list = HashList::parse("bench", Path::new("bench.csv"), csv.as_bytes()).unwrap();
    drop(csv);
    let map: HashMap<Digest, u32> = list
        .entries()
        .enumerate()
        .filter_map(|(i, e)| match e.value {
            HashValue::Digest(d) => Some((d, i as u32)),
            _ => None,
        })
        .collect();
    let index = ExactIndex::build(vec![list]);
    // Half the probes are listed, half are not.
    let probes: Vec<Digest> = (0..1000u64)
        .map(|i| digest(i * 1999 + (i % 2) * ENTRIES))
        .collect();

    let mut group = c.benchmark_group("exact_lookup");
    group.throughput(Throughput::Elements(probes.len() as u64));
    group.bench_function("vigil_sorted_array", |b| {
        b.iter(|| {
            probes
                .iter()
                .map(|p| index.lookup(ExactAlgorithm::Sha256, black_box(p)).count())
                .sum::<usize>()
        })
    });
    group.bench_function("baseline_hashmap", |b| {
        b.iter(|| {
            probes
                .iter()
                .filter(|p| map.contains_key(black_box(*p)))
                .count()
        })
    });
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = Config::load(&root.join("examples/vigil.toml"), std::iter::empty()).unwrap();
    let pipeline = Pipeline::from_config(&config.scan()).unwrap();
    let text = std::fs::read_to_string(root.join("examples/dms.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let source = Source::File {
        file: "bench".into(),
        line: 1,
    };
    let now = OffsetDateTime::UNIX_EPOCH;

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("vigil_process", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| {
                    pipeline
                        .process(black_box(l.as_bytes()), source.clone(), now)
                        .flag
                        .is_some()
                })
                .count()
        })
    });
    // What `vigil run` does per record: the same, traced, with every metric recorded.
    let metrics = Metrics::new(&BuildInfo {
        version: "bench",
        delivery: "at-least-once",
    });
    group.bench_function("vigil_process_with_metrics", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| {
                    let started = Instant::now();
                    let mut trace = Trace::default();
                    let outcome = pipeline.process_traced(
                        black_box(l.as_bytes()),
                        source.clone(),
                        now,
                        &mut trace,
                    );
                    metrics.record_outcome(&outcome, &trace, started.elapsed());
                    outcome.flag.is_some()
                })
                .count()
        })
    });
    // The unavoidable work: parse, decode every attachment, compute the three digests.
    let engine = base64::engine::general_purpose::STANDARD;
    group.bench_function("baseline_parse_decode_digest", |b| {
        b.iter(|| {
            let mut n = 0;
            for line in &lines {
                let value: serde_json::Value = serde_json::from_str(black_box(line)).unwrap();
                for attachment in value["attachments"].as_array().into_iter().flatten() {
                    let data = attachment["data"].as_str().unwrap();
                    let bytes = base64::Engine::decode(&engine, data).unwrap();
                    let digests = ExactDigests::compute(&bytes, &ExactAlgorithm::ALL);
                    n += usize::from(digests.get(ExactAlgorithm::Md5).is_some());
                }
            }
            n
        })
    });
    group.bench_function("baseline_json_parse_only", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| {
                    serde_json::from_str::<serde_json::Value>(black_box(l))
                        .unwrap()
                        .is_object()
                })
                .count()
        })
    });
    group.finish();
}

/// PDQ radius search, 1M listed hashes, one image's 16 query forms (oriented variants of
/// the image and of a trimmed box) at radius 31: the multi-index against the linear scan
/// (which is what it must agree with; `vigil-lists` tests check that).
fn near_pdq(c: &mut Criterion) {
    const ENTRIES: u64 = 1_000_000;
    let mut rng = Rng(42);
    let mut random = || PdqHash::from_limbs(std::array::from_fn(|_| rng.next()));
    let listed = random();
    let mut csv = String::with_capacity(ENTRIES as usize * 90);
    csv += &format!("algorithm,hash,entry_id,category\npdq,{listed},e0,A\n");
    for i in 1..ENTRIES {
        csv += &format!("pdq,{},e{i},A\n", random());
    }
    let list = HashList::parse("bench", Path::new("bench.csv"), csv.as_bytes()).unwrap();
    drop(csv);
    let list = std::sync::Arc::new(list);
    let scan = NearIndex::build_with([list.clone()], usize::MAX);
    let mih = NearIndex::build([list]);
    // Half the queries sit 20 bits from a listed hash.
    let queries: Vec<PdqHash> = (0..16)
        .map(|i| {
            let mut limbs = if i % 2 == 0 {
                listed.limbs()
            } else {
                random().limbs()
            };
            limbs[i % 4] ^= (1u64 << 20) - 1;
            PdqHash::from_limbs(limbs)
        })
        .collect();
    let found = mih.near_pdq(&queries, 31).len();
    assert_eq!(found, 1);
    assert_eq!(scan.near_pdq(&queries, 31).len(), found);
    let mut group = c.benchmark_group("near_pdq_1m");
    group.throughput(Throughput::Elements(1));
    group.bench_function("linear_scan", |b| {
        b.iter(|| scan.near_pdq(black_box(&queries), 31).len())
    });
    group.bench_function("vigil_multi_index", |b| {
        b.iter(|| mih.near_pdq(black_box(&queries), 31).len())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = keywords, exact_lookup, pipeline, near_pdq
}
criterion_main!(benches);
