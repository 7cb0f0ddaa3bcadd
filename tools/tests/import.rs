//! `soundproof-tools import`: a shipped f32 ONNX model read back into a tch checkpoint.
//!
//! * The imported checkpoint computes the model's function: its tch logits on real FSDD
//!   windows equal tract's on the ONNX file (an independent runtime) to float rounding, for
//!   the two shipped keyword models (kws-rt and kws-cnn).
//! * The checkpoints shipped in `models/` load from the ONNX path, which holds them against
//!   the file (every weight tensor bit-equal to what the checkpoint exports).
//! * A checkpoint one weight away from its model is refused, naming what differs; a quantized
//!   model has no checkpoint, and says which model to use instead.

use soundproof_tools::checkpoint::{files, Checkpoint};
use soundproof_tools::data::fsdd;
use soundproof_tools::data::prepare;
use soundproof::dataset::evenly;
use soundproof_tools::export::batcher_of;
use soundproof::window::ClipWindow;
use soundproof_tools::onnx::{self, Array};
use std::path::{Path, PathBuf};
use tch::{nn, Device, Tensor};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A copy of `models/NAME.onnx` in a fresh scratch folder (so importing writes there).
fn scratch_copy(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("soundproof-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let to = dir.join(format!("{name}.onnx"));
    std::fs::copy(root().join("models").join(format!("{name}.onnx")), &to).unwrap();
    to
}

/// Model inputs of four FSDD test clips, as the card's pipeline and front end make them.
fn inputs(onnx_path: &Path) -> Array {
    let card = onnx::card_of(&onnx::load(onnx_path).unwrap()).unwrap();
    let recordings = root().join("../shared/data/fsdd/recordings");
    assert!(recordings.is_dir(), "no FSDD at {}", recordings.display());
    let examples = evenly(&fsdd::index(&recordings).unwrap().test, 4);
    let data = prepare(&ClipWindow::of(&card), &examples).unwrap();
    let mut batcher = batcher_of(&card).unwrap();
    let mut buf = Vec::new();
    for i in 0..data.len() {
        batcher.push_input(data.clip(i), &mut buf).unwrap();
    }
    let mut shape = vec![data.len()];
    shape.extend(batcher.example_shape().iter().map(|&d| d as usize));
    Array { shape, data: buf }
}

fn tch_logits(onnx_path: &Path, x: &Array) -> Vec<f32> {
    let ck = Checkpoint::load(onnx_path).unwrap();
    let (_vs, model) = ck.build(onnx_path, Device::Cpu).unwrap();
    let shape: Vec<i64> = x.shape.iter().map(|&d| d as i64).collect();
    let y = tch::no_grad(|| model.forward_t(&Tensor::from_slice(&x.data).reshape(shape.as_slice()), false));
    Vec::<f32>::try_from(y.flatten(0, -1)).unwrap()
}

fn imported_equals_tract(name: &str) {
    let path = scratch_copy(name);
    let ck = Checkpoint::import(&path).unwrap();
    assert!(ck.spec.folded);
    let (meta, weights) = files(&path);
    assert!(meta.is_file() && weights.is_file());
    let x = inputs(&path);
    let want = onnx::run_tract(&onnx::load(&path).unwrap(), &x).unwrap().data;
    let got = tch_logits(&path, &x);
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-4 * scale, "{name}: tch {g} vs tract {w}");
    }
    // The same label for every window.
    let n = ck.labels.len();
    let argmax = |v: &[f32]| v.iter().enumerate().fold(0, |b, (i, &x)| if x > v[b] { i } else { b });
    for (g, w) in got.chunks(n).zip(want.chunks(n)) {
        assert_eq!(argmax(g), argmax(w));
    }
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn imported_kws_rt_computes_the_onnx_models_function() {
    imported_equals_tract("kws-fsdd-rt");
}

#[test]
fn imported_kws_strided_computes_the_onnx_models_function() {
    imported_equals_tract("kws-fsdd-strided");
}

#[test]
fn imported_kws_cnn_computes_the_onnx_models_function() {
    imported_equals_tract("kws-fsdd");
}

#[test]
fn shipped_checkpoints_load_from_their_onnx_files() {
    for name in ["kws-fsdd", "kws-fsdd-rt", "kws-fsdd-strided"] {
        let path = root().join("models").join(format!("{name}.onnx"));
        let ck = Checkpoint::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(ck.spec.folded, "{name}");
        let card = onnx::card_of(&onnx::load(&path).unwrap()).unwrap();
        assert_eq!(ck.labels, card.labels);
    }
}

#[test]
fn a_checkpoint_that_disagrees_with_its_model_is_refused() {
    let path = scratch_copy("kws-fsdd-rt");
    let ck = Checkpoint::import(&path).unwrap();
    // One weight of the last convolution's bias moved by one step of f32.
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _model = soundproof_tools::nn::Model::new(&vs.root(), &ck.spec).unwrap();
    vs.load(Checkpoint::weights(&path)).unwrap();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(n, _)| n.ends_with(".bias")).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let (_, t) = vars.last().unwrap();
    tch::no_grad(|| {
        let v = t.double_value(&[0]) as f32;
        let _ = t.shallow_clone().get(0).fill_(f32::from_bits(v.to_bits() + 1) as f64);
    });
    vs.save(Checkpoint::weights(&path)).unwrap();
    let e = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(e.contains("disagrees with the model") && e.contains("differs"), "{e}");
    // A different front end in the record.
    Checkpoint::import(&path).unwrap();
    let (meta, _) = files(&path);
    let text = std::fs::read_to_string(&meta).unwrap().replace("\"n_mels\": 64", "\"n_mels\": 40");
    std::fs::write(&meta, text).unwrap();
    let e = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(e.contains("front end"), "{e}");
    let _ = vs;
    let _ = std::fs::remove_dir_all(path.parent().unwrap());

    // Quantized models have no checkpoint of their own.
    let int8 = root().join("models/kws-fsdd-rt-int8.onnx");
    let e = Checkpoint::import(&int8).unwrap_err().to_string();
    assert!(e.contains("only an f32 model") && e.contains("kws-fsdd-rt"), "{e}");
    let e = Checkpoint::load(&int8).unwrap_err().to_string();
    assert!(e.contains("no checkpoint beside") && e.contains("parent"), "{e}");
}
