//! The URL detector: links in a message's text (through their disguises) looked up in URL
//! lists by their Safe Browsing expressions, so an entry for a page, a folder or a whole
//! domain matches. One match per (list, entry), with every span where a link matched it and
//! the most specific expression that did.

use std::collections::HashMap;
use std::time::Instant;

use vigil_core::{DetectorKind, Match, MatchSubject, ReasonCode};
use vigil_url::{Extractor, UrlIndex, expression_hash};

use crate::{Detector, Findings, Problem, ScanContext, TimedStep};

/// Matches links in message text against URL lists.
#[derive(Debug)]
pub struct UrlDetector {
    index: UrlIndex,
    extractor: Extractor,
    max_scan_bytes: usize,
    /// Report text past `max_scan_bytes` (when no keyword detector does).
    report_truncation: bool,
}

impl UrlDetector {
    /// A detector over `index`, reading at most `max_scan_bytes` of a text (`text.max_scan_bytes`).
    pub fn new(index: UrlIndex, max_scan_bytes: u64, report_truncation: bool) -> UrlDetector {
        UrlDetector {
            index,
            extractor: Extractor::new(),
            max_scan_bytes: usize::try_from(max_scan_bytes).unwrap_or(usize::MAX),
            report_truncation,
        }
    }
}

impl Detector for UrlDetector {
    fn name(&self) -> &'static str {
        "url"
    }

    fn detect(&self, context: &ScanContext<'_>, findings: &mut Findings) {
        let Some(text) = &context.message.text else {
            return;
        };
        let start = Instant::now();
        let mut cut = text.len().min(self.max_scan_bytes);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut < text.len() && self.report_truncation {
            findings.problems.push(Problem {
                reason: ReasonCode::TextTruncated,
                attachment_id: None,
                detail: format!(
                    "text of {} bytes: the first {cut} searched for links (text.max_scan_bytes = {})",
                    text.len(),
                    self.max_scan_bytes
                ),
            });
        }
        // (list, entry) → match, in order of first appearance.
        let mut found: HashMap<(usize, usize), usize> = HashMap::new();
        let mut matches: Vec<Match> = Vec::new();
        for link in self.extractor.extract(&text[..cut]) {
            for expression in link.url.expressions() {
                for hit in self.index.lookup(expression_hash(&expression)) {
                    let key = (
                        std::ptr::from_ref(hit.list) as usize,
                        std::ptr::from_ref(hit.entry) as usize,
                    );
                    match found.get(&key) {
                        Some(&i) => {
                            if let MatchSubject::Text { spans, .. } = &mut matches[i].subject
                                && !spans.contains(&link.span)
                            {
                                spans.push(link.span);
                            }
                        }
                        None => {
                            found.insert(key, matches.len());
                            matches.push(Match {
                                detector: DetectorKind::Url,
                                list: hit.list.name.clone(),
                                list_version: hit.list.version.clone(),
                                category: hit.entry.category.clone(),
                                severity: hit.entry.severity,
                                subject: MatchSubject::Text {
                                    rule_id: hit.entry.entry_id.clone(),
                                    spans: vec![link.span],
                                    expression: Some(expression.clone()),
                                },
                            });
                        }
                    }
                }
            }
        }
        findings.matches.extend(matches);
        findings.trace.add(TimedStep::Text, start.elapsed());
    }
}
