//! The review console in headless Chromium (Debian's `chromium`, driven by `playwright-core`
//! from npm: tests/browser/review.mjs): a reviewer signs in, claims an item, sees the
//! highlighted phrase and a blurred image, reveals it (greyscale, bounded, counted), blurs
//! it again and reveals it anew, decides; an auditor sees the figures
//! and the access log but gets 403 on content; a reviewer gets 403 on the audit export. The
//! confirmed flag is held (a lead adds a hold in the browser; the auditor sees both on
//! `/holds`), and a purge run keeps its content while deleting its unheld twins'.
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
        "6-preservation",
        "7-holds",
    ] {
        assert!(shots.join(format!("{name}.png")).is_file(), "{name}.png");
    }
    // The browser's trail is in the access log.
    for action in [
        "login",
        "view_flag",
        "reveal_image",
        "reblur_image",
        "decide",
        "denied",
        "hold_placed",
    ] {
        let n = review_support::query_i64(
            &console,
            &format!("SELECT count(*) FROM access_log WHERE action = '{action}'"),
        );
        assert!(n >= 1, "no {action} in the access log");
    }

    // Everything is past the retention period now: the purge keeps only the held flag's.
    let confirmed = review_support::query_rows(
        &console,
        "SELECT flag_id FROM decisions WHERE decision = 'confirm'",
    );
    assert_eq!(confirmed.len(), 1, "{confirmed:?}");
    let purged = console.purge_a_month_later();
    let stored = review_support::query_rows(
        &console,
        "SELECT flag_id FROM flags WHERE content_state = 'stored'",
    );
    assert_eq!(stored, confirmed, "only the held flag keeps its content");
    let twins_purged = review_support::query_i64(
        &console,
        "SELECT count(*) FROM flags WHERE content_state = 'purged'",
    );
    assert!(purged.flags >= 1 && twins_purged >= 1, "{purged:?}");
    let held_content = review_support::query_i64(
        &console,
        &format!(
            "SELECT count(*) FROM flag_content WHERE flag_id = '{}'",
            confirmed[0]
        ),
    );
    assert_eq!(held_content, 1);
}
