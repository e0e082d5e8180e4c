use std::collections::{BTreeMap, VecDeque};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use vigil_core::{Severity, Span};
use vigil_lists::ListInfo;

use crate::literals::Literals;
use crate::normalize::{AsciiText, CharsAt};
use crate::{KeywordList, Normalized, Normalizer, REGEX_SIZE_LIMIT_BYTES, RuleKind, Steps};

/// From this many whole-word terms of one profile on, [`Literals`] searches them instead of
/// an automaton, only where a word may start. Over DMs with phrase terms it was 1.27–1.35×
/// faster than the automaton at 1,000 terms and 2.0× at 10,000 (docs/benchmarks.md). It is
/// ahead below 1,000 too (1.01× at 10 terms, 1.1–1.2× at 30 to 300), but not by enough to
/// pay for a second pass over the text where the profile also has terms left to an
/// automaton.
const LITERALS_MIN_WHOLE_WORD: usize = 1_000;

/// From this many other terms (matched inside words too) of one profile on, [`Literals`]
/// searches them, at every position: 2.1× faster than the automaton at 10,000 terms, even
/// at 3,000, 0.8× at 1,000.
const LITERALS_MIN_ANYWHERE: usize = 10_000;

/// Up to this many terms an automaton is a full DFA. It beat the contiguous NFA that
/// aho-corasick picks by itself above 100 patterns at 1,000 terms (by about 20 %) and at
/// 10,000 phrase terms over normalised DMs (37 vs 27 MiB/s, though 9.7 MB against 1.0 MB;
/// docs/benchmarks.md). Above it the DFA's memory grows too fast and aho-corasick chooses.
const DFA_MAX_PATTERNS: usize = 10_000;

/// Texts up to this long leave their buffers ([`Scratch`]) to the next on the same thread:
/// about seven bytes per text byte, so at most some 450 KiB per scanning thread.
const KEEP_SCRATCH_BYTES: usize = 64 << 10;

/// Buffers of one scan, reused from message to message: allocating, growing and freeing them
/// each time was 7 % of a scan.
#[derive(Default)]
struct Scratch {
    normalized: Normalized,
    /// (list, class, rule, span) of every match: sorted and grouped by rule at the end.
    found: Vec<(usize, RuleClass, usize, Span)>,
}

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

/// How a profile's terms are searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TermSearch {
    /// By the number of terms of one normalisation profile: [`TermSearch::Literals`] for
    /// whole-word terms from 1,000 on and for the others from 10,000 on,
    /// [`TermSearch::Automaton`] below (one automaton for all terms left to it).
    #[default]
    Auto,
    /// One Aho-Corasick automaton over every position (a full DFA up to 10,000 terms).
    Automaton,
    /// The hashed-window literal matcher: whole-word terms looked up only where a word may
    /// start, the others everywhere. Same hits as the automaton.
    Literals,
}

impl TermSearch {
    /// The search used for `terms` terms of a profile that must (or need not) stand as
    /// whole words: [`TermSearch::Auto`] resolved.
    pub fn for_terms(self, terms: usize, whole_word: bool) -> TermSearch {
        let literals_from = match whole_word {
            true => LITERALS_MIN_WHOLE_WORD,
            false => LITERALS_MIN_ANYWHERE,
        };
        match self {
            TermSearch::Auto if terms >= literals_from => TermSearch::Literals,
            TermSearch::Auto => TermSearch::Automaton,
            search => search,
        }
    }
}

/// The keyword lists could not be compiled (e.g. an automaton would exceed its size limit).
#[derive(Debug, thiserror::Error)]
#[error("cannot compile keyword lists: {message}")]
pub struct TextError {
    message: String,
}

/// All keyword lists compiled: per normalisation profile (most lists use one: every step),
/// one Aho-Corasick automaton for terms and one `RegexSet` for regular expressions.
#[derive(Debug)]
pub struct KeywordMatcher {
    lists: Vec<KeywordList>,
    profiles: Vec<Profile>,
}

/// What an automaton pattern stands for.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Term rule `rule` of list `list`.
    Term { list: usize, rule: usize },
    /// A term of group `group` of co-occurrence rule `rule` of list `list`.
    Group {
        list: usize,
        rule: usize,
        group: usize,
    },
}

impl Target {
    /// Whether the term must stand as a whole word.
    fn whole_word(self, lists: &[KeywordList]) -> bool {
        match self {
            Target::Term { list, rule } => lists[list].rules[rule].whole_word,
            Target::Group { list, rule, .. } => lists[list].extra.cooccurrences[rule].whole_word,
        }
    }
}

/// The rules sharing one set of normalisation steps.
#[derive(Debug)]
struct Profile {
    normalizer: Normalizer,
    /// Pattern id → what it stands for.
    patterns: Vec<Target>,
    /// Pattern id → whether it must stand as a whole word: apart from the rules, since most
    /// candidate matches need only this and it stays in cache.
    whole_word: Vec<bool>,
    terms: Option<Terms>,
    /// First pass over every regular expression of the profile.
    set: Option<RegexSet>,
    /// Set index → (list, rule, compiled pattern), for the spans.
    regexes: Vec<(usize, usize, Regex)>,
}

/// The term search of one profile: whole-word terms and the others each searched by the
/// literal matcher or left to one automaton for both.
#[derive(Debug)]
struct Terms(Vec<Search>);

/// One search over some of a profile's terms.
#[derive(Debug)]
enum Search {
    /// An automaton over every position; its pattern `i` is term `ids[i]`.
    Automaton {
        automaton: AhoCorasick,
        ids: Vec<usize>,
    },
    /// The literal matcher, over every position or only where a word may start.
    Literals {
        literals: Box<Literals>,
        word_starts_only: bool,
    },
}

impl Terms {
    /// Compiles `terms`, whose whole-word flags are `whole_word`, for `search`.
    fn build(
        terms: &[String],
        whole_word: &[bool],
        search: TermSearch,
    ) -> Result<Terms, aho_corasick::BuildError> {
        let mut searches = Vec::new();
        let mut automaton_ids = Vec::new();
        for whole in [true, false] {
            let ids: Vec<usize> = (0..terms.len())
                .filter(|&i| whole_word[i] == whole)
                .collect();
            if ids.is_empty() {
                continue;
            }
            match search.for_terms(ids.len(), whole) {
                TermSearch::Literals => searches.push(Search::Literals {
                    literals: Box::new(Literals::new(
                        ids.iter().map(|&i| (i, terms[i].as_bytes())),
                    )),
                    word_starts_only: whole,
                }),
                _ => automaton_ids.extend(ids),
            }
        }
        if !automaton_ids.is_empty() {
            automaton_ids.sort_unstable();
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind((automaton_ids.len() <= DFA_MAX_PATTERNS).then_some(AhoCorasickKind::DFA))
                .build(automaton_ids.iter().map(|&i| &terms[i]))?;
            searches.push(Search::Automaton {
                automaton,
                ids: automaton_ids,
            });
        }
        Ok(Terms(searches))
    }

    /// Calls `found(pattern, start, end)` for every occurrence of every term in the
    /// normalised text, except (perhaps) whole-word terms where no word can start.
    fn find(&self, normalized: &Normalized, mut found: impl FnMut(usize, usize, usize)) {
        let text = normalized.text.as_bytes();
        for search in &self.0 {
            match search {
                Search::Automaton { automaton, ids } => {
                    for m in automaton.find_overlapping_iter(text) {
                        found(ids[m.pattern().as_usize()], m.start(), m.end());
                    }
                }
                Search::Literals {
                    literals,
                    word_starts_only: true,
                } => {
                    let starts = normalized.word_starts().iter().map(|&s| s as usize);
                    literals.find_at(text, starts, &mut found);
                }
                Search::Literals { literals, .. } => {
                    literals.find_at(text, 0..text.len(), &mut found);
                }
            }
        }
    }

    fn memory_usage(&self) -> usize {
        self.0
            .iter()
            .map(|search| match search {
                Search::Automaton { automaton, ids } => {
                    automaton.memory_usage() + ids.len() * size_of::<usize>()
                }
                Search::Literals { literals, .. } => literals.memory_usage(),
            })
            .sum()
    }
}

/// Which kind of rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleClass {
    /// A keyword-list term.
    Term,
    /// A regular expression.
    Regex,
    /// A co-occurrence rule.
    Cooccurrence,
}

/// A rule that matched, with every place it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextHit<'a> {
    /// The rule's list.
    pub list: &'a ListInfo,
    /// The kind of rule.
    pub class: RuleClass,
    /// The rule's id.
    pub rule_id: &'a str,
    /// The rule's category.
    pub category: &'a str,
    /// The rule's severity.
    pub severity: Severity,
    /// Original-text character spans, in order (for a co-occurrence rule, one term of each
    /// group, in the closest window).
    pub spans: Vec<Span>,
}

type Pending = (Vec<Target>, Vec<String>, Vec<(usize, usize, String)>);

impl KeywordMatcher {
    /// Compiles `lists`. Terms are normalised exactly as texts are, rule by rule.
    pub fn build(lists: Vec<KeywordList>) -> Result<KeywordMatcher, TextError> {
        Self::build_with(lists, TermSearch::Auto)
    }

    /// [`KeywordMatcher::build`] with the term search chosen (benchmarks and tests compare
    /// them).
    pub fn build_with(
        lists: Vec<KeywordList>,
        search: TermSearch,
    ) -> Result<KeywordMatcher, TextError> {
        let mut by_steps: BTreeMap<Steps, Pending> = BTreeMap::new();
        let mut normalizers: BTreeMap<Steps, Normalizer> = BTreeMap::new();
        let mut term = |steps: Steps, term: &str| {
            let normalizer = normalizers
                .entry(steps)
                .or_insert_with(|| Normalizer::new(steps));
            normalizer.normalize(term).text.trim().to_string()
        };
        for (l, list) in lists.iter().enumerate() {
            for (r, rule) in list.rules.iter().enumerate() {
                let (targets, terms, _) = by_steps.entry(rule.normalize).or_default();
                targets.push(Target::Term { list: l, rule: r });
                terms.push(term(rule.normalize, &rule.term));
            }
            for (r, rule) in list.extra.regexes.iter().enumerate() {
                let (_, _, regexes) = by_steps.entry(rule.normalize).or_default();
                regexes.push((l, r, rule.pattern.clone()));
            }
            for (r, rule) in list.extra.cooccurrences.iter().enumerate() {
                let (targets, terms, _) = by_steps.entry(rule.normalize).or_default();
                for (g, group) in rule.groups.iter().enumerate() {
                    for t in group {
                        targets.push(Target::Group {
                            list: l,
                            rule: r,
                            group: g,
                        });
                        terms.push(term(rule.normalize, t));
                    }
                }
            }
        }
        let error = |e: &dyn std::fmt::Display| TextError {
            message: e.to_string(),
        };
        let profiles = by_steps
            .into_iter()
            .map(|(steps, (patterns, terms, regexes))| {
                let whole_word: Vec<bool> = patterns.iter().map(|t| t.whole_word(&lists)).collect();
                let terms = match terms.is_empty() {
                    true => None,
                    false => {
                        Some(Terms::build(&terms, &whole_word, search).map_err(|e| error(&e))?)
                    }
                };
                let set = match regexes.is_empty() {
                    true => None,
                    false => Some(
                        RegexSetBuilder::new(regexes.iter().map(|(_, _, p)| p))
                            .size_limit(REGEX_SIZE_LIMIT_BYTES * regexes.len())
                            .build()
                            .map_err(|e| error(&e))?,
                    ),
                };
                let regexes = regexes
                    .into_iter()
                    .map(|(l, r, pattern)| {
                        RegexBuilder::new(&pattern)
                            .size_limit(REGEX_SIZE_LIMIT_BYTES)
                            .build()
                            .map(|regex| (l, r, regex))
                            .map_err(|e| error(&e))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Profile {
                    normalizer: Normalizer::new(steps),
                    patterns,
                    whole_word,
                    terms,
                    set,
                    regexes,
                })
            })
            .collect::<Result<_, TextError>>()?;
        Ok(KeywordMatcher { lists, profiles })
    }

    /// Heap bytes of the compiled term searches (`RegexSet`s do not report theirs).
    pub fn automata_bytes(&self) -> usize {
        self.profiles
            .iter()
            .filter_map(|p| p.terms.as_ref())
            .map(Terms::memory_usage)
            .sum()
    }

    /// Every rule that matches `text` (term matches inside an allow rule's match do not
    /// count), in list order and, within a list, terms, regular expressions, co-occurrence.
    pub fn find(&self, text: &str) -> Vec<TextHit<'_>> {
        let mut chars: Option<Original> = None;
        let Scratch {
            mut normalized,
            mut found,
        } = SCRATCH.take();
        let mut allowed: Vec<Span> = Vec::new();
        // (list, rule) → spans per group.
        let mut groups: BTreeMap<(usize, usize), Vec<Vec<Span>>> = BTreeMap::new();
        for profile in &self.profiles {
            profile.normalizer.normalize_into(text, &mut normalized);
            let normalized = &normalized;
            if let Some(terms) = &profile.terms {
                terms.find(normalized, |pattern, start, end| {
                    let span = if profile.whole_word[pattern] {
                        if !normalized.may_be_whole_word(start, end) {
                            return;
                        }
                        let chars = chars.get_or_insert_with(|| Original::new(text));
                        let whole = |s: &Span| on_word_boundaries(&profile.normalizer, chars, *s);
                        let whole = match normalized.only_reading(start, end) {
                            Some(span) => Some(span).filter(whole),
                            None => normalized.readings(start, end).find(whole),
                        };
                        match whole {
                            Some(span) => span,
                            None => return,
                        }
                    } else {
                        normalized.span(start, end)
                    };
                    match profile.patterns[pattern] {
                        Target::Term { list, rule } => match self.lists[list].rules[rule].kind {
                            RuleKind::Term => found.push((list, RuleClass::Term, rule, span)),
                            RuleKind::Allow => allowed.push(span),
                        },
                        Target::Group { list, rule, group } => {
                            let count = self.lists[list].extra.cooccurrences[rule].groups.len();
                            let spans = groups
                                .entry((list, rule))
                                .or_insert_with(|| vec![Vec::new(); count]);
                            spans[group].push(span);
                        }
                    }
                });
            }
            if let Some(set) = &profile.set {
                for i in set.matches(&normalized.text).iter() {
                    let (list, rule, regex) = &profile.regexes[i];
                    for m in regex.find_iter(&normalized.text).filter(|m| !m.is_empty()) {
                        let span = normalized.span(m.start(), m.end());
                        found.push((*list, RuleClass::Regex, *rule, span));
                    }
                }
            }
        }
        let mut words: Option<Vec<u32>> = None;
        for ((list, rule), spans) in groups {
            if spans.iter().any(Vec::is_empty) {
                continue;
            }
            let chars = chars.get_or_insert_with(|| Original::new(text));
            let words = words.get_or_insert_with(|| word_numbers(chars));
            let within = self.lists[list].extra.cooccurrences[rule].within_words;
            if let Some(window) = closest_window(words, &spans, within) {
                let class = RuleClass::Cooccurrence;
                found.extend(window.into_iter().map(|span| (list, class, rule, span)));
            }
        }
        found.retain(|&(_, class, _, s)| {
            class != RuleClass::Term
                || !allowed.iter().any(|a| a.start <= s.start && s.end <= a.end)
        });
        found.sort_unstable();
        found.dedup();
        let rule = |&(l, class, r, _): &(usize, RuleClass, usize, Span)| (l, class, r);
        let hits = found
            .chunk_by(|a, b| rule(a) == rule(b))
            .map(|matches| {
                let (l, class, r) = rule(&matches[0]);
                let list = &self.lists[l];
                let (rule_id, category, severity) = match class {
                    RuleClass::Term => {
                        let rule = &list.rules[r];
                        (&rule.rule_id, &rule.category, rule.severity)
                    }
                    RuleClass::Regex => {
                        let rule = &list.extra.regexes[r];
                        (&rule.rule_id, &rule.category, rule.severity)
                    }
                    RuleClass::Cooccurrence => {
                        let rule = &list.extra.cooccurrences[r];
                        (&rule.rule_id, &rule.category, rule.severity)
                    }
                };
                TextHit {
                    list: &list.info,
                    class,
                    rule_id,
                    category,
                    severity,
                    spans: matches.iter().map(|&(.., span)| span).collect(),
                }
            })
            .collect();
        found.clear();
        if text.len() <= KEEP_SCRATCH_BYTES {
            SCRATCH.set(Scratch { normalized, found });
        }
        hits
    }
}

/// The original text's characters, for the checks made on it: most messages are ASCII,
/// whose bytes are their characters, with nothing to decode.
enum Original<'t> {
    Ascii(AsciiText<'t>),
    Decoded(Vec<char>),
}

impl<'t> Original<'t> {
    fn new(text: &'t str) -> Original<'t> {
        match AsciiText::new(text) {
            Some(ascii) => Original::Ascii(ascii),
            None => Original::Decoded(text.chars().collect()),
        }
    }
}

impl CharsAt for Original<'_> {
    fn count(&self) -> usize {
        match self {
            Original::Ascii(ascii) => ascii.count(),
            Original::Decoded(chars) => chars.len(),
        }
    }

    fn at(&self, i: usize) -> char {
        match self {
            Original::Ascii(ascii) => ascii.at(i),
            Original::Decoded(chars) => chars[i],
        }
    }
}

/// Whether `span` of `chars` stands as a whole word under `normalizer`'s steps.
fn on_word_boundaries(
    normalizer: &Normalizer,
    chars: &(impl CharsAt + ?Sized),
    span: Span,
) -> bool {
    let after = (span.end < chars.count()).then_some(span.end);
    normalizer.is_word_boundary_in(chars, span.start, span.start.checked_sub(1))
        && normalizer.is_word_boundary_in(chars, span.end - 1, after)
}

/// The word number of each character: words are runs of letters and digits, numbered from 1;
/// a character between words counts with the word before.
fn word_numbers(chars: &(impl CharsAt + ?Sized)) -> Vec<u32> {
    let mut n = 0u32;
    let mut in_word = false;
    (0..chars.count())
        .map(|i| {
            let is_word = chars.at(i).is_alphanumeric();
            if is_word && !in_word {
                n += 1;
            }
            in_word = is_word;
            n
        })
        .collect()
}

/// The closest set of matches, one per group, spanning at most `within` words (`word`: the
/// word number of each original character); `None` if there is none.
fn closest_window(word: &[u32], groups: &[Vec<Span>], within: usize) -> Option<Vec<Span>> {
    // (first word, last word, group, span), by first word.
    let mut hits: Vec<(u32, u32, usize, Span)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, spans)| spans.iter().map(move |s| (g, *s)))
        .map(|(g, s)| (word[s.start].max(1), word[s.end - 1].max(1), g, s))
        .collect();
    hits.sort();
    // Sliding window over the hits, with the latest last-word kept in a monotonic queue.
    let mut count = vec![0usize; groups.len()];
    let mut covered = 0;
    let mut latest: VecDeque<usize> = VecDeque::new();
    let mut best: Option<(u32, usize, usize)> = None;
    let mut j = 0;
    for i in 0..hits.len() {
        while covered < groups.len() && j < hits.len() {
            let g = hits[j].2;
            count[g] += 1;
            if count[g] == 1 {
                covered += 1;
            }
            while latest.back().is_some_and(|&k| hits[k].1 <= hits[j].1) {
                latest.pop_back();
            }
            latest.push_back(j);
            j += 1;
        }
        if covered < groups.len() {
            break;
        }
        let last = latest.front().map_or(hits[i].1, |&k| hits[k].1);
        let width = last - hits[i].0 + 1;
        if best.is_none_or(|(w, _, _)| width < w) {
            best = Some((width, i, j));
        }
        let g = hits[i].2;
        count[g] -= 1;
        if count[g] == 0 {
            covered -= 1;
        }
        if latest.front() == Some(&i) {
            latest.pop_front();
        }
    }
    let (width, i, j) = best?;
    if width as usize > within {
        return None;
    }
    // One span per group: its first in the window.
    let mut chosen: Vec<Option<Span>> = vec![None; groups.len()];
    for hit in &hits[i..j] {
        chosen[hit.2].get_or_insert(hit.3);
    }
    let mut spans: Vec<Span> = chosen.into_iter().flatten().collect();
    spans.sort();
    Some(spans)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_automatic_search_switches_to_literals_at_one_and_ten_thousand_terms() {
        let table = [
            (TermSearch::Auto, 999, true, TermSearch::Automaton),
            (TermSearch::Auto, 1_000, true, TermSearch::Literals),
            (TermSearch::Auto, 9_999, false, TermSearch::Automaton),
            (TermSearch::Auto, 10_000, false, TermSearch::Literals),
            (TermSearch::Automaton, 100_000, true, TermSearch::Automaton),
            (TermSearch::Literals, 1, false, TermSearch::Literals),
        ];
        for (search, terms, whole, chosen) in table {
            let got = search.for_terms(terms, whole);
            assert_eq!(got, chosen, "{search:?} at {terms} (whole words: {whole})");
        }
    }

    #[test]
    fn a_profile_can_search_whole_words_with_literals_and_the_rest_with_an_automaton() {
        // 1,000 whole-word terms (literals, at word starts) and two matched inside words
        // (left to the automaton): the same hits as one automaton for all. Separators are
        // ignored, so a term also matches its words written as one (w40).
        let word = |i: usize| -> String {
            [i / 676, i / 26 % 26, i % 26]
                .iter()
                .map(|&d| char::from(b'a' + d as u8))
                .collect()
        };
        let mut csv = String::from("rule_id,term,category,whole_word\n");
        for i in 0..1_000 {
            csv += &format!("w{i},{} {},x,true\n", word(i), word(999 - i));
        }
        csv += "in1,ecre,x,false\nin2,bab,x,false\n";
        let list = || vec![KeywordList::parse("kw", Path::new("kw.csv"), csv.as_bytes()).unwrap()];
        let auto = KeywordMatcher::build(list()).unwrap();
        let automaton = KeywordMatcher::build_with(list(), TermSearch::Automaton).unwrap();
        let text = format!(
            "{} {}, s.e.c.r.e.t {}{} and {} {} {} kebabs",
            word(3),
            word(996),
            word(40),
            word(959),
            word(700),
            word(299),
            word(1)
        );
        let hits = found(&auto, &text);
        assert_eq!(hits, found(&automaton, &text));
        let ids: Vec<&str> = hits.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["w3", "w40", "w700", "in1", "in2"], "{text}");
    }

    /// The list compiled both ways: automata, and [`Literals`].
    type Both = [KeywordMatcher; 2];

    fn both(list: KeywordList) -> Both {
        [
            KeywordMatcher::build_with(vec![list.clone()], TermSearch::Automaton).unwrap(),
            KeywordMatcher::build_with(vec![list], TermSearch::Literals).unwrap(),
        ]
    }

    fn matcher(rows: &str) -> Both {
        let text = format!("rule_id,term,category,whole_word,normalize,kind\n{rows}");
        both(KeywordList::parse("kw", Path::new("kw.csv"), text.as_bytes()).unwrap())
    }

    fn found(m: &KeywordMatcher, text: &str) -> Vec<(String, Vec<(usize, usize)>)> {
        m.find(text)
            .into_iter()
            .map(|h| {
                let spans = h.spans.iter().map(|s| (s.start, s.end)).collect();
                (h.rule_id.to_string(), spans)
            })
            .collect()
    }

    type Expected = Vec<(&'static str, Vec<(usize, usize)>)>;

    fn check(both: &Both, table: &[(&str, Expected)]) {
        for (text, want) in table {
            let want: Vec<_> = want
                .iter()
                .map(|(r, s)| (r.to_string(), s.clone()))
                .collect();
            for m in both {
                assert_eq!(found(m, text), want, "{text:?}, {:?}", m.profiles[0].terms);
            }
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

    /// Found by fuzzing (`fuzz/regressions/text_normalize/whole-word-*`): marks and
    /// ignorables that are alphabetic, left in the text when their steps are off, made the
    /// cheap check call a whole word part of a longer one.
    #[test]
    fn whole_words_match_through_alphabetic_marks_and_ignorables() {
        let m = matcher(
            "ar,\u{633}\u{644}\u{627}\u{645},x,true,nfkc+casefold,\n\
             he,o,x,true,none,\nko,a,x,true,none,\n",
        );
        check(
            &m,
            &[
                // Arabic tanwin fathatan (U+064B) after the word.
                (
                    "\u{633}\u{644}\u{627}\u{645}\u{64b} x",
                    vec![("ar", vec![(0, 4)])],
                ),
                // Hebrew patah (U+05B7) after a letter.
                ("o\u{5b7}", vec![("he", vec![(0, 1)])]),
                // Hangul fillers (U+3164, U+FFA0): letters by category, but invisible.
                ("a\u{3164}", vec![("ko", vec![(0, 1)])]),
                ("\u{ffa0}a", vec![("ko", vec![(1, 2)])]),
                ("ab\u{5b7}", vec![]),
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

    fn rule_file(toml: &str) -> Both {
        both(KeywordList::parse("rules", Path::new("rules.toml"), toml.as_bytes()).unwrap())
    }

    #[test]
    fn regex_rules_match_normalised_text_with_original_spans() {
        let m = rule_file(
            r#"
[[regex]]
id = "age"
pattern = '\bi\s*(?:am|m)\s+(?:1[0-7]|[89])\b'
category = "grooming.age"
[[regex]]
id = "phone"
pattern = '\b\d{3}[ .-]?\d{3}[ .-]?\d{4}\b'
category = "contact.phone"
severity = "high"
"#,
        );
        check(
            &m,
            &[
                ("hi, I AM 13 btw", vec![("age", vec![(4, 11)])]),
                // Full-width digits and a zero-width space are normalised away.
                ("i am １２\u{200b}", vec![("age", vec![(0, 7)])]),
                ("i am 30", vec![]),
                (
                    "call 555-123-4567 or 555 123 4567",
                    vec![("phone", vec![(5, 17), (21, 33)])],
                ),
            ],
        );
        let hits = m[0].find("555.123.4567");
        assert_eq!(
            (hits[0].class, hits[0].severity),
            (RuleClass::Regex, Severity::High)
        );
    }

    #[test]
    fn cooccurrence_rules_need_every_group_within_the_window() {
        let m = rule_file(
            r#"
[[cooccurrence]]
id = "age-meet"
category = "grooming.meeting"
within_words = 8
groups = [["how old are you", "what grade"], ["meet up", "come over"]]
"#,
        );
        check(
            &m,
            &[
                (
                    "how old are you? wanna meet up",
                    vec![("age-meet", vec![(0, 15), (23, 30)])],
                ),
                // Disguised terms count too.
                (
                    "h0w 0ld r u... what grade? c0me 0ver",
                    vec![("age-meet", vec![(15, 25), (27, 36)])],
                ),
                // Too far apart: 10 words from `how` to `up`.
                ("how old are you, one two three four five meet up", vec![]),
                ("how old are you", vec![]),
                ("let's meet up", vec![]),
            ],
        );
    }

    #[test]
    fn rule_files_refuse_bad_rules_with_their_line() {
        let table = [
            (
                "[[regex]]\nid = \"r\"\npattern = '('\ncategory = \"c\"\n",
                2,
                "pattern",
            ),
            (
                "[[regex]]\nid = \"r\"\npattern = 'a'\ncategory = \"\"\n",
                2,
                "category: empty",
            ),
            (
                "[[regex]]\nid = \"r\"\npattern = 'a'\ncategory = \"c\"\nseverity = \"dire\"\n",
                2,
                "severity",
            ),
            (
                "[[regex]]\nid = \"r\"\npattern = 'a'\ncategory = \"c\"\nnormalize = \"nfkd\"\n",
                2,
                "normalize",
            ),
            (
                "[[regex]]\nid = \"r\"\npattern = 'a{10000}{10000}'\ncategory = \"c\"\n",
                2,
                "size limit",
            ),
            (
                "\n[[regex]]\nid = \"r\"\npatern = 'a'\ncategory = \"c\"\n",
                4,
                "unknown field",
            ),
            (
                "[[cooccurrence]]\nid = \"x\"\ncategory = \"c\"\nwithin_words = 3\ngroups = [[\"a\"]]\n",
                2,
                "at least two",
            ),
            (
                "[[cooccurrence]]\nid = \"x\"\ncategory = \"c\"\nwithin_words = 0\ngroups = [[\"a\"], [\"b\"]]\n",
                2,
                "within_words",
            ),
            (
                "[[cooccurrence]]\nid = \"x\"\ncategory = \"c\"\nwithin_words = 3\ngroups = [[\"a\"], [\"..\"]]\n",
                2,
                "groups[1][0]",
            ),
        ];
        for (text, line, needle) in table {
            match KeywordList::parse("r", Path::new("r.toml"), text.as_bytes()) {
                Err(vigil_lists::ListError::Line {
                    line: got, message, ..
                }) => {
                    assert_eq!(got, line, "{text}: {message}");
                    assert!(message.contains(needle), "{text}: {message}");
                }
                other => panic!("{text}: expected a line error, got {other:?}"),
            }
        }
    }

    proptest::proptest! {
        /// Also: whole-word terms are looked up only at `word_starts`, which must hold every
        /// start the cheap check accepts.
        #[test]
        fn the_cheap_whole_word_check_never_rejects_a_whole_word(
            text in "[a-cA-C0-3@$!. _\\-\u{200b}\u{301}\u{5b7}\u{64b}\u{3164}\u{ffa0}а°℃]{0,24}",
            steps in 0u16..512,
        ) {
            let normalizer = Normalizer::new(Steps::parse(&steps_of(steps), Steps::ALL).unwrap());
            let normalized = normalizer.normalize(&text);
            let chars: Vec<char> = text.chars().collect();
            let bounds: Vec<usize> = normalized
                .text
                .char_indices()
                .map(|(i, _)| i)
                .chain([normalized.text.len()])
                .collect();
            let word_starts = normalized.word_starts();
            for (a, &start) in bounds.iter().enumerate() {
                for &end in &bounds[a + 1..] {
                    // Terms are trimmed: no match starts or ends with a space.
                    let found = &normalized.text[start..end];
                    if found.starts_with(' ') || found.ends_with(' ') {
                        continue;
                    }
                    let whole = normalized
                        .spans(start, end)
                        .into_iter()
                        .any(|s| on_word_boundaries(&normalizer, chars.as_slice(), s));
                    proptest::prop_assert!(
                        !whole || normalized.may_be_whole_word(start, end),
                        "{:?} [{}, {}) of {:?}", text, start, end, normalized.text
                    );
                    proptest::prop_assert!(
                        !normalized.may_be_whole_word(start, end)
                            || word_starts.contains(&(start as u32)),
                        "{:?} [{}, {}) of {:?}: not in {:?}",
                        text, start, end, normalized.text, word_starts
                    );
                }
            }
        }
    }

    proptest::proptest! {
        /// Large lists search with [`Literals`], whole-word terms only where a word may
        /// start: the same hits as the automaton, which looks everywhere.
        #[test]
        fn literals_find_what_the_automaton_finds(
            terms in proptest::collection::vec(("[ab1][ab1 .]{0,8}", proptest::bool::ANY), 1..12),
            text in "[a-bA1@ .\\-_!\u{200b}\u{301}а]{0,40}",
        ) {
            let mut csv = String::from("rule_id,term,category,whole_word\n");
            for (i, (term, whole)) in terms.iter().enumerate() {
                csv += &format!("r{i},{term},x,{whole}\n");
            }
            let list = KeywordList::parse("kw", Path::new("kw.csv"), csv.as_bytes()).unwrap();
            let [automaton, literals] = both(list);
            proptest::prop_assert_eq!(found(&automaton, &text), found(&literals, &text));
        }
    }

    /// The steps whose bits are set in `bits`, in the `normalize` column's syntax.
    fn steps_of(bits: u16) -> String {
        let names: Vec<&str> = crate::Step::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, s)| s.name())
            .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join("+")
        }
    }
}
