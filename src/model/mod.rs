//! Language models: the [`LanguageModel`] trait every model family implements, and
//! [`load`], which reads a GGUF file, picks the family from its `general.architecture`
//! and builds the model and its tokenizer on a device.

mod decoder;
pub mod tokens;

use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use candle_core::{Device, Tensor};
use std::path::Path;
use tokenizers::Tokenizer;

/// One sequence's share of a decoding pass: output tokens at output positions
/// `pos..pos + tokens.len()` (0 is the first token generated) of the sequence begun in `slot`.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub slot: usize,
    pub tokens: &'a [u32],
    pub pos: usize,
}

/// How long a model's input and output may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most input tokens [`LanguageModel::begin`] takes.
    pub source: usize,
    /// Most output tokens.
    pub target: usize,
    /// Whether the input and the output share one window of `source` positions (a decoder,
    /// whose output continues its prompt) rather than each having its own (an
    /// encoder-decoder).
    pub shared: bool,
}

impl Limits {
    /// The limits of a decoder with a context of `context` positions.
    pub fn shared(context: usize) -> Self {
        Self {
            source: context,
            target: context,
            shared: true,
        }
    }

    /// Why an input of `input` tokens followed by up to `output` new tokens cannot run, if
    /// it cannot.
    pub fn check(&self, input: usize, output: usize) -> Result<()> {
        if input == 0 {
            bail!("the prompt is empty");
        }
        if self.shared && input + output > self.source {
            bail!(
                "a prompt of {input} tokens plus {output} new tokens exceeds the model's context \
                 of {}",
                self.source
            );
        }
        if !self.shared && input > self.source {
            bail!(
                "an input of {input} tokens exceeds the model's input limit of {}",
                self.source
            );
        }
        if !self.shared && output > self.target {
            bail!(
                "{output} new tokens exceed the model's output limit of {}",
                self.target
            );
        }
        Ok(())
    }
}

/// A model that turns an input (a decoder's prompt, an encoder-decoder's source text) into
/// output tokens, one sequence per cache "slot", so that several sequences can be decoded
/// together: their rows share every weight matrix pass. A decoder-only model and an
/// encoder-decoder implement it alike; the generation loop (`crate::generate`) knows only
/// this interface.
pub trait LanguageModel {
    /// Starts the sequence of `slot` from `input`, forgetting what the slot held, and
    /// returns the f32 logits of the first output token. A decoder runs the prompt through
    /// its cache `chunk` tokens per pass; an encoder-decoder encodes the input, keeps the
    /// encoder's output for the slot's cross-attention and runs its decoder start token.
    /// Slots are created on first use.
    fn begin(&mut self, slot: usize, input: &[u32], chunk: usize) -> Result<Vec<f32>>;

    /// Runs every step's output tokens through the model in one pass, caching them in the
    /// step's slot (positions from `pos` on replace what the slot held there), and returns
    /// the logits of each step's last position as an f32 `(steps, vocabulary)` tensor.
    fn step(&mut self, steps: &[Step]) -> Result<Tensor>;

    /// Makes slot `to` continue the sequence of slot `from` after its first `len` output
    /// positions (beam search forks a sequence this way): the same input, the same cached
    /// state; what `to` held is forgotten.
    fn fork(&mut self, from: usize, to: usize, len: usize) -> Result<()>;

    /// Forgets every slot's sequence.
    fn reset(&mut self);

    /// How long inputs and outputs may be.
    fn limits(&self) -> Limits;
}

/// A model ready to run: the network, its tokenizer and what the file says about it.
pub struct LoadedModel {
    pub network: Box<dyn LanguageModel>,
    pub tokenizer: Tokenizer,
    /// `general.architecture` from the GGUF metadata (`qwen2`, `llama`, …).
    pub architecture: String,
}

/// The architectures [`load`] knows, as GGUF names them.
pub const ARCHITECTURES: &[&str] = &["qwen2", "llama"];

/// Loads a GGUF model file onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<LoadedModel> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("{}: cannot open model file", path.display()))?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|e| anyhow::anyhow!("{}: not a GGUF model file ({e})", path.display()))?;
    let architecture = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .with_context(|| format!("{}: GGUF has no general.architecture", path.display()))?;
    let tokenizer = Tokenizer::from_gguf(&content)
        .map_err(|e| anyhow::anyhow!("{}: cannot build tokenizer ({e})", path.display()))?;
    let network: Box<dyn LanguageModel> = match architecture.as_str() {
        "qwen2" | "llama" => Box::new(
            decoder::Decoder::from_gguf(&content, &mut file, device)
                .with_context(|| format!("{}: cannot load {architecture} model", path.display()))?,
        ),
        other => bail!(
            "{}: unsupported architecture `{other}` (supported: {})",
            path.display(),
            ARCHITECTURES.join(", ")
        ),
    };
    Ok(LoadedModel {
        network,
        tokenizer,
        architecture,
    })
}
