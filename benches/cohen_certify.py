#!/usr/bin/env python3
"""Cohen et al.'s CERTIFY, ported to PyTorch on the CPU: a speed and correctness anchor.

Reference: Cohen, Rosenfeld, Kolter, "Certified Adversarial Robustness via Randomized Smoothing"
(ICML 2019), code `locuslab/smoothing`, `code/core.py`, class `Smooth`. The port keeps its
structure and semantics:

* `Smooth.certify(x, n0, n, alpha, batch_size)`: `counts0 = _sample_noise(x, n0, bs)`,
  `cAHat = counts0.argmax()`, `counts = _sample_noise(x, n, bs)`, `nA = counts[cAHat]`,
  `pABar = proportion_confint(nA, n, alpha=2*alpha, method="beta")[0]` (statsmodels,
  one-sided Clopper-Pearson at level alpha); abstain (-1, radius 0) if `pABar < 0.5`, else
  `radius = sigma * norm.ppf(pABar)`.
* `Smooth._sample_noise(x, num, batch_size)`: under `torch.no_grad()`, loop
  `ceil(num / batch_size)` times with `this_batch_size = min(batch_size, remaining)`,
  `batch = x.repeat(...)`, `noise = torch.randn_like(batch) * sigma`,
  `predictions = base_classifier(batch + noise).argmax(1)`, counts accumulated per class
  (`_count_arr`, done here with `np.bincount(..., minlength=num_classes)`, the same counts).
* Differences from the reference, none of which changes the statistics: CPU instead of CUDA
  (`torch.randn_like` on the CPU generator), one global `torch.manual_seed` per run, and the
  input `x` is a waveform (1-D, 16000 samples) so it is repeated as `x.repeat(bs, 1)`.

The base classifier is 003's "waveform contract": `x` is one 1-s window at 16 kHz, already
gain-normalized; the Gaussian noise is added to the waveform; then a log-mel front end in torch;
then the CNN. Everything the front end needs is read from the model card (`models/NAME.json`,
keys `features.stft`, `features.mel`, `window_samples`, `normalization.target_rms`), with
librosa semantics: periodic Hann window of `win_length` (`scipy.signal.get_window('hann',
win_length, fftbins=True)`) zero-padded centred in `n_fft` (torch.stft centres a shorter window
exactly as `librosa.util.pad_center` does), `center=True` with constant (zero) padding of
`n_fft // 2` on both sides, power spectrogram `|STFT|^2`, `librosa.filters.mel(sr, n_fft,
n_mels, fmin, fmax, htk=(mel_scale == 'htk'), norm)` as a constant matrix, and
`10 * log10(max(amin, S))` (`power_to_db` with ref 1, top_db None). The model input is
frame-major, `[N, 1, frames, n_mels]` = `[N, 1, 101, 64]`, as the engine lays it out.

The CNN is rebuilt from the ONNX file itself: a small interpreter walks the graph's nodes in
order and maps each op (BatchNormalization, Conv, Relu, MaxPool, AveragePool,
GlobalAveragePool, ReduceMean, Flatten, Gemm, MatMul, Add, Resize, plus the trivial Identity,
Reshape, Constant) to `torch.nn.functional`, with the initializers as f32 tensors. `check`
verifies it against onnxruntime (one thread).

Inputs are real clips: FSDD test takes (`{digit}_{speaker}_{take}.wav`, takes 0-4), 8 kHz,
resampled to 16 kHz with `scipy.signal.resample_poly` (polyphase, Kaiser window: its default;
the engine uses rubato's FFT resampler, so the waveforms differ slightly in the last bits
and near Nyquist), then 003 Contract 1 as in `tools/src/data/mod.rs::ClipPipeline::load`:
`s = target_rms / RMS(clip zero-padded to at least one window)` and
`x = s * CropPad(clip, window_samples)` (centre pad, or centre crop when longer). FSDD clips are
all shorter than 1 s, so `s = target_rms / RMS(padded window)`. `bench` / `certify` pick
`--clips` test clips evenly spaced through the sorted test list (or `--files`).

Usage (one thread; set the variables before Python starts, the script also sets them):

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benches/cohen_certify.py check --model models/kws-fsdd.onnx
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benches/cohen_certify.py bench --model models/kws-fsdd.onnx \\
        --n 1000 --n0 100 --batch 100 --sigma 0.005 --clips 3 --threads 1
    python benches/cohen_certify.py certify --model models/kws-fsdd.onnx --clips 50 --out out/cohen.jsonl

`bench` prints one JSON line: noisy samples per second = (n0 + n) * clips / (wall time of the
certify calls; model load, clip load and a one-batch warm-up are excluded), the per-clip times,
predictions (cAHat, or -1 for abstain), nA, pA_lower and radius per clip, and versions.
`certify` does the same and writes one JSON record per clip to `--out` (JSON lines), for a
statistical comparison with the engine's certificates (they agree in distribution, not bit
for bit: different random streams).

Measured 2026-11-21 (UTC), torch 2.11.0+cu130 run on the CPU, numpy 2.4.6, onnxruntime one thread,
on a 2-core AMD EPYC VM shared with other jobs (load average 6-9 during the runs, so the
throughput is pessimistic and noisy: rerun on a quiet core before quoting it), one thread
(OMP_NUM_THREADS=MKL_NUM_THREADS=1, torch.set_num_threads(1)):

  check (20 test clips, each clean and with one sigma = 0.005 draw: 40 inputs), both models:
    STFT power, float64 torch vs librosa:        max |diff| / peak = 9.3e-16 (same semantics)
    log-mel, float32 torch vs librosa (float32): max |diff| = 0.028 dB over all bins,
                                                 0.0026 dB where librosa > -60 dB
      (float32 FFT rounding, which is relative to the frame's peak, so it shows in the quiet
       high mel bands of loud frames; the CNN is fed the float32 front end, as the engine)
    CNN, torch interpreter vs onnxruntime (same librosa log-mel in): max |logit diff|
      kws-fsdd 4.8e-6, kws-fsdd-rt 1.3e-5   (threshold 1e-4)
    whole torch path vs librosa + onnxruntime: max |logit diff| kws-fsdd 1.1e-4,
      kws-fsdd-rt 1.5e-4; argmax agrees on 40/40

  bench, sigma 0.005, n0 100, n 1000, batch 100, alpha 0.001, 3 test clips
  (0_george_0, 4_yweweler_4, 9_yweweler_4), seed 0:
    kws-fsdd:     77-80 noisy samples/s, 13.5-15.3 s per clip (1100 samples);
                  per batch of 100: front end ~170 ms, CNN ~880 ms
    kws-fsdd-rt:  260-273 noisy samples/s, 3.6-4.5 s per clip;
                  per batch of 100: front end ~170-230 ms, CNN ~160 ms
    every clip: cAHat = the true digit, nA = 1000/1000, pA_lower = 0.99312
    (= 0.001^(1/1000)), radius = 0.005 * Phi^-1(0.99312) = 0.01232
"""

import os

# One thread everywhere, before numpy / torch (and their BLAS / OpenMP) are loaded. `--threads`
# then sets torch's intra-op pool; the variables keep every other pool at one.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from fractions import Fraction  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_RECORDINGS = os.path.join(os.path.dirname(REPO), "shared", "data", "fsdd", "recordings")
if not os.path.isdir(DEFAULT_RECORDINGS):
    DEFAULT_RECORDINGS = "/work/shared/data/fsdd/recordings"
FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


# --------------------------------------------------------------------------------------------
# Model card
# --------------------------------------------------------------------------------------------

def load_card(model_path):
    """The card beside the model (`NAME.json`); falls back to the ONNX metadata copy."""
    json_path = os.path.splitext(model_path)[0] + ".json"
    if os.path.exists(json_path):
        with open(json_path) as f:
            return json.load(f)
    import onnx

    props = {p.key: p.value for p in onnx.load(model_path).metadata_props}
    return json.loads(props["soundproof.card"])


# --------------------------------------------------------------------------------------------
# Front end: log-mel in torch, librosa semantics, parameters from the card
# --------------------------------------------------------------------------------------------

class LogMel(torch.nn.Module):
    """Waveforms [N, samples] -> log-mel [N, 1, frames, n_mels] (frame-major, as the engine)."""

    def __init__(self, card, dtype=torch.float32):
        super().__init__()
        import librosa
        import scipy.signal

        feats = card["features"]
        if feats["kind"] != "logmel":
            raise SystemExit(f"front end kind {feats['kind']!r}: only 'logmel' is ported")
        stft, mel = feats["stft"], feats["mel"]
        self.sr = int(stft["sample_rate"])
        self.n_fft = int(stft["n_fft"])
        self.win_length = int(stft["win_length"])
        self.hop_length = int(stft["hop_length"])
        self.center = bool(stft["center"])
        self.amin = float(mel["amin"])
        window = scipy.signal.get_window("hann", self.win_length, fftbins=True)
        self.register_buffer("window", torch.from_numpy(np.asarray(window, dtype=np.float64)).to(dtype))
        fb = librosa.filters.mel(
            sr=self.sr, n_fft=self.n_fft, n_mels=int(mel["n_mels"]), fmin=float(mel["fmin"]),
            fmax=None if mel["fmax"] is None else float(mel["fmax"]),
            htk=(mel["mel_scale"] == "htk"), norm=mel["norm"], dtype=np.float32,
        )  # float32, as librosa.feature.melspectrogram builds it
        self.register_buffer("mel_fb", torch.from_numpy(fb).to(dtype))  # [n_mels, 1 + n_fft // 2]

    def power(self, y):
        """|STFT|^2, [N, 1 + n_fft // 2, frames]."""
        spec = torch.stft(
            y, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
            window=self.window, center=self.center, pad_mode="constant", normalized=False,
            onesided=True, return_complex=True,
        )
        return spec.real.square() + spec.imag.square()

    def forward(self, y):
        mel = torch.matmul(self.mel_fb, self.power(y))  # [N, n_mels, frames]
        logmel = 10.0 * torch.log10(torch.clamp(mel, min=self.amin))
        return logmel.transpose(1, 2).unsqueeze(1)  # [N, 1, frames, n_mels]


def librosa_logmel(card, y):
    """The same features with librosa (float32 waveform in), frame-major [1, frames, n_mels]."""
    import librosa

    stft, mel = card["features"]["stft"], card["features"]["mel"]
    s = librosa.feature.melspectrogram(
        y=y, sr=stft["sample_rate"], n_fft=stft["n_fft"], hop_length=stft["hop_length"],
        win_length=stft["win_length"], window="hann", center=stft["center"], pad_mode="constant",
        power=2.0, n_mels=mel["n_mels"], fmin=mel["fmin"], fmax=mel["fmax"],
        htk=(mel["mel_scale"] == "htk"), norm=mel["norm"],
    )
    db = librosa.power_to_db(s, ref=1.0, amin=mel["amin"], top_db=None)
    return db.T[None].astype(np.float32)


# --------------------------------------------------------------------------------------------
# ONNX graph interpreter in torch
# --------------------------------------------------------------------------------------------

class OnnxTorch(torch.nn.Module):
    """Runs an ONNX graph node by node with torch.nn.functional (inference only)."""

    def __init__(self, model_path):
        super().__init__()
        import onnx
        from onnx import numpy_helper

        model = onnx.load(model_path)
        g = model.graph
        self.consts = {}
        for init in g.initializer:
            arr = numpy_helper.to_array(init)
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            self.consts[init.name] = torch.from_numpy(np.array(arr))
        init_names = set(self.consts)
        self.input_name = next(i.name for i in g.input if i.name not in init_names)
        self.output_name = g.output[0].name
        self.nodes = []
        for n in g.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            if n.op_type == "Constant":
                self.consts[n.output[0]] = torch.from_numpy(np.array(numpy_helper.to_array(attrs["value"])))
                continue
            if n.op_type not in self.OPS:
                raise SystemExit(f"{model_path}: ONNX op {n.op_type} is not in the interpreter")
            self.nodes.append((n.op_type, list(n.input), list(n.output), attrs))

    @staticmethod
    def _pads2d(attrs, nd):
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise SystemExit(f"auto_pad {attrs['auto_pad']!r} is not supported")
        pads = list(attrs.get("pads", [0] * (2 * nd)))
        begin, end = pads[:nd], pads[nd:]
        return begin, end

    @staticmethod
    def _pad_input(x, begin, end, value=0.0):
        if begin == end:
            return x, tuple(begin)
        pad = []
        for b, e in zip(reversed(begin), reversed(end)):
            pad += [b, e]
        return F.pad(x, pad, value=value), (0,) * len(begin)

    def op_BatchNormalization(self, a, x, scale, bias, mean, var):
        return F.batch_norm(x, mean, var, scale, bias, training=False, eps=a.get("epsilon", 1e-5))

    def op_Conv(self, a, x, w, b=None):
        nd = w.dim() - 2
        begin, end = self._pads2d(a, nd)
        x, pad = self._pad_input(x, begin, end)
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
        return conv(x, w, b, stride=tuple(a.get("strides", [1] * nd)), padding=pad,
                    dilation=tuple(a.get("dilations", [1] * nd)), groups=a.get("group", 1))

    def op_Relu(self, a, x):
        return F.relu(x)

    def op_MaxPool(self, a, x):
        k = a["kernel_shape"]
        nd = len(k)
        begin, end = self._pads2d(a, nd)
        x, pad = self._pad_input(x, begin, end, value=-math.inf)
        pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
        return pool(x, tuple(k), stride=tuple(a.get("strides", [1] * nd)), padding=pad,
                    dilation=tuple(a.get("dilations", [1] * nd)), ceil_mode=bool(a.get("ceil_mode", 0)))

    def op_AveragePool(self, a, x):
        k = a["kernel_shape"]
        nd = len(k)
        begin, end = self._pads2d(a, nd)
        include = bool(a.get("count_include_pad", 0))
        if begin != end and not include:
            raise SystemExit("asymmetric AveragePool padding without count_include_pad is not supported")
        x, pad = self._pad_input(x, begin, end)
        pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
        return pool(x, tuple(k), stride=tuple(a.get("strides", [1] * nd)), padding=pad,
                    ceil_mode=bool(a.get("ceil_mode", 0)), count_include_pad=include)

    def op_GlobalAveragePool(self, a, x):
        return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)

    def op_ReduceMean(self, a, x, axes=None):
        axes = a.get("axes") if axes is None else axes.tolist()
        keep = bool(a.get("keepdims", 1))
        if axes is None or len(axes) == 0:
            if a.get("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.dim()))
        return x.mean(dim=tuple(int(i) for i in axes), keepdim=keep)

    def op_Flatten(self, a, x):
        axis = a.get("axis", 1)
        axis = axis + x.dim() if axis < 0 else axis
        return x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)

    def op_Gemm(self, a, x, w, c=None):
        x = x.t() if a.get("transA", 0) else x
        w = w.t() if a.get("transB", 0) else w
        y = a.get("alpha", 1.0) * torch.matmul(x, w)
        return y if c is None else y + a.get("beta", 1.0) * c

    def op_MatMul(self, a, x, w):
        return torch.matmul(x, w)

    def op_Add(self, a, x, y):
        return x + y

    def op_Sub(self, a, x, y):
        return x - y

    def op_Identity(self, a, x):
        return x

    def op_Reshape(self, a, x, shape):
        shape = [int(s) for s in shape.tolist()]
        if not a.get("allowzero", 0):
            shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return x.reshape(shape)

    def op_Resize(self, a, x, roi=None, scales=None, sizes=None):
        mode = a.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        ctm = a.get("coordinate_transformation_mode", b"half_pixel")
        ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
        if sizes is not None and sizes.numel() > 0:
            size = [int(s) for s in sizes.tolist()[2:]]
        else:
            size = [int(math.floor(d * float(s))) for d, s in zip(x.shape[2:], scales.tolist()[2:])]
        nd = x.dim() - 2
        if mode == "linear":
            interp = {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]
            if ctm == "align_corners":
                return F.interpolate(x, size=size, mode=interp, align_corners=True)
            if ctm in ("half_pixel", "pytorch_half_pixel"):
                return F.interpolate(x, size=size, mode=interp, align_corners=False)
        if mode == "nearest":
            nearest = a.get("nearest_mode", b"round_prefer_floor")
            nearest = nearest.decode() if isinstance(nearest, bytes) else nearest
            if ctm == "asymmetric" and nearest == "floor":
                return F.interpolate(x, size=size, mode="nearest")
            if ctm == "half_pixel" and nearest in ("round_prefer_ceil", "round_prefer_floor"):
                return F.interpolate(x, size=size, mode="nearest-exact")
        raise SystemExit(f"Resize mode={mode} coordinate_transformation_mode={ctm} is not supported")

    OPS = {name[3:] for name in list(locals()) if name.startswith("op_")}

    def forward(self, x):
        env = dict(self.consts)
        env[self.input_name] = x
        for op, ins, outs, attrs in self.nodes:
            args = [env[i] if i else None for i in ins]
            env[outs[0]] = getattr(self, "op_" + op)(attrs, *args)
        return env[self.output_name]


class BaseClassifier(torch.nn.Module):
    """The waveform-contract base classifier: waveform [N, samples] -> logits [N, classes]."""

    def __init__(self, card, model_path):
        super().__init__()
        self.front_end = LogMel(card)
        self.cnn = OnnxTorch(model_path)

    def forward(self, waveforms):
        return self.cnn(self.front_end(waveforms))


# --------------------------------------------------------------------------------------------
# Cohen et al.'s Smooth (code/core.py), CPU
# --------------------------------------------------------------------------------------------

class Smooth:
    """A smoothed classifier g (port of locuslab/smoothing code/core.py, certify path)."""

    # to abstain, Smooth returns this int
    ABSTAIN = -1

    def __init__(self, base_classifier, num_classes, sigma):
        self.base_classifier = base_classifier
        self.num_classes = num_classes
        self.sigma = sigma

    def certify(self, x, n0, n, alpha, batch_size):
        """Returns (cAHat or ABSTAIN, radius), plus the counts for the record."""
        self.base_classifier.eval()
        # draw samples of f(x+ epsilon)
        counts_selection = self._sample_noise(x, n0, batch_size)
        # use these samples to take a guess at the top class
        cAHat = counts_selection.argmax().item()
        # draw more samples of f(x + epsilon)
        counts_estimation = self._sample_noise(x, n, batch_size)
        # use these samples to estimate a lower bound on pA
        nA = counts_estimation[cAHat].item()
        pABar = self._lower_confidence_bound(nA, n, alpha)
        if pABar < 0.5:
            prediction, radius = Smooth.ABSTAIN, 0.0
        else:
            from scipy.stats import norm

            prediction, radius = cAHat, self.sigma * norm.ppf(pABar)
        return prediction, radius, dict(cAHat=cAHat, nA=nA, pA_lower=pABar,
                                        counts0=counts_selection.tolist(),
                                        counts=counts_estimation.tolist())

    def _sample_noise(self, x, num, batch_size):
        """Predictions of the base classifier on `num` noisy copies of x; class counts."""
        with torch.no_grad():
            counts = np.zeros(self.num_classes, dtype=int)
            for _ in range(math.ceil(num / batch_size)):
                this_batch_size = min(batch_size, num)
                num -= this_batch_size

                batch = x.repeat((this_batch_size, 1))
                noise = torch.randn_like(batch) * self.sigma
                predictions = self.base_classifier(batch + noise).argmax(1)
                counts += self._count_arr(predictions.numpy(), self.num_classes)
            return counts

    def _count_arr(self, arr, length):
        return np.bincount(arr, minlength=length)[:length]

    def _lower_confidence_bound(self, NA, N, alpha):
        from statsmodels.stats.proportion import proportion_confint

        return proportion_confint(NA, N, alpha=2 * alpha, method="beta")[0]


# --------------------------------------------------------------------------------------------
# Clips
# --------------------------------------------------------------------------------------------

def test_files(recordings):
    files = []
    for path in glob.glob(os.path.join(recordings, "*.wav")):
        m = FSDD_NAME.match(os.path.basename(path))
        if m and int(m.group(3)) <= 4:
            files.append((int(m.group(1)), m.group(2), int(m.group(3)), path))
    if not files:
        raise SystemExit(f"no FSDD test takes (takes 0-4) in {recordings}")
    files.sort()
    return files


def pick(files, k):
    k = min(k, len(files))
    idx = np.linspace(0, len(files) - 1, k).round().astype(int) if k > 1 else np.array([0])
    return [files[i] for i in idx]


def load_clip(path, card):
    """x = s * CropPad(Resample(a)), s = target_rms / RMS(clip zero-padded to >= one window)."""
    import scipy.signal
    import soundfile

    a, rate = soundfile.read(path, dtype="float32", always_2d=True)
    a = a.mean(axis=1).astype(np.float32)
    sr = int(card["features"]["stft"]["sample_rate"])
    if rate != sr:
        r = Fraction(sr, rate)
        a = scipy.signal.resample_poly(a.astype(np.float64), r.numerator, r.denominator).astype(np.float32)
    w = int(card["window_samples"])
    padded_rms = math.sqrt(float(np.sum(a.astype(np.float64) ** 2)) / max(w, len(a), 1))
    if not padded_rms > 0.0:
        raise SystemExit(f"{path}: silent clip")
    s = float(np.float32(card["normalization"]["target_rms"]) / np.float32(padded_rms))
    if len(a) >= w:
        start = (len(a) - w) // 2
        x = a[start:start + w].copy()
    else:
        x = np.zeros(w, dtype=np.float32)
        left = (w - len(a)) // 2
        x[left:left + len(a)] = a
    return (x * np.float32(s)).astype(np.float32), s


# --------------------------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------------------------

def versions():
    import scipy
    import statsmodels

    return dict(torch=torch.__version__, numpy=np.__version__, scipy=scipy.__version__,
                statsmodels=statsmodels.__version__, python=platform.python_version(),
                machine=platform.machine(), cpus=os.cpu_count(),
                load_average=[round(v, 2) for v in os.getloadavg()])


def run_check(args, card):
    import librosa
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    clips = pick(test_files(args.recordings), args.clips)
    xs = [load_clip(p, card)[0] for (_, _, _, p) in clips]
    fe = LogMel(card)
    cnn = OnnxTorch(args.model).eval()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name

    fe_max, fe_loud, cnn_max, pipe_max, agree = 0.0, 0.0, 0.0, 0.0, 0
    stft = card["features"]["stft"]
    fe64, p64_rel = LogMel(card, dtype=torch.float64), 0.0
    with torch.no_grad():
        # semantics, free of f32 rounding: the torch STFT power in float64 against librosa's
        for x in xs:
            x64 = x.astype(np.float64)
            ref = np.abs(librosa.stft(x64, n_fft=stft["n_fft"], hop_length=stft["hop_length"],
                                      win_length=stft["win_length"], window="hann",
                                      center=stft["center"], pad_mode="constant")) ** 2
            ours = fe64.power(torch.from_numpy(x64)[None])[0].numpy()
            p64_rel = max(p64_rel, float(np.abs(ours - ref).max() / ref.max()))
        # the clean clips, and one noisy copy of each at the bench sigma
        gen = torch.Generator().manual_seed(args.seed)
        for x in xs:
            for y in (x, x + args.sigma * torch.randn(x.shape, generator=gen).numpy()):
                y = y.astype(np.float32)
                ref = librosa_logmel(card, y)  # [1, frames, n_mels]
                ours = fe(torch.from_numpy(y)[None])[0].numpy()  # [1, frames, n_mels]
                if ours.shape != ref.shape:
                    raise SystemExit(f"front end shape {ours.shape} != librosa {ref.shape}")
                d = np.abs(ours - ref)
                fe_max = max(fe_max, float(d.max()))
                loud = ref > -60.0
                if loud.any():
                    fe_loud = max(fe_loud, float(d[loud].max()))
                inp = ref[None]  # [1, 1, frames, n_mels], librosa features into both
                lo_ort = sess.run(None, {in_name: inp})[0]
                lo_torch = cnn(torch.from_numpy(inp)).numpy()
                cnn_max = max(cnn_max, float(np.abs(lo_ort - lo_torch).max()))
                # whole torch path (torch front end + torch CNN) vs librosa + onnxruntime
                lo_pipe = cnn(fe(torch.from_numpy(y)[None])).numpy()
                pipe_max = max(pipe_max, float(np.abs(lo_ort - lo_pipe).max()))
                agree += int(lo_pipe.argmax() == lo_ort.argmax())
    out = dict(
        mode="check", model=args.model, card=card["name"], clips=len(xs), inputs=2 * len(xs),
        input_shape=list(fe(torch.from_numpy(xs[0])[None]).shape),
        resample="scipy.signal.resample_poly",
        stft_power_f64_vs_librosa_max_abs_over_peak=p64_rel,
        frontend_vs_librosa_max_abs_db=fe_max,
        frontend_vs_librosa_max_abs_db_where_above_minus60db=fe_loud,
        cnn_torch_vs_onnxruntime_max_abs_logit=cnn_max,
        cnn_ok=cnn_max <= 1e-4,
        pipeline_torch_vs_librosa_onnxruntime_max_abs_logit=pipe_max,
        pipeline_argmax_agree=f"{agree}/{2 * len(xs)}",
        **versions(),
    )
    print(json.dumps(out))
    if cnn_max > 1e-4:
        sys.exit(1)


def run_certify(args, card):
    torch.set_num_threads(args.threads)
    clips = pick(test_files(args.recordings), args.clips) if not args.files else [
        (None, None, None, p) for p in args.files]
    labels = card["labels"]
    base = BaseClassifier(card, args.model).eval()
    smooth = Smooth(base, len(labels), args.sigma)
    loaded = [(c, *load_clip(c[3], card)) for c in clips]

    # warm-up: one batch, not timed (first-call allocations, oneDNN primitive creation)
    with torch.no_grad():
        base(torch.from_numpy(loaded[0][1]).repeat(min(args.batch, args.n0 + args.n), 1))

    torch.manual_seed(args.seed)
    records, total = [], 0.0
    for (digit, speaker, take, path), x, s in loaded:
        xt = torch.from_numpy(x)
        t0 = time.perf_counter()
        prediction, radius, extra = smooth.certify(xt, args.n0, args.n, args.alpha, args.batch)
        dt = time.perf_counter() - t0
        total += dt
        m = FSDD_NAME.match(os.path.basename(path))
        label = int(m.group(1)) if m else None
        records.append(dict(
            file=os.path.basename(path), label=label, gain=s, prediction=prediction,
            prediction_name=labels[prediction] if prediction >= 0 else "abstain",
            correct=(prediction == label) if label is not None else None,
            radius=float(radius), nA=int(extra["nA"]), n=args.n, n0=args.n0,
            pA_lower=float(extra["pA_lower"]), cAHat=int(extra["cAHat"]),
            counts0=extra["counts0"], counts=extra["counts"], sigma=args.sigma, alpha=args.alpha,
            batch=args.batch, seconds=dt,
        ))
    # where the time goes: one full batch through the front end alone and the CNN alone
    # (median of 3, after the timed run; the noise draw and counting are the remainder)
    fe_ms, cnn_ms = [], []
    with torch.no_grad():
        batch = torch.from_numpy(loaded[0][1]).repeat(args.batch, 1)
        for _ in range(3):
            t0 = time.perf_counter()
            feats = base.front_end(batch)
            t1 = time.perf_counter()
            base.cnn(feats)
            t2 = time.perf_counter()
            fe_ms.append(1e3 * (t1 - t0))
            cnn_ms.append(1e3 * (t2 - t1))
    summary = dict(
        mode=args.mode, model=args.model, card=card["name"], contract="waveform",
        sigma=args.sigma, n0=args.n0, n=args.n, alpha=args.alpha, batch=args.batch,
        clips=len(records), threads=args.threads, seed=args.seed,
        samples_per_s=(args.n0 + args.n) * len(records) / total,
        wall_s=total, per_clip_s=[r["seconds"] for r in records],
        batch_ms=dict(front_end=float(np.median(fe_ms)), cnn=float(np.median(cnn_ms))),
        files=[r["file"] for r in records],
        predictions=[r["prediction"] for r in records],
        labels=[r["label"] for r in records],
        nA=[r["nA"] for r in records], pA_lower=[r["pA_lower"] for r in records],
        radius=[r["radius"] for r in records],
        resample="scipy.signal.resample_poly",
        **versions(),
    )
    if args.mode == "certify":
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            for r in records:
                f.write(json.dumps(dict(model=card["name"], contract="waveform", **r)) + "\n")
        summary["out"] = args.out
    print(json.dumps(summary))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["check", "bench", "certify"])
    ap.add_argument("--model", default=os.path.join(REPO, "models", "kws-fsdd.onnx"))
    ap.add_argument("--recordings", default=DEFAULT_RECORDINGS, help="FSDD recordings folder")
    ap.add_argument("--files", nargs="*", help="certify these wav files instead of --clips test clips")
    ap.add_argument("--n", type=int, default=1000, help="samples to estimate pA")
    ap.add_argument("--n0", type=int, default=100, help="samples to select the top class")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--sigma", type=float, default=0.005, help="waveform noise standard deviation")
    ap.add_argument("--alpha", type=float, default=0.001, help="failure probability")
    ap.add_argument("--clips", type=int, default=None, help="test clips (default: check 20, else 3)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="certify: JSON-lines file of per-clip records")
    args = ap.parse_args()
    if args.clips is None:
        args.clips = 20 if args.mode == "check" else 3
    if args.mode == "certify" and not args.out:
        ap.error("certify needs --out")
    if min(args.n, args.n0, args.batch, args.clips, args.threads) < 1 or not args.sigma > 0:
        ap.error("--n, --n0, --batch, --clips, --threads must be >= 1 and --sigma > 0")
    card = load_card(args.model)
    if args.mode == "check":
        run_check(args, card)
    else:
        run_certify(args, card)


if __name__ == "__main__":
    main()
