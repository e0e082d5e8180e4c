//! CyberTipline reports: from a case (a sender account) with confirmed flags, a lead prepares
//! one report to NCMEC — the incident, the reported account with what the messages said of
//! it (IP addresses, device ids, e-mail), each file with its original name, MD5, whether
//! anyone at the platform viewed it and the list entry that matched — reads it in the console,
//! and submits it through the reporting API ([`client`]): open, upload each file, send its
//! details, finish; retract on error.
//!
//! Each step's result is stored the moment NCMEC gives it, so a submission that stopped
//! resumes where it stopped, a finished report is never submitted twice (one report per
//! case), and every step is in the access log. Finishing holds the reported flags for
//! `review.preservation_days` from the report.

pub mod client;
pub mod xml;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use md5::Digest as _;
use sqlx::Row;
use time::OffsetDateTime;
use vigil_core::{Match, MatchSubject, SenderDetails};

use crate::access::{Access, Action, log_access_on};
use crate::accounts::Reviewer;
use crate::config::CyberTiplineConfig;
use crate::sealing::Item;
use crate::store::{Store, StoreError};
pub use client::{ClientError, CyberTipline};

/// The incident types the CyberTipline schema enumerates (`incidentSummary/incidentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentType {
    /// Child Pornography (possession, manufacture, and distribution).
    ChildPornography,
    /// Child Sex Trafficking.
    ChildSexTrafficking,
    /// Child Sex Tourism.
    ChildSexTourism,
    /// Child Sexual Molestation.
    ChildSexualMolestation,
    /// Misleading Domain Name.
    MisleadingDomainName,
    /// Misleading Words or Digital Images on the Internet.
    MisleadingWordsOrImages,
    /// Online Enticement of Children for Sexual Acts.
    OnlineEnticement,
    /// Unsolicited Obscene Material Sent to a Child.
    UnsolicitedObsceneMaterial,
}

impl IncidentType {
    /// Every type, in the schema's order.
    pub const ALL: [IncidentType; 8] = [
        IncidentType::ChildPornography,
        IncidentType::ChildSexTrafficking,
        IncidentType::ChildSexTourism,
        IncidentType::ChildSexualMolestation,
        IncidentType::MisleadingDomainName,
        IncidentType::MisleadingWordsOrImages,
        IncidentType::OnlineEnticement,
        IncidentType::UnsolicitedObsceneMaterial,
    ];

    /// The schema's exact string.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentType::ChildPornography => {
                "Child Pornography (possession, manufacture, and distribution)"
            }
            IncidentType::ChildSexTrafficking => "Child Sex Trafficking",
            IncidentType::ChildSexTourism => "Child Sex Tourism",
            IncidentType::ChildSexualMolestation => "Child Sexual Molestation",
            IncidentType::MisleadingDomainName => "Misleading Domain Name",
            IncidentType::MisleadingWordsOrImages => {
                "Misleading Words or Digital Images on the Internet"
            }
            IncidentType::OnlineEnticement => "Online Enticement of Children for Sexual Acts",
            IncidentType::UnsolicitedObsceneMaterial => {
                "Unsolicited Obscene Material Sent to a Child"
            }
        }
    }

    /// The type whose string is `value`.
    pub fn parse(value: &str) -> Option<IncidentType> {
        IncidentType::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

/// Longest summary a lead may write, in characters.
pub const MAX_SUMMARY_CHARS: usize = 5000;

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    /// Prepared; not open at NCMEC (never submitted, or retracted after an error).
    Draft,
    /// Open at NCMEC: files are going up (a submission stopped half-way resumes).
    Opened,
    /// NCMEC has it.
    Finished,
}

impl ReportStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Draft => "draft",
            ReportStatus::Opened => "opened",
            ReportStatus::Finished => "finished",
        }
    }

    fn parse(value: &str) -> ReportStatus {
        match value {
            "opened" => ReportStatus::Opened,
            "finished" => ReportStatus::Finished,
            _ => ReportStatus::Draft,
        }
    }
}

/// A case's report, as stored.
#[derive(Debug, Clone)]
pub struct Report {
    /// The console's id of it.
    pub id: i64,
    /// The reported account.
    pub sender_id: String,
    /// Where it stands.
    pub status: ReportStatus,
    /// The incident type.
    pub incident_type: IncidentType,
    /// The lead's summary.
    pub summary: String,
    /// The confirmed flags it reports.
    pub flag_ids: Vec<String>,
    /// Who prepared it (pseudonym).
    pub prepared_by: String,
    /// When.
    pub prepared_at: OffsetDateTime,
    /// NCMEC's report id, once opened.
    pub report_id: Option<i64>,
    /// When NCMEC got it.
    pub finished_at: Option<OffsetDateTime>,
    /// NCMEC ids opened and retracted after errors.
    pub retracted_ids: Vec<i64>,
    /// The last failure's reason.
    pub last_error: Option<String>,
    /// Its files.
    pub files: Vec<ReportFile>,
}

/// One file of a report.
#[derive(Debug, Clone)]
pub struct ReportFile {
    /// Its place in the report.
    pub ordinal: i32,
    /// The flag it came with.
    pub flag_id: String,
    /// Its attachment.
    pub attachment_id: String,
    /// For a video's frame: its time.
    pub frame_ms: Option<i64>,
    /// Hex MD5 of its bytes.
    pub md5: String,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// Its size.
    pub size_bytes: i64,
    /// Whether anyone revealed it in the console before the report was prepared.
    pub viewed: bool,
    /// NCMEC's file id, once uploaded.
    pub file_id: Option<String>,
    /// Whether its details went to NCMEC.
    pub details_sent: bool,
}

/// What the report XML says, gathered from the report's flags.
#[derive(Debug, Clone)]
pub struct ReportDocument {
    /// The incident type.
    pub incident_type: IncidentType,
    /// The earliest reported message's time.
    pub incident_at: OffsetDateTime,
    /// How many messages, over what time.
    pub incident_description: String,
    /// The reported account.
    pub sender_id: String,
    /// Addresses the messages were sent from, each with the first time seen.
    pub ip_addresses: Vec<(IpAddr, OffsetDateTime)>,
    /// Device ids, each with the first time seen.
    pub devices: Vec<(String, OffsetDateTime)>,
    /// E-mail addresses the messages named.
    pub emails: Vec<String>,
    /// The confirmed messages' text that matched text rules, if any.
    pub chat_content: Option<String>,
    /// What the incident was, in a sentence.
    pub chat_description: String,
    /// The lead's summary.
    pub summary: String,
}

/// Why a report could not be prepared or submitted.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The case has no confirmed flag whose content is still stored.
    #[error("account {0} has no confirmed flag with content to report")]
    NothingToReport(String),
    /// The case's report was finished already (NCMEC report id).
    #[error("this case was reported already (CyberTipline report {0})")]
    AlreadyReported(i64),
    /// Another submission of it is under way.
    #[error("report {0} is being submitted by someone else; try again in a few minutes")]
    Busy(i64),
    /// No such report.
    #[error("no report {0}")]
    NoSuchReport(i64),
    /// The summary is empty or too long.
    #[error("the summary must be 1 to {MAX_SUMMARY_CHARS} characters")]
    BadSummary,
    /// Reports cannot be submitted: `[review.cybertipline]` is not configured.
    #[error("reporting is not configured ([review.cybertipline])")]
    NotConfigured,
    /// NCMEC refused or did not answer; the report was retracted if it was open.
    #[error("CyberTipline: {0}")]
    Client(#[from] ClientError),
    /// A file's content is gone (purged) since the report was prepared.
    #[error("file {0} of the report is no longer stored; prepare the report again")]
    FileGone(i32),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReportError {
    /// Whether trying again later can help.
    pub fn retryable(&self) -> bool {
        match self {
            ReportError::Busy(_) => true,
            ReportError::Client(e) => matches!(e, ClientError::Unreachable { .. }),
            ReportError::Store(e) => e.retryable(),
            _ => false,
        }
    }
}

/// How a submission ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// NCMEC has the report now: its id and the files' ids.
    Finished {
        /// NCMEC's report id.
        report_id: i64,
        /// NCMEC's file ids, in the report's order.
        file_ids: Vec<String>,
    },
    /// It had been finished before: nothing was sent.
    AlreadyFinished {
        /// NCMEC's report id.
        report_id: i64,
    },
}

/// How long a submitter's claim on a report lasts if the console dies mid-way.
const CLAIM: &str = "interval '15 minutes'";

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
        let open = |item: Item<'_>, sealed: Vec<u8>| match &key {
            Some(key) => key.open(flag_id, &item, &sealed),
            None => Ok(sealed),
        };
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
        let row = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports r JOIN reviewers p ON p.id = r.prepared_by
             WHERE r.sender_id = $1"
        ))
        .bind(sender_id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read report"))?;
        match row {
            Some(row) => Ok(Some(self.report_from(&row).await?)),
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

    /// What `report`'s XML says, gathered from its flags (their sealed sender details and,
    /// for flags with text matches, their text).
    pub async fn report_document(&self, report: &Report) -> Result<ReportDocument, StoreError> {
        let rows = sqlx::query(
            "SELECT f.flag_id, f.conversation_id, f.sent_at, f.matches, c.text_utf8,
                    c.sender_details
             FROM flags f LEFT JOIN flag_content c USING (flag_id)
             WHERE f.flag_id = ANY($1) ORDER BY f.sent_at, f.flag_id",
        )
        .bind(&report.flag_ids)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read reported flags"))?;
        let mut ips: BTreeMap<IpAddr, OffsetDateTime> = BTreeMap::new();
        let mut devices: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
        let mut emails: Vec<String> = Vec::new();
        let mut texts = Vec::new();
        let mut conversations = std::collections::BTreeSet::new();
        let mut times = Vec::new();
        for row in &rows {
            let flag_id: String = row.get("flag_id");
            let sent_at: OffsetDateTime = row.get("sent_at");
            let conversation: String = row.get("conversation_id");
            times.push(sent_at);
            conversations.insert(conversation.clone());
            let key = self.data_key(&flag_id).await?;
            let open = |item: Item<'_>, sealed: Vec<u8>| match &key {
                Some(key) => key.open(&flag_id, &item, &sealed),
                None => Ok(sealed),
            };
            if let Some(sealed) = row.get::<Option<Vec<u8>>, _>("sender_details") {
                let json = open(Item::SenderDetails, sealed)?;
                let details: SenderDetails = serde_json::from_slice(&json).unwrap_or_default();
                if let Some(ip) = details.ip_address {
                    ips.entry(ip).or_insert(sent_at);
                }
                if let Some(device) = details.device_id {
                    devices.entry(device).or_insert(sent_at);
                }
                if let Some(email) = details.email
                    && !emails.contains(&email)
                {
                    emails.push(email);
                }
            }
            let matches: Vec<Match> =
                serde_json::from_value(row.get("matches")).unwrap_or_default();
            let text_matched = matches
                .iter()
                .any(|m| matches!(m.subject, MatchSubject::Text { .. }));
            if text_matched && let Some(sealed) = row.get::<Option<Vec<u8>>, _>("text_utf8") {
                let text = String::from_utf8_lossy(&open(Item::Text, sealed)?).into_owned();
                texts.push(format!(
                    "[{}] conversation {conversation}: {text}",
                    xml::date_time(sent_at)
                ));
            }
        }
        let first = times.iter().min().copied().unwrap_or(report.prepared_at);
        let last = times.iter().max().copied().unwrap_or(report.prepared_at);
        Ok(ReportDocument {
            incident_type: report.incident_type,
            incident_at: first,
            incident_description: format!(
                "The first of {} confirmed by the platform's reviewers, sent from {} to {} \
                 (UTC) in {}.",
                counted(rows.len(), "direct message"),
                xml::date_time(first),
                xml::date_time(last),
                counted(conversations.len(), "conversation"),
            ),
            sender_id: report.sender_id.clone(),
            ip_addresses: ips.into_iter().collect(),
            devices: devices.into_iter().collect(),
            emails,
            chat_content: (!texts.is_empty()).then(|| texts.join("\n")),
            chat_description: format!(
                "Direct messages sent by the reported account; {} found by matching against \
                 hash lists and confirmed by a reviewer.",
                counted(report.files.len(), "file")
            ),
            summary: report.summary.clone(),
        })
    }

    /// A file's bytes, its original name and the file-details XML fields it carries.
    async fn file_document_parts(
        &self,
        file: &ReportFile,
    ) -> Result<Option<FileParts>, StoreError> {
        let flag_id = file.flag_id.as_str();
        let attachment = file.attachment_id.as_str();
        let key = self.data_key(flag_id).await?;
        let open = |item: Item<'_>, sealed: Vec<u8>| match &key {
            Some(key) => key.open(flag_id, &item, &sealed),
            None => Ok(sealed),
        };
        let (bytes, name) = match file.frame_ms {
            None => {
                let row: Option<(Vec<u8>, Option<Vec<u8>>)> = sqlx::query_as(
                    "SELECT data, file_name FROM flag_images
                     WHERE flag_id = $1 AND attachment_id = $2",
                )
                .bind(flag_id)
                .bind(attachment)
                .fetch_optional(self.pool())
                .await
                .map_err(StoreError::db("read image"))?;
                let Some((data, name)) = row else {
                    return Ok(None);
                };
                let name = match name {
                    Some(sealed) => {
                        String::from_utf8_lossy(&open(Item::FileName(attachment), sealed)?)
                            .into_owned()
                    }
                    None => attachment.to_string(),
                };
                (open(Item::Image(attachment), data)?, name)
            }
            Some(ms) => {
                let data: Option<Vec<u8>> = sqlx::query_scalar(
                    "SELECT thumbnail FROM flag_video_frames
                     WHERE flag_id = $1 AND attachment_id = $2 AND frame_ms = $3",
                )
                .bind(flag_id)
                .bind(attachment)
                .bind(ms)
                .fetch_optional(self.pool())
                .await
                .map_err(StoreError::db("read frame"))?;
                let Some(data) = data else {
                    return Ok(None);
                };
                (
                    open(Item::Frame(attachment, ms as u64), data)?,
                    format!("{attachment}-frame-{ms}ms.png"),
                )
            }
        };
        let row = sqlx::query(
            "SELECT f.sent_at, f.matches, c.sender_details FROM flags f
             LEFT JOIN flag_content c USING (flag_id) WHERE f.flag_id = $1",
        )
        .bind(flag_id)
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::db("read flag"))?;
        let ip_address = match row.get::<Option<Vec<u8>>, _>("sender_details") {
            Some(sealed) => {
                serde_json::from_slice::<SenderDetails>(&open(Item::SenderDetails, sealed)?)
                    .unwrap_or_default()
                    .ip_address
            }
            None => None,
        };
        let matches: Vec<Match> = serde_json::from_value(row.get("matches")).unwrap_or_default();
        Ok(Some(FileParts {
            bytes,
            name,
            sent_at: row.get("sent_at"),
            ip_address,
            matches: match_details(&matches, attachment, file.frame_ms),
        }))
    }

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
            crate::holds::hold_reported(
                &mut tx,
                who,
                flag_id,
                &reference,
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

/// `n` and `noun`, plural unless `n` is 1.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

struct FileParts {
    bytes: Vec<u8>,
    name: String,
    sent_at: OffsetDateTime,
    ip_address: Option<IpAddr>,
    matches: Vec<(String, String)>,
}

/// The hash-list matches of one attachment (or one frame of it) as name/value pairs.
fn match_details(
    matches: &[Match],
    attachment: &str,
    frame_ms: Option<i64>,
) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let relevant = matches.iter().filter(|m| match &m.subject {
        MatchSubject::Attachment {
            attachment_id,
            frame_ms: at,
            ..
        } => {
            attachment_id == attachment
                && (frame_ms.is_none() || at.is_none() || *at == frame_ms.map(|ms| ms as u64))
        }
        MatchSubject::Text { .. } => false,
    });
    for (n, m) in relevant.enumerate() {
        let MatchSubject::Attachment {
            entry_id, distance, ..
        } = &m.subject
        else {
            continue;
        };
        let n = n + 1;
        pairs.extend([
            (
                format!("match{n}.algorithm"),
                m.detector.as_str().to_string(),
            ),
            (format!("match{n}.list"), m.list.clone()),
            (format!("match{n}.listVersion"), m.list_version.clone()),
            (format!("match{n}.entry"), entry_id.clone()),
            (format!("match{n}.category"), m.category.clone()),
            (format!("match{n}.distance"), distance.to_string()),
        ]);
    }
    pairs
}
