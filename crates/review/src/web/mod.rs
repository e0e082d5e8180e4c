//! The console's HTTP side: server-rendered pages (no JavaScript), every route checking the
//! role on the server, security headers on every response.

mod account;
mod cases;
mod entries;
mod error;
mod export;
mod exposure;
mod holds;
mod metrics;
mod notice;
mod pages;
mod reports;
mod routes;
mod seeing;
mod session;
mod signed;
mod signin;
mod wellness;

pub use metrics::admin_router;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::ConsoleConfig;
use crate::config::ReviewAuth;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use self::error::WebError;
use crate::access::Action;
use crate::package::PackageSigner;
use crate::reports::CyberTipline;
use crate::store::Store;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) config: Arc<ConsoleConfig>,
    /// Checks passwords, a bounded number at once.
    pub(crate) passwords: Arc<crate::accounts::PasswordChecker>,
    /// The CyberTipline, when `[review.cybertipline]` is configured.
    pub(crate) cybertipline: Option<Arc<CyberTipline>>,
    /// The evidence packages' key, when `review.evidence_signing_key_file` is configured.
    pub(crate) signer: Option<Arc<PackageSigner>>,
}

/// The console's routes.
pub fn router(
    store: Store,
    config: Arc<ConsoleConfig>,
    cybertipline: Option<CyberTipline>,
    signer: Option<PackageSigner>,
) -> Router {
    let state = AppState {
        store,
        config,
        passwords: signin::password_checker(),
        cybertipline: cybertipline.map(Arc::new),
        signer: signer.map(Arc::new),
    };
    Router::new()
        .route("/", get(routes::home))
        .route("/login", get(signin::login_page).post(signin::login))
        .route("/logout", post(signin::logout))
        .route("/reauth", get(account::reauth_page).post(account::reauth))
        .route(
            "/account/password",
            get(account::password_page).post(account::change_password),
        )
        .route("/queue", get(routes::queue))
        .route("/queue/claim-next", post(routes::claim_next))
        .route("/queue/decide", post(routes::decide_selected))
        .route("/flags/{flag_id}", get(routes::flag))
        .route("/flags/{flag_id}/claim", post(routes::claim))
        .route("/flags/{flag_id}/release", post(routes::release))
        .route("/flags/{flag_id}/decision", post(routes::decide))
        .route("/flags/{flag_id}/holds", post(holds::place))
        .route("/flags/{flag_id}/entries", post(entries::act))
        .route("/holds", get(holds::list))
        .route("/cases", get(cases::list))
        .route("/case", get(cases::case))
        .route("/case/holds", post(cases::hold))
        .route("/case/decide", post(cases::decide))
        .route("/case/report", get(reports::page).post(reports::prepare))
        .route("/case/report/submit", post(reports::submit))
        .route("/case/package", get(cases::package))
        .route("/holds/{hold_id}/release", post(holds::release))
        .route(
            "/flags/{flag_id}/images/{attachment_id}/blurred",
            get(routes::blurred_image),
        )
        .route(
            "/flags/{flag_id}/images/{attachment_id}/reveal",
            post(routes::reveal_image),
        )
        .route(
            "/flags/{flag_id}/images/{attachment_id}",
            get(routes::original_image),
        )
        .route(
            "/flags/{flag_id}/videos/{attachment_id}/frames/{frame_ms}/blurred",
            get(routes::blurred_frame),
        )
        .route(
            "/flags/{flag_id}/videos/{attachment_id}/frames/{frame_ms}/reveal",
            post(routes::reveal_frame),
        )
        .route(
            "/flags/{flag_id}/videos/{attachment_id}/frames/{frame_ms}",
            get(routes::original_frame),
        )
        .route(
            "/account/wellness",
            get(wellness::settings_page).post(wellness::save_settings),
        )
        .route("/team", get(wellness::team))
        .route(
            "/flags/{flag_id}/images/{attachment_id}/reblur",
            post(wellness::reblur_image),
        )
        .route(
            "/flags/{flag_id}/videos/{attachment_id}/frames/{frame_ms}/reblur",
            post(wellness::reblur_frame),
        )
        .route("/audit", get(routes::audit))
        .route("/audit/access-log.csv", get(export::export_csv))
        .route("/audit/access-log.json", get(export::export_json))
        .route("/static/console.css", get(pages::stylesheet))
        .layer(middleware::from_fn_with_state(state.clone(), trusted_peer))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Behind a sign-in proxy only the proxy may connect, to any route (static files included):
/// anyone else could otherwise reach the console around the proxy's authentication.
async fn trusted_peer(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let review = &state.config.review;
    if review.auth == ReviewAuth::Proxy {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if !peer.is_some_and(|ip| review.trusted_proxies.contains(&ip)) {
            return (
                StatusCode::FORBIDDEN,
                "requests must come through the sign-in proxy",
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// No caching (pages hold content), no framing, no scripts, no sniffing, no referrers, and
/// HTTPS only from the first visit on for two years (browsers ignore HSTS on plain HTTP).
async fn security_headers(request: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::STRICT_TRANSPORT_SECURITY, "max-age=63072000"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A form whose only field is the session's CSRF token.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// Flag ids are 32 hex characters; anything else is not looked up.
pub(crate) fn valid_flag_id(flag_id: &str) -> bool {
    flag_id.len() == 32 && flag_id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A redirect to `to` (303: the browser follows with a GET).
pub(crate) fn see_other(to: &str) -> Response {
    axum::response::Redirect::to(to).into_response()
}

/// What a refused request tried to reach, for the access log: the flag and image, when the
/// request named well-formed ones.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tried<'a> {
    flag: Option<&'a str>,
    image: Option<&'a str>,
}

impl<'a> Tried<'a> {
    /// Flag `flag_id`.
    pub(crate) fn flag(flag_id: &'a str) -> Tried<'a> {
        Tried {
            flag: Some(flag_id),
            image: None,
        }
    }

    /// Image `attachment_id` of flag `flag_id`.
    pub(crate) fn image(flag_id: &'a str, attachment_id: &'a str) -> Tried<'a> {
        Tried {
            flag: Some(flag_id),
            image: Some(attachment_id),
        }
    }
}

/// Leads only: anyone else is refused, and the attempt at `what` logged ([`forbidden`]).
pub(crate) async fn lead_only(
    state: &AppState,
    signed: &signed::Signed,
    what: &str,
    tried: Tried<'_>,
) -> Result<(), WebError> {
    if signed.who.role == crate::accounts::Role::Lead {
        Ok(())
    } else {
        Err(forbidden(state, signed, what, tried).await)
    }
}

/// Refuses a page the role does not allow, and logs the attempt: the route (`what`) and
/// what it tried to reach.
pub(crate) async fn forbidden(
    state: &AppState,
    signed: &signed::Signed,
    what: &str,
    tried: Tried<'_>,
) -> WebError {
    let mut access = signed.access(Action::Denied).detail(what);
    if let Some(flag_id) = tried.flag.filter(|f| valid_flag_id(f)) {
        access = access.flag(flag_id);
    }
    if let Some(attachment_id) = tried.image.filter(|a| vigil_core::valid_id(a)) {
        access = access.image(attachment_id);
    }
    let _ = state.store.log_access(&access).await;
    (
        StatusCode::FORBIDDEN,
        pages::message_page(
            Some(signed),
            "Not allowed",
            "Your role does not allow this page. The attempt was logged.",
            Some(("/", "Back to the start page")),
        ),
    )
        .into_response()
        .into()
}
