//! AVX2 + FMA kernels: activation quantization, and dot products of `R` quantized activation
//! rows with one 8-row weight tile (layouts in [`super::repack`]). Each 32-byte weight vector
//! holds 4 codes of each of the 8 rows as unsigned bytes; `_mm256_maddubs_epi16` multiplies it
//! with 4 activation bytes broadcast to every row lane, the i16 results are summed over as many
//! products as cannot saturate, and `_mm256_madd_epi16` widens to i32 (by 1, or by the per-row
//! sub-block scales for the K-quants). Q8_0 moves the weight sign onto the activation
//! (`abs(w)·sign(x, w)`) to keep the unsigned operand. Activations come in groups of 32 for the
//! 32-weight block types and 256 for the K-quants ([`super::quantize`]).
//!
//! Every function here requires AVX2 and FMA; callers hold an `Isa` from `Isa::avx2`, which
//! checks at runtime. Slice lengths are asserted on entry, which is what makes the raw-pointer
//! loads in the loops in bounds.

// The kernels index several per-row register arrays with the same `r`; iterators would hide
// that they are unrolled register blocks.
#![allow(clippy::needless_range_loop)]

use super::layout::ActRow;
use super::repack::{Block32, Q4K, Q6K, QK_K, TILE};
use std::arch::x86_64::*;

/// `KIND` values of [`dot_b32`] (const generics cannot take the enum).
pub const Q4_0: u8 = 0;
pub const Q4_1: u8 = 1;
pub const Q5_0: u8 = 2;
pub const Q5_1: u8 = 3;
pub const Q8_0: u8 = 4;

/// Largest of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hmax(v: __m256) -> f32 {
    let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)))
}

/// AVX2 version of [`super::scalar::quantize_group`] (bit-identical results).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn quantize_group(x: &[f32], qs: &mut [i8], bsums: &mut [i16]) -> f32 {
    let n = x.len();
    assert!(n.is_multiple_of(32) && qs.len() == n && bsums.len() == n / 16);
    let xp = x.as_ptr();
    let absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let mut mx = _mm256_setzero_ps();
    for i in (0..n).step_by(8) {
        mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(xp.add(i)), absmask));
    }
    let d = hmax(mx) / 127.0;
    let id = _mm256_set1_ps(if d > 0.0 { 1.0 / d } else { 0.0 });
    let perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    let bias = _mm256_set1_epi8(-128);
    for c in 0..n / 32 {
        let p = xp.add(32 * c);
        // cvtps rounds to nearest-even under the default MXCSR, like `round_ties_even`.
        let q = |o: usize| _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(p.add(o)), id));
        let v = _mm256_packs_epi16(
            _mm256_packs_epi32(q(0), q(8)),
            _mm256_packs_epi32(q(16), q(24)),
        );
        let v = _mm256_permutevar8x32_epi32(v, perm);
        _mm256_storeu_si256(qs.as_mut_ptr().add(32 * c) as *mut __m256i, v);
        // Sums of 8 biased bytes per 64-bit lane; remove the +128 bias of 16 values.
        let s = _mm256_sad_epu8(_mm256_xor_si256(v, bias), _mm256_setzero_si256());
        let l0 = _mm256_extract_epi64(s, 0) + _mm256_extract_epi64(s, 1);
        let l1 = _mm256_extract_epi64(s, 2) + _mm256_extract_epi64(s, 3);
        bsums[2 * c] = (l0 - 2048) as i16;
        bsums[2 * c + 1] = (l1 - 2048) as i16;
    }
    d
}

/// Fifth code bits of quad `q` (elements `4q..4q+4` of each row) at bit 4 of each byte.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn high_bits(hb: __m256i, q: usize) -> __m256i {
    // 16-bit shifts move bits across bytes only into positions the 0x10 mask drops.
    let h = match q {
        0 => _mm256_slli_epi16(hb, 4),
        1 => _mm256_slli_epi16(hb, 3),
        2 => _mm256_slli_epi16(hb, 2),
        3 => _mm256_slli_epi16(hb, 1),
        4 => hb,
        5 => _mm256_srli_epi16(hb, 1),
        6 => _mm256_srli_epi16(hb, 2),
        _ => _mm256_srli_epi16(hb, 3),
    };
    _mm256_and_si256(h, _mm256_set1_epi8(0x10))
}

/// `R` activation rows · the 8 rows of tile `tile` of a 32-weight block matrix
/// ([`super::repack::Block32`] layout): `out[r][i]` is the dot product with row `8·tile + i`.
///
/// # Safety
/// AVX2 and FMA required; `KIND` must match `p.kind`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_b32<const KIND: u8, const R: usize>(
    p: &Block32,
    tile: usize,
    a: &[ActRow; R],
) -> [[f32; TILE]; R] {
    let nb = p.nb;
    let high = KIND == Q5_0 || KIND == Q5_1;
    let cb = p.kind.code_bytes() * TILE;
    let tiles_end = (tile + 1) * nb;
    assert!(p.codes.len() >= tiles_end * cb && p.d.len() >= tiles_end * TILE);
    assert!(p.qh.len() >= tiles_end * 32 || !high);
    assert!(p.m.len() >= tiles_end * TILE || !p.kind.has_min());
    for x in a {
        assert!(x.qs.len() >= nb * 32 && x.d.len() >= nb);
        assert!(x.sums.len() >= nb || KIND == Q8_0);
    }
    let ones = _mm256_set1_epi16(1);
    let m4 = _mm256_set1_epi8(0xf);
    let neg_off = _mm256_set1_ps(-p.kind.offset());
    let xb = |r: usize, b: usize, q: usize| bcast4(a[r].qs, 32 * b + 4 * q);
    let mut acc = [_mm256_setzero_ps(); R];
    for b in 0..nb {
        let tb = tile * nb + b;
        let c = p.codes.as_ptr().add(tb * cb);
        let mut iacc = [_mm256_setzero_si256(); R];
        if KIND == Q8_0 {
            for q in 0..8 {
                let w = _mm256_loadu_si256(c.add(32 * q) as *const __m256i);
                let aw = _mm256_abs_epi8(w);
                for r in 0..R {
                    let p16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xb(r, b, q), w));
                    iacc[r] = _mm256_add_epi32(iacc[r], _mm256_madd_epi16(p16, ones));
                }
            }
        } else {
            let hb = if high {
                _mm256_loadu_si256(p.qh.as_ptr().add(tb * 32) as *const __m256i)
            } else {
                _mm256_setzero_si256()
            };
            // Quads 0-3 are the low nibbles, 4-7 the high ones. Products are summed in i16 over
            // 8 quads for 4-bit codes (8 · 2 · 15 · 127 < 2^15) and 4 for 5-bit codes.
            let mut acc16 = [_mm256_setzero_si256(); R];
            for q in 0..8 {
                let raw = _mm256_loadu_si256(c.add(32 * (q % 4)) as *const __m256i);
                let raw = if q < 4 {
                    raw
                } else {
                    _mm256_srli_epi16(raw, 4)
                };
                let mut w = _mm256_and_si256(raw, m4);
                if high {
                    w = _mm256_or_si256(w, high_bits(hb, q));
                }
                for r in 0..R {
                    acc16[r] = _mm256_add_epi16(acc16[r], _mm256_maddubs_epi16(w, xb(r, b, q)));
                }
                if q == 7 || (high && q == 3) {
                    for r in 0..R {
                        iacc[r] = _mm256_add_epi32(iacc[r], _mm256_madd_epi16(acc16[r], ones));
                        acc16[r] = _mm256_setzero_si256();
                    }
                }
            }
        }
        let d8 = _mm256_loadu_ps(p.d.as_ptr().add(tb * TILE));
        let m8 = if KIND == Q4_1 || KIND == Q5_1 {
            _mm256_loadu_ps(p.m.as_ptr().add(tb * TILE))
        } else {
            _mm256_mul_ps(d8, neg_off)
        };
        for r in 0..R {
            let scale = _mm256_mul_ps(d8, _mm256_broadcast_ss(&a[r].d[b]));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc[r]), scale, acc[r]);
            if KIND != Q8_0 {
                acc[r] = _mm256_fmadd_ps(m8, _mm256_broadcast_ss(&a[r].sums[b]), acc[r]);
            }
        }
    }
    as_rows(acc)
}

/// 4 activation bytes of row `x` at element `e`, broadcast to the 8 row lanes.
///
/// # Safety
/// AVX2 required; `e + 4 <= x.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn bcast4(x: &[i8], e: usize) -> __m256i {
    _mm256_set1_epi32((x.as_ptr().add(e) as *const i32).read_unaligned())
}

/// Two i16 of `v` at `at` (a pair of sums), broadcast to the 8 row lanes.
///
/// # Safety
/// AVX2 required; `at + 2 <= v.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn bcast_pair(v: &[i16], at: usize) -> __m256i {
    _mm256_set1_epi32((v.as_ptr().add(at) as *const i32).read_unaligned())
}

/// The 8 lanes of each accumulator, one per row of the weight tile.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn as_rows<const R: usize>(acc: [__m256; R]) -> [[f32; TILE]; R] {
    acc.map(|v| {
        let mut o = [0f32; TILE];
        // SAFETY: `o` holds 8 f32 and storeu has no alignment requirement.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), v) };
        o
    })
}

/// `R` activation rows · the 8 rows of tile `tile` of a Q4_K matrix
/// ([`super::repack::Q4K`] layout).
///
/// # Safety
/// AVX2 and FMA required.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_q4k<const R: usize>(p: &Q4K, tile: usize, a: &[ActRow; R]) -> [[f32; TILE]; R] {
    let nsb = p.nsb;
    let end = (tile + 1) * nsb;
    assert!(p.qs.len() >= end * 1024 && p.sc.len() >= end * 64 && p.mn.len() >= end * 64);
    assert!(p.d.len() >= end * TILE && p.dmin.len() >= end * TILE);
    for x in a {
        assert!(x.qs.len() >= nsb * QK_K && x.d.len() >= nsb && x.sums32.len() >= nsb * 8);
    }
    let m4 = _mm256_set1_epi8(0xf);
    let mut acc = [_mm256_setzero_ps(); R];
    for s in 0..nsb {
        let tsb = tile * nsb + s;
        let mut iacc = [_mm256_setzero_si256(); R];
        for j in 0..8 {
            // Lane i: the sub-block scale of row i in both i16 halves, for madd.
            let sc = _mm_loadl_epi64(p.sc.as_ptr().add(tsb * 64 + 8 * j) as *const __m128i);
            let sc = _mm256_cvtepu8_epi32(sc);
            let sc = _mm256_or_si256(sc, _mm256_slli_epi32(sc, 16));
            let c = p.qs.as_ptr().add(tsb * 1024 + 128 * j);
            // i16 sums of 8 products of codes ≤ 15: 8 · 2 · 15 · 127 < 2^15.
            let mut acc16 = [_mm256_setzero_si256(); R];
            for q in 0..8 {
                let raw = _mm256_loadu_si256(c.add(32 * (q % 4)) as *const __m256i);
                let raw = if q < 4 {
                    raw
                } else {
                    _mm256_srli_epi16(raw, 4)
                };
                let w = _mm256_and_si256(raw, m4);
                for r in 0..R {
                    let x = bcast4(a[r].qs, s * QK_K + 32 * j + 4 * q);
                    acc16[r] = _mm256_add_epi16(acc16[r], _mm256_maddubs_epi16(w, x));
                }
            }
            for r in 0..R {
                iacc[r] = _mm256_add_epi32(iacc[r], _mm256_madd_epi16(acc16[r], sc));
            }
        }
        // Σ_j mn_j · Σx_j, two sub-blocks per madd.
        let mut macc = [_mm256_setzero_si256(); R];
        for pair in 0..4 {
            let mn = _mm_loadu_si128(p.mn.as_ptr().add(tsb * 64 + 16 * pair) as *const __m128i);
            let mn = _mm256_cvtepu8_epi16(mn);
            for r in 0..R {
                let sums = bcast_pair(a[r].sums32, 8 * s + 2 * pair);
                macc[r] = _mm256_add_epi32(macc[r], _mm256_madd_epi16(mn, sums));
            }
        }
        let d8 = _mm256_loadu_ps(p.d.as_ptr().add(tsb * TILE));
        let dmin8 = _mm256_loadu_ps(p.dmin.as_ptr().add(tsb * TILE));
        for r in 0..R {
            let dx = _mm256_broadcast_ss(&a[r].d[s]);
            let v = _mm256_cvtepi32_ps(iacc[r]);
            acc[r] = _mm256_fmadd_ps(v, _mm256_mul_ps(d8, dx), acc[r]);
            let v = _mm256_cvtepi32_ps(macc[r]);
            acc[r] = _mm256_fnmadd_ps(v, _mm256_mul_ps(dmin8, dx), acc[r]);
        }
    }
    as_rows(acc)
}

/// `R` activation rows · the 8 rows of tile `tile` of a Q6_K matrix
/// ([`super::repack::Q6K`] layout).
///
/// # Safety
/// AVX2 and FMA required.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_q6k<const R: usize>(p: &Q6K, tile: usize, a: &[ActRow; R]) -> [[f32; TILE]; R] {
    let nsb = p.nsb;
    let end = (tile + 1) * nsb;
    assert!(p.ql.len() >= end * 1024 && p.qh.len() >= end * 512);
    assert!(p.sc.len() >= end * 128 && p.d.len() >= end * TILE);
    for x in a {
        assert!(x.qs.len() >= nsb * QK_K && x.d.len() >= nsb && x.bsums.len() >= nsb * 16);
    }
    let m4 = _mm256_set1_epi8(0xf);
    let m30 = _mm256_set1_epi8(0x30);
    // Duplicate the first / second i16 of each 32-bit lane.
    let dup0 = _mm256_setr_epi8(
        0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12,
        13, 12, 13,
    );
    let dup1 = _mm256_add_epi8(dup0, _mm256_set1_epi8(2));
    let mut acc = [_mm256_setzero_ps(); R];
    for s in 0..nsb {
        let tsb = tile * nsb + s;
        let mut iacc = [_mm256_setzero_si256(); R];
        for j in 0..8 {
            // Lane i: (scale of elements 0..16, scale of 16..32) of row i in this sub-block.
            let scp = _mm_loadu_si128(p.sc.as_ptr().add(tsb * 128 + 16 * j) as *const __m128i);
            let scp = _mm256_cvtepi8_epi16(scp);
            let c = p.ql.as_ptr().add(tsb * 1024 + 128 * j);
            for half in 0..2 {
                let hv = p.qh.as_ptr().add(tsb * 512 + 64 * j + 32 * half);
                let hv = _mm256_loadu_si256(hv as *const __m256i);
                let scv = _mm256_shuffle_epi8(scp, if half == 0 { dup0 } else { dup1 });
                // i16 sums of 2 products of codes ≤ 63: 2 · 2 · 63 · 127 < 2^15.
                for pair in 0..2 {
                    let mut acc16 = [_mm256_setzero_si256(); R];
                    for t in 2 * pair..2 * pair + 2 {
                        let raw = _mm256_loadu_si256(c.add(32 * t) as *const __m256i);
                        let raw = if half == 0 {
                            raw
                        } else {
                            _mm256_srli_epi16(raw, 4)
                        };
                        // Bits 2t..2t+2 of hv to bits 4..6; 16-bit shifts only carry bits
                        // across bytes into positions the 0x30 mask drops.
                        let hi = match t {
                            0 => _mm256_slli_epi16(hv, 4),
                            1 => _mm256_slli_epi16(hv, 2),
                            2 => hv,
                            _ => _mm256_srli_epi16(hv, 2),
                        };
                        let w =
                            _mm256_or_si256(_mm256_and_si256(raw, m4), _mm256_and_si256(hi, m30));
                        for r in 0..R {
                            let x = bcast4(a[r].qs, s * QK_K + 32 * j + 16 * half + 4 * t);
                            acc16[r] = _mm256_add_epi16(acc16[r], _mm256_maddubs_epi16(w, x));
                        }
                    }
                    for r in 0..R {
                        iacc[r] = _mm256_add_epi32(iacc[r], _mm256_madd_epi16(acc16[r], scv));
                    }
                }
            }
        }
        // The −32 code offset: 32 · Σ_h sc_h · Σx_h, two 16-value halves per madd.
        let mut off = [_mm256_setzero_si256(); R];
        for j in 0..8 {
            let scp = _mm_loadu_si128(p.sc.as_ptr().add(tsb * 128 + 16 * j) as *const __m128i);
            let scp = _mm256_cvtepi8_epi16(scp);
            for r in 0..R {
                let sums = bcast_pair(a[r].bsums, 16 * s + 2 * j);
                off[r] = _mm256_add_epi32(off[r], _mm256_madd_epi16(scp, sums));
            }
        }
        for r in 0..R {
            iacc[r] = _mm256_sub_epi32(iacc[r], _mm256_slli_epi32(off[r], 5));
        }
        let d8 = _mm256_loadu_ps(p.d.as_ptr().add(tsb * TILE));
        for r in 0..R {
            let scale = _mm256_mul_ps(d8, _mm256_broadcast_ss(&a[r].d[s]));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc[r]), scale, acc[r]);
        }
    }
    as_rows(acc)
}
