//! Submitting a report through the CyberTipline's flow, each step stored as it happens,
//! retracting on error.

use std::time::Duration;

use super::client::{self, ClientError, CyberTipline};
use super::{Report, ReportError, ReportFile, ReportStatus, Submitted, xml};
use crate::access::{Access, Action, log_access_on};
use crate::accounts::Reviewer;
use crate::config::CyberTiplineConfig;
use crate::holds::{AutomaticHold, hold_automatically};
use crate::store::{Store, StoreError};

/// How long a submitter's claim on a report lasts if the console dies mid-way.
const CLAIM: &str = "interval '15 minutes'";

impl Store {
    /// Submits report `id` to the CyberTipline as `who`: opens it (unless it is open
    /// already), uploads each file not uploaded yet, sends each file's details, finishes it,
    /// and holds its flags for `preserve_for` from now. On an error after opening it
    /// retracts the report, so NCMEC never keeps half a report; the case can be submitted
    /// again. A finished report is never sent again.
    pub async fn submit_report(
        &self,
        client: &CyberTipline,
        config: &CyberTiplineConfig,
        who: &Reviewer,
        id: i64,
        preserve_for: Duration,
        remote_addr: &str,
    ) -> Result<Submitted, ReportError> {
        let claimed: Option<String> = sqlx::query_scalar(&format!(
            "UPDATE reports SET claimed_by = $2, claim_expires_at = now() + {CLAIM}
             WHERE id = $1 AND status <> 'finished'
               AND (claim_expires_at IS NULL OR claim_expires_at < now() OR claimed_by = $2)
             RETURNING status"
        ))
        .bind(id)
        .bind(who.id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("claim report"))?;
        let report = self
            .report(id)
            .await?
            .ok_or(ReportError::NoSuchReport(id))?;
        if claimed.is_none() {
            return match (report.status, report.report_id) {
                (ReportStatus::Finished, Some(report_id)) => {
                    Ok(Submitted::AlreadyFinished { report_id })
                }
                _ => Err(ReportError::Busy(id)),
            };
        }
        let result = self
            .run_submission(client, config, who, &report, preserve_for, remote_addr)
            .await;
        sqlx::query("UPDATE reports SET claimed_by = NULL, claim_expires_at = NULL WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(StoreError::db("release report"))?;
        result
    }

    async fn run_submission(
        &self,
        client: &CyberTipline,
        config: &CyberTiplineConfig,
        who: &Reviewer,
        report: &Report,
        preserve_for: Duration,
        remote_addr: &str,
    ) -> Result<Submitted, ReportError> {
        let id = report.id;
        let report_id = match report.report_id {
            Some(report_id) => report_id,
            None => {
                let document = self.report_document(report).await?;
                let body = xml::report(&document, config);
                match client.open(&body).await {
                    Ok(report_id) => {
                        self.record_opened(who, id, report_id, remote_addr).await?;
                        report_id
                    }
                    Err(e) => {
                        self.record_failure(who, id, None, &e.reason(), remote_addr)
                            .await?;
                        return Err(e.into());
                    }
                }
            }
        };
        match self
            .send_files(client, who, report, report_id, remote_addr)
            .await
        {
            Ok(file_ids) => {
                self.record_finished(who, report, report_id, preserve_for, remote_addr)
                    .await?;
                Ok(Submitted::Finished {
                    report_id,
                    file_ids,
                })
            }
            Err(e) => {
                let reason = match &e {
                    ReportError::Client(c) => c.reason(),
                    ReportError::FileGone(_) => "file_gone".into(),
                    other => format!("{other}").chars().take(100).collect(),
                };
                let gone = matches!(
                    &e,
                    ReportError::Client(ClientError::Refused {
                        code: client::REPORT_DOES_NOT_EXIST,
                        ..
                    })
                );
                // A report NCMEC no longer has needs no retraction (it deleted it unfinished).
                let retracted = gone || client.retract(report_id).await.is_ok();
                self.record_failure(
                    who,
                    id,
                    retracted.then_some(report_id),
                    &reason,
                    remote_addr,
                )
                .await?;
                Err(e)
            }
        }
    }

    /// Uploads and describes every file not yet done, then finishes; NCMEC's file ids.
    async fn send_files(
        &self,
        client: &CyberTipline,
        who: &Reviewer,
        report: &Report,
        report_id: i64,
        remote_addr: &str,
    ) -> Result<Vec<String>, ReportError> {
        // Reread: a resumed submission finds the ids stored so far.
        let current = self
            .report(report.id)
            .await?
            .ok_or(ReportError::NoSuchReport(report.id))?;
        let mut file_ids = Vec::new();
        for file in &current.files {
            // A resumed submission reads nothing again for a file NCMEC has whole.
            if let (Some(file_id), true) = (&file.file_id, file.details_sent) {
                file_ids.push(file_id.clone());
                continue;
            }
            let parts = self
                .file_document_parts(file)
                .await?
                .ok_or(ReportError::FileGone(file.ordinal))?;
            let file_id = match &file.file_id {
                Some(file_id) => file_id.clone(),
                None => {
                    let uploaded = client.upload(report_id, &parts.name, &parts.bytes).await?;
                    self.record_upload(who, report.id, file, &uploaded.file_id, remote_addr)
                        .await?;
                    uploaded.file_id
                }
            };
            if !file.details_sent {
                let note = file.frame_ms.map(|ms| {
                    format!(
                        "A frame at {ms} ms of video attachment {}, as the platform's review \
                         console kept it (a thumbnail; the console does not keep videos).",
                        file.attachment_id
                    )
                });
                let details = xml::file_details(&xml::FileDocument {
                    report_id,
                    file_id: &file_id,
                    original_name: &parts.name,
                    uploaded_at: parts.sent_at,
                    viewed: file.viewed,
                    md5: &file.md5,
                    sha256: &file.sha256,
                    ip_address: parts.ip_address,
                    matches: parts.matches,
                    note,
                });
                client.file_info(&details).await?;
                sqlx::query(
                    "UPDATE report_files SET details_sent_at = now()
                     WHERE report = $1 AND ordinal = $2",
                )
                .bind(report.id)
                .bind(file.ordinal)
                .execute(self.pool())
                .await
                .map_err(StoreError::db("record file details"))?;
            }
            file_ids.push(file_id);
        }
        client.finish(report_id).await?;
        Ok(file_ids)
    }

    async fn record_opened(
        &self,
        who: &Reviewer,
        id: i64,
        report_id: i64,
        remote_addr: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        sqlx::query(
            "UPDATE reports SET status = 'opened', report_id = $2, opened_at = now(),
                last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(report_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("record opened report"))?;
        let detail = format!("report={id} ncmec_report={report_id}");
        log_access_on(
            &mut tx,
            &Access::by(who, Action::ReportOpened, remote_addr).detail(&detail),
        )
        .await?;
        tx.commit().await.map_err(StoreError::db("commit"))
    }

    async fn record_upload(
        &self,
        who: &Reviewer,
        id: i64,
        file: &ReportFile,
        file_id: &str,
        remote_addr: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        sqlx::query("UPDATE report_files SET file_id = $3 WHERE report = $1 AND ordinal = $2")
            .bind(id)
            .bind(file.ordinal)
            .bind(file_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("record upload"))?;
        let detail = format!(
            "report={id} file={} md5={} ncmec_file={file_id}",
            file.ordinal, file.md5
        );
        let access = Access::by(who, Action::ReportFileUploaded, remote_addr)
            .flag(&file.flag_id)
            .image(&file.attachment_id)
            .detail(&detail);
        log_access_on(&mut tx, &access).await?;
        tx.commit().await.map_err(StoreError::db("commit"))
    }

    async fn record_finished(
        &self,
        who: &Reviewer,
        report: &Report,
        report_id: i64,
        preserve_for: Duration,
        remote_addr: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        sqlx::query(
            "UPDATE reports SET status = 'finished', finished_at = now(), finished_by = $2,
                last_error = NULL WHERE id = $1",
        )
        .bind(report.id)
        .bind(who.id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("record finished report"))?;
        let reference = format!("CyberTipline report {report_id}");
        for flag_id in &report.flag_ids {
            hold_automatically(
                &mut tx,
                who,
                AutomaticHold::Reported(&reference),
                flag_id,
                preserve_for,
                remote_addr,
            )
            .await?;
        }
        let detail = format!(
            "report={} ncmec_report={report_id} files={}",
            report.id,
            report.files.len()
        );
        log_access_on(
            &mut tx,
            &Access::by(who, Action::ReportFinished, remote_addr).detail(&detail),
        )
        .await?;
        tx.commit().await.map_err(StoreError::db("commit"))
    }

    /// Records a failed submission: back to a draft (NCMEC's id kept among the retracted) if
    /// it was retracted, still open (to resume or retract later) if the retraction failed.
    async fn record_failure(
        &self,
        who: &Reviewer,
        id: i64,
        retracted: Option<i64>,
        reason: &str,
        remote_addr: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        sqlx::query("UPDATE reports SET last_error = $2 WHERE id = $1")
            .bind(id)
            .bind(reason)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("record failure"))?;
        let (action, detail) = match retracted {
            Some(report_id) => {
                sqlx::query(
                    "UPDATE reports SET status = 'draft', report_id = NULL, opened_at = NULL,
                        retracted_ids = retracted_ids || $2 WHERE id = $1",
                )
                .bind(id)
                .bind(report_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("record retraction"))?;
                sqlx::query(
                    "UPDATE report_files SET file_id = NULL, details_sent_at = NULL
                     WHERE report = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("record retraction"))?;
                (
                    Action::ReportRetracted,
                    format!("report={id} ncmec_report={report_id} reason={reason}"),
                )
            }
            None => (Action::ReportFailed, format!("report={id} reason={reason}")),
        };
        log_access_on(
            &mut tx,
            &Access::by(who, action, remote_addr).detail(&detail),
        )
        .await?;
        tx.commit().await.map_err(StoreError::db("commit"))
    }
}
