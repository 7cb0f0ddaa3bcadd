//! The certifier thread of a stream: each chosen window's waveform in, its online certificate
//! out (`smooth::online`), the record saying how the window's gain was set.

use super::live::InputSnapshot;
use super::stream::OnlineCertify;
use super::{CertifiedWindow, PipelineError};
use crate::model::Model;
use crate::smooth::{GainRecord, OnlineCertifier};
use crate::window::WindowPlan;

/// Certifies stream windows as isolated clips, under the stream's [`OnlineCertify`] settings.
pub(super) struct StreamCertifier<'m, 's> {
    certifier: OnlineCertifier<'m>,
    settings: &'s OnlineCertify,
    plan: WindowPlan,
    /// The stream's fixed gain `s₀` (windows of a live-gain stream carry their own).
    gain: f32,
}

impl<'m, 's> StreamCertifier<'m, 's> {
    /// Starts the certifier's workers.
    pub(super) fn new(model: &'m Model, settings: &'s OnlineCertify, plan: WindowPlan, gain: f32) -> Result<Self, PipelineError> {
        let certifier = OnlineCertifier::new(model, settings.contract, settings.params, settings.workers)?;
        Ok(StreamCertifier { certifier, settings, plan, gain })
    }

    /// The certificate of window `index` (waveform `wave`, labelled `label` by the model).
    pub(super) fn certify(&mut self, index: u64, label: usize, wave: &[f32], input: Option<InputSnapshot>) -> Result<CertifiedWindow, PipelineError> {
        let c = self.settings;
        let (policy, gain) = match input {
            Some(i) => (GainRecord::Live { input_policy: i.policy.name().to_string(), gain_db: i.gain_db as f64, steady: i.steady }, i.scale),
            None => (c.gain_policy.clone(), self.gain),
        };
        let certificate = self.certifier.certify(wave, index, policy, gain, &c.bound, c.budget)?;
        let start_s = self.plan.start_s(index);
        Ok(CertifiedWindow {
            index,
            start_s,
            end_s: start_s + self.plan.window_samples as f64 / self.plan.sample_rate as f64,
            label,
            certificate,
            input,
        })
    }
}
