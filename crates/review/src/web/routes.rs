//! The handlers. Each checks the role on the server before touching content.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigil_core::config::ReviewAuth;
use vigil_hash::{DecodeLimits, decode, sniff_format};

use super::session::{
    LOGIN_COOKIE, SESSION_COOKIE, Signed, cookie, random_token, same_token, set_cookie,
};
use super::{AppState, forbidden, internal, pages};
use crate::access::{Access, Action};
use crate::decisions::{DecideError, Decision};
use crate::queue::Filter;

/// Rows the queue page lists.
const QUEUE_PAGE_ITEMS: i64 = 100;
/// Rows the audit page shows.
const AUDIT_PAGE_ROWS: i64 = 200;
/// Entries and rules the audit page lists as the noisiest.
const NOISIEST_ROWS: i64 = 20;
/// Records set aside that the audit page lists.
const REJECTED_ROWS: i64 = 50;
/// Side of the blurred preview's grid: this few cells keep nothing recognisable.
const BLUR_CELLS: u32 = 12;
/// Failed sign-ins for one account name within [`SIGN_IN_WINDOW`] after which further
/// attempts are refused until the window has passed.
const MAX_FAILED_SIGN_INS: i64 = 5;
const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The sign-in form's cookie lives this long.
const LOGIN_FORM_SECS: u64 = 600;

type Page = Result<Response, Response>;

fn html(markup: maud::Markup) -> Response {
    markup.into_response()
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct FilterQuery {
    queue: Option<String>,
    category: Option<String>,
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ClaimNextForm {
    #[serde(default)]
    csrf: String,
    queue: Option<String>,
    category: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct NoticeQuery {
    notice: Option<String>,
}

fn filter(queue: Option<String>, category: Option<String>) -> Filter {
    let keep = |v: Option<String>| v.filter(|v| !v.is_empty());
    Filter {
        queue: keep(queue),
        category: keep(category),
    }
}

/// Fixed notices a redirect may ask a page to show (never free text from the query).
fn notice(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "empty" => Some("Nothing to claim with this filter."),
        "taken" => Some("Someone else holds this item, or it was decided."),
        "decided" => Some("Decision recorded."),
        "released" => Some("Item released."),
        "not-holder" => Some("Your claim on this item expired or was taken; claim it again."),
        "not-decidable" => Some("This item is not in a state your role can decide."),
        "note-too-long" => Some("The note is too long (2,000 characters at most)."),
        _ => None,
    }
}

pub(crate) async fn home(signed: Signed) -> Response {
    if signed.who.role.sees_content() {
        see_other("/queue")
    } else {
        see_other("/audit")
    }
}

pub(crate) async fn login_page(State(state): State<AppState>) -> Response {
    if state.config.review.auth == ReviewAuth::Proxy {
        return see_other("/");
    }
    let token = random_token();
    (
        [(
            header::SET_COOKIE,
            set_cookie(
                LOGIN_COOKIE,
                &token,
                LOGIN_FORM_SECS,
                state.config.review.secure_cookies,
            ),
        )],
        html(pages::login_page(&token, None)),
    )
        .into_response()
}

pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Page {
    if state.config.review.auth == ReviewAuth::Proxy {
        return Err((StatusCode::NOT_FOUND, "sign in through the proxy").into_response());
    }
    let secure = state.config.review.secure_cookies;
    let form_cookie = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if form.csrf.is_empty() || !same_token(&form.csrf, form_cookie) {
        return Err((
            StatusCode::FORBIDDEN,
            "invalid or missing CSRF token; reload the sign-in page",
        )
            .into_response());
    }
    let remote = peer.ip().to_string();
    // Guessing is slowed per account name, whatever address the guesses come from.
    let failures = state
        .store
        .recent_failed_sign_ins(form.username.trim(), SIGN_IN_WINDOW)
        .await
        .map_err(|e| internal(&e))?;
    if failures >= MAX_FAILED_SIGN_INS {
        let _ = state
            .store
            .log_access(&Access::failed_sign_in(form.username.trim(), &remote).detail("throttled"))
            .await;
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed sign-ins for this account; try again in 15 minutes",
        )
            .into_response());
    }
    let who = state
        .store
        .check_password(form.username.trim(), &form.password)
        .await
        .map_err(|e| internal(&e))?;
    let Some(who) = who else {
        let _ = state
            .store
            .log_access(&Access::failed_sign_in(form.username.trim(), &remote))
            .await;
        let token = random_token();
        return Ok((
            StatusCode::UNAUTHORIZED,
            [(
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, &token, LOGIN_FORM_SECS, secure),
            )],
            html(pages::login_page(
                &token,
                Some("Wrong user name or password."),
            )),
        )
            .into_response());
    };
    // Whatever session cookie came with the request is ended, and a new one issued.
    if let Some(old) = cookie(&headers, SESSION_COOKIE) {
        state
            .store
            .end_session(old)
            .await
            .map_err(|e| internal(&e))?;
    }
    let ttl = state.config.review.session_ttl_secs;
    let token = state
        .store
        .sign_in(&who, ttl, &remote, "")
        .await
        .map_err(|e| internal(&e))?;
    let mut response = see_other("/");
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, ttl, secure),
    );
    headers.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0, secure));
    Ok(response)
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Page {
    signed.check_csrf(&form.csrf)?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state
            .store
            .end_session(token)
            .await
            .map_err(|e| internal(&e))?;
    }
    let _ = state
        .store
        .log_access(&Access::by(
            &signed.who,
            Action::Logout,
            &signed.remote_addr,
        ))
        .await;
    let mut response = see_other("/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, state.config.review.secure_cookies),
    );
    Ok(response)
}

pub(crate) async fn queue(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<FilterQuery>,
) -> Page {
    if !signed.who.role.sees_content() {
        return Err(forbidden(&state, &signed, "/queue").await);
    }
    let filter = filter(query.queue, query.category);
    let counts = state.store.queue_counts().await.map_err(|e| internal(&e))?;
    let items = state
        .store
        .list_items(signed.who.role, &filter, QUEUE_PAGE_ITEMS)
        .await
        .map_err(|e| internal(&e))?;
    Ok(html(pages::queue_page(
        &signed,
        &counts,
        &items,
        &filter,
        notice(query.notice.as_deref()),
    )))
}

fn lease(state: &AppState) -> Duration {
    Duration::from_secs(state.config.review.lease_secs)
}

pub(crate) async fn claim_next(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<ClaimNextForm>,
) -> Page {
    signed.check_csrf(&form.csrf)?;
    if !signed.who.role.sees_content() {
        return Err(forbidden(&state, &signed, "/queue/claim-next").await);
    }
    let filter = filter(form.queue, form.category);
    match state
        .store
        .claim_next(&signed.who, &filter, lease(&state))
        .await
        .map_err(|e| internal(&e))?
    {
        Some(flag_id) => Ok(see_other(&format!("/flags/{flag_id}"))),
        None => Ok(see_other("/queue?notice=empty")),
    }
}

/// Flag ids are 32 hex characters; anything else is not looked up.
fn valid_flag_id(flag_id: &str) -> bool {
    flag_id.len() == 32 && flag_id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such flag").into_response()
}

/// What every form acting on a flag needs: this session's token, a role that works on
/// flags (a refusal is logged as `what`), a well-formed flag id.
async fn acting_on_flag(
    state: &AppState,
    signed: &Signed,
    csrf: &str,
    flag_id: &str,
    what: &str,
) -> Result<(), Response> {
    signed.check_csrf(csrf)?;
    if !signed.who.role.sees_content() {
        return Err(forbidden(state, signed, what).await);
    }
    if !valid_flag_id(flag_id) {
        return Err(not_found());
    }
    Ok(())
}

pub(crate) async fn claim(
    State(state): State<AppState>,
    signed: Signed,
    Path(flag_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page {
    acting_on_flag(&state, &signed, &form.csrf, &flag_id, "/flags/claim").await?;
    let claimed = state
        .store
        .claim(&signed.who, &flag_id, lease(&state))
        .await
        .map_err(|e| internal(&e))?;
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
) -> Page {
    signed.check_csrf(&form.csrf)?;
    if valid_flag_id(&flag_id) {
        state
            .store
            .release(&signed.who, &flag_id)
            .await
            .map_err(|e| internal(&e))?;
    }
    Ok(see_other("/queue?notice=released"))
}

/// Content is shown to a reviewer holding the item's claim, or to a lead.
async fn may_see(state: &AppState, signed: &Signed, flag_id: &str) -> Result<bool, Response> {
    if !signed.who.role.sees_content() || !valid_flag_id(flag_id) {
        return Ok(false);
    }
    if signed.who.role == crate::accounts::Role::Lead {
        return Ok(true);
    }
    state
        .store
        .holds(&signed.who, flag_id)
        .await
        .map_err(|e| internal(&e))
}

pub(crate) async fn flag(
    State(state): State<AppState>,
    signed: Signed,
    Path(flag_id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Page {
    if !may_see(&state, &signed, &flag_id).await? {
        return Err(forbidden(&state, &signed, "/flags").await);
    }
    let detail = state
        .store
        .flag_detail(&flag_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(not_found)?;
    state
        .store
        .log_access(&Access::by(&signed.who, Action::ViewFlag, &signed.remote_addr).flag(&flag_id))
        .await
        .map_err(|e| internal(&e))?;
    let mut revealed = BTreeSet::new();
    for (attachment_id, _) in &detail.images {
        if state
            .store
            .revealed(&signed.who, &flag_id, attachment_id, signed.since)
            .await
            .map_err(|e| internal(&e))?
        {
            revealed.insert(attachment_id.clone());
        }
    }
    let holds = detail.claimed_by == Some(signed.who.id);
    Ok(html(pages::flag_page(
        &signed,
        &detail,
        holds,
        &revealed,
        notice(query.notice.as_deref()),
    )))
}

pub(crate) async fn decide(
    State(state): State<AppState>,
    signed: Signed,
    Path(flag_id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Page {
    acting_on_flag(&state, &signed, &form.csrf, &flag_id, "/flags/decision").await?;
    let Some(decision) = Decision::parse(&form.decision) else {
        return Err((StatusCode::UNPROCESSABLE_ENTITY, "choose a decision").into_response());
    };
    let back = |key: &str| see_other(&format!("/flags/{flag_id}?notice={key}"));
    match state
        .store
        .decide(
            &signed.who,
            &flag_id,
            decision,
            form.note.trim(),
            &signed.remote_addr,
        )
        .await
    {
        Ok(_) => Ok(see_other("/queue?notice=decided")),
        Err(DecideError::NoSuchFlag) => Err(not_found()),
        Err(DecideError::NotHolder) => Ok(back("not-holder")),
        Err(DecideError::NotDecidable(_)) => Ok(back("not-decidable")),
        Err(DecideError::NoteTooLong) => Ok(back("note-too-long")),
        Err(DecideError::Store(e)) => Err(internal(&e)),
    }
}

fn image_limits(state: &AppState) -> DecodeLimits {
    vigil_scan::decode_limits(&state.config.attachments)
}

/// A coarse grey mosaic of the image: enough to see that there is a picture and its
/// layout, nothing of its content.
fn blur(data: &[u8], limits: &DecodeLimits) -> Option<Vec<u8>> {
    let decoded = decode(data, limits).ok()?;
    let small = decoded.image.thumbnail(BLUR_CELLS, BLUR_CELLS).grayscale();
    let (w, h) = (small.width().max(1), small.height().max(1));
    let scale = 256 / w.max(h);
    let big = small.resize_exact(w * scale, h * scale, image::imageops::FilterType::Nearest);
    let mut png = std::io::Cursor::new(Vec::new());
    big.write_to(&mut png, image::ImageFormat::Png).ok()?;
    Some(png.into_inner())
}

/// A stored image's bytes, or 404.
async fn image_bytes(
    state: &AppState,
    flag_id: &str,
    attachment_id: &str,
) -> Result<Vec<u8>, Response> {
    state
        .store
        .image(flag_id, attachment_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(not_found)
}

/// A grey placeholder for images that cannot be decoded (they are never sent as is).
const PLACEHOLDER_SVG: &str = "<svg xmlns='http://www.w3.org/2000/svg' width='256' height='256'><rect width='256' height='256' fill='#888'/></svg>";

pub(crate) async fn blurred_image(
    State(state): State<AppState>,
    signed: Signed,
    Path((flag_id, attachment_id)): Path<(String, String)>,
) -> Page {
    if !may_see(&state, &signed, &flag_id).await? {
        return Err(forbidden(&state, &signed, "/flags/images/blurred").await);
    }
    let data = image_bytes(&state, &flag_id, &attachment_id).await?;
    let limits = image_limits(&state);
    let png = tokio::task::spawn_blocking(move || blur(&data, &limits))
        .await
        .map_err(|e| internal(&e))?;
    Ok(match png {
        Some(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        None => ([(header::CONTENT_TYPE, "image/svg+xml")], PLACEHOLDER_SVG).into_response(),
    })
}

pub(crate) async fn reveal_image(
    State(state): State<AppState>,
    signed: Signed,
    Path((flag_id, attachment_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Page {
    signed.check_csrf(&form.csrf)?;
    if !may_see(&state, &signed, &flag_id).await? {
        return Err(forbidden(&state, &signed, "/flags/images/reveal").await);
    }
    image_bytes(&state, &flag_id, &attachment_id).await?;
    state
        .store
        .log_access(
            &Access::by(&signed.who, Action::RevealImage, &signed.remote_addr)
                .flag(&flag_id)
                .image(&attachment_id),
        )
        .await
        .map_err(|e| internal(&e))?;
    Ok(see_other(&format!("/flags/{flag_id}")))
}

pub(crate) async fn original_image(
    State(state): State<AppState>,
    signed: Signed,
    Path((flag_id, attachment_id)): Path<(String, String)>,
) -> Page {
    if !may_see(&state, &signed, &flag_id).await?
        || !state
            .store
            .revealed(&signed.who, &flag_id, &attachment_id, signed.since)
            .await
            .map_err(|e| internal(&e))?
    {
        return Err(forbidden(&state, &signed, "/flags/images (not revealed)").await);
    }
    let data = image_bytes(&state, &flag_id, &attachment_id).await?;
    // The type comes from the bytes, not from what the sender declared.
    let media = match sniff_format(&data) {
        Some("JPEG") => "image/jpeg",
        Some("PNG") => "image/png",
        Some("GIF") => "image/gif",
        Some("WebP") => "image/webp",
        Some("BMP") => "image/bmp",
        Some("TIFF") => "image/tiff",
        _ => {
            return Ok(([(header::CONTENT_TYPE, "image/svg+xml")], PLACEHOLDER_SVG).into_response());
        }
    };
    Ok(([(header::CONTENT_TYPE, media)], data).into_response())
}

pub(crate) async fn audit(State(state): State<AppState>, signed: Signed) -> Page {
    if !signed.who.role.audits() {
        return Err(forbidden(&state, &signed, "/audit").await);
    }
    let precision = state.store.precision().await.map_err(|e| internal(&e))?;
    let noisiest = state
        .store
        .noisiest(NOISIEST_ROWS)
        .await
        .map_err(|e| internal(&e))?;
    let log = state
        .store
        .access_log(Some(AUDIT_PAGE_ROWS))
        .await
        .map_err(|e| internal(&e))?;
    let rejected = state
        .store
        .rejected_records(REJECTED_ROWS)
        .await
        .map_err(|e| internal(&e))?;
    Ok(html(pages::audit_page(
        &signed, &precision, &noisiest, &rejected, &log,
    )))
}

async fn export(
    state: &AppState,
    signed: &Signed,
    format: &str,
) -> Result<Vec<crate::access::AccessRow>, Response> {
    // The export holds every reviewer's activity: auditors only.
    if signed.who.role != crate::accounts::Role::Auditor {
        return Err(forbidden(state, signed, "/audit/access-log export").await);
    }
    state
        .store
        .log_access(&Access::by(&signed.who, Action::Export, &signed.remote_addr).detail(format))
        .await
        .map_err(|e| internal(&e))?;
    state.store.access_log(None).await.map_err(|e| internal(&e))
}

fn csv_field(value: &str) -> String {
    // Quoted always; a leading formula character is defused for spreadsheets.
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    format!("\"{}\"", value.replace('"', "\"\""))
}

pub(crate) async fn export_csv(State(state): State<AppState>, signed: Signed) -> Page {
    let rows = export(&state, &signed, "csv").await?;
    let mut out =
        String::from("id,at,actor,role,action,flag_id,attachment_id,detail,remote_addr\n");
    for r in rows {
        let at =
            r.at.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
        let fields = [
            r.id.to_string(),
            at,
            r.actor,
            r.role,
            r.action,
            r.flag_id.unwrap_or_default(),
            r.attachment_id.unwrap_or_default(),
            r.detail,
            r.remote_addr,
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"access-log.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

pub(crate) async fn export_json(State(state): State<AppState>, signed: Signed) -> Page {
    let rows = export(&state, &signed, "json").await?;
    let body = serde_json::to_vec(&rows).map_err(|e| internal(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"access-log.json\"",
            ),
        ],
        body,
    )
        .into_response())
}
