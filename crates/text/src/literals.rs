//! Every occurrence of many literal strings at once, for large term lists.
//!
//! Aho-Corasick's automaton takes one dependent load per byte, and at thousands of phrase
//! terms over normalised text (no gaps between words, so the automaton is rarely near its
//! root) its states no longer fit in the caches: each byte waits on memory. This matcher
//! looks only where it is told to (whole-word terms: where a word may start, a quarter of
//! the positions of such text) and keeps its hot data small. Each pattern is found through
//! its key, its first `min(len, 8)` bytes. At a position, the window of each key length in
//! use is hashed and tested against a bitset of 16 to 32 bits per pattern (two bits in one
//! word); a hit sends the window to a table of the keys, which confirms it and compares any
//! longer pattern in full.
//!
//! Like [`aho_corasick::AhoCorasick::find_overlapping_iter`], it reports every pattern at
//! every place it occurs (that it looks at), overlapping ones included.

/// Keys are at most this long: the bytes of one `u64`.
const KEY_MAX: usize = 8;

/// Mixes a key with its length; the top bits index the bitset and the table.
fn hash(key: u64, len: usize) -> u64 {
    (key ^ (len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xFF51_AFD7_ED55_8CCD)
}

/// A key's two bits in its filter word (taken from hash bits below those that pick the word).
fn bits_of(h: u64) -> u64 {
    (1 << ((h >> 20) & 63)) | (1 << ((h >> 26) & 63))
}

/// The low `len` bytes of a window.
fn mask(len: usize) -> u64 {
    match len {
        KEY_MAX => u64::MAX,
        len => (1u64 << (8 * len)) - 1,
    }
}

/// The key bytes of a pattern, or the window at a position, as a little-endian `u64`.
fn load(bytes: &[u8]) -> u64 {
    let mut window = [0u8; KEY_MAX];
    let len = bytes.len().min(KEY_MAX);
    window[..len].copy_from_slice(&bytes[..len]);
    u64::from_le_bytes(window)
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: u64,
    key_len: usize,
    /// Index into `patterns`.
    pattern: usize,
}

/// A compiled set of literal patterns (non-empty byte strings; duplicates allowed).
#[derive(Debug, Clone)]
pub(crate) struct Literals {
    /// (id, bytes).
    patterns: Vec<(usize, Box<[u8]>)>,
    /// The key lengths in use, ascending, with their masks.
    key_lens: Vec<(usize, u64)>,
    filter: Vec<u64>,
    filter_shift: u32,
    /// The entries of table bucket `b` are `entries[starts[b]..starts[b + 1]]`.
    starts: Vec<u32>,
    bucket_shift: u32,
    entries: Vec<Entry>,
}

impl Literals {
    /// Compiles `(id, pattern)`s. Empty patterns never match.
    pub(crate) fn new<'p>(patterns: impl IntoIterator<Item = (usize, &'p [u8])>) -> Literals {
        let patterns: Vec<(usize, Box<[u8]>)> = patterns
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(id, p)| (id, Box::from(p)))
            .collect();
        // Bits of the pattern count: 16 to 32 filter bits per pattern (32 KB, a first-level
        // cache, at 8,192), and one or two patterns per table bucket.
        let log2 = (usize::BITS - patterns.len().leading_zeros()).max(6);
        let filter_words = log2 - 2;
        let bucket_bits = log2;
        let mut filter = vec![0u64; 1 << filter_words];
        let filter_shift = 64 - filter_words;
        let bucket_shift = 64 - bucket_bits;
        let mut keyed: Vec<(usize, Entry)> = Vec::with_capacity(patterns.len());
        let mut key_lens: Vec<(usize, u64)> = Vec::new();
        for (index, (_, pattern)) in patterns.iter().enumerate() {
            let key_len = pattern.len().min(KEY_MAX);
            let key = load(pattern);
            let h = hash(key, key_len);
            filter[(h >> filter_shift) as usize] |= bits_of(h);
            let bucket = (h >> bucket_shift) as usize;
            keyed.push((
                bucket,
                Entry {
                    key,
                    key_len,
                    pattern: index,
                },
            ));
            if !key_lens.iter().any(|&(len, _)| len == key_len) {
                key_lens.push((key_len, mask(key_len)));
            }
        }
        key_lens.sort_unstable();
        keyed.sort_unstable_by_key(|&(bucket, entry)| (bucket, entry.pattern));
        let mut starts = vec![0u32; (1 << bucket_bits) + 1];
        for &(bucket, _) in &keyed {
            starts[bucket + 1] += 1;
        }
        for b in 1..starts.len() {
            starts[b] += starts[b - 1];
        }
        Literals {
            patterns,
            key_lens,
            filter,
            filter_shift,
            starts,
            bucket_shift,
            entries: keyed.into_iter().map(|(_, entry)| entry).collect(),
        }
    }

    /// Whether the set has no pattern.
    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Heap bytes of the compiled set.
    pub(crate) fn memory_usage(&self) -> usize {
        self.patterns
            .iter()
            .map(|(_, p)| p.len() + 24)
            .sum::<usize>()
            + self.filter.len() * 8
            + self.starts.len() * 4
            + self.entries.len() * size_of::<Entry>()
    }

    /// Calls `found(id, start, end)` for every occurrence of every pattern in `text` that
    /// starts at one of `starts` (ascending byte offsets below `text.len()`), by start.
    pub(crate) fn find_at(
        &self,
        text: &[u8],
        starts: impl IntoIterator<Item = usize>,
        mut found: impl FnMut(usize, usize, usize),
    ) {
        for at in starts {
            let (window, left) = match text.get(at..at + KEY_MAX) {
                Some(window) => (
                    u64::from_le_bytes(window.try_into().unwrap_or_default()),
                    KEY_MAX,
                ),
                None => (load(&text[at..]), text.len() - at),
            };
            for &(key_len, mask) in self.key_lens.iter().take_while(|&&(len, _)| len <= left) {
                self.probe(text, at, window & mask, key_len, &mut found);
            }
        }
    }

    #[inline(always)]
    fn probe(
        &self,
        text: &[u8],
        at: usize,
        key: u64,
        key_len: usize,
        found: &mut impl FnMut(usize, usize, usize),
    ) {
        let h = hash(key, key_len);
        let bits = bits_of(h);
        if self.filter[(h >> self.filter_shift) as usize] & bits != bits {
            return;
        }
        let bucket = (h >> self.bucket_shift) as usize;
        let entries = &self.entries[self.starts[bucket] as usize..self.starts[bucket + 1] as usize];
        for entry in entries {
            if entry.key != key || entry.key_len != key_len {
                continue;
            }
            let (id, pattern) = &self.patterns[entry.pattern];
            let end = at + pattern.len();
            if pattern.len() <= KEY_MAX || text.get(at..end) == Some(&pattern[..]) {
                found(*id, at, end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (pattern, start, end) by brute force, sorted.
    fn brute(patterns: &[&[u8]], text: &[u8]) -> Vec<(usize, usize, usize)> {
        let mut all = Vec::new();
        for (id, p) in patterns.iter().enumerate() {
            if p.is_empty() {
                continue;
            }
            for at in 0..text.len() {
                if text[at..].starts_with(p) {
                    all.push((id, at, at + p.len()));
                }
            }
        }
        all.sort_unstable();
        all
    }

    fn found(patterns: &[&[u8]], text: &[u8]) -> Vec<(usize, usize, usize)> {
        let literals = Literals::new(patterns.iter().copied().enumerate());
        let mut all = Vec::new();
        literals.find_at(text, 0..text.len(), |id, start, end| {
            all.push((id, start, end))
        });
        all.sort_unstable();
        all
    }

    #[test]
    fn finds_every_occurrence_of_every_length() {
        let patterns: Vec<&[u8]> = vec![
            b"a",
            b"ab",
            b"abc",
            b"keepthis",
            b"keepthisasecret",
            b"keepthisasecret",
            b"",
            b"thisa",
            "é".as_bytes(),
            b"\0\0",
        ];
        let table: [&[u8]; 6] = [
            b"",
            b"a",
            b"keepthisasecretkeepthisasecret",
            b"abcabab",
            "cafékeepthis\0\0\0".as_bytes(),
            b"keepthi",
        ];
        for text in table {
            assert_eq!(found(&patterns, text), brute(&patterns, text), "{text:?}");
        }
        assert_eq!(found(&patterns, b"abc").len(), 3);
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_brute_force(
            patterns in proptest::collection::vec("[a-c\0é]{1,12}", 1..40),
            text in "[a-c\0é]{0,64}",
        ) {
            let patterns: Vec<&[u8]> = patterns.iter().map(|p| p.as_bytes()).collect();
            proptest::prop_assert_eq!(
                found(&patterns, text.as_bytes()),
                brute(&patterns, text.as_bytes())
            );
        }
    }
}
