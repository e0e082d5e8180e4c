//! `vigil run` against the real broker when video workers fail: every worker is killed at
//! its wall clock (`video.max_time_ms = 1`), and each such video costs its own attachment
//! only — an error record and a dead letter with `video_timeout`, its exact digest still
//! matched and flagged — while the messages around it are scanned and flagged as usual, the
//! workers are replaced (counted in `vigil_video_worker_restarts_total`), and vigil shuts
//! down cleanly.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use kafka_support::{
    Input, Vigil, assert_flagged, http_get, kafka_section, messages, produce, read_until, topics,
    unique,
};
use serde_json::json;
use sha2::{Digest, Sha256};

#[test]
fn videos_whose_workers_are_killed_cost_their_attachment_only() {
    let dir = tempfile::tempdir().unwrap();
    let clip = common::encode_clip(
        dir.path(),
        "v.mp4",
        "testsrc2=size=320x180:rate=25",
        2.0,
        &[],
    );
    let video = std::fs::read(&clip).unwrap();
    let list = dir.path().join("videos.csv");
    std::fs::write(
        &list,
        format!(
            "algorithm,hash,entry_id,category\nsha256,{},vid-1,A\n",
            hex::encode(Sha256::digest(&video))
        ),
    )
    .unwrap();
    // A vPDQ list too, so that videos are decoded at all (made from another clip).
    let other = common::encode_clip(dir.path(), "o.webm", "mandelbrot=size=160x90", 2.0, &[]);
    let output = common::run(
        common::vigil(dir.path())
            .args(["hash", "--algorithms", "vpdq"])
            .arg(&other),
        b"",
    );
    let hashed = common::json_lines(&output.stdout).remove(0);
    let vpdq = dir.path().join("videos.hma");
    std::fs::write(&vpdq, format!("vpdq {}\n", hashed["vpdq"])).unwrap();

    let t = topics("videokill", 2);
    let (mut records, mut expected) = messages(60, "vk");
    let encoded = base64::engine::general_purpose::STANDARD.encode(&video);
    let videos: BTreeSet<String> = (0..6).map(|i| format!("video-{i}")).collect();
    for (i, id) in videos.iter().enumerate() {
        let m = json!({
            "message_id": id, "conversation_id": format!("c-{i}"), "sender_id": "u-1",
            "recipient_ids": ["u-2"], "sent_at": "2026-12-07T07:00:00Z",
            "attachments": [{"attachment_id": "v", "media_type": "video/mp4", "data": encoded}],
        });
        records.insert(
            i * 10,
            Input {
                key: format!("c-{i}"),
                value: serde_json::to_vec(&m).unwrap(),
                partition: None,
            },
        );
        expected.insert(id.clone());
    }
    let root = common::root();
    let config = format!(
        "[lists]\nhash_lists = [{:?}, {:?}, {:?}]\nkeyword_lists = [{:?}]\nallow_unsigned = true\n\
         [video]\nmax_time_ms = 1\n{}",
        root.join("examples/lists/sample-hashes.csv")
            .display()
            .to_string(),
        list.display().to_string(),
        vpdq.display().to_string(),
        root.join("examples/lists/sample-keywords.csv")
            .display()
            .to_string(),
        kafka_section(&unique("g"), &t.input, ""),
    );
    let vigil = Vigil::start(&config);
    produce(&t.input, &records);
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(120), |v| {
        v.len() >= records.len()
    });
    assert_eq!(verdicts.len(), records.len(), "one verdict per record");
    assert_flagged(&t.flags, &expected);
    let flags = read_until(&t.flags, false, Duration::from_secs(10), |f| {
        f.len() >= expected.len()
    });
    for flag in flags
        .iter()
        .filter(|f| videos.contains(f.json()["message_id"].as_str().unwrap()))
    {
        assert_eq!(flag.json()["matches"][0]["entry_id"], "vid-1");
    }
    let dlq = read_until(&t.dlq, false, Duration::from_secs(60), |d| {
        d.len() >= videos.len()
    });
    assert_eq!(dlq.len(), videos.len(), "the videos, scanned in part");
    for d in &dlq {
        assert_eq!(d.headers["vigil.error.reason"], "video_timeout");
    }
    let (_, metrics) = http_get(vigil.admin, "/metrics").unwrap();
    let value = |line: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse::<f64>().ok())
    };
    assert_eq!(value("vigil_video_worker_restarts_total "), Some(6.0));
    assert_eq!(
        value("vigil_video_failures_total{reason=\"video_timeout\"}"),
        Some(6.0)
    );
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(60));
    assert!(clean_exit, "{logs}");
}
