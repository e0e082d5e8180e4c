//! Hot reload: a new list version replaces the old one atomically while scans run on other
//! threads (every scan sees exactly one whole version), and a refused update — tampered,
//! rolled back, another list in its place, malformed — leaves the version in force untouched;
//! with a ledger, a restart refuses rollbacks and replaced lists too.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use time::OffsetDateTime;
use vigil_core::{MatchSubject, Source};
use vigil_lists::{Manifest, Refusal, default_manifest_path, sha256_hex};
use vigil_scan::config::ScanConfig;
use vigil_scan::{ListChange, Reloader};

/// The attachment every scan sends; its MD5 is what each list version lists.
const VIDEO: &[u8] = b"bytes of a listed video";

fn md5_hex(bytes: &[u8]) -> String {
    vigil_hash::ExactAlgorithm::Md5.digest(bytes).to_hex()
}

/// Writes version `version` of the list `bank` (entry id `e-<version>`) and its manifest; the
/// manifest is written last, as a publisher would, and `created_at` is now.
fn publish(path: &Path, version: u64, manifest_sha: Option<&str>) {
    publish_as(path, "bank", version, manifest_sha);
}

/// [`publish`] under the list name `name`.
fn publish_as(path: &Path, name: &str, version: u64, manifest_sha: Option<&str>) {
    let data = format!(
        "algorithm,hash,entry_id,category\nmd5,{},e-{version},A\nsha256,{},pad-{version},B\n",
        md5_hex(VIDEO),
        sha256_hex(format!("padding {version}").as_bytes()),
    );
    std::fs::write(path, &data).unwrap();
    let manifest = Manifest {
        name: name.into(),
        source: "test".into(),
        version,
        created_at: OffsetDateTime::now_utc(),
        entries: 2,
        sha256: manifest_sha.map_or_else(|| sha256_hex(data.as_bytes()), str::to_string),
        thresholds: None,
    };
    std::fs::write(default_manifest_path(path), manifest.to_bytes()).unwrap();
}

fn record() -> Vec<u8> {
    let data = base64::engine::general_purpose::STANDARD.encode(VIDEO);
    format!(
        r#"{{"message_id":"m-1","conversation_id":"c-1","sender_id":"u-1","recipient_ids":["u-2"],"sent_at":"2026-11-26T07:00:00Z","attachments":[{{"attachment_id":"a1","media_type":"video/mp4","data":"{data}"}}]}}"#
    )
    .into_bytes()
}

fn config(list: PathBuf) -> ScanConfig {
    let mut config = ScanConfig::default();
    config.lists.hash_lists.push(list.into());
    config
}

/// (list version, entry id) of the single match a scan reports.
fn matched(reloader_shared: &vigil_scan::SharedPipeline, record: &[u8]) -> (String, String) {
    let pipeline = reloader_shared.current();
    let source = Source::File {
        file: "test".into(),
        line: 1,
    };
    let outcome = pipeline.process(record, source, OffsetDateTime::now_utc());
    let flag = outcome.flag.expect("the listed attachment always matches");
    assert_eq!(flag.matches.len(), 1, "{flag:?}");
    let m = &flag.matches[0];
    let MatchSubject::Attachment { entry_id, .. } = &m.subject else {
        panic!("{m:?}");
    };
    (m.list_version.clone(), entry_id.clone())
}

#[test]
fn scans_see_one_whole_version_while_lists_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("bank.csv");
    publish(&list, 1, None);
    let mut reloader = Reloader::start(config(list.clone()), 0).unwrap();
    let shared = reloader.shared();
    assert_eq!(matched(&shared, &record()), ("1".into(), "e-1".into()));

    let stop = Arc::new(AtomicBool::new(false));
    let scans = Arc::new(AtomicUsize::new(0));
    let scanners: Vec<_> = (0..2)
        .map(|_| {
            let (shared, stop, scans) = (shared.clone(), stop.clone(), scans.clone());
            std::thread::spawn(move || {
                let record = record();
                let mut last = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (version, entry) = matched(&shared, &record);
                    assert_eq!(entry, format!("e-{version}"), "a scan mixed two versions");
                    let version: u64 = version.parse().unwrap();
                    assert!(
                        version >= last,
                        "a scan went back to version {version} after {last}"
                    );
                    last = version;
                    scans.fetch_add(1, Ordering::Relaxed);
                }
                last
            })
        })
        .collect();
    for version in 2..=20 {
        // A distinct modification time even on coarse-grained file systems.
        std::thread::sleep(Duration::from_millis(10));
        publish(&list, version, None);
        let report = reloader.reload(OffsetDateTime::now_utc());
        assert!(report.swapped, "version {version}: {report:?}");
    }
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    for scanner in scanners {
        assert_eq!(scanner.join().unwrap(), 20);
    }
    assert!(scans.load(Ordering::Relaxed) > 20);
    let report = reloader.reload(OffsetDateTime::now_utc());
    assert!(
        report.changes.is_empty() && !report.swapped,
        "no change, no reload"
    );
}

#[test]
fn refused_updates_keep_the_version_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("bank.csv");
    publish(&list, 5, None);
    let mut reloader = Reloader::start(config(list.clone()), 0).unwrap();
    let shared = reloader.shared();

    type Spoil<'a> = Box<dyn Fn() + 'a>;
    let cases: [(&str, Spoil, Option<Refusal>); 5] = [
        (
            "rollback",
            Box::new(|| publish(&list, 4, None)),
            Some(Refusal::Rollback),
        ),
        (
            "another list in its place",
            Box::new(|| publish_as(&list, "other", 9, None)),
            Some(Refusal::NameChanged),
        ),
        (
            "tampered",
            Box::new(|| publish(&list, 6, Some(&"0".repeat(64)))),
            Some(Refusal::DigestMismatch),
        ),
        (
            "malformed line",
            Box::new(|| {
                publish(&list, 7, None);
                let mut text = std::fs::read_to_string(&list).unwrap();
                text.push_str("md5,nothex,x,A\n");
                std::fs::write(&list, text).unwrap();
            }),
            None,
        ),
        (
            "deleted",
            Box::new(|| std::fs::remove_file(&list).unwrap()),
            None,
        ),
    ];
    for (what, spoil, reason) in cases {
        std::thread::sleep(Duration::from_millis(10));
        spoil();
        let report = reloader.reload(OffsetDateTime::now_utc());
        assert!(!report.swapped, "{what}");
        match report.changes.as_slice() {
            [ListChange::Refused { kept, error }] => {
                assert_eq!(kept.version, "5", "{what}");
                if let Some(reason) = reason {
                    assert!(
                        matches!(error, vigil_lists::ListError::Refused { reason: r, .. } if *r == reason),
                        "{what}: {error}"
                    );
                }
                assert!(
                    error.to_string().contains("bank"),
                    "{what}: the error names the list: {error}"
                );
            }
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(
            matched(&shared, &record()),
            ("5".into(), "e-5".into()),
            "{what}"
        );
        let again = reloader.reload(OffsetDateTime::now_utc());
        assert!(
            again.changes.is_empty(),
            "{what}: a refused file is not re-read until it changes"
        );
    }
    publish(&list, 8, None);
    assert!(reloader.reload(OffsetDateTime::now_utc()).swapped);
    assert_eq!(matched(&shared, &record()), ("8".into(), "e-8".into()));
}

#[test]
fn with_a_ledger_file_a_restart_cannot_roll_a_list_back() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("bank.csv");
    let mut config = config(list.clone());
    config.lists.ledger_file = Some(dir.path().join("ledger.json"));
    publish(&list, 5, None);
    drop(Reloader::start(config.clone(), 0).unwrap());
    publish(&list, 4, None);
    match Reloader::start(config.clone(), 0) {
        Err(vigil_scan::BuildError::List(vigil_lists::ListError::Refused { reason, .. })) => {
            assert_eq!(reason, Refusal::Rollback)
        }
        other => panic!("expected a rollback refusal, got {other:?}"),
    }
    let mut without_ledger = config.clone();
    without_ledger.lists.ledger_file = None;
    assert!(
        Reloader::start(without_ledger, 0).is_ok(),
        "without a ledger only the running process remembers versions"
    );
    publish(&list, 6, None);
    let reloader = Reloader::start(config.clone(), 0).unwrap();
    assert_eq!(
        matched(&reloader.shared(), &record()),
        ("6".into(), "e-6".into())
    );
    drop(reloader);

    // Another signed list put in the file's place is refused at the restart too, unless the
    // configuration names it.
    publish_as(&list, "other", 7, None);
    match Reloader::start(config.clone(), 0) {
        Err(vigil_scan::BuildError::List(vigil_lists::ListError::Refused { reason, .. })) => {
            assert_eq!(reason, Refusal::NameChanged)
        }
        other => panic!("expected a name_changed refusal, got {other:?}"),
    }
    let mut renamed = config;
    renamed.lists.hash_lists[0].name = Some("other".into());
    let reloader = Reloader::start(renamed, 0).unwrap();
    assert_eq!(
        matched(&reloader.shared(), &record()),
        ("7".into(), "e-7".into())
    );
}
