//! Load-time repacking of GGUF weight blocks into the layouts the kernels stream.
//!
//! Rows are interleaved in tiles of 8 ([`Block32`], [`Q4K`], [`Q6K`]): one 32-byte vector holds
//! 4 consecutive codes of each of the 8 rows, so a broadcast of 4 activation bytes feeds 8
//! outputs per instruction and no horizontal sums are needed. Scales are widened to f32 and the
//! K-quant 6-bit scales decoded to bytes, so the inner loops do no scalar decoding. Sizes stay
//! close to the GGUF blocks (Q5_0: 24 B per 32 weights instead of 22, Q8_0: 36 instead of 34,
//! Q4_K: 152 B per 256 instead of 144, Q6_K: 212 B instead of 210; plus up to 7 zero rows).

use candle_core::quantized::GgmlDType;

/// Weights per K-quant super-block.
pub const QK_K: usize = 256;

/// The 32-weight block types, all decoded as `w = d·c + m` with an unsigned code `c`
/// (Q8_0: signed code, `m = 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind32 {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
}

impl Kind32 {
    /// Bytes of packed codes per block.
    pub fn code_bytes(self) -> usize {
        if self == Kind32::Q8_0 {
            32
        } else {
            16
        }
    }

    /// Whether the block has a fifth code bit stored in `qh`.
    pub fn has_high_bit(self) -> bool {
        matches!(self, Kind32::Q5_0 | Kind32::Q5_1)
    }

    /// Whether the block stores its own min (else the min is `-offset·d`).
    pub fn has_min(self) -> bool {
        matches!(self, Kind32::Q4_1 | Kind32::Q5_1)
    }

    /// Code offset of the symmetric types: `w = d·(c - offset)`.
    pub fn offset(self) -> f32 {
        match self {
            Kind32::Q4_0 => 8.0,
            Kind32::Q5_0 => 16.0,
            _ => 0.0,
        }
    }
}

/// Rows of the row tile of 32-weight block matrices (`n` is padded with zero rows).
pub const TILE: usize = 8;

/// 32-weight block matrices with rows interleaved in tiles of [`TILE`], so one 32-byte vector
/// holds 4 consecutive codes of each of 8 rows: a broadcast of 4 activation bytes then feeds
/// 8 outputs per instruction and no horizontal sums are needed. Per (tile, block):
/// - `codes`, 4-bit types: 4 vectors; byte `4i + j` of vector `t` holds the code of row `i`,
///   element `4t + j` in its low nibble and element `16 + 4t + j` in its high nibble.
///   Q8_0: 8 vectors; byte `4i + j` of vector `q` is the signed code of row `i`, element `4q + j`.
/// - `qh` (Q5_x only): 32 bytes; bit `q` of byte `4i + j` is the fifth bit of row `i`,
///   element `4q + j`.
/// - `d`, `m` (Q4_1/Q5_1 only): the 8 rows' scales and mins.
pub struct Block32 {
    pub kind: Kind32,
    /// Blocks per row.
    pub nb: usize,
    pub codes: Vec<u8>,
    pub qh: Vec<u8>,
    pub d: Vec<f32>,
    pub m: Vec<f32>,
}

impl Block32 {
    /// Code of `row`, element `e` (unsigned; signed for Q8_0).
    pub fn code(&self, row: usize, e: usize) -> i32 {
        let tb = (row / TILE) * self.nb + e / 32;
        let (i, q, j) = (row % TILE, (e % 32) / 4, e % 4);
        if self.kind == Kind32::Q8_0 {
            return self.codes[tb * 256 + q * 32 + 4 * i + j] as i8 as i32;
        }
        let byte = self.codes[tb * 128 + (q % 4) * 32 + 4 * i + j];
        let low = if q < 4 { byte & 0xf } else { byte >> 4 };
        let high = if self.kind.has_high_bit() {
            (self.qh[tb * 32 + 4 * i + j] >> q) & 1
        } else {
            0
        };
        (low | high << 4) as i32
    }

    /// Index of the scale (and min) of `row`, block `b`.
    pub fn scale_at(&self, row: usize, b: usize) -> usize {
        ((row / TILE) * self.nb + b) * TILE + row % TILE
    }
}

/// Byte index and shift of the 4-bit code of tile row `i`, element `e` (0..32) of a 32-element
/// block in the nibble layout of [`Block32`] (block data starting at byte `base`).
fn nibble_at(base: usize, i: usize, e: usize) -> (usize, u32) {
    let (q, j) = (e / 4, e % 4);
    (base + (q % 4) * 32 + 4 * i + j, if q < 4 { 0 } else { 4 })
}

/// Q4_K, rows interleaved in tiles of [`TILE`] like [`Block32`]; `w = d·sc_j·c − dmin·mn_j` for
/// sub-block `j` (32 weights) of a super-block. Per (tile, super-block):
/// - `qs`: 8 sub-blocks × 128 bytes in the [`Block32`] nibble layout;
/// - `sc`: byte `8j + i` is the scale of row `i`, sub-block `j`;
/// - `mn`: byte `16p + 2i + h` is the min of row `i`, sub-block `2p + h` (pairs, for `madd`);
/// - `d`, `dmin`: the 8 rows' super-block scales.
pub struct Q4K {
    pub nsb: usize,
    pub qs: Vec<u8>,
    pub sc: Vec<u8>,
    pub mn: Vec<u8>,
    pub d: Vec<f32>,
    pub dmin: Vec<f32>,
}

impl Q4K {
    /// Code (0..16) of `row`, element `e`.
    pub fn code(&self, row: usize, e: usize) -> i32 {
        let tsb = (row / TILE) * self.nsb + e / QK_K;
        let (at, shift) = nibble_at(tsb * 1024 + (e % QK_K) / 32 * 128, row % TILE, e % 32);
        ((self.qs[at] >> shift) & 0xf) as i32
    }

    /// (d·sc, dmin·mn) of `row`, sub-block `j` of super-block `s`, as integers and f32 factors:
    /// (sc, mn, d, dmin).
    pub fn scales(&self, row: usize, s: usize, j: usize) -> (i32, i32, f32, f32) {
        let (tsb, i) = ((row / TILE) * self.nsb + s, row % TILE);
        (
            self.sc[tsb * 64 + 8 * j + i] as i32,
            self.mn[tsb * 64 + 16 * (j / 2) + 2 * i + j % 2] as i32,
            self.d[tsb * TILE + i],
            self.dmin[tsb * TILE + i],
        )
    }
}

/// Q6_K, rows interleaved in tiles of [`TILE`]; `w = d·sc_h·(c − 32)` for each 16 weights `h`.
/// Per (tile, super-block):
/// - `ql`: low 4 bits of the codes, 8 sub-blocks × 128 bytes in the [`Block32`] nibble layout;
/// - `qh`: 8 sub-blocks × 2 vectors; bits `2t..2t+2` of byte `4i + j` of vector `v` are the high
///   2 bits of row `i`, element `4(4v + t) + j` of the sub-block;
/// - `sc`: byte `16p + 2i + h` is the scale of row `i`, 16 weights `2p + h`;
/// - `d`: the 8 rows' super-block scales.
pub struct Q6K {
    pub nsb: usize,
    pub ql: Vec<u8>,
    pub qh: Vec<u8>,
    pub sc: Vec<i8>,
    pub d: Vec<f32>,
}

impl Q6K {
    /// Code (0..64) of `row`, element `e`.
    pub fn code(&self, row: usize, e: usize) -> i32 {
        let tsb = (row / TILE) * self.nsb + e / QK_K;
        let (j, el, i) = ((e % QK_K) / 32, e % 32, row % TILE);
        let (at, shift) = nibble_at(tsb * 1024 + j * 128, i, el);
        let (q, jj) = (el / 4, el % 4);
        let high = self.qh[tsb * 512 + j * 64 + (q / 4) * 32 + 4 * i + jj] >> (2 * (q % 4)) & 3;
        (((self.ql[at] >> shift) & 0xf) | high << 4) as i32
    }

    /// (scale of 16 weights `h` of super-block `s`, d) of `row`.
    pub fn scale(&self, row: usize, s: usize, h: usize) -> (i32, f32) {
        let (tsb, i) = ((row / TILE) * self.nsb + s, row % TILE);
        (
            self.sc[tsb * 128 + 16 * (h / 2) + 2 * i + h % 2] as i32,
            self.d[tsb * TILE + i],
        )
    }
}

pub enum Packed {
    B32(Block32),
    Q4K(Q4K),
    Q6K(Q6K),
}

impl Packed {
    /// Bytes held by the repacked matrix.
    pub fn size_in_bytes(&self) -> usize {
        match self {
            Self::B32(p) => p.codes.len() + p.qh.len() + 4 * (p.d.len() + p.m.len()),
            Self::Q4K(p) => p.qs.len() + p.sc.len() + p.mn.len() + 4 * (p.d.len() + p.dmin.len()),
            Self::Q6K(p) => p.ql.len() + p.qh.len() + p.sc.len() + 4 * p.d.len(),
        }
    }

    /// Bytes of one repacked row (for cache tiling).
    pub fn row_bytes(&self) -> usize {
        match self {
            Self::B32(b) => {
                let qh = if b.kind.has_high_bit() { 4 } else { 0 };
                let m = if b.kind.has_min() { 4 } else { 0 };
                b.nb * (b.kind.code_bytes() + qh + 4 + m)
            }
            Self::Q4K(q) => q.nsb * 152,
            Self::Q6K(q) => q.nsb * 212,
        }
    }

    /// Dequantizes row `row` into `out` (`k` values), with candle's arithmetic so the values
    /// are bit-identical to `QTensor::dequantize`.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        match self {
            Self::B32(p) => {
                for (b, o) in out.chunks_exact_mut(32).enumerate() {
                    let at = p.scale_at(row, b);
                    let d = p.d[at];
                    for (e, o) in o.iter_mut().enumerate() {
                        let c = p.code(row, 32 * b + e);
                        *o = if p.kind.has_min() {
                            d * c as f32 + p.m[at]
                        } else {
                            d * (c as f32 - p.kind.offset())
                        };
                    }
                }
            }
            Self::Q4K(p) => {
                for (sj, o) in out.chunks_exact_mut(32).enumerate() {
                    let (sc, mn, d, dmin) = p.scales(row, sj / 8, sj % 8);
                    let (d1, m1) = (d * sc as f32, dmin * mn as f32);
                    for (e, o) in o.iter_mut().enumerate() {
                        *o = d1 * p.code(row, 32 * sj + e) as f32 - m1;
                    }
                }
            }
            Self::Q6K(p) => {
                for (sh, o) in out.chunks_exact_mut(16).enumerate() {
                    let (sc, d) = p.scale(row, sh / 16, sh % 16);
                    for (e, o) in o.iter_mut().enumerate() {
                        *o = d * sc as f32 * (p.code(row, 16 * sh + e) - 32) as f32;
                    }
                }
            }
        }
    }

    /// Values per activation scale this format wants (see [`super::quantize`]).
    pub fn act_group(&self) -> usize {
        match self {
            Self::B32(_) => 32,
            Self::Q4K(_) | Self::Q6K(_) => QK_K,
        }
    }

    /// Repacks the raw GGUF bytes of an `n × k` matrix; `None` for unsupported types.
    pub fn new(dtype: GgmlDType, data: &[u8], n: usize, k: usize) -> Option<Self> {
        let kind = match dtype {
            GgmlDType::Q4_0 => Kind32::Q4_0,
            GgmlDType::Q4_1 => Kind32::Q4_1,
            GgmlDType::Q5_0 => Kind32::Q5_0,
            GgmlDType::Q5_1 => Kind32::Q5_1,
            GgmlDType::Q8_0 => Kind32::Q8_0,
            GgmlDType::Q4K if k.is_multiple_of(QK_K) => return Some(Self::Q4K(q4k(data, n, k))),
            GgmlDType::Q6K if k.is_multiple_of(QK_K) => return Some(Self::Q6K(q6k(data, n, k))),
            _ => return None,
        };
        k.is_multiple_of(32)
            .then(|| Self::B32(block32(kind, data, n, k)))
    }
}

/// IEEE half (little-endian bytes) → f32, exact for every input.
pub fn f16_to_f32(b: [u8; 2]) -> f32 {
    let h = u16::from_le_bytes(b) as u32;
    let sign = (h & 0x8000) << 16;
    let exp = (h >> 10) & 0x1f;
    let man = h & 0x3ff;
    match exp {
        // Zero and subnormals: man · 2^-24, exactly representable in f32.
        0 => {
            let v = man as f32 * f32::powi(2.0, -24);
            if sign != 0 {
                -v
            } else {
                v
            }
        }
        0x1f => f32::from_bits(sign | 0x7f80_0000 | (man << 13)),
        _ => f32::from_bits(sign | ((exp + 112) << 23) | (man << 13)),
    }
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16_to_f32([b[at], b[at + 1]])
}

fn block32(kind: Kind32, data: &[u8], n: usize, k: usize) -> Block32 {
    let nb = k / 32;
    let bsz = match kind {
        Kind32::Q4_0 => 18,
        Kind32::Q4_1 => 20,
        Kind32::Q5_0 => 22,
        Kind32::Q5_1 => 24,
        Kind32::Q8_0 => 34,
    };
    assert_eq!(data.len(), n * nb * bsz, "unexpected {kind:?} data size");
    let tiles = n.div_ceil(TILE);
    let cb = kind.code_bytes() * TILE;
    let mut p = Block32 {
        kind,
        nb,
        codes: vec![0; tiles * nb * cb],
        qh: vec![
            0;
            if kind.has_high_bit() {
                tiles * nb * 32
            } else {
                0
            }
        ],
        d: vec![0.0; tiles * nb * TILE],
        m: vec![0.0; if kind.has_min() { tiles * nb * TILE } else { 0 }],
    };
    for (blk_idx, blk) in data.chunks_exact(bsz).enumerate() {
        let (row, b) = (blk_idx / nb, blk_idx % nb);
        let at = p.scale_at(row, b);
        p.d[at] = f16_at(blk, 0);
        let mut o = 2;
        if kind.has_min() {
            p.m[at] = f16_at(blk, 2);
            o = 4;
        }
        let qh = if kind.has_high_bit() {
            o += 4;
            u32::from_le_bytes(blk[o - 4..o].try_into().unwrap())
        } else {
            0
        };
        let qs = &blk[o..];
        let tb = (row / TILE) * nb + b;
        let i = row % TILE;
        for e in 0..32 {
            let (q, j) = (e / 4, e % 4);
            if kind == Kind32::Q8_0 {
                p.codes[tb * cb + q * 32 + 4 * i + j] = qs[e];
                continue;
            }
            let low = if e < 16 { qs[e] & 0xf } else { qs[e - 16] >> 4 };
            let shift = if q < 4 { 0 } else { 4 };
            p.codes[tb * cb + (q % 4) * 32 + 4 * i + j] |= low << shift;
            if (qh >> e) & 1 == 1 {
                p.qh[tb * 32 + 4 * i + j] |= 1 << q;
            }
        }
    }
    p
}

/// Decodes the 6-bit scale and min of sub-block `j` from the 12 packed bytes of a Q4_K block.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

fn q4k(data: &[u8], n: usize, k: usize) -> Q4K {
    let nsb = k / QK_K;
    assert_eq!(data.len(), n * nsb * 144, "unexpected Q4_K data size");
    let tsbs = n.div_ceil(TILE) * nsb;
    let mut p = Q4K {
        nsb,
        qs: vec![0; tsbs * 1024],
        sc: vec![0; tsbs * 64],
        mn: vec![0; tsbs * 64],
        d: vec![0.0; tsbs * TILE],
        dmin: vec![0.0; tsbs * TILE],
    };
    for (idx, blk) in data.chunks_exact(144).enumerate() {
        let (row, s) = (idx / nsb, idx % nsb);
        let (tsb, i) = ((row / TILE) * nsb + s, row % TILE);
        p.d[tsb * TILE + i] = f16_at(blk, 0);
        p.dmin[tsb * TILE + i] = f16_at(blk, 2);
        for j in 0..8 {
            let (sc, mn) = scale_min_k4(j, &blk[4..16]);
            p.sc[tsb * 64 + 8 * j + i] = sc;
            p.mn[tsb * 64 + 16 * (j / 2) + 2 * i + j % 2] = mn;
        }
        // GGUF: bytes 32t..32t+32 hold elements 64t.. (low nibbles) and 64t+32.. (high).
        let qs = &blk[16..];
        for e in 0..QK_K {
            let (t, l) = (e / 64, e % 32);
            let c = if e % 64 < 32 {
                qs[32 * t + l] & 0xf
            } else {
                qs[32 * t + l] >> 4
            };
            let (at, shift) = nibble_at(tsb * 1024 + e / 32 * 128, i, e % 32);
            p.qs[at] |= c << shift;
        }
    }
    p
}

fn q6k(data: &[u8], n: usize, k: usize) -> Q6K {
    let nsb = k / QK_K;
    assert_eq!(data.len(), n * nsb * 210, "unexpected Q6_K data size");
    let tsbs = n.div_ceil(TILE) * nsb;
    let mut p = Q6K {
        nsb,
        ql: vec![0; tsbs * 1024],
        qh: vec![0; tsbs * 512],
        sc: vec![0; tsbs * 128],
        d: vec![0.0; tsbs * TILE],
    };
    for (idx, blk) in data.chunks_exact(210).enumerate() {
        let (row, s) = (idx / nsb, idx % nsb);
        let (tsb, i) = ((row / TILE) * nsb + s, row % TILE);
        p.d[tsb * TILE + i] = f16_at(blk, 208);
        for h in 0..16 {
            p.sc[tsb * 128 + 16 * (h / 2) + 2 * i + h % 2] = blk[192 + h] as i8;
        }
        let (ql, qh) = (&blk[..128], &blk[128..192]);
        for e in 0..QK_K {
            // GGUF: per 128-element half, quarter t of 32 uses ql nibbles and 2 bits of qh.
            let (half, t, l) = (e / 128, (e % 128) / 32, e % 32);
            let lb = ql[64 * half + 32 * (t % 2) + l];
            let low = if t < 2 { lb & 0xf } else { lb >> 4 };
            let high = (qh[32 * half + l] >> (2 * t)) & 3;
            let (j, el) = (e / 32, e % 32);
            let (at, shift) = nibble_at(tsb * 1024 + j * 128, i, el);
            p.ql[at] |= low << shift;
            let (q, jj) = (el / 4, el % 4);
            p.qh[tsb * 512 + j * 64 + (q / 4) * 32 + 4 * i + jj] |= high << (2 * (q % 4));
        }
    }
    p
}
