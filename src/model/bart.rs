//! BART and the encoder-decoders built like it (mBART, PEGASUS): a transformer encoder read
//! once per input and a decoder that attends to its own outputs and to the encoder's,
//! read from a Hub-layout folder's `config.json` and safetensors weights exactly as
//! transformers' `BartForConditionalGeneration` lays them out. The variants differ only in
//! where their layer norms sit and how positions are embedded ([`Shape`]); PEGASUS names its
//! shape in `pegasus.rs`.
//!
//! `encoder_decoder.rs` makes it a `LanguageModel`: its cache slots hold each input's
//! encoder keys and values for every decoder layer and the decoder's own keys and values.

use super::encoder_decoder::{CrossSlots, EncoderDecoder, Seq2SeqNetwork};
use super::layers::{
    causal_mask, first_present, step_rows, Activation, AttentionShape, DenseAttention,
};
use super::Step;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

/// How a BART-like model embeds positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Positions {
    /// A learned table whose row `position + offset` embeds a position (BART's offset is 2,
    /// a leftover of fairseq's padding positions).
    Learned { offset: usize },
    /// Fixed sinusoids, sines in the first half of each vector and cosines in the second
    /// (PEGASUS, Marian).
    Sinusoidal,
}

/// Where a BART-like model normalizes: what tells BART, mBART and PEGASUS apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    pub(super) positions: Positions,
    /// Layer norm before each sub-layer (mBART, PEGASUS) rather than after its residual sum
    /// (BART).
    pub(super) pre_norm: bool,
    /// A layer norm over the embeddings (`layernorm_embedding`: BART, mBART).
    pub(super) embedding_norm: bool,
    /// A layer norm after the last layer of each stack (`layer_norm`: mBART, PEGASUS).
    pub(super) final_norm: bool,
}

impl Shape {
    /// BART's: post-norm layers, learned positions, normalized embeddings.
    pub(super) const BART: Shape = Shape {
        positions: Positions::Learned { offset: 2 },
        pre_norm: false,
        embedding_norm: true,
        final_norm: false,
    };

    /// mBART's: BART's with pre-norm layers and a final norm per stack.
    pub(super) const MBART: Shape = Shape {
        pre_norm: true,
        final_norm: true,
        ..Shape::BART
    };
}

/// The fields of a BART-like `config.json` the network is built from.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Config {
    vocab_size: usize,
    d_model: usize,
    encoder_layers: usize,
    decoder_layers: usize,
    encoder_attention_heads: usize,
    decoder_attention_heads: usize,
    encoder_ffn_dim: usize,
    decoder_ffn_dim: usize,
    #[serde(default = "default_activation")]
    activation_function: String,
    max_position_embeddings: usize,
    #[serde(default)]
    scale_embedding: bool,
    decoder_start_token_id: u32,
}

fn default_activation() -> String {
    "gelu".to_string()
}

impl Config {
    /// The decoder's start token: its first input, before any output.
    pub(super) fn decoder_start(&self) -> u32 {
        self.decoder_start_token_id
    }
}

/// BART's attention: biased projections, scaled scores, `q_proj`… names.
fn attention(vb: VarBuilder, width: usize, heads: usize) -> Result<DenseAttention> {
    if heads == 0 || !width.is_multiple_of(heads) {
        bail!("a width of {width} cannot be split over {heads} attention heads");
    }
    let shape = AttentionShape {
        names: ["q_proj", "k_proj", "v_proj", "out_proj"],
        width,
        heads,
        head_dim: width / heads,
        biased: true,
        scaled: true,
    };
    DenseAttention::load(vb, &shape)
}

/// The two-matrix feed-forward sub-layer.
struct FeedForward {
    up: Linear,
    down: Linear,
    activation: Activation,
}

impl FeedForward {
    fn load(vb: &VarBuilder, width: usize, hidden: usize, activation: Activation) -> Result<Self> {
        Ok(Self {
            up: candle_nn::linear(width, hidden, vb.pp("fc1"))?,
            down: candle_nn::linear(hidden, width, vb.pp("fc2"))?,
            activation,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self
            .down
            .forward(&self.activation.apply(&self.up.forward(x)?)?)?)
    }
}

/// A residual sub-layer `x + f(x)` with its layer norm before `f` (pre-norm) or after the
/// sum (post-norm).
fn residual(
    x: &Tensor,
    norm: &LayerNorm,
    pre_norm: bool,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    if pre_norm {
        Ok((x + f(&norm.forward(x)?)?)?)
    } else {
        Ok(norm.forward(&(x + f(x)?)?)?)
    }
}

fn layer_norm(vb: VarBuilder, width: usize) -> Result<LayerNorm> {
    Ok(candle_nn::layer_norm(width, 1e-5, vb)?)
}

struct EncoderLayer {
    attention: DenseAttention,
    attention_norm: LayerNorm,
    feed_forward: FeedForward,
    feed_forward_norm: LayerNorm,
}

struct DecoderLayer {
    attention: DenseAttention,
    attention_norm: LayerNorm,
    cross_attention: DenseAttention,
    cross_attention_norm: LayerNorm,
    feed_forward: FeedForward,
    feed_forward_norm: LayerNorm,
}

/// The embedding of tokens and positions at the bottom of each stack.
struct Embedder {
    scale: f64,
    /// One row per position (learned, or computed sinusoids).
    positions: Tensor,
    offset: usize,
    norm: Option<LayerNorm>,
}

impl Embedder {
    fn load(vb: &VarBuilder, config: &Config, shape: Shape, device: &Device) -> Result<Self> {
        let rows = config.max_position_embeddings;
        let (positions, offset) = match shape.positions {
            Positions::Learned { offset } => (
                vb.get((rows + offset, config.d_model), "embed_positions.weight")?,
                offset,
            ),
            Positions::Sinusoidal => (sinusoids(rows, config.d_model, device)?, 0),
        };
        let norm = match shape.embedding_norm {
            true => Some(layer_norm(vb.pp("layernorm_embedding"), config.d_model)?),
            false => None,
        };
        Ok(Self {
            scale: if config.scale_embedding {
                (config.d_model as f64).sqrt()
            } else {
                1.0
            },
            positions,
            offset,
            norm,
        })
    }

    /// The input of the first layer for `tokens` at positions `pos..`.
    fn forward(&self, tokens: &Tensor, table: &Embedding, pos: usize) -> Result<Tensor> {
        let seq = tokens.dim(0)?;
        let embedded = (table.forward(tokens)? * self.scale)?;
        let positions = self.positions.narrow(0, pos + self.offset, seq)?;
        let x = (embedded + positions)?;
        Ok(match &self.norm {
            Some(norm) => norm.forward(&x)?,
            None => x,
        })
    }
}

/// Sinusoidal position embeddings as transformers computes them for PEGASUS: position `p`,
/// dimension `j` of `width` has angle `p / 10000^(2⌊j/2⌋/width)`; the sines of the even
/// dimensions fill the first half of the row and the cosines of the odd ones the second.
fn sinusoids(rows: usize, width: usize, device: &Device) -> Result<Tensor> {
    let half = width.div_ceil(2);
    let mut table = vec![0f32; rows * width];
    for p in 0..rows {
        let row = &mut table[p * width..(p + 1) * width];
        for j in 0..width {
            let angle = p as f64 / 10000f64.powf((2 * (j / 2)) as f64 / width as f64);
            if j % 2 == 0 {
                row[j / 2] = angle.sin() as f32;
            } else {
                row[half + j / 2] = angle.cos() as f32;
            }
        }
    }
    Ok(Tensor::from_vec(table, (rows, width), device)?)
}

/// A BART-like encoder-decoder.
pub(super) struct Bart {
    table: Embedding,
    encoder_embedder: Embedder,
    encoder: Vec<EncoderLayer>,
    encoder_norm: Option<LayerNorm>,
    decoder_embedder: Embedder,
    decoder: Vec<DecoderLayer>,
    decoder_norm: Option<LayerNorm>,
    /// The output projection (vocabulary, width): the embedding table unless stored apart.
    head: Tensor,
    /// `final_logits_bias`, added to the logits.
    head_bias: Option<Tensor>,
    shape: Shape,
    device: Device,
}

impl Bart {
    /// Builds the model from its config and weights (transformers' names: `model.shared`,
    /// `model.encoder.layers.N.…`, `lm_head`, `final_logits_bias`).
    pub(super) fn load(
        config: &Config,
        shape: Shape,
        vb: VarBuilder,
        device: &Device,
    ) -> Result<EncoderDecoder<Bart>> {
        let width = config.d_model;
        let activation = Activation::from_name(&config.activation_function)?;
        let table_shape = (config.vocab_size, width);
        // Tied checkpoints store the table once, under one of these names.
        let table = first_present(
            &vb,
            table_shape,
            &[
                "model.shared.weight",
                "model.encoder.embed_tokens.weight",
                "model.decoder.embed_tokens.weight",
            ],
        )?;
        let head = match vb.contains_tensor("lm_head.weight") {
            true => vb.get(table_shape, "lm_head.weight")?,
            false => table.clone(),
        };
        let head_bias = match vb.contains_tensor("final_logits_bias") {
            true => Some(vb.get((1, config.vocab_size), "final_logits_bias")?),
            false => None,
        };
        let final_norm = |vb: VarBuilder| -> Result<Option<LayerNorm>> {
            match shape.final_norm {
                true => Ok(Some(layer_norm(vb.pp("layer_norm"), width)?)),
                false => Ok(None),
            }
        };

        let encoder_vb = vb.pp("model.encoder");
        let encoder = (0..config.encoder_layers)
            .map(|i| {
                let vb = encoder_vb.pp(format!("layers.{i}"));
                Ok(EncoderLayer {
                    attention: attention(
                        vb.pp("self_attn"),
                        width,
                        config.encoder_attention_heads,
                    )?,
                    attention_norm: layer_norm(vb.pp("self_attn_layer_norm"), width)?,
                    feed_forward: FeedForward::load(
                        &vb,
                        width,
                        config.encoder_ffn_dim,
                        activation,
                    )?,
                    feed_forward_norm: layer_norm(vb.pp("final_layer_norm"), width)?,
                })
            })
            .collect::<Result<_>>()?;
        let decoder_vb = vb.pp("model.decoder");
        let decoder = (0..config.decoder_layers)
            .map(|i| {
                let vb = decoder_vb.pp(format!("layers.{i}"));
                let heads = config.decoder_attention_heads;
                Ok(DecoderLayer {
                    attention: attention(vb.pp("self_attn"), width, heads)?,
                    attention_norm: layer_norm(vb.pp("self_attn_layer_norm"), width)?,
                    cross_attention: attention(vb.pp("encoder_attn"), width, heads)?,
                    cross_attention_norm: layer_norm(vb.pp("encoder_attn_layer_norm"), width)?,
                    feed_forward: FeedForward::load(
                        &vb,
                        width,
                        config.decoder_ffn_dim,
                        activation,
                    )?,
                    feed_forward_norm: layer_norm(vb.pp("final_layer_norm"), width)?,
                })
            })
            .collect::<Result<_>>()?;
        let positions = config.max_position_embeddings;
        let network = Self {
            table: Embedding::new(table, width),
            encoder_embedder: Embedder::load(&encoder_vb, config, shape, device)?,
            encoder,
            encoder_norm: final_norm(encoder_vb.clone())?,
            decoder_embedder: Embedder::load(&decoder_vb, config, shape, device)?,
            decoder,
            decoder_norm: final_norm(decoder_vb.clone())?,
            head,
            head_bias,
            shape,
            device: device.clone(),
        };
        // The start token takes the decoder's first position.
        Ok(EncoderDecoder::new(
            network,
            positions,
            positions - 1,
            config.decoder_start(),
        ))
    }
}

impl Seq2SeqNetwork for Bart {
    fn encode(&self, input: &[u32]) -> Result<Tensor> {
        let tokens = Tensor::new(input, &self.device)?;
        let mut x = self.encoder_embedder.forward(&tokens, &self.table, 0)?;
        for layer in &self.encoder {
            x = residual(&x, &layer.attention_norm, self.shape.pre_norm, |h| {
                let (keys, values) = layer.attention.keys_values(h)?;
                let queries = layer.attention.queries(h)?;
                layer.attention.attend(&queries, &keys, &values, None)
            })?;
            x = residual(&x, &layer.feed_forward_norm, self.shape.pre_norm, |h| {
                layer.feed_forward.forward(h)
            })?;
        }
        Ok(match &self.encoder_norm {
            Some(norm) => norm.forward(&x)?,
            None => x,
        })
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
        let mut embedded = Vec::with_capacity(steps.len());
        for (step, &pos) in steps.iter().zip(positions) {
            let ids = Tensor::new(step.tokens, &self.device)?;
            embedded.push(self.decoder_embedder.forward(&ids, &self.table, pos)?);
        }
        let mut x = Tensor::cat(&embedded, 0)?;
        let masks = steps
            .iter()
            .zip(positions)
            .map(|(step, &pos)| match step.tokens.len() {
                1 => Ok(None),
                n => causal_mask(n, pos, &self.device).map(Some),
            })
            .collect::<Result<Vec<_>>>()?;
        let pre_norm = self.shape.pre_norm;
        for (index, layer) in self.decoder.iter().enumerate() {
            // Self-attention, each step over its own slot's cache.
            x = residual(&x, &layer.attention_norm, pre_norm, |h| {
                let attention = &layer.attention;
                let (keys, values) = attention.keys_values(h)?;
                let queries = attention.queries(h)?;
                let mut outputs = Vec::with_capacity(steps.len());
                for ((step, (&(row, n), mask)), &pos) in
                    steps.iter().zip(rows.iter().zip(&masks)).zip(positions)
                {
                    let rows = |t: &Tensor| t.narrow(2, row, n)?.contiguous();
                    let cache = &mut slots.get_mut(step.slot)?.caches[index];
                    let (k, v) = cache.append(&rows(&keys)?, &rows(&values)?, pos)?;
                    outputs.push(attention.attend(&rows(&queries)?, &k, &v, mask.as_ref())?);
                }
                Ok(Tensor::cat(&outputs, 0)?)
            })?;
            // Cross-attention, each step over its own input's encoder output.
            x = residual(&x, &layer.cross_attention_norm, pre_norm, |h| {
                let mut outputs = Vec::with_capacity(steps.len());
                for (step, &(row, n)) in steps.iter().zip(&rows) {
                    let (keys, values) = &slots.get_mut(step.slot)?.cross[index];
                    let queries = layer.cross_attention.queries(&h.narrow(0, row, n)?)?;
                    outputs.push(layer.cross_attention.attend(&queries, keys, values, None)?);
                }
                Ok(Tensor::cat(&outputs, 0)?)
            })?;
            x = residual(&x, &layer.feed_forward_norm, pre_norm, |h| {
                layer.feed_forward.forward(h)
            })?;
        }
        if let Some(norm) = &self.decoder_norm {
            x = norm.forward(&x)?;
        }
        let last = rows
            .iter()
            .map(|&(row, n)| x.narrow(0, row + n - 1, 1))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let logits = Tensor::cat(&last, 0)?.matmul(&self.head.t()?)?;
        let logits = match &self.head_bias {
            Some(bias) => logits.broadcast_add(bias)?,
            None => logits,
        };
        Ok(logits.to_dtype(DType::F32)?)
    }
}
