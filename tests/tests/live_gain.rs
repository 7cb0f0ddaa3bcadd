//! The live gain knob of the streaming pipeline (`pipeline::LiveGain`, 003 failure mode 2):
//! under the fixed policy the certified window is x = s0·c·a, so its norm grows by exactly c and
//! SNR_cert = 20·log10(‖x‖/R) by 20·log10 c wherever R is unchanged; under RMS normalization x
//! does not depend on c; and a knob turned while the stream runs reaches the following windows.

use soundproof::model::Model;
use soundproof::window::ClipGain;
use soundproof::pipeline::{stream_file_live, LiveGain, LivePolicy, OnlineCertify, StreamOptions};
use soundproof::smooth::{Budget, Certificate, Contract, OnlineBound, Plan, SmoothParams};
use soundproof_tests::root;

fn model() -> Model {
    Model::load(root().join("models/kws-fsdd-rt-int8.onnx")).unwrap()
}

/// Certificates of the demo recording's non-overlapping windows at input gain `db`, `policy`.
fn certify(model: &Model, db: f32, policy: LivePolicy) -> Vec<(u64, bool, Certificate)> {
    let params = SmoothParams { sigma: 0.005, n0: 16, n: 300, alpha: 0.001, batch: 16, seed: 1 };
    let opts = StreamOptions {
        certify: Some(OnlineCertify {
            contract: Contract::Waveform,
            params,
            // No time budget: the planned n is n, on two workers.
            bound: OnlineBound::Planned(Plan::default()),
            budget: Budget { time: None },
            workers: 2,
            every: 4,
            gain_policy: soundproof::smooth::GainRecord::Calibration,
        }),
        ..Default::default()
    };
    let live = LiveGain::new(db, policy);
    let mut certs = Vec::new();
    let path = root().join("models/demo/digits.wav");
    let stats = stream_file_live(model, &path, ClipGain::Calibration, &opts, Some(&live), |_| {}, |c| {
        let i = c.input.expect("a live stream's certificate carries its input setting");
        assert_eq!((i.gain_db, i.policy), (db, policy));
        certs.push((c.index, i.steady, c.certificate.clone()));
    })
    .unwrap();
    assert_eq!(stats.certified_windows as usize, certs.len());
    assert!(certs.len() >= 10, "{} certificates", certs.len());
    certs
}

#[test]
fn fixed_gain_scales_the_certified_window_by_c_and_rms_normalization_does_not() {
    let model = model();
    let db = 20.0 * 2f32.log10(); // c = 2
    let c = 10f64.powf(db as f64 / 20.0);
    let base = certify(&model, 0.0, LivePolicy::Fixed);
    let louder = certify(&model, db, LivePolicy::Fixed);
    let mut same_radius = 0;
    for ((i0, _, a), (i1, _, b)) in base.iter().zip(&louder) {
        assert_eq!(i0, i1);
        if a.x_norm == 0.0 {
            continue;
        }
        // ‖s0·c·a‖ = c·‖s0·a‖.
        assert!((b.x_norm / a.x_norm - c).abs() < 1e-4 * c, "window {i0}: ‖x‖ ratio {} for c = {c}", b.x_norm / a.x_norm);
        if let (Some(sa), Some(sb)) = (a.snr_cert_db, b.snr_cert_db) {
            if a.radius == b.radius {
                same_radius += 1;
                assert!((sb - sa - 20.0 * c.log10()).abs() < 1e-3, "window {i0}: SNR_cert {sa} → {sb}");
            }
        }
    }
    assert!(same_radius >= 3, "windows certified with the same radius at both gains: {same_radius}");

    let rms0 = certify(&model, 0.0, LivePolicy::Rms);
    let rms12 = certify(&model, 12.0, LivePolicy::Rms);
    let mut compared = 0;
    for ((i0, steady, a), (_, _, b)) in rms0.iter().zip(&rms12) {
        // From the second window of the stream on (the setting steady over the certified window
        // and the normalizer's window before it): at the stream's start the normalizer's window
        // holds the leading digital silence, where the +60 dB cap on the gain decides.
        if !steady {
            continue;
        }
        compared += 1;
        // x = target·y/RMS(y) with y = c·a: the same window at any c (f32 rounding aside).
        assert!((a.x_norm - b.x_norm).abs() <= 1e-4 * a.x_norm.max(1e-9), "window {i0}: ‖x‖ {} vs {}", a.x_norm, b.x_norm);
        assert_eq!(a.prediction, b.prediction, "window {i0}");
        if let (Some(sa), Some(sb)) = (a.snr_cert_db, b.snr_cert_db) {
            assert!((sa - sb).abs() < 1e-3, "window {i0}: SNR_cert {sa} vs {sb} under rms");
        }
    }
    assert!(compared >= 8, "{compared} steady windows");
}

#[test]
fn a_knob_turned_while_streaming_reaches_the_following_windows() {
    let model = model();
    let live = LiveGain::new(0.0, LivePolicy::Fixed);
    let path = root().join("models/demo/digits.wav");
    let mut seen = Vec::new();
    let opts = StreamOptions::default();
    stream_file_live(&model, &path, ClipGain::Calibration, &opts, Some(&live), |w| {
        let i = w.input.expect("input snapshot");
        seen.push((w.index, i.gain_db, i.policy, i.scale, i.peak_dbfs));
        // The model thread turns the knob after window 10, as a UI thread would.
        if w.index == 10 {
            live.set_gain_db(-6.0);
            live.set_policy(LivePolicy::Clip);
        }
    }, |_| {})
    .unwrap();
    let first_new = seen.iter().position(|s| s.1 == -6.0).expect("the new gain reached a window");
    assert!(first_new > 10 && first_new <= 10 + 2 + StreamOptions::default().max_pending_windows, "{first_new}");
    assert!(seen[..first_new].iter().all(|s| s.1 == 0.0 && s.2 == LivePolicy::Fixed));
    assert!(seen[first_new..].iter().all(|s| s.1 == -6.0 && s.2 == LivePolicy::Clip));
    // x = s0·y under both: the scale per unit of y stays the calibration constant.
    let s0 = model.card().normalization.calibration_gain;
    assert!(seen.iter().all(|s| s.3 == s0));
    // The recording peaks below full scale: at −6 dB the loudest window's peak is 6 dB lower.
    let loudest = |r: &[(u64, f32, LivePolicy, f32, f32)]| r.iter().map(|s| s.4).fold(f32::NEG_INFINITY, f32::max);
    assert!(loudest(&seen[..first_new]) <= 0.0 && loudest(&seen[first_new..]) <= -6.0 + 1e-3);
}
