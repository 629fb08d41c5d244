//! Decoder-only transformers of the Llama lineage stored as GGUF: Llama (SmolLM2) and
//! Qwen2 (Qwen2.5, Qwen2.5-Coder).
//!
//! Both stack blocks of RMSNorm → grouped-query attention with rotary position embeddings
//! → RMSNorm → SwiGLU MLP. They differ in the metadata prefix, in Qwen2's biases on the
//! query/key/value projections, and in the rotary layout: llama.cpp's converter permutes
//! Llama's query/key weights for interleaved rotation, while Qwen2 rotates the two halves
//! of each head (GPT-NeoX style); the registry (`super::registry`) says which. Structure follows candle's `quantized_qwen2.rs`; weight
//! matrices run on abridge's own CPU kernels (`crate::kernels`) where they handle the quant
//! type, and on candle's `QMatMul` otherwise and on GPUs. The token embedding stays quantized
//! (rows are dequantized on lookup) and is shared with the output projection when the file
//! ties them.

use super::layers::Rotation;
use super::layers::{
    causal_mask, forward_all, grouped_attention, GgufReader, KvCache, Linear, RmsNorm, Rotary,
};
use super::{LanguageModel, Limits, Step};
use crate::kernels::CpuQMatMul;
use anyhow::{bail, Context, Result};
use candle_core::quantized::{gguf_file, QMatMul, QTensor};
use candle_core::{DType, Device, Tensor};
use std::io::{Read, Seek};
use std::sync::Arc;

/// The token embedding and the output projection, which many files tie together.
enum Vocabulary {
    /// Tied, on the CPU kernels: an embedding is a row of the repacked output weights.
    Tied(CpuQMatMul),
    /// A quantized embedding table (rows dequantized on lookup) and an output projection,
    /// which share the table when tied.
    Separate { table: Arc<QTensor>, output: Linear },
}

impl Vocabulary {
    /// Embeddings of `tokens` as a (tokens, hidden) tensor.
    fn embed(&self, tokens: &[u32], device: &Device) -> Result<Tensor> {
        Ok(match self {
            Vocabulary::Tied(kernel) => kernel.dequantize_rows(tokens)?,
            Vocabulary::Separate { table, .. } => table.embedding(&Tensor::new(tokens, device)?)?,
        })
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
    /// `y` (this projection's weight applied to the input) plus the bias.
    fn add_bias(&self, y: Tensor) -> Result<Tensor> {
        Ok(match &self.bias {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        })
    }
}

/// Where one step's rows sit in a forward pass, with its causal mask.
struct StepRows {
    slot: usize,
    pos: usize,
    /// First row of the step in the pass's (rows, hidden) activations.
    row: usize,
    len: usize,
    /// (len, pos + len) additive mask; `None` for a single new token, which sees everything.
    mask: Option<Tensor>,
}

struct Attention {
    query: Projection,
    key: Projection,
    value: Projection,
    output: Linear,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    /// One cache per slot.
    caches: Vec<KvCache>,
}

impl Attention {
    /// `x`: (rows, hidden) for every step of the pass.
    fn forward(&mut self, x: &Tensor, steps: &[StepRows], rotary: &Rotary) -> Result<Tensor> {
        let weights = [&self.query.weight, &self.key.weight, &self.value.weight];
        let [q, k, v] = forward_all(weights, x)?;
        let q = self.query.add_bias(q)?;
        let k = self.key.add_bias(k)?;
        let v = self.value.add_bias(v)?;
        let mut outputs = Vec::with_capacity(steps.len());
        for step in steps {
            // (len, heads · head_dim) rows → (1, heads, len, head_dim).
            let heads = |t: &Tensor, n: usize| -> Result<Tensor> {
                Ok(t.narrow(0, step.row, step.len)?
                    .reshape((1, step.len, n, self.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let q = rotary.apply(&heads(&q, self.n_head)?, step.pos)?;
            let k = rotary.apply(&heads(&k, self.n_kv_head)?, step.pos)?;
            let v = heads(&v, self.n_kv_head)?;
            let (k, v) = self
                .cache(step.slot, x.device())?
                .append(&k, &v, step.pos)?;
            outputs.push(grouped_attention(&q, &k, &v, step.mask.as_ref())?);
        }
        let y = match outputs.len() {
            1 => outputs.pop().expect("one output"),
            _ => Tensor::cat(&outputs, 0)?,
        };
        self.output.forward(&y)
    }
}

impl Attention {
    /// The cache of `slot`, created (with those before it) on first use.
    fn cache(&mut self, slot: usize, device: &Device) -> Result<&mut KvCache> {
        while self.caches.len() <= slot {
            let cache = KvCache::empty(self.n_kv_head, self.head_dim, device)?;
            self.caches.push(cache);
        }
        Ok(&mut self.caches[slot])
    }

    fn copy_slot(&mut self, from: usize, to: usize, len: usize) -> Result<()> {
        let source = self
            .caches
            .get(from)
            .filter(|cache| cache.len >= len)
            .with_context(|| format!("slot {from} holds fewer than {len} positions"))?;
        let keys = source.keys.narrow(2, 0, len)?.contiguous()?;
        let values = source.values.narrow(2, 0, len)?.contiguous()?;
        let device = keys.device().clone();
        let target = self.cache(to, &device)?;
        target.len = 0;
        target.append(&keys, &values, 0)?;
        Ok(())
    }
}

struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let [gate, up] = forward_all([&self.gate, &self.up], x)?;
        self.down.forward(&(candle_nn::ops::silu(&gate)? * up)?)
    }
}

struct Block {
    attention_norm: RmsNorm,
    attention: Attention,
    mlp_norm: RmsNorm,
    mlp: Mlp,
}

impl Block {
    fn forward(&mut self, x: &Tensor, steps: &[StepRows], rotary: &Rotary) -> Result<Tensor> {
        let attended = self
            .attention
            .forward(&self.attention_norm.forward(x)?, steps, rotary)?;
        let h = (x + attended)?;
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
    /// The prompt length of the sequence in each slot; `None` for a slot not begun.
    prompts: Vec<Option<usize>>,
    device: Device,
}

impl Decoder {
    /// Reads a decoder whose metadata keys start with `prefix` (its family's name) and whose
    /// rotary embedding is laid out as `rotation` says.
    pub fn from_gguf<R: Read + Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        prefix: &str,
        rotation: Rotation,
    ) -> Result<Self> {
        let mut gguf = GgufReader {
            content,
            reader,
            device,
            prefix: prefix.to_string(),
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
                caches: Vec::new(),
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
        let rotary = Rotary::new(head_dim, rope_base, context_length, rotation, device)?;
        Ok(Self {
            vocabulary,
            blocks,
            norm,
            rotary,
            context_length,
            prompts: Vec::new(),
            device: device.clone(),
        })
    }
}

impl LanguageModel for Decoder {
    fn begin(&mut self, slot: usize, input: &[u32], chunk: usize) -> Result<Vec<f32>> {
        if input.is_empty() {
            bail!("the prompt is empty");
        }
        while self.prompts.len() <= slot {
            self.prompts.push(None);
        }
        self.prompts[slot] = None;
        let chunk = chunk.max(1);
        let mut logits = None;
        for (i, tokens) in input.chunks(chunk).enumerate() {
            let step = Step {
                slot,
                tokens,
                pos: i * chunk,
            };
            logits = Some(self.forward_positions(&[step])?);
        }
        self.prompts[slot] = Some(input.len());
        let logits = logits.expect("a prompt that is not empty has a chunk");
        Ok(logits.squeeze(0)?.to_vec1()?)
    }

    fn step(&mut self, steps: &[Step]) -> Result<Tensor> {
        let positioned = steps
            .iter()
            .map(|step| {
                let prompt = self.prompt_length(step.slot)?;
                Ok(Step {
                    pos: prompt + step.pos,
                    ..*step
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.forward_positions(&positioned)
    }

    fn fork(&mut self, from: usize, to: usize, len: usize) -> Result<()> {
        let prompt = self.prompt_length(from)?;
        for block in &mut self.blocks {
            block.attention.copy_slot(from, to, prompt + len)?;
        }
        while self.prompts.len() <= to {
            self.prompts.push(None);
        }
        self.prompts[to] = Some(prompt);
        Ok(())
    }

    fn reset(&mut self) {
        for block in &mut self.blocks {
            for cache in &mut block.attention.caches {
                cache.len = 0;
            }
        }
        self.prompts.clear();
    }

    fn limits(&self) -> Limits {
        Limits::shared(self.context_length)
    }
}

impl Decoder {
    /// The prompt length of the sequence begun in `slot`.
    fn prompt_length(&self, slot: usize) -> Result<usize> {
        self.prompts
            .get(slot)
            .copied()
            .flatten()
            .with_context(|| format!("slot {slot} holds no sequence"))
    }

    /// One pass over steps whose positions count from the start of their prompts.
    fn forward_positions(&mut self, steps: &[Step]) -> Result<Tensor> {
        if self.device.is_cpu() {
            // Run the pass on one of rayon's workers: each matmul's parallel loop then starts
            // from inside the pool (the calling worker takes a share), instead of being
            // handed over from outside and waited for, about 170 times a token.
            rayon::scope(|_| self.forward_rows(steps))
        } else {
            self.forward_rows(steps)
        }
    }

    fn forward_rows(&mut self, steps: &[Step]) -> Result<Tensor> {
        let mut rows = Vec::with_capacity(steps.len());
        let mut tokens = Vec::new();
        for step in steps {
            let len = step.tokens.len();
            if len == 0 {
                bail!("forward called with no tokens");
            }
            if step.pos + len > self.context_length {
                bail!(
                    "sequence of {} tokens exceeds the model's context of {}",
                    step.pos + len,
                    self.context_length
                );
            }
            if rows.iter().any(|r: &StepRows| r.slot == step.slot) {
                bail!("slot {} appears twice in one forward pass", step.slot);
            }
            let mask = if len > 1 {
                Some(causal_mask(len, step.pos, &self.device)?)
            } else {
                None
            };
            rows.push(StepRows {
                slot: step.slot,
                pos: step.pos,
                row: tokens.len(),
                len,
                mask,
            });
            tokens.extend_from_slice(step.tokens);
        }
        if rows.is_empty() {
            bail!("forward called with no steps");
        }
        let mut x = self.vocabulary.embed(&tokens, &self.device)?;
        for block in &mut self.blocks {
            x = block.forward(&x, &rows, &self.rotary)?;
        }
        let last: Vec<u32> = rows.iter().map(|r| (r.row + r.len - 1) as u32).collect();
        let last = x.index_select(&Tensor::new(last, &self.device)?, 0)?;
        let last = self.norm.forward(&last)?;
        Ok(self.vocabulary.project(&last)?.to_dtype(DType::F32)?)
    }
}
