//! Cases by account: a sender's flags, across conversations and time, as one unit — what a
//! lead holds, and what law enforcement and NCMEC want reported (one report per account).

use sqlx::Row;
use time::OffsetDateTime;

use crate::store::{Store, StoreError};

/// One account's flags, summed up for the case list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSummary {
    /// The sender's account id, as the message carried it.
    pub sender_id: String,
    /// Flags of theirs.
    pub flags: i64,
    /// Conversations those flags came from.
    pub conversations: i64,
    /// Not decided yet (open or escalated).
    pub undecided: i64,
    /// Decided: confirmed.
    pub confirmed: i64,
    /// Decided: false positive.
    pub false_positive: i64,
    /// Under an active hold.
    pub held: i64,
    /// The most severe flag's severity.
    pub severity: String,
    /// When the latest flagged message was sent.
    pub last_sent: OffsetDateTime,
}

/// One flag of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFlag {
    /// The flag.
    pub flag_id: String,
    /// Its message's conversation.
    pub conversation_id: String,
    /// When the message was sent.
    pub sent_at: OffsetDateTime,
    /// `low` … `critical`.
    pub severity: String,
    /// Its categories.
    pub categories: Vec<String>,
    /// `open`, `escalated` or `decided`.
    pub status: String,
    /// The latest decision, if any.
    pub decision: Option<String>,
    /// Until when an active hold keeps its content.
    pub held_until: Option<OffsetDateTime>,
}

/// The active-hold expiry of flag `f`.
const HELD_UNTIL: &str = "(SELECT max(h.expires_at) FROM holds h
    WHERE h.flag_id = f.flag_id AND h.ended_at IS NULL AND h.expires_at > now())";

impl Store {
    /// Accounts with flags, the most severe and most undecided first, at most `limit`.
    pub async fn cases(&self, limit: i64) -> Result<Vec<CaseSummary>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT f.sender_id, count(*) AS flags,
                    count(DISTINCT f.conversation_id) AS conversations,
                    count(*) FILTER (WHERE f.status <> 'decided') AS undecided,
                    count(*) FILTER (WHERE d.decision = 'confirm') AS confirmed,
                    count(*) FILTER (WHERE d.decision = 'false_positive') AS false_positive,
                    count(*) FILTER (WHERE {HELD_UNTIL} IS NOT NULL) AS held,
                    (array_agg(f.severity ORDER BY f.severity_rank DESC))[1] AS severity,
                    max(f.severity_rank) AS rank, max(f.sent_at) AS last_sent
             FROM flags f LEFT JOIN latest_decisions d USING (flag_id)
             GROUP BY f.sender_id
             ORDER BY rank DESC, undecided DESC, flags DESC, f.sender_id
             LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("list cases"))?;
        Ok(rows
            .iter()
            .map(|r| CaseSummary {
                sender_id: r.get("sender_id"),
                flags: r.get("flags"),
                conversations: r.get("conversations"),
                undecided: r.get("undecided"),
                confirmed: r.get("confirmed"),
                false_positive: r.get("false_positive"),
                held: r.get("held"),
                severity: r.get("severity"),
                last_sent: r.get("last_sent"),
            })
            .collect())
    }

    /// The flags of sender `sender_id`, newest message first.
    pub async fn case_flags(&self, sender_id: &str) -> Result<Vec<CaseFlag>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT f.flag_id, f.conversation_id, f.sent_at, f.severity, f.categories, f.status,
                    d.decision, {HELD_UNTIL} AS held_until
             FROM flags f LEFT JOIN latest_decisions d USING (flag_id)
             WHERE f.sender_id = $1
             ORDER BY f.sent_at DESC, f.flag_id"
        ))
        .bind(sender_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("list case flags"))?;
        Ok(rows
            .iter()
            .map(|r| CaseFlag {
                flag_id: r.get("flag_id"),
                conversation_id: r.get("conversation_id"),
                sent_at: r.get("sent_at"),
                severity: r.get("severity"),
                categories: r.get("categories"),
                status: r.get("status"),
                decision: r.get("decision"),
                held_until: r.get("held_until"),
            })
            .collect())
    }
}
