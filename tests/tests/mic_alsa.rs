//! The microphone path against real ALSA devices, without a sound card: virtual capture
//! devices defined in a scratch `~/.asoundrc` play known audio into `MicSource`.
//!
//! Each device is ALSA's `file` plugin over the `null` plugin: `null` captures silence as fast
//! as it is asked, and `file` replaces what was captured with bytes read from `infile`. The
//! infile is a FIFO this test writes into, so the test plays the sound card: it decides what
//! is "recorded" and, by writing in 10 ms chunks, how fast. The bytes must be in the format
//! the device is opened with, which is the device's default configuration as `cpal` picks it
//! (for `null`: stereo f32 at 48 kHz); the test reads that configuration from
//! `list_input_devices` and encodes accordingly, so it also exercises the downmix and the
//! 48 → 16 kHz resampler.
//!
//! A third device, `soundproof_broken`, has no infile and writes its capture to `/dev/full`,
//! which refuses every write: ALSA turns that into an I/O error from `snd_pcm_readi`, as with a
//! failing sound card. (The FIFO devices write theirs to `/dev/null`.)
//!
//! Two rules keep ALSA from hanging the process: every FIFO is held open for writing for the
//! whole run (so opening it for reading never blocks and it never reaches end-of-file, which
//! the `file` plugin turns into zero-frame reads or stale data, depending on the alsa-lib
//! version), and a writer keeps feeding its FIFO
//! until the source reading it has been dropped (the backend thread sits in `read` on the
//! FIFO, and dropping the stream waits for that thread).
//!
//! The last two tests run the real `soundproof listen` binary as a child process on these
//! devices (the child finds them through the same scratch `HOME`): one feeds a device with the
//! shipped demo recording of spoken digits and checks what the CLI heard, the other points it
//! at the failing device and checks that it exits with an error instead of hanging. The FIFO
//! of the digits device is written without blocking (`O_NONBLOCK`), so that a child that never
//! reads it, or has exited, can never wedge the test's writer on a full pipe.
//!
//! Needs `libasound2` and the `mic` feature: `cargo test -p soundproof-tests --features mic
//! --test mic_alsa` (scripts/test.sh runs it).
#![cfg(feature = "mic")]

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use soundproof::audio::mic::{list_input_devices, InputConfig, MicOptions, MicSource};
use soundproof::audio::{AudioError, Source};
use soundproof_tests::{root, scratch, soundproof_bin};

const TARGET_RATE: u32 = 16_000;
/// Tone of the left channel and of the right channel: the mono mix holds both, at half level.
const LEFT: (f64, f64) = (440.0, 0.5);
const RIGHT: (f64, f64) = (1000.0, 0.3);

/// The virtual devices and the FIFOs behind them, set up once per test process.
struct Env {
    /// The scratch folder holding `.asoundrc` and the FIFOs: `HOME` of the test and its children.
    home: PathBuf,
    /// Write ends of the FIFOs, opened read-write so they are never without a writer.
    fifos: Vec<(&'static str, File)>,
    /// Write end of [`LISTEN_DEVICE`]'s FIFO: read-write like the others, and non-blocking.
    listen_fifo: File,
}

impl Env {
    fn fifo(&self, device: &str) -> &File {
        &self.fifos.iter().find(|(d, _)| *d == device).expect("a FIFO for this device").1
    }
}

/// Devices whose infile is a FIFO the tests feed.
const FIFO_DEVICES: [&str; 2] = ["soundproof_test", "soundproof_stall"];
/// A device that fails while capturing: the `file` plugin also writes what it captures to
/// `file`, and `/dev/full` refuses every write, which ALSA reports as an I/O error from
/// `snd_pcm_readi`, the same path a failing sound card takes.
const BROKEN_DEVICE: &str = "soundproof_broken";
/// The device `soundproof listen` captures the demo recording from.
const LISTEN_DEVICE: &str = "soundproof_digits";

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = scratch("mic_alsa");
        let mut conf = String::new();
        let mut fifo = |name: &str, flags: i32| {
            let path = dir.join(format!("{name}.fifo"));
            let status = Command::new("mkfifo").arg(&path).status().expect("run mkfifo");
            assert!(status.success(), "mkfifo {} failed", path.display());
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(flags)
                .open(&path)
                .expect("open the FIFO read-write");
            conf.push_str(&device_conf(name, "/dev/null", Some(&path)));
            file
        };
        let fifos = FIFO_DEVICES.map(|name| (name, fifo(name, 0))).into();
        let listen_fifo = fifo(LISTEN_DEVICE, libc::O_NONBLOCK);
        conf.push_str(&device_conf(BROKEN_DEVICE, "/dev/full", None));
        std::fs::write(dir.join(".asoundrc"), conf).expect("write .asoundrc");
        // ALSA reads `~/.asoundrc` (every alsa-lib version does) when it first loads its
        // configuration, which no test has done yet: they all come through here first.
        std::env::set_var("HOME", &dir);
        Env { home: dir, fifos, listen_fifo }
    })
}

fn device_conf(name: &str, file: &str, infile: Option<&Path>) -> String {
    let infile = infile.map(|p| format!("    infile \"{}\"\n", p.display())).unwrap_or_default();
    format!(
        r#"pcm.{name} {{
    type file
    slave.pcm "null"
    file "{file}"
{infile}    format "raw"
    hint {{ show on; description "soundproof test capture ({name})" }}
}}
"#
    )
}

/// The left/right test signal at frame `i` of a `rate` Hz stream.
fn frame(i: u64, rate: u32) -> [f64; 2] {
    let t = i as f64 / f64::from(rate);
    let tone = |(f, a): (f64, f64)| a * (2.0 * std::f64::consts::PI * f * t).sin();
    [tone(LEFT), tone(RIGHT)]
}

/// What the mono mix at `rate` Hz should be at sample `m`.
fn expected_mono(m: usize, rate: u32) -> f64 {
    let [l, r] = frame(m as u64, rate);
    (l + r) / 2.0
}

/// Raw interleaved bytes of `frames` frames from `start`, in the device's format; channels
/// beyond two repeat the left one (a stereo signal in a 4-channel device would still average
/// to a known mix, but the devices here are stereo or mono).
fn encode(config: &InputConfig, start: u64, frames: usize, silent: bool, out: &mut Vec<u8>) {
    out.clear();
    for i in start..start + frames as u64 {
        let lr = if silent { [0.0, 0.0] } else { frame(i, config.sample_rate) };
        encode_frame(config, lr, out);
    }
}

/// Appends one frame holding left/right values `lr` in the device's format (a mono device
/// gets their mean).
fn encode_frame(config: &InputConfig, lr: [f64; 2], out: &mut Vec<u8>) {
    for c in 0..usize::from(config.channels) {
        let v = match config.channels {
            1 => (lr[0] + lr[1]) / 2.0,
            _ => lr[c.min(1)],
        };
        match config.sample_format.as_str() {
            "f32" => out.extend_from_slice(&(v as f32).to_le_bytes()),
            "f64" => out.extend_from_slice(&v.to_le_bytes()),
            "i16" => out.extend_from_slice(&((v * 32768.0).round().clamp(-32768.0, 32767.0) as i16).to_le_bytes()),
            "i32" => out.extend_from_slice(&((v * 2_147_483_648.0).round() as i32).to_le_bytes()),
            other => panic!("the test does not encode sample format {other}; extend `encode_frame`"),
        }
    }
}

/// Feeds a FIFO like a sound card: `signal_s` seconds of the test signal, then silence, in
/// 10 ms chunks at about real time, until `done`. After `pause_after` seconds of audio it
/// stops writing (a device gone quiet), reports the moment on `paused`, and waits for `resume`.
struct Writer {
    done: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Writer {
    fn start(
        fifo: &'static File,
        config: InputConfig,
        signal_s: f64,
        pause_after: Option<(f64, mpsc::Sender<Instant>, mpsc::Receiver<()>)>,
    ) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let handle = thread::spawn(move || {
            let rate = config.sample_rate;
            let chunk = (rate / 100).max(1) as usize;
            let signal_frames = (signal_s * f64::from(rate)) as u64;
            let mut bytes = Vec::new();
            let mut pos = 0u64;
            let mut pause = pause_after;
            // Frame `pos` is due at `clock + pos / rate`.
            let mut clock = Instant::now();
            let mut fifo = fifo;
            while !stop.load(Ordering::Acquire) {
                if let Some((after, paused, resume)) = &pause {
                    if pos as f64 >= after * f64::from(rate) {
                        // The test may be gone (it failed): go on writing either way, so
                        // that the stream reading the FIFO can still be dropped.
                        let _ = paused.send(Instant::now());
                        let _ = resume.recv();
                        pause = None;
                        // Resume at real time, not in a burst that catches up on the pause:
                        // a burst could fill the pipe after the reader is gone, and block.
                        clock = Instant::now() - Duration::from_secs_f64(pos as f64 / f64::from(rate));
                    }
                }
                encode(&config, pos, chunk, pos >= signal_frames, &mut bytes);
                fifo.write_all(&bytes).expect("write to the FIFO");
                pos += chunk as u64;
                // About real time, so that the pipe never fills: once the source is dropped
                // nothing reads it, and a write into a full pipe would block for good.
                let due = Duration::from_secs_f64(pos as f64 / f64::from(rate));
                if let Some(wait) = due.checked_sub(clock.elapsed()) {
                    thread::sleep(wait);
                }
            }
        });
        Writer { done, handle: Some(handle) }
    }
}

/// Stops the writer. Declare the writer before the source that reads its FIFO, so that the
/// source is dropped first, also when a test fails.
impl Drop for Writer {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn config_of(device: &str) -> InputConfig {
    let devices = list_input_devices().expect("list input devices");
    let info = devices
        .iter()
        .find(|d| d.name == device)
        .unwrap_or_else(|| panic!("{device} not listed; devices: {devices:#?}"));
    assert!(!info.is_default);
    assert!(info.description.contains("soundproof test capture"), "{info:?}");
    info.default_config.clone().unwrap_or_else(|| panic!("{device}: no default config: {:?}", info.error))
}

fn read_exactly(src: &mut MicSource, n: usize) -> Result<Vec<f32>, AudioError> {
    let mut out = vec![0.0f32; n];
    let mut got = 0;
    while got < n {
        let k = src.read(&mut out[got..])?;
        assert!(k > 0, "the stream ended after {got} samples");
        got += k;
    }
    Ok(out)
}

/// Lag (in samples, within ±`max_lag`) at which `got` best matches `want`, by normalized
/// cross-correlation over `got[range]`.
fn best_lag(got: &[f32], want: impl Fn(usize) -> f64, range: std::ops::Range<usize>, max_lag: usize) -> (isize, f64) {
    let mut best = (0isize, f64::MIN);
    for lag in -(max_lag as isize)..=max_lag as isize {
        let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
        for m in range.clone() {
            let x = f64::from(got[m]);
            let y = want((m as isize + lag) as usize);
            xy += x * y;
            xx += x * x;
            yy += y * y;
        }
        let r = xy / (xx * yy).sqrt().max(1e-30);
        if r > best.1 {
            best = (lag, r);
        }
    }
    best
}

/// Least-squares amplitude of the `f` Hz component of `x` (a `rate` Hz signal).
fn amplitude(x: &[f32], f: f64, rate: u32, offset: usize) -> f64 {
    let w = 2.0 * std::f64::consts::PI * f / f64::from(rate);
    let (mut s, mut c) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let ph = w * (i + offset) as f64;
        s += f64::from(v) * ph.sin();
        c += f64::from(v) * ph.cos();
    }
    2.0 * (s * s + c * c).sqrt() / x.len() as f64
}

#[test]
fn captures_a_known_signal_from_a_virtual_alsa_device() {
    let env = env();
    let device = FIFO_DEVICES[0];
    let config = config_of(device);
    println!("{device}: default config {config:?}");

    // Written before the capture starts, the first bytes wait in the FIFO: nothing reads it
    // until the stream runs, so the capture still starts at the signal's first frame.
    let writer = Writer::start(env.fifo(device), config.clone(), 3.0, None);
    let mut src = MicSource::open(Some(device), TARGET_RATE).expect("open the virtual device");
    assert_eq!(src.device_name(), device);
    assert_eq!(src.device_config(), &config);
    assert_eq!(src.sample_rate(), TARGET_RATE);

    let started = Instant::now();
    let got = read_exactly(&mut src, TARGET_RATE as usize);
    let elapsed = started.elapsed();
    let stats = src.stats();
    drop(src);
    drop(writer);
    let got = got.expect("capture one second");
    println!("read 1 s in {elapsed:?}; device stats {stats:?}");

    assert_eq!((stats.overruns, stats.dropped_samples), (0, 0), "{stats:?}");
    assert!(stats.captured_frames >= u64::from(config.sample_rate), "{stats:?}");

    // Skip the first 50 ms: the resampler sees the signal switch on at t = 0, and its filter
    // rings there like it would on any clip that starts abruptly.
    let check = 800..got.len();
    let want = |m: usize| expected_mono(m, TARGET_RATE);
    let (lag, r) = best_lag(&got, want, check.clone(), 64);
    println!("cross-correlation peak: lag {lag} samples, r = {r:.6}");
    assert_eq!(lag, 0, "the capture is shifted by {lag} samples");
    assert!(r > 0.9999, "correlation {r}");

    let (mut max_err, mut sq) = (0.0f64, 0.0f64);
    for m in check.clone() {
        let e = (f64::from(got[m]) - want(m)).abs();
        max_err = max_err.max(e);
        sq += e * e;
    }
    let rms = (sq / check.len() as f64).sqrt();
    println!("capture vs analytic mix: max |error| {max_err:.2e}, rms {rms:.2e}");
    // f32 on the device: only the resampler's error (≈1e-5 in band); integer formats add
    // their quantization step.
    assert!(max_err < 1e-3, "max error {max_err}");

    let tail = &got[check.clone()];
    let (a440, a1000) =
        (amplitude(tail, LEFT.0, TARGET_RATE, check.start), amplitude(tail, RIGHT.0, TARGET_RATE, check.start));
    println!("amplitudes: 440 Hz {a440:.4} (want {}), 1000 Hz {a1000:.4} (want {})", LEFT.1 / 2.0, RIGHT.1 / 2.0);
    assert!((a440 - LEFT.1 / 2.0).abs() < 2e-3 && (a1000 - RIGHT.1 / 2.0).abs() < 2e-3);
}

#[test]
fn an_unknown_device_name_lists_the_available_devices() {
    env();
    let err = MicSource::open(Some("no_such_microphone"), TARGET_RATE).expect_err("no such device");
    let msg = err.to_string();
    println!("{msg}");
    match &err {
        AudioError::DeviceNotFound { name, available } => {
            assert_eq!(name, "no_such_microphone");
            for d in FIFO_DEVICES.iter().chain([&BROKEN_DEVICE]) {
                assert!(available.iter().any(|a| a == d), "{d} missing from {available:?}");
            }
        }
        other => panic!("expected DeviceNotFound, got {other:?}"),
    }
    assert!(msg.contains("no_such_microphone") && msg.contains("soundproof_test") && msg.contains("soundproof_broken"));
}

#[test]
fn a_failing_device_ends_the_stream_with_an_error() {
    env();
    let mut src = MicSource::open(Some(BROKEN_DEVICE), TARGET_RATE).expect("opening works; reading fails");
    let started = Instant::now();
    // Silence arrives first (the failure shows once the plugin flushes its first write); read
    // until the error, for at most ten seconds of audio.
    let mut buf = vec![0.0f32; 1600];
    let mut samples = 0usize;
    let err = loop {
        match src.read(&mut buf) {
            Ok(0) => panic!("the stream ended instead of failing"),
            Ok(n) => samples += n,
            Err(e) => break e,
        }
        assert!(samples < 10 * TARGET_RATE as usize, "no error after {samples} samples");
    };
    let waited = started.elapsed();
    let msg = err.to_string();
    println!("after {waited:?} and {samples} samples: {msg}");
    assert!(matches!(err, AudioError::Device { .. }), "{err:?}");
    assert!(msg.contains(BROKEN_DEVICE), "{msg}");
    // The device's own failure, not the stall timeout's report: the error was seen when it
    // happened (bounded above by the samples read, not by a clock a busy machine stretches).
    assert!(!msg.contains("no audio from the device"), "{msg}");
    // The stream stays over, and dropping the source releases the device (a drop that hung
    // would hold the test until the generous bound).
    assert!(src.read(&mut [0.0; 16]).is_err());
    let dropping = Instant::now();
    drop(src);
    assert!(dropping.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_device_that_goes_quiet_is_reported_lost_not_waited_on() {
    let env = env();
    let device = FIFO_DEVICES[1];
    let config = config_of(device);
    let options = MicOptions { stall_timeout: Duration::from_millis(500), ..MicOptions::default() };
    let (paused_tx, paused_rx) = mpsc::channel();
    let (resume_tx, resume_rx) = mpsc::channel();
    let writer = Writer::start(env.fifo(device), config, 10.0, Some((0.4, paused_tx, resume_rx)));
    let mut src = MicSource::open_with(Some(device), TARGET_RATE, options).expect("open the virtual device");

    let mut buf = vec![0.0f32; 1600];
    let mut samples = 0usize;
    let err = loop {
        match src.read(&mut buf) {
            Ok(0) => panic!("the stream ended instead of failing"),
            Ok(n) => samples += n,
            Err(e) => break e,
        }
    };
    let failed_at = Instant::now();
    let paused_at = paused_rx.recv_timeout(Duration::from_secs(5)).expect("the writer paused");
    let msg = err.to_string();
    println!("{samples} samples, then after the device went quiet for {:?}: {msg}", failed_at - paused_at);
    assert!(msg.contains(device) && msg.contains("no audio from the device"), "{msg}");
    // 0.4 s of audio at 16 kHz, less what the resampler still held.
    assert!(samples > 4000, "{samples}");
    // The writer stays paused until told: without the stall timeout the read would wait for
    // ever. The bound is only there to fail rather than hang, with room for a loaded machine.
    let quiet = failed_at - paused_at;
    assert!(quiet < Duration::from_secs(20), "the loss took {quiet:?} to report");

    // Let the backend thread out of its read before the stream is dropped.
    resume_tx.send(()).expect("writer waits");
    drop(src);
    drop(writer);
}

/// How fast [`Feeder`] plays its recording: 1.0 is real time, as a microphone delivers it.
/// `listen` reads the device unpaced and drops windows when inference falls behind, so a
/// faster feed only works while the pipeline keeps up; real time keeps the test independent
/// of how loaded the machine is, at the price of lasting as long as the recording.
const FEED_SPEED: f64 = 1.0;
/// How far [`Feeder`] may fall behind its clock (while the pipe is full: the reader has not
/// started yet) before it moves the clock instead of catching up in a burst.
const FEED_MAX_LAG: Duration = Duration::from_millis(50);

/// What a [`Feeder`] did.
#[derive(Debug)]
struct FeedReport {
    /// Frames written into the FIFO (the recording, then silence).
    frames: u64,
    /// Frames of the recording.
    signal_frames: u64,
    /// Time spent waiting on a full pipe (before the reader started, after it stopped, or
    /// while it fell behind).
    waited_on_full_pipe: Duration,
}

/// Plays a mono recording (at the device rate) into a non-blocking FIFO like a sound card:
/// 10 ms chunks at [`FEED_SPEED`] times real time, then silence until stopped. A full pipe
/// makes it wait, never block, so it always stops when told.
struct Feeder {
    done: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<FeedReport>>,
}

impl Feeder {
    fn start(fifo: &'static File, config: InputConfig, signal: Vec<f32>) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let handle = thread::spawn(move || {
            let rate = f64::from(config.sample_rate);
            let chunk = (config.sample_rate / 100).max(1) as u64;
            let mut report =
                FeedReport { frames: 0, signal_frames: signal.len() as u64, waited_on_full_pipe: Duration::ZERO };
            let (mut bytes, mut written) = (Vec::new(), 0usize);
            // Frame `frames` is due at `clock + frames / rate / FEED_SPEED`.
            let mut clock = Instant::now();
            let mut fifo = fifo;
            while !stop.load(Ordering::Acquire) {
                if written == bytes.len() {
                    bytes.clear();
                    written = 0;
                    for i in report.frames..report.frames + chunk {
                        let v = signal.get(i as usize).map_or(0.0, |&v| f64::from(v));
                        encode_frame(&config, [v, v], &mut bytes);
                    }
                    report.frames += chunk;
                }
                match fifo.write(&bytes[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        let t = Instant::now();
                        thread::sleep(Duration::from_millis(1));
                        report.waited_on_full_pipe += t.elapsed();
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => panic!("write to the FIFO: {e}"),
                }
                if written < bytes.len() {
                    continue; // the pipe took part of the chunk: the rest when it has room
                }
                let due = Duration::from_secs_f64(report.frames as f64 / rate / FEED_SPEED);
                let elapsed = clock.elapsed();
                if let Some(wait) = due.checked_sub(elapsed) {
                    thread::sleep(wait);
                } else if elapsed - due > FEED_MAX_LAG {
                    // A sound card does not make up for time nobody read it: go on in real
                    // time from here rather than flood the reader.
                    clock = Instant::now() - due;
                }
            }
            report
        });
        Feeder { done, handle: Some(handle) }
    }

    fn stop(mut self) -> FeedReport {
        self.done.store(true, Ordering::Release);
        self.handle.take().expect("running").join().expect("the feeder thread panicked")
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A finished child process.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs `cmd` with its output collected (by threads, so a full pipe never stalls it); kills it
/// and fails the test with what it printed if it is still running after `timeout`.
fn run_bounded(mut cmd: Command, timeout: Duration) -> Run {
    let started = Instant::now();
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start soundproof");
    fn collect(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
        thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        })
    }
    let out = collect(child.stdout.take().expect("piped stdout"));
    let err = collect(child.stderr.take().expect("piped stderr"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for soundproof") {
            break Some(status);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let (stdout, stderr) = (out.join().expect("stdout reader"), err.join().expect("stderr reader"));
    let Some(status) = status else {
        panic!("{cmd:?} still ran after {timeout:?}: killed it\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}");
    };
    Run { status, stdout, stderr, elapsed }
}

/// `text` with runs of identical lines shown once, with their count.
fn squeeze(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let mut n = 1;
        while lines.next_if_eq(&line).is_some() {
            n += 1;
        }
        out.push_str(line);
        if n > 1 {
            out.push_str(&format!("  (×{n})"));
        }
        out.push('\n');
    }
    out
}

/// `soundproof listen` on `device` for `seconds`, with the shipped default model, reading the
/// scratch ALSA configuration.
fn listen_command(env: &Env, device: &str, seconds: f64) -> Command {
    let mut cmd = Command::new(soundproof_bin());
    let model = root().join("models").join("kws-fsdd-int8.onnx");
    cmd.current_dir(root()).env("HOME", &env.home).arg("listen").arg("--model").arg(model);
    cmd.args(["--device", device, "--seconds", &seconds.to_string()]);
    cmd
}

#[test]
fn listen_hears_the_spoken_digits_played_into_a_virtual_alsa_device() {
    let env = env();
    let config = config_of(LISTEN_DEVICE);
    // Built (once per process) before the clock starts: a build is no part of the timeout.
    soundproof_bin();

    // The demo recording (8 kHz mono) at the device rate, through the engine's resampler: the
    // same filter `listen` then uses to bring the device rate to the model's 16 kHz.
    let clip = soundproof::audio::read_mono(root().join("models").join("demo").join("digits.wav"))
        .expect("read models/demo/digits.wav");
    let speech_s = clip.samples.len() as f64 / f64::from(clip.sample_rate);
    let signal = soundproof::audio::resample(&clip.samples, clip.sample_rate, config.sample_rate)
        .expect("resample the recording to the device rate");
    // One second of silence after the last digit: the Segmenter closes a word on a silent
    // window, and `listen` stops after this much audio. The feeder plays silence past it, so
    // the capture never waits on the FIFO (a device gone quiet is an error) however much
    // audio the resamplers hold back.
    let seconds = speech_s + 1.0;
    println!(
        "{LISTEN_DEVICE}: {config:?}; recording {speech_s:.2} s at {} Hz → {} frames at {} Hz; \
         listen --seconds {seconds}",
        clip.sample_rate,
        signal.len(),
        config.sample_rate
    );

    // The feeder starts first: its first chunks wait in the pipe until the capture reads them,
    // so the recording starts with the stream whenever `listen` gets there.
    let rate = config.sample_rate;
    let feeder = Feeder::start(&env.listen_fifo, config, signal);
    // Real time plus ample start-up time: a slow machine can only make this slower, and a
    // `listen` that waits forever is killed and reported with its output.
    let timeout = Duration::from_secs_f64(seconds / FEED_SPEED + 60.0);
    let run = run_bounded(listen_command(env, LISTEN_DEVICE, seconds), timeout);
    let fed = feeder.stop();
    let fed_s = fed.frames as f64 / f64::from(rate);
    let out = format!("--- stdout:\n{}\n--- stderr:\n{}", run.stdout, run.stderr);
    println!("{out}");
    println!("listen ran {:?} for {seconds:.2} s of audio; fed {fed_s:.2} s ({fed:?})", run.elapsed);

    assert!(run.status.success(), "listen failed ({}):\n{out}", run.status);
    assert!(run.stdout.contains(&format!("listening on {LISTEN_DEVICE} (")), "{out}");
    assert!(fed.frames >= fed.signal_frames, "the capture stopped before the recording was played:\n{out}");
    // The pipeline's and the device's own counts of lost audio (windows dropped because
    // inference fell behind, ring overruns): reported, not asserted, since they depend on the
    // machine's load; the recognized words below are what must hold.
    for line in run.stdout.lines().filter(|l| l.contains(" windows, ") || l.starts_with("device: ")) {
        println!("reported: {line}");
    }
    let heard: Vec<&str> = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("heard:"))
        .unwrap_or_else(|| panic!("no `heard:` line:\n{out}"))
        .split_whitespace()
        .collect();
    assert_eq!(heard, ["three", "one", "four", "one", "five", "nine", "two", "six"], "{out}");
}

#[test]
fn listen_on_a_failing_device_exits_with_an_error() {
    let env = env();
    soundproof_bin();
    // Asked for a minute of audio and given half of that to exit: a `listen` that outlived the
    // error, waiting for audio that never comes, would be killed and fail the test.
    let run = run_bounded(listen_command(env, BROKEN_DEVICE, 60.0), Duration::from_secs(30));
    // alsa-lib logs each refused write to /dev/full on stderr: one line per period.
    let stderr = squeeze(&run.stderr);
    println!("exit {} after {:?}\n--- stdout:\n{}\n--- stderr:\n{stderr}", run.status, run.elapsed, run.stdout);
    assert!(!run.status.success(), "listen succeeded on a failing device");
    let msg = run.stderr.lines().find(|l| l.starts_with("error: ")).expect("an `error:` line on stderr");
    assert!(msg.contains(BROKEN_DEVICE), "{msg}");
    assert!(!run.stdout.contains("heard:"), "{}", run.stdout);
}
