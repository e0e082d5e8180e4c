//! URL matching for vigil: links in messages compared with URL lists (the IWF URL List and
//! the like) the way Google Safe Browsing compares URLs with its lists.
//!
//! - [`CanonicalUrl`] — canonicalisation exactly as the Safe Browsing Update API v4 ("URLs and
//!   hashing") specifies it, international hosts as punycode.
//! - [`CanonicalUrl::expressions`] — the host-suffix × path-prefix expressions looked up, so a
//!   list entry for a folder or a whole domain matches every page under it, and
//!   [`expression_hash`], their SHA-256, the form of hashed lists. [`CanonicalUrl::lookups`]
//!   gives them borrowed, as [`Expression`]s that hash without being written out.
//! - [`Extractor`] — links in message text, through the disguises people write them in
//!   (`hxxp://`, `[.]`, `(dot)`, spaced dots, zero-width and full-width characters), each
//!   with its span in the original text.
//! - [`UrlList`] / [`UrlIndex`] — URL lists (IWF-style lines, CSV and JSON lines, plain or
//!   hashed as `url_sha256`), every entry kept as the SHA-256 of its expression, and the
//!   index expressions are looked up in (sorted, with a directory by leading bits).
//!
//! ```
//! use vigil_url::{CanonicalUrl, expression_hash};
//!
//! let url = CanonicalUrl::parse("HTTP://WWW.Example.com:8080/a/./b/../c.html?x=1#top").unwrap();
//! assert_eq!(url.as_url(), "http://www.example.com/a/c.html?x=1");
//! let expressions = url.expressions();
//! assert!(expressions.contains(&"example.com/a/".to_string()));
//! assert_eq!(expression_hash(&expressions[0]).len(), 32);
//! assert_eq!(url.lookups().next().unwrap().hash(), expression_hash(&expressions[0]));
//! ```

mod canon;
pub mod config;
mod expr;
mod extract;
mod list;

pub use canon::{CanonError, CanonicalUrl};
pub use config::UrlsConfig;
pub use expr::{Expression, ExpressionHash, expression_hash};
pub use extract::{Extractor, FoundUrl};
pub use list::{UrlEntry, UrlHit, UrlIndex, UrlList};
