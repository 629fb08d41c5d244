//! T5 and FLAN-T5 (T5 v1.1): an encoder-decoder whose attention is unscaled and told where
//! tokens are only by a learned bias per bucket of relative distance (computed by the
//! first layer of each stack and shared by the others), with RMS layer norms before each
//! sub-layer, a ReLU or gated-GELU feed-forward, and — when the output projection is the
//! embedding table — the decoder's output scaled by `d_model^-0.5`. Read from a Hub-layout
//! folder as transformers' `T5ForConditionalGeneration` lays it out.
//!
//! `encoder_decoder.rs` makes it a `LanguageModel`, as it does BART.

use super::encoder_decoder::{CrossSlots, EncoderDecoder, Seq2SeqNetwork};
use super::layers::{
    causal_mask, first_present, step_rows, Activation, AttentionShape, DenseAttention,
};
use super::Step;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};
use serde::Deserialize;

/// The fields of a T5 `config.json` the network is built from.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Config {
    vocab_size: usize,
    d_model: usize,
    d_kv: usize,
    d_ff: usize,
    num_layers: usize,
    num_decoder_layers: Option<usize>,
    num_heads: usize,
    #[serde(default = "default_buckets")]
    relative_attention_num_buckets: usize,
    #[serde(default = "default_max_distance")]
    relative_attention_max_distance: usize,
    #[serde(default = "default_epsilon")]
    layer_norm_epsilon: f64,
    #[serde(default = "default_feed_forward")]
    feed_forward_proj: String,
    #[serde(default = "default_true")]
    tie_word_embeddings: bool,
    #[serde(default)]
    decoder_start_token_id: u32,
    /// The input length T5 was trained with; attention itself has no limit.
    #[serde(default = "default_positions")]
    n_positions: usize,
}

fn default_buckets() -> usize {
    32
}
fn default_max_distance() -> usize {
    128
}
fn default_epsilon() -> f64 {
    1e-6
}
fn default_feed_forward() -> String {
    "relu".to_string()
}
fn default_true() -> bool {
    true
}
fn default_positions() -> usize {
    512
}

/// The feed-forward sub-layer: `wo(act(wi(x)))`, or gated, `wo(act(wi_0(x)) · wi_1(x))`.
struct FeedForward {
    gate: Option<Linear>,
    up: Linear,
    down: Linear,
    activation: Activation,
}

impl FeedForward {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let (gated, name) = match config.feed_forward_proj.split_once('-') {
            Some(("gated", name)) => (true, name),
            Some(_) => bail!(
                "unsupported feed_forward_proj `{}`",
                config.feed_forward_proj
            ),
            None => (false, config.feed_forward_proj.as_str()),
        };
        // transformers runs T5 v1.1's "gated-gelu" with the tanh approximation.
        let activation = match (gated, name) {
            (true, "gelu") => Activation::GeluTanh,
            _ => Activation::from_name(name)?,
        };
        let linear = |name: &str, i, o| candle_nn::linear_no_bias(i, o, vb.pp(name));
        let (width, hidden) = (config.d_model, config.d_ff);
        Ok(match gated {
            true => Self {
                gate: Some(linear("wi_0", width, hidden)?),
                up: linear("wi_1", width, hidden)?,
                down: linear("wo", hidden, width)?,
                activation,
            },
            false => Self {
                gate: None,
                up: linear("wi", width, hidden)?,
                down: linear("wo", hidden, width)?,
                activation,
            },
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let hidden = match &self.gate {
            Some(gate) => (self.activation.apply(&gate.forward(x)?)? * self.up.forward(x)?)?,
            None => self.activation.apply(&self.up.forward(x)?)?,
        };
        Ok(self.down.forward(&hidden)?)
    }
}

/// T5's layer norm: scaled by the root mean square, no mean subtracted, no bias.
struct Norm {
    weight: Tensor,
    eps: f32,
}

impl Norm {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        Ok(Self {
            weight: vb.get(config.d_model, "weight")?,
            eps: config.layer_norm_epsilon as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::rms_norm(x, &self.weight, self.eps)?)
    }
}

/// T5's attention: unscaled, unbiased projections `q`, `k`, `v`, `o` of `heads × d_kv`.
fn attention(vb: VarBuilder, config: &Config) -> Result<DenseAttention> {
    let shape = AttentionShape {
        names: ["q", "k", "v", "o"],
        width: config.d_model,
        heads: config.num_heads,
        head_dim: config.d_kv,
        biased: false,
        scaled: false,
    };
    DenseAttention::load(vb, &shape)
}

/// The learned bias per bucket of relative distance, and how distances fall into buckets.
struct PositionBias {
    table: Embedding,
    buckets: usize,
    max_distance: usize,
    /// Whether keys after the query count apart from those before it (the encoder).
    bidirectional: bool,
    heads: usize,
}

impl PositionBias {
    /// transformers' `_relative_position_bucket` for `key - query`.
    fn bucket(&self, relative: i64) -> u32 {
        let mut buckets = self.buckets as i64;
        let mut bucket = 0;
        let distance = if self.bidirectional {
            buckets /= 2;
            if relative > 0 {
                bucket += buckets;
            }
            relative.abs()
        } else {
            (-relative).max(0)
        };
        let exact = buckets / 2;
        bucket += if distance < exact {
            distance
        } else {
            // As torch computes it: f32 logs, the ratio of the two ranges a Python float.
            let range = ((self.max_distance as f64) / exact as f64).ln() as f32;
            let far =
                ((distance as f32 / exact as f32).ln() / range * (buckets - exact) as f32) as i64;
            (exact + far).min(buckets - 1)
        };
        bucket as u32
    }

    /// The bias (1, heads, queries, keys) for queries at `query_start..` over keys `0..keys`.
    fn forward(&self, query_start: usize, queries: usize, keys: usize) -> Result<Tensor> {
        let ids: Vec<u32> = (0..queries)
            .flat_map(|i| {
                let query = (query_start + i) as i64;
                (0..keys).map(move |key| self.bucket(key as i64 - query))
            })
            .collect();
        let device = self.table.embeddings().device();
        let ids = Tensor::from_vec(ids, (queries, keys), device)?;
        Ok(self
            .table
            .forward(&ids)?
            .permute((2, 0, 1))?
            .reshape((1, self.heads, queries, keys))?)
    }
}

struct EncoderLayer {
    attention_norm: Norm,
    attention: DenseAttention,
    feed_forward_norm: Norm,
    feed_forward: FeedForward,
}

struct DecoderLayer {
    attention_norm: Norm,
    attention: DenseAttention,
    cross_attention_norm: Norm,
    cross_attention: DenseAttention,
    feed_forward_norm: Norm,
    feed_forward: FeedForward,
}

/// A T5 encoder-decoder.
pub(super) struct T5 {
    table: Embedding,
    encoder: Vec<EncoderLayer>,
    encoder_bias: PositionBias,
    encoder_norm: Norm,
    decoder: Vec<DecoderLayer>,
    decoder_bias: PositionBias,
    decoder_norm: Norm,
    /// The output projection (vocabulary, width), and the scale of the decoder's output
    /// before it.
    head: Tensor,
    head_scale: f64,
    device: Device,
}

impl T5 {
    /// Builds the model from its config and weights (transformers' names: `shared`,
    /// `encoder.block.N.layer.M.…`, `lm_head`).
    pub(super) fn load(
        config: &Config,
        vb: VarBuilder,
        device: &Device,
    ) -> Result<EncoderDecoder<T5>> {
        let width = config.d_model;
        let table_shape = (config.vocab_size, width);
        let table = first_present(
            &vb,
            table_shape,
            &[
                "shared.weight",
                "encoder.embed_tokens.weight",
                "decoder.embed_tokens.weight",
            ],
        )?;
        let (head, head_scale) = match config.tie_word_embeddings {
            true => (table.clone(), (width as f64).powf(-0.5)),
            false => (vb.get(table_shape, "lm_head.weight")?, 1.0),
        };
        let bias = |vb: VarBuilder, bidirectional| -> Result<PositionBias> {
            let table = vb.get(
                (config.relative_attention_num_buckets, config.num_heads),
                "relative_attention_bias.weight",
            )?;
            Ok(PositionBias {
                table: Embedding::new(table, config.num_heads),
                buckets: config.relative_attention_num_buckets,
                max_distance: config.relative_attention_max_distance,
                bidirectional,
                heads: config.num_heads,
            })
        };
        let encoder = (0..config.num_layers)
            .map(|i| {
                let vb = vb.pp(format!("encoder.block.{i}.layer"));
                Ok(EncoderLayer {
                    attention_norm: Norm::load(vb.pp("0.layer_norm"), config)?,
                    attention: attention(vb.pp("0.SelfAttention"), config)?,
                    feed_forward_norm: Norm::load(vb.pp("1.layer_norm"), config)?,
                    feed_forward: FeedForward::load(vb.pp("1.DenseReluDense"), config)?,
                })
            })
            .collect::<Result<_>>()?;
        let decoder = (0..config.num_decoder_layers.unwrap_or(config.num_layers))
            .map(|i| {
                let vb = vb.pp(format!("decoder.block.{i}.layer"));
                Ok(DecoderLayer {
                    attention_norm: Norm::load(vb.pp("0.layer_norm"), config)?,
                    attention: attention(vb.pp("0.SelfAttention"), config)?,
                    cross_attention_norm: Norm::load(vb.pp("1.layer_norm"), config)?,
                    cross_attention: attention(vb.pp("1.EncDecAttention"), config)?,
                    feed_forward_norm: Norm::load(vb.pp("2.layer_norm"), config)?,
                    feed_forward: FeedForward::load(vb.pp("2.DenseReluDense"), config)?,
                })
            })
            .collect::<Result<_>>()?;
        let network = Self {
            table: Embedding::new(table, width),
            encoder,
            encoder_bias: bias(vb.pp("encoder.block.0.layer.0.SelfAttention"), true)?,
            encoder_norm: Norm::load(vb.pp("encoder.final_layer_norm"), config)?,
            decoder,
            decoder_bias: bias(vb.pp("decoder.block.0.layer.0.SelfAttention"), false)?,
            decoder_norm: Norm::load(vb.pp("decoder.final_layer_norm"), config)?,
            head,
            head_scale,
            device: device.clone(),
        };
        Ok(EncoderDecoder::new(
            network,
            config.n_positions,
            config.n_positions,
            config.decoder_start_token_id,
        ))
    }
}

impl Seq2SeqNetwork for T5 {
    fn encode(&self, input: &[u32]) -> Result<Tensor> {
        let mut x = self.table.forward(&Tensor::new(input, &self.device)?)?;
        let bias = self.encoder_bias.forward(0, input.len(), input.len())?;
        for layer in &self.encoder {
            let h = layer.attention_norm.forward(&x)?;
            let (keys, values) = layer.attention.keys_values(&h)?;
            let queries = layer.attention.queries(&h)?;
            x = (&x
                + layer
                    .attention
                    .attend(&queries, &keys, &values, Some(&bias))?)?;
            let h = layer.feed_forward_norm.forward(&x)?;
            x = (&x + layer.feed_forward.forward(&h)?)?;
        }
        self.encoder_norm.forward(&x)
    }

    fn attentions(&self) -> Vec<(&DenseAttention, &DenseAttention)> {
        let layers = self.decoder.iter();
        layers.map(|l| (&l.cross_attention, &l.attention)).collect()
    }

    fn decode(
        &self,
        slots: &mut CrossSlots,
        steps: &[Step],
        positions: &[usize],
    ) -> Result<Tensor> {
        let rows = step_rows(steps);
        let tokens: Vec<u32> = steps
            .iter()
            .flat_map(|s| s.tokens.iter().copied())
            .collect();
        let mut x = self
            .table
            .forward(&Tensor::new(tokens.as_slice(), &self.device)?)?;
        // Each step's self-attention bias, with the causal mask where it has several tokens.
        let biases = steps
            .iter()
            .zip(positions)
            .map(|(step, &pos)| {
                let n = step.tokens.len();
                let bias = self.decoder_bias.forward(pos, n, pos + n)?;
                Ok(match n {
                    1 => bias,
                    n => bias.broadcast_add(&causal_mask(n, pos, &self.device)?)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for (index, layer) in self.decoder.iter().enumerate() {
            let h = layer.attention_norm.forward(&x)?;
            let (keys, values) = layer.attention.keys_values(&h)?;
            let queries = layer.attention.queries(&h)?;
            let mut outputs = Vec::with_capacity(steps.len());
            for ((step, &(row, n)), (&pos, bias)) in
                steps.iter().zip(&rows).zip(positions.iter().zip(&biases))
            {
                let rows = |t: &Tensor| t.narrow(2, row, n)?.contiguous();
                let cache = &mut slots.get_mut(step.slot)?.caches[index];
                let (k, v) = cache.append(&rows(&keys)?, &rows(&values)?, pos)?;
                outputs.push(
                    layer
                        .attention
                        .attend(&rows(&queries)?, &k, &v, Some(bias))?,
                );
            }
            x = (&x + Tensor::cat(&outputs, 0)?)?;
            let h = layer.cross_attention_norm.forward(&x)?;
            let mut outputs = Vec::with_capacity(steps.len());
            for (step, &(row, n)) in steps.iter().zip(&rows) {
                let (keys, values) = &slots.get_mut(step.slot)?.cross[index];
                let queries = layer.cross_attention.queries(&h.narrow(0, row, n)?)?;
                outputs.push(layer.cross_attention.attend(&queries, keys, values, None)?);
            }
            x = (&x + Tensor::cat(&outputs, 0)?)?;
            let h = layer.feed_forward_norm.forward(&x)?;
            x = (&x + layer.feed_forward.forward(&h)?)?;
        }
        let x = self.decoder_norm.forward(&x)?;
        let last = rows
            .iter()
            .map(|&(row, n)| x.narrow(0, row + n - 1, 1))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let last = (Tensor::cat(&last, 0)? * self.head_scale)?;
        Ok(last.matmul(&self.head.t()?)?.to_dtype(DType::F32)?)
    }
}
