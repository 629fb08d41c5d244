//! `abridge eval`: the model's summaries of an evaluation set scored beside LEAD-3.

use super::args::{ModelArgs, OutputFormat, SummaryArgs, EVAL_DEFAULTS};
use crate::error::RequestError;
use crate::eval;
use crate::output::versioned;
use anyhow::Result;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Baselines `eval` can score next to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Baseline {
    /// The article's first three sentences.
    Lead3,
    /// No baseline.
    None,
}

/// Examples of `abridge eval`.
pub(super) const EXAMPLES: &str = "\
Examples:
  abridge eval data.jsonl                                # a table beside LEAD-3
  abridge eval data.jsonl --limit 5 --predictions out.jsonl --format json
  abridge eval data.jsonl --batch-size 4 --model qwen2.5-coder-0.5b-instruct
  abridge eval headlines.jsonl --baseline none -q        # sentiment rows";

#[derive(Debug, Args)]
pub(super) struct EvalArgs {
    /// JSON Lines file of `{"id", "article", "reference"}` rows (summaries, scored with
    /// ROUGE), or of `{"id", "text", "target", "score"}` rows (sentiment toward a company,
    /// scored as SemEval-2017 Task 5 scores it).
    data: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Evaluate only the first N rows.
    #[arg(long)]
    limit: Option<usize>,
    /// Write each row's `{"id", "summary"}` (sentiment: `{"id", "score", "label"}`) to this
    /// JSON Lines file.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Baseline scored on the same rows (for sentiment rows, any baseline but `none` is the
    /// one that scores every row 0).
    #[arg(long, value_enum, default_value_t = Baseline::Lead3)]
    baseline: Baseline,
    /// The report: a table, one JSON object `{"data", "rows", "systems"}` with every
    /// system's scores, or JSON Lines, one object per system (its scores and `data`).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// The older spelling of --format json.
    #[arg(long, hide = true, conflicts_with = "format")]
    json: bool,
    #[command(flatten)]
    summary: SummaryArgs,
}

pub(super) fn run(args: EvalArgs) -> Result<ExitCode> {
    let sentiment =
        eval::is_sentiment_data(&args.data).map_err(|e| RequestError(format!("{e:#}")))?;
    if sentiment {
        return run_sentiment(args);
    }
    let rows =
        eval::read_rows(&args.data, args.limit).map_err(|e| RequestError(format!("{e:#}")))?;
    if rows.is_empty() {
        return Err(RequestError(format!("{}: no rows to evaluate", args.data.display())).into());
    }
    let options = args.summary.options(&args.model, EVAL_DEFAULTS);
    let mut summarizer = args.model.load()?;
    summarizer.check_options(&options)?;
    let progress = progress_bar(rows.len(), "articles", args.model.quiet);
    let predictions = eval::summarize_rows(
        &mut summarizer,
        &rows,
        &options,
        args.model.batch_size,
        &mut |row, error| {
            if let Some(error) = error {
                progress.suspend(|| {
                    let data = args.data.display();
                    eprintln!("abridge: {data}: row {}: {error:#}", row.id)
                });
            }
            progress.inc(1);
        },
    )?;
    progress.finish_and_clear();
    if let Some(path) = &args.predictions {
        eval::write_predictions(path, &predictions)?;
    }
    let mut systems = vec![eval::score_system(
        &summarizer.spec().name,
        &rows,
        &predictions,
    )];
    if args.baseline == Baseline::Lead3 {
        let lead3 = eval::lead3_predictions(&rows);
        systems.push(eval::score_system("lead3", &rows, &lead3));
    }
    print_report(&args, rows.len(), &systems, || eval::render_table(&systems))
}

/// A progress bar over `len` rows of `what`, drawn only on a terminal and never with
/// `quiet`.
fn progress_bar(len: usize, what: &str, quiet: bool) -> ProgressBar {
    let progress = ProgressBar::new(len as u64);
    let template = format!("{{bar:30}} {{pos}}/{{len}} {what}, {{elapsed}} (eta {{eta}})");
    progress.set_style(ProgressStyle::with_template(&template).expect("valid template"));
    if quiet || !io::stderr().is_terminal() {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    progress
}

/// `abridge eval` on sentiment rows: the model's score of each headline toward its company
/// beside the all-zero baseline.
fn run_sentiment(args: EvalArgs) -> Result<ExitCode> {
    let rows =
        eval::sentiment_rows(&args.data, args.limit).map_err(|e| RequestError(format!("{e:#}")))?;
    if rows.is_empty() {
        return Err(RequestError(format!("{}: no rows to evaluate", args.data.display())).into());
    }
    let mut summarizer = args.model.load()?;
    let progress = progress_bar(rows.len(), "headlines", args.model.quiet);
    let predictions = eval::score_sentiment_rows(&mut summarizer, &rows, &mut || progress.inc(1))?;
    progress.finish_and_clear();
    if let Some(path) = &args.predictions {
        eval::write_sentiment_predictions(path, &predictions)?;
    }
    let mut systems = vec![eval::score_sentiment(
        &summarizer.spec().name,
        &rows,
        &predictions,
    )];
    if args.baseline != Baseline::None {
        systems.push(eval::score_sentiment(
            "zero",
            &rows,
            &eval::zero_predictions(&rows),
        ));
    }
    print_report(&args, rows.len(), &systems, || {
        eval::render_sentiment_table(&systems)
    })
}

/// One system's line of `--format jsonl`: the data file, then its scores.
#[derive(serde::Serialize)]
struct SystemLine<'a, S> {
    data: &'a Path,
    #[serde(flatten)]
    system: &'a S,
}

/// Prints the systems' scores in the format asked for (`--json` is `--format json`); the
/// table is the one `table` renders.
fn print_report<S: serde::Serialize>(
    args: &EvalArgs,
    rows: usize,
    systems: &[S],
    table: impl FnOnce() -> String,
) -> Result<ExitCode> {
    let mut stdout = io::stdout().lock();
    let format = if args.json {
        OutputFormat::Json
    } else {
        args.format
    };
    match format {
        OutputFormat::Text => write!(stdout, "{}", table())?,
        OutputFormat::Json => {
            let report = serde_json::json!({ "data": args.data, "rows": rows, "systems": systems });
            writeln!(stdout, "{}", serde_json::to_string(&versioned(report))?)?;
        }
        OutputFormat::Jsonl => {
            for system in systems {
                let line = SystemLine {
                    data: &args.data,
                    system,
                };
                writeln!(stdout, "{}", serde_json::to_string(&versioned(line))?)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
