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

impl CanonicalUrl {
    /// The lookup expressions `host/path`, most specific first: for each host form (the exact
    /// host, then suffixes from the last five components down to two, none for an IP
    /// address), the exact path with its query, without it, then the root and up to three
    /// directory prefixes. At most 5 × 6, without repeats.
    pub fn expressions(&self) -> Vec<String> {
        let paths = self.path_forms();
        let mut out = Vec::with_capacity(self.host_forms().len() * paths.len());
        for host in self.host_forms() {
            for path in &paths {
                out.push(format!("{host}{path}"));
            }
        }
        out
    }

    /// The exact host, then up to four suffixes (the last five components, then four, …,
    /// two), never a bare top-level domain; just the host for an IP address.
    fn host_forms(&self) -> Vec<&str> {
        let host = self.host();
        let mut forms = vec![host];
        if self.is_ip() {
            return forms;
        }
        let dots: Vec<usize> = host.match_indices('.').map(|(at, _)| at).collect();
        // The suffix after the k-th dot from the right has k components: the last five,
        // down to two (one is a bare top-level domain).
        for &at in dots.iter().rev().take(MAX_HOSTS).rev() {
            if forms.len() == MAX_HOSTS {
                break;
            }
            let suffix = &host[at + 1..];
            if suffix.contains('.') && !forms.contains(&suffix) {
                forms.push(suffix);
            }
        }
        forms
    }

    /// The exact path with the query, without it, then `/` and up to three directory
    /// prefixes (`/a/`, `/a/b/`, …), without repeats.
    fn path_forms(&self) -> Vec<String> {
        let path = self.path();
        let mut forms = Vec::new();
        if let Some(query) = self.query() {
            forms.push(format!("{path}?{query}"));
        }
        forms.push(path.to_string());
        let mut prefix = String::from("/");
        let directories = path.matches('/').count() - 1;
        let mut segments = path.split('/').skip(1).take(directories);
        for _ in 0..MAX_PATH_PREFIXES {
            if !forms.contains(&prefix) {
                forms.push(prefix.clone());
            }
            match segments.next() {
                Some(segment) => {
                    prefix.push_str(segment);
                    prefix.push('/');
                }
                None => break,
            }
        }
        forms
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
