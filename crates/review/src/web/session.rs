//! Sign-in, sessions and CSRF tokens.
//!
//! A session is a random 256-bit token in an `HttpOnly`, `SameSite=Strict` cookie (`Secure`
//! unless `review.secure_cookies = false`); the database keeps only its SHA-256. Signing in
//! always issues a new token (a token planted before sign-in is never promoted: no session
//! fixation). Every form carries the session's CSRF token, compared in constant time; the
//! sign-in form, which has no session yet, is protected by a double-submit cookie.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

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

/// The session cookie's name. With `Secure` cookies it carries the `__Host-` prefix, which
/// browsers accept only from a secure origin, for the whole host (no `Domain`) and path `/`,
/// so a sibling subdomain cannot set or shadow it. Browsers refuse the prefix without
/// `Secure`, so plain-HTTP trials (`review.secure_cookies = false`) use the bare name.
pub(crate) fn session_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-vigil_session"
    } else {
        "vigil_session"
    }
}

/// The sign-in form's double-submit cookie's name (as [`session_cookie`]).
pub(crate) fn login_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-vigil_login"
    } else {
        "vigil_login"
    }
}

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

    /// The session of `token`, marked as used now; a session unused for `idle` ends.
    async fn session(&self, token: &str, idle: Duration) -> Result<Session, StoreError> {
        let row = sqlx::query(
            "UPDATE sessions s SET last_seen_at = now() FROM reviewers r
             WHERE s.token_hash = $1 AND r.id = s.reviewer_id AND s.expires_at > now()
               AND s.last_seen_at > now() - make_interval(secs => $2) AND NOT r.disabled
             RETURNING r.id, r.username, r.pseudonym, r.role, s.csrf_token, s.created_at,
                       s.authenticated_at",
        )
        .bind(token_hash(token))
        .bind(idle.as_secs_f64())
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read session"))?;
        if let Some(signed) = row.and_then(|row| {
            Some(Signed {
                who: reviewer_from(&row)?,
                csrf: row.get("csrf_token"),
                since: row.get("created_at"),
                authenticated_at: row.get("authenticated_at"),
                remote_addr: String::new(),
            })
        }) {
            return Ok(Session::Active(signed));
        }
        let idled = sqlx::query(
            "DELETE FROM sessions WHERE token_hash = $1
               AND last_seen_at <= now() - make_interval(secs => $2)",
        )
        .bind(token_hash(token))
        .bind(idle.as_secs_f64())
        .execute(self.pool())
        .await
        .map_err(StoreError::db("end idle session"))?
        .rows_affected();
        Ok(if idled > 0 {
            Session::Idle
        } else {
            Session::None
        })
    }

    /// Ends `signed`'s session.
    pub(crate) async fn end_signed_session(&self, signed: &Signed) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE reviewer_id = $1 AND csrf_token = $2")
            .bind(signed.who.id)
            .bind(&signed.csrf)
            .execute(self.pool())
            .await
            .map_err(StoreError::db("end session"))?;
        Ok(())
    }

    /// Records that the owner of `signed`'s session proved who they are just now.
    pub(crate) async fn reauthenticated(&self, signed: &Signed) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET authenticated_at = now() WHERE reviewer_id = $1 AND csrf_token = $2",
        )
        .bind(signed.who.id)
        .bind(&signed.csrf)
        .execute(self.pool())
        .await
        .map_err(StoreError::db("mark re-authentication"))?;
        Ok(())
    }
}

/// A session cookie's session.
enum Session {
    Active(Signed),
    /// It ended now, unused for longer than the idle timeout.
    Idle,
    /// No such session (never was, expired, signed out, account disabled).
    None,
}

/// The signed-in person of a request. Extracting it from a request without a valid
/// session redirects to the sign-in page.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub(crate) who: Reviewer,
    pub(crate) csrf: String,
    /// When the session began (reveals last for the session).
    pub(crate) since: OffsetDateTime,
    /// When its owner last proved who they are (signing in, or re-authenticating).
    pub(crate) authenticated_at: OffsetDateTime,
    pub(crate) remote_addr: String,
}

impl Signed {
    /// An access-log row of this person doing `action` from this request's address.
    pub(crate) fn access(&self, action: Action) -> Access<'_> {
        Access::by(&self.who, action, &self.remote_addr)
    }

    /// Whether its owner proved who they are within `window`.
    pub(crate) fn recently_authenticated(&self, window: Duration) -> bool {
        OffsetDateTime::now_utc() - self.authenticated_at
            < time::Duration::try_from(window).unwrap_or(time::Duration::MAX)
    }

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

/// The client's address, as the access log and sign-in throttling see it. From a peer in
/// `trusted` (the proxies in front of the console), the right-most `X-Forwarded-For`
/// address that is not itself a trusted proxy: each proxy appends the address it received
/// the request from, so everything left of that hop is whatever the client chose to send.
/// From any other peer, the peer.
pub(crate) fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .map(|hop| hop.trim().parse().ok())
        .collect();
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) if trusted.contains(&ip) => continue,
            Some(ip) => return ip,
            // A hop that is not an address: nothing left of it can be trusted either.
            None => break,
        }
    }
    peer
}

fn refuse(text: &'static str) -> Response {
    (StatusCode::FORBIDDEN, text).into_response()
}

fn idle_timeout(state: &AppState) -> Duration {
    Duration::from_secs(state.config.review.session_idle_timeout_secs)
}

fn address_of(parts: &Parts, state: &AppState) -> String {
    peer(parts)
        .map(|ip| client_address(ip, &parts.headers, &state.config.review.trusted_proxies))
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if state.config.review.auth == ReviewAuth::Proxy {
            return proxied(parts, state).await;
        }
        let to_login = || Redirect::to("/login").into_response();
        let secure = state.config.review.secure_cookies;
        let token = cookie(&parts.headers, session_cookie(secure)).ok_or_else(to_login)?;
        match state
            .store
            .session(token, idle_timeout(state))
            .await
            .map_err(|e| internal(&e))?
        {
            Session::Active(mut signed) => {
                signed.remote_addr = address_of(parts, state);
                Ok(signed)
            }
            Session::Idle => Err(Redirect::to("/login?ended=idle").into_response()),
            Session::None => Err(to_login()),
        }
    }
}

/// Trusted-proxy sign-in: the proxy (the only peer the router lets through in this mode)
/// names the account. A request without a session of that account gets one and is sent back
/// to the same address.
async fn proxied(parts: &Parts, state: &AppState) -> Result<Signed, Response> {
    let review = &state.config.review;
    let remote = address_of(parts, state);
    let mut named = parts
        .headers
        .get_all(review.proxy_user_header.as_str())
        .iter();
    let (first, second) = (named.next(), named.next());
    if second.is_some() {
        // Which one did the proxy authenticate? A proxy that appends rather than replaces
        // would let the client's own header through: refuse rather than guess.
        return Err(refuse("the request names more than one user"));
    }
    let user = first
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| refuse("the sign-in proxy named no user"))?;
    let secure = review.secure_cookies;
    if let Some(token) = cookie(&parts.headers, session_cookie(secure))
        && let Session::Active(mut signed) = state
            .store
            .session(token, idle_timeout(state))
            .await
            .map_err(|e| internal(&e))?
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
            session_cookie(secure),
            &token,
            review.session_ttl_secs,
            secure,
        ),
    );
    Err(response)
}
