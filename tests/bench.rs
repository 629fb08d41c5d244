//! `abridge bench` end to end, through the binary: JSON lines carry every documented field,
//! devices this build lacks are reported as skipped (exit 0), and bad input is a usage error
//! (exit 2). The measured runs use the real SmolLM2-135M model from abridge's cache, so they
//! are ignored by a plain `cargo test`; `scripts/test.sh` fetches the model first and runs
//! them (when it is missing they fail and say so). Speed itself is never asserted.

use serde_json::Value;
use std::process::{Command, Output};

const MODEL: &str = "smollm2-135m-instruct";

/// A short invented article, so that prefill on a slow CPU path stays quick.
const ARTICLE: &str = "The town council of Kellerby voted 9 to 4 on Tuesday to build a floating \
solar farm on the Marrow Reservoir. The 21.6 million euro project will cover 8 percent of the \
lake and power the water works. Anglers opposed the plan and may go to court.";

fn abridge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_abridge"))
        .args(args)
        .output()
        .expect("the abridge binary runs")
}

/// Fails the test, with the fix, when the model is not in abridge's cache.
fn require_model() {
    let out = abridge(&["models", "path", MODEL, "--offline"]);
    assert!(
        out.status.success(),
        "model `{MODEL}` is not cached, so the bench cannot be tested; run \
         `abridge models fetch {MODEL}` first (with the same ABRIDGE_CACHE): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

#[test]
#[ignore = "real weights: run by scripts/test.sh or `cargo test -- --ignored`"]
fn json_lines_carry_every_field_and_missing_devices_are_skipped() {
    require_model();
    let dir = tempfile::tempdir().unwrap();
    let article = dir.path().join("article.txt");
    std::fs::write(&article, ARTICLE).unwrap();
    let out = abridge(&[
        "bench",
        "--model",
        MODEL,
        "--offline",
        "--device",
        "cpu,cuda",
        "--prompt-file",
        article.to_str().unwrap(),
        "--gen",
        "4",
        "--runs",
        "1",
        "--words",
        "10",
        "--threads",
        "2",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per device: {lines:?}");

    let cpu = &lines[0];
    assert_eq!(cpu["schema_version"], 1);
    assert_eq!(cpu["device"], "cpu");
    assert_eq!(cpu["model"], MODEL);
    assert_eq!(cpu["threads"], 2);
    assert_eq!(cpu["gen_tokens"], 4);
    assert_eq!(cpu["runs"], 1);
    assert_eq!(cpu["prefill_chunk"], 128);
    let prompt_tokens = cpu["prompt_tokens"].as_u64().unwrap();
    assert!(
        (60..200).contains(&prompt_tokens),
        "template, instruction and a 45-word article: {prompt_tokens}"
    );
    for field in [
        "model_mb",
        "load_s",
        "prefill_tok_s",
        "decode_tok_s",
        "ttft_s",
        "summary_s",
    ] {
        let value = cpu[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field}: {cpu}"));
        assert!(value > 0.0 && value.is_finite(), "{field} = {value}");
    }
    for speed in ["prefill_tok_s", "decode_tok_s"] {
        let (min, max) = (&cpu[format!("{speed}_min")], &cpu[format!("{speed}_max")]);
        assert_eq!((min, max), (&cpu[speed], &cpu[speed]), "one round: {cpu}");
    }
    assert!(cpu["summary_tokens"].as_u64().unwrap() > 0);
    let peak = cpu["peak_rss_mb"]
        .as_f64()
        .expect("Linux reports peak memory");
    assert!(
        peak >= cpu["model_mb"].as_f64().unwrap() / 2.0,
        "the model's weights are resident: {peak} MB"
    );

    let cuda = &lines[1];
    assert_eq!(cuda.as_object().unwrap().len(), 3, "{cuda}");
    assert_eq!(cuda["schema_version"], 1);
    assert_eq!(cuda["device"], "cuda");
    let reason = cuda["skipped"].as_str().unwrap();
    if !cfg!(feature = "cuda") {
        assert!(reason.contains("lacks the `cuda` feature"), "{reason}");
    }
}

#[cfg(not(feature = "cuda"))]
#[test]
#[ignore = "real weights: run by scripts/test.sh or `cargo test -- --ignored`"]
fn a_device_the_build_lacks_is_a_table_row_not_a_failure() {
    require_model();
    let out = abridge(&["bench", "--model", MODEL, "--offline", "--device", "cuda"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("DEVICE  MODEL  KERNELS"), "{table}");
    assert!(lines[2].starts_with("CPU: "), "{table}");
    // Then the legend, a line per column.
    assert_eq!(lines[3], "", "{table}");
    assert!(
        lines[4].starts_with("Medians over the measured rounds"),
        "{table}"
    );
    assert_eq!(lines.len(), 5 + 12, "{table}");
    assert!(
        lines[1].starts_with("cuda")
            && lines[1]
                .contains("skipped: CUDA is not available: this build lacks the `cuda` feature"),
        "{table}"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &["bench", "--gen", "1"][..],
        &["bench", "--runs", "0"],
        &["bench", "--device", "gpu"],
        &["bench", "--prefill-chunk", "0"],
        &["bench", "--model", "no-such-model.gguf", "--offline"],
        &["bench", "--prompt-file", "/no/such/article.txt"],
    ] {
        let out = abridge(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} explains itself");
    }
}

#[test]
fn an_encoder_decoder_is_benchmarked_within_its_own_limits() {
    // The tiny PEGASUS fixture: 128 input positions, 127 outputs. The article is cut to its
    // input limit for the fixed-length run and the tokens asked for to its output limit;
    // the summary reads it in parts and merges them.
    let folder = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seq2seq/pegasus"
    );
    let dir = tempfile::tempdir().unwrap();
    let article = write_article(dir.path());
    let bench = |format: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_abridge"))
            .args(["bench", "--offline", "--device", "cpu", "--runs", "1"])
            .args(format)
            .args(["--gen", "500", "--model", folder, "--prompt-file"])
            .arg(&article)
            .env("ABRIDGE_CACHE", dir.path().join("cache"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    // `--json` is the older spelling of `--format jsonl`; `--format json` is one array.
    let report: Value = serde_json::from_str(bench(&["--json"]).trim()).unwrap();
    let array: Value = serde_json::from_str(bench(&["--format", "json"]).trim()).unwrap();
    assert_eq!(array.as_array().unwrap().len(), 1);
    assert_eq!(array[0]["gen_tokens"], report["gen_tokens"]);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(array[0]["schema_version"], 1);
    assert_eq!(report["device"], "cpu");
    assert_eq!(report["gen_tokens"], 127);
    assert!(report["prompt_tokens"].as_u64().unwrap() <= 128);
    assert!(report["decode_tok_s"].as_f64().unwrap() > 0.0);
    for speed in ["prefill_tok_s", "decode_tok_s"] {
        let at = |suffix: &str| report[format!("{speed}{suffix}")].as_f64().unwrap();
        // One round: its spread is itself (each figure rounded on its own).
        assert!((at("_min") - at("")).abs() <= 0.01, "{report}");
        assert!((at("_max") - at("")).abs() <= 0.01, "{report}");
    }
    assert!(report["summary_tokens"].as_u64().unwrap() > 0);
}

/// [`ARTICLE`] four times over (longer than the fixture's input limit), in `dir`.
fn write_article(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("article.txt");
    std::fs::write(&path, [ARTICLE; 4].join("\n\n")).unwrap();
    path
}
