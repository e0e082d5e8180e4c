//! `[containment]`: the entry state `vigil run` keeps in Kafka — reviewers' decisions fed
//! back per entry, the disabled-entry overlay, and the quarantine rules.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::config::{Invalid, Section, check_positive};

use super::table::Rules;
use crate::config::{KafkaConfig, check_topic};

/// Every default of `[containment]`.
pub mod defaults {
    /// `containment.state_topic`.
    pub const STATE_TOPIC: &str = "vigil.entry-state";
    /// `containment.sightings_topic`.
    pub const SIGHTINGS_TOPIC: &str = "vigil.entry-sightings";
    /// `containment.verification_topic`.
    pub const VERIFICATION_TOPIC: &str = "vigil.flags.verify";
    /// `containment.quarantine_min_false_positives`.
    pub const QUARANTINE_MIN_FALSE_POSITIVES: u32 = 3;
    /// `containment.quarantine_below_precision_percent`.
    pub const QUARANTINE_BELOW_PRECISION_PERCENT: u32 = 50;
    /// `containment.decision_window_days`.
    pub const DECISION_WINDOW_DAYS: u32 = 90;
    /// `containment.flood_conversations`.
    pub const FLOOD_CONVERSATIONS: u32 = 200;
    /// `containment.flood_window_secs`: ten minutes.
    pub const FLOOD_WINDOW_SECS: u64 = 600;
    /// `containment.reshare_window_secs`: a day.
    pub const RESHARE_WINDOW_SECS: u64 = 86_400;
    /// `containment.catch_up_timeout_secs`.
    pub const CATCH_UP_TIMEOUT_SECS: u64 = 120;
    /// `containment.topic_partitions`.
    pub const TOPIC_PARTITIONS: u32 = 3;
}

/// `[containment]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ContainmentConfig {
    /// Keep entry state: apply disabled entries, quarantine, re-share counts. Off: none of
    /// it (`vigil lists disable` still writes the overlay for when it is on).
    pub enabled: bool,
    /// The compacted topic of decisions per entry, disabled entries and verifications;
    /// created (compacted) at start-up when missing.
    pub state_topic: String,
    /// The topic of recent sightings (entry × conversation pseudonym), compacted and
    /// deleted after the longer window; created at start-up when missing.
    pub sightings_topic: String,
    /// Where flags whose every entry is quarantined go, instead of their review topic.
    pub verification_topic: String,
    /// Feed the console's decisions (`review.decisions_topic`) into the entry state.
    pub feed_decisions: bool,
    /// The precision rule: quarantined with at least this many false positives...
    pub quarantine_min_false_positives: u32,
    /// ...and precision (confirmed ÷ decided) below this percentage...
    pub quarantine_below_precision_percent: u32,
    /// ...over decisions of the last this many days.
    pub decision_window_days: u32,
    /// Flood: quarantined when an entry matched more than this many distinct
    /// conversations in the flood window (0: no flood rule).
    pub flood_conversations: u32,
    /// The flood window.
    pub flood_window_secs: u64,
    /// The window of the re-share count each flag carries per entry.
    pub reshare_window_secs: u64,
    /// Start-up reads the state topics to their end before scanning; longer is an error.
    pub catch_up_timeout_secs: u64,
    /// Partitions of the topics vigil creates.
    pub topic_partitions: u32,
    /// Replication factor of the topics vigil creates; none: the brokers' default.
    pub topic_replication_factor: Option<u16>,
}

impl Default for ContainmentConfig {
    fn default() -> ContainmentConfig {
        ContainmentConfig {
            enabled: false,
            state_topic: defaults::STATE_TOPIC.into(),
            sightings_topic: defaults::SIGHTINGS_TOPIC.into(),
            verification_topic: defaults::VERIFICATION_TOPIC.into(),
            feed_decisions: true,
            quarantine_min_false_positives: defaults::QUARANTINE_MIN_FALSE_POSITIVES,
            quarantine_below_precision_percent: defaults::QUARANTINE_BELOW_PRECISION_PERCENT,
            decision_window_days: defaults::DECISION_WINDOW_DAYS,
            flood_conversations: defaults::FLOOD_CONVERSATIONS,
            flood_window_secs: defaults::FLOOD_WINDOW_SECS,
            reshare_window_secs: defaults::RESHARE_WINDOW_SECS,
            catch_up_timeout_secs: defaults::CATCH_UP_TIMEOUT_SECS,
            topic_partitions: defaults::TOPIC_PARTITIONS,
            topic_replication_factor: None,
        }
    }
}

impl ContainmentConfig {
    /// The quarantine rules and windows.
    pub fn rules(&self) -> Rules {
        Rules {
            min_false_positives: self.quarantine_min_false_positives,
            max_precision_percent: self.quarantine_below_precision_percent,
            decision_window: Duration::from_secs(u64::from(self.decision_window_days) * 86_400),
            flood_conversations: self.flood_conversations,
            flood_window: Duration::from_secs(self.flood_window_secs),
            reshare_window: Duration::from_secs(self.reshare_window_secs),
        }
    }

    /// The checks that need `[kafka]`: the three topics are distinct, and none is an input,
    /// review, dead-letter or verdict topic.
    pub fn check_topics(&self, kafka: &KafkaConfig, decisions_topic: &str) -> Result<(), Invalid> {
        let ours = [
            ("containment.state_topic", &self.state_topic),
            ("containment.sightings_topic", &self.sightings_topic),
            ("containment.verification_topic", &self.verification_topic),
        ];
        let mut others: Vec<&str> = kafka.input_topics.iter().map(String::as_str).collect();
        others.extend([
            kafka.review_topic.as_str(),
            kafka.dead_letter_topic.as_str(),
            decisions_topic,
        ]);
        others.extend(kafka.verdict_topic.as_deref());
        for (i, (key, topic)) in ours.iter().enumerate() {
            if others.contains(&topic.as_str()) || ours[..i].iter().any(|(_, t)| t == topic) {
                return Err(Invalid::new(
                    *key,
                    format!("`{topic}` is used for something else: each topic has one purpose"),
                ));
            }
        }
        Ok(())
    }
}

impl Section for ContainmentConfig {
    fn validate(&self) -> Result<(), Invalid> {
        check_topic("containment.state_topic", &self.state_topic)?;
        check_topic("containment.sightings_topic", &self.sightings_topic)?;
        check_topic("containment.verification_topic", &self.verification_topic)?;
        check_positive([
            (
                "containment.quarantine_min_false_positives",
                u64::from(self.quarantine_min_false_positives),
            ),
            (
                "containment.decision_window_days",
                u64::from(self.decision_window_days),
            ),
            ("containment.flood_window_secs", self.flood_window_secs),
            ("containment.reshare_window_secs", self.reshare_window_secs),
            (
                "containment.catch_up_timeout_secs",
                self.catch_up_timeout_secs,
            ),
            (
                "containment.topic_partitions",
                u64::from(self.topic_partitions),
            ),
        ])?;
        if !(1..=100).contains(&self.quarantine_below_precision_percent) {
            return Err(Invalid::new(
                "containment.quarantine_below_precision_percent",
                "must be between 1 and 100",
            ));
        }
        Ok(())
    }
}
