//! `vigil run` under hostile traffic, against the real broker (deploy/local/kafka): a flood of
//! malformed records among good ones dead-letters exactly the bad ones, crashes nothing and
//! delays the good ones little. CI runs 10,000 good records with 100 bad; the figures in
//! docs/reliability.md come from the long run:
//! `VIGIL_TEST_FLOOD_GOOD=100000 cargo test --release --test reliability -- --nocapture`.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_support::{
    Input, Read, Topics, Vigil, config, messages, produce, read_until, topics, unique,
};

/// Malformed records of every kind the parser refuses, with their reason codes.
const POISON: [(&[u8], &str); 6] = [
    (b"{not json", "malformed_json"),
    (b"\xff\xfe\x00 not utf-8", "invalid_utf8"),
    (b"", "empty_line"),
    (b"[1,2,3]", "malformed_json"),
    (br#"{"message_id":"p","text":"no sender"}"#, "missing_field"),
    (
        br#"{"message_id":"p","conversation_id":"c","sender_id":"s","recipient_ids":"r","sent_at":"2026-11-26T07:00:00Z"}"#,
        "invalid_field",
    ),
];

/// Latency percentiles (ms) of good records: verdict timestamp minus input timestamp.
fn percentiles(input: &[Read], verdicts: &[Read], bad: &BTreeSet<(i64, i64)>) -> (i64, i64) {
    let produced: std::collections::BTreeMap<(i64, i64), i64> = input
        .iter()
        .map(|r| ((i64::from(r.partition), r.offset), r.timestamp_ms.unwrap()))
        .collect();
    let mut latencies: Vec<i64> = verdicts
        .iter()
        .filter(|v| !bad.contains(&v.source()))
        .map(|v| v.timestamp_ms.unwrap() - produced[&v.source()])
        .collect();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}

/// Runs vigil over `records`; returns the input and verdicts read back and the run time.
fn run(t: &Topics, records: &[Input]) -> (Vec<Read>, Vec<Read>, Duration) {
    let vigil = Vigil::start(&config(&unique("g"), t, ""));
    let started = Instant::now();
    produce(&t.input, records);
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(300), |v| {
        v.len() >= records.len()
    });
    let took = started.elapsed();
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(60));
    assert!(clean_exit, "{logs}");
    let input = read_until(&t.input, false, Duration::from_secs(60), |r| {
        r.len() >= records.len()
    });
    (input, verdicts, took)
}

#[test]
fn a_poison_flood_dead_letters_exactly_the_bad_records_and_barely_delays_the_good() {
    let good: usize = std::env::var("VIGIL_TEST_FLOOD_GOOD")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let bad = good / 100;
    let (clean, expected) = messages(good, "flood");

    let baseline = topics("flood-clean", 4);
    let (input, verdicts, clean_took) = run(&baseline, &clean);
    assert_eq!(verdicts.len(), good);
    let (clean_p50, clean_p99) = percentiles(&input, &verdicts, &BTreeSet::new());

    let mut flood = clean;
    let stride = flood.len() / bad;
    for i in 0..bad {
        let (value, _) = POISON[i % POISON.len()];
        flood.insert(
            i * (stride + 1),
            Input {
                key: format!("poison-{i}"),
                value: value.to_vec(),
                partition: None,
            },
        );
    }
    let t = topics("flood", 4);
    let (input, verdicts, flood_took) = run(&t, &flood);
    assert_eq!(
        verdicts.len(),
        flood.len(),
        "one verdict per record, no more"
    );
    let dlq = read_until(&t.dlq, false, Duration::from_secs(60), |d| d.len() > bad);
    assert_eq!(dlq.len(), bad, "exactly the bad records are dead-lettered");
    let poison_keys: BTreeSet<String> = (0..bad).map(|i| format!("poison-{i}")).collect();
    let dead_keys: BTreeSet<String> = dlq
        .iter()
        .map(|d| String::from_utf8(d.key.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(dead_keys, poison_keys);
    for d in &dlq {
        let n: usize = String::from_utf8_lossy(d.key.as_ref().unwrap())
            .trim_start_matches("poison-")
            .parse()
            .unwrap();
        let (value, reason) = POISON[n % POISON.len()];
        assert_eq!(d.value, value, "the original record is kept");
        assert_eq!(d.headers["vigil.error.reason"], reason);
    }
    let bad_offsets: BTreeSet<(i64, i64)> = input
        .iter()
        .filter(|r| r.key.as_ref().is_some_and(|k| k.starts_with(b"poison-")))
        .map(|r| (i64::from(r.partition), r.offset))
        .collect();
    let flags = read_until(&t.flags, false, Duration::from_secs(60), |f| {
        f.len() >= expected.len()
    });
    let flagged: BTreeSet<String> = flags
        .iter()
        .map(|f| f.json()["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        flagged, expected,
        "every planted match among the good is flagged"
    );
    let (flood_p50, flood_p99) = percentiles(&input, &verdicts, &bad_offsets);
    // Reported in docs/reliability.md (run with --nocapture).
    println!(
        "good {good}, bad {bad}: clean run {clean_took:?} (good-record latency p50 {clean_p50} ms, \
         p99 {clean_p99} ms); flood run {flood_took:?} (p50 {flood_p50} ms, p99 {flood_p99} ms); \
         dead letters {}",
        dlq.len()
    );
}
