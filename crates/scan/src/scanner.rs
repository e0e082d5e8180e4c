use std::panic::{AssertUnwindSafe, catch_unwind};

use time::OffsetDateTime;
use vigil_core::{AttachmentDigest, Flag, Message, ReasonCode, Source, SuppressedMatch};

use crate::{AllowLists, Detector, Findings, Problem, ResolvedAttachment, ScanContext, Trace};

/// Runs every detector over a message. Pure and synchronous: the same message, attachments and
/// lists always give the same verdict (up to `flagged_at`, which is passed in).
pub struct Scanner {
    detectors: Vec<Box<dyn Detector>>,
    allow: AllowLists,
}

/// The result of scanning one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The flag, if anything matched; `None` means clean (as far as `problems` allow).
    pub flag: Option<Flag>,
    /// Parts of the message that could not be scanned.
    pub problems: Vec<Problem>,
    /// Matches found and not flagged, and why ([`AllowLists`]).
    pub suppressed: Vec<SuppressedMatch>,
}

impl Scanner {
    /// A scanner running `detectors` in order.
    pub fn new(detectors: Vec<Box<dyn Detector>>) -> Scanner {
        Scanner {
            detectors,
            allow: AllowLists::default(),
        }
    }

    /// This scanner with `allow` suppressing what their entries cover.
    pub fn with_allow_lists(mut self, allow: AllowLists) -> Scanner {
        self.allow = allow;
        self
    }

    /// The detectors' names, in order.
    pub fn detector_names(&self) -> Vec<&'static str> {
        self.detectors.iter().map(|d| d.name()).collect()
    }

    /// Scans `message`. A detector that panics loses only its own findings for this message;
    /// that becomes a `detector_panic` problem and the other detectors' results stand.
    pub fn scan(
        &self,
        message: &Message,
        attachments: &[ResolvedAttachment],
        source: &Source,
        flagged_at: OffsetDateTime,
    ) -> Verdict {
        self.scan_traced(
            message,
            attachments,
            source,
            flagged_at,
            &mut Trace::default(),
        )
    }

    /// [`Scanner::scan`], adding the detectors' stage times to `trace`.
    pub fn scan_traced(
        &self,
        message: &Message,
        attachments: &[ResolvedAttachment],
        source: &Source,
        flagged_at: OffsetDateTime,
        trace: &mut Trace,
    ) -> Verdict {
        let context = ScanContext {
            message,
            attachments,
        };
        let mut findings = Findings::default();
        for detector in &self.detectors {
            let mut own = Findings::default();
            match catch_unwind(AssertUnwindSafe(|| detector.detect(&context, &mut own))) {
                Ok(()) => {
                    findings.matches.append(&mut own.matches);
                    findings.evidence.append(&mut own.evidence);
                    findings.problems.append(&mut own.problems);
                    trace.merge(&own.trace);
                }
                Err(_) => findings.problems.push(Problem {
                    reason: ReasonCode::DetectorPanic,
                    attachment_id: None,
                    detail: format!(
                        "detector `{}` failed; its results for this message are missing",
                        detector.name()
                    ),
                }),
            }
        }
        let (mut matches, suppressed) = self.allow.apply(findings.matches);
        if !matches.is_empty() {
            matches.append(&mut findings.evidence);
        }
        let flag = (!matches.is_empty()).then(|| {
            let mut flag = Flag::new(
                message.message_id.clone(),
                message.conversation_id.clone(),
                message.sender_id.clone(),
                message.sent_at,
                source.clone(),
                matches,
                flagged_at,
            );
            flag.attachments = attachments
                .iter()
                .map(|a| AttachmentDigest::of(&a.attachment_id, &a.bytes))
                .collect();
            flag
        });
        Verdict {
            flag,
            problems: findings.problems,
            suppressed,
        }
    }
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("detectors", &self.detector_names())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use vigil_core::{DetectorKind, Match, MatchSubject, Severity};

    use super::*;

    struct Fixed(&'static str);
    struct Panicking;

    impl Detector for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn detect(&self, context: &ScanContext<'_>, findings: &mut Findings) {
            findings.matches.push(Match {
                detector: DetectorKind::Keyword,
                list: "l".into(),
                list_version: "v".into(),
                category: self.0.into(),
                severity: Severity::Low,
                subject: MatchSubject::Text {
                    rule_id: context.message.message_id.clone(),
                    spans: vec![],
                    expression: None,
                    attachment_id: None,
                },
            });
        }
    }

    impl Detector for Panicking {
        fn name(&self) -> &'static str {
            "panicking"
        }
        fn detect(&self, _: &ScanContext<'_>, findings: &mut Findings) {
            findings.matches.push(Match {
                detector: DetectorKind::Regex,
                list: "partial".into(),
                list_version: "v".into(),
                category: "never".into(),
                severity: Severity::Critical,
                subject: MatchSubject::Text {
                    rule_id: "r".into(),
                    spans: vec![],
                    expression: None,
                    attachment_id: None,
                },
            });
            panic!("boom");
        }
    }

    fn message() -> Message {
        Message::parse(
            br#"{"message_id":"m","conversation_id":"c","sender_id":"s","recipient_ids":["r"],
                "sent_at":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap()
    }

    #[test]
    fn a_panicking_detector_loses_only_its_own_findings() {
        let scanner = Scanner::new(vec![
            Box::new(Fixed("a")),
            Box::new(Panicking),
            Box::new(Fixed("b")),
        ]);
        let source = Source::File {
            file: "f".into(),
            line: 1,
        };
        let verdict = scanner.scan(&message(), &[], &source, OffsetDateTime::UNIX_EPOCH);
        let flag = verdict.flag.unwrap();
        assert_eq!(flag.categories, ["a", "b"]);
        assert_eq!(verdict.problems.len(), 1);
        assert_eq!(verdict.problems[0].reason, ReasonCode::DetectorPanic);
        assert!(verdict.problems[0].detail.contains("panicking"));
    }

    #[test]
    fn no_matches_means_no_flag() {
        let scanner = Scanner::new(vec![]);
        let source = Source::File {
            file: "f".into(),
            line: 1,
        };
        let verdict = scanner.scan(&message(), &[], &source, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            verdict,
            Verdict {
                flag: None,
                problems: vec![],
                suppressed: vec![],
            }
        );
    }
}
