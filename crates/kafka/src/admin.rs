//! The admin HTTP endpoint, read-only: `/healthz` (alive and polling), `/readyz` (lists
//! loaded, group joined), `/metrics` (Prometheus text format) and `/lists` (the lists in
//! force as JSON: names, versions, entry counts, file digests — never their entries).
//! Health answers are plain text; 200 when fine, 503 with the reason otherwise.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use time::OffsetDateTime;
use vigil_metrics::Metrics;
use vigil_scan::SharedPipeline;

use crate::Health;

/// What the admin routes read.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Liveness and readiness.
    pub health: Arc<Health>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// The pipeline in force (for `/lists`).
    pub pipeline: Arc<SharedPipeline>,
}

/// The admin routes.
pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/lists", get(lists))
        .with_state(admin)
}

/// Serves the admin routes on `listener` until the future is dropped. (Bind the listener
/// first, so that a bad `admin.listen` fails start-up.)
pub async fn serve(listener: tokio::net::TcpListener, admin: Admin) -> std::io::Result<()> {
    axum::serve(listener, router(admin)).await
}

fn answer(result: Result<(), String>) -> (StatusCode, String) {
    match result {
        Ok(()) => (StatusCode::OK, "ok\n".into()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

async fn healthz(State(admin): State<Admin>) -> (StatusCode, String) {
    answer(admin.health.live())
}

async fn readyz(State(admin): State<Admin>) -> (StatusCode, String) {
    answer(admin.health.ready())
}

async fn metrics(State(admin): State<Admin>) -> impl IntoResponse {
    admin.metrics.set_ready(admin.health.ready().is_ok());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        admin.metrics.render(),
    )
}

/// One list in force, as `/lists` shows it.
#[derive(Debug, Serialize)]
struct ListView {
    name: String,
    kind: &'static str,
    version: String,
    entries: usize,
    sha256: String,
    path: String,
    skipped_lines: usize,
    deleted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    created_at: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_by: Option<String>,
}

async fn lists(State(admin): State<Admin>) -> impl IntoResponse {
    let pipeline = admin.pipeline.current();
    let views: Vec<ListView> = pipeline
        .lists()
        .iter()
        .map(|l| {
            let info = &l.info;
            let provenance = info.provenance.as_ref();
            ListView {
                name: info.name.clone(),
                kind: l.kind.as_str(),
                version: info.version.clone(),
                entries: info.entries,
                sha256: info.sha256.clone(),
                path: info.path.display().to_string(),
                skipped_lines: info.skipped_lines,
                deleted: info.deleted,
                source: provenance.map(|p| p.source.clone()),
                created_at: provenance.map(|p| p.created_at),
                signed_by: provenance.and_then(|p| p.signed_by.clone()),
            }
        })
        .collect();
    let body =
        serde_json::to_string_pretty(&serde_json::json!({ "lists": views })).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body + "\n")
}
