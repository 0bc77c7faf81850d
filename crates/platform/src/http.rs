//! The HTTP error format of the whole API, a JSON extractor that reports bad bodies in it, the
//! middleware every service wears, and serving with graceful shutdown.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sysops_bus::trace;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::propagate_header::PropagateHeaderLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The request id header, set by the gateway (or here when absent) and echoed back.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// An error as the API reports it: `{ "error": "...", "detail": ... }` with a status code.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub detail: Option<serde_json::Value>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What is wrong, in words for a person.
    pub error: String,
    /// Particulars when there are any: the fields at fault, the allowed values, a limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            error: error.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn unprocessable(error: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, error)
    }

    pub fn not_found(error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error)
    }

    pub fn conflict(error: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, error)
    }

    pub fn unavailable(error: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, error)
    }

    /// A 500 whose cause is logged once, here, and not shown to the client.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    /// Maps a database error: unreachable -> 503, text PostgreSQL cannot hold -> 400,
    /// anything else -> 500.
    pub fn from_db(e: sqlx::Error) -> Self {
        // Rust strings are valid UTF-8, so the one character PostgreSQL refuses in text
        // (SQLSTATE 22021, or 22P05 on conversion) is NUL, from a body or a query string.
        let code = e.as_database_error().and_then(|d| d.code());
        if matches!(code.as_deref(), Some("22021" | "22P05")) {
            return Self::bad_request("text must not contain the NUL character (\\u0000)");
        }
        if crate::db::is_transient(&e) {
            tracing::warn!(error = %e, "database unavailable");
            Self::unavailable("the database is unavailable; try again shortly")
        } else {
            Self::internal(&e)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.error,
            detail: self.detail,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let message = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "expected a JSON body with `Content-Type: application/json`".to_owned()
            }
            JsonRejection::JsonSyntaxError(_) => {
                format!("the body is not valid JSON: {}", inner_message(&rejection))
            }
            JsonRejection::JsonDataError(_) => {
                format!("invalid request body: {}", inner_message(&rejection))
            }
            JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => {
                "the request body is too large".to_owned()
            }
            _ => rejection.body_text(),
        };
        ApiError::new(status, message)
    }
}

/// A path parameter that does not parse (e.g. an id that is not a UUID): 400.
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request(format!("invalid path: {}", rejection.body_text()))
    }
}

/// A query string that does not parse: 400.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}

/// The innermost message of a rejection, which names the field and the problem
/// (e.g. "missing field `title` at line 1 column 2").
fn inner_message(rejection: &JsonRejection) -> String {
    let mut message = rejection.body_text();
    let mut source = std::error::Error::source(rejection);
    while let Some(s) = source {
        message = s.to_string();
        source = s.source();
    }
    message
}

/// `axum::Json`, but a body it cannot read comes back in the API's error format.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// A JSON body that may be left out: no body, only whitespace, or `null` reads as
/// `T::default()`, with or without a content type; a body that is there must be JSON of `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: Default + DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "the request body is too large")
            } else {
                ApiError::new(status, rejection.body_text())
            }
        })?;
        optional_json(&body).map(OptionalJson)
    }
}

/// Reads a body that may be left out, as [`OptionalJson`] does.
pub fn optional_json<T: Default + DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.trim_ascii().is_empty() || body.trim_ascii() == b"null" {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::unprocessable(format!("invalid request body: {e}"))
        }
        _ => ApiError::bad_request(format!("the body is not valid JSON: {e}")),
    })
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// Gives error responses that have no JSON body (a timeout's 408, axum's 405, a 404 of the
/// router) one in the API's format, so clients never parse an empty error.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let message = match status {
            StatusCode::REQUEST_TIMEOUT => "the request took too long".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this path".to_owned(),
            StatusCode::NOT_FOUND => "no such endpoint".to_owned(),
            _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
        };
        let (mut parts, _) = response.into_parts();
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        let mut fresh = ApiError::new(status, message).into_response();
        for (name, value) in parts.headers.iter() {
            if name != axum::http::header::CONTENT_TYPE {
                fresh.headers_mut().insert(name.clone(), value.clone());
            }
        }
        return fresh;
    }
    response
}

/// The W3C trace context header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static(trace::TRACEPARENT);

/// Request ids, trace context, request tracing, a timeout and JSON error bodies around a
/// service's routes. Every request's log lines carry its `request_id` and `trace_id`.
pub fn with_middleware(router: Router, timeout: Duration) -> Router {
    router
        .layer(axum::middleware::map_response(json_errors))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(PropagateHeaderLayer::new(TRACEPARENT))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let header = |name: &HeaderName| {
                    req.headers().get(name).and_then(|v| v.to_str().ok())
                };
                let request_id = header(&REQUEST_ID).unwrap_or("-");
                let trace_id = header(&TRACEPARENT).and_then(trace::trace_id).unwrap_or("-");
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id, trace_id)
            }),
        )
        .layer(axum::middleware::map_request(ensure_traceparent))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Starts a trace for a request that does not continue one (no valid `traceparent`): the
/// gateway starts it, the services continue it.
async fn ensure_traceparent(mut req: Request) -> Request {
    let valid = req
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(trace::trace_id)
        .is_some();
    if !valid {
        if let Ok(value) = HeaderValue::from_str(&trace::new_traceparent()) {
            req.headers_mut().insert(TRACEPARENT, value);
        }
    }
    req
}

/// Binds `addr` (port 0 picks a free port).
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "listening");
    Ok(listener)
}

/// Serves until `shutdown` is cancelled, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// A fallback for unknown paths, in the API's error format.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}
