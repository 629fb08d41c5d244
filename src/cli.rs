//! The command line: clap definitions of every subcommand, and the glue that turns them into
//! library calls, prints results and maps failures to exit codes (0 success, 1 runtime
//! failure or a failed article, 2 usage or input error).

use crate::article::{self, Article, InputError};
use crate::batch::{self, Destination, FileFormat, OutputFolder, Recipe, Selection, Shard};
use crate::bench::{self, BenchOptions, BenchText, DeviceSet};
use crate::catalogue::{self, ModelSpec, UnknownModel};
use crate::device::{self, DeviceChoice};
use crate::eval;
use crate::fetch::{self, FetchOptions};
use crate::generate::DecodeOptions;
use crate::model;
use crate::summarize::{Length, Style, Summarizer, Summary, SummaryOptions};
use anyhow::{anyhow, Context, Result};
use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Short abstractive summaries of news articles with small local models.
#[derive(Debug, Parser)]
#[command(name = "abridge", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Summarize articles: files, folders (walked recursively), or standard input.
    Summarize(SummarizeArgs),
    /// List, fetch and locate the models abridge knows.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Score the model's summaries against references (ROUGE-1/2/Lsum) beside LEAD-3.
    Eval(EvalArgs),
    /// Measure a model's speed on each device: load time, prefill and decode tokens/s, time
    /// to the first token, one summary's time and peak memory (medians after a warm-up).
    Bench(BenchArgs),
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
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

/// Which model to run and where it comes from.
#[derive(Debug, Clone, Args)]
pub struct ModelSourceArgs {
    /// Catalogue name (see `abridge models list`) or a path to a GGUF file.
    #[arg(long, short = 'm')]
    model: Option<String>,
    /// Use local files only (also ABRIDGE_OFFLINE=1); never download.
    #[arg(long)]
    offline: bool,
}

impl ModelSourceArgs {
    /// The catalogue entry and verified local file of the model (see [`resolve_model`]).
    pub fn resolve(&self) -> Result<(ModelSpec, PathBuf)> {
        resolve_model(self.model.as_deref(), self.offline)
    }
}

/// How fast the model runs; these do not change what it writes.
#[derive(Debug, Clone, Args)]
pub struct SpeedArgs {
    /// CPU threads (default: one per core; more than the machine's cores are capped to
    /// them, with a warning).
    #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    threads: Option<usize>,
    /// Prompt tokens run through the model per forward pass.
    #[arg(long, default_value_t = DecodeOptions::default().prefill_chunk,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    prefill_chunk: usize,
}

/// Which model to run, where, and how fast.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    #[command(flatten)]
    source: ModelSourceArgs,
    /// Where to run the model.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    #[command(flatten)]
    speed: SpeedArgs,
    /// Summaries decoded together, each step reading the weights once for all of them
    /// (folders, eval, and the parts of a long article); summaries come out as they would
    /// one at a time.
    #[arg(long, default_value_t = 1,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=64))]
    batch_size: usize,
}

/// How tokens are chosen.
#[derive(Debug, Clone, Args)]
struct DecodingArgs {
    /// Sampling temperature, 0 to 10; 0 is greedy and deterministic.
    #[arg(long, default_value_t = 0.0, value_parser = parse_temperature)]
    temperature: f64,
    /// Nucleus sampling threshold (with --temperature above 0).
    #[arg(long, value_parser = parse_probability)]
    top_p: Option<f64>,
    /// Seed of the sampler (with --temperature above 0).
    #[arg(long, default_value_t = DecodeOptions::default().seed)]
    seed: u64,
    /// Penalty on recently generated tokens, 1 to 10; 1 turns it off.
    #[arg(long, default_value_t = DecodeOptions::default().repeat_penalty,
          value_parser = parse_repeat_penalty)]
    repeat_penalty: f32,
    /// Never repeat an n-gram of this many tokens; 0 turns it off.
    #[arg(long, default_value_t = DecodeOptions::default().no_repeat_ngram)]
    no_repeat_ngram: usize,
    /// Beam search with this many beams (deterministic, about as slow per summary as
    /// decoding that many together); 1 decodes greedily or samples.
    #[arg(long, default_value_t = DecodeOptions::default().beams,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=16),
          conflicts_with = "temperature")]
    beams: usize,
}

impl DecodingArgs {
    fn options(&self) -> DecodeOptions {
        DecodeOptions {
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            repeat_penalty: self.repeat_penalty,
            no_repeat_ngram: self.no_repeat_ngram,
            beams: self.beams,
            ..DecodeOptions::default()
        }
    }
}

/// A number in `range`, or why `s` is not one (NaN and infinities are not numbers here).
fn parse_in<T>(s: &str, range: std::ops::RangeInclusive<T>, what: &str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    match s.parse::<T>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(format!(
            "`{s}` is not {what} from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

fn parse_temperature(s: &str) -> Result<f64, String> {
    parse_in(s, 0.0..=10.0, "a temperature")
}

fn parse_repeat_penalty(s: &str) -> Result<f32, String> {
    parse_in(s, 1.0..=10.0, "a repetition penalty")
}

fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 1.0 => Ok(p),
        _ => Err(format!("`{s}` is not a probability in (0, 1]")),
    }
}

/// Output formats of `summarize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// The summary text (streamed as it is generated on a terminal).
    Text,
    /// One JSON object per article (see the README for the fields).
    Json,
    /// One JSON object per article with its `status`, failures included (see the README);
    /// streams a whole batch to standard output, without --out.
    Jsonl,
}

/// What shapes each summary (shared by `summarize` and `eval`, whose defaults differ: see
/// [`SummaryDefaults`]).
#[derive(Debug, Args)]
struct SummaryArgs {
    /// Summary length: short ≈ 100 words, long ≈ 200 words [default: short; eval: 45 words].
    #[arg(long, value_enum)]
    length: Option<Length>,
    /// Target length in words (overrides --length).
    #[arg(long, value_parser = clap::value_parser!(u16).range(10..=1000))]
    words: Option<u16>,
    /// Form of the summary: a paragraph, or 2-3 highlight sentences [default:
    /// paragraph; eval: highlights].
    #[arg(long, value_enum)]
    style: Option<Style>,
    /// Largest prompt given to the model at once, in tokens; longer articles are
    /// summarized in parts and merged (default: the model's context, at most 4096).
    #[arg(long)]
    window: Option<usize>,
    /// Give the model's output exactly as generated: no length stop, no tidying, no check
    /// that it is a summary (to compare abridge with another engine).
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    decoding: DecodingArgs,
}

/// The style and length a command uses when the user gives none.
#[derive(Debug, Clone, Copy)]
struct SummaryDefaults {
    style: Style,
    words: usize,
}

/// `summarize`: a paragraph of about 100 words.
const SUMMARIZE_DEFAULTS: SummaryDefaults = SummaryDefaults {
    style: Style::Paragraph,
    words: Length::Short.words(),
};

/// `eval`: the configuration that scored best on CNN/DailyMail (`docs/quality.md`); a 45-word
/// target ends near 56 words (generation stops at the first sentence end past it), about
/// the reference highlights' length.
const EVAL_DEFAULTS: SummaryDefaults = SummaryDefaults {
    style: Style::Highlights,
    words: 45,
};

impl SummaryArgs {
    fn options(&self, model: &ModelArgs, defaults: SummaryDefaults) -> SummaryOptions {
        let words = match (self.words, self.length) {
            (Some(words), _) => usize::from(words),
            (None, Some(length)) => length.words(),
            (None, None) => defaults.words,
        };
        SummaryOptions {
            words,
            style: self.style.unwrap_or(defaults.style),
            window: self.window,
            raw: self.raw,
            decode: DecodeOptions {
                prefill_chunk: model.speed.prefill_chunk,
                ..self.decoding.options()
            },
            ..SummaryOptions::default()
        }
    }
}

#[derive(Debug, Args)]
struct SummarizeArgs {
    /// Articles (.txt, .md, .html) or folders of them; none or `-` reads standard input.
    paths: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    #[command(flatten)]
    summary: SummaryArgs,
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
}

/// Baselines `eval` can score next to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Baseline {
    /// The article's first three sentences.
    Lead3,
    /// No baseline.
    None,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// JSON Lines file of `{"id", "article", "reference"}` rows.
    data: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Evaluate only the first N rows.
    #[arg(long)]
    limit: Option<usize>,
    /// Write each row's `{"id", "summary"}` to this JSON Lines file.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Baseline scored on the same rows.
    #[arg(long, value_enum, default_value_t = Baseline::Lead3)]
    baseline: Baseline,
    /// Print one JSON object with every system's scores instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    summary: SummaryArgs,
}

#[derive(Debug, Args)]
struct BenchArgs {
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
    /// One JSON object per device per line instead of a table (fields: docs/bench.md).
    #[arg(long)]
    json: bool,
}

/// An error in how abridge was called (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses the command line, runs it, and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let message = format!("{err:#}").replace('\n', " ");
            eprintln!("abridge: error: {message}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// 2 for usage and input errors, 1 for everything else.
fn exit_code(err: &anyhow::Error) -> u8 {
    let usage = err.chain().any(|cause| {
        cause.is::<UsageError>() || cause.is::<InputError>() || cause.is::<UnknownModel>()
    });
    if usage {
        2
    } else {
        1
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Summarize(args) => summarize(args),
        Command::Models(command) => models(command),
        Command::Eval(args) => eval(args),
        Command::Bench(args) => bench(args),
    }
}

/// A model named on the command line.
enum ModelChoice {
    /// A catalogue entry (the default one when none is named).
    Catalogue(ModelSpec),
    /// A GGUF file given by path.
    File(PathBuf),
}

fn choose_model(name: Option<&str>) -> Result<ModelChoice> {
    Ok(match name {
        None => ModelChoice::Catalogue(catalogue::default_model()),
        Some(name) if name.ends_with(".gguf") || Path::new(name).is_file() => {
            let path = PathBuf::from(name);
            if !path.is_file() {
                return Err(UsageError(format!("{name}: model file not found")).into());
            }
            ModelChoice::File(path)
        }
        Some(name) => ModelChoice::Catalogue(catalogue::find(name)?),
    })
}

/// The catalogue entry and verified local file of the model named on the command line:
/// a catalogue name (fetched if needed), or a path to a GGUF file, used as it is with the
/// catalogue entry of the same file name, or a ChatML entry named after the file.
pub fn resolve_model(name: Option<&str>, offline: bool) -> Result<(ModelSpec, PathBuf)> {
    match choose_model(name)? {
        ModelChoice::Catalogue(spec) => {
            let path = fetch::resolve(&spec, &FetchOptions::from_env(offline))?;
            Ok((spec, path))
        }
        ModelChoice::File(path) => Ok((local_file_spec(&path)?, path)),
    }
}

/// The catalogue entry for a GGUF file given by path: the entry with the same file name,
/// or else an entry named after the file with its family's chat template (the family read
/// from the file's header).
fn local_file_spec(path: &Path) -> Result<ModelSpec> {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut spec = match catalogue::all().into_iter().find(|spec| spec.file == file) {
        Some(spec) => spec,
        None => ModelSpec::for_local_file(
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            format!("local file {}", path.display()),
            model::family_of(path)?,
        ),
    };
    spec.sources.clear();
    Ok(spec)
}

impl ModelArgs {
    /// Resolves, verifies and loads the model on the chosen device.
    pub fn load(&self) -> Result<Summarizer> {
        device::set_threads(self.speed.threads)?;
        let (spec, path) = self.source.resolve()?;
        let device = device::open(self.device)?;
        let spinner = spinner(format!("loading {}", spec.name));
        let loaded = model::load(&path, &device)?;
        spinner.finish_and_clear();
        Ok(Summarizer::new(loaded, spec, device)?.with_batch_size(self.batch_size))
    }

    /// The model's name and sha256, without loading it: the catalogue's published hash
    /// (nothing is read or fetched), else the hash of the file, recorded once beside it.
    pub fn identity(&self) -> Result<(String, String)> {
        if let ModelChoice::Catalogue(ModelSpec {
            name,
            sha256: Some(sha256),
            ..
        }) = choose_model(self.source.model.as_deref())?
        {
            return Ok((name, sha256));
        }
        let (spec, path) = self.source.resolve()?;
        let options = FetchOptions::from_env(self.source.offline);
        let sha256 = fetch::file_sha256(&spec, &options, &path)?;
        Ok((spec.name, sha256))
    }
}

/// A spinner on stderr when it is a terminal; hidden otherwise.
fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
    );
    if io::stderr().is_terminal() {
        bar.enable_steady_tick(Duration::from_millis(120));
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// The articles named on the command line, read and cleaned; standard input when none.
fn read_inputs(paths: &[PathBuf], globs: &[String]) -> Result<Vec<Result<Article, InputError>>> {
    if paths.is_empty() || paths.iter().all(|p| p.as_os_str() == "-") {
        return Ok(vec![article::read_stdin()]);
    }
    if paths.iter().any(|p| p.as_os_str() == "-") {
        return Err(UsageError("`-` (standard input) cannot be mixed with paths".into()).into());
    }
    let files = batch::find_articles(paths, &Selection::new(globs, None)?)?;
    Ok(files.iter().map(|f| article::read_path(&f.path)).collect())
}

fn summarize(args: SummarizeArgs) -> Result<ExitCode> {
    if args.out.is_some() || args.format == OutputFormat::Jsonl {
        return summarize_batch(args);
    }
    if args.shard.is_some() {
        return Err(UsageError("--shard needs --out or --format jsonl".into()).into());
    }
    let inputs = read_inputs(&args.paths, &args.glob)?;
    if let [Err(_)] = inputs.as_slice() {
        // A single unusable input is an input error.
        let err = inputs.into_iter().next().expect("one input").unwrap_err();
        return Err(err.into());
    }
    let options = args.summary.options(&args.model, SUMMARIZE_DEFAULTS);
    let mut summarizer = args.model.load()?;
    let stdout_is_terminal = io::stdout().is_terminal();
    let show_headers = inputs.len() > 1 && args.format == OutputFormat::Text;
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
        ) {
            Ok(()) => {}
            Err(err) if is_broken_pipe(&err) => return Ok(ExitCode::SUCCESS),
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
            return Err(UsageError(message.into()).into());
        }
        (OutputFormat::Jsonl, None) => None,
        (OutputFormat::Text, _) => Some(FileFormat::Text),
        (OutputFormat::Json, _) => Some(FileFormat::Json),
    };
    if args.paths.is_empty() || args.paths.iter().any(|p| p.as_os_str() == "-") {
        let message =
            "a batch (--out or --format jsonl) reads files and folders, not standard input";
        return Err(UsageError(message.into()).into());
    }
    if let Some(out) = &args.out {
        batch::check_out_folder(out, &args.paths)?;
    }
    let selection = Selection::new(&args.glob, args.out.as_deref())?;
    let mut inputs = batch::find_articles(&args.paths, &selection)?;
    let options = args.summary.options(&args.model, SUMMARIZE_DEFAULTS);
    let mut stdout = io::stdout();
    let mut destination = match (&args.out, format) {
        (Some(dir), Some(format)) => {
            let (model, model_sha256) = args.model.identity()?;
            let recipe = Recipe::new(model, model_sha256, &options);
            let folder = OutputFolder::new(dir.clone(), format, recipe, args.force)?;
            folder.check_distinct(&inputs)?;
            Destination::Folder(folder)
        }
        _ => Destination::JsonLines(&mut stdout),
    };
    if let Some(shard) = args.shard {
        inputs.retain(|input| shard.contains(&input.relative));
    }
    let stop = batch::stop_on_ctrl_c()?;
    let group = args.model.batch_size;
    let tally = batch::run(&inputs, &mut destination, &stop, group, || {
        let mut summarizer = args.model.load()?;
        Ok(move |articles: &[Article]| {
            summarizer
                .summarize_many(articles, &options)
                .unwrap_or_else(|error| {
                    let reason = format!("{error:#}");
                    articles
                        .iter()
                        .map(|_| Err(anyhow!(reason.clone())))
                        .collect()
                })
        })
    })?;
    eprintln!("abridge: {tally}");
    Ok(tally.exit_code())
}

fn summarize_one(
    summarizer: &mut Summarizer,
    article: &Article,
    options: &SummaryOptions,
    format: OutputFormat,
    stdout_is_terminal: bool,
) -> Result<()> {
    let mut stdout = io::stdout().lock();
    let summary: Summary = if format == OutputFormat::Text && stdout_is_terminal {
        let mut print = |piece: &str| {
            // A failed terminal write shows up again at the final newline.
            let _ = write!(stdout, "{piece}");
            let _ = stdout.flush();
        };
        let summary = summarizer.summarize(article, options, Some(&mut print))?;
        writeln!(stdout)?;
        summary
    } else {
        let spinner = spinner(format!("summarizing {}", article.source));
        let summary = summarizer.summarize(article, options, None)?;
        spinner.finish_and_clear();
        match format {
            OutputFormat::Text => writeln!(stdout, "{}", summary.summary)?,
            // JSON lines are batch output (`summarize_batch`); never here.
            OutputFormat::Json | OutputFormat::Jsonl => {
                writeln!(stdout, "{}", serde_json::to_string(&summary)?)?
            }
        }
        summary
    };
    stdout.flush()?;
    if summary.chunks > 1 {
        eprintln!(
            "abridge: {}: {} tokens summarized in {} parts and merged",
            article.source, summary.input_tokens, summary.chunks
        );
    }
    Ok(())
}

/// The article a benchmark runs on: the file given, or the built-in example.
fn bench_text(prompt_file: Option<&Path>) -> Result<BenchText> {
    let Some(path) = prompt_file else {
        let raw = bench::EXAMPLE_ARTICLE.to_string();
        let article = article::from_bytes("<example>", raw.as_bytes(), article::Format::Text)?;
        return Ok(BenchText { raw, article });
    };
    let article = article::read_path(path)?;
    let raw = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("{}: cannot read ({e})", path.display())))?;
    Ok(BenchText { raw, article })
}

fn bench(args: BenchArgs) -> Result<ExitCode> {
    let text = bench_text(args.prompt_file.as_deref())?;
    device::set_threads(args.speed.threads)?;
    let (spec, path) = args.source.resolve()?;
    let options = BenchOptions {
        gen_tokens: args.gen,
        runs: args.runs,
        prefill_chunk: args.speed.prefill_chunk,
        instruction: args.instruction,
        summary_words: args.words,
    };
    let spinner = spinner(String::new());
    let reports = bench::run(
        &spec,
        &path,
        &bench::devices(&args.device),
        &text,
        &options,
        &mut |step| spinner.set_message(step.to_string()),
        &mut |report| {
            if args.json {
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
    if !args.json {
        print!("{}", bench::render::table(&reports));
        io::stdout().flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn models(command: ModelsCommand) -> Result<ExitCode> {
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

fn eval(args: EvalArgs) -> Result<ExitCode> {
    let rows = eval::read_rows(&args.data, args.limit).map_err(|e| UsageError(format!("{e:#}")))?;
    if rows.is_empty() {
        return Err(UsageError(format!("{}: no rows to evaluate", args.data.display())).into());
    }
    let options = args.summary.options(&args.model, EVAL_DEFAULTS);
    let mut summarizer = args.model.load()?;
    let progress = ProgressBar::new(rows.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} articles, {elapsed} (eta {eta})")
            .expect("valid template"),
    );
    if !io::stderr().is_terminal() {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut predictions = Vec::with_capacity(rows.len());
    for group in rows.chunks(args.model.batch_size) {
        let articles = group
            .iter()
            .map(|row| article::from_bytes(&row.id, row.article.as_bytes(), article::Format::Text))
            .collect::<Result<Vec<_>, _>>()?;
        let started = Instant::now();
        let summaries = summarizer.summarize_many(&articles, &options)?;
        // Summaries decoded together share the wall time.
        let seconds = started.elapsed().as_secs_f64() / group.len() as f64;
        for (row, summary) in group.iter().zip(summaries) {
            // A row whose summary failed (say, the output was not a summary) scores as an
            // empty summary, as a user would have had none.
            let summary = summary.map(|s| s.summary).unwrap_or_else(|error| {
                progress.suspend(|| {
                    eprintln!(
                        "abridge: {}: row {}: {error:#}",
                        args.data.display(),
                        row.id
                    )
                });
                String::new()
            });
            predictions.push(eval::Prediction {
                id: row.id.clone(),
                summary,
                seconds,
            });
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    if let Some(path) = &args.predictions {
        write_predictions(path, &predictions)?;
    }
    let mut systems = vec![eval::score_system(
        &summarizer.spec().name,
        &rows,
        &predictions,
    )];
    if args.baseline == Baseline::Lead3 {
        let lead3: Vec<eval::Prediction> = rows
            .iter()
            .map(|row| eval::Prediction {
                id: row.id.clone(),
                summary: eval::lead3(&row.article),
                seconds: 0.0,
            })
            .collect();
        systems.push(eval::score_system("lead3", &rows, &lead3));
    }
    let mut stdout = io::stdout().lock();
    if args.json {
        let report =
            serde_json::json!({ "data": args.data, "rows": rows.len(), "systems": systems });
        writeln!(stdout, "{report}")?;
    } else {
        write!(stdout, "{}", eval::render_table(&systems))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `{"id", "summary"}` lines to `path` atomically.
fn write_predictions(path: &Path, predictions: &[eval::Prediction]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = batch::temporary_file_in(dir)
        .with_context(|| format!("{}: cannot create", path.display()))?;
    for prediction in predictions {
        let line = serde_json::json!({ "id": prediction.id, "summary": prediction.summary });
        writeln!(file, "{line}")?;
    }
    file.persist(path)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}
