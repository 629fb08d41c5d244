//! `abridge bench`: a model's speed on each device, as a table or JSON lines.

use super::args::{ModelSourceArgs, OutputFormat, SpeedArgs};
use super::spinner;
use crate::bench::{self, BenchOptions, BenchText, DeviceSet};
use crate::device;
use crate::error::RequestError;
use crate::input::{self, Format};
use crate::output::versioned;
use anyhow::Result;
use clap::builder::RangedU64ValueParser;
use clap::Args;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Examples of `abridge bench`.
pub(super) const EXAMPLES: &str = "\
Examples:
  abridge bench                                          # the default model, every device
  abridge bench --model smollm2-135m-instruct --device cpu --threads 2
  abridge bench --prompt-file article.txt --gen 128 --runs 5 --format jsonl";

#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    #[command(flatten)]
    source: ModelSourceArgs,
    /// Devices to measure, comma-separated; `all` is the CPU and every GPU kind. Devices this
    /// build or machine lacks are reported as skipped, with the reason.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    device: Vec<DeviceSet>,
    /// The article to put in the prompt, used as it is (default: a built-in example article
    /// of about 800 words); the summary reads it as `summarize` does.
    #[arg(long)]
    prompt_file: Option<PathBuf>,
    /// Instruction before the article in the prompt, instead of abridge's own (to match
    /// another engine's prompt token for token).
    #[arg(long)]
    instruction: Option<String>,
    /// Tokens generated per run; the end token does not stop them, so runs compare.
    #[arg(long, default_value_t = BenchOptions::default().gen_tokens,
          value_parser = RangedU64ValueParser::<usize>::new().range(2..))]
    gen: usize,
    /// Measured runs after one warm-up run; the medians are reported.
    #[arg(long, default_value_t = BenchOptions::default().runs,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    runs: usize,
    /// Target length of the measured summary, in words.
    #[arg(long, default_value_t = BenchOptions::default().summary_words,
          value_parser = RangedU64ValueParser::<usize>::new().range(10..=1000))]
    words: usize,
    #[command(flatten)]
    speed: SpeedArgs,
    /// The report: a table, one JSON array of the devices' objects once all are measured,
    /// or JSON Lines, one object per device printed as soon as it is done (fields:
    /// docs/bench.md).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// The older spelling of --format jsonl.
    #[arg(long, hide = true, conflicts_with = "format")]
    json: bool,
}

/// The article a benchmark runs on: the file given, or the built-in example.
fn bench_text(prompt_file: Option<&Path>) -> Result<BenchText> {
    let Some(path) = prompt_file else {
        let raw = bench::EXAMPLE_ARTICLE.to_string();
        let article = input::from_bytes("<example>", raw.as_bytes(), Format::Text)?;
        return Ok(BenchText { raw, article });
    };
    let article = input::read_path(path, input::DEFAULT_MAX_INPUT_BYTES)?;
    let raw = std::fs::read_to_string(path)
        .map_err(|e| RequestError(format!("{}: cannot read ({e})", path.display())))?;
    Ok(BenchText { raw, article })
}

pub(super) fn run(args: BenchArgs) -> Result<ExitCode> {
    let format = if args.json {
        OutputFormat::Jsonl
    } else {
        args.format
    };
    let text = bench_text(args.prompt_file.as_deref())?;
    device::set_threads(args.speed.threads)?;
    let (spec, path) = args.source.resolve(false)?;
    let options = BenchOptions {
        gen_tokens: args.gen,
        runs: args.runs,
        prefill_chunk: args.speed.prefill_chunk,
        instruction: args.instruction,
        summary_words: args.words,
        lookup: args.speed.lookup(),
    };
    let spinner = spinner(String::new(), false);
    let reports = bench::run(
        &spec,
        &path,
        &bench::devices(&args.device),
        &text,
        &options,
        &mut |step| spinner.set_message(step.to_string()),
        &mut |report| {
            if format == OutputFormat::Jsonl {
                spinner.suspend(|| -> Result<()> {
                    let mut stdout = io::stdout().lock();
                    writeln!(stdout, "{}", bench::render::json_line(report)?)?;
                    Ok(stdout.flush()?)
                })?;
            }
            Ok(())
        },
    )?;
    spinner.finish_and_clear();
    let mut stdout = io::stdout().lock();
    match format {
        OutputFormat::Text => {
            write!(stdout, "{}", bench::render::table(&reports))?;
            writeln!(stdout, "CPU: {}", crate::device::cpu_name())?;
            write!(stdout, "\n{}", bench::render::legend())?;
        }
        OutputFormat::Json => {
            let reports: Vec<_> = reports.iter().map(versioned).collect();
            writeln!(stdout, "{}", serde_json::to_string(&reports)?)?;
        }
        OutputFormat::Jsonl => {}
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
