//! The access log's exports for auditors: CSV (safe to open in a spreadsheet) and JSON. The
//! export itself is logged.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::session::Signed;
use super::{AppState, Tried, forbidden, internal};
use crate::access::Action;

type Page = Result<Response, Response>;

async fn export(
    state: &AppState,
    signed: &Signed,
    format: &str,
) -> Result<Vec<crate::access::AccessRow>, Response> {
    // The export holds every reviewer's activity: auditors only.
    if signed.who.role != crate::accounts::Role::Auditor {
        return Err(forbidden(state, signed, "/audit/access-log export", Tried::default()).await);
    }
    state
        .store
        .log_access(&signed.access(Action::Export).detail(format))
        .await
        .map_err(|e| internal(&e))?;
    state.store.access_log(None).await.map_err(|e| internal(&e))
}

/// One CSV field, always quoted. A field a spreadsheet would read as a formula — starting
/// with `=`, `+`, `-` or `@`, or with a tab or carriage return, after which some
/// spreadsheets look for those — gets a leading `'` so it is shown as text (OWASP's
/// advice on CSV injection).
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let table = [
            ("plain", "\"plain\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("+1", "\"'+1\""),
            ("-1", "\"'-1\""),
            ("@SUM(A1)", "\"'@SUM(A1)\""),
            ("\t=1+1", "\"'\t=1+1\""),
            ("\r=1+1", "\"'\r=1+1\""),
            ("a=1", "\"a=1\""),
            ("", "\"\""),
        ];
        for (value, want) in table {
            assert_eq!(csv_field(value), want, "{value:?}");
        }
    }
}
