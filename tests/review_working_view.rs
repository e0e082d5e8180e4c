//! The reviewer's working view through the console, against real PostgreSQL: the queue and
//! a flag's page name the sender by pseudonym and show one line of the matched text; a
//! queue's total counts a flag with two categories once; after a decision the console opens
//! the next item; several selected items that share the same matches are decided at once,
//! all or none; a lead decides a whole case.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use review_support::{Client, Console, runtime};
use vigil_review::queue::sender_pseudonym;

const TEXT: &str = "look here, this message goes on well past the thirty characters of context";

/// Stores text flags `(message id, sender, categories)` (all matching the same keyword rule)
/// and image flags `(message id)` (a PDQ match too) in the console's database; their ids.
fn store_flags(console: &Console, text: &[(&str, &str, &[&str])], images: &[&str]) -> Vec<String> {
    runtime().block_on(async {
        let url = vigil_core::config::Secret::new(console.database_url());
        let store = review_support::sealed_store(&url).await;
        let mut ids = Vec::new();
        for (message, sender, categories) in text {
            let mut incoming = review_support::with_content(message, TEXT, Vec::new());
            incoming.flag.sender_id = (*sender).into();
            incoming.flag.categories = categories.iter().map(|c| c.to_string()).collect();
            store.insert_flag(&incoming).await.unwrap();
            ids.push(incoming.flag.flag_id.clone());
        }
        for message in images {
            ids.push(review_support::image_flag(&store, message).await.0);
        }
        ids
    })
}

fn decided(console: &Console) -> Vec<String> {
    review_support::query_rows(
        console,
        "SELECT flag_id || ' ' || decision FROM decisions ORDER BY flag_id",
    )
}

#[test]
fn the_queue_names_senders_by_pseudonym_previews_the_match_and_counts_each_item_once() {
    let (console, _) = review_support::quiet_console("", &[("rita", "reviewer"), ("lena", "lead")]);
    let ids = store_flags(
        &console,
        &[
            ("m-1", "u-7", &["grooming", "sextortion"]),
            ("m-2", "u-8", &["grooming"]),
            ("m-3", "u-7", &["grooming"]),
        ],
        &[],
    );
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let queue = rita.get("/queue").text();
    for sender in ["u-7", "u-8"] {
        assert!(
            queue.contains(&sender_pseudonym(sender)),
            "{sender}: {queue}"
        );
        assert!(
            !queue.contains(&format!(">{sender}<")),
            "{sender} shown: {queue}"
        );
    }
    // The matched word with thirty characters after it, on one line.
    assert!(
        queue.contains("<td class=\"preview\">look here, this message goes on we…</td>"),
        "{queue}"
    );
    // Three flags: the queue's "all" row says 3, not 4, though one has two categories.
    let all = queue.split("<strong>all</strong></td>").nth(1).unwrap();
    let open = all.split("<td>").nth(1).unwrap().split('<').next().unwrap();
    assert_eq!(open, "3", "{queue}");

    // Grouped by sender: one header per account, with its count, its items under it.
    assert!(queue.contains("href=\"/queue?by=sender\""), "{queue}");
    let grouped = rita.get("/queue?by=sender").text();
    let groups: Vec<&str> = grouped
        .split("<tr class=\"sender-group\">")
        .skip(1)
        .map(|g| g.split("</tr>").next().unwrap())
        .collect();
    let mut expected = vec![
        (sender_pseudonym("u-7"), "2 items"),
        (sender_pseudonym("u-8"), "1 item<"),
    ];
    expected.sort();
    assert_eq!(groups.len(), 2, "{grouped}");
    for (group, (pseudonym, count)) in groups.iter().zip(&expected) {
        assert!(
            group.contains(pseudonym.as_str()) && group.contains(count),
            "{group}"
        );
    }

    // A flag's page: the pseudonym; a lead also gets the way to the case.
    let csrf = review_support::csrf_of(&queue);
    rita.post(&format!("/flags/{}/claim", ids[0]), &[("csrf", &csrf)]);
    let page = rita.get(&format!("/flags/{}", ids[0])).text();
    assert!(page.contains(&sender_pseudonym("u-7")), "{page}");
    assert!(!page.contains("case?sender=u-7"), "{page}");
    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let page = lena.get(&format!("/flags/{}", ids[1])).text();
    assert!(page.contains("/case?sender=u-8"), "{page}");
}

#[test]
fn after_a_decision_the_console_opens_the_next_item_until_none_is_left() {
    let (console, _) = review_support::quiet_console("", &[("rita", "reviewer")]);
    let ids = store_flags(
        &console,
        &[("m-1", "u-7", &["grooming"]), ("m-2", "u-7", &["grooming"])],
        &[],
    );
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let csrf = rita.csrf("/queue");
    let first = rita.post("/queue/claim-next", &[("csrf", &csrf)]);
    let mut at = first.header("location").unwrap().to_string();
    let mut seen = Vec::new();
    for _ in 0..ids.len() {
        let id = at
            .trim_start_matches("/flags/")
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let page = rita.get(&at).text();
        assert!(page.contains("id=\"decide-next\""), "{page}");
        if !seen.is_empty() {
            assert!(page.contains("Decision recorded."), "{page}");
        }
        let r = rita.post(
            &format!("/flags/{id}/decision"),
            &[
                ("csrf", &csrf),
                ("decision", "false_positive"),
                ("note", ""),
                ("then", "next"),
            ],
        );
        seen.push(id);
        at = r.header("location").unwrap().to_string();
    }
    assert_eq!(at, "/queue?notice=decided");
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected);
    // Without `then=next` (or with the queue button) the decision goes back to the queue.
    assert_eq!(decided(&console).len(), 2);
}

#[test]
fn selected_items_with_the_same_matches_are_decided_at_once_all_or_none() {
    let (console, _) = review_support::quiet_console(
        "",
        &[("rita", "reviewer"), ("remy", "reviewer"), ("lena", "lead")],
    );
    let ids = store_flags(
        &console,
        &[
            ("m-1", "u-7", &["grooming"]),
            ("m-2", "u-8", &["grooming"]),
            ("m-3", "u-9", &["grooming"]),
        ],
        &["m-4"],
    );
    let (same_a, same_b, held_by_remy, image) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let mut remy = Client::new(console.addr);
    remy.login("remy");
    let remy_csrf = remy.csrf("/queue");
    remy.post(
        &format!("/flags/{held_by_remy}/claim"),
        &[("csrf", &remy_csrf)],
    );

    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let queue = rita.get("/queue").text();
    assert!(queue.contains("form=\"decide-selected\""), "{queue}");
    let csrf = review_support::csrf_of(&queue);
    let decide = |client: &mut Client, flags: &[&String]| {
        let mut fields = vec![
            ("csrf", csrf.as_str()),
            ("decision", "confirm"),
            ("note", "same entry"),
        ];
        fields.extend(flags.iter().map(|f| ("flag", f.as_str())));
        client
            .post("/queue/decide", &fields)
            .header("location")
            .unwrap()
            .to_string()
    };
    // A keyword-only flag and one that also matched an image: not the same matches.
    assert_eq!(
        decide(&mut rita, &[same_a, image]),
        "/queue?notice=batch-different-matches"
    );
    // One of them is someone else's: nothing is recorded, not even the others.
    assert_eq!(
        decide(&mut rita, &[same_a, same_b, held_by_remy]),
        "/queue?notice=batch-unavailable"
    );
    assert!(decided(&console).is_empty());
    assert_eq!(decide(&mut rita, &[]), "/queue?notice=batch-bad-selection");
    assert_eq!(
        decide(&mut rita, &[same_a, same_b]),
        "/queue?notice=decided-many"
    );
    let mut expected = vec![format!("{same_a} confirm"), format!("{same_b} confirm")];
    expected.sort();
    assert_eq!(decided(&console), expected);
    // Each is decided, logged and held as if decided alone.
    for flag in [same_a, same_b] {
        let rows = review_support::query_rows(
            &console,
            &format!(
                "SELECT action FROM access_log WHERE flag_id = '{flag}'
                 AND action IN ('decide', 'hold_placed') ORDER BY id"
            ),
        );
        assert_eq!(rows, ["decide", "hold_placed"], "{flag}");
    }
}

#[test]
fn a_lead_decides_every_undecided_flag_of_a_case_at_once() {
    let (console, _) = review_support::quiet_console("", &[("rita", "reviewer"), ("lena", "lead")]);
    let ids = store_flags(
        &console,
        &[("m-1", "u-1", &["grooming"]), ("m-2", "u-9", &["grooming"])],
        &["m-3", "m-4"],
    );
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let csrf = rita.csrf("/queue");
    let refused = rita.post(
        "/case/decide",
        &[
            ("csrf", &csrf),
            ("sender", "u-1"),
            ("decision", "confirm"),
            ("note", ""),
        ],
    );
    assert_eq!(refused.status, 403);

    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let case = lena.get("/case?sender=u-1").text();
    assert!(
        case.contains("One decision on all 3 undecided flags"),
        "{case}"
    );
    // By conversation: the fixture's flags are all in conversation c-1.
    let by_conversation = case
        .split("<table class=\"conversations\">")
        .nth(1)
        .unwrap();
    assert!(
        by_conversation.contains("<td><code>c-1</code></td><td>3</td><td>3</td><td>0</td>"),
        "{case}"
    );
    let csrf = review_support::csrf_of(&case);
    let r = lena.post(
        "/case/decide",
        &[
            ("csrf", &csrf),
            ("sender", "u-1"),
            ("decision", "escalate"),
            ("note", ""),
        ],
    );
    assert_eq!(r.status, 422);
    let r = lena.post(
        "/case/decide",
        &[
            ("csrf", &csrf),
            ("sender", "u-1"),
            ("decision", "confirm"),
            ("note", "one account"),
        ],
    );
    assert_eq!(
        r.header("location"),
        Some("/case?sender=u-1&notice=case-decided")
    );
    // u-1's three flags (one text, two images) are confirmed; u-9's is untouched.
    let mut expected: Vec<String> = [&ids[0], &ids[2], &ids[3]]
        .iter()
        .map(|id| format!("{id} confirm"))
        .collect();
    expected.sort();
    assert_eq!(decided(&console), expected);
    let held = review_support::query_i64(
        &console,
        "SELECT count(DISTINCT flag_id) FROM holds WHERE kind = 'confirmed'",
    );
    assert_eq!(held, 3);
    let after = lena.get("/case?sender=u-1").text();
    assert!(!after.contains("Decide the case"), "{after}");
}
