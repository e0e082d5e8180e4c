//! Content at rest is sealed by the console: a `pg_dump` of a console's database after real
//! ingestion (Kafka → `vigil run` → `vigil review serve`) holds no plaintext of a planted DM
//! text or image, while the console still shows both; keys rotate without re-sealing
//! content; purging a flag destroys its data key.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use std::time::Duration;

use review_support::{Client, runtime};
use vigil_review::sealing::Keyring;
use vigil_review::{Store, StoreError};

/// Words of every flagged DM's text in the shared fixture (`review_support::flagged`).
const CANARY: &str = "see you at practice";

#[test]
fn a_database_dump_holds_no_plaintext_of_a_planted_canary_dm_or_image() {
    let (console, _) = review_support::console();
    let images = review_support::query_i64(&console, "SELECT count(*) FROM flag_images");
    assert!(images > 0, "the fixture stores images");
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--dbname", &console.database_url()])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout).to_lowercase();
    // The dump has the flags (a control: it is not empty or of another database)...
    let message = review_support::query_rows(&console, "SELECT message_id FROM flags LIMIT 1");
    assert!(
        dump.contains(&message[0].to_lowercase()),
        "the dump holds the flags"
    );
    // ...and neither the text, nor its bytes as a bytea column would print them, nor any
    // 24-byte stretch of the listed image.
    // What the messages said of the sender and the image's name are sealed too.
    for plain in [
        CANARY,
        kafka_support::SENDER_IP,
        kafka_support::FILE_NAME,
        "device-canary-1",
    ] {
        assert!(!dump.contains(plain), "{plain} in the dump");
        assert!(
            !dump.contains(&hex::encode(plain)),
            "{plain} (hex) in the dump"
        );
    }
    let with_details = review_support::query_i64(
        &console,
        "SELECT count(*) FROM flag_content WHERE sender_details IS NOT NULL",
    );
    let named = review_support::query_i64(
        &console,
        "SELECT count(*) FROM flag_images WHERE file_name IS NOT NULL",
    );
    assert!(
        with_details > 0 && named == images,
        "{with_details} {named} {images}"
    );
    let image = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        kafka_support::listed_image(),
    )
    .unwrap();
    for window in image.chunks_exact(24).take(200) {
        assert!(
            !dump.contains(&hex::encode(window)),
            "image bytes in the dump"
        );
    }

    // The console opens what it sealed: a lead sees the text on a flag page.
    let flag_id = review_support::query_rows(
        &console,
        "SELECT flag_id FROM flags WHERE content_state = 'stored' LIMIT 1",
    )
    .remove(0);
    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let page = lena.get(&format!("/flags/{flag_id}")).text();
    assert!(page.contains(CANARY), "{page}");
    console.stop();
}

/// A store on database `db` with the fixture's keys named by `ids`, in that order.
async fn store_with(db: &vigil_core::config::Secret, ids: &[&str]) -> Store {
    let file = std::fs::read_to_string(review_support::content_key_file()).unwrap();
    let lines: Vec<&str> = ids
        .iter()
        .map(|id| {
            file.lines()
                .find(|l| l.starts_with(&format!("{id} ")))
                .unwrap()
        })
        .collect();
    Store::open(db, Duration::from_secs(10))
        .await
        .unwrap()
        .with_keyring(Keyring::parse(&lines.join("\n")).unwrap())
}

#[test]
fn keys_rotate_without_resealing_and_a_purge_destroys_the_data_key() {
    let rt = runtime();
    rt.block_on(async {
        let db = review_support::fresh_database("sealing").await;
        let old = store_with(&db, &["test-2025"]).await;
        let incoming = review_support::with_content("m-sealed", "rotation canary", Vec::new());
        let flag = &incoming.flag;
        old.insert_flag(&incoming).await.unwrap();
        let text = async |store: &Store| {
            store
                .flag_detail(&flag.flag_id)
                .await
                .map(|d| d.unwrap().text)
        };
        let sealed_text: Vec<u8> =
            sqlx::query_scalar("SELECT text_utf8 FROM flag_content WHERE flag_id = $1")
                .bind(&flag.flag_id)
                .fetch_one(old.pool())
                .await
                .unwrap();

        // The new key first, the old one still listed: opens, and rotation re-wraps.
        let both = store_with(&db, &["test-2026", "test-2025"]).await;
        assert_eq!(
            text(&both).await.unwrap().as_deref(),
            Some("rotation canary")
        );
        assert_eq!(both.rotate_content_keys().await.unwrap(), 1);
        assert_eq!(both.rotate_content_keys().await.unwrap(), 0);
        let kek: String = sqlx::query_scalar("SELECT kek_id FROM flag_keys WHERE flag_id = $1")
            .bind(&flag.flag_id)
            .fetch_one(both.pool())
            .await
            .unwrap();
        assert_eq!(kek, "test-2026");
        // The content itself was not re-sealed.
        let after: Vec<u8> =
            sqlx::query_scalar("SELECT text_utf8 FROM flag_content WHERE flag_id = $1")
                .bind(&flag.flag_id)
                .fetch_one(both.pool())
                .await
                .unwrap();
        assert_eq!(after, sealed_text);
        // The old key can go; without the new one nothing opens.
        let new = store_with(&db, &["test-2026"]).await;
        assert_eq!(
            text(&new).await.unwrap().as_deref(),
            Some("rotation canary")
        );
        let err = text(&old).await.unwrap_err();
        assert!(matches!(err, StoreError::Sealing(_)), "{err}");
        assert!(err.to_string().contains("test-2026"), "{err}");

        // Past retention and not held: the purge deletes the content and its data key.
        review_support::age_content(&new).await;
        let purged = new
            .purge_content(Duration::from_secs(30 * 86_400))
            .await
            .unwrap();
        assert_eq!(purged.flags, 1);
        let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM flag_keys")
            .fetch_one(new.pool())
            .await
            .unwrap();
        assert_eq!(keys, 0, "the data key is destroyed with the content");
    });
}

#[test]
fn content_stored_before_sealing_is_sealed_by_rotate_keys_and_still_opens() {
    runtime().block_on(async {
        let db = review_support::fresh_database("sealing_legacy").await;
        let store = review_support::sealed_store(&db).await;
        let (flag_id, image) = review_support::image_flag(&store, "m-legacy").await;
        // As a flag stored before migration 0010 was: plaintext columns, no data key.
        for sql in [
            "UPDATE flag_content SET text_utf8 = convert_to('legacy canary', 'UTF8'),
                sender_details = NULL WHERE flag_id = $1",
            "UPDATE flag_images SET data = convert_to('legacy image bytes', 'UTF8'),
                preview = NULL, file_name = NULL WHERE flag_id = $1",
            "DELETE FROM flag_keys WHERE flag_id = $1",
        ] {
            sqlx::query(sql)
                .bind(&flag_id)
                .execute(store.pool())
                .await
                .unwrap();
        }
        assert_ne!(image, b"legacy image bytes");
        let column = async |sql: &str| -> Vec<u8> {
            sqlx::query_scalar(sql)
                .bind(&flag_id)
                .fetch_one(store.pool())
                .await
                .unwrap()
        };
        let text_sql = "SELECT text_utf8 FROM flag_content WHERE flag_id = $1";
        let image_sql = "SELECT data FROM flag_images WHERE flag_id = $1";
        assert_eq!(column(text_sql).await, b"legacy canary");

        assert_eq!(store.seal_legacy_content().await.unwrap(), 1);
        assert_eq!(store.seal_legacy_content().await.unwrap(), 0);
        let sealed_text = column(text_sql).await;
        assert!(
            !sealed_text.windows(6).any(|w| w == b"legacy"),
            "text still in plaintext"
        );
        assert!(!column(image_sql).await.windows(6).any(|w| w == b"legacy"));
        // The console opens it as before.
        let detail = store.flag_detail(&flag_id).await.unwrap().unwrap();
        assert_eq!(detail.text.as_deref(), Some("legacy canary"));
        assert_eq!(
            store.image(&flag_id, "a-1").await.unwrap().as_deref(),
            Some(&b"legacy image bytes"[..])
        );
    });
}
