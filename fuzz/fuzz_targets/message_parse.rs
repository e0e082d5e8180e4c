//! `vigil_core::Message::parse` over arbitrary bytes (a Kafka record value or a JSON line).
//!
//! Never panics. A message that parses is valid as `docs/schemas/message.schema.json` says,
//! survives re-serialising and parsing unchanged, and its `Debug` form does not depend on its
//! text or attachment bodies. A record that fails names a valid message id (if any) and
//! never quotes the record's text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::{AttachmentBody, MESSAGE_SCHEMA_VERSION, Message};

/// As `message.rs`: 1 to 256 bytes, no control characters.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && !id.chars().any(char::is_control)
}

/// Characters that error details are written in (schema words, paths, numbers, serde_json's
/// syntax messages). A text with some other character cannot appear in an error by chance.
fn could_be_error_prose(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || " `.-[]:,()'\\/_".contains(c))
}

fuzz_target!(|data: &[u8]| {
    match Message::parse(data) {
        Ok(message) => check_valid(&message),
        Err(err) => {
            let shown = err.to_string();
            if let Some(id) = &err.message_id {
                assert!(valid_id(id), "error names an invalid message id");
            }
            if let Some(field) = &err.field {
                assert!(!field.is_empty(), "error names an empty field path");
            }
            // The record's text never leaks into the error.
            let text = serde_json::from_slice::<serde_json::Value>(data)
                .ok()
                .and_then(|v| v.get("text")?.as_str().map(str::to_string));
            if let Some(text) = text
                && text.chars().count() >= 8
                && !could_be_error_prose(&text)
            {
                assert!(
                    !shown.contains(&text),
                    "error quotes the message text: {shown}"
                );
            }
        }
    }
});

fn check_valid(message: &Message) {
    assert_eq!(message.schema_version, MESSAGE_SCHEMA_VERSION);
    for id in [
        &message.message_id,
        &message.conversation_id,
        &message.sender_id,
    ] {
        assert!(valid_id(id), "accepted an invalid id");
    }
    assert!(!message.recipient_ids.is_empty(), "accepted no recipients");
    assert!(message.recipient_ids.iter().all(|id| valid_id(id)));
    let mut ids: Vec<&str> = message
        .attachments
        .iter()
        .map(|a| a.attachment_id.as_str())
        .collect();
    assert!(ids.iter().all(|id| valid_id(id)));
    ids.sort_unstable();
    let count = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), count, "accepted duplicate attachment ids");

    // What vigil writes (dead-letter copies, test fixtures) reads back as the same message.
    let json = serde_json::to_vec(message).expect("a parsed message serialises");
    let again = Message::parse(&json).expect("a re-serialised message parses");
    assert!(again == *message, "the message changed on a round trip");

    // `Debug` redacts content: replacing the text and bodies by stand-ins of the same length
    // must not change it.
    let mut standin = message.clone();
    standin.text = message.text.as_ref().map(|t| "x".repeat(t.chars().count()));
    for attachment in &mut standin.attachments {
        attachment.body = match &attachment.body {
            AttachmentBody::Data(data) => AttachmentBody::Data("A".repeat(data.len())),
            AttachmentBody::Uri(_) => AttachmentBody::Uri("file:///x".into()),
        };
    }
    assert_eq!(
        format!("{message:?}"),
        format!("{standin:?}"),
        "Debug shows message content"
    );
}
