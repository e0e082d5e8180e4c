//! Kafka over TLS with SCRAM: a broker of the test's own (deploy/local/kafka) whose client
//! listener takes only SASL_SSL, SCRAM-SHA-512 and a client certificate; the CAs, keys and
//! certificates are made here with openssl, the SCRAM user when the broker's storage is
//! formatted. With the right CA, certificate and password `vigil run` scans and flags and
//! `vigil audit` reads the verdicts; with a CA that did not sign the broker's certificate, or
//! a wrong password, both exit at start-up naming the cause and the keys to check; with the
//! broker down, vigil starts and waits for it as without TLS. No output of any run holds a
//! password, even with librdkafka's security and configuration debugging on.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::openssl;
use kafka_support::{
    LocalBroker, Topics, assert_flagged, free_port, lists_section, messages, produce,
    read_at_least, topics, unique,
};

/// The broker's PLAINTEXT listener (the test's own clients); its controller is on `PORT + 1`.
const PORT: u16 = 29592;
/// The broker's SASL_SSL listener: the only one vigil uses.
const SECURE_PORT: u16 = 29594;
/// Distinctive, so any leak into an output is found.
const PASSWORD: &str = "scram-Pw-5d1e9c7a";
const KEY_PASSWORD: &str = "client-key-Pw-8a7f3b21";
const WRONG_PASSWORD: &str = "wrong-Pw-c0ffee42";
/// A refused start must end within the check's bound (20 s) plus start-up.
const REFUSAL_BOUND: Duration = Duration::from_secs(35);

/// Keys and certificates: two CAs (`ca`, which signs the broker's and the client's
/// certificates, and the unrelated `other-ca`), the broker's PEM key store and the client's
/// certificate with an encrypted key.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        for ca in ["ca", "other-ca"] {
            let (key, cert, subject) = (
                format!("{ca}.key"),
                format!("{ca}.pem"),
                format!("/CN=vigil test {ca}"),
            );
            let mut args = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", &subject];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &cert]);
            openssl(d, &args);
        }
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        let key_pass = format!("pass:{KEY_PASSWORD}");
        for (name, subject, key_args) in [
            ("server", "/CN=localhost", vec!["-nodes"]),
            ("client", "/CN=vigil", vec!["-passout", key_pass.as_str()]),
        ] {
            let (key, csr, cert, ext) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
                format!("{name}.ext"),
            );
            let mut args = vec!["req", "-subj", subject, "-keyout", &key, "-out", &csr];
            args.extend(ec);
            args.extend(key_args);
            openssl(d, &args);
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                    "-out",
                    &cert,
                ],
            );
        }
        // Kafka's PEM key store: the private key (PKCS#8), then the certificate chain.
        let keystore: String = ["server.key", "server.pem", "ca.pem"]
            .iter()
            .map(|f| std::fs::read_to_string(d.join(f)).unwrap())
            .collect();
        std::fs::write(d.join("keystore.pem"), keystore).unwrap();
        std::fs::write(d.join("scram-password"), format!("{PASSWORD}\n")).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The broker's extra server.properties: a SASL_SSL listener next to PLAINTEXT, client
    /// certificates required.
    fn broker_config(&self) -> String {
        format!(
            "listeners=PLAINTEXT://127.0.0.1:{PORT},CONTROLLER://127.0.0.1:{controller},\
             SASL_SSL://127.0.0.1:{SECURE_PORT}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{PORT},SASL_SSL://127.0.0.1:{SECURE_PORT}\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL\n\
             sasl.enabled.mechanisms=SCRAM-SHA-512\n\
             listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\
             org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
             ssl.keystore.type=PEM\n\
             ssl.keystore.location={keystore}\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.location={ca}\n\
             ssl.client.auth=required\n",
            controller = PORT + 1,
            keystore = self.path("keystore.pem").display(),
            ca = self.path("ca.pem").display(),
        )
    }
}

/// vigil's configuration for the SASL_SSL listener; `ca` names the CA file, `password` is the
/// `[kafka.sasl]` line giving the password.
fn vigil_config(pki: &Pki, t: &Topics, ca: &str, password: &str) -> String {
    format!(
        r#"{lists}
[kafka]
brokers = "127.0.0.1:{SECURE_PORT}"
group_id = "{group}"
input_topics = ["{input}"]
review_topic = "{flags}"
dead_letter_topic = "{dlq}"
verdict_topic = "{verdicts}"
shutdown_timeout_secs = 10
[kafka.tls]
ca_file = {ca:?}
cert_file = {cert:?}
key_file = {key:?}
key_password = "{KEY_PASSWORD}"
[kafka.sasl]
mechanism = "SCRAM-SHA-512"
username = "vigil"
{password}
[kafka.client]
# librdkafka's own logging of its configuration and of the handshakes, so the secrecy
# checks cover it too.
debug = "conf,security,broker"
"#,
        lists = lists_section(),
        group = unique("tls"),
        input = t.input,
        flags = t.flags,
        dlq = t.dlq,
        verdicts = t.verdicts,
        ca = pki.path(ca).display().to_string(),
        cert = pki.path("client.pem").display().to_string(),
        key = pki.path("client.key").display().to_string(),
    )
}

/// `vigil ARGS --config FILE` running with `config` (written with an admin address of its
/// own), its stdout and stderr in files.
struct Run {
    child: std::process::Child,
    dir: tempfile::TempDir,
    started: Instant,
}

impl Run {
    fn start(config: &str, args: &[&str]) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vigil.toml");
        let admin = format!("\n[admin]\nlisten = \"127.0.0.1:{}\"\n", free_port());
        std::fs::write(&path, format!("{config}{admin}")).unwrap();
        let file = |name: &str| Stdio::from(std::fs::File::create(dir.path().join(name)).unwrap());
        let child = common::vigil(dir.path())
            .args(args)
            .args(["--config", path.to_str().unwrap()])
            .env("VIGIL_LOG", "debug")
            .stdout(file("stdout"))
            .stderr(file("stderr"))
            .spawn()
            .unwrap();
        Run {
            child,
            dir,
            started: Instant::now(),
        }
    }

    /// stdout, then stderr.
    fn output(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap();
        read("stdout") + &read("stderr")
    }

    /// SIGTERM, then [`Run::wait`].
    fn terminate(self, bound: Duration) -> (bool, String, Duration) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.wait(bound)
    }

    /// Waits for the exit; panics past `bound`. Returns (success, output, time taken).
    fn wait(mut self, bound: Duration) -> (bool, String, Duration) {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.success(), self.output(), self.started.elapsed());
            }
            if self.started.elapsed() > bound {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("vigil still running after {bound:?}:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn run_to_exit(config: &str, args: &[&str], bound: Duration) -> (bool, String, Duration) {
    Run::start(config, args).wait(bound)
}

/// No password in `output`.
fn assert_no_secrets(what: &str, output: &str) {
    for secret in [PASSWORD, KEY_PASSWORD, WRONG_PASSWORD] {
        assert!(
            !output.contains(secret),
            "{what}: the output shows a password:\n{output}"
        );
    }
}

/// The line vigil ends with when it fails.
fn error_line(output: &str) -> &str {
    output
        .lines()
        .find(|l| l.starts_with("vigil: error:"))
        .unwrap_or("(no error line)")
}

#[test]
fn tls_and_scram_connect_a_wrong_ca_or_password_stops_vigil_naming_it_an_outage_does_not() {
    let started = Instant::now();
    let pki = Pki::new();
    let scram = format!("--add-scram SCRAM-SHA-512=[name=vigil,password={PASSWORD}]");
    let broker = LocalBroker::start_with(
        PORT,
        &[
            ("KAFKA_EXTRA_CONFIG", &pki.broker_config()),
            ("KAFKA_FORMAT_ARGS", &scram),
        ],
    );
    kafka_support::use_brokers(&broker.address);
    let broker_up = started.elapsed();
    let t = topics("tls", 2);
    let (records, expected) = messages(30, "tls");
    produce(&t.input, &records);

    // The right CA, client certificate and password (from a file): vigil joins the group
    // over SASL_SSL, scans and flags.
    let password_file = format!(
        "password_file = {:?}",
        pki.path("scram-password").display().to_string()
    );
    let good = vigil_config(&pki, &t, "ca.pem", &password_file);
    let scanning = Instant::now();
    let vigil = Run::start(&good, &["run"]);
    assert_flagged(&t.flags, &expected);
    read_at_least(&t.verdicts, records.len(), Duration::from_secs(60));
    let flagged_in = scanning.elapsed();
    let (clean, logs, _) = vigil.terminate(Duration::from_secs(30));
    assert!(clean, "vigil run did not stop cleanly:\n{logs}");
    assert_no_secrets("vigil run", &logs);
    // The secrecy check saw librdkafka's configuration dump and SASL exchange.
    assert!(logs.contains("sasl.username"), "{logs}");
    assert!(logs.contains("SCRAM-SHA-512"), "{logs}");

    // vigil audit reads the verdicts through the same settings.
    let (ok, output, _) = run_to_exit(&good, &["audit", "--format", "json"], REFUSAL_BOUND);
    assert!(ok, "vigil audit failed:\n{output}");
    assert!(output.contains("\"records\": 30"), "{output}");
    assert_no_secrets("vigil audit", &output);

    // A CA that did not sign the broker's certificate.
    let wrong_ca = vigil_config(&pki, &t, "other-ca.pem", &password_file);
    let (ok, output, wrong_ca_took) = run_to_exit(&wrong_ca, &["run"], REFUSAL_BOUND);
    assert!(!ok, "vigil run with the wrong CA succeeded:\n{output}");
    for needle in [
        &format!("TLS handshake with 127.0.0.1:{SECURE_PORT} failed"),
        "certificate verify failed",
        "check kafka.tls.ca_file",
    ] {
        assert!(
            output.contains(needle),
            "wrong CA: no `{needle}` in:\n{output}"
        );
    }
    assert_no_secrets("vigil run, wrong CA", &output);
    println!("wrong CA: {}", error_line(&output));

    // A wrong password, given inline.
    let wrong_password = vigil_config(
        &pki,
        &t,
        "ca.pem",
        &format!("password = \"{WRONG_PASSWORD}\""),
    );
    let mut refusals = Vec::new();
    for args in [&["run"][..], &["audit"]] {
        let (ok, output, took) = run_to_exit(&wrong_password, args, REFUSAL_BOUND);
        assert!(
            !ok,
            "vigil {args:?} with a wrong password succeeded:\n{output}"
        );
        for needle in [
            &format!("SASL authentication with 127.0.0.1:{SECURE_PORT} failed"),
            "check kafka.sasl.username",
        ] {
            assert!(
                output.contains(needle),
                "wrong password, vigil {args:?}: no `{needle}` in:\n{output}"
            );
        }
        assert_no_secrets("wrong password", &output);
        println!("wrong password, vigil {args:?}: {}", error_line(&output));
        refusals.push(took);
    }
    drop(broker);

    // With the broker gone, the check lets vigil start and wait for it, as without TLS: an
    // outage is not a refusal.
    let mut waiting = Run::start(&good, &["run"]);
    std::thread::sleep(Duration::from_secs(5));
    let still_running = waiting.child.try_wait().unwrap().is_none();
    let _ = waiting.child.kill();
    let _ = waiting.child.wait();
    let output = waiting.output();
    assert!(
        still_running,
        "vigil exited with the broker down:\n{output}"
    );
    assert!(
        output.contains("no Kafka broker reachable for the TLS/SASL check; continuing"),
        "{output}"
    );
    assert_no_secrets("vigil run, broker down", &output);
    // Reported in the hand-over (run with --nocapture).
    println!(
        "broker with TLS+SCRAM up in {broker_up:?}; 30 DMs flagged in {flagged_in:?}; \
         wrong CA refused in {wrong_ca_took:?}; wrong password refused in {refusals:?} \
         (run, audit); whole test {:?}",
        started.elapsed()
    );
}
