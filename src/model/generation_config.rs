//! The generation settings a Hub model ships: its `generation_config.json` (or, for older
//! models without one, the same fields in `config.json`), with the summarization task's
//! parameters (`task_specific_params.summarization` in `config.json`) over them, as
//! transformers' v4 summarization pipeline applied them. `crate::generate` turns them into
//! decoding options.

use super::folder::Folder;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// transformers' `early_stopping`: `true`, `false` or `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum EarlyStoppingSetting {
    Flag(bool),
    Word(NeverWord),
}

/// The word `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NeverWord {
    Never,
}

/// One token id or several (`eos_token_id` may be either).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    pub fn ids(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// The settings that shape generation, each absent where the model says nothing (then
/// transformers' global default applies).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct GenerationConfig {
    pub num_beams: Option<usize>,
    pub length_penalty: Option<f32>,
    pub early_stopping: Option<EarlyStoppingSetting>,
    pub no_repeat_ngram_size: Option<usize>,
    pub repetition_penalty: Option<f32>,
    /// Most decoder tokens, the start token included.
    pub max_length: Option<usize>,
    /// Fewest decoder tokens before the end token may come, the start token included.
    pub min_length: Option<usize>,
    pub max_new_tokens: Option<usize>,
    pub min_new_tokens: Option<usize>,
    pub forced_bos_token_id: Option<u32>,
    pub forced_eos_token_id: Option<TokenIds>,
    pub decoder_start_token_id: Option<u32>,
    pub eos_token_id: Option<TokenIds>,
    /// Text put before each input (T5's `summarize: `): config.json's `prefix`, or the
    /// task's.
    pub prefix: Option<String>,
}

impl GenerationConfig {
    /// These settings with every one that `over` has replaced by it.
    fn overridden_by(self, over: GenerationConfig) -> GenerationConfig {
        GenerationConfig {
            num_beams: over.num_beams.or(self.num_beams),
            length_penalty: over.length_penalty.or(self.length_penalty),
            early_stopping: over.early_stopping.or(self.early_stopping),
            no_repeat_ngram_size: over.no_repeat_ngram_size.or(self.no_repeat_ngram_size),
            repetition_penalty: over.repetition_penalty.or(self.repetition_penalty),
            max_length: over.max_length.or(self.max_length),
            min_length: over.min_length.or(self.min_length),
            max_new_tokens: over.max_new_tokens.or(self.max_new_tokens),
            min_new_tokens: over.min_new_tokens.or(self.min_new_tokens),
            forced_bos_token_id: over.forced_bos_token_id.or(self.forced_bos_token_id),
            forced_eos_token_id: over.forced_eos_token_id.or(self.forced_eos_token_id),
            decoder_start_token_id: over.decoder_start_token_id.or(self.decoder_start_token_id),
            eos_token_id: over.eos_token_id.or(self.eos_token_id),
            prefix: over.prefix.or(self.prefix),
        }
    }

    fn from_json(value: &Value, what: &str) -> Result<GenerationConfig> {
        serde_json::from_value(value.clone())
            .with_context(|| format!("{what}: unusable generation settings"))
    }

    /// The settings of the model in `folder`.
    pub(super) fn of_folder(folder: &Folder) -> Result<GenerationConfig> {
        let base = match folder.generation_config_json()? {
            Some(json) => Self::from_json(&json, "generation_config.json")?,
            None => Self::from_json(folder.config_json(), "config.json")?,
        };
        // The end and start tokens and the input prefix are the model's (config.json),
        // whichever file holds the rest.
        let model = Self::from_json(folder.config_json(), "config.json")?;
        let base = GenerationConfig {
            eos_token_id: base.eos_token_id.or(model.eos_token_id),
            decoder_start_token_id: base.decoder_start_token_id.or(model.decoder_start_token_id),
            prefix: base.prefix.or(model.prefix),
            ..base
        };
        let task = folder
            .config_json()
            .pointer("/task_specific_params/summarization")
            .map(|json| {
                serde_json::from_value::<GenerationConfig>(json.clone())
                    .context("config.json: unusable task_specific_params.summarization")
            })
            .transpose()?;
        Ok(match task {
            Some(task) => base.overridden_by(task),
            None => base,
        })
    }
}
