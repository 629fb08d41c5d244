//! Kernel results against candle on random weights: every supported type, odd shapes, both the
//! SIMD and the scalar path.

use super::{dequantize_rows, CpuQMatMul, Isa};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Result, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;

const BLOCK32: [GgmlDType; 5] = [
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q5_0,
    GgmlDType::Q5_1,
    GgmlDType::Q8_0,
];
const KQUANTS: [GgmlDType; 2] = [GgmlDType::Q4K, GgmlDType::Q6K];

/// Roughly normal values (sum of uniforms) with a mean offset and rare outliers, like
/// transformer activations.
fn randn(rng: &mut StdRng, len: usize, offset: f32) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let v: f32 = (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * 1.7 + offset;
            if rng.random::<f32>() < 0.002 {
                v * 8.0
            } else {
                v
            }
        })
        .collect()
}

fn rms(v: &[f32]) -> f32 {
    (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt()
}

/// (rms, max) of `a - b`, relative to rms(b).
fn rel_err(a: &Tensor, b: &Tensor) -> Result<(f32, f32)> {
    let a = a.flatten_all()?.to_vec1::<f32>()?;
    let b = b.flatten_all()?.to_vec1::<f32>()?;
    assert_eq!(a.len(), b.len());
    let diff: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    let max = diff.iter().fold(0f32, |m, d| m.max(d.abs()));
    let r = rms(&b).max(1e-20);
    Ok((rms(&diff) / r, max / r))
}

/// Checks one (type, m, n, k) case on every available path.
fn check(dtype: GgmlDType, m: usize, n: usize, k: usize, seed: u64) -> Result<()> {
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(seed);
    let w = Tensor::from_vec(randn(&mut rng, n * k, 0.0), (n, k), &dev)?;
    let x = Tensor::from_vec(randn(&mut rng, m * k, 0.3), (m, k), &dev)?;
    let qw = QTensor::quantize(&w, dtype)?;
    // Exact reference for the quantized weights: f32 matmul with the dequantized matrix.
    let exact = x.matmul(&qw.dequantize(&dev)?.t()?)?;
    // candle's CPU dot products need an even number of blocks per row.
    let candle_rms = if dtype.block_size() > 32 || (k / 32).is_multiple_of(2) {
        let candle = QMatMul::from_qtensor(QTensor::quantize(&w, dtype)?)?.forward(&x)?;
        rel_err(&candle, &exact)?.0
    } else {
        f32::INFINITY
    };
    let mm = CpuQMatMul::with_isa(&qw, Isa::best())?.expect("supported type");
    assert_eq!(mm.shape(), (n, k));
    let scalar = mm.forward_with(&x, Isa::scalar())?;
    assert_eq!(scalar.dims(), &[m, n]);
    let (e_rms, e_max) = rel_err(&scalar, &exact)?;
    let ctx = format!("{dtype:?} m={m} n={n} k={k}: rms {e_rms:.2e} max {e_max:.2e} (candle rms {candle_rms:.2e})");
    // 8-bit activations (with the outliers of `randn` widening the quantization step) cost about
    // 1% rms of the output, and single outputs of short rows up to ~10%; candle's own Q8_0/Q8_K
    // activations cost the same.
    assert!(e_rms < 2e-2 && e_max < 0.15, "scalar vs exact: {ctx}");
    assert!(
        e_rms < 1.25 * candle_rms + 1e-3,
        "scalar worse than candle: {ctx}"
    );
    for isa in Isa::available() {
        let simd = mm.forward_with(&x, isa)?;
        // Same quantized inputs, so only float summation order differs.
        let (d_rms, d_max) = rel_err(&simd, &scalar)?;
        assert!(
            d_rms < 1e-5 && d_max < 1e-4,
            "{} vs scalar {d_rms:.2e} {d_max:.2e}: {ctx}",
            isa.name()
        );
    }
    Ok(())
}

/// (m, n, k) cases: decode, odd m (kernel tails), n not a multiple of anything, real hidden sizes.
fn cases(ks: &[usize]) -> Vec<(usize, usize, usize)> {
    let mn = [(1, 37), (3, 19), (17, 33), (67, 21), (4, 5)];
    ks.iter()
        .enumerate()
        .flat_map(|(i, &k)| [mn[i % mn.len()], mn[(i + 2) % mn.len()]].map(|(m, n)| (m, n, k)))
        .collect()
}

/// Says, once, which kernel sets the comparisons below could not run on this CPU (they pass
/// without having checked those). Written to the stderr handle itself, which the test
/// harness does not capture, so that it shows in every `cargo test` run.
fn report_untested() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (name, isa) in Isa::all() {
            if isa.is_none() {
                let _ = writeln!(
                    std::io::stderr(),
                    "kernels {name}: not tested here (this CPU lacks the instructions)"
                );
            }
        }
    });
}

#[test]
fn every_kernel_set_this_cpu_has_is_listed() {
    report_untested();
    let available = Isa::available();
    assert_eq!(available.last(), Some(&Isa::scalar()));
    if std::env::var_os(super::KERNELS_ENV).is_none() {
        assert_eq!(Isa::best(), available[0]);
    }
    for (name, isa) in Isa::all() {
        assert_eq!(Isa::named(name).ok(), isa, "{name}");
        if let Some(isa) = isa {
            assert_eq!(isa.name(), name);
        }
    }
    assert!(Isa::named("avx1024").unwrap_err().contains("unknown"));
}

#[test]
fn block32_types_match_reference() -> Result<()> {
    report_untested();
    for (t, dtype) in BLOCK32.into_iter().enumerate() {
        for (i, (m, n, k)) in cases(&[896, 576, 1536, 4864, 8960, 64, 160])
            .into_iter()
            .enumerate()
        {
            check(dtype, m, n, k, (t * 100 + i) as u64)?;
        }
    }
    Ok(())
}

#[test]
fn kquant_types_match_reference() -> Result<()> {
    report_untested();
    for (t, dtype) in KQUANTS.into_iter().enumerate() {
        for (i, (m, n, k)) in cases(&[1536, 4864, 8960, 256, 768]).into_iter().enumerate() {
            check(dtype, m, n, k, (t * 100 + i) as u64)?;
        }
    }
    Ok(())
}

#[test]
fn batched_input_keeps_leading_dims() -> Result<()> {
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(7);
    let w = Tensor::from_vec(randn(&mut rng, 40 * 512, 0.0), (40, 512), &dev)?;
    let qw = QTensor::quantize(&w, GgmlDType::Q4K)?;
    let mm = CpuQMatMul::with_isa(&qw, Isa::best())?.expect("Q4_K supported");
    let x = Tensor::from_vec(randn(&mut rng, 2 * 5 * 512, 0.0), (2, 5, 512), &dev)?;
    let y = mm.forward(&x)?;
    assert_eq!(y.dims(), &[2, 5, 40]);
    let flat = mm.forward(&x.reshape((10, 512))?)?;
    assert_eq!(rel_err(&y.reshape((10, 40))?, &flat)?, (0.0, 0.0));
    // A non-contiguous input (transposed view) is accepted too.
    let xt = x.reshape((10, 512))?.t()?.contiguous()?.t()?;
    assert_eq!(rel_err(&mm.forward(&xt)?, &flat)?, (0.0, 0.0));
    Ok(())
}

#[test]
fn unsupported_inputs_are_declined() -> Result<()> {
    let dev = Device::Cpu;
    let w = Tensor::ones((8, 256), candle_core::DType::F32, &dev)?;
    for dtype in [
        GgmlDType::Q2K,
        GgmlDType::Q3K,
        GgmlDType::Q5K,
        GgmlDType::F32,
    ] {
        let qw = QTensor::quantize(&w, dtype)?;
        assert!(
            CpuQMatMul::with_isa(&qw, Isa::best())?.is_none(),
            "{dtype:?}"
        );
    }
    let q8 = QTensor::quantize(&w, GgmlDType::Q8_0)?;
    // The fast path is taken only where it is faster than candle's: not on the portable kernels.
    assert_eq!(
        CpuQMatMul::from_qtensor(&q8)?.is_some(),
        Isa::best() != Isa::scalar()
    );
    let mm = CpuQMatMul::with_isa(&q8, Isa::best())?.unwrap();
    assert!(mm
        .forward(&Tensor::ones((2, 128), candle_core::DType::F32, &dev)?)
        .is_err());
    Ok(())
}

#[test]
fn repacked_rows_dequantize_like_candle() -> Result<()> {
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(11);
    let (n, k) = (13, 512);
    let w = Tensor::from_vec(randn(&mut rng, n * k, 0.1), (n, k), &dev)?;
    let ids = [12u32, 0, 5, 5, 7];
    for dtype in BLOCK32.into_iter().chain(KQUANTS) {
        let qw = QTensor::quantize(&w, dtype)?;
        let mm = CpuQMatMul::with_isa(&qw, Isa::best())?.expect("supported type");
        let want = qw
            .dequantize(&dev)?
            .index_select(&Tensor::new(&ids[..], &dev)?, 0)?;
        let got = mm.dequantize_rows(&ids)?;
        assert_eq!(rel_err(&got, &want)?, (0.0, 0.0), "{dtype:?}");
        assert!(mm.dequantize_rows(&[n as u32]).is_err());
    }
    Ok(())
}

#[test]
fn dequantize_rows_matches_full_dequantization() -> Result<()> {
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(3);
    let w = Tensor::from_vec(randn(&mut rng, 50 * 896, 0.0), (50, 896), &dev)?;
    let qw = QTensor::quantize(&w, GgmlDType::Q8_0)?;
    let ids = [7u32, 0, 49, 7];
    let rows = dequantize_rows(&qw, &ids)?;
    let full = qw.dequantize(&dev)?;
    let want = full.index_select(&Tensor::new(&ids[..], &dev)?, 0)?;
    assert_eq!(rel_err(&rows, &want)?, (0.0, 0.0));
    Ok(())
}

#[test]
fn several_matrices_in_one_pass_equal_each_alone() -> Result<()> {
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(11);
    let x = Tensor::from_vec(randn(&mut rng, 5 * 512, 0.0), (5, 512), &dev)?;
    // Q4_K and Q6_K share 256-value activation groups; Q8_0 (groups of 32) runs apart.
    let matrices: Vec<CpuQMatMul> = [
        (24, GgmlDType::Q4K),
        (72, GgmlDType::Q6K),
        (8, GgmlDType::Q8_0),
    ]
    .into_iter()
    .map(|(n, dtype)| {
        let w = Tensor::from_vec(randn(&mut rng, n * 512, 0.0), (n, 512), &dev)?;
        let qw = QTensor::quantize(&w, dtype)?;
        Ok(CpuQMatMul::with_isa(&qw, Isa::best())?.expect("supported"))
    })
    .collect::<Result<_>>()?;
    for set in [&matrices[..2], &matrices[..]] {
        let refs: Vec<&CpuQMatMul> = set.iter().collect();
        let together = CpuQMatMul::forward_many(&refs, &x)?;
        assert_eq!(together.len(), set.len());
        for (w, y) in set.iter().zip(&together) {
            assert_eq!(y.dims(), &[5, w.shape().0]);
            assert_eq!(rel_err(y, &w.forward(&x)?)?, (0.0, 0.0));
        }
    }
    Ok(())
}
