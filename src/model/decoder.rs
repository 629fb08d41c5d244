//! Decoder-only transformers of the Llama lineage stored as GGUF — Llama (SmolLM2, Llama
//! 3.x), Qwen2 (Qwen2.5), Qwen3, Gemma 3 and Phi-3 — in one implementation that each
//! family's [`Recipe`] configures.
//!
//! Every block is RMSNorm → grouped-query attention with rotary position embeddings →
//! RMSNorm → gated MLP. The families differ in what the recipe names: the rotary layout
//! (llama.cpp's converter permutes Llama's query/key weights for interleaved rotation; the
//! others rotate the two halves of each head, GPT-NeoX style), per-head query/key norms
//! (Qwen3, Gemma 3), norms after each sublayer, a GELU gate, scaled embeddings and
//! sliding-window local layers (Gemma 3), fused projections (Phi-3); and in what the file
//! says — Qwen2's query/key/value biases, Llama 3's and Phi-3's rotary frequency factors.
//! Structure follows candle's `quantized_*` models and llama.cpp; weight matrices run on
//! abridge's own CPU kernels (`crate::kernels`) where they handle the quant type, and on
//! candle's `QMatMul` otherwise and on GPUs. The token embedding stays quantized (rows are
//! dequantized on lookup) and is shared with the output projection when the file ties them.

use super::layers::{
    causal_mask, forward_all, grouped_attention, Activation, GgufReader, KvCache, Linear, RmsNorm,
    RopeSpec, Rotary, Rotation,
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

/// What sets one family's decoder apart from the others (the registry holds the Llama
/// lineage's plain recipes; `qwen3.rs`, `gemma3.rs` and `phi3.rs` hold theirs).
#[derive(Debug, Clone, Copy)]
pub(super) struct Recipe {
    /// How the rotary embedding pairs the dimensions of a head.
    pub(super) rotation: Rotation,
    /// An RMSNorm over each query and key head before rotation (`attn_q_norm`,
    /// `attn_k_norm`: Qwen3, Gemma 3).
    pub(super) head_norms: bool,
    /// RMSNorms on the attention's and the MLP's outputs before the residual sum
    /// (`post_attention_norm`, `post_ffw_norm`: Gemma 3).
    pub(super) post_norms: bool,
    /// The activation of the MLP's gate.
    pub(super) activation: Activation,
    /// Token embeddings multiplied by √hidden (Gemma).
    pub(super) scale_embeddings: bool,
    /// Query, key and value in one matrix (`attn_qkv`) and gate and up in one (`ffn_up`,
    /// gate rows first: Phi-3).
    pub(super) fused: bool,
    /// Local layers that see only the last `<arch>.attention.sliding_window` positions,
    /// with their own rotary base; every `sliding_window_type`-th layer (6 when absent)
    /// is global (Gemma 3).
    pub(super) sliding_layers: bool,
}

impl Recipe {
    /// The Llama lineage's plain block: SwiGLU, no extra norms, separate projections.
    pub(super) const fn plain(rotation: Rotation) -> Self {
        Recipe {
            rotation,
            head_norms: false,
            post_norms: false,
            activation: Activation::Silu,
            scale_embeddings: false,
            fused: false,
            sliding_layers: false,
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

/// The query, key and value projections: three matrices, or one whose output rows are the
/// three in turn.
enum QueryKeyValue {
    Separate(Box<[Projection; 3]>),
    Fused(Linear),
}

impl QueryKeyValue {
    /// Queries, keys and values of `x` (rows, hidden), each (rows, heads · head_dim).
    fn forward(&self, x: &Tensor, widths: [usize; 3]) -> Result<[Tensor; 3]> {
        match self {
            QueryKeyValue::Separate(projections) => {
                let [q, k, v] = projections.as_ref();
                let [qy, ky, vy] = forward_all([&q.weight, &k.weight, &v.weight], x)?;
                Ok([q.add_bias(qy)?, k.add_bias(ky)?, v.add_bias(vy)?])
            }
            QueryKeyValue::Fused(weight) => {
                let y = weight.forward(x)?;
                let [q, k, _] = widths;
                Ok([
                    y.narrow(1, 0, q)?,
                    y.narrow(1, q, k)?,
                    y.narrow(1, q + k, widths[2])?,
                ])
            }
        }
    }
}

/// Where one step's rows sit in a forward pass, with its masks.
struct StepRows {
    slot: usize,
    pos: usize,
    /// First row of the step in the pass's (rows, hidden) activations.
    row: usize,
    len: usize,
    /// (len, pos + len) additive causal mask; `None` for a single new token, which sees
    /// everything.
    mask: Option<Tensor>,
    /// The causal mask of a local layer over the positions its first row can see (from
    /// [`window_start`] on); `None` for a single new token or a model without local layers.
    window_mask: Option<Tensor>,
    /// Attention runs row by row, each row as a one-token step at its position (no masks).
    row_by_row: bool,
}

/// The first position a local layer's query at `pos` sees: it sees the last `window`
/// positions, itself included (as transformers and llama.cpp count a sliding window).
fn window_start(pos: usize, window: usize) -> usize {
    (pos + 1).saturating_sub(window)
}

/// The additive mask of `seq` new positions after `pos` cached ones in a local layer of
/// `window` positions, over the keys from [`window_start`]`(pos, window)` on.
fn window_mask(seq: usize, pos: usize, window: usize, device: &Device) -> Result<Tensor> {
    let first = window_start(pos, window);
    let total = pos + seq;
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| {
            let query = pos + i;
            (first..total).map(move |key| {
                if key > query || query - key >= window {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Ok(Tensor::from_vec(mask, (seq, total - first), device)?)
}

struct Attention {
    projections: QueryKeyValue,
    /// Per-head RMSNorms of queries and keys (Qwen3, Gemma 3).
    head_norms: Option<[RmsNorm; 2]>,
    output: Linear,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    /// How many positions back this layer sees; `None` for all of them.
    window: Option<usize>,
    /// One cache per slot.
    caches: Vec<KvCache>,
}

impl Attention {
    /// `x`: (rows, hidden) for every step of the pass.
    fn forward(&mut self, x: &Tensor, steps: &[StepRows], rotary: &Rotary) -> Result<Tensor> {
        let widths = [
            self.n_head * self.head_dim,
            self.n_kv_head * self.head_dim,
            self.n_kv_head * self.head_dim,
        ];
        let [q, k, v] = self.projections.forward(x, widths)?;
        let mut outputs = Vec::with_capacity(steps.len());
        for step in steps {
            // (len, heads · head_dim) rows → (1, heads, len, head_dim).
            let heads = |t: &Tensor, n: usize| -> Result<Tensor> {
                Ok(t.narrow(0, step.row, step.len)?
                    .reshape((1, step.len, n, self.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let mut q = heads(&q, self.n_head)?;
            let mut k = heads(&k, self.n_kv_head)?;
            if let Some([q_norm, k_norm]) = &self.head_norms {
                q = q_norm.forward(&q)?;
                k = k_norm.forward(&k)?;
            }
            let q = rotary.apply(&q, step.pos)?;
            let k = rotary.apply(&k, step.pos)?;
            let v = heads(&v, self.n_kv_head)?;
            let window = self.window;
            let (k, v) = self
                .cache(step.slot, x.device())?
                .append(&k, &v, step.pos)?;
            // The keys and values `len` rows from `pos` on see.
            let seen = |pos: usize, len: usize| -> Result<(Tensor, Tensor)> {
                let first = window.map_or(0, |window| window_start(pos, window));
                let seen = pos + len - first;
                Ok((k.narrow(2, first, seen)?, v.narrow(2, first, seen)?))
            };
            if step.row_by_row {
                for i in 0..step.len {
                    let (k, v) = seen(step.pos + i, 1)?;
                    let q = q.narrow(2, i, 1)?.contiguous()?;
                    outputs.push(grouped_attention(&q, &k, &v, None)?);
                }
            } else {
                let mask = match window {
                    None => step.mask.as_ref(),
                    Some(_) => step.window_mask.as_ref(),
                };
                let (k, v) = seen(step.pos, step.len)?;
                outputs.push(grouped_attention(&q, &k, &v, mask)?);
            }
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

/// The gate and up projections: two matrices, or one whose output holds the gate's rows
/// then the up's.
enum GateUp {
    Separate(Linear, Linear),
    Fused(Linear),
}

struct Mlp {
    gate_up: GateUp,
    down: Linear,
    activation: Activation,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let [gate, up] = match &self.gate_up {
            GateUp::Separate(gate, up) => forward_all([gate, up], x)?,
            GateUp::Fused(gate_up) => {
                let y = gate_up.forward(x)?;
                let half = y.dim(1)? / 2;
                [y.narrow(1, 0, half)?, y.narrow(1, half, half)?]
            }
        };
        self.down.forward(&(self.activation.apply(&gate)? * up)?)
    }
}

/// A block's norm before a sublayer and, in some families, after it.
struct Norms {
    before: RmsNorm,
    after: Option<RmsNorm>,
}

struct Block {
    attention_norms: Norms,
    attention: Attention,
    mlp_norms: Norms,
    mlp: Mlp,
    /// Which of the decoder's rotary tables this block uses (local layers have their own).
    rotary: usize,
}

impl Block {
    fn forward(&mut self, x: &Tensor, steps: &[StepRows], rotaries: &[Rotary]) -> Result<Tensor> {
        let normed = self.attention_norms.before.forward(x)?;
        let attended = self
            .attention
            .forward(&normed, steps, &rotaries[self.rotary])?;
        let h = (x + after(&self.attention_norms, attended)?)?;
        let fed = self.mlp.forward(&self.mlp_norms.before.forward(&h)?)?;
        Ok((&h + after(&self.mlp_norms, fed)?)?)
    }
}

/// The attention heads every block has.
struct Heads {
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
}

impl Block {
    /// Block `i` as `recipe` builds it; a local layer (`window`) uses the second rotary
    /// table.
    fn read<R: Read + Seek>(
        gguf: &mut GgufReader<R>,
        i: usize,
        recipe: &Recipe,
        heads: &Heads,
        eps: f32,
        window: Option<usize>,
    ) -> Result<Self> {
        let name = |part: &str| format!("blk.{i}.{part}.weight");
        let norm = |gguf: &mut GgufReader<R>, part: &str| -> Result<RmsNorm> {
            let weight = gguf.dense(&name(part))?;
            Ok(RmsNorm { weight, eps })
        };
        let norms = |gguf: &mut GgufReader<R>, before: &str, after: &str| -> Result<Norms> {
            Ok(Norms {
                before: norm(gguf, before)?,
                after: match recipe.post_norms {
                    true => Some(norm(gguf, after)?),
                    false => None,
                },
            })
        };
        let attention_norms = norms(gguf, "attn_norm", "post_attention_norm")?;
        let mlp_norms = norms(gguf, "ffn_norm", "post_ffw_norm")?;
        let head_norms = match recipe.head_norms {
            true => Some([norm(gguf, "attn_q_norm")?, norm(gguf, "attn_k_norm")?]),
            false => None,
        };
        let (projections, gate_up) = match recipe.fused {
            true => (
                QueryKeyValue::Fused(gguf.linear(&name("attn_qkv"))?),
                GateUp::Fused(gguf.linear(&name("ffn_up"))?),
            ),
            false => (
                QueryKeyValue::Separate(Box::new([
                    projection(gguf, i, "attn_q")?,
                    projection(gguf, i, "attn_k")?,
                    projection(gguf, i, "attn_v")?,
                ])),
                GateUp::Separate(
                    gguf.linear(&name("ffn_gate"))?,
                    gguf.linear(&name("ffn_up"))?,
                ),
            ),
        };
        Ok(Block {
            attention_norms,
            attention: Attention {
                projections,
                head_norms,
                output: gguf.linear(&name("attn_output"))?,
                n_head: heads.n_head,
                n_kv_head: heads.n_kv_head,
                head_dim: heads.head_dim,
                window,
                caches: Vec::new(),
            },
            mlp_norms,
            mlp: Mlp {
                gate_up,
                down: gguf.linear(&name("ffn_down"))?,
                activation: recipe.activation,
            },
            rotary: usize::from(window.is_some()),
        })
    }
}

/// `y` through the norm after a sublayer, where the family has one.
fn after(norms: &Norms, y: Tensor) -> Result<Tensor> {
    match &norms.after {
        Some(norm) => norm.forward(&y),
        None => Ok(y),
    }
}

/// A Llama-lineage decoder loaded from GGUF.
pub struct Decoder {
    vocabulary: Vocabulary,
    /// √hidden for a family that scales its embeddings.
    embedding_scale: Option<f64>,
    blocks: Vec<Block>,
    norm: RmsNorm,
    /// The global layers' rotary table first, then the local layers' where they differ.
    rotaries: Vec<Rotary>,
    /// The local layers' window, if the model has local layers.
    window: Option<usize>,
    context_length: usize,
    /// What each slot holds.
    slots: Vec<SlotState>,
    /// Whether `begin` reuses what slots hold (see `LanguageModel::reuse_prefixes`).
    reuse: bool,
    device: Device,
}

/// One cache slot: the prompt length of the sequence begun in it (`None` for a slot not
/// begun, or forgotten by `reset`), and the tokens whose keys and values its cache holds, in
/// position order, which a later prompt that starts with them reuses instead of running.
#[derive(Debug, Clone, Default)]
struct SlotState {
    prompt: Option<usize>,
    held: Vec<u32>,
}

impl Decoder {
    /// Reads a decoder whose metadata keys start with `prefix` (its family's name) and
    /// whose blocks are built as `recipe` says.
    pub fn from_gguf<R: Read + Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        prefix: &str,
        recipe: Recipe,
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
        let head_dim = gguf
            .usize("attention.key_length")
            .unwrap_or(hidden / n_head.max(1));
        let eps = gguf.f32_or("attention.layer_norm_rms_epsilon", 1e-6)?;
        if n_kv_head == 0 || n_head % n_kv_head != 0 {
            bail!("{n_head} attention heads cannot be grouped over {n_kv_head} key/value heads");
        }
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            bail!("attention heads of {head_dim} dimensions cannot be rotated");
        }
        if let Ok(rotated) = gguf.usize("rope.dimension_count") {
            if rotated != head_dim {
                bail!("rotary embedding over {rotated} of {head_dim} head dimensions is not supported");
            }
        }
        let rope = Rope::read(&mut gguf, head_dim)?;
        let context_length = rope.context_length(&gguf)?;

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
        let mut rotaries = vec![Rotary::new(
            head_dim,
            &rope.global,
            context_length,
            recipe.rotation,
            device,
        )?];
        let local = match recipe.sliding_layers {
            true => Some(LocalLayers::read(&gguf)?),
            false => None,
        };
        if let Some(local) = &local {
            rotaries.push(Rotary::new(
                head_dim,
                &rope.local(local.base),
                context_length,
                recipe.rotation,
                device,
            )?);
        }
        let heads = Heads {
            n_head,
            n_kv_head,
            head_dim,
        };
        let mut blocks = Vec::with_capacity(n_blocks);
        for i in 0..n_blocks {
            let window = local.as_ref().filter(|l| l.is_local(i)).map(|l| l.window);
            blocks.push(Block::read(&mut gguf, i, &recipe, &heads, eps, window)?);
        }
        Ok(Self {
            vocabulary,
            embedding_scale: recipe.scale_embeddings.then(|| (hidden as f64).sqrt()),
            blocks,
            norm,
            rotaries,
            window: local.map(|local| local.window),
            context_length,
            slots: Vec::new(),
            reuse: false,
            device: device.clone(),
        })
    }
}

/// Block `block`'s projection `name` with its bias, if the file has one.
fn projection<R: Read + Seek>(
    gguf: &mut GgufReader<R>,
    block: usize,
    name: &str,
) -> Result<Projection> {
    let bias_name = format!("blk.{block}.{name}.bias");
    let bias = match gguf.has_tensor(&bias_name) {
        true => Some(gguf.dense(&bias_name)?),
        false => None,
    };
    Ok(Projection {
        weight: gguf.linear(&format!("blk.{block}.{name}.weight"))?,
        bias,
    })
}

/// The rotary embedding a file describes: its base, the per-frequency divisors llama.cpp
/// stores as a tensor (Llama 3's `rope_freqs`, Phi-3's `rope_factors_short`), linear
/// position scaling and the magnitude of the rotation (`rope.scaling.attn_factor`).
struct Rope {
    global: RopeSpec,
    /// The context the file was trained for before its rotary scaling extended it, when
    /// the short factors (Phi-3's) are what is used.
    original_context: Option<usize>,
}

impl Rope {
    fn read<R: Read + Seek>(gguf: &mut GgufReader<R>, head_dim: usize) -> Result<Self> {
        let base = gguf.f32_or("rope.freq_base", 10_000.0)?;
        let linear = match gguf.value("rope.scaling.type").map(|v| v.to_string()) {
            Some(Ok(kind)) if kind == "linear" => gguf.f32_or("rope.scaling.factor", 1.0)?,
            _ => 1.0,
        };
        let magnitude = gguf.f32_or("rope.scaling.attn_factor", 1.0)?;
        let mut original_context = None;
        let divisors_name = if gguf.has_tensor("rope_freqs.weight") {
            Some("rope_freqs.weight")
        } else if gguf.has_tensor("rope_factors_short.weight") {
            // Phi-3's long-context factors apply past the original context, which abridge
            // does not use: it keeps to that context with the short factors.
            original_context = Some(gguf.usize("rope.scaling.original_context_length")?);
            Some("rope_factors_short.weight")
        } else {
            None
        };
        let divisors = match divisors_name {
            Some(name) => {
                let divisors: Vec<f32> = gguf.dense(name)?.flatten_all()?.to_vec1()?;
                if divisors.len() != head_dim / 2 {
                    bail!(
                        "`{name}` holds {} factors for {} rotary frequencies",
                        divisors.len(),
                        head_dim / 2
                    );
                }
                Some(divisors)
            }
            None => None,
        };
        Ok(Self {
            global: RopeSpec {
                base,
                divisors,
                linear,
                magnitude,
            },
            original_context,
        })
    }

    /// The context abridge uses: the file's, or its original one where only that one's
    /// rotary factors are applied.
    fn context_length<R: Read + Seek>(&self, gguf: &GgufReader<R>) -> Result<usize> {
        let context = gguf.usize("context_length")?;
        Ok(self.original_context.map_or(context, |c| c.min(context)))
    }

    /// The local layers' rotary embedding: their own base, no scaling.
    fn local(&self, base: f32) -> RopeSpec {
        RopeSpec::plain(base)
    }
}

/// Which layers are local, and how far they see (Gemma 3's sliding-window layers).
struct LocalLayers {
    window: usize,
    /// Every `pattern`-th layer is global.
    pattern: usize,
    /// The local layers' rotary base.
    base: f32,
}

impl LocalLayers {
    fn read<R: Read + Seek>(gguf: &GgufReader<R>) -> Result<Self> {
        let window = gguf.usize("attention.sliding_window")?;
        let pattern = gguf.usize("attention.sliding_window_type").unwrap_or(6);
        if window == 0 || pattern == 0 {
            bail!("a sliding window of {window} positions every {pattern} layers");
        }
        Ok(Self {
            window,
            pattern,
            base: gguf.f32_or("rope.local_freq_base", 10_000.0)?,
        })
    }

    fn is_local(&self, block: usize) -> bool {
        !(block + 1).is_multiple_of(self.pattern)
    }
}

impl LanguageModel for Decoder {
    /// With prefix reuse on, positions of `input` that some slot's cache already holds (the
    /// same tokens from the start, left by an earlier sequence since the last `reset`) are
    /// copied, not run: of a report's prompts, which share the article, only the first runs
    /// it. At least the last token runs, for its logits.
    fn begin(&mut self, slot: usize, input: &[u32], chunk: usize) -> Result<Vec<f32>> {
        if input.is_empty() {
            bail!("the prompt is empty");
        }
        self.slot_mut(slot).prompt = None;
        let (from, reused) = self.longest_held_prefix(slot, input);
        if from != slot && reused > 0 {
            for block in &mut self.blocks {
                block.attention.copy_slot(from, slot, reused)?;
            }
        }
        let state = self.slot_mut(slot);
        state.held.clear();
        let chunk = chunk.max(1);
        let mut logits = None;
        let mut pos = reused;
        for tokens in input[reused..].chunks(chunk) {
            logits = Some(self.forward_positions(&[Step { slot, tokens, pos }], false)?);
            pos += tokens.len();
        }
        let state = self.slot_mut(slot);
        state.held = input.to_vec();
        state.prompt = Some(input.len());
        let logits = logits.expect("at least the last token runs");
        Ok(logits.squeeze(0)?.to_vec1()?)
    }

    fn step(&mut self, steps: &[Step]) -> Result<Tensor> {
        let positioned = self.positioned(steps)?;
        let logits = self.forward_positions(&positioned, false)?;
        self.hold(&positioned);
        Ok(logits)
    }

    /// Row by row on the CPU, where every other layer computes each row alike whatever the
    /// other rows of a pass (abridge's kernels quantize and multiply each row on its own;
    /// norms, rotary embeddings and activations are per row). GPU matmuls promise no such
    /// thing.
    fn checks_drafts(&self) -> bool {
        self.device.is_cpu()
    }

    fn step_all(&mut self, steps: &[Step]) -> Result<Tensor> {
        if !self.checks_drafts() {
            bail!("draft tokens are checked on the CPU only");
        }
        let positioned = self.positioned(steps)?;
        let logits = self.forward_positions(&positioned, true)?;
        self.hold(&positioned);
        Ok(logits)
    }

    fn fork(&mut self, from: usize, to: usize, len: usize) -> Result<()> {
        let prompt = self.prompt_length(from)?;
        for block in &mut self.blocks {
            block.attention.copy_slot(from, to, prompt + len)?;
        }
        let held = self.slots[from].held[..prompt + len].to_vec();
        *self.slot_mut(to) = SlotState {
            prompt: Some(prompt),
            held,
        };
        Ok(())
    }

    fn reset(&mut self) {
        for block in &mut self.blocks {
            for cache in &mut block.attention.caches {
                cache.len = 0;
            }
        }
        self.slots.clear();
        self.reuse = false;
    }

    fn reuse_prefixes(&mut self) {
        self.reuse = true;
    }

    fn limits(&self) -> Limits {
        Limits::shared(self.context_length)
    }
}

impl Decoder {
    /// Output steps with their positions counted from the start of their prompts.
    fn positioned<'s>(&self, steps: &[Step<'s>]) -> Result<Vec<Step<'s>>> {
        steps
            .iter()
            .map(|step| {
                let prompt = self.prompt_length(step.slot)?;
                Ok(Step {
                    pos: prompt + step.pos,
                    ..*step
                })
            })
            .collect()
    }

    /// Records the tokens of run steps as what their slots hold.
    fn hold(&mut self, steps: &[Step]) {
        for step in steps {
            let held = &mut self.slot_mut(step.slot).held;
            held.truncate(step.pos);
            held.extend_from_slice(step.tokens);
        }
    }

    /// The prompt length of the sequence begun in `slot`.
    fn prompt_length(&self, slot: usize) -> Result<usize> {
        self.slots
            .get(slot)
            .and_then(|state| state.prompt)
            .with_context(|| format!("slot {slot} holds no sequence"))
    }

    /// The state of `slot`, created on first use.
    fn slot_mut(&mut self, slot: usize) -> &mut SlotState {
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, SlotState::default);
        }
        &mut self.slots[slot]
    }

    /// The slot whose cache holds the longest start of `input` (all but its last token at
    /// most), and how many positions that is; `slot` itself wins a tie, as it needs no copy.
    /// None without prefix reuse.
    fn longest_held_prefix(&self, slot: usize, input: &[u32]) -> (usize, usize) {
        if !self.reuse {
            return (slot, 0);
        }
        let most = input.len() - 1;
        let shared = |held: &[u32]| {
            held.iter()
                .zip(&input[..most])
                .take_while(|(a, b)| a == b)
                .count()
        };
        let own = self.slots.get(slot).map_or(0, |state| shared(&state.held));
        self.slots
            .iter()
            .enumerate()
            .map(|(index, state)| (index, shared(&state.held)))
            .fold((slot, own), |best, candidate| {
                if candidate.1 > best.1 {
                    candidate
                } else {
                    best
                }
            })
    }

    /// One pass over steps whose positions count from the start of their prompts: the
    /// logits of each step's last position, or with `every_row` those of every position,
    /// each computed as a one-token step would compute it (see [`LanguageModel::step_all`]).
    fn forward_positions(&mut self, steps: &[Step], every_row: bool) -> Result<Tensor> {
        if self.device.is_cpu() {
            // Run the pass on one of rayon's workers: each matmul's parallel loop then starts
            // from inside the pool (the calling worker takes a share), instead of being
            // handed over from outside and waited for, about 170 times a token.
            rayon::scope(|_| self.forward_rows(steps, every_row))
        } else {
            self.forward_rows(steps, every_row)
        }
    }

    fn forward_rows(&mut self, steps: &[Step], every_row: bool) -> Result<Tensor> {
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
            let (mask, window_mask) = match (len > 1 && !every_row, self.window) {
                (false, _) => (None, None),
                (true, window) => (
                    Some(causal_mask(len, step.pos, &self.device)?),
                    window
                        .map(|window| window_mask(len, step.pos, window, &self.device))
                        .transpose()?,
                ),
            };
            rows.push(StepRows {
                slot: step.slot,
                pos: step.pos,
                row: tokens.len(),
                len,
                mask,
                window_mask,
                row_by_row: every_row,
            });
            tokens.extend_from_slice(step.tokens);
        }
        if rows.is_empty() {
            bail!("forward called with no steps");
        }
        let mut x = self.vocabulary.embed(&tokens, &self.device)?;
        if let Some(scale) = self.embedding_scale {
            x = (x * scale)?;
        }
        for block in &mut self.blocks {
            x = block.forward(&x, &rows, &self.rotaries)?;
        }
        let out = if every_row {
            x
        } else {
            let last: Vec<u32> = rows.iter().map(|r| (r.row + r.len - 1) as u32).collect();
            x.index_select(&Tensor::new(last, &self.device)?, 0)?
        };
        let out = self.norm.forward(&out)?;
        Ok(self.vocabulary.project(&out)?.to_dtype(DType::F32)?)
    }
}
