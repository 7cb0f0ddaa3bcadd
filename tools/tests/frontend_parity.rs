//! The tch log-mel twin (`soundproof_tools::frontend`) equals the engine's `dsp` log-mel on
//! FSDD clips run through the training pipeline (8 kHz → 16 kHz, 1 s window, RMS 1), at 003's
//! parameters. Bound: |tch − engine| ≤ 1e-4 · max(|engine|, 1 dB) on every band of every frame
//! (relative on the dB values, with a 1 dB floor so bands near 0 dB are not judged on a
//! vanishing denominator), plus, for bands far below their frame's loudest band, the error an
//! f32 FFT is entitled to there: its absolute amplitude error is a fixed fraction of the frame's
//! peak amplitude (≈ ε·√log₂n, ε = 6e-8; we allow 1e-6), so a band `d` dB below the top may be
//! off by 20·log10(1 + 1e-6·10^(d/20)) dB (0.03 dB at 70 dB down, 3e-4 dB at 30 dB down). The
//! engine runs in f32 whatever the platform's FFT kernels; the tch side is run in float64 (the
//! reference form) and float32 (the attack form); both are held to the bound.

use soundproof::dsp::{FeatureConfig, FeatureKind};
use soundproof_tools::data::features::Featurizer;
use soundproof_tools::data::load_window;
use soundproof::window::ClipWindow;
use soundproof_tools::frontend::LogMelTch;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

fn fsdd() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fsdd/recordings")
}

#[test]
fn tch_logmel_matches_engine_on_fsdd() {
    let cfg = FeatureConfig::new(FeatureKind::Logmel);
    let pipeline = ClipWindow {
        sample_rate: 16_000,
        window_samples: 16_000,
        target_rms: 1.0,
        calibration_gain: None,
    };
    let mut engine = Featurizer::new(&cfg, 16_000).expect("engine front end");
    let names = [
        "0_jackson_0.wav",
        "3_nicolas_1.wav",
        "5_george_4.wav",
        "7_theo_3.wav",
        "9_yweweler_2.wav",
        "1_theo_40.wav",
    ];
    let (frames, bins) = (engine.frames(), engine.bins());
    let mut ours = vec![0.0f32; frames * bins];
    for kind in [Kind::Double, Kind::Float] {
        let twin = LogMelTch::new(&cfg, Device::Cpu, kind).expect("tch front end");
        let mut worst = (0.0f64, 0.0f64);
        for name in names {
            let (x, _) = load_window(&pipeline, &fsdd().join(name)).expect("load clip");
            engine.compute(&x, &mut ours).expect("engine features");
            let t = twin.forward(&Tensor::from_slice(&x).to_kind(kind));
            assert_eq!(t.size(), vec![1, frames as i64, bins as i64]);
            let t: Vec<f64> =
                Vec::try_from(t.to_kind(Kind::Double).flatten(0, -1)).expect("to vec");
            let top: Vec<f64> = ours
                .chunks(bins)
                .map(|f| f.iter().fold(f64::MIN, |m, &v| m.max(v as f64)))
                .collect();
            for (i, (&a, &b)) in ours.iter().zip(&t).enumerate() {
                let err = (a as f64 - b).abs();
                let down = (top[i / bins] - a as f64).max(0.0);
                let fft_room = 20.0 * (1.0 + 1e-6 * 10f64.powf(down / 20.0)).log10();
                let rel = (err - fft_room).max(0.0) / (a as f64).abs().max(1.0);
                assert!(
                    rel <= 1e-4,
                    "{name} ({kind:?}): frame {} band {}: engine {a} dB, tch {b} dB ({rel:e} relative)",
                    i / bins,
                    i % bins
                );
                let raw = err / (a as f64).abs().max(1.0);
                if raw > worst.0 {
                    worst = (raw, err);
                }
            }
        }
        println!("tch {kind:?} vs engine log-mel: worst {:.2e} relative before the f32-FFT allowance ({:.2e} dB)", worst.0, worst.1);
    }
}

#[test]
fn tch_logmel_is_differentiable() {
    let cfg = FeatureConfig::new(FeatureKind::Logmel);
    let twin = LogMelTch::new(&cfg, Device::Cpu, Kind::Float).expect("tch front end");
    let x = (Tensor::randn([2, 16_000], (Kind::Float, Device::Cpu)) * 0.1).set_requires_grad(true);
    let y = twin.forward(&x);
    assert_eq!(y.size(), vec![2, 101, 64]);
    y.sum(Kind::Float).backward();
    let g = x.grad();
    let finite = bool::try_from(g.isfinite().all()).expect("bool");
    assert!(finite, "gradient has NaN/Inf");
    let norm = f64::try_from(g.norm()).expect("norm");
    assert!(norm > 0.0);
}
