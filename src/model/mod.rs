//! Language models: the [`LanguageModel`] trait every model family implements, and
//! [`load`], which reads a GGUF file, picks the family from its `general.architecture`
//! and builds the model and its tokenizer on a device.

mod decoder;

use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use candle_core::{Device, Tensor};
use std::path::Path;
use tokenizers::Tokenizer;

/// A causal language model with its own key/value cache.
pub trait LanguageModel {
    /// Runs `tokens`, which sit at positions `pos..pos + tokens.len()`, through the model,
    /// appending their keys and values to the cache, and returns the logits of the last
    /// position as an f32 vector of the vocabulary's size.
    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Tensor>;

    /// Forgets every cached position, so the next `forward` starts at position 0.
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
