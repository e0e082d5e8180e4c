//! Preservation (legal holds) against a real PostgreSQL: a confirmed flag is held and
//! survives the purge that deletes its unheld twin; a lead's hold keeps content until it is
//! released; an expired hold is ended by the purge run, which then purges; every step is in
//! the hash-chained access log. Through the console: only leads place and release holds,
//! auditors see them and never content.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use std::time::Duration;

use review_support::{Client, runtime};
use vigil_review::accounts::{Reviewer, Role};
use vigil_review::decisions::Decision;
use vigil_review::holds::{HoldError, HoldKind, HoldRequest, HoldState};
use vigil_review::preview::Preview;
use vigil_review::{Image, Store};

const RETENTION: Duration = Duration::from_secs(30 * 86_400);
const YEAR: Duration = Duration::from_secs(365 * 86_400);
const CANARY_TEXT: &str = "holds-canary-text";

/// Stores a flag of `message_id` with text and one image, as if stored 31 days ago (past
/// the retention period); returns its id.
async fn stored_flag(store: &Store, message_id: &str) -> String {
    let image = Image {
        attachment_id: "a-1".into(),
        media_type: "image/png".into(),
        data: b"image-bytes".to_vec(),
        preview: Preview::Missing("test".into()),
        file_name: None,
    };
    let incoming = review_support::with_content(message_id, CANARY_TEXT, vec![image]);
    let flag = &incoming.flag;
    store.insert_flag(&incoming).await.unwrap();
    for table in ["flags", "flag_content", "flag_images"] {
        sqlx::query(&format!(
            "UPDATE {table} SET stored_at = now() - interval '31 days' WHERE flag_id = $1"
        ))
        .bind(&flag.flag_id)
        .execute(store.pool())
        .await
        .unwrap();
    }
    flag.flag_id.clone()
}

/// Whether `flag_id`'s text and image are still stored.
async fn has_content(store: &Store, flag_id: &str) -> bool {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM flag_content WHERE flag_id = $1)
              + (SELECT count(*) FROM flag_images WHERE flag_id = $1)
              + (SELECT count(*) FROM flags WHERE flag_id = $1 AND content_state = 'stored')",
    )
    .bind(flag_id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(n == 0 || n == 3, "{flag_id}: partly purged ({n} of 3)");
    n == 3
}

async fn decide(store: &Store, who: &Reviewer, flag_id: &str, decision: Decision) {
    assert!(
        store
            .claim(who, flag_id, Duration::from_secs(60))
            .await
            .unwrap()
    );
    store
        .decide(who, flag_id, decision, "", "127.0.0.1", YEAR)
        .await
        .unwrap();
}

/// The access log's (actor, role, action, detail) rows about `flag_id`, oldest first.
async fn logged(store: &Store, flag_id: &str) -> Vec<(String, String, String, String)> {
    sqlx::query_as(
        "SELECT actor, role, action, detail FROM access_log WHERE flag_id = $1
           AND action LIKE 'hold%' ORDER BY id",
    )
    .bind(flag_id)
    .fetch_all(store.pool())
    .await
    .unwrap()
}

#[test]
fn a_confirmed_flag_is_held_and_survives_a_purge_that_deletes_its_unheld_twin() {
    let rt = runtime();
    rt.block_on(async {
        let db = review_support::fresh_database("holds_confirmed").await;
        let store = review_support::sealed_store(&db).await;
        let rita = store
            .add_reviewer("rita", Role::Reviewer, None)
            .await
            .unwrap();
        let held = stored_flag(&store, "m-held").await;
        let twin = stored_flag(&store, "m-twin").await;
        decide(&store, &rita, &held, Decision::Confirm).await;
        decide(&store, &rita, &twin, Decision::FalsePositive).await;

        let holds = store.holds_of(&held).await.unwrap();
        assert_eq!(holds.len(), 1, "{holds:?}");
        let hold = &holds[0];
        assert_eq!(
            (hold.kind, hold.state, hold.placed_by.as_str()),
            (
                HoldKind::Confirmed,
                HoldState::Active,
                rita.pseudonym.as_str()
            )
        );
        let lasts = hold.expires_at - hold.placed_at;
        assert_eq!(lasts.whole_days(), 365, "{hold:?}");
        assert!(store.holds_of(&twin).await.unwrap().is_empty());

        let purged = store.purge_content(RETENTION).await.unwrap();
        assert_eq!((purged.flags, purged.holds_expired), (1, 0), "{purged:?}");
        assert!(has_content(&store, &held).await);
        assert!(!has_content(&store, &twin).await);
        assert_eq!(
            logged(&store, &held).await,
            [(
                rita.pseudonym.clone(),
                "reviewer".into(),
                "hold_placed".into(),
                format!("hold={} kind=confirmed days=365", hold.id)
            )]
        );

        // A year on, the purge run ends the hold (logged as the system) and then purges.
        sqlx::query(
            "UPDATE holds SET placed_at = now() - interval '366 days',
                              expires_at = now() - interval '1 day' WHERE id = $1",
        )
        .bind(hold.id)
        .execute(store.pool())
        .await
        .unwrap();
        let purged = store.purge_content(RETENTION).await.unwrap();
        assert_eq!((purged.flags, purged.holds_expired), (1, 1), "{purged:?}");
        assert!(!has_content(&store, &held).await);
        let ended = &store.holds_of(&held).await.unwrap()[0];
        assert_eq!(
            (
                ended.state,
                ended.end_reason.as_deref(),
                ended.ended_by.as_deref()
            ),
            (HoldState::Expired, Some("expired"), None)
        );
        let log = logged(&store, &held).await;
        assert_eq!(
            log.last().unwrap(),
            &(
                "vigil".into(),
                "system".into(),
                "hold_expired".into(),
                format!("hold={}", hold.id)
            )
        );
        // Nothing expires twice, and the chain still holds.
        assert_eq!(
            store.purge_content(RETENTION).await.unwrap().holds_expired,
            0
        );
        let chain = store.verify_access_log().await.unwrap();
        assert!(chain.broken.is_none(), "{chain:?}");
    });
}

#[test]
fn a_leads_hold_keeps_content_until_released_and_only_leads_hold() {
    let rt = runtime();
    rt.block_on(async {
        let db = review_support::fresh_database("holds_placed").await;
        let store = review_support::sealed_store(&db).await;
        let rita = store
            .add_reviewer("rita", Role::Reviewer, None)
            .await
            .unwrap();
        let lena = store.add_reviewer("lena", Role::Lead, None).await.unwrap();
        let flag = stored_flag(&store, "m-request").await;
        let request = HoldRequest {
            reason: "preservation request",
            reference: "PR-2026-17",
            days: 90,
        };
        let refused = |r: Result<i64, HoldError>| r.unwrap_err().to_string();
        let place = async |who: &Reviewer, flag: &str, request: HoldRequest<'_>| {
            store.place_hold(who, flag, request, "10.0.0.1").await
        };
        assert_eq!(
            refused(place(&rita, &flag, request).await),
            "only leads place and release holds"
        );
        for (bad, why) in [
            (
                HoldRequest {
                    reason: "  ",
                    ..request
                },
                "give a reason",
            ),
            (
                HoldRequest { days: 0, ..request },
                "a hold lasts 1 to 3650 days",
            ),
            (
                HoldRequest {
                    days: 3651,
                    ..request
                },
                "a hold lasts 1 to 3650 days",
            ),
            (
                HoldRequest {
                    reference: "two\nlines",
                    ..request
                },
                "the reference must be at most 500 characters, on one line",
            ),
        ] {
            assert_eq!(refused(place(&lena, &flag, bad).await), why, "{bad:?}");
        }
        assert_eq!(
            refused(place(&lena, &"0".repeat(32), request).await),
            "no such flag"
        );
        assert!(store.holds_of(&flag).await.unwrap().is_empty());

        let id = place(&lena, &flag, request).await.unwrap();
        assert_eq!(store.purge_content(RETENTION).await.unwrap().flags, 0);
        assert!(has_content(&store, &flag).await);
        let hold = &store.holds_of(&flag).await.unwrap()[0];
        assert_eq!(
            (hold.kind, hold.reason.as_str(), hold.reference.as_str()),
            (HoldKind::Placed, "preservation request", "PR-2026-17")
        );
        assert_eq!((hold.expires_at - hold.placed_at).whole_days(), 90);

        let release = |who: &Reviewer, reason: &'static str| {
            let who = who.clone();
            let store = store.clone();
            async move { store.release_hold(&who, id, reason, "10.0.0.1").await }
        };
        assert!(matches!(
            release(&rita, "no").await,
            Err(HoldError::NotLead)
        ));
        assert!(matches!(release(&lena, "").await, Err(HoldError::NoReason)));
        assert_eq!(release(&lena, "request withdrawn").await.unwrap(), flag);
        assert!(matches!(
            release(&lena, "again").await,
            Err(HoldError::Ended)
        ));
        let hold = &store.holds_of(&flag).await.unwrap()[0];
        assert_eq!(
            (
                hold.state,
                hold.ended_by.as_deref(),
                hold.end_reason.as_deref()
            ),
            (
                HoldState::Released,
                Some(lena.pseudonym.as_str()),
                Some("request withdrawn")
            )
        );
        assert_eq!(store.purge_content(RETENTION).await.unwrap().flags, 1);
        assert!(!has_content(&store, &flag).await);
        let actions: Vec<(String, String)> = logged(&store, &flag)
            .await
            .into_iter()
            .map(|(actor, _, action, _)| (actor, action))
            .collect();
        assert_eq!(
            actions,
            [
                (lena.pseudonym.clone(), "hold_placed".into()),
                (lena.pseudonym.clone(), "hold_released".into())
            ]
        );
    });
}

#[test]
fn in_the_console_leads_hold_and_release_and_auditors_see_holds_without_content() {
    let (console, queue) = review_support::quiet_console(
        "",
        &[("rita", "reviewer"), ("lena", "lead"), ("aldo", "auditor")],
    );
    kafka_support::produce(&queue, &review_support::text_flags(&["m-1"]));
    review_support::wait_rows(&console, "SELECT count(*) FROM flags", 1);
    let flag_id = review_support::query_rows(&console, "SELECT flag_id FROM flags").remove(0);
    let page = format!("/flags/{flag_id}");

    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let before = lena.get(&page).text();
    assert!(before.contains("Not held"), "{before}");
    let csrf = review_support::csrf_of(&before);
    let hold = |client: &mut Client, csrf: &str, days: &str| {
        client.post(
            &format!("{page}/holds"),
            &[
                ("csrf", csrf),
                ("reason", "law enforcement request"),
                ("reference", "LE-4471"),
                ("days", days),
            ],
        )
    };
    let r = hold(&mut lena, &csrf, "0");
    assert_eq!(
        r.header("location"),
        Some(format!("{page}?notice=hold-bad-days").as_str())
    );
    let r = hold(&mut lena, "not-the-token", "30");
    assert_eq!(r.status, 403, "{}", r.text());
    let r = hold(&mut lena, &csrf, "30");
    assert_eq!(
        r.header("location"),
        Some(format!("{page}?notice=held").as_str())
    );
    let after = lena.get(&page).text();
    assert!(
        after.contains("Preserved until") && after.contains("LE-4471"),
        "{after}"
    );

    // A reviewer may not hold; the attempt is logged.
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let rita_csrf = rita.csrf("/queue");
    assert_eq!(hold(&mut rita, &rita_csrf, "30").status, 403);
    assert_eq!(
        review_support::query_i64(
            &console,
            "SELECT count(*) FROM access_log WHERE action = 'denied' AND detail = '/flags/holds'"
        ),
        1
    );

    // An auditor sees the hold, not the flag.
    let mut aldo = Client::new(console.addr);
    aldo.login("aldo");
    let holds = aldo.get("/holds");
    assert_eq!(holds.status, 200);
    let text = holds.text();
    assert!(
        text.contains(&flag_id) && text.contains("LE-4471") && text.contains("active"),
        "{text}"
    );
    assert_eq!(aldo.get(&page).status, 403);
    assert_eq!(rita.get("/holds").status, 403);

    let hold_id = review_support::query_rows(&console, "SELECT id FROM holds").remove(0);
    let release = |client: &mut Client, csrf: &str| {
        client.post(
            &format!("/holds/{hold_id}/release"),
            &[("csrf", csrf), ("reason", "request withdrawn")],
        )
    };
    assert_eq!(release(&mut rita, &rita_csrf).status, 403);
    let r = release(&mut lena, &csrf);
    assert_eq!(
        r.header("location"),
        Some(format!("{page}?notice=hold-released").as_str())
    );
    let r = release(&mut lena, &csrf);
    assert_eq!(r.header("location"), Some("/holds?notice=hold-ended"));
    assert!(lena.get(&page).text().contains("Not held"));
    assert!(aldo.get("/holds").text().contains("released"));
    let actions = review_support::query_rows(
        &console,
        "SELECT actor || ' ' || action FROM access_log WHERE action LIKE 'hold%' ORDER BY id",
    );
    assert_eq!(actions, ["lead-2 hold_placed", "lead-2 hold_released"]);
    let logs = console.stop();
    assert!(
        !logs.contains("LE-4471"),
        "a hold's reference is not logged"
    );
}

#[test]
fn a_lead_sees_an_accounts_flags_across_conversations_as_one_case_and_holds_them_all() {
    let (console, _) = review_support::quiet_console(
        "",
        &[("rita", "reviewer"), ("lena", "lead"), ("aldo", "auditor")],
    );
    let rt = runtime();
    let ids: Vec<String> = rt.block_on(async {
        let url = vigil_core::config::Secret::new(console.database_url());
        let store = review_support::sealed_store(&url).await;
        let mut ids = Vec::new();
        for (message, sender, conversation) in [
            ("m-1", "u-7", "c-1"),
            ("m-2", "u-7", "c-2"),
            ("m-3", "u-8", "c-1"),
        ] {
            let mut incoming = review_support::with_content(message, "case text", Vec::new());
            incoming.flag.sender_id = sender.into();
            incoming.flag.conversation_id = conversation.into();
            store.insert_flag(&incoming).await.unwrap();
            ids.push(incoming.flag.flag_id.clone());
        }
        ids
    });

    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let cases = lena.get("/cases").text();
    let row = |sender: &str| {
        let at = cases.find(&format!(">{sender}<")).unwrap();
        cases[at..].split("</tr>").next().unwrap().to_string()
    };
    // u-7: 2 flags in 2 conversations, both undecided; u-8: 1.
    let cells = |row: String| -> Vec<String> {
        row.split("<td>")
            .skip(1)
            .map(|c| c.split('<').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        cells(row("u-7"))[..6],
        ["2", "2", "2", "0", "0", "0"],
        "{cases}"
    );
    assert_eq!(
        cells(row("u-8"))[..6],
        ["1", "1", "1", "0", "0", "0"],
        "{cases}"
    );

    let case = lena.get("/case?sender=u-7").text();
    assert!(
        case.contains(&ids[0]) && case.contains(&ids[1]) && !case.contains(&ids[2]),
        "{case}"
    );
    let csrf = review_support::csrf_of(&case);
    let r = lena.post(
        "/case/holds",
        &[
            ("csrf", &csrf),
            ("sender", "u-7"),
            ("reason", "account reported to law enforcement"),
            ("reference", "LE-77"),
            ("days", "60"),
        ],
    );
    assert_eq!(r.header("location"), Some("/case?sender=u-7&notice=held"));
    let held = |sender: &str| {
        review_support::query_i64(
            &console,
            &format!(
                "SELECT count(*) FROM holds h JOIN flags f USING (flag_id)
                 WHERE f.sender_id = '{sender}' AND h.reference = 'LE-77'"
            ),
        )
    };
    assert_eq!((held("u-7"), held("u-8")), (2, 0));
    let cases = lena.get("/cases").text();
    let u7 = cases
        .split(">u-7<")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap()
        .to_string();
    assert_eq!(cells(u7)[5], "2", "both flags held");
    assert_eq!(lena.get("/case?sender=nobody").status, 404);
    assert_eq!(
        review_support::query_rows(
            &console,
            "SELECT action || ' ' || detail FROM access_log
             WHERE action IN ('view_case', 'hold_placed') ORDER BY id",
        )[0],
        "view_case sender=u-7"
    );

    // Cases are for leads.
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    assert_eq!(rita.get("/cases").status, 403);
    let mut aldo = Client::new(console.addr);
    aldo.login("aldo");
    assert_eq!(aldo.get("/case?sender=u-7").status, 403);
    console.stop();
}
