//! List manifests and their ed25519 signatures.
//!
//! A manifest is a small JSON file next to the data (`<data>.manifest.json` by default) that
//! names the list, its publisher and version, when it was made, how many entries it holds and
//! the SHA-256 of the data file. The signature (`<manifest>.sig`) is ed25519 over the exact
//! manifest bytes, so it covers the data through the digest. Keys are PEM files, as
//! `openssl genpkey -algorithm ed25519` writes them; the signature may be raw (64 bytes, as
//! `openssl pkeyutl -sign -rawin` writes it), base64 or hex.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::ListSource;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::csv::read_file;
use crate::{ListError, ListInfo, Provenance, Refusal};

/// What a list's publisher states about one version of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The list's name (reported in matches).
    pub name: String,
    /// Who publishes it, e.g. `IWF`.
    pub source: String,
    /// Version number; each new version must have a higher one.
    pub version: u64,
    /// When this version was made (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Entries in force in the data file (after its tombstones).
    pub entries: u64,
    /// SHA-256 of the data file, hex.
    pub sha256: String,
    /// The thresholds the publisher sets for matching its entries, if any. Configuration
    /// can only tighten them (and `[match]` bounds them all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
}

/// A publisher's thresholds for a list's PDQ entries: for the whole list and per category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Largest PDQ distance at which an entry matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdq_max_distance: Option<u32>,
    /// Lowest PDQ quality that is matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdq_min_quality: Option<u8>,
    /// The same, for entries of one category.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub categories: BTreeMap<String, CategoryThreshold>,
}

/// A publisher's thresholds for entries of one category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryThreshold {
    /// Largest PDQ distance at which an entry matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdq_max_distance: Option<u32>,
    /// Lowest PDQ quality that is matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdq_min_quality: Option<u8>,
}

impl Thresholds {
    /// Why these cannot be thresholds, if they cannot: a quality above 100.
    fn problem(&self) -> Option<String> {
        let qualities = std::iter::once(("", self.pdq_min_quality)).chain(
            self.categories
                .iter()
                .map(|(c, t)| (c.as_str(), t.pdq_min_quality)),
        );
        for (category, quality) in qualities {
            if let Some(q) = quality.filter(|&q| q > 100) {
                let place = if category.is_empty() {
                    String::new()
                } else {
                    format!(" of category `{category}`")
                };
                return Some(format!(
                    "pdq_min_quality{place} {q} is not a quality (0 to 100)"
                ));
            }
        }
        None
    }
}

impl Manifest {
    /// The manifest serialised as vigil writes it (pretty JSON and a newline); what is
    /// signed is whatever bytes the file holds.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

/// The manifest path for a data file when none is configured.
pub fn default_manifest_path(data: &Path) -> PathBuf {
    let mut name = data.as_os_str().to_owned();
    name.push(".manifest.json");
    PathBuf::from(name)
}

/// The signature path for a manifest.
pub fn signature_path(manifest: &Path) -> PathBuf {
    let mut name = manifest.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// A public key that lists may be signed with, named after its file.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key file's name, reported as `signed_by`.
    pub label: String,
    key: VerifyingKey,
}

impl TrustedKey {
    /// Reads a PEM public key (`-----BEGIN PUBLIC KEY-----`, ed25519).
    pub fn load(path: &Path) -> Result<TrustedKey, ListError> {
        let text = String::from_utf8_lossy(&read_file(path)?).into_owned();
        let key = VerifyingKey::from_public_key_pem(&text).map_err(|e| ListError::Format {
            path: path.to_path_buf(),
            message: format!("not an ed25519 public key in PEM: {e}"),
        })?;
        Ok(TrustedKey {
            label: ListInfo::name_from_path(path),
            key,
        })
    }
}

/// What every list must satisfy, from `[lists]`.
#[derive(Debug, Clone, Default)]
pub struct Integrity {
    /// When non-empty, every list needs a manifest signed by one of these.
    pub keys: Vec<TrustedKey>,
    /// Lists made longer ago than this are refused (and lists without a manifest).
    pub max_age: Option<Duration>,
}

impl Integrity {
    /// Loads the configured keys.
    pub fn from_config(config: &crate::ListsConfig) -> Result<Integrity, ListError> {
        Ok(Integrity {
            keys: config
                .trusted_keys
                .iter()
                .map(|p| TrustedKey::load(p))
                .collect::<Result<_, _>>()?,
            max_age: config.max_age_secs.map(Duration::from_secs),
        })
    }
}

/// A list's data file, read and checked against its manifest, ready to parse. Its SHA-256
/// is computed on another thread while the caller parses (a 10-million-line list takes
/// seconds to hash); [`ListFile::finish`] joins it and checks it.
#[derive(Debug)]
pub struct ListFile {
    bytes: Arc<Vec<u8>>,
    /// The list's identity; `sha256` (and, without a manifest, `version`) are filled in by
    /// [`ListFile::finish`].
    pub info: ListInfo,
    expected_entries: Option<u64>,
    expected_sha256: Option<String>,
    digest: Digesting,
}

#[derive(Debug)]
enum Digesting {
    Done(String),
    Running(std::thread::JoinHandle<String>),
}

impl Digesting {
    fn start(bytes: &Arc<Vec<u8>>) -> Digesting {
        let shared = bytes.clone();
        std::thread::Builder::new()
            .name("vigil-list-digest".into())
            .spawn(move || sha256_hex(&shared))
            .map_or_else(|_| Digesting::Done(sha256_hex(bytes)), Digesting::Running)
    }

    fn join(self, bytes: &[u8]) -> String {
        match self {
            Digesting::Done(digest) => digest,
            Digesting::Running(handle) => handle.join().unwrap_or_else(|_| sha256_hex(bytes)),
        }
    }
}

impl ListFile {
    /// Reads `source`'s data and manifest and checks what can be checked before parsing:
    /// signature, age and name. The digest, entry count and version order are checked
    /// after parsing ([`ListFile::finish`], [`ListInfo::check_successor`]).
    pub fn read(
        source: &ListSource,
        integrity: &Integrity,
        now: OffsetDateTime,
    ) -> Result<ListFile, ListError> {
        let bytes = Arc::new(read_file(&source.path)?);
        let mut file = ListFile::unverified(source, bytes);
        let manifest_path = match &source.manifest {
            Some(path) => Some(path.clone()),
            None => Some(default_manifest_path(&source.path)).filter(|p| p.exists()),
        };
        let info = &mut file.info;
        let Some(manifest_path) = manifest_path else {
            if !integrity.keys.is_empty() {
                return Err(info.refused(
                    Refusal::NoManifest,
                    "`lists.trusted_keys` is set, so every list needs a signed manifest".into(),
                ));
            }
            if integrity.max_age.is_some() {
                return Err(info.refused(
                    Refusal::NoManifest,
                    "`lists.max_age_secs` is set, so every list needs a manifest with `created_at`"
                        .into(),
                ));
            }
            return Ok(file);
        };
        let manifest_bytes = read_file(&manifest_path)?;
        let signed_by = if integrity.keys.is_empty() {
            None
        } else {
            Some(verify_signature(
                info,
                &manifest_path,
                &manifest_bytes,
                &integrity.keys,
            )?)
        };
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| {
            info.refused(
                Refusal::BadManifest,
                format!("{}: {e}", manifest_path.display()),
            )
        })?;
        if let Some(max_age) = integrity.max_age {
            let age = now - manifest.created_at;
            if age > max_age {
                return Err(info.refused(
                    Refusal::Stale,
                    format!(
                        "version {} was created {} ({} s ago); `lists.max_age_secs` is {}",
                        manifest.version,
                        manifest.created_at,
                        age.whole_seconds(),
                        max_age.as_secs()
                    ),
                ));
            }
        }
        match &source.name {
            Some(name) if *name != manifest.name => {
                return Err(info.refused(
                    Refusal::NameMismatch,
                    format!("the manifest is for list `{}`", manifest.name),
                ));
            }
            _ => info.name = manifest.name.clone(),
        }
        info.version = manifest.version.to_string();
        if let Some(problem) = manifest.thresholds.as_ref().and_then(Thresholds::problem) {
            return Err(info.refused(
                Refusal::BadManifest,
                format!("{}: {problem}", manifest_path.display()),
            ));
        }
        info.provenance = Some(Provenance {
            source: manifest.source,
            version: manifest.version,
            created_at: manifest.created_at,
            signed_by,
            thresholds: manifest.thresholds,
        });
        file.expected_entries = Some(manifest.entries);
        file.expected_sha256 = Some(manifest.sha256);
        Ok(file)
    }

    /// `bytes` as the content of `source` without manifest checks (tests, conversions).
    pub fn read_unchecked(source: &ListSource, bytes: Vec<u8>) -> ListFile {
        ListFile::unverified(source, Arc::new(bytes))
    }

    fn unverified(source: &ListSource, bytes: Arc<Vec<u8>>) -> ListFile {
        let stem = ListInfo::name_from_path(&source.path);
        let info = ListInfo {
            name: source.name.clone().unwrap_or(stem),
            version: String::new(),
            path: source.path.clone(),
            sha256: String::new(),
            entries: 0,
            provenance: None,
            skipped_lines: 0,
            deleted: 0,
        };
        ListFile {
            digest: Digesting::start(&bytes),
            bytes,
            info,
            expected_entries: None,
            expected_sha256: None,
        }
    }

    /// The data.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Completes a load: joins the digest and fills it into the parsed list's info (`info`
    /// picks it out of `parsed`); then refuses a digest that differs from the manifest's —
    /// before any parse error, since a truncated or tampered file explains those — and an
    /// entry count that differs (unless a lenient parse skipped lines).
    pub fn finish<T>(
        self,
        parsed: Result<T, ListError>,
        info: impl FnOnce(&mut T) -> &mut ListInfo,
    ) -> Result<T, ListError> {
        let digest = self.digest.join(&self.bytes);
        if let Some(expected) = &self.expected_sha256
            && !expected.eq_ignore_ascii_case(&digest)
        {
            return Err(self.info.refused(
                Refusal::DigestMismatch,
                format!("the data file's SHA-256 is {digest}, the manifest says {expected}"),
            ));
        }
        let mut parsed = parsed?;
        let list = info(&mut parsed);
        if list.provenance.is_none() {
            list.version = format!("sha256:{}", &digest[..12]);
        }
        list.sha256 = digest;
        match self.expected_entries {
            Some(expected) if expected != list.entries as u64 && list.skipped_lines == 0 => {
                Err(list.refused(
                    Refusal::EntryCount,
                    format!(
                        "{} entries in the file, the manifest says {expected}",
                        list.entries
                    ),
                ))
            }
            _ => Ok(parsed),
        }
    }
}

fn verify_signature(
    info: &ListInfo,
    manifest_path: &Path,
    manifest: &[u8],
    keys: &[TrustedKey],
) -> Result<String, ListError> {
    let path = signature_path(manifest_path);
    let raw = std::fs::read(&path).map_err(|e| {
        info.refused(
            Refusal::Unsigned,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let signature = decode_signature(&raw).ok_or_else(|| {
        info.refused(
            Refusal::BadSignature,
            format!(
                "{} is not an ed25519 signature (64 bytes raw, base64 or hex)",
                path.display()
            ),
        )
    })?;
    keys.iter()
        .find(|k| k.key.verify_strict(manifest, &signature).is_ok())
        .map(|k| k.label.clone())
        .ok_or_else(|| {
            info.refused(
                Refusal::BadSignature,
                format!(
                    "no trusted key verifies {} for {}",
                    path.display(),
                    manifest_path.display()
                ),
            )
        })
}

fn decode_signature(raw: &[u8]) -> Option<Signature> {
    if raw.len() == Signature::BYTE_SIZE {
        return Signature::from_slice(raw).ok();
    }
    let text = std::str::from_utf8(raw).ok()?.trim();
    let bytes = hex::decode(text)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())?;
    Signature::from_slice(&bytes).ok()
}

/// Signs manifest bytes with a PEM private key (PKCS#8, as `openssl genpkey` writes it);
/// returns the signature as base64 text with a newline.
pub fn sign_manifest(key_path: &Path, manifest: &[u8]) -> Result<String, ListError> {
    let text = String::from_utf8_lossy(&read_file(key_path)?).into_owned();
    let key = SigningKey::from_pkcs8_pem(&text).map_err(|e| ListError::Format {
        path: key_path.to_path_buf(),
        message: format!("not an ed25519 private key in PEM (PKCS#8): {e}"),
    })?;
    let signature = key.sign(manifest);
    Ok(format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
    ))
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
