//! The classifier's hidden layer over the sentence embedding: ReLU units, then one logit per
//! class. Trained as candle variables ([`HiddenVars`]), used in plain Rust ([`HiddenLayer`]).

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::Rng;

/// A trained hidden layer.
#[derive(Debug, Clone)]
pub(super) struct HiddenLayer {
    /// (dim x units), row-major.
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// (units x classes), row-major.
    out: Vec<f32>,
}

impl HiddenLayer {
    /// Adds the layer's logits for `embedding` (already scaled) to `logits`.
    pub(super) fn add_logits(&self, embedding: impl Iterator<Item = f32>, logits: &mut [f32]) {
        let units = self.bias.len();
        let classes = logits.len();
        let mut activations = self.bias.clone();
        for (k, x) in embedding.enumerate() {
            let row = &self.weights[k * units..(k + 1) * units];
            for (a, w) in activations.iter_mut().zip(row) {
                *a += x * w;
            }
        }
        for (j, a) in activations.iter().enumerate() {
            if *a > 0.0 {
                let row = &self.out[j * classes..(j + 1) * classes];
                for (l, w) in logits.iter_mut().zip(row) {
                    *l += a * w;
                }
            }
        }
    }
}

/// The layer's parameters while training.
pub(super) struct HiddenVars {
    weights: Var,
    bias: Var,
    out: Var,
}

impl HiddenVars {
    /// He-uniform start for the units (a zero start would never break their symmetry); the
    /// output starts at zero, so the untrained layer adds nothing.
    pub(super) fn new(
        dim: usize,
        units: usize,
        classes: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let limit = (6.0 / dim.max(1) as f32).sqrt();
        let start: Vec<f32> = (0..dim * units)
            .map(|_| rng.random_range(-limit..limit))
            .collect();
        Ok(HiddenVars {
            weights: Var::from_tensor(&Tensor::from_vec(start, (dim, units), device)?)?,
            bias: Var::zeros(units, DType::F32, device)?,
            out: Var::zeros((units, classes), DType::F32, device)?,
        })
    }

    pub(super) fn vars(&self) -> [Var; 3] {
        [self.weights.clone(), self.bias.clone(), self.out.clone()]
    }

    /// Logits of a batch of (scaled) embeddings, (n x dim) -> (n x classes).
    pub(super) fn logits(&self, embeddings: &Tensor) -> candle_core::Result<Tensor> {
        embeddings
            .matmul(self.weights.as_tensor())?
            .broadcast_add(self.bias.as_tensor())?
            .relu()?
            .matmul(self.out.as_tensor())
    }

    pub(super) fn into_layer(self) -> candle_core::Result<HiddenLayer> {
        Ok(HiddenLayer {
            weights: self.weights.as_tensor().flatten_all()?.to_vec1()?,
            bias: self.bias.as_tensor().to_vec1()?,
            out: self.out.as_tensor().flatten_all()?.to_vec1()?,
        })
    }
}
