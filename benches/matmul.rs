//! Times the kernels against candle's `QMatMul` on the real weight shapes of GGUF models.
//!
//! `cargo bench --bench matmul -- MODEL.gguf...` (`abridge models path NAME` prints a model's
//! file). Prints the machine's streaming read bandwidth, then per model: each distinct
//! (type, n, k) at m = 1 (cache-hot), 128 and 512, and whole-model figures: one decode token
//! streaming every layer matmul + lm_head (m = 1, weights far larger than L3), and prefill
//! matmul throughput (m = 512 chunks, layers only). Thread count: `RAYON_NUM_THREADS`.

use abridge::kernels::CpuQMatMul;
use anyhow::{Context, Result};
use candle_core::quantized::{gguf_file, QMatMul};
use candle_core::{Device, Module, Tensor};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// llama.cpp (2 threads, this machine, /work/shared/MODELS.md): (file name part, prefill tok/s,
/// decode tok/s) for the whole model, matmuls and everything else.
const LLAMA_CPP: [(&str, f64, f64); 3] = [
    ("qwen2.5-coder-0.5b", 275.0, 49.6),
    ("qwen2.5-coder-1.5b", 152.0, 32.7),
    ("smollm2-135m", 381.0, 104.0),
];

/// CPU seconds used so far by all threads of this process (from /proc, ns resolution).
fn cpu_secs() -> f64 {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let stat = std::fs::read_to_string(task.expect("task").path().join("schedstat"));
        ns += stat
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
    }
    ns as f64 * 1e-9
}

/// `BENCH_CLOCK=cpu`: time by CPU seconds divided by the thread count instead of wall time, which
/// is what an idle machine would show when other processes compete for the cores.
fn now() -> f64 {
    static CPU: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *CPU.get_or_init(|| std::env::var("BENCH_CLOCK").is_ok_and(|v| v == "cpu")) {
        cpu_secs() / rayon::current_num_threads() as f64
    } else {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_secs_f64()
    }
}

/// Median seconds per call of `f` over `reps` runs of at least 50 ms each (after a warm-up
/// call that also sizes the runs).
fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    let s = Instant::now();
    f();
    let calls = (0.05 / s.elapsed().as_secs_f64()).ceil().max(1.0) as usize;
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = now();
            for _ in 0..calls {
                f();
            }
            (now() - s) / calls as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

/// XOR of all words, reading 128 bytes per iteration (wide enough to be memory-bound).
fn xor_all(c: &[u64]) -> u64 {
    c.chunks_exact(16)
        .fold([0u64; 16], |mut acc, w| {
            for (a, w) in acc.iter_mut().zip(w) {
                *a ^= w;
            }
            acc
        })
        .iter()
        .fold(0, |a, b| a ^ b)
}

/// Streaming read bandwidth over a 1 GiB buffer, all rayon threads; (median, best) GB/s.
fn bandwidth() -> (f64, f64) {
    let data = vec![1u64; 1 << 27];
    let threads = rayon::current_num_threads();
    let chunk = data.len() / threads;
    let mut t: Vec<f64> = (0..7)
        .map(|_| {
            let s = Instant::now();
            let sum: u64 = data
                .par_chunks(chunk)
                .map(xor_all)
                .reduce(|| 0, |a, b| a ^ b);
            black_box(sum);
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    let gb = (data.len() * 8) as f64 / 1e9;
    (gb / t[3], gb / t[0])
}

struct Weight {
    lm_head: bool,
    dtype: String,
    n: usize,
    k: usize,
    bytes: usize,
    ours: CpuQMatMul,
    candle: QMatMul,
}

fn load(path: &str) -> Result<Vec<Weight>> {
    let mut f = std::fs::File::open(path).with_context(|| path.to_string())?;
    let content = gguf_file::Content::read(&mut f)?;
    let tied = !content.tensor_infos.contains_key("output.weight");
    let mut names: Vec<&String> = content
        .tensor_infos
        .iter()
        .filter(|(name, info)| {
            info.shape.rank() == 2
                && (name.starts_with("blk.") || *name == "output.weight")
                && name.ends_with(".weight")
                || (tied && *name == "token_embd.weight")
        })
        .map(|(name, _)| name)
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let q = Arc::new(content.tensor(&mut f, name, &Device::Cpu)?);
        let (n, k) = q.shape().dims2()?;
        let Some(ours) = CpuQMatMul::from_qtensor(&q)? else {
            println!("  {name}: {:?} {n}x{k} not supported, skipped", q.dtype());
            continue;
        };
        out.push(Weight {
            lm_head: !name.starts_with("blk."),
            dtype: format!("{:?}", q.dtype()),
            n,
            k,
            bytes: q.storage_size_in_bytes(),
            ours,
            candle: QMatMul::from_arc(q.clone())?,
        });
    }
    Ok(out)
}

fn input(m: usize, k: usize) -> Result<Tensor> {
    Ok(Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu)?)
}

fn bench_model(path: &str) -> Result<()> {
    println!("\n## {path}");
    let weights = load(path)?;
    let total_bytes: usize = weights.iter().map(|w| w.bytes).sum();
    let packed_bytes: usize = weights.iter().map(|w| w.ours.size_in_bytes()).sum();
    println!(
        "matmul weights: {:.1} MB in the GGUF, {:.1} MB repacked",
        total_bytes as f64 / 1e6,
        packed_bytes as f64 / 1e6
    );
    // Distinct (type, n, k) → (count, first index).
    let mut groups: BTreeMap<(String, usize, usize), (usize, usize)> = BTreeMap::new();
    for (i, w) in weights.iter().enumerate() {
        groups
            .entry((w.dtype.clone(), w.n, w.k))
            .or_insert((0, i))
            .0 += 1;
    }
    assert!(
        weights.iter().filter(|w| w.lm_head).count() == 1,
        "one lm_head"
    );
    println!(
        "| type | n × k | count | m=1 ours µs (GB/s) | m=1 candle µs | m=128 ours / candle GFLOP/s | m=512 ours / candle GFLOP/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut prefill_ours = 0.0;
    let mut prefill_candle = 0.0;
    for ((dtype, n, k), (count, i)) in &groups {
        let w = &weights[*i];
        let x1 = input(1, *k)?;
        let t1 = median_secs(21, || drop(black_box(w.ours.forward(&x1).unwrap())));
        let c1 = median_secs(5, || drop(black_box(w.candle.forward(&x1).unwrap())));
        let gflops = |m: usize, t: f64| 2.0 * (m * n * k) as f64 / t / 1e9;
        let mut cells = Vec::new();
        for m in [128, 512] {
            if w.lm_head {
                cells.push("(lm_head: decode only)".to_string());
                continue;
            }
            let x = input(m, *k)?;
            let to = median_secs(3, || drop(black_box(w.ours.forward(&x).unwrap())));
            let tc = median_secs(1, || drop(black_box(w.candle.forward(&x).unwrap())));
            if m == 512 {
                prefill_ours += *count as f64 * to / 512.0;
                prefill_candle += *count as f64 * tc / 512.0;
            }
            cells.push(format!("{:.0} / {:.0}", gflops(m, to), gflops(m, tc)));
        }
        println!(
            "| {dtype} | {n} × {k} | {count} | {:.0} ({:.1}) | {:.0} | {} | {} |",
            t1 * 1e6,
            w.bytes as f64 / t1 / 1e9,
            c1 * 1e6,
            cells[0],
            cells[1]
        );
    }
    // Whole-model decode: every matmul once per token, as a real decode step streams them.
    let xs: BTreeMap<usize, Tensor> = groups
        .keys()
        .map(|&(_, _, k)| Ok((k, input(1, k)?)))
        .collect::<Result<_>>()?;
    let step_ours = median_secs(9, || {
        for w in &weights {
            black_box(w.ours.forward(&xs[&w.k]).unwrap());
        }
    });
    let step_candle = median_secs(3, || {
        for w in &weights {
            black_box(w.candle.forward(&xs[&w.k]).unwrap());
        }
    });
    println!(
        "decode, all {} matmuls incl. lm_head ({:.0} MB): ours {:.2} ms/token ({:.1} GB/s, {:.0} tok/s bound), candle {:.2} ms/token ({:.0} tok/s bound)",
        weights.len(),
        total_bytes as f64 / 1e6,
        step_ours * 1e3,
        total_bytes as f64 / step_ours / 1e9,
        1.0 / step_ours,
        step_candle * 1e3,
        1.0 / step_candle
    );
    println!(
        "prefill, layer matmuls at m=512 (no lm_head): ours {:.2} ms/token ({:.0} tok/s bound), candle {:.2} ms/token ({:.0} tok/s bound)",
        prefill_ours * 1e3,
        1.0 / prefill_ours,
        prefill_candle * 1e3,
        1.0 / prefill_candle
    );
    if let Some((_, pre, dec)) = LLAMA_CPP.iter().find(|(name, _, _)| path.contains(name)) {
        println!(
            "llama.cpp whole model: decode {:.2} ms/token ({dec} tok/s), prefill {:.2} ms/token ({pre} tok/s)",
            1e3 / dec,
            1e3 / pre
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; everything else names a GGUF file.
    let models: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    if models.is_empty() {
        anyhow::bail!(
            "usage: cargo bench --bench matmul -- MODEL.gguf... \
             (`abridge models path NAME` prints a model's file)"
        );
    }
    println!("threads: {}", rayon::current_num_threads());
    let (med, best) = bandwidth();
    println!("streaming read bandwidth: median {med:.1} GB/s, best {best:.1} GB/s");
    for path in &models {
        bench_model(path)?;
    }
    Ok(())
}
