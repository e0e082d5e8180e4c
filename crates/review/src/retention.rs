//! Retention: message text, images and video frames leave the review store after
//! `review.content_retention_days`; flags, matches, decisions and the access log stay.

use std::time::Duration;

use crate::store::{Store, StoreError};

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Flags whose content was deleted.
    pub flags: u64,
    /// Images deleted.
    pub images: u64,
    /// Video frames (contact sheets) deleted.
    pub frames: u64,
}

impl Store {
    /// Deletes the content stored longer ago than `retention`.
    pub async fn purge_content(&self, retention: Duration) -> Result<Purged, StoreError> {
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        let secs = retention.as_secs_f64();
        let images = sqlx::query(
            "DELETE FROM flag_images WHERE stored_at < now() - make_interval(secs => $1)",
        )
        .bind(secs)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("purge images"))?
        .rows_affected();
        let frames = sqlx::query(
            "DELETE FROM flag_video_frames WHERE stored_at < now() - make_interval(secs => $1)",
        )
        .bind(secs)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("purge video frames"))?
        .rows_affected();
        let flags = sqlx::query(
            "UPDATE flags SET content_state = 'purged', content_note = NULL
             WHERE content_state <> 'purged' AND stored_at < now() - make_interval(secs => $1)",
        )
        .bind(secs)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("mark purged"))?
        .rows_affected();
        sqlx::query("DELETE FROM flag_content WHERE stored_at < now() - make_interval(secs => $1)")
            .bind(secs)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("purge text"))?;
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(Purged {
            flags,
            images,
            frames,
        })
    }
}
