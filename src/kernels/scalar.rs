//! Portable kernels: one weight row · one quantized activation row, in integer arithmetic per
//! block with the same scale algebra as the SIMD kernels. Used where AVX2 is missing and as the
//! readable reference the SIMD paths are tested against.

use super::layout::ActRow;
use super::repack::{Block32, Q4K, Q6K, QK_K};

pub fn dot_b32(p: &Block32, row: usize, a: ActRow) -> f32 {
    let mut total = 0.0;
    for b in 0..p.nb {
        let at = p.scale_at(row, b);
        let dot: i32 = (0..32)
            .map(|e| p.code(row, 32 * b + e) * a.qs[32 * b + e] as i32)
            .sum();
        let sum = a.bsums[2 * b] as i32 + a.bsums[2 * b + 1] as i32;
        let min = if p.kind.has_min() {
            p.m[at]
        } else {
            -p.kind.offset() * p.d[at]
        };
        total += a.d[b] * (p.d[at] * dot as f32 + min * sum as f32);
    }
    total
}

pub fn dot_q4k(p: &Q4K, row: usize, a: ActRow) -> f32 {
    let mut total = 0.0;
    for s in 0..p.nsb {
        let (mut isc, mut imn) = (0i32, 0i32);
        let (mut d, mut dmin) = (0.0, 0.0);
        for j in 0..8 {
            let (sc, mn, dd, dm) = p.scales(row, s, j);
            (d, dmin) = (dd, dm);
            let e0 = s * QK_K + 32 * j;
            let dot: i32 = (e0..e0 + 32).map(|e| p.code(row, e) * a.qs[e] as i32).sum();
            isc += sc * dot;
            imn += mn * (a.bsums[e0 / 16] as i32 + a.bsums[e0 / 16 + 1] as i32);
        }
        total += a.d[s] * (d * isc as f32 - dmin * imn as f32);
    }
    total
}

pub fn dot_q6k(p: &Q6K, row: usize, a: ActRow) -> f32 {
    let mut total = 0.0;
    for s in 0..p.nsb {
        let (mut isc, mut d) = (0i32, 0.0);
        for h in 0..16 {
            let (sc, dd) = p.scale(row, s, h);
            d = dd;
            let e0 = s * QK_K + 16 * h;
            let dot: i32 = (e0..e0 + 16).map(|e| p.code(row, e) * a.qs[e] as i32).sum();
            isc += sc * (dot - 32 * a.bsums[e0 / 16] as i32);
        }
        total += a.d[s] * d * isc as f32;
    }
    total
}

/// Quantizes one group (length a multiple of 32); returns its scale.
pub fn quantize_group(x: &[f32], qs: &mut [i8], bsums: &mut [i16]) -> f32 {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    for (q, v) in qs.iter_mut().zip(x) {
        *q = (v * id).round_ties_even() as i8;
    }
    for (s, q16) in bsums.iter_mut().zip(qs.chunks(16)) {
        *s = q16.iter().map(|&q| q as i16).sum();
    }
    d
}
