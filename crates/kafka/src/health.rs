use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What `/healthz` and `/readyz` report, updated by the runtime.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    stall_timeout: Duration,
    /// Milliseconds since `started` at the poll loop's last iteration.
    last_poll_ms: AtomicU64,
    lists_loaded: AtomicBool,
    joined: AtomicBool,
    /// librdkafka reported every broker down, and none has answered since.
    brokers_down: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl Health {
    /// Health with a stall watchdog of `stall_timeout`.
    pub fn new(stall_timeout: Duration) -> Health {
        Health {
            started: Instant::now(),
            stall_timeout,
            last_poll_ms: AtomicU64::new(0),
            lists_loaded: AtomicBool::new(false),
            joined: AtomicBool::new(false),
            brokers_down: AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }

    /// The poll loop made progress.
    pub fn beat(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_poll_ms.store(now, Ordering::Relaxed);
    }

    /// Lists are compiled and in force.
    pub fn set_lists_loaded(&self) {
        self.lists_loaded.store(true, Ordering::Relaxed);
    }

    /// The consumer joined its group (got an assignment, possibly empty).
    pub fn set_joined(&self) {
        self.joined.store(true, Ordering::Relaxed);
    }

    /// Whether any broker is reachable (an outage makes `/readyz` fail, not `/healthz`: the
    /// process keeps polling and resumes by itself).
    pub fn set_brokers_reachable(&self, reachable: bool) {
        self.brokers_down.store(!reachable, Ordering::Relaxed);
    }

    /// The runtime hit an unrecoverable error.
    pub fn set_failed(&self, why: String) {
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(why);
        }
    }

    /// `Ok` when the process is alive and its poll loop progressing; else why not.
    pub fn live(&self) -> Result<(), String> {
        if let Some(why) = self.failure.lock().ok().and_then(|f| f.clone()) {
            return Err(format!("failed: {why}"));
        }
        let last = Duration::from_millis(self.last_poll_ms.load(Ordering::Relaxed));
        let since = self.started.elapsed().saturating_sub(last);
        if since > self.stall_timeout {
            return Err(format!(
                "poll loop stalled: no progress for {} s (kafka.stall_timeout_secs = {})",
                since.as_secs(),
                self.stall_timeout.as_secs()
            ));
        }
        Ok(())
    }

    /// `Ok` when lists are loaded and the group is joined (and the process is live).
    pub fn ready(&self) -> Result<(), String> {
        self.live()?;
        if !self.lists_loaded.load(Ordering::Relaxed) {
            return Err("lists not loaded".into());
        }
        if !self.joined.load(Ordering::Relaxed) {
            return Err("consumer group not joined".into());
        }
        if self.brokers_down.load(Ordering::Relaxed) {
            return Err("no Kafka broker reachable; consuming resumes when one answers".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_lists_and_group_and_liveness_needs_progress() {
        let health = Health::new(Duration::from_millis(50));
        health.beat();
        assert_eq!(health.live(), Ok(()));
        assert_eq!(health.ready(), Err("lists not loaded".into()));
        health.set_lists_loaded();
        assert_eq!(health.ready(), Err("consumer group not joined".into()));
        health.set_joined();
        assert_eq!(health.ready(), Ok(()));
        health.set_brokers_reachable(false);
        assert!(health.ready().unwrap_err().contains("no Kafka broker"));
        assert_eq!(health.live(), Ok(()));
        health.set_brokers_reachable(true);
        assert_eq!(health.ready(), Ok(()));
        std::thread::sleep(Duration::from_millis(120));
        assert!(health.live().unwrap_err().contains("stalled"));
        health.beat();
        assert_eq!(health.live(), Ok(()));
        health.set_failed("producer fenced".into());
        assert!(health.ready().unwrap_err().contains("producer fenced"));
    }
}
