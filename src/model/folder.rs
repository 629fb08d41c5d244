//! Models stored the way the Hugging Face Hub stores transformers models: a folder with
//! `config.json` (the architecture in `model_type`), `tokenizer.json`, an optional
//! `generation_config.json`, and the weights in `model.safetensors` or in the shards that
//! `model.safetensors.index.json` lists. Everything in it is untrusted: a missing file, a
//! malformed one or a tensor of the wrong shape is an error naming the file.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// The file that makes a folder a model folder.
pub const CONFIG: &str = "config.json";

/// A model folder whose `config.json` was read.
pub(super) struct Folder {
    dir: PathBuf,
    config: Value,
}

/// The JSON in `path`.
fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

impl Folder {
    pub(super) fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG);
        if !path.is_file() {
            bail!("{}: no {CONFIG} (not a model folder)", dir.display());
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            config: read_json(&path)?,
        })
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The architecture named by `config.json`'s `model_type`.
    pub(super) fn model_type(&self) -> Result<&str> {
        self.config
            .get("model_type")
            .and_then(Value::as_str)
            .with_context(|| format!("{}: no `model_type`", self.dir.join(CONFIG).display()))
    }

    /// `config.json` read as `T`.
    pub(super) fn config<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.config.clone())
            .with_context(|| format!("{}: unusable config", self.dir.join(CONFIG).display()))
    }

    /// The raw `config.json`.
    pub(super) fn config_json(&self) -> &Value {
        &self.config
    }

    /// `generation_config.json`, if the folder has one.
    pub(super) fn generation_config_json(&self) -> Result<Option<Value>> {
        let path = self.dir.join("generation_config.json");
        path.is_file().then(|| read_json(&path)).transpose()
    }

    /// The tokenizer in `tokenizer.json`.
    pub(super) fn tokenizer(&self) -> Result<Tokenizer> {
        let path = self.dir.join("tokenizer.json");
        if !path.is_file() {
            bail!(
                "{}: no tokenizer.json (abridge reads tokenizers in that format only)",
                self.dir.display()
            );
        }
        Tokenizer::from_file(&path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read tokenizer ({e})", path.display()))
    }

    /// The safetensors files holding the weights: `model.safetensors`, or the shards that
    /// `model.safetensors.index.json` maps tensors to.
    pub(super) fn weight_files(&self) -> Result<Vec<PathBuf>> {
        let single = self.dir.join("model.safetensors");
        if single.is_file() {
            return Ok(vec![single]);
        }
        let index = self.dir.join("model.safetensors.index.json");
        if !index.is_file() {
            bail!(
                "{}: no model.safetensors or model.safetensors.index.json",
                self.dir.display()
            );
        }
        let shards: BTreeSet<String> = read_json(&index)?
            .get("weight_map")
            .and_then(Value::as_object)
            .with_context(|| format!("{}: no `weight_map`", index.display()))?
            .values()
            .map(|file| file.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .with_context(|| format!("{}: a shard name is not a string", index.display()))?;
        shards
            .into_iter()
            .map(|shard| {
                if shard.contains(['/', '\\']) || shard.starts_with('.') {
                    bail!(
                        "{}: shard name `{shard}` leaves the folder",
                        index.display()
                    );
                }
                Ok(self.dir.join(shard))
            })
            .collect()
    }

    /// Every weight as f32 on `device`, for a model to take by name and shape.
    pub(super) fn weights(&self, device: &Device) -> Result<VarBuilder<'static>> {
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for path in self.weight_files()? {
            let bytes =
                std::fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
            let loaded = candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| {
                anyhow::anyhow!("{}: not a readable safetensors file ({e})", path.display())
            })?;
            tensors.extend(loaded);
        }
        Ok(VarBuilder::from_tensors(tensors, DType::F32, device))
    }
}
