//! The CSV dialect of vigil lists: a header row naming the columns, comma-separated, fields
//! trimmed, `"` quoting, `#` comment lines, blank lines ignored, UTF-8. Columns are found by
//! header name, so their order is free and unknown columns are allowed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use vigil_core::Severity;

use crate::ListError;

/// One data row with its 1-based line number.
#[derive(Debug)]
pub struct Row {
    /// Line number in the file.
    pub line: u64,
    record: ::csv::StringRecord,
}

/// A header column, by position and name (the name is used in error messages).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    index: usize,
    name: &'static str,
}

/// A parsed CSV table: header and rows, plus the per-field checks every list format shares,
/// each failing with a [`ListError::Line`] that names the file, line and column.
#[derive(Debug)]
pub struct Table {
    path: PathBuf,
    headers: Vec<String>,
    /// Data rows in file order.
    pub rows: Vec<Row>,
}

impl Table {
    /// Parses `bytes` (the content of `path`, which only names it in errors), requiring each
    /// of `required` among the header names.
    pub fn parse(path: &Path, bytes: &[u8], required: &[&str]) -> Result<Table, ListError> {
        let mut reader = reader(bytes);
        let headers = read_headers(path, &mut reader, required)?;
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(path, e))?;
            let line = record.position().map_or(0, |p| p.line());
            rows.push(Row { line, record });
        }
        Ok(Table {
            path: path.to_path_buf(),
            headers,
            rows,
        })
    }

    /// The column named `name`, if the header has it.
    pub fn column(&self, name: &'static str) -> Option<Column> {
        let index = self.headers.iter().position(|h| h == name)?;
        Some(Column { index, name })
    }

    /// A column that [`Table::parse`] was told is required (absent: every field reads empty).
    pub fn required(&self, name: &'static str) -> Column {
        self.column(name).unwrap_or(Column {
            index: usize::MAX,
            name,
        })
    }

    /// A line-numbered error for `row`, about `column`.
    pub fn error(&self, row: &Row, column: Column, message: impl std::fmt::Display) -> ListError {
        ListError::Line {
            path: self.path.clone(),
            line: row.line,
            message: format!("column {}: {message}", column.name),
        }
    }

    /// The field, which must not be empty.
    pub fn non_empty<'r>(&self, row: &'r Row, column: Column) -> Result<&'r str, ListError> {
        match row.get(column) {
            "" => Err(self.error(row, column, "empty")),
            value => Ok(value),
        }
    }

    /// The field, which must not be empty nor repeat a value already in `seen`.
    pub fn unique<'r>(
        &self,
        row: &'r Row,
        column: Column,
        seen: &mut HashSet<&'r str>,
    ) -> Result<&'r str, ListError> {
        let value = self.non_empty(row, column)?;
        if !seen.insert(value) {
            return Err(self.error(row, column, format_args!("`{value}` appears twice")));
        }
        Ok(value)
    }

    /// An optional severity column; empty or absent gives `default`.
    pub fn severity(
        &self,
        row: &Row,
        column: Option<Column>,
        default: Severity,
    ) -> Result<Severity, ListError> {
        match column.map(|c| (c, row.get(c))) {
            None | Some((_, "")) => Ok(default),
            Some((column, value)) => Severity::parse(value).ok_or_else(|| {
                let message = format!("`{value}` (expected low, medium, high or critical)");
                self.error(row, column, message)
            }),
        }
    }
}

impl Row {
    /// The field in `column` ("" if the row lacks it).
    pub fn get(&self, column: Column) -> &str {
        self.record.get(column.index).unwrap_or("")
    }
}

/// A reader of the dialect.
pub fn reader(bytes: &[u8]) -> ::csv::Reader<&[u8]> {
    ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(bytes)
}

/// The header names, lower-cased, which must include each of `required`.
pub fn read_headers(
    path: &Path,
    reader: &mut ::csv::Reader<&[u8]>,
    required: &[&str],
) -> Result<Vec<String>, ListError> {
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
    Ok(headers)
}

/// The line and description of a record-level CSV error.
pub fn describe(err: &::csv::Error) -> (u64, String) {
    let line = err.position().map_or(0, |p| p.line());
    let message = match err.kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} fields, the header has {expected_len}"),
        ::csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_string(),
        other => format!("{other:?}"),
    };
    (line, message)
}

fn csv_error(path: &Path, err: ::csv::Error) -> ListError {
    let (line, message) = describe(&err);
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
