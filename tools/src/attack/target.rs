//! What an attack works on: the differentiable [`AttackTarget`] (a checkpoint in a [`Domain`],
//! counting its forward passes and gradients), the valid box of inputs, and the goal.

use crate::checkpoint::Checkpoint;
use crate::error::{Result, ToolsError};
use crate::frontend::LogMelTch;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// Where the perturbation lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// The model's log-mel input `[N, 1, frames, bins]`.
    Features,
    /// The gain-normalized waveform `[N, samples]` (front end in the graph).
    Waveform,
}

/// The valid inputs around a clean example `x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BoxSpec {
    /// Waveform: `[-P, P]` with `P = max |x|`, the clean window's own peak (the attack may not
    /// make the clip louder at its peak). Features: `[min x, max x]`, the range of the clean
    /// log-mel map (so no band goes below the quietest or above the loudest value the front
    /// end produced for this clip; the floor is `10·log10(amin)`).
    Clean,
    /// `[lo, hi]` for every example.
    Fixed { lo: f64, hi: f64 },
    /// No box (ε-ball only).
    Unbounded,
}

/// Per-example bounds, broadcastable to the batch (`[N, 1, ...]`).
#[derive(Debug)]
pub struct Bounds {
    pub lo: Tensor,
    pub hi: Tensor,
}

impl Bounds {
    pub fn of(x: &Tensor, spec: BoxSpec, domain: Domain) -> Bounds {
        let n = x.size()[0];
        let mut shape = vec![n];
        shape.extend(std::iter::repeat_n(1, x.dim() - 1));
        let flat = x.detach().reshape([n, -1]);
        match spec {
            BoxSpec::Clean => match domain {
                Domain::Waveform => {
                    let p = flat.abs().amax([1].as_slice(), false).reshape(&shape);
                    Bounds { lo: -&p, hi: p }
                }
                Domain::Features => Bounds {
                    lo: flat.amin([1].as_slice(), false).reshape(&shape),
                    hi: flat.amax([1].as_slice(), false).reshape(&shape),
                },
            },
            BoxSpec::Fixed { lo, hi } => Bounds {
                lo: Tensor::full(shape.as_slice(), lo, (x.kind(), x.device())),
                hi: Tensor::full(shape.as_slice(), hi, (x.kind(), x.device())),
            },
            BoxSpec::Unbounded => Bounds {
                lo: Tensor::full(shape.as_slice(), f64::NEG_INFINITY, (x.kind(), x.device())),
                hi: Tensor::full(shape.as_slice(), f64::INFINITY, (x.kind(), x.device())),
            },
        }
    }

    /// Rows `idx` of the bounds.
    pub fn select(&self, idx: &Tensor) -> Bounds {
        Bounds { lo: self.lo.index_select(0, idx), hi: self.hi.index_select(0, idx) }
    }

    pub fn clip(&self, x: &Tensor) -> Tensor {
        x.clamp_tensor(Some(&self.lo), Some(&self.hi))
    }
}

/// What the attack aims for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    /// Any label but the reference one.
    Untargeted,
    /// This label.
    Targeted(i64),
}

impl Goal {
    /// The labels whose cross-entropy the attack follows, and the direction: `+1` ascends (away
    /// from the reference label), `-1` descends (towards the target).
    pub fn loss_labels(&self, reference: &Tensor) -> (Tensor, f64) {
        match *self {
            Goal::Untargeted => (reference.shallow_clone(), 1.0),
            Goal::Targeted(t) => (reference.full_like(t), -1.0),
        }
    }

    /// Per example: does `pred` achieve the goal against `reference`? (bool tensor `[N]`)
    pub fn achieved(&self, pred: &Tensor, reference: &Tensor) -> Tensor {
        match *self {
            Goal::Untargeted => pred.ne_tensor(reference),
            Goal::Targeted(t) => pred.eq(t),
        }
    }
}

/// A differentiable classifier `f(input) → logits` in one domain, counting its use.
pub struct AttackTarget {
    f: Box<dyn Fn(&Tensor) -> Tensor>,
    pub domain: Domain,
    pub device: Device,
    forwards: Cell<u64>,
    gradients: Cell<u64>,
    _vs: Option<nn::VarStore>,
}

impl AttackTarget {
    /// A target from any logits function (inputs and logits on `device`).
    pub fn new(domain: Domain, device: Device, f: impl Fn(&Tensor) -> Tensor + 'static) -> Self {
        AttackTarget { f: Box::new(f), domain, device, forwards: Cell::new(0), gradients: Cell::new(0), _vs: None }
    }

    /// The trained model at `dir` (a checkpoint folder, or a shipped model's .onnx file with its
    /// checkpoint beside it: see [`Checkpoint::load`]), eval mode, weights frozen, in `domain`.
    pub fn from_checkpoint(dir: &Path, domain: Domain, device: Device) -> Result<(Self, Checkpoint)> {
        let ck = Checkpoint::load(dir)?;
        let (mut vs, model) = ck.build(dir, device)?;
        vs.freeze();
        let arch = ck.spec.arch;
        let f: Box<dyn Fn(&Tensor) -> Tensor> = if arch.takes_waveform() {
            if domain == Domain::Features {
                return Err(ToolsError::invalid("domain", "features", "waveform (this model takes the waveform)"));
            }
            Box::new(move |x: &Tensor| model.forward_t(&x.unsqueeze(1), false))
        } else {
            match domain {
                Domain::Features => Box::new(move |x: &Tensor| model.forward_t(x, false)),
                Domain::Waveform => {
                    let cfg = ck.features.ok_or_else(|| ToolsError::model(arch.name(), "feature model without a front end"))?;
                    let fe = LogMelTch::new(&cfg, device, Kind::Float)?;
                    Box::new(move |x: &Tensor| model.forward_t(&fe.forward(x).unsqueeze(1), false))
                }
            }
        };
        let mut t = AttackTarget::new(domain, device, move |x| f(x));
        t._vs = Some(vs);
        Ok((t, ck))
    }

    /// Logits without gradient (counts `N` forwards).
    pub fn logits(&self, x: &Tensor) -> Tensor {
        self.forwards.set(self.forwards.get() + x.size()[0] as u64);
        tch::no_grad(|| (self.f)(x))
    }

    /// Predicted labels `[N]` (counts `N` forwards).
    pub fn predict(&self, x: &Tensor) -> Tensor {
        self.logits(x).argmax(-1, false)
    }

    /// `(∇ₓ J, logits)`: the gradient of each example's own cross-entropy `J(x, labels)` (the
    /// batch loss is the sum, so examples do not scale each other). Counts `N` gradients and
    /// `N` forwards.
    pub fn gradient(&self, x: &Tensor, labels: &Tensor) -> (Tensor, Tensor) {
        let n = x.size()[0] as u64;
        self.forwards.set(self.forwards.get() + n);
        self.gradients.set(self.gradients.get() + n);
        let xg = x.detach().set_requires_grad(true);
        let logits = (self.f)(&xg);
        let loss = -logits.log_softmax(-1, Kind::Float).gather(1, &labels.unsqueeze(1), false).sum(Kind::Float);
        let g = Tensor::run_backward(&[loss], &[&xg], false, false).remove(0);
        (g, logits.detach())
    }

    /// `(∇ₓ Σₙ loss(logits)ₙ, logits)`: the gradient of any per-example loss of the logits
    /// (`loss` maps `[N, C]` to `[N]`; examples do not mix, so row `n` of the gradient is
    /// example `n`'s own). Counts `N` gradients and `N` forwards.
    pub fn loss_gradient(&self, x: &Tensor, loss: impl Fn(&Tensor) -> Tensor) -> (Tensor, Tensor) {
        let n = x.size()[0] as u64;
        self.forwards.set(self.forwards.get() + n);
        self.gradients.set(self.gradients.get() + n);
        let xg = x.detach().set_requires_grad(true);
        let logits = (self.f)(&xg);
        let total = loss(&logits).sum(Kind::Float);
        let g = Tensor::run_backward(&[total], &[&xg], false, false).remove(0);
        (g, logits.detach())
    }

    /// `(logits, J)` with `J = ∂logits/∂x` of shape `[N, C, ...input]`: one forward and `C`
    /// backward passes (counts `N` forwards and `C·N` gradients).
    pub fn jacobian(&self, x: &Tensor) -> (Tensor, Tensor) {
        let xg = x.detach().set_requires_grad(true);
        let logits = (self.f)(&xg);
        let (n, c) = (x.size()[0] as u64, logits.size()[1]);
        self.forwards.set(self.forwards.get() + n);
        self.gradients.set(self.gradients.get() + n * c as u64);
        let rows: Vec<Tensor> = (0..c)
            .map(|k| Tensor::run_backward(&[logits.select(1, k).sum(Kind::Float)], &[&xg], k + 1 < c, false).remove(0))
            .collect();
        (logits.detach(), Tensor::stack(&rows, 1))
    }

    /// `(forwards, gradients)` so far, in examples.
    pub fn counts(&self) -> (u64, u64) {
        (self.forwards.get(), self.gradients.get())
    }
}

/// A per-example tensor `[N]` (or `[N, 1, ...]`) as f64 values.
pub(crate) fn per_example(t: &Tensor) -> Result<Vec<f64>> {
    let n = t.size()[0];
    Ok(Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([n]))?)
}

/// Per example, the class with the highest logit other than `reference` (the target of the
/// targeted-only attacks, JSMA and L-BFGS, when they run untargeted).
pub fn runner_up(logits: &Tensor, reference: &Tensor) -> Tensor {
    let c = logits.size()[1];
    logits.masked_fill(&reference.one_hot(c).to_kind(Kind::Bool), f64::NEG_INFINITY).argmax(-1, false)
}

