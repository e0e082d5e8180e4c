//! The URL detector: links in a message's text and its attachments' file names (through
//! their disguises) looked up in URL lists by their Safe Browsing expressions, so an entry
//! for a page, a folder or a whole domain matches. One match per (list, entry, text or file
//! name), with every span where a link matched it and the most specific expression that did.
//! A link to a shortener (`[urls] shorteners`) is `unresolved_short_link` evidence: it joins
//! a flag that matched otherwise, or flags by itself with `urls.short_link_rule`.

use std::collections::HashMap;
use std::time::Instant;

use vigil_core::{DetectorKind, Match, MatchSubject, ReasonCode, Severity};
use vigil_url::{CanonicalUrl, Extractor, UrlIndex, UrlsConfig};

use crate::detectors::prefix_within;
use crate::{Detector, Findings, Problem, ScanContext, TimedStep};

/// Matches links in message text against URL lists.
#[derive(Debug)]
pub struct UrlDetector {
    index: UrlIndex,
    extractor: Extractor,
    max_scan_bytes: usize,
    /// Report text past `max_scan_bytes` (when no keyword detector does).
    report_truncation: bool,
    shorteners: Vec<String>,
    short_link_rule: bool,
}

/// The list name and category short-link evidence carries.
const SHORT_LINKS: &str = "unresolved_short_link";

impl UrlDetector {
    /// A detector over `index`, reading at most `max_scan_bytes` of a text (`text.max_scan_bytes`).
    pub fn new(
        index: UrlIndex,
        urls: &UrlsConfig,
        max_scan_bytes: u64,
        report_truncation: bool,
    ) -> UrlDetector {
        UrlDetector {
            index,
            extractor: Extractor::new(),
            max_scan_bytes: usize::try_from(max_scan_bytes).unwrap_or(usize::MAX),
            report_truncation,
            shorteners: urls
                .shorteners
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            short_link_rule: urls.short_link_rule,
        }
    }

    /// The shortener `url` points to, if any (its host or a subdomain of it).
    fn shortener(&self, url: &CanonicalUrl) -> Option<&str> {
        let host = url.host();
        self.shorteners
            .iter()
            .find(|s| {
                host == s.as_str()
                    || host
                        .strip_suffix(s.as_str())
                        .is_some_and(|p| p.ends_with('.'))
            })
            .map(String::as_str)
    }
}

/// What a message's links matched, as they are found.
#[derive(Default)]
struct Links {
    /// (list, entry, the attachment whose file name held the link) → its match in `matches`.
    found: HashMap<(usize, usize, Option<String>), usize>,
    matches: Vec<Match>,
    short_links: Vec<Match>,
}

impl UrlDetector {
    /// Looks up every link of `text` (the message's, or the file name of `attachment`): one
    /// match per entry and place, with every span where a link matched it and the most
    /// specific expression that did.
    fn links_in(&self, text: &str, attachment: Option<&str>, links: &mut Links) {
        for link in self.extractor.extract(text) {
            if let Some(shortener) = self.shortener(&link.url) {
                links.short_links.push(Match {
                    detector: DetectorKind::Url,
                    list: SHORT_LINKS.to_string(),
                    list_version: "config".to_string(),
                    category: SHORT_LINKS.to_string(),
                    severity: Severity::Low,
                    subject: MatchSubject::Text {
                        rule_id: shortener.to_string(),
                        spans: vec![link.span],
                        expression: link.url.lookups().next().map(|e| e.to_string()),
                        attachment_id: attachment.map(str::to_string),
                    },
                });
            }
            for expression in link.url.lookups() {
                for hit in self.index.lookup(expression.hash()) {
                    let key = (
                        std::ptr::from_ref(hit.list) as usize,
                        std::ptr::from_ref(hit.entry) as usize,
                        attachment.map(str::to_string),
                    );
                    match links.found.get(&key) {
                        Some(&i) => {
                            if let MatchSubject::Text { spans, .. } = &mut links.matches[i].subject
                                && !spans.contains(&link.span)
                            {
                                spans.push(link.span);
                            }
                        }
                        None => {
                            links.found.insert(key, links.matches.len());
                            links.matches.push(Match {
                                detector: DetectorKind::Url,
                                list: hit.list.name.clone(),
                                list_version: hit.list.version.clone(),
                                category: hit.entry.category.clone(),
                                severity: hit.entry.severity,
                                subject: MatchSubject::Text {
                                    rule_id: hit.entry.entry_id.clone(),
                                    spans: vec![link.span],
                                    expression: Some(expression.to_string()),
                                    attachment_id: attachment.map(str::to_string),
                                },
                            });
                        }
                    }
                }
            }
        }
    }
}

impl Detector for UrlDetector {
    fn name(&self) -> &'static str {
        "url"
    }

    fn detect(&self, context: &ScanContext<'_>, findings: &mut Findings) {
        let start = Instant::now();
        let mut links = Links::default();
        if let Some(text) = &context.message.text {
            let scanned = prefix_within(text, self.max_scan_bytes);
            let cut = scanned.len();
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
            self.links_in(scanned, None, &mut links);
        }
        // A link can be in a file name too (`bad.example.com_0412.jpg`); its spans are then
        // in that name (at most 255 bytes: the message parser refuses longer ones).
        for attachment in &context.message.attachments {
            if let Some(name) = &attachment.file_name {
                self.links_in(name, Some(&attachment.attachment_id), &mut links);
            }
        }
        let Links {
            matches,
            short_links,
            ..
        } = links;
        findings.matches.extend(matches);
        if self.short_link_rule {
            findings.matches.extend(short_links);
        } else {
            findings.evidence.extend(short_links);
        }
        findings.trace.add(TimedStep::Text, start.elapsed());
    }
}
