//! Cross-representation transfer (002 §III-A, §IV) and the transferability matrix (000 §V-D,
//! Table V): adversarial examples crafted on one model and representation, carried to audio,
//! and played to every other model.
//!
//! For each *source* (a trained checkpoint) and each clip:
//!
//! 1. the clip through the source's own pipeline (`x = s·CropPad(Resample(a))`) and front end;
//! 2. the attack (FGSM / BIM / ... of [`crate::attack`]) in the source's own domain: its
//!    spectrogram (log-STFT or log-mel map, dB) or, for a waveform model, the waveform;
//! 3. the *carrier*, the audio an attacker would deliver: the waveform rebuilt from the
//!    adversarial map ([`crate::rebuild`]: original phase + inverse STFT, or Griffin-Lim; 002's
//!    choices by default), or the adversarial waveform itself. The clean map is rebuilt the same
//!    way (same Griffin-Lim start), so the damage the reconstruction alone does is measured
//!    apart from the attack's;
//! 4. every *member* (the checkpoints, the source included, and ONNX models run by the engine
//!    in tract through `soundproof::pipeline`, exactly as `soundproof classify` runs them)
//!    classifies three carriers: the clean clip, the rebuilt clean map, the rebuilt adversarial
//!    map. Each member takes a carrier as the engine takes a clip: cropped or padded (centred)
//!    to its own window, then gain-normalized to its target RMS over that window (for FSDD,
//!    whose clips are all shorter than a second, exactly what its pipeline makes of the raw
//!    recording).
//!
//! A clip counts for a (source, member) pair when the source classified its clean input
//! correctly and the member classified both the clean clip and the rebuilt clean map correctly;
//! it is *fooled* when the member then misclassifies the rebuilt adversarial map. The matrix
//! entry is fooled / counted (000 Table V's transferability ratio; its diagonal here is not 1
//! by construction but the source's own verdict on the rebuilt audio, 002's question of whether
//! the attack survives the trip through audio). Members that share the source's front end and
//! window also get the adversarial *map* directly (the feature-level transfer of 000 Table V,
//! no audio in between), reported beside it.
//!
//! SNR (002 Eq. 3-4, `20·log10(P(xʳ)/P(v))` with `P` the RMS) per clip: of the rebuilt clean
//! audio against the clip (002 Table VII's "None" row), of the adversarial perturbation against
//! the rebuilt clean audio (`v = x'ʳ − xʳ`, Eq. 3), and of the adversarial audio against the
//! clean clip.

use crate::attack::{attack_batch, summarize, Attack, AttackConfig, AttackTarget, BoxSpec, Domain, ExampleResult, Goal, Summary};
use crate::checkpoint::Checkpoint;
use crate::data::features::Featurizer;
use crate::data::{clip_window, load_window};
use crate::error::{Result, ToolsError};
use crate::rebuild::{GriffinLim, Rebuild, Rebuilder};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use soundproof::audio::{write_wav, WavFormat};
use soundproof::dsp::{FeatureConfig, GainPolicy};
use soundproof::model::{InputKind, Model};
use soundproof::pipeline::classify_clip;
use soundproof::window::{crop_pad, ClipGain, ClipWindow};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// One clip of the evaluation set.
#[derive(Debug, Clone)]
pub struct LabelledClip {
    pub path: PathBuf,
    pub label: i64,
}

/// What to load as a member: a checkpoint folder (`train`'s output) or an ONNX model.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    pub name: String,
    pub path: PathBuf,
    pub engine: bool,
}

impl MemberSpec {
    /// `NAME=PATH` or `PATH` (named after the folder or the file's stem).
    pub fn parse(arg: &str, engine: bool) -> MemberSpec {
        let (name, path) = match arg.split_once('=') {
            Some((n, p)) if !n.is_empty() => (n.to_string(), PathBuf::from(p)),
            _ => {
                let p = PathBuf::from(arg);
                let stem = if engine || crate::checkpoint::is_onnx(&p) { p.file_stem() } else { p.file_name() };
                (stem.map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| arg.to_string()), p)
            }
        };
        MemberSpec { name, path, engine }
    }
}

enum Runner {
    /// A checkpoint in tch, in its natural domain (its map, or the waveform).
    Torch { target: AttackTarget, ck: Box<Checkpoint>, featurizer: Option<Featurizer> },
    /// An ONNX model run by the engine (tract), through its card's pipeline.
    Engine { model: Box<Model> },
}

/// A model of the matrix.
pub struct Member {
    pub name: String,
    pub path: PathBuf,
    /// `log-stft`, `logmel`, ..., or `waveform`.
    pub representation: String,
    runner: Runner,
    window: ClipWindow,
    /// The front end with unit gain (feature models), for the feature-level comparison.
    features: Option<FeatureConfig>,
    labels: Vec<String>,
}

fn unit_gain(cfg: &FeatureConfig) -> FeatureConfig {
    FeatureConfig { gain: GainPolicy::Fixed { gain: 1.0 }, ..*cfg }
}

impl Member {
    pub fn load(spec: &MemberSpec, device: Device) -> Result<Member> {
        if spec.engine {
            let model = soundproof::model::Model::load(&spec.path).map_err(|e| ToolsError::Onnx(e.to_string()))?;
            let card = model.card().clone();
            if card.input == InputKind::Waveform {
                return Err(ToolsError::model(
                    &spec.name,
                    "a waveform ONNX model: the engine's pipeline serves feature models (give its checkpoint folder with --model instead)",
                ));
            }
            Ok(Member {
                name: spec.name.clone(),
                path: spec.path.clone(),
                representation: card.features.kind.name().to_string(),
                window: ClipWindow::of(&card),
                features: Some(unit_gain(&card.features)),
                labels: card.labels.clone(),
                runner: Runner::Engine { model: Box::new(model) },
            })
        } else {
            let ck = Checkpoint::load(&spec.path)?;
            let domain = if ck.spec.arch.takes_waveform() { Domain::Waveform } else { Domain::Features };
            let (target, ck) = AttackTarget::from_checkpoint(&spec.path, domain, device)?;
            let featurizer = match (&ck.features, domain) {
                (Some(cfg), Domain::Features) => Some(Featurizer::new(cfg, ck.window_samples)?),
                _ => None,
            };
            Ok(Member {
                name: spec.name.clone(),
                path: spec.path.clone(),
                representation: match (&ck.features, domain) {
                    (Some(cfg), Domain::Features) => cfg.kind.name().to_string(),
                    _ => "waveform".into(),
                },
                window: ck.clip_window(),
                features: if domain == Domain::Features { ck.features.as_ref().map(unit_gain) } else { None },
                labels: ck.labels.clone(),
                runner: Runner::Torch { target, ck: Box::new(ck), featurizer },
            })
        }
    }

    pub fn is_engine(&self) -> bool {
        matches!(self.runner, Runner::Engine { .. })
    }

    /// The map `[1, frames, bins]` of a window already gain-normalized, and its shape, for a
    /// feature checkpoint.
    fn map(&mut self, x: &[f32]) -> Result<(Vec<f32>, [i64; 2])> {
        match &mut self.runner {
            Runner::Torch { featurizer: Some(f), .. } => {
                let mut out = vec![0.0; f.frames() * f.bins()];
                f.compute(x, &mut out)?;
                Ok((out, [f.frames() as i64, f.bins() as i64]))
            }
            _ => Err(ToolsError::model(&self.name, "no feature map: not a feature checkpoint")),
        }
    }

    /// Labels of carriers (waveforms at `rate` Hz), each taken as a clip: resampled to this
    /// member's rate when it differs (the engine's resampler, as a WAV file at that rate would
    /// be), cropped or padded to its window, gain-normalized over it, then its front end and
    /// model.
    pub fn classify(&mut self, carriers: &[Vec<f32>], rate: u32) -> Result<Vec<i64>> {
        let window = self.window.window_samples;
        let own = self.window.sample_rate;
        let cropped: Vec<Vec<f32>> = carriers
            .iter()
            .map(|c| match rate == own {
                true => Ok(crop_pad(c, window)),
                false => Ok(crop_pad(&soundproof::audio::resample(c, rate, own)?, window)),
            })
            .collect::<Result<_>>()?;
        match &mut self.runner {
            Runner::Engine { model } => {
                // The engine's own path: its clip gain, front end and tract plan.
                let mut out = Vec::with_capacity(cropped.len());
                for w in &cropped {
                    let err = |e: soundproof::pipeline::PipelineError| ToolsError::Onnx(format!("{}: {e}", model.card().name));
                    let g = self.window.gain(w, ClipGain::ClipRms).map_err(|e| ToolsError::Onnx(format!("{}: {e}", model.card().name)))?;
                    let res = classify_clip(model, w, g, 1).map_err(err)?;
                    let first = res.first().ok_or_else(|| ToolsError::Onnx(format!("{}: no window classified", model.card().name)))?;
                    out.push(first.label as i64);
                }
                Ok(out)
            }
            Runner::Torch { target, featurizer, .. } => {
                let mut windows = Vec::with_capacity(cropped.len());
                for (i, w) in cropped.iter().enumerate() {
                    windows.push(clip_window(&self.window, w, &format!("carrier {i} for {}", self.name))?.0);
                }
                let n = windows.len() as i64;
                let x = match featurizer {
                    Some(f) => {
                        let mut buf = vec![0.0; windows.len() * f.frames() * f.bins()];
                        for (w, out) in windows.iter().zip(buf.chunks_mut(f.frames() * f.bins())) {
                            f.compute(w, out)?;
                        }
                        Tensor::from_slice(&buf).reshape([n, 1, f.frames() as i64, f.bins() as i64])
                    }
                    None => Tensor::from_slice(&windows.concat()).reshape([n, window as i64]),
                };
                Ok(Vec::<i64>::try_from(target.predict(&x.to_device(target.device)).to_device(Device::Cpu))?)
            }
        }
    }

    /// Labels of feature maps `[N, 1, frames, bins]` given directly (no audio in between).
    fn classify_maps(&mut self, maps: &Tensor) -> Result<Vec<i64>> {
        match &mut self.runner {
            Runner::Torch { target, .. } => Ok(Vec::<i64>::try_from(target.predict(&maps.to_device(target.device)).to_device(Device::Cpu))?),
            Runner::Engine { model } => {
                let n = maps.size()[0] as usize;
                let data = Vec::<f32>::try_from(maps.to_kind(Kind::Float).flatten(0, -1))?;
                let logits = model.run(&data, n).map_err(|e| ToolsError::Onnx(e.to_string()))?;
                let c = model.n_classes();
                Ok(logits.chunks(c).map(|l| soundproof::stats::argmax(l) as i64).collect())
            }
        }
    }

    /// True when a map made for `other` can be fed to this member as it is: same front end
    /// (gain aside) and window.
    fn shares_map_with(&self, other: &Member) -> bool {
        match (&self.features, &other.features) {
            (Some(a), Some(b)) => a == b && self.window.window_samples == other.window.window_samples,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// The attack on spectrogram sources (ε in dB of the map).
    pub features_attack: AttackConfig,
    /// The attack on waveform sources (ε in waveform units after the clip gain).
    pub waveform_attack: AttackConfig,
    pub box_spec: BoxSpec,
    /// `None`: 002's choice per representation ([`Rebuild::default_for`]).
    pub rebuild: Option<Rebuild>,
    pub griffin_lim: GriffinLim,
    pub batch: usize,
    pub device: Device,
    pub quiet: bool,
    /// Write `SOURCE/audio/NAME-{clean,rebuilt-clean,adversarial}.wav`.
    pub save_audio: bool,
}

/// One member's verdicts on one clip.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub member: String,
    /// On the clean clip.
    pub clean: i64,
    /// On the clean map rebuilt to audio.
    pub rebuilt_clean: i64,
    /// On the adversarial map rebuilt to audio (the adversarial waveform, for waveform sources).
    pub adversarial: i64,
    /// On the source's clean and adversarial maps fed directly (members sharing its front end).
    pub map_clean: Option<i64>,
    pub map_adversarial: Option<i64>,
}

/// One clip attacked on one source.
#[derive(Debug, Clone, Serialize)]
pub struct TransferExample {
    pub name: String,
    pub label: i64,
    /// The attack in the source's own domain.
    pub attack: ExampleResult,
    /// SNR of the rebuilt clean audio against the clean clip (002 Table VII "None").
    pub snr_rebuild_db: f64,
    /// 002 Eq. 3-4: the rebuilt clean audio against the perturbation `x'ʳ − xʳ`.
    pub snr_db: f64,
    /// The clean clip against `x'ʳ − x`.
    pub snr_vs_clean_db: f64,
    pub verdicts: Vec<Verdict>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
    /// Finite values averaged.
    pub n: usize,
}

impl MeanSd {
    pub fn of(v: impl Iterator<Item = f64>) -> MeanSd {
        let v: Vec<f64> = v.filter(|x| x.is_finite()).collect();
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n.max(1) as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
        MeanSd { mean, sd: var.sqrt(), n }
    }
}

/// fooled / counted.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Rate {
    pub counted: usize,
    pub fooled: usize,
    /// `null` when nothing counted.
    pub rate: Option<f64>,
}

impl Rate {
    fn new(counted: usize, fooled: usize) -> Rate {
        Rate { counted, fooled, rate: (counted > 0).then(|| fooled as f64 / counted as f64) }
    }
}

/// One member against one source.
#[derive(Debug, Clone, Serialize)]
pub struct MemberSummary {
    pub member: String,
    pub engine: bool,
    pub representation: String,
    /// Accuracy on the clean clips, on the rebuilt clean maps, on the rebuilt adversarial maps.
    pub accuracy_clean: f64,
    pub accuracy_rebuilt_clean: f64,
    pub accuracy_adversarial: f64,
    /// Through audio: the matrix entry.
    pub transfer: Rate,
    /// The adversarial map fed directly (members sharing the source's front end).
    pub map_transfer: Option<Rate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub source: String,
    pub checkpoint: PathBuf,
    pub representation: String,
    pub domain: Domain,
    /// `None` for waveform sources (the adversarial waveform is the carrier).
    pub rebuild: Option<Rebuild>,
    pub config: AttackConfig,
    /// The attack in the source's own domain.
    pub attack: Summary,
    /// Over the clips the source classified correctly.
    pub snr_rebuild_db: MeanSd,
    pub snr_db: MeanSd,
    pub snr_vs_clean_db: MeanSd,
    pub members: Vec<MemberSummary>,
    pub examples: Vec<TransferExample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// Sources (rows).
    pub rows: Vec<String>,
    /// Members (columns).
    pub columns: Vec<String>,
    pub column_representations: Vec<String>,
    /// `rate[row][column]` through audio.
    pub transfer: Vec<Vec<Rate>>,
    /// The adversarial map fed directly, where the column shares the row's front end.
    pub map_transfer: Vec<Vec<Option<Rate>>>,
    /// Each source's fooling rate in its own domain.
    pub in_domain: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransferReport {
    pub clips: usize,
    pub griffin_lim: GriffinLim,
    pub box_bounds: String,
    pub device: String,
    pub seconds: f64,
    pub sources: Vec<SourceReport>,
    pub matrix: Matrix,
}

fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "clip".into())
}

fn rows_f32(t: &Tensor) -> Result<Vec<Vec<f32>>> {
    let n = t.size()[0];
    (0..n).map(|i| Ok(Vec::<f32>::try_from(t.get(i).to_kind(Kind::Float).flatten(0, -1))?)).collect()
}

/// Runs every source in `sources` (indices into `members`, torch members only) on `clips`,
/// writing `report.json`, `matrix.json` and `matrix.md` into `out`.
pub fn run(members: &mut [Member], sources: &[usize], clips: &[LabelledClip], opts: &TransferOptions, out: &Path) -> Result<TransferReport> {
    let start = std::time::Instant::now();
    if clips.is_empty() {
        return Err(ToolsError::invalid("clips", 0, "at least one clip"));
    }
    if let Some(m) = members.iter().find(|m| m.labels != members[0].labels) {
        return Err(ToolsError::model(&m.name, format!("labels {:?} differ from {}'s {:?}", m.labels, members[0].name, members[0].labels)));
    }
    for cfg in [&opts.features_attack, &opts.waveform_attack] {
        if cfg.goal != Goal::Untargeted {
            return Err(ToolsError::invalid("target", "a class", "no target: transfer counts untargeted fooling"));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| ToolsError::io(out, e))?;
    let bar = ProgressBar::new((sources.len() * clips.len()) as u64);
    if opts.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("transfer {pos}/{len} [{bar:30}] {elapsed_precise} (eta {eta}) {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut reports = Vec::new();
    for &s in sources {
        reports.push(run_source(members, s, clips, opts, out, &bar)?);
    }
    bar.finish_and_clear();
    let matrix = Matrix {
        rows: reports.iter().map(|r| r.source.clone()).collect(),
        columns: members.iter().map(|m| m.name.clone()).collect(),
        column_representations: members.iter().map(|m| m.representation.clone()).collect(),
        transfer: reports.iter().map(|r| r.members.iter().map(|m| m.transfer).collect()).collect(),
        map_transfer: reports.iter().map(|r| r.members.iter().map(|m| m.map_transfer).collect()).collect(),
        in_domain: reports.iter().map(|r| r.attack.fooling_rate).collect(),
    };
    let report = TransferReport {
        clips: clips.len(),
        griffin_lim: opts.griffin_lim,
        box_bounds: format!("{:?}", opts.box_spec),
        device: crate::device::name(opts.device),
        seconds: start.elapsed().as_secs_f64(),
        sources: reports,
        matrix,
    };
    let write = |name: &str, text: String| -> Result<()> {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| ToolsError::io(&p, e))
    };
    write("report.json", to_json(&report, &out.join("report.json"))? + "\n")?;
    write("matrix.json", to_json(&report.matrix, &out.join("matrix.json"))? + "\n")?;
    write("matrix.md", markdown(&report))?;
    Ok(report)
}

fn to_json<T: Serialize>(v: &T, path: &Path) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| ToolsError::Json { path: path.to_path_buf(), source: e })
}

fn run_source(members: &mut [Member], s: usize, clips: &[LabelledClip], opts: &TransferOptions, out: &Path, bar: &ProgressBar) -> Result<SourceReport> {
    let (source_name, checkpoint, representation, source_window, sample_rate) = {
        let m = &members[s];
        let Runner::Torch { ck, .. } = &m.runner else {
            return Err(ToolsError::model(&m.name, "an engine (ONNX) model cannot be a source: attacks need the checkpoint's gradients"));
        };
        (m.name.clone(), m.path.clone(), m.representation.clone(), m.window, ck.sample_rate)
    };
    let source_features = members[s].features;
    let (domain, config) = match source_features {
        Some(_) => (Domain::Features, opts.features_attack),
        None => (Domain::Waveform, opts.waveform_attack),
    };
    let rebuilder = match &source_features {
        Some(cfg) => {
            let method = opts.rebuild.unwrap_or_else(|| Rebuild::default_for(cfg.kind));
            Some(Rebuilder::new(cfg, method, opts.griffin_lim, opts.device)?)
        }
        None => None,
    };
    let audio_dir = out.join(&source_name).join("audio");
    if opts.save_audio {
        std::fs::create_dir_all(&audio_dir).map_err(|e| ToolsError::io(&audio_dir, e))?;
    }
    let shares: Vec<bool> = (0..members.len()).map(|j| members[j].shares_map_with(&members[s])).collect();
    let mut examples: Vec<TransferExample> = Vec::with_capacity(clips.len());
    for (b, chunk) in clips.chunks(opts.batch.max(1)).enumerate() {
        let keys: Vec<u64> = (0..chunk.len()).map(|i| (b * opts.batch.max(1) + i) as u64).collect();
        let mut clean_wave = Vec::with_capacity(chunk.len());
        for c in chunk {
            clean_wave.push(load_window(&source_window, &c.path)?.0);
        }
        let n = chunk.len() as i64;
        let wave_t = Tensor::from_slice(&clean_wave.concat()).reshape([n, source_window.window_samples as i64]);
        let input = match domain {
            Domain::Features => {
                let mut maps = Vec::new();
                let mut shape = [0i64; 2];
                for w in &clean_wave {
                    let (m, sh) = members[s].map(w)?;
                    maps.extend(m);
                    shape = sh;
                }
                Tensor::from_slice(&maps).reshape([n, 1, shape[0], shape[1]])
            }
            Domain::Waveform => wave_t.shallow_clone(),
        };
        let names: Vec<String> = chunk.iter().map(|c| stem(&c.path)).collect();
        let labels: Vec<Option<i64>> = chunk.iter().map(|c| Some(c.label)).collect();
        let (adv, results) = {
            let Runner::Torch { target, .. } = &members[s].runner else { unreachable!("checked above") };
            attack_batch(target, &input, &labels, &names, opts.box_spec, &Attack::from(config))?
        };
        let adv = adv.to_device(Device::Cpu);
        // The carriers.
        let (rebuilt_clean, rebuilt_adv) = match &rebuilder {
            Some(rb) => (rb.rebuild(&input, &wave_t, &keys)?, rb.rebuild(&adv, &wave_t, &keys)?),
            None => (wave_t.to_kind(Kind::Double), adv.to_kind(Kind::Double)),
        };
        let clean_c = clean_wave.clone();
        let rebuilt_c = rows_f32(&rebuilt_clean)?;
        let adv_c = rows_f32(&rebuilt_adv)?;
        let wave64 = wave_t.to_kind(Kind::Double);
        let snr_rebuild = crate::attack::distortion(&wave64, &rebuilt_clean);
        let snr_eq3 = crate::attack::distortion(&rebuilt_clean, &rebuilt_adv);
        let snr_clean = crate::attack::distortion(&wave64, &rebuilt_adv);
        let mut verdicts: Vec<Vec<Verdict>> = vec![Vec::new(); chunk.len()];
        for (j, m) in members.iter_mut().enumerate() {
            let clean = m.classify(&clean_c, sample_rate)?;
            let rc = m.classify(&rebuilt_c, sample_rate)?;
            let ra = m.classify(&adv_c, sample_rate)?;
            let (mc, ma) = if shares[j] { (Some(m.classify_maps(&input)?), Some(m.classify_maps(&adv)?)) } else { (None, None) };
            for i in 0..chunk.len() {
                verdicts[i].push(Verdict {
                    member: m.name.clone(),
                    clean: clean[i],
                    rebuilt_clean: rc[i],
                    adversarial: ra[i],
                    map_clean: mc.as_ref().map(|v| v[i]),
                    map_adversarial: ma.as_ref().map(|v| v[i]),
                });
            }
        }
        if opts.save_audio {
            for (i, name) in names.iter().enumerate() {
                for (what, c) in [("clean", &clean_c[i]), ("rebuilt-clean", &rebuilt_c[i]), ("adversarial", &adv_c[i])] {
                    write_wav(audio_dir.join(format!("{name}-{what}.wav")), c, sample_rate, WavFormat::Float32)?;
                }
            }
        }
        for (i, (res, v)) in results.into_iter().zip(verdicts).enumerate() {
            examples.push(TransferExample {
                name: names[i].clone(),
                label: chunk[i].label,
                attack: res,
                snr_rebuild_db: snr_rebuild[i].snr_db,
                snr_db: snr_eq3[i].snr_db,
                snr_vs_clean_db: snr_clean[i].snr_db,
                verdicts: v,
            });
        }
        bar.inc(chunk.len() as u64);
        let fooled = examples.iter().filter(|e| e.attack.counted && e.attack.success).count();
        let counted = examples.iter().filter(|e| e.attack.counted).count();
        bar.set_message(format!("{source_name}: fooled {fooled}/{counted} in its domain"));
    }
    let counted: Vec<&TransferExample> = examples.iter().filter(|e| e.attack.counted).collect();
    let members_summary = members
        .iter()
        .enumerate()
        .map(|(j, m)| {
            let v = |e: &TransferExample| e.verdicts[j].clone();
            let acc = |f: &dyn Fn(&Verdict) -> i64| examples.iter().filter(|e| f(&v(e)) == e.label).count() as f64 / examples.len().max(1) as f64;
            let ok_clean = |e: &&&TransferExample| v(e).clean == e.label && v(e).rebuilt_clean == e.label;
            let through: Vec<&&TransferExample> = counted.iter().filter(ok_clean).collect();
            let transfer = Rate::new(through.len(), through.iter().filter(|e| v(e).adversarial != e.label).count());
            let map_transfer = shares[j].then(|| {
                let c: Vec<&&TransferExample> = counted.iter().filter(|e| v(e).map_clean == Some(e.label)).collect();
                Rate::new(c.len(), c.iter().filter(|e| v(e).map_adversarial != Some(e.label)).count())
            });
            MemberSummary {
                member: m.name.clone(),
                engine: m.is_engine(),
                representation: m.representation.clone(),
                accuracy_clean: acc(&|v| v.clean),
                accuracy_rebuilt_clean: acc(&|v| v.rebuilt_clean),
                accuracy_adversarial: acc(&|v| v.adversarial),
                transfer,
                map_transfer,
            }
        })
        .collect();
    let attack_results: Vec<ExampleResult> = examples.iter().map(|e| e.attack.clone()).collect();
    Ok(SourceReport {
        source: source_name,
        checkpoint,
        representation,
        domain,
        rebuild: rebuilder.as_ref().map(|r| r.method),
        config,
        attack: summarize(&attack_results),
        snr_rebuild_db: MeanSd::of(counted.iter().map(|e| e.snr_rebuild_db)),
        snr_db: MeanSd::of(counted.iter().map(|e| e.snr_db)),
        snr_vs_clean_db: MeanSd::of(counted.iter().map(|e| e.snr_vs_clean_db)),
        members: members_summary,
        examples,
    })
}

fn pct(r: &Rate) -> String {
    match r.rate {
        Some(x) => format!("{:.0} % ({}/{})", 100.0 * x, r.fooled, r.counted),
        None => "– (0)".into(),
    }
}

/// `mean ± SD` in dB, `∞` when no clip had a finite value (nothing rebuilt, or no change).
pub fn db(m: &MeanSd) -> String {
    if m.n == 0 {
        "∞".into()
    } else {
        format!("{:.1} ± {:.1}", m.mean, m.sd)
    }
}

/// The matrices and the per-source SNR as markdown tables.
pub fn markdown(r: &TransferReport) -> String {
    let m = &r.matrix;
    let mut s = String::new();
    let head = |s: &mut String, first: &str| {
        *s += &format!("| {first} |");
        for (c, rep) in m.columns.iter().zip(&m.column_representations) {
            *s += &format!(" {c} ({rep}) |");
        }
        *s += "\n|---|";
        *s += &"---|".repeat(m.columns.len());
        *s += "\n";
    };
    s += &format!(
        "Transferability through audio, {} clips: fooled / counted (clips the source gets right and the target gets right on both the clean clip and the rebuilt clean map). Rows: source (representation, rebuild, fooling rate in its own domain); columns: target.\n\n",
        r.clips
    );
    head(&mut s, "source ↓ / target →");
    for (i, src) in r.sources.iter().enumerate() {
        let rebuild = src.rebuild.map(|x| format!("{x:?}").to_lowercase()).unwrap_or_else(|| "waveform".into());
        s += &format!("| {} ({}, {}; {:.0} %) |", src.source, src.representation, rebuild, 100.0 * m.in_domain[i]);
        for rate in &m.transfer[i] {
            s += &format!(" {} |", pct(rate));
        }
        s += "\n";
    }
    s += "\nFeature-level transfer (the adversarial map fed directly to targets with the same front end and window; 000 Table V's setting):\n\n";
    head(&mut s, "source ↓ / target →");
    for (i, src) in r.sources.iter().enumerate() {
        s += &format!("| {} |", src.source);
        for rate in &m.map_transfer[i] {
            s += &match rate {
                Some(x) => format!(" {} |", pct(x)),
                None => " |".into(),
            };
        }
        s += "\n";
    }
    s += "\nSNR in dB (002 Eq. 3-4, mean ± SD over the clips each source gets right): rebuilt clean audio vs the clip (Table VII \"None\"), perturbation vs the rebuilt clean audio (Eq. 3), adversarial audio vs the clip; and each target's accuracy on clean clips / rebuilt clean maps / rebuilt adversarial maps.\n\n";
    s += "| source | attack | rebuild vs clip | Eq. 3 | adversarial vs clip | target accuracy: clean / rebuilt clean / adversarial |\n|---|---|---|---|---|---|\n";
    for src in &r.sources {
        let acc: Vec<String> = src
            .members
            .iter()
            .map(|t| format!("{} {:.0}/{:.0}/{:.0}", t.member, 100.0 * t.accuracy_clean, 100.0 * t.accuracy_rebuilt_clean, 100.0 * t.accuracy_adversarial))
            .collect();
        s += &format!(
            "| {} | {:?} ε = {} | {} | {} | {} | {} |\n",
            src.source,
            src.config.kind,
            src.config.eps,
            db(&src.snr_rebuild_db),
            db(&src.snr_db),
            db(&src.snr_vs_clean_db),
            acc.join("; ")
        );
    }
    s
}
