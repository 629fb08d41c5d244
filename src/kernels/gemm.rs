//! Blocked, threaded driver: `out[m × n] = acts[m × k] · W[n × k]ᵀ`.
//!
//! Threads take disjoint ranges of weight rows (output columns). Inside a range, weight rows are
//! walked in L2-sized tiles; for each group of [`MR`] activation rows (small enough to stay in
//! L1) the kernel streams every weight row of the tile, unpacking its codes once for the `MR`
//! rows. A kernel call covers one 8-row weight tile, or two from 8 activation rows on. Decode (`m = 1`) degenerates to a threaded
//! GEMV.

use super::layout::ActRow;
use super::quantize::QActs;
use super::repack::{Packed, TILE};
use super::{dispatch, Isa};
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

/// One product of [`matmul_many`]: `out` (row-major `m × n`) ← `acts · Wᵀ` for the `n`-row
/// repacked matrix `p`.
pub struct Product<'a> {
    pub p: &'a Packed,
    pub n: usize,
    pub out: &'a mut [f32],
}

/// How one product is split into jobs.
struct Plan<'a> {
    p: &'a Packed,
    n: usize,
    /// Row tiles of 8 (what one kernel call covers).
    units: usize,
    /// Units per job.
    chunk: usize,
    /// Units per L2-sized n-tile.
    nt: usize,
    out: OutPtr,
}

impl Plan<'_> {
    fn jobs(&self) -> usize {
        self.units.div_ceil(self.chunk)
    }

    /// Runs job `c`: every activation row against units `c·chunk ..`.
    fn run(&self, c: usize, acts: &QActs, isa: Isa) {
        let (m, n, p) = (acts.m, self.n, self.p);
        let (u0, u1) = (c * self.chunk, ((c + 1) * self.chunk).min(self.units));
        let put = |r0: usize, u: usize, v: &[[f32; TILE]]| {
            assert!(r0 + v.len() <= m);
            for (i, row) in v.iter().enumerate() {
                for (c, &v) in row.iter().enumerate() {
                    let j = u * TILE + c;
                    if j < n {
                        // SAFETY: r0 + i < m and j < n, so the index is inside this product's
                        // `out` (m·n elements, checked in `matmul_many`); column j belongs to
                        // this job only, so no other thread writes it.
                        unsafe { *self.out.get().add((r0 + i) * n + j) = v };
                    }
                }
            }
        };
        // Two tiles per call where the weights of an n-tile serve at least two groups of
        // rows, so that they come from L2 after the first: streaming two tiles at once from
        // memory measured slower than one (`docs/performance-kernels.md`).
        let pairs = m >= 2 * MR;
        for t0 in (u0..u1).step_by(self.nt) {
            let tiles = t0..(t0 + self.nt).min(u1);
            let mut r = 0;
            while r + MR <= m {
                dot_rows::<MR>(p, isa, tiles.clone(), acts, r, pairs, &put);
                r += MR;
            }
            match m - r {
                3 => dot_rows::<3>(p, isa, tiles, acts, r, pairs, &put),
                2 => dot_rows::<2>(p, isa, tiles, acts, r, pairs, &put),
                1 => dot_rows::<1>(p, isa, tiles, acts, r, pairs, &put),
                _ => {}
            }
        }
    }
}

/// Every product's `out ← acts · Wᵀ`, all in one parallel pass: threads take jobs of
/// disjoint weight-row ranges from every product, so several matrices applied to the same
/// activations (query/key/value, gate/up) cost one wake-up of the threads, not one each.
pub fn matmul_many(products: &mut [Product], acts: &QActs, isa: Isa) {
    let threads = rayon::current_num_threads();
    let plans: Vec<Plan> = products
        .iter_mut()
        .map(|product| {
            assert_eq!(product.out.len(), acts.m * product.n);
            let units = product.n.div_ceil(TILE);
            Plan {
                p: product.p,
                n: product.n,
                units,
                chunk: units.div_ceil(threads * CHUNKS_PER_THREAD).max(2),
                nt: (N_TILE_BYTES / (product.p.row_bytes() * TILE)).max(1),
                out: OutPtr(product.out.as_mut_ptr()),
            }
        })
        .collect();
    let jobs: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(i, plan)| (0..plan.jobs()).map(move |c| (i, c)))
        .collect();
    let run = |&(i, c): &(usize, usize)| plans[i].run(c, acts, isa);
    if threads == 1 || jobs.len() == 1 {
        jobs.iter().for_each(run);
    } else {
        jobs.par_iter().for_each(run);
    }
}

/// Activation rows `r0..r0 + R` · every row tile in `tiles`, two tiles per kernel call with
/// `pairs` where the kernels can; `put(r0, tile, results)`.
fn dot_rows<const R: usize>(
    p: &Packed,
    isa: Isa,
    tiles: Range<usize>,
    acts: &QActs,
    r0: usize,
    pairs: bool,
    put: &impl Fn(usize, usize, &[[f32; TILE]]),
) {
    let a: [ActRow; R] = std::array::from_fn(|i| acts.row(r0 + i));
    let mut u = tiles.start;
    while pairs && u + 2 <= tiles.end {
        // Kernels without a two-tile form take the tiles one at a time below.
        let Some(pair) = dispatch::dot_tile_pair(isa, p, u, &a) else {
            break;
        };
        let half = |h: usize| pair.map(|row| std::array::from_fn(|i| row[h * TILE + i]));
        put(r0, u, &half(0));
        put(r0, u + 1, &half(1));
        u += 2;
    }
    for u in u..tiles.end {
        put(r0, u, &dispatch::dot_tile(isa, p, u, &a));
    }
}
