//! Each GGUF decoder family against an independent implementation, candle-transformers', on
//! tiny random models written here: the logits of a prompt, of the tokens decoded after
//! it from the cache, and of two sequences decoded together in one batch must be those of
//! the reference, within what quantizing activations differently costs.
//!
//! References: `quantized_llama`, `quantized_qwen2`, `quantized_qwen3` and `quantized_phi3`
//! run the same GGUF file. For Gemma 3 the reference is candle's full-precision `gemma3`
//! (transformers' layout) given the file's weights dequantized, because candle 0.11's
//! `quantized_gemma3` gates its MLP with SiLU where Gemma uses GELU; it is fed one token at
//! a time, the path where its sliding window is counted as transformers and llama.cpp count
//! it (its prompt mask lets a query see one position more).

mod common;
#[path = "common/references.rs"]
mod references;

use abridge::model::{self, Step};
use candle_core::quantized::{gguf_file, GgmlDType};
use candle_core::Device;
use candle_transformers::models::{
    quantized_llama, quantized_phi3, quantized_qwen2, quantized_qwen3,
};
use common::{write_tiny_decoder, TinyDecoder};
use references::{input, logits, Reference};
use std::path::Path;

/// The candle-transformers model of the file at `path`, as a [`Reference`].
fn reference(path: &Path, architecture: &str) -> Reference {
    let mut file = std::fs::File::open(path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let device = Device::Cpu;
    match architecture {
        "llama" => {
            let mut m =
                quantized_llama::ModelWeights::from_gguf(content, &mut file, &device).unwrap();
            Box::new(move |t, pos| logits(m.forward(&input(t), pos).unwrap()))
        }
        "qwen2" => {
            let mut m =
                quantized_qwen2::ModelWeights::from_gguf(content, &mut file, &device).unwrap();
            Box::new(move |t, pos| logits(m.forward(&input(t), pos).unwrap()))
        }
        "qwen3" => {
            let mut m =
                quantized_qwen3::ModelWeights::from_gguf(content, &mut file, &device).unwrap();
            Box::new(move |t, pos| logits(m.forward(&input(t), pos).unwrap()))
        }
        "phi3" => {
            let mut m = quantized_phi3::ModelWeights::from_gguf(false, content, &mut file, &device)
                .unwrap();
            Box::new(move |t, pos| logits(m.forward(&input(t), pos).unwrap()))
        }
        "gemma3" => references::gemma3(&content, &mut file),
        other => panic!("no reference for {other}"),
    }
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The models' weights are F32, so both sides compute in f32 and differ only by the order
/// of their sums (about 1e-5), except candle's Qwen3, whose CPU attention is a fused
/// flash-attention kernel of its own (about 1.5e-3); the logits are about ±10.
const TOLERANCE: f32 = 5e-3;

/// abridge's model of `shape` against the reference: a prompt of 9 tokens (longer than
/// Gemma's window of 4), 3 tokens decoded after it, and the same prompt batched with another.
fn matches_reference(mut shape: TinyDecoder) {
    shape.dtype = GgmlDType::F32;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{}.gguf", shape.architecture));
    write_tiny_decoder(&path, &shape);
    let mut loaded = model::load(&path, &Device::Cpu).unwrap();
    let ours = loaded.network.as_mut();
    let prompt: Vec<u32> = "Summaries".bytes().map(u32::from).collect();
    let decoded: Vec<u32> = " ok".bytes().map(u32::from).collect();

    let mut theirs = reference(&path, shape.architecture);
    let first = ours.begin(0, &prompt, 4).unwrap();
    let expected = theirs(&prompt, 0);
    let d = max_difference(&first, &expected);
    eprintln!(
        "{}: prompt logits differ by at most {d:.2e}",
        shape.architecture
    );
    assert!(
        d < TOLERANCE,
        "{}: prompt logits differ by {d}",
        shape.architecture
    );

    for (i, &token) in decoded.iter().enumerate() {
        let step = Step {
            slot: 0,
            tokens: &[token],
            pos: i,
        };
        let got = logits(ours.step(&[step]).unwrap());
        let expected = theirs(&[token], prompt.len() + i);
        let d = max_difference(&got, &expected);
        assert!(
            d < TOLERANCE,
            "{}: decoded token {i}'s logits differ by {d}",
            shape.architecture
        );
    }

    // Batched: slot 1 holds another prompt; one pass steps both.
    let other: Vec<u32> = "Local news".bytes().map(u32::from).collect();
    ours.begin(0, &prompt, 64).unwrap();
    ours.begin(1, &other, 64).unwrap();
    let steps = [
        Step {
            slot: 0,
            tokens: &decoded[..1],
            pos: 0,
        },
        Step {
            slot: 1,
            tokens: &decoded[..1],
            pos: 0,
        },
    ];
    let batched = ours.step(&steps).unwrap();
    for (row, sequence) in [&prompt, &other].into_iter().enumerate() {
        let mut theirs = reference(&path, shape.architecture);
        theirs(sequence, 0);
        let expected = theirs(&decoded[..1], sequence.len());
        let got = logits(batched.get(row).unwrap());
        let d = max_difference(&got, &expected);
        assert!(
            d < TOLERANCE,
            "{}: batched row {row}'s logits differ by {d}",
            shape.architecture
        );
    }
}

#[test]
fn llama_matches_candle_quantized_llama() {
    matches_reference(TinyDecoder::of("llama"));
}

#[test]
fn qwen2_matches_candle_quantized_qwen2() {
    matches_reference(TinyDecoder::of("qwen2"));
}

#[test]
fn qwen3_matches_candle_quantized_qwen3() {
    matches_reference(TinyDecoder::of("qwen3"));
}

#[test]
fn phi3_matches_candle_quantized_phi3() {
    matches_reference(TinyDecoder::of("phi3"));
}

#[test]
fn gemma3_matches_candle_gemma3_sliding_window_included() {
    matches_reference(TinyDecoder::of("gemma3"));
}

/// Llama 3's rotary factors: factors of 1 change nothing (the reference has none), and
/// others change the logits — they are applied, not ignored.
#[test]
fn llama3_rotary_factors_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let run = |factors: Option<Vec<f32>>| {
        let path = dir.path().join("llama3.gguf");
        let mut shape = TinyDecoder::of("llama");
        shape.rope_freqs = factors;
        write_tiny_decoder(&path, &shape);
        let mut loaded = model::load(&path, &Device::Cpu).unwrap();
        let prompt: Vec<u32> = "Rotary factors".bytes().map(u32::from).collect();
        loaded.network.begin(0, &prompt, 64).unwrap()
    };
    let plain = run(None);
    assert!(max_difference(&plain, &run(Some(vec![1.0; 8]))) < 1e-6);
    let scaled = run(Some(vec![1.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]));
    assert!(max_difference(&plain, &scaled) > 1e-3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.gguf");
    let mut shape = TinyDecoder::of("llama");
    shape.rope_freqs = Some(vec![1.0; 3]);
    write_tiny_decoder(&path, &shape);
    let err = format!("{:#}", model::load(&path, &Device::Cpu).err().unwrap());
    assert!(err.contains("3 factors for 8 rotary frequencies"), "{err}");
}
