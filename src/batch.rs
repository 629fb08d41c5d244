//! Batch runs over the articles found under folders (`crate::input::find_articles`): where
//! each summary goes under `--out`, the records that let a re-run skip every summary that
//! is up to date, shard selection (`--shard K/N`), and the run loop: the model loaded only
//! once an article needs it, a progress bar, failures reported by name and counted, and a
//! clean stop after the articles in flight when the caller raises its stop flag.

use crate::error::RequestError;
use crate::input::{self, sha256_hex, Article, Input, InputError};
use crate::output::{self, Summary};
use crate::summarize::{Interrupted, SummaryOptions};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The folder inside `--out` that holds one record per summary written.
const RECORDS_DIR: &str = ".abridge";

/// Refuses an output folder that is one of the input folders or holds one: its summaries
/// (`.summary.txt` files) would be read back as articles on the next run. An output folder
/// inside an input folder is fine; the walk skips it.
pub fn check_out_folder(out: &Path, paths: &[PathBuf]) -> Result<(), RequestError> {
    let Ok(out_canonical) = fs::canonicalize(out) else {
        return Ok(()); // Not created yet, so it holds no input.
    };
    for path in paths {
        if let Ok(path_canonical) = fs::canonicalize(path) {
            if path.is_dir() && path_canonical.starts_with(&out_canonical) {
                return Err(RequestError(format!(
                    "--out {} holds the input folder {}: its summaries would be read back as \
                     articles; choose an output folder outside the inputs (or inside one)",
                    out.display(),
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// `--shard K/N`: the articles whose stable hash is K modulo N, so that N machines given
/// the same folder split it with no coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let number = |part: &str| {
            part.parse::<u64>()
                .map_err(|_| format!("`{text}` is not K/N, e.g. 0/4"))
        };
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not K/N, e.g. 0/4"))?;
        let (index, count) = (number(index)?, number(count)?);
        if count == 0 {
            return Err(format!("`{text}`: N must be at least 1"));
        }
        if index >= count {
            return Err(format!(
                "`{text}`: K must be less than N (the shards of {count} are 0 to {})",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// Whether the article at `relative` is in this shard: the first eight bytes of the
    /// sha256 of its path (components joined by `/`), modulo N.
    pub fn contains(&self, relative: &Path) -> bool {
        let key: Vec<String> = relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy().into_owned())
            .collect();
        let digest = Sha256::digest(key.join("/").as_bytes());
        let hash = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        hash % self.count == self.index
    }
}

/// What a summary depends on besides its article: the model and the options that change
/// the text. A summary is up to date while its record names the same recipe and the
/// article's current content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub model: String,
    pub model_sha256: String,
    /// The [`SummaryOptions`] (length, window, overlap, decoding), as JSON.
    pub options: serde_json::Value,
}

impl Recipe {
    pub fn new(model: String, model_sha256: String, options: &SummaryOptions) -> Self {
        Self {
            model,
            model_sha256,
            options: serde_json::to_value(options).expect("summary options serialize"),
        }
    }
}

/// The record written beside each summary, under `OUT/.abridge/`.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    input_sha256: String,
    #[serde(flatten)]
    recipe: Recipe,
}

/// The `--out` folder: one summary file per article, mirroring the input tree, each with a
/// record of what it was made from.
#[derive(Debug)]
pub struct OutputFolder {
    dir: PathBuf,
    format: output::Format,
    recipe: Recipe,
    /// `--force`: no summary is up to date.
    force: bool,
}

impl OutputFolder {
    /// The folder `dir`, which must be a folder if it exists.
    pub fn new(
        dir: PathBuf,
        format: output::Format,
        recipe: Recipe,
        force: bool,
    ) -> Result<Self, RequestError> {
        if dir.exists() && !dir.is_dir() {
            return Err(RequestError(format!(
                "--out {}: not a folder",
                dir.display()
            )));
        }
        Ok(Self {
            dir,
            format,
            recipe,
            force,
        })
    }

    /// Why nothing can be written under the folder, if so, found before any model loads:
    /// a file is made and removed in the folder, or in its nearest existing parent when it
    /// does not exist yet (nothing is created for the check).
    pub fn check_writable(&self) -> Result<(), RequestError> {
        let existing = self
            .dir
            .ancestors()
            .find(|dir| dir.as_os_str().is_empty() || dir.exists())
            .map(|dir| {
                if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                }
            })
            .unwrap_or(Path::new("."));
        let problem = match existing.is_dir() {
            false => format!("{} is not a folder", existing.display()),
            true => match output::temporary_file_in(existing) {
                Ok(_) => return Ok(()),
                Err(error) => without_path(&error),
            },
        };
        Err(RequestError(format!(
            "--out {}: cannot write there: {problem}",
            self.dir.display()
        )))
    }

    /// Where the summary of the article at `relative` goes: `OUT/<relative>.summary.txt`.
    pub fn summary_path(&self, relative: &Path) -> PathBuf {
        with_suffix(self.dir.join(relative), self.format.suffix())
    }

    /// Where the record of that summary goes: `OUT/.abridge/<relative>.summary.txt.json`.
    fn record_path(&self, relative: &Path) -> PathBuf {
        let summary = with_suffix(relative.to_path_buf(), self.format.suffix());
        with_suffix(self.dir.join(RECORDS_DIR).join(summary), ".json")
    }

    /// Fails when two articles would be summarized to the same file (the same path below
    /// two folders, or two files of the same name named on the command line).
    pub fn check_distinct(&self, inputs: &[Input]) -> Result<(), RequestError> {
        let mut owners: HashMap<PathBuf, &Path> = HashMap::new();
        for input in inputs {
            let summary = self.summary_path(&input.relative);
            if let Some(first) = owners.insert(summary.clone(), &input.path) {
                return Err(RequestError(format!(
                    "{} and {} would both be summarized to {}",
                    first.display(),
                    input.path.display(),
                    summary.display()
                )));
            }
        }
        Ok(())
    }

    /// Whether the summary of `input` exists and its record names this recipe and the
    /// article's current content; never with `--force`.
    fn is_up_to_date(&self, input: &Input) -> bool {
        if self.force || !self.summary_path(&input.relative).is_file() {
            return false;
        }
        let record: Option<Record> = fs::read(self.record_path(&input.relative))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let current = match &input.row {
            Some(row) => row
                .text
                .as_ref()
                .ok()
                .map(|text| sha256_hex(text.as_bytes())),
            None => fs::read(&input.path).ok().map(|bytes| sha256_hex(&bytes)),
        };
        record.is_some_and(|record| {
            record.recipe == self.recipe && current.is_some_and(|sha| sha == record.input_sha256)
        })
    }

    /// Writes the summary of `input` and then its record, each to a temporary file renamed
    /// into place. The old record is removed first, so that however the run stops, a
    /// summary's record is true of it or missing (and the article is redone).
    fn write(&self, input: &Input, input_sha256: &str, summary: &Summary) -> io::Result<()> {
        let record_path = self.record_path(&input.relative);
        match fs::remove_file(&record_path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let rendered = self.format.render(summary);
        output::write_atomically(&self.summary_path(&input.relative), rendered.as_bytes())?;
        let record = Record {
            input_sha256: input_sha256.to_string(),
            recipe: self.recipe.clone(),
        };
        output::write_atomically(&record_path, &serde_json::to_vec(&record)?)
    }
}

/// The reason of an I/O error without the path of the temporary file it may name: the
/// operating system's message where there is one.
fn without_path(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code).to_string(),
        None => error.kind().to_string(),
    }
}

/// Whether a failure to write a summary will fail every summary after it too (a full or
/// read-only disk, no permission, a path that cannot be a folder), so that the run stops
/// rather than summarize articles only to throw the summaries away.
fn will_repeat(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        StorageFull | ReadOnlyFilesystem | PermissionDenied | QuotaExceeded | NotADirectory
    )
}

/// A run stopped because summaries cannot be written: what could not be written and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {reason}; stopped, as every summary after it would fail too (the summaries written so far are kept, and a re-run resumes)")]
pub struct WriteStopped {
    pub path: String,
    pub reason: String,
}

/// `path` with `suffix` appended to its file name (`a/b.txt` → `a/b.txt.summary.txt`).
fn with_suffix(path: PathBuf, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.file_name().unwrap_or_default());
    name.push(suffix);
    path.with_file_name(name)
}

/// Where a batch run's summaries go.
pub enum Destination<'a> {
    /// One file per article under `--out`; summaries that are up to date are skipped.
    Folder(OutputFolder),
    /// `--format jsonl`: one JSON object per article, failures included, to this writer.
    JsonLines(&'a mut dyn Write),
}

/// How a batch run went.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Tally {
    /// Articles summarized.
    pub done: usize,
    /// Articles whose summary was up to date, skipped.
    pub up_to_date: usize,
    /// Articles that could not be read or summarized, or whose summary could not be written.
    pub failed: usize,
    /// Articles not started because Ctrl-C stopped the run.
    pub not_started: usize,
    /// Whether Ctrl-C stopped the run before its end.
    pub interrupted: bool,
    /// Wall time of the run, model loading included.
    pub seconds: f64,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "done {}, up to date {}, failed {}",
            self.done, self.up_to_date, self.failed
        )?;
        if self.interrupted {
            write!(f, "; interrupted, {} not started", self.not_started)?;
        }
        if self.done > 0 {
            let per_minute = self.done as f64 * 60.0 / self.seconds;
            write!(
                f,
                " ({per_minute:.1} articles/min over {:.1} s)",
                self.seconds
            )?;
        }
        Ok(())
    }
}

/// The model, loaded on first use, so that a run with nothing to do never loads it.
struct LazyModel<L, S> {
    load: Option<L>,
    model: Option<S>,
    /// `--quiet`: no line saying how long loading took.
    quiet: bool,
}

impl<L: FnOnce() -> Result<S>, S> LazyModel<L, S> {
    fn get(&mut self, progress: &ProgressBar) -> Result<&mut S> {
        if let Some(load) = self.load.take() {
            let started = Instant::now();
            let model = progress.suspend(load)?;
            if !self.quiet {
                progress.suspend(|| {
                    eprintln!(
                        "abridge: model loaded in {:.1} s",
                        started.elapsed().as_secs_f64()
                    )
                });
            }
            self.model = Some(model);
        }
        Ok(self.model.as_mut().expect("loaded above"))
    }
}

/// Summarizes `inputs` to `destination`, in order, `group` articles at a time, until done
/// or `stop` is raised (checked between groups). Summaries already up to date are counted
/// and skipped before anything else, and `load` is called only when the first article
/// needing the model comes; it returns the function that summarizes a group of articles
/// (one result each, in order). An article that cannot be read, summarized or written is
/// reported on stderr by name and counted, and the run goes on; only a failure to load the
/// model, to write standard output, or a write failure that would repeat for every later
/// summary ([`WriteStopped`]) ends it early. `quiet` (`--quiet`) hides the progress bar
/// and the line saying how long the model took to load; failures are still reported.
pub fn run<L, S>(
    inputs: &[Input],
    max_input_bytes: u64,
    destination: &mut Destination,
    stop: &AtomicBool,
    group: usize,
    quiet: bool,
    load: L,
) -> Result<Tally>
where
    L: FnOnce() -> Result<S>,
    S: FnMut(&[Article]) -> Vec<Result<Summary>>,
{
    let started_at = Instant::now();
    let pending: Vec<&Input> = match destination {
        Destination::Folder(folder) => inputs
            .iter()
            .filter(|input| !folder.is_up_to_date(input))
            .collect(),
        Destination::JsonLines(_) => inputs.iter().collect(),
    };
    let mut tally = Tally {
        up_to_date: inputs.len() - pending.len(),
        ..Tally::default()
    };
    let progress = if quiet {
        ProgressBar::hidden()
    } else {
        progress_bar(pending.len())
    };
    let mut model = LazyModel {
        load: Some(load),
        model: None,
        quiet,
    };
    for (started, inputs) in pending.chunks(group.max(1)).enumerate() {
        if stop.load(Ordering::SeqCst) {
            tally.interrupted = true;
            tally.not_started += pending.len() - started * group.max(1);
            break;
        }
        let outcomes =
            summarize_group(inputs, max_input_bytes, destination, &mut model, &progress)?;
        for (input, outcome) in inputs.iter().zip(outcomes) {
            match outcome {
                Outcome::Done => tally.done += 1,
                // Stopped mid-summary by Ctrl-C: not finished, nothing written; the run
                // ends after this group.
                Outcome::Interrupted => {
                    tally.interrupted = true;
                    tally.not_started += 1;
                }
                Outcome::Failed(reason) => {
                    tally.failed += 1;
                    let input_name = input.name();
                    progress.suspend(|| eprintln!("abridge: {input_name}: {reason}"));
                    if let Destination::JsonLines(out) = destination {
                        output::write_failure_row(*out, &input_name, &reason)?;
                    }
                    progress.set_message(format!("{} failed", tally.failed));
                }
            }
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    tally.seconds = started_at.elapsed().as_secs_f64();
    Ok(tally)
}

/// Reads, summarizes and writes out a group of articles; returns what became of each. Only
/// a failure to load the model, to write standard output, or a write failure that would
/// repeat is an error.
fn summarize_group<L, S>(
    inputs: &[&Input],
    max_input_bytes: u64,
    destination: &mut Destination,
    model: &mut LazyModel<L, S>,
    progress: &ProgressBar,
) -> Result<Vec<Outcome>>
where
    L: FnOnce() -> Result<S>,
    S: FnMut(&[Article]) -> Vec<Result<Summary>>,
{
    let mut outcomes: Vec<Outcome> = vec![Outcome::Done; inputs.len()];
    let mut readable = Vec::with_capacity(inputs.len());
    let mut articles = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        match read_article(input, max_input_bytes) {
            Ok((article, input_sha256)) => {
                readable.push((i, input_sha256));
                articles.push(article);
            }
            Err(error) => outcomes[i] = Outcome::Failed(error.reason()),
        }
    }
    if articles.is_empty() {
        return Ok(outcomes);
    }
    let summaries = model.get(progress)?(&articles);
    for ((i, input_sha256), summary) in readable.into_iter().zip(summaries) {
        let summary = match summary {
            Ok(summary) => summary,
            Err(error) if error.is::<Interrupted>() => {
                outcomes[i] = Outcome::Interrupted;
                continue;
            }
            Err(error) => {
                outcomes[i] = Outcome::Failed(format!("{error:#}").replace('\n', " "));
                continue;
            }
        };
        let input = inputs[i];
        outcomes[i] = match destination {
            Destination::Folder(folder) => match folder.write(input, &input_sha256, &summary) {
                Ok(()) => Outcome::Done,
                Err(error) => {
                    let path = folder.summary_path(&input.relative).display().to_string();
                    let reason = without_path(&error);
                    if will_repeat(&error) {
                        return Err(WriteStopped { path, reason }.into());
                    }
                    Outcome::Failed(format!("cannot write {path}: {reason}"))
                }
            },
            Destination::JsonLines(out) => {
                output::write_summary_row(*out, &summary)?;
                Outcome::Done
            }
        };
    }
    Ok(outcomes)
}

/// What became of one article of a group.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Done,
    /// Why it failed.
    Failed(String),
    /// The stop flag cut its summary short (see [`Interrupted`]): nothing written.
    Interrupted,
}

/// The article at `input` (at most `max_bytes` long) and the sha256 of its bytes.
fn read_article(input: &Input, max_bytes: u64) -> Result<(Article, String), InputError> {
    input::read_input(input, max_bytes)
}

/// A bar of articles done, failures and time left on stderr when it is a terminal; hidden
/// otherwise.
fn progress_bar(articles: usize) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(articles as u64).with_message("0 failed");
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} articles, {msg}, {elapsed} elapsed, ETA {eta}",
        )
        .expect("valid template"),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{find_articles, InputProblem, Selection};
    use std::cell::Cell;

    /// Writes `files` (path below `root`, content) and returns `root`.
    fn tree(root: &Path, files: &[(&str, &[u8])]) -> PathBuf {
        for (file, content) in files {
            let path = root.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        root.to_path_buf()
    }

    fn relatives(inputs: &[Input]) -> Vec<String> {
        inputs
            .iter()
            .map(|input| input.relative.display().to_string())
            .collect()
    }

    fn all_articles() -> Selection {
        Selection::new(&[], None).unwrap()
    }

    fn recipe(words: usize) -> Recipe {
        let options = SummaryOptions {
            words,
            ..SummaryOptions::default()
        };
        Recipe::new("test-model".into(), "ab12".into(), &options)
    }

    fn folder(dir: &Path, recipe: Recipe, force: bool) -> OutputFolder {
        OutputFolder::new(dir.to_path_buf(), output::Format::Text, recipe, force).unwrap()
    }

    /// A stand-in for the model: each summary is the article's first word.
    fn first_words(articles: &[Article]) -> Vec<Result<Summary>> {
        articles.iter().map(first_word).collect()
    }

    fn first_word(article: &Article) -> Result<Summary> {
        Ok(Summary {
            input: article.source.clone(),
            summary: article.text.split_whitespace().next().unwrap().to_string(),
            model: "test-model".into(),
            device: "cpu".into(),
            input_words: crate::text::word_count(&article.text),
            input_tokens: 0,
            output_tokens: 0,
            chunks: 1,
            seconds: 0.0,
            decoding: Default::default(),
            instructions_left_out: 0,
            language: None,
            report: None,
        })
    }

    /// Runs `inputs` into `destination` with [`first_word`], counting model loads.
    fn run_counting_loads(
        inputs: &[Input],
        destination: &mut Destination,
        stop: bool,
    ) -> (Tally, usize) {
        let loads = Cell::new(0);
        let tally = run(
            inputs,
            input::DEFAULT_MAX_INPUT_BYTES,
            destination,
            &AtomicBool::new(stop),
            2,
            false,
            || {
                loads.set(loads.get() + 1);
                Ok(first_words)
            },
        )
        .unwrap();
        (tally, loads.get())
    }

    #[test]
    fn find_articles_walks_sorts_dedups_and_skips_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let root = tree(
            dir.path(),
            &[
                ("b.md", b"Some text."),
                ("a.txt", b"Some text."),
                ("sub/c.html", b"Some text."),
                ("sub/skip.json", b"Some text."),
                (".hidden.txt", b"Some text."),
                (".git/d.txt", b"Some text."),
            ],
        );
        let explicit = root.join("sub/skip.json");
        let paths = [root.clone(), explicit.clone(), root.join("a.txt")];
        let found = find_articles(&paths, &all_articles()).unwrap();
        let found_paths: Vec<&Path> = found.iter().map(|input| input.path.as_path()).collect();
        assert_eq!(
            found_paths,
            vec![
                root.join("a.txt"),
                root.join("b.md"),
                root.join("sub/c.html"),
                explicit
            ]
        );
        assert_eq!(
            relatives(&found),
            ["a.txt", "b.md", "sub/c.html", "skip.json"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn find_articles_takes_broken_links_it_selects_and_passes_over_the_rest() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = tree(dir.path(), &[("a.txt", b"Some text.")]);
        symlink("/nonexistent/x.txt", root.join("b.txt")).unwrap();
        symlink("/nonexistent/x.pdf", root.join("c.pdf")).unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        symlink("..", root.join("sub/loop")).unwrap();
        let found = find_articles(std::slice::from_ref(&root), &all_articles()).unwrap();
        assert_eq!(relatives(&found), ["a.txt", "b.txt"]);
        // The dangling article is reported when it is read, for itself alone.
        let error =
            crate::input::read_path(&found[1].path, input::DEFAULT_MAX_INPUT_BYTES).unwrap_err();
        assert!(error.to_string().contains("b.txt"), "{error}");
    }

    #[test]
    fn find_articles_reports_missing_paths_and_empty_folders() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("data.json"), "{}").unwrap();
        let error = find_articles(&[dir.path().to_path_buf()], &all_articles()).unwrap_err();
        assert_eq!(error.reason(), "no articles found in directory");
        let missing = dir.path().join("nope");
        let error = find_articles(&[missing], &all_articles()).unwrap_err();
        assert_eq!(error.problem(), Some(InputProblem::NotFound));
    }

    #[test]
    fn find_articles_skips_the_output_folder_and_keeps_folder_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = tree(
            dir.path(),
            &[
                ("news/z.txt", b"Text."),
                ("news/out/a.txt.summary.txt", b"Summary."),
                ("news/deep/er/y.htm", b"Text."),
                ("more/a.txt", b"Text."),
            ],
        );
        let out = root.join("news/out");
        let paths = [root.join("news"), root.join("more")];
        let found = find_articles(&paths, &Selection::new(&[], Some(&out)).unwrap()).unwrap();
        assert_eq!(relatives(&found), ["deep/er/y.htm", "z.txt", "a.txt"]);
        // Without --out the same folder is an ordinary subfolder.
        let found = find_articles(&paths[..1], &all_articles()).unwrap();
        assert_eq!(
            relatives(&found),
            ["deep/er/y.htm", "out/a.txt.summary.txt", "z.txt"]
        );
    }

    #[test]
    fn an_output_folder_holding_an_input_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = tree(
            dir.path(),
            &[("news/a.txt", b"Alpha."), ("b.txt", b"Beta.")],
        );
        let news = root.join("news");
        let err = check_out_folder(&news, std::slice::from_ref(&news)).unwrap_err();
        assert!(err.to_string().contains("holds the input folder"), "{err}");
        assert!(check_out_folder(&root, std::slice::from_ref(&news)).is_err());
        // Inside an input folder, a file input, or a folder not made yet: fine.
        assert!(check_out_folder(&news.join("out"), std::slice::from_ref(&news)).is_ok());
        fs::create_dir(news.join("out")).unwrap();
        assert!(check_out_folder(&news.join("out"), std::slice::from_ref(&news)).is_ok());
        assert!(check_out_folder(&root, &[root.join("b.txt")]).is_ok());
    }

    #[test]
    fn globs_replace_the_article_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let root = tree(
            dir.path(),
            &[
                ("a.txt", b"Text."),
                ("feed/b.json", b"Text."),
                ("feed/c.xml", b"Text."),
                ("d.JSON", b"Text."),
            ],
        );
        let globs = ["*.json".to_string(), "feed/*.xml".to_string()];
        let selection = Selection::new(&globs, None).unwrap();
        let found = find_articles(&[root], &selection).unwrap();
        assert_eq!(relatives(&found), ["feed/b.json", "feed/c.xml"]);
        let error = Selection::new(&["[".to_string()], None).unwrap_err();
        assert!(error.to_string().starts_with("--glob: "), "{error}");
    }

    #[test]
    fn summaries_and_records_mirror_the_input_tree() {
        let out = Path::new("out");
        let text = folder(out, recipe(20), false);
        assert_eq!(
            text.summary_path(Path::new("world/b.md")),
            Path::new("out/world/b.md.summary.txt")
        );
        assert_eq!(
            text.record_path(Path::new("world/b.md")),
            Path::new("out/.abridge/world/b.md.summary.txt.json")
        );
        let json = OutputFolder::new(out.into(), output::Format::Json, recipe(20), false).unwrap();
        assert_eq!(
            json.summary_path(Path::new("a.txt")),
            Path::new("out/a.txt.summary.json")
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn output_files_are_readable_as_the_umask_allows() {
        use std::os::unix::fs::PermissionsExt;
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|line| line.strip_prefix("Umask:"))
            .map(|mask| u32::from_str_radix(mask.trim(), 8).unwrap())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.txt.summary.txt");
        output::write_atomically(&path, b"A.").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644 & !umask);
        assert_eq!(fs::read(&path).unwrap(), b"A.");
    }

    #[test]
    fn two_articles_bound_for_one_summary_are_refused() {
        let input = |path: &str, relative: &str| Input {
            path: path.into(),
            relative: relative.into(),
            row: None,
        };
        let out = folder(Path::new("out"), recipe(20), false);
        let distinct = [input("x/a.txt", "a.txt"), input("y/b.txt", "b.txt")];
        assert!(out.check_distinct(&distinct).is_ok());
        let clash = [input("x/a.txt", "a.txt"), input("y/a.txt", "a.txt")];
        let error = out.check_distinct(&clash).unwrap_err();
        assert_eq!(
            error.to_string(),
            "x/a.txt and y/a.txt would both be summarized to out/a.txt.summary.txt"
        );
    }

    #[test]
    fn shards_parse_and_split_every_path_exactly_once() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "0/0", "1", "a/2", "-1/2", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} was accepted");
        }
        assert!("3/3"
            .parse::<Shard>()
            .unwrap_err()
            .contains("K must be less than N"));
        assert!("0/0"
            .parse::<Shard>()
            .unwrap_err()
            .contains("N must be at least 1"));

        let shards: Vec<Shard> = (0..3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        let mut sizes = [0; 3];
        for i in 0..300 {
            let path = PathBuf::from(format!("feed/{i}.txt"));
            let owners: Vec<usize> = (0..3).filter(|&k| shards[k].contains(&path)).collect();
            assert_eq!(
                owners.len(),
                1,
                "{} is in shards {owners:?}",
                path.display()
            );
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&size| size > 70), "unbalanced: {sizes:?}");
        // The hash depends on the path below the folder alone, not on the machine.
        let one = Shard { index: 0, count: 1 };
        assert!(one.contains(Path::new("anything.txt")));
        let pinned = Shard { index: 1, count: 2 };
        assert_eq!(
            pinned.contains(Path::new("world/b.md")),
            u64::from_be_bytes(Sha256::digest(b"world/b.md")[..8].try_into().unwrap()) % 2 == 1
        );
    }

    #[test]
    fn a_summary_is_up_to_date_while_article_model_and_options_are_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let root = tree(dir.path(), &[("news/a.txt", b"Harbour bridge closes.")]);
        let input = Input {
            path: root.join("news/a.txt"),
            relative: "a.txt".into(),
            row: None,
        };
        let out = root.join("out");
        let summary =
            first_word(&input::read_path(&input.path, input::DEFAULT_MAX_INPUT_BYTES).unwrap())
                .unwrap();
        let bytes = fs::read(&input.path).unwrap();

        let folder20 = folder(&out, recipe(20), false);
        assert!(!folder20.is_up_to_date(&input), "nothing written yet");
        folder20
            .write(&input, &sha256_hex(&bytes), &summary)
            .unwrap();
        assert_eq!(
            fs::read_to_string(out.join("a.txt.summary.txt")).unwrap(),
            "Harbour\n"
        );
        assert!(folder20.is_up_to_date(&input));

        assert!(
            !folder(&out, recipe(30), false).is_up_to_date(&input),
            "options changed"
        );
        let mut beam_search = SummaryOptions {
            words: 20,
            ..SummaryOptions::default()
        };
        beam_search.decode.beams = 2;
        let beam_search = Recipe::new("test-model".into(), "ab12".into(), &beam_search);
        assert!(
            !folder(&out, beam_search, false).is_up_to_date(&input),
            "beam search asked for"
        );
        let other_model = Recipe {
            model_sha256: "cd34".into(),
            ..recipe(20)
        };
        assert!(
            !folder(&out, other_model, false).is_up_to_date(&input),
            "model changed"
        );
        assert!(
            !folder(&out, recipe(20), true).is_up_to_date(&input),
            "--force"
        );

        fs::write(&input.path, "Harbour bridge reopens.").unwrap();
        assert!(!folder20.is_up_to_date(&input), "article changed");
        fs::write(&input.path, &bytes).unwrap();
        assert!(folder20.is_up_to_date(&input));

        fs::remove_file(out.join("a.txt.summary.txt")).unwrap();
        assert!(!folder20.is_up_to_date(&input), "summary deleted");
    }

    #[test]
    fn an_unwritable_out_is_found_before_loading_and_stops_a_run_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = tree(
            dir.path(),
            &[
                ("news/a.txt", b"Alpha story."),
                ("news/b.txt", b"Beta story."),
                ("blocker", b"a file, not a folder"),
            ],
        );
        let inputs = find_articles(&[root.join("news")], &all_articles()).unwrap();
        // A folder that does not exist yet is checked in its nearest existing parent.
        let fresh = folder(&root.join("new/out"), recipe(20), false);
        assert!(fresh.check_writable().is_ok());
        assert!(!root.join("new").exists(), "the check creates nothing");
        let blocked = folder(&root.join("blocker/out"), recipe(20), false);
        let error = blocked.check_writable().unwrap_err().to_string();
        assert!(error.contains("blocker is not a folder"), "{error}");

        // Past the check, a write failure that would repeat stops the run after the first
        // article: the second is never summarized.
        let summarized = Cell::new(0);
        let mut destination = Destination::Folder(blocked);
        let stop = AtomicBool::new(false);
        let error = run(&inputs, 1 << 20, &mut destination, &stop, 1, false, || {
            Ok(|articles: &[Article]| {
                summarized.set(summarized.get() + articles.len());
                first_words(articles)
            })
        })
        .unwrap_err();
        assert_eq!(summarized.get(), 1);
        let message = error.to_string();
        assert!(message.contains("a.txt.summary.txt"), "{message}");
        assert!(message.contains("stopped"), "{message}");
        assert!(
            !message.contains("out/.tmp"),
            "the temporary file: {message}"
        );
    }

    #[test]
    fn an_interrupted_summary_is_not_finished_nor_failed() {
        let dir = tempfile::tempdir().unwrap();
        let root = tree(
            dir.path(),
            &[
                ("news/a.txt", b"Alpha story."),
                ("news/b.txt", b"Beta story."),
                ("news/c.txt", b"Gamma story."),
            ],
        );
        let out = root.join("out");
        let inputs = find_articles(&[root.join("news")], &all_articles()).unwrap();
        let mut destination = Destination::Folder(folder(&out, recipe(20), false));
        let stop = AtomicBool::new(false);
        // The first group is summarized; Ctrl-C comes during the second, whose long article
        // stops between its parts.
        let tally = run(&inputs, 1 << 20, &mut destination, &stop, 1, false, || {
            Ok(|articles: &[Article]| {
                if articles[0].source.ends_with("a.txt") {
                    return first_words(articles);
                }
                stop.store(true, Ordering::SeqCst);
                articles.iter().map(|_| Err(Interrupted.into())).collect()
            })
        })
        .unwrap();
        assert_eq!((tally.done, tally.failed, tally.not_started), (1, 0, 2));
        assert!(tally.interrupted);
        assert!(out.join("a.txt.summary.txt").exists());
        assert!(!out.join("b.txt.summary.txt").exists());
    }

    #[test]
    fn a_run_loads_the_model_only_for_work_and_counts_every_article() {
        let dir = tempfile::tempdir().unwrap();
        let root = tree(
            dir.path(),
            &[
                ("news/a.txt", b"Alpha story."),
                ("news/sub/b.md", b"Beta story."),
                ("news/empty.txt", b" \n"),
                ("news/blob.txt", b"PK\x03\x04\x00\x00"),
            ],
        );
        let out = root.join("out");
        let inputs = find_articles(&[root.join("news")], &all_articles()).unwrap();
        assert_eq!(
            relatives(&inputs),
            ["a.txt", "blob.txt", "empty.txt", "sub/b.md"]
        );

        let mut destination = Destination::Folder(folder(&out, recipe(20), false));
        let (tally, loads) = run_counting_loads(&inputs, &mut destination, false);
        assert_eq!((tally.done, tally.up_to_date, tally.failed), (2, 0, 2));
        assert_eq!(loads, 1);
        assert_eq!(
            fs::read_to_string(out.join("sub/b.md.summary.txt")).unwrap(),
            "Beta\n"
        );
        assert!(!out.join("empty.txt.summary.txt").exists());

        let (tally, loads) = run_counting_loads(&inputs, &mut destination, false);
        assert_eq!((tally.done, tally.up_to_date, tally.failed), (0, 2, 2));
        assert_eq!(loads, 0, "nothing to do: the model is not loaded");
        assert_eq!(tally.to_string(), "done 0, up to date 2, failed 2");

        let mut destination = Destination::Folder(folder(&out, recipe(20), true));
        let good = [inputs[0].clone(), inputs[3].clone()];
        let (tally, loads) = run_counting_loads(&good, &mut destination, false);
        assert_eq!(
            (tally.done, tally.up_to_date, tally.failed, loads),
            (2, 0, 0, 1)
        );
    }

    #[test]
    fn a_stopped_run_starts_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let root = tree(dir.path(), &[("a.txt", b"Alpha."), ("b.txt", b"Beta.")]);
        let inputs = find_articles(std::slice::from_ref(&root), &all_articles()).unwrap();
        let mut destination = Destination::Folder(folder(&root.join("out"), recipe(20), false));
        let (tally, loads) = run_counting_loads(&inputs, &mut destination, true);
        assert!(tally.interrupted);
        assert_eq!((tally.done, tally.not_started, loads), (0, 2, 0));
        assert_eq!(
            tally.to_string(),
            "done 0, up to date 0, failed 0; interrupted, 2 not started"
        );
        assert!(!root.join("out").exists());
    }

    #[test]
    fn json_lines_carry_the_summary_fields_then_status_and_failures_with_their_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = tree(dir.path(), &[("a.txt", b"Alpha story."), ("b.txt", b"")]);
        let inputs = find_articles(std::slice::from_ref(&root), &all_articles()).unwrap();
        let mut lines = Vec::new();
        let (tally, _) =
            run_counting_loads(&inputs, &mut Destination::JsonLines(&mut lines), false);
        assert_eq!((tally.done, tally.failed), (1, 1));
        let lines = String::from_utf8(lines).unwrap();
        let rows: Vec<&str> = lines.lines().collect();
        let a = root.join("a.txt").display().to_string();
        let b = root.join("b.txt").display().to_string();
        assert_eq!(
            rows[0],
            format!(
                "{{\"schema_version\":1,\"input\":\"{a}\",\"summary\":\"Alpha\",\"model\":\"test-model\",\
                 \"device\":\"cpu\",\"input_words\":2,\"input_tokens\":0,\"output_tokens\":0,\
                 \"chunks\":1,\"seconds\":0.0,\"status\":\"ok\"}}"
            )
        );
        assert_eq!(
            rows[1],
            format!("{{\"schema_version\":1,\"input\":\"{b}\",\"status\":\"failed\",\"error\":\"empty\"}}")
        );
    }
}
