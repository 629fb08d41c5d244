//! Activation quantization: f32 rows → signed 8-bit values (−127..=127) with one f32 scale per
//! group (32 values for the 32-weight block types, like llama.cpp's Q8_0; 256 for the K-quants,
//! like Q8_K; the last group of a row may be shorter) and i16 sums per 16 values, which feed the
//! min/offset corrections (`Σ w·x = d·Σ c·x + m·Σ x`) without touching the values again.

use super::layout::ActRow;
use super::{dispatch, Isa};
use rayon::prelude::*;

/// Row padding: one K-quant super-block, or 8 blocks of 32 (read as one vector of 8 lanes).
pub const PAD: usize = 256;

/// Quantized activations of `m` rows of length `k` (a multiple of 32).
pub struct QActs {
    pub m: usize,
    /// Elements per scale: 32 or 256.
    pub group: usize,
    /// Row stride of `qs`: `k` rounded up to a multiple of [`PAD`] (the padding is zero).
    pub kp: usize,
    /// `m * kp` values.
    pub qs: Vec<i8>,
    /// `m * kp / group` scales: value = `d * q`.
    pub d: Vec<f32>,
    /// `m * kp / 16` sums of 16 consecutive `qs` (zero in the padding).
    pub bsums: Vec<i16>,
    /// Group 32 only: `m * kp / 32` block sums `d · Σ qs` (what a block min multiplies).
    pub sums: Vec<f32>,
    /// Group 256 only: `m * kp / 32` sums of 32 consecutive `qs` (what a Q4_K min multiplies).
    pub sums32: Vec<i16>,
}

impl QActs {
    /// Quantizes the `m × k` row-major matrix `x` with `group` (32 or 256) values per scale,
    /// rows in parallel when there are several.
    pub fn quantize(x: &[f32], m: usize, k: usize, group: usize, isa: Isa) -> Self {
        assert!(k.is_multiple_of(32) && x.len() == m * k && (group == 32 || group == PAD));
        let kp = k.div_ceil(PAD) * PAD;
        let mut qs = vec![0i8; m * kp];
        let mut d = vec![0f32; m * kp / group];
        let mut bsums = vec![0i16; m * kp / 16];
        let one = |(((q, dd), bs), xr): RowParts| quantize_row(xr, q, dd, bs, group, isa);
        if m >= 4 {
            qs.par_chunks_mut(kp)
                .zip(d.par_chunks_mut(kp / group))
                .zip(bsums.par_chunks_mut(kp / 16))
                .zip(x.par_chunks(k))
                .for_each(one);
        } else {
            qs.chunks_mut(kp)
                .zip(d.chunks_mut(kp / group))
                .zip(bsums.chunks_mut(kp / 16))
                .zip(x.chunks(k))
                .for_each(one);
        }
        let pairs = bsums.chunks_exact(2).map(|b| b[0] + b[1]);
        let (sums, sums32) = if group == 32 {
            let sums = d.iter().zip(pairs).map(|(d, s)| d * s as f32).collect();
            (sums, Vec::new())
        } else {
            (Vec::new(), pairs.collect())
        };
        Self {
            m,
            group,
            sums,
            sums32,
            kp,
            qs,
            d,
            bsums,
        }
    }

    pub fn row(&self, r: usize) -> ActRow<'_> {
        let (kp, ng) = (self.kp, self.kp / self.group);
        ActRow {
            qs: &self.qs[r * kp..(r + 1) * kp],
            d: &self.d[r * ng..(r + 1) * ng],
            bsums: &self.bsums[r * kp / 16..(r + 1) * kp / 16],
            sums: self.sums.get(r * ng..(r + 1) * ng).unwrap_or(&[]),
            sums32: (self.sums32.get(r * kp / 32..(r + 1) * kp / 32)).unwrap_or(&[]),
        }
    }
}

/// One row's (values, scales, sums) outputs and its input, as the zipped iterators yield them.
type RowParts<'a> = (((&'a mut [i8], &'a mut [f32]), &'a mut [i16]), &'a [f32]);

fn quantize_row(
    x: &[f32],
    qs: &mut [i8],
    d: &mut [f32],
    bsums: &mut [i16],
    group: usize,
    isa: Isa,
) {
    for (g, xg) in x.chunks(group).enumerate() {
        let qg = &mut qs[g * group..g * group + xg.len()];
        let bg = &mut bsums[g * group / 16..(g * group + xg.len()) / 16];
        d[g] = dispatch::quantize_group(isa, xg, qg, bg);
    }
}
