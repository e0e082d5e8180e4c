//! The review console's ingestion against real PostgreSQL (deploy/local/postgres) and Kafka
//! (deploy/local/kafka): the flags `vigil run` writes become rows with their message's text
//! and images, redeliveries are ignored, records that are not flags are kept with a reason,
//! and an offset is committed only after its row is stored.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use kafka_support::{
    Input, Topics, Vigil, brokers, create_topics, listed_image, messages, produce, read_at_least,
    topics, unique,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use review_support::{count, review_config, runtime};
use sqlx::Row;
use vigil_core::Config;
use vigil_review::Store;
use vigil_review::ingest::{IngestStats, ingest};

/// Ingestion on a thread of its own until stopped.
struct Ingesting {
    shutdown: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<IngestStats>,
}

impl Ingesting {
    fn start(config: Config, store: Store, rt: tokio::runtime::Handle) -> Ingesting {
        let shutdown = Arc::new(AtomicBool::new(false));
        let stop = shutdown.clone();
        let handle = std::thread::spawn(move || ingest(&config, &store, &rt, &stop).unwrap());
        Ingesting { shutdown, handle }
    }

    fn stop(self) -> IngestStats {
        self.shutdown.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

fn wait_for_count(rt: &tokio::runtime::Runtime, store: &Store, sql: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let now = count(rt, store, sql);
        if now == n {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: {now}, expected {n}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The group's committed offset per partition of `topic` (-1: none).
fn committed(group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let offsets = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    (0..partitions)
        .map(
            |p| match offsets.find_partition(topic, p).unwrap().offset() {
                Offset::Offset(o) => o,
                _ => -1,
            },
        )
        .collect()
}

fn high_watermarks(topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .collect()
}

fn wait_committed(group: &str, topic: &str, expected: &[i64]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = committed(group, topic, expected.len() as i32);
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "committed {now:?}, expected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn flags_from_vigil_run_become_rows_with_their_content_and_redeliveries_are_ignored() {
    let t: Topics = topics("review-ingest", 2);
    let group = unique("review-ingest");
    let (records, expected) = messages(60, "rv");
    let texts: BTreeMap<String, String> = records
        .iter()
        .map(|r| {
            let m: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
            (
                m["message_id"].as_str().unwrap().to_string(),
                m["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let with_image: BTreeSet<String> = records
        .iter()
        .filter_map(|r| {
            let m: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
            m.get("attachments")
                .map(|_| m["message_id"].as_str().unwrap().to_string())
        })
        .collect();
    produce(&t.input, &records);
    let vigil = Vigil::start(&kafka_support::config(&group, &t, ""));
    let flags = read_at_least(&t.flags, expected.len(), Duration::from_secs(90));
    vigil.terminate(Duration::from_secs(30));

    let rt = runtime();
    let db = rt.block_on(review_support::fresh_database("ingest"));
    let store = rt
        .block_on(Store::open(&db, Duration::from_secs(10)))
        .unwrap();
    let config = review_config(&group, &t.input, &[&t.flags], &db);
    let ingesting = Ingesting::start(config.clone(), store.clone(), rt.handle().clone());
    let n = expected.len() as i64;
    wait_for_count(&rt, &store, "SELECT count(*) FROM flags", n);

    // Every flagged message, once, with the text it was sent with and its image's bytes.
    let rows = rt
        .block_on(
            sqlx::query(
                "SELECT f.message_id, f.content_state, c.text,
                        (SELECT count(*) FROM flag_images i WHERE i.flag_id = f.flag_id) AS images
                 FROM flags f LEFT JOIN flag_content c USING (flag_id)",
            )
            .fetch_all(store.pool()),
        )
        .unwrap();
    let stored: BTreeSet<String> = rows.iter().map(|r| r.get("message_id")).collect();
    assert_eq!(stored, expected);
    for row in &rows {
        let id: String = row.get("message_id");
        assert_eq!(row.get::<String, _>("content_state"), "stored", "{id}");
        assert_eq!(
            row.get::<Option<String>, _>("text").as_ref(),
            texts.get(&id),
            "{id}"
        );
        let images: i64 = row.get("images");
        assert_eq!(images, i64::from(with_image.contains(&id)), "{id}");
    }
    let image: Vec<u8> = rt
        .block_on(
            sqlx::query_scalar("SELECT data FROM flag_images LIMIT 1").fetch_one(store.pool()),
        )
        .unwrap();
    let listed = base64::engine::general_purpose::STANDARD
        .decode(listed_image())
        .unwrap();
    assert_eq!(image, listed);
    let matches: usize = flags
        .iter()
        .map(|f| f.json()["matches"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        count(&rt, &store, "SELECT count(*) FROM flag_matches"),
        matches as i64
    );

    // Redelivered flags change nothing; records that are not flags are kept with a reason.
    let mut again: Vec<Input> = flags
        .iter()
        .map(|f| Input {
            key: "again".into(),
            value: f.value.clone(),
            partition: None,
        })
        .collect();
    let mut future = flags[0].json().clone();
    future["schema_version"] = serde_json::json!(99);
    again.push(Input {
        key: "bad".into(),
        value: b"{not json".to_vec(),
        partition: Some(0),
    });
    again.push(Input {
        key: "future".into(),
        value: serde_json::to_vec(&future).unwrap(),
        partition: Some(1),
    });
    produce(&t.flags, &again);
    wait_for_count(&rt, &store, "SELECT count(*) FROM rejected_records", 2);
    wait_committed(
        &format!("{group}-review"),
        &t.flags,
        &high_watermarks(&t.flags, 2),
    );
    let stats = ingesting.stop();
    assert_eq!(
        stats,
        IngestStats {
            stored: n as u64,
            duplicates: flags.len() as u64 + (flags.len() as u64 - n as u64),
            rejected: 2,
        }
    );
    assert_eq!(count(&rt, &store, "SELECT count(*) FROM flags"), n);
    let reasons: Vec<String> = rt
        .block_on(
            sqlx::query_scalar("SELECT reason FROM rejected_records ORDER BY reason")
                .fetch_all(store.pool()),
        )
        .unwrap();
    assert_eq!(reasons, ["invalid_flag", "unsupported_schema_version"]);
}

#[test]
fn an_offset_is_committed_only_after_its_flag_is_stored() {
    let queue = unique("review-commit");
    create_topics(&[&queue], 1);
    let group = unique("review-commit");
    let rt = runtime();
    let db = rt.block_on(review_support::fresh_database("commit"));
    let store = rt
        .block_on(Store::open(&db, Duration::from_secs(10)))
        .unwrap();
    // The database refuses the second flag until the fault is lifted.
    rt.block_on(
        sqlx::raw_sql(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.message_id = 'm-2' THEN RAISE EXCEPTION 'injected fault'; END IF;
             RETURN NEW; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON flags FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .execute(store.pool()),
    )
    .unwrap();
    let records: Vec<Input> = ["m-1", "m-2", "m-3"]
        .iter()
        .map(|id| Input {
            key: id.to_string(),
            value: review_support::text_flag(id),
            partition: Some(0),
        })
        .collect();
    produce(&queue, &records);
    let config = review_config(&group, "dms", &[&queue], &db);
    let ingesting = Ingesting::start(config, store.clone(), rt.handle().clone());
    let review_group = format!("{group}-review");

    wait_for_count(&rt, &store, "SELECT count(*) FROM flags", 1);
    wait_committed(&review_group, &queue, &[1]);
    // Several retries and auto-commit intervals later, nothing past the refused flag moved.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(committed(&review_group, &queue, 1), [1]);
    assert_eq!(count(&rt, &store, "SELECT count(*) FROM flags"), 1);

    rt.block_on(sqlx::raw_sql("DROP TRIGGER refuse ON flags").execute(store.pool()))
        .unwrap();
    wait_for_count(&rt, &store, "SELECT count(*) FROM flags", 3);
    wait_committed(&review_group, &queue, &[3]);
    let stats = ingesting.stop();
    assert_eq!(stats.stored, 3);
    let state: String = rt
        .block_on(
            sqlx::query_scalar("SELECT content_state FROM flags WHERE message_id = 'm-1'")
                .fetch_one(store.pool()),
        )
        .unwrap();
    assert_eq!(state, "unavailable");
}
