//! A fresh PostgreSQL database per test, on the server of `deploy/local/postgres`.
#![allow(unreachable_pub)] // shared by test binaries

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use sqlx::Connection;
use vigil_core::config::Secret;

/// The server's URL: `$VIGIL_TEST_DATABASE_URL` if set (the test script sets it), else what
/// `deploy/local/postgres start` prints (it is idempotent).
pub fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("VIGIL_TEST_DATABASE_URL") {
            return url;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/local/postgres");
        let output = Command::new(&script)
            .arg("start")
            .output()
            .expect("deploy/local/postgres runs");
        assert!(
            output.status.success(),
            "deploy/local/postgres start failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .expect("the script prints the URL")
            .trim()
            .to_string()
    })
}

/// Creates an empty database of its own for one test; returns its URL.
pub async fn fresh_database(name: &str) -> Secret {
    let base = server_url();
    let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
    let db = format!(
        "{name}_{}",
        crate::kafka_support::unique("t").replace('-', "_")
    );
    sqlx::query(&format!("CREATE DATABASE \"{db}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    Secret::new(format!("{prefix}/{db}"))
}
