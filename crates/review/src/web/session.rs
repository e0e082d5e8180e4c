//! Sessions and CSRF tokens on the wire: cookies, the client's address, and the extractor
//! that turns a request into its signed-in person.
//!
//! A session ([`crate::sessions`]) is a random 256-bit token in an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` unless `review.secure_cookies = false`). Signing in
//! always issues a new token (a token planted before sign-in is never promoted: no session
//! fixation). Every form carries the session's CSRF token, compared in constant time; the
//! sign-in form, which has no session yet, is protected by a double-submit cookie.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::ReviewAuth;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::WebError;
use super::signed::Signed;
use crate::access::Access;
use crate::sessions::Lookup;

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

impl Signed {
    /// Refuses a form whose CSRF token is not this session's.
    pub(crate) fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        if same_token(token, &self.csrf) {
            Ok(())
        } else {
            Err(WebError::Refused(
                StatusCode::FORBIDDEN,
                "invalid or missing CSRF token; reload the page",
            ))
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

fn refuse(text: &'static str) -> WebError {
    WebError::Refused(StatusCode::FORBIDDEN, text)
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
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        if state.config.review.auth == ReviewAuth::Proxy {
            return proxied(parts, state).await;
        }
        let to_login = || WebError::from(Redirect::to("/login").into_response());
        let secure = state.config.review.secure_cookies;
        let token = cookie(&parts.headers, session_cookie(secure)).ok_or_else(to_login)?;
        match state.store.session(token, idle_timeout(state)).await? {
            Lookup::Active(session) => Ok(Signed::new(session, address_of(parts, state))),
            Lookup::Idle => Err(Redirect::to("/login?ended=idle").into_response().into()),
            Lookup::None => Err(to_login()),
        }
    }
}

/// Trusted-proxy sign-in: the proxy (the only peer the router lets through in this mode)
/// names the account. A request without a session of that account gets one and is sent back
/// to the same address.
async fn proxied(parts: &Parts, state: &AppState) -> Result<Signed, WebError> {
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
        && let Lookup::Active(session) = state.store.session(token, idle_timeout(state)).await?
        && session.who.username == user
    {
        return Ok(Signed::new(session, remote));
    }
    let Some(who) = state.store.find_reviewer(user).await? else {
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
        .await?;
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
    Err(response.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::session;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_last_forwarded_hop_before_the_trusted_proxies() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        let table: [(&str, &[&str], &str); 7] = [
            // Anyone but a proxy is the client, whatever it claims.
            ("192.0.2.9", &["198.51.100.1"], "192.0.2.9"),
            ("10.0.0.1", &["198.51.100.1"], "198.51.100.1"),
            // Left of the first untrusted hop is whatever the client wrote.
            ("10.0.0.1", &["203.0.113.7, 198.51.100.1"], "198.51.100.1"),
            ("10.0.0.1", &["198.51.100.1, 10.0.0.2"], "198.51.100.1"),
            ("10.0.0.1", &["203.0.113.7", "198.51.100.1"], "198.51.100.1"),
            // A hop that is no address ends the trust: the proxy itself is the client.
            ("10.0.0.1", &["198.51.100.1, garbage"], "10.0.0.1"),
            ("10.0.0.1", &[], "10.0.0.1"),
        ];
        for (peer, forwarded, want) in table {
            let sent: Vec<_> = forwarded.iter().map(|v| ("x-forwarded-for", *v)).collect();
            assert_eq!(
                client_address(ip(peer), &headers(&sent), &proxies),
                ip(want),
                "{peer} {forwarded:?}"
            );
        }
    }

    #[test]
    fn cookies_are_read_by_exact_name_and_set_strictly() {
        let sent = headers(&[
            ("cookie", "vigil_session_old=a; vigil_session=b"),
            ("cookie", "other=c"),
        ]);
        assert_eq!(cookie(&sent, "vigil_session"), Some("b"));
        assert_eq!(cookie(&sent, "other"), Some("c"));
        assert_eq!(cookie(&sent, "vigil"), None);
        assert_eq!(
            set_cookie(session_cookie(true), "t", 60, true),
            "__Host-vigil_session=t; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        assert_eq!(
            set_cookie(login_cookie(false), "", 0, false),
            "vigil_login=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        );
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", "a"));
    }

    #[test]
    fn a_form_without_the_sessions_token_is_refused() {
        let signed = Signed::new(session(0), String::new());
        assert!(signed.check_csrf("token").is_ok());
        assert!(matches!(
            signed.check_csrf("other"),
            Err(WebError::Refused(StatusCode::FORBIDDEN, _))
        ));
        assert!(signed.check_csrf("").is_err());
    }
}
