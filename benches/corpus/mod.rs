//! What the text benchmarks share: realistic DMs made of Debian's fortunes (English prose,
//! quotes and dialogue), from VIGIL_TEXT_CORPUS (default:
//! .cache/text-eval/fortunes/usr/share/games/fortunes; `scripts/fetch-fortunes` fetches it).
#![allow(dead_code)] // each benchmark uses part of it

use std::path::{Path, PathBuf};

/// DMs per run.
pub(crate) const MESSAGES: usize = 200_000;
/// About how long each is.
pub(crate) const MESSAGE_BYTES: usize = 180;

pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        // xorshift64*: deterministic data, no dependency.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub(crate) fn corpus_dir() -> PathBuf {
    std::env::var_os("VIGIL_TEXT_CORPUS").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(".cache/text-eval/fortunes/usr/share/games/fortunes")
        },
        PathBuf::from,
    )
}

/// The corpus's words, in order (fortunes are English prose, quotes and dialogue).
pub(crate) fn corpus_words() -> Vec<String> {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/bench-text", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_none())
        .collect();
    files.sort();
    let mut words = Vec::new();
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        words.extend(
            text.split_whitespace()
                .filter(|w| *w != "%")
                .map(str::to_string),
        );
    }
    assert!(
        words.len() > 10_000,
        "corpus too small: {} words",
        words.len()
    );
    words
}

/// `n` DMs of about 180 bytes: consecutive corpus words from random places.
pub(crate) fn messages(words: &[String], n: usize, rng: &mut Rng) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut at = rng.below(words.len());
            let mut text = String::new();
            while text.len() < MESSAGE_BYTES {
                text += &words[at % words.len()];
                text.push(' ');
                at += 1;
            }
            text
        })
        .collect()
}
