//! Bad input yields one error record per problem, with a reason code and the line number; the
//! scan goes on, nothing panics, and no message content reaches the error output.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;

use std::collections::BTreeSet;

use common::{assert_valid, json_lines, root, run, schema, vigil};
use serde_json::{Value, json};

/// Appears in every bad record's content; must never appear in error output.
const MARKER: &str = "SECRET-CONTENT-7f3a";

fn message(extra: Value) -> Value {
    let mut m = json!({
        "message_id": "m-bad",
        "conversation_id": "c-1",
        "sender_id": "u-1",
        "recipient_ids": ["u-2"],
        "sent_at": "2026-11-26T07:00:00Z",
        "text": format!("hello {MARKER}"),
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            m.as_object_mut().unwrap().remove(k);
        } else {
            m[k] = v.clone();
        }
    }
    m
}

fn line(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

/// The base64 of a listed image (sha256 entry iwf-000101), taken from the examples.
fn listed_image_data() -> String {
    let text = std::fs::read(root().join("examples/dms.jsonl")).unwrap();
    let messages = json_lines(&text);
    let m = messages
        .iter()
        .find(|m| m["message_id"] == "msg-0002")
        .unwrap();
    m["attachments"][0]["data"].as_str().unwrap().to_string()
}

struct Case {
    name: &'static str,
    record: Vec<u8>,
    /// (reason, field, message_id) of each expected error record.
    errors: Vec<(&'static str, Option<&'static str>, Option<&'static str>)>,
    /// Whether the message is still flagged (its other parts matched).
    flagged: bool,
}

fn cases() -> Vec<Case> {
    // An image attachment with `body` (its `data` and/or `uri`).
    let att = |body: Value| {
        let mut attachment = json!({"attachment_id": "a1", "media_type": "image/png"});
        attachment
            .as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        attachment
    };
    let grooming = format!("{MARKER} are you home alone");
    vec![
        Case {
            name: "empty line",
            record: vec![],
            errors: vec![("empty_line", None, None)],
            flagged: false,
        },
        Case {
            name: "blank line",
            record: b"  \t ".to_vec(),
            errors: vec![("empty_line", None, None)],
            flagged: false,
        },
        Case {
            name: "invalid UTF-8",
            record: [
                br#"{"message_id":"m-bad","text":""#.as_slice(),
                MARKER.as_bytes(),
                b"\xff\xfe\"}",
            ]
            .concat(),
            errors: vec![("invalid_utf8", None, None)],
            flagged: false,
        },
        Case {
            name: "malformed JSON",
            record: format!(r#"{{"message_id":"m-bad","text":"{MARKER}""#).into_bytes(),
            errors: vec![("malformed_json", None, None)],
            flagged: false,
        },
        Case {
            name: "not an object",
            record: format!(r#"["{MARKER}"]"#).into_bytes(),
            errors: vec![("malformed_json", None, None)],
            flagged: false,
        },
        Case {
            name: "trailing characters",
            record: [line(message(json!({}))), format!(" {MARKER}").into_bytes()].concat(),
            errors: vec![("malformed_json", None, None)],
            flagged: false,
        },
        Case {
            name: "missing field",
            record: line(message(json!({"sender_id": null}))),
            errors: vec![("missing_field", Some("sender_id"), Some("m-bad"))],
            flagged: false,
        },
        Case {
            name: "missing nested field",
            record: line(message(
                json!({"attachments": [{"attachment_id": "a1", "data": MARKER}]}),
            )),
            errors: vec![(
                "missing_field",
                Some("attachments[0].media_type"),
                Some("m-bad"),
            )],
            flagged: false,
        },
        Case {
            name: "wrong type",
            record: line(message(json!({"recipient_ids": MARKER}))),
            errors: vec![("invalid_field", Some("recipient_ids"), Some("m-bad"))],
            flagged: false,
        },
        Case {
            name: "bad timestamp",
            record: line(message(json!({"sent_at": format!("yesterday {MARKER}")}))),
            errors: vec![("invalid_field", Some("sent_at"), Some("m-bad"))],
            flagged: false,
        },
        Case {
            name: "no recipients",
            record: line(message(json!({"recipient_ids": []}))),
            errors: vec![("invalid_field", Some("recipient_ids"), Some("m-bad"))],
            flagged: false,
        },
        Case {
            name: "future schema version",
            record: line(message(json!({"schema_version": 2}))),
            errors: vec![(
                "unsupported_schema_version",
                Some("schema_version"),
                Some("m-bad"),
            )],
            flagged: false,
        },
        Case {
            name: "data and uri",
            record: line(message(
                json!({"attachments": [att(json!({"data": "aGk=", "uri": "file:///x"}))]}),
            )),
            errors: vec![("invalid_attachment", Some("attachments[0]"), Some("m-bad"))],
            flagged: false,
        },
        Case {
            name: "duplicate attachment ids",
            record: line(message(
                json!({"attachments": [att(json!({"data": "aGk="})), att(json!({"data": "aGk="}))]}),
            )),
            errors: vec![(
                "invalid_attachment",
                Some("attachments[1].attachment_id"),
                Some("m-bad"),
            )],
            flagged: false,
        },
        Case {
            name: "bad base64, text still scanned",
            record: line(message(
                json!({"text": grooming, "attachments": [att(json!({"data": format!("{MARKER}!!")}))]}),
            )),
            errors: vec![("invalid_base64", Some("attachments[0]"), Some("m-bad"))],
            flagged: true,
        },
        Case {
            name: "unknown media type, exact hash still matched",
            record: line(message(json!({"attachments": [{
                "attachment_id": "a1", "media_type": format!("{MARKER} type"), "data": listed_image_data()
            }]}))),
            errors: vec![(
                "unsupported_media_type",
                Some("attachments[0]"),
                Some("m-bad"),
            )],
            flagged: true,
        },
        Case {
            name: "http uri",
            record: line(message(
                json!({"attachments": [att(json!({"uri": format!("https://cdn.example/{MARKER}.png")}))]}),
            )),
            errors: vec![(
                "unsupported_uri_scheme",
                Some("attachments[0]"),
                Some("m-bad"),
            )],
            flagged: false,
        },
        Case {
            name: "file uri without roots",
            record: line(message(
                json!({"attachments": [att(json!({"uri": format!("file:///tmp/{MARKER}.png")}))]}),
            )),
            errors: vec![("uri_not_allowed", Some("attachments[0]"), Some("m-bad"))],
            flagged: false,
        },
    ]
}

#[test]
fn each_bad_record_gives_its_error_and_the_scan_goes_on() {
    let cases = cases();
    let mut input = Vec::new();
    for case in &cases {
        input.extend_from_slice(&case.record);
        input.push(b'\n');
    }
    let good = line(message(
        json!({"message_id": "m-good", "text": "keep this a secret"}),
    ));
    input.extend_from_slice(&good);
    input.push(b'\n');

    let output = run(vigil(&root()).args(["scan", "-"]), &input);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr.contains(MARKER),
        "content leaked into stderr:\n{stderr}"
    );
    assert!(!stderr.contains("internal error"), "{stderr}");

    let errors = json_lines(&output.stderr);
    let validator = schema("error-record");
    for error in &errors {
        assert_valid(&validator, error);
        assert_eq!(error["source"]["file"], "-");
    }
    for (i, case) in cases.iter().enumerate() {
        let line = i as u64 + 1;
        let got: Vec<(String, Option<String>, Option<String>)> = errors
            .iter()
            .filter(|e| e["source"]["line"] == line)
            .map(|e| {
                let s = |k: &str| e[k].as_str().map(str::to_string);
                (s("reason").unwrap(), s("field"), s("message_id"))
            })
            .collect();
        let want: Vec<_> = case
            .errors
            .iter()
            .map(|(r, f, m)| (r.to_string(), f.map(str::to_string), m.map(str::to_string)))
            .collect();
        assert_eq!(got, want, "case {:?} (line {line})", case.name);
    }
    let total: usize = cases.iter().map(|c| c.errors.len()).sum();
    assert_eq!(errors.len(), total);

    let flags = json_lines(&output.stdout);
    let flagged_lines: Vec<u64> = flags
        .iter()
        .map(|f| f["source"]["line"].as_u64().unwrap())
        .collect();
    let mut want_lines: Vec<u64> = cases
        .iter()
        .enumerate()
        .filter(|(_, c)| c.flagged)
        .map(|(i, _)| i as u64 + 1)
        .collect();
    want_lines.push(cases.len() as u64 + 1);
    assert_eq!(flagged_lines, want_lines);
    let attachment_level = [
        "invalid_base64",
        "unsupported_media_type",
        "unsupported_uri_scheme",
        "uri_not_allowed",
    ];
    let scanned = cases
        .iter()
        .filter(|c| attachment_level.contains(&c.errors[0].0))
        .count()
        + 1;
    let summary = format!(
        "vigil scan: records={} scanned={scanned} flagged={} errors={total}",
        cases.len() + 1,
        want_lines.len()
    );
    assert!(
        stderr.trim_end().ends_with(&summary),
        "want {summary}\n{stderr}"
    );
}

#[test]
fn a_100_mb_line_is_rejected_without_stopping_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let mut data = Vec::with_capacity(101 << 20);
    data.extend_from_slice(br#"{"message_id":"m-huge","text":""#);
    data.resize(100 << 20, b'x');
    data.extend_from_slice(b"\"}\n");
    data.extend_from_slice(&line(message(
        json!({"message_id": "m-after", "text": "are you home alone"}),
    )));
    data.push(b'\n');
    std::fs::write(&path, &data).unwrap();
    drop(data);

    let output = run(vigil(&root()).args(["scan", path.to_str().unwrap()]), b"");
    assert!(output.status.success());
    let errors = json_lines(&output.stderr);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["reason"], "message_too_large");
    assert_eq!(errors[0]["source"]["line"], 1);
    let size = (100 << 20) + 2;
    assert!(
        errors[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{size} bytes exceeds")),
        "{}",
        errors[0]
    );
    let flags = json_lines(&output.stdout);
    assert_eq!(flags.len(), 1);
    assert_eq!(flags[0]["message_id"], "m-after");
    assert_eq!(flags[0]["source"]["line"], 2);
}

#[test]
fn error_records_can_go_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let errors_path = dir.path().join("errors.jsonl");
    let output = run(
        vigil(&root()).args(["scan", "--errors", errors_path.to_str().unwrap(), "-"]),
        b"not json\n\n",
    );
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(json_lines(&output.stderr).is_empty(), "{stderr}");
    assert!(
        stderr.contains("records=2 scanned=0 flagged=0 errors=2"),
        "{stderr}"
    );
    let errors = json_lines(&std::fs::read(&errors_path).unwrap());
    let reasons: Vec<_> = errors
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["malformed_json", "empty_line"]);
}

#[test]
fn a_message_referencing_one_file_thousands_of_times_is_scanned_within_its_budget() {
    const SIZE: usize = 256 * 1024;
    const REFERENCES: usize = 4000;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("media")).unwrap();
    let clip = dir.path().join("media/clip.mp4");
    let bytes: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    std::fs::write(&clip, &bytes).unwrap();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    std::fs::write(
        dir.path().join("list.csv"),
        format!("algorithm,hash,entry_id,category\nsha256,{digest},clip,A\n"),
    )
    .unwrap();
    // Room for 16 copies; the count limit is the default (100).
    std::fs::write(
        dir.path().join("vigil.toml"),
        format!(
            "[lists]\nhash_lists = [\"list.csv\"]\n[attachments]\nfile_roots = [\"media\"]\n\
             max_bytes = {SIZE}\nmax_total_bytes_per_message = {}\n",
            16 * SIZE
        ),
    )
    .unwrap();
    let attachments: Vec<Value> = (0..REFERENCES)
        .map(|i| {
            json!({"attachment_id": format!("a{i}"), "media_type": "video/mp4",
                   "uri": format!("file://{}", clip.display())})
        })
        .collect();
    let input = line(message(json!({"attachments": attachments})));

    // GNU time prints the peak RSS in KiB as the last line of standard error.
    let output = run(
        common::vigil_via(dir.path(), &["/usr/bin/time", "-f", "%M"]).args(["scan", "-"]),
        &input,
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains(MARKER), "content leaked:\n{stderr}");

    // Exactly the copies that fit the budget were read and hashed.
    let flags = json_lines(&output.stdout);
    assert_eq!(flags.len(), 1, "{stderr}");
    let matches = flags[0]["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 16);
    let matched: BTreeSet<&str> = matches
        .iter()
        .map(|m| m["attachment_id"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..16).map(|i| format!("a{i}")).collect();
    assert_eq!(matched, expected.iter().map(String::as_str).collect());

    // Every other reference is accounted for: one record each up to the count limit, then
    // one for all the rest.
    let errors = json_lines(&output.stderr);
    let validator = schema("error-record");
    for error in &errors {
        assert_valid(&validator, error);
    }
    let reasons: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["reason"].as_str().unwrap(),
                e["attachment_id"].as_str().unwrap(),
            )
        })
        .collect();
    let over_budget: Vec<(&str, String)> = (16..100)
        .map(|i| ("attachment_budget_exceeded", format!("a{i}")))
        .collect();
    assert_eq!(reasons.len(), over_budget.len() + 1, "{reasons:?}");
    for ((reason, id), (want_reason, want_id)) in reasons.iter().zip(&over_budget) {
        assert_eq!((*reason, *id), (*want_reason, want_id.as_str()));
    }
    assert_eq!(reasons[84], ("too_many_attachments", "a100"));
    assert_eq!(errors[84]["field"], "attachments[100]");
    assert!(
        errors[84]["detail"]
            .as_str()
            .unwrap()
            .starts_with("3900 of the message's 4000 attachments"),
        "{}",
        errors[84]
    );
    assert!(
        stderr.contains("vigil scan: records=1 scanned=1 flagged=1 errors=85"),
        "{stderr}"
    );

    // Reading every reference would hold 4000 × 256 KiB = 1 GiB at once.
    let peak_kib: u64 = stderr.lines().last().unwrap().trim().parse().unwrap();
    assert!(
        peak_kib < 128 * 1024,
        "peak RSS {peak_kib} KiB: the references were read beyond the budget"
    );
}
