use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vigil_kafka::audit::{AuditQuery, AuditReport, audit};

/// Arguments of `vigil audit`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Configuration file, for the brokers and client settings [default: $VIGIL_CONFIG, else
    /// ./vigil.toml if present].
    #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
    config: Option<PathBuf>,
    /// Bootstrap brokers (overrides `kafka.brokers`).
    #[arg(long, value_name = "HOST:PORT")]
    brokers: Option<String>,
    /// The verdict topic [default: `kafka.verdict_topic`].
    #[arg(long, value_name = "TOPIC")]
    topic: Option<String>,
    /// Only verdicts scanned at or after this time: RFC 3339 (2026-11-26T00:00:00Z) or an age
    /// such as 90m, 24h, 7d.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only verdicts scanned before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit with status 1 if any input offset lacks a verdict or the topic was not read to
    /// its end (with --verify-gaps: any input record).
    #[arg(long)]
    strict: bool,
    /// Read the input topics at the gap offsets to tell records without a verdict from
    /// offsets that hold no record (transaction markers, compaction). Needs read access to
    /// the input topics.
    #[arg(long)]
    verify_gaps: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `vigil audit`; returns whether the report is clean (for --strict).
pub(crate) fn run(args: Args) -> anyhow::Result<bool> {
    let config = crate::settings::load_for_kafka(args.config.as_deref(), args.brokers)?;
    let topic = match args.topic.or_else(|| config.kafka.verdict_topic.clone()) {
        Some(topic) => topic,
        None => bail!("no verdict topic: pass --topic or set kafka.verdict_topic"),
    };
    let now = OffsetDateTime::now_utc();
    let query = AuditQuery {
        topic,
        since: args.since.as_deref().map(|t| when(t, now)).transpose()?,
        until: args.until.as_deref().map(|t| when(t, now)).transpose()?,
        verify_gaps: args.verify_gaps,
    };
    let report = audit(&config.kafka, &query)?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Text => render(&report),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write the report")?;
    let clean = report.complete && report.coverage.iter().all(|c| c.covered());
    Ok(clean || !args.strict)
}

/// `text` as a time: RFC 3339, or an age (`90m`, `24h`, `7d`, `30s`) before `now`.
fn when(text: &str, now: OffsetDateTime) -> anyhow::Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let unit_seconds = |unit| match unit {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        _ => None,
    };
    let age = text.char_indices().last().and_then(|(at, unit)| {
        let n: i64 = text[..at].parse().ok().filter(|n| *n >= 0)?;
        now.checked_sub(time::Duration::seconds(n.checked_mul(unit_seconds(unit)?)?))
    });
    match age {
        Some(time) => Ok(time),
        None => bail!("`{text}` is neither an RFC 3339 time nor an age like 24h, 90m, 7d"),
    }
}

fn render(r: &AuditReport) -> String {
    let mut out = String::new();
    let read = if r.complete {
        "read to its end"
    } else {
        "NOT read to its end: a partition stopped answering"
    };
    let _ = writeln!(out, "verdict topic {} ({read})", r.verdict_topic);
    if r.since.is_some() || r.until.is_some() {
        let _ = writeln!(
            out,
            "window        scanned_at in [{}, {})",
            r.since.as_deref().unwrap_or("beginning"),
            r.until.as_deref().unwrap_or("now")
        );
    }
    let _ = writeln!(
        out,
        "records       {} distinct input records ({} verdicts read, {} duplicates, {} unreadable)",
        r.records, r.verdicts_read, r.duplicates, r.unreadable
    );
    let _ = writeln!(out, "  clean       {}", r.clean);
    let _ = writeln!(out, "  flagged     {}", r.flagged);
    let _ = writeln!(
        out,
        "  error       {} (not scanned; on the dead-letter topic)",
        r.errors
    );
    let _ = writeln!(out, "  partial     {} (scanned in part)", r.partial);
    if !r.reasons.is_empty() {
        let _ = writeln!(out, "reasons (records)");
        for (reason, n) in &r.reasons {
            let _ = writeln!(out, "  {reason:<28} {n}");
        }
    }
    let _ = writeln!(out, "lists");
    for l in &r.lists {
        let _ = writeln!(
            out,
            "  {} {}: scanned {}, flagged {}",
            l.list, l.version, l.scanned, l.flagged
        );
        for (category, n) in &l.categories {
            let _ = writeln!(out, "    category {category:<26} {n}");
        }
        for (detector, n) in &l.detectors {
            let _ = writeln!(out, "    detector {detector:<26} {n}");
        }
        for (reason, n) in &l.suppressed {
            let _ = writeln!(out, "    suppressed {reason:<24} {n}");
        }
        for (reason, n) in &l.quarantined {
            let _ = writeln!(out, "    quarantined {reason:<23} {n}");
        }
    }
    let _ = writeln!(out, "coverage (input offsets with a verdict)");
    for c in &r.coverage {
        let _ = write!(
            out,
            "  {}/{}: offsets {}..={}, accounted {}, gaps {}",
            c.topic, c.partition, c.first_offset, c.last_offset, c.accounted, c.gaps
        );
        if let Some(behind) = c.not_yet_scanned {
            let _ = write!(out, ", not yet scanned {behind}");
        }
        if let (Some(missing), Some(empty)) = (c.missing_records, c.empty_offsets) {
            let _ = write!(
                out,
                " (gaps checked: {missing} records without a verdict, {empty} offsets without a record)"
            );
        }
        let _ = writeln!(out);
        for [a, b] in &c.gap_ranges {
            let _ = writeln!(out, "    missing {a}..={b}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_ages() {
        let now = OffsetDateTime::parse("2026-11-26T12:00:00Z", &Rfc3339).unwrap();
        let at = |s| OffsetDateTime::parse(s, &Rfc3339).unwrap();
        assert_eq!(when("24h", now).unwrap(), at("2026-11-25T12:00:00Z"));
        assert_eq!(when("90m", now).unwrap(), at("2026-11-26T10:30:00Z"));
        assert_eq!(when("7d", now).unwrap(), at("2026-11-19T12:00:00Z"));
        assert_eq!(
            when("2026-01-02T03:04:05Z", now).unwrap(),
            at("2026-01-02T03:04:05Z")
        );
        for bad in ["", "h", "-3h", "12", "3w", "yesterday", "99999999999999d"] {
            assert!(when(bad, now).is_err(), "{bad}");
        }
    }
}
