//! The configuration file as a whole: one TOML file whose sections belong to the crates that
//! use them, assembled here for the binary (and for tests and benchmarks, which load files as
//! the binary does). Each crate defines, defaults and checks its own section
//! ([`vigil_core::config::Section`]); this crate adds only the rules that span sections and
//! hands each crate what it reads: [`Config::scan`] for scanning, the `kafka`, `routes` and
//! `admin` sections for `vigil run`, [`Config::review_topics`] and `review` for the console.
//! `docs/config.md` is tested against these structs (`tests/config_docs.rs`).
//!
//! ```
//! use std::path::Path;
//! use vigil_config::Config;
//!
//! let text = "[kafka]\ninput_topics = [\"dms\"]\n[[routes]]\ncategory = \"A\"\ntopic = \"vigil.flags.urgent\"\n";
//! let config = Config::from_toml(text, "vigil.toml", Path::new("/etc/vigil"), []).unwrap();
//! assert_eq!(config.review_topics(), ["vigil.flags", "vigil.flags.urgent"]);
//! assert_eq!(config.scan().matching.pdq_max_distance, 31);
//!
//! let err = Config::from_toml("[kafka]\nreview_topic = \"dms\"\n", "vigil.toml", Path::new("/"), []);
//! assert!(err.unwrap_err().to_string().contains("key `kafka.review_topic`"));
//! ```

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::config::{self, ConfigError, Invalid, Section};
use vigil_kafka::config::{AdminConfig, KafkaConfig, Route, RunConfig, check_routes};
use vigil_kafka::entries::ContainmentConfig;
use vigil_lists::ListsConfig;
use vigil_review::config::{ConsoleConfig, ReviewConfig};
use vigil_scan::config::{AttachmentsConfig, InputConfig, MatchConfig, ScanConfig};
use vigil_text::TextConfig;
use vigil_video::VideoConfig;

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[lists]`: which lists to load.
    pub lists: ListsConfig,
    /// `[match]`: matching thresholds.
    #[serde(rename = "match")]
    pub matching: MatchConfig,
    /// `[attachments]`: attachment limits and fetching.
    pub attachments: AttachmentsConfig,
    /// `[input]`: limits on input records.
    pub input: InputConfig,
    /// `[text]`: text scanning.
    pub text: TextConfig,
    /// `[video]`: decoding videos and animated images in isolated workers.
    pub video: VideoConfig,
    /// `[urls]`: shortened links in messages.
    pub urls: vigil_url::UrlsConfig,
    /// `[kafka]`: the broker runtime (`vigil run`).
    pub kafka: KafkaConfig,
    /// `[admin]`: the admin HTTP endpoint.
    pub admin: AdminConfig,
    /// `[review]`: the review console (`vigil review`).
    pub review: ReviewConfig,
    /// `[[routes]]`: which review topic a flag goes to, by category; first match wins.
    pub routes: Vec<Route>,
    /// `[containment]`: the entry state `vigil run` keeps in Kafka (disabled entries,
    /// decisions fed back, quarantine).
    pub containment: ContainmentConfig,
}

impl Config {
    /// Reads `path`, applies overrides from `env` (pass `std::env::vars()`), resolves relative
    /// paths against the file's directory and checks every section.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        config::load(path, env)
    }

    /// The defaults with `env` overrides applied (used when there is no config file); relative
    /// paths resolve against `base`.
    pub fn from_env(
        base: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        config::from_env(base, env)
    }

    /// Parses TOML `text`; `origin` names it in errors.
    pub fn from_toml(
        text: &str,
        origin: &str,
        base: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        config::from_toml(text, origin, base, env)
    }

    /// What `vigil run` reads besides scanning: `[kafka]`, `[[routes]]`, `[admin]`,
    /// `[containment]` and the decisions topic it feeds back.
    pub fn run(&self) -> RunConfig {
        RunConfig {
            kafka: self.kafka.clone(),
            routes: self.routes.clone(),
            admin: self.admin.clone(),
            containment: self.containment.clone(),
            decisions_topic: self.review.decisions_topic.clone(),
        }
    }

    /// What the review console reads: `[review]`, `[kafka]`, `[attachments]`, `[video]` and
    /// the review topics (the binary adds the video worker's program).
    pub fn console(&self) -> ConsoleConfig {
        ConsoleConfig {
            review: self.review.clone(),
            kafka: self.kafka.clone(),
            attachments: self.attachments.clone(),
            topics: self.review_topics(),
            video: self.video.clone(),
            video_worker: None,
            containment: self.containment.clone(),
        }
    }

    /// What scanning reads: `[lists]`, `[match]`, `[attachments]`, `[input]`, `[text]` and
    /// `[video]` (the binary adds the video worker's program).
    pub fn scan(&self) -> ScanConfig {
        ScanConfig {
            lists: self.lists.clone(),
            matching: self.matching.clone(),
            attachments: self.attachments.clone(),
            input: self.input.clone(),
            text: self.text.clone(),
            video: self.video.clone(),
            urls: self.urls.clone(),
            video_worker: None,
        }
    }

    /// The review topics the console reads: `review.topics`, or by default every topic
    /// `vigil run` writes flags to (the verification topic included, with containment on).
    pub fn review_topics(&self) -> Vec<String> {
        if !self.review.topics.is_empty() {
            return self.review.topics.clone();
        }
        let mut topics = vec![self.kafka.review_topic.clone()];
        for route in &self.routes {
            if !topics.contains(&route.topic) {
                topics.push(route.topic.clone());
            }
        }
        if self.containment.enabled {
            topics.push(self.containment.verification_topic.clone());
        }
        topics
    }
}

impl Section for Config {
    fn resolve_paths(&mut self, base: &Path) {
        self.lists.resolve_paths(base);
        self.attachments.resolve_paths(base);
        self.kafka.resolve_paths(base);
        self.review.resolve_paths(base);
    }

    fn validate(&self) -> Result<(), Invalid> {
        self.matching.validate()?;
        self.attachments.validate()?;
        self.input.validate()?;
        self.text.validate()?;
        self.video.validate()?;
        self.urls.validate()?;
        self.lists.validate()?;
        self.matching.check_list_thresholds(&self.lists)?;
        self.kafka.validate()?;
        self.admin.validate()?;
        self.review.validate()?;
        self.containment.validate()?;
        self.containment
            .check_topics(&self.kafka, &self.review.decisions_topic)?;
        check_routes(&self.routes, &self.kafka)
    }

    fn read_secrets(&mut self, env: &[(String, String)]) -> Result<(), Invalid> {
        self.kafka.read_secrets(env)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use vigil_kafka::config::{Delivery, SaslMechanism};
    use vigil_lists::config::defaults;
    use vigil_lists::{ListFormat, ListSource};

    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_toml(text, "test.toml", Path::new("/etc/vigil"), env)
    }

    fn invalid_key(result: Result<Config, ConfigError>) -> (String, String, String) {
        match result {
            Err(ConfigError::Invalid {
                key,
                message,
                origin,
            }) => (key, message, origin),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse("", &[]).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.matching.pdq_max_distance, 31);
        assert_eq!(config.kafka.input_topics, ["dms"]);
    }

    #[test]
    fn issue_example_parses_and_resolves_paths() {
        let text = r#"
            [lists]
            hash_lists = [
                "lists/sample-hashes.csv",
                { path = "/abs/ncmec.txt", format = "hma", category = "ncmec", manifest = "m.json" },
            ]
            keyword_lists = ["lists/sample-keywords.csv"]
            trusted_keys = ["keys/iwf.pub"]
            [match]
            pdq_max_distance = 31
            pdq_min_quality = 50
            [kafka]
            brokers = "127.0.0.1:9092"
            group_id = "vigil"
            input_topics = ["dms"]
            review_topic = "vigil.flags"
            dead_letter_topic = "vigil.dlq"
            [admin]
            listen = "127.0.0.1:9464"
        "#;
        let config = parse(text, &[]).unwrap();
        let lists = &config.lists;
        assert_eq!(
            lists.hash_lists[0],
            ListSource::from(PathBuf::from("/etc/vigil/lists/sample-hashes.csv"))
        );
        let ncmec = &lists.hash_lists[1];
        assert_eq!(ncmec.path, PathBuf::from("/abs/ncmec.txt"));
        assert_eq!(ncmec.format, Some(ListFormat::Hma));
        assert_eq!(ncmec.category.as_deref(), Some("ncmec"));
        assert_eq!(ncmec.manifest, Some(PathBuf::from("/etc/vigil/m.json")));
        assert_eq!(
            lists.trusted_keys,
            [PathBuf::from("/etc/vigil/keys/iwf.pub")]
        );
        assert_eq!(lists.reload_interval_ms, defaults::LISTS_RELOAD_INTERVAL_MS);
    }

    #[test]
    fn bad_keys_are_named() {
        let table = [
            (
                "[kafka]\nbrokerz = \"x:1\"",
                "kafka.brokerz",
                "unknown field",
            ),
            (
                "[lists]\nhash_lists = [{ path = \"a.txt\", fromat = \"hma\" }]",
                "lists.hash_lists[0].fromat",
                "unknown field `fromat`",
            ),
            (
                "[lists]\nhash_lists = [{ path = \"a.txt\", format = \"xml\" }]",
                "lists.hash_lists[0].format",
                "unknown variant `xml`",
            ),
            (
                "[match]\npdq_max_distance = \"far\"",
                "match.pdq_max_distance",
                "invalid type",
            ),
            (
                "[match]\npdq_max_distance = 200",
                "match.pdq_max_distance",
                "above 64",
            ),
            (
                "[match]\npdq_min_quality = 101",
                "match.pdq_min_quality",
                "0 to 100",
            ),
            (
                "[match]\nvpdq_query_match_percent = 180",
                "match.vpdq_query_match_percent",
                "not a percentage",
            ),
            (
                "[match]\nvpdq_max_distance = 65",
                "match.vpdq_max_distance",
                "above 64",
            ),
            (
                "[lists]\nhash_lists = [{ path = \"v.txt\", vpdq_min_quality = 120 }]",
                "lists.hash_lists[0].vpdq_min_quality",
                "not a quality",
            ),
            (
                "[kafka]\nbrokers = \"localhost\"",
                "kafka.brokers",
                "not host:port",
            ),
            (
                "[kafka]\ninput_topics = []",
                "kafka.input_topics",
                "at least one",
            ),
            (
                "[kafka]\nreview_topic = \"bad topic\"",
                "kafka.review_topic",
                "legal Kafka topic",
            ),
            (
                "[kafka]\nreview_topic = \"dms\"",
                "kafka.review_topic",
                "also an input topic",
            ),
            (
                "[kafka]\ndead_letter_topic = \"vigil.flags\"",
                "kafka.dead_letter_topic",
                "differ",
            ),
            ("[admin]\nlisten = \"nowhere\"", "admin.listen", "invalid"),
            (
                "[attachments]\nmax_bytes = 0",
                "attachments.max_bytes",
                "at least 1",
            ),
            (
                "[lists]\nallow_unsigned = true\ntrusted_keys = [\"lists.pub\"]",
                "lists.allow_unsigned",
                "cannot be true",
            ),
            (
                "[attachments]\nmax_attachments_per_message = 0",
                "attachments.max_attachments_per_message",
                "at least 1",
            ),
            (
                "[attachments]\nmax_total_bytes_per_message = 1000",
                "attachments.max_total_bytes_per_message",
                "below attachments.max_bytes",
            ),
            ("[nonsense]\nx = 1", "nonsense", "unknown field"),
            (
                "[kafka]\ndelivery = \"twice\"",
                "kafka.delivery",
                "unknown variant",
            ),
            (
                "[kafka]\nmax_in_flight = 0",
                "kafka.max_in_flight",
                "at least 1",
            ),
            (
                "[kafka]\nverdict_topic = \"dms\"",
                "kafka.verdict_topic",
                "also an input topic",
            ),
            (
                "[kafka]\nverdict_topic = \"vigil.dlq\"",
                "kafka.verdict_topic",
                "must differ",
            ),
            (
                "[kafka.producer]\n\"transactional.id\" = \"x\"",
                "kafka.producer",
                "set by vigil",
            ),
            (
                "[kafka.client]\n\"group.id\" = \"x\"",
                "kafka.client",
                "set by vigil",
            ),
            (
                "[[routes]]\ncategory = \"A\"\ntopic = \"dms\"",
                "routes.topic",
                "input topic",
            ),
            (
                "[[routes]]\ncategory = \"A\"",
                "routes[0]",
                "missing field `topic`",
            ),
        ];
        for (text, key, needle) in table {
            let (got_key, message, origin) = invalid_key(parse(text, &[]));
            assert_eq!(got_key, key, "{text}");
            assert!(message.contains(needle), "{text}: {message}");
            assert_eq!(origin, "test.toml");
        }
    }

    #[test]
    fn kafka_runtime_keys_and_routes() {
        let text = r#"
            [kafka]
            verdict_topic = "vigil.verdicts"
            delivery = "exactly-once"
            max_in_flight = 64
            [kafka.client]
            "security.protocol" = "SASL_SSL"
            "sasl.password" = "hunter2"
            [[routes]]
            category = "A"
            topic = "vigil.flags.urgent"
            [[routes]]
            category = "grooming.secrecy"
            topic = "vigil.flags.grooming"
        "#;
        let config = parse(text, &[]).unwrap();
        assert_eq!(config.kafka.delivery, Delivery::ExactlyOnce);
        assert_eq!(config.kafka.max_in_flight, 64);
        let cats = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(config.run().route(&cats(&["B", "A"])), "vigil.flags.urgent");
        assert_eq!(
            config.run().route(&cats(&["grooming.secrecy"])),
            "vigil.flags.grooming"
        );
        assert_eq!(config.run().route(&cats(&["B"])), "vigil.flags");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("SASL_SSL"), "{debug}");
    }

    /// A directory with the files `[kafka.tls]` and `[kafka.sasl]` name (contents are not
    /// checked here: the Kafka client reads them).
    fn security_files() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in ["ca.pem", "client.pem", "client.key"] {
            std::fs::write(dir.path().join(name), "-----BEGIN-----\n").unwrap();
        }
        std::fs::write(dir.path().join("password"), "s3cr3t-from-file\n").unwrap();
        dir
    }

    const SECURED: &str = r#"
        [kafka.tls]
        ca_file = "ca.pem"
        cert_file = "client.pem"
        key_file = "client.key"
        key_password = "k3y-passw0rd"
        [kafka.sasl]
        mechanism = "SCRAM-SHA-512"
        username = "vigil"
        password_file = "password"
    "#;

    #[test]
    fn tls_and_sasl_resolve_paths_read_the_password_and_redact_it() {
        let dir = security_files();
        let config = Config::from_toml(SECURED, "test.toml", dir.path(), []).unwrap();
        let tls = config.kafka.tls.as_ref().unwrap();
        assert_eq!(tls.ca_file, Some(dir.path().join("ca.pem")));
        assert_eq!(tls.key_file, Some(dir.path().join("client.key")));
        assert!(tls.verify_hostname);
        let sasl = config.kafka.sasl.as_ref().unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
        assert_eq!(sasl.password_file, Some(dir.path().join("password")));
        // One trailing line break (as `echo` writes) is not part of the password.
        assert_eq!(sasl.password().expose(), "s3cr3t-from-file");
        let debug = format!("{config:?} {config:#?}");
        for secret in ["s3cr3t-from-file", "k3y-passw0rd"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("<redacted>"), "{debug}");
        let serialized = serde_json::to_string(&config).unwrap();
        assert!(!serialized.contains("k3y-passw0rd"), "{serialized}");
    }

    #[test]
    fn sasl_passwords_come_from_exactly_one_source() {
        let dir = security_files();
        let sasl = |source: &str| {
            format!("[kafka.tls]\n[kafka.sasl]\nmechanism = \"PLAIN\"\nusername = \"u\"\n{source}")
        };
        let load = |text: &str, env: &[(&str, &str)]| {
            let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
            Config::from_toml(text, "test.toml", dir.path(), env)
        };
        let config = load(&sasl("password = \"inline-pw\""), &[]).unwrap();
        let password = |c: &Config| {
            c.kafka
                .sasl
                .as_ref()
                .unwrap()
                .password()
                .expose()
                .to_string()
        };
        assert_eq!(password(&config), "inline-pw");
        let config = load(
            &sasl("password_env = \"KAFKA_PW\""),
            &[("KAFKA_PW", "env-pw")],
        )
        .unwrap();
        assert_eq!(password(&config), "env-pw");
        // The whole section from the environment, the password through another variable.
        let config = load(
            "",
            &[
                ("VIGIL_KAFKA__TLS__VERIFY_HOSTNAME", "false"),
                ("VIGIL_KAFKA__SASL__MECHANISM", "SCRAM-SHA-256"),
                ("VIGIL_KAFKA__SASL__USERNAME", "vigil"),
                ("VIGIL_KAFKA__SASL__PASSWORD_ENV", "KAFKA_PW"),
                ("KAFKA_PW", "env-pw"),
            ],
        )
        .unwrap();
        assert_eq!(password(&config), "env-pw");
        assert!(!config.kafka.tls.as_ref().unwrap().verify_hostname);

        /// (configuration, environment, the key named, a word of the message)
        type Case<'a> = (String, &'a [(&'a str, &'a str)], &'a str, &'a str);
        let table: &[Case<'_>] = &[
            (sasl(""), &[], "kafka.sasl.password", "no password"),
            (
                sasl("password = \"a\"\npassword_env = \"KAFKA_PW\""),
                &[("KAFKA_PW", "b")],
                "kafka.sasl.password",
                "only one",
            ),
            (
                sasl("password_env = \"KAFKA_PW\""),
                &[],
                "kafka.sasl.password_env",
                "KAFKA_PW is not set",
            ),
            (
                sasl("password_file = \"missing\""),
                &[],
                "kafka.sasl.password_file",
                "not a file",
            ),
            (sasl("password = \"\""), &[], "kafka.sasl.password", "empty"),
            (
                "[kafka.sasl]\nmechanism = \"GSSAPI\"\nusername = \"u\"\npassword = \"x\"".into(),
                &[],
                "kafka.sasl.mechanism",
                "unknown variant",
            ),
            (
                "[kafka.sasl]\nmechanism = \"PLAIN\"\nusername = \"u\"\npassword = \"x\"".into(),
                &[],
                "kafka.sasl.mechanism",
                "clear text",
            ),
            (
                "[kafka.tls]\nca_file = \"nowhere.pem\"".into(),
                &[],
                "kafka.tls.ca_file",
                "nowhere.pem",
            ),
            (
                "[kafka.tls]\ncert_file = \"client.pem\"".into(),
                &[],
                "kafka.tls.key_file",
                "needed with cert_file",
            ),
            (
                "[kafka.tls]\nkey_password = \"x\"".into(),
                &[],
                "kafka.tls.key_password",
                "without kafka.tls.key_file",
            ),
            (
                "[kafka.tls]\ncafile = \"ca.pem\"".into(),
                &[],
                "kafka.tls.cafile",
                "unknown field",
            ),
        ];
        for (text, env, key, needle) in table {
            let (got_key, message, _) = invalid_key(load(text, env));
            assert_eq!(got_key, *key, "{text}");
            assert!(message.contains(needle), "{text}: {message}");
        }
    }

    #[test]
    fn errors_never_quote_a_password() {
        // An unquoted numeric password from the environment is a TOML integer.
        let (key, message, origin) = invalid_key(parse(
            "[kafka.sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"u\"",
            &[("VIGIL_KAFKA__SASL__PASSWORD", "918273645")],
        ));
        assert_eq!(key, "kafka.sasl.password");
        assert!(message.contains("must be a string"), "{message}");
        assert!(!message.contains("918273645"), "{message}");
        assert_eq!(origin, "environment variable VIGIL_KAFKA__SASL__PASSWORD");
        // A syntax error names the line and column, not the line's text.
        let err = parse("[kafka.sasl]\npassword = hunter2-unquoted\n", &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2, column"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let err = parse("[kafka\nbrokers = 1", &[]).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        assert!(err.to_string().contains("test.toml"), "{err}");
    }

    #[test]
    fn env_overrides_apply_with_types() {
        let config = parse(
            "[kafka]\nbrokers = \"a:1\"",
            &[
                ("VIGIL_KAFKA__BROKERS", "b:2,c:3"),
                ("VIGIL_MATCH__PDQ_MAX_DISTANCE", "20"),
                ("VIGIL_KAFKA__INPUT_TOPICS", r#"["x", "y"]"#),
                ("VIGIL_KAFKA__GROUP_ID", r#""123""#),
                ("VIGIL_CONFIG", "/ignored.toml"),
                ("HOME", "/root"),
            ],
        )
        .unwrap();
        assert_eq!(config.kafka.brokers, "b:2,c:3");
        assert_eq!(config.matching.pdq_max_distance, 20);
        assert_eq!(config.kafka.input_topics, ["x", "y"]);
        assert_eq!(config.kafka.group_id, "123");
    }

    #[test]
    fn env_errors_name_the_variable() {
        let (key, _, origin) = invalid_key(parse("", &[("VIGIL_KAFKA__BROKERZ", "a:1")]));
        assert_eq!(key, "kafka.brokerz");
        assert_eq!(origin, "environment variable VIGIL_KAFKA__BROKERZ");
        let (key, _, origin) = invalid_key(parse("", &[("VIGIL_MATCH__PDQ_MAX_DISTANCE", "99")]));
        assert_eq!(key, "match.pdq_max_distance");
        assert_eq!(origin, "environment variable VIGIL_MATCH__PDQ_MAX_DISTANCE");
    }
}
