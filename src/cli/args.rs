//! Arguments shared by several subcommands: which model and where it runs, how fast, how
//! tokens are chosen and what shapes a summary, with the checks that make a bad value a
//! usage error.

use super::spinner;
use crate::catalogue::ModelSpec;
use crate::device::{self, DeviceChoice};
use crate::fetch::FetchOptions;
use crate::generate::{DecodeOptions, LOOKUP_TOKENS};
use crate::input::{self, Fetching};
use crate::language::LanguageChoice;
use crate::provision;
use crate::summarize::{Given, Length, Style, Summarizer, SummaryOptions, MIN_WINDOW};
use anyhow::Result;
use clap::builder::RangedU64ValueParser;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// The one output flag, `--format`, of `summarize`, `eval`, `bench` and `models list`; every
/// JSON record carries `schema_version` (see `output::SCHEMA_VERSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum OutputFormat {
    /// For people: the summary text, or a table.
    Text,
    /// JSON: one object per article (summarize) or one document (the others).
    Json,
    /// JSON Lines: one object per line (an article, a system, a device, a model).
    Jsonl,
}

/// How much of an input is read, and how long a web page may take.
#[derive(Debug, Clone, Args)]
pub(super) struct ReadingArgs {
    /// The largest input read, in megabytes (2^20 bytes): a larger one is refused.
    #[arg(long, value_name = "MB", default_value_t = input::DEFAULT_MAX_INPUT_BYTES >> 20,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    max_input_mb: u64,
    /// The longest a web page's download may take, in seconds.
    #[arg(long, value_name = "SECONDS",
          default_value_t = input::DEFAULT_FETCH_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    fetch_timeout: u64,
}

impl ReadingArgs {
    /// The largest input read, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_input_mb << 20
    }

    /// How web pages are fetched; `offline` refuses them.
    pub fn fetching(&self, offline: bool) -> Fetching {
        Fetching {
            max_bytes: self.max_bytes(),
            offline,
            timeout: std::time::Duration::from_secs(self.fetch_timeout),
        }
    }
}

/// Which model to run and where it comes from.
#[derive(Debug, Clone, Args)]
pub(super) struct ModelSourceArgs {
    /// Catalogue name (see `abridge models list`), a path to a GGUF file, a model folder in
    /// the Hub's layout (config.json, a tokenizer, weights), or a Hugging Face repository
    /// of such a model, ORG/NAME[@REVISION]. Without it, `ABRIDGE_MODEL` names the model,
    /// else the catalogue's default runs.
    #[arg(long, short = 'm', env = "ABRIDGE_MODEL")]
    pub(super) model: Option<String>,
    /// Use local files only (also ABRIDGE_OFFLINE=1); never download.
    #[arg(long)]
    pub(super) offline: bool,
}

impl ModelSourceArgs {
    /// The catalogue entry and verified local file of the model (see
    /// [`provision::resolve`]); `quiet` draws no download progress bars.
    pub fn resolve(&self, quiet: bool) -> Result<(ModelSpec, PathBuf)> {
        let options = FetchOptions::from_env(self.offline);
        let options = FetchOptions {
            progress: options.progress && !quiet,
            ..options
        };
        provision::resolve_with(self.model.as_deref(), options)
    }

    /// Whether nothing may be downloaded: `--offline`, `ABRIDGE_OFFLINE=1` or
    /// `HF_HUB_OFFLINE=1`.
    pub fn offline(&self) -> bool {
        crate::fetch::FetchOptions::from_env(self.offline).offline
    }
}

/// How fast the model runs; these do not change what it writes.
#[derive(Debug, Clone, Args)]
pub(super) struct SpeedArgs {
    /// CPU threads (default: one per core; more than the machine's cores are capped to
    /// them, with a warning).
    #[arg(long, env = "ABRIDGE_THREADS",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub(super) threads: Option<usize>,
    /// Prompt tokens run through the model per forward pass.
    #[arg(long, default_value_t = DecodeOptions::default().prefill_chunk,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub(super) prefill_chunk: usize,
    /// Turn prompt-lookup decoding off: by default each decoding step on the CPU also checks
    /// draft tokens copied from where the latest words appeared before in the article or
    /// the summary, and keeps those the model would have written anyway; the output is the
    /// same either way.
    #[arg(long)]
    pub(super) no_lookup: bool,
}

impl SpeedArgs {
    /// Prompt lookup's draft tokens per step (0 with `--no-lookup`).
    pub fn lookup(&self) -> usize {
        if self.no_lookup {
            0
        } else {
            LOOKUP_TOKENS
        }
    }
}

/// Which model to run, where, and how fast.
#[derive(Debug, Clone, Args)]
pub(super) struct ModelArgs {
    #[command(flatten)]
    pub(super) source: ModelSourceArgs,
    /// Where to run the model.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto, env = "ABRIDGE_DEVICE")]
    pub(super) device: DeviceChoice,
    #[command(flatten)]
    pub(super) speed: SpeedArgs,
    /// Summaries decoded together, each step reading the weights once for all of them
    /// (folders, eval, and the parts of a long article); summaries come out as they would
    /// one at a time.
    #[arg(long, default_value_t = 1,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub(super) batch_size: usize,
    /// Say on standard error what runs: the model, device, threads, the matmul kernels and
    /// the CPU.
    #[arg(long, short = 'v')]
    pub(super) verbose: bool,
    /// No progress bars, spinners or informational lines on standard error (errors and
    /// warnings are still printed).
    #[arg(long, short = 'q', conflicts_with = "verbose")]
    pub(super) quiet: bool,
}

/// How tokens are chosen.
#[derive(Debug, Clone, Args)]
pub(super) struct DecodingArgs {
    /// Sampling temperature, 0 to 10; 0 is greedy and deterministic.
    #[arg(long, default_value_t = 0.0, value_parser = parse_temperature)]
    pub(super) temperature: f64,
    /// Nucleus sampling threshold (with --temperature above 0).
    #[arg(long, value_parser = parse_probability)]
    pub(super) top_p: Option<f64>,
    /// Seed of the sampler (with --temperature above 0).
    #[arg(long, default_value_t = DecodeOptions::default().seed)]
    pub(super) seed: u64,
    /// Penalty on recently generated tokens, 1 to 10; 1 turns it off [default: 1.1; a model
    /// with its own generation settings: its own].
    #[arg(long, value_parser = parse_repeat_penalty)]
    pub(super) repeat_penalty: Option<f32>,
    /// Never repeat an n-gram of this many words (tokens, for a model with its own
    /// generation settings); 0 turns it off [default: 4; such a model: its own].
    #[arg(long)]
    pub(super) no_repeat_ngram: Option<usize>,
    /// Beam search with this many beams (deterministic, about as slow per summary as
    /// decoding that many together); 1 decodes greedily or samples [default: 1; a model
    /// with its own generation settings: its own].
    #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(1..=16),
          conflicts_with = "temperature")]
    pub(super) beams: Option<usize>,
}

impl DecodingArgs {
    pub(super) fn options(&self) -> DecodeOptions {
        let defaults = DecodeOptions::default();
        DecodeOptions {
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            repeat_penalty: self.repeat_penalty.unwrap_or(defaults.repeat_penalty),
            no_repeat_ngram: self.no_repeat_ngram.unwrap_or(defaults.no_repeat_ngram),
            beams: self.beams.unwrap_or(defaults.beams),
            ..defaults
        }
    }

    /// Which of these options the user set.
    fn given(&self) -> Given {
        Given {
            words: false,
            beams: self.beams.is_some(),
            no_repeat_ngram: self.no_repeat_ngram.is_some(),
            repeat_penalty: self.repeat_penalty.is_some(),
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

fn parse_window(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(window) if window >= MIN_WINDOW => Ok(window),
        Ok(_) => Err(format!(
            "a window of {s} tokens is too small: at least {MIN_WINDOW} (the prompt's \
             instruction and the summary need room)"
        )),
        Err(_) => Err(format!("`{s}` is not a number of tokens")),
    }
}

fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 1.0 => Ok(p),
        _ => Err(format!("`{s}` is not a probability in (0, 1]")),
    }
}

/// What shapes each summary (shared by `summarize` and `eval`, whose defaults differ: see
/// [`SummaryDefaults`]).
#[derive(Debug, Args)]
pub(super) struct SummaryArgs {
    /// Summary length: short ≈ 100 words, long ≈ 200 words [default: short; eval: 45 words].
    #[arg(long, value_enum, env = "ABRIDGE_LENGTH")]
    pub(super) length: Option<Length>,
    /// Target length in words (overrides --length).
    #[arg(long, value_parser = clap::value_parser!(u16).range(10..=1000))]
    pub(super) words: Option<u16>,
    /// Form of the summary: a paragraph, or 2-3 highlight sentences [default:
    /// paragraph; eval: highlights].
    #[arg(long, value_enum, env = "ABRIDGE_STYLE")]
    pub(super) style: Option<Style>,
    /// Largest prompt given to the model at once, in tokens; longer articles are
    /// summarized in parts and merged (default: the model's context, at most 4096). At
    /// least 256, checked before the model loads; whether the instruction and the summary
    /// fit is checked once it has.
    #[arg(long, value_parser = parse_window)]
    pub(super) window: Option<usize>,
    /// Give the model's output exactly as generated: no length stop, no tidying, no check
    /// that it is a summary (to compare abridge with another engine).
    #[arg(long)]
    pub(super) raw: bool,
    /// The language to write summaries in: `auto` (the article's own, detected), an ISO
    /// 639-1 code such as `de`, or an English name such as `German`.
    #[arg(
        long,
        value_name = "auto|CODE",
        default_value = "auto",
        env = "ABRIDGE_LANGUAGE"
    )]
    pub(super) language: LanguageChoice,
    #[command(flatten)]
    pub(super) decoding: DecodingArgs,
}

/// The style and length a command uses when the user gives none.
#[derive(Debug, Clone, Copy)]
pub(super) struct SummaryDefaults {
    pub(super) style: Style,
    pub(super) words: usize,
}

/// `summarize`: a paragraph of about 100 words.
pub(super) const SUMMARIZE_DEFAULTS: SummaryDefaults = SummaryDefaults {
    style: Style::Paragraph,
    words: Length::Short.words(),
};

/// `eval`: the configuration that scored best on CNN/DailyMail (`docs/quality.md`); a 45-word
/// target ends near 56 words (generation stops at the first sentence end past it), about
/// the reference highlights' length.
pub(super) const EVAL_DEFAULTS: SummaryDefaults = SummaryDefaults {
    style: Style::Highlights,
    words: 45,
};

impl SummaryArgs {
    pub(super) fn options(&self, model: &ModelArgs, defaults: SummaryDefaults) -> SummaryOptions {
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
            language: self.language,
            decode: DecodeOptions {
                prefill_chunk: model.speed.prefill_chunk,
                lookup: model.speed.lookup(),
                ..self.decoding.options()
            },
            given: Given {
                words: self.words.is_some() || self.length.is_some(),
                ..self.decoding.given()
            },
            ..SummaryOptions::default()
        }
    }
}

impl ModelArgs {
    /// Resolves, verifies and loads the model on the chosen device.
    pub fn load(&self) -> Result<Summarizer> {
        device::set_threads(self.speed.threads)?;
        let (spec, path) = self.source.resolve(self.quiet)?;
        let device = device::open(self.device)?;
        let spinner = spinner(format!("loading {}", spec.name), self.quiet);
        let summarizer = provision::load(spec, &path, device)?;
        spinner.finish_and_clear();
        if self.verbose {
            eprintln!(
                "abridge: {} from {}, {}; on {}, {} threads, weights {}, matmul kernels {}, CPU {}",
                summarizer.spec().name,
                path.display(),
                summarizer.template_origin(),
                device::name(summarizer.device()),
                device::threads(),
                summarizer.weights(),
                summarizer.kernels(),
                device::cpu_name()
            );
        }
        Ok(summarizer.with_batch_size(self.batch_size))
    }

    /// The model's name and sha256, without loading it (see [`provision::identity`]).
    pub fn identity(&self) -> Result<(String, String)> {
        provision::identity(self.source.model.as_deref(), self.source.offline)
    }
}
