use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::Config;
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use crate::encoder::{Encoder, Precision};
use crate::ModelError;

/// A sentence-embedding model: text in, unit-length vector out.
pub struct Embedder {
    model: Encoder,
    tokenizer: Tokenizer,
    device: Device,
    dim: usize,
    name: String,
    precision: Precision,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("name", &self.name)
            .field("dim", &self.dim)
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|source| ModelError::Read {
        path: path.display().to_string(),
        source,
    })
}

impl Embedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`, in f32. Inputs
    /// longer than `max_tokens` are truncated.
    pub fn load(dir: &Path, max_tokens: usize) -> Result<Self, ModelError> {
        Self::load_with(dir, max_tokens, Precision::F32)
    }

    /// [`Embedder::load`] with the dense layers in `precision` ([`Precision::resolve`]:
    /// bfloat16 asked for on a CPU without AVX-512 BF16 runs in f32, with a warning).
    /// [`Embedder::precision`] tells which is in use, and [`Embedder::name`] names it, since
    /// the vectors differ.
    pub fn load_with(
        dir: &Path,
        max_tokens: usize,
        precision: Precision,
    ) -> Result<Self, ModelError> {
        let resolved = precision.resolve();
        if precision == Precision::Bf16 && resolved == Precision::F32 {
            tracing::warn!("this CPU has no AVX-512 BF16: the embedding model runs in f32");
        }
        let precision = resolved;
        let device = Device::Cpu;
        let config: Config =
            serde_json::from_slice(&read(&dir.join("config.json"))?).map_err(ModelError::Config)?;
        let mut tokenizer = Tokenizer::from_bytes(read(&dir.join("tokenizer.json"))?)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        // Batches are padded here, to their own longest input, not to a fixed length.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let weights =
            candle_core::safetensors::load_buffer(&read(&dir.join("model.safetensors"))?, &device)?;
        let model = Encoder::load(weights, &config, precision)?;
        let mut name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "embedder".into());
        if precision != Precision::F32 {
            name = format!("{name}+{precision}");
        }
        Ok(Embedder {
            model,
            tokenizer,
            device,
            dim: config.hidden_size,
            name,
            precision,
        })
    }

    /// Length of the embedding vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The model's name: its directory, with `+bf16` when its products run in bfloat16.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number format its dense layers run in (never [`Precision::Auto`]).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Tokens the model will see for `text`, after truncation.
    pub fn count_tokens(&self, text: &str) -> Result<usize, ModelError> {
        Ok(self
            .tokenizer
            .encode(text, true)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?
            .len())
    }

    /// Embeds a batch. Vectors are L2-normalised means of the token states, padding excluded.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let longest = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let padding = PaddingParams {
            strategy: tokenizers::PaddingStrategy::Fixed(longest),
            ..Default::default()
        };
        tokenizers::pad_encodings(&mut encodings, &padding)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;

        let n = encodings.len();
        let ids: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_ids().iter().copied())
            .collect();
        let mask: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_attention_mask().iter().copied())
            .collect();
        let ids = Tensor::from_vec(ids, (n, longest), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, longest), &self.device)?.to_dtype(DType::F32)?;

        let states = self.model.forward(&ids, &mask)?; // (n, tokens, dim)
        let mask = mask.unsqueeze(2)?; // (n, tokens, 1)
        let summed = states.broadcast_mul(&mask)?.sum(1)?; // (n, dim)
        let counts = mask.sum(1)?; // (n, 1)
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
        Ok(mean.broadcast_div(&norm)?.to_vec2::<f32>()?)
    }
}
