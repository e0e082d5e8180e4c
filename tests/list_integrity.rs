//! List manifests and signatures: keys and signatures made by OpenSSL (the reference
//! ed25519 implementation here) are accepted, vigil's signatures verify with OpenSSL, and
//! every integrity failure — tampered or truncated data, wrong key, missing signature,
//! rollback, reused version, another list in its place, stale list, wrong entry count, wrong
//! name — is refused with its reason code and the list's name. `vigil run` refuses unsigned
//! lists unless the configuration allows them; `vigil scan` reads them.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use vigil_index::HashList;
use vigil_lists::ListSource;
use vigil_lists::{
    Integrity, ListError, Manifest, Refusal, TrustedKey, default_manifest_path, sha256_hex,
    sign_manifest, signature_path,
};

const PDQ: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
const MD5: &str = "900150983cd24fb0d6963f7d28e17f72";

fn openssl(args: &[&str]) {
    let output = Command::new("openssl").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An ed25519 key pair made by OpenSSL: (private PEM, public PEM).
fn keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    openssl(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        private.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (private, public)
}

struct Bank {
    source: ListSource,
    manifest_path: PathBuf,
}

impl Bank {
    /// Writes the data file and a manifest describing it (version, age, entry count).
    fn write(dir: &Path, data: &str, version: u64, age: Duration, entries: u64) -> Bank {
        let path = dir.join("iwf.csv");
        std::fs::write(&path, data).unwrap();
        let manifest = Manifest {
            name: "iwf".into(),
            source: "IWF".into(),
            version,
            created_at: OffsetDateTime::now_utc() - age,
            entries,
            sha256: sha256_hex(data.as_bytes()),
            thresholds: None,
        };
        let manifest_path = default_manifest_path(&path);
        std::fs::write(&manifest_path, manifest.to_bytes()).unwrap();
        Bank {
            source: ListSource::from(path),
            manifest_path,
        }
    }

    fn sign_with_openssl(&self, key: &Path) {
        openssl(&[
            "pkeyutl",
            "-sign",
            "-rawin",
            "-inkey",
            key.to_str().unwrap(),
            "-in",
            self.manifest_path.to_str().unwrap(),
            "-out",
            signature_path(&self.manifest_path).to_str().unwrap(),
        ]);
    }

    fn sign_with_vigil(&self, key: &Path) {
        let manifest = std::fs::read(&self.manifest_path).unwrap();
        let signature = sign_manifest(key, &manifest).unwrap();
        std::fs::write(signature_path(&self.manifest_path), signature).unwrap();
    }

    fn load(&self, integrity: &Integrity) -> Result<HashList, ListError> {
        HashList::read(&self.source, integrity, false, OffsetDateTime::now_utc())
    }
}

fn data(entries: usize) -> String {
    let mut text = String::from("algorithm,hash,entry_id,category\n");
    text.push_str(&format!("pdq,{PDQ},p-1,A\n"));
    for i in 1..entries {
        text.push_str(&format!("md5,{MD5},m-{i},B\n"));
    }
    text
}

fn trusting(keys: &[&Path]) -> Integrity {
    Integrity {
        keys: keys.iter().map(|k| TrustedKey::load(k).unwrap()).collect(),
        max_age: Some(Duration::from_secs(86_400)),
    }
}

fn refusal(result: Result<HashList, ListError>) -> (Refusal, String) {
    match result {
        Err(ListError::Refused {
            list,
            reason,
            detail,
            ..
        }) => {
            assert_eq!(list, "iwf", "the error names the list");
            (reason, detail)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn lists_signed_with_openssl_load_and_vigil_signatures_verify_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keypair(dir.path(), "iwf-signing");
    let bank = Bank::write(dir.path(), &data(3), 7, Duration::from_secs(60), 3);
    bank.sign_with_openssl(&private);
    let list = bank.load(&trusting(&[&public])).unwrap();
    assert_eq!(list.info.name, "iwf");
    assert_eq!(list.info.version, "7");
    let provenance = list.info.provenance.as_ref().unwrap();
    assert_eq!(provenance.source, "IWF");
    assert_eq!(provenance.signed_by.as_deref(), Some("iwf-signing"));

    bank.sign_with_vigil(&private);
    let text = std::fs::read_to_string(signature_path(&bank.manifest_path)).unwrap();
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap();
    let raw_path = dir.path().join("sig.bin");
    std::fs::write(&raw_path, raw).unwrap();
    openssl(&[
        "pkeyutl",
        "-verify",
        "-rawin",
        "-pubin",
        "-inkey",
        public.to_str().unwrap(),
        "-in",
        bank.manifest_path.to_str().unwrap(),
        "-sigfile",
        raw_path.to_str().unwrap(),
    ]);
    assert!(bank.load(&trusting(&[&public])).is_ok());
}

#[test]
fn every_integrity_failure_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keypair(dir.path(), "iwf");
    let (other_private, other_public) = keypair(dir.path(), "other");
    let integrity = trusting(&[&public]);
    let day = Duration::from_secs(86_400);
    let minute = Duration::from_secs(60);

    // Each case writes a bank (manifest age and entry count), signs it, then spoils it; the
    // load must be refused for `reason`.
    type Spoil = Box<dyn Fn(&mut Bank)>;
    let untrusted = other_private.clone();
    let cases: Vec<(&str, Refusal, Duration, u64, Spoil)> = vec![
        (
            "tampered data",
            Refusal::DigestMismatch,
            minute,
            3,
            Box::new(|b| {
                std::fs::write(&b.source.path, data(3).replace("p-1", "p-2")).unwrap();
            }),
        ),
        (
            "truncated data",
            Refusal::DigestMismatch,
            minute,
            3,
            Box::new(|b| {
                let full = data(3);
                std::fs::write(&b.source.path, &full[..full.len() - 10]).unwrap();
            }),
        ),
        (
            "signed by an untrusted key",
            Refusal::BadSignature,
            minute,
            3,
            Box::new(move |b| b.sign_with_openssl(&untrusted)),
        ),
        (
            "manifest edited after signing",
            Refusal::BadSignature,
            minute,
            3,
            Box::new(|b| {
                let text = std::fs::read_to_string(&b.manifest_path).unwrap();
                std::fs::write(
                    &b.manifest_path,
                    text.replace("\"version\": 1", "\"version\": 9"),
                )
                .unwrap();
            }),
        ),
        (
            "no signature",
            Refusal::Unsigned,
            minute,
            3,
            Box::new(|b| {
                std::fs::remove_file(signature_path(&b.manifest_path)).unwrap();
            }),
        ),
        (
            "no manifest",
            Refusal::NoManifest,
            minute,
            3,
            Box::new(|b| {
                std::fs::remove_file(&b.manifest_path).unwrap();
            }),
        ),
        ("stale", Refusal::Stale, day * 2, 3, Box::new(|_| {})),
        (
            "wrong entry count",
            Refusal::EntryCount,
            minute,
            4,
            Box::new(|_| {}),
        ),
        (
            "configured under another name",
            Refusal::NameMismatch,
            minute,
            3,
            Box::new(|b| {
                b.source.name = Some("ncmec".into());
            }),
        ),
    ];
    for (what, reason, age, entries, spoil) in cases {
        let case_dir = tempfile::tempdir_in(dir.path()).unwrap();
        let mut bank = Bank::write(case_dir.path(), &data(3), 1, age, entries);
        bank.sign_with_openssl(&private);
        spoil(&mut bank);
        match bank.load(&integrity) {
            Err(ListError::Refused {
                list,
                reason: got,
                detail,
                ..
            }) => {
                assert_eq!(got, reason, "{what}: {detail}");
                let expected = bank.source.name.as_deref().unwrap_or("iwf");
                assert_eq!(list, expected, "{what}: the error names the list");
            }
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
    assert!(TrustedKey::load(&other_public).is_ok());
}

#[test]
fn versions_only_move_forward() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keypair(dir.path(), "iwf");
    let integrity = trusting(&[&public]);
    let minute = Duration::from_secs(60);
    let load = |version: u64, entries: usize| {
        let bank = Bank::write(dir.path(), &data(entries), version, minute, entries as u64);
        bank.sign_with_openssl(&private);
        bank.load(&integrity).unwrap()
    };
    let v2 = load(2, 3);
    let v1 = load(1, 3);
    let (reason, detail) = refusal(v1.info.check_successor(&v2.info).map(|()| v1.clone()));
    assert_eq!(reason, Refusal::Rollback, "{detail}");
    assert!(
        detail.contains("version 1 is lower than version 2"),
        "{detail}"
    );
    let v2_other = load(2, 4);
    let (reason, _) = refusal(
        v2_other
            .info
            .check_successor(&v2.info)
            .map(|()| v2_other.clone()),
    );
    assert_eq!(reason, Refusal::VersionReused);
    let v3 = load(3, 2);
    assert!(v3.info.check_successor(&v2.info).is_ok());
    // A newer signed version of another list does not replace this one.
    let mut other = v3.clone();
    other.info.name = "ncmec".into();
    let (reason, detail) = refusal(other.info.check_successor(&v2.info).map(|()| other.clone()));
    assert_eq!(reason, Refusal::NameChanged);
    assert!(detail.contains("`ncmec`"), "{detail}");
    assert!(
        v2.info.check_successor(&v2.info).is_ok(),
        "the same version again is no change"
    );
}

#[test]
fn vigil_run_refuses_unsigned_lists_unless_the_configuration_allows_them() {
    let dir = tempfile::tempdir().unwrap();
    common::unsigned_keyword_list(dir.path());
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = |extra: &str| {
        let path = dir.path().join("vigil.toml");
        std::fs::write(
            &path,
            format!(
                "[lists]\nkeyword_lists = [\"kw.csv\"]\n{extra}\n\
                 [kafka]\nbrokers = \"127.0.0.1:1\"\n[admin]\nlisten = \"{admin}\"\n"
            ),
        )
        .unwrap();
        path
    };

    let path = config("");
    let mut child = common::vigil(dir.path())
        .args(["run", "--config", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("vigil run started with unsigned lists");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`lists.trusted_keys`"), "{stderr}");
    assert!(stderr.contains("`lists.allow_unsigned = true`"), "{stderr}");
    assert!(
        std::net::TcpStream::connect(admin).is_err(),
        "refused before serving anything"
    );

    // `vigil scan` reads the operator's own files, unsigned.
    let scan = common::run(
        common::vigil(dir.path()).args(["scan", "--config", path.to_str().unwrap(), "-"]),
        b"",
    );
    assert!(
        scan.status.success(),
        "{}",
        String::from_utf8_lossy(&scan.stderr)
    );

    // Allowed explicitly, `vigil run` loads the list and serves its admin endpoint (the
    // broker it cannot reach is another matter).
    let path = config("allow_unsigned = true");
    let mut child = common::vigil(dir.path())
        .args(["run", "--config", path.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(admin).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            panic!("vigil run exited ({status}): {stderr}");
        }
        assert!(Instant::now() < deadline, "no admin endpoint");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
