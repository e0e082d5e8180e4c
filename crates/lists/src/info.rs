use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{ListError, Refusal};

/// Identity of a loaded list, reported in every match and on the admin endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInfo {
    /// The list's name: the configured name, else the manifest's, else the file stem.
    pub name: String,
    /// The list's version as reported in matches: the manifest's version number, or, for a
    /// list without a manifest, `sha256:` and the first 12 hex digits of the file digest.
    pub version: String,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// SHA-256 of the data file, lowercase hex.
    pub sha256: String,
    /// Number of entries or rules in force (after deletions).
    pub entries: usize,
    /// What the manifest says about the list, if it has one.
    pub provenance: Option<Provenance>,
    /// Malformed lines skipped (lenient lists only).
    pub skipped_lines: usize,
    /// Entries removed by tombstones.
    pub deleted: usize,
}

/// The manifest facts of a list that has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Who publishes the list (manifest `source`).
    pub source: String,
    /// The manifest's version number; it only ever increases.
    pub version: u64,
    /// When the publisher made this version.
    pub created_at: OffsetDateTime,
    /// The trusted key that verified the manifest's signature (its file name), if signed.
    pub signed_by: Option<String>,
    /// The publisher's matching thresholds, if the manifest sets any.
    pub thresholds: Option<crate::Thresholds>,
}

impl ListInfo {
    /// Identity for a file's `bytes` without a manifest; `entries` is filled in by the parser.
    pub fn for_file(name: &str, path: &Path, bytes: &[u8]) -> ListInfo {
        let sha256 = hex::encode(Sha256::digest(bytes));
        ListInfo {
            name: name.to_string(),
            version: format!("sha256:{}", &sha256[..12]),
            path: path.to_path_buf(),
            sha256,
            entries: 0,
            provenance: None,
            skipped_lines: 0,
            deleted: 0,
        }
    }

    /// The default list name for a path: its file stem.
    pub fn name_from_path(path: &Path) -> String {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string())
    }

    /// Whether this (newly read) list may replace `previous`, the version in force: it must
    /// be the same list (name), a manifest version must increase, and an equal version must
    /// have the same content. Lists without manifests have no order; any new content
    /// replaces the old.
    pub fn check_successor(&self, previous: &ListInfo) -> Result<(), ListError> {
        if self.name != previous.name {
            return Err(previous.refused(
                Refusal::NameChanged,
                format!(
                    "the new version is list `{}`; a file keeps its list while vigil runs \
                     (name it in the configuration and restart to change that)",
                    self.name
                ),
            ));
        }
        let (Some(_), Some(old)) = (&self.provenance, &previous.provenance) else {
            return match (&self.provenance, &previous.provenance) {
                (None, Some(old)) => Err(self.refused(
                    Refusal::NoManifest,
                    format!(
                        "the version in force ({}) has a manifest; this file has none",
                        old.version
                    ),
                )),
                _ => Ok(()),
            };
        };
        self.check_order(old.version, &previous.sha256, "in force")
    }

    /// Refuses this list if its manifest version is below `version` (`rollback`), or equal
    /// to it with content other than `sha256` (`version_reused`); `which` names where the
    /// other version comes from in the message.
    pub(crate) fn check_order(
        &self,
        version: u64,
        sha256: &str,
        which: &str,
    ) -> Result<(), ListError> {
        let Some(new) = &self.provenance else {
            return Ok(());
        };
        if new.version < version {
            return Err(self.refused(
                Refusal::Rollback,
                format!(
                    "version {} is lower than version {version} {which}",
                    new.version
                ),
            ));
        }
        if new.version == version && self.sha256 != sha256 {
            return Err(self.refused(
                Refusal::VersionReused,
                format!("version {version} is {which} with different content"),
            ));
        }
        Ok(())
    }

    /// A refusal of this list.
    pub(crate) fn refused(&self, reason: Refusal, detail: String) -> ListError {
        ListError::Refused {
            list: self.name.clone(),
            path: self.path.clone(),
            reason,
            detail,
        }
    }
}
