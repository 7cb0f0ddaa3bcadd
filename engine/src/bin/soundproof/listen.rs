//! `soundproof listen` and `soundproof devices` (feature `mic`): the default model on a live
//! input device, in the terminal UI (or a line per window with `--plain` or when stdout is not
//! a terminal), until Ctrl-C, `q` or `--seconds`.

use anyhow::{bail, Result};
use clap::Args;
use soundproof::audio::{list_input_devices, MicOptions, MicSource, Pacing};
use soundproof::model::Model;
use soundproof::pipeline::{self, StreamOptions};
use soundproof::window::{ClipGain, ClipWindow};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::demo::{shipped, CertOptions, LiveOptions, DEFAULT_MODEL};

#[derive(Args)]
pub struct ListenArgs {
    /// Model [default: models/kws-fsdd-strided.onnx, the model that certifies strongest in real time].
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
    live: LiveOptions,
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
    if gain == ClipGain::ClipRms {
        bail!("--gain clip-rms needs the whole clip; a live stream uses the calibration constant or a fixed gain");
    }
    let g = ClipWindow::of(model.card()).gain(&[], gain)?;
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
    let gate = a.gate_db;
    let certify = a.cert.online(&model, gain.into())?;
    let live = a.live.live_gain()?;
    let header = if a.live.use_tui() {
        Some(crate::tui::header(&format!("soundproof listen · {}", mic.device_name()), &model, "live input", gate, certify.as_ref(), g)?)
    } else {
        None
    };
    let sopts = StreamOptions {
        pacing: Pacing::Unpaced,
        max_pending_windows: if certify.is_some() { 8 } else { 4 },
        stop: Some(stop.clone()),
        drop_when_behind: true,
        certify,
    };
    let stream = |on_result: &mut (dyn FnMut(&pipeline::WindowResult) + Send), on_cert: &mut (dyn FnMut(&pipeline::CertifiedWindow) + Send)| -> Result<pipeline::PipelineStats> {
        Ok(pipeline::run_stream_live(&model, &mut mic, g, (0, 0), &sopts, Some(&live), on_result, on_cert)?)
    };
    match header {
        Some(h) => {
            let m = monitor.clone();
            crate::tui::run_stream(h, &model, &live, &stop, Box::new(move || Some(m.stats().overruns)), stream)?
        }
        None => crate::demo::run_plain(&model, &a.live, gate, &stop, stream)?,
    }
    let m = monitor.stats();
    println!("device: {} frames captured, {} overruns ({} samples dropped), {} device xruns", m.captured_frames, m.overruns, m.dropped_samples, m.device_xruns);
    Ok(())
}
