//! The review console's HTTP side (`vigil review serve`, the real binary): a client that
//! trickles a request's headers loses its connection after `review.header_read_timeout_ms`;
//! production cookies carry the `__Host-` prefix (whole host, path `/`, `Secure`); every
//! response asks for HTTPS (HSTS).
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use review_support::{Client, quiet_console};

#[test]
fn a_client_trickling_its_headers_is_cut_off_and_others_are_served() {
    let (console, _) = quiet_console("header_read_timeout_ms = 1500\n", &[]);
    let mut slow = std::net::TcpStream::connect(console.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // One more header line a second: never the blank line that ends them.
    let mut closed_after = None;
    for i in 0..12 {
        std::thread::sleep(Duration::from_secs(1));
        if slow
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .is_err()
        {
            closed_after = Some(started.elapsed());
            break;
        }
        slow.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        let read = slow.read(&mut buf);
        slow.set_nonblocking(false).unwrap();
        if read.is_ok() {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("the connection is still open after 12 s");
    assert!(closed_after < Duration::from_secs(6), "{closed_after:?}");
    assert_eq!(Client::new(console.addr).get("/login").status, 200);
}

#[test]
fn production_cookies_are_host_only_and_every_response_asks_for_https() {
    let (console, _) = quiet_console("secure_cookies = true\n", &[("rita", "reviewer")]);
    let mut rita = Client::new(console.addr);
    let form = rita.get("/login");
    assert_eq!(
        form.header("strict-transport-security"),
        Some("max-age=63072000")
    );
    let set = form.header("set-cookie").unwrap();
    assert!(set.starts_with("__Host-vigil_login="), "{set}");
    rita.login("rita");
    let session = rita.cookies.keys().cloned().collect::<Vec<_>>();
    assert_eq!(session, ["__Host-vigil_session"]);
    let queue = rita.get("/queue");
    assert_eq!(queue.status, 200);
    assert_eq!(
        queue.header("strict-transport-security"),
        Some("max-age=63072000")
    );
    // The attributes a browser requires of a __Host- cookie.
    let mut again = Client::new(console.addr);
    let csrf = review_support::csrf_of(&again.get("/login").text());
    let signed_in = again.post(
        "/login",
        &[
            ("csrf", &csrf),
            ("username", "rita"),
            ("password", "rita-password!"),
        ],
    );
    let cookie = signed_in
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .find(|v| v.starts_with("__Host-vigil_session="))
        .unwrap();
    for attribute in ["; Path=/", "; Secure", "; HttpOnly", "; SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
}
