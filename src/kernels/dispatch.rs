//! The one place that picks a kernel for the instruction set: activation quantization and
//! the dot products of one weight tile, on AVX2 or on the portable kernels. Everything above
//! (`quantize`, `gemm`) calls these; the kernels below (`avx2`, `scalar`) know only the
//! layouts.

use super::layout::ActRow;
use super::repack::{Kind32, Packed, TILE};
use super::{scalar, Isa, IsaKind};

/// Quantizes one group of activations (length a multiple of 32) into `qs` and its sums of
/// 16 into `bsums`; returns the group's scale.
pub fn quantize_group(isa: Isa, x: &[f32], qs: &mut [i8], bsums: &mut [i16]) -> f32 {
    match isa.0 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `IsaKind::Avx2` is only constructed after runtime detection of AVX2 and FMA;
        // the slices have the lengths the function requires (checked by its asserts).
        IsaKind::Avx2 => unsafe { super::avx2::quantize_group(x, qs, bsums) },
        IsaKind::Scalar => scalar::quantize_group(x, qs, bsums),
    }
}

/// The dot products of the `TILE` weight rows of tile `tile` with each of the `R`
/// activation rows `a`.
pub fn dot_tile<const R: usize>(
    isa: Isa,
    p: &Packed,
    tile: usize,
    a: &[ActRow; R],
) -> [[f32; TILE]; R] {
    match isa.0 {
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx2 => {
            use super::avx2::{self, dot_b32};
            // SAFETY: an `IsaKind::Avx2` only exists after runtime detection of AVX2 and FMA
            // (see `Isa::avx2`), and each `KIND` const matches the block kind it is called for.
            unsafe {
                match p {
                    Packed::B32(b) => match b.kind {
                        Kind32::Q4_0 => dot_b32::<{ avx2::Q4_0 }, R>(b, tile, a),
                        Kind32::Q4_1 => dot_b32::<{ avx2::Q4_1 }, R>(b, tile, a),
                        Kind32::Q5_0 => dot_b32::<{ avx2::Q5_0 }, R>(b, tile, a),
                        Kind32::Q5_1 => dot_b32::<{ avx2::Q5_1 }, R>(b, tile, a),
                        Kind32::Q8_0 => dot_b32::<{ avx2::Q8_0 }, R>(b, tile, a),
                    },
                    Packed::Q4K(q) => avx2::dot_q4k::<R>(q, tile, a),
                    Packed::Q6K(q) => avx2::dot_q6k::<R>(q, tile, a),
                }
            }
        }
        IsaKind::Scalar => a.map(|a| {
            std::array::from_fn(|i| match p {
                Packed::B32(b) => scalar::dot_b32(b, tile * TILE + i, a),
                Packed::Q4K(q) => scalar::dot_q4k(q, tile * TILE + i, a),
                Packed::Q6K(q) => scalar::dot_q6k(q, tile * TILE + i, a),
            })
        }),
    }
}
