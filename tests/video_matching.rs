//! `vigil match --algorithm vpdq` and `vigil lists` with listed videos: clips of listed
//! videos, as `vigil hash` prints them, find their videos in HMA, CSV and JSON-lines lists,
//! with each list's thresholds and the matched segments; a signed video list verifies; stats
//! count frames; convert keeps the videos.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;

use std::path::Path;
use std::process::Output;

use common::{json_lines, openssl, run, vigil};
use serde_json::{Value, json};

/// A deterministic 256-bit hash (splitmix64) as hex.
fn random_hash(seed: &mut u64) -> String {
    (0..4)
        .map(|_| {
            *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = *seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            format!("{:016x}", z ^ (z >> 31))
        })
        .collect()
}

/// `hex` with its first hex digit's low `bits` bits flipped (1 to 4 bits away).
fn nudge(hex: &str, bits: u32) -> String {
    let first = u8::from_str_radix(&hex[..1], 16).unwrap() ^ ((1u8 << bits) - 1);
    format!("{first:x}{}", &hex[1..])
}

/// Ten frames one second apart, quality 100, in compact form.
fn video(seed: &mut u64) -> Vec<String> {
    (0..10)
        .map(|t| format!("{},100,{t}.000", random_hash(seed)))
        .collect()
}

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// (entry id, query %, compared %, segments as (start, end, listed start, listed end)) of
/// each match of an output line.
fn matches(line: &Value) -> Vec<(String, f64, f64, Vec<[f64; 4]>)> {
    line["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let segments = m["segments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    ["start_s", "end_s", "listed_start_s", "listed_end_s"]
                        .map(|k| s[k].as_f64().unwrap())
                })
                .collect();
            (
                m["entry_id"].as_str().unwrap().to_string(),
                m["query_match_percent"].as_f64().unwrap(),
                m["compared_match_percent"].as_f64().unwrap(),
                segments,
            )
        })
        .collect()
}

fn write_lists(dir: &Path, videos: &[Vec<String>]) {
    let pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
    // HMA, as python-threatexchange writes it (JSON with spaces), beside an image hash.
    let hma = format!(
        "pdq {pdq}\nvpdq {}\n",
        json!(videos[0]).to_string().replace(",\"", ", \"")
    );
    std::fs::write(dir.join("a.txt"), hma).unwrap();
    let cell = json!(videos[1]).to_string().replace('"', "\"\"");
    std::fs::write(
        dir.join("b.csv"),
        format!("algorithm,hash,entry_id,category\nvpdq,\"{cell}\",b-1,B\n"),
    )
    .unwrap();
    let line = json!({"algorithm": "vpdq", "hash": videos[2], "entry_id": "c-1", "category": "C"});
    std::fs::write(dir.join("c.jsonl"), format!("{line}\n")).unwrap();
}

#[test]
fn clips_of_listed_videos_match_in_every_list_format_with_each_lists_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 23;
    let videos: Vec<Vec<String>> = (0..3).map(|_| video(&mut seed)).collect();
    write_lists(dir.path(), &videos);
    // Frames 3–8 of video a, each a few bits off and at other times, as `vigil hash` prints.
    let clip: Vec<String> = videos[0][3..9]
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{},90,{}.500", nudge(&f[..64], 1 + i as u32 % 4), i + 20))
        .collect();
    let input = [
        json!({"path": "clip.mp4", "video": {"frames": 6}, "vpdq": clip}).to_string(),
        json!(videos[1]).to_string(),
        json!(videos[2][..5]).to_string(),
        json!({"path": "other.mp4", "vpdq": video(&mut seed)}).to_string(),
    ]
    .join("\n");
    let lists = ["--list", "a.txt", "--list", "b.csv", "--list", "c.jsonl"];
    let output = ok(run(
        vigil(dir.path())
            .args(["match", "--algorithm", "vpdq"])
            .args(lists),
        input.as_bytes(),
    ));
    let lines = json_lines(&output.stdout);
    assert_eq!(lines.len(), 4);
    // HMA lines carry no ids: a video's id is its identity, as `lists convert` shows it.
    let converted = ok(run(
        vigil(dir.path()).args(["lists", "convert", "a.txt"]),
        b"",
    ));
    let identity = csv::Reader::from_reader(converted.stdout.as_slice())
        .records()
        .map(Result::unwrap)
        .find(|row| &row[0] == "vpdq")
        .unwrap()[2]
        .to_string();
    assert_eq!(lines[0]["query"], "clip.mp4");
    assert_eq!(
        matches(&lines[0]),
        [(identity, 100.0, 60.0, vec![[20.5, 25.5, 3.0, 8.0]])]
    );
    let m = &lines[0]["matches"][0];
    assert_eq!(
        (m["list"].as_str(), m["category"].as_str()),
        (Some("a"), Some("a"))
    );
    assert!(m["best_distance"].as_u64().unwrap() >= 1);
    assert_eq!(lines[1]["query"], 2);
    assert_eq!(
        matches(&lines[1]),
        [("b-1".into(), 100.0, 100.0, vec![[0.0, 9.0, 0.0, 9.0]])]
    );
    assert_eq!(
        matches(&lines[2]),
        [("c-1".into(), 100.0, 50.0, vec![[0.0, 4.0, 0.0, 4.0]])]
    );
    assert_eq!(matches(&lines[3]), []);

    // The list's own threshold: half of c's frames is not enough for it.
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[lists]\nhash_lists = [{ path = \"c.jsonl\", vpdq_compared_match_percent = 60 }]\n\
         [match]\nvpdq_query_match_percent = 100\n",
    )
    .unwrap();
    let output = ok(run(
        vigil(dir.path()).args(["match", "--algorithm", "vpdq", "--config", "vigil.toml"]),
        input.as_bytes(),
    ));
    let lines = json_lines(&output.stdout);
    assert!(lines.iter().all(|l| matches(l).is_empty()), "{lines:?}");

    // A bad line is reported and fails the run; the others are still matched.
    let output = run(
        vigil(dir.path())
            .args(["match", "--algorithm", "vpdq"])
            .args(lists),
        format!(
            "{{\"vpdq\": [\"{}\"]}}\n{}\n",
            &videos[1][0][1..],
            json!(videos[1])
        )
        .as_bytes(),
    );
    assert!(!output.status.success());
    let lines = json_lines(&output.stdout);
    assert_eq!(lines[0]["query"], 1);
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("field vpdq: vPDQ feature 0"),
        "{}",
        lines[0]
    );
    assert_eq!(matches(&lines[1]).len(), 1);
}

#[test]
fn a_signed_video_list_verifies_counts_its_frames_and_converts_to_csv() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 5;
    let mut videos: Vec<Vec<String>> = (0..2).map(|_| video(&mut seed)).collect();
    // A repeated frame and two of low quality: 10 + 10 frames, 17 kept.
    videos[0][9] = videos[0][8].replace(",100,8.000", ",100,9.000");
    videos[1][0] = videos[1][0].replace(",100,", ",49,");
    videos[1][1] = videos[1][1].replace(",100,", ",10,");
    let hma: String = videos
        .iter()
        .map(|v| format!("vpdq {}\n", json!(v)))
        .collect();
    std::fs::write(dir.path().join("videos.txt"), hma).unwrap();
    openssl(
        dir.path(),
        &["genpkey", "-algorithm", "ed25519", "-out", "key.pem"],
    );
    openssl(
        dir.path(),
        &["pkey", "-in", "key.pem", "-pubout", "-out", "key.pub"],
    );
    let signed = ok(run(
        vigil(dir.path()).args([
            "lists",
            "sign",
            "--key",
            "key.pem",
            "--source",
            "own",
            "videos.txt",
        ]),
        b"",
    ));
    assert!(String::from_utf8_lossy(&signed.stdout).contains("version 1 (2 entries)"));
    let verify = ok(run(
        vigil(dir.path()).args(["lists", "verify", "--key", "key.pub", "videos.txt"]),
        b"",
    ));
    let verify = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.contains("ok      videos version 1: 2 entries"),
        "{verify}"
    );
    assert!(verify.contains("signed by"), "{verify}");
    let stats = ok(run(
        vigil(dir.path()).args(["lists", "stats", "videos.txt"]),
        b"",
    ));
    assert_eq!(
        String::from_utf8_lossy(&stats.stdout),
        "list\tversion\talgorithm\tcategory\tentries\tframes\tkept_frames\tmax_distance\tmin_quality\n\
         videos\t1\tvpdq\tvideos\t2\t20\t17\t31\t50\n"
    );
    ok(run(
        vigil(dir.path()).args(["lists", "convert", "videos.txt", "-o", "videos.csv"]),
        b"",
    ));
    // The CSV carries the same videos under the same ids.
    let input = format!("{}\n", json!(videos[1][2..]));
    let find = |list: &str| {
        let output = ok(run(
            vigil(dir.path()).args(["match", "--algorithm", "vpdq", "--list", list]),
            input.as_bytes(),
        ));
        json_lines(&output.stdout)[0]["matches"].clone()
    };
    let from_hma = find("videos.txt");
    assert_eq!(from_hma.as_array().unwrap().len(), 1);
    assert_eq!(from_hma[0]["compared_match_percent"], 100.0);
    let from_csv = find("videos.csv");
    assert_eq!(from_csv[0]["entry_id"], from_hma[0]["entry_id"]);
    assert_eq!(from_csv[0]["list"], "videos");
}
