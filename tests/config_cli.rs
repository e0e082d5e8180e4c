//! `vigil config check` and the configuration behaviour of `vigil scan`: valid files pass,
//! every bad key, list line or usage error is named and gives a non-zero exit.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;

use std::path::Path;

use common::{root, run, vigil};

fn check(dir: &Path, config: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let path = dir.join("vigil.toml");
    std::fs::write(&path, config).unwrap();
    let mut command = vigil(dir);
    command.args(["config", "check", path.to_str().unwrap()]);
    for (k, v) in env {
        command.env(k, v);
    }
    let output = run(&mut command, b"");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_example_config_checks_out() {
    let output = run(
        vigil(&root()).args(["config", "check", "examples/vigil.toml"]),
        b"",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("config ok: examples/vigil.toml"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hash list     sample-hashes version sha256:"),
        "{stdout}"
    );
    assert!(stdout.contains("(7 entries)"), "{stdout}");
    assert!(stdout.contains("keyword list  sample-keywords"), "{stdout}");
    assert!(stdout.contains("(9 entries)"), "{stdout}");
    assert!(
        stdout.contains("detectors     exact-hash, keyword"),
        "{stdout}"
    );
    assert!(!stdout.contains("would not start"), "{stdout}");
}

#[test]
fn a_config_vigil_run_would_refuse_for_unsigned_lists_checks_out_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    common::unsigned_keyword_list(dir.path());
    let (ok, stdout, stderr) = check(dir.path(), "[lists]\nkeyword_lists = [\"kw.csv\"]\n", &[]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("vigil run     would not start: config key `lists.trusted_keys` is empty"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = check(
        dir.path(),
        "[lists]\nkeyword_lists = [\"kw.csv\"]\nallow_unsigned = true\n",
        &[],
    );
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("would not start"), "{stdout}");
}

#[test]
fn bad_configs_fail_naming_the_key_file_or_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad-hashes.csv"),
        "algorithm,hash,entry_id,category\nmd5,00112233445566778899aabbccddeeff,e1,A\nsha256,abc,e2,A\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("bad-keywords.csv"), "rule_id,term\nk1,x\n").unwrap();
    type Env<'a> = &'a [(&'a str, &'a str)];
    let table: [(&str, Env, &str); 10] = [
        (
            "[kafka]\nbroker = \"a:1\"\n",
            &[],
            "key `kafka.broker`: unknown field",
        ),
        (
            "[match]\npdq_max_distance = 99\n",
            &[],
            "key `match.pdq_max_distance`",
        ),
        ("[kafka\n", &[], "is not valid TOML"),
        (
            "[lists]\nhash_lists = [\"missing.csv\"]\n",
            &[],
            "cannot read list",
        ),
        (
            "[lists]\nhash_lists = [\"bad-hashes.csv\"]\n",
            &[],
            "bad-hashes.csv, line 3: column hash",
        ),
        (
            "[lists]\nkeyword_lists = [\"bad-keywords.csv\"]\n",
            &[],
            "lacks column(s) category",
        ),
        (
            "[attachments]\nfile_roots = [\"no-such-dir\"]\n",
            &[],
            "attachments.file_roots",
        ),
        (
            "",
            &[("VIGIL_KAFKA__REVIEW_TOPIC", "dms")],
            "environment variable VIGIL_KAFKA__REVIEW_TOPIC: key `kafka.review_topic`",
        ),
        (
            "[review]\ndatabase_url = \"mysql://u:hunter2@db/vigil\"\n",
            &[],
            "key `review.database_url`: must be a postgres:// or postgresql:// URL",
        ),
        (
            "[review]\nauth = \"proxy\"\n",
            &[],
            "key `review.trusted_proxies`: proxy sign-in needs the proxy's addresses",
        ),
    ];
    for (config, env, needle) in table {
        let (ok, _, stderr) = check(dir.path(), config, env);
        assert!(!ok, "{config:?} passed");
        assert!(
            stderr.contains(needle),
            "{config:?}: want {needle:?} in {stderr}"
        );
        assert!(stderr.starts_with("vigil: error: "), "{stderr}");
        assert!(!stderr.contains("hunter2"), "a password in {stderr}");
    }
}

#[test]
fn env_overrides_show_in_the_checked_config() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = check(
        dir.path(),
        "[kafka]\nbrokers = \"a:1\"\n",
        &[
            ("VIGIL_KAFKA__BROKERS", "b:2,c:3"),
            ("VIGIL_MATCH__PDQ_MIN_QUALITY", "70"),
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("brokers=b:2,c:3"), "{stdout}");
    assert!(stdout.contains("pdq_min_quality=70"), "{stdout}");
    assert!(stdout.contains("no lists configured"), "{stdout}");
}

#[test]
fn usage_errors_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], i32, &str); 4] = [
        (&["scan", "--bogus"], 2, "unexpected argument"),
        (&["frobnicate"], 2, "unrecognized subcommand"),
        (
            &["scan", "no-such-input.jsonl"],
            1,
            "cannot open input no-such-input.jsonl",
        ),
        (
            &["scan", "--config", "nope.toml", "-"],
            1,
            "cannot read config file nope.toml",
        ),
    ];
    for (args, code, needle) in cases {
        let output = run(vigil(dir.path()).args(args), b"");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn without_a_config_scan_warns_that_nothing_can_match() {
    let dir = tempfile::tempdir().unwrap();
    let record = br#"{"message_id":"m","conversation_id":"c","sender_id":"s","recipient_ids":["r"],"sent_at":"2026-11-26T07:00:00Z","text":"keep this a secret"}"#;
    let output = run(vigil(dir.path()).args(["scan"]), record);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.contains("no lists configured"), "{stderr}");
    assert!(
        stderr.contains("records=1 scanned=1 flagged=0 errors=0"),
        "{stderr}"
    );
}

#[test]
fn help_explains_the_tool() {
    let output = run(vigil(&root()).args(["scan", "--help"]), b"");
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--hash-list",
        "--keywords",
        "--errors",
        "--config",
        "VIGIL_CONFIG",
        "never contain message content",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}
