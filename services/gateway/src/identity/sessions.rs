//! Sign-in sessions: a pair of tokens per sign-in (a short-lived access token, and a refresh
//! token that renews it and is replaced at every renewal), sign-out, and the set of revoked
//! sessions whose access tokens are refused although not yet expired.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use sysops_platform::auth::TokenKeys;

use super::store::{self, User};

/// How often the revoked sessions are read again, so that a sign-out on another gateway
/// replica takes effect here too.
const SYNC_EVERY: Duration = Duration::from_secs(2);

/// What signing in or renewing answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// Send it as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    pub expires_at: DateTime<Utc>,
    /// Renews the pair once, at `POST /api/auth/refresh`.
    pub refresh_token: String,
    pub user: User,
}

/// Issues, renews and revokes sessions.
#[derive(Debug)]
pub struct Sessions {
    keys: Arc<TokenKeys>,
    access_ttl: Duration,
    refresh_ttl: Duration,
    /// Revoked sessions whose access tokens may still be unexpired.
    revoked: RwLock<HashSet<Uuid>>,
    /// Sessions revoked here, and when: a sync that read the database just before one of them
    /// must not drop it from `revoked`.
    revoked_here: Mutex<HashMap<Uuid, Instant>>,
}

impl Sessions {
    pub fn new(keys: Arc<TokenKeys>, access_ttl: Duration, refresh_ttl: Duration) -> Self {
        Sessions {
            keys,
            access_ttl,
            refresh_ttl,
            revoked: RwLock::default(),
            revoked_here: Mutex::default(),
        }
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// Opens a session for `user`.
    pub async fn sign_in(&self, db: &PgPool, user: User) -> Result<TokenPair, sqlx::Error> {
        let (refresh_token, digest) = new_refresh_token();
        let sid = store::open_session(db, user.id, &digest, self.refresh_expiry()).await?;
        Ok(self.pair(sid, user, refresh_token))
    }

    /// Renews the session a refresh token belongs to, replacing the token; `None` when the
    /// token is unknown, already replaced, revoked or expired, or its user is disabled. A
    /// token that was already replaced means two parties hold the session (the token was
    /// copied): the session is ended for both.
    pub async fn renew(
        &self,
        db: &PgPool,
        refresh_token: &str,
    ) -> Result<Option<TokenPair>, sqlx::Error> {
        let (new_token, new_digest) = new_refresh_token();
        let presented = digest(refresh_token);
        let renewed =
            store::renew_session(db, &presented, &new_digest, self.refresh_expiry()).await?;
        let Some((sid, user_id)) = renewed else {
            if let Some(sid) = store::session_replaced(db, &presented).await? {
                tracing::warn!(session = %sid, "a spent refresh token was presented again; session ended");
                metrics::counter!("gateway_refresh_token_reuse_total").increment(1);
                self.revoke(db, sid).await?;
            }
            return Ok(None);
        };
        match store::by_id(db, user_id).await? {
            Some(user) if !user.disabled => Ok(Some(self.pair(sid, user, new_token))),
            _ => {
                self.revoke(db, sid).await?;
                Ok(None)
            }
        }
    }

    /// Ends a session: its refresh token no longer renews, its access tokens are refused.
    pub async fn revoke(&self, db: &PgPool, sid: Uuid) -> Result<(), sqlx::Error> {
        store::revoke_session(db, sid).await?;
        self.mark_revoked([sid]);
        Ok(())
    }

    /// Ends every session of a user (disabled, demoted, or with a new password).
    pub async fn revoke_user(&self, db: &PgPool, user_id: Uuid) -> Result<(), sqlx::Error> {
        let sids = store::revoke_user_sessions(db, user_id).await?;
        self.mark_revoked(sids);
        Ok(())
    }

    pub fn is_revoked(&self, sid: Uuid) -> bool {
        self.revoked
            .read()
            .map(|set| set.contains(&sid))
            .unwrap_or(true)
    }

    fn mark_revoked(&self, sids: impl IntoIterator<Item = Uuid>) {
        let sids: Vec<Uuid> = sids.into_iter().collect();
        if let Ok(mut here) = self.revoked_here.lock() {
            here.extend(sids.iter().map(|&sid| (sid, Instant::now())));
        }
        if let Ok(mut set) = self.revoked.write() {
            set.extend(sids);
        }
    }

    /// Keeps the revoked set equal to the sessions revoked within an access token's lifetime,
    /// until `shutdown`. While the database is unreachable the last set is kept.
    pub async fn sync_revocations(self: Arc<Self>, db: PgPool, shutdown: CancellationToken) {
        // An access token is taken until its expiry plus the checks' leeway for clock
        // differences; a revocation is kept at least that long, and two syncs more.
        let lifetime = self.access_ttl + Duration::from_secs(sysops_platform::auth::LEEWAY_SECS);
        let kept = lifetime + SYNC_EVERY * 2;
        let window = chrono::Duration::from_std(kept).unwrap_or(chrono::Duration::MAX);
        loop {
            match store::revoked_since(&db, Utc::now() - window).await {
                Ok(sids) => {
                    let mut fresh: HashSet<Uuid> = sids.into_iter().collect();
                    if let Ok(mut here) = self.revoked_here.lock() {
                        here.retain(|_, at| at.elapsed() < kept);
                        fresh.extend(here.keys().copied());
                    }
                    if let Ok(mut set) = self.revoked.write() {
                        *set = fresh;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read revoked sessions; keeping the last set")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(SYNC_EVERY) => {}
            }
        }
    }

    fn pair(&self, sid: Uuid, user: User, refresh_token: String) -> TokenPair {
        let access_token = self.keys.issue(&user.identity(sid), self.access_ttl);
        TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: self.access_ttl.as_secs(),
            expires_at: Utc::now()
                + chrono::Duration::from_std(self.access_ttl).unwrap_or(chrono::Duration::MAX),
            refresh_token,
            user,
        }
    }

    fn refresh_expiry(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.refresh_ttl).unwrap_or(chrono::Duration::MAX)
    }
}

/// A new refresh token (256 random bits, base64url) and its digest, which is all that is
/// stored.
fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let digest = digest(&token);
    (token, digest)
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_unique_and_only_their_digest_matches() {
        let (a, digest_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(digest(&a), digest_a);
        assert_ne!(digest(&b), digest_a);
    }
}
