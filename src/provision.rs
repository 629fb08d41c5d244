//! Getting a model ready to summarize with: resolve what the user named (a catalogue name,
//! the default model, a GGUF file or model folder by path, a Hugging Face repository id) to
//! its catalogue entry and a verified local file or folder (`crate::fetch`), and load it on
//! a device. The command line, `bench` and `eval` all
//! come through here.

use crate::catalogue::{self, ModelSpec};
use crate::error::RequestError;
use crate::fetch::{self, FetchOptions, RepoId};
use crate::model;
use crate::summarize::Summarizer;
use anyhow::{Context, Result};
use candle_core::Device;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A model named by the user.
enum Choice {
    /// A catalogue entry (the default one when none is named).
    Catalogue(ModelSpec),
    /// A GGUF file or a Hub-layout model folder given by path.
    File(PathBuf),
    /// A Hugging Face model repository (`ORG/NAME[@REVISION]`).
    Repo(RepoId),
    /// A GGUF file of a Hugging Face repository (`hf:ORG/NAME[@REVISION][:QUANT|FILE]`).
    HubGguf { repo: RepoId, pick: Option<String> },
}

/// The prefix of a Hub GGUF model name.
const HUB_GGUF: &str = "hf:";

/// What `name` names: a GGUF file of a Hub repository (`hf:ORG/NAME[@REVISION][:QUANT|FILE]`),
/// a model folder, a path to a GGUF file (one that ends in `.gguf` or exists), a Hugging
/// Face repository id (`ORG/NAME[@REVISION]`), else a catalogue name; `None` is the default
/// model.
fn choose(name: Option<&str>) -> Result<Choice> {
    Ok(match name {
        None => Choice::Catalogue(catalogue::default_model()),
        Some(name) if name.starts_with(HUB_GGUF) => {
            let rest = &name[HUB_GGUF.len()..];
            let (repo, pick) = match rest.split_once(':') {
                Some((repo, pick)) => (repo, Some(pick.to_string())),
                None => (rest, None),
            };
            let repo = RepoId::parse(repo).ok_or_else(|| {
                RequestError(format!(
                    "{name}: not a Hub GGUF name (hf:ORG/NAME[@REVISION][:QUANT|FILE])"
                ))
            })?;
            if pick
                .as_deref()
                .is_some_and(|p| p.is_empty() || p.contains(['/', '\\']))
            {
                return Err(
                    RequestError(format!("{name}: the part after `:` names no file")).into(),
                );
            }
            Choice::HubGguf { repo, pick }
        }
        Some(name) if Path::new(name).is_dir() => Choice::File(PathBuf::from(name)),
        Some(name) if name.ends_with(".gguf") || Path::new(name).is_file() => {
            let path = PathBuf::from(name);
            if !path.is_file() {
                return Err(RequestError(format!("{name}: model file not found")).into());
            }
            Choice::File(path)
        }
        Some(name) => match RepoId::parse(name) {
            Some(id) => Choice::Repo(id),
            None => Choice::Catalogue(catalogue::find(name)?),
        },
    })
}

/// The catalogue entry and verified local file of the model `name` names (see `choose`):
/// a catalogue model is fetched if needed (never when `offline`); a GGUF file is used as it
/// is, with the catalogue entry of the same file name or an entry of its own.
pub fn resolve(name: Option<&str>, offline: bool) -> Result<(ModelSpec, PathBuf)> {
    resolve_with(name, FetchOptions::from_env(offline))
}

/// [`resolve`] with these fetch options (`models fetch` and `models path --verify` hash
/// every file again: [`FetchOptions::full_check`]). A GGUF file given by path whose name is
/// a catalogue entry's is checked against that entry's sha256.
pub fn resolve_with(name: Option<&str>, options: FetchOptions) -> Result<(ModelSpec, PathBuf)> {
    match choose(name)? {
        Choice::Catalogue(spec) => {
            let path = fetch::resolve(&spec, &options)?;
            Ok((spec, path))
        }
        Choice::File(path) => {
            let spec = local_file_spec(&path)?;
            if !path.is_dir() {
                fetch::verify_local(&spec, &options, &path)?;
            }
            Ok((spec, path))
        }
        Choice::Repo(id) => {
            let dir = fetch::resolve_repo(&id, &options)?;
            let spec = ModelSpec {
                name: id.display(),
                description: format!("Hugging Face repository {}", id.display()),
                ..local_file_spec(&dir)?
            };
            Ok((spec, dir))
        }
        Choice::HubGguf { repo, pick } => {
            let path = fetch::resolve_gguf(&repo, pick.as_deref(), &options)?;
            let name = name.unwrap_or_default().to_string();
            let description = format!("{name}: a GGUF file of Hugging Face {}", repo.display());
            Ok((gguf_spec(&path, Some((name, description)))?, path))
        }
    }
}

/// The catalogue entry for a GGUF file or model folder given by path: the entry with the
/// same file name, or else an entry named after the file with its family's chat template
/// (the family read from the file's header or the folder's config.json).
fn local_file_spec(path: &Path) -> Result<ModelSpec> {
    if path.is_dir() {
        let name = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_else(|| path.display().to_string());
        let description = format!("model folder {}", path.display());
        return Ok(ModelSpec::for_local_file(
            name,
            description,
            model::folder_family(path)?,
        ));
    }
    gguf_spec(path, None)
}

/// The catalogue entry with the GGUF file's name, or else an entry of its own, named and
/// described as `own` says (after the file where `own` is `None`).
fn gguf_spec(path: &Path, own: Option<(String, String)>) -> Result<ModelSpec> {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut spec = match catalogue::all().into_iter().find(|spec| spec.file == file) {
        Some(spec) => spec,
        None => {
            let (name, description) = own.unwrap_or_else(|| {
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
                (
                    stem.unwrap_or_default(),
                    format!("local file {}", path.display()),
                )
            });
            ModelSpec::for_local_file(name, description, model::family_of(path)?)
        }
    };
    spec.sources.clear();
    Ok(spec)
}

/// The name and sha256 of the model `name` names, without loading it: the catalogue's
/// published hash (nothing is read or fetched), else the hash of the file, recorded once
/// beside it.
pub fn identity(name: Option<&str>, offline: bool) -> Result<(String, String)> {
    if let Choice::Catalogue(ModelSpec {
        name,
        sha256: Some(sha256),
        ..
    }) = choose(name)?
    {
        return Ok((name, sha256));
    }
    let (spec, path) = resolve(name, offline)?;
    let options = FetchOptions::from_env(offline);
    let sha256 = if path.is_dir() {
        folder_sha256(&spec, &options, &path)?
    } else {
        fetch::file_sha256(&spec, &options, &path)?
    };
    Ok((spec.name, sha256))
}

/// The sha256 of a model folder: of the names and sha256s of its files, in name order, so
/// that a change to any of them is a different model.
fn folder_sha256(spec: &ModelSpec, options: &FetchOptions, dir: &Path) -> Result<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list model folder", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("{}: cannot list model folder", dir.display()))?;
    files.retain(|file| file.is_file());
    files.sort();
    let mut listing = Sha256::new();
    for file in files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let sha256 = fetch::file_sha256(spec, options, &file)?;
        listing.update(format!("{name} {sha256}\n"));
    }
    Ok(format!("{:x}", listing.finalize()))
}

/// Loads the model file `path` of `spec` on `device`, ready to summarize.
/// The thread settings of [`crate::device::set_threads`] that no caller made are made here
/// (one per core), so that a library user gets them too.
pub fn load(spec: ModelSpec, path: &Path, device: Device) -> Result<Summarizer> {
    crate::device::set_threads(None)?;
    let loaded = model::load(path, &device)?;
    Summarizer::new(loaded, spec, device)
}

impl Summarizer {
    /// The library's way in: the model `name` names — a catalogue name (`abridge models
    /// list`), a GGUF file, a model folder or a Hub repository `ORG/NAME`, as `--model`
    /// takes them — found, fetched where needed (not with `ABRIDGE_OFFLINE=1`) and
    /// verified, then loaded on a GPU when this build and the machine have one, else the
    /// CPU.
    ///
    /// ```no_run
    /// use abridge::{Summarizer, SummaryOptions};
    ///
    /// let mut summarizer = Summarizer::from_name("qwen2.5-coder-0.5b-instruct")?;
    /// let options = SummaryOptions { words: 60, ..SummaryOptions::default() };
    /// let summary = summarizer.summary_of("The council of Kellerby voted on Tuesday …", &options)?;
    /// println!("{} ({} tokens in)", summary.summary, summary.input_tokens);
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn from_name(name: &str) -> Result<Summarizer> {
        let (spec, path) = resolve(Some(name), false)?;
        load(
            spec,
            &path,
            crate::device::open(crate::device::DeviceChoice::Auto)?,
        )
    }
}
