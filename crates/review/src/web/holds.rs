//! Preservation in the console: the holds section of a flag page (leads place and release
//! holds there) and `/holds`, every hold for leads and auditors (no content).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{Answer, WebError};
use super::notice::{NoticeQuery, notice};
use super::pages::{Notice, layout, notice_line, stamp, when};
use super::signed::Signed;
use super::{AppState, Tried, forbidden, lead_only, see_other, valid_flag_id};
use crate::accounts::Role;
use crate::holds::{Hold, HoldError, HoldRequest, HoldState, MAX_HOLD_DAYS, MAX_HOLD_TEXT_CHARS};

/// Holds `/holds` lists.
const HOLDS_PAGE_ROWS: i64 = 500;

/// The fields of every form that places holds.
#[derive(Debug, Deserialize)]
pub(crate) struct HoldFields {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    days: String,
}

impl HoldFields {
    /// The request these fields make (a duration that is not a number: 0 days, refused).
    pub(super) fn request(&self) -> HoldRequest<'_> {
        HoldRequest {
            reason: &self.reason,
            reference: &self.reference,
            days: self.days.trim().parse().unwrap_or(0),
        }
    }

    /// Their inputs, with `default_days` filled in, and a submit button saying `submit`.
    pub(super) fn inputs(default_days: u32, submit: &str) -> Markup {
        html! {
            label { "Reason" input type="text" name="reason" required maxlength=(MAX_HOLD_TEXT_CHARS); }
            label { "Reference (preservation request, case number)" input type="text" name="reference" maxlength=(MAX_HOLD_TEXT_CHARS); }
            label { "Days" input type="number" name="days" min="1" max=(MAX_HOLD_DAYS) value=(default_days) required; }
            button type="submit" { (submit) }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PlaceForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: HoldFields,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReleaseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// The notice key a refused hold request sends the flag page back with.
pub(super) fn refusal(err: HoldError) -> Result<&'static str, WebError> {
    Ok(match err {
        HoldError::NoReason => "hold-no-reason",
        HoldError::BadText(_) => "hold-bad-text",
        HoldError::BadDays => "hold-bad-days",
        HoldError::Ended => "hold-ended",
        HoldError::NoSuchFlag => return Err(WebError::no_such_flag()),
        HoldError::NoSuchHold => {
            return Err(WebError::Refused(StatusCode::NOT_FOUND, "no such hold"));
        }
        HoldError::NotLead => return Err(WebError::Refused(StatusCode::FORBIDDEN, "leads only")),
        HoldError::Store(e) => return Err(e.into()),
    })
}

/// `POST /flags/{flag_id}/holds`: a lead holds the flag.
pub(crate) async fn place(
    State(state): State<AppState>,
    signed: Signed,
    Path(flag_id): Path<String>,
    Form(form): Form<PlaceForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    lead_only(&state, &signed, "/flags/holds", Tried::flag(&flag_id)).await?;
    if !valid_flag_id(&flag_id) {
        return Err(WebError::no_such_flag());
    }
    let key = match state
        .store
        .place_hold(
            &signed.who,
            &flag_id,
            form.fields.request(),
            &signed.remote_addr,
        )
        .await
    {
        Ok(_) => "held",
        Err(err) => refusal(err)?,
    };
    Ok(see_other(&format!("/flags/{flag_id}?notice={key}")))
}

/// `POST /holds/{id}/release`: a lead ends a hold.
pub(crate) async fn release(
    State(state): State<AppState>,
    signed: Signed,
    Path(hold_id): Path<String>,
    Form(form): Form<ReleaseForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    lead_only(&state, &signed, "/holds/release", Tried::default()).await?;
    let Ok(hold_id) = hold_id.parse::<i64>() else {
        return Err(WebError::Refused(StatusCode::NOT_FOUND, "no such hold"));
    };
    match state
        .store
        .release_hold(&signed.who, hold_id, &form.reason, &signed.remote_addr)
        .await
    {
        Ok(flag_id) => Ok(see_other(&format!("/flags/{flag_id}?notice=hold-released"))),
        Err(err) => {
            let key = refusal(err)?;
            Ok(see_other(&format!("/holds?notice={key}")))
        }
    }
}

/// `GET /holds`: every hold, for leads and auditors.
pub(crate) async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<NoticeQuery>,
) -> Answer {
    if !signed.who.role.audits() {
        return Err(forbidden(&state, &signed, "/holds", Tried::default()).await);
    }
    let holds = state.store.all_holds(HOLDS_PAGE_ROWS).await?;
    Ok(holds_page(&signed, &holds, notice(query.notice.as_deref())))
}

/// How a holds table shows the flag: not at all (on the flag's own page), as a link (for
/// leads, who may open any flag) or as its id (for auditors, who may not).
#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagCell {
    Hidden,
    Link,
    Id,
}

fn hold_row(h: &Hold, flag: FlagCell) -> Markup {
    html! {
        tr.hold data-state=(h.state.as_str()) {
            td { (h.id) }
            @match flag {
                FlagCell::Hidden => {},
                FlagCell::Link => td { a href={ "/flags/" (h.flag_id) } { code { (h.flag_id) } } },
                FlagCell::Id => td { code { (h.flag_id) } },
            }
            td { (h.state.as_str()) }
            td { (h.kind.as_str()) }
            td { (h.reason) }
            td { (h.reference) }
            td { (h.placed_by) ", " (stamp(h.placed_at)) }
            td { (stamp(h.expires_at)) }
            td {
                @if let Some(at) = h.ended_at {
                    (stamp(at))
                    @if let Some(by) = &h.ended_by { " by " (by) }
                    @if let Some(why) = &h.end_reason { " — " (why) }
                }
            }
        }
    }
}

fn holds_table(holds: &[Hold], flag: FlagCell, release: Option<&Signed>) -> Markup {
    html! {
        table.holds {
            thead { tr {
                th { "hold" } @if flag != FlagCell::Hidden { th { "flag" } } th { "state" } th { "kind" }
                th { "reason" } th { "reference" } th { "placed" } th { "expires" } th { "ended" }
            } }
            tbody { @for h in holds { (hold_row(h, flag)) } }
        }
        @if let Some(signed) = release {
            @for h in holds.iter().filter(|h| h.state == HoldState::Active) {
                form.release-hold method="post" action={ "/holds/" (h.id) "/release" } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    label { "Reason for releasing hold " (h.id)
                        input type="text" name="reason" required maxlength=(MAX_HOLD_TEXT_CHARS); }
                    button type="submit" { "Release hold " (h.id) " (logged)" }
                }
            }
        }
    }
}

/// The flag page's preservation section: its holds, and for leads the forms that place and
/// release them.
pub(crate) fn section(signed: &Signed, flag_id: &str, holds: &[Hold], default_days: u32) -> Markup {
    let lead = signed.who.role == Role::Lead;
    let active = holds
        .iter()
        .filter(|h| h.state == HoldState::Active)
        .max_by_key(|h| h.expires_at);
    html! {
        h2 { "Preservation" }
        @match active {
            Some(h) => p #preserved { "Preserved until " (when(h.expires_at)) ": kept past the retention period." },
            None => p #preserved { "Not held: the content is deleted after the retention period." },
        }
        @if !holds.is_empty() { (holds_table(holds, FlagCell::Hidden, lead.then_some(signed))) }
        @if lead {
            form.place-hold method="post" action={ "/flags/" (flag_id) "/holds" } {
                input type="hidden" name="csrf" value=(signed.csrf);
                (HoldFields::inputs(default_days, "Place hold (logged)"))
            }
        }
    }
}

fn holds_page(signed: &Signed, holds: &[Hold], notice: Option<Notice>) -> Response {
    layout(
        Some(signed),
        "Holds",
        html! {
            (notice_line(notice))
            p { "Flags whose content is preserved past the retention period, and holds that ended. Content is never shown here." }
            @if holds.is_empty() { p { "No holds." } } @else {
                @let flag = if signed.who.role == Role::Lead { FlagCell::Link } else { FlagCell::Id };
                (holds_table(holds, flag, None))
            }
        },
    )
    .into_response()
}
