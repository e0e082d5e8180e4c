//! `vigil scan` and `vigil hash` on image attachments: perceptual matches with the variant
//! that matched, decode failures reported (never passed as clean) while exact digests still
//! match, and `vigil hash`'s output format.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Cursor;
use std::path::Path;

use base64::Engine;
use common::{assert_valid, entry_distances, json_lines, root, run, run_ok, schema, vigil};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The fixture photo every perceptual list entry below is computed from, and its reference
/// PDQ hash (tests/golden/pdq-reference.jsonl, from Meta's C++).
const PHOTO: &str = "tests/fixtures/images/photo-like-seed7-160x120.png";
const PHOTO_PDQ: &str = "5eb66d4976949966d3261cb9618cd30b2e977c093a969927ee031efcd10c22d7";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/images").join(name)).unwrap()
}

fn png(image: &image::RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn message(id: &str, attachments: &[(&str, &str, &[u8])]) -> String {
    let attachments: Vec<Value> = attachments
        .iter()
        .map(|(aid, media, bytes)| {
            json!({
                "attachment_id": aid,
                "media_type": media,
                "data": base64::engine::general_purpose::STANDARD.encode(bytes),
            })
        })
        .collect();
    json!({
        "message_id": id, "conversation_id": "c", "sender_id": "u1", "recipient_ids": ["u2"],
        "sent_at": "2026-11-26T10:00:00Z", "attachments": attachments,
    })
    .to_string()
}

fn scan(dir: &Path, list: &str, input: &str) -> (Vec<Value>, Vec<Value>) {
    std::fs::write(dir.join("hashes.csv"), list).unwrap();
    let output = run_ok(
        vigil(dir).args(["scan", "--hash-list", "hashes.csv", "-"]),
        input.as_bytes(),
    );
    (json_lines(&output.stdout), json_lines(&output.stderr))
}

#[test]
fn transformed_copies_match_with_their_variant_and_bad_images_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let original = image::open(root().join(PHOTO)).unwrap().to_rgb8();
    let rotated = png(&image::imageops::rotate90(&original));
    let mirrored = png(&image::imageops::flip_horizontal(&original));
    let framed = fixture("photo-like-border10-black.png");
    let unrelated = fixture("checker-13px-300x200.png");
    let truncated = {
        let bytes = fixture("photo-like-seed7-160x120.png");
        bytes[..bytes.len() / 2].to_vec()
    };
    let truncated_sha = hex(&Sha256::digest(&truncated));
    let list = format!(
        "algorithm,hash,entry_id,category\npdq,{PHOTO_PDQ},p-1,A\nsha256,{truncated_sha},s-1,B\n"
    );
    let input = [
        message(
            "m-same",
            &[("a1", "image/png", &fixture("photo-like-seed7-160x120.png"))],
        ),
        message("m-rotated", &[("a1", "image/png", &rotated)]),
        message("m-mirrored", &[("a1", "image/png", &mirrored)]),
        message("m-framed", &[("a1", "image/png", &framed)]),
        message("m-unrelated", &[("a1", "image/png", &unrelated)]),
        message("m-truncated", &[("a1", "image/png", &truncated)]),
        message(
            "m-video",
            &[("a1", "video/mp4", b"\x00\x00\x00\x18ftypmp42 not decoded")],
        ),
    ]
    .join("\n");
    let (flags, errors) = scan(dir.path(), &list, &input);
    let flag_schema = schema("flag");
    let mut got = Vec::new();
    for flag in &flags {
        assert_valid(&flag_schema, flag);
        for m in flag["matches"].as_array().unwrap() {
            got.push((
                flag["message_id"].as_str().unwrap().to_string(),
                m["detector"].as_str().unwrap().to_string(),
                m["variant"].as_str().map(str::to_string),
                m["distance"].as_u64().unwrap(),
            ));
        }
    }
    got.sort();
    let found = |id: &str| {
        got.iter()
            .find(|g| g.0 == id)
            .map(|g| (g.2.as_deref(), g.3))
    };
    let variant = |id: &str| found(id).map(|(v, _)| v);
    assert_eq!(found("m-same"), Some((None, 0)), "{got:?}");
    // A clockwise turn is undone by the reference's counter-clockwise rotate90.
    assert_eq!(variant("m-rotated"), Some(Some("rotate90")), "{got:?}");
    assert_eq!(variant("m-mirrored"), Some(Some("flip_y")), "{got:?}");
    assert_eq!(variant("m-framed"), Some(Some("trimmed")), "{got:?}");
    for id in ["m-rotated", "m-mirrored", "m-framed"] {
        assert!(found(id).unwrap().1 <= 8, "{got:?}");
    }
    assert_eq!(variant("m-unrelated"), None, "{got:?}");
    assert_eq!(variant("m-video"), None, "{got:?}");
    // The truncated file is listed by SHA-256: it matches although it cannot be decoded...
    let truncated_matches: Vec<_> = got.iter().filter(|g| g.0 == "m-truncated").collect();
    assert_eq!(truncated_matches.len(), 1, "{got:?}");
    assert_eq!(truncated_matches[0].1, "sha256");
    // ...and the failure to decode it is reported, with a content-free detail.
    let error_schema = schema("error-record");
    assert_eq!(errors.len(), 2, "{errors:#?}");
    for error in &errors {
        assert_valid(&error_schema, error);
    }
    // A video is never decoded as an image: the video workers report what they made of it.
    assert_eq!(errors[1]["message_id"], "m-video");
    assert_eq!(errors[1]["reason"], "video_decode_failed");
    assert_eq!(errors[0]["reason"], "undecodable");
    assert_eq!(errors[0]["stage"], "decode");
    assert_eq!(errors[0]["message_id"], "m-truncated");
    assert_eq!(errors[0]["attachment_id"], "a1");
}

#[test]
fn perceptual_matches_respect_the_configured_radius_and_quality() {
    let dir = tempfile::tempdir().unwrap();
    // Flip 40 bits of the listed hash: outside the default radius of 31, inside 45.
    let far = {
        let mut value = u128::from_str_radix(&PHOTO_PDQ[32..], 16).unwrap();
        value ^= (1u128 << 40) - 1;
        format!("{}{value:032x}", &PHOTO_PDQ[..32])
    };
    let list = format!("algorithm,hash,entry_id,category\npdq,{far},p-far,A\n");
    let input = message(
        "m-1",
        &[("a1", "image/png", &fixture("photo-like-seed7-160x120.png"))],
    );
    let (flags, _) = scan(dir.path(), &list, &input);
    assert!(flags.is_empty(), "{flags:#?}");
    std::fs::write(dir.path().join("hashes.csv"), &list).unwrap();
    for (radius, min_quality, expected) in [("45", "50", 1), ("45", "101", 0)] {
        let output = run(
            vigil(dir.path())
                .env("VIGIL_MATCH__PDQ_MAX_DISTANCE", radius)
                .env("VIGIL_MATCH__PDQ_MIN_QUALITY", min_quality)
                .args(["scan", "--hash-list", "hashes.csv", "-"]),
            input.as_bytes(),
        );
        if min_quality == "101" {
            // Out of range: refused at start-up, naming the key.
            assert!(!output.status.success());
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("match.pdq_min_quality"), "{stderr}");
            continue;
        }
        let flags = json_lines(&output.stdout);
        assert_eq!(flags.len(), expected, "radius {radius}");
        assert_eq!(flags[0]["matches"][0]["distance"], 40);
        assert_eq!(flags[0]["matches"][0]["quality"], 100);
    }
}

#[test]
fn vigil_hash_prints_one_line_per_file_and_fails_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let photo = root().join(PHOTO);
    let output = run(
        vigil(dir.path())
            .args(["hash", "--dihedral"])
            .arg(&photo)
            .args(["broken.png", "missing.png"]),
        b"",
    );
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output.stdout);
    assert_eq!(lines.len(), 3);
    let first = &lines[0];
    assert_eq!(first["path"], photo.to_string_lossy().as_ref());
    assert_eq!(first["pdq"], PHOTO_PDQ);
    assert_eq!(first["pdq_quality"], 100);
    assert_eq!(first["format"], "PNG");
    assert_eq!(first["pdq_dihedral"].as_array().unwrap().len(), 8);
    assert_eq!(first["pdq_dihedral"][0], PHOTO_PDQ);
    for (key, len) in [
        ("phash", 16),
        ("dhash", 16),
        ("ahash", 16),
        ("md5", 32),
        ("sha1", 40),
    ] {
        assert_eq!(first[key].as_str().unwrap().len(), len, "{key}");
    }
    assert_eq!(
        first["sha256"],
        hex(&Sha256::digest(std::fs::read(&photo).unwrap()))
    );
    assert!(first.get("pdq_trimmed").is_none(), "no border");
    assert_eq!(lines[1]["error"], "undecodable");
    assert!(
        lines[1]["sha256"].is_string(),
        "exact digests precede decoding"
    );
    assert_eq!(lines[2]["error"], "unreadable");

    // Only what was asked for; a framed image gets its trimmed hash.
    let framed = root().join("tests/fixtures/images/photo-like-border10-black.png");
    let output = run(
        vigil(dir.path())
            .args(["hash", "--algorithms", "pdq,md5"])
            .arg(&framed),
        b"",
    );
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    let line = &json_lines(&output.stdout)[0];
    let mut keys: Vec<&str> = line
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_by_key(|k| text.find(&format!("\"{k}\":")).unwrap());
    assert_eq!(
        keys,
        [
            "path",
            "format",
            "width",
            "height",
            "pdq",
            "pdq_quality",
            "pdq_trimmed",
            "pdq_trimmed_quality",
            "pdq_trimmed_box",
            "md5"
        ]
    );
    assert_eq!(line["pdq_trimmed_box"], json!([16, 12, 160, 120]));
}

/// `vigil scan` of `input` with `dir`'s vigil.toml: the (entry, distance) of each match of the
/// one flag, sorted.
fn scanned_entries(dir: &Path, input: &str) -> Vec<(String, u64)> {
    let output = run_ok(
        vigil(dir).args(["scan", "--config", "vigil.toml", "-"]),
        input.as_bytes(),
    );
    entry_distances(&json_lines(&output.stdout)[0]["matches"])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The photo's PDQ hash with the bits in `bits` flipped: at distance `bits.len()` from it.
fn flipped(bits: std::ops::Range<u32>) -> String {
    let mut value = u128::from_str_radix(&PHOTO_PDQ[32..], 16).unwrap();
    for bit in bits {
        value ^= 1u128 << bit;
    }
    format!("{}{value:032x}", &PHOTO_PDQ[..32])
}

#[test]
fn lists_and_categories_tighten_the_pdq_thresholds_and_may_not_loosen_them() {
    let dir = tempfile::tempdir().unwrap();
    let header = "algorithm,hash,entry_id,category\n";
    std::fs::write(
        dir.path().join("strict.csv"),
        format!(
            "{header}pdq,{},s-near,A\npdq,{},s-far,A\n",
            flipped(0..10),
            flipped(10..30)
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("loose.csv"),
        format!(
            "{header}pdq,{},l-far-a,A\npdq,{},l-far-b,B\npdq,{},l-near-b,B\n",
            flipped(30..50),
            flipped(50..70),
            flipped(70..80)
        ),
    )
    .unwrap();
    let config = |list_distance: u32, category: &str| {
        format!(
            "[match]\npdq_max_distance = 31\n[match.categories.B]\n{category}\n\
             [lists]\nhash_lists = [{{ path = \"strict.csv\", pdq_max_distance = {list_distance} }}, \"loose.csv\"]\n"
        )
    };
    std::fs::write(
        dir.path().join("vigil.toml"),
        config(12, "pdq_max_distance = 15"),
    )
    .unwrap();
    let input = message(
        "m-1",
        &[("a1", "image/png", &fixture("photo-like-seed7-160x120.png"))],
    );
    let matched = scanned_entries(dir.path(), &input);
    // strict.csv's 12 keeps 10 and drops 20; category B's 15 drops loose.csv's B at 20 and
    // keeps its B at 10; loose.csv's A at 20 is within match's 31.
    assert_eq!(
        matched,
        [
            ("l-far-a".into(), 20),
            ("l-near-b".into(), 10),
            ("s-near".into(), 10)
        ]
    );

    // `vigil lists stats` shows the thresholds in force per list and category.
    let stats = run(
        vigil(dir.path()).args(["lists", "stats", "--config", "vigil.toml"]),
        b"",
    );
    let stats = String::from_utf8_lossy(&stats.stdout).into_owned();
    for line in ["strict\t", "loose\t"] {
        assert!(stats.contains(line), "{stats}");
    }
    assert!(
        stats.contains("strict\t") && stats.contains("\tpdq\tA\t2\t-\t-\t12\t50\n"),
        "{stats}"
    );
    assert!(stats.contains("\tpdq\tB\t2\t-\t-\t15\t50\n"), "{stats}");
    assert!(stats.contains("\tpdq\tA\t1\t-\t-\t31\t50\n"), "{stats}");

    // Looser than [match]: refused at start-up, naming the key.
    for (list_distance, category, key) in [
        (
            40,
            "pdq_max_distance = 15",
            "lists.hash_lists[0].pdq_max_distance",
        ),
        (
            12,
            "pdq_min_quality = 30",
            "match.categories.B.pdq_min_quality",
        ),
    ] {
        std::fs::write(
            dir.path().join("vigil.toml"),
            config(list_distance, category),
        )
        .unwrap();
        let output = run(
            vigil(dir.path()).args(["scan", "--config", "vigil.toml", "-"]),
            input.as_bytes(),
        );
        assert!(!output.status.success(), "{key}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(key) && stderr.contains("tighten"),
            "{stderr}"
        );
    }
}

#[test]
fn a_signed_manifests_thresholds_apply_and_configuration_cannot_loosen_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bank.csv"),
        format!(
            "algorithm,hash,entry_id,category\npdq,{},near-a,A\npdq,{},far-a,A\npdq,{},near-b,B\n",
            flipped(0..10),
            flipped(10..30),
            flipped(30..40)
        ),
    )
    .unwrap();
    for args in [
        &["genpkey", "-algorithm", "ed25519", "-out", "key.pem"][..],
        &["pkey", "-in", "key.pem", "-pubout", "-out", "key.pub"],
    ] {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "openssl {args:?}");
    }
    // The publisher: 15 bits for the list, 8 for category B.
    let signed = run(
        vigil(dir.path()).args([
            "lists",
            "sign",
            "--key",
            "key.pem",
            "--source",
            "publisher",
            "--pdq-max-distance",
            "15",
            "--category-pdq-max-distance",
            "B=8",
            "bank.csv",
        ]),
        b"",
    );
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("bank.csv.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["thresholds"],
        json!({"pdq_max_distance": 15, "categories": {"B": {"pdq_max_distance": 8}}})
    );
    // The operator asks for 25: looser than the publisher's 15, so 15 stays in force.
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[lists]\ntrusted_keys = [\"key.pub\"]\n\
         hash_lists = [{ path = \"bank.csv\", pdq_max_distance = 25 }]\n",
    )
    .unwrap();
    let input = message(
        "m-1",
        &[("a1", "image/png", &fixture("photo-like-seed7-160x120.png"))],
    );
    let output = run(
        vigil(dir.path()).args(["scan", "--config", "vigil.toml", "-"]),
        input.as_bytes(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let flags = json_lines(&output.stdout);
    let matched: Vec<&str> = flags[0]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["entry_id"].as_str().unwrap())
        .collect();
    // near-a at 10 is within 15; far-a at 20 is not; near-b at 10 is beyond B's 8.
    assert_eq!(matched, ["near-a"]);
    let stats = run(
        vigil(dir.path()).args(["lists", "stats", "--config", "vigil.toml"]),
        b"",
    );
    let stats = String::from_utf8_lossy(&stats.stdout).into_owned();
    assert!(
        stats.contains("bank\t1\tpdq\tA\t2\t-\t-\t15\t50\n"),
        "{stats}"
    );
    assert!(
        stats.contains("bank\t1\tpdq\tB\t1\t-\t-\t8\t50\n"),
        "{stats}"
    );
}

/// `hash` (16 hex digits) with its lowest `n` bits flipped: at distance `n`.
fn flipped64(hash: &str, bits: std::ops::Range<u32>) -> String {
    let mut value = u64::from_str_radix(hash, 16).unwrap();
    for bit in bits {
        value ^= 1u64 << bit;
    }
    format!("{value:016x}")
}

#[test]
fn lists_and_categories_tighten_the_phash_dhash_and_ahash_distances() {
    let dir = tempfile::tempdir().unwrap();
    let photo = fixture("photo-like-seed7-160x120.png");
    let hashed = run(
        vigil(dir.path()).args([
            "hash",
            &root()
                .join("tests/fixtures/images/photo-like-seed7-160x120.png")
                .display()
                .to_string(),
        ]),
        b"",
    );
    let hashes = &json_lines(&hashed.stdout)[0];
    let (phash, dhash) = (
        hashes["phash"].as_str().unwrap(),
        hashes["dhash"].as_str().unwrap(),
    );
    let header = "algorithm,hash,entry_id,category\n";
    // Within match's default 8 everywhere; the list's 4 and category B's 3 tighten.
    std::fs::write(
        dir.path().join("family.csv"),
        format!(
            "{header}phash,{},p-near,A\nphash,{},p-far,A\ndhash,{},d-far,A\n",
            flipped64(phash, 0..2),
            flipped64(phash, 2..8),
            flipped64(dhash, 0..6),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("other.csv"),
        format!(
            "{header}phash,{},o-far-a,A\nphash,{},o-far-b,B\n",
            flipped64(phash, 8..14),
            flipped64(phash, 14..20),
        ),
    )
    .unwrap();
    let config = |list: &str| {
        format!(
            "[match.categories.B]\nphash_max_distance = 3\n\
             [lists]\nhash_lists = [{{ path = \"family.csv\", {list} }}, \"other.csv\"]\n"
        )
    };
    std::fs::write(
        dir.path().join("vigil.toml"),
        config("phash_max_distance = 4, dhash_max_distance = 5"),
    )
    .unwrap();
    let input = message("m-1", &[("a1", "image/png", &photo)]);
    let matched = scanned_entries(dir.path(), &input);
    // family.csv's pHash 4 keeps 2 and drops 6, its dHash 5 drops 6; category B's 3 drops
    // other.csv's B at 6 and keeps its A at 6 (match's 8).
    assert_eq!(matched, [("o-far-a".into(), 6), ("p-near".into(), 2)]);
    // `vigil lists stats` shows the distances in force.
    let stats = run(
        vigil(dir.path()).args(["lists", "stats", "--config", "vigil.toml"]),
        b"",
    );
    let stats = String::from_utf8_lossy(&stats.stdout).into_owned();
    // (list, algorithm, category, entries, max_distance), the version column aside.
    let rows: Vec<Vec<&str>> = stats
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            vec![c[0], c[2], c[3], c[4], c[7]]
        })
        .collect();
    assert_eq!(
        rows,
        [
            ["family", "dhash", "A", "1", "5"],
            ["family", "phash", "A", "2", "4"],
            ["other", "phash", "A", "1", "8"],
            ["other", "phash", "B", "1", "3"],
        ],
        "{stats}"
    );

    // Looser than match.phash_max_distance: refused, naming the key.
    std::fs::write(
        dir.path().join("vigil.toml"),
        config("phash_max_distance = 9"),
    )
    .unwrap();
    let output = run(
        vigil(dir.path()).args(["scan", "--config", "vigil.toml", "-"]),
        input.as_bytes(),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("lists.hash_lists[0].phash_max_distance") && stderr.contains("tighten"),
        "{stderr}"
    );
}
