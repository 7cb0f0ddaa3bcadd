//! `soundproof demo`: the shipped default model on the shipped demo recording, streamed in
//! real time through the pipeline, shown in the terminal UI (`tui`) or, with `--plain` or when
//! stdout is not a terminal, as a line per window and the heard sequence at the end.
//! `demo --events` does the same with the sound-event model and recording.

use anyhow::{bail, Context, Result};
use clap::Args;
use soundproof::audio::{AudioError, Pacing, Source};
use soundproof::model::Model;
use soundproof::pipeline::{self, Segmenter, LiveGain, LivePolicy, PipelineStats, StreamOptions, WindowResult};
use soundproof::window::{ClipGain, ClipWindow, WindowPlan};
use soundproof::smooth::{all_agree_radius, Budget, Contract, LookSchedule, OnlineBound, Plan, SmoothParams};
use std::time::Duration;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The default model and recording, relative to the repository root. The default is the model
/// that certifies strongest in real time: `kws-fsdd-strided`, built for what tract runs fastest
/// (about 4,900 noisy copies per second on two cores, R ≈ 0.90 of the n = 10,000 reference per
/// 1-s window, against ~750 copies and 0.74 for `kws-fsdd-int8`), and at least as accurate on
/// voices it never heard (leave-one-speaker-out 76.4 % against 75.2 %: models/README.md).
pub const DEFAULT_MODEL: &str = "models/kws-fsdd-strided.onnx";
/// The sample count of the reference radius a certificate line is compared with.
pub const REFERENCE_N: u64 = 10_000;
pub const DEFAULT_INPUT: &str = "models/demo/digits.wav";
/// The sound-event model and recording of `demo --events`.
pub const EVENTS_MODEL: &str = "models/esc10-resnet18-int8.onnx";
pub const EVENTS_INPUT: &str = "models/demo/events.wav";

#[derive(Args)]
pub struct DemoArgs {
    /// The sound-event demo: the ESC-10 model (models/esc10-resnet18-int8.onnx) on
    /// models/demo/events.wav (environmental sounds in sequence, CC0 clips from ESC-10).
    #[arg(long)]
    events: bool,
    /// Model [default: models/kws-fsdd-strided.onnx, the model that certifies strongest in real time].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Recording [default: models/demo/digits.wav: spoken digits from the FSDD test takes].
    #[arg(long)]
    input: Option<PathBuf>,
    /// Run as fast as possible instead of in real time.
    #[arg(long)]
    fast: bool,
    /// Play the recording this many times in a row (0: until stopped), to watch the gain knob.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    #[command(flatten)]
    live: LiveOptions,
    /// Windows whose loudest log-mel band is below this level (dB) count as silence.
    #[arg(long, default_value_t = -55.0)]
    gate_db: f32,
    /// Gain: calibration (the card's constant, default), clip-rms, or a number.
    #[arg(long, default_value = "calibration")]
    gain: String,
    #[command(flatten)]
    cert: CertOptions,
}

/// How a live stream is shown and its input gain set.
#[derive(Args, Clone)]
pub struct LiveOptions {
    /// Text lines (a line per window and per certificate) instead of the terminal UI. The UI is
    /// on by default when stdout is a terminal; otherwise the lines are printed.
    #[arg(long)]
    pub plain: bool,
    /// Input gain in dB: the input is scaled by 10^(dB/20) before the gain policy (the UI's
    /// + and - keys move it in 6 dB steps).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub gain_db: f32,
    /// Gain policy of the stream: fixed (x = s0·y, calibrated), rms (RMS normalization over the
    /// last window), peak (peak normalization), clip (an ADC clipping at full scale; x =
    /// s0·clamp(y)). The UI's p key cycles them.
    #[arg(long, default_value = "fixed")]
    pub policy: String,
}

impl LiveOptions {
    pub fn live_gain(&self) -> Result<LiveGain> {
        if !self.gain_db.is_finite() || self.gain_db.abs() > 60.0 {
            bail!("--gain-db {}: expected a value in [-60, 60]", self.gain_db);
        }
        Ok(LiveGain::new(self.gain_db, self.policy.parse::<LivePolicy>()?))
    }

    /// The terminal UI unless `--plain` or stdout is not a terminal.
    pub fn use_tui(&self) -> bool {
        use std::io::IsTerminal;
        !self.plain && std::io::stdout().is_terminal()
    }

    /// True when the input gain or policy is not the default (plain lines then name them).
    fn is_default(&self) -> bool {
        self.gain_db == 0.0 && self.policy == "fixed"
    }
}

/// Online certification of the stream's windows (randomized smoothing under a time budget).
#[derive(Args, Clone)]
pub struct CertOptions {
    /// Do not certify windows.
    #[arg(long)]
    no_certify: bool,
    /// Contract: waveform, feature, post:rms, post:clip, post:peak.
    #[arg(long, default_value = "waveform")]
    contract: String,
    /// Noise σ [default: the model's training σ].
    #[arg(long)]
    sigma: Option<f64>,
    /// Certify every k-th window [default: window / hop, i.e. non-overlapping windows].
    #[arg(long)]
    certify_every: Option<u64>,
    /// Time budget per certified window, ms [default: 90 % of the time between certified windows].
    #[arg(long)]
    budget_ms: Option<f64>,
    #[arg(long, default_value_t = 32)]
    n0: u64,
    /// Largest n of a window (the planned n is capped here; the look schedule doubles from 64 to it).
    #[arg(long, default_value_t = 10_000)]
    n_max: u64,
    /// Online bound: `planned` (n fixed before sampling from the measured throughput, one
    /// Clopper-Pearson bound at the full α) or `looks` (doubling looks, α split across them).
    #[arg(long, default_value = "planned", value_parser = ["planned", "looks"])]
    bound: String,
    /// Certifier workers sharing each window's noisy copies [default: the CPU cores].
    #[arg(long)]
    workers: Option<usize>,
    #[arg(long, default_value_t = 0.001)]
    alpha: f64,
    /// Noisy copies per model run (speed only; tract runs these models fastest one at a time,
    /// see BENCHMARKS.md).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl CertOptions {
    /// The pipeline's online-certification settings for `model` (None with --no-certify).
    pub fn online(&self, model: &Model, gain_policy: soundproof::smooth::GainRecord) -> Result<Option<pipeline::OnlineCertify>> {
        if self.no_certify {
            return Ok(None);
        }
        let card = model.card();
        let sigma = self.sigma.unwrap_or(if card.training.noise_sigma > 0.0 { card.training.sigma() } else { 0.005 });
        let every = self.certify_every.unwrap_or((card.window_samples / card.hop_samples.max(1)).max(1) as u64).max(1);
        let budget_ms = self.budget_ms.unwrap_or(0.9 * every as f64 * card.hop_s * 1e3);
        let params = SmoothParams { sigma, n0: self.n0, n: self.n_max, alpha: self.alpha, batch: self.batch, seed: self.seed };
        params.validate()?;
        Ok(Some(pipeline::OnlineCertify {
            contract: self.contract.parse::<Contract>()?,
            params,
            bound: if self.bound == "looks" {
                OnlineBound::Looks(LookSchedule::doubling(64, self.n_max))
            } else {
                OnlineBound::Planned(Plan::default())
            },
            budget: Budget { time: Some(Duration::from_secs_f64(budget_ms.max(0.0) / 1e3)) },
            workers: self.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1),
            every,
            gain_policy,
        }))
    }
}

/// A certificate's line, printed when the certifier delivers it: the label, R, its ratio to
/// the reference radius (what n = 10,000 copies certify when all agree, at the same σ and α:
/// `smooth::all_agree_radius`), n and the time taken; it names the input gain and policy when
/// `setting` is true.
pub fn print_certificate_with(w: &pipeline::CertifiedWindow, setting: bool) {
    let c = &w.certificate;
    let reference = all_agree_radius(c.sigma, REFERENCE_N, c.alpha);
    let what = match &c.label {
        Some(l) => format!(
            "✓ {l} R = {:.4} = {:.2} × R_ref(n = {REFERENCE_N}) {:.4}{}",
            c.radius,
            c.radius / reference,
            reference,
            c.snr_cert_db.map(|s| format!(", SNR_cert {s:.1} dB")).unwrap_or_default()
        ),
        None => format!("abstain (pA ≥ {:.3})", c.p_a_lower),
    };
    let input = match w.input {
        Some(i) if setting => format!("  [input {:+.1} dB, {}{}]", i.gain_db, i.policy.name(), if i.steady { "" } else { ", changing" }),
        _ => String::new(),
    };
    println!("          certified [{:6.2} – {:6.2}]  {what}  (n = {}, {:.0} ms){input}", w.start_s, w.end_s, c.samples, 1e3 * c.seconds);
    let _ = std::io::stdout().flush();
}

/// Finds a shipped file from the current folder or, failing that, from the source tree.
pub fn shipped(rel: &str) -> PathBuf {
    let here = PathBuf::from(rel);
    if here.exists() {
        return here;
    }
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    if tree.exists() {
        tree
    } else {
        here
    }
}

/// Prints the window's line, and the segment it closes in `seg`, if any.
pub fn print_window_segment(seg: &mut Segmenter, w: &WindowResult, gate_db: f32) {
    print_window(w, gate_db);
    if let Some(s) = seg.push(w) {
        println!("          heard {} (from {:.2} s, mean p {:.2})", s.label, s.start_s, s.mean_probability);
    }
}

pub fn print_window(w: &WindowResult, gate_db: f32) {
    let voiced = w.level_db.is_none_or(|l| l >= gate_db);
    if voiced {
        let bar = "#".repeat((w.score * 20.0).round() as usize);
        println!("{:7.2} s  [{:6.2} – {:6.2}]  {:>8}  {:.3}  {bar}", w.end_s, w.start_s, w.end_s, w.label_name, w.score);
    } else {
        println!("{:7.2} s  [{:6.2} – {:6.2}]  {:>8}", w.end_s, w.start_s, w.end_s, "·");
    }
    let _ = std::io::stdout().flush();
}

pub fn print_stats(stats: &PipelineStats) {
    println!(
        "{} windows, {} dropped, {} audio overruns; inference {:.2} ms/window (median), audio-in → label-out {:.2} ms median, {:.2} ms max",
        stats.windows,
        stats.dropped_windows,
        stats.audio_overruns,
        stats.inference_ms_median.unwrap_or(f64::NAN),
        stats.latency_ms_median.unwrap_or(f64::NAN),
        stats.latency_ms_max.unwrap_or(f64::NAN)
    );
}

/// A clip in memory played `repeat` times in a row (0: until stopped): the demo's source when
/// it repeats (reading the file once keeps file I/O out of the audio producer).
struct LoopSource {
    samples: Vec<f32>,
    rate: u32,
    pos: usize,
    left: Option<u32>,
}

impl Source for LoopSource {
    fn sample_rate(&self) -> u32 {
        self.rate
    }
    fn read(&mut self, buf: &mut [f32]) -> std::result::Result<usize, AudioError> {
        let mut k = 0;
        while k < buf.len() && !self.samples.is_empty() {
            if self.pos == self.samples.len() {
                match &mut self.left {
                    Some(0) | Some(1) => break,
                    Some(n) => *n -= 1,
                    None => {}
                }
                self.pos = 0;
            }
            let m = (buf.len() - k).min(self.samples.len() - self.pos);
            buf[k..k + m].copy_from_slice(&self.samples[self.pos..self.pos + m]);
            self.pos += m;
            k += m;
        }
        Ok(k)
    }
}

pub fn run(a: DemoArgs) -> Result<()> {
    let (default_model, default_input) = if a.events { (EVENTS_MODEL, EVENTS_INPUT) } else { (DEFAULT_MODEL, DEFAULT_INPUT) };
    let model_path = a.model.clone().unwrap_or_else(|| shipped(default_model));
    let input = a.input.clone().unwrap_or_else(|| shipped(default_input));
    if !model_path.exists() {
        bail!(
            "{}: model not found: the default model is exported into models/ by soundproof-tools \
             (see README, Training); run from the repository root, or pass --model M.onnx",
            model_path.display()
        );
    }
    let model = Model::load(&model_path)?;
    // The input is opened (and its header read) before anything is printed: a missing or
    // malformed file is the first and only thing the user sees.
    soundproof::audio::WavSource::open(&input).context("--input")?;
    let gain = crate::classify::parse_gain(&a.gain)?;
    let live = a.live.live_gain()?;
    let tui = a.live.use_tui();
    let card = model.card();
    let certify = a.cert.online(&model, gain.into())?;
    if !tui {
        println!(
            "soundproof demo: {} ({}, {:?}, {} labels) on {}{}",
            card.name,
            card.architecture,
            card.precision,
            card.labels.len(),
            input.display(),
            if a.fast { "" } else { " in real time" }
        );
        println!("window {:.2} s, hop {:.2} s; a line per window: time, span, label, score", card.window_s, card.hop_s);
        if !a.live.is_default() {
            println!("input gain {:+.1} dB, gain policy {}", live.gain_db(), live.policy().describe());
        }
        if let Some(c) = &certify {
            let bound = match &c.bound {
                OnlineBound::Planned(_) => format!("n planned from the measured throughput (≤ {}), Clopper-Pearson at the full α", c.params.n),
                OnlineBound::Looks(s) => format!("looks {:?} (Bonferroni α/{})", s.looks, s.looks.len()),
            };
            println!(
                "certifying every {} window(s) online on {} worker(s): contract {}, σ = {}, α = {}, budget {:.0} ms, {bound}; ✓ label R = L2 radius in waveform space after the gain, R_ref = σΦ⁻¹(α^(1/{REFERENCE_N})) = {:.4} (all of n = {REFERENCE_N} agreeing), SNR_cert = 20·log10(‖x‖/R)",
                c.every,
                c.workers,
                c.contract,
                c.params.sigma,
                c.params.alpha,
                c.budget.time.map(|t| t.as_secs_f64() * 1e3).unwrap_or(f64::NAN),
                all_agree_radius(c.params.sigma, REFERENCE_N, c.params.alpha)
            );
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, std::sync::atomic::Ordering::Relaxed));
    }
    let s0 = match gain {
        ClipGain::Fixed(g) => g,
        _ => card.normalization.calibration_gain,
    };
    let header = if tui { Some(crate::tui::header("soundproof demo", &model, &input.display().to_string(), a.gate_db, certify.as_ref(), s0)?) } else { None };
    let opts = StreamOptions {
        pacing: if a.fast { Pacing::Unpaced } else { Pacing::RealTime { speed: 1.0 } },
        max_pending_windows: if certify.is_some() { 8 } else { 4 },
        stop: Some(stop.clone()),
        drop_when_behind: !a.fast,
        certify,
    };
    let stream = |on_result: &mut (dyn FnMut(&WindowResult) + Send), on_cert: &mut (dyn FnMut(&pipeline::CertifiedWindow) + Send)| {
        if a.repeat == 1 {
            return pipeline::stream_file_live(&model, &input, gain, &opts, Some(&live), on_result, on_cert)
                .with_context(|| format!("streaming {}", input.display()));
        }
        let sr = card.features.sample_rate();
        let window = ClipWindow::of(card);
        let samples = window.read(&input)?;
        let g = window.gain(&samples, gain)?;
        let padding = WindowPlan::of(&model)?.padding(samples.len());
        let mut src = LoopSource { samples, rate: sr, pos: 0, left: (a.repeat > 0).then_some(a.repeat) };
        pipeline::run_stream_live(&model, &mut src, g, padding, &opts, Some(&live), on_result, on_cert)
            .with_context(|| format!("streaming {}", input.display()))
    };
    match header {
        Some(h) => crate::tui::run_stream(h, &model, &live, &stop, Box::new(|| None), stream),
        None => run_plain(&model, &a.live, a.gate_db, &stop, stream),
    }
}

/// Plain mode: a line per window and per certificate, the summary at the end.
pub fn run_plain<F>(model: &Model, lo: &LiveOptions, gate: f32, _stop: &AtomicBool, stream: F) -> Result<()>
where
    F: FnOnce(&mut (dyn FnMut(&WindowResult) + Send), &mut (dyn FnMut(&pipeline::CertifiedWindow) + Send)) -> Result<PipelineStats>,
{
    let mut seg = Segmenter::new(model.labels(), gate);
    let mut certs = Vec::new();
    let setting = !lo.is_default();
    let mut on_certificate = |w: &pipeline::CertifiedWindow| {
        print_certificate_with(w, setting);
        certs.push(w.certificate.clone());
    };
    let mut on_result = |w: &WindowResult| print_window_segment(&mut seg, w, gate);
    let stats = stream(&mut on_result, &mut on_certificate)?;
    print_summary(&mut seg, &certs, &stats);
    if stats.stopped_early {
        println!("(stopped by Ctrl-C)");
    }
    Ok(())
}

/// End of a stream: the last open segment, the heard sequence, pipeline and certificate
/// statistics.
pub fn print_summary(seg: &mut Segmenter, certs: &[soundproof::smooth::Certificate], stats: &PipelineStats) {
    if let Some(s) = seg.close() {
        println!("          heard {} (from {:.2} s, mean p {:.2})", s.label, s.start_s, s.mean_probability);
    }
    let seq: Vec<&str> = seg.heard.iter().map(|s| s.label.as_str()).collect();
    println!();
    println!("heard: {}", seq.join(" "));
    print_stats(stats);
    print_cert_stats(certs, stats);
}

/// Summary of the online certificates of a stream.
pub fn print_cert_stats(certs: &[soundproof::smooth::Certificate], stats: &PipelineStats) {
    if certs.is_empty() && stats.certifications_skipped == 0 {
        return;
    }
    if certs.is_empty() {
        println!("no window certified ({} skipped: the certifier was busy)", stats.certifications_skipped);
        return;
    }
    let certified: Vec<&soundproof::smooth::Certificate> = certs.iter().filter(|c| !c.abstained()).collect();
    use soundproof::stats::median;
    let radius = median(&mut certified.iter().map(|c| c.radius).collect::<Vec<_>>());
    let secs = median(&mut certs.iter().map(|c| c.seconds).collect::<Vec<_>>()).unwrap_or(f64::NAN);
    let n = median(&mut certs.iter().map(|c| c.samples as f64).collect::<Vec<_>>()).unwrap_or(f64::NAN);
    let reference = all_agree_radius(certs[0].sigma, REFERENCE_N, certs[0].alpha);
    println!(
        "{} windows certified online ({} skipped while the certifier was busy): {} with a radius, {} abstained; median radius {} ({} of R_ref(n = {REFERENCE_N}) = {reference:.4}), median n {}, median time {:.0} ms",
        certs.len(),
        stats.certifications_skipped,
        certified.len(),
        certs.len() - certified.len(),
        radius.map(|r| format!("{r:.4}")).unwrap_or_else(|| "—".into()),
        radius.map(|r| format!("{:.2}", r / reference)).unwrap_or_else(|| "—".into()),
        n,
        1e3 * secs
    );
}
