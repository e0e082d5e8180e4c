//! The handlers. Each checks the role on the server before touching content.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::{Answer, WebError};
use super::notice::{NoticeQuery, notice};
use super::seeing::{known_image_id, may_see, may_see_attachment, refused};
use super::signed::Signed;
use super::{AppState, CsrfForm, Tried, forbidden, pages, see_other, valid_flag_id};
use crate::access::{Action, FrameDetail};
use crate::batch::{BatchError, Selection, Terms};
use crate::decisions::{DecideError, Decision, MatchOutcome};
use crate::preview::{PLACEHOLDER_SVG, media_type};
use crate::queue::Filter;

/// Rows the queue page lists.
const QUEUE_PAGE_ITEMS: i64 = 100;
/// Rows the audit page shows.
const AUDIT_PAGE_ROWS: i64 = 200;
/// Entries and rules the audit page lists as the noisiest.
const NOISIEST_ROWS: i64 = 20;
/// Records set aside that the audit page lists.
const REJECTED_ROWS: i64 = 50;

fn html(markup: maud::Markup) -> Response {
    markup.into_response()
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct FilterQuery {
    queue: Option<String>,
    category: Option<String>,
    notice: Option<String>,
    /// `sender`: the items grouped by sender, as cases.
    by: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ClaimNextForm {
    #[serde(default)]
    csrf: String,
    queue: Option<String>,
    category: Option<String>,
}

/// A queue filter. A value no review topic or category can have (control characters, longer
/// than a list field) is refused before it reaches the database, which would refuse a NUL.
fn filter(queue: Option<String>, category: Option<String>) -> Result<Filter, WebError> {
    let keep = |v: Option<String>| v.filter(|v| !v.is_empty());
    let (queue, category) = (keep(queue), keep(category));
    let plausible = |v: &Option<String>| {
        v.as_deref().is_none_or(|v| {
            v.len() <= vigil_core::MAX_LIST_FIELD_BYTES && !v.chars().any(char::is_control)
        })
    };
    if !plausible(&queue) || !plausible(&category) {
        return Err((
            StatusCode::BAD_REQUEST,
            pages::message_page(
                None,
                "Not a filter",
                "No review topic or category looks like this.",
                Some(("/queue", "Back to the queue")),
            ),
        )
            .into_response()
            .into());
    }
    Ok(Filter { queue, category })
}

pub(crate) async fn home(signed: Signed) -> Response {
    if signed.who.role.sees_content() {
        see_other("/queue")
    } else {
        see_other("/audit")
    }
}

pub(crate) async fn queue(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<FilterQuery>,
) -> Answer {
    if !signed.who.role.sees_content() {
        return Err(forbidden(&state, &signed, "/queue", Tried::default()).await);
    }
    let filter = filter(query.queue, query.category)?;
    let counts = state.store.queue_counts().await?;
    let mut items = state
        .store
        .list_items(signed.who.role, &filter, QUEUE_PAGE_ITEMS)
        .await?;
    let by_sender = query.by.as_deref() == Some("sender");
    if by_sender {
        // Stable: within a sender the items keep the queue's order (most severe first).
        items.sort_by(|a, b| a.sender.cmp(&b.sender));
    }
    Ok(html(pages::queue_page(
        &signed,
        &counts,
        &items,
        &pages::QueueView {
            filter: &filter,
            by_sender,
        },
        notice(query.notice.as_deref()),
        &super::wellness::view(&state, &signed).await?,
    )))
}

pub(crate) fn lease(state: &AppState) -> Duration {
    Duration::from_secs(state.config.review.lease_secs)
}

/// A batch decision's claims and holds.
pub(crate) fn terms(state: &AppState) -> Terms {
    Terms {
        lease: lease(state),
        preserve_for: preservation(state),
    }
}

/// How long a confirmation holds its flag.
pub(crate) fn preservation(state: &AppState) -> Duration {
    Duration::from_secs(u64::from(state.config.review.preservation_days) * 86_400)
}

/// The key of the notice a refused batch decision shows.
pub(crate) fn batch_refusal(err: BatchError) -> Result<&'static str, WebError> {
    Ok(match err {
        BatchError::BadSelection => "batch-bad-selection",
        BatchError::DifferentMatches => "batch-different-matches",
        BatchError::Unavailable(_) => "batch-unavailable",
        BatchError::LeadsOnly => "not-decidable",
        BatchError::Decide(DecideError::NoteTooLong) => "note-too-long",
        BatchError::Decide(DecideError::NoteInvalid) => "note-invalid",
        BatchError::Decide(DecideError::NotDecidable(_) | DecideError::NotHolder) => {
            "batch-unavailable"
        }
        BatchError::Decide(DecideError::NoSuchFlag) => return Err(WebError::no_such_flag()),
        BatchError::Decide(DecideError::IncompleteOutcomes) => "outcomes-incomplete",
        BatchError::Decide(DecideError::Store(e)) => return Err(e.into()),
    })
}

/// `POST /queue/decide`: one decision on the items selected in the queue (fields `flag`,
/// repeated), which must share the same matches.
pub(crate) async fn decide_selected(
    State(state): State<AppState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Answer {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    signed.check_csrf(field("csrf"))?;
    if !signed.who.role.sees_content() {
        return Err(forbidden(&state, &signed, "/queue/decide", Tried::default()).await);
    }
    let flag_ids: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k == "flag")
        .map(|(_, v)| v.clone())
        .collect();
    if !flag_ids.iter().all(|id| valid_flag_id(id)) {
        return Err(WebError::no_such_flag());
    }
    let Some(decision) = Decision::parse(field("decision")) else {
        return Err(WebError::Refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "choose a decision",
        ));
    };
    let key = match state
        .store
        .decide_selection(
            &signed.who,
            Selection::Items(&flag_ids),
            decision,
            field("note").trim(),
            &signed.remote_addr,
            terms(&state),
        )
        .await
    {
        Ok(_) => "decided-many",
        Err(err) => batch_refusal(err)?,
    };
    Ok(see_other(&format!("/queue?notice={key}")))
}

pub(crate) async fn claim_next(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<ClaimNextForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    if !signed.who.role.sees_content() {
        return Err(forbidden(&state, &signed, "/queue/claim-next", Tried::default()).await);
    }
    let filter = filter(form.queue, form.category)?;
    // At the daily reveal cap, only items with nothing to reveal.
    let text_only = super::wellness::at_cap(&state, &signed).await?;
    match state
        .store
        .claim_next(&signed.who, &filter, lease(&state), text_only)
        .await?
    {
        Some(flag_id) => Ok(see_other(&format!("/flags/{flag_id}"))),
        None if text_only => Ok(see_other("/queue?notice=empty-text-only")),
        None => Ok(see_other("/queue?notice=empty")),
    }
}

/// What every form acting on a flag needs: this session's token, a role that works on
/// flags (a refusal is logged as `what`), a well-formed flag id.
async fn acting_on_flag(
    state: &AppState,
    signed: &Signed,
    csrf: &str,
    flag_id: &str,
    what: &str,
) -> Result<(), WebError> {
    signed.check_csrf(csrf)?;
    if !signed.who.role.sees_content() {
        return Err(forbidden(state, signed, what, Tried::flag(flag_id)).await);
    }
    if !valid_flag_id(flag_id) {
        return Err(WebError::no_such_flag());
    }
    Ok(())
}

pub(crate) async fn claim(
    State(state): State<AppState>,
    signed: Signed,
    Path(flag_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Answer {
    acting_on_flag(&state, &signed, &form.csrf, &flag_id, "/flags/claim").await?;
    let claimed = state
        .store
        .claim(&signed.who, &flag_id, lease(&state))
        .await?;
    Ok(if claimed {
        see_other(&format!("/flags/{flag_id}"))
    } else {
        see_other("/queue?notice=taken")
    })
}

pub(crate) async fn release(
    State(state): State<AppState>,
    signed: Signed,
    Path(flag_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    if valid_flag_id(&flag_id) {
        state.store.release(&signed.who, &flag_id).await?;
    }
    Ok(see_other("/queue?notice=released"))
}

pub(crate) async fn flag(
    State(state): State<AppState>,
    signed: Signed,
    Path(flag_id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Answer {
    if !signed.who.role.sees_content() {
        return Err(forbidden(&state, &signed, "/flags", Tried::flag(&flag_id)).await);
    }
    if !valid_flag_id(&flag_id) {
        return Err(WebError::no_such_flag());
    }
    if !may_see(&state, &signed, &flag_id).await? {
        return flag_state(&state, &signed, &flag_id).await;
    }
    let detail = state
        .store
        .flag_detail(&flag_id)
        .await?
        .ok_or_else(WebError::no_such_flag)?;
    state
        .store
        .log_access(&signed.access(Action::ViewFlag).flag(&flag_id))
        .await?;
    let mut revealed = BTreeSet::new();
    for attachment_id in detail.images.iter().map(|i| &i.attachment_id) {
        if state
            .store
            .revealed(&signed.who, &flag_id, attachment_id, signed.since)
            .await?
        {
            revealed.insert(attachment_id.clone());
        }
    }
    let mut revealed_frames = BTreeSet::new();
    for video in &detail.videos {
        for frame in &video.frames {
            if state
                .store
                .revealed_frame(
                    &signed.who,
                    &flag_id,
                    &video.attachment_id,
                    frame.frame_ms,
                    signed.since,
                )
                .await?
            {
                revealed_frames.insert((video.attachment_id.clone(), frame.frame_ms));
            }
        }
    }
    let holds = detail.claimed_by == Some(signed.who.id);
    let preservation = super::holds::section(
        &signed,
        &flag_id,
        &state.store.holds_of(&flag_id).await?,
        state.config.review.preservation_days,
    );
    Ok(html(pages::flag_page(
        &signed,
        &detail,
        holds,
        &pages::Revealed {
            images: &revealed,
            frames: &revealed_frames,
        },
        pages::FlagSections {
            preservation,
            entries: (signed.who.role == crate::accounts::Role::Lead
                && state.config.containment.enabled)
                .then(|| {
                    super::entries::section(
                        &signed,
                        &detail.flag_id,
                        &detail.matches,
                        &detail.entries,
                    )
                }),
        },
        notice(query.notice.as_deref()),
        &super::wellness::view(&state, &signed).await?,
    )))
}

/// What a reviewer who does not hold `flag_id` sees of it: where it stands (decided, and by
/// whom; escalated; waiting to be claimed), never its content. Held by someone else, it is a
/// logged refusal.
async fn flag_state(state: &AppState, signed: &Signed, flag_id: &str) -> Answer {
    let at = state
        .store
        .flag_state(flag_id)
        .await?
        .ok_or_else(WebError::no_such_flag)?;
    if at.status == "open" && at.held.is_some() {
        let _ = state
            .store
            .log_access(
                &signed
                    .access(Action::Denied)
                    .flag(flag_id)
                    .detail("/flags (held by another reviewer)"),
            )
            .await;
        return Err((
            StatusCode::FORBIDDEN,
            html(pages::flag_state_page(signed, flag_id, &at)),
        )
            .into_response()
            .into());
    }
    Ok(html(pages::flag_state_page(signed, flag_id, &at)))
}

pub(crate) async fn decide(
    State(state): State<AppState>,
    signed: Signed,
    Path(flag_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Answer {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    acting_on_flag(&state, &signed, field("csrf"), &flag_id, "/flags/decision").await?;
    let back = |key: &str| see_other(&format!("/flags/{flag_id}?notice={key}"));
    let (note, terms) = (field("note").trim(), preservation(&state));
    let decided = match field("decision") {
        // Each match's outcome in the field `match_<ordinal>`.
        "per_match" => match match_outcomes(&fields) {
            Some(outcomes) => {
                state
                    .store
                    .decide_per_match(
                        &signed.who,
                        &flag_id,
                        &outcomes,
                        note,
                        &signed.remote_addr,
                        terms,
                    )
                    .await
            }
            None => Err(DecideError::IncompleteOutcomes),
        },
        other => {
            let Some(decision) = Decision::parse(other) else {
                return Err(WebError::Refused(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "choose a decision",
                ));
            };
            state
                .store
                .decide(
                    &signed.who,
                    &flag_id,
                    decision,
                    note,
                    &signed.remote_addr,
                    terms,
                )
                .await
        }
    };
    match decided {
        Ok(_) if field("then") == "next" => {
            // At the daily reveal cap, the next item is one with nothing to reveal.
            let text_only = super::wellness::at_cap(&state, &signed).await?;
            let next = state
                .store
                .claim_next(&signed.who, &Filter::default(), lease(&state), text_only)
                .await?;
            Ok(match next {
                Some(next) => see_other(&format!("/flags/{next}?notice=decided")),
                None => see_other("/queue?notice=decided"),
            })
        }
        Ok(_) => Ok(see_other("/queue?notice=decided")),
        Err(DecideError::NoSuchFlag) => Err(WebError::no_such_flag()),
        Err(DecideError::NotHolder) => Ok(back("not-holder")),
        Err(DecideError::NotDecidable(_)) => Ok(back("not-decidable")),
        Err(DecideError::NoteTooLong) => Ok(back("note-too-long")),
        Err(DecideError::NoteInvalid) => Ok(back("note-invalid")),
        Err(DecideError::IncompleteOutcomes) => Ok(back("outcomes-incomplete")),
        Err(DecideError::Store(e)) => Err(e.into()),
    }
}

/// The outcomes of `match_0`, `match_1`, … in order; `None` when one is missing, repeated,
/// out of sequence or not an outcome.
fn match_outcomes(fields: &[(String, String)]) -> Option<Vec<MatchOutcome>> {
    let mut by_ordinal = std::collections::BTreeMap::new();
    for (key, value) in fields {
        let Some(ordinal) = key.strip_prefix("match_") else {
            continue;
        };
        let ordinal: usize = ordinal.parse().ok()?;
        if by_ordinal
            .insert(ordinal, MatchOutcome::parse(value)?)
            .is_some()
        {
            return None;
        }
    }
    let contiguous = by_ordinal.keys().copied().eq(0..by_ordinal.len());
    (contiguous && !by_ordinal.is_empty()).then(|| by_ordinal.into_values().collect())
}

/// A stored image's bytes, or 404.
async fn image_bytes(
    state: &AppState,
    flag_id: &str,
    attachment_id: &str,
) -> Result<Vec<u8>, WebError> {
    state
        .store
        .image(flag_id, attachment_id)
        .await?
        .ok_or_else(WebError::no_such_flag)
}

fn placeholder() -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], PLACEHOLDER_SVG).into_response()
}

/// A PNG rendered at ingest, or the placeholder where there is none.
fn png_or_placeholder(png: Option<Vec<u8>>) -> Response {
    match png {
        Some(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        None => placeholder(),
    }
}

/// A reveal needs a recent sign-in: otherwise the answer that asks for one.
async fn sign_in_again(state: &AppState, signed: &Signed, flag_id: &str) -> Option<Answer> {
    let fresh = Duration::from_secs(state.config.review.reauth_after_secs);
    if signed.recently_authenticated(fresh) {
        return None;
    }
    Some(super::account::ask_again(state, signed, &format!("/flags/{flag_id}")).await)
}

pub(crate) async fn blurred_image(
    State(state): State<AppState>,
    signed: Signed,
    Path((flag_id, attachment_id)): Path<(String, String)>,
) -> Answer {
    may_see_attachment(
        &state,
        &signed,
        &flag_id,
        &attachment_id,
        "/flags/images/blurred",
    )
    .await?;
    // Rendered at ingest: nothing is decoded here.
    let preview = state
        .store
        .preview(&flag_id, &attachment_id)
        .await?
        .ok_or_else(WebError::no_such_flag)?;
    Ok(png_or_placeholder(preview))
}

pub(crate) async fn reveal_image(
    State(state): State<AppState>,
    signed: Signed,
    Path((flag_id, attachment_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    let what = "/flags/images/reveal";
    may_see_attachment(&state, &signed, &flag_id, &attachment_id, what).await?;
    if super::wellness::at_cap(&state, &signed).await? {
        return super::wellness::refused_at_cap(&state, &signed, &flag_id, what).await;
    }
    if let Some(again) = sign_in_again(&state, &signed, &flag_id).await {
        return again;
    }
    image_bytes(&state, &flag_id, &attachment_id).await?;
    let access = signed
        .access(Action::RevealImage)
        .flag(&flag_id)
        .image(&attachment_id);
    if !state
        .store
        .log_reveal(&access, state.config.review.daily_reveal_cap)
        .await?
    {
        return super::wellness::refused_at_cap(&state, &signed, &flag_id, what).await;
    }
    Ok(see_other(&format!("/flags/{flag_id}")))
}

pub(crate) async fn original_image(
    State(state): State<AppState>,
    signed: Signed,
    Path((flag_id, attachment_id)): Path<(String, String)>,
) -> Answer {
    known_image_id(&attachment_id)?;
    if !may_see(&state, &signed, &flag_id).await?
        || !state
            .store
            .revealed(&signed.who, &flag_id, &attachment_id, signed.since)
            .await?
    {
        return Err(refused(
            &state,
            &signed,
            &flag_id,
            &attachment_id,
            "/flags/images (not revealed)",
        )
        .await);
    }
    let data = image_bytes(&state, &flag_id, &attachment_id).await?;
    Ok(match media_type(&data) {
        Some(media) => ([(header::CONTENT_TYPE, media)], data).into_response(),
        None => placeholder(),
    })
}

/// A frame of a video's contact sheet: flag, attachment, frame time (ms).
type FramePath = Path<(String, String, u64)>;

pub(crate) async fn blurred_frame(
    State(state): State<AppState>,
    signed: Signed,
    Path((flag_id, attachment_id, frame_ms)): FramePath,
) -> Answer {
    may_see_attachment(
        &state,
        &signed,
        &flag_id,
        &attachment_id,
        "/flags/videos/frames/blurred",
    )
    .await?;
    // Rendered and blurred at ingest: no video is decoded here.
    let preview = state
        .store
        .video_frame(&flag_id, &attachment_id, frame_ms, false)
        .await?
        .ok_or_else(WebError::no_such_flag)?;
    Ok(png_or_placeholder(preview))
}

pub(crate) async fn reveal_frame(
    State(state): State<AppState>,
    signed: Signed,
    Path((flag_id, attachment_id, frame_ms)): FramePath,
    Form(form): Form<CsrfForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    let what = "/flags/videos/frames/reveal";
    may_see_attachment(&state, &signed, &flag_id, &attachment_id, what).await?;
    if super::wellness::at_cap(&state, &signed).await? {
        return super::wellness::refused_at_cap(&state, &signed, &flag_id, what).await;
    }
    if let Some(again) = sign_in_again(&state, &signed, &flag_id).await {
        return again;
    }
    state
        .store
        .video_frame(&flag_id, &attachment_id, frame_ms, true)
        .await?
        .ok_or_else(WebError::no_such_flag)?;
    let frame = FrameDetail::new(frame_ms);
    let access = signed
        .access(Action::RevealFrame)
        .flag(&flag_id)
        .frame(&attachment_id, &frame);
    if !state
        .store
        .log_reveal(&access, state.config.review.daily_reveal_cap)
        .await?
    {
        return super::wellness::refused_at_cap(&state, &signed, &flag_id, what).await;
    }
    Ok(see_other(&format!("/flags/{flag_id}")))
}

pub(crate) async fn original_frame(
    State(state): State<AppState>,
    signed: Signed,
    Path((flag_id, attachment_id, frame_ms)): FramePath,
) -> Answer {
    known_image_id(&attachment_id)?;
    if !may_see(&state, &signed, &flag_id).await?
        || !state
            .store
            .revealed_frame(
                &signed.who,
                &flag_id,
                &attachment_id,
                frame_ms,
                signed.since,
            )
            .await?
    {
        return Err(refused(
            &state,
            &signed,
            &flag_id,
            &attachment_id,
            "/flags/videos/frames (not revealed)",
        )
        .await);
    }
    // A PNG the console encoded at ingest from the worker's pixels.
    let png = state
        .store
        .video_frame(&flag_id, &attachment_id, frame_ms, true)
        .await?
        .flatten()
        .ok_or_else(WebError::no_such_flag)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

pub(crate) async fn audit(State(state): State<AppState>, signed: Signed) -> Answer {
    if !signed.who.role.audits() {
        return Err(forbidden(&state, &signed, "/audit", Tried::default()).await);
    }
    let precision = state.store.precision().await?;
    let noisiest = state.store.noisiest(NOISIEST_ROWS).await?;
    let log = state.store.access_log(Some(AUDIT_PAGE_ROWS)).await?;
    let rejected = state.store.rejected_records(REJECTED_ROWS).await?;
    Ok(html(pages::audit_page(
        &signed, &precision, &noisiest, &rejected, &log,
    )))
}
