//! A local stand-in for an LLM provider: it speaks the OpenAI chat-completions wire format,
//! failures included (slow answers, 429 and 500, malformed JSON, unknown categories), and its
//! behaviour can be changed while it runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// How the stand-in answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// A well-formed answer choosing `category`.
    Answer { category: String, confidence: f64 },
    /// Confident answers naming these categories in turn.
    Cycle(Vec<String>),
    /// Fails with `status` for the first `failures` calls, then answers `printers`.
    FailThenAnswer { status: u16, failures: usize },
    /// Fails every call with this status (429 as a rate limit, others as server errors).
    AlwaysFail(u16),
    /// 401 with an invalid-key error.
    Unauthorized,
    /// Answers `printers`, after this delay.
    Slow(Duration),
    /// A 200 whose body is cut-off JSON.
    MalformedBody,
    /// A well-formed completion whose content is prose, not the requested JSON.
    ContentNotJson,
}

impl Behaviour {
    pub fn answer(category: &str, confidence: f64) -> Self {
        Behaviour::Answer {
            category: category.to_owned(),
            confidence,
        }
    }
}

#[derive(Debug)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    calls: AtomicUsize,
    last_request: Mutex<Option<Value>>,
}

/// A running stand-in on 127.0.0.1; serves `POST {url}/chat/completions`.
#[derive(Debug, Clone)]
pub struct StandIn {
    url: String,
    shared: Arc<Shared>,
}

impl StandIn {
    pub async fn start(behaviour: Behaviour) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(behaviour),
            calls: AtomicUsize::new(0),
            last_request: Mutex::new(None),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(StandIn {
            url: format!("http://{addr}/v1"),
            shared,
        })
    }

    /// The base URL to give as `LLM_BASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers the following requests this way.
    pub fn set(&self, behaviour: Behaviour) {
        *self
            .shared
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = behaviour;
    }

    /// Requests received so far.
    pub fn calls(&self) -> usize {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// The body of the latest request.
    pub fn last_request(&self) -> Option<Value> {
        self.shared
            .last_request
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_764_000_000, "model": "stand-in",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 300, "completion_tokens": 12, "total_tokens": 312 }
    })
}

fn answer(category: &str, confidence: f64) -> Response {
    let content = json!({ "category": category, "confidence": confidence }).to_string();
    Json(completion(&content)).into_response()
}

fn api_error(status: u16) -> Response {
    let kind = if status == 429 {
        "rate_limit_exceeded"
    } else {
        "server_error"
    };
    let body = json!({ "error": { "message": "stand-in failure", "type": kind, "param": null, "code": null } });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

async fn chat(State(s): State<Arc<Shared>>, Json(request): Json<Value>) -> Response {
    let call = s.calls.fetch_add(1, Ordering::SeqCst);
    *s.last_request
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(request);
    let behaviour = s
        .behaviour
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match behaviour {
        Behaviour::Answer {
            category,
            confidence,
        } => answer(&category, confidence),
        Behaviour::Cycle(categories) if !categories.is_empty() => {
            answer(&categories[call % categories.len()], 0.9)
        }
        Behaviour::Cycle(_) => api_error(500),
        Behaviour::FailThenAnswer { status, failures } if call < failures => api_error(status),
        Behaviour::FailThenAnswer { .. } => answer("printers", 0.9),
        Behaviour::AlwaysFail(status) => api_error(status),
        Behaviour::Unauthorized => {
            let body = json!({ "error": { "message": "Incorrect API key provided", "type": "invalid_request_error", "param": null, "code": "invalid_api_key" } });
            (StatusCode::UNAUTHORIZED, Json(body)).into_response()
        }
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            answer("printers", 0.9)
        }
        Behaviour::MalformedBody => (
            StatusCode::OK,
            [("content-type", "application/json")],
            "{\"choices\": [",
        )
            .into_response(),
        Behaviour::ContentNotJson => Json(completion("The category is printers.")).into_response(),
    }
}
