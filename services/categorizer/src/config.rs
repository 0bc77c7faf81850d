//! Configuration of the categorizer, from flags or the environment.

use std::path::PathBuf;
use std::time::Duration;

use sysops_embedder::Precision;
use sysops_platform::config::Secret;
use sysops_platform::CommonConfig;

use crate::llm::LlmSettings;

/// Settings of the categorizer.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "categorizer", about = "Categorizes Sysops Squad tickets")]
pub struct Config {
    #[command(flatten)]
    pub common: CommonConfig,
    /// Address of the operational endpoints (port 0 picks a free port).
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8082")]
    pub http_addr: String,
    /// The taxonomy to classify into.
    #[arg(long, env = "TAXONOMY_PATH", default_value = "models/taxonomy.toml")]
    pub taxonomy_path: PathBuf,
    /// Below this confidence a ticket is marked `needs_review` and a person picks the category.
    #[arg(long, env = "REVIEW_THRESHOLD", default_value_t = 0.5)]
    pub review_threshold: f32,
    /// Unacknowledged tickets the broker sends ahead.
    #[arg(long, env = "PREFETCH", default_value_t = 64)]
    pub prefetch: u16,
    /// Tickets categorized at once (waiting ones are embedded in batches).
    #[arg(long, env = "CONCURRENCY", default_value_t = 32)]
    pub concurrency: usize,
    /// Directory of the sentence-embedding model; without it, keywords decide.
    #[arg(long, env = "MODEL_DIR", default_value = "models/all-MiniLM-L6-v2")]
    pub model_dir: PathBuf,
    /// Tokens of a ticket the embedding model reads.
    #[arg(long, env = "EMBED_MAX_TOKENS", default_value_t = 128)]
    pub embed_max_tokens: usize,
    /// Threads running the embedding model (0: one per core).
    #[arg(long, env = "EMBED_WORKERS", default_value_t = 0)]
    pub embed_workers: usize,
    /// Number format of the embedding model's products: `auto` (bfloat16 where the CPU has
    /// AVX-512 BF16, else f32), `f32`, or `bf16` (f32 with a warning where unsupported).
    #[arg(long, env = "EMBED_PRECISION", default_value = "auto")]
    pub embed_precision: Precision,
    /// Nice value of the categorizer's threads, 0 (normal) to 19 (the lowest priority): tickets
    /// wait for it in the queue, while intake and routing answer people, so by default it
    /// yields to them when the machine is busy (see `priority`).
    #[arg(long, env = "CPU_NICE", default_value_t = 10, value_parser = clap::value_parser!(i32).range(0..=19))]
    pub cpu_nice: i32,
    /// Optional CSV (id,text,label) of past tickets to learn from; labels must be category ids.
    #[arg(long, env = "TRAINING_CSV")]
    pub training_csv: Option<PathBuf>,
    /// Milliseconds to gather corrections before retraining.
    #[arg(long, env = "RETRAIN_DEBOUNCE_MS", default_value_t = 1000)]
    pub retrain_debounce_ms: u64,
    /// Base URL of an OpenAI-compatible API (e.g. https://api.openai.com/v1); unset: no LLM.
    #[arg(long, env = "LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    /// Model name for the LLM.
    #[arg(long, env = "LLM_MODEL")]
    pub llm_model: Option<String>,
    /// API key for the LLM.
    #[arg(
        long,
        env = "LLM_API_KEY",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub llm_api_key: Secret,
    /// Milliseconds before an LLM request is abandoned.
    #[arg(long, env = "LLM_TIMEOUT_MS", default_value_t = 8000)]
    pub llm_timeout_ms: u64,
    /// Retries of a failed LLM request (timeouts, 429, 5xx).
    #[arg(long, env = "LLM_MAX_RETRIES", default_value_t = 2)]
    pub llm_max_retries: u32,
    /// LLM requests in flight at once.
    #[arg(long, env = "LLM_CONCURRENCY", default_value_t = 8)]
    pub llm_concurrency: usize,
    /// Consecutive LLM failures that open the circuit breaker.
    #[arg(long, env = "LLM_BREAKER_FAILURES", default_value_t = 5)]
    pub llm_breaker_failures: u32,
    /// Seconds the breaker stays open before a trial request.
    #[arg(long, env = "LLM_BREAKER_COOLDOWN_SECS", default_value_t = 30)]
    pub llm_breaker_cooldown_secs: u64,
    /// Below this LLM confidence the local model decides instead.
    #[arg(long, env = "LLM_MIN_CONFIDENCE", default_value_t = 0.6)]
    pub llm_min_confidence: f32,
}

impl Config {
    /// LLM settings when both the URL and the model are set.
    pub fn llm(&self) -> Option<LlmSettings> {
        Some(LlmSettings {
            base_url: self.llm_base_url.clone().filter(|u| !u.is_empty())?,
            model: self.llm_model.clone().filter(|m| !m.is_empty())?,
            api_key: self.llm_api_key.clone(),
            timeout: Duration::from_millis(self.llm_timeout_ms),
            max_retries: self.llm_max_retries,
            concurrency: self.llm_concurrency,
            breaker_failures: self.llm_breaker_failures,
            breaker_cooldown: Duration::from_secs(self.llm_breaker_cooldown_secs),
        })
    }

    /// Settings for tests: port 0, the given database and exchange, the shipped taxonomy and model.
    pub fn for_tests(database_url: &str, exchange: &str) -> Self {
        Config {
            common: CommonConfig::for_tests(database_url, exchange),
            http_addr: "127.0.0.1:0".into(),
            taxonomy_path: sysops_platform::repo::path("models/taxonomy.toml"),
            review_threshold: 0.5,
            prefetch: 64,
            concurrency: 32,
            model_dir: sysops_platform::repo::path("models/all-MiniLM-L6-v2"),
            embed_max_tokens: 128,
            embed_workers: 0,
            embed_precision: Precision::F32,
            cpu_nice: 0,
            training_csv: None,
            retrain_debounce_ms: 200,
            llm_base_url: None,
            llm_model: None,
            llm_api_key: Secret::default(),
            llm_timeout_ms: 2000,
            llm_max_retries: 2,
            llm_concurrency: 8,
            llm_breaker_failures: 5,
            llm_breaker_cooldown_secs: 30,
            llm_min_confidence: 0.6,
        }
    }
}
