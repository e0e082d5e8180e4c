//! A record that ends the process — here a maximal PNG decoded under a memory limit lower
//! than the decode limits allow, so the allocation fails and the process aborts, as an
//! out-of-memory kill would end it in a container — must not stall its partition. A
//! supervisor loop restarts `vigil run` after every crash, as Kubernetes would: the
//! crash-loop breaker reads the partition carefully, then one record at a time, and
//! dead-letters the record with reason `crash_loop` once it has ended
//! `kafka.crash_loop_limit` processes alone. Every other record is scanned, and a clean
//! shutdown leaves no trace of the crashes behind.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::Engine;
use kafka_support::{
    Input, Read, Vigil, kafka_section, messages, produce, read_until, topics, unique,
};
use serde_json::json;

/// The data-segment limit (`RLIMIT_DATA`) vigil runs under: room for normal work, not for
/// an 8192 × 8192 image's pixels and PDQ buffer (about 470 MB).
const DATA_LIMIT_BYTES: u64 = 320 * 1024 * 1024;

/// `vigil run` with `config`, under the data limit when `limited`, once it is ready.
fn start(config: &str, limited: bool) -> Vigil {
    let limit = format!("--data={DATA_LIMIT_BYTES}");
    let wrapper = if limited {
        vec!["prlimit", &limit]
    } else {
        vec![]
    };
    let mut vigil = Vigil::spawn(config, "info", &[], &wrapper);
    vigil.wait_ready(Duration::from_secs(60));
    vigil
}

#[test]
fn a_record_that_ends_the_process_is_dead_lettered_after_the_limit_and_nothing_else_is_lost() {
    let t = topics("crashloop", 2);
    let (mut records, expected) = messages(200, "cl");
    let poison_id = "cl-poison";
    let image = common::png(8192, 8192, &[]);
    let poison = json!({
        "message_id": poison_id, "conversation_id": "c-poison", "sender_id": "u-1",
        "recipient_ids": ["u-2"], "sent_at": "2026-11-27T07:00:00Z", "text": "hello",
        "attachments": [{"attachment_id": "a1", "media_type": "image/png",
            "data": base64::engine::general_purpose::STANDARD.encode(&image)}],
    });
    let poison_value = serde_json::to_vec(&poison).unwrap();
    records.insert(
        100,
        Input {
            key: "c-poison".into(),
            value: poison_value.clone(),
            partition: Some(0),
        },
    );
    produce(&t.input, &records);
    let group = unique("crashloop");
    let dir = tempfile::tempdir().unwrap();
    // A PDQ entry, so images are decoded and hashed (with only exact hashes they are not).
    let pdq_list = dir.path().join("pdq.csv");
    let entry = "algorithm,hash,entry_id,category\npdq,".to_string() + &"5a".repeat(32);
    std::fs::write(&pdq_list, entry + ",pdq-1,A\n").unwrap();
    let root = common::root();
    let config = format!(
        "[lists]\nhash_lists = [{:?}, {:?}]\nkeyword_lists = [{:?}]\nallow_unsigned = true\n{}",
        root.join("examples/lists/sample-hashes.csv"),
        pdq_list,
        root.join("examples/lists/sample-keywords.csv"),
        kafka_section(
            &group,
            &t.input,
            "max_in_flight = 8\nworker_threads = 2\ncrash_loop_limit = 2\n"
        ),
    );

    // The supervisor: restart after every crash until every record has a verdict.
    let scanned = |reads: &[Read]| reads.iter().map(Read::source).collect::<BTreeSet<_>>();
    let mut runs: Vec<(Vigil, Option<std::process::ExitStatus>)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let mut run = start(&config, true);
        let status = loop {
            if let Some(status) = run.child.try_wait().unwrap() {
                break Some(status);
            }
            let verdicts = read_until(&t.verdicts, false, Duration::from_millis(500), |_| false);
            if scanned(&verdicts).len() == records.len() {
                break None;
            }
            assert!(
                Instant::now() < deadline,
                "no end in sight:\n{}",
                run.logs()
            );
        };
        let done = status.is_none();
        runs.push((run, status));
        if done {
            break;
        }
        assert!(runs.len() <= 8, "still crashing after {} runs", runs.len());
    }
    let logs: Vec<String> = runs.iter().map(|(run, _)| run.logs()).collect();
    let report = logs.join("\n----- next run -----\n");
    if std::env::var_os("VIGIL_TEST_SHOW_LOGS").is_some() {
        eprintln!("{report}");
    }

    // Crashes: normal, careful, then the record alone twice (crash_loop_limit = 2).
    let crashes: Vec<_> = runs.iter().filter_map(|(_, status)| *status).collect();
    assert_eq!(crashes.len(), 4, "{crashes:?}\n{report}");
    for status in &crashes {
        assert!(!status.success(), "{status:?}");
    }
    for (i, log) in logs.iter().enumerate().take(4) {
        assert!(
            log.contains("memory allocation of"),
            "run {i} did not end on the image:\n{log}"
        );
    }
    assert!(!logs[0].contains("reading it carefully"), "{}", logs[0]);
    for log in &logs[1..] {
        assert!(log.contains("reading it carefully"), "{log}");
    }
    assert!(
        logs[4].contains("dead-lettering it unscanned"),
        "{}",
        logs[4]
    );

    // The record is dead-lettered once, unscanned, with its bytes and a reason; nothing else.
    let dead = read_until(&t.dlq, false, Duration::from_secs(10), |r| !r.is_empty());
    let headers: Vec<_> = dead.iter().map(|d| &d.headers).collect();
    assert_eq!(dead.len(), 1, "{headers:?}");
    assert_eq!(dead[0].value, poison_value);
    let header = |name: &str| dead[0].headers.get(name).map(String::as_str);
    assert_eq!(header("vigil.error.reason"), Some("crash_loop"));
    assert_eq!(header("vigil.error.partition"), Some("0"));
    let offset: i64 = header("vigil.error.offset").unwrap().parse().unwrap();

    // Every record has a verdict (the poison's says error); every planted match is flagged.
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(10), |_| false);
    assert_eq!(scanned(&verdicts).len(), records.len());
    let poison_verdict = verdicts.iter().find(|v| v.source() == (0, offset)).unwrap();
    assert_eq!(poison_verdict.json()["verdict"], "error");
    kafka_support::assert_flagged(&t.flags, &expected);

    // A clean shutdown clears the marks: the next start reads normally.
    let (mut last, _) = runs.pop().unwrap();
    let pid = last.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(killed.unwrap().success());
    let status = last.child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", last.logs());
    let again = start(&config, false);
    std::thread::sleep(Duration::from_secs(3));
    let log = again.logs();
    assert!(!log.contains("reading it carefully"), "{log}");
}
