//! The layers every model is made of, each defined once for its three uses: the tch forward
//! pass (training), the ONNX export through [`Graph`] (serving), and the output shape and
//! multiply-adds (model size). A model is a list of these, so its export mirrors its forward
//! pass by construction.

use crate::error::{Result, ToolsError};
use crate::onnx::{Array, Graph};
use tch::{nn, Kind, Tensor};

/// A convolution, 1-D (`weight [out, in/groups, k]`) or 2-D (`[out, in/groups, kh, kw]`).
#[derive(Debug)]
pub struct Conv {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub stride: Vec<i64>,
    pub padding: Vec<i64>,
    pub dilation: Vec<i64>,
    pub groups: i64,
}

#[derive(Debug)]
pub enum Layer {
    Conv(Conv),
    BatchNorm { bn: nn::BatchNorm, eps: f64 },
    Relu,
    MaxPool { kernel: Vec<i64>, stride: Vec<i64>, padding: Vec<i64> },
    AvgPool { kernel: Vec<i64>, stride: Vec<i64> },
    /// Mean over every spatial axis: `[N, C, ...] → [N, C]`.
    GlobalAvgPool,
    /// Mean over the time axis of a `[N, C, T, F]` map, then flatten: `[N, C·F]` (keeps where
    /// in frequency a pattern sits, forgets when).
    TimeMeanFlatten,
    /// Each band minus its mean over the time axis of a `[N, C, T, F]` map (cepstral mean
    /// normalization of a log-spectral map): a fixed microphone or room response, a gain in dB
    /// per band, is a constant offset along time in each band, and this removes it.
    TimeCentre,
    /// [`Layer::TimeCentre`] with each band's mean taken over the speech frames only: the frames
    /// whose mean level over the bands is within `floor_db` of the window's loudest frame. In a
    /// 1-s window of one keyword most frames are silence, noise or a reverberant tail; a mean
    /// over all of them, subtracted, removes part of the speech with the channel. A fixed
    /// response in dB per band (or a gain) moves every frame's level by the same amount, so it
    /// selects the same frames and still cancels exactly.
    SpeechCentre { floor_db: f64 },
    /// Cepstral smoothing of every frame of a `[N, C, T, F]` log-spectral map: `x · P` along the
    /// band axis, `P = D_kᵀ D_k` with `D_k` the first `k` rows of the orthonormal DCT-II. The map
    /// keeps its shape and its spectral envelope (the low quefrencies, where formants sit) and
    /// loses the fine ripple of resolved pitch harmonics: the part of a log-mel frame that says
    /// most about who speaks and least about what is said (the reason MFCC front ends keep only
    /// their first coefficients). `basis` is `P` (`[F, F]`, fixed, saved with the model).
    Lifter { basis: Tensor, keep: i64 },
    /// `[N, ...] → [N, prod]`.
    Flatten,
    Linear(nn::Linear),
    /// Identity at inference.
    Dropout(f64),
    /// Bilinear resize of a `[N, C, H, W]` map to `[N, C, h, w]` (half-pixel centres, no
    /// antialiasing: PyTorch `align_corners=False`, ONNX `Resize` linear / half_pixel).
    Resize([i64; 2]),
    /// `relu(body(x) + shortcut(x))`, an empty shortcut being the identity (ResNet basic block).
    Residual { body: Vec<Layer>, shortcut: Vec<Layer> },
}

/// Copies a tensor to an ONNX [`Array`] (f32, CPU, contiguous).
pub fn to_array(t: &Tensor) -> Result<Array> {
    let t = t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous();
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let data = Vec::<f32>::try_from(t.flatten(0, -1))?;
    Ok(Array { shape, data })
}

/// ONNX `pads` (all begins, then all ends) of a symmetric padding.
fn onnx_pads(p: &[i64]) -> Vec<i64> {
    p.iter().chain(p.iter()).copied().collect()
}

fn pooled(n: i64, k: i64, s: i64, p: i64, d: i64) -> i64 {
    (n + 2 * p - d * (k - 1) - 1).div_euclid(s) + 1
}

impl Layer {
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Layer::Conv(c) => {
                if c.weight.dim() == 3 {
                    x.conv1d(&c.weight, c.bias.as_ref(), &c.stride, &c.padding, &c.dilation, c.groups)
                } else {
                    x.conv2d(&c.weight, c.bias.as_ref(), &c.stride, &c.padding, &c.dilation, c.groups)
                }
            }
            Layer::BatchNorm { bn, .. } => nn::ModuleT::forward_t(bn, x, train),
            Layer::Relu => x.relu(),
            Layer::MaxPool { kernel, stride, padding } => {
                if kernel.len() == 1 {
                    x.max_pool1d(kernel, stride, padding, [1], false)
                } else {
                    x.max_pool2d(kernel, stride, padding, [1, 1], false)
                }
            }
            Layer::AvgPool { kernel, stride } => {
                if kernel.len() == 1 {
                    x.avg_pool1d(kernel, stride, [0], false, true)
                } else {
                    x.avg_pool2d(kernel, stride, [0, 0], false, true, None::<i64>)
                }
            }
            Layer::GlobalAvgPool => {
                let axes: Vec<i64> = (2..x.dim() as i64).collect();
                x.mean_dim(axes.as_slice(), false, Kind::Float)
            }
            Layer::TimeMeanFlatten => x.mean_dim([2i64].as_slice(), false, Kind::Float).flatten(1, -1),
            Layer::TimeCentre => x - x.mean_dim([2i64].as_slice(), true, Kind::Float),
            Layer::SpeechCentre { floor_db } => {
                // the mask is a step of the levels: no gradient flows through it (none would be
                // useful), as in the graph, where it is Relu(Sign(level - threshold))
                let level = x.mean_dim([3i64].as_slice(), true, Kind::Float).detach();
                let (loudest, _) = level.max_dim(2, true);
                let mask = (level - (loudest - *floor_db)).sign().relu();
                let num = (x * &mask).mean_dim([2i64].as_slice(), true, Kind::Float);
                let den = mask.mean_dim([2i64].as_slice(), true, Kind::Float);
                x - num / den
            }
            Layer::Lifter { basis, .. } => x.matmul(basis),
            Layer::Flatten => x.flatten(1, -1),
            Layer::Linear(l) => nn::Module::forward(l, x),
            Layer::Dropout(p) => x.dropout(*p, train),
            Layer::Resize(hw) => x.upsample_bilinear2d(hw, false, None, None),
            Layer::Residual { body, shortcut } => {
                let b = forward_all(body, x, train);
                let s = if shortcut.is_empty() { x.shallow_clone() } else { forward_all(shortcut, x, train) };
                (b + s).relu()
            }
        }
    }

    /// Adds this layer to `g` after tensor `x`; returns the output's name.
    pub fn export(&self, g: &mut Graph, x: &str) -> Result<String> {
        Ok(match self {
            Layer::Conv(c) => g.conv(
                x,
                to_array(&c.weight)?,
                c.bias.as_ref().map(to_array).transpose()?,
                &c.stride,
                &onnx_pads(&c.padding),
                &c.dilation,
                c.groups,
            ),
            Layer::BatchNorm { bn, eps } => {
                let (w, b) = match (&bn.ws, &bn.bs) {
                    (Some(w), Some(b)) => (to_array(w)?, to_array(b)?),
                    _ => return Err(ToolsError::Onnx("batch norm without affine parameters".into())),
                };
                g.batch_norm(x, w, b, to_array(&bn.running_mean)?, to_array(&bn.running_var)?, *eps as f32)
            }
            Layer::Relu => g.relu(x),
            Layer::MaxPool { kernel, stride, padding } => g.max_pool(x, kernel, stride, &onnx_pads(padding)),
            Layer::AvgPool { kernel, stride } => g.avg_pool(x, kernel, stride, &vec![0; 2 * kernel.len()]),
            Layer::GlobalAvgPool => {
                let p = g.global_average_pool(x);
                g.flatten(&p)
            }
            Layer::TimeMeanFlatten => {
                let m = g.reduce_mean(x, &[2], false);
                g.flatten(&m)
            }
            Layer::TimeCentre => {
                let m = g.reduce_mean(x, &[2], true);
                g.sub(x, &m)
            }
            Layer::SpeechCentre { floor_db } => {
                let level = g.reduce_mean(x, &[3], true);
                let loudest = g.reduce_max(&level, &[2], true);
                let floor = g.constant(Array { shape: vec![1], data: vec![*floor_db as f32] });
                let threshold = g.sub(&loudest, &floor);
                let above = g.sub(&level, &threshold);
                let sign = g.sign(&above);
                let mask = g.relu(&sign);
                let masked = g.mul(x, &mask);
                let num = g.reduce_mean(&masked, &[2], true);
                let den = g.reduce_mean(&mask, &[2], true);
                let m = g.div(&num, &den);
                g.sub(x, &m)
            }
            // P is symmetric, so the linear layer's x·Pᵀ is x·P: one MatMul, no bias
            Layer::Lifter { basis, .. } => g.linear(x, to_array(basis)?, None),
            Layer::Flatten => g.flatten(x),
            Layer::Linear(l) => g.linear(x, to_array(&l.ws)?, l.bs.as_ref().map(to_array).transpose()?),
            Layer::Dropout(_) => x.to_string(),
            Layer::Resize(hw) => g.resize_bilinear(x, *hw),
            Layer::Residual { body, shortcut } => {
                let b = export_all(body, g, x)?;
                let s = if shortcut.is_empty() { x.to_string() } else { export_all(shortcut, g, x)? };
                let sum = g.add(&b, &s);
                g.relu(&sum)
            }
        })
    }

    /// Output shape (without the batch axis) and multiply-adds for one example of `shape`.
    /// Only convolutions and linear layers count (batch norm folds into the preceding
    /// convolution at inference; pooling, ReLU and the residual add are additions/compares).
    pub fn shape_and_macs(&self, shape: &[i64]) -> (Vec<i64>, u64) {
        match self {
            Layer::Conv(c) => {
                let ws = c.weight.size();
                let mut out = vec![ws[0]];
                for (i, &n) in shape[1..].iter().enumerate() {
                    out.push(pooled(n, ws[2 + i], c.stride[i], c.padding[i], c.dilation[i]));
                }
                let per_output: i64 = ws[1..].iter().product();
                let outputs: i64 = out.iter().product();
                (out, (outputs.max(0) * per_output) as u64)
            }
            Layer::MaxPool { kernel, stride, padding } => {
                let mut out = vec![shape[0]];
                for (i, &n) in shape[1..].iter().enumerate() {
                    out.push(pooled(n, kernel[i], stride[i], padding[i], 1));
                }
                (out, 0)
            }
            Layer::AvgPool { kernel, stride } => {
                let mut out = vec![shape[0]];
                for (i, &n) in shape[1..].iter().enumerate() {
                    out.push(pooled(n, kernel[i], stride[i], 0, 1));
                }
                (out, 0)
            }
            Layer::GlobalAvgPool => (vec![shape[0]], 0),
            Layer::TimeMeanFlatten => (vec![shape[0] * shape[2..].iter().product::<i64>()], 0),
            Layer::Flatten => (vec![shape.iter().product()], 0),
            Layer::Linear(l) => {
                let ws = l.ws.size();
                (vec![ws[0]], (ws[0] * ws[1]) as u64)
            }
            Layer::Resize(hw) => (vec![shape[0], hw[0], hw[1]], 0),
            Layer::Residual { body, shortcut } => {
                let (out, a) = walk(body, shape);
                let (_, b) = walk(shortcut, shape);
                (out, a + b)
            }
            Layer::BatchNorm { .. } | Layer::Relu | Layer::Dropout(_) | Layer::TimeCentre | Layer::SpeechCentre { .. } => (shape.to_vec(), 0),
            // a fixed projection of the input map: counted, it runs in every copy
            Layer::Lifter { keep: _, basis } => {
                let f = basis.size()[0];
                (shape.to_vec(), (shape.iter().product::<i64>() * f) as u64)
            }
        }
    }
}

pub fn forward_all(layers: &[Layer], x: &Tensor, train: bool) -> Tensor {
    let mut h = x.shallow_clone();
    for l in layers {
        h = l.forward_t(&h, train);
    }
    h
}

pub fn export_all(layers: &[Layer], g: &mut Graph, x: &str) -> Result<String> {
    let mut h = x.to_string();
    for l in layers {
        h = l.export(g, &h)?;
    }
    Ok(h)
}

/// Output shape and total multiply-adds of a layer list.
pub fn walk(layers: &[Layer], shape: &[i64]) -> (Vec<i64>, u64) {
    let mut s = shape.to_vec();
    let mut macs = 0;
    for l in layers {
        let (next, m) = l.shape_and_macs(&s);
        s = next;
        macs += m;
    }
    (s, macs)
}

/// Builds a layer list while tracking the example shape, so every layer knows its input
/// channels and a degenerate shape (an input too small for the architecture) is an error at
/// construction, not a libtorch panic in the first batch.
pub struct Builder<'a> {
    p: nn::Path<'a>,
    arch: &'static str,
    /// Batch norms after a convolution become that convolution's bias (see `ModelSpec::folded`).
    folded: bool,
    pub shape: Vec<i64>,
    pub layers: Vec<Layer>,
}

impl<'a> Builder<'a> {
    pub fn new(p: nn::Path<'a>, arch: &'static str, shape: &[i64]) -> Self {
        Builder { p, arch, folded: false, shape: shape.to_vec(), layers: Vec::new() }
    }

    /// Builds the folded form (see `ModelSpec::folded`) when `folded`.
    pub fn folded(mut self, folded: bool) -> Self {
        self.folded = folded;
        self
    }

    /// A nested builder (residual branches) under `name`, starting from the current shape.
    pub fn branch(&self, name: &str) -> Builder<'a> {
        Builder { p: self.p.sub(name), arch: self.arch, folded: self.folded, shape: self.shape.clone(), layers: Vec::new() }
    }

    fn name(&self) -> String {
        format!("l{}", self.layers.len())
    }

    fn push(&mut self, layer: Layer) -> Result<()> {
        let (shape, _) = layer.shape_and_macs(&self.shape);
        if shape.iter().any(|&d| d < 1) {
            return Err(ToolsError::model(
                self.arch,
                format!(
                    "input too small: layer {} ({}) would output shape {shape:?} from {:?}; use a longer window or \
                     another architecture",
                    self.layers.len(),
                    layer_kind(&layer),
                    self.shape
                ),
            ));
        }
        self.shape = shape;
        self.layers.push(layer);
        Ok(())
    }

    pub fn channels(&self) -> i64 {
        self.shape[0]
    }

    /// Convolution with a square (2-D) or plain (1-D) `kernel`, equal stride and padding on
    /// every axis, no bias (a batch norm follows).
    pub fn conv(&mut self, out: i64, kernel: i64, stride: i64, padding: i64, groups: i64) -> Result<&mut Self> {
        let nd = self.shape.len() - 1;
        let cin = self.channels();
        let mut dims = vec![out, cin / groups];
        dims.extend(std::iter::repeat_n(kernel, nd));
        let weight = self.p.sub(self.name()).var("weight", &dims, nn::init::DEFAULT_KAIMING_UNIFORM);
        self.push(Layer::Conv(Conv {
            weight,
            bias: None,
            stride: vec![stride; nd],
            padding: vec![padding; nd],
            dilation: vec![1; nd],
            groups,
        }))?;
        Ok(self)
    }

    /// 2-D convolution with a `[kh, kw]` kernel and `[sh, sw]` stride, no padding, no bias (a
    /// batch norm follows), then that batch norm and a ReLU.
    pub fn conv_rect_bn_relu(&mut self, out: i64, kernel: [i64; 2], stride: [i64; 2]) -> Result<&mut Self> {
        if self.shape.len() != 3 {
            return Err(ToolsError::model(self.arch, format!("a rectangular kernel needs a 2-D map, not {:?}", self.shape)));
        }
        let cin = self.channels();
        let weight = self.p.sub(self.name()).var("weight", &[out, cin, kernel[0], kernel[1]], nn::init::DEFAULT_KAIMING_UNIFORM);
        self.push(Layer::Conv(Conv { weight, bias: None, stride: stride.to_vec(), padding: vec![0; 2], dilation: vec![1; 2], groups: 1 }))?;
        self.bn()?.relu()
    }

    /// A convolution with fixed weights (not trained; saved with the model).
    pub fn frozen_conv(&mut self, weight: Tensor, stride: i64) -> Result<&mut Self> {
        let nd = self.shape.len() - 1;
        let weight = self.p.sub(self.name()).add("weight", weight.to_device(self.p.device()), false);
        self.push(Layer::Conv(Conv { weight, bias: None, stride: vec![stride; nd], padding: vec![0; nd], dilation: vec![1; nd], groups: 1 }))?;
        Ok(self)
    }

    pub fn bn(&mut self) -> Result<&mut Self> {
        let c = self.channels();
        if self.folded {
            // The ONNX export folds a batch norm into the convolution right before it (and
            // only there): the folded model has that convolution's bias in its place.
            let k = self.layers.len().saturating_sub(1);
            let p = self.p.sub(format!("l{k}"));
            if let Some(Layer::Conv(conv)) = self.layers.last_mut() {
                if conv.bias.is_none() {
                    conv.bias = Some(p.zeros("bias", &[c]));
                    return Ok(self);
                }
            }
        }
        let cfg = nn::BatchNormConfig { ws_init: nn::Init::Const(1.0), ..Default::default() };
        let p = self.p.sub(self.name());
        let bn = if self.shape.len() == 2 { nn::batch_norm1d(&p, c, cfg) } else { nn::batch_norm2d(&p, c, cfg) };
        self.push(Layer::BatchNorm { bn, eps: cfg.eps })?;
        Ok(self)
    }

    pub fn relu(&mut self) -> Result<&mut Self> {
        self.push(Layer::Relu)?;
        Ok(self)
    }

    /// conv → batch norm → ReLU.
    pub fn conv_bn_relu(&mut self, out: i64, kernel: i64, stride: i64, padding: i64, groups: i64) -> Result<&mut Self> {
        self.conv(out, kernel, stride, padding, groups)?.bn()?.relu()
    }

    pub fn max_pool(&mut self, kernel: i64, stride: i64, padding: i64) -> Result<&mut Self> {
        let nd = self.shape.len() - 1;
        self.push(Layer::MaxPool { kernel: vec![kernel; nd], stride: vec![stride; nd], padding: vec![padding; nd] })?;
        Ok(self)
    }

    pub fn avg_pool(&mut self, kernel: i64, stride: i64) -> Result<&mut Self> {
        let nd = self.shape.len() - 1;
        self.push(Layer::AvgPool { kernel: vec![kernel; nd], stride: vec![stride; nd] })?;
        Ok(self)
    }

    pub fn global_avg_pool(&mut self) -> Result<&mut Self> {
        self.push(Layer::GlobalAvgPool)?;
        Ok(self)
    }

    pub fn time_mean_flatten(&mut self) -> Result<&mut Self> {
        self.push(Layer::TimeMeanFlatten)?;
        Ok(self)
    }

    pub fn time_centre(&mut self) -> Result<&mut Self> {
        self.push(Layer::TimeCentre)?;
        Ok(self)
    }

    pub fn speech_centre(&mut self, floor_db: f64) -> Result<&mut Self> {
        self.push(Layer::SpeechCentre { floor_db })?;
        Ok(self)
    }

    /// Cepstral smoothing along the band axis, keeping the first `keep` DCT-II coefficients of
    /// each frame ([`Layer::Lifter`]).
    pub fn lifter(&mut self, keep: i64) -> Result<&mut Self> {
        let f = *self.shape.last().unwrap_or(&0);
        if self.shape.len() != 3 || keep < 1 || keep > f {
            return Err(ToolsError::model(self.arch, format!("a lifter keeping {keep} coefficients needs a [C, T, F] map with F >= {keep}, not {:?}", self.shape)));
        }
        let basis = Tensor::from_slice(&lifter_basis(f as usize, keep as usize)).reshape([f, f]);
        let basis = self.p.sub(self.name()).add("basis", basis.to_device(self.p.device()), false);
        self.push(Layer::Lifter { basis, keep })?;
        Ok(self)
    }

    pub fn flatten(&mut self) -> Result<&mut Self> {
        self.push(Layer::Flatten)?;
        Ok(self)
    }

    pub fn linear(&mut self, out: i64) -> Result<&mut Self> {
        let l = nn::linear(self.p.sub(self.name()), self.shape[0], out, Default::default());
        self.push(Layer::Linear(l))?;
        Ok(self)
    }

    pub fn dropout(&mut self, p: f64) -> Result<&mut Self> {
        self.push(Layer::Dropout(p))?;
        Ok(self)
    }

    pub fn resize(&mut self, hw: [i64; 2]) -> Result<&mut Self> {
        self.push(Layer::Resize(hw))?;
        Ok(self)
    }

    pub fn residual(&mut self, body: Builder<'a>, shortcut: Builder<'a>) -> Result<&mut Self> {
        if !shortcut.layers.is_empty() && body.shape != shortcut.shape || shortcut.layers.is_empty() && body.shape != self.shape {
            return Err(ToolsError::model(self.arch, format!("residual shapes differ: {:?} vs {:?}", body.shape, shortcut.shape)));
        }
        self.push(Layer::Residual { body: body.layers, shortcut: shortcut.layers })?;
        Ok(self)
    }

    /// Path for sub-builders of the next layer.
    pub fn next_name(&self) -> String {
        self.name()
    }
}

fn layer_kind(l: &Layer) -> &'static str {
    match l {
        Layer::Conv(_) => "conv",
        Layer::BatchNorm { .. } => "batch norm",
        Layer::Relu => "relu",
        Layer::MaxPool { .. } => "max pool",
        Layer::AvgPool { .. } => "average pool",
        Layer::GlobalAvgPool => "global average pool",
        Layer::TimeMeanFlatten => "time mean",
        Layer::TimeCentre => "time centring",
        Layer::SpeechCentre { .. } => "speech-frame centring",
        Layer::Lifter { .. } => "cepstral lifter",
        Layer::Flatten => "flatten",
        Layer::Linear(_) => "linear",
        Layer::Dropout(_) => "dropout",
        Layer::Resize(_) => "resize",
        Layer::Residual { .. } => "residual block",
    }
}

/// `P = D_kᵀ D_k` (row-major `f × f`) for the orthonormal DCT-II `D[q][n] = s_q cos(π(n + ½)q/f)`,
/// `s_0 = √(1/f)`, `s_q = √(2/f)`, keeping quefrencies `q < keep`: the orthogonal projection of a
/// frame onto its `keep` smoothest cosines (symmetric and idempotent; the identity at `keep = f`).
pub fn lifter_basis(f: usize, keep: usize) -> Vec<f32> {
    let d = |q: usize, n: usize| -> f64 {
        let s = if q == 0 { (1.0 / f as f64).sqrt() } else { (2.0 / f as f64).sqrt() };
        s * (std::f64::consts::PI * (n as f64 + 0.5) * q as f64 / f as f64).cos()
    };
    let mut p = vec![0.0f32; f * f];
    for i in 0..f {
        for j in 0..f {
            p[i * f + j] = (0..keep).map(|q| d(q, i) * d(q, j)).sum::<f64>() as f32;
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::lifter_basis;

    /// The projection against its closed form: a cosine of quefrency `q` over the bands,
    /// `cos(π(n + ½)q/f)`, is an eigenvector with eigenvalue 1 below `keep` and 0 from `keep` on;
    /// `P` is symmetric, idempotent, of trace `keep`, and the identity when all are kept.
    #[test]
    fn lifter_keeps_the_envelope_and_removes_the_ripple() {
        let (f, keep) = (64usize, 20usize);
        let p = lifter_basis(f, keep);
        let apply = |x: &[f64]| -> Vec<f64> { (0..f).map(|j| (0..f).map(|i| x[i] * p[i * f + j] as f64).sum()).collect() };
        for q in [0usize, 1, 3, 19, 20, 27, 40, 63] {
            let x: Vec<f64> = (0..f).map(|n| (std::f64::consts::PI * (n as f64 + 0.5) * q as f64 / f as f64).cos()).collect();
            let y = apply(&x);
            let want = if q < keep { 1.0 } else { 0.0 };
            for n in 0..f {
                assert!((y[n] - want * x[n]).abs() < 1e-5, "q = {q}, band {n}: {} against {}", y[n], want * x[n]);
            }
        }
        let trace: f64 = (0..f).map(|i| p[i * f + i] as f64).sum();
        assert!((trace - keep as f64).abs() < 1e-4, "trace {trace}");
        for i in 0..f {
            for j in 0..f {
                assert!((p[i * f + j] - p[j * f + i]).abs() < 1e-6);
                let pp: f64 = (0..f).map(|k| p[i * f + k] as f64 * p[k * f + j] as f64).sum();
                assert!((pp - p[i * f + j] as f64).abs() < 1e-5, "P² ≠ P at ({i}, {j})");
            }
        }
        let all = lifter_basis(f, f);
        for i in 0..f {
            for j in 0..f {
                let id = if i == j { 1.0 } else { 0.0 };
                assert!((all[i * f + j] - id).abs() < 1e-5);
            }
        }
    }
}
