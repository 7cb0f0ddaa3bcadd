//! Device choice and seeding for everything that runs through tch: `--device auto|cpu|cuda`
//! (auto = the first CUDA device when libtorch sees one), and one seed for libtorch's generators
//! (weight init, dropout) next to the seeded `rand` generators the data pipeline uses.
//!
//! On CPU a run is reproducible for a given seed and thread count (libtorch's CPU kernels are
//! deterministic; the order of floating-point reductions can depend on the thread count, so it
//! is fixed with `--threads` and recorded in the log). cuDNN's autotuner is switched off so a
//! CUDA run does not pick kernels by timing.

use crate::error::{Result, ToolsError};
use tch::Device;

/// What `--device` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when available, else CPU.
    #[default]
    Auto,
    /// The CPU (threads: libtorch's default or --threads).
    Cpu,
    /// The first CUDA device; an error when libtorch sees none.
    Cuda,
}

/// The tch device for `choice`; asking for CUDA on a machine without it is an error, not a
/// silent fall-back.
pub fn resolve(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => {
            if gpu_driver_present() {
                load_torch_cuda();
            }
            Ok(Device::cuda_if_available())
        }
        DeviceChoice::Cuda => {
            load_torch_cuda();
            if tch::Cuda::is_available() {
                Ok(Device::Cuda(0))
            } else {
                Err(ToolsError::Device(
                    "--device cuda, but libtorch sees no CUDA device (is this a CUDA build of torch, and a GPU \
                     visible?); use --device cpu or auto"
                        .into(),
                ))
            }
        }
    }
}

/// libtorch's CUDA backend registers itself when `libtorch_cuda.so` is loaded. Nothing in the
/// binary refers to that library by symbol, so the linker (`--as-needed`) leaves it out even
/// when the torch it was built against has CUDA; it is loaded here instead, found through the
/// binary's rpath to torch's `lib/` or `LD_LIBRARY_PATH`. A CPU-only libtorch has no such
/// file: then nothing is loaded and CUDA stays unavailable. Returns whether it is loaded.
pub fn load_torch_cuda() -> bool {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    // SAFETY: dlopen with a valid NUL-terminated name; the handle is kept for the process's
    // life (never closed), as libtorch's registrations require.
    *LOADED.get_or_init(|| unsafe { !libc::dlopen(c"libtorch_cuda.so".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL).is_null() })
}

/// An NVIDIA driver is installed (so loading the CUDA backend, which takes a moment, is worth it).
fn gpu_driver_present() -> bool {
    std::path::Path::new("/proc/driver/nvidia/version").exists() || std::path::Path::new("/dev/nvidiactl").exists()
}

/// Human-readable device name for logs.
pub fn name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}

/// Seeds libtorch (CPU and every CUDA device) and sets the CPU thread count when given.
pub fn seed_everything(seed: u64, threads: Option<usize>) {
    tch::manual_seed(seed as i64);
    if tch::Cuda::is_available() {
        tch::Cuda::manual_seed_all(seed);
        tch::Cuda::cudnn_set_benchmark(false);
    }
    if let Some(n) = threads {
        tch::set_num_threads(n.max(1) as i32);
    }
}

/// A seed derived from a base seed and a path of indices (epoch, example, ...), so every random
/// draw of the data pipeline is a function of (seed, position) and not of the order in which
/// work happens (splitmix64 finalizer over each component).
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for &p in parts {
        h = splitmix(h ^ splitmix(p.wrapping_add(0x632B_E59B_D9B4_E019)));
    }
    h
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
