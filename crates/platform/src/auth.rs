//! Who is calling. The gateway signs in users and issues short-lived JSON Web Tokens; every
//! request to the API carries one as `Authorization: Bearer ...`, and the gateway and each
//! service check it the same way, here: HS256 only, signed with `JWT_SECRET`, issued by the
//! gateway for this API, not expired.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Secret;
use crate::http::ApiError;

/// The `iss` of every token.
const ISSUER: &str = "sysops-gateway";
/// The `aud` of every token.
const AUDIENCE: &str = "sysops-api";
/// Fewest bytes a signing secret may have (the HMAC-SHA-256 key length).
pub const MIN_SECRET_BYTES: usize = 32;
/// Seconds of clock difference between processes tolerated when checking `exp`.
pub const LEEWAY_SECS: u64 = 5;

/// What a user may do, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Submits tickets and follows their own.
    Customer,
    /// Works the tickets assigned to them.
    Expert,
    /// Sees everything, corrects categories, reassigns, reads the dashboards.
    Manager,
    /// A manager who also manages users and experts.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Customer, Role::Expert, Role::Manager, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Expert => "expert",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    /// Managers and admins: the help desk's staff, who see every ticket.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Manager | Role::Admin)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`; roles: customer, expert, manager, admin"))
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    pub role: Role,
    /// The user's e-mail address, recorded as who made a change.
    pub email: String,
    /// For experts, their id in the routing service's roster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert_id: Option<Uuid>,
    /// The sign-in session the token belongs to; logging out revokes it.
    pub sid: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signing and checking settings, from flags or the environment.
#[derive(Clone, clap::Args)]
pub struct AuthConfig {
    /// Secret the access tokens are signed with (HS256), at least 32 bytes; the gateway and
    /// every service must share it.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Secret,
}

impl AuthConfig {
    /// The settings tests run with: a fixed secret no deployment uses.
    pub fn for_tests() -> Self {
        AuthConfig {
            jwt_secret: "test-secret-for-the-test-suite-only-0123456789"
                .parse()
                .unwrap_or_default(),
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &self.jwt_secret)
            .finish()
    }
}

/// A signing secret that is too short to be safe.
#[derive(Debug, thiserror::Error)]
#[error("JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (it has {0}); generate one with `openssl rand -hex 32`")]
pub struct WeakSecret(usize);

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired; sign in again or renew it")]
    Expired,
    #[error("the access token is invalid: {0}")]
    Invalid(String),
}

/// Issues and checks access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys { .. }")
    }
}

impl TokenKeys {
    pub fn new(config: &AuthConfig) -> Result<Self, WeakSecret> {
        let secret = config.jwt_secret.expose().as_bytes();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret(secret.len()));
        }
        // Only HS256 is accepted: a token whose header names another algorithm (`none`, or a
        // public-key one whose key could be confused with the secret) is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = LEEWAY_SECS;
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// Signs a token for `user`, valid for `ttl` from now.
    pub fn issue(&self, user: &Identity, ttl: Duration) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.user_id,
            role: user.role,
            email: user.email.clone(),
            expert_id: user.expert_id,
            sid: user.session,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of serialisable claims cannot fail")
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::Invalid("bad signature".into()),
                ErrorKind::InvalidAlgorithm => {
                    TokenError::Invalid("only HS256 tokens are accepted".into())
                }
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                    TokenError::Invalid("not issued for this API".into())
                }
                _ => TokenError::Invalid(e.to_string()),
            }),
        }
    }
}

/// The signed-in user a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: Uuid,
    pub role: Role,
    pub email: String,
    /// For experts, their id in the roster.
    pub expert_id: Option<Uuid>,
    /// The sign-in session the token belongs to.
    pub session: Uuid,
}

impl Identity {
    pub fn is_staff(&self) -> bool {
        self.role.is_staff()
    }

    /// Refuses with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(forbidden(self.role, roles))
        }
    }

    /// Refuses with 403 unless the caller is a manager or an admin.
    pub fn require_staff(&self) -> Result<(), ApiError> {
        self.require(&[Role::Manager, Role::Admin])
    }

    /// How the caller is recorded as the author of a change: `email (role)`.
    pub fn author(&self) -> String {
        format!("{} ({})", self.email, self.role)
    }
}

impl From<Claims> for Identity {
    fn from(c: Claims) -> Self {
        Identity {
            user_id: c.sub,
            role: c.role,
            email: c.email,
            expert_id: c.expert_id,
            session: c.sid,
        }
    }
}

/// The 403 for a caller whose role is not among `allowed`.
pub fn forbidden(role: Role, allowed: &[Role]) -> ApiError {
    let allowed: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!("a {role} may not do this; allowed: {}", allowed.join(", ")),
    )
    .with_detail(serde_json::json!({ "role": role, "allowed": allowed }))
}

/// A request without a valid token: answered 401 with the `WWW-Authenticate` challenge
/// RFC 6750 asks for and a message saying what is wrong.
#[derive(Debug)]
pub struct Unauthorized(pub String);

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let mut response = ApiError::new(StatusCode::UNAUTHORIZED, self.0).into_response();
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"sysops\""),
        );
        response
    }
}

/// The 401 answer saying `message`.
pub fn unauthorized(message: impl Into<String>) -> Response {
    Unauthorized(message.into()).into_response()
}

/// The bearer token of a request, if it has one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The caller's identity from the request's token, or the 401 that says what is wrong.
pub fn authenticate(keys: &TokenKeys, parts: &Parts) -> Result<Claims, Unauthorized> {
    let Some(token) = bearer(parts) else {
        return Err(Unauthorized(
            "sign in first: send `Authorization: Bearer <token>` (POST /api/auth/login gives one)"
                .into(),
        ));
    };
    keys.verify(token).map_err(|e| Unauthorized(e.to_string()))
}

/// Handlers take the caller as an argument: `caller: Caller`. A request without a valid
/// token never reaches the handler.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl std::ops::Deref for Caller {
    type Target = Identity;

    fn deref(&self) -> &Identity {
        &self.0
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<TokenKeys>: FromRef<S>,
{
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(identity) = parts.extensions.get::<Identity>() {
            return Ok(Caller(identity.clone()));
        }
        let keys = Arc::<TokenKeys>::from_ref(state);
        let claims = authenticate(&keys, parts)?;
        Ok(Caller(claims.into()))
    }
}

/// Middleware for routes only managers and admins use: 401 without a valid token, 403 for
/// other roles. Apply with `axum::middleware::from_fn_with_state(keys, staff_only)`.
pub async fn staff_only(State(keys): State<Arc<TokenKeys>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let identity: Identity = match authenticate(&keys, &parts) {
        Ok(claims) => claims.into(),
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = identity.require_staff() {
        return refused.into_response();
    }
    parts.extensions.insert(identity);
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests;
