use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use vigil_core::{ListFormat, ListSource, Severity};
use vigil_hash::{Algorithm, Digest, Hash64, PdqHash};

use crate::csv::read_file;
use crate::{Integrity, ListError, ListFile, ListInfo};

/// A listed hash value, by kind of algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashValue {
    /// MD5, SHA-1 or SHA-256 of the file.
    Digest(Digest),
    /// PDQ (256 bits).
    Pdq(PdqHash),
    /// pHash, dHash or aHash (64 bits).
    Bits64(Hash64),
}

impl HashValue {
    /// Parses `hex` as a hash of `algorithm`.
    pub fn parse(algorithm: Algorithm, hex: &str) -> Result<HashValue, String> {
        if let Some(exact) = algorithm.exact() {
            return Digest::from_hex(exact, hex)
                .map(HashValue::Digest)
                .map_err(|e| e.to_string());
        }
        if algorithm.family().is_some() {
            return Hash64::from_hex(hex)
                .map(HashValue::Bits64)
                .map_err(|e| e.to_string());
        }
        PdqHash::from_hex(hex)
            .map(HashValue::Pdq)
            .map_err(|e| e.to_string())
    }

    /// Lowercase hex, as lists write it.
    pub fn to_hex(&self) -> String {
        match self {
            HashValue::Digest(d) => d.to_hex(),
            HashValue::Pdq(h) => h.to_hex(),
            HashValue::Bits64(h) => h.to_hex(),
        }
    }
}

/// One listed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashEntry {
    /// Hash algorithm.
    pub algorithm: Algorithm,
    /// The listed hash.
    pub value: HashValue,
    /// The list's id for the entry (unique within the list; the hash itself in formats
    /// without ids).
    pub entry_id: String,
    /// The list's category for the entry.
    pub category: String,
    /// Severity of a match (default `critical`: listed material is known).
    pub severity: Severity,
    /// Other columns or fields of the entry (`source`, `added_at`, ...), in file order.
    pub metadata: Vec<(Arc<str>, String)>,
}

/// A hash list in any of the formats of `docs/lists.md`.
#[derive(Debug, Clone)]
pub struct HashList {
    /// Identity.
    pub info: ListInfo,
    /// Entries in file order (tombstoned ones removed).
    pub entries: Vec<HashEntry>,
}

impl HashList {
    /// Loads a vigil CSV list file without manifest checks; the list is named after the
    /// file stem.
    pub fn load(path: &Path) -> Result<HashList, ListError> {
        let bytes = read_file(path)?;
        HashList::parse(&ListInfo::name_from_path(path), path, &bytes)
    }

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
            Some(name) => Some(Algorithm::parse(name).ok_or_else(|| ListError::Format {
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
        let mut info = file.info.clone();
        let category = source.category.clone().unwrap_or_else(|| info.name.clone());
        let mut builder = Builder::new(&source.path, lenient);
        match format {
            ListFormat::Csv => crate::formats::csv(&file.bytes, &mut builder)?,
            ListFormat::Jsonl => crate::formats::jsonl(&file.bytes, &mut builder)?,
            ListFormat::Hma => crate::formats::hma(&file.bytes, &category, &mut builder)?,
            ListFormat::Bare => {
                let algorithm = algorithm.ok_or_else(|| ListError::Format {
                    path: source.path.clone(),
                    message: "a `bare` list needs `algorithm` (pdq, md5, ...)".into(),
                })?;
                crate::formats::bare(&file.bytes, algorithm, &category, &mut builder)?
            }
        }
        let entries = builder.finish(&mut info)?;
        file.check_entries(&info)?;
        Ok(HashList { info, entries })
    }
}

/// What one line of a list means.
pub(crate) enum Item {
    /// An entry.
    Entry(HashEntry),
    /// A tombstone: the entry with this id is not in this version.
    Tombstone(String),
}

/// Collects a list's lines in order: malformed lines fail the list (strict) or are skipped
/// and counted (lenient); tombstones and duplicate ids are resolved at the end.
pub(crate) struct Builder<'a> {
    path: &'a Path,
    lenient: bool,
    entries: Vec<HashEntry>,
    lines: Vec<u64>,
    tombstones: HashSet<String>,
    skipped: usize,
}

impl<'a> Builder<'a> {
    fn new(path: &'a Path, lenient: bool) -> Self {
        Builder {
            path,
            lenient,
            entries: Vec::new(),
            lines: Vec::new(),
            tombstones: HashSet::new(),
            skipped: 0,
        }
    }

    /// The list file, for errors.
    pub(crate) fn path(&self) -> &Path {
        self.path
    }

    /// Records line `line`, or what is wrong with it.
    pub(crate) fn push(&mut self, line: u64, item: Result<Item, String>) -> Result<(), ListError> {
        match item {
            Ok(Item::Entry(entry)) => {
                self.entries.push(entry);
                self.lines.push(line);
            }
            Ok(Item::Tombstone(id)) => {
                self.tombstones.insert(id);
            }
            Err(message) => self.bad(line, message)?,
        }
        Ok(())
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

    /// The entries in force. Ids must be unique among live lines, except that lines
    /// repeating an entry exactly (same id and hash) collapse into one.
    fn finish(mut self, info: &mut ListInfo) -> Result<Vec<HashEntry>, ListError> {
        let mut order: Vec<u32> = (0..self.entries.len() as u32).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            self.entries[a]
                .entry_id
                .cmp(&self.entries[b].entry_id)
                .then(a.cmp(&b))
        });
        let mut keep = vec![true; self.entries.len()];
        for pair in order.windows(2) {
            let (first, later) = (pair[0] as usize, pair[1] as usize);
            let (a, b) = (&self.entries[first], &self.entries[later]);
            if a.entry_id != b.entry_id {
                continue;
            }
            keep[later] = false;
            if a != b {
                let message = format!(
                    "column entry_id: `{}` appears twice (first on line {})",
                    b.entry_id, self.lines[first]
                );
                self.bad(self.lines[later], message)?;
            }
        }
        let mut deleted = 0;
        let mut index = 0;
        self.entries.retain(|entry| {
            let live = keep[index];
            index += 1;
            if live && self.tombstones.contains(&entry.entry_id) {
                deleted += 1;
                return false;
            }
            live
        });
        info.entries = self.entries.len();
        info.skipped_lines = self.skipped;
        info.deleted = deleted;
        Ok(self.entries)
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
        assert_eq!(list.entries.len(), 2);
        assert_eq!(list.info.entries, 2);
        assert_eq!(list.entries[0].category, "A");
        assert_eq!(list.entries[0].severity, Severity::Critical);
        assert_eq!(list.entries[1].severity, Severity::High);
        assert_eq!(list.entries[0].value, list.entries[1].value);
        assert_eq!(list.entries[1].metadata, [("source".into(), "own".into())]);
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
        let kinds: Vec<Algorithm> = list.entries.iter().map(|e| e.algorithm).collect();
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
            list.entries[0].value,
            HashValue::Pdq(PdqHash::from_hex(pdq).unwrap())
        );
        assert_eq!(
            list.entries[1].value,
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
            match parse(&text) {
                Err(ListError::Line {
                    line: got, message, ..
                }) => {
                    assert_eq!(got, line, "{text}: {message}");
                    assert!(message.contains(needle), "{text}: {message}");
                }
                other => panic!("{text}: expected a line error, got {other:?}"),
            }
        }
    }

    #[test]
    fn missing_header_columns_are_named() {
        let err = parse("algorithm,hash,category\n").unwrap_err();
        assert!(err.to_string().contains("entry_id"), "{err}");
        let err = parse("").unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
    }
}
