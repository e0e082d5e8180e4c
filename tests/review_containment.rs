//! The false-positive loop through the whole stack — `vigil run` and the console with
//! `[containment]`, a real broker, PostgreSQL: a reviewer decides a two-match flag match by
//! match; the decisions topic carries each match's outcome and precision counts each match by
//! its own; `vigil run` feeds the false positive back and quarantines the rule, so its next
//! flag goes to the verification topic, which the console keeps for leads; a lead disables the
//! rule from that flag's page (logged), and `vigil run` stops flagging it.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use std::time::{Duration, Instant};

use kafka_support::{
    Input, Vigil, create_topics, http_get, kafka_section, listed_image, lists_section, produce,
    read_until, topics, unique,
};
use review_support::{Client, Console, query_i64, query_rows, wait_rows};
use serde_json::json;

fn message(id: &str, conversation: &str, with_image: bool) -> Input {
    let mut m = json!({
        "message_id": id, "conversation_id": conversation, "sender_id": "u-7",
        "recipient_ids": ["u-8"], "sent_at": "2026-12-07T09:00:00Z",
        "text": "fine, keep this a secret",
    });
    if with_image {
        m["attachments"] =
            json!([{"attachment_id": "a1", "media_type": "image/png", "data": listed_image()}]);
    }
    Input {
        key: conversation.into(),
        value: serde_json::to_vec(&m).unwrap(),
        partition: Some(0),
    }
}

fn wait_metric(vigil: &Vigil, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = http_get(vigil.admin, "/metrics")
            .map(|(_, t)| t)
            .unwrap_or_default();
        if text.lines().any(|l| l == line) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{line} never showed:\n{text}\n{}",
            vigil.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The flag id of `message_id` once the console stored it.
fn flag_of(console: &Console, message_id: &str) -> String {
    let sql = format!("SELECT count(*) FROM flags WHERE message_id = '{message_id}'");
    wait_rows(console, &sql, 1);
    query_rows(
        console,
        &format!("SELECT flag_id FROM flags WHERE message_id = '{message_id}'"),
    )
    .remove(0)
}

#[test]
fn per_match_decisions_quarantine_a_rule_into_the_leads_queue_where_a_lead_disables_it() {
    let t = topics("loop", 1);
    let (state, verify, decisions) = (
        unique("loop-state"),
        unique("loop-verify"),
        unique("loop-decisions"),
    );
    create_topics(&[&verify, &decisions], 1);
    // One false positive at 0 % precision quarantines: the rule after one decision.
    let containment = format!(
        "[containment]\nenabled = true\nstate_topic = \"{state}\"\n\
         sightings_topic = \"{state}.sightings\"\nverification_topic = \"{verify}\"\n\
         quarantine_min_false_positives = 1\ntopic_partitions = 1\ntopic_replication_factor = 1\n"
    );
    let config = format!(
        "{}{}{containment}",
        lists_section(),
        kafka_section(&unique("g"), &t.input, "")
    );
    let vigil = Vigil::start(&format!(
        "{config}[review]\ndecisions_topic = \"{decisions}\"\n"
    ));
    let console = Console::start(
        &config,
        &format!(
            "group_id = \"{}\"\ntopics = [\"{}\", \"{verify}\"]\ndecisions_topic = \"{decisions}\"\n",
            unique("console"),
            t.flags
        ),
        &[("rita", "reviewer"), ("lena", "lead")],
    );

    // A: the listed image and the secrecy phrase, one flag with two matches.
    produce(&t.input, &[message("lp-a", "c-a", true)]);
    let a = flag_of(&console, "lp-a");
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let csrf = rita.csrf("/queue");
    assert_eq!(
        rita.post(&format!("/flags/{a}/claim"), &[("csrf", &csrf)])
            .status,
        303
    );
    let page = rita.get(&format!("/flags/{a}")).text();
    assert!(
        page.contains("name=\"match_0\"") && page.contains("value=\"per_match\""),
        "{page}"
    );
    // Leaving a match undecided is refused, and nothing is recorded.
    let r = rita.post(
        &format!("/flags/{a}/decision"),
        &[
            ("csrf", &csrf),
            ("decision", "per_match"),
            ("match_0", "confirmed"),
        ],
    );
    assert!(
        r.header("location")
            .unwrap()
            .contains("outcomes-incomplete")
    );
    // The image is what the list says; the phrase rule misfired.
    let r = rita.post(
        &format!("/flags/{a}/decision"),
        &[
            ("csrf", &csrf),
            ("decision", "per_match"),
            ("match_0", "confirmed"),
            ("match_1", "false_positive"),
            ("note", ""),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        query_rows(&console, "SELECT decision FROM decisions"),
        ["confirm"],
        "a flag with one genuine match is confirmed (and held)"
    );
    assert_eq!(
        query_rows(
            &console,
            "SELECT list, outcome FROM match_outcomes ORDER BY ordinal"
        ),
        ["sample-hashes|confirmed", "sample-keywords|false_positive"]
    );
    // The decisions topic carries each match's outcome.
    let published = read_until(&decisions, false, Duration::from_secs(30), |r| {
        !r.is_empty()
    });
    common::assert_valid(&common::schema("decision"), published[0].json());
    let outcomes: Vec<(&str, &str)> = published[0].json()["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["entry"].as_str().unwrap(), m["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("iwf-000101", "confirmed"),
            ("kw-secrecy-001", "false_positive")
        ]
    );

    // vigil run feeds it back: the rule is quarantined, the image entry is not.
    wait_metric(&vigil, "vigil_entries_quarantined{reason=\"precision\"} 1");

    // B: the phrase alone goes to verification, where the console keeps it for leads.
    produce(&t.input, &[message("lp-b", "c-b", false)]);
    let b = flag_of(&console, "lp-b");
    assert_eq!(
        query_rows(
            &console,
            &format!("SELECT queue, status FROM flags WHERE flag_id = '{b}'")
        ),
        [format!("{verify}|escalated")]
    );
    let r = rita.post(&format!("/flags/{b}/claim"), &[("csrf", &csrf)]);
    assert!(
        r.header("location").unwrap_or_default().contains("notice="),
        "{}",
        r.text()
    );
    assert_eq!(
        query_i64(
            &console,
            &format!("SELECT count(*) FROM flags WHERE flag_id = '{b}' AND claimed_by IS NOT NULL")
        ),
        0
    );
    // A reviewer cannot act on entries.
    let r = rita.post(
        &format!("/flags/{b}/entries"),
        &[
            ("csrf", &csrf),
            ("action", "disable"),
            ("list", "sample-keywords"),
            ("entry", "kw-secrecy-001"),
            ("reason", "x"),
        ],
    );
    assert_eq!(r.status, 403);

    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let page = lena.get(&format!("/flags/{b}")).text();
    assert!(page.contains("quarantined: precision"), "{page}");
    assert!(
        page.contains("Reinstate entry") && page.contains("Disable entry"),
        "{page}"
    );
    let lead_csrf = lena.csrf("/queue");
    // Only entries this flag matched.
    let r = lena.post(
        &format!("/flags/{b}/entries"),
        &[
            ("csrf", &lead_csrf),
            ("action", "disable"),
            ("list", "sample-hashes"),
            ("entry", "iwf-000101"),
            ("reason", "x"),
        ],
    );
    assert_eq!(r.status, 404);
    let r = lena.post(
        &format!("/flags/{b}/entries"),
        &[
            ("csrf", &lead_csrf),
            ("action", "disable"),
            ("list", "sample-keywords"),
            ("entry", "kw-secrecy-001"),
            ("reason", "matches a song title"),
            ("days", "30"),
        ],
    );
    assert!(
        r.header("location")
            .unwrap()
            .contains("notice=entry-disabled"),
        "{}",
        r.text()
    );
    assert_eq!(
        query_rows(
            &console,
            "SELECT detail FROM access_log WHERE action = 'disable_entry'"
        ),
        ["sample-keywords kw-secrecy-001 until +30d"]
    );
    wait_metric(&vigil, "vigil_entries_disabled 1");

    // C: the phrase is no longer flagged, and the verdict says why.
    produce(&t.input, &[message("lp-c", "c-c", false)]);
    let verdicts = read_until(&t.verdicts, false, Duration::from_secs(60), |v| {
        v.len() >= 3
    });
    let c = verdicts
        .iter()
        .find(|v| v.json()["message_id"] == "lp-c")
        .unwrap()
        .json();
    assert_eq!(c["verdict"], "clean", "{c}");
    assert_eq!(c["suppressed"][0]["reason"], "disabled", "{c}");
    assert_eq!(c["suppressed"][0]["entry"], "kw-secrecy-001", "{c}");
    let (ok, logs) = vigil.terminate(Duration::from_secs(30));
    assert!(ok, "{logs}");
    drop(console);
}
