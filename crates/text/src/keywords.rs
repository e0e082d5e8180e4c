use std::collections::HashSet;
use std::path::Path;

use vigil_core::Severity;
use vigil_lists::csv::Table;
use vigil_lists::{ListError, ListFile, ListInfo};

use crate::{Normalizer, Rules, Steps};

/// One keyword rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordRule {
    /// The list's id for the rule (unique within the list).
    pub rule_id: String,
    /// The term as written in the list.
    pub term: String,
    /// Category reported with matches.
    pub category: String,
    /// Only match where the term is not part of a longer word (default true).
    pub whole_word: bool,
    /// Severity of a match (default `medium`).
    pub severity: Severity,
    /// The normalisation steps applied to the term and to texts it is matched in (default:
    /// all).
    pub normalize: Steps,
    /// Whether the rule flags, or allows (suppresses term matches inside its own matches).
    pub kind: RuleKind,
}

/// What a keyword rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// A match flags the message (unless an allow rule covers it).
    Term,
    /// A match suppresses every term match that lies inside it (`secretary` allows `secret`
    /// when `secret` is not whole-word).
    Allow,
}

/// A keyword list: CSV with header `rule_id,term,category`, optional `whole_word`
/// (`true`/`false`, default `true`), `severity` (default `medium`), `normalize` (which
/// [`Steps`], default `all`) and `kind` (`term`, the default, or `allow`; allow rows need no
/// category); other columns are ignored.
///
/// A file ending in `.toml` is a rule file instead: `[[regex]]` and `[[cooccurrence]]`
/// rules (see [`Rules::parse`]).
#[derive(Debug, Clone)]
pub struct KeywordList {
    /// Identity.
    pub info: ListInfo,
    /// Term rules in file order (CSV lists).
    pub rules: Vec<KeywordRule>,
    /// Regular-expression and co-occurrence rules (rule files).
    pub extra: Rules,
}

impl KeywordList {
    /// Parses a list file read (and checked against its manifest) by [`ListFile::read`].
    pub fn from_file(file: ListFile) -> Result<KeywordList, ListError> {
        let parsed = parse_any(&file.info.path, file.bytes()).map(|(rules, extra)| KeywordList {
            info: ListInfo {
                entries: rules.len() + extra.len(),
                ..file.info.clone()
            },
            rules,
            extra,
        });
        file.finish(parsed, |list| &mut list.info)
    }

    /// Parses list `bytes`; `path` names the list in errors (and its extension picks the
    /// format). The first bad line fails the list, with its line number.
    pub fn parse(name: &str, path: &Path, bytes: &[u8]) -> Result<KeywordList, ListError> {
        let (rules, extra) = parse_any(path, bytes)?;
        let mut info = ListInfo::for_file(name, path, bytes);
        info.entries = rules.len() + extra.len();
        Ok(KeywordList { info, rules, extra })
    }
}

fn parse_any(path: &Path, bytes: &[u8]) -> Result<(Vec<KeywordRule>, Rules), ListError> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
    {
        Ok((Vec::new(), Rules::parse(path, bytes)?))
    } else {
        Ok((rules(path, bytes)?, Rules::default()))
    }
}

/// The rules of a keyword list file.
fn rules(path: &Path, bytes: &[u8]) -> Result<Vec<KeywordRule>, ListError> {
    let table = Table::parse(path, bytes, &["rule_id", "term", "category"])?;
    let id_col = table.required("rule_id");
    let term_col = table.required("term");
    let category_col = table.required("category");
    let whole_word_col = table.column("whole_word");
    let severity_col = table.column("severity");
    let normalize_col = table.column("normalize");
    let kind_col = table.column("kind");
    let mut seen = HashSet::new();
    let mut normalizers: Vec<Normalizer> = Vec::new();
    let mut rules = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let rule_id = table.unique(row, id_col, &mut seen)?;
        let normalize = match normalize_col {
            Some(column) => Steps::parse(row.get(column), Steps::ALL)
                .map_err(|message| table.error(row, column, message))?,
            None => Steps::ALL,
        };
        let term = row.get(term_col);
        let normalizer = match normalizers.iter().position(|n| n.steps() == normalize) {
            Some(i) => &normalizers[i],
            None => {
                normalizers.push(Normalizer::new(normalize));
                &normalizers[normalizers.len() - 1]
            }
        };
        if normalizer.normalize(term).text.trim().is_empty() {
            return Err(table.error(row, term_col, "empty once normalised"));
        }
        let kind = match kind_col.map(|c| (c, row.get(c).to_ascii_lowercase())) {
            None => RuleKind::Term,
            Some((_, value)) if matches!(value.as_str(), "" | "term") => RuleKind::Term,
            Some((_, value)) if value == "allow" => RuleKind::Allow,
            Some((column, value)) => {
                return Err(table.error(
                    row,
                    column,
                    format_args!("`{value}` (expected term or allow)"),
                ));
            }
        };
        let category = match kind {
            RuleKind::Term => table.non_empty(row, category_col)?,
            RuleKind::Allow => row.get(category_col),
        };
        let whole_word = match whole_word_col.map(|c| (c, row.get(c).to_ascii_lowercase())) {
            None => true,
            Some((_, value)) if matches!(value.as_str(), "" | "true" | "yes" | "1") => true,
            Some((_, value)) if matches!(value.as_str(), "false" | "no" | "0") => false,
            Some((column, value)) => {
                return Err(table.error(
                    row,
                    column,
                    format_args!("`{value}` (expected true or false)"),
                ));
            }
        };
        let severity = table.severity(row, severity_col, Severity::Medium)?;
        rules.push(KeywordRule {
            rule_id: rule_id.to_string(),
            term: term.to_string(),
            category: category.to_string(),
            whole_word,
            severity,
            normalize,
            kind,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KeywordList, ListError> {
        KeywordList::parse("kw", Path::new("kw.csv"), text.as_bytes())
    }

    #[test]
    fn defaults_and_optional_columns() {
        let list = parse(
            "term,rule_id,category,severity,whole_word,notes\n\
             keep it secret,k1,grooming,,,x\n\
             sext,k2,sexual,HIGH,false,\n",
        )
        .unwrap();
        let [a, b] = &list.rules[..] else {
            panic!("{list:?}")
        };
        assert!(a.whole_word);
        assert_eq!(a.severity, Severity::Medium);
        assert!(!b.whole_word);
        assert_eq!(b.severity, Severity::High);
        assert_eq!(list.info.entries, 2);
    }

    #[test]
    fn bad_lines_name_line_and_column() {
        let header = "rule_id,term,category,whole_word,severity\n";
        let table = [
            (format!("{header}k1,,c,,\n"), 2, "term: empty"),
            (format!("{header}k1,  ,c,,\n"), 2, "term: empty"),
            (
                format!("{header}k1,\u{200b}.-,c,,\n"),
                2,
                "term: empty once normalised",
            ),
            (format!("{header},t,c,,\n"), 2, "rule_id: empty"),
            (format!("{header}k1,t,c,,\nk1,u,c,,\n"), 3, "appears twice"),
            (format!("{header}k1,t,,,\n"), 2, "category: empty"),
            (format!("{header}k1,t,c,maybe,\n"), 2, "whole_word"),
            (format!("{header}k1,t,c,true,severe\n"), 2, "severity"),
        ];
        for (text, line, needle) in table {
            match parse(&text) {
                Err(ListError::Line {
                    line: got, message, ..
                }) => {
                    assert_eq!(got, line, "{text}");
                    assert!(message.contains(needle), "{text}: {message}");
                }
                other => panic!("{text}: expected a line error, got {other:?}"),
            }
        }
    }
}
