//! People who use the console: local accounts with argon2id password hashes, and their roles.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sqlx::Row;

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

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
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

    /// The enabled account `username` if `password` is its password.
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Reviewer>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, pseudonym, role, password_hash FROM reviewers
             WHERE username = $1 AND NOT disabled",
        )
        .bind(username)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("find reviewer"))?;
        let stored: Option<String> = row.as_ref().and_then(|r| r.get("password_hash"));
        let password = password.to_string();
        let phc = stored.clone().unwrap_or_else(|| decoy_hash().to_string());
        // argon2 takes tens of milliseconds of CPU: off the async workers.
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
            .await
            .unwrap_or(false);
        Ok(match row {
            Some(row) if ok && stored.is_some() => reviewer_from(&row),
            _ => None,
        })
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
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
        assert!(!verify_password(
            "correct horse battery",
            "not a phc string"
        ));
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, hash_password("correct horse battery").unwrap());
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
