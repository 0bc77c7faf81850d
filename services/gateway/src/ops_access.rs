//! Who may read the gateway's `/metrics`, which shares the public port: with `METRICS_TOKEN`
//! set, a scraper presenting it as a bearer token; without, only clients on this host. The
//! health and readiness probes stay open to anyone (they say nothing but "up").

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use sysops_platform::auth::unauthorized;
use sysops_platform::config::Secret;
use sysops_platform::ApiError;

use crate::edge::client_address;

/// Middleware over the operational routes.
pub async fn guard(State(token): State<Option<Arc<Secret>>>, req: Request, next: Next) -> Response {
    if req.uri().path() != "/metrics" {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let expected = token.as_deref().map(Secret::expose);
    match decide(expected, presented, client_address(req.extensions())) {
        Decision::Allow => next.run(req).await,
        Decision::NeedsToken => {
            unauthorized("the gateway's metrics need the bearer token set in METRICS_TOKEN")
        }
        Decision::NotFromHere => ApiError::new(
            StatusCode::FORBIDDEN,
            "the gateway's metrics answer only on this host; set METRICS_TOKEN to read them from elsewhere",
        )
        .into_response(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Allow,
    NeedsToken,
    NotFromHere,
}

fn decide(expected: Option<&str>, presented: Option<&str>, client: Option<IpAddr>) -> Decision {
    match expected {
        // Digests compared, so the time taken says nothing about the token.
        Some(expected)
            if presented.is_some_and(|p| Sha256::digest(p) == Sha256::digest(expected)) =>
        {
            Decision::Allow
        }
        Some(_) => Decision::NeedsToken,
        None if client.is_some_and(|ip| ip.is_loopback()) => Decision::Allow,
        None => Decision::NotFromHere,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_when_one_is_set_else_this_host_only() {
        let here: Option<IpAddr> = Some([127, 0, 0, 1].into());
        let elsewhere: Option<IpAddr> = Some([10, 0, 0, 7].into());
        assert_eq!(decide(None, None, here), Decision::Allow);
        assert_eq!(decide(None, None, elsewhere), Decision::NotFromHere);
        assert_eq!(
            decide(None, Some("anything"), elsewhere),
            Decision::NotFromHere
        );
        assert_eq!(
            decide(Some("s3cret"), Some("s3cret"), elsewhere),
            Decision::Allow
        );
        assert_eq!(
            decide(Some("s3cret"), Some("guess"), elsewhere),
            Decision::NeedsToken
        );
        assert_eq!(decide(Some("s3cret"), None, here), Decision::NeedsToken);
    }
}
