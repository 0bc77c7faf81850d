//! Access tokens for tests, signed with the secret every test process runs with
//! ([`AuthConfig::for_tests`]), and HTTP clients that send one with every request.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use uuid::Uuid;

use sysops_platform::auth::{AuthConfig, Identity, Role, TokenKeys};

/// How long a test token lasts: longer than any test.
const TEST_TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);

/// A new identity of `role` (an expert gets a roster id of its own; see [`expert`]).
pub fn someone(role: Role) -> Identity {
    let user_id = Uuid::now_v7();
    Identity {
        user_id,
        role,
        email: format!("{role}-{}@test.example", user_id.simple()),
        expert_id: (role == Role::Expert).then(Uuid::now_v7),
        session: Uuid::now_v7(),
    }
}

/// An expert account working the roster entry `expert_id`.
pub fn expert(expert_id: Uuid) -> Identity {
    Identity {
        expert_id: Some(expert_id),
        ..someone(Role::Expert)
    }
}

/// A signed access token for `identity`.
pub fn token(identity: &Identity) -> String {
    TokenKeys::new(&AuthConfig::for_tests())
        .expect("the test secret is long enough")
        .issue(identity, TEST_TOKEN_TTL)
}

/// A client that calls as `identity`.
pub fn client_as(identity: &Identity) -> reqwest::Client {
    client_with_token(&token(identity))
}

/// A client that calls as a new user of `role`.
pub fn client_of(role: Role) -> reqwest::Client {
    client_as(&someone(role))
}

/// A client that sends `token` with every request.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    let mut value =
        HeaderValue::from_str(&format!("Bearer {token}")).expect("a JWT is a valid header value");
    value.set_sensitive(true);
    headers.insert(AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client with default headers")
}

/// The environment entry giving a service process the test signing secret.
pub fn secret_env() -> (String, String) {
    (
        "JWT_SECRET".into(),
        AuthConfig::for_tests().jwt_secret.expose().to_owned(),
    )
}
