//! Tokens: what is accepted and what is refused.

use super::*;

fn keys() -> TokenKeys {
    TokenKeys::new(&AuthConfig::for_tests()).expect("the test secret is long enough")
}

fn alice() -> Identity {
    Identity {
        user_id: Uuid::now_v7(),
        role: Role::Expert,
        email: "alice@example.com".into(),
        expert_id: Some(Uuid::now_v7()),
        session: Uuid::now_v7(),
    }
}

#[test]
fn an_issued_token_verifies_to_the_same_identity() {
    let keys = keys();
    let alice = alice();
    let token = keys.issue(&alice, Duration::from_secs(60));
    let claims = keys.verify(&token).expect("a fresh token is valid");
    assert_eq!(Identity::from(claims), alice);
}

fn claims_of(keys: &TokenKeys, token: &str) -> Claims {
    keys.verify(token).expect("valid")
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let other = TokenKeys::new(&AuthConfig {
        jwt_secret: "another-secret-of-enough-length-0123456789"
            .parse()
            .unwrap_or_default(),
    })
    .expect("long enough");
    let token = other.issue(&alice(), Duration::from_secs(60));
    assert!(matches!(keys().verify(&token), Err(TokenError::Invalid(_))));
}

#[test]
fn an_expired_token_is_refused_as_expired() {
    let keys = keys();
    let mut claims = claims_of(&keys, &keys.issue(&alice(), Duration::from_secs(60)));
    claims.exp = chrono::Utc::now().timestamp() - 60;
    let secret = AuthConfig::for_tests().jwt_secret;
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .expect("signs");
    assert!(matches!(keys.verify(&token), Err(TokenError::Expired)));
}

#[test]
fn a_tampered_or_unsigned_token_is_refused() {
    let keys = keys();
    let token = keys.issue(&alice(), Duration::from_secs(60));
    let mut pieces: Vec<String> = token.split('.').map(str::to_owned).collect();
    // The payload promoted to admin, the signature kept.
    let mut claims = claims_of(&keys, &token);
    claims.role = Role::Admin;
    let forged = serde_json::to_vec(&claims).expect("serialises");
    pieces[1] = base64_url(&forged);
    assert!(keys.verify(&pieces.join(".")).is_err());
    // The same claims with `alg: none` and no signature.
    let none = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
    assert!(keys.verify(&format!("{none}.{}.", pieces[1])).is_err());
    // Signed with HS512 under the right secret: a different algorithm is still refused.
    let secret = AuthConfig::for_tests().jwt_secret;
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .expect("signs");
    assert!(keys.verify(&hs512).is_err());
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn a_short_secret_is_refused_at_start() {
    let config = AuthConfig {
        jwt_secret: "short".parse().unwrap_or_default(),
    };
    assert!(TokenKeys::new(&config).is_err());
}

#[test]
fn roles_parse_from_their_names_and_only_managers_and_admins_are_staff() {
    for role in Role::ALL {
        assert_eq!(role.as_str().parse::<Role>(), Ok(role));
    }
    assert!("root".parse::<Role>().is_err());
    let staff: Vec<Role> = Role::ALL.into_iter().filter(|r| r.is_staff()).collect();
    assert_eq!(staff, [Role::Manager, Role::Admin]);
}
