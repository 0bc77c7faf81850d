//! The reverse proxy: forwards `/api/...` to the service that owns the path, unchanged but for
//! hop-by-hop headers, and streams the answer back. Failures of the upstream become JSON errors
//! that name the service.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt, TryStreamExt};
use serde_json::json;
use uuid::Uuid;

use sysops_platform::http::REQUEST_ID;
use sysops_platform::ApiError;

use crate::edge::client_address;
use crate::headers::{end_to_end, is_json, upstream_request_headers};
use crate::startup::AppState;
use crate::upstream::Service;

/// Forwards one request to the service that owns its path.
pub async fn forward(State(state): State<AppState>, req: Request) -> Response {
    let Some(service) = Service::owning(req.uri().path()) else {
        return ApiError::not_found("no such endpoint").into_response();
    };
    let request_id = request_id(req.headers());
    let mut response = match forward_to(&state, service, req, &request_id).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    metrics::counter!(
        "gateway_requests_total",
        "service" => service.name(),
        "status" => response.status().as_str().to_owned(),
    )
    .increment(1);
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}

async fn forward_to(
    state: &AppState,
    service: Service,
    req: Request,
    request_id: &HeaderValue,
) -> Result<Response, ApiError> {
    let client_ip = client_address(req.extensions());
    let (parts, body) = req.into_parts();
    let body = read_body(&parts.headers, body, state.max_body_bytes).await?;
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let url = state.upstreams.url(service, path_and_query);
    let headers = upstream_request_headers(&parts.headers, request_id, client_ip);

    let started = Instant::now();
    let result = state
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    metrics::histogram!("gateway_upstream_seconds", "service" => service.name())
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(upstream) => Ok(relay(service, upstream)),
        Err(e) => Err(upstream_failure(service, &e)),
    }
}

/// The request id set by the middleware, or a new one if it is somehow missing.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers.get(REQUEST_ID).cloned().unwrap_or_else(|| {
        HeaderValue::from_str(&Uuid::new_v4().to_string()).expect("a UUID is a valid header value")
    })
}

/// Reads the whole body, refusing more than `limit` bytes with a 413.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        )
        .with_detail(json!({ "limit_bytes": limit }))
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let mut buffer = Vec::with_capacity(declared.map_or(0, |len| len as usize));
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if buffer.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buffer))
}

/// The upstream's answer, streamed back. A server error without a JSON body is replaced by
/// one in the API's error format, so clients never see a bare 5xx.
fn relay(service: Service, upstream: reqwest::Response) -> Response {
    let status = upstream.status();
    let headers = end_to_end(upstream.headers());
    if status.is_server_error() && !is_json(&headers) {
        tracing::warn!(service = service.name(), %status, "upstream answered a server error without a JSON body");
        let name = service.name();
        return ApiError::new(status, format!("the {name} service failed"))
            .with_detail(json!({ "service": name, "status": status.as_u16() }))
            .into_response();
    }
    let mut response = Response::new(Body::from_stream(body_stream(service, upstream)));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The upstream body, chunk by chunk as it arrives.
fn body_stream(
    service: Service,
    upstream: reqwest::Response,
) -> impl Stream<Item = Result<Bytes, reqwest::Error>> {
    futures::stream::try_unfold(upstream, |mut upstream| async move {
        Ok(upstream.chunk().await?.map(|chunk| (chunk, upstream)))
    })
    .inspect_err(move |e| {
        tracing::warn!(service = service.name(), error = %error_chain(e), "upstream body broke off");
    })
}

/// The JSON error for an upstream that could not be reached or did not answer.
fn upstream_failure(service: Service, e: &reqwest::Error) -> ApiError {
    let name = service.name();
    let detail = json!({ "service": name });
    let cause = error_chain(e);
    if e.is_connect() {
        tracing::warn!(service = name, error = %cause, "upstream unreachable");
        ApiError::unavailable(format!("the {name} service is unavailable")).with_detail(detail)
    } else if e.is_timeout() {
        tracing::warn!(service = name, error = %cause, "upstream timed out");
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("the {name} service did not answer in time"),
        )
        .with_detail(detail)
    } else {
        tracing::warn!(service = name, error = %cause, "upstream exchange failed");
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the {name} service failed to answer"),
        )
        .with_detail(detail)
    }
}

/// An error and its causes on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_without_a_declared_length_is_cut_off_at_the_limit() {
        let chunks = ["abcd", "efgh", "ijkl"]
            .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c.as_bytes())));
        let body = Body::from_stream(futures::stream::iter(chunks));

        let refused = read_body(&HeaderMap::new(), body, 10)
            .await
            .expect_err("12 bytes exceed 10");

        assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_whole() {
        let body = read_body(&HeaderMap::new(), Body::from("hello"), 5)
            .await
            .expect("5 bytes fit");

        assert_eq!(body, "hello");
    }
}
