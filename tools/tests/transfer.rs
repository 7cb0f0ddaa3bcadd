//! The transfer run (`soundproof_tools::transfer`) on the shipped kws-rt: its checkpoint
//! (`models/kws-fsdd-rt.checkpoint.json` + `.safetensors`, in tch) and its ONNX model
//! (`models/kws-fsdd-rt.onnx`, the same weights run by the engine in tract).
//!
//! * The engine's path (clip gain, front end, tract) and the checkpoint's (tch) give the same
//!   verdict on the clean, rebuilt clean and rebuilt adversarial audio of every clip (one
//!   disagreement allowed across all of them, for an example left on the boundary), and the
//!   adversarial map fed back to the source itself fools it exactly as often as the attack did.
//! * With ε = 0 the adversarial map is the clean map, Griffin-Lim starts each clip from the
//!   same phase for both, so the two rebuilt waveforms are identical: nothing is fooled and the
//!   Eq. 3 SNR is infinite on every clip.
//! * `MeanSd` and `Rate` against their closed forms.

use soundproof_tools::attack::{AttackConfig, AttackKind, BoxSpec, Goal};
use soundproof_tools::data::fsdd;
use soundproof::dataset::evenly;
use soundproof_tools::rebuild::{GriffinLim, PhaseInit, Rebuild};
use soundproof_tools::transfer::{run, LabelledClip, MeanSd, Member, MemberSpec, TransferOptions};
use std::path::PathBuf;
use tch::Device;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped model, whose checkpoint ships beside it (`soundproof-tools import`: batch norms folded, every weight the ONNX file's, checked on load).
fn checkpoint_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/kws-fsdd-rt.onnx")
}

fn clips(n: usize) -> Vec<LabelledClip> {
    let recordings = manifest().join("../../shared/data/fsdd/recordings");
    assert!(recordings.is_dir(), "no FSDD at {} (../shared/data beside the repository)", recordings.display());
    let test = fsdd::index(&recordings).unwrap().test;
    evenly(&test, n).into_iter().map(|e| LabelledClip { path: e.path, label: e.label as i64 }).collect()
}

fn members() -> Vec<Member> {
    let dir = checkpoint_dir();
    let onnx = manifest().join("../models/kws-fsdd-rt.onnx");
    let specs = [MemberSpec::parse(&format!("torch={}", dir.display()), false), MemberSpec::parse(onnx.to_str().unwrap(), true)];
    specs.iter().map(|s| Member::load(s, Device::Cpu).unwrap()).collect()
}

fn options(eps: f64, rebuild: Rebuild) -> TransferOptions {
    let cfg = AttackConfig { kind: AttackKind::BimB, eps, alpha: eps.max(1e-3) / 4.0, steps: 5, goal: Goal::Untargeted };
    TransferOptions {
        features_attack: cfg,
        waveform_attack: cfg,
        box_spec: BoxSpec::Clean,
        rebuild: Some(rebuild),
        griffin_lim: GriffinLim { iterations: 8, momentum: 0.99, init: PhaseInit::Random(3) },
        batch: 3,
        device: Device::Cpu,
        quiet: true,
        save_audio: false,
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = manifest().join("../target/test-scratch/transfer").join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn the_engine_and_the_checkpoint_agree_on_rebuilt_audio() {
    let (mut members, clips) = (members(), clips(6));
    tch::set_num_threads(2);
    assert_eq!(members[1].name, "kws-fsdd-rt");
    let out = scratch("agree");
    let r = run(&mut members, &[0], &clips, &options(1.0, Rebuild::Istft), &out).unwrap();
    for f in ["report.json", "matrix.json", "matrix.md"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let src = &r.sources[0];
    assert_eq!(r.matrix.rows, vec!["torch"]);
    assert_eq!(r.matrix.columns, vec!["torch", "kws-fsdd-rt"]);
    let mut disagreements = 0;
    for e in &src.examples {
        let (t, x) = (&e.verdicts[0], &e.verdicts[1]);
        disagreements += (t.clean != x.clean) as usize + (t.rebuilt_clean != x.rebuilt_clean) as usize + (t.adversarial != x.adversarial) as usize;
        assert_eq!(t.map_clean, x.map_clean, "{}: map verdicts differ", e.name);
    }
    assert!(disagreements <= 1, "tch and the engine disagree {disagreements} times: {:?}", src.examples.iter().map(|e| &e.verdicts).collect::<Vec<_>>());
    // The adversarial map fed back to the source is the attack itself.
    let own = src.members[0].map_transfer.expect("the source shares its own map");
    assert_eq!((own.counted, own.fooled), (src.attack.counted, src.attack.successes));
    println!(
        "in-domain {}/{}, through audio (torch) {:?}, engine {:?}, Eq. 3 SNR {:.1} dB",
        src.attack.successes, src.attack.counted, src.members[0].transfer, src.members[1].transfer, src.snr_db.mean
    );
}

#[test]
fn zero_radius_fools_nobody() {
    let (mut members, clips) = (members(), clips(4));
    tch::set_num_threads(2);
    let r = run(&mut members, &[0], &clips, &options(0.0, Rebuild::GriffinLim), &scratch("zero")).unwrap();
    let src = &r.sources[0];
    for e in &src.examples {
        assert!(e.snr_db.is_infinite(), "{}: the two rebuilt waveforms differ (Eq. 3 SNR {} dB)", e.name, e.snr_db);
        for v in &e.verdicts {
            assert_eq!(v.rebuilt_clean, v.adversarial, "{}: {}", e.name, v.member);
        }
    }
    for m in &src.members {
        assert_eq!(m.transfer.fooled, 0, "{}", m.member);
    }
    assert_eq!(src.snr_db.n, 0);
}

#[test]
fn summaries_match_closed_forms() {
    let m = MeanSd::of([1.0, 2.0, 3.0, f64::INFINITY].into_iter());
    assert_eq!((m.mean, m.sd, m.n), (2.0, 1.0, 3));
    let s = MemberSpec::parse("a=b/c", false);
    assert_eq!((s.name.as_str(), s.path.to_str().unwrap()), ("a", "b/c"));
    assert_eq!(MemberSpec::parse("models/kws-fsdd.onnx", true).name, "kws-fsdd");
    assert_eq!(MemberSpec::parse("out/run-1", false).name, "run-1");
}
