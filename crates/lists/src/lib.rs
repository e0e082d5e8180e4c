//! List files: reading a list's data and proving it is the list it claims to be, whatever
//! kind of list it is (hash lists in `vigil-index`, keyword lists in `vigil-text`). Nothing
//! here decodes images or matches anything: this crate is what list integrity means.
//!
//! - [`ListFile`] — a list's data file read and checked against its [`Manifest`] (name,
//!   source, version, created_at, entries, SHA-256) and ed25519 signature under an
//!   [`Integrity`] policy; a list that fails is refused with a [`Refusal`] code.
//! - [`ListInfo`] — a loaded list's identity: name, version (the manifest's, else
//!   `sha256:<12 hex>` of the file), path, digest, entry counts, [`Provenance`].
//! - [`csv`] — the line-numbered CSV dialect vigil's lists share (hash and keyword lists).
//! - [`Ledger`] — the highest version accepted per list and the file each was accepted
//!   from, kept across restarts.
//! - [`Stamp`] — sizes and modification times of a list's files, so a reloader re-reads
//!   only what changed.
//! - [`ListsConfig`] — the `[lists]` section: which lists to load, as [`ListSource`]s, and
//!   what they must prove (trusted keys, age, ledger).
//!
//! ```
//! use vigil_lists::ListSource;
//! use vigil_lists::ListFile;
//!
//! let source = ListSource::from(std::path::PathBuf::from("iwf.csv"));
//! let file = ListFile::read_unchecked(&source, b"algorithm,hash\n".to_vec());
//! assert_eq!(file.info.name, "iwf");
//! // Parsing is the caller's: here, one entry. `finish` fills in the digest and version.
//! let mut info = file.info.clone();
//! info.entries = 1;
//! let info = file.finish(Ok(info), |info| info).unwrap();
//! assert!(info.version.starts_with("sha256:"));
//! assert_eq!(info.sha256.len(), 64);
//! ```

pub mod config;
pub mod csv;
mod info;
mod ledger;
mod manifest;
mod stamp;

pub use config::{ListFormat, ListSource, ListsConfig, VPDQ_MAX_DISTANCE_LIMIT, check_percent};
pub use info::{ListInfo, Provenance};
pub use ledger::Ledger;
pub use manifest::{
    CategoryThreshold, Integrity, ListFile, Manifest, Thresholds, TrustedKey,
    default_manifest_path, sha256_hex, sign_manifest, signature_path,
};
pub use stamp::Stamp;

use std::path::PathBuf;

/// A list that cannot be loaded. The previous state stays in force wherever lists are
/// reloaded; at start-up the process refuses to start. Never retryable except [`ListError::Read`].
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The file could not be read (retry may help if the file is being replaced).
    #[error("cannot read list {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file as a whole is wrong (missing header column, empty file).
    #[error("list {path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The list was read but may not be used: see [`Refusal`].
    #[error("list {list} ({path}) refused: {reason}: {detail}")]
    Refused {
        /// The list's name.
        list: String,
        /// The data file.
        path: PathBuf,
        /// Why, as a stable code.
        reason: Refusal,
        /// The particulars (versions, digests, dates; never list content).
        detail: String,
    },
    /// One line is wrong.
    #[error("list {path}, line {line}: {message}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong, naming the column.
        message: String,
    },
}

/// Why a list that could be read is refused (its previous version stays in force).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A manifest is required (`trusted_keys` or `max_age_secs` is set, or the version in
    /// force had one) and there is none.
    NoManifest,
    /// The manifest is not valid JSON of the manifest's fields.
    BadManifest,
    /// Trusted keys are configured and the manifest has no signature file.
    Unsigned,
    /// The signature is malformed or no trusted key verifies it.
    BadSignature,
    /// The data file's SHA-256 differs from the manifest's (tampered or truncated).
    DigestMismatch,
    /// The manifest's entry count differs from the entries parsed.
    EntryCount,
    /// The manifest names another list than the configuration does.
    NameMismatch,
    /// The manifest names another list than the one in force for this file, or than the
    /// one the ledger last accepted from it (a signed list put in another's place).
    NameChanged,
    /// The version is lower than the one in force.
    Rollback,
    /// The version in force is offered again with different content.
    VersionReused,
    /// The version is older than `lists.max_age_secs`.
    Stale,
}

impl Refusal {
    /// The stable code (`digest_mismatch`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoManifest => "no_manifest",
            Refusal::BadManifest => "bad_manifest",
            Refusal::Unsigned => "unsigned",
            Refusal::BadSignature => "bad_signature",
            Refusal::DigestMismatch => "digest_mismatch",
            Refusal::EntryCount => "entry_count",
            Refusal::NameMismatch => "name_mismatch",
            Refusal::NameChanged => "name_changed",
            Refusal::Rollback => "rollback",
            Refusal::VersionReused => "version_reused",
            Refusal::Stale => "stale",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
