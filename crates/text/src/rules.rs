//! Rule files: regular-expression and co-occurrence rules, for what is not a word list.

use std::path::Path;

use serde::Deserialize;
use vigil_core::Severity;
use vigil_lists::ListError;

use crate::{Normalizer, Steps};

/// Compiled size limit of one regular expression (and of a list's whole `RegexSet`): a rule
/// that needs more is refused when the list loads, not discovered while scanning.
pub const REGEX_SIZE_LIMIT_BYTES: usize = 1 << 20;

/// A regular-expression rule: for patterns that are not word lists (an age statement, a
/// phone number or handle being exchanged, a payment ask). Matched with the `regex` crate,
/// in time linear in the text.
#[derive(Debug, Clone)]
pub struct RegexRule {
    /// The list's id for the rule.
    pub rule_id: String,
    /// The pattern as written (`regex` crate syntax).
    pub pattern: String,
    /// Category reported with matches.
    pub category: String,
    /// Severity of a match.
    pub severity: Severity,
    /// Normalisation the text gets before the pattern runs (default
    /// [`Steps::REGEX_DEFAULT`]: ignorables, NFKC, case folding, white space).
    pub normalize: Steps,
}

/// A co-occurrence rule: fires when terms from every group appear within `within_words`
/// words of each other in one message (an age question near a meeting request). Terms match
/// as keyword terms do (normalised, whole-word by default).
#[derive(Debug, Clone)]
pub struct CooccurrenceRule {
    /// The list's id for the rule.
    pub rule_id: String,
    /// Category reported with matches.
    pub category: String,
    /// Severity of a match.
    pub severity: Severity,
    /// The window: from the first word of the earliest term to the last word of the latest,
    /// at most this many words.
    pub within_words: usize,
    /// Two or more groups of terms; one term of each must match.
    pub groups: Vec<Vec<String>>,
    /// Whether group terms match only as whole words (default true).
    pub whole_word: bool,
    /// Normalisation of terms and text (default: every step).
    pub normalize: Steps,
}

/// A rule file's rules.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Regular-expression rules, in file order.
    pub regexes: Vec<RegexRule>,
    /// Co-occurrence rules, in file order.
    pub cooccurrences: Vec<CooccurrenceRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    regex: Vec<RegexEntry>,
    #[serde(default)]
    cooccurrence: Vec<CooccurrenceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegexEntry {
    id: String,
    pattern: String,
    category: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    normalize: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CooccurrenceEntry {
    id: String,
    category: String,
    #[serde(default)]
    severity: Option<String>,
    within_words: usize,
    groups: Vec<Vec<String>>,
    #[serde(default)]
    whole_word: Option<bool>,
    #[serde(default)]
    normalize: Option<String>,
}

impl Rules {
    /// The number of rules.
    pub fn len(&self) -> usize {
        self.regexes.len() + self.cooccurrences.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parses a TOML rule file (`[[regex]]` and `[[cooccurrence]]` tables). Every pattern is
    /// compiled here, under [`REGEX_SIZE_LIMIT_BYTES`], so a bad rule fails the list with
    /// its line.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Rules, ListError> {
        let text = std::str::from_utf8(bytes).map_err(|e| ListError::Format {
            path: path.to_path_buf(),
            message: format!("not UTF-8 (byte {})", e.valid_up_to()),
        })?;
        let file: RuleFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map_or(1, |s| text[..s.start].matches('\n').count() as u64 + 1);
            ListError::Line {
                path: path.to_path_buf(),
                line,
                message: e.message().to_string(),
            }
        })?;
        // Rules are located by their id's line, for errors.
        let line_of = |id: &str| -> u64 {
            let quoted = [format!("\"{id}\""), format!("'{id}'")];
            text.lines()
                .position(|l| {
                    l.trim_start().starts_with("id") && quoted.iter().any(|q| l.contains(q))
                })
                .map_or(1, |i| i as u64 + 1)
        };
        let error = |id: &str, message: String| ListError::Line {
            path: path.to_path_buf(),
            line: line_of(id),
            message: format!("rule `{id}`: {message}"),
        };
        let mut seen = std::collections::HashSet::new();
        let mut check_common = |id: &str, category: &str| -> Result<(), ListError> {
            if id.trim().is_empty() {
                return Err(error(id, "id: empty".into()));
            }
            if !seen.insert(id.to_string()) {
                return Err(error(id, "id appears twice".into()));
            }
            if category.trim().is_empty() {
                return Err(error(id, "category: empty".into()));
            }
            Ok(())
        };
        let severity = |id: &str, value: &Option<String>| -> Result<Severity, ListError> {
            match value {
                None => Ok(Severity::Medium),
                Some(v) => Severity::parse(v).ok_or_else(|| {
                    error(
                        id,
                        format!("severity: `{v}` (expected low, medium, high or critical)"),
                    )
                }),
            }
        };
        let steps =
            |id: &str, value: &Option<String>, default: Steps| -> Result<Steps, ListError> {
                Steps::parse(value.as_deref().unwrap_or(""), default)
                    .map_err(|m| error(id, format!("normalize: {m}")))
            };
        let mut rules = Rules::default();
        for entry in file.regex {
            check_common(&entry.id, &entry.category)?;
            regex::RegexBuilder::new(&entry.pattern)
                .size_limit(REGEX_SIZE_LIMIT_BYTES)
                .build()
                .map_err(|e| error(&entry.id, format!("pattern: {e}")))?;
            rules.regexes.push(RegexRule {
                severity: severity(&entry.id, &entry.severity)?,
                normalize: steps(&entry.id, &entry.normalize, Steps::REGEX_DEFAULT)?,
                rule_id: entry.id,
                pattern: entry.pattern,
                category: entry.category,
            });
        }
        for entry in file.cooccurrence {
            check_common(&entry.id, &entry.category)?;
            if entry.groups.len() < 2 {
                return Err(error(&entry.id, "groups: at least two are needed".into()));
            }
            if entry.within_words == 0 {
                return Err(error(&entry.id, "within_words: must be at least 1".into()));
            }
            let normalize = steps(&entry.id, &entry.normalize, Steps::ALL)?;
            let normalizer = Normalizer::new(normalize);
            for (g, group) in entry.groups.iter().enumerate() {
                if group.is_empty() {
                    return Err(error(&entry.id, format!("groups[{g}]: empty")));
                }
                if let Some(t) = group
                    .iter()
                    .position(|t| normalizer.normalize(t).text.trim().is_empty())
                {
                    return Err(error(
                        &entry.id,
                        format!("groups[{g}][{t}]: empty once normalised"),
                    ));
                }
            }
            rules.cooccurrences.push(CooccurrenceRule {
                severity: severity(&entry.id, &entry.severity)?,
                rule_id: entry.id,
                category: entry.category,
                within_words: entry.within_words,
                groups: entry.groups,
                whole_word: entry.whole_word.unwrap_or(true),
                normalize,
            });
        }
        Ok(rules)
    }
}
