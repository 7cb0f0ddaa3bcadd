//! The firmware under QEMU (mps2-an386, Cortex-M4F), through the `firmware-sim run` command on
//! real FSDD clips: logits bit-equal to tract on the same features and to
//! `soundproof classify`, the memory budget of an STM32F446-class part (flash from the ELF; RAM as
//! the ELF's statics plus the stack's painted high-water mark),
//! no allocator linked, and an overloaded core that counts its overruns.
//!
//! Needs `qemu-system-arm`, `arm-none-eabi-size`/`nm` and the `thumbv7em-none-eabihf` target
//! (scripts/setup.sh installs them); a missing tool fails the test with what to install.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_firmware-sim")).current_dir(root()).args(args).output().unwrap();
    assert!(out.status.success(), "firmware-sim {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

const CLIPS: [&str; 4] = ["3_jackson_0.wav", "5_theo_2.wav", "9_george_4.wav", "1_nicolas_1.wav"];

#[test]
fn firmware_matches_the_host_engine_and_fits_the_budget() {
    let files: Vec<String> = CLIPS.iter().map(|c| format!("../shared/data/fsdd/recordings/{c}")).collect();
    let mut args = vec!["run", "--model", "models/kws-fsdd-rt-int8.onnx", "--json"];
    args.extend(files.iter().map(String::as_str));
    let r = run(&args);
    let n = r["windows"].as_u64().unwrap();
    assert_eq!(r["windows_compared"].as_u64().unwrap(), n);
    assert!(n >= CLIPS.len() as u64);
    assert_eq!(r["windows_equal_to_tract"].as_u64().unwrap(), n, "every window's logits bit-equal to tract on the firmware's features");
    // The shipped rt-int8 model's card serves it with microfft, the firmware's FFT: the host
    // engine's `classify` computes the very features, hence the very logits.
    assert_eq!(r["card_fft_backend"], "microfft");
    assert_eq!(r["windows_equal_to_classify"].as_u64().unwrap(), n, "every window's logits bit-equal to classify");
    assert_eq!(r["clips_agreeing_with_classify"].as_u64().unwrap(), CLIPS.len() as u64, "clip labels equal to classify");
    for f in r["files"].as_array().unwrap() {
        for w in f["windows"].as_array().unwrap() {
            assert_eq!(w["label"], w["classify_label"], "{}", f["path"]);
        }
        // Clips of at most 1 s: their one window completes at the end of the stream, so no hop
        // carries an inference (the deadline with inferences is the slow-core test below).
        let fw = &f["firmware"];
        assert_eq!(fw["overruns"], 0);
    }
    let m = &r["memory"];
    assert_eq!(m["allocator_linked"], false);
    let flash = m["flash_bytes"].as_u64().unwrap();
    let statics = m["static_ram_bytes"].as_u64().unwrap();
    let hwm = m["stack_high_water_bytes"].as_u64().unwrap();
    assert!(flash <= 512 * 1024, "flash {flash}");
    // The RAM budget of an STM32F446-class part: statics (.data + .bss from the ELF) plus the
    // stack's high-water mark (painted, scanned under QEMU) within 128 KiB.
    assert_eq!(m["ram_bytes"].as_u64().unwrap(), statics + hwm);
    assert!(statics + hwm <= 128 * 1024, "RAM {} = statics {statics} + stack {hwm}", statics + hwm);
    // The weights are in flash: at least the model's parameter bytes (~43 KiB of ONNX).
    assert!(m["rodata_bytes"].as_u64().unwrap() > 30_000);
    assert!(m["stack_high_water_bytes"].as_u64().unwrap() > 1_000);
    let s = &r["stages"];
    for k in ["fft_per_frame", "mel_per_frame", "log_per_frame", "inference"] {
        assert!(s[k].as_f64().unwrap() > 0.0, "{k}");
    }
    // The calibration loop: a whole number of instructions per timer tick (QEMU -icount).
    let ipt = s["insns_per_tick"].as_f64().unwrap();
    assert!((ipt - ipt.round()).abs() < 0.01, "{ipt}");
}

#[test]
fn a_slow_core_counts_overruns_under_qemu() {
    // The demo recording (8 digits, ~10 s) on a 40 MHz core: a hop is 8 M instructions at CPI
    // 1.25, an inference about 13.8 M, so hops carrying an inference miss their deadline and the
    // DMA overruns.
    let f = "models/demo/digits.wav";
    let r = run(&["run", "--model", "models/kws-fsdd-rt-int8.onnx", "--json", "--no-compare", "--clock-mhz", "40", f]);
    let fw = &r["files"][0]["firmware"];
    let d = &r["deadline"];
    assert!(d["missed"].as_u64().unwrap() > 0, "{d}");
    assert!(fw["overruns"].as_u64().unwrap() > 0, "{fw}");
    let blocks = fw["half_transfer_irqs"].as_u64().unwrap() + fw["transfer_complete_irqs"].as_u64().unwrap();
    assert_eq!(fw["hops"].as_u64().unwrap() + fw["dropped_blocks"].as_u64().unwrap(), blocks, "{fw}");
}
