//! Speed of 003's log-mel CNN in tract, f32 vs f16 vs int8, against onnxruntime on the same
//! files, one thread each, in one run (DESIGN "Reference measurements").
//!
//!   cargo run --release -p soundproof-tools --example onnx_speed -- [OUT_DIR] [--quick]
//!       [--forms] [--profile] [--f16-layers] [--no-f16-bench]
//!
//! The CNN (four 3×3 conv blocks 32-64-128-128 with BN, ReLU, 2×2 max-pool, global mean,
//! linear; ~75 M multiply-adds per [1, 101, 64] window) gets seeded random conv weights and a
//! nearest-class-mean head fitted on FSDD training windows, so its decisions depend on the
//! input; int8 is calibrated on FSDD training windows. Prints, per model: agreement with f32 on
//! FSDD test windows, tract's optimized operators, and the median latency per window at batch
//! 1, 32 and 100 in tract and in onnxruntime.
//!
//! `--forms`: every int8 variant (QLinear / Integer operators, uint8 / int8 activations,
//! per-channel / per-tensor weight scales). `--profile`: tract's time per operator kind.
//! `--f16-layers`: f16 vs f32 tensor by tensor in tract.

use soundproof_tools::onnx::quantize::{to_int8_with, Int8Form, Int8Options};
use soundproof_tools::onnx::run::{profile_tract, run_tract_outputs};
use soundproof_tools::onnx::testing::{
    self, argmax_rows, fsdd_windows, rel_max_diff, stack, Split,
};
use soundproof_tools::onnx::{
    bench_tract, optimized_ops, run_tract, save, to_f16, Array, ModelProto,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let quick = flag("--quick");
    let out = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| testing::workspace_root().join("target").join("onnx_speed"));
    std::fs::create_dir_all(&out)?;

    let train = fsdd_windows(Split::Train, if quick { 100 } else { 400 })?;
    let test = fsdd_windows(Split::Test, if quick { 100 } else { 300 })?;
    let calib: Vec<_> = train.iter().step_by(2).map(|(a, _)| a.clone()).collect();
    let f32m = testing::kws_cnn_fitted(3, &[32, 64, 128, 128], &train, 10)?;
    let int8 = |form, signed_activations, per_channel_weights, coverage| {
        to_int8_with(
            &f32m,
            &calib,
            &Int8Options {
                form,
                signed_activations,
                per_channel_weights,
                coverage,
            },
        )
    };
    let mut models: Vec<(String, ModelProto)> =
        vec![("f32".into(), f32m.clone()), ("f16".into(), to_f16(&f32m))];
    if flag("--forms") {
        for form in [Int8Form::QLinear, Int8Form::Integer] {
            for signed in [false, true] {
                for per_channel in [true, false] {
                    let tag = format!(
                        "int8-{}-{}-{}",
                        if form == Int8Form::QLinear {
                            "qlinear"
                        } else {
                            "integer"
                        },
                        if signed { "s8" } else { "u8" },
                        if per_channel {
                            "perchannel"
                        } else {
                            "pertensor"
                        }
                    );
                    models.push((tag, int8(form, signed, per_channel, 1.0)?));
                }
            }
        }
        for coverage in [0.9999, 0.999] {
            models.push((
                format!("int8-qlinear-u8-pertensor-cov{coverage}"),
                int8(Int8Form::QLinear, false, false, coverage)?,
            ));
            models.push((
                format!("int8-qlinear-u8-perchannel-cov{coverage}"),
                int8(Int8Form::QLinear, false, true, coverage)?,
            ));
        }
    } else {
        models.push((
            "int8".into(),
            soundproof_tools::onnx::to_int8(&f32m, &calib)?,
        ));
    }
    let x = stack(&test.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>())?;
    let labels: Vec<usize> = test.iter().map(|(_, l)| *l).collect();
    let reference = run_tract(&f32m, &x)?;
    let ref_arg = argmax_rows(&reference);

    println!(
        "# 003 log-mel CNN, {} calibration windows, {} FSDD test windows\n",
        calib.len(),
        test.len()
    );
    let mut paths = Vec::new();
    for (tag, m) in &models {
        let path = out.join(format!("kws-cnn-{tag}.onnx"));
        save(m, &path)?;
        println!(
            "## {tag}: {} ({} bytes)",
            path.display(),
            std::fs::metadata(&path)?.len()
        );
        if tag != "f16" || flag("--f16-layers") {
            let y = run_tract(m, &x)?;
            let arg = argmax_rows(&y);
            let agree =
                arg.iter().zip(&ref_arg).filter(|(a, b)| a == b).count() as f64 / arg.len() as f64;
            let acc =
                arg.iter().zip(&labels).filter(|(a, b)| a == b).count() as f64 / arg.len() as f64;
            println!(
                "  logits vs f32: max |Δ| / max |logit| {:.2e}, max |Δ| / mean row spread {:.2e}; argmax agreement {:.1} %; accuracy {:.1} % (f32: {:.1} %)",
                rel_max_diff(&y, &reference),
                max_diff(&y, &reference) / mean_spread(&reference),
                100.0 * agree,
                100.0 * acc,
                100.0 * ref_arg.iter().zip(&labels).filter(|(a, b)| a == b).count() as f64 / labels.len() as f64
            );
        }
        let mut ops: BTreeMap<String, usize> = BTreeMap::new();
        for (_, op) in optimized_ops(m, 1)? {
            *ops.entry(op).or_default() += 1;
        }
        println!("  tract optimized ops (batch 1): {ops:?}");
        if flag("--profile") && (tag != "f16" || !flag("--no-f16-bench")) {
            for batch in [1, 32] {
                let prof = profile_tract(m, batch, if batch == 1 { 20 } else { 3 })?;
                let total: f64 = prof.iter().map(|p| p.2).sum();
                let mut by_op: BTreeMap<String, f64> = BTreeMap::new();
                for (_, op, ms) in &prof {
                    *by_op.entry(op.clone()).or_default() += ms;
                }
                let mut by_op: Vec<_> = by_op
                    .into_iter()
                    .filter(|(_, ms)| *ms > 0.01 * total)
                    .collect();
                by_op.sort_by(|a, b| b.1.total_cmp(&a.1));
                let s: Vec<String> = by_op
                    .iter()
                    .map(|(op, ms)| {
                        format!(
                            "{op} {:.2} ms ({:.0} %)",
                            ms / batch as f64,
                            100.0 * ms / total
                        )
                    })
                    .collect();
                println!(
                    "  profile batch {batch}: {:.3} ms/window: {}",
                    total / batch as f64,
                    s.join(", ")
                );
            }
        }
        paths.push((tag.clone(), path));
    }

    if flag("--f16-layers") {
        f16_layers(&f32m, &models[1].1, &x)?;
    }

    println!(
        "\n| model | batch | tract ms/window | tract ms/run (min-max) | onnxruntime ms/window |"
    );
    println!("|---|---|---|---|---|");
    for (tag, path) in &paths {
        for (batch, iters) in [
            (1, if quick { 20 } else { 100 }),
            (32, if quick { 3 } else { 15 }),
            (100, if quick { 2 } else { 7 }),
        ] {
            let o = testing::ort_bench(path, batch, iters)?;
            let ort = o["per_window_ms"].as_f64().unwrap_or(f64::NAN);
            if tag == "f16" && flag("--no-f16-bench") {
                println!("| {tag} | {batch} | – | – | {ort:.3} |");
                continue;
            }
            // tract's f16 kernels are slow here: time fewer runs.
            let iters = if tag == "f16" { 2 } else { iters };
            let t = bench_tract(path, batch, iters)?;
            println!(
                "| {tag} | {batch} | {:.3} | {:.2} ({:.2}-{:.2}) | {ort:.3} |",
                t.per_window_ms, t.median_ms, t.min_ms, t.max_ms
            );
        }
    }
    Ok(())
}

fn max_diff(a: &Array, b: &Array) -> f32 {
    a.data
        .iter()
        .zip(&b.data)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Mean over rows of (max − min) of a `[n, k]` array: the scale of the decisions.
fn mean_spread(a: &Array) -> f32 {
    let k = *a.shape.last().unwrap_or(&1);
    let rows = a.data.chunks(k);
    let n = rows.len().max(1);
    rows.map(|r| {
        r.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v))
            - r.iter().fold(f32::INFINITY, |m, v| m.min(*v))
    })
    .sum::<f32>()
        / n as f32
}

/// f16 against f32, tensor by tensor, on the first 4 test windows.
fn f16_layers(f32m: &ModelProto, f16m: &ModelProto, x: &Array) -> anyhow::Result<()> {
    let x4 = Array {
        shape: vec![4, 1, testing::FRAMES, testing::MELS],
        data: x.data[..4 * testing::FRAMES * testing::MELS].to_vec(),
    };
    let names: Vec<String> = f32m
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.output[0].clone())
        .collect();
    let names: Vec<String> = names.into_iter().filter(|n| n != "logits").collect();
    let a = run_tract_outputs(f32m, &x4, &names)?;
    let b = run_tract_outputs(f16m, &x4, &names)?;
    println!("\n## f16 vs f32 in tract, per tensor (max |Δ| / max |f32|, max |f32|)");
    for ((n, a), b) in names.iter().zip(&a).zip(&b) {
        println!("  {n:12} {:.2e}  {:.3e}", rel_max_diff(b, a), a.max_abs());
    }
    Ok(())
}
