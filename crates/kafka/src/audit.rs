//! `vigil audit`: reads the verdict topic and reports what was scanned, what was flagged under
//! which list version and category, what could not be scanned, and whether every input
//! offset is accounted for — from verdicts alone, which never carry content.

use std::collections::{BTreeMap, HashMap};

use crate::config::KafkaConfig;
use rdkafka::message::Message;
use serde::Serialize;
use time::OffsetDateTime;
use vigil_core::{Source, VerdictKind, VerdictRecord};

use crate::read::{Start, ToolError, TopicReader, count_records, high_watermarks};

/// Gap ranges listed per partition (the count covers all of them).
const MAX_GAP_RANGES: usize = 20;
/// A verdict's record timestamp is set when it is produced, just after its `scanned_at`, by a
/// clock that may differ from vigil's: reading starts this much before `since` and filters on
/// `scanned_at`.
const SINCE_SLACK_MS: i64 = 5 * 60 * 1000;

/// What to audit.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    /// The verdict topic.
    pub topic: String,
    /// Only verdicts scanned at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only verdicts scanned before this time.
    pub until: Option<OffsetDateTime>,
    /// Read the input topics at the gap offsets to tell records that lack a verdict from
    /// offsets that hold none (needs read access to the input topics).
    pub verify_gaps: bool,
}

/// The audit report (its JSON form is documented in `docs/auditing.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditReport {
    /// The verdict topic read.
    pub verdict_topic: String,
    /// The window, if any (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The window's end, if any (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Whether the verdict topic was read to its end.
    pub complete: bool,
    /// Verdict records read (in the window), including duplicates.
    pub verdicts_read: u64,
    /// Records on the verdict topic that are not verdicts vigil can read.
    pub unreadable: u64,
    /// Distinct input records with a verdict.
    pub records: u64,
    /// Of those: nothing matched.
    pub clean: u64,
    /// Of those: flagged.
    pub flagged: u64,
    /// Of those: not scanned (dead-lettered).
    pub errors: u64,
    /// Of the clean and flagged: scanned only in part.
    pub partial: u64,
    /// Repeated verdicts for an input record already counted (at-least-once redelivery).
    pub duplicates: u64,
    /// Error reason codes, counted per record.
    pub reasons: BTreeMap<String, u64>,
    /// Per list version.
    pub lists: Vec<ListAudit>,
    /// Per input partition.
    pub coverage: Vec<PartitionCoverage>,
}

/// One list version in the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ListAudit {
    /// List name.
    pub list: String,
    /// Version.
    pub version: String,
    /// Records scanned while this version was in force.
    pub scanned: u64,
    /// Records flagged with a match from it.
    pub flagged: u64,
    /// Of those, per category.
    pub categories: BTreeMap<String, u64>,
    /// Of those, per detector.
    pub detectors: BTreeMap<String, u64>,
    /// Its matches found and not flagged, per reason (`allow_list`, `disabled`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub suppressed: BTreeMap<String, u64>,
    /// Its flagged matches whose entry was quarantined, per reason (`precision`, `flood`),
    /// counted per record and entry.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub quarantined: BTreeMap<String, u64>,
}

/// Coverage of one input partition.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PartitionCoverage {
    /// Input topic.
    pub topic: String,
    /// Input partition.
    pub partition: i32,
    /// Lowest input offset with a verdict.
    pub first_offset: i64,
    /// Highest input offset with a verdict.
    pub last_offset: i64,
    /// Distinct offsets with a verdict.
    pub accounted: u64,
    /// Offsets between the first and last without a verdict.
    pub gaps: u64,
    /// The first gap ranges (inclusive), up to 20.
    pub gap_ranges: Vec<[i64; 2]>,
    /// The input partition's current end, when it could be read (no time window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_end: Option<i64>,
    /// Offsets after the last verdict up to that end: not scanned yet (consumer lag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_yet_scanned: Option<i64>,
    /// With `--verify-gaps`: gap offsets that hold a record, i.e. records without a verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_records: Option<u64>,
    /// With `--verify-gaps`: gap offsets that hold no record (transaction markers, compacted
    /// or aborted records), which need no verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_offsets: Option<u64>,
}

impl PartitionCoverage {
    /// Whether every input record between the first and last audited offsets has a verdict,
    /// as far as known (a verified gap of empty offsets counts as covered).
    pub fn covered(&self) -> bool {
        self.gaps == 0 || self.missing_records == Some(0)
    }
}

/// What is known about an input partition beyond the verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputFacts {
    /// Its end (high watermark).
    pub end: Option<i64>,
    /// Records found at the gap offsets, when they were checked.
    pub missing_records: Option<u64>,
}

/// Offsets seen, as disjoint inclusive ranges (memory grows with gaps, not records).
#[derive(Debug, Default)]
struct Ranges(BTreeMap<i64, i64>);

impl Ranges {
    /// The offsets missing between the ranges, as inclusive ranges.
    fn gaps(&self) -> impl Iterator<Item = [i64; 2]> + '_ {
        self.0
            .iter()
            .zip(self.0.iter().skip(1))
            .map(|((_, &end), (&next, _))| [end + 1, next - 1])
    }

    /// Adds `offset`; false if it was already there.
    fn insert(&mut self, offset: i64) -> bool {
        let before = self.0.range(..=offset).next_back().map(|(&s, &e)| (s, e));
        if let Some((_, end)) = before
            && offset <= end
        {
            return false;
        }
        let joins_before = before.filter(|&(_, end)| end + 1 == offset);
        let after = self.0.get(&(offset + 1)).copied();
        match (joins_before, after) {
            (Some((start, _)), Some(after_end)) => {
                self.0.remove(&(offset + 1));
                self.0.insert(start, after_end);
            }
            (Some((start, _)), None) => {
                self.0.insert(start, offset);
            }
            (None, Some(after_end)) => {
                self.0.remove(&(offset + 1));
                self.0.insert(offset, after_end);
            }
            (None, None) => {
                self.0.insert(offset, offset);
            }
        }
        true
    }
}

/// Accumulates verdicts into a report.
#[derive(Debug, Default)]
pub struct Auditor {
    report: AuditReport,
    seen: BTreeMap<(String, i32), Ranges>,
    lists: BTreeMap<(String, String), ListAudit>,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
}

impl Auditor {
    /// An auditor of verdicts scanned in [`since`, `until`).
    pub fn new(since: Option<OffsetDateTime>, until: Option<OffsetDateTime>) -> Auditor {
        Auditor {
            since,
            until,
            ..Auditor::default()
        }
    }

    /// Adds one record of the verdict topic.
    pub fn add(&mut self, value: &[u8]) {
        let Ok(verdict) = serde_json::from_slice::<VerdictRecord>(value) else {
            self.report.unreadable += 1;
            return;
        };
        if self.since.is_some_and(|t| verdict.scanned_at < t)
            || self.until.is_some_and(|t| verdict.scanned_at >= t)
        {
            return;
        }
        self.report.verdicts_read += 1;
        let Source::Kafka {
            topic,
            partition,
            offset,
        } = &verdict.source
        else {
            self.report.unreadable += 1;
            return;
        };
        let ranges = self.seen.entry((topic.clone(), *partition)).or_default();
        if !ranges.insert(*offset) {
            self.report.duplicates += 1;
            return;
        }
        let r = &mut self.report;
        r.records += 1;
        match verdict.verdict {
            VerdictKind::Clean => r.clean += 1,
            VerdictKind::Flagged => r.flagged += 1,
            VerdictKind::Error => r.errors += 1,
        }
        if verdict.verdict != VerdictKind::Error && !verdict.errors.is_empty() {
            r.partial += 1;
        }
        let mut reasons: Vec<&str> = verdict.errors.iter().map(|e| e.as_str()).collect();
        reasons.sort_unstable();
        reasons.dedup();
        for reason in reasons {
            *r.reasons.entry(reason.to_string()).or_default() += 1;
        }
        if verdict.verdict == VerdictKind::Error {
            return;
        }
        for list in verdict.lists.iter() {
            self.list(&list.list, &list.version).scanned += 1;
        }
        let mut flagged_lists: Vec<(&str, &str)> = Vec::new();
        let mut counted: Vec<(&str, &str, &str)> = Vec::new();
        for m in &verdict.matches {
            let key = (m.list.as_str(), m.list_version.as_str());
            let audit = self.list(key.0, key.1);
            if !flagged_lists.contains(&key) {
                flagged_lists.push(key);
                audit.flagged += 1;
            }
            if !counted.contains(&(key.0, key.1, m.category.as_str())) {
                counted.push((key.0, key.1, m.category.as_str()));
                *audit.categories.entry(m.category.clone()).or_default() += 1;
            }
            *audit
                .detectors
                .entry(m.detector.as_str().to_string())
                .or_default() += 1;
        }
        for s in &verdict.suppressed {
            *self
                .list(&s.list, &s.list_version)
                .suppressed
                .entry(s.reason.as_str().to_string())
                .or_default() += 1;
        }
        for q in &verdict.quarantined {
            *self
                .list(&q.list, &q.list_version)
                .quarantined
                .entry(q.reason.as_str().to_string())
                .or_default() += 1;
        }
    }

    fn list(&mut self, list: &str, version: &str) -> &mut ListAudit {
        self.lists
            .entry((list.to_string(), version.to_string()))
            .or_insert_with(|| ListAudit {
                list: list.to_string(),
                version: version.to_string(),
                ..ListAudit::default()
            })
    }

    /// Every gap range (inclusive) of each input partition, in order.
    pub fn gaps(&self) -> BTreeMap<(String, i32), Vec<[i64; 2]>> {
        self.seen
            .iter()
            .map(|(tp, ranges)| (tp.clone(), ranges.gaps().collect()))
            .filter(|(_, gaps): &(_, Vec<_>)| !gaps.is_empty())
            .collect()
    }

    /// The report; `input` gives what is known of each input partition.
    pub fn finish(
        mut self,
        topic: &str,
        complete: bool,
        input: &HashMap<(String, i32), InputFacts>,
    ) -> AuditReport {
        let mut report = std::mem::take(&mut self.report);
        report.verdict_topic = topic.to_string();
        report.complete = complete;
        report.since = self.since.map(rfc3339);
        report.until = self.until.map(rfc3339);
        report.lists = self.lists.into_values().collect();
        for ((topic, partition), ranges) in self.seen {
            let (Some((&first, _)), Some((_, &last))) =
                (ranges.0.first_key_value(), ranges.0.last_key_value())
            else {
                continue;
            };
            let accounted: i64 = ranges.0.iter().map(|(s, e)| e - s + 1).sum();
            let gaps = (last - first + 1 - accounted) as u64;
            let facts = input
                .get(&(topic.clone(), partition))
                .copied()
                .unwrap_or_default();
            report.coverage.push(PartitionCoverage {
                first_offset: first,
                last_offset: last,
                accounted: accounted as u64,
                gaps,
                gap_ranges: ranges.gaps().take(MAX_GAP_RANGES).collect(),
                not_yet_scanned: facts.end.map(|end| (end - last - 1).max(0)),
                input_end: facts.end,
                missing_records: facts.missing_records,
                empty_offsets: facts.missing_records.map(|m| gaps - m),
                topic,
                partition,
            });
        }
        report
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Reads `query.topic` with the brokers and client settings of `[kafka]` and reports.
pub fn audit(kafka: &KafkaConfig, query: &AuditQuery) -> Result<AuditReport, ToolError> {
    let start = match query.since {
        Some(since) => {
            let ms = (since.unix_timestamp_nanos() / 1_000_000) as i64;
            Start::Time((ms - SINCE_SLACK_MS).max(0))
        }
        None => Start::Beginning,
    };
    // A throwaway group: the audit commits nothing.
    let group = format!("vigil-audit-{}", std::process::id());
    let reader = TopicReader::open(kafka, &query.topic, &group, start)?;
    let mut auditor = Auditor::new(query.since, query.until);
    let complete = reader.read(|message| auditor.add(message.payload().unwrap_or_default()))?;
    let mut input: HashMap<(String, i32), InputFacts> = HashMap::new();
    if query.since.is_none() && query.until.is_none() {
        let mut partitions: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in auditor.seen.keys() {
            partitions.entry(topic).or_default().push(*partition);
        }
        for (topic, partitions) in partitions {
            for (partition, end) in high_watermarks(&reader.consumer, topic, partitions) {
                input.entry((topic.to_string(), partition)).or_default().end = Some(end);
            }
        }
    }
    if query.verify_gaps {
        for ((topic, partition), gaps) in auditor.gaps() {
            let missing = count_records(kafka, &topic, partition, &gaps)?;
            input.entry((topic, partition)).or_default().missing_records = Some(missing);
        }
    }
    Ok(auditor.finish(&query.topic, complete, &input))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(partition: i32, offset: i64, kind: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"schema_version":1,"source":{{"kind":"kafka","topic":"dms","partition":{partition},"offset":{offset}}},
            "verdict":"{kind}","lists":[{{"list":"kw","version":"v1"}},{{"list":"hashes","version":"v7"}}],
            "scanned_at":"2026-11-26T10:00:{:02}Z"{extra}}}"#,
            offset % 60
        )
        .into_bytes()
    }

    const FLAGGED: &str = r#","flag_id":"0123456789abcdef0123456789abcdef","review_topic":"f",
        "matches":[{"list":"kw","list_version":"v1","category":"grooming.secrecy","detector":"keyword"},
                   {"list":"kw","list_version":"v1","category":"grooming.isolation","detector":"regex"},
                   {"list":"hashes","list_version":"v7","category":"csam","detector":"pdq"}]"#;

    #[test]
    fn counts_records_lists_categories_reasons_duplicates_and_gaps() {
        let mut auditor = Auditor::new(None, None);
        for offset in [0, 1, 2, 5, 6, 9] {
            auditor.add(&verdict(0, offset, "clean", ""));
        }
        auditor.add(&verdict(0, 3, "flagged", FLAGGED));
        auditor.add(&verdict(0, 3, "flagged", FLAGGED));
        auditor.add(&verdict(1, 0, "error", r#","errors":["malformed_json"]"#));
        auditor.add(&verdict(
            1,
            1,
            "clean",
            r#","errors":["undecodable","undecodable"]"#,
        ));
        auditor.add(b"not a verdict");
        let ends = HashMap::from([(
            ("dms".to_string(), 0),
            InputFacts {
                end: Some(12),
                missing_records: Some(1),
            },
        )]);
        let report = auditor.finish("dms.verdicts", true, &ends);
        assert_eq!(
            (
                report.records,
                report.clean,
                report.flagged,
                report.errors,
                report.partial
            ),
            (9, 7, 1, 1, 1)
        );
        assert_eq!((report.duplicates, report.unreadable), (1, 1));
        assert_eq!(report.verdicts_read, 10);
        assert_eq!(
            report.reasons,
            BTreeMap::from([("malformed_json".into(), 1), ("undecodable".into(), 1)])
        );
        let kw = report.lists.iter().find(|l| l.list == "kw").unwrap();
        assert_eq!((kw.version.as_str(), kw.scanned, kw.flagged), ("v1", 8, 1));
        assert_eq!(
            kw.categories,
            BTreeMap::from([
                ("grooming.isolation".into(), 1),
                ("grooming.secrecy".into(), 1)
            ])
        );
        assert_eq!(
            kw.detectors,
            BTreeMap::from([("keyword".into(), 1), ("regex".into(), 1)])
        );
        let p0 = &report.coverage[0];
        assert_eq!((p0.first_offset, p0.last_offset), (0, 9));
        assert_eq!((p0.accounted, p0.gaps), (7, 3));
        assert_eq!(p0.gap_ranges, [[4, 4], [7, 8]]);
        assert_eq!((p0.input_end, p0.not_yet_scanned), (Some(12), Some(2)));
        assert_eq!((p0.missing_records, p0.empty_offsets), (Some(1), Some(2)));
        assert!(!p0.covered());
        let p1 = &report.coverage[1];
        assert_eq!((p1.accounted, p1.gaps, p1.input_end), (2, 0, None));
        assert!(p1.covered());
    }

    #[test]
    fn suppressed_and_quarantined_matches_are_counted_per_list_version_and_reason() {
        let mut auditor = Auditor::new(None, None);
        let disabled = r#","suppressed":[{"list":"hashes","list_version":"v7","category":"csam",
            "detector":"pdq","entry":"e-1","attachment_id":"a1","reason":"disabled"},
            {"list":"hashes","list_version":"v7","category":"csam","detector":"pdq","entry":"e-2",
            "attachment_id":"a1","reason":"allow_list","by_list":"memes","by_list_version":"1",
            "by_entry":"m-1"}]"#;
        auditor.add(&verdict(0, 0, "clean", disabled));
        auditor.add(&verdict(0, 1, "clean", disabled));
        let quarantined = format!(
            r#"{FLAGGED},"quarantined":[{{"list":"kw","list_version":"v1","entry":"r-1","reason":"flood"}}]"#
        );
        auditor.add(&verdict(0, 2, "flagged", &quarantined));
        let report = auditor.finish("dms.verdicts", true, &HashMap::new());
        let list = |name: &str| report.lists.iter().find(|l| l.list == name).unwrap();
        assert_eq!(
            list("hashes").suppressed,
            BTreeMap::from([("allow_list".into(), 2), ("disabled".into(), 2)])
        );
        assert_eq!(
            list("kw").quarantined,
            BTreeMap::from([("flood".into(), 1)])
        );
        assert!(list("kw").suppressed.is_empty());
    }

    #[test]
    fn the_window_filters_on_scanned_at() {
        let at = |s: &str| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
        };
        let mut auditor = Auditor::new(
            Some(at("2026-11-26T10:00:02Z")),
            Some(at("2026-11-26T10:00:04Z")),
        );
        for offset in 0..6 {
            auditor.add(&verdict(0, offset, "clean", ""));
        }
        let report = auditor.finish("v", true, &HashMap::new());
        assert_eq!(report.records, 2);
        assert_eq!(report.coverage[0].first_offset, 2);
        assert_eq!(report.since.as_deref(), Some("2026-11-26T10:00:02Z"));
    }

    #[test]
    fn ranges_merge_from_either_side_and_detect_repeats() {
        let mut ranges = Ranges::default();
        for offset in [5, 3, 4, 10, 8, 9, 7, 6] {
            assert!(ranges.insert(offset));
        }
        assert!(!ranges.insert(7));
        assert_eq!(ranges.0, BTreeMap::from([(3, 10)]));
        assert!(ranges.insert(12));
        assert_eq!(ranges.0, BTreeMap::from([(3, 10), (12, 12)]));
    }
}
