//! Helpers shared by the end-to-end tests: where the workspace, the data and the reference
//! Python live, and how to run a reference script.

pub mod onnx;
pub mod toy;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the folder holding `Cargo.toml` with `[workspace]`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests crate sits in the workspace").to_path_buf()
}

/// `../shared/data` beside the checkout.
pub fn data_dir() -> PathBuf {
    let d = root().join("..").join("shared").join("data");
    assert!(d.is_dir(), "data folder {} is missing: clone the project beside ../shared", d.display());
    d
}

/// FSDD recordings folder.
pub fn fsdd() -> PathBuf {
    data_dir().join("fsdd").join("recordings")
}

/// The reference interpreter: `$SOUNDPROOF_PYTHON`, else the project venv's python.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("SOUNDPROOF_PYTHON") {
        return PathBuf::from(p);
    }
    let p = root().join(".venv").join("bin").join("python");
    assert!(
        p.exists(),
        "reference Python {} not found: run scripts/setup.sh (installs librosa, scipy, PyWavelets)",
        p.display()
    );
    p
}

/// Runs `tests/reference/<script>` with `args`; panics with its stderr when it fails.
/// Returns its standard output.
pub fn run_reference(script: &str, args: &[&str]) -> String {
    let path = root().join("tests").join("reference").join(script);
    let out = Command::new(python()).arg(&path).args(args).output().expect("start reference python");
    assert!(
        out.status.success(),
        "reference script {} failed:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh scratch folder under the target directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = root().join("target").join("test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch folder");
    d
}

/// Path of the `soundproof` binary, (re)built once per test process in the test's profile (with
/// the engine's `mic` feature when this crate's `mic` feature is on):
/// `cargo test -p soundproof-tests` alone would not rebuild another package's binary, and a
/// stale one would test old code.
pub fn soundproof_bin() -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().expect("test exe path");
    // target/<profile>/deps/test-xxxx → target/<profile>/soundproof
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir").to_path_buf();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root()).args(["build", "-q", "-p", "soundproof", "--bin", "soundproof"]);
        // The microphone tests run `soundproof listen`, which exists only with the engine's
        // `mic` feature; without it the binary is built as before (no ALSA needed).
        if cfg!(feature = "mic") {
            cmd.args(["--features", "mic"]);
        }
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build for the soundproof binary");
        assert!(status.success(), "building the soundproof binary failed");
    });
    dir.join("soundproof")
}
