//! Hostile images, generated here: decompression bombs (PNG, GIF, WebP, JPEG, BMP declaring
//! huge dimensions, and a real 8192 × 8192 PNG that inflates to 200 MB from 200 KB), a PNG
//! text-chunk zip bomb, a 100,000-frame GIF, 1 × 100,000 pixels, truncated and corrupt files.
//! Each goes through `vigil hash` in its own process, measured by GNU time: each must give its
//! typed outcome within the time budget and memory bound, and its exact digest must still be
//! the SHA-256 of its bytes (so a listed file matches even when it cannot be decoded).
//! Through `vigil scan`, an image that takes longer than its wall-clock budget is reported
//! `image_timeout` and the scan moves on.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::{assert_valid, chunk, crc32, json_lines, png, run, schema, vigil, zeros_zlib};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// CPU time one attachment may take, hashing included (vigil-hash and its decoders are
/// optimised even in test builds). CPU rather than wall time, so a busy machine does not fail
/// the test.
const TIME_BUDGET: Duration = Duration::from_secs(2);
/// Peak resident memory of one `vigil hash` over one attachment. The largest image the
/// default limits admit (8192 × 8192 RGB, 201 MB) plus PDQ's full-size f32 luma (268 MB)
/// and the process itself.
const MEMORY_BOUND_BYTES: u64 = 600 * 1024 * 1024;

/// A PNG whose header declares `width` × `height` over 8 × 8 pixels of data.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = png(8, 8, &[]);
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A GIF with a `width` × `height` logical screen and `frames` one-pixel frames.
fn gif(width: u16, height: u16, frames: usize) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff]);
    for _ in 0..frames {
        // Image descriptor for 1 × 1 at the origin, then LZW (min code size 2): clear, 0, end.
        out.extend_from_slice(&[0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0]);
    }
    out.push(0x3b);
    out
}

/// A baseline JPEG header (SOI, SOF0) declaring `width` × `height`, then EOI.
fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
    let mut out = vec![0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 8];
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9]);
    out
}

/// An extended WebP (VP8X) declaring a `width` × `height` canvas.
fn webp_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut vp8x = vec![0u8; 4];
    vp8x.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    let mut body = b"WEBPVP8X".to_vec();
    body.extend_from_slice(&10u32.to_le_bytes());
    body.extend_from_slice(&vp8x);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A 24-bit BMP header declaring `width` × `height` over no pixel data.
fn bmp_declaring(width: i32, height: i32) -> Vec<u8> {
    let mut out = b"BM".to_vec();
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0; 24]);
    out
}

/// What `vigil hash` must report: `Ok` for a hashed image, else the reason codes allowed.
enum Want {
    Hashed,
    Error(&'static [&'static str]),
}

fn cases() -> Vec<(&'static str, Vec<u8>, Want)> {
    let small = png(16, 16, &[]);
    // 512 MB of zeros in a compressed text chunk (about 0.5 MB on disk).
    let mut ztxt = b"Comment\0\0".to_vec();
    ztxt.extend_from_slice(&zeros_zlib(512, 1024 * 1024));
    let too_large: &[&str] = &["image_too_large"];
    vec![
        ("png-inflates-to-200-mb", png(8192, 8192, &[]), Want::Hashed),
        (
            "png-declares-100000x100000",
            png_declaring(100_000, 100_000),
            Want::Error(too_large),
        ),
        ("png-1x100000", png(1, 100_000, &[]), Want::Error(too_large)),
        (
            "png-text-chunk-bomb",
            png(16, 16, &chunk(b"zTXt", &ztxt)),
            Want::Hashed,
        ),
        ("gif-100000-frames", gif(1, 1, 100_000), Want::Hashed),
        (
            "gif-screen-65535x65535",
            gif(65_535, 65_535, 1),
            Want::Error(too_large),
        ),
        (
            "jpeg-declares-65500x65500",
            jpeg_declaring(65_500, 65_500),
            Want::Error(&["image_too_large", "undecodable"]),
        ),
        (
            "webp-declares-16384x16384",
            webp_declaring(16_384, 16_384),
            Want::Error(&["image_too_large", "undecodable"]),
        ),
        (
            "bmp-declares-100000x100000",
            bmp_declaring(100_000, 100_000),
            Want::Error(&["image_too_large", "undecodable"]),
        ),
        (
            "png-truncated",
            small[..small.len() / 2].to_vec(),
            Want::Error(&["undecodable"]),
        ),
        (
            "png-corrupt-header",
            [&small[..8], &[0xde; 40][..]].concat(),
            Want::Error(&["undecodable"]),
        ),
    ]
}

#[test]
fn hostile_images_give_typed_outcomes_within_time_and_memory_and_keep_their_digests() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    for (name, bytes, want) in cases() {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let binary = env!("CARGO_BIN_EXE_vigil");
        let output = Command::new("/usr/bin/time")
            .args(["-f", "%e %U %S %M"])
            .arg(binary)
            .args(["hash", "--algorithms", "pdq,phash,sha256"])
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        let line: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{name}: no JSON line ({e}): {stdout} {stderr}"));
        let measured = stderr.lines().last().unwrap();
        let fields: Vec<f64> = measured.split(' ').map(|f| f.parse().unwrap()).collect();
        let (seconds, cpu) = (fields[0], fields[1] + fields[2]);
        let peak = fields[3] as u64 * 1024;
        match want {
            Want::Hashed => assert!(line["pdq"].is_string(), "{name}: not hashed: {line}"),
            Want::Error(reasons) => {
                let reason = line["error"].as_str().unwrap_or("none");
                assert!(reasons.contains(&reason), "{name}: {reason}: {line}");
            }
        }
        assert_eq!(
            line["sha256"].as_str().unwrap(),
            hex::encode(Sha256::digest(&bytes)),
            "{name}: the digest of the raw bytes"
        );
        assert!(
            cpu <= TIME_BUDGET.as_secs_f64(),
            "{name}: {cpu} s of CPU, over the budget"
        );
        assert!(peak <= MEMORY_BOUND_BYTES, "{name}: peak RSS {peak} bytes");
        report.push(format!(
            "{name}: {} bytes, {}, {seconds:.2} s ({cpu:.2} s CPU), peak RSS {} MiB",
            bytes.len(),
            line["error"].as_str().unwrap_or("hashed"),
            peak / (1024 * 1024)
        ));
    }
    // Reported in docs/reliability.md (run with --nocapture).
    println!("{}", report.join("\n"));
}

/// A message with one inline attachment.
fn message(id: &str, media_type: &str, bytes: &[u8]) -> String {
    json!({
        "message_id": id, "conversation_id": "c", "sender_id": "u1", "recipient_ids": ["u2"],
        "sent_at": "2026-11-26T10:00:00Z",
        "attachments": [{
            "attachment_id": "a1", "media_type": media_type,
            "data": base64::engine::general_purpose::STANDARD.encode(bytes),
        }],
    })
    .to_string()
}

#[test]
fn an_image_over_its_time_budget_is_reported_and_still_matches_its_digest() {
    // Decoding and hashing the 8192 x 8192 PNG takes about a second; a 16 x 16 one well under
    // a millisecond. A 100 ms budget separates them on any machine this runs on.
    let slow = png(8192, 8192, &[]);
    let quick = png(16, 16, &[]);
    let dir = tempfile::tempdir().unwrap();
    let slow_sha = hex::encode(Sha256::digest(&slow));
    // A PDQ entry, so that images are decoded and hashed at all; the slow file listed by
    // SHA-256.
    let pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
    std::fs::write(
        dir.path().join("hashes.csv"),
        format!("algorithm,hash,entry_id,category\npdq,{pdq},p-1,A\nsha256,{slow_sha},s-1,B\n"),
    )
    .unwrap();
    let input = [
        message("m-slow", "image/png", &slow),
        message("m-quick", "image/png", &quick),
    ]
    .join("\n");
    let output = run(
        vigil(dir.path())
            .env("VIGIL_ATTACHMENTS__MAX_IMAGE_TIME_MS", "100")
            .args(["scan", "--hash-list", "hashes.csv", "-"]),
        input.as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let flags = json_lines(&output.stdout);
    let flagged: Vec<(&str, &str)> = flags
        .iter()
        .flat_map(|f| {
            f["matches"].as_array().unwrap().iter().map(|m| {
                (
                    f["message_id"].as_str().unwrap(),
                    m["detector"].as_str().unwrap(),
                )
            })
        })
        .collect();
    assert_eq!(flagged, [("m-slow", "sha256")], "{flags:#?}");
    let errors = json_lines(&output.stderr);
    assert_eq!(errors.len(), 1, "only the slow image fails: {errors:#?}");
    assert_valid(&schema("error-record"), &errors[0]);
    assert_eq!(errors[0]["reason"], "image_timeout");
    assert_eq!(errors[0]["stage"], "decode");
    assert_eq!(errors[0]["message_id"], "m-slow");
    assert_eq!(errors[0]["attachment_id"], "a1");
    assert!(
        stderr.contains("records=2 scanned=2"),
        "both messages scanned: {stderr}"
    );
}
