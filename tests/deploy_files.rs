//! The deployment files under `deploy/`: they parse, the Kubernetes base lists real files,
//! the two `vigil.toml` files pass vigil's own configuration schema and would start
//! `vigil run` (signed lists in Kubernetes, unsigned said explicitly in compose) with a ledger
//! on a persistent volume or a maximum list age, the alerts and the
//! Grafana dashboard only query metrics and labels vigil exports
//! (`vigil_metrics::names::ALL`), the PrometheusRule carries exactly the alerts of
//! `deploy/prometheus/alerts.yml`, the admin port, consumer group and input topic agree
//! across config, Deployment, Service, KEDA, ServiceMonitor, compose and Prometheus, images
//! are pinned, and Prometheus' own `promtool` (from `deploy/local/prometheus`) accepts the
//! rules, the scrape config, the alert unit tests and every dashboard query.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use vigil_config::Config;
use vigil_metrics::names::{ALL, Def, REVIEW};

/// What every file must agree on.
const ADMIN_PORT: u16 = 9464;
const GROUP_ID: &str = "vigil";
const INPUT_TOPIC: &str = "dms";
/// The Prometheus job the alerts select (`up{job="vigil"}`).
const JOB: &str = "vigil";
/// The partition count of the input topic that `maxReplicaCount` assumes.
const INPUT_PARTITIONS: u64 = 12;

/// Labels Prometheus adds to every scraped series (compose and Prometheus Operator).
const TARGET_LABELS: &[&str] = &[
    "job",
    "instance",
    "namespace",
    "pod",
    "service",
    "container",
    "endpoint",
];
/// Standard process metrics (the prometheus crate's process collector), and `up`.
const OTHER_METRICS: &[&str] = &[
    "up",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
];

/// Every alert, and the anchor of its runbook in docs/operations.md.
const ALERTS: &[(&str, &str)] = &[
    ("VigilConsumerLagGrowing", "lag-growing"),
    ("VigilStalled", "stalled"),
    ("VigilDeadLetterSpike", "dead-letter-spike"),
    ("VigilCrashLoop", "crash-loop"),
    ("VigilVideoWorkersCrashing", "video-workers-crashing"),
    ("VigilListStale", "list-stale"),
    ("VigilListReloadFailed", "list-reload-failed"),
    ("VigilCanaryMissing", "canary-missing"),
    ("VigilEntriesQuarantined", "entries-quarantined"),
    ("VigilProducerErrors", "producer-errors"),
    ("VigilMemoryHigh", "memory-high"),
    ("VigilReviewIngestStalled", "review-ingest-stalled"),
    ("VigilReviewRecordsRejected", "review-records-rejected"),
];

const K8S: &str = "deploy/k8s/base";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(path: &str) -> Json {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The string at `value`, or a panic naming `what`.
fn text<'a>(value: &'a Yaml, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {value:?}"))
}

fn seq<'a>(value: &'a Yaml, what: &str) -> &'a [Yaml] {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("{what}: expected a list, got {value:?}"))
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo()).unwrap().display().to_string()
}

// --- the Kubernetes base ----------------------------------------------------------------

struct Kustomization {
    value: Yaml,
}

impl Kustomization {
    fn load() -> Kustomization {
        Kustomization {
            value: yaml(&format!("{K8S}/kustomization.yaml")),
        }
    }

    fn resources(&self) -> Vec<String> {
        seq(&self.value["resources"], "resources")
            .iter()
            .map(|r| text(r, "resources[]").to_string())
            .collect()
    }

    /// The resource of this kind (the base holds one of each).
    fn resource(&self, kind: &str) -> Yaml {
        let found: Vec<Yaml> = self
            .resources()
            .iter()
            .map(|r| yaml(&format!("{K8S}/{r}")))
            .filter(|doc| doc["kind"].as_str() == Some(kind))
            .collect();
        assert_eq!(found.len(), 1, "one {kind} in {K8S}");
        found.into_iter().next().unwrap()
    }

    /// `key` of the generated ConfigMap `name` (its `literals`).
    fn config_map_value(&self, name: &str, key: &str) -> String {
        for generator in seq(&self.value["configMapGenerator"], "configMapGenerator") {
            if generator["name"].as_str() != Some(name) {
                continue;
            }
            for literal in generator["literals"].as_sequence().into_iter().flatten() {
                let (k, v) = text(literal, "literals[]").split_once('=').unwrap();
                if k == key {
                    return v.to_string();
                }
            }
        }
        panic!("no literal {key} in the configMapGenerator {name}");
    }
}

/// The one container of the Deployment's pod template.
fn container(deployment: &Yaml) -> &Yaml {
    let containers = seq(
        &deployment["spec"]["template"]["spec"]["containers"],
        "containers",
    );
    assert_eq!(containers.len(), 1, "one container in the Deployment");
    &containers[0]
}

/// The container's environment, with `configMapKeyRef`s resolved from the kustomization's
/// generated ConfigMaps, as vigil would see it.
fn container_env(container: &Yaml, kustomization: &Kustomization) -> Vec<(String, String)> {
    seq(&container["env"], "env")
        .iter()
        .map(|var| {
            let name = text(&var["name"], "env[].name").to_string();
            let value = if let Some(value) = var["value"].as_str() {
                value.to_string()
            } else {
                let reference = &var["valueFrom"]["configMapKeyRef"];
                kustomization.config_map_value(
                    text(&reference["name"], "configMapKeyRef.name"),
                    text(&reference["key"], "configMapKeyRef.key"),
                )
            };
            (name, value)
        })
        .collect()
}

/// The `--config` argument of `vigil run`.
fn config_arg(args: &[Yaml]) -> String {
    let args: Vec<&str> = args.iter().map(|a| text(a, "args[]")).collect();
    assert_eq!(args.first(), Some(&"run"), "{args:?}");
    let at = args.iter().position(|a| *a == "--config").unwrap();
    args[at + 1].to_string()
}

fn labels_match(selector: &Yaml, labels: &Yaml, what: &str) {
    let selector = selector
        .as_mapping()
        .unwrap_or_else(|| panic!("{what}: no selector"));
    assert!(!selector.is_empty(), "{what}: empty selector");
    for (key, value) in selector {
        assert_eq!(&labels[key], value, "{what}: label {key:?}");
    }
}

// --- compose ------------------------------------------------------------------------------

fn compose() -> Yaml {
    yaml("deploy/docker-compose.yml")
}

/// `(host path relative to deploy/, container path)` of a service's bind mounts.
fn compose_mounts(service: &Yaml) -> Vec<(String, String)> {
    seq(&service["volumes"], "volumes")
        .iter()
        .map(|v| {
            let mut parts = text(v, "volumes[]").split(':');
            let source = parts.next().unwrap().to_string();
            let target = parts.next().unwrap().to_string();
            (source, target)
        })
        .collect()
}

/// The host file mounted at `target` (directly or through a mounted directory).
fn compose_host_path(service: &Yaml, target: &Path) -> PathBuf {
    compose_mounts(service)
        .into_iter()
        .filter(|(_, mount)| target.starts_with(mount))
        .max_by_key(|(_, mount)| mount.len())
        .map(|(source, mount)| {
            let rest = target.strip_prefix(&mount).unwrap();
            let host = repo().join("deploy").join(source);
            // A file mounted as itself: joining "" would add a trailing slash.
            if rest.as_os_str().is_empty() {
                host
            } else {
                host.join(rest)
            }
        })
        .unwrap_or_else(|| panic!("{} is not mounted", target.display()))
}

fn compose_env(service: &Yaml) -> Vec<(String, String)> {
    let environment = service["environment"].as_mapping().unwrap();
    environment
        .iter()
        .map(|(k, v)| {
            (
                text(k, "environment key").to_string(),
                text(v, "environment value").to_string(),
            )
        })
        .collect()
}

// --- the tests -------------------------------------------------------------------------------

#[test]
fn every_deploy_yaml_and_json_file_parses_and_the_kustomization_lists_real_files() {
    let mut files = Vec::new();
    files_under(&repo().join("deploy"), &mut files);
    let mut parsed = BTreeSet::new();
    for path in &files {
        let name = relative(path);
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if extension == "yml" || extension == "yaml" {
            let text = std::fs::read_to_string(path).unwrap();
            let mut documents = 0;
            for document in serde_norway::Deserializer::from_str(&text) {
                Yaml::deserialize(document).unwrap_or_else(|e| panic!("{name}: {e}"));
                documents += 1;
            }
            assert!(documents > 0, "{name}: empty");
            parsed.insert(name);
        } else if extension == "json" {
            json(&name);
            parsed.insert(name);
        }
    }
    for expected in [
        "deploy/docker-compose.yml",
        "deploy/prometheus/prometheus.yml",
        "deploy/prometheus/alerts.yml",
        "deploy/prometheus/alerts.test.yml",
        "deploy/grafana/vigil.json",
        "deploy/grafana/provisioning/datasources/prometheus.yml",
        "deploy/grafana/provisioning/dashboards/vigil.yml",
        "deploy/k8s/base/kustomization.yaml",
        "deploy/k8s/base/deployment.yaml",
        "deploy/k8s/base/prometheusrule.yaml",
    ] {
        assert!(parsed.contains(expected), "{expected} was not parsed");
    }

    let kustomization = Kustomization::load();
    let resources = kustomization.resources();
    for resource in &resources {
        let doc = yaml(&format!("{K8S}/{resource}"));
        for field in ["apiVersion", "kind"] {
            text(&doc[field], &format!("{resource}: {field}"));
        }
        text(
            &doc["metadata"]["name"],
            &format!("{resource}: metadata.name"),
        );
    }
    let mut generated = Vec::new();
    for generator in seq(
        &kustomization.value["configMapGenerator"],
        "configMapGenerator",
    ) {
        for file in generator["files"].as_sequence().into_iter().flatten() {
            let file = text(file, "files[]");
            // `key=path` names the key; the path is what must exist.
            let path = file.split_once('=').map_or(file, |(_, path)| path);
            assert!(
                repo().join(K8S).join(path).is_file(),
                "{K8S}/{path} missing"
            );
            generated.push(path.to_string());
        }
    }
    assert!(
        generated.contains(&"vigil.toml".to_string()),
        "{generated:?}"
    );
    // Every manifest in the folder is either a resource or the kustomization itself.
    for path in files.iter().filter(|p| p.starts_with(repo().join(K8S))) {
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            assert!(
                resources.iter().any(|r| r == name),
                "{name} is not in resources"
            );
        }
    }
}

/// The compose file and vigil's configuration as the `vigil` container sees it, with its
/// environment.
fn compose_config() -> (Yaml, Config) {
    let compose = compose();
    let service = &compose["services"]["vigil"];
    let config_path = config_arg(seq(&service["command"], "command"));
    let host_config = compose_host_path(service, Path::new(&config_path));
    assert_eq!(host_config, repo().join("deploy/./compose/vigil.toml"));
    let config = Config::from_toml(
        &read("deploy/compose/vigil.toml"),
        "deploy/compose/vigil.toml",
        Path::new(&config_path).parent().unwrap(),
        compose_env(service),
    )
    .unwrap();
    (compose, config)
}

/// The Deployment and vigil's configuration: the ConfigMap as the Deployment mounts it, with
/// the Deployment's environment.
fn k8s_config(kustomization: &Kustomization) -> (Yaml, Config) {
    let deployment = kustomization.resource("Deployment");
    let container = container(&deployment);
    let config_path = config_arg(seq(&container["args"], "args"));
    let env = container_env(container, kustomization);
    let config = Config::from_toml(
        &read(&format!("{K8S}/vigil.toml")),
        &format!("{K8S}/vigil.toml"),
        Path::new(&config_path).parent().unwrap(),
        env,
    )
    .unwrap();
    (deployment, config)
}

/// The pod volume that holds `path` in the Deployment's container.
fn k8s_volume_of(deployment: &Yaml, path: &Path) -> Yaml {
    let mounts = seq(&container(deployment)["volumeMounts"], "volumeMounts");
    let mount = mounts
        .iter()
        .filter(|m| path.starts_with(text(&m["mountPath"], "mountPath")))
        .max_by_key(|m| text(&m["mountPath"], "mountPath").len())
        .unwrap_or_else(|| panic!("{} is on no volume", path.display()));
    seq(
        &deployment["spec"]["template"]["spec"]["volumes"],
        "volumes",
    )
    .iter()
    .find(|v| v["name"] == mount["name"])
    .unwrap()
    .clone()
}

#[test]
fn both_vigil_toml_files_pass_vigils_config_schema() {
    let (compose, config) = compose_config();
    let service = &compose["services"]["vigil"];
    let config_path = config_arg(seq(&service["command"], "command"));
    assert_eq!(config.kafka.brokers, "kafka:19092");
    assert_eq!(config.kafka.review_topic, "vigil.flags");
    assert_eq!(config.kafka.dead_letter_topic, "vigil.dlq");
    assert_eq!(
        config.kafka.verdict_topic.as_deref(),
        Some("vigil.verdicts")
    );
    let lists: Vec<_> = (config.lists.hash_lists.iter())
        .chain(&config.lists.keyword_lists)
        .collect();
    assert!(lists.len() >= 2, "{lists:?}");
    for list in lists {
        // Every list is one of the example lists, mounted into the container.
        let host = compose_host_path(service, &list.path);
        assert!(
            host.is_file(),
            "{} -> {} missing",
            list.path.display(),
            host.display()
        );
        assert!(
            host.starts_with(repo().join("deploy/../examples/lists")),
            "{host:?}"
        );
    }
    check_common(&config, "deploy/compose/vigil.toml");

    // The review console reads the same file, with its database from its own environment,
    // and is published on the port it listens on.
    let review = &compose["services"]["review"];
    let args: Vec<&str> = seq(&review["command"], "command")
        .iter()
        .map(|a| text(a, "command[]"))
        .collect();
    assert_eq!(args, ["review", "serve", "--config", config_path.as_str()]);
    let console = Config::from_toml(
        &read("deploy/compose/vigil.toml"),
        "deploy/compose/vigil.toml",
        Path::new(&config_path).parent().unwrap(),
        compose_env(review),
    )
    .unwrap();
    assert!(
        console
            .review
            .database_url
            .expose()
            .starts_with("postgres://vigil_console:"),
        "the console runs as its own role, not the store's owner"
    );
    assert!(
        console
            .review
            .database_url
            .expose()
            .contains("@postgres:5432/vigil"),
        "the console's database is the postgres service"
    );
    assert!(
        console.review.owner_database_url.is_none() && !console.review.single_role,
        "the console never gets the owner's password"
    );
    // The owner migrates and grants, once, before the console starts.
    let migrate = &compose["services"]["review-migrate"];
    let args: Vec<&str> = seq(&migrate["command"], "command")
        .iter()
        .map(|a| text(a, "command[]"))
        .collect();
    assert_eq!(
        args,
        ["review", "migrate", "--config", config_path.as_str()]
    );
    let migrating = Config::from_toml(
        &read("deploy/compose/vigil.toml"),
        "deploy/compose/vigil.toml",
        Path::new(&config_path).parent().unwrap(),
        compose_env(migrate),
    )
    .unwrap();
    let owner = migrating
        .review
        .owner_database_url
        .expect("the owner's URL");
    assert!(owner.expose().starts_with("postgres://vigil:"));
    assert_eq!(
        migrating.review.database_url.expose(),
        console.review.database_url.expose(),
        "the role granted is the console's"
    );
    assert_eq!(
        review["depends_on"]["review-migrate"]["condition"].as_str(),
        Some("service_completed_successfully")
    );
    let roles = compose_host_path(
        &compose["services"]["postgres"],
        Path::new("/docker-entrypoint-initdb.d/postgres-roles.sh"),
    );
    assert!(
        std::fs::read_to_string(&roles)
            .unwrap()
            .contains("CREATE ROLE vigil_console LOGIN"),
        "{roles:?}"
    );
    let published = format!("127.0.0.1:{0}:{0}", console.review.listen.port());
    assert!(
        seq(&review["ports"], "ports")
            .iter()
            .any(|p| p.as_str() == Some(published.as_str())),
        "{published} not published"
    );

    let kustomization = Kustomization::load();
    let (deployment, config) = k8s_config(&kustomization);
    assert_eq!(
        config.kafka.brokers,
        kustomization.config_map_value("vigil-kafka", "brokers")
    );
    check_common(&config, &format!("{K8S}/vigil.toml"));

    // Files vigil reads come from the volumes the Deployment mounts there.
    let config_path = config_arg(seq(&container(&deployment)["args"], "args"));
    assert_eq!(
        k8s_volume_of(&deployment, Path::new(&config_path))["configMap"]["name"].as_str(),
        Some("vigil-config")
    );
    let lists: Vec<_> = (config.lists.hash_lists.iter())
        .chain(&config.lists.keyword_lists)
        .collect();
    assert!(lists.len() >= 2, "{lists:?}");
    for list in &lists {
        let volume = k8s_volume_of(&deployment, &list.path);
        assert_eq!(
            volume["secret"]["secretName"].as_str(),
            Some("vigil-lists"),
            "{}",
            list.path.display()
        );
    }
    // VigilCanaryMissing watches the list named canary.
    assert!(
        lists.iter().any(|l| l.name.as_deref() == Some("canary")),
        "no list named canary"
    );
    assert!(!config.lists.trusted_keys.is_empty());
    for key in &config.lists.trusted_keys {
        let volume = k8s_volume_of(&deployment, key);
        assert_eq!(
            volume["secret"]["secretName"].as_str(),
            Some("vigil-list-keys"),
            "{}",
            key.display()
        );
    }
    // SIGTERM drains for up to shutdown_timeout_secs; the kubelet must wait longer.
    let pod = &deployment["spec"]["template"]["spec"];
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > config.kafka.shutdown_timeout_secs,
        "terminationGracePeriodSeconds {grace} <= kafka.shutdown_timeout_secs {}",
        config.kafka.shutdown_timeout_secs
    );
}

#[test]
fn deployed_vigil_run_starts_and_a_restart_cannot_take_lists_back() {
    // Kubernetes is production: signed lists only, and either a ledger that every pod shares
    // and keeps across restarts, or a maximum age.
    let kustomization = Kustomization::load();
    let (deployment, config) = k8s_config(&kustomization);
    let what = format!("{K8S}/vigil.toml");
    config.lists.check_signed().unwrap();
    assert!(
        !config.lists.allow_unsigned,
        "{what}: unsigned lists allowed"
    );
    match &config.lists.ledger_file {
        Some(ledger) => {
            let volume = k8s_volume_of(&deployment, ledger);
            let claim = text(
                &volume["persistentVolumeClaim"]["claimName"],
                &format!("{what}: the ledger's volume is not a PersistentVolumeClaim: {volume:?}"),
            );
            let pvc = kustomization.resource("PersistentVolumeClaim");
            assert_eq!(pvc["metadata"]["name"].as_str(), Some(claim));
            // Replicas on several nodes share it.
            let modes = seq(&pvc["spec"]["accessModes"], "accessModes");
            assert!(
                modes.iter().any(|m| m.as_str() == Some("ReadWriteMany")),
                "{modes:?}"
            );
        }
        None => assert!(
            config.lists.max_age_secs.is_some(),
            "{what}: no ledger, no max age"
        ),
    }

    // compose is a development stack on the unsigned example lists, said so explicitly; its
    // ledger is on a named volume, which outlives the container.
    let (compose, config) = compose_config();
    config.lists.check_signed().unwrap();
    assert!(config.lists.allow_unsigned);
    match &config.lists.ledger_file {
        Some(ledger) => {
            let service = &compose["services"]["vigil"];
            let (source, _) = compose_mounts(service)
                .into_iter()
                .filter(|(_, target)| ledger.starts_with(target))
                .max_by_key(|(_, target)| target.len())
                .unwrap_or_else(|| panic!("{} is on no volume", ledger.display()));
            assert!(
                compose["volumes"].get(source.as_str()).is_some(),
                "the ledger is on {source}, not a named volume"
            );
        }
        None => assert!(
            config.lists.max_age_secs.is_some(),
            "compose: no ledger, no max age"
        ),
    }
}

/// What both configurations must say: listen on every interface (inside a container
/// 127.0.0.1 is unreachable) on the admin port, same group and input topic.
fn check_common(config: &Config, what: &str) {
    assert_eq!(
        config.admin.listen,
        SocketAddr::from(([0, 0, 0, 0], ADMIN_PORT)),
        "{what}"
    );
    assert_eq!(config.kafka.group_id, GROUP_ID, "{what}");
    assert_eq!(config.kafka.input_topics, [INPUT_TOPIC], "{what}");
}

/// What a PromQL expression refers to.
#[derive(Debug, Default)]
struct Refs {
    /// Metric names, each with the label names its selector matches on.
    metrics: Vec<(String, Vec<String>)>,
    /// Label names of `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`.
    grouping: Vec<String>,
}

/// Aggregation operators and keywords: identifiers that are neither metrics nor labels.
const KEYWORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "atan2",
    "inf",
    "nan",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The index just past the string literal starting at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' && quote != '`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// The index of the `close` that ends the bracket opened at `open`, strings skipped.
fn closing(chars: &[char], open: usize, close: char) -> usize {
    let mut i = open + 1;
    while i < chars.len() && chars[i] != close {
        if matches!(chars[i], '"' | '\'' | '`') {
            i = skip_string(chars, i);
        } else {
            i += 1;
        }
    }
    assert!(i < chars.len(), "unclosed {close}");
    i
}

/// Label names in the matchers between `{` and `}`.
fn matcher_labels(chars: &[char]) -> Vec<String> {
    let mut plain = String::new();
    let mut i = 0;
    while i < chars.len() {
        if matches!(chars[i], '"' | '\'' | '`') {
            i = skip_string(chars, i);
            plain.push_str("\"\"");
        } else {
            plain.push(chars[i]);
            i += 1;
        }
    }
    plain
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| m.chars().take_while(|c| is_ident(*c)).collect())
        .collect()
}

/// A small PromQL scanner: enough to find metric names, their matchers and the grouping
/// labels. (promtool checks the syntax itself, in the test below.)
fn refs(expr: &str) -> Refs {
    let chars: Vec<char> = expr.chars().collect();
    let mut refs = Refs::default();
    // The metric name just read, for a `{...}` right after it.
    let mut pending: Option<usize> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if matches!(c, '"' | '\'' | '`') {
            i = skip_string(&chars, i);
            pending = None;
        } else if c == '{' {
            let end = closing(&chars, i, '}');
            let labels = matcher_labels(&chars[i + 1..end]);
            let metric = pending
                .take()
                .unwrap_or_else(|| panic!("a selector without a metric name in {expr}"));
            refs.metrics[metric].1.extend(labels);
            i = end + 1;
        } else if c == '[' {
            // range or subquery: durations and Grafana's $__rate_interval
            i = closing(&chars, i, ']') + 1;
            pending = None;
        } else if c.is_ascii_digit() || c == '$' {
            // numbers, durations (15m), Grafana variables
            i += 1;
            while i < chars.len() && (is_ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
            pending = None;
        } else if is_ident(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let call = chars.get(next) == Some(&'(');
            pending = None;
            if GROUPING.contains(&ident.as_str()) {
                if call {
                    let end = closing(&chars, next, ')');
                    let list: String = chars[next + 1..end].iter().collect();
                    refs.grouping.extend(
                        list.split(',')
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(String::from),
                    );
                    i = end + 1;
                }
            } else if !call && !KEYWORDS.contains(&ident.to_ascii_lowercase().as_str()) {
                refs.metrics.push((ident, Vec::new()));
                pending = Some(refs.metrics.len() - 1);
            }
        } else {
            i += 1;
            pending = None;
        }
    }
    refs
}

/// vigil's definition of `name`, histogram series suffixes allowed.
fn vigil_def(name: &str) -> Option<(&'static Def, bool)> {
    let find = |name: &str| ALL.iter().chain(REVIEW).find(|d| d.name == name);
    if let Some(def) = find(name) {
        return Some((def, false));
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        let def = find(base)?;
        Some((def, *suffix == "_bucket"))
    })
}

/// Checks one expression; returns the metric names it uses.
fn check_expr(expr: &str, origin: &str) -> Vec<String> {
    let refs = refs(expr);
    let mut grouping_allowed: BTreeSet<&str> = TARGET_LABELS.iter().copied().collect();
    for (name, labels) in &refs.metrics {
        let mut allowed: BTreeSet<&str> = TARGET_LABELS.iter().copied().collect();
        if let Some((def, bucket)) = vigil_def(name) {
            allowed.extend(def.labels.iter().copied());
            if bucket {
                allowed.insert("le");
            }
        } else {
            assert!(
                OTHER_METRICS.contains(&name.as_str()),
                "{origin}: `{name}` is not a metric vigil exports (in `{expr}`)"
            );
        }
        for label in labels {
            assert!(
                allowed.contains(label.as_str()),
                "{origin}: `{name}` has no label `{label}` (in `{expr}`)"
            );
        }
        grouping_allowed.extend(allowed);
    }
    for label in &refs.grouping {
        assert!(
            grouping_allowed.contains(label.as_str()),
            "{origin}: no metric of `{expr}` has the label `{label}`"
        );
    }
    refs.metrics.into_iter().map(|(name, _)| name).collect()
}

/// `(origin, expr)` of every alert rule.
fn alert_exprs() -> Vec<(String, String)> {
    let alerts = yaml("deploy/prometheus/alerts.yml");
    let mut out = Vec::new();
    for group in seq(&alerts["groups"], "groups") {
        for rule in seq(&group["rules"], "rules") {
            let name = text(&rule["alert"], "alert");
            out.push((
                format!("alerts.yml {name}"),
                text(&rule["expr"], "expr").to_string(),
            ));
        }
    }
    out
}

/// `(origin, expr)` of every dashboard query, and the label_values() variable queries.
fn dashboard_exprs(dashboard: &Json) -> (Vec<(String, String)>, Vec<String>) {
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap();
            let expr = target["expr"].as_str().unwrap();
            exprs.push((format!("vigil.json \"{title}\""), expr.to_string()));
        }
    }
    let variables = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| v["definition"].as_str().unwrap().to_string())
        .collect();
    (exprs, variables)
}

#[test]
fn alerts_and_dashboard_query_only_metrics_and_labels_vigil_exports() {
    let mut used = BTreeSet::new();
    let alerts = alert_exprs();
    assert!(alerts.len() >= ALERTS.len());
    for (origin, expr) in &alerts {
        used.extend(check_expr(expr, origin));
    }
    let dashboard = json("deploy/grafana/vigil.json");
    let (exprs, variables) = dashboard_exprs(&dashboard);
    let mut on_dashboard = BTreeSet::new();
    for (origin, expr) in &exprs {
        on_dashboard.extend(check_expr(expr, origin));
    }
    // label_values(<selector>, <label>)
    for query in &variables {
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| panic!("unexpected variable query {query}"));
        let (selector, label) = inner.rsplit_once(',').unwrap();
        let metrics = check_expr(selector, query);
        check_expr(
            &format!("count by ({}) ({})", label.trim(), metrics[0]),
            query,
        );
    }
    // The dashboard shows what the runbooks need.
    for name in [
        "vigil_messages_consumed_total",
        "vigil_messages_scanned_total",
        "vigil_consumer_lag_messages",
        "vigil_matches_total",
        "vigil_flags_total",
        "vigil_scan_duration_seconds_bucket",
        "vigil_scan_stage_duration_seconds_bucket",
        "vigil_dead_letters_total",
        "vigil_errors_total",
        "vigil_attachments_total",
        "vigil_in_flight_messages",
        "vigil_buffered_messages",
        "vigil_paused_partitions",
        "vigil_offset_commits_total",
        "vigil_commit_duration_seconds_bucket",
        "vigil_list_loaded_timestamp_seconds",
        "vigil_list_created_timestamp_seconds",
        "vigil_list_entries",
        "vigil_list_info",
        "process_resident_memory_bytes",
    ] {
        assert!(
            on_dashboard.contains(name),
            "the dashboard does not show {name}"
        );
    }
    used.extend(on_dashboard);
    assert!(used.len() > 20, "{used:?}");
}

#[test]
fn the_query_checker_rejects_unknown_metrics_and_labels() {
    // The checker above must be able to fail: these are the mistakes it exists for.
    let bad = [
        "rate(vigil_mesages_scanned_total[5m])",
        "sum by (list) (rate(vigil_messages_scanned_total[5m]))",
        r#"vigil_consumer_lag_messages{partiton="1"}"#,
        "histogram_quantile(0.9, sum by (le) (rate(vigil_scan_duration_seconds_sum[5m])))",
        "vigil_ready + node_load1",
        r#"sum(rate(vigil_errors_total{job="vigil", kind="x"}[5m]))"#,
    ];
    for expr in bad {
        let result = std::panic::catch_unwind(|| check_expr(expr, "test"));
        assert!(result.is_err(), "accepted: {expr}");
    }
    let good = check_expr(
        r#"histogram_quantile(0.99, sum by (le, stage) (rate(vigil_scan_stage_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))
           / on (job) group_left () max without (stage) (up{job="vigil"} offset 5m)"#,
        "test",
    );
    assert_eq!(good, ["vigil_scan_stage_duration_seconds_bucket", "up"]);
}

#[test]
fn every_alert_has_a_severity_a_summary_and_its_runbook() {
    let alerts = yaml("deploy/prometheus/alerts.yml");
    let mut seen = BTreeSet::new();
    for group in seq(&alerts["groups"], "groups") {
        for rule in seq(&group["rules"], "rules") {
            let name = text(&rule["alert"], "alert");
            let anchor = ALERTS
                .iter()
                .find(|(alert, _)| *alert == name)
                .unwrap_or_else(|| panic!("unexpected alert {name}"))
                .1;
            seen.insert(name.to_string());
            let severity = text(&rule["labels"]["severity"], name);
            assert!(
                ["critical", "warning", "info"].contains(&severity),
                "{name}: {severity}"
            );
            assert!(
                !text(&rule["annotations"]["summary"], name)
                    .trim()
                    .is_empty()
            );
            let runbook = text(&rule["annotations"]["runbook_url"], name);
            assert!(
                runbook.ends_with(&format!("docs/operations.md#{anchor}")),
                "{name}: {runbook}"
            );
        }
    }
    let expected: BTreeSet<String> = ALERTS.iter().map(|(a, _)| a.to_string()).collect();
    assert_eq!(seen, expected);
}

#[test]
fn the_prometheus_rule_carries_exactly_the_alert_groups() {
    let alerts = yaml("deploy/prometheus/alerts.yml");
    let rule = Kustomization::load().resource("PrometheusRule");
    assert_eq!(
        rule["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1")
    );
    assert!(!seq(&alerts["groups"], "groups").is_empty());
    assert_eq!(
        rule["spec"]["groups"], alerts["groups"],
        "deploy/k8s/base/prometheusrule.yaml spec.groups differs from deploy/prometheus/alerts.yml"
    );
}

#[test]
fn admin_port_group_and_topic_agree_everywhere() {
    let kustomization = Kustomization::load();
    let deployment = kustomization.resource("Deployment");
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    labels_match(
        &deployment["spec"]["selector"]["matchLabels"],
        pod_labels,
        "Deployment selector",
    );
    let container = container(&deployment);

    // Deployment: the named port and every probe on it.
    let ports = seq(&container["ports"], "ports");
    let admin = ports
        .iter()
        .find(|p| p["name"].as_str() == Some("admin"))
        .expect("a container port named admin");
    assert_eq!(admin["containerPort"].as_u64(), Some(u64::from(ADMIN_PORT)));
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe}");
        let port = &get["port"];
        assert!(
            port.as_str() == Some("admin") || port.as_u64() == Some(u64::from(ADMIN_PORT)),
            "{probe} port {port:?}"
        );
    }

    // Service: admin -> the container's admin port, selecting the pods.
    let service = kustomization.resource("Service");
    labels_match(&service["spec"]["selector"], pod_labels, "Service selector");
    let service_port = seq(&service["spec"]["ports"], "Service ports")
        .iter()
        .find(|p| p["name"].as_str() == Some("admin"))
        .expect("a Service port named admin");
    assert_eq!(service_port["port"].as_u64(), Some(u64::from(ADMIN_PORT)));
    let target = &service_port["targetPort"];
    assert!(
        target.as_str() == Some("admin") || target.as_u64() == Some(u64::from(ADMIN_PORT)),
        "targetPort {target:?}"
    );

    // ServiceMonitor: scrapes that Service port, with the job the alerts select.
    let monitor = kustomization.resource("ServiceMonitor");
    labels_match(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"],
        "ServiceMonitor selector",
    );
    let endpoints = seq(&monitor["spec"]["endpoints"], "endpoints");
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["port"].as_str(), Some("admin"));
    assert_eq!(endpoints[0]["path"].as_str(), Some("/metrics"));
    assert_eq!(endpoints[0]["interval"].as_str(), Some("15s"));
    let job = match monitor["spec"]["jobLabel"].as_str() {
        Some(label) => text(&service["metadata"]["labels"][label], "jobLabel"),
        None => text(&service["metadata"]["name"], "Service name"),
    };
    assert_eq!(job, JOB);

    // PodDisruptionBudget: the same pods.
    let pdb = kustomization.resource("PodDisruptionBudget");
    labels_match(
        &pdb["spec"]["selector"]["matchLabels"],
        pod_labels,
        "PDB selector",
    );
    assert_eq!(pdb["spec"]["maxUnavailable"].as_u64(), Some(1));

    // KEDA: the group and topic vigil consumes, brokers from the container's environment.
    let scaled = kustomization.resource("ScaledObject");
    assert_eq!(
        scaled["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    let max = scaled["spec"]["maxReplicaCount"].as_u64().unwrap();
    let min = scaled["spec"]["minReplicaCount"].as_u64().unwrap();
    assert!(
        1 <= min && min <= max && max <= INPUT_PARTITIONS,
        "{min}..{max}"
    );
    let triggers = seq(&scaled["spec"]["triggers"], "triggers");
    assert_eq!(triggers.len(), 1);
    let trigger = &triggers[0];
    assert_eq!(trigger["type"].as_str(), Some("kafka"));
    let metadata = &trigger["metadata"];
    assert_eq!(metadata["consumerGroup"].as_str(), Some(GROUP_ID));
    assert_eq!(metadata["topic"].as_str(), Some(INPUT_TOPIC));
    text(&metadata["lagThreshold"], "lagThreshold")
        .parse::<u64>()
        .unwrap();
    let brokers_var = text(
        &metadata["bootstrapServersFromEnv"],
        "bootstrapServersFromEnv",
    );
    let env = container_env(container, &kustomization);
    assert!(
        env.iter().any(|(name, _)| name == brokers_var),
        "{brokers_var} is not in the container's environment"
    );

    // compose: vigil's admin port published on loopback, Prometheus scrapes it.
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    for (name, service) in services {
        for port in service["ports"].as_sequence().into_iter().flatten() {
            let port = text(port, "ports[]");
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name:?} publishes {port} beyond loopback"
            );
        }
    }
    let vigil_ports: Vec<&str> = seq(&compose["services"]["vigil"]["ports"], "vigil ports")
        .iter()
        .map(|p| text(p, "ports[]"))
        .collect();
    assert_eq!(
        vigil_ports,
        [format!("127.0.0.1:{ADMIN_PORT}:{ADMIN_PORT}")]
    );
    let prometheus = yaml("deploy/prometheus/prometheus.yml");
    let jobs = seq(&prometheus["scrape_configs"], "scrape_configs");
    let vigil_job = jobs
        .iter()
        .find(|j| j["job_name"].as_str() == Some(JOB))
        .expect("a scrape job named vigil");
    let targets = seq(&vigil_job["static_configs"][0]["targets"], "targets");
    assert_eq!(targets, [Yaml::from(format!("vigil:{ADMIN_PORT}"))]);
    assert!(
        alert_exprs()
            .iter()
            .any(|(_, e)| e.contains(&format!("up{{job=\"{JOB}\"}}"))),
        "no alert on up{{job=\"{JOB}\"}}"
    );
    // the compose Prometheus loads the rules from where prometheus.yml says
    let rules = seq(&prometheus["rule_files"], "rule_files");
    let service = &compose["services"]["prometheus"];
    let config_mount = compose_host_path(service, Path::new("/etc/prometheus/prometheus.yml"));
    assert_eq!(
        config_mount,
        repo().join("deploy/./prometheus/prometheus.yml")
    );
    for rule in rules {
        let in_container = Path::new("/etc/prometheus").join(text(rule, "rule_files[]"));
        let host = compose_host_path(service, &in_container);
        assert_eq!(host, repo().join("deploy/./prometheus/alerts.yml"));
    }

    // Grafana: the datasource is the compose Prometheus; the dashboard is where the
    // provider looks.
    let datasources = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let datasource = &seq(&datasources["datasources"], "datasources")[0];
    assert_eq!(datasource["type"].as_str(), Some("prometheus"));
    assert_eq!(datasource["url"].as_str(), Some("http://prometheus:9090"));
    assert!(
        seq(&compose["services"]["prometheus"]["ports"], "ports")
            .iter()
            .any(|p| text(p, "ports[]").ends_with(":9090"))
    );
    let providers = yaml("deploy/grafana/provisioning/dashboards/vigil.yml");
    let folder = text(
        &providers["providers"][0]["options"]["path"],
        "providers path",
    );
    let grafana = &compose["services"]["grafana"];
    let dashboard = compose_host_path(grafana, &Path::new(folder).join("vigil.json"));
    assert_eq!(dashboard, repo().join("deploy/./grafana/vigil.json"));
    for dir in ["datasources", "dashboards"] {
        let mounted = compose_host_path(grafana, &Path::new("/etc/grafana/provisioning").join(dir));
        assert_eq!(
            mounted,
            repo().join("deploy/./grafana/provisioning").join(dir)
        );
    }
}

#[test]
fn images_are_pinned() {
    let pinned = |image: &str, what: &str| {
        let name = image.rsplit('/').next().unwrap();
        let tag = name.split_once(':').map(|(_, tag)| tag);
        assert!(
            matches!(tag, Some(tag) if !tag.is_empty() && tag != "latest" && !tag.starts_with("latest-")),
            "{what}: image `{image}` is not pinned to a version"
        );
    };
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    assert!(services.len() >= 5);
    for (name, service) in services {
        let name = text(name, "service name");
        match service["image"].as_str() {
            Some(image) => pinned(image, name),
            None => assert!(
                !service["build"].is_null(),
                "{name}: neither image nor build"
            ),
        }
    }
    let deployment = Kustomization::load().resource("Deployment");
    pinned(
        text(&container(&deployment)["image"], "image"),
        "Deployment",
    );

    // The Dockerfile's base images, with the ARG defaults substituted.
    let dockerfile = read("deploy/Dockerfile");
    let mut args = BTreeMap::new();
    let mut stages = 0;
    for line in dockerfile.lines().map(str::trim) {
        if let Some(arg) = line.strip_prefix("ARG ") {
            if let Some((name, value)) = arg.split_once('=') {
                args.insert(format!("${{{name}}}"), value.to_string());
            }
        } else if let Some(from) = line.strip_prefix("FROM ") {
            let mut image = from.split_whitespace().next().unwrap().to_string();
            for (name, value) in &args {
                image = image.replace(name, value);
            }
            assert!(!image.contains('$'), "FROM {image}: unset ARG");
            pinned(&image, "deploy/Dockerfile");
            stages += 1;
        }
    }
    assert_eq!(stages, 2, "a builder and a runtime stage");
}

#[test]
fn the_dashboard_is_provisionable_with_a_datasource_variable() {
    let dashboard = json("deploy/grafana/vigil.json");
    assert_eq!(dashboard["uid"], "vigil");
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let datasource = variables
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let templated = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    let mut ids = BTreeSet::new();
    let mut targets = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "{title}: duplicate id"
        );
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(
            x + w <= 24 && grid["h"].as_u64().unwrap() > 0,
            "{title}: {grid}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"], templated, "{title}");
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"], templated, "{title}");
            targets += 1;
        }
    }
    assert!(targets > 30, "{targets} queries");
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        assert_eq!(variable["datasource"], templated, "{}", variable["name"]);
    }
}

/// The bin directory of `deploy/local/prometheus` (installing it on first use).
fn prometheus_bin() -> PathBuf {
    let output = Command::new(repo().join("deploy/local/prometheus"))
        .arg("path")
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "deploy/local/prometheus path failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    PathBuf::from(stdout.lines().last().unwrap())
}

fn promtool(bin: &Path, args: &[&str]) {
    let output = Command::new(bin.join("promtool"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn promtool_accepts_the_rules_the_config_the_alert_tests_and_every_dashboard_query() {
    let bin = prometheus_bin();
    promtool(&bin, &["check", "rules", "deploy/prometheus/alerts.yml"]);
    promtool(
        &bin,
        &["check", "config", "deploy/prometheus/prometheus.yml"],
    );
    promtool(
        &bin,
        &["test", "rules", "deploy/prometheus/alerts.test.yml"],
    );

    // Every dashboard query, with Grafana's variables filled in, as a recording rule:
    // promtool parses it with Prometheus' own PromQL parser.
    let dashboard = json("deploy/grafana/vigil.json");
    let (exprs, _) = dashboard_exprs(&dashboard);
    let rules: Vec<Json> = exprs
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| {
            let expr = expr
                .replace("$__rate_interval", "1m")
                .replace("$job", JOB)
                .replace("$instance", ".*");
            serde_json::json!({"record": format!("dashboard:query_{i}"), "expr": expr})
        })
        .collect();
    let file = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard.rules.yml");
    // JSON is YAML.
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    promtool(&bin, &["check", "rules", path.to_str().unwrap()]);
}
