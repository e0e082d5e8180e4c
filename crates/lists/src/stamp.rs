use std::path::Path;
use std::time::SystemTime;

use crate::ListSource;

use crate::{default_manifest_path, signature_path};

/// The size and modification time of a list's data, manifest and signature files: a cheap
/// test of whether a list may have changed, so a reloader reads and hashes a file of
/// millions of lines only when it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp([Option<(u64, SystemTime)>; 3]);

impl Stamp {
    /// The stamp of `source`'s files now (absent files included as such).
    pub fn of(source: &ListSource) -> Stamp {
        let manifest = source
            .manifest
            .clone()
            .unwrap_or_else(|| default_manifest_path(&source.path));
        let stat = |path: &Path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.len(), meta.modified().ok()?))
        };
        Stamp([
            stat(&source.path),
            stat(&manifest),
            stat(&signature_path(&manifest)),
        ])
    }
}
