//! End-to-end runs with real weights (run alone with `cargo test --release --test
//! real_weights`): SmolLM2 through the whole path, the default model's summary of the seed
//! article, and map-reduce over three unrelated articles joined into one long input. The
//! weights must have been fetched (`abridge models fetch NAME`); a missing model fails the
//! test with that instruction.

mod common;

use abridge::article::split_sentences;
use common::{abridge_real, shared, stderr, stdout};
use std::collections::HashSet;
use std::fs;

const DEFAULT_MODEL: &str = "qwen2.5-coder-1.5b-instruct";

fn summarize_json(model: &str, article: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let output = abridge_real("summarize", model)
        .args(["--format", "json"])
        .args(extra)
        .arg(article)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(stdout(&output).trim()).expect("one JSON object")
}

fn assert_no_repeated_sentence(summary: &str) {
    let mut seen = HashSet::new();
    for sentence in split_sentences(summary) {
        assert!(
            seen.insert(sentence.to_lowercase()),
            "repeated sentence `{sentence}` in: {summary}"
        );
    }
}

#[test]
fn smollm2_runs_the_whole_path() {
    let json = summarize_json(
        "smollm2-135m-instruct",
        &shared("seeds/article.txt"),
        &["--words", "30"],
    );
    assert_eq!(json["model"], "smollm2-135m-instruct");
    assert_eq!(json["chunks"], 1);
    assert!(json["input_tokens"].as_u64().unwrap() > 800);
    assert!(json["output_tokens"].as_u64().unwrap() > 0);
    assert!(!json["summary"].as_str().unwrap().trim().is_empty());
}

#[test]
fn the_default_model_summarizes_the_seed_article() {
    let json = summarize_json(DEFAULT_MODEL, &shared("seeds/article.txt"), &[]);
    let summary = json["summary"].as_str().unwrap();
    let words = summary.split_whitespace().count();
    assert!((60..=160).contains(&words), "{words} words: {summary}");
    for name in ["Meta", "Scale AI", "Wang"] {
        assert!(summary.contains(name), "`{name}` missing from: {summary}");
    }
    for boilerplate in [
        "share the story",
        "TechStartUps",
        "Source link",
        "attract attention",
    ] {
        assert!(
            !summary.contains(boilerplate),
            "boilerplate `{boilerplate}` in: {summary}"
        );
    }
    assert_no_repeated_sentence(summary);
}

#[test]
fn map_reduce_over_a_long_input_drops_no_article() {
    // Three unrelated articles joined; a 1,280-token window forces several parts.
    let rows: Vec<serde_json::Value> = fs::read_to_string(shared("eval/cnndm-test-a.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let picks = [(0, "Adebayor"), (9, "Kunis"), (22, "Bader")];
    let joined: Vec<&str> = picks
        .iter()
        .map(|(i, _)| rows[*i]["article"].as_str().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("three-stories.txt");
    fs::write(&long, joined.join("\n\n")).unwrap();

    let json = summarize_json(DEFAULT_MODEL, &long, &["--window", "1280"]);
    let summary = json["summary"].as_str().unwrap();
    assert!(json["chunks"].as_u64().unwrap() >= 3, "{json}");
    for (_, name) in picks {
        assert!(summary.contains(name), "`{name}` dropped from: {summary}");
    }
    assert_no_repeated_sentence(summary);
}
