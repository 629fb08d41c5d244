//! Helpers shared by the integration tests: running the `abridge` binary, the model cache
//! the real-weight tests use, and tiny random GGUF models written by the tests themselves.
#![allow(dead_code)] // each test target uses its own subset of these helpers

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A command running the built `abridge` binary with a private, empty model cache unless
/// `cache` is given.
pub fn abridge(cache: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_abridge"));
    command
        .env("ABRIDGE_CACHE", cache)
        .env("HF_HOME", cache.join("hf"))
        .env_remove("HF_HUB_CACHE")
        .env_remove("ABRIDGE_OFFLINE")
        .env_remove("ABRIDGE_MODEL")
        .env("ABRIDGE_CONFIG", "/dev/null");
    command
}

/// The cache holding real weights: `ABRIDGE_CACHE` if set, else abridge's default.
pub fn real_cache() -> PathBuf {
    std::env::var_os("ABRIDGE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs::cache_dir().expect("a cache dir").join("abridge"))
}

/// `abridge SUBCOMMAND --model MODEL --offline` against the real cache; fails with a clear
/// message when the weights of `model` have not been fetched.
pub fn abridge_real(subcommand: &str, model: &str) -> Command {
    let cache = real_cache();
    let probe = abridge(&cache)
        .args(["models", "path", model, "--offline"])
        .output()
        .expect("run abridge");
    assert!(
        probe.status.success(),
        "the real-weight tests need `{model}`: run `abridge models fetch {model}` first ({})",
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    let mut command = abridge(&cache);
    command.args([subcommand, "--model", model, "--offline"]);
    command
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The file at `path` in the folder beside the checkout that holds the project's shared
/// seeds and evaluation data, or `None`, after a line saying the test is skipped, where the
/// folder is absent (it exists only on the project's own machines, not in a clone).
pub fn shared(path: &str) -> Option<PathBuf> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(path);
    if !file.exists() {
        // The stderr handle itself, which the test harness does not capture: the line shows
        // in a plain `cargo test` run, not only with `--nocapture`.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: ../shared/{path} is not beside the checkout"
        );
    }
    file.exists().then_some(file)
}

/// A file the repository carries for its tests, under `tests/fixtures/` or `examples/`.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A plain article of `paragraphs` paragraphs, each of two sentences with figures: many
/// windows of a tiny model long, so that it is summarized in parts and merged.
pub fn long_article(paragraphs: usize) -> String {
    (1..=paragraphs)
        .map(|i| {
            format!(
                "In week {i} the council of district {i} met for {} hours and approved {} new \
                 homes. Residents asked how the {i}th budget would be paid for.",
                i % 7 + 1,
                i * 13
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// GPT-2's byte-to-character table: the 256 printable characters byte-level BPE uses.
fn byte_level_alphabet() -> Vec<String> {
    let printable: Vec<u32> = (u32::from('!')..=u32::from('~'))
        .chain(u32::from('¡')..=u32::from('¬'))
        .chain(u32::from('®')..=u32::from('ÿ'))
        .collect();
    let mut extra = 0;
    (0..256u32)
        .map(|byte| {
            let code = if printable.contains(&byte) {
                byte
            } else {
                extra += 1;
                255 + extra
            };
            char::from_u32(code).expect("valid char").to_string()
        })
        .collect()
}

/// The special tokens of the tiny models, ChatML's.
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// The shape of a tiny random decoder written by [`write_tiny_decoder`]: 2 blocks (6 for
/// `gemma3`, whose sixth is global), hidden size 64, 4 query and 2 key/value heads, Q8_0
/// weights, and what its family's file holds.
pub struct TinyDecoder<'a> {
    pub architecture: &'a str,
    /// `attn_q_norm` / `attn_k_norm` (Qwen3, Gemma 3).
    pub head_norms: bool,
    /// `post_attention_norm` / `post_ffw_norm` (Gemma 3).
    pub post_norms: bool,
    /// `attn_qkv` and a gate-and-up `ffn_up` (Phi-3).
    pub fused: bool,
    /// Query/key/value biases (Qwen2).
    pub biases: bool,
    /// A head dimension other than hidden / heads (`attention.key_length`).
    pub head_dim: Option<usize>,
    /// `attention.sliding_window` (Gemma 3).
    pub sliding_window: Option<usize>,
    /// A `rope_freqs.weight` of these factors (Llama 3).
    pub rope_freqs: Option<Vec<f32>>,
    pub blocks: usize,
    /// An output projection of its own (`output.weight`, Phi-3), not the tied embedding.
    pub untied: bool,
    /// The weight matrices' type: Q8_0 (abridge's kernels), or F32 where a test compares
    /// with another implementation and wants no quantization noise.
    pub dtype: GgmlDType,
    /// A Jinja chat template (`tokenizer.chat_template`).
    pub chat_template: Option<&'a str>,
    /// Whether the file describes its tokenizer (`tokenizer.ggml.*`).
    pub tokenizer: bool,
}

impl TinyDecoder<'_> {
    /// The tiny decoder of `architecture` as its family stores it.
    pub fn of(architecture: &str) -> TinyDecoder<'_> {
        TinyDecoder {
            architecture,
            head_norms: matches!(architecture, "qwen3" | "gemma3"),
            post_norms: architecture == "gemma3",
            fused: architecture == "phi3",
            biases: architecture == "qwen2",
            head_dim: (architecture == "qwen3").then_some(32),
            sliding_window: (architecture == "gemma3").then_some(4),
            rope_freqs: None,
            blocks: if architecture == "gemma3" { 6 } else { 2 },
            untied: architecture == "phi3",
            dtype: GgmlDType::Q8_0,
            chat_template: None,
            tokenizer: true,
        }
    }
}

/// Writes a tiny random decoder (`qwen2` or `llama`) with a byte-level tokenizer to `path`:
/// 2 blocks, hidden size 64, 4 query and 2 key/value heads, Q8_0 weights.
pub fn write_tiny_model(path: &Path, architecture: &str) {
    write_tiny_decoder(path, &TinyDecoder::of(architecture));
}

/// Writes the tiny random decoder `shape` describes, with a byte-level tokenizer, to `path`.
pub fn write_tiny_decoder(path: &Path, shape: &TinyDecoder) {
    let architecture = shape.architecture;
    let device = Device::Cpu;
    let (hidden, ffn, heads, kv_heads, blocks) = (64usize, 128usize, 4usize, 2usize, shape.blocks);
    let head_dim = shape.head_dim.unwrap_or(hidden / heads);
    let mut tokens = byte_level_alphabet();
    tokens.extend(SPECIAL_TOKENS.iter().map(|s| s.to_string()));
    let vocab = tokens.len();
    let mut token_types = vec![1u32; 256];
    token_types.extend([3, 3, 3]);

    // Seeded, so that every run of a test meets the same model (uniform weights with a
    // standard deviation of 0.3; norms near 1).
    let rng = std::cell::RefCell::new(StdRng::seed_from_u64(2024));
    let random = |rows: usize, cols: usize, _: GgmlDType| {
        let dtype = shape.dtype;
        let bound = 0.3 * 3f32.sqrt();
        let values: Vec<f32> = (0..rows * cols)
            .map(|_| rng.borrow_mut().random_range(-bound..bound))
            .collect();
        let t = Tensor::from_vec(values, (rows, cols), &device).unwrap();
        QTensor::quantize(&t, dtype).unwrap()
    };
    let vector = |n: usize, value: f32| {
        QTensor::quantize(&Tensor::full(value, n, &device).unwrap(), GgmlDType::F32).unwrap()
    };
    // The first families' tiny models keep norms of 1 (and their tests the models they had).
    let plain_norms = matches!(architecture, "qwen2" | "llama" | "mamba");
    let norm = |n: usize| {
        if plain_norms {
            return vector(n, 1.0);
        }
        let values: Vec<f32> = (0..n)
            .map(|_| 1.0 + rng.borrow_mut().random_range(-0.2f32..0.2))
            .collect();
        QTensor::quantize(
            &Tensor::from_vec(values, n, &device).unwrap(),
            GgmlDType::F32,
        )
        .unwrap()
    };
    let mut tensors: Vec<(String, QTensor)> = vec![
        (
            "token_embd.weight".into(),
            random(vocab, hidden, GgmlDType::Q8_0),
        ),
        ("output_norm.weight".into(), norm(hidden)),
    ];
    if shape.untied {
        tensors.push((
            "output.weight".into(),
            random(vocab, hidden, GgmlDType::Q8_0),
        ));
    }
    if let Some(factors) = &shape.rope_freqs {
        let t = Tensor::new(factors.as_slice(), &device).unwrap();
        tensors.push((
            "rope_freqs.weight".into(),
            QTensor::quantize(&t, GgmlDType::F32).unwrap(),
        ));
    }
    for b in 0..blocks {
        let (q, kv) = (heads * head_dim, kv_heads * head_dim);
        let blk = |name: &str| format!("blk.{b}.{name}.weight");
        tensors.push((blk("attn_norm"), norm(hidden)));
        tensors.push((blk("ffn_norm"), norm(hidden)));
        if shape.fused {
            tensors.push((blk("attn_qkv"), random(q + 2 * kv, hidden, GgmlDType::Q8_0)));
            tensors.push((blk("attn_output"), random(hidden, q, GgmlDType::Q8_0)));
            tensors.push((blk("ffn_up"), random(2 * ffn, hidden, GgmlDType::Q8_0)));
        } else {
            tensors.extend([
                (blk("attn_q"), random(q, hidden, GgmlDType::Q8_0)),
                (blk("attn_k"), random(kv, hidden, GgmlDType::Q8_0)),
                (blk("attn_v"), random(kv, hidden, GgmlDType::Q8_0)),
                (blk("attn_output"), random(hidden, q, GgmlDType::Q8_0)),
                (blk("ffn_gate"), random(ffn, hidden, GgmlDType::Q8_0)),
                (blk("ffn_up"), random(ffn, hidden, GgmlDType::Q8_0)),
            ]);
        }
        tensors.push((blk("ffn_down"), random(hidden, ffn, GgmlDType::Q8_0)));
        if shape.head_norms {
            tensors.push((blk("attn_q_norm"), norm(head_dim)));
            tensors.push((blk("attn_k_norm"), norm(head_dim)));
        }
        if shape.post_norms {
            tensors.push((blk("post_attention_norm"), norm(hidden)));
            tensors.push((blk("post_ffw_norm"), norm(hidden)));
        }
        if shape.biases {
            tensors.extend([
                (format!("blk.{b}.attn_q.bias"), vector(q, 0.1)),
                (format!("blk.{b}.attn_k.bias"), vector(kv, 0.1)),
                (format!("blk.{b}.attn_v.bias"), vector(kv, 0.1)),
            ]);
        }
    }

    use gguf_file::Value;
    let key = |k: &str| format!("{architecture}.{k}");
    let strings =
        |items: &[String]| Value::Array(items.iter().cloned().map(Value::String).collect());
    let mut metadata: Vec<(String, Value)> = vec![
        (
            "general.architecture".into(),
            Value::String(architecture.into()),
        ),
        (key("attention.head_count"), Value::U32(heads as u32)),
        (key("attention.head_count_kv"), Value::U32(kv_heads as u32)),
        (key("embedding_length"), Value::U32(hidden as u32)),
        (key("feed_forward_length"), Value::U32(ffn as u32)),
        (key("block_count"), Value::U32(blocks as u32)),
        (key("context_length"), Value::U32(2048)),
        (key("attention.key_length"), Value::U32(head_dim as u32)),
        (key("attention.value_length"), Value::U32(head_dim as u32)),
        (key("rope.dimension_count"), Value::U32(head_dim as u32)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-6)),
        (key("rope.freq_base"), Value::F32(10_000.0)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("qwen2".into())),
        ("tokenizer.ggml.tokens".into(), strings(&tokens)),
        ("tokenizer.ggml.merges".into(), strings(&[])),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(token_types.into_iter().map(Value::U32).collect()),
        ),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(256)),
    ];
    if !shape.tokenizer {
        metadata.retain(|(key, _)| !key.starts_with("tokenizer."));
    }
    if let Some(template) = shape.chat_template {
        metadata.push((
            "tokenizer.chat_template".into(),
            Value::String(template.into()),
        ));
    }
    if let Some(window) = shape.sliding_window {
        metadata.push((key("attention.sliding_window"), Value::U32(window as u32)));
    }
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &metadata, &tensors).unwrap();
}
