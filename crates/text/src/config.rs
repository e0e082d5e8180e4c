//! `[text]`: how much of a message's text is scanned.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::config::{Invalid, Section, check_positive};

/// Every default of `[text]`, in one place.
pub mod defaults {
    /// `text.max_scan_bytes`: 1 MiB of text (about 500 printed pages) is scanned per message.
    pub const TEXT_MAX_SCAN_BYTES: u64 = 1024 * 1024;
}

/// `[text]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TextConfig {
    /// Keywords and rules search a message's text up to this many bytes (cut at a character
    /// boundary); a longer text is reported with `text_truncated`, never silently cut.
    pub max_scan_bytes: u64,
}

impl Default for TextConfig {
    fn default() -> Self {
        TextConfig {
            max_scan_bytes: defaults::TEXT_MAX_SCAN_BYTES,
        }
    }
}

impl Section for TextConfig {
    fn validate(&self) -> Result<(), Invalid> {
        check_positive([("text.max_scan_bytes", self.max_scan_bytes)])
    }
}
