//! What URL-list matching adds to the text pass: over 200,000 realistic DMs (Debian's
//! fortunes; 1 % carry a listed link in disguise, 5 % an ordinary link or a domain-like word),
//! the keyword pass alone (1,000 terms, every normalisation step, as `vigil run` scans text)
//! against the keyword pass plus link extraction, canonicalisation and lookup in a URL list of
//! 100,000 entries (and that URL pass alone), measured in the same run.
//!
//! `scripts/bench-url` (fetches the corpus, then runs `cargo bench --bench url`).
//! VIGIL_BENCH_URLS=10000,100000 picks list sizes. Results: docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

mod corpus;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use corpus::{Rng, corpus_dir, corpus_words, messages};
use criterion::{BenchmarkId, Criterion, Throughput};
use vigil_text::{KeywordList, KeywordMatcher};
use vigil_url::{Extractor, UrlIndex, UrlList};

const TERMS: usize = 1000;

fn label(rng: &mut Rng) -> String {
    let len = 4 + rng.below(8);
    (0..len)
        .map(|i| {
            let alphabet = if i == 0 { 26 } else { 36 };
            let k = rng.below(alphabet) as u8;
            if k < 26 {
                (b'a' + k) as char
            } else {
                (b'0' + k - 26) as char
            }
        })
        .collect()
}

/// `n` distinct listed pages, folders and domains.
fn url_list(n: usize, rng: &mut Rng) -> Vec<String> {
    let tlds = ["com", "net", "org", "info", "ru", "xyz", "top", "co.uk"];
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut listed = Vec::with_capacity(n);
    while listed.len() < n {
        let host = format!("{}.{}", label(rng), tlds[rng.below(tlds.len())]);
        let entry = match listed.len() % 3 {
            0 => format!("https://{host}/{}/{}.html", label(rng), label(rng)),
            1 => format!("{host}/{}/", label(rng)),
            _ => host,
        };
        // Short random hosts repeat at a million entries; a list holds each once.
        if seen.insert(entry.clone()) {
            listed.push(entry);
        }
    }
    listed
}

fn keyword_matcher(words: &[String], rng: &mut Rng) -> KeywordMatcher {
    let mut csv = String::from("rule_id,term,category\n");
    for i in 0..TERMS {
        let a = &words[rng.below(words.len())];
        let b = &words[rng.below(words.len())];
        let term: String = format!("{a} {b}")
            .chars()
            .filter(|c| c.is_ascii_alphabetic() || *c == ' ')
            .collect::<String>()
            .to_lowercase();
        if term.trim().len() > 3 {
            csv.push_str(&format!("k{i},{},bench\n", term.trim()));
        }
    }
    let list = KeywordList::parse("kw", "kw.csv".as_ref(), csv.as_bytes()).unwrap();
    KeywordMatcher::build(vec![list]).unwrap()
}

fn main() {
    let sizes: Vec<usize> = std::env::var("VIGIL_BENCH_URLS")
        .unwrap_or_else(|_| "100000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let mut rng = Rng(0x0bad_5eed);
    let words = corpus_words();
    let keywords = keyword_matcher(&words, &mut rng);
    let extractor = Extractor::new();
    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    for n in sizes {
        let listed = url_list(n, &mut rng);
        let text = listed.join("\n");
        let list = UrlList::parse("urls", "urls.txt".as_ref(), text.as_bytes()).unwrap();
        let index = UrlIndex::build(vec![Arc::new(list)]);
        let mut dms = messages(&words, corpus::MESSAGES, &mut rng);
        let benign = [
            "see https://docs.example.org/guide",
            "open report.pdf, e.g. now",
            "mail a@b.example.com",
        ];
        for (i, dm) in dms.iter_mut().enumerate() {
            if i % 100 == 0 {
                // A page as listed; a folder or domain with a page below it.
                let entry = &listed[rng.below(listed.len())];
                let below = if entry.ends_with(".html") {
                    ""
                } else {
                    "/x.jpg"
                };
                dm.push_str(&format!(" {}{below}", entry.replace('.', "[.]")));
            } else if i % 20 == 0 {
                dm.push_str(benign[i % benign.len()]);
            }
        }
        let bytes: usize = dms.iter().map(String::len).sum();
        println!(
            "{} messages, {:.1} MB, from {}; {n} listed URLs",
            dms.len(),
            bytes as f64 / 1e6,
            corpus_dir().display()
        );
        let url_pass = |dm: &str| -> usize {
            extractor
                .extract(dm)
                .iter()
                .map(|found| {
                    found
                        .url
                        .lookups()
                        .map(|e| index.lookup(e.hash()).count())
                        .sum::<usize>()
                })
                .sum()
        };
        let mut group = criterion.benchmark_group("url");
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(BenchmarkId::new("baseline_keyword_pass", n), &n, |b, _| {
            b.iter(|| {
                dms.iter()
                    .map(|m| keywords.find(black_box(m)).len())
                    .sum::<usize>()
            })
        });
        group.bench_with_input(BenchmarkId::new("keyword_and_url_pass", n), &n, |b, _| {
            b.iter(|| {
                dms.iter()
                    .map(|m| keywords.find(black_box(m)).len() + url_pass(black_box(m)))
                    .sum::<usize>()
            })
        });
        group.bench_with_input(BenchmarkId::new("url_pass", n), &n, |b, _| {
            b.iter(|| dms.iter().map(|m| url_pass(black_box(m))).sum::<usize>())
        });
        group.finish();
        let found: usize = dms.iter().map(|m| url_pass(m)).sum();
        println!("{found} list hits over {} messages", dms.len());
    }
    criterion.final_summary();
}
