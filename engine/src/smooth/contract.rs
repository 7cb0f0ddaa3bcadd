//! Contracts (003 §4): where the noise goes, what the radius is about, and the post-noise
//! transform T of Contract 3.

use super::SmoothError;
use crate::dsp::gain;
use std::fmt;
use std::str::FromStr;

/// The post-noise transform T of a post-processed waveform contract (003 §4, Contract 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transform {
    /// T = identity: the gain was fixed before the noise (Contract 1's transform).
    Fixed,
    /// T(x̃) = x̃ · RMS(x) / RMS(x̃): RMS normalization after the noise.
    Rms,
    /// T(x̃) = clip(x̃, −1, 1).
    Clip,
    /// T(x̃) = x̃ · ‖x‖∞ / ‖x̃‖∞: peak normalization after the noise (003's definition).
    Peak,
    /// T(x̃) = x̃ / ‖x̃‖∞: normalization to unit peak, as many pipelines do (not in 003's list;
    /// the diagnostics show it reproduces 003's Table 3 peak figures, see `soundproof diagnose`).
    #[serde(alias = "unitpeak")]
    UnitPeak,
}

impl Transform {
    pub fn name(self) -> &'static str {
        match self {
            Transform::Fixed => "fixed",
            Transform::Rms => "rms",
            Transform::Clip => "clip",
            Transform::Peak => "peak",
            Transform::UnitPeak => "unit-peak",
        }
    }

    /// Applies T to the noisy window `noisy` in place, given the clean window's RMS and peak.
    pub fn apply(self, noisy: &mut [f32], clean_rms: f32, clean_peak: f32) {
        match self {
            Transform::Fixed => {}
            Transform::Clip => noisy.iter_mut().for_each(|v| *v = v.clamp(-1.0, 1.0)),
            Transform::Rms => {
                let r = gain::rms(noisy);
                if r > 0.0 {
                    let s = clean_rms / r;
                    noisy.iter_mut().for_each(|v| *v *= s);
                }
            }
            Transform::Peak | Transform::UnitPeak => {
                let p = gain::peak(noisy);
                if p > 0.0 {
                    let s = if self == Transform::Peak { clean_peak / p } else { 1.0 / p };
                    noisy.iter_mut().for_each(|v| *v *= s);
                }
            }
        }
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the noise goes and what is certified (003 §4). In JSON, its name (`waveform`,
/// `feature`, `post:rms`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Contract {
    /// Contract 1: fixed gain, noise on the gain-normalized waveform window x, T = identity.
    /// Certifies the L2 ball of radius R around x in waveform space.
    Waveform,
    /// Contract 2: noise on the feature tensor z = ψ(x) (log-mel, in dB). Certifies a ball in
    /// feature space; never a statement about waveforms.
    Feature,
    /// Contract 3: noise on x, then T, then the front end. Certifies f∘T on the waveform ball.
    Post(Transform),
}

impl Contract {
    pub fn is_waveform(self) -> bool {
        !matches!(self, Contract::Feature)
    }
    pub fn transform(self) -> Transform {
        match self {
            Contract::Post(t) => t,
            _ => Transform::Fixed,
        }
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contract::Waveform => write!(f, "waveform"),
            Contract::Feature => write!(f, "feature"),
            Contract::Post(t) => write!(f, "post:{}", t.name()),
        }
    }
}

impl FromStr for Contract {
    type Err = SmoothError;
    fn from_str(s: &str) -> Result<Self, SmoothError> {
        Ok(match s {
            "waveform" => Contract::Waveform,
            "feature" => Contract::Feature,
            "post:fixed" => Contract::Post(Transform::Fixed),
            "post:rms" => Contract::Post(Transform::Rms),
            "post:clip" => Contract::Post(Transform::Clip),
            "post:peak" => Contract::Post(Transform::Peak),
            "post:unit-peak" => Contract::Post(Transform::UnitPeak),
            _ => {
                return Err(SmoothError::Config(format!(
                    "unknown contract `{s}`: use waveform, feature, post:fixed, post:rms, post:clip, post:peak or post:unit-peak"
                )))
            }
        })
    }
}

impl From<Contract> for String {
    fn from(c: Contract) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for Contract {
    type Error = SmoothError;
    fn try_from(s: String) -> Result<Self, SmoothError> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::gain;

    #[test]
    fn contracts_parse_and_print() {
        for s in ["waveform", "feature", "post:fixed", "post:rms", "post:clip", "post:peak", "post:unit-peak"] {
            let c = s.parse::<Contract>().unwrap();
            assert_eq!(c.to_string(), s);
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<Contract>(&format!("\"{s}\"")).unwrap(), c);
        }
        assert!("post:loud".parse::<Contract>().is_err());
        assert!(serde_json::from_str::<Contract>("\"post:loud\"").is_err());
        // Transforms in JSON are their names; files from before kebab-case are still read.
        assert_eq!(serde_json::to_string(&Transform::UnitPeak).unwrap(), "\"unit-peak\"");
        assert_eq!(serde_json::from_str::<Transform>("\"unitpeak\"").unwrap(), Transform::UnitPeak);
    }

    #[test]
    fn transforms_follow_their_definitions() {
        let mut v = vec![0.5f32, -2.0, 1.5];
        Transform::Clip.apply(&mut v, 0.0, 0.0);
        assert_eq!(v, vec![0.5, -1.0, 1.0]);
        let mut v = vec![2.0f32, -2.0];
        Transform::Rms.apply(&mut v, 1.0, 0.0);
        assert!((gain::rms(&v) - 1.0).abs() < 1e-6);
        let mut v = vec![4.0f32, -1.0];
        Transform::Peak.apply(&mut v, 0.0, 0.5);
        assert_eq!(v, vec![0.5, -0.125]);
    }
}
