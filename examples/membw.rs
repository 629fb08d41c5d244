//! Memory read bandwidth, the floor under decode speed: every decoded token streams all of
//! the model's weights from memory once, so tokens/s can be no more than bandwidth ÷ bytes
//! per token. Each thread sums its share of a buffer far larger than the caches, several
//! times; the best pass is reported.
//!
//! `cargo run --release --example membw -- [THREADS] [MIB] [PASSES]` (defaults: 2 threads,
//! 1024 MiB, 5 passes). On a busy machine many passes over a smaller buffer (still larger
//! than the last-level cache) give the best pass a better chance to run undisturbed.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().map_or(2, |a| a.parse().expect("THREADS"));
    let mib: usize = args.next().map_or(1024, |a| a.parse().expect("MIB"));
    let passes: usize = args.next().map_or(5, |a| a.parse().expect("PASSES"));
    let words = mib * (1 << 20) / 8;
    let buffer: Vec<u64> = (0..words as u64).collect();
    let share = words.div_ceil(threads);
    let mut best = f64::INFINITY;
    for _ in 0..passes {
        let started = Instant::now();
        let total: u64 = std::thread::scope(|scope| {
            let handles: Vec<_> = buffer
                .chunks(share)
                .map(|part| scope.spawn(move || part.iter().fold(0u64, |a, &w| a.wrapping_add(w))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold(0, u64::wrapping_add)
        });
        std::hint::black_box(total);
        best = best.min(started.elapsed().as_secs_f64());
    }
    let bytes = (words * 8) as f64;
    println!(
        "{threads} threads read {mib} MiB: best pass {:.1} ms, {:.1} GB/s",
        best * 1e3,
        bytes / best / 1e9
    );
}
