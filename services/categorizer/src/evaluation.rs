//! Quality figures of a classifier on labelled data: accuracy, macro-F1, per-class F1,
//! expected calibration error, and what happens above the review threshold.

use std::fmt::Write as _;

/// One prediction next to the truth.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub truth: String,
    pub predicted: String,
    pub confidence: f32,
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClassReport {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Everything `eval` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub examples: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub classes: Vec<ClassReport>,
    /// Expected calibration error over 15 equal-width confidence bins.
    pub ece: f64,
    pub review_threshold: f32,
    /// Share of tickets at or above the review threshold (decided without a person).
    pub coverage: f64,
    /// Accuracy among those.
    pub accuracy_above_threshold: f64,
    /// For c in 0.5, 0.6, ..., 0.9: (c, share of tickets with confidence >= c, accuracy among them).
    pub reliability: Vec<(f32, f64, f64)>,
}

impl Report {
    pub fn new(outcomes: &[Outcome], review_threshold: f32) -> Report {
        let n = outcomes.len().max(1) as f64;
        let right = |o: &Outcome| o.truth == o.predicted;
        let accuracy = outcomes.iter().filter(|o| right(o)).count() as f64 / n;

        let mut labels: Vec<&str> = outcomes.iter().map(|o| o.truth.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        let classes: Vec<ClassReport> = labels
            .iter()
            .map(|&label| {
                let tp = outcomes
                    .iter()
                    .filter(|o| o.truth == label && o.predicted == label)
                    .count() as f64;
                let predicted = outcomes.iter().filter(|o| o.predicted == label).count() as f64;
                let support = outcomes.iter().filter(|o| o.truth == label).count();
                let precision = if predicted > 0.0 { tp / predicted } else { 0.0 };
                let recall = if support > 0 {
                    tp / support as f64
                } else {
                    0.0
                };
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassReport {
                    label: label.to_owned(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let macro_f1 = classes.iter().map(|c| c.f1).sum::<f64>() / classes.len().max(1) as f64;

        const BINS: usize = 15;
        let mut ece = 0.0;
        for b in 0..BINS {
            let (lo, hi) = (b as f32 / BINS as f32, (b + 1) as f32 / BINS as f32);
            let bin: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| {
                    o.confidence > lo && o.confidence <= hi || (b == 0 && o.confidence == 0.0)
                })
                .collect();
            if bin.is_empty() {
                continue;
            }
            let acc = bin.iter().filter(|o| right(o)).count() as f64 / bin.len() as f64;
            let conf = bin.iter().map(|o| f64::from(o.confidence)).sum::<f64>() / bin.len() as f64;
            ece += (bin.len() as f64 / n) * (acc - conf).abs();
        }

        let above = |c: f32| -> (f64, f64) {
            let kept: Vec<&Outcome> = outcomes.iter().filter(|o| o.confidence >= c).collect();
            let share = kept.len() as f64 / n;
            let acc = if kept.is_empty() {
                0.0
            } else {
                kept.iter().filter(|o| right(o)).count() as f64 / kept.len() as f64
            };
            (share, acc)
        };
        let (coverage, accuracy_above_threshold) = above(review_threshold);
        let reliability = [0.5f32, 0.6, 0.7, 0.8, 0.9]
            .into_iter()
            .map(|c| {
                let (share, acc) = above(c);
                (c, share, acc)
            })
            .collect();
        Report {
            examples: outcomes.len(),
            accuracy,
            macro_f1,
            classes,
            ece,
            review_threshold,
            coverage,
            accuracy_above_threshold,
            reliability,
        }
    }

    /// The report as a human reads it.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "examples           {}", self.examples);
        let _ = writeln!(s, "accuracy           {:.4}", self.accuracy);
        let _ = writeln!(s, "macro-F1           {:.4}", self.macro_f1);
        let _ = writeln!(s, "calibration (ECE)  {:.4}", self.ece);
        let _ = writeln!(
            s,
            "review threshold   {:.2}: coverage {:.4}, accuracy above it {:.4}",
            self.review_threshold, self.coverage, self.accuracy_above_threshold
        );
        let _ = writeln!(s, "\nconfidence >= c    share    accuracy");
        for (c, share, acc) in &self.reliability {
            let _ = writeln!(s, "  {c:.1}              {share:.4}   {acc:.4}");
        }
        let _ = writeln!(
            s,
            "\n{:<28} {:>9} {:>9} {:>9} {:>8}",
            "class", "precision", "recall", "F1", "support"
        );
        for c in &self.classes {
            let _ = writeln!(
                s,
                "{:<28} {:>9.4} {:>9.4} {:>9.4} {:>8}",
                c.label, c.precision, c.recall, c.f1, c.support
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(truth: &str, predicted: &str, confidence: f32) -> Outcome {
        Outcome {
            truth: truth.into(),
            predicted: predicted.into(),
            confidence,
        }
    }

    #[test]
    fn figures_match_a_hand_computed_case() {
        let outcomes = [
            o("a", "a", 0.9),
            o("a", "b", 0.6),
            o("b", "b", 0.8),
            o("b", "b", 0.3),
        ];
        let r = Report::new(&outcomes, 0.5);
        assert!((r.accuracy - 0.75).abs() < 1e-9);
        // a: P=1, R=0.5, F1=2/3; b: P=2/3, R=1, F1=0.8
        assert!((r.macro_f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-9);
        assert!((r.coverage - 0.75).abs() < 1e-9);
        assert!((r.accuracy_above_threshold - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_perfectly_calibrated_model_has_no_calibration_error() {
        let mut outcomes = Vec::new();
        for i in 0..10 {
            outcomes.push(o("a", if i < 8 { "a" } else { "b" }, 0.8));
        }
        assert!(Report::new(&outcomes, 0.5).ece < 1e-6);
    }
}
