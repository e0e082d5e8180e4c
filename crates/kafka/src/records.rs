//! What one input record turns into on the way out: the flag (to its routed review topic), a
//! dead-letter copy of the original record with `vigil.error.*` headers, and a verdict.
//! Pure functions, so the mapping is unit-tested without a broker.

use std::sync::Arc;

use crate::config::RunConfig;
use crate::entries::Contained;
use time::OffsetDateTime;
use vigil_core::{ListVersions, VERDICT_SCHEMA_VERSION, VerdictMatch, VerdictRecord};
use vigil_metrics::OutputKind;
use vigil_scan::Outcome;

/// Header names vigil writes. Values are never content: codes, ids, coordinates.
pub mod headers {
    /// On flags: the flag id (for de-duplication without parsing the value).
    pub const FLAG_ID: &str = "vigil.flag_id";
    /// On flags: the flag severity.
    pub const SEVERITY: &str = "vigil.severity";
    /// On flags sent to verification: the quarantine reasons of their entries,
    /// comma-separated (`precision`, `flood`).
    pub const QUARANTINE: &str = "vigil.quarantine";
    /// On dead-letter records: the first reason code.
    pub const ERROR_REASON: &str = "vigil.error.reason";
    /// On dead-letter records: every reason code, comma-separated.
    pub const ERROR_REASONS: &str = "vigil.error.reasons";
    /// On dead-letter records: the pipeline stage of the first reason.
    pub const ERROR_STAGE: &str = "vigil.error.stage";
    /// On dead-letter records: whether reprocessing the record may succeed.
    pub const ERROR_RETRYABLE: &str = "vigil.error.retryable";
    /// On dead-letter records: the first error record's id.
    pub const ERROR_ID: &str = "vigil.error.error_id";
    /// On dead-letter records: the content-free detail of the first error.
    pub const ERROR_DETAIL: &str = "vigil.error.detail";
    /// On dead-letter records: the source topic.
    pub const ERROR_TOPIC: &str = "vigil.error.topic";
    /// On dead-letter records: the source partition.
    pub const ERROR_PARTITION: &str = "vigil.error.partition";
    /// On dead-letter records: the source offset.
    pub const ERROR_OFFSET: &str = "vigil.error.offset";
    /// On dead-letter records: the message id, when it could be read.
    pub const ERROR_MESSAGE_ID: &str = "vigil.error.message_id";
}

/// An input record as consumed (owned: it outlives the consumer's buffer).
#[derive(Clone, PartialEq, Eq)]
pub struct InputRecord {
    /// Topic (shared by every record of the topic).
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key, if any.
    pub key: Option<Vec<u8>>,
    /// Value (empty for a tombstone).
    pub payload: Vec<u8>,
    /// Headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for InputRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "InputRecord({}/{}@{}, {} bytes)",
            self.topic,
            self.partition,
            self.offset,
            self.payload.len()
        )
    }
}

/// A record to produce.
#[derive(Clone, PartialEq, Eq)]
pub struct OutputRecord {
    /// Which output it is.
    pub kind: OutputKind,
    /// Destination topic.
    pub topic: String,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub payload: Vec<u8>,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for OutputRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OutputRecord({}, {} bytes)",
            self.topic,
            self.payload.len()
        )
    }
}

/// The records `outcome` of `input` produces, in order: flag (to its review topic, or to
/// verification when `contained` says so), dead-letter copy, verdict, sightings.
pub fn outputs(
    config: &RunConfig,
    lists: &ListVersions,
    input: &InputRecord,
    outcome: &Outcome,
    contained: &Contained,
    now: OffsetDateTime,
) -> Vec<OutputRecord> {
    let mut out = Vec::with_capacity(3 + contained.sightings.len());
    let mut review_topic = None;
    if let Some(flag) = &outcome.flag {
        let topic = if contained.verification {
            config.containment.verification_topic.clone()
        } else {
            config.route(&flag.categories).to_string()
        };
        review_topic = Some(topic.clone());
        let mut headers = vec![
            (headers::FLAG_ID.into(), flag.flag_id.clone().into_bytes()),
            (
                headers::SEVERITY.into(),
                flag.severity.as_str().as_bytes().to_vec(),
            ),
        ];
        if contained.verification {
            let mut reasons: Vec<&str> = contained
                .quarantined
                .iter()
                .map(|q| q.reason.as_str())
                .collect();
            reasons.sort_unstable();
            reasons.dedup();
            headers.push((headers::QUARANTINE.into(), reasons.join(",").into_bytes()));
        }
        out.push(OutputRecord {
            kind: OutputKind::Flag,
            topic,
            key: Some(flag.conversation_id.clone().into_bytes()),
            payload: to_json(flag, 2048),
            headers,
        });
    }
    let dead_letter =
        !outcome.scanned || (config.kafka.dead_letter_partial && !outcome.errors.is_empty());
    if let (true, Some(first)) = (dead_letter, outcome.errors.first()) {
        let reasons: Vec<&str> = outcome.errors.iter().map(|e| e.reason.as_str()).collect();
        let mut headers = input.headers.clone();
        let mut add =
            |name: &str, value: String| headers.push((name.to_string(), value.into_bytes()));
        add(headers::ERROR_REASON, first.reason.as_str().into());
        add(headers::ERROR_REASONS, reasons.join(","));
        add(headers::ERROR_STAGE, first.stage.as_str().into());
        add(headers::ERROR_RETRYABLE, first.retryable.to_string());
        add(headers::ERROR_ID, first.error_id.clone());
        add(headers::ERROR_DETAIL, first.detail.clone());
        add(headers::ERROR_TOPIC, input.topic.to_string());
        add(headers::ERROR_PARTITION, input.partition.to_string());
        add(headers::ERROR_OFFSET, input.offset.to_string());
        if let Some(id) = &first.message_id {
            add(headers::ERROR_MESSAGE_ID, id.clone());
        }
        out.push(OutputRecord {
            kind: OutputKind::DeadLetter,
            topic: config.kafka.dead_letter_topic.clone(),
            key: input.key.clone(),
            payload: input.payload.clone(),
            headers,
        });
    }
    if let Some(topic) = &config.kafka.verdict_topic {
        let verdict = VerdictRecord {
            schema_version: VERDICT_SCHEMA_VERSION,
            source: vigil_core::Source::Kafka {
                topic: input.topic.to_string(),
                partition: input.partition,
                offset: input.offset,
            },
            message_id: outcome.message_id.clone(),
            verdict: outcome.verdict(),
            flag_id: outcome.flag.as_ref().map(|f| f.flag_id.clone()),
            review_topic,
            errors: outcome.errors.iter().map(|e| e.reason).collect(),
            matches: outcome
                .flag
                .as_ref()
                .map_or_else(Vec::new, |f| VerdictMatch::summarise(&f.matches)),
            suppressed: outcome.suppressed.clone(),
            quarantined: contained.quarantined.clone(),
            lists: lists.clone(),
            scanned_at: now,
        };
        out.push(OutputRecord {
            kind: OutputKind::Verdict,
            topic: topic.clone(),
            key: input.key.clone(),
            payload: to_json(&verdict, 512),
            headers: Vec::new(),
        });
    }
    for (key, value) in &contained.sightings {
        out.push(OutputRecord {
            kind: OutputKind::Sighting,
            topic: config.containment.sightings_topic.clone(),
            key: Some(key.clone()),
            payload: value.clone(),
            headers: Vec::new(),
        });
    }
    out
}

/// `value` as JSON, written into a buffer sized for the usual record (growing a small one
/// step by step showed up in profiles).
fn to_json<T: serde::Serialize>(value: &T, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut out, value) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use vigil_core::Source;
    use vigil_scan::Pipeline;

    use super::*;

    const MARKER: &str = "SECRET-CONTENT-91c2";

    fn setup(extra: &str) -> (RunConfig, Pipeline, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let keywords = dir.path().join("kw.csv");
        std::fs::write(
            &keywords,
            "rule_id,term,category\nk1,home alone,grooming.isolation\n",
        )
        .unwrap();
        let mut scan = vigil_scan::config::ScanConfig::default();
        scan.lists.keyword_lists.push(keywords.into());
        let text = format!("[kafka]\nverdict_topic = \"vigil.verdicts\"\n{extra}");
        let config = crate::config::parse_for_test(&text, dir.path(), std::iter::empty());
        let pipeline = Pipeline::from_config(&scan).unwrap();
        (config, pipeline, dir)
    }

    fn input(payload: &str) -> InputRecord {
        InputRecord {
            topic: "dms".into(),
            partition: 3,
            offset: 42,
            key: Some(b"conv-1".to_vec()),
            payload: payload.as_bytes().to_vec(),
            headers: vec![("trace".into(), b"t-1".to_vec())],
        }
    }

    fn run(config: &RunConfig, pipeline: &Pipeline, record: &InputRecord) -> Vec<OutputRecord> {
        let source = Source::Kafka {
            topic: record.topic.to_string(),
            partition: record.partition,
            offset: record.offset,
        };
        let now = OffsetDateTime::UNIX_EPOCH;
        let outcome = pipeline.process(&record.payload, source, now);
        let lists = ListVersions::new(vec![vigil_core::ListVersion {
            list: "kw".into(),
            version: "v".into(),
        }]);
        outputs(config, &lists, record, &outcome, &Contained::default(), now)
    }

    fn header<'a>(record: &'a OutputRecord, name: &str) -> &'a str {
        let value = record
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v);
        std::str::from_utf8(value.unwrap_or_else(|| panic!("no header {name}"))).unwrap()
    }

    fn message(text: &str) -> String {
        format!(
            r#"{{"message_id":"m-1","conversation_id":"c-9","sender_id":"s","recipient_ids":["r"],"sent_at":"2026-11-26T07:00:00Z","text":"{text}"}}"#
        )
    }

    #[test]
    fn a_flagged_message_gives_a_routed_flag_and_a_verdict() {
        let (config, pipeline, _dir) = setup(
            "[[routes]]\ncategory = \"grooming.isolation\"\ntopic = \"vigil.flags.urgent\"\n",
        );
        let out = run(&config, &pipeline, &input(&message("are you home alone")));
        let topics: Vec<&str> = out.iter().map(|r| r.topic.as_str()).collect();
        assert_eq!(topics, ["vigil.flags.urgent", "vigil.verdicts"]);
        assert_eq!(out[0].key.as_deref(), Some(b"c-9".as_slice()));
        let flag: serde_json::Value = serde_json::from_slice(&out[0].payload).unwrap();
        assert_eq!(header(&out[0], headers::FLAG_ID), flag["flag_id"]);
        let verdict: serde_json::Value = serde_json::from_slice(&out[1].payload).unwrap();
        assert_eq!(verdict["verdict"], "flagged");
        assert_eq!(verdict["flag_id"], flag["flag_id"]);
        assert_eq!(verdict["review_topic"], "vigil.flags.urgent");
        assert_eq!(
            verdict["source"],
            serde_json::json!({"kind": "kafka", "topic": "dms", "partition": 3, "offset": 42})
        );
    }

    #[test]
    fn a_clean_message_gives_only_a_verdict() {
        let (config, pipeline, _dir) = setup("");
        let out = run(&config, &pipeline, &input(&message("see you at practice")));
        assert_eq!(out.len(), 1);
        let verdict: serde_json::Value = serde_json::from_slice(&out[0].payload).unwrap();
        assert_eq!(verdict["verdict"], "clean");
        assert_eq!(
            verdict["message_id"], "m-1",
            "auditors can find clean messages too"
        );
        assert_eq!(
            verdict["lists"],
            serde_json::json!([{"list": "kw", "version": "v"}])
        );
    }

    #[test]
    fn an_unscannable_record_goes_to_the_dead_letter_topic_intact() {
        let (config, pipeline, _dir) = setup("");
        let bad = input(&format!(r#"{{"message_id":"m-7","text":"{MARKER}"}}"#));
        let out = run(&config, &pipeline, &bad);
        let topics: Vec<&str> = out.iter().map(|r| r.topic.as_str()).collect();
        assert_eq!(topics, ["vigil.dlq", "vigil.verdicts"]);
        let dlq = &out[0];
        assert_eq!(dlq.payload, bad.payload);
        assert_eq!(dlq.key, bad.key);
        assert_eq!(dlq.headers[0], ("trace".to_string(), b"t-1".to_vec()));
        assert_eq!(header(dlq, headers::ERROR_REASON), "missing_field");
        assert_eq!(header(dlq, headers::ERROR_STAGE), "parse");
        assert_eq!(header(dlq, headers::ERROR_TOPIC), "dms");
        assert_eq!(header(dlq, headers::ERROR_PARTITION), "3");
        assert_eq!(header(dlq, headers::ERROR_OFFSET), "42");
        assert_eq!(header(dlq, headers::ERROR_MESSAGE_ID), "m-7");
        assert_eq!(header(dlq, headers::ERROR_RETRYABLE), "false");
        for (name, value) in &dlq.headers {
            assert!(
                !String::from_utf8_lossy(value).contains(MARKER),
                "{name} leaks content"
            );
        }
        let verdict: serde_json::Value = serde_json::from_slice(&out[1].payload).unwrap();
        assert_eq!(verdict["verdict"], "error");
        assert_eq!(verdict["errors"], serde_json::json!(["missing_field"]));
        assert_eq!(verdict["message_id"], "m-7");
    }

    #[test]
    fn partial_scans_are_dead_lettered_only_when_configured() {
        let record = r#"{"message_id":"m-2","conversation_id":"c","sender_id":"s","recipient_ids":["r"],"sent_at":"2026-11-26T07:00:00Z","text":"home alone","attachments":[{"attachment_id":"a","media_type":"image/png","data":"!!"}]}"#;
        let (config, pipeline, _dir) = setup("");
        let topics = |out: Vec<OutputRecord>| out.into_iter().map(|r| r.topic).collect::<Vec<_>>();
        assert_eq!(
            topics(run(&config, &pipeline, &input(record))),
            ["vigil.flags", "vigil.dlq", "vigil.verdicts"]
        );
        let (config, pipeline, _dir) = setup("dead_letter_partial = false\n");
        assert_eq!(
            topics(run(&config, &pipeline, &input(record))),
            ["vigil.flags", "vigil.verdicts"]
        );
    }
}
