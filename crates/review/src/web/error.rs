//! The console's one error type: whatever stops a handler, and the response it becomes. The
//! store's and other libraries' errors convert into it, so handlers use `?`; its status
//! mapping lives here alone.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::error;

use super::pages;
use crate::accounts::AccountError;
use crate::store::StoreError;

/// What a handler answers: a page, or the error that becomes one.
pub(crate) type Answer = Result<Response, WebError>;

/// Why a request was not served as asked.
pub(crate) enum WebError {
    /// The server's own failure (the database, an encoder): logged, without detail that
    /// could hold content, and a bare 500 to the client.
    Internal(Box<dyn std::error::Error + Send + Sync>),
    /// A short plain-text refusal (a missing CSRF token, no such flag).
    Refused(StatusCode, &'static str),
    /// Every password-check worker has a queue: 503, try again shortly.
    Busy,
    /// Too early for another password attempt: 429 with how long to wait.
    Throttled(Duration),
    /// A response made already: a refusal page written after logging the attempt, or a
    /// redirect (to sign in, back with a new session cookie).
    Answered(Response),
}

impl WebError {
    /// 404 for a flag that is not there (or whose id could not be one).
    pub(crate) fn no_such_flag() -> WebError {
        WebError::Refused(StatusCode::NOT_FOUND, "no such flag")
    }
}

/// The errors that are the server's own failure.
macro_rules! internal_from {
    ($($error:ty),+) => {$(
        impl From<$error> for WebError {
            fn from(err: $error) -> WebError {
                WebError::Internal(Box::new(err))
            }
        }
    )+};
}

internal_from!(StoreError, AccountError, serde_json::Error, csv::Error);

impl From<Response> for WebError {
    fn from(response: Response) -> WebError {
        WebError::Answered(response)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::Internal(err) => {
                error!(error = %err, "review console request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
            WebError::Refused(status, text) => (status, text).into_response(),
            WebError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
                pages::message_page(
                    None,
                    "Busy",
                    "Too many sign-ins at once. Try again in a few seconds.",
                    Some(("/login", "Back to sign-in")),
                ),
            )
                .into_response(),
            WebError::Throttled(wait) => {
                let secs = wait.as_secs().max(1);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, HeaderValue::from(secs))],
                    pages::message_page(
                        None,
                        "Too many attempts",
                        &format!(
                            "Too many sign-in attempts. Try again in {} (the wait grows with \
                             every attempt).",
                            how_long(secs)
                        ),
                        Some(("/login", "Back to sign-in")),
                    ),
                )
                    .into_response()
            }
            WebError::Answered(response) => response,
        }
    }
}

/// A wait of `secs` (at least one) in words: seconds up to two minutes, then whole minutes
/// rounded up, so the reader never comes back too early.
fn how_long(secs: u64) -> String {
    if secs == 1 {
        "a second".to_string()
    } else if secs < 120 {
        format!("{secs} seconds")
    } else {
        format!("{} minutes", secs.div_ceil(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn retry_after(response: &Response) -> Option<&str> {
        response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn each_error_answers_with_its_status_and_page() {
        let store = StoreError::Schema("secret detail".into());
        let internal = WebError::from(store).into_response();
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body(internal).await,
            "internal error",
            "no detail reaches the client"
        );

        let refused = WebError::no_such_flag().into_response();
        assert_eq!(refused.status(), StatusCode::NOT_FOUND);
        assert_eq!(body(refused).await, "no such flag");

        let busy = WebError::Busy.into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after(&busy), Some("5"));
        assert!(body(busy).await.contains("Too many sign-ins at once"));

        let throttled = WebError::Throttled(Duration::from_secs(90)).into_response();
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after(&throttled), Some("90"));
        assert!(body(throttled).await.contains("Try again in 90 seconds"));

        let redirect = axum::response::Redirect::to("/login").into_response();
        let answered = WebError::from(redirect).into_response();
        assert_eq!(answered.status(), StatusCode::SEE_OTHER);
        assert_eq!(answered.headers()[header::LOCATION], "/login");
    }

    #[tokio::test]
    async fn a_throttled_wait_is_at_least_a_second() {
        let response = WebError::Throttled(Duration::from_millis(200)).into_response();
        assert_eq!(retry_after(&response), Some("1"));
        assert!(body(response).await.contains("Try again in a second"));
    }

    #[test]
    fn waits_read_in_seconds_then_whole_minutes_rounded_up() {
        let table = [
            (1, "a second"),
            (2, "2 seconds"),
            (119, "119 seconds"),
            (120, "2 minutes"),
            (121, "3 minutes"),
            (900, "15 minutes"),
        ];
        for (secs, want) in table {
            assert_eq!(how_long(secs), want, "{secs}");
        }
    }
}
