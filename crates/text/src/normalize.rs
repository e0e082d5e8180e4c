//! The normalisation pipeline: disguised text and list terms are brought to one form, and
//! every normalised byte remembers which original characters it came from.

use std::fmt;
use std::sync::OnceLock;

use std::collections::HashMap;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};
use vigil_core::Span;

/// One normalisation step. Steps always run in this order; each can be switched off per rule
/// (the `normalize` column of a keyword list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Drop default-ignorable characters: zero-width space and joiners, soft hyphen, word
    /// joiner, byte-order mark, variation selectors, bidi controls, tags.
    Ignorables,
    /// Unicode compatibility normalisation (NFKC): full-width forms, ligatures, mathematical
    /// alphanumerics, superscripts become their plain letters; a letter and its combining
    /// accent become the precomposed letter.
    Nfkc,
    /// Case folding: lower case, plus `ß` → `ss` and final sigma → sigma.
    Casefold,
    /// Drop combining marks left by decomposition, so `é` matches `e`.
    Diacritics,
    /// Letters of other scripts that look like Latin ones (Cyrillic `е`, Greek `ο`, …) become
    /// the Latin letters: the non-ASCII sources of the Unicode UTS #39 confusables whose
    /// skeleton is ASCII letters or digits.
    Confusables,
    /// Leetspeak: `0`→o, `1`→i, `3`→e, `4` and `@`→a, `5` and `$`→s, `7`→t, `8`→b, `9`→g,
    /// and before a letter or digit `!` and `|`→i, `+`→t. `i` and `l` are one letter (`i`) so
    /// that a `1` or `|` reads as either.
    Leet,
    /// Runs of white space match one space.
    Spaces,
    /// Separators are ignored: white space, `.`, `-`, `_`, `*`, `~`, `,`, `/`, `\`, `·`, `•`
    /// and Unicode dashes, so `s.e.c.r.e.t` and `k e e p` match, and so do words joined
    /// or split differently from the term. Whole-word rules keep their boundaries (see
    /// [`Normalizer::is_word_boundary`]).
    Separators,
    /// Runs of one repeated letter count once (`seeecret` = `secret`; also `keep` = `kep`).
    Collapse,
}

impl Step {
    /// Every step, in pipeline order.
    pub const ALL: [Step; 9] = [
        Step::Ignorables,
        Step::Nfkc,
        Step::Casefold,
        Step::Diacritics,
        Step::Confusables,
        Step::Leet,
        Step::Spaces,
        Step::Separators,
        Step::Collapse,
    ];

    /// The step's name in lists and docs.
    pub fn name(self) -> &'static str {
        match self {
            Step::Ignorables => "ignorables",
            Step::Nfkc => "nfkc",
            Step::Casefold => "casefold",
            Step::Diacritics => "diacritics",
            Step::Confusables => "confusables",
            Step::Leet => "leet",
            Step::Spaces => "spaces",
            Step::Separators => "separators",
            Step::Collapse => "collapse",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of [`Step`]s.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Steps(u16);

impl Steps {
    /// No normalisation: terms match the text byte for byte.
    pub const NONE: Steps = Steps(0);
    /// Every step (the default for keyword rules).
    pub const ALL: Steps = Steps((1 << Step::ALL.len()) - 1);
    /// What regular expressions see by default: ignorables dropped, NFKC, case folded,
    /// white space runs as one space — so `\d`, `\s` and `\b` keep their meaning.
    pub const REGEX_DEFAULT: Steps = Steps(
        Step::Ignorables.bit() | Step::Nfkc.bit() | Step::Casefold.bit() | Step::Spaces.bit(),
    );

    /// Whether `step` is in the set.
    pub fn contains(self, step: Step) -> bool {
        self.0 & step.bit() != 0
    }

    /// The set with `step` added.
    pub fn with(self, step: Step) -> Steps {
        Steps(self.0 | step.bit())
    }

    /// The set without `step`.
    pub fn without(self, step: Step) -> Steps {
        Steps(self.0 & !step.bit())
    }

    /// Parses a `normalize` value: `all`, `none`, or step names separated by `+`, `|`,
    /// commas or spaces; a name prefixed by `-` removes that step (`all -leet`). Empty means
    /// `default`.
    pub fn parse(value: &str, default: Steps) -> Result<Steps, String> {
        let mut steps = None::<Steps>;
        for word in value
            .split(['+', '|', ',', ' '])
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            let (remove, name) = match word.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, word),
            };
            let named = match name.to_ascii_lowercase().as_str() {
                "all" => Steps::ALL,
                "none" => Steps::NONE,
                lower => match Step::ALL.iter().find(|s| s.name() == lower) {
                    Some(step) => Steps::NONE.with(*step),
                    None => {
                        let known: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
                        return Err(format!(
                            "unknown normalisation step `{name}` (known: all, none, {})",
                            known.join(", ")
                        ));
                    }
                },
            };
            let current = steps.unwrap_or(if remove { default } else { Steps::NONE });
            steps = Some(if remove {
                Steps(current.0 & !named.0)
            } else {
                Steps(current.0 | named.0)
            });
        }
        Ok(steps.unwrap_or(default))
    }
}

impl fmt::Display for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Steps::ALL => f.write_str("all"),
            Steps::NONE => f.write_str("none"),
            steps => {
                let names: Vec<&str> = Step::ALL
                    .iter()
                    .filter(|s| steps.contains(**s))
                    .map(|s| s.name())
                    .collect();
                f.write_str(&names.join("+"))
            }
        }
    }
}

impl fmt::Debug for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Steps({self})")
    }
}

/// What the ASCII fast path does with one byte: its low byte is the action (below 0x80,
/// emit that mapped byte), the others flags about it.
type Ascii = u16;
/// White space, folded by [`Step::Spaces`].
const SPACE: u8 = 0x80;
/// Dropped (a separator).
const DROP: u8 = 0x81;
/// A leet symbol whose reading depends on its neighbours: the slow path decides.
const CONTEXT: u8 = 0x82;
/// Not ASCII: the slow path decodes the character.
const NON_ASCII: u8 = 0x83;
/// Flag: the emitted byte is a letter (runs of it collapse).
const LETTER: Ascii = 1 << 10;
/// Flag: the loop branches on the action (`SPACE`, `CONTEXT`, `NON_ASCII`).
const SPECIAL: Ascii = 1 << 11;
/// Flag: the byte opens a word unless it follows a word character it joins (any emitted
/// byte). It and the next flag are read by a shift of one or the other.
const OPENS_APART: Ascii = 1 << 12;
/// Flag: the byte opens a word even right after a word character (emitted, not a letter or
/// digit).
const OPENS_JOINED: Ascii = 1 << 13;
/// Flag: the emitted byte is a letter or digit.
const WORD: Ascii = 1 << 14;
/// Flag: a byte is emitted; the top bit, read by a shift alone.
const EMIT: Ascii = 1 << 15;
/// Most bytes one ASCII run takes: its buffers ([`Run`]) are one more, a power of two.
const ASCII_CHUNK_BYTES: usize = 255;
/// The length of [`Run`]'s buffers.
const RUN_SIZE: usize = ASCII_CHUNK_BYTES + 1;

/// The output of one ASCII run ([`Output::ascii_run`]), before it joins the normalised text:
/// fixed-size, so indexed without bounds checks. Only what a run writes is read back.
struct Run {
    /// Byte `j` of the arrays is normalised byte `base + j - 1`: index 0 stands for the last
    /// byte emitted before the run, where a word start may be recorded (a letter repeated
    /// across a word gap), and is never written in `text` or `starts`.
    text: [u8; RUN_SIZE],
    starts: [u32; RUN_SIZE],
    /// Array indices, one per emitted character or merge that opens a word.
    word_starts: [u32; RUN_SIZE],
}

thread_local! {
    /// One [`Run`] per thread, allocated and zeroed once: zeroing three arrays on the stack at
    /// every run cost more than the run of a short message.
    static RUNS: std::cell::RefCell<Box<Run>> = std::cell::RefCell::new(Box::new(Run {
        text: [0; RUN_SIZE],
        starts: [0; RUN_SIZE],
        word_starts: [0; RUN_SIZE],
    }));
}

/// A compiled set of steps: normalises texts and terms alike.
#[derive(Clone)]
pub struct Normalizer {
    steps: Steps,
    ascii: [Ascii; 256],
}

impl fmt::Debug for Normalizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Normalizer({})", self.steps)
    }
}

/// A normalised text with, for each of its bytes, the span of original characters it came
/// from — so a match in the normalised text maps back to a [`Span`] of the original.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    /// The normalised text the automata run over.
    pub text: String,
    /// Per normalised byte: the first original character it came from.
    start: Vec<u32>,
    /// (normalised byte, end) for the last bytes of characters that stand for more than one
    /// original character (a collapsed run, a composed accent), in byte order; any other
    /// byte ends one past its start.
    ends: Vec<(u32, u32)>,
    /// (normalised byte, start, end) of the later occurrence, for the first bytes of letters
    /// merged across a word gap (`ok keep`): a match starting there starts at the later word.
    splits: Vec<(u32, u32, u32)>,
    /// The normalised characters where a whole-word match may start (see
    /// [`Normalized::word_starts`]), in order.
    word_starts: Vec<u32>,
}

impl Normalized {
    /// The original character span of the normalised byte range `start..end` (non-empty,
    /// on character boundaries, as automata report them), in its narrowest reading: a letter
    /// merged across a word gap counts as its latest occurrence at the start and its first
    /// one at the end.
    pub fn span(&self, start: usize, end: usize) -> Span {
        // Never empty: the first occurrence's start comes before every end.
        let first = self.start[start] as usize;
        if let Some(span) = self.only_reading(start, end) {
            return span;
        }
        self.readings(start, end).next().unwrap_or(Span {
            start: first,
            end: first + 1,
        })
    }

    /// Every reading of the normalised byte range `start..end`, preferred first. Where a
    /// letter was merged across a word gap (`a add`, `chat the`, `a.p.p people`), the range
    /// may start at any occurrence of it (latest first) and end at any (first first).
    /// Whole-word rules take the first reading whose edges are word boundaries.
    pub fn spans(&self, start: usize, end: usize) -> Vec<Span> {
        let mut readings: Vec<Span> = Vec::new();
        for span in self.readings(start, end) {
            if !readings.contains(&span) {
                readings.push(span);
            }
        }
        readings
    }

    /// The reading of the normalised byte range `start..end`, if it has only one: neither
    /// edge is a letter merged across a word gap (most ranges).
    pub(crate) fn only_reading(&self, start: usize, end: usize) -> Option<Span> {
        if self.merged(start) || self.merged(self.char_start(end - 1)) {
            return None;
        }
        let (start, end) = (self.start[start], self.first_end(end - 1));
        (start < end).then_some(Span {
            start: start as usize,
            end: end as usize,
        })
    }

    /// Whether the character starting at byte `at` is a letter merged across a word gap.
    fn merged(&self, at: usize) -> bool {
        !self.splits.is_empty() && !self.split_range(at).is_empty()
    }

    /// [`Normalized::spans`] without allocating, some perhaps repeated.
    pub(crate) fn readings(&self, start: usize, end: usize) -> impl Iterator<Item = Span> + '_ {
        let ends = self.ends(end);
        self.starts(start).flat_map(move |s| {
            ends.clone().filter(move |&e| s < e).map(move |e| Span {
                start: s as usize,
                end: e as usize,
            })
        })
    }

    /// A cheap first check for whole-word rules: whether the normalised range `start..end`
    /// could be a whole word of the original — it starts where a token starts (after a
    /// non-letter, or where original characters were dropped before it) and ends where one
    /// ends, or an edge is a letter merged across a word gap. `false` means it certainly is
    /// not; `true` is confirmed on the original text. Invisible characters left in the text
    /// (combining marks and ignorables, some of them alphabetic, when their steps are off)
    /// count as gaps here, since the full check looks through them.
    pub fn may_be_whole_word(&self, start: usize, end: usize) -> bool {
        let opens =
            |i: usize| i >= self.text.len() || self.word_starts.binary_search(&(i as u32)).is_ok();
        opens(start) && (opens(end) || self.merged(self.char_start(end - 1)))
    }

    /// Where a whole-word match may start, in order: the normalised characters that open a
    /// token (the first; one after a non-letter, or after original characters that were
    /// dropped; a letter or non-letter next to an original non-letter that normalised to
    /// letters, as `℃` → `°c`), and letters merged across a word gap (a match may start at
    /// their later occurrence). Found while normalising, so a large list of whole-word terms
    /// is looked up only there: most positions of text without word gaps are inside words.
    pub(crate) fn word_starts(&self) -> &[u32] {
        &self.word_starts
    }

    /// The first byte of the normalised character holding byte `i`.
    fn char_start(&self, i: usize) -> usize {
        let bytes = self.text.as_bytes();
        (0..=i)
            .rev()
            .find(|&k| bytes[k] & 0xC0 != 0x80)
            .unwrap_or(0)
    }

    /// Where the first occurrence (with its in-word run) of the character whose last byte is
    /// `last` ends in the original.
    fn first_end(&self, last: usize) -> u32 {
        match self
            .ends
            .binary_search_by_key(&(last as u32), |&(at, _)| at)
        {
            Ok(i) => self.ends[i].1,
            Err(_) => self.start[last] + 1,
        }
    }

    /// Most occurrences of one merged letter tried as a match's edge.
    const READINGS: usize = 4;

    /// Original starts of the character at normalised byte `start`: its later occurrences
    /// across word gaps (latest first), then the first.
    fn starts(&self, start: usize) -> impl Iterator<Item = u32> + '_ {
        self.split_range(start)
            .rev()
            .take(Self::READINGS)
            .map(|i| self.splits[i].1)
            .chain(std::iter::once(self.start[start]))
    }

    /// Original ends of the character whose last byte is `end - 1`: where its first
    /// occurrence (with its in-word run) ends, then its later occurrences.
    fn ends(&self, end: usize) -> impl Iterator<Item = u32> + Clone + '_ {
        std::iter::once(self.first_end(end - 1)).chain(
            self.split_range(self.char_start(end - 1))
                .take(Self::READINGS)
                .map(|i| self.splits[i].2),
        )
    }

    /// Indices into `splits` of the merges into the character starting at byte `at`.
    fn split_range(&self, at: usize) -> std::ops::Range<usize> {
        let at = at as u32;
        let from = self.splits.partition_point(|s| s.0 < at);
        let to = self.splits.partition_point(|s| s.0 <= at);
        from..to
    }
}

impl Normalizer {
    /// Compiles `steps`.
    pub fn new(steps: Steps) -> Normalizer {
        if steps.contains(Step::Confusables) {
            // Built now, while lists load, not when the first message needs it.
            confusables();
        }
        let mut ascii = [SPECIAL | Ascii::from(NON_ASCII); 256];
        for (b, class) in ascii.iter_mut().enumerate().take(128) {
            let b = b as u8;
            let c = char::from(b);
            let lower = if steps.contains(Step::Casefold) {
                b.to_ascii_lowercase()
            } else {
                b
            };
            let action = if steps.contains(Step::Separators) && is_separator(c) {
                DROP
            } else if c.is_ascii_whitespace() || b == 0x0b {
                if steps.contains(Step::Spaces) {
                    SPACE
                } else {
                    b
                }
            } else if steps.contains(Step::Leet) && leet_symbol(c).is_some() {
                CONTEXT
            } else if steps.contains(Step::Leet) {
                leet_letter(char::from(lower)) as u8
            } else {
                lower
            };
            *class = Ascii::from(action)
                | match action {
                    SPACE | CONTEXT => SPECIAL,
                    DROP => 0,
                    a if a.is_ascii_alphabetic() => EMIT | OPENS_APART | WORD | LETTER,
                    a if a.is_ascii_digit() => EMIT | OPENS_APART | WORD,
                    _ => EMIT | OPENS_APART | OPENS_JOINED,
                };
        }
        Normalizer { steps, ascii }
    }

    /// The steps this normaliser applies.
    pub fn steps(&self) -> Steps {
        self.steps
    }

    /// Normalises `original`.
    pub fn normalize(&self, original: &str) -> Normalized {
        let mut normalized = Normalized::default();
        self.normalize_into(original, &mut normalized);
        normalized
    }

    /// [`Normalizer::normalize`] into `normalized`, whose buffers it reuses.
    pub fn normalize_into(&self, original: &str, normalized: &mut Normalized) {
        let Normalized {
            text,
            start,
            ends,
            splits,
            word_starts,
        } = std::mem::take(normalized);
        fn reuse<T>(mut buffer: Vec<T>, capacity: usize) -> Vec<T> {
            buffer.clear();
            buffer.reserve(capacity);
            buffer
        }
        let mut out = Output {
            text: reuse(text.into_bytes(), original.len()),
            start: reuse(start, original.len()),
            ends: reuse(ends, 0),
            splits: reuse(splits, 0),
            collapse: self.steps.contains(Step::Collapse),
            in_space: false,
            separated: false,
            word_starts: reuse(word_starts, original.len() / 2),
            previous_word: false,
            previous_end: 0,
            gap: false,
        };
        let bytes = original.as_bytes();
        let mut index = 0u32;
        let mut at = 0;
        while at < bytes.len() {
            let chunk = &bytes[at..bytes.len().min(at + ASCII_CHUNK_BYTES)];
            let (done, stopped) =
                RUNS.with_borrow_mut(|run| out.ascii_run(&self.ascii, run, chunk, index));
            at += done;
            index += done as u32;
            match stopped {
                Stop::End => continue,
                Stop::Context => {
                    let c = char::from(bytes[at]);
                    let next = original[at + 1..].chars().next();
                    out.push(leet_in_context(c, next).unwrap_or(c), index);
                    at += 1;
                }
                Stop::NonAscii => {
                    let c = original[at..].chars().next().unwrap_or_default();
                    self.push_char(c, index, &mut out);
                    at += c.len_utf8();
                }
            }
            index += 1;
        }
        *normalized = out.finish();
    }

    /// The slow path: one non-ASCII character through every enabled step.
    fn push_char(&self, c: char, index: u32, out: &mut Output) {
        if self.steps.contains(Step::Ignorables) && is_default_ignorable(c) {
            return;
        }
        // A non-letter that normalises to letters (`℃` → `°c`) still separates words.
        let gap = !c.is_alphanumeric() && !is_invisible(c);
        out.gap |= gap;
        self.decompose_into(c, index, out);
        out.gap |= gap;
    }

    /// One non-ASCII character through decomposition, marks, look-alikes, folding.
    fn decompose_into(&self, c: char, index: u32, out: &mut Output) {
        let steps = self.steps;
        let mut decomposed = [char::default(); 18];
        let mut len = 0;
        if steps.contains(Step::Nfkc) {
            decompose_compatible(c, |d| {
                if len < decomposed.len() {
                    decomposed[len] = d;
                    len += 1;
                }
            });
        } else {
            decomposed[0] = c;
            len = 1;
        }
        for &d in &decomposed[..len] {
            if is_combining_mark(d) {
                // Dropped (its letter then stands for it too), or composed back onto its
                // letter (so the text is NFKC, which regular expressions are written for).
                if steps.contains(Step::Diacritics) {
                    out.cover(index + 1);
                    continue;
                }
                if steps.contains(Step::Nfkc) && out.compose(d, index + 1) {
                    continue;
                }
            }
            // Look-alikes are looked up before case folding: capital Cyrillic and Greek
            // letters (`Н`, `Τ`) look Latin where their lower-case forms do not.
            if steps.contains(Step::Confusables)
                && !d.is_ascii()
                && let Some(latin) = confusable(d)
            {
                self.push_latin(latin, index, out);
                continue;
            }
            if steps.contains(Step::Casefold) {
                match d {
                    'ß' | 'ẞ' => {
                        self.push_mapped('s', index, out);
                        self.push_mapped('s', index, out);
                    }
                    'ς' => self.push_mapped('σ', index, out),
                    _ => d
                        .to_lowercase()
                        .for_each(|l| self.push_mapped(l, index, out)),
                }
            } else {
                self.push_mapped(d, index, out);
            }
        }
    }

    /// A decomposed, case-folded character through confusables, leet, spaces, separators.
    fn push_mapped(&self, c: char, index: u32, out: &mut Output) {
        let steps = self.steps;
        if c.is_ascii() {
            // Decomposition and folding can produce ASCII (full-width `Ａ` → `a`): it takes
            // the ASCII steps, but a leet symbol reads as itself (its neighbours are unknown).
            match self.ascii[c as usize] as u8 {
                SPACE => out.space(index),
                DROP => out.separator(),
                CONTEXT => out.push(c, index),
                mapped => out.push(char::from(mapped), index),
            }
            return;
        }
        if steps.contains(Step::Separators) && is_separator(c) {
            out.separator();
            return;
        }
        if c.is_whitespace() && steps.contains(Step::Spaces) {
            out.space(index);
            return;
        }
        if steps.contains(Step::Confusables)
            && let Some(latin) = confusable(c)
        {
            self.push_latin(latin, index, out);
            return;
        }
        out.push(c, index);
    }

    /// The Latin reading of a look-alike (lower case: the table is folded).
    fn push_latin(&self, latin: &str, index: u32, out: &mut Output) {
        for l in latin.chars() {
            let l = if self.steps.contains(Step::Leet) {
                leet_letter(l)
            } else {
                l
            };
            out.push(l, index);
        }
    }

    /// Whether a whole-word match may start or end at original character `inside` (its first
    /// or last), given the character `outside` it (`None` at the text's edges): the match
    /// does not continue a word there. Invisible characters (default-ignorables, combining
    /// marks) belong to the letter next to them.
    ///
    /// Word characters are letters, digits and `_`, and under [`Step::Leet`] the leet symbols
    /// that read as letters there. Under [`Step::Separators`], a one-letter token joined by
    /// `.`, `-`, `_`, `*` (not white space) to another one-letter token continues a
    /// spelled-out word, so `sex` does not fire inside `s.e.x.y`.
    pub fn is_word_boundary(&self, chars: &[char], inside: usize, outside: Option<usize>) -> bool {
        self.is_word_boundary_in(chars, inside, outside)
    }

    /// [`Normalizer::is_word_boundary`] over any original text's characters.
    pub(crate) fn is_word_boundary_in(
        &self,
        chars: &(impl CharsAt + ?Sized),
        inside: usize,
        outside: Option<usize>,
    ) -> bool {
        let Some(outside) = outside else {
            return true;
        };
        // White space is visible, no word character, and joins no letters: the common case,
        // decided before the rest.
        if chars.at(outside).is_ascii_whitespace() {
            return true;
        }
        let forward = outside > inside;
        // The nearest visible character from `i` (inclusive) in a direction.
        let visible = |mut i: usize, away: bool| -> Option<usize> {
            loop {
                if !is_invisible(chars.at(i)) {
                    return Some(i);
                }
                i = if away == forward {
                    Some(i + 1).filter(|&n| n < chars.count())?
                } else {
                    i.checked_sub(1)?
                };
            }
        };
        let step = |i: usize, away: bool| -> Option<usize> {
            let next = if away == forward {
                Some(i + 1).filter(|&n| n < chars.count())?
            } else {
                i.checked_sub(1)?
            };
            visible(next, away)
        };
        let Some(inside) = visible(inside, false) else {
            return true;
        };
        let Some(outside) = visible(outside, true) else {
            return true;
        };
        if !self.is_word(chars, inside) {
            return true;
        }
        if self.is_word(chars, outside) {
            return false;
        }
        let joins_letters = |c: char| is_separator(c) && !c.is_whitespace();
        if !self.steps.contains(Step::Separators) || !joins_letters(chars.at(outside)) {
            return true;
        }
        let single = |neighbour: Option<usize>| neighbour.is_none_or(|n| !self.is_word(chars, n));
        if !single(step(inside, false)) {
            return true;
        }
        let mut i = outside;
        while joins_letters(chars.at(i)) {
            match step(i, true) {
                Some(next) => i = next,
                None => return true,
            }
        }
        !(self.is_word(chars, i) && single(step(i, true)))
    }

    fn is_word(&self, chars: &(impl CharsAt + ?Sized), i: usize) -> bool {
        let c = chars.at(i);
        if c.is_alphanumeric() || c == '_' {
            return true;
        }
        if self.steps.contains(Step::Leet) {
            return matches!(c, '@' | '$')
                || leet_in_context(c, (i + 1 < chars.count()).then(|| chars.at(i + 1))).is_some();
        }
        false
    }
}

/// An original text's characters by index, for the word-boundary checks: decoded, or the
/// bytes of an ASCII text, which need no decoding.
pub(crate) trait CharsAt {
    /// How many characters there are.
    fn count(&self) -> usize;
    /// Character `i` (below [`CharsAt::count`]).
    fn at(&self, i: usize) -> char;
}

impl CharsAt for [char] {
    fn count(&self) -> usize {
        self.len()
    }

    fn at(&self, i: usize) -> char {
        self[i]
    }
}

/// The bytes of an ASCII text: each is one character.
pub(crate) struct AsciiText<'t>(&'t [u8]);

impl<'t> AsciiText<'t> {
    /// `text`'s bytes, if it is ASCII.
    pub(crate) fn new(text: &'t str) -> Option<AsciiText<'t>> {
        text.is_ascii().then_some(AsciiText(text.as_bytes()))
    }
}

impl CharsAt for AsciiText<'_> {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn at(&self, i: usize) -> char {
        char::from(self.0[i])
    }
}

/// Why [`Output::ascii_run`] stopped.
enum Stop {
    /// The end of its input.
    End,
    Context,
    NonAscii,
}

/// The normalised text being built.
struct Output {
    text: Vec<u8>,
    start: Vec<u32>,
    ends: Vec<(u32, u32)>,
    splits: Vec<(u32, u32, u32)>,
    collapse: bool,
    in_space: bool,
    /// A separator was dropped since the last character emitted.
    separated: bool,
    word_starts: Vec<u32>,
    /// Whether the last character emitted is a word character.
    previous_word: bool,
    /// Where the last character emitted (with its in-word run) ends in the original.
    previous_end: u32,
    /// The next character emitted opens a word (an original non-letter stood before it).
    gap: bool,
}

impl Output {
    /// The hot path: ASCII bytes (at most [`ASCII_CHUNK_BYTES`]) that map to one byte each
    /// (or to nothing), from original character `index` on. Returns how many bytes it
    /// consumed and why it stopped.
    ///
    /// Not inlined: in its caller, its loop's values no longer fitted in registers.
    #[inline(never)]
    fn ascii_run(
        &mut self,
        table: &[Ascii; 256],
        run: &mut Run,
        bytes: &[u8],
        index: u32,
    ) -> (usize, Stop) {
        // This loop is most of the time of normalising a plain message (30 instructions a
        // byte). Its output goes to the fixed-size arrays of `run`, indexed without bounds
        // checks, and its inner loop carries four values from byte to byte, so that they stay
        // in registers: the rest of the state is derived where the rare cases need it.
        debug_assert!(bytes.len() <= ASCII_CHUNK_BYTES);
        const MASK: usize = RUN_SIZE - 1;
        let base = self.text.len();
        let Run {
            text,
            starts,
            word_starts,
        } = run;
        let (mut n, mut k) = (1usize, 0usize);
        // 1 if the last byte emitted is a word character right before this one: then a word
        // character here continues its word.
        let mut joined = usize::from(self.previous_word && self.previous_end == index && !self.gap);
        // Where the last in-word repeat merged into the last character ends.
        let mut merged_end = 0;
        // What the byte before `i` was (for `i == 0`, the state before the run).
        let dropped = |i: usize| match i.checked_sub(1) {
            Some(p) => table[bytes[p] as usize] as u8 == DROP,
            None => self.separated,
        };
        let spaced = |i: usize| match i.checked_sub(1) {
            Some(p) => table[bytes[p] as usize] as u8 == SPACE,
            None => self.in_space,
        };
        let mut stop = (bytes.len(), Stop::End);
        // The class of the last byte emitted (its letter flag, and the byte), apart from
        // `text`: reading it back from there would make each byte wait on the store before it.
        let previous = self.text.last().copied().unwrap_or(0);
        let mut last = Ascii::from(previous)
            | match previous.is_ascii_alphabetic() {
                true => LETTER,
                false => 0,
            };
        // Emits a byte of `class`, read at `i`: written at the running lengths, which then
        // advance or not, without branches (whether a byte is a letter or a dropped separator
        // is too irregular to predict).
        macro_rules! emit {
            ($class:expr, $i:expr) => {{
                let class: Ascii = $class;
                text[n & MASK] = class as u8;
                starts[n & MASK] = index + $i as u32;
                word_starts[k & MASK] = n as u32;
                // A character opens a word unless it is a word character joined to the last.
                let opens = OPENS_APART.trailing_zeros() as usize + joined;
                k += usize::from(class >> opens) & 1;
                let emit = usize::from(class >> EMIT.trailing_zeros());
                n += emit;
                joined = usize::from(class >> WORD.trailing_zeros()) & 1;
                if emit != 0 {
                    last = class;
                }
            }};
        }
        let mut i = 0;
        loop {
            // The common bytes, in a loop of their own, which keeps its few values in
            // registers: none special, none a letter repeating the last.
            while let Some(&b) = bytes.get(i) {
                let class = table[b as usize];
                // The same byte as the last, both letters or both not: the first is rare, and
                // the second rarer, but the loop below tells them apart.
                let same = (class ^ last) & (LETTER | 0xFF) == 0;
                if class & SPECIAL != 0 || same {
                    break;
                }
                emit!(class, i);
                i += 1;
            }
            let Some(&b) = bytes.get(i) else { break };
            let class = table[b as usize];
            let at = index + i as u32;
            if class & SPECIAL != 0 {
                match class as u8 {
                    CONTEXT => {
                        stop = (i, Stop::Context);
                        break;
                    }
                    NON_ASCII => {
                        stop = (i, Stop::NonAscii);
                        break;
                    }
                    _ if spaced(i) => {}
                    _ => {
                        word_starts[k & MASK] = n as u32;
                        k += 1;
                        text[n & MASK] = b' ';
                        starts[n & MASK] = at;
                        n += 1;
                        joined = 0;
                        last = Ascii::from(b' ');
                    }
                }
            } else if class & LETTER != 0 && self.collapse && !spaced(i) {
                // A letter repeating the last.
                let first = base + n - 2;
                let separated = dropped(i) && base + n > 1;
                if merge(
                    &mut self.ends,
                    &mut self.splits,
                    (first, first),
                    separated,
                    at,
                ) {
                    merged_end = at + 1;
                    // A word gap before the letter still opens the next character.
                    joined = usize::from(n > 1 || !self.gap);
                } else {
                    let latest = match k {
                        0 => self.word_starts.last() == Some(&(first as u32)),
                        k => word_starts[(k - 1) & MASK] == (n - 1) as u32,
                    };
                    if !latest {
                        word_starts[k & MASK] = (n - 1) as u32;
                        k += 1;
                    }
                }
            } else {
                emit!(class, i);
            }
            i += 1;
        }
        let (done, _) = stop;
        self.text.extend_from_slice(&text[1..n]);
        self.start.extend_from_slice(&starts[1..n]);
        self.word_starts.extend(
            word_starts[..k]
                .iter()
                .map(|&j| (base + j as usize - 1) as u32),
        );
        self.in_space = spaced(done);
        self.separated = dropped(done) && base + n > 1;
        if n > 1 {
            self.previous_word = text[n - 1].is_ascii_alphanumeric();
        }
        let emitted_end = if n > 1 {
            starts[n - 1] + 1
        } else {
            self.previous_end
        };
        self.previous_end = emitted_end.max(merged_end);
        self.gap &= n == 1;
        stop
    }

    /// A character is emitted at the next byte: it may open a word (see
    /// [`Normalized::word_starts`]).
    fn open(&mut self, word: bool, at: u32) {
        if !(word && self.previous_word && at == self.previous_end) || self.gap {
            self.word_starts.push(self.text.len() as u32);
        }
        self.previous_word = word;
        self.previous_end = at + 1;
        self.gap = false;
    }

    /// Emits `c`, read from original character `at`.
    fn push(&mut self, c: char, at: u32) {
        let mut buffer = [0u8; 4];
        let encoded = c.encode_utf8(&mut buffer).as_bytes();
        if self.collapse && c.is_alphabetic() && !self.in_space && self.text.ends_with(encoded) {
            let bytes = (self.text.len() - encoded.len(), self.text.len() - 1);
            if merge(&mut self.ends, &mut self.splits, bytes, self.separated, at) {
                self.previous_end = at + 1;
            } else if self.word_starts.last() != Some(&(bytes.0 as u32)) {
                self.word_starts.push(bytes.0 as u32);
            }
            self.separated = false;
            return;
        }
        self.open(c.is_alphanumeric() && !is_invisible(c), at);
        self.in_space = false;
        self.separated = false;
        self.text.extend_from_slice(encoded);
        self.start.extend(std::iter::repeat_n(at, encoded.len()));
    }

    /// A dropped mark at original character `end - 1` belongs to the last letter.
    fn cover(&mut self, end: u32) {
        if self.text.is_empty() || self.in_space || self.separated {
            return;
        }
        let last = (self.text.len() - 1) as u32;
        match self.ends.last_mut() {
            Some(e) if e.0 == last => e.1 = e.1.max(end),
            _ => self.ends.push((last, end)),
        }
        self.previous_end = self.previous_end.max(end);
    }

    /// Composes `mark` onto the last character when Unicode has a precomposed form.
    fn compose(&mut self, mark: char, end: u32) -> bool {
        if self.in_space || self.separated {
            return false;
        }
        // The last character starts at the last byte that is not a UTF-8 continuation byte.
        let Some(at) = self.text.iter().rposition(|&b| b & 0xC0 != 0x80) else {
            return false;
        };
        let Some(last) = std::str::from_utf8(&self.text[at..])
            .ok()
            .and_then(|tail| tail.chars().next())
        else {
            return false;
        };
        let Some(composed) = unicode_normalization::char::compose(last, mark) else {
            return false;
        };
        let start = self.start[at];
        if self.ends.last().is_some_and(|e| e.0 as usize >= at) {
            self.ends.pop();
        }
        self.text.truncate(at);
        self.start.truncate(at);
        let mut buffer = [0u8; 4];
        let encoded = composed.encode_utf8(&mut buffer).as_bytes();
        self.text.extend_from_slice(encoded);
        self.start.extend(std::iter::repeat_n(start, encoded.len()));
        self.ends.push(((self.text.len() - 1) as u32, end));
        self.previous_word = composed.is_alphanumeric() && !is_invisible(composed);
        self.previous_end = end;
        true
    }

    /// A separator was dropped.
    fn separator(&mut self) {
        self.separated = !self.text.is_empty();
    }

    fn space(&mut self, index: u32) {
        if self.in_space {
            return;
        }
        self.in_space = true;
        self.open(false, index);
        self.text.push(b' ');
        self.start.push(index);
    }

    fn finish(self) -> Normalized {
        Normalized {
            text: String::from_utf8(self.text).expect("only whole characters are pushed"),
            start: self.start,
            ends: self.ends,
            splits: self.splits,
            word_starts: self.word_starts,
        }
    }
}

/// Folds a repeat (original character `at`) of the last character, at normalised bytes
/// `first..=last`, into it. Inside a word the character now stands for the whole run, and
/// `true` is returned. Across separators (`ok keep`, `s e e`, `a add`) it stands for either
/// occurrence: a match starting there may start at the later one (so the caller counts it
/// a word start), a match ending there may end at either (see [`Normalized::spans`]).
fn merge(
    ends: &mut Vec<(u32, u32)>,
    splits: &mut Vec<(u32, u32, u32)>,
    (first, last): (usize, usize),
    separated: bool,
    at: u32,
) -> bool {
    if separated {
        splits.push((first as u32, at, at + 1));
        return false;
    }
    match ends.last_mut() {
        Some(e) if e.0 == last as u32 => e.1 = at + 1,
        _ => ends.push((last as u32, at + 1)),
    }
    true
}

/// Characters that do not show on their own: they belong to the letter next to them.
fn is_invisible(c: char) -> bool {
    !c.is_ascii() && (is_default_ignorable(c) || is_combining_mark(c))
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '.' | '-' | '_' | '*' | '~' | ',' | '/' | '\\' | '·' | '•' | '‧' | '∙' | '⋅'
        )
        || ('\u{2010}'..='\u{2015}').contains(&c)
        || c == '\u{2212}'
}

/// The letter a leet digit, letter or `@`/`$` stands for (identity otherwise).
fn leet_letter(c: char) -> char {
    match c {
        '0' => 'o',
        '1' | 'l' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        '9' => 'g',
        c => c,
    }
}

/// The letter a leet symbol that is also common punctuation can stand for.
fn leet_symbol(c: char) -> Option<char> {
    match c {
        '!' | '|' => Some('i'),
        '+' => Some('t'),
        _ => None,
    }
}

/// `!`, `|` and `+` read as letters only before a letter or digit (`h!m`, `+his`), so that
/// `hello!` keeps its exclamation mark and `c++` its pluses.
fn leet_in_context(c: char, next: Option<char>) -> Option<char> {
    let letter = leet_symbol(c)?;
    next.is_some_and(|n| n.is_alphanumeric() || matches!(n, '@' | '$'))
        .then_some(letter)
}

/// Unicode 15 `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt).
fn is_default_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// The Latin letters a non-ASCII character is confusable with (UTS #39 skeleton: Cyrillic
/// `а` → `a`), if any: what the `confusables` step maps it to, for other crates that see
/// through look-alike letters (host names in links).
pub fn latin_lookalike(c: char) -> Option<&'static str> {
    confusable(c)
}

/// The Latin reading of a non-ASCII confusable, from the UTS #39 skeleton.
fn confusable(c: char) -> Option<&'static str> {
    confusables().get(&c).map(|s| &**s)
}

/// The look-alike table, built on first use (about 10 ms).
fn confusables() -> &'static HashMap<char, Box<str>> {
    static TABLE: OnceLock<HashMap<char, Box<str>>> = OnceLock::new();
    TABLE.get_or_init(build_confusables)
}

/// Every non-ASCII character (outside the CJK and Hangul blocks, which have no Latin
/// look-alikes) whose UTS #39 skeleton, case-folded and without marks, is 1–3 ASCII letters
/// or digits.
fn build_confusables() -> HashMap<char, Box<str>> {
    let mut table = HashMap::new();
    let ranges = [0x80u32..0x3400, 0xA000..0xAC00, 0xF900..0x20000];
    for c in ranges.into_iter().flatten().filter_map(char::from_u32) {
        if c.is_control() || c.is_whitespace() {
            continue;
        }
        let mut buffer = [0u8; 4];
        let skeleton: String =
            unicode_security::confusable_detection::skeleton(c.encode_utf8(&mut buffer))
                .filter(|s| !is_combining_mark(*s))
                .flat_map(char::to_lowercase)
                .collect();
        if (1..=3).contains(&skeleton.len()) && skeleton.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            table.insert(c, skeleton.into_boxed_str());
        }
    }
    table
}

#[cfg(test)]
mod tests;
