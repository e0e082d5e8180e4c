//! A person's own account: proving again who they are before a reveal (the password, or a
//! fresh sign-in at the proxy), and changing their password. Both count as sign-in attempts
//! for throttling: a stolen session cannot guess the password behind it any faster.

use crate::config::ReviewAuth;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::error::{Answer, WebError};
use super::pages::urlencode;
use super::session::{session_cookie, set_cookie};
use super::signed::Signed;
use super::{AppState, pages, see_other, valid_flag_id};
use crate::access::Action;
use crate::accounts::{AccountError, MIN_PASSWORD_CHARS};
use crate::throttle::Attempt;

/// Where a person may be sent back after proving who they are: a flag's page (the only
/// place that asks), never a URL from elsewhere.
fn return_path(next: &str) -> &str {
    match next.strip_prefix("/flags/") {
        Some(id) if valid_flag_id(id) => next,
        _ => "/",
    }
}

/// Sends `signed` to prove who they are before going on to `next`: the password form, or
/// behind a sign-in proxy a fresh sign-in there (this session ends, so the proxy's next
/// request starts one that counts as fresh).
pub(crate) async fn ask_again(state: &AppState, signed: &Signed, next: &str) -> Answer {
    let review = &state.config.review;
    if review.auth == ReviewAuth::Local {
        return Ok(see_other(&format!("/reauth?next={}", urlencode(next))));
    }
    state
        .store
        .end_session_of(&signed.who, &signed.csrf)
        .await?;
    let url = review
        .proxy_reauth_url
        .as_deref()
        .unwrap_or("/")
        .replace("{next}", &urlencode(next));
    let mut response = see_other(&url);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            session_cookie(review.secure_cookies),
            "",
            0,
            review.secure_cookies,
        ),
    );
    Ok(response)
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct NextQuery {
    #[serde(default)]
    next: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReauthForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub(crate) async fn reauth_page(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<NextQuery>,
) -> Answer {
    let next = return_path(&query.next);
    if state.config.review.auth == ReviewAuth::Proxy {
        return ask_again(&state, &signed, next).await;
    }
    Ok(pages::reauth_page(&signed, next, None).into_response())
}

/// Whether `password` is `signed`'s, checked as a sign-in attempt would be (throttled, a
/// bounded number of checks at once); `Err` is the page to answer with instead.
async fn check_own_password(
    state: &AppState,
    signed: &Signed,
    password: &str,
) -> Result<bool, WebError> {
    let address = signed.remote_addr.parse().unwrap_or([0, 0, 0, 0].into());
    if let Attempt::Wait(wait) = state
        .store
        .attempt_sign_in(Some(&signed.who), address)
        .await?
    {
        let _ = state
            .store
            .log_access(
                &signed
                    .access(Action::LoginFailed)
                    .detail("throttled (signed in)"),
            )
            .await;
        return Err(WebError::Throttled(wait));
    }
    let credentials = state.store.credentials(&signed.who.username).await?;
    let matches = state
        .passwords
        .matches(credentials.as_ref(), password)
        .await
        .map_err(|_| WebError::Busy)?;
    if !matches {
        let _ = state
            .store
            .log_access(
                &signed
                    .access(Action::LoginFailed)
                    .detail("wrong password (signed in)"),
            )
            .await;
        return Ok(false);
    }
    let _ = state.store.signed_in_from(&signed.who, address).await;
    Ok(true)
}

pub(crate) async fn reauth(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<ReauthForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    let next = return_path(&form.next);
    if state.config.review.auth == ReviewAuth::Proxy {
        return ask_again(&state, &signed, next).await;
    }
    if !check_own_password(&state, &signed, &form.password).await? {
        return Ok((
            StatusCode::UNAUTHORIZED,
            pages::reauth_page(&signed, next, Some("Wrong password.")),
        )
            .into_response());
    }
    state
        .store
        .reauthenticated(&signed.who, &signed.csrf)
        .await?;
    let _ = state
        .store
        .log_access(&signed.access(Action::Reauthenticate))
        .await;
    Ok(see_other(next))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
}

pub(crate) async fn password_page(State(state): State<AppState>, signed: Signed) -> Answer {
    if state.config.review.auth == ReviewAuth::Proxy {
        return Err(no_local_password());
    }
    Ok(pages::password_page(&signed, None).into_response())
}

fn no_local_password() -> WebError {
    (
        StatusCode::NOT_FOUND,
        pages::message_page(
            None,
            "No password here",
            "You sign in through the sign-in proxy; change your password there.",
            Some(("/", "Back to the start page")),
        ),
    )
        .into_response()
        .into()
}

pub(crate) async fn change_password(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<PasswordForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    if state.config.review.auth == ReviewAuth::Proxy {
        return Err(no_local_password());
    }
    let refuse = |why: &str| {
        Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::password_page(&signed, Some(why)),
        )
            .into_response())
    };
    if form.new != form.repeat {
        return refuse("The new password and its repetition differ.");
    }
    if !check_own_password(&state, &signed, &form.current).await? {
        return refuse("The current password is wrong.");
    }
    match state
        .store
        .set_password(&signed.who.username, &form.new)
        .await
    {
        Ok(_) => {}
        Err(AccountError::WeakPassword) => {
            return refuse(&format!(
                "The new password must have at least {MIN_PASSWORD_CHARS} characters."
            ));
        }
        Err(AccountError::LongPassword) => {
            return refuse("The new password is too long (1,024 bytes at most).");
        }
        Err(err) => return Err(err.into()),
    }
    let _ = state
        .store
        .log_access(&signed.access(Action::ChangePassword))
        .await;
    // Every session of the account ended with the old password: sign in with the new one.
    let secure = state.config.review.secure_cookies;
    let mut response = see_other("/login?ended=password");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(session_cookie(secure), "", 0, secure),
    );
    Ok(response)
}
