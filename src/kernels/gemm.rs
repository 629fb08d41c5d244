//! Blocked, threaded driver: `out[m × n] = acts[m × k] · W[n × k]ᵀ`.
//!
//! Threads take disjoint ranges of weight rows (output columns). Inside a range, weight rows are
//! walked in L2-sized tiles; for each group of [`MR`] activation rows (small enough to stay in
//! L1) the kernel streams every weight row of the tile, unpacking its codes once for the `MR`
//! rows. A kernel call covers one 8-row weight tile. Decode (`m = 1`) degenerates to a threaded
//! GEMV.

use super::quantize::{ActRow, QActs};
use super::repack::{Kind32, Packed, TILE};
use super::{scalar, Isa, IsaKind};
use rayon::prelude::*;
use std::ops::Range;

/// Activation rows per kernel call.
const MR: usize = 4;
/// Bytes of repacked weights per n-tile (about half of this core's 512 KiB L2).
const N_TILE_BYTES: usize = 192 * 1024;
/// Work items per thread, for load balance on a machine shared with other processes.
const CHUNKS_PER_THREAD: usize = 4;

/// Output pointer shared by the workers; each writes a disjoint set of elements.
struct OutPtr(*mut f32);
// SAFETY: the pointer is only used to write elements no other worker writes (disjoint column
// ranges), and the buffer outlives the parallel section that uses it.
unsafe impl Sync for OutPtr {}
impl OutPtr {
    fn get(&self) -> *mut f32 {
        self.0
    }
}

/// `out` (row-major `m × n`) ← `acts · Wᵀ` for the `n`-row repacked matrix `p`.
pub fn matmul(p: &Packed, n: usize, acts: &QActs, out: &mut [f32], isa: Isa) {
    let m = acts.m;
    assert_eq!(out.len(), m * n);
    // Work is split in row tiles of 8 (what one kernel call covers).
    let units = n.div_ceil(TILE);
    let threads = rayon::current_num_threads();
    let chunk = units.div_ceil(threads * CHUNKS_PER_THREAD).max(2);
    let nchunks = units.div_ceil(chunk);
    let nt = (N_TILE_BYTES / (p.row_bytes() * TILE)).max(1);
    let ptr = OutPtr(out.as_mut_ptr());
    let job = |c: usize| {
        let (u0, u1) = (c * chunk, ((c + 1) * chunk).min(units));
        let put = |r0: usize, u: usize, v: &[[f32; TILE]]| {
            assert!(r0 + v.len() <= m);
            for (i, row) in v.iter().enumerate() {
                for (c, &v) in row.iter().enumerate() {
                    let j = u * TILE + c;
                    if j < n {
                        // SAFETY: r0 + i < m and j < n, so the index is inside `out` (m·n
                        // elements); column j belongs to this job only, so no other thread
                        // writes it.
                        unsafe { *ptr.get().add((r0 + i) * n + j) = v };
                    }
                }
            }
        };
        for t0 in (u0..u1).step_by(nt) {
            let tiles = t0..(t0 + nt).min(u1);
            let mut r = 0;
            while r + MR <= m {
                dot_rows::<MR>(p, isa, tiles.clone(), acts, r, &put);
                r += MR;
            }
            match m - r {
                3 => dot_rows::<3>(p, isa, tiles, acts, r, &put),
                2 => dot_rows::<2>(p, isa, tiles, acts, r, &put),
                1 => dot_rows::<1>(p, isa, tiles, acts, r, &put),
                _ => {}
            }
        }
    };
    if threads == 1 || nchunks == 1 {
        (0..nchunks).for_each(job);
    } else {
        (0..nchunks).into_par_iter().for_each(job);
    }
}

/// Activation rows `r0..r0 + R` · every row tile in `tiles`; `put(r0, tile, results)`.
fn dot_rows<const R: usize>(
    p: &Packed,
    isa: Isa,
    tiles: Range<usize>,
    acts: &QActs,
    r0: usize,
    put: &impl Fn(usize, usize, &[[f32; TILE]]),
) {
    let a: [ActRow; R] = std::array::from_fn(|i| acts.row(r0 + i));
    match isa.0 {
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx2 => {
            use super::avx2::{self, dot_b32};
            // SAFETY: an `IsaKind::Avx2` only exists after runtime detection of AVX2 and FMA
            // (see `Isa::avx2`), and each `KIND` const matches the block kind it is called for.
            let kernel = |u: usize| unsafe {
                match p {
                    Packed::B32(b) => match b.kind {
                        Kind32::Q4_0 => dot_b32::<{ avx2::Q4_0 }, R>(b, u, &a),
                        Kind32::Q4_1 => dot_b32::<{ avx2::Q4_1 }, R>(b, u, &a),
                        Kind32::Q5_0 => dot_b32::<{ avx2::Q5_0 }, R>(b, u, &a),
                        Kind32::Q5_1 => dot_b32::<{ avx2::Q5_1 }, R>(b, u, &a),
                        Kind32::Q8_0 => dot_b32::<{ avx2::Q8_0 }, R>(b, u, &a),
                    },
                    Packed::Q4K(q) => avx2::dot_q4k::<R>(q, u, &a),
                    Packed::Q6K(q) => avx2::dot_q6k::<R>(q, u, &a),
                }
            };
            for u in tiles {
                put(r0, u, &kernel(u));
            }
        }
        IsaKind::Scalar => {
            for u in tiles {
                let v = a.map(|a| {
                    std::array::from_fn(|i| match p {
                        Packed::B32(b) => scalar::dot_b32(b, u * TILE + i, a),
                        Packed::Q4K(q) => scalar::dot_q4k(q, u * TILE + i, a),
                        Packed::Q6K(q) => scalar::dot_q6k(q, u * TILE + i, a),
                    })
                });
                put(r0, u, &v);
            }
        }
    }
}
