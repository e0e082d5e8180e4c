use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{AttachmentsConfig, MatchConfig};
use vigil_core::{Algorithm, DetectorKind, Match, MatchSubject, ReasonCode};
use vigil_hash::{
    AttachmentHasher, Deadline, DecodeBudget, DecodeError, DecodeLimits, ExactAlgorithm,
    ExactDigests, Family, HashOptions, ImageHashes, Timebox, TrimOptions, decode_budgeted,
    sniff_format,
};
use vigil_index::{ExactIndex, NearHit, NearIndex};
use vigil_lists::{ListInfo, ListSource};
use vigil_text::{KeywordMatcher, RuleClass};

use crate::{Detector, Findings, Problem, ScanContext, TimedStep, Trace};

/// Matches the MD5/SHA-1/SHA-256 of each attachment's raw bytes against hash lists. Only the
/// algorithms that some list uses are computed.
#[derive(Debug)]
pub struct ExactHashDetector {
    index: ExactIndex,
    algorithms: Vec<ExactAlgorithm>,
}

impl ExactHashDetector {
    /// A detector over `index`.
    pub fn new(index: ExactIndex) -> ExactHashDetector {
        let algorithms = index.algorithms();
        ExactHashDetector { index, algorithms }
    }
}

impl Detector for ExactHashDetector {
    fn name(&self) -> &'static str {
        "exact-hash"
    }

    fn detect(&self, context: &ScanContext<'_>, findings: &mut Findings) {
        if self.algorithms.is_empty() || context.attachments.is_empty() {
            return;
        }
        let start = Instant::now();
        for attachment in context.attachments {
            let digests = ExactDigests::compute(&attachment.bytes, &self.algorithms);
            for &algorithm in &self.algorithms {
                let Some(digest) = digests.get(algorithm) else {
                    continue;
                };
                for hit in self.index.lookup(algorithm, &digest) {
                    findings.matches.push(Match {
                        detector: DetectorKind::Hash(algorithm.into()),
                        list: hit.list.name.clone(),
                        list_version: hit.list.version.clone(),
                        category: hit.entry.category.to_string(),
                        severity: hit.entry.severity,
                        subject: MatchSubject::Attachment {
                            attachment_id: attachment.attachment_id.clone(),
                            entry_id: hit.entry.entry_id.to_string(),
                            distance: 0,
                            quality: None,
                            variant: None,
                            frame_ms: None,
                            video: None,
                        },
                    });
                }
            }
        }
        findings.trace.add(TimedStep::Exact, start.elapsed());
    }
}

/// Matches the message text against keyword lists and rule files.
#[derive(Debug)]
pub struct KeywordDetector {
    matcher: KeywordMatcher,
    max_scan_bytes: usize,
}

impl KeywordDetector {
    /// A detector over `matcher` that searches texts up to `max_scan_bytes`.
    pub fn new(matcher: KeywordMatcher, max_scan_bytes: u64) -> KeywordDetector {
        KeywordDetector {
            matcher,
            max_scan_bytes: usize::try_from(max_scan_bytes).unwrap_or(usize::MAX),
        }
    }
}

impl Detector for KeywordDetector {
    fn name(&self) -> &'static str {
        "keyword"
    }

    fn detect(&self, context: &ScanContext<'_>, findings: &mut Findings) {
        let Some(text) = &context.message.text else {
            return;
        };
        let start = Instant::now();
        let scanned = prefix_within(text, self.max_scan_bytes);
        if scanned.len() < text.len() {
            let cut = scanned.len();
            findings.problems.push(Problem {
                reason: ReasonCode::TextTruncated,
                attachment_id: None,
                detail: format!(
                    "text of {} bytes: the first {cut} searched (text.max_scan_bytes = {})",
                    text.len(),
                    self.max_scan_bytes
                ),
            });
        }
        for hit in self.matcher.find(scanned) {
            findings.matches.push(Match {
                detector: match hit.class {
                    RuleClass::Term => DetectorKind::Keyword,
                    RuleClass::Regex => DetectorKind::Regex,
                    RuleClass::Cooccurrence => DetectorKind::Cooccurrence,
                },
                list: hit.list.name.clone(),
                list_version: hit.list.version.clone(),
                category: hit.category.to_string(),
                severity: hit.severity,
                subject: MatchSubject::Text {
                    rule_id: hit.rule_id.to_string(),
                    spans: hit.spans,
                    expression: None,
                    attachment_id: None,
                },
            });
        }
        findings.trace.add(TimedStep::Text, start.elapsed());
    }
}

/// What [`ImageHashDetector`] matches and how close counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageMatchSettings {
    /// Largest PDQ distance that matches.
    pub pdq_max_distance: u32,
    /// PDQ hashes of lower quality are not matched.
    pub pdq_min_quality: u8,
    /// Also match the 8 rotations and mirrorings.
    pub dihedral: bool,
    /// Also match the content inside uniform borders.
    pub trim_borders: bool,
    /// Largest pHash, dHash and aHash distances that match.
    pub hash64_max_distance: [(Family, u32); 3],
    /// Decoding limits.
    pub limits: DecodeLimits,
    /// Memory that decoding and hashing may hold at once across threads.
    pub decode_memory_bytes: u64,
    /// Wall-clock budget for decoding and hashing one image.
    pub image_time_ms: u64,
    /// Most images decoded or hashed at once, abandoned ones included.
    pub image_threads: usize,
    /// Stricter PDQ thresholds of some lists and categories.
    pub hash_limits: HashLimits,
}

/// Thresholds that tighten `[match]`'s: a smaller PDQ, pHash, dHash or aHash distance, a
/// higher PDQ quality, larger vPDQ shares.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HashLimit {
    /// Largest PDQ distance that matches, if tighter.
    pub max_distance: Option<u32>,
    /// Lowest PDQ quality that matches, if tighter.
    pub min_quality: Option<u8>,
    /// Largest pHash, dHash and aHash distances (in [`Family`] order), if tighter.
    pub family_max_distance: [Option<u32>; 3],
    /// Smallest shares (percent) of the message's video and of the listed video that must
    /// match for a vPDQ match, if larger.
    pub vpdq_match_percent: [Option<f64>; 2],
}

/// The position of `family` in [`HashLimit::family_max_distance`].
fn family_slot(family: Family) -> usize {
    match family {
        Family::Phash => 0,
        Family::Dhash => 1,
        Family::Ahash => 2,
    }
}

impl HashLimit {
    fn admits(&self, distance: u32, quality: u8) -> bool {
        self.max_distance.is_none_or(|d| distance <= d)
            && self.min_quality.is_none_or(|q| quality >= q)
    }

    fn admits_family(&self, family: Family, distance: u32) -> bool {
        self.family_max_distance[family_slot(family)].is_none_or(|d| distance <= d)
    }

    /// Whether `matched` of `of` frames is at least the share set for side `side`
    /// (0: the message's video, 1: the listed video), compared exactly in integers where
    /// the share is whole.
    fn admits_share(&self, side: usize, matched: usize, of: usize) -> bool {
        self.vpdq_match_percent[side].is_none_or(|p| matched as f64 * 100.0 >= p * of as f64)
    }

    /// The stricter of both, threshold by threshold.
    fn tightest(self, other: HashLimit) -> HashLimit {
        let min = |a: Option<u32>, b: Option<u32>| a.into_iter().chain(b).min();
        let max = |a: Option<u8>, b: Option<u8>| a.into_iter().chain(b).max();
        let most = |a: Option<f64>, b: Option<f64>| a.into_iter().chain(b).reduce(f64::max);
        HashLimit {
            max_distance: min(self.max_distance, other.max_distance),
            min_quality: max(self.min_quality, other.min_quality),
            family_max_distance: [0, 1, 2]
                .map(|i| min(self.family_max_distance[i], other.family_max_distance[i])),
            vpdq_match_percent: [0, 1]
                .map(|i| most(self.vpdq_match_percent[i], other.vpdq_match_percent[i])),
        }
    }

    fn is_set(&self) -> bool {
        *self != HashLimit::default()
    }
}

/// The thresholds stricter than `[match]`'s: of lists (their configuration,
/// `lists.hash_lists[].pdq_*` and `*hash_max_distance`, and their signed manifest's
/// `thresholds`), of categories (`[match.categories.<category>]`) and of one list's
/// categories (its manifest). A hit within `[match]`'s thresholds matches only if it is also
/// within every one of these that applies to it; as each only tightens, configuration can
/// never loosen what a publisher set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HashLimits {
    by_list: HashMap<String, HashLimit>,
    by_category: HashMap<String, HashLimit>,
    by_list_category: HashMap<(String, String), HashLimit>,
}

impl HashLimits {
    /// The limits `m` sets per category, and those of `lists` (each list's configuration and
    /// what was read of it).
    pub fn new<'a>(
        m: &MatchConfig,
        lists: impl IntoIterator<Item = (&'a ListSource, &'a ListInfo)>,
    ) -> HashLimits {
        let mut limits = HashLimits::default();
        for (source, info) in lists {
            let configured = HashLimit {
                max_distance: source.pdq_max_distance,
                min_quality: source.pdq_min_quality,
                family_max_distance: [
                    source.phash_max_distance,
                    source.dhash_max_distance,
                    source.ahash_max_distance,
                ],
                vpdq_match_percent: [None, None],
            };
            let published = info.provenance.as_ref().and_then(|p| p.thresholds.as_ref());
            let from_manifest = published.map_or_else(HashLimit::default, |t| HashLimit {
                max_distance: t.pdq_max_distance,
                min_quality: t.pdq_min_quality,
                ..HashLimit::default()
            });
            let list = configured.tightest(from_manifest);
            if list.is_set() {
                limits.by_list.insert(info.name.clone(), list);
            }
            for (category, t) in published.iter().flat_map(|t| &t.categories) {
                let limit = HashLimit {
                    max_distance: t.pdq_max_distance,
                    min_quality: t.pdq_min_quality,
                    ..HashLimit::default()
                };
                limits
                    .by_list_category
                    .insert((info.name.clone(), category.clone()), limit);
            }
        }
        for (category, t) in &m.categories {
            let limit = HashLimit {
                max_distance: t.pdq_max_distance,
                min_quality: t.pdq_min_quality,
                family_max_distance: [
                    t.phash_max_distance,
                    t.dhash_max_distance,
                    t.ahash_max_distance,
                ],
                vpdq_match_percent: [t.vpdq_query_match_percent, t.vpdq_compared_match_percent],
            };
            limits.by_category.insert(category.clone(), limit);
        }
        limits
    }

    /// Every limit that applies to `list`'s entries of `category`.
    fn applying(&self, list: &str, category: &str) -> impl Iterator<Item = &HashLimit> {
        let pair = (list.to_string(), category.to_string());
        [
            self.by_list.get(list),
            self.by_category.get(category),
            self.by_list_category.get(&pair),
        ]
        .into_iter()
        .flatten()
    }

    /// Whether a PDQ hit on `list`'s entry of `category` at `distance` from a hash of
    /// `quality` passes every list and category threshold that applies.
    pub fn admits(&self, list: &str, category: &str, distance: u32, quality: u8) -> bool {
        self.applying(list, category)
            .all(|l| l.admits(distance, quality))
    }

    /// Whether a pHash, dHash or aHash hit on `list`'s entry of `category` at `distance`
    /// passes every list and category threshold that applies.
    pub fn admits_family(&self, list: &str, category: &str, family: Family, distance: u32) -> bool {
        self.applying(list, category)
            .all(|l| l.admits_family(family, distance))
    }

    /// Whether a vPDQ match on `list`'s entry of `category`, with `query` (matched, of) frames
    /// of the message's video and `compared` of the listed video, reaches every category
    /// share that applies (the list's own shares decided the match already).
    pub fn admits_video(
        &self,
        list: &str,
        category: &str,
        query: (usize, usize),
        compared: (usize, usize),
    ) -> bool {
        self.applying(list, category).all(|l| {
            l.admits_share(0, query.0, query.1) && l.admits_share(1, compared.0, compared.1)
        })
    }

    /// The `family` distance in force for `list`'s entries of `category`, given `[match]`'s.
    pub fn effective_family(&self, list: &str, category: &str, family: Family, m: u32) -> u32 {
        self.applying(list, category)
            .filter_map(|l| l.family_max_distance[family_slot(family)])
            .fold(m, u32::min)
    }

    /// The PDQ thresholds in force for `list`'s entries of `category`, given `[match]`'s
    /// (distance, quality).
    pub fn effective(&self, list: &str, category: &str, m: (u32, u8)) -> (u32, u8) {
        let global = HashLimit {
            max_distance: Some(m.0),
            min_quality: Some(m.1),
            ..HashLimit::default()
        };
        let l = self
            .applying(list, category)
            .fold(global, |acc, l| acc.tightest(*l));
        (l.max_distance.unwrap_or(m.0), l.min_quality.unwrap_or(m.1))
    }
}

/// The decoding limits `[attachments]` sets, shared by everything that decodes attachments.
pub fn decode_limits(a: &AttachmentsConfig) -> DecodeLimits {
    DecodeLimits {
        max_input_bytes: a.max_bytes,
        max_width: a.max_image_width,
        max_height: a.max_image_height,
        max_alloc_bytes: a.max_image_alloc_bytes,
    }
}

impl ImageMatchSettings {
    /// The settings in `config`, for `scanning_threads` threads scanning at once (0: one per
    /// available CPU). The caller knows that number (the Kafka runtime's workers, say);
    /// scanning does not read transport settings.
    pub fn from_config(
        m: &MatchConfig,
        a: &AttachmentsConfig,
        scanning_threads: usize,
    ) -> ImageMatchSettings {
        ImageMatchSettings {
            pdq_max_distance: m.pdq_max_distance,
            pdq_min_quality: m.pdq_min_quality,
            dihedral: m.pdq_dihedral,
            trim_borders: m.pdq_trim_borders,
            hash64_max_distance: [
                (Family::Phash, m.phash_max_distance),
                (Family::Dhash, m.dhash_max_distance),
                (Family::Ahash, m.ahash_max_distance),
            ],
            limits: decode_limits(a),
            decode_memory_bytes: a.max_decode_memory_bytes,
            image_time_ms: a.max_image_time_ms,
            // Room for every scanning thread's image plus as many abandoned ones.
            image_threads: 2 * crate::config::scanning_threads(scanning_threads),
            hash_limits: HashLimits::default(),
        }
    }
}

/// Decodes image attachments and matches their PDQ (with its dihedral and border-trimmed
/// variants) and pHash/dHash/aHash against hash lists. An image that cannot be decoded in
/// its time budget is reported (`undecodable`, `image_too_large`, `unsupported_image_format`,
/// `image_timeout`), never passed as clean; its exact digests are still matched by
/// [`ExactHashDetector`].
#[derive(Debug)]
pub struct ImageHashDetector {
    index: Arc<NearIndex>,
    settings: ImageMatchSettings,
    options: Arc<HashOptions>,
    budget: Arc<DecodeBudget>,
    timebox: Arc<Timebox>,
}

/// What decoding and hashing one image gave, and how long each took.
struct ImageWork {
    result: Result<ImageHashes, DecodeError>,
    decode: Duration,
    hash: Duration,
}

thread_local! {
    /// Scratch buffers for hashing, one set per timebox helper thread.
    static HASHER: RefCell<Option<AttachmentHasher>> = const { RefCell::new(None) };
}

impl ImageHashDetector {
    /// A detector over `index` (which the video detector may share); hashes only the
    /// algorithms the index holds.
    pub fn new(index: Arc<NearIndex>, settings: ImageMatchSettings) -> ImageHashDetector {
        let options = HashOptions {
            algorithms: index.algorithms(),
            dihedral: settings.dihedral,
            trim: settings.trim_borders.then(TrimOptions::default),
            limits: settings.limits,
        };
        ImageHashDetector {
            index,
            budget: DecodeBudget::new(settings.decode_memory_bytes),
            timebox: Timebox::new(
                Duration::from_millis(settings.image_time_ms),
                settings.image_threads,
            ),
            settings,
            options: Arc::new(options),
        }
    }

    /// Decodes and hashes `bytes` within the time budget, timing each step into `trace`.
    fn hash(&self, bytes: &[u8], trace: &mut Trace) -> Result<ImageHashes, DecodeError> {
        let start = Instant::now();
        // The work may outlive this call (abandoned at the deadline), so it owns its inputs.
        let (bytes, options, budget) = (bytes.to_vec(), self.options.clone(), self.budget.clone());
        let work = self
            .timebox
            .run(move |deadline| hash_image(&bytes, &options, &budget, deadline));
        let work = match work {
            Ok(work) => work,
            Err(timed_out) => {
                trace.add(TimedStep::Decode, start.elapsed());
                return Err(timed_out.into());
            }
        };
        trace.add(TimedStep::Decode, work.decode);
        trace.add(TimedStep::Hash, work.hash);
        work.result
    }

    fn match_pdq(&self, attachment_id: &str, image: &ImageHashes, findings: &mut Findings) {
        let queries = image.pdq_queries(self.settings.pdq_min_quality);
        if queries.is_empty() {
            return;
        }
        let hashes: Vec<_> = queries.iter().map(|q| q.hash).collect();
        let pdq = DetectorKind::Hash(Algorithm::Pdq);
        for hit in self.index.near_pdq(&hashes, self.settings.pdq_max_distance) {
            let query = &queries[hit.query];
            if !self.settings.hash_limits.admits(
                &hit.list.name,
                hit.entry.category,
                hit.distance,
                query.quality,
            ) {
                continue;
            }
            let evidence = (Some(query.quality), query.variant.clone());
            findings
                .matches
                .push(near_match(pdq, &hit, attachment_id, evidence));
        }
    }

    fn match_bits64(&self, attachment_id: &str, image: &ImageHashes, findings: &mut Findings) {
        for (family, radius) in self.settings.hash64_max_distance {
            let Some(hash) = image.family(family) else {
                continue;
            };
            let detector = DetectorKind::Hash(family.into());
            for hit in self.index.near_bits64(family, hash, radius) {
                let limits = &self.settings.hash_limits;
                if !limits.admits_family(&hit.list.name, hit.entry.category, family, hit.distance) {
                    continue;
                }
                findings
                    .matches
                    .push(near_match(detector, &hit, attachment_id, (None, None)));
            }
        }
    }
}

/// Decodes and hashes one image on a [`Timebox`] helper, stopping early once `deadline` has
/// passed (nobody waits for the result then).
fn hash_image(
    bytes: &[u8],
    options: &HashOptions,
    budget: &Arc<DecodeBudget>,
    deadline: Deadline,
) -> ImageWork {
    let start = Instant::now();
    let decoded = decode_budgeted(bytes, &options.limits, Some(budget), Some(deadline));
    let decode = start.elapsed();
    let decoded = match decoded {
        Ok(decoded) if !deadline.passed() => decoded,
        failed => {
            let error = failed.err().unwrap_or_else(|| deadline.timed_out().into());
            return ImageWork {
                result: Err(error),
                decode,
                hash: Duration::ZERO,
            };
        }
    };
    let start = Instant::now();
    let hashes = HASHER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_some_and(|h| h.options() != options) {
            *slot = None;
        }
        slot.get_or_insert_with(|| AttachmentHasher::new(options.clone()))
            .hash_pixels(&decoded.image, decoded.format)
    });
    ImageWork {
        result: Ok(hashes),
        decode,
        hash: start.elapsed(),
    }
}

/// A perceptual match of `attachment_id` against a list entry, with its (quality, variant).
fn near_match(
    detector: DetectorKind,
    hit: &NearHit<'_>,
    attachment_id: &str,
    (quality, variant): (Option<u8>, Option<String>),
) -> Match {
    Match {
        detector,
        list: hit.list.name.clone(),
        list_version: hit.list.version.clone(),
        category: hit.entry.category.to_string(),
        severity: hit.entry.severity,
        subject: MatchSubject::Attachment {
            attachment_id: attachment_id.to_string(),
            entry_id: hit.entry.entry_id.to_string(),
            distance: hit.distance,
            quality,
            variant,
            frame_ms: None,
            video: None,
        },
    }
}

/// `DecodeError::reason` is the wire name of a reason code (it is also `vigil hash`'s
/// `error` field).
fn decode_reason(error: &DecodeError) -> ReasonCode {
    ReasonCode::from_wire(error.reason()).unwrap_or(ReasonCode::Undecodable)
}

impl Detector for ImageHashDetector {
    fn name(&self) -> &'static str {
        "image-hash"
    }

    fn detect(&self, context: &ScanContext<'_>, findings: &mut Findings) {
        for attachment in context.attachments {
            let declared_image = attachment.media_type.is_some_and(|m| m.is_image());
            if !declared_image && sniff_format(&attachment.bytes).is_none() {
                continue;
            }
            match self.hash(&attachment.bytes, &mut findings.trace) {
                Err(error) => findings.problems.push(Problem {
                    reason: decode_reason(&error),
                    attachment_id: Some(attachment.attachment_id.clone()),
                    detail: error.to_string(),
                }),
                Ok(image) => {
                    findings.trace.hashed(&attachment.attachment_id);
                    let start = Instant::now();
                    self.match_pdq(&attachment.attachment_id, &image, findings);
                    self.match_bits64(&attachment.attachment_id, &image, findings);
                    findings.trace.add(TimedStep::Match, start.elapsed());
                }
            }
        }
    }
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends between characters:
/// what a text detector reads of a text longer than `text.max_scan_bytes`.
pub(crate) fn prefix_within(text: &str, max_bytes: usize) -> &str {
    let mut cut = text.len().min(max_bytes);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_distances_and_video_shares_take_the_strictest_that_applies() {
        let limits = HashLimits {
            by_list: HashMap::from([(
                "bank".to_string(),
                HashLimit {
                    family_max_distance: [Some(4), None, Some(2)],
                    ..HashLimit::default()
                },
            )]),
            by_category: HashMap::from([(
                "B".to_string(),
                HashLimit {
                    family_max_distance: [Some(3), None, None],
                    vpdq_match_percent: [Some(80.0), Some(50.0)],
                    ..HashLimit::default()
                },
            )]),
            by_list_category: HashMap::new(),
        };
        // (list, category, family, distance, admitted)
        let cases = [
            ("bank", "A", Family::Phash, 4, true),
            ("bank", "A", Family::Phash, 5, false),
            ("bank", "B", Family::Phash, 4, false),
            ("bank", "B", Family::Phash, 3, true),
            ("bank", "A", Family::Dhash, 8, true),
            ("bank", "A", Family::Ahash, 3, false),
            ("other", "A", Family::Ahash, 8, true),
            ("other", "B", Family::Phash, 4, false),
        ];
        for (list, category, family, distance, admitted) in cases {
            assert_eq!(
                limits.admits_family(list, category, family, distance),
                admitted,
                "{list} {category} {family:?} {distance}"
            );
        }
        // Category B wants 80 % of the message's video and 50 % of the listed one.
        assert!(limits.admits_video("other", "B", (8, 10), (5, 10)));
        assert!(!limits.admits_video("other", "B", (7, 10), (10, 10)));
        assert!(!limits.admits_video("other", "B", (10, 10), (4, 10)));
        assert!(limits.admits_video("other", "A", (1, 10), (1, 10)));
    }

    #[test]
    fn hash_limits_take_the_strictest_threshold_that_applies() {
        let limit = |d: Option<u32>, q: Option<u8>| HashLimit {
            max_distance: d,
            min_quality: q,
            ..HashLimit::default()
        };
        let limits = HashLimits {
            by_list: HashMap::from([("bank".to_string(), limit(Some(20), None))]),
            by_category: HashMap::from([("B".to_string(), limit(None, Some(70)))]),
            by_list_category: HashMap::from([(
                ("bank".to_string(), "B".to_string()),
                limit(Some(8), Some(60)),
            )]),
        };
        let global = (31, 50);
        let table = [
            ("bank", "A", (20, 50)),
            ("bank", "B", (8, 70)),
            ("other", "B", (31, 70)),
            ("other", "A", (31, 50)),
        ];
        for (list, category, expected) in table {
            assert_eq!(
                limits.effective(list, category, global),
                expected,
                "{list} {category}"
            );
            let (d, q) = expected;
            assert!(
                limits.admits(list, category, d, q),
                "{list} {category} at its limits"
            );
            // [match]'s own thresholds are the index's to apply; these only tighten them.
            if d < global.0 {
                assert!(
                    !limits.admits(list, category, d + 1, q),
                    "{list} {category} too far"
                );
            }
            if q > global.1 {
                assert!(
                    !limits.admits(list, category, d, q - 1),
                    "{list} {category} too flat"
                );
            }
        }
    }

    /// Every decode failure names a reason code that exists, in the decode stage.
    #[test]
    fn decode_errors_map_to_decode_stage_reasons() {
        let table = [
            (
                DecodeError::UnsupportedFormat,
                ReasonCode::UnsupportedImageFormat,
            ),
            (
                DecodeError::InputTooLarge { bytes: 2, limit: 1 },
                ReasonCode::ImageTooLarge,
            ),
            (
                DecodeError::AllocationLimit {
                    format: "PNG",
                    max_bytes: 1,
                },
                ReasonCode::ImageTooLarge,
            ),
            (
                DecodeError::Corrupt {
                    format: "PNG",
                    what: "truncated",
                },
                ReasonCode::Undecodable,
            ),
            (
                DecodeError::DecoderPanicked { format: "GIF" },
                ReasonCode::Undecodable,
            ),
            (
                DecodeError::TimedOut(vigil_hash::TimedOut { limit_ms: 2000 }),
                ReasonCode::ImageTimeout,
            ),
        ];
        for (error, reason) in table {
            assert_eq!(
                ReasonCode::from_wire(error.reason()),
                Some(reason),
                "{error}"
            );
            assert_eq!(decode_reason(&error), reason);
            assert_eq!(reason.stage(), vigil_core::ErrorStage::Decode);
        }
    }
}
