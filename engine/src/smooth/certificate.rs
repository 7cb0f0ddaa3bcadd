//! The record of a certification (003's reporting contract (ρ, P, T, m)): what was certified,
//! where the noise went, how the gain was chosen, the post-noise transform, σ, n0, n, α, nA,
//! pA_lower, the radius, SNR_cert, the seed, and how pA_lower was bounded.
//!
//! The contract, transform, gain policy and bound are typed; each prints as prose
//! (`Display`) and is written to JSON as a name (`"waveform"`, `"post:rms"`, `"unit-peak"`) or a
//! small tagged object (`{"policy": "clip-rms"}`, `{"method": "clopper-pearson", ...}`).
//! Certificates written before these were typed held prose strings: they are still read, the
//! prose kept as it was (`GainRecord::Text`, `BoundRecord::Text`).

use super::{Contract, Transform};
use crate::window::ClipGain;
use std::fmt;

/// How the certified window's gain `s` was chosen.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub enum GainRecord {
    /// `s = target_rms / RMS(clean clip padded to one window)`, fixed before the noise.
    ClipRms,
    /// The card's streaming calibration constant.
    Calibration,
    /// A scalar the user gave.
    Fixed,
    /// A live stream's input gain when the window completed (`pipeline::LiveGain`): its policy,
    /// the gain in dB, and whether it was steady over the window.
    Live { input_policy: String, gain_db: f64, steady: bool },
    /// A record from before the gain policy was typed: its prose, as written.
    #[serde(untagged)]
    Text(String),
}

impl From<ClipGain> for GainRecord {
    fn from(g: ClipGain) -> Self {
        match g {
            ClipGain::ClipRms => GainRecord::ClipRms,
            ClipGain::Calibration => GainRecord::Calibration,
            ClipGain::Fixed(_) => GainRecord::Fixed,
        }
    }
}

impl fmt::Display for GainRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GainRecord::ClipRms => f.write_str(ClipGain::ClipRms.describe()),
            GainRecord::Calibration => f.write_str(ClipGain::Calibration.describe()),
            GainRecord::Fixed => f.write_str(ClipGain::Fixed(1.0).describe()),
            GainRecord::Live { input_policy, gain_db, steady } => {
                write!(f, "live {input_policy} (input gain {gain_db:+.1} dB{})", if *steady { "" } else { ", changing" })
            }
            GainRecord::Text(t) => f.write_str(t),
        }
    }
}

/// How pA_lower was bounded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum BoundRecord {
    /// Fixed-n CERTIFY: the one-sided Clopper-Pearson lower bound at level α over n samples.
    ClopperPearson { alpha: f64, n: u64 },
    /// Online CERTIFY with n fixed before sampling from the measured throughput (`rate` noisy
    /// copies/s on `workers` workers × the budget left (`None`: no time limit) × `margin`),
    /// bounded at the full α.
    Planned { n: u64, rate: f64, workers: usize, budget_left_ms: Option<f64>, margin: f64, alpha: f64 },
    /// Online CERTIFY over a Bonferroni look schedule: Clopper-Pearson at `alpha_per_look` at
    /// each look; `completed` looks finished in the budget, the best at `best_n` samples.
    Looks { looks: Vec<u64>, alpha_per_look: f64, completed: usize, best_n: u64 },
    /// A record from before the bound was typed: its prose, as written.
    #[serde(untagged)]
    Text(String),
}

impl fmt::Display for BoundRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoundRecord::ClopperPearson { alpha, n } => {
                write!(f, "one-sided Clopper-Pearson lower bound at level α = {alpha}, n = {n}")
            }
            BoundRecord::Planned { n, rate, workers, budget_left_ms, margin, alpha } => write!(
                f,
                "online, planned n: n = {n} fixed before sampling from the measured throughput ({rate:.0} copies/s on {workers} worker(s) × {:.0} ms left × margin {margin}); one-sided Clopper-Pearson at the full α = {alpha}",
                budget_left_ms.unwrap_or(f64::INFINITY)
            ),
            BoundRecord::Looks { looks, alpha_per_look, completed, best_n } => write!(
                f,
                "online: Bonferroni look schedule {looks:?}, one-sided Clopper-Pearson at α/{} = {alpha_per_look:.3e} per look; {completed} of {} looks completed in the budget; best look n = {best_n}",
                looks.len(),
                looks.len()
            ),
            BoundRecord::Text(t) => f.write_str(t),
        }
    }
}

/// The record every certification emits (003's reporting contract (ρ, P, T, m)).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Certificate {
    /// `waveform`, `feature`, `post:rms`, ...
    pub contract: Contract,
    /// What the radius is about, in words.
    pub certified_object: String,
    /// Where the noise was added.
    pub perturbation: String,
    /// How the gain s was chosen (`clip-rms`, `calibration`, `fixed`, `live`); its value is `gain`.
    pub gain_policy: GainRecord,
    pub gain: f32,
    /// Post-noise transform T (`fixed` = identity).
    pub transform: Transform,
    pub sigma: f64,
    pub n0: u64,
    pub n: u64,
    pub alpha: f64,
    pub seed: u64,
    pub key: u64,
    /// The smoothed prediction, or `None` for abstain.
    pub prediction: Option<usize>,
    pub label: Option<String>,
    /// The selection phase's candidate (reported even on abstain).
    pub candidate: usize,
    pub n_a: u64,
    pub p_a_lower: f64,
    /// σ Φ⁻¹(pA_lower), 0 on abstain; L2, in the units of the perturbed space.
    pub radius: f64,
    /// ‖x‖₂ of the certified object (waveform window or feature tensor).
    pub x_norm: f64,
    /// 20 log10(‖x‖₂ / R) for waveform contracts with R > 0.
    pub snr_cert_db: Option<f64>,
    /// Post-processed contracts: D_geom and the effective norm ratio ‖Δ‖₂/‖ε‖₂ (003 Eq. 7-9),
    /// over the estimation samples.
    pub d_geom: Option<f64>,
    pub effective_ratio: Option<f64>,
    /// The base classifier on the clean input.
    pub clean_prediction: usize,
    /// How pA_lower was bounded: fixed-n Clopper-Pearson, or online (planned n, look schedule).
    pub bound: BoundRecord,
    /// Estimation samples the bound used (= n for fixed-n CERTIFY).
    pub samples: u64,
    pub seconds: f64,
}

impl Certificate {
    pub fn abstained(&self) -> bool {
        self.prediction.is_none()
    }
}

/// The outcome of PREDICT.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prediction {
    pub prediction: Option<usize>,
    pub n_a: u64,
    pub n_b: u64,
    pub p_value: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_old_prose_is_still_read() {
        for g in [
            GainRecord::ClipRms,
            GainRecord::Fixed,
            GainRecord::Live { input_policy: "rms".into(), gain_db: -6.0, steady: true },
        ] {
            let j = serde_json::to_string(&g).unwrap();
            assert_eq!(serde_json::from_str::<GainRecord>(&j).unwrap(), g, "{j}");
        }
        assert_eq!(serde_json::to_string(&GainRecord::ClipRms).unwrap(), r#"{"policy":"clip-rms"}"#);
        let old = "clip-rms (s = target_rms / RMS(clean clip), fixed before the noise)";
        let g: GainRecord = serde_json::from_str(&serde_json::to_string(old).unwrap()).unwrap();
        assert_eq!(g, GainRecord::Text(old.into()));
        assert_eq!(g.to_string(), GainRecord::ClipRms.to_string());
        let b = BoundRecord::ClopperPearson { alpha: 0.001, n: 10_000 };
        let j = serde_json::to_string(&b).unwrap();
        assert_eq!(j, r#"{"method":"clopper-pearson","alpha":0.001,"n":10000}"#);
        assert_eq!(serde_json::from_str::<BoundRecord>(&j).unwrap(), b);
        assert_eq!(b.to_string(), "one-sided Clopper-Pearson lower bound at level α = 0.001, n = 10000");
        let old: BoundRecord = serde_json::from_str(r#""one-sided Clopper-Pearson lower bound at level α = 0.001, n = 10000""#).unwrap();
        assert_eq!(old.to_string(), b.to_string());
    }
}
