//! A memory budget shared by the threads that decode and hash images: each image takes, before
//! its pixels are allocated, what decoding and hashing it will hold, and waits while the
//! others hold too much. Without it, N scanning threads each decoding a maximal image (the
//! limits admit 8192 × 8192: 201 MB of RGB plus 268 MB of PDQ's f32 luma) need N times that
//! at once — a few crafted messages could then push a process past its memory limit.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::{Deadline, TimedOut};

/// Bytes that decoding and hashing images may hold at once across threads.
#[derive(Debug)]
pub struct DecodeBudget {
    limit_bytes: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// Memory taken from a [`DecodeBudget`]; given back when dropped.
#[derive(Debug)]
pub struct BudgetPermit {
    budget: Arc<DecodeBudget>,
    bytes: u64,
}

impl DecodeBudget {
    /// A budget of `limit_bytes`.
    pub fn new(limit_bytes: u64) -> Arc<DecodeBudget> {
        Arc::new(DecodeBudget {
            limit_bytes,
            used: Mutex::new(0),
            freed: Condvar::new(),
        })
    }

    fn used(&self) -> MutexGuard<'_, u64> {
        self.used
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes `bytes`, waiting until they fit, or gives up once `deadline` has passed. An
    /// image larger than the whole budget (the decoding limits still admit it) proceeds
    /// alone, once nothing else is held.
    pub fn acquire(
        self: &Arc<Self>,
        bytes: u64,
        deadline: Option<Deadline>,
    ) -> Result<BudgetPermit, TimedOut> {
        let mut used = self.used();
        while *used > 0 && used.saturating_add(bytes) > self.limit_bytes {
            used = match deadline {
                None => self
                    .freed
                    .wait(used)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let wait = deadline
                        .at
                        .checked_duration_since(Instant::now())
                        .ok_or(deadline.timed_out())?;
                    self.freed
                        .wait_timeout(used, wait)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
        *used += bytes;
        Ok(BudgetPermit {
            budget: self.clone(),
            bytes,
        })
    }

    /// Bytes held now.
    pub fn in_use(&self) -> u64 {
        *self.used()
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        *self.budget.used() -= self.bytes;
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn holders_never_exceed_the_budget_and_an_oversized_one_runs_alone() {
        let budget = DecodeBudget::new(100);
        let peak = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = [60, 60, 30, 150, 40, 60]
            .into_iter()
            .map(|bytes| {
                let (budget, peak) = (budget.clone(), peak.clone());
                std::thread::spawn(move || {
                    let permit = budget.acquire(bytes, None).unwrap();
                    let held = budget.in_use();
                    peak.fetch_max(held, Ordering::SeqCst);
                    assert!(held <= 100 || held == bytes, "{held} held with {bytes}");
                    std::thread::sleep(Duration::from_millis(20));
                    drop(permit);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(budget.in_use(), 0);
        assert!(peak.load(Ordering::SeqCst) <= 150);
    }

    #[test]
    fn a_waiter_gives_up_at_its_deadline() {
        let budget = DecodeBudget::new(100);
        let held = budget.acquire(80, None).unwrap();
        let deadline = Deadline {
            at: Instant::now() + Duration::from_millis(20),
            limit_ms: 20,
        };
        assert_eq!(
            budget.acquire(30, Some(deadline)).err(),
            Some(TimedOut { limit_ms: 20 })
        );
        assert!(deadline.passed());
        assert_eq!(budget.in_use(), 80, "giving up takes nothing");
        drop(held);
        assert!(
            budget.acquire(30, Some(deadline)).is_ok(),
            "it fits: no wait"
        );
    }
}
