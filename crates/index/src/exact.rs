use std::sync::Arc;

use vigil_core::Algorithm;
use vigil_hash::{Digest, ExactAlgorithm};

use vigil_lists::ListInfo;

use crate::{HashEntry, HashList};

/// Exact-digest lookup over any number of lists. Per algorithm, the digests live in one
/// contiguous sorted byte array (fixed width) with a parallel array of entry references, plus
/// a radix table on the leading digest bits (about one bucket per entry: digests are uniform).
/// Memory is digest width + 12 bytes per entry; a lookup is two array reads and a bisection of
/// a bucket that almost always holds at most a couple of entries — no hashing.
#[derive(Debug, Default)]
pub struct ExactIndex {
    lists: Vec<Arc<HashList>>,
    tables: [Table; 3],
}

#[derive(Debug, Default)]
struct Table {
    digests: Vec<u8>,
    refs: Vec<(u32, u32)>,
    /// Leading bits indexed by `buckets`.
    bits: u32,
    /// `buckets[p]..buckets[p + 1]` are the rows whose digest starts with prefix `p`.
    buckets: Vec<u32>,
}

/// At most 2^24 buckets (64 MiB): beyond ~16M entries buckets just hold more than one.
const MAX_BUCKET_BITS: u32 = 24;

fn prefix(digest: &[u8], bits: u32) -> usize {
    if bits == 0 {
        return 0;
    }
    let mut head = [0u8; 4];
    head.copy_from_slice(&digest[..4]);
    (u32::from_be_bytes(head) >> (32 - bits)) as usize
}

/// One entry that a lookup found.
#[derive(Debug, Clone)]
pub struct ExactHit<'a> {
    /// The list holding the entry.
    pub list: &'a ListInfo,
    /// The entry.
    pub entry: HashEntry<'a>,
}

impl ExactIndex {
    /// Indexes every exact entry of `lists` (other algorithms are left to
    /// [`crate::NearIndex`], which can share the same lists).
    pub fn build<L: Into<Arc<HashList>>>(lists: impl IntoIterator<Item = L>) -> ExactIndex {
        let lists: Vec<Arc<HashList>> = lists.into_iter().map(Into::into).collect();
        let mut tables: [Table; 3] = Default::default();
        for algorithm in ExactAlgorithm::ALL {
            let width = algorithm.digest_len();
            let mut rows: Vec<(Digest, u32, u32)> = lists
                .iter()
                .enumerate()
                .flat_map(|(l, list)| {
                    list.tables.exact[algorithm as usize]
                        .values
                        .iter()
                        .enumerate()
                        .map(move |(e, &d)| (d, l as u32, e as u32))
                })
                .collect();
            rows.sort();
            let mut digests = Vec::with_capacity(rows.len() * width);
            for (digest, _, _) in &rows {
                digests.extend_from_slice(digest.as_bytes());
            }
            let refs: Vec<(u32, u32)> = rows.iter().map(|&(_, l, e)| (l, e)).collect();
            let bits =
                (usize::BITS - refs.len().saturating_sub(1).leading_zeros()).min(MAX_BUCKET_BITS);
            let mut buckets = Vec::with_capacity((1 << bits) + 1);
            let mut row = 0;
            for p in 0..=(1usize << bits) {
                while row < refs.len() && prefix(&digests[row * width..], bits) < p {
                    row += 1;
                }
                buckets.push(row as u32);
            }
            tables[algorithm as usize] = Table {
                digests,
                refs,
                bits,
                buckets,
            };
        }
        ExactIndex { lists, tables }
    }

    /// The algorithms that have at least one entry (so callers hash only what can match).
    pub fn algorithms(&self) -> Vec<ExactAlgorithm> {
        ExactAlgorithm::ALL
            .into_iter()
            .filter(|&a| !self.tables[a as usize].refs.is_empty())
            .collect()
    }

    /// Every entry, across lists, whose digest equals `digest`.
    pub fn lookup(
        &self,
        algorithm: ExactAlgorithm,
        digest: &Digest,
    ) -> impl Iterator<Item = ExactHit<'_>> {
        let table = &self.tables[algorithm as usize];
        let width = algorithm.digest_len();
        let needle = digest.as_bytes();
        let hits = if needle.len() == width && !table.refs.is_empty() {
            let p = prefix(needle, table.bits);
            let (lo, hi) = (table.buckets[p] as usize, table.buckets[p + 1] as usize);
            let row = |i: usize| &table.digests[(lo + i) * width..(lo + i + 1) * width];
            let first = partition_point(hi - lo, |i| row(i) < needle);
            let end = first + partition_point(hi - lo - first, |i| row(first + i) == needle);
            lo + first..lo + end
        } else {
            0..0
        };
        table.refs[hits].iter().map(move |&(l, e)| {
            let list = &self.lists[l as usize];
            ExactHit {
                list: &list.info,
                entry: list.entry(Algorithm::from(algorithm), e as usize),
            }
        })
    }
}

/// The first index in `0..len` for which `pred` is false (pred must be true, then false).
fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn list(name: &str, rows: &[(&str, Vec<u8>, &str)]) -> HashList {
        let mut text = String::from("algorithm,hash,entry_id,category\n");
        for (algorithm, bytes, id) in rows {
            let algorithm =
                ExactAlgorithm::try_from(algorithm.parse::<Algorithm>().unwrap()).unwrap();
            text += &format!("{algorithm},{},{id},A\n", algorithm.digest(bytes).to_hex());
        }
        HashList::parse(name, Path::new(name), text.as_bytes()).unwrap()
    }

    /// The index must agree with a brute-force scan of every entry.
    #[test]
    fn agrees_with_brute_force() {
        let inputs: Vec<Vec<u8>> = (0u32..300)
            .map(|i| (i % 97).to_le_bytes().to_vec())
            .collect();
        let algorithms = ["md5", "sha1", "sha256"];
        let lists: Vec<HashList> = (0..3)
            .map(|l| {
                let rows: Vec<_> = inputs
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % 3 == l)
                    .map(|(i, b)| (algorithms[i % 3], b.clone(), format!("e{i}")))
                    .collect();
                let rows: Vec<_> = rows
                    .iter()
                    .map(|(a, b, id)| (*a, b.clone(), id.as_str()))
                    .collect();
                list(&format!("list{l}"), &rows)
            })
            .collect();
        let index = ExactIndex::build(lists.clone());
        for probe in (0u32..120).map(|i| i.to_le_bytes().to_vec()) {
            for algorithm in ExactAlgorithm::ALL {
                let digest = algorithm.digest(&probe);
                let mut got: Vec<_> = index
                    .lookup(algorithm, &digest)
                    .map(|h| (h.list.name.clone(), h.entry.entry_id.clone()))
                    .collect();
                let mut want: Vec<_> = lists
                    .iter()
                    .flat_map(|l| l.entries().map(move |e| (l, e)))
                    .filter(|(_, e)| {
                        e.algorithm == Algorithm::from(algorithm)
                            && e.value == crate::HashValue::Digest(digest)
                    })
                    .map(|(l, e)| (l.info.name.clone(), e.entry_id.clone()))
                    .collect();
                got.sort();
                want.sort();
                assert_eq!(got, want, "{algorithm} of {probe:?}");
            }
        }
    }

    #[test]
    fn reports_only_populated_algorithms() {
        let index = ExactIndex::build(vec![list("l", &[("sha256", b"x".to_vec(), "e")])]);
        assert_eq!(index.algorithms(), [ExactAlgorithm::Sha256]);
        // One entry: a single bucket covers every prefix.
        let sha = ExactAlgorithm::Sha256;
        assert_eq!(index.lookup(sha, &sha.digest(b"x")).count(), 1);
        assert_eq!(index.lookup(sha, &sha.digest(b"y")).count(), 0);
        assert_eq!(
            index
                .lookup(ExactAlgorithm::Md5, &ExactAlgorithm::Md5.digest(b"x"))
                .count(),
            0
        );
        assert_eq!(ExactIndex::default().algorithms(), []);
    }
}
