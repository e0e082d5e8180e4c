//! `vigil match` and `vigil lists`: hashes from `vigil hash` find their listed entries in
//! every list format; a haystack/needles run (the shape of Meta's PDQ regression test,
//! generated here) returns exactly what a brute-force Hamming scan written in this test
//! returns; lists convert to CSV without loss; sign → verify round trips, tampering fails.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;

use std::path::Path;
use std::process::Output;

use common::{entry_distances, json_lines, openssl, root, run, vigil};
use serde_json::Value;

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A deterministic 256-bit hash as 4 limbs (splitmix64).
fn random_hash(seed: &mut u64) -> [u64; 4] {
    let mut next = || {
        *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    [next(), next(), next(), next()]
}

fn hex(hash: &[u64; 4]) -> String {
    hash.iter().map(|l| format!("{l:016x}")).collect()
}

fn distance(a: &[u64; 4], b: &[u64; 4]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

#[test]
fn haystack_and_needles_match_a_brute_force_scan() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 7;
    // 6,000 entries: above the size where the multi-index replaces the scan.
    let haystack: Vec<[u64; 4]> = (0..6000).map(|_| random_hash(&mut seed)).collect();
    let mut list = String::from("algorithm,hash,entry_id,category\n");
    for (i, h) in haystack.iter().enumerate() {
        list.push_str(&format!("pdq,{},hay-{i},A\n", hex(h)));
    }
    std::fs::write(dir.path().join("haystack.csv"), list).unwrap();
    // Needles at every distance 0..=40 from a listed hash, plus unrelated ones.
    let mut needles = Vec::new();
    for d in 0..=40u32 {
        let mut needle = haystack[(d as usize * 97) % haystack.len()];
        for bit in 0..d {
            let bit = (bit * 37 + d) % 256;
            needle[(bit / 64) as usize] ^= 1 << (bit % 64);
        }
        needles.push(needle);
        needles.push(random_hash(&mut seed));
    }
    let input: String = needles.iter().map(|n| hex(n) + "\n").collect();
    for radius in [0u32, 8, 31, 32] {
        let output = ok(run(
            vigil(dir.path())
                .args(["match", "--list", "haystack.csv", "--max-distance"])
                .arg(radius.to_string()),
            input.as_bytes(),
        ));
        let lines = json_lines(&output.stdout);
        assert_eq!(lines.len(), needles.len());
        for (needle, line) in needles.iter().zip(&lines) {
            assert_eq!(line["query"], hex(needle));
            let got = entry_distances(&line["matches"]);
            let mut expected: Vec<(String, u64)> = haystack
                .iter()
                .enumerate()
                .filter(|(_, h)| distance(h, needle) <= radius)
                .map(|(i, h)| (format!("hay-{i}"), u64::from(distance(h, needle))))
                .collect();
            expected.sort();
            assert_eq!(got, expected, "radius {radius}, needle {}", hex(needle));
        }
    }
}

#[test]
fn a_rotated_copy_matches_its_listed_original_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let original = root().join("tests/fixtures/images/photo-like-seed7-160x120.png");
    let rotated = dir.path().join("rotated.png");
    image::open(&original)
        .unwrap()
        .rotate90()
        .save(&rotated)
        .unwrap();
    let hashed = ok(run(
        vigil(dir.path())
            .args(["hash", "--algorithms", "pdq,md5"])
            .arg(&original),
        b"",
    ));
    let line = &json_lines(&hashed.stdout)[0];
    let (pdq, md5) = (line["pdq"].as_str().unwrap(), line["md5"].as_str().unwrap());
    let lists = [
        ("bank.txt", format!("pdq {pdq}\nphoto_md5 {md5}\n")),
        (
            "bank.csv",
            format!(
                "algorithm,hash,entry_id,category,source\npdq,{pdq},p-1,A,iwf\nmd5,{md5},m-1,A,iwf\n"
            ),
        ),
        (
            "bank.jsonl",
            format!(
                "{{\"algorithm\":\"pdq\",\"hash\":\"{pdq}\",\"entry_id\":\"p-1\",\"category\":\"A\",\"source\":\"iwf\"}}\n"
            ),
        ),
    ];
    for (name, text) in &lists {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let queries = ok(run(
        vigil(dir.path()).args(["hash", "--queries", "rotated.png"]),
        b"",
    ));
    for (name, _) in &lists {
        let output = ok(run(
            vigil(dir.path()).args(["match", "--list", name]),
            &queries.stdout,
        ));
        let line = &json_lines(&output.stdout)[0];
        let matches = line["matches"].as_array().unwrap();
        assert_eq!(matches.len(), 1, "{name}: {line}");
        let m = &matches[0];
        assert_eq!(m["algorithm"], "pdq", "{name}: {m}");
        assert!(
            m["variant"].as_str().unwrap().starts_with("rotate"),
            "{name}: {m}"
        );
        assert!(m["distance"].as_u64().unwrap() <= 8, "{name}: {m}");
        if *name != "bank.txt" {
            assert_eq!(m["metadata"]["source"], "iwf", "{name}: {m}");
        }
    }
    // The original file itself: its MD5 matches exactly, its PDQ at distance 0.
    let original_hashes = ok(run(vigil(dir.path()).args(["hash"]).arg(&original), b""));
    let output = ok(run(
        vigil(dir.path()).args(["match", "--list", "bank.txt"]),
        &original_hashes.stdout,
    ));
    let line = &json_lines(&output.stdout)[0];
    let mut found: Vec<(&str, u64)> = line["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["algorithm"].as_str().unwrap(),
                m["distance"].as_u64().unwrap(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(found, [("md5", 0), ("pdq", 0)]);
}

#[test]
fn bad_query_lines_are_reported_in_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bank.txt"),
        "md5 900150983cd24fb0d6963f7d28e17f72\n",
    )
    .unwrap();
    let input = "900150983cd24fb0d6963f7d28e17f72\nnot-hex\n{\"md5\":\"900150983cd24fb0d6963f7d28e17f72\"}\n";
    let output = run(
        vigil(dir.path()).args(["match", "--list", "bank.txt", "--algorithm", "md5"]),
        input.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output.stdout);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["matches"].as_array().unwrap().len(), 1);
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("not a md5 hash"),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2]["matches"][0]["entry_id"],
        "900150983cd24fb0d6963f7d28e17f72"
    );
}

/// An ed25519 key pair made by OpenSSL: `key.pem` (private) and `key.pub` in `dir`.
fn keypair(dir: &Path) {
    openssl(
        dir,
        &["genpkey", "-algorithm", "ed25519", "-out", "key.pem"],
    );
    openssl(
        dir,
        &["pkey", "-in", "key.pem", "-pubout", "-out", "key.pub"],
    );
}

#[test]
fn convert_keeps_every_entry_and_sign_verify_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let md5 = "900150983cd24fb0d6963f7d28e17f72";
    let pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
    std::fs::write(
        dir.path().join("bank.jsonl"),
        format!(
            "{{\"algorithm\":\"md5\",\"hash\":\"{md5}\",\"entry_id\":\"m\",\"category\":\"B\",\"severity\":\"high\",\"added_at\":\"2026-01-01\"}}\n\
             {{\"algorithm\":\"pdq\",\"hash\":\"{pdq}\",\"entry_id\":\"p\",\"category\":\"A\"}}\n"
        ),
    )
    .unwrap();
    ok(run(
        vigil(dir.path()).args(["lists", "convert", "bank.jsonl", "-o", "bank.csv"]),
        b"",
    ));
    let csv = std::fs::read_to_string(dir.path().join("bank.csv")).unwrap();
    assert_eq!(
        csv,
        format!(
            "algorithm,hash,entry_id,category,severity,added_at\npdq,{pdq},p,A,critical,\nmd5,{md5},m,B,high,2026-01-01\n"
        ),
        "entries grouped by algorithm (pdq, phash, dhash, ahash, md5, sha1, sha256), each in file order"
    );

    keypair(dir.path());
    let signed = ok(run(
        vigil(dir.path()).args([
            "lists", "sign", "--key", "key.pem", "--source", "own", "bank.csv",
        ]),
        b"",
    ));
    assert!(String::from_utf8_lossy(&signed.stdout).contains("version 1 (2 entries)"));
    let verify = |expect_ok: bool| {
        let output = run(
            vigil(dir.path()).args(["lists", "verify", "--key", "key.pub", "bank.csv"]),
            b"",
        );
        assert_eq!(
            output.status.success(),
            expect_ok,
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(verify(true).contains("ok      bank version 1: 2 entries"));
    std::fs::write(dir.path().join("bank.csv"), csv.replace(",B,", ",C,")).unwrap();
    assert!(verify(false).contains("refused: digest_mismatch"));
    ok(run(
        vigil(dir.path()).args(["lists", "sign", "--key", "key.pem", "bank.csv"]),
        b"",
    ));
    assert!(verify(true).contains("version 2"));
    let stats = ok(run(
        vigil(dir.path()).args(["lists", "stats", "bank.csv"]),
        b"",
    ));
    assert_eq!(
        String::from_utf8_lossy(&stats.stdout),
        "list\tversion\talgorithm\tcategory\tentries\tframes\tkept_frames\tmax_distance\tmin_quality\n\
         bank\t2\tmd5\tC\t1\t-\t-\t0\t-\nbank\t2\tpdq\tA\t1\t-\t-\t31\t50\n"
    );
}

#[test]
fn keyword_lists_and_rule_files_sign_and_verify_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kw.csv"),
        "rule_id,term,category\nk1,keep this a secret,grooming\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules.toml"),
        "[[regex]]\nid = \"phone\"\npattern = '\\d{10}'\ncategory = \"contact\"\n",
    )
    .unwrap();
    keypair(dir.path());
    for list in ["kw.csv", "rules.toml"] {
        let signed = ok(run(
            vigil(dir.path()).args(["lists", "sign", "--key", "key.pem", "--source", "own", list]),
            b"",
        ));
        assert!(
            String::from_utf8_lossy(&signed.stdout).contains("version 1 (1 entries)"),
            "{}",
            String::from_utf8_lossy(&signed.stdout)
        );
        let verified = ok(run(
            vigil(dir.path()).args(["lists", "verify", "--key", "key.pub", list]),
            b"",
        ));
        assert!(
            String::from_utf8_lossy(&verified.stdout).starts_with("ok "),
            "{}",
            String::from_utf8_lossy(&verified.stdout)
        );
    }
}

#[test]
fn url_lists_plain_and_hashed_sign_verify_and_count_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("iwf-urls.txt"),
        "# pages, a folder, a domain\nhttp://a.example.com/p1.html\nb.example.org/gallery/\nc.example.net\n",
    )
    .unwrap();
    let hashed = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"d.example.com/x/"));
    std::fs::write(
        dir.path().join("shared.csv"),
        format!("url_sha256,entry_id,category\n{hashed},s-1,B\n"),
    )
    .unwrap();
    keypair(dir.path());
    for (list, entries) in [("iwf-urls.txt", 3), ("shared.csv", 1)] {
        let signed = ok(run(
            vigil(dir.path()).args(["lists", "sign", "--key", "key.pem", "--source", "own", list]),
            b"",
        ));
        let text = String::from_utf8_lossy(&signed.stdout);
        assert!(
            text.contains(&format!("version 1 ({entries} entries)")),
            "{text}"
        );
        let verified = ok(run(
            vigil(dir.path()).args(["lists", "verify", "--key", "key.pub", list]),
            b"",
        ));
        assert!(String::from_utf8_lossy(&verified.stdout).starts_with("ok "));
    }
    // Converted, a plain list holds hashes only, and matches the same links.
    let converted = ok(run(
        vigil(dir.path()).args(["lists", "convert", "iwf-urls.txt"]),
        b"",
    ));
    let converted = String::from_utf8(converted.stdout).unwrap();
    assert!(
        converted.starts_with("url_sha256,entry_id,category,severity\n"),
        "{converted}"
    );
    assert!(!converted.contains("example"), "{converted}");
    std::fs::write(dir.path().join("hashed.csv"), &converted).unwrap();
    let matched = ok(run(
        vigil(dir.path()).args(["urls", "--list", "hashed.csv"]),
        b"http://www.c.example.net/x\n",
    ));
    let matched = json_lines(&matched.stdout);
    assert_eq!(
        matched[0]["urls"][0]["matches"][0]["expression"],
        "c.example.net/"
    );
    let stats = ok(run(
        vigil(dir.path()).args(["lists", "stats", "iwf-urls.txt", "shared.csv"]),
        b"",
    ));
    let stats = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.contains("\turl\tiwf-urls\t3\t"), "{stats}");
    assert!(stats.contains("\turl\tB\t1\t"), "{stats}");
    // A changed entry no longer matches its signed manifest.
    std::fs::write(
        dir.path().join("iwf-urls.txt"),
        "http://a.example.com/p1.html\nb.example.org/gallery/\nother.example\n",
    )
    .unwrap();
    let refused = run(
        vigil(dir.path()).args(["lists", "verify", "--key", "key.pub", "iwf-urls.txt"]),
        b"",
    );
    assert!(!refused.status.success());
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(
        text.contains("REFUSED") && !text.contains("other.example"),
        "{text}"
    );
}

#[test]
fn match_reads_lists_with_their_configured_format() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hashes.lst"),
        "900150983cd24fb0d6963f7d28e17f72\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[lists]\nhash_lists = [{ path = \"hashes.lst\", format = \"bare\", algorithm = \"md5\", category = \"own\" }]\n",
    )
    .unwrap();
    let output = ok(run(
        vigil(dir.path()).args(["match", "--config", "vigil.toml", "--algorithm", "md5"]),
        b"900150983cd24fb0d6963f7d28e17f72\n",
    ));
    let line: Value = json_lines(&output.stdout).remove(0);
    assert_eq!(line["matches"][0]["category"], "own");
    assert_eq!(line["matches"][0]["list"], "hashes");
    let output = ok(run(
        vigil(dir.path()).args([
            "match",
            "--list",
            "hashes.lst",
            "--list-format",
            "bare",
            "--list-algorithm",
            "md5",
            "--list-category",
            "cli",
            "--algorithm",
            "md5",
        ]),
        b"900150983cd24fb0d6963f7d28e17f72\n",
    ));
    let line: Value = json_lines(&output.stdout).remove(0);
    assert_eq!(line["matches"][0]["category"], "cli");
}

#[test]
fn vigil_urls_shows_each_link_its_canonical_form_expressions_and_matches() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("urls.txt"), "bad.example.com/gallery/\n").unwrap();
    let output = ok(run(
        vigil(dir.path()).args(["urls", "--list", "urls.txt"]),
        "see hxxps://bad.example[.]com/gallery/x.jpg\nnothing here, e.g. file.txt\n".as_bytes(),
    ));
    let lines = json_lines(&output.stdout);
    assert_eq!(lines.len(), 2);
    let url = &lines[0]["urls"][0];
    assert_eq!(
        (
            url["start"].as_u64(),
            url["end"].as_u64(),
            url["written"].as_str()
        ),
        (
            Some(4),
            Some(43),
            Some("hxxps://bad.example[.]com/gallery/x.jpg")
        )
    );
    assert_eq!(url["canonical"], "https://bad.example.com/gallery/x.jpg");
    assert_eq!(url["disguised"], true);
    assert_eq!(url["expressions"].as_array().unwrap().len(), 6);
    assert_eq!(url["matches"][0]["expression"], "bad.example.com/gallery/");
    assert_eq!(lines[1]["urls"], serde_json::json!([]));
}
