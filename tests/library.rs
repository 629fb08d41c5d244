//! abridge as a library: `Summarizer::from_name` loads what `--model` takes (here the tiny
//! BART fixture folder), and `summary_of` gives the record `summarize --format json` prints
//! — for the fixture, the output transformers generates; and `ABRIDGE_MODEL`, which names
//! the model the command line does not.

use abridge::input::InputError;
use abridge::{Summarizer, SummaryOptions};
use std::path::Path;

#[test]
fn a_model_named_as_the_cli_names_it_summarizes_a_text_as_transformers_does() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seq2seq/bart");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("expected.json")).unwrap()).unwrap();
    let case = &expected["cases"][0];
    let mut summarizer = Summarizer::from_name(folder.to_str().unwrap()).unwrap();
    let options = SummaryOptions {
        raw: true,
        ..SummaryOptions::default()
    };
    let summary = summarizer
        .summary_of(case["text"].as_str().unwrap(), &options)
        .unwrap();
    assert_eq!(
        summary.summary.trim(),
        case["own_text"].as_str().unwrap().trim()
    );
    assert_eq!(summary.input, "<text>");
    assert_eq!(summary.chunks, 1);

    let err = summarizer.summary_of("   ", &options).unwrap_err();
    let input = err.downcast_ref::<InputError>().expect("an input error");
    assert_eq!(input.to_string(), "<text>: empty");
}

#[test]
fn abridge_model_names_the_model_the_command_line_does_not() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seq2seq/bart");
    let dir = tempfile::tempdir().unwrap();
    let article = dir.path().join("a.txt");
    std::fs::write(
        &article,
        "The council approved the new bridge over the river on Tuesday.",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_abridge"))
            .args([
                "summarize",
                "--offline",
                "--show-prompt",
                "--format",
                "json",
            ])
            .args(extra)
            .arg(&article)
            .env("ABRIDGE_MODEL", &folder)
            .env("ABRIDGE_CACHE", dir.path().join("cache"))
            .output()
            .unwrap()
    };
    let output = run(&[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // BART's input: <s> (id 0) … </s> (id 2) around the article, no chat template.
    let tokens = shown["tokens"].as_array().unwrap();
    assert_eq!(
        (tokens[0].as_u64(), tokens.last().unwrap().as_u64()),
        (Some(0), Some(2))
    );
    // --model wins over ABRIDGE_MODEL.
    let output = run(&["--model", "no-such-model"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-model"));
}
