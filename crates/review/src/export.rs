//! The access log as auditors take it away: CSV that is safe to open in a spreadsheet, and
//! JSON.

use std::borrow::Cow;

use time::format_description::well_known::Rfc3339;

use crate::access::AccessRow;

/// The CSV's header line.
const CSV_HEADER: &str = "id,at,actor,role,action,flag_id,attachment_id,detail,remote_addr\n";

/// `rows` as CSV: the header, then one line per row with every field quoted.
pub(crate) fn csv(rows: &[AccessRow]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(CSV_HEADER.as_bytes().to_vec());
    for r in rows {
        let id = r.id.to_string();
        let at = r.at.format(&Rfc3339).unwrap_or_default();
        let fields = [
            id.as_str(),
            &at,
            &r.actor,
            &r.role,
            &r.action,
            r.flag_id.as_deref().unwrap_or_default(),
            r.attachment_id.as_deref().unwrap_or_default(),
            &r.detail,
            &r.remote_addr,
        ];
        out.write_record(fields.map(defused).iter().map(|f| f.as_bytes()))?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// `rows` as one JSON array.
pub(crate) fn json(rows: &[AccessRow]) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(rows)
}

/// A field a spreadsheet would read as a formula — starting with `=`, `+`, `-` or `@`, or
/// with a tab or carriage return, after which some spreadsheets look for those — gets a
/// leading `'` so it is shown as text (OWASP's advice on CSV injection).
fn defused(value: &str) -> Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn row(id: i64, detail: &str, flag_id: Option<&str>) -> AccessRow {
        AccessRow {
            id,
            at: OffsetDateTime::UNIX_EPOCH,
            actor: "aldo".into(),
            role: "auditor".into(),
            action: "export_access_log".into(),
            flag_id: flag_id.map(String::from),
            attachment_id: None,
            detail: detail.into(),
            remote_addr: "192.0.2.1".into(),
        }
    }

    /// The line one field becomes, without its line ending.
    fn csv_field(value: &str) -> String {
        let out = String::from_utf8(csv(&[row(1, value, None)]).unwrap()).unwrap();
        let line = out.lines().nth(1).unwrap();
        let prefix =
            "\"1\",\"1970-01-01T00:00:00Z\",\"aldo\",\"auditor\",\"export_access_log\",\"\",\"\",";
        let detail = line.strip_prefix(prefix).unwrap();
        detail.strip_suffix(",\"192.0.2.1\"").unwrap().to_string()
    }

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let table = [
            ("plain", "\"plain\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("+1", "\"'+1\""),
            ("-1", "\"'-1\""),
            ("@SUM(A1)", "\"'@SUM(A1)\""),
            ("\t=1+1", "\"'\t=1+1\""),
            ("\r=1+1", "\"'\r=1+1\""),
            ("a=1", "\"a=1\""),
            ("", "\"\""),
        ];
        for (value, want) in table {
            assert_eq!(csv_field(value), want, "{value:?}");
        }
    }

    #[test]
    fn the_csv_is_a_header_then_a_line_per_row() {
        let rows = [
            row(7, "csv", Some("0123456789abcdef0123456789abcdef")),
            row(8, "two\nlines, one field", None),
        ];
        let out = String::from_utf8(csv(&rows).unwrap()).unwrap();
        assert_eq!(
            out,
            "id,at,actor,role,action,flag_id,attachment_id,detail,remote_addr\n\
             \"7\",\"1970-01-01T00:00:00Z\",\"aldo\",\"auditor\",\"export_access_log\",\
             \"0123456789abcdef0123456789abcdef\",\"\",\"csv\",\"192.0.2.1\"\n\
             \"8\",\"1970-01-01T00:00:00Z\",\"aldo\",\"auditor\",\"export_access_log\",\
             \"\",\"\",\"two\nlines, one field\",\"192.0.2.1\"\n"
        );
        let read: Vec<csv::StringRecord> = csv::Reader::from_reader(out.as_bytes())
            .records()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(read.len(), 2, "a spreadsheet reads two rows back");
        assert_eq!(&read[1][7], "two\nlines, one field");
        assert_eq!(
            csv(&[]).unwrap(),
            CSV_HEADER.as_bytes(),
            "no rows: the header"
        );
    }

    #[test]
    fn the_json_is_an_array_of_rows_with_rfc3339_times() {
        let out = json(&[row(7, "json", None)]).unwrap();
        let read: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(read[0]["id"], 7);
        assert_eq!(read[0]["at"], "1970-01-01T00:00:00Z");
        assert_eq!(read[0]["flag_id"], serde_json::Value::Null);
        assert_eq!(read.as_array().map(Vec::len), Some(1));
    }
}
