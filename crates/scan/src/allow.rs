//! Allow lists ("negative banks"): hash lists configured with `suppresses`, whose entries
//! are known not to be abuse (a meme, a logo, a stock photo that collides). When an
//! attachment matches an allow list's entry, that attachment's matches from other lists in
//! the suppressed categories (`*`: all) are not flagged; each is reported as a
//! [`SuppressedMatch`] — in the verdict record and a metric — never dropped silently. Allow
//! lists' own matches never flag. Text matches are not suppressed.

use std::collections::{HashMap, HashSet};

use vigil_core::{Match, MatchSubject, SuppressReason, SuppressedMatch};
use vigil_lists::{ListInfo, ListSource};

/// Which categories an allow list suppresses.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    All,
    Categories(HashSet<String>),
}

impl Scope {
    fn covers(&self, category: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Categories(categories) => categories.contains(category),
        }
    }
}

/// The allow lists in force, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowLists {
    scopes: HashMap<String, Scope>,
}

impl AllowLists {
    /// The allow lists among `lists` (each list's configuration and what was read of it).
    pub fn new<'a>(lists: impl IntoIterator<Item = (&'a ListSource, &'a ListInfo)>) -> AllowLists {
        let scopes = lists
            .into_iter()
            .filter_map(|(source, info)| {
                let categories = source.suppresses.as_ref()?;
                let scope = if categories.iter().any(|c| c == "*") {
                    Scope::All
                } else {
                    Scope::Categories(categories.iter().cloned().collect())
                };
                Some((info.name.clone(), scope))
            })
            .collect();
        AllowLists { scopes }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// `matches` without the allow lists' own and without those they suppress, and the
    /// suppressed ones with what suppressed each.
    pub fn apply(&self, matches: Vec<Match>) -> (Vec<Match>, Vec<SuppressedMatch>) {
        if self.scopes.is_empty() {
            return (matches, Vec::new());
        }
        let (allowed, others): (Vec<Match>, Vec<Match>) = matches
            .into_iter()
            .partition(|m| self.scopes.contains_key(&m.list));
        // (attachment, allow list's match) of every allow-list hit on an attachment.
        let hits: Vec<(&str, &Match, &str)> = allowed
            .iter()
            .filter_map(|m| match &m.subject {
                MatchSubject::Attachment {
                    attachment_id,
                    entry_id,
                    ..
                } => Some((attachment_id.as_str(), m, entry_id.as_str())),
                MatchSubject::Text { .. } => None,
            })
            .collect();
        let mut kept = Vec::with_capacity(others.len());
        let mut suppressed = Vec::new();
        for m in others {
            let MatchSubject::Attachment {
                attachment_id,
                entry_id,
                ..
            } = &m.subject
            else {
                kept.push(m);
                continue;
            };
            let by = hits.iter().find(|(attachment, allow, _)| {
                *attachment == attachment_id.as_str()
                    && self
                        .scopes
                        .get(&allow.list)
                        .is_some_and(|scope| scope.covers(&m.category))
            });
            match by {
                Some((_, allow, by_entry)) => suppressed.push(SuppressedMatch {
                    list: m.list.clone(),
                    list_version: m.list_version.clone(),
                    category: m.category.clone(),
                    detector: m.detector,
                    entry: entry_id.clone(),
                    attachment_id: Some(attachment_id.clone()),
                    reason: SuppressReason::AllowList,
                    by_list: Some(allow.list.clone()),
                    by_list_version: Some(allow.list_version.clone()),
                    by_entry: Some((*by_entry).to_string()),
                }),
                None => kept.push(m),
            }
        }
        (kept, suppressed)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use vigil_core::{Algorithm, DetectorKind, Severity, Span};

    use super::*;

    fn hit(list: &str, category: &str, attachment: &str, entry: &str) -> Match {
        Match {
            detector: DetectorKind::Hash(Algorithm::Pdq),
            list: list.into(),
            list_version: "1".into(),
            category: category.into(),
            severity: Severity::High,
            subject: MatchSubject::Attachment {
                attachment_id: attachment.into(),
                entry_id: entry.into(),
                distance: 3,
                quality: Some(100),
                variant: None,
                frame_ms: None,
                video: None,
            },
        }
    }

    fn allow_lists(scopes: &[(&str, &[&str])]) -> AllowLists {
        let sources: Vec<(ListSource, ListInfo)> = scopes
            .iter()
            .map(|(name, categories)| {
                let mut source = ListSource::from(PathBuf::from(format!("{name}.csv")));
                source.suppresses = Some(categories.iter().map(|c| c.to_string()).collect());
                let info = ListInfo::for_file(name, &source.path, b"");
                (source, info)
            })
            .collect();
        AllowLists::new(sources.iter().map(|(s, i)| (s, i)))
    }

    #[test]
    fn an_allow_list_hit_suppresses_that_attachments_matches_in_its_categories_only() {
        let allow = allow_lists(&[("memes", &["A"]), ("logos", &["*"])]);
        let text = Match {
            subject: MatchSubject::Text {
                rule_id: "r".into(),
                spans: vec![Span { start: 0, end: 1 }],
                expression: None,
                attachment_id: None,
            },
            ..hit("keywords", "A", "", "")
        };
        let matches = vec![
            hit("memes", "meme", "a1", "meme-7"),
            hit("bank", "A", "a1", "e-1"),
            hit("bank", "B", "a1", "e-2"),
            hit("bank", "A", "a2", "e-3"),
            hit("logos", "logo", "a3", "logo-1"),
            hit("bank", "B", "a3", "e-4"),
            text.clone(),
        ];
        let (kept, suppressed) = allow.apply(matches);
        let kept: Vec<(&str, &str)> = kept
            .iter()
            .map(|m| (m.list.as_str(), m.category.as_str()))
            .collect();
        // a1: A suppressed by memes, B kept; a2 has no allow hit; a3: all suppressed by logos;
        // the allow lists' own matches never flag; text is never suppressed.
        assert_eq!(kept, [("bank", "B"), ("bank", "A"), ("keywords", "A")]);
        let by: Vec<(&str, Option<&str>, Option<&str>)> = suppressed
            .iter()
            .map(|s| {
                (
                    s.entry.as_str(),
                    s.by_list.as_deref(),
                    s.by_entry.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            by,
            [
                ("e-1", Some("memes"), Some("meme-7")),
                ("e-4", Some("logos"), Some("logo-1"))
            ]
        );
        assert!(
            suppressed
                .iter()
                .all(|s| s.reason == SuppressReason::AllowList)
        );
    }

    #[test]
    fn without_allow_lists_nothing_changes() {
        let matches = vec![hit("bank", "A", "a1", "e-1")];
        let (kept, suppressed) = AllowLists::default().apply(matches.clone());
        assert_eq!((kept, suppressed), (matches, Vec::new()));
    }
}
