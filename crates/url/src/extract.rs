//! Finding links in message text, through the disguises people use so that a naive matcher
//! misses them: `hxxp://` and `h**p://`, `[.]`, `(.)`, `(dot)`, ` dot `, spaces around dots,
//! `[:]`, ideographic full stops, zero-width characters and full-width letters (the last two
//! by vigil-text's normalisation, whose offset map gives each link its span in the original
//! text). Links with a scheme are taken whole; bare host names only under a real top-level
//! domain (so `file.txt`, `e.g.` and `Mr.Smith` are not links), never inside an e-mail
//! address; bare IPv4 addresses only with a path or port.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;
use vigil_core::Span;
use vigil_text::{Normalizer, Step, Steps, latin_lookalike};

use crate::CanonicalUrl;

/// A link found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundUrl {
    /// Where it is in the original text (characters, end exclusive).
    pub span: Span,
    /// It, canonical.
    pub url: CanonicalUrl,
    /// Whether it was written in disguise (a rewritten scheme or dot, spaced dots).
    pub disguised: bool,
}

/// Finds links in texts; build once, share across threads.
#[derive(Debug)]
pub struct Extractor {
    normalizer: Normalizer,
}

impl Default for Extractor {
    fn default() -> Self {
        Extractor::new()
    }
}

/// The top-level domains (`tlds.txt`).
fn tlds() -> &'static HashSet<&'static str> {
    static TLDS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    TLDS.get_or_init(|| {
        include_str!("tlds.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect()
    })
}

/// Disguised separators and schemes, each rewritten to what it stands for.
fn disguises() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"(?i)",
            // [.] (.) {.} <.> [dot] (dot) {dot} <dot>, with optional spaces inside and around
            r"(?P<dot>\s*[\[({<]\s*(?:\.|dot)\s*[\])}>]\s*",
            // word `dot` between labels, with spaces around it
            r"|[ \t]+dot[ \t]+",
            // a dot with spaces on both sides (one side only is how sentences end); commas,
            // which prose is full of, are found apart (`Undisguised::of`)
            r"|[ \t]+\.[ \t]+",
            // ideographic and other full stops
            r"|[\x{3002}\x{FF61}\x{2024}])",
            // [:] or (:)
            r"|(?P<colon>[\[(]:[\])])",
            // hxxp, hXXp, h**p, h__p, hxtp, with s or not, before `:`
            r"|(?P<scheme>h(?:xx|\*\*|__|xt|tx)p(?P<s>s?))(?:[:\[(])",
        ))
        .unwrap_or_else(|e| panic!("the disguise pattern is valid: {e}"))
    })
}

/// What a match of [`disguises`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disguise {
    Dot,
    Colon,
    Scheme,
}

impl Disguise {
    fn of(matched: &str) -> Disguise {
        if matched.starts_with(['h', 'H']) {
            Disguise::Scheme
        } else if matched.contains(':') {
            Disguise::Colon
        } else {
            Disguise::Dot
        }
    }
}

/// What a match of [`candidates`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Candidate {
    Schemed,
    Ip,
    Bare,
}

impl Candidate {
    fn of(matched: &str) -> Candidate {
        let host_end = matched.find(['/', ':']).unwrap_or(matched.len());
        if matched[host_end..].starts_with("://") {
            Candidate::Schemed
        } else if matched[..host_end]
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
            && matched[host_end..].starts_with(['/', ':'])
            && matched[..host_end].matches('.').count() == 3
        {
            Candidate::Ip
        } else {
            Candidate::Bare
        }
    }
}

/// Links with a scheme, and bare host names with an optional port and path. `ascii` picks the
/// form for ASCII text, where letters and digits are ASCII ones: the same matches there, from
/// a much smaller automaton (Unicode's letter class is hundreds of byte ranges), which also
/// leaves more of the cache to the keyword pass that runs beside it.
fn candidates(ascii: bool) -> &'static Regex {
    static UNICODE: OnceLock<Regex> = OnceLock::new();
    static ASCII: OnceLock<Regex> = OnceLock::new();
    let (cell, letter, digit, decimal) = if ascii {
        (&ASCII, "a-zA-Z", "0-9", "0-9")
    } else {
        (&UNICODE, r"\p{L}", r"\p{N}", r"\d")
    };
    cell.get_or_init(|| {
        // No Unicode `\b`: it would keep the search off its DFA (tens of microseconds a
        // message instead of a few). Matches start at the first label character anyway
        // (leftmost-first). Only the scheme and `xn--` ignore case: a case-insensitive class
        // of letters would add the Kelvin sign and the long s to the automaton.
        let schemed = r"(?i:https?|ftp)://[^\s<>\x22'`]+";
        let ip = format!(r"[{decimal}]+(?:\.[{decimal}]+){{3}}(?::[0-9]+)?/[^\s<>\x22'`]*");
        let label = format!("[{letter}{digit}](?:[{letter}{digit}-]*[{letter}{digit}])?");
        let tld = format!("(?i:xn--)[a-zA-Z0-9-]+|[{letter}]{{2,}}");
        let bare = format!(r"(?:{label}\.)+(?:{tld})(?::[0-9]+)?(?:/[^\s<>\x22'`]*)?");
        Regex::new(&format!("{schemed}|{ip}|{bare}"))
            .unwrap_or_else(|e| panic!("the candidate pattern is valid: {e}"))
    })
}

/// A text rewritten with its disguises undone, and for each of its bytes the range of the
/// normalised text it came from.
struct Undisguised<'a> {
    text: Cow<'a, str>,
    /// Empty when nothing was rewritten (the usual case: an ASCII text whose links are
    /// written plainly): then each byte comes from the same byte, undisguised and not weak.
    from: Vec<(usize, usize)>,
    disguised: Vec<bool>,
    /// Bytes that stand for a dot written as a word or with spaces around it: ordinary
    /// prose has those too (`the dot is`, `end . Then`).
    weak: Vec<bool>,
}

impl<'a> Undisguised<'a> {
    fn of(normalised: &'a str) -> Undisguised<'a> {
        // `find` rather than captures: the match's text says which disguise it is, and the
        // DFA that finds it is several times faster than group captures. A comma for a dot is
        // found by a byte search instead: as a match of the pattern, each comma of prose cost
        // a step of the search.
        let commas =
            memchr::memchr_iter(b',', normalised.as_bytes()).map(|at| (at..at + 1, Disguise::Dot));
        let written = disguises().find_iter(normalised).map(|m| {
            let kind = Disguise::of(m.as_str());
            // A scheme's match ends with the `:` (or bracket) after it, which stays.
            let whole = match kind {
                Disguise::Scheme => m.start()..m.end() - 1,
                _ => m.range(),
            };
            (whole, kind)
        });
        let rewrites: Vec<(std::ops::Range<usize>, Disguise)> = merge_by_start(written, commas)
            .filter_map(|(whole, kind)| {
                // A dot written out counts only between label characters, and one written
                // as a word or spaced only between tokens that can be host labels (not a
                // URL's path before it, not a scheme after it).
                let prose = kind == Disguise::Dot
                    && (!between_labels(normalised, whole.clone())
                        || (is_weak(&normalised[whole.clone()])
                            && !host_tokens(normalised, whole.clone())));
                (!prose).then_some((whole, kind))
            })
            .collect();
        let mut out = Undisguised {
            text: Cow::Borrowed(normalised),
            from: Vec::new(),
            disguised: Vec::new(),
            weak: Vec::new(),
        };
        if rewrites.is_empty() && normalised.is_ascii() {
            return out;
        }
        let mut text = String::with_capacity(normalised.len());
        out.from.reserve(normalised.len());
        out.disguised.reserve(normalised.len());
        out.weak.reserve(normalised.len());
        let mut copied = 0;
        for (whole, kind) in rewrites {
            out.copy(&mut text, normalised, copied..whole.start);
            let replacement = match kind {
                Disguise::Dot => ".",
                Disguise::Colon => ":",
                Disguise::Scheme if normalised[whole.clone()].ends_with(['s', 'S']) => "https",
                Disguise::Scheme => "http",
            };
            let weak = kind == Disguise::Dot && is_weak(&normalised[whole.clone()]);
            text.push_str(replacement);
            for _ in 0..replacement.len() {
                out.from.push((whole.start, whole.end));
                out.disguised.push(true);
                out.weak.push(weak);
            }
            copied = whole.end;
        }
        out.copy(&mut text, normalised, copied..normalised.len());
        out.text = Cow::Owned(text);
        out
    }

    /// Copies `range` of `source` to `text`; a letter of another script inside a word that
    /// also has Latin letters becomes the Latin letter it looks like (`exаmple` with a
    /// Cyrillic `а`).
    fn copy(&mut self, text: &mut String, source: &str, range: std::ops::Range<usize>) {
        let piece = &source[range.clone()];
        if piece.is_ascii() {
            text.push_str(piece);
            self.from.extend(range.clone().map(|at| (at, at + 1)));
            self.disguised.resize(text.len(), false);
            self.weak.resize(text.len(), false);
            return;
        }
        for (offset, c) in piece.char_indices() {
            let start = range.start + offset;
            let lookalike = (!c.is_ascii() && c.is_alphabetic())
                .then(|| latin_lookalike(c))
                .flatten()
                .filter(|_| in_latin_word(source, start, c.len_utf8()));
            let (written, disguised) = match lookalike {
                Some(latin) => (latin, true),
                None => (&source[start..start + c.len_utf8()], false),
            };
            text.push_str(written);
            for _ in 0..written.len() {
                self.from.push((start, start + c.len_utf8()));
                self.disguised.push(disguised);
                self.weak.push(false);
            }
        }
    }

    /// The normalised byte range bytes `start..end` of this text came from.
    fn source(&self, start: usize, end: usize) -> (usize, usize) {
        if self.from.is_empty() {
            return (start, end);
        }
        (self.from[start].0, self.from[end - 1].1)
    }

    /// Whether any of bytes `start..end` was written in disguise.
    fn is_disguised(&self, start: usize, end: usize) -> bool {
        self.disguised
            .get(start..end)
            .is_some_and(|d| d.contains(&true))
    }

    /// Whether byte `at` stands for a weakly written dot.
    fn is_weak(&self, at: usize) -> bool {
        self.weak.get(at).copied().unwrap_or(false)
    }
}

/// Two sequences of ranges, each in order and never overlapping the other, merged in order.
fn merge_by_start<T>(
    a: impl Iterator<Item = (std::ops::Range<usize>, T)>,
    b: impl Iterator<Item = (std::ops::Range<usize>, T)>,
) -> impl Iterator<Item = (std::ops::Range<usize>, T)> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y.0.start < x.0.start => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

/// Whether a written-out dot is weak: a word or spaces, which prose has too (not brackets
/// or a full stop of another script).
fn is_weak(dot: &str) -> bool {
    !dot.contains(['[', '(', '{', '<', '\u{3002}', '\u{FF61}', '\u{2024}'])
}

/// Whether the tokens on both sides of `range` (up to white space) can be host labels: the
/// left one is not part of a URL (no `/`, `:` or `@`) and the right one starts no URL.
fn host_tokens(text: &str, range: std::ops::Range<usize>) -> bool {
    let left = text[..range.start]
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("");
    let right = text[range.end..]
        .split(char::is_whitespace)
        .next()
        .unwrap_or("");
    !left.contains(['/', ':', '@']) && !right.contains(':')
}

/// Whether the word around the character at `at..at + len` of `text` has an ASCII letter:
/// look-alike letters mixed into a Latin word are a disguise; a word all in another script is
/// not.
fn in_latin_word(text: &str, at: usize, len: usize) -> bool {
    let word = |c: &char| c.is_alphanumeric() || *c == '\u{200b}';
    let before = text[..at].chars().rev().take_while(word);
    let after = text[at + len..].chars().take_while(word);
    before.chain(after).any(|c| c.is_ascii_alphabetic())
}

/// Whether `range` of `text` has a label character (letter or digit) right before and after.
fn between_labels(text: &str, range: std::ops::Range<usize>) -> bool {
    let before = text[..range.start].chars().next_back();
    let after = text[range.end..].chars().next();
    before.is_some_and(char::is_alphanumeric) && after.is_some_and(char::is_alphanumeric)
}

/// Trailing characters that end a sentence rather than a link: `.`, `,`, `;`, `:`, `!`, `?`,
/// quotes, and a `)` or `]` without its opening one in the link.
fn trim_end(link: &str) -> &str {
    let mut end = link.len();
    loop {
        let Some(last) = link[..end].chars().next_back() else {
            return "";
        };
        let unbalanced = |open: char, close: char| {
            last == close && link[..end].matches(open).count() < link[..end].matches(close).count()
        };
        let closing = unbalanced('(', ')') || unbalanced('[', ']');
        if matches!(
            last,
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' | '»' | '…'
        ) || closing
        {
            end -= last.len_utf8();
        } else {
            return &link[..end];
        }
    }
}

impl Extractor {
    /// An extractor; the patterns and the top-level domains are compiled once per process.
    pub fn new() -> Extractor {
        Extractor {
            normalizer: Normalizer::new(Steps::NONE.with(Step::Ignorables).with(Step::Nfkc)),
        }
    }

    /// Every link in `text`, in order, each once.
    pub fn extract(&self, text: &str) -> Vec<FoundUrl> {
        if !may_hold_link(text.as_bytes()) {
            return Vec::new();
        }
        // ASCII text is its own normalisation (ignorables and compatibility forms are not
        // ASCII), with character offsets equal to byte offsets.
        let normalised = (!text.is_ascii()).then(|| self.normalizer.normalize(text));
        let u = Undisguised::of(normalised.as_ref().map_or(text, |n| n.text.as_str()));
        let mut found = Vec::new();
        // A link lies within one token (no pattern matches white space), and only a token
        // with a dot before a label character or a `://` can hold one: the patterns run on
        // those tokens alone, not on the prose between them.
        let ascii = u.text.is_ascii();
        for (token_start, token) in tokens(&u.text) {
            if !may_be_link(token.as_bytes()) {
                continue;
            }
            let haystack = &u.text[..token_start + token.len()];
            let mut at = token_start;
            while let Some(m) = candidates(ascii).find_at(haystack, at) {
                let link = trim_end(m.as_str());
                let bare = Candidate::of(m.as_str()) == Candidate::Bare;
                if bare && u.text[..m.start()].ends_with('@') {
                    // An e-mail address: none of its domain's suffixes is a link either
                    // (`a@mail.example.com` holds no `example.com`).
                    at = m.start() + link.find(['/', ':']).unwrap_or(link.len());
                    continue;
                }
                let range = if bare {
                    bare_host(&u, m.start(), link)
                } else {
                    Some((m.start(), m.start() + link.len()))
                };
                let Some((start, end)) = range.filter(|(s, e)| s < e) else {
                    // Not a host here; one may start at a later label (`the dot http://…`),
                    // never inside this one (`someone@example.com` holds no `xample.com`).
                    let rest = &u.text[m.start()..];
                    let Some((i, c)) = rest
                        .char_indices()
                        .find(|(_, c)| !c.is_alphanumeric() && *c != '-')
                    else {
                        break;
                    };
                    at = m.start() + i + c.len_utf8();
                    continue;
                };
                at = m.end();
                let Ok(url) = CanonicalUrl::parse(&u.text[start..end]) else {
                    continue;
                };
                let (n_start, n_end) = u.source(start, end);
                found.push(FoundUrl {
                    span: match &normalised {
                        Some(n) => n.span(n_start, n_end),
                        None => Span {
                            start: n_start,
                            end: n_end,
                        },
                    },
                    url,
                    disguised: u.is_disguised(start, end),
                });
            }
        }
        found
    }
}

/// The runs of `text` between ASCII white space, with where each starts.
fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.as_bytes()
        .split(u8::is_ascii_whitespace)
        .scan(0, |at, token| {
            let start = *at;
            *at += token.len() + 1;
            Some((start, token.len()))
        })
        .filter(|&(_, len)| len > 0)
        // ASCII white space is never inside a character: the ends are boundaries.
        .map(|(start, len)| (start, &text[start..start + len]))
}

/// Whether a token (with its disguises undone) can hold a link: `://`, or a dot followed by a
/// letter or digit (a host's next label or top-level domain).
fn may_be_link(token: &[u8]) -> bool {
    token
        .windows(2)
        .any(|w| w[0] == b'.' && (w[1].is_ascii_alphanumeric() || w[1] >= 0x80))
        || token.windows(3).any(|w| w == b"://")
}

/// Whether `text` may hold a link at all, by one scan of its bytes: a dot-like character
/// (`.`, `,`, an ideographic or full-width full stop) between a word character and a label
/// that could end a host (two characters or more with a letter: `e.g.`, `U.S.`, `3.14` and
/// `1,000` do not), or inside a token with a `/`; `://` (or `[:]//`); a bracketed dot or
/// `dot`; ` dot ` or ` . ` between words. Most messages have none of these (a sentence's full
/// stop has a space after it) and skip the normalisation and the patterns.
fn may_hold_link(b: &[u8]) -> bool {
    let n = b.len();
    if n < 4 {
        return (0..n).any(|i| link_starts_at(b, i));
    }
    if [0, n - 2, n - 1].into_iter().any(|i| link_starts_at(b, i)) {
        return true;
    }
    // The inner bytes in blocks: a test of each byte with its neighbours that the compiler
    // turns into vector instructions, and the exact test only where it fires.
    const BLOCK: usize = 64;
    let mut flags = [false; BLOCK];
    let mut start = 1;
    while start < n - 2 {
        let end = (start + BLOCK).min(n - 2);
        let windows = b[start - 1..end - 1]
            .iter()
            .zip(&b[start..end])
            .zip(&b[start + 1..end + 1])
            .zip(&b[start + 2..end + 2]);
        for (flag, (((&before, &c), &next), &after_next)) in flags.iter_mut().zip(windows) {
            *flag = may_start_link([before, c, next, after_next]);
        }
        let flagged = &flags[..end - start];
        if flagged.iter().fold(false, |any, &f| any | f)
            && flagged
                .iter()
                .enumerate()
                .any(|(k, &f)| f && link_starts_at(b, start + k))
        {
            return true;
        }
        start = end;
    }
    false
}

/// [`may_hold_link`]'s test of the byte at `i` of `b`.
fn link_starts_at(b: &[u8], i: usize) -> bool {
    let wordy = |c: u8| c.is_ascii_alphanumeric() || c >= 0x80;
    let space = |c: Option<&u8>| matches!(c, Some(b' ' | b'\t'));
    let starts = |at: usize, s: &[u8]| {
        b.get(at..at + s.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(s))
    };
    // Whether the token from `at` on has a `/` (a numeric host's path: `1.2.3.4/x`).
    let slash_after = |at: usize| {
        b.get(at..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| !c.is_ascii_whitespace())
            .any(|c| *c == b'/')
    };
    // Whether the label starting at `at` could end a host: two word bytes or more, one of
    // them a letter (or non-ASCII), or a `/` later in the same token.
    let label_after = |at: usize| {
        let rest = b.get(at..).unwrap_or_default();
        if !rest.first().is_some_and(|c| wordy(*c) || *c == b'/') {
            return false;
        }
        let run = rest.iter().take_while(|c| wordy(**c)).count();
        (run >= 2
            && rest[..run]
                .iter()
                .any(|c| c.is_ascii_alphabetic() || *c >= 0x80))
            || slash_after(at)
    };
    let dot_at = |len: usize| i > 0 && wordy(b[i - 1]) && label_after(i + len);
    // Whether a label of the host from `at` on is a top-level domain, as a bare host's must
    // be (`report.pdf` and `Mr.Smith` are not hosts), or is written in another script (it may
    // be one once undisguised: `example.cоm` with a Cyrillic `о`).
    let tld_after = |at: usize| {
        let rest = b.get(at..).unwrap_or_default();
        let host_len = rest
            .iter()
            .position(|c| !(wordy(*c) || matches!(c, b'-' | b'.')))
            .unwrap_or(rest.len());
        rest[..host_len]
            .split(|c| *c == b'.')
            .any(|label| label.iter().any(|c| *c >= 0x80) || is_tld(label))
    };
    let bracketed = || {
        let mut j = i + 1;
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
        (b.get(j) == Some(&b'.') && matches!(b.get(j + 1), Some(b']' | b')' | b'}' | b'>' | b' ')))
            || starts(j, b"dot")
    };
    // Whether the host around the dot at `i` follows an `@`: an e-mail address's domain.
    let in_email = || {
        let before = b[..i]
            .iter()
            .rev()
            .find(|c| !(wordy(**c) || matches!(c, b'-' | b'.')));
        before == Some(&b'@')
    };
    // Whether the `len` bytes at `i` stand between blanks with a word on either side: a dot
    // or `dot` written between labels (`bad . example`), not an ellipsis (`. . .`) or a word
    // after a comma.
    let spaced = |len: usize| {
        i >= 2
            && space(b.get(i - 1))
            && wordy(b[i - 2])
            && space(b.get(i + len))
            && b.get(i + len + 1).is_some_and(|c| wordy(*c))
    };
    match b[i] {
        b'.' => (dot_at(1) && (tld_after(i + 1) || slash_after(i + 1)) && !in_email()) || spaced(1),
        b',' => dot_at(1),
        b':' => starts(i, b"://") || starts(i, b":]//") || starts(i, b":)//"),
        b'[' | b'(' | b'{' | b'<' => bracketed(),
        b'd' | b'D' => starts(i, b"dot") && spaced(3),
        c if c >= 0xE2 => FULL_STOPS
            .iter()
            .any(|stop| b[i..].starts_with(stop) && dot_at(stop.len())),
        _ => false,
    }
}

/// Whether the byte `c` of `[before, c, next, after_next]` may be where [`link_starts_at`]
/// fires: a superset of it in a few comparisons (no branches, no table), so that the compiler
/// tests a block of bytes at once in vector instructions. A dot or comma before a label
/// character or `/` (anything from `/` up) or between blanks, a colon before anything but a
/// blank, an opening bracket before a blank, punctuation or `d`, ` dot`, and the lead byte of
/// a full stop of another script.
fn may_start_link([before, c, next, after_next]: [u8; 4]) -> bool {
    let blank = |x: u8| x <= b' ';
    let dot = (c == b'.') | (c == b',');
    let bracket = (c == b'[') | (c == b'(') | (c == b'{') | (c == b'<');
    (dot & ((next >= b'/') | (blank(before) & blank(next))))
        | ((c == b':') & !blank(next))
        | (bracket & ((next <= b'.') | ((next | 0x20) == b'd')))
        | (blank(before)
            & ((c | 0x20) == b'd')
            & ((next | 0x20) == b'o')
            & ((after_next | 0x20) == b't'))
        | (c >= 0xE2)
}

/// Full stops of other scripts, as UTF-8: ideographic, full-width, half-width, one-dot leader.
const FULL_STOPS: [&[u8]; 4] = [
    "\u{3002}".as_bytes(),
    "\u{FF0E}".as_bytes(),
    "\u{FF61}".as_bytes(),
    "\u{2024}".as_bytes(),
];

/// Where the bare host mention `link` at `start` really is, or `None`. A host is written in
/// one style: where real dots and weakly written ones (a word, spaces) mix, the labels joined
/// weakly before the first real dot or after the last one are prose (`the dot
/// example.com`), and so is any path after a weak ending. Then it must stand under a real
/// top-level domain (else the longest shorter host that does) and, with a weak dot left, not
/// end in a top-level domain that is also an English word. (E-mail domains never get here.)
fn bare_host(u: &Undisguised, start: usize, link: &str) -> Option<(usize, usize)> {
    let host_len = link.find(['/', ':']).unwrap_or(link.len());
    let dots: Vec<(usize, bool)> = link[..host_len]
        .match_indices('.')
        .map(|(i, _)| (start + i, u.is_weak(start + i)))
        .collect();
    let (mut first, mut end) = (start, start + link.len());
    let strong = |d: &&(usize, bool)| !d.1;
    if let (Some(&(strong_first, _)), Some(&(strong_last, _))) =
        (dots.iter().find(strong), dots.iter().rev().find(strong))
    {
        if let Some(&(dot, _)) = dots
            .iter()
            .rev()
            .find(|(at, weak)| *weak && *at < strong_first)
        {
            first = dot + 1;
        }
        if let Some(&(dot, _)) = dots.iter().find(|(at, weak)| *weak && *at > strong_last) {
            end = dot;
        }
    }
    let host_end = (start + host_len).min(end);
    let host = &u.text[first..host_end];
    let weak = (first..host_end).any(|at| u.is_weak(at));
    // The longest host, from the whole one down to two labels, under a real TLD.
    let mut candidate = host;
    loop {
        if under_tld(candidate, weak) {
            let cut = first + candidate.len();
            return Some((first, if cut == host_end { end } else { cut }));
        }
        let shorter = &candidate[..candidate.rfind('.')?];
        if !shorter.contains('.') {
            return None;
        }
        candidate = shorter;
    }
}

/// Two-letter country domains that are also common English words: under a dot written as a
/// word or with spaces (`the dot is small`, `done . To`), they read as prose, not a host.
const PROSE_TLDS: [&str; 26] = [
    "am", "an", "as", "at", "be", "by", "do", "go", "he", "hi", "id", "im", "in", "is", "it", "me",
    "my", "no", "of", "ok", "on", "or", "so", "to", "us", "we",
];

/// Whether the ASCII `label` is a top-level domain, in any case.
fn is_tld(label: &[u8]) -> bool {
    let mut lower = [0; 63];
    let Some(buffer) = lower.get_mut(..label.len()) else {
        return false;
    };
    for (to, from) in buffer.iter_mut().zip(label) {
        *to = from.to_ascii_lowercase();
    }
    std::str::from_utf8(buffer).is_ok_and(|tld| tlds().contains(tld))
}

/// Whether `host` ends in a real top-level domain; with a weakly written dot (`weak`), not
/// one that is also an English word.
fn under_tld(host: &str, weak: bool) -> bool {
    let tld = host.rsplit('.').next().unwrap_or("");
    if weak && PROSE_TLDS.iter().any(|word| word.eq_ignore_ascii_case(tld)) {
        return false;
    }
    if tld.is_ascii() {
        return is_tld(tld.as_bytes());
    }
    idna::domain_to_ascii(tld).is_ok_and(|ascii| tlds().contains(ascii.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, String)> {
        let chars: Vec<char> = text.chars().collect();
        Extractor::new()
            .extract(text)
            .into_iter()
            .map(|f| {
                let written: String = chars[f.span.start..f.span.end].iter().collect();
                (written, f.url.as_url())
            })
            .collect()
    }

    #[test]
    fn disguised_links_are_found_with_their_spans() {
        // (text, what the span covers, canonical URL)
        let cases = [
            (
                "see https://bad.example.com/a?b=1.",
                "https://bad.example.com/a?b=1",
                "https://bad.example.com/a?b=1",
            ),
            (
                "go hxxps://bad.example[.]com/x now",
                "hxxps://bad.example[.]com/x",
                "https://bad.example.com/x",
            ),
            (
                "h**p://bad(.)example(.)com/p",
                "h**p://bad(.)example(.)com/p",
                "http://bad.example.com/p",
            ),
            (
                "bad (dot) example (dot) com/p!",
                "bad (dot) example (dot) com/p",
                "http://bad.example.com/p",
            ),
            (
                "bad dot example dot com",
                "bad dot example dot com",
                "http://bad.example.com/",
            ),
            (
                "bad . example . com/x",
                "bad . example . com/x",
                "http://bad.example.com/x",
            ),
            (
                "bad.exam\u{200b}ple.com/x",
                "bad.exam\u{200b}ple.com/x",
                "http://bad.example.com/x",
            ),
            (
                "ｂａｄ．ｅｘａｍｐｌｅ．ｃｏｍ",
                "ｂａｄ．ｅｘａｍｐｌｅ．ｃｏｍ",
                "http://bad.example.com/",
            ),
            (
                "bad。example。com/x",
                "bad。example。com/x",
                "http://bad.example.com/x",
            ),
            (
                "BAD.Example.COM/Path",
                "BAD.Example.COM/Path",
                "http://bad.example.com/Path",
            ),
            (
                "http[:]//bad.example.com/",
                "http[:]//bad.example.com/",
                "http://bad.example.com/",
            ),
            (
                "(at bad.example.com/x)",
                "bad.example.com/x",
                "http://bad.example.com/x",
            ),
            (
                "http://3279880203/blah",
                "http://3279880203/blah",
                "http://195.127.0.11/blah",
            ),
            (
                "at 195.127.0.11/blah",
                "195.127.0.11/blah",
                "http://195.127.0.11/blah",
            ),
            (
                "bad,example,com/x",
                "bad,example,com/x",
                "http://bad.example.com/x",
            ),
            (
                "bаd.exаmple.com/x",
                "bаd.exаmple.com/x",
                "http://bad.example.com/x",
            ),
            (
                "пример.рф/x",
                "пример.рф/x",
                "http://xn--e1afmkfd.xn--p1ai/x",
            ),
        ];
        for (text, covered, url) in cases {
            assert_eq!(
                found(text),
                [(covered.to_string(), url.to_string())],
                "{text}"
            );
        }
    }

    #[test]
    fn the_block_prefilter_agrees_with_the_byte_by_byte_test() {
        // Texts of bytes around every case the prefilter knows, at every length and offset.
        let pieces: [&[u8]; 24] = [
            b"a",
            b"ab",
            b"1",
            b" ",
            b"\t",
            b"\n",
            b".",
            b",",
            b":",
            b"/",
            b"]",
            b")",
            b"(",
            b"[",
            b"<",
            b"\"",
            b"dot",
            b"D",
            b"o",
            b"T",
            "\u{3002}".as_bytes(),
            "\u{FF0E}".as_bytes(),
            "\u{e9}".as_bytes(),
            b"-",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut agreed = 0;
        for _ in 0..200_000 {
            let mut text = Vec::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut draw = state;
            for _ in 0..(draw % 90) {
                draw = draw.rotate_left(5).wrapping_mul(0x2545_f491_4f6c_dd1d);
                text.extend_from_slice(pieces[(draw >> 59) as usize % pieces.len()]);
            }
            let byte_by_byte = (0..text.len()).any(|i| link_starts_at(&text, i));
            assert_eq!(
                may_hold_link(&text),
                byte_by_byte,
                "{:?}",
                String::from_utf8_lossy(&text)
            );
            agreed += usize::from(byte_by_byte);
        }
        // Both outcomes were tested.
        assert!(agreed > 1_000 && agreed < 199_000, "{agreed}");
    }

    #[test]
    fn words_that_only_look_like_hosts_are_not_links() {
        for text in [
            "open file.txt and read it",
            "bring snacks, e.g. chips",
            "ask Mr.Smith tomorrow",
            "version 1.2.3 is out, 2.5 times faster",
            "mail me at someone@example.com",
            "mail a@b.example.com now",
            "write to someone@mail.example.co.uk, or x@y.example.org/z",
            "it costs 3.50 today",
            "the dot is small. Really.",
            "192.168.1.1 is my router",
            "yes,no and 3,50 euros",
            "Привет, как дела?",
            "open report.pdf/draft or notes.TXT",
        ] {
            assert_eq!(found(text), Vec::<(String, String)>::new(), "{text}");
        }
    }
}
