//! The command line as a user meets it: exit codes and one-line errors for bad input, bad
//! options and missing or corrupt models, and a whole summarize run on a tiny model.

mod common;

use common::{abridge, stderr, stdout};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Asserts a failure with `code` and a single stderr line containing every `needle`.
fn assert_fails(output: &Output, code: i32, needles: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` missing from: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

fn summarize(cache: &Path, args: &[&Path]) -> Output {
    let mut command = abridge(cache);
    command.arg("summarize").args(args).arg("--offline");
    command.output().unwrap()
}

#[test]
fn bad_inputs_are_named_with_their_reason_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        path
    };
    let cases = [
        (dir.path().join("missing.txt"), "not found"),
        (write("empty.txt", b""), "empty"),
        (write("blank.txt", b"  \n\t\n "), "empty"),
        (
            write("image.txt", &[0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0, 1, 2]),
            "binary",
        ),
        (
            write("cut.txt", &[0xFF, 0xFE, b'a', 0, b'b']),
            "not text in the encoding it declares",
        ),
    ];
    for (path, reason) in &cases {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_fails(&summarize(&cache, &[path]), 2, &[name, reason]);
    }
    let no_articles = dir.path().join("pictures");
    fs::create_dir(&no_articles).unwrap();
    fs::write(no_articles.join("photo.jpg"), b"\xff\xd8").unwrap();
    assert_fails(
        &summarize(&cache, &[&no_articles]),
        2,
        &["pictures", "no articles"],
    );
}

#[test]
fn bad_options_and_unknown_models_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let article = dir.path().join("a.txt");
    fs::write(&article, "The council approved the budget on Monday.").unwrap();
    let run = |extra: &[&str]| {
        abridge(dir.path())
            .arg("summarize")
            .arg(&article)
            .args(extra)
            .output()
            .unwrap()
    };
    let unknown = run(&["--model", "gpt-17"]);
    assert_fails(
        &unknown,
        2,
        &["unknown model `gpt-17`", "qwen2.5-coder-1.5b-instruct"],
    );
    assert_eq!(run(&["--length", "medium"]).status.code(), Some(2));
    assert_eq!(run(&["--words", "3"]).status.code(), Some(2));
    assert_eq!(run(&["--top-p", "1.5"]).status.code(), Some(2));
    for (option, value) in [
        ("--threads", "0"),
        ("--temperature", "nan"),
        ("--temperature", "-1"),
        ("--temperature", "inf"),
        ("--repeat-penalty", "0"),
        ("--repeat-penalty", "-2"),
    ] {
        let output = run(&[&format!("{option}={value}")]);
        assert_eq!(output.status.code(), Some(2), "{option} {value}");
        assert!(stderr(&output).contains(option), "{}", stderr(&output));
    }
    assert_fails(
        &run(&["--model", "nowhere.gguf"]),
        2,
        &["nowhere.gguf", "not found"],
    );
}

#[test]
fn a_missing_model_offline_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let article = dir.path().join("a.txt");
    fs::write(&article, "The council approved the budget on Monday.").unwrap();
    let output = summarize(dir.path(), &[&article]);
    assert_fails(
        &output,
        1,
        &[
            "qwen2.5-coder-1.5b-instruct",
            "abridge models fetch qwen2.5-coder-1.5b-instruct",
        ],
    );
}

#[test]
fn a_corrupt_cached_model_is_rejected_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    fs::create_dir_all(&models).unwrap();
    let corrupt = models.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    fs::write(&corrupt, vec![7u8; 98_362_432]).unwrap();
    let output = abridge(dir.path())
        .args(["models", "path", "smollm2-135m-instruct", "--offline"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sha256") && err.contains("SmolLM2-135M-Instruct.Q4_1.gguf"),
        "{err}"
    );
    assert!(!corrupt.exists(), "the corrupt file must be removed");
}

#[test]
fn a_model_path_named_like_a_catalogue_file_is_checked_against_its_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine");
    fs::create_dir_all(&mine).unwrap();
    // The catalogue's file name and size, other bytes.
    let impostor = mine.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    fs::write(&impostor, vec![7u8; 98_362_432]).unwrap();
    let article = dir.path().join("a.txt");
    fs::write(
        &article,
        "The council voted to build a bridge over the river on Monday.",
    )
    .unwrap();
    let output = abridge(dir.path())
        .args(["summarize", "--offline", "--model"])
        .arg(&impostor)
        .arg(&article)
        .output()
        .unwrap();
    assert_fails(&output, 1, &["SmolLM2-135M-Instruct.Q4_1.gguf", "sha256"]);
    assert!(impostor.exists(), "a file the user named is never removed");
}

#[test]
fn a_model_file_of_an_unknown_family_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("other.gguf");
    common::write_tiny_model(&model, "mamba");
    let article = dir.path().join("a.txt");
    fs::write(&article, "The council approved the budget on Monday.").unwrap();
    let output = abridge(dir.path())
        .arg("summarize")
        .arg(&article)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    assert_fails(
        &output,
        1,
        &[
            "other.gguf",
            "unsupported architecture `mamba` (supported: qwen2, llama, qwen3, gemma3, phi3, bart, mbart, \
             pegasus, t5)",
        ],
    );
}

/// A tiny random model and a short article beside it, in `dir`.
fn tiny_model_and_article(dir: &Path) -> (PathBuf, PathBuf) {
    let model = dir.join("tiny.gguf");
    common::write_tiny_model(&model, "qwen2");
    let article = dir.join("council.md");
    fs::write(
        &article,
        "# Budget passes\n\nThe town council approved a **$4 million** budget on Monday.\n\n\
         Share this article\n",
    )
    .unwrap();
    (model, article)
}

#[test]
fn summarize_runs_end_to_end_on_a_tiny_model_with_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let (model, article) = tiny_model_and_article(dir.path());
    // A random model writes no summary: --raw gives its output unchecked.
    let output = abridge(dir.path())
        .args([
            "summarize",
            "--raw",
            "--format",
            "json",
            "--words",
            "10",
            "--model",
        ])
        .arg(&model)
        .arg(&article)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    for field in [
        "input",
        "summary",
        "model",
        "device",
        "input_words",
        "input_tokens",
        "output_tokens",
        "chunks",
        "seconds",
    ] {
        assert!(json.get(field).is_some(), "missing `{field}` in {json}");
    }
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["model"], "tiny");
    assert_eq!(json["device"], "cpu");
    assert_eq!(json["chunks"], 1);
    // The heading and body are kept; the share prompt is dropped: 12 words remain.
    assert_eq!(json["input_words"], 12);
    assert!(json["output_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn a_window_too_small_is_one_usage_error_even_in_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (model, article) = tiny_model_and_article(dir.path());
    let second = dir.path().join("second.txt");
    fs::write(&second, "The mayor opened the new library on Friday.").unwrap();
    let out = dir.path().join("out");
    // Below any model's need, refused before the model loads (a missing model file shows
    // it is not read); above that but too small for this prompt and summary length, refused
    // once, after loading, for the whole batch.
    let missing = dir.path().join("missing.gguf");
    for (args, model, reason) in [
        (
            &["--window", "10"][..],
            &missing,
            "window of 10 tokens is too small",
        ),
        (
            &["--window", "300", "--words", "400"][..],
            &model,
            "window of 300 tokens is too small",
        ),
    ] {
        for batch in [false, true] {
            let mut command = abridge(dir.path());
            command
                .arg("summarize")
                .args(args)
                .arg("--model")
                .arg(model)
                .arg(&article)
                .arg(&second);
            if batch {
                command.arg("--out").arg(&out);
            }
            let output = command.output().unwrap();
            if model == &missing {
                // Refused by the option parser, whose message has its usual hint below.
                assert_eq!(output.status.code(), Some(2));
                assert!(stderr(&output).contains(reason), "{}", stderr(&output));
                assert!(stderr(&output).contains("--window"), "{}", stderr(&output));
            } else {
                assert_fails(&output, 2, &[reason]);
            }
            assert_eq!(stderr(&output).matches("too small").count(), 1);
        }
    }
    assert!(!out.join("council.summary.txt").exists());
}

#[test]
fn an_article_that_is_no_prose_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = tiny_model_and_article(dir.path());
    let url = dir.path().join("link.txt");
    fs::write(
        &url,
        "https://example.org/2024/06/council-votes-for-the-farm\n",
    )
    .unwrap();
    let code = dir.path().join("code.md");
    fs::write(
        &code,
        "fn main() {\n    let totals: Vec<u32> = rows.iter().map(|r| r.total).collect();\n    \
         println!(\"{totals:?}\"); // the totals, printed for the team, then the run ends\n    \
         let mean = totals.iter().sum::<u32>() / totals.len() as u32;\n    \
         assert!(mean > 0 && totals[0] <= mean * 2, \"{mean}\");\n}\n",
    )
    .unwrap();
    for (path, reason) in [(&url, "too little prose"), (&code, "reads as code")] {
        let output = abridge(dir.path())
            .args(["summarize", "--model"])
            .arg(&model)
            .arg(path)
            .output()
            .unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_fails(&output, 2, &[name, reason]);
    }
}

#[test]
fn no_evaluation_article_is_refused_as_no_prose() {
    for set in ["eval/cnndm-test-a.jsonl", "eval/cnndm-test-a2.jsonl"] {
        let Some(path) = common::shared(set) else {
            continue;
        };
        for line in fs::read_to_string(path).unwrap().lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let article = row["article"].as_str().unwrap();
            let problem = abridge::guard::not_prose(article);
            assert_eq!(problem, None, "{set} row {}", row["id"]);
        }
    }
}

#[test]
fn a_model_error_stays_one_line_with_rust_backtrace_set() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("broken.gguf");
    fs::write(&model, "not a model at all").unwrap();
    let (_, article) = tiny_model_and_article(dir.path());
    let output = abridge(dir.path())
        .args(["summarize", "--model"])
        .arg(&model)
        .arg(&article)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_fails(&output, 1, &["broken.gguf", "not a GGUF model file"]);
    assert!(
        !stderr(&output).contains("backtrace.rs"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_output_that_is_no_summary_fails_the_article() {
    let dir = tempfile::tempdir().unwrap();
    let (model, article) = tiny_model_and_article(dir.path());
    let output = abridge(dir.path())
        .args(["summarize", "--words", "10", "--model"])
        .arg(&model)
        .arg(&article)
        .output()
        .unwrap();
    assert_fails(&output, 1, &["council.md", "the model"]);
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
}

#[test]
fn models_list_shows_the_catalogue_and_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let output = abridge(dir.path())
        .args(["models", "list"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let listing = stdout(&output);
    for name in [
        "qwen2.5-coder-1.5b-instruct *",
        "qwen2.5-coder-0.5b-instruct",
        "qwen2.5-1.5b-instruct",
        "qwen2.5-0.5b-instruct",
        "smollm2-135m-instruct",
    ] {
        assert!(listing.contains(name), "`{name}` missing from:\n{listing}");
    }

    let list = |format: &str| {
        let output = abridge(dir.path())
            .args(["models", "list", "--format", format])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let array: Vec<serde_json::Value> = serde_json::from_str(list("json").trim()).unwrap();
    let lines: Vec<serde_json::Value> = list("jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(array, lines);
    assert_eq!(array.len(), listing.lines().count() - 3, "{listing}");
    for row in &array {
        let mut keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        let expected = [
            "architecture",
            "cached",
            "default",
            "description",
            "name",
            "schema_version",
        ];
        let size = keys.iter().position(|k| *k == "size_mb").unwrap();
        keys.remove(size);
        assert_eq!(keys, expected, "{row}");
        assert_eq!(row["schema_version"], 1);
        // The cache is empty.
        assert_eq!(row["cached"], false, "{row}");
        assert!(row["size_mb"].is_null() || row["size_mb"].as_f64().unwrap() > 1.0);
    }
    let defaults: Vec<&serde_json::Value> = array.iter().filter(|r| r["default"] == true).collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["name"], "qwen2.5-coder-1.5b-instruct");
    assert_eq!(defaults[0]["size_mb"], 1117.3);
    assert_eq!(defaults[0]["architecture"], "qwen2");
}

#[test]
fn eval_runs_end_to_end_on_a_tiny_model_and_writes_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.gguf");
    common::write_tiny_model(&model, "llama");
    let predictions = dir.path().join("predictions.jsonl");
    let data = dir.path().join("rows.jsonl");
    let rows = [
        (
            "row-1",
            "The council approved a budget of 4 million euros. It passed 9 to 4.",
            "Budget passes .",
        ),
        (
            "row-2",
            "A storm closed the harbour for two days. Ferries stayed in port.",
            "Storm shuts harbour .",
        ),
        ("row-3", "Not read: the limit is two rows.", "Unused ."),
    ];
    let lines: Vec<String> = rows
        .iter()
        .map(|(id, article, reference)| {
            serde_json::json!({"id": id, "article": article, "reference": reference}).to_string()
        })
        .collect();
    fs::write(&data, lines.join("\n")).unwrap();
    let output = abridge(dir.path())
        .args(["eval", "--limit", "2", "--words", "10", "--json", "--model"])
        .arg(&model)
        .arg(&data)
        .arg("--predictions")
        .arg(&predictions)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["rows"], 2);
    let systems = report["systems"].as_array().unwrap();
    assert_eq!(systems[0]["system"], "tiny");
    assert_eq!(systems[1]["system"], "lead3");
    for system in systems {
        for metric in ["rouge1", "rouge2", "rouge_lsum", "avg_words"] {
            assert!(system[metric].is_number(), "{metric} in {system}");
        }
    }
    let lines: Vec<serde_json::Value> = fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert!(line["id"].as_str().unwrap().starts_with("row-"));
        assert!(line["summary"].is_string());
    }

    // --format json is what --json was; --format jsonl is a line per system.
    let eval = |format: &str| {
        let output = abridge(dir.path())
            .args(["eval", "--limit", "2", "--words", "10", "--format", format])
            .arg("--model")
            .arg(&model)
            .arg(&data)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let json: serde_json::Value = serde_json::from_str(eval("json").trim()).unwrap();
    let keys = |value: &serde_json::Value| -> Vec<String> {
        value.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(keys(&json), keys(&report));
    assert_eq!(json["systems"][1], systems[1], "LEAD-3 is deterministic");
    let lines: Vec<serde_json::Value> = eval("jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (line, system) in lines.iter().zip(["tiny", "lead3"]) {
        assert_eq!(line["schema_version"], 1);
        assert_eq!(line["system"], system);
        assert_eq!(line["data"], data.to_str().unwrap());
        assert_eq!(line["rows"], 2);
    }
    assert_eq!(lines[1]["rouge1"], systems[1]["rouge1"]);
    assert!(lines[1]["rouge1_sd"].as_f64().unwrap() >= 0.0);

    // The table explains itself, and says two rows are few.
    let table = eval("text");
    assert!(table.contains(" ±"), "{table}");
    assert!(table.contains("\n  verbatim "), "{table}");
    assert!(table.contains("warning: only 2 rows evaluated"), "{table}");
}

#[test]
fn eval_reports_bad_data_files_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("rows.jsonl");
    fs::write(
        &data,
        "{\"id\": \"a\", \"article\": \"x\", \"reference\": \"y\"}\n{oops\n",
    )
    .unwrap();
    let output = abridge(dir.path()).arg("eval").arg(&data).output().unwrap();
    assert_fails(&output, 2, &["rows.jsonl:2"]);
}

#[test]
fn eval_scores_sentiment_rows_beside_the_zero_baseline_and_names_a_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = tiny_model_and_article(dir.path());
    let data = dir.path().join("headlines.jsonl");
    fs::write(
        &data,
        "{\"id\": \"1\", \"text\": \"Acme profit jumps\", \"target\": \"Acme\", \"score\": 0.6}\n\
         {\"id\": \"2\", \"text\": \"Acme warns on sales\", \"target\": \"Acme\", \"score\": -0.4}\n",
    )
    .unwrap();
    let predictions = dir.path().join("p.jsonl");
    let output = abridge(dir.path())
        .args(["eval", "--json", "--predictions"])
        .arg(&predictions)
        .arg(&data)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    let systems = report["systems"].as_array().unwrap();
    assert_eq!(systems[0]["rows"], 2);
    assert_eq!(
        (systems[1]["system"].as_str(), systems[1]["cosine"].as_f64()),
        (Some("zero"), Some(0.0))
    );
    let cosine = systems[0]["cosine"].as_f64().unwrap();
    assert!((-1.0..=1.0).contains(&cosine), "{cosine}");
    let lines: Vec<serde_json::Value> = fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let score = line["score"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&score));
        let label = abridge::sentiment::Label::of(score).name();
        assert_eq!(line["label"], label);
    }

    fs::write(
        &data,
        "{\"id\": \"9\", \"text\": \"t\", \"target\": \"Acme\", \"score\": -2}\n",
    )
    .unwrap();
    let output = abridge(dir.path())
        .arg("eval")
        .arg(&data)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    assert_fails(&output, 2, &["headlines.jsonl", "row 9", "outside -1…1"]);
}

#[test]
fn an_input_over_the_size_cap_is_refused_in_one_line_without_being_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.txt");
    let line = "The council met on Monday and approved the budget.\n";
    fs::write(&big, line.repeat((1 << 20) / line.len() + 10)).unwrap();
    let output = abridge(dir.path())
        .args(["summarize", "--offline", "--max-input-mb", "1"])
        .arg(&big)
        .output()
        .unwrap();
    assert_fails(
        &output,
        2,
        &["big.txt", "larger than 1 MB (--max-input-mb allows more)"],
    );
}

#[test]
fn a_long_article_tells_how_its_parts_are_going() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = tiny_model_and_article(dir.path());
    let long = dir.path().join("long.txt");
    let sentences: Vec<String> = (1..=60)
        .map(|i| format!("Councillor {i} spoke about the budget and the new library."))
        .collect();
    fs::write(&long, sentences.join(" ")).unwrap();
    let output = abridge(dir.path())
        .args([
            "summarize",
            "--raw",
            "--words",
            "10",
            "--window",
            "700",
            "--model",
        ])
        .arg(&model)
        .arg(&long)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    // Stderr is not a terminal here: a line per group of parts, then the merge.
    let parts = err
        .lines()
        .filter(|l| l.contains("long.txt: part "))
        .count();
    assert!(parts >= 2, "{err}");
    assert!(
        err.contains(&format!("part {parts} of {parts} done")),
        "{err}"
    );
    assert!(err.contains("merging"), "{err}");

    // --quiet: the same summary, and not a line of progress.
    let quiet = abridge(dir.path())
        .args([
            "summarize",
            "-q",
            "--raw",
            "--words",
            "10",
            "--window",
            "700",
        ])
        .arg("--model")
        .arg(&model)
        .arg(&long)
        .output()
        .unwrap();
    assert_eq!(quiet.status.code(), Some(0), "{}", stderr(&quiet));
    assert_eq!(stderr(&quiet), "");
    assert_eq!(stdout(&quiet), stdout(&output));
}

#[test]
fn verbose_names_the_model_file_template_kernels_and_each_summarys_speed() {
    let dir = tempfile::tempdir().unwrap();
    let (model, article) = tiny_model_and_article(dir.path());
    for batch in [&[][..], &["--format", "jsonl"][..]] {
        let output = abridge(dir.path())
            .args(["summarize", "--raw", "--words", "10", "-v"])
            .args(batch)
            .arg("--model")
            .arg(&model)
            .arg(&article)
            .output()
            .unwrap();
        let err = stderr(&output);
        assert!(output.status.success(), "{err}");
        let loaded = format!("abridge: tiny from {}, ", model.display());
        let line = err
            .lines()
            .find(|l| l.starts_with(&loaded))
            .unwrap_or_else(|| panic!("{err}"));
        // The tiny model's GGUF carries no chat template: its family's is used.
        assert!(line.contains("its family's chat template"), "{line}");
        assert!(
            line.contains("matmul kernels ") && line.contains("threads"),
            "{line}"
        );
        let speed = format!("abridge: {}: ", article.display());
        let line = err
            .lines()
            .find(|l| l.starts_with(&speed) && l.contains("input tokens"))
            .unwrap_or_else(|| panic!("{batch:?}: {err}"));
        assert!(
            line.contains("output tokens in") && line.contains("tokens/s"),
            "{line}"
        );
    }
}

#[test]
fn quiet_keeps_errors_and_drops_the_rest_and_cannot_go_with_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let (model, article) = tiny_model_and_article(dir.path());
    let empty = dir.path().join("empty.txt");
    fs::write(&empty, "").unwrap();
    let batch = |extra: &[&str]| {
        abridge(dir.path())
            .args(["summarize", "--raw", "--words", "10", "--format", "jsonl"])
            .args(extra)
            .arg("--model")
            .arg(&model)
            .arg(&article)
            .arg(&empty)
            .output()
            .unwrap()
    };
    let chatty = batch(&[]);
    let err = stderr(&chatty);
    assert_eq!(chatty.status.code(), Some(1), "{err}");
    assert!(err.contains("model loaded in") && err.contains("done 1, up to date 0, failed 1"));
    let quiet = batch(&["--quiet"]);
    assert_eq!(quiet.status.code(), Some(1));
    let err = stderr(&quiet);
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [format!("abridge: {}: empty", empty.display())]
    );
    assert_eq!(stdout(&quiet).lines().count(), 2, "{}", stdout(&quiet));

    for command in ["summarize", "eval"] {
        let output = abridge(dir.path())
            .args([command, "-q", "-v"])
            .arg(&article)
            .output()
            .unwrap();
        assert_fails_usage(&output, &["--quiet", "--verbose"]);
    }
}

/// Asserts a clap usage error: exit 2, the message naming every `needle`, no panic.
fn assert_fails_usage(output: &Output, needles: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` missing from: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn color_follows_the_flag_and_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let escapes = |args: &[&str], env: &[(&str, &str)]| {
        let output = abridge(dir.path())
            .args(args)
            .envs(env.iter().copied())
            .env_remove("CLICOLOR")
            .output()
            .unwrap();
        let text = stdout(&output) + &stderr(&output);
        text.contains('\u{1b}')
    };
    // Help on a pipe: colour only when asked for (or forced, unless NO_COLOR).
    assert!(escapes(&["--color", "always", "--help"], &[]));
    assert!(escapes(
        &["summarize", "--help", "--color=always"],
        &[("NO_COLOR", "1")]
    ));
    assert!(!escapes(
        &["--color", "never", "--help"],
        &[("CLICOLOR_FORCE", "1")]
    ));
    assert!(escapes(
        &["--help"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "")]
    ));
    assert!(!escapes(
        &["--help"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    ));
    // Usage errors and abridge's own errors alike.
    assert!(escapes(&["summarize", "--bogus", "--color", "always"], &[]));
    assert!(!escapes(
        &["summarize", "--bogus"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "x")]
    ));
    let missing = ["summarize", "/no/such/article.txt", "--color", "always"];
    assert!(escapes(&missing, &[]));
    assert!(!escapes(&missing[..2], &[]));
    let output = abridge(dir.path())
        .args(["--color", "purple", "--help"])
        .output()
        .unwrap();
    assert_fails_usage(&output, &["purple", "--color"]);
}

/// The subcommands every completion script and the man page must name.
const SUBCOMMANDS: [&str; 6] = ["summarize", "models", "eval", "bench", "completions", "man"];

#[test]
fn completion_scripts_name_every_subcommand_and_a_bad_shell_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = abridge(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        for name in SUBCOMMANDS {
            assert!(script.contains(name), "{shell}: `{name}` missing");
        }
        // Options of subcommands are completed too.
        assert!(script.contains("batch-size"), "{shell}: no --batch-size");
    }
    let output = abridge(dir.path())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("'tcsh'"), "{}", stderr(&output));
}

#[test]
fn the_man_page_is_roff_with_a_title_and_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let output = abridge(dir.path()).arg("man").output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let page = stdout(&output);
    let lines: Vec<&str> = page.lines().collect();
    // Only roff's string definitions come before the title line.
    let title = lines
        .iter()
        .position(|line| line.starts_with(".TH abridge 1"))
        .unwrap_or_else(|| panic!("no .TH line:\n{page}"));
    assert!(lines[..title].iter().all(|line| line.starts_with('.')));
    assert!(page.contains(".SH NAME") && page.contains(".SH SUBCOMMANDS"));
    for name in SUBCOMMANDS {
        assert!(
            page.contains(&format!("abridge\\-{name}")),
            "`{name}` missing"
        );
    }
}

/// Every subcommand below `command` (itself included), with its path of names.
fn subcommands(command: &clap::Command, path: Vec<String>) -> Vec<(Vec<String>, clap::Command)> {
    let mut all = vec![(path.clone(), command.clone())];
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut path = path.clone();
        path.push(sub.get_name().to_string());
        all.extend(subcommands(sub, path));
    }
    all
}

#[test]
fn every_subcommand_has_two_to_four_examples_that_parse() {
    use clap::CommandFactory;
    let cli = abridge::cli::Cli::command();
    let all = subcommands(&cli, Vec::new());
    assert!(all.len() >= 11, "{} commands", all.len());
    let dir = tempfile::tempdir().unwrap();
    for (path, command) in all.into_iter().skip(1) {
        let name = path.join(" ");
        let help = command
            .get_after_help()
            .unwrap_or_else(|| panic!("`{name}` has no examples"))
            .to_string();
        let mut lines = help.lines();
        assert_eq!(lines.next(), Some("Examples:"), "{name}");
        let examples: Vec<&str> = lines.collect();
        assert!((2..=4).contains(&examples.len()), "{name}: {examples:?}");
        for example in examples {
            // The command itself: before a comment, a redirection or a pipe.
            let words: Vec<&str> = example
                .split(" #")
                .next()
                .unwrap()
                .split_whitespace()
                .take_while(|word| !matches!(*word, ">" | ">>" | "|"))
                .collect();
            assert_eq!(words[0], "abridge", "{example}");
            assert_eq!(
                words[1..=path.len()],
                path[..],
                "`{example}` is not `{name}`"
            );
            if let Err(error) = abridge::cli::Cli::command().try_get_matches_from(&words) {
                panic!("`{example}` does not parse: {error}");
            }
        }
        // And `--help` shows them.
        let output = abridge(dir.path())
            .args(&path)
            .arg("--help")
            .output()
            .unwrap();
        assert!(output.status.success(), "{name}");
        assert!(
            stdout(&output).contains(&help),
            "{name} --help:\n{}",
            stdout(&output)
        );
    }
}
