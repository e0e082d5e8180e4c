//! Operating and auditing `vigil run` against a real broker (deploy/local/kafka) and a real
//! Prometheus (deploy/local/prometheus): what Prometheus scrapes and what `vigil audit`
//! reports equal what the test produced; dead letters replay once, with their keys and
//! headers; a marker planted in DMs never reaches metrics, logs, dead-letter headers or the
//! audit.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use kafka_support::{
    Input, Read, Vigil, brokers, config, create_topics, free_port, http_get, messages, produce,
    read_all, read_until, topics, unique,
};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};

const MARKER: &str = "CANARY-CONTENT-4b1d9e";

/// Prometheus's binaries, installed by deploy/local/prometheus (idempotent).
fn prometheus_bin() -> PathBuf {
    let script = common::root().join("deploy/local/prometheus");
    let output = Command::new(&script).arg("path").output().unwrap();
    assert!(
        output.status.success(),
        "deploy/local/prometheus path failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    PathBuf::from(stdout.lines().last().unwrap().trim())
}

/// A Prometheus server scraping one vigil every second.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: vigil\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new(prometheus_bin().join("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        let prometheus = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http10_get(addr, "/-/ready").map(|r| r.0) != Some(200) {
            assert!(Instant::now() < deadline, "prometheus not ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        prometheus
    }

    /// The value of the instant query `promql` (a single number), if it has one.
    fn query(&self, promql: &str) -> Option<f64> {
        let (status, body) = http10_get(
            self.addr,
            &format!("/api/v1/query?query={}", encode(promql)),
        )?;
        assert_eq!(status, 200, "{promql}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        let result = answer["data"]["result"].as_array()?;
        assert!(result.len() <= 1, "{promql} has several series: {body}");
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Waits until `promql` equals `want` (the scrape runs every second).
    fn wait_for(&self, promql: &str, want: f64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.query(promql);
            if got == Some(want) {
                return;
            }
            assert!(Instant::now() < deadline, "{promql}: {got:?}, want {want}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET` over HTTP/1.0, so the body is never chunked.
fn http10_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `vigil` with `args`; returns (success, stdout, stderr).
fn vigil_cli(args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = common::vigil(dir.path()).args(args).output().unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn audit_json(verdicts: &str) -> Value {
    let (ok, stdout, stderr) = vigil_cli(&[
        "audit",
        "--brokers",
        brokers(),
        "--topic",
        verdicts,
        "--format",
        "json",
        "--strict",
    ]);
    assert!(ok, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn poison(n: usize) -> Vec<Input> {
    (0..n)
        .map(|i| Input {
            key: format!("poison-{i}"),
            value: format!(r#"{{"message_id":"p-{i}","text":"{MARKER}"#).into_bytes(),
            partition: None,
        })
        .collect()
}

/// The example lists plus a PDQ list holding the example's listed image (so images are
/// decoded, hashed and matched), written under `dir`; with the `[kafka]` section of `t`.
fn pdq_config(
    dir: &std::path::Path,
    group: &str,
    t: &kafka_support::Topics,
    extra: &str,
) -> String {
    let image = base64::engine::general_purpose::STANDARD
        .decode(kafka_support::listed_image())
        .unwrap();
    let png = dir.join("listed.png");
    std::fs::write(&png, image).unwrap();
    let (ok, stdout, stderr) = vigil_cli(&["hash", "--algorithms", "pdq", png.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let hashed: Value = serde_json::from_str(&stdout).unwrap();
    let list = dir.join("pdq-list.csv");
    std::fs::write(
        &list,
        format!(
            "algorithm,hash,entry_id,category\npdq,{},pdq-0001,csam.known\n",
            hashed["pdq"].as_str().unwrap()
        ),
    )
    .unwrap();
    let root = common::root();
    format!(
        // The example image is small and flat: PDQ quality 45.
        "[lists]\nhash_lists = [{:?}, {:?}]\nkeyword_lists = [{:?}]\nallow_unsigned = true\n\
         [match]\npdq_min_quality = 40\n{}",
        root.join("examples/lists/sample-hashes.csv")
            .display()
            .to_string(),
        list.display().to_string(),
        root.join("examples/lists/sample-keywords.csv")
            .display()
            .to_string(),
        kafka_support::kafka_section(group, &t.input, extra)
    )
}

/// Fast commits and statistics, so lag reaches 0 within seconds.
const FAST: &str = "commit_interval_ms = 500\n";
const FAST_STATS: &str = "\"statistics.interval.ms\" = \"1000\"\n";

#[test]
fn prometheus_and_the_audit_count_exactly_what_was_produced() {
    let t = topics("ops", 3);
    let (mut records, expected) = messages(300, "ops");
    let bad = poison(4);
    let n = records.len() + bad.len();
    records.extend(bad);
    produce(&t.input, &records);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{FAST_STATS}",
        pdq_config(dir.path(), &unique("g"), &t, FAST)
    );
    let vigil = Vigil::start_with(&config, "debug", &[("VIGIL_LOG_FORMAT", "json")]);
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(120), |v| {
        v.len() >= n
    });
    assert_eq!(verdicts.len(), n);

    let prometheus = Prometheus::start(vigil.admin);
    prometheus.wait_for("sum(vigil_messages_scanned_total)", n as f64);
    let flagged = expected.len() as f64;
    let images = (0..300).filter(|i| i % 11 == 5).count() as f64;
    for (promql, want) in [
        (
            r#"vigil_messages_scanned_total{verdict="flagged"}"#,
            flagged,
        ),
        (r#"vigil_messages_scanned_total{verdict="error"}"#, 4.0),
        (
            r#"vigil_messages_scanned_total{verdict="clean"}"#,
            300.0 - flagged,
        ),
        ("sum(vigil_messages_consumed_total)", n as f64),
        ("sum(vigil_flags_total)", flagged),
        (r#"vigil_dead_letters_total{reason="malformed_json"}"#, 4.0),
        (r#"vigil_output_records_total{kind="verdict"}"#, n as f64),
        (r#"vigil_output_records_total{kind="flag"}"#, flagged),
        (r#"vigil_output_records_total{kind="dead_letter"}"#, 4.0),
        ("vigil_scan_duration_seconds_count", n as f64),
        (r#"vigil_attachments_total{outcome="hashed"}"#, images),
        (
            r#"sum(vigil_matches_total{list="sample-hashes",detector="sha256"})"#,
            images,
        ),
        (
            r#"vigil_scan_stage_duration_seconds_count{stage="decode"}"#,
            images,
        ),
        (
            r#"vigil_scan_stage_duration_seconds_count{stage="hash"}"#,
            images,
        ),
        (
            r#"sum(vigil_matches_total{list="pdq-list",detector="pdq"})"#,
            images,
        ),
        (
            r#"vigil_match_hamming_distance_count{algorithm="pdq"}"#,
            images,
        ),
        (
            r#"vigil_match_hamming_distance_bucket{algorithm="pdq",le="0"}"#,
            images,
        ),
        ("vigil_ready", 1.0),
        ("vigil_assigned_partitions", 3.0),
        ("vigil_in_flight_messages", 0.0),
        (r#"count(vigil_list_info{kind="keyword"})"#, 1.0),
        ("sum(vigil_producer_errors_total)", 0.0),
    ] {
        prometheus.wait_for(promql, want);
    }
    // Lag comes from librdkafka statistics once offsets are committed.
    prometheus.wait_for("count(vigil_consumer_lag_messages)", 3.0);
    prometheus.wait_for("sum(vigil_consumer_lag_messages)", 0.0);
    let commits = prometheus.query(r#"vigil_offset_commits_total{result="ok"}"#);
    assert!(
        commits >= Some(1.0),
        "{commits:?}\n{}\n{}",
        http_get(vigil.admin, "/metrics").unwrap().1,
        vigil.logs()
    );
    assert!(
        prometheus
            .query("vigil_list_entries{list=\"sample-keywords\"}")
            .unwrap()
            >= 1.0
    );

    // The exposition passes Prometheus's own lint.
    let (status, exposition) = http_get(vigil.admin, "/metrics").unwrap();
    assert_eq!(status, 200);
    let mut promtool = Command::new(prometheus_bin().join("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let lint = promtool.wait_with_output().unwrap();
    assert!(
        lint.status.success() && lint.stdout.is_empty() && lint.stderr.is_empty(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let (status, lists) = http_get(vigil.admin, "/lists").unwrap();
    assert_eq!(status, 200);
    let lists: Value = serde_json::from_str(&lists).unwrap();
    let names: BTreeSet<&str> = lists["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["pdq-list", "sample-hashes", "sample-keywords"].into()
    );

    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let line: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(line["level"].is_string() && line["timestamp"].is_string());
    }
    assert!(!logs.contains(MARKER));
    assert!(!exposition.contains(MARKER));

    let report = audit_json(&t.verdicts);
    assert_eq!(report["records"], n);
    assert_eq!(report["flagged"], expected.len());
    assert_eq!(report["errors"], 4);
    assert_eq!(report["clean"], 300 - expected.len());
    assert_eq!(report["reasons"], json!({"malformed_json": 4}));
    assert_eq!(report["complete"], true);
    let coverage = report["coverage"].as_array().unwrap();
    assert_eq!(coverage.len(), 3);
    let accounted: u64 = coverage
        .iter()
        .map(|c| c["accounted"].as_u64().unwrap())
        .sum();
    assert_eq!(accounted, n as u64);
    assert!(
        coverage
            .iter()
            .all(|c| c["gaps"] == 0 && c["not_yet_scanned"] == 0)
    );
    let hashes = report["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["list"] == "sample-hashes")
        .unwrap();
    assert_eq!(hashes["flagged"].as_f64().unwrap(), images);
    assert_eq!(hashes["scanned"], 300);
    assert!(!report.to_string().contains(MARKER));
}

#[test]
fn dead_letters_replay_once_with_their_keys_and_headers() {
    let t = topics("replay", 1);
    let (mut records, _) = messages(20, "replay");
    let engine = base64::engine::general_purpose::STANDARD;
    let png = engine.decode(kafka_support::listed_image()).unwrap();
    let broken_image = engine.encode(&png[..png.len() / 2]);
    for i in 0..2 {
        let m = json!({
            "message_id": format!("img-{i}"), "conversation_id": "c", "sender_id": "u",
            "recipient_ids": ["r"], "sent_at": "2026-11-26T07:00:00Z",
            "attachments": [{"attachment_id": "a", "media_type": "image/png", "data": broken_image}],
        });
        records.push(Input {
            key: format!("img-{i}"),
            value: serde_json::to_vec(&m).unwrap(),
            partition: None,
        });
    }
    records.extend(poison(3));
    produce(&t.input, &records);
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(&pdq_config(dir.path(), &unique("g"), &t, ""));
    let dlq = read_until(&t.dlq, false, Duration::from_secs(60), |d| d.len() >= 5);
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");
    assert_eq!(dlq.len(), 5);

    let target = unique("replayed");
    create_topics(&[&target], 1);
    let run_replay = |extra: &[&str]| {
        let mut args = vec!["dlq", "replay", "--brokers", brokers(), "--from", &t.dlq];
        args.extend(["--to", &target]);
        args.extend(extra);
        vigil_cli(&args)
    };
    let replay = |extra: &[&str]| -> Value {
        let (ok, stdout, stderr) = run_replay(extra);
        assert!(ok, "{stderr}");
        serde_json::from_str(&stdout).unwrap()
    };
    let dry = replay(&["--reason", "undecodable", "--dry-run"]);
    assert_eq!(
        (dry["read"].as_u64(), dry["replayed"].as_u64()),
        (Some(5), Some(2))
    );
    let first = replay(&["--reason", "undecodable"]);
    assert_eq!(
        (first["replayed"].as_u64(), first["skipped"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(first["by_reason"], json!({"undecodable": 2}));
    let again = replay(&["--reason", "undecodable"]);
    assert_eq!(
        (again["read"].as_u64(), again["replayed"].as_u64()),
        (Some(0), Some(0))
    );
    let (ok, _, stderr) = run_replay(&["--reason", "no_such_reason"]);
    assert!(!ok && stderr.contains("no_such_reason"), "{stderr}");

    let replayed = read_all(&target, false);
    assert_eq!(
        replayed.len(),
        2,
        "the dry run and the repeat produced nothing"
    );
    let originals: BTreeMap<Vec<u8>, &Read> =
        dlq.iter().map(|d| (d.key.clone().unwrap(), d)).collect();
    for r in &replayed {
        let original = originals[r.key.as_ref().unwrap()];
        assert_eq!(r.value, original.value);
        assert_eq!(r.headers["origin"], "test", "original headers kept");
        assert!(r.headers.keys().all(|k| !k.starts_with("vigil.error.")));
        assert_eq!(
            r.headers["vigil.replayed_from"],
            format!("{}/{}/{}", t.dlq, original.partition, original.offset)
        );
    }
}

#[test]
fn a_marker_in_dms_never_reaches_metrics_logs_dead_letter_headers_or_the_audit() {
    let t = topics("canary", 1);
    let marker_b64 = base64::engine::general_purpose::STANDARD.encode(MARKER);
    let mut records: Vec<Input> = [
        json!({"text": format!("keep this a secret {MARKER}")}),
        json!({"text": MARKER, "attachments": [
            {"attachment_id": MARKER, "media_type": "image/png", "data": marker_b64}]}),
        json!({"text": "hi", "attachments": [
            {"attachment_id": "a", "media_type": format!("x/{MARKER}"), "data": marker_b64}]}),
        json!({"text": "hi", "attachments": [
            {"attachment_id": "b", "media_type": "image/png", "uri": format!("file:///{MARKER}")}]}),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, mut m)| {
        m["message_id"] = json!(format!("m-{i}"));
        m["conversation_id"] = json!("c");
        m["sender_id"] = json!("u");
        m["recipient_ids"] = json!(["r"]);
        m["sent_at"] = json!("2026-11-26T07:00:00Z");
        Input {
            key: format!("k-{i}"),
            value: serde_json::to_vec(&m).unwrap(),
            partition: None,
        }
    })
    .collect();
    records.extend(poison(2));
    records.push(Input {
        key: "bad-field".into(),
        value: format!(r#"{{"message_id":"m-9","conversation_id":"c","sender_id":"u","recipient_ids":["r"],"sent_at":"{MARKER}"}}"#).into_bytes(),
        partition: None,
    });
    produce(&t.input, &records);
    let vigil = Vigil::start_logging(&config(&unique("g"), &t, ""), "debug");
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(60), |v| {
        v.len() >= records.len()
    });
    assert_eq!(verdicts.len(), records.len());
    let flags = read_all(&t.flags, false);
    assert!(!flags.is_empty(), "the secrecy phrase is flagged");
    let dlq = read_all(&t.dlq, false);
    assert!(dlq.len() >= 4, "{} dead letters", dlq.len());
    let (_, metrics) = http_get(vigil.admin, "/metrics").unwrap();
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");
    assert!(
        logs.contains("DEBUG") || logs.contains("INFO"),
        "text logs were written"
    );

    let report = vigil_cli(&["audit", "--brokers", brokers(), "--topic", &t.verdicts]).1;
    assert!(report.contains("records"), "{report}");
    for (what, text) in [("metrics", &metrics), ("logs", &logs), ("audit", &report)] {
        assert!(!text.contains(MARKER), "{what} quote the marker");
        assert!(
            !text.contains(&marker_b64),
            "{what} quote the marker's base64"
        );
    }
    for d in &dlq {
        for (name, value) in &d.headers {
            assert!(
                !value.contains(MARKER) && !value.contains(&marker_b64),
                "dead-letter header {name} quotes the marker: {value}"
            );
        }
    }
}

/// A verdict for input offset `offset` of partition 0 of `input`.
fn verdict(input: &str, offset: i64) -> Input {
    let v = json!({
        "schema_version": 1,
        "source": {"kind": "kafka", "topic": input, "partition": 0, "offset": offset},
        "message_id": format!("m-{offset}"), "verdict": "clean",
        "lists": [{"list": "kw", "version": "v1"}], "scanned_at": "2026-11-26T07:00:00Z",
    });
    Input {
        key: format!("m-{offset}"),
        value: serde_json::to_vec(&v).unwrap(),
        partition: Some(0),
    }
}

#[test]
fn the_audit_tells_records_without_a_verdict_from_offsets_without_records() {
    let input = unique("audit-input");
    let verdicts = unique("audit-verdicts");
    create_topics(&[&input, &verdicts], 1);
    let record = |i: i64| Input {
        key: format!("k-{i}"),
        value: format!("record {i}").into_bytes(),
        partition: Some(0),
    };
    // Offsets 0-2 plain; 3-4 in a committed transaction, whose marker takes offset 5; 6 plain.
    produce(&input, &[record(0), record(1), record(2)]);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("transactional.id", unique("audit-txn"))
        .create()
        .unwrap();
    producer.init_transactions(Duration::from_secs(30)).unwrap();
    producer.begin_transaction().unwrap();
    for i in [3, 4] {
        let payload = format!("record {i}");
        producer
            .send(
                BaseRecord::<str, str>::to(&input)
                    .payload(&payload)
                    .partition(0),
            )
            .unwrap();
    }
    producer
        .commit_transaction(Duration::from_secs(30))
        .unwrap();
    produce(&input, &[record(6)]);
    // Verdicts for every record but offset 1.
    produce(&verdicts, &[0, 2, 3, 4, 6].map(|o| verdict(&input, o)));
    let audit = |extra: &[&str]| {
        let mut args = vec!["audit", "--brokers", brokers(), "--topic", &verdicts];
        args.extend(extra);
        let dir = tempfile::tempdir().unwrap();
        let output = common::vigil(dir.path()).args(&args).output().unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
        )
    };
    let (status, report) = audit(&["--format", "json", "--verify-gaps", "--strict"]);
    assert_eq!(status, Some(1), "a record lacks a verdict: {report}");
    let report: Value = serde_json::from_str(&report).unwrap();
    let coverage = &report["coverage"][0];
    assert_eq!(coverage["gaps"], 2);
    assert_eq!(coverage["gap_ranges"], json!([[1, 1], [5, 5]]));
    assert_eq!(coverage["missing_records"], 1);
    assert_eq!(coverage["empty_offsets"], 1);

    produce(&verdicts, &[verdict(&input, 1)]);
    let (status, report) = audit(&["--verify-gaps", "--strict"]);
    assert_eq!(status, Some(0), "{report}");
    assert!(
        report.contains("gaps 1")
            && report.contains("0 records without a verdict, 1 offsets without a record"),
        "{report}"
    );
    let (status, _) = audit(&["--strict"]);
    assert_eq!(status, Some(1), "an unverified gap fails --strict");
}
