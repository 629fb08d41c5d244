//! `abridge bench`: how fast a model runs on each device. For every device asked for, it
//! loads the model, then runs a warm-up and `runs` measured rounds, each round being one
//! fixed-length generation (the summarization prompt around an article, then exactly
//! `gen_tokens` tokens, the end token ignored, so rounds and engines compare) and one real
//! summary of the same article; it reports the medians (and the prefill and decode speeds'
//! spread over the rounds) as plain [`Measurement`]s.
//! Devices this build or machine lacks become [`Skipped`] reports. Printing is
//! [`render`]'s job; [`memory`] reads the peak resident memory.

pub mod memory;
pub mod render;

use crate::catalogue::ModelSpec;
use crate::device::{self, DeviceChoice};
use crate::generate::DecodeOptions;
use crate::input::Article;
use crate::provision;
use crate::summarize::{article_instruction, Length, Style, Summarizer, SummaryOptions};
use anyhow::{bail, Result};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

/// The article measured when none is given: an invented news story of about 800 words,
/// written for abridge.
pub const EXAMPLE_ARTICLE: &str = include_str!("../../examples/article.txt");

/// The devices `--device` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSet {
    Cpu,
    Cuda,
    Metal,
    /// The CPU and every GPU kind (those this build or machine lacks are reported skipped).
    All,
}

/// The distinct devices named by `sets`, CPU first, in a fixed order.
pub fn devices(sets: &[DeviceSet]) -> Vec<DeviceChoice> {
    let wants = |choice: DeviceSet| sets.iter().any(|&s| s == choice || s == DeviceSet::All);
    [
        (DeviceSet::Cpu, DeviceChoice::Cpu),
        (DeviceSet::Cuda, DeviceChoice::Cuda),
        (DeviceSet::Metal, DeviceChoice::Metal),
    ]
    .into_iter()
    .filter(|&(set, _)| wants(set))
    .map(|(_, choice)| choice)
    .collect()
}

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchOptions {
    /// Tokens generated per fixed-length generation; the end token does not stop it.
    pub gen_tokens: usize,
    /// Measured rounds after the warm-up; medians are reported.
    pub runs: usize,
    /// Prompt tokens per forward pass during prefill.
    pub prefill_chunk: usize,
    /// The instruction before the article in the fixed-length prompt; `None` is abridge's
    /// own summarization instruction.
    pub instruction: Option<String>,
    /// Target length of the measured summary, in words.
    pub summary_words: usize,
    /// Prompt lookup's draft tokens per step in the measured summary (see
    /// [`DecodeOptions::lookup`]); 0 = off.
    pub lookup: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            gen_tokens: 128,
            runs: 3,
            prefill_chunk: DecodeOptions::default().prefill_chunk,
            instruction: None,
            summary_words: Length::Short.words(),
            lookup: DecodeOptions::default().lookup,
        }
    }
}

/// The article a benchmark runs on, in the two forms it is used.
#[derive(Debug, Clone)]
pub struct BenchText {
    /// The text exactly as given, put in the fixed-length generation's prompt, so that other
    /// engines given the same file see the same prompt.
    pub raw: String,
    /// The same text read and cleaned as `abridge summarize` reads it, for the summary.
    pub article: Article,
}

/// One device's figures: medians over the measured rounds. This is the JSON output's
/// schema; see `docs/bench.md` for each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// `cpu`, `cuda` or `metal`.
    pub device: String,
    /// The catalogue name of the model (or the GGUF file's stem).
    pub model: String,
    /// Size of the model file, MB (10^6 bytes).
    pub model_mb: f64,
    /// CPU threads.
    pub threads: usize,
    /// The kernels that ran the model's matmuls: on the CPU, the instruction set of
    /// abridge's own (`avx512-vnni-512`, `avx512-vnni-256`, `avx-vnni`, `avx2`), else
    /// `candle`.
    pub kernels: String,
    /// The weights: `quantized` (GGUF), or a model folder's stored types and what they run
    /// as (`f32`, `bf16 → f32`).
    #[serde(default)]
    pub weights: String,
    /// The machine's CPU (see `device::cpu_name`), whichever device was measured.
    pub cpu: String,
    /// Tokens in the fixed-length generation's prompt.
    pub prompt_tokens: usize,
    /// Tokens generated in the fixed-length generation.
    pub gen_tokens: usize,
    /// Prompt tokens per forward pass during prefill.
    pub prefill_chunk: usize,
    /// Measured rounds the medians are taken over (after one warm-up round).
    pub runs: usize,
    /// Seconds to read the model file and place it on the device (once, not a median).
    pub load_s: f64,
    /// Prompt tokens per second of prefill.
    pub prefill_tok_s: f64,
    /// The slowest measured round's `prefill_tok_s` (0 in reports from before it was kept).
    #[serde(default)]
    pub prefill_tok_s_min: f64,
    /// The fastest measured round's `prefill_tok_s` (0 in reports from before it was kept).
    #[serde(default)]
    pub prefill_tok_s_max: f64,
    /// Generated tokens per second after the first one (each costs one forward pass).
    pub decode_tok_s: f64,
    /// The slowest measured round's `decode_tok_s` (0 in reports from before it was kept).
    #[serde(default)]
    pub decode_tok_s_min: f64,
    /// The fastest measured round's `decode_tok_s` (0 in reports from before it was kept).
    #[serde(default)]
    pub decode_tok_s_max: f64,
    /// Seconds from the prompt text to the first generated token (tokenizing and prefill).
    pub ttft_s: f64,
    /// Seconds for one summary of the article along `abridge summarize`'s path.
    pub summary_s: f64,
    /// Tokens that summary took (median).
    pub summary_tokens: usize,
    /// The process's peak resident memory while this device was measured, MB; `null` where
    /// the system does not say.
    pub peak_rss_mb: Option<f64>,
}

/// A device that could not be measured, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub device: String,
    /// Why: the build lacks the feature, or the machine lacks the device.
    pub skipped: String,
}

/// What a benchmark says about one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DeviceReport {
    /// Boxed: a measurement is several times the size of a skipped device's reason.
    Measured(Box<Measurement>),
    Skipped(Skipped),
}

/// Measures the model in `path` on each of `devices` in turn, handing each report to
/// `on_report` as soon as it is ready (a device's model is dropped before the next loads);
/// `progress` hears what is being done.
pub fn run(
    spec: &ModelSpec,
    path: &Path,
    devices: &[DeviceChoice],
    text: &BenchText,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
    on_report: &mut dyn FnMut(&DeviceReport) -> Result<()>,
) -> Result<Vec<DeviceReport>> {
    if options.gen_tokens < 2 || options.runs == 0 {
        bail!("a benchmark needs at least 2 generated tokens and 1 run");
    }
    let mut reports = Vec::with_capacity(devices.len());
    for &choice in devices {
        let report = match device::open(choice) {
            Ok(device) => DeviceReport::Measured(Box::new(measure(
                spec, path, device, text, options, progress,
            )?)),
            Err(reason) => DeviceReport::Skipped(Skipped {
                device: choice.name().to_string(),
                skipped: format!("{reason:#}"),
            }),
        };
        on_report(&report)?;
        reports.push(report);
    }
    Ok(reports)
}

/// One measured round.
#[derive(Debug, Clone, Copy)]
struct Round {
    prompt_tokens: usize,
    gen_tokens: usize,
    prefill_tok_s: f64,
    decode_tok_s: f64,
    ttft_s: f64,
    summary_s: f64,
    summary_tokens: usize,
}

fn measure(
    spec: &ModelSpec,
    path: &Path,
    device: Device,
    text: &BenchText,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Measurement> {
    let name = device::name(&device);
    memory::reset_peak();
    progress(&format!("{name}: loading {}", spec.name));
    let started = Instant::now();
    let mut summarizer = provision::load(spec.clone(), path, device.clone())?;
    let load_s = started.elapsed().as_secs_f64();
    let mut rounds = Vec::with_capacity(options.runs);
    for i in 0..=options.runs {
        progress(&if i == 0 {
            format!("{name}: warm-up")
        } else {
            format!("{name}: run {i} of {}", options.runs)
        });
        let round = measure_round(&mut summarizer, text, options)?;
        if i > 0 {
            rounds.push(round);
        }
    }
    let median_of = |field: fn(&Round) -> f64| median(rounds.iter().map(field).collect());
    let min_of = |field: fn(&Round) -> f64| {
        round_to(rounds.iter().map(field).fold(f64::INFINITY, f64::min), 2)
    };
    let max_of = |field: fn(&Round) -> f64| {
        round_to(
            rounds.iter().map(field).fold(f64::NEG_INFINITY, f64::max),
            2,
        )
    };
    Ok(Measurement {
        device: name.to_string(),
        model: spec.name.clone(),
        model_mb: round_to(std::fs::metadata(path)?.len() as f64 / 1e6, 1),
        threads: device::threads(),
        kernels: summarizer.kernels().to_string(),
        weights: summarizer.weights().to_string(),
        cpu: device::cpu_name(),
        prompt_tokens: rounds[0].prompt_tokens,
        gen_tokens: rounds[0].gen_tokens,
        prefill_chunk: options.prefill_chunk,
        runs: options.runs,
        load_s: round_to(load_s, 3),
        prefill_tok_s: round_to(median_of(|r| r.prefill_tok_s), 2),
        prefill_tok_s_min: min_of(|r| r.prefill_tok_s),
        prefill_tok_s_max: max_of(|r| r.prefill_tok_s),
        decode_tok_s: round_to(median_of(|r| r.decode_tok_s), 2),
        decode_tok_s_min: min_of(|r| r.decode_tok_s),
        decode_tok_s_max: max_of(|r| r.decode_tok_s),
        ttft_s: round_to(median_of(|r| r.ttft_s), 3),
        summary_s: round_to(median_of(|r| r.summary_s), 3),
        summary_tokens: median_of(|r| r.summary_tokens as f64).round() as usize,
        peak_rss_mb: memory::peak_rss_bytes().map(|b| round_to(b as f64 / 1e6, 1)),
    })
}

/// One fixed-length generation and one summary.
fn measure_round(
    summarizer: &mut Summarizer,
    text: &BenchText,
    options: &BenchOptions,
) -> Result<Round> {
    let instruction = options
        .instruction
        .clone()
        .unwrap_or_else(|| article_instruction(Style::Paragraph, options.summary_words, None));
    let started = Instant::now();
    // The user message of llama.cpp's reference setup (shared/bench), not the fenced one
    // summaries get, so that both engines run the same prompt; speed depends on its length.
    // An encoder-decoder is given the article alone (cut to its input limit).
    let prompt = summarizer.verbatim_prompt(&instruction, &text.raw)?;
    let tokenize_s = started.elapsed().as_secs_f64();
    let decode = DecodeOptions {
        // An encoder-decoder's output limit may be below the tokens asked for.
        max_new_tokens: options.gen_tokens.min(summarizer.output_room(prompt.len())),
        ignore_end: true,
        prefill_chunk: options.prefill_chunk,
        // The engine's own decoding speed, one token per pass, as llama.cpp's is measured;
        // the summary below decodes as `summarize` does (prompt lookup included).
        lookup: 0,
        ..DecodeOptions::default()
    };
    let generation =
        summarizer.generate(&prompt, &decode, &mut |_, _| ControlFlow::Continue(()))?;
    // A model with its own settings has no length stop to lose by `raw`, which leaves out
    // only the check that the output is a summary: a speed test of a tiny random model
    // must not fail on what it writes.
    let raw = summarizer.has_own_settings();
    let summary = summarizer.summarize(
        &text.article,
        &SummaryOptions {
            words: options.summary_words,
            raw,
            decode: DecodeOptions {
                prefill_chunk: options.prefill_chunk,
                lookup: options.lookup,
                ..DecodeOptions::default()
            },
            ..SummaryOptions::default()
        },
        None,
    )?;
    Ok(Round {
        prompt_tokens: generation.prompt_tokens,
        gen_tokens: generation.tokens.len(),
        prefill_tok_s: generation.prompt_tokens as f64 / generation.prefill_seconds,
        decode_tok_s: (generation.tokens.len() - 1) as f64 / generation.decode_seconds,
        ttft_s: tokenize_s + generation.prefill_seconds,
        summary_s: summary.seconds,
        summary_tokens: summary.output_tokens,
    })
}

/// The middle value (the mean of the two middle ones for an even count); NaN when empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_or_the_mean_of_the_two_middles() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![7.5]), 7.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn device_sets_expand_once_each_cpu_first() {
        use DeviceChoice::*;
        assert_eq!(devices(&[DeviceSet::All]), vec![Cpu, Cuda, Metal]);
        assert_eq!(
            devices(&[DeviceSet::Metal, DeviceSet::Cpu, DeviceSet::Metal]),
            vec![Cpu, Metal]
        );
        assert_eq!(devices(&[DeviceSet::Cuda, DeviceSet::All]).len(), 3);
    }

    #[test]
    fn skipped_devices_serialize_as_device_and_reason_only() {
        let report = DeviceReport::Skipped(Skipped {
            device: "cuda".into(),
            skipped: "no CUDA device found".into(),
        });
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            r#"{"device":"cuda","skipped":"no CUDA device found"}"#
        );
    }

    #[test]
    fn the_example_article_is_a_full_length_story() {
        let words = crate::text::word_count(EXAMPLE_ARTICLE);
        assert!((700..=850).contains(&words), "{words} words");
    }
}
