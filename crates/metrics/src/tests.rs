#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::collections::BTreeSet;
use std::path::Path;

use time::OffsetDateTime;
use vigil_core::{ReasonCode, Source};
use vigil_scan::config::ScanConfig;
use vigil_scan::{ListSet, Pipeline};

use super::*;
use crate::names::{ALL, Kind, REVIEW};

const MARKER: &str = "CANARY-7f3e2a";

fn metrics() -> Metrics {
    Metrics::new(&BuildInfo {
        version: "0.1.0",
        delivery: "at-least-once",
    })
}

/// Series lines (not comments) of `text` whose name is `name` (with any label set).
fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

fn keyword_pipeline(dir: &Path, terms: &str) -> (ScanConfig, Pipeline) {
    let keywords = dir.join("kw.csv");
    std::fs::write(&keywords, format!("rule_id,term,category\n{terms}")).unwrap();
    let mut config = ScanConfig::default();
    config.lists.keyword_lists.push(keywords.into());
    let pipeline = Pipeline::from_config(&config).unwrap();
    (config, pipeline)
}

fn process(pipeline: &Pipeline, record: &str, metrics: &Metrics) -> Outcome {
    let mut trace = Trace::default();
    let source = Source::File {
        file: "t".into(),
        line: 1,
    };
    let outcome = pipeline.process_traced(
        record.as_bytes(),
        source,
        OffsetDateTime::UNIX_EPOCH,
        &mut trace,
    );
    metrics.record_outcome(&outcome, &trace, Duration::from_micros(10));
    outcome
}

#[test]
fn names_follow_prometheus_conventions_and_are_unique() {
    let mut seen = BTreeSet::new();
    for def in ALL.iter().chain(REVIEW) {
        assert!(seen.insert(def.name), "{} twice", def.name);
        assert!(def.name.starts_with("vigil_"), "{}", def.name);
        assert!(
            def.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            def.name
        );
        match def.kind {
            Kind::Counter => assert!(def.name.ends_with("_total"), "{}", def.name),
            // Base units only; a Hamming distance is a count of bits, unitless.
            Kind::Histogram => assert!(
                ["_seconds", "_bytes", "_hamming_distance"]
                    .iter()
                    .any(|unit| def.name.ends_with(unit)),
                "{}",
                def.name
            ),
            Kind::Gauge => assert!(!def.name.ends_with("_total"), "{}", def.name),
        }
        assert!(!def.help.is_empty());
        for label in def.labels {
            assert!(
                !["user", "sender", "message", "conversation", "text"]
                    .iter()
                    .any(|bad| label.contains(bad)),
                "{}: label {label} could carry user data",
                def.name
            );
        }
    }
}

#[test]
fn every_declared_metric_is_exported_with_its_declared_type() {
    let metrics = metrics();
    let dir = tempfile::tempdir().unwrap();
    let (config, pipeline) = keyword_pipeline(dir.path(), "k1,home alone,grooming.isolation\n");
    process(
        &pipeline,
        r#"{"message_id":"m","conversation_id":"c","sender_id":"s","recipient_ids":["r"],
            "sent_at":"2026-01-01T00:00:00Z","text":"home alone",
            "attachments":[{"attachment_id":"a","media_type":"image/png","data":"!!"}]}"#,
        &metrics,
    );
    metrics.set_ready(true);
    metrics.consumed("dms", 3);
    metrics.flag_routed("vigil.flags", "high");
    metrics.dead_lettered("malformed_json");
    metrics.output_delivered(OutputKind::Verdict);
    metrics.producer_error(OutputKind::Flag);
    metrics.set_runtime(RuntimeGauges::default());
    metrics.set_lag([("dms", 0, 5)]);
    metrics.commit(true, Duration::from_millis(3));
    metrics.transaction_aborted();
    metrics.rebalance("assign");
    let lists = ListSet::load(&config.lists, OffsetDateTime::UNIX_EPOCH).unwrap();
    let built = Pipeline::build(&config, &lists, 0).unwrap();
    metrics.lists_in_force(built.lists(), 1.0);
    metrics.list_update(&ReloadReport::default());
    metrics.distance.with_label_values(&["pdq"]).observe(3.0);
    metrics
        .suppressed
        .with_label_values(&["x", "allow_list"])
        .inc();
    metrics.list_created.with_label_values(&["x"]).set(1.0);
    metrics.match_quarantined("x", "flood");
    metrics.entry_decision_fed("confirmed");
    metrics
        .video
        .record(&video(Some(ReasonCode::VideoTimeout), true));
    metrics
        .list_reloads
        .with_label_values(&["x", "refused"])
        .inc();

    let text = metrics.render();
    for def in ALL {
        let kind = def.kind.as_str();
        assert!(
            text.contains(&format!("# TYPE {} {kind}\n", def.name)),
            "{} missing or not a {kind}:\n{text}",
            def.name
        );
        assert!(text.contains(&format!("# HELP {} {}\n", def.name, def.help)));
    }
    assert!(text.contains("process_resident_memory_bytes"));
}

#[test]
fn an_outcome_counts_its_verdict_matches_stages_attachments_and_errors() {
    let metrics = metrics();
    let dir = tempfile::tempdir().unwrap();
    let (_, pipeline) = keyword_pipeline(
        dir.path(),
        "k1,home alone,grooming.isolation\nk2,secret,grooming.secrecy\n",
    );
    let flagged = process(
        &pipeline,
        r#"{"message_id":"m1","conversation_id":"c","sender_id":"s","recipient_ids":["r"],
            "sent_at":"2026-01-01T00:00:00Z","text":"home alone, our secret",
            "attachments":[{"attachment_id":"a","media_type":"image/png","data":"!!"},
                           {"attachment_id":"b","media_type":"text/plain","data":"aGk="}]}"#,
        &metrics,
    );
    assert!(flagged.flag.is_some());
    process(
        &pipeline,
        r#"{"message_id":"m2","conversation_id":"c","sender_id":"s","recipient_ids":["r"],
            "sent_at":"2026-01-01T00:00:00Z","text":"see you"}"#,
        &metrics,
    );
    process(&pipeline, "{not json", &metrics);
    let text = metrics.render();
    for verdict in ["clean", "flagged", "error"] {
        assert_eq!(
            series(&text, "vigil_messages_scanned_total")
                .into_iter()
                .filter(|l| l.contains(&format!("verdict=\"{verdict}\"")))
                .collect::<Vec<_>>(),
            [format!(
                "vigil_messages_scanned_total{{verdict=\"{verdict}\"}} 1"
            )],
        );
    }
    let matches = series(&text, "vigil_matches_total");
    assert_eq!(matches.len(), 2, "{matches:?}");
    assert!(matches.iter().all(|m| m.contains("detector=\"keyword\"")
        && m.contains("list=\"kw\"")
        && m.contains("list_version=\"sha256:")
        && m.ends_with(" 1")));
    // Text ran for both parsed messages; parse for all three records.
    assert!(text.contains("vigil_scan_stage_duration_seconds_count{stage=\"text\"} 2"));
    assert!(text.contains("vigil_scan_stage_duration_seconds_count{stage=\"parse\"} 3"));
    assert!(text.contains("vigil_scan_duration_seconds_count 3"));
    // Bad base64 → unresolved; an unknown media type → unsupported (exact digests only).
    assert!(text.contains("vigil_attachments_total{outcome=\"unresolved\"} 1"));
    assert!(text.contains("vigil_attachments_total{outcome=\"unsupported\"} 1"));
    assert!(text.contains("vigil_attachments_total{outcome=\"hashed\"} 0"));
    assert!(text.contains(r#"vigil_errors_total{reason="invalid_base64",stage="resolve"} 1"#));
    assert!(text.contains(r#"vigil_errors_total{reason="malformed_json",stage="parse"} 1"#));
}

/// A video a worker hashed (`failure` None) or could not.
fn video(failure: Option<ReasonCode>, worker_died: bool) -> VideoObservation {
    VideoObservation {
        elapsed: Duration::from_millis(300),
        failure,
        worker_died,
        decoded_ms: if failure.is_some() { 0 } else { 2500 },
        frames_decoded: if failure.is_some() { 0 } else { 75 },
        frames_hashed: if failure.is_some() { 0 } else { 3 },
        peak_rss_bytes: if failure.is_some() { 0 } else { 50 << 20 },
    }
}

#[test]
fn videos_count_results_failures_restarts_seconds_frames_time_and_memory() {
    let metrics = metrics();
    let mut trace = Trace::default();
    for observation in [
        video(None, false),
        video(None, false),
        video(Some(ReasonCode::VideoDecodeFailed), false),
        video(Some(ReasonCode::VideoWorkerCrashed), true),
    ] {
        trace.video(observation);
    }
    let suppressed = vigil_core::SuppressedMatch {
        list: "bank".into(),
        list_version: "3".into(),
        category: "A".into(),
        detector: vigil_core::DetectorKind::Hash(vigil_core::Algorithm::Pdq),
        entry: "e-1".into(),
        attachment_id: Some("a1".into()),
        reason: vigil_core::SuppressReason::AllowList,
        by_list: Some("memes".into()),
        by_list_version: Some("1".into()),
        by_entry: Some("meme-1".into()),
    };
    let outcome = Outcome {
        message_id: Some("m".into()),
        flag: None,
        errors: Vec::new(),
        scanned: true,
        suppressed: vec![suppressed.clone(), suppressed],
    };
    metrics.record_outcome(&outcome, &trace, Duration::from_millis(1));
    let text = metrics.render();
    for line in [
        r#"vigil_matches_suppressed_total{list="bank",reason="allow_list"} 2"#,
        r#"vigil_videos_total{result="hashed"} 2"#,
        r#"vigil_videos_total{result="failed"} 2"#,
        r#"vigil_video_failures_total{reason="video_decode_failed"} 1"#,
        r#"vigil_video_failures_total{reason="video_worker_crashed"} 1"#,
        "vigil_video_worker_restarts_total 1",
        "vigil_video_decoded_seconds_total 5",
        r#"vigil_video_frames_total{step="decoded"} 150"#,
        r#"vigil_video_frames_total{step="hashed"} 6"#,
        "vigil_video_duration_seconds_count 4",
        "vigil_video_worker_peak_memory_bytes_count 2",
        r#"vigil_video_worker_peak_memory_bytes_bucket{le="67108864"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
}

#[test]
fn content_and_ids_never_become_labels() {
    let metrics = metrics();
    let dir = tempfile::tempdir().unwrap();
    let (_, pipeline) = keyword_pipeline(dir.path(), "k1,home alone,grooming.isolation\n");
    let record = format!(
        r#"{{"message_id":"{MARKER}-m","conversation_id":"{MARKER}-c","sender_id":"{MARKER}-s",
            "recipient_ids":["{MARKER}-r"],"sent_at":"2026-01-01T00:00:00Z",
            "text":"home alone {MARKER}",
            "attachments":[{{"attachment_id":"{MARKER}-a","media_type":"image/png","data":"{MARKER}"}}]}}"#
    );
    process(&pipeline, &record, &metrics);
    process(&pipeline, &format!("{{\"{MARKER}\": "), &metrics);
    let text = metrics.render();
    assert!(text.contains("vigil_matches_total"));
    assert!(!text.contains(MARKER), "{text}");
}

#[test]
fn lag_and_list_series_of_partitions_and_versions_gone_are_removed() {
    let metrics = metrics();
    metrics.set_lag([("dms", 0, 5), ("dms", 1, 7)]);
    metrics.set_lag([("dms", 1, 2)]);
    let text = metrics.render();
    assert_eq!(
        series(&text, "vigil_consumer_lag_messages"),
        [r#"vigil_consumer_lag_messages{partition="1",topic="dms"} 2"#]
    );

    let dir = tempfile::tempdir().unwrap();
    let (config, _) = keyword_pipeline(dir.path(), "k1,home alone,grooming.isolation\n");
    let first = Pipeline::from_config(&config).unwrap();
    metrics.lists_in_force(first.lists(), 100.0);
    let v1 = first.lists()[0].info.version.clone();
    // Unchanged lists keep their loaded time.
    metrics.lists_in_force(first.lists(), 200.0);
    assert!(
        metrics
            .render()
            .contains(r#"vigil_list_loaded_timestamp_seconds{list="kw"} 100"#)
    );
    std::fs::write(
        dir.path().join("kw.csv"),
        "rule_id,term,category\nk1,home alone,grooming.isolation\nk2,secret,grooming.secrecy\n",
    )
    .unwrap();
    let second = Pipeline::from_config(&config).unwrap();
    metrics.lists_in_force(second.lists(), 300.0);
    let text = metrics.render();
    let info = series(&text, "vigil_list_info");
    assert_eq!(info.len(), 1, "{info:?}");
    assert!(!info[0].contains(&v1));
    assert!(info[0].contains(&second.lists()[0].info.version));
    assert!(text.contains(r#"vigil_list_entries{list="kw"} 2"#));
    assert!(text.contains(r#"vigil_list_loaded_timestamp_seconds{list="kw"} 300"#));
    assert!(text.contains(r#"vigil_list_last_reload_success{list="kw"} 1"#));
}

#[test]
fn every_metric_is_documented_in_the_auditing_guide() {
    let guide = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/auditing.md"),
    )
    .unwrap();
    for def in ALL.iter().chain(REVIEW) {
        let row = format!("| `{}` | {} |", def.name, def.kind.as_str());
        assert!(guide.contains(&row), "docs/auditing.md lacks the row {row}");
    }
}
