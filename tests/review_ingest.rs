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
use vigil_config::Config;
use vigil_core::Source;
use vigil_review::Store;
use vigil_review::ingest::{IngestProgress, IngestStats, PartitionProgress, ingest};

/// Ingestion on a thread of its own until stopped.
struct Ingesting {
    shutdown: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<IngestStats>,
    progress: Arc<IngestProgress>,
}

impl Ingesting {
    fn start(config: Config, store: Store, rt: tokio::runtime::Handle) -> Ingesting {
        let shutdown = Arc::new(AtomicBool::new(false));
        let stop = shutdown.clone();
        let progress = Arc::new(IngestProgress::default());
        let handle = {
            let progress = progress.clone();
            std::thread::spawn(move || {
                ingest(&config.console(), &store, &rt, &stop, progress).unwrap()
            })
        };
        Ingesting {
            shutdown,
            handle,
            progress,
        }
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
    let store = rt.block_on(review_support::sealed_store(&db));
    let config = review_config(&group, &t.input, &[&t.flags], &db);
    let ingesting = Ingesting::start(config.clone(), store.clone(), rt.handle().clone());
    let n = expected.len() as i64;
    wait_for_count(&rt, &store, "SELECT count(*) FROM flags", n);

    // Every flagged message, once, with the text it was sent with and its image's bytes.
    let rows = rt
        .block_on(
            sqlx::query(
                "SELECT f.flag_id, f.message_id, f.content_state,
                        (SELECT count(*) FROM flag_images i WHERE i.flag_id = f.flag_id) AS images
                 FROM flags f",
            )
            .fetch_all(store.pool()),
        )
        .unwrap();
    let stored: BTreeSet<String> = rows.iter().map(|r| r.get("message_id")).collect();
    assert_eq!(stored, expected);
    for row in &rows {
        let id: String = row.get("message_id");
        assert_eq!(row.get::<String, _>("content_state"), "stored", "{id}");
        // Opened with the flag's data key (the column holds only ciphertext).
        let flag_id: String = row.get("flag_id");
        let detail = rt.block_on(store.flag_detail(&flag_id)).unwrap().unwrap();
        assert_eq!(detail.text.as_ref(), texts.get(&id), "{id}");
        let images: i64 = row.get("images");
        assert_eq!(images, i64::from(with_image.contains(&id)), "{id}");
    }
    let (flag_id, attachment_id, sealed): (String, String, Vec<u8>) = rt
        .block_on(
            sqlx::query_as("SELECT flag_id, attachment_id, data FROM flag_images LIMIT 1")
                .fetch_one(store.pool()),
        )
        .unwrap();
    let image = rt
        .block_on(store.image(&flag_id, &attachment_id))
        .unwrap()
        .unwrap();
    let listed = base64::engine::general_purpose::STANDARD
        .decode(listed_image())
        .unwrap();
    assert_eq!(image, listed);
    assert!(
        !sealed
            .windows(16)
            .any(|w| listed.windows(16).take(64).any(|l| l == w)),
        "the stored image is sealed"
    );
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
            contact_sheets_failed: 0,
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
    let store = rt.block_on(review_support::sealed_store(&db));
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
    let records = review_support::text_flags(&["m-1", "m-2", "m-3"]);
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
    // What the metrics (and the stall alert) see: the committed offset stuck, two behind it.
    let stuck = PartitionProgress {
        committed: 1,
        lag: 2,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ingesting
        .progress
        .snapshot()
        .contains(&(queue.clone(), 0, stuck))
    {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            ingesting.progress.snapshot()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

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

#[test]
fn a_dm_with_a_nul_character_is_stored_losslessly_and_never_holds_up_the_flags_behind_it() {
    // One partition, so every flag queues behind the first. PostgreSQL's text type refuses
    // U+0000 (SQLSTATE 22021): stored as text, this DM stalled its partition for good.
    let t: Topics = topics("review-nul", 1);
    let group = unique("review-nul");
    let nul_text = "hi\u{0} keep this a secret\u{0}";
    let nul = serde_json::json!({
        "message_id": "nul-0", "conversation_id": "c-nul", "sender_id": "u-1",
        "recipient_ids": ["u-2"], "sent_at": "2026-11-26T07:00:00Z", "text": nul_text,
    });
    let (mut records, mut expected) = messages(30, "after-nul");
    records.insert(
        0,
        Input {
            key: "c-nul".into(),
            value: serde_json::to_vec(&nul).unwrap(),
            partition: Some(0),
        },
    );
    expected.insert("nul-0".into());
    produce(&t.input, &records);
    let vigil = Vigil::start(&kafka_support::config(&group, &t, ""));
    read_at_least(&t.flags, expected.len(), Duration::from_secs(90));
    vigil.terminate(Duration::from_secs(30));

    let rt = runtime();
    let db = rt.block_on(review_support::fresh_database("nul"));
    let store = rt.block_on(review_support::sealed_store(&db));
    let config = review_config(&group, &t.input, &[&t.flags], &db);
    let ingesting = Ingesting::start(config, store.clone(), rt.handle().clone());
    // Every flag reviewable within seconds, the NUL one first.
    let deadline = Instant::now() + Duration::from_secs(30);
    let n = expected.len() as i64;
    while count(&rt, &store, "SELECT count(*) FROM flags") < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} flags stored after 30 s",
            count(&rt, &store, "SELECT count(*) FROM flags")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let flag_id: String = rt
        .block_on(
            sqlx::query_scalar(
                "SELECT f.flag_id FROM flag_content c JOIN flags f USING (flag_id)
                 WHERE f.message_id = 'nul-0' AND f.content_state = 'stored'",
            )
            .fetch_one(store.pool()),
        )
        .unwrap();
    let detail = rt.block_on(store.flag_detail(&flag_id)).unwrap().unwrap();
    assert_eq!(
        detail.text.unwrap().as_bytes(),
        nul_text.as_bytes(),
        "the text, NULs and all"
    );
    wait_committed(
        &format!("{group}-review"),
        &t.flags,
        &high_watermarks(&t.flags, 1),
    );
    let stats = ingesting.stop();
    assert_eq!(stats.stored, n as u64);
    assert_eq!(stats.rejected, 0);
}

#[test]
fn content_is_shown_only_when_the_record_at_the_flags_coordinates_is_the_message_flagged() {
    let input = unique("review-identity");
    let queue = format!("{input}.flags");
    create_topics(&[&input, &queue], 1);
    let image = base64::engine::general_purpose::STANDARD
        .decode(listed_image())
        .unwrap();
    let dm = |id: &str, sender: &str| {
        serde_json::json!({
            "message_id": id, "conversation_id": "c-1", "sender_id": sender,
            "recipient_ids": ["u-2"], "sent_at": "2026-11-26T07:00:00Z",
            "text": format!("{id}: keep this a secret"),
            "attachments": [{"attachment_id": "a1", "media_type": "image/png", "data": listed_image()}],
        })
    };
    // What the topic holds now: offsets 0 and 1. What was flagged: other messages at the
    // same coordinates (a recreated topic), and one whose image was since replaced.
    let (now_0, now_1) = (dm("m-new-0", "u-1"), dm("m-new-1", "u-7"));
    produce(
        &input,
        &[&now_0, &now_1]
            .iter()
            .map(|m| Input {
                key: "c-1".into(),
                value: serde_json::to_vec(m).unwrap(),
                partition: Some(0),
            })
            .collect::<Vec<_>>(),
    );
    let at = |offset| Source::Kafka {
        topic: input.clone(),
        partition: 0,
        offset,
    };
    let image_digest = [("a1", image.as_slice())];
    let cases = [
        // (flag, expected content note fragment; None: stored). Rules differ so that the
        // flag ids (conversation, message, matches) do.
        (
            review_support::flag_for(&dm("m-old-0", "u-1"), at(0), "kw-1", &image_digest),
            Some("message_id differs"),
        ),
        (
            review_support::flag_for(&dm("m-new-1", "u-1"), at(1), "kw-2", &image_digest),
            Some("sender_id differs"),
        ),
        (
            review_support::flag_for(
                &now_0,
                at(0),
                "kw-3",
                &[("a1", b"another image".as_slice())],
            ),
            Some("attachment digest differs"),
        ),
        (
            review_support::flag_for(&now_1, at(1), "kw-4", &image_digest),
            None,
        ),
    ];
    produce(
        &queue,
        &cases
            .iter()
            .map(|(flag, _)| Input {
                key: flag.flag_id.clone(),
                value: serde_json::to_vec(flag).unwrap(),
                partition: Some(0),
            })
            .collect::<Vec<_>>(),
    );
    let rt = runtime();
    let db = rt.block_on(review_support::fresh_database("identity"));
    let store = rt.block_on(review_support::sealed_store(&db));
    let group = unique("review-identity");
    let config = review_config(&group, &input, &[&queue], &db);
    let ingesting = Ingesting::start(config, store.clone(), rt.handle().clone());
    wait_for_count(
        &rt,
        &store,
        "SELECT count(*) FROM flags",
        cases.len() as i64,
    );
    ingesting.stop();
    for (flag, note) in &cases {
        let row = rt
            .block_on(
                sqlx::query(
                    "SELECT f.content_state, f.content_note,
                        (SELECT count(*) FROM flag_content c WHERE c.flag_id = f.flag_id) AS texts,
                        (SELECT count(*) FROM flag_images i WHERE i.flag_id = f.flag_id) AS images
                     FROM flags f WHERE f.flag_id = $1",
                )
                .bind(&flag.flag_id)
                .fetch_one(store.pool()),
            )
            .unwrap();
        let state: String = row.get("content_state");
        let stored_parts: (i64, i64) = (row.get("texts"), row.get("images"));
        match note {
            None => {
                assert_eq!(state, "stored", "{}", flag.message_id);
                assert_eq!(stored_parts, (1, 1));
            }
            Some(why) => {
                let got: String = row.get("content_note");
                assert_eq!(state, "unavailable", "{}", flag.message_id);
                assert!(got.contains(why), "{}: {got}", flag.message_id);
                assert_eq!(stored_parts, (0, 0), "nothing of another message is kept");
            }
        }
    }
}
