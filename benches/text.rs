//! Keyword matching speed at 100 to 100,000 terms over 200,000 realistic DMs: vigil with full
//! normalisation and without any, against a plain Aho-Corasick over lower-cased text (all
//! matches, and leftmost only) and a `RegexSet` of the same terms, measured in the same run;
//! and vigil with the term search (`TermSearch`) its automatic choice did not pick.
//! Also prints automaton build time and memory.
//!
//! `scripts/bench-text` (fetches the benign corpus, Debian's fortunes, then runs
//! `cargo bench --bench text`). The corpus directory comes from VIGIL_TEXT_CORPUS (default:
//! .cache/text-eval/fortunes/usr/share/games/fortunes). VIGIL_BENCH_SIZES=100,1000 picks list
//! sizes; VIGIL_BENCH_REGEX=0 skips the RegexSet baseline. Results: docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

mod corpus;

use std::path::Path;
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasick, MatchKind};
use std::hint::black_box;

use corpus::{Rng, corpus_dir, corpus_words, messages};
use criterion::{BenchmarkId, Criterion, Throughput};
use regex::RegexSetBuilder;
use vigil_text::{KeywordList, KeywordMatcher, TermSearch};

/// `n` distinct terms of two or three random corpus words (lower-cased letters only), the
/// shape of phrase lists; few occur in the messages, as few list terms occur in real DMs.
fn terms(words: &[String], n: usize, rng: &mut Rng) -> Vec<String> {
    let clean: Vec<String> = words
        .iter()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_ascii_alphabetic())
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| w.len() >= 2)
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut terms = Vec::with_capacity(n);
    while terms.len() < n {
        let k = 2 + rng.below(2);
        let term: Vec<&str> = (0..k)
            .map(|_| clean[rng.below(clean.len())].as_str())
            .collect();
        let term = term.join(" ");
        if seen.insert(term.clone()) {
            terms.push(term);
        }
    }
    terms
}

fn matcher(terms: &[String], normalize: &str, search: TermSearch) -> KeywordMatcher {
    let mut csv = String::from("rule_id,term,category,normalize\n");
    for (i, term) in terms.iter().enumerate() {
        csv += &format!("r{i},{term},c,{normalize}\n");
    }
    let list = KeywordList::parse("bench", Path::new("bench.csv"), csv.as_bytes()).unwrap();
    KeywordMatcher::build_with(vec![list], search).unwrap()
}

/// The term search `Auto` does not pick for `n` terms (whole-word, the default), to compare
/// in the same run.
fn other_search(n: usize) -> TermSearch {
    match TermSearch::Auto.for_terms(n, true) {
        TermSearch::Literals => TermSearch::Automaton,
        _ => TermSearch::Literals,
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

fn main() {
    let sizes: Vec<usize> = std::env::var("VIGIL_BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000,10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    // VIGIL_BENCH_REGEX=0 skips the RegexSet baseline (building it at 10,000 terms takes
    // half a minute).
    let regex_baseline = std::env::var("VIGIL_BENCH_REGEX").map_or(true, |v| v != "0");
    let mut rng = Rng(0x5eed);
    let words = corpus_words();
    let mut messages = messages(&words, corpus::MESSAGES, &mut rng);
    let bytes: usize = messages.iter().map(String::len).sum();
    println!(
        "{} messages, {:.1} MB, from {} corpus words in {}",
        messages.len(),
        bytes as f64 / 1e6,
        words.len(),
        corpus_dir().display()
    );
    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    for n in sizes {
        let terms = terms(&words, n, &mut rng);
        // 1 % of messages carry a listed term, disguised as people do.
        for (i, message) in messages
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| i % 100 == 0)
        {
            let term = &terms[i % terms.len()];
            message.push_str(&term.replace('e', "3").replace(' ', "."));
        }
        let (full, full_build) = timed(|| matcher(&terms, "all", TermSearch::Auto));
        let (none, none_build) = timed(|| matcher(&terms, "none", TermSearch::Auto));
        let other = other_search(n);
        let (full_other, other_build) = timed(|| matcher(&terms, "all", other));
        let (plain, plain_build) = timed(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&terms)
                .unwrap()
        });
        let regex_set = (n <= 10_000 && regex_baseline).then(|| {
            timed(|| {
                let escaped = terms.iter().map(|t| format!(r"\b{}\b", regex::escape(t)));
                RegexSetBuilder::new(escaped)
                    .case_insensitive(true)
                    .size_limit(1 << 30)
                    .dfa_size_limit(1 << 30)
                    .build()
            })
        });
        println!(
            "{n} terms: build vigil (all steps) {:.1} ms, {:.1} MB; with {other:?} {:.1} ms, \
             {:.1} MB; vigil (none) {:.1} ms; aho-corasick {:.1} ms, {:.1} MB; regex set {}",
            full_build.as_secs_f64() * 1e3,
            full.automata_bytes() as f64 / 1e6,
            other_build.as_secs_f64() * 1e3,
            full_other.automata_bytes() as f64 / 1e6,
            none_build.as_secs_f64() * 1e3,
            plain_build.as_secs_f64() * 1e3,
            plain.memory_usage() as f64 / 1e6,
            match &regex_set {
                Some((Ok(_), t)) => format!("{:.1} ms", t.as_secs_f64() * 1e3),
                Some((Err(e), _)) =>
                    format!("failed: {}", e.to_string().lines().next().unwrap_or("")),
                None => "not built (over 10,000 terms)".into(),
            }
        );
        let mut group = criterion.benchmark_group("text");
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(BenchmarkId::new("vigil_all_steps", n), &n, |b, _| {
            b.iter(|| {
                messages
                    .iter()
                    .map(|m| full.find(black_box(m)).len())
                    .sum::<usize>()
            })
        });
        let other_id = format!("vigil_all_steps_{}", format!("{other:?}").to_lowercase());
        group.bench_with_input(BenchmarkId::new(other_id, n), &n, |b, _| {
            b.iter(|| {
                messages
                    .iter()
                    .map(|m| full_other.find(black_box(m)).len())
                    .sum::<usize>()
            })
        });
        group.bench_with_input(BenchmarkId::new("vigil_no_normalisation", n), &n, |b, _| {
            b.iter(|| {
                messages
                    .iter()
                    .map(|m| none.find(black_box(m)).len())
                    .sum::<usize>()
            })
        });
        group.bench_with_input(
            BenchmarkId::new("baseline_aho_corasick_lowercase", n),
            &n,
            |b, _| {
                b.iter(|| {
                    messages
                        .iter()
                        .map(|m| {
                            plain
                                .find_overlapping_iter(&black_box(m).to_lowercase())
                                .count()
                        })
                        .sum::<usize>()
                })
            },
        );
        // What "raw aho-corasick" usually means: leftmost non-overlapping matches only (which
        // would miss overlapping terms), for scale.
        group.bench_with_input(
            BenchmarkId::new("baseline_aho_corasick_lowercase_non_overlapping", n),
            &n,
            |b, _| {
                b.iter(|| {
                    messages
                        .iter()
                        .map(|m| plain.find_iter(&black_box(m).to_lowercase()).count())
                        .sum::<usize>()
                })
            },
        );
        if let Some((Ok(set), _)) = &regex_set {
            group.bench_with_input(BenchmarkId::new("baseline_regex_set", n), &n, |b, _| {
                b.iter(|| {
                    messages
                        .iter()
                        .map(|m| set.matches(black_box(m)).iter().count())
                        .sum::<usize>()
                })
            });
        }
        group.finish();
    }
    criterion.final_summary();
}
