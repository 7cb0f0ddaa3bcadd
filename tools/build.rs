//! Links the binary against the libtorch of the project venv's PyTorch wheel and records its
//! `lib/` folder as an rpath, so `soundproof-tools` runs without LD_LIBRARY_PATH.
//! Build with `LIBTORCH_USE_PYTORCH=1` and the venv's python first on PATH (scripts/tools.sh).
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let lib = if let Ok(root) = std::env::var("LIBTORCH") {
        Some(format!("{root}/lib"))
    } else {
        let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python3".into());
        Command::new(python)
            .args(["-c", "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    if let Some(lib) = lib {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    } else {
        println!("cargo:warning=could not locate libtorch's lib/ folder: run through scripts/tools.sh");
    }
}
