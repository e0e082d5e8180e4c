use std::collections::HashSet;
use std::path::Path;

use vigil_core::Severity;
use vigil_hash::{Algorithm, Digest, Hash64, PdqHash};

use crate::csv::{Table, read_file};
use crate::{ListError, ListInfo};

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
}

/// One listed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashEntry {
    /// Hash algorithm.
    pub algorithm: Algorithm,
    /// The listed hash.
    pub value: HashValue,
    /// The list's id for the entry (unique within the list).
    pub entry_id: String,
    /// The list's category for the entry.
    pub category: String,
    /// Severity of a match (column `severity`; default `critical`: listed material is known).
    pub severity: Severity,
}

/// A vigil CSV hash list: header `algorithm,hash,entry_id,category`, optional `severity`,
/// other columns allowed (ignored for now).
#[derive(Debug, Clone)]
pub struct HashList {
    /// Identity.
    pub info: ListInfo,
    /// Entries in file order.
    pub entries: Vec<HashEntry>,
}

impl HashList {
    /// Loads a list file; the list is named after the file stem.
    pub fn load(path: &Path) -> Result<HashList, ListError> {
        let bytes = read_file(path)?;
        HashList::parse(&ListInfo::name_from_path(path), path, &bytes)
    }

    /// Parses list `bytes`; `path` names the list in errors. Strict: the first bad line fails
    /// the whole list, with its line number.
    pub fn parse(name: &str, path: &Path, bytes: &[u8]) -> Result<HashList, ListError> {
        let table = Table::parse(path, bytes, &["algorithm", "hash", "entry_id", "category"])?;
        let algorithm_col = table.required("algorithm");
        let hash_col = table.required("hash");
        let id_col = table.required("entry_id");
        let category_col = table.required("category");
        let severity_col = table.column("severity");
        let mut seen = HashSet::new();
        let mut entries = Vec::with_capacity(table.rows.len());
        for row in &table.rows {
            let name = row.get(algorithm_col);
            let algorithm = Algorithm::parse(name).ok_or_else(|| {
                table.error(
                    row,
                    algorithm_col,
                    format_args!(
                        "unknown `{name}` (expected pdq, phash, dhash, ahash, md5, sha1 or sha256)"
                    ),
                )
            })?;
            let value = HashValue::parse(algorithm, row.get(hash_col)).map_err(|e| {
                table.error(row, hash_col, format_args!("not a {algorithm} hash: {e}"))
            })?;
            let entry_id = table.unique(row, id_col, &mut seen)?;
            let category = table.non_empty(row, category_col)?;
            let severity = table.severity(row, severity_col, Severity::Critical)?;
            entries.push(HashEntry {
                algorithm,
                value,
                entry_id: entry_id.to_string(),
                category: category.to_string(),
                severity,
            });
        }
        let mut info = ListInfo::for_file(name, path, bytes);
        info.entries = entries.len();
        Ok(HashList { info, entries })
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
                format!("{header}md5,{MD5_ABC},e,A\nmd5,{MD5_ABC},e,B\n"),
                3,
                "appears twice",
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
