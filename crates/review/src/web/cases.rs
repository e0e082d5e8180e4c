//! Cases in the console, for leads: `/cases` lists accounts with flags, `/case?sender=…`
//! shows one account's flags across conversations, and holds them all at once.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use maud::html;
use serde::Deserialize;

use super::error::{Answer, WebError};
use super::holds::HoldFields;
use super::notice::notice;
use super::pages::{Notice, layout, notice_line, stamp, urlencode};
use super::routes::{batch_refusal, terms};
use super::signed::Signed;
use super::{AppState, Tried, lead_only, see_other};
use crate::access::Action;
use crate::batch::Selection;
use crate::cases::{CaseFlag, CaseSummary};
use crate::decisions::Decision;
use crate::holds::HoldError;
use crate::package::PackageError;

/// The duration a case hold form offers (a § 2703(f) preservation request's 90 days).
const CASE_HOLD_DAYS: u32 = 90;

/// Accounts `/cases` lists.
const CASES_PAGE_ROWS: i64 = 200;

#[derive(Debug, Deserialize)]
pub(crate) struct CaseQuery {
    #[serde(default)]
    sender: String,
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CaseHoldForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sender: String,
    #[serde(flatten)]
    fields: HoldFields,
}

fn case_url(sender_id: &str) -> String {
    format!("/case?sender={}", urlencode(sender_id))
}

/// A sender id no message can have is not looked up.
fn known_sender(sender_id: &str) -> Result<(), WebError> {
    if vigil_core::valid_id(sender_id) {
        Ok(())
    } else {
        Err(WebError::Refused(StatusCode::NOT_FOUND, "no such case"))
    }
}

/// `GET /cases`.
pub(crate) async fn list(State(state): State<AppState>, signed: Signed) -> Answer {
    lead_only(&state, &signed, "/cases", Tried::default()).await?;
    let cases = state.store.cases(CASES_PAGE_ROWS).await?;
    Ok(cases_page(&signed, &cases).into_response())
}

/// `GET /case?sender=…`: logged as `view_case`.
pub(crate) async fn case(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<CaseQuery>,
) -> Answer {
    lead_only(&state, &signed, "/case", Tried::default()).await?;
    known_sender(&query.sender)?;
    let flags = state.store.case_flags(&query.sender).await?;
    if flags.is_empty() {
        return Err(WebError::Refused(StatusCode::NOT_FOUND, "no such case"));
    }
    let detail = format!("sender={}", query.sender);
    state
        .store
        .log_access(&signed.access(Action::ViewCase).detail(&detail))
        .await?;
    let notice = notice(query.notice.as_deref());
    Ok(case_page(&signed, &query.sender, &flags, notice).into_response())
}

/// `GET /case/package?sender=…`: the case's confirmed flags as a signed evidence package
/// (a tar archive), logged as `export_package`.
pub(crate) async fn package(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<CaseQuery>,
) -> Answer {
    lead_only(&state, &signed, "/case/package", Tried::default()).await?;
    known_sender(&query.sender)?;
    let Some(signer) = state.signer.as_deref() else {
        return Err(WebError::Refused(
            StatusCode::NOT_FOUND,
            "evidence packages are not configured (review.evidence_signing_key_file)",
        ));
    };
    let package = match state
        .store
        .case_package(signer, &signed.who, &query.sender, &signed.remote_addr)
        .await
    {
        Ok(package) => package,
        Err(PackageError::NothingToExport(_)) => {
            return Err(WebError::Refused(
                StatusCode::NOT_FOUND,
                "this account has no confirmed flag with content to export",
            ));
        }
        Err(err) => return Err(WebError::Internal(Box::new(err))),
    };
    let disposition = format!("attachment; filename=\"{}\"", package.file_name);
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        package.bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct CaseDecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sender: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

/// `POST /case/decide`: one decision on every undecided flag of the case, all or none.
pub(crate) async fn decide(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<CaseDecisionForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    lead_only(&state, &signed, "/case/decide", Tried::default()).await?;
    known_sender(&form.sender)?;
    let decision = match Decision::parse(&form.decision) {
        Some(d @ (Decision::Confirm | Decision::FalsePositive)) => d,
        _ => {
            return Err(WebError::Refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "choose confirm or false positive",
            ));
        }
    };
    let key = match state
        .store
        .decide_selection(
            &signed.who,
            Selection::Case(&form.sender),
            decision,
            form.note.trim(),
            &signed.remote_addr,
            terms(&state),
        )
        .await
    {
        Ok(_) => "case-decided",
        Err(err) => batch_refusal(err)?,
    };
    Ok(see_other(&format!(
        "{}&notice={key}",
        case_url(&form.sender)
    )))
}

/// `POST /case/holds`: holds every flag of the case.
pub(crate) async fn hold(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<CaseHoldForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    lead_only(&state, &signed, "/case/holds", Tried::default()).await?;
    known_sender(&form.sender)?;
    let request = form.fields.request();
    let key = match state
        .store
        .hold_case(&signed.who, &form.sender, request, &signed.remote_addr)
        .await
    {
        Ok(_) => "held",
        Err(HoldError::NoSuchFlag) => {
            return Err(WebError::Refused(StatusCode::NOT_FOUND, "no such case"));
        }
        Err(err) => super::holds::refusal(err)?,
    };
    Ok(see_other(&format!(
        "{}&notice={key}",
        case_url(&form.sender)
    )))
}

fn cases_page(signed: &Signed, cases: &[CaseSummary]) -> maud::Markup {
    layout(
        Some(signed),
        "Cases",
        html! {
            p { "Flags grouped by the account that sent them, across conversations: the most severe and most undecided first." }
            table.cases {
                thead { tr {
                    th { "sender" } th { "flags" } th { "conversations" } th { "undecided" }
                    th { "confirmed" } th { "false positive" } th { "held" } th { "most severe" } th { "last sent" }
                } }
                tbody {
                    @for c in cases {
                        tr {
                            td { a href=(case_url(&c.sender_id)) { code { (c.sender_id) } } }
                            td { (c.flags) } td { (c.conversations) } td { (c.undecided) }
                            td { (c.confirmed) } td { (c.false_positive) } td { (c.held) }
                            td { (c.severity) } td { (stamp(c.last_sent)) }
                        }
                    }
                }
            }
        },
    )
}

fn case_page(
    signed: &Signed,
    sender_id: &str,
    flags: &[CaseFlag],
    notice: Option<Notice>,
) -> maud::Markup {
    let mut conversations: std::collections::BTreeMap<&str, Vec<&CaseFlag>> =
        std::collections::BTreeMap::new();
    for f in flags {
        conversations.entry(&f.conversation_id).or_default().push(f);
    }
    layout(
        Some(signed),
        "Case",
        html! {
            (notice_line(notice))
            dl.facts {
                dt { "sender" } dd { code #sender { (sender_id) } }
                dt { "flags" } dd { (flags.len()) }
                dt { "conversations" } dd { (conversations.len()) }
            }
            h2 { "By conversation" }
            table.conversations {
                thead { tr {
                    th { "conversation" } th { "flags" } th { "undecided" } th { "confirmed" }
                    th { "first sent" } th { "last sent" }
                } }
                tbody {
                    @for (conversation, in_it) in &conversations {
                        tr {
                            td { code { (conversation) } }
                            td { (in_it.len()) }
                            td { (in_it.iter().filter(|f| f.status != "decided").count()) }
                            td { (in_it.iter().filter(|f| f.decision.as_deref() == Some("confirm")).count()) }
                            td { @if let Some(t) = in_it.iter().map(|f| f.sent_at).min() { (stamp(t)) } }
                            td { @if let Some(t) = in_it.iter().map(|f| f.sent_at).max() { (stamp(t)) } }
                        }
                    }
                }
            }
            h2 { "Flags" }
            table.case {
                thead { tr {
                    th { "flag" } th { "conversation" } th { "sent" } th { "severity" }
                    th { "categories" } th { "status" } th { "decision" } th { "held until" }
                } }
                tbody {
                    @for f in flags {
                        tr {
                            td { a href={ "/flags/" (f.flag_id) } { code { (f.flag_id) } } }
                            td { code { (f.conversation_id) } } td { (stamp(f.sent_at)) }
                            td { (f.severity) } td { (f.categories.join(", ")) } td { (f.status) }
                            td { (f.decision.as_deref().unwrap_or("—")) }
                            td { @if let Some(until) = f.held_until { (stamp(until)) } @else { "—" } }
                        }
                    }
                }
            }
            @let undecided = flags.iter().filter(|f| f.status != "decided").count();
            @if undecided > 0 {
                h2 { "Decide the case" }
                form.decide-case method="post" action="/case/decide" {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    input type="hidden" name="sender" value=(sender_id);
                    p { "One decision on all " (undecided) " undecided flags of this account, recorded for each (all or none; logged)." }
                    label { input type="radio" name="decision" value="confirm" required; " Confirm all" }
                    label { input type="radio" name="decision" value="false_positive"; " All false positives" }
                    label { "Note " textarea name="note" maxlength="2000" {} }
                    button type="submit" { "Decide the case" }
                }
            }
            h2 { "Report the case" }
            p { a #report-link href={ "/case/report?sender=" (urlencode(sender_id)) } { "CyberTipline report" } " — prepare, review and submit this account's report to NCMEC." }
            p { a #package-link href={ "/case/package?sender=" (urlencode(sender_id)) } { "Evidence package" } " — this account's confirmed flags, their content, matches, decisions and chain of custody, signed (a tar archive; logged)." }
            h2 { "Preserve the case" }
            form.place-hold method="post" action="/case/holds" {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="sender" value=(sender_id);
                (HoldFields::inputs(CASE_HOLD_DAYS, "Hold every flag of this account (logged)"))
            }
        },
    )
}
