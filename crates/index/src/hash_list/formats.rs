//! The hash-list formats (`docs/lists.md`): vigil CSV, JSON lines, HMA `<signal_type> <hash>`
//! lines and bare hashes. Each feeds its lines, in order, to the shared [`Builder`].

use std::sync::Arc;

use vigil_core::Algorithm;
use vigil_core::Severity;

use super::{Builder, Item, parse_listed};
use vigil_lists::ListError;
use vigil_lists::csv::{describe, read_headers, reader};

const ALGORITHMS: &str = "pdq, phash, dhash, ahash, md5, sha1, sha256 or vpdq";

/// One entry's fields as a line gives them; `label` is `column` or `field` for messages.
struct Fields<'r> {
    label: &'static str,
    algorithm: &'r str,
    hash: &'r str,
    entry_id: &'r str,
    category: &'r str,
    severity: &'r str,
    deleted: &'r str,
    metadata: Vec<(Arc<str>, Box<str>)>,
}

impl<'r> Fields<'r> {
    fn item(self) -> Result<Item<'r>, String> {
        let label = self.label;
        let deleted = match self.deleted.to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "no" => false,
            "true" | "1" | "yes" => true,
            other => {
                return Err(format!(
                    "{label} deleted: `{other}` (expected true or false)"
                ));
            }
        };
        if self.entry_id.is_empty() {
            return Err(format!("{label} entry_id: empty"));
        }
        if deleted {
            return Ok(Item::Tombstone(self.entry_id));
        }
        let algorithm = self.algorithm.parse::<Algorithm>().map_err(|_| {
            format!(
                "{label} algorithm: unknown `{}` (expected {ALGORITHMS})",
                self.algorithm
            )
        })?;
        let (value, frames) = parse_listed(algorithm, self.hash)
            .map_err(|e| format!("{label} hash: not a {algorithm} hash: {e}"))?;
        if self.category.is_empty() {
            return Err(format!("{label} category: empty"));
        }
        let severity = match self.severity {
            "" => Severity::Critical,
            s => Severity::parse(s).ok_or_else(|| {
                format!("{label} severity: `{s}` (expected low, medium, high or critical)")
            })?,
        };
        Ok(Item::Entry {
            algorithm,
            value,
            frames,
            id: Some(self.entry_id),
            category: self.category,
            severity,
            metadata: self.metadata,
        })
    }
}

const KNOWN_COLUMNS: [&str; 6] = [
    "algorithm",
    "hash",
    "entry_id",
    "category",
    "severity",
    "deleted",
];

/// vigil CSV: header `algorithm,hash,entry_id,category`, optional `severity` and `deleted`,
/// other columns kept as metadata. Read as a stream: a list of millions of lines is never
/// held as rows.
pub(crate) fn csv(bytes: &[u8], builder: &mut Builder<'_>) -> Result<(), ListError> {
    let mut reader = reader(bytes);
    let headers = read_headers(builder.path(), &mut reader, &KNOWN_COLUMNS[..4])?;
    let position = |name: &str| headers.iter().position(|h| h == name);
    let [algorithm, hash, entry_id, category, severity, deleted] = KNOWN_COLUMNS.map(position);
    let extras: Vec<(usize, Arc<str>)> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.is_empty() && !KNOWN_COLUMNS.contains(&h.as_str()))
        .map(|(i, h)| (i, Arc::from(h.as_str())))
        .collect();
    let mut record = ::csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let get = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("");
                let fields = Fields {
                    label: "column",
                    algorithm: get(algorithm),
                    hash: get(hash),
                    entry_id: get(entry_id),
                    category: get(category),
                    severity: get(severity),
                    deleted: get(deleted),
                    metadata: extras
                        .iter()
                        .filter_map(|(i, name)| {
                            let value = record.get(*i).filter(|v| !v.is_empty())?;
                            Some((name.clone(), Box::from(value)))
                        })
                        .collect(),
                };
                let line = record.position().map_or(0, |p| p.line());
                builder.push(line, fields.item())?;
            }
            Err(e) if e.position().is_some() => {
                let (line, message) = describe(&e);
                builder.push(line, Err(message))?;
            }
            Err(e) => {
                let (line, message) = describe(&e);
                return Err(ListError::Line {
                    path: builder.path().to_path_buf(),
                    line,
                    message,
                });
            }
        }
    }
}

/// JSON lines: one object per line with the CSV's fields (`entry_id` may be a number,
/// `deleted` a boolean, a vPDQ `hash` the list itself); other fields are kept as metadata.
/// Blank lines are ignored.
pub(crate) fn jsonl(bytes: &[u8], builder: &mut Builder<'_>) -> Result<(), ListError> {
    for (line, text) in lines(bytes) {
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
            Ok(object) => jsonl_item(&object, builder, line)?,
            Err(e) => builder.push(line, Err(format!("not a JSON object: {e}")))?,
        }
    }
    Ok(())
}

fn jsonl_item(
    object: &serde_json::Map<String, serde_json::Value>,
    builder: &mut Builder<'_>,
    line: u64,
) -> Result<(), ListError> {
    let text = |name: &str| -> Result<String, String> {
        match object.get(name) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.trim().to_string()),
            Some(serde_json::Value::Number(n)) if name == "entry_id" => Ok(n.to_string()),
            Some(serde_json::Value::Bool(b)) if name == "deleted" => Ok(b.to_string()),
            Some(list @ serde_json::Value::Array(_)) if name == "hash" => Ok(list.to_string()),
            Some(other) => Err(format!("field {name}: unexpected {other}")),
        }
    };
    let fields: Result<Vec<String>, String> = KNOWN_COLUMNS.iter().map(|c| text(c)).collect();
    let [algorithm, hash, entry_id, category, severity, deleted] = match fields {
        Ok(fields) => <[String; 6]>::try_from(fields).unwrap_or_default(),
        Err(message) => return builder.push(line, Err(message)),
    };
    let metadata = object
        .iter()
        .filter(|(k, _)| !KNOWN_COLUMNS.contains(&k.as_str()))
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s.as_str().into(),
                other => other.to_string().into(),
            };
            (Arc::from(k.as_str()), value)
        })
        .collect();
    let item = Fields {
        label: "field",
        algorithm: &algorithm,
        hash: &hash,
        entry_id: &entry_id,
        category: &category,
        severity: &severity,
        deleted: &deleted,
        metadata,
    }
    .item();
    builder.push(line, item)
}

/// The algorithm of an HMA / python-threatexchange signal type, for the types vigil matches.
fn signal_algorithm(signal_type: &str) -> Option<Algorithm> {
    if signal_type == "pdq" {
        return Some(Algorithm::Pdq); // nearly every line of an HMA file
    }
    if ["video_md5", "photo_md5"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(signal_type))
    {
        return Some(Algorithm::Md5);
    }
    signal_type.parse().ok()
}

/// HMA / python-threatexchange: `<signal_type> <hash>` per line (a `vpdq` hash is a JSON
/// list, which may hold spaces: the rest of the line); `#` comments and blank lines
/// ignored. Entries have the hash as their id (a video its identity) and the list's
/// category.
pub(crate) fn hma(
    bytes: &[u8],
    category: &str,
    builder: &mut Builder<'_>,
) -> Result<(), ListError> {
    for (line, text) in data_lines(bytes) {
        let (signal, rest) = text
            .split_once(char::is_whitespace)
            .map_or((text, ""), |(s, r)| (s, r.trim()));
        let mut words = rest.split_whitespace();
        let item = match (signal_algorithm(signal), words.next(), words.next()) {
            (Some(Algorithm::Vpdq), Some(_), _) => hash_only(Algorithm::Vpdq, rest, category),
            (Some(algorithm), Some(hash), None) => hash_only(algorithm, hash, category),
            (None, Some(_), _) => Err(format!(
                "signal type `{signal}` is not one vigil matches (pdq, vpdq, video_md5, \
                 photo_md5, md5, sha1, sha256, phash, dhash, ahash)"
            )),
            _ => Err("expected `<signal_type> <hash>`".to_string()),
        };
        builder.push(line, item)?;
    }
    Ok(())
}

/// Bare hashes of one `algorithm`, one per line; `#` comments and blank lines ignored.
pub(crate) fn bare(
    bytes: &[u8],
    algorithm: Algorithm,
    category: &str,
    builder: &mut Builder<'_>,
) -> Result<(), ListError> {
    for (line, text) in data_lines(bytes) {
        builder.push(line, hash_only(algorithm, text, category))?;
    }
    Ok(())
}

fn hash_only<'r>(algorithm: Algorithm, hex: &str, category: &'r str) -> Result<Item<'r>, String> {
    let (value, frames) =
        parse_listed(algorithm, hex).map_err(|e| format!("not a {algorithm} hash: {e}"))?;
    Ok(Item::Entry {
        algorithm,
        value,
        frames,
        id: None,
        category,
        severity: Severity::Critical,
        metadata: Vec::new(),
    })
}

/// [`lines`] without blank lines and `#` comments.
fn data_lines(bytes: &[u8]) -> impl Iterator<Item = (u64, &str)> {
    lines(bytes).filter(|(_, text)| !text.is_empty() && !text.starts_with('#'))
}

/// Trimmed UTF-8 lines with 1-based numbers (invalid UTF-8 reads as an empty-looking line
/// that fails to parse, so it is reported, not skipped).
fn lines(bytes: &[u8]) -> impl Iterator<Item = (u64, &str)> {
    bytes.split(|&b| b == b'\n').enumerate().map(|(i, line)| {
        let text = std::str::from_utf8(line).map_or("\u{fffd}", str::trim);
        (i as u64 + 1, text)
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use vigil_lists::{ListFormat, ListSource};

    use vigil_core::Algorithm;
    use vigil_hash::VpdqFeature;

    use crate::HashList;
    use vigil_lists::{ListError, ListFile};

    const PDQ: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
    const MD5: &str = "900150983cd24fb0d6963f7d28e17f72";
    const PDQ2: &str = "d3d8981ba52c59e79fb49295bed80905036b1dbe57b292c8ea4fb525f52c420e";

    fn load(
        format: ListFormat,
        algorithm: Option<&str>,
        lenient: bool,
        text: &str,
    ) -> Result<HashList, ListError> {
        let mut source = ListSource::from(PathBuf::from("bank.txt"));
        source.format = Some(format);
        source.algorithm = algorithm.map(str::to_string);
        let file = ListFile::read_unchecked(&source, text.as_bytes().to_vec());
        HashList::from_file(&source, file, lenient)
    }

    /// (entry_id, category, hex) of each entry.
    fn summary(list: &HashList) -> Vec<(String, String, String)> {
        list.entries()
            .map(|e| {
                (
                    e.entry_id.to_string(),
                    e.category.to_string(),
                    e.value.to_hex(),
                )
            })
            .collect()
    }

    #[test]
    fn every_format_reads_the_same_entries() {
        let upper = PDQ.to_uppercase();
        let hma = format!("# exported by HMA\npdq {upper}\n\nvideo_md5 {MD5}\npdq {PDQ}\n");
        let list = load(ListFormat::Hma, None, false, &hma).unwrap();
        assert_eq!(
            summary(&list),
            [
                (PDQ.into(), "bank".into(), PDQ.into()),
                (MD5.into(), "bank".into(), MD5.into())
            ],
            "duplicate lines collapse; ids are the hashes; category defaults to the list name"
        );
        let bare = format!("{PDQ}\n# comment\n\n");
        let list = load(ListFormat::Bare, Some("pdq"), false, &bare).unwrap();
        assert_eq!(summary(&list), [(PDQ.into(), "bank".into(), PDQ.into())]);

        let jsonl = format!(
            "{{\"algorithm\":\"pdq\",\"hash\":\"{PDQ}\",\"entry_id\":7,\"category\":\"A\",\"source\":\"iwf\",\"added_at\":\"2026-01-02\"}}\n\
             {{\"algorithm\":\"md5\",\"hash\":\"{MD5}\",\"entry_id\":\"m\",\"category\":\"B\",\"severity\":\"high\"}}\n\n"
        );
        let list = load(ListFormat::Jsonl, None, false, &jsonl).unwrap();
        assert_eq!(
            summary(&list),
            [
                ("7".into(), "A".into(), PDQ.into()),
                ("m".into(), "B".into(), MD5.into())
            ]
        );
        assert_eq!(
            list.entries().collect::<Vec<_>>()[0].metadata,
            [
                ("added_at".into(), "2026-01-02".into()),
                ("source".into(), "iwf".into())
            ]
        );
    }

    #[test]
    fn tombstones_remove_entries_in_csv_and_jsonl() {
        let csv = format!(
            "algorithm,hash,entry_id,category,deleted\npdq,{PDQ},p,A,\nmd5,{MD5},m,A,false\n,,p,,true\n,,gone-before,,yes\n"
        );
        let list = load(ListFormat::Csv, None, false, &csv).unwrap();
        assert_eq!(summary(&list), [("m".into(), "A".into(), MD5.into())]);
        assert_eq!((list.info.entries, list.info.deleted), (1, 1));
        let jsonl = format!(
            "{{\"entry_id\":\"p\",\"deleted\":true}}\n{{\"algorithm\":\"pdq\",\"hash\":\"{PDQ}\",\"entry_id\":\"p\",\"category\":\"A\"}}\n"
        );
        let list = load(ListFormat::Jsonl, None, false, &jsonl).unwrap();
        assert!(
            list.is_empty(),
            "a tombstone removes its id wherever it appears"
        );
    }

    #[test]
    fn bad_lines_fail_strict_lists_and_are_counted_in_lenient_ones() {
        let table: [(ListFormat, Option<&str>, String, u64, &str); 6] = [
            (
                ListFormat::Hma,
                None,
                format!("pdq {PDQ}\nurl https://x\n"),
                2,
                "signal type `url`",
            ),
            (
                ListFormat::Hma,
                None,
                format!("pdq {PDQ} extra\n"),
                1,
                "expected `<signal_type> <hash>`",
            ),
            (
                ListFormat::Hma,
                None,
                format!("pdq {MD5}\n"),
                1,
                "not a pdq hash",
            ),
            (
                ListFormat::Bare,
                Some("md5"),
                format!("{MD5}\n{PDQ}\n"),
                2,
                "not a md5 hash",
            ),
            (
                ListFormat::Jsonl,
                None,
                format!(
                    "{{\"algorithm\":\"md5\",\"hash\":\"{MD5}\",\"entry_id\":\"a\",\"category\":\"A\"}}\n[1]\n"
                ),
                2,
                "not a JSON object",
            ),
            (
                ListFormat::Jsonl,
                None,
                format!(
                    "{{\"algorithm\":\"md5\",\"hash\":\"{MD5}\",\"entry_id\":\"a\",\"category\":[]}}\n"
                ),
                1,
                "field category",
            ),
        ];
        for (format, algorithm, text, line, needle) in table {
            crate::assert_line_error(load(format, algorithm, false, &text), line, needle, &text);
            let list = load(format, algorithm, true, &text).unwrap();
            assert_eq!(list.info.skipped_lines, 1, "{text}");
            assert_eq!(list.len(), text.lines().count() - 1, "{text}");
        }
    }

    /// One listed video of two frames in each format: HMA (python-threatexchange writes the
    /// JSON with spaces), vigil CSV (the JSON list, CSV-quoted, in `hash`), JSON lines (the
    /// list itself, or as a string).
    #[test]
    fn vpdq_videos_read_in_every_format() {
        let json = format!("[\"{PDQ},100,0.000\", \"{PDQ2},49,1.000\"]");
        let csv_cell = json.replace('"', "\"\"");
        let texts = [
            (
                ListFormat::Hma,
                format!("# videos\nvpdq {json}\npdq {PDQ}\n"),
            ),
            (
                ListFormat::Csv,
                format!(
                    "algorithm,hash,entry_id,category\nvpdq,\"{csv_cell}\",v-1,A\npdq,{PDQ},p,A\n"
                ),
            ),
            (
                ListFormat::Jsonl,
                format!(
                    "{{\"algorithm\":\"vpdq\",\"hash\":{json},\"entry_id\":\"v-1\",\"category\":\"A\"}}\n\
                     {{\"algorithm\":\"pdq\",\"hash\":\"{PDQ}\",\"entry_id\":\"p\",\"category\":\"A\"}}\n"
                ),
            ),
            (
                ListFormat::Jsonl,
                format!(
                    "{{\"algorithm\":\"vpdq\",\"hash\":{},\"entry_id\":\"v-1\",\"category\":\"A\"}}\n\
                     {{\"algorithm\":\"pdq\",\"hash\":\"{PDQ}\",\"entry_id\":\"p\",\"category\":\"A\"}}\n",
                    serde_json::Value::String(json.clone())
                ),
            ),
        ];
        for (format, text) in texts {
            let list = load(format, None, false, &text).unwrap();
            let entries: Vec<_> = list.entries().collect();
            assert_eq!(entries.len(), 2, "{text}");
            assert_eq!(entries[0].algorithm, Algorithm::Pdq, "{text}");
            assert!(entries[0].frames.is_empty());
            let video = &entries[1];
            assert_eq!(video.algorithm, Algorithm::Vpdq, "{text}");
            let frames: Vec<(String, u8, f64)> = video
                .frames
                .iter()
                .map(|f| (f.hash.to_hex(), f.quality, f.timestamp))
                .collect();
            assert_eq!(
                frames,
                [(PDQ.into(), 100, 0.0), (PDQ2.into(), 49, 1.0)],
                "{text}"
            );
            // Without ids (HMA) a video's id is its identity: the SHA-256 of its frames.
            let identity = vigil_hash::ExactAlgorithm::Sha256
                .digest(VpdqFeature::list_to_json(video.frames).as_bytes())
                .to_hex();
            assert_eq!(video.value.to_hex(), identity);
            let id = if format == ListFormat::Hma {
                identity.as_str()
            } else {
                "v-1"
            };
            assert_eq!(video.entry_id, id, "{text}");
        }
    }

    #[test]
    fn bad_vpdq_lines_name_what_is_wrong() {
        let jsonl = |hash: &str| {
            format!(
                "{{\"algorithm\":\"vpdq\",\"hash\":{hash},\"entry_id\":\"v\",\"category\":\"A\"}}\n"
            )
        };
        let table: [(ListFormat, String, &str); 6] = [
            (
                ListFormat::Hma,
                format!("pdq {PDQ}\nvpdq [\"{PDQ},100,0.0\", \"{PDQ},100\"]\n"),
                "vPDQ feature 1: a vPDQ feature is",
            ),
            (ListFormat::Hma, "vpdq []\n".into(), "at least one frame"),
            (
                ListFormat::Hma,
                format!("vpdq {PDQ}\n"),
                "not a vpdq hash: a vPDQ hash is a JSON list",
            ),
            (
                ListFormat::Jsonl,
                jsonl(&format!("[\"{PDQ},101,0.0\"]")),
                "field hash: not a vpdq hash: vPDQ feature 0: a vPDQ quality",
            ),
            (
                ListFormat::Jsonl,
                jsonl(&format!("[\"{},100,0.0\"]", &PDQ[1..])),
                "vPDQ feature 0: bad vPDQ frame hash",
            ),
            (
                ListFormat::Csv,
                format!("algorithm,hash,entry_id,category\npdq,{PDQ},p,A\nvpdq,{PDQ},v,A\n"),
                "column hash: not a vpdq hash",
            ),
        ];
        for (format, text, needle) in table {
            let line = text.lines().count() as u64;
            crate::assert_line_error(load(format, None, false, &text), line, needle, &text);
            let list = load(format, None, true, &text).unwrap();
            assert_eq!(list.info.skipped_lines, 1, "{text}");
        }
    }

    #[test]
    fn bare_lists_need_an_algorithm() {
        let err = load(ListFormat::Bare, None, false, MD5).unwrap_err();
        assert!(err.to_string().contains("needs `algorithm`"), "{err}");
        let err = load(ListFormat::Bare, Some("crc32"), false, MD5).unwrap_err();
        assert!(
            err.to_string().contains("unknown algorithm `crc32`"),
            "{err}"
        );
    }
}
