//! Rebalancing: the consumer's context. A revocation drains and commits as the commit
//! strategy says before the partitions go; an assignment starts tracking the partitions and
//! sets up their crash-loop guards. librdkafka's statistics feed the lag metrics and health.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{error, info, warn};
use vigil_metrics::Metrics;

use super::commit::{CALL_TIMEOUT, Committer};
use super::deliver::Output;
use super::state::{LoopContext, LoopState, buffered_size};
use crate::Health;
use crate::breaker::{self, Guard, Mark, Mode};
use crate::tracker::TopicPartition;

/// The consumer's context: the loop's state and what its callbacks need.
pub(super) struct RunContext {
    pub(super) state: Mutex<LoopState>,
    pub(super) drain_timeout: Duration,
    pub(super) health: Arc<Health>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) producer: Arc<Output>,
    pub(super) committer: Committer,
    /// At-least-once: the crash-loop breaker, unless `kafka.crash_loop_limit` is 0.
    pub(super) breaker: Option<breaker::Settings>,
    /// Whether a partition without a committed offset starts at its beginning.
    pub(super) from_earliest: bool,
}

impl LoopContext for RunContext {
    fn committer(&self) -> &Committer {
        &self.committer
    }

    fn producer(&self) -> &Output {
        &self.producer
    }
}

impl ClientContext for RunContext {
    /// librdkafka statistics (every `statistics.interval.ms`): consumer lag per partition.
    fn stats(&self, statistics: Statistics) {
        let lags: Vec<(&str, i32, i64)> = statistics
            .topics
            .iter()
            .flat_map(|(topic, t)| {
                t.partitions
                    .values()
                    .filter(|p| p.partition >= 0 && p.desired && p.consumer_lag >= 0)
                    .map(move |p| (topic.as_str(), p.partition, p.consumer_lag))
            })
            .collect();
        self.metrics.set_lag(lags);
        let up = statistics
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP");
        self.health.set_brokers_reachable(up);
    }
}

impl RunContext {
    pub(super) fn state(&self) -> MutexGuard<'_, LoopState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The crash-loop breaker on newly `assigned` partitions: reads the marks committed
    /// there, sets up their guards and commits one more start on each.
    fn guard(
        &self,
        consumer: &BaseConsumer<Self>,
        assigned: &TopicPartitionList,
        state: &mut LoopState,
    ) {
        let Some(settings) = self.breaker else {
            return;
        };
        let committed = match consumer.committed_offsets(assigned.clone(), CALL_TIMEOUT) {
            Ok(committed) => committed,
            Err(err) => {
                let effect = "no crash-loop breaker on these partitions";
                return warn!(error = %err, "cannot read committed offsets; {effect}");
            }
        };
        let mut marks = Vec::new();
        for element in committed.elements() {
            let (topic, partition) = (element.topic(), element.partition());
            let found = Mark::parse(element.metadata());
            let committed_at = match element.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            };
            let needs_end = committed_at.is_none() || Guard::needs_log_end(found);
            let bounds = if needs_end {
                let bounds = consumer.fetch_watermarks(topic, partition, CALL_TIMEOUT);
                if let Err(err) = &bounds {
                    warn!(topic, partition, error = %err, "cannot read the partition's offsets");
                }
                bounds.ok()
            } else {
                None
            };
            let start = match (committed_at, bounds) {
                (Some(offset), _) => offset,
                (None, Some((low, high))) => {
                    if self.from_earliest {
                        low
                    } else {
                        high
                    }
                }
                (None, None) => continue,
            };
            // Only consulted after unclean starts; unknown then: careful until released.
            let log_end = bounds.map_or(i64::MAX, |(_, high)| high);
            let guard = Guard::new(start, found, log_end, settings);
            if guard.mode() != Mode::Normal {
                warn!(
                    topic,
                    partition,
                    offset = start,
                    unclean_starts = found.unclean,
                    mode = ?guard.mode(),
                    "earlier reads of this partition ended without a clean release; \
                     reading it carefully"
                );
            }
            if guard.is_poison(start) {
                error!(
                    topic,
                    partition,
                    offset = start,
                    crashes = found.alone,
                    "this record ended vigil processes while scanned alone; \
                     dead-lettering it unscanned"
                );
            }
            let tp: TopicPartition = (Arc::from(topic), partition);
            marks.push((tp.clone(), start, guard.start_mark()));
            state.guards.insert(tp, guard);
        }
        self.committer.commit_marks(consumer, &marks);
    }
}

impl ConsumerContext for RunContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let lost = consumer.assignment_lost();
        self.metrics.rebalance(if lost { "lost" } else { "revoke" });
        let revoked: Vec<TopicPartition> = tpl
            .elements()
            .iter()
            .map(|e| (Arc::from(e.topic()), e.partition()))
            .collect();
        let mut state = self.state();
        if !state.closing {
            let deadline = Instant::now() + self.drain_timeout;
            let drains_all = state.commits.drains_all();
            state.drain(consumer, deadline, |t| {
                if drains_all {
                    t.in_flight() == 0
                } else {
                    revoked.iter().all(|tp| t.in_flight_of(tp) == 0)
                }
            });
            let step = state.commits.on_revoke(lost);
            let outcome = state.perform(consumer, step, &revoked);
            if let Err(err) = outcome {
                error!(error = %err, "commit on revocation failed");
                self.health.set_failed(err.to_string());
            }
        }
        for tp in &revoked {
            state.tracker.revoke(tp);
            state.guards.remove(tp);
        }
        state.waiting.retain(|r| {
            !revoked
                .iter()
                .any(|(t, p)| *t == r.topic && *p == r.partition)
        });
        state.waiting_bytes = state.waiting.iter().map(buffered_size).sum();
        info!(partitions = ?revoked, "partitions revoked");
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let mut state = self.state();
                let assigned: Vec<TopicPartition> = tpl
                    .elements()
                    .iter()
                    .map(|e| (Arc::from(e.topic()), e.partition()))
                    .collect();
                for tp in &assigned {
                    state.tracker.assign(tp.clone());
                }
                self.guard(consumer, tpl, &mut state);
                if state.paused
                    && tpl.count() > 0
                    && let Err(err) = consumer.pause(tpl)
                {
                    warn!(error = %err, "cannot pause newly assigned partitions");
                }
                self.health.set_joined();
                self.metrics.rebalance("assign");
                info!(partitions = ?assigned, "partitions assigned");
            }
            Rebalance::Revoke(_) => self.health.set_joined(),
            Rebalance::Error(err) => warn!(error = %err, "rebalance error"),
        }
    }
}
