//! The message schema as the parser reads it: valid variants accepted with the right values,
//! invalid ones rejected with the right reason code and field — table-driven.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use serde_json::{Value, json};
use vigil_core::{AttachmentBody, Message, ReasonCode};

type Check = Box<dyn Fn(&Message)>;

fn base() -> Value {
    json!({
        "message_id": "m-1",
        "conversation_id": "c-1",
        "sender_id": "u-1",
        "recipient_ids": ["u-2"],
        "sent_at": "2026-11-26T07:00:00Z"
    })
}

fn with(changes: Value) -> Vec<u8> {
    let mut m = base();
    for (k, v) in changes.as_object().unwrap() {
        match v {
            Value::Null => {
                m.as_object_mut().unwrap().remove(k);
            }
            v => m[k] = v.clone(),
        }
    }
    serde_json::to_vec(&m).unwrap()
}

#[test]
fn valid_messages_parse() {
    let table: Vec<(&str, Vec<u8>, Check)> = vec![
        (
            "minimal: no text, no attachments, no version",
            with(json!({})),
            Box::new(|m| {
                assert_eq!(m.schema_version, 1);
                assert_eq!(m.text, None);
                assert!(m.attachments.is_empty());
            }),
        ),
        (
            "explicit version and null text",
            with(json!({"schema_version": 1, "text": null})),
            Box::new(|m| {
                assert_eq!(m.text, None);
            }),
        ),
        (
            "unknown fields are ignored",
            with(json!({"client": {"os": "ios"}, "extra": [1, 2]})),
            Box::new(|m| {
                assert_eq!(m.message_id, "m-1");
            }),
        ),
        (
            "offset timestamps are normalised instants",
            with(json!({"sent_at": "2026-11-26T09:00:00+02:00"})),
            Box::new(|m| {
                assert_eq!(m.sent_at.unix_timestamp(), 1_795_676_400);
            }),
        ),
        (
            "fractional seconds",
            with(json!({"sent_at": "2026-11-26T07:00:00.123456Z"})),
            Box::new(|m| {
                assert_eq!(m.sent_at.nanosecond(), 123_456_000);
            }),
        ),
        (
            "unicode text is kept as is",
            with(json!({"text": "é 😀 \u{200b}x"})),
            Box::new(|m| {
                assert_eq!(m.text.as_deref(), Some("é 😀 \u{200b}x"));
            }),
        ),
        (
            "attachments by data and by uri, attachments null",
            with(json!({"attachments": [
                {"attachment_id": "a", "media_type": "image/png", "data": "aGk="},
                {"attachment_id": "b", "media_type": "video/mp4", "uri": "file:///x.mp4"}
            ]})),
            Box::new(|m| {
                assert_eq!(m.attachments.len(), 2);
                assert_eq!(m.attachments[0].body, AttachmentBody::Data("aGk=".into()));
                assert_eq!(
                    m.attachments[1].body,
                    AttachmentBody::Uri("file:///x.mp4".into())
                );
            }),
        ),
        (
            "null attachments",
            with(json!({"attachments": null})),
            Box::new(|m| {
                assert!(m.attachments.is_empty());
            }),
        ),
        (
            "group message",
            with(json!({"recipient_ids": ["a", "b", "c"]})),
            Box::new(|m| {
                assert_eq!(m.recipient_ids, ["a", "b", "c"]);
            }),
        ),
        (
            "sender details and an original file name",
            with(json!({
                "sender_details": {"ip_address": "2001:db8::7", "device_id": "dev-1",
                                   "email": "a.b@example.org", "later": true},
                "attachments": [{"attachment_id": "a", "media_type": "image/png",
                                 "data": "aGk=", "file_name": "IMG 0001.PNG"}]
            })),
            Box::new(|m| {
                let d = &m.sender_details;
                assert_eq!(d.ip_address, Some("2001:db8::7".parse().unwrap()));
                assert_eq!(d.device_id.as_deref(), Some("dev-1"));
                assert_eq!(d.email.as_deref(), Some("a.b@example.org"));
                assert_eq!(m.attachments[0].file_name.as_deref(), Some("IMG 0001.PNG"));
            }),
        ),
        (
            "null sender details",
            with(json!({"sender_details": null})),
            Box::new(|m| {
                assert!(m.sender_details.is_empty());
                assert_eq!(m.attachments.len(), 0);
            }),
        ),
    ];
    for (name, record, check) in table {
        let message = Message::parse(&record).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(&message);
    }
}

#[test]
fn invalid_messages_are_rejected_with_reason_and_field() {
    let long_id = "x".repeat(257);
    let table: Vec<(&str, Vec<u8>, ReasonCode, Option<&str>)> = vec![
        ("empty", b"".to_vec(), ReasonCode::EmptyLine, None),
        (
            "latin-1 byte",
            b"{\"message_id\":\"\xe9\"}".to_vec(),
            ReasonCode::InvalidUtf8,
            None,
        ),
        (
            "syntax",
            b"{\"message_id\":}".to_vec(),
            ReasonCode::MalformedJson,
            None,
        ),
        (
            "deeply nested",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            ReasonCode::MalformedJson,
            None,
        ),
        ("number", b"42".to_vec(), ReasonCode::MalformedJson, None),
        (
            "array form of a struct",
            b"[\"m\",\"c\",\"u\",[\"r\"],\"2026-11-26T07:00:00Z\"]".to_vec(),
            ReasonCode::MalformedJson,
            None,
        ),
        (
            "attachment as array",
            with(json!({"attachments": [["a", "image/png", "aGk="]]})),
            ReasonCode::MalformedJson,
            Some("attachments[0]"),
        ),
        (
            "missing message_id",
            with(json!({"message_id": null})),
            ReasonCode::MissingField,
            Some("message_id"),
        ),
        (
            "missing sent_at",
            with(json!({"sent_at": null})),
            ReasonCode::MissingField,
            Some("sent_at"),
        ),
        (
            "missing attachment_id",
            with(json!({"attachments": [{"media_type": "image/png", "data": ""}]})),
            ReasonCode::MissingField,
            Some("attachments[0].attachment_id"),
        ),
        (
            "numeric message_id",
            with(json!({"message_id": 7})),
            ReasonCode::InvalidField,
            Some("message_id"),
        ),
        (
            "empty message_id",
            with(json!({"message_id": ""})),
            ReasonCode::InvalidField,
            Some("message_id"),
        ),
        (
            "overlong sender_id",
            with(json!({"sender_id": long_id})),
            ReasonCode::InvalidField,
            Some("sender_id"),
        ),
        (
            "control char in recipient",
            with(json!({"recipient_ids": ["ok", "a\nb"]})),
            ReasonCode::InvalidField,
            Some("recipient_ids[1]"),
        ),
        (
            "date without time zone",
            with(json!({"sent_at": "2026-11-26T07:00:00"})),
            ReasonCode::InvalidField,
            Some("sent_at"),
        ),
        (
            "epoch number date",
            with(json!({"sent_at": 1_795_676_400})),
            ReasonCode::InvalidField,
            Some("sent_at"),
        ),
        (
            "text as object",
            with(json!({"text": {"body": "hi"}})),
            ReasonCode::InvalidField,
            Some("text"),
        ),
        (
            "version 0",
            with(json!({"schema_version": 0})),
            ReasonCode::UnsupportedSchemaVersion,
            Some("schema_version"),
        ),
        (
            "negative version",
            with(json!({"schema_version": -1})),
            ReasonCode::InvalidField,
            Some("schema_version"),
        ),
        (
            "attachment with neither body",
            with(json!({"attachments": [{"attachment_id": "a", "media_type": "image/png"}]})),
            ReasonCode::InvalidAttachment,
            Some("attachments[0]"),
        ),
        (
            "ip address that is not one",
            with(json!({"sender_details": {"ip_address": "300.1.1.1"}})),
            ReasonCode::InvalidField,
            Some("sender_details.ip_address"),
        ),
        (
            "device id with a control character",
            with(json!({"sender_details": {"device_id": "a\u{7}b"}})),
            ReasonCode::InvalidField,
            Some("sender_details.device_id"),
        ),
        (
            "e-mail without a domain",
            with(json!({"sender_details": {"email": "someone@localhost"}})),
            ReasonCode::InvalidField,
            Some("sender_details.email"),
        ),
        (
            "sender details not an object",
            with(json!({"sender_details": "10.0.0.1"})),
            ReasonCode::InvalidField,
            Some("sender_details"),
        ),
        (
            "empty file name",
            with(
                json!({"attachments": [{"attachment_id": "a", "media_type": "image/png",
                                         "data": "aGk=", "file_name": ""}]}),
            ),
            ReasonCode::InvalidField,
            Some("attachments[0].file_name"),
        ),
    ];
    for (name, record, reason, field) in table {
        let err = Message::parse(&record).expect_err(name);
        assert_eq!(err.reason, reason, "{name}: {err}");
        assert_eq!(err.field.as_deref(), field, "{name}: {err}");
    }
}

#[test]
fn errors_name_the_message_when_it_has_a_readable_id() {
    let err = Message::parse(&with(json!({"sent_at": "never"}))).unwrap_err();
    assert_eq!(err.message_id.as_deref(), Some("m-1"));
    let err = Message::parse(&with(json!({"message_id": 5}))).unwrap_err();
    assert_eq!(err.message_id, None);
}

#[test]
fn debug_output_never_shows_text_or_data() {
    let record = with(json!({"text": "keep this a secret", "attachments": [
        {"attachment_id": "a", "media_type": "image/png", "data": "c2VjcmV0IGltYWdl",
         "file_name": "secret-name.png"},
        {"attachment_id": "b", "media_type": "image/png", "uri": "file:///home/alice/secret.png"}
    ]}));
    let mut record: Value = serde_json::from_slice(&record).unwrap();
    record["sender_details"] = json!({"ip_address": "198.51.100.9", "email": "alice@example.org"});
    let record = serde_json::to_vec(&record).unwrap();
    let debug = format!("{:?}", Message::parse(&record).unwrap());
    for needle in ["secret", "c2VjcmV0", "alice", "198.51.100.9"] {
        assert!(!debug.contains(needle), "{needle} in {debug}");
    }
    assert!(debug.contains("<redacted 18 chars>"), "{debug}");
}
