//! The `attack` command's work: clips through the checkpoint's own pipeline (resample, crop or
//! pad to the window, clip gain to the target RMS), the attack in batches, and the outputs:
//! the adversarial inputs (`adversarial/NAME.wav`, 32-bit float at the model rate, the window
//! after the clip gain as the model saw it; or `adversarial/NAME.npy`, the log-mel map
//! `[1, frames, bins]`), the clean inputs in the same form (`clean/NAME.wav|npy`, so another
//! implementation can attack exactly the same inputs) and `report.json` (per example results
//! and the summary). In the waveform domain every example also gets its perturbation measured
//! against the clean clip's masking threshold (004), and, when asked, its fate in held-out
//! simulated rooms.

use super::psycho::{self, PsychoConfig};
use super::room::{self, RirPool, RoomDistribution};
use super::{attack_batch, Attack, AttackConfig, AttackKind, AttackTarget, BoxSpec, Domain, ExampleResult, OptParams, Summary};
use crate::device::derive_seed;
use crate::data::features::Featurizer;
use crate::error::{Result, ToolsError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use soundproof::audio::{write_wav, WavFormat};
use soundproof::shard::Shard;
use soundproof::smooth::report::RunInputs;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// One clip to attack.
#[derive(Debug, Clone)]
pub struct Clip {
    pub path: PathBuf,
    pub label: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: AttackConfig,
    pub domain: Domain,
    pub box_spec: BoxSpec,
    pub batch: usize,
    pub device: Device,
    pub quiet: bool,
    /// Write `plots/NAME.png`, the triptych of each example.
    pub plots: bool,
    /// Settings of JSMA, CW-L2 and L-BFGS.
    pub opt: OptParams,
    /// The psychoacoustic attacks' configuration (required for them; its masking framing is
    /// also used to measure the other waveform attacks).
    pub psycho: Option<PsychoConfig>,
    /// Held-out simulated rooms each adversarial example is played in (0: none).
    pub eval_rooms: usize,
    /// Seed of the held-out rooms.
    pub seed: u64,
    /// The share of the clips this run attacks: whole batches (`batch` clips) i, i + N, …, so
    /// every batch is one of the unsharded run's.
    pub shard: Shard,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Report {
    pub checkpoint: PathBuf,
    pub model: String,
    pub config: AttackConfig,
    /// The settings of the optimization attacks (JSMA, CW-L2, L-BFGS), when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<OptParams>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psycho: Option<PsychoConfig>,
    /// Held-out rooms of the room evaluation (none when not asked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eval_rooms: Vec<room::Room>,
    pub domain: Domain,
    /// The box, in words.
    pub box_bounds: String,
    pub device: String,
    /// Clips per attacked batch (a shard takes whole batches).
    pub batch: usize,
    /// `[i, N]`: this report holds batches i, i + N, … of the run (`[0, 1]`: all).
    pub shard: [usize; 2],
    /// The whole run's clips (all shards).
    pub inputs: RunInputs,
    pub summary: Summary,
    /// Totals counted by the target (examples × passes); the forwards include those of the
    /// held-out room evaluation (2 per example and room), which the per-example counts do not.
    pub total_forwards: u64,
    pub total_gradients: u64,
    pub results: Vec<ExampleResult>,
}

fn box_words(spec: BoxSpec, domain: Domain) -> String {
    match (spec, domain) {
        (BoxSpec::Clean, Domain::Waveform) => "[-max|x|, max|x|] of each clean window (after the clip gain)".into(),
        (BoxSpec::Clean, Domain::Features) => "[min, max] of each clean log-mel map (dB)".into(),
        (BoxSpec::Fixed { lo, hi }, _) => format!("[{lo}, {hi}]"),
        (BoxSpec::Unbounded, _) => "none".into(),
    }
}

/// The triptych of one example: for the features domain the maps as attacked (`feat` is then
/// the model's featurizer and the rows are already maps); for the waveform domain the log-mel of
/// `x`, `x + δ` and `δ` through `feat`.
fn triptych(r: &ExampleResult, clean: &[f32], adv: &[f32], feat: Option<&mut Featurizer>, labels: &[String], path: &Path) -> Result<()> {
    let feat = feat.ok_or_else(|| ToolsError::invalid("plots", "on", "a model with a front end"))?;
    let (frames, bins) = (feat.frames(), feat.bins());
    let name = |k: i64| labels.get(k as usize).cloned().unwrap_or_else(|| k.to_string());
    let outcome = if r.success { "fooled" } else { "not fooled" };
    let (a, b, d, dcap) = if clean.len() == frames * bins {
        let d: Vec<f32> = adv.iter().zip(clean).map(|(a, c)| a - c).collect();
        (clean.to_vec(), adv.to_vec(), d, format!("perturbation (dB), L2 {:.4}, L∞ {:.4}", r.distortion.l2, r.distortion.linf))
    } else {
        let delta: Vec<f32> = adv.iter().zip(clean).map(|(a, c)| a - c).collect();
        let mut maps = [vec![0.0; frames * bins], vec![0.0; frames * bins], vec![0.0; frames * bins]];
        for (src, dst) in [clean, adv, &delta[..]].into_iter().zip(maps.iter_mut()) {
            feat.compute(src, dst)?;
        }
        let [a, b, d] = maps;
        (a, b, d, format!("log-mel of δ, SNR {:.1} dB", r.distortion.snr_db))
    };
    crate::plot::triptych(
        [
            crate::plot::Panel { map: &a, caption: format!("original: {}", name(r.original)) },
            crate::plot::Panel { map: &b, caption: format!("adversarial: {} ({outcome})", name(r.adversarial)) },
            crate::plot::Panel { map: &d, caption: dcap },
        ],
        frames,
        bins,
        &r.name,
        path,
    )
}

fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "clip".into())
}

/// Attacks `clips` (this shard's share of them) with the checkpoint in `checkpoint`, writing
/// into `out`.
pub fn run_on_clips(checkpoint: &Path, clips: &[Clip], opts: &RunOptions, out: &Path) -> Result<Report> {
    let inputs = RunInputs::of_paths(&clips.iter().map(|c| c.path.clone()).collect::<Vec<_>>());
    let clips = &opts.shard.pick(clips, opts.batch.max(1))[..];
    let (target, ck) = AttackTarget::from_checkpoint(checkpoint, opts.domain, opts.device)?;
    if let super::Goal::Targeted(t) = opts.config.goal {
        if t < 0 || t as usize >= ck.labels.len() {
            return Err(ToolsError::invalid("target", t, "a class index of the model"));
        }
    }
    let psycho_kind = matches!(opts.config.kind, AttackKind::Psycho | AttackKind::PsychoRoom | AttackKind::PsychoRobust);
    if psycho_kind && opts.psycho.is_none() {
        return Err(ToolsError::invalid("attack", "psycho", "a PsychoConfig in the run options"));
    }
    let masking = opts.psycho.map(|p| p.masking).unwrap_or(soundproof::dsp::MaskingParams { sample_rate: ck.sample_rate, ..Default::default() });
    // Held-out rooms: a seed of their own, never the attack's pool.
    let eval_pool = match opts.eval_rooms {
        0 => None,
        r => Some(RirPool::new(&RoomDistribution::default(), r, ck.sample_rate, ck.sample_rate as usize / 4, derive_seed(opts.seed, &[0x5eed_0f_7e57]), opts.device)?),
    };
    let clip_window = ck.clip_window();
    let mut featurizer = match opts.domain {
        Domain::Features => {
            let cfg = ck.features.as_ref().ok_or_else(|| ToolsError::invalid("domain", "features", "waveform (this model takes the waveform)"))?;
            Some(Featurizer::new(cfg, ck.window_samples)?)
        }
        Domain::Waveform => None,
    };
    // Triptychs show log-mel maps: the model's own for a feature model; for a waveform attack,
    // the card's front end (003's log-mel for a waveform model) on x, x + δ and δ alone.
    let mut plot_featurizer = match opts.domain {
        Domain::Waveform if opts.plots => Some(Featurizer::new(&ck.card_features(), ck.window_samples)?),
        _ => None,
    };
    let adv_dir = out.join("adversarial");
    let clean_dir = out.join("clean");
    let plot_dir = out.join("plots");
    let mut dirs = vec![&adv_dir, &clean_dir];
    if opts.plots {
        dirs.push(&plot_dir);
    }
    for d in dirs {
        std::fs::create_dir_all(d).map_err(|e| ToolsError::io(d, e))?;
    }
    let bar = ProgressBar::new(clips.len() as u64);
    if opts.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("attack {pos}/{len} [{bar:30}] {elapsed_precise} (eta {eta}) {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut results: Vec<ExampleResult> = Vec::with_capacity(clips.len());
    for chunk in clips.chunks(opts.batch.max(1)) {
        let mut buf = Vec::new();
        let mut shape = vec![chunk.len() as i64];
        for c in chunk {
            let (x, _gain) = crate::data::load_window(&clip_window, &c.path)?;
            match &mut featurizer {
                Some(f) => {
                    let start = buf.len();
                    buf.resize(start + f.frames() * f.bins(), 0.0);
                    f.compute(&x, &mut buf[start..])?;
                }
                None => buf.extend_from_slice(&x),
            }
        }
        match &featurizer {
            Some(f) => shape.extend([1, f.frames() as i64, f.bins() as i64]),
            None => shape.push(ck.window_samples as i64),
        }
        let x = Tensor::from_slice(&buf).reshape(&shape);
        let names: Vec<String> = chunk.iter().map(|c| stem(&c.path)).collect();
        let labels: Vec<Option<i64>> = chunk.iter().map(|c| c.label).collect();
        let goal = opts.config.goal;
        let attack = match (psycho_kind, &opts.psycho) {
            (true, Some(p)) if opts.config.kind == AttackKind::PsychoRobust => Attack::PsychoRobust { config: *p, goal },
            (true, Some(p)) => Attack::Psycho { config: *p, goal },
            _ => Attack::Gradient { config: opts.config, opt: opts.opt },
        };
        let (adv, mut res) = attack_batch(&target, &x, &labels, &names, opts.box_spec, &attack)?;
        if opts.domain == Domain::Waveform {
            if let Some(pool) = &eval_pool {
                let reference = Tensor::from_slice(&res.iter().map(|r| r.reference).collect::<Vec<i64>>()).to_device(opts.device);
                let xd = x.to_device(opts.device).to_kind(tch::Kind::Float);
                for (r, st) in res.iter_mut().zip(room::room_stats(&target, pool, &xd, &adv, &reference, goal)?) {
                    r.rooms = Some(st);
                }
            }
        }
        let adv = adv.to_device(Device::Cpu);
        if opts.domain == Domain::Waveform {
            for (i, r) in res.iter_mut().enumerate() {
                let clean = Vec::<f32>::try_from(x.get(i as i64))?;
                let a = Vec::<f32>::try_from(adv.get(i as i64))?;
                r.masking = Some(psycho::masking_stats(&clean, &a, &masking)?);
            }
        }
        for (dir, batch) in [(&adv_dir, &adv), (&clean_dir, &x)] {
            for (i, name) in names.iter().enumerate() {
                let row = Vec::<f32>::try_from(batch.get(i as i64).flatten(0, -1))?;
                match &featurizer {
                    Some(f) => soundproof::npy::write_f32(&dir.join(format!("{name}.npy")), &[1, f.frames(), f.bins()], &row)?,
                    None => write_wav(dir.join(format!("{name}.wav")), &row, ck.sample_rate, WavFormat::Float32)?,
                }
            }
        }
        if opts.plots {
            for (i, r) in res.iter().enumerate() {
                let clean = Vec::<f32>::try_from(x.get(i as i64).flatten(0, -1))?;
                let advr = Vec::<f32>::try_from(adv.get(i as i64).flatten(0, -1))?;
                triptych(r, &clean, &advr, featurizer.as_mut().or(plot_featurizer.as_mut()), &ck.labels, &plot_dir.join(format!("{}.png", r.name)))?;
            }
        }
        results.extend(res);
        let s = super::summarize(&results);
        bar.set_message(format!("fooled {}/{}", s.successes, s.counted));
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let (total_forwards, total_gradients) = target.counts();
    let report = Report {
        checkpoint: checkpoint.to_path_buf(),
        model: ck.spec.arch.name().to_string(),
        config: opts.config,
        params: opts.config.kind.uses_opt_params().then_some(opts.opt),
        psycho: opts.psycho,
        eval_rooms: eval_pool.map(|p| p.rooms).unwrap_or_default(),
        domain: opts.domain,
        box_bounds: box_words(opts.box_spec, opts.domain),
        device: crate::device::name(opts.device),
        batch: opts.batch.max(1),
        shard: opts.shard.pair(),
        inputs,
        summary: super::summarize(&results),
        total_forwards,
        total_gradients,
        results,
    };
    crate::shard::write_json(&out.join("report.json"), &report)?;
    Ok(report)
}
