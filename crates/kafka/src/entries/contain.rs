//! Containment: what the entry state does to one scanned message's outcome. Matches of a
//! disabled entry are taken off the flag and reported as suppressed; every other matched
//! entry is sighted in the message's conversation; each gets its re-share count and, when
//! quarantined, its reason; a flag whose every entry is quarantined goes to verification.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;
use vigil_core::{
    EntryContext, Flag, QuarantineReason, QuarantinedEntry, SuppressReason, SuppressedMatch,
};
use vigil_scan::Outcome;

use super::record::{EntryId, Sighting, SightingKey};
use super::table::{EntryTable, Rules, Status};

/// What containment decided for one message, besides what it changed in the outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contained {
    /// The flag goes to the verification topic: every entry it matched is quarantined.
    pub verification: bool,
    /// The quarantined entries among the flag's.
    pub quarantined: Vec<QuarantinedEntry>,
    /// Sightings to publish to the sightings topic: (key, value), encoded.
    pub sightings: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The entry table shared by the Kafka threads that fill it and the scanning threads that
/// read it, with the rules.
#[derive(Debug, Clone)]
pub struct Containment {
    table: Arc<RwLock<EntryTable>>,
    rules: Rules,
}

impl Containment {
    /// Containment over `table` under `rules`.
    pub fn new(table: Arc<RwLock<EntryTable>>, rules: Rules) -> Containment {
        Containment { table, rules }
    }

    /// The shared table.
    pub fn table(&self) -> &Arc<RwLock<EntryTable>> {
        &self.table
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Applies the entry state to `outcome` (scanned at `now`).
    pub fn apply(&self, outcome: &mut Outcome, now: OffsetDateTime) -> Contained {
        let Some(flag) = outcome.flag.take() else {
            return Contained::default();
        };
        let mut table = self
            .table
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (kept, disabled): (Vec<_>, Vec<_>) = flag.matches.iter().cloned().partition(|m| {
            table
                .disabled(&EntryId::new(&m.list, m.entry()), now)
                .is_none()
        });
        outcome
            .suppressed
            .extend(disabled.iter().map(|m| SuppressedMatch {
                list: m.list.clone(),
                list_version: m.list_version.clone(),
                category: m.category.clone(),
                detector: m.detector,
                entry: m.entry().to_string(),
                attachment_id: m.attachment_id().map(str::to_string),
                reason: SuppressReason::Disabled,
                by_list: None,
                by_list_version: None,
                by_entry: None,
            }));
        if kept.is_empty() {
            return Contained::default();
        }
        let mut flag = if disabled.is_empty() {
            flag
        } else {
            let mut rebuilt = Flag::new(
                flag.message_id,
                flag.conversation_id,
                flag.sender_id,
                flag.sent_at,
                flag.source,
                kept,
                flag.flagged_at,
            );
            rebuilt.attachments = flag.attachments;
            rebuilt
        };
        // One status per entry, the version its first match names.
        let mut entries: BTreeMap<EntryId, &str> = BTreeMap::new();
        for m in &flag.matches {
            entries
                .entry(EntryId::new(&m.list, m.entry()))
                .or_insert(&m.list_version);
        }
        let mut contained = Contained::default();
        let mut context = Vec::with_capacity(entries.len());
        let value = serde_json::to_vec(&Sighting { at: now }).unwrap_or_default();
        for (id, version) in &entries {
            let key = SightingKey::new(id.clone(), &flag.conversation_id);
            table.sight(&key, now);
            contained.sightings.push((key.encode(), value.clone()));
            let quarantine = match table.status(id, now, &self.rules) {
                Status::Quarantined(reason) => Some(reason),
                Status::Normal | Status::Disabled(_) => None,
            };
            if let Some(reason) = quarantine {
                contained.quarantined.push(quarantined(id, version, reason));
            }
            context.push(EntryContext {
                list: id.list.clone(),
                entry: id.entry.clone(),
                conversations: table.conversations(id, now, self.rules.reshare_window, false),
                quarantine,
            });
        }
        contained.verification = contained.quarantined.len() == entries.len();
        flag.entries = context;
        outcome.flag = Some(flag);
        contained
    }
}

fn quarantined(id: &EntryId, version: &str, reason: QuarantineReason) -> QuarantinedEntry {
    QuarantinedEntry {
        list: id.list.clone(),
        list_version: version.to_string(),
        entry: id.entry.clone(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vigil_core::{DetectorKind, Match, MatchSubject, Severity, Source, Span};

    use super::super::record::{Disabled, StateKey};
    use super::*;

    fn rules() -> Rules {
        Rules {
            min_false_positives: 3,
            max_precision_percent: 50,
            decision_window: Duration::from_secs(86_400),
            flood_conversations: 2,
            flood_window: Duration::from_secs(600),
            reshare_window: Duration::from_secs(86_400),
        }
    }

    fn text_match(list: &str, rule: &str) -> Match {
        Match {
            detector: DetectorKind::Keyword,
            list: list.into(),
            list_version: "v1".into(),
            category: "grooming".into(),
            severity: Severity::High,
            subject: MatchSubject::Text {
                rule_id: rule.into(),
                spans: vec![Span { start: 0, end: 4 }],
                expression: None,
                attachment_id: None,
            },
        }
    }

    fn outcome(conversation: &str, matches: Vec<Match>) -> Outcome {
        let now = OffsetDateTime::UNIX_EPOCH;
        let source = Source::Kafka {
            topic: "dms".into(),
            partition: 0,
            offset: 1,
        };
        let flag = Flag::new(
            "m1".into(),
            conversation.into(),
            "s1".into(),
            now,
            source,
            matches,
            now,
        );
        Outcome {
            message_id: Some("m1".into()),
            flag: Some(flag),
            errors: Vec::new(),
            scanned: true,
            suppressed: Vec::new(),
        }
    }

    fn disable(containment: &Containment, list: &str, entry: &str) {
        let value = Disabled {
            reason: "song title".into(),
            by: "lead-1".into(),
            at: OffsetDateTime::UNIX_EPOCH,
            until: None,
        };
        let key = StateKey::Disabled(EntryId::new(list, entry)).encode();
        let value = serde_json::to_vec(&value).unwrap();
        containment
            .table()
            .write()
            .unwrap()
            .apply_state(&key, Some(&value))
            .unwrap();
    }

    #[test]
    fn a_disabled_entry_leaves_the_flag_and_is_reported_suppressed() {
        let containment = Containment::new(Arc::default(), rules());
        disable(&containment, "keywords", "r2");
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(5);

        let mut both = outcome(
            "c1",
            vec![text_match("keywords", "r1"), text_match("keywords", "r2")],
        );
        let contained = containment.apply(&mut both, now);
        let flag = both.flag.as_ref().unwrap();
        assert_eq!(flag.matches.len(), 1);
        assert_eq!(flag.matches[0].entry(), "r1");
        // The rebuilt flag carries the id its remaining matches give.
        assert_eq!(flag.flag_id, Flag::compute_id("c1", "m1", &flag.matches));
        assert_eq!(both.suppressed.len(), 1);
        assert_eq!(both.suppressed[0].reason, SuppressReason::Disabled);
        assert_eq!(both.suppressed[0].entry, "r2");
        assert!(!contained.verification);
        assert_eq!(
            contained.sightings.len(),
            1,
            "disabled entries are not sighted"
        );

        let mut only = outcome("c1", vec![text_match("keywords", "r2")]);
        assert_eq!(containment.apply(&mut only, now), Contained::default());
        assert!(only.flag.is_none());
        assert_eq!(only.suppressed.len(), 1);
    }

    #[test]
    fn a_flood_sends_later_flags_to_verification_with_their_reshare_counts() {
        let containment = Containment::new(Arc::default(), rules());
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        let mut seen = Vec::new();
        for conversation in ["c1", "c2", "c2", "c3", "c4"] {
            let mut o = outcome(conversation, vec![text_match("keywords", "r1")]);
            let contained = containment.apply(&mut o, now);
            let entry = &o.flag.as_ref().unwrap().entries[0];
            seen.push((
                contained.verification,
                entry.conversations,
                entry.quarantine,
            ));
        }
        let flood = Some(QuarantineReason::Flood);
        assert_eq!(
            seen,
            [
                (false, 1, None),
                (false, 2, None),
                (false, 2, None),
                (true, 3, flood),
                (true, 4, flood)
            ]
        );
    }

    #[test]
    fn a_flag_goes_to_verification_only_when_every_entry_is_quarantined() {
        let containment = Containment::new(Arc::default(), rules());
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        for conversation in ["c1", "c2", "c3"] {
            let mut o = outcome(conversation, vec![text_match("keywords", "viral")]);
            containment.apply(&mut o, now);
        }
        let mut mixed = outcome(
            "c9",
            vec![
                text_match("keywords", "viral"),
                text_match("keywords", "calm"),
            ],
        );
        let contained = containment.apply(&mut mixed, now);
        assert!(!contained.verification);
        assert_eq!(contained.quarantined.len(), 1);
        assert_eq!(contained.quarantined[0].entry, "viral");
    }
}
