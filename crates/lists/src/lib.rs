//! Hash lists ("banks") and the index that matches attachments against them.
//!
//! - [`ListFile`] — a list's data file read and checked against its [`Manifest`] (name,
//!   source, version, created_at, entries, SHA-256) and ed25519 signature under an
//!   [`Integrity`] policy; a list that fails is refused with a [`Refusal`] code.
//! - [`ListInfo`] — a loaded list's identity: name, version (the manifest's, else
//!   `sha256:<12 hex>` of the file), path, digest, entry counts, [`Provenance`].
//! - [`HashList`] — a hash list in any format (vigil CSV, JSON lines, HMA
//!   `<signal_type> <hash>` lines, bare hashes), stored per algorithm as a flat array of
//!   hashes plus compact attributes; entries are read as [`HashEntry`] views.
//! - [`csv`] — the line-numbered CSV reader vigil's CSV lists use (keyword lists too).
//! - [`ExactIndex`] — exact-digest lookup (MD5, SHA-1, SHA-256) over many lists, stored as
//!   sorted fixed-width arrays with a radix table.
//! - [`NearIndex`] — every perceptual entry within a Hamming radius of a set of query
//!   hashes (an image's oriented and trimmed variants), searching each list's arrays in
//!   place: a linear scan for small tables, an exact multi-index with chunks sized to the
//!   table for large ones.
//! - [`Ledger`] — the highest version accepted per list and the file each was accepted
//!   from, kept across restarts.
//! - [`Stamp`] — sizes and modification times of a list's files, so a reloader re-reads
//!   only what changed.
//!
//! ```
//! use vigil_hash::ExactAlgorithm;
//! use vigil_lists::{ExactIndex, HashList};
//!
//! let csv = "algorithm,hash,entry_id,category\n\
//!            md5,900150983cd24fb0d6963f7d28e17f72,e-1,A\n";
//! let list = HashList::parse("iwf", "iwf.csv".as_ref(), csv.as_bytes()).unwrap();
//! let index = ExactIndex::build(vec![list]);
//! let digest = ExactAlgorithm::Md5.digest(b"abc");
//! let hits: Vec<_> = index.lookup(ExactAlgorithm::Md5, &digest).collect();
//! assert_eq!(hits.len(), 1);
//! assert_eq!(hits[0].entry.entry_id, "e-1");
//! assert_eq!(hits[0].entry.category, "A");
//! assert_eq!(hits[0].list.name, "iwf");
//! ```

pub mod csv;
mod exact;
mod formats;
mod hash_list;
mod info;
mod ledger;
mod manifest;
mod mih;
mod near;
mod stamp;

pub use exact::{ExactHit, ExactIndex};
pub use hash_list::{HashEntry, HashList, HashValue};
pub use info::{ListInfo, Provenance};
pub use ledger::Ledger;
pub use manifest::{
    Integrity, ListFile, Manifest, TrustedKey, default_manifest_path, sha256_hex, sign_manifest,
    signature_path,
};
pub use near::{MIH_MIN_ENTRIES, NearHit, NearIndex};
pub use stamp::Stamp;

/// Checks shared by the format tests.
#[cfg(test)]
pub(crate) fn assert_line_error<T: std::fmt::Debug>(
    result: Result<T, ListError>,
    line: u64,
    needle: &str,
    input: &str,
) {
    match result {
        Err(ListError::Line {
            line: got, message, ..
        }) => {
            assert_eq!(got, line, "{input}: {message}");
            assert!(message.contains(needle), "{input}: {message}");
        }
        other => panic!("{input}: expected a line error, got {other:?}"),
    }
}

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
