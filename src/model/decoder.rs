//! Decoder-only transformers of the Llama lineage stored as GGUF: Llama (SmolLM2) and
//! Qwen2 (Qwen2.5, Qwen2.5-Coder).
//!
//! Both stack blocks of RMSNorm → grouped-query attention with rotary position embeddings
//! → RMSNorm → SwiGLU MLP. They differ in the metadata prefix, in Qwen2's biases on the
//! query/key/value projections, and in the rotary layout: llama.cpp's converter permutes
//! Llama's query/key weights for interleaved rotation, while Qwen2 rotates the two halves
//! of each head (GPT-NeoX style). Structure follows candle's `quantized_qwen2.rs`; weight
//! matrices run on abridge's own CPU kernels (`crate::kernels`) where they handle the quant
//! type, and on candle's `QMatMul` otherwise and on GPUs. The token embedding stays quantized
//! (rows are dequantized on lookup) and is shared with the output projection when the file
//! ties them.

use super::LanguageModel;
use crate::kernels::CpuQMatMul;
use anyhow::{bail, Context, Result};
use candle_core::quantized::{gguf_file, QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use std::io::{Read, Seek};
use std::sync::Arc;

/// Reads GGUF metadata and tensors for one architecture prefix, naming what is missing.
struct GgufReader<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    device: &'a Device,
    prefix: String,
}

impl<R: Read + Seek> GgufReader<'_, R> {
    fn value(&self, key: &str) -> Option<&gguf_file::Value> {
        self.content.metadata.get(&format!("{}.{key}", self.prefix))
    }

    fn usize(&self, key: &str) -> Result<usize> {
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

    fn f32_or(&self, key: &str, default: f32) -> Result<f32> {
        self.value(key).map_or(Ok(default), |v| Ok(v.to_f32()?))
    }

    fn tensor(&mut self, name: &str) -> Result<QTensor> {
        self.content
            .tensor(self.reader, name, self.device)
            .with_context(|| format!("missing or unreadable tensor `{name}`"))
    }

    fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn linear(&mut self, name: &str) -> Result<Linear> {
        Linear::new(self.tensor(name)?)
    }

    fn dense(&mut self, name: &str) -> Result<Tensor> {
        Ok(self.tensor(name)?.dequantize(self.device)?)
    }
}

/// Rotary position embedding tables for every position up to the context length.
struct Rotary {
    cos: Tensor,
    sin: Tensor,
    interleaved: bool,
}

impl Rotary {
    fn new(
        head_dim: usize,
        base: f32,
        positions: usize,
        interleaved: bool,
        device: &Device,
    ) -> Result<Self> {
        let inv_freq: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
            .collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, head_dim / 2), device)?;
        let angles = Tensor::arange(0u32, positions as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((positions, 1))?
            .matmul(&inv_freq)?;
        Ok(Self {
            cos: angles.cos()?,
            sin: angles.sin()?,
            interleaved,
        })
    }

    /// Rotates `x` of shape (batch, heads, seq, head_dim) whose first position is `pos`.
    fn apply(&self, x: &Tensor, pos: usize) -> Result<Tensor> {
        let seq = x.dim(2)?;
        let cos = self.cos.narrow(0, pos, seq)?;
        let sin = self.sin.narrow(0, pos, seq)?;
        let x = x.contiguous()?;
        Ok(if self.interleaved {
            candle_nn::rotary_emb::rope_i(&x, &cos, &sin)?
        } else {
            candle_nn::rotary_emb::rope(&x, &cos, &sin)?
        })
    }
}

struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::rms_norm(x, &self.weight, self.eps)?)
    }
}

/// A weight matrix applied as `x · Wᵀ`.
enum Linear {
    /// Repacked for abridge's CPU kernels.
    Cpu(CpuQMatMul),
    /// candle's quantized matmul: GPUs, and quant types the CPU kernels lack.
    Candle(QMatMul),
}

impl Linear {
    fn new(weight: QTensor) -> Result<Self> {
        Ok(match CpuQMatMul::from_qtensor(&weight)? {
            Some(kernel) => Linear::Cpu(kernel),
            None => Linear::Candle(QMatMul::from_qtensor(weight)?),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Linear::Cpu(kernel) => kernel.forward(x)?,
            Linear::Candle(matmul) => matmul.forward(x)?,
        })
    }
}

/// The token embedding and the output projection, which many files tie together.
enum Vocabulary {
    /// Tied, on the CPU kernels: an embedding is a row of the repacked output weights.
    Tied(CpuQMatMul),
    /// A quantized embedding table (rows dequantized on lookup) and an output projection,
    /// which share the table when tied.
    Separate { table: Arc<QTensor>, output: Linear },
}

impl Vocabulary {
    /// Embeddings of `tokens` as a (1, seq, hidden) tensor.
    fn embed(&self, tokens: &[u32], device: &Device) -> Result<Tensor> {
        let rows = match self {
            Vocabulary::Tied(kernel) => kernel.dequantize_rows(tokens)?,
            Vocabulary::Separate { table, .. } => table.embedding(&Tensor::new(tokens, device)?)?,
        };
        Ok(rows.unsqueeze(0)?)
    }

    /// Logits from final hidden states.
    fn project(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Vocabulary::Tied(kernel) => Ok(kernel.forward(x)?),
            Vocabulary::Separate { output, .. } => output.forward(x),
        }
    }
}

/// A projection with an optional bias (Qwen2's query/key/value).
struct Projection {
    weight: Linear,
    bias: Option<Tensor>,
}

impl Projection {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.weight.forward(x)?;
        Ok(match &self.bias {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        })
    }
}

struct Attention {
    query: Projection,
    key: Projection,
    value: Projection,
    output: Linear,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    kv_cache: Option<(Tensor, Tensor)>,
}

impl Attention {
    fn forward(
        &mut self,
        x: &Tensor,
        mask: Option<&Tensor>,
        pos: usize,
        rotary: &Rotary,
    ) -> Result<Tensor> {
        let (batch, seq, _) = x.dims3()?;
        let heads = |t: Tensor, n: usize| -> Result<Tensor> {
            Ok(t.reshape((batch, seq, n, self.head_dim))?.transpose(1, 2)?)
        };
        let q = rotary.apply(&heads(self.query.forward(x)?, self.n_head)?, pos)?;
        let k = rotary.apply(&heads(self.key.forward(x)?, self.n_kv_head)?, pos)?;
        let v = heads(self.value.forward(x)?, self.n_kv_head)?.contiguous()?;

        let (k, v) = match self.kv_cache.take() {
            Some((k_cache, v_cache)) if pos > 0 => (
                Tensor::cat(&[&k_cache, &k], 2)?,
                Tensor::cat(&[&v_cache, &v], 2)?,
            ),
            _ => (k, v),
        };
        self.kv_cache = Some((k.clone(), v.clone()));

        let group = self.n_head / self.n_kv_head;
        let k = repeat_kv(&k, group)?;
        let v = repeat_kv(&v, group)?;
        let scores = (q.matmul(&k.t()?)? / (self.head_dim as f64).sqrt())?;
        let scores = match mask {
            Some(mask) => scores.broadcast_add(mask)?,
            None => scores,
        };
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let y = weights.matmul(&v)?;
        let y = y
            .transpose(1, 2)?
            .reshape((batch, seq, self.n_head * self.head_dim))?;
        self.output.forward(&y)
    }
}

/// Repeats each key/value head `group` times so grouped-query attention can use a plain matmul.
fn repeat_kv(x: &Tensor, group: usize) -> Result<Tensor> {
    if group == 1 {
        return Ok(x.clone());
    }
    let (batch, n_kv, seq, dim) = x.dims4()?;
    Ok(Tensor::cat(&vec![x; group], 2)?.reshape((batch, n_kv * group, seq, dim))?)
}

struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(x)?)?;
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}

struct Block {
    attention_norm: RmsNorm,
    attention: Attention,
    mlp_norm: RmsNorm,
    mlp: Mlp,
}

impl Block {
    fn forward(
        &mut self,
        x: &Tensor,
        mask: Option<&Tensor>,
        pos: usize,
        rotary: &Rotary,
    ) -> Result<Tensor> {
        let h =
            (x + self
                .attention
                .forward(&self.attention_norm.forward(x)?, mask, pos, rotary)?)?;
        Ok((&h + self.mlp.forward(&self.mlp_norm.forward(&h)?)?)?)
    }
}

/// A Llama-lineage decoder loaded from GGUF.
pub struct Decoder {
    vocabulary: Vocabulary,
    blocks: Vec<Block>,
    norm: RmsNorm,
    rotary: Rotary,
    context_length: usize,
    device: Device,
}

impl Decoder {
    pub fn from_gguf<R: Read + Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> Result<Self> {
        let architecture = content
            .metadata
            .get("general.architecture")
            .context("missing metadata `general.architecture`")?
            .to_string()?
            .clone();
        let mut gguf = GgufReader {
            content,
            reader,
            device,
            prefix: architecture.clone(),
        };
        let n_head = gguf.usize("attention.head_count")?;
        let n_kv_head = gguf.usize("attention.head_count_kv")?;
        let hidden = gguf.usize("embedding_length")?;
        let n_blocks = gguf.usize("block_count")?;
        let context_length = gguf.usize("context_length")?;
        let head_dim = gguf
            .usize("attention.key_length")
            .unwrap_or(hidden / n_head);
        let eps = gguf.f32_or("attention.layer_norm_rms_epsilon", 1e-6)?;
        let rope_base = gguf.f32_or("rope.freq_base", 10_000.0)?;
        if n_kv_head == 0 || n_head % n_kv_head != 0 {
            bail!("{n_head} attention heads cannot be grouped over {n_kv_head} key/value heads");
        }

        let table = gguf.tensor("token_embd.weight")?;
        let vocabulary = if gguf.has_tensor("output.weight") {
            Vocabulary::Separate {
                table: Arc::new(table),
                output: gguf.linear("output.weight")?,
            }
        } else if let Some(kernel) = CpuQMatMul::from_qtensor(&table)? {
            Vocabulary::Tied(kernel)
        } else {
            let table = Arc::new(table);
            let output = Linear::Candle(QMatMul::from_arc(table.clone())?);
            Vocabulary::Separate { table, output }
        };
        let norm = RmsNorm {
            weight: gguf.dense("output_norm.weight")?,
            eps,
        };
        let mut blocks = Vec::with_capacity(n_blocks);
        for i in 0..n_blocks {
            let mut projection = |name: &str| -> Result<Projection> {
                let bias_name = format!("blk.{i}.{name}.bias");
                let bias = if gguf.has_tensor(&bias_name) {
                    Some(gguf.dense(&bias_name)?)
                } else {
                    None
                };
                Ok(Projection {
                    weight: gguf.linear(&format!("blk.{i}.{name}.weight"))?,
                    bias,
                })
            };
            let attention = Attention {
                query: projection("attn_q")?,
                key: projection("attn_k")?,
                value: projection("attn_v")?,
                output: gguf.linear(&format!("blk.{i}.attn_output.weight"))?,
                n_head,
                n_kv_head,
                head_dim,
                kv_cache: None,
            };
            blocks.push(Block {
                attention_norm: RmsNorm {
                    weight: gguf.dense(&format!("blk.{i}.attn_norm.weight"))?,
                    eps,
                },
                attention,
                mlp_norm: RmsNorm {
                    weight: gguf.dense(&format!("blk.{i}.ffn_norm.weight"))?,
                    eps,
                },
                mlp: Mlp {
                    gate: gguf.linear(&format!("blk.{i}.ffn_gate.weight"))?,
                    up: gguf.linear(&format!("blk.{i}.ffn_up.weight"))?,
                    down: gguf.linear(&format!("blk.{i}.ffn_down.weight"))?,
                },
            });
        }
        let rotary = Rotary::new(
            head_dim,
            rope_base,
            context_length,
            architecture == "llama",
            device,
        )?;
        Ok(Self {
            vocabulary,
            blocks,
            norm,
            rotary,
            context_length,
            device: device.clone(),
        })
    }
}

/// The additive causal mask for `seq` new positions after `pos` cached ones.
fn causal_mask(seq: usize, pos: usize, device: &Device) -> Result<Tensor> {
    let total = pos + seq;
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..total).map(move |j| if j > pos + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(mask, (seq, total), device)?)
}

impl LanguageModel for Decoder {
    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Tensor> {
        let seq = tokens.len();
        if seq == 0 {
            bail!("forward called with no tokens");
        }
        if pos + seq > self.context_length {
            bail!(
                "sequence of {} tokens exceeds the model's context of {}",
                pos + seq,
                self.context_length
            );
        }
        let mut x = self.vocabulary.embed(tokens, &self.device)?;
        let mask = if seq > 1 {
            Some(causal_mask(seq, pos, &self.device)?)
        } else {
            None
        };
        for block in &mut self.blocks {
            x = block.forward(&x, mask.as_ref(), pos, &self.rotary)?;
        }
        let last = self.norm.forward(&x.i((.., seq - 1, ..))?)?;
        Ok(self
            .vocabulary
            .project(&last)?
            .squeeze(0)?
            .to_dtype(DType::F32)?)
    }

    fn clear_kv_cache(&mut self) {
        for block in &mut self.blocks {
            block.attention.kv_cache = None;
        }
    }

    fn context_length(&self) -> usize {
        self.context_length
    }
}
