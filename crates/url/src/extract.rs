//! Finding links in message text, through the disguises people use so that a naive matcher
//! misses them: `hxxp://` and `h**p://`, `[.]`, `(.)`, `(dot)`, ` dot `, spaces around dots,
//! `[:]`, ideographic full stops, zero-width characters and full-width letters (the last two
//! by vigil-text's normalisation, whose offset map gives each link its span in the original
//! text). Links with a scheme are taken whole; bare host names only under a real top-level
//! domain (so `file.txt`, `e.g.` and `Mr.Smith` are not links), never inside an e-mail
//! address; bare IPv4 addresses only with a path or port.

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
            // a dot with spaces on both sides (one side only is how sentences end), or a
            // comma (between two words: checked after)
            r"|[ \t]+\.[ \t]+|,",
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

/// Links with a scheme, and bare host names with an optional port and path.
fn candidates() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            // No Unicode `\b` and no bounded repetition: both would keep the search off its
            // DFA (tens of microseconds a message instead of a few). Matches start at the
            // first label character anyway (leftmost-first).
            r"(?i)(?P<schemed>(?:https?|ftp)://[^\s<>\x22'`]+)",
            r"|(?P<ip>\d+(?:\.\d+){3}(?::\d+)?/[^\s<>\x22'`]*)",
            r"|(?P<bare>(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?\.)+",
            r"(?P<tld>xn--[a-z0-9-]+|[\p{L}]{2,})",
            r"(?::\d+)?(?:/[^\s<>\x22'`]*)?)",
        ))
        .unwrap_or_else(|e| panic!("the candidate pattern is valid: {e}"))
    })
}

/// A text rewritten with its disguises undone, and for each of its bytes the range of the
/// normalised text it came from.
struct Undisguised {
    text: String,
    from: Vec<(usize, usize)>,
    disguised: Vec<bool>,
    /// Bytes that stand for a dot written as a word or with spaces around it: ordinary
    /// prose has those too (`the dot is`, `end . Then`).
    weak: Vec<bool>,
}

impl Undisguised {
    fn of(normalised: &str) -> Undisguised {
        let mut out = Undisguised {
            text: String::with_capacity(normalised.len()),
            from: Vec::with_capacity(normalised.len()),
            disguised: Vec::with_capacity(normalised.len()),
            weak: Vec::with_capacity(normalised.len()),
        };
        let mut copied = 0;
        // `find` rather than captures: the match's text says which disguise it is, and the
        // DFA that finds it is several times faster than group captures.
        for m in disguises().find_iter(normalised) {
            let kind = Disguise::of(m.as_str());
            // A scheme's match ends with the `:` (or bracket) after it, which stays.
            let whole = match kind {
                Disguise::Scheme => m.start()..m.end() - 1,
                _ => m.range(),
            };
            // A dot written out counts only between label characters, and one written as a
            // word or spaced only between tokens that can be host labels (not a URL's path
            // before it, not a scheme after it).
            if kind == Disguise::Dot
                && (!between_labels(normalised, whole.clone())
                    || (is_weak(&normalised[whole.clone()])
                        && !host_tokens(normalised, whole.clone())))
            {
                continue;
            }
            out.copy(normalised, copied..whole.start);
            let replacement = match kind {
                Disguise::Dot => ".",
                Disguise::Colon => ":",
                Disguise::Scheme if normalised[whole.clone()].ends_with(['s', 'S']) => "https",
                Disguise::Scheme => "http",
            };
            let weak = kind == Disguise::Dot && is_weak(&normalised[whole.clone()]);
            for b in replacement.bytes() {
                out.text.push(b as char);
                out.from.push((whole.start, whole.end));
                out.disguised.push(true);
                out.weak.push(weak);
            }
            copied = whole.end;
        }
        out.copy(normalised, copied..normalised.len());
        out
    }

    /// Copies `range` of `source`; a letter of another script inside a word that also has
    /// Latin letters becomes the Latin letter it looks like (`exаmple` with a Cyrillic `а`).
    fn copy(&mut self, source: &str, range: std::ops::Range<usize>) {
        let piece = &source[range.clone()];
        if piece.is_ascii() {
            self.text.push_str(piece);
            self.from.extend(range.clone().map(|at| (at, at + 1)));
            self.disguised.resize(self.text.len(), false);
            self.weak.resize(self.text.len(), false);
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
            self.text.push_str(written);
            for _ in 0..written.len() {
                self.from.push((start, start + c.len_utf8()));
                self.disguised.push(disguised);
                self.weak.push(false);
            }
        }
    }

    /// The normalised byte range bytes `start..end` of this text came from.
    fn source(&self, start: usize, end: usize) -> (usize, usize) {
        (self.from[start].0, self.from[end - 1].1)
    }
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
        let mut at = 0;
        while let Some(m) = candidates().find_at(&u.text, at) {
            let link = trim_end(m.as_str());
            let range = if Candidate::of(m.as_str()) == Candidate::Bare {
                bare_host(&u, m.start(), link)
            } else {
                Some((m.start(), m.start() + link.len()))
            };
            let Some((start, end)) = range.filter(|(s, e)| s < e) else {
                // Not a host here; one may start at a later label (`the dot http://…`), never
                // inside this one (`someone@example.com` holds no `xample.com`).
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
                disguised: u.disguised[start..end].iter().any(|d| *d),
            });
        }
        found
    }
}

/// Whether `text` may hold a link at all, by a scan of its bytes: a dot-like character (`.`,
/// `,`, an ideographic or full-width full stop) between a word character and a label that
/// could end a host (two characters or more with a letter: `e.g.`, `U.S.`, `3.14` and
/// `1,000` do not), or inside a token with a `/`; `://` (or `[:]//`); a bracketed dot or
/// `dot`; ` dot ` or ` . ` between words. Most messages have none of these (a sentence's full
/// stop has a space after it) and skip the normalisation and the patterns.
fn may_hold_link(b: &[u8]) -> bool {
    use memchr::{memchr2_iter, memchr3_iter, memmem};
    let wordy = |c: u8| c.is_ascii_alphanumeric() || c >= 0x80;
    let starts = |at: usize, s: &[u8]| {
        b.get(at..at + s.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(s))
    };
    // Whether the label starting at `at` could end a host: two word bytes or more, one of
    // them a letter (or non-ASCII), or a `/` later in the same token.
    let label_after = |at: usize| {
        let rest = b.get(at..).unwrap_or_default();
        let run = rest.iter().take_while(|c| wordy(**c)).count();
        let token = &rest[..rest
            .iter()
            .position(u8::is_ascii_whitespace)
            .unwrap_or(rest.len())];
        (run >= 2
            && rest[..run]
                .iter()
                .any(|c| c.is_ascii_alphabetic() || *c >= 0x80))
            || token.contains(&b'/')
    };
    let dot_at = |i: usize, len: usize| i > 0 && wordy(b[i - 1]) && label_after(i + len);
    // The searches run in SIMD over the bytes: most messages are done in a few of them.
    if memchr2_iter(b'.', b',', b).any(|i| dot_at(i, 1)) {
        return true;
    }
    if !b.is_ascii() {
        for stop in ["\u{3002}", "\u{FF0E}", "\u{FF61}", "\u{2024}"] {
            if memmem::find_iter(b, stop.as_bytes()).any(|i| dot_at(i, stop.len())) {
                return true;
            }
        }
    }
    if [&b"://"[..], b":]//", b":)//", b" . ", b" .\t"]
        .iter()
        .any(|needle| memmem::find(b, needle).is_some())
    {
        return true;
    }
    let bracketed = |i: usize| {
        let mut j = i + 1;
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
        (b.get(j) == Some(&b'.') && matches!(b.get(j + 1), Some(b']' | b')' | b'}' | b'>' | b' ')))
            || starts(j, b"dot")
    };
    if memchr3_iter(b'[', b'(', b'{', b).any(bracketed)
        || memchr::memchr_iter(b'<', b).any(bracketed)
    {
        return true;
    }
    // ` dot ` in any case.
    memchr2_iter(b'd', b'D', b).any(|i| {
        i > 0
            && matches!(b[i - 1], b' ' | b'\t')
            && starts(i, b"dot")
            && matches!(b.get(i + 3), Some(b' ' | b'\t'))
    })
}

/// Where the bare host mention `link` at `start` really is, or `None`. A host is written in
/// one style: where real dots and weakly written ones (a word, spaces) mix, the labels joined
/// weakly before the first real dot or after the last one are prose (`the dot
/// example.com`), and so is any path after a weak ending. Then it must stand under a real
/// top-level domain (else the longest shorter host that does), not be an e-mail domain, and
/// with a weak dot left, not end in a top-level domain that is also an English word.
fn bare_host(u: &Undisguised, start: usize, link: &str) -> Option<(usize, usize)> {
    if u.text[..start].ends_with('@') {
        return None;
    }
    let host_len = link.find(['/', ':']).unwrap_or(link.len());
    let dots: Vec<(usize, bool)> = link[..host_len]
        .match_indices('.')
        .map(|(i, _)| (start + i, u.weak[start + i]))
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
    let weak = u.weak[first..host_end].iter().any(|w| *w);
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

/// Whether `host` ends in a real top-level domain; with a weakly written dot (`weak`), not
/// one that is also an English word.
fn under_tld(host: &str, weak: bool) -> bool {
    let tld = host.rsplit('.').next().unwrap_or("").to_lowercase();
    if weak && PROSE_TLDS.contains(&tld.as_str()) {
        return false;
    }
    if tld.is_ascii() {
        return tlds().contains(tld.as_str());
    }
    idna::domain_to_ascii(&tld).is_ok_and(|ascii| tlds().contains(ascii.as_str()))
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
    fn words_that_only_look_like_hosts_are_not_links() {
        for text in [
            "open file.txt and read it",
            "bring snacks, e.g. chips",
            "ask Mr.Smith tomorrow",
            "version 1.2.3 is out, 2.5 times faster",
            "mail me at someone@example.com",
            "it costs 3.50 today",
            "the dot is small. Really.",
            "192.168.1.1 is my router",
            "yes,no and 3,50 euros",
            "Привет, как дела?",
        ] {
            assert_eq!(found(text), Vec::<(String, String)>::new(), "{text}");
        }
    }
}
