//! The reverse proxy: forwards `/api/...` to the service that owns the path, unchanged but for
//! hop-by-hop headers, and streams the answer back. Failures of the upstream become JSON errors
//! that name the service.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt, TryStreamExt};
use serde_json::json;
use uuid::Uuid;

use sysops_platform::http::REQUEST_ID;
use sysops_platform::ApiError;

use crate::startup::AppState;
use crate::upstream::Service;

/// Headers that describe one connection, not the message, so a proxy must not pass them on
/// (RFC 9110, section 7.6.1). `proxy-*` headers are dropped by prefix.
const HOP_BY_HOP: [&str; 6] = ["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"];

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

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
    let client_ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
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
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large")
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
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if buffer.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buffer))
}

/// Whether a header must not cross the proxy; `named` are the extra headers the `Connection`
/// header lists.
fn is_hop_by_hop(name: &HeaderName, named: &[String]) -> bool {
    let name = name.as_str();
    HOP_BY_HOP.contains(&name) || name.starts_with("proxy-") || named.iter().any(|n| n == name)
}

/// `headers` without the hop-by-hop ones.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    let mut kept = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !is_hop_by_hop(name, &named) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

/// The client's end-to-end headers, with the request id and the client address added.
/// `host` and `content-length` are left for the HTTP client to set for the upstream.
fn upstream_request_headers(incoming: &HeaderMap, request_id: &HeaderValue, client_ip: Option<IpAddr>) -> HeaderMap {
    let mut headers = end_to_end(incoming);
    headers.remove(HOST);
    headers.remove(CONTENT_LENGTH);
    headers.insert(REQUEST_ID, request_id.clone());
    if let Some(ip) = client_ip {
        let mut hops: Vec<String> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        hops.push(ip.to_string());
        if let Ok(value) = HeaderValue::from_str(&hops.join(", ")) {
            headers.insert(X_FORWARDED_FOR.clone(), value);
        }
    }
    headers
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

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"))
}

/// The upstream body, chunk by chunk as it arrives.
fn body_stream(service: Service, upstream: reqwest::Response) -> impl Stream<Item = Result<Bytes, reqwest::Error>> {
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
        ApiError::new(StatusCode::GATEWAY_TIMEOUT, format!("the {name} service did not answer in time"))
            .with_detail(detail)
    } else {
        tracing::warn!(service = name, error = %cause, "upstream exchange failed");
        ApiError::new(StatusCode::BAD_GATEWAY, format!("the {name} service failed to answer")).with_detail(detail)
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

    #[test]
    fn hop_by_hop_headers_and_those_named_by_connection_are_dropped() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic abc"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-secret-hop", "1"),
            ("accept", "application/json"),
            ("authorization", "Bearer t"),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        let kept = end_to_end(&headers);
        let names: Vec<&str> = kept.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["accept", "authorization"]);
    }

    #[test]
    fn the_client_address_is_appended_to_an_existing_forwarded_for_chain() {
        let mut incoming = HeaderMap::new();
        incoming.insert(HOST, HeaderValue::from_static("gateway:8080"));
        incoming.insert(X_FORWARDED_FOR.clone(), HeaderValue::from_static("203.0.113.7"));
        let id = HeaderValue::from_static("req-1");
        let headers = upstream_request_headers(&incoming, &id, Some(IpAddr::from([10, 0, 0, 2])));
        assert_eq!(headers[&X_FORWARDED_FOR], "203.0.113.7, 10.0.0.2");
        assert_eq!(headers[REQUEST_ID], "req-1");
        assert!(headers.get(HOST).is_none());
    }
}
