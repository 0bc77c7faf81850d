//! Consumer of `categorizer.work`: categorizes each new ticket and publishes
//! `ticket.categorized`, acknowledging only after the broker confirmed it. The event id is
//! derived from the `ticket.created` id, so a ticket handled twice (after a crash between
//! publish and ack) yields the same event, which downstream consumers drop.

use std::sync::Arc;
use std::time::Instant;

use sysops_bus::{Bus, HandleError, Incoming};
use sysops_contract::{Envelope, EventType, Method, TicketCategorized, TicketCreated};

use crate::keywords::KeywordClassifier;

/// What the worker needs to categorize.
pub struct Worker {
    pub bus: Arc<Bus>,
    pub keywords: KeywordClassifier,
    /// Name of the taxonomy the keywords come from, reported as the model.
    pub model: String,
    pub review_threshold: f32,
    /// Category reported when nothing matched at all (then always needing review).
    pub fallback_category: String,
}

impl Worker {
    #[tracing::instrument(skip_all, fields(event_id = %incoming.envelope.id, ticket_id))]
    pub async fn handle(&self, incoming: Incoming) -> Result<(), HandleError> {
        let event = incoming.envelope;
        if let Some(id) = event.ticket_id {
            tracing::Span::current().record("ticket_id", tracing::field::display(id));
        }
        match event.event_type {
            EventType::TicketCreated => {}
            EventType::TicketRecategorized => {
                // Corrections are learned by the model-based categorizer; keywords stay as
                // the taxonomy defines them.
                tracing::debug!("correction noted");
                return Ok(());
            }
            other => {
                return Err(HandleError::permanent(format!(
                    "{other} does not belong on categorizer.work"
                )))
            }
        }
        let created = event
            .parse_data::<TicketCreated>()
            .map_err(HandleError::permanent)?;
        let started = Instant::now();
        let text = format!("{}\n{}", created.data.title, created.data.description);
        let decision = match self.keywords.classify(&text) {
            Some(p) => TicketCategorized {
                needs_review: p.confidence < self.review_threshold,
                category: p.category,
                confidence: p.confidence,
                method: Method::Keyword,
                candidates: p.candidates,
                model: Some(self.model.clone()),
                latency_ms: 0.0,
            },
            None => TicketCategorized {
                category: self.fallback_category.clone(),
                confidence: 0.0,
                method: Method::Keyword,
                candidates: Vec::new(),
                model: Some(self.model.clone()),
                latency_ms: 0.0,
                needs_review: true,
            },
        };
        let latency = started.elapsed();
        let decision = TicketCategorized {
            latency_ms: latency.as_secs_f64() * 1000.0,
            ..decision
        };
        metrics::histogram!("categorizer_latency_seconds", "method" => decision.method.as_str())
            .record(latency.as_secs_f64());
        metrics::counter!("categorizer_decisions_total", "method" => decision.method.as_str(), "needs_review" => decision.needs_review.to_string()).increment(1);
        tracing::info!(category = %decision.category, confidence = decision.confidence, needs_review = decision.needs_review, "categorized");
        let out = Envelope::derived(&event, EventType::TicketCategorized, decision)
            .to_raw()
            .map_err(HandleError::permanent)?;
        self.bus.publish(&out).await.map_err(HandleError::transient)
    }
}
