//! The encoder's element-wise work as fused CPU operations.
//!
//! candle's generic operations make one pass (and one allocation) per step and call libm for
//! `erf` and `exp` one element at a time; for this model that was a third of the time of a
//! forward pass, next to the matrix products. Each operation here is one pass over its input,
//! written as plain arithmetic so that the compiler vectorizes it, and run through
//! [`pulp::Arch::dispatch`], which picks the widest instruction set the CPU has (AVX-512,
//! AVX2+FMA, or baseline) at run time.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape};

/// `e^x`, accurate to about 2e-7 relative, without a library call so that loops of it
/// vectorize. Range reduction `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a degree-6 polynomial
/// for `e^r`, and `2^n` built in the exponent bits. Inputs below -87 give `e^-87` (about
/// 1.6e-38) rather than 0, which no caller here can tell apart.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Adding 1.5 * 2^23 rounds to an integer and leaves it in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let exponent = (shifted.to_bits() as i32 - ROUND.to_bits() as i32) + 127;
    p * f32::from_bits((exponent << 23) as u32)
}

/// `erf(x)` to within 6e-7 (Abramowitz and Stegun, Handbook of Mathematical Functions,
/// formula 7.1.26, whose bound is 1.5e-7, plus f32 rounding; the test measures it).
#[inline(always)]
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152,
        1.061_405_4,
    ];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    (1.0 - poly * exp(-a * a)).copysign(x)
}

/// GELU as BERT defines it, with the exact (erf) form rather than the tanh approximation.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Lanes of the partial sums in [`sum`]: a whole AVX-512 register of f32.
const LANES: usize = 16;

/// A sum in `LANES` independent partial sums, which the compiler keeps in one vector register
/// (a single running sum is a chain of dependent additions it may not reorder).
#[inline(always)]
fn sum(values: impl Iterator<Item = f32>) -> f32 {
    let mut partial = [0.0f32; LANES];
    for (i, v) in values.enumerate() {
        partial[i % LANES] += v;
    }
    partial.iter().sum()
}

/// One kernel's loop and its data. [`Pass::run`] hands it to pulp, which calls
/// [`pulp::WithSimd::with_simd`] inside a function compiled for the chosen instruction set;
/// the loops below are `inline(always)` so that they are compiled there too. (A closure would
/// be a function of its own, compiled for the baseline.)
enum Pass<'a> {
    Bias {
        input: &'a [f32],
        op: &'a Bias,
        output: &'a mut [f32],
    },
    AddNorm {
        input: &'a [f32],
        residual: &'a [f32],
        op: &'a AddNorm,
        output: &'a mut [f32],
    },
    MaskedSoftmax {
        scores: &'a [f32],
        mask: &'a [f32],
        /// Rows of scores (heads times queries) per sequence, which share one mask row.
        rows_per_sequence: usize,
        keys: usize,
        output: &'a mut [f32],
    },
}

impl Pass<'_> {
    fn run(self) {
        pulp::Arch::new().dispatch(self)
    }
}

impl pulp::WithSimd for Pass<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        match self {
            Pass::Bias { input, op, output } => add_bias(input, op, output),
            Pass::AddNorm {
                input,
                residual,
                op,
                output,
            } => add_norm(input, residual, op, output),
            Pass::MaskedSoftmax {
                scores,
                mask,
                rows_per_sequence,
                keys,
                output,
            } => masked_softmax(scores, mask, rows_per_sequence, keys, output),
        }
    }
}

/// The activation runs in a loop of its own, not as a branch per element, so each loop
/// vectorizes.
#[inline(always)]
fn add_bias(input: &[f32], op: &Bias, output: &mut [f32]) {
    let rows = output
        .chunks_exact_mut(op.bias.len())
        .zip(input.chunks_exact(op.bias.len()));
    match op.activation {
        Activation::Identity => {
            for (out, row) in rows {
                for ((o, &x), &b) in out.iter_mut().zip(row).zip(&op.bias) {
                    *o = x + b;
                }
            }
        }
        Activation::Gelu => {
            for (out, row) in rows {
                for ((o, &x), &b) in out.iter_mut().zip(row).zip(&op.bias) {
                    *o = gelu(x + b);
                }
            }
        }
    }
}

#[inline(always)]
fn add_norm(input: &[f32], residual: &[f32], op: &AddNorm, output: &mut [f32]) {
    let width = op.bias.len();
    for ((out, row), res) in output
        .chunks_exact_mut(width)
        .zip(input.chunks_exact(width))
        .zip(residual.chunks_exact(width))
    {
        for (((o, &x), &r), &b) in out.iter_mut().zip(row).zip(res).zip(&op.bias) {
            *o = x + r + b;
        }
        let mean = sum(out.iter().copied()) / width as f32;
        let variance = sum(out.iter().map(|v| (v - mean) * (v - mean))) / width as f32;
        let scale = 1.0 / (variance + op.eps).sqrt();
        for ((o, &g), &b) in out.iter_mut().zip(&op.gamma).zip(&op.beta) {
            *o = (*o - mean) * scale * g + b;
        }
    }
}

/// `mask` is `(sequences, keys)`; `scores` and `output` are rows of `keys`,
/// `rows_per_sequence` of them for each sequence.
#[inline(always)]
fn masked_softmax(
    scores: &[f32],
    mask: &[f32],
    rows_per_sequence: usize,
    keys: usize,
    output: &mut [f32],
) {
    for (row_index, (out, row)) in output
        .chunks_exact_mut(keys)
        .zip(scores.chunks_exact(keys))
        .enumerate()
    {
        let row_mask = &mask[(row_index / rows_per_sequence) * keys..][..keys];
        let max = row
            .iter()
            .zip(row_mask)
            .map(|(&s, &m)| if m > 0.0 { s } else { f32::NEG_INFINITY })
            .fold(f32::NEG_INFINITY, f32::max);
        for ((o, &s), &m) in out.iter_mut().zip(row).zip(row_mask) {
            *o = if m > 0.0 { exp(s - max) } else { 0.0 };
        }
        let inverse = 1.0 / sum(out.iter().copied());
        for o in out.iter_mut() {
            *o *= inverse;
        }
    }
}

/// The f32 values of a contiguous tensor.
fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else {
        bail!("{op}: expects f32, got {:?}", storage.dtype())
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => bail!("{op}: expects a contiguous tensor"),
    }
}

/// Checks that rows are as long as the operation's parameters.
fn check_width(layout: &Layout, expected: usize, op: &str) -> Result<()> {
    let width = layout.dims().last().copied().unwrap_or(0);
    if width != expected {
        bail!("{op}: rows of {width}, built for {expected}");
    }
    Ok(())
}

/// What follows the bias in [`Bias`].
#[derive(Debug, Clone, Copy)]
pub enum Activation {
    /// Nothing: the query/key/value projection.
    Identity,
    /// GELU: the intermediate layer.
    Gelu,
}

/// `activation(x + bias)`, the bias added along the last dimension: a dense layer's output when
/// no residual follows.
pub struct Bias {
    pub bias: Vec<f32>,
    pub activation: Activation,
}

impl CustomOp1 for Bias {
    fn name(&self) -> &'static str {
        "bias"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let input = contiguous(storage, layout, self.name())?;
        check_width(layout, self.bias.len(), self.name())?;
        let mut output = vec![0.0f32; input.len()];
        Pass::Bias {
            input,
            op: self,
            output: &mut output,
        }
        .run();
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}

/// `LayerNorm(x + bias + residual)`: the end of the attention block and of the feed-forward
/// block. Applied to `x`, with the residual as the second operand.
pub struct AddNorm {
    pub bias: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub eps: f32,
}

impl CustomOp2 for AddNorm {
    fn name(&self) -> &'static str {
        "add-norm"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
        residual_storage: &CpuStorage,
        residual_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let input = contiguous(storage, layout, self.name())?;
        let residual = contiguous(residual_storage, residual_layout, self.name())?;
        check_width(layout, self.bias.len(), self.name())?;
        if residual.len() != input.len() {
            bail!(
                "add-norm: residual of {} values for {}",
                residual.len(),
                input.len()
            );
        }
        let mut output = vec![0.0f32; input.len()];
        Pass::AddNorm {
            input,
            residual,
            op: self,
            output: &mut output,
        }
        .run();
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}

/// Softmax over the last dimension of attention scores `(batch, heads, queries, keys)`, with
/// keys whose mask is 0 (padding) given no weight. The second operand is the mask,
/// `(batch, keys)`, 1.0 for a real token and 0.0 for padding.
pub struct MaskedSoftmax;

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
        mask_storage: &CpuStorage,
        mask_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let scores = contiguous(storage, layout, self.name())?;
        let mask = contiguous(mask_storage, mask_layout, self.name())?;
        let &[batch, heads, queries, keys] = layout.dims() else {
            bail!(
                "masked-softmax: expects (batch, heads, queries, keys), got {:?}",
                layout.dims()
            )
        };
        if mask_layout.dims() != [batch, keys] {
            bail!(
                "masked-softmax: mask {:?} for scores {:?}",
                mask_layout.dims(),
                layout.dims()
            );
        }
        let mut output = vec![0.0f32; scores.len()];
        Pass::MaskedSoftmax {
            scores,
            mask,
            rows_per_sequence: heads * queries,
            keys,
            output: &mut output,
        }
        .run();
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_agrees_with_the_library_to_single_precision() {
        for i in -8_000..=8_000 {
            let x = i as f32 / 100.0;
            let (ours, reference) = (exp(x), x.exp());
            assert!(
                ((ours - reference) / reference).abs() < 3e-7,
                "exp({x}) = {ours}, library {reference}"
            );
        }
    }

    #[test]
    fn erf_agrees_with_the_library_to_within_6e_7() {
        let mut worst = 0.0f64;
        for i in -6_000..=6_000 {
            let x = i as f32 / 1_000.0;
            let (ours, reference) = (f64::from(erf(x)), libm::erf(f64::from(x)));
            worst = worst.max((ours - reference).abs());
        }
        assert!(worst < 6e-7, "erf is off by up to {worst}");
    }

    #[test]
    fn the_softmax_gives_padding_no_weight_and_sums_to_one() {
        let scores = candle_core::Tensor::new(
            &[[[[1.0f32, 2.0, 50.0], [0.5, 0.5, -3.0]]]],
            &candle_core::Device::Cpu,
        )
        .expect("tensor");
        let mask = candle_core::Tensor::new(&[[1.0f32, 1.0, 0.0]], &candle_core::Device::Cpu)
            .expect("tensor");
        let probs = scores
            .apply_op2_no_bwd(&mask, &MaskedSoftmax)
            .expect("softmax")
            .flatten_all()
            .expect("flat")
            .to_vec1::<f32>()
            .expect("values");
        let e = 1.0f32.exp();
        let expected = [1.0 / (1.0 + e), e / (1.0 + e), 0.0, 0.5, 0.5, 0.0];
        for (p, q) in probs.iter().zip(expected) {
            assert!((p - q).abs() < 1e-6, "{probs:?}");
        }
    }
}
