//! `firmware-sim`: the engine core on a simulated Cortex-M4F.
//!
//! * [`gen`]: ONNX + card → [`soundproof::nn::Graph`] in memory, or Rust `static`s for the
//!   firmware (weights in flash, a fixed schedule, a planned arena).
//! * [`clip`]: a WAV file as the firmware hears it: resampled to the model's rate, padded to a
//!   window and scaled by the clip gain exactly as `soundproof classify` does.
//! * [`qemu`]: builds the firmware (`firmware/`, `thumbv7em-none-eabihf`) for a model, runs it
//!   under `qemu-system-arm -M mps2-an386 -icount shift=0`, parses its report, and measures the
//!   ELF with `arm-none-eabi-size` / `nm`.
//! * [`twin`]: the same loop (`firmware-sim-core`) on the host with a simulated clock and DMA.
//! * [`report`]: what `firmware-sim run` prints: windows and clip labels, memory, stages,
//!   deadlines, and the comparison with the host engine (tract).
pub mod clip;
pub mod gen;
pub mod qemu;
pub mod report;
pub mod twin;

pub use gen::{compile, CompiledModel};

use firmware_sim_core::LoopConfig;
use soundproof::dsp::FeatureKind;

/// The loop configuration of a model (log-mel models only: the firmware's front end).
pub fn loop_config(m: &CompiledModel) -> anyhow::Result<LoopConfig> {
    let f = &m.card.features;
    anyhow::ensure!(
        f.kind == FeatureKind::Logmel,
        "model {}: the firmware runs log-mel front ends, this card asks for {}",
        m.card.name,
        f.kind.name()
    );
    Ok(LoopConfig { stft: f.stft, mel: f.mel, window_samples: m.card.window_samples, hop_samples: m.card.hop_samples })
}
