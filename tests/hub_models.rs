//! Encoder-decoders from Hub-layout folders, token for token as transformers runs them: tiny
//! random BART, mBART, PEGASUS, T5 and FLAN-T5 models written by
//! `scripts/seq2seq-fixtures.py` with
//! transformers' own logits and outputs beside them (tests/fixtures/seq2seq/*/expected.json).
//! abridge must tokenize each input as transformers did, give the same logits (within 1e-4),
//! and generate the same token ids, greedily and with each model's own generation settings
//! (beam search with its length penalty and early stopping, min_length, no-repeat n-grams,
//! forced first and last tokens).

mod common;

use abridge::generate::{generate, generate_batch, DecodeOptions, Request, StopReason};
use abridge::model::{self, tokens, GenerationConfig, LoadedModel, Step};
use anyhow::Result;
use candle_core::Device;
use serde::Deserialize;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct Expected {
    cases: Vec<Case>,
    /// Old-layout fixtures: awkward texts as transformers' converted tokenizer reads them.
    #[serde(default)]
    tokenization: Vec<Tokenized>,
    /// Old-layout fixtures: the folder's files.
    #[serde(default)]
    layout: Vec<String>,
}

#[derive(Deserialize)]
struct Tokenized {
    text: String,
    ids: Vec<u32>,
    /// `ids` decoded, special tokens skipped.
    decoded: String,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    input_ids: Vec<u32>,
    decoder_ids: Vec<u32>,
    /// Logits of the last `logits.len()` positions of `decoder_ids`.
    logits: Vec<Vec<f32>>,
    greedy_max_length: usize,
    greedy: Vec<u32>,
    own: Vec<u32>,
    /// `own` decoded, special tokens skipped.
    own_text: String,
    variants: Vec<Variant>,
}

/// The output under the model's own settings with some of them changed.
#[derive(Deserialize)]
struct Variant {
    change: serde_json::Value,
    ids: Vec<u32>,
}

/// The fixtures: the families in today's layout (tokenizer.json, safetensors), then BART,
/// PEGASUS and T5 in the older one (the slow tokenizer's files — vocab.json + merges.txt or
/// spiece.model — and BART's and PEGASUS's weights in pytorch_model.bin), written by
/// `scripts/legacy-layout-fixtures.py`.
const FAMILIES: [&str; 8] = [
    "bart",
    "mbart",
    "pegasus",
    "t5",
    "flan-t5",
    "bart-legacy",
    "pegasus-legacy",
    "t5-legacy",
];
const LEGACY: [&str; 3] = ["bart-legacy", "pegasus-legacy", "t5-legacy"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seq2seq")
        .join(name)
}

fn load(name: &str) -> Result<(LoadedModel, Expected)> {
    let dir = fixture(name);
    let model = model::load(&dir, &Device::Cpu)?;
    let expected = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json"))?)?;
    Ok((model, expected))
}

fn settings(model: &LoadedModel) -> GenerationConfig {
    model
        .generation
        .clone()
        .expect("a folder model has settings")
}

/// The model's settings as the fixture's greedy run changed them: one beam, no minimum, no
/// n-gram rule, the case's length.
fn greedy(model: &LoadedModel, case: &Case) -> GenerationConfig {
    GenerationConfig {
        num_beams: Some(1),
        min_length: Some(0),
        no_repeat_ngram_size: Some(0),
        max_length: Some(case.greedy_max_length),
        ..settings(model)
    }
}

fn end_tokens(config: &GenerationConfig) -> Vec<u32> {
    config.eos_token_id.as_ref().expect("an end token").ids()
}

/// The decoder's tokens as transformers returns them: the start token, the output, and the
/// end token when the output ended with it.
fn as_transformers(config: &GenerationConfig, tokens: &[u32], stop: StopReason) -> Vec<u32> {
    let start = config.decoder_start_token_id.expect("a start token");
    let mut ids = vec![start];
    ids.extend(tokens);
    if stop == StopReason::EndToken {
        ids.push(end_tokens(config)[0]);
    }
    ids
}

fn run(model: &mut LoadedModel, input: &[u32], options: &DecodeOptions) -> Result<Vec<u32>> {
    let config = settings(model);
    let generation = generate(
        model.network.as_mut(),
        &model.tokenizer,
        input,
        &end_tokens(&config),
        options,
        &mut |_, _| ControlFlow::Continue(()),
    )?;
    Ok(as_transformers(
        &config,
        &generation.tokens,
        generation.stop,
    ))
}

#[test]
fn inputs_are_tokenized_as_transformers_does() -> Result<()> {
    for name in FAMILIES {
        let (model, expected) = load(name)?;
        let prefix = settings(&model).prefix.unwrap_or_default();
        for case in &expected.cases {
            let ids = tokens::encode_source(&model.tokenizer, &format!("{prefix}{}", case.text))?;
            assert_eq!(ids, case.input_ids, "{name}: {}", case.text);
        }
    }
    Ok(())
}

#[test]
fn slow_tokenizer_files_are_read_as_transformers_converts_them() -> Result<()> {
    for name in LEGACY {
        let (model, expected) = load(name)?;
        assert!(
            !expected.layout.iter().any(|f| f == "tokenizer.json"),
            "{name}"
        );
        assert!(!expected.tokenization.is_empty(), "{name}");
        for case in &expected.tokenization {
            let ids = tokens::encode_source(&model.tokenizer, &case.text)?;
            assert_eq!(ids, case.ids, "{name}: {:?}", case.text);
            let decoded = model
                .tokenizer
                .decode(&ids, true)
                .map_err(anyhow::Error::msg)?;
            assert_eq!(decoded, case.decoded, "{name}: {:?}", case.text);
        }
    }
    Ok(())
}

#[test]
fn old_tokenizer_configs_without_added_tokens_get_the_classes_special_tokens() -> Result<()> {
    // Files written before transformers recorded `added_tokens_decoder` name only the
    // special tokens' spellings; the tokenizer class's defaults fill in the rest.
    for name in LEGACY {
        let dir = tempfile::tempdir()?;
        for entry in std::fs::read_dir(fixture(name))? {
            let entry = entry?;
            std::fs::copy(entry.path(), dir.path().join(entry.file_name()))?;
        }
        let config_path = dir.path().join("tokenizer_config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config_path)?)?;
        config
            .as_object_mut()
            .expect("an object")
            .remove("added_tokens_decoder")
            .expect("the fixture lists its added tokens");
        std::fs::write(&config_path, config.to_string())?;
        let model = model::load(dir.path(), &Device::Cpu)?;
        let (_, expected) = load(name)?;
        for case in &expected.tokenization {
            let ids = tokens::encode_source(&model.tokenizer, &case.text)?;
            assert_eq!(ids, case.ids, "{name}: {:?}", case.text);
        }
        for case in &expected.cases {
            let decoded = model
                .tokenizer
                .decode(&case.own, true)
                .map_err(anyhow::Error::msg)?;
            assert_eq!(decoded, case.own_text, "{name}");
        }
    }
    Ok(())
}

#[test]
fn weights_stored_in_bf16_run_as_f32_and_verbose_output_says_so() -> Result<()> {
    // t5-legacy's weights are stored in bf16: transformers widens them to f32 when it loads
    // them, as abridge does (logits_match_transformers holds for it too).
    assert_eq!(load("t5-legacy")?.0.weights, "bf16 → f32");
    assert_eq!(load("t5")?.0.weights, "f32");
    let dir = tempfile::tempdir()?;
    let article = dir.path().join("a.txt");
    std::fs::write(&article, &load("t5-legacy")?.1.cases[0].text)?;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_abridge"))
        .args(["summarize", "--offline", "--raw", "-v", "--model"])
        .arg(fixture("t5-legacy"))
        .arg(&article)
        .env("ABRIDGE_CACHE", dir.path().join("cache"))
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("weights bf16 → f32"), "{stderr}");
    Ok(())
}

#[test]
fn logits_match_transformers() -> Result<()> {
    for name in FAMILIES {
        let (mut model, expected) = load(name)?;
        for (index, case) in expected.cases.iter().enumerate() {
            let network = model.network.as_mut();
            let mut logits = vec![network.begin(0, &case.input_ids, 16)?];
            for (pos, token) in case.decoder_ids[1..].iter().enumerate() {
                let step = Step {
                    slot: 0,
                    tokens: std::slice::from_ref(token),
                    pos,
                };
                logits.push(network.step(&[step])?.squeeze(0)?.to_vec1()?);
            }
            let compared = &logits[logits.len() - case.logits.len()..];
            let mut worst = 0f32;
            for (ours, theirs) in compared.iter().zip(&case.logits) {
                assert_eq!(ours.len(), theirs.len());
                for (a, b) in ours.iter().zip(theirs) {
                    worst = worst.max((a - b).abs());
                }
            }
            eprintln!("{name} case {index}: logits differ by at most {worst:.1e}");
            assert!(
                worst < 1e-4,
                "{name} case {index}: logits differ by {worst}"
            );
        }
    }
    Ok(())
}

#[test]
fn greedy_outputs_match_transformers() -> Result<()> {
    for name in FAMILIES {
        let (mut model, expected) = load(name)?;
        for case in &expected.cases {
            let options = DecodeOptions::from_generation_config(&greedy(&model, case));
            assert_eq!(
                run(&mut model, &case.input_ids, &options)?,
                case.greedy,
                "{name}"
            );
        }
    }
    Ok(())
}

#[test]
fn outputs_with_the_models_own_settings_match_transformers() -> Result<()> {
    for name in FAMILIES {
        let (mut model, expected) = load(name)?;
        let options = DecodeOptions::from_generation_config(&settings(&model));
        assert!(
            options.beams > 1,
            "{name}: its settings ask for beam search"
        );
        for (index, case) in expected.cases.iter().enumerate() {
            let ids = run(&mut model, &case.input_ids, &options)?;
            assert_eq!(ids, case.own, "{name} case {index}");
        }
    }
    Ok(())
}

#[test]
fn outputs_with_changed_length_penalty_stopping_beams_and_minimum_match_transformers() -> Result<()>
{
    let mut distinct = std::collections::HashSet::new();
    for name in FAMILIES {
        let (mut model, expected) = load(name)?;
        for (index, case) in expected.cases.iter().enumerate() {
            for variant in &case.variants {
                let mut settings = serde_json::to_value(settings(&model))?;
                for (key, value) in variant.change.as_object().expect("a change is an object") {
                    settings[key] = value.clone();
                }
                let config: GenerationConfig = serde_json::from_value(settings)?;
                let options = DecodeOptions::from_generation_config(&config);
                let ids = run(&mut model, &case.input_ids, &options)?;
                assert_eq!(
                    ids, variant.ids,
                    "{name} case {index} with {}",
                    variant.change
                );
                distinct.insert(ids);
            }
        }
    }
    // The changes change outputs: the test can tell the settings apart.
    assert!(
        distinct.len() >= 12,
        "only {} distinct outputs",
        distinct.len()
    );
    Ok(())
}

#[test]
fn the_summarization_task_parameters_override_the_generation_config() -> Result<()> {
    // mbart's generation_config.json asks for 5 beams, early stopping and 26 tokens; its
    // config.json's summarization task for 3 beams, the heuristic stop and 28 tokens.
    let (model, _) = load("mbart")?;
    let options = DecodeOptions::from_generation_config(&settings(&model));
    assert_eq!(options.beams, 3);
    assert_eq!(options.max_new_tokens, 27);
    assert_eq!(options.min_new_tokens, 7);
    assert_eq!(options.no_repeat_ngram, 2);
    assert_eq!(options.length_penalty, 0.6);
    assert_eq!(
        options.early_stopping,
        abridge::generate::EarlyStopping::Heuristic
    );
    Ok(())
}

#[test]
fn batched_greedy_decoding_gives_each_input_its_own_output() -> Result<()> {
    let (mut model, expected) = load("bart")?;
    let config = greedy(&model, &expected.cases[0]);
    let options = DecodeOptions::from_generation_config(&config);
    let requests = expected
        .cases
        .iter()
        .map(|case| Request {
            prompt: &case.input_ids,
            options: &options,
            on_text: Box::new(|_, _| ControlFlow::Continue(())),
            stop_at: None,
        })
        .collect();
    let results = generate_batch(
        model.network.as_mut(),
        &model.tokenizer,
        &end_tokens(&config),
        requests,
        2,
    )?;
    for (result, case) in results.into_iter().zip(&expected.cases) {
        let generation = result?;
        let ids = as_transformers(&config, &generation.tokens, generation.stop);
        assert_eq!(ids, case.greedy);
    }
    Ok(())
}

#[test]
fn summarize_with_a_model_folder_prints_what_transformers_generates() -> Result<()> {
    let dir = tempfile::tempdir()?;
    for name in FAMILIES {
        let (_, expected) = load(name)?;
        for (index, case) in expected.cases.iter().enumerate() {
            let article = dir.path().join(format!("{name}-{index}.txt"));
            std::fs::write(&article, &case.text)?;
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_abridge"))
                .args(["summarize", "--offline", "--raw", "--model"])
                .arg(fixture(name))
                .arg(&article)
                .env("ABRIDGE_CACHE", dir.path().join("cache"))
                .output()?;
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{name} case {index}: {stderr}");
            let printed = String::from_utf8(output.stdout)?;
            assert_eq!(printed.trim(), case.own_text.trim(), "{name} case {index}");
        }
    }
    Ok(())
}

#[test]
fn an_article_many_windows_long_is_summarized_in_parts_and_merged() -> Result<()> {
    // Each fixture reads at most a few hundred tokens; the article is ten times that, so
    // its parts' summaries take several levels of merging, whose every input must fit.
    let dir = tempfile::tempdir()?;
    let article = dir.path().join("long.txt");
    std::fs::write(&article, common::long_article(60))?;
    for name in FAMILIES {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_abridge"))
            .args(["summarize", "--offline", "--raw", "--model"])
            .arg(fixture(name))
            .arg(&article)
            .env("ABRIDGE_CACHE", dir.path().join("cache"))
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}: {stderr}");
        assert!(stderr.contains("parts and merged"), "{name}: {stderr}");
    }
    Ok(())
}

#[test]
fn a_report_with_a_summarization_model_is_a_usage_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let article = dir.path().join("a.txt");
    std::fs::write(
        &article,
        "The council voted to build a bridge over the river.",
    )?;
    let out = dir.path().join("out");
    for batch in [false, true] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_abridge"));
        command
            .args(["summarize", "--offline", "--report", "--model"])
            .arg(fixture("bart"))
            .arg(&article)
            .env("ABRIDGE_CACHE", dir.path().join("cache"));
        if batch {
            command.arg("--out").arg(&out);
        }
        let output = command.output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "batch {batch}: {stderr}");
        assert!(
            stderr.contains("only summarizes"),
            "batch {batch}: {stderr}"
        );
        assert!(output.stdout.is_empty());
    }
    assert!(!out.join("a.summary.txt").exists());
    Ok(())
}

#[test]
fn a_broken_model_folder_is_one_line_naming_it_and_exit_1() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let article = dir.path().join("article.txt");
    std::fs::write(&article, "The council approved the plan on Tuesday.")?;
    let copy_of = |name: &str, breakage: &str| -> Result<PathBuf> {
        let folder = dir.path().join(breakage);
        std::fs::create_dir(&folder)?;
        for entry in std::fs::read_dir(fixture(name))? {
            let entry = entry?;
            std::fs::copy(entry.path(), folder.join(entry.file_name()))?;
        }
        Ok(folder)
    };
    let copy = |breakage: &str| copy_of("bart", breakage);
    let no_tokenizer = copy("no-tokenizer")?;
    std::fs::remove_file(no_tokenizer.join("tokenizer.json"))?;
    let unknown = copy("unknown-type")?;
    let config = std::fs::read_to_string(unknown.join("config.json"))?;
    std::fs::write(
        unknown.join("config.json"),
        config.replace("\"model_type\": \"bart\"", "\"model_type\": \"mamba\""),
    )?;
    let wrong_shape = copy("wrong-shape")?;
    let config = std::fs::read_to_string(wrong_shape.join("config.json"))?;
    std::fs::write(
        wrong_shape.join("config.json"),
        config.replace("\"d_model\": 32", "\"d_model\": 40"),
    )?;
    let truncated = copy("truncated")?;
    let weights = std::fs::read(truncated.join("model.safetensors"))?;
    std::fs::write(
        truncated.join("model.safetensors"),
        &weights[..weights.len() / 2],
    )?;
    let truncated_bin = copy_of("pegasus-legacy", "truncated-bin")?;
    let weights = std::fs::read(truncated_bin.join("pytorch_model.bin"))?;
    std::fs::write(
        truncated_bin.join("pytorch_model.bin"),
        &weights[..weights.len() / 2],
    )?;
    let no_weights = copy_of("pegasus-legacy", "no-weights")?;
    std::fs::remove_file(no_weights.join("pytorch_model.bin"))?;
    let bad_spiece = copy_of("pegasus-legacy", "bad-spiece")?;
    std::fs::write(bad_spiece.join("spiece.model"), b"\xff\xff\xff not a model")?;
    for (folder, reason) in [
        (
            &no_tokenizer,
            "no tokenizer (tokenizer.json or vocab.json + merges.txt expected)",
        ),
        (&truncated_bin, "not a readable PyTorch checkpoint"),
        (&no_weights, "no weights (model.safetensors"),
        (&bad_spiece, "spiece.model: not a SentencePiece model"),
        (&unknown, "unsupported architecture `mamba`"),
        (&wrong_shape, "shape mismatch"),
        (&truncated, "not a readable safetensors file"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_abridge"))
            .args(["summarize", "--offline", "--model"])
            .arg(folder)
            .arg(&article)
            .env("ABRIDGE_CACHE", dir.path().join("cache"))
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{reason}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{reason}: {stderr}");
        assert!(stderr.contains(reason), "{reason}: {stderr}");
        assert!(stderr.contains(&folder.display().to_string()), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    Ok(())
}
