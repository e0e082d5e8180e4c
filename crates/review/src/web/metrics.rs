//! The console's admin listener (`review.metrics_listen`): `/metrics`, the review store's
//! figures computed at each scrape, and ingestion's positions (names in
//! `vigil_metrics::names`); `/healthz`. Labels are review topics, partitions, statuses,
//! reason codes, list names, versions, categories, detectors and decisions: no reviewer,
//! message or content. Kept off the console's listener, which only people (through the
//! sign-in proxy, where there is one) should reach.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};
use vigil_metrics::names::{
    Def, REVIEW_DECIDED, REVIEW_DECISIONS_UNPUBLISHED, REVIEW_FLAGS, REVIEW_INGEST_COMMITTED,
    REVIEW_INGEST_LAG, REVIEW_OLDEST_WAITING, REVIEW_PRECISION, REVIEW_REJECTED_RECORDS,
};

use super::error::{Answer, WebError};
use crate::ingest::IngestProgress;
use crate::store::Store;

/// What the admin listener reads.
#[derive(Clone)]
struct AdminState {
    store: Store,
    progress: Arc<IngestProgress>,
}

/// The admin listener's routes: `/metrics` and `/healthz`.
pub fn admin_router(store: Store, progress: Arc<IngestProgress>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(AdminState { store, progress })
}

fn gauge(registry: &Registry, def: &Def) -> Result<GaugeVec, prometheus::Error> {
    let gauge = GaugeVec::new(Opts::new(def.name, def.help), def.labels)?;
    registry.register(Box::new(gauge.clone()))?;
    Ok(gauge)
}

async fn render(state: &AdminState) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let registry = Registry::new();
    let flags = gauge(&registry, &REVIEW_FLAGS)?;
    let oldest = gauge(&registry, &REVIEW_OLDEST_WAITING)?;
    let decided = gauge(&registry, &REVIEW_DECIDED)?;
    let precision = gauge(&registry, &REVIEW_PRECISION)?;
    let unpublished = gauge(&registry, &REVIEW_DECISIONS_UNPUBLISHED)?;
    for count in state.store.status_counts().await? {
        flags
            .with_label_values(&[&count.queue, &count.status])
            .set(count.flags);
        if let Some(age) = count.oldest_waiting_secs {
            let g = oldest.with_label_values(&[&count.queue]);
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
    let waiting = state.store.unpublished_count().await?;
    unpublished
        .with_label_values::<&str>(&[])
        .set(waiting as f64);
    let rejected = IntCounterVec::new(
        Opts::new(REVIEW_REJECTED_RECORDS.name, REVIEW_REJECTED_RECORDS.help),
        REVIEW_REJECTED_RECORDS.labels,
    )?;
    registry.register(Box::new(rejected.clone()))?;
    for (queue, reason, n) in state.progress.rejected_counts() {
        rejected
            .with_label_values(&[queue.as_str(), reason.as_str()])
            .inc_by(n);
    }
    let committed = gauge(&registry, &REVIEW_INGEST_COMMITTED)?;
    let lag = gauge(&registry, &REVIEW_INGEST_LAG)?;
    for (topic, partition, at) in state.progress.snapshot() {
        let labels = [topic.as_str(), &partition.to_string()];
        committed
            .with_label_values(&labels)
            .set(at.committed as f64);
        lag.with_label_values(&labels).set(at.lag as f64);
    }
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out)?;
    Ok(String::from_utf8(out)?)
}

async fn metrics(State(state): State<AdminState>) -> Answer {
    let text = render(&state).await.map_err(WebError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
