//! The local model of the categorizer, and the only code that touches candle and tokenizers:
//!
//! - [`Embedder`]: all-MiniLM-L6-v2 sentence embeddings (BERT run with candle; tokenization
//!   with truncation, masked mean pooling, L2 normalisation). The encoder's forward pass is
//!   our own ([`encoder`]'s fused CPU kernels); its weights and configuration are BERT's.
//! - [`EmbeddingService`]: dedicated worker threads that share an embedder; requests arrive
//!   over a channel with a oneshot reply and are batched, capped by tokens. Nothing here runs
//!   on tokio worker threads.
//! - [`features`]: hashed word n-grams, so keyword-like text works as well as paraphrases.
//! - [`classifier`]: a linear head over both, trained with candle-nn, with temperature
//!   calibration.

pub mod classifier;
mod embedder;
mod encoder;
mod error;
pub mod features;
pub mod service;

pub use embedder::Embedder;
pub use encoder::{bf16_supported, Precision};
pub use error::ModelError;
pub use service::{EmbeddingService, ServiceOptions};
