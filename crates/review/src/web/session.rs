//! Sign-in, sessions and CSRF tokens.
//!
//! A session is a random 256-bit token in an `HttpOnly`, `SameSite=Strict` cookie (`Secure`
//! unless `review.secure_cookies = false`); the database keeps only its SHA-256. Signing in
//! always issues a new token (a token planted before sign-in is never promoted: no session
//! fixation). Every form carries the session's CSRF token, compared in constant time; the
//! sign-in form, which has no session yet, is protected by a double-submit cookie.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use vigil_core::config::ReviewAuth;

use super::{AppState, internal};
use crate::access::{Access, Action};
use crate::accounts::{Reviewer, reviewer_from};
use crate::store::{Store, StoreError};

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "vigil_session";
/// The sign-in form's double-submit cookie.
pub(crate) const LOGIN_COOKIE: &str = "vigil_login";

/// 32 random bytes, hex.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS generator failing is not survivable for a login system.
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no OS randomness: {e}"));
    hex::encode(bytes)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Constant-time equality of two tokens.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name`, if the request has it.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value.
pub(crate) fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

impl Store {
    /// Starts a session for `who`; returns the cookie token.
    async fn create_session(&self, who: &Reviewer, ttl_secs: u64) -> Result<String, StoreError> {
        let token = random_token();
        let csrf = random_token();
        sqlx::query(
            "INSERT INTO sessions (token_hash, reviewer_id, csrf_token, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        )
        .bind(token_hash(&token))
        .bind(who.id)
        .bind(&csrf)
        .bind(ttl_secs as f64)
        .execute(self.pool())
        .await
        .map_err(StoreError::db("create session"))?;
        // Expired sessions of anyone go at each sign-in.
        sqlx::query("DELETE FROM sessions WHERE expires_at < now()")
            .execute(self.pool())
            .await
            .map_err(StoreError::db("expire sessions"))?;
        Ok(token)
    }

    /// Signs `who` in: a new session (its cookie token is returned) and a `login` row.
    pub(crate) async fn sign_in(
        &self,
        who: &Reviewer,
        ttl_secs: u64,
        remote_addr: &str,
        detail: &str,
    ) -> Result<String, StoreError> {
        let token = self.create_session(who, ttl_secs).await?;
        self.log_access(&Access::by(who, Action::Login, remote_addr).detail(detail))
            .await?;
        Ok(token)
    }

    /// Ends the session of `token`.
    pub(crate) async fn end_session(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash(token))
            .execute(self.pool())
            .await
            .map_err(StoreError::db("end session"))?;
        Ok(())
    }

    async fn session(&self, token: &str) -> Result<Option<Signed>, StoreError> {
        let row = sqlx::query(
            "SELECT r.id, r.username, r.pseudonym, r.role, s.csrf_token, s.created_at
             FROM sessions s JOIN reviewers r ON r.id = s.reviewer_id
             WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT r.disabled",
        )
        .bind(token_hash(token))
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read session"))?;
        Ok(row.and_then(|row| {
            Some(Signed {
                who: reviewer_from(&row)?,
                csrf: row.get("csrf_token"),
                since: row.get("created_at"),
                remote_addr: String::new(),
            })
        }))
    }
}

/// The signed-in person of a request. Extracting it from a request without a valid
/// session redirects to the sign-in page.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub(crate) who: Reviewer,
    pub(crate) csrf: String,
    /// When the session began (reveals last for the session).
    pub(crate) since: OffsetDateTime,
    pub(crate) remote_addr: String,
}

impl Signed {
    /// Refuses a form whose CSRF token is not this session's.
    pub(crate) fn check_csrf(&self, token: &str) -> Result<(), Response> {
        if same_token(token, &self.csrf) {
            Ok(())
        } else {
            Err((
                StatusCode::FORBIDDEN,
                "invalid or missing CSRF token; reload the page",
            )
                .into_response())
        }
    }
}

fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The client's address, as the access log records it: the peer's, or behind the trusted
/// proxy the first `X-Forwarded-For` address it reports.
fn remote_addr(parts: &Parts, behind_proxy: bool) -> String {
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| v.parse::<IpAddr>().is_ok());
    match forwarded {
        Some(client) if behind_proxy => client.to_string(),
        _ => peer(parts).map(|ip| ip.to_string()).unwrap_or_default(),
    }
}

fn refuse(text: &'static str) -> Response {
    (StatusCode::FORBIDDEN, text).into_response()
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if state.config.review.auth == ReviewAuth::Proxy {
            return proxied(parts, state).await;
        }
        let to_login = || Redirect::to("/login").into_response();
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(to_login)?;
        let mut signed = state
            .store
            .session(token)
            .await
            .map_err(|e| internal(&e))?
            .ok_or_else(to_login)?;
        signed.remote_addr = remote_addr(parts, false);
        Ok(signed)
    }
}

/// Trusted-proxy sign-in: only the proxy may connect, and it names the account. A request
/// without a session of that account gets one and is sent back to the same address.
async fn proxied(parts: &Parts, state: &AppState) -> Result<Signed, Response> {
    let review = &state.config.review;
    if !peer(parts).is_some_and(|ip| review.trusted_proxies.contains(&ip)) {
        return Err(refuse("requests must come through the sign-in proxy"));
    }
    let remote = remote_addr(parts, true);
    let user = parts
        .headers
        .get(review.proxy_user_header.as_str())
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| refuse("the sign-in proxy named no user"))?;
    if let Some(token) = cookie(&parts.headers, SESSION_COOKIE)
        && let Some(mut signed) = state.store.session(token).await.map_err(|e| internal(&e))?
        && signed.who.username == user
    {
        signed.remote_addr = remote;
        return Ok(signed);
    }
    let Some(who) = state
        .store
        .find_reviewer(user)
        .await
        .map_err(|e| internal(&e))?
    else {
        let _ = state
            .store
            .log_access(&Access::failed_sign_in(user, &remote).detail("proxy"))
            .await;
        return Err(refuse(
            "no enabled console account for the user the proxy named",
        ));
    };
    let token = state
        .store
        .sign_in(&who, review.session_ttl_secs, &remote, "proxy")
        .await
        .map_err(|e| internal(&e))?;
    let back = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut response = Redirect::to(&back).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            &token,
            review.session_ttl_secs,
            review.secure_cookies,
        ),
    );
    Err(response)
}
