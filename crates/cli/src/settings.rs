use std::path::Path;

use anyhow::Context;
use vigil_config::Config;
use vigil_scan::config::ScanConfig;
use vigil_video::WorkerCommand;

/// The configuration in force: `explicit` (from --config or $VIGIL_CONFIG), else
/// `./vigil.toml` if present, else the defaults; environment overrides applied either way.
pub(crate) fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let default = Path::new("vigil.toml");
    let path = explicit.or_else(|| default.is_file().then_some(default));
    Ok(match path {
        Some(path) => Config::load(path, std::env::vars())?,
        None => {
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            Config::from_env(&cwd, std::env::vars())?
        }
    })
}

/// [`load`] for the offline Kafka tools: `brokers`, when given, overrides `kafka.brokers`.
pub(crate) fn load_for_kafka(
    explicit: Option<&Path>,
    brokers: Option<String>,
) -> anyhow::Result<Config> {
    let mut config = load(explicit)?;
    if let Some(brokers) = brokers {
        config.kafka.brokers = brokers;
    }
    Ok(config)
}

/// What scanning reads of `config`, with this very binary as the video worker
/// (`vigil video-worker`).
pub(crate) fn scan_config(config: &Config) -> anyhow::Result<ScanConfig> {
    Ok(ScanConfig {
        video_worker: Some(video_worker()?),
        ..config.scan()
    })
}

/// This very binary as a video worker.
pub(crate) fn video_worker() -> anyhow::Result<WorkerCommand> {
    let program = std::env::current_exe().context("cannot find the vigil executable")?;
    Ok(WorkerCommand::vigil(program))
}
