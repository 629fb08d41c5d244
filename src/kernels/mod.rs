//! Fast CPU quantized matmuls for GGUF weights (`x · Wᵀ` with W quantized, x f32).
//!
//! Weights are repacked once at load (`repack`: rows interleaved 8 at a time, about the GGUF
//! size); each call quantizes the activations to 8-bit groups (`quantize`, into the `layout`
//! the kernels read) and runs integer dot products (`avx2`, or the portable `scalar`
//! kernels, picked in one place: `dispatch`) under a tiled, threaded driver (`gemm`).
//! The instruction set is detected at runtime; threads come from rayon's global pool
//! (`RAYON_NUM_THREADS`). There is no AVX-512/VNNI kernel: the target machine lacks those.
//!
//! Supported: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (any `k` multiple of 32), Q4_K and Q6_K (`k` multiple
//! of 256). Everything else, and every matrix on a CPU without AVX2, returns `None` from
//! [`CpuQMatMul::from_qtensor`] so the caller keeps candle's `QMatMul`. Results differ from an f32 matmul only by the 8-bit activation rounding
//! (about 1% rms of the output, the same as candle's and llama.cpp's quantized paths).

#[cfg(target_arch = "x86_64")]
mod avx2;
mod dispatch;
mod gemm;
mod layout;
mod quantize;
mod repack;
mod scalar;
#[cfg(test)]
mod tests;

use candle_core::quantized::QTensor;
use candle_core::{bail, DType, Device, Result, Storage, Tensor};
use gemm::Product;
use quantize::QActs;
use repack::Packed;

/// Which kernels run. Only constructible through the detecting constructors, which is what makes
/// the SIMD paths sound to call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Isa(IsaKind);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IsaKind {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Isa {
    /// The portable kernels.
    pub fn scalar() -> Self {
        Self(IsaKind::Scalar)
    }

    /// The AVX2 + FMA kernels, if this CPU has them.
    pub fn avx2() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Some(Self(IsaKind::Avx2));
        }
        None
    }

    /// The fastest kernels this CPU supports.
    pub fn best() -> Self {
        Self::avx2().unwrap_or_else(Self::scalar)
    }
}

/// A weight matrix (`n` rows = output features, `k` = input features) repacked at load for the
/// CPU kernels.
pub struct CpuQMatMul {
    packed: Packed,
    n: usize,
    k: usize,
    isa: Isa,
}

impl CpuQMatMul {
    /// `Ok(None)` when the quant type or shape is not supported by the fast path, or when
    /// this CPU has only the portable kernels (ARM, x86 without AVX2), which are slower
    /// than candle's own SIMD paths: the caller then keeps candle's `QMatMul`.
    pub fn from_qtensor(w: &QTensor) -> Result<Option<Self>> {
        let isa = Isa::best();
        if isa == Isa::scalar() {
            return Ok(None);
        }
        Self::with_isa(w, isa)
    }

    /// [`Self::from_qtensor`] running on the given kernels, the portable ones included
    /// (tests compare the paths on any CPU).
    pub fn with_isa(w: &QTensor, isa: Isa) -> Result<Option<Self>> {
        let (n, k) = match w.shape().dims() {
            &[n, k] => (n, k),
            _ => return Ok(None),
        };
        if !w.device().is_cpu() {
            return Ok(None);
        }
        let data = w.data()?;
        Ok(Packed::new(w.dtype(), &data, n, k).map(|packed| Self { packed, n, k, isa }))
    }

    /// `(n, k)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.n, self.k)
    }

    /// Bytes held by the repacked weights.
    pub fn size_in_bytes(&self) -> usize {
        self.packed.size_in_bytes()
    }

    /// Rows `ids` of the weight matrix as an f32 `(ids.len(), k)` tensor, bit-identical to
    /// candle's dequantization: an embedding lookup when the token embedding doubles as the
    /// output projection (tied weights), so the `QTensor` itself need not be kept.
    pub fn dequantize_rows(&self, ids: &[u32]) -> Result<Tensor> {
        let mut out = vec![0f32; ids.len() * self.k];
        for (o, &id) in out.chunks_exact_mut(self.k).zip(ids) {
            if id as usize >= self.n {
                bail!("CpuQMatMul: row {id} out of range for {} rows", self.n)
            }
            self.packed.dequantize_row(id as usize, o);
        }
        Tensor::from_vec(out, (ids.len(), self.k), &Device::Cpu)
    }

    /// `x`: f32 CPU tensor of shape `(m, k)` or `(b, m, k)` → `(.., n)` f32.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, self.isa)
    }

    /// [`Self::forward`] on the given kernels (tests compare the paths).
    pub fn forward_with(&self, x: &Tensor, isa: Isa) -> Result<Tensor> {
        Ok(Self::forward_many_with(&[self], x, isa)?
            .pop()
            .expect("one matrix, one product"))
    }

    /// `x · Wᵢᵀ` for each matrix, as [`Self::forward`] gives them; matrices with the same `k`
    /// and activation group (query, key and value; gate and up) quantize `x` once and run in
    /// one parallel pass, so the threads wake once for all of them.
    pub fn forward_many(matrices: &[&CpuQMatMul], x: &Tensor) -> Result<Vec<Tensor>> {
        let isa = matrices.first().map_or_else(Isa::best, |w| w.isa);
        Self::forward_many_with(matrices, x, isa)
    }

    fn forward_many_with(matrices: &[&CpuQMatMul], x: &Tensor, isa: Isa) -> Result<Vec<Tensor>> {
        let Some(first) = matrices.first() else {
            return Ok(Vec::new());
        };
        let (k, group) = (first.k, first.packed.act_group());
        if matrices.len() > 1
            && matrices
                .iter()
                .any(|w| w.k != k || w.packed.act_group() != group)
        {
            return matrices.iter().map(|w| w.forward_with(x, isa)).collect();
        }
        let dims = x.dims();
        if dims.last() != Some(&k) || dims.len() < 2 {
            bail!("CpuQMatMul: input {:?} does not end in k = {k}", x.shape())
        }
        if x.dtype() != DType::F32 || !x.device().is_cpu() {
            bail!("CpuQMatMul: input must be f32 on the CPU")
        }
        let m = x.elem_count() / k;
        let x = x.contiguous()?;
        let acts = {
            let (storage, layout) = x.storage_and_layout();
            let Storage::Cpu(cpu) = &*storage else {
                bail!("CpuQMatMul: input must be on the CPU")
            };
            let Some((start, end)) = layout.contiguous_offsets() else {
                bail!("CpuQMatMul: input must be contiguous")
            };
            let x = &cpu.as_slice::<f32>()?[start..end];
            QActs::quantize(x, m, k, group, isa)
        };
        let mut outs: Vec<Vec<f32>> = matrices.iter().map(|w| vec![0f32; m * w.n]).collect();
        let mut products: Vec<Product> = matrices
            .iter()
            .zip(outs.iter_mut())
            .map(|(w, out)| Product {
                p: &w.packed,
                n: w.n,
                out,
            })
            .collect();
        gemm::matmul_many(&mut products, &acts, isa);
        outs.into_iter()
            .zip(matrices)
            .map(|(out, w)| {
                let mut shape = dims.to_vec();
                *shape.last_mut().expect("rank >= 2") = w.n;
                Tensor::from_vec(out, shape, &Device::Cpu)
            })
            .collect()
    }
}

/// Rows `ids` of a quantized `(rows, hidden)` matrix (e.g. `token_embd`) as an f32
/// `(ids.len(), hidden)` tensor, dequantizing only those rows.
pub fn dequantize_rows(w: &QTensor, ids: &[u32]) -> Result<Tensor> {
    w.embedding(&Tensor::new(ids, &Device::Cpu)?)
}
