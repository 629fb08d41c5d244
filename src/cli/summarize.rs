//! `abridge summarize`: one article or many to standard output, or a batch into `--out`
//! or as JSON Lines, with Ctrl-C stopping a batch after the articles in flight (a long
//! article between its parts).

use super::args::{ModelArgs, OutputFormat, ReadingArgs, SummaryArgs, SUMMARIZE_DEFAULTS};
use super::{is_broken_pipe, spinner, INTERRUPTED};
use crate::batch::{self, Destination, OutputFolder, Recipe, Shard, Tally};
use crate::error::RequestError;
use crate::input::{self, Article, Fetching, Fields, InputError, InputFormat, Selection};
use crate::output::{self, Summary};
use crate::summarize::{Summarizer, SummaryOptions};
use anyhow::{anyhow, Context, Result};
use clap::builder::TypedValueParser;
use clap::Args;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Examples of `abridge summarize`.
pub(super) const EXAMPLES: &str = "\
Examples:
  abridge summarize article.txt --length long           # about 200 words, streamed
  abridge summarize https://example.org/news/story.html    # a web page
  abridge summarize news/ --out summaries/ --batch-size 4   # a folder, resumably
  abridge summarize dataset.jsonl --format jsonl -q > summaries.jsonl   # a row each";

#[derive(Debug, Args)]
pub(super) struct SummarizeArgs {
    /// Articles (.txt, .md, .html), folders of them, or web pages (http:// or https://
    /// URLs); none or `-` reads standard input.
    paths: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Output format: the summary text (streamed as it is generated on a terminal), one
    /// JSON object per article, or JSON Lines, one object per article with its `status`,
    /// failures included, streaming a whole batch to standard output (without --out); the
    /// fields are in the README.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    #[command(flatten)]
    summary: SummaryArgs,
    /// Add the article report: a long summary (twice the words), the overall sentiment,
    /// and the companies the article is about, each with its sentiment (instruct models).
    #[arg(long)]
    report: bool,
    /// Write one summary file per article under this folder, mirroring the input tree;
    /// a re-run skips the summaries that are up to date.
    #[arg(long, short = 'o', value_name = "DIR")]
    out: Option<PathBuf>,
    /// In folders, take the files matching this pattern (matched against the path below
    /// the folder) instead of .txt, .text, .md, .markdown, .html and .htm; repeatable.
    #[arg(long, value_name = "PATTERN")]
    glob: Vec<String>,
    /// Redo summaries that are up to date (with --out).
    #[arg(long, requires = "out")]
    force: bool,
    /// Summarize only shard K of N (0 ≤ K < N), picked by a stable hash of each article's
    /// path below its folder, so N machines can split one folder (with --out or --format jsonl).
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Print each article's prompt instead of summarizing it: what the model is given for
    /// a summary in one part (as text; with --format json as {"input", "prompt", "tokens"},
    /// the token ids), to give another engine the same input.
    #[arg(long, conflicts_with_all = ["out", "report", "shard"])]
    show_prompt: bool,
    #[command(flatten)]
    reading: ReadingArgs,
    /// How files are read: `auto` takes .jsonl/.ndjson as JSON Lines and .csv as CSV (one
    /// article per row), anything else as one article; `text` takes every file whole.
    #[arg(long, default_value = "auto", value_parser = clap::builder::PossibleValuesParser::new(
        InputFormat::NAMES).map(|name| name.parse::<InputFormat>().expect("a listed name")))]
    input_format: InputFormat,
    /// The field (JSON Lines) or column (CSV) holding a row's article [default: article,
    /// else text].
    #[arg(long, value_name = "NAME")]
    text_field: Option<String>,
    /// The field or column holding a row's id, which names it in the output (`FILE#ID`);
    /// rows without one are numbered.
    #[arg(long, value_name = "NAME", default_value = "id")]
    id_field: String,
}

impl SummarizeArgs {
    /// The fields of a structured file's rows that `--text-field` and `--id-field` name.
    fn fields(&self) -> Fields {
        Fields {
            text: self.text_field.clone(),
            id: self.id_field.clone(),
        }
    }

    /// The summary options these arguments ask for, the report included.
    fn options(&self) -> SummaryOptions {
        SummaryOptions {
            report: self.report,
            ..self.summary.options(&self.model, SUMMARIZE_DEFAULTS)
        }
    }
}

/// Whether a command-line path names a web page.
fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(input::is_url)
}

/// The articles named on the command line, read and cleaned, in order: web pages fetched,
/// files read, folders walked; standard input when none.
fn read_inputs(
    args: &SummarizeArgs,
    fetching: Fetching,
) -> Result<Vec<Result<Article, InputError>>> {
    let (paths, globs) = (&args.paths, &args.glob);
    let max_bytes = fetching.max_bytes;
    if paths.is_empty() || paths.iter().all(|p| p.as_os_str() == "-") {
        return Ok(vec![input::read_stdin(max_bytes)]);
    }
    if paths.iter().any(|p| p.as_os_str() == "-") {
        return Err(RequestError("`-` (standard input) cannot be mixed with paths".into()).into());
    }
    let selection = Selection::new(globs, None)?;
    let mut articles = Vec::new();
    // Each run of file paths is walked together, so that a file named twice is read once.
    for run in paths.chunk_by(|a, b| is_url(a) == is_url(b)) {
        if is_url(&run[0]) {
            articles.extend(
                run.iter()
                    .map(|url| input::read_url(&url.to_string_lossy(), fetching)),
            );
            continue;
        }
        let files = input::find_articles(run, &selection)?;
        let inputs = input::expand_rows(files, args.input_format, &args.fields(), max_bytes)?;
        articles.extend(
            inputs
                .iter()
                .map(|input| input::read_input(input, max_bytes).map(|(article, _)| article)),
        );
    }
    Ok(articles)
}

pub(super) fn run(args: SummarizeArgs) -> Result<ExitCode> {
    // JSON lines of prompts are no batch (`--show-prompt` cannot take `--out`).
    if args.out.is_some() || (args.format == OutputFormat::Jsonl && !args.show_prompt) {
        return summarize_batch(args);
    }
    if args.shard.is_some() {
        return Err(RequestError("--shard needs --out or --format jsonl".into()).into());
    }
    let fetching = args.reading.fetching(args.model.source.offline());
    let inputs = read_inputs(&args, fetching)?;
    if let [Err(_)] = inputs.as_slice() {
        // A single unusable input is an input error.
        let err = inputs.into_iter().next().expect("one input").unwrap_err();
        return Err(err.into());
    }
    let options = args.options();
    let mut summarizer = args.model.load()?;
    summarizer.check_options(&options)?;
    if args.show_prompt {
        return show_prompts(&summarizer, inputs, &options, args.format);
    }
    let stdout_is_terminal = io::stdout().is_terminal();
    let single = inputs.len() == 1;
    let show_headers = !single && args.format == OutputFormat::Text;
    let mut failed = 0;
    for input in inputs {
        let article = match input {
            Ok(article) => article,
            Err(err) => {
                eprintln!("abridge: {err}");
                failed += 1;
                continue;
            }
        };
        if show_headers {
            println!("==> {} <==", article.source);
        }
        match summarize_one(
            &mut summarizer,
            &article,
            &options,
            args.format,
            stdout_is_terminal,
            args.model.quiet,
            args.model.verbose,
        ) {
            Ok(()) => {}
            Err(err) if is_broken_pipe(&err) => return Ok(ExitCode::SUCCESS),
            // An article refused as input (no prose): a usage error when it is the only one.
            Err(err) if err.is::<InputError>() && single => return Err(err),
            Err(err) if err.is::<InputError>() => {
                eprintln!("abridge: {err}");
                failed += 1;
            }
            Err(err) => {
                eprintln!(
                    "abridge: {}: {}",
                    article.source,
                    format!("{err:#}").replace('\n', " ")
                );
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `summarize --out DIR` or `--format jsonl`: a batch run over files and folders.
fn summarize_batch(args: SummarizeArgs) -> Result<ExitCode> {
    let format = match (args.format, &args.out) {
        (OutputFormat::Jsonl, Some(_)) => {
            let message = "--format jsonl streams to standard output; with --out use text or json";
            return Err(RequestError(message.into()).into());
        }
        (OutputFormat::Jsonl, None) => None,
        (OutputFormat::Text, _) => Some(output::Format::Text),
        (OutputFormat::Json, _) => Some(output::Format::Json),
    };
    if args.paths.is_empty() || args.paths.iter().any(|p| p.as_os_str() == "-") {
        let message =
            "a batch (--out or --format jsonl) reads files and folders, not standard input";
        return Err(RequestError(message.into()).into());
    }
    if let Some(url) = args.paths.iter().find(|path| is_url(path)) {
        let message = format!(
            "{}: web pages are summarized to standard output (text or --format json); a batch \
             (--out or --format jsonl) reads files and folders",
            url.display()
        );
        return Err(RequestError(message).into());
    }
    if let Some(out) = &args.out {
        batch::check_out_folder(out, &args.paths)?;
    }
    let selection = Selection::new(&args.glob, args.out.as_deref())?;
    let found = input::find_articles(&args.paths, &selection)?;
    let max_bytes = args.reading.max_bytes();
    let mut inputs = input::expand_rows(found, args.input_format, &args.fields(), max_bytes)?;
    let options = args.options();
    let mut stdout = io::stdout();
    let mut destination = match (&args.out, format) {
        (Some(dir), Some(format)) => {
            let (model, model_sha256) = args.model.identity()?;
            let recipe = Recipe::new(model, model_sha256, &options);
            let folder = OutputFolder::new(dir.clone(), format, recipe, args.force)?;
            folder.check_writable()?;
            folder.check_distinct(&inputs)?;
            Destination::Folder(folder)
        }
        _ => Destination::JsonLines(&mut stdout),
    };
    if let Some(shard) = args.shard {
        inputs.retain(|input| shard.contains(&input.relative));
    }
    let stop = stop_on_ctrl_c()?;
    let (group, quiet, verbose) = (args.model.batch_size, args.model.quiet, args.model.verbose);
    let tally = batch::run(
        &inputs,
        max_bytes,
        &mut destination,
        &stop,
        group,
        quiet,
        || {
            let mut summarizer = args.model.load()?.with_stop(stop.clone());
            summarizer.check_options(&options)?;
            Ok(move |articles: &[Article]| {
                let results = summarizer
                    .summarize_many(articles, &options)
                    .unwrap_or_else(|error| {
                        let reason = format!("{error:#}");
                        articles
                            .iter()
                            .map(|_| Err(anyhow!(reason.clone())))
                            .collect()
                    });
                if verbose {
                    for summary in results.iter().flatten() {
                        eprintln!("abridge: {}", summary.speed());
                    }
                }
                results
            })
        },
    )?;
    if !quiet {
        eprintln!("abridge: {tally}");
    }
    Ok(exit_code(&tally))
}

/// Prints each article's prompt (see `Summarizer::whole_prompt`); an unreadable input is
/// reported and skipped (exit 1 at the end).
fn show_prompts(
    summarizer: &Summarizer,
    inputs: Vec<Result<Article, InputError>>,
    options: &SummaryOptions,
    format: OutputFormat,
) -> Result<ExitCode> {
    let mut stdout = io::stdout().lock();
    let mut failed = false;
    for input in inputs {
        let article = match input {
            Ok(article) => article,
            Err(err) => {
                eprintln!("abridge: {err}");
                failed = true;
                continue;
            }
        };
        let (tokens, prompt) = summarizer.whole_prompt(&article, options)?;
        match format {
            OutputFormat::Text => writeln!(stdout, "{prompt}")?,
            OutputFormat::Json | OutputFormat::Jsonl => {
                let line = serde_json::json!({
                    "schema_version": output::SCHEMA_VERSION,
                    "input": article.source,
                    "prompt": prompt,
                    "tokens": tokens,
                });
                writeln!(stdout, "{line}")?
            }
        }
    }
    stdout.flush()?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn summarize_one(
    summarizer: &mut Summarizer,
    article: &Article,
    options: &SummaryOptions,
    format: OutputFormat,
    stdout_is_terminal: bool,
    quiet: bool,
    verbose: bool,
) -> Result<()> {
    let mut stdout = io::stdout().lock();
    // A long article's parts take a while: the spinner says how far they are, or, with
    // stderr not a terminal (a log), a line per group of parts; `--quiet`, neither.
    let spinner = spinner(format!("summarizing {}", article.source), quiet);
    if !quiet {
        let (bar, source) = (spinner.clone(), article.source.clone());
        summarizer.set_progress(Some(Arc::new(move |message: &str| {
            if bar.is_hidden() {
                eprintln!("abridge: {source}: {message}");
            } else {
                bar.set_message(format!("summarizing {source}: {message}"));
            }
        })));
    }
    let summary = if format == OutputFormat::Text && stdout_is_terminal {
        let mut print = |piece: &str| {
            // The summary streams from here on: the spinner makes way for it.
            spinner.finish_and_clear();
            // A failed terminal write shows up again at the final newline.
            let _ = write!(stdout, "{piece}");
            let _ = stdout.flush();
        };
        summarizer.summarize(article, options, Some(&mut print))
    } else {
        summarizer.summarize(article, options, None)
    };
    summarizer.set_progress(None);
    spinner.finish_and_clear();
    let summary: Summary = summary?;
    if format == OutputFormat::Text && stdout_is_terminal {
        writeln!(stdout)?;
        if let Some(report) = &summary.report {
            write!(stdout, "{}", report.text())?;
        }
    } else {
        match format {
            OutputFormat::Text => write!(stdout, "{}", output::Format::Text.render(&summary))?,
            // JSON lines are batch output (`summarize_batch`); never here.
            OutputFormat::Json | OutputFormat::Jsonl => {
                write!(stdout, "{}", output::Format::Json.render(&summary))?
            }
        }
    }
    stdout.flush()?;
    if verbose {
        eprintln!("abridge: {}", summary.speed());
    }
    if summary.chunks > 1 && !quiet {
        eprintln!(
            "abridge: {}: {} tokens summarized in {} parts and merged",
            article.source, summary.input_tokens, summary.chunks
        );
    }
    Ok(())
}

/// Installs the Ctrl-C handler of a batch run and returns the flag it raises: the first
/// Ctrl-C asks the run to stop after the article in flight (a long article: between its
/// parts, see `Summarizer::with_stop`), a second one exits at once
/// (summaries are renamed into place whole, so none is left half-written).
fn stop_on_ctrl_c() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let raised = stop.clone();
    ctrlc::set_handler(move || {
        if raised.swap(true, Ordering::SeqCst) {
            std::process::exit(INTERRUPTED.into());
        }
        eprintln!("\nabridge: stopping after the articles in flight (Ctrl-C again to stop now)");
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(stop)
}

/// 130 when the batch was interrupted, else 1 when an article failed, else 0.
fn exit_code(tally: &Tally) -> ExitCode {
    if tally.interrupted {
        ExitCode::from(INTERRUPTED)
    } else if tally.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
