/// What can go wrong loading or running the local model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid model configuration")]
    Config(#[source] serde_json::Error),
    #[error("the checkpoint has no tensor {0}")]
    MissingWeight(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("tokenizer failed: {0}")]
    Tokenizer(String),
    #[error("tensor operation failed")]
    Candle(#[from] candle_core::Error),
    #[error("the embedding thread is gone")]
    ServiceStopped,
    #[error("no training examples")]
    NoExamples,
}
