//! Real GGUF files beside llama.cpp (run by `scripts/test.sh`; the weights must have been
//! fetched): Gemma 3 270M's tokenization of fixed prompts, token for token, and its logits
//! along llama.cpp's greedy continuations of them (`tests/fixtures/llamacpp/gemma-3-270m.json`,
//! made by `scripts/llamacpp-greedy.py`), and each cached catalogue file's chat template rendered as
//! jinja2 renders it for transformers (`chat-templates.json`, made by
//! `scripts/chat-template-fixtures.py`).

mod common;

use abridge::model::tokens;
use abridge::provision;
use candle_core::Device;
use common::{abridge_real, fixture, stderr, stdout};
use serde_json::Value;

const GEMMA: &str = "gemma-3-270m";

fn json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(path)).unwrap()).unwrap()
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

/// How far abridge's logits may be from llama.cpp's. Both quantize activations to 8 bits
/// for the quantized matrices, each its own way, and each lands about 0.3 (at most about
/// 0.8) from the same weights run in f32 (candle's full-precision Gemma 3, measured once
/// along these paths); the logits are about 20.
const LOGIT_TOLERANCE: f32 = 1.0;

/// Where llama.cpp's best token leads its second by more than twice the tolerance, the two
/// engines cannot disagree about it; nearer ties may go either way.
const CLEAR_LEAD: f32 = 2.0 * LOGIT_TOLERANCE;

#[test]
#[ignore = "real weights: run by scripts/test.sh or `cargo test -- --ignored`"]
fn gemma3_270m_tokenizes_and_continues_as_llama_cpp_does() {
    // Fails with the fetch instruction when the weights are missing.
    drop(abridge_real("models", GEMMA));
    let (_, path) = provision::resolve(Some(GEMMA), true).unwrap();
    let mut loaded = abridge::model::load(&path, &Device::Cpu).unwrap();
    let bos = loaded.tokenizer.token_to_id("<bos>").unwrap();
    let fixture = json("tests/fixtures/llamacpp/gemma-3-270m.json");
    for case in fixture["cases"].as_array().unwrap() {
        let text = case["prompt"].as_str().unwrap();
        let mut prompt = vec![bos];
        prompt.extend(tokens::encode_text(&loaded.tokenizer, text).unwrap());
        assert_eq!(prompt, ids(&case["prompt_tokens"]), "tokens of {text:.40}");
        // Along llama.cpp's greedy path: our logits of its five best tokens, and our best
        // token wherever its lead is clear.
        let path = ids(&case["greedy"]);
        let network = loaded.network.as_mut();
        let mut logits = network.begin(0, &prompt, 512).unwrap();
        let mut clear = 0;
        for (pos, (&theirs, top)) in path
            .iter()
            .zip(case["top5"].as_array().unwrap())
            .enumerate()
        {
            let top: Vec<(usize, f32)> = top
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_u64().unwrap() as usize,
                        p[1].as_f64().unwrap() as f32,
                    )
                })
                .collect();
            for &(token, logit) in &top {
                let d = (logits[token] - logit).abs();
                assert!(
                    d < LOGIT_TOLERANCE,
                    "{text:.40}: step {pos}, token {token}: logit {} against llama.cpp's {logit}",
                    logits[token]
                );
            }
            if top[0].1 - top[1].1 > CLEAR_LEAD {
                let ours = logits
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, _)| i as u32)
                    .unwrap();
                assert_eq!(ours, theirs, "{text:.40}: step {pos}");
                clear += 1;
            }
            let step = abridge::model::Step {
                slot: 0,
                tokens: &[theirs],
                pos,
            };
            logits = network
                .step(&[step])
                .unwrap()
                .get(0)
                .unwrap()
                .to_vec1()
                .unwrap();
        }
        assert!(
            clear >= 5,
            "{text:.40}: only {clear} steps with a clear lead"
        );
    }
}

#[test]
#[ignore = "real weights: run by scripts/test.sh or `cargo test -- --ignored`"]
fn gemma3_270m_runs_the_whole_path() {
    let article = fixture("examples/article.txt");
    let output = abridge_real("summarize", GEMMA)
        .args(["--format", "json", "--raw"])
        .arg(&article)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let record: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(record["model"], GEMMA);
    let summary = record["summary"].as_str().unwrap();
    assert!(summary.split_whitespace().count() >= 5, "{summary}");
}

#[test]
#[ignore = "real weights: run by scripts/test.sh or `cargo test -- --ignored`"]
fn each_cached_file_template_renders_as_jinja2_renders_it() {
    let fixtures = json("tests/fixtures/llamacpp/chat-templates.json");
    let mut checked = 0;
    for spec in abridge::catalogue::all() {
        let Some(expected) = fixtures.get(&spec.file) else {
            continue;
        };
        let Ok((spec, path)) = provision::resolve(Some(&spec.name), true) else {
            eprintln!("skipped {}: not fetched", spec.name);
            continue;
        };
        let summarizer = provision::load(spec, &path, Device::Cpu).unwrap();
        let system = expected["system"].as_str().unwrap();
        let user = expected["user"].as_str().unwrap();
        let rendered: String = summarizer
            .spec()
            .render_prompt(system, user)
            .iter()
            .map(|piece| piece.text())
            .collect();
        assert_eq!(
            rendered,
            expected["rendered"].as_str().unwrap(),
            "{}",
            summarizer.spec().name
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "no catalogue file with a template fixture is fetched"
    );
}
