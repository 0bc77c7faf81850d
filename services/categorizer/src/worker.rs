//! Consumer of `categorizer.work`.
//!
//! `ticket.created`: the chain decides (LLM, then the local model, then keywords) and
//! `ticket.categorized` is published; the message is acknowledged only after the broker
//! confirmed it. The event id is derived from the `ticket.created` id, so a ticket handled
//! twice (after a crash between publish and ack) yields the same event, which downstream
//! consumers drop.
//!
//! `ticket.recategorized`: a person's correction is stored as an example (once, by event id; a
//! ticket keeps only its latest correction) and every replica is told to retrain.

use std::sync::Arc;
use std::time::Instant;

use sqlx::PgPool;
use tokio::sync::watch;

use sysops_bus::{Bus, HandleError, Incoming};
use sysops_contract::{
    CategoryScore, Envelope, EventType, Method, TicketCategorized, TicketCreated,
    TicketRecategorized,
};
use sysops_embedder::EmbeddingService;
use sysops_platform::db::handle_error;

use crate::corrections::{self, Correction, Stored};
use crate::keywords::KeywordClassifier;
use crate::llm::LlmCategorizer;
use crate::local::LocalModel;

/// Everything the categorizer decides with.
pub struct Worker {
    pub bus: Arc<Bus>,
    pub pool: PgPool,
    pub keywords: KeywordClassifier,
    /// Name reported when keywords decide.
    pub keyword_model: String,
    pub review_threshold: f32,
    /// Category reported when nothing matched at all (then always needing review).
    pub fallback_category: String,
    /// Present when an LLM is configured.
    pub llm: Option<LlmCategorizer>,
    /// Below this LLM confidence the local model decides instead.
    pub llm_min_confidence: f32,
    /// Present when the embedding model is on disk.
    pub embeddings: Option<EmbeddingService>,
    /// The latest trained local model, if training has finished once.
    pub local: watch::Receiver<Option<Arc<LocalModel>>>,
}

impl Worker {
    #[tracing::instrument(skip_all, fields(event_id = %incoming.envelope.id, ticket_id))]
    pub async fn handle(&self, incoming: Incoming) -> Result<(), HandleError> {
        let event = incoming.envelope;
        if let Some(id) = event.ticket_id {
            tracing::Span::current().record("ticket_id", tracing::field::display(id));
        }
        match event.event_type {
            EventType::TicketCreated => {
                let created = event
                    .parse_data::<TicketCreated>()
                    .map_err(HandleError::permanent)?;
                let mut decision = self.decide(&created.data).await;
                decision.created_at = Some(event.occurred_at);
                metrics::counter!("categorizer_decisions_total", "method" => decision.method.as_str(), "needs_review" => decision.needs_review.to_string()).increment(1);
                metrics::histogram!("categorizer_latency_seconds", "method" => decision.method.as_str()).record(decision.latency_ms / 1000.0);
                tracing::info!(category = %decision.category, confidence = decision.confidence, method = decision.method.as_str(), needs_review = decision.needs_review, "categorized");
                let out = Envelope::derived(&event, EventType::TicketCategorized, decision)
                    .to_raw()
                    .map_err(HandleError::permanent)?;
                self.bus.publish(&out).await.map_err(HandleError::transient)
            }
            EventType::TicketRecategorized => {
                let correction = event
                    .parse_data::<TicketRecategorized>()
                    .map_err(HandleError::permanent)?;
                let Some(text) = correction.data.text else {
                    return Err(HandleError::permanent("correction without the ticket text"));
                };
                let stored = corrections::store(
                    &self.pool,
                    &Correction {
                        event_id: event.id,
                        ticket_id: event.ticket_id,
                        text: &text,
                        label: &correction.data.to,
                        at: event.occurred_at,
                    },
                )
                .await
                .map_err(handle_error)?;
                if stored == Stored::Nothing {
                    tracing::info!(to = %correction.data.to, "correction already stored or superseded");
                    return Ok(());
                }
                metrics::counter!("categorizer_corrections_total").increment(1);
                tracing::info!(to = %correction.data.to, "correction stored; replicas will retrain");
                Ok(())
            }
            other => Err(HandleError::permanent(format!(
                "{other} does not belong on categorizer.work"
            ))),
        }
    }

    /// The chain: the LLM when configured, healthy and sure; else the local model; else keywords.
    pub async fn decide(&self, ticket: &TicketCreated) -> TicketCategorized {
        let started = Instant::now();
        let mut fallback_reason = None;
        let mut tokens = None;
        if let Some(llm) = &self.llm {
            match llm.categorize(&ticket.title, &ticket.description).await {
                Ok(d) if d.confidence >= self.llm_min_confidence => {
                    return TicketCategorized {
                        needs_review: d.confidence < self.review_threshold,
                        candidates: vec![CategoryScore {
                            category: d.category.clone(),
                            score: d.confidence,
                        }],
                        category: d.category,
                        confidence: d.confidence,
                        method: Method::Llm,
                        model: Some(llm.model().to_owned()),
                        latency_ms: ms(started),
                        tokens: d.tokens,
                        fallback_reason: None,
                        priority: ticket.priority,
                        region: ticket.region.clone(),
                        created_at: None,
                    };
                }
                Ok(d) => {
                    tokens = d.tokens;
                    fallback_reason = Some(format!(
                        "llm unsure ({:.2} for {})",
                        d.confidence, d.category
                    ));
                }
                Err(e) => {
                    metrics::counter!("categorizer_llm_failures_total", "reason" => failure_kind(&e)).increment(1);
                    fallback_reason = Some(format!("llm: {e}"));
                }
            }
        }
        let text = format!("{}\n{}", ticket.title, ticket.description);
        let local = self.local.borrow().clone();
        if let (Some(model), Some(embeddings)) = (local, &self.embeddings) {
            match embeddings.embed(text.clone()).await {
                Ok(vector) => {
                    let ranked = model.predict(&vector, &text);
                    let (category, confidence) = ranked[0].clone();
                    return TicketCategorized {
                        needs_review: confidence < self.review_threshold,
                        category,
                        confidence,
                        method: Method::Embedding,
                        candidates: ranked
                            .into_iter()
                            .take(5)
                            .map(|(category, score)| CategoryScore { category, score })
                            .collect(),
                        model: Some(embeddings.name().to_owned()),
                        latency_ms: ms(started),
                        tokens,
                        fallback_reason,
                        priority: ticket.priority,
                        region: ticket.region.clone(),
                        created_at: None,
                    };
                }
                Err(e) => fallback_reason = Some(format!("embedding: {e}")),
            }
        } else if fallback_reason.is_none() {
            fallback_reason = Some("local model not available".into());
        }
        let keyword = self.keywords.classify(&text);
        let (category, confidence, candidates) = match keyword {
            Some(p) => (p.category, p.confidence, p.candidates),
            None => (self.fallback_category.clone(), 0.0, Vec::new()),
        };
        TicketCategorized {
            needs_review: confidence < self.review_threshold,
            category,
            confidence,
            method: Method::Keyword,
            candidates,
            model: Some(self.keyword_model.clone()),
            latency_ms: ms(started),
            tokens,
            fallback_reason,
            priority: ticket.priority,
            region: ticket.region.clone(),
            created_at: None,
        }
    }
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

fn failure_kind(e: &crate::llm::LlmError) -> &'static str {
    match e {
        crate::llm::LlmError::BreakerOpen => "breaker_open",
        crate::llm::LlmError::Request(_) => "request",
        crate::llm::LlmError::InvalidAnswer(_) => "invalid_answer",
        crate::llm::LlmError::Refused(_) => "refused",
    }
}
