//! The building blocks that transformer families share: reading GGUF metadata and tensors,
//! rotary position embeddings, RMSNorm, weight matrices (abridge's CPU kernels or candle's
//! `QMatMul`), feed-forward activations, the key/value cache of one sequence, dense
//! multi-head attention, grouped-query attention and its causal mask. A family file
//! puts them together (`decoder.rs`, `bart.rs`, `t5.rs`).

use crate::kernels::CpuQMatMul;
use anyhow::{bail, Context, Result};
use candle_core::quantized::{gguf_file, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use std::io::{Read, Seek};

/// Reads GGUF metadata and tensors for one architecture prefix, naming what is missing.
pub(super) struct GgufReader<'a, R> {
    pub(super) content: &'a gguf_file::Content,
    pub(super) reader: &'a mut R,
    pub(super) device: &'a Device,
    pub(super) prefix: String,
}

impl<R: Read + Seek> GgufReader<'_, R> {
    pub(super) fn value(&self, key: &str) -> Option<&gguf_file::Value> {
        self.content.metadata.get(&format!("{}.{key}", self.prefix))
    }

    pub(super) fn usize(&self, key: &str) -> Result<usize> {
        let value = self
            .value(key)
            .with_context(|| format!("missing metadata `{}.{key}`", self.prefix))?;
        let n = match value {
            gguf_file::Value::I32(v) => u64::try_from(*v)?,
            gguf_file::Value::I64(v) => u64::try_from(*v)?,
            v => v.to_u64()?,
        };
        Ok(usize::try_from(n)?)
    }

    pub(super) fn f32_or(&self, key: &str, default: f32) -> Result<f32> {
        self.value(key).map_or(Ok(default), |v| Ok(v.to_f32()?))
    }

    pub(super) fn tensor(&mut self, name: &str) -> Result<QTensor> {
        self.content
            .tensor(self.reader, name, self.device)
            .with_context(|| format!("missing or unreadable tensor `{name}`"))
    }

    pub(super) fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    pub(super) fn linear(&mut self, name: &str) -> Result<Linear> {
        Linear::new(self.tensor(name)?)
    }

    pub(super) fn dense(&mut self, name: &str) -> Result<Tensor> {
        Ok(self.tensor(name)?.dequantize(self.device)?)
    }
}

/// How a family's rotary embedding pairs the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rotation {
    /// Dimension `2i` with `2i + 1` (GGUF Llama: llama.cpp's converter permutes the
    /// query/key weights so).
    Interleaved,
    /// Dimension `i` with `i + head_dim / 2` (GPT-NeoX style: Qwen2).
    Halves,
}

/// A rotary embedding's frequencies: `base^(-2i/head_dim)`, each divided by its factor
/// where the file gives factors (Llama 3's `rope_freqs`) and by a linear position scale,
/// the rotation's cosines and sines multiplied by `magnitude`.
pub(super) struct RopeSpec {
    pub(super) base: f32,
    pub(super) divisors: Option<Vec<f32>>,
    pub(super) linear: f32,
    pub(super) magnitude: f32,
}

impl RopeSpec {
    /// The plain embedding of base `base`.
    pub(super) fn plain(base: f32) -> Self {
        Self {
            base,
            divisors: None,
            linear: 1.0,
            magnitude: 1.0,
        }
    }

    /// The `head_dim / 2` inverse frequencies.
    fn inverse_frequencies(&self, head_dim: usize) -> Vec<f32> {
        (0..head_dim / 2)
            .map(|i| {
                let divisor = self.divisors.as_ref().map_or(1.0, |d| d[i]);
                1.0 / self.base.powf(2.0 * i as f32 / head_dim as f32) / divisor / self.linear
            })
            .collect()
    }
}

/// Rotary position embedding tables for every position up to the context length.
pub(super) struct Rotary {
    pub(super) cos: Tensor,
    pub(super) sin: Tensor,
    pub(super) rotation: Rotation,
}

impl Rotary {
    pub(super) fn new(
        head_dim: usize,
        spec: &RopeSpec,
        positions: usize,
        rotation: Rotation,
        device: &Device,
    ) -> Result<Self> {
        let inv_freq = spec.inverse_frequencies(head_dim);
        let inv_freq = Tensor::from_vec(inv_freq, (1, head_dim / 2), device)?;
        let angles = Tensor::arange(0u32, positions as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((positions, 1))?
            .matmul(&inv_freq)?;
        let magnitude = f64::from(spec.magnitude);
        Ok(Self {
            cos: (angles.cos()? * magnitude)?,
            sin: (angles.sin()? * magnitude)?,
            rotation,
        })
    }

    /// Rotates `x` of shape (1, heads, seq, head_dim), contiguous, whose first position is
    /// `pos`.
    pub(super) fn apply(&self, x: &Tensor, pos: usize) -> Result<Tensor> {
        let seq = x.dim(2)?;
        let cos = self.cos.narrow(0, pos, seq)?;
        let sin = self.sin.narrow(0, pos, seq)?;
        Ok(match self.rotation {
            Rotation::Interleaved => candle_nn::rotary_emb::rope_i(x, &cos, &sin)?,
            Rotation::Halves => candle_nn::rotary_emb::rope(x, &cos, &sin)?,
        })
    }
}

pub(super) struct RmsNorm {
    pub(super) weight: Tensor,
    pub(super) eps: f32,
}

impl RmsNorm {
    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::rms_norm(x, &self.weight, self.eps)?)
    }
}

/// A weight matrix applied as `x · Wᵀ`.
pub(super) enum Linear {
    /// Repacked for abridge's CPU kernels.
    Cpu(CpuQMatMul),
    /// candle's quantized matmul: GPUs, and quant types the CPU kernels lack.
    Candle(QMatMul),
}

impl Linear {
    pub(super) fn new(weight: QTensor) -> Result<Self> {
        Ok(match CpuQMatMul::from_qtensor(&weight)? {
            Some(kernel) => Linear::Cpu(kernel),
            None => Linear::Candle(QMatMul::from_qtensor(weight)?),
        })
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Linear::Cpu(kernel) => kernel.forward(x)?,
            Linear::Candle(matmul) => matmul.forward(x)?,
        })
    }
}

/// Applies `N` weight matrices to the same input: in one pass when all run on the CPU
/// kernels (the input is quantized once, the threads wake once), else one after another.
pub(super) fn forward_all<const N: usize>(
    linears: [&Linear; N],
    x: &Tensor,
) -> Result<[Tensor; N]> {
    let kernels: Option<Vec<&CpuQMatMul>> = linears
        .iter()
        .map(|linear| match linear {
            Linear::Cpu(kernel) => Some(kernel),
            Linear::Candle(_) => None,
        })
        .collect();
    let outputs = match kernels {
        Some(kernels) => CpuQMatMul::forward_many(&kernels, x)?,
        None => linears
            .iter()
            .map(|linear| linear.forward(x))
            .collect::<Result<_>>()?,
    };
    outputs
        .try_into()
        .map_err(|_| anyhow::anyhow!("expected {N} matmul outputs"))
}

/// A feed-forward activation, by its transformers name.
#[derive(Debug, Clone, Copy)]
pub(super) enum Activation {
    Gelu,
    GeluTanh,
    Relu,
    Silu,
}

impl Activation {
    pub(super) fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            "silu" | "swish" => Activation::Silu,
            other => bail!("unsupported activation function `{other}`"),
        })
    }

    pub(super) fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Gelu => x.gelu_erf()?,
            Activation::GeluTanh => x.gelu()?,
            Activation::Relu => x.relu()?,
            Activation::Silu => candle_nn::ops::silu(x)?,
        })
    }
}

/// The tensor called `names[0]`, or else the first of the other names that is present.
pub(super) fn first_present(
    vb: &VarBuilder,
    shape: (usize, usize),
    names: &[&str],
) -> Result<Tensor> {
    let name = names
        .iter()
        .find(|name| vb.contains_tensor(name))
        .with_context(|| format!("missing tensor `{}`", names[0]))?;
    Ok(vb.get(shape, name)?)
}

/// Multi-head attention over dense weights, as the encoder-decoders have it: query, key,
/// value and output projections (with biases or without), `heads` heads of `head_dim`, the
/// scores scaled by `head_dim^-1/2` (BART) or not (T5), an additive bias on them (a causal
/// mask, T5's position bias).
pub(super) struct DenseAttention {
    query: candle_nn::Linear,
    key: candle_nn::Linear,
    value: candle_nn::Linear,
    output: candle_nn::Linear,
    pub(super) heads: usize,
    pub(super) head_dim: usize,
    scaled: bool,
}

/// The shape of a [`DenseAttention`] and the names of its four projections.
pub(super) struct AttentionShape<'a> {
    pub(super) names: [&'a str; 4],
    pub(super) width: usize,
    pub(super) heads: usize,
    pub(super) head_dim: usize,
    pub(super) biased: bool,
    pub(super) scaled: bool,
}

impl DenseAttention {
    pub(super) fn load(vb: VarBuilder, shape: &AttentionShape) -> Result<Self> {
        let inner = shape.heads * shape.head_dim;
        if inner == 0 {
            bail!(
                "attention with {} heads of {} dimensions",
                shape.heads,
                shape.head_dim
            );
        }
        let linear = |name: &str, i, o| match shape.biased {
            true => candle_nn::linear(i, o, vb.pp(name)),
            false => candle_nn::linear_no_bias(i, o, vb.pp(name)),
        };
        let [query, key, value, output] = shape.names;
        Ok(Self {
            query: linear(query, shape.width, inner)?,
            key: linear(key, shape.width, inner)?,
            value: linear(value, shape.width, inner)?,
            output: linear(output, inner, shape.width)?,
            heads: shape.heads,
            head_dim: shape.head_dim,
            scaled: shape.scaled,
        })
    }

    /// `x` (seq, heads · head_dim) as (1, heads, seq, head_dim).
    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let seq = x.dim(0)?;
        Ok(x.reshape((1, seq, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()?)
    }

    /// The queries of `x` (seq, width), split into heads.
    pub(super) fn queries(&self, x: &Tensor) -> Result<Tensor> {
        self.split_heads(&self.query.forward(x)?)
    }

    /// The keys and values of `x` (seq, width), split into heads.
    pub(super) fn keys_values(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((
            self.split_heads(&self.key.forward(x)?)?,
            self.split_heads(&self.value.forward(x)?)?,
        ))
    }

    /// Attends with `queries` (1, heads, seq, head_dim) over `keys` and `values` (1, heads,
    /// total, head_dim), `bias` (broadcast to (1, heads, seq, total)) added to the scores;
    /// returns the output projection's (seq, width).
    pub(super) fn attend(
        &self,
        queries: &Tensor,
        keys: &Tensor,
        values: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        let queries = match self.scaled {
            true => (queries / (self.head_dim as f64).sqrt())?,
            false => queries.clone(),
        };
        let scores = queries.matmul(&keys.t()?)?;
        let scores = match bias {
            Some(bias) => scores.broadcast_add(bias)?,
            None => scores,
        };
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let seq = queries.dim(2)?;
        let attended = weights
            .matmul(values)?
            .transpose(1, 2)?
            .reshape((seq, self.heads * self.head_dim))?;
        Ok(self.output.forward(&attended)?)
    }
}

/// Each step's first row and number of rows when their tokens are stacked in order.
pub(super) fn step_rows(steps: &[super::Step]) -> Vec<(usize, usize)> {
    let mut rows: Vec<(usize, usize)> = Vec::with_capacity(steps.len());
    for step in steps {
        let row = rows.last().map_or(0, |&(row, n)| row + n);
        rows.push((row, step.tokens.len()));
    }
    rows
}

/// One sequence's keys and values for one block: tensors of shape (1, kv_heads, capacity,
/// head_dim) whose first `len` positions hold the sequence so far. Written in place; the
/// capacity doubles when a sequence outgrows it and is kept when the cache is cleared.
pub(super) struct KvCache {
    pub(super) keys: Tensor,
    pub(super) values: Tensor,
    pub(super) len: usize,
}

impl KvCache {
    pub(super) fn empty(kv_heads: usize, head_dim: usize, device: &Device) -> Result<Self> {
        let empty = Tensor::zeros((1, kv_heads, 0, head_dim), DType::F32, device)?;
        Ok(Self {
            keys: empty.clone(),
            values: empty,
            len: 0,
        })
    }

    /// Stores `keys` and `values` (1, kv_heads, seq, head_dim) at positions `pos..pos + seq`
    /// and returns the cached keys and values of positions `0..pos + seq`.
    pub(super) fn append(
        &mut self,
        keys: &Tensor,
        values: &Tensor,
        pos: usize,
    ) -> Result<(Tensor, Tensor)> {
        if pos > self.len {
            bail!("position {pos} is past the {} cached positions", self.len);
        }
        let end = pos + keys.dim(2)?;
        if end > self.keys.dim(2)? {
            self.grow(end)?;
        }
        self.keys.slice_set(keys, 2, pos)?;
        self.values.slice_set(values, 2, pos)?;
        self.len = end;
        Ok((self.keys.narrow(2, 0, end)?, self.values.narrow(2, 0, end)?))
    }

    /// A copy of the first `len` positions.
    pub(super) fn prefix(&self, len: usize) -> Result<KvCache> {
        if len > self.len {
            bail!("the cache holds {} positions, not {len}", self.len);
        }
        let (_, kv_heads, _, head_dim) = self.keys.dims4()?;
        let mut copy = KvCache::empty(kv_heads, head_dim, self.keys.device())?;
        copy.append(
            &self.keys.narrow(2, 0, len)?.contiguous()?,
            &self.values.narrow(2, 0, len)?.contiguous()?,
            0,
        )?;
        Ok(copy)
    }

    /// Reallocates for at least `needed` positions, keeping the cached ones.
    pub(super) fn grow(&mut self, needed: usize) -> Result<()> {
        let (_, kv_heads, _, head_dim) = self.keys.dims4()?;
        let capacity = needed.next_power_of_two().max(256);
        let grown = |old: &Tensor| -> Result<Tensor> {
            let new = Tensor::zeros((1, kv_heads, capacity, head_dim), DType::F32, old.device())?;
            if self.len > 0 {
                new.slice_set(&old.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
            }
            Ok(new)
        };
        self.keys = grown(&self.keys)?;
        self.values = grown(&self.values)?;
        Ok(())
    }
}

/// Causal attention of queries `q` (1, heads, seq, head_dim) over `k`, `v` (1, kv_heads,
/// total, head_dim), where query head `h` reads key/value head `h / (heads / kv_heads)`.
/// The query heads of one group are stacked as rows of one matmul, so keys and values are
/// never copied per head. Returns (seq, heads · head_dim).
pub(super) fn grouped_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (_, heads, seq, head_dim) = q.dims4()?;
    let (_, kv_heads, total, _) = k.dims4()?;
    let group = heads / kv_heads;
    let q = (q.reshape((1, kv_heads, group * seq, head_dim))? / (head_dim as f64).sqrt())?;
    let scores = q.matmul(&k.t()?)?;
    let scores = match mask {
        Some(mask) => scores
            .reshape((1, kv_heads, group, seq, total))?
            .broadcast_add(mask)?
            .reshape((1, kv_heads, group * seq, total))?,
        None => scores,
    };
    let weights = candle_nn::ops::softmax_last_dim(&scores)?;
    Ok(weights
        .matmul(v)?
        .reshape((1, heads, seq, head_dim))?
        .transpose(1, 2)?
        .reshape((seq, heads * head_dim))?)
}

/// The additive causal mask for `seq` new positions after `pos` cached ones.
pub(super) fn causal_mask(seq: usize, pos: usize, device: &Device) -> Result<Tensor> {
    let total = pos + seq;
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..total).map(move |j| if j > pos + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(mask, (seq, total), device)?)
}
