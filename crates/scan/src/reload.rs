//! The configured lists as a set that can be reloaded: each list is re-read only when its
//! files changed, checked (manifest, signature, age, name, version order), and on any failure the
//! version in force stays. A [`Reloader`] builds a new [`Pipeline`] from the refreshed set off
//! the hot path and swaps it into the [`SharedPipeline`] that scanning threads read; scans in
//! flight finish on the pipeline they started with.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use time::OffsetDateTime;
use vigil_index::HashList;
use vigil_lists::ListSource;
use vigil_lists::{Integrity, Ledger, ListError, ListFile, ListInfo, ListsConfig, Stamp};
use vigil_text::KeywordList;
use vigil_url::UrlList;

use crate::config::ScanConfig;
use crate::{BuildError, Pipeline};

/// One configured list and the version of it in force.
#[derive(Debug, Clone)]
struct Slot<T> {
    source: ListSource,
    /// The files' stamp when the version in force (or a refused one) was read.
    stamp: Stamp,
    list: Arc<T>,
}

/// Every configured list, loaded and checked.
#[derive(Debug, Clone)]
pub struct ListSet {
    hash: Vec<Slot<HashList>>,
    keyword: Vec<Slot<KeywordList>>,
    url: Vec<Slot<UrlList>>,
    /// What every list must satisfy (`lists.trusted_keys`, `lists.max_age_secs`).
    integrity: Integrity,
    /// `lists.lenient`.
    lenient: bool,
    ledger: Ledger,
}

/// A list kind the set can load.
trait Loadable: Sized {
    fn info(&self) -> &ListInfo;
    fn read(
        source: &ListSource,
        integrity: &Integrity,
        lenient: bool,
        now: OffsetDateTime,
    ) -> Result<Self, ListError>;
}

impl Loadable for HashList {
    fn info(&self) -> &ListInfo {
        &self.info
    }
    fn read(
        source: &ListSource,
        integrity: &Integrity,
        lenient: bool,
        now: OffsetDateTime,
    ) -> Result<Self, ListError> {
        HashList::read(source, integrity, lenient, now)
    }
}

impl Loadable for KeywordList {
    fn info(&self) -> &ListInfo {
        &self.info
    }
    fn read(
        source: &ListSource,
        integrity: &Integrity,
        _lenient: bool,
        now: OffsetDateTime,
    ) -> Result<Self, ListError> {
        KeywordList::from_file(ListFile::read(source, integrity, now)?)
    }
}

impl Loadable for UrlList {
    fn info(&self) -> &ListInfo {
        &self.info
    }
    fn read(
        source: &ListSource,
        integrity: &Integrity,
        _lenient: bool,
        now: OffsetDateTime,
    ) -> Result<Self, ListError> {
        UrlList::from_file(source, ListFile::read(source, integrity, now)?)
    }
}

fn load_all<T: Loadable>(
    sources: &[ListSource],
    integrity: &Integrity,
    lenient: bool,
    now: OffsetDateTime,
    ledger: &mut Ledger,
) -> Result<Vec<Slot<T>>, ListError> {
    sources
        .iter()
        .map(|source| {
            let stamp = Stamp::of(source);
            let list = T::read(source, integrity, lenient, now)?;
            ledger.check(source, list.info())?;
            ledger.record(list.info())?;
            Ok(Slot {
                source: source.clone(),
                stamp,
                list: Arc::new(list),
            })
        })
        .collect()
}

/// What a reload did to one list.
#[derive(Debug)]
pub enum ListChange {
    /// A new version is in force.
    Replaced {
        /// The version replaced.
        old: ListInfo,
        /// The version now in force.
        new: ListInfo,
    },
    /// The files changed but the new version was refused; the old one stays in force.
    Refused {
        /// The version still in force.
        kept: ListInfo,
        /// Why the new one was refused.
        error: ListError,
    },
}

fn refresh_slots<T: Loadable>(
    slots: &mut [Slot<T>],
    integrity: &Integrity,
    lenient: bool,
    now: OffsetDateTime,
    ledger: &mut Ledger,
    changes: &mut Vec<ListChange>,
) {
    for slot in slots {
        let stamp = Stamp::of(&slot.source);
        if stamp == slot.stamp {
            continue;
        }
        slot.stamp = stamp;
        let old = slot.list.info();
        let loaded = T::read(&slot.source, integrity, lenient, now)
            .and_then(|new| new.info().check_successor(old).map(|()| new))
            .and_then(|new| ledger.check(&slot.source, new.info()).map(|()| new));
        match loaded {
            Ok(new) if new.info().sha256 == old.sha256 && new.info().version == old.version => {}
            Ok(new) => {
                if let Err(error) = ledger.record(new.info()) {
                    changes.push(ListChange::Refused {
                        kept: old.clone(),
                        error,
                    });
                    continue;
                }
                changes.push(ListChange::Replaced {
                    old: old.clone(),
                    new: new.info().clone(),
                });
                slot.list = Arc::new(new);
            }
            Err(error) => changes.push(ListChange::Refused {
                kept: old.clone(),
                error,
            }),
        }
    }
}

impl ListSet {
    /// Loads every list of `config` (at start-up: any failure is fatal).
    pub fn load(lists: &ListsConfig, now: OffsetDateTime) -> Result<ListSet, BuildError> {
        let integrity = Integrity::from_config(lists)?;
        let lenient = lists.lenient;
        let mut ledger = Ledger::open(lists.ledger_file.as_deref())?;
        let hash = load_all(&lists.hash_lists, &integrity, lenient, now, &mut ledger)?;
        let keyword = load_all(&lists.keyword_lists, &integrity, lenient, now, &mut ledger)?;
        let url = load_all(&lists.url_lists, &integrity, lenient, now, &mut ledger)?;
        Ok(ListSet {
            hash,
            keyword,
            url,
            integrity,
            lenient,
            ledger,
        })
    }

    /// The hash lists in force.
    pub fn hash_lists(&self) -> impl Iterator<Item = &Arc<HashList>> {
        self.hash.iter().map(|s| &s.list)
    }

    /// The hash lists in force, each with where it was read from (its per-list settings).
    pub fn hash_lists_with_sources(&self) -> impl Iterator<Item = (&ListSource, &Arc<HashList>)> {
        self.hash.iter().map(|s| (&s.source, &s.list))
    }

    /// The keyword lists in force.
    pub fn keyword_lists(&self) -> impl Iterator<Item = &Arc<KeywordList>> {
        self.keyword.iter().map(|s| &s.list)
    }

    /// The URL lists in force.
    pub fn url_lists(&self) -> impl Iterator<Item = &Arc<UrlList>> {
        self.url.iter().map(|s| &s.list)
    }

    /// Re-reads the lists whose files changed since they were last read; returns what
    /// changed (nothing when no file did).
    pub fn refresh(&mut self, now: OffsetDateTime) -> Vec<ListChange> {
        let mut changes = Vec::new();
        let (integrity, lenient, ledger) = (&self.integrity, self.lenient, &mut self.ledger);
        refresh_slots(
            &mut self.hash,
            integrity,
            lenient,
            now,
            ledger,
            &mut changes,
        );
        refresh_slots(
            &mut self.keyword,
            integrity,
            lenient,
            now,
            ledger,
            &mut changes,
        );
        refresh_slots(&mut self.url, integrity, lenient, now, ledger, &mut changes);
        changes
    }
}

/// The pipeline in force, replaced atomically on reload.
#[derive(Debug)]
pub struct SharedPipeline(ArcSwap<Pipeline>);

impl SharedPipeline {
    /// Starts with `pipeline`.
    pub fn new(pipeline: Pipeline) -> SharedPipeline {
        SharedPipeline(ArcSwap::from_pointee(pipeline))
    }

    /// The pipeline in force now; a scan keeps using it even if a reload swaps it meanwhile.
    pub fn current(&self) -> Guard<Arc<Pipeline>> {
        self.0.load()
    }

    fn replace(&self, pipeline: Pipeline) {
        self.0.store(Arc::new(pipeline));
    }
}

/// Reloads lists into a [`SharedPipeline`].
#[derive(Debug)]
pub struct Reloader {
    config: ScanConfig,
    scanning_threads: usize,
    lists: ListSet,
    shared: Arc<SharedPipeline>,
}

/// What one reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Per list that changed on disk.
    pub changes: Vec<ListChange>,
    /// Whether a new pipeline was swapped in.
    pub swapped: bool,
    /// Building the new pipeline failed (keyword automata); the old one stays in force.
    pub build_error: Option<BuildError>,
}

impl Reloader {
    /// Loads every list of `config` and builds the first pipeline, for `scanning_threads`
    /// threads scanning at once (0: one per CPU); at start-up, so any failure is fatal.
    pub fn start(config: ScanConfig, scanning_threads: usize) -> Result<Reloader, BuildError> {
        let lists = ListSet::load(&config.lists, OffsetDateTime::now_utc())?;
        let pipeline = Pipeline::build(&config, &lists, scanning_threads)?;
        Ok(Reloader {
            config,
            scanning_threads,
            lists,
            shared: Arc::new(SharedPipeline::new(pipeline)),
        })
    }

    /// The pipeline handle scanning threads read.
    pub fn shared(&self) -> Arc<SharedPipeline> {
        self.shared.clone()
    }

    /// Checks every list's files and, if any list was replaced, builds and swaps in a new
    /// pipeline. Failures leave what is in force untouched.
    pub fn reload(&mut self, now: OffsetDateTime) -> ReloadReport {
        let mut next = self.lists.clone();
        let changes = next.refresh(now);
        let replaced = changes
            .iter()
            .any(|c| matches!(c, ListChange::Replaced { .. }));
        let mut report = ReloadReport {
            changes,
            swapped: false,
            build_error: None,
        };
        if !replaced {
            // Remember the stamps of refused files so they are not re-read until they change.
            self.lists = next;
            return report;
        }
        match Pipeline::build(&self.config, &next, self.scanning_threads) {
            Ok(pipeline) => {
                self.shared.replace(pipeline);
                self.lists = next;
                report.swapped = true;
            }
            Err(error) => report.build_error = Some(error),
        }
        report
    }
}
