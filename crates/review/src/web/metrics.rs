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
    Def, REVIEW_CONTACT_SHEET_FAILURES, REVIEW_DECIDED, REVIEW_DECISIONS_UNPUBLISHED, REVIEW_FLAGS,
    REVIEW_INGEST_COMMITTED, REVIEW_INGEST_LAG, REVIEW_OLDEST_WAITING, REVIEW_PRECISION,
    REVIEW_REJECTED_RECORDS,
};

use super::error::{Answer, WebError};
use crate::access::Precision;
use crate::ingest::{IngestProgress, PartitionProgress, RejectReason};
use crate::queue::StatusCount;
use crate::store::{Store, StoreError};

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

/// What one scrape shows: the store's figures and ingestion's positions.
struct Figures {
    counts: Vec<StatusCount>,
    precision: Vec<Precision>,
    unpublished: i64,
    rejected: Vec<(String, RejectReason, u64)>,
    contact_sheet_failures: Vec<(&'static str, u64)>,
    partitions: Vec<(String, i32, PartitionProgress)>,
}

async fn figures(state: &AdminState) -> Result<Figures, StoreError> {
    Ok(Figures {
        counts: state.store.status_counts().await?,
        precision: state.store.precision().await?,
        unpublished: state.store.unpublished_count().await?,
        rejected: state.progress.rejected_counts(),
        contact_sheet_failures: state.progress.contact_sheet_failures(),
        partitions: state.progress.snapshot(),
    })
}

/// The figures in Prometheus's text format.
fn encode(figures: &Figures) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let registry = Registry::new();
    let flags = gauge(&registry, &REVIEW_FLAGS)?;
    let oldest = gauge(&registry, &REVIEW_OLDEST_WAITING)?;
    let decided = gauge(&registry, &REVIEW_DECIDED)?;
    let precision = gauge(&registry, &REVIEW_PRECISION)?;
    let unpublished = gauge(&registry, &REVIEW_DECISIONS_UNPUBLISHED)?;
    for count in &figures.counts {
        flags
            .with_label_values(&[&count.queue, &count.status])
            .set(count.flags);
        if let Some(age) = count.oldest_waiting_secs {
            let g = oldest.with_label_values(&[&count.queue]);
            g.set(g.get().max(age));
        }
    }
    for p in &figures.precision {
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
    unpublished
        .with_label_values::<&str>(&[])
        .set(figures.unpublished as f64);
    let rejected = IntCounterVec::new(
        Opts::new(REVIEW_REJECTED_RECORDS.name, REVIEW_REJECTED_RECORDS.help),
        REVIEW_REJECTED_RECORDS.labels,
    )?;
    registry.register(Box::new(rejected.clone()))?;
    for (queue, reason, n) in &figures.rejected {
        rejected
            .with_label_values(&[queue.as_str(), reason.as_str()])
            .inc_by(*n);
    }
    let sheets = IntCounterVec::new(
        Opts::new(
            REVIEW_CONTACT_SHEET_FAILURES.name,
            REVIEW_CONTACT_SHEET_FAILURES.help,
        ),
        REVIEW_CONTACT_SHEET_FAILURES.labels,
    )?;
    registry.register(Box::new(sheets.clone()))?;
    for (reason, n) in &figures.contact_sheet_failures {
        sheets.with_label_values(&[reason]).inc_by(*n);
    }
    let committed = gauge(&registry, &REVIEW_INGEST_COMMITTED)?;
    let lag = gauge(&registry, &REVIEW_INGEST_LAG)?;
    for (topic, partition, at) in &figures.partitions {
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
    let figures = figures(&state).await?;
    let text = encode(&figures).map_err(WebError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(series))
    }

    #[test]
    fn a_scrape_shows_each_figure_under_its_labels() {
        let count = |status: &str, flags: f64, age: Option<f64>| StatusCount {
            queue: "vigil.flags".into(),
            status: status.into(),
            flags,
            oldest_waiting_secs: age,
        };
        let precision = |list: &str, ratio: Option<f64>| Precision {
            list: list.into(),
            list_version: "v1".into(),
            category: "A".into(),
            detector: "pdq".into(),
            confirmed: 3,
            false_positive: 1,
            escalated: 2,
            precision: ratio,
        };
        let figures = Figures {
            counts: vec![
                count("escalated", 1.0, Some(90.0)),
                count("open", 4.0, Some(30.0)),
                count("decided", 7.0, None),
            ],
            precision: vec![precision("iwf", Some(0.75)), precision("undecided", None)],
            unpublished: 5,
            rejected: vec![("vigil.flags".into(), RejectReason::StoreRefused, 2)],
            contact_sheet_failures: vec![("video_timeout", 3)],
            partitions: vec![(
                "vigil.flags".into(),
                0,
                PartitionProgress {
                    committed: 41,
                    lag: 3,
                },
            )],
        };
        let text = encode(&figures).unwrap();
        let flags = format!(
            "{}{{queue=\"vigil.flags\",status=\"open\"}} 4",
            REVIEW_FLAGS.name
        );
        assert!(line(&text, &flags).is_some(), "{text}");
        // The oldest waiting flag of a queue, whatever its status; decided ones never wait.
        let oldest = format!("{}{{queue=\"vigil.flags\"}} 90", REVIEW_OLDEST_WAITING.name);
        assert!(line(&text, &oldest).is_some(), "{text}");
        for (decision, n) in [("confirm", 3), ("false_positive", 1), ("escalate", 2)] {
            let series = format!(
                "{}{{category=\"A\",decision=\"{decision}\",detector=\"pdq\",list=\"iwf\",list_version=\"v1\"}} {n}",
                REVIEW_DECIDED.name
            );
            assert!(line(&text, &series).is_some(), "{series} in {text}");
        }
        // Precision only where something was decided.
        let precise = format!(
            "{}{{category=\"A\",detector=\"pdq\",list=\"iwf\"",
            REVIEW_PRECISION.name
        );
        assert!(
            line(&text, &precise).is_some_and(|l| l.ends_with(" 0.75")),
            "{text}"
        );
        let undecided = format!(
            "{}{{category=\"A\",detector=\"pdq\",list=\"undecided\"",
            REVIEW_PRECISION.name
        );
        assert_eq!(line(&text, &undecided), None, "{text}");
        let unpublished = format!("{} 5", REVIEW_DECISIONS_UNPUBLISHED.name);
        assert!(line(&text, &unpublished).is_some(), "{text}");
        let rejected = format!(
            "{}{{queue=\"vigil.flags\",reason=\"store_refused\"}} 2",
            REVIEW_REJECTED_RECORDS.name
        );
        assert!(line(&text, &rejected).is_some(), "{text}");
        let sheets = format!(
            "{}{{reason=\"video_timeout\"}} 3",
            REVIEW_CONTACT_SHEET_FAILURES.name
        );
        assert!(line(&text, &sheets).is_some(), "{text}");
        let lag = format!(
            "{}{{partition=\"0\",topic=\"vigil.flags\"}} 3",
            REVIEW_INGEST_LAG.name
        );
        assert!(line(&text, &lag).is_some(), "{text}");
    }
}
