//! The review console's access log (real PostgreSQL): run with two database roles, the
//! console's role can add rows but never change, remove or unprotect them; and every row
//! carries a hash chained to the one before, so `vigil review verify-log` names the first row
//! that was changed, removed or slipped in, even by the tables' owner.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use review_support::{Client, Console, quiet_console, quiet_console_two_roles};
use sqlx::Connection;

/// Runs `sql` as the role of `url`; the SQLSTATE if the server refuses it.
fn exec_as(url: &str, sql: &str) -> Result<(), String> {
    let rt = review_support::runtime();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| {
                e.as_database_error()
                    .and_then(|d| d.code())
                    .map_or_else(|| e.to_string(), |c| c.into_owned())
            })
    })
}

/// `vigil review verify-log` on `console`'s store: (exit code, output).
fn verify_log(console: &Console) -> (i32, String) {
    let out = common::run(
        common::vigil(console.config.parent().unwrap()).args([
            "review",
            "verify-log",
            "--config",
            console.config.to_str().unwrap(),
        ]),
        b"",
    );
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn the_consoles_own_role_can_add_to_the_access_log_but_never_change_it() {
    let console = quiet_console_two_roles(&[("rita", "reviewer"), ("aldo", "auditor")]);
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    assert_eq!(rita.get("/queue").status, 200);
    let runtime = console.database_url();
    assert!(runtime.contains("vigil_console"), "{runtime}");
    // What the console's role may not do to the log: 42501 is insufficient privilege.
    for sql in [
        "ALTER TABLE access_log DISABLE TRIGGER ALL",
        "ALTER TABLE access_log DISABLE TRIGGER access_log_no_update",
        "DROP TRIGGER access_log_chain ON access_log",
        "UPDATE access_log SET actor = 'x'",
        "DELETE FROM access_log",
        "TRUNCATE access_log",
        "UPDATE access_log SET actor = 'x' WHERE false",
        // Nor mark the schema migrated behind the owner's back.
        "DELETE FROM _sqlx_migrations",
    ] {
        assert_eq!(exec_as(&runtime, sql), Err("42501".into()), "{sql}");
    }
    // What it must do: add rows (and read them back).
    exec_as(
        &runtime,
        "INSERT INTO access_log (actor, role, action) VALUES ('reviewer-1', 'reviewer', 'view_flag')",
    )
    .unwrap();
    let (code, out) = verify_log(&console);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("access log intact: 2 rows"), "{out}");
    let mut aldo = Client::new(console.addr);
    aldo.login("aldo");
    assert!(
        aldo.get("/audit/access-log.csv")
            .text()
            .contains("\"login\"")
    );

    // A console started as the log's owner in two-role mode refuses to run.
    let text = std::fs::read_to_string(&console.config).unwrap();
    let owner = console.owner_url();
    let free = |addr: std::net::SocketAddr| {
        let port = kafka_support::free_port();
        (addr.to_string(), format!("127.0.0.1:{port}"))
    };
    let (console_addr, other) = free(console.addr);
    let (metrics_addr, other_metrics) = free(console.metrics_addr);
    let as_owner = text
        .replace(&runtime, &format!("{owner}?application_name=console"))
        .replace(&console_addr, &other)
        .replace(&metrics_addr, &other_metrics);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, as_owner).unwrap();
    let out = common::run(
        common::vigil(dir.path()).args(["review", "serve", "--config", path.to_str().unwrap()]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("owns the access log"), "{err}");
}

#[test]
fn verify_log_names_the_first_row_that_was_changed_removed_or_slipped_in() {
    let (console, _) = quiet_console("", &[("rita", "reviewer")]);
    // Rows written by concurrent requests: refused sign-ins, all at once.
    let addr = console.addr;
    let handles: Vec<_> = (0..12)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                let csrf = review_support::csrf_of(&c.get("/login").text());
                let name = format!("nobody-{i}");
                let form = [
                    ("csrf", csrf.as_str()),
                    ("username", &name),
                    ("password", "x"),
                ];
                assert_eq!(c.post("/login", &form).status, 401);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let (code, out) = verify_log(&console);
    assert_eq!(code, 0, "{out}");
    let rows = review_support::query_i64(&console, "SELECT count(*) FROM access_log");
    assert!(rows >= 12, "{rows}");
    assert!(out.contains(&format!("intact: {rows} rows")), "{out}");
    let ids = review_support::query_rows(&console, "SELECT id FROM access_log ORDER BY id");
    let third = &ids[2];

    // The owner can get round the triggers; the chain still shows it.
    let owner = console.owner_url();
    let tamper = |sql: &str| {
        exec_as(
            &owner,
            &format!(
                "ALTER TABLE access_log DISABLE TRIGGER USER; {sql}; \
                 ALTER TABLE access_log ENABLE TRIGGER USER;"
            ),
        )
        .unwrap()
    };
    tamper(&format!(
        "UPDATE access_log SET remote_addr = '10.0.0.1' WHERE id = {third}"
    ));
    let (code, out) = verify_log(&console);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("BROKEN at row {third}: its contents changed")),
        "{out}"
    );
    tamper(&format!(
        "UPDATE access_log SET remote_addr = '127.0.0.1' WHERE id = {third}"
    ));
    assert_eq!(verify_log(&console).0, 0);
    tamper(&format!("DELETE FROM access_log WHERE id = {third}"));
    let (code, out) = verify_log(&console);
    assert_eq!(code, 1, "{out}");
    let after = &ids[3];
    assert!(
        out.contains(&format!("BROKEN at row {after}: it does not follow")),
        "{out}"
    );
    // A forged row with a hash of its own making does not fit either.
    tamper(&format!(
        "INSERT INTO access_log (id, actor, role, action, prev_hash, row_hash)
         VALUES ({third}, 'x', 'x', 'x', decode(repeat('00', 32), 'hex'), sha256('x'))"
    ));
    let (code, out) = verify_log(&console);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("BROKEN at row {third}")), "{out}");
}
