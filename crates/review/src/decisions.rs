//! Decisions: taken in one transaction with the flag's new status and the access-log row,
//! then published to `review.decisions_topic` from the `decisions` table (an outbox), so a
//! decision is never lost when Kafka is unreachable and is re-sent until acknowledged.

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;
use tracing::{info, warn};
use vigil_core::Match;

use crate::config::ConsoleConfig;

use crate::access::{Access, Action, log_access_on};
use crate::accounts::{Reviewer, Role};
use crate::holds::{AutomaticHold, hold_automatically};
use crate::store::{Store, StoreError};

/// Version of the decision record (`docs/schemas/decision.schema.json`).
pub const DECISION_SCHEMA_VERSION: u32 = 1;

/// What a reviewer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The match is what the list says it is.
    Confirm,
    /// It is not.
    FalsePositive,
    /// A lead must decide.
    Escalate,
}

impl Decision {
    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Confirm => "confirm",
            Decision::FalsePositive => "false_positive",
            Decision::Escalate => "escalate",
        }
    }

    /// What this whole-flag decision says of each of the flag's matches (nothing, for an
    /// escalation).
    pub fn outcome(self) -> Option<MatchOutcome> {
        match self {
            Decision::Confirm => Some(MatchOutcome::Confirmed),
            Decision::FalsePositive => Some(MatchOutcome::FalsePositive),
            Decision::Escalate => None,
        }
    }

    /// Parses the wire name.
    pub fn parse(value: &str) -> Option<Decision> {
        [
            Decision::Confirm,
            Decision::FalsePositive,
            Decision::Escalate,
        ]
        .into_iter()
        .find(|d| d.as_str() == value)
    }
}

/// What a decision says of one match: the entry state's vocabulary, which `vigil run` reads
/// back from the decisions topic.
pub use vigil_kafka::entries::MatchOutcome;

/// Why a decision was not taken.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// The flag does not exist.
    #[error("no such flag")]
    NoSuchFlag,
    /// The decider does not hold the flag's claim (it expired or someone else has it).
    #[error("you do not hold this item's claim; claim it again")]
    NotHolder,
    /// The flag is not in a state this role decides (decided already; escalated items are
    /// for leads; a lead's escalation has nobody to go to).
    #[error("this item is {0}; your role cannot take this decision on it")]
    NotDecidable(String),
    /// The note is too long.
    #[error("the note is longer than {MAX_NOTE_CHARS} characters")]
    NoteTooLong,
    /// The note holds control characters other than line breaks and tabs (PostgreSQL's
    /// text type refuses NUL; the others have no place in a note).
    #[error("the note contains control characters")]
    NoteInvalid,
    /// A decision per match must give every match of the flag exactly one outcome.
    #[error("give every match an outcome")]
    IncompleteOutcomes,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Longest note.
pub const MAX_NOTE_CHARS: usize = 2000;

/// A decision as produced to the decisions topic: identifiers only, never content or the
/// reviewer's note.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    /// Always [`DECISION_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique per decision; a re-sent decision keeps its id.
    pub decision_id: i64,
    /// The flag decided.
    pub flag_id: String,
    /// The flagged message's id.
    pub message_id: String,
    /// The review topic the flag came from.
    pub queue: String,
    /// `confirm`, `false_positive` or `escalate`.
    pub decision: &'static str,
    /// The reviewer's pseudonym.
    pub reviewer: String,
    /// `reviewer` or `lead`.
    pub role: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub decided_at: OffsetDateTime,
    /// The list entries and rules the flag matched.
    pub matches: Vec<DecidedMatch>,
}

/// One matched list entry or rule, without evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecidedMatch {
    /// The detector.
    pub detector: String,
    /// The list.
    pub list: String,
    /// Its version.
    pub list_version: String,
    /// The entry id (hash lists) or rule id (text).
    pub entry: String,
    /// The category.
    pub category: String,
    /// What the decision says of this match (`confirmed`, `false_positive`); absent for an
    /// escalation. `vigil run` counts these per entry ([containment]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
}

impl Store {
    /// Records `decision` on `flag_id` by `who`, who must hold its claim: the flag becomes
    /// `decided` (or `escalated`), the claim ends, and the access log gets a row. A
    /// confirmation also holds the flag's content for `preserve_for` ([`crate::holds`]), in
    /// the same transaction.
    pub async fn decide(
        &self,
        who: &Reviewer,
        flag_id: &str,
        decision: Decision,
        note: &str,
        remote_addr: &str,
        preserve_for: Duration,
    ) -> Result<i64, DecideError> {
        check_note(note)?;
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        let id = decide_in(
            &mut tx,
            who,
            flag_id,
            decision,
            note,
            remote_addr,
            preserve_for,
        )
        .await?;
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(id)
    }

    /// Records a decision taken match by match: `outcomes[i]` is the outcome of the flag's
    /// match `i` (every match, once). The flag is confirmed when any match is (its content is
    /// then held), a false positive when none is; each match's outcome is stored, published
    /// and counted per list version and entry.
    pub async fn decide_per_match(
        &self,
        who: &Reviewer,
        flag_id: &str,
        outcomes: &[MatchOutcome],
        note: &str,
        remote_addr: &str,
        preserve_for: Duration,
    ) -> Result<i64, DecideError> {
        check_note(note)?;
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        let matches: i64 =
            sqlx::query_scalar("SELECT count(*) FROM flag_matches WHERE flag_id = $1")
                .bind(flag_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::db("count matches"))?;
        if matches == 0 {
            return Err(DecideError::NoSuchFlag);
        }
        if usize::try_from(matches).ok() != Some(outcomes.len()) {
            return Err(DecideError::IncompleteOutcomes);
        }
        let decision = if outcomes.contains(&MatchOutcome::Confirmed) {
            Decision::Confirm
        } else {
            Decision::FalsePositive
        };
        let id = decide_in(
            &mut tx,
            who,
            flag_id,
            decision,
            note,
            remote_addr,
            preserve_for,
        )
        .await?;
        for (ordinal, outcome) in outcomes.iter().enumerate() {
            sqlx::query(
                "INSERT INTO decision_matches (decision_id, ordinal, outcome) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(i32::try_from(ordinal).unwrap_or(i32::MAX))
            .bind(outcome.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("insert match outcome"))?;
        }
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(id)
    }

    /// How many decisions the decisions topic has not acknowledged yet.
    pub async fn unpublished_count(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT count(*) FROM decisions WHERE published_at IS NULL")
            .fetch_one(self.pool())
            .await
            .map_err(StoreError::db("metrics"))
    }

    /// Decisions not yet acknowledged by the decisions topic, oldest first.
    pub async fn unpublished(&self, limit: i64) -> Result<Vec<DecisionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.flag_id, f.message_id, f.queue, d.decision, r.pseudonym, r.role,
                    d.decided_at, f.matches,
                    (SELECT coalesce(array_agg(outcome ORDER BY ordinal), '{}')
                     FROM decision_matches m WHERE m.decision_id = d.id) AS outcomes
             FROM decisions d JOIN flags f USING (flag_id) JOIN reviewers r ON r.id = d.reviewer_id
             WHERE d.published_at IS NULL ORDER BY d.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("read unpublished decisions"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let matches: Vec<Match> =
                    serde_json::from_value(r.get("matches")).unwrap_or_default();
                let decision = Decision::parse(r.get("decision")).unwrap_or(Decision::Escalate);
                let outcomes: Vec<String> = r.get("outcomes");
                DecisionRecord {
                    schema_version: DECISION_SCHEMA_VERSION,
                    decision_id: r.get("id"),
                    flag_id: r.get("flag_id"),
                    message_id: r.get("message_id"),
                    queue: r.get("queue"),
                    decision: decision.as_str(),
                    reviewer: r.get("pseudonym"),
                    role: r.get("role"),
                    decided_at: r.get("decided_at"),
                    matches: matches
                        .iter()
                        .enumerate()
                        .map(|(i, m)| {
                            let own = outcomes.get(i).and_then(|o| MatchOutcome::parse(o));
                            decided_match(m, own.or(decision.outcome()))
                        })
                        .collect(),
                }
            })
            .collect())
    }

    /// Marks decisions as acknowledged by the topic.
    pub async fn mark_published(&self, ids: &[i64]) -> Result<(), StoreError> {
        sqlx::query("UPDATE decisions SET published_at = now() WHERE id = ANY($1)")
            .bind(ids)
            .execute(self.pool())
            .await
            .map_err(StoreError::db("mark decisions published"))?;
        Ok(())
    }
}

/// A note is at most [`MAX_NOTE_CHARS`] and holds no control characters but line breaks and
/// tabs.
pub(crate) fn check_note(note: &str) -> Result<(), DecideError> {
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(DecideError::NoteTooLong);
    }
    if note
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(DecideError::NoteInvalid);
    }
    Ok(())
}

/// [`Store::decide`] inside the caller's transaction.
pub(crate) async fn decide_in(
    conn: &mut sqlx::PgConnection,
    who: &Reviewer,
    flag_id: &str,
    decision: Decision,
    note: &str,
    remote_addr: &str,
    preserve_for: Duration,
) -> Result<i64, DecideError> {
    let row = sqlx::query(
        "SELECT status, claimed_by = $2 AND claim_expires_at > now() AS holds
             FROM flags WHERE flag_id = $1 FOR UPDATE",
    )
    .bind(flag_id)
    .bind(who.id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db("lock flag"))?
    .ok_or(DecideError::NoSuchFlag)?;
    let status: String = row.get("status");
    let holds: Option<bool> = row.get("holds");
    let allowed = matches!(
        (status.as_str(), who.role, decision),
        ("open", Role::Reviewer | Role::Lead, _)
            | (
                "escalated",
                Role::Lead,
                Decision::Confirm | Decision::FalsePositive
            )
    );
    if !allowed {
        return Err(DecideError::NotDecidable(status));
    }
    if holds != Some(true) {
        return Err(DecideError::NotHolder);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO decisions (flag_id, reviewer_id, decision, note) VALUES ($1, $2, $3, $4)
             RETURNING id",
    )
    .bind(flag_id)
    .bind(who.id)
    .bind(decision.as_str())
    .bind(note)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::db("insert decision"))?;
    let next = if decision == Decision::Escalate {
        "escalated"
    } else {
        "decided"
    };
    sqlx::query(
        "UPDATE flags SET status = $2, claimed_by = NULL, claim_expires_at = NULL
             WHERE flag_id = $1",
    )
    .bind(flag_id)
    .bind(next)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("update flag"))?;
    let access = Access::by(who, Action::Decide, remote_addr)
        .flag(flag_id)
        .detail(decision.as_str());
    log_access_on(conn, &access).await?;
    if decision == Decision::Confirm {
        hold_automatically(
            conn,
            who,
            AutomaticHold::Confirmed,
            flag_id,
            preserve_for,
            remote_addr,
        )
        .await?;
    }
    Ok(id)
}

fn decided_match(m: &Match, outcome: Option<MatchOutcome>) -> DecidedMatch {
    DecidedMatch {
        detector: m.detector.as_str().to_string(),
        list: m.list.clone(),
        list_version: m.list_version.clone(),
        entry: m.entry().to_string(),
        category: m.category.clone(),
        outcome: outcome.map(MatchOutcome::as_str),
    }
}

/// How often the outbox is read when idle.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(500);
/// Most decisions sent per round.
const PUBLISH_BATCH: i64 = 500;

/// Publishes decisions from the outbox until the task is dropped. Each decision is keyed by
/// its flag id (so one flag's decisions stay in order) and marked published once the broker
/// acknowledged it; a crash in between re-sends it with the same `decision_id`.
pub async fn publish(
    config: &ConsoleConfig,
    store: Store,
) -> Result<(), rdkafka::error::KafkaError> {
    let producer: FutureProducer = vigil_kafka::client::producer(&config.kafka).create()?;
    let topic = config.review.decisions_topic.clone();
    info!(%topic, "publishing decisions");
    loop {
        let batch = match store.unpublished(PUBLISH_BATCH).await {
            Ok(batch) => batch,
            Err(err) => {
                warn!(error = %err, "cannot read decisions to publish; retrying");
                tokio::time::sleep(PUBLISH_INTERVAL).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::time::sleep(PUBLISH_INTERVAL).await;
            continue;
        }
        let mut sent = Vec::with_capacity(batch.len());
        for record in &batch {
            let payload = serde_json::to_vec(record).unwrap_or_default();
            let delivery = producer
                .send(
                    FutureRecord::to(&topic)
                        .key(&record.flag_id)
                        .payload(&payload),
                    Duration::from_secs(30),
                )
                .await;
            match delivery {
                Ok(_) => sent.push(record.decision_id),
                Err((err, _)) => {
                    warn!(%topic, error = %err, "decision not acknowledged; it is re-sent");
                    break;
                }
            }
        }
        if let Err(err) = store.mark_published(&sent).await {
            warn!(error = %err, "cannot mark decisions published; they are re-sent");
        }
        if sent.len() < batch.len() {
            tokio::time::sleep(PUBLISH_INTERVAL).await;
        }
    }
}
