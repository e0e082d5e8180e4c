//! What the crate's unit tests build their flags from, and the store they run against.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::Connection;
use time::OffsetDateTime;
use vigil_core::config::Secret;
use vigil_core::{DetectorKind, Flag, Match, MatchSubject, Severity, Source, Span};

use crate::accounts::{Reviewer, Role};
use crate::sessions::Session;
use crate::store::Store;

/// A migrated store on an empty database of its own, on the test server:
/// `$VIGIL_TEST_DATABASE_URL` (the test script sets it), else the one
/// `deploy/local/postgres start` runs (it is idempotent).
async fn fresh_store() -> Store {
    static N: AtomicUsize = AtomicUsize::new(0);
    let server = std::env::var("VIGIL_TEST_DATABASE_URL").unwrap_or_else(|_| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/local/postgres");
        let out = std::process::Command::new(script)
            .arg("start")
            .output()
            .unwrap_or_else(|e| panic!("deploy/local/postgres runs: {e}"));
        assert!(out.status.success(), "deploy/local/postgres start failed");
        let printed = String::from_utf8_lossy(&out.stdout);
        printed
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string()
    });
    let db = format!(
        "unit_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        OffsetDateTime::now_utc().unix_timestamp_nanos()
    );
    let mut conn = sqlx::PgConnection::connect(&server).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{db}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    let (prefix, _) = server.rsplit_once('/').unwrap();
    let url = Secret::new(format!("{prefix}/{db}"));
    let keys = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/review/content-keys"
    );
    Store::open(&url, Duration::from_secs(10))
        .await
        .unwrap()
        .with_keyring(crate::sealing::Keyring::load(std::path::Path::new(keys)).unwrap())
}

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
            expression: None,
            attachment_id: None,
        },
    }
}

/// A fresh store (as [`fresh_store`]) with one reviewer, `rita`, who signs in at the proxy.
pub(crate) async fn store_with_reviewer() -> (Store, Reviewer) {
    let store = fresh_store().await;
    let who = store
        .add_reviewer("rita", Role::Reviewer, None)
        .await
        .unwrap();
    (store, who)
}

/// A session of reviewer 1, `rita`, with form token `token`, begun an hour ago, and
/// authenticated `authenticated_secs_ago`.
pub(crate) fn session(authenticated_secs_ago: i64) -> Session {
    let now = OffsetDateTime::now_utc();
    Session {
        who: Reviewer {
            id: 1,
            username: "rita".into(),
            pseudonym: "reviewer-1".into(),
            role: Role::Reviewer,
        },
        csrf: "token".into(),
        since: now - time::Duration::hours(1),
        authenticated_at: now - time::Duration::seconds(authenticated_secs_ago),
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
