//! From windows to decisions: a clip's decision by majority vote and the sum rule (002 §III),
//! and a stream's words by segmenting its non-silent windows.

use super::WindowResult;
use crate::stats::argmax;

/// Clip-level decision from the per-window trail (002: majority vote and sum rule).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClipDecision {
    pub windows: usize,
    pub majority: usize,
    pub majority_label: String,
    pub majority_votes: usize,
    pub sum_rule: usize,
    pub sum_rule_label: String,
    pub mean_probabilities: Vec<f32>,
}

/// Majority vote (ties to the larger summed posterior) and sum rule over windows.
pub fn aggregate(windows: &[WindowResult], labels: &[String]) -> Option<ClipDecision> {
    if windows.is_empty() {
        return None;
    }
    let c = labels.len();
    let mut votes = vec![0usize; c];
    let mut sum = vec![0.0f32; c];
    for w in windows {
        votes[w.label] += 1;
        for (s, p) in sum.iter_mut().zip(&w.probabilities) {
            *s += p;
        }
    }
    let sum_rule = argmax(&sum);
    let top = *votes.iter().max().unwrap_or(&0);
    let majority = (0..c).filter(|&k| votes[k] == top).max_by(|&a, &b| sum[a].total_cmp(&sum[b])).unwrap_or(sum_rule);
    let n = windows.len() as f32;
    Some(ClipDecision {
        windows: windows.len(),
        majority,
        majority_label: labels[majority].clone(),
        majority_votes: top,
        sum_rule,
        sum_rule_label: labels[sum_rule].clone(),
        mean_probabilities: sum.iter().map(|s| s / n).collect(),
    })
}

/// One segment the [`Segmenter`] closed: where it started, its label by the sum rule and the
/// mean probability of that label over the segment's windows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Segment {
    pub start_s: f64,
    pub label: String,
    pub mean_probability: f32,
}

/// Groups consecutive non-silent windows of a stream into segments (a window is silent when
/// its level is under `gate_db`) and labels each by the sum rule: the words of a stream.
pub struct Segmenter {
    gate_db: f32,
    sum: Vec<f32>,
    n: usize,
    start_s: f64,
    /// The segments closed so far, in order.
    pub heard: Vec<Segment>,
    labels: Vec<String>,
}

impl Segmenter {
    pub fn new(labels: &[String], gate_db: f32) -> Self {
        Segmenter { gate_db, sum: vec![0.0; labels.len()], n: 0, start_s: 0.0, heard: Vec::new(), labels: labels.to_vec() }
    }

    /// Feeds a window; returns the segment it closed, if any.
    pub fn push(&mut self, w: &WindowResult) -> Option<Segment> {
        let voiced = w.level_db.is_none_or(|l| l >= self.gate_db);
        if voiced {
            if self.n == 0 {
                self.start_s = w.start_s;
            }
            for (s, p) in self.sum.iter_mut().zip(&w.probabilities) {
                *s += p;
            }
            self.n += 1;
            None
        } else {
            self.close()
        }
    }

    /// Closes the open segment (the end of the stream), if any.
    pub fn close(&mut self) -> Option<Segment> {
        if self.n == 0 {
            return None;
        }
        let k = argmax(&self.sum);
        let seg = Segment { start_s: self.start_s, label: self.labels[k].clone(), mean_probability: self.sum[k] / self.n as f32 };
        self.sum.iter_mut().for_each(|s| *s = 0.0);
        self.n = 0;
        self.heard.push(seg.clone());
        Some(seg)
    }
}
