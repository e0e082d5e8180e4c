//! `/metrics`: the review store's figures, computed at each scrape (names in
//! `vigil_metrics::names`). Labels are review topics, statuses, list names, versions,
//! categories, detectors and decisions: no reviewer, message or content.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, GaugeVec, Opts, Registry, TextEncoder};
use sqlx::Row;
use vigil_metrics::names::{
    Def, REVIEW_DECIDED, REVIEW_DECISIONS_UNPUBLISHED, REVIEW_FLAGS, REVIEW_OLDEST_WAITING,
    REVIEW_PRECISION,
};

use super::{AppState, internal};
use crate::store::StoreError;

fn gauge(registry: &Registry, def: &Def) -> Result<GaugeVec, prometheus::Error> {
    let gauge = GaugeVec::new(Opts::new(def.name, def.help), def.labels)?;
    registry.register(Box::new(gauge.clone()))?;
    Ok(gauge)
}

async fn render(state: &AppState) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let registry = Registry::new();
    let flags = gauge(&registry, &REVIEW_FLAGS)?;
    let oldest = gauge(&registry, &REVIEW_OLDEST_WAITING)?;
    let decided = gauge(&registry, &REVIEW_DECIDED)?;
    let precision = gauge(&registry, &REVIEW_PRECISION)?;
    let unpublished = gauge(&registry, &REVIEW_DECISIONS_UNPUBLISHED)?;
    let pool = state.store.pool();
    for row in sqlx::query(
        "SELECT queue, status, count(*)::float8 AS n,
                extract(epoch FROM now() - min(flagged_at) FILTER (WHERE status <> 'decided'))::float8 AS age
         FROM flags GROUP BY queue, status",
    )
    .fetch_all(pool)
    .await
    .map_err(StoreError::db("metrics"))?
    {
        let queue: String = row.get("queue");
        let status: String = row.get("status");
        flags.with_label_values(&[&queue, &status]).set(row.get("n"));
        if let Some(age) = row.get::<Option<f64>, _>("age") {
            let g = oldest.with_label_values(&[&queue]);
            g.set(g.get().max(age));
        }
    }
    for p in state.store.precision().await? {
        let labels = [
            p.list.as_str(),
            p.list_version.as_str(),
            p.category.as_str(),
            p.detector.as_str(),
        ];
        for (decision, n) in [
            ("confirm", p.confirmed),
            ("false_positive", p.false_positive),
            ("escalate", p.escalated),
        ] {
            let mut with = labels.to_vec();
            with.push(decision);
            decided.with_label_values(&with).set(n as f64);
        }
        if let Some(ratio) = p.precision {
            precision.with_label_values(&labels).set(ratio);
        }
    }
    let waiting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM decisions WHERE published_at IS NULL")
            .fetch_one(pool)
            .await
            .map_err(StoreError::db("metrics"))?;
    unpublished
        .with_label_values::<&str>(&[])
        .set(waiting as f64);
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out)?;
    Ok(String::from_utf8(out)?)
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    match render(&state).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(err) => internal(&err),
    }
}
