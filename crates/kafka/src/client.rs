//! The settings of every Kafka client vigil creates, one builder per role.
//!
//! Each builder layers, in order: the brokers and `[kafka.tls]`/`[kafka.sasl]`; the role's
//! defaults; the user's `[kafka.client]`, then `[kafka.consumer]` or `[kafka.producer]`; last
//! the keys the role owns, which the user cannot override (validation refuses the reserved
//! ones outright; the rest would silently break a role's guarantee). Builders see only the
//! `[kafka]` section, and each key vigil owns is set here once.

use crate::config::{ClientProperties, KafkaConfig};
use rdkafka::config::ClientConfig;

/// How often librdkafka reports statistics (lag, positions) unless the user says otherwise.
const STATISTICS_INTERVAL_MS: &str = "5000";
/// Exactly-once: the broker aborts a transaction left open this long (a crashed instance's),
/// which bounds how long read_committed readers can be held up by it.
const TRANSACTION_TIMEOUT_MS: &str = "15000";

/// A librdkafka property a builder sets.
type Property = (&'static str, String);

/// Who commits a consumer's stored offsets.
enum Commits {
    /// vigil, when it chooses (so each commit can be timed and carry metadata).
    Explicit,
    /// The client, every second.
    EverySecond,
}

/// The scanner's consumer (`vigil run`): the input topics in `kafka.group_id`. The user may
/// tune the assignment strategy, the start of a new group, the prefetch and the statistics.
pub(crate) fn scanner_consumer(k: &KafkaConfig) -> ClientConfig {
    // librdkafka's own prefetch queue holds about as much again as the runtime's.
    let prefetch_kbytes = (k.max_buffered_bytes / 1024).clamp(1024, 2_097_151);
    let defaults = [
        ("partition.assignment.strategy", "cooperative-sticky".into()),
        ("auto.offset.reset", "earliest".into()),
        ("queued.max.messages.kbytes", prefetch_kbytes.to_string()),
        ("statistics.interval.ms", STATISTICS_INTERVAL_MS.into()),
    ];
    consumer(k, &k.group_id, Commits::Explicit, &defaults, &[])
}

/// A reader of a whole topic (`vigil audit`, `vigil dlq replay`), with offsets in `group`.
pub(crate) fn reader(k: &KafkaConfig, group: &str) -> ClientConfig {
    let owned = [("auto.offset.reset", "earliest".into())];
    consumer(k, group, Commits::Explicit, &[], &owned)
}

/// The review console's consumer of the review topics, in `group`: it stores an offset once
/// its flag is settled and lets the client commit.
pub fn review_ingest(k: &KafkaConfig, group: &str) -> ClientConfig {
    let owned = [
        ("partition.assignment.strategy", "cooperative-sticky".into()),
        ("auto.offset.reset", "earliest".into()),
        ("statistics.interval.ms", STATISTICS_INTERVAL_MS.into()),
    ];
    consumer(k, group, Commits::EverySecond, &[], &owned)
}

/// The review console's point reader of flagged messages' source records, in `group`.
pub fn content_fetcher(k: &KafkaConfig, group: &str) -> ClientConfig {
    let owned = [
        // A record gone from the topic (retention) must be an error, not a silent jump.
        ("auto.offset.reset", "error".into()),
        // Point lookups: a fetch returns as soon as the record is there (with the default
        // 500 ms wait, each lookup took half a second: 2 flags/s).
        ("fetch.wait.max.ms", "10".into()),
    ];
    consumer(k, group, Commits::Explicit, &[], &owned)
}

/// An idempotent producer: the runtime's at-least-once outputs, dead-letter replays, the
/// review console's decisions.
pub fn producer(k: &KafkaConfig) -> ClientConfig {
    producer_with(k, &[])
}

/// The runtime's exactly-once producer, transactional as `transactional_id`.
pub(crate) fn transactional_producer(k: &KafkaConfig, transactional_id: String) -> ClientConfig {
    let owned = [
        ("transactional.id", transactional_id),
        ("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS.into()),
    ];
    producer_with(k, &owned)
}

/// `kafka.transactional_id`, or `<group_id>-<hostname>-<admin port>`: stable across
/// restarts, so a restarted instance fences its predecessor and aborts its open transaction
/// at once (instead of read_committed readers waiting for the transaction timeout); the
/// admin port keeps instances on one host apart.
pub(crate) fn transactional_id(k: &KafkaConfig, admin_port: u16) -> String {
    if !k.transactional_id.is_empty() {
        return k.transactional_id.clone();
    }
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("{}-{host}-{admin_port}", k.group_id)
}

/// The start-up access check's client: what every client shares, nothing role-specific.
pub(crate) fn probe(k: &KafkaConfig) -> ClientConfig {
    build(k, &[], &[&k.client], &[])
}

/// What every consumer owns: `group`, who commits, offsets stored by hand once a record is
/// done with (never when merely polled), no end-of-partition events, and only committed
/// records (outputs of open or aborted transactions are not records to read).
fn consumer(
    k: &KafkaConfig,
    group: &str,
    commits: Commits,
    defaults: &[Property],
    owned: &[Property],
) -> ClientConfig {
    let mut all = vec![
        ("group.id", group.to_string()),
        ("enable.partition.eof", "false".into()),
        ("enable.auto.offset.store", "false".into()),
        ("isolation.level", "read_committed".into()),
    ];
    all.extend(match commits {
        Commits::Explicit => vec![("enable.auto.commit", "false".into())],
        Commits::EverySecond => vec![
            ("enable.auto.commit", "true".into()),
            ("auto.commit.interval.ms", "1000".into()),
        ],
    });
    all.extend_from_slice(owned);
    build(k, defaults, &[&k.client, &k.consumer], &all)
}

/// What every producer owns: idempotence (no duplicates from the client's own retries); a
/// short linger batches outputs unless the user tunes it.
fn producer_with(k: &KafkaConfig, owned: &[Property]) -> ClientConfig {
    let mut all = vec![("enable.idempotence", "true".into())];
    all.extend_from_slice(owned);
    build(
        k,
        &[("linger.ms", "5".into())],
        &[&k.client, &k.producer],
        &all,
    )
}

/// Brokers and security, then `defaults`, the `user` sections in order, and `owned`.
fn build(
    k: &KafkaConfig,
    defaults: &[Property],
    user: &[&ClientProperties],
    owned: &[Property],
) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &k.brokers);
    for (key, value) in security_properties(k).iter().chain(defaults) {
        client.set(*key, value);
    }
    for (key, value) in user.iter().flat_map(|section| &section.0) {
        client.set(key, value);
    }
    for (key, value) in owned {
        client.set(*key, value);
    }
    client
}

/// The librdkafka properties of `[kafka.tls]` and `[kafka.sasl]` (none without either).
fn security_properties(k: &KafkaConfig) -> Vec<Property> {
    let protocol = match (&k.tls, &k.sasl) {
        (None, None) => return Vec::new(),
        (Some(_), None) => "SSL",
        (None, Some(_)) => "SASL_PLAINTEXT",
        (Some(_), Some(_)) => "SASL_SSL",
    };
    let mut properties = vec![("security.protocol", protocol.to_string())];
    if let Some(tls) = &k.tls {
        for (key, file) in [
            ("ssl.ca.location", &tls.ca_file),
            ("ssl.certificate.location", &tls.cert_file),
            ("ssl.key.location", &tls.key_file),
        ] {
            if let Some(file) = file {
                properties.push((key, file.display().to_string()));
            }
        }
        if let Some(password) = &tls.key_password {
            properties.push(("ssl.key.password", password.expose().to_string()));
        }
        let identification = if tls.verify_hostname { "https" } else { "none" };
        properties.push((
            "ssl.endpoint.identification.algorithm",
            identification.to_string(),
        ));
    }
    if let Some(sasl) = &k.sasl {
        properties.push(("sasl.mechanisms", sasl.mechanism.as_str().to_string()));
        properties.push(("sasl.username", sasl.username.clone()));
        properties.push(("sasl.password", sasl.password().expose().to_string()));
    }
    properties
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn load(text: &str, dir: &Path) -> KafkaConfig {
        let env = [("KAFKA_PW".to_string(), "pw-from-env".to_string())];
        crate::config::parse_for_test(text, dir, env).kafka
    }

    fn properties(pairs: &[(&str, &str)]) -> ClientProperties {
        ClientProperties(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Every role's client, named.
    fn roles(k: &KafkaConfig) -> Vec<(&'static str, ClientConfig)> {
        vec![
            ("scanner consumer", scanner_consumer(k)),
            ("reader", reader(k, "g")),
            ("review ingest", review_ingest(k, "g")),
            ("content fetcher", content_fetcher(k, "g")),
            ("producer", producer(k)),
            (
                "transactional producer",
                transactional_producer(k, "t".into()),
            ),
        ]
    }

    #[test]
    fn each_role_sets_its_keys() {
        let k = KafkaConfig {
            brokers: "b1:9092,b2:9092".into(),
            group_id: "scanners".into(),
            max_buffered_bytes: 64 << 20,
            ..KafkaConfig::default()
        };
        let rc = Some("read_committed");
        // (role, key, value); None: not set.
        let table: &[(&str, &str, Option<&str>)] = &[
            ("scanner consumer", "group.id", Some("scanners")),
            ("scanner consumer", "isolation.level", rc),
            ("scanner consumer", "enable.auto.commit", Some("false")),
            (
                "scanner consumer",
                "enable.auto.offset.store",
                Some("false"),
            ),
            ("scanner consumer", "auto.offset.reset", Some("earliest")),
            (
                "scanner consumer",
                "queued.max.messages.kbytes",
                Some("65536"),
            ),
            ("scanner consumer", "statistics.interval.ms", Some("5000")),
            ("scanner consumer", "enable.idempotence", None),
            ("reader", "group.id", Some("g")),
            ("reader", "isolation.level", rc),
            ("reader", "enable.auto.commit", Some("false")),
            ("reader", "auto.offset.reset", Some("earliest")),
            ("reader", "partition.assignment.strategy", None),
            ("review ingest", "isolation.level", rc),
            ("review ingest", "enable.auto.commit", Some("true")),
            ("review ingest", "auto.commit.interval.ms", Some("1000")),
            ("review ingest", "enable.auto.offset.store", Some("false")),
            (
                "review ingest",
                "partition.assignment.strategy",
                Some("cooperative-sticky"),
            ),
            ("content fetcher", "isolation.level", rc),
            ("content fetcher", "auto.offset.reset", Some("error")),
            ("content fetcher", "fetch.wait.max.ms", Some("10")),
            ("content fetcher", "enable.auto.commit", Some("false")),
            ("producer", "enable.idempotence", Some("true")),
            ("producer", "linger.ms", Some("5")),
            ("producer", "transactional.id", None),
            ("producer", "isolation.level", None),
            ("producer", "group.id", None),
            ("transactional producer", "transactional.id", Some("t")),
            (
                "transactional producer",
                "transaction.timeout.ms",
                Some("15000"),
            ),
            ("transactional producer", "enable.idempotence", Some("true")),
        ];
        let clients = roles(&k);
        for (role, client) in &clients {
            assert_eq!(client.get("bootstrap.servers"), Some("b1:9092,b2:9092"));
            assert_eq!(client.get("security.protocol"), None, "{role}");
        }
        for (role, key, value) in table {
            let (_, client) = clients.iter().find(|(r, _)| r == role).unwrap();
            assert_eq!(client.get(key), *value, "{role}: {key}");
        }
    }

    #[test]
    fn user_properties_tune_defaults_but_not_what_a_role_owns() {
        // Built by hand: validation would refuse the reserved keys before a builder saw them.
        let k = KafkaConfig {
            client: properties(&[("client.id", "vigil-1"), ("linger.ms", "20")]),
            consumer: properties(&[
                ("isolation.level", "read_uncommitted"),
                ("enable.auto.commit", "true"),
                ("enable.auto.offset.store", "true"),
                ("enable.partition.eof", "true"),
                ("auto.offset.reset", "latest"),
                ("fetch.wait.max.ms", "500"),
            ]),
            producer: properties(&[
                ("enable.idempotence", "false"),
                ("transactional.id", "mine"),
            ]),
            ..KafkaConfig::default()
        };
        for (role, client) in roles(&k) {
            assert_eq!(client.get("client.id"), Some("vigil-1"), "{role}");
            if role.ends_with("producer") {
                assert_eq!(client.get("enable.idempotence"), Some("true"), "{role}");
                assert_eq!(client.get("linger.ms"), Some("20"), "{role}");
                assert_eq!(client.get("isolation.level"), None, "{role}");
            } else {
                assert_eq!(
                    client.get("isolation.level"),
                    Some("read_committed"),
                    "{role}"
                );
                assert_eq!(
                    client.get("enable.auto.offset.store"),
                    Some("false"),
                    "{role}"
                );
                assert_eq!(client.get("enable.partition.eof"), Some("false"), "{role}");
            }
        }
        let transactional = transactional_producer(&k, "t".into());
        assert_eq!(transactional.get("transactional.id"), Some("t"));
        assert_eq!(
            scanner_consumer(&k).get("enable.auto.commit"),
            Some("false")
        );
        assert_eq!(
            scanner_consumer(&k).get("auto.offset.reset"),
            Some("latest")
        );
        assert_eq!(reader(&k, "g").get("auto.offset.reset"), Some("earliest"));
        assert_eq!(
            review_ingest(&k, "g").get("auto.offset.reset"),
            Some("earliest")
        );
        let fetcher = content_fetcher(&k, "g");
        assert_eq!(fetcher.get("auto.offset.reset"), Some("error"));
        assert_eq!(fetcher.get("fetch.wait.max.ms"), Some("10"));
        // The probe takes what all clients share, nothing of a role.
        let probe = probe(&k);
        assert_eq!(probe.get("client.id"), Some("vigil-1"));
        assert_eq!(probe.get("isolation.level"), None);
        assert_eq!(probe.get("enable.idempotence"), None);
    }

    #[test]
    fn the_transactional_id_is_configured_or_stable_per_instance() {
        let mut k = KafkaConfig {
            group_id: "scanners".into(),
            ..KafkaConfig::default()
        };
        let derived = transactional_id(&k, 9464);
        assert!(derived.starts_with("scanners-"), "{derived}");
        assert!(derived.ends_with("-9464"), "{derived}");
        assert_eq!(derived, transactional_id(&k, 9464));
        assert_ne!(derived, transactional_id(&k, 9465));
        k.transactional_id = "eos-1".into();
        assert_eq!(transactional_id(&k, 9464), "eos-1");
    }

    #[test]
    fn tls_and_sasl_become_librdkafka_properties_of_every_client() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["ca.pem", "client.pem", "client.key"] {
            std::fs::write(dir.path().join(name), "pem").unwrap();
        }
        let k = load(
            r#"
            [kafka.tls]
            ca_file = "ca.pem"
            cert_file = "client.pem"
            key_file = "client.key"
            key_password = "key-pw"
            verify_hostname = false
            [kafka.sasl]
            mechanism = "SCRAM-SHA-256"
            username = "vigil"
            password_env = "KAFKA_PW"
            [kafka.producer]
            "ssl.endpoint.identification.algorithm" = "https"
            "#,
            dir.path(),
        );
        let file = |name: &str| dir.path().join(name).display().to_string();
        let expected = [
            ("security.protocol", "SASL_SSL".to_string()),
            ("ssl.ca.location", file("ca.pem")),
            ("ssl.certificate.location", file("client.pem")),
            ("ssl.key.location", file("client.key")),
            ("ssl.key.password", "key-pw".into()),
            ("sasl.mechanisms", "SCRAM-SHA-256".into()),
            ("sasl.username", "vigil".into()),
            ("sasl.password", "pw-from-env".into()),
        ];
        let mut clients = roles(&k);
        clients.push(("probe", probe(&k)));
        for (role, client) in &clients {
            for (key, value) in &expected {
                assert_eq!(client.get(key), Some(value.as_str()), "{role}: {key}");
            }
            // rdkafka's Debug leaves secrets out; vigil never logs a client's settings anyway.
            let debug = format!("{client:?}");
            assert!(
                !debug.contains("pw-from-env") && !debug.contains("key-pw"),
                "{debug}"
            );
            // The client-specific passthrough still wins.
            let verify = client.get("ssl.endpoint.identification.algorithm");
            let wanted = if role.ends_with("producer") {
                "https"
            } else {
                "none"
            };
            assert_eq!(verify, Some(wanted), "{role}");
        }
    }

    #[test]
    fn the_protocol_follows_the_sections_present() {
        let dir = tempfile::tempdir().unwrap();
        let sasl =
            "[kafka.sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"u\"\npassword = \"p\"\n";
        for (text, protocol) in [
            ("", None),
            ("[kafka.tls]\n", Some("SSL")),
            (sasl, Some("SASL_PLAINTEXT")),
        ] {
            let client = probe(&load(text, dir.path()));
            assert_eq!(client.get("security.protocol"), protocol, "{text}");
        }
        let tls_only = probe(&load("[kafka.tls]\n", dir.path()));
        assert_eq!(tls_only.get("ssl.ca.location"), None);
        assert_eq!(
            tls_only.get("ssl.endpoint.identification.algorithm"),
            Some("https")
        );
    }
}
