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

/// What the ASCII fast path does with one byte: below 0x80, emit that (mapped) byte.
type Ascii = u8;
/// White space, folded by [`Step::Spaces`].
const SPACE: Ascii = 0x80;
/// Dropped (a separator).
const DROP: Ascii = 0x81;
/// A leet symbol whose reading depends on its neighbours: the slow path decides.
const CONTEXT: Ascii = 0x82;

/// A compiled set of steps: normalises texts and terms alike.
#[derive(Clone)]
pub struct Normalizer {
    steps: Steps,
    ascii: [Ascii; 128],
}

impl fmt::Debug for Normalizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Normalizer({})", self.steps)
    }
}

/// A normalised text with, for each of its bytes, the span of original characters it came
/// from — so a match in the normalised text maps back to a [`Span`] of the original.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl Normalized {
    /// The original character span of the normalised byte range `start..end` (non-empty,
    /// on character boundaries, as automata report them).
    pub fn span(&self, start: usize, end: usize) -> Span {
        let last = (end - 1) as u32;
        let stop = match self.ends.binary_search_by_key(&last, |&(at, _)| at) {
            Ok(i) => self.ends[i].1,
            Err(_) => self.start[end - 1] + 1,
        };
        let (first, stop) = match self.splits.binary_search_by_key(&(start as u32), |s| s.0) {
            // A match of just the merged letter is its later occurrence.
            Ok(i) if stop <= self.splits[i].1 => (self.splits[i].1, self.splits[i].2),
            Ok(i) => (self.splits[i].1, stop),
            Err(_) => (self.start[start], stop),
        };
        Span {
            start: first as usize,
            end: stop as usize,
        }
    }
}

impl Normalizer {
    /// Compiles `steps`.
    pub fn new(steps: Steps) -> Normalizer {
        let mut ascii = [DROP; 128];
        for (b, action) in ascii.iter_mut().enumerate() {
            let b = b as u8;
            let c = char::from(b);
            let lower = if steps.contains(Step::Casefold) {
                b.to_ascii_lowercase()
            } else {
                b
            };
            *action = if steps.contains(Step::Separators) && is_separator(c) {
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
        }
        Normalizer { steps, ascii }
    }

    /// The steps this normaliser applies.
    pub fn steps(&self) -> Steps {
        self.steps
    }

    /// Normalises `original`.
    pub fn normalize(&self, original: &str) -> Normalized {
        let mut out = Output {
            text: Vec::with_capacity(original.len()),
            start: Vec::with_capacity(original.len()),
            ends: Vec::new(),
            splits: Vec::new(),
            collapse: self.steps.contains(Step::Collapse),
            in_space: false,
            token_len: 0,
            separated_after: None,
        };
        let bytes = original.as_bytes();
        let mut index = 0u32;
        let mut at = 0;
        while at < bytes.len() {
            let (done, stopped) = out.ascii_run(&self.ascii, &bytes[at..], index);
            at += done;
            index += done as u32;
            match stopped {
                Stop::End => break,
                Stop::Context => {
                    let c = char::from(bytes[at]);
                    let next = original[at + 1..].chars().next();
                    out.push(leet_in_context(c, next).unwrap_or(c), index, index + 1);
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
        out.finish()
    }

    /// The slow path: one non-ASCII character through every enabled step.
    fn push_char(&self, c: char, index: u32, out: &mut Output) {
        let steps = self.steps;
        if steps.contains(Step::Ignorables) && is_default_ignorable(c) {
            return;
        }
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
                // Dropped, or composed back onto its letter (so the text is NFKC, which is
                // what regular expressions are written against).
                if steps.contains(Step::Diacritics)
                    || (steps.contains(Step::Nfkc) && out.compose(d, index + 1))
                {
                    continue;
                }
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
            match self.ascii[c as usize] {
                SPACE => out.space(index),
                DROP => out.separator(),
                CONTEXT => out.push(c, index, index + 1),
                mapped => out.push(char::from(mapped), index, index + 1),
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
        if steps.contains(Step::Confusables) {
            if let Some(latin) = confusable(c) {
                for l in latin.chars() {
                    let l = if steps.contains(Step::Leet) {
                        leet_letter(l)
                    } else {
                        l
                    };
                    out.push(l, index, index + 1);
                }
                return;
            }
        }
        out.push(c, index, index + 1);
    }

    /// Whether a match may start (`before` is the original character ahead of it) or end
    /// (`after` follows it) here for a whole-word rule: the neighbouring original character
    /// is not part of the word. `chars` is the original text; `at` the index of the
    /// neighbour (`None` at the text's edges).
    ///
    /// Word characters are letters, digits and `_`, and under [`Step::Leet`] the leet symbols
    /// that read as letters there. Under [`Step::Separators`], a single letter followed (or
    /// preceded) by separators and another single letter continues a spelled-out word, so
    /// `sex` does not fire inside `s.e.x.y`.
    pub fn is_word_boundary(&self, chars: &[char], inside: usize, outside: Option<usize>) -> bool {
        let Some(outside) = outside else {
            return true;
        };
        if !self.is_word(chars, inside) {
            return true;
        }
        if self.is_word(chars, outside) {
            return false;
        }
        if !self.steps.contains(Step::Separators) || !is_separator(chars[outside]) {
            return true;
        }
        // Neighbours of `i` away from the match and back towards it.
        let forward = outside > inside;
        let away = |i: usize| match forward {
            true => Some(i + 1).filter(|&n| n < chars.len()),
            false => i.checked_sub(1),
        };
        let toward = |i: usize| match forward {
            true => i.checked_sub(1),
            false => Some(i + 1).filter(|&n| n < chars.len()),
        };
        let single = |neighbour: Option<usize>| neighbour.is_none_or(|n| !self.is_word(chars, n));
        if !single(toward(inside)) {
            return true;
        }
        let mut i = outside;
        while is_separator(chars[i]) {
            match away(i) {
                Some(next) => i = next,
                None => return true,
            }
        }
        !(self.is_word(chars, i) && single(away(i)))
    }

    fn is_word(&self, chars: &[char], i: usize) -> bool {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            return true;
        }
        if self.steps.contains(Step::Leet) {
            return matches!(c, '@' | '$')
                || leet_in_context(c, chars.get(i + 1).copied()).is_some();
        }
        false
    }
}

/// Why [`Output::ascii_run`] stopped.
enum Stop {
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
    /// Characters emitted since the last separator.
    token_len: usize,
    /// Length of the token before the last separator(s), when a separator came since the
    /// last character emitted.
    separated_after: Option<usize>,
}

impl Output {
    /// The hot path: ASCII bytes that map to one byte each (or to nothing), from original
    /// character `index` on. Returns how many bytes it consumed and why it stopped.
    fn ascii_run(&mut self, table: &[Ascii; 128], bytes: &[u8], index: u32) -> (usize, Stop) {
        // The state lives in locals here (written back on exit), which keeps the loop in
        // registers: this loop is most of the time of scanning a plain message.
        let mut last = self.text.last().copied().unwrap_or(0);
        let mut in_space = self.in_space;
        let mut token_len = self.token_len;
        let mut separated_after = self.separated_after;
        let mut stop = (bytes.len(), Stop::End);
        for (i, &b) in bytes.iter().enumerate() {
            if b >= 0x80 {
                stop = (i, Stop::NonAscii);
                break;
            }
            let at = index + i as u32;
            match table[b as usize] {
                SPACE => {
                    if !in_space {
                        in_space = true;
                        last = b' ';
                        self.text.push(b' ');
                        self.start.push(at);
                    }
                }
                DROP => {
                    if separated_after.is_none() && token_len > 0 {
                        separated_after = Some(token_len);
                    }
                }
                CONTEXT => {
                    stop = (i, Stop::Context);
                    break;
                }
                mapped => {
                    if self.collapse && mapped == last && mapped.is_ascii_alphabetic() && !in_space
                    {
                        let pos = self.text.len() - 1;
                        if let Some(before) = separated_after.take() {
                            token_len = 1;
                            self.merge(pos, Some(before), at, at + 1);
                        } else {
                            self.merge(pos, None, at, at + 1);
                        }
                    } else {
                        in_space = false;
                        if separated_after.take().is_some() {
                            token_len = 0;
                        }
                        token_len += 1;
                        last = mapped;
                        self.text.push(mapped);
                        self.start.push(at);
                    }
                }
            }
        }
        self.in_space = in_space;
        self.token_len = token_len;
        self.separated_after = separated_after;
        stop
    }

    /// Whether `b` repeats the last letter and folds into it.
    #[inline]
    fn collapses(&self, b: u8) -> bool {
        self.collapse && self.text.last() == Some(&b) && b.is_ascii_alphabetic() && !self.in_space
    }

    /// Folds a repeat of the character at normalised byte `pos` (its first byte), from
    /// original characters `start..end`, into it. Inside a word, or across separators in a
    /// spelled-out word (the token before them was one letter: `s e e`), the character now
    /// stands for the whole run. Where one word ends with the letter the next starts with
    /// (`ok keep`), a match starting at the character starts at the later word and one
    /// ending there ends with the earlier one.
    fn merge(&mut self, pos: usize, separated_after: Option<usize>, start: u32, end: u32) {
        match separated_after {
            Some(before) if before > 1 => self.splits.push((pos as u32, start, end)),
            _ => {
                let last = (self.text.len() - 1) as u32;
                match self.ends.last_mut() {
                    Some(e) if e.0 == last => e.1 = end,
                    _ => self.ends.push((last, end)),
                }
            }
        }
    }

    #[inline]
    fn emit_ascii(&mut self, b: u8, index: u32) {
        self.in_space = false;
        if self.separated_after.take().is_some() {
            self.token_len = 0;
        }
        self.token_len += 1;
        self.text.push(b);
        self.start.push(index);
    }

    /// A repeat of the last character (one original character, `start..end`) folds into it.
    fn merge_last(&mut self, char_len: usize, start: u32, end: u32) {
        let pos = self.text.len() - char_len;
        if let Some(before) = self.separated_after.take() {
            self.token_len = 1;
            self.merge(pos, Some(before), start, end);
        } else {
            self.merge(pos, None, start, end);
        }
    }

    fn push(&mut self, c: char, start: u32, end: u32) {
        if c.is_ascii() && end == start + 1 {
            let b = c as u8;
            if self.collapses(b) {
                self.merge_last(1, start, end);
            } else {
                self.emit_ascii(b, start);
            }
            return;
        }
        let mut buffer = [0u8; 4];
        let encoded = c.encode_utf8(&mut buffer).as_bytes();
        if self.collapse && c.is_alphabetic() && !self.in_space && self.text.ends_with(encoded) {
            self.merge_last(encoded.len(), start, end);
            return;
        }
        self.in_space = false;
        if self.separated_after.take().is_some() {
            self.token_len = 0;
        }
        self.token_len += 1;
        self.text.extend_from_slice(encoded);
        self.start.extend(std::iter::repeat_n(start, encoded.len()));
        if end != start + 1 {
            self.ends.push(((self.text.len() - 1) as u32, end));
        }
    }

    /// Composes `mark` onto the last character when Unicode has a precomposed form.
    fn compose(&mut self, mark: char, end: u32) -> bool {
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
        true
    }

    /// A separator was dropped.
    fn separator(&mut self) {
        if self.separated_after.is_none() && self.token_len > 0 {
            self.separated_after = Some(self.token_len);
        }
    }

    fn space(&mut self, index: u32) {
        if self.in_space {
            return;
        }
        self.in_space = true;
        self.text.push(b' ');
        self.start.push(index);
    }

    fn finish(self) -> Normalized {
        Normalized {
            text: String::from_utf8(self.text).expect("only whole characters are pushed"),
            start: self.start,
            ends: self.ends,
            splits: self.splits,
        }
    }
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

/// The Latin reading of a non-ASCII confusable, from the UTS #39 skeleton.
fn confusable(c: char) -> Option<&'static str> {
    static TABLE: OnceLock<HashMap<char, Box<str>>> = OnceLock::new();
    TABLE.get_or_init(build_confusables).get(&c).map(|s| &**s)
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
