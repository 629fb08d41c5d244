//! Finding the articles under the paths a user names: files taken as they are, folders
//! walked recursively (following links) for the files a [`Selection`] takes — by extension
//! or by `--glob`, hidden entries and the output folder skipped — in a stable order, each
//! file once.

use super::{InputError, InputProblem};
use crate::error::RequestError;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// File extensions (lower-case) that a folder walk takes as articles when no `--glob` is given.
const ARTICLE_EXTENSIONS: &[&str] = &["txt", "text", "md", "markdown", "html", "htm"];

/// An article file named on the command line or found under a folder named there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Where to read it.
    pub path: PathBuf,
    /// Its path below the folder named on the command line, or its file name when it was
    /// named itself: where its summary goes under `--out`, and what picks its shard (for a
    /// row of a structured file, the file's with the row's id below it).
    pub relative: PathBuf,
    /// The row of a structured file it is (see `rows.rs`), or `None` for a whole file.
    pub row: Option<Row>,
}

impl Input {
    /// What it is called in messages and records: its path, and `#ID` for a row.
    pub fn name(&self) -> String {
        match &self.row {
            Some(row) => format!("{}#{}", self.path.display(), row.id),
            None => self.path.display().to_string(),
        }
    }
}

/// One row of a structured file (see `rows.rs`): its id and its text, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub text: Result<String, String>,
}

/// Which files a folder walk takes.
#[derive(Debug)]
pub struct Selection {
    /// `--glob` patterns, matched against the path below the folder; `None` takes the
    /// article extensions.
    globs: Option<GlobSet>,
    /// A folder never walked into (the output folder), canonical.
    skip: Option<PathBuf>,
}

impl Selection {
    /// Files matching one of `globs` (with none, the article extensions), never inside
    /// the folder `skip`.
    pub fn new(globs: &[String], skip: Option<&Path>) -> Result<Self, RequestError> {
        let globs = if globs.is_empty() {
            None
        } else {
            let mut set = GlobSetBuilder::new();
            for glob in globs {
                set.add(Glob::new(glob).map_err(|e| RequestError(format!("--glob: {e}")))?);
            }
            Some(
                set.build()
                    .map_err(|e| RequestError(format!("--glob: {e}")))?,
            )
        };
        Ok(Self {
            globs,
            skip: skip.and_then(|dir| fs::canonicalize(dir).ok()),
        })
    }

    fn takes(&self, relative: &Path) -> bool {
        match &self.globs {
            Some(globs) => globs.is_match(relative),
            None => relative.extension().is_some_and(|extension| {
                ARTICLE_EXTENSIONS
                    .contains(&extension.to_string_lossy().to_ascii_lowercase().as_str())
            }),
        }
    }

    fn is_skipped_folder(&self, folder: &Path) -> bool {
        self.skip
            .as_ref()
            .is_some_and(|skip| fs::canonicalize(folder).is_ok_and(|folder| &folder == skip))
    }
}

/// The articles under `paths`, in a stable order: the paths in command-line order, the
/// files of each folder sorted by their path below it. A file named itself is taken
/// whatever its name; folders are walked recursively (following links) for the files the
/// selection takes, skipping hidden entries. A file reached twice is taken once. A broken
/// or looping link is taken when its name is selected (its read then fails, for that
/// article alone) and passed over otherwise: it never stops the walk.
pub fn find_articles(paths: &[PathBuf], selection: &Selection) -> Result<Vec<Input>, InputError> {
    let mut inputs = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let metadata = fs::metadata(path).map_err(|error| InputError::from_io(&name, error))?;
        if !metadata.is_dir() {
            let file_name = path.file_name().unwrap_or(path.as_os_str());
            inputs.push(Input {
                path: path.clone(),
                relative: PathBuf::from(file_name),
                row: None,
            });
            continue;
        }
        let walk = walkdir::WalkDir::new(path)
            .follow_links(true)
            .into_iter()
            .filter_entry(|entry| {
                entry.depth() == 0
                    || !(is_hidden(entry.file_name())
                        || entry.file_type().is_dir() && selection.is_skipped_folder(entry.path()))
            });
        let mut found = Vec::new();
        for entry in walk {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    // A link that leads nowhere (dangling, or looping back up the tree) is
                    // left to the read to report, like any unreadable file, when the
                    // selection takes its name, and passed over when it does not.
                    let Some(link) = broken_link(&error) else {
                        return Err(walk_error(&name, error));
                    };
                    let relative = link
                        .strip_prefix(path)
                        .expect("a walk stays below its root")
                        .to_path_buf();
                    if selection.takes(&relative) {
                        found.push(Input {
                            path: link,
                            relative,
                            row: None,
                        });
                    }
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry
                .path()
                .strip_prefix(path)
                .expect("a walk stays below its root")
                .to_path_buf();
            if selection.takes(&relative) {
                found.push(Input {
                    path: entry.into_path(),
                    relative,
                    row: None,
                });
            }
        }
        if found.is_empty() {
            return Err(InputError::rejected(&name, InputProblem::NoArticles));
        }
        found.sort_by(|a, b| a.relative.cmp(&b.relative));
        inputs.extend(found);
    }
    let mut seen = HashSet::new();
    inputs.retain(|input| seen.insert(identity(&input.path)));
    Ok(inputs)
}

/// What tells two paths to one file apart from paths to two: the canonical path, or for a
/// broken link (which has none) its folder's canonical path and its name.
fn identity(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| {
        match (
            path.parent().and_then(|p| fs::canonicalize(p).ok()),
            path.file_name(),
        ) {
            (Some(folder), Some(name)) => folder.join(name),
            _ => path.to_path_buf(),
        }
    })
}

/// The path of the symbolic link a walk error is about, if it is about one that is broken
/// (its target missing) or loops.
fn broken_link(error: &walkdir::Error) -> Option<PathBuf> {
    let path = error.path()?;
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    (is_link || error.loop_ancestor().is_some()).then(|| path.to_path_buf())
}

fn walk_error(root: &str, error: walkdir::Error) -> InputError {
    let name = error
        .path()
        .map_or_else(|| root.to_string(), |path| path.display().to_string());
    let error = error
        .into_io_error()
        .unwrap_or_else(|| io::Error::other("filesystem loop"));
    InputError::from_io(&name, error)
}

fn is_hidden(file_name: &OsStr) -> bool {
    file_name.to_string_lossy().starts_with('.')
}
