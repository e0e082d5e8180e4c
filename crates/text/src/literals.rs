//! Every occurrence of many literal strings at once, for large term lists.
//!
//! Aho-Corasick's automaton takes one dependent load per byte, and at thousands of phrase
//! terms over normalised text (no gaps between words, so the automaton is rarely near its
//! root) its states no longer fit in the caches: each byte waits on memory. This matcher
//! looks only where it is told to (whole-word terms: where a word may start, a quarter of
//! the positions of such text) and keeps its hot data small. Each pattern is found through
//! its key, its first `min(len, 8)` bytes. At a position, the window's first four bytes pick
//! which key lengths of four and more to try, and its first two which of two and three
//! (most positions have few or none: tables of them per hash of those bytes). The window of
//! each length tried is hashed and tested against a bitset of 16 to 32 bits per pattern (two bits
//! in one word); a hit sends the window to a table of the patterns (open addressing: one
//! cache miss, usually), whose slots hold their first 16 bytes, so that only longer patterns
//! are compared elsewhere.
//!
//! Like [`aho_corasick::AhoCorasick::find_overlapping_iter`], it reports every pattern at
//! every place it occurs (that it looks at), overlapping ones included.

/// Keys are at most this long: the bytes of one `u64`.
const KEY_MAX: usize = 8;
/// Keys at least this long are tried where a window starts as one of them does.
const PREFIX: usize = 4;

/// Mixes a key with its length; the top bits index the bitset and the table.
fn hash(key: u64, len: usize) -> u64 {
    (key ^ (len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xFF51_AFD7_ED55_8CCD)
}

/// A key's two bits in its filter word (taken from hash bits below those that pick the word).
fn bits_of(h: u64) -> u64 {
    (1 << ((h >> 20) & 63)) | (1 << ((h >> 26) & 63))
}

/// The low `len` bytes (1 to 8) of a window.
fn mask(len: usize) -> u64 {
    u64::MAX >> (8 * (KEY_MAX - len))
}

/// The key bytes of a pattern, or the window at a position, as a little-endian `u64`.
fn load(bytes: &[u8]) -> u64 {
    let mut window = [0u8; KEY_MAX];
    let len = bytes.len().min(KEY_MAX);
    window[..len].copy_from_slice(&bytes[..len]);
    u64::from_le_bytes(window)
}

/// Positions looked up in one block (a power of two, so indices are masked, not checked).
const POSITIONS: usize = 32;

/// A position to look up: the window of text from byte `at`, and which key lengths to try.
#[derive(Debug, Clone, Copy, Default)]
struct Position {
    window: u64,
    at: u32,
    lens: u32,
}

/// A table slot: a pattern's first 16 bytes (as two little-endian words, zero-padded), its
/// length (0: an empty slot) and id.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: u64,
    rest: u64,
    len: u32,
    id: u32,
}

/// A compiled set of literal patterns (non-empty byte strings; duplicates allowed).
#[derive(Debug, Clone)]
pub(crate) struct Literals {
    /// Bit 1 if some key is one byte long.
    single: u32,
    /// Per hash of a key's first two bytes: bit `len` for each length `len` (2 or 3) of keys
    /// starting so.
    short_lens: Vec<u8>,
    short_lens_shift: u32,
    /// Per hash of a key's first [`PREFIX`] bytes: bit `len - PREFIX` for each length
    /// `len` of keys starting so.
    long_lens: Vec<u8>,
    long_lens_shift: u32,
    filter: Vec<u64>,
    filter_shift: u32,
    /// Open addressing with linear probing on the hash of (key, key length); at most half
    /// full, so a probe ends at an empty slot.
    slots: Vec<Slot>,
    slot_shift: u32,
    /// Per slot: where its pattern starts in `bytes` (read for patterns over 16 bytes).
    offsets: Vec<u32>,
    bytes: Vec<u8>,
}

impl Literals {
    /// Compiles `(id, pattern)`s. Empty patterns never match.
    ///
    /// # Panics
    /// If a pattern or all of them together are 4 GiB or more, or an id does not fit 32 bits
    /// (keyword lists are limited far below that).
    pub(crate) fn new<'p>(patterns: impl IntoIterator<Item = (usize, &'p [u8])>) -> Literals {
        let patterns: Vec<(usize, &[u8])> = patterns
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .collect();
        // Bits of the pattern count: 16 to 32 filter bits per pattern (32 KB, a first-level
        // cache, at 8,192), and two to four slots per pattern.
        let log2 = (usize::BITS - patterns.len().leading_zeros()).max(6);
        let filter_words = log2 - 2;
        let mut filter = vec![0u64; 1 << filter_words];
        let filter_shift = 64 - filter_words;
        let mut long_lens = vec![0u8; 1 << (log2 + 1)];
        let long_lens_shift = 64 - (log2 + 1);
        let mut slots = vec![Slot::default(); 1 << (log2 + 1)];
        let mut offsets = vec![0u32; slots.len()];
        let slot_shift = 64 - (log2 + 1);
        let mut bytes = Vec::new();
        // Eight entries per short key: most positions try none.
        let shorts = patterns
            .iter()
            .filter(|(_, p)| (2..PREFIX).contains(&p.len()))
            .count();
        let short_log2 = (usize::BITS - shorts.leading_zeros() + 3).max(6);
        let mut short_lens = vec![0u8; 1 << short_log2];
        let short_lens_shift = 64 - short_log2;
        let mut single = 0;
        let wide = |n: usize| u32::try_from(n).expect("keyword lists are far below 4 GiB");
        for &(id, pattern) in &patterns {
            let key_len = pattern.len().min(KEY_MAX);
            let key = load(pattern);
            let h = hash(key, key_len);
            filter[(h >> filter_shift) as usize] |= bits_of(h);
            let mut slot = (h >> slot_shift) as usize;
            while slots[slot].len != 0 {
                slot = (slot + 1) & (slots.len() - 1);
            }
            slots[slot] = Slot {
                key,
                rest: pattern.get(KEY_MAX..).map_or(0, load),
                len: wide(pattern.len()),
                id: wide(id),
            };
            offsets[slot] = wide(bytes.len());
            bytes.extend_from_slice(pattern);
            if key_len >= PREFIX {
                let prefix = hash(key & mask(PREFIX), PREFIX) >> long_lens_shift;
                long_lens[prefix as usize] |= 1 << (key_len - PREFIX);
            } else if key_len > 1 {
                let prefix = hash(key & mask(2), 2) >> short_lens_shift;
                short_lens[prefix as usize] |= 1 << key_len;
            } else {
                single = 1 << 1;
            }
        }
        Literals {
            single,
            short_lens,
            short_lens_shift,
            long_lens,
            long_lens_shift,
            filter,
            filter_shift,
            slots,
            slot_shift,
            offsets,
            bytes,
        }
    }

    /// Heap bytes of the compiled set.
    pub(crate) fn memory_usage(&self) -> usize {
        self.short_lens.len()
            + self.long_lens.len()
            + self.filter.len() * 8
            + self.slots.len() * (size_of::<Slot>() + 4)
            + self.bytes.len()
    }

    /// Calls `found(id, start, end)` for every occurrence of every pattern in `text` that
    /// starts at one of `starts` (ascending byte offsets below `text.len()`), by start.
    pub(crate) fn find_at(
        &self,
        text: &[u8],
        starts: impl IntoIterator<Item = usize>,
        mut found: impl FnMut(usize, usize, usize),
    ) {
        // In blocks of positions, in three passes: the positions where some key length is in
        // use; each (position, length) pair through the filter, in one flat loop; the pairs
        // it passed, through the table. The first two do not branch on the data: which key
        // lengths occur at a position, how many, and whether the filter passes them are too
        // irregular to predict, and a branch for them cost more than all the rest of a
        // lookup.
        let mut starts = starts.into_iter().peekable();
        let mut positions = [Position::default(); POSITIONS + 1];
        // (position << 8 | length) of each pair the filter passed.
        let mut passed = [0u16; POSITIONS * KEY_MAX];
        while starts.peek().is_some() {
            let mut kept = 0;
            for at in starts.by_ref().take(POSITIONS) {
                let (window, left) = match text.get(at..at + KEY_MAX) {
                    Some(window) => (
                        u64::from_le_bytes(window.try_into().unwrap_or_default()),
                        KEY_MAX,
                    ),
                    None => (load(&text[at..]), text.len() - at),
                };
                let long = match left >= PREFIX {
                    true => {
                        let prefix = hash(window & mask(PREFIX), PREFIX) >> self.long_lens_shift;
                        u32::from(self.long_lens[prefix as usize]) << PREFIX
                    }
                    false => 0,
                };
                // Bit `len` for each key length to try: those in use, up to the text's end.
                let short = hash(window & mask(2), 2) >> self.short_lens_shift;
                let short = u32::from(self.short_lens[short as usize]);
                let lens = (long | short | self.single) & ((2 << left) - 1);
                positions[kept & (POSITIONS - 1)] = Position {
                    window,
                    at: at as u32,
                    lens,
                };
                kept += usize::from(lens != 0);
            }
            let (mut p, mut lens, mut n) = (0, positions[0].lens, 0);
            // Every next position's lengths, so that they count as used: otherwise the compiler
            // loads them only once the current ones are done, behind a branch.
            let mut loaded = 0u32;
            while p < kept {
                let window = positions[p & (POSITIONS - 1)].window;
                let len = lens.trailing_zeros() as usize;
                let key = window & mask(len);
                let h = hash(key, len);
                let bits = bits_of(h);
                passed[n & (passed.len() - 1)] = ((p << 8) | len) as u16;
                n += usize::from(self.filter[(h >> self.filter_shift) as usize] & bits == bits);
                // The next position's lengths once these are done, without a branch.
                lens &= lens - 1;
                let done = u32::from(lens == 0);
                p += done as usize;
                let next = positions[p.min(POSITIONS)].lens;
                loaded ^= next;
                lens |= next & done.wrapping_neg();
            }
            std::hint::black_box(loaded);
            for &pair in &passed[..n] {
                let (p, len) = (usize::from(pair >> 8), usize::from(pair & 0xFF));
                let Position { window, at, .. } = positions[p & (POSITIONS - 1)];
                let key = window & mask(len);
                self.probe(text, at as usize, key, len, hash(key, len), &mut found);
            }
        }
    }

    /// Reports the patterns whose key of length `key_len`, hashed `h`, is `key` at `at`.
    fn probe(
        &self,
        text: &[u8],
        at: usize,
        key: u64,
        key_len: usize,
        h: u64,
        found: &mut impl FnMut(usize, usize, usize),
    ) {
        let mut slot = (h >> self.slot_shift) as usize;
        loop {
            let entry = self.slots[slot];
            if entry.len == 0 {
                return;
            }
            let len = entry.len as usize;
            if entry.key == key
                && len.min(KEY_MAX) == key_len
                && self.rest_matches(text, at, entry, slot)
            {
                found(entry.id as usize, at, at + len);
            }
            slot = (slot + 1) & (self.slots.len() - 1);
        }
    }

    /// Whether the pattern of `entry` (in `slot`), whose key matched at `at`, matches in full.
    fn rest_matches(&self, text: &[u8], at: usize, entry: Slot, slot: usize) -> bool {
        let len = entry.len as usize;
        if len <= KEY_MAX {
            return true;
        }
        let Some(found) = text.get(at..at + len) else {
            return false;
        };
        if load(&found[KEY_MAX..]) != entry.rest {
            return false;
        }
        let offset = self.offsets[slot] as usize;
        len <= 2 * KEY_MAX || found[2 * KEY_MAX..] == self.bytes[offset + 2 * KEY_MAX..offset + len]
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
            b"keepthisasecretforever",
            b"keepthisasecretforeven",
            b"",
            b"thisa",
            "é".as_bytes(),
            b"\0\0",
        ];
        let table: [&[u8]; 6] = [
            b"",
            b"a",
            b"keepthisasecretkeepthisasecretforever",
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
            patterns in proptest::collection::vec("[a-c\0é]{1,20}", 1..40),
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
