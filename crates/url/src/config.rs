//! `[urls]`: how links are treated beyond the URL lists — shortened links, which vigil never
//! resolves (the scanner makes no network requests).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::config::{Invalid, Section};

/// The link shorteners known by default: widely used public services.
pub const DEFAULT_SHORTENERS: [&str; 16] = [
    "bit.ly",
    "buff.ly",
    "cutt.ly",
    "goo.gl",
    "is.gd",
    "ow.ly",
    "rb.gy",
    "rebrand.ly",
    "s.id",
    "shorturl.at",
    "t.co",
    "t.ly",
    "tiny.cc",
    "tinyurl.com",
    "v.gd",
    "x.co",
];

/// `[urls]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UrlsConfig {
    /// Hosts of link shorteners. A link to one (or a subdomain of one) is reported as
    /// `unresolved_short_link` evidence on a flag that matched otherwise: what it leads to is
    /// unknown, since vigil fetches nothing.
    pub shorteners: Vec<String>,
    /// Also flag a message for a shortened link alone (severity low, category
    /// `unresolved_short_link`): a rule of its own, for platforms that review every
    /// unresolved link.
    pub short_link_rule: bool,
}

impl Default for UrlsConfig {
    fn default() -> UrlsConfig {
        UrlsConfig {
            shorteners: DEFAULT_SHORTENERS
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            short_link_rule: false,
        }
    }
}

impl Section for UrlsConfig {
    fn validate(&self) -> Result<(), Invalid> {
        for host in &self.shorteners {
            let ok = !host.is_empty()
                && host.contains('.')
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
            if !ok {
                return Err(Invalid::new(
                    "urls.shorteners",
                    format!("`{host}` is not a host name (letters, digits, `-` and `.`)"),
                ));
            }
        }
        Ok(())
    }
}
