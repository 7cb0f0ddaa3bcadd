//! The int8 kernels against tract, bit for bit, on real FSDD windows: every op of the shipped
//! QLinear models fed tract's own input to that op (tract run with every intermediate tensor
//! as an output), and whole models end to end from f32 features.

use firmware_sim::gen::{self, CompiledModel};
use soundproof::dsp::{FeatureConfig, FrontEnd, GainPolicy};
use soundproof::model::Model;
use soundproof::nn::{Graph, Op};
use soundproof::window::{ClipGain, ClipWindow, WindowPlan};
use std::path::{Path, PathBuf};
use tract_onnx::prelude::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// First windows of FSDD test-split clips (takes 0-4), features as `classify` computes them.
fn windows(model: &Model, clips: &[&str]) -> Vec<Vec<f32>> {
    let plan = WindowPlan::of(model).unwrap();
    let mut out = Vec::new();
    for name in clips {
        let path = root().join("../shared/data/fsdd/recordings").join(name);
        let clip = soundproof::audio::read_mono(&path).unwrap();
        let s = soundproof::audio::resample(&clip.samples, clip.sample_rate, 16_000).unwrap();
        let g = ClipWindow::of(model.card()).gain(&s, ClipGain::ClipRms).unwrap();
        let cfg = FeatureConfig { gain: GainPolicy::Fixed { gain: g }, ..model.card().features };
        let mut fe = FrontEnd::<1024>::new(&cfg).unwrap();
        let (l, r) = plan.padding(s.len());
        let mut frames = Vec::new();
        let mut sink = |f: &[f32]| -> Result<(), soundproof::dsp::DspError> {
            frames.extend_from_slice(f);
            Ok(())
        };
        fe.push(&vec![0.0; l], &mut sink).unwrap();
        fe.push(&s, &mut sink).unwrap();
        fe.push(&vec![0.0; r], &mut sink).unwrap();
        fe.finish(&mut sink).unwrap();
        out.push(frames[..plan.frames_per_window * plan.bins].to_vec());
    }
    out
}

const CLIPS: [&str; 12] = [
    "0_george_0.wav", "1_jackson_1.wav", "2_george_2.wav", "3_nicolas_3.wav", "4_theo_4.wav", "5_yweweler_0.wav",
    "6_george_1.wav", "7_jackson_2.wav", "8_theo_3.wav", "9_nicolas_4.wav", "3_theo_0.wav", "7_yweweler_4.wav",
];

/// tract's value of every step's output tensor (u8 activations, f32 logits) for one window.
fn tract_intermediates(path: &Path, m: &CompiledModel, input: &[f32]) -> Vec<Tensor> {
    let mut model = soundproof::model::onnx().model_for_path(path).unwrap();
    let names: Vec<&str> = m.steps.iter().map(|s| s.name.as_str()).collect();
    model.select_outputs_by_name(&names).unwrap();
    model.set_input_fact(0, f32::fact([1, 1, 101, 64]).into()).unwrap();
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    let x = Tensor::from_shape(&[1, 1, 101, 64], input).unwrap();
    plan.run(tvec!(x.into())).unwrap().into_iter().map(|t| t.into_tensor()).collect()
}

fn u8s(t: &Tensor) -> Vec<u8> {
    // Quantized u8 tensors carry their scale in the datum type; the stored values are the u8s.
    assert_eq!(t.datum_type().unquantized(), u8::datum_type(), "tract tensor of type {:?}", t.datum_type());
    let mut plain = t.clone();
    unsafe { plain.set_datum_type(u8::datum_type()) };
    plain.to_plain_array_view::<u8>().unwrap().iter().copied().collect()
}

fn check_ops(file: &str, n_windows: usize) {
    let path = root().join("models").join(file);
    let m = gen::compile(&path).unwrap();
    let model = Model::load(&path).unwrap();
    let steps = m.steps();
    let graph: Graph<'_> = m.graph(&steps);
    let mut checked = vec![0usize; steps.len()];
    for input in windows(&model, &CLIPS[..n_windows]) {
        let t = tract_intermediates(&path, &m, &input);
        for (k, s) in steps.iter().enumerate() {
            let want_len = if k + 1 == steps.len() { m.n_classes } else { s.output.len };
            match &s.op {
                Op::Quantize(q) => {
                    let mut y = vec![0u8; q.len()];
                    q.run_at(0, &input, &mut y);
                    assert_eq!(y, u8s(&t[k]), "{file}: step {k} ({})", m.steps[k].name);
                }
                Op::Dequantize(d) => {
                    let mut y = vec![0f32; d.len];
                    d.run(&u8s(&t[k - 1]), &mut y);
                    let want: Vec<f32> = t[k].to_plain_array_view::<f32>().unwrap().iter().copied().collect();
                    assert!(y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{file}: logits {y:?} vs tract {want:?}");
                }
                op => {
                    let x = u8s(&t[k - 1]);
                    let mut y = vec![0u8; want_len];
                    match op {
                        Op::Conv(c) => c.run(&x, &mut y),
                        Op::MaxPool(p) => p.run(&x, &mut y),
                        Op::Mean(mm) => mm.run(&x, &mut y),
                        Op::MatMul(mm) => mm.run(&x, &mut y),
                        _ => unreachable!(),
                    }
                    let want = u8s(&t[k]);
                    let bad = y.iter().zip(&want).filter(|(a, b)| a != b).count();
                    assert_eq!(bad, 0, "{file}: step {k} ({} {}): {bad} of {} values differ from tract", op.name(), m.steps[k].name, y.len());
                }
            }
            checked[k] += 1;
        }
        // End to end through the arena: the same logits as tract's whole model.
        let mut arena = vec![0u8; graph.arena_len];
        let mut logits = vec![0f32; m.n_classes];
        graph.run(&input, &mut arena, &mut logits);
        let want = model.run(&input, 1).unwrap();
        assert!(logits.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{file}: {logits:?} vs tract {want:?}");
    }
    assert!(checked.iter().all(|&c| c == n_windows));
}

#[test]
fn rt_int8_every_op_equals_tract() {
    check_ops("kws-fsdd-rt-int8.onnx", 12);
}

#[test]
fn cnn_int8_every_op_equals_tract() {
    // MaxPool and GlobalAveragePool, 75 M multiply-accumulates per window: three windows.
    check_ops("kws-fsdd-int8.onnx", 3);
}

/// End to end on many windows (every test clip of two speakers, all windows of each clip).
#[test]
fn rt_int8_logits_equal_tract_on_test_clips() {
    let path = root().join("models/kws-fsdd-rt-int8.onnx");
    let m = gen::compile(&path).unwrap();
    let model = Model::load(&path).unwrap();
    let steps = m.steps();
    let graph = m.graph(&steps);
    let names: Vec<String> = (0..10).flat_map(|d| (0..5).flat_map(move |t| ["jackson", "yweweler"].map(|s| format!("{d}_{s}_{t}.wav")))).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let inputs = windows(&model, &refs);
    let flat: Vec<f32> = inputs.concat();
    let want = model.run(&flat, inputs.len()).unwrap();
    let mut arena = vec![0u8; graph.arena_len];
    let mut logits = vec![0f32; m.n_classes];
    for (i, x) in inputs.iter().enumerate() {
        graph.run(x, &mut arena, &mut logits);
        let w = &want[i * m.n_classes..(i + 1) * m.n_classes];
        assert!(logits.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()), "{}: {logits:?} vs tract {w:?}", names[i]);
    }
    assert_eq!(inputs.len(), 100);
}

#[test]
fn arena_plan_never_overlaps_a_live_neighbour_and_is_tight() {
    let lens = [6464usize, 39168, 9984, 19968, 19968, 26624, 6656, 9984, 9984, 9984, 768];
    let (off, size) = gen::plan_arena(&lens);
    for i in 0..lens.len() - 1 {
        let (a, b) = ((off[i], off[i] + lens[i]), (off[i + 1], off[i + 1] + lens[i + 1]));
        assert!(a.1 <= b.0 || b.1 <= a.0, "buffers {i} and {} overlap", i + 1);
        assert!(a.1 <= size && b.1 <= size);
    }
    assert_eq!(size, 39168 + 9984, "the largest pair of neighbours");
}
