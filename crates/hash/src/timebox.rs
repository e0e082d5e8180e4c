//! Work with a wall-clock budget that the caller can walk away from. No image decoder can be
//! interrupted safely in-process, so a job runs on a helper thread and the caller waits for it
//! only until the deadline; past it the caller gets [`TimedOut`] and goes on, and the helper
//! finishes (or stops at the job's next deadline check) on its own. Helpers are reused and
//! their number is bounded, so a flood of slow inputs cannot start unbounded threads: when
//! every helper is busy, a new job waits for one within its own deadline.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// The budget ran out before the job finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not finished within {limit_ms} ms")]
pub struct TimedOut {
    /// The budget.
    pub limit_ms: u64,
}

/// When a job's budget runs out: past it, nobody waits for the job's result, so the job
/// should stop at its next check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// The moment.
    pub at: Instant,
    /// The budget it ends.
    pub limit_ms: u64,
}

impl Deadline {
    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The error for a job that missed it.
    pub fn timed_out(&self) -> TimedOut {
        TimedOut {
            limit_ms: self.limit_ms,
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A job and the way back to the helper's own queue.
struct Task {
    job: Job,
    home: SyncSender<Task>,
}

/// A bounded set of reusable helper threads that run jobs under a time budget.
#[derive(Debug)]
pub struct Timebox {
    limit: Duration,
    max_helpers: usize,
    state: Mutex<Helpers>,
    idle_again: Condvar,
}

#[derive(Debug, Default)]
struct Helpers {
    idle: Vec<SyncSender<Task>>,
    started: usize,
}

impl Timebox {
    /// Jobs get `limit` each (waiting for a helper included); at most `max_helpers` (at least
    /// 1) run at once, abandoned ones included.
    pub fn new(limit: Duration, max_helpers: usize) -> Arc<Timebox> {
        Arc::new(Timebox {
            limit,
            max_helpers: max_helpers.max(1),
            state: Mutex::new(Helpers::default()),
            idle_again: Condvar::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, Helpers> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `job` on a helper, giving it the deadline (so it can stop early once abandoned),
    /// and returns its result if it comes within the budget. A panic in `job` is resumed
    /// here, on the caller's thread, as if the job had run on it.
    pub fn run<T, F>(self: &Arc<Self>, job: F) -> Result<T, TimedOut>
    where
        T: Send + 'static,
        F: FnOnce(Deadline) -> T + Send + 'static,
    {
        let deadline = Deadline {
            at: Instant::now() + self.limit,
            limit_ms: u64::try_from(self.limit.as_millis()).unwrap_or(u64::MAX),
        };
        let timed_out = deadline.timed_out();
        let helper = self.helper(deadline.at).ok_or(timed_out)?;
        let (done, result) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            // The caller may have gone: then nobody wants the result.
            let _ = done.send(catch_unwind(AssertUnwindSafe(|| job(deadline))));
        });
        let task = Task {
            job,
            home: helper.clone(),
        };
        if let Err(mpsc::SendError(task)) = helper.send(task) {
            // The helper thread is gone (it cannot be, short of an abort): run here, unboxed
            // of its time limit rather than not at all.
            self.state().started -= 1;
            (task.job)();
        }
        let wait = deadline.at.saturating_duration_since(Instant::now());
        match result.recv_timeout(wait) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => resume_unwind(panic),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => Err(timed_out),
        }
    }

    /// An idle helper, a new one if fewer than `max_helpers` exist, or the first to become
    /// idle before `deadline`.
    fn helper(self: &Arc<Self>, deadline: Instant) -> Option<SyncSender<Task>> {
        let mut state = self.state();
        loop {
            if let Some(helper) = state.idle.pop() {
                return Some(helper);
            }
            if state.started < self.max_helpers
                && let Some(helper) = self.spawn()
            {
                state.started += 1;
                return Some(helper);
            }
            let wait = deadline.checked_duration_since(Instant::now())?;
            state = self
                .idle_again
                .wait_timeout(state, wait)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    fn spawn(self: &Arc<Self>) -> Option<SyncSender<Task>> {
        let (sender, tasks) = mpsc::sync_channel::<Task>(1);
        let owner: Weak<Timebox> = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("vigil-timebox".into())
            .spawn(move || {
                // Ends when the timebox is dropped: its idle list held the last sender.
                while let Ok(Task { job, home }) = tasks.recv() {
                    job();
                    let Some(owner) = owner.upgrade() else {
                        return;
                    };
                    owner.state().idle.push(home);
                    owner.idle_again.notify_one();
                }
            })
            .ok()
            .map(|_| sender)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;

    use super::*;

    #[test]
    fn a_job_within_the_budget_returns_its_value() {
        let timebox = Timebox::new(Duration::from_secs(30), 1);
        assert_eq!(timebox.run(|_| 6 * 7), Ok(42));
        // The helper is reused (waiting for it to come back to the idle list).
        assert_eq!(timebox.run(|_| 1), Ok(1));
        assert_eq!(timebox.state().started, 1);
    }

    #[test]
    fn a_stuck_job_is_abandoned_at_the_deadline_and_its_helper_comes_back() {
        let timebox = Timebox::new(Duration::from_millis(50), 1);
        let (release, stuck) = channel::<()>();
        let (finished, abandoned_done) = channel();
        let result = timebox.run(move |deadline| {
            stuck.recv().ok();
            finished.send(deadline.passed()).ok();
        });
        assert_eq!(result, Err(TimedOut { limit_ms: 50 }));
        // The only helper is still busy: the next job times out waiting for it.
        assert_eq!(timebox.run(|_| ()), Err(TimedOut { limit_ms: 50 }));
        release.send(()).unwrap();
        assert_eq!(abandoned_done.recv(), Ok(true), "it saw its deadline pass");
        let mut again = timebox.run(|_| 7);
        // The helper goes back to the idle list just after its job's result is sent.
        for _ in 0..100 {
            if again.is_ok() {
                break;
            }
            again = timebox.run(|_| 7);
        }
        assert_eq!(again, Ok(7));
        assert_eq!(timebox.state().started, 1, "no second helper");
    }

    #[test]
    fn a_panic_in_the_job_reaches_the_caller() {
        let timebox = Timebox::new(Duration::from_secs(30), 1);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            timebox.run(|_| -> u8 { panic!("in the job") })
        }));
        let panic = caught.expect_err("the panic is resumed");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"in the job"));
        assert_eq!(timebox.run(|_| 3), Ok(3), "the helper survives");
    }
}
