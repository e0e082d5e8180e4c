//! Multi-index hashing: exact Hamming range search by the pigeonhole principle.
//!
//! Each hash is cut into `m` chunks of `w` bits (bits beyond `m·w` are not indexed). If every
//! chunk `i` of an entry differed from the query's in more than `t_i` bits, the entry would be
//! at least `Σ (t_i + 1)` bits away; so with thresholds summing to `Σ (t_i + 1) > r`, every
//! entry within `r` has some chunk within `t_i` bits of the query's, and is found by probing,
//! per chunk, the buckets of every value within `t_i` bits. Each candidate is then checked in
//! full. The thresholds are spread over the chunks at query time, so one index answers any
//! radius exactly.
//!
//! The chunk width follows the table size (`layout`): wide enough that a bucket holds a few
//! entries (each probe then yields few candidates), narrow enough that probes stay cheap and
//! the bucket offsets small. One table per chunk: `2^w + 1` bucket offsets and the entry ids
//! sorted by the chunk's value (counting sort) — flat arrays, 4 bytes per entry per chunk.

/// Where a chunk lies in the hash: bits `start .. start + width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub(crate) start: u32,
    pub(crate) width: u32,
}

/// Flip masks are listed in advance up to this many bits (the thresholds of radius 31 at
/// every chunk width vigil uses are at most 3); beyond, they are enumerated per probe.
const LISTED_BITS: u32 = 3;

/// The per-chunk tables.
#[derive(Debug, Default)]
pub(crate) struct MultiIndex {
    chunks: Vec<Chunk>,
    /// Per chunk width: masks of at most [`LISTED_BITS`] bits, by bit count, and where the
    /// masks of more than `k` bits start (`listed_ends[k]`).
    listed: Vec<(u32, Vec<u32>, [usize; LISTED_BITS as usize + 1])>,
    len: usize,
    /// Per chunk, `2^width + 1` offsets into that chunk's run of `ids`.
    offsets: Vec<u32>,
    offset_starts: Vec<usize>,
    /// `chunks` runs of `len` entry ids, each run sorted by that chunk's value.
    ids: Vec<u32>,
}

/// Chunks of `width` bits over a `bits`-bit hash, as many as fit.
pub(crate) fn chunks(bits: u32, width: u32) -> Vec<Chunk> {
    (0..bits / width)
        .map(|i| Chunk {
            start: i * width,
            width,
        })
        .collect()
}

/// The chunk width for `entries` hashes of 256 bits. Wider chunks mean fewer candidates per
/// probe but more probes and larger bucket-offset tables (`2^width` per chunk). Measured in
/// benches/index.rs: at 1M entries 16-bit chunks are fastest (wider ones add probes that
/// cost more than the candidates they save); at 10M, 22-bit chunks answer a query 3× faster
/// than 20-bit ones and keep list plus index under 1 GB. Hence 16 bits up to 2M entries,
/// then `floor(log2(entries)) - 1`, at most 22.
pub(crate) fn pdq_width(entries: usize) -> u32 {
    let floor_log2 = (usize::BITS - 1).saturating_sub(entries.max(1).leading_zeros());
    if floor_log2 < 21 {
        return 16;
    }
    (floor_log2 - 1).min(22)
}

/// Calls `f` with every mask of at most `max_bits` bits set among the low `width` bits.
fn for_each_mask(width: u32, max_bits: u32, f: &mut impl FnMut(u32)) {
    fn go(from: u32, width: u32, left: u32, mask: u32, f: &mut impl FnMut(u32)) {
        f(mask);
        if left > 0 {
            for bit in from..width {
                go(bit + 1, width, left - 1, mask | (1 << bit), f);
            }
        }
    }
    go(0, width, max_bits.min(width), 0, f);
}

/// Number of masks of at most `max_bits` of `width` bits.
fn mask_count(width: u32, max_bits: u32) -> u64 {
    let mut total = 0u64;
    let mut binomial = 1u64;
    for k in 0..=max_bits.min(width) {
        total += binomial;
        binomial = binomial * u64::from(width - k) / u64::from(k + 1);
    }
    total
}

/// Counting sort of the entry ids by their value in `chunk` into `run`; returns the bucket
/// offsets.
fn sort_by_chunk(
    len: usize,
    chunk: Chunk,
    run: &mut [u32],
    value: &impl Fn(usize, Chunk) -> u32,
) -> Vec<u32> {
    let buckets = 1usize << chunk.width;
    let mut counts = vec![0u32; buckets + 1];
    for i in 0..len {
        counts[value(i, chunk) as usize + 1] += 1;
    }
    for b in 0..buckets {
        counts[b + 1] += counts[b];
    }
    let mut next = counts.clone();
    for i in 0..len {
        let slot = &mut next[value(i, chunk) as usize];
        run[*slot as usize] = i as u32;
        *slot += 1;
    }
    counts
}

impl MultiIndex {
    /// Indexes `len` hashes; `value(i, chunk)` is hash `i`'s value in `chunk`. The chunks'
    /// tables are built on all available cores (a 10M-entry list has ~11 of 40 MB each).
    pub(crate) fn build(
        len: usize,
        chunks: Vec<Chunk>,
        value: impl Fn(usize, Chunk) -> u32 + Sync,
    ) -> Self {
        let mut ids = vec![0u32; chunks.len() * len];
        let mut counts: Vec<Vec<u32>> = vec![Vec::new(); chunks.len()];
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(chunks.len())
            .max(1);
        let mut work: Vec<(&Chunk, &mut [u32], &mut Vec<u32>)> = chunks
            .iter()
            .zip(ids.chunks_mut(len.max(1)))
            .zip(counts.iter_mut())
            .map(|((c, run), counts)| (c, run, counts))
            .collect();
        let per_thread = work.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            for group in work.chunks_mut(per_thread) {
                let value = &value;
                scope.spawn(move || {
                    for (chunk, run, counts) in group.iter_mut() {
                        **counts = sort_by_chunk(len, **chunk, run, value);
                    }
                });
            }
        });
        let offset_starts = counts
            .iter()
            .scan(0, |at, c| {
                let start = *at;
                *at += c.len();
                Some(start)
            })
            .collect();
        let mut widths: Vec<u32> = chunks.iter().map(|c| c.width).collect();
        widths.dedup();
        let listed = widths
            .into_iter()
            .map(|width| {
                let mut masks = Vec::new();
                for_each_mask(width, LISTED_BITS, &mut |m| masks.push(m));
                masks.sort_by_key(|m| (m.count_ones(), *m));
                let ends =
                    std::array::from_fn(|k| masks.partition_point(|m| m.count_ones() <= k as u32));
                (width, masks, ends)
            })
            .collect();
        MultiIndex {
            chunks,
            listed,
            len,
            offsets: counts.concat(),
            offset_starts,
            ids,
        }
    }

    /// Per chunk, the most bits in which it may differ from the query's so that the probes
    /// cover `radius` (`None`: the chunk need not be probed).
    fn thresholds(&self, radius: u32) -> impl Iterator<Item = (usize, Option<u32>)> + '_ {
        let m = self.chunks.len() as u32;
        let units = radius + 1;
        (0..self.chunks.len()).map(move |c| {
            let share = units / m + u32::from((c as u32) < units % m);
            (c, share.checked_sub(1))
        })
    }

    /// Buckets visited per query at `radius` (to compare with a linear scan).
    pub(crate) fn probes(&self, radius: u32) -> u64 {
        self.thresholds(radius)
            .filter_map(|(c, t)| Some(mask_count(self.chunks[c].width, t?)))
            .sum()
    }

    /// Calls `visit` with every entry that has some chunk within its threshold of the
    /// query's (`query(chunk)`): a superset of the entries within `radius`; an entry may be
    /// visited more than once.
    pub(crate) fn candidates(
        &self,
        radius: u32,
        query: impl Fn(Chunk) -> u32,
        mut visit: impl FnMut(u32),
    ) {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        let mut found: Vec<u32> = Vec::new();
        for (c, threshold) in self.thresholds(radius) {
            let Some(threshold) = threshold else { continue };
            let chunk = self.chunks[c];
            let offsets = &self.offsets[self.offset_starts[c]..][..(1 << chunk.width) + 1];
            let ids = &self.ids[c * self.len..(c + 1) * self.len];
            let value = query(chunk);
            // In stages — every probe's bucket bounds, then every bucket's ids — so the
            // loads of each stage are independent of each other and overlap in the memory
            // system, instead of chaining offset → ids → hash for one probe at a time.
            ranges.clear();
            let mut probe = |flip: u32| {
                let bucket = (value ^ flip) as usize;
                ranges.push((offsets[bucket], offsets[bucket + 1]));
            };
            match self.listed.iter().find(|(w, _, _)| *w == chunk.width) {
                Some((_, masks, ends)) if threshold <= LISTED_BITS => {
                    masks[..ends[threshold as usize]]
                        .iter()
                        .for_each(|&m| probe(m));
                }
                _ => for_each_mask(chunk.width, threshold, &mut probe),
            }
            for &(start, end) in &ranges {
                found.extend_from_slice(&ids[start as usize..end as usize]);
            }
        }
        found.iter().for_each(|&id| visit(id));
    }

    /// Bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        (self.offsets.len() + self.ids.len()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_enumerate_each_combination_once() {
        for (width, bits) in [(16, 0), (16, 1), (16, 2), (20, 2), (7, 7), (5, 9)] {
            let mut seen = Vec::new();
            for_each_mask(width, bits, &mut |m| seen.push(m));
            let expected: Vec<u32> = (0..1u32 << width)
                .filter(|m| m.count_ones() <= bits)
                .collect();
            assert_eq!(seen.len() as u64, mask_count(width, bits), "{width}/{bits}");
            seen.sort_unstable();
            assert_eq!(seen, expected, "{width}/{bits}");
        }
    }

    #[test]
    fn chunk_width_follows_table_size() {
        let widths: Vec<u32> = [
            4096,
            1_000_000,
            2_097_152,
            5_000_000,
            10_000_000,
            100_000_000,
        ]
        .map(pdq_width)
        .into();
        assert_eq!(widths, [16, 16, 20, 21, 22, 22]);
    }

    #[test]
    fn thresholds_cover_the_radius() {
        let index = MultiIndex::build(0, chunks(256, 20), |_, _| 0);
        for radius in [0, 5, 11, 12, 31, 64] {
            let units: u32 = index
                .thresholds(radius)
                .map(|(_, t)| t.map_or(0, |t| t + 1))
                .sum();
            assert_eq!(units, radius + 1, "radius {radius}");
        }
        assert_eq!(index.probes(31), 8 * 211 + 4 * 21);
    }

    #[test]
    fn candidates_include_every_entry_within_the_radius() {
        // 32-bit hashes in 3 chunks of 10 bits (2 bits not indexed), brute force; radii
        // past 11 need thresholds above the listed masks.
        let mut state = 7u64;
        let hashes: Vec<u32> = (0..3000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (state >> 32) as u32
            })
            .collect();
        let value = |h: u32, c: Chunk| (h >> c.start) & ((1 << c.width) - 1);
        let index = MultiIndex::build(hashes.len(), chunks(32, 10), |i, c| value(hashes[i], c));
        for (q, &query) in hashes.iter().enumerate().take(50) {
            let query = query ^ ((q as u32 * 0x0101_0101) & 0x00ff_00ff);
            for radius in 0..=14 {
                let mut seen = Vec::new();
                index.candidates(radius, |c| value(query, c), |id| seen.push(id));
                for (i, &h) in hashes.iter().enumerate() {
                    if (h ^ query).count_ones() <= radius {
                        assert!(seen.contains(&(i as u32)), "entry {i} radius {radius}");
                    }
                }
            }
        }
    }
}
