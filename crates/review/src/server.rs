//! `vigil review`: the console's parts running together — ingestion (a blocking thread), the
//! decision publisher, the retention purge and the HTTP server — until a stop signal.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::ConsoleConfig;
use tracing::{info, warn};

use crate::ingest::{IngestError, IngestProgress, ingest};
use crate::listen::serve;
use crate::package::PackageSigner;
use crate::reports::CyberTipline;
use crate::store::{Store, StoreError};

/// How long start-up waits for the database.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often content past its retention is deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// The console could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Ingestion could not start or failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The decisions producer could not be created.
    #[error("cannot create the decisions producer: {0}")]
    Producer(rdkafka::error::KafkaError),
    /// The HTTP server failed.
    #[error("review console HTTP server: {0}")]
    Http(std::io::Error),
    /// The CyberTipline client could not be made (its password file).
    #[error("{0}")]
    Reporting(std::io::Error),
    /// The evidence packages' signing key could not be read.
    #[error(transparent)]
    Package(#[from] crate::package::PackageError),
}

async fn purge_loop(store: Store, retention: Duration) {
    loop {
        match store.purge_content(retention).await {
            Ok(purged) if purged.flags > 0 || purged.holds_expired > 0 => {
                info!(
                    flags = purged.flags,
                    images = purged.images,
                    frames = purged.frames,
                    holds_expired = purged.holds_expired,
                    "content past retention deleted (held flags kept)"
                );
            }
            Ok(_) => {}
            Err(err) => warn!(error = %err, "retention purge failed; retrying later"),
        }
        tokio::time::sleep(PURGE_INTERVAL).await;
    }
}

/// Where the console listens.
#[derive(Debug)]
pub struct Listeners {
    /// The pages people use (`review.listen`).
    pub console: tokio::net::TcpListener,
    /// `/metrics` and `/healthz` (`review.metrics_listen`).
    pub admin: tokio::net::TcpListener,
}

/// Runs the console on `listeners` until `stop` completes; then stops ingesting (committing
/// what was stored) and returns.
pub async fn run(
    config: Arc<ConsoleConfig>,
    listeners: Listeners,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ConsoleError> {
    let cybertipline = match &config.review.cybertipline {
        Some(c) => Some(CyberTipline::new(c).map_err(ConsoleError::Reporting)?),
        None => None,
    };
    let signer = match &config.review.evidence_signing_key_file {
        Some(path) => Some(PackageSigner::load(path)?),
        None => None,
    };
    let store = Store::for_console(&config.review, CONNECT_TIMEOUT).await?;
    let shutdown = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(IngestProgress::new(&config.topics.clone()));
    let mut ingesting = {
        let (config, store, shutdown) = (config.clone(), store.clone(), shutdown.clone());
        let handle = tokio::runtime::Handle::current();
        let progress = progress.clone();
        tokio::task::spawn_blocking(move || ingest(&config, &store, &handle, &shutdown, progress))
    };
    let publisher = {
        let (config, store) = (config.clone(), store.clone());
        tokio::spawn(async move { crate::decisions::publish(&config, store).await })
    };
    let retention = Duration::from_secs(u64::from(config.review.content_retention_days) * 86_400);
    let purge = tokio::spawn(purge_loop(store.clone(), retention));
    info!(
        listen = %listeners.console.local_addr().map_err(ConsoleError::Http)?,
        metrics = %listeners.admin.local_addr().map_err(ConsoleError::Http)?,
        "review console up"
    );
    let header_read_timeout = Duration::from_millis(config.review.header_read_timeout_ms);
    let admin = tokio::spawn(serve(
        listeners.admin,
        crate::web::admin_router(store.clone(), progress),
        header_read_timeout,
        std::future::pending(),
    ));
    let app = crate::web::router(store, config, cybertipline, signer);
    let server = serve(listeners.console, app, header_read_timeout, stop);
    let outcome = tokio::select! {
        () = server => Ok(()),
        ingested = &mut ingesting => match ingested {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err.into()),
            Err(join) => Err(ConsoleError::Http(std::io::Error::other(join.to_string()))),
        },
    };
    shutdown.store(true, Ordering::SeqCst);
    if !ingesting.is_finished() {
        let _ = ingesting.await;
    }
    purge.abort();
    admin.abort();
    match publisher.is_finished() {
        true => {
            if let Ok(Err(err)) = publisher.await {
                return Err(ConsoleError::Producer(err));
            }
        }
        false => publisher.abort(),
    }
    outcome
}
