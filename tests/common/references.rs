//! Reference implementations the family tests compare abridge's decoders with
//! (candle-transformers), shared by `decoder_families.rs` and `real_gguf.rs`.
#![allow(dead_code)] // each test target uses its own subset

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::gemma3 as candle_gemma3;
use std::collections::HashMap;

/// A reference implementation that runs tokens from a position and gives the last one's
/// logits.
pub type Reference = Box<dyn FnMut(&[u32], usize) -> Vec<f32>>;

pub fn logits(t: Tensor) -> Vec<f32> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .to_vec1()
        .unwrap()
}

pub fn input(tokens: &[u32]) -> Tensor {
    Tensor::new(tokens, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap()
}

/// candle's full-precision Gemma 3 with the file's weights, dequantized and renamed to
/// transformers' layout (norm weights less the 1 llama.cpp's converter added), fed one
/// token at a time.
pub fn gemma3(content: &gguf_file::Content, file: &mut std::fs::File) -> Reference {
    let device = Device::Cpu;
    let meta = |k: &str| content.metadata[&format!("gemma3.{k}")].to_u32().unwrap() as usize;
    let mut tensors = HashMap::new();
    for name in content.tensor_infos.keys() {
        let t = content
            .tensor(file, name, &device)
            .unwrap()
            .dequantize(&device)
            .unwrap();
        let is_norm = name.ends_with("norm.weight");
        let t = if is_norm { (t - 1.0).unwrap() } else { t };
        let renamed = match name.as_str() {
            "token_embd.weight" => "model.embed_tokens.weight".to_string(),
            "output_norm.weight" => "model.norm.weight".to_string(),
            _ => {
                let (block, rest) = name
                    .strip_prefix("blk.")
                    .and_then(|n| n.split_once('.'))
                    .unwrap();
                let hf = match rest {
                    "attn_q.weight" => "self_attn.q_proj.weight",
                    "attn_k.weight" => "self_attn.k_proj.weight",
                    "attn_v.weight" => "self_attn.v_proj.weight",
                    "attn_output.weight" => "self_attn.o_proj.weight",
                    "attn_q_norm.weight" => "self_attn.q_norm.weight",
                    "attn_k_norm.weight" => "self_attn.k_norm.weight",
                    "attn_norm.weight" => "input_layernorm.weight",
                    "post_attention_norm.weight" => "post_attention_layernorm.weight",
                    "ffn_norm.weight" => "pre_feedforward_layernorm.weight",
                    "post_ffw_norm.weight" => "post_feedforward_layernorm.weight",
                    "ffn_gate.weight" => "mlp.gate_proj.weight",
                    "ffn_up.weight" => "mlp.up_proj.weight",
                    "ffn_down.weight" => "mlp.down_proj.weight",
                    other => panic!("unexpected tensor {other}"),
                };
                format!("model.layers.{block}.{hf}")
            }
        };
        tensors.insert(renamed, t);
    }
    let vocab = tensors["model.embed_tokens.weight"].dim(0).unwrap();
    let config = candle_gemma3::Config {
        attention_bias: false,
        head_dim: meta("attention.key_length"),
        hidden_activation: candle_nn::Activation::GeluPytorchTanh,
        hidden_size: meta("embedding_length"),
        intermediate_size: meta("feed_forward_length"),
        num_attention_heads: meta("attention.head_count"),
        num_hidden_layers: meta("block_count"),
        num_key_value_heads: meta("attention.head_count_kv"),
        rms_norm_eps: content.metadata["gemma3.attention.layer_norm_rms_epsilon"]
            .to_f32()
            .unwrap() as f64,
        rope_theta: content
            .metadata
            .get("gemma3.rope.freq_base")
            .map_or(10_000.0, |v| v.to_f32().unwrap() as f64),
        rope_local_base_freq: 10_000.0,
        vocab_size: vocab,
        final_logit_softcapping: None,
        attn_logit_softcapping: None,
        query_pre_attn_scalar: meta("attention.key_length"),
        sliding_window: meta("attention.sliding_window"),
        sliding_window_pattern: 6,
        max_position_embeddings: 2048,
    };
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
    let mut m = candle_gemma3::Model::new(false, &config, vb).unwrap();
    Box::new(move |tokens, pos| {
        let mut last = Vec::new();
        for (i, &token) in tokens.iter().enumerate() {
            last = logits(m.forward(&input(&[token]), pos + i).unwrap());
        }
        last
    })
}
