//! A flagged video in the review console, against real PostgreSQL, Kafka and the real video
//! worker: at ingest the matched frames are rendered in a confined worker, blurred and
//! stored (as the console's own database role: `vigil review migrate` grants it the new
//! tables); a video the worker cannot decode does not stall ingest — its flag is stored with
//! the reason. The flag page shows a timeline and a contact sheet of blurred frames; a frame
//! is revealed on its own and the reveal is logged with its time. Then the same in headless
//! Chromium (tests/browser/video.mjs). The clip is made here with Debian's `ffmpeg`.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use base64::Engine;
use kafka_support::{Input, create_topics, produce, unique};
use review_support::{Client, Console, query_i64, query_rows};
use vigil_core::{
    Algorithm, DetectorKind, Match, MatchSubject, Severity, Source, VideoEvidence, VideoSegment,
};

/// A console (two database roles) with `rita` (reviewer) and `aldo` (auditor) that has
/// stored one flag on a DM with two videos: `v1`, a 3 s 320 × 240 clip that matched a listed
/// video from 0:00.500 to 0:02.000 and an image list at 0:02.500, and `v2`, bytes no decoder
/// reads, whose frame at 0 matched. Returns the console and the flag id.
fn console_with_a_video_flag() -> (Console, String) {
    let console =
        review_support::quiet_console_two_roles(&[("rita", "reviewer"), ("aldo", "auditor")]);
    let queue = review_support::queue_of(&console);
    let dir = tempfile::tempdir().unwrap();
    let clip = common::encode_clip(
        dir.path(),
        "v1.mp4",
        "testsrc2=size=320x240:rate=30",
        3.0,
        &["-pix_fmt", "yuv420p", "-crf", "35"],
    );
    let video = std::fs::read(clip).unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let dm = serde_json::json!({
        "message_id": "m-video", "conversation_id": "c-1", "sender_id": "u-1",
        "recipient_ids": ["u-2"], "sent_at": "2026-11-26T07:00:00Z",
        "attachments": [
            {"attachment_id": "v1", "media_type": "video/mp4", "data": b64(&video)},
            {"attachment_id": "v2", "media_type": "video/mp4", "data": b64(&garbage)},
        ],
    });
    let input = unique("video-dms");
    create_topics(&[&input], 1);
    produce(
        &input,
        &[Input {
            key: "c-1".into(),
            value: serde_json::to_vec(&dm).unwrap(),
            partition: Some(0),
        }],
    );
    let source = Source::Kafka {
        topic: input,
        partition: 0,
        offset: 0,
    };
    let hash_match = |algorithm, attachment: &str, entry: &str, frame_ms, video| Match {
        detector: DetectorKind::Hash(algorithm),
        list: "sample-videos".into(),
        list_version: "sha256:1".into(),
        category: "A".into(),
        severity: Severity::Critical,
        subject: MatchSubject::Attachment {
            attachment_id: attachment.into(),
            entry_id: entry.into(),
            distance: 4,
            quality: None,
            variant: None,
            frame_ms,
            video,
        },
    };
    let evidence = VideoEvidence {
        query_frames: 3,
        query_frames_matched: 2,
        compared_frames: 4,
        compared_frames_matched: 2,
        segments: vec![VideoSegment {
            start_ms: 500,
            end_ms: 2_000,
            listed_start_ms: 0,
            listed_end_ms: 1_500,
            frames: 2,
        }],
    };
    let sent = time::OffsetDateTime::parse(
        "2026-11-26T07:00:00Z",
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let mut flag = vigil_core::Flag::new(
        "m-video".into(),
        "c-1".into(),
        "u-1".into(),
        sent,
        source,
        vec![
            hash_match(Algorithm::Vpdq, "v1", "vid-1", None, Some(evidence)),
            hash_match(Algorithm::Pdq, "v1", "img-7", Some(2_500), None),
            hash_match(Algorithm::Pdq, "v2", "img-8", Some(0), None),
        ],
        sent,
    );
    flag.attachments = vec![
        vigil_core::AttachmentDigest::of("v1", &video),
        vigil_core::AttachmentDigest::of("v2", &garbage),
    ];
    produce(
        &queue,
        &[Input {
            key: flag.flag_id.clone(),
            value: serde_json::to_vec(&flag).unwrap(),
            partition: Some(0),
        }],
    );
    review_support::wait_rows(&console, "SELECT count(*) FROM flags", 1);
    (console, flag.flag_id)
}

#[test]
fn a_video_flag_shows_a_blurred_contact_sheet_and_a_timeline_and_reveals_one_frame_logged() {
    let (console, id) = console_with_a_video_flag();
    // Rendered at ingest: v1's frames at the image match, the stretch's start, end and
    // middle (nearest frames at 30 per second); v2 has none and says why.
    let videos = query_rows(
        &console,
        "SELECT attachment_id, duration_ms, coalesce(note, '-') FROM flag_videos ORDER BY 1",
    );
    assert_eq!(videos.len(), 2, "{videos:?}");
    assert_eq!(videos[0], "v1|3000|-", "{}", console.logs());
    assert!(
        videos[1].starts_with("v2||no contact sheet: video_decode_failed"),
        "{videos:?}"
    );
    let frames = query_rows(
        &console,
        "SELECT time_ms, frame_ms, preview IS NOT NULL, length(thumbnail) > 0
         FROM flag_video_frames WHERE attachment_id = 'v1' ORDER BY time_ms",
    );
    assert_eq!(frames.len(), 4, "{frames:?}");
    assert_eq!(frames[0], "500|500|true|true");
    assert!(frames[1].starts_with("1250|12"), "{frames:?}");
    assert_eq!(frames[2..], ["2000|2000|true|true", "2500|2500|true|true"]);
    let logs = console.logs();
    assert!(
        logs.contains("no full contact sheet") && logs.contains("video_decode_failed"),
        "{logs}"
    );

    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let csrf = rita.csrf("/queue");
    let claimed = rita.post("/queue/claim-next", &[("csrf", &csrf)]);
    assert_eq!(
        claimed.header("location"),
        Some(format!("/flags/{id}").as_str())
    );
    let page = rita.get(&format!("/flags/{id}")).text();
    assert!(page.contains("<svg class=\"timeline\""), "{page}");
    assert_eq!(page.matches("class=\"segment\"").count(), 1, "{page}");
    // v1's frame at 0:02.500 and v2's at 0: each video has its timeline.
    assert_eq!(page.matches("<svg class=\"timeline\"").count(), 2);
    assert_eq!(page.matches("class=\"matched-frame\"").count(), 2);
    assert!(page.contains("0:00.000 – 0:03.000"), "{page}");
    assert_eq!(page.matches("class=\"blurred-frame\"").count(), 4, "{page}");
    assert!(page.contains("sample-videos entry img-7: this frame, distance 4"));
    assert!(page.contains("sample-videos entry vid-1: within a matched stretch (vPDQ)"));
    assert!(page.contains("video_decode_failed"), "v2's reason is shown");

    let frame = format!("/flags/{id}/videos/v1/frames/2500");
    let blurred = rita.get(&format!("{frame}/blurred"));
    assert_eq!(blurred.status, 200);
    assert_eq!(blurred.header("content-type"), Some("image/png"));
    let mosaic = image::load_from_memory(&blurred.body).unwrap();
    assert_eq!((mosaic.width(), mosaic.height()), (252, 189));
    // Not revealed yet: refused and logged.
    assert_eq!(rita.get(&frame).status, 403);
    let csrf = rita.csrf(&format!("/flags/{id}"));
    let reveals = "SELECT count(*) FROM access_log WHERE action = 'reveal_frame'";
    // Without the session's CSRF token, or signed in too long ago, nothing is revealed.
    let forged = rita.post(&format!("{frame}/reveal"), &[("csrf", "forged")]);
    assert_ne!(forged.status, 303);
    let set_authenticated = |minutes_ago: i64| {
        query_i64(
            &console,
            &format!(
                "WITH aged AS (UPDATE sessions
                   SET authenticated_at = now() - interval '{minutes_ago} minutes'
                 RETURNING 1) SELECT count(*) FROM aged"
            ),
        )
    };
    set_authenticated(16);
    let asked = rita.post(&format!("{frame}/reveal"), &[("csrf", &csrf)]);
    assert_eq!(
        asked.header("location"),
        Some(format!("/reauth?next=%2Fflags%2F{id}").as_str())
    );
    assert_eq!(query_i64(&console, reveals), 0);
    set_authenticated(0);
    let revealed = rita.post(&format!("{frame}/reveal"), &[("csrf", &csrf)]);
    assert_eq!(
        revealed.header("location"),
        Some(format!("/flags/{id}").as_str())
    );
    let original = rita.get(&frame);
    assert_eq!(original.status, 200);
    assert_eq!(original.header("content-type"), Some("image/png"));
    let shown = image::load_from_memory(&original.body).unwrap();
    assert_eq!((shown.width(), shown.height()), (320, 240));
    // Only that frame: the others stay blurred and refused.
    assert_eq!(
        rita.get(&format!("/flags/{id}/videos/v1/frames/500"))
            .status,
        403
    );
    let page = rita.get(&format!("/flags/{id}")).text();
    assert_eq!(page.matches("class=\"blurred-frame\"").count(), 3);
    assert_eq!(page.matches("class=\"revealed-frame\"").count(), 1);
    assert_eq!(
        query_rows(
            &console,
            "SELECT action, flag_id, attachment_id, detail FROM access_log
             WHERE action = 'reveal_frame'"
        ),
        [format!("reveal_frame|{id}|v1|frame_ms=2500")]
    );
    // A frame that is not on the sheet, and one of a flag not held, are not served.
    assert_eq!(
        rita.get(&format!("/flags/{id}/videos/v1/frames/7/blurred"))
            .status,
        404
    );
    // An auditor never sees a frame.
    let mut aldo = Client::new(console.addr);
    aldo.login("aldo");
    assert_eq!(aldo.get(&format!("{frame}/blurred")).status, 403);
    assert_eq!(aldo.get(&frame).status, 403);
    // Frames are content: purged after the retention period with the text and images.
    let purged = console.purge_a_month_later();
    assert_eq!((purged.flags, purged.frames), (1, 4));
    assert_eq!(
        query_i64(&console, "SELECT count(*) FROM flag_video_frames"),
        0
    );
    assert_eq!(rita.get(&frame).status, 404);
    // Content stays out of the logs: no pixels, no base64.
    let logs = console.stop();
    assert!(!logs.contains("rgb") && logs.len() < 200_000, "{logs}");
}

#[test]
fn a_reviewer_sees_the_contact_sheet_in_a_browser_and_reveals_one_frame() {
    let (console, id) = console_with_a_video_flag();
    let shots = review_support::run_browser("video.mjs", &console, &[("FLAG_ID", id.as_str())]);
    for name in ["6-video-blurred", "7-video-frame-revealed"] {
        assert!(shots.join(format!("{name}.png")).is_file(), "{name}.png");
    }
    assert_eq!(
        query_i64(
            &console,
            "SELECT count(*) FROM access_log WHERE action = 'reveal_frame' AND attachment_id = 'v1'"
        ),
        1
    );
}
