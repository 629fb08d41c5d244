//! Where the model runs: `--device auto|cpu|cuda|metal`, the cargo features that make the
//! GPUs available, and the thread count used on the CPU.

use anyhow::{bail, Result};
use candle_core::Device;
use serde::Serialize;

/// The device a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A GPU when this build has one and the machine too, else the CPU.
    Auto,
    Cpu,
    Cuda,
    Metal,
}

impl DeviceChoice {
    /// The name `--device` takes: `auto`, `cpu`, `cuda` or `metal`.
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Metal => "metal",
        }
    }
}

/// Opens the requested device, or says why it cannot be had.
pub fn open(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda => cuda(),
        DeviceChoice::Metal => metal(),
        DeviceChoice::Auto => Ok(cuda().or_else(|_| metal()).unwrap_or(Device::Cpu)),
    }
}

fn cuda() -> Result<Device> {
    if !candle_core::utils::cuda_is_available() {
        bail!("CUDA is not available: this build lacks the `cuda` feature");
    }
    Device::new_cuda(0).map_err(|e| anyhow::anyhow!("no CUDA device found: {e}"))
}

fn metal() -> Result<Device> {
    if !candle_core::utils::metal_is_available() {
        bail!("Metal is not available: this build lacks the `metal` feature");
    }
    Device::new_metal(0).map_err(|e| anyhow::anyhow!("no Metal device found: {e}"))
}

/// The device's short name as it appears in JSON output: `cpu`, `cuda` or `metal`.
pub fn name(device: &Device) -> &'static str {
    match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Metal(_) => "metal",
    }
}

/// Sets how many threads CPU inference uses (the matmuls run on rayon's global pool).
/// Call once with `Some`, before any model work (`None` may be called again: it only fills
/// in what is unset); `None` keeps the default of one per core, and more
/// threads than cores are capped to the cores (oversubscribed matmul threads wait on each
/// other: a 3 s summary took 514 s with 999 threads on 2 cores).
///
/// candle's element-wise ops run on a pool of their own whose workers spin for a while
/// after each op, taking cores from the matmul threads that follow; unless
/// `CANDLE_NUM_THREADS` says otherwise, that pool gets no workers (the ops run on the
/// calling thread), which made decoding 15% faster here (`docs/performance.md`).
///
/// `RAYON_NUM_THREADS` is always set (to one per core when `threads` is `None`, rayon's own
/// default): candle reads it before every matmul, and where it is unset counts the physical
/// cores by parsing `/proc/cpuinfo` each time — 17,000 reads for one tiny BART summary,
/// most of its time.
pub fn set_threads(threads: Option<usize>) -> Result<()> {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let Some(mut threads) = threads else {
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            std::env::set_var("RAYON_NUM_THREADS", cores.to_string());
        }
        return Ok(());
    };
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let cores = std::thread::available_parallelism().map_or(threads, usize::from);
    if threads > cores {
        eprintln!("abridge: warning: --threads {threads} is more than the {cores} cores here; using {cores}");
        threads = cores;
    }
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| anyhow::anyhow!("cannot set the thread count: {e}"))
}

/// This machine's CPU as `/proc/cpuinfo` names it, with its family and model numbers (which
/// tell CPU generations apart where the name does not: AMD family 25 is Zen 3 and 4, 26 is
/// Zen 5), e.g. `AMD EPYC (family 26, model 2)`; `unknown` where the system does not say.
pub fn cpu_name() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|line| line.split(':').next().map(str::trim) == Some(key))
            .and_then(|line| line.split_once(':'))
            .map(|(_, value)| value.trim().to_string())
    };
    match (field("model name"), field("cpu family"), field("model")) {
        (Some(name), Some(family), Some(model)) => {
            format!("{name} (family {family}, model {model})")
        }
        (Some(name), _, _) => name,
        _ => "unknown".to_string(),
    }
}

/// The number of threads CPU inference will use.
pub fn threads() -> usize {
    rayon::current_num_threads()
}
