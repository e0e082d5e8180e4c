use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ListSource;
use serde::{Deserialize, Serialize};

use crate::{ListError, ListInfo, Refusal};

/// The highest manifest version accepted for each list, and the data file it was accepted
/// from, kept in a file (`lists.ledger_file`) so that a restart can neither roll a list back
/// to an older signed version nor put another signed list in its place. Several processes
/// may share the file (replicas on one volume): each write merges what the others recorded.
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
    /// The data file the list was last accepted from (absent in ledgers written before
    /// names were pinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
}

/// The ledger at `path`; a missing file is an empty ledger.
fn read(path: &Path) -> Result<BTreeMap<String, Accepted>, ListError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ListError::Format {
            path: path.to_path_buf(),
            message: format!("not a list version ledger: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(source) => Err(ListError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl Ledger {
    /// The ledger at `path` (a missing file is an empty ledger); `None` keeps versions in
    /// memory only.
    pub fn open(path: Option<&Path>) -> Result<Ledger, ListError> {
        let Some(path) = path else {
            return Ok(Ledger::default());
        };
        Ok(Ledger {
            path: Some(path.to_path_buf()),
            versions: read(path)?,
        })
    }

    /// Refuses a list whose manifest version is below the highest accepted for its name, or
    /// equal to it with other content (lists without a manifest have no order to check);
    /// and, unless the configuration names it (`source.name`), a list whose file was last
    /// accepted under another name.
    pub fn check(&self, source: &ListSource, info: &ListInfo) -> Result<(), ListError> {
        let pinned = self
            .versions
            .iter()
            .find(|(_, accepted)| accepted.path.as_deref() == Some(info.path.as_path()));
        if let (None, Some((name, _))) = (&source.name, pinned)
            && *name != info.name
        {
            return Err(info.refused(
                Refusal::NameChanged,
                format!(
                    "this file held list `{name}` when it was last accepted (lists.ledger_file); \
                     name the list in the configuration to put another in its place"
                ),
            ));
        }
        match self.versions.get(&info.name) {
            Some(accepted) => info.check_order(
                accepted.version,
                &accepted.sha256,
                "accepted before (lists.ledger_file)",
            ),
            None => Ok(()),
        }
    }

    /// Records `info`'s version if it is the highest seen and its file as the list's, and
    /// saves the file (merged with what other processes saved meanwhile, written to a
    /// temporary file of its own and renamed, so a crash or a concurrent writer leaves a
    /// whole ledger).
    pub fn record(&mut self, info: &ListInfo) -> Result<(), ListError> {
        let Some(provenance) = &info.provenance else {
            return Ok(());
        };
        if let Some(path) = &self.path {
            self.merge(read(path)?);
        }
        let mut changed = false;
        for (name, accepted) in &mut self.versions {
            if *name != info.name && accepted.path.as_ref() == Some(&info.path) {
                accepted.path = None;
                changed = true;
            }
        }
        let accepted = Accepted {
            version: provenance.version,
            sha256: info.sha256.clone(),
            path: Some(info.path.clone()),
        };
        match self.versions.get_mut(&info.name) {
            Some(old) if old.version >= accepted.version => {
                if old.path != accepted.path {
                    old.path = accepted.path;
                    changed = true;
                }
            }
            _ => {
                self.versions.insert(info.name.clone(), accepted);
                changed = true;
            }
        }
        match &self.path {
            Some(path) if changed => self.save(path),
            _ => Ok(()),
        }
    }

    /// Takes the higher version of each list from `other`.
    fn merge(&mut self, other: BTreeMap<String, Accepted>) {
        for (name, theirs) in other {
            match self.versions.get_mut(&name) {
                Some(ours) if ours.version >= theirs.version => {
                    if ours.path.is_none() {
                        ours.path = theirs.path;
                    }
                }
                _ => {
                    self.versions.insert(name, theirs);
                }
            }
        }
    }

    fn save(&self, path: &Path) -> Result<(), ListError> {
        let failed = |source| ListError::Read {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut temporary = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
        let bytes = serde_json::to_vec_pretty(&self.versions).unwrap_or_default();
        temporary.write_all(&bytes).map_err(failed)?;
        temporary.persist(path).map_err(|e| failed(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::Provenance;

    fn named(name: &str, version: u64, sha256: &str) -> ListInfo {
        let mut info = ListInfo::for_file(name, Path::new("iwf.csv"), b"");
        info.sha256 = sha256.into();
        info.provenance = Some(Provenance {
            source: "IWF".into(),
            version,
            created_at: OffsetDateTime::UNIX_EPOCH,
            signed_by: None,
            thresholds: None,
        });
        info
    }

    fn info(version: u64, sha256: &str) -> ListInfo {
        named("iwf", version, sha256)
    }

    fn source() -> ListSource {
        ListSource::from(PathBuf::from("iwf.csv"))
    }

    fn refusal(result: Result<(), ListError>) -> Refusal {
        match result {
            Err(ListError::Refused { reason, .. }) => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_restart_cannot_roll_a_list_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let mut ledger = Ledger::open(Some(&path)).unwrap();
        ledger.check(&source(), &info(5, "aa")).unwrap();
        ledger.record(&info(5, "aa")).unwrap();
        ledger.record(&info(3, "cc")).unwrap(); // never lowers what was accepted

        let reopened = Ledger::open(Some(&path)).unwrap();
        assert_eq!(
            refusal(reopened.check(&source(), &info(4, "bb"))),
            Refusal::Rollback
        );
        assert_eq!(
            refusal(reopened.check(&source(), &info(5, "bb"))),
            Refusal::VersionReused
        );
        assert!(reopened.check(&source(), &info(5, "aa")).is_ok());
        assert!(reopened.check(&source(), &info(6, "dd")).is_ok());

        std::fs::write(&path, "{\"iwf\": 5}").unwrap();
        assert!(
            Ledger::open(Some(&path)).is_err(),
            "a corrupt ledger is an error, not empty"
        );
    }

    #[test]
    fn a_restart_cannot_put_another_list_in_a_files_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let mut ledger = Ledger::open(Some(&path)).unwrap();
        ledger.record(&info(5, "aa")).unwrap();

        let reopened = Ledger::open(Some(&path)).unwrap();
        let other = named("other", 9, "ff");
        assert_eq!(
            refusal(reopened.check(&source(), &other)),
            Refusal::NameChanged
        );
        // Without its manifest the file's list would go by the file's stem: refused too.
        let mut bare = ListInfo::for_file("iwf-stem", Path::new("iwf.csv"), b"");
        bare.sha256 = "ee".into();
        assert_eq!(
            refusal(reopened.check(&source(), &bare)),
            Refusal::NameChanged
        );
        // Naming the list in the configuration is how an operator changes it.
        let mut configured = source();
        configured.name = Some("other".into());
        assert!(reopened.check(&configured, &other).is_ok());
        let mut moved = Ledger::open(Some(&path)).unwrap();
        moved.record(&other).unwrap();
        let reopened = Ledger::open(Some(&path)).unwrap();
        assert!(reopened.check(&source(), &other).is_ok());
        assert_eq!(
            refusal(reopened.check(&source(), &info(6, "dd"))),
            Refusal::NameChanged
        );
    }

    #[test]
    fn processes_sharing_a_ledger_keep_each_others_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let mut first = Ledger::open(Some(&path)).unwrap();
        let mut second = Ledger::open(Some(&path)).unwrap();
        first.record(&info(7, "aa")).unwrap();
        // The second process has not seen version 7; recording another list must not lose it.
        let mut keywords = named("keywords", 2, "kk");
        keywords.path = PathBuf::from("keywords.csv");
        second.record(&keywords).unwrap();
        let reopened = Ledger::open(Some(&path)).unwrap();
        assert_eq!(
            refusal(reopened.check(&source(), &info(6, "bb"))),
            Refusal::Rollback
        );
        assert!(
            reopened
                .check(&ListSource::from(PathBuf::from("keywords.csv")), &keywords)
                .is_ok()
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ledger.json"], "no temporary file is left behind");
    }
}
