//! JSON Lines and CSV files of articles: each row is summarized as an article of its own,
//! named `FILE#ID`, in plain runs, JSON Lines batches and `--out` folders (resumed per row);
//! a row without its text fails alone, naming its line. The model is the tiny BART fixture
//! with `--raw`, whose outputs are transformers' (tests/fixtures/seq2seq/bart).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seq2seq/bart")
}

/// The fixture's first two inputs and what transformers generates for them.
fn cases() -> [(String, String); 2] {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bart().join("expected.json")).unwrap()).unwrap();
    [0, 1].map(|i| {
        let case = &expected["cases"][i];
        (
            case["text"].as_str().unwrap().to_string(),
            case["own_text"].as_str().unwrap().trim().to_string(),
        )
    })
}

fn summarize(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_abridge"))
        .args(["summarize", "--raw", "--model"])
        .arg(bart())
        .args(args)
        .current_dir(dir)
        .env("ABRIDGE_CACHE", dir.join("cache"))
        .output()
        .unwrap()
}

fn jsonl(first: &str, second: &str) -> String {
    [
        serde_json::json!({"id": "a1", "article": first}).to_string(),
        serde_json::json!({"text": second, "id": 2}).to_string(),
        serde_json::json!({"title": "no text here"}).to_string(),
    ]
    .join("\n")
}

#[test]
fn each_row_of_a_json_lines_file_is_an_article_named_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let [(first, first_summary), (second, second_summary)] = cases();
    std::fs::write(dir.path().join("feed.jsonl"), jsonl(&first, &second)).unwrap();
    let output = summarize(dir.path(), &["--format", "jsonl", "feed.jsonl"]);
    assert_eq!(output.status.code(), Some(1), "one row fails");
    let rows: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["input"], "feed.jsonl#a1");
    assert_eq!(rows[0]["summary"].as_str().unwrap().trim(), first_summary);
    assert_eq!(rows[1]["input"], "feed.jsonl#2");
    assert_eq!(rows[1]["summary"].as_str().unwrap().trim(), second_summary);
    assert_eq!(rows[2]["status"], "failed");
    assert_eq!(rows[2]["input"], "feed.jsonl#3");
    let error = rows[2]["error"].as_str().unwrap();
    assert!(
        error.contains("feed.jsonl line 3: no `article` or `text` field"),
        "{error}"
    );
}

#[test]
fn an_out_folder_gets_a_summary_per_row_and_a_rerun_redoes_only_a_changed_row() {
    let dir = tempfile::tempdir().unwrap();
    let [(first, first_summary), (second, _)] = cases();
    let feed = dir.path().join("feed.jsonl");
    std::fs::write(&feed, jsonl(&first, &second)).unwrap();
    let run = || {
        let output = summarize(dir.path(), &["--out", "out", "feed.jsonl"]);
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    assert!(run().contains("done 2, up to date 0, failed 1"));
    let summary = std::fs::read_to_string(dir.path().join("out/feed.jsonl/a1.summary.txt"));
    assert_eq!(summary.unwrap().trim(), first_summary);
    assert!(dir.path().join("out/feed.jsonl/2.summary.txt").is_file());
    assert!(run().contains("done 0, up to date 2, failed 1"));
    // The second row's text changes: it alone is summarized again.
    std::fs::write(&feed, jsonl(&first, &format!("{second} It rained."))).unwrap();
    assert!(run().contains("done 1, up to date 1, failed 1"));
}

#[test]
fn csv_rows_are_articles_and_a_file_without_the_text_column_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let [(first, first_summary), (second, second_summary)] = cases();
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    let csv = format!("id,body\nx,{}\ny,{}\n", quote(&first), quote(&second));
    std::fs::write(dir.path().join("feed.csv"), csv).unwrap();
    let output = summarize(dir.path(), &["--text-field", "body", "feed.csv"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let expected =
        format!("==> feed.csv#x <==\n{first_summary}\n==> feed.csv#y <==\n{second_summary}\n");
    assert_eq!(stdout, expected);

    let output = summarize(dir.path(), &["feed.csv"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("feed.csv: "), "{stderr}");
    assert!(stderr.contains("no `article` or `text` column"), "{stderr}");

    // Read as text, the same file is one article, as before.
    let output = summarize(
        dir.path(),
        &["--input-format", "text", "--show-prompt", "feed.csv"],
    );
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("id,body"));
}
