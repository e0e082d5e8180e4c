//! `[kafka]`, `[admin]` and `[[routes]]`: the brokers and how vigil talks to them (TLS, SASL,
//! librdkafka properties), the delivery guarantee and its bounds, the admin endpoint, and
//! which review topic a flag goes to.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::config::{Invalid, Secret, Section, check_positive, check_readable, resolve};

/// Every default of `[kafka]` and `[admin]`, in one place.
pub mod defaults {
    /// `kafka.brokers`.
    pub const KAFKA_BROKERS: &str = "127.0.0.1:9092";
    /// `kafka.group_id`.
    pub const KAFKA_GROUP_ID: &str = "vigil";
    /// `kafka.input_topics`.
    pub const KAFKA_INPUT_TOPIC: &str = "dms";
    /// `kafka.review_topic`.
    pub const KAFKA_REVIEW_TOPIC: &str = "vigil.flags";
    /// `kafka.dead_letter_topic`.
    pub const KAFKA_DEAD_LETTER_TOPIC: &str = "vigil.dlq";
    /// `kafka.max_in_flight`: messages dispatched but not yet completed, across partitions.
    pub const KAFKA_MAX_IN_FLIGHT: usize = 1000;
    /// `kafka.max_buffered_bytes`: 64 MiB.
    pub const KAFKA_MAX_BUFFERED_BYTES: u64 = 64 * 1024 * 1024;
    /// `kafka.shutdown_timeout_secs`.
    pub const KAFKA_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
    /// `kafka.transaction_interval_ms`: how often exactly-once mode commits a transaction.
    pub const KAFKA_TRANSACTION_INTERVAL_MS: u64 = 100;
    /// `kafka.commit_interval_ms`: how often at-least-once mode commits stored offsets.
    pub const KAFKA_COMMIT_INTERVAL_MS: u64 = 5000;
    /// `kafka.stall_timeout_secs`: `/healthz` fails when the poll loop is stuck this long.
    pub const KAFKA_STALL_TIMEOUT_SECS: u64 = 60;
    /// `kafka.crash_loop_limit`: processes one record may end, alone in flight, before it is
    /// dead-lettered unscanned.
    pub const KAFKA_CRASH_LOOP_LIMIT: u32 = 2;
    /// `admin.listen`.
    pub const ADMIN_LISTEN: &str = "127.0.0.1:9464";
}

/// `[kafka]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// Consumer group.
    pub group_id: String,
    /// Topics carrying DMs.
    pub input_topics: Vec<String>,
    /// Where flags go.
    pub review_topic: String,
    /// Where unscannable records go.
    pub dead_letter_topic: String,
    /// Where one verdict per scanned record goes (for audit and coverage); none if unset.
    pub verdict_topic: Option<String>,
    /// Delivery guarantee.
    pub delivery: Delivery,
    /// Most records dispatched to scanning but not completed; the rest wait in a local queue.
    pub max_in_flight: usize,
    /// When the records waiting for dispatch reach this size, the assignment is paused, and
    /// resumed at half. Pausing discards what the client prefetched (it is fetched again on
    /// resume), so the bound is large enough to make that rare and the refetch overlap work.
    pub max_buffered_bytes: u64,
    /// Scanning threads; 0 means one per available CPU.
    pub worker_threads: usize,
    /// Bound on draining in-flight work at shutdown (and at partition revocation).
    pub shutdown_timeout_secs: u64,
    /// Exactly-once: how often the open transaction is committed.
    pub transaction_interval_ms: u64,
    /// At-least-once: how often the completed offsets are committed (a crash redelivers at
    /// most this much).
    pub commit_interval_ms: u64,
    /// Exactly-once: the producer's `transactional.id`; empty means
    /// `<group_id>-<hostname>-<admin port>`. Keep it stable across restarts of one instance
    /// and distinct between instances.
    pub transactional_id: String,
    /// `/healthz` fails when the poll loop has not progressed for this long.
    pub stall_timeout_secs: u64,
    /// Also dead-letter records that were scanned only in part (an attachment could not be
    /// fetched, decoded or was too large), so they can be replayed after a fix.
    pub dead_letter_partial: bool,
    /// At-least-once: a record that ends this many vigil processes (an abort or an
    /// out-of-memory kill) while it is the only record in flight is dead-lettered
    /// (`crash_loop`) instead of being scanned again; 0 turns the crash-loop breaker off.
    pub crash_loop_limit: u32,
    /// `[kafka.tls]`: TLS to the brokers; unset: plaintext.
    pub tls: Option<TlsConfig>,
    /// `[kafka.sasl]`: SASL authentication; unset: none.
    pub sasl: Option<SaslConfig>,
    /// `[kafka.client]`: librdkafka properties passed to the consumer and the producer as is
    /// (e.g. `"security.protocol" = "SASL_SSL"`). Values of secret-looking keys are redacted in
    /// `Debug`.
    pub client: ClientProperties,
    /// `[kafka.consumer]`: librdkafka properties for the consumer only (after `client`).
    pub consumer: ClientProperties,
    /// `[kafka.producer]`: librdkafka properties for the producer only (after `client`).
    pub producer: ClientProperties,
}

/// How strongly each input record is tied to its outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Offsets are stored only after every output of a record is acknowledged; a crash may
    /// repeat outputs (with identical flag ids), never lose them.
    #[default]
    AtLeastOnce,
    /// Outputs and offsets are committed in one Kafka transaction; consumers reading with
    /// `isolation.level=read_committed` see each output once.
    ExactlyOnce,
}

/// librdkafka properties; `Debug` redacts the values of keys that look secret.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ClientProperties(pub std::collections::BTreeMap<String, String>);

impl ClientProperties {
    /// Whether `key` names a secret (password, secret, private key material).
    pub fn is_secret(key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        ["password", "secret", "key.pem", "private", "token"]
            .iter()
            .any(|needle| key.contains(needle))
    }
}

impl std::fmt::Debug for ClientProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if ClientProperties::is_secret(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

/// `[kafka.tls]`: TLS to the brokers (librdkafka `security.protocol` `SSL`, or `SASL_SSL`
/// with `[kafka.sasl]`). Paths resolve against the configuration file's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// CA certificates (PEM) the brokers' certificates must chain to; unset: the system's.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), for brokers that require one; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// The password of `key_file`, if it is encrypted.
    pub key_password: Option<Secret>,
    /// Check that a broker's certificate names the host vigil connected to.
    pub verify_hostname: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_file: None,
            cert_file: None,
            key_file: None,
            key_password: None,
            verify_hostname: true,
        }
    }
}

/// `[kafka.sasl]`: SASL authentication (librdkafka `security.protocol` `SASL_SSL` with
/// `[kafka.tls]`, else `SASL_PLAINTEXT`). The password comes from exactly one of `password`,
/// `password_file` and `password_env`, read once when the configuration is loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// The SASL mechanism.
    pub mechanism: SaslMechanism,
    /// The principal's user name.
    pub username: String,
    /// The password itself (prefer `password_file` or `password_env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A file holding the password (one trailing line break is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// The password from whichever source is set.
    #[serde(skip)]
    resolved: Secret,
}

impl SaslConfig {
    /// The password, read from its source when the configuration was loaded.
    pub fn password(&self) -> &Secret {
        &self.resolved
    }
}

/// `kafka.sasl.mechanism`. GSSAPI (Kerberos) and OAUTHBEARER are not built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SaslMechanism {
    /// SCRAM with SHA-256: the password never crosses the wire.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    /// The password in clear text: only over TLS.
    #[serde(rename = "PLAIN")]
    Plain,
}

impl SaslMechanism {
    /// The name librdkafka and Kafka use.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::Plain => "PLAIN",
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: defaults::KAFKA_BROKERS.into(),
            group_id: defaults::KAFKA_GROUP_ID.into(),
            input_topics: vec![defaults::KAFKA_INPUT_TOPIC.into()],
            review_topic: defaults::KAFKA_REVIEW_TOPIC.into(),
            dead_letter_topic: defaults::KAFKA_DEAD_LETTER_TOPIC.into(),
            verdict_topic: None,
            delivery: Delivery::default(),
            max_in_flight: defaults::KAFKA_MAX_IN_FLIGHT,
            max_buffered_bytes: defaults::KAFKA_MAX_BUFFERED_BYTES,
            worker_threads: 0,
            shutdown_timeout_secs: defaults::KAFKA_SHUTDOWN_TIMEOUT_SECS,
            transaction_interval_ms: defaults::KAFKA_TRANSACTION_INTERVAL_MS,
            commit_interval_ms: defaults::KAFKA_COMMIT_INTERVAL_MS,
            transactional_id: String::new(),
            stall_timeout_secs: defaults::KAFKA_STALL_TIMEOUT_SECS,
            dead_letter_partial: true,
            crash_loop_limit: defaults::KAFKA_CRASH_LOOP_LIMIT,
            tls: None,
            sasl: None,
            client: ClientProperties::default(),
            consumer: ClientProperties::default(),
            producer: ClientProperties::default(),
        }
    }
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin HTTP server (metrics, health).
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: defaults::ADMIN_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9464))),
        }
    }
}

/// `[[routes]]`: flags with a match in `category` go to `topic` instead of
/// `kafka.review_topic`. Routes are tried in order; the first whose category any match has wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// A match category, e.g. `A`.
    pub category: String,
    /// The review topic for it.
    pub topic: String,
}

impl Section for KafkaConfig {
    fn resolve_paths(&mut self, base: &Path) {
        resolve(base, self.paths_mut());
    }

    fn validate(&self) -> Result<(), Invalid> {
        if self.brokers.trim().is_empty() {
            return Err(Invalid::new(
                "kafka.brokers",
                "must name at least one host:port",
            ));
        }
        for broker in self.brokers.split(',').map(str::trim) {
            let valid = broker.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !valid {
                return Err(Invalid::new(
                    "kafka.brokers",
                    format!("`{broker}` is not host:port"),
                ));
            }
        }
        if self.group_id.trim().is_empty() {
            return Err(Invalid::new("kafka.group_id", "must not be empty"));
        }
        if self.input_topics.is_empty() {
            return Err(Invalid::new(
                "kafka.input_topics",
                "must name at least one topic",
            ));
        }
        for topic in &self.input_topics {
            check_topic("kafka.input_topics", topic)?;
        }
        check_topic("kafka.review_topic", &self.review_topic)?;
        check_topic("kafka.dead_letter_topic", &self.dead_letter_topic)?;
        if self.review_topic == self.dead_letter_topic {
            return Err(Invalid::new(
                "kafka.dead_letter_topic",
                "must differ from kafka.review_topic",
            ));
        }
        self.check_output_topic("kafka.review_topic", &self.review_topic)?;
        self.check_output_topic("kafka.dead_letter_topic", &self.dead_letter_topic)?;
        if let Some(topic) = &self.verdict_topic {
            check_topic("kafka.verdict_topic", topic)?;
            self.check_output_topic("kafka.verdict_topic", topic)?;
            if topic == &self.review_topic || topic == &self.dead_letter_topic {
                return Err(Invalid::new(
                    "kafka.verdict_topic",
                    "must differ from the review and dead-letter topics",
                ));
            }
        }
        let positive = [
            ("kafka.max_in_flight", self.max_in_flight as u64),
            ("kafka.max_buffered_bytes", self.max_buffered_bytes),
            ("kafka.shutdown_timeout_secs", self.shutdown_timeout_secs),
            (
                "kafka.transaction_interval_ms",
                self.transaction_interval_ms,
            ),
            ("kafka.commit_interval_ms", self.commit_interval_ms),
            ("kafka.stall_timeout_secs", self.stall_timeout_secs),
        ];
        check_positive(positive)?;
        // vigil owns these: letting them through would silently break its delivery guarantee.
        for (section, properties) in [
            ("kafka.client", &self.client),
            ("kafka.consumer", &self.consumer),
            ("kafka.producer", &self.producer),
        ] {
            if let Some(key) = properties
                .0
                .keys()
                .find(|k| RESERVED_KEYS.contains(&k.as_str()))
            {
                return Err(Invalid::new(
                    section,
                    format!("`{key}` is set by vigil itself (use the [kafka] keys)"),
                ));
            }
        }
        self.validate_security()
    }

    /// Reads the SASL password from its source (after [`KafkaConfig::validate`]); `env` is
    /// the process environment. Errors never quote the password.
    fn read_secrets(&mut self, env: &[(String, String)]) -> Result<(), Invalid> {
        let Some(sasl) = &mut self.sasl else {
            return Ok(());
        };
        let (key, password) = if let Some(password) = &sasl.password {
            ("kafka.sasl.password", password.expose().to_string())
        } else if let Some(path) = &sasl.password_file {
            let key = "kafka.sasl.password_file";
            let bytes = std::fs::read(path)
                .map_err(|e| Invalid::new(key, format!("cannot read {}: {e}", path.display())))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Invalid::new(key, format!("{} is not UTF-8", path.display())))?;
            let password = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            (key, password.to_string())
        } else if let Some(var) = &sasl.password_env {
            let value = env.iter().find(|(name, _)| name == var).map(|(_, v)| v);
            let value = value.ok_or_else(|| {
                Invalid::new(
                    "kafka.sasl.password_env",
                    format!("environment variable {var} is not set"),
                )
            })?;
            ("kafka.sasl.password_env", value.clone())
        } else {
            return Err(Invalid::new("kafka.sasl.password", "no password"));
        };
        if password.is_empty() {
            return Err(Invalid::new(key, "the password is empty"));
        }
        sasl.resolved = Secret::new(password);
        Ok(())
    }
}

impl KafkaConfig {
    /// The paths of `[kafka.tls]` and `[kafka.sasl]`, to resolve against the file's directory.
    fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        let tls = self.tls.iter_mut().flat_map(|t| {
            t.ca_file
                .iter_mut()
                .chain(t.cert_file.iter_mut())
                .chain(t.key_file.iter_mut())
        });
        tls.chain(
            self.sasl
                .iter_mut()
                .flat_map(|s| s.password_file.iter_mut()),
        )
    }

    /// `[kafka.tls]` and `[kafka.sasl]`: files readable, one password source, no clear-text
    /// password on the wire.
    fn validate_security(&self) -> Result<(), Invalid> {
        if let Some(tls) = &self.tls {
            for (key, path) in [
                ("kafka.tls.ca_file", &tls.ca_file),
                ("kafka.tls.cert_file", &tls.cert_file),
                ("kafka.tls.key_file", &tls.key_file),
            ] {
                if let Some(path) = path {
                    check_readable(key, path)?;
                }
            }
            match (&tls.cert_file, &tls.key_file) {
                (Some(_), None) => {
                    return Err(Invalid::new(
                        "kafka.tls.key_file",
                        "is needed with cert_file",
                    ));
                }
                (None, Some(_)) => {
                    return Err(Invalid::new(
                        "kafka.tls.cert_file",
                        "is needed with key_file",
                    ));
                }
                _ => {}
            }
            if tls.key_password.is_some() && tls.key_file.is_none() {
                return Err(Invalid::new(
                    "kafka.tls.key_password",
                    "is set without kafka.tls.key_file",
                ));
            }
        }
        let Some(sasl) = &self.sasl else {
            return Ok(());
        };
        if sasl.username.trim().is_empty() {
            return Err(Invalid::new("kafka.sasl.username", "must not be empty"));
        }
        let sources = [
            sasl.password.is_some(),
            sasl.password_file.is_some(),
            sasl.password_env.is_some(),
        ];
        match sources.iter().filter(|set| **set).count() {
            0 => {
                return Err(Invalid::new(
                    "kafka.sasl.password",
                    "no password: set one of password, password_file, password_env",
                ));
            }
            1 => {}
            _ => {
                return Err(Invalid::new(
                    "kafka.sasl.password",
                    "set only one of password, password_file, password_env",
                ));
            }
        }
        if let Some(path) = &sasl.password_file {
            check_readable("kafka.sasl.password_file", path)?;
        }
        if sasl.mechanism == SaslMechanism::Plain && self.tls.is_none() {
            return Err(Invalid::new(
                "kafka.sasl.mechanism",
                "PLAIN sends the password in clear text: configure [kafka.tls] too, or use SCRAM",
            ));
        }
        Ok(())
    }

    /// An output topic must not be consumed by vigil itself.
    fn check_output_topic(&self, key: &'static str, topic: &str) -> Result<(), Invalid> {
        if self.input_topics.iter().any(|t| t == topic) {
            return Err(Invalid::new(
                key,
                format!("`{topic}` is also an input topic: vigil would consume its own output"),
            ));
        }
        Ok(())
    }
}

impl Section for AdminConfig {
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }
}

/// The librdkafka keys vigil sets itself (in `client`, for every role that uses them):
/// `[kafka.client]`, `[kafka.consumer]` and `[kafka.producer]` may not name them, since
/// setting them would silently break a delivery guarantee.
const RESERVED_KEYS: [&str; 7] = [
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.idempotence",
    "transactional.id",
    "isolation.level",
];

/// What `vigil run` reads of the configuration: `[kafka]`, `[[routes]]` and `[admin]`,
/// assembled by the binary from the file's sections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunConfig {
    /// `[kafka]`: brokers, topics, delivery.
    pub kafka: KafkaConfig,
    /// `[[routes]]`: which review topic a flag goes to, by category.
    pub routes: Vec<Route>,
    /// `[admin]`: the admin HTTP endpoint.
    pub admin: AdminConfig,
    /// `[containment]`: the entry state (disabled entries, quarantine, re-share counts).
    pub containment: crate::entries::ContainmentConfig,
    /// `review.decisions_topic`: the console's decisions, fed into the entry state.
    pub decisions_topic: String,
}

impl RunConfig {
    /// The review topic for a flag with these categories: the first route whose category
    /// any match has, else `kafka.review_topic`.
    pub fn route<'a>(&'a self, categories: &[String]) -> &'a str {
        self.routes
            .iter()
            .find(|r| categories.contains(&r.category))
            .map_or(self.kafka.review_topic.as_str(), |r| r.topic.as_str())
    }
}

/// `[[routes]]`: each names a category and a legal topic that vigil does not consume.
pub fn check_routes(routes: &[Route], kafka: &KafkaConfig) -> Result<(), Invalid> {
    for route in routes {
        if route.category.trim().is_empty() {
            return Err(Invalid::new("routes.category", "must not be empty"));
        }
        check_topic("routes.topic", &route.topic)?;
        kafka.check_output_topic("routes.topic", &route.topic)?;
    }
    Ok(())
}

/// Kafka topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn check_topic(key: &str, topic: &str) -> Result<(), Invalid> {
    let legal = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if legal {
        Ok(())
    } else {
        Err(Invalid::new(
            key,
            format!("`{topic}` is not a legal Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)"),
        ))
    }
}

/// Reads a whole configuration file's `[kafka]` and `[[routes]]` as the binary does, for
/// tests of the code that uses them.
#[cfg(test)]
pub(crate) fn parse_for_test(
    text: &str,
    dir: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> RunConfig {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        kafka: KafkaConfig,
        #[serde(default)]
        routes: Vec<Route>,
    }
    impl Section for File {
        fn resolve_paths(&mut self, base: &Path) {
            self.kafka.resolve_paths(base);
        }
        fn validate(&self) -> Result<(), Invalid> {
            self.kafka.validate()?;
            check_routes(&self.routes, &self.kafka)
        }
        fn read_secrets(&mut self, env: &[(String, String)]) -> Result<(), Invalid> {
            self.kafka.read_secrets(env)
        }
    }
    let file: File = vigil_core::config::from_toml(text, "test.toml", dir, env)
        .unwrap_or_else(|e| panic!("{e}"));
    RunConfig {
        kafka: file.kafka,
        routes: file.routes,
        ..RunConfig::default()
    }
}
