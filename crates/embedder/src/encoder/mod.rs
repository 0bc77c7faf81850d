//! The BERT encoder, inference only, laid out for the CPU.
//!
//! The same computation as `candle_transformers::models::bert::BertModel` (a test holds the two
//! to 1e-5), arranged to do less work per forward pass:
//! - the query, key and value projections are one matrix product, and the attention scale
//!   `1/sqrt(head size)` is folded into the query weights when they are loaded;
//! - dense layers multiply all tokens of the batch in one product, not one per sequence;
//! - bias, GELU, residual and layer norm, and the masked softmax, are fused passes
//!   ([`kernels`]) instead of one candle operation (and one allocation) each;
//! - with [`Precision::Bf16`], the dense layers multiply in bfloat16 ([`bf16`]).

mod bf16;
mod kernels;

use std::collections::HashMap;

use candle_core::{DType, Module, Tensor};
use candle_transformers::models::bert::{Config, HiddenAct};
use kernels::{Activation, AddNorm, Bias, MaskedSoftmax};

use crate::ModelError;

pub use bf16::supported as bf16_supported;

/// Number format of the dense layers' products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// bfloat16 where the CPU has it, else f32.
    #[default]
    Auto,
    /// f32 throughout: the model's own numbers.
    F32,
    /// Inputs and weights rounded to bfloat16, sums in f32: about twice the products per
    /// instruction, on CPUs with AVX-512 BF16 only.
    Bf16,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// The format this CPU runs for this choice: `Auto` becomes bfloat16 where supported,
    /// and bfloat16 becomes f32 where not.
    pub fn resolve(self) -> Precision {
        match self {
            Precision::Auto | Precision::Bf16 if bf16::supported() => Precision::Bf16,
            _ => Precision::F32,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Precision::Auto),
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            other => Err(format!("unknown precision {other:?} (auto, f32 or bf16)")),
        }
    }
}

/// A dense layer's weight `(in, out)`, multiplied from the right.
enum Dense {
    F32(Tensor),
    Bf16(bf16::Bf16Dense),
}

impl Dense {
    /// `weight` in `precision` where this CPU and the weight's shape allow it (packing
    /// declines otherwise), else in f32.
    fn new(weight: Tensor, precision: Precision) -> Result<Self, ModelError> {
        if precision != Precision::F32 {
            if let Some(packed) = bf16::Bf16Dense::pack(&weight)? {
                return Ok(Dense::Bf16(packed));
            }
        }
        Ok(Dense::F32(weight))
    }

    /// `input` `(rows, in)`, contiguous, times the weight.
    fn forward(&self, input: &Tensor) -> Result<Tensor, ModelError> {
        Ok(match self {
            Dense::F32(weight) => input.matmul(weight)?,
            Dense::Bf16(packed) => input.apply_op1_no_bwd(packed)?,
        })
    }
}

/// A BERT encoder: token ids in, one state per token out.
pub struct Encoder {
    /// `(vocabulary, hidden)`.
    words: Tensor,
    /// `(positions, hidden)`: position embeddings with the embedding of token type 0 added,
    /// since single-segment input only ever uses that type.
    positions: Tensor,
    embedding_norm: candle_nn::LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
}

struct Layer {
    /// `(hidden, 3 * hidden)`: query (pre-scaled), key and value weights side by side.
    qkv: Dense,
    qkv_bias: Bias,
    /// `(hidden, hidden)`.
    attention_out: Dense,
    attention_norm: AddNorm,
    /// `(hidden, intermediate)`.
    up: Dense,
    up_gelu: Bias,
    /// `(intermediate, hidden)`.
    down: Dense,
    output_norm: AddNorm,
}

/// The checkpoint's tensors by name, with and without the `bert.` prefix some checkpoints use.
struct Weights(HashMap<String, Tensor>);

impl Weights {
    fn tensor(&self, name: &str) -> Result<Tensor, ModelError> {
        self.0
            .get(name)
            .or_else(|| self.0.get(&format!("bert.{name}")))
            .map(|t| t.to_dtype(DType::F32))
            .transpose()?
            .ok_or_else(|| ModelError::MissingWeight(name.to_string()))
    }

    fn values(&self, name: &str) -> Result<Vec<f32>, ModelError> {
        Ok(self.tensor(name)?.flatten_all()?.to_vec1()?)
    }

    /// A dense layer's weight as `(in, out)`, ready to multiply from the right.
    fn dense(&self, prefix: &str) -> Result<Tensor, ModelError> {
        Ok(self
            .tensor(&format!("{prefix}.weight"))?
            .t()?
            .contiguous()?)
    }

    fn add_norm(&self, dense: &str, norm: &str, eps: f32) -> Result<AddNorm, ModelError> {
        Ok(AddNorm {
            bias: self.values(&format!("{dense}.bias"))?,
            gamma: self.values(&format!("{norm}.weight"))?,
            beta: self.values(&format!("{norm}.bias"))?,
            eps,
        })
    }
}

impl Encoder {
    /// Builds the encoder from a checkpoint's tensors, its dense layers in `precision` where
    /// the CPU has it (f32 otherwise). Only what this code computes is accepted: the exact
    /// GELU, heads that divide the hidden size.
    pub fn load(
        tensors: HashMap<String, Tensor>,
        config: &Config,
        precision: Precision,
    ) -> Result<Self, ModelError> {
        if config.hidden_act != HiddenAct::Gelu {
            return Err(ModelError::Unsupported(format!(
                "activation {:?}",
                config.hidden_act
            )));
        }
        if !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
        {
            return Err(ModelError::Unsupported(format!(
                "{} heads for a hidden size of {}",
                config.num_attention_heads, config.hidden_size
            )));
        }
        let w = Weights(tensors);
        let eps = config.layer_norm_eps as f32;
        let head_size = config.hidden_size / config.num_attention_heads;
        let scale = 1.0 / (head_size as f64).sqrt();

        let token_type = w
            .tensor("embeddings.token_type_embeddings.weight")?
            .get(0)?;
        let positions = w
            .tensor("embeddings.position_embeddings.weight")?
            .broadcast_add(&token_type)?;
        let embedding_norm = candle_nn::LayerNorm::new(
            w.tensor("embeddings.LayerNorm.weight")?,
            w.tensor("embeddings.LayerNorm.bias")?,
            config.layer_norm_eps,
        );

        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                let attention = format!("{p}.attention.self");
                let qkv = Tensor::cat(
                    &[
                        (w.dense(&format!("{attention}.query"))? * scale)?,
                        w.dense(&format!("{attention}.key"))?,
                        w.dense(&format!("{attention}.value"))?,
                    ],
                    1,
                )?;
                let qkv_bias = Tensor::cat(
                    &[
                        (w.tensor(&format!("{attention}.query.bias"))? * scale)?,
                        w.tensor(&format!("{attention}.key.bias"))?,
                        w.tensor(&format!("{attention}.value.bias"))?,
                    ],
                    0,
                )?;
                let dense = |name: &str| Dense::new(w.dense(name)?, precision);
                Ok(Layer {
                    qkv: Dense::new(qkv, precision)?,
                    qkv_bias: Bias {
                        bias: qkv_bias.to_vec1()?,
                        activation: Activation::Identity,
                    },
                    attention_out: dense(&format!("{p}.attention.output.dense"))?,
                    attention_norm: w.add_norm(
                        &format!("{p}.attention.output.dense"),
                        &format!("{p}.attention.output.LayerNorm"),
                        eps,
                    )?,
                    up: dense(&format!("{p}.intermediate.dense"))?,
                    up_gelu: Bias {
                        bias: w.values(&format!("{p}.intermediate.dense.bias"))?,
                        activation: Activation::Gelu,
                    },
                    down: dense(&format!("{p}.output.dense"))?,
                    output_norm: w.add_norm(
                        &format!("{p}.output.dense"),
                        &format!("{p}.output.LayerNorm"),
                        eps,
                    )?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;

        Ok(Encoder {
            words: w.tensor("embeddings.word_embeddings.weight")?,
            positions,
            embedding_norm,
            layers,
            heads: config.num_attention_heads,
            hidden: config.hidden_size,
        })
    }

    /// Token states `(batch, tokens, hidden)` for token ids `(batch, tokens)`. `mask` is
    /// `(batch, tokens)`, 1.0 for a real token and 0.0 for padding; padding receives no
    /// attention, so a sequence's states do not depend on what it was batched with.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor, ModelError> {
        let (batch, tokens) = ids.dims2()?;
        let positions = self.positions.dim(0)?;
        if tokens > positions {
            return Err(ModelError::Unsupported(format!(
                "{tokens} tokens, the model has {positions} positions"
            )));
        }
        let words = self.words.index_select(&ids.flatten_all()?, 0)?.reshape((
            batch,
            tokens,
            self.hidden,
        ))?;
        let embedded = words.broadcast_add(&self.positions.narrow(0, 0, tokens)?)?;
        let mut states = self
            .embedding_norm
            .forward(&embedded)?
            .reshape((batch * tokens, self.hidden))?;
        for layer in &self.layers {
            states = self.layer(layer, &states, mask, batch, tokens)?;
        }
        Ok(states.reshape((batch, tokens, self.hidden))?)
    }

    /// One encoder layer over `(batch * tokens, hidden)` states.
    fn layer(
        &self,
        layer: &Layer,
        states: &Tensor,
        mask: &Tensor,
        batch: usize,
        tokens: usize,
    ) -> Result<Tensor, ModelError> {
        let head_size = self.hidden / self.heads;
        // (3, batch, heads, tokens, head_size)
        let qkv = layer
            .qkv
            .forward(states)?
            .apply_op1_no_bwd(&layer.qkv_bias)?
            .reshape((batch, tokens, 3, self.heads, head_size))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        let (query, key, value) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let weights = query
            .matmul(&key.t()?)?
            .apply_op2_no_bwd(mask, &MaskedSoftmax)?;
        let context = weights
            .matmul(&value)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((batch * tokens, self.hidden))?;
        let attended = layer
            .attention_out
            .forward(&context)?
            .apply_op2_no_bwd(states, &layer.attention_norm)?;
        let expanded = layer
            .up
            .forward(&attended)?
            .apply_op1_no_bwd(&layer.up_gelu)?;
        Ok(layer
            .down
            .forward(&expanded)?
            .apply_op2_no_bwd(&attended, &layer.output_norm)?)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use candle_core::{Device, IndexOp};
    use candle_nn::VarBuilder;
    use candle_transformers::models::bert::BertModel;

    use super::*;

    #[test]
    fn the_encoder_computes_what_candles_bert_computes() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2");
        let config: Config = serde_json::from_slice(
            &std::fs::read(dir.join("config.json"))
                .expect("model present (scripts/fetch-model.sh)"),
        )
        .expect("config");
        let weights = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
            .expect("weights");
        let reference = BertModel::load(
            VarBuilder::from_tensors(weights.clone(), DType::F32, &Device::Cpu),
            &config,
        )
        .expect("reference model");
        let encoder = Encoder::load(weights, &config, Precision::F32).expect("encoder");

        // Two sequences, the second padded after four tokens.
        let ids = Tensor::new(
            &[
                [101u32, 7953, 2003, 2025, 3788, 2044, 1996, 10651, 102],
                [101, 3531, 102, 2006, 0, 0, 0, 0, 0],
            ],
            &Device::Cpu,
        )
        .expect("ids");
        let mask = Tensor::new(
            &[[1u32, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0, 0, 0]],
            &Device::Cpu,
        )
        .expect("mask");
        let expected = reference
            .forward(&ids, &ids.zeros_like().expect("types"), Some(&mask))
            .expect("reference forward");
        let actual = encoder
            .forward(&ids, &mask.to_dtype(DType::F32).expect("f32"))
            .expect("forward");

        for (sequence, real_tokens) in [(0, 9), (1, 4)] {
            let difference = (expected.i((sequence, ..real_tokens)).expect("rows")
                - actual.i((sequence, ..real_tokens)).expect("rows"))
            .expect("difference")
            .abs()
            .expect("abs")
            .flatten_all()
            .expect("flat")
            .max(0)
            .expect("max")
            .to_scalar::<f32>()
            .expect("scalar");
            assert!(
                difference < 1e-5,
                "sequence {sequence}: states differ by {difference}"
            );
        }
    }
}
