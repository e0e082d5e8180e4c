//! The access audit: who viewed which flag, revealed which image, decided what, when and
//! from where (an append-only table; a trigger refuses updates and deletes), and the
//! precision figures auditors read. Neither ever holds content.

use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use crate::accounts::Reviewer;
use crate::store::{Store, StoreError};

/// The actor of rows the console writes itself (role `system`).
pub const SYSTEM_ACTOR: &str = "vigil";

/// What happened, as the log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Signed in.
    Login,
    /// A sign-in was refused (the attempted name is the actor).
    LoginFailed,
    /// Signed out.
    Logout,
    /// Opened a flag's detail (its text and blurred images).
    ViewFlag,
    /// Revealed one image unblurred.
    RevealImage,
    /// Revealed one frame of a video's contact sheet unblurred (detail: its time).
    RevealFrame,
    /// Took a decision.
    Decide,
    /// Was refused a page their role does not allow.
    Denied,
    /// Exported the access log.
    Export,
    /// Proved again who they are (before a reveal).
    Reauthenticate,
    /// Changed their password (or had it reset with `vigil review user passwd`).
    ChangePassword,
    /// Opened a case: an account's flags (detail: the sender's id).
    ViewCase,
    /// Placed a legal hold on a flag, or confirmed one (detail: the hold's id, kind, days).
    HoldPlaced,
    /// Released a hold (detail: its id).
    HoldReleased,
    /// A hold reached its expiry and a purge run ended it (the system; detail: its id).
    HoldExpired,
    /// Prepared (or re-prepared) a case's CyberTipline report (detail: its id, files).
    ReportPrepared,
    /// Opened the report at NCMEC (detail: NCMEC's report id).
    ReportOpened,
    /// Uploaded one of its files (flag, attachment; detail: MD5 and NCMEC's file id).
    ReportFileUploaded,
    /// Finished it: NCMEC has the report (detail: NCMEC's report id, files).
    ReportFinished,
    /// Retracted it at NCMEC after an error (detail: NCMEC's id, the reason code).
    ReportRetracted,
    /// A submission failed before NCMEC opened a report (detail: the reason code).
    ReportFailed,
    /// Opened a case's report page (detail: the sender's id, the report's).
    ViewReport,
    /// Exported a case as a signed evidence package (detail: the sender's id, the
    /// manifest's SHA-256, how many files).
    ExportPackage,
    /// Blurred a revealed image again (it stays blurred until revealed, and logged, anew).
    ReblurImage,
    /// Blurred a revealed video frame again (detail: its time).
    ReblurFrame,
    /// Changed their own viewing settings (detail: the new values).
    ChangeViewSettings,
    /// A lead disabled a matched list entry everywhere (detail: list, entry, until).
    DisableEntry,
    /// A lead reinstated a quarantined list entry (detail: list, entry).
    ReinstateEntry,
}

impl Action {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::LoginFailed => "login_failed",
            Action::Logout => "logout",
            Action::ViewFlag => "view_flag",
            Action::RevealImage => "reveal_image",
            Action::RevealFrame => "reveal_frame",
            Action::Decide => "decide",
            Action::Denied => "denied",
            Action::Export => "export_access_log",
            Action::Reauthenticate => "reauthenticate",
            Action::ChangePassword => "change_password",
            Action::ViewCase => "view_case",
            Action::HoldPlaced => "hold_placed",
            Action::HoldReleased => "hold_released",
            Action::HoldExpired => "hold_expired",
            Action::ReportPrepared => "report_prepared",
            Action::ReportOpened => "report_opened",
            Action::ReportFileUploaded => "report_file_uploaded",
            Action::ReportFinished => "report_finished",
            Action::ReportRetracted => "report_retracted",
            Action::ReportFailed => "report_failed",
            Action::ViewReport => "view_report",
            Action::ExportPackage => "export_package",
            Action::ReblurImage => "reblur_image",
            Action::ReblurFrame => "reblur_frame",
            Action::ChangeViewSettings => "change_view_settings",
            Action::DisableEntry => "disable_entry",
            Action::ReinstateEntry => "reinstate_entry",
        }
    }
}

/// One access-log row to write.
#[derive(Debug, Clone)]
pub struct Access<'a> {
    /// Who (none for a refused sign-in).
    pub who: Option<&'a Reviewer>,
    /// The name shown for a refused sign-in.
    pub attempted: Option<&'a str>,
    /// What.
    pub action: Action,
    /// Which flag.
    pub flag_id: Option<&'a str>,
    /// Which image.
    pub attachment_id: Option<&'a str>,
    /// A content-free detail (a decision, a refused path).
    pub detail: &'a str,
    /// The client address.
    pub remote_addr: &'a str,
}

impl<'a> Access<'a> {
    /// `who` did `action` from `remote_addr`.
    pub fn by(who: &'a Reviewer, action: Action, remote_addr: &'a str) -> Access<'a> {
        Access {
            who: Some(who),
            attempted: None,
            action,
            flag_id: None,
            attachment_id: None,
            detail: "",
            remote_addr,
        }
    }

    /// `action` done by the console itself (a purge run), logged as actor
    /// [`SYSTEM_ACTOR`] with role `system`.
    pub fn system(action: Action) -> Access<'a> {
        Access {
            who: None,
            attempted: None,
            action,
            flag_id: None,
            attachment_id: None,
            detail: "",
            remote_addr: "",
        }
    }

    /// A refused sign-in as `name` (at most 64 characters of it are kept).
    pub fn failed_sign_in(name: &'a str, remote_addr: &'a str) -> Access<'a> {
        let kept = name
            .char_indices()
            .nth(64)
            .map_or(name, |(i, _)| &name[..i]);
        Access {
            who: None,
            attempted: Some(kept),
            action: Action::LoginFailed,
            flag_id: None,
            attachment_id: None,
            detail: "",
            remote_addr,
        }
    }

    /// About `flag_id`.
    pub fn flag(mut self, flag_id: &'a str) -> Access<'a> {
        self.flag_id = Some(flag_id);
        self
    }

    /// About image `attachment_id`.
    pub fn image(mut self, attachment_id: &'a str) -> Access<'a> {
        self.attachment_id = Some(attachment_id);
        self
    }

    /// About the frame at `frame_ms` of video `attachment_id`.
    pub fn frame(mut self, attachment_id: &'a str, frame: &'a FrameDetail) -> Access<'a> {
        self.attachment_id = Some(attachment_id);
        self.detail = &frame.0;
        self
    }

    /// With a content-free detail.
    pub fn detail(mut self, detail: &'a str) -> Access<'a> {
        self.detail = detail;
        self
    }
}

/// How the access log names a video frame: `frame_ms=2000`, in the row's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameDetail(String);

impl FrameDetail {
    /// The frame at `frame_ms`.
    pub fn new(frame_ms: u64) -> FrameDetail {
        FrameDetail(format!("frame_ms={frame_ms}"))
    }
}

/// One access-log row as read back and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessRow {
    /// Row id (increasing).
    pub id: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The reviewer's pseudonym (or the attempted login name).
    pub actor: String,
    /// Their role.
    pub role: String,
    /// What.
    pub action: String,
    /// Which flag.
    pub flag_id: Option<String>,
    /// Which image.
    pub attachment_id: Option<String>,
    /// A content-free detail.
    pub detail: String,
    /// The client address.
    pub remote_addr: String,
}

impl AccessRow {
    /// The row's columns of that name.
    pub(crate) fn from_row(r: &sqlx::postgres::PgRow) -> AccessRow {
        AccessRow {
            id: r.get("id"),
            at: r.get("at"),
            actor: r.get("actor"),
            role: r.get("role"),
            action: r.get("action"),
            flag_id: r.get("flag_id"),
            attachment_id: r.get("attachment_id"),
            detail: r.get("detail"),
            remote_addr: r.get("remote_addr"),
        }
    }
}

/// Decisions on one list version, category and detector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Precision {
    /// The list.
    pub list: String,
    /// Its version.
    pub list_version: String,
    /// The match category.
    pub category: String,
    /// `pdq`, `keyword`, …
    pub detector: String,
    /// Matches here that were confirmed.
    pub confirmed: i64,
    /// … decided false positives.
    pub false_positive: i64,
    /// … escalated and not yet decided.
    pub escalated: i64,
    /// confirmed / (confirmed + false positives), when any were decided.
    pub precision: Option<f64>,
}

/// Decisions on one list entry or rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryPrecision {
    /// The list.
    pub list: String,
    /// Its version.
    pub list_version: String,
    /// The entry id or rule id.
    pub entry: String,
    /// `pdq`, `keyword`, …
    pub detector: String,
    /// Flags with this entry among their matches that were confirmed.
    pub confirmed: i64,
    /// … decided false positives.
    pub false_positive: i64,
}

impl Store {
    /// Appends one row to the access log.
    pub async fn log_access(&self, access: &Access<'_>) -> Result<(), StoreError> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(StoreError::db("write access log"))?;
        log_access_on(&mut conn, access).await
    }

    /// The access log, newest first, at most `limit` rows (`None`: all).
    pub async fn access_log(&self, limit: Option<i64>) -> Result<Vec<AccessRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, role, action, flag_id, attachment_id, detail, remote_addr
             FROM access_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read access log"))?;
        Ok(rows.iter().map(AccessRow::from_row).collect())
    }

    /// Whether `who` has `attachment_id` of `flag_id` revealed: revealed since `since`
    /// (their sign-in) and not blurred again after the latest reveal.
    pub async fn revealed(
        &self,
        who: &Reviewer,
        flag_id: &str,
        attachment_id: &str,
        since: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        sqlx::query_scalar(
            "SELECT coalesce((SELECT action = $2 FROM access_log
                WHERE reviewer_id = $1 AND action IN ($2, $3) AND flag_id = $4
                  AND attachment_id = $5 AND at >= $6
                ORDER BY id DESC LIMIT 1), false)",
        )
        .bind(who.id)
        .bind(Action::RevealImage.as_str())
        .bind(Action::ReblurImage.as_str())
        .bind(flag_id)
        .bind(attachment_id)
        .bind(since)
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::db("check reveal"))
    }

    /// Whether `who` has the frame at `frame_ms` of video `attachment_id` of `flag_id`
    /// revealed: in this session (since `since`), and not blurred again since.
    pub async fn revealed_frame(
        &self,
        who: &Reviewer,
        flag_id: &str,
        attachment_id: &str,
        frame_ms: u64,
        since: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        sqlx::query_scalar(
            "SELECT coalesce((SELECT action = $2 FROM access_log
                WHERE reviewer_id = $1 AND action IN ($2, $3) AND flag_id = $4
                  AND attachment_id = $5 AND detail = $6 AND at >= $7
                ORDER BY id DESC LIMIT 1), false)",
        )
        .bind(who.id)
        .bind(Action::RevealFrame.as_str())
        .bind(Action::ReblurFrame.as_str())
        .bind(flag_id)
        .bind(attachment_id)
        .bind(&FrameDetail::new(frame_ms).0)
        .bind(since)
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::db("check frame reveal"))
    }

    /// The `limit` entries and rules with the most false positives (a noisy keyword or a bad
    /// hash-list entry), most first.
    pub async fn noisiest(&self, limit: i64) -> Result<Vec<EntryPrecision>, StoreError> {
        let rows = sqlx::query(
            "SELECT list, list_version, entry, detector,
                    count(*) FILTER (WHERE outcome = 'confirmed') AS confirmed,
                    count(*) FILTER (WHERE outcome = 'false_positive') AS false_positive
             FROM match_outcomes
             GROUP BY list, list_version, entry, detector
             HAVING count(*) FILTER (WHERE outcome = 'false_positive') > 0
             ORDER BY false_positive DESC, confirmed, list, entry
             LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("noisiest entries"))?;
        Ok(rows
            .iter()
            .map(|r| EntryPrecision {
                list: r.get("list"),
                list_version: r.get("list_version"),
                entry: r.get("entry"),
                detector: r.get("detector"),
                confirmed: r.get("confirmed"),
                false_positive: r.get("false_positive"),
            })
            .collect())
    }

    /// Decisions per list version, category and detector, counted per match: each match of
    /// a decided flag by its own outcome under the flag's latest decision, so a flag marked a
    /// false positive for one misfiring rule does not count its genuine match as one.
    pub async fn precision(&self) -> Result<Vec<Precision>, StoreError> {
        let rows = sqlx::query(
            "SELECT list, list_version, category, detector,
                    count(*) FILTER (WHERE outcome = 'confirmed') AS confirmed,
                    count(*) FILTER (WHERE outcome = 'false_positive') AS false_positive,
                    count(*) FILTER (WHERE decision = 'escalate') AS escalated
             FROM match_outcomes
             GROUP BY list, list_version, category, detector
             ORDER BY list, list_version, category, detector",
        )
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("precision"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let confirmed: i64 = r.get("confirmed");
                let false_positive: i64 = r.get("false_positive");
                let decided = confirmed + false_positive;
                Precision {
                    list: r.get("list"),
                    list_version: r.get("list_version"),
                    category: r.get("category"),
                    detector: r.get("detector"),
                    confirmed,
                    false_positive,
                    escalated: r.get("escalated"),
                    precision: (decided > 0).then(|| confirmed as f64 / decided as f64),
                }
            })
            .collect())
    }
}

/// Appends one row to the access log on `conn` (inside the caller's transaction, so the row
/// commits with what it records, or not at all).
pub(crate) async fn log_access_on(
    conn: &mut sqlx::PgConnection,
    access: &Access<'_>,
) -> Result<(), StoreError> {
    let (id, actor, role) = match (access.who, access.attempted) {
        (Some(who), _) => (Some(who.id), who.pseudonym.as_str(), who.role.as_str()),
        (None, Some(name)) => (None, name, ""),
        (None, None) => (None, SYSTEM_ACTOR, "system"),
    };
    sqlx::query(
        "INSERT INTO access_log (reviewer_id, actor, role, action, flag_id, attachment_id,
            detail, remote_addr)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(actor)
    .bind(role)
    .bind(access.action.as_str())
    .bind(access.flag_id)
    .bind(access.attachment_id)
    .bind(access.detail)
    .bind(access.remote_addr)
    .execute(conn)
    .await
    .map_err(StoreError::db("write access log"))?;
    Ok(())
}
