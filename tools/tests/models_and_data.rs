//! Architectures and datasets: shapes and multiply-adds of every model (003's CNN is 75 M per
//! 1 s window, `kws-rt` at most 5 M), a too-short input is a clear error, and the FSDD and
//! ESC-10 splits are the documented ones.

use soundproof_tools::data::{esc10, DatasetSpec};
use soundproof_tools::nn::{Arch, Model, ModelSpec};
use std::path::PathBuf;
use tch::{nn, Device, Kind, Tensor};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

fn spec(arch: Arch, input: &[i64], classes: usize) -> ModelSpec {
    ModelSpec { arch, n_classes: classes, input_shape: input.to_vec(), width: 1.0, sample_rate: 16_000, folded: false }
}

#[test]
fn shapes_and_multiply_adds() {
    // kws-strided, by hand: unpadded stride-2 3×3 convs 1→16 (50×31 out), 16→32 (24×15),
    // 32→48 (11×7), 48→64 (5×3) and a 192→10 linear layer after the time mean:
    // 223,200 + 1,658,880 + 1,064,448 + 414,720 + 1,920.
    // kws-tc, by hand: a 3×64 kernel, stride 2 in time, 1→64 (50 frames out: 64·192·50), then
    // k×1 kernels over time 64→96 k5 s2 (23: 96·320·23), 96→128 k5 s2 (10: 128·480·10),
    // 128→128 k3 s1 (8: 128·384·8), and a 128→10 linear layer after the time mean:
    // 614,400 + 706,560 + 614,400 + 393,216 + 1,280.
    // kws-strided-lift: kws-strided plus the lifter's 64×64 product on each of 101 frames
    // (413,696).
    let cases: [(Arch, &[i64], f64, f64); 10] = [
        (Arch::KwsCnn, &[1, 101, 64], 74e6, 76e6),
        (Arch::KwsRt, &[1, 101, 64], 1e6, 5e6),
        (Arch::KwsStrided, &[1, 101, 64], 3_363_168.0, 3_363_168.0),
        // the mean normalization has no multiply-adds of a convolution or linear layer
        (Arch::KwsStridedCmn, &[1, 101, 64], 3_363_168.0, 3_363_168.0),
        (Arch::KwsStridedVcmn, &[1, 101, 64], 3_363_168.0, 3_363_168.0),
        (Arch::KwsStridedLift, &[1, 101, 64], 3_776_864.0, 3_776_864.0),
        (Arch::KwsTc, &[1, 101, 64], 2_329_856.0, 2_329_856.0),
        (Arch::Cnn2d, &[1, 101, 64], 10e6, 1e9),
        (Arch::Resnet18, &[1, 101, 64], 100e6, 1e9),
        (Arch::Cnn1d, &[1, 80_000], 100e6, 5e9),
    ];
    for (arch, input, lo, hi) in cases {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Model::new(&vs.root(), &spec(arch, input, 10)).expect("build");
        let macs = m.macs() as f64;
        println!("{}: {:.2} M multiply-adds", arch.name(), macs / 1e6);
        assert!(macs >= lo && macs <= hi, "{}: {macs} multiply-adds outside [{lo}, {hi}]", arch.name());
        let mut shape = vec![2];
        shape.extend(input);
        let y = m.forward_t(&Tensor::randn(shape.as_slice(), (Kind::Float, Device::Cpu)), false);
        assert_eq!(y.size(), vec![2, 10], "{}", arch.name());
    }
}

#[test]
fn cnn1d_refuses_one_second() {
    let vs = nn::VarStore::new(Device::Cpu);
    let e = Model::new(&vs.root(), &spec(Arch::Cnn1d, &[1, 16_000], 10)).err().expect("1 s is too short for cnn1d");
    assert!(e.to_string().contains("input too small"), "{e}");
}

#[test]
fn fsdd_split_is_official() {
    let idx = DatasetSpec::Fsdd { recordings: data().join("fsdd/recordings") }.index().expect("fsdd");
    assert_eq!((idx.train.len(), idx.validation.len(), idx.test.len()), (2000, 250, 250));
    assert!(idx.test.iter().all(|e| {
        let take: u32 = e.path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.rsplit('_').next()).and_then(|t| t.parse().ok()).unwrap_or(99);
        take < 5
    }));
    assert_eq!(idx.labels.len(), 10);
}

#[test]
fn leave_one_speaker_out_folds_hold_the_voice_out() {
    let recordings = data().join("fsdd/recordings");
    let speakers = soundproof_tools::data::fsdd::speakers(&recordings).expect("speakers");
    assert_eq!(speakers, ["george", "jackson", "nicolas", "theo", "yweweler"]);
    let speaker = |e: &soundproof_tools::data::Example| e.path.file_name().unwrap().to_str().unwrap().split('_').nth(1).unwrap().to_string();
    let take = |e: &soundproof_tools::data::Example| -> u32 { e.path.file_stem().unwrap().to_str().unwrap().rsplit('_').next().unwrap().parse().unwrap() };
    for s in &speakers {
        let idx = DatasetSpec::FsddSpeaker { recordings: recordings.clone(), held_out: s.clone() }.index().expect("fold");
        // Every clip of the held-out voice (10 digits × 50 takes) is the test set, and only those.
        assert_eq!(idx.test.len(), 500, "{s}");
        assert!(idx.test.iter().all(|e| speaker(e) == *s));
        assert!(idx.train.iter().chain(&idx.validation).all(|e| speaker(e) != *s));
        // The four others: takes 5-9 validate, the remaining 45 takes train.
        assert_eq!((idx.train.len(), idx.validation.len()), (4 * 10 * 45, 4 * 10 * 5));
        assert!(idx.validation.iter().all(|e| (5..10).contains(&take(e))));
        assert!(idx.train.iter().all(|e| !(5..10).contains(&take(e))));
        assert!(idx.split.contains(s.as_str()));
    }
    assert!(DatasetSpec::FsddSpeaker { recordings: recordings.clone(), held_out: "nobody".into() }.index().is_err());

    // Extra training clips (`--extra-train`): labelled by the digit of their name, sorted; a
    // folder holding a voice of the dataset itself (here FSDD's own recordings: a fold's
    // held-out speaker among them) is refused, and so is a file not in FSDD's naming.
    let idx = DatasetSpec::FsddSpeaker { recordings: recordings.clone(), held_out: "george".into() }.index().expect("fold");
    let dir = std::env::temp_dir().join(format!("soundproof-extra-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clip = recordings.join("3_jackson_7.wav");
    for name in ["7_synx_0.wav", "3_synx_0.wav", "3_syny_12.wav"] {
        std::fs::copy(&clip, dir.join(name)).unwrap();
    }
    let extra = soundproof_tools::data::fsdd::extra(&dir, &idx).expect("extra clips");
    let names: Vec<_> = extra.iter().map(|e| (e.path.file_name().unwrap().to_str().unwrap().to_string(), e.label)).collect();
    assert_eq!(names, [("3_synx_0.wav".to_string(), 3), ("3_syny_12.wav".into(), 3), ("7_synx_0.wav".into(), 7)]);
    let err = soundproof_tools::data::fsdd::extra(&recordings, &idx).unwrap_err().to_string();
    assert!(err.contains("a speaker of the dataset itself"), "{err}");
    std::fs::copy(&clip, dir.join("notes.wav")).unwrap();
    let err = soundproof_tools::data::fsdd::extra(&dir, &idx).unwrap_err().to_string();
    assert!(err.contains("notes.wav"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn esc10_folds() {
    let root = data().join("esc10");
    let folds = esc10::folds(&root).expect("meta.csv");
    assert!(folds.len() >= 3);
    let idx = DatasetSpec::Esc10 { root: root.clone(), test_fold: folds[0], validation_fold: None }.index().expect("esc10");
    assert_eq!(idx.labels.len(), 10);
    assert_eq!(idx.labels[0], "dog");
    assert_eq!(idx.test.len(), 80);
    assert_eq!(idx.validation.len(), 80);
    assert_eq!(idx.train.len(), 80 * (folds.len() - 2));
    let bad = DatasetSpec::Esc10 { root: root.clone(), test_fold: 9, validation_fold: None }.index();
    assert!(bad.is_err());

    // Validation fold 0: the other folds train, every fifth recording of each class validates;
    // no recording (the second field of the name) is in both, each class validates.
    let idx = DatasetSpec::Esc10 { root, test_fold: folds[0], validation_fold: Some(0) }.index().expect("esc10");
    assert_eq!(idx.test.len(), 80);
    assert_eq!(idx.train.len() + idx.validation.len(), 80 * (folds.len() - 1));
    let source = |e: &soundproof_tools::data::Example| e.path.file_name().unwrap().to_string_lossy().split('-').nth(1).unwrap().to_string();
    let held: std::collections::BTreeSet<String> = idx.validation.iter().map(source).collect();
    assert!(idx.train.iter().all(|e| !held.contains(&source(e))), "a recording both trains and validates");
    for c in 0..10 {
        assert!(idx.validation.iter().any(|e| e.label == c), "class {c} has no validation clip");
    }
    let share = idx.validation.len() as f64 / (80 * (folds.len() - 1)) as f64;
    assert!((0.1..0.3).contains(&share), "validation share {share}");
}
