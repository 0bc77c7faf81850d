//! Which headers cross the proxy: hop-by-hop ones stay behind; the request id and the
//! client's address are added on the way in.

use std::net::IpAddr;

use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderName, HeaderValue};

use sysops_platform::http::REQUEST_ID;

/// Headers that describe one connection, not the message, so a proxy must not pass them on
/// (RFC 9110, section 7.6.1). `proxy-*` headers are dropped by prefix.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Whether a header must not cross the proxy; `named` are the extra headers the `Connection`
/// header lists.
fn is_hop_by_hop(name: &HeaderName, named: &[String]) -> bool {
    let name = name.as_str();
    HOP_BY_HOP.contains(&name) || name.starts_with("proxy-") || named.iter().any(|n| n == name)
}

/// `headers` without the hop-by-hop ones.
pub fn end_to_end(headers: &HeaderMap) -> HeaderMap {
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
pub fn upstream_request_headers(
    incoming: &HeaderMap,
    request_id: &HeaderValue,
    client_ip: Option<IpAddr>,
) -> HeaderMap {
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

/// Whether the body is JSON, by its `content-type`.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"))
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
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let kept = end_to_end(&headers);
        let names: Vec<&str> = kept.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["accept", "authorization"]);
    }

    #[test]
    fn the_client_address_is_appended_to_an_existing_forwarded_for_chain() {
        let mut incoming = HeaderMap::new();
        incoming.insert(HOST, HeaderValue::from_static("gateway:8080"));
        incoming.insert(
            X_FORWARDED_FOR.clone(),
            HeaderValue::from_static("203.0.113.7"),
        );
        let id = HeaderValue::from_static("req-1");
        let headers = upstream_request_headers(&incoming, &id, Some(IpAddr::from([10, 0, 0, 2])));
        assert_eq!(headers[&X_FORWARDED_FOR], "203.0.113.7, 10.0.0.2");
        assert_eq!(headers[REQUEST_ID], "req-1");
        assert!(headers.get(HOST).is_none());
    }
}
