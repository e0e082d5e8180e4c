use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use vigil_kafka::{Health, admin};
use vigil_scan::Pipeline;

/// Arguments of `vigil run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Configuration file [default: $VIGIL_CONFIG, else ./vigil.toml if present].
    #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
    config: Option<PathBuf>,
}

/// `vigil run`.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = crate::settings::load(args.config.as_deref())?;
    let pipeline = Arc::new(Pipeline::from_config(&config)?);
    let health = Arc::new(Health::new(Duration::from_secs(
        config.kafka.stall_timeout_secs,
    )));
    let shutdown = Arc::new(AtomicBool::new(false));
    let config = Arc::new(config);
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
        tokio::spawn(admin::serve(listener, health.clone()));
        let mut consumer = {
            let (health, shutdown) = (health.clone(), shutdown.clone());
            tokio::task::spawn_blocking(move || {
                vigil_kafka::run(config, pipeline, health, shutdown)
            })
        };
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
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
        Ok(consumer.await.context("the consumer thread failed")??)
    })
}
