"""Reference ONNX execution with onnxruntime (CPU, one thread), for the tools' export tests.

usage:
  onnx_ref.py run MODEL IN.npy OUT.npy
      Checks MODEL with onnx.checker (full check: types and shape inference), runs it on the
      float32 array IN.npy and writes its single output to OUT.npy (float32). Prints the card
      name read from metadata_props (key soundproof.name) and the output shape.
  onnx_ref.py bench MODEL BATCH ITERS
      Times ITERS runs (after 3 warm-up runs) on a batch of BATCH pseudo-random windows shaped
      as the model input (batch axis set to BATCH). Prints one JSON line:
      {"median_ms": .., "min_ms": .., "max_ms": .., "per_window_ms": .., "ort": version}.

Both use intra_op_num_threads=1 and inter_op_num_threads=1 (single-thread comparison with
tract) and onnxruntime's default graph optimizations.
"""
import json
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def run(path, inp, out):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    props = {p.key: p.value for p in model.metadata_props}
    sess = session(path)
    x = np.load(inp).astype(np.float32)
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    np.save(out, np.ascontiguousarray(y, dtype=np.float32))
    print(props.get("soundproof.name", "?"), list(y.shape))


def bench(path, batch, iters):
    sess = session(path)
    i = sess.get_inputs()[0]
    shape = [batch if not isinstance(d, int) or d < 0 else d for d in i.shape]
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) - 1.0).astype(np.float32)
    for _ in range(3):
        sess.run(None, {i.name: x})
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        sess.run(None, {i.name: x})
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    med = times[iters // 2]
    print(json.dumps({"median_ms": med, "min_ms": times[0], "max_ms": times[-1],
                      "per_window_ms": med / batch, "ort": ort.__version__}))


def main():
    cmd = sys.argv[1]
    if cmd == "run":
        run(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "bench":
        bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
