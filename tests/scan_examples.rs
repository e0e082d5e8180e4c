//! `vigil scan examples/dms.jsonl` flags exactly the messages it should.
//!
//! The expected matches in tests/golden/example-matches.json are computed by
//! scripts/gen-examples.py with Python's hashlib and str, independently of vigil's code.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;

use std::collections::BTreeMap;

use common::{assert_valid, json_lines, root, run, schema, vigil};
use serde_json::Value;

fn scan_examples(args: &[&str]) -> (Vec<Value>, String) {
    let output = run(vigil(&root()).args(args), b"");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (json_lines(&output.stdout), stderr)
}

fn golden() -> Vec<Value> {
    let text = std::fs::read(root().join("tests/golden/example-matches.json")).unwrap();
    serde_json::from_slice(&text).unwrap()
}

/// Flags keyed by message id, reduced to what the golden file pins.
fn by_message(flags: &[Value]) -> BTreeMap<String, (u64, Vec<Value>)> {
    flags
        .iter()
        .map(|f| {
            let line = f["source"]["line"].as_u64().unwrap();
            let key = f["message_id"].as_str().unwrap().to_string();
            (key, (line, f["matches"].as_array().unwrap().clone()))
        })
        .collect()
}

#[test]
fn example_scan_finds_exactly_the_expected_matches() {
    let (flags, stderr) = scan_examples(&[
        "scan",
        "--config",
        "examples/vigil.toml",
        "examples/dms.jsonl",
    ]);
    let want: BTreeMap<String, (u64, Vec<Value>)> = golden()
        .into_iter()
        .map(|g| {
            let key = g["message_id"].as_str().unwrap().to_string();
            (
                key,
                (
                    g["line"].as_u64().unwrap(),
                    g["matches"].as_array().unwrap().clone(),
                ),
            )
        })
        .collect();
    assert_eq!(
        want.len(),
        7,
        "the golden file lists seven flagged messages"
    );
    assert_eq!(by_message(&flags), want);
    assert!(
        stderr
            .trim_end()
            .ends_with("vigil scan: records=16 scanned=16 flagged=7 errors=0"),
        "{stderr}"
    );
}

#[test]
fn flags_conform_to_the_schema_and_derive_severity_and_categories() {
    let (flags, _) = scan_examples(&["scan", "examples/dms.jsonl"]);
    let validator = schema("flag");
    let rank = |s: &str| {
        ["low", "medium", "high", "critical"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    for flag in &flags {
        assert_valid(&validator, flag);
        let matches = flag["matches"].as_array().unwrap();
        let max = matches
            .iter()
            .map(|m| rank(m["severity"].as_str().unwrap()))
            .max()
            .unwrap();
        assert_eq!(rank(flag["severity"].as_str().unwrap()), max);
        let mut categories: Vec<&str> = matches
            .iter()
            .map(|m| m["category"].as_str().unwrap())
            .collect();
        categories.sort();
        categories.dedup();
        assert_eq!(flag["categories"], serde_json::json!(categories));
        assert_eq!(flag["source"]["file"], "examples/dms.jsonl");
    }
}

#[test]
fn example_messages_conform_to_the_message_schema() {
    let validator = schema("message");
    let text = std::fs::read(root().join("examples/dms.jsonl")).unwrap();
    let messages = json_lines(&text);
    assert_eq!(messages.len(), 16);
    for message in &messages {
        assert_valid(&validator, message);
    }
}

#[test]
fn flag_ids_are_deterministic_across_runs_and_input_paths() {
    let ids = |flags: &[Value]| -> Vec<String> {
        flags
            .iter()
            .map(|f| f["flag_id"].as_str().unwrap().to_string())
            .collect()
    };
    // Found via ./vigil.toml, via --config, and over standard input: same ids.
    let (first, _) = scan_examples(&["scan", "examples/dms.jsonl"]);
    let (second, _) = scan_examples(&[
        "scan",
        "--config",
        "examples/vigil.toml",
        "examples/dms.jsonl",
    ]);
    let input = std::fs::read(root().join("examples/dms.jsonl")).unwrap();
    let output = run(vigil(&root()).args(["scan", "-"]), &input);
    let third = json_lines(&output.stdout);
    assert_eq!(ids(&first).len(), 7);
    assert_eq!(ids(&first), ids(&second));
    assert_eq!(ids(&first), ids(&third));
    assert_eq!(third[0]["source"]["file"], "-");
    let unique: std::collections::BTreeSet<_> = ids(&first).into_iter().collect();
    assert_eq!(unique.len(), 7);
}

#[test]
fn extra_lists_from_the_command_line_add_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("extra.csv");
    std::fs::write(
        &extra,
        "rule_id,term,category\nx-1,football practice,test.extra\n",
    )
    .unwrap();
    let extra = extra.to_str().unwrap();
    let (flags, _) = scan_examples(&["scan", "--keywords", extra, "examples/dms.jsonl"]);
    let extra_flag = flags
        .iter()
        .find(|f| f["message_id"] == "msg-0001")
        .expect("msg-0001 flagged");
    assert_eq!(extra_flag["matches"][0]["list"], "extra");
    assert_eq!(
        extra_flag["matches"][0]["spans"],
        serde_json::json!([{"start": 25, "end": 42}])
    );
    assert_eq!(flags.len(), 8);
}

#[test]
fn the_flag_schema_rejects_what_vigil_must_not_emit() {
    let (flags, _) = scan_examples(&["scan", "examples/dms.jsonl"]);
    let validator = schema("flag");
    type Mutation = fn(&mut Value);
    let mutations: [(&str, Mutation); 5] = [
        ("no flag_id", |f| {
            f.as_object_mut().unwrap().remove("flag_id");
        }),
        ("content smuggled in", |f| f["text"] = "hello".into()),
        ("bad timestamp", |f| f["flagged_at"] = "yesterday".into()),
        ("unknown detector", |f| {
            f["matches"][0]["detector"] = "guess".into()
        }),
        ("hash match without distance", |f| {
            f["matches"][0].as_object_mut().unwrap().remove("distance");
        }),
    ];
    for (name, mutate) in mutations {
        let mut flag = flags[0].clone();
        mutate(&mut flag);
        assert!(!validator.is_valid(&flag), "schema accepted: {name}");
    }
}

#[test]
fn file_uri_attachments_under_configured_roots_are_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("upload 1.png");
    std::fs::copy(root().join("examples/images/rings.png"), &image).unwrap();
    let uri = format!("file://{}", image.display()).replace(' ', "%20");
    let record = serde_json::json!({
        "message_id": "m-file", "conversation_id": "c", "sender_id": "s",
        "recipient_ids": ["r"], "sent_at": "2026-11-26T07:00:00Z",
        "attachments": [{"attachment_id": "f1", "media_type": "image/png", "uri": uri}]
    });
    let roots = format!("[{:?}]", dir.path().display().to_string());
    let output = run(
        vigil(&root())
            .env("VIGIL_ATTACHMENTS__FILE_ROOTS", roots)
            .args(["scan", "-"]),
        record.to_string().as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let flags = json_lines(&output.stdout);
    assert_eq!(flags.len(), 1, "{stderr}");
    assert_eq!(flags[0]["matches"][0]["entry_id"], "own-2026-0007");
    assert_eq!(flags[0]["matches"][0]["attachment_id"], "f1");
}
