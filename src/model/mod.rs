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

/// One sequence's share of a forward pass: `tokens` at positions `pos..pos + tokens.len()`
/// of the sequence whose key/value cache is `slot`.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub slot: usize,
    pub tokens: &'a [u32],
    pub pos: usize,
}

/// A causal language model with a key/value cache per sequence ("slot"), so that several
/// sequences can be decoded together: their rows share every weight matrix pass.
pub trait LanguageModel {
    /// Runs every step's tokens through the model in one pass, storing their keys and values
    /// in the step's slot (positions from `pos` on replace what the slot held there), and
    /// returns the logits of each step's last position as an f32 `(steps, vocabulary)`
    /// tensor. Slots are created on first use.
    fn forward_steps(&mut self, steps: &[Step]) -> Result<Tensor>;

    /// [`Self::forward_steps`] for one sequence in slot 0: the logits of the last position as
    /// an f32 vector of the vocabulary's size.
    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Tensor> {
        let step = Step {
            slot: 0,
            tokens,
            pos,
        };
        Ok(self.forward_steps(&[step])?.squeeze(0)?)
    }

    /// Makes slot `to` hold the first `len` cached positions of slot `from` (beam search
    /// forks a sequence this way); what `to` held is forgotten.
    fn copy_slot(&mut self, from: usize, to: usize, len: usize) -> Result<()>;

    /// Forgets every cached position of every slot.
    fn clear_kv_cache(&mut self);

    /// The longest sequence (prompt and output) the model was trained for.
    fn context_length(&self) -> usize;
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
