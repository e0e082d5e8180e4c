//! Hash lists ("banks") and the index that matches attachments against them.
//!
//! - [`ListInfo`] — a loaded list's identity: name, version, path and SHA-256 of the file.
//!   Today the version is derived from the file's digest (`sha256:<12 hex>`), so it changes
//!   exactly when the content does.
//! - [`csv`] — the line-numbered CSV reader every vigil list format uses (keyword lists too).
//! - [`HashList`] — a vigil CSV hash list (`algorithm,hash,entry_id,category[,severity,...]`)
//!   with `pdq`, `phash`, `dhash`, `ahash`, `md5`, `sha1` and `sha256` entries.
//! - [`ExactIndex`] — exact-digest lookup (MD5, SHA-1, SHA-256) over many lists, stored as
//!   sorted fixed-width arrays searched by bisection.
//! - [`NearIndex`] — every perceptual entry within a Hamming radius of a set of query
//!   hashes (an image's oriented and trimmed variants): a linear scan for small tables, an
//!   exact multi-index (16-bit chunks) for large ones.
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
//! assert_eq!(hits[0].list.name, "iwf");
//! ```

pub mod csv;
mod exact;
mod hash_list;
mod info;
mod mih;
mod near;

pub use exact::{ExactHit, ExactIndex};
pub use hash_list::{HashEntry, HashList, HashValue};
pub use info::ListInfo;
pub use near::{MIH_MIN_ENTRIES, NearHit, NearIndex};

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
