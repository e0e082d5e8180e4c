//! The entry table: every instance's in-memory view of the entry-state and sightings topics,
//! and the rules that turn it into a status per entry. Pure: the Kafka threads feed it
//! records, the scanning threads ask it about the entries a message matched.

use std::collections::HashMap;
use std::time::Duration;

use time::OffsetDateTime;
use vigil_core::QuarantineReason;

use super::record::{
    DecisionState, Disabled, EntryId, MatchOutcome, Sighting, SightingKey, StateKey, Verified,
};

/// When an entry is quarantined, and how long sightings count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The precision rule needs at least this many false positives in the window...
    pub min_false_positives: u32,
    /// ...and precision (confirmed ÷ decided, in percent) below this.
    pub max_precision_percent: u32,
    /// Decisions older than this do not count.
    pub decision_window: Duration,
    /// Flood: more distinct conversations than this in `flood_window` quarantines; 0: never.
    pub flood_conversations: u32,
    /// The flood window.
    pub flood_window: Duration,
    /// The window of the re-share count each flag carries.
    pub reshare_window: Duration,
}

impl Rules {
    /// How long sightings are kept: the longer of the two windows.
    pub fn sighting_retention(&self) -> Duration {
        self.flood_window.max(self.reshare_window)
    }
}

/// An entry's standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Its matches are flagged as usual.
    Normal,
    /// Its matches are not flagged (counted as suppressed).
    Disabled(Disabled),
    /// Its matches go to verification.
    Quarantined(QuarantineReason),
}

/// Confirmed and false-positive decisions on an entry within the decision window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Confirmed.
    pub confirmed: u32,
    /// False positives.
    pub false_positives: u32,
}

impl Tally {
    /// Confirmed ÷ decided in percent; `None` with no decisions.
    pub fn precision_percent(&self) -> Option<u32> {
        let decided = self.confirmed + self.false_positives;
        (decided > 0).then(|| self.confirmed * 100 / decided)
    }
}

#[derive(Debug, Default)]
struct EntryState {
    decisions: HashMap<String, DecisionState>,
    disabled: Option<Disabled>,
    verified: Option<Verified>,
    sightings: HashMap<String, OffsetDateTime>,
}

impl EntryState {
    fn is_empty(&self) -> bool {
        self.decisions.is_empty()
            && self.disabled.is_none()
            && self.verified.is_none()
            && self.sightings.is_empty()
    }

    /// Decisions and sightings count from the later of the window's start and the last
    /// verification.
    fn counts_from(&self, window_start: OffsetDateTime) -> OffsetDateTime {
        self.verified
            .as_ref()
            .map_or(window_start, |v| v.at.max(window_start))
    }
}

/// Every entry anyone decided, disabled, verified or saw lately.
#[derive(Debug, Default)]
pub struct EntryTable {
    entries: HashMap<EntryId, EntryState>,
}

fn parse<T: serde::de::DeserializeOwned>(value: &[u8]) -> Result<T, Unreadable> {
    serde_json::from_slice(value).map_err(|_| Unreadable)
}

/// A record the table could not read (counted, then skipped: a state topic is not a place
/// for a record to stall everything behind it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unreadable entry-state record")]
pub struct Unreadable;

impl EntryTable {
    /// Applies a record of the entry-state topic (`value` none: a tombstone).
    pub fn apply_state(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), Unreadable> {
        let key = StateKey::decode(key).ok_or(Unreadable)?;
        match key {
            StateKey::Decision { id, flag_id } => {
                let state = self.entries.entry(id.clone()).or_default();
                match value {
                    Some(v) => {
                        state.decisions.insert(flag_id, parse(v)?);
                    }
                    None => {
                        state.decisions.remove(&flag_id);
                    }
                }
                self.forget_if_empty(&id);
            }
            StateKey::Disabled(id) => {
                self.entries.entry(id.clone()).or_default().disabled =
                    value.map(parse).transpose()?;
                self.forget_if_empty(&id);
            }
            StateKey::Verified(id) => {
                self.entries.entry(id.clone()).or_default().verified =
                    value.map(parse).transpose()?;
                self.forget_if_empty(&id);
            }
        }
        Ok(())
    }

    /// Applies a record of the sightings topic.
    pub fn apply_sighting(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), Unreadable> {
        let key = SightingKey::decode(key).ok_or(Unreadable)?;
        match value {
            Some(v) => {
                let Sighting { at } = serde_json::from_slice(v).map_err(|_| Unreadable)?;
                self.sight(&key, at);
            }
            None => {
                if let Some(state) = self.entries.get_mut(&key.id) {
                    state.sightings.remove(&key.conversation);
                }
                self.forget_if_empty(&key.id);
            }
        }
        Ok(())
    }

    /// Records that the entry matched in the conversation at `at` (the latest time wins).
    pub fn sight(&mut self, key: &SightingKey, at: OffsetDateTime) {
        let seen = self
            .entries
            .entry(key.id.clone())
            .or_default()
            .sightings
            .entry(key.conversation.clone())
            .or_insert(at);
        *seen = (*seen).max(at);
    }

    /// Drops sightings older than `keep`, and entries left with nothing.
    pub fn prune(&mut self, now: OffsetDateTime, keep: Duration) {
        let oldest = now - keep;
        for state in self.entries.values_mut() {
            state.sightings.retain(|_, at| *at >= oldest);
        }
        self.entries.retain(|_, state| !state.is_empty());
    }

    fn forget_if_empty(&mut self, id: &EntryId) {
        if self.entries.get(id).is_some_and(EntryState::is_empty) {
            self.entries.remove(id);
        }
    }

    /// The entry's disabling in force at `now`, if any.
    pub fn disabled(&self, id: &EntryId, now: OffsetDateTime) -> Option<&Disabled> {
        self.entries
            .get(id)?
            .disabled
            .as_ref()
            .filter(|d| d.in_force(now))
    }

    /// Decisions on the entry in the window (and since its last verification).
    pub fn tally(&self, id: &EntryId, now: OffsetDateTime, rules: &Rules) -> Tally {
        let Some(state) = self.entries.get(id) else {
            return Tally::default();
        };
        let from = state.counts_from(now - rules.decision_window);
        let mut tally = Tally::default();
        for decision in state.decisions.values().filter(|d| d.decided_at >= from) {
            match decision.outcome {
                MatchOutcome::Confirmed => tally.confirmed += 1,
                MatchOutcome::FalsePositive => tally.false_positives += 1,
            }
        }
        tally
    }

    /// Distinct conversations the entry matched within `window` of `now` (and since its
    /// last verification, when `since_verified`).
    pub fn conversations(
        &self,
        id: &EntryId,
        now: OffsetDateTime,
        window: Duration,
        since_verified: bool,
    ) -> u32 {
        let Some(state) = self.entries.get(id) else {
            return 0;
        };
        let start = now - window;
        let from = if since_verified {
            state.counts_from(start)
        } else {
            start
        };
        let n = state.sightings.values().filter(|at| **at >= from).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The entry's standing at `now`: disabled first, then the precision rule, then flood.
    pub fn status(&self, id: &EntryId, now: OffsetDateTime, rules: &Rules) -> Status {
        if let Some(disabled) = self.disabled(id, now) {
            return Status::Disabled(disabled.clone());
        }
        let tally = self.tally(id, now, rules);
        if tally.false_positives >= rules.min_false_positives.max(1)
            && tally
                .precision_percent()
                .is_some_and(|p| p < rules.max_precision_percent)
        {
            return Status::Quarantined(QuarantineReason::Precision);
        }
        if rules.flood_conversations > 0
            && self.conversations(id, now, rules.flood_window, true) > rules.flood_conversations
        {
            return Status::Quarantined(QuarantineReason::Flood);
        }
        Status::Normal
    }

    /// Every entry with a disabling in force, in order.
    pub fn disabled_entries(&self, now: OffsetDateTime) -> Vec<(EntryId, Disabled)> {
        let mut out: Vec<(EntryId, Disabled)> = self
            .entries
            .iter()
            .filter_map(|(id, s)| {
                let d = s.disabled.as_ref().filter(|d| d.in_force(now))?;
                Some((id.clone(), d.clone()))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Every quarantined entry with its reason, in order.
    pub fn quarantined_entries(
        &self,
        now: OffsetDateTime,
        rules: &Rules,
    ) -> Vec<(EntryId, QuarantineReason, Tally)> {
        let mut out: Vec<_> = self
            .entries
            .keys()
            .filter_map(|id| match self.status(id, now, rules) {
                Status::Quarantined(reason) => {
                    Some((id.clone(), reason, self.tally(id, now, rules)))
                }
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// How many entries the table holds (for the state-size measurement).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            min_false_positives: 3,
            max_precision_percent: 50,
            decision_window: Duration::from_secs(90 * 86_400),
            flood_conversations: 3,
            flood_window: Duration::from_secs(600),
            reshare_window: Duration::from_secs(86_400),
        }
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000) + time::Duration::seconds(secs)
    }

    fn decide(table: &mut EntryTable, id: &EntryId, flag: &str, outcome: MatchOutcome, when: i64) {
        let key = StateKey::Decision {
            id: id.clone(),
            flag_id: flag.into(),
        };
        let value = DecisionState {
            outcome,
            list_version: "v1".into(),
            decided_at: at(when),
            decision_id: 1,
        };
        let value = serde_json::to_vec(&value).unwrap();
        table.apply_state(&key.encode(), Some(&value)).unwrap();
    }

    #[test]
    fn the_precision_rule_needs_enough_false_positives_and_low_precision() {
        use MatchOutcome::{Confirmed, FalsePositive};
        let id = EntryId::new("bank", "e-1");
        let mut table = EntryTable::default();
        let now = at(1000);
        // Each row: a decision added, then the status expected.
        let steps: &[(&str, MatchOutcome, Status)] = &[
            ("f1", FalsePositive, Status::Normal),
            ("f2", FalsePositive, Status::Normal),
            ("f3", Confirmed, Status::Normal),
            // 3 false positives, precision 1/4 = 25 %.
            (
                "f4",
                FalsePositive,
                Status::Quarantined(QuarantineReason::Precision),
            ),
            (
                "f5",
                Confirmed,
                Status::Quarantined(QuarantineReason::Precision),
            ),
            // 3/6 = 50 %: not below 50.
            ("f6", Confirmed, Status::Normal),
            // A flag decided again replaces its decision: 2 false positives left.
            ("f1", Confirmed, Status::Normal),
        ];
        for (flag, outcome, expected) in steps {
            decide(&mut table, &id, flag, *outcome, 0);
            assert_eq!(&table.status(&id, now, &rules()), expected, "after {flag}");
        }
        let tally = table.tally(&id, now, &rules());
        assert_eq!((tally.confirmed, tally.false_positives), (4, 2));
    }

    #[test]
    fn decisions_outside_the_window_or_before_a_verification_do_not_count() {
        let id = EntryId::new("bank", "e-1");
        let mut table = EntryTable::default();
        for flag in ["f1", "f2", "f3"] {
            decide(&mut table, &id, flag, MatchOutcome::FalsePositive, 0);
        }
        let q = Status::Quarantined(QuarantineReason::Precision);
        assert_eq!(table.status(&id, at(10), &rules()), q);
        assert_eq!(table.status(&id, at(91 * 86_400), &rules()), Status::Normal);
        let verified = serde_json::to_vec(&Verified {
            by: "lead-1".into(),
            at: at(5),
        })
        .unwrap();
        table
            .apply_state(&StateKey::Verified(id.clone()).encode(), Some(&verified))
            .unwrap();
        assert_eq!(table.status(&id, at(10), &rules()), Status::Normal);
        table
            .apply_state(&StateKey::Verified(id.clone()).encode(), None)
            .unwrap();
        assert_eq!(table.status(&id, at(10), &rules()), q);
    }

    #[test]
    fn a_flood_quarantines_after_the_limit_and_ends_with_the_window() {
        let id = EntryId::new("bank", "e-1");
        let mut table = EntryTable::default();
        for (i, conversation) in ["c1", "c2", "c3", "c3"].iter().enumerate() {
            table.sight(&SightingKey::new(id.clone(), conversation), at(i as i64));
        }
        // Three distinct conversations is the limit, not past it.
        assert_eq!(table.status(&id, at(10), &rules()), Status::Normal);
        table.sight(&SightingKey::new(id.clone(), "c4"), at(11));
        assert_eq!(
            table.status(&id, at(12), &rules()),
            Status::Quarantined(QuarantineReason::Flood)
        );
        assert_eq!(
            table.conversations(&id, at(12), Duration::from_secs(86_400), false),
            4
        );
        // Ten minutes after the first sightings, only c4 is in the window.
        assert_eq!(table.status(&id, at(605), &rules()), Status::Normal);
        table.prune(at(86_400 + 20), rules().sighting_retention());
        assert!(table.is_empty());
    }

    #[test]
    fn disabled_wins_and_a_tombstone_enables() {
        let id = EntryId::new("keywords", "rule-9");
        let mut table = EntryTable::default();
        let disabled = Disabled {
            reason: "misfires on a song title".into(),
            by: "lead-2".into(),
            at: at(0),
            until: Some(at(100)),
        };
        let key = StateKey::Disabled(id.clone()).encode();
        table
            .apply_state(&key, Some(&serde_json::to_vec(&disabled).unwrap()))
            .unwrap();
        assert_eq!(
            table.status(&id, at(50), &rules()),
            Status::Disabled(disabled.clone())
        );
        assert_eq!(table.disabled_entries(at(50)).len(), 1);
        assert_eq!(table.status(&id, at(100), &rules()), Status::Normal);
        table
            .apply_state(&key, Some(&serde_json::to_vec(&disabled).unwrap()))
            .unwrap();
        table.apply_state(&key, None).unwrap();
        assert_eq!(table.status(&id, at(50), &rules()), Status::Normal);
        assert!(table.is_empty());
        assert_eq!(table.apply_state(b"junk", None), Err(Unreadable));
        assert_eq!(table.apply_state(&key, Some(b"{}")), Err(Unreadable));
    }
}
