//! The review store in PostgreSQL: flags with their content, de-duplicated on `flag_id`.

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Row, Transaction};
use vigil_core::{Flag, MatchSubject, SenderDetails, Severity};

use std::sync::Arc;

use crate::contact::Sheet;
use crate::preview::Preview;
use crate::sealing::{DataKey, Item, Keyring, SealError};

/// The database failed. Retrying helps when the server was unreachable or restarting;
/// a migration or constraint failure needs a fix first.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `review.database_url` is not a usable PostgreSQL URL (the URL is not echoed).
    #[error("review.database_url: {0}")]
    Url(String),
    /// A statement or the connection failed.
    #[error("database {what}: {source}")]
    Database {
        /// What was being done.
        what: &'static str,
        /// The driver error (never carries bound values).
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The schema or the role is not what the console may run on (says what to do).
    #[error("{0}")]
    Schema(String),
    /// Content could not be sealed or opened (no keys, a key missing from the key file,
    /// altered ciphertext): a retry cannot help until the keys are fixed.
    #[error(transparent)]
    Sealing(#[from] SealError),
}

impl StoreError {
    pub(crate) fn db(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { what, source }
    }

    fn sqlstate(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            StoreError::Database { source, .. } => source.as_database_error()?.code(),
            StoreError::Url(_)
            | StoreError::Migrate(_)
            | StoreError::Schema(_)
            | StoreError::Sealing(_) => None,
        }
    }

    /// Whether trying again later can succeed (the server was unreachable, busy, restarting
    /// or the transaction lost a race), as opposed to a statement the server refuses.
    pub fn retryable(&self) -> bool {
        match self {
            StoreError::Database { source, .. } => {
                matches!(
                    source,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                        | sqlx::Error::Protocol(_)
                ) || self.sqlstate().is_some_and(|c| {
                    // 08 connection, 53 resources, 57 shutdown or statement timeout,
                    // 40001 serialisation, 40P01 deadlock, 55P03 lock not available.
                    ["08", "53", "57"].iter().any(|class| c.starts_with(class))
                        || ["40001", "40P01", "55P03"].contains(&c.as_ref())
                })
            }
            StoreError::Url(_)
            | StoreError::Migrate(_)
            | StoreError::Schema(_)
            | StoreError::Sealing(_) => false,
        }
    }

    /// The SQLSTATE when the server refused the data itself (class 22 data exception, 23
    /// integrity violation, 54 limit exceeded): the same values fail every time, so a
    /// caller must set them aside rather than retry. Other failures are either
    /// [`retryable`](Self::retryable) or a fault an operator must fix (permissions,
    /// schema), after which the same values go through.
    pub fn refused_data(&self) -> Option<String> {
        self.sqlstate()
            .filter(|c| ["22", "23", "54"].iter().any(|class| c.starts_with(class)))
            .map(|c| c.into_owned())
    }

    /// What was being done when it failed (`insert content`), never a value.
    pub fn what(&self) -> &'static str {
        match self {
            StoreError::Database { what, .. } => what,
            StoreError::Url(_) => "connect",
            StoreError::Migrate(_) | StoreError::Schema(_) => "migrate",
            StoreError::Sealing(_) => "seal content",
        }
    }
}

/// An image attachment of a flagged message, as the sender sent it, with its blurred preview.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    /// The attachment's id in the message.
    pub attachment_id: String,
    /// Its declared media type.
    pub media_type: String,
    /// The bytes.
    pub data: Vec<u8>,
    /// What reviewers see until they reveal it.
    pub preview: Preview,
    /// Its name on the sender's device, if the message said.
    pub file_name: Option<String>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("attachment_id", &self.attachment_id)
            .field("media_type", &self.media_type)
            .field("bytes", &self.data.len())
            .field("preview", &self.preview)
            .field("file_name", &self.file_name.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What a reviewer will see of the flagged message.
#[derive(Clone, PartialEq, Eq)]
pub enum Content {
    /// Fetched from the source.
    Stored {
        /// The message text.
        text: Option<String>,
        /// Its inline image attachments.
        images: Vec<Image>,
        /// The contact sheets of its video attachments with video evidence.
        videos: Vec<Sheet>,
        /// What the message said of its sender (for reports).
        sender: SenderDetails,
    },
    /// Could not be fetched; says why (never quotes content).
    Unavailable(String),
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Stored {
                text,
                images,
                videos,
                sender,
            } => f
                .debug_struct("Stored")
                .field("text_chars", &text.as_ref().map(|t| t.chars().count()))
                .field("images", images)
                .field("videos", videos)
                .field("sender", sender)
                .finish(),
            Content::Unavailable(why) => f.debug_tuple("Unavailable").field(why).finish(),
        }
    }
}

/// A frame row before sealing: attachment, time, thumbnail, preview.
type LegacyFrame = (String, i64, Vec<u8>, Option<Vec<u8>>);

/// A flag read from a review topic, with where it was read and its content.
#[derive(Debug, Clone)]
pub struct IncomingFlag {
    /// The flag.
    pub flag: Flag,
    /// The review topic it arrived on.
    pub queue: String,
    /// Partition of the review record.
    pub partition: i32,
    /// Offset of the review record.
    pub offset: i64,
    /// The flagged message's content.
    pub content: Content,
    /// It arrived on a queue only leads work (the verification topic): it is stored
    /// `escalated`, out of reviewers' reach.
    pub leads_only: bool,
}

/// A review record set aside: where it was read, why, and the record itself.
#[derive(Debug, Clone, Copy)]
pub struct Rejected<'a> {
    /// The review topic.
    pub queue: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// A reason code: `invalid_flag`, `unsupported_schema_version`, `store_refused`.
    pub reason: &'a str,
    /// What was wrong, naming fields and SQLSTATEs, never values.
    pub detail: &'a str,
    /// The record's value as read.
    pub payload: &'a [u8],
}

/// Whether a flag was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new row.
    New,
    /// A row with this `flag_id` existed (a redelivery or a replay); nothing changed.
    Duplicate,
}

/// The review store. Cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    /// Seals content on the way in and opens it on the way out ([`crate::sealing`]).
    keyring: Option<Arc<Keyring>>,
}

fn severity_rank(severity: Severity) -> i16 {
    match severity {
        Severity::Low => 0,
        Severity::Medium => 1,
        Severity::High => 2,
        Severity::Critical => 3,
    }
}

impl Store {
    pub(crate) fn from_pool(pool: PgPool) -> Store {
        Store {
            pool,
            keyring: None,
        }
    }

    /// This store sealing and opening content with `keyring`; without one, storing or
    /// reading sealed content fails ([`SealError::NoKeys`]).
    pub fn with_keyring(mut self, keyring: Keyring) -> Store {
        self.keyring = Some(Arc::new(keyring));
        self
    }

    fn keyring(&self) -> Result<&Keyring, StoreError> {
        Ok(self.keyring.as_deref().ok_or(SealError::NoKeys)?)
    }

    /// `vigil review rotate-keys`: re-wraps every data key not under the active KEK under it
    /// (content is not touched), in batches; returns how many. Safe while consoles run:
    /// each row changes in one statement, and both KEKs open it until the old is removed.
    pub async fn rotate_content_keys(&self) -> Result<u64, StoreError> {
        const BATCH: i64 = 500;
        let keyring = self.keyring()?;
        let mut rotated = 0;
        loop {
            let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
                "SELECT flag_id, kek_id, wrapped FROM flag_keys WHERE kek_id <> $1 LIMIT $2",
            )
            .bind(keyring.active_id())
            .bind(BATCH)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("read data keys"))?;
            if rows.is_empty() {
                return Ok(rotated);
            }
            for (flag_id, kek_id, wrapped) in rows {
                let Some(new) = keyring.rewrap(&flag_id, &kek_id, &wrapped)? else {
                    continue;
                };
                sqlx::query(
                    "UPDATE flag_keys SET kek_id = $2, wrapped = $3
                     WHERE flag_id = $1 AND kek_id = $4",
                )
                .bind(&flag_id)
                .bind(&new.kek_id)
                .bind(&new.bytes)
                .bind(&kek_id)
                .execute(&self.pool)
                .await
                .map_err(StoreError::db("re-wrap data key"))?;
                rotated += 1;
            }
        }
    }

    /// Seals the content of flags stored before sealing (migration 0010), each under a new
    /// data key in one transaction with its key; returns how many flags. `vigil review
    /// rotate-keys` runs it, so after an upgrade no plaintext stays in the store.
    pub async fn seal_legacy_content(&self) -> Result<u64, StoreError> {
        let keyring = self.keyring()?;
        let legacy: Vec<String> = sqlx::query_scalar(
            "SELECT f.flag_id FROM flags f WHERE f.content_state = 'stored'
               AND NOT EXISTS (SELECT 1 FROM flag_keys k WHERE k.flag_id = f.flag_id)",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::db("find unsealed content"))?;
        let mut sealed = 0;
        for flag_id in legacy {
            let id = flag_id.as_str();
            let mut tx = self.pool.begin().await.map_err(StoreError::db("begin"))?;
            // Locked, and checked again: another run or a purge may have got there first.
            let still: Option<String> =
                sqlx::query_scalar("SELECT content_state FROM flags WHERE flag_id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::db("lock flag"))?;
            let keyed: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM flag_keys WHERE flag_id = $1)")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::db("read data key"))?;
            if still.as_deref() != Some("stored") || keyed {
                continue;
            }
            let (key, wrapped) = keyring.new_data_key(id)?;
            sqlx::query("INSERT INTO flag_keys (flag_id, kek_id, wrapped) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(&wrapped.kek_id)
                .bind(&wrapped.bytes)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("insert data key"))?;
            let text: Option<Option<Vec<u8>>> =
                sqlx::query_scalar("SELECT text_utf8 FROM flag_content WHERE flag_id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::db("read content"))?;
            if let Some(Some(text)) = text {
                sqlx::query("UPDATE flag_content SET text_utf8 = $2 WHERE flag_id = $1")
                    .bind(id)
                    .bind(key.seal(id, &Item::Text, &text))
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("seal text"))?;
            }
            let images: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = sqlx::query_as(
                "SELECT attachment_id, data, preview FROM flag_images WHERE flag_id = $1",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::db("read images"))?;
            for (attachment, data, preview) in images {
                let a = attachment.as_str();
                sqlx::query(
                    "UPDATE flag_images SET data = $3, preview = $4
                     WHERE flag_id = $1 AND attachment_id = $2",
                )
                .bind(id)
                .bind(a)
                .bind(key.seal(id, &Item::Image(a), &data))
                .bind(preview.map(|p| key.seal(id, &Item::ImagePreview(a), &p)))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("seal image"))?;
            }
            let frames: Vec<LegacyFrame> = sqlx::query_as(
                "SELECT attachment_id, frame_ms, thumbnail, preview FROM flag_video_frames
                 WHERE flag_id = $1",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::db("read frames"))?;
            for (attachment, ms, thumbnail, preview) in frames {
                let (a, at) = (attachment.as_str(), ms as u64);
                sqlx::query(
                    "UPDATE flag_video_frames SET thumbnail = $4, preview = $5
                     WHERE flag_id = $1 AND attachment_id = $2 AND frame_ms = $3",
                )
                .bind(id)
                .bind(a)
                .bind(ms)
                .bind(key.seal(id, &Item::Frame(a, at), &thumbnail))
                .bind(preview.map(|p| key.seal(id, &Item::FramePreview(a, at), &p)))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("seal frame"))?;
            }
            tx.commit().await.map_err(StoreError::db("commit"))?;
            sealed += 1;
        }
        Ok(sealed)
    }

    /// Flag `flag_id`'s data key, or `None` for content stored before it was sealed.
    pub(crate) async fn data_key(&self, flag_id: &str) -> Result<Option<DataKey>, StoreError> {
        let row: Option<(String, Vec<u8>)> =
            sqlx::query_as("SELECT kek_id, wrapped FROM flag_keys WHERE flag_id = $1")
                .bind(flag_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::db("read data key"))?;
        row.map(|(kek_id, wrapped)| Ok(self.keyring()?.unwrap(flag_id, &kek_id, &wrapped)?))
            .transpose()
    }

    /// The connection pool, for the console's queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Stores a flag, its matches and its content in one transaction, unless a flag with
    /// its id is stored already.
    pub async fn insert_flag(&self, incoming: &IncomingFlag) -> Result<Stored, StoreError> {
        let flag = &incoming.flag;
        let mut tx = self.pool.begin().await.map_err(StoreError::db("begin"))?;
        let (state, note) = match &incoming.content {
            Content::Stored { .. } => ("stored", None),
            Content::Unavailable(why) => ("unavailable", Some(why.as_str())),
        };
        let source = serde_json::to_value(&flag.source).unwrap_or_default();
        let matches = serde_json::to_value(&flag.matches).unwrap_or_default();
        let entries = serde_json::to_value(&flag.entries).unwrap_or_default();
        let status = if incoming.leads_only {
            "escalated"
        } else {
            "open"
        };
        let inserted = sqlx::query(
            "INSERT INTO flags (flag_id, message_id, conversation_id, sender_id, sent_at,
                flagged_at, severity, severity_rank, categories, queue, review_partition,
                review_offset, source, matches, content_state, content_note, entries, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, $18)
             ON CONFLICT (flag_id) DO NOTHING",
        )
        .bind(&flag.flag_id)
        .bind(&flag.message_id)
        .bind(&flag.conversation_id)
        .bind(&flag.sender_id)
        .bind(flag.sent_at)
        .bind(flag.flagged_at)
        .bind(flag.severity.as_str())
        .bind(severity_rank(flag.severity))
        .bind(&flag.categories)
        .bind(&incoming.queue)
        .bind(incoming.partition)
        .bind(incoming.offset)
        .bind(source)
        .bind(matches)
        .bind(state)
        .bind(note)
        .bind(entries)
        .bind(status)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("insert flag"))?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await.map_err(StoreError::db("rollback"))?;
            return Ok(Stored::Duplicate);
        }
        insert_matches(&mut tx, flag).await?;
        if let Content::Stored {
            text,
            images,
            videos,
            sender,
        } = &incoming.content
        {
            let id = flag.flag_id.as_str();
            let (key, wrapped) = self.keyring()?.new_data_key(id)?;
            sqlx::query("INSERT INTO flag_keys (flag_id, kek_id, wrapped) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(&wrapped.kek_id)
                .bind(&wrapped.bytes)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("insert data key"))?;
            let sender = (!sender.is_empty()).then(|| {
                let json = serde_json::to_vec(sender).unwrap_or_default();
                key.seal(id, &Item::SenderDetails, &json)
            });
            sqlx::query(
                "INSERT INTO flag_content (flag_id, text_utf8, sender_details) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(
                text.as_deref()
                    .map(|t| key.seal(id, &Item::Text, t.as_bytes())),
            )
            .bind(sender)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("insert content"))?;
            for image in images {
                let attachment = image.attachment_id.as_str();
                let (preview, note) = match &image.preview {
                    Preview::Rendered(png) => (
                        Some(key.seal(id, &Item::ImagePreview(attachment), png)),
                        None,
                    ),
                    Preview::Missing(why) => (None, Some(why.as_str())),
                };
                sqlx::query(
                    "INSERT INTO flag_images (flag_id, attachment_id, media_type, data, preview,
                        preview_note, file_name)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                )
                .bind(&flag.flag_id)
                .bind(&image.attachment_id)
                .bind(&image.media_type)
                .bind(key.seal(id, &Item::Image(attachment), &image.data))
                .bind(preview)
                .bind(note)
                .bind(
                    image
                        .file_name
                        .as_deref()
                        .map(|name| key.seal(id, &Item::FileName(attachment), name.as_bytes())),
                )
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("insert image"))?;
            }
            for sheet in videos {
                insert_sheet(&mut tx, id, &key, sheet).await?;
            }
        }
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(Stored::New)
    }

    /// Keeps a review record that could not be stored as a flag, with a reason code, a
    /// content-free detail and the record as read (idempotent).
    pub async fn reject(&self, rejected: &Rejected<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rejected_records (queue, partition, \"offset\", reason, detail, payload)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(rejected.queue)
        .bind(rejected.partition)
        .bind(rejected.offset)
        .bind(rejected.reason)
        .bind(rejected.detail)
        .bind(rejected.payload)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("insert rejected record"))?;
        Ok(())
    }
}

/// A record kept in `rejected_records`, as leads and auditors see it (never its payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// The review topic.
    pub queue: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The reason code.
    pub reason: String,
    /// What was wrong (fields, SQLSTATEs; no values).
    pub detail: String,
    /// When it was set aside.
    pub stored_at: time::OffsetDateTime,
}

impl Store {
    /// The latest `limit` records set aside, newest first.
    pub async fn rejected_records(&self, limit: i64) -> Result<Vec<RejectedRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT queue, partition, \"offset\", reason, detail, stored_at
             FROM rejected_records ORDER BY stored_at DESC, queue, partition, \"offset\" LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read rejected records"))?;
        Ok(rows
            .iter()
            .map(|r| RejectedRow {
                queue: r.get("queue"),
                partition: r.get("partition"),
                offset: r.get("offset"),
                reason: r.get("reason"),
                detail: r.get("detail"),
                stored_at: r.get("stored_at"),
            })
            .collect())
    }
}

async fn insert_sheet(
    tx: &mut Transaction<'_, Postgres>,
    flag_id: &str,
    key: &DataKey,
    sheet: &Sheet,
) -> Result<(), StoreError> {
    let millis = |ms: u64| i64::try_from(ms).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO flag_videos (flag_id, attachment_id, duration_ms, note)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(flag_id)
    .bind(&sheet.attachment_id)
    .bind(sheet.duration_ms.map(millis))
    .bind(sheet.note.as_deref())
    .execute(&mut **tx)
    .await
    .map_err(StoreError::db("insert video"))?;
    for frame in &sheet.frames {
        let (attachment, ms) = (sheet.attachment_id.as_str(), frame.frame_ms);
        let (preview, note) = match &frame.preview {
            Preview::Rendered(png) => (
                Some(key.seal(flag_id, &Item::FramePreview(attachment, ms), png)),
                None,
            ),
            Preview::Missing(why) => (None, Some(why.as_str())),
        };
        sqlx::query(
            "INSERT INTO flag_video_frames (flag_id, attachment_id, frame_ms, time_ms,
                thumbnail, preview, preview_note)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(flag_id)
        .bind(&sheet.attachment_id)
        .bind(millis(frame.frame_ms))
        .bind(millis(frame.time_ms))
        .bind(key.seal(flag_id, &Item::Frame(attachment, ms), &frame.thumbnail))
        .bind(preview)
        .bind(note)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::db("insert video frame"))?;
    }
    Ok(())
}

async fn insert_matches(tx: &mut Transaction<'_, Postgres>, flag: &Flag) -> Result<(), StoreError> {
    for (ordinal, m) in flag.matches.iter().enumerate() {
        let entry = match &m.subject {
            MatchSubject::Attachment { entry_id, .. } => entry_id,
            MatchSubject::Text { rule_id, .. } => rule_id,
        };
        sqlx::query(
            "INSERT INTO flag_matches (flag_id, ordinal, detector, list, list_version, category, entry)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&flag.flag_id)
        .bind(i32::try_from(ordinal).unwrap_or(i32::MAX))
        .bind(m.detector.as_str())
        .bind(&m.list)
        .bind(&m.list_version)
        .bind(&m.category)
        .bind(entry)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::db("insert match"))?;
    }
    Ok(())
}
