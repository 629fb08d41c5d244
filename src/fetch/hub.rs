//! Model files from the Hugging Face Hub through `hf-hub`: found in the hub's cache and
//! used in place, or downloaded into it (`HF_ENDPOINT` honoured) and verified.

use super::{verify::verify, FetchError, FetchOptions};
use crate::catalogue::{ModelSpec, Source};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};
use std::fs;
use std::path::{Path, PathBuf};

/// A file in a Hugging Face repository, as named by a catalogue source.
pub(super) struct HfFile<'a> {
    pub(super) repo: &'a str,
    pub(super) file: &'a str,
    pub(super) revision: Option<&'a str>,
}

impl<'a> HfFile<'a> {
    pub(super) fn from_source(source: &'a Source) -> Option<Self> {
        match source {
            Source::HuggingFace {
                repo,
                file,
                revision,
            } => Some(Self {
                repo,
                file,
                revision: revision.as_deref(),
            }),
            Source::Mirror { .. } | Source::HuggingFaceRepo { .. } => None,
        }
    }

    pub(super) fn hub_repo(&self) -> Repo {
        let revision = self.revision.unwrap_or("main").to_string();
        Repo::with_revision(self.repo.to_string(), RepoType::Model, revision)
    }

    /// The file's snapshot path in the hf-hub cache, if present: through `refs/<revision>`,
    /// or directly under `snapshots/<revision>` for a commit revision (which has no ref).
    pub(super) fn find_in_cache(&self, hf_cache: &Path) -> Option<PathBuf> {
        let repo = self.hub_repo();
        let by_ref = Cache::new(hf_cache.to_path_buf())
            .repo(repo.clone())
            .get(self.file);
        by_ref.or_else(|| {
            let snapshot = hf_cache
                .join(repo.folder_name())
                .join("snapshots")
                .join(self.revision?)
                .join(self.file);
            snapshot.exists().then_some(snapshot)
        })
    }

    /// Downloads the file with hf-hub into the Hugging Face cache and verifies it there;
    /// a file that fails verification is deleted (snapshot link and blob).
    pub(super) fn download(
        &self,
        spec: &ModelSpec,
        opts: &FetchOptions,
    ) -> Result<PathBuf, FetchError> {
        let hub_error = |reason: String| FetchError::HuggingFace {
            repo: self.repo.to_string(),
            file: self.file.to_string(),
            reason,
        };
        let mut builder =
            ApiBuilder::from_cache(Cache::new(opts.hf_cache.clone())).with_progress(opts.progress);
        if let Some(endpoint) = &opts.hf_endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        let api = builder.build().map_err(|err| hub_error(err.to_string()))?;
        let path = api
            .repo(self.hub_repo())
            .download(self.file)
            .map_err(|err| hub_error(err.to_string()))?;
        if let Err(err) = verify(spec, opts, &path) {
            if err.is_mismatch() {
                remove_snapshot_file(&path);
            }
            return Err(err);
        }
        Ok(path)
    }
}

/// Removes a file from the hf-hub cache: the blob a snapshot link points to, then the link.
/// Best effort: what cannot be removed is left for the next verification to reject.
pub(super) fn remove_snapshot_file(snapshot: &Path) {
    if let Ok(blob) = fs::canonicalize(snapshot) {
        let _ = fs::remove_file(blob);
    }
    let _ = fs::remove_file(snapshot);
}
