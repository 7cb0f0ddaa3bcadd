//! Scoring a classifier against ground truth: the confusion matrix, accuracy and per-class
//! recall, and their text table (what `soundproof classify` and `soundproof-tools eval` print).

/// `counts[true][predicted]` over the scored examples.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Confusion {
    pub labels: Vec<String>,
    pub counts: Vec<Vec<usize>>,
}

impl Confusion {
    pub fn new(labels: &[String]) -> Self {
        let k = labels.len();
        Confusion { labels: labels.to_vec(), counts: vec![vec![0; k]; k] }
    }

    /// Counts one example of class `truth` predicted as `predicted`.
    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.counts[truth][predicted] += 1;
    }

    pub fn scored(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    pub fn correct(&self) -> usize {
        (0..self.counts.len()).map(|k| self.counts[k][k]).sum()
    }

    /// Correct over scored (`None` before any example).
    pub fn accuracy(&self) -> Option<f64> {
        let n = self.scored();
        (n > 0).then(|| self.correct() as f64 / n as f64)
    }

    /// Examples of class `k`.
    pub fn support(&self, k: usize) -> usize {
        self.counts[k].iter().sum()
    }

    /// Recall of class `k` (`None` when it has no example).
    pub fn recall(&self, k: usize) -> Option<f64> {
        let n = self.support(k);
        (n > 0).then(|| self.counts[k][k] as f64 / n as f64)
    }

    /// The matrix with a recall column, aligned, one row per true class.
    pub fn text(&self) -> String {
        let w = self.labels.iter().map(|l| l.chars().count()).max().unwrap_or(4).max(5);
        let corner = "true \\ pred";
        let first = w.max(corner.len());
        let mut s = format!("{corner:>first$} |");
        for l in &self.labels {
            s += &format!(" {l:>w$}");
        }
        s += "  | recall\n";
        for (k, row) in self.counts.iter().enumerate() {
            s += &format!("{:>first$} |", self.labels[k]);
            for n in row {
                s += &format!(" {n:>w$}");
            }
            s += &match self.recall(k) {
                Some(r) => format!("  | {:6.2}%\n", 100.0 * r),
                None => "  |      -\n".to_string(),
            };
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_recall_from_the_counts() {
        let mut c = Confusion::new(&["a".into(), "b".into(), "c".into()]);
        for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1)] {
            c.add(t, p);
        }
        assert_eq!((c.scored(), c.correct()), (4, 3));
        assert_eq!(c.accuracy(), Some(0.75));
        assert_eq!((c.recall(0), c.recall(1), c.recall(2)), (Some(2.0 / 3.0), Some(1.0), None));
        let t = c.text();
        assert!(t.lines().count() == 4 && t.contains("66.67%") && t.contains("100.00%") && t.contains("  |      -"), "{t}");
        // Every row lines up with the header.
        let bars: Vec<usize> = t.lines().map(|l| l.find('|').unwrap()).collect();
        assert!(bars.iter().all(|&b| b == bars[0]), "{t}");
    }
}
