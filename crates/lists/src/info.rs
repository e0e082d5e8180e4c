use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Identity of a loaded list, reported in every match and on the admin endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInfo {
    /// The list's name (today: the file name without extension).
    pub name: String,
    /// The list's version (today: `sha256:` and the first 12 hex digits of the file digest).
    pub version: String,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// Number of entries or rules.
    pub entries: usize,
}

impl ListInfo {
    /// Identity for a file's `bytes`; `entries` is filled in by the parser.
    pub fn for_file(name: &str, path: &Path, bytes: &[u8]) -> ListInfo {
        let sha256 = hex::encode(Sha256::digest(bytes));
        ListInfo {
            name: name.to_string(),
            version: format!("sha256:{}", &sha256[..12]),
            path: path.to_path_buf(),
            sha256,
            entries: 0,
        }
    }

    /// The default list name for a path: its file stem.
    pub fn name_from_path(path: &Path) -> String {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string())
    }
}
