//! The psychoacoustic attack of 004 and its pieces.
//!
//! * [`PsdTch`], the tch twin of the perturbation's PSD (Eq. 12), equals the engine's
//!   `MaskingThreshold::clip_psd_power` on an FSDD clip and on noise, within 1e-6 of the clip's
//!   largest power, in float32 and float64 alike (the engine's float32 FFT rounds to about 1e-7
//!   of a frame's peak per bin); the attack's `ℓθ` equals the report's (engine) within 1e-4.
//! * The image-source room impulse response against closed forms: nothing before the direct
//!   path, the direct path at `round(d/c·fs)` with amplitude `1/(4πd)`, each first-order
//!   reflection at the distance of its mirrored source with amplitude `β/(4πd)` and nothing else
//!   before the earliest second-order image; an anechoic room (absorption 1) leaves the direct
//!   path alone.
//! * The attack on a linear detector of a 1.1 kHz tone, fed a loud 1 kHz tone: stage 1's
//!   sign-gradient perturbation (a square wave, whose harmonics are not masked) fools it; stage
//!   2 keeps it fooled while moving the perturbation under the 1 kHz tone's masking threshold
//!   (a 1.1 kHz tone within 0.5 Bark is masked up to about 11 dB under the masker). Exact
//!   gradient counts, and the room variant counts K gradients per iteration and is seeded.
//! * The imperceptible and robust attack (004 §4.2 + §4.3) on a 1.1 kHz energy detector in
//!   simulated rooms: robust in held-out rooms before and after §4.3, and §4.3 cuts `ℓθ` tenfold.
//! * On the shipped kws-cnn (`models/kws-fsdd.onnx` and the checkpoint beside it):
//!   two clips stay fooled through stage 2, which brings nearly every bin of the perturbation
//!   under θx (stage 1 alone leaves much of it audible).

use soundproof::dsp::masking::{MaskingParams, MaskingThreshold};
use soundproof::dsp::FftBackend;
use soundproof_tools::attack::psycho::{self, masking_stats, PsdTch, PsychoConfig};
use soundproof_tools::attack::room::{Room, SPEED_OF_SOUND};
use soundproof_tools::attack::{attack_batch, Attack, AttackTarget, BoxSpec, Domain, Goal};
use soundproof_tools::data::{fsdd, load_window};
use soundproof::window::ClipWindow;
use soundproof::dataset::evenly;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

fn recordings() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fsdd/recordings")
}

#[test]
fn tch_psd_matches_the_engine() {
    let params = MaskingParams::default();
    let pipeline = ClipWindow { sample_rate: 16_000, window_samples: 16_000, target_rms: 1.0, calibration_gain: None };
    let path = recordings().join("5_george_4.wav");
    let mut clips = Vec::new();
    if path.is_file() {
        clips.push(load_window(&pipeline, &path).expect("load clip").0);
    } else {
        eprintln!("no FSDD at {}: noise only", path.display());
    }
    let mut state = 7u64;
    clips.push(
        (0..12_000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f64 / (1u64 << 24) as f64 - 0.5) as f32
            })
            .collect(),
    );
    let mut engine = MaskingThreshold::<2048>::new(&params, FftBackend::Microfft).unwrap();
    for x in &clips {
        let frames = params.frame_count(x.len());
        let mut ours = vec![0.0f32; frames * params.n_bins()];
        let max = engine.clip_psd_power(x, &mut ours).unwrap() as f64;
        for kind in [Kind::Float, Kind::Double] {
            let twin = PsdTch::new(&params, Device::Cpu, kind).unwrap();
            let t = twin.power(&Tensor::from_slice(x).to_kind(kind).unsqueeze(0));
            assert_eq!(t.size(), vec![1, frames as i64, params.n_bins() as i64]);
            let t = Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap();
            let worst = ours.iter().zip(&t).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max) / max;
            eprintln!("{kind:?}: PSD within {worst:.1e} of the clip's maximum");
            assert!(worst <= 1e-6, "{kind:?}: PSD differs by {worst:e} of the clip's maximum");
        }
        // The attack's loss equals the report's ℓθ (engine) for a perturbation that is partly
        // over the threshold.
        let d: Vec<f32> = x.iter().enumerate().map(|(i, _)| 0.01 * ((i as f32 * 0.37).sin() + (i as f32 * 2.1).cos())).collect();
        let adv: Vec<f32> = x.iter().zip(&d).map(|(a, b)| a + b).collect();
        let stats = masking_stats(x, &adv, &params).unwrap();
        let loss = psycho::masking_loss(&Tensor::from_slice(x).unsqueeze(0), &Tensor::from_slice(&d).unsqueeze(0), &params).unwrap();
        let loss = f64::try_from(loss.squeeze()).unwrap();
        eprintln!("ℓθ: tch {loss:.6e}, engine {:.6e} ({:.3} of bins under)", stats.loss_theta, stats.bins_under);
        assert!(stats.loss_theta > 0.0 && stats.bins_under < 1.0, "{stats:?}");
        assert!((loss - stats.loss_theta).abs() <= 1e-4 * stats.loss_theta, "ℓθ {loss} vs {}", stats.loss_theta);
        // Centred frames are the same on the padded clip.
        let twin = PsdTch::new(&params, Device::Cpu, Kind::Float).unwrap();
        let xt = Tensor::from_slice(x).unsqueeze(0);
        let padded = Tensor::from_slice(&psycho::centre_pad(x, params.n_fft)).unsqueeze(0);
        assert!(bool::try_from(twin.power_centred(&xt).eq_tensor(&twin.power(&padded)).all()).unwrap());
    }
}

#[test]
fn image_source_rir_matches_closed_forms() {
    let fs = 16_000u32;
    let room = Room { size: [10.0, 8.0, 6.0], source: [3.0, 4.0, 3.0], mic: [5.0, 4.0, 3.0], absorption: 0.36 };
    let beta = (1.0f64 - 0.36).sqrt();
    let len = 800;
    let h = room.impulse_response(fs, len).unwrap();
    let at = |d: f64| (d / SPEED_OF_SOUND * fs as f64).round() as usize;
    let amp = |d: f64| 1.0 / (4.0 * std::f64::consts::PI * d);
    let d0 = room.distance();
    assert!((d0 - 2.0).abs() < 1e-12);
    let t0 = at(d0);
    assert_eq!(t0, 93, "2 m at 343 m/s and 16 kHz");
    assert!(h[..t0].iter().all(|&v| v == 0.0), "nothing arrives before the direct path");
    assert!((h[t0] as f64 - amp(d0)).abs() < 1e-7, "direct path {} vs 1/(4πd) = {}", h[t0], amp(d0));
    // First-order images: mirror the source in each wall.
    let s = room.source;
    let mirrors = [
        [-s[0], s[1], s[2]],
        [20.0 - s[0], s[1], s[2]],
        [s[0], -s[1], s[2]],
        [s[0], 16.0 - s[1], s[2]],
        [s[0], s[1], -s[2]],
        [s[0], s[1], 12.0 - s[2]],
    ];
    let mut expect = std::collections::BTreeMap::<usize, f64>::new();
    for m in mirrors {
        let d = (0..3).map(|k| (m[k] - room.mic[k]).powi(2)).sum::<f64>().sqrt();
        *expect.entry(at(d)).or_default() += beta * amp(d);
    }
    // Second-order images: mirrored in two walls of different axes, or twice along one axis
    // (at s ± 2L). Up to the earliest of them only the direct path and first order arrive.
    let first: [[f64; 2]; 3] = std::array::from_fn(|k| [-s[k], 2.0 * room.size[k] - s[k]]);
    let twice: [[f64; 2]; 3] = std::array::from_fn(|k| [s[k] + 2.0 * room.size[k], s[k] - 2.0 * room.size[k]]);
    let dist = |p: [f64; 3]| (0..3).map(|k| (p[k] - room.mic[k]).powi(2)).sum::<f64>().sqrt();
    let mut nearest = f64::INFINITY;
    for a in 0..3 {
        for &v in &twice[a] {
            let mut p = s;
            p[a] = v;
            nearest = nearest.min(dist(p));
        }
        for b in a + 1..3 {
            for &va in &first[a] {
                for &vb in &first[b] {
                    let mut p = s;
                    p[a] = va;
                    p[b] = vb;
                    nearest = nearest.min(dist(p));
                }
            }
        }
    }
    let second = at(nearest);
    assert!((nearest - 10.0).abs() < 1e-12, "x = 0 and a z wall: 10 m");
    expect.retain(|&t, _| t < second);
    assert_eq!(expect.len(), 3, "direct path, then z walls (6.3 m), x = 0 (8 m), y walls (8.2 m)");
    for (&t, &a) in &expect {
        assert!((h[t] as f64 - a).abs() < 1e-7, "first-order reflection at sample {t}: {} vs {a}", h[t]);
    }
    let first_taps: usize = h[..second].iter().filter(|&&v| v != 0.0).count();
    assert_eq!(first_taps, 1 + expect.len(), "only the direct path and first-order reflections before sample {second}");
    // Anechoic: the direct path alone.
    let dry = Room { absorption: 1.0, ..room }.impulse_response(fs, len).unwrap();
    assert_eq!(dry.iter().filter(|&&v| v != 0.0).count(), 1);
    assert_eq!(dry[t0], h[t0]);
    assert!(Room { mic: [10.5, 4.0, 3.0], ..room }.impulse_response(fs, len).is_err());
}

const SR: f64 = 16_000.0;
const T: usize = 4096;

/// Three clips: a 1 kHz tone of amplitude 1 at different phases.
fn tones() -> Tensor {
    let x: Vec<f32> = (0..3).flat_map(|c| (0..T).map(move |i| (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / SR + c as f64).sin() as f32)).collect();
    Tensor::from_slice(&x).reshape([3, T as i64])
}

/// Logits `[0, w·x − 0.05]`, `w` a 1.1 kHz sinusoid of norm `2/T · Σ sin²`: a 1.1 kHz tone of
/// amplitude a in phase moves `w·x` by about `a`, so a tone above 0.05 flips it.
fn detector() -> AttackTarget {
    let w: Vec<f32> = (0..T).map(|i| (2.0 / T as f64 * (2.0 * std::f64::consts::PI * 1100.0 * i as f64 / SR).sin()) as f32).collect();
    let w = Tensor::from_slice(&w);
    AttackTarget::new(Domain::Waveform, Device::Cpu, move |x: &Tensor| {
        let z = x.matmul(&w) - 0.05;
        Tensor::stack(&[z.zeros_like(), z], 1)
    })
}

fn config(steps1: usize, steps2: usize) -> PsychoConfig {
    let mut c = PsychoConfig::new(16_000);
    c.eps = 0.5;
    c.lr1 = 0.01;
    c.steps1 = steps1;
    c.lr2 = 2e-3;
    c.steps2 = steps2;
    c
}

fn run(target: &AttackTarget, cfg: &PsychoConfig) -> (Tensor, Vec<soundproof_tools::attack::ExampleResult>) {
    let x = tones();
    let names = vec!["tone".to_string(); 3];
    attack_batch(target, &x, &[None; 3], &names, BoxSpec::Unbounded, &Attack::Psycho { config: *cfg, goal: Goal::Untargeted }).unwrap()
}

#[test]
fn stage_two_moves_the_perturbation_under_the_masking_threshold() {
    let target = detector();
    let params = MaskingParams::default();
    let x = tones();
    let stats = |adv: &Tensor, i: i64| {
        let c = Vec::<f32>::try_from(x.get(i)).unwrap();
        let a = Vec::<f32>::try_from(adv.get(i)).unwrap();
        masking_stats(&c, &a, &params).unwrap()
    };
    let (adv1, res1) = run(&target, &config(60, 0));
    let (adv2, res2) = run(&target, &config(60, 300));
    for i in 0..3 {
        let (s1, s2) = (stats(&adv1, i as i64), stats(&adv2, i as i64));
        eprintln!(
            "tone {i}: stage 1: {:.2} of frames under θx, ℓθ {:.3e}, max excess {:.1} dB, SNR {:.1} dB; stage 2: {:.2} of frames, ℓθ {:.3e}, max excess {:.1} dB, SNR {:.1} dB",
            s1.frames_under, s1.loss_theta, s1.max_excess_db, res1[i].distortion.snr_db, s2.frames_under, s2.loss_theta, s2.max_excess_db, res2[i].distortion.snr_db
        );
        assert!(res1[i].counted && res1[i].success && res2[i].success, "{:?} {:?}", res1[i], res2[i]);
        assert!(s1.frames_under < 0.5, "the sign-gradient perturbation should be audible: {s1:?}");
        assert!(s2.frames_under >= 0.9 && s2.loss_theta < 1e-3 * s1.loss_theta, "stage 2 should mask it: {s2:?} after {s1:?}");
        // One gradient and one forward per iteration, plus the clean and final predictions.
        assert_eq!((res2[i].gradients, res2[i].forwards), (360, 362));
    }
}

#[test]
fn the_room_variant_counts_k_gradients_per_iteration_and_is_seeded() {
    let target = detector();
    let mut cfg = config(20, 20);
    cfg.rooms = 3;
    cfg.room_pool = 8;
    cfg.rir_len = 1024;
    let (a, ra) = run(&target, &cfg);
    let (b, _) = run(&target, &cfg);
    assert!(bool::try_from(a.eq_tensor(&b).all()).unwrap(), "same seed, same result");
    cfg.seed = 1;
    let (c, _) = run(&target, &cfg);
    assert!(!bool::try_from(a.eq_tensor(&c).all()).unwrap(), "another seed, other rooms");
    for r in &ra {
        assert_eq!((r.gradients, r.forwards), (40 * 3, 40 * 3 + 2));
    }
    assert_eq!(target.counts().1, 3 * 3 * 40 * 3);
    // A feature-domain target is refused.
    let f = AttackTarget::new(Domain::Features, Device::Cpu, |x: &Tensor| x.reshape([x.size()[0], -1]).narrow(1, 0, 2));
    let x = tones();
    let bounds = soundproof_tools::attack::Bounds::of(&x, BoxSpec::Unbounded, Domain::Features);
    assert!(psycho::attack(&f, &x, &Tensor::from_slice(&[0i64, 0, 0]), &bounds, Goal::Untargeted, &cfg).is_err());
}

/// Logits `[0, 400 · (s² + c²) − 1]`, `(s, c)` the 1.1 kHz quadrature components of `x` (sine
/// and cosine of norm `2/T · Σ sin²`): a 1.1 kHz tone of amplitude above 0.05 flips it, whatever
/// its phase, so a room's delay does not decide the outcome as it would for a phase-sensitive
/// detector.
fn energy_detector() -> AttackTarget {
    let q = |phase: f64| -> Tensor {
        let w: Vec<f32> = (0..T).map(|i| (2.0 / T as f64 * (2.0 * std::f64::consts::PI * 1100.0 * i as f64 / SR + phase).sin()) as f32).collect();
        Tensor::from_slice(&w)
    };
    let (ws, wc) = (q(0.0), q(std::f64::consts::FRAC_PI_2));
    AttackTarget::new(Domain::Waveform, Device::Cpu, move |x: &Tensor| {
        let z = (x.matmul(&ws).square() + x.matmul(&wc).square()) * 400.0 - 1.0;
        Tensor::stack(&[z.zeros_like(), z], 1)
    })
}

#[test]
fn the_robust_attack_masks_a_room_robust_perturbation_and_stays_robust() {
    // 004 §4.2 alone (the §4.3 stages at 0 iterations) against §4.2 + §4.3, on the 1.1 kHz
    // energy detector in K = 3 rooms of a pool of 6: both fool it in held-out rooms; §4.3 brings
    // the perturbation far under the masking threshold; the cost is K gradients per iteration.
    let target = energy_detector();
    let params = MaskingParams::default();
    let x = tones();
    let mut cfg = config(30, 0);
    (cfg.rooms, cfg.room_pool, cfg.rir_len, cfg.room_success) = (3, 6, 512, 1.0);
    let robust = |stages: [usize; 4]| {
        let mut c = cfg;
        c.robust.steps = stages;
        let names = vec!["tone".to_string(); 3];
        attack_batch(&target, &x, &[None; 3], &names, BoxSpec::Unbounded, &Attack::PsychoRobust { config: c, goal: Goal::Untargeted }).unwrap()
    };
    let (adv_r, res_r) = robust([30, 20, 0, 0]);
    let (adv_q, res_q) = robust([30, 20, 100, 60]);
    let (adv_q2, _) = robust([30, 20, 100, 60]);
    assert!(bool::try_from(adv_q.eq_tensor(&adv_q2).all()).unwrap(), "same seed, same result");
    // Held-out rooms (another seed than the attack's pool), as the `attack` command plays them.
    let pool = soundproof_tools::attack::room::RirPool::new(&soundproof_tools::attack::room::RoomDistribution::default(), 10, 16_000, 512, 99, Device::Cpu).unwrap();
    let reference = Tensor::from_slice(&[0i64, 0, 0]);
    let held_r = soundproof_tools::attack::room::room_stats(&target, &pool, &x, &adv_r, &reference, Goal::Untargeted).unwrap();
    let held_q = soundproof_tools::attack::room::room_stats(&target, &pool, &x, &adv_q, &reference, Goal::Untargeted).unwrap();
    for i in 0..3 {
        let c = Vec::<f32>::try_from(x.get(i)).unwrap();
        let (sr, sq) = (
            masking_stats(&c, &Vec::<f32>::try_from(adv_r.get(i)).unwrap(), &params).unwrap(),
            masking_stats(&c, &Vec::<f32>::try_from(adv_q.get(i)).unwrap(), &params).unwrap(),
        );
        let i = i as usize;
        eprintln!(
            "tone {i}: §4.2: ℓθ {:.3e}, {:.2} of bins under θx, {:.2} of held-out rooms fooled ({:.2} clean correct); §4.3: ℓθ {:.3e}, {:.2} of bins, {:.2} of rooms",
            sr.loss_theta, sr.bins_under, held_r[i].fooled, held_r[i].clean_correct, sq.loss_theta, sq.bins_under, held_q[i].fooled
        );
        assert_eq!(held_r[i].clean_correct, 1.0, "the clean tone is class 0 in every room");
        assert!(res_r[i].success && res_q[i].success, "{:?} {:?}", res_r[i], res_q[i]);
        assert!(held_r[i].fooled >= 0.8 && held_q[i].fooled >= 0.8, "robust before and after §4.3: {:?} {:?}", held_r[i], held_q[i]);
        assert!(sq.loss_theta < 0.1 * sr.loss_theta && sq.bins_under > sr.bins_under, "§4.3 should mask: {sq:?} after {sr:?}");
        assert_eq!((res_q[i].gradients, res_q[i].forwards), (210 * 3, 210 * 3 + 2));
    }
    // No rooms: refused (the attack is about rooms).
    let mut plain = cfg;
    plain.rooms = 0;
    let bounds = soundproof_tools::attack::Bounds::of(&x, BoxSpec::Unbounded, Domain::Waveform);
    assert!(psycho::attack_robust(&target, &x, &reference, &bounds, Goal::Untargeted, &plain, &plain.robust).is_err());
}

/// The shipped model, whose checkpoint ships beside it (`soundproof-tools import`: batch norms folded, every weight the ONNX file's, checked on load).
fn checkpoint_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/kws-fsdd.onnx")
}

#[test]
fn psycho_fools_the_trained_kws_cnn_under_the_masking_threshold() {
    let dir = checkpoint_dir();
    assert!(recordings().is_dir(), "no FSDD at {} (../shared/data beside the repository)", recordings().display());
    tch::set_num_threads(2);
    let (target, ck) = AttackTarget::from_checkpoint(&dir, Domain::Waveform, Device::Cpu).unwrap();
    let examples = evenly(&fsdd::index(&recordings()).unwrap().test, 2);
    let pipeline = ck.clip_window();
    let mut buf = Vec::new();
    for e in &examples {
        buf.extend(load_window(&pipeline, &e.path).unwrap().0);
    }
    let x = Tensor::from_slice(&buf).reshape([examples.len() as i64, ck.window_samples as i64]);
    let labels: Vec<Option<i64>> = examples.iter().map(|e| Some(e.label as i64)).collect();
    let names: Vec<String> = examples.iter().map(|e| e.path.display().to_string()).collect();
    let mut cfg = PsychoConfig::new(ck.sample_rate);
    (cfg.steps1, cfg.lr2) = (KWS_STEPS.0, KWS_LR2);
    let mut run = |steps2: usize| {
        cfg.steps2 = steps2;
        let (adv, res) = attack_batch(&target, &x, &labels, &names, BoxSpec::Clean, &Attack::Psycho { config: cfg, goal: Goal::Untargeted }).unwrap();
        let stats: Vec<_> = (0..res.len())
            .map(|i| masking_stats(&Vec::<f32>::try_from(x.get(i as i64)).unwrap(), &Vec::<f32>::try_from(adv.get(i as i64)).unwrap(), &cfg.masking).unwrap())
            .collect();
        (res, stats)
    };
    let (res1, s1) = run(0);
    let (res2, s2) = run(KWS_STEPS.1);
    for i in 0..res2.len() {
        eprintln!(
            "{}: stage 1: fooled {}, SNR {:.1} dB, {:.3} of bins under θx, ℓθ {:.2e}; stage 2: fooled {}, SNR {:.1} dB, {:.3} of bins and {:.2} of frames under θx, ℓθ {:.2e}",
            res2[i].name, res1[i].success, res1[i].distortion.snr_db, s1[i].bins_under, s1[i].loss_theta, res2[i].success, res2[i].distortion.snr_db, s2[i].bins_under, s2[i].frames_under, s2[i].loss_theta
        );
        assert!(res2[i].counted, "the clean model should classify {}", res2[i].name);
        assert!(res1[i].success && res2[i].success);
        assert_eq!(res2[i].gradients, (KWS_STEPS.0 + KWS_STEPS.1) as u64);
        // Stage 1's sign-gradient perturbation is audible in much of the spectrum; stage 2 keeps
        // the clip fooled and brings nearly every bin under θx.
        assert!(s1[i].bins_under < 0.8, "{:?}", s1[i]);
        assert!(s2[i].bins_under >= 0.95 && s2[i].loss_theta <= 0.01 * s1[i].loss_theta, "{:?} after {:?}", s2[i], s1[i]);
    }
}

/// Iterations (stage 1, stage 2) and stage-2 rate of the checkpoint test: short, so that the
/// test takes seconds on an idle CPU (about 0.1 s an iteration for two clips); the measured
/// runs of README.md use more.
const KWS_STEPS: (usize, usize) = (20, 160);
const KWS_LR2: f64 = 2e-3;
