//! A case's CyberTipline report in the console, for leads: `/case/report?sender=…` prepares
//! it (incident type, summary), shows it for review before submission — what NCMEC will
//! receive, field by field, and the XML itself — and submits it; after that it shows NCMEC's
//! report and file ids. Every view and step is in the access log.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{Answer, WebError};
use super::notice::notice;
use super::pages::{Notice, layout, notice_line, stamp, urlencode};
use super::routes::preservation;
use super::signed::Signed;
use super::{AppState, Tried, lead_only, see_other};
use crate::access::Action;
use crate::config::CyberTiplineConfig;
use crate::reports::{
    IncidentType, MAX_SUMMARY_CHARS, Report, ReportDocument, ReportError, ReportStatus, Submitted,
    xml,
};

#[derive(Debug, Deserialize)]
pub(crate) struct ReportQuery {
    #[serde(default)]
    sender: String,
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PrepareForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sender: String,
    #[serde(default)]
    incident_type: String,
    #[serde(default)]
    summary: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SubmitForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sender: String,
    #[serde(default)]
    report: i64,
}

fn report_url(sender_id: &str, notice: &str) -> String {
    format!(
        "/case/report?sender={}&notice={notice}",
        urlencode(sender_id)
    )
}

fn known_sender(sender_id: &str) -> Result<(), WebError> {
    if vigil_core::valid_id(sender_id) {
        Ok(())
    } else {
        Err(WebError::Refused(StatusCode::NOT_FOUND, "no such case"))
    }
}

/// `GET /case/report?sender=…`: logged as `view_report`.
pub(crate) async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<ReportQuery>,
) -> Answer {
    lead_only(&state, &signed, "/case/report", Tried::default()).await?;
    known_sender(&query.sender)?;
    let report = state.store.report_of_case(&query.sender).await?;
    let document = match &report {
        Some(report) => Some(state.store.report_document(report).await?),
        None => None,
    };
    let detail = match &report {
        Some(r) => format!("sender={} report={}", query.sender, r.id),
        None => format!("sender={}", query.sender),
    };
    state
        .store
        .log_access(&signed.access(Action::ViewReport).detail(&detail))
        .await?;
    let view = View {
        signed: &signed,
        sender_id: &query.sender,
        config: state.config.review.cybertipline.as_ref(),
        notice: notice(query.notice.as_deref()),
    };
    Ok(view
        .page(report.as_ref(), document.as_ref())
        .into_response())
}

/// `POST /case/report`: prepares (or prepares again) the case's report.
pub(crate) async fn prepare(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<PrepareForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    lead_only(&state, &signed, "/case/report", Tried::default()).await?;
    known_sender(&form.sender)?;
    let Some(incident) = IncidentType::parse(&form.incident_type) else {
        return Ok(see_other(&report_url(&form.sender, "report-bad-type")));
    };
    let key = match state
        .store
        .prepare_report(
            &signed.who,
            &form.sender,
            incident,
            &form.summary,
            &signed.remote_addr,
        )
        .await
    {
        Ok(_) => "report-prepared",
        Err(ReportError::BadSummary) => "report-bad-summary",
        Err(ReportError::NothingToReport(_)) => "report-nothing",
        Err(ReportError::AlreadyReported(_)) => "report-finished-already",
        Err(ReportError::Busy(_)) => "report-busy",
        Err(other) => return Err(WebError::Internal(Box::new(other))),
    };
    Ok(see_other(&report_url(&form.sender, key)))
}

/// `POST /case/report/submit`: submits the case's report to the CyberTipline.
pub(crate) async fn submit(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<SubmitForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    lead_only(&state, &signed, "/case/report/submit", Tried::default()).await?;
    known_sender(&form.sender)?;
    let (Some(client), Some(config)) = (
        state.cybertipline.as_deref(),
        state.config.review.cybertipline.as_ref(),
    ) else {
        return Ok(see_other(&report_url(
            &form.sender,
            "report-not-configured",
        )));
    };
    match state.store.report(form.report).await? {
        Some(report) if report.sender_id == form.sender => {}
        _ => return Err(WebError::Refused(StatusCode::NOT_FOUND, "no such report")),
    }
    let preserve_for = preservation(&state);
    let key = match state
        .store
        .submit_report(
            client,
            config,
            &signed.who,
            form.report,
            preserve_for,
            &signed.remote_addr,
        )
        .await
    {
        Ok(Submitted::Finished { .. }) => "report-submitted",
        Ok(Submitted::AlreadyFinished { .. }) => "report-finished-already",
        Err(ReportError::Busy(_)) => "report-busy",
        Err(ReportError::Store(e)) => return Err(WebError::Internal(Box::new(e))),
        Err(err) => {
            tracing::warn!(report = form.report, error = %err, "CyberTipline submission failed");
            "report-failed"
        }
    };
    Ok(see_other(&report_url(&form.sender, key)))
}

struct View<'a> {
    signed: &'a Signed,
    sender_id: &'a str,
    config: Option<&'a CyberTiplineConfig>,
    notice: Option<Notice>,
}

impl View<'_> {
    fn page(&self, report: Option<&Report>, document: Option<&ReportDocument>) -> Markup {
        layout(
            Some(self.signed),
            "CyberTipline report",
            html! {
                (notice_line(self.notice))
                p {
                    "Account " code #sender { (self.sender_id) } " — "
                    a href={ "/case?sender=" (urlencode(self.sender_id)) } { "back to the case" }
                }
                @if self.config.is_none() {
                    p.refused { "Reporting is not configured ([review.cybertipline]): reports can be prepared and read, not submitted." }
                }
                @match (report, document) {
                    (Some(report), Some(document)) => (self.report(report, document)),
                    _ => (self.prepare_form(None)),
                }
            },
        )
    }

    fn report(&self, report: &Report, document: &ReportDocument) -> Markup {
        html! {
            dl.facts #report {
                dt { "status" } dd #report-status { (report.status.as_str()) }
                @if let Some(id) = report.report_id {
                    dt { "CyberTipline report id" } dd #ncmec-report-id { (id) }
                }
                @if let Some(at) = report.finished_at { dt { "submitted" } dd { (stamp(at)) } }
                @if !report.retracted_ids.is_empty() {
                    dt { "retracted after errors" }
                    dd { @for id in &report.retracted_ids { code { (id) } " " } }
                }
                @if let Some(error) = &report.last_error {
                    dt { "last error" } dd #report-error { code { (error) } }
                }
                dt { "prepared" } dd { (report.prepared_by) ", " (stamp(report.prepared_at)) }
                dt { "incident type" } dd { (report.incident_type.as_str()) }
                dt { "incident time" } dd { (stamp(document.incident_at)) " — " (document.incident_description) }
                dt { "reported account" } dd { code { (document.sender_id) } }
                dt { "IP addresses" }
                dd { @if document.ip_addresses.is_empty() { "none in the messages" }
                     @for (ip, at) in &document.ip_addresses { code { (ip) } " (" (stamp(*at)) ") " } }
                dt { "device ids" }
                dd { @if document.devices.is_empty() { "none in the messages" }
                     @for (device, _) in &document.devices { code { (device) } " " } }
                dt { "e-mail" }
                dd { @if document.emails.is_empty() { "none in the messages" }
                     @for email in &document.emails { code { (email) } " " } }
                dt { "flags reported" } dd { (report.flag_ids.len()) }
                dt { "summary" } dd #report-summary { (report.summary) }
            }
            h2 { "Files" }
            table.report-files {
                thead { tr {
                    th { "#" } th { "flag" } th { "attachment" } th { "MD5" } th { "bytes" }
                    th { "viewed by us" } th { "publicly available" } th { "NCMEC file id" }
                } }
                tbody {
                    @for f in &report.files {
                        tr {
                            td { (f.ordinal + 1) }
                            td { a href={ "/flags/" (f.flag_id) } { code { (f.flag_id) } } }
                            td { code { (f.attachment_id) } @if let Some(ms) = f.frame_ms { " frame at " (ms) " ms" } }
                            td { code.md5 { (f.md5) } }
                            td { (f.size_bytes) }
                            td { @if f.viewed { "yes" } @else { "no" } }
                            td { "no" }
                            td { @if let Some(id) = &f.file_id { code.file-id { (id) } } @else { "—" } }
                        }
                    }
                }
            }
            @if let Some(config) = self.config {
                details {
                    summary { "The report as NCMEC will receive it (XML)" }
                    pre.report-xml { (xml::report(document, config)) }
                }
            }
            @match report.status {
                ReportStatus::Finished => {
                    p { "NCMEC has this report. Its flags are held for a year from the report." }
                }
                status => {
                    @if self.config.is_some() {
                        form.submit-report method="post" action="/case/report/submit" {
                            input type="hidden" name="csrf" value=(self.signed.csrf);
                            input type="hidden" name="sender" value=(self.sender_id);
                            input type="hidden" name="report" value=(report.id);
                            button type="submit" {
                                @if status == ReportStatus::Opened { "Resume the submission" }
                                @else { "Submit to the CyberTipline" }
                            }
                            " (opens the report, uploads each file, sends its details, finishes; retracts on an error)"
                        }
                    }
                    @if status == ReportStatus::Draft {
                        h2 { "Prepare it again" }
                        (self.prepare_form(Some(report)))
                    }
                }
            }
        }
    }

    fn prepare_form(&self, report: Option<&Report>) -> Markup {
        let chosen = report.map_or(IncidentType::ChildPornography, |r| r.incident_type);
        html! {
            form.prepare-report method="post" action="/case/report" {
                input type="hidden" name="csrf" value=(self.signed.csrf);
                input type="hidden" name="sender" value=(self.sender_id);
                p { "Every confirmed flag of this account with its content still stored goes into the report, with its images and matched video frames." }
                label { "Incident type "
                    select name="incident_type" {
                        @for t in IncidentType::ALL {
                            option value=(t.as_str()) selected[t == chosen] { (t.as_str()) }
                        }
                    }
                }
                label { "Summary for NCMEC (required, at most " (MAX_SUMMARY_CHARS) " characters) "
                    textarea name="summary" rows="5" cols="80" required maxlength=(MAX_SUMMARY_CHARS) {
                        @if let Some(r) = report { (r.summary) }
                    }
                }
                button type="submit" { "Prepare the report" }
            }
        }
    }
}
