//! `[review]`: the review console (`vigil review`): where it listens, its database roles,
//! how people sign in, how long content and sessions last. It reads the review topics with
//! the `[kafka]` section's brokers and security settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::config::{Invalid, Secret, Section, check_positive, resolve};
use vigil_kafka::config::{KafkaConfig, check_topic};
use vigil_scan::config::AttachmentsConfig;
use vigil_video::{VideoConfig, WorkerCommand};

/// Every default of `[review]`, in one place.
pub mod defaults {
    /// `review.listen`: the review console.
    pub const REVIEW_LISTEN: &str = "127.0.0.1:8480";
    /// `review.metrics_listen`: the review console's `/metrics` and `/healthz`.
    pub const REVIEW_METRICS_LISTEN: &str = "127.0.0.1:9465";
    /// `review.database_url`: the local development database (`deploy/local/postgres`), as
    /// its console role.
    pub const REVIEW_DATABASE_URL: &str =
        "postgres://vigil_console:vigil_console@127.0.0.1:55432/vigil";
    /// `review.group_id`: the console's consumer group on the review topics.
    pub const REVIEW_GROUP_ID: &str = "vigil-review";
    /// `review.decisions_topic`.
    pub const REVIEW_DECISIONS_TOPIC: &str = "vigil.decisions";
    /// `review.lease_secs`: how long a claimed item stays with its reviewer.
    pub const REVIEW_LEASE_SECS: u64 = 15 * 60;
    /// `review.content_retention_days`: message text and images are purged after this.
    pub const REVIEW_CONTENT_RETENTION_DAYS: u32 = 30;
    /// `review.preservation_days`: a confirmed flag's content is held this long (one year,
    /// 18 U.S.C. § 2258A(h)).
    pub const REVIEW_PRESERVATION_DAYS: u32 = 365;
    /// `review.session_ttl_secs`: a login lasts one working day.
    pub const REVIEW_SESSION_TTL_SECS: u64 = 8 * 60 * 60;
    /// `review.content_fetch_timeout_ms`: fetching a flagged message from its source topic.
    pub const REVIEW_CONTENT_FETCH_TIMEOUT_MS: u64 = 10_000;
    /// `review.session_idle_timeout_secs`: a session unused this long ends.
    pub const REVIEW_SESSION_IDLE_TIMEOUT_SECS: u64 = 30 * 60;
    /// `review.reauth_after_secs`: revealing an image needs a password (or a fresh sign-in
    /// through the proxy) within this long.
    pub const REVIEW_REAUTH_AFTER_SECS: u64 = 15 * 60;
    /// `review.header_read_timeout_ms`: how long a client may take to send a request's
    /// headers.
    pub const REVIEW_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
    /// `review.proxy_user_header`: what oauth2-proxy and most SSO proxies send.
    pub const REVIEW_PROXY_USER_HEADER: &str = "x-forwarded-user";
    /// `review.daily_reveal_cap`: no cap.
    pub const REVIEW_DAILY_REVEAL_CAP: u32 = 0;

    /// `review.cybertipline.timeout_ms`: one request to NCMEC (an upload can be large).
    pub fn cybertipline_timeout_ms() -> u64 {
        60_000
    }
    /// `review.cybertipline.attempts`.
    pub fn cybertipline_attempts() -> u32 {
        4
    }
    /// `review.cybertipline.backoff_ms`.
    pub fn cybertipline_backoff_ms() -> u64 {
        1_000
    }
}

/// What the review console reads of the configuration, assembled by the binary: its own
/// `[review]` section, `[kafka]` (brokers and security for the review and decisions topics),
/// `[attachments]` (fetching and previewing flagged images), `[video]` (contact sheets of
/// flagged videos) and the review topics to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsoleConfig {
    /// `[review]`.
    pub review: ReviewConfig,
    /// `[kafka]`.
    pub kafka: KafkaConfig,
    /// `[attachments]`.
    pub attachments: AttachmentsConfig,
    /// The review topics to read: `review.topics`, or every topic `vigil run` writes flags to.
    pub topics: Vec<String>,
    /// `[video]`: the limits under which flagged videos' contact sheets are rendered.
    pub video: VideoConfig,
    /// The program a video worker runs (`vigil video-worker`): set by the binary, which
    /// knows its own path. Without it (or with `video.enabled = false`) flagged videos get no
    /// contact sheet.
    pub video_worker: Option<WorkerCommand>,
    /// `[containment]`: where `vigil run` sends flags of quarantined entries (a queue only
    /// leads work) and the entry state leads change from the console.
    pub containment: vigil_kafka::entries::ContainmentConfig,
}

impl ConsoleConfig {
    /// Whether flags read from `queue` are for leads only: the verification topic, while
    /// containment is on.
    pub fn leads_only(&self, queue: &str) -> bool {
        self.containment.enabled && queue == self.containment.verification_topic
    }
}

/// `[review]`: the review console, `vigil review`. It reads the review topics with the
/// `[kafka]` section's brokers and security settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// Address of the console's HTTP server.
    pub listen: SocketAddr,
    /// Address of the console's `/metrics` and `/healthz`, apart from the pages people use
    /// (and from the sign-in proxy): for Prometheus and probes.
    pub metrics_listen: SocketAddr,
    /// PostgreSQL connection URL of the console's runtime role; it holds the database
    /// password, so `Debug` redacts it.
    pub database_url: Secret,
    /// PostgreSQL connection URL of the role that owns the review store (redacted too):
    /// `vigil review migrate` migrates as it and grants `database_url`'s role what the
    /// console needs. Keep it out of the console's own environment where a migration job
    /// can run instead; the console uses it only when it finds the schema behind.
    pub owner_database_url: Option<Secret>,
    /// The key-encryption keys that seal content at rest ([`crate::sealing`]): a file of
    /// `<id> <64 hex digits>` lines, the first one active. Required by the console: content
    /// is never stored in the clear. Keep it out of the database's backups.
    pub content_key_file: Option<PathBuf>,
    /// Allow the console to run as the role that owns the review store, which could then
    /// alter its own access log (development and tests; refused otherwise).
    pub single_role: bool,
    /// Consumer group on the review topics.
    pub group_id: String,
    /// Review topics to read; empty: `kafka.review_topic` and every route's topic.
    pub topics: Vec<String>,
    /// Where every decision is produced (no content).
    pub decisions_topic: String,
    /// How long a claim keeps an item away from other reviewers.
    pub lease_secs: u64,
    /// Message text and images are deleted this many days after they were stored; flags,
    /// decisions and the access log stay.
    pub content_retention_days: u32,
    /// A confirming decision holds the flag's content this many days past the retention
    /// period's reach (a legal hold, `crate::holds`); at most 3650.
    pub preservation_days: u32,
    /// How long a login lasts.
    pub session_ttl_secs: u64,
    /// A session unused this long ends (the person signs in again).
    pub session_idle_timeout_secs: u64,
    /// Revealing an image needs the person to have proved who they are within this long: the
    /// password again, or in `proxy` mode a fresh sign-in at `proxy_reauth_url`.
    pub reauth_after_secs: u64,
    /// Bound on fetching one flagged message from its source topic before retrying.
    pub content_fetch_timeout_ms: u64,
    /// How long a client may take to send a request's headers before its connection is
    /// closed (a client trickling them would otherwise hold the connection).
    pub header_read_timeout_ms: u64,
    /// Session cookies carry `Secure` (set false only to try the console over plain HTTP on
    /// localhost).
    pub secure_cookies: bool,
    /// How people sign in: `local` (accounts with passwords) or `proxy` (a trusted reverse
    /// proxy that authenticated them names the account in `proxy_user_header`).
    pub auth: ReviewAuth,
    /// `proxy` mode: the request header carrying the account's user name.
    pub proxy_user_header: String,
    /// `proxy` mode: where to send a person to sign in afresh at the proxy before a reveal
    /// (e.g. oauth2-proxy's `/oauth2/sign_in?rd={next}` with its provider asked to prompt
    /// for the login); `{next}` becomes the console path to return to, URL-encoded.
    /// Required in `proxy` mode.
    pub proxy_reauth_url: Option<String>,
    /// The addresses of the reverse proxies in front of the console. Their
    /// `X-Forwarded-For` is believed: the client is the right-most address in it that is not
    /// one of them (for the access log and sign-in throttling). In `proxy` mode they are the
    /// only peers allowed to send requests, so the user header cannot be forged around them.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `[review.cybertipline]`: where and as whom leads' reports to NCMEC go. Without it
    /// reports can be prepared but not submitted.
    pub cybertipline: Option<CyberTiplineConfig>,
    /// The Ed25519 private key (PKCS#8 PEM) that signs evidence packages. Without it cases
    /// cannot be exported.
    pub evidence_signing_key_file: Option<PathBuf>,
    /// Reveals (images and video frames) a reviewer may make per UTC day; past it reveals
    /// are refused and "claim next" gives items without images or frames. Leads are not
    /// capped. 0: no cap.
    pub daily_reveal_cap: u32,
}

/// `[review.cybertipline]`: NCMEC's CyberTipline reporting API and the reporter's details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CyberTiplineConfig {
    /// The API's base URL: `https://exttest.cybertip.org/ispws` (NCMEC's test environment)
    /// or `https://report.cybertip.org/ispws` (production). Plain `http://` only to loopback.
    pub endpoint_url: String,
    /// The reporting account's user name (HTTP Basic).
    pub username: String,
    /// A file holding the account's password (one line).
    pub password_file: PathBuf,
    /// The platform's name as reports give it (`platform`, `espService`, `chatClient`).
    pub platform: String,
    /// Each request's time limit.
    #[serde(default = "defaults::cybertipline_timeout_ms")]
    pub timeout_ms: u64,
    /// Tries per request when NCMEC answers with a server error or not at all.
    #[serde(default = "defaults::cybertipline_attempts")]
    pub attempts: u32,
    /// The wait before the second try; it doubles for each further one.
    #[serde(default = "defaults::cybertipline_backoff_ms")]
    pub backoff_ms: u64,
    /// The person NCMEC may contact about reports (`reporter/reportingPerson`).
    pub reporter: ReporterConfig,
}

/// `[review.cybertipline.reporter]`: the reporting person and the company's documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReporterConfig {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail address.
    pub email: String,
    /// Telephone number, if any.
    #[serde(default)]
    pub phone: Option<String>,
    /// The company template NCMEC set up for the account, if any (`companyTemplate`).
    #[serde(default)]
    pub company_template: Option<String>,
    /// The platform's terms of service (`termsOfService`), if given.
    #[serde(default)]
    pub terms_of_service: Option<String>,
    /// Where law enforcement sends legal process (`legalURL`), if given.
    #[serde(default)]
    pub legal_url: Option<String>,
}

impl CyberTiplineConfig {
    fn validate(&self) -> Result<(), Invalid> {
        let key = "review.cybertipline.endpoint_url";
        let Some(rest) = self
            .endpoint_url
            .strip_prefix("https://")
            .or_else(|| self.endpoint_url.strip_prefix("http://"))
        else {
            return Err(Invalid::new(key, "must be an https:// URL"));
        };
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        if self.endpoint_url.starts_with("http://") && !matches!(host, "127.0.0.1" | "localhost") {
            return Err(Invalid::new(
                key,
                "must be https:// (plain http:// only to 127.0.0.1 or localhost, for a local test server)",
            ));
        }
        for (key, value) in [
            ("review.cybertipline.username", &self.username),
            ("review.cybertipline.platform", &self.platform),
            (
                "review.cybertipline.reporter.first_name",
                &self.reporter.first_name,
            ),
            (
                "review.cybertipline.reporter.last_name",
                &self.reporter.last_name,
            ),
        ] {
            if value.trim().is_empty() {
                return Err(Invalid::new(key, "must not be empty"));
            }
        }
        if !self.reporter.email.contains('@') {
            return Err(Invalid::new(
                "review.cybertipline.reporter.email",
                "must be an e-mail address",
            ));
        }
        check_positive([
            ("review.cybertipline.timeout_ms", self.timeout_ms),
            ("review.cybertipline.attempts", u64::from(self.attempts)),
        ])
    }
}

/// How people sign in to the review console.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAuth {
    /// Local accounts with argon2id password hashes.
    #[default]
    Local,
    /// A trusted reverse proxy (SSO) authenticates and names the account in a header; the
    /// account must exist and its role comes from the console, never from the proxy.
    Proxy,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            listen: defaults::REVIEW_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8480))),
            metrics_listen: defaults::REVIEW_METRICS_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9465))),
            database_url: Secret::new(defaults::REVIEW_DATABASE_URL),
            owner_database_url: None,
            content_key_file: None,
            single_role: false,
            group_id: defaults::REVIEW_GROUP_ID.to_string(),
            topics: Vec::new(),
            decisions_topic: defaults::REVIEW_DECISIONS_TOPIC.to_string(),
            lease_secs: defaults::REVIEW_LEASE_SECS,
            content_retention_days: defaults::REVIEW_CONTENT_RETENTION_DAYS,
            preservation_days: defaults::REVIEW_PRESERVATION_DAYS,
            session_ttl_secs: defaults::REVIEW_SESSION_TTL_SECS,
            session_idle_timeout_secs: defaults::REVIEW_SESSION_IDLE_TIMEOUT_SECS,
            reauth_after_secs: defaults::REVIEW_REAUTH_AFTER_SECS,
            content_fetch_timeout_ms: defaults::REVIEW_CONTENT_FETCH_TIMEOUT_MS,
            header_read_timeout_ms: defaults::REVIEW_HEADER_READ_TIMEOUT_MS,
            secure_cookies: true,
            auth: ReviewAuth::Local,
            proxy_user_header: defaults::REVIEW_PROXY_USER_HEADER.to_string(),
            proxy_reauth_url: None,
            trusted_proxies: Vec::new(),
            cybertipline: None,
            evidence_signing_key_file: None,
            daily_reveal_cap: defaults::REVIEW_DAILY_REVEAL_CAP,
        }
    }
}

impl Section for ReviewConfig {
    fn resolve_paths(&mut self, base: &Path) {
        resolve(base, self.content_key_file.iter_mut());
        resolve(base, self.evidence_signing_key_file.iter_mut());
        resolve(
            base,
            self.cybertipline.iter_mut().map(|c| &mut c.password_file),
        );
    }

    fn validate(&self) -> Result<(), Invalid> {
        let postgres = |url: &Secret| {
            url.expose().starts_with("postgres://") || url.expose().starts_with("postgresql://")
        };
        // The values themselves are not echoed: they hold passwords.
        if !postgres(&self.database_url) {
            return Err(Invalid::new(
                "review.database_url",
                "must be a postgres:// or postgresql:// URL",
            ));
        }
        if let Some(owner) = &self.owner_database_url {
            if !postgres(owner) {
                return Err(Invalid::new(
                    "review.owner_database_url",
                    "must be a postgres:// or postgresql:// URL",
                ));
            }
            if owner.expose() == self.database_url.expose() {
                return Err(Invalid::new(
                    "review.owner_database_url",
                    "must name another role than review.database_url (the point is two)",
                ));
            }
        }
        if self.metrics_listen == self.listen {
            return Err(Invalid::new(
                "review.metrics_listen",
                "must differ from review.listen",
            ));
        }
        if self.group_id.trim().is_empty() {
            return Err(Invalid::new("review.group_id", "must not be empty"));
        }
        for topic in &self.topics {
            check_topic("review.topics", topic)?;
        }
        check_topic("review.decisions_topic", &self.decisions_topic)?;
        if self.auth == ReviewAuth::Proxy {
            if self.trusted_proxies.is_empty() {
                return Err(Invalid::new(
                    "review.trusted_proxies",
                    "proxy sign-in needs the proxy's addresses (anyone else could send the header)",
                ));
            }
            if !is_header_name(&self.proxy_user_header) {
                return Err(Invalid::new(
                    "review.proxy_user_header",
                    format!("`{}` is not a header name", self.proxy_user_header),
                ));
            }
            match self.proxy_reauth_url.as_deref() {
                Some(url)
                    if url.starts_with('/')
                        || url.starts_with("https://")
                        || url.starts_with("http://") => {}
                _ => {
                    return Err(Invalid::new(
                        "review.proxy_reauth_url",
                        "proxy sign-in needs the proxy's URL for a fresh sign-in before a reveal \
                         (a path or http(s) URL, `{next}` for the page to return to)",
                    ));
                }
            }
        }
        if let Some(cybertipline) = &self.cybertipline {
            cybertipline.validate()?;
        }
        if self.preservation_days > crate::holds::MAX_HOLD_DAYS {
            return Err(Invalid::new(
                "review.preservation_days",
                format!("at most {} days", crate::holds::MAX_HOLD_DAYS),
            ));
        }
        check_positive([
            ("review.lease_secs", self.lease_secs),
            (
                "review.preservation_days",
                u64::from(self.preservation_days),
            ),
            (
                "review.content_retention_days",
                u64::from(self.content_retention_days),
            ),
            ("review.session_ttl_secs", self.session_ttl_secs),
            (
                "review.session_idle_timeout_secs",
                self.session_idle_timeout_secs,
            ),
            ("review.reauth_after_secs", self.reauth_after_secs),
            (
                "review.content_fetch_timeout_ms",
                self.content_fetch_timeout_ms,
            ),
            ("review.header_read_timeout_ms", self.header_read_timeout_ms),
        ])?;
        Ok(())
    }
}

/// Whether `name` is a legal HTTP header name (an RFC 9110 token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
