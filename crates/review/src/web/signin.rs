//! Signing in with a local account and out: the sign-in form (a double-submit CSRF cookie),
//! throttled guessing ([`crate::throttle`]), a bounded number of password checks at once,
//! and a new session token at every sign-in.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::ReviewAuth;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::{Answer, WebError};
use super::session::{
    client_address, cookie, login_cookie, same_token, session_cookie, set_cookie,
};
use super::signed::Signed;
use super::{AppState, CsrfForm, pages};
use crate::access::{Access, Action};
use crate::accounts::PasswordChecker;
use crate::sessions::random_token;
use crate::throttle::Attempt;

/// The sign-in form's cookie lives this long.
const LOGIN_FORM_SECS: u64 = 600;
/// Password checks that may wait for a worker; more are refused as busy. At tens of
/// milliseconds a check, the last waits about a second.
const QUEUED_CHECKS: usize = 32;

/// The console's password checker: one worker per core.
pub(crate) fn password_checker() -> Arc<PasswordChecker> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(PasswordChecker::start(cores, QUEUED_CHECKS))
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

/// The sign-in page with a fresh form token (and its cookie): `status`, an optional error,
/// and the user name to keep in the field.
fn form_page(
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
    username: &str,
) -> Response {
    let secure = state.config.review.secure_cookies;
    let token = random_token();
    (
        status,
        [(
            header::SET_COOKIE,
            set_cookie(login_cookie(secure), &token, LOGIN_FORM_SECS, secure),
        )],
        pages::login_page(&token, error, username),
    )
        .into_response()
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct EndedQuery {
    ended: Option<String>,
}

pub(crate) async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<EndedQuery>,
) -> Response {
    if state.config.review.auth == ReviewAuth::Proxy {
        return super::see_other("/");
    }
    // Why the previous session ended, when a redirect says so (fixed texts only).
    let why = match query.ended.as_deref() {
        Some("idle") => Some("Your session ended after a while without activity. Sign in again."),
        Some("password") => Some("Your password was changed. Sign in with the new one."),
        _ => None,
    };
    form_page(&state, StatusCode::OK, why, "")
}

pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Answer {
    let review = &state.config.review;
    if review.auth == ReviewAuth::Proxy {
        return Err(WebError::Refused(
            StatusCode::NOT_FOUND,
            "sign in through the proxy",
        ));
    }
    let secure = review.secure_cookies;
    let form_cookie = cookie(&headers, login_cookie(secure)).unwrap_or("");
    if form.csrf.is_empty() || !same_token(&form.csrf, form_cookie) {
        return Err(WebError::Refused(
            StatusCode::FORBIDDEN,
            "invalid or missing CSRF token; reload the sign-in page",
        ));
    }
    let address = client_address(peer.ip(), &headers, &review.trusted_proxies);
    let remote = address.to_string();
    let username = form.username.trim();
    let account = state.store.credentials(username).await?;
    // A refused attempt names the account when there is one; an unknown name is not kept
    // (it may be a password typed into the wrong field).
    let refused = |detail: &'static str| match &account {
        Some(a) => Access::by(&a.who, Action::LoginFailed, &remote).detail(detail),
        None => Access::failed_sign_in("", &remote).detail(detail),
    };
    match state
        .store
        .attempt_sign_in(account.as_ref().map(|a| &a.who), address)
        .await?
    {
        Attempt::Allowed => {}
        Attempt::Wait(wait) => {
            let _ = state.store.log_access(&refused("throttled")).await;
            return Err(WebError::Throttled(wait));
        }
    }
    let checked = account.as_ref().filter(|_| !form.password.is_empty());
    let Ok(matches) = state.passwords.matches(checked, &form.password).await else {
        return Err(WebError::Busy);
    };
    let Some(account) = checked else {
        let _ = state
            .store
            .log_access(&refused("unknown user name or no password"))
            .await;
        return Ok(wrong(&state, username));
    };
    if !matches {
        let _ = state.store.log_access(&refused("wrong password")).await;
        return Ok(wrong(&state, username));
    }
    let who = &account.who;
    state.store.signed_in_from(who, address).await?;
    // Whatever session cookie came with the request is ended, and a new one issued.
    if let Some(old) = cookie(&headers, session_cookie(secure)) {
        state.store.end_session(old).await?;
    }
    let ttl = review.session_ttl_secs;
    let token = state.store.sign_in(who, ttl, &remote, "").await?;
    let mut response = super::see_other("/");
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(session_cookie(secure), &token, ttl, secure),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(login_cookie(secure), "", 0, secure),
    );
    Ok(response)
}

fn wrong(state: &AppState, username: &str) -> Response {
    form_page(
        state,
        StatusCode::UNAUTHORIZED,
        Some("Wrong user name or password."),
        username,
    )
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    let secure = state.config.review.secure_cookies;
    if let Some(token) = cookie(&headers, session_cookie(secure)) {
        state.store.end_session(token).await?;
    }
    let _ = state.store.log_access(&signed.access(Action::Logout)).await;
    let mut response = super::see_other("/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(session_cookie(secure), "", 0, secure),
    );
    Ok(response)
}
