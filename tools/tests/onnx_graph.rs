//! The ONNX graph builder: models built with `Graph` run the same in tract and in onnxruntime
//! (`tests/reference/onnx_ref.py`, after `onnx.checker`'s full check), the weight layout and the
//! BatchNorm folding agree with a direct computation, the bilinear resize is
//! `soundproof::dsp::resize`, and the model card survives a round trip and guards the graph.
//!
//! Tolerance: max |tract − reference| ≤ 1e-5 · max |reference|. Both runtimes compute in f32
//! with different summation orders (im2col + blocked GEMM in each); for the small nets here
//! (≤ 1152-term dot products) the observed gap is ~1e-7 relative.

use soundproof::model::card::InputKind;
use soundproof::model::Precision;
use soundproof_tools::onnx::testing::{self, card, ort_run, rel_max_diff, Rng};
use soundproof_tools::onnx::{card_of, load, run_tract, save, set_card, Array, Graph, ModelProto};
use std::path::PathBuf;

const TOL: f32 = 1e-5;

fn scratch(name: &str) -> PathBuf {
    let d = testing::workspace_root()
        .join("target")
        .join("test-scratch")
        .join("onnx_graph")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch folder");
    d
}

fn ops(m: &ModelProto) -> Vec<String> {
    m.graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type.clone())
        .collect()
}

/// Saves `m`, runs it in tract and in onnxruntime on `x`, checks they agree; returns tract's.
fn check_against_ort(m: &ModelProto, x: &Array, name: &str) -> Array {
    let dir = scratch(name);
    let path = dir.join(format!("{name}.onnx"));
    save(m, &path).unwrap();
    let reloaded = load(&path).unwrap();
    let y = run_tract(&reloaded, x).unwrap();
    let r = ort_run(&path, x, &dir).unwrap();
    let d = rel_max_diff(&y, &r);
    assert!(
        d <= TOL,
        "{name}: tract vs onnxruntime max diff {d:e} relative to output scale"
    );
    assert!(
        y.max_abs() > 0.0 && y.data.iter().all(|v| v.is_finite()),
        "{name}: degenerate output"
    );
    y
}

fn features(n: usize, seed: u64) -> Array {
    Rng::new(seed).array(&[n, 1, testing::FRAMES, testing::MELS], -2.0, 1.5)
}

/// Resize to 48×40, two conv+BN+ReLU+max-pool blocks, a residual conv block, a BatchNorm that
/// follows an Add (not foldable), global average pool, linear.
fn cnn_2d(seed: u64) -> ModelProto {
    let mut rng = Rng::new(seed);
    let mut g = Graph::new(
        "features",
        &[-1, 1, testing::FRAMES as i64, testing::MELS as i64],
    );
    let x = g.resize_bilinear(&g.input(), [48, 40]);
    let x = testing::conv_block(&mut g, &mut rng, &x, 1, 8);
    let x = testing::conv_block(&mut g, &mut rng, &x, 8, 16);
    let r = g.conv(
        &x,
        rng.array(&[16, 16, 3, 3], 0.0, 0.1),
        None,
        &[1, 1],
        &[1, 1],
        &[1, 1],
        1,
    );
    let r = g.relu(&r);
    let x = g.add(&x, &r);
    let x = g.batch_norm(
        &x,
        rng.array(&[16], 1.0, 0.1),
        rng.array(&[16], 0.0, 0.1),
        rng.array(&[16], 0.0, 0.1),
        Array {
            shape: vec![16],
            data: vec![1.2; 16],
        },
        1e-5,
    );
    let x = g.global_average_pool(&x);
    let x = g.flatten(&x);
    let y = g.linear(
        &x,
        rng.array(&[10, 16], 0.0, 0.3),
        Some(rng.array(&[10], 0.0, 0.1)),
    );
    let mut c = card("cnn2d-test", InputKind::Features, 10);
    c.resize = Some([48, 40]);
    g.finish(&y, &c).unwrap()
}

#[test]
fn cnn_with_resize_and_residual_runs_the_same_in_tract_and_onnxruntime() {
    let m = cnn_2d(1);
    let ops = ops(&m);
    // The two conv+BN pairs are folded; the BN after the residual Add stays.
    assert_eq!(
        ops.iter().filter(|o| *o == "BatchNormalization").count(),
        1,
        "{ops:?}"
    );
    assert_eq!(ops.iter().filter(|o| *o == "Conv").count(), 3, "{ops:?}");
    let y = check_against_ort(&m, &features(3, 7), "cnn2d");
    assert_eq!(y.shape, vec![3, 10]);
}

#[test]
fn conv1d_waveform_net_runs_the_same_in_tract_and_onnxruntime() {
    let mut rng = Rng::new(2);
    let mut g = Graph::new("features", &[-1, 1, testing::WINDOW as i64]);
    let x = g.conv(
        &g.input(),
        rng.array(&[8, 1, 64], 0.0, 0.2),
        Some(rng.array(&[8], 0.0, 0.1)),
        &[16],
        &[24],
        &[1],
        1,
    );
    let x = g.batch_norm(
        &x,
        rng.array(&[8], 1.0, 0.1),
        rng.array(&[8], 0.0, 0.1),
        rng.array(&[8], 0.0, 0.1),
        Array {
            shape: vec![8],
            data: vec![0.9; 8],
        },
        1e-3,
    );
    let x = g.relu(&x);
    let x = g.max_pool(&x, &[4], &[4], &[0]);
    // Grouped, dilated, asymmetrically padded.
    let x = g.conv(
        &x,
        rng.array(&[16, 4, 3], 0.0, 0.3),
        Some(rng.array(&[16], 0.0, 0.1)),
        &[1],
        &[2, 1],
        &[2],
        2,
    );
    let x = g.relu(&x);
    let x = g.avg_pool(&x, &[4], &[], &[1]);
    let x = g.reduce_mean(&x, &[2], false);
    let x = g.abs(&x);
    let one = g.constant(Array {
        shape: vec![1],
        data: vec![1.0],
    });
    let x = g.add(&x, &one);
    let x = g.log(&x);
    let y = g.linear(&x, rng.array(&[5, 16], 0.0, 0.5), None);
    let m = g
        .finish(&y, &card("cnn1d-test", InputKind::Waveform, 5))
        .unwrap();
    assert!(!ops(&m).contains(&"BatchNormalization".to_string()));
    let x = Rng::new(9).array(&[2, 1, testing::WINDOW], 0.0, 0.1);
    let y = check_against_ort(&m, &x, "cnn1d");
    assert_eq!(y.shape, vec![2, 5]);
}

/// Direct 2-D convolution, NCHW, weight `[out, in/group, kh, kw]`, symmetric `pads`.
#[allow(clippy::too_many_arguments)]
fn conv2d(
    x: &Array,
    w: &Array,
    b: &[f32],
    stride: [usize; 2],
    pad: [usize; 2],
    dil: [usize; 2],
    group: usize,
) -> Array {
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (cout, cpg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    assert_eq!(cpg * group, cin);
    let oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) / stride[0] + 1;
    let ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) / stride[1] + 1;
    let mut out = Array::zeros(&[n, cout, oh, ow]);
    for b_ in 0..n {
        for o in 0..cout {
            let gi = o / (cout / group);
            for y in 0..oh {
                for xx in 0..ow {
                    let mut s = b[o] as f64;
                    for c in 0..cpg {
                        let ci = gi * cpg + c;
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (y * stride[0] + i * dil[0]) as isize - pad[0] as isize;
                                let ix = (xx * stride[1] + j * dil[1]) as isize - pad[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let xv = x.data
                                    [((b_ * cin + ci) * h + iy as usize) * wd + ix as usize]
                                    as f64;
                                s += xv * w.data[((o * cpg + c) * kh + i) * kw + j] as f64;
                            }
                        }
                    }
                    out.data[((b_ * cout + o) * oh + y) * ow + xx] = s as f32;
                }
            }
        }
    }
    out
}

#[test]
fn conv_weight_layout_and_batch_norm_folding_match_a_direct_computation() {
    let mut rng = Rng::new(3);
    let w1 = rng.array(&[4, 1, 3, 5], 0.0, 0.5);
    let b1 = rng.array(&[4], 0.0, 0.2);
    let w2 = rng.array(&[6, 2, 3, 3], 0.0, 0.3);
    let (gamma, beta, mean) = (
        rng.array(&[6], 1.0, 0.2),
        rng.array(&[6], 0.0, 0.2),
        rng.array(&[6], 0.0, 0.2),
    );
    let var = Array {
        shape: vec![6],
        data: (0..6).map(|i| 0.5 + 0.2 * i as f32).collect(),
    };
    let eps = 1e-3;

    let mut g = Graph::new(
        "features",
        &[-1, 1, testing::FRAMES as i64, testing::MELS as i64],
    );
    // Asymmetric kernel, stride, padding and dilation per axis: a transposed layout would show.
    let x = g.conv(
        &g.input(),
        w1.clone(),
        Some(b1.clone()),
        &[2, 1],
        &[1, 2],
        &[1, 2],
        1,
    );
    let x = g.conv(&x, w2.clone(), None, &[1, 1], &[1, 1], &[1, 1], 2);
    let y = g.batch_norm(
        &x,
        gamma.clone(),
        beta.clone(),
        mean.clone(),
        var.clone(),
        eps,
    );
    let m = g
        .finish(&y, &card("conv-test", InputKind::Features, 2))
        .unwrap();
    assert_eq!(
        ops(&m),
        vec!["Conv", "Conv"],
        "the BatchNormalization is folded into the second conv"
    );

    let x = features(2, 11);
    let h = conv2d(&x, &w1, &b1.data, [2, 1], [1, 2], [1, 2], 1);
    let mut r = conv2d(&h, &w2, &[0.0; 6], [1, 1], [1, 1], [1, 1], 2);
    let plane = r.shape[2] * r.shape[3];
    for (i, v) in r.data.iter_mut().enumerate() {
        let c = (i / plane) % 6;
        *v = (*v - mean.data[c]) / (var.data[c] + eps).sqrt() * gamma.data[c] + beta.data[c];
    }
    let y = run_tract(&m, &x).unwrap();
    assert_eq!(y.shape, r.shape);
    let d = rel_max_diff(&y, &r);
    assert!(d <= TOL, "tract vs direct conv: {d:e}");
    let y = check_against_ort(&m, &x, "conv");
    assert!(rel_max_diff(&y, &r) <= TOL);
}

#[test]
fn resize_bilinear_is_the_engine_resize() {
    let mut g = Graph::new(
        "features",
        &[-1, 1, testing::FRAMES as i64, testing::MELS as i64],
    );
    let y = g.resize_bilinear(&g.input(), [128, 128]);
    let mut c = card("resize-test", InputKind::Features, 2);
    c.resize = Some([128, 128]);
    let m = g.finish(&y, &c).unwrap();
    let x = features(2, 5);
    let y = check_against_ort(&m, &x, "resize");
    assert_eq!(y.shape, vec![2, 1, 128, 128]);
    let per = testing::FRAMES * testing::MELS;
    let mut r = vec![0.0f32; 2 * 128 * 128];
    for (i, out) in r.chunks_mut(128 * 128).enumerate() {
        soundproof::dsp::resize::resize_bilinear(
            &x.data[i * per..(i + 1) * per],
            testing::FRAMES,
            testing::MELS,
            out,
            128,
            128,
        )
        .unwrap();
    }
    let d = rel_max_diff(
        &y,
        &Array {
            shape: y.shape.clone(),
            data: r,
        },
    );
    assert!(d <= TOL, "graph resize vs dsp::resize: {d:e}");
}

#[test]
fn card_round_trips_through_the_file_and_its_json_copy() {
    let m = cnn_2d(4);
    let dir = scratch("card");
    let path = dir.join("model.onnx");
    save(&m, &path).unwrap();
    let mut expected = card("cnn2d-test", InputKind::Features, 10);
    expected.resize = Some([48, 40]);
    assert_eq!(card_of(&load(&path).unwrap()).unwrap(), expected);
    let json = std::fs::read_to_string(dir.join("model.json")).unwrap();
    assert_eq!(
        soundproof::model::ModelCard::from_json(&json).unwrap(),
        expected
    );
    assert!(
        json.contains("\n  \"name\": \"cnn2d-test\""),
        "the copy is pretty-printed"
    );
    // Flat readable keys sit beside the JSON card.
    let props = &load(&path).unwrap().metadata_props;
    assert!(
        props.iter().any(|e| e.key == "soundproof.features.kind"),
        "{:?}",
        props.iter().map(|e| &e.key).collect::<Vec<_>>()
    );
}

fn err<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.expect_err("expected a refusal"))
}

#[test]
fn missing_or_inconsistent_card_is_refused() {
    let m = cnn_2d(5);

    let mut bare = m.clone();
    bare.metadata_props.clear();
    assert!(err(card_of(&bare)).contains("model card missing"));
    assert!(err(save(&bare, &scratch("bare").join("m.onnx"))).contains("model card missing"));

    // The card disagrees with itself: 100 frames where the front end yields 101.
    let mut c = card("bad", InputKind::Features, 10);
    c.resize = Some([48, 40]);
    c.input_shape = vec![-1, 1, 100, 64];
    let mut g = Graph::new("features", &[-1, 1, 100, 64]);
    let x = g.resize_bilinear(&g.input(), [48, 40]);
    let y = g.relu(&x);
    let e = err(g.finish(&y, &c));
    assert!(
        e.contains("inconsistent") && e.contains("101 frames"),
        "{e}"
    );

    // The card disagrees with the graph.
    let good = card_of(&m).unwrap();
    type Edit = fn(&mut soundproof::model::ModelCard);
    let edits: [(Edit, &str); 5] = [
        (|c| c.input_name = "x".into(), "input_name `x`"),
        (|c| c.output_name = "probs".into(), "output_name `probs`"),
        (|c| c.precision = Precision::Int8, "precision Int8"),
        (|c| c.resize = Some([128, 128]), "resize"),
        (|c| c.resize = None, "no resize"),
    ];
    for (edit, needle) in edits {
        let mut c = good.clone();
        edit(&mut c);
        let mut m2 = m.clone();
        let e = err(set_card(&mut m2, &c));
        assert!(
            e.contains("does not fit its graph") && e.contains(needle),
            "{needle}: {e}"
        );
        // A tampered file is refused on reading too.
        let mut m3 = m.clone();
        for p in m3
            .metadata_props
            .iter_mut()
            .filter(|p| p.key == soundproof::model::card::CARD_KEY)
        {
            p.value = serde_json::to_string(&c).unwrap();
        }
        let e = err(card_of(&m3));
        assert!(e.contains(needle), "{needle}: {e}");
    }

    // Not JSON.
    let mut m4 = m.clone();
    for p in m4
        .metadata_props
        .iter_mut()
        .filter(|p| p.key == soundproof::model::card::CARD_KEY)
    {
        p.value = "{".into();
    }
    assert!(err(card_of(&m4)).contains("not valid JSON"));
}

#[test]
fn builder_mistakes_are_reported_by_node() {
    let mut g = Graph::new(
        "features",
        &[-1, 1, testing::FRAMES as i64, testing::MELS as i64],
    );
    let x = g.conv(
        &g.input(),
        Array::zeros(&[4, 1, 3, 3]),
        Some(Array::zeros(&[3])),
        &[1, 1],
        &[1, 1, 1],
        &[],
        1,
    );
    let x = g.relu(&x);
    let _ = g.relu("nowhere");
    let y = g.linear(&x, Array::zeros(&[2, 4, 1]), None);
    let e = err(g.finish(&y, &card("m", InputKind::Features, 2)));
    for needle in [
        "conv_1: bias holds 3 values for 4 output channels",
        "conv_1: pads",
        "relu_3: input `nowhere`",
        "linear_4: weight of shape [2, 4, 1]",
    ] {
        assert!(e.contains(needle), "missing `{needle}` in:\n{e}");
    }

    let mut g = Graph::new(
        "features",
        &[-1, 1, testing::FRAMES as i64, testing::MELS as i64],
    );
    let _ = g.relu(&g.input());
    let e = err(g.finish("relu_9", &card("m", InputKind::Features, 2)));
    assert!(e.contains("output `relu_9` is not produced"), "{e}");
}
