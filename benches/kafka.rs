//! End-to-end throughput and latency of `vigil run` through a real local broker, against a
//! minimal rdkafka consume → produce passthrough (no scanning) measured in the same run on
//! the same broker. Not a Criterion bench: each measurement is one long run over a topic.
//!
//! `cargo bench --bench kafka` (starts deploy/local/kafka unless VIGIL_TEST_BROKERS is set;
//! VIGIL_BENCH_QUICK=1 for a smoke run, VIGIL_BENCH_TEXT_ONLY=1 for the text throughput only,
//! VIGIL_BENCH_VARIANTS=vigil-alo,... for some consumers only). Each throughput run also
//! prints the CPU time per message of the consumer, the Kafka client threads, the reader and
//! the broker, which is where the two cores go.
//! Results: docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use vigil_config::Config;
use vigil_kafka::Health;
use vigil_kafka::breaker::Mark;
use vigil_metrics::{BuildInfo, Metrics};
use vigil_scan::{Pipeline, SharedPipeline};

const PARTITIONS: i32 = 4;
/// vigil's `kafka.max_in_flight` here. The default (1,000) caps one consumer at about 100k
/// msg/s: a record stays in flight for the producer's linger (5 ms) plus the broker's
/// acknowledgement, ~10 ms on this machine; more in flight lets the client CPU be the limit.
const MAX_IN_FLIGHT: usize = 10_000;

fn brokers() -> String {
    if let Ok(b) = std::env::var("VIGIL_TEST_BROKERS") {
        return b;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/local/kafka");
    let out = std::process::Command::new(script)
        .arg("start")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("bench-{prefix}-{nanos}")
}

fn create(brokers: &str, topics: &[&str]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for r in rt
        .block_on(admin.create_topics(&new, &AdminOptions::new()))
        .unwrap()
    {
        r.unwrap();
    }
}

fn producer(brokers: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap()
}

/// The payloads: ~180-byte texts, 5 % with a listed phrase; with `image_share`, that share
/// of messages also carries a listed 6 KB PNG.
fn payloads(n: usize, image_share: usize) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dms = std::fs::read_to_string(root.join("examples/dms.jsonl")).unwrap();
    let image = dms
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|m| m["message_id"] == "msg-0002")
        .unwrap()["attachments"][0]["data"]
        .as_str()
        .unwrap()
        .to_string();
    (0..n)
        .map(|i| {
            let phrase = if i % 20 == 7 { "keep this a secret" } else { "see you at practice" };
            let mut m = json!({
                "message_id": format!("m-{i}"), "conversation_id": format!("c-{}", i % 97),
                "sender_id": "u-1", "recipient_ids": ["u-2"], "sent_at": "2026-11-26T07:00:00Z",
                "text": format!("hey, {phrase} tomorrow at six? bring the blue ball, the old one is flat {i}"),
            });
            if image_share > 0 && i % (100 / image_share) == 3 {
                m["attachments"] = json!([{"attachment_id": "a1", "media_type": "image/png", "data": image}]);
            }
            serde_json::to_vec(&m).unwrap()
        })
        .collect()
}

fn produce_all(brokers: &str, topic: &str, payloads: &[Vec<u8>]) {
    let p = producer(brokers);
    for (i, payload) in payloads.iter().enumerate() {
        let key = format!("k-{i}");
        let mut record = BaseRecord::to(topic).key(&key).payload(payload);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    p.poll(Duration::from_millis(5));
                }
            }
        }
    }
    p.flush(Duration::from_secs(120)).unwrap();
}

/// Reads `topic` (from the start) until `n` distinct keys; returns the span of the output
/// records' create timestamps (set by the producing consumer when it sent them, so a late
/// reader does not distort it) and the arrival instant of each key at this reader.
/// `latency_mode` fetches as soon as anything arrives, for arrival instants.
fn count(
    brokers: &str,
    topic: &str,
    n: usize,
    committed: bool,
    timeout: Duration,
    latency_mode: bool,
) -> (Duration, HashMap<Vec<u8>, Instant>) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // Counting for a throughput run needs no low latency: large fetches keep the reader
        // from competing for the CPU with the consumer under test.
        .set("fetch.wait.max.ms", if latency_mode { "5" } else { "500" })
        .set(
            "fetch.min.bytes",
            if latency_mode { "1" } else { "1000000" },
        )
        .set(
            "isolation.level",
            if committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + timeout;
    let mut arrivals = HashMap::with_capacity(n);
    let (mut first_ms, mut last_ms) = (i64::MAX, i64::MIN);
    while arrivals.len() < n {
        assert!(
            Instant::now() < deadline,
            "{topic}: {} of {n} records in {timeout:?}",
            arrivals.len()
        );
        if let Some(Ok(m)) = c.poll(Duration::from_millis(50)) {
            let now = Instant::now();
            if let Some(ms) = m.timestamp().to_millis() {
                first_ms = first_ms.min(ms);
                last_ms = last_ms.max(ms);
            }
            arrivals
                .entry(m.key().unwrap_or_default().to_vec())
                .or_insert(now);
        }
    }
    (
        Duration::from_millis((last_ms - first_ms).max(1) as u64),
        arrivals,
    )
}

/// The baseline: consume, produce a copy, nothing else (idempotent producer, same group
/// protocol as vigil).
fn passthrough(
    brokers: &str,
    input: &str,
    output: &str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let (brokers, input, output) = (brokers.to_string(), input.to_string(), output.to_string());
    std::thread::Builder::new()
        .name("passthrough".into())
        .spawn(move || {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .set("group.id", unique("passthrough"))
                .set("partition.assignment.strategy", "cooperative-sticky")
                .set("auto.offset.reset", "earliest")
                .create()
                .unwrap();
            c.subscribe(&[&input]).unwrap();
            let p = producer(&brokers);
            while !stop.load(Ordering::SeqCst) {
                if let Some(Ok(m)) = c.poll(Duration::from_millis(20)) {
                    let mut record =
                        BaseRecord::to(&output).payload(m.payload().unwrap_or_default());
                    if let Some(k) = m.key() {
                        record = record.key(k);
                    }
                    while let Err((_, r)) = p.send(record) {
                        record = r;
                        p.poll(Duration::from_millis(1));
                    }
                }
                p.poll(Duration::ZERO);
            }
            p.flush(Duration::from_secs(30)).unwrap();
        })
        .unwrap()
}

/// Commits offset 0 of every partition of `input` for `group` with the crash-loop breaker's
/// mark of one unclean start, as a crash right after joining would leave it.
fn mark_one_crash(brokers: &str, group: &str, input: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    let mark = Mark {
        unclean: 1,
        alone: 0,
    };
    for partition in 0..PARTITIONS {
        let mut element = offsets.add_partition(input, partition);
        element.set_offset(Offset::Offset(0)).unwrap();
        element.set_metadata(mark.encode());
    }
    consumer.commit(&offsets, CommitMode::Sync).unwrap();
}

/// Starts `vigil_kafka::run` on `input`: `which` is `vigil-alo`, `vigil-eos`, or
/// `vigil-careful` (at-least-once after one crash: the breaker commits every batch until it
/// has read the backlog).
fn vigil(
    brokers: &str,
    input: &str,
    which: &str,
    stop: Arc<AtomicBool>,
) -> (String, std::thread::JoinHandle<()>) {
    let exactly_once = which == "vigil-eos";
    let group = unique("vigil");
    if which == "vigil-careful" {
        mark_one_crash(brokers, &group, input);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let verdicts = format!("{input}.verdicts");
    create(
        brokers,
        &[
            &format!("{input}.flags"),
            &format!("{input}.dlq"),
            &verdicts,
        ],
    );
    let text = format!(
        r#"[lists]
hash_lists = [{hashes:?}]
keyword_lists = [{keywords:?}]
[kafka]
brokers = "{brokers}"
group_id = "{group}"
input_topics = ["{input}"]
review_topic = "{input}.flags"
dead_letter_topic = "{input}.dlq"
verdict_topic = "{verdicts}"
delivery = "{delivery}"
transactional_id = "{group}"
max_in_flight = {MAX_IN_FLIGHT}
[admin]
listen = "127.0.0.1:0"
"#,
        hashes = root
            .join("examples/lists/sample-hashes.csv")
            .display()
            .to_string(),
        keywords = root
            .join("examples/lists/sample-keywords.csv")
            .display()
            .to_string(),
        delivery = if exactly_once {
            "exactly-once"
        } else {
            "at-least-once"
        },
    );
    let config = Config::from_toml(&text, "bench", root, std::iter::empty()).unwrap();
    let pipeline = Arc::new(SharedPipeline::new(
        Pipeline::from_config(&config.scan()).unwrap(),
    ));
    let config = Arc::new(config.run());
    let health = Arc::new(Health::new(Duration::from_secs(60)));
    // Measured with metrics recorded, as in production.
    let metrics = Arc::new(Metrics::new(&BuildInfo {
        version: "bench",
        delivery: "any",
    }));
    let handle = std::thread::Builder::new()
        .name("vigil-poll".into())
        .spawn(move || vigil_kafka::run(config, pipeline, health, metrics, stop).unwrap())
        .unwrap();
    (verdicts, handle)
}

/// Starts consumer `which` (`passthrough`, `vigil-alo`, `vigil-eos`, `vigil-careful`) on
/// `input`; returns its output topic and thread.
fn start(
    brokers: &str,
    input: &str,
    which: &str,
    stop: Arc<AtomicBool>,
) -> (String, std::thread::JoinHandle<()>) {
    if which == "passthrough" {
        let output = format!("{input}.copy");
        create(brokers, &[&output]);
        let handle = passthrough(brokers, input, &output, stop);
        return (output, handle);
    }
    vigil(brokers, input, which, stop)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// CPU seconds used so far, by role: the consumer under test (`vigil`: its poll, scanning,
/// retry and producer-polling threads; or `passthrough`), `librdkafka` (the client threads of
/// every client in the process, the reader's included), `reader` (the bench's own thread,
/// which counts outputs) and `broker` (the local broker's JVM, when its pid is known).
fn cpu_seconds(broker_pid: Option<u32>) -> HashMap<&'static str, f64> {
    // /proc/<pid>/stat: utime and stime are fields 14 and 15, in clock ticks (100 Hz).
    let read = |path: &Path| -> Option<(String, f64)> {
        let stat = std::fs::read_to_string(path).ok()?;
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
        Some((stat[open + 1..close].to_string(), ticks / 100.0))
    };
    let mut out = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Some((name, used)) = read(&task.path().join("stat")) {
            let role = match name.as_str() {
                n if n.starts_with("rdk:") => "librdkafka",
                n if n.starts_with("vigil-") || n.starts_with("producer poll") => "vigil",
                "passthrough" => "passthrough",
                _ => "reader",
            };
            *out.entry(role).or_insert(0.0) += used;
        }
    }
    if let Some((_, used)) =
        broker_pid.and_then(|pid| read(Path::new(&format!("/proc/{pid}/stat"))))
    {
        out.insert("broker", used);
    }
    out
}

/// The local broker's pid, from `deploy/local/kafka status` ("running host:port (pid N)").
fn broker_pid() -> Option<u32> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/local/kafka");
    let out = std::process::Command::new(script)
        .arg("status")
        .output()
        .ok()?;
    let status = String::from_utf8_lossy(&out.stdout);
    status
        .split("(pid ")
        .nth(1)?
        .trim_end()
        .trim_end_matches(')')
        .parse()
        .ok()
}

/// Pre-produces `payloads`, runs the consumer, measures the output rate between the first and
/// the last output record.
fn throughput(brokers: &str, name: &str, payloads: &[Vec<u8>], which: &str) -> f64 {
    let input = unique(name);
    create(brokers, &[&input]);
    produce_all(brokers, &input, payloads);
    let pid = broker_pid();
    let before = cpu_seconds(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let (output, handle) = start(brokers, &input, which, stop.clone());
    let (span, _) = count(
        brokers,
        &output,
        payloads.len(),
        which == "vigil-eos",
        Duration::from_secs(600),
        false,
    );
    let after = cpu_seconds(pid);
    let per_message = |role: &str| {
        (after.get(role).unwrap_or(&0.0) - before.get(role).unwrap_or(&0.0)) * 1e6
            / payloads.len() as f64
    };
    let consumer = if which == "passthrough" {
        "passthrough"
    } else {
        "vigil"
    };
    println!(
        "  cpu {name:5} {which:12} µs/msg: consumer {:.1}, librdkafka {:.1}, reader {:.1}, broker {:.1}",
        per_message(consumer),
        per_message("librdkafka"),
        per_message("reader"),
        per_message("broker"),
    );
    stop.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    payloads.len() as f64 / span.as_secs_f64()
}

/// Produces at `rate` per second for `seconds` and measures produce → output arrival.
fn latency(brokers: &str, which: &str, rate: f64, seconds: u64) -> (Duration, Duration, usize) {
    let input = unique("latency");
    create(brokers, &[&input]);
    let stop = Arc::new(AtomicBool::new(false));
    let (output, handle) = start(brokers, &input, which, stop.clone());
    std::thread::sleep(Duration::from_secs(3)); // join the group
    let n = (rate * seconds as f64) as usize;
    let payloads = payloads(n, 0);
    let reader = {
        let (brokers, output) = (brokers.to_string(), output.clone());
        let committed = which == "vigil-eos";
        std::thread::spawn(move || {
            count(
                &brokers,
                &output,
                n,
                committed,
                Duration::from_secs(seconds + 120),
                true,
            )
            .1
        })
    };
    let p = producer(brokers);
    let start = Instant::now();
    let mut sent = Vec::with_capacity(n);
    for (i, payload) in payloads.iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let key = format!("k-{i}");
        sent.push((key.clone().into_bytes(), Instant::now()));
        let mut record = BaseRecord::to(&input).key(&key).payload(payload);
        while let Err((_, r)) = p.send(record) {
            record = r;
            p.poll(Duration::from_millis(1));
        }
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(30)).unwrap();
    let arrivals = reader.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    // Skip the first second (warm-up).
    let skip = rate as usize;
    let mut latencies: Vec<Duration> = sent[skip..]
        .iter()
        .map(|(key, at)| arrivals[key].saturating_duration_since(*at))
        .collect();
    latencies.sort();
    (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.len(),
    )
}

fn main() {
    let brokers = brokers();
    let quick = std::env::var("VIGIL_BENCH_QUICK").is_ok();
    let (n_text, n_mix) = if quick {
        (5_000, 2_000)
    } else {
        (100_000, 30_000)
    };
    let text = payloads(n_text, 0);
    let mix = payloads(n_mix, 10);
    println!(
        "broker {brokers}; text-only {n_text} messages (~{} B), 10 % image mix {n_mix} messages",
        text[0].len()
    );

    // Interleaved repetitions (A B C A B C ...) so that the machine's noise hits every variant
    // alike; the median of each is reported.
    let reps = if quick { 1 } else { 3 };
    let mut results = Vec::new();
    // VIGIL_BENCH_TEXT_ONLY=1: the text-only throughput comparison alone (for iterating).
    let text_only = std::env::var("VIGIL_BENCH_TEXT_ONLY").is_ok();
    // VIGIL_BENCH_VARIANTS=vigil-alo,passthrough: only those consumers (for profiling one).
    let variants = std::env::var("VIGIL_BENCH_VARIANTS").unwrap_or_default();
    let workloads: &[(&str, &Vec<Vec<u8>>)] = if text_only {
        &[("text", &text)]
    } else {
        &[("text", &text), ("mix", &mix)]
    };
    for &(name, payloads) in workloads {
        let mut runs: Vec<(&str, Vec<f64>)> =
            ["passthrough", "vigil-alo", "vigil-eos", "vigil-careful"]
                .iter()
                .filter(|w| variants.is_empty() || variants.split(',').any(|v| v == **w))
                .map(|w| (*w, Vec::new()))
                .collect();
        for _ in 0..reps {
            for (which, rates) in &mut runs {
                rates.push(throughput(&brokers, name, payloads, which));
            }
        }
        for (which, mut rates) in runs {
            rates.sort_by(f64::total_cmp);
            let median = rates[rates.len() / 2];
            let all: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "throughput {name:5} {which:12} {median:>9.0} msg/s  (runs: {})",
                all.join(", ")
            );
            results.push((name, which, median));
        }
    }
    let rate = |name: &str, which: &str| {
        results
            .iter()
            .find(|r| r.0 == name && r.1 == which)
            .map_or(f64::NAN, |r| r.2)
    };
    for name in ["text", "mix"] {
        println!(
            "ratio {name:5} vigil-alo/passthrough {:.2}  vigil-eos/vigil-alo {:.2}  \
             vigil-careful/vigil-alo {:.2}",
            rate(name, "vigil-alo") / rate(name, "passthrough"),
            rate(name, "vigil-eos") / rate(name, "vigil-alo"),
            rate(name, "vigil-careful") / rate(name, "vigil-alo"),
        );
    }
    if text_only {
        return;
    }
    let half = rate("text", "vigil-alo") / 2.0;
    let seconds = if quick { 5 } else { 15 };
    for which in ["passthrough", "vigil-alo", "vigil-eos"] {
        let (p50, p99, samples) = latency(&brokers, which, half, seconds);
        println!(
            "latency text {which:12} at {half:.0} msg/s: p50 {:.1} ms  p99 {:.1} ms  ({samples} samples)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}
