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
mod document;
mod prepare;
mod submit;
pub mod xml;

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::store::StoreError;
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
