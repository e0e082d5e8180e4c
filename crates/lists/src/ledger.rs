use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{ListError, ListInfo};

/// The highest manifest version accepted for each list, kept in a file (`lists.ledger_file`)
/// so that a restart cannot be used to roll a list back to an older signed version.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    path: Option<PathBuf>,
    versions: BTreeMap<String, Accepted>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Accepted {
    version: u64,
    sha256: String,
}

impl Ledger {
    /// The ledger at `path` (a missing file is an empty ledger); `None` keeps versions in
    /// memory only.
    pub fn open(path: Option<&Path>) -> Result<Ledger, ListError> {
        let Some(path) = path else {
            return Ok(Ledger::default());
        };
        let versions = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ListError::Format {
                path: path.to_path_buf(),
                message: format!("not a list version ledger: {e}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(ListError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Ok(Ledger {
            path: Some(path.to_path_buf()),
            versions,
        })
    }

    /// Refuses a list whose manifest version is below the highest accepted for its name, or
    /// equal to it with other content. Lists without a manifest have no order to check.
    pub fn check(&self, info: &ListInfo) -> Result<(), ListError> {
        match self.versions.get(&info.name) {
            Some(accepted) => info.check_order(
                accepted.version,
                &accepted.sha256,
                "accepted before (lists.ledger_file)",
            ),
            None => Ok(()),
        }
    }

    /// Records `info`'s version if it is the highest seen, and saves the file (written to a
    /// temporary file and renamed, so a crash leaves the old or the new ledger).
    pub fn record(&mut self, info: &ListInfo) -> Result<(), ListError> {
        let Some(provenance) = &info.provenance else {
            return Ok(());
        };
        let accepted = Accepted {
            version: provenance.version,
            sha256: info.sha256.clone(),
        };
        match self.versions.get(&info.name) {
            Some(old) if old.version >= accepted.version => return Ok(()),
            _ => self.versions.insert(info.name.clone(), accepted),
        };
        let Some(path) = &self.path else {
            return Ok(());
        };
        let write = |path: &Path| -> std::io::Result<()> {
            let mut temporary = path.as_os_str().to_owned();
            temporary.push(".tmp");
            let bytes = serde_json::to_vec_pretty(&self.versions).unwrap_or_default();
            std::fs::write(&temporary, bytes)?;
            std::fs::rename(&temporary, path)
        };
        write(path).map_err(|source| ListError::Read {
            path: path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::{Provenance, Refusal};

    fn info(version: u64, sha256: &str) -> ListInfo {
        let mut info = ListInfo::for_file("iwf", Path::new("iwf.csv"), b"");
        info.sha256 = sha256.into();
        info.provenance = Some(Provenance {
            source: "IWF".into(),
            version,
            created_at: OffsetDateTime::UNIX_EPOCH,
            signed_by: None,
        });
        info
    }

    #[test]
    fn a_restart_cannot_roll_a_list_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let mut ledger = Ledger::open(Some(&path)).unwrap();
        ledger.check(&info(5, "aa")).unwrap();
        ledger.record(&info(5, "aa")).unwrap();
        ledger.record(&info(3, "cc")).unwrap(); // never lowers what was accepted

        let reopened = Ledger::open(Some(&path)).unwrap();
        let refusal = |result: Result<(), ListError>| match result {
            Err(ListError::Refused { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(refusal(reopened.check(&info(4, "bb"))), Refusal::Rollback);
        assert_eq!(
            refusal(reopened.check(&info(5, "bb"))),
            Refusal::VersionReused
        );
        assert!(reopened.check(&info(5, "aa")).is_ok());
        assert!(reopened.check(&info(6, "dd")).is_ok());

        std::fs::write(&path, "{\"iwf\": 5}").unwrap();
        assert!(
            Ledger::open(Some(&path)).is_err(),
            "a corrupt ledger is an error, not empty"
        );
    }
}
