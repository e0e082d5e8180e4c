//! Containing false positives through a real broker (`[containment]`): an entry disabled with
//! `vigil lists disable` is not flagged but reported and counted; reviewers' false-positive
//! decisions on the decisions topic quarantine an entry, so its flags go to the verification
//! topic with the reason; and a flood of one entry across conversations is counted across two
//! `vigil run` instances through the sightings topic, not per process.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_support::{
    Input, Vigil, create_topics, http_get, kafka_section, lists_section, messages, produce,
    read_until, topics, unique,
};
use serde_json::json;

/// `[containment]` and `[review]` sections naming topics of this test's own.
fn containment_section(prefix: &str, extra: &str) -> (String, String, String) {
    let (state, verify, decisions) = (
        unique(&format!("{prefix}-state")),
        unique(&format!("{prefix}-verify")),
        unique(&format!("{prefix}-decisions")),
    );
    create_topics(&[&verify, &decisions], 2);
    let section = format!(
        "[containment]\nenabled = true\nstate_topic = \"{state}\"\n\
         sightings_topic = \"{state}.sightings\"\nverification_topic = \"{verify}\"\n\
         topic_partitions = 2\ntopic_replication_factor = 1\n{extra}\n\
         [review]\ndecisions_topic = \"{decisions}\"\n"
    );
    (section, verify, decisions)
}

/// `vigil lists …` with `config` written to a file of its own; returns stdout.
fn lists_command(dir: &std::path::Path, config: &str, args: &[&str]) -> String {
    let mut all = vec!["lists"];
    all.extend_from_slice(args);
    vigil_command(dir, config, &all)
}

/// `vigil …` with `config` written to a file of its own; returns stdout.
fn vigil_command(dir: &std::path::Path, config: &str, args: &[&str]) -> String {
    let path = dir.join("tool.toml");
    std::fs::write(&path, config).unwrap();
    let output = common::run(
        common::vigil(dir)
            .args(args)
            .args(["--config", path.to_str().unwrap()]),
        b"",
    );
    assert!(
        output.status.success(),
        "vigil {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn metric(admin: std::net::SocketAddr, line: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = http_get(admin, "/metrics")
            .map(|(_, t)| t)
            .unwrap_or_default();
        if text.lines().any(|l| l == line) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn disabled_entries_are_counted_not_flagged_and_false_positives_quarantine_into_verification() {
    let dir = tempfile::tempdir().unwrap();
    let t = topics("contain", 2);
    let (containment, verify, decisions) = containment_section("contain", "");
    let group = unique("g");
    let config = format!(
        "{}{}{containment}",
        lists_section(),
        kafka_section(&group, &t.input, "")
    );

    // An operator disables the listed image's entry before vigil starts...
    lists_command(
        dir.path(),
        &config,
        &[
            "disable",
            "sample-hashes",
            "iwf-000101",
            "--reason",
            "stock photo",
            "--by",
            "ops-1",
            "--until",
            "30d",
        ],
    );
    // ...and reviewers have marked the secrecy rule a false positive on three flags, and
    // confirmed it once: precision 25 % with 3 false positives.
    let decision = |id: i64, flag: &str, outcome: &str| {
        Input {
        key: flag.into(),
        value: serde_json::to_vec(&json!({
            "schema_version": 1, "decision_id": id, "flag_id": flag, "message_id": "m",
            "queue": "vigil.flags", "decision": if outcome == "confirmed" { "confirm" } else { "false_positive" },
            "reviewer": "reviewer-1", "role": "reviewer",
            "decided_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap(),
            "matches": [{"detector": "keyword", "list": "sample-keywords", "list_version": "v",
                         "entry": "kw-secrecy-001", "category": "grooming.secrecy", "outcome": outcome}],
        }))
        .unwrap(),
        partition: None,
    }
    };
    produce(
        &decisions,
        &[
            decision(1, "f-1", "false_positive"),
            decision(2, "f-2", "false_positive"),
            decision(3, "f-3", "false_positive"),
            decision(4, "f-4", "confirmed"),
        ],
    );
    let vigil = Vigil::start(&config);
    let quarantined = "vigil_entries_quarantined{reason=\"precision\"} 1";
    let text = metric(vigil.admin, quarantined, Duration::from_secs(60));
    assert!(
        text.lines().any(|l| l == quarantined),
        "{}\n{text}",
        vigil.logs()
    );
    assert!(
        text.contains("vigil_entry_decisions_total{outcome=\"false_positive\"} 3"),
        "{text}"
    );
    assert!(text.contains("vigil_entries_disabled 1"), "{text}");

    let (records, _) = messages(60, "ct");
    let with_image: BTreeSet<String> = (0..60)
        .filter(|i| i % 11 == 5)
        .map(|i| format!("ct-{i:06}"))
        .collect();
    let with_phrase: BTreeSet<String> = (0..60)
        .filter(|i| i % 7 == 3)
        .map(|i| format!("ct-{i:06}"))
        .collect();
    produce(&t.input, &records);
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(120), |v| {
        v.len() >= records.len()
    });
    let flags = read_until(&verify, false, Duration::from_secs(60), |f| {
        f.len() >= with_phrase.len()
    });
    let metrics = http_get(vigil.admin, "/metrics").unwrap().1;
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");

    let (verdict_schema, flag_schema) = (common::schema("verdict"), common::schema("flag"));
    let mut suppressed_in = BTreeSet::new();
    for v in &verdicts {
        let v = v.json();
        common::assert_valid(&verdict_schema, v);
        let id = v["message_id"].as_str().unwrap().to_string();
        if let Some(suppressed) = v["suppressed"].as_array() {
            suppressed_in.insert(id.clone());
            assert_eq!(
                (
                    suppressed.len(),
                    &suppressed[0]["entry"],
                    &suppressed[0]["reason"]
                ),
                (1, &json!("iwf-000101"), &json!("disabled")),
                "{v}"
            );
        }
        if with_phrase.contains(&id) {
            assert_eq!(v["verdict"], "flagged", "{v}");
            assert_eq!(v["review_topic"], json!(verify), "{v}");
            assert_eq!(
                v["quarantined"],
                json!([{"list": "sample-keywords", "list_version": v["quarantined"][0]["list_version"],
                        "entry": "kw-secrecy-001", "reason": "precision"}]),
                "{v}"
            );
        } else {
            assert_eq!(v["verdict"], "clean", "{v}");
        }
    }
    assert_eq!(suppressed_in, with_image);
    // Nothing reached the main review topic; every phrase went to verification, saying why.
    assert!(read_until(&t.flags, false, Duration::from_secs(2), |_| false).is_empty());
    let flagged: BTreeSet<String> = flags
        .iter()
        .map(|f| {
            common::assert_valid(&flag_schema, f.json());
            assert_eq!(
                f.headers.get("vigil.quarantine").map(String::as_str),
                Some("precision")
            );
            let entries = &f.json()["entries"];
            assert_eq!(entries[0]["quarantine"], "precision", "{}", f.json());
            assert!(entries[0]["conversations"].as_u64().unwrap() >= 1);
            f.json()["message_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(flagged, with_phrase);
    for line in [
        format!(
            "vigil_matches_suppressed_total{{list=\"sample-hashes\",reason=\"disabled\"}} {}",
            with_image.len()
        ),
        format!(
            "vigil_matches_quarantined_total{{list=\"sample-keywords\",reason=\"precision\"}} {}",
            with_phrase.len()
        ),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }

    // The audit attributes both to their list versions, from verdicts alone.
    let audit: serde_json::Value = serde_json::from_str(&vigil_command(
        dir.path(),
        &config,
        &["audit", "--format", "json"],
    ))
    .unwrap();
    let list = |name: &str| {
        audit["lists"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["list"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        list("sample-hashes")["suppressed"],
        json!({"disabled": with_image.len()})
    );
    assert_eq!(
        list("sample-keywords")["quarantined"],
        json!({"precision": with_phrase.len()})
    );

    // The overlay as an operator sees it, then the entry enabled and the rule reinstated.
    let shown = lists_command(dir.path(), &config, &["disabled", "--json"]);
    let rows: Vec<serde_json::Value> = common::json_lines(shown.as_bytes());
    let summary: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["entry"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["by"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("iwf-000101", "disabled", "ops-1"),
            ("kw-secrecy-001", "quarantined", "-")
        ]
    );
    assert_eq!(rows[0]["reason"], "stock photo");
    assert_eq!(rows[1]["false_positives"], 3);
    lists_command(
        dir.path(),
        &config,
        &["enable", "sample-hashes", "iwf-000101", "--by", "ops-1"],
    );
    lists_command(
        dir.path(),
        &config,
        &[
            "reinstate",
            "sample-keywords",
            "kw-secrecy-001",
            "--by",
            "lead-1",
        ],
    );
    assert_eq!(
        lists_command(dir.path(), &config, &["disabled", "--json"]),
        ""
    );
}

/// Two `vigil run` instances of one group, once both own partitions (before anything is
/// produced).
fn start_group(config: &str) -> [Vigil; 2] {
    let both = [Vigil::start(config), Vigil::start(config)];
    let assigned = |admin| {
        http_get(admin, "/metrics")
            .map(|(_, t)| {
                t.lines()
                    .any(|l| l.starts_with("vigil_assigned_partitions ") && !l.ends_with(" 0"))
            })
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !both.iter().all(|v| assigned(v.admin)) {
        assert!(
            Instant::now() < deadline,
            "the group did not settle:\n{}\n{}",
            both[0].logs(),
            both[1].logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    both
}

/// Messages planting the secrecy phrase, one per conversation.
fn phrase_messages(n: usize, tag: &str) -> Vec<Input> {
    (0..n)
        .map(|i| {
            let m = json!({
                "message_id": format!("{tag}-{i:04}"), "conversation_id": format!("{tag}-c{i}"),
                "sender_id": format!("u-{i}"), "recipient_ids": ["r"], "sent_at": "2026-12-07T10:00:00Z",
                "text": "ok, keep this a secret",
            });
            Input {
                key: format!("{tag}-c{i}"),
                value: serde_json::to_vec(&m).unwrap(),
                partition: Some(i32::try_from(i % 4).unwrap()),
            }
        })
        .collect()
}

#[test]
fn a_flood_is_counted_across_instances_and_goes_to_verification_after_the_limit() {
    const LIMIT: usize = 5;
    const MESSAGES: usize = 30;
    let t = topics("flood", 4);
    let (containment, verify, _) = containment_section(
        "flood",
        &format!("flood_conversations = {LIMIT}\nfeed_decisions = false\n"),
    );
    let group = unique("g");
    let config = format!(
        "{}{}{containment}",
        lists_section(),
        kafka_section(&group, &t.input, "")
    );
    let [first, second] = start_group(&config);
    // One message at a time, as a viral phrase spreads: each instance sees the other's
    // sightings well before its next message.
    for record in phrase_messages(MESSAGES, "fl") {
        produce(&t.input, std::slice::from_ref(&record));
        std::thread::sleep(Duration::from_millis(150));
    }
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(120), |v| {
        v.len() >= MESSAGES
    });
    let main = read_until(&t.flags, false, Duration::from_secs(5), |f| {
        f.len() >= MESSAGES
    });
    let held = read_until(&verify, false, Duration::from_secs(30), |f| {
        main.len() + f.len() >= MESSAGES
    });
    let (first_ok, first_logs) = first.terminate(Duration::from_secs(30));
    let (second_ok, second_logs) = second.terminate(Duration::from_secs(30));
    assert!(first_ok && second_ok, "{first_logs}\n{second_logs}");
    assert_eq!(verdicts.len(), MESSAGES);

    // The first LIMIT conversations are flagged as usual; the flood goes to verification. Per
    // process counting would have let each instance flag LIMIT of its own (2 × LIMIT).
    assert_eq!(main.len() + held.len(), MESSAGES);
    assert!(
        (LIMIT..LIMIT + 2).contains(&main.len()),
        "{} flags reached the main queue, {} verification",
        main.len(),
        held.len()
    );
    for f in &held {
        assert_eq!(
            f.headers.get("vigil.quarantine").map(String::as_str),
            Some("flood")
        );
        let entry = &f.json()["entries"][0];
        assert_eq!(entry["quarantine"], "flood");
        assert!(
            entry["conversations"].as_u64().unwrap() > LIMIT as u64,
            "{entry}"
        );
    }
    // Which instance scanned which message: both handled part of the flood.
    let by_partition: BTreeSet<i64> = verdicts.iter().map(|v| v.source().0).collect();
    assert_eq!(by_partition.len(), 4);
}

/// A decision record for `entry` of the keyword list, as the console publishes it.
fn decision_record(id: i64, flag: &str, entry: &str, outcome: &str) -> Input {
    let decided_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    Input {
        key: flag.into(),
        value: serde_json::to_vec(&json!({
            "schema_version": 1, "decision_id": id, "flag_id": flag, "message_id": "m",
            "queue": "vigil.flags", "decision": "false_positive", "reviewer": "reviewer-1",
            "role": "reviewer", "decided_at": decided_at,
            "matches": [{"detector": "keyword", "list": "sample-keywords", "list_version": "v",
                         "entry": entry, "category": "grooming.secrecy", "outcome": outcome}],
        }))
        .unwrap(),
        partition: None,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The figure docs/lists.md quotes: from a false-positive decision on the decisions topic to
/// the first message scanned under the quarantine it causes (feedback, state topic, every
/// instance's table), 40 times; a probe message every 10 ms tells when the effect begins.
#[test]
#[ignore = "a measurement: cargo test --test containment -- --ignored --nocapture decision_to_effect"]
fn decision_to_effect_latency() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
    const ROUNDS: usize = 40;
    let t = topics("latency", 1);
    let (containment, _, decisions) = containment_section(
        "latency",
        "quarantine_min_false_positives = 1\nflood_conversations = 0\n",
    );
    let state = containment
        .lines()
        .find_map(|l| l.strip_prefix("state_topic = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    let config = format!(
        "{}{}{containment}",
        lists_section(),
        kafka_section(&unique("g"), &t.input, "")
    );
    let vigil = Vigil::start(&config);
    let verdicts: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka_support::brokers())
        .set("group.id", unique("probe"))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for partition in 0..2 {
        tpl.add_partition_offset(&t.verdicts, partition, Offset::End)
            .unwrap();
    }
    verdicts.assign(&tpl).unwrap();
    let probe = |n: usize| {
        let m = json!({"message_id": format!("p-{n}"), "conversation_id": "c", "sender_id": "u",
                       "recipient_ids": ["r"], "sent_at": "2026-12-07T10:00:00Z",
                       "text": "keep this a secret"});
        Input {
            key: "c".into(),
            value: serde_json::to_vec(&m).unwrap(),
            partition: Some(0),
        }
    };
    let producer: rdkafka::producer::BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka_support::brokers())
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let send = |topic: &str, input: &Input| {
        use rdkafka::producer::{BaseRecord, Producer};
        let mut record = BaseRecord::to(topic).key(&input.key).payload(&input.value);
        if let Some(p) = input.partition {
            record = record.partition(p);
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
        producer.flush(Duration::from_secs(10)).unwrap();
    };
    // Probes until a verdict's quarantine state is `quarantined`; returns its scan time.
    let mut n = 0;
    let mut until = |quarantined: bool| -> time::OffsetDateTime {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "no effect:\n{}", vigil.logs());
            n += 1;
            send(&t.input, &probe(n));
            let polled = Instant::now();
            while polled.elapsed() < Duration::from_millis(10) {
                if let Some(Ok(m)) = verdicts.poll(Duration::from_millis(2)) {
                    let v: serde_json::Value =
                        serde_json::from_slice(m.payload().unwrap()).unwrap();
                    if v.get("quarantined").is_some() == quarantined {
                        let at = v["scanned_at"].as_str().unwrap();
                        return time::OffsetDateTime::parse(
                            at,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .unwrap();
                    }
                }
            }
        }
    };
    let mut latencies = Vec::new();
    for round in 0..ROUNDS {
        until(false);
        let decided = time::OffsetDateTime::now_utc();
        send(
            &decisions,
            &decision_record(
                round as i64 + 1,
                &format!("f-{round}"),
                "kw-secrecy-001",
                "false_positive",
            ),
        );
        let effect = until(true);
        latencies.push((effect - decided).as_seconds_f64() * 1000.0);
        // Reinstate (what `vigil lists reinstate` writes) for the next round.
        let key = serde_json::to_vec(&["verified", "sample-keywords", "kw-secrecy-001"]).unwrap();
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let value = serde_json::to_vec(&json!({"by": "bench", "at": at})).unwrap();
        send(
            &state,
            &Input {
                key: String::from_utf8(key).unwrap(),
                value,
                partition: None,
            },
        );
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "decision → effect over {ROUNDS} rounds: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies[latencies.len() - 1]
    );
    let (ok, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(ok, "{logs}");
}

/// The figures docs/lists.md quotes for the state topic: its bytes per decided (entry, flag)
/// as the local broker stores them, the feedback's rate, and how long a restart takes to read
/// the state back, for `DECISIONS` decisions on distinct entries.
#[test]
#[ignore = "a measurement: cargo test --test containment -- --ignored --nocapture state_topic_size"]
fn state_topic_size_and_catch_up() {
    const DECISIONS: usize = 200_000;
    let t = topics("size", 1);
    let (containment, _, decisions) = containment_section("size", "");
    let state = containment
        .lines()
        .find_map(|l| l.strip_prefix("state_topic = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    let config = format!(
        "{}{}{containment}",
        lists_section(),
        kafka_section(&unique("g"), &t.input, "")
    );
    let records: Vec<Input> = (0..DECISIONS)
        .map(|i| {
            decision_record(
                i as i64 + 1,
                &format!("{i:032x}"),
                &format!("entry-{i:07}"),
                "false_positive",
            )
        })
        .collect();
    produce(&decisions, &records);
    let started = Instant::now();
    let vigil = Vigil::start(&config);
    let line = format!("vigil_entry_decisions_total{{outcome=\"false_positive\"}} {DECISIONS}");
    let text = metric(vigil.admin, &line, Duration::from_secs(600));
    assert!(text.lines().any(|l| l == line), "{text}");
    let fed = started.elapsed();
    let (ok, _) = vigil.terminate(Duration::from_secs(30));
    assert!(ok);
    // A restart reads the whole state before scanning.
    let restarted = Instant::now();
    let vigil = Vigil::start(&config);
    let ready = restarted.elapsed();
    let logs = vigil.logs();
    let read_line = logs
        .lines()
        .find(|l| l.contains("entry state read"))
        .unwrap_or("")
        .to_string();
    let (ok, _) = vigil.terminate(Duration::from_secs(30));
    assert!(ok);
    let data = common::root().join(".cache/kafka/run-9092/data");
    let bytes: u64 = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{state}-"))
        })
        .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
        .filter(|f| f.file_name().to_string_lossy().ends_with(".log"))
        .map(|f| f.metadata().unwrap().len())
        .sum();
    println!(
        "{DECISIONS} decisions: fed in {:.1} s ({:.0}/s); state topic {bytes} bytes ({:.0} bytes per decided entry, {:.0} MB per million); restart ready in {:.1} s; {read_line}",
        fed.as_secs_f64(),
        DECISIONS as f64 / fed.as_secs_f64(),
        bytes as f64 / DECISIONS as f64,
        bytes as f64 / DECISIONS as f64,
        ready.as_secs_f64(),
    );
}

/// One phrase message per partition of a 4-partition topic, ids `<tag>-p<partition>`.
fn one_per_partition(tag: &str) -> Vec<Input> {
    (0..4)
        .map(|p| {
            let m = json!({
                "message_id": format!("{tag}-p{p}"), "conversation_id": format!("{tag}-c{p}"),
                "sender_id": "u-1", "recipient_ids": ["r"], "sent_at": "2026-12-07T10:00:00Z",
                "text": "ok, keep this a secret",
            });
            Input {
                key: format!("{tag}-c{p}"),
                value: serde_json::to_vec(&m).unwrap(),
                partition: Some(p),
            }
        })
        .collect()
}

/// The review topic each message of `tag` went to (from the verdicts), once all 4 have one.
fn routed(verdicts: &str, tag: &str) -> Vec<String> {
    let prefix = format!("{tag}-p");
    let found = read_until(verdicts, false, Duration::from_secs(60), |v| {
        v.iter()
            .filter(|r| {
                r.json()["message_id"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(&prefix)
            })
            .count()
            >= 4
    });
    let mut topics: Vec<(String, String)> = found
        .iter()
        .filter_map(|r| {
            let id = r.json()["message_id"].as_str()?.to_string();
            id.starts_with(&prefix).then(|| {
                (
                    id,
                    r.json()["review_topic"].as_str().unwrap_or("").to_string(),
                )
            })
        })
        .collect();
    topics.sort();
    topics.into_iter().map(|(_, topic)| topic).collect()
}

#[test]
fn a_quarantine_from_decisions_reaches_both_instances_within_seconds_and_survives_their_restart() {
    let t = topics("qr", 4);
    let (containment, verify, decisions) = containment_section("qr", "flood_conversations = 0\n");
    let config = format!(
        "{}{}{containment}",
        lists_section(),
        kafka_section(&unique("g"), &t.input, "")
    );
    let both = start_group(&config);
    produce(&t.input, &one_per_partition("before"));
    assert_eq!(routed(&t.verdicts, "before"), vec![t.flags.clone(); 4]);

    // Three false positives on the rule arrive on the decisions topic.
    let decided = Instant::now();
    produce(
        &decisions,
        &(1..=3)
            .map(|i| decision_record(i, &format!("qr-f{i}"), "kw-secrecy-001", "false_positive"))
            .collect::<Vec<_>>(),
    );
    // Rounds of one message per partition (so both instances scan some) until every one of
    // a round goes to verification.
    let mut round = 0;
    let took = loop {
        round += 1;
        let tag = format!("after{round}");
        produce(&t.input, &one_per_partition(&tag));
        if routed(&t.verdicts, &tag) == vec![verify.clone(); 4] {
            break decided.elapsed();
        }
        assert!(
            decided.elapsed() < Duration::from_secs(10),
            "no quarantine within 10 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    println!("quarantine in force on both instances {took:?} after the decisions");
    for vigil in both {
        let (ok, logs) = vigil.terminate(Duration::from_secs(30));
        assert!(ok, "{logs}");
    }

    // Both restart: the state is read back from the compacted topic before scanning.
    let both = start_group(&config);
    produce(&t.input, &one_per_partition("restarted"));
    assert_eq!(routed(&t.verdicts, "restarted"), vec![verify.clone(); 4]);
    for vigil in both {
        let (ok, logs) = vigil.terminate(Duration::from_secs(30));
        assert!(ok, "{logs}");
    }
}
