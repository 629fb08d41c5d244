//! Batch runs end to end with real weights (`cargo test --release --test batch`): a folder
//! summarized to `--out` with its bad files reported, re-run without loading the model,
//! redone when the length changes, interrupted with SIGINT and resumed, split in two
//! shards streamed as JSON lines, and decoded in batches with the same summaries. The model is `smollm2-135m-instruct`, which must have been
//! fetched (`abridge models fetch smollm2-135m-instruct`); a missing model fails the tests
//! with that instruction. Option errors need no model.

mod common;

use common::{abridge, abridge_real, stderr, stdout};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const MODEL: &str = "smollm2-135m-instruct";

/// Short invented articles, one per format.
const BRIDGE: &str = "The town council of Brambleford voted on Tuesday to close the old \
    harbour bridge for repairs. The bridge, built in 1923, carries about 4,000 cars a day. \
    Engineers found cracks in two of its three arches last month. Repairs will cost 2.3 \
    million pounds and take eight months. A ferry will run every twenty minutes meanwhile.\n";
const FROST: &str = "# Orchard growers count frost losses\n\nApple growers in the Velden \
    valley lost about a third of their blossom to a late frost on Sunday night, the \
    growers' association said. Temperatures fell to minus four degrees. The association \
    asked the government for emergency help and said prices could rise by autumn.\n";
const LIBRARY: &str = "<html><body><article><h1>Library reopens</h1><p>The central library \
    of Kessmoor reopened on Monday after a two-year renovation that cost 11 million euros. It \
    now has a rooftop reading room and longer opening hours.</p><p>The mayor said 3,000 \
    people visited on the first day.</p></article></body></html>\n";
const MARATHON: &str = "More than 12,000 runners took part in the Dunmere marathon on \
    Sunday. The race was won by local teacher Ana Ruiz in two hours and 31 minutes, a course \
    record. Organisers said the event raised 400,000 pounds for the children's hospital.\n";

/// Writes `files` (path below `root`, content) and returns their paths.
fn write_tree(root: &Path, files: &[(&str, &[u8])]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|(file, content)| {
            let path = root.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, content).unwrap();
            path
        })
        .collect()
}

/// `feed/` under `root`: the four articles at two depths, and an empty file.
fn write_feed(root: &Path) {
    write_tree(
        root,
        &[
            ("feed/a.txt", BRIDGE.as_bytes()),
            ("feed/b.md", FROST.as_bytes()),
            ("feed/sub/c.html", LIBRARY.as_bytes()),
            ("feed/sub/d.txt", MARATHON.as_bytes()),
            ("feed/empty.txt", b"\n\n"),
        ],
    );
}

/// `abridge summarize --model smollm2 --offline --words N` with `args` after.
fn summarize(words: u32, args: &[&str]) -> Command {
    let mut command = abridge_real("summarize", MODEL);
    command.args(["--words", &words.to_string()]).args(args);
    command
}

fn run_in(dir: &Path, mut command: Command) -> Output {
    command.current_dir(dir).output().unwrap()
}

fn assert_exit(output: &Output, code: i32) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn assert_line(output: &Output, line: &str) {
    let err = stderr(output);
    assert!(
        err.lines().any(|l| l.starts_with(line)),
        "no line starting `{line}` in: {err}"
    );
}

fn model_loaded(output: &Output) -> bool {
    stderr(output).contains("abridge: model loaded")
}

/// Whether this process can read a file whose permissions are 000 (root can).
fn reads_unreadable_files() -> bool {
    unsafe { libc::geteuid() == 0 }
}

#[test]
#[ignore = "real weights: run by scripts/test.sh or `cargo test -- --ignored`"]
fn a_folder_is_summarized_then_skipped_then_redone_for_a_new_length() {
    let dir = tempfile::tempdir().unwrap();
    let news = dir.path().join("news");
    write_tree(
        &news,
        &[
            ("a.txt", BRIDGE.as_bytes()),
            ("world/b.md", FROST.as_bytes()),
            ("world/europe/c.html", LIBRARY.as_bytes()),
            ("empty.txt", b""),
            ("blob.txt", b"PK\x03\x04\x00\x00\x14\x00binary"),
            ("locked.txt", MARATHON.as_bytes()),
            (".hidden.txt", BRIDGE.as_bytes()),
            ("notes.json", b"{}"),
        ],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(news.join("locked.txt"), fs::Permissions::from_mode(0o000)).unwrap();
    }
    // The output folder sits inside the input folder: it must not be walked.
    let args = ["news", "--out", "news/summaries"];
    let summaries = news.join("summaries");
    let expected = [
        "a.txt.summary.txt",
        "world/b.md.summary.txt",
        "world/europe/c.html.summary.txt",
    ];
    // As root the 000 file is readable, so it is summarized instead of failing.
    let root = reads_unreadable_files();
    let (done, failed) = if root { (4, 2) } else { (3, 3) };

    let first = run_in(dir.path(), summarize(10, &args));
    assert_exit(&first, 1);
    assert!(model_loaded(&first), "{}", stderr(&first));
    assert_line(&first, "abridge: news/empty.txt: empty");
    assert_line(&first, "abridge: news/blob.txt: binary file");
    if !root {
        assert_line(&first, "abridge: news/locked.txt: permission denied");
    }
    assert_line(
        &first,
        &format!("abridge: done {done}, up to date 0, failed {failed}"),
    );
    for file in expected {
        let summary = fs::read_to_string(summaries.join(file)).unwrap();
        assert!(
            summary.ends_with('\n') && summary.trim().len() > 10,
            "{file}: {summary:?}"
        );
    }
    for absent in ["empty.txt", "blob.txt", ".hidden.txt", "notes.json"] {
        let summary = summaries.join(format!("{absent}.summary.txt"));
        assert!(!summary.exists(), "{} exists", summary.display());
    }
    let before: Vec<String> = expected
        .iter()
        .map(|file| fs::read_to_string(summaries.join(file)).unwrap())
        .collect();

    let second = run_in(dir.path(), summarize(10, &args));
    assert_exit(&second, 1);
    assert!(!model_loaded(&second), "{}", stderr(&second));
    assert_line(
        &second,
        &format!("abridge: done 0, up to date {done}, failed {failed}"),
    );
    assert_line(&second, "abridge: news/empty.txt: empty");
    for (file, summary) in expected.iter().zip(&before) {
        assert_eq!(&fs::read_to_string(summaries.join(file)).unwrap(), summary);
    }

    let third = run_in(dir.path(), summarize(12, &args));
    assert_exit(&third, 1);
    assert!(model_loaded(&third), "{}", stderr(&third));
    assert_line(
        &third,
        &format!("abridge: done {done}, up to date 0, failed {failed}"),
    );
}

#[test]
#[ignore = "real weights: run by scripts/test.sh or `cargo test -- --ignored`"]
fn an_interrupted_run_keeps_whole_summaries_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let articles = [BRIDGE, FROST, LIBRARY, MARATHON];
    let names = ["a.txt", "b.md", "c.html", "d.txt"];
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .zip(articles)
        .map(|(name, text)| (*name, text.as_bytes()))
        .collect();
    write_tree(&dir.path().join("news"), &files);
    let out = dir.path().join("out");
    let args = ["news", "--out", "out", "--format", "json"];

    let mut child = summarize(10, &args)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !out.join("a.txt.summary.json").exists() {
        assert!(Instant::now() < deadline, "no summary appeared");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let interrupted = child.wait_with_output().unwrap();
    assert_exit(&interrupted, 130);
    assert!(stderr(&interrupted).contains("; interrupted, "));

    // Only whole summaries, each a valid JSON object; nothing else beside them.
    let valid = |name: &str| {
        let path = out.join(format!("{name}.summary.json"));
        let text = fs::read_to_string(&path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).expect("whole JSON");
        assert!(!json["summary"].as_str().unwrap().trim().is_empty());
        Some(())
    };
    let kept = names.iter().filter(|name| valid(name).is_some()).count();
    assert!((1..names.len()).contains(&kept), "{kept} summaries kept");
    let visible: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert_eq!(visible.len(), kept, "{visible:?}");

    let resumed = run_in(dir.path(), summarize(10, &args));
    assert_exit(&resumed, 0);
    assert_line(
        &resumed,
        &format!(
            "abridge: done {}, up to date {kept}, failed 0",
            names.len() - kept
        ),
    );
    assert!(names.iter().all(|name| valid(name).is_some()));
}

#[test]
#[ignore = "real weights: run by scripts/test.sh or `cargo test -- --ignored`"]
fn two_shards_stream_every_article_exactly_once_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    write_feed(dir.path());
    let mut seen = Vec::new();
    let mut failed_runs = 0;
    for shard in ["0/2", "1/2"] {
        let args = ["feed", "--format", "jsonl", "--shard", shard];
        let output = run_in(dir.path(), summarize(10, &args));
        assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
        for line in stdout(&output).lines() {
            let row: serde_json::Value = serde_json::from_str(line).expect("one JSON object");
            let input = row["input"].as_str().unwrap().to_string();
            if input == "feed/empty.txt" {
                assert_eq!(row["status"], "failed");
                assert_eq!(row["error"], "empty");
            } else {
                assert_eq!(row["status"], "ok", "{line}");
                assert_eq!(row["model"], MODEL);
                assert!(!row["summary"].as_str().unwrap().trim().is_empty());
            }
            seen.push(input);
        }
        let code = output.status.code();
        assert!(matches!(code, Some(0 | 1)), "{code:?}: {}", stderr(&output));
        failed_runs += usize::from(code == Some(1));
    }
    let expected = [
        "feed/a.txt",
        "feed/b.md",
        "feed/empty.txt",
        "feed/sub/c.html",
        "feed/sub/d.txt",
    ];
    let unique: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    assert_eq!(unique.into_iter().collect::<Vec<_>>(), expected);
    assert_eq!(failed_runs, 1, "only the shard with the empty file fails");
}

#[test]
#[ignore = "real weights: run by scripts/test.sh or `cargo test -- --ignored`"]
fn batched_decoding_writes_the_summaries_of_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    write_feed(dir.path());
    let summaries = |out: &str, batch_size: &str| {
        let args = ["feed", "--out", out, "--batch-size", batch_size];
        let output = run_in(dir.path(), summarize(30, &args));
        assert_exit(&output, 1);
        assert_line(&output, "abridge: done 4, up to date 0, failed 1");
        ["a.txt", "b.md", "sub/c.html", "sub/d.txt"].map(|name| {
            let path = dir.path().join(out).join(format!("{name}.summary.txt"));
            fs::read_to_string(path).unwrap()
        })
    };
    let one_at_a_time = summaries("one", "1");
    // Groups of three files in path order: a, b and the empty file (reported, while a and
    // b decode together), then c and d.
    let batched = summaries("three", "3");
    assert!(one_at_a_time.iter().all(|s| !s.trim().is_empty()));
    assert_eq!(batched, one_at_a_time);
}

#[test]
fn bad_batch_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &[("news/a.txt", BRIDGE.as_bytes())]);
    let cases: [(&[&str], &str); 9] = [
        (&["--out", "news"], "holds the input folder"),
        (&["--out", "news", "--batch-size", "0"], "--batch-size"),
        (&["--out", "out", "--shard", "2/2"], "K must be less than N"),
        (&["--out", "out", "--shard", "0/0"], "N must be at least 1"),
        (&["--out", "out", "--shard", "x"], "is not K/N"),
        (&["--format", "jsonl", "--out", "out"], "--format jsonl"),
        (&["--force"], "--out"),
        (&["--out", "out", "--glob", "["], "--glob"),
        (&["--shard", "0/2"], "--shard needs --out or --format jsonl"),
    ];
    for (args, message) in cases {
        let output = abridge(&dir.path().join("cache"))
            .current_dir(dir.path())
            .args(["summarize", "news"])
            .args(args)
            .output()
            .unwrap();
        assert_exit(&output, 2);
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert!(!dir.path().join("out").exists());
}
