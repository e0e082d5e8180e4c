//! Evidence packages: a case exported for hotlines and law enforcement that take files — a
//! tar archive of the confirmed flags' content (message texts, images, matched video frames)
//! and a `manifest.json` listing every file with its SHA-256 and MD5, each flag with its
//! matches (list, version, entry, distance), decisions, holds and CyberTipline report, and
//! the chain of custody: every access-log row about the case, with its hash in the log's
//! chain. `manifest.json.sig` is an Ed25519 signature over the manifest's exact bytes by
//! `review.evidence_signing_key_file`; since the manifest lists every file's SHA-256, the
//! signature covers them all. [`verify`] checks a package (`vigil review verify-package`);
//! so do `openssl pkeyutl -verify -rawin` and `sha256sum -c SHA256SUMS` (README.txt inside).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use md5::Digest as _;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::access::{Access, Action, log_access_on};
use crate::accounts::Reviewer;
use crate::sealing::{Item, open_stored};
use crate::store::{Store, StoreError};

/// The manifest's `format`.
pub const FORMAT: &str = "vigil-evidence-package/1";

const MANIFEST: &str = "manifest.json";
const SIGNATURE: &str = "manifest.json.sig";
const PUBLIC_KEY: &str = "signing-key.pub.pem";
const SUMS: &str = "SHA256SUMS";
const README: &str = "README.txt";

const README_TEXT: &str = "\
A vigil evidence package: one account's confirmed flags with their content, matches,
decisions and chain of custody.

manifest.json      every file with its SHA-256 and MD5; each flag's matches, decisions,
                   holds and reports; the access-log rows about the case (chain of custody)
manifest.json.sig  Ed25519 signature over manifest.json's exact bytes
signing-key.pub.pem  the public key that made it: check it against the one the platform
                   published; a key from inside the package proves nothing by itself
SHA256SUMS         the files' SHA-256, for sha256sum -c
files/, messages/  the content

Verify:
  openssl pkeyutl -verify -pubin -inkey PUBLISHED-KEY.pem -rawin -in manifest.json \\
      -sigfile manifest.json.sig
  sha256sum -c SHA256SUMS
or: vigil review verify-package PACKAGE.tar --public-key PUBLISHED-KEY.pem
";

/// Why a package could not be made or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A key file could not be read or is not an Ed25519 key.
    #[error("{path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong (never the key).
        reason: String,
    },
    /// The account has no confirmed flag with content.
    #[error("account {0} has no confirmed flag with content to export")]
    NothingToExport(String),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The archive could not be written or read.
    #[error("package archive: {0}")]
    Archive(#[from] std::io::Error),
    /// The package does not verify: what failed (a file name, never content).
    #[error("the package does not verify: {0}")]
    Invalid(String),
}

/// The key packages are signed with, and its public half.
pub struct PackageSigner {
    key: SigningKey,
    public_pem: String,
    key_id: String,
}

impl std::fmt::Debug for PackageSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackageSigner")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl PackageSigner {
    /// Reads a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`).
    pub fn load(path: &Path) -> Result<PackageSigner, PackageError> {
        let key_error = |reason: String| PackageError::Key {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?;
        let key = SigningKey::from_pkcs8_pem(&text)
            .map_err(|_| key_error("not a PKCS#8 PEM Ed25519 private key".into()))?;
        let public = key.verifying_key();
        let public_pem = public
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| key_error(e.to_string()))?;
        let key_id = hex::encode(&sha2::Sha256::digest(public.as_bytes())[..8]);
        Ok(PackageSigner {
            key,
            public_pem,
            key_id,
        })
    }

    /// The public key's id: the first 8 bytes of its SHA-256, in hex.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// The manifest: what the package holds and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The account the case is about.
    pub sender_id: String,
    /// When the package was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who made it (pseudonym).
    pub created_by: String,
    /// The console's version.
    pub console_version: String,
    /// The signing key's id.
    pub signing_key_id: String,
    /// Every file of the package but the manifest, its signature, the key, the sums and the
    /// readme.
    pub files: Vec<ManifestFile>,
    /// The confirmed flags exported.
    pub flags: Vec<ManifestFlag>,
    /// The case's CyberTipline report, if one was made.
    pub cybertipline_report: Option<serde_json::Value>,
    /// Every access-log row about the case, oldest first.
    pub chain_of_custody: Vec<CustodyRow>,
    /// The access log's last row when the package was made: its id and hash, so a verifier
    /// with the console can check the chain up to it (`vigil review verify-log`).
    pub access_log_head: Option<CustodyHead>,
}

/// One file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFile {
    /// Its path in the package.
    pub path: String,
    /// `message_text`, `image` or `video_frame`.
    pub kind: String,
    /// The flag it belongs to.
    pub flag_id: String,
    /// The attachment, for images and frames.
    pub attachment_id: Option<String>,
    /// The frame's time, for frames.
    pub frame_ms: Option<i64>,
    /// The name the sender's device gave it, if the message said.
    pub original_name: Option<String>,
    /// Hex SHA-256.
    pub sha256: String,
    /// Hex MD5.
    pub md5: String,
    /// Size.
    pub size_bytes: u64,
}

/// One flag.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestFlag {
    /// The flag.
    pub flag_id: String,
    /// Its message.
    pub message_id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// When the message was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    /// When vigil flagged it.
    #[serde(with = "time::serde::rfc3339")]
    pub flagged_at: OffsetDateTime,
    /// Its severity.
    pub severity: String,
    /// Its categories.
    pub categories: Vec<String>,
    /// Where the message was read (topic, partition, offset or file, line).
    pub source: serde_json::Value,
    /// Every match: detector, list, list version, category, entry or rule, distance, spans.
    pub matches: serde_json::Value,
    /// Every decision on it, oldest first.
    pub decisions: Vec<ManifestDecision>,
    /// Its holds.
    pub holds: Vec<serde_json::Value>,
}

/// One decision.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestDecision {
    /// `confirm`, `false_positive` or `escalate`.
    pub decision: String,
    /// The reviewer's pseudonym.
    pub reviewer: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub decided_at: OffsetDateTime,
    /// Their note.
    pub note: String,
}

/// One access-log row, with its place in the hash chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CustodyRow {
    /// Row id.
    pub id: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (pseudonym, or `vigil` for the console itself).
    pub actor: String,
    /// Their role.
    pub role: String,
    /// What.
    pub action: String,
    /// Which flag.
    pub flag_id: Option<String>,
    /// Which attachment.
    pub attachment_id: Option<String>,
    /// A content-free detail.
    pub detail: String,
    /// The row's hash in the access log's chain (hex).
    pub row_hash: Option<String>,
}

/// The access log's head.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CustodyHead {
    /// Its id.
    pub id: i64,
    /// Its hash (hex).
    pub row_hash: Option<String>,
}

/// A package made.
#[derive(Debug, Clone)]
pub struct Package {
    /// The archive's suggested file name.
    pub file_name: String,
    /// The tar archive.
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of the manifest.
    pub manifest_sha256: String,
    /// How many content files.
    pub files: usize,
}

/// What [`verify`] found.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The manifest, now trusted.
    pub manifest: Manifest,
}

/// An image row: attachment, media type, sealed bytes, sealed original name.
type StoredImage = (String, String, Vec<u8>, Option<Vec<u8>>);

/// The files of a package being made: their manifest entries and bytes.
#[derive(Default)]
struct Packed {
    files: Vec<ManifestFile>,
    content: Vec<(String, Vec<u8>)>,
}

impl Packed {
    /// Adds `bytes` at `path`; `(attachment, frame time, original name)` say what it is.
    fn add(
        &mut self,
        flag_id: &str,
        path: String,
        kind: &str,
        (attachment, frame_ms, original_name): (Option<&str>, Option<i64>, Option<String>),
        bytes: Vec<u8>,
    ) {
        self.files.push(ManifestFile {
            path: path.clone(),
            kind: kind.into(),
            flag_id: flag_id.into(),
            attachment_id: attachment.map(str::to_string),
            frame_ms,
            original_name,
            sha256: sha256_hex(&bytes),
            md5: md5_hex(&bytes),
            size_bytes: bytes.len() as u64,
        });
        self.content.push((path, bytes));
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(md5::Md5::digest(bytes))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The extension a file of `media_type` gets in the package.
fn extension(media_type: &str) -> &'static str {
    match media_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/bmp" => "bmp",
        "image/tiff" => "tiff",
        _ => "bin",
    }
}

impl Store {
    /// `who`, a lead, exports `sender_id`'s case as a signed evidence package (logged as
    /// `export_package` with the manifest's SHA-256).
    pub async fn case_package(
        &self,
        signer: &PackageSigner,
        who: &Reviewer,
        sender_id: &str,
        remote_addr: &str,
    ) -> Result<Package, PackageError> {
        let rows = sqlx::query(
            "SELECT f.flag_id, f.message_id, f.conversation_id, f.sent_at, f.flagged_at,
                    f.severity, f.categories, f.source, f.matches, c.text_utf8
             FROM flags f JOIN latest_decisions d USING (flag_id)
             LEFT JOIN flag_content c USING (flag_id)
             WHERE f.sender_id = $1 AND d.decision = 'confirm' AND f.content_state = 'stored'
             ORDER BY f.sent_at, f.flag_id",
        )
        .bind(sender_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read case flags"))?;
        if rows.is_empty() {
            return Err(PackageError::NothingToExport(sender_id.to_string()));
        }
        let created_at = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(OffsetDateTime::now_utc());
        let mut packed = Packed::default();
        let mut flags = Vec::new();
        let mut flag_ids = Vec::new();
        for row in &rows {
            let flag_id: String = row.get("flag_id");
            let key = self.data_key(&flag_id).await?;
            let open = |item: Item<'_>, sealed: Vec<u8>| {
                open_stored(key.as_ref(), &flag_id, &item, sealed).map_err(StoreError::from)
            };
            if let Some(sealed) = row.get::<Option<Vec<u8>>, _>("text_utf8") {
                let text = open(Item::Text, sealed)?;
                let path = format!("messages/{flag_id}.txt");
                packed.add(&flag_id, path, "message_text", (None, None, None), text);
            }
            let images: Vec<StoredImage> = sqlx::query_as(
                "SELECT attachment_id, media_type, data, file_name FROM flag_images
                 WHERE flag_id = $1 ORDER BY attachment_id",
            )
            .bind(&flag_id)
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::db("read images"))?;
            for (attachment, media_type, data, name) in images {
                let name = match name {
                    Some(sealed) => Some(
                        String::from_utf8_lossy(&open(Item::FileName(&attachment), sealed)?)
                            .into_owned(),
                    ),
                    None => None,
                };
                let bytes = open(Item::Image(&attachment), data)?;
                let path = format!(
                    "files/{:03}.{}",
                    packed.files.len() + 1,
                    extension(&media_type)
                );
                packed.add(
                    &flag_id,
                    path,
                    "image",
                    (Some(&attachment), None, name),
                    bytes,
                );
            }
            let frames: Vec<(String, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT attachment_id, frame_ms, thumbnail FROM flag_video_frames
                 WHERE flag_id = $1 ORDER BY attachment_id, frame_ms",
            )
            .bind(&flag_id)
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::db("read frames"))?;
            for (attachment, ms, data) in frames {
                let bytes = open(Item::Frame(&attachment, ms as u64), data)?;
                let path = format!("files/{:03}.png", packed.files.len() + 1);
                packed.add(
                    &flag_id,
                    path,
                    "video_frame",
                    (Some(&attachment), Some(ms), None),
                    bytes,
                );
            }
            flags.push(ManifestFlag {
                flag_id: flag_id.clone(),
                message_id: row.get("message_id"),
                conversation_id: row.get("conversation_id"),
                sent_at: row.get("sent_at"),
                flagged_at: row.get("flagged_at"),
                severity: row.get("severity"),
                categories: row.get("categories"),
                source: row.get("source"),
                matches: row.get("matches"),
                decisions: self.package_decisions(&flag_id).await?,
                holds: self
                    .holds_of(&flag_id)
                    .await?
                    .iter()
                    .map(|h| serde_json::to_value(h).unwrap_or_default())
                    .collect(),
            });
            flag_ids.push(flag_id.clone());
        }
        let report = self.report_of_case(sender_id).await?;
        let cybertipline_report = report.as_ref().map(|r| {
            serde_json::json!({
                "status": r.status.as_str(),
                "ncmec_report_id": r.report_id,
                "incident_type": r.incident_type.as_str(),
                "finished_at": r.finished_at.and_then(|t| t.format(&Rfc3339).ok()),
                "retracted_ncmec_report_ids": r.retracted_ids,
                "files": r.files.iter().map(|f| serde_json::json!({
                    "flag_id": f.flag_id, "attachment_id": f.attachment_id,
                    "frame_ms": f.frame_ms, "md5": f.md5, "ncmec_file_id": f.file_id,
                })).collect::<Vec<_>>(),
            })
        });
        let report_key = report.map(|r| format!("report={} ", r.id));
        let (chain_of_custody, access_log_head) = self
            .custody(&flag_ids, sender_id, report_key.as_deref())
            .await?;
        let manifest = Manifest {
            format: FORMAT.into(),
            sender_id: sender_id.into(),
            created_at,
            created_by: who.pseudonym.clone(),
            console_version: env!("CARGO_PKG_VERSION").into(),
            signing_key_id: signer.key_id.clone(),
            files: packed.files,
            flags,
            cybertipline_report,
            chain_of_custody,
            access_log_head,
        };
        let manifest_bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| PackageError::Archive(std::io::Error::other(e)))?;
        let signature = signer.key.sign(&manifest_bytes).to_bytes();
        let sums: String = manifest
            .files
            .iter()
            .map(|f| format!("{}  {}\n", f.sha256, f.path))
            .collect();
        let stamp = created_at
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_default();
        let top = format!("vigil-case-{stamp}");
        let mut archive = tar::Builder::new(Vec::new());
        let mtime = created_at.unix_timestamp().max(0) as u64;
        let mut append = |path: &str, bytes: &[u8]| -> std::io::Result<()> {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(mtime);
            header.set_entry_type(tar::EntryType::Regular);
            archive.append_data(&mut header, format!("{top}/{path}"), bytes)
        };
        append(README, README_TEXT.as_bytes())?;
        append(MANIFEST, &manifest_bytes)?;
        append(SIGNATURE, &signature)?;
        append(PUBLIC_KEY, signer.public_pem.as_bytes())?;
        append(SUMS, sums.as_bytes())?;
        for (path, bytes) in &packed.content {
            append(path, bytes)?;
        }
        let bytes = archive.into_inner()?;
        let manifest_sha256 = sha256_hex(&manifest_bytes);
        let detail = format!(
            "sender={sender_id} manifest_sha256={manifest_sha256} files={}",
            packed.content.len()
        );
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        log_access_on(
            &mut tx,
            &Access::by(who, Action::ExportPackage, remote_addr).detail(&detail),
        )
        .await?;
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(Package {
            file_name: format!("{top}.tar"),
            bytes,
            manifest_sha256,
            files: packed.content.len(),
        })
    }

    async fn package_decisions(&self, flag_id: &str) -> Result<Vec<ManifestDecision>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.decision, r.pseudonym, d.decided_at, d.note FROM decisions d
             JOIN reviewers r ON r.id = d.reviewer_id WHERE d.flag_id = $1 ORDER BY d.id",
        )
        .bind(flag_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read decisions"))?;
        Ok(rows
            .iter()
            .map(|r| ManifestDecision {
                decision: r.get("decision"),
                reviewer: r.get("pseudonym"),
                decided_at: r.get("decided_at"),
                note: r.get("note"),
            })
            .collect())
    }

    /// The access-log rows about the case — about its flags, naming its sender, or about its
    /// report — and the log's head.
    async fn custody(
        &self,
        flag_ids: &[String],
        sender_id: &str,
        report_key: Option<&str>,
    ) -> Result<(Vec<CustodyRow>, Option<CustodyHead>), StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, role, action, flag_id, attachment_id, detail,
                    encode(row_hash, 'hex') AS row_hash
             FROM access_log
             WHERE flag_id = ANY($1)
                OR detail = 'sender=' || $2 OR starts_with(detail, 'sender=' || $2 || ' ')
                OR ($3::text IS NOT NULL AND starts_with(detail, $3))
             ORDER BY id",
        )
        .bind(flag_ids)
        .bind(sender_id)
        .bind(report_key)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read chain of custody"))?;
        let custody = rows
            .iter()
            .map(|r| CustodyRow {
                id: r.get("id"),
                at: r.get("at"),
                actor: r.get("actor"),
                role: r.get("role"),
                action: r.get("action"),
                flag_id: r.get("flag_id"),
                attachment_id: r.get("attachment_id"),
                detail: r.get("detail"),
                row_hash: r.get("row_hash"),
            })
            .collect();
        let head = sqlx::query(
            "SELECT id, encode(row_hash, 'hex') AS row_hash FROM access_log ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read access log head"))?
        .map(|r| CustodyHead {
            id: r.get("id"),
            row_hash: r.get("row_hash"),
        });
        Ok((custody, head))
    }
}

/// Reads a PEM Ed25519 public key (`openssl pkey -pubout`), to [`verify`] packages with.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, PackageError> {
    let key_error = |reason: String| PackageError::Key {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?;
    VerifyingKey::from_public_key_pem(&text)
        .map_err(|_| key_error("not a PEM Ed25519 public key".into()))
}

/// Checks a package against `key` (the platform's published public key): the signature
/// over the manifest, every listed file's SHA-256 and MD5, SHA256SUMS, and that the archive
/// holds nothing else.
pub fn verify(archive: &[u8], key: &VerifyingKey) -> Result<Verified, PackageError> {
    let invalid = |what: String| PackageError::Invalid(what);
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut reader = tar::Archive::new(archive);
    let mut top: Option<String> = None;
    for entry in reader.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let Some((dir, rest)) = path.split_once('/') else {
            return Err(invalid(format!("{path}: outside the package's directory")));
        };
        if top.get_or_insert_with(|| dir.to_string()) != dir {
            return Err(invalid(format!("{path}: a second top directory")));
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        if entries.insert(rest.to_string(), bytes).is_some() {
            return Err(invalid(format!("{rest}: twice in the archive")));
        }
    }
    let take = |entries: &mut BTreeMap<String, Vec<u8>>, name: &str| {
        entries
            .remove(name)
            .ok_or_else(|| invalid(format!("{name} is missing")))
    };
    let manifest_bytes = take(&mut entries, MANIFEST)?;
    let signature = take(&mut entries, SIGNATURE)?;
    let signature = Signature::from_slice(&signature)
        .map_err(|_| invalid(format!("{SIGNATURE} is not a 64-byte Ed25519 signature")))?;
    key.verify(&manifest_bytes, &signature).map_err(|_| {
        invalid(format!(
            "{SIGNATURE} does not match {MANIFEST} under this key"
        ))
    })?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| invalid(format!("{MANIFEST} is not a manifest: {e}")))?;
    if manifest.format != FORMAT {
        return Err(invalid(format!(
            "format {} is not {FORMAT}",
            manifest.format
        )));
    }
    for file in &manifest.files {
        let bytes = take(&mut entries, &file.path)?;
        if sha256_hex(&bytes) != file.sha256 || md5_hex(&bytes) != file.md5 {
            return Err(invalid(format!(
                "{}: its digest is not the manifest's",
                file.path
            )));
        }
    }
    let sums: String = manifest
        .files
        .iter()
        .map(|f| format!("{}  {}\n", f.sha256, f.path))
        .collect();
    if take(&mut entries, SUMS)? != sums.as_bytes() {
        return Err(invalid(format!("{SUMS} is not the manifest's list")));
    }
    for name in [README, PUBLIC_KEY] {
        take(&mut entries, name)?;
    }
    if let Some(extra) = entries.keys().next() {
        return Err(invalid(format!("{extra}: not in the manifest")));
    }
    Ok(Verified { manifest })
}
