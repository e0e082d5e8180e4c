//! The consume → scan → produce loop, by concern:
//!
//! - [`poll`] — one poll thread owns the consumer: it polls, hands records to the scanning
//!   pool, applies completions to the per-partition watermarks; it never scans.
//!   Backpressure: past `max_in_flight` records dispatch waits; past `max_buffered_bytes`
//!   waiting, the assignment is paused, and resumed at half.
//! - [`deliver`] — scanning threads run the pipeline and produce each record's outputs; the
//!   last delivery report of a record completes it.
//! - [`rebalance`] — revocation drains and commits before the partitions go; assignment
//!   sets up tracking and the crash-loop guards.
//! - [`commit`] — one commit strategy per delivery mode, chosen here at start-up;
//!   [`state`] carries its steps out on the loop's state. Revocation and shutdown share one
//!   drain path.

mod commit;
mod deliver;
mod error;
mod poll;
mod rebalance;
mod state;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::RunConfig;
use crossbeam_channel::unbounded;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;
use tracing::{info, warn};
use vigil_metrics::Metrics;
use vigil_scan::SharedPipeline;

use crate::Health;
use crate::access::check_access;
use crate::breaker;
use crate::client;
use crate::entries;
use commit::{Commits, Committer};
use deliver::{DeliveryContext, Job, Output, Shared, retry_worker, scan_worker};
pub use error::RunError;
use error::setup;
use poll::{POLL_BATCH, poll_loop, set_paused};
use rebalance::RunContext;
use state::LoopState;

/// Consumes `config.kafka.input_topics` until `shutdown` is set, then drains, commits and
/// returns. Blocks the calling thread (run it off any async runtime).
pub fn run(
    config: Arc<RunConfig>,
    pipeline: Arc<SharedPipeline>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    shutdown: Arc<AtomicBool>,
) -> Result<(), RunError> {
    let k = &config.kafka;
    check_access(k)?;
    let containment = if config.containment.enabled {
        Some(entries::sync::start(
            k,
            &config.containment,
            &config.decisions_topic,
            metrics.clone(),
            shutdown.clone(),
        )?)
    } else {
        None
    };
    let commits = Commits::new(k, Instant::now());
    let (completions_tx, completions_rx) = unbounded();
    let (retries_tx, retries_rx) = unbounded();
    let producer: Arc<Output> = Arc::new(
        commits
            .producer_settings(k, config.admin.listen.port())
            .create_with_context(DeliveryContext {
                completions: completions_tx.clone(),
                retries: commits.resends().then_some(retries_tx),
                metrics: metrics.clone(),
            })
            .map_err(setup("producer"))?,
    );
    commits.start(&producer)?;
    let breaker = (commits.stores_offsets() && k.crash_loop_limit > 0).then(|| breaker::Settings {
        limit: k.crash_loop_limit,
        // A second crash leaves the committed offset within about this of its cause.
        serial_window: (2 * k.max_in_flight + POLL_BATCH) as i64,
    });
    let commit_thread = commits.stores_offsets();
    let context = RunContext {
        state: Mutex::new(LoopState::new(commits, completions_rx)),
        drain_timeout: Duration::from_secs(k.shutdown_timeout_secs),
        health: health.clone(),
        metrics: metrics.clone(),
        producer: producer.clone(),
        committer: Committer::new(metrics.clone()),
        breaker,
        from_earliest: client::scanner_consumer(k)
            .get("auto.offset.reset")
            .is_none_or(|reset| ["earliest", "smallest", "beginning"].contains(&reset)),
    };
    let consumer: Arc<BaseConsumer<RunContext>> = Arc::new(
        client::scanner_consumer(k)
            .create_with_context(context)
            .map_err(setup("consumer"))?,
    );
    let topics: Vec<&str> = k.input_topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).map_err(setup("subscription"))?;
    health.set_lists_loaded();

    let shared = Arc::new(Shared {
        config: config.clone(),
        pipeline,
        producer: producer.clone(),
        completions: completions_tx,
        metrics,
        containment,
    });
    let (jobs_tx, jobs_rx) = unbounded::<Job>();
    let workers = vigil_scan::config::scanning_threads(k.worker_threads);
    for i in 0..workers {
        let (jobs, shared) = (jobs_rx.clone(), shared.clone());
        std::thread::Builder::new()
            .name(format!("vigil-scan-{i}"))
            .spawn(move || scan_worker(jobs, shared))
            .map_err(|e| RunError::Fatal(format!("cannot start scanning threads: {e}")))?;
    }
    let retry_producer = producer.clone();
    std::thread::Builder::new()
        .name("vigil-retry".into())
        .spawn(move || retry_worker(retries_rx, retry_producer))
        .map_err(|e| RunError::Fatal(format!("cannot start the retry thread: {e}")))?;
    let stop_committing = Arc::new(AtomicBool::new(false));
    let committer = if commit_thread {
        let (consumer, stop) = (consumer.clone(), stop_committing.clone());
        let interval = Duration::from_millis(k.commit_interval_ms);
        let thread = std::thread::Builder::new()
            .name("vigil-commit".into())
            .spawn(move || consumer.context().committer.run(&consumer, interval, &stop))
            .map_err(|e| RunError::Fatal(format!("cannot start the commit thread: {e}")))?;
        Some(thread)
    } else {
        None
    };
    let delivery = k.delivery;
    info!(topics = ?k.input_topics, group = %k.group_id, ?delivery, workers, "consuming");

    let result = poll_loop(&consumer, &producer, &jobs_tx, k, &health, &shutdown);
    if let Err(err) = &result {
        health.set_failed(err.to_string());
    }
    stop_committing.store(true, Ordering::SeqCst);
    if let Some(committer) = committer {
        let _ = committer.join();
    }
    close(
        &consumer,
        &producer,
        Duration::from_secs(k.shutdown_timeout_secs),
    );
    result
}

/// Shutdown: pause, drain within the bound, commit, leave the group, flush the producer.
fn close(consumer: &BaseConsumer<RunContext>, producer: &Output, bound: Duration) {
    info!("shutting down: draining in-flight records");
    let mut state = consumer.context().state();
    set_paused(consumer, &mut state, true);
    let deadline = Instant::now() + bound;
    let drained = state.drain(consumer, deadline, |t| t.in_flight() == 0);
    state.closing = true;
    let step = state.commits.on_close(drained);
    let all: Vec<_> = state.guards.keys().cloned().collect();
    if let Err(err) = state.perform(consumer, step, &all) {
        warn!(error = %err, "final commit failed; uncommitted records will be redelivered");
    }
    drop(state);
    consumer.unsubscribe();
    // Whatever the drain and commit left of the bound (an unreachable broker must not
    // double it).
    let left = deadline.saturating_duration_since(Instant::now());
    if let Err(err) = producer.flush(left.max(Duration::from_secs(1))) {
        warn!(error = %err, "producer flush incomplete");
    }
    info!(drained, "stopped");
}
