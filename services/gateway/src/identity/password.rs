//! Passwords: checked against a minimal policy, stored only as argon2id hashes (PHC strings
//! carrying their own salt and parameters), hashed and verified off the async workers since
//! each takes tens of milliseconds of CPU on purpose.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// Fewest characters a password may have.
pub const MIN_CHARS: usize = 10;
/// Most characters a password may have (hashing cost grows with length).
pub const MAX_CHARS: usize = 256;

/// What is wrong with a proposed password, or `None`.
pub fn weakness(password: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        Some(format!(
            "password must have at least {MIN_CHARS} characters"
        ))
    } else if chars > MAX_CHARS {
        Some(format!("password must have at most {MAX_CHARS} characters"))
    } else if password.trim().is_empty() {
        Some("password must not be only spaces".into())
    } else {
        None
    }
}

/// The argon2id hash of `password`, with a fresh salt and the crate's recommended parameters.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// Whether `password` matches the stored `hash`. With no hash (an unknown account) a dummy
/// hash is verified instead, so that the answer takes as long either way.
pub async fn verify(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let stored = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            tracing::error!("a stored password hash is not a PHC string");
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
    .unwrap_or(false)
}

/// A well-formed argon2id hash, with the default parameters, that no known password matches.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c3lzb3BzLWR1bW15LXNhbHQ$1n2bXSbTkMHPjO2rsKQr6sBLVN+MImqZsQ2sZrQ5y2U";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let stored = hash("correct horse battery".into()).await.expect("hashes");
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await);
        assert!(!verify("correct horse battery!".into(), Some(stored)).await);
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!verify("anything at all".into(), None).await);
    }

    #[test]
    fn the_dummy_hash_is_a_valid_argon2id_hash() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn short_and_blank_passwords_are_refused() {
        assert!(weakness("short").is_some());
        assert!(weakness("          ").is_some());
        assert!(weakness(&"x".repeat(MAX_CHARS + 1)).is_some());
        assert!(weakness("long enough password").is_none());
    }
}
