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
use vigil_text::{Normalizer, Step, Steps};

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
            // a dot with spaces around it
            r"|[ \t]+\.[ \t]*|[ \t]*\.[ \t]+",
            // ideographic and other full stops
            r"|[\x{3002}\x{FF61}\x{2024}])",
            // [:] or (:)
            r"|(?P<colon>[\[(]:[\])])",
            // hxxp, hXXp, h**p, h__p, hxtp, with s or not
            r"|\b(?P<scheme>h(?:xx|\*\*|__|xt|tx)p(?P<s>s?))\b",
        ))
        .unwrap_or_else(|e| panic!("the disguise pattern is valid: {e}"))
    })
}

/// Links with a scheme, and bare host names with an optional port and path.
fn candidates() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"(?i)(?P<schemed>\b(?:https?|ftp)://[^\s<>\x22'`]+)",
            r"|(?P<ip>\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?/[^\s<>\x22'`]*)",
            r"|(?P<bare>\b(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+",
            r"(?P<tld>[\p{L}]{2,63}|xn--[a-z0-9-]{1,59})\b",
            r"(?::\d{1,5})?(?:/[^\s<>\x22'`]*)?)",
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
        for caps in disguises().captures_iter(normalised) {
            let whole = caps.get(0).map_or(0..0, |m| m.range());
            // A dot written out counts only between label characters.
            if caps.name("dot").is_some() && !between_labels(normalised, whole.clone()) {
                continue;
            }
            out.copy(normalised, copied..whole.start);
            let replacement = if caps.name("dot").is_some() {
                "."
            } else if caps.name("colon").is_some() {
                ":"
            } else if caps.name("s").is_some_and(|s| !s.as_str().is_empty()) {
                "https"
            } else {
                "http"
            };
            let weak = caps.name("dot").is_some()
                && !normalised[whole.clone()]
                    .contains(['[', '(', '{', '<', '\u{3002}', '\u{FF61}', '\u{2024}']);
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

    fn copy(&mut self, source: &str, range: std::ops::Range<usize>) {
        let piece = &source[range.clone()];
        self.text.push_str(piece);
        for (offset, c) in piece.char_indices() {
            let start = range.start + offset;
            for _ in 0..c.len_utf8() {
                self.from.push((start, start + c.len_utf8()));
                self.disguised.push(false);
                self.weak.push(false);
            }
        }
    }

    /// The normalised byte range bytes `start..end` of this text came from.
    fn source(&self, start: usize, end: usize) -> (usize, usize) {
        (self.from[start].0, self.from[end - 1].1)
    }
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
        let normalised = self.normalizer.normalize(text);
        let undisguised = Undisguised::of(&normalised.text);
        let mut found = Vec::new();
        for caps in candidates().captures_iter(&undisguised.text) {
            let Some(m) = caps
                .name("schemed")
                .or_else(|| caps.name("ip"))
                .or_else(|| caps.name("bare"))
            else {
                continue;
            };
            let link = trim_end(m.as_str());
            if link.is_empty() {
                continue;
            }
            let (start, end) = (m.start(), m.start() + link.len());
            let weak = undisguised.weak[start..end].iter().any(|w| *w);
            if caps.name("bare").is_some() && !plausible_bare(&undisguised.text, start, link, weak)
            {
                continue;
            }
            let Ok(url) = CanonicalUrl::parse(link) else {
                continue;
            };
            let (n_start, n_end) = undisguised.source(start, end);
            found.push(FoundUrl {
                span: normalised.span(n_start, n_end),
                url,
                disguised: undisguised.disguised[start..end].iter().any(|d| *d),
            });
        }
        found
    }
}

/// Two-letter country domains that are also common English words: under a dot written as a
/// word or with spaces (`the dot is small`, `done . To`), they read as prose, not a host.
const PROSE_TLDS: [&str; 26] = [
    "am", "an", "as", "at", "be", "by", "do", "go", "he", "hi", "id", "im", "in", "is", "it", "me",
    "my", "no", "of", "ok", "on", "or", "so", "to", "us", "we",
];

/// Whether a bare `link` at `start` of `text` is a host mention: under a real top-level
/// domain, not the domain of an e-mail address; with a dot written as a word or spaced
/// (`weak`), not under a top-level domain that is also an English word.
fn plausible_bare(text: &str, start: usize, link: &str, weak: bool) -> bool {
    if text[..start].ends_with('@') {
        return false;
    }
    let host_end = link.find(['/', ':']).unwrap_or(link.len());
    let host = &link[..host_end];
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
        ] {
            assert_eq!(found(text), Vec::<(String, String)>::new(), "{text}");
        }
    }
}
