//! Canonicalisation as Google Safe Browsing (Update API v4, "URLs and hashing") specifies it,
//! so that a URL matches a list entry however it was written: tabs and line breaks removed,
//! the fragment dropped, percent-escapes undone until none is left and the bytes that need it
//! escaped again, the host without leading, trailing or repeated dots, IPv4 in any of its
//! numeric forms written as a dotted quad, international names as punycode, lower case, the
//! port dropped, the path with `.`, `..` and `//` resolved; the query kept as written.

use std::borrow::Cow;

/// Why a text is not a URL that can be canonicalised. Never quotes the text (a URL from a
/// message is content).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CanonError {
    /// Nothing left once whitespace and the fragment are removed.
    #[error("the URL is empty")]
    Empty,
    /// No host: nothing between the scheme and the path.
    #[error("the URL has no host")]
    NoHost,
}

/// A URL in canonical form: `scheme://host/path?query`, each part as Safe Browsing writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanonicalUrl {
    scheme: String,
    host: String,
    path: String,
    query: Option<String>,
    ip: bool,
}

impl CanonicalUrl {
    /// Canonicalises `input`; without a scheme, `http` is assumed.
    pub fn parse(input: &str) -> Result<CanonicalUrl, CanonError> {
        // Each step borrows when it has nothing to change (a link as people write it mostly
        // has no tab, escape, dot segment or upper case).
        let trimmed = input
            .trim_matches(|c: char| c.is_ascii_whitespace())
            .as_bytes();
        let cleaned: Cow<'_, [u8]> = if trimmed.iter().any(|b| matches!(b, b'\t' | b'\r' | b'\n')) {
            Cow::Owned(
                trimmed
                    .iter()
                    .copied()
                    .filter(|b| !matches!(b, b'\t' | b'\r' | b'\n'))
                    .collect(),
            )
        } else {
            Cow::Borrowed(trimmed)
        };
        let without_fragment = match cleaned.iter().position(|&b| b == b'#') {
            Some(at) => &cleaned[..at],
            None => &cleaned[..],
        };
        let unescaped = unescape_fully(without_fragment);
        let text = escape(&unescaped);
        if text.is_empty() {
            return Err(CanonError::Empty);
        }
        let (scheme, rest) = split_scheme(&text);
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        let (host, ip) = canonical_host(authority).ok_or(CanonError::NoHost)?;
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query.to_string())),
            None => (path_and_query, None),
        };
        Ok(CanonicalUrl {
            scheme,
            host,
            path: canonical_path(path),
            query,
            ip,
        })
    }

    /// The scheme, lower case.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host: lower case, punycode for international names, a dotted quad for IPv4.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path, from its leading `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query (after `?`), when the URL has one (possibly empty).
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// Whether the host is an IP address (whose suffixes are not looked up).
    pub fn is_ip(&self) -> bool {
        self.ip
    }

    /// The URL as Safe Browsing writes it.
    pub fn as_url(&self) -> String {
        let mut out = format!("{}://{}{}", self.scheme, self.host, self.path);
        if let Some(query) = &self.query {
            out.push('?');
            out.push_str(query);
        }
        out
    }
}

/// `%XX` with two hex digits undone, everything else kept (a `%` not followed by two hex
/// digits stays a `%`).
fn unescape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// [`unescape`] until nothing changes (each pass that changes anything shortens the text, so
/// this ends).
fn unescape_fully(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !bytes.contains(&b'%') {
        return Cow::Borrowed(bytes);
    }
    let mut current = bytes.to_vec();
    loop {
        let next = unescape(&current);
        if next.len() == current.len() {
            return Cow::Owned(current);
        }
        current = next;
    }
}

/// Escapes control bytes, space, bytes from 0x7f, `#` and `%` as `%XX` (upper-case hex).
fn escape(bytes: &[u8]) -> Cow<'_, str> {
    let needs = |b: u8| b <= 0x20 || b >= 0x7f || b == b'#' || b == b'%';
    if !bytes.iter().any(|&b| needs(b)) {
        // Only ASCII bytes from 0x21 to 0x7e are left.
        return Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default());
    }
    let mut out = String::with_capacity(bytes.len() + 16);
    for &b in bytes {
        if needs(b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    Cow::Owned(out)
}

/// The scheme (lower case; `http` when there is none) and the rest after `scheme://`. A
/// scheme counts only before `//`, so `host:8080/path` is a host with a port.
fn split_scheme(text: &str) -> (String, &str) {
    if let Some((scheme, rest)) = text.split_once("://") {
        let valid = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if valid {
            return (scheme.to_ascii_lowercase(), rest);
        }
    }
    let rest = text.strip_prefix("//").unwrap_or(text);
    ("http".to_string(), rest)
}

/// The canonical host of `authority` (user info and port dropped) and whether it is an IP
/// address; `None` when nothing is left.
fn canonical_host(authority: &str) -> Option<(String, bool)> {
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    // A port is digits after the last `:` (none may follow an IPv6 literal's `]`).
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    if host.starts_with('[') {
        return Some((host.to_ascii_lowercase(), true));
    }
    // Lower case as it is copied (an escaped byte's hex digits may be either case; IDNA's
    // output is lower case).
    let mut dotted = String::with_capacity(host.len());
    for part in host.split('.').filter(|p| !p.is_empty()) {
        if !dotted.is_empty() {
            dotted.push('.');
        }
        dotted.extend(part.chars().map(|c| c.to_ascii_lowercase()));
    }
    if dotted.is_empty() {
        return None;
    }
    if let Some(ip) = ipv4(&dotted) {
        return Some((ip, true));
    }
    Some((international(&dotted).unwrap_or(dotted), false))
}

/// An international host name (escaped UTF-8 bytes) as punycode (IDNA, UTS 46); `None` for an
/// ASCII name or bytes that are not a valid name.
fn international(host: &str) -> Option<String> {
    if !host.contains('%') {
        // Escaping left only ASCII: an ASCII name.
        return None;
    }
    let bytes = unescape(host.as_bytes());
    let text = std::str::from_utf8(&bytes).ok()?;
    if text.is_ascii() {
        return None;
    }
    let ascii = idna::domain_to_ascii(text).ok()?;
    // Dots that UTS 46 made of ideographic full stops may have left repeats or ends.
    let parts: Vec<&str> = ascii.split('.').filter(|p| !p.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

/// `host` as a dotted quad when it is an IPv4 address in any form `inet_aton` accepts:
/// one to four parts, each decimal, octal (leading `0`) or hex (`0x`), the last filling the
/// remaining bytes.
fn ipv4(host: &str) -> Option<String> {
    if !host
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b'x' | b'X'))
    {
        return None;
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let values: Vec<u64> = parts.iter().map(|p| number(p)).collect::<Option<_>>()?;
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|&v| v > 255) {
        return None;
    }
    let remaining_bits = 8 * (4 - leading.len() as u32);
    if *last >= 1u64 << remaining_bits {
        return None;
    }
    let mut address = *last;
    for (i, &v) in leading.iter().enumerate() {
        address |= v << (24 - 8 * i as u32);
    }
    let bytes = (address as u32).to_be_bytes();
    Some(format!(
        "{}.{}.{}.{}",
        bytes[0], bytes[1], bytes[2], bytes[3]
    ))
}

/// One part of a numeric IPv4 host: `0x` hex, leading-`0` octal, or decimal.
fn number(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return (radix == 16).then_some(0);
    }
    if digits.len() > 16 || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// The path with runs of `/` collapsed and `.` and `..` resolved; `/` when empty.
fn canonical_path(path: &str) -> String {
    let plain = path.starts_with('/')
        && !path.contains("//")
        && !path.contains("/./")
        && !path.contains("/../")
        && !path.ends_with("/.")
        && !path.ends_with("/..");
    if plain {
        return path.to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    let mut directory = true;
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        match segment {
            "." => directory = true,
            ".." => {
                segments.pop();
                directory = true;
            }
            _ => {
                segments.push(segment);
                directory = false;
            }
        }
    }
    if path.ends_with('/') {
        directory = true;
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if directory || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_hosts_in_every_form_are_dotted_quads() {
        let cases = [
            ("3279880203", Some("195.127.0.11")),
            ("0xc37f000b", Some("195.127.0.11")),
            ("0303.0177.0.013", Some("195.127.0.11")),
            ("195.8323083", Some("195.127.0.11")),
            ("195.127.11", Some("195.127.0.11")),
            ("1.2.3.4", Some("1.2.3.4")),
            ("1.2.3.256", None),
            ("256.1.1.1", None),
            ("1.2.3.4.5", None),
            ("example.com", None),
            ("08.1.1.1", None),
            ("4294967296", None),
        ];
        for (host, expected) in cases {
            assert_eq!(ipv4(host).as_deref(), expected, "{host}");
        }
    }

    #[test]
    fn paths_resolve_dots_and_slashes() {
        let cases = [
            ("", "/"),
            ("/", "/"),
            ("/a/b/../c", "/a/c"),
            ("/a/./b/", "/a/b/"),
            ("/a/..", "/"),
            ("//a//b", "/a/b"),
            ("/a/b/.", "/a/b/"),
            ("/../..", "/"),
        ];
        for (path, expected) in cases {
            assert_eq!(canonical_path(path), expected, "{path}");
        }
    }

    #[test]
    fn errors_never_quote_the_url() {
        let err = CanonicalUrl::parse("http:///secret-path").unwrap_err();
        assert_eq!(err, CanonError::NoHost);
        assert!(!err.to_string().contains("secret"));
        assert_eq!(CanonicalUrl::parse(" \t#x").unwrap_err(), CanonError::Empty);
    }
}
