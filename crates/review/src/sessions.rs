//! Console sessions in the store. A session is a random 256-bit token; the database keeps
//! only its SHA-256, the reviewer, a CSRF token, and three times: when it ends
//! (`review.session_ttl_secs` after sign-in), when it was last used (unused for longer than
//! the idle timeout, it ends) and when its owner last proved who they are. A session of a
//! disabled account is no session.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::Row;
use time::OffsetDateTime;

use crate::access::{Access, Action};
use crate::accounts::{Reviewer, reviewer_from};
use crate::store::{Store, StoreError};

/// 32 random bytes, hex.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    crate::sealing::random(&mut bytes);
    hex::encode(bytes)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A session in force.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Whose.
    pub(crate) who: Reviewer,
    /// The token its forms carry.
    pub(crate) csrf: String,
    /// When it began.
    pub(crate) since: OffsetDateTime,
    /// When its owner last proved who they are (signing in, or re-authenticating).
    pub(crate) authenticated_at: OffsetDateTime,
}

/// What a session token stands for.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A session in force, now marked as used.
    Active(Session),
    /// It ended now, unused for longer than the idle timeout.
    Idle,
    /// No such session (never was, expired, signed out, account disabled).
    None,
}

impl Store {
    /// Starts a session for `who`; returns the cookie token.
    async fn create_session(&self, who: &Reviewer, ttl_secs: u64) -> Result<String, StoreError> {
        let token = random_token();
        let csrf = random_token();
        sqlx::query(
            "INSERT INTO sessions (token_hash, reviewer_id, csrf_token, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        )
        .bind(token_hash(&token))
        .bind(who.id)
        .bind(&csrf)
        .bind(ttl_secs as f64)
        .execute(self.pool())
        .await
        .map_err(StoreError::db("create session"))?;
        // Expired sessions of anyone go at each sign-in.
        sqlx::query("DELETE FROM sessions WHERE expires_at < now()")
            .execute(self.pool())
            .await
            .map_err(StoreError::db("expire sessions"))?;
        Ok(token)
    }

    /// Signs `who` in: a new session (its cookie token is returned) and a `login` row.
    pub(crate) async fn sign_in(
        &self,
        who: &Reviewer,
        ttl_secs: u64,
        remote_addr: &str,
        detail: &str,
    ) -> Result<String, StoreError> {
        let token = self.create_session(who, ttl_secs).await?;
        self.log_access(&Access::by(who, Action::Login, remote_addr).detail(detail))
            .await?;
        Ok(token)
    }

    /// Ends the session of `token`.
    pub(crate) async fn end_session(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash(token))
            .execute(self.pool())
            .await
            .map_err(StoreError::db("end session"))?;
        Ok(())
    }

    /// The session of `token`, marked as used now; a session unused for `idle` ends.
    pub(crate) async fn session(&self, token: &str, idle: Duration) -> Result<Lookup, StoreError> {
        let row = sqlx::query(
            "UPDATE sessions s SET last_seen_at = now() FROM reviewers r
             WHERE s.token_hash = $1 AND r.id = s.reviewer_id AND s.expires_at > now()
               AND s.last_seen_at > now() - make_interval(secs => $2) AND NOT r.disabled
             RETURNING r.id, r.username, r.pseudonym, r.role, s.csrf_token, s.created_at,
                       s.authenticated_at",
        )
        .bind(token_hash(token))
        .bind(idle.as_secs_f64())
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read session"))?;
        if let Some(session) = row.and_then(|row| {
            Some(Session {
                who: reviewer_from(&row)?,
                csrf: row.get("csrf_token"),
                since: row.get("created_at"),
                authenticated_at: row.get("authenticated_at"),
            })
        }) {
            return Ok(Lookup::Active(session));
        }
        let idled = sqlx::query(
            "DELETE FROM sessions WHERE token_hash = $1
               AND last_seen_at <= now() - make_interval(secs => $2)",
        )
        .bind(token_hash(token))
        .bind(idle.as_secs_f64())
        .execute(self.pool())
        .await
        .map_err(StoreError::db("end idle session"))?
        .rows_affected();
        Ok(if idled > 0 {
            Lookup::Idle
        } else {
            Lookup::None
        })
    }

    /// Ends the session of `who` whose forms carry `csrf`.
    pub(crate) async fn end_session_of(
        &self,
        who: &Reviewer,
        csrf: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE reviewer_id = $1 AND csrf_token = $2")
            .bind(who.id)
            .bind(csrf)
            .execute(self.pool())
            .await
            .map_err(StoreError::db("end session"))?;
        Ok(())
    }

    /// Records that the owner of the session of `who` whose forms carry `csrf` proved who
    /// they are just now.
    pub(crate) async fn reauthenticated(
        &self,
        who: &Reviewer,
        csrf: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET authenticated_at = now() WHERE reviewer_id = $1 AND csrf_token = $2",
        )
        .bind(who.id)
        .bind(csrf)
        .execute(self.pool())
        .await
        .map_err(StoreError::db("mark re-authentication"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::store_with_reviewer;

    const HOUR: Duration = Duration::from_secs(3600);

    async fn set(store: &Store, sql: &str) {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }

    async fn sign_in(store: &Store, who: &Reviewer) -> String {
        store.sign_in(who, 3600, "192.0.2.1", "").await.unwrap()
    }

    /// The session of `token`, with an idle timeout of an hour.
    async fn look(store: &Store, token: &str) -> Lookup {
        store.session(token, HOUR).await.unwrap()
    }

    async fn active(store: &Store, token: &str) -> Session {
        match look(store, token).await {
            Lookup::Active(session) => session,
            other => panic!("no session in force: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_session_lasts_until_it_ends_expires_or_idles() {
        let (store, who) = store_with_reviewer().await;

        let token = sign_in(&store, &who).await;
        let session = active(&store, &token).await;
        assert_eq!(session.who, who);
        assert_eq!(session.csrf.len(), 64);
        assert_ne!(session.csrf, token, "the form token is not the cookie's");
        assert!(matches!(look(&store, &random_token()).await, Lookup::None));
        store.end_session(&token).await.unwrap();
        assert!(matches!(look(&store, &token).await, Lookup::None));

        // Unused for longer than the idle timeout: it ends, and says so once.
        let token = sign_in(&store, &who).await;
        set(
            &store,
            "UPDATE sessions SET last_seen_at = now() - interval '2 hours'",
        )
        .await;
        assert!(matches!(look(&store, &token).await, Lookup::Idle));
        assert!(matches!(look(&store, &token).await, Lookup::None));

        // Used now and then, it still ends at its expiry, and is not called idle then.
        let token = sign_in(&store, &who).await;
        set(
            &store,
            "UPDATE sessions SET expires_at = now() - interval '1 second'",
        )
        .await;
        assert!(matches!(look(&store, &token).await, Lookup::None));

        // Use keeps it from idling.
        let token = sign_in(&store, &who).await;
        set(
            &store,
            "UPDATE sessions SET last_seen_at = now() - interval '50 minutes'",
        )
        .await;
        active(&store, &token).await;
        let recent: bool = sqlx::query_scalar(
            "SELECT bool_and(last_seen_at > now() - interval '1 minute') FROM sessions",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert!(recent, "a look-up marks the session as used");

        // A disabled account has no session.
        set(&store, "UPDATE reviewers SET disabled = true").await;
        assert!(matches!(look(&store, &token).await, Lookup::None));
    }

    #[tokio::test]
    async fn expired_sessions_go_at_the_next_sign_in_and_only_they() {
        let (store, who) = store_with_reviewer().await;
        let kept = sign_in(&store, &who).await;
        let gone = sign_in(&store, &who).await;
        sqlx::query(
            "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        )
        .bind(token_hash(&gone))
        .execute(store.pool())
        .await
        .unwrap();
        sign_in(&store, &who).await;
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(left, 2);
        active(&store, &kept).await;
    }

    #[tokio::test]
    async fn a_session_is_ended_or_refreshed_by_its_owner_and_form_token() {
        let (store, who) = store_with_reviewer().await;
        let token = sign_in(&store, &who).await;
        set(
            &store,
            "UPDATE sessions SET authenticated_at = now() - interval '1 hour'",
        )
        .await;
        let before = active(&store, &token).await;

        store.reauthenticated(&who, "not its token").await.unwrap();
        let unchanged = active(&store, &token).await;
        assert_eq!(unchanged.authenticated_at, before.authenticated_at);
        store.reauthenticated(&who, &before.csrf).await.unwrap();
        let fresh = active(&store, &token).await;
        assert!(fresh.authenticated_at > before.authenticated_at);
        assert_eq!(fresh.since, before.since, "the session goes on");

        store.end_session_of(&who, "not its token").await.unwrap();
        active(&store, &token).await;
        store.end_session_of(&who, &before.csrf).await.unwrap();
        assert!(matches!(look(&store, &token).await, Lookup::None));
    }
}
