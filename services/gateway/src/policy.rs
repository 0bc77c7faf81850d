//! Who may call what: every route of the API with the roles allowed on it, checked before a
//! request is answered or forwarded, after the rate limits of [`crate::edge`]. A path that is not in the table is answered 404 and never
//! forwarded; the services check the same token again and, where it depends on the ticket,
//! whose it is.

use axum::extract::{Request, State};
use axum::http::header::ALLOW;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use sysops_platform::auth::{authenticate, forbidden, unauthorized, Identity, Role};
use sysops_platform::ApiError;

use crate::edge::client_address;
use crate::startup::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Callers signed in with one of these roles.
    Roles(&'static [Role]),
}

/// One route: a method, a path whose `{...}` segments match any one segment, and its access.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const ANYONE_SIGNED_IN: Access = Access::Roles(&Role::ALL);
const STAFF: Access = Access::Roles(&[Role::Manager, Role::Admin]);
const ADMIN: Access = Access::Roles(&[Role::Admin]);
const SUBMITTERS: Access = Access::Roles(&[Role::Customer, Role::Manager, Role::Admin]);
const WORKERS: Access = Access::Roles(&[Role::Expert, Role::Manager, Role::Admin]);

const fn rule(method: &'static str, path: &'static str, access: Access) -> Rule {
    Rule {
        method,
        path,
        access,
    }
}

/// Every route the gateway answers or forwards. `docs/api.md` shows this table.
pub const RULES: &[Rule] = &[
    rule("GET", "/", Access::Public),
    rule("GET", "/api/health", Access::Public),
    // The API's description and its reader (crate::openapi).
    rule("GET", "/api/openapi.json", Access::Public),
    rule("GET", "/api/docs", Access::Public),
    rule("GET", "/api/docs/", Access::Public),
    rule("GET", "/api/docs/{file}", Access::Public),
    rule("POST", "/api/auth/register", Access::Public),
    rule("POST", "/api/auth/login", Access::Public),
    rule("POST", "/api/auth/refresh", Access::Public),
    rule("POST", "/api/auth/logout", ANYONE_SIGNED_IN),
    rule("GET", "/api/auth/me", ANYONE_SIGNED_IN),
    rule("POST", "/api/auth/password", ANYONE_SIGNED_IN),
    rule("GET", "/api/users", ADMIN),
    rule("POST", "/api/users", ADMIN),
    rule("GET", "/api/users/{id}", ADMIN),
    rule("PATCH", "/api/users/{id}", ADMIN),
    rule("POST", "/api/tickets", SUBMITTERS),
    rule("GET", "/api/tickets", ANYONE_SIGNED_IN),
    rule("GET", "/api/tickets/{id}", ANYONE_SIGNED_IN),
    rule("GET", "/api/tickets/{id}/history", ANYONE_SIGNED_IN),
    rule("POST", "/api/tickets/{id}/accept", WORKERS),
    rule("POST", "/api/tickets/{id}/reject", WORKERS),
    rule("POST", "/api/tickets/{id}/resolve", WORKERS),
    rule("POST", "/api/tickets/{id}/cancel", SUBMITTERS),
    rule("POST", "/api/tickets/{id}/close", SUBMITTERS),
    rule("PUT", "/api/tickets/{id}/category", STAFF),
    rule("GET", "/api/experts", STAFF),
    rule("POST", "/api/experts", ADMIN),
    rule("GET", "/api/experts/{id}", STAFF),
    rule("PUT", "/api/experts/{id}", ADMIN),
    rule("GET", "/api/pools", STAFF),
    rule("GET", "/api/pools/{name}", STAFF),
    rule("GET", "/api/routing/history/{ticket_id}", STAFF),
    rule("GET", "/api/routing/statistics", STAFF),
    rule("POST", "/api/routing/reassign/{ticket_id}", STAFF),
    rule("GET", "/api/dashboard/summary", STAFF),
    rule("GET", "/api/dashboard/routing", STAFF),
    rule("GET", "/api/analytics/tickets", STAFF),
    rule("GET", "/api/analytics/performance", STAFF),
    rule("GET", "/api/analytics/trends", STAFF),
    rule("GET", "/api/analytics/pools", STAFF),
    rule("GET", "/api/analytics/pools/{pool}", STAFF),
    rule("GET", "/api/analytics/drilldown", STAFF),
    rule("GET", "/api/analytics/dead-letters", STAFF),
    rule("GET", "/api/analytics/events", STAFF),
    // The managers' page itself is public; it signs in before it reads any figure.
    rule("GET", "/dashboard", Access::Public),
    rule("GET", "/dashboard/app.js", Access::Public),
    rule("GET", "/dashboard/session.js", Access::Public),
    rule("GET", "/dashboard/app.css", Access::Public),
    // The customers' and experts' pages (crate::pages): public too, for the same reason.
    rule("GET", "/customer", Access::Public),
    rule("GET", "/expert", Access::Public),
    rule("GET", "/pages/pages.css", Access::Public),
    rule("GET", "/pages/session.js", Access::Public),
    rule("GET", "/pages/ui.js", Access::Public),
    rule("GET", "/pages/customer.js", Access::Public),
    rule("GET", "/pages/expert.js", Access::Public),
];

/// Where people sign up, sign in, renew and change their password: limited per address more
/// strictly than the rest (each guesses a password or a token).
const SIGN_IN_PATHS: [&str; 4] = [
    "/api/auth/register",
    "/api/auth/login",
    "/api/auth/refresh",
    "/api/auth/password",
];

/// What the table says about a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Allowed(Access),
    /// The path exists but not with this method; the methods it has.
    WrongMethod(Vec<&'static str>),
    NoSuchPath,
}

/// The rule for `method` on `path`. `HEAD` follows `GET`.
pub fn lookup(method: &Method, path: &str) -> Lookup {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let matching: Vec<&Rule> = RULES.iter().filter(|r| matches(r.path, path)).collect();
    if let Some(rule) = matching.iter().find(|r| r.method == method) {
        return Lookup::Allowed(rule.access);
    }
    if matching.is_empty() {
        Lookup::NoSuchPath
    } else {
        Lookup::WrongMethod(matching.iter().map(|r| r.method).collect())
    }
}

/// Whether `path` fits `pattern`, segment by segment.
fn matches(pattern: &str, path: &str) -> bool {
    let mut wanted = pattern.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// Middleware: answers 404, 405, 401 or 403 itself, or lets the request through with the
/// caller's [`Identity`] attached.
pub async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let lookup = lookup(&parts.method, parts.uri.path());
    if let Some(address) = client_address(&parts.extensions) {
        let signing_in = SIGN_IN_PATHS.contains(&parts.uri.path());
        if let Err(refused) = state.limits.check_address(address, signing_in) {
            return refused.into_response();
        }
    }
    match lookup {
        Lookup::NoSuchPath => return ApiError::not_found("no such endpoint").into_response(),
        Lookup::WrongMethod(allowed) => {
            let allowed = allowed.join(", ");
            let mut response = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} is not allowed here; allowed: {allowed}", parts.method),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&allowed) {
                response.headers_mut().insert(ALLOW, value);
            }
            return response;
        }
        Lookup::Allowed(Access::Public) => {}
        Lookup::Allowed(Access::Roles(roles)) => {
            let claims = match authenticate(state.sessions.keys(), &parts) {
                Ok(claims) => claims,
                Err(refused) => return refused.into_response(),
            };
            if state.sessions.is_revoked(claims.sid) {
                return unauthorized("this session has been signed out; sign in again");
            }
            let identity = Identity::from(claims);
            if !roles.contains(&identity.role) {
                return forbidden(identity.role, roles).into_response();
            }
            if let Err(refused) = state.limits.check_user(identity.user_id) {
                return refused.into_response();
            }
            parts.extensions.insert(identity);
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_with_an_id_finds_its_rule() {
        assert_eq!(
            lookup(&Method::POST, "/api/tickets/0191/accept"),
            Lookup::Allowed(WORKERS)
        );
        assert_eq!(
            lookup(&Method::GET, "/api/tickets/0191"),
            Lookup::Allowed(ANYONE_SIGNED_IN)
        );
        assert_eq!(
            lookup(&Method::HEAD, "/api/health"),
            Lookup::Allowed(Access::Public)
        );
    }

    #[test]
    fn a_known_path_with_another_method_names_the_allowed_ones() {
        assert_eq!(
            lookup(&Method::DELETE, "/api/tickets"),
            Lookup::WrongMethod(vec!["POST", "GET"])
        );
    }

    #[test]
    fn unknown_paths_and_look_alikes_match_no_rule() {
        for path in [
            "/api/tickets/",
            "/api/tickets/1/2/3",
            "/api/tickets//accept",
            "/api/ticketsx",
            "/api/tickets/1/launch",
            "/dashboard/secret",
            "/pages/secret.js",
            "/customer/1",
            "/api",
        ] {
            assert_eq!(lookup(&Method::GET, path), Lookup::NoSuchPath, "{path}");
            assert_eq!(lookup(&Method::POST, path), Lookup::NoSuchPath, "{path}");
        }
    }

    #[test]
    fn every_rule_is_unique() {
        for (i, a) in RULES.iter().enumerate() {
            for b in &RULES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }
}
