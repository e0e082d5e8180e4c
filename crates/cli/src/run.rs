use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use vigil_kafka::Health;
use vigil_kafka::admin::{self, Admin};
use vigil_kafka::config::Delivery;
use vigil_metrics::{BuildInfo, Metrics};
use vigil_scan::{ListChange, Reloader};

/// Arguments of `vigil run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Configuration file [default: $VIGIL_CONFIG, else ./vigil.toml if present].
    #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
    config: Option<PathBuf>,
    /// Log line format on stderr (the level filter is $VIGIL_LOG, default `info`).
    #[arg(long, value_enum, env = "VIGIL_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

pub(crate) fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Seconds past `kafka.shutdown_timeout_secs` after which a shutdown gives up on the
/// consumer's last calls (committing, leaving the group) and exits.
const SHUTDOWN_GRACE_SECS: u64 = 10;

/// Unix time now, as a metric value.
fn unix_now() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as f64
}

/// `vigil run`.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let config = crate::settings::load(args.config.as_deref())?;
    config.lists.check_signed().map_err(anyhow::Error::msg)?;
    let reloader = Reloader::start(
        crate::settings::scan_config(&config)?,
        config.kafka.worker_threads,
    )?;
    let pipeline = reloader.shared();
    let delivery = match config.kafka.delivery {
        Delivery::AtLeastOnce => "at-least-once",
        Delivery::ExactlyOnce => "exactly-once",
    };
    let metrics = Arc::new(Metrics::new(&BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        delivery,
    }));
    metrics.lists_in_force(pipeline.current().lists(), unix_now());
    let reload = spawn_reloader(reloader, config.lists.reload_interval_ms, metrics.clone())?;
    let health = Arc::new(Health::new(Duration::from_secs(
        config.kafka.stall_timeout_secs,
    )));
    let shutdown = Arc::new(AtomicBool::new(false));
    let shutdown_timeout_secs = config.kafka.shutdown_timeout_secs;
    let config = Arc::new(config.run());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listen = config.admin.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("config key `admin.listen`: cannot listen on {listen}"))?;
        tracing::info!(%listen, "admin endpoint up");
        let routes = Admin {
            health: health.clone(),
            metrics: metrics.clone(),
            pipeline: pipeline.clone(),
        };
        tokio::spawn(admin::serve(listener, routes));
        let mut consumer = {
            let (health, shutdown) = (health.clone(), shutdown.clone());
            tokio::task::spawn_blocking(move || {
                vigil_kafka::run(config, pipeline, health, metrics, shutdown)
            })
        };
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading lists");
                let _ = reload.send(());
            }
        });
        tokio::select! {
            result = &mut consumer => return Ok(result.context("the consumer thread failed")??),
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        shutdown.store(true, Ordering::SeqCst);
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            tracing::warn!("second signal: exiting without draining");
            std::process::exit(130);
        });
        // The runtime bounds draining; this bounds what it cannot (a commit or group leave
        // waiting on an unreachable broker), so a deploy never waits much past the bound.
        let bound = Duration::from_secs(shutdown_timeout_secs + SHUTDOWN_GRACE_SECS);
        match tokio::time::timeout(bound, &mut consumer).await {
            Ok(result) => Ok(result.context("the consumer thread failed")??),
            Err(_) => {
                tracing::warn!(
                    seconds = bound.as_secs(),
                    "shutdown did not finish in time (broker unreachable?); exiting: \
                     uncommitted records will be redelivered"
                );
                std::process::exit(1);
            }
        }
    })
}

/// Starts the thread that reloads lists every `interval_ms` (0: only when triggered) and
/// whenever the returned sender is signalled (SIGHUP). Reloading never blocks scanning: the
/// new pipeline is built here and swapped in whole.
fn spawn_reloader(
    mut reloader: Reloader,
    interval_ms: u64,
    metrics: Arc<Metrics>,
) -> anyhow::Result<std::sync::mpsc::Sender<()>> {
    let (trigger, triggers) = std::sync::mpsc::channel::<()>();
    let interval = (interval_ms > 0).then(|| Duration::from_millis(interval_ms));
    std::thread::Builder::new()
        .name("vigil-reload".into())
        .spawn(move || {
            loop {
                let next = match interval {
                    Some(interval) => triggers
                        .recv_timeout(interval)
                        .map_err(|e| matches!(e, std::sync::mpsc::RecvTimeoutError::Disconnected)),
                    None => triggers.recv().map_err(|_| true),
                };
                if next == Err(true) {
                    return;
                }
                let report = reloader.reload(time::OffsetDateTime::now_utc());
                metrics.list_update(&report);
                if report.swapped {
                    metrics.lists_in_force(reloader.shared().current().lists(), unix_now());
                }
                log_reload(report);
            }
        })
        .context("cannot start the list reload thread")?;
    Ok(trigger)
}

fn log_reload(report: vigil_scan::ReloadReport) {
    for change in &report.changes {
        match change {
            ListChange::Replaced { old, new } => tracing::info!(
                list = %new.name,
                old_version = %old.version,
                version = %new.version,
                entries = new.entries,
                skipped_lines = new.skipped_lines,
                "list reloaded"
            ),
            ListChange::Refused { kept, error } => tracing::warn!(
                list = %kept.name,
                version_in_force = %kept.version,
                error = %error,
                "list update refused; the version in force stays"
            ),
        }
    }
    if let Some(error) = &report.build_error {
        tracing::warn!(error = %error, "rebuilding the scanner failed; the lists in force stay");
    } else if report.swapped {
        tracing::info!("new lists in force");
    }
}
