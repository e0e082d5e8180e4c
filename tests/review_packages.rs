//! Evidence packages through the console, against real PostgreSQL: a lead downloads a case
//! as a signed tar archive; OpenSSL verifies the Ed25519 signature over its manifest and
//! `sha256sum -c` its files (both reference tools, independent of vigil), and
//! `vigil review verify-package` agrees; the manifest holds every file's digests, the
//! matches, decisions and holds, and the chain of custody from the access log; a changed
//! byte or another key fails verification; reviewers cannot export.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use std::path::Path;
use std::process::Command;

use review_support::{CASE_SENDER, Client, runtime};
use sha2::Digest as _;
use vigil_review::package::Manifest;

/// An Ed25519 key pair made by OpenSSL: (private key, public key) files in `dir`.
fn openssl_key(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let ok = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&private)
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl genpkey");
    let ok = Command::new("openssl")
        .arg("pkey")
        .arg("-in")
        .arg(&private)
        .args(["-pubout", "-out"])
        .arg(&public)
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl pkey -pubout");
    (private, public)
}

fn verify_package(dir: &Path, package: &Path, public: &Path) -> (bool, String) {
    let out = common::run(
        common::vigil(dir)
            .args(["review", "verify-package"])
            .arg(package)
            .arg("--public-key")
            .arg(public),
        b"",
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_case_exports_as_a_signed_package_that_openssl_and_sha256sum_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = openssl_key(dir.path(), "evidence");
    let (_, other_public) = openssl_key(dir.path(), "other");
    let (console, _) = review_support::quiet_console(
        &format!("evidence_signing_key_file = {private:?}\n"),
        &[("rita", "reviewer"), ("lena", "lead")],
    );
    let rt = runtime();
    let flags = rt.block_on(async {
        let url = vigil_core::config::Secret::new(console.database_url());
        let store = review_support::sealed_store(&url).await;
        let rita = store.find_reviewer("rita").await.unwrap().unwrap();
        let mut flags = Vec::new();
        for message in ["m-1", "m-2"] {
            let flag = review_support::image_flag(&store, message).await;
            review_support::confirm(&store, &rita, &flag.0).await;
            flags.push(flag);
        }
        // An undecided flag of the same account is not evidence yet.
        review_support::image_flag(&store, "m-3").await;
        flags
    });
    let url = format!("/case/package?sender={CASE_SENDER}");

    let mut rita = Client::new(console.addr);
    rita.login("rita");
    assert_eq!(rita.get(&url).status, 403);

    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let case = lena.get(&format!("/case?sender={CASE_SENDER}")).text();
    assert!(case.contains("id=\"package-link\""), "{case}");
    let response = lena.get(&url);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/x-tar"));
    let disposition = response.header("content-disposition").unwrap().to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"vigil-case-"),
        "{disposition}"
    );
    let package = dir.path().join("package.tar");
    std::fs::write(&package, &response.body).unwrap();

    // Unpacked with tar, checked with OpenSSL and sha256sum: no vigil code involved.
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let ok = Command::new("tar")
        .arg("-xf")
        .arg(&package)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar -xf");
    let top = std::fs::read_dir(&unpacked)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let openssl = |key: &Path| {
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
            .arg(key)
            .args([
                "-rawin",
                "-in",
                "manifest.json",
                "-sigfile",
                "manifest.json.sig",
            ])
            .current_dir(&top)
            .output()
            .unwrap()
    };
    let verified = openssl(&public);
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(
        !openssl(&other_public).status.success(),
        "another key verifies"
    );
    let sums = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&top)
        .output()
        .unwrap();
    assert!(
        sums.status.success(),
        "{}",
        String::from_utf8_lossy(&sums.stdout)
    );

    // What the manifest says.
    let manifest_bytes = std::fs::read(top.join("manifest.json")).unwrap();
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest.sender_id, CASE_SENDER);
    assert_eq!(manifest.created_by, "lead-2");
    let flag_ids: Vec<&str> = manifest.flags.iter().map(|f| f.flag_id.as_str()).collect();
    let confirmed: Vec<&str> = flags.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(flag_ids, confirmed, "only the confirmed flags");
    for (flag, (_, image)) in manifest.flags.iter().zip(&flags) {
        let file = manifest
            .files
            .iter()
            .find(|f| f.flag_id == flag.flag_id && f.kind == "image")
            .unwrap();
        assert_eq!(file.sha256, hex::encode(sha2::Sha256::digest(image)));
        assert_eq!(std::fs::read(top.join(&file.path)).unwrap(), *image);
        assert_eq!(
            file.original_name.as_deref(),
            Some(format!("IMG_{}.png", flag.message_id).as_str())
        );
        let text = manifest
            .files
            .iter()
            .find(|f| f.flag_id == flag.flag_id && f.kind == "message_text")
            .unwrap();
        assert_eq!(
            std::fs::read(top.join(&text.path)).unwrap(),
            b"look at this"
        );
        assert!(flag.matches.to_string().contains("entry-77"));
        assert_eq!(flag.decisions.len(), 1);
        assert_eq!(
            (
                flag.decisions[0].decision.as_str(),
                flag.decisions[0].reviewer.as_str()
            ),
            ("confirm", "reviewer-1")
        );
        assert_eq!(flag.holds.len(), 1, "the confirmation's hold");
        let custody: Vec<&str> = manifest
            .chain_of_custody
            .iter()
            .filter(|r| r.flag_id.as_deref() == Some(flag.flag_id.as_str()))
            .map(|r| r.action.as_str())
            .collect();
        assert_eq!(custody, ["decide", "hold_placed"], "{custody:?}");
    }
    assert!(
        manifest
            .chain_of_custody
            .iter()
            .any(|r| r.action == "view_case" && r.detail == format!("sender={CASE_SENDER}"))
    );
    assert!(
        manifest
            .chain_of_custody
            .iter()
            .all(|r| r.row_hash.is_some())
    );
    let head = manifest.access_log_head.as_ref().unwrap();
    assert!(head.id >= manifest.chain_of_custody.last().unwrap().id);

    // vigil's own check agrees, and the export is logged with the manifest's digest.
    let (ok, out) = verify_package(dir.path(), &package, &public);
    assert!(ok, "{out}");
    assert!(
        out.contains("package verified: account u-1, 2 flags, 4 files"),
        "{out}"
    );
    let logged = review_support::query_rows(
        &console,
        "SELECT detail FROM access_log WHERE action = 'export_package'",
    );
    let digest = hex::encode(sha2::Sha256::digest(&manifest_bytes));
    assert_eq!(
        logged,
        [format!(
            "sender={CASE_SENDER} manifest_sha256={digest} files=4"
        )]
    );

    // Another key, or one changed byte of an image, and it does not verify.
    let (ok, out) = verify_package(dir.path(), &package, &other_public);
    assert!(!ok && out.contains("does not match manifest.json"), "{out}");
    let image = &flags[0].1;
    let mut tampered = response.body.clone();
    let at = tampered
        .windows(image.len())
        .position(|w| w == image.as_slice())
        .unwrap();
    tampered[at] ^= 1;
    let tampered_path = dir.path().join("tampered.tar");
    std::fs::write(&tampered_path, &tampered).unwrap();
    let (ok, out) = verify_package(dir.path(), &tampered_path, &public);
    assert!(
        !ok && out.contains("its digest is not the manifest's"),
        "{out}"
    );
}

#[test]
fn without_a_signing_key_or_a_confirmed_flag_there_is_no_package() {
    let (console, _) = review_support::quiet_console("", &[("lena", "lead")]);
    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let r = lena.get(&format!("/case/package?sender={CASE_SENDER}"));
    assert_eq!(r.status, 404);
    assert!(r.text().contains("not configured"), "{}", r.text());

    let dir = tempfile::tempdir().unwrap();
    let (private, _) = openssl_key(dir.path(), "evidence");
    let (console, _) = review_support::quiet_console(
        &format!("evidence_signing_key_file = {private:?}\n"),
        &[("lena", "lead")],
    );
    runtime().block_on(async {
        let url = vigil_core::config::Secret::new(console.database_url());
        let store = review_support::sealed_store(&url).await;
        review_support::image_flag(&store, "m-1").await;
    });
    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let r = lena.get(&format!("/case/package?sender={CASE_SENDER}"));
    assert_eq!(r.status, 404);
    assert!(r.text().contains("no confirmed flag"), "{}", r.text());
}
