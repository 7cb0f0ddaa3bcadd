//! `soundproof certify`, `merge`, `diagnose`, `gain-sweep` end to end on the shipped
//! `kws-fsdd-rt-int8` (small n: these check the machinery, the statistics are checked against
//! closed forms in `smoothing.rs`), and online certification in the streaming pipeline.

use soundproof::model::Model;
use soundproof::pipeline::{stream_file_certified, OnlineCertify, StreamOptions};
use soundproof::window::{ClipGain, ClipWindow};
use soundproof::smooth::{Budget, Contract, LookSchedule, OnlineBound, Plan, SmoothParams, Smoother};
use soundproof_tests::{fsdd, root, scratch, soundproof_bin};
use std::process::{Command, Output};

fn model() -> String {
    root().join("models/kws-fsdd-rt-int8.onnx").display().to_string()
}

fn run(args: &[&str]) -> Output {
    Command::new(soundproof_bin()).args(args).output().expect("run soundproof")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "soundproof {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn read_json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("json file")).expect("json")
}

/// Records without their timing, for equality across runs.
fn records(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["certificate"].as_object_mut().unwrap().remove("seconds");
            r
        })
        .collect()
}

#[test]
fn certify_records_shards_merge_and_threads() {
    let dir = scratch("cli_certify");
    let data = fsdd().display().to_string();
    let m = model();
    let common = ["certify", "--model", &m, "--sigma", "0.005", "--n0", "20", "--n", "100", "--split", "test", "--max-clips", "6", "--quiet", "--dataset", &data];
    let all = dir.join("all.json");
    let png = dir.join("all.png");
    let out = ok(&[&common[..], &["--json", all.to_str().unwrap(), "--plot", png.to_str().unwrap()]].concat());
    assert!(out.contains("certified accuracy (R > 0)"), "{out}");
    assert!(std::fs::metadata(&png).expect("png written").len() > 1000);
    let v = read_json(&all);
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 6);
    for r in recs {
        let c = &r["certificate"];
        for field in [
            "contract", "certified_object", "perturbation", "gain_policy", "gain", "transform", "sigma", "n0", "n", "alpha", "n_a", "p_a_lower",
            "radius", "snr_cert_db", "prediction", "seed",
        ] {
            assert!(c.get(field).is_some(), "certificate lacks {field}: {c}");
        }
        assert_eq!(c["contract"], "waveform");
        assert_eq!(c["n"], 100);
        // R = σ Φ⁻¹(pA_lower) and SNR_cert = 20 log10(‖x‖/R), from the record's own numbers.
        let (p, r) = (c["p_a_lower"].as_f64().unwrap(), c["radius"].as_f64().unwrap());
        if p > 0.5 {
            let want = 0.005 * soundproof::stats::norm_ppf(p).unwrap();
            assert!((r - want).abs() <= 1e-12 * want.abs().max(1.0), "{r} vs {want}");
            let snr = 20.0 * (c["x_norm"].as_f64().unwrap() / r).log10();
            assert!((c["snr_cert_db"].as_f64().unwrap() - snr).abs() < 1e-9);
        }
    }

    // Two shards merge to exactly the unsharded records; two threads give the same records.
    let s0 = dir.join("s0.json");
    let s1 = dir.join("s1.json");
    ok(&[&common[..], &["--shard", "0/2", "--json", s0.to_str().unwrap()]].concat());
    ok(&[&common[..], &["--shard", "1/2", "--json", s1.to_str().unwrap(), "--threads", "2"]].concat());
    let merged = dir.join("merged.json");
    ok(&["merge", s1.to_str().unwrap(), s0.to_str().unwrap(), "--json", merged.to_str().unwrap()]);
    let mv = read_json(&merged);
    assert_eq!(records(&mv), records(&v), "merged shards differ from the unsharded run");
    assert_eq!(mv["summary"]["certified_accuracy"], v["summary"]["certified_accuracy"]);

    // A shard given twice, or a missing one, is refused.
    let o = run(&["merge", s0.to_str().unwrap(), s0.to_str().unwrap(), "--json", merged.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("twice"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["merge", s0.to_str().unwrap(), "--json", merged.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));

    // Bad requests are clear errors.
    for (args, needle) in [
        (vec!["certify", "--model", m.as_str(), "--sigma", "0", "--dataset", data.as_str()], "σ"),
        (vec!["certify", "--model", m.as_str(), "--sigma", "0.01", "--contract", "post:loud", "--dataset", data.as_str()], "unknown contract"),
        (vec!["certify", "--model", m.as_str(), "--sigma", "0.01", "--shard", "2/2", "--dataset", data.as_str()], "--shard"),
    ] {
        let o = run(&args);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn diagnose_reproduces_the_structure_of_table_3() {
    let dir = scratch("cli_diagnose");
    let j = dir.join("d.json");
    let data = fsdd().display().to_string();
    let m = model();
    ok(&["diagnose", "--model", &m, "--geometry-only", "--max-clips", "10", "--noise-samples", "20", "--split", "test", "--json", j.to_str().unwrap(), &data]);
    let v = read_json(&j);
    let rows = v["table3"].as_array().unwrap();
    let get = |t: &str, level: &str| {
        let r = rows.iter().find(|r| r["transform"] == t && r["level"].as_str().unwrap().starts_with(level)).expect("row");
        (r["d_geom"].as_f64().unwrap(), r["effective_ratio"].as_f64().unwrap())
    };
    let (d, r) = get("fixed", "card");
    assert!(d < 1e-6 && (r - 1.0).abs() < 1e-6, "fixed: {d} {r}");
    let (d, r) = get("rms", "card");
    assert!(d < 1e-3 && (r - 1.0).abs() < 1e-3 && d > 0.0, "rms: {d} {r}");
    let (d, r) = get("clip", "card");
    assert!(d > 10.0 && r > 10.0, "clip at RMS 1 changes the perturbation by orders of magnitude: {d} {r}");
    let (_, r) = get("peak", "card");
    assert!((r - 1.0).abs() < 0.05, "peak renormalization to the clean peak barely changes the norm: {r}");
    let (_, r) = get("unit-peak", "card");
    assert!(r > 10.0, "unit-peak: {r}");
    // At the recordings' own level (|x| < 1) clipping never acts.
    let (d, r) = get("clip", "recording");
    assert!(d < 1e-6 && (r - 1.0).abs() < 1e-6, "clip at recording level: {d} {r}");
}

#[test]
fn gain_sweep_moves_snr_cert_under_fixed_gain_only() {
    let dir = scratch("cli_gain_sweep");
    let j = dir.join("g.json");
    let data = fsdd().display().to_string();
    let m = model();
    ok(&["gain-sweep", "--model", &m, "--gains-db=-6,0,6", "--n", "100", "--n0", "20", "--max-clips", "3", "--split", "test", "--json", j.to_str().unwrap(), &data]);
    let v = read_json(&j);
    let cells = v["cells"].as_array().unwrap();
    let snr = |db: f64, p: &str| {
        cells.iter().find(|c| c["gain_db"].as_f64() == Some(db) && c["policy"] == p).expect("cell")["summary"]["median_snr_cert_db"].as_f64().expect("snr")
    };
    for db in [-6.0, 6.0] {
        let rms_shift = snr(db, "rms") - snr(0.0, "rms");
        assert!(rms_shift.abs() < 0.05, "rms: SNR_cert moved by {rms_shift} dB at {db} dB");
        let fixed_shift = snr(db, "fixed") - snr(0.0, "fixed");
        println!("{db:+} dB: fixed shifts SNR_cert by {fixed_shift:.3} dB, rms by {rms_shift:.3} dB");
        // 20·log10 c when the radius is unchanged (all noise samples agree at this n).
        assert!((fixed_shift - db).abs() < 0.5, "fixed: SNR_cert moved by {fixed_shift} dB at {db} dB");
    }
}

#[test]
fn online_certificate_equals_fixed_n_certify_on_the_same_window() {
    let model = Model::load(root().join("models/kws-fsdd-rt-int8.onnx")).unwrap();
    let path = fsdd().join("7_jackson_2.wav");
    let params = SmoothParams { sigma: 0.005, n0: 20, n: 200, alpha: 0.01, batch: 16, seed: 4 };
    let opts = StreamOptions {
        certify: Some(OnlineCertify {
            contract: Contract::Waveform,
            params,
            // No time budget: the planned n is n, on two workers.
            bound: OnlineBound::Planned(Plan::default()),
            budget: Budget { time: None },
            workers: 2,
            every: 1,
            gain_policy: soundproof::smooth::GainRecord::ClipRms,
        }),
        ..Default::default()
    };
    let mut first = None;
    let mut labels = Vec::new();
    let stats = stream_file_certified(
        &model,
        &path,
        ClipGain::ClipRms,
        &opts,
        |w| labels.push(w.label),
        |c| {
            if c.index == 0 {
                first = Some(c.certificate.clone());
            }
        },
    )
    .unwrap();
    assert!(stats.windows >= 1);
    // A file waits for the certifier: every window is certified, none skipped.
    assert_eq!(stats.certified_windows, stats.windows);
    assert_eq!(stats.certifications_skipped, 0);
    assert_eq!(labels.len() as u64, stats.windows);
    let online = first.expect("window 0 certified");
    // The same window offline: the clip centred in one window, scaled by its clip gain.
    let clip = soundproof::audio::read_mono(&path).unwrap();
    let samples = soundproof::audio::resample(&clip.samples, clip.sample_rate, 16_000).unwrap();
    assert!(samples.len() <= 16_000);
    let (x, _) = ClipWindow::of(model.card()).window(&samples, ClipGain::ClipRms).unwrap();
    let offline = Smoother::new(&model, Contract::Waveform, params).unwrap().certify(&x, 0, soundproof::smooth::GainRecord::ClipRms, 1.0).unwrap();
    assert_eq!(online.candidate, offline.candidate);
    assert_eq!(online.n_a, offline.n_a);
    assert_eq!(online.p_a_lower, offline.p_a_lower, "the planned n at level α is fixed-n CERTIFY");
    assert_eq!(online.prediction, Some(7));
}

#[test]
fn a_busy_certifier_skips_and_counts_on_a_live_source_while_labels_flow() {
    let model = Model::load(root().join("models/kws-fsdd-rt-int8.onnx")).unwrap();
    let path = root().join("models/demo/digits.wav");
    let params = SmoothParams { sigma: 0.005, n0: 16, n: 10_000, alpha: 0.001, batch: 16, seed: 0 };
    let opts = StreamOptions {
        // 20× real time: a window every 12.5 ms, a certification budget of 150 ms.
        pacing: soundproof::audio::Pacing::RealTime { speed: 20.0 },
        max_pending_windows: 8,
        drop_when_behind: true,
        certify: Some(OnlineCertify {
            contract: Contract::Waveform,
            params,
            bound: OnlineBound::Looks(LookSchedule::doubling(64, params.n)),
            budget: Budget { time: Some(std::time::Duration::from_millis(150)) },
            workers: 1,
            every: 1,
            gain_policy: soundproof::smooth::GainRecord::Calibration,
        }),
        ..Default::default()
    };
    let (mut labels, mut certs) = (0u64, 0u64);
    let stats =
        stream_file_certified(&model, &path, ClipGain::Calibration, &opts, |_| labels += 1, |_| certs += 1).unwrap();
    println!("{stats:?}");
    assert_eq!(labels, stats.windows);
    assert_eq!(certs, stats.certified_windows);
    assert!(stats.certified_windows >= 1);
    assert!(stats.certifications_skipped > 0, "the certifier cannot keep up with a window every 12.5 ms");
    assert_eq!(stats.certified_windows + stats.certifications_skipped, stats.windows);
}
