//! The learned classifier over the sentence embedding and hashed word n-grams: a linear head
//! on both, plus a hidden layer (ReLU) on the embedding, trained together with candle-nn
//! (AdamW, cross-entropy), then calibrated by temperature scaling on held-out examples so that
//! its confidence means what it says.
//!
//! Training uses candle; prediction is some hundred thousand multiply-adds in plain Rust.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::features::NgramHasher;
use crate::ModelError;

mod hidden;
use hidden::{HiddenLayer, HiddenVars};

/// One labelled example, already embedded.
#[derive(Debug, Clone)]
pub struct Example {
    pub embedding: Vec<f32>,
    /// Sparse n-gram features of the text (see [`NgramHasher::features`]).
    pub features: Vec<(u32, f32)>,
    /// Index into the classifier's labels.
    pub label: usize,
}

/// How to train.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    /// Scale of the embedding relative to the n-gram features (both unit length).
    pub embedding_weight: f32,
    /// Scale of the n-gram features. A bucket's weight moves by about the learning rate at
    /// each step that sees it, and most buckets are seen in few steps: scaled up, rare words
    /// can weigh what they should within a few epochs.
    pub ngram_weight: f32,
    /// Weight of the similarity to each class's mean embedding (its prototype), added to the
    /// linear logits. Prototypes carry what few examples say about a class better than a
    /// linear head fitted to them.
    pub prototype_weight: f32,
    /// Units of the hidden layer over the embedding (0: the embedding is read linearly only).
    /// The linear head separates what the words separate; the hidden layer learns meanings
    /// that no single direction of the embedding carries.
    pub hidden: usize,
    /// Examples from which the hidden layer and the n-gram scale are used. With fewer, the
    /// model fits every example with confidence it has not earned and too few are left to
    /// calibrate it (measured with 10 examples a class: calibration error 0.09 plain, 0.32
    /// with them), so a small training set gets the plain linear head.
    pub rich_from: usize,
    /// Fraction of examples held out to fit the temperature (when there are enough).
    pub calibration_fraction: f64,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 8,
            learning_rate: 0.02,
            weight_decay: 1e-4,
            batch_size: 512,
            embedding_weight: 2.0,
            ngram_weight: 4.0,
            prototype_weight: 10.0,
            hidden: 256,
            rich_from: 1000,
            calibration_fraction: 0.1,
            seed: 7,
        }
    }
}

impl TrainOptions {
    /// These options for a training set of `count` examples: below `rich_from`, the plain
    /// linear head (no hidden layer, n-grams unscaled).
    fn for_examples(&self, count: usize) -> TrainOptions {
        if count < self.rich_from {
            TrainOptions {
                hidden: 0,
                ngram_weight: 1.0,
                ..self.clone()
            }
        } else {
            self.clone()
        }
    }
}

/// A class with its calibrated probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub label: usize,
    pub probability: f32,
}

/// A trained linear classifier.
#[derive(Debug, Clone)]
pub struct LinearClassifier {
    classes: usize,
    dim: usize,
    hasher: NgramHasher,
    embedding_weight: f32,
    ngram_weight: f32,
    /// (dim x classes), row-major.
    w_embedding: Vec<f32>,
    /// (buckets x classes), row-major.
    w_ngrams: Vec<f32>,
    bias: Vec<f32>,
    /// Absent when trained without one.
    hidden: Option<HiddenLayer>,
    /// Unit-length mean embedding of each class (zero for a class without examples).
    prototypes: Vec<Vec<f32>>,
    prototype_weight: f32,
    /// Logits are divided by this before the softmax.
    temperature: f32,
}

impl LinearClassifier {
    /// Trains on `examples` with `classes` labels. With enough examples, a held-out part
    /// (not trained on) fits the temperature; otherwise the temperature stays 1.
    pub fn train(
        classes: usize,
        dim: usize,
        hasher: NgramHasher,
        examples: &[Example],
        options: &TrainOptions,
    ) -> Result<Self, ModelError> {
        if examples.is_empty() || classes == 0 {
            return Err(ModelError::NoExamples);
        }
        let options = &options.for_examples(examples.len());
        let mut order: Vec<usize> = (0..examples.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(options.seed));
        let held_out = ((examples.len() as f64) * options.calibration_fraction) as usize;
        if held_out < 30 {
            return fit(classes, dim, hasher, examples, options, 1.0);
        }
        let (calibration, training) = order.split_at(held_out);
        let training: Vec<Example> = training.iter().map(|&i| examples[i].clone()).collect();
        let mut model = fit(classes, dim, hasher, &training, options, 1.0)?;
        let calibration: Vec<&Example> = calibration.iter().map(|&i| &examples[i]).collect();
        model.temperature = model.fit_temperature(&calibration);
        Ok(model)
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    pub fn hasher(&self) -> &NgramHasher {
        &self.hasher
    }

    fn logits(&self, embedding: &[f32], features: &[(u32, f32)]) -> Vec<f32> {
        let c = self.classes;
        let mut logits = self.bias.clone();
        if let Some(hidden) = self.hidden.as_ref().filter(|_| embedding.len() >= self.dim) {
            let scaled = embedding
                .iter()
                .take(self.dim)
                .map(|x| x * self.embedding_weight);
            hidden.add_logits(scaled, &mut logits);
        }
        for (l, p) in logits.iter_mut().zip(&self.prototypes) {
            *l += self.prototype_weight * p.iter().zip(embedding).map(|(a, b)| a * b).sum::<f32>();
        }
        for (k, x) in embedding.iter().enumerate().take(self.dim) {
            let x = x * self.embedding_weight;
            let row = &self.w_embedding[k * c..(k + 1) * c];
            for (l, w) in logits.iter_mut().zip(row) {
                *l += x * w;
            }
        }
        for (bucket, v) in features {
            let row = &self.w_ngrams[*bucket as usize * c..(*bucket as usize + 1) * c];
            let v = v * self.ngram_weight;
            for (l, w) in logits.iter_mut().zip(row) {
                *l += v * w;
            }
        }
        logits
    }

    fn probabilities(&self, logits: &[f32], temperature: f32) -> Vec<f32> {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = logits
            .iter()
            .map(|l| ((l - max) / temperature).exp())
            .collect();
        let sum: f32 = exp.iter().sum();
        exp.into_iter().map(|e| e / sum).collect()
    }

    /// Every class with its calibrated probability, most likely first.
    pub fn predict(&self, embedding: &[f32], features: &[(u32, f32)]) -> Vec<Scored> {
        let logits = self.logits(embedding, features);
        let mut scored: Vec<Scored> = self
            .probabilities(&logits, self.temperature)
            .into_iter()
            .enumerate()
            .map(|(label, probability)| Scored { label, probability })
            .collect();
        scored.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        scored
    }

    /// The temperature minimising the negative log-likelihood of `held_out`.
    fn fit_temperature(&self, held_out: &[&Example]) -> f32 {
        let logits: Vec<(Vec<f32>, usize)> = held_out
            .iter()
            .map(|e| (self.logits(&e.embedding, &e.features), e.label))
            .collect();
        let nll = |t: f32| -> f32 {
            logits
                .iter()
                .map(|(l, y)| -self.probabilities(l, t)[*y].max(1e-9).ln())
                .sum()
        };
        // Golden-section search on log(t) over [0.05, 20]: NLL is unimodal in t.
        let (mut lo, mut hi) = (0.05f32.ln(), 20f32.ln());
        let phi = 0.618_034f32;
        for _ in 0..40 {
            let a = hi - phi * (hi - lo);
            let b = lo + phi * (hi - lo);
            if nll(a.exp()) < nll(b.exp()) {
                hi = b;
            } else {
                lo = a;
            }
        }
        ((lo + hi) / 2.0).exp()
    }
}

/// One training run with candle-nn.
fn fit(
    classes: usize,
    dim: usize,
    hasher: NgramHasher,
    examples: &[Example],
    options: &TrainOptions,
    temperature: f32,
) -> Result<LinearClassifier, ModelError> {
    let device = Device::Cpu;
    let buckets = hasher.buckets() as usize;
    let mut rng = StdRng::seed_from_u64(options.seed ^ 0x5eed);
    let w_embedding = Var::zeros((dim, classes), DType::F32, &device)?;
    let w_ngrams = Var::zeros((buckets, classes), DType::F32, &device)?;
    let bias = Var::zeros(classes, DType::F32, &device)?;
    let hidden = (options.hidden > 0)
        .then(|| HiddenVars::new(dim, options.hidden, classes, &mut rng, &device))
        .transpose()?;
    let mut params = vec![w_embedding.clone(), w_ngrams.clone(), bias.clone()];
    params.extend(hidden.iter().flat_map(HiddenVars::vars));
    let mut optimizer = AdamW::new(
        params,
        ParamsAdamW {
            lr: options.learning_rate,
            weight_decay: options.weight_decay,
            ..Default::default()
        },
    )?;
    let mut order: Vec<usize> = (0..examples.len()).collect();
    for _ in 0..options.epochs {
        order.shuffle(&mut rng);
        for batch in order.chunks(options.batch_size.max(1)) {
            let n = batch.len();
            // The n-gram part as a segment sum: gather the weight rows of every feature of the
            // batch (no padding), scale them, and add each into its example's row.
            let mut emb = Vec::with_capacity(n * dim);
            let mut idx = Vec::new();
            let mut val = Vec::new();
            let mut owner = Vec::new();
            let mut targets = Vec::with_capacity(n);
            for (row, &i) in batch.iter().enumerate() {
                let e = &examples[i];
                emb.extend(e.embedding.iter().map(|x| x * options.embedding_weight));
                for (b, v) in &e.features {
                    idx.push(*b);
                    val.push(*v * options.ngram_weight);
                    owner.push(row as u32);
                }
                targets.push(e.label as u32);
            }
            let features = idx.len();
            let emb = Tensor::from_vec(emb, (n, dim), &device)?;
            let idx = Tensor::from_vec(idx, features, &device)?;
            let val = Tensor::from_vec(val, (features, 1), &device)?;
            let owner = Tensor::from_vec(owner, features, &device)?;
            let targets = Tensor::from_vec(targets, n, &device)?;
            let weighted = w_ngrams
                .as_tensor()
                .index_select(&idx, 0)?
                .broadcast_mul(&val)?;
            let lexical = Tensor::zeros((n, classes), DType::F32, &device)?
                .index_add(&owner, &weighted, 0)?;
            let mut logits = emb
                .matmul(w_embedding.as_tensor())?
                .add(&lexical)?
                .broadcast_add(bias.as_tensor())?;
            if let Some(hidden) = &hidden {
                logits = logits.add(&hidden.logits(&emb)?)?;
            }
            let loss = candle_nn::loss::cross_entropy(&logits, &targets)?;
            optimizer.backward_step(&loss)?;
        }
    }
    let mut prototypes = vec![vec![0f32; dim]; classes];
    for e in examples {
        for (p, x) in prototypes[e.label].iter_mut().zip(&e.embedding) {
            *p += x;
        }
    }
    for p in &mut prototypes {
        let norm = p.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            p.iter_mut().for_each(|x| *x /= norm);
        }
    }
    Ok(LinearClassifier {
        prototypes,
        prototype_weight: options.prototype_weight,
        classes,
        dim,
        hasher,
        embedding_weight: options.embedding_weight,
        ngram_weight: options.ngram_weight,
        w_embedding: w_embedding.as_tensor().flatten_all()?.to_vec1()?,
        w_ngrams: w_ngrams.as_tensor().flatten_all()?.to_vec1()?,
        bias: bias.as_tensor().to_vec1()?,
        hidden: hidden.map(HiddenVars::into_layer).transpose()?,
        temperature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn example(hasher: &NgramHasher, text: &str, embedding: [f32; 2], label: usize) -> Example {
        Example {
            embedding: embedding.to_vec(),
            features: hasher.features(text),
            label,
        }
    }

    #[test]
    fn it_learns_separable_words_and_directions() {
        let hasher = NgramHasher::new(1024);
        let mut examples = Vec::new();
        for i in 0..40 {
            examples.push(example(&hasher, &format!("printer jam {i}"), [1.0, 0.0], 0));
            examples.push(example(&hasher, &format!("router wifi {i}"), [0.0, 1.0], 1));
        }
        let options = TrainOptions {
            epochs: 30,
            ..Default::default()
        };
        let model = LinearClassifier::train(2, 2, hasher, &examples, &options).expect("trained");
        let by_words = model.predict(&[0.7, 0.7], &hasher.features("the printer has a jam"));
        assert_eq!(by_words[0].label, 0);
        let by_meaning = model.predict(&[0.0, 1.0], &hasher.features("something else entirely"));
        assert_eq!(by_meaning[0].label, 1);
        let total: f32 = by_words.iter().map(|s| s.probability).sum();
        assert!((total - 1.0).abs() < 1e-5);
    }

    #[test]
    fn the_hidden_layer_learns_what_no_direction_separates() {
        // Class 1 where the two coordinates agree in sign, class 0 where they differ (XOR):
        // no linear head does better than chance, one hidden layer does.
        let hasher = NgramHasher::new(64);
        let mut rng = StdRng::seed_from_u64(3);
        let examples: Vec<Example> = (0..2000)
            .map(|_| {
                let (x, y): (f32, f32) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
                Example {
                    embedding: vec![x, y],
                    features: Vec::new(),
                    label: usize::from(x * y > 0.0),
                }
            })
            .collect();
        let accuracy = |options: &TrainOptions| {
            let model = LinearClassifier::train(2, 2, hasher, &examples, options).expect("trained");
            let cases = [
                ([0.6, 0.5], 1),
                ([-0.5, -0.7], 1),
                ([0.6, -0.6], 0),
                ([-0.5, 0.6], 0),
            ];
            cases
                .iter()
                .filter(|(e, label)| model.predict(e, &[])[0].label == *label)
                .count()
        };
        let rich = TrainOptions {
            epochs: 60,
            prototype_weight: 0.0,
            ..Default::default()
        };
        assert_eq!(accuracy(&rich), 4);
        let plain = TrainOptions {
            hidden: 0,
            ..rich.clone()
        };
        assert!(accuracy(&plain) < 4);
        // Too few examples for the hidden layer: the plain head is used.
        let few = TrainOptions {
            rich_from: 10_000,
            ..rich
        };
        assert!(accuracy(&few) < 4);
    }

    #[test]
    fn training_without_examples_is_an_error() {
        let r = LinearClassifier::train(2, 2, NgramHasher::new(8), &[], &TrainOptions::default());
        assert!(matches!(r, Err(ModelError::NoExamples)));
    }
}
