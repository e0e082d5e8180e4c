//! Multi-index hashing: exact Hamming range search by the pigeonhole principle.
//!
//! Each hash is cut into 16-bit chunks. If two hashes of `c` chunks are within distance `r`,
//! at least one chunk differs in at most `r / c` bits (integer division). So the entries
//! within `r` of a query are among those sharing some chunk with the query up to
//! `r / c` flipped bits; each candidate is then checked in full. One table per chunk maps a
//! chunk value to the entries having it: 65,537 bucket offsets and the entry ids sorted by
//! that chunk (counting sort) — two flat arrays, 4 bytes per entry per chunk.

use std::sync::LazyLock;

const BUCKETS: usize = 1 << 16;

/// The per-chunk tables.
#[derive(Debug, Default)]
pub(crate) struct MultiIndex {
    chunks: usize,
    len: usize,
    /// `chunks` runs of `BUCKETS + 1` offsets into the chunk's run of `ids`.
    offsets: Vec<u32>,
    /// `chunks` runs of `len` entry ids, each run sorted by that chunk's value.
    ids: Vec<u32>,
}

/// Every 16-bit mask, ordered by the number of bits set, and where each count starts.
static MASKS: LazyLock<(Vec<u16>, [usize; 18])> = LazyLock::new(|| {
    let mut masks: Vec<u16> = (0..=u16::MAX).collect();
    masks.sort_by_key(|m| (m.count_ones(), *m));
    let mut starts = [masks.len(); 18];
    for bits in (0..=16).rev() {
        if let Some(i) = masks.iter().position(|m| m.count_ones() == bits) {
            starts[bits as usize] = i;
        }
    }
    (masks, starts)
});

/// Masks of at most `bits` set bits.
fn masks(bits: u32) -> &'static [u16] {
    let (masks, starts) = &*MASKS;
    &masks[..starts[(bits as usize + 1).min(17)]]
}

impl MultiIndex {
    /// Indexes `len` hashes of `chunks` 16-bit chunks; `chunk(i, c)` is chunk `c` of hash `i`.
    pub(crate) fn build(len: usize, chunks: usize, chunk: impl Fn(usize, usize) -> u16) -> Self {
        let mut offsets = Vec::with_capacity(chunks * (BUCKETS + 1));
        let mut ids = vec![0u32; chunks * len];
        for c in 0..chunks {
            let mut counts = vec![0u32; BUCKETS + 1];
            for i in 0..len {
                counts[usize::from(chunk(i, c)) + 1] += 1;
            }
            for b in 0..BUCKETS {
                counts[b + 1] += counts[b];
            }
            let mut next = counts.clone();
            let run = &mut ids[c * len..(c + 1) * len];
            for i in 0..len {
                let slot = &mut next[usize::from(chunk(i, c))];
                run[*slot as usize] = i as u32;
                *slot += 1;
            }
            offsets.extend_from_slice(&counts);
        }
        MultiIndex {
            chunks,
            len,
            offsets,
            ids,
        }
    }

    /// Calls `visit` with every entry that has some chunk within `radius / chunks` bits of
    /// the query's (`query_chunk(c)`): a superset of the entries within `radius` (an entry
    /// may be visited more than once).
    pub(crate) fn candidates(
        &self,
        radius: u32,
        query_chunk: impl Fn(usize) -> u16,
        mut visit: impl FnMut(u32),
    ) {
        let flips = masks(radius / self.chunks as u32);
        for c in 0..self.chunks {
            let offsets = &self.offsets[c * (BUCKETS + 1)..(c + 1) * (BUCKETS + 1)];
            let ids = &self.ids[c * self.len..(c + 1) * self.len];
            let value = query_chunk(c);
            for &flip in flips {
                let bucket = usize::from(value ^ flip);
                let (start, end) = (offsets[bucket] as usize, offsets[bucket + 1] as usize);
                ids[start..end].iter().for_each(|&id| visit(id));
            }
        }
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
    fn masks_are_grouped_by_bit_count() {
        assert_eq!(masks(0), [0]);
        assert_eq!(masks(1).len(), 17);
        assert_eq!(masks(2).len(), 1 + 16 + 120);
        assert_eq!(masks(16).len(), 65536);
        assert_eq!(masks(40).len(), 65536);
        assert!(masks(2).iter().all(|m| m.count_ones() <= 2));
    }

    #[test]
    fn candidates_include_every_entry_within_the_radius() {
        // 2-chunk (32-bit) hashes, brute force over radii 0..=8.
        let mut state = 7u64;
        let hashes: Vec<u32> = (0..3000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (state >> 32) as u32
            })
            .collect();
        let index = MultiIndex::build(hashes.len(), 2, |i, c| (hashes[i] >> (16 * c)) as u16);
        for (q, &query) in hashes.iter().enumerate().take(50) {
            let query = query ^ ((q as u32 * 0x0101_0101) & 0x00ff_00ff);
            for radius in 0..=8 {
                let mut seen = Vec::new();
                index.candidates(radius, |c| (query >> (16 * c)) as u16, |id| seen.push(id));
                for (i, &h) in hashes.iter().enumerate() {
                    if (h ^ query).count_ones() <= radius {
                        assert!(seen.contains(&(i as u32)), "entry {i} radius {radius}");
                    }
                }
            }
        }
    }
}
