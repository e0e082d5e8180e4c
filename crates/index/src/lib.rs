//! Hash lists ("banks") and the indexes that match attachments against them.
//!
//! - [`HashList`] — a hash list in any format (vigil CSV, JSON lines, HMA
//!   `<signal_type> <hash>` lines, bare hashes), parsed from a checked
//!   [`vigil_lists::ListFile`] and stored per algorithm as a flat array of hashes plus compact
//!   attributes; entries are read as [`HashEntry`] views.
//! - [`ExactIndex`] — exact-digest lookup (MD5, SHA-1, SHA-256) over many lists, stored as
//!   sorted fixed-width arrays with a radix table.
//! - [`NearIndex`] — every perceptual entry within a Hamming radius of a set of query
//!   hashes (an image's oriented and trimmed variants), searching each list's arrays in
//!   place: a linear scan for small tables, an exact multi-index with chunks sized to the
//!   table for large ones.
//! - [`VpdqIndex`] — listed videos (vPDQ) matching a query video by the share of frames
//!   within a distance on both sides, as python-threatexchange matches them, over one
//!   search of every listed frame.
//!
//! ```
//! use vigil_hash::ExactAlgorithm;
//! use vigil_index::{ExactIndex, HashList};
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

mod exact;
mod hash_list;
mod mih;
mod near;
mod video;

pub use exact::{ExactHit, ExactIndex};
pub use hash_list::{HashEntry, HashList, HashValue};
pub use near::{MIH_MIN_ENTRIES, NearHit, NearIndex};
pub use video::{VpdqIndex, VpdqMatch, VpdqSegment, VpdqThresholds, kept_frames};

/// Checks shared by the format tests.
#[cfg(test)]
pub(crate) fn assert_line_error<T: std::fmt::Debug>(
    result: Result<T, vigil_lists::ListError>,
    line: u64,
    needle: &str,
    input: &str,
) {
    match result {
        Err(vigil_lists::ListError::Line {
            line: got, message, ..
        }) => {
            assert_eq!(got, line, "{input}: {message}");
            assert!(message.contains(needle), "{input}: {message}");
        }
        other => panic!("{input}: expected a line error, got {other:?}"),
    }
}
