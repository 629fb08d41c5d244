//! Fast CPU quantized matmuls for GGUF weights (`x · Wᵀ` with W quantized, x f32).
//!
//! Weights are repacked once at load (`repack`: rows interleaved 8 at a time, about the GGUF
//! size); each call quantizes the activations to 8-bit groups (`quantize`, into the `layout`
//! the kernels read) and runs integer dot products (`vnni` with AVX512_VNNI or AVX-VNNI, `avx2`,
//! or the portable `scalar` kernels, picked in one place: `dispatch`) under a tiled, threaded
//! driver (`gemm`). The instruction set is detected at runtime (`Isa::best`; the
//! `ABRIDGE_KERNELS` environment variable picks another by name); threads come from rayon's
//! global pool (`RAYON_NUM_THREADS`).
//!
//! Supported: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (any `k` multiple of 32), Q4_K and Q6_K (`k` multiple
//! of 256). Everything else, and every matrix on a CPU without AVX2, returns `None` from
//! `CpuQMatMul::from_qtensor` so the caller keeps candle's `QMatMul`. Results differ from an f32 matmul only by the 8-bit activation rounding
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
#[cfg(target_arch = "x86_64")]
mod vnni;

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
    /// AVX2 with the VEX-encoded `vpdpbusd` of AVX-VNNI.
    #[cfg(target_arch = "x86_64")]
    AvxVnni,
    /// AVX512_VNNI on 256-bit vectors (AVX512VL).
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni256,
    /// AVX512_VNNI on 512-bit vectors, two weight tiles per call.
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni512,
}

/// The environment variable that picks the kernels by name (default: the fastest this CPU has).
pub const KERNELS_ENV: &str = "ABRIDGE_KERNELS";

impl Isa {
    /// Every kernel set, fastest first, by name; those this CPU lacks are `None`.
    pub fn all() -> Vec<(&'static str, Option<Self>)> {
        let mut all = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            let has = |features: &[bool]| features.iter().all(|&f| f);
            let avx2 = has(&[
                is_x86_feature_detected!("avx2"),
                is_x86_feature_detected!("fma"),
            ]);
            let avx512 = avx2
                && has(&[
                    is_x86_feature_detected!("avx512f"),
                    is_x86_feature_detected!("avx512bw"),
                    is_x86_feature_detected!("avx512vl"),
                    is_x86_feature_detected!("avx512vnni"),
                ]);
            let avx_vnni = avx2 && is_x86_feature_detected!("avxvnni");
            let entry = |kind: IsaKind, ok: bool| (Self(kind).name(), ok.then_some(Self(kind)));
            all.push(entry(IsaKind::Avx512Vnni512, avx512));
            all.push(entry(IsaKind::Avx512Vnni256, avx512));
            all.push(entry(IsaKind::AvxVnni, avx_vnni));
            all.push(entry(IsaKind::Avx2, avx2));
        }
        all.push((Self::scalar().name(), Some(Self::scalar())));
        all
    }

    /// The kernel sets this CPU can run, fastest first (the portable ones last).
    pub fn available() -> Vec<Self> {
        Self::all().into_iter().filter_map(|(_, isa)| isa).collect()
    }

    /// The portable kernels.
    pub fn scalar() -> Self {
        Self(IsaKind::Scalar)
    }

    /// The kernels named `name` (see [`Self::name`]): an error line when the name is unknown
    /// or this CPU lacks what those kernels need.
    pub fn named(name: &str) -> std::result::Result<Self, String> {
        let all = Self::all();
        match all.iter().find(|(n, _)| *n == name) {
            Some((_, Some(isa))) => Ok(*isa),
            Some((_, None)) => Err(format!(
                "kernels {name:?}: this CPU lacks the instructions they need"
            )),
            None => {
                let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
                Err(format!(
                    "kernels {name:?}: unknown (one of: {})",
                    names.join(", ")
                ))
            }
        }
    }

    /// The kernels [`KERNELS_ENV`] names, if it is set; an error line if it names kernels
    /// that cannot run here.
    pub fn from_env() -> std::result::Result<Option<Self>, String> {
        match std::env::var(KERNELS_ENV) {
            Ok(name) if !name.is_empty() => Self::named(&name)
                .map(Some)
                .map_err(|e| format!("{KERNELS_ENV}: {e}")),
            _ => Ok(None),
        }
    }

    /// The kernels that run: those [`KERNELS_ENV`] names (when they can run here), else the
    /// fastest this CPU supports.
    pub fn best() -> Self {
        static BEST: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| {
            Self::from_env()
                .ok()
                .flatten()
                .unwrap_or_else(|| Self::available()[0])
        })
    }

    /// The name `abridge bench` and `--verbose` print, and [`KERNELS_ENV`] takes.
    pub fn name(self) -> &'static str {
        match self.0 {
            IsaKind::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            IsaKind::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            IsaKind::AvxVnni => "avx-vnni",
            #[cfg(target_arch = "x86_64")]
            IsaKind::Avx512Vnni256 => "avx512-vnni-256",
            #[cfg(target_arch = "x86_64")]
            IsaKind::Avx512Vnni512 => "avx512-vnni-512",
        }
    }
}

/// The name of the kernels that run quantized (GGUF) matmuls on `device`: this CPU's fastest
/// (or those [`KERNELS_ENV`] names), or `candle` where candle's own run (other devices, and
/// CPUs with the portable kernels only, see `CpuQMatMul::from_qtensor`).
pub fn quantized_matmul_kernels(device: &Device) -> &'static str {
    match Isa::best() {
        isa if device.is_cpu() && isa != Isa::scalar() => isa.name(),
        _ => "candle",
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
