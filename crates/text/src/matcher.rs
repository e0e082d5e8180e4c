use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use vigil_core::Span;
use vigil_lists::ListInfo;

use crate::{KeywordList, KeywordRule, Normalized};

/// Up to this many terms the automaton is a full DFA: with 1,000 terms on 183-byte messages it
/// beat the contiguous NFA that aho-corasick picks by itself above 100 patterns by about 20 %
/// (docs/benchmarks.md). Above it the DFA's memory grows too fast and aho-corasick chooses.
const DFA_MAX_PATTERNS: usize = 10_000;

/// The keyword lists could not be compiled (e.g. the automaton would exceed its size limit).
#[derive(Debug, thiserror::Error)]
#[error("cannot compile keyword lists: {message}")]
pub struct TextError {
    message: String,
}

/// All keyword lists compiled into one automaton.
#[derive(Debug)]
pub struct KeywordMatcher {
    lists: Vec<KeywordList>,
    /// Pattern id → (list index, rule index).
    patterns: Vec<(usize, usize)>,
    automaton: AhoCorasick,
}

/// A rule that matched, with every place it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextHit<'a> {
    /// The rule's list.
    pub list: &'a ListInfo,
    /// The rule.
    pub rule: &'a KeywordRule,
    /// Original-text character spans, in order.
    pub spans: Vec<Span>,
}

impl KeywordMatcher {
    /// Compiles `lists`. Terms are normalised exactly as texts are.
    pub fn build(lists: Vec<KeywordList>) -> Result<KeywordMatcher, TextError> {
        let mut patterns = Vec::new();
        let mut terms = Vec::new();
        for (l, list) in lists.iter().enumerate() {
            for (r, rule) in list.rules.iter().enumerate() {
                patterns.push((l, r));
                terms.push(Normalized::new(&rule.term).text.trim().to_string());
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind((terms.len() <= DFA_MAX_PATTERNS).then_some(AhoCorasickKind::DFA))
            .build(&terms)
            .map_err(|e| TextError {
                message: e.to_string(),
            })?;
        Ok(KeywordMatcher {
            lists,
            patterns,
            automaton,
        })
    }

    /// Every rule that matches `text`, in list and rule order.
    pub fn find(&self, text: &str) -> Vec<TextHit<'_>> {
        if self.patterns.is_empty() {
            return Vec::new();
        }
        let normalized = Normalized::new(text);
        let mut chars: Option<Vec<char>> = None;
        let mut found: BTreeMap<usize, Vec<Span>> = BTreeMap::new();
        for m in self.automaton.find_overlapping_iter(&normalized.text) {
            let pattern = m.pattern().as_usize();
            let (l, r) = self.patterns[pattern];
            let rule = &self.lists[l].rules[r];
            let span = normalized.span(m.start(), m.end());
            if rule.whole_word {
                let chars = chars.get_or_insert_with(|| text.chars().collect());
                if !on_word_boundaries(chars, span) {
                    continue;
                }
            }
            found.entry(pattern).or_default().push(span);
        }
        found
            .into_iter()
            .map(|(pattern, mut spans)| {
                let (l, r) = self.patterns[pattern];
                spans.sort();
                spans.dedup();
                TextHit {
                    list: &self.lists[l].info,
                    rule: &self.lists[l].rules[r],
                    spans,
                }
            })
            .collect()
    }
}

/// Whether `span` of `chars` is a whole word: no word character continues it on either side.
/// A side where the match itself ends in a non-word character (e.g. a term `@snap`) is free.
fn on_word_boundaries(chars: &[char], span: Span) -> bool {
    let is_word = |c: &char| c.is_alphanumeric() || *c == '_';
    let before_ok =
        span.start == 0 || !is_word(&chars[span.start]) || !is_word(&chars[span.start - 1]);
    let after_ok =
        span.end >= chars.len() || !is_word(&chars[span.end - 1]) || !is_word(&chars[span.end]);
    before_ok && after_ok
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn matcher(csv: &str) -> KeywordMatcher {
        let text = format!("rule_id,term,category,whole_word\n{csv}");
        let list = KeywordList::parse("kw", Path::new("kw.csv"), text.as_bytes()).unwrap();
        KeywordMatcher::build(vec![list]).unwrap()
    }

    fn found(m: &KeywordMatcher, text: &str) -> Vec<(String, Vec<(usize, usize)>)> {
        m.find(text)
            .into_iter()
            .map(|h| {
                let spans = h.spans.iter().map(|s| (s.start, s.end)).collect();
                (h.rule.rule_id.clone(), spans)
            })
            .collect()
    }

    type Expected = Vec<(&'static str, Vec<(usize, usize)>)>;

    #[test]
    fn whole_word_uses_original_boundaries() {
        let m = matcher("s,sext,x,true\np,sex,x,false\na,@snap,x,true\n");
        // Hits come in list order: s, p, a.
        let table: [(&str, Expected); 6] = [
            ("a sextant", vec![("p", vec![(2, 5)])]),
            ("sext me", vec![("s", vec![(0, 4)]), ("p", vec![(0, 3)])]),
            ("SEXT!", vec![("s", vec![(0, 4)]), ("p", vec![(0, 3)])]),
            ("nosext", vec![("p", vec![(2, 5)])]),
            ("me@snap", vec![("a", vec![(2, 7)])]),
            ("@snapchat", vec![]),
        ];
        for (text, want) in table {
            let want: Vec<_> = want.into_iter().map(|(r, s)| (r.to_string(), s)).collect();
            assert_eq!(found(&m, text), want, "{text:?}");
        }
    }

    #[test]
    fn reports_overlapping_and_repeated_matches() {
        let m = matcher("a,home alone,x,true\nb,alone,x,true\n");
        assert_eq!(
            found(&m, "Home  Alone? alone."),
            [
                ("a".to_string(), vec![(0, 11)]),
                ("b".to_string(), vec![(6, 11), (13, 18)]),
            ]
        );
        assert!(found(&m, "nothing here").is_empty());
    }
}
