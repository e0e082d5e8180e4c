//! `vigil lists disable|enable|disabled|reinstate`: the entry overlay in the entry-state
//! topic (`[containment]`), which every `vigil run` instance applies.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vigil_kafka::entries::{Disabled, EntryId, overlay};

/// Where the entry-state topic is.
#[derive(Debug, clap::Args)]
pub(crate) struct Brokers {
    /// Configuration file, for the brokers, client settings and `[containment]` [default:
    /// $VIGIL_CONFIG, else ./vigil.toml if present].
    #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
    config: Option<PathBuf>,
    /// Bootstrap brokers (overrides `kafka.brokers`).
    #[arg(long, value_name = "HOST:PORT")]
    brokers: Option<String>,
}

/// One entry, and who acts on it.
#[derive(Debug, clap::Args)]
pub(crate) struct Entry {
    /// The list's name (as `vigil lists stats` and flags print it).
    list: String,
    /// The entry id (hash lists) or rule id (text lists).
    entry: String,
    /// Who does this (recorded with the entry; an operator name, never a reviewer's login).
    #[arg(long, value_name = "NAME")]
    by: String,
    #[command(flatten)]
    brokers: Brokers,
}

/// `vigil lists disable`.
#[derive(Debug, clap::Args)]
pub(crate) struct Disable {
    #[command(flatten)]
    entry: Entry,
    /// Why (shown with the entry; never message content).
    #[arg(long)]
    reason: String,
    /// Until when: RFC 3339, or a duration from now such as 12h or 30d [default: until
    /// enabled].
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
}

/// `vigil lists disabled`.
#[derive(Debug, clap::Args)]
pub(crate) struct Show {
    #[command(flatten)]
    brokers: Brokers,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

fn load(brokers: &Brokers) -> anyhow::Result<vigil_config::Config> {
    crate::settings::load_for_kafka(brokers.config.as_deref(), brokers.brokers.clone())
}

fn id(entry: &Entry) -> anyhow::Result<EntryId> {
    if entry.list.trim().is_empty() || entry.entry.trim().is_empty() || entry.by.trim().is_empty() {
        bail!("the list, the entry and --by must not be empty");
    }
    Ok(EntryId::new(&entry.list, &entry.entry))
}

/// `vigil lists disable LIST ENTRY --reason R --by NAME [--until TIME]`.
pub(crate) fn disable(args: &Disable) -> anyhow::Result<()> {
    let config = load(&args.entry.brokers)?;
    let id = id(&args.entry)?;
    if args.reason.trim().is_empty() {
        bail!("--reason must say why");
    }
    let now = OffsetDateTime::now_utc();
    let until = args.until.as_deref().map(|t| until(t, now)).transpose()?;
    let disabled = Disabled {
        reason: args.reason.clone(),
        by: args.entry.by.clone(),
        at: now,
        until,
    };
    overlay::disable(&config.kafka, &config.containment, &id, &disabled)?;
    eprintln!(
        "disabled {} / {} in {}",
        id.list, id.entry, config.containment.state_topic
    );
    Ok(())
}

/// `vigil lists enable LIST ENTRY --by NAME`.
pub(crate) fn enable(args: &Entry) -> anyhow::Result<()> {
    let config = load(&args.brokers)?;
    let id = id(args)?;
    overlay::enable(&config.kafka, &config.containment, &id, &args.by)?;
    eprintln!("enabled {} / {}", id.list, id.entry);
    Ok(())
}

/// `vigil lists reinstate LIST ENTRY --by NAME`.
pub(crate) fn reinstate(args: &Entry) -> anyhow::Result<()> {
    let config = load(&args.brokers)?;
    let id = id(args)?;
    overlay::verify(&config.kafka, &config.containment, &id, &args.by)?;
    eprintln!(
        "reinstated {} / {}: earlier decisions and sightings no longer count",
        id.list, id.entry
    );
    Ok(())
}

/// `vigil lists disabled`: the disabled entries, then the entries the precision rule
/// quarantines.
pub(crate) fn show(args: &Show) -> anyhow::Result<()> {
    let config = load(&args.brokers)?;
    let (table, unreadable) = overlay::read_state(&config.kafka, &config.containment)?;
    let now = OffsetDateTime::now_utc();
    let rules = config.containment.rules();
    let stamp = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let disabled = table.disabled_entries(now);
    let quarantined = table.quarantined_entries(now, &rules);
    if args.json {
        for (id, d) in &disabled {
            let line = serde_json::json!({
                "list": id.list, "entry": id.entry, "status": "disabled", "reason": d.reason,
                "by": d.by, "at": stamp(d.at), "until": d.until.map(stamp),
            });
            writeln!(out, "{line}")?;
        }
        for (id, reason, tally) in &quarantined {
            let line = serde_json::json!({
                "list": id.list, "entry": id.entry, "status": "quarantined",
                "reason": reason.as_str(), "confirmed": tally.confirmed,
                "false_positives": tally.false_positives,
            });
            writeln!(out, "{line}")?;
        }
    } else {
        writeln!(
            out,
            "{:<20} {:<24} {:<12} {:<16} {:<21} {:<21} REASON",
            "LIST", "ENTRY", "STATUS", "BY", "SINCE", "UNTIL"
        )?;
        for (id, d) in &disabled {
            let until = d.until.map_or_else(|| "-".to_string(), stamp);
            writeln!(
                out,
                "{:<20} {:<24} {:<12} {:<16} {:<21} {:<21} {}",
                id.list,
                id.entry,
                "disabled",
                d.by,
                stamp(d.at),
                until,
                d.reason
            )?;
        }
        for (id, reason, tally) in &quarantined {
            let why = format!(
                "{} ({} false positive(s), {} confirmed)",
                reason.as_str(),
                tally.false_positives,
                tally.confirmed
            );
            writeln!(
                out,
                "{:<20} {:<24} {:<12} {:<16} {:<21} {:<21} {}",
                id.list, id.entry, "quarantined", "-", "-", "-", why
            )?;
        }
    }
    if unreadable > 0 {
        eprintln!(
            "{unreadable} unreadable record(s) in {} skipped",
            config.containment.state_topic
        );
    }
    Ok(())
}

/// `--until`: RFC 3339 or a duration from `now` (`90m`, `12h`, `30d`).
fn until(text: &str, now: OffsetDateTime) -> anyhow::Result<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        if at <= now {
            bail!("--until {text} is not in the future");
        }
        return Ok(at);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().with_context(|| {
        format!("--until {text}: expected RFC 3339 or a duration such as 12h or 30d")
    })?;
    let step = match unit {
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => bail!("--until {text}: the unit is m, h or d"),
    };
    if n <= 0 {
        bail!("--until {text} must be positive");
    }
    Ok(now + step)
}
