//! The review console in headless Chromium (Debian's `chromium`, driven by `playwright-core`
//! from npm: tests/browser/review.mjs): a reviewer signs in, claims an item, sees the
//! highlighted phrase and a blurred image, reveals it, decides; an auditor sees the figures
//! and the access log but gets 403 on content; a reviewer gets 403 on the audit export.
//! Screenshots land in target/review-screenshots/ (docs/review.md shows them).
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

#[test]
fn a_reviewer_works_the_queue_in_a_browser_and_an_auditor_cannot_see_content() {
    let (console, _) = review_support::console();
    let shots = review_support::run_browser("review.mjs", &console, &[]);
    for name in [
        "1-queue",
        "2-flag-blurred",
        "3-flag-revealed",
        "4-decided",
        "5-audit",
    ] {
        assert!(shots.join(format!("{name}.png")).is_file(), "{name}.png");
    }
    // The browser's trail is in the access log.
    for action in ["login", "view_flag", "reveal_image", "decide", "denied"] {
        let n = review_support::query_i64(
            &console,
            &format!("SELECT count(*) FROM access_log WHERE action = '{action}'"),
        );
        assert!(n >= 1, "no {action} in the access log");
    }
}
