//! Decisions on several flags at once, all or none: items a reviewer selected in the queue
//! that share the same matches (the same list entries and rules, so one judgement covers
//! them), or every undecided flag of a case, which a lead decides as one unit. Each flag is
//! claimed and decided in one transaction with the others, with its own decision, access-log
//! row and (for a confirmation) hold, exactly as one decision would be.

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::Row;
use vigil_core::{Match, MatchSubject};

use crate::accounts::{Reviewer, Role};
use crate::decisions::{DecideError, Decision, check_note, decide_in};
use crate::queue::workable;
use crate::store::{Store, StoreError};

/// Most flags one batch decides.
pub const MAX_BATCH: usize = 200;

/// How long a batch's claims last, and how long a confirmation holds its flag.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    /// The claims' lease (`review.lease_secs`).
    pub lease: Duration,
    /// A confirmation's hold (`review.preservation_days`).
    pub preserve_for: Duration,
}

/// Which flags a batch decides.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// These, which must share the same matches.
    Items(&'a [String]),
    /// Every undecided flag of this sender (leads only; confirm or false positive).
    Case(&'a str),
}

/// Why a batch was not decided (nothing of it was).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Nothing selected, or more than [`MAX_BATCH`].
    #[error("select 1 to {MAX_BATCH} items")]
    BadSelection,
    /// The selected items do not share the same matches.
    #[error("the selected items do not share the same matches; decide them one by one")]
    DifferentMatches,
    /// Someone else holds one of them, or one is not in a state this role decides.
    #[error("item {0} is held by someone else or not yours to decide")]
    Unavailable(String),
    /// Only leads decide a case.
    #[error("only leads decide a whole case")]
    LeadsOnly,
    /// One flag's decision was refused (note, state).
    #[error(transparent)]
    Decide(#[from] DecideError),
}

impl From<StoreError> for BatchError {
    fn from(e: StoreError) -> BatchError {
        BatchError::Decide(DecideError::Store(e))
    }
}

/// What a flag's matches are, for comparing: (detector, list, version, entry or rule).
fn signature(matches: &[Match]) -> BTreeSet<(String, String, String, String)> {
    matches
        .iter()
        .map(|m| {
            let entry = match &m.subject {
                MatchSubject::Attachment { entry_id, .. } => entry_id.clone(),
                MatchSubject::Text { rule_id, .. } => rule_id.clone(),
            };
            (
                m.detector.as_str().to_string(),
                m.list.clone(),
                m.list_version.clone(),
                entry,
            )
        })
        .collect()
}

impl Store {
    /// `who` decides every flag of `selection` with one `decision` and `note`, all or none;
    /// returns how many.
    pub async fn decide_selection(
        &self,
        who: &Reviewer,
        selection: Selection<'_>,
        decision: Decision,
        note: &str,
        remote_addr: &str,
        terms: Terms,
    ) -> Result<usize, BatchError> {
        check_note(note)?;
        let flag_ids: Vec<String> = match selection {
            Selection::Items(ids) => {
                let unique: BTreeSet<&String> = ids.iter().collect();
                unique.into_iter().cloned().collect()
            }
            Selection::Case(sender_id) => {
                if who.role != Role::Lead || decision == Decision::Escalate {
                    return Err(BatchError::LeadsOnly);
                }
                sqlx::query_scalar(
                    "SELECT flag_id FROM flags WHERE sender_id = $1 AND status <> 'decided'
                     ORDER BY sent_at, flag_id",
                )
                .bind(sender_id)
                .fetch_all(self.pool())
                .await
                .map_err(StoreError::db("read case flags"))?
            }
        };
        if flag_ids.is_empty() || flag_ids.len() > MAX_BATCH {
            return Err(BatchError::BadSelection);
        }
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        let rows = sqlx::query(
            "SELECT flag_id, matches FROM flags WHERE flag_id = ANY($1) ORDER BY flag_id
             FOR UPDATE",
        )
        .bind(&flag_ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::db("lock flags"))?;
        if rows.len() != flag_ids.len() {
            return Err(DecideError::NoSuchFlag.into());
        }
        if let Selection::Items(_) = selection {
            let signatures: BTreeSet<_> = rows
                .iter()
                .map(|r| {
                    let matches: Vec<Match> =
                        serde_json::from_value(r.get("matches")).unwrap_or_default();
                    signature(&matches)
                })
                .collect();
            if signatures.len() != 1 {
                return Err(BatchError::DifferentMatches);
            }
        }
        for flag_id in &flag_ids {
            let claimed = sqlx::query(
                "UPDATE flags SET claimed_by = $1,
                    claim_expires_at = now() + make_interval(secs => $2)
                 WHERE flag_id = $3 AND status = ANY($4)
                   AND (claimed_by IS NULL OR claim_expires_at <= now() OR claimed_by = $1)",
            )
            .bind(who.id)
            .bind(terms.lease.as_secs_f64())
            .bind(flag_id)
            .bind(workable(who.role))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("claim"))?
            .rows_affected();
            if claimed != 1 {
                return Err(BatchError::Unavailable(flag_id.clone()));
            }
            decide_in(
                &mut tx,
                who,
                flag_id,
                decision,
                note,
                remote_addr,
                terms.preserve_for,
            )
            .await?;
        }
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(flag_ids.len())
    }
}
