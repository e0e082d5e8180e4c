//! Hamming-radius search for perceptual hashes (PDQ, pHash, dHash, aHash).
//!
//! Lists of up to [`MIH_MIN_ENTRIES`] hashes are scanned linearly (contiguous arrays, about
//! 5 ms per query per million PDQ hashes on one core, and exact by construction). Larger
//! ones also get a multi-index (chunks sized to the table, see `mih.rs`) that visits only the entries
//! sharing a nearly equal chunk with a query; the tests check it against the scan.

use std::sync::Arc;

use vigil_core::Algorithm;
use vigil_hash::{Family, Hash64, PdqHash};

use crate::mih::{self, Chunk, MultiIndex};
use vigil_lists::ListInfo;

use crate::{HashEntry, HashList};

/// Hash tables with at least this many entries get a multi-index; smaller ones are scanned
/// (below this size a scan is as fast and needs no bucket offsets).
pub const MIH_MIN_ENTRIES: usize = 4096;

/// Perceptual-hash search over any number of lists. Each list's hash arrays are searched in
/// place (no copy); large ones get a multi-index whose chunk width follows their size.
#[derive(Debug, Default)]
pub struct NearIndex {
    lists: Vec<Indexed>,
}

/// One list and the multi-indexes of its large tables.
#[derive(Debug)]
struct Indexed {
    list: Arc<HashList>,
    pdq: PdqSearch,
    bits64: [Option<MultiIndex>; 3],
}

/// The search over one array of PDQ hashes: a multi-index when the array is large enough,
/// else a linear scan. Shared by image lists and the frames of listed videos.
#[derive(Debug)]
pub(crate) struct PdqSearch(Option<MultiIndex>);

impl PdqSearch {
    /// A multi-index over `hashes` from `mih_min_entries` hashes on, with chunks of
    /// `chunk_bits` bits or the width the array's size calls for.
    pub(crate) fn build(
        hashes: &[PdqHash],
        mih_min_entries: usize,
        chunk_bits: Option<u32>,
    ) -> PdqSearch {
        PdqSearch((hashes.len() >= mih_min_entries).then(|| {
            let width = chunk_bits.unwrap_or_else(|| mih::pdq_width(hashes.len()));
            MultiIndex::build(hashes.len(), mih::chunks(256, width), |i, c| {
                pdq_chunk(&hashes[i], c)
            })
        }))
    }

    /// Calls `visit(index, distance)` for every hash of `hashes` (the array it was built
    /// over) within `radius` of `query`; by the multi-index, an entry may be visited more
    /// than once.
    pub(crate) fn within(
        &self,
        hashes: &[PdqHash],
        query: &PdqHash,
        radius: u32,
        mut visit: impl FnMut(u32, u32),
    ) {
        match &self.0 {
            Some(index) if index.probes(radius) < hashes.len() as u64 => {
                index.candidates(
                    radius,
                    |c| pdq_chunk(query, c),
                    |id| {
                        let distance = query.distance(&hashes[id as usize]);
                        if distance <= radius {
                            visit(id, distance);
                        }
                    },
                );
            }
            _ => {
                for (id, listed) in hashes.iter().enumerate() {
                    let distance = query.distance(listed);
                    if distance <= radius {
                        visit(id as u32, distance);
                    }
                }
            }
        }
    }

    /// Bytes of the multi-index tables.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, MultiIndex::heap_bytes)
    }
}

fn pdq_chunk(hash: &PdqHash, chunk: Chunk) -> u32 {
    let limbs = hash.limbs();
    let (limb, shift) = ((chunk.start / 64) as usize, chunk.start % 64);
    let mut bits = limbs[limb] >> shift;
    if shift + chunk.width > 64 {
        bits |= limbs[limb + 1] << (64 - shift);
    }
    (bits & ((1u64 << chunk.width) - 1)) as u32
}

fn bits64_chunk(hash: u64, chunk: Chunk) -> u32 {
    ((hash >> chunk.start) & ((1u64 << chunk.width) - 1)) as u32
}

/// One entry within the radius of a query.
#[derive(Debug, Clone)]
pub struct NearHit<'a> {
    /// The list holding the entry.
    pub list: &'a ListInfo,
    /// The entry.
    pub entry: HashEntry<'a>,
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

const FAMILIES: [(Algorithm, Family); 3] = [
    (Algorithm::Phash, Family::Phash),
    (Algorithm::Dhash, Family::Dhash),
    (Algorithm::Ahash, Family::Ahash),
];

/// (list, entry, distance, query) of a candidate within the radius.
type Found = (u32, u32, u32, usize);

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
        NearIndex::build_tuned(lists, mih_min_entries, None)
    }

    /// As [`NearIndex::build_with`], with PDQ chunks of `pdq_chunk_bits` bits instead of the
    /// width chosen by table size (for measurements).
    pub fn build_tuned<L: Into<Arc<HashList>>>(
        lists: impl IntoIterator<Item = L>,
        mih_min_entries: usize,
        pdq_chunk_bits: Option<u32>,
    ) -> NearIndex {
        let lists = lists
            .into_iter()
            .map(|list| {
                let list: Arc<HashList> = list.into();
                let pdq_index =
                    PdqSearch::build(&list.tables.pdq.values, mih_min_entries, pdq_chunk_bits);
                let bits64 = std::array::from_fn(|f| {
                    let hashes = &list.tables.bits64[f].values;
                    (hashes.len() >= mih_min_entries).then(|| {
                        MultiIndex::build(hashes.len(), mih::chunks(64, 16), |i, c| {
                            bits64_chunk(hashes[i].value(), c)
                        })
                    })
                });
                Indexed {
                    pdq: pdq_index,
                    bits64,
                    list,
                }
            })
            .collect();
        NearIndex { lists }
    }

    /// Bytes of the multi-index tables (the hashes themselves are the lists').
    pub fn heap_bytes(&self) -> usize {
        let mih = |m: &Option<MultiIndex>| m.as_ref().map_or(0, MultiIndex::heap_bytes);
        self.lists
            .iter()
            .map(|l| l.pdq.heap_bytes() + l.bits64.iter().map(mih).sum::<usize>())
            .sum()
    }

    /// The perceptual algorithms that have at least one entry.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        let has = |f: &dyn Fn(&HashList) -> bool| self.lists.iter().any(|l| f(&l.list));
        let mut algorithms = Vec::new();
        if has(&|l| !l.tables.pdq.values.is_empty()) {
            algorithms.push(Algorithm::Pdq);
        }
        for (algorithm, family) in FAMILIES {
            if has(&|l| !l.tables.bits64[family_slot(family)].values.is_empty()) {
                algorithms.push(algorithm);
            }
        }
        algorithms
    }

    /// Every PDQ entry within `radius` of any of `queries` (e.g. the dihedral and trimmed
    /// variants of one image), each once, with its best distance; ordered by distance.
    pub fn near_pdq(&self, queries: &[PdqHash], radius: u32) -> Vec<NearHit<'_>> {
        let mut found: Vec<Found> = Vec::new();
        for (l, indexed) in self.lists.iter().enumerate() {
            let hashes = &indexed.list.tables.pdq.values;
            for (q, query) in queries.iter().enumerate() {
                indexed.pdq.within(hashes, query, radius, |id, distance| {
                    found.push((l as u32, id, distance, q));
                });
            }
        }
        self.collect(found, Algorithm::Pdq)
    }

    /// Every `family` entry within `radius` of `query`; ordered by distance.
    pub fn near_bits64(&self, family: Family, query: Hash64, radius: u32) -> Vec<NearHit<'_>> {
        let slot = family_slot(family);
        let query = query.value();
        let mut found: Vec<Found> = Vec::new();
        for (l, indexed) in self.lists.iter().enumerate() {
            let hashes = &indexed.list.tables.bits64[slot].values;
            let distance = |e: usize| (hashes[e].value() ^ query).count_ones();
            match &indexed.bits64[slot] {
                Some(index) if index.probes(radius) < hashes.len() as u64 => {
                    index.candidates(
                        radius,
                        |c| bits64_chunk(query, c),
                        |id| {
                            let d = distance(id as usize);
                            if d <= radius {
                                found.push((l as u32, id, d, 0));
                            }
                        },
                    );
                }
                _ => found.extend(
                    (0..hashes.len())
                        .map(|e| (e, distance(e)))
                        .filter(|&(_, d)| d <= radius)
                        .map(|(e, d)| (l as u32, e as u32, d, 0)),
                ),
            }
        }
        self.collect(found, FAMILIES[slot].0)
    }

    /// Hits from candidates: each entry once, with its smallest distance (the first query
    /// on ties), ordered by distance, then list and entry.
    fn collect(&self, mut found: Vec<Found>, algorithm: Algorithm) -> Vec<NearHit<'_>> {
        found.sort_unstable_by_key(|&(l, e, d, q)| (l, e, d, q));
        found.dedup_by_key(|&mut (l, e, _, _)| (l, e));
        found.sort_by_key(|&(l, e, d, _)| (d, l, e));
        found
            .into_iter()
            .map(|(l, e, distance, query)| {
                let list = &self.lists[l as usize].list;
                NearHit {
                    list: &list.info,
                    entry: list.entry(algorithm, e as usize),
                    distance,
                    query,
                }
            })
            .collect()
    }
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
        let got: Vec<(String, u32, usize)> = hits
            .iter()
            .map(|h| (h.entry.entry_id.to_string(), h.distance, h.query))
            .collect();
        let want =
            [("e0", 0, 1), ("e1", 10, 1), ("e2", 31, 1)].map(|(e, d, q)| (e.to_string(), d, q));
        assert_eq!(got, want);
        let near = index.near_bits64(
            Family::Phash,
            Hash64::from_hex("000000000000000f").unwrap(),
            4,
        );
        assert_eq!(near.len(), 1);
        assert_eq!(
            (near[0].entry.entry_id.as_ref(), near[0].distance),
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
                .map(|h| (h.entry.entry_id.to_string(), h.distance, h.query))
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

#[cfg(test)]
mod exactness {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;

    /// The list's PDQ entries within `radius` of `query`, by brute force over the parsed
    /// hashes: (entry id, distance), sorted.
    fn brute_force(list: &HashList, query: &PdqHash, radius: u32) -> Vec<(String, u32)> {
        let mut want: Vec<(String, u32)> = list
            .entries()
            .filter_map(|e| match e.value {
                crate::HashValue::Pdq(h) => {
                    let d: u32 = (0..4)
                        .map(|i| (h.limbs()[i] ^ query.limbs()[i]).count_ones())
                        .sum();
                    (d <= radius).then(|| (e.entry_id.to_string(), d))
                }
                _ => None,
            })
            .collect();
        want.sort();
        want
    }

    fn flip(hash: [u64; 4], bits: &[u8]) -> [u64; 4] {
        let mut limbs = hash;
        for &b in bits {
            limbs[usize::from(b) / 64] ^= 1 << (b % 64);
        }
        limbs
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Uniform random hashes plus clusters of near-duplicates (as real lists have), every
        /// chunk width the index uses, radii below, at and past the pigeonhole bound of
        /// 16-bit chunks: the index returns exactly the brute-force set.
        #[test]
        fn the_index_returns_exactly_the_brute_force_set(
            seed in any::<u64>(),
            centres in prop::collection::vec(any::<[u64; 4]>(), 8..16),
            flips in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 64),
            width in 16u32..=22,
        ) {
            let mut state = seed;
            let mut next = || {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                state
            };
            let mut csv = String::from("algorithm,hash,entry_id,category\n");
            for i in 0..4200 {
                let h = PdqHash::from_limbs([next(), next(), next(), next()]);
                csv += &format!("pdq,{h},u{i},A\n");
            }
            for (i, bits) in flips.iter().enumerate() {
                let h = PdqHash::from_limbs(flip(centres[i % centres.len()], bits));
                csv += &format!("pdq,{h},c{i},A\n");
            }
            let list = Arc::new(HashList::parse("l", Path::new("l.csv"), csv.as_bytes()).unwrap());
            let index = NearIndex::build_tuned([list.clone()], 0, Some(width));
            for (q, centre) in centres.iter().enumerate() {
                let query = PdqHash::from_limbs(flip(*centre, &[q as u8, 200, 77]));
                for radius in [0, 8, 31, 32, 48] {
                    let mut got: Vec<(String, u32)> = index
                        .near_pdq(&[query], radius)
                        .into_iter()
                        .map(|h| (h.entry.entry_id.to_string(), h.distance))
                        .collect();
                    got.sort();
                    prop_assert_eq!(got, brute_force(&list, &query, radius), "radius {} width {}", radius, width);
                }
            }
        }
    }
}
