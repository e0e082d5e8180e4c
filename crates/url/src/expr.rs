//! The host-suffix × path-prefix expressions Safe Browsing looks a canonical URL up by, so
//! that a list entry for a folder or a whole domain matches every page under it, and their
//! SHA-256 (the form of hashed lists).

use sha2::{Digest, Sha256};

use crate::CanonicalUrl;

/// Most host forms looked up: the exact host and up to four suffixes.
const MAX_HOSTS: usize = 5;
/// Most path prefixes looked up from the root (the exact paths come on top).
const MAX_PATH_PREFIXES: usize = 4;

/// The SHA-256 of an expression: how hashed lists (`url_sha256`) name their entries.
pub type ExpressionHash = [u8; 32];

/// The SHA-256 of `expression`.
pub fn expression_hash(expression: &str) -> ExpressionHash {
    Sha256::digest(expression.as_bytes()).into()
}

/// A path form: a prefix of the path, and the query after it (for the exact path only).
type PathForm<'a> = (&'a str, Option<&'a str>);

/// One lookup expression of a [`CanonicalUrl`], borrowed from it: a host form and a path form
/// (a path prefix, or the exact path with its query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expression<'a> {
    host: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

impl Expression<'_> {
    /// Its SHA-256, without writing it out.
    pub fn hash(&self) -> ExpressionHash {
        let mut sha = Sha256::new();
        sha.update(self.host);
        sha.update(self.path);
        if let Some(query) = self.query {
            sha.update("?");
            sha.update(query);
        }
        sha.finalize().into()
    }
}

impl std::fmt::Display for Expression<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.host, self.path)?;
        match self.query {
            Some(query) => write!(f, "?{query}"),
            None => Ok(()),
        }
    }
}

impl CanonicalUrl {
    /// The lookup expressions `host/path`, most specific first: for each host form (the exact
    /// host, then suffixes from the last five components down to two, none for an IP
    /// address), the exact path with its query, without it, then the root and up to three
    /// directory prefixes. At most 5 × 6, without repeats.
    pub fn expressions(&self) -> Vec<String> {
        self.lookups().map(|e| e.to_string()).collect()
    }

    /// [`CanonicalUrl::expressions`], borrowed: what a lookup hashes, with no text built.
    pub fn lookups(&self) -> impl Iterator<Item = Expression<'_>> {
        let (hosts, host_count) = self.host_forms();
        let (paths, path_count) = self.path_forms();
        hosts.into_iter().take(host_count).flat_map(move |host| {
            paths
                .into_iter()
                .take(path_count)
                .map(move |(path, query)| Expression { host, path, query })
        })
    }

    /// The exact host, then up to four suffixes (the last five components, then four, …,
    /// two), never a bare top-level domain; just the host for an IP address. (In an array:
    /// a lookup allocates nothing.)
    fn host_forms(&self) -> ([&str; MAX_HOSTS], usize) {
        let host = self.host();
        let mut forms = [host; MAX_HOSTS];
        let mut count = 1;
        if self.is_ip() {
            return (forms, count);
        }
        // The suffixes after the last five dots but one, longest first: the last five
        // components, down to two (one is a bare top-level domain).
        let dots = host.rmatch_indices('.').map(|(at, _)| at).take(MAX_HOSTS);
        let mut suffixes = [""; MAX_HOSTS];
        let mut found = 0;
        for at in dots {
            suffixes[found] = &host[at + 1..];
            found += 1;
        }
        for &suffix in suffixes[..found].iter().rev() {
            if count == MAX_HOSTS {
                break;
            }
            if suffix.contains('.') && !forms[..count].contains(&suffix) {
                forms[count] = suffix;
                count += 1;
            }
        }
        (forms, count)
    }

    /// The exact path with the query, without it, then `/` and up to three directory
    /// prefixes (`/a/`, `/a/b/`, …), without repeats: each a prefix of the path, the first
    /// with the query after it.
    fn path_forms(&self) -> ([PathForm<'_>; MAX_PATH_PREFIXES + 2], usize) {
        let path = self.path();
        let mut forms = [(path, None); MAX_PATH_PREFIXES + 2];
        let mut count = 0;
        if let Some(query) = self.query() {
            forms[count] = (path, Some(query));
            count += 1;
        }
        forms[count] = (path, None);
        count += 1;
        // `/`, then up to three longer prefixes that end at a `/`.
        let slashes = path.match_indices('/').map(|(at, _)| at + 1);
        for end in slashes.take(MAX_PATH_PREFIXES) {
            let prefix = (&path[..end], None);
            if !forms[..count].contains(&prefix) {
                forms[count] = prefix;
                count += 1;
            }
        }
        (forms, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expressions(url: &str) -> Vec<String> {
        CanonicalUrl::parse(url).unwrap().expressions()
    }

    /// The examples of the specification's "Suffix/prefix expressions" section.
    #[test]
    fn the_specifications_examples() {
        assert_eq!(
            expressions("http://a.b.c/1/2.html?param=1"),
            [
                "a.b.c/1/2.html?param=1",
                "a.b.c/1/2.html",
                "a.b.c/",
                "a.b.c/1/",
                "b.c/1/2.html?param=1",
                "b.c/1/2.html",
                "b.c/",
                "b.c/1/",
            ]
        );
        assert_eq!(
            expressions("http://a.b.c.d.e.f.g/1.html"),
            [
                "a.b.c.d.e.f.g/1.html",
                "a.b.c.d.e.f.g/",
                "c.d.e.f.g/1.html",
                "c.d.e.f.g/",
                "d.e.f.g/1.html",
                "d.e.f.g/",
                "e.f.g/1.html",
                "e.f.g/",
                "f.g/1.html",
                "f.g/",
            ]
        );
        assert_eq!(expressions("http://1.2.3.4/1/"), ["1.2.3.4/1/", "1.2.3.4/"]);
    }

    #[test]
    fn deep_paths_stop_at_four_prefixes_and_never_repeat() {
        let all = expressions("http://example.com/a/b/c/d/e/page?q");
        assert_eq!(
            all,
            [
                "example.com/a/b/c/d/e/page?q",
                "example.com/a/b/c/d/e/page",
                "example.com/",
                "example.com/a/",
                "example.com/a/b/",
                "example.com/a/b/c/",
            ]
        );
        assert_eq!(expressions("http://example.com/"), ["example.com/"]);
        assert_eq!(
            expressions("http://example.com/a/"),
            ["example.com/a/", "example.com/"]
        );
        assert!(all.len() <= MAX_HOSTS * (MAX_PATH_PREFIXES + 2));
    }

    #[test]
    fn hashes_are_the_sha256_of_the_expression() {
        assert_eq!(
            hex::encode(expression_hash("b.c/")),
            hex::encode(Sha256::digest(b"b.c/"))
        );
    }
}
