//! People who use the console: local accounts with argon2id password hashes, and their roles.

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use sqlx::Row;
use subtle::ConstantTimeEq;

use crate::store::{Store, StoreError};

/// What a person may do. Every route checks it on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Works the queue: claims items, sees their content, decides.
    Reviewer,
    /// A reviewer who also decides escalated items and sees the audit pages.
    Lead,
    /// Sees aggregate figures and the access log; never content.
    Auditor,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reviewer => "reviewer",
            Role::Lead => "lead",
            Role::Auditor => "auditor",
        }
    }

    /// Parses the stored name.
    pub fn parse(value: &str) -> Option<Role> {
        [Role::Reviewer, Role::Lead, Role::Auditor]
            .into_iter()
            .find(|r| r.as_str() == value)
    }

    /// Whether this role may see message content (text and images).
    pub fn sees_content(self) -> bool {
        matches!(self, Role::Reviewer | Role::Lead)
    }

    /// Whether this role may see the audit pages and export the access log.
    pub fn audits(self) -> bool {
        matches!(self, Role::Auditor | Role::Lead)
    }
}

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewer {
    /// Row id.
    pub id: i64,
    /// Login name (stays inside the console).
    pub username: String,
    /// The name decisions and exports carry.
    pub pseudonym: String,
    /// What they may do.
    pub role: Role,
}

/// Why an account could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A username must be 1–64 of `a-z 0-9 . _ -`.
    #[error("username `{0}` must be 1-64 of a-z 0-9 . _ -")]
    Username(String),
    /// Passwords shorter than this are refused.
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    /// Passwords longer than this are refused (they are never checked).
    #[error("the password must have at most {MAX_PASSWORD_BYTES} bytes")]
    LongPassword,
    /// The username is taken.
    #[error("username `{0}` exists already")]
    Exists(String),
    /// No such account.
    #[error("no account `{0}`")]
    Unknown(String),
    /// The password could not be hashed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 12;

fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// An argon2id PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` hashes to the argon2 PHC string `phc`, computing in `memory` (grown to
/// the hash's memory cost and kept, so a thread that checks passwords all day holds one
/// buffer instead of asking the allocator for 19 MiB at every check).
fn verify_password(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str());
    let version = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&hash))
    else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut computed = vec![0u8; expected.as_ref().len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut computed,
            &mut memory[..blocks],
        )
        .is_ok()
        && bool::from(computed.as_slice().ct_eq(expected.as_ref()))
}

/// An enabled account and its password hash (none for accounts that sign in only through
/// the proxy), for signing in.
pub(crate) struct Credentials {
    pub(crate) who: Reviewer,
    phc: Option<String>,
}

/// Longest password checked; a longer one is wrong without costing argon2 work on it.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The password checker is busy: every worker has a queue of checks waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks waiting")]
pub struct Busy;

struct Check {
    password: String,
    phc: String,
    done: tokio::sync::oneshot::Sender<bool>,
}

/// Checks passwords on a few threads of its own, one check per thread at a time: argon2
/// takes tens of milliseconds of CPU and 19 MiB per check, and on the async runtime's
/// blocking pool a flood of sign-ins ran hundreds at once (and the allocator kept the memory
/// of every thread that ever ran one). Checks beyond a short queue are refused as [`Busy`].
pub struct PasswordChecker {
    queue: std::sync::mpsc::SyncSender<Check>,
}

impl PasswordChecker {
    /// `workers` threads with room for `queued` checks waiting.
    pub fn start(workers: usize, queued: usize) -> PasswordChecker {
        let (queue, checks) = std::sync::mpsc::sync_channel::<Check>(queued);
        let checks = std::sync::Arc::new(std::sync::Mutex::new(checks));
        for i in 0..workers.max(1) {
            let checks = checks.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("vigil-password-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let next = checks
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .recv();
                        let Ok(check) = next else { return };
                        let ok = verify_password(&check.password, &check.phc, &mut memory);
                        let _ = check.done.send(ok);
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password-check thread");
            }
        }
        PasswordChecker { queue }
    }

    /// Whether `password` is the password of `account`. Without an account (or a password
    /// on it) a decoy hash is verified, so the answer takes as long and says nothing of which
    /// names exist.
    pub(crate) async fn matches(
        &self,
        account: Option<&Credentials>,
        password: &str,
    ) -> Result<bool, Busy> {
        let stored = account.and_then(|a| a.phc.clone());
        let known = stored.is_some();
        let fits = password.len() <= MAX_PASSWORD_BYTES;
        let (done, answer) = tokio::sync::oneshot::channel();
        let check = Check {
            password: if fits {
                password.to_string()
            } else {
                String::new()
            },
            phc: stored.unwrap_or_else(|| decoy_hash().to_string()),
            done,
        };
        self.queue.try_send(check).map_err(|_| Busy)?;
        let ok = answer.await.unwrap_or(false);
        Ok(known && fits && ok)
    }
}

impl std::fmt::Debug for PasswordChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChecker").finish_non_exhaustive()
    }
}

/// A fixed hash to verify against when the account does not exist, so that a login for an
/// unknown name takes as long as one with a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password, never valid").unwrap_or_default())
}

impl Store {
    /// Creates an account. `password` is `None` for accounts that sign in only through the
    /// trusted proxy. The pseudonym is `<role>-<id>`, stable and free of the login name.
    pub async fn add_reviewer(
        &self,
        username: &str,
        role: Role,
        password: Option<&str>,
    ) -> Result<Reviewer, AccountError> {
        if !valid_username(username) {
            return Err(AccountError::Username(username.to_string()));
        }
        let hash = match password {
            Some(p) if p.chars().count() < MIN_PASSWORD_CHARS => {
                return Err(AccountError::WeakPassword);
            }
            Some(p) if p.len() > MAX_PASSWORD_BYTES => return Err(AccountError::LongPassword),
            Some(p) => Some(hash_password(p)?),
            None => None,
        };
        let row = sqlx::query(
            "INSERT INTO reviewers (username, pseudonym, role, password_hash)
             VALUES ($1, 'pending-' || $1, $2, $3)
             ON CONFLICT (username) DO NOTHING
             RETURNING id",
        )
        .bind(username)
        .bind(role.as_str())
        .bind(hash)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("add reviewer"))?
        .ok_or_else(|| AccountError::Exists(username.to_string()))?;
        let id: i64 = row.get("id");
        let pseudonym = format!("{}-{id}", role.as_str());
        sqlx::query("UPDATE reviewers SET pseudonym = $1 WHERE id = $2")
            .bind(&pseudonym)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(StoreError::db("name reviewer"))?;
        Ok(Reviewer {
            id,
            username: username.to_string(),
            pseudonym,
            role,
        })
    }

    /// Gives `username` a new password; every session of the account ends. Returns the
    /// account.
    pub async fn set_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Reviewer, AccountError> {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AccountError::WeakPassword);
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(AccountError::LongPassword);
        }
        let hash = hash_password(password)?;
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        let who = sqlx::query(
            "UPDATE reviewers SET password_hash = $1 WHERE username = $2
             RETURNING id, username, pseudonym, role",
        )
        .bind(hash)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::db("set password"))?
        .as_ref()
        .and_then(reviewer_from)
        .ok_or_else(|| AccountError::Unknown(username.to_string()))?;
        sqlx::query("DELETE FROM sessions WHERE reviewer_id = $1")
            .bind(who.id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("end sessions"))?;
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(who)
    }

    /// Disables (or re-enables) an account; a disabled account's sessions end at once.
    pub async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(), AccountError> {
        let updated = sqlx::query("UPDATE reviewers SET disabled = $1 WHERE username = $2")
            .bind(disabled)
            .bind(username)
            .execute(self.pool())
            .await
            .map_err(StoreError::db("disable reviewer"))?
            .rows_affected();
        if updated == 0 {
            return Err(AccountError::Unknown(username.to_string()));
        }
        sqlx::query(
            "DELETE FROM sessions WHERE reviewer_id = (SELECT id FROM reviewers WHERE username = $1)",
        )
        .bind(username)
        .execute(self.pool())
        .await
        .map_err(StoreError::db("end sessions"))?;
        Ok(())
    }

    /// The enabled account `username` with its password hash, for signing in. A name that
    /// cannot be an account name is not looked up.
    pub(crate) async fn credentials(
        &self,
        username: &str,
    ) -> Result<Option<Credentials>, StoreError> {
        if !valid_username(username) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, username, pseudonym, role, password_hash FROM reviewers
             WHERE username = $1 AND NOT disabled",
        )
        .bind(username)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("find reviewer"))?;
        Ok(row.and_then(|row| {
            Some(Credentials {
                who: reviewer_from(&row)?,
                phc: row.get("password_hash"),
            })
        }))
    }

    /// The enabled account `username`, for the trusted-proxy mode (no password).
    pub async fn find_reviewer(&self, username: &str) -> Result<Option<Reviewer>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, pseudonym, role FROM reviewers WHERE username = $1 AND NOT disabled",
        )
        .bind(username)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("find reviewer"))?;
        Ok(row.as_ref().and_then(reviewer_from))
    }
}

pub(crate) fn reviewer_from(row: &sqlx::postgres::PgRow) -> Option<Reviewer> {
    Some(Reviewer {
        id: row.get("id"),
        username: row.get("username"),
        pseudonym: row.get("pseudonym"),
        role: Role::parse(row.get("role"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let memory = &mut Vec::new();
        assert!(verify_password("correct horse battery", &hash, memory));
        assert!(!verify_password("correct horse battery!", &hash, memory));
        assert!(!verify_password(
            "correct horse battery",
            "not a phc string",
            memory
        ));
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn verifying_in_reused_memory_agrees_with_the_reference_verifier() {
        use argon2::password_hash::PasswordVerifier;
        let memory = &mut Vec::new();
        // Other algorithms and costs than today's defaults (hashes made by older settings),
        // larger and smaller memory costs in turn so the buffer is both grown and reused.
        for (algorithm, m_cost, t_cost, lanes) in [
            (Algorithm::Argon2id, 19456, 2, 1),
            (Algorithm::Argon2i, 4096, 3, 2),
            (Algorithm::Argon2d, 32768, 1, 4),
            (Algorithm::Argon2id, 8, 1, 1),
        ] {
            let params = Params::new(m_cost, t_cost, lanes, None).unwrap();
            let argon = Argon2::new(algorithm, Version::V0x13, params);
            let hash = argon.hash_password(b"right password").unwrap().to_string();
            let parsed = PasswordHash::new(&hash).unwrap();
            for password in ["right password", "wrong password", ""] {
                let reference = Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok();
                assert_eq!(
                    verify_password(password, &hash, memory),
                    reference,
                    "{hash} {password}"
                );
            }
        }
    }

    #[test]
    fn usernames_are_plain() {
        for ok in ["alice", "a.b-c_d", "r2"] {
            assert!(valid_username(ok), "{ok}");
        }
        for bad in ["", "Alice", "a b", "a'--", "ä", &"x".repeat(65)] {
            assert!(!valid_username(bad), "{bad}");
        }
    }
}
