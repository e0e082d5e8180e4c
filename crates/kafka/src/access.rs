//! The start-up check of `[kafka.tls]` and `[kafka.sasl]`. librdkafka retries a refused TLS
//! handshake or SASL login forever, so a wrong CA or password would leave vigil running,
//! consuming nothing, with the cause only in its logs. Every Kafka command connects once
//! first and stops with the cause instead. An unreachable broker is not refused access: the
//! runtime waits for it as it always does.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::KafkaConfig;
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use tracing::{debug, warn};

use crate::client;

/// How long the check waits for a broker to accept or refuse the connection.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one metadata request of the check may wait before the check looks at errors.
const CHECK_STEP: Duration = Duration::from_millis(250);

/// The brokers refused vigil's TLS or SASL settings. Not retryable: fix the configuration.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The TLS handshake failed (an unknown CA, a certificate for another host, a client
    /// certificate the broker requires or refuses).
    #[error("TLS handshake with {broker} failed: {reason} — check {hint}")]
    Tls {
        /// The broker, `host:port`.
        broker: String,
        /// librdkafka's description.
        reason: String,
        /// Which configuration keys to check.
        hint: &'static str,
    },
    /// The broker refused the SASL credentials or mechanism.
    #[error(
        "SASL authentication with {broker} failed: {reason} — check kafka.sasl.username, \
         the password (kafka.sasl.password, password_file or password_env) and \
         kafka.sasl.mechanism"
    )]
    Authentication {
        /// The broker, `host:port`.
        broker: String,
        /// librdkafka's description.
        reason: String,
    },
    /// The client for the check could not be created (e.g. an unreadable certificate).
    #[error("cannot set up a Kafka client with the TLS/SASL settings: {0}")]
    Client(KafkaError),
}

/// What the check has seen so far.
#[derive(Default)]
struct Seen {
    refused: Option<AccessError>,
    all_brokers_down: bool,
}

#[derive(Default)]
struct Check {
    seen: Mutex<Seen>,
}

impl ClientContext for Check {
    fn error(&self, error: KafkaError, reason: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::SSL) if seen.refused.is_none() => {
                seen.refused = Some(tls_error(reason));
            }
            Some(RDKafkaErrorCode::Authentication) if seen.refused.is_none() => {
                let (broker, reason) = split_reason(reason);
                seen.refused = Some(AccessError::Authentication { broker, reason });
            }
            Some(RDKafkaErrorCode::AllBrokersDown) => seen.all_brokers_down = true,
            _ => debug!(error = %error, reason, "connection check"),
        }
    }

    /// The check reports its own error; librdkafka's lines about it would only repeat it.
    fn log(&self, _level: RDKafkaLogLevel, facility: &str, message: &str) {
        debug!(facility, message, "librdkafka (connection check)");
    }
}

impl ProducerContext for Check {
    type DeliveryOpaque = ();

    /// The check produces nothing.
    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: ()) {}
}

/// Whether `client` speaks TLS or SASL (from `[kafka.tls]`/`[kafka.sasl]` or
/// `[kafka.client]`): only then can access be refused at the handshake.
fn secured(client: &ClientConfig) -> bool {
    client
        .get("security.protocol")
        .is_some_and(|p| !p.eq_ignore_ascii_case("plaintext"))
}

/// Connects once with the settings every client of `[kafka]` shares and fails if the
/// brokers refuse the TLS handshake or the SASL credentials. Returns at once without TLS and
/// SASL; returns `Ok` when no broker is reachable or none answers within the bound (the
/// clients then retry as usual).
pub fn check_access(kafka: &KafkaConfig) -> Result<(), AccessError> {
    let client = client::probe(kafka);
    if !secured(&client) {
        return Ok(());
    }
    let probe: BaseProducer<Check> = client
        .create_with_context(Check::default())
        .map_err(AccessError::Client)?;
    let started = Instant::now();
    while started.elapsed() < CHECK_TIMEOUT {
        if probe.client().fetch_metadata(None, CHECK_STEP).is_ok() {
            debug!(took = ?started.elapsed(), "TLS/SASL connection check passed");
            return Ok(());
        }
        // Serves the queued events (logs, errors) for a while, in the order librdkafka
        // raised them: a refusal comes before the "all brokers down" it causes.
        probe.poll(CHECK_STEP);
        let mut seen = probe
            .context()
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(refused) = seen.refused.take() {
            return Err(refused);
        }
        if seen.all_brokers_down {
            warn!("no Kafka broker reachable for the TLS/SASL check; continuing");
            return Ok(());
        }
    }
    warn!(
        seconds = CHECK_TIMEOUT.as_secs(),
        "no Kafka broker answered the TLS/SASL check in time; continuing"
    );
    Ok(())
}

/// `sasl_ssl://host:port/bootstrap: text` → (`host:port`, `text`).
fn split_reason(reason: &str) -> (String, String) {
    let Some((name, text)) = reason.split_once(": ") else {
        return ("the broker".into(), reason.to_string());
    };
    let address = name.split_once("://").map_or(name, |(_, rest)| rest);
    let address = address.split('/').next().unwrap_or(address);
    (address.to_string(), text.to_string())
}

fn tls_error(reason: &str) -> AccessError {
    let (broker, reason) = split_reason(reason);
    let hint = if reason.contains("certificate verify failed") {
        "kafka.tls.ca_file (the CA that signed the brokers' certificates) and \
         kafka.tls.verify_hostname"
    } else if reason.contains("client SSL authentication might be required") {
        "kafka.tls.cert_file and kafka.tls.key_file (the broker wants a client certificate)"
    } else {
        "[kafka.tls] (ca_file, cert_file, key_file, key_password)"
    };
    AccessError::Tls {
        broker,
        reason,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_broker_and_the_keys_to_check() {
        let reason = "sasl_ssl://127.0.0.1:29594/bootstrap: SSL handshake failed: \
                      error:0A000086:SSL routines::certificate verify failed: broker \
                      certificate could not be verified (after 3ms in state SSL_HANDSHAKE)";
        let message = tls_error(reason).to_string();
        assert!(
            message.starts_with("TLS handshake with 127.0.0.1:29594 failed: SSL handshake"),
            "{message}"
        );
        assert!(message.contains("check kafka.tls.ca_file"), "{message}");
        let (broker, text) = split_reason("sasl_ssl://kafka-1:9093/1: SASL authentication error");
        assert_eq!(broker, "kafka-1:9093");
        assert_eq!(text, "SASL authentication error");
        let message = AccessError::Authentication {
            broker,
            reason: text,
        }
        .to_string();
        assert!(
            message.contains("SASL authentication with kafka-1:9093 failed"),
            "{message}"
        );
    }

    #[test]
    fn plaintext_is_not_checked() {
        assert!(check_access(&KafkaConfig::default()).is_ok());
    }
}
