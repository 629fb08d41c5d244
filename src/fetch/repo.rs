//! Model folders from Hugging Face Hub repositories (`--model ORG/NAME[@REVISION]`): the
//! files a transformers model needs — `config.json`, `tokenizer.json`,
//! `generation_config.json` where the repository has one, and `model.safetensors` or the
//! shards its index lists — found in the Hugging Face cache (used in place) or, unless
//! offline, downloaded into it through hf-hub (`HF_ENDPOINT`, `HF_TOKEN` and the token file
//! honoured). The cache's snapshot folder is the model folder.
//!
//! Each file is checked against the name the hub gives its blob, its ETag: a large (LFS)
//! file's sha256, a small file's git blob id (sha1 of `blob <size>\0` and the content). A
//! file that fails is removed from the cache (blob and snapshot link) and reported. A
//! file's sha256 is recorded in a sidecar, so it is hashed once while its size and
//! modification time stay the same.

use super::hub::remove_snapshot_file;
use super::verify::{path_sidecar, recorded_sha256};
use super::{io_error, FetchError, FetchOptions};
use crate::model::{SLOW_TOKENIZERS, SLOW_TOKENIZER_SETTINGS, WEIGHT_FILES};
use hf_hub::api::sync::{Api, ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};
use sha1::Sha1;
use sha2::Digest;
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A Hugging Face model repository named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoId {
    /// `ORG/NAME`.
    pub repo: String,
    /// Branch, tag or commit; `main` when absent.
    pub revision: Option<String>,
}

impl RepoId {
    /// `ORG/NAME` or `ORG/NAME@REVISION`, each part letters, digits, `-`, `_` or `.` (not
    /// starting with `.`); anything else is not a repository id.
    pub fn parse(name: &str) -> Option<RepoId> {
        let (repo, revision) = match name.split_once('@') {
            Some((repo, revision)) => (repo, Some(revision)),
            None => (name, None),
        };
        let (org, model) = repo.split_once('/')?;
        let part = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let revision_ok = revision.is_none_or(|r| part(r) || r.split('/').all(part));
        (part(org) && part(model) && revision_ok).then(|| RepoId {
            repo: repo.to_string(),
            revision: revision.map(str::to_string),
        })
    }

    fn hub_repo(&self) -> Repo {
        let revision = self.revision.clone().unwrap_or_else(|| "main".to_string());
        Repo::with_revision(self.repo.clone(), RepoType::Model, revision)
    }

    /// How the id is written (`ORG/NAME@REVISION`).
    pub fn display(&self) -> String {
        match &self.revision {
            Some(revision) => format!("{}@{revision}", self.repo),
            None => self.repo.clone(),
        }
    }
}

/// Where one repository's files come from: the cache, and the hub unless offline.
struct Files<'a> {
    id: &'a RepoId,
    opts: &'a FetchOptions,
    cache: Cache,
    api: Option<Api>,
}

impl Files<'_> {
    fn error(&self, file: &str, reason: String) -> FetchError {
        FetchError::HuggingFace {
            repo: self.id.display(),
            file: file.to_string(),
            reason,
        }
    }

    /// `file` from the cache, or downloaded; `None` when the hub has no such file (or, offline, the
    /// cache has none). Either way it is checked against its blob's name.
    fn get(&self, file: &str) -> Result<Option<PathBuf>, FetchError> {
        let cached = self.cache.repo(self.id.hub_repo()).get(file);
        let path = match (cached, &self.api) {
            (Some(path), _) => path,
            (None, None) => return Ok(None),
            (None, Some(api)) => match api.repo(self.id.hub_repo()).download(file) {
                Ok(path) => path,
                Err(err) if is_not_found(&err) => return Ok(None),
                Err(err) => return Err(self.error(file, err.to_string())),
            },
        };
        if let Err(err) = check_blob(self.opts, &path) {
            remove_snapshot_file(&path);
            return Err(err);
        }
        Ok(Some(path))
    }

    fn require(&self, file: &str) -> Result<PathBuf, FetchError> {
        self.get(file)?.ok_or_else(|| self.missing(file))
    }

    /// Whether every one of `files` is there (each fetched as [`Files::get`] does, up to the
    /// first that is not).
    fn all(&self, files: &[&str]) -> Result<bool, FetchError> {
        for file in files {
            if self.get(file)?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The error for a file the repository (or, offline, the cache) does not have.
    fn missing(&self, file: &str) -> FetchError {
        match self.api {
            Some(_) => self.error(file, "the repository has no such file".to_string()),
            None => FetchError::OfflineRepoMissing {
                repo: self.id.display(),
                file: file.to_string(),
            },
        }
    }
}

/// Whether hf-hub's error is the hub saying the file does not exist (HTTP 404).
fn is_not_found(err: &ApiError) -> bool {
    matches!(err, ApiError::RequestError(err) if matches!(**err, ureq::Error::Status(404, _)))
}

impl<'a> Files<'a> {
    /// `id`'s files: the Hugging Face cache, and the hub through hf-hub unless offline.
    fn open(id: &'a RepoId, opts: &'a FetchOptions) -> Result<Self, FetchError> {
        let cache = Cache::new(opts.hf_cache.clone());
        let api = match opts.offline {
            true => None,
            false => {
                let mut builder =
                    ApiBuilder::from_cache(cache.clone()).with_progress(opts.progress);
                if let Some(endpoint) = &opts.hf_endpoint {
                    builder = builder.with_endpoint(endpoint.clone());
                }
                if let Some(token) = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()) {
                    builder = builder.with_token(Some(token));
                }
                let api = builder.build().map_err(|err| FetchError::HuggingFace {
                    repo: id.display(),
                    file: String::new(),
                    reason: err.to_string(),
                })?;
                Some(api)
            }
        };
        Ok(Files {
            id,
            opts,
            cache,
            api,
        })
    }

    /// The names of the repository's files: the hub's listing, or offline the cached
    /// snapshot's.
    fn list(&self) -> Result<Vec<String>, FetchError> {
        match &self.api {
            Some(api) => {
                let info =
                    api.repo(self.id.hub_repo()).info().map_err(|err| {
                        match is_not_found(&err) {
                            true => self.error("", "no such repository".to_string()),
                            false => self.error("", err.to_string()),
                        }
                    })?;
                Ok(info.siblings.into_iter().map(|s| s.rfilename).collect())
            }
            None => {
                let folder = self.opts.hf_cache.join(self.id.hub_repo().folder_name());
                let revision = self.id.revision.as_deref().unwrap_or("main");
                // A revision without a ref is a commit.
                let commit = fs::read_to_string(folder.join("refs").join(revision))
                    .unwrap_or_else(|_| revision.to_string());
                let snapshot = folder.join("snapshots").join(commit.trim());
                let Ok(entries) = fs::read_dir(&snapshot) else {
                    return Ok(Vec::new());
                };
                Ok(entries
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect())
            }
        }
    }
}

/// The GGUF file of a Hub repository that `pick` names: a file name (ending in `.gguf`),
/// else a quantization (`Q4_K_M`, `q8_0`: the one file whose name has it, case
/// ignored), else Q4_K_M where there are several and the only one where there is one.
/// Fetched into the Hugging Face cache where needed and checked like any repository file.
pub fn resolve_gguf(
    id: &RepoId,
    pick: Option<&str>,
    opts: &FetchOptions,
) -> Result<PathBuf, FetchError> {
    let files = Files::open(id, opts)?;
    let file = match pick.filter(|p| p.ends_with(".gguf")) {
        Some(file) => file.to_string(),
        None => {
            let listed: Vec<String> = files
                .list()?
                .into_iter()
                .filter(|name| name.ends_with(".gguf") && !name.contains('/'))
                .collect();
            choose_gguf(&listed, pick).map_err(|reason| match files.api {
                Some(_) => files.error(pick.unwrap_or(""), reason),
                None => FetchError::OfflineRepoMissing {
                    repo: id.display(),
                    file: format!("{} ({reason})", pick.unwrap_or("a GGUF file")),
                },
            })?
        }
    };
    files.require(&file)
}

/// The file of `listed` that `quant` names (see [`resolve_gguf`]), or why there is none.
fn choose_gguf(listed: &[String], quant: Option<&str>) -> Result<String, String> {
    let has = |quant: &str| -> Vec<&String> {
        let quant = quant.to_ascii_lowercase();
        listed
            .iter()
            .filter(|name| name.to_ascii_lowercase().contains(&quant))
            .collect()
    };
    let matches = match quant {
        Some(quant) => has(quant),
        None if listed.len() == 1 => listed.iter().collect(),
        None => has("q4_k_m"),
    };
    match matches.as_slice() {
        [one] => Ok(one.to_string()),
        [] if listed.is_empty() => Err("no GGUF file found".to_string()),
        [] => Err(format!(
            "no file for {}; GGUF files: {}",
            quant.unwrap_or("Q4_K_M"),
            listed.join(", ")
        )),
        several => Err(format!(
            "several files match {}: {}; name one",
            quant.unwrap_or("Q4_K_M"),
            several
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The snapshot folder holding `id`'s model files, fetched where needed: `config.json`; the
/// tokenizer (`tokenizer.json`, else a slow tokenizer's `vocab.json` + `merges.txt` or
/// `spiece.model` with the files that name its special tokens); the optional
/// `generation_config.json`; the weights (safetensors, else `pytorch_model.bin`, single or
/// sharded).
pub fn resolve_repo(id: &RepoId, opts: &FetchOptions) -> Result<PathBuf, FetchError> {
    let files = Files::open(id, opts)?;
    let config = files.require("config.json")?;
    if files.get("tokenizer.json")?.is_none() {
        let mut found = false;
        for set in SLOW_TOKENIZERS {
            found = files.all(set)?;
            if found {
                break;
            }
        }
        if !found {
            return Err(files.missing("tokenizer.json"));
        }
        for name in SLOW_TOKENIZER_SETTINGS {
            files.get(name)?;
        }
    }
    files.get("generation_config.json")?;
    let mut weights = false;
    for (single, index) in WEIGHT_FILES {
        if files.get(single)?.is_some() {
            weights = true;
        } else if let Some(index) = files.get(index)? {
            for shard in shards(&index)? {
                files.require(&shard)?;
            }
            weights = true;
        }
        if weights {
            break;
        }
    }
    if !weights {
        return Err(files.missing(WEIGHT_FILES[0].0));
    }
    Ok(config
        .parent()
        .expect("a snapshot file lives in a folder")
        .to_path_buf())
}

/// The snapshot folder of `id` in the Hugging Face cache, if it holds a `config.json`.
pub(super) fn cached_folder(id: &RepoId, opts: &FetchOptions) -> Option<PathBuf> {
    let config = Cache::new(opts.hf_cache.clone())
        .repo(id.hub_repo())
        .get("config.json")?;
    config.parent().map(Path::to_path_buf)
}

/// The repositories in the Hugging Face cache whose main snapshot is a model folder, with
/// that folder, by name.
pub fn cached_repos(opts: &FetchOptions) -> Vec<(RepoId, PathBuf)> {
    let Ok(entries) = fs::read_dir(&opts.hf_cache) else {
        return Vec::new();
    };
    let mut repos: Vec<(RepoId, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let (org, model) = name.strip_prefix("models--")?.split_once("--")?;
            let id = RepoId::parse(&format!("{org}/{model}"))?;
            let folder = cached_folder(&id, opts)?;
            Some((id, folder))
        })
        .collect();
    repos.sort_by(|a, b| a.0.repo.cmp(&b.0.repo));
    repos
}

/// Removes `id`'s folder from the Hugging Face cache (every revision); returns it, or
/// `None` when there was none.
pub fn remove_repo(id: &RepoId, opts: &FetchOptions) -> Result<Option<PathBuf>, FetchError> {
    let folder = opts.hf_cache.join(id.hub_repo().folder_name());
    if !folder.is_dir() {
        return Ok(None);
    }
    fs::remove_dir_all(&folder).map_err(io_error(&folder))?;
    Ok(Some(folder))
}

/// The shard files an index maps tensors to.
fn shards(index: &Path) -> Result<BTreeSet<String>, FetchError> {
    let bad = |reason: &str| FetchError::Io {
        path: index.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason.to_string()),
    };
    let text = fs::read_to_string(index).map_err(io_error(index))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad("not valid JSON"))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no weight_map"))?;
    map.values()
        .map(|file| match file.as_str() {
            Some(name) if !name.contains(['/', '\\']) && !name.starts_with('.') => {
                Ok(name.to_string())
            }
            _ => Err(bad("a shard name is not a file name in the repository")),
        })
        .collect()
}

/// Checks a cached file against its blob's name: a sha256 (LFS) or a git blob id.
fn check_blob(opts: &FetchOptions, snapshot: &Path) -> Result<(), FetchError> {
    let blob = fs::canonicalize(snapshot).map_err(io_error(snapshot))?;
    let expected = blob
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let is_hex = |len| expected.len() == len && expected.bytes().all(|b| b.is_ascii_hexdigit());
    let actual = if is_hex(64) {
        recorded_sha256(&path_sidecar(opts, &blob), &blob, opts.progress)?
    } else if is_hex(40) {
        git_blob_id(&blob)?
    } else {
        // Not a name the hub gives: nothing to check it against.
        return Ok(());
    };
    if actual != expected.to_ascii_lowercase() {
        return Err(FetchError::ChecksumMismatch {
            path: snapshot.to_path_buf(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// git's id of a blob: the sha1 of `blob <size>\0` followed by the content.
fn git_blob_id(file: &Path) -> Result<String, FetchError> {
    let mut content = Vec::new();
    fs::File::open(file)
        .and_then(|mut f| f.read_to_end(&mut content))
        .map_err(io_error(file))?;
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", content.len()));
    hasher.update(&content);
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_ids_are_org_slash_name_with_an_optional_revision() {
        let id = RepoId::parse("sshleifer/distilbart-cnn-12-6").unwrap();
        assert_eq!(id.repo, "sshleifer/distilbart-cnn-12-6");
        assert_eq!(id.revision, None);
        let id = RepoId::parse("google/pegasus-cnn_dailymail@v1.0").unwrap();
        assert_eq!(id.revision.as_deref(), Some("v1.0"));
        for not_an_id in [
            "model.gguf",
            "a/b/c",
            "/abs",
            "org/",
            "../x",
            "a/..",
            "a b/c",
        ] {
            assert_eq!(RepoId::parse(not_an_id), None, "{not_an_id}");
        }
    }

    #[test]
    fn a_gguf_file_is_picked_by_name_quantization_or_default() {
        let listed: Vec<String> = ["M-Q4_K_M.gguf", "M-Q8_0.gguf", "M-Q4_K_S.gguf"]
            .map(str::to_string)
            .to_vec();
        assert_eq!(choose_gguf(&listed, None).unwrap(), "M-Q4_K_M.gguf");
        assert_eq!(choose_gguf(&listed, Some("q8_0")).unwrap(), "M-Q8_0.gguf");
        let err = choose_gguf(&listed, Some("Q4_K")).unwrap_err();
        assert!(err.starts_with("several files match Q4_K"), "{err}");
        let err = choose_gguf(&listed, Some("Q2_K")).unwrap_err();
        assert!(err.contains("M-Q8_0.gguf"), "{err}");
        let one = vec!["only-f16.gguf".to_string()];
        assert_eq!(choose_gguf(&one, None).unwrap(), "only-f16.gguf");
        assert_eq!(choose_gguf(&[], None).unwrap_err(), "no GGUF file found");
    }

    #[test]
    fn a_git_blob_id_is_what_git_computes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hello");
        fs::write(&file, "hello\n").unwrap();
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            git_blob_id(&file).unwrap(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}
