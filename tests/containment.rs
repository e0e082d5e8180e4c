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
    let first = Vigil::start(&config);
    let second = Vigil::start(&config);
    // Both members own partitions before anything is produced.
    let assigned = |admin| {
        http_get(admin, "/metrics")
            .map(|(_, t)| {
                t.lines()
                    .any(|l| l.starts_with("vigil_assigned_partitions ") && !l.ends_with(" 0"))
            })
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(assigned(first.admin) && assigned(second.admin)) {
        assert!(
            Instant::now() < deadline,
            "the group did not settle:\n{}\n{}",
            first.logs(),
            second.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
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
