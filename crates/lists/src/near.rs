//! Hamming-radius search for perceptual hashes (PDQ, pHash, dHash, aHash).
//!
//! Lists of up to [`MIH_MIN_ENTRIES`] hashes are scanned linearly (contiguous arrays, about
//! 0.2 ms per query per million PDQ hashes on one core, and exact by construction). Larger
//! ones also get a multi-index (16-bit chunks, see `mih.rs`) that visits only the entries
//! sharing a nearly equal chunk with a query; the tests check it against the scan.

use std::sync::Arc;

use vigil_hash::{Algorithm, Family, Hash64, PdqHash};

use crate::mih::MultiIndex;
use crate::{HashEntry, HashList, HashValue, ListInfo};

/// Hash tables with at least this many entries get a multi-index; smaller ones are scanned
/// (below this size a scan is as fast and needs no 4 MiB of bucket offsets).
pub const MIH_MIN_ENTRIES: usize = 4096;

/// Perceptual-hash search over any number of lists.
#[derive(Debug, Default)]
pub struct NearIndex {
    lists: Vec<Arc<HashList>>,
    pdq: Vec<PdqHash>,
    pdq_refs: Vec<(u32, u32)>,
    pdq_index: Option<MultiIndex>,
    bits64: [Table64; 3],
}

/// One 64-bit family's hashes, (list, entry) references in parallel, and the multi-index.
type Table64 = (Vec<u64>, Vec<(u32, u32)>, Option<MultiIndex>);

fn pdq_chunk(hash: &PdqHash, c: usize) -> u16 {
    (hash.limbs()[c / 4] >> (16 * (c % 4))) as u16
}

fn bits64_chunk(hash: u64, c: usize) -> u16 {
    (hash >> (16 * c)) as u16
}

/// One entry within the radius of a query.
#[derive(Debug, Clone, Copy)]
pub struct NearHit<'a> {
    /// The list holding the entry.
    pub list: &'a ListInfo,
    /// The entry.
    pub entry: &'a HashEntry,
    /// The smallest distance from any query to the entry.
    pub distance: u32,
    /// Which query (index into the slice given) achieved it; the first on ties.
    pub query: usize,
}

fn family_slot(family: Family) -> usize {
    match family {
        Family::Phash => 0,
        Family::Dhash => 1,
        Family::Ahash => 2,
    }
}

impl NearIndex {
    /// Indexes every perceptual entry of `lists`.
    pub fn build<L: Into<Arc<HashList>>>(lists: impl IntoIterator<Item = L>) -> NearIndex {
        NearIndex::build_with(lists, MIH_MIN_ENTRIES)
    }

    /// As [`NearIndex::build`], with multi-indexes from `mih_min_entries` entries on.
    pub fn build_with<L: Into<Arc<HashList>>>(
        lists: impl IntoIterator<Item = L>,
        mih_min_entries: usize,
    ) -> NearIndex {
        let lists: Vec<Arc<HashList>> = lists.into_iter().map(Into::into).collect();
        let mut index = NearIndex::default();
        for (l, list) in lists.iter().enumerate() {
            for (e, entry) in list.entries.iter().enumerate() {
                let at = (l as u32, e as u32);
                match (entry.algorithm.family(), entry.value) {
                    (_, HashValue::Pdq(hash)) => {
                        index.pdq.push(hash);
                        index.pdq_refs.push(at);
                    }
                    (Some(family), HashValue::Bits64(hash)) => {
                        let (hashes, refs, _) = &mut index.bits64[family_slot(family)];
                        hashes.push(hash.value());
                        refs.push(at);
                    }
                    _ => {}
                }
            }
        }
        if index.pdq.len() >= mih_min_entries {
            let pdq = &index.pdq;
            index.pdq_index = Some(MultiIndex::build(pdq.len(), 16, |i, c| {
                pdq_chunk(&pdq[i], c)
            }));
        }
        for (hashes, _, mih) in &mut index.bits64 {
            if hashes.len() >= mih_min_entries {
                *mih = Some(MultiIndex::build(hashes.len(), 4, |i, c| {
                    bits64_chunk(hashes[i], c)
                }));
            }
        }
        index.lists = lists;
        index
    }

    /// Bytes of hashes, references and multi-index tables (not the lists themselves).
    pub fn heap_bytes(&self) -> usize {
        let mih = |m: &Option<MultiIndex>| m.as_ref().map_or(0, MultiIndex::heap_bytes);
        let pdq = self.pdq.len() * (32 + 8) + mih(&self.pdq_index);
        let bits64: usize = self
            .bits64
            .iter()
            .map(|(h, _, m)| h.len() * 16 + mih(m))
            .sum();
        pdq + bits64
    }

    /// The perceptual algorithms that have at least one entry.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        let mut algorithms = Vec::new();
        if !self.pdq.is_empty() {
            algorithms.push(Algorithm::Pdq);
        }
        for (algorithm, family) in [
            (Algorithm::Phash, Family::Phash),
            (Algorithm::Dhash, Family::Dhash),
            (Algorithm::Ahash, Family::Ahash),
        ] {
            if !self.bits64[family_slot(family)].0.is_empty() {
                algorithms.push(algorithm);
            }
        }
        algorithms
    }

    fn hit(&self, (l, e): (u32, u32), distance: u32, query: usize) -> NearHit<'_> {
        let list = &self.lists[l as usize];
        NearHit {
            list: &list.info,
            entry: &list.entries[e as usize],
            distance,
            query,
        }
    }

    /// Every PDQ entry within `radius` of any of `queries` (e.g. the dihedral and trimmed
    /// variants of one image), each once, with its best distance; ordered by distance.
    pub fn near_pdq(&self, queries: &[PdqHash], radius: u32) -> Vec<NearHit<'_>> {
        let Some(index) = &self.pdq_index else {
            let mut hits: Vec<NearHit<'_>> = self
                .pdq
                .iter()
                .zip(&self.pdq_refs)
                .filter_map(|(listed, &at)| {
                    let (query, distance) = best(queries.iter().map(|q| q.distance(listed)))?;
                    (distance <= radius).then(|| self.hit(at, distance, query))
                })
                .collect();
            hits.sort_by_key(|h| h.distance);
            return hits;
        };
        let mut found = Vec::new();
        for (q, query) in queries.iter().enumerate() {
            index.candidates(
                radius,
                |c| pdq_chunk(query, c),
                |id| {
                    let distance = query.distance(&self.pdq[id as usize]);
                    if distance <= radius {
                        found.push((id, distance, q));
                    }
                },
            );
        }
        self.collect(found, &self.pdq_refs)
    }

    /// Hits from (entry, distance, query) triples: each entry once, with its smallest
    /// distance (the first query on ties), ordered by distance then entry — the scan's order.
    fn collect(&self, mut found: Vec<(u32, u32, usize)>, refs: &[(u32, u32)]) -> Vec<NearHit<'_>> {
        found.sort_unstable();
        found.dedup_by_key(|&mut (id, _, _)| id);
        found.sort_by_key(|&(id, distance, _)| (distance, id));
        found
            .into_iter()
            .map(|(id, distance, query)| self.hit(refs[id as usize], distance, query))
            .collect()
    }

    /// Every `family` entry within `radius` of `query`; ordered by distance.
    pub fn near_bits64(&self, family: Family, query: Hash64, radius: u32) -> Vec<NearHit<'_>> {
        let (hashes, refs, index) = &self.bits64[family_slot(family)];
        if let Some(index) = index {
            let mut found = Vec::new();
            index.candidates(
                radius,
                |c| bits64_chunk(query.value(), c),
                |id| {
                    let distance = (hashes[id as usize] ^ query.value()).count_ones();
                    if distance <= radius {
                        found.push((id, distance, 0));
                    }
                },
            );
            return self.collect(found, refs);
        }
        let mut hits: Vec<NearHit<'_>> = hashes
            .iter()
            .zip(refs)
            .filter_map(|(&listed, &at)| {
                let distance = (listed ^ query.value()).count_ones();
                (distance <= radius).then(|| self.hit(at, distance, 0))
            })
            .collect();
        hits.sort_by_key(|h| h.distance);
        hits
    }
}

/// The index and value of the smallest item (the first on ties).
fn best(distances: impl Iterator<Item = u32>) -> Option<(usize, u32)> {
    distances.enumerate().fold(None, |best, (i, d)| match best {
        Some((_, b)) if b <= d => best,
        _ => Some((i, d)),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn pdq(seed: u64) -> PdqHash {
        let mut state = seed;
        PdqHash::from_limbs(std::array::from_fn(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state
        }))
    }

    fn flip_bits(hash: PdqHash, count: usize) -> PdqHash {
        let mut limbs = hash.limbs();
        for k in 0..count {
            let bit = (k * 37) % 256;
            limbs[bit / 64] ^= 1 << (bit % 64);
        }
        PdqHash::from_limbs(limbs)
    }

    #[test]
    fn finds_every_entry_within_the_radius_and_no_other() {
        let base = pdq(1);
        let mut csv = String::from("algorithm,hash,entry_id,category\n");
        for (i, bits) in [0usize, 10, 31, 32, 60].iter().enumerate() {
            csv += &format!("pdq,{},e{i},A\n", flip_bits(base, *bits));
        }
        csv += &format!("pdq,{},far,A\n", pdq(2));
        csv += "phash,00000000000000ff,h0,B\nphash,ffffffffffffffff,h1,B\n";
        let list = HashList::parse("l", Path::new("l.csv"), csv.as_bytes()).unwrap();
        let index = NearIndex::build(vec![list]);
        assert_eq!(index.algorithms(), [Algorithm::Pdq, Algorithm::Phash]);
        let hits = index.near_pdq(&[pdq(3), base], 31);
        let got: Vec<(&str, u32, usize)> = hits
            .iter()
            .map(|h| (h.entry.entry_id.as_str(), h.distance, h.query))
            .collect();
        assert_eq!(got, [("e0", 0, 1), ("e1", 10, 1), ("e2", 31, 1)]);
        let near = index.near_bits64(
            Family::Phash,
            Hash64::from_hex("000000000000000f").unwrap(),
            4,
        );
        assert_eq!(near.len(), 1);
        assert_eq!(
            (near[0].entry.entry_id.as_str(), near[0].distance),
            ("h0", 4)
        );
        assert!(
            index
                .near_bits64(Family::Dhash, Hash64::default(), 64)
                .is_empty()
        );
    }

    /// The multi-index must return exactly what the scan returns: same entries, distances,
    /// best queries and order, for radii below, at and above the chunk boundaries.
    #[test]
    fn multi_index_agrees_with_the_scan() {
        let bases: Vec<PdqHash> = (0..8).map(|i| pdq(100 + i)).collect();
        let mut csv = String::from("algorithm,hash,entry_id,category\n");
        for i in 0..3000u64 {
            csv += &format!("pdq,{},r{i},A\n", pdq(1000 + i));
            csv += &format!("ahash,{:016x},h{i},A\n", pdq(5000 + i).limbs()[0]);
        }
        for (b, base) in bases.iter().enumerate() {
            for bits in (0..=70).step_by(3) {
                csv += &format!("pdq,{},p{b}-{bits},A\n", flip_bits(*base, bits));
                let near64 = base.limbs()[1] ^ ((1u64 << (bits % 64)) - 1);
                csv += &format!("ahash,{near64:016x},a{b}-{bits},A\n");
            }
        }
        let list = HashList::parse("l", Path::new("l.csv"), csv.as_bytes()).unwrap();
        let list = Arc::new(list);
        let scan = NearIndex::build_with([list.clone()], usize::MAX);
        let mih = NearIndex::build_with([list], 0);
        assert!(mih.heap_bytes() > scan.heap_bytes());
        let key = |hits: Vec<NearHit<'_>>| -> Vec<(String, u32, usize)> {
            hits.into_iter()
                .map(|h| (h.entry.entry_id.clone(), h.distance, h.query))
                .collect()
        };
        for radius in [0, 1, 15, 16, 31, 32, 47, 64] {
            for b in 0..bases.len() - 1 {
                let queries = [pdq(9), bases[b], flip_bits(bases[b + 1], 5)];
                let expected = key(scan.near_pdq(&queries, radius));
                assert_eq!(
                    key(mih.near_pdq(&queries, radius)),
                    expected,
                    "radius {radius}"
                );
                assert!(!expected.is_empty() || radius == 0);
                let query = Hash64::from_hex(&format!("{:016x}", bases[b].limbs()[1])).unwrap();
                for r in [radius / 4, radius / 2] {
                    let expected = key(scan.near_bits64(Family::Ahash, query, r));
                    let got = key(mih.near_bits64(Family::Ahash, query, r));
                    assert_eq!(got, expected, "64-bit radius {r}");
                }
            }
        }
    }
}
