//! Preservation (legal holds): a flag under an active hold keeps its text, images and
//! frames past `review.content_retention_days`; its matches, decisions and source
//! coordinates are never purged anyway.
//!
//! - Confirming a flag holds it for `review.preservation_days` (default 365: a United
//!   States provider must preserve reported apparent CSAM for one year, 18 U.S.C.
//!   § 2258A(h) as amended by the REPORT Act of 2024).
//! - A lead holds any flag (a preservation request under § 2703(f), a court order), with a
//!   reason, an optional reference and an expiry, and releases a hold with a reason.
//! - The purge run ends holds past their expiry before it purges.
//!
//! Placing, releasing and expiring each write an access-log row in the same transaction, so
//! the log and the holds never disagree. Auditors see holds, never content.

use std::time::Duration;

use serde::Serialize;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;

use crate::access::{Access, Action};
use crate::accounts::{Reviewer, Role};
use crate::store::{Store, StoreError};

/// Longest hold reason and reference, in characters.
pub const MAX_HOLD_TEXT_CHARS: usize = 500;
/// Longest hold a lead can place, in days (ten years).
pub const MAX_HOLD_DAYS: u32 = 3650;
/// The reason a confirming decision's hold carries.
pub const CONFIRMED_REASON: &str = "confirmed by a reviewer";
/// The reason a finished report's hold carries.
pub const REPORTED_REASON: &str = "reported to the NCMEC CyberTipline";

/// Why a hold was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldKind {
    /// Automatically, by a confirming decision.
    Confirmed,
    /// By a lead.
    Placed,
    /// Automatically, by a finished CyberTipline report (from the report's time).
    Reported,
}

impl HoldKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Confirmed => "confirmed",
            HoldKind::Placed => "placed",
            HoldKind::Reported => "reported",
        }
    }
}

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// It keeps the flag's content.
    Active,
    /// A lead released it.
    Released,
    /// It reached its expiry (a purge run ended it, or will at its next run).
    Expired,
}

impl HoldState {
    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Active => "active",
            HoldState::Released => "released",
            HoldState::Expired => "expired",
        }
    }
}

/// One hold, as the console and auditors see it: no content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// Row id.
    pub id: i64,
    /// The flag held.
    pub flag_id: String,
    /// Why it was placed.
    pub kind: HoldKind,
    /// The lead's reason, or [`CONFIRMED_REASON`].
    pub reason: String,
    /// A preservation-request or case number; empty when none was given.
    pub reference: String,
    /// The pseudonym of who placed it (for a confirmed hold: who confirmed).
    pub placed_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    /// When it stops holding.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Active, released or expired.
    pub state: HoldState,
    /// When it was released or ended by a purge run.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// The pseudonym of the lead who released it.
    pub ended_by: Option<String>,
    /// The lead's reason for releasing it, or `expired`.
    pub end_reason: Option<String>,
}

/// What a lead asks for when holding a flag.
#[derive(Debug, Clone, Copy)]
pub struct HoldRequest<'a> {
    /// Why (required).
    pub reason: &'a str,
    /// A preservation-request or case number (may be empty).
    pub reference: &'a str,
    /// How long, in days (1 to [`MAX_HOLD_DAYS`]).
    pub days: u32,
}

/// Why a hold was not placed or released.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// Only leads place and release holds.
    #[error("only leads place and release holds")]
    NotLead,
    /// The flag does not exist.
    #[error("no such flag")]
    NoSuchFlag,
    /// The hold does not exist.
    #[error("no such hold")]
    NoSuchHold,
    /// The hold was released or expired already.
    #[error("this hold has ended already")]
    Ended,
    /// A reason is required.
    #[error("give a reason")]
    NoReason,
    /// A field is longer than [`MAX_HOLD_TEXT_CHARS`] or holds control characters.
    #[error("the {0} must be at most {MAX_HOLD_TEXT_CHARS} characters, on one line")]
    BadText(&'static str),
    /// The duration is out of range.
    #[error("a hold lasts 1 to {MAX_HOLD_DAYS} days")]
    BadDays,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a lead holds: one flag, or every flag of an account (a case).
#[derive(Debug, Clone, Copy)]
enum Held<'a> {
    Flag(&'a str),
    Account(&'a str),
}

/// `value` trimmed, if it fits a hold's text field named `field`.
fn hold_text<'a>(value: &'a str, field: &'static str) -> Result<&'a str, HoldError> {
    let value = value.trim();
    if value.chars().count() > MAX_HOLD_TEXT_CHARS || value.chars().any(char::is_control) {
        return Err(HoldError::BadText(field));
    }
    Ok(value)
}

fn days(days: u32) -> time::Duration {
    time::Duration::days(i64::from(days))
}

const HOLD_COLUMNS: &str =
    "h.id, h.flag_id, h.kind, h.reason, h.reference, p.pseudonym AS placed_by,
    h.placed_at, h.expires_at, h.ended_at, e.pseudonym AS ended_by, h.end_reason,
    h.ended_at IS NULL AND h.expires_at > now() AS active";

const HOLD_FROM: &str = "holds h JOIN reviewers p ON p.id = h.placed_by
    LEFT JOIN reviewers e ON e.id = h.ended_by";

fn hold_of(r: &sqlx::postgres::PgRow) -> Hold {
    let end_reason: Option<String> = r.get("end_reason");
    let ended_by: Option<String> = r.get("ended_by");
    let state = if r.get("active") {
        HoldState::Active
    } else if ended_by.is_some() {
        HoldState::Released
    } else {
        HoldState::Expired
    };
    Hold {
        id: r.get("id"),
        flag_id: r.get("flag_id"),
        kind: match r.get::<&str, _>("kind") {
            "confirmed" => HoldKind::Confirmed,
            "reported" => HoldKind::Reported,
            _ => HoldKind::Placed,
        },
        reason: r.get("reason"),
        reference: r.get("reference"),
        placed_by: r.get("placed_by"),
        placed_at: r.get("placed_at"),
        expires_at: r.get("expires_at"),
        state,
        ended_at: r.get("ended_at"),
        ended_by,
        end_reason,
    }
}

/// Inserts a hold and its access-log row on `conn` (inside the caller's transaction).
async fn insert_hold(
    conn: &mut PgConnection,
    access: Access<'_>,
    kind: HoldKind,
    flag_id: &str,
    reason: &str,
    reference: &str,
    lasts: time::Duration,
) -> Result<i64, StoreError> {
    let who = access.who.map(|w| w.id);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO holds (flag_id, kind, reason, reference, placed_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + $6) RETURNING id",
    )
    .bind(flag_id)
    .bind(kind.as_str())
    .bind(reason)
    .bind(reference)
    .bind(who)
    .bind(lasts)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::db("insert hold"))?;
    let detail = format!(
        "hold={id} kind={} days={}",
        kind.as_str(),
        lasts.whole_days()
    );
    crate::access::log_access_on(conn, &access.flag(flag_id).detail(&detail)).await?;
    Ok(id)
}

/// Why the console holds a flag by itself: a confirmation (no reference) or a finished
/// CyberTipline report (its reference).
pub(crate) enum AutomaticHold<'a> {
    Confirmed,
    Reported(&'a str),
}

/// Holds `flag_id` for `lasts` from now because `who` confirmed or reported it (inside that
/// transaction, so a confirmed or reported flag is never without its hold).
pub(crate) async fn hold_automatically(
    conn: &mut PgConnection,
    who: &Reviewer,
    why: AutomaticHold<'_>,
    flag_id: &str,
    lasts: Duration,
    remote_addr: &str,
) -> Result<i64, StoreError> {
    let lasts = time::Duration::try_from(lasts).unwrap_or(time::Duration::MAX);
    let (kind, reason, reference) = match why {
        AutomaticHold::Confirmed => (HoldKind::Confirmed, CONFIRMED_REASON, ""),
        AutomaticHold::Reported(reference) => (HoldKind::Reported, REPORTED_REASON, reference),
    };
    insert_hold(
        conn,
        Access::by(who, Action::HoldPlaced, remote_addr),
        kind,
        flag_id,
        reason,
        reference,
        lasts,
    )
    .await
}

/// Ends the holds past their expiry, each with an access-log row by the system; returns
/// how many (inside the purge's transaction, before it purges).
pub(crate) async fn expire_holds(conn: &mut PgConnection) -> Result<u64, StoreError> {
    let ended: Vec<(i64, String)> = sqlx::query_as(
        "UPDATE holds SET ended_at = now(), end_reason = 'expired'
         WHERE ended_at IS NULL AND expires_at <= now() RETURNING id, flag_id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::db("expire holds"))?;
    for (id, flag_id) in &ended {
        let detail = format!("hold={id}");
        let access = Access::system(Action::HoldExpired)
            .flag(flag_id)
            .detail(&detail);
        crate::access::log_access_on(conn, &access).await?;
    }
    Ok(ended.len() as u64)
}

/// The SQL condition "flag `{flag}` has no active hold", for the purge.
pub(crate) fn not_held(flag: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM holds h WHERE h.flag_id = {flag}
                     AND h.ended_at IS NULL AND h.expires_at > now())"
    )
}

impl Store {
    /// `who`, a lead, holds `flag_id` as `request` says; returns the hold's id.
    pub async fn place_hold(
        &self,
        who: &Reviewer,
        flag_id: &str,
        request: HoldRequest<'_>,
        remote_addr: &str,
    ) -> Result<i64, HoldError> {
        let ids = self
            .place_holds(who, Held::Flag(flag_id), request, remote_addr)
            .await?;
        Ok(ids[0])
    }

    /// `who`, a lead, holds every flag of sender `sender_id` (a case, [`crate::cases`]) as
    /// `request` says, in one transaction; returns the holds' ids.
    pub async fn hold_case(
        &self,
        who: &Reviewer,
        sender_id: &str,
        request: HoldRequest<'_>,
        remote_addr: &str,
    ) -> Result<Vec<i64>, HoldError> {
        self.place_holds(who, Held::Account(sender_id), request, remote_addr)
            .await
    }

    /// Holds every flag of `held`; none is [`HoldError::NoSuchFlag`].
    async fn place_holds(
        &self,
        who: &Reviewer,
        held: Held<'_>,
        request: HoldRequest<'_>,
        remote_addr: &str,
    ) -> Result<Vec<i64>, HoldError> {
        if who.role != Role::Lead {
            return Err(HoldError::NotLead);
        }
        let reason = hold_text(request.reason, "reason")?;
        let reference = hold_text(request.reference, "reference")?;
        if reason.is_empty() {
            return Err(HoldError::NoReason);
        }
        if !(1..=MAX_HOLD_DAYS).contains(&request.days) {
            return Err(HoldError::BadDays);
        }
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        let (select, key) = match held {
            Held::Flag(flag_id) => ("SELECT flag_id FROM flags WHERE flag_id = $1", flag_id),
            Held::Account(sender_id) => (
                "SELECT flag_id FROM flags WHERE sender_id = $1 ORDER BY flag_id",
                sender_id,
            ),
        };
        let flags: Vec<String> = sqlx::query_scalar(select)
            .bind(key)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::db("look up flags"))?;
        if flags.is_empty() {
            return Err(HoldError::NoSuchFlag);
        }
        let mut ids = Vec::with_capacity(flags.len());
        for flag_id in &flags {
            let access = Access::by(who, Action::HoldPlaced, remote_addr);
            let lasts = days(request.days);
            let id = insert_hold(
                &mut tx,
                access,
                HoldKind::Placed,
                flag_id,
                reason,
                reference,
                lasts,
            )
            .await?;
            ids.push(id);
        }
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(ids)
    }

    /// `who`, a lead, releases hold `hold_id` for `reason`; returns the flag it held.
    pub async fn release_hold(
        &self,
        who: &Reviewer,
        hold_id: i64,
        reason: &str,
        remote_addr: &str,
    ) -> Result<String, HoldError> {
        if who.role != Role::Lead {
            return Err(HoldError::NotLead);
        }
        let reason = hold_text(reason, "reason")?;
        if reason.is_empty() {
            return Err(HoldError::NoReason);
        }
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        let row = sqlx::query(
            "SELECT flag_id, ended_at IS NULL AND expires_at > now() AS active
             FROM holds WHERE id = $1 FOR UPDATE",
        )
        .bind(hold_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::db("look up hold"))?
        .ok_or(HoldError::NoSuchHold)?;
        if !row.get::<bool, _>("active") {
            return Err(HoldError::Ended);
        }
        let flag_id: String = row.get("flag_id");
        sqlx::query(
            "UPDATE holds SET ended_at = now(), ended_by = $2, end_reason = $3 WHERE id = $1",
        )
        .bind(hold_id)
        .bind(who.id)
        .bind(reason)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("release hold"))?;
        let detail = format!("hold={hold_id}");
        let access = Access::by(who, Action::HoldReleased, remote_addr)
            .flag(&flag_id)
            .detail(&detail);
        crate::access::log_access_on(&mut tx, &access).await?;
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(flag_id)
    }

    /// The holds of `flag_id`, newest first.
    pub async fn holds_of(&self, flag_id: &str) -> Result<Vec<Hold>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {HOLD_COLUMNS} FROM {HOLD_FROM} WHERE h.flag_id = $1 ORDER BY h.id DESC"
        ))
        .bind(flag_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read holds"))?;
        Ok(rows.iter().map(hold_of).collect())
    }

    /// Every hold, active ones first then newest first, at most `limit`.
    pub async fn all_holds(&self, limit: i64) -> Result<Vec<Hold>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {HOLD_COLUMNS} FROM {HOLD_FROM}
             ORDER BY (h.ended_at IS NULL AND h.expires_at > now()) DESC, h.id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read holds"))?;
        Ok(rows.iter().map(hold_of).collect())
    }
}
