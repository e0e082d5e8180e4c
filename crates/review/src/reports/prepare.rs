//! Preparing a case's report (its flags and files, digests and whether each was viewed),
//! and reading reports back.

use md5::Digest as _;
use sqlx::Row;

use super::{IncidentType, MAX_SUMMARY_CHARS, Report, ReportError, ReportFile, ReportStatus};
use crate::access::{Access, Action, log_access_on};
use crate::accounts::Reviewer;
use crate::sealing::{Item, open_stored};
use crate::store::{Store, StoreError};

const REPORT_COLUMNS: &str = "r.id, r.sender_id, r.status, r.incident_type, r.summary, r.flag_ids,
    p.pseudonym AS prepared_by, r.prepared_at, r.report_id, r.finished_at, r.retracted_ids,
    r.last_error";

impl Store {
    /// `who`, a lead, prepares (or, while it is not open at NCMEC, prepares again) the report
    /// of `sender_id`'s case: every confirmed flag of theirs, each stored image and matched
    /// video frame of those as a file. Returns the report's id.
    pub async fn prepare_report(
        &self,
        who: &Reviewer,
        sender_id: &str,
        incident_type: IncidentType,
        summary: &str,
        remote_addr: &str,
    ) -> Result<i64, ReportError> {
        let summary = summary.trim();
        if summary.is_empty() || summary.chars().count() > MAX_SUMMARY_CHARS {
            return Err(ReportError::BadSummary);
        }
        let flag_ids: Vec<String> = sqlx::query_scalar(
            "SELECT f.flag_id FROM flags f JOIN latest_decisions d USING (flag_id)
             WHERE f.sender_id = $1 AND d.decision = 'confirm' AND f.content_state = 'stored'
             ORDER BY f.sent_at, f.flag_id",
        )
        .bind(sender_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read confirmed flags"))?;
        if flag_ids.is_empty() {
            return Err(ReportError::NothingToReport(sender_id.to_string()));
        }
        let mut files = Vec::new();
        for flag_id in &flag_ids {
            for (attachment_id, frame_ms, bytes) in self.reportable_files(flag_id).await? {
                let viewed = self.was_revealed(flag_id, &attachment_id, frame_ms).await?;
                files.push((flag_id, attachment_id, frame_ms, bytes, viewed));
            }
        }
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        let existing: Option<(i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT id, status, report_id FROM reports WHERE sender_id = $1 FOR UPDATE",
        )
        .bind(sender_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::db("read report"))?;
        let id = match existing {
            Some((_, status, Some(report_id))) if status == "finished" => {
                return Err(ReportError::AlreadyReported(report_id));
            }
            Some((id, status, _)) if status == "opened" => return Err(ReportError::Busy(id)),
            Some((id, ..)) => {
                sqlx::query(
                    "UPDATE reports SET incident_type = $2, summary = $3, flag_ids = $4,
                        prepared_by = $5, prepared_at = now(), last_error = NULL
                     WHERE id = $1",
                )
                .bind(id)
                .bind(incident_type.as_str())
                .bind(summary)
                .bind(&flag_ids)
                .bind(who.id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("update report"))?;
                sqlx::query("DELETE FROM report_files WHERE report = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("clear report files"))?;
                id
            }
            None => sqlx::query_scalar(
                "INSERT INTO reports (sender_id, status, incident_type, summary, flag_ids,
                    prepared_by)
                 VALUES ($1, 'draft', $2, $3, $4, $5) RETURNING id",
            )
            .bind(sender_id)
            .bind(incident_type.as_str())
            .bind(summary)
            .bind(&flag_ids)
            .bind(who.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::db("insert report"))?,
        };
        for (ordinal, (flag_id, attachment_id, frame_ms, bytes, viewed)) in files.iter().enumerate()
        {
            sqlx::query(
                "INSERT INTO report_files (report, ordinal, flag_id, attachment_id, frame_ms,
                    md5, sha256, size_bytes, viewed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id)
            .bind(ordinal as i32)
            .bind(flag_id)
            .bind(attachment_id)
            .bind(frame_ms)
            .bind(hex::encode(md5::Md5::digest(bytes)))
            .bind(hex::encode(sha2::Sha256::digest(bytes)))
            .bind(bytes.len() as i64)
            .bind(viewed)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("insert report file"))?;
        }
        let detail = format!("report={id} flags={} files={}", flag_ids.len(), files.len());
        let access = Access::by(who, Action::ReportPrepared, remote_addr).detail(&detail);
        log_access_on(&mut tx, &access).await?;
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(id)
    }

    /// A flag's stored images and video frames, opened: (attachment, frame time, bytes).
    async fn reportable_files(
        &self,
        flag_id: &str,
    ) -> Result<Vec<(String, Option<i64>, Vec<u8>)>, StoreError> {
        let images: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT attachment_id, data FROM flag_images WHERE flag_id = $1
             ORDER BY attachment_id",
        )
        .bind(flag_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read images"))?;
        let frames: Vec<(String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT attachment_id, frame_ms, thumbnail FROM flag_video_frames
             WHERE flag_id = $1 ORDER BY attachment_id, frame_ms",
        )
        .bind(flag_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read frames"))?;
        let key = self.data_key(flag_id).await?;
        let open =
            |item: Item<'_>, sealed: Vec<u8>| open_stored(key.as_ref(), flag_id, &item, sealed);
        let mut files = Vec::new();
        for (attachment, data) in images {
            let bytes = open(Item::Image(&attachment), data)?;
            files.push((attachment, None, bytes));
        }
        for (attachment, ms, data) in frames {
            let bytes = open(Item::Frame(&attachment, ms as u64), data)?;
            files.push((attachment, Some(ms), bytes));
        }
        Ok(files)
    }

    /// Whether the access log shows a reveal of this image or frame.
    async fn was_revealed(
        &self,
        flag_id: &str,
        attachment_id: &str,
        frame_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let (action, detail) = match frame_ms {
            None => (Action::RevealImage, None),
            Some(ms) => (Action::RevealFrame, Some(format!("frame_ms={ms}"))),
        };
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM access_log WHERE action = $1 AND flag_id = $2
                AND attachment_id = $3 AND ($4::text IS NULL OR detail = $4))",
        )
        .bind(action.as_str())
        .bind(flag_id)
        .bind(attachment_id)
        .bind(detail)
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::db("read reveals"))
    }

    /// The report of `sender_id`'s case, if one was prepared.
    pub async fn report_of_case(&self, sender_id: &str) -> Result<Option<Report>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM reports WHERE sender_id = $1")
            .bind(sender_id)
            .fetch_optional(self.pool())
            .await
            .map_err(StoreError::db("read report"))?;
        match id {
            Some(id) => self.report(id).await,
            None => Ok(None),
        }
    }

    /// Report `id`.
    pub async fn report(&self, id: i64) -> Result<Option<Report>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports r JOIN reviewers p ON p.id = r.prepared_by
             WHERE r.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read report"))?;
        match row {
            Some(row) => Ok(Some(self.report_from(&row).await?)),
            None => Ok(None),
        }
    }

    async fn report_from(&self, r: &sqlx::postgres::PgRow) -> Result<Report, StoreError> {
        let id: i64 = r.get("id");
        let files = sqlx::query(
            "SELECT ordinal, flag_id, attachment_id, frame_ms, md5, sha256, size_bytes, viewed,
                file_id, details_sent_at IS NOT NULL AS details_sent
             FROM report_files WHERE report = $1 ORDER BY ordinal",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read report files"))?
        .iter()
        .map(|f| ReportFile {
            ordinal: f.get("ordinal"),
            flag_id: f.get("flag_id"),
            attachment_id: f.get("attachment_id"),
            frame_ms: f.get("frame_ms"),
            md5: f.get("md5"),
            sha256: f.get("sha256"),
            size_bytes: f.get("size_bytes"),
            viewed: f.get("viewed"),
            file_id: f.get("file_id"),
            details_sent: f.get("details_sent"),
        })
        .collect();
        Ok(Report {
            id,
            sender_id: r.get("sender_id"),
            status: ReportStatus::parse(r.get("status")),
            incident_type: IncidentType::parse(r.get("incident_type"))
                .unwrap_or(IncidentType::ChildPornography),
            summary: r.get("summary"),
            flag_ids: r.get("flag_ids"),
            prepared_by: r.get("prepared_by"),
            prepared_at: r.get("prepared_at"),
            report_id: r.get("report_id"),
            finished_at: r.get("finished_at"),
            retracted_ids: r.get("retracted_ids"),
            last_error: r.get("last_error"),
            files,
        })
    }
}
