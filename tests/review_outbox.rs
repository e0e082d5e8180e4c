//! Decisions recorded while the decisions topic's broker is down (a broker of this test's
//! own, deploy/local/kafka on its own port, stopped and restarted) stay in the review store's
//! outbox and are published once it is back; nothing is marked published unacknowledged.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use std::time::{Duration, Instant};

use kafka_support::{LocalBroker, create_topics, read_until, unique, use_brokers};
use review_support::{count, review_config, runtime, text_flag};
use vigil_core::Flag;
use vigil_review::Store;
use vigil_review::accounts::Role;
use vigil_review::decisions::Decision;

/// Ports of the other tests' own brokers: 29392, 29492, 29592-29594.
const PORT: u16 = 29692;

#[test]
fn decisions_taken_while_kafka_is_down_are_published_once_it_is_back() {
    let broker = LocalBroker::start(PORT);
    use_brokers(&broker.address);
    let rt = runtime();
    let db = rt.block_on(review_support::fresh_database("outbox"));
    let store = rt
        .block_on(Store::open(&db, Duration::from_secs(10)))
        .unwrap();
    let decisions = unique("decisions");
    create_topics(&[&decisions], 1);
    let mut config = review_config("outbox", "dms", &["flags"], &db);
    config.review.decisions_topic = decisions.clone();
    let publisher = {
        let (config, store) = (config.clone(), store.clone());
        rt.spawn(async move { vigil_review::decisions::publish(&config.console(), store).await })
    };
    let rita = rt
        .block_on(store.add_reviewer("rita", Role::Reviewer, Some("rita-password!")))
        .unwrap();
    let decide = |message_id: &str, decision| {
        let flag: Flag = serde_json::from_slice(&text_flag(message_id)).unwrap();
        let incoming = vigil_review::IncomingFlag {
            flag: flag.clone(),
            queue: "flags".into(),
            partition: 0,
            offset: 0,
            content: vigil_review::Content::Unavailable("test".into()),
            leads_only: false,
        };
        rt.block_on(async {
            store.insert_flag(&incoming).await.unwrap();
            let lease = Duration::from_secs(60);
            assert!(store.claim(&rita, &flag.flag_id, lease).await.unwrap());
            store
                .decide(
                    &rita,
                    &flag.flag_id,
                    decision,
                    "",
                    "127.0.0.1",
                    Duration::from_secs(86_400),
                )
                .await
                .unwrap();
        });
        flag.flag_id
    };
    let unpublished = || {
        count(
            &rt,
            &store,
            "SELECT count(*) FROM decisions WHERE published_at IS NULL",
        )
    };
    let wait_published = || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while unpublished() != 0 {
            assert!(Instant::now() < deadline, "never published");
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    let before = decide("m-before", Decision::Confirm);
    wait_published();
    broker.stop();
    let during = decide("m-during", Decision::FalsePositive);
    // Recorded, and not marked published while nobody acknowledged it.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(unpublished(), 1);
    broker.restart();
    let records = read_until(&decisions, false, Duration::from_secs(90), |rs| {
        rs.iter().any(|r| r.json()["flag_id"] == during.as_str())
    });
    let flags: Vec<&str> = records
        .iter()
        .map(|r| r.json()["flag_id"].as_str().unwrap())
        .collect();
    assert!(
        flags.contains(&before.as_str()) && flags.contains(&during.as_str()),
        "{flags:?}"
    );
    wait_published();
    publisher.abort();
    broker.stop();
}
