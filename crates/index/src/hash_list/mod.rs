//! A hash list: its entries stored compactly per algorithm, read from any format.

mod formats;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use vigil_core::Algorithm;
use vigil_core::Severity;
use vigil_hash::{Digest, ExactAlgorithm, Family, Hash64, PdqHash, VpdqFeature};
use vigil_lists::{ListFormat, ListSource};

use vigil_lists::{Integrity, ListError, ListFile, ListInfo};

/// A listed hash value, by kind of algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashValue {
    /// MD5, SHA-1 or SHA-256 of the file.
    Digest(Digest),
    /// PDQ (256 bits).
    Pdq(PdqHash),
    /// pHash, dHash or aHash (64 bits).
    Bits64(Hash64),
    /// A listed video (vPDQ), by its identity: the SHA-256 of its frames in compact form
    /// ([`VpdqFeature::list_to_json`]). The frames are [`HashEntry::frames`].
    Vpdq(Digest),
}

impl HashValue {
    /// Parses `hex` as a hash of `algorithm` (for vPDQ, a JSON list of compact features,
    /// of which the value keeps the identity).
    pub fn parse(algorithm: Algorithm, hex: &str) -> Result<HashValue, String> {
        parse_listed(algorithm, hex).map(|(value, _)| value)
    }

    /// Lowercase hex, as lists write it (for vPDQ, the identity).
    pub fn to_hex(&self) -> String {
        match self {
            HashValue::Digest(d) | HashValue::Vpdq(d) => d.to_hex(),
            HashValue::Pdq(h) => h.to_hex(),
            HashValue::Bits64(h) => h.to_hex(),
        }
    }
}

/// A listed hash and, for vPDQ, its frames (empty for other algorithms).
pub(crate) fn parse_listed(
    algorithm: Algorithm,
    hex: &str,
) -> Result<(HashValue, Vec<VpdqFeature>), String> {
    if algorithm == Algorithm::Vpdq {
        let frames = VpdqFeature::list_from_json(hex).map_err(|e| e.to_string())?;
        if frames.is_empty() {
            return Err("a listed vPDQ hash has at least one frame".into());
        }
        return Ok((HashValue::Vpdq(video_identity(&frames)), frames));
    }
    parse_hash(algorithm, hex).map(|value| (value, Vec::new()))
}

/// The identity of a listed video: the SHA-256 of its frames in compact form.
fn video_identity(frames: &[VpdqFeature]) -> Digest {
    ExactAlgorithm::Sha256.digest(VpdqFeature::list_to_json(frames).as_bytes())
}

/// Parses a hash of an image algorithm.
fn parse_hash(algorithm: Algorithm, hex: &str) -> Result<HashValue, String> {
    if let Ok(exact) = ExactAlgorithm::try_from(algorithm) {
        return Digest::from_hex(exact, hex)
            .map(HashValue::Digest)
            .map_err(|e| e.to_string());
    }
    if Family::try_from(algorithm).is_ok() {
        return Hash64::from_hex(hex)
            .map(HashValue::Bits64)
            .map_err(|e| e.to_string());
    }
    PdqHash::from_hex(hex)
        .map(HashValue::Pdq)
        .map_err(|e| e.to_string())
}

/// One listed hash, as a view into its list.
#[derive(Debug, Clone, PartialEq)]
pub struct HashEntry<'a> {
    /// Hash algorithm.
    pub algorithm: Algorithm,
    /// The listed hash.
    pub value: HashValue,
    /// The list's id for the entry (unique within the list; the hash itself in formats
    /// without ids).
    pub entry_id: Cow<'a, str>,
    /// The list's category for the entry.
    pub category: &'a str,
    /// Severity of a match (default `critical`: listed material is known).
    pub severity: Severity,
    /// Other columns or fields of the entry (`source`, `added_at`, ...), in file order.
    pub metadata: &'a [(Arc<str>, Box<str>)],
    /// A listed video's frames, as listed (vPDQ; empty for other algorithms).
    pub frames: &'a [VpdqFeature],
}

/// An entry's id is its hash (formats without ids).
const DERIVED: u32 = u32::MAX;
/// An entry without metadata.
const NO_METADATA: u32 = u32::MAX;

/// What an entry has besides its hash: 12 bytes, indexes into the list's strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attr {
    id: u32,
    metadata: u32,
    category: u16,
    severity: Severity,
}

/// The attributes of a table's entries: one for all while they are alike (an HMA or bare
/// list: ids are the hashes, one category), else one per entry.
#[derive(Debug, Clone)]
enum Attrs {
    Uniform(Option<Attr>),
    Each(Vec<Attr>),
}

/// One algorithm's entries: hashes in a flat array (what the indexes scan), attributes beside.
#[derive(Debug, Clone)]
pub(crate) struct Table<V> {
    pub(crate) values: Vec<V>,
    attrs: Attrs,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            values: Vec::new(),
            attrs: Attrs::Uniform(None),
        }
    }
}

impl<V> Table<V> {
    fn push(&mut self, value: V, attr: Attr) {
        match &mut self.attrs {
            Attrs::Uniform(None) if attr.id == DERIVED && attr.metadata == NO_METADATA => {
                self.attrs = Attrs::Uniform(Some(attr));
            }
            Attrs::Uniform(Some(first)) if *first == attr => {}
            Attrs::Uniform(first) => {
                let mut each = vec![first.unwrap_or(attr); self.values.len()];
                each.push(attr);
                self.attrs = Attrs::Each(each);
            }
            Attrs::Each(each) => each.push(attr),
        }
        self.values.push(value);
    }

    fn attr(&self, index: usize) -> Attr {
        match &self.attrs {
            Attrs::Uniform(Some(attr)) => *attr,
            Attrs::Each(each) => each[index],
            Attrs::Uniform(None) => unreachable!("an empty table has no entries"),
        }
    }

    fn shrink(&mut self) {
        self.values.shrink_to_fit();
        if let Attrs::Each(each) = &mut self.attrs {
            each.shrink_to_fit();
        }
    }

    fn retain(&mut self, keep: &[bool]) {
        let mut i = 0;
        self.values.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        if let Attrs::Each(each) = &mut self.attrs {
            let mut i = 0;
            each.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        if self.values.is_empty() {
            self.attrs = Attrs::Uniform(None);
        }
    }

    fn heap_bytes(&self) -> usize {
        let attrs = match &self.attrs {
            Attrs::Each(each) => each.capacity() * std::mem::size_of::<Attr>(),
            Attrs::Uniform(_) => 0,
        };
        self.values.capacity() * std::mem::size_of::<V>() + attrs
    }
}

/// The tables of every algorithm, in [`Algorithm::ALL`] order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tables {
    pub(crate) pdq: Table<PdqHash>,
    pub(crate) bits64: [Table<Hash64>; 3],
    pub(crate) exact: [Table<Digest>; 3],
    pub(crate) vpdq: Videos,
}

/// The identity of a listed video, as a table value ([`HashValue::Vpdq`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct VideoKey(Digest);

/// vPDQ entries: a table of their identities like the other algorithms', and every listed
/// video's frames, in entry order, in one flat array.
#[derive(Debug, Clone, Default)]
pub(crate) struct Videos {
    pub(crate) keys: Table<VideoKey>,
    /// Where entry `i`'s frames end in `frames`.
    ends: Vec<u32>,
    frames: Vec<VpdqFeature>,
}

impl Videos {
    /// The frames of entry `index`.
    pub(crate) fn frames(&self, index: usize) -> &[VpdqFeature] {
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i] as usize);
        &self.frames[start..self.ends[index] as usize]
    }

    /// Number of listed videos.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    fn push(&mut self, key: VideoKey, frames: Vec<VpdqFeature>, attr: Attr) {
        self.frames.extend(frames);
        self.ends
            .push(u32::try_from(self.frames.len()).unwrap_or(u32::MAX));
        self.keys.push(key, attr);
    }

    fn retain(&mut self, keep: &[bool]) {
        if keep.iter().all(|&k| k) {
            return;
        }
        let mut frames = Vec::new();
        let mut ends = Vec::new();
        for (i, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
            frames.extend_from_slice(self.frames(i));
            ends.push(u32::try_from(frames.len()).unwrap_or(u32::MAX));
        }
        (self.frames, self.ends) = (frames, ends);
        self.keys.retain(keep);
    }

    fn shrink(&mut self) {
        self.frames.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.keys.shrink();
    }

    fn heap_bytes(&self) -> usize {
        self.keys.heap_bytes()
            + self.ends.capacity() * 4
            + self.frames.capacity() * std::mem::size_of::<VpdqFeature>()
    }
}

/// Runs `$body` with `$table` bound to the table of `$algorithm` (tables differ in type).
macro_rules! with_table {
    ($tables:expr, $algorithm:expr, |$table:ident| $body:expr) => {
        match $algorithm {
            Algorithm::Pdq => {
                let $table = &$tables.pdq;
                $body
            }
            Algorithm::Phash => {
                let $table = &$tables.bits64[0];
                $body
            }
            Algorithm::Dhash => {
                let $table = &$tables.bits64[1];
                $body
            }
            Algorithm::Ahash => {
                let $table = &$tables.bits64[2];
                $body
            }
            Algorithm::Md5 => {
                let $table = &$tables.exact[0];
                $body
            }
            Algorithm::Sha1 => {
                let $table = &$tables.exact[1];
                $body
            }
            Algorithm::Sha256 => {
                let $table = &$tables.exact[2];
                $body
            }
            Algorithm::Vpdq => {
                let $table = &$tables.vpdq.keys;
                $body
            }
        }
    };
}

/// A value of any table, as a [`HashValue`].
trait Value: Copy + Ord {
    fn wrap(self) -> HashValue;
    /// 64 of the bits, as a sort key.
    fn key64(&self) -> u64;
}

impl Value for PdqHash {
    fn wrap(self) -> HashValue {
        HashValue::Pdq(self)
    }
    fn key64(&self) -> u64 {
        self.limbs()[0]
    }
}

impl Value for Hash64 {
    fn wrap(self) -> HashValue {
        HashValue::Bits64(self)
    }
    fn key64(&self) -> u64 {
        self.value()
    }
}

impl Value for VideoKey {
    fn wrap(self) -> HashValue {
        HashValue::Vpdq(self.0)
    }
    fn key64(&self) -> u64 {
        self.0.key64()
    }
}

impl Value for Digest {
    fn wrap(self) -> HashValue {
        HashValue::Digest(self)
    }
    fn key64(&self) -> u64 {
        let mut head = [0u8; 8];
        let bytes = self.as_bytes();
        let n = bytes.len().min(8);
        head[..n].copy_from_slice(&bytes[..n]);
        u64::from_le_bytes(head)
    }
}

/// Strings shared by a list's entries.
#[derive(Debug, Clone, Default)]
struct Strings {
    /// Explicit entry ids, concatenated; `id_ends[i]` is where id `i` ends.
    id_text: String,
    id_ends: Vec<u32>,
    categories: Vec<Arc<str>>,
    metadata: Vec<Metadata>,
}

/// One entry's metadata: (column or field name, value) pairs.
type Metadata = Box<[(Arc<str>, Box<str>)]>;

impl Strings {
    fn id(&self, id: u32) -> &str {
        let i = id as usize;
        let start = if i == 0 {
            0
        } else {
            self.id_ends[i - 1] as usize
        };
        &self.id_text[start..self.id_ends[i] as usize]
    }
}

/// A hash list in any of the formats of `docs/lists.md`, stored compactly: per algorithm a
/// flat array of hashes (which the indexes use in place) and 12 bytes of attributes per entry
/// — none at all for HMA and bare lists, whose entries differ only in their hash.
#[derive(Debug, Clone)]
pub struct HashList {
    /// Identity.
    pub info: ListInfo,
    pub(crate) tables: Tables,
    strings: Strings,
}

impl HashList {
    /// Parses vigil CSV `bytes`; `path` names the list in errors. Strict: the first bad line
    /// fails the whole list, with its line number.
    pub fn parse(name: &str, path: &Path, bytes: &[u8]) -> Result<HashList, ListError> {
        let mut source = ListSource::from(path.to_path_buf());
        source.name = Some(name.to_string());
        source.format = Some(ListFormat::Csv);
        let file = ListFile::read_unchecked(&source, bytes.to_vec());
        HashList::from_file(&source, file, false)
    }

    /// Reads and checks `source` (manifest, signature, age) and parses it.
    pub fn read(
        source: &ListSource,
        integrity: &Integrity,
        lenient_default: bool,
        now: time::OffsetDateTime,
    ) -> Result<HashList, ListError> {
        let file = ListFile::read(source, integrity, now)?;
        HashList::from_file(source, file, source.lenient.unwrap_or(lenient_default))
    }

    /// Parses a list file read by [`ListFile::read`] in its format and checks the entry
    /// count against the manifest.
    pub fn from_file(
        source: &ListSource,
        file: ListFile,
        lenient: bool,
    ) -> Result<HashList, ListError> {
        let algorithm = match &source.algorithm {
            Some(name) => Some(name.parse::<Algorithm>().map_err(|_| ListError::Format {
                path: source.path.clone(),
                message: format!(
                    "unknown algorithm `{name}` (expected pdq, phash, dhash, ahash, md5, sha1 or sha256)"
                ),
            })?),
            None => None,
        };
        let format = source
            .format
            .unwrap_or_else(|| ListFormat::for_path(&source.path, algorithm.is_some()));
        let info = file.info.clone();
        let category = source.category.clone().unwrap_or_else(|| info.name.clone());
        let mut builder = Builder::new(&source.path, lenient, info);
        let bytes = file.bytes();
        let parsed = match format {
            ListFormat::Csv => formats::csv(bytes, &mut builder),
            ListFormat::Jsonl => formats::jsonl(bytes, &mut builder),
            ListFormat::Hma => formats::hma(bytes, &category, &mut builder),
            ListFormat::Bare => match algorithm {
                Some(algorithm) => formats::bare(bytes, algorithm, &category, &mut builder),
                None => Err(ListError::Format {
                    path: source.path.clone(),
                    message: "a `bare` list needs `algorithm` (pdq, md5, ...)".into(),
                }),
            },
        }
        .and_then(|()| builder.finish());
        let list = file.finish(parsed, |list| &mut list.info)?;
        Ok(list)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        Algorithm::ALL
            .iter()
            .map(|&a| with_table!(self.tables, a, |t| t.values.len()))
            .sum()
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entry `index` of `algorithm`'s table.
    pub fn entry(&self, algorithm: Algorithm, index: usize) -> HashEntry<'_> {
        with_table!(self.tables, algorithm, |t| {
            let value = t.values[index].wrap();
            let frames = match algorithm {
                Algorithm::Vpdq => self.tables.vpdq.frames(index),
                _ => &[],
            };
            self.view(algorithm, value, t.attr(index), frames)
        })
    }

    fn view<'s>(
        &'s self,
        algorithm: Algorithm,
        value: HashValue,
        attr: Attr,
        frames: &'s [VpdqFeature],
    ) -> HashEntry<'s> {
        HashEntry {
            frames,
            algorithm,
            value,
            entry_id: match attr.id {
                DERIVED => Cow::Owned(value.to_hex()),
                id => Cow::Borrowed(self.strings.id(id)),
            },
            category: &self.strings.categories[usize::from(attr.category)],
            severity: attr.severity,
            metadata: match attr.metadata {
                NO_METADATA => &[],
                m => &self.strings.metadata[m as usize],
            },
        }
    }

    /// Every entry, algorithm by algorithm ([`Algorithm::ALL`] order), each in file order.
    pub fn entries(&self) -> impl Iterator<Item = HashEntry<'_>> {
        Algorithm::ALL.into_iter().flat_map(move |algorithm| {
            let len = with_table!(self.tables, algorithm, |t| t.values.len());
            (0..len).map(move |i| self.entry(algorithm, i))
        })
    }

    /// Bytes held by the entries (hashes, attributes, strings).
    pub fn heap_bytes(&self) -> usize {
        let tables: usize = Algorithm::ALL
            .iter()
            .filter(|&&a| a != Algorithm::Vpdq)
            .map(|&a| with_table!(self.tables, a, |t| t.heap_bytes()))
            .sum::<usize>()
            + self.tables.vpdq.heap_bytes();
        let s = &self.strings;
        let metadata: usize = s
            .metadata
            .iter()
            .map(|m| m.iter().map(|(_, v)| v.len() + 32).sum::<usize>())
            .sum();
        tables + s.id_text.capacity() + s.id_ends.capacity() * 4 + metadata
    }
}

/// What one line of a list means.
pub(crate) enum Item<'r> {
    /// An entry; `id` is absent in formats without ids (the hash is the id).
    Entry {
        algorithm: Algorithm,
        value: HashValue,
        /// A listed video's frames (vPDQ; empty otherwise).
        frames: Vec<VpdqFeature>,
        id: Option<&'r str>,
        category: &'r str,
        severity: Severity,
        metadata: Vec<(Arc<str>, Box<str>)>,
    },
    /// A tombstone: the entry with this id is not in this version.
    Tombstone(&'r str),
}

/// Collects a list's lines in order: malformed lines fail the list (strict) or are skipped
/// and counted (lenient); tombstones and duplicate ids are resolved at the end.
pub(crate) struct Builder<'a> {
    path: &'a Path,
    lenient: bool,
    list: HashList,
    /// Line of each entry, per table (for duplicate reports).
    lines: [Vec<u32>; Algorithm::ALL.len()],
    tombstones: HashSet<String>,
    category_ids: HashMap<Arc<str>, u16>,
    last_category: Option<(Arc<str>, u16)>,
    skipped: usize,
}

fn slot(algorithm: Algorithm) -> usize {
    Algorithm::ALL
        .iter()
        .position(|&a| a == algorithm)
        .unwrap_or_default()
}

impl<'a> Builder<'a> {
    fn new(path: &'a Path, lenient: bool, info: ListInfo) -> Self {
        Builder {
            path,
            lenient,
            list: HashList {
                info,
                tables: Tables::default(),
                strings: Strings::default(),
            },
            lines: Default::default(),
            tombstones: HashSet::new(),
            category_ids: HashMap::new(),
            last_category: None,
            skipped: 0,
        }
    }

    /// The list file, for errors.
    pub(crate) fn path(&self) -> &Path {
        self.path
    }

    /// Records line `line`, or what is wrong with it.
    pub(crate) fn push(
        &mut self,
        line: u64,
        item: Result<Item<'_>, String>,
    ) -> Result<(), ListError> {
        match item {
            Ok(Item::Entry {
                algorithm,
                value,
                frames,
                id,
                category,
                severity,
                metadata,
            }) => {
                let category = match self.category(category) {
                    Some(category) => category,
                    None => return self.bad(line, "more than 65,535 categories".into()),
                };
                let strings = &mut self.list.strings;
                let id = match id {
                    None => DERIVED,
                    Some(id) => {
                        strings.id_text.push_str(id);
                        strings.id_ends.push(strings.id_text.len() as u32);
                        strings.id_ends.len() as u32 - 1
                    }
                };
                let metadata = if metadata.is_empty() {
                    NO_METADATA
                } else {
                    strings.metadata.push(metadata.into_boxed_slice());
                    strings.metadata.len() as u32 - 1
                };
                let attr = Attr {
                    id,
                    metadata,
                    category,
                    severity,
                };
                let tables = &mut self.list.tables;
                match value {
                    HashValue::Pdq(h) => tables.pdq.push(h, attr),
                    HashValue::Bits64(h) => tables.bits64[slot(algorithm) - 1].push(h, attr),
                    HashValue::Digest(d) => tables.exact[slot(algorithm) - 4].push(d, attr),
                    HashValue::Vpdq(d) => tables.vpdq.push(VideoKey(d), frames, attr),
                }
                self.lines[slot(algorithm)].push(u32::try_from(line).unwrap_or(u32::MAX));
            }
            Ok(Item::Tombstone(id)) => {
                self.tombstones.insert(id.to_string());
            }
            Err(message) => self.bad(line, message)?,
        }
        Ok(())
    }

    fn category(&mut self, name: &str) -> Option<u16> {
        if let Some((last, id)) = &self.last_category
            && **last == *name
        {
            return Some(*id);
        }
        let id = match self.category_ids.get(name) {
            Some(&id) => id,
            None => {
                let id = u16::try_from(self.list.strings.categories.len()).ok()?;
                let name: Arc<str> = Arc::from(name);
                self.list.strings.categories.push(name.clone());
                self.category_ids.insert(name, id);
                id
            }
        };
        self.last_category = Some((self.list.strings.categories[usize::from(id)].clone(), id));
        Some(id)
    }

    fn bad(&mut self, line: u64, message: String) -> Result<(), ListError> {
        if self.lenient {
            self.skipped += 1;
            return Ok(());
        }
        Err(ListError::Line {
            path: self.path.to_path_buf(),
            line,
            message,
        })
    }

    /// The list in force: tombstoned entries removed; ids unique, except that lines
    /// repeating an entry exactly (same id, hash and attributes) collapse into one.
    fn finish(mut self) -> Result<HashList, ListError> {
        let mut keep: Vec<Vec<bool>> = Algorithm::ALL
            .iter()
            .map(|&a| vec![true; with_table!(self.list.tables, a, |t| t.values.len())])
            .collect();
        // Explicit ids across all tables, then hashes-as-ids within each table.
        let mut explicit: Vec<(&str, u8, u32)> = Vec::new();
        for (s, &algorithm) in Algorithm::ALL.iter().enumerate() {
            with_table!(self.list.tables, algorithm, |t| {
                if let Attrs::Each(each) = &t.attrs {
                    for (i, attr) in each.iter().enumerate() {
                        if attr.id != DERIVED {
                            explicit.push((self.list.strings.id(attr.id), s as u8, i as u32));
                        }
                    }
                }
            });
        }
        explicit.sort_unstable();
        // Groups of entries that claim one id: an explicit id anywhere, or a derived id (the
        // hash) within one table.
        let mut groups: Vec<Vec<(u8, u32)>> = explicit
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|g| g.len() > 1)
            .map(|g| g.iter().map(|&(_, s, i)| (s, i)).collect())
            .collect();
        drop(explicit);
        for (s, &algorithm) in Algorithm::ALL.iter().enumerate() {
            with_table!(self.list.tables, algorithm, |t| {
                // Sorting (leading 8 bytes, index) pairs keeps a 10M-entry list's check to
                // one pass over contiguous memory; equal keys are then compared in full.
                let mut order: Vec<(u64, u32)> = (0..t.values.len())
                    .filter(|&i| t.attr(i).id == DERIVED)
                    .map(|i| (t.values[i].key64(), i as u32))
                    .collect();
                order.sort_unstable();
                for run in order.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
                    let mut run: Vec<u32> = run.iter().map(|&(_, i)| i).collect();
                    run.sort_by_key(|&i| (t.values[i as usize], i));
                    groups.extend(
                        run.chunk_by(|&a, &b| t.values[a as usize] == t.values[b as usize])
                            .filter(|g| g.len() > 1)
                            .map(|g| g.iter().map(|&i| (s as u8, i)).collect()),
                    );
                }
            });
        }
        // Each group keeps its first line; a later line that repeats it exactly collapses
        // into it, any other is a bad line (reported in line order).
        let mut conflicts: Vec<(u64, String)> = Vec::new();
        for mut group in groups {
            group.sort_by_key(|&(s, i)| (self.lines[usize::from(s)][i as usize], s));
            let (fs, first) = group[0];
            let first_line = self.lines[usize::from(fs)][first as usize];
            let kept = self
                .list
                .entry(Algorithm::ALL[usize::from(fs)], first as usize);
            for &(ls, later) in &group[1..] {
                keep[usize::from(ls)][later as usize] = false;
                let entry = self
                    .list
                    .entry(Algorithm::ALL[usize::from(ls)], later as usize);
                if entry != kept {
                    conflicts.push((
                        u64::from(self.lines[usize::from(ls)][later as usize]),
                        format!(
                            "column entry_id: `{}` appears twice (first on line {first_line})",
                            entry.entry_id
                        ),
                    ));
                }
            }
        }
        conflicts.sort_unstable();
        for (line, message) in conflicts {
            self.bad(line, message)?;
        }
        let mut deleted = 0;
        if !self.tombstones.is_empty() {
            for (keep, &algorithm) in keep.iter_mut().zip(Algorithm::ALL.iter()) {
                for (i, keep) in keep.iter_mut().enumerate() {
                    let entry = self.list.entry(algorithm, i);
                    if *keep && self.tombstones.contains(entry.entry_id.as_ref()) {
                        *keep = false;
                        deleted += 1;
                    }
                }
            }
        }
        let tables = &mut self.list.tables;
        tables.pdq.retain(&keep[0]);
        tables.pdq.shrink();
        for i in 0..3 {
            tables.bits64[i].retain(&keep[1 + i]);
            tables.bits64[i].shrink();
            tables.exact[i].retain(&keep[4 + i]);
            tables.exact[i].shrink();
        }
        tables.vpdq.retain(&keep[7]);
        tables.vpdq.shrink();
        let strings = &mut self.list.strings;
        strings.id_text.shrink_to_fit();
        strings.id_ends.shrink_to_fit();
        strings.metadata.shrink_to_fit();
        let mut list = self.list;
        list.info.entries = list.len();
        list.info.skipped_lines = self.skipped;
        list.info.deleted = deleted;
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5_ABC: &str = "900150983cd24fb0d6963f7d28e17f72";

    fn parse(text: &str) -> Result<HashList, ListError> {
        HashList::parse("t", Path::new("t.csv"), text.as_bytes())
    }

    #[test]
    fn parses_columns_in_any_order_with_extras_comments_and_blanks() {
        let text = format!(
            "# IWF-style list\nentry_id,category,hash,algorithm,source,severity\n\n\
             e-1, A ,{},MD5,iwf,\ne-2,B,{MD5_ABC},md5,own,high\n",
            MD5_ABC.to_uppercase()
        );
        let list = parse(&text).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list.info.entries, 2);
        assert_eq!(list.entries().collect::<Vec<_>>()[0].category, "A");
        assert_eq!(
            list.entries().collect::<Vec<_>>()[0].severity,
            Severity::Critical
        );
        assert_eq!(
            list.entries().collect::<Vec<_>>()[1].severity,
            Severity::High
        );
        assert_eq!(
            list.entries().collect::<Vec<_>>()[0].value,
            list.entries().collect::<Vec<_>>()[1].value
        );
        assert_eq!(
            list.entries().collect::<Vec<_>>()[1].metadata,
            [("source".into(), "own".into())]
        );
        assert!(list.info.version.starts_with("sha256:"));
    }

    #[test]
    fn perceptual_hashes_parse() {
        let pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        let text = format!(
            "algorithm,hash,entry_id,category\npdq,{pdq},p-1,A\nPHASH,0123456789ABCDEF,h-1,B\n\
             dhash,ffff000000000000,d-1,B\nahash,0000000000000001,a-1,C\n"
        );
        let list = parse(&text).unwrap();
        let kinds: Vec<Algorithm> = list.entries().map(|e| e.algorithm).collect();
        assert_eq!(
            kinds,
            [
                Algorithm::Pdq,
                Algorithm::Phash,
                Algorithm::Dhash,
                Algorithm::Ahash
            ]
        );
        assert_eq!(
            list.entries().collect::<Vec<_>>()[0].value,
            HashValue::Pdq(PdqHash::from_hex(pdq).unwrap())
        );
        assert_eq!(
            list.entries().collect::<Vec<_>>()[1].value,
            HashValue::Bits64(Hash64::from_hex("0123456789abcdef").unwrap())
        );
    }

    #[test]
    fn bad_lines_name_line_and_column() {
        let header = "algorithm,hash,entry_id,category\n";
        let table = [
            (
                format!("{header}md5,{MD5_ABC},e-1,A\nmd4,{MD5_ABC},e-2,A\n"),
                3,
                "unknown `md4`",
            ),
            (
                format!("{header}pdq,{MD5_ABC},e-1,A\n"),
                2,
                "a PDQ hash has 64 hex characters",
            ),
            (format!("{header}phash,{MD5_ABC},e-1,A\n"), 2, "16 hex"),
            (
                format!("{header}sha1,{MD5_ABC},e-1,A\n"),
                2,
                "expected 40 hex characters, got 32",
            ),
            (
                format!("{header}md5,{}zz,e-1,A\n", &MD5_ABC[2..]),
                2,
                "not hex",
            ),
            (format!("{header}md5,{MD5_ABC},,A\n"), 2, "entry_id: empty"),
            (
                format!("{header}md5,{MD5_ABC},e,A\nsha1,{MD5_ABC}00000000,e,B\n"),
                3,
                "appears twice (first on line 2)",
            ),
            (format!("{header}md5,{MD5_ABC},e,\n"), 2, "category: empty"),
            (
                format!("{header}md5,{MD5_ABC},e\n"),
                2,
                "has 3 fields, the header has 4",
            ),
            (
                format!("algorithm,hash,entry_id,category,severity\nmd5,{MD5_ABC},e,A,urgent\n"),
                2,
                "severity",
            ),
            (
                format!("algorithm,hash,entry_id,category,deleted\nmd5,{MD5_ABC},e,A,maybe\n"),
                2,
                "column deleted: `maybe`",
            ),
        ];
        for (text, line, needle) in table {
            crate::assert_line_error(parse(&text), line, needle, &text);
        }
    }

    /// Found by fuzzing (`fuzz/regressions/list_parse/lenient-csv-duplicate-id-across-
    /// algorithms`): pairing sorted neighbours kept one of three lines claiming an id.
    #[test]
    fn an_id_claimed_by_several_lines_keeps_only_its_first_line() {
        let sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let text = format!(
            "algorithm,hash,entry_id,category,source\nmd5,{MD5_ABC},e-1,A,\n\
             sha256,{sha256},e-1,A,\nmd5,{MD5_ABC},e-1,A,x\nmd5,{MD5_ABC},e-1,A,\n"
        );
        let mut source = ListSource::from(std::path::PathBuf::from("t.csv"));
        source.format = Some(ListFormat::Csv);
        let lenient = |text: &str| {
            let file = ListFile::read_unchecked(&source, text.as_bytes().to_vec());
            HashList::from_file(&source, file, true).unwrap()
        };
        let list = lenient(&text);
        let kept: Vec<_> = list
            .entries()
            .map(|e| (e.algorithm, e.metadata.len()))
            .collect();
        assert_eq!(kept, [(Algorithm::Md5, 0)], "{text}");
        // Lines 3 and 4 differ from line 2; line 5 repeats it exactly.
        assert_eq!(list.info.skipped_lines, 2);
        crate::assert_line_error(parse(&text), 3, "first on line 2", &text);

        // The same for ids derived from the hash (formats without an id column).
        let mut source = ListSource::from(std::path::PathBuf::from("t.txt"));
        source.format = Some(ListFormat::Hma);
        let hma = format!("md5 {MD5_ABC}\nmd5 {MD5_ABC}\nmd5 {MD5_ABC}\n");
        let file = ListFile::read_unchecked(&source, hma.as_bytes().to_vec());
        let list = HashList::from_file(&source, file, false).unwrap();
        assert_eq!((list.len(), list.info.skipped_lines), (1, 0));
    }

    #[test]
    fn missing_header_columns_are_named() {
        let err = parse("algorithm,hash,category\n").unwrap_err();
        assert!(err.to_string().contains("entry_id"), "{err}");
        let err = parse("").unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
    }
}
