//! What a report says: the report document gathered from its flags, and each file's
//! bytes, original name and details.

use std::collections::BTreeMap;
use std::net::IpAddr;

use sqlx::Row;
use time::OffsetDateTime;
use vigil_core::{Match, MatchSubject, SenderDetails};

use super::{Report, ReportDocument, ReportFile, xml};
use crate::sealing::{Item, open_stored};
use crate::store::{Store, StoreError};

impl Store {
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
            let open = |item: Item<'_>, sealed: Vec<u8>| {
                open_stored(key.as_ref(), &flag_id, &item, sealed)
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
    pub(super) async fn file_document_parts(
        &self,
        file: &ReportFile,
    ) -> Result<Option<FileParts>, StoreError> {
        let flag_id = file.flag_id.as_str();
        let attachment = file.attachment_id.as_str();
        let key = self.data_key(flag_id).await?;
        let open =
            |item: Item<'_>, sealed: Vec<u8>| open_stored(key.as_ref(), flag_id, &item, sealed);
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
}

/// `n` and `noun`, plural unless `n` is 1.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A file of a report, read back for upload: its bytes, name, time, address and matches.
pub(super) struct FileParts {
    pub(super) bytes: Vec<u8>,
    pub(super) name: String,
    pub(super) sent_at: OffsetDateTime,
    pub(super) ip_address: Option<IpAddr>,
    pub(super) matches: Vec<(String, String)>,
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
