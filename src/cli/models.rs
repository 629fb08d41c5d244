//! `abridge models`: list the catalogue, fetch a model, print a model's local path.

use crate::catalogue;
use crate::fetch::{self, FetchOptions};
use anyhow::{Context, Result};
use clap::Subcommand;
use std::io::{self, Write};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub(super) enum ModelsCommand {
    /// List the catalogue: name, architecture, size, whether it is cached.
    List,
    /// Download and verify a model (no-op when it is already cached and verified).
    Fetch {
        /// Catalogue name, e.g. `qwen2.5-coder-1.5b-instruct`.
        name: String,
    },
    /// Print the verified local path of a model's file, fetching it if needed.
    Path {
        /// Catalogue name.
        name: String,
        /// Use local files only; fail if the model is not cached.
        #[arg(long)]
        offline: bool,
    },
}

pub(super) fn run(command: ModelsCommand) -> Result<ExitCode> {
    let mut stdout = io::stdout().lock();
    match command {
        ModelsCommand::List => {
            let options = FetchOptions::from_env(true);
            writeln!(
                stdout,
                "{:<30} {:<7} {:>9}  {:<8} DESCRIPTION",
                "NAME", "ARCH", "SIZE", "CACHED"
            )?;
            for spec in catalogue::all() {
                let size = spec
                    .size
                    .map_or("?".to_string(), |b| format!("{:.0} MB", b as f64 / 1e6));
                let cached = if fetch::cached_path(&spec, &options).exists() {
                    "yes"
                } else {
                    "no"
                };
                let name = if spec.default {
                    format!("{} *", spec.name)
                } else {
                    spec.name.clone()
                };
                writeln!(
                    stdout,
                    "{name:<30} {:<7} {size:>9}  {cached:<8} {}",
                    spec.architecture.to_string(),
                    spec.description
                )?;
            }
            writeln!(stdout, "\n* default model")?;
        }
        ModelsCommand::Fetch { name } => {
            let spec = catalogue::find(&name)?;
            let path = fetch::resolve(&spec, &FetchOptions::from_env(false))
                .with_context(|| format!("fetching `{name}`"))?;
            writeln!(stdout, "{}", path.display())?;
        }
        ModelsCommand::Path { name, offline } => {
            let spec = catalogue::find(&name)?;
            writeln!(
                stdout,
                "{}",
                fetch::resolve(&spec, &FetchOptions::from_env(offline))?.display()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
