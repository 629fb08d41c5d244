//! Making sure a model file is the one its catalogue entry names: streamed sha256 and
//! size checks, and the sidecar records that let a file be hashed once and trusted while
//! its size and modification time are unchanged.

use super::{
    byte_bar, cached_path, display_name, io_error, FetchError, FetchOptions, HashingWriter, BUFFER,
    LARGE_FILE,
};
use crate::catalogue::ModelSpec;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Lower-case hex sha256 of a file, streamed, with a progress bar on stderr for large
/// files when stderr is a terminal.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    hash_file(path, io::stderr().is_terminal())
}

pub(super) fn hash_file(path: &Path, progress: bool) -> io::Result<String> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let bar = byte_bar(
        progress && len >= LARGE_FILE,
        Some(len),
        format!("checking {}", display_name(path)),
    );
    let mut writer = HashingWriter::new(io::sink(), bar.clone());
    io::copy(&mut BufReader::with_capacity(BUFFER, file), &mut writer)?;
    bar.finish_and_clear();
    Ok(writer.finish()?.1)
}

/// What a sidecar records about a file whose sha256 has been computed.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Verified {
    pub(super) sha256: String,
    pub(super) size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    mtime_ns: u64,
}

/// The sidecar that records the verification of `file`.
pub(super) fn sidecar_path(spec: &ModelSpec, opts: &FetchOptions, file: &Path) -> PathBuf {
    let cached = cached_path(spec, opts);
    if file == cached {
        cached.with_file_name(format!("{}.verified", spec.file))
    } else {
        path_sidecar(opts, file)
    }
}

/// The sidecar of a file outside abridge's model cache: named by the hash of its path.
pub(super) fn path_sidecar(opts: &FetchOptions, file: &Path) -> PathBuf {
    let key = Sha256::digest(file.as_os_str().as_encoded_bytes());
    opts.cache_dir
        .join("verified")
        .join(format!("{key:x}.json"))
}

/// Size and modification time of a file (following symlinks).
pub(super) fn stamp(file: &Path) -> io::Result<(u64, u64)> {
    let meta = fs::metadata(file)?;
    let mtime_ns = meta
        .modified()?
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    Ok((meta.len(), mtime_ns))
}

pub(super) fn read_sidecar(sidecar: &Path) -> Option<Verified> {
    serde_json::from_slice(&fs::read(sidecar).ok()?).ok()
}

/// Records that `file` (as it is now) hashes to `sha256`, atomically.
pub(super) fn write_sidecar(sidecar: &Path, sha256: &str, file: &Path) -> Result<(), FetchError> {
    let (size, mtime_ns) = stamp(file).map_err(io_error(file))?;
    let record = Verified {
        sha256: sha256.to_string(),
        size,
        mtime_ns,
    };
    let dir = sidecar.parent().expect("a sidecar lives in a directory");
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
    let json = serde_json::to_vec_pretty(&record).expect("a sidecar serializes");
    tmp.write_all(&json).map_err(io_error(tmp.path()))?;
    tmp.persist(sidecar)
        .map_err(|err| io_error(sidecar)(err.error))?;
    Ok(())
}

/// The hash `spec`'s file must have: the catalogue's, else the one recorded on first use.
pub(super) fn expected_sha256(spec: &ModelSpec, recorded: Option<&Verified>) -> Option<String> {
    spec.sha256
        .clone()
        .or_else(|| recorded.map(|r| r.sha256.clone()))
}

pub(super) fn check_size(spec: &ModelSpec, file: &Path, actual: u64) -> Result<(), FetchError> {
    match spec.size {
        Some(expected) if expected != actual => Err(FetchError::SizeMismatch {
            path: file.to_path_buf(),
            expected,
            actual,
        }),
        _ => Ok(()),
    }
}

/// Compares a computed hash with the expected one; with none expected (an unverified
/// model seen for the first time) it warns and accepts, so the caller records the hash.
pub(super) fn check_sha256(
    spec: &ModelSpec,
    file: &Path,
    expected: Option<&str>,
    actual: &str,
) -> Result<(), FetchError> {
    match expected {
        Some(expected) if expected != actual => Err(FetchError::ChecksumMismatch {
            path: file.to_path_buf(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        }),
        Some(_) => Ok(()),
        None => {
            eprintln!(
                "warning: {} has no published sha256; downloaded file hashes to {actual} \
                 (recorded; later runs check against it)",
                spec.name
            );
            Ok(())
        }
    }
}

/// The sha256 of a model file: the hash its sidecar records while the file's size and
/// modification time are unchanged (for a file `resolve` returned, the hash it was
/// verified against), else computed now and recorded. Nothing is checked against the
/// catalogue: this names a file, it does not verify it.
pub fn file_sha256(
    spec: &ModelSpec,
    opts: &FetchOptions,
    file: &Path,
) -> Result<String, FetchError> {
    recorded_sha256(&sidecar_path(spec, opts, file), file, opts.progress)
}

/// The sha256 of `file`: the one `sidecar` records while the file's size and modification
/// time are those recorded, else hashed now (and recorded).
pub(super) fn recorded_sha256(
    sidecar: &Path,
    file: &Path,
    progress: bool,
) -> Result<String, FetchError> {
    let (size, mtime_ns) = stamp(file).map_err(io_error(file))?;
    if let Some(recorded) = read_sidecar(sidecar) {
        if recorded.size == size && recorded.mtime_ns == mtime_ns {
            return Ok(recorded.sha256);
        }
    }
    let sha256 = hash_file(file, progress).map_err(io_error(file))?;
    write_sidecar(sidecar, &sha256, file)?;
    Ok(sha256)
}

/// Checks that `file` is `spec`'s file, rehashing only when its sidecar is missing or stale
/// (or always, with [`FetchOptions::full_check`]). A file that fails loses its sidecar.
pub(super) fn verify(spec: &ModelSpec, opts: &FetchOptions, file: &Path) -> Result<(), FetchError> {
    let sidecar = sidecar_path(spec, opts, file);
    let recorded = read_sidecar(&sidecar);
    let expected = expected_sha256(spec, recorded.as_ref());
    let (size, mtime_ns) = stamp(file).map_err(io_error(file))?;
    if let (Some(recorded), Some(expected), false) = (&recorded, &expected, opts.full_check) {
        if recorded.size == size && recorded.mtime_ns == mtime_ns && recorded.sha256 == *expected {
            return Ok(());
        }
    }
    let checked = check_size(spec, file, size).and_then(|()| {
        let actual = hash_file(file, opts.progress).map_err(io_error(file))?;
        check_sha256(spec, file, expected.as_deref(), &actual)?;
        Ok(actual)
    });
    match checked {
        Ok(actual) => write_sidecar(&sidecar, &actual, file),
        Err(error) => {
            if error.is_mismatch() {
                let _ = fs::remove_file(&sidecar);
            }
            Err(error)
        }
    }
}

/// Checks a model file the user named by path against the catalogue entry of the same
/// file name, where that entry publishes a sha256 (hashed on first use, then trusted while
/// its size and modification time are unchanged, or hashed again with
/// [`FetchOptions::full_check`]); a file of no catalogue entry is taken as it is.
pub fn verify_local(spec: &ModelSpec, opts: &FetchOptions, file: &Path) -> Result<(), FetchError> {
    match spec.sha256 {
        Some(_) => verify(spec, opts, file),
        None => Ok(()),
    }
}
