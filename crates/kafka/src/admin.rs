//! The admin HTTP endpoint: `/healthz` (alive and polling) and `/readyz` (lists loaded, group
//! joined). Plain-text bodies; 200 when fine, 503 with the reason otherwise.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::Health;

/// The admin routes over `health`.
pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health)
}

/// Serves the admin routes on `listener` until the future is dropped. (Bind the listener
/// first, so that a bad `admin.listen` fails start-up.)
pub async fn serve(listener: tokio::net::TcpListener, health: Arc<Health>) -> std::io::Result<()> {
    axum::serve(listener, router(health)).await
}

fn answer(result: Result<(), String>) -> (StatusCode, String) {
    match result {
        Ok(()) => (StatusCode::OK, "ok\n".into()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

async fn healthz(State(health): State<Arc<Health>>) -> (StatusCode, String) {
    answer(health.live())
}

async fn readyz(State(health): State<Arc<Health>>) -> (StatusCode, String) {
    answer(health.ready())
}
