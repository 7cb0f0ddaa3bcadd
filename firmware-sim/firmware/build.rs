//! Links with cortex-m-rt's `link.x` over `memory.x`, and puts the generated model (written by
//! `firmware-sim` to the path in `FIRMWARE_SIM_MODEL`) where `main.rs` includes it.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-env-changed=FIRMWARE_SIM_MODEL");
    let model = env::var("FIRMWARE_SIM_MODEL").unwrap_or_else(|_| {
        panic!("FIRMWARE_SIM_MODEL is not set: build the firmware through `cargo run -p firmware-sim -- build --model M.onnx` (or `run`), which generates the model code first")
    });
    println!("cargo:rerun-if-changed={model}");
    fs::copy(&model, out.join("model.rs")).unwrap_or_else(|e| panic!("cannot read the generated model {model}: {e}"));
}
