//! The model families abridge runs, in one typed list shared by the catalogue (an entry's
//! `architecture`) and the loader (a GGUF file's `general.architecture`, a model folder's
//! `model_type`): each family names its architecture, the files it is stored in, the chat
//! template a file of it gets when no catalogue entry names one (decoders; an
//! encoder-decoder takes plain text), and which implementation builds it (which reads the
//! family's limits from the file: a GGUF decoder's `<architecture>.context_length`, an
//! encoder-decoder's `max_position_embeddings`). A new family is a variant here and a file
//! beside this one (`docs/ADDING_MODELS.md`).

use super::bart::{self, Bart};
use super::decoder::{Decoder, Recipe};
use super::folder::Folder;
use super::layers::Rotation;
use super::t5::{self, T5};
use super::{gemma3, pegasus, phi3, qwen3, LanguageModel};
use anyhow::{bail, Result};
use candle_core::quantized::gguf_file;
use candle_core::Device;
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::File;

/// A model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Qwen2, Qwen2.5 and Qwen2.5-Coder.
    Qwen2,
    /// Llama and its descendants stored under `llama` (SmolLM2, Llama 3.x).
    Llama,
    /// Qwen3.
    Qwen3,
    /// Gemma 3.
    Gemma3,
    /// Phi-3 and Phi-3.5.
    Phi3,
    /// BART and distilBART (`BartForConditionalGeneration`).
    Bart,
    /// mBART: BART with pre-norm layers.
    MBart,
    /// PEGASUS (`PegasusForConditionalGeneration`).
    Pegasus,
    /// T5 and FLAN-T5 (`T5ForConditionalGeneration`).
    T5,
}

/// How a family's weights and tokenizer are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// One GGUF file: metadata, tokenizer and quantized weights.
    Gguf,
    /// A folder in the Hub's layout: `config.json`, `tokenizer.json`, safetensors weights
    /// (see `folder.rs`).
    Safetensors,
}

/// ChatML (Qwen's and SmolLM2's chat template): system, user, and the assistant's turn
/// opened.
const CHATML: &str = "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n\
                      <|im_start|>assistant\n";

/// ChatML's end-of-turn markers, which end generation.
const CHATML_STOP: &[&str] = &["<|im_end|>", "<|endoftext|>"];

/// Gemma's turns, which have no system role: the system text opens the user's turn.
const GEMMA: &str = "<bos><start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n\
                     <start_of_turn>model\n";

const GEMMA_STOP: &[&str] = &["<end_of_turn>", "<eos>"];

/// Phi-3's turns.
const PHI3: &str = "<|system|>\n{system}<|end|>\n<|user|>\n{user}<|end|>\n<|assistant|>\n";

const PHI3_STOP: &[&str] = &["<|end|>", "<|endoftext|>"];

/// A family name that is not in the registry.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unsupported architecture `{name}` (supported: {})", Family::names().join(", "))]
pub struct UnknownFamily {
    pub name: String,
}

impl Family {
    /// Every family, in listing order.
    pub const ALL: [Family; 9] = [
        Family::Qwen2,
        Family::Llama,
        Family::Qwen3,
        Family::Gemma3,
        Family::Phi3,
        Family::Bart,
        Family::MBart,
        Family::Pegasus,
        Family::T5,
    ];

    /// The family's name in catalogue entries, in GGUF's `general.architecture` (also the
    /// prefix of its GGUF metadata keys) and in `config.json`'s `model_type`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Qwen2 => "qwen2",
            Family::Llama => "llama",
            Family::Qwen3 => "qwen3",
            Family::Gemma3 => "gemma3",
            Family::Phi3 => "phi3",
            Family::Bart => "bart",
            Family::MBart => "mbart",
            Family::Pegasus => "pegasus",
            Family::T5 => "t5",
        }
    }

    /// The names of every family.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|family| family.name()).collect()
    }

    /// The family called `name`.
    pub fn from_name(name: &str) -> Result<Family, UnknownFamily> {
        Self::ALL
            .into_iter()
            .find(|family| family.name() == name)
            .ok_or_else(|| UnknownFamily {
                name: name.to_string(),
            })
    }

    /// How files of this family are stored.
    pub fn files(self) -> FileKind {
        match self {
            Family::Qwen2 | Family::Llama | Family::Qwen3 | Family::Gemma3 | Family::Phi3 => {
                FileKind::Gguf
            }
            Family::Bart | Family::MBart | Family::Pegasus | Family::T5 => FileKind::Safetensors,
        }
    }

    /// The chat template (with `{system}` and `{user}` placeholders) and stop strings of a
    /// file of this family whose catalogue entry and file give none; `None` for an
    /// encoder-decoder, which is given the text itself and stops at its config's end token.
    pub fn chat_template(self) -> Option<(&'static str, &'static [&'static str])> {
        match self {
            Family::Qwen2 | Family::Llama | Family::Qwen3 => Some((CHATML, CHATML_STOP)),
            Family::Gemma3 => Some((GEMMA, GEMMA_STOP)),
            Family::Phi3 => Some((PHI3, PHI3_STOP)),
            Family::Bart | Family::MBart | Family::Pegasus | Family::T5 => None,
        }
    }

    /// Builds the network of this family from a model folder's config and `weights` on
    /// `device`.
    pub(super) fn load_folder(
        self,
        folder: &Folder,
        weights: VarBuilder<'static>,
        device: &Device,
    ) -> Result<Box<dyn LanguageModel>> {
        let shape = match self {
            Family::Bart => bart::Shape::BART,
            Family::MBart => bart::Shape::MBART,
            Family::Pegasus => pegasus::SHAPE,
            Family::T5 => {
                let config: t5::Config = folder.config()?;
                return Ok(Box::new(T5::load(&config, weights, device)?));
            }
            Family::Qwen2 | Family::Llama | Family::Qwen3 | Family::Gemma3 | Family::Phi3 => {
                bail!("{self} models are read from GGUF files, not model folders")
            }
        };
        let config: bart::Config = folder.config()?;
        Ok(Box::new(Bart::load(&config, shape, weights, device)?))
    }

    /// Builds the network of this family from a GGUF file's content on `device`.
    pub(super) fn load_gguf(
        self,
        content: &gguf_file::Content,
        file: &mut File,
        device: &Device,
    ) -> Result<Box<dyn LanguageModel>> {
        // llama.cpp's converter permutes Llama's query/key weights for interleaved rotation;
        // Qwen2 rotates the two halves of each head (GPT-NeoX style).
        let recipe = match self {
            Family::Qwen2 => Recipe::plain(Rotation::Halves),
            Family::Llama => Recipe::plain(Rotation::Interleaved),
            Family::Qwen3 => qwen3::RECIPE,
            Family::Gemma3 => gemma3::RECIPE,
            Family::Phi3 => phi3::RECIPE,
            Family::Bart | Family::MBart | Family::Pegasus | Family::T5 => {
                bail!("{self} models are read from model folders (config.json, safetensors), not GGUF files")
            }
        };
        Ok(Box::new(Decoder::from_gguf(
            content,
            file,
            device,
            self.name(),
            recipe,
        )?))
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_known() {
        for family in Family::ALL {
            assert_eq!(Family::from_name(family.name()).unwrap(), family);
            match family.chat_template() {
                Some((template, stop)) => {
                    assert!(template.contains("{system}") && template.contains("{user}"));
                    assert!(!stop.is_empty());
                    assert_eq!(family.files(), FileKind::Gguf);
                }
                None => assert_eq!(family.files(), FileKind::Safetensors),
            }
        }
        let err = Family::from_name("mamba").unwrap_err().to_string();
        assert_eq!(
            err,
            "unsupported architecture `mamba` (supported: qwen2, llama, qwen3, gemma3, phi3, \
             bart, mbart, pegasus, t5)"
        );
    }
}
