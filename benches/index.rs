//! PDQ radius search at list scale: load, build, single-query and per-image latency, memory,
//! and result sets checked against brute force — on the data `scripts/index-bench-data.py`
//! generates (1M and 10M hashes, uniform and clustered; 10k queries with planted neighbours at
//! distances 0–40; exact brute-force truth for radius 31). FAISS runs on the same files in
//! `scripts/index-bench-faiss.py`; docs/benchmarks.md puts them side by side.
//!
//! A custom harness (not Criterion): latency percentiles over 10,000 distinct queries are the
//! figure asked for, not a mean of repeats. Baseline in the same run: vigil's own linear scan
//! (the exact search the multi-index must agree with), on a sample of queries.
//!
//! `cargo bench --bench index` (all four datasets present) or with
//! `VIGIL_INDEX_BENCH=uniform-1m,clustered-10m`; data in `.cache/index-bench/`.
//!
//! `VIGIL_INDEX_BENCH=vpdq-100k` (generated in the run, seeded): 100,000 listed videos of 60
//! frames (6M frames, each shot drifting 1 to 5 bits per frame, 5 % of low quality) in one
//! VpdqIndex; 60-frame queries, half noisy copies of listed videos, half unrelated.
//! Baselines in the same run:
//! the linear scan of all 6M frames, and python-threatexchange's brute matcher (in Rust)
//! over a sample of the listed videos, scaled to all of them.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a report printer

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vigil_hash::PdqHash;
use vigil_index::{HashList, NearIndex};
use vigil_lists::Integrity;
use vigil_lists::{ListFormat, ListSource};

const RADIUS: u32 = 31;
/// An image's queries: its 8 rotations and mirrorings and one border-trimmed form.
const PER_IMAGE: usize = 9;
const SCAN_SAMPLE: usize = 100;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn read_hashes(path: &Path) -> Vec<[u8; 32]> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (generate it: .cache/venv-index/bin/python scripts/index-bench-data.py)",
            path.display()
        )
    });
    bytes
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap())
        .collect()
}

/// Per query: (entry index, distance) sorted by index.
fn read_truth(path: &Path) -> Vec<Vec<(u32, u32)>> {
    let bytes = std::fs::read(path).unwrap();
    let word = |i: usize| u32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
    let (mut at, mut truth) = (0, Vec::new());
    while at * 4 < bytes.len() {
        let n = word(at) as usize;
        truth.push(
            (0..n)
                .map(|k| (word(at + 1 + 2 * k), word(at + 2 + 2 * k)))
                .collect(),
        );
        at += 1 + 2 * n;
    }
    truth
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/index-bench");
    let wanted = std::env::var("VIGIL_INDEX_BENCH")
        .unwrap_or_else(|_| "uniform-1m,clustered-1m,uniform-10m,clustered-10m".into());
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes every bench target
    }
    for dataset in wanted.split(',') {
        match dataset {
            "vpdq-100k" => vpdq::run(100_000),
            dataset => run(&dir, dataset),
        }
    }
}

fn run(dir: &Path, dataset: &str) {
    let hashes = read_hashes(&dir.join(format!("{dataset}.pdq")));
    let queries: Vec<PdqHash> = read_hashes(&dir.join(format!("queries-{dataset}.pdq")))
        .iter()
        .map(|b| PdqHash::from_hex(&hex::encode(b)).unwrap())
        .collect();
    let truth = read_truth(&dir.join(format!("truth-{dataset}-r31.bin")));
    // The list as HMA publishes one: `pdq <hex>` lines.
    let list_path = dir.join(format!("{dataset}.hma"));
    if !list_path.exists() {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&list_path).unwrap());
        for h in &hashes {
            writeln!(out, "pdq {}", hex::encode(h)).unwrap();
        }
        out.flush().unwrap();
    }
    // Only the hashes the truth names, by entry index (all of them would cost more memory
    // than the index being measured).
    let hex_of: std::collections::HashMap<u32, String> = truth
        .iter()
        .flatten()
        .map(|&(i, _)| (i, hex::encode(hashes[i as usize])))
        .collect();
    let entries = hashes.len();
    drop(hashes);

    let rss_before = rss_bytes();
    let start = Instant::now();
    let source = ListSource {
        format: Some(ListFormat::Hma),
        ..ListSource::from(list_path)
    };
    let now = time::OffsetDateTime::now_utc();
    let list = HashList::read(&source, &Integrity::default(), false, now).unwrap();
    let load = start.elapsed();
    let rss_list = rss_bytes();
    let list = std::sync::Arc::new(list);
    println!(
        "## {dataset}: {} entries, {} queries, radius {RADIUS}",
        entries,
        queries.len()
    );
    println!(
        "load (read, SHA-256, parse): {:.2} s, RSS +{} MB (list heap {} MB)",
        load.as_secs_f64(),
        (rss_list - rss_before) >> 20,
        list.heap_bytes() >> 20
    );
    let widths: Vec<Option<u32>> = match std::env::var("VIGIL_INDEX_WIDTHS") {
        Ok(w) => w.split(',').map(|w| Some(w.parse().unwrap())).collect(),
        Err(_) => vec![None],
    };
    for width in widths {
        let start = Instant::now();
        let index = NearIndex::build_tuned([list.clone()], vigil_index::MIH_MIN_ENTRIES, width);
        let build = start.elapsed();
        let rss_index = rss_bytes();
        if std::env::var_os("VIGIL_INDEX_LOAD_ONLY").is_some() {
            println!(
                "build {:.2} s, list + index RSS {} MB",
                build.as_secs_f64(),
                rss_index.saturating_sub(rss_before) >> 20
            );
            continue; // for profiling the load
        }
        let (single, per_image, mismatches) = measure(&index, &queries, &truth, &hex_of);
        let label = width.map_or("chunk width by size".into(), |w| format!("{w}-bit chunks"));
        println!(
            "{label}: build {:.2} s, index heap {} MB; list + index RSS {} MB, process RSS {} MB",
            build.as_secs_f64(),
            index.heap_bytes() >> 20,
            rss_index.saturating_sub(rss_before) >> 20,
            rss_index >> 20
        );
        println!(
            "  single query p50 / p99: {} / {}",
            ms(percentile(&single, 0.5)),
            ms(percentile(&single, 0.99))
        );
        println!(
            "  per image ({PER_IMAGE} queries) p50 / p99: {} / {}",
            ms(percentile(&per_image, 0.5)),
            ms(percentile(&per_image, 0.99))
        );
        println!(
            "  result sets differing from brute force: {mismatches} of {}",
            queries.len()
        );
    }
    // Baseline: the linear scan over the same entries, on a sample of queries.
    let scan = NearIndex::build_with([list], usize::MAX);
    let mut scanned: Vec<Duration> = queries[..SCAN_SAMPLE]
        .iter()
        .map(|q| {
            let start = Instant::now();
            std::hint::black_box(scan.near_pdq(std::slice::from_ref(q), RADIUS));
            start.elapsed()
        })
        .collect();
    scanned.sort_unstable();
    println!(
        "baseline linear scan, single query p50 ({SCAN_SAMPLE} queries): {}",
        ms(percentile(&scanned, 0.5))
    );
    println!();
}

/// Single-query and per-image latencies (sorted) and the number of queries whose result set
/// differs from the truth.
fn measure(
    index: &NearIndex,
    queries: &[PdqHash],
    truth: &[Vec<(u32, u32)>],
    hex_of: &std::collections::HashMap<u32, String>,
) -> (Vec<Duration>, Vec<Duration>, usize) {
    let mut mismatches = 0;
    let mut single = Vec::with_capacity(queries.len());
    for (q, query) in queries.iter().enumerate() {
        let start = Instant::now();
        let hits = index.near_pdq(std::slice::from_ref(query), RADIUS);
        single.push(start.elapsed());
        let mut got: Vec<(&str, u32)> = hits
            .iter()
            .map(|h| (h.entry.entry_id.as_ref(), h.distance))
            .collect();
        got.sort_unstable();
        let mut want: Vec<(&str, u32)> = truth[q]
            .iter()
            .map(|&(i, d)| (hex_of[&i].as_str(), d))
            .collect();
        want.sort_unstable();
        want.dedup(); // a hash listed twice is one entry (its id is the hash)
        if got != want {
            mismatches += 1;
        }
    }
    single.sort_unstable();
    let mut per_image: Vec<Duration> = queries
        .chunks_exact(PER_IMAGE)
        .map(|batch| {
            let start = Instant::now();
            std::hint::black_box(index.near_pdq(batch, RADIUS));
            start.elapsed()
        })
        .collect();
    per_image.sort_unstable();
    (single, per_image, mismatches)
}

mod vpdq {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use vigil_hash::{PdqHash, VpdqFeature};
    use vigil_index::{HashList, VpdqIndex, VpdqThresholds, kept_frames};
    use vigil_lists::{ListFile, ListFormat, ListSource};

    use super::{ms, percentile, rss_bytes};

    const FRAMES: usize = 60;
    const QUERIES: usize = 200;
    const SCAN_QUERIES: usize = 4;
    const BRUTE_SAMPLE: usize = 2_000;
    const FORM_QUERIES: usize = 40;

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed;
        move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    fn flip(hash: PdqHash, bits: usize, next: &mut impl FnMut() -> u64) -> PdqHash {
        let mut limbs = hash.limbs();
        for _ in 0..bits {
            let bit = (next() % 256) as usize;
            limbs[bit / 64] ^= 1 << (bit % 64);
        }
        PdqHash::from_limbs(limbs)
    }

    /// A shot: frames one second apart, each a few bits from the one before.
    fn video(next: &mut impl FnMut() -> u64) -> Vec<VpdqFeature> {
        let mut hash = PdqHash::from_limbs([next(), next(), next(), next()]);
        (0..FRAMES)
            .map(|i| {
                let step = 1 + (next() % 5) as usize;
                hash = flip(hash, step, next);
                let quality = if next().is_multiple_of(20) { 30 } else { 100 };
                VpdqFeature {
                    hash,
                    quality,
                    timestamp: i as f64,
                }
            })
            .collect()
    }

    /// python-threatexchange's `match_VPDQ_hash_brute` and default thresholds.
    fn brute(query: &[VpdqFeature], listed: &[VpdqFeature], t: &VpdqThresholds) -> bool {
        let keep = |v: &[VpdqFeature]| -> Vec<PdqHash> {
            kept_frames(v, t.min_quality)
                .into_iter()
                .map(|i| v[i].hash)
                .collect()
        };
        let (q, c) = (keep(query), keep(listed));
        if q.is_empty() || c.is_empty() {
            return false;
        }
        let within = |a: &[PdqHash], b: &[PdqHash]| {
            a.iter()
                .filter(|x| b.iter().any(|y| x.distance(y) <= t.max_distance))
                .count()
        };
        let qp = (within(&q, &c) * 100) as f64 / q.len() as f64;
        let cp = (within(&c, &q) * 100) as f64 / c.len() as f64;
        qp > 0.0 && qp >= t.query_match_percent && cp >= t.compared_match_percent
    }

    pub(super) fn run(videos: usize) {
        let mut next = rng(20_261_207);
        let rss_start = rss_bytes();
        let start = Instant::now();
        // The list as HMA publishes videos: `vpdq <json>` lines.
        let mut text = String::with_capacity(videos * FRAMES * 80);
        let mut listed = Vec::with_capacity(QUERIES / 2);
        for v in 0..videos {
            let frames = video(&mut next);
            text.push_str("vpdq ");
            text.push_str(&VpdqFeature::list_to_json(&frames));
            text.push('\n');
            if v % (videos / (QUERIES / 2)) == 0 && listed.len() < QUERIES / 2 {
                listed.push(frames);
            }
        }
        let generated = start.elapsed();
        let start = Instant::now();
        let source = ListSource {
            format: Some(ListFormat::Hma),
            ..ListSource::from(std::path::PathBuf::from("videos.txt"))
        };
        let file = ListFile::read_unchecked(&source, text.into_bytes());
        let list = Arc::new(HashList::from_file(&source, file, false).unwrap());
        let load = start.elapsed();
        let rss_list = rss_bytes();
        let t = VpdqThresholds::default();
        let start = Instant::now();
        let index = VpdqIndex::build([(list.clone(), t)]);
        let build = start.elapsed();
        let rss_index = rss_bytes();
        println!(
            "## vpdq-100k: {videos} listed videos of {FRAMES} frames, {} kept frames indexed, {QUERIES} queries of {FRAMES} frames",
            index.frames()
        );
        println!(
            "generate {:.1} s; load (parse, identities): {:.1} s, list heap {} MB; build {:.1} s, index heap {} MB; RSS after list {} MB, after index {} MB (process start {} MB, text freed)",
            generated.as_secs_f64(),
            load.as_secs_f64(),
            list.heap_bytes() >> 20,
            build.as_secs_f64(),
            index.heap_bytes() >> 20,
            rss_list.saturating_sub(rss_start) >> 20,
            rss_index.saturating_sub(rss_start) >> 20,
            rss_start >> 20,
        );
        // Queries: noisy copies (8 bits of noise per frame, other times) of listed videos,
        // then unrelated videos.
        let mut queries: Vec<Vec<VpdqFeature>> = listed
            .iter()
            .map(|frames| {
                frames
                    .iter()
                    .map(|f| VpdqFeature {
                        hash: flip(f.hash, 8, &mut next),
                        quality: 90,
                        timestamp: f.timestamp + 7.5,
                    })
                    .collect()
            })
            .collect();
        queries.extend((0..QUERIES / 2).map(|_| video(&mut next)));
        let mut latencies: Vec<Duration> = Vec::new();
        let mut found = 0;
        for (q, query) in queries.iter().enumerate() {
            let start = Instant::now();
            let matches = index.lookup(query);
            latencies.push(start.elapsed());
            if q < QUERIES / 2 {
                found += usize::from(!matches.is_empty());
            } else {
                assert!(matches.is_empty(), "an unrelated query matched");
            }
        }
        let (copies, unrelated) = latencies.split_at_mut(QUERIES / 2);
        copies.sort_unstable();
        unrelated.sort_unstable();
        println!(
            "60-frame query p50 / p99: copies {} / {}, unrelated {} / {}; copies matched {found} of {}",
            ms(percentile(copies, 0.5)),
            ms(percentile(copies, 0.99)),
            ms(percentile(unrelated, 0.5)),
            ms(percentile(unrelated, 0.99)),
            QUERIES / 2
        );
        // The scanner also looks a video up in each extra query form. A turned or mirrored
        // video's frame hashes are as far from the listed ones as a random video's, so the 7
        // dihedral forms cost 7 lookups of unrelated queries (fresh ones, not cached).
        let mut with_forms: Vec<Duration> = queries[..QUERIES / 2]
            .iter()
            .take(FORM_QUERIES)
            .map(|query| {
                let forms: Vec<Vec<VpdqFeature>> = (0..7).map(|_| video(&mut next)).collect();
                let start = Instant::now();
                std::hint::black_box(index.lookup(query));
                for form in &forms {
                    std::hint::black_box(index.lookup(form));
                }
                start.elapsed()
            })
            .collect();
        with_forms.sort_unstable();
        println!(
            "with the 7 dihedral query forms, p50 of {FORM_QUERIES} copies: {} ({:.1}x the video as decoded alone)",
            ms(percentile(&with_forms, 0.5)),
            percentile(&with_forms, 0.5).as_secs_f64() / percentile(copies, 0.5).as_secs_f64()
        );
        let median = percentile(copies, 0.5).max(percentile(unrelated, 0.5));
        // Baseline 1: the linear scan of every kept frame, same answers.
        let scan = VpdqIndex::build_with([(list.clone(), t)], usize::MAX);
        let mut scanned: Vec<Duration> = queries[QUERIES / 2 - SCAN_QUERIES / 2..][..SCAN_QUERIES]
            .iter()
            .map(|q| {
                let start = Instant::now();
                std::hint::black_box(scan.lookup(q));
                start.elapsed()
            })
            .collect();
        scanned.sort_unstable();
        let scan_median = percentile(&scanned, 0.5);
        println!(
            "baseline linear scan of all frames, p50 of {SCAN_QUERIES} queries: {} (index / scan {:.4})",
            ms(scan_median),
            median.as_secs_f64() / scan_median.as_secs_f64()
        );
        // Baseline 2: the reference's brute matcher on a sample of the listed videos.
        let sample: Vec<&[VpdqFeature]> = (0..BRUTE_SAMPLE)
            .map(|v| {
                list.entry(vigil_core::Algorithm::Vpdq, v * (videos / BRUTE_SAMPLE))
                    .frames
            })
            .collect();
        let query = &queries[QUERIES / 2];
        let start = Instant::now();
        let hits = sample.iter().filter(|v| brute(query, v, &t)).count();
        let per_video = start.elapsed().as_secs_f64() / BRUTE_SAMPLE as f64;
        std::hint::black_box(hits);
        let brute_all = Duration::from_secs_f64(per_video * videos as f64);
        println!(
            "baseline brute matcher over {BRUTE_SAMPLE} listed videos, scaled to {videos}: {} per query (index / brute {:.5})",
            ms(brute_all),
            median.as_secs_f64() / brute_all.as_secs_f64()
        );
        println!();
    }
}
