//! The queue: what is waiting, claims (leases) so two reviewers never work one item, and
//! what a flag's detail page shows.

use std::time::Duration;

use sqlx::Row;
use time::OffsetDateTime;
use vigil_core::Match;

use crate::accounts::{Reviewer, Role};
use crate::sealing::{Item, open_stored};
use crate::store::{Store, StoreError};

/// Which items a list or a claim considers; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// A review topic.
    pub queue: Option<String>,
    /// A match category.
    pub category: Option<String>,
}

/// Waiting items per queue and category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCount {
    /// The review topic.
    pub queue: String,
    /// A category of the items (an item with two categories counts in both), or `None`:
    /// the queue's total, where every item counts once.
    pub category: Option<String>,
    /// Items waiting for a first decision.
    pub open: i64,
    /// Items escalated to a lead.
    pub escalated: i64,
    /// When the oldest waiting item was flagged.
    pub oldest: OffsetDateTime,
}

/// One line of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSummary {
    /// The flag.
    pub flag_id: String,
    /// Its review topic.
    pub queue: String,
    /// `low` … `critical`.
    pub severity: String,
    /// Its categories.
    pub categories: Vec<String>,
    /// When vigil flagged it.
    pub flagged_at: OffsetDateTime,
    /// `open` or `escalated`.
    pub status: String,
    /// Who holds an unexpired claim on it.
    pub claimed_by: Option<String>,
    /// How many matches it has.
    pub matches: i64,
    /// The sender, pseudonymised ([`sender_pseudonym`]).
    pub sender: String,
    /// One line of the text around its first text match, if it has one and its content is
    /// stored ([`preview_line`]).
    pub preview: Option<String>,
}

/// Characters of context a preview line shows on each side of the matched phrase.
const PREVIEW_CONTEXT_CHARS: usize = 30;
/// The longest matched phrase a preview line shows whole.
const PREVIEW_MATCH_CHARS: usize = 80;

/// How the queue and a flag's page name a sender: a stable pseudonym, so reviewers can tell
/// one account's items apart without reading its platform id (leads see the id on cases).
pub fn sender_pseudonym(sender_id: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("vigil-sender\0{sender_id}"));
    format!("S-{}", &hex::encode(digest)[..10])
}

/// One line of `text` around its first text match: the phrase with a little context on each
/// side, whitespace and control characters as spaces, `…` where it was cut. `None` without a
/// text match.
pub fn preview_line(text: &str, matches: &[Match]) -> Option<String> {
    let (start, end) = matches
        .iter()
        .filter_map(|m| match &m.subject {
            vigil_core::MatchSubject::Text {
                spans,
                attachment_id: None,
                ..
            } => spans.first().map(|s| (s.start, s.end)),
            vigil_core::MatchSubject::Text { .. } | vigil_core::MatchSubject::Attachment { .. } => {
                None
            }
        })
        .min()?;
    let chars: Vec<char> = text.chars().collect();
    let end = end.min(chars.len()).min(start + PREVIEW_MATCH_CHARS);
    let from = start.saturating_sub(PREVIEW_CONTEXT_CHARS);
    let to = (end + PREVIEW_CONTEXT_CHARS).min(chars.len());
    if start >= end {
        return None;
    }
    let mut line = String::new();
    if from > 0 {
        line.push('…');
    }
    line.extend(chars[from..to].iter().map(|&c| {
        if c.is_whitespace() || c.is_control() {
            ' '
        } else {
            c
        }
    }));
    if to < chars.len() {
        line.push('…');
    }
    Some(line)
}

/// A decision already taken on a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastDecision {
    /// `confirm`, `false_positive` or `escalate`.
    pub decision: String,
    /// Who took it.
    pub reviewer: String,
    /// When.
    pub decided_at: OffsetDateTime,
    /// Their note.
    pub note: String,
}

/// Everything the detail page explains.
#[derive(Debug, Clone)]
pub struct FlagDetail {
    /// The flag.
    pub flag_id: String,
    /// The sending account (pages show [`sender_pseudonym`] of it to reviewers).
    pub sender_id: String,
    /// Ids of the message (not content).
    pub message_id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// Its review topic.
    pub queue: String,
    /// `low` … `critical`.
    pub severity: String,
    /// Its categories.
    pub categories: Vec<String>,
    /// When the message was sent.
    pub sent_at: OffsetDateTime,
    /// When vigil flagged it.
    pub flagged_at: OffsetDateTime,
    /// `open`, `escalated` or `decided`.
    pub status: String,
    /// Every match, as vigil reported it.
    pub matches: Vec<Match>,
    /// `stored`, `unavailable` or `purged`.
    pub content_state: String,
    /// Why content is unavailable.
    pub content_note: Option<String>,
    /// The message text, while stored.
    pub text: Option<String>,
    /// Image attachments, while stored.
    pub images: Vec<ImageSummary>,
    /// Its video attachments' contact sheets, by attachment id.
    pub videos: Vec<VideoSummary>,
    /// Who holds an unexpired claim.
    pub claimed_by: Option<i64>,
    /// Decisions so far, oldest first.
    pub decisions: Vec<PastDecision>,
    /// What vigil run's entry state said of each matched entry (re-share counts,
    /// quarantine), when it keeps one.
    pub entries: Vec<vigil_core::EntryContext>,
}

/// A stored image of a flag, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// The attachment's id.
    pub attachment_id: String,
    /// Its declared media type.
    pub media_type: String,
    /// Why it has no blurred preview (none: it has one).
    pub no_preview: Option<String>,
}

/// A video attachment's contact sheet, without its frames' pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSummary {
    /// The attachment's id.
    pub attachment_id: String,
    /// Its declared duration, when known.
    pub duration_ms: Option<u64>,
    /// Why frames are missing, if they are.
    pub note: Option<String>,
    /// The frames kept, in time order.
    pub frames: Vec<FrameSummary>,
}

/// One frame of a contact sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSummary {
    /// The frame's time, in milliseconds: its key.
    pub frame_ms: u64,
    /// The time the sheet asked for (what matched is read at this time).
    pub time_ms: u64,
    /// Whether it has a blurred preview.
    pub has_preview: bool,
}

/// Where a flag stands, without its content: what a reviewer who does not hold it sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagState {
    /// `open`, `escalated` or `decided`.
    pub status: String,
    /// Who holds an unexpired claim on it (pseudonym), and until when.
    pub held: Option<(String, OffsetDateTime)>,
    /// The latest decision, if any.
    pub last_decision: Option<PastDecision>,
}

/// Flags of one review topic in one status.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusCount {
    /// The review topic.
    pub queue: String,
    /// `open`, `escalated`, `decided`.
    pub status: String,
    /// How many.
    pub flags: f64,
    /// Seconds the oldest of them has waited, unless they are decided.
    pub oldest_waiting_secs: Option<f64>,
}

/// The statuses a role works on.
pub(crate) fn workable(role: Role) -> &'static [&'static str] {
    match role {
        Role::Reviewer => &["open"],
        Role::Lead => &["open", "escalated"],
        Role::Auditor => &[],
    }
}

impl Store {
    /// Waiting items per queue (each once), then per queue and category.
    pub async fn queue_counts(&self) -> Result<Vec<QueueCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT queue, category,
                    count(DISTINCT flag_id) FILTER (WHERE status = 'open') AS open,
                    count(DISTINCT flag_id) FILTER (WHERE status = 'escalated') AS escalated,
                    min(flagged_at) AS oldest
             FROM flags, unnest(categories) AS category
             WHERE status IN ('open', 'escalated')
             GROUP BY GROUPING SETS ((queue), (queue, category))
             ORDER BY queue, category NULLS FIRST",
        )
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("count queue"))?;
        Ok(rows
            .iter()
            .map(|r| QueueCount {
                queue: r.get("queue"),
                category: r.get("category"),
                open: r.get("open"),
                escalated: r.get("escalated"),
                oldest: r.get("oldest"),
            })
            .collect())
    }

    /// Flags per review topic and status, with how long the oldest undecided one waited.
    pub async fn status_counts(&self) -> Result<Vec<StatusCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT queue, status, count(*)::float8 AS n,
                    extract(epoch FROM now() - min(flagged_at) FILTER (WHERE status <> 'decided'))::float8 AS age
             FROM flags GROUP BY queue, status",
        )
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("metrics"))?;
        Ok(rows
            .iter()
            .map(|r| StatusCount {
                queue: r.get("queue"),
                status: r.get("status"),
                flags: r.get("n"),
                oldest_waiting_secs: r.get("age"),
            })
            .collect())
    }

    /// Up to `limit` items `role` works on, most severe first, then oldest first.
    pub async fn list_items(
        &self,
        role: Role,
        filter: &Filter,
        limit: i64,
    ) -> Result<Vec<ItemSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.flag_id, f.queue, f.severity, f.categories, f.flagged_at, f.status,
                    CASE WHEN f.claim_expires_at > now() THEN r.pseudonym END AS claimed_by,
                    jsonb_array_length(f.matches)::bigint AS matches, f.matches AS evidence,
                    f.sender_id, c.text_utf8
             FROM flags f LEFT JOIN reviewers r ON r.id = f.claimed_by
             LEFT JOIN flag_content c ON c.flag_id = f.flag_id
             WHERE f.status = ANY($1)
               AND ($2::text IS NULL OR f.queue = $2)
               AND ($3::text IS NULL OR $3 = ANY(f.categories))
             ORDER BY f.severity_rank DESC, f.flagged_at, f.flag_id
             LIMIT $4",
        )
        .bind(workable(role))
        .bind(&filter.queue)
        .bind(&filter.category)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("list queue"))?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let flag_id: String = r.get("flag_id");
            let preview = match r.get::<Option<Vec<u8>>, _>("text_utf8") {
                Some(sealed) => {
                    let matches: Vec<Match> =
                        serde_json::from_value(r.get("evidence")).unwrap_or_default();
                    let text = self.opened(&flag_id, Item::Text, sealed).await?;
                    preview_line(&String::from_utf8_lossy(&text), &matches)
                }
                None => None,
            };
            items.push(ItemSummary {
                queue: r.get("queue"),
                severity: r.get("severity"),
                categories: r.get("categories"),
                flagged_at: r.get("flagged_at"),
                status: r.get("status"),
                claimed_by: r.get("claimed_by"),
                matches: r.get("matches"),
                sender: sender_pseudonym(r.get("sender_id")),
                preview,
                flag_id,
            });
        }
        Ok(items)
    }

    /// Claims the next item for `who`: one they already hold, else the most severe, oldest
    /// item nobody holds; with `text_only`, only items without stored images or video frames
    /// (a reviewer at their daily reveal cap). Concurrent claims never return the same item.
    pub async fn claim_next(
        &self,
        who: &Reviewer,
        filter: &Filter,
        lease: Duration,
        text_only: bool,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(
            "UPDATE flags SET claimed_by = $1, claim_expires_at = now() + make_interval(secs => $2)
             WHERE flag_id = (
                 SELECT flag_id FROM flags
                 WHERE status = ANY($3)
                   AND (claimed_by IS NULL OR claim_expires_at <= now() OR claimed_by = $1)
                   AND ($4::text IS NULL OR queue = $4)
                   AND ($5::text IS NULL OR $5 = ANY(categories))
                   AND NOT ($6 AND (EXISTS (SELECT 1 FROM flag_images i WHERE i.flag_id = flags.flag_id)
                                 OR EXISTS (SELECT 1 FROM flag_video_frames v WHERE v.flag_id = flags.flag_id)))
                 ORDER BY (claimed_by = $1 AND claim_expires_at > now()) DESC NULLS LAST,
                          severity_rank DESC, flagged_at, flag_id
                 LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING flag_id",
        )
        .bind(who.id)
        .bind(lease.as_secs_f64())
        .bind(workable(who.role))
        .bind(&filter.queue)
        .bind(&filter.category)
        .bind(text_only)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("claim next"))
    }

    /// Claims `flag_id` for `who` if nobody else holds it and `who`'s role works on its
    /// status; renews the lease of a claim `who` holds.
    pub async fn claim(
        &self,
        who: &Reviewer,
        flag_id: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE flags SET claimed_by = $1, claim_expires_at = now() + make_interval(secs => $2)
             WHERE flag_id = $3 AND status = ANY($4)
               AND (claimed_by IS NULL OR claim_expires_at <= now() OR claimed_by = $1)",
        )
        .bind(who.id)
        .bind(lease.as_secs_f64())
        .bind(flag_id)
        .bind(workable(who.role))
        .execute(self.pool())
        .await
        .map_err(StoreError::db("claim"))?
        .rows_affected();
        Ok(claimed == 1)
    }

    /// Gives back a claim `who` holds.
    pub async fn release(&self, who: &Reviewer, flag_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE flags SET claimed_by = NULL, claim_expires_at = NULL
             WHERE flag_id = $1 AND claimed_by = $2",
        )
        .bind(flag_id)
        .bind(who.id)
        .execute(self.pool())
        .await
        .map_err(StoreError::db("release"))?;
        Ok(())
    }

    /// Whether `who` holds an unexpired claim on `flag_id`.
    pub async fn holds(&self, who: &Reviewer, flag_id: &str) -> Result<bool, StoreError> {
        // A flag nobody holds has no claim to compare: false, not NULL.
        let held: Option<bool> = sqlx::query_scalar(
            "SELECT coalesce(claimed_by = $2 AND claim_expires_at > now(), false)
             FROM flags WHERE flag_id = $1",
        )
        .bind(flag_id)
        .bind(who.id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("check claim"))?;
        Ok(held == Some(true))
    }

    /// Where `flag_id` stands, without content.
    pub async fn flag_state(&self, flag_id: &str) -> Result<Option<FlagState>, StoreError> {
        let Some(r) = sqlx::query(
            "SELECT f.status, r.pseudonym AS holder, f.claim_expires_at,
                    d.decision, dr.pseudonym AS decider, d.decided_at, d.note
             FROM flags f
             LEFT JOIN reviewers r ON r.id = f.claimed_by AND f.claim_expires_at > now()
             LEFT JOIN LATERAL (SELECT * FROM decisions WHERE flag_id = f.flag_id
                                ORDER BY id DESC LIMIT 1) d ON true
             LEFT JOIN reviewers dr ON dr.id = d.reviewer_id
             WHERE f.flag_id = $1",
        )
        .bind(flag_id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read flag state"))?
        else {
            return Ok(None);
        };
        let holder: Option<String> = r.get("holder");
        let decision: Option<String> = r.get("decision");
        Ok(Some(FlagState {
            status: r.get("status"),
            held: holder.zip(r.get::<Option<OffsetDateTime>, _>("claim_expires_at")),
            last_decision: decision.map(|decision| PastDecision {
                decision,
                reviewer: r.get("decider"),
                decided_at: r.get("decided_at"),
                note: r.get("note"),
            }),
        }))
    }

    /// The (list, entry) of each of `flag_id`'s matches.
    pub async fn flag_entries(&self, flag_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as("SELECT list, entry FROM flag_matches WHERE flag_id = $1 ORDER BY ordinal")
            .bind(flag_id)
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::db("list flag entries"))
    }

    /// The detail of `flag_id`, content included.
    pub async fn flag_detail(&self, flag_id: &str) -> Result<Option<FlagDetail>, StoreError> {
        let Some(r) = sqlx::query(
            "SELECT f.flag_id, f.message_id, f.conversation_id, f.sender_id, f.queue, f.severity,
                    f.categories, f.sent_at, f.flagged_at, f.status, f.matches, f.entries,
                    f.content_state, f.content_note, c.text_utf8,
                    CASE WHEN f.claim_expires_at > now() THEN f.claimed_by END AS claimed_by
             FROM flags f LEFT JOIN flag_content c USING (flag_id)
             WHERE f.flag_id = $1",
        )
        .bind(flag_id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read flag"))?
        else {
            return Ok(None);
        };
        let images = sqlx::query(
            "SELECT attachment_id, media_type,
                    CASE WHEN preview IS NULL
                         THEN coalesce(preview_note, 'no preview: stored before previews')
                    END AS no_preview
             FROM flag_images WHERE flag_id = $1 ORDER BY attachment_id",
        )
        .bind(flag_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("list images"))?
        .iter()
        .map(|r| ImageSummary {
            attachment_id: r.get("attachment_id"),
            media_type: r.get("media_type"),
            no_preview: r.get("no_preview"),
        })
        .collect();
        let videos = self.video_summaries(flag_id).await?;
        let decisions = sqlx::query(
            "SELECT d.decision, r.pseudonym, d.decided_at, d.note
             FROM decisions d JOIN reviewers r ON r.id = d.reviewer_id
             WHERE d.flag_id = $1 ORDER BY d.id",
        )
        .bind(flag_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("list decisions"))?
        .iter()
        .map(|d| PastDecision {
            decision: d.get("decision"),
            reviewer: d.get("pseudonym"),
            decided_at: d.get("decided_at"),
            note: d.get("note"),
        })
        .collect();
        let matches: serde_json::Value = r.get("matches");
        let text = match r.get::<Option<Vec<u8>>, _>("text_utf8") {
            Some(stored) => {
                let plain = self.opened(flag_id, Item::Text, stored).await?;
                Some(String::from_utf8_lossy(&plain).into_owned())
            }
            None => None,
        };
        Ok(Some(FlagDetail {
            flag_id: r.get("flag_id"),
            message_id: r.get("message_id"),
            conversation_id: r.get("conversation_id"),
            sender_id: r.get("sender_id"),
            queue: r.get("queue"),
            severity: r.get("severity"),
            categories: r.get("categories"),
            sent_at: r.get("sent_at"),
            flagged_at: r.get("flagged_at"),
            status: r.get("status"),
            matches: serde_json::from_value(matches).unwrap_or_default(),
            content_state: r.get("content_state"),
            content_note: r.get("content_note"),
            text,
            images,
            videos,
            claimed_by: r.get("claimed_by"),
            decisions,
            entries: serde_json::from_value(r.get("entries")).unwrap_or_default(),
        }))
    }

    async fn video_summaries(&self, flag_id: &str) -> Result<Vec<VideoSummary>, StoreError> {
        let millis = |ms: i64| u64::try_from(ms).unwrap_or(0);
        let mut videos: Vec<VideoSummary> = sqlx::query(
            "SELECT attachment_id, duration_ms, note FROM flag_videos
             WHERE flag_id = $1 ORDER BY attachment_id",
        )
        .bind(flag_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("list videos"))?
        .iter()
        .map(|r| VideoSummary {
            attachment_id: r.get("attachment_id"),
            duration_ms: r.get::<Option<i64>, _>("duration_ms").map(millis),
            note: r.get("note"),
            frames: Vec::new(),
        })
        .collect();
        let frames = sqlx::query(
            "SELECT attachment_id, frame_ms, time_ms, preview IS NOT NULL AS has_preview
             FROM flag_video_frames WHERE flag_id = $1 ORDER BY attachment_id, frame_ms",
        )
        .bind(flag_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("list video frames"))?;
        for r in &frames {
            let attachment_id: String = r.get("attachment_id");
            if let Some(video) = videos.iter_mut().find(|v| v.attachment_id == attachment_id) {
                video.frames.push(FrameSummary {
                    frame_ms: millis(r.get("frame_ms")),
                    time_ms: millis(r.get("time_ms")),
                    has_preview: r.get("has_preview"),
                });
            }
        }
        Ok(videos)
    }

    /// A video frame's blurred preview (`revealed = false`) or the frame itself: `None` if
    /// there is no such frame (or it was purged), `Some(None)` if it has no preview.
    pub async fn video_frame(
        &self,
        flag_id: &str,
        attachment_id: &str,
        frame_ms: u64,
        revealed: bool,
    ) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let stored: Option<Option<Vec<u8>>> = sqlx::query_scalar(
            "SELECT CASE WHEN $4 THEN thumbnail ELSE preview END FROM flag_video_frames
             WHERE flag_id = $1 AND attachment_id = $2 AND frame_ms = $3",
        )
        .bind(flag_id)
        .bind(attachment_id)
        .bind(i64::try_from(frame_ms).unwrap_or(i64::MAX))
        .bind(revealed)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read video frame"))?;
        let item = if revealed {
            Item::Frame(attachment_id, frame_ms)
        } else {
            Item::FramePreview(attachment_id, frame_ms)
        };
        self.opened_optional(flag_id, item, stored).await
    }

    /// `stored` (an item of flag `flag_id` as read from its row) opened with the flag's data
    /// key; content stored before sealing is returned as it is.
    async fn opened(
        &self,
        flag_id: &str,
        item: Item<'_>,
        stored: Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let key = self.data_key(flag_id).await?;
        Ok(open_stored(key.as_ref(), flag_id, &item, stored)?)
    }

    /// [`Store::opened`] of an optional column of an optional row.
    async fn opened_optional(
        &self,
        flag_id: &str,
        item: Item<'_>,
        stored: Option<Option<Vec<u8>>>,
    ) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        Ok(match stored {
            Some(Some(bytes)) => Some(Some(self.opened(flag_id, item, bytes).await?)),
            other => other,
        })
    }

    /// An image's blurred preview: `None` if there is no such image, `Some(None)` if it has
    /// no preview.
    pub async fn preview(
        &self,
        flag_id: &str,
        attachment_id: &str,
    ) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let stored = sqlx::query_scalar(
            "SELECT preview FROM flag_images WHERE flag_id = $1 AND attachment_id = $2",
        )
        .bind(flag_id)
        .bind(attachment_id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read preview"))?;
        self.opened_optional(flag_id, Item::ImagePreview(attachment_id), stored)
            .await
    }

    /// An image attachment's bytes, while stored.
    pub async fn image(
        &self,
        flag_id: &str,
        attachment_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let stored: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT data FROM flag_images WHERE flag_id = $1 AND attachment_id = $2",
        )
        .bind(flag_id)
        .bind(attachment_id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read image"))?;
        Ok(self
            .opened_optional(flag_id, Item::Image(attachment_id), stored.map(Some))
            .await?
            .flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::keyword_match;

    /// The spans of each match, and the line expected.
    type Case<'a> = (&'a [&'a [(usize, usize)]], Option<&'a str>);

    #[test]
    fn a_preview_line_shows_the_first_match_with_some_context_on_one_line() {
        let text =
            "Hello there.\nWe could meet after school, just the two of us, don't tell anyone ok";
        let at = text.find("meet").unwrap();
        let tell = text.find("tell").unwrap();
        let cases: [Case<'_>; 5] = [
            (
                &[&[(at, at + 4)]],
                Some("Hello there. We could meet after school, just the two of…"),
            ),
            (&[&[(0, 5)]], Some("Hello there. We could meet after sc…")),
            (
                &[&[(tell, tell + 4)]],
                Some("…ol, just the two of us, don't tell anyone ok"),
            ),
            // The earliest match wins, wherever it is listed.
            (
                &[&[(at, at + 4)], &[(6, 11)]],
                Some("Hello there. We could meet after school, …"),
            ),
            (&[], None),
        ];
        for (spans, expected) in cases {
            let matches: Vec<Match> = spans.iter().map(|s| keyword_match(s)).collect();
            assert_eq!(
                preview_line(text, &matches).as_deref(),
                expected,
                "{spans:?}"
            );
        }
        // Character offsets, not bytes: multi-byte text is cut on characters.
        let text = "ÄÖÜ grüße 😀 mehr";
        let m = keyword_match(&[(4, 9)]);
        assert_eq!(
            preview_line(text, &[m]).as_deref(),
            Some("ÄÖÜ grüße 😀 mehr")
        );
    }

    #[test]
    fn a_sender_pseudonym_is_stable_and_does_not_show_the_id() {
        let a = sender_pseudonym("user-102");
        assert_eq!(a, sender_pseudonym("user-102"));
        assert_ne!(a, sender_pseudonym("user-103"));
        assert!(
            a.starts_with("S-") && a.len() == 12 && !a.contains("102"),
            "{a}"
        );
    }
}
