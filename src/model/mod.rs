//! Language models: the [`LanguageModel`] interface every model family implements (decoders
//! and encoder-decoders alike), the family registry ([`Family`]), and [`load`], which reads
//! a GGUF file or a Hub-layout model folder, picks the family from its
//! `general.architecture` or `model_type` and builds the model, its tokenizer and (for a
//! folder) its generation settings on a device.

mod bart;
mod chat;
mod decoder;
mod encoder_decoder;
mod folder;
mod gemma3;
mod generation_config;
mod gguf_tokenizer;
mod layers;
mod pegasus;
mod phi3;
mod qwen3;
mod registry;
mod slow_tokenizer;
mod t5;
pub mod tokens;

pub use chat::{render as render_chat_template, ChatFormat};
pub use folder::CONFIG;
pub(crate) use folder::WEIGHT_FILES;
pub use generation_config::{EarlyStoppingSetting, GenerationConfig, TokenIds};
pub use registry::{Family, FileKind, UnknownFamily};
pub(crate) use slow_tokenizer::{SETTINGS_FILES as SLOW_TOKENIZER_SETTINGS, SLOW_TOKENIZERS};

use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file;
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

    /// Whether [`Self::step_all`] runs on this model.
    fn checks_drafts(&self) -> bool {
        false
    }

    /// [`Self::step`] returning the logits of every position of every step, stacked in the
    /// steps' order as an f32 `(Σ tokens, vocabulary)` tensor, each position computed
    /// exactly as a one-token step at that position computes it: the logits of draft tokens
    /// checked this way are those of decoding them one at a time (prompt-lookup decoding,
    /// `crate::generate`). Only where [`Self::checks_drafts`] says so.
    fn step_all(&mut self, steps: &[Step]) -> Result<Tensor> {
        let _ = steps;
        bail!("this model cannot check draft tokens")
    }

    /// Makes slot `to` continue the sequence of slot `from` after its first `len` output
    /// positions (beam search forks a sequence this way): the same input, the same cached
    /// state; what `to` held is forgotten.
    fn fork(&mut self, from: usize, to: usize, len: usize) -> Result<()>;

    /// Forgets every slot's sequence, and turns prefix reuse off.
    fn reset(&mut self);

    /// Until the next [`Self::reset`], lets [`Self::begin`] reuse the start of an input
    /// that some slot already holds (the same tokens from position 0, prompt or output):
    /// those positions' keys and values are copied, not run again. Off by default, as
    /// running a prompt in other chunks can change its last digits, and so a greedy
    /// output: a summary must not depend on what ran before it. A model without a reusable
    /// cache ignores it.
    fn reuse_prefixes(&mut self) {}

    /// How long inputs and outputs may be.
    fn limits(&self) -> Limits;

    /// The token an encoder-decoder's decoder starts from, before its first output (which
    /// transformers' n-gram rule counts as part of the output); a decoder has none.
    fn decoder_start(&self) -> Option<u32> {
        None
    }
}

/// A model ready to run: the network, its tokenizer and its family, for a model from a
/// folder the generation settings it ships, and for a GGUF file with a chat template its
/// chat format.
pub struct LoadedModel {
    pub network: Box<dyn LanguageModel>,
    pub tokenizer: Tokenizer,
    pub family: Family,
    pub generation: Option<GenerationConfig>,
    pub chat: Option<ChatFormat>,
    /// Which kernels run its matmuls (an `Isa` name, or `candle`).
    pub kernels: &'static str,
    /// What its weights are: `quantized` (GGUF), or a folder's stored types and what they
    /// run as (`f32`, `bf16 → f32`).
    pub weights: String,
}

/// The family of a GGUF file's content, from its `general.architecture`.
fn gguf_family(content: &gguf_file::Content) -> Result<Family> {
    let architecture = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .context("GGUF has no general.architecture")?;
    Ok(Family::from_name(architecture)?)
}

/// Reads a GGUF file's header (not its weights).
fn read_gguf(path: &Path) -> Result<(std::fs::File, gguf_file::Content)> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("{}: cannot open model file", path.display()))?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|e| anyhow::anyhow!("{}: not a GGUF model file ({e})", path.display()))?;
    Ok((file, content))
}

/// The family of the model in a GGUF file, read from its header.
pub fn family_of(path: &Path) -> Result<Family> {
    let (_, content) = read_gguf(path)?;
    gguf_family(&content).with_context(|| path.display().to_string())
}

/// The family of the model in a folder, from its `config.json`.
pub fn folder_family(dir: &Path) -> Result<Family> {
    let folder = folder::Folder::open(dir)?;
    let name = folder.model_type()?;
    Family::from_name(name).with_context(|| dir.display().to_string())
}

/// Loads a model onto `device`: a GGUF file, or a folder in the Hub's layout.
pub fn load(path: &Path, device: &Device) -> Result<LoadedModel> {
    if path.is_dir() {
        return load_folder(path, device);
    }
    let (mut file, content) = read_gguf(path)?;
    let family = gguf_family(&content).with_context(|| path.display().to_string())?;
    let tokenizer = gguf_tokenizer::from_gguf(&content)
        .map_err(|e| anyhow::anyhow!("{}: cannot build tokenizer ({e})", path.display()))?;
    let tokenizer = tokens::literal_specials(tokenizer);
    let chat = chat::from_gguf(&content, &tokenizer)
        .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
    let network = family
        .load_gguf(&content, &mut file, device)
        .with_context(|| format!("{}: cannot load {family} model", path.display()))?;
    Ok(LoadedModel {
        network,
        tokenizer,
        family,
        generation: None,
        chat,
        kernels: crate::kernels::quantized_matmul_kernels(device),
        weights: "quantized".to_string(),
    })
}

/// Loads the model in a Hub-layout folder onto `device`.
fn load_folder(dir: &Path, device: &Device) -> Result<LoadedModel> {
    let folder = folder::Folder::open(dir)?;
    let family =
        Family::from_name(folder.model_type()?).with_context(|| dir.display().to_string())?;
    let tokenizer = tokens::literal_specials(slow_tokenizer::of_folder(&folder, family)?);
    let generation = GenerationConfig::of_folder(&folder)?;
    let (vars, weights) = folder.weights(device)?;
    let network = family
        .load_folder(&folder, vars, device)
        .with_context(|| format!("{}: cannot load {family} model", folder.dir().display()))?;
    Ok(LoadedModel {
        network,
        tokenizer,
        family,
        generation: Some(generation),
        chat: None,
        // Safetensors weights are not quantized: candle's matmuls run them.
        kernels: "candle",
        weights,
    })
}
