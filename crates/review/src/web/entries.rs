//! The entry state from a flag's page, for leads (with `[containment]` on): each matched
//! list entry's spread and quarantine, and the two things a lead does about a bad or
//! quarantined entry — disable it everywhere, or reinstate it. Both are written to the
//! entry-state topic every `vigil run` applies, and logged.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, State};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;
use tracing::warn;
use vigil_core::{EntryContext, Match};
use vigil_kafka::entries::{Disabled, EntryId, overlay};

use super::error::{Answer, WebError};
use super::signed::Signed;
use super::{AppState, Tried, lead_only, see_other, valid_flag_id};
use crate::access::Action;

/// Longest reason for disabling an entry.
const MAX_REASON_CHARS: usize = 500;
/// Longest disabling, in days.
const MAX_DISABLE_DAYS: i64 = 3650;

/// `POST /flags/{flag_id}/entries`.
#[derive(Debug, Deserialize)]
pub(crate) struct EntryForm {
    #[serde(default)]
    csrf: String,
    /// `disable` or `reinstate`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    list: String,
    #[serde(default)]
    entry: String,
    #[serde(default)]
    reason: String,
    /// Days the disabling lasts; empty: until enabled.
    #[serde(default)]
    days: String,
}

/// A lead disables or reinstates one of the flag's matched entries.
pub(crate) async fn act(
    State(state): State<AppState>,
    signed: Signed,
    Path(flag_id): Path<String>,
    Form(form): Form<EntryForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    lead_only(&state, &signed, "/flags/entries", Tried::flag(&flag_id)).await?;
    if !valid_flag_id(&flag_id) || !state.config.containment.enabled {
        return Err(WebError::no_such_flag());
    }
    // Only an entry this flag matched: a lead acts on what they are looking at.
    let matched = state.store.flag_entries(&flag_id).await?;
    if !matched.contains(&(form.list.clone(), form.entry.clone())) {
        return Err(WebError::no_such_flag());
    }
    let back = |key: &str| Ok(see_other(&format!("/flags/{flag_id}?notice={key}")));
    let id = EntryId::new(&form.list, &form.entry);
    let by = signed.who.pseudonym.clone();
    let (action, detail, written) = match form.action.as_str() {
        "disable" => {
            let reason = form.reason.trim().to_string();
            if reason.is_empty()
                || reason.chars().count() > MAX_REASON_CHARS
                || reason.chars().any(char::is_control)
            {
                return back("entry-bad-reason");
            }
            let days = match form.days.trim() {
                "" => None,
                days => match days.parse::<i64>() {
                    Ok(d) if (1..=MAX_DISABLE_DAYS).contains(&d) => Some(d),
                    _ => return back("entry-bad-days"),
                },
            };
            let now = OffsetDateTime::now_utc();
            let disabled = Disabled {
                reason,
                by,
                at: now,
                until: days.map(|d| now + time::Duration::days(d)),
            };
            let detail = format!(
                "{} {} until {}",
                id.list,
                id.entry,
                days.map_or_else(|| "enabled".to_string(), |d| format!("+{d}d"))
            );
            let config = state.config.clone();
            let write =
                move || overlay::disable(&config.kafka, &config.containment, &id, &disabled);
            (
                Action::DisableEntry,
                detail,
                tokio::task::spawn_blocking(write).await,
            )
        }
        "reinstate" => {
            let detail = format!("{} {}", id.list, id.entry);
            let config = state.config.clone();
            let write = move || overlay::verify(&config.kafka, &config.containment, &id, &by);
            (
                Action::ReinstateEntry,
                detail,
                tokio::task::spawn_blocking(write).await,
            )
        }
        _ => return back("entry-bad-action"),
    };
    match written {
        Ok(Ok(())) => {
            let access = signed.access(action).flag(&flag_id).detail(&detail);
            state.store.log_access(&access).await?;
            back(match action {
                Action::DisableEntry => "entry-disabled",
                _ => "entry-reinstated",
            })
        }
        Ok(Err(err)) => {
            warn!(error = %err, "cannot write the entry state");
            back("entry-state-unavailable")
        }
        Err(err) => {
            warn!(error = %err, "the entry-state write did not finish");
            back("entry-state-unavailable")
        }
    }
}

/// The entries section of a flag's page for a lead: one row per matched entry.
pub(crate) fn section(
    signed: &Signed,
    flag_id: &str,
    matches: &[Match],
    entries: &[EntryContext],
) -> Markup {
    let mut distinct: BTreeMap<(&str, &str), Option<&EntryContext>> = BTreeMap::new();
    for m in matches {
        let context = entries
            .iter()
            .find(|e| e.list == m.list && e.entry == m.entry());
        distinct.insert((m.list.as_str(), m.entry()), context);
    }
    html! {
        h2 { "List entries" }
        p { "Disabling an entry stops every scanner flagging it (its matches are still counted); reinstating a quarantined entry sends its matches to the main queue again. Both are logged." }
        table.entries {
            thead { tr { th { "list" } th { "entry" } th { "conversations (last day)" } th { "quarantine" } th { "act" } } }
            tbody {
                @for ((list, entry), context) in &distinct {
                    tr {
                        td { (list) } td { code { (entry) } }
                        td { @if let Some(c) = context { (c.conversations) } @else { "—" } }
                        td { @if let Some(reason) = context.and_then(|c| c.quarantine) { strong { (reason.as_str()) } } @else { "—" } }
                        td {
                            form.entry-disable method="post" action={ "/flags/" (flag_id) "/entries" } {
                                input type="hidden" name="csrf" value=(signed.csrf);
                                input type="hidden" name="action" value="disable";
                                input type="hidden" name="list" value=(list);
                                input type="hidden" name="entry" value=(entry);
                                label { "Reason " input type="text" name="reason" required maxlength="500"; }
                                label { " for days (empty: until enabled) " input type="number" name="days" min="1" max="3650"; }
                                button type="submit" { "Disable entry" }
                            }
                            @if context.and_then(|c| c.quarantine).is_some() {
                                form.entry-reinstate method="post" action={ "/flags/" (flag_id) "/entries" } {
                                    input type="hidden" name="csrf" value=(signed.csrf);
                                    input type="hidden" name="action" value="reinstate";
                                    input type="hidden" name="list" value=(list);
                                    input type="hidden" name="entry" value=(entry);
                                    button type="submit" { "Reinstate entry" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
