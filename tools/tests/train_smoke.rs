//! A short CPU training on a few hundred FSDD clips: the loss falls and accuracy ends well
//! above chance (10 %); and training is reproducible: the same seed gives the same losses.

use soundproof_tools::data::augment::Augment;
use soundproof_tools::data::DatasetSpec;
use soundproof_tools::device::DeviceChoice;
use soundproof_tools::nn::Arch;
use soundproof_tools::train::{train, TrainConfig};
use std::path::PathBuf;

fn fsdd() -> DatasetSpec {
    DatasetSpec::Fsdd { recordings: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fsdd/recordings") }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("soundproof-tools-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn quick(arch: Arch, clips: usize, epochs: usize) -> TrainConfig {
    let mut cfg = TrainConfig::new(arch);
    cfg.epochs = epochs;
    cfg.batch_size = 16;
    cfg.lr = 2e-3;
    cfg.max_per_split = Some(clips);
    cfg.device = DeviceChoice::Cpu;
    cfg.threads = Some(2);
    cfg.quiet = true;
    cfg.augment = Augment { sigma: 0.005, noise_prob: 0.5, max_shift: 800, ..Augment::NONE };
    cfg
}

#[test]
fn short_training_learns() {
    let cfg = quick(Arch::KwsCnn, 400, 2);
    let out = scratch("learns");
    let r = train(&cfg, &fsdd(), &out).expect("training");
    assert_eq!(r.epochs.len(), 2);
    let (first, last) = (&r.epochs[0], &r.epochs[1]);
    println!(
        "losses {:.3} → {:.3}; train accuracy {:.1}% → {:.1}%; validation {:.1}%, test {:.1}%; {:.0} clips/s",
        first.loss,
        last.loss,
        100.0 * first.train_accuracy,
        100.0 * last.train_accuracy,
        100.0 * r.best_val_accuracy,
        100.0 * r.test_accuracy,
        r.clips_per_s
    );
    assert!(last.loss < first.loss, "loss did not fall: {} → {}", first.loss, last.loss);
    assert!(last.train_accuracy > 0.3, "training accuracy {} is not well above chance", last.train_accuracy);
    assert!(r.best_val_accuracy > 0.3, "validation accuracy {} is not well above chance", r.best_val_accuracy);
    for f in ["model.safetensors", "checkpoint.json", "train_log.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn same_seed_same_run() {
    let cfg = quick(Arch::KwsRt, 48, 1);
    let (a, b) = (scratch("seed-a"), scratch("seed-b"));
    let ra = train(&cfg, &fsdd(), &a).expect("run a");
    let rb = train(&cfg, &fsdd(), &b).expect("run b");
    assert_eq!(ra.epochs[0].loss, rb.epochs[0].loss, "losses differ between identical seeded runs");
    assert_eq!(ra.test_accuracy, rb.test_accuracy);
    let mut other = cfg.clone();
    other.seed = 1;
    let c = scratch("seed-c");
    let rc = train(&other, &fsdd(), &c).expect("run c");
    assert_ne!(ra.epochs[0].loss, rc.epochs[0].loss, "a different seed gave the same loss");
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}
