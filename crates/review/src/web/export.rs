//! The access log's exports for auditors ([`crate::export`]): CSV and JSON. The export
//! itself is logged.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::error::{Answer, WebError};
use super::signed::Signed;
use super::{AppState, Tried, forbidden};
use crate::access::{AccessRow, Action};
use crate::accounts::Role;
use crate::export;

/// The whole log, for an auditor, once the export in `format` is logged.
async fn rows(state: &AppState, signed: &Signed, format: &str) -> Result<Vec<AccessRow>, WebError> {
    // The export holds every reviewer's activity: auditors only.
    if signed.who.role != Role::Auditor {
        return Err(forbidden(state, signed, "/audit/access-log export", Tried::default()).await);
    }
    state
        .store
        .log_access(&signed.access(Action::Export).detail(format))
        .await?;
    Ok(state.store.access_log(None).await?)
}

/// An attachment download of `body`.
fn download(media_type: &'static str, disposition: &'static str, body: Vec<u8>) -> Answer {
    Ok((
        [
            (header::CONTENT_TYPE, media_type),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

pub(crate) async fn export_csv(State(state): State<AppState>, signed: Signed) -> Answer {
    let rows = rows(&state, &signed, "csv").await?;
    download(
        "text/csv; charset=utf-8",
        "attachment; filename=\"access-log.csv\"",
        export::csv(&rows)?,
    )
}

pub(crate) async fn export_json(State(state): State<AppState>, signed: Signed) -> Answer {
    let rows = rows(&state, &signed, "json").await?;
    download(
        "application/json",
        "attachment; filename=\"access-log.json\"",
        export::json(&rows)?,
    )
}
