//! The CyberTipline's XML: a report (`POST /submit`) and a file's details (`POST /fileinfo`)
//! written in the element order NCMEC's schema prescribes (every type is a sequence), and
//! its responses read. `docs/schemas/cybertipline.xsd` writes that structure down, element by
//! element with the documentation's section; the tests validate what this module writes
//! against it.

use std::net::IpAddr;

use quick_xml::events::Event;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ReportDocument;
use crate::config::CyberTiplineConfig;

/// A file's details, as `POST /fileinfo` takes them.
#[derive(Debug, Clone)]
pub struct FileDocument<'a> {
    /// NCMEC's report id.
    pub report_id: i64,
    /// NCMEC's id of the uploaded file.
    pub file_id: &'a str,
    /// The name it had on the sender's device (or the attachment's id).
    pub original_name: &'a str,
    /// When the platform received it (the message's time).
    pub uploaded_at: OffsetDateTime,
    /// Whether someone at the platform looked at it.
    pub viewed: bool,
    /// Hex digests of its bytes.
    pub md5: &'a str,
    /// Hex SHA-256 of its bytes.
    pub sha256: &'a str,
    /// The address it was sent from, if the message said.
    pub ip_address: Option<IpAddr>,
    /// The list matches that flagged it, as name/value pairs (`details type="HASH"`).
    pub matches: Vec<(String, String)>,
    /// A note on what the file is (e.g. a frame taken from a video).
    pub note: Option<String>,
}

/// Writes elements in order; text and attribute values escaped, characters XML 1.0 cannot
/// carry dropped.
struct Writer {
    out: String,
    open: Vec<&'static str>,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            open: Vec::new(),
        }
    }

    /// A new line indented to the current depth, so that a person can read the document.
    fn newline(&mut self) {
        self.out.push('\n');
        for _ in 0..self.open.len() {
            self.out.push_str("  ");
        }
    }

    fn start(&mut self, name: &'static str, attributes: &[(&str, &str)]) {
        if !self.open.is_empty() {
            self.newline();
        }
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attributes {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value, true);
            self.out.push('"');
        }
        self.out.push('>');
    }

    fn open(&mut self, name: &'static str) {
        self.start(name, &[]);
        self.open.push(name);
    }

    fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            self.newline();
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
    }

    fn leaf_with(&mut self, name: &'static str, attributes: &[(&str, &str)], text: &str) {
        self.start(name, attributes);
        escape_into(&mut self.out, text, false);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn leaf(&mut self, name: &'static str, text: &str) {
        self.leaf_with(name, &[], text);
    }

    fn optional(&mut self, name: &'static str, text: Option<&str>) {
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            self.leaf(name, text);
        }
    }

    fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out.push('\n');
        self.out
    }
}

/// `text` escaped as XML character data, or as a double-quoted attribute value.
fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// An `xs:dateTime`.
pub(crate) fn date_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn ip_capture_event(xml: &mut Writer, ip: IpAddr, event: &str, at: OffsetDateTime) {
    xml.open("ipCaptureEvent");
    xml.leaf("ipAddress", &ip.to_string());
    xml.leaf("eventName", event);
    xml.leaf("dateTime", &date_time(at));
    xml.close();
}

/// The report `POST /submit` opens.
pub fn report(doc: &ReportDocument, config: &CyberTiplineConfig) -> String {
    let reporter = &config.reporter;
    let platform = &config.platform;
    let mut xml = Writer::new();
    xml.start(
        "report",
        &[
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
            (
                "xsi:noNamespaceSchemaLocation",
                "https://report.cybertip.org/ispws/xsd",
            ),
        ],
    );
    xml.open.push("report");

    xml.open("incidentSummary");
    xml.leaf("incidentType", doc.incident_type.as_str());
    xml.leaf("platform", platform);
    xml.leaf("incidentDateTime", &date_time(doc.incident_at));
    xml.leaf("incidentDateTimeDescription", &doc.incident_description);
    xml.close();

    xml.open("internetDetails");
    xml.open("chatImIncident");
    xml.leaf("chatClient", platform);
    xml.optional("content", doc.chat_content.as_deref());
    xml.leaf("additionalInfo", &doc.chat_description);
    xml.close();
    xml.close();

    xml.open("reporter");
    xml.open("reportingPerson");
    xml.leaf("firstName", &reporter.first_name);
    xml.leaf("lastName", &reporter.last_name);
    xml.optional("phone", reporter.phone.as_deref());
    xml.leaf("email", &reporter.email);
    xml.close();
    xml.optional("companyTemplate", reporter.company_template.as_deref());
    xml.optional("termsOfService", reporter.terms_of_service.as_deref());
    xml.optional("legalURL", reporter.legal_url.as_deref());
    xml.close();

    xml.open("personOrUserReported");
    if !doc.emails.is_empty() {
        xml.open("personOrUserReportedPerson");
        for email in &doc.emails {
            xml.leaf("email", email);
        }
        xml.close();
    }
    xml.leaf("espIdentifier", &doc.sender_id);
    xml.leaf("espService", platform);
    for (ip, at) in &doc.ip_addresses {
        ip_capture_event(&mut xml, *ip, "Upload", *at);
    }
    for (device, at) in &doc.devices {
        xml.open("deviceId");
        xml.leaf("idType", "Platform device id");
        xml.leaf("idValue", device);
        xml.leaf("eventName", "Upload");
        xml.leaf("dateTime", &date_time(*at));
        xml.close();
    }
    xml.close();

    xml.optional("additionalInfo", Some(&doc.summary));
    xml.finish()
}

/// A file's details for `POST /fileinfo`.
pub fn file_details(file: &FileDocument<'_>) -> String {
    let mut xml = Writer::new();
    xml.open("fileDetails");
    xml.leaf("reportId", &file.report_id.to_string());
    xml.leaf("fileId", file.file_id);
    xml.leaf("originalFileName", file.original_name);
    xml.leaf("uploadedToEspTimestamp", &date_time(file.uploaded_at));
    xml.leaf("fileViewedByEsp", bool_text(file.viewed));
    xml.leaf("exifViewedByEsp", "false");
    // Direct messages are private by construction.
    xml.leaf("publiclyAvailable", "false");
    xml.leaf("fileRelevance", "Reported");
    xml.leaf_with("originalFileHash", &[("hashType", "MD5")], file.md5);
    xml.leaf_with("originalFileHash", &[("hashType", "SHA256")], file.sha256);
    if let Some(ip) = file.ip_address {
        ip_capture_event(&mut xml, ip, "Upload", file.uploaded_at);
    }
    if !file.matches.is_empty() {
        xml.start("details", &[("type", "HASH")]);
        xml.open.push("details");
        for (name, value) in &file.matches {
            xml.open("nameValuePair");
            xml.leaf("name", name);
            xml.leaf("value", value);
            xml.close();
        }
        xml.close();
    }
    xml.optional("additionalInfo", file.note.as_deref());
    xml.finish()
}

fn bool_text(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// What a `reportResponse` or `reportDoneResponse` said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// 0 is success; anything else an error code from the documentation.
    pub code: i64,
    /// Its description (empty on success, absent from `reportDoneResponse`).
    pub description: String,
    /// The report's id.
    pub report_id: Option<i64>,
    /// An uploaded file's id.
    pub file_id: Option<String>,
    /// An uploaded file's MD5, as NCMEC computed it.
    pub hash: Option<String>,
    /// `reportDoneResponse`: the files NCMEC has.
    pub files: Vec<String>,
}

/// Reads a response body; `None` if it is not one of the two response documents.
pub fn response(body: &str) -> Option<Response> {
    let mut reader = quick_xml::Reader::from_str(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut response = Response::default();
    let mut code = None;
    let mut text = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                if path.is_empty() && name != "reportResponse" && name != "reportDoneResponse" {
                    return None;
                }
                path.push(name);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                match quick_xml::escape::resolve_predefined_entity(r.as_ref()) {
                    Some(c) => text.push_str(c),
                    None => text.push(r.resolve_char_ref().ok()??),
                }
            }
            Event::End(_) => {
                let value = std::mem::take(&mut text).trim().to_string();
                match path.last().map(String::as_str) {
                    Some("responseCode") => code = Some(value.parse().ok()?),
                    Some("responseDescription") => response.description = value,
                    Some("reportId") => response.report_id = Some(value.parse().ok()?),
                    Some("fileId") if path.len() == 3 => response.files.push(value),
                    Some("fileId") => response.file_id = Some(value),
                    Some("hash") => response.hash = Some(value),
                    _ => {}
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    response.code = code?;
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_what_xml_cannot_carry() {
        let mut out = String::new();
        escape_into(&mut out, "a<b>&\"c'\u{1}\td", false);
        assert_eq!(out, "a&lt;b&gt;&amp;\"c'\td");
        let mut out = String::new();
        escape_into(&mut out, "say \"x\" & <y>", true);
        assert_eq!(out, "say &quot;x&quot; &amp; &lt;y&gt;");
    }

    #[test]
    fn reads_the_documented_responses() {
        let upload = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
            <reportResponse><responseCode>0</responseCode><responseDescription>Success\
            </responseDescription><reportId>4564654</reportId>\
            <fileId>b0754af766b426f2928a02c651ed4b99</fileId>\
            <hash>fafa5efeaf3cbe3b23b2748d13e629a1</hash></reportResponse>";
        let read = response(upload).unwrap();
        assert_eq!(read.code, 0);
        assert_eq!(read.report_id, Some(4564654));
        assert_eq!(
            read.file_id.as_deref(),
            Some("b0754af766b426f2928a02c651ed4b99")
        );
        assert_eq!(
            read.hash.as_deref(),
            Some("fafa5efeaf3cbe3b23b2748d13e629a1")
        );
        let done = "<reportDoneResponse><responseCode>0</responseCode><reportId>4564654\
            </reportId><files><fileId>f1</fileId><fileId>f2</fileId></files></reportDoneResponse>";
        let read = response(done).unwrap();
        assert_eq!(read.files, ["f1", "f2"]);
        assert_eq!(read.file_id, None);
        let refused = "<reportResponse><responseCode>4100</responseCode>\
            <responseDescription>Validation failed</responseDescription></reportResponse>";
        assert_eq!(response(refused).unwrap().code, 4100);
        assert_eq!(response("<html>busy</html>"), None);
        assert_eq!(response(""), None);
    }
}
