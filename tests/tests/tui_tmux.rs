//! The terminal UI of `soundproof demo` in a real terminal: tmux runs it in a detached session
//! of a known size, the test presses the keys a person would (gain up, policy), reads the screen
//! with `capture-pane` and checks what is on it, resizes the window, and ends the UI with `q`
//! and with Ctrl-C, checking that the shell gets a clean terminal back (the UI's alternate
//! screen gone, the summary printed, `stty` out of raw mode).
//!
//! Each test uses its own tmux server (`-L`), killed at the end. Needs `tmux` (scripts/test.sh
//! installs it with apt).

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use soundproof_tests::{root, soundproof_bin};

/// A tmux server of its own with one window running `command` in `sh`.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, command: &str, size: (u16, u16)) -> Tmux {
        let socket = format!("soundproof-{name}-{}", std::process::id());
        let t = Tmux { socket };
        let status = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d", "-s", "ui"])
            .args(["-x", &size.0.to_string(), "-y", &size.1.to_string()])
            .arg(command)
            .env("TERM", "xterm-256color")
            .current_dir(root())
            .status()
            .expect("tmux is needed for this test (scripts/test.sh installs it: apt-get install tmux)");
        assert!(status.success(), "tmux new-session failed");
        t.tmux(&["set-option", "-t", "ui", "remain-on-exit", "on"]);
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(["-L", &self.socket]).args(args).output().expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "ui"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "ui"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Waits until the screen satisfies `ok` (the run's own pace decides; the limit only stops
    /// a hung UI from hanging the test) and returns it.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.wait(what, ok, true)
    }

    /// As `wait_for`; `running` says whether the program must still be running meanwhile.
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool, running: bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            // The program ended (the shell's report is on screen) without showing it.
            if running && s.contains("EXIT=") {
                panic!("the program ended before the screen showed {what}:\n{s}");
            }
            if t0.elapsed() > Duration::from_secs(240) {
                panic!("the screen never showed {what}; last screen:\n{s}");
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

/// The shell line that runs the demo, then reports its exit status and the terminal's mode.
fn demo_command(bin: &Path, args: &str) -> String {
    // The modes go out in one `echo`, bracketed, so a screen that shows the closing bracket
    // shows the whole line (the shell writes `EXIT=` before it runs `stty`).
    format!(
        "{} demo {args}; echo EXIT=$?; echo \"TTY[$(stty -a | tr ' ' '\\n' | grep -x -e '-*icanon' -e '-*echo' | tr '\\n' ' ')]\"; sleep 600",
        bin.display()
    )
}

/// Waits for the shell's report after the program ended and returns the screen and the
/// terminal modes `stty` listed (e.g. "icanon echo").
fn shell_report(t: &Tmux, what: &str) -> (String, String) {
    let s = t.wait(what, |s| s.lines().any(|l| l.starts_with("TTY[") && l.contains(']')), false);
    let modes = s.lines().find_map(|l| l.strip_prefix("TTY[")).and_then(|l| l.split(']').next()).unwrap_or_default().to_string();
    (s, modes)
}

/// Certificate rows of the screen made at `setting` (e.g. "+6 dB, fixed").
fn cert_rows<'a>(screen: &'a str, setting: &str) -> Vec<&'a str> {
    screen.lines().filter(|l| l.contains('✓') && l.contains(setting) && l.contains(" dB ")).collect()
}

#[test]
fn demo_ui_shows_labels_certificates_and_the_gain_knob_then_quits_cleanly() {
    let bin = soundproof_bin();
    // The keyword demo on a loop, certificates on (the default), on the f32 model (the int8
    // default runs in the plain-mode demo tests).
    let t = Tmux::start("keys", &demo_command(&bin, "--model models/kws-fsdd.onnx --repeat 0"), (130, 44));
    let s = t.wait_for("a label and a certificate at 0 dB", |s| !cert_rows(s, "+0 dB, fixed").is_empty());
    assert!(s.contains("soundproof demo") && s.contains("kws-fsdd on"), "{s}");
    assert!(s.contains("log-mel spectrogram (64 bands"), "{s}");
    assert!(s.contains("top classes") && s.contains("label"), "{s}");
    assert!(s.contains("contract waveform") && s.contains("R₁₀ₖ"), "{s}");
    assert!(s.contains("input: gain +0.0 dB · policy fixed"), "{s}");
    // The spoken digits of the demo recording are among the labels on screen.
    let digits = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
    t.wait_for("a heard digit", |s| s.lines().any(|l| l.contains("heard ") && digits.iter().any(|d| l.contains(&format!("{d}@")))));

    // Gain up one step: the input panel says so, and certificates at +6 dB follow.
    t.keys(&["+"]);
    let s = t.wait_for("the input gain at +6 dB", |s| s.contains("input: gain +6.0 dB · policy fixed"));
    assert!(s.contains("x = s0·y"), "fixed policy in words: {s}");
    t.wait_for("a certificate at +6 dB, fixed", |s| !cert_rows(s, "+6 dB, fixed").is_empty());
    // A window certified wholly at the new setting (a steady one) before the policy changes.
    t.wait_for("the median SNR_cert at +6 dB, fixed", |s| s.lines().any(|l| l.contains("median SNR_cert by setting") && l.contains("fixed +6 dB")));

    // Next policy: RMS normalization, named and described.
    t.keys(&["p"]);
    let s = t.wait_for("the rms policy", |s| s.contains("policy rms = RMS normalization"));
    assert!(s.contains("input: gain +6.0 dB"), "{s}");
    t.wait_for("a certificate under rms", |s| s.lines().any(|l| l.contains("+6 dB, rms")));
    t.wait_for("the median SNR_cert of two settings", |s| {
        s.lines().any(|l| l.contains("median SNR_cert by setting") && l.contains("fixed +0 dB") && l.contains("fixed +6 dB"))
    });

    // Resize: the UI lays itself out again and keeps running.
    t.tmux(&["resize-window", "-t", "ui", "-x", "90", "-y", "32"]);
    let s = t.wait_for("the UI at 90 columns", |s| s.lines().all(|l| l.chars().count() <= 90) && s.contains("top classes"));
    assert!(s.contains("input: gain +6.0 dB"), "{s}");

    // q: the terminal is back (no UI on screen), the summary printed, exit 0, not in raw mode.
    t.keys(&["q"]);
    let (s, modes) = shell_report(&t, "the shell after the UI");
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(!s.contains("log-mel spectrogram") && !s.contains("top classes"), "the UI's screen is still there:\n{s}");
    assert!(s.contains("heard:") && s.contains("windows certified online"), "{s}");
    assert!(s.contains("final input gain +6.0 dB, gain policy rms"), "{s}");
    assert!(modes.split_whitespace().any(|m| m == "icanon") && modes.split_whitespace().any(|m| m == "echo"), "terminal left in raw mode: {modes:?}\n{s}");
}

#[test]
fn ctrl_c_leaves_the_terminal_clean() {
    let bin = soundproof_bin();
    let t = Tmux::start("ctrlc", &demo_command(&bin, "--repeat 0 --no-certify"), (100, 36));
    t.wait_for("the first label", |s| s.contains("top classes") && s.contains("p 0."));
    t.keys(&["C-c"]);
    let (s, modes) = shell_report(&t, "the shell after Ctrl-C");
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(!s.contains("top classes"), "the UI's screen is still there:\n{s}");
    assert!(s.contains("heard:"), "{s}");
    assert!(modes.split_whitespace().any(|m| m == "icanon") && modes.split_whitespace().any(|m| m == "echo"), "terminal left in raw mode: {modes:?}\n{s}");
}
