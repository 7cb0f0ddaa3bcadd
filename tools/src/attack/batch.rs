//! One batch attacked end to end ([`attack_batch`]): clean prediction, the attack, the
//! adversarial prediction and the distortion of each example, and the summary of a run.

use super::config::Attack;
use super::target::{AttackTarget, Bounds, BoxSpec, Goal};
use super::{psycho, room};
use crate::error::Result;
use serde::Serialize;
use tch::{Kind, Tensor};

/// Size of one perturbation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Distortion {
    /// Entries changed (`δ ≠ 0`).
    pub l0: u64,
    pub l2: f64,
    pub linf: f64,
    /// `20·log10(‖x‖₂ / ‖δ‖₂)` (infinite, written as null, when `δ = 0`).
    #[serde(deserialize_with = "crate::shard::null_as_inf")]
    pub snr_db: f64,
}

/// Per-example distortion of `adv` against `clean` (same shape `[N, ...]`), in f64.
pub fn distortion(clean: &Tensor, adv: &Tensor) -> Vec<Distortion> {
    let n = clean.size()[0];
    let x = clean.to_kind(Kind::Double).reshape([n, -1]);
    let d = adv.to_kind(Kind::Double).reshape([n, -1]) - &x;
    let l0 = Vec::<i64>::try_from(d.ne(0.0).sum_dim_intlist(1, false, Kind::Int64)).unwrap_or_default();
    let l2 = Vec::<f64>::try_from(d.square().sum_dim_intlist(1, false, Kind::Double).sqrt()).unwrap_or_default();
    let linf = Vec::<f64>::try_from(d.abs().amax([1].as_slice(), false)).unwrap_or_default();
    let xn = Vec::<f64>::try_from(x.square().sum_dim_intlist(1, false, Kind::Double).sqrt()).unwrap_or_default();
    (0..n as usize)
        .map(|i| Distortion { l0: l0[i] as u64, l2: l2[i], linf: linf[i], snr_db: 20.0 * (xn[i] / l2[i]).log10() })
        .collect()
}

/// One attacked example.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ExampleResult {
    pub name: String,
    /// Dataset label, when known.
    pub true_label: Option<i64>,
    /// The model's label on the clean input.
    pub original: i64,
    /// The model's label on the adversarial input.
    pub adversarial: i64,
    pub target: Option<i64>,
    /// The label the attack moves away from (the true label, else the clean prediction).
    pub reference: i64,
    /// The goal is reached on the adversarial input.
    pub success: bool,
    /// Counted in the fooling rate: the clean input was classified as the reference label and
    /// (targeted) the target differs from it.
    pub counted: bool,
    #[serde(flatten)]
    pub distortion: Distortion,
    pub gradients: u64,
    pub forwards: u64,
    /// The model's softmax probability of its label on the adversarial input.
    pub confidence: f64,
    /// This example's share of its batch's wall time.
    pub seconds: f64,
    /// Waveform attacks: the perturbation against the clean clip's masking threshold (004).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masking: Option<psycho::MaskingStats>,
    /// When evaluated: the adversarial input in held-out simulated rooms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rooms: Option<room::RoomStats>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Summary {
    pub examples: usize,
    pub counted: usize,
    pub successes: usize,
    /// Successes among counted examples.
    pub fooling_rate: f64,
    /// Means over the counted examples.
    pub mean_l2: f64,
    pub mean_linf: f64,
    /// Mean over counted examples with a non-zero perturbation.
    pub mean_snr_db: f64,
    pub mean_gradients: f64,
    pub mean_forwards: f64,
    /// Mean confidence of the adversarial label over the counted successes.
    pub mean_confidence: f64,
    pub seconds: f64,
    /// Means over the counted successful examples that have them: fraction of frames and of
    /// bins where the perturbation is under the masking threshold, and of held-out rooms fooled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_frames_under: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_bins_under: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_rooms_fooled: Option<f64>,
}

pub fn summarize(results: &[ExampleResult]) -> Summary {
    let c: Vec<&ExampleResult> = results.iter().filter(|r| r.counted).collect();
    let m = |f: &dyn Fn(&ExampleResult) -> f64| c.iter().map(|r| f(r)).sum::<f64>() / c.len().max(1) as f64;
    let snr: Vec<f64> = c.iter().map(|r| r.distortion.snr_db).filter(|s| s.is_finite()).collect();
    let fooled: Vec<f64> = c.iter().filter(|r| r.success).map(|r| r.confidence).collect();
    let mean_of = |f: &dyn Fn(&ExampleResult) -> Option<f64>| {
        let v: Vec<f64> = c.iter().filter(|r| r.success).filter_map(|r| f(r)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    Summary {
        examples: results.len(),
        counted: c.len(),
        successes: c.iter().filter(|r| r.success).count(),
        fooling_rate: c.iter().filter(|r| r.success).count() as f64 / c.len().max(1) as f64,
        mean_l2: m(&|r| r.distortion.l2),
        mean_linf: m(&|r| r.distortion.linf),
        mean_snr_db: snr.iter().sum::<f64>() / snr.len().max(1) as f64,
        mean_gradients: m(&|r| r.gradients as f64),
        mean_forwards: m(&|r| r.forwards as f64),
        mean_confidence: fooled.iter().sum::<f64>() / fooled.len().max(1) as f64,
        seconds: results.iter().map(|r| r.seconds).sum(),
        mean_frames_under: mean_of(&|r| r.masking.map(|m| m.frames_under)),
        mean_bins_under: mean_of(&|r| r.masking.map(|m| m.bins_under)),
        mean_rooms_fooled: mean_of(&|r| r.rooms.map(|m| m.fooled)),
    }
}

/// Attacks one batch end to end: clean prediction, `attack`, adversarial prediction,
/// distortion. `names` and `true_labels` are per example; returns the adversarial batch and the
/// results.
pub fn attack_batch(
    target: &AttackTarget,
    x: &Tensor,
    true_labels: &[Option<i64>],
    names: &[String],
    box_spec: BoxSpec,
    attack: &Attack,
) -> Result<(Tensor, Vec<ExampleResult>)> {
    let goal = attack.goal();
    let start = std::time::Instant::now();
    let n = x.size()[0] as usize;
    let x = x.to_device(target.device).to_kind(Kind::Float);
    let clean_pred = Vec::<i64>::try_from(target.predict(&x))?;
    let reference: Vec<i64> = (0..n).map(|i| true_labels[i].unwrap_or(clean_pred[i])).collect();
    let ref_t = Tensor::from_slice(&reference).to_device(target.device);
    let bounds = Bounds::of(&x, box_spec, target.domain);
    let out = attack.run(target, &x, &ref_t, &bounds)?;
    let adv_logits = target.logits(&out.adversarial);
    let adv_pred_t = adv_logits.argmax(-1, false);
    let confidence = Vec::<f64>::try_from(
        adv_logits.softmax(-1, Kind::Double).gather(1, &adv_pred_t.unsqueeze(1), false).squeeze_dim(1),
    )?;
    let achieved = Vec::<bool>::try_from(goal.achieved(&adv_pred_t, &ref_t))?;
    let adv_pred = Vec::<i64>::try_from(adv_pred_t)?;
    let dist = distortion(&x, &out.adversarial);
    let seconds = start.elapsed().as_secs_f64() / n.max(1) as f64;
    let tgt = match goal {
        Goal::Targeted(t) => Some(t),
        Goal::Untargeted => None,
    };
    let results = (0..n)
        .map(|i| ExampleResult {
            name: names[i].clone(),
            true_label: true_labels[i],
            original: clean_pred[i],
            adversarial: adv_pred[i],
            target: tgt,
            reference: reference[i],
            success: achieved[i],
            counted: clean_pred[i] == reference[i] && tgt != Some(reference[i]),
            distortion: dist[i],
            // +1 clean and +1 adversarial prediction per example.
            gradients: out.gradients[i],
            forwards: out.forwards[i] + 2,
            confidence: confidence[i],
            seconds,
            masking: None,
            rooms: None,
        })
        .collect();
    Ok((out.adversarial, results))
}
