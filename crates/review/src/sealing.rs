//! Content at rest: every flag's text, images, previews and video frames are sealed by the
//! console before PostgreSQL sees them, so a dump or backup of the database holds no content.
//!
//! - Each flag gets its own random 256-bit **data key** (`flag_keys`), which seals each of its
//!   items with XChaCha20-Poly1305 (a random 192-bit nonce per item; the associated data names
//!   the flag and the item, so a sealed item moved to another row does not open).
//! - The data key is stored **wrapped** by a key-encryption key (KEK) from
//!   `review.content_key_file`, with that KEK's id. The file lists `<id> <64 hex digits>` per
//!   line; the first is the active KEK (new flags), the others still open older flags.
//! - **Rotation without downtime**: put a new line first and restart or roll the consoles
//!   (older flags still open under the old KEK), run `vigil review rotate-keys` (re-wraps every
//!   data key under the active KEK; content is not touched), then remove the old line.
//! - **Purging** a flag's content deletes its data key too: what a backup kept of the
//!   content cannot be opened once the key row is gone from the live database and its backups
//!   age out.
//!
//! Content stored before migration 0010 (no `flag_keys` row) is read as stored until the
//! retention purge removes it.

use std::collections::BTreeMap;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// Bytes of a nonce, in front of every sealed item.
const NONCE_BYTES: usize = 24;
/// Longest KEK id.
const MAX_KEY_ID_CHARS: usize = 64;

/// Why the content keys cannot be loaded or used. Never carries key material or content.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// `review.content_key_file` could not be read (retry after fixing the file or its mount).
    #[error("review.content_key_file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the key file is not `<id> <64 hex digits>`.
    #[error("review.content_key_file line {line}: {why}")]
    Line {
        /// 1-based.
        line: usize,
        /// What is wrong (never the key).
        why: &'static str,
    },
    /// The key file lists no key.
    #[error("review.content_key_file lists no key (a line `<id> <64 hex digits>`)")]
    Empty,
    /// A flag's data key is wrapped under a KEK that the key file no longer lists.
    #[error("content key `{0}` is not in review.content_key_file (removed before rotate-keys?)")]
    UnknownKey(String),
    /// A sealed item or wrapped key does not open: altered, moved to another row, or under
    /// another key than the one named. Retrying cannot help.
    #[error("sealed content does not open (altered, moved, or the wrong key)")]
    Corrupt,
    /// Content was to be stored or read by a store without content keys.
    #[error("review.content_key_file is not set: content is never stored in the clear")]
    NoKeys,
}

/// The key-encryption keys, by id; the first is the active one. Its `Debug` shows ids only.
#[derive(Clone)]
pub struct Keyring {
    active: String,
    keys: BTreeMap<String, Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Reads the key file (`review.content_key_file`).
    pub fn load(path: &Path) -> Result<Keyring, SealError> {
        let text = std::fs::read_to_string(path).map_err(|source| SealError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Keyring::parse(&text)
    }

    /// Parses `<id> <64 hex digits>` lines (blank lines and `#` comments skipped); the first
    /// key is the active one.
    pub fn parse(text: &str) -> Result<Keyring, SealError> {
        let mut active = None;
        let mut keys = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why| SealError::Line { line: n + 1, why };
            let (id, hex_key) = line
                .split_once(char::is_whitespace)
                .ok_or(bad("expected `<id> <64 hex digits>`"))?;
            let id_ok = !id.is_empty()
                && id.chars().count() <= MAX_KEY_ID_CHARS
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !id_ok {
                return Err(bad("the id must be 1-64 letters, digits, '-', '_' or '.'"));
            }
            let mut key = [0u8; 32];
            hex::decode_to_slice(hex_key.trim(), &mut key)
                .map_err(|_| bad("the key must be 64 hex digits (32 random bytes)"))?;
            if keys.insert(id.to_string(), Key::from(key)).is_some() {
                return Err(bad("this id is listed twice"));
            }
            active.get_or_insert_with(|| id.to_string());
        }
        Ok(Keyring {
            active: active.ok_or(SealError::Empty)?,
            keys,
        })
    }

    /// The id of the KEK new data keys are wrapped with.
    pub fn active_id(&self) -> &str {
        &self.active
    }

    fn kek(&self, id: &str) -> Result<XChaCha20Poly1305, SealError> {
        let key = self
            .keys
            .get(id)
            .ok_or_else(|| SealError::UnknownKey(id.to_string()))?;
        Ok(XChaCha20Poly1305::new(key))
    }

    /// A new data key for flag `flag_id`, and it wrapped under the active KEK.
    pub(crate) fn new_data_key(&self, flag_id: &str) -> Result<(DataKey, Wrapped), SealError> {
        let mut key = [0u8; 32];
        random(&mut key);
        let data_key = DataKey(Key::from(key));
        let wrapped = self.wrap(&data_key, flag_id)?;
        Ok((data_key, wrapped))
    }

    fn wrap(&self, key: &DataKey, flag_id: &str) -> Result<Wrapped, SealError> {
        let aad = wrap_aad(&self.active, flag_id);
        let bytes = seal_with(&self.kek(&self.active)?, &aad, key.0.as_slice());
        Ok(Wrapped {
            kek_id: self.active.clone(),
            bytes,
        })
    }

    /// Opens flag `flag_id`'s data key, wrapped under KEK `kek_id`.
    pub(crate) fn unwrap(
        &self,
        flag_id: &str,
        kek_id: &str,
        wrapped: &[u8],
    ) -> Result<DataKey, SealError> {
        let key = open_with(&self.kek(kek_id)?, &wrap_aad(kek_id, flag_id), wrapped)?;
        let key: [u8; 32] = key.try_into().map_err(|_| SealError::Corrupt)?;
        Ok(DataKey(Key::from(key)))
    }

    /// The same data key wrapped under the active KEK (rotation), if it is under another.
    pub(crate) fn rewrap(
        &self,
        flag_id: &str,
        kek_id: &str,
        wrapped: &[u8],
    ) -> Result<Option<Wrapped>, SealError> {
        if kek_id == self.active {
            return Ok(None);
        }
        let key = self.unwrap(flag_id, kek_id, wrapped)?;
        self.wrap(&key, flag_id).map(Some)
    }
}

/// A data key wrapped under a KEK, as stored in `flag_keys`.
#[derive(Debug, Clone)]
pub(crate) struct Wrapped {
    pub(crate) kek_id: String,
    pub(crate) bytes: Vec<u8>,
}

/// One flag's data key. Never printed.
pub(crate) struct DataKey(Key);

impl DataKey {
    /// `plain` sealed as item `item` of flag `flag_id`: nonce, then ciphertext and tag.
    pub(crate) fn seal(&self, flag_id: &str, item: &Item<'_>, plain: &[u8]) -> Vec<u8> {
        seal_with(&XChaCha20Poly1305::new(&self.0), &item.aad(flag_id), plain)
    }

    /// Opens what [`DataKey::seal`] sealed as the same item of the same flag.
    pub(crate) fn open(
        &self,
        flag_id: &str,
        item: &Item<'_>,
        sealed: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        open_with(&XChaCha20Poly1305::new(&self.0), &item.aad(flag_id), sealed)
    }
}

/// `stored`, item `item` of flag `flag_id` as read from its row, opened with the flag's data
/// key; content stored before sealing (no key) is returned as it is.
pub(crate) fn open_stored(
    key: Option<&DataKey>,
    flag_id: &str,
    item: &Item<'_>,
    stored: Vec<u8>,
) -> Result<Vec<u8>, SealError> {
    match key {
        Some(key) => key.open(flag_id, item, &stored),
        None => Ok(stored),
    }
}

/// Which item of a flag is sealed: the associated data binds each to its row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item<'a> {
    /// The message text.
    Text,
    /// An image attachment's bytes.
    Image(&'a str),
    /// An image's blurred preview.
    ImagePreview(&'a str),
    /// A video frame (attachment, frame time in ms).
    Frame(&'a str, u64),
    /// A video frame's blurred preview.
    FramePreview(&'a str, u64),
    /// What the message said of its sender (JSON).
    SenderDetails,
    /// An image attachment's original file name.
    FileName(&'a str),
}

impl Item<'_> {
    fn aad(&self, flag_id: &str) -> Vec<u8> {
        let item = match self {
            Item::Text => "text".to_string(),
            Item::Image(a) => format!("image\0{a}"),
            Item::ImagePreview(a) => format!("image-preview\0{a}"),
            Item::Frame(a, ms) => format!("frame\0{a}\0{ms}"),
            Item::FramePreview(a, ms) => format!("frame-preview\0{a}\0{ms}"),
            Item::SenderDetails => "sender-details".to_string(),
            Item::FileName(a) => format!("file-name\0{a}"),
        };
        format!("vigil-review-content\0{flag_id}\0{item}").into_bytes()
    }
}

fn wrap_aad(kek_id: &str, flag_id: &str) -> Vec<u8> {
    format!("vigil-review-data-key\0{kek_id}\0{flag_id}").into_bytes()
}

/// `bytes` filled from the OS generator: session tokens, data keys, nonces. Its failing is not
/// survivable for a login system or a cipher, so it panics.
pub(crate) fn random(bytes: &mut [u8]) {
    getrandom::fill(bytes).unwrap_or_else(|e| panic!("no OS randomness: {e}"));
}

fn seal_with(cipher: &XChaCha20Poly1305, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_BYTES];
    random(&mut nonce);
    let sealed = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
        .unwrap_or_else(|_| panic!("XChaCha20-Poly1305 refused a message under 256 GiB"));
    let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

fn open_with(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < NONCE_BYTES {
        return Err(SealError::Corrupt);
    }
    let (nonce, body) = sealed.split_at(NONCE_BYTES);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
        .map_err(|_| SealError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "old 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const NEW: &str = "new-2 f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";

    #[test]
    fn items_open_only_as_the_item_of_the_flag_they_were_sealed_as() {
        let ring = Keyring::parse(OLD).unwrap();
        let (key, wrapped) = ring.new_data_key("f1").unwrap();
        let sealed = key.seal("f1", &Item::Image("a1"), b"canary bytes");
        assert!(!sealed.windows(6).any(|w| w == b"canary"));
        assert_eq!(
            key.open("f1", &Item::Image("a1"), &sealed).unwrap(),
            b"canary bytes"
        );
        for (flag, item) in [
            ("f2", Item::Image("a1")),
            ("f1", Item::Image("a2")),
            ("f1", Item::ImagePreview("a1")),
            ("f1", Item::Text),
        ] {
            assert!(matches!(
                key.open(flag, &item, &sealed),
                Err(SealError::Corrupt)
            ));
        }
        let mut altered = sealed.clone();
        altered[30] ^= 1;
        assert!(matches!(
            key.open("f1", &Item::Image("a1"), &altered),
            Err(SealError::Corrupt)
        ));
        // The wrapped key opens for its flag only, and under its KEK only.
        let again = ring.unwrap("f1", &wrapped.kek_id, &wrapped.bytes).unwrap();
        assert_eq!(
            again.open("f1", &Item::Image("a1"), &sealed).unwrap(),
            b"canary bytes"
        );
        assert!(matches!(
            ring.unwrap("f2", "old", &wrapped.bytes),
            Err(SealError::Corrupt)
        ));
        assert!(matches!(
            ring.unwrap("f1", "gone", &wrapped.bytes),
            Err(SealError::UnknownKey(_))
        ));
    }

    #[test]
    fn rotation_rewraps_under_the_new_active_key_and_the_content_still_opens() {
        let old = Keyring::parse(OLD).unwrap();
        let (key, wrapped) = old.new_data_key("f1").unwrap();
        let sealed = key.seal("f1", &Item::Text, b"hello");
        let both = Keyring::parse(&format!("{NEW}\n{OLD}\n")).unwrap();
        assert_eq!(both.active_id(), "new-2");
        let moved = both.rewrap("f1", "old", &wrapped.bytes).unwrap().unwrap();
        assert_eq!(moved.kek_id, "new-2");
        assert!(both.rewrap("f1", "new-2", &moved.bytes).unwrap().is_none());
        let new_only = Keyring::parse(NEW).unwrap();
        let key = new_only.unwrap("f1", "new-2", &moved.bytes).unwrap();
        assert_eq!(key.open("f1", &Item::Text, &sealed).unwrap(), b"hello");
    }

    #[test]
    fn bad_key_files_say_which_line_and_never_echo_a_key() {
        for (text, line) in [
            ("k1 abc", 1),
            ("\n# comment\nk1", 3),
            (
                "bad/id 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                1,
            ),
            (&format!("{OLD}\n{OLD}"), 2),
        ] {
            let err = Keyring::parse(text).unwrap_err();
            assert!(
                matches!(err, SealError::Line { line: l, .. } if l == line),
                "{text:?}: {err}"
            );
            assert!(!err.to_string().contains("0001020304"), "{err}");
        }
        assert!(matches!(Keyring::parse("# none\n"), Err(SealError::Empty)));
        let debug = format!("{:?}", Keyring::parse(OLD).unwrap());
        assert!(debug.contains("old") && !debug.contains("0001"), "{debug}");
    }
}
