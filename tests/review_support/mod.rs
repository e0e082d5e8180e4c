//! Helpers for the review console tests: a fresh PostgreSQL database per test (on the server
//! of `deploy/local/postgres`), `vigil review serve` as a child process, and an HTTP client
//! with a cookie jar.
#![allow(dead_code, unreachable_pub)] // shared by test binaries that each use some of it

pub mod cybertip;

use std::sync::OnceLock;

use sqlx::Connection;
use vigil_core::config::Secret;

/// The server's URL: `$VIGIL_TEST_DATABASE_URL` if set (the test script sets it), else what
/// `deploy/local/postgres start` prints (it is idempotent).
pub fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("VIGIL_TEST_DATABASE_URL")
            .unwrap_or_else(|_| crate::kafka_support::start_local("postgres"))
    })
}

/// Moves every stored content row's `stored_at` 31 days back.
pub async fn age_content(store: &vigil_review::Store) {
    sqlx::raw_sql(
        "UPDATE flags SET stored_at = now() - interval '31 days';
         UPDATE flag_content SET stored_at = now() - interval '31 days';
         UPDATE flag_images SET stored_at = now() - interval '31 days';
         UPDATE flag_video_frames SET stored_at = now() - interval '31 days';
         UPDATE flag_keys SET stored_at = now() - interval '31 days';",
    )
    .execute(store.pool())
    .await
    .unwrap();
}

/// A migrated store at `url` sealing content with [`test_keyring`], as a console does.
pub async fn sealed_store(url: &Secret) -> vigil_review::Store {
    vigil_review::Store::open(url, std::time::Duration::from_secs(10))
        .await
        .unwrap()
        .with_keyring(test_keyring())
}

/// The test-only key-encryption keys (`review.content_key_file`) every console and store
/// of the tests seals content with.
pub fn content_key_file() -> std::path::PathBuf {
    crate::common::root().join("tests/fixtures/review/content-keys")
}

/// [`content_key_file`]'s keys, for a store a test opens itself.
pub fn test_keyring() -> vigil_review::sealing::Keyring {
    vigil_review::sealing::Keyring::load(&content_key_file()).unwrap()
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

/// A running `vigil review serve` (a child process) with its config file.
pub struct Console {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
    /// `/metrics` and `/healthz` (`review.metrics_listen`).
    pub metrics_addr: std::net::SocketAddr,
    pub config: std::path::PathBuf,
    pub log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// The runtime role `deploy/local/postgres` makes for the console (it owns nothing).
pub const CONSOLE_ROLE: (&str, &str) = ("vigil_console", "vigil_console");

/// `url` (a database of the test server, as its owner) as the console's runtime role.
pub fn as_console_role(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (_, host) = rest.split_once('@').unwrap();
    format!("{scheme}://{}:{}@{host}", CONSOLE_ROLE.0, CONSOLE_ROLE.1)
}

impl Console {
    /// Writes `config` plus `[review]` (its own database, free ports, plain-HTTP cookies
    /// unless `review_extra` sets `secure_cookies`, and `review_extra` lines), creates the
    /// accounts `(name, role)` (password `<name>-password!`), starts the console and waits
    /// until it answers. One database role owns the store and runs the console.
    pub fn start(config: &str, review_extra: &str, accounts: &[(&str, &str)]) -> Console {
        Console::start_with(config, review_extra, accounts, false)
    }

    /// As [`Console::start`], with two roles: the test server's role owns the store and
    /// migrates it (`vigil review migrate`, `review.owner_database_url`), and the console
    /// runs as [`CONSOLE_ROLE`].
    pub fn start_two_roles(config: &str, review_extra: &str, accounts: &[(&str, &str)]) -> Console {
        Console::start_with(config, review_extra, accounts, true)
    }

    fn start_with(
        config: &str,
        review_extra: &str,
        accounts: &[(&str, &str)],
        two_roles: bool,
    ) -> Console {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let owner = rt.block_on(fresh_database("console"));
        let (db, roles) = if two_roles {
            let runtime = as_console_role(owner.expose());
            let roles = format!("owner_database_url = {:?}\n", owner.expose());
            (Secret::new(runtime), roles)
        } else {
            (owner, "single_role = true\n".to_string())
        };
        let dir = tempfile::tempdir().unwrap();
        let port = crate::kafka_support::free_port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let metrics_addr: std::net::SocketAddr =
            format!("127.0.0.1:{}", crate::kafka_support::free_port())
                .parse()
                .unwrap();
        let path = dir.path().join("vigil.toml");
        // Plain-HTTP cookies unless the test is about the production ones.
        let cookies = if review_extra.contains("secure_cookies") {
            ""
        } else {
            "secure_cookies = false\n"
        };
        std::fs::write(
            &path,
            format!(
                "{config}\n[review]\nlisten = \"{addr}\"\nmetrics_listen = \"{metrics_addr}\"\ndatabase_url = {:?}\ncontent_key_file = {:?}\n{roles}{cookies}{review_extra}\n",
                db.expose(),
                content_key_file(),
            ),
        )
        .unwrap();
        if two_roles {
            let out = crate::common::run(
                crate::common::vigil(dir.path()).args([
                    "review",
                    "migrate",
                    "--config",
                    path.to_str().unwrap(),
                ]),
                b"",
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for (name, role) in accounts {
            let out = crate::common::run(
                crate::common::vigil(dir.path()).args([
                    "review",
                    "user",
                    "add",
                    name,
                    "--role",
                    role,
                    "--config",
                    path.to_str().unwrap(),
                ]),
                format!("{name}-password!\n").as_bytes(),
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let log = dir.path().join("console.log");
        let child = crate::common::vigil(dir.path())
            .args(["review", "serve", "--config", path.to_str().unwrap()])
            .env("VIGIL_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut console = Console {
            child,
            addr,
            metrics_addr,
            config: path,
            log,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while crate::kafka_support::http_get(metrics_addr, "/healthz").map(|r| r.0) != Some(200) {
            if let Ok(Some(status)) = console.child.try_wait() {
                panic!("the console exited ({status}):\n{}", console.logs());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "console not up:\n{}",
                console.logs()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        console
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The database URL from the config file.
    pub fn database_url(&self) -> String {
        self.url_of("database_url").unwrap()
    }

    /// The URL of the role that owns the store (with one role, the database URL).
    pub fn owner_url(&self) -> String {
        self.url_of("owner_database_url")
            .unwrap_or_else(|| self.database_url())
    }

    fn url_of(&self, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let line = text.lines().find(|l| l.starts_with(&format!("{key} =")))?;
        Some(line.split('"').nth(1).unwrap().to_string())
    }

    /// Ages all stored content (text, images, frames, data keys) past a 30-day retention and
    /// runs the purge as the store's owner: what a purge run a month later does.
    pub fn purge_a_month_later(&self) -> vigil_review::retention::Purged {
        runtime().block_on(async {
            let url = Secret::new(self.owner_url());
            let store = vigil_review::Store::open(&url, std::time::Duration::from_secs(10))
                .await
                .unwrap();
            age_content(&store).await;
            store
                .purge_content(std::time::Duration::from_secs(30 * 86_400))
                .await
                .unwrap()
        })
    }

    /// SIGTERM and wait; returns the logs.
    pub fn stop(mut self) -> String {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.logs()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A minimal HTTP/1.1 client with a cookie jar, enough to drive the console as a browser
/// would (forms, redirects by hand, cookies).
pub struct Client {
    pub addr: std::net::SocketAddr,
    pub cookies: std::collections::BTreeMap<String, String>,
    /// Sent with every request (e.g. a sign-in proxy's user header).
    pub headers: Vec<(String, String)>,
}

/// `application/x-www-form-urlencoded` value.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Client {
    pub fn new(addr: std::net::SocketAddr) -> Client {
        Client {
            addr,
            cookies: Default::default(),
            headers: Vec::new(),
        }
    }

    pub fn request(&mut self, method: &str, path: &str, form: Option<&str>) -> Response {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let cookies = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if !cookies.is_empty() {
            head.push_str(&format!("Cookie: {cookies}\r\n"));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let body = form.unwrap_or("");
        if form.is_some() {
            head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        for (k, v) in &headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                let pair = v.split(';').next().unwrap();
                let (name, value) = pair.split_once('=').unwrap();
                if value.is_empty() || v.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        Response {
            status,
            headers,
            body,
        }
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, None)
    }

    pub fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Response {
        self.request("POST", path, Some(&form_encode(pairs)))
    }

    /// Signs in as `name` (password `<name>-password!`); panics unless it works.
    pub fn login(&mut self, name: &str) {
        let page = self.get("/login");
        let csrf = csrf_of(&page.text());
        let password = format!("{name}-password!");
        let r = self.post(
            "/login",
            &[("csrf", &csrf), ("username", name), ("password", &password)],
        );
        assert_eq!(r.status, 303, "login {name}: {}", r.text());
    }

    /// The CSRF token of the current session (from any page with a form).
    pub fn csrf(&mut self, page: &str) -> String {
        csrf_of(&self.get(page).text())
    }
}

/// The first `csrf` hidden field of a page.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF field")
        + 19;
    html[at..].split('"').next().unwrap().to_string()
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 2 + size + 2..];
    }
}

/// Flags written by a real `vigil run` over 40 messages (every 7th with a listed phrase,
/// every 11th with a listed image), made once per test binary.
pub struct Flagged {
    pub topics: crate::kafka_support::Topics,
    pub config: String,
    pub flags: usize,
}

pub fn flagged() -> &'static Flagged {
    use crate::kafka_support::{Vigil, messages, produce, read_at_least, topics, unique};
    static FLAGGED: OnceLock<Flagged> = OnceLock::new();
    FLAGGED.get_or_init(|| {
        let t = topics("review", 2);
        let group = unique("review");
        let (records, expected) = messages(40, "rc");
        produce(&t.input, &records);
        let config = crate::kafka_support::config(&group, &t, "");
        let vigil = Vigil::start(&config);
        read_at_least(&t.flags, expected.len(), std::time::Duration::from_secs(90));
        vigil.terminate(std::time::Duration::from_secs(30));
        Flagged {
            topics: t,
            config,
            flags: expected.len(),
        }
    })
}

/// A console of its own (database, group, decisions topic) over the shared flags, with the
/// accounts `rita`, `remy` (reviewers), `lena` (lead) and `aldo` (auditor); waits until
/// every flag is stored. Returns it and its decisions topic.
pub fn console() -> (Console, String) {
    use crate::kafka_support::{create_topics, unique};
    let f = flagged();
    let decisions = unique("review-decisions");
    create_topics(&[&decisions], 1);
    let console = Console::start(
        &f.config,
        &format!(
            "group_id = \"{}\"\ntopics = [\"{}\"]\ndecisions_topic = \"{decisions}\"\n",
            unique("console"),
            f.topics.flags
        ),
        &[
            ("rita", "reviewer"),
            ("remy", "reviewer"),
            ("lena", "lead"),
            ("aldo", "auditor"),
        ],
    );
    wait_rows(&console, "SELECT count(*) FROM flags", f.flags as i64);
    (console, decisions)
}

/// A console of its own over an empty review topic of its own (no `vigil run`), with
/// `review_extra` lines and the accounts `(name, role)`. Returns it and the topic.
pub fn quiet_console(review_extra: &str, accounts: &[(&str, &str)]) -> (Console, String) {
    quiet_console_with(review_extra, accounts, false)
}

/// [`quiet_console`] with two database roles ([`Console::start_two_roles`]).
pub fn quiet_console_two_roles(accounts: &[(&str, &str)]) -> Console {
    quiet_console_with("", accounts, true).0
}

fn quiet_console_with(
    review_extra: &str,
    accounts: &[(&str, &str)],
    two_roles: bool,
) -> (Console, String) {
    use crate::kafka_support::{create_topics, unique};
    let input = unique("quiet");
    let queue = format!("{input}.flags");
    create_topics(&[&queue], 1);
    let config = format!(
        "{}{}",
        crate::kafka_support::lists_section(),
        crate::kafka_support::kafka_section(&unique("quiet"), &input, "")
    );
    let review = format!(
        "group_id = \"{}\"\ntopics = [\"{queue}\"]\n{review_extra}",
        unique("console")
    );
    let console = Console::start_with(&config, &review, accounts, two_roles);
    (console, queue)
}

/// Runs `query` on a connection to the console's database (as its runtime role).
fn on_console_db<T>(console: &Console, query: impl AsyncFnOnce(&mut sqlx::PgConnection) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(&console.database_url())
            .await
            .unwrap();
        query(&mut conn).await
    })
}

/// Rows of the console's database as text, one per row, columns joined by `|`.
pub fn query_rows(console: &Console, sql: &str) -> Vec<String> {
    let sql = format!(
        "SELECT (SELECT coalesce(string_agg(coalesce(j.value, ''), '|' ORDER BY j.n), '')
                 FROM json_each_text(row_to_json(query_row)) WITH ORDINALITY AS j(key, value, n))
         FROM ({sql}) query_row"
    );
    on_console_db(console, async |conn| {
        sqlx::query_scalar::<_, String>(&sql)
            .fetch_all(conn)
            .await
            .unwrap()
    })
}

/// One number from the console's database.
pub fn query_i64(console: &Console, sql: &str) -> i64 {
    on_console_db(console, async |conn| {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(conn)
            .await
            .unwrap()
    })
}

/// Text flags (file source, see [`text_flag`]) for `message_ids`, all on partition 0.
pub fn text_flags(message_ids: &[&str]) -> Vec<crate::kafka_support::Input> {
    message_ids
        .iter()
        .map(|id| crate::kafka_support::Input {
            key: id.to_string(),
            value: text_flag(id),
            partition: Some(0),
        })
        .collect()
}

/// Peak resident memory of a process, in bytes (Linux `VmHWM`).
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Waits until `sql` counts `n`.
pub fn wait_rows(console: &Console, sql: &str, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while query_i64(console, sql) != n {
        assert!(
            std::time::Instant::now() < deadline,
            "{sql} never reached {n}:\n{}",
            console.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A runtime for the tests' own database calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A configuration for in-process ingestion: the example lists, `[kafka]` for `input`, and
/// `[review]` reading `review_topics` into the database `db`.
pub fn review_config(
    group: &str,
    input: &str,
    review_topics: &[&str],
    db: &Secret,
) -> vigil_config::Config {
    let text = format!(
        "{}{}[review]\ndatabase_url = {:?}\ncontent_key_file = {:?}\ngroup_id = \"{group}-review\"\ntopics = {review_topics:?}\ncontent_fetch_timeout_ms = 5000\n",
        crate::kafka_support::lists_section(),
        crate::kafka_support::kafka_section(group, input, ""),
        db.expose(),
        content_key_file(),
    );
    vigil_config::Config::from_toml(&text, "test", &crate::common::root(), std::iter::empty())
        .unwrap()
}

/// One number from the store.
pub fn count(rt: &tokio::runtime::Runtime, store: &vigil_review::Store, sql: &str) -> i64 {
    rt.block_on(sqlx::query_scalar::<_, i64>(sql).fetch_one(store.pool()))
        .unwrap()
}

/// The JSON of a flag with a text match, from a file source (its content is not fetched).
pub fn text_flag(message_id: &str) -> Vec<u8> {
    let sent = time::OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
    use vigil_core::{DetectorKind, Flag, Match, MatchSubject, Severity, Source, Span};
    let m = Match {
        detector: DetectorKind::Keyword,
        list: "sample-keywords".into(),
        list_version: "1".into(),
        category: "grooming".into(),
        severity: Severity::High,
        subject: MatchSubject::Text {
            rule_id: "kw-1".into(),
            spans: vec![Span { start: 0, end: 4 }],
            expression: None,
            attachment_id: None,
        },
    };
    let flag = Flag::new(
        message_id.into(),
        "c-1".into(),
        "u-1".into(),
        sent,
        Source::File {
            file: "dms.jsonl".into(),
            line: 1,
        },
        vec![m],
        sent,
    );
    serde_json::to_vec(&flag).unwrap()
}

/// The flag of [`text_flag`]`(message_id)` with `text` and `images` as its stored content,
/// as ingestion would hand it to the store.
pub fn with_content(
    message_id: &str,
    text: &str,
    images: Vec<vigil_review::Image>,
) -> vigil_review::IncomingFlag {
    vigil_review::IncomingFlag {
        flag: serde_json::from_slice(&text_flag(message_id)).unwrap(),
        queue: "flags".into(),
        partition: 0,
        offset: 0,
        content: vigil_review::Content::Stored {
            text: Some(text.into()),
            images,
            videos: Vec::new(),
            sender: vigil_core::SenderDetails::default(),
        },
        leads_only: false,
    }
}

/// A flag for `message` (a DM's JSON) read from `source`, matching keyword rule `rule`, with
/// the digests of `attachments` (id, bytes).
pub fn flag_for(
    message: &serde_json::Value,
    source: vigil_core::Source,
    rule: &str,
    attachments: &[(&str, &[u8])],
) -> vigil_core::Flag {
    let id = |k: &str| message[k].as_str().unwrap().to_string();
    let sent = time::OffsetDateTime::parse(
        message["sent_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let m = vigil_core::Match {
        detector: vigil_core::DetectorKind::Keyword,
        list: "sample-keywords".into(),
        list_version: "1".into(),
        category: "grooming".into(),
        severity: vigil_core::Severity::High,
        subject: vigil_core::MatchSubject::Text {
            rule_id: rule.into(),
            spans: vec![vigil_core::Span { start: 0, end: 4 }],
            expression: None,
            attachment_id: None,
        },
    };
    let mut flag = vigil_core::Flag::new(
        id("message_id"),
        id("conversation_id"),
        id("sender_id"),
        sent,
        source,
        vec![m],
        sent,
    );
    flag.attachments = attachments
        .iter()
        .map(|(id, bytes)| vigil_core::AttachmentDigest::of(id, bytes))
        .collect();
    flag
}

/// Where the browser tests' scripts and their npm packages are.
pub fn browser_dir() -> std::path::PathBuf {
    crate::common::root().join("tests/browser")
}

/// `npm ci` once, if playwright-core is not installed yet.
pub fn install_playwright() {
    if browser_dir().join("node_modules/playwright-core").is_dir() {
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(browser_dir())
        .status()
        .expect("npm runs (Debian: apt-get install npm)");
    assert!(status.success(), "npm ci in tests/browser failed");
}

/// Runs the browser script `tests/browser/SCRIPT` with Debian's Chromium against `console`
/// (`CONSOLE_URL`, `SCREENSHOTS` and `env` set), failing the test with its output and the
/// console's log if it fails. Returns where the screenshots went.
pub fn run_browser(script: &str, console: &Console, env: &[(&str, &str)]) -> std::path::PathBuf {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).is_file(),
        "{chromium} missing (Debian: apt-get install chromium; scripts/test installs it)"
    );
    install_playwright();
    let shots = crate::common::root().join("target/review-screenshots");
    let output = std::process::Command::new("node")
        .arg(browser_dir().join(script))
        .env("CONSOLE_URL", format!("http://{}", console.addr))
        .env("SCREENSHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .envs(env.iter().copied())
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "browser test failed:\n{}\n{}\nconsole log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        console.logs()
    );
    shots
}

/// The review topic a console reads (its configuration's `review.topics`, one topic).
pub fn queue_of(console: &Console) -> String {
    let text = std::fs::read_to_string(&console.config).unwrap();
    let line = text.lines().find(|l| l.starts_with("topics = [")).unwrap();
    line.split('"').nth(1).unwrap().to_string()
}

/// The sender of [`image_flag`]'s flags: one case.
pub const CASE_SENDER: &str = "u-1";

/// Stores a flag of `message_id` from [`CASE_SENDER`] with one image that matched a PDQ list
/// entry, and the sender's IP address, device and e-mail; returns its id and the image.
pub async fn image_flag(store: &vigil_review::Store, message_id: &str) -> (String, Vec<u8>) {
    let bytes = format!("png-bytes-of-{message_id}").into_bytes();
    let mut incoming = with_content(
        message_id,
        "look at this",
        vec![vigil_review::Image {
            attachment_id: "a-1".into(),
            media_type: "image/png".into(),
            data: bytes.clone(),
            preview: vigil_review::preview::Preview::Missing("test".into()),
            file_name: Some(format!("IMG_{message_id}.png")),
        }],
    );
    incoming.flag.matches.push(vigil_core::Match {
        detector: vigil_core::DetectorKind::Hash(vigil_core::Algorithm::Pdq),
        list: "ncmec-hashes".into(),
        list_version: "2026-12-01".into(),
        category: "A1".into(),
        severity: vigil_core::Severity::Critical,
        subject: vigil_core::MatchSubject::Attachment {
            attachment_id: "a-1".into(),
            entry_id: "entry-77".into(),
            distance: 12,
            quality: Some(100),
            variant: None,
            frame_ms: None,
            video: None,
        },
    });
    if let vigil_review::Content::Stored { sender, .. } = &mut incoming.content {
        *sender = vigil_core::SenderDetails {
            ip_address: Some("203.0.113.7".parse().unwrap()),
            device_id: Some("device-42".into()),
            email: Some("sender@example.org".into()),
        };
    }
    store.insert_flag(&incoming).await.unwrap();
    (incoming.flag.flag_id.clone(), bytes)
}

pub async fn confirm(
    store: &vigil_review::Store,
    who: &vigil_review::accounts::Reviewer,
    flag_id: &str,
) {
    assert!(
        store
            .claim(who, flag_id, std::time::Duration::from_secs(60))
            .await
            .unwrap()
    );
    store
        .decide(
            who,
            flag_id,
            vigil_review::decisions::Decision::Confirm,
            "",
            "127.0.0.1",
            std::time::Duration::from_secs(365 * 86_400),
        )
        .await
        .unwrap();
}
