//! VNNI kernels: the dot products of [`super::avx2`] with `vpdpbusd`, which multiplies 4
//! unsigned weight bytes by 4 signed activation bytes and adds the sum to an i32 lane in one
//! instruction (AVX2 needs `vpmaddubsw`, `vpmaddwd` and an add, and i16 partial sums that must
//! not saturate). The repacked layout puts 4 codes of one row in each 32-bit lane
//! ([`super::repack`]), so one `vpdpbusd` feeds 8 rows (256-bit) or, with two weight tiles side
//! by side, 16 rows (512-bit).
//!
//! Every code stays unsigned, so `vpdpbusd` runs at its full rate: nibbles and the 5- and 6-bit
//! K-quant codes already are, and Q8_0's signed codes are flipped to `c + 128` on the fly (one
//! xor per weight vector, shared by every activation row) and corrected with the activation
//! sums the quantizer already keeps (`Σ (c+128)·x = Σ c·x + 128·Σ x`).
//!
//! The kernels are written once, generic over [`Lanes`] (the vector width and the encoding of
//! `vpdpbusd`), and instantiated by the `#[target_feature]` entry points at the bottom: the
//! VEX encoding of AVX-VNNI, and the EVEX encoding of AVX512_VNNI on 256-bit (`Ymm<true>`, with
//! AVX512VL) or 512-bit vectors (`Zmm`). Callers hold an `Isa` whose constructor checked the
//! features at runtime; slice lengths are asserted on entry, which keeps the raw-pointer loads
//! in bounds.

// The kernels index several per-row register arrays with the same `r`; iterators would hide
// that they are unrolled register blocks.
#![allow(clippy::needless_range_loop)]

use super::avx2::Q8_0;
use super::layout::ActRow;
use super::repack::{Block32, Q4K, Q6K, QK_K, TILE};
use std::arch::x86_64::*;

/// One kernel call's results: for each activation row, the dot products with the rows of
/// [`Lanes::TILES`] consecutive weight tiles (the first `8 · TILES` entries are set).
pub type TileRows<const R: usize> = [[f32; 2 * TILE]; R];

/// The vector operations the kernels use, for one vector width and `vpdpbusd` encoding. Weight
/// vectors hold [`Self::TILES`] tiles: a load at `p` takes 32 bytes of the first tile and, for
/// two tiles, 32 bytes at `p + stride` (the same place in the next tile) in the upper half.
///
/// # Safety
/// Every method requires the CPU features of the implementing type; they are only called from
/// the `#[target_feature]` entry points below, into which they are inlined.
trait Lanes {
    type I: Copy;
    type F: Copy;
    /// Weight tiles per vector.
    const TILES: usize;
    unsafe fn zero() -> Self::I;
    unsafe fn splat8(v: i8) -> Self::I;
    unsafe fn splat32(v: i32) -> Self::I;
    unsafe fn load(p: *const u8, stride: usize) -> Self::I;
    /// `8 · TILES` bytes (8 per tile) widened to i32 lanes.
    unsafe fn load_u8_as_i32(p: *const u8, stride: usize) -> Self::I;
    /// `16 · TILES` bytes (16 per tile) widened to i16 lanes.
    unsafe fn load_u8_as_i16(p: *const u8, stride: usize) -> Self::I;
    unsafe fn load_i8_as_i16(p: *const i8, stride: usize) -> Self::I;
    /// `acc + Σ₄ w·x` per i32 lane, `w` unsigned and `x` signed bytes.
    unsafe fn dpbusd(acc: Self::I, w: Self::I, x: Self::I) -> Self::I;
    unsafe fn madd16(a: Self::I, b: Self::I) -> Self::I;
    unsafe fn and(a: Self::I, b: Self::I) -> Self::I;
    unsafe fn or(a: Self::I, b: Self::I) -> Self::I;
    unsafe fn xor(a: Self::I, b: Self::I) -> Self::I;
    unsafe fn add32(a: Self::I, b: Self::I) -> Self::I;
    unsafe fn sub32(a: Self::I, b: Self::I) -> Self::I;
    unsafe fn mul32(a: Self::I, b: Self::I) -> Self::I;
    /// 16-bit lanes shifted left by `n` bits (a negative `n` shifts right).
    unsafe fn shift16(a: Self::I, n: i32) -> Self::I;
    /// The low / high i16 of each i32 lane, sign-extended.
    unsafe fn low16(a: Self::I) -> Self::I;
    unsafe fn high16(a: Self::I) -> Self::I;
    unsafe fn zero_f() -> Self::F;
    unsafe fn load_f(p: *const f32, stride: usize) -> Self::F;
    unsafe fn splat_f(v: f32) -> Self::F;
    unsafe fn to_f(a: Self::I) -> Self::F;
    unsafe fn mul_f(a: Self::F, b: Self::F) -> Self::F;
    /// `a·b + c`.
    unsafe fn fmadd(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    /// `c − a·b`.
    unsafe fn fnmadd(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    unsafe fn store(v: Self::F) -> [f32; 2 * TILE];
}

/// 256-bit vectors, one tile: `EVEX` picks AVX512_VNNI + AVX512VL's `vpdpbusd`, else AVX-VNNI's.
struct Ymm<const EVEX: bool>;

impl<const EVEX: bool> Lanes for Ymm<EVEX> {
    type I = __m256i;
    type F = __m256;
    const TILES: usize = 1;
    #[inline(always)]
    unsafe fn zero() -> __m256i {
        _mm256_setzero_si256()
    }
    #[inline(always)]
    unsafe fn splat8(v: i8) -> __m256i {
        _mm256_set1_epi8(v)
    }
    #[inline(always)]
    unsafe fn splat32(v: i32) -> __m256i {
        _mm256_set1_epi32(v)
    }
    #[inline(always)]
    unsafe fn load(p: *const u8, _: usize) -> __m256i {
        _mm256_loadu_si256(p as *const __m256i)
    }
    #[inline(always)]
    unsafe fn load_u8_as_i32(p: *const u8, _: usize) -> __m256i {
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i))
    }
    #[inline(always)]
    unsafe fn load_u8_as_i16(p: *const u8, _: usize) -> __m256i {
        _mm256_cvtepu8_epi16(_mm_loadu_si128(p as *const __m128i))
    }
    #[inline(always)]
    unsafe fn load_i8_as_i16(p: *const i8, _: usize) -> __m256i {
        _mm256_cvtepi8_epi16(_mm_loadu_si128(p as *const __m128i))
    }
    #[inline(always)]
    unsafe fn dpbusd(acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
        if EVEX {
            _mm256_dpbusd_epi32(acc, w, x)
        } else {
            _mm256_dpbusd_avx_epi32(acc, w, x)
        }
    }
    #[inline(always)]
    unsafe fn madd16(a: __m256i, b: __m256i) -> __m256i {
        _mm256_madd_epi16(a, b)
    }
    #[inline(always)]
    unsafe fn and(a: __m256i, b: __m256i) -> __m256i {
        _mm256_and_si256(a, b)
    }
    #[inline(always)]
    unsafe fn or(a: __m256i, b: __m256i) -> __m256i {
        _mm256_or_si256(a, b)
    }
    #[inline(always)]
    unsafe fn xor(a: __m256i, b: __m256i) -> __m256i {
        _mm256_xor_si256(a, b)
    }
    #[inline(always)]
    unsafe fn add32(a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn sub32(a: __m256i, b: __m256i) -> __m256i {
        _mm256_sub_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn mul32(a: __m256i, b: __m256i) -> __m256i {
        _mm256_mullo_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn shift16(a: __m256i, n: i32) -> __m256i {
        match n {
            0 => a,
            n if n > 0 => _mm256_sll_epi16(a, _mm_cvtsi32_si128(n)),
            n => _mm256_srl_epi16(a, _mm_cvtsi32_si128(-n)),
        }
    }
    #[inline(always)]
    unsafe fn low16(a: __m256i) -> __m256i {
        _mm256_srai_epi32::<16>(_mm256_slli_epi32::<16>(a))
    }
    #[inline(always)]
    unsafe fn high16(a: __m256i) -> __m256i {
        _mm256_srai_epi32::<16>(a)
    }
    #[inline(always)]
    unsafe fn zero_f() -> __m256 {
        _mm256_setzero_ps()
    }
    #[inline(always)]
    unsafe fn load_f(p: *const f32, _: usize) -> __m256 {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn splat_f(v: f32) -> __m256 {
        _mm256_set1_ps(v)
    }
    #[inline(always)]
    unsafe fn to_f(a: __m256i) -> __m256 {
        _mm256_cvtepi32_ps(a)
    }
    #[inline(always)]
    unsafe fn mul_f(a: __m256, b: __m256) -> __m256 {
        _mm256_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn fnmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fnmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn store(v: __m256) -> [f32; 2 * TILE] {
        let mut o = [0f32; 2 * TILE];
        _mm256_storeu_ps(o.as_mut_ptr(), v);
        o
    }
}

/// 512-bit vectors holding two consecutive weight tiles (16 rows), AVX512_VNNI.
struct Zmm;

impl Zmm {
    /// Two 128-bit halves of 8 bytes each, from the two tiles.
    #[inline(always)]
    unsafe fn pair64(p: *const u8, stride: usize) -> __m128i {
        _mm_unpacklo_epi64(
            _mm_loadl_epi64(p as *const __m128i),
            _mm_loadl_epi64(p.add(stride) as *const __m128i),
        )
    }

    #[inline(always)]
    unsafe fn pair128(p: *const u8, stride: usize) -> __m256i {
        _mm256_inserti128_si256::<1>(
            _mm256_castsi128_si256(_mm_loadu_si128(p as *const __m128i)),
            _mm_loadu_si128(p.add(stride) as *const __m128i),
        )
    }
}

impl Lanes for Zmm {
    type I = __m512i;
    type F = __m512;
    const TILES: usize = 2;
    #[inline(always)]
    unsafe fn zero() -> __m512i {
        _mm512_setzero_si512()
    }
    #[inline(always)]
    unsafe fn splat8(v: i8) -> __m512i {
        _mm512_set1_epi8(v)
    }
    #[inline(always)]
    unsafe fn splat32(v: i32) -> __m512i {
        _mm512_set1_epi32(v)
    }
    #[inline(always)]
    unsafe fn load(p: *const u8, stride: usize) -> __m512i {
        _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_loadu_si256(p as *const __m256i)),
            _mm256_loadu_si256(p.add(stride) as *const __m256i),
        )
    }
    #[inline(always)]
    unsafe fn load_u8_as_i32(p: *const u8, stride: usize) -> __m512i {
        _mm512_cvtepu8_epi32(Self::pair64(p, stride))
    }
    #[inline(always)]
    unsafe fn load_u8_as_i16(p: *const u8, stride: usize) -> __m512i {
        _mm512_cvtepu8_epi16(Self::pair128(p, stride))
    }
    #[inline(always)]
    unsafe fn load_i8_as_i16(p: *const i8, stride: usize) -> __m512i {
        _mm512_cvtepi8_epi16(Self::pair128(p as *const u8, stride))
    }
    #[inline(always)]
    unsafe fn dpbusd(acc: __m512i, w: __m512i, x: __m512i) -> __m512i {
        _mm512_dpbusd_epi32(acc, w, x)
    }
    #[inline(always)]
    unsafe fn madd16(a: __m512i, b: __m512i) -> __m512i {
        _mm512_madd_epi16(a, b)
    }
    #[inline(always)]
    unsafe fn and(a: __m512i, b: __m512i) -> __m512i {
        _mm512_and_si512(a, b)
    }
    #[inline(always)]
    unsafe fn or(a: __m512i, b: __m512i) -> __m512i {
        _mm512_or_si512(a, b)
    }
    #[inline(always)]
    unsafe fn xor(a: __m512i, b: __m512i) -> __m512i {
        _mm512_xor_si512(a, b)
    }
    #[inline(always)]
    unsafe fn add32(a: __m512i, b: __m512i) -> __m512i {
        _mm512_add_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn sub32(a: __m512i, b: __m512i) -> __m512i {
        _mm512_sub_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn mul32(a: __m512i, b: __m512i) -> __m512i {
        _mm512_mullo_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn shift16(a: __m512i, n: i32) -> __m512i {
        match n {
            0 => a,
            n if n > 0 => _mm512_sll_epi16(a, _mm_cvtsi32_si128(n)),
            n => _mm512_srl_epi16(a, _mm_cvtsi32_si128(-n)),
        }
    }
    #[inline(always)]
    unsafe fn low16(a: __m512i) -> __m512i {
        _mm512_srai_epi32::<16>(_mm512_slli_epi32::<16>(a))
    }
    #[inline(always)]
    unsafe fn high16(a: __m512i) -> __m512i {
        _mm512_srai_epi32::<16>(a)
    }
    #[inline(always)]
    unsafe fn zero_f() -> __m512 {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn load_f(p: *const f32, stride: usize) -> __m512 {
        let lo = _mm512_castps_pd(_mm512_castps256_ps512(_mm256_loadu_ps(p)));
        let hi = _mm256_castps_pd(_mm256_loadu_ps(p.add(stride)));
        _mm512_castpd_ps(_mm512_insertf64x4::<1>(lo, hi))
    }
    #[inline(always)]
    unsafe fn splat_f(v: f32) -> __m512 {
        _mm512_set1_ps(v)
    }
    #[inline(always)]
    unsafe fn to_f(a: __m512i) -> __m512 {
        _mm512_cvtepi32_ps(a)
    }
    #[inline(always)]
    unsafe fn mul_f(a: __m512, b: __m512) -> __m512 {
        _mm512_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn fnmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fnmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn store(v: __m512) -> [f32; 2 * TILE] {
        let mut o = [0f32; 2 * TILE];
        _mm512_storeu_ps(o.as_mut_ptr(), v);
        o
    }
}

/// 4 activation bytes of `x` at element `e`, broadcast to every lane.
///
/// # Safety
/// The features of `L`; `e + 4 <= x.len()`.
#[inline(always)]
unsafe fn bcast4<L: Lanes>(x: &[i8], e: usize) -> L::I {
    L::splat32((x.as_ptr().add(e) as *const i32).read_unaligned())
}

/// Two i16 of `v` at `at` (a pair of sums), broadcast to every 32-bit lane.
///
/// # Safety
/// The features of `L`; `at + 2 <= v.len()`.
#[inline(always)]
unsafe fn bcast_pair<L: Lanes>(v: &[i16], at: usize) -> L::I {
    L::splat32((v.as_ptr().add(at) as *const i32).read_unaligned())
}

/// Bits `from..from + count` of each byte of `v` moved to bits `to..to + count` (other bits
/// cleared). 16-bit shifts move bits across bytes only into positions the mask drops.
#[inline(always)]
unsafe fn move_bits<L: Lanes>(v: L::I, from: i32, to: i32, count: i32) -> L::I {
    L::and(
        L::shift16(v, to - from),
        L::splat8((((1 << count) - 1) << to) as i8),
    )
}

/// `R` activation rows · the rows of tiles `tile..tile + L::TILES` of a 32-weight block matrix
/// ([`super::repack::Block32`] layout).
///
/// # Safety
/// The features of `L`; `KIND` must match `p.kind`.
#[inline(always)]
unsafe fn dot_b32<L: Lanes, const KIND: u8, const R: usize>(
    p: &Block32,
    tile: usize,
    a: &[ActRow; R],
) -> TileRows<R> {
    let nb = p.nb;
    let (high, min) = (p.kind.has_high_bit(), p.kind.has_min());
    let cb = p.kind.code_bytes() * TILE;
    let tiles_end = (tile + L::TILES) * nb;
    assert!(p.codes.len() >= tiles_end * cb && p.d.len() >= tiles_end * TILE);
    assert!(p.qh.len() >= tiles_end * 32 || !high);
    assert!(p.m.len() >= tiles_end * TILE || !min);
    for x in a {
        assert!(x.qs.len() >= nb * 32 && x.d.len() >= nb);
        assert!(x.sums.len() >= nb || KIND == Q8_0);
        assert!(x.bsums.len() >= 2 * nb || KIND != Q8_0);
    }
    let m4 = L::splat8(0xf);
    let flip = L::splat8(-128);
    let neg_off = L::splat_f(-p.kind.offset());
    let mut acc = [L::zero_f(); R];
    for b in 0..nb {
        let tb = tile * nb + b;
        let c = p.codes.as_ptr().add(tb * cb);
        let x = |r: usize, q: usize| bcast4::<L>(a[r].qs, 32 * b + 4 * q);
        let mut iacc = [L::zero(); R];
        if KIND == Q8_0 {
            for q in 0..8 {
                let w = L::xor(L::load(c.add(32 * q), nb * cb), flip);
                for r in 0..R {
                    iacc[r] = L::dpbusd(iacc[r], w, x(r, q));
                }
            }
            for r in 0..R {
                let sum = i32::from(a[r].bsums[2 * b]) + i32::from(a[r].bsums[2 * b + 1]);
                iacc[r] = L::sub32(iacc[r], L::splat32(sum << 7));
            }
        } else {
            let hb = if high {
                L::load(p.qh.as_ptr().add(tb * 32), nb * 32)
            } else {
                L::zero()
            };
            // Quads 0-3 are the low nibbles, 4-7 the high ones.
            for q in 0..8 {
                let raw = L::load(c.add(32 * (q % 4)), nb * cb);
                let mut w = L::and(if q < 4 { raw } else { L::shift16(raw, -4) }, m4);
                if high {
                    w = L::or(w, move_bits::<L>(hb, q as i32, 4, 1));
                }
                for r in 0..R {
                    iacc[r] = L::dpbusd(iacc[r], w, x(r, q));
                }
            }
        }
        let d = L::load_f(p.d.as_ptr().add(tb * TILE), nb * TILE);
        let m = if min {
            L::load_f(p.m.as_ptr().add(tb * TILE), nb * TILE)
        } else {
            L::mul_f(d, neg_off)
        };
        for r in 0..R {
            let scale = L::mul_f(d, L::splat_f(a[r].d[b]));
            acc[r] = L::fmadd(L::to_f(iacc[r]), scale, acc[r]);
            if KIND != Q8_0 {
                acc[r] = L::fmadd(m, L::splat_f(a[r].sums[b]), acc[r]);
            }
        }
    }
    acc.map(|v| L::store(v))
}

/// `R` activation rows · the rows of tiles `tile..tile + L::TILES` of a Q4_K matrix
/// ([`super::repack::Q4K`] layout).
///
/// # Safety
/// The features of `L`.
#[inline(always)]
unsafe fn dot_q4k<L: Lanes, const R: usize>(p: &Q4K, tile: usize, a: &[ActRow; R]) -> TileRows<R> {
    let nsb = p.nsb;
    let end = (tile + L::TILES) * nsb;
    assert!(p.qs.len() >= end * 1024 && p.sc.len() >= end * 64 && p.mn.len() >= end * 64);
    assert!(p.d.len() >= end * TILE && p.dmin.len() >= end * TILE);
    for x in a {
        assert!(x.qs.len() >= nsb * QK_K && x.d.len() >= nsb && x.sums32.len() >= nsb * 8);
    }
    let m4 = L::splat8(0xf);
    let mut acc = [L::zero_f(); R];
    for s in 0..nsb {
        let tsb = tile * nsb + s;
        let mut iacc = [L::zero(); R];
        for j in 0..8 {
            let sc = L::load_u8_as_i32(p.sc.as_ptr().add(tsb * 64 + 8 * j), nsb * 64);
            let c = p.qs.as_ptr().add(tsb * 1024 + 128 * j);
            let mut sub = [L::zero(); R];
            for q in 0..8 {
                let raw = L::load(c.add(32 * (q % 4)), nsb * 1024);
                let w = L::and(if q < 4 { raw } else { L::shift16(raw, -4) }, m4);
                for r in 0..R {
                    let x = bcast4::<L>(a[r].qs, s * QK_K + 32 * j + 4 * q);
                    sub[r] = L::dpbusd(sub[r], w, x);
                }
            }
            for r in 0..R {
                iacc[r] = L::add32(iacc[r], L::mul32(sub[r], sc));
            }
        }
        // Σ_j mn_j · Σx_j, two sub-blocks per madd.
        let mut macc = [L::zero(); R];
        for pair in 0..4 {
            let mn = L::load_u8_as_i16(p.mn.as_ptr().add(tsb * 64 + 16 * pair), nsb * 64);
            for r in 0..R {
                let sums = bcast_pair::<L>(a[r].sums32, 8 * s + 2 * pair);
                macc[r] = L::add32(macc[r], L::madd16(mn, sums));
            }
        }
        let d = L::load_f(p.d.as_ptr().add(tsb * TILE), nsb * TILE);
        let dmin = L::load_f(p.dmin.as_ptr().add(tsb * TILE), nsb * TILE);
        for r in 0..R {
            let dx = L::splat_f(a[r].d[s]);
            acc[r] = L::fmadd(L::to_f(iacc[r]), L::mul_f(d, dx), acc[r]);
            acc[r] = L::fnmadd(L::to_f(macc[r]), L::mul_f(dmin, dx), acc[r]);
        }
    }
    acc.map(|v| L::store(v))
}

/// `R` activation rows · the rows of tiles `tile..tile + L::TILES` of a Q6_K matrix
/// ([`super::repack::Q6K`] layout).
///
/// # Safety
/// The features of `L`.
#[inline(always)]
unsafe fn dot_q6k<L: Lanes, const R: usize>(p: &Q6K, tile: usize, a: &[ActRow; R]) -> TileRows<R> {
    let nsb = p.nsb;
    let end = (tile + L::TILES) * nsb;
    assert!(p.ql.len() >= end * 1024 && p.qh.len() >= end * 512);
    assert!(p.sc.len() >= end * 128 && p.d.len() >= end * TILE);
    for x in a {
        assert!(x.qs.len() >= nsb * QK_K && x.d.len() >= nsb && x.bsums.len() >= nsb * 16);
    }
    let m4 = L::splat8(0xf);
    let mut acc = [L::zero_f(); R];
    for s in 0..nsb {
        let tsb = tile * nsb + s;
        let mut iacc = [L::zero(); R];
        // The −32 code offset: 32 · Σ_h sc_h · Σx_h, two 16-value halves per madd.
        let mut off = [L::zero(); R];
        for j in 0..8 {
            // Lane i: (scale of elements 0..16, scale of 16..32) of row i in this sub-block.
            let scp = L::load_i8_as_i16(p.sc.as_ptr().add(tsb * 128 + 16 * j), nsb * 128);
            for r in 0..R {
                let sums = bcast_pair::<L>(a[r].bsums, 16 * s + 2 * j);
                off[r] = L::add32(off[r], L::madd16(scp, sums));
            }
            let c = p.ql.as_ptr().add(tsb * 1024 + 128 * j);
            for half in 0..2 {
                let hv = L::load(p.qh.as_ptr().add(tsb * 512 + 64 * j + 32 * half), nsb * 512);
                let sc = if half == 0 {
                    L::low16(scp)
                } else {
                    L::high16(scp)
                };
                let mut sub = [L::zero(); R];
                for t in 0..4 {
                    let raw = L::load(c.add(32 * t), nsb * 1024);
                    let lo = L::and(if half == 0 { raw } else { L::shift16(raw, -4) }, m4);
                    // Bits 2t, 2t+1 of hv are the code's bits 4, 5.
                    let w = L::or(lo, move_bits::<L>(hv, 2 * t as i32, 4, 2));
                    for r in 0..R {
                        let x = bcast4::<L>(a[r].qs, s * QK_K + 32 * j + 16 * half + 4 * t);
                        sub[r] = L::dpbusd(sub[r], w, x);
                    }
                }
                for r in 0..R {
                    iacc[r] = L::add32(iacc[r], L::mul32(sub[r], sc));
                }
            }
        }
        let d = L::load_f(p.d.as_ptr().add(tsb * TILE), nsb * TILE);
        for r in 0..R {
            let i = L::sub32(iacc[r], L::mul32(off[r], L::splat32(32)));
            let scale = L::mul_f(d, L::splat_f(a[r].d[s]));
            acc[r] = L::fmadd(L::to_f(i), scale, acc[r]);
        }
    }
    acc.map(|v| L::store(v))
}

/// The kernels on one tile with AVX-VNNI (VEX-encoded `vpdpbusd`).
pub mod avx_vnni {
    use super::*;

    /// # Safety
    /// AVX2, FMA and AVX-VNNI required; `KIND` must match `p.kind`.
    #[target_feature(enable = "avx2,fma,avxvnni")]
    pub unsafe fn dot_b32<const KIND: u8, const R: usize>(
        p: &Block32,
        tile: usize,
        a: &[ActRow; R],
    ) -> TileRows<R> {
        super::dot_b32::<Ymm<false>, KIND, R>(p, tile, a)
    }

    /// # Safety
    /// AVX2, FMA and AVX-VNNI required.
    #[target_feature(enable = "avx2,fma,avxvnni")]
    pub unsafe fn dot_q4k<const R: usize>(p: &Q4K, tile: usize, a: &[ActRow; R]) -> TileRows<R> {
        super::dot_q4k::<Ymm<false>, R>(p, tile, a)
    }

    /// # Safety
    /// AVX2, FMA and AVX-VNNI required.
    #[target_feature(enable = "avx2,fma,avxvnni")]
    pub unsafe fn dot_q6k<const R: usize>(p: &Q6K, tile: usize, a: &[ActRow; R]) -> TileRows<R> {
        super::dot_q6k::<Ymm<false>, R>(p, tile, a)
    }
}

/// The kernels with AVX512_VNNI: `WIDE` runs two tiles on 512-bit vectors, else one tile on
/// 256-bit vectors (AVX512VL).
pub mod avx512_vnni {
    use super::*;

    /// # Safety
    /// AVX2, FMA, AVX512F/BW/VL and AVX512_VNNI required; `KIND` must match `p.kind`.
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn dot_b32<const WIDE: bool, const KIND: u8, const R: usize>(
        p: &Block32,
        tile: usize,
        a: &[ActRow; R],
    ) -> TileRows<R> {
        if WIDE {
            super::dot_b32::<Zmm, KIND, R>(p, tile, a)
        } else {
            super::dot_b32::<Ymm<true>, KIND, R>(p, tile, a)
        }
    }

    /// # Safety
    /// AVX2, FMA, AVX512F/BW/VL and AVX512_VNNI required.
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn dot_q4k<const WIDE: bool, const R: usize>(
        p: &Q4K,
        tile: usize,
        a: &[ActRow; R],
    ) -> TileRows<R> {
        if WIDE {
            super::dot_q4k::<Zmm, R>(p, tile, a)
        } else {
            super::dot_q4k::<Ymm<true>, R>(p, tile, a)
        }
    }

    /// # Safety
    /// AVX2, FMA, AVX512F/BW/VL and AVX512_VNNI required.
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn dot_q6k<const WIDE: bool, const R: usize>(
        p: &Q6K,
        tile: usize,
        a: &[ActRow; R],
    ) -> TileRows<R> {
        if WIDE {
            super::dot_q6k::<Zmm, R>(p, tile, a)
        } else {
            super::dot_q6k::<Ymm<true>, R>(p, tile, a)
        }
    }
}
