use vigil_core::{DetectorKind, Match, MatchSubject};
use vigil_hash::{ExactAlgorithm, ExactDigests};
use vigil_lists::ExactIndex;
use vigil_text::KeywordMatcher;

use crate::{Detector, Findings, ScanContext};

/// Matches the MD5/SHA-1/SHA-256 of each attachment's raw bytes against hash lists. Only the
/// algorithms that some list uses are computed.
#[derive(Debug)]
pub struct ExactHashDetector {
    index: ExactIndex,
    algorithms: Vec<ExactAlgorithm>,
}

impl ExactHashDetector {
    /// A detector over `index`.
    pub fn new(index: ExactIndex) -> ExactHashDetector {
        let algorithms = index.algorithms();
        ExactHashDetector { index, algorithms }
    }
}

fn detector_kind(algorithm: ExactAlgorithm) -> DetectorKind {
    match algorithm {
        ExactAlgorithm::Md5 => DetectorKind::Md5,
        ExactAlgorithm::Sha1 => DetectorKind::Sha1,
        ExactAlgorithm::Sha256 => DetectorKind::Sha256,
    }
}

impl Detector for ExactHashDetector {
    fn name(&self) -> &'static str {
        "exact-hash"
    }

    fn detect(&self, context: &ScanContext<'_>, findings: &mut Findings) {
        if self.algorithms.is_empty() {
            return;
        }
        for attachment in context.attachments {
            let digests = ExactDigests::compute(&attachment.bytes, &self.algorithms);
            for &algorithm in &self.algorithms {
                let Some(digest) = digests.get(algorithm) else {
                    continue;
                };
                for hit in self.index.lookup(algorithm, &digest) {
                    findings.matches.push(Match {
                        detector: detector_kind(algorithm),
                        list: hit.list.name.clone(),
                        list_version: hit.list.version.clone(),
                        category: hit.entry.category.clone(),
                        severity: hit.entry.severity,
                        subject: MatchSubject::Attachment {
                            attachment_id: attachment.attachment_id.clone(),
                            entry_id: hit.entry.entry_id.clone(),
                            distance: 0,
                            quality: None,
                        },
                    });
                }
            }
        }
    }
}

/// Matches the message text against keyword lists.
#[derive(Debug)]
pub struct KeywordDetector {
    matcher: KeywordMatcher,
}

impl KeywordDetector {
    /// A detector over `matcher`.
    pub fn new(matcher: KeywordMatcher) -> KeywordDetector {
        KeywordDetector { matcher }
    }
}

impl Detector for KeywordDetector {
    fn name(&self) -> &'static str {
        "keyword"
    }

    fn detect(&self, context: &ScanContext<'_>, findings: &mut Findings) {
        let Some(text) = &context.message.text else {
            return;
        };
        for hit in self.matcher.find(text) {
            findings.matches.push(Match {
                detector: DetectorKind::Keyword,
                list: hit.list.name.clone(),
                list_version: hit.list.version.clone(),
                category: hit.rule.category.clone(),
                severity: hit.rule.severity,
                subject: MatchSubject::Text {
                    rule_id: hit.rule.rule_id.clone(),
                    spans: hit.spans,
                },
            });
        }
    }
}
