//! Retention: message text, images and video frames leave the review store after
//! `review.content_retention_days`, unless the flag is under an active legal hold
//! ([`crate::holds`]); flags, matches, decisions, holds and the access log stay.

use std::time::Duration;

use sqlx::PgConnection;

use crate::holds::{expire_holds, not_held};
use crate::store::{Store, StoreError};

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Flags whose content was deleted.
    pub flags: u64,
    /// Holds that reached their expiry and were ended first.
    pub holds_expired: u64,
    /// Images deleted.
    pub images: u64,
    /// Video frames (contact sheets) deleted.
    pub frames: u64,
}

impl Store {
    /// Ends the holds past their expiry, then deletes the content stored longer ago than
    /// `retention` of every flag without an active hold.
    pub async fn purge_content(&self, retention: Duration) -> Result<Purged, StoreError> {
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        let holds_expired = expire_holds(&mut tx).await?;
        let secs = retention.as_secs_f64();
        let images = purge(
            &mut tx,
            "DELETE FROM flag_images t WHERE {stale}",
            secs,
            "purge images",
        )
        .await?;
        let frames = purge(
            &mut tx,
            "DELETE FROM flag_video_frames t WHERE {stale}",
            secs,
            "purge video frames",
        )
        .await?;
        let flags = purge(
            &mut tx,
            "UPDATE flags t SET content_state = 'purged', content_note = NULL
             WHERE content_state <> 'purged' AND {stale}",
            secs,
            "mark purged",
        )
        .await?;
        purge(
            &mut tx,
            "DELETE FROM flag_content t WHERE {stale}",
            secs,
            "purge text",
        )
        .await?;
        // Destroys each purged flag's data key: a backup's copy of its content stays sealed.
        purge(
            &mut tx,
            "DELETE FROM flag_keys t WHERE {stale}",
            secs,
            "purge data keys",
        )
        .await?;
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(Purged {
            flags,
            holds_expired,
            images,
            frames,
        })
    }
}

/// Runs `statement` (on a table aliased `t`) with `{stale}` standing for: stored more than
/// `secs` ago, and its flag under no active hold.
async fn purge(
    conn: &mut PgConnection,
    statement: &str,
    secs: f64,
    what: &'static str,
) -> Result<u64, StoreError> {
    let stale = format!(
        "t.stored_at < now() - make_interval(secs => $1) AND {}",
        not_held("t.flag_id")
    );
    let sql = statement.replace("{stale}", &stale);
    Ok(sqlx::query(&sql)
        .bind(secs)
        .execute(conn)
        .await
        .map_err(StoreError::db(what))?
        .rows_affected())
}
