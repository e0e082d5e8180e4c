//! The CSV dialect of vigil lists: a header row naming the columns, comma-separated, fields
//! trimmed, `"` quoting, `#` comment lines, blank lines ignored, UTF-8. Columns are found by
//! header name, so their order is free and unknown columns are allowed.

use std::path::Path;

use crate::ListError;

/// One data row with its 1-based line number.
#[derive(Debug)]
pub struct Row {
    /// Line number in the file.
    pub line: u64,
    record: ::csv::StringRecord,
}

impl Row {
    /// The field in column `index` (as returned by [`Table::column`]).
    pub fn get(&self, index: usize) -> &str {
        self.record.get(index).unwrap_or("")
    }
}

/// A parsed CSV table: header and rows.
#[derive(Debug)]
pub struct Table {
    headers: Vec<String>,
    /// Data rows in file order.
    pub rows: Vec<Row>,
}

impl Table {
    /// Parses `bytes` (the content of `path`, which only names it in errors), requiring each
    /// of `required` among the header names.
    pub fn parse(path: &Path, bytes: &[u8], required: &[&str]) -> Result<Table, ListError> {
        let mut reader = ::csv::ReaderBuilder::new()
            .trim(::csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(bytes);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| csv_error(path, e))?
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        if headers.iter().all(String::is_empty) {
            return Err(ListError::Format {
                path: path.to_path_buf(),
                message: format!("no header row (expected {})", required.join(",")),
            });
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|r| !headers.iter().any(|h| h == r))
            .collect();
        if !missing.is_empty() {
            return Err(ListError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "header lacks column(s) {} (header must include {})",
                    missing.join(", "),
                    required.join(",")
                ),
            });
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(path, e))?;
            let line = record.position().map_or(0, |p| p.line());
            rows.push(Row { line, record });
        }
        Ok(Table { headers, rows })
    }

    /// Index of the column named `name`, if present.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }
}

fn csv_error(path: &Path, err: ::csv::Error) -> ListError {
    let line = err.position().map_or(0, |p| p.line());
    let message = match err.kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} fields, the header has {expected_len}"),
        ::csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_string(),
        other => format!("{other:?}"),
    };
    ListError::Line {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Reads a list file whole.
pub fn read_file(path: &Path) -> Result<Vec<u8>, ListError> {
    std::fs::read(path).map_err(|source| ListError::Read {
        path: path.to_path_buf(),
        source,
    })
}
