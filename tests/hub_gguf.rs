//! GGUF files with no catalogue entry: a file's own chat template and stop tokens, and
//! `--model hf:ORG/NAME[:QUANT|FILE]` picking a repository's GGUF file (Q4_K_M by default)
//! from a hub (here a local HTTP server in the hub's URL layout), checked against the hash
//! the hub names it by, then found in the Hugging Face cache offline. Broken files are one
//! line and exit 1.

mod common;
#[path = "common/hub_server.rs"]
mod hub_server;

use common::{write_tiny_decoder, TinyDecoder};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

const REPO: &str = "tiny-org/tiny-GGUF";
const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// A template of its own: no system role (the system text opens the user's turn) and a
/// marker abridge's ChatML does not have.
const TEMPLATE: &str = "{% for m in messages %}{% if m.role == 'user' %}<|im_start|>user\n\
                        {{ m.content }}<|im_end|>\n{% endif %}{% endfor %}\
                        {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

fn tiny(dir: &Path, name: &str, template: Option<&str>) -> Vec<u8> {
    let path = dir.join(name);
    let mut shape = TinyDecoder::of("qwen2");
    shape.chat_template = template;
    write_tiny_decoder(&path, &shape);
    std::fs::read(path).unwrap()
}

fn abridge(dir: &Path, model: &str, endpoint: Option<&str>, extra: &[&str]) -> Output {
    let article = dir.join("article.txt");
    std::fs::write(
        &article,
        "The council met on Monday. It approved the new budget.",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_abridge"));
    command
        .args(["summarize", "--raw", "--words", "10", "--model", model])
        .args(extra)
        .arg(&article)
        .env("ABRIDGE_CACHE", dir.join("abridge-cache"))
        .env("HF_HUB_CACHE", dir.join("hf"))
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("ABRIDGE_OFFLINE")
        .env_remove("HF_TOKEN");
    match endpoint {
        Some(endpoint) => command.env("HF_ENDPOINT", endpoint),
        None => command.env_remove("HF_ENDPOINT"),
    };
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_hub_gguf_is_picked_downloaded_verified_and_then_found_offline() {
    let dir = tempfile::tempdir().unwrap();
    let files = HashMap::from([
        (
            "tiny-Q4_K_M.gguf".to_string(),
            tiny(dir.path(), "a.gguf", Some(TEMPLATE)),
        ),
        (
            "tiny-Q8_0.gguf".to_string(),
            tiny(dir.path(), "b.gguf", None),
        ),
        ("README.md".to_string(), b"# tiny".to_vec()),
    ]);
    let endpoint = hub_server::serve(REPO, COMMIT, files, HashMap::new());
    let model = format!("hf:{REPO}");
    let output = abridge(dir.path(), &model, Some(&endpoint), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let snapshot = dir
        .path()
        .join("hf")
        .join(format!("models--{}", REPO.replace('/', "--")))
        .join("snapshots")
        .join(COMMIT);
    assert!(snapshot.join("tiny-Q4_K_M.gguf").is_file());
    assert!(
        !snapshot.join("tiny-Q8_0.gguf").exists(),
        "only the picked file is fetched"
    );
    // No hub now: the cache serves, by default pick and by file name.
    let output = abridge(dir.path(), &model, None, &["--offline"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let by_name = format!("hf:{REPO}:tiny-Q4_K_M.gguf");
    let output = abridge(dir.path(), &by_name, None, &["--offline"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // A quantization that matches two files is one line naming them.
    let output = abridge(
        dir.path(),
        &format!("hf:{REPO}:tiny-Q"),
        Some(&endpoint),
        &[],
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("tiny-Q4_K_M.gguf") && err.contains("tiny-Q8_0.gguf"),
        "{err}"
    );
}

#[test]
fn a_download_that_does_not_match_its_hash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = HashMap::from([(
        "tiny-Q4_K_M.gguf".to_string(),
        tiny(dir.path(), "a.gguf", None),
    )]);
    let etags = HashMap::from([("tiny-Q4_K_M.gguf".to_string(), b"other".to_vec())]);
    let endpoint = hub_server::serve(REPO, COMMIT, files, etags);
    let output = abridge(dir.path(), &format!("hf:{REPO}"), Some(&endpoint), &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains(&hub_server::sha256(b"other")), "{err}");
}

#[test]
fn a_file_without_an_entry_gets_its_own_template_and_stop_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("own.gguf");
    let mut shape = TinyDecoder::of("qwen2");
    shape.chat_template = Some(TEMPLATE);
    write_tiny_decoder(&path, &shape);
    let (spec, path) = abridge::provision::resolve(path.to_str(), true).unwrap();
    let summarizer = abridge::provision::load(spec, &path, candle_core::Device::Cpu).unwrap();
    assert_eq!(
        summarizer.spec().template,
        "<|im_start|>user\n{system}\n\n{user}<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(summarizer.spec().stop, ["<|endoftext|>", "<|im_end|>"]);
}

#[test]
fn broken_files_are_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, TinyDecoder, &str); 3] = [
        (
            "no-tokenizer.gguf",
            TinyDecoder {
                tokenizer: false,
                ..TinyDecoder::of("qwen2")
            },
            "missing tokenizer metadata `tokenizer.ggml.model`",
        ),
        (
            "bad-template.gguf",
            TinyDecoder {
                chat_template: Some("{{ raise_exception('no system role') }}"),
                ..TinyDecoder::of("qwen2")
            },
            "does not render",
        ),
        (
            "unparsed-template.gguf",
            TinyDecoder {
                chat_template: Some("{% for m in %}"),
                ..TinyDecoder::of("qwen2")
            },
            "does not parse",
        ),
    ];
    for (name, shape, reason) in cases {
        let path = dir.path().join(name);
        write_tiny_decoder(&path, &shape);
        let output = abridge(dir.path(), path.to_str().unwrap(), None, &["--offline"]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        assert!(err.contains(name) && err.contains(reason), "{name}: {err}");
    }
}
