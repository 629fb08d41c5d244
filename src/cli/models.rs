//! `abridge models`: list the catalogue and the model folders in the Hugging Face cache,
//! fetch a model, print a model's local path, remove a model from the caches.

use super::args::OutputFormat;
use crate::catalogue::{self, ModelSpec};
use crate::fetch::{self, FetchOptions, RepoId};
use crate::model;
use crate::output::versioned;
use crate::provision;
use anyhow::{Context, Result};
use clap::Subcommand;
use serde::Serialize;
use std::io::{self, Write};
use std::process::ExitCode;

/// Examples of `abridge models`.
pub(super) const EXAMPLES: &str = "\
Examples:
  abridge models list
  abridge models fetch qwen2.5-coder-0.5b-instruct
  abridge models path smollm2-135m-instruct --offline --verify
  abridge models rm distilbart-cnn-12-6";

#[derive(Debug, Subcommand)]
pub(super) enum ModelsCommand {
    /// List the catalogue (name, architecture, size, whether it is cached), then the model
    /// folders of other repositories in the Hugging Face cache.
    #[command(after_help = "\
Examples:
  abridge models list                                    # `*` marks the default model
  abridge models list --format json")]
    List {
        /// A table with the cache's other model folders after the catalogue, or the
        /// catalogue's rows alone as one JSON array or as JSON Lines, one object per model
        /// (`name`, `architecture`, `size_mb` or null, `cached`, `default`, `description`).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Download and verify a model; one already cached is hashed again and checked.
    #[command(after_help = "\
Examples:
  abridge models fetch qwen2.5-coder-0.5b-instruct
  abridge models fetch distilbart-cnn-12-6               # a model folder from its repository
  abridge models fetch hf:Qwen/Qwen3-1.7B-GGUF:Q8_0")]
    Fetch {
        /// Catalogue name, e.g. `qwen2.5-coder-1.5b-instruct`.
        name: String,
    },
    /// Print the verified local path of a model's file, fetching it if needed.
    #[command(after_help = "\
Examples:
  abridge models path smollm2-135m-instruct
  abridge models path smollm2-135m-instruct --offline --verify")]
    Path {
        /// Catalogue name.
        name: String,
        /// Use local files only; fail if the model is not cached.
        #[arg(long)]
        offline: bool,
        /// Hash the file again and check it, even if it was verified before and has not
        /// changed size or modification time since.
        #[arg(long)]
        verify: bool,
    },
    /// Remove a model from abridge's cache and the Hugging Face cache.
    #[command(after_help = "\
Examples:
  abridge models rm smollm2-135m-instruct
  abridge models rm sshleifer/distilbart-cnn-12-6")]
    Rm {
        /// Catalogue name, or a Hugging Face repository (ORG/NAME).
        name: String,
    },
}

/// One catalogue model as `models list --format json|jsonl` prints it.
#[derive(Debug, Serialize)]
struct ModelRow<'a> {
    name: &'a str,
    architecture: String,
    /// The file's size, MB (10^6 bytes), where the catalogue knows it.
    size_mb: Option<f64>,
    cached: bool,
    default: bool,
    description: &'a str,
}

impl<'a> ModelRow<'a> {
    fn new(spec: &'a ModelSpec, options: &FetchOptions) -> Self {
        Self {
            name: &spec.name,
            architecture: spec.architecture.to_string(),
            size_mb: spec.size.map(|b| (b as f64 / 1e5).round() / 10.0),
            cached: fetch::is_cached(spec, options),
            default: spec.default,
            description: &spec.description,
        }
    }
}

pub(super) fn run(command: ModelsCommand) -> Result<ExitCode> {
    let mut stdout = io::stdout().lock();
    match command {
        ModelsCommand::List {
            format: format @ (OutputFormat::Json | OutputFormat::Jsonl),
        } => {
            let options = FetchOptions::from_env(true);
            let specs = catalogue::all();
            let rows = specs
                .iter()
                .map(|spec| versioned(ModelRow::new(spec, &options)));
            if format == OutputFormat::Json {
                let rows: Vec<_> = rows.collect();
                writeln!(stdout, "{}", serde_json::to_string(&rows)?)?;
            } else {
                for row in rows {
                    writeln!(stdout, "{}", serde_json::to_string(&row)?)?;
                }
            }
        }
        ModelsCommand::List {
            format: OutputFormat::Text,
        } => {
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
                let cached = if fetch::is_cached(&spec, &options) {
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
            let listed: Vec<String> = catalogue::all()
                .iter()
                .filter_map(|spec| fetch::repo_of(spec).map(|repo| repo.repo))
                .collect();
            for (repo, folder) in fetch::cached_repos(&options) {
                if listed.contains(&repo.repo) {
                    continue;
                }
                let architecture = model::folder_family(&folder)
                    .map_or("?".to_string(), |family| family.to_string());
                writeln!(
                    stdout,
                    "{:<30} {architecture:<7} {:>9}  {:<8} in the Hugging Face cache",
                    repo.display(),
                    "",
                    "yes"
                )?;
            }
            writeln!(stdout, "\n* default model")?;
        }
        ModelsCommand::Rm { name } => {
            let options = FetchOptions::from_env(true);
            let removed = match (catalogue::find(&name), RepoId::parse(&name)) {
                (Ok(spec), _) => fetch::remove(&spec, &options)?,
                (Err(_), Some(repo)) => fetch::remove_repo(&repo, &options)?.into_iter().collect(),
                (Err(unknown), None) => return Err(unknown.into()),
            };
            if removed.is_empty() {
                eprintln!("abridge: `{name}` is not cached; nothing to remove");
            }
            for path in removed {
                writeln!(stdout, "removed {}", path.display())?;
            }
        }
        // A catalogue name, `hf:ORG/NAME[:QUANT|FILE]` or `ORG/NAME`, as `--model` takes.
        ModelsCommand::Fetch { name } => {
            let options = FetchOptions {
                full_check: true,
                ..FetchOptions::from_env(false)
            };
            let (_, path) = provision::resolve_with(Some(&name), options)
                .with_context(|| format!("fetching `{name}`"))?;
            writeln!(stdout, "{}", path.display())?;
        }
        ModelsCommand::Path {
            name,
            offline,
            verify,
        } => {
            let options = FetchOptions {
                full_check: verify,
                ..FetchOptions::from_env(offline)
            };
            let (_, path) = provision::resolve_with(Some(&name), options)?;
            writeln!(stdout, "{}", path.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
