use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use vigil_core::Span;
use vigil_lists::ListInfo;

use crate::{KeywordList, KeywordRule, Normalizer, RuleKind, Steps};

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

/// All keyword lists compiled into one automaton per normalisation profile (most lists use
/// one: every step).
#[derive(Debug)]
pub struct KeywordMatcher {
    lists: Vec<KeywordList>,
    profiles: Vec<Profile>,
}

/// (list index, rule index).
type RuleRef = (usize, usize);

/// The rules sharing one set of normalisation steps.
#[derive(Debug)]
struct Profile {
    normalizer: Normalizer,
    /// Pattern id → rule.
    patterns: Vec<RuleRef>,
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
    /// Compiles `lists`. Terms are normalised exactly as texts are, rule by rule.
    pub fn build(lists: Vec<KeywordList>) -> Result<KeywordMatcher, TextError> {
        let mut by_steps: BTreeMap<Steps, Vec<(RuleRef, String)>> = BTreeMap::new();
        for (l, list) in lists.iter().enumerate() {
            for (r, rule) in list.rules.iter().enumerate() {
                let term = Normalizer::new(rule.normalize).normalize(&rule.term).text;
                let term = term.trim().to_string();
                by_steps
                    .entry(rule.normalize)
                    .or_default()
                    .push(((l, r), term));
            }
        }
        let profiles = by_steps
            .into_iter()
            .map(|(steps, rules)| {
                let (patterns, terms): (Vec<_>, Vec<_>) = rules.into_iter().unzip();
                let automaton = AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .kind((terms.len() <= DFA_MAX_PATTERNS).then_some(AhoCorasickKind::DFA))
                    .build(&terms)
                    .map_err(|e| TextError {
                        message: e.to_string(),
                    })?;
                Ok(Profile {
                    normalizer: Normalizer::new(steps),
                    patterns,
                    automaton,
                })
            })
            .collect::<Result<_, TextError>>()?;
        Ok(KeywordMatcher { lists, profiles })
    }

    /// Every term rule that matches `text` and is not allowed by an allow rule, in list and
    /// rule order.
    pub fn find(&self, text: &str) -> Vec<TextHit<'_>> {
        let mut chars: Option<Vec<char>> = None;
        let mut found: BTreeMap<(usize, usize), Vec<Span>> = BTreeMap::new();
        let mut allowed: Vec<Span> = Vec::new();
        for profile in &self.profiles {
            let normalized = profile.normalizer.normalize(text);
            for m in profile.automaton.find_overlapping_iter(&normalized.text) {
                let (l, r) = profile.patterns[m.pattern().as_usize()];
                let rule = &self.lists[l].rules[r];
                let span = normalized.span(m.start(), m.end());
                if rule.whole_word {
                    let chars = chars.get_or_insert_with(|| text.chars().collect());
                    let n = &profile.normalizer;
                    let before = n.is_word_boundary(chars, span.start, span.start.checked_sub(1));
                    let after_at = (span.end < chars.len()).then_some(span.end);
                    if !before || !n.is_word_boundary(chars, span.end - 1, after_at) {
                        continue;
                    }
                }
                match rule.kind {
                    RuleKind::Term => found.entry((l, r)).or_default().push(span),
                    RuleKind::Allow => allowed.push(span),
                }
            }
        }
        found
            .into_iter()
            .filter_map(|((l, r), mut spans)| {
                spans.retain(|s| !allowed.iter().any(|a| a.start <= s.start && s.end <= a.end));
                spans.sort();
                spans.dedup();
                (!spans.is_empty()).then(|| TextHit {
                    list: &self.lists[l].info,
                    rule: &self.lists[l].rules[r],
                    spans,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn matcher(rows: &str) -> KeywordMatcher {
        let text = format!("rule_id,term,category,whole_word,normalize,kind\n{rows}");
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

    fn check(m: &KeywordMatcher, table: &[(&str, Expected)]) {
        for (text, want) in table {
            let want: Vec<_> = want
                .iter()
                .map(|(r, s)| (r.to_string(), s.clone()))
                .collect();
            assert_eq!(found(m, text), want, "{text:?}");
        }
    }

    #[test]
    fn whole_word_uses_original_boundaries() {
        let m = matcher("s,sext,x,true,,\np,sex,x,false,,\na,@snap,x,true,all -leet,\n");
        // Hits come in list order: s, p, a.
        check(
            &m,
            &[
                ("a sextant", vec![("p", vec![(2, 5)])]),
                ("sext me", vec![("s", vec![(0, 4)]), ("p", vec![(0, 3)])]),
                ("SEXT!", vec![("s", vec![(0, 4)]), ("p", vec![(0, 3)])]),
                ("nosext", vec![("p", vec![(2, 5)])]),
                ("me@snap", vec![("a", vec![(2, 7)])]),
                ("@snapchat", vec![]),
                ("s.e.x.t me", vec![("s", vec![(0, 7)]), ("p", vec![(0, 5)])]),
            ],
        );
    }

    #[test]
    fn reports_overlapping_and_repeated_matches() {
        let m = matcher("a,home alone,x,true,,\nb,alone,x,true,,\n");
        check(
            &m,
            &[
                (
                    "Home  Alone? alone.",
                    vec![("a", vec![(0, 11)]), ("b", vec![(6, 11), (13, 18)])],
                ),
                (
                    "h0me @l0ne",
                    vec![("a", vec![(0, 10)]), ("b", vec![(5, 10)])],
                ),
                ("nothing here", vec![]),
            ],
        );
    }

    #[test]
    fn allow_rules_suppress_matches_inside_them() {
        let m = matcher(
            "k,secret,x,false,,\n\
             a,secretary,,false,,allow\n\
             n,snap,x,true,none,\n",
        );
        check(
            &m,
            &[
                ("the secretary said", vec![]),
                ("our secret, secretary", vec![("k", vec![(4, 10)])]),
                // `none`: exact bytes, so case and disguises matter for this rule only.
                ("snap SNAP s.n.a.p", vec![("n", vec![(0, 4)])]),
            ],
        );
    }
}
