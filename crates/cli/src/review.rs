use std::io::BufRead as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::signal::unix::{SignalKind, signal};
use vigil_review::Store;
use vigil_review::access::{Access, Action};
use vigil_review::accounts::Role;

/// `vigil review` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Run the review console: read the review topics into PostgreSQL (fetching each flagged
    /// message's text and images from its source topic), serve the queue on
    /// `review.listen`, publish decisions to `review.decisions_topic`, and delete content
    /// after `review.content_retention_days`.
    ///
    /// Applies pending database migrations at start-up. SIGTERM or SIGINT stops it after
    /// committing what was stored. docs/review.md describes the workflow.
    ///
    /// Example: vigil review serve --config vigil.toml
    Serve(ServeArgs),
    /// Bring the review store's schema up to date. With review.owner_database_url, as that
    /// role (the tables' owner), then granting the console's role (review.database_url's
    /// user) only what it needs: on the access log SELECT and INSERT. Without it, as
    /// review.database_url's role (development). Run it before starting a new version.
    ///
    /// Example: VIGIL_REVIEW__OWNER_DATABASE_URL=postgres://owner:...@db/vigil vigil review migrate
    Migrate {
        /// Configuration file [default: $VIGIL_CONFIG, else ./vigil.toml if present].
        #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check the access log's hash chain: every row in place and unchanged since it was
    /// written. Prints the rows checked and the head (id and hash: keep it, and a later check
    /// shows whether rows were removed from the end), or the first row that does not fit.
    /// Exits 1 if the chain is broken. Reads only; an auditor's read-only role will do.
    ///
    /// Example: vigil review verify-log --config vigil.toml
    VerifyLog {
        /// Configuration file [default: $VIGIL_CONFIG, else ./vigil.toml if present].
        #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Re-wrap every flag's data key under the active key of review.content_key_file (its
    /// first line), so an older key can be removed from the file. Content is not re-sealed;
    /// consoles keep running (each opens under any key the file lists). Also seals content
    /// stored before sealing existed (an upgrade), each flag under a new data key. Prints how
    /// many keys were re-wrapped and flags sealed. docs/security.md#content-at-rest
    /// describes the rotation.
    ///
    /// Example: vigil review rotate-keys --config vigil.toml
    RotateKeys {
        /// Configuration file [default: $VIGIL_CONFIG, else ./vigil.toml if present].
        #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check an evidence package (a case exported from the console as a tar archive)
    /// against the platform's published public key: the Ed25519 signature over its
    /// manifest, every file's SHA-256 and MD5, SHA256SUMS, and that it holds nothing else.
    /// Prints the case, its files and custody rows, or what failed; exits 1 if it does not
    /// verify. Needs no database.
    ///
    /// Example: vigil review verify-package vigil-case-20261207T093000Z.tar --public-key evidence.pub.pem
    VerifyPackage {
        /// The package (tar archive).
        #[arg(value_name = "PACKAGE")]
        package: PathBuf,
        /// The public key (PEM, Ed25519) the platform published for its packages.
        #[arg(long, value_name = "PEM")]
        public_key: PathBuf,
    },
    /// Manage console accounts.
    #[command(subcommand)]
    User(UserCommand),
}

/// Arguments of `vigil review serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Configuration file [default: $VIGIL_CONFIG, else ./vigil.toml if present].
    #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
    config: Option<PathBuf>,
    /// Log line format on stderr (the level filter is $VIGIL_LOG, default `info`).
    #[arg(long, value_enum, env = "VIGIL_LOG_FORMAT", default_value = "text")]
    log_format: crate::run::LogFormat,
}

/// `vigil review user` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum UserCommand {
    /// Create an account. The password is read from the first line of standard input (at
    /// least 12 characters) unless --proxy-only. Prints the account's pseudonym, the name
    /// its decisions carry.
    ///
    /// Example: printf '%s\n' "$PASSWORD" | vigil review user add alice --role reviewer
    Add {
        /// Login name: 1-64 of a-z 0-9 . _ -
        username: String,
        /// reviewer, lead or auditor.
        #[arg(long, value_parser = ["reviewer", "lead", "auditor"])]
        role: String,
        /// No password: the account signs in only through the trusted proxy.
        #[arg(long)]
        proxy_only: bool,
        /// Configuration file [default: $VIGIL_CONFIG, else ./vigil.toml if present].
        #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Set an account's password (read from the first line of standard input, at least 12
    /// characters); every session of the account ends. For a reviewer who forgot theirs:
    /// signed in, people change their own on the console's Password page.
    ///
    /// Example: printf '%s\n' "$PASSWORD" | vigil review user passwd alice
    Passwd {
        /// Login name.
        username: String,
        /// Configuration file [default: $VIGIL_CONFIG, else ./vigil.toml if present].
        #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Disable an account (its sessions end at once) or, with --enable, enable it again.
    Disable {
        /// Login name.
        username: String,
        /// Enable instead.
        #[arg(long)]
        enable: bool,
        /// Configuration file [default: $VIGIL_CONFIG, else ./vigil.toml if present].
        #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// The first line of standard input, without its line break.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        bail!("no password on standard input");
    }
    Ok(line)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

async fn open(config: &vigil_config::Config) -> anyhow::Result<Store> {
    Ok(Store::for_console(&config.review, Duration::from_secs(30)).await?)
}

fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, format!("{line}\n").as_bytes())?;
    Ok(())
}

/// `vigil review`; `Ok(false)`: it ran and found a problem (exit status 1).
pub(crate) fn run(command: Command) -> anyhow::Result<bool> {
    match command {
        Command::Serve(args) => serve(args).map(|()| true),
        Command::Migrate { config } => {
            let config = crate::settings::load(config.as_deref())?;
            let migrated =
                runtime()?.block_on(Store::migrate(&config.review, Duration::from_secs(30)))?;
            match migrated.runtime_role {
                Some(role) => say(&format!(
                    "review store at migration {}; role {role} granted the console's privileges",
                    migrated.version
                ))?,
                None => say(&format!(
                    "review store at migration {} (one role: set review.owner_database_url to keep the console from owning its access log)",
                    migrated.version
                ))?,
            }
            Ok(true)
        }
        Command::VerifyLog { config } => {
            let config = crate::settings::load(config.as_deref())?;
            let report = runtime()?.block_on(async {
                let store =
                    Store::connect_reading(&config.review.database_url, Duration::from_secs(30))
                        .await?;
                Ok::<_, anyhow::Error>(store.verify_access_log().await?)
            })?;
            match (&report.broken, &report.head) {
                (Some(broken), _) => say(&format!(
                    "access log BROKEN at row {}: {} ({} rows before it are intact)",
                    broken.id, broken.why, report.rows
                ))?,
                (None, Some((id, hash))) => say(&format!(
                    "access log intact: {} rows; head row {id}, hash {hash}",
                    report.rows
                ))?,
                (None, None) => say("access log intact: no rows yet")?,
            }
            Ok(report.broken.is_none())
        }
        Command::VerifyPackage {
            package,
            public_key,
        } => {
            let key = vigil_review::package::read_public_key(&public_key)?;
            let archive = std::fs::read(&package)
                .with_context(|| format!("reading {}", package.display()))?;
            match vigil_review::package::verify(&archive, &key) {
                Ok(verified) => {
                    let m = &verified.manifest;
                    say(&format!(
                        "package verified: account {}, {} flags, {} files, {} custody rows, made {} by {}",
                        m.sender_id,
                        m.flags.len(),
                        m.files.len(),
                        m.chain_of_custody.len(),
                        m.created_at,
                        m.created_by
                    ))?;
                    Ok(true)
                }
                Err(err) => {
                    say(&format!("package does NOT verify: {err}"))?;
                    Ok(false)
                }
            }
        }
        Command::RotateKeys { config } => {
            let config = crate::settings::load(config.as_deref())?;
            let (rotated, sealed) = runtime()?.block_on(async {
                let store = open(&config).await?;
                let rotated = store.rotate_content_keys().await?;
                Ok::<_, anyhow::Error>((rotated, store.seal_legacy_content().await?))
            })?;
            say(&format!(
                "{rotated} data keys re-wrapped under the active content key; \
                 {sealed} flags stored before sealing now sealed"
            ))?;
            Ok(true)
        }
        Command::User(UserCommand::Add {
            username,
            role,
            proxy_only,
            config,
        }) => {
            let config = crate::settings::load(config.as_deref())?;
            let role = Role::parse(&role).context("role must be reviewer, lead or auditor")?;
            let password = if proxy_only {
                None
            } else {
                Some(password_from_stdin().context("or use --proxy-only")?)
            };
            let reviewer = runtime()?.block_on(async {
                let store = open(&config).await?;
                Ok::<_, anyhow::Error>(
                    store
                        .add_reviewer(&username, role, password.as_deref())
                        .await?,
                )
            })?;
            say(&reviewer.pseudonym)?;
            Ok(true)
        }
        Command::User(UserCommand::Passwd { username, config }) => {
            let config = crate::settings::load(config.as_deref())?;
            let password = password_from_stdin()?;
            runtime()?.block_on(async {
                let store = open(&config).await?;
                let who = store.set_password(&username, &password).await?;
                let reset = Access::by(&who, Action::ChangePassword, "")
                    .detail("reset with vigil review user passwd");
                Ok::<_, anyhow::Error>(store.log_access(&reset).await?)
            })?;
            Ok(true)
        }
        Command::User(UserCommand::Disable {
            username,
            enable,
            config,
        }) => {
            let config = crate::settings::load(config.as_deref())?;
            runtime()?.block_on(async {
                let store = open(&config).await?;
                Ok::<_, anyhow::Error>(store.set_disabled(&username, !enable).await?)
            })?;
            Ok(true)
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    crate::run::init_logging(args.log_format);
    let config = Arc::new(vigil_review::config::ConsoleConfig {
        video_worker: Some(crate::settings::video_worker()?),
        ..crate::settings::load(args.config.as_deref())?.console()
    });
    runtime()?.block_on(async move {
        let bind = |key: &'static str, addr: std::net::SocketAddr| async move {
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("config key `{key}`: cannot listen on {addr}"))
        };
        let listeners = vigil_review::Listeners {
            console: bind("review.listen", config.review.listen).await?,
            admin: bind("review.metrics_listen", config.review.metrics_listen).await?,
        };
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let stop = async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
            }
        };
        Ok(vigil_review::run(config, listeners, stop).await?)
    })
}
