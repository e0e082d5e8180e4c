//! `vigil_text::Normalizer::normalize` over arbitrary UTF-8 with arbitrary steps, and a small
//! fixed `KeywordMatcher` over the same text. The first two bytes are the steps (the low nine
//! bits of a little-endian `u16`, in `Step::ALL` order: nine steps do not fit one byte); the
//! rest is the text (inputs that are not UTF-8 are skipped).
//!
//! Never panics. For every character of the normalised text, every reading
//! (`Normalized::spans`) and the preferred one (`Normalized::span`) is a non-empty span of
//! the original's characters; the earliest original character behind each normalised one
//! never goes backwards; `may_be_whole_word` never rejects a range that is a whole word of
//! the original (its documented promise); normalising into a buffer a previous input left
//! behind gives the same as normalising afresh; every match the matcher reports lies inside
//! the text, in order, and the hashed-window literal matcher reports exactly what the
//! automata report.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use vigil_core::Span;
use vigil_fuzz::{char_bounds, check_matches, check_span};
use vigil_text::{KeywordList, KeywordMatcher, Normalized, Normalizer, Step, Steps, TermSearch};

/// Longest run of normalised characters tried as one whole-word range (the check is
/// quadratic in it).
const WORD_WINDOW: usize = 24;

/// Terms that exercise each step (leetspeak, separators, look-alikes, accents, runs), in
/// whole-word and substring rules with different normalisations, an allow rule, and a rule
/// file with a regular expression and a co-occurrence rule.
const KEYWORDS: &str = "rule_id,term,category,whole_word,severity,normalize,kind\n\
    k1,keep this a secret,grooming,true,high,,\n\
    k2,sext,sexual,true,,,\n\
    k3,sec,sub,false,low,,\n\
    k4,secretary,allow,false,,,allow\n\
    k5,café,accent,true,,nfkc+casefold,\n\
    k6,a a,spaced,true,,all -collapse,\n\
    k7,ſt,ligature,false,,none,\n\
    k8,h!m,leet,true,,leet+casefold,\n\
    k9,ß,fold,false,,casefold,\n";

const RULES: &str = r#"
[[regex]]
id = "r1"
pattern = '\b(?:i\s*am|im)\s+1[0-7]\b'
category = "age"

[[regex]]
id = "r2"
pattern = '\d{3}[ .-]?\d{4}'
category = "phone"
normalize = "all"

[[cooccurrence]]
id = "c1"
category = "meeting"
within_words = 5
groups = [["how old", "age"], ["meet", "come over"]]
"#;

/// The fixed lists compiled with each term search: automata (what `build` picks for lists
/// this small) and the literal matcher.
fn matchers() -> &'static [KeywordMatcher; 2] {
    static MATCHERS: OnceLock<[KeywordMatcher; 2]> = OnceLock::new();
    MATCHERS.get_or_init(|| {
        let build = |search| {
            let lists = vec![
                KeywordList::parse("kw", "kw.csv".as_ref(), KEYWORDS.as_bytes()).expect("keywords"),
                KeywordList::parse("rules", "rules.toml".as_ref(), RULES.as_bytes())
                    .expect("rules"),
            ];
            KeywordMatcher::build_with(lists, search).expect("the fixed lists compile")
        };
        [build(TermSearch::Automaton), build(TermSearch::Literals)]
    })
}

/// The buffer `normalize_into` reuses from input to input.
static REUSED: Mutex<Option<Normalized>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let [low, high, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let bits = u16::from_le_bytes([*low, *high]);
    let steps = Step::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .fold(Steps::NONE, |steps, (_, step)| steps.with(*step));
    let normalizer = Normalizer::new(steps);
    let normalized = normalizer.normalize(text);
    {
        let mut reused = REUSED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let reused = reused.get_or_insert_with(Normalized::default);
        normalizer.normalize_into(text, reused);
        assert_eq!(*reused, normalized, "normalize_into a used buffer differs");
    }
    let original = char_bounds(text);
    let chars: Vec<char> = text.chars().collect();

    // Normalised character boundaries, then the end.
    let bounds = char_bounds(&normalized.text);
    let mut earliest = 0;
    for pair in bounds.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let readings = normalized.spans(start, end);
        for span in &readings {
            check_span(text, &original, *span, "reading");
        }
        let span = normalized.span(start, end);
        check_span(text, &original, span, "span");
        if let Some(first) = readings.first() {
            assert_eq!(span, *first, "span() is not the preferred reading");
        }
        // Every character comes from at or after where the previous one's first reading
        // started: the normalised text keeps the original's order.
        if let Some(first) = readings.iter().map(|s| s.start).min() {
            assert!(
                first >= earliest,
                "normalised byte {start} comes from character {first}, before {earliest}"
            );
            earliest = first;
        }
    }

    // The cheap whole-word check against the full one, as the matcher uses them: ranges are
    // trimmed terms (no space at either end).
    for (a, &start) in bounds.iter().enumerate() {
        for &end in bounds.iter().skip(a + 1).take(WORD_WINDOW) {
            let found = &normalized.text[start..end];
            if found.starts_with(' ') || found.ends_with(' ') {
                continue;
            }
            let cheap = normalized.may_be_whole_word(start, end);
            let whole = normalized
                .spans(start, end)
                .into_iter()
                .find(|s| on_word_boundaries(&normalizer, &chars, *s));
            assert!(
                cheap || whole.is_none(),
                "may_be_whole_word rejects [{start}, {end}) of {:?}, whole word {whole:?}",
                normalized.text
            );
        }
    }

    let [automata, literals] = matchers();
    check_matches(automata, text);
    assert_eq!(
        literals.find(text),
        automata.find(text),
        "the literal matcher and the automata disagree"
    );
});

/// Whether `span` of `chars` is a whole word under `normalizer` (as the matcher decides).
fn on_word_boundaries(normalizer: &Normalizer, chars: &[char], span: Span) -> bool {
    let after = (span.end < chars.len()).then_some(span.end);
    normalizer.is_word_boundary(chars, span.start, span.start.checked_sub(1))
        && normalizer.is_word_boundary(chars, span.end - 1, after)
}
