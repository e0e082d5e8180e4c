//! Allow lists through a real broker: `vigil run` with a list whose entry is the listed image
//! (`suppresses = ["*"]`) flags no message for that image, and says so — every verdict of
//! such a message lists the suppressed match and what suppressed it, and
//! `vigil_matches_suppressed_total` counts them — while text matches still flag.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use kafka_support::{
    Vigil, http_get, kafka_section, listed_image, messages, produce, read_until, topics, unique,
};
use sha2::Digest as _;

#[test]
fn an_allow_listed_image_is_not_flagged_and_every_suppression_is_reported_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let image = base64::engine::general_purpose::STANDARD
        .decode(listed_image())
        .unwrap();
    let allow = dir.path().join("known-benign.csv");
    std::fs::write(
        &allow,
        format!(
            "algorithm,hash,entry_id,category\nsha256,{},benign-7,benign\n",
            hex::encode(sha2::Sha256::digest(&image))
        ),
    )
    .unwrap();
    let root = common::root();
    let lists = format!(
        "[lists]\nallow_unsigned = true\nkeyword_lists = [{:?}]\n\
         hash_lists = [{:?}, {{ path = {:?}, suppresses = [\"*\"] }}]\n",
        root.join("examples/lists/sample-keywords.csv"),
        root.join("examples/lists/sample-hashes.csv"),
        allow,
    );
    let t = topics("allow", 2);
    let (records, _) = messages(60, "al");
    // Messages with the listed image (every 11th), and those that also plant a phrase.
    let with_image: BTreeSet<String> = (0..60)
        .filter(|i| i % 11 == 5)
        .map(|i| format!("al-{i:06}"))
        .collect();
    let with_phrase: BTreeSet<String> = (0..60)
        .filter(|i| i % 7 == 3)
        .map(|i| format!("al-{i:06}"))
        .collect();
    produce(&t.input, &records);
    let vigil = Vigil::start(&format!(
        "{lists}{}",
        kafka_section(&unique("g"), &t.input, "")
    ));
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(120), |v| {
        v.len() >= records.len()
    });
    let metrics = http_get(vigil.admin, "/metrics").unwrap().1;
    let (clean_exit, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(clean_exit, "{logs}");

    let mut suppressed_in = BTreeSet::new();
    for v in &verdicts {
        let v = v.json();
        let id = v["message_id"].as_str().unwrap().to_string();
        let matched_lists: Vec<&str> = v["matches"]
            .as_array()
            .map(|m| m.iter().map(|m| m["list"].as_str().unwrap()).collect())
            .unwrap_or_default();
        assert!(
            !matched_lists.contains(&"sample-hashes") && !matched_lists.contains(&"known-benign"),
            "{id}: {v}"
        );
        let expected_verdict = if with_phrase.contains(&id) {
            "flagged"
        } else {
            "clean"
        };
        assert_eq!(v["verdict"], expected_verdict, "{id}: {v}");
        if let Some(suppressed) = v["suppressed"].as_array() {
            suppressed_in.insert(id.clone());
            assert_eq!(suppressed.len(), 1, "{v}");
            let s = &suppressed[0];
            assert_eq!(
                (
                    s["list"].as_str(),
                    s["entry"].as_str(),
                    s["reason"].as_str(),
                    s["by_list"].as_str(),
                    s["by_entry"].as_str(),
                    s["attachment_id"].as_str()
                ),
                (
                    Some("sample-hashes"),
                    Some("iwf-000101"),
                    Some("allow_list"),
                    Some("known-benign"),
                    Some("benign-7"),
                    Some("a1")
                ),
                "{v}"
            );
        }
    }
    assert_eq!(suppressed_in, with_image);
    let line = format!(
        "vigil_matches_suppressed_total{{list=\"sample-hashes\",reason=\"allow_list\"}} {}",
        with_image.len()
    );
    assert!(metrics.contains(&line), "{line} not in\n{metrics}");
}

#[test]
fn vigil_scan_reports_suppressed_matches_in_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let image = base64::engine::general_purpose::STANDARD
        .decode(listed_image())
        .unwrap();
    std::fs::write(
        dir.path().join("memes.csv"),
        format!(
            "algorithm,hash,entry_id,category\nsha256,{},meme-1,meme\n",
            hex::encode(sha2::Sha256::digest(&image))
        ),
    )
    .unwrap();
    let root = common::root();
    // This allow list suppresses category B only; the listed image is in category A.
    for (suppresses, flagged, suppressed) in
        [("\"B\"", 1, ""), ("\"A\", \"B\"", 0, " suppressed=1")]
    {
        std::fs::write(
            dir.path().join("vigil.toml"),
            format!(
                "[lists]\nallow_unsigned = true\nhash_lists = [{:?}, {{ path = \"memes.csv\", suppresses = [{suppresses}] }}]\n",
                root.join("examples/lists/sample-hashes.csv"),
            ),
        )
        .unwrap();
        let message = format!(
            r#"{{"message_id":"m-1","conversation_id":"c","sender_id":"u","recipient_ids":["r"],"sent_at":"2026-11-26T10:00:00Z","attachments":[{{"attachment_id":"a1","media_type":"image/png","data":"{}"}}]}}"#,
            listed_image()
        );
        let output = common::run(
            common::vigil(dir.path()).args(["scan", "--config", "vigil.toml", "-"]),
            message.as_bytes(),
        );
        assert!(output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let summary =
            format!("vigil scan: records=1 scanned=1 flagged={flagged} errors=0{suppressed}\n");
        assert!(stderr.ends_with(&summary), "{stderr}");
        assert_eq!(common::json_lines(&output.stdout).len(), flagged);
    }
}
