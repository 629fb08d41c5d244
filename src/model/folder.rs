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

/// The single weight files a folder may hold and the index files of their sharded forms,
/// in the order they are looked for.
pub(crate) const WEIGHT_FILES: [(&str, &str); 2] = [
    ("model.safetensors", "model.safetensors.index.json"),
    ("pytorch_model.bin", "pytorch_model.bin.index.json"),
];

/// The tensors of a safetensors file, on `device`.
fn read_safetensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    candle_core::safetensors::load_buffer(&bytes, device)
        .map_err(|e| anyhow::anyhow!("{}: not a readable safetensors file ({e})", path.display()))
}

/// The tensors of a PyTorch checkpoint (`torch.save`'s zip of a pickled state dict), on the
/// CPU. candle's reader interprets the pickle without running any of it; tensors that claim
/// more data than the file holds are refused before anything is allocated for them.
fn read_pytorch(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let unreadable = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!(
            "{}: not a readable PyTorch checkpoint ({e})",
            path.display()
        )
    };
    let size = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read", path.display()))?
        .len();
    let read = || -> candle_core::Result<Vec<(String, Tensor)>> {
        for info in candle_core::pickle::read_pth_tensor_info(path, false, None)? {
            let bytes = info.layout.shape().elem_count() as u64 * info.dtype.size_in_bytes() as u64;
            if bytes > size {
                candle_core::bail!("tensor {} claims {bytes} bytes", info.name)
            }
        }
        candle_core::pickle::read_all(path)
    };
    // A panic in the reader is a malformed file: reported as such, not printed.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(read);
    std::panic::set_hook(hook);
    match outcome {
        Ok(result) => result.map_err(|e| unreadable(&e)),
        Err(_) => Err(unreadable(&"malformed")),
    }
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

    /// The tokenizer in `tokenizer.json`, if the folder has one.
    pub(super) fn tokenizer_json(&self) -> Result<Option<Tokenizer>> {
        let path = self.dir.join("tokenizer.json");
        if !path.is_file() {
            return Ok(None);
        }
        Tokenizer::from_file(&path)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{}: cannot read tokenizer ({e})", path.display()))
    }

    /// The files holding the weights: `model.safetensors`, or the shards that
    /// `model.safetensors.index.json` maps tensors to; where there are none, PyTorch's
    /// `pytorch_model.bin` or the shards of `pytorch_model.bin.index.json`.
    pub(super) fn weight_files(&self) -> Result<Vec<PathBuf>> {
        for (single, index) in WEIGHT_FILES {
            if self.dir.join(single).is_file() {
                return Ok(vec![self.dir.join(single)]);
            }
            let index = self.dir.join(index);
            if index.is_file() {
                return self.shards(&index);
            }
        }
        bail!(
            "{}: no weights ({} expected)",
            self.dir.display(),
            WEIGHT_FILES
                .iter()
                .flat_map(|(single, index)| [*single, *index])
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// The shard files `index` maps tensors to.
    fn shards(&self, index: &Path) -> Result<Vec<PathBuf>> {
        let shards: BTreeSet<String> = read_json(index)?
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

    /// Every weight as f32 on `device`, for a model to take by name and shape, with the
    /// types they were stored in (`bf16 → f32` when converted).
    pub(super) fn weights(&self, device: &Device) -> Result<(VarBuilder<'static>, String)> {
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for path in self.weight_files()? {
            match path.extension().is_some_and(|e| e == "bin") {
                true => tensors.extend(read_pytorch(&path)?),
                false => tensors.extend(read_safetensors(&path, device)?),
            }
        }
        let stored: BTreeSet<&str> = tensors.values().map(|t| t.dtype().as_str()).collect();
        let stored = stored.into_iter().collect::<Vec<_>>().join("+");
        let precision = match stored == DType::F32.as_str() {
            true => stored,
            false => format!("{stored} → {}", DType::F32.as_str()),
        };
        Ok((
            VarBuilder::from_tensors(tensors, DType::F32, device),
            precision,
        ))
    }
}
