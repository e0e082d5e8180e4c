//! The review console (`vigil review serve`, the real binary) over real PostgreSQL and Kafka,
//! driven over HTTP as a browser would: a reviewer works an item end to end and the decision
//! reaches the decisions topic; every route checks the role; forms need the session's CSRF
//! token; signing in never keeps a planted session; filters are bound, not spliced; two
//! reviewers never hold one item; content stays out of logs, exports and the topic.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use kafka_support::{listed_image, read_until};
use review_support::{Client, console, csrf_of, flagged, query_i64};

/// Words every flagged message's text carries: they must never leave the console's pages.
const CANARY: &str = "see you at practice";

/// The flag id a claim redirected to.
fn claimed(r: &review_support::Response) -> String {
    assert_eq!(r.status, 303, "{}", r.text());
    let location = r.header("location").unwrap();
    location
        .strip_prefix("/flags/")
        .unwrap_or_else(|| panic!("claim went to {location}"))
        .to_string()
}

/// `name` signed in, with their session's CSRF token and the item they claimed first.
fn claim_as(console: &review_support::Console, name: &str) -> (Client, String, String) {
    let mut client = Client::new(console.addr);
    client.login(name);
    let csrf = client.csrf("/queue");
    let id = claimed(&client.post("/queue/claim-next", &[("csrf", &csrf)]));
    (client, csrf, id)
}

/// Claims items until one with an image and a text match comes up; returns its id (the
/// others are escalated, out of a reviewer's way).
fn claim_item_with_image_and_text(client: &mut Client) -> String {
    loop {
        let csrf = client.csrf("/queue");
        let id = claimed(&client.post("/queue/claim-next", &[("csrf", &csrf)]));
        let page = client.get(&format!("/flags/{id}")).text();
        if page.contains("/blurred") && page.contains("<mark id=") {
            return id;
        }
        // Escalate it so the next claim moves on (a lead will see it).
        let r = client.post(
            &format!("/flags/{id}/decision"),
            &[("csrf", &csrf), ("decision", "escalate"), ("note", "")],
        );
        assert_eq!(r.status, 303);
    }
}

#[test]
fn a_reviewer_works_an_item_end_to_end_and_the_decision_reaches_the_topic() {
    let (console, decisions) = console();
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let queue = rita.get("/queue");
    assert_eq!(queue.status, 200);
    assert!(queue.text().contains("Claim next item"), "{}", queue.text());

    let id = claim_item_with_image_and_text(&mut rita);
    let page = rita.get(&format!("/flags/{id}")).text();
    // Every match explained, the phrase highlighted in the original text.
    for needle in [
        "sample-keywords",
        "sample-hashes",
        "iwf-000101",
        "distance 0",
        "Reveal image (logged)",
    ] {
        assert!(page.contains(needle), "{needle} missing:\n{page}");
    }
    // The phrase is marked, and the evidence names its characters 1-based and inclusive and
    // links to the mark.
    let text = page.split("<blockquote id=\"text\">").nth(1).unwrap();
    let text = text.split("</blockquote>").next().unwrap();
    // The quoted text without its tags: what the reviewer reads, counted in characters.
    let mut plain = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let first = plain.find("keep this a secret").unwrap();
    let (start, end) = (
        plain[..first].chars().count() + 1,
        plain[..first].chars().count() + 18,
    );
    for needle in [
        format!("<mark id=\"match-{start}\">keep this a secret</mark>"),
        format!("href=\"#match-{start}\">{start}–{end}</a>"),
    ] {
        assert!(page.contains(&needle), "{needle} missing:\n{page}");
    }
    // Blurred by default: the original is refused until revealed.
    let image = format!("/flags/{id}/images/a1");
    assert_eq!(rita.get(&image).status, 403);
    let blurred = rita.get(&format!("{image}/blurred"));
    assert_eq!(blurred.status, 200);
    assert_eq!(blurred.header("content-type"), Some("image/png"));
    let listed = base64::engine::general_purpose::STANDARD
        .decode(listed_image())
        .unwrap();
    assert_ne!(blurred.body, listed);
    let csrf = csrf_of(&page);
    assert_eq!(
        rita.post(&format!("{image}/reveal"), &[("csrf", &csrf)])
            .status,
        303
    );
    let original = rita.get(&image);
    assert_eq!(original.status, 200);
    assert_eq!(original.body, listed);
    assert_eq!(original.header("content-type"), Some("image/png"));

    let r = rita.post(
        &format!("/flags/{id}/decision"),
        &[
            ("csrf", &csrf),
            ("decision", "confirm"),
            ("note", "matches the list"),
        ],
    );
    assert_eq!(r.header("location"), Some("/queue?notice=decided"));
    // Decided: nobody can decide it again.
    let again = rita.post(
        &format!("/flags/{id}/decision"),
        &[
            ("csrf", &csrf),
            ("decision", "false_positive"),
            ("note", ""),
        ],
    );
    assert_eq!(
        again.header("location"),
        Some(format!("/flags/{id}?notice=not-decidable").as_str())
    );

    // The decision on the topic: identifiers, no content, no note.
    let records = read_until(&decisions, false, Duration::from_secs(30), |rs| {
        rs.iter().any(|r| r.json()["flag_id"] == id.as_str())
    });
    let record = records
        .iter()
        .find(|r| r.json()["flag_id"] == id.as_str())
        .unwrap();
    let json = record.json();
    common::assert_valid(&common::schema("decision"), json);
    assert_eq!(json["decision"], "confirm");
    assert_eq!(json["reviewer"], "reviewer-1");
    assert_eq!(json["schema_version"], 1);
    let lists: BTreeSet<&str> = json["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["list"].as_str().unwrap())
        .collect();
    assert!(lists.contains("sample-hashes"), "{json}");
    let text = String::from_utf8_lossy(&record.value);
    assert!(
        !text.contains(CANARY) && !text.contains("matches the list"),
        "{text}"
    );

    // The access log has the trail, without content.
    let mut aldo = Client::new(console.addr);
    aldo.login("aldo");
    let export = aldo.get("/audit/access-log.csv").text();
    for needle in [
        format!("\"view_flag\",\"{id}\""),
        format!("\"reveal_image\",\"{id}\",\"a1\""),
        format!("\"decide\",\"{id}\",\"\",\"confirm\""),
    ] {
        assert!(export.contains(&needle), "{needle} missing:\n{export}");
    }
    assert!(!export.contains(CANARY));
    let audit = aldo.get("/audit").text();
    assert!(audit.contains("sample-hashes"), "{audit}");
    assert!(!audit.contains(CANARY));
    let metrics = Client::new(console.metrics_addr).get("/metrics").text();
    assert!(
        metrics.contains("vigil_review_precision_ratio{category="),
        "{metrics}"
    );
    let logs = console.stop();
    assert!(
        !logs.contains(CANARY),
        "content in the console log:\n{logs}"
    );
}

#[test]
fn every_route_checks_the_role_on_the_server() {
    let (console, _) = console();
    let (_rita, _, id) = claim_as(&console, "rita");
    let mut aldo = Client::new(console.addr);
    aldo.login("aldo");
    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let mut remy = Client::new(console.addr);
    remy.login("remy");
    let mut nobody = Client::new(console.addr);

    let flag = format!("/flags/{id}");
    let blurred = format!("{flag}/images/a1/blurred");
    // Auditors never see content.
    for (path, want) in [
        ("/queue", 403),
        (flag.as_str(), 403),
        (blurred.as_str(), 403),
        ("/audit", 200),
        ("/audit/access-log.json", 200),
    ] {
        assert_eq!(aldo.get(path).status, want, "aldo {path}");
    }
    // Reviewers see only what they hold, and no audit pages or exports.
    for (path, want) in [
        (flag.as_str(), 403),
        ("/audit", 403),
        ("/audit/access-log.csv", 403),
        ("/audit/access-log.json", 403),
        ("/queue", 200),
    ] {
        assert_eq!(remy.get(path).status, want, "remy {path}");
    }
    // Leads see content and the audit page, but the export is the auditors'.
    for (path, want) in [
        (flag.as_str(), 200),
        ("/audit", 200),
        ("/audit/access-log.csv", 403),
    ] {
        assert_eq!(lena.get(path).status, want, "lena {path}");
    }
    // Posting as an auditor, even with a valid token, changes nothing.
    let aldo_csrf = aldo.csrf("/audit");
    for path in [
        "/queue/claim-next".to_string(),
        format!("{flag}/claim"),
        format!("{flag}/decision"),
        format!("{flag}/images/a1/reveal"),
    ] {
        let r = aldo.post(&path, &[("csrf", &aldo_csrf), ("decision", "confirm")]);
        assert_eq!(r.status, 403, "aldo POST {path}");
    }
    // A reviewer cannot take, decide or reveal what someone else holds.
    let remy_csrf = remy.csrf("/queue");
    let r = remy.post(&format!("{flag}/claim"), &[("csrf", &remy_csrf)]);
    assert_eq!(r.header("location"), Some("/queue?notice=taken"));
    let r = remy.post(
        &format!("{flag}/decision"),
        &[("csrf", &remy_csrf), ("decision", "confirm")],
    );
    assert_eq!(
        r.header("location"),
        Some(format!("{flag}?notice=not-holder").as_str())
    );
    let r = remy.post(&format!("{flag}/images/a1/reveal"), &[("csrf", &remy_csrf)]);
    assert_eq!(r.status, 403);
    assert_eq!(query_i64(&console, "SELECT count(*) FROM decisions"), 0);
    // Without a session everything leads to the sign-in page.
    for path in [
        "/",
        "/queue",
        flag.as_str(),
        "/audit",
        "/audit/access-log.csv",
    ] {
        let r = nobody.get(path);
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/login")),
            "{path}"
        );
    }
    let r = nobody.post(&format!("{flag}/decision"), &[("decision", "confirm")]);
    assert_eq!(r.header("location"), Some("/login"));
    // Every refusal of a signed-in person is in the access log: 3 + 4 + 1 + 4 + 1.
    let denied = query_i64(
        &console,
        "SELECT count(*) FROM access_log WHERE action = 'denied'",
    );
    assert_eq!(denied, 13);
}

#[test]
fn forms_need_the_sessions_csrf_token_and_sign_in_never_keeps_a_planted_session() {
    let (console, _) = console();
    // Sign-in without the form's cookie, or with a token of another form, is refused.
    let mut a = Client::new(console.addr);
    let token = csrf_of(&a.get("/login").text());
    let mut b = Client::new(console.addr);
    b.get("/login");
    let r = b.post(
        "/login",
        &[
            ("csrf", &token),
            ("username", "rita"),
            ("password", "rita-password!"),
        ],
    );
    assert_eq!(r.status, 403);
    let r = a.post(
        "/login",
        &[
            ("csrf", &token),
            ("username", "rita"),
            ("password", "wrong password"),
        ],
    );
    assert_eq!(r.status, 401);
    // Guessing is cut off after five failures for one name, even with the right password.
    for (password, want) in [
        ("guess 1", 401),
        ("guess 2", 401),
        ("guess 3", 401),
        ("guess 4", 401),
        ("guess 5", 401),
        ("remy-password!", 429),
    ] {
        let token = csrf_of(&a.get("/login").text());
        let form = [
            ("csrf", token.as_str()),
            ("username", "remy"),
            ("password", password),
        ];
        assert_eq!(a.post("/login", &form).status, want, "{password}");
    }

    // A session id planted before sign-in is replaced, and is worthless.
    let mut victim = Client::new(console.addr);
    victim
        .cookies
        .insert("vigil_session".into(), "a".repeat(64));
    victim.login("rita");
    let issued = victim.cookies["vigil_session"].clone();
    assert_ne!(issued, "a".repeat(64));
    let mut attacker = Client::new(console.addr);
    attacker
        .cookies
        .insert("vigil_session".into(), "a".repeat(64));
    assert_eq!(attacker.get("/queue").status, 303);

    // Every state-changing form wants this session's token.
    let csrf = victim.csrf("/queue");
    let mut other = Client::new(console.addr);
    other.login("lena");
    let others = other.csrf("/queue");
    for token in ["", others.as_str()] {
        let r = victim.post("/queue/claim-next", &[("csrf", token)]);
        assert_eq!(r.status, 403, "token {token:?}");
    }
    let id = claimed(&victim.post("/queue/claim-next", &[("csrf", &csrf)]));
    for form in [
        vec![("decision", "confirm")],
        vec![("csrf", others.as_str()), ("decision", "confirm")],
    ] {
        let r = victim.post(&format!("/flags/{id}/decision"), &form);
        assert_eq!(r.status, 403, "{form:?}");
    }
    assert_eq!(
        victim
            .post(&format!("/flags/{id}/images/a1/reveal"), &[])
            .status,
        403
    );
    assert_eq!(
        query_i64(&console, "SELECT count(*) FROM decisions"),
        0,
        "a decision without a valid token"
    );
    // Signing out ends the session on the server too.
    let stolen = victim.cookies["vigil_session"].clone();
    assert_eq!(victim.post("/logout", &[("csrf", &csrf)]).status, 303);
    let mut replay = Client::new(console.addr);
    replay.cookies.insert("vigil_session".into(), stolen);
    assert_eq!(replay.get("/queue").status, 303);
    // The pages forbid framing, scripts and caching.
    let r = other.get("/queue");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
}

#[test]
fn queue_filters_are_bound_not_spliced_and_two_reviewers_never_hold_one_item() {
    let (console, _) = console();
    let total = flagged().flags as i64;
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    for path in [
        "/queue?queue=%27%20OR%201%3D1%20--",
        "/queue?category=x%27%3B%20DROP%20TABLE%20flags%3B%20--",
        "/queue?queue=%27&category=%5C",
    ] {
        let r = rita.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.text().contains("Nothing waiting."), "{path}");
    }
    let csrf = rita.csrf("/queue");
    let r = rita.post(
        "/queue/claim-next",
        &[("csrf", &csrf), ("queue", "' OR 1=1 --")],
    );
    assert_eq!(r.header("location"), Some("/queue?notice=empty"));
    assert_eq!(query_i64(&console, "SELECT count(*) FROM flags"), total);

    // Concurrent claims from two reviewers: every item goes to exactly one of them.
    let addr = console.addr;
    let claims: Vec<Vec<String>> = ["rita", "remy"]
        .into_iter()
        .map(|name| {
            std::thread::spawn(move || {
                let mut client = Client::new(addr);
                client.login(name);
                let csrf = client.csrf("/queue");
                let mut mine = Vec::new();
                loop {
                    let r = client.post("/queue/claim-next", &[("csrf", &csrf)]);
                    if r.header("location") == Some("/queue?notice=empty") {
                        return mine;
                    }
                    let id = claimed(&r);
                    // A claim you already hold comes back first: decide it to move on.
                    let d = client.post(
                        &format!("/flags/{id}/decision"),
                        &[
                            ("csrf", &csrf),
                            ("decision", "false_positive"),
                            ("note", ""),
                        ],
                    );
                    assert_eq!(d.header("location"), Some("/queue?notice=decided"), "{id}");
                    mine.push(id);
                }
            })
        })
        .map(|h| h.join().unwrap())
        .collect();
    let all: Vec<&String> = claims.iter().flatten().collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len(), "an item was decided twice");
    assert_eq!(distinct.len() as i64, total);
    // Everything was rejected: the auditors see which entries and rules are noisy.
    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let audit = lena.get("/audit").text();
    for needle in [
        "<code>kw-secrecy-001</code>",
        "<code>iwf-000101</code>",
        "0.0 %",
    ] {
        assert!(audit.contains(needle), "{needle} missing:\n{audit}");
    }
}

#[test]
fn an_escalated_item_leaves_the_reviewers_queue_and_a_lead_decides_it() {
    let (console, decisions) = console();
    let (mut rita, csrf, id) = claim_as(&console, "rita");
    let r = rita.post(
        &format!("/flags/{id}/decision"),
        &[
            ("csrf", &csrf),
            ("decision", "escalate"),
            ("note", "unsure"),
        ],
    );
    assert_eq!(r.header("location"), Some("/queue?notice=decided"));
    // Reviewers no longer see or get it; the lead does.
    let mut remy = Client::new(console.addr);
    remy.login("remy");
    assert!(!remy.get("/queue").text().contains(&id));
    let remy_csrf = remy.csrf("/queue");
    let r = remy.post(&format!("/flags/{id}/claim"), &[("csrf", &remy_csrf)]);
    assert_eq!(r.header("location"), Some("/queue?notice=taken"));
    let mut lena = Client::new(console.addr);
    lena.login("lena");
    assert!(
        lena.get("/queue")
            .text()
            .contains(&format!("/flags/{id}/claim"))
    );
    let lena_csrf = lena.csrf("/queue");
    assert_eq!(
        claimed(&lena.post(&format!("/flags/{id}/claim"), &[("csrf", &lena_csrf)])),
        id
    );
    let page = lena.get(&format!("/flags/{id}")).text();
    assert!(
        page.contains("unsure") && page.contains("escalate"),
        "{page}"
    );
    assert!(
        !page.contains("value=\"escalate\""),
        "a lead cannot escalate further"
    );
    let r = lena.post(
        &format!("/flags/{id}/decision"),
        &[
            ("csrf", &lena_csrf),
            ("decision", "false_positive"),
            ("note", ""),
        ],
    );
    assert_eq!(r.header("location"), Some("/queue?notice=decided"));
    // Both decisions went out, in order, under the deciders' pseudonyms.
    let records = read_until(&decisions, false, Duration::from_secs(30), |rs| {
        rs.len() >= 2
    });
    let trail: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r.json()["decision"].as_str().unwrap().to_string(),
                r.json()["reviewer"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            ("escalate".to_string(), "reviewer-1".to_string()),
            ("false_positive".to_string(), "lead-3".to_string())
        ]
    );
}

#[test]
fn content_is_purged_after_retention_and_the_access_log_is_append_only() {
    let (console, _) = console();
    let url = console.database_url();
    let logs = console.stop();
    assert!(!logs.contains(CANARY), "{logs}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = vigil_review::Store::open(&vigil_core::config::Secret::new(url), Duration::from_secs(10))
            .await
            .unwrap();
        let pool = store.pool();
        // Half the content is older than the retention period.
        sqlx::raw_sql(
            "UPDATE flag_content SET stored_at = now() - interval '31 days'
               WHERE flag_id IN (SELECT flag_id FROM flags ORDER BY flag_id LIMIT 5);
             UPDATE flag_images SET stored_at = now() - interval '31 days'
               WHERE flag_id IN (SELECT flag_id FROM flags ORDER BY flag_id LIMIT 5);
             UPDATE flags SET stored_at = now() - interval '31 days'
               WHERE flag_id IN (SELECT flag_id FROM flags ORDER BY flag_id LIMIT 5);",
        )
        .execute(pool)
        .await
        .unwrap();
        let before: i64 = sqlx::query_scalar("SELECT count(*) FROM flags").fetch_one(pool).await.unwrap();
        let purged = store
            .purge_content(Duration::from_secs(30 * 86_400))
            .await
            .unwrap();
        assert_eq!(purged.flags, 5);
        let count = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap()
        };
        assert_eq!(count("SELECT count(*) FROM flags").await, before);
        assert_eq!(count("SELECT count(*) FROM flags WHERE content_state = 'purged'").await, 5);
        assert_eq!(
            count("SELECT count(*) FROM flag_content c JOIN flags f USING (flag_id) WHERE f.content_state = 'purged'").await,
            0
        );
        assert_eq!(
            count("SELECT count(*) FROM flag_images i JOIN flags f USING (flag_id) WHERE f.content_state = 'purged'").await,
            0
        );
        assert_eq!(
            count("SELECT count(*) FROM flag_content").await,
            before - 5
        );
        // The access log refuses changes.
        store
            .log_access(&vigil_review::access::Access::failed_sign_in(
                "someone",
                "127.0.0.1",
            ))
            .await
            .unwrap();
        for sql in [
            "UPDATE access_log SET actor = 'x'",
            "DELETE FROM access_log",
            "TRUNCATE access_log",
        ] {
            let err = sqlx::raw_sql(sql).execute(pool).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
    });
}

#[test]
fn behind_a_trusted_proxy_the_proxy_names_the_account_and_nobody_else_can() {
    let f = flagged();
    let accounts = [("rita", "reviewer"), ("aldo", "auditor")];
    let proxy = |trusted: &str| {
        format!(
            "group_id = \"{}\"\ntopics = [\"{}\"]\nauth = \"proxy\"\ntrusted_proxies = [\"{trusted}\"]\nproxy_reauth_url = \"/sso/again?rd={{next}}\"\n",
            kafka_support::unique("proxy"),
            f.topics.flags
        )
    };
    let console = review_support::Console::start(&f.config, &proxy("127.0.0.1"), &accounts);
    let mut client = Client::new(console.addr);
    assert_eq!(client.get("/queue").status, 403, "no user header");
    client.headers = vec![("X-Forwarded-User".into(), "mallory".into())];
    assert_eq!(client.get("/queue").status, 403, "unknown account");
    client.headers = vec![
        ("X-Forwarded-User".into(), "rita".into()),
        ("X-Forwarded-For".into(), "203.0.113.7".into()),
    ];
    let first = client.get("/queue?category=A");
    assert_eq!(first.status, 303);
    assert_eq!(first.header("location"), Some("/queue?category=A"));
    assert!(client.cookies.contains_key("vigil_session"));
    assert_eq!(client.get("/queue?category=A").status, 200);
    assert_eq!(client.get("/login").header("location"), Some("/"));
    assert_eq!(client.post("/login", &[("username", "rita")]).status, 404);
    // The role comes from the console's account, whatever session the browser still has.
    client.headers[0].1 = "aldo".into();
    assert_eq!(client.get("/queue").status, 303);
    assert_eq!(client.get("/queue").status, 403);
    assert_eq!(client.get("/audit").status, 200);
    let export = client.get("/audit/access-log.csv").text();
    assert!(
        export.contains("\"mallory\",\"\",\"login_failed\""),
        "{export}"
    );
    assert!(
        export
            .contains("\"reviewer-1\",\"reviewer\",\"login\",\"\",\"\",\"proxy\",\"203.0.113.7\""),
        "{export}"
    );

    // A request naming two users is refused: which did the proxy vouch for?
    client.headers = vec![
        ("X-Forwarded-User".into(), "aldo".into()),
        ("X-Forwarded-User".into(), "rita".into()),
    ];
    assert_eq!(client.get("/audit").status, 403);
    drop(console);

    // A peer that is not the proxy is refused whatever header it sends, on every route of
    // the console's listener; metrics and health are on a listener of their own.
    let elsewhere = review_support::Console::start(&f.config, &proxy("10.1.2.3"), &accounts);
    let mut forger = Client::new(elsewhere.addr);
    forger.headers = vec![("X-Forwarded-User".into(), "rita".into())];
    for path in [
        "/queue",
        "/static/console.css",
        "/metrics",
        "/healthz",
        "/login",
    ] {
        assert_eq!(forger.get(path).status, 403, "{path}");
    }
    assert!(!forger.cookies.contains_key("vigil_session"));
    let mut prometheus = Client::new(elsewhere.metrics_addr);
    assert_eq!(prometheus.get("/healthz").status, 200);
    assert!(
        prometheus
            .get("/metrics")
            .text()
            .contains("vigil_review_decisions_unpublished 0")
    );
}

#[test]
fn a_flag_the_database_refuses_is_set_aside_for_leads_counted_and_the_queue_moves_on() {
    use kafka_support::produce;
    let (console, queue) =
        review_support::quiet_console("", &[("lena", "lead"), ("rita", "reviewer")]);
    // The database refuses one flag's data, as it refuses a value it cannot hold.
    let rt = review_support::runtime();
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&console.database_url())
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.message_id = 'm-2' THEN
               RAISE EXCEPTION 'refused' USING ERRCODE = 'character_not_in_repertoire';
             END IF; RETURN NEW; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON flags FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    });
    let records = review_support::text_flags(&["m-1", "m-2", "m-3", "m-4"]);
    produce(&queue, &records);
    review_support::wait_rows(&console, "SELECT count(*) FROM flags", 3);
    review_support::wait_rows(
        &console,
        "SELECT count(*) FROM rejected_records WHERE reason = 'store_refused'
           AND \"offset\" = 1 AND detail LIKE '%SQLSTATE 22021%' AND payload IS NOT NULL",
        1,
    );
    // A lead sees it on the audit page; a reviewer gets no audit page at all.
    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let audit = lena.get("/audit").text();
    for needle in ["<code>store_refused</code>", "SQLSTATE 22021", &queue] {
        assert!(audit.contains(needle), "{needle} missing:\n{audit}");
    }
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    assert_eq!(rita.get("/audit").status, 403);
    // Counted, and the partition's committed offset is past all four records.
    let rejected = format!(
        "vigil_review_rejected_records_total{{queue=\"{queue}\",reason=\"store_refused\"}} 1"
    );
    let committed =
        format!("vigil_review_ingest_committed_offset{{partition=\"0\",topic=\"{queue}\"}} 4");
    let lag = format!("vigil_review_ingest_lag_messages{{partition=\"0\",topic=\"{queue}\"}} 0");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = Client::new(console.metrics_addr).get("/metrics").text();
        // Counted from zero for the other reasons, so the first one is an increase.
        let zero = format!(
            "vigil_review_rejected_records_total{{queue=\"{queue}\",reason=\"invalid_flag\"}} 0"
        );
        if [&rejected, &zero, &committed, &lag]
            .iter()
            .all(|m| metrics.contains(m.as_str()))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{rejected} / {committed} / {lag} missing:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_reviewer_who_does_not_hold_a_flag_sees_where_it_stands_never_an_error() {
    let (console, _) = console();
    let (mut rita, csrf, id) = claim_as(&console, "rita");
    let decided = rita.post(
        &format!("/flags/{id}/decision"),
        &[("csrf", &csrf), ("decision", "confirm"), ("note", "")],
    );
    assert_eq!(decided.header("location"), Some("/queue?notice=decided"));
    let queue = rita.get("/queue?notice=decided").text();
    assert!(
        queue.contains("<p class=\"notice\" role=\"status\">Decision recorded."),
        "{queue}"
    );
    // Back in the browser after deciding: the flag's state, not a server error.
    let page = rita.get(&format!("/flags/{id}"));
    assert_eq!(page.status, 200, "{}", page.text());
    let text = page.text();
    assert!(
        text.contains("This item was decided: confirm by reviewer-1 at"),
        "{text}"
    );
    assert!(
        !text.contains(CANARY),
        "no content of a flag they do not hold"
    );
    assert_eq!(
        rita.get(&format!("/flags/{id}/images/a1/blurred")).status,
        403
    );

    // Another reviewer's claim: said as such, in the refusal style, logged with the flag.
    let other = claimed(&rita.post("/queue/claim-next", &[("csrf", &csrf)]));
    let mut remy = Client::new(console.addr);
    remy.login("remy");
    let refused = remy.get(&format!("/flags/{other}"));
    assert_eq!(refused.status, 403);
    let text = refused.text();
    assert!(text.contains("reviewer-1 holds this item until"), "{text}");
    assert!(!text.contains("Your role does not allow"), "{text}");
    assert_eq!(
        query_i64(
            &console,
            &format!(
                "SELECT count(*) FROM access_log WHERE action = 'denied' AND flag_id = '{other}'"
            )
        ),
        1
    );
    let remy_csrf = remy.csrf("/queue");
    let taken = remy.post(&format!("/flags/{other}/claim"), &[("csrf", &remy_csrf)]);
    assert_eq!(taken.header("location"), Some("/queue?notice=taken"));
    let queue = remy.get("/queue?notice=taken").text();
    assert!(
        queue.contains("<p class=\"warning\" role=\"alert\">Someone else holds this item"),
        "{queue}"
    );
    // Released: nobody holds it, and the page offers the claim.
    rita.post(&format!("/flags/{other}/release"), &[("csrf", &csrf)]);
    let free = remy.get(&format!("/flags/{other}"));
    assert_eq!(free.status, 200);
    assert!(
        free.text().contains("Nobody holds this item") && free.text().contains("/claim"),
        "{}",
        free.text()
    );
    // An auditor is refused by role, and the refusal names the flag tried.
    let mut aldo = Client::new(console.addr);
    aldo.login("aldo");
    assert_eq!(aldo.get(&format!("/flags/{other}")).status, 403);
    assert_eq!(
        query_i64(
            &console,
            &format!(
                "SELECT count(*) FROM access_log WHERE action = 'denied' AND flag_id = '{other}'"
            )
        ),
        2
    );
    let logs = console.stop();
    assert!(!logs.contains("request failed"), "{logs}");
}

#[test]
fn values_the_database_cannot_hold_get_a_clear_answer_on_every_write_path() {
    let (console, _) = console();
    let (mut rita, csrf, id) = claim_as(&console, "rita");
    // A note with a NUL: refused with a notice, nothing recorded, the claim kept.
    let r = rita.post(
        &format!("/flags/{id}/decision"),
        &[
            ("csrf", &csrf),
            ("decision", "confirm"),
            ("note", "fine\u{0}"),
        ],
    );
    assert_eq!(
        r.header("location"),
        Some(format!("/flags/{id}?notice=note-invalid").as_str())
    );
    assert_eq!(query_i64(&console, "SELECT count(*) FROM decisions"), 0);
    assert!(
        rita.get(&format!("/flags/{id}?notice=note-invalid"))
            .text()
            .contains("control characters")
    );
    // Filters and ids no topic, category or message can have.
    for (path, want) in [
        ("/queue?queue=%00", 400),
        ("/queue?category=a%00b", 400),
        (&format!("/flags/{id}/images/a%001/blurred") as &str, 404),
        (&format!("/flags/{id}/images/a%001"), 404),
    ] {
        assert_eq!(rita.get(path).status, want, "{path}");
    }
    let r = rita.post(
        "/queue/claim-next",
        &[("csrf", &csrf), ("category", "\u{0}")],
    );
    assert_eq!(r.status, 400);
    let r = rita.post(
        &format!("/flags/{id}/images/a%001/reveal"),
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status, 404);
    // The same note without the NUL goes through.
    let r = rita.post(
        &format!("/flags/{id}/decision"),
        &[("csrf", &csrf), ("decision", "confirm"), ("note", "fine")],
    );
    assert_eq!(r.header("location"), Some("/queue?notice=decided"));
    let logs = console.stop();
    assert!(!logs.contains("request failed"), "a server error:\n{logs}");
}

/// Makes every session of the console's database look signed in `minutes` ago.
fn age_sessions(console: &review_support::Console, minutes: i64) {
    query_i64(
        console,
        &format!(
            "WITH aged AS (UPDATE sessions SET authenticated_at = now() - interval '{minutes} minutes'
             RETURNING 1) SELECT count(*) FROM aged"
        ),
    );
}

#[test]
fn revealing_an_image_needs_the_password_again_after_a_while() {
    let (console, _) = console();
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let id = claim_item_with_image_and_text(&mut rita);
    let csrf = rita.csrf(&format!("/flags/{id}"));
    let reveal = format!("/flags/{id}/images/a1/reveal");
    // Signed in 16 minutes ago: the reveal asks for the password first and reveals nothing.
    age_sessions(&console, 16);
    let asked = rita.post(&reveal, &[("csrf", &csrf)]);
    let next = format!("/reauth?next=%2Fflags%2F{id}");
    assert_eq!(asked.header("location"), Some(next.as_str()));
    let reveals = "SELECT count(*) FROM access_log WHERE action = 'reveal_image'";
    assert_eq!(query_i64(&console, reveals), 0);
    assert_eq!(rita.get(&format!("/flags/{id}/images/a1")).status, 403);
    let form = rita.get(&next).text();
    assert!(form.contains("name=\"password\""), "{form}");
    let back = format!("/flags/{id}");
    let wrong = rita.post(
        "/reauth",
        &[("csrf", &csrf), ("password", "not it"), ("next", &back)],
    );
    assert_eq!(wrong.status, 401);
    // Only a flag page is a place to return to.
    let elsewhere = rita.post(
        "/reauth",
        &[
            ("csrf", &csrf),
            ("password", "rita-password!"),
            ("next", "https://example.com/"),
        ],
    );
    assert_eq!(elsewhere.header("location"), Some("/"));
    age_sessions(&console, 16);
    let confirmed = rita.post(
        "/reauth",
        &[
            ("csrf", &csrf),
            ("password", "rita-password!"),
            ("next", &back),
        ],
    );
    assert_eq!(confirmed.header("location"), Some(back.as_str()));
    assert_eq!(
        rita.post(&reveal, &[("csrf", &csrf)]).header("location"),
        Some(back.as_str())
    );
    assert_eq!(query_i64(&console, reveals), 1);
    assert_eq!(rita.get(&format!("/flags/{id}/images/a1")).status, 200);
    let trail = review_support::query_rows(
        &console,
        "SELECT action, detail FROM access_log
         WHERE action IN ('reauthenticate', 'login_failed', 'reveal_image') ORDER BY id",
    );
    assert_eq!(
        trail,
        [
            "login_failed|wrong password (signed in)",
            "reauthenticate|",
            "reauthenticate|",
            "reveal_image|"
        ]
    );
}

#[test]
fn behind_a_proxy_a_reveal_after_a_while_needs_a_fresh_sign_in_there() {
    let f = flagged();
    let console = review_support::Console::start(
        &f.config,
        &format!(
            "group_id = \"{}\"\ntopics = [\"{}\"]\nauth = \"proxy\"\ntrusted_proxies = [\"127.0.0.1\"]\nproxy_reauth_url = \"/sso/again?rd={{next}}\"\n",
            kafka_support::unique("proxy-reauth"),
            f.topics.flags
        ),
        &[("rita", "reviewer")],
    );
    review_support::wait_rows(&console, "SELECT count(*) FROM flags", f.flags as i64);
    let mut rita = Client::new(console.addr);
    rita.headers = vec![("X-Forwarded-User".into(), "rita".into())];
    assert_eq!(rita.get("/queue").status, 303);
    let id = claim_item_with_image_and_text(&mut rita);
    let csrf = rita.csrf(&format!("/flags/{id}"));
    age_sessions(&console, 16);
    let asked = rita.post(&format!("/flags/{id}/images/a1/reveal"), &[("csrf", &csrf)]);
    assert_eq!(
        asked.header("location"),
        Some(format!("/sso/again?rd=%2Fflags%2F{id}").as_str())
    );
    assert!(
        !rita.cookies.contains_key("vigil_session"),
        "the session ended"
    );
    assert_eq!(query_i64(&console, "SELECT count(*) FROM sessions"), 0);
    // Back from the proxy: a new session, fresh, and the reveal goes through.
    assert_eq!(rita.get(&format!("/flags/{id}")).status, 303);
    let csrf = rita.csrf(&format!("/flags/{id}"));
    let revealed = rita.post(&format!("/flags/{id}/images/a1/reveal"), &[("csrf", &csrf)]);
    assert_eq!(
        revealed.header("location"),
        Some(format!("/flags/{id}").as_str())
    );
}

#[test]
fn previews_are_rendered_once_at_ingest_and_opening_a_flag_decodes_nothing() {
    use kafka_support::{Input, create_topics, produce, unique};
    let (console, queue) = review_support::quiet_console("", &[("rita", "reviewer")]);
    // 20 images of 4096×4096 pixels, 16 MiB each decoded, a few KiB each as sent (the
    // whole DM fits the broker's 1 MB record limit).
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new_with_quality(
            &mut png,
            image::codecs::png::CompressionType::Best,
            image::codecs::png::FilterType::NoFilter,
        ),
        &vec![0u8; 4096 * 4096],
        4096,
        4096,
        image::ExtendedColorType::L8,
    )
    .unwrap();
    assert!(png.len() < 40_000, "{}", png.len());
    let data = base64::engine::general_purpose::STANDARD.encode(&png);
    let ids: Vec<String> = (0..20).map(|i| format!("a{i:02}")).collect();
    let dm = serde_json::json!({
        "message_id": "m-big", "conversation_id": "c-1", "sender_id": "u-1",
        "recipient_ids": ["u-2"], "sent_at": "2026-11-26T07:00:00Z",
        "text": "keep this a secret",
        "attachments": ids.iter().map(|id| serde_json::json!(
            {"attachment_id": id, "media_type": "image/png", "data": data}
        )).collect::<Vec<_>>(),
    });
    let input = unique("preview-dms");
    create_topics(&[&input], 1);
    produce(
        &input,
        &[Input {
            key: "c-1".into(),
            value: serde_json::to_vec(&dm).unwrap(),
            partition: Some(0),
        }],
    );
    let digests: Vec<(&str, &[u8])> = ids.iter().map(|id| (id.as_str(), png.as_slice())).collect();
    let source = vigil_core::Source::Kafka {
        topic: input,
        partition: 0,
        offset: 0,
    };
    let flag = review_support::flag_for(&dm, source, "kw-1", &digests);
    produce(
        &queue,
        &[Input {
            key: flag.flag_id.clone(),
            value: serde_json::to_vec(&flag).unwrap(),
            partition: Some(0),
        }],
    );
    review_support::wait_rows(&console, "SELECT count(*) FROM flag_images", 20);
    // 16 previews, the rest listed with why they have none.
    assert_eq!(
        query_i64(
            &console,
            "SELECT count(*) FROM flag_images WHERE preview IS NOT NULL"
        ),
        16,
        "{}",
        console.logs()
    );
    let (mut rita, _, id) = claim_as(&console, "rita");
    assert_eq!(id, flag.flag_id);
    let before = review_support::peak_rss(console.child.id());
    let page = rita.get(&format!("/flags/{id}")).text();
    assert_eq!(page.matches("more than 16 images").count(), 4, "{page}");
    let addr = console.addr;
    let cookies = rita.cookies.clone();
    let types: Vec<String> = ids
        .iter()
        .map(|image| {
            let (cookies, path) = (
                cookies.clone(),
                format!("/flags/{id}/images/{image}/blurred"),
            );
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                c.cookies = cookies;
                let r = c.get(&path);
                assert_eq!(r.status, 200, "{path}");
                r.header("content-type").unwrap().to_string()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(types.iter().filter(|t| *t == "image/png").count(), 16);
    assert_eq!(types.iter().filter(|t| *t == "image/svg+xml").count(), 4);
    // Decoding them at view time, 20 at once, took hundreds of megabytes.
    let grown = review_support::peak_rss(console.child.id()).saturating_sub(before);
    assert!(
        grown < 64 << 20,
        "viewing grew the console by {} MiB",
        grown >> 20
    );
}
