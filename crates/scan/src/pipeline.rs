use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use time::OffsetDateTime;
use vigil_core::{
    Algorithm, AttachmentBody, ErrorRecord, Flag, ListVersion, ListVersions, Message, ReasonCode,
    Source, SuppressedMatch, VerdictKind,
};
use vigil_index::{ExactIndex, HashList, NearIndex, VpdqIndex};
use vigil_lists::{ListError, ListInfo};
use vigil_text::{KeywordList, KeywordMatcher, TextError};
use vigil_url::{UrlIndex, UrlList};
use vigil_video::{Forms, PoolSettings, VideoPool};

use crate::config::ScanConfig;
use crate::url::UrlDetector;
use crate::{
    AllowLists, AttachmentOutcome, Detector, ExactHashDetector, HashLimits, ImageHashDetector,
    ImageMatchSettings, KeywordDetector, ListSet, Problem, ResolvedAttachment, Resolver, Scanner,
    TimedStep, Trace, VideoDetector, VideoLists,
};

/// The pipeline could not be built from the configuration (at start-up: fail fast).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A list failed to load.
    #[error(transparent)]
    List(#[from] ListError),
    /// Keyword lists failed to compile.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A configured `attachments.file_roots` directory is unusable.
    #[error("config key `attachments.file_roots`: {path}: {source}")]
    FileRoot {
        /// The directory.
        path: PathBuf,
        /// Why it is unusable.
        source: std::io::Error,
    },
}

/// The kind of a loaded list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// A hash list.
    Hash,
    /// A keyword list.
    Keyword,
    /// A URL list.
    Url,
}

impl ListKind {
    /// `hash`, `keyword` or `url`, as metrics and `/lists` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Hash => "hash",
            ListKind::Keyword => "keyword",
            ListKind::Url => "url",
        }
    }
}

/// A list the pipeline loaded.
#[derive(Debug, Clone)]
pub struct LoadedList {
    /// What kind.
    pub kind: ListKind,
    /// Its identity.
    pub info: ListInfo,
}

/// parse → resolve → scan for one input record, whatever transport it came over.
#[derive(Debug)]
pub struct Pipeline {
    scanner: Scanner,
    resolver: Resolver,
    max_message_bytes: u64,
    lists: Vec<LoadedList>,
    versions: ListVersions,
}

/// What one input record produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The message id, when the record had a readable one.
    pub message_id: Option<String>,
    /// The flag, if the message matched anything.
    pub flag: Option<Flag>,
    /// Error records: one for an unscannable record, or one per attachment or detector that
    /// could not be scanned.
    pub errors: Vec<ErrorRecord>,
    /// Whether the message was parsed and scanned (possibly in part).
    pub scanned: bool,
    /// Matches found and not flagged, and why.
    pub suppressed: Vec<SuppressedMatch>,
}

impl Outcome {
    /// The outcome of a record that was not scanned at all, for `error`.
    pub fn unscanned(message_id: Option<String>, error: ErrorRecord) -> Outcome {
        Outcome {
            message_id,
            flag: None,
            errors: vec![error],
            scanned: false,
            suppressed: Vec::new(),
        }
    }

    /// The outcome of a record not scanned for `reason`, which concerns the record as a whole
    /// (no message id, attachment or field to name).
    pub fn record_error(
        reason: ReasonCode,
        source: Source,
        detail: String,
        now: OffsetDateTime,
    ) -> Outcome {
        let error = ErrorRecord::new(reason, source, None, None, None, detail, now);
        Outcome::unscanned(None, error)
    }

    /// The verdict this outcome is reported under.
    pub fn verdict(&self) -> VerdictKind {
        match (&self.flag, self.scanned) {
            (Some(_), _) => VerdictKind::Flagged,
            (None, true) => VerdictKind::Clean,
            (None, false) => VerdictKind::Error,
        }
    }
}

impl Pipeline {
    /// Loads and compiles every configured list and checks the attachment roots, for as many
    /// scanning threads as there are CPUs (`vigil scan`, `vigil config check`).
    pub fn from_config(config: &ScanConfig) -> Result<Pipeline, BuildError> {
        Pipeline::build(
            config,
            &ListSet::load(&config.lists, OffsetDateTime::now_utc())?,
            0,
        )
    }

    /// Builds the indexes and automata for `lists` and checks the attachment roots, for
    /// `scanning_threads` threads calling [`Pipeline::process`] at once (0: one per CPU).
    pub fn build(
        config: &ScanConfig,
        lists: &ListSet,
        scanning_threads: usize,
    ) -> Result<Pipeline, BuildError> {
        let hash_lists: Vec<Arc<HashList>> = lists.hash_lists().cloned().collect();
        let keyword_lists: Vec<KeywordList> = lists
            .keyword_lists()
            .map(|l| KeywordList::clone(l))
            .collect();
        let url_lists: Vec<Arc<UrlList>> = lists.url_lists().cloned().collect();
        let loaded: Vec<LoadedList> = hash_lists
            .iter()
            .map(|l| (ListKind::Hash, &l.info))
            .chain(keyword_lists.iter().map(|l| (ListKind::Keyword, &l.info)))
            .chain(url_lists.iter().map(|l| (ListKind::Url, &l.info)))
            .map(|(kind, info)| LoadedList {
                kind,
                info: info.clone(),
            })
            .collect();
        let versions = ListVersions::new(
            loaded
                .iter()
                .map(|l| ListVersion {
                    list: l.info.name.clone(),
                    version: l.info.version.clone(),
                })
                .collect(),
        );
        let mut detectors: Vec<Box<dyn Detector>> = Vec::new();
        if !hash_lists.is_empty() {
            let exact = ExactIndex::build(hash_lists.iter().cloned());
            if !exact.algorithms().is_empty() {
                detectors.push(Box::new(ExactHashDetector::new(exact)));
            }
            let near = Arc::new(NearIndex::build(hash_lists.iter().cloned()));
            let mut settings = ImageMatchSettings::from_config(
                &config.matching,
                &config.attachments,
                scanning_threads,
            );
            settings.hash_limits = HashLimits::new(
                &config.matching,
                lists
                    .hash_lists_with_sources()
                    .map(|(source, list)| (source, &list.info)),
            );
            let has_images = !near.algorithms().is_empty();
            if has_images {
                detectors.push(Box::new(ImageHashDetector::new(
                    near.clone(),
                    settings.clone(),
                )));
            }
            let images = near.algorithms().contains(&Algorithm::Pdq).then_some(near);
            if let Some(video) = video_detector(config, lists, images, &settings, scanning_threads)
            {
                detectors.push(Box::new(video));
            }
        }
        let keyword_detector = !keyword_lists.is_empty();
        if keyword_detector {
            detectors.push(Box::new(KeywordDetector::new(
                KeywordMatcher::build(keyword_lists)?,
                config.text.max_scan_bytes,
            )));
        }
        // Links are looked at with URL lists, or when a short link alone flags.
        if !url_lists.is_empty() || config.urls.short_link_rule {
            detectors.push(Box::new(UrlDetector::new(
                UrlIndex::build(url_lists),
                &config.urls,
                config.text.max_scan_bytes,
                !keyword_detector,
            )));
        }
        let resolver = Resolver::new(&config.attachments)
            .map_err(|(path, source)| BuildError::FileRoot { path, source })?;
        Ok(Pipeline {
            scanner: Scanner::new(detectors).with_allow_lists(AllowLists::new(
                lists
                    .hash_lists_with_sources()
                    .map(|(source, list)| (source, &list.info)),
            )),
            resolver,
            max_message_bytes: config.input.max_message_bytes,
            lists: loaded,
            versions,
        })
    }

    /// Name and version of each list in force, for verdict records.
    pub fn list_versions(&self) -> &ListVersions {
        &self.versions
    }

    /// The lists in force.
    pub fn lists(&self) -> &[LoadedList] {
        &self.lists
    }

    /// The scanner.
    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// The record size limit (`input.max_message_bytes`), for framing.
    pub fn max_message_bytes(&self) -> u64 {
        self.max_message_bytes
    }

    /// Processes one record read from `source`. Never panics: a panic outside the detectors
    /// (which the scanner already contains) becomes an `internal_error` record.
    pub fn process(&self, record: &[u8], source: Source, now: OffsetDateTime) -> Outcome {
        self.process_traced(record, source, now, &mut Trace::default())
    }

    /// [`Pipeline::process`], recording stage times and attachment outcomes in `trace`.
    pub fn process_traced(
        &self,
        record: &[u8],
        source: Source,
        now: OffsetDateTime,
        trace: &mut Trace,
    ) -> Outcome {
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.process_unguarded(record, &source, now, trace)
        }));
        attempt.unwrap_or_else(|_| {
            let detail = "processing failed outside the detectors; the record was not scanned";
            Outcome::record_error(ReasonCode::InternalError, source, detail.into(), now)
        })
    }

    fn process_unguarded(
        &self,
        record: &[u8],
        source: &Source,
        now: OffsetDateTime,
        trace: &mut Trace,
    ) -> Outcome {
        if record.len() as u64 > self.max_message_bytes {
            return self.too_large(record.len() as u64, source.clone(), now);
        }
        let parsed = trace.time(TimedStep::Parse, || Message::parse(record));
        let message = match parsed {
            Ok(message) => message,
            Err(e) => {
                let error = ErrorRecord::new(
                    e.reason,
                    source.clone(),
                    e.message_id.clone(),
                    None,
                    e.field,
                    e.detail,
                    now,
                );
                return Outcome::unscanned(e.message_id, error);
            }
        };
        let (attachments, mut problems) =
            trace.time(TimedStep::Resolve, || self.resolver.resolve(&message));
        let verdict = self
            .scanner
            .scan_traced(&message, &attachments, source, now, trace);
        problems.extend(verdict.problems);
        tally_attachments(&message, &attachments, &problems, trace);
        // By id, once: a message may list many attachments (those past the count limit
        // share one problem, so there are few problems, but the list itself may be long).
        let positions: HashMap<&str, usize> = if problems.is_empty() {
            HashMap::new()
        } else {
            (message.attachments.iter().enumerate())
                .map(|(i, a)| (a.attachment_id.as_str(), i))
                .collect()
        };
        let errors = problems
            .into_iter()
            .map(
                |Problem {
                     reason,
                     attachment_id,
                     detail,
                 }| {
                    let field = attachment_id
                        .as_deref()
                        .and_then(|id| positions.get(id))
                        .map(|i| format!("attachments[{i}]"));
                    ErrorRecord::new(
                        reason,
                        source.clone(),
                        Some(message.message_id.clone()),
                        attachment_id,
                        field,
                        detail,
                        now,
                    )
                },
            )
            .collect();
        Outcome {
            message_id: Some(message.message_id),
            flag: verdict.flag,
            errors,
            scanned: true,
            suppressed: verdict.suppressed,
        }
    }

    /// The outcome for a record that framing found larger than the limit (and did not keep).
    pub fn too_large(&self, size: u64, source: Source, now: OffsetDateTime) -> Outcome {
        let detail = format!(
            "{size} bytes exceeds input.max_message_bytes = {}",
            self.max_message_bytes
        );
        Outcome::record_error(ReasonCode::MessageTooLarge, source, detail, now)
    }
}

/// The video detector, when videos are to be decoded (`video.enabled` and a worker program
/// given) and some list could match them: a vPDQ list, or a PDQ list a frame may match.
fn video_detector(
    config: &ScanConfig,
    lists: &ListSet,
    images: Option<Arc<NearIndex>>,
    settings: &ImageMatchSettings,
    scanning_threads: usize,
) -> Option<VideoDetector> {
    let worker = config
        .video_worker
        .as_ref()
        .filter(|_| config.video.enabled)?;
    let vpdq = VpdqIndex::build(
        lists
            .hash_lists_with_sources()
            .map(|(source, list)| (list.clone(), config.matching.vpdq_thresholds(source))),
    );
    if vpdq.is_empty() && images.is_none() {
        return None;
    }
    let workers = match config.video.workers {
        0 => crate::config::scanning_threads(scanning_threads),
        n => n,
    };
    let forms = Forms {
        dihedral: settings.dihedral,
        trim: settings.trim_borders,
    };
    let pool = VideoPool::new(
        worker.clone(),
        PoolSettings::new(&config.video, workers, forms),
    );
    let lists = VideoLists {
        vpdq,
        images,
        pdq_max_distance: settings.pdq_max_distance,
        pdq_min_quality: settings.pdq_min_quality,
        hash_limits: settings.hash_limits.clone(),
    };
    Some(VideoDetector::new(pool, lists))
}

/// Counts each attachment of `message` under one outcome: its first problem's, else
/// unresolved if it was not resolved (past the count limit), else hashed (if a detector
/// hashed it as an image or video), else exact digests only.
fn tally_attachments(
    message: &Message,
    resolved: &[ResolvedAttachment],
    problems: &[Problem],
    trace: &mut Trace,
) {
    let mut first_problem = HashMap::new();
    for problem in problems {
        if let Some(id) = &problem.attachment_id {
            first_problem.entry(id.as_str()).or_insert(problem.reason);
        }
    }
    let resolved: HashSet<&str> = resolved.iter().map(|r| r.attachment_id.as_str()).collect();
    for attachment in &message.attachments {
        let id = attachment.attachment_id.as_str();
        let is_resolved = resolved.contains(id);
        let outcome = match first_problem.get(id) {
            Some(reason) => AttachmentOutcome::of_problem(*reason),
            None if !is_resolved => AttachmentOutcome::Unresolved,
            None if trace.was_hashed(id) => AttachmentOutcome::Hashed,
            None => AttachmentOutcome::ExactOnly,
        };
        trace.attachment(outcome);
        if is_resolved && matches!(attachment.body, AttachmentBody::Uri(_)) {
            trace.fetched();
        }
    }
}
