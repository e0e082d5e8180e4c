//! What the crate's unit tests build their flags from.

use time::OffsetDateTime;
use vigil_core::{DetectorKind, Flag, Match, MatchSubject, Severity, Source, Span};

/// A keyword match of rule `r` in list `l` at character `spans`.
pub(crate) fn keyword_match(spans: &[(usize, usize)]) -> Match {
    Match {
        detector: DetectorKind::Keyword,
        list: "l".into(),
        list_version: "1".into(),
        category: "c".into(),
        severity: Severity::High,
        subject: MatchSubject::Text {
            rule_id: "r".into(),
            spans: spans
                .iter()
                .map(|&(start, end)| Span { start, end })
                .collect(),
        },
    }
}

/// The flag of a message with these ids and send time, from a file, with one keyword match.
pub(crate) fn keyword_flag(ids: [&str; 3], sent_at: OffsetDateTime) -> Flag {
    let [message_id, conversation_id, sender_id] = ids.map(String::from);
    Flag::new(
        message_id,
        conversation_id,
        sender_id,
        sent_at,
        Source::File {
            file: "f".into(),
            line: 1,
        },
        vec![keyword_match(&[])],
        OffsetDateTime::UNIX_EPOCH,
    )
}
