use std::path::{Path, PathBuf};

use anyhow::Context;
use vigil_core::Config;

/// The configuration in force: `explicit` (from --config or $VIGIL_CONFIG), else
/// `./vigil.toml` if present, else the defaults; environment overrides applied either way.
pub(crate) fn load(explicit: Option<&Path>) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let default = Path::new("vigil.toml");
    let path = match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => default.is_file().then(|| default.to_path_buf()),
    };
    let config = match &path {
        Some(path) => Config::load(path, std::env::vars())?,
        None => {
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            Config::from_env(&cwd, std::env::vars())?
        }
    };
    Ok((config, path))
}
