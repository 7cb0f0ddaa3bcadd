#!/usr/bin/env python3
"""onnxruntime anchor of the inference benchmark (benches/src/bin/inference.rs).

Runs the same ONNX files in onnxruntime on the inputs the Rust side wrote (windows.npy,
noisy.npy in --dir), one thread (intra_op_num_threads=1, inter_op_num_threads=1, sequential
execution, default graph optimizations), with the same warm-up and repeat counts and the same
statistics (median = upper middle, p90 = nearest rank, windows/s = runs / total time). Compares
onnxruntime's logits with tract's (logits-NAME.npy, logits-bB-NAME.npy): max abs difference and
argmax agreement. Prints JSON lines.

    python benches/ort_anchor.py --dir target/bench-inference [--models models] [--repeats 200] ...
"""
import argparse
import json
import math
import os
import platform
import time

import numpy as np
import onnxruntime as ort

MODELS = ["kws-fsdd", "kws-fsdd-int8", "kws-fsdd-rt", "kws-fsdd-rt-int8"]


def median_p90(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2], s[min(max(math.ceil(0.9 * n), 1), n) - 1]


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Default optimizations (ORT_ENABLE_ALL is onnxruntime's default level).
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="target/bench-inference")
    ap.add_argument("--models", default="models")
    ap.add_argument("--only", default=",".join(MODELS))
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--repeats-batch", type=int, default=30)
    a = ap.parse_args()

    windows = np.load(os.path.join(a.dir, "windows.npy")).astype(np.float32)
    noisy = np.load(os.path.join(a.dir, "noisy.npy")).astype(np.float32)
    labels = json.load(open(os.path.join(a.dir, "labels.json")))
    w, b = windows.shape[0], noisy.shape[0]
    print(json.dumps({"kind": "setup", "engine": "onnxruntime", "onnxruntime": ort.__version__,
                      "numpy": np.__version__, "python": platform.python_version(),
                      "windows": w, "batch": b, "warmup": a.warmup, "repeats": a.repeats,
                      "repeats_batch": a.repeats_batch}), flush=True)

    for name in a.only.split(","):
        t = time.perf_counter()
        s = session(os.path.join(a.models, name + ".onnx"))
        load_ms = (time.perf_counter() - t) * 1e3
        inp = s.get_inputs()[0].name

        def run(x):
            return s.run(None, {inp: x})[0]

        ones = [np.ascontiguousarray(windows[i:i + 1]) for i in range(w)]
        logits = np.concatenate([run(x) for x in ones])
        logits_b = run(noisy)
        acc = float(np.mean(np.argmax(logits, axis=1) == np.array(labels)))

        cmp = {}
        for key, mine, f in (("b1", logits, f"logits-{name}.npy"), ("batch", logits_b, f"logits-b{b}-{name}.npy")):
            p = os.path.join(a.dir, f)
            if os.path.exists(p):
                theirs = np.load(p)
                cmp[key] = {"max_abs_diff": float(np.max(np.abs(mine - theirs))),
                            "max_abs_logit": float(np.max(np.abs(theirs))),
                            "argmax_agree": float(np.mean(np.argmax(mine, 1) == np.argmax(theirs, 1)))}

        for i in range(a.warmup):
            run(ones[i % w])
        ms = []
        t0 = time.perf_counter()
        for i in range(a.repeats):
            t = time.perf_counter()
            run(ones[i % w])
            ms.append((time.perf_counter() - t) * 1e3)
        total1 = time.perf_counter() - t0
        med1, p901 = median_p90(ms)

        for _ in range(max(-(-a.warmup // 10), 2)):
            run(noisy)
        msb = []
        t0 = time.perf_counter()
        for _ in range(a.repeats_batch):
            t = time.perf_counter()
            run(noisy)
            msb.append((time.perf_counter() - t) * 1e3)
        totalb = time.perf_counter() - t0
        medb, p90b = median_p90(msb)
        print(json.dumps({
            "kind": "model", "engine": "onnxruntime", "model": name, "load_ms": load_ms, "accuracy": acc,
            "vs_tract": cmp,
            "b1": {"runs": a.repeats, "median_ms": med1, "p90_ms": p901, "mean_ms": total1 * 1e3 / a.repeats,
                   "min_ms": min(ms), "windows_per_s": a.repeats / total1},
            "batch": {"batch": b, "runs": a.repeats_batch, "median_ms": medb, "p90_ms": p90b,
                      "median_ms_per_window": medb / b, "windows_per_s": a.repeats_batch * b / totalb},
        }), flush=True)


if __name__ == "__main__":
    main()
