//! Signing in to the review console (`vigil review serve`, the real binary, over real
//! PostgreSQL), driven over HTTP: guessing is throttled atomically with growing delays, per
//! account and address, so concurrent guesses cannot slip past the count and a guesser
//! elsewhere cannot lock a reviewer out; password checks are bounded in number (and so in
//! memory); unknown names are not stored; the client address is the right-most hop the
//! proxies in front did not add themselves.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use std::net::SocketAddr;

use review_support::{Client, Console, csrf_of, query_i64, query_rows, quiet_console};

/// A client whose requests reach the console through a proxy that reports `address`.
fn from(console: &Console, address: &str) -> Client {
    let mut client = Client::new(console.addr);
    client.headers = vec![("X-Forwarded-For".into(), address.into())];
    client
}

/// One sign-in attempt; the status.
fn attempt(client: &mut Client, username: &str, password: &str) -> review_support::Response {
    let csrf = csrf_of(&client.get("/login").text());
    client.post(
        "/login",
        &[
            ("csrf", &csrf),
            ("username", username),
            ("password", password),
        ],
    )
}

/// A console with local accounts behind a proxy at 127.0.0.1 (the test client's address),
/// whose `X-Forwarded-For` it believes.
fn local_behind_proxy() -> Console {
    quiet_console(
        "trusted_proxies = [\"127.0.0.1\"]\n",
        &[("rita", "reviewer"), ("remy", "reviewer")],
    )
    .0
}

#[test]
fn concurrent_guesses_are_counted_before_any_password_is_checked() {
    let console = local_behind_proxy();
    let addr: SocketAddr = console.addr;
    // 24 guesses at once from one address: without an atomic count all of them were
    // checked (each read "0 failures" before any was written).
    let statuses: Vec<u16> = (0..24)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                c.headers = vec![("X-Forwarded-For".into(), "203.0.113.9".into())];
                attempt(&mut c, "remy", &format!("guess {i}")).status
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + throttled, 24, "{statuses:?}");
    assert_eq!(checked, 5, "{statuses:?}");
    assert_eq!(
        query_i64(
            &console,
            "SELECT count(*) FROM access_log WHERE action = 'login_failed' AND detail = 'wrong password'"
        ),
        5
    );
    // The right password from there now waits too; the wait is said, with a way back.
    let mut guesser = from(&console, "203.0.113.9");
    let refused = attempt(&mut guesser, "remy", "remy-password!");
    assert_eq!(refused.status, 429);
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    let page = refused.text();
    for needle in ["/static/console.css", "href=\"/login\"", "Try again in"] {
        assert!(page.contains(needle), "{needle} missing:\n{page}");
    }
    // The owner, from their own address, is not locked out.
    let mut owner = from(&console, "198.51.100.7");
    assert_eq!(attempt(&mut owner, "remy", "remy-password!").status, 303);
    // Both addresses are the clients', not the proxy's.
    let addresses = query_rows(
        &console,
        "SELECT DISTINCT remote_addr FROM access_log ORDER BY 1",
    );
    assert_eq!(addresses, ["198.51.100.7", "203.0.113.9"]);
}

#[test]
fn the_client_address_is_the_rightmost_hop_not_added_by_a_trusted_proxy() {
    let console = local_behind_proxy();
    // Whatever the client put left of the hop the proxy added is ignored; a hop that is
    // not an address ends the trust.
    for (forwarded, recorded) in [
        ("10.9.9.9, 192.0.2.44", "192.0.2.44"),
        ("192.0.2.45, 127.0.0.1", "192.0.2.45"),
        ("not-an-address, 192.0.2.46", "192.0.2.46"),
        ("192.0.2.47, not-an-address", "127.0.0.1"),
    ] {
        let mut client = from(&console, forwarded);
        client.login("rita");
        let last = query_rows(
            &console,
            "SELECT remote_addr FROM access_log WHERE action = 'login' ORDER BY id DESC LIMIT 1",
        );
        assert_eq!(last, [recorded], "{forwarded}");
    }
    // A peer that is not a trusted proxy is its own address, whatever it claims.
    let (direct, _) = quiet_console("", &[("rita", "reviewer")]);
    let mut client = from(&direct, "192.0.2.99");
    client.login("rita");
    assert_eq!(
        query_rows(&direct, "SELECT remote_addr FROM access_log"),
        ["127.0.0.1"]
    );
}

#[test]
fn unknown_names_are_never_stored_and_a_failed_sign_in_keeps_the_name_typed() {
    let console = local_behind_proxy();
    let mut client = from(&console, "192.0.2.1");
    // A password typed into the user name field.
    let typed = "correct-horse-battery-staple";
    assert_eq!(attempt(&mut client, typed, "x").status, 401);
    assert_eq!(attempt(&mut client, "a\u{0}b", "x").status, 401);
    let wrong = attempt(&mut client, "rita", "not her password");
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.text().contains("value=\"rita\""),
        "the name is kept: {}",
        wrong.text()
    );
    let log = query_rows(
        &console,
        "SELECT actor, role, detail FROM access_log WHERE action = 'login_failed' ORDER BY id",
    );
    assert_eq!(
        log,
        [
            "||unknown user name or no password",
            "||unknown user name or no password",
            "reviewer-1|reviewer|wrong password",
        ]
    );
    let dump = query_rows(&console, "SELECT a::text FROM access_log a").join("\n");
    assert!(!dump.contains(typed), "{dump}");
    assert!(
        query_rows(&console, "SELECT t::text FROM sign_in_throttle t")
            .iter()
            .all(|row| !row.contains(typed))
    );
}

#[test]
fn a_flood_of_sign_ins_runs_a_bounded_number_of_password_checks() {
    let console = local_behind_proxy();
    let addr = console.addr;
    let before = review_support::peak_rss(console.child.id());
    // 64 sign-ins at once with unknown names from 64 addresses (no throttle applies): each
    // costs a full argon2 check of 19 MiB. On the runtime's blocking pool they ran all at
    // once, and even 2 at a time there the allocator kept 211-344 MiB of their buffers
    // (measured); one buffer per worker (one worker per core) holds 19 MiB each.
    let statuses: Vec<u16> = (0..64)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                c.headers = vec![("X-Forwarded-For".into(), format!("198.18.0.{i}"))];
                attempt(&mut c, &format!("nobody-{i}"), "wrong password").status
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert!(
        statuses.iter().all(|s| [401, 503].contains(s)),
        "{statuses:?}"
    );
    let grown = review_support::peak_rss(console.child.id()).saturating_sub(before);
    // Printed for docs/benchmarks.md (run with --nocapture).
    eprintln!(
        "64 concurrent sign-ins grew the console by {} MiB",
        grown >> 20
    );
    assert!(grown < 150 << 20, "peak memory grew by {} MiB", grown >> 20);
}

#[test]
fn a_session_left_alone_ends_and_one_in_use_does_not() {
    let (console, _) = quiet_console(
        "session_idle_timeout_secs = 3\n",
        &[("rita", "reviewer"), ("remy", "reviewer")],
    );
    let mut busy = Client::new(console.addr);
    busy.login("remy");
    let mut idle = Client::new(console.addr);
    idle.login("rita");
    for _ in 0..5 {
        std::thread::sleep(std::time::Duration::from_secs(1));
        assert_eq!(busy.get("/queue").status, 200);
    }
    let ended = idle.get("/queue");
    assert_eq!(ended.header("location"), Some("/login?ended=idle"));
    assert!(
        idle.get("/login?ended=idle")
            .text()
            .contains("without activity")
    );
    assert_eq!(idle.get("/queue").header("location"), Some("/login"));
}

#[test]
fn people_change_their_own_password_and_operators_reset_it() {
    let (console, _) = quiet_console("", &[("rita", "reviewer")]);
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let csrf = rita.csrf("/account/password");
    let change = |c: &mut Client, current: &str, new: &str, repeat: &str| {
        c.post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", current),
                ("new", new),
                ("repeat", repeat),
            ],
        )
    };
    let new = "a much longer passphrase";
    for (current, new, repeat, says) in [
        ("rita-password!", new, "something else", "differ"),
        ("not hers", new, new, "current password is wrong"),
        ("rita-password!", "short", "short", "at least 12"),
    ] {
        let r = change(&mut rita, current, new, repeat);
        assert_eq!(r.status, 422, "{says}");
        assert!(r.text().contains(says), "{says}: {}", r.text());
    }
    let other_session = {
        let mut c = Client::new(console.addr);
        c.login("rita");
        c
    };
    let done = change(&mut rita, "rita-password!", new, new);
    assert_eq!(done.header("location"), Some("/login?ended=password"));
    // Every session of the account ended; the new password works, the old does not.
    let mut other_session = other_session;
    assert_eq!(other_session.get("/queue").status, 303);
    let mut again = Client::new(console.addr);
    assert_eq!(attempt(&mut again, "rita", "rita-password!").status, 401);
    assert_eq!(attempt(&mut again, "rita", new).status, 303);

    // An operator resets it from the command line.
    let out = common::run(
        common::vigil(console.config.parent().unwrap()).args([
            "review",
            "user",
            "passwd",
            "rita",
            "--config",
            console.config.to_str().unwrap(),
        ]),
        b"reset by the operator\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(again.get("/queue").status, 303, "sessions end at a reset");
    assert_eq!(
        attempt(&mut again, "rita", "reset by the operator").status,
        303
    );
    let changes = query_rows(
        &console,
        "SELECT actor, detail FROM access_log WHERE action = 'change_password' ORDER BY id",
    );
    assert_eq!(
        changes,
        [
            "reviewer-1|",
            "reviewer-1|reset with vigil review user passwd"
        ]
    );
}
