//! `soundproof listen` and `soundproof devices` (feature `mic`): the default model on a live
//! input device, a line per window, until Ctrl-C or `--seconds`.

use anyhow::{bail, Result};
use clap::Args;
use soundproof::audio::{list_input_devices, MicOptions, MicSource, Pacing};
use soundproof::model::Model;
use soundproof::pipeline::{self, clip_gain, StreamOptions};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::demo::{print_certificate, print_summary, shipped, CertOptions, Segmenter, DEFAULT_MODEL};

#[derive(Args)]
pub struct ListenArgs {
    /// Model [default: models/kws-fsdd-int8.onnx].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Input device name (see `soundproof devices`) [default: the system default input].
    #[arg(long)]
    device: Option<String>,
    /// Stop after this many seconds [default: until Ctrl-C].
    #[arg(long)]
    seconds: Option<f64>,
    /// Windows whose loudest central log-mel band is below this level (dB) count as silence.
    #[arg(long, default_value_t = -55.0)]
    gate_db: f32,
    /// Gain: calibration (the card's constant, default) or a number.
    #[arg(long, default_value = "calibration")]
    gain: String,
    #[command(flatten)]
    cert: CertOptions,
}

pub fn devices() -> Result<()> {
    let list = list_input_devices()?;
    if list.is_empty() {
        println!("no input devices found");
    }
    for d in list {
        let cfg = d
            .default_config
            .map(|c| format!("{} Hz, {} ch, {}", c.sample_rate, c.channels, c.sample_format))
            .unwrap_or_else(|| d.error.clone().unwrap_or_else(|| "no default configuration".into()));
        println!("{} {}  ({})  {cfg}", if d.is_default { "*" } else { " " }, d.name, d.description);
    }
    Ok(())
}

pub fn run(a: ListenArgs) -> Result<()> {
    let model_path = a.model.clone().unwrap_or_else(|| shipped(DEFAULT_MODEL));
    if !model_path.exists() {
        bail!("{}: model not found (pass --model)", model_path.display());
    }
    let model = Model::load(&model_path)?;
    let gain = crate::classify::parse_gain(&a.gain)?;
    if gain == pipeline::ClipGain::ClipRms {
        bail!("--gain clip-rms needs the whole clip; a live stream uses the calibration constant or a fixed gain");
    }
    let g = clip_gain(&model, &[], gain)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, std::sync::atomic::Ordering::Relaxed));
    }
    let opts = MicOptions {
        max_duration: a.seconds.map(Duration::from_secs_f64),
        stop: Some(stop.clone()),
        ..MicOptions::default()
    };
    let sr = model.card().features.sample_rate();
    let mut mic = MicSource::open_with(a.device.as_deref(), sr, opts)?;
    let monitor = mic.monitor();
    println!(
        "listening on {} ({} Hz, {} ch) with {} — Ctrl-C to stop",
        mic.device_name(),
        mic.device_config().sample_rate,
        mic.device_config().channels,
        model.card().name
    );
    let mut seg = Segmenter::new(model.labels(), a.gate_db);
    let gate = a.gate_db;
    let certify = a.cert.online(&model, crate::certify::gain_policy_name(gain))?;
    let sopts = StreamOptions {
        pacing: Pacing::Unpaced,
        max_pending_windows: if certify.is_some() { 8 } else { 4 },
        stop: Some(stop),
        drop_when_behind: true,
        certify,
    };
    let mut certs = Vec::new();
    let on_certificate = |w: &pipeline::CertifiedWindow| {
        print_certificate(w);
        certs.push(w.certificate.clone());
    };
    let stats = pipeline::run_stream_certified(
        &model,
        &mut mic,
        g,
        (0, 0),
        &sopts,
        |w| seg.print_window(w, gate),
        on_certificate,
    )?;
    print_summary(&mut seg, &certs, &stats);
    let m = monitor.stats();
    println!("device: {} frames captured, {} overruns ({} samples dropped), {} device xruns", m.captured_frames, m.overruns, m.dropped_samples, m.device_xruns);
    Ok(())
}
