//! vPDQ matching: a video's frames against listed videos, with python-threatexchange's
//! semantics (`vpdq_brute_matcher.match_VPDQ_hash_brute`) over one index of every listed
//! frame of a list.
//!
//! Both sides are reduced to their *kept* frames ([`kept_frames`]: repeated hashes dropped,
//! then frames below the quality threshold). A kept frame of one side matches when some kept
//! frame of the other is within `max_distance` (inclusive). A listed video matches when the
//! share of the query's kept frames that match it is at least `query_match_percent` and the
//! share of its own kept frames that match the query at least `compared_match_percent`.
//! An empty side (nothing kept) matches nothing (the reference divides by zero there), and
//! neither does a video of which no frame matched, whatever the thresholds (at 0 % the
//! reference would report every listed video).
//!
//! Instead of comparing the query with every listed video, every kept frame of every listed
//! video of a list is in one PDQ search (the multi-index of image lists, `near.rs`), each
//! frame knowing its video; a query's frames are looked up once each, and the hits give,
//! per listed video, the query frames and listed frames that matched.

use std::collections::HashSet;
use std::sync::Arc;

use vigil_core::Algorithm;
use vigil_hash::{PdqHash, VpdqFeature};
use vigil_lists::ListInfo;

use crate::near::PdqSearch;
use crate::{HashEntry, HashList, MIH_MIN_ENTRIES};

/// When frames and videos match; python-threatexchange's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VpdqThresholds {
    /// Largest Hamming distance at which two frames match (the reference's
    /// `distance_tolerance`, 31; a frame exactly this far matches).
    pub max_distance: u32,
    /// Frames of lower quality are not compared, on either side (`quality_tolerance`, 50).
    pub min_quality: u8,
    /// Least share, in percent, of the query's kept frames that must match some kept frame
    /// of a listed video (80).
    pub query_match_percent: f64,
    /// Least share, in percent, of the listed video's kept frames that must match some kept
    /// frame of the query (0).
    pub compared_match_percent: f64,
}

impl Default for VpdqThresholds {
    fn default() -> Self {
        VpdqThresholds {
            max_distance: 31,
            min_quality: 50,
            query_match_percent: 80.0,
            compared_match_percent: 0.0,
        }
    }
}

/// The frames matching compares, as indexes into `features`: the first of each distinct hash,
/// in order (the reference's `dedupe`), then those of quality `min_quality` or more
/// (`quality_filter`), in that order, so a repeat of a dropped low-quality frame stays
/// dropped.
pub fn kept_frames(features: &[VpdqFeature], min_quality: u8) -> Vec<usize> {
    let mut seen: HashSet<PdqHash> = HashSet::with_capacity(features.len());
    features
        .iter()
        .enumerate()
        .filter(|(_, f)| seen.insert(f.hash))
        .filter(|(_, f)| f.quality >= min_quality)
        .map(|(i, _)| i)
        .collect()
}

/// A listed video that matches a query video.
#[derive(Debug, Clone)]
pub struct VpdqMatch<'a> {
    /// The list holding it.
    pub list: &'a ListInfo,
    /// The listed video ([`HashEntry::frames`] are its frames).
    pub entry: HashEntry<'a>,
    /// Kept query frames.
    pub query_frames: usize,
    /// Of these, the ones that matched a kept frame of the listed video.
    pub query_frames_matched: usize,
    /// Kept frames of the listed video.
    pub compared_frames: usize,
    /// Of these, the ones some kept query frame matched.
    pub compared_frames_matched: usize,
    /// Matched kept query frames × 100 / kept query frames.
    pub query_match_percent: f64,
    /// Matched kept listed frames × 100 / kept listed frames.
    pub compared_match_percent: f64,
    /// The smallest distance between a query frame and a listed frame.
    pub best_distance: u32,
    /// The stretches of the query that matched, in time order.
    pub segments: Vec<VpdqSegment>,
}

/// A stretch of the query video that matched: kept query frames that are neighbours in
/// timestamp order (no unmatched kept frame between them; dropped frames — repeats, low
/// quality — do not break a stretch), each matching some frame of the listed video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VpdqSegment {
    /// Timestamp of the stretch's first query frame, in seconds.
    pub start_s: f64,
    /// Timestamp of its last query frame.
    pub end_s: f64,
    /// The earliest listed frame that a frame of the stretch matched.
    pub listed_start_s: f64,
    /// The latest such listed frame.
    pub listed_end_s: f64,
    /// Query frames in the stretch.
    pub frames: usize,
}

/// Listed videos of any number of lists, each list with its thresholds and one search over
/// all its listed videos' kept frames.
#[derive(Debug, Default)]
pub struct VpdqIndex {
    lists: Vec<Videos>,
}

/// One list's videos.
#[derive(Debug)]
struct Videos {
    list: Arc<HashList>,
    thresholds: VpdqThresholds,
    /// Every video's kept frames, video after video, in [`kept_frames`] order.
    hashes: Vec<PdqHash>,
    /// Per kept frame, its position among its video's listed frames.
    origin: Vec<u32>,
    /// Where each video's kept frames start in `hashes`, and the end.
    starts: Vec<u32>,
    search: PdqSearch,
}

/// (video, kept listed frame, kept query frame, distance) of two frames that match.
type Hit = (u32, u32, u32, u32);

impl VpdqIndex {
    /// Indexes the vPDQ entries of `lists`, each list matched with its thresholds.
    pub fn build<L: Into<Arc<HashList>>>(
        lists: impl IntoIterator<Item = (L, VpdqThresholds)>,
    ) -> VpdqIndex {
        VpdqIndex::build_with(lists, MIH_MIN_ENTRIES)
    }

    /// As [`VpdqIndex::build`], with a multi-index from `mih_min_frames` kept frames on
    /// (below, a list's frames are scanned).
    pub fn build_with<L: Into<Arc<HashList>>>(
        lists: impl IntoIterator<Item = (L, VpdqThresholds)>,
        mih_min_frames: usize,
    ) -> VpdqIndex {
        let lists = lists
            .into_iter()
            .map(|(list, thresholds)| (list.into(), thresholds))
            .filter(|(list, _)| list.tables.vpdq.len() > 0)
            .map(|(list, thresholds)| Videos::build(list, thresholds, mih_min_frames))
            .collect();
        VpdqIndex { lists }
    }

    /// Kept listed frames indexed, over all lists.
    pub fn frames(&self) -> usize {
        self.lists.iter().map(|l| l.hashes.len()).sum()
    }

    /// Whether no list has a vPDQ entry.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// Bytes held beside the lists: the kept frames' hashes, their origins and the search.
    pub fn heap_bytes(&self) -> usize {
        self.lists
            .iter()
            .map(|l| {
                l.hashes.capacity() * std::mem::size_of::<PdqHash>()
                    + (l.origin.capacity() + l.starts.capacity()) * 4
                    + l.search.heap_bytes()
            })
            .sum()
    }

    /// Every listed video that `query` (a video's frames, as hashed) matches under its
    /// list's thresholds: the highest query share first, then the highest listed share, the
    /// smallest distance, list and file order.
    pub fn lookup(&self, query: &[VpdqFeature]) -> Vec<VpdqMatch<'_>> {
        let mut found: Vec<(usize, u32, VpdqMatch<'_>)> = Vec::new();
        for (l, videos) in self.lists.iter().enumerate() {
            videos.lookup(query, |video, found_match| {
                found.push((l, video, found_match))
            });
        }
        found.sort_by(|(la, va, a), (lb, vb, b)| {
            b.query_match_percent
                .total_cmp(&a.query_match_percent)
                .then(
                    b.compared_match_percent
                        .total_cmp(&a.compared_match_percent),
                )
                .then(a.best_distance.cmp(&b.best_distance))
                .then((la, va).cmp(&(lb, vb)))
        });
        found.into_iter().map(|(_, _, m)| m).collect()
    }
}

/// `count × 100 / of`, as the reference computes it (an exact integer over an exact
/// integer, one rounding).
fn percent(count: usize, of: usize) -> f64 {
    (count * 100) as f64 / of as f64
}

impl Videos {
    fn build(list: Arc<HashList>, thresholds: VpdqThresholds, mih_min_frames: usize) -> Videos {
        let videos = &list.tables.vpdq;
        let mut hashes = Vec::new();
        let mut origin = Vec::new();
        let mut starts = Vec::with_capacity(videos.len() + 1);
        for video in 0..videos.len() {
            starts.push(hashes.len() as u32);
            let frames = videos.frames(video);
            for i in kept_frames(frames, thresholds.min_quality) {
                hashes.push(frames[i].hash);
                origin.push(i as u32);
            }
        }
        starts.push(hashes.len() as u32);
        let search = PdqSearch::build(&hashes, mih_min_frames, None);
        Videos {
            list,
            thresholds,
            hashes,
            origin,
            starts,
            search,
        }
    }

    /// The video a kept frame belongs to.
    fn video_of(&self, frame: u32) -> u32 {
        (self.starts.partition_point(|&s| s <= frame) - 1) as u32
    }

    /// Calls `report(video, match)` for every video of this list that `query` matches.
    fn lookup<'s>(&'s self, query: &[VpdqFeature], mut report: impl FnMut(u32, VpdqMatch<'s>)) {
        let t = &self.thresholds;
        let kept = kept_frames(query, t.min_quality);
        if kept.is_empty() {
            return;
        }
        let mut hits: Vec<Hit> = Vec::new();
        for (q, &i) in kept.iter().enumerate() {
            self.search
                .within(&self.hashes, &query[i].hash, t.max_distance, |id, d| {
                    hits.push((self.video_of(id), id, q as u32, d));
                });
        }
        hits.sort_unstable();
        hits.dedup();
        // Query frames in time order (file order on equal timestamps), for the segments.
        let mut by_time: Vec<usize> = (0..kept.len()).collect();
        by_time.sort_by(|&a, &b| {
            query[kept[a]]
                .timestamp
                .total_cmp(&query[kept[b]].timestamp)
        });
        for group in hits.chunk_by(|a, b| a.0 == b.0) {
            let video = group[0].0;
            let start = self.starts[video as usize];
            let listed_len = (self.starts[video as usize + 1] - start) as usize;
            let frames = self.list.tables.vpdq.frames(video as usize);
            // Per kept query frame, the earliest and latest listed frame it matched.
            let mut spans: Vec<Option<(f64, f64)>> = vec![None; kept.len()];
            let mut listed_matched = vec![false; listed_len];
            let mut best_distance = u32::MAX;
            for &(_, id, q, d) in group {
                best_distance = best_distance.min(d);
                listed_matched[(id - start) as usize] = true;
                let at = frames[self.origin[id as usize] as usize].timestamp;
                let span = &mut spans[q as usize];
                *span = Some(span.map_or((at, at), |(lo, hi)| (lo.min(at), hi.max(at))));
            }
            let query_matched = spans.iter().filter(|s| s.is_some()).count();
            let listed_count = listed_matched.iter().filter(|&&m| m).count();
            let query_match_percent = percent(query_matched, kept.len());
            let compared_match_percent = percent(listed_count, listed_len);
            if query_match_percent < t.query_match_percent
                || compared_match_percent < t.compared_match_percent
            {
                continue;
            }
            let segments = segments(&by_time, &spans, |q| query[kept[q]].timestamp);
            report(
                video,
                VpdqMatch {
                    list: &self.list.info,
                    entry: self.list.entry(Algorithm::Vpdq, video as usize),
                    query_frames: kept.len(),
                    query_frames_matched: query_matched,
                    compared_frames: listed_len,
                    compared_frames_matched: listed_count,
                    query_match_percent,
                    compared_match_percent,
                    best_distance,
                    segments,
                },
            );
        }
    }
}

/// The runs of matched frames (`spans[q]` is set) in `by_time` order.
fn segments(
    by_time: &[usize],
    spans: &[Option<(f64, f64)>],
    timestamp: impl Fn(usize) -> f64,
) -> Vec<VpdqSegment> {
    let mut out: Vec<VpdqSegment> = Vec::new();
    let mut open = false;
    for &q in by_time {
        let Some((lo, hi)) = spans[q] else {
            open = false;
            continue;
        };
        let at = timestamp(q);
        match out.last_mut() {
            Some(segment) if open => {
                segment.end_s = at;
                segment.listed_start_s = segment.listed_start_s.min(lo);
                segment.listed_end_s = segment.listed_end_s.max(hi);
                segment.frames += 1;
            }
            _ => out.push(VpdqSegment {
                start_s: at,
                end_s: at,
                listed_start_s: lo,
                listed_end_s: hi,
                frames: 1,
            }),
        }
        open = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;

    fn random_hash(next: &mut impl FnMut() -> u64) -> PdqHash {
        PdqHash::from_limbs([next(), next(), next(), next()])
    }

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed;
        move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state ^ (state >> 29)
        }
    }

    /// `hash` with the bits `bits` (mod 256) flipped.
    fn flip(hash: PdqHash, bits: impl IntoIterator<Item = usize>) -> PdqHash {
        let mut limbs = hash.limbs();
        for bit in bits {
            let bit = bit % 256;
            limbs[bit / 64] ^= 1 << (bit % 64);
        }
        PdqHash::from_limbs(limbs)
    }

    /// `hash` with its first `count` bits flipped: exactly `count` away.
    fn away(hash: PdqHash, count: usize) -> PdqHash {
        flip(hash, 0..count)
    }

    fn frame(hash: PdqHash, quality: u8, timestamp: f64) -> VpdqFeature {
        VpdqFeature {
            hash,
            quality,
            timestamp,
        }
    }

    /// Frames one second apart, quality 100.
    fn video(hashes: &[PdqHash]) -> Vec<VpdqFeature> {
        hashes
            .iter()
            .enumerate()
            .map(|(i, &h)| frame(h, 100, i as f64))
            .collect()
    }

    /// A JSON-lines list of `videos`, entry ids `v0`, `v1`, ...
    fn list(videos: &[Vec<VpdqFeature>]) -> HashList {
        let text: String = videos
            .iter()
            .enumerate()
            .map(|(i, frames)| {
                let frames: Vec<String> = frames.iter().map(ToString::to_string).collect();
                let line = serde_json::json!({
                    "algorithm": "vpdq", "hash": frames, "entry_id": format!("v{i}"), "category": "A",
                });
                format!("{line}\n")
            })
            .collect();
        let mut source = vigil_lists::ListSource::from(Path::new("videos.jsonl").to_path_buf());
        source.format = Some(vigil_lists::ListFormat::Jsonl);
        let file = vigil_lists::ListFile::read_unchecked(&source, text.into_bytes());
        HashList::from_file(&source, file, false).unwrap()
    }

    /// python-threatexchange's `match_VPDQ_hash_brute`, transcribed: (query %, compared %),
    /// or `None` where it would divide by zero.
    fn brute(
        query: &[VpdqFeature],
        listed: &[VpdqFeature],
        t: &VpdqThresholds,
    ) -> Option<(f64, f64)> {
        let filter = |features: &[VpdqFeature]| -> Vec<VpdqFeature> {
            let mut unique = Vec::new();
            let mut out: Vec<VpdqFeature> = Vec::new();
            for f in features {
                if !unique.contains(&f.hash.to_hex()) {
                    out.push(*f);
                    unique.push(f.hash.to_hex());
                }
            }
            out.retain(|f| f.quality >= t.min_quality);
            out
        };
        let (q, c) = (filter(query), filter(listed));
        let in_another = |a: &[VpdqFeature], b: &[VpdqFeature]| {
            a.iter()
                .filter(|x| b.iter().any(|y| x.hash.distance(&y.hash) <= t.max_distance))
                .count()
        };
        if q.is_empty() || c.is_empty() {
            return None;
        }
        Some((
            (in_another(&q, &c) * 100) as f64 / q.len() as f64,
            (in_another(&c, &q) * 100) as f64 / c.len() as f64,
        ))
    }

    /// (entry id, query %, compared %) of every listed video brute force matches, sorted.
    fn brute_matches(
        query: &[VpdqFeature],
        videos: &[Vec<VpdqFeature>],
        t: &VpdqThresholds,
    ) -> Vec<(String, f64, f64)> {
        let mut out: Vec<(String, f64, f64)> = videos
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let (qp, cp) = brute(query, v, t)?;
                // One rule of ours beyond the reference: a video no frame matched is no
                // match, whatever the thresholds (at 0 % the reference reports every video).
                (qp > 0.0 && qp >= t.query_match_percent && cp >= t.compared_match_percent)
                    .then(|| (format!("v{i}"), qp, cp))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn index_matches(index: &VpdqIndex, query: &[VpdqFeature]) -> Vec<(String, f64, f64)> {
        let mut out: Vec<(String, f64, f64)> = index
            .lookup(query)
            .into_iter()
            .map(|m| {
                (
                    m.entry.entry_id.into_owned(),
                    m.query_match_percent,
                    m.compared_match_percent,
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The edge cases, each a listed video, a query and the percentages the reference gives
    /// (`None`: no match).
    #[test]
    fn edge_cases_match_as_the_reference_does() {
        let mut next = rng(7);
        let base: Vec<PdqHash> = (0..6).map(|_| random_hash(&mut next)).collect();
        let t = VpdqThresholds::default();
        let lowq = |h: PdqHash, ts: f64| frame(h, 49, ts);
        #[allow(clippy::type_complexity)]
        let table: Vec<(&str, Vec<VpdqFeature>, Vec<VpdqFeature>, Option<(f64, f64)>)> = vec![
            (
                "identical",
                video(&base),
                video(&base),
                Some((100.0, 100.0)),
            ),
            (
                "distance 31 matches",
                video(&base[..1]),
                video(&[away(base[0], 31)]),
                Some((100.0, 100.0)),
            ),
            (
                "distance 32 does not",
                video(&base[..1]),
                video(&[away(base[0], 32)]),
                None,
            ),
            (
                "exactly 80 %: 4 of 5 query frames",
                video(&base[..4]),
                video(&base[..5]),
                Some((80.0, 100.0)),
            ),
            ("75 %: 3 of 4", video(&base[..3]), video(&base[..4]), None),
            (
                "duplicates count once, on both sides",
                video(&[base[0], base[0], base[0], base[1]]),
                video(&[base[0], base[0], base[2]]),
                None, // query: 1 of 2 distinct frames = 50 %
            ),
            (
                "duplicates in the listed video count once",
                video(&[base[0], base[0], base[0], base[1]]),
                video(&[base[0], base[0]]),
                Some((100.0, 50.0)),
            ),
            (
                "a query of low-quality frames matches nothing",
                video(&base[..2]),
                vec![lowq(base[0], 0.0), lowq(base[1], 1.0)],
                None,
            ),
            (
                "a listed video of low-quality frames matches nothing",
                vec![lowq(base[0], 0.0), lowq(base[1], 1.0)],
                video(&base[..2]),
                None,
            ),
            ("an empty query matches nothing", video(&base), vec![], None),
            (
                "low-quality frames are not counted",
                video(&base[..2]),
                vec![frame(base[0], 50, 0.0), lowq(base[3], 1.0)],
                Some((100.0, 50.0)),
            ),
            (
                "dedupe comes before the quality filter",
                video(&base[..2]),
                vec![
                    lowq(base[0], 0.0),
                    frame(base[0], 100, 1.0),
                    frame(base[1], 100, 2.0),
                    frame(base[4], 100, 3.0),
                ],
                None, // base[0] dropped with its low-quality first copy: 1 of 2
            ),
        ];
        for (name, listed, query, want) in table {
            let videos = vec![listed];
            assert_eq!(
                brute(&query, &videos[0], &t).filter(|(q, _)| *q >= 80.0),
                want,
                "{name}: the transcription"
            );
            let want: Vec<(String, f64, f64)> = want
                .map(|(q, c)| ("v0".to_string(), q, c))
                .into_iter()
                .collect();
            let list = Arc::new(list(&videos));
            for mih in [0, usize::MAX] {
                let index = VpdqIndex::build_with([(list.clone(), t)], mih);
                assert_eq!(
                    index_matches(&index, &query),
                    want,
                    "{name}, mih from {mih}"
                );
            }
        }
    }

    #[test]
    fn thresholds_are_the_lists() {
        let mut next = rng(11);
        let base: Vec<PdqHash> = (0..4).map(|_| random_hash(&mut next)).collect();
        let videos = vec![video(&base)];
        let query = video(&[base[0], base[1]]);
        let list = Arc::new(list(&videos));
        let strict = VpdqThresholds {
            compared_match_percent: 50.0,
            ..VpdqThresholds::default()
        };
        let stricter = VpdqThresholds {
            compared_match_percent: 50.1,
            ..strict
        };
        let near = VpdqThresholds {
            max_distance: 0,
            query_match_percent: 100.0,
            ..strict
        };
        let index = VpdqIndex::build([(list.clone(), strict), (list.clone(), stricter)]);
        let found = index.lookup(&query);
        assert_eq!(
            found.len(),
            1,
            "50 % of the listed frames: only the first list"
        );
        let moved = [frame(away(base[0], 1), 100, 0.0), query[1]];
        assert!(VpdqIndex::build([(list, near)]).lookup(&moved).is_empty());
    }

    #[test]
    fn segments_are_runs_of_matched_frames_in_time_order() {
        let mut next = rng(3);
        let listed: Vec<PdqHash> = (0..10).map(|_| random_hash(&mut next)).collect();
        let other: Vec<PdqHash> = (0..3).map(|_| random_hash(&mut next)).collect();
        // Query (file order shuffled): listed 2..5 at 10–13 s, a foreign frame at 14 s,
        // listed 7..8 at 15–16 s; a low-quality foreign frame at 12.5 s does not split.
        let query = vec![
            frame(away(listed[7], 3), 100, 15.0),
            frame(listed[2], 100, 10.0),
            frame(listed[3], 100, 11.0),
            frame(other[0], 20, 12.5),
            frame(listed[4], 100, 12.0),
            frame(listed[5], 100, 13.0),
            frame(other[1], 100, 14.0),
            frame(listed[8], 100, 16.0),
        ];
        let videos = vec![video(&listed)];
        let t = VpdqThresholds {
            query_match_percent: 50.0,
            ..VpdqThresholds::default()
        };
        let index = VpdqIndex::build([(list(&videos), t)]);
        let found = index.lookup(&query);
        assert_eq!(found.len(), 1);
        let m = &found[0];
        assert_eq!(
            (
                m.query_match_percent,
                m.compared_match_percent,
                m.best_distance
            ),
            (600.0 / 7.0, 60.0, 0)
        );
        assert_eq!(
            m.segments,
            [
                VpdqSegment {
                    start_s: 10.0,
                    end_s: 13.0,
                    listed_start_s: 2.0,
                    listed_end_s: 5.0,
                    frames: 4
                },
                VpdqSegment {
                    start_s: 15.0,
                    end_s: 16.0,
                    listed_start_s: 7.0,
                    listed_end_s: 8.0,
                    frames: 2
                },
            ]
        );
        assert_eq!(m.entry.frames, videos[0].as_slice());
        assert_eq!(index.frames(), 10);
    }

    /// Listed videos whose frames drift from a base (as a shot does), and queries that are
    /// noisy clips of them, pieces of two, or unrelated; random quality and repeats.
    fn clustered(seed: u64, videos: usize) -> (Vec<Vec<VpdqFeature>>, Vec<Vec<VpdqFeature>>) {
        let mut next = rng(seed);
        let listed: Vec<Vec<VpdqFeature>> = (0..videos)
            .map(|_| {
                let mut hash = random_hash(&mut next);
                let len = 1 + (next() % 12) as usize;
                (0..len)
                    .map(|i| {
                        let step = (next() % 14) as usize;
                        if !next().is_multiple_of(6) {
                            hash = flip(hash, (0..step).map(|_| next() as usize));
                        }
                        frame(hash, (next() % 101) as u8, i as f64)
                    })
                    .collect()
            })
            .collect();
        let queries = (0..videos)
            .map(|q| {
                let source = &listed[(next() as usize) % listed.len()];
                let other = &listed[(q * 7 + 1) % listed.len()];
                let from = (next() as usize) % source.len();
                let noise = (next() % 36) as usize;
                let mut frames: Vec<VpdqFeature> = source[from..]
                    .iter()
                    .chain(other.iter().take(q % 3))
                    .enumerate()
                    .map(|(i, f)| {
                        let hash = flip(f.hash, (0..noise).map(|_| next() as usize));
                        frame(hash, 40 + (next() % 61) as u8, i as f64 * 0.5)
                    })
                    .collect();
                if q.is_multiple_of(5) {
                    frames.push(frame(random_hash(&mut next), 90, 99.0));
                }
                frames
            })
            .collect();
        (listed, queries)
    }

    #[test]
    fn clustered_queries_do_match() {
        let (listed, queries) = clustered(5, 30);
        let t = VpdqThresholds::default();
        let index = VpdqIndex::build_with([(list(&listed), t)], 0);
        let found: usize = queries.iter().map(|q| index.lookup(q).len()).sum();
        let want: usize = queries
            .iter()
            .map(|q| brute_matches(q, &listed, &t).len())
            .sum();
        assert!(want >= 5, "the data exercise matching: {want}");
        assert_eq!(found, want);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// The index finds exactly the brute-force matcher's videos, with its percentages,
        /// through the multi-index and the scan, at several thresholds.
        #[test]
        fn the_index_agrees_with_the_brute_force_matcher(
            seed in any::<u64>(),
            videos in 1usize..40,
            max_distance in prop::sample::select(vec![0u32, 10, 31, 32, 48]),
            min_quality in prop::sample::select(vec![0u8, 50, 80]),
            query_match_percent in prop::sample::select(vec![0.0, 50.0, 80.0, 100.0]),
            compared_match_percent in prop::sample::select(vec![0.0, 30.0, 80.0]),
        ) {
            let t = VpdqThresholds { max_distance, min_quality, query_match_percent, compared_match_percent };
            let (listed, mut queries) = clustered(seed, videos);
            // And unrelated random videos.
            let mut next = rng(seed ^ 1);
            queries.push((0..20).map(|i| frame(random_hash(&mut next), 100, f64::from(i))).collect());
            let list = Arc::new(list(&listed));
            let mih = VpdqIndex::build_with([(list.clone(), t)], 0);
            let scan = VpdqIndex::build_with([(list, t)], usize::MAX);
            for query in &queries {
                let want = brute_matches(query, &listed, &t);
                prop_assert_eq!(&index_matches(&mih, query), &want);
                prop_assert_eq!(&index_matches(&scan, query), &want);
            }
        }
    }
}
