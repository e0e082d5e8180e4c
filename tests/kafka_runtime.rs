//! `vigil run` against a real Apache Kafka broker (started by deploy/local/kafka): every
//! record gets a verdict, every planted match a flag, across crashes, restarts, scale-out
//! and poison records; exactly-once mode leaves no duplicates.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_support::{
    Input, Read, Vigil, brokers, config, create_topics, kafka_section, lists_section, messages,
    produce, read_all, read_until, topics, unique,
};
use serde_json::json;

/// Verdicts keyed by input (partition, offset).
fn by_offset(verdicts: &[Read]) -> BTreeMap<(i64, i64), Vec<&serde_json::Value>> {
    let mut map: BTreeMap<(i64, i64), Vec<&serde_json::Value>> = BTreeMap::new();
    for v in verdicts {
        map.entry(v.source()).or_default().push(v.json());
    }
    map
}

/// Flags keyed by message id (each id's flags, in read order).
fn flags_by_message(flags: &[Read]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in flags {
        let f = f.json();
        map.entry(f["message_id"].as_str().unwrap().to_string())
            .or_default()
            .push(f["flag_id"].as_str().unwrap().to_string());
    }
    map
}

/// Every input offset has a verdict.
fn covers(verdicts: &[Read], input_offsets: &BTreeSet<(i64, i64)>) -> bool {
    let seen: BTreeSet<(i64, i64)> = verdicts.iter().map(Read::source).collect();
    input_offsets.is_subset(&seen)
}

fn input_offsets(topic: &str, n: usize) -> BTreeSet<(i64, i64)> {
    read_until(topic, false, Duration::from_secs(60), |r| r.len() >= n)
        .iter()
        .map(|r| (i64::from(r.partition), r.offset))
        .collect()
}

#[test]
fn end_to_end_every_planted_match_is_flagged_and_every_offset_has_a_verdict() {
    let t = topics("e2e", 4);
    let (records, expected) = messages(400, "e2e");
    produce(&t.input, &records);
    let vigil = Vigil::start(&config(&unique("g"), &t, ""));
    let offsets = input_offsets(&t.input, records.len());
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(120), |v| {
        covers(v, &offsets)
    });
    let flags = read_until(&t.flags, false, Duration::from_secs(30), |f| {
        f.len() >= expected.len()
    });
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");

    assert!(covers(&verdicts, &offsets), "verdicts miss offsets\n{logs}");
    assert_eq!(verdicts.len(), records.len(), "one verdict per record");
    let flagged = flags_by_message(&flags);
    assert_eq!(flagged.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(
        flagged.values().all(|ids| ids.len() == 1),
        "duplicates without a crash"
    );
    let verdict_kinds: BTreeMap<String, usize> =
        verdicts.iter().fold(BTreeMap::new(), |mut m, v| {
            *m.entry(v.json()["verdict"].as_str().unwrap().to_string())
                .or_default() += 1;
            m
        });
    assert_eq!(verdict_kinds.get("flagged"), Some(&expected.len()));
    assert_eq!(
        verdict_kinds.get("clean"),
        Some(&(records.len() - expected.len()))
    );
    // Flags are keyed by conversation and carry their id in a header.
    for f in &flags {
        assert_eq!(f.headers["vigil.flag_id"], f.json()["flag_id"]);
        assert_eq!(
            f.key.as_deref(),
            f.json()["conversation_id"].as_str().map(str::as_bytes)
        );
    }
    let validator = common::schema("flag");
    for f in flags.iter().take(20) {
        common::assert_valid(&validator, f.json());
    }
    let validator = common::schema("verdict");
    for v in verdicts.iter().take(50) {
        common::assert_valid(&validator, v.json());
    }
}

#[test]
fn poison_records_go_to_the_dead_letter_topic_and_good_ones_are_unaffected() {
    let t = topics("poison", 2);
    let (mut records, expected) = messages(120, "poison");
    let poison = [
        b"{not json".to_vec(),
        br#"{"message_id":"p-2","text":"SECRET-CONTENT-55aa"}"#.to_vec(),
        vec![0xff, 0xfe, 0x00],
        Vec::new(),
        br#"[1,2,3]"#.to_vec(),
    ];
    for (i, value) in poison.iter().enumerate() {
        records.insert(
            i * 20,
            Input {
                key: format!("poison-{i}"),
                value: value.clone(),
                partition: None,
            },
        );
    }
    produce(&t.input, &records);
    let vigil = Vigil::start(&config(&unique("g"), &t, ""));
    let offsets = input_offsets(&t.input, records.len());
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(120), |v| {
        covers(v, &offsets)
    });
    let dlq = read_until(&t.dlq, false, Duration::from_secs(30), |d| {
        d.len() >= poison.len()
    });
    let flags = read_until(&t.flags, false, Duration::from_secs(30), |f| {
        f.len() >= expected.len()
    });
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");

    assert_eq!(dlq.len(), poison.len());
    let dead: BTreeSet<Vec<u8>> = dlq.iter().map(|d| d.value.clone()).collect();
    assert_eq!(dead, poison.iter().cloned().collect());
    let reasons: BTreeSet<&str> = dlq
        .iter()
        .map(|d| d.headers["vigil.error.reason"].as_str())
        .collect();
    let want: BTreeSet<&str> = [
        "malformed_json",
        "missing_field",
        "invalid_utf8",
        "empty_line",
    ]
    .into();
    assert_eq!(reasons, want);
    for d in &dlq {
        assert_eq!(d.headers["origin"], "test", "original headers kept");
        assert_eq!(d.headers["vigil.error.topic"], t.input);
        let (p, o) = (
            d.headers["vigil.error.partition"].parse::<i64>().unwrap(),
            d.headers["vigil.error.offset"].parse::<i64>().unwrap(),
        );
        assert!(offsets.contains(&(p, o)));
        assert!(
            d.key.as_deref().unwrap().starts_with(b"poison-"),
            "original key kept"
        );
        for value in d.headers.values() {
            assert!(
                !value.contains("SECRET-CONTENT"),
                "content in a header: {value}"
            );
        }
    }
    assert!(!logs.contains("SECRET-CONTENT"), "content in the logs");
    assert_eq!(
        flags_by_message(&flags)
            .into_keys()
            .collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(verdicts.len(), records.len());
}

#[test]
fn kill_9_mid_stream_loses_nothing_and_duplicates_only_as_identical_flags() {
    let t = topics("crash", 4);
    let (records, expected) = messages(3000, "crash");
    produce(&t.input, &records);
    let offsets = input_offsets(&t.input, records.len());
    let group = unique("g");
    let settings = config(&group, &t, "max_in_flight = 200");
    let vigil = Vigil::start(&settings);
    read_until(&t.verdicts, false, Duration::from_secs(60), |v| {
        v.len() >= 300
    });
    vigil.kill();
    let vigil = Vigil::start(&settings);
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(180), |v| {
        covers(v, &offsets)
    });
    let flags = read_until(&t.flags, false, Duration::from_secs(30), |f| {
        flags_by_message(f).len() >= expected.len()
    });
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");

    assert!(
        covers(&verdicts, &offsets),
        "an input offset has no verdict"
    );
    let flagged = flags_by_message(&flags);
    assert_eq!(
        flagged.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "an expected flag is missing"
    );
    for (message, ids) in &flagged {
        let distinct: BTreeSet<_> = ids.iter().collect();
        assert_eq!(
            distinct.len(),
            1,
            "{message}: redelivered flags must have identical ids"
        );
    }
    // The kill came before the first auto-commit (5 s), so work was redone: the test saw a
    // real recovery, not a consumer that had already finished.
    let redelivered = verdicts.len() - offsets.len();
    eprintln!(
        "kill -9: {} verdicts for {} records ({redelivered} redelivered)",
        verdicts.len(),
        offsets.len()
    );
    assert!(
        redelivered > 0,
        "nothing was redelivered: the kill did not interrupt anything"
    );
}

#[test]
fn graceful_shutdown_commits_so_a_restart_rereads_nothing() {
    let t = topics("graceful", 2);
    let (records, _) = messages(200, "graceful");
    produce(&t.input, &records);
    let offsets = input_offsets(&t.input, records.len());
    let settings = config(&unique("g"), &t, "");
    let vigil = Vigil::start(&settings);
    read_until(&t.verdicts, false, Duration::from_secs(60), |v| {
        covers(v, &offsets)
    });
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");
    assert!(logs.contains("stopped"), "{logs}");

    let vigil = Vigil::start(&settings);
    std::thread::sleep(Duration::from_secs(3));
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(5), |_| false);
    assert_eq!(
        verdicts.len(),
        records.len(),
        "the restart re-read completed records"
    );
}

#[test]
fn two_consumers_split_the_partitions_and_one_leaving_loses_nothing() {
    let t = topics("scale", 4);
    let (first, _) = messages(400, "scale-a");
    let settings = config(&unique("g"), &t, "");
    let a = Vigil::start(&settings);
    let b = Vigil::start(&settings);
    produce(&t.input, &first);
    let offsets = input_offsets(&t.input, first.len());
    read_until(&t.verdicts, false, Duration::from_secs(120), |v| {
        covers(v, &offsets)
    });
    let (clean_exit, logs_b) = b.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs_b}");
    let (second, _) = messages(400, "scale-b");
    produce(&t.input, &second);
    let offsets = input_offsets(&t.input, first.len() + second.len());
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(120), |v| {
        covers(v, &offsets)
    });
    let (clean_exit, logs_a) = a.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs_a}");

    assert!(
        covers(&verdicts, &offsets),
        "records lost when a consumer left"
    );
    assert!(
        logs_b.contains("partitions assigned"),
        "the second consumer got no partitions:\n{logs_b}"
    );
    let b_partitions = logs_b.matches("partitions assigned").count();
    assert!(b_partitions >= 1);
    assert!(
        logs_a.contains("partitions revoked") || logs_a.matches("partitions assigned").count() >= 2,
        "{logs_a}"
    );
}

#[test]
fn exactly_once_leaves_no_duplicates_after_kill_9() {
    let t = topics("eos", 4);
    let (records, expected) = messages(3000, "eos");
    produce(&t.input, &records);
    let offsets = input_offsets(&t.input, records.len());
    let settings = config(
        &unique("g"),
        &t,
        "delivery = \"exactly-once\"\nmax_in_flight = 200",
    );
    let vigil = Vigil::start(&settings);
    read_until(&t.verdicts, true, Duration::from_secs(60), |v| {
        v.len() >= 200
    });
    // Freeze the consumer until it is caught with an open transaction holding outputs, then
    // kill it there: those outputs must never become visible to read_committed readers.
    let mut caught = None;
    for _ in 0..20 {
        vigil.signal("STOP");
        let committed = read_all(&t.verdicts, true).len();
        let written = read_all(&t.verdicts, false).len();
        if written > committed {
            caught = Some((committed, written));
            break;
        }
        vigil.signal("CONT");
        std::thread::sleep(Duration::from_millis(30));
    }
    let (committed_at_kill, written_at_kill) = caught.expect("never caught an open transaction");
    vigil.kill();
    let vigil = Vigil::start(&settings);
    let verdicts = read_until(&t.verdicts, true, Duration::from_secs(180), |v| {
        covers(v, &offsets)
    });
    let flags = read_until(&t.flags, true, Duration::from_secs(30), |f| {
        f.len() >= expected.len()
    });
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");

    eprintln!(
        "exactly-once kill -9 with {} uncommitted verdicts open ({committed_at_kill} committed); \
         after restart {} committed for {} records",
        written_at_kill - committed_at_kill,
        verdicts.len(),
        records.len()
    );
    let verdicts_by_offset = by_offset(&verdicts);
    assert!(covers(&verdicts, &offsets));
    assert!(
        verdicts_by_offset.values().all(|v| v.len() == 1),
        "a committed verdict is duplicated"
    );
    assert_eq!(verdicts.len(), records.len());
    let flagged = flags_by_message(&flags);
    assert_eq!(flagged.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(
        flagged.values().all(|ids| ids.len() == 1),
        "a committed flag is duplicated"
    );
}

#[test]
fn store_offsets_commits_exactly_the_offset_given() {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{Offset, TopicPartitionList};

    let topic = unique("offsets");
    create_topics(&[&topic], 1);
    let records: Vec<Input> = (0..10)
        .map(|i| Input {
            key: format!("k{i}"),
            value: b"x".to_vec(),
            partition: Some(0),
        })
        .collect();
    produce(&topic, &records);
    let group = unique("g");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while consumer.poll(Duration::from_millis(100)).is_none() {
        assert!(std::time::Instant::now() < deadline, "nothing consumed");
    }
    // The runtime stores "the next offset to read": 5 means records 0..=4 are done.
    let mut stored = TopicPartitionList::new();
    stored
        .add_partition_offset(&topic, 0, Offset::Offset(5))
        .unwrap();
    consumer.store_offsets(&stored).unwrap();
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    let committed = consumer.committed(Duration::from_secs(10)).unwrap();
    let offset = committed.find_partition(&topic, 0).unwrap().offset();
    assert_eq!(
        offset,
        Offset::Offset(5),
        "store_offsets must store exactly the given offset"
    );
}

#[test]
fn health_is_live_but_not_ready_while_the_broker_is_unreachable() {
    let admin = kafka_support::free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    let config = format!(
        "{}[kafka]\nbrokers = \"127.0.0.1:1\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n",
        lists_section()
    );
    std::fs::write(&path, config).unwrap();
    let mut child = common::vigil(dir.path())
        .args(["run", "--config", path.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{admin}").parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (live, ready) = loop {
        let live = kafka_support::http_get(addr, "/healthz");
        let ready = kafka_support::http_get(addr, "/readyz");
        if let (Some(live), Some(ready)) = (live, ready) {
            break (live, ready);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "admin endpoint never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(1));
    let ready_later = kafka_support::http_get(addr, "/readyz").unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(live, (200, "ok\n".to_string()));
    assert_eq!(ready.0, 503);
    assert_eq!(
        ready_later,
        (503, "consumer group not joined\n".to_string())
    );
    assert_eq!(
        kafka_support::http_get(addr, "/healthz"),
        None,
        "the process is gone"
    );
}

#[test]
fn backpressure_pauses_and_resumes_without_losing_records() {
    let t = topics("pressure", 4);
    let (records, expected) = messages(1500, "pressure");
    produce(&t.input, &records);
    let offsets = input_offsets(&t.input, records.len());
    // A 16 KiB buffer and 8 records in flight: the assignment is paused and resumed many times.
    let extra = "max_in_flight = 8\nmax_buffered_bytes = 16384";
    let vigil = Vigil::start_logging(&config(&unique("g"), &t, extra), "info,vigil_kafka=debug");
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(180), |v| {
        covers(v, &offsets)
    });
    let flags = read_until(&t.flags, false, Duration::from_secs(30), |f| {
        f.len() >= expected.len()
    });
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");
    assert!(
        covers(&verdicts, &offsets),
        "records lost under backpressure"
    );
    assert_eq!(verdicts.len(), records.len());
    assert_eq!(
        flags_by_message(&flags)
            .into_keys()
            .collect::<BTreeSet<_>>(),
        expected
    );
    let pauses = logs.matches("backpressure paused=true").count();
    let resumes = logs.matches("backpressure paused=false").count();
    assert!(
        pauses >= 2 && resumes >= 2,
        "pauses {pauses}, resumes {resumes}:\n{logs}"
    );
}

/// Waits until the log has `needle` `count` times.
fn wait_for_log(vigil: &Vigil, needle: &str, count: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while vigil.logs().matches(needle).count() < count {
        assert!(
            std::time::Instant::now() < deadline,
            "no `{needle}` in the log:\n{}",
            vigil.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_list_update_takes_effect_on_sighup_and_a_bad_one_is_refused_while_consuming() {
    let t = topics("reload", 2);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("phrases.csv");
    let header = "rule_id,term,category\n";
    std::fs::write(
        &list,
        format!("{header}k1,keep this a secret,grooming.secrecy\n"),
    )
    .unwrap();
    let lists = format!(
        "[lists]\nkeyword_lists = [{:?}]\nreload_interval_ms = 0\nallow_unsigned = true\n",
        list.display().to_string()
    );
    let vigil = Vigil::start(&format!(
        "{lists}{}",
        kafka_section(&unique("g"), &t.input, "")
    ));
    let message = |id: &str| Input {
        key: "c-1".into(),
        value: serde_json::to_vec(&json!({
            "message_id": id, "conversation_id": "c-1", "sender_id": "u-1",
            "recipient_ids": ["u-2"], "sent_at": "2026-11-26T07:00:00Z",
            "text": "can you send me a pic tonight",
        }))
        .unwrap(),
        partition: Some(0),
    };
    let verdict_of = |id: &str, n: usize| {
        let verdicts = read_until(&t.verdicts, false, Duration::from_secs(60), |v| {
            v.len() >= n
        });
        let v = verdicts
            .iter()
            .find(|v| v.json()["message_id"] == id)
            .unwrap_or_else(|| {
                let seen: Vec<_> = verdicts.iter().map(|v| v.json().clone()).collect();
                panic!("no verdict for {id} in {seen:?}:\n{}", vigil.logs())
            });
        v.json().clone()
    };

    produce(&t.input, &[message("before")]);
    assert_eq!(verdict_of("before", 1)["verdict"], "clean");

    std::fs::write(
        &list,
        format!(
            "{header}k1,keep this a secret,grooming.secrecy\nk2,send me a pic,grooming.images\n"
        ),
    )
    .unwrap();
    vigil.signal("HUP");
    wait_for_log(&vigil, "new lists in force", 1);
    produce(&t.input, &[message("after")]);
    let after = verdict_of("after", 2);
    assert_eq!(after["verdict"], "flagged", "{after}");
    let new_version = after["lists"][0]["version"].as_str().unwrap().to_string();
    assert_ne!(
        Some(new_version.as_str()),
        verdict_of("before", 2)["lists"][0]["version"].as_str(),
        "the verdict names the new list version"
    );

    std::fs::write(&list, format!("{header}k1,,grooming.secrecy\n")).unwrap();
    vigil.signal("HUP");
    wait_for_log(&vigil, "list update refused", 1);
    produce(&t.input, &[message("refused")]);
    let refused = verdict_of("refused", 3);
    assert_eq!(refused["verdict"], "flagged", "the version in force stays");
    assert_eq!(refused["lists"][0]["version"], new_version.as_str());
    let logs = vigil.logs();
    assert!(
        logs.contains("line 2"),
        "the refusal names the line:\n{logs}"
    );
    assert!(
        !logs.contains("send me a pic tonight"),
        "no message content in logs"
    );
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");
}
