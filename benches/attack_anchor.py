#!/usr/bin/env python3
"""Our attacks (`soundproof-tools attack`) against torchattacks and ART on the same model and inputs.

Given the output folders of `soundproof-tools attack --domain features` (each: `report.json`,
`clean/NAME.npy` = the log-mel map `[1, frames, bins]` the model saw, `adversarial/NAME.npy`),
this script loads the exact clean maps and the reference labels from the report, runs the
same attack with the same parameters in torchattacks (Kim, "Torchattacks: A PyTorch
Repository for Adversarial Attacks", 2020; PyPI `torchattacks`), and DeepFool also in ART
(Nicolae et al., "Adversarial Robustness Toolbox v1.0.0", 2018; PyPI
`adversarial-robustness-toolbox`), on a PyTorch twin of the same checkpoint, and compares:
fooling rate, mean L2 / L∞ of the perturbation, seconds per example and gradients per second,
ours against theirs.

The model. `KwsCnn` below is `kws-cnn` exactly as `tools/src/nn/kws.rs` builds it (through
`tools/src/nn/layer.rs`'s `Builder`): layer `l0` batch norm of the 1-channel input, then four
blocks of 3×3 convolution (padding 1, no bias), batch norm, ReLU and 2×2 max-pool (layers
`l1`-`l16`), a global mean over time and frequency (`l17`) and a linear layer (`l18`). The
weights are read from the checkpoint's `model.safetensors` (the same file our tch model
loads; batch norm unfolded, eval mode, eps 1e-5 as tch's default), every tensor's name and
shape checked. `check` compares its logits with onnxruntime on the exported f32 ONNX
(batch norm folded there); `logits` writes them for a comparison with tch
(`tools/tests/attack_anchor.rs`).

The box. Our features-domain default box is `[min x, max x]` of each clean map, per example
(`tools/src/attack/mod.rs`, `BoxSpec::Clean`); torchattacks clamps to `[0, 1]`. So each example
is mapped affinely onto the unit box, `u = (x - lo) / s` with `s = hi - lo`, and torchattacks
attacks `u ↦ model(lo + s·u)` (the `Boxed` wrapper below): `[0, 1]` in `u` is exactly the box
in `x`. The map is per example, so the radii are too, in `u` units:

* FGSM / BIM (L∞): ε_u = ε / s and α_u = α / s (torchattacks only multiplies and adds with
  them, so a per-example tensor `[N, 1, 1, 1]` is used where it takes a float). sign(∇_u J) =
  sign(s·∇_x J) = sign(∇_x J), so the steps are ours exactly, up to float rounding of the map.
* FGSM-L2: torchattacks has none; its PGDL2 with one step, α = ε, no random start, is FGSM-L2
  (`x + ε·∇/‖∇‖₂`, then clamped); ε_u = ε / s (per example, shaped as PGDL2 uses it).
* DeepFool (L2): invariant under the map (the step |f|·w/‖w‖² scales as 1/s in u, i.e. is
  the same in x), so only the box matters. torchattacks' DeepFool loops over the examples one
  at a time anyway; it is called here on one example at a time, each with its own map (same
  arithmetic, same passes). Its variant differs from ours: it applies the overshoot and the
  clamp at every step (`x_{k+1} = clip(x_k + (1 + overshoot)·r_k)`), ours accumulates `r_tot`
  and evaluates `clip(x + (1 + overshoot)·r_tot)` (the original algorithm, plus the box), and
  ours adds 1e-4 to |f|. Where the clean map touches the box (the log-mel floor of a padded
  clip's silent frames, half of an FSDD map), the per-step clamp cuts off more than the 2 %
  overshoot and torchattacks' iterate converges onto the decision boundary without crossing
  it: it misses examples (`max_failure_margin` ≈ 0 shows they sit on the boundary) at the same
  L2. So DeepFool has a second anchor, ART's (`art`: adversarial-robustness-toolbox, PyPI),
  which clamps every step too but applies the overshoot once to the whole perturbation, as
  ours does; ART batches its own way (`PyTorchClassifier`, clip values `[0, 1]`, the whole
  batch's Jacobian at every step, active or not).
* CW-L2: torchattacks minimizes Σ ‖δ_u‖² + c·Σ f(x') (tanh space on [0, 1], Adam, no binary
  search over c, early abort when the loss stops decreasing). In u units ‖δ_u‖² = ‖δ_x‖² / s²,
  so our x-space objective ‖δ_x‖² + c·f is s² times ‖δ_u‖² + (c/s²)·f: the per-example
  constant is c/s² (`CWBoxed` weighs f per example; Adam is invariant to the overall scale).
  The tanh variable is the same on both sides (`x = lo + s·(tanh w + 1)/2`). c, κ and the
  rate come from the report's `params` (ours: `--c-init`, `--confidence`, `--lr`; run ours with
  `--search-steps 1`, one value of c). The early aborts differ: torchattacks stops the whole
  batch when its summed loss rises at a check (every tenth of the steps), ours stops each
  example whose objective stops decreasing; so the gradient counts differ.
* BIM-a (early stop per example) has no torchattacks counterpart (its BIM runs every step):
  the row is ours only.

Timing. Per batch (the same batch size as ours, `--batch-size`), the timed region is what our
`attack_batch` times: the clean prediction, the attack, the adversarial prediction and the
distortion; model loading and reading the maps are outside, and there is no warm-up on either
side (each side's first batch pays its one-time start-up). Gradients are counted by a hook on
the logits (each backward pass through a batch of B rows counts B gradients; DeepFool's per-
class backward passes on one example count 1 each), as ours counts them. `--threads` sets
torch's intra-op threads (ours: `soundproof-tools attack --threads`).

Usage:

    python benches/attack_anchor.py compare --checkpoint out/repro-kws-fsdd --device cpu \\
        --threads 2 --batch-size 16 --json target/attack-bench/anchor.json \\
        --markdown target/attack-bench/anchor.md target/attack-bench/ours-fgsm ...
    python benches/attack_anchor.py table --markdown table.md run1.json run2.json ...   # medians
    python benches/attack_anchor.py check --checkpoint out/repro-kws-fsdd \\
        --onnx out/repro-kws-fsdd/kws-fsdd.onnx target/attack-bench/ours-fgsm
    python benches/attack_anchor.py logits --checkpoint DIR --out logits.npy FOLDER
"""

import argparse
import json
import os
import platform
import statistics
import struct
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare", help="run torchattacks on the inputs of our attack folders and compare")
    c.add_argument("folders", nargs="+", help="output folders of `soundproof-tools attack --domain features`")
    c.add_argument("--checkpoint", required=True, help="the checkpoint folder the attacks used")
    c.add_argument("--device", default="cpu", help="cpu or cuda")
    c.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    c.add_argument("--batch-size", type=int, default=16)
    c.add_argument("--anchors", default="torchattacks,art",
                   help="comma-separated: torchattacks (FGSM, FGSM-L2, BIM-b, DeepFool, CW-L2), art (DeepFool)")
    c.add_argument("--json", help="write the comparison here")
    c.add_argument("--markdown", help="write the markdown table here")
    k = sub.add_parser("check", help="twin logits against onnxruntime on the clean maps of a folder")
    k.add_argument("folder")
    k.add_argument("--checkpoint", required=True)
    k.add_argument("--onnx", required=True)
    k.add_argument("--tolerance", type=float, default=1e-4)
    t = sub.add_parser("table", help="merge repeated `compare` runs: medians of the times, one table")
    t.add_argument("runs", nargs="+", help="JSON files written by `compare --json`")
    t.add_argument("--json", help="write the merged rows here")
    t.add_argument("--markdown", help="write the markdown table here")
    g = sub.add_parser("logits", help="write the twin's logits on the clean maps of a folder (report order)")
    g.add_argument("folder")
    g.add_argument("--checkpoint", required=True)
    g.add_argument("--out", required=True)
    return p.parse_args(argv)


ARGS = parse_args(sys.argv[1:]) if __name__ == "__main__" else None
if ARGS is not None and getattr(ARGS, "threads", None):
    # Before torch loads its OpenMP runtime: every pool at the same thread count.
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402


# --------------------------------------------------------------------------------------------
# The model: a PyTorch twin of kws-cnn, weights from model.safetensors
# --------------------------------------------------------------------------------------------

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "F16": np.float16}


def read_safetensors(path):
    """name -> tensor (the format: u64 header length, JSON header, raw little-endian data)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        arr = np.frombuffer(data[base + a:base + b], dtype=_DTYPES[meta["dtype"]]).reshape(meta["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


class GlobalMean(nn.Module):
    """`Layer::GlobalAvgPool`: mean over every spatial axis, `[N, C, T, F] -> [N, C]`."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


class KwsCnn(nn.Sequential):
    """`kws-cnn` (tools/src/nn/kws.rs::cnn): children "0".."18" are layers l0..l18."""

    def __init__(self, channels, n_classes):
        layers = [nn.BatchNorm2d(1)]  # l0: input standardization of the dB map
        cin = 1
        for c in channels:  # l1-l16
            layers += [nn.Conv2d(cin, c, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.MaxPool2d(2, 2)]
            cin = c
        layers += [GlobalMean(), nn.Linear(cin, n_classes)]  # l17, l18
        super().__init__(*layers)


def load_twin(checkpoint_dir, device="cpu"):
    """The checkpoint's model in eval mode, and its checkpoint.json."""
    with open(os.path.join(checkpoint_dir, "checkpoint.json")) as f:
        meta = json.load(f)
    arch = meta["spec"]["arch"]
    if arch != "kws-cnn":
        raise SystemExit(f"attack_anchor: the PyTorch twin covers kws-cnn only, not {arch}")
    weights = read_safetensors(os.path.join(checkpoint_dir, "model.safetensors"))
    prefix = arch + "."
    channels = [weights[f"{prefix}l{1 + 4 * k}.weight"].shape[0] for k in range(4)]
    model = KwsCnn(channels, meta["spec"]["n_classes"])
    state = model.state_dict()
    loaded = set()
    for name, t in weights.items():
        if not name.startswith(prefix) or not name[len(prefix)] == "l":
            raise SystemExit(f"attack_anchor: unexpected tensor {name} in model.safetensors")
        layer, param = name[len(prefix) + 1:].split(".", 1)
        key = f"{int(layer)}.{param}"
        if key not in state or tuple(state[key].shape) != tuple(t.shape):
            raise SystemExit(f"attack_anchor: {name} {tuple(t.shape)} has no place in the twin "
                             f"({key}: {tuple(state[key].shape) if key in state else 'absent'})")
        state[key] = t
        loaded.add(key)
    missing = [k for k in state if k not in loaded and not k.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit(f"attack_anchor: model.safetensors lacks {missing}")
    model.load_state_dict(state)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device), meta


# --------------------------------------------------------------------------------------------
# Our attack folders
# --------------------------------------------------------------------------------------------

def load_folder(folder):
    """(report, clean maps [N, 1, frames, bins] f32 in report order, adversarial maps or None)."""
    with open(os.path.join(folder, "report.json")) as f:
        report = json.load(f)
    if report.get("domain") != "features":
        raise SystemExit(f"attack_anchor: {folder}: features-domain attacks only (got {report.get('domain')})")
    names = [r["name"] for r in report["results"]]
    clean = np.stack([np.load(os.path.join(folder, "clean", n + ".npy")) for n in names]).astype(np.float32)
    adv_paths = [os.path.join(folder, "adversarial", n + ".npy") for n in names]
    adv = np.stack([np.load(p) for p in adv_paths]).astype(np.float32) if all(map(os.path.exists, adv_paths)) else None
    return report, clean, adv


def box_of(report, x):
    """Per-example (lo, hi) `[N, 1, 1, 1]` of our box (see BoxSpec in tools/src/attack/mod.rs)."""
    words = report["box_bounds"]
    n = x.shape[0]
    flat = x.reshape(n, -1)
    if words.startswith("[min, max]"):
        lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    elif words == "none":
        raise SystemExit("attack_anchor: unbounded attacks have no torchattacks counterpart (it clamps to [0, 1])")
    else:
        a, b = (float(v) for v in words.strip("[]").split(","))
        lo, hi = torch.full((n,), a, dtype=x.dtype), torch.full((n,), b, dtype=x.dtype)
    return lo.view(n, 1, 1, 1), hi.view(n, 1, 1, 1)


def config_value(cfg, *names, default=None):
    for n in names:
        if n in cfg and cfg[n] is not None:
            return cfg[n]
    return default


# --------------------------------------------------------------------------------------------
# torchattacks on the unit box
# --------------------------------------------------------------------------------------------

class Boxed(nn.Module):
    """`u ↦ model(lo + scale·u)` for the current batch's per-example map; counts forwards and
    gradients (rows of the logits a backward pass goes through)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.lo = None
        self.scale = None
        self.forwards = 0
        self.gradients = 0

    def set_box(self, lo, scale):
        self.lo, self.scale = lo, scale

    def _count(self, g):
        self.gradients += g.shape[0]

    def forward(self, u):
        self.forwards += u.shape[0]
        z = self.model(self.lo + self.scale * u)
        if z.requires_grad:
            z.register_hook(self._count)
        return z


def torchattacks_attack(kind, cfg, boxed):
    """`(run, one_by_one)`: `run(u, y, scale)` attacks a batch on the unit box; None where
    torchattacks has no counterpart."""
    import torchattacks

    eps, alpha, steps = float(cfg.get("eps", 0.0)), float(cfg.get("alpha", 0.0)), int(cfg.get("steps", 10))
    if kind == "fgsm":
        atk = torchattacks.FGSM(boxed, eps=eps)

        def radii(scale):
            atk.eps = eps / scale
    elif kind == "fgsm-l2":
        atk = torchattacks.PGDL2(boxed, eps=eps, alpha=eps, steps=1, random_start=False)

        def radii(scale):
            atk.eps = (eps / scale).view(-1)  # compared with per-example norms [N]
            atk.alpha = eps / scale  # multiplies the unit gradient [N, 1, F, B]
    elif kind == "bim-b":
        atk = torchattacks.BIM(boxed, eps=eps, alpha=alpha, steps=steps)

        def radii(scale):
            atk.eps, atk.alpha = eps / scale, alpha / scale
    elif kind == "deepfool":
        atk = torchattacks.DeepFool(boxed, steps=steps, overshoot=0.02)
        return (lambda u, y, scale: atk(u, y)), True
    elif kind == "cw-l2":
        c = float(config_value(cfg, "c_init", "c", default=1.0))
        kappa = float(config_value(cfg, "confidence", "kappa", default=0.0))
        lr = float(config_value(cfg, "lr", default=0.01))
        if int(config_value(cfg, "search_steps", default=1)) != 1:
            print(f"attack_anchor: warning: ours searched {cfg['search_steps']} values of c; torchattacks' CW "
                  f"keeps c = {c} (run ours with --search-steps 1 to compare like for like)", file=sys.stderr)

        class CWBoxed(torchattacks.CW):
            """torchattacks' CW with f weighted per example by 1/s² (the u-space constant c/s²)."""
            weight = None

            def f(self, outputs, labels):
                return super().f(outputs, labels) * self.weight

        atk = CWBoxed(boxed, c=c, kappa=kappa, steps=steps, lr=lr)

        def radii(scale):
            atk.weight = 1.0 / scale.view(-1) ** 2
    else:
        return None, False
    goal = cfg.get("goal", "untargeted")
    if isinstance(goal, dict) and goal.get("targeted") is not None:
        t = int(goal["targeted"])
        atk.set_mode_targeted_by_function(lambda images, labels: torch.full_like(labels, t))

    def run(u, y, scale):
        radii(scale)
        return atk(u, y)
    return run, False


def art_attack(kind, cfg, boxed, n_classes, input_shape, batch_size, device):
    """ART (adversarial-robustness-toolbox) DeepFool on the unit box: it clamps each step to
    the box too, but applies the overshoot once to the whole perturbation at the end (as ours
    and the original DeepFool do). Its reference label is the clean prediction (ours: the
    dataset label; the same on every counted example)."""
    if kind != "deepfool":
        return None, False
    from art.attacks.evasion import DeepFool
    from art.estimators.classification import PyTorchClassifier

    clf = PyTorchClassifier(model=boxed, loss=nn.CrossEntropyLoss(), input_shape=tuple(input_shape),
                            nb_classes=n_classes, clip_values=(0.0, 1.0),
                            device_type="gpu" if device.type == "cuda" else "cpu")
    atk = DeepFool(clf, max_iter=int(cfg.get("steps", 50)), epsilon=0.02, nb_grads=n_classes,
                   batch_size=batch_size, verbose=False)

    def run(u, y, scale):
        return torch.from_numpy(atk.generate(u.detach().cpu().numpy())).to(u.device)
    return run, False


ANCHORS = ("torchattacks", "art")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_theirs(model, report, clean, batch_size, device, anchor, n_classes):
    """Runs `anchor`'s attack over the clean maps; per-example adversarial maps and stats (None
    where the anchor has no such attack)."""
    # The optimization attacks' settings (CW-L2: confidence, c_init, search_steps, lr) sit in
    # the report's "params" beside "config".
    cfg = {**report["config"], **(report.get("params") or {})}
    kind = cfg["kind"]
    # Eval mode before the library sees it: torchattacks restores the training flag it found
    # after each call, and a fresh module's is True (batch norm on batch statistics: another model).
    boxed = Boxed(model).eval()
    if anchor == "torchattacks":
        run, one_by_one = torchattacks_attack(kind, cfg, boxed)
    else:
        run, one_by_one = art_attack(kind, cfg, boxed, n_classes, clean.shape[1:], batch_size, device)
    if run is None:
        return None
    refs = torch.tensor([r["reference"] for r in report["results"]], dtype=torch.long)
    x_all = torch.from_numpy(clean)
    lo_all, hi_all = box_of(report, x_all)
    if bool((hi_all <= lo_all).any()):
        raise SystemExit("attack_anchor: an example with an empty box (constant map)")
    advs, clean_pred, adv_logits = [], [], []
    seconds = 0.0
    batch_seconds = []
    for start in range(0, x_all.shape[0], batch_size):
        x = x_all[start:start + batch_size].to(device)
        y = refs[start:start + batch_size].to(device)
        lo, hi = lo_all[start:start + batch_size].to(device), hi_all[start:start + batch_size].to(device)
        scale = hi - lo
        sync(device)
        t0 = time.perf_counter()
        with torch.no_grad():
            p0 = model(x).argmax(-1)
        u = (x - lo) / scale
        if one_by_one:
            parts = []
            for i in range(x.shape[0]):
                boxed.set_box(lo[i:i + 1], scale[i:i + 1])
                parts.append(run(u[i:i + 1], y[i:i + 1], scale[i:i + 1]))
            u_adv = torch.cat(parts)
        else:
            boxed.set_box(lo, scale)
            u_adv = run(u, y, scale)
        xa = lo + scale * u_adv
        with torch.no_grad():
            z1 = model(xa)
        d = (xa.double() - x.double()).reshape(x.shape[0], -1)
        _ = (d.norm(dim=1), d.abs().amax(dim=1))  # the distortion, as ours computes it in its timed region
        sync(device)
        dt = time.perf_counter() - t0
        seconds += dt
        batch_seconds.append(dt / x.shape[0])
        advs.append(xa.cpu())
        clean_pred.append(p0.cpu())
        adv_logits.append(z1.cpu())
    z = torch.cat(adv_logits)
    return {
        "adversarial": torch.cat(advs).numpy(),
        "clean_pred": torch.cat(clean_pred).tolist(),
        "adv_pred": z.argmax(-1).tolist(),
        "adv_logits": z,
        "seconds": seconds,
        "batch_seconds_per_example": batch_seconds,
        "gradients": boxed.gradients,
        "forwards": boxed.forwards,
    }


def summarize(report, clean, adv, preds, seconds, gradients):
    """Fooling rate and mean distortion over the examples our report counts."""
    cfg = report["config"]
    goal = cfg.get("goal", "untargeted")
    target = goal.get("targeted") if isinstance(goal, dict) else None
    res = report["results"]
    n = len(res)
    d = (adv.astype(np.float64) - clean.astype(np.float64)).reshape(n, -1)
    l2 = np.sqrt((d * d).sum(axis=1))
    linf = np.abs(d).max(axis=1)
    counted = [i for i, r in enumerate(res) if r["counted"]]
    ok = [(preds[i] == target) if target is not None else (preds[i] != res[i]["reference"]) for i in range(n)]
    m = max(len(counted), 1)
    return {
        "examples": n,
        "counted": len(counted),
        "successes": int(sum(ok[i] for i in counted)),
        "fooling_rate": sum(ok[i] for i in counted) / m,
        "mean_l2": float(sum(l2[i] for i in counted) / m),
        "mean_linf": float(sum(linf[i] for i in counted) / m),
        "success": [bool(v) for v in ok],
        "l2": [float(v) for v in l2],
        "seconds": seconds,
        "seconds_per_example": seconds / max(n, 1),
        "gradients": int(gradients),
        "gradients_per_second": gradients / seconds if seconds > 0 else float("nan"),
    }


def compare_folder(model, folder, batch_size, device, anchors, n_classes):
    """One row per anchor that has this folder's attack."""
    report, clean, ours_adv = load_folder(folder)
    cfg = {**report["config"], **(report.get("params") or {})}
    kind = cfg["kind"]
    res = report["results"]
    s = report["summary"]
    ours = {"fooling_rate": s["fooling_rate"], "successes": s["successes"], "mean_l2": s["mean_l2"],
            "mean_linf": s["mean_linf"], "seconds": s["seconds"], "seconds_per_example": s["seconds"] / max(len(res), 1),
            "gradients": report["total_gradients"],
            "gradients_per_second": report["total_gradients"] / s["seconds"] if s["seconds"] > 0 else float("nan"),
            "device": report.get("device")}
    rows = []
    for anchor in anchors:
        row = {"folder": folder, "attack": kind, "anchor": anchor, "config": cfg, "box": report["box_bounds"],
               "examples": len(res), "counted": s["counted"], "ours": dict(ours), "theirs": None}
        t = run_theirs(model, report, clean, batch_size, device, anchor, n_classes)
        if t is None:
            continue
        theirs = summarize(report, clean, t["adversarial"], t["adv_pred"], t["seconds"], t["gradients"])
        theirs["forwards"] = t["forwards"]
        theirs["median_batch_seconds_per_example"] = statistics.median(t["batch_seconds_per_example"])
        row["theirs"] = theirs
        z = t["adv_logits"]
        refs = torch.tensor([r["reference"] for r in res])
        zr = z.gather(1, refs.view(-1, 1)).squeeze(1)
        zo = z.scatter(1, refs.view(-1, 1), float("-inf")).amax(1)
        margins = (zr - zo).tolist()
        failures = [i for i, r in enumerate(res) if r["counted"] and not theirs["success"][i]]
        agree = {
            # The twin predicts what our model predicted on every clean map.
            "clean_prediction_agrees": sum(int(a == r["original"]) for a, r in zip(t["clean_pred"], res)),
            "success_agrees": sum(int(a == r["success"]) for a, r in zip(theirs["success"], res)),
            # How far past the boundary their misses stop (0: on it), relative to the logit range.
            "max_failure_margin": max((margins[i] for i in failures), default=None),
            "logit_scale": float(z.abs().max()),
        }
        if ours_adv is not None:
            n = len(res)
            diff = (t["adversarial"].astype(np.float64) - ours_adv.astype(np.float64)).reshape(n, -1)
            delta = (ours_adv.astype(np.float64) - clean.astype(np.float64)).reshape(n, -1)
            rel = np.sqrt((diff ** 2).sum(1)) / np.maximum(np.sqrt((delta ** 2).sum(1)), 1e-12)
            agree["max_abs_adv_diff"] = float(np.abs(diff).max())
            agree["median_rel_adv_diff"] = float(np.median(rel))
        row["agreement"] = agree
        row["time_ratio"] = ours["seconds"] / theirs["seconds"] if theirs["seconds"] > 0 else float("nan")
        rows.append(row)
    if not rows:
        rows.append({"folder": folder, "attack": kind, "anchor": None, "config": cfg, "box": report["box_bounds"],
                     "examples": len(res), "counted": s["counted"], "ours": ours, "theirs": None,
                     "note": f"no counterpart for {kind} in {', '.join(anchors)}"})
    return rows


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def params_words(cfg):
    k = cfg["kind"]
    if k in ("fgsm", "fgsm-l2"):
        return f"ε {cfg['eps']:g}"
    if k in ("bim-a", "bim-b"):
        return f"ε {cfg['eps']:g}, α {cfg['alpha']:g}, {cfg['steps']} steps"
    if k == "deepfool":
        return f"{cfg['steps']} steps, overshoot 0.02"
    if k == "cw-l2":
        return (f"c {cfg.get('c_init')}, κ {cfg.get('confidence')}, {cfg['steps']} steps, lr {cfg.get('lr')}, "
                f"{cfg.get('search_steps')} search step(s)")
    return ", ".join(f"{x} {v}" for x, v in cfg.items() if x not in ("kind", "goal"))


def markdown(rows):
    out = ["| attack | parameters | theirs | counted | fooling rate ours / theirs | success agrees | mean L2 ours / theirs | "
           "mean L∞ ours / theirs | gradients per example ours / theirs | s per example ours / theirs | "
           "gradients/s ours / theirs | time ours / theirs |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        o, t = r["ours"], r["theirs"] or {}
        a = r.get("agreement", {})
        n = max(r["examples"], 1)

        def th(k, spec):
            return fmt(t.get(k), spec) if t else "—"
        ratio = "—"
        if r.get("time_ratio") is not None:
            ratio = f"{r['time_ratio']:.2f}×"
            runs = r.get("time_ratio_runs")
            if runs and len(runs) > 1:
                ratio += f" ({min(runs):.2f}-{max(runs):.2f})"
        their_rate = f"{100 * t['fooling_rate']:.1f} %" if t else "—"
        their_grads = f"{t['gradients'] / n:.1f}" if t else "—"
        agrees = f"{a['success_agrees']}/{r['examples']}" if "success_agrees" in a else "—"
        out.append(
            f"| {r['attack']} | {params_words(r['config'])} | {r.get('anchor') or '—'} | {r['counted']} | "
            f"{100 * o['fooling_rate']:.1f} % / {their_rate} | {agrees} | "
            f"{o['mean_l2']:.3f} / {th('mean_l2', '.3f')} | {o['mean_linf']:.3f} / {th('mean_linf', '.3f')} | "
            f"{o['gradients'] / n:.1f} / {their_grads} | "
            f"{o['seconds_per_example']:.4f} / {th('seconds_per_example', '.4f')} | "
            f"{o['gradients_per_second']:.0f} / {th('gradients_per_second', '.0f')} | {ratio} |")
    return "\n".join(out) + "\n"


def cmd_compare(args):
    import torchattacks

    art_version = None
    if "art" in args.anchors.split(","):
        import art
        art_version = art.__version__
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, meta = load_twin(args.checkpoint, device)
    anchors = [a for a in args.anchors.split(",") if a]
    for a in anchors:
        if a not in ANCHORS:
            raise SystemExit(f"attack_anchor: unknown anchor {a} (known: {', '.join(ANCHORS)})")
    rows = [row for f in args.folders
            for row in compare_folder(model, f, args.batch_size, device, anchors, meta["spec"]["n_classes"])]
    out = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "torch": torch.__version__,
        "torchattacks": torchattacks.__version__,
        "art": art_version,
        "python": platform.python_version(),
        "load_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "rows": rows,
    }
    md = markdown(rows)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)
    print(md, end="")


def cmd_table(args):
    """Rows of the same attack and parameters over repeated runs: the attack results of the
    first run (every run attacks the same inputs with deterministic attacks, so they repeat;
    a difference is reported), the median seconds of each side, and the ratio of the medians."""
    runs = []
    for path in args.runs:
        with open(path) as f:
            runs.append(json.load(f))
    groups = {}
    for run in runs:
        for row in run["rows"]:
            key = (row["attack"], row.get("anchor"), json.dumps(row["config"], sort_keys=True))
            groups.setdefault(key, []).append(row)
    rows = []
    for reps in groups.values():
        row = json.loads(json.dumps(reps[0]))
        row["repeats"] = len(reps)
        for side in ("ours", "theirs"):
            if row[side] is None:
                continue
            secs = [r[side]["seconds"] for r in reps]
            varied = sorted({round(r[side]["fooling_rate"], 9) for r in reps})
            if len(varied) > 1:
                row.setdefault("warnings", []).append(f"{side}: fooling rate varies over runs: {varied}")
            med = statistics.median(secs)
            row[side]["seconds_runs"] = secs
            row[side]["seconds"] = med
            row[side]["seconds_per_example"] = med / max(row["examples"], 1)
            row[side]["gradients_per_second"] = row[side]["gradients"] / med if med > 0 else float("nan")
        if row["theirs"] is not None:
            ratios = [r["ours"]["seconds"] / r["theirs"]["seconds"] for r in reps]
            row["time_ratio"] = row["ours"]["seconds"] / row["theirs"]["seconds"]
            row["time_ratio_runs"] = ratios
        rows.append(row)
    out = {k: runs[0].get(k) for k in ("device", "threads", "batch_size", "torch", "torchattacks", "art", "python")}
    out["load_after"] = [r.get("load_after") for r in runs]
    out["rows"] = rows
    md = markdown(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)
    print(md, end="")
    for r in rows:
        for w in r.get("warnings", []):
            print(f"warning: {r['attack']}: {w}", file=sys.stderr)


def clean_of(folder):
    report, clean, _ = load_folder(folder)
    return report, clean


def cmd_check(args):
    import onnxruntime as ort

    model, _ = load_twin(args.checkpoint)
    report, clean = clean_of(args.folder)
    with torch.no_grad():
        ours = model(torch.from_numpy(clean)).numpy()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    theirs = sess.run(None, {name: clean})[0]
    diff = float(np.abs(ours - theirs).max())
    same = int((ours.argmax(1) == theirs.argmax(1)).sum())
    tch_same = sum(int(p == r["original"]) for p, r in zip(ours.argmax(1), report["results"]))
    print(json.dumps({"examples": len(clean), "max_abs_logit_diff_vs_onnxruntime": diff,
                      "argmax_agrees_onnxruntime": same, "argmax_agrees_ours": tch_same,
                      "logit_scale": float(np.abs(theirs).max())}))
    if diff > args.tolerance or same != len(clean) or tch_same != len(clean):
        raise SystemExit(f"attack_anchor: twin differs from onnxruntime by {diff} (tolerance {args.tolerance})")


def cmd_logits(args):
    model, _ = load_twin(args.checkpoint)
    _, clean = clean_of(args.folder)
    with torch.no_grad():
        z = model(torch.from_numpy(clean)).numpy().astype(np.float32)
    np.save(args.out, z)


if __name__ == "__main__":
    {"compare": cmd_compare, "table": cmd_table, "check": cmd_check, "logits": cmd_logits}[ARGS.cmd](ARGS)
