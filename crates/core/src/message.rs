use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ReasonCode;

/// Version of the message wire format (`docs/schemas/message.schema.json`). A message without
/// `schema_version` is read as this version.
pub const MESSAGE_SCHEMA_VERSION: u32 = 1;

/// Identifiers (message, conversation, user, attachment ids) are opaque strings of 1 to this
/// many bytes without control characters.
pub(crate) const MAX_ID_BYTES: usize = 256;

/// A direct message, validated. `Debug` redacts the text and attachment data, so a message can
/// never leak into a log line through `{:?}`.
#[derive(Clone, PartialEq, Serialize)]
pub struct Message {
    /// The wire-format version this message was written in.
    pub schema_version: u32,
    /// The platform's id of the message; unique per platform.
    pub message_id: String,
    /// The conversation (thread) the message belongs to.
    pub conversation_id: String,
    /// The sending account.
    pub sender_id: String,
    /// The receiving accounts (at least one).
    pub recipient_ids: Vec<String>,
    /// When the platform accepted the message.
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    /// The message text, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Attached media, in the order the sender attached them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// What the platform knows of the sender when the message was sent, if it says: only
    /// the review console reads it, for reports to NCMEC and law enforcement.
    #[serde(skip_serializing_if = "SenderDetails::is_empty")]
    pub sender_details: SenderDetails,
}

/// Optional identifiers of the sending account at the time of sending (the CyberTipline's
/// `ipCaptureEvent`, `deviceId` and `email`). The scanner never reads them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderDetails {
    /// The address the message was sent from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<std::net::IpAddr>,
    /// The sending device's id on the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The account's verified e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl SenderDetails {
    /// Whether the message carried none of them.
    pub fn is_empty(&self) -> bool {
        self.ip_address.is_none() && self.device_id.is_none() && self.email.is_none()
    }
}

/// The longest `file_name` and `sender_details.email` accepted, in bytes.
const MAX_NAME_BYTES: usize = 255;

/// One attached file.
#[derive(Clone, PartialEq, Serialize)]
pub struct Attachment {
    /// Unique within the message.
    pub attachment_id: String,
    /// As declared by the sender's client, e.g. `image/jpeg`; see [`crate::MediaType`].
    pub media_type: String,
    /// Where the bytes are.
    #[serde(flatten)]
    pub body: AttachmentBody,
    /// The file's name as the sender's device had it, if the platform keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

/// Where an attachment's bytes are: inline or by reference.
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentBody {
    /// Inline bytes, base64 (standard alphabet; padding optional).
    Data(String),
    /// A reference; `file://` URIs under configured roots are fetched.
    Uri(String),
}

/// Why a record is not a valid message. `detail` never quotes the record's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct MessageError {
    /// The reason code.
    pub reason: ReasonCode,
    /// The JSON path of the offending field, if any.
    pub field: Option<String>,
    /// Content-free explanation.
    pub detail: String,
    /// The message id, when the record had a readable one.
    pub message_id: Option<String>,
}

#[derive(Deserialize)]
struct RawMessage {
    schema_version: Option<u32>,
    message_id: String,
    conversation_id: String,
    sender_id: String,
    recipient_ids: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    sent_at: OffsetDateTime,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    attachments: Option<Vec<ObjectOnly<RawAttachment>>>,
    #[serde(default)]
    sender_details: Option<SenderDetails>,
}

/// Deserializes `T` from a JSON object only: serde's derived structs also accept arrays
/// (fields by position), and only objects are messages and attachments.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Objects<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Objects<T> {
            type Value = ObjectOnly<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ObjectOnly)
            }
        }
        deserializer.deserialize_map(Objects(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct RawAttachment {
    attachment_id: String,
    media_type: String,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    file_name: Option<String>,
}

impl Message {
    /// Parses and validates one record (a JSON object, UTF-8). Unknown fields are ignored so
    /// that producers can add fields without breaking scanning.
    pub fn parse(bytes: &[u8]) -> Result<Message, MessageError> {
        let error = |reason, detail: String| MessageError {
            reason,
            field: None,
            detail,
            message_id: None,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(error(ReasonCode::EmptyLine, "the record is blank".into()));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            error(
                ReasonCode::InvalidUtf8,
                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            )
        })?;
        // A well-formed message parses straight into the typed form.
        if let Ok(ObjectOnly(raw)) = serde_json::from_str::<ObjectOnly<RawMessage>>(text) {
            return raw.validate();
        }
        // Otherwise explain the failure from a parsed value: the field path, the message id
        // if any, and never a quote of the input.
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| error(ReasonCode::MalformedJson, e.to_string()))?;
        let message_id = probe_message_id(&value);
        let not_object = |field: Option<String>, what: &str| MessageError {
            reason: ReasonCode::MalformedJson,
            detail: format!("{what} must be a JSON object"),
            field,
            message_id: message_id.clone(),
        };
        let Some(object) = value.as_object() else {
            return Err(not_object(None, "the record"));
        };
        if let Some(serde_json::Value::Array(items)) = object.get("attachments")
            && let Some(i) = items.iter().position(|a| !a.is_object())
        {
            let field = format!("attachments[{i}]");
            return Err(not_object(Some(field.clone()), &format!("`{field}`")));
        }
        let raw: RawMessage = serde_path_to_error::deserialize(value)
            .map_err(|e| classify_json_error(&e, message_id.clone()))?;
        raw.validate()
    }
}

impl RawMessage {
    fn validate(self) -> Result<Message, MessageError> {
        let message_id = valid_id(&self.message_id).then(|| self.message_id.clone());
        let invalid = |reason, field: String, detail: String| MessageError {
            reason,
            field: Some(field),
            detail,
            message_id: message_id.clone(),
        };
        let version = self.schema_version.unwrap_or(MESSAGE_SCHEMA_VERSION);
        if version != MESSAGE_SCHEMA_VERSION {
            return Err(invalid(
                ReasonCode::UnsupportedSchemaVersion,
                "schema_version".into(),
                format!(
                    "schema_version {version} is not supported (this build reads {MESSAGE_SCHEMA_VERSION})"
                ),
            ));
        }
        let id_error = |field: String| {
            invalid(
                ReasonCode::InvalidField,
                field,
                format!("must be 1 to {MAX_ID_BYTES} bytes without control characters"),
            )
        };
        for (field, value) in [
            ("message_id", &self.message_id),
            ("conversation_id", &self.conversation_id),
            ("sender_id", &self.sender_id),
        ] {
            if !valid_id(value) {
                return Err(id_error(field.into()));
            }
        }
        if self.recipient_ids.is_empty() {
            return Err(invalid(
                ReasonCode::InvalidField,
                "recipient_ids".into(),
                "must list at least one recipient".into(),
            ));
        }
        if let Some(i) = self.recipient_ids.iter().position(|id| !valid_id(id)) {
            return Err(id_error(format!("recipient_ids[{i}]")));
        }
        let mut seen = HashSet::new();
        let mut attachments = Vec::new();
        for (i, ObjectOnly(raw)) in self.attachments.unwrap_or_default().into_iter().enumerate() {
            if !valid_id(&raw.attachment_id) {
                return Err(id_error(format!("attachments[{i}].attachment_id")));
            }
            if !seen.insert(raw.attachment_id.clone()) {
                return Err(invalid(
                    ReasonCode::InvalidAttachment,
                    format!("attachments[{i}].attachment_id"),
                    "attachment ids must be unique within a message".into(),
                ));
            }
            let body = match (raw.data, raw.uri) {
                (Some(data), None) => AttachmentBody::Data(data),
                (None, Some(uri)) => AttachmentBody::Uri(uri),
                (data, _) => {
                    let which = if data.is_some() { "both" } else { "neither" };
                    return Err(invalid(
                        ReasonCode::InvalidAttachment,
                        format!("attachments[{i}]"),
                        format!(
                            "an attachment needs exactly one of `data` and `uri`, it has {which}"
                        ),
                    ));
                }
            };
            if raw.file_name.as_deref().is_some_and(|n| !valid_name(n)) {
                return Err(invalid(
                    ReasonCode::InvalidField,
                    format!("attachments[{i}].file_name"),
                    format!("must be 1 to {MAX_NAME_BYTES} bytes without control characters"),
                ));
            }
            attachments.push(Attachment {
                attachment_id: raw.attachment_id,
                media_type: raw.media_type,
                body,
                file_name: raw.file_name,
            });
        }
        let sender_details = self.sender_details.unwrap_or_default();
        if sender_details
            .device_id
            .as_deref()
            .is_some_and(|d| !valid_id(d))
        {
            return Err(id_error("sender_details.device_id".into()));
        }
        if sender_details
            .email
            .as_deref()
            .is_some_and(|e| !valid_email(e))
        {
            return Err(invalid(
                ReasonCode::InvalidField,
                "sender_details.email".into(),
                format!(
                    "must be an address of at most {MAX_NAME_BYTES} bytes: local part, @, domain"
                ),
            ));
        }
        Ok(Message {
            schema_version: version,
            message_id: self.message_id,
            conversation_id: self.conversation_id,
            sender_id: self.sender_id,
            recipient_ids: self.recipient_ids,
            sent_at: self.sent_at,
            text: self.text,
            attachments,
            sender_details,
        })
    }
}

/// Whether `id` is a usable identifier (message, conversation, user or attachment id): 1 to
/// 256 bytes, no control characters.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES && !id.chars().any(char::is_control)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_BYTES && !name.chars().any(char::is_control)
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    valid_name(email)
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

/// Turns a serde error into a reason code and a detail that names the field but never quotes
/// the input: serde's "invalid type" messages embed the offending value, so only the path and
/// the expected type (which come from our schema) are reported.
fn classify_json_error(
    err: &serde_path_to_error::Error<serde_json::Error>,
    message_id: Option<String>,
) -> MessageError {
    let path = err.path().to_string();
    let at_root = err.path().iter().next().is_none();
    let msg = err.inner().to_string();
    let (reason, field, detail) = match msg
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    {
        Some(name) => {
            let field = if at_root {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
            let detail = format!("missing field `{field}`");
            (ReasonCode::MissingField, Some(field), detail)
        }
        None => {
            let detail = format!(
                "invalid value for `{path}`: expected {}",
                expected_for(&path)
            );
            (ReasonCode::InvalidField, Some(path), detail)
        }
    };
    MessageError {
        reason,
        field,
        detail,
        message_id,
    }
}

fn expected_for(path: &str) -> &'static str {
    let last = path.rsplit('.').next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last);
    match last {
        "schema_version" => "a non-negative integer",
        "sent_at" => "an RFC 3339 timestamp",
        "recipient_ids" if !path.ends_with(']') => "an array of strings",
        "attachments" if !path.ends_with(']') => "an array of attachment objects",
        "attachments" => "an attachment object",
        "sender_details" => "an object of ip_address, device_id and email",
        "ip_address" => "an IPv4 or IPv6 address",
        _ => "a string",
    }
}

/// Reads just `message_id` from a record that may fail full parsing, so that the error record
/// can still name the message.
fn probe_message_id(value: &serde_json::Value) -> Option<String> {
    match value.get("message_id")? {
        serde_json::Value::String(id) if valid_id(id) => Some(id.clone()),
        _ => None,
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("schema_version", &self.schema_version)
            .field("message_id", &self.message_id)
            .field("conversation_id", &self.conversation_id)
            .field("sender_id", &self.sender_id)
            .field("recipient_ids", &self.recipient_ids)
            .field("sent_at", &self.sent_at)
            .field(
                "text",
                &self
                    .text
                    .as_ref()
                    .map(|t| Redacted("chars", t.chars().count())),
            )
            .field("attachments", &self.attachments)
            .field("sender_details", &self.sender_details)
            .finish()
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("attachment_id", &self.attachment_id)
            .field("media_type", &self.media_type)
            .field("body", &self.body)
            .field("file_name", &self.file_name.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl fmt::Debug for AttachmentBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachmentBody::Data(data) => {
                write!(f, "Data({:?})", Redacted("base64 chars", data.len()))
            }
            AttachmentBody::Uri(_) => f.write_str("Uri(<redacted>)"),
        }
    }
}

impl fmt::Debug for SenderDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present = |set: bool| if set { "<redacted>" } else { "-" };
        f.debug_struct("SenderDetails")
            .field("ip_address", &present(self.ip_address.is_some()))
            .field("device_id", &present(self.device_id.is_some()))
            .field("email", &present(self.email.is_some()))
            .finish()
    }
}

struct Redacted(&'static str, usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} {}>", self.1, self.0)
    }
}
