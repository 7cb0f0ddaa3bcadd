//! Building the firmware for a model, running it under QEMU, and measuring its ELF.

use crate::gen::CompiledModel;
use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "thumbv7em-none-eabihf";
/// The memory budget of an STM32F446-class part, also the firmware's `memory.x`.
pub const FLASH_BUDGET: u64 = 512 * 1024;
pub const RAM_BUDGET: u64 = 128 * 1024;

/// The firmware crate (not a workspace member).
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware")
}

/// Where firmware builds go: `<workspace>/target/firmware-sim`.
pub fn build_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("firmware-sim")
}

/// Writes the generated model and builds the firmware ELF for it (release, `--locked`).
pub fn build(model: &CompiledModel) -> Result<PathBuf> {
    let root = build_root();
    let gen_dir = root.join("generated");
    std::fs::create_dir_all(&gen_dir)?;
    let src = gen_dir.join(format!("{}.rs", model.card.name));
    let code = model.to_rust();
    // Rewrite only on change, so cargo's fingerprint sees an unchanged model as unchanged.
    // Written to a temporary file and renamed, so concurrent runs never read a partial file.
    if std::fs::read_to_string(&src).ok().as_deref() != Some(code.as_str()) {
        let tmp = gen_dir.join(format!(".{}.{}.rs", model.card.name, std::process::id()));
        std::fs::write(&tmp, code)?;
        std::fs::rename(&tmp, &src)?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = root.join("target");
    let out = Command::new(&cargo)
        .args(["build", "--release", "--locked", "--target", TARGET, "--manifest-path"])
        .arg(firmware_dir().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env("FIRMWARE_SIM_MODEL", src.canonicalize()?)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !out.status.success() {
        bail!(
            "building the firmware for {} failed (is the target installed? `rustup target add {TARGET}`):\n{}",
            model.card.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let elf = target_dir.join(TARGET).join("release").join("firmware");
    ensure!(elf.exists(), "the build did not produce {}", elf.display());
    // One ELF per model: copy it out so builds for other models do not overwrite it.
    let kept = root.join(format!("{}.elf", model.card.name));
    let tmp = root.join(format!(".{}.{}.elf", model.card.name, std::process::id()));
    std::fs::copy(&elf, &tmp)?;
    std::fs::rename(&tmp, &kept)?;
    Ok(kept)
}

/// Sizes and largest symbols of a linked ELF.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    /// Flash: vector table + `.text` + `.rodata` + the `.data` initializers.
    pub flash_bytes: u64,
    pub text_bytes: u64,
    pub rodata_bytes: u64,
    /// RAM: `.data` + `.bss` + `.uninit` (statics), and the stack's high-water mark (painted).
    pub data_bytes: u64,
    pub bss_bytes: u64,
    pub static_ram_bytes: u64,
    pub stack_high_water_bytes: Option<u64>,
    pub ram_bytes: Option<u64>,
    pub arena_bytes: u64,
    pub flash_budget: u64,
    pub ram_budget: u64,
    /// Largest symbols in flash and in RAM (name, bytes).
    pub top_flash: Vec<(String, u64)>,
    pub top_ram: Vec<(String, u64)>,
    /// Whether any allocator symbol is linked (it must not be).
    pub allocator_linked: bool,
}

fn tool(name: &str, args: &[&str], elf: &Path) -> Result<String> {
    let out = Command::new(name).args(args).arg(elf).output().with_context(|| {
        format!("cannot run {name}: install Debian's binutils-arm-none-eabi (scripts/setup.sh does)")
    })?;
    ensure!(out.status.success(), "{name} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn measure(elf: &Path, arena_bytes: u64) -> Result<MemoryReport> {
    let size = tool("arm-none-eabi-size", &["-A", "-d"], elf)?;
    let mut sec = std::collections::HashMap::new();
    for line in size.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 3 && f[0].starts_with('.') {
            if let Ok(n) = f[1].parse::<u64>() {
                sec.insert(f[0].to_string(), n);
            }
        }
    }
    let s = |k: &str| sec.get(k).copied().unwrap_or(0);
    let (text, rodata, data, bss) = (s(".text"), s(".rodata"), s(".data"), s(".bss") + s(".uninit"));
    let nm = tool("arm-none-eabi-nm", &["-S", "--size-sort", "-C"], elf)?;
    let mut flash_syms = Vec::new();
    let mut ram_syms = Vec::new();
    let mut allocator_linked = false;
    for line in nm.lines() {
        let f: Vec<&str> = line.splitn(4, ' ').collect();
        if f.len() < 4 {
            continue;
        }
        let (Ok(addr), Ok(sz)) = (u64::from_str_radix(f[0], 16), u64::from_str_radix(f[1], 16)) else { continue };
        let name = f[3].to_string();
        if name.contains("__rust_alloc") || name.contains("__rg_alloc") || name.contains("__rust_no_alloc_shim") || name.contains("GlobalAlloc") {
            allocator_linked = true;
        }
        if addr >= 0x2000_0000 {
            ram_syms.push((name, sz));
        } else {
            flash_syms.push((name, sz));
        }
    }
    flash_syms.sort_by_key(|b| std::cmp::Reverse(b.1));
    ram_syms.sort_by_key(|b| std::cmp::Reverse(b.1));
    flash_syms.truncate(8);
    ram_syms.truncate(8);
    Ok(MemoryReport {
        flash_bytes: s(".vector_table") + text + rodata + data,
        text_bytes: text,
        rodata_bytes: rodata,
        data_bytes: data,
        bss_bytes: bss,
        static_ram_bytes: data + bss,
        stack_high_water_bytes: None,
        ram_bytes: None,
        arena_bytes,
        flash_budget: FLASH_BUDGET,
        ram_budget: RAM_BUDGET,
        top_flash: flash_syms,
        top_ram: ram_syms,
        allocator_linked,
    })
}

/// What the firmware printed for one clip.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FirmwareRun {
    /// Timer ticks and instructions of the calibration loop.
    pub calib_ticks: u64,
    pub calib_insns: u64,
    pub windows: Vec<FwWindow>,
    pub stages_ticks: [u64; 5],
    pub frames: u64,
    pub inferences: u64,
    pub period_ticks: u64,
    pub hops: u64,
    pub missed_deadlines: u64,
    pub worst_latency_ticks: u64,
    pub min_margin_ticks: u64,
    pub busy_ticks: u64,
    pub half_transfer_irqs: u64,
    pub transfer_complete_irqs: u64,
    pub overruns: u64,
    pub dropped_blocks: u64,
    pub stack_high_water: u64,
    /// Timer ticks per graph step, summed over the inferences.
    pub step_ticks: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FwWindow {
    pub index: u64,
    pub label: usize,
    pub quantized: Vec<u8>,
    pub logits: Vec<f32>,
}

impl FirmwareRun {
    /// Instructions per timer tick (the calibration loop's ratio).
    pub fn insns_per_tick(&self) -> f64 {
        self.calib_insns as f64 / self.calib_ticks.max(1) as f64
    }
}

fn kv(line: &str, key: &str) -> Result<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .ok_or_else(|| anyhow!("firmware output `{line}` has no {key}"))?
        .parse()
        .map_err(|e| anyhow!("firmware output `{line}`: {key}: {e}"))
}

fn list<T: std::str::FromStr>(s: &str) -> Result<Vec<T>> {
    let inner = s.trim().trim_start_matches('[').trim_end_matches(']');
    inner.split(',').filter(|x| !x.trim().is_empty()).map(|x| x.trim().parse::<T>().map_err(|_| anyhow!("bad value {x}"))).collect()
}

pub fn parse(stdout: &str) -> Result<FirmwareRun> {
    let mut r = FirmwareRun::default();
    let mut done = false;
    for line in stdout.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("error ") {
            bail!("the firmware failed: {rest}");
        } else if line.starts_with("calib ") {
            r.calib_ticks = kv(line, "ticks")?;
            r.calib_insns = kv(line, "insns")?;
        } else if let Some(rest) = line.strip_prefix("win ") {
            let (head, tail) = rest.split_once('[').ok_or_else(|| anyhow!("bad window line {line}"))?;
            let h: Vec<u64> = head.split_whitespace().map(|x| x.parse()).collect::<Result<_, _>>()?;
            let (q, l) = tail.split_once("] [").ok_or_else(|| anyhow!("bad window line {line}"))?;
            let bits: Vec<u32> = list(l)?;
            r.windows.push(FwWindow { index: h[0], label: h[1] as usize, quantized: list(q)?, logits: bits.into_iter().map(f32::from_bits).collect() });
        } else if line.starts_with("stages ") {
            r.stages_ticks = [kv(line, "framing")?, kv(line, "fft")?, kv(line, "mel")?, kv(line, "log")?, kv(line, "inference")?];
            r.frames = kv(line, "frames")?;
            r.inferences = kv(line, "inferences")?;
        } else if let Some(rest) = line.strip_prefix("steps ") {
            r.step_ticks = list(rest)?;
        } else if line.starts_with("deadline ") {
            r.period_ticks = kv(line, "period")?;
            r.hops = kv(line, "hops")?;
            r.missed_deadlines = kv(line, "missed")?;
            r.worst_latency_ticks = kv(line, "worst")?;
            r.min_margin_ticks = kv(line, "min_margin")?;
            r.busy_ticks = kv(line, "busy")?;
        } else if line.starts_with("dma ") {
            r.half_transfer_irqs = kv(line, "half_transfer")?;
            r.transfer_complete_irqs = kv(line, "transfer_complete")?;
            r.overruns = kv(line, "overruns")?;
            r.dropped_blocks = kv(line, "dropped_blocks")?;
            ensure!(kv(line, "windows")? == r.windows.len() as u64, "the firmware counted more windows than it printed: `{line}`");
        } else if line.starts_with("stack ") {
            r.stack_high_water = kv(line, "hwm")?;
        } else if line == "done" {
            done = true;
        }
    }
    ensure!(done, "the firmware did not finish; its output:\n{stdout}");
    Ok(r)
}

/// Writes the input file and runs the ELF under QEMU in `dir`.
pub fn run(elf: &Path, dir: &Path, samples: &[f32], gain: f32, insns_per_half: u64) -> Result<FirmwareRun> {
    std::fs::create_dir_all(dir)?;
    let mut bytes = Vec::with_capacity(20 + 4 * samples.len());
    bytes.extend_from_slice(b"SPFW");
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&gain.to_le_bytes());
    bytes.extend_from_slice(&u32::try_from(samples.len())?.to_le_bytes());
    bytes.extend_from_slice(&u32::try_from(insns_per_half)?.to_le_bytes());
    for s in samples {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(dir.join("input.bin"), bytes)?;
    // `timeout` guards against a firmware that never exits.
    let out = Command::new("timeout")
        .args(["600", "qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none"])
        .args(["-semihosting-config", "enable=on,target=native", "-icount", "shift=0,sleep=off", "-kernel"])
        .arg(elf.canonicalize()?)
        .current_dir(dir)
        .output()
        .context("cannot run qemu-system-arm: install Debian's qemu-system-arm (scripts/setup.sh does)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("QEMU exited with {}: {}{}", out.status, stdout, String::from_utf8_lossy(&out.stderr));
    }
    parse(&stdout)
}
