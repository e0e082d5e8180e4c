//! `vigil scan` on messages carrying videos, end to end through the real worker processes:
//! a re-encoded, rescaled copy of a listed video and a rotated copy match the listed video
//! (with the evidence a reviewer needs: frame counts, segments, best distance, the form); a
//! listed photo shown inside a video matches at the frame's time; an unrelated video matches
//! nothing; bytes that are no video get an error record while their exact digest still
//! matches. Every flag conforms to the flag schema.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine;
use common::{assert_valid, encode_clip, json_lines, run, run_ok, schema, vigil};
use serde_json::{Value, json};

/// `vigil hash --algorithms ALGORITHM FILE`'s `field`.
fn hashed(dir: &Path, algorithm: &str, file: &Path) -> Value {
    let output = run(
        vigil(dir)
            .args(["hash", "--algorithms", algorithm])
            .arg(file),
        b"",
    );
    assert!(output.status.success(), "hashing {}", file.display());
    json_lines(&output.stdout).remove(0)[algorithm].clone()
}

fn message(id: &str, attachments: &[(&str, &str, &[u8])]) -> String {
    let attachments: Vec<Value> = attachments
        .iter()
        .map(|(id, media_type, bytes)| {
            json!({
                "attachment_id": id,
                "media_type": media_type,
                "data": base64::engine::general_purpose::STANDARD.encode(bytes),
            })
        })
        .collect();
    let record = json!({
        "message_id": id, "conversation_id": "c-1", "sender_id": "u-1",
        "recipient_ids": ["u-2"], "sent_at": "2026-12-07T07:00:00Z",
        "attachments": attachments,
    });
    format!("{record}\n")
}

/// The matches of the flag of message `id`, if flagged.
fn matches_of<'a>(flags: &'a [Value], id: &str) -> Vec<&'a Value> {
    flags
        .iter()
        .filter(|f| f["message_id"] == id)
        .flat_map(|f| f["matches"].as_array().unwrap())
        .collect()
}

#[test]
fn scanning_matches_listed_videos_and_listed_photos_inside_videos() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pattern = "testsrc2=size=640x360:rate=30";
    let original = encode_clip(d, "o.mp4", pattern, 4.0, &["-crf", "18"]);
    // Another codec, a third of the pixels, heavier compression, another frame rate.
    let copy = encode_clip(
        d,
        "c.webm",
        pattern,
        4.0,
        &["-vf", "scale=368:208,fps=24", "-b:v", "150k"],
    );
    // Turned a quarter clockwise, as a clip re-posted without its rotation flag.
    let turned = encode_clip(d, "t.mp4", pattern, 4.0, &["-vf", "transpose=1"]);
    let other = encode_clip(d, "x.mkv", "mandelbrot=size=640x360:rate=30", 4.0, &[]);
    // A photo, and a video that shows it from 2 s to 4 s after 2 s of something else.
    let photo = d.join("photo.png");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .args(["cellauto=s=640x360:rule=30:seed=7", "-frames:v", "1"])
        .arg(&photo)
        .status()
        .unwrap();
    assert!(status.success());
    let framed = encode_clip(
        d,
        "p.mp4",
        &format!(
            "life=s=640x360:rate=25:seed=3,trim=duration=2,setpts=PTS-STARTPTS[a];\
             movie={},loop=loop=60:size=1,fps=25,setpts=N/25/TB[b];[a][b]concat=n=2:v=1",
            photo.display()
        ),
        4.0,
        &["-pix_fmt", "yuv420p"],
    );

    let list = d.join("listed.jsonl");
    let entries = [
        json!({"algorithm": "vpdq", "hash": hashed(d, "vpdq", &original), "entry_id": "v-1", "category": "A"}),
        json!({"algorithm": "pdq", "hash": hashed(d, "pdq", &photo), "entry_id": "p-1", "category": "B"}),
    ];
    let junk = b"\x00\x00\x00\x18ftypmp42 not a video at all".to_vec();
    let junk_sha = hashed_bytes(d, &junk);
    let exact =
        json!({"algorithm": "sha256", "hash": junk_sha, "entry_id": "s-1", "category": "C"});
    let lines: Vec<String> = entries
        .iter()
        .chain([&exact])
        .map(Value::to_string)
        .collect();
    std::fs::write(&list, lines.join("\n") + "\n").unwrap();

    let read = |p: &Path| std::fs::read(p).unwrap();
    let input = [
        message("copy", &[("a", "video/webm", &read(&copy))]),
        message("turned", &[("a", "video/mp4", &read(&turned))]),
        message("other", &[("a", "video/x-matroska", &read(&other))]),
        message("framed", &[("a", "video/mp4", &read(&framed))]),
        message("junk", &[("a", "video/mp4", &junk)]),
    ]
    .concat();
    let errors = d.join("errors.jsonl");
    let output = run_ok(
        vigil(d)
            .args(["scan", "--hash-list"])
            .arg(&list)
            .arg("--errors")
            .arg(&errors),
        input.as_bytes(),
    );
    let flags = json_lines(&output.stdout);
    let validator = schema("flag");
    for flag in &flags {
        assert_valid(&validator, flag);
    }

    // The copy: most of its frames match the listed video's, over one stretch.
    let found = matches_of(&flags, "copy");
    assert_eq!(found.len(), 1, "{found:?}");
    let m = found[0];
    assert_eq!(
        (m["detector"].as_str(), m["entry_id"].as_str()),
        (Some("vpdq"), Some("v-1"))
    );
    assert!(m.get("variant").is_none(), "matched as decoded: {m}");
    let video = &m["video"];
    let (query, matched) = (
        video["query_frames"].as_u64().unwrap(),
        video["query_frames_matched"].as_u64().unwrap(),
    );
    assert!(query >= 4 && matched * 100 >= query * 80, "{video}");
    assert!(video["compared_frames_matched"].as_u64().unwrap() >= 1);
    assert!(m["distance"].as_u64().unwrap() <= 31);
    let segments = video["segments"].as_array().unwrap();
    assert!(
        !segments.is_empty() && segments[0]["start_ms"] == 0,
        "{video}"
    );

    // The turned copy matches in the form that undoes the turn.
    let found = matches_of(&flags, "turned");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["entry_id"], "v-1");
    let form = found[0]["variant"].as_str().unwrap();
    assert!(["rotate90", "rotate270"].contains(&form), "{form}");

    // The photo inside a video: a PDQ match at a frame shown from 2 s on.
    let found = matches_of(&flags, "framed");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0]["detector"].as_str(), found[0]["entry_id"].as_str()),
        (Some("pdq"), Some("p-1"))
    );
    let at = found[0]["frame_ms"].as_u64().unwrap();
    assert!((2000..4000).contains(&at), "frame at {at} ms");

    assert!(matches_of(&flags, "other").is_empty());

    // Not a video: its exact digest still matches, and an error record says why the rest
    // could not be scanned.
    let found = matches_of(&flags, "junk");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["detector"], "sha256");
    let errors = json_lines(&std::fs::read(&errors).unwrap());
    let junk_errors: Vec<&Value> = errors
        .iter()
        .filter(|e| e["message_id"] == "junk")
        .collect();
    assert_eq!(junk_errors.len(), 1, "{errors:?}");
    assert_eq!(junk_errors[0]["reason"], "video_decode_failed");
    assert_eq!(junk_errors[0]["attachment_id"], "a");
    assert_eq!(errors.len(), 1, "no other message had an error: {errors:?}");
}

fn hashed_bytes(dir: &Path, bytes: &[u8]) -> Value {
    let file = dir.join("bytes.bin");
    std::fs::write(&file, bytes).unwrap();
    hashed(dir, "sha256", &file)
}
