use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use vigil_core::ReasonCode;
use vigil_kafka::replay::{ReplayRequest, replay};

/// `vigil dlq` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Re-inject dead-lettered records into a topic after a fix, with their keys, values and
    /// original headers (the vigil.error.* headers are dropped; vigil.replayed_from names
    /// the dead-letter coordinates).
    ///
    /// Idempotent: progress is committed in a consumer group (one per --from, --to and
    /// --reason filter unless --group is given) only after the re-injected records are
    /// acknowledged, so running it again re-injects only what arrived since. Prints a JSON
    /// summary.
    ///
    /// Example: vigil dlq replay --from vigil.dlq --to dms --reason undecodable
    Replay(ReplayArgs),
}

/// Arguments of `vigil dlq replay`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    /// The dead-letter topic [default: `kafka.dead_letter_topic`].
    #[arg(long, value_name = "TOPIC")]
    from: Option<String>,
    /// The topic to re-inject into.
    #[arg(long, value_name = "TOPIC")]
    to: String,
    /// Only records with this reason code among their reasons (repeatable).
    #[arg(long = "reason", value_name = "CODE")]
    reasons: Vec<String>,
    /// Consumer group that keeps the progress [default: derived from --from, --to, --reason].
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// Count what would be replayed; produce and commit nothing.
    #[arg(long)]
    dry_run: bool,
    /// Configuration file, for the brokers and client settings [default: $VIGIL_CONFIG, else
    /// ./vigil.toml if present].
    #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
    config: Option<PathBuf>,
    /// Bootstrap brokers (overrides `kafka.brokers`).
    #[arg(long, value_name = "HOST:PORT")]
    brokers: Option<String>,
}

/// `vigil dlq ...`.
pub(crate) fn run(command: Command) -> anyhow::Result<()> {
    let Command::Replay(args) = command;
    let config = crate::settings::load_for_kafka(args.config.as_deref(), args.brokers)?;
    let reasons = args
        .reasons
        .iter()
        .map(|r| {
            ReasonCode::from_wire(r).ok_or_else(|| {
                anyhow!("--reason `{r}` is not a reason code (see docs/schemas/error-record.md)")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let request = ReplayRequest {
        from: args
            .from
            .unwrap_or_else(|| config.kafka.dead_letter_topic.clone()),
        to: args.to,
        reasons,
        group: args.group,
        dry_run: args.dry_run,
    };
    let summary = replay(&config.kafka, &request)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &summary)?;
    writeln!(out).context("cannot write the summary")?;
    Ok(())
}
