//! URL lists and the index that looks expressions up in them.
//!
//! A list entry is a Safe Browsing expression — a URL, a folder (`host/path/`) or a whole
//! domain (`host/`) — kept as the SHA-256 of its canonical form, so plain and hashed lists
//! are one structure and a platform can hold a list without its URLs in plaintext. Formats,
//! by extension:
//!
//! - `.csv` — vigil's CSV dialect with a `url` column (plain) or a `url_sha256` column (64
//!   hex digits of SHA-256 of the canonical expression), and optional `entry_id`,
//!   `category` and `severity`;
//! - `.jsonl` — one object per line with the same fields;
//! - anything else — IWF-style: one URL or expression per line, `#` comments.
//!
//! An entry without an id gets `u-` and the first 12 hex digits of its hash: stable across
//! versions, so an entry can be disabled by id. List errors name the line, never the URL.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use vigil_core::Severity;
use vigil_lists::csv::Table;
use vigil_lists::{ListError, ListFile, ListInfo, ListSource};

use crate::{CanonicalUrl, ExpressionHash, expression_hash};

/// One listed URL, folder or domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlEntry {
    /// The SHA-256 of its canonical expression.
    pub hash: ExpressionHash,
    /// Its id in the list.
    pub entry_id: String,
    /// Its category.
    pub category: String,
    /// Its severity.
    pub severity: Severity,
}

/// A URL list: its identity and entries.
#[derive(Debug, Clone)]
pub struct UrlList {
    /// The list's identity.
    pub info: ListInfo,
    entries: Vec<UrlEntry>,
}

/// How an entry is given: as a URL or expression, or as the SHA-256 of one.
enum Listed<'a> {
    Url(&'a str),
    Sha256(&'a str),
}

impl Listed<'_> {
    /// The entry's hash, or why it has none (never quoting the URL).
    fn hash(&self) -> Result<ExpressionHash, String> {
        match self {
            Listed::Url(text) => {
                let url = CanonicalUrl::parse(text).map_err(|e| format!("not a URL: {e}"))?;
                let expression = url.expressions().into_iter().next().unwrap_or_default();
                Ok(expression_hash(&expression))
            }
            Listed::Sha256(hex_text) => {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(hex_text.trim(), &mut hash)
                    .map_err(|_| "not 64 hex digits of SHA-256".to_string())?;
                Ok(hash)
            }
        }
    }
}

/// A JSON-lines entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonEntry {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    url_sha256: Option<String>,
    #[serde(default)]
    entry_id: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    severity: Option<String>,
}

/// Collects entries, refusing repeated ids.
struct Builder<'a> {
    path: &'a Path,
    category: String,
    entries: Vec<UrlEntry>,
    ids: HashSet<String>,
}

impl Builder<'_> {
    fn line_error(&self, line: u64, message: impl Into<String>) -> ListError {
        ListError::Line {
            path: self.path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    fn add(
        &mut self,
        line: u64,
        listed: &Listed<'_>,
        entry_id: Option<&str>,
        category: Option<&str>,
        severity: Severity,
    ) -> Result<(), ListError> {
        let hash = listed.hash().map_err(|m| self.line_error(line, m))?;
        let entry_id = match entry_id.map(str::trim).filter(|id| !id.is_empty()) {
            Some(id) => id.to_string(),
            None => format!("u-{}", &hex::encode(hash)[..12]),
        };
        if !self.ids.insert(entry_id.clone()) {
            return Err(self.line_error(line, format!("entry id `{entry_id}` appears twice")));
        }
        let category = category
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map_or_else(|| self.category.clone(), str::to_string);
        self.entries.push(UrlEntry {
            hash,
            entry_id,
            category,
            severity,
        });
        Ok(())
    }
}

impl UrlList {
    /// The list in `file`, read as `source` says (its `category` is the default category,
    /// else the list's name).
    pub fn from_file(source: &ListSource, file: ListFile) -> Result<UrlList, ListError> {
        let category = source.category.clone();
        let parsed = parse_entries(&file.info, category, file.bytes()).map(|entries| UrlList {
            info: ListInfo {
                entries: entries.len(),
                ..file.info.clone()
            },
            entries,
        });
        file.finish(parsed, |list| &mut list.info)
    }

    /// Parses list `bytes`; `path` names it in errors and its extension picks the format.
    pub fn parse(name: &str, path: &Path, bytes: &[u8]) -> Result<UrlList, ListError> {
        let mut info = ListInfo::for_file(name, path, bytes);
        let entries = parse_entries(&info, None, bytes)?;
        info.entries = entries.len();
        Ok(UrlList { info, entries })
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[UrlEntry] {
        &self.entries
    }
}

fn parse_entries(
    info: &ListInfo,
    category: Option<String>,
    bytes: &[u8],
) -> Result<Vec<UrlEntry>, ListError> {
    let path = info.path.as_path();
    let mut builder = Builder {
        path,
        category: category.unwrap_or_else(|| info.name.clone()),
        entries: Vec::new(),
        ids: HashSet::new(),
    };
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "csv" => csv(bytes, &mut builder)?,
        "jsonl" | "ndjson" => jsonl(bytes, &mut builder)?,
        _ => lines(bytes, &mut builder)?,
    }
    Ok(builder.entries)
}

fn csv(bytes: &[u8], builder: &mut Builder<'_>) -> Result<(), ListError> {
    let table = Table::parse(builder.path, bytes, &[])?;
    let (url, hashed) = (table.column("url"), table.column("url_sha256"));
    let (id, category, severity) = (
        table.column("entry_id"),
        table.column("category"),
        table.column("severity"),
    );
    if url.is_some() == hashed.is_some() {
        return Err(ListError::Format {
            path: builder.path.to_path_buf(),
            message: "a URL list's header names exactly one of `url` and `url_sha256`".into(),
        });
    }
    for row in &table.rows {
        let listed = match (url, hashed) {
            (Some(column), _) => Listed::Url(table.non_empty(row, column)?),
            (_, Some(column)) => Listed::Sha256(table.non_empty(row, column)?),
            (None, None) => unreachable!("checked above"),
        };
        let severity = table.severity(row, severity, Severity::Critical)?;
        builder.add(
            row.line,
            &listed,
            id.map(|c| row.get(c)),
            category.map(|c| row.get(c)),
            severity,
        )?;
    }
    Ok(())
}

fn jsonl(bytes: &[u8], builder: &mut Builder<'_>) -> Result<(), ListError> {
    for (i, line) in String::from_utf8_lossy(bytes).lines().enumerate() {
        let line_number = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let entry: JsonEntry = serde_json::from_str(line).map_err(|e| {
            builder.line_error(
                line_number,
                format!("not a URL-list object ({})", e.classify_name()),
            )
        })?;
        let listed = match (&entry.url, &entry.url_sha256) {
            (Some(url), None) => Listed::Url(url),
            (None, Some(hash)) => Listed::Sha256(hash),
            _ => {
                return Err(
                    builder.line_error(line_number, "needs exactly one of `url` and `url_sha256`")
                );
            }
        };
        let severity = match entry.severity.as_deref() {
            None | Some("") => Severity::Critical,
            Some(s) => Severity::parse(s).ok_or_else(|| {
                builder.line_error(
                    line_number,
                    "severity: expected low, medium, high or critical",
                )
            })?,
        };
        builder.add(
            line_number,
            &listed,
            entry.entry_id.as_deref(),
            entry.category.as_deref(),
            severity,
        )?;
    }
    Ok(())
}

fn lines(bytes: &[u8], builder: &mut Builder<'_>) -> Result<(), ListError> {
    for (i, line) in String::from_utf8_lossy(bytes).lines().enumerate() {
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        builder.add(
            i as u64 + 1,
            &Listed::Url(text),
            None,
            None,
            Severity::Critical,
        )?;
    }
    Ok(())
}

/// JSON error kinds, without the text that failed (a URL).
trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected field or type",
            serde_json::error::Category::Eof => "unexpected end",
        }
    }
}

/// A hit: which list and entry an expression matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlHit<'a> {
    /// The list.
    pub list: &'a ListInfo,
    /// The entry.
    pub entry: &'a UrlEntry,
}

/// Every entry of many URL lists by hash: an array of (hash, list, entry) sorted by hash, the
/// hashes' leading 8 bytes beside it, and a directory from a hash's leading bits to where its
/// entries start — about one entry per slot. A lookup reads a slot and the leading bytes (a
/// fifth of the array's size, so mostly in cache), and the full key only when those are
/// equal: a few cache lines whatever the size, not the twenty-odd of a binary search over
/// millions. 52 bytes an entry, no allocation per entry beyond the entries themselves.
#[derive(Debug, Default)]
pub struct UrlIndex {
    lists: Vec<Arc<UrlList>>,
    keys: Vec<(ExpressionHash, u32, u32)>,
    /// Each key's leading 8 bytes.
    leads: Vec<u64>,
    /// `slots[p]..slots[p + 1]` are the keys whose leading `bits` bits are `p`.
    slots: Vec<u32>,
    bits: u32,
}

impl UrlIndex {
    /// The index of `lists`.
    pub fn build(lists: Vec<Arc<UrlList>>) -> UrlIndex {
        let mut keys = Vec::with_capacity(lists.iter().map(|l| l.entries.len()).sum());
        for (l, list) in lists.iter().enumerate() {
            for (e, entry) in list.entries.iter().enumerate() {
                keys.push((entry.hash, l as u32, e as u32));
            }
        }
        keys.sort_unstable();
        let leads: Vec<u64> = keys.iter().map(|k| lead(&k.0)).collect();
        // A slot an entry or so: hashes are uniform, so the slots are evenly filled.
        let bits = (usize::BITS - keys.len().leading_zeros()).clamp(1, 26);
        let mut slots = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0;
        for slot in 0..=(1_u64 << bits) {
            while leads.get(at).is_some_and(|l| l >> (64 - bits) < slot) {
                at += 1;
            }
            slots.push(u32::try_from(at).unwrap_or(u32::MAX));
        }
        UrlIndex {
            lists,
            keys,
            leads,
            slots,
            bits,
        }
    }

    /// Whether no list has entries.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The lists indexed.
    pub fn lists(&self) -> &[Arc<UrlList>] {
        &self.lists
    }

    /// Every entry listed under `hash`, in list order.
    pub fn lookup(&self, hash: ExpressionHash) -> impl Iterator<Item = UrlHit<'_>> {
        let lead = lead(&hash);
        let slot = (lead >> (64 - self.bits)) as usize;
        let range = match (self.slots.get(slot), self.slots.get(slot + 1)) {
            (Some(&start), Some(&end)) => start as usize..end as usize,
            _ => 0..0,
        };
        let first = self.leads[range.clone()]
            .iter()
            .position(|l| *l == lead)
            .map_or(range.end, |at| range.start + at);
        self.keys[first..range.end]
            .iter()
            .skip_while(move |(k, _, _)| *k < hash)
            .take_while(move |(k, _, _)| *k == hash)
            .map(|&(_, l, e)| {
                let list = &self.lists[l as usize];
                UrlHit {
                    list: &list.info,
                    entry: &list.entries[e as usize],
                }
            })
    }
}

/// A hash's leading 8 bytes, as a number (so that numeric order is the hashes' order).
fn lead(hash: &ExpressionHash) -> u64 {
    let mut lead = [0; 8];
    lead.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(lead)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(index: &UrlIndex, url: &str) -> Vec<(String, String)> {
        let url = CanonicalUrl::parse(url).unwrap();
        url.expressions()
            .iter()
            .flat_map(|e| {
                index
                    .lookup(expression_hash(e))
                    .map(|h| (h.entry.entry_id.clone(), e.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn plain_hashed_csv_and_json_lines_lists_match_pages_folders_and_domains() {
        let plain = "# IWF-style\nhttp://bad.example.com/gallery/page1.html\nEvil.Example.NET\n\n";
        let hashed = format!(
            "url_sha256,entry_id,category\n{},h-1,B\n",
            hex::encode(expression_hash("folder.example.org/pics/"))
        );
        let jsonl =
            "{\"url\":\"https://x.example/a/\",\"entry_id\":\"j-1\",\"severity\":\"high\"}\n";
        let index = UrlIndex::build(vec![
            Arc::new(UrlList::parse("iwf", "iwf.txt".as_ref(), plain.as_bytes()).unwrap()),
            Arc::new(UrlList::parse("shared", "shared.csv".as_ref(), hashed.as_bytes()).unwrap()),
            Arc::new(UrlList::parse("j", "j.jsonl".as_ref(), jsonl.as_bytes()).unwrap()),
        ]);
        let page = hex::encode(expression_hash("bad.example.com/gallery/page1.html"));
        assert_eq!(
            hits(&index, "HTTP://BAD.example.com/gallery/page1.html?x=1#f"),
            [(
                format!("u-{}", &page[..12]),
                "bad.example.com/gallery/page1.html".to_string()
            )]
        );
        let evil: Vec<_> = hits(&index, "http://www.evil.example.net/any/where")
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        assert_eq!(evil, ["evil.example.net/"]);
        assert_eq!(
            hits(&index, "folder.example.org/pics/2024/x.jpg"),
            [("h-1".to_string(), "folder.example.org/pics/".to_string())]
        );
        assert_eq!(
            hits(&index, "http://x.example/a/b"),
            [("j-1".to_string(), "x.example/a/".to_string())]
        );
        assert!(hits(&index, "http://bad.example.com/gallery/page2.html").is_empty());
        let shared = &index.lists()[1].entries()[0];
        assert_eq!(
            (shared.category.as_str(), shared.severity),
            ("B", Severity::Critical)
        );
    }

    #[test]
    fn lookups_find_what_a_scan_of_every_entry_finds() {
        // Lists of 0 to 5,000 hashes, some in several lists, some sharing leading bytes (the
        // directory's slot, or all 8 compared first): every listed hash and as many unlisted
        // ones, against a scan.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for size in [0, 1, 2, 3, 17, 1000, 5000] {
            let hashes: Vec<ExpressionHash> = (0..size)
                .map(|i| {
                    let mut h = [0; 32];
                    for chunk in h.chunks_mut(8) {
                        chunk.copy_from_slice(&next().to_be_bytes());
                    }
                    match i % 7 {
                        3 => h[..6].copy_from_slice(&[0xab; 6]),
                        5 => h[..8].copy_from_slice(&[0xcd; 8]),
                        _ => {}
                    }
                    h
                })
                .collect();
            let csv = |picked: &mut dyn Iterator<Item = &ExpressionHash>| {
                let mut text = String::from("url_sha256,entry_id\n");
                for (i, h) in picked.enumerate() {
                    text.push_str(&format!("{},e{i}\n", hex::encode(h)));
                }
                text
            };
            let a = csv(&mut hashes.iter());
            let b = csv(&mut hashes.iter().step_by(3));
            let lists = vec![
                Arc::new(UrlList::parse("a", "a.csv".as_ref(), a.as_bytes()).unwrap()),
                Arc::new(UrlList::parse("b", "b.csv".as_ref(), b.as_bytes()).unwrap()),
            ];
            let index = UrlIndex::build(lists.clone());
            let mut probes = hashes.clone();
            probes.extend(hashes.iter().map(|h| {
                let mut other = *h;
                other[31] ^= 1;
                other
            }));
            probes.push([0; 32]);
            probes.push([0xff; 32]);
            for probe in probes {
                let found: Vec<(&str, &str)> = index
                    .lookup(probe)
                    .map(|h| (h.list.name.as_str(), h.entry.entry_id.as_str()))
                    .collect();
                let scanned: Vec<(&str, &str)> = lists
                    .iter()
                    .flat_map(|l| {
                        l.entries
                            .iter()
                            .filter(move |e| e.hash == probe)
                            .map(move |e| (l.info.name.as_str(), e.entry_id.as_str()))
                    })
                    .collect();
                assert_eq!(found, scanned, "{size} entries, {}", hex::encode(probe));
            }
        }
    }

    #[test]
    fn bad_lines_name_the_line_never_the_url() {
        let cases: [(&str, &str, u64); 4] = [
            (
                "l.csv",
                "url,entry_id\nhttp://secret.example/,a\nhttp://secret.example/b,a\n",
                3,
            ),
            ("l.csv", "url_sha256\nsecretsecret\n", 2),
            (
                "l.jsonl",
                "{\"url\":\"http://secret.example/\",\"url_sha256\":\"00\"}\n",
                1,
            ),
            ("l.txt", "http://ok.example/\nhttp:///secret\n", 2),
        ];
        for (path, text, line) in cases {
            match UrlList::parse("l", path.as_ref(), text.as_bytes()) {
                Err(ListError::Line {
                    line: got, message, ..
                }) => {
                    assert_eq!(got, line, "{text}");
                    assert!(!message.contains("secret"), "{message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            UrlList::parse("l", "l.csv".as_ref(), b"url,url_sha256\n"),
            Err(ListError::Format { .. })
        ));
    }
}
