//! Helpers for tests against the real broker that `deploy/local/kafka` starts: topics,
//! producing, reading back, and running `vigil run` as a child process. Needs the test crate
//! to have `mod common;` (for the scrubbed `vigil` command).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

static BROKERS: OnceLock<String> = OnceLock::new();

/// Makes every helper of this test binary use `address` (call before any other helper).
pub fn use_brokers(address: &str) {
    BROKERS
        .set(address.to_string())
        .expect("use_brokers is called before any broker is used");
}

/// The bootstrap address of the test broker: `$VIGIL_TEST_BROKERS` if set (the test script
/// sets it), else whatever `deploy/local/kafka start` prints (it is idempotent).
pub fn brokers() -> &'static str {
    BROKERS.get_or_init(|| {
        std::env::var("VIGIL_TEST_BROKERS").unwrap_or_else(|_| start_local("kafka"))
    })
}

/// Runs `deploy/local/<server> start` (idempotent) and returns the last line it prints (the
/// address or URL to connect to).
pub fn start_local(server: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("deploy/local/{server}"));
    let output = Command::new(&script)
        .arg("start")
        .output()
        .unwrap_or_else(|e| panic!("deploy/local/{server} runs: {e}"));
    assert!(
        output.status.success(),
        "deploy/local/{server} start failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("the script prints where the server is")
        .trim()
        .to_string()
}

/// A topic name unique to this test process and call.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Creates `topics` with `partitions` partitions each.
pub fn create_topics(topics: &[&str], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let results = runtime()
        .block_on(admin.create_topics(
            &new,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .unwrap();
    for result in results {
        result.unwrap();
    }
}

/// A record to produce.
pub struct Input {
    pub key: String,
    pub value: Vec<u8>,
    pub partition: Option<i32>,
}

/// Produces `records` to `topic` and waits until all are acknowledged.
pub fn produce(topic: &str, records: &[Input]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for record in records {
        let mut base = BaseRecord::to(topic)
            .key(&record.key)
            .payload(&record.value)
            .headers(OwnedHeaders::new().insert(Header {
                key: "origin",
                value: Some("test"),
            }));
        if let Some(p) = record.partition {
            base = base.partition(p);
        }
        loop {
            match producer.send(base) {
                Ok(()) => break,
                Err((_, returned)) => {
                    base = returned;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// A consumed record.
#[derive(Debug, Clone)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: BTreeMap<String, String>,
    /// The record's timestamp (milliseconds since the epoch), if it has one.
    pub timestamp_ms: Option<i64>,
    /// The value as JSON, parsed once (predicates re-check whole topics after every poll).
    parsed: Option<serde_json::Value>,
}

impl Read {
    pub fn json(&self) -> &serde_json::Value {
        self.parsed.as_ref().expect("a JSON value")
    }

    /// For verdicts: the input record's (partition, offset).
    pub fn source(&self) -> (i64, i64) {
        let source = &self.json()["source"];
        (
            source["partition"].as_i64().unwrap(),
            source["offset"].as_i64().unwrap(),
        )
    }
}

/// Reads `topic` from the beginning until `done(records)` holds or `timeout` passes;
/// `read_committed` hides aborted transactional records.
pub fn read_until(
    topic: &str,
    read_committed: bool,
    timeout: Duration,
    done: impl Fn(&[Read]) -> bool,
) -> Vec<Read> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set(
            "isolation.level",
            if read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while Instant::now() < deadline && !done(&records) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let value = m.payload().unwrap_or_default().to_vec();
            records.push(Read {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                timestamp_ms: m.timestamp().to_millis(),
                parsed: serde_json::from_slice(&value).ok(),
                value,
                headers,
            });
        }
    }
    records
}

/// Reads all of `topic` that is there now: until nothing arrives for a second.
pub fn read_all(topic: &str, read_committed: bool) -> Vec<Read> {
    let last = std::cell::Cell::new((0, Instant::now()));
    read_until(topic, read_committed, Duration::from_secs(60), |records| {
        let (seen, since) = last.get();
        if records.len() != seen {
            last.set((records.len(), Instant::now()));
            return false;
        }
        since.elapsed() > Duration::from_secs(1)
    })
}

/// Reads `topic` until it has at least `n` records (or `timeout`).
pub fn read_at_least(topic: &str, n: usize, timeout: Duration) -> Vec<Read> {
    read_until(topic, false, timeout, |r| r.len() >= n)
}

/// A free local port for an admin endpoint, never one this test binary was given before: the
/// kernel may hand a just-released ephemeral port out again, and two servers a test starts
/// (or two tests running at once) must not be told to bind the same one.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// `GET path` on `addr`: (status, body), or `None` if nothing answers.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Some((status, body))
}

/// A running `vigil run`.
pub struct Vigil {
    pub child: Child,
    pub admin: SocketAddr,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Vigil {
    /// Starts `vigil run` with `config` (TOML; `[admin]` is added) and waits until `/readyz`.
    pub fn start(config: &str) -> Vigil {
        let level = std::env::var("VIGIL_TEST_LOG").unwrap_or_else(|_| "info".into());
        Vigil::start_logging(config, &level)
    }

    /// [`Vigil::start`] with the log filter `level` (`VIGIL_LOG`).
    pub fn start_logging(config: &str, level: &str) -> Vigil {
        Vigil::start_with(config, level, &[])
    }

    /// [`Vigil::start_logging`] with extra environment variables.
    pub fn start_with(config: &str, level: &str, env: &[(&str, &str)]) -> Vigil {
        let mut vigil = Vigil::spawn(config, level, env, &[]);
        vigil.wait_ready(Duration::from_secs(60));
        vigil
    }

    /// Starts `vigil run` through `wrapper` (see [`crate::common::vigil_via`]) without
    /// waiting for it to be ready.
    pub fn spawn(config: &str, level: &str, env: &[(&str, &str)], wrapper: &[&str]) -> Vigil {
        let dir = tempfile::tempdir().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let path = dir.path().join("vigil.toml");
        std::fs::write(&path, format!("{config}\n[admin]\nlisten = \"{admin}\"\n")).unwrap();
        let log = dir.path().join("vigil.log");
        let child = crate::common::vigil_via(dir.path(), wrapper)
            .args(["run", "--config", path.to_str().unwrap()])
            .env("VIGIL_LOG", level)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Vigil {
            child,
            admin,
            log,
            _dir: dir,
        }
    }

    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((200, _)) = http_get(self.admin, "/readyz") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("vigil exited ({status}) before ready:\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "vigil not ready in {timeout:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait for the exit; returns whether it exited 0.
    pub fn terminate(mut self, timeout: Duration) -> (bool, String) {
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status.success(), self.logs());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return (false, self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `SIG<name>` (e.g. `STOP`, `CONT`).
    pub fn signal(&self, name: &str) {
        signal(self.child.id(), name);
    }

    /// `kill -9`.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.logs()
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A `[kafka]` section for a test run: fast session timeouts so a killed member's partitions
/// move on within seconds.
pub fn kafka_section(group: &str, input: &str, extra: &str) -> String {
    format!(
        r#"[kafka]
brokers = "{brokers}"
group_id = "{group}"
input_topics = ["{input}"]
review_topic = "{input}.flags"
dead_letter_topic = "{input}.dlq"
verdict_topic = "{input}.verdicts"
shutdown_timeout_secs = 10
{extra}
[kafka.consumer]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"#,
        brokers = brokers()
    )
}

/// The lists and the base64 of a listed image (sha256 entry iwf-000101), from the examples;
/// they are unsigned, so `vigil run` must be told that is intended.
pub fn lists_section() -> String {
    let root = crate::common::root();
    format!(
        "[lists]\nhash_lists = [{:?}]\nkeyword_lists = [{:?}]\nallow_unsigned = true\n",
        root.join("examples/lists/sample-hashes.csv")
            .display()
            .to_string(),
        root.join("examples/lists/sample-keywords.csv")
            .display()
            .to_string(),
    )
}

pub fn listed_image() -> String {
    let text = std::fs::read(crate::common::root().join("examples/dms.jsonl")).unwrap();
    let messages = crate::common::json_lines(&text);
    let m = messages
        .iter()
        .find(|m| m["message_id"] == "msg-0002")
        .unwrap();
    m["attachments"][0]["data"].as_str().unwrap().to_string()
}

/// The address every message of [`messages`] was sent from (a documentation address).
pub const SENDER_IP: &str = "198.51.100.77";
/// The original name of every image attachment of [`messages`].
pub const FILE_NAME: &str = "canary-file-name.png";

/// `n` messages; every 7th plants a phrase, every 11th a listed image. Returns the records
/// and the ids of the messages that must be flagged.
pub fn messages(n: usize, tag: &str) -> (Vec<Input>, BTreeSet<String>) {
    let image = listed_image();
    let mut expected = BTreeSet::new();
    let records = (0..n)
        .map(|i| {
            let id = format!("{tag}-{i:06}");
            let mut text = format!("message {i}: see you at practice tomorrow");
            let mut m = json!({
                "message_id": id, "conversation_id": format!("c-{}", i % 13), "sender_id": "u-1",
                "recipient_ids": ["u-2"], "sent_at": "2026-11-26T07:00:00Z",
                "sender_details": {"ip_address": SENDER_IP, "device_id": "device-canary-1"},
            });
            if i % 7 == 3 {
                text.push_str(" and keep this a secret");
                expected.insert(id.clone());
            }
            if i % 11 == 5 {
                m["attachments"] = json!([{"attachment_id": "a1", "media_type": "image/png",
                                           "data": image, "file_name": FILE_NAME}]);
                expected.insert(id.clone());
            }
            m["text"] = json!(text);
            Input {
                key: format!("c-{}", i % 13),
                value: serde_json::to_vec(&m).unwrap(),
                partition: None,
            }
        })
        .collect();
    (records, expected)
}

pub struct Topics {
    pub input: String,
    pub flags: String,
    pub dlq: String,
    pub verdicts: String,
}

pub fn topics(prefix: &str, partitions: i32) -> Topics {
    let input = unique(prefix);
    let t = Topics {
        flags: format!("{input}.flags"),
        dlq: format!("{input}.dlq"),
        verdicts: format!("{input}.verdicts"),
        input,
    };
    create_topics(&[&t.input], partitions);
    create_topics(&[&t.flags, &t.dlq, &t.verdicts], 2);
    t
}

pub fn config(group: &str, t: &Topics, extra: &str) -> String {
    format!(
        "{}{}",
        lists_section(),
        kafka_section(group, &t.input, extra)
    )
}

/// A broker of a test's own (deploy/local/kafka on `port`), for tests that stop, restart or
/// freeze it without disturbing the shared one. Stopped when dropped.
pub struct LocalBroker {
    port: u16,
    /// Extra environment of `deploy/local/kafka` (`KAFKA_EXTRA_CONFIG`, `KAFKA_FORMAT_ARGS`).
    env: Vec<(String, String)>,
    pub address: String,
}

impl LocalBroker {
    /// Starts a fresh broker on `port` (its controller on `port + 1`).
    pub fn start(port: u16) -> LocalBroker {
        LocalBroker::start_with(port, &[])
    }

    /// [`LocalBroker::start`] with extra environment for `deploy/local/kafka` (kept for
    /// restarts). `address` stays the PLAINTEXT listener on `port`.
    pub fn start_with(port: u16, env: &[(&str, &str)]) -> LocalBroker {
        let mut broker = LocalBroker {
            port,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            address: String::new(),
        };
        broker.address = broker.run("start", false);
        broker
    }

    /// Runs `deploy/local/kafka command`; returns its last stdout line.
    fn run(&self, command: &str, keep_data: bool) -> String {
        let output = Command::new(crate::common::root().join("deploy/local/kafka"))
            .arg(command)
            .env("KAFKA_PORT", self.port.to_string())
            .env("KAFKA_CONTROLLER_PORT", (self.port + 1).to_string())
            .env("KAFKA_KEEP_DATA", if keep_data { "1" } else { "0" })
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "deploy/local/kafka {command}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        stdout.lines().last().unwrap_or_default().trim().to_string()
    }

    /// Stops it (SIGTERM, then SIGKILL after a while).
    pub fn stop(&self) {
        self.run("stop", false);
    }

    /// Starts it again on its previous storage: topics, records and offsets survive.
    pub fn restart(&self) {
        self.run("start", true);
    }

    /// Sends `SIG<name>` to it, if it runs.
    pub fn signal(&self, name: &str) {
        let Ok(output) = Command::new(crate::common::root().join("deploy/local/kafka"))
            .arg("status")
            .env("KAFKA_PORT", self.port.to_string())
            .output()
        else {
            return;
        };
        let status = String::from_utf8_lossy(&output.stdout);
        if let Some(pid) = status
            .split("(pid ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
        {
            let _ = Command::new("kill")
                .args([&format!("-{name}"), pid])
                .status();
        }
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        self.signal("CONT");
        let _ = Command::new(crate::common::root().join("deploy/local/kafka"))
            .arg("stop")
            .env("KAFKA_PORT", self.port.to_string())
            .output();
    }
}

/// Waits until the flags on `topic` name exactly the messages `expected` (repeats, which
/// redelivery may cause, carry the same ids and are allowed), and asserts it.
pub fn assert_flagged(topic: &str, expected: &BTreeSet<String>) {
    let flagged = |flags: &[Read]| -> BTreeSet<String> {
        flags
            .iter()
            .map(|f| f.json()["message_id"].as_str().unwrap().to_string())
            .collect()
    };
    let flags = read_until(topic, false, Duration::from_secs(60), |f| {
        flagged(f) == *expected
    });
    assert_eq!(flagged(&flags), *expected);
}
