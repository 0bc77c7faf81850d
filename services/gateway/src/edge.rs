//! Protection at the edge: rate limits per client address, per signed-in user and, stricter,
//! for sign-in attempts per address (429 with `Retry-After`); security headers on every answer;
//! CORS for the origins the operator allows.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::header::{HeaderName, RETRY_AFTER};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use uuid::Uuid;

use sysops_platform::ApiError;

use crate::config::Config;

/// How often forgotten clients are dropped from the limiters' memory.
pub const FORGET_EVERY: Duration = Duration::from_secs(60);

/// Which limit a request went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Address,
    User,
    SignIn,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::Address => "address",
            Limit::User => "user",
            Limit::SignIn => "sign_in",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Limit::Address => "too many requests from this address",
            Limit::User => "too many requests from this account",
            Limit::SignIn => "too many sign-in attempts from this address",
        }
    }
}

/// The rate limits; a limit configured as 0 is off.
#[derive(Debug)]
pub struct Limits {
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_user: Option<DefaultKeyedRateLimiter<Uuid>>,
    sign_in: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

/// A limiter allowing `rate` per period on average with bursts of `burst`, or none for 0.
fn limiter<K: std::hash::Hash + Eq + Clone>(
    quota: fn(NonZeroU32) -> Quota,
    rate: u32,
    burst: u32,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::keyed(quota(rate).allow_burst(burst)))
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        // Bursts of two seconds' worth: a page loading its figures at once is not refused.
        let (address, user) = (config.rate_limit_per_address, config.rate_limit_per_user);
        Limits {
            per_address: limiter(Quota::per_second, address, address.saturating_mul(2)),
            per_user: limiter(Quota::per_second, user, user.saturating_mul(2)),
            sign_in: limiter(
                Quota::per_minute,
                config.sign_in_limit_per_minute,
                config.sign_in_limit_per_minute,
            ),
        }
    }

    /// Counts a request from `address`; a sign-in attempt when `signing_in`.
    pub fn check_address(&self, address: IpAddr, signing_in: bool) -> Result<(), Throttled> {
        let address = client_of(address);
        check(self.per_address.as_ref(), &address, Limit::Address)?;
        if signing_in {
            check(self.sign_in.as_ref(), &address, Limit::SignIn)?;
        }
        Ok(())
    }

    /// Counts a request of the signed-in user `user`.
    pub fn check_user(&self, user: Uuid) -> Result<(), Throttled> {
        check(self.per_user.as_ref(), &user, Limit::User)
    }

    /// Forgets clients whose allowance is full again, so that memory follows the active
    /// clients, not every client ever seen.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.per_address {
            l.retain_recent();
        }
        if let Some(l) = &self.per_user {
            l.retain_recent();
        }
        if let Some(l) = &self.sign_in {
            l.retain_recent();
        }
    }
}

/// The client an address counts for: an IPv6 host owns its whole /64 (it picks addresses
/// from it at will), so the /64 is one client; an IPv4 address (or one mapped into IPv6) is one.
fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
    limit: Limit,
) -> Result<(), Throttled> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        metrics::counter!("gateway_rate_limited_total", "limit" => limit.name()).increment(1);
        Throttled {
            limit,
            // Whole seconds, rounded up: a client retrying after them is let through.
            retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    })
}

/// A request over a limit: answered 429 with `Retry-After`.
#[derive(Debug)]
pub struct Throttled {
    limit: Limit,
    retry_after: u64,
}

impl IntoResponse for Throttled {
    fn into_response(self) -> Response {
        let Throttled { limit, retry_after } = self;
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{}; retry in {retry_after} s", limit.message()),
        )
        .with_detail(serde_json::json!({ "limit": limit.name(), "retry_after_secs": retry_after }))
        .into_response();
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(retry_after));
        response
    }
}

/// The address the request came from, as the connection says (not `x-forwarded-for`, which a
/// client can write).
pub fn client_address(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// Headers every answer carries unless the service set its own: no MIME sniffing, no framing
/// by other sites, no referrer sent elsewhere, and a content policy that lets pages load only
/// from here (inline styles allowed; the pages use no inline script).
const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("cross-origin-opener-policy", "same-origin"),
];

/// `router` with the security headers and, when origins are configured, CORS.
pub fn protect(mut router: Router, config: &Config) -> anyhow::Result<Router> {
    for (name, value) in SECURITY_HEADERS {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    let origins = config
        .cors_allowed_origins
        .iter()
        .map(|o| HeaderValue::from_str(o.trim_end_matches('/')))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("CORS_ALLOWED_ORIGINS: {e}"))?;
    if !origins.is_empty() {
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::CONTENT_TYPE,
                    HeaderName::from_static("x-request-id"),
                    HeaderName::from_static("idempotency-key"),
                ])
                .expose_headers([HeaderName::from_static("x-request-id"), RETRY_AFTER])
                .max_age(Duration::from_secs(600)),
        );
    }
    Ok(router)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn an_ipv6_host_counts_as_its_64_and_ipv4_as_its_address() {
        let a = ip("2001:db8:1:2:aaaa::1");
        let b = ip("2001:db8:1:2:ffff:1:2:3");
        let other = ip("2001:db8:1:3::1");
        assert_eq!(client_of(a), client_of(b));
        assert_eq!(client_of(a), ip("2001:db8:1:2::"));
        assert_ne!(client_of(a), client_of(other));
        let v4 = ip("192.0.2.7");
        assert_eq!(client_of(v4), v4);
        assert_eq!(client_of(ip("::ffff:192.0.2.7")), v4);
    }
}
