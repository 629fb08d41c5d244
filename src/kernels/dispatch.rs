//! The one place that picks a kernel for the instruction set: activation quantization and
//! the dot products of one or two weight tiles, on AVX512_VNNI, AVX-VNNI, AVX2 or the portable
//! kernels. Everything above (`quantize`, `gemm`) calls these; the kernels below (`vnni`,
//! `avx2`, `scalar`) know only the layouts.

#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::layout::ActRow;
use super::repack::{Kind32, Packed, TILE};
#[cfg(target_arch = "x86_64")]
use super::vnni::TileRows;
use super::{scalar, Isa, IsaKind};

/// `$body` with the const `$k` set to the `KIND` value of the 32-weight block kind `$kind`
/// (the SIMD kernels are generic over it).
#[cfg(target_arch = "x86_64")]
macro_rules! by_kind {
    ($kind:expr, $k:ident => $body:expr) => {
        match $kind {
            Kind32::Q4_0 => {
                const $k: u8 = avx2::Q4_0;
                $body
            }
            Kind32::Q4_1 => {
                const $k: u8 = avx2::Q4_1;
                $body
            }
            Kind32::Q5_0 => {
                const $k: u8 = avx2::Q5_0;
                $body
            }
            Kind32::Q5_1 => {
                const $k: u8 = avx2::Q5_1;
                $body
            }
            Kind32::Q8_0 => {
                const $k: u8 = avx2::Q8_0;
                $body
            }
        }
    };
}

/// Quantizes one group of activations (length a multiple of 32) into `qs` and its sums of
/// 16 into `bsums`; returns the group's scale.
pub fn quantize_group(isa: Isa, x: &[f32], qs: &mut [i8], bsums: &mut [i16]) -> f32 {
    match isa.0 {
        IsaKind::Scalar => scalar::quantize_group(x, qs, bsums),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: every x86 kind but `Scalar` is only constructed after runtime detection of
        // (at least) AVX2 and FMA; the slices have the lengths the function requires (checked
        // by its asserts).
        _ => unsafe { super::avx2::quantize_group(x, qs, bsums) },
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
    #[cfg(target_arch = "x86_64")]
    let one_tile = |wide: TileRows<R>| wide.map(|row| std::array::from_fn(|i| row[i]));
    match isa.0 {
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx2 => {
            use super::avx2::{dot_b32, dot_q4k, dot_q6k};
            // SAFETY: an `IsaKind::Avx2` only exists after runtime detection of AVX2 and FMA
            // (see `Isa::all`), and each `KIND` const matches the block kind it is called for.
            unsafe {
                match p {
                    Packed::B32(b) => by_kind!(b.kind, K => dot_b32::<K, R>(b, tile, a)),
                    Packed::Q4K(q) => dot_q4k::<R>(q, tile, a),
                    Packed::Q6K(q) => dot_q6k::<R>(q, tile, a),
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        IsaKind::AvxVnni => {
            use super::vnni::avx_vnni::{dot_b32, dot_q4k, dot_q6k};
            // SAFETY: an `IsaKind::AvxVnni` only exists after runtime detection of AVX2, FMA
            // and AVX-VNNI (see `Isa::all`); each `KIND` matches the block kind.
            one_tile(unsafe {
                match p {
                    Packed::B32(b) => by_kind!(b.kind, K => dot_b32::<K, R>(b, tile, a)),
                    Packed::Q4K(q) => dot_q4k::<R>(q, tile, a),
                    Packed::Q6K(q) => dot_q6k::<R>(q, tile, a),
                }
            })
        }
        // One tile on 512-bit kernels runs on their 256-bit form.
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx512Vnni256 | IsaKind::Avx512Vnni512 => {
            // SAFETY: see `avx512_tiles`.
            one_tile(unsafe { avx512_tiles::<false, R>(p, tile, a) })
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

/// [`dot_tile`] for tiles `tile` and `tile + 1` (which must exist) in one pass, where the
/// kernels have a two-tile form (the 512-bit ones): row `r` of the result holds the 8 rows
/// of the first tile, then those of the second. `None` for the others.
pub fn dot_tile_pair<const R: usize>(
    isa: Isa,
    p: &Packed,
    tile: usize,
    a: &[ActRow; R],
) -> Option<[[f32; 2 * TILE]; R]> {
    match isa.0 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: see `avx512_tiles`.
        IsaKind::Avx512Vnni512 => Some(unsafe { avx512_tiles::<true, R>(p, tile, a) }),
        _ => None,
    }
}

/// The AVX512_VNNI kernels on one tile (256-bit) or two (`WIDE`, 512-bit).
///
/// # Safety
/// Only for an `Isa` of kind `Avx512Vnni256` or `Avx512Vnni512`, which exist only after
/// runtime detection of AVX2, FMA, AVX512F/BW/VL and AVX512_VNNI (see `Isa::all`).
#[cfg(target_arch = "x86_64")]
unsafe fn avx512_tiles<const WIDE: bool, const R: usize>(
    p: &Packed,
    tile: usize,
    a: &[ActRow; R],
) -> TileRows<R> {
    use super::vnni::avx512_vnni::{dot_b32, dot_q4k, dot_q6k};
    // Each `KIND` const matches the block kind it is called for.
    match p {
        Packed::B32(b) => by_kind!(b.kind, K => dot_b32::<WIDE, K, R>(b, tile, a)),
        Packed::Q4K(q) => dot_q4k::<WIDE, R>(q, tile, a),
        Packed::Q6K(q) => dot_q6k::<WIDE, R>(q, tile, a),
    }
}
