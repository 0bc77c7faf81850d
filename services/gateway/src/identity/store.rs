//! Users and sessions in the `identity` schema.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use sysops_platform::auth::{Identity, Role};

/// An account as stored; the API never shows the password hash.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    #[schema(value_type = sysops_platform::auth::Role)]
    pub role: RoleName,
    /// The routing expert an expert account works as.
    pub expert_id: Option<Uuid>,
    #[serde(skip)]
    #[schema(ignore)]
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A role as stored in a text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RoleName(pub Role);

impl TryFrom<String> for RoleName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse().map(RoleName)
    }
}

impl User {
    pub fn role(&self) -> Role {
        self.role.0
    }

    /// The user as signed in to session `session`.
    pub fn identity(&self, session: Uuid) -> Identity {
        Identity {
            user_id: self.id,
            role: self.role(),
            email: self.email.clone(),
            expert_id: self.expert_id,
            session,
        }
    }
}

/// A new account, checked.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub expert_id: Option<Uuid>,
    pub password_hash: String,
}

/// Inserts an account; `None` when the e-mail address is taken.
pub async fn insert(db: &PgPool, user: &NewUser) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO users (id, email, name, role, expert_id, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, now(), now()) ON CONFLICT (email) DO NOTHING RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(&user.email)
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(user.expert_id)
    .bind(&user.password_hash)
    .fetch_optional(db)
    .await
}

pub async fn by_email(db: &PgPool, email: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(db)
        .await
}

pub async fn by_id(db: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A page of accounts, oldest first, optionally of one role, and how many match.
pub async fn list(
    db: &PgPool,
    role: Option<Role>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<User>, i64), sqlx::Error> {
    let role = role.map(Role::as_str);
    let users = sqlx::query_as(
        "SELECT * FROM users WHERE $1::text IS NULL OR role = $1 \
         ORDER BY created_at, id LIMIT $2 OFFSET $3",
    )
    .bind(role)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE $1::text IS NULL OR role = $1")
            .bind(role)
            .fetch_one(db)
            .await?;
    Ok((users, total))
}

/// Writes an account's changeable fields back.
pub async fn update(db: &PgPool, user: &User) -> Result<User, sqlx::Error> {
    sqlx::query_as(
        "UPDATE users SET name = $2, role = $3, expert_id = $4, password_hash = $5, disabled = $6, \
         updated_at = now() WHERE id = $1 RETURNING *",
    )
    .bind(user.id)
    .bind(&user.name)
    .bind(user.role().as_str())
    .bind(user.expert_id)
    .bind(&user.password_hash)
    .bind(user.disabled)
    .fetch_one(db)
    .await
}

pub async fn any_admin(db: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND NOT disabled)")
        .fetch_one(db)
        .await
}

/// Opens a session whose refresh token has digest `refresh_hash`.
pub async fn open_session(
    db: &PgPool,
    user_id: Uuid,
    refresh_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO sessions (id, user_id, refresh_hash, created_at, renewed_at, expires_at) \
         VALUES ($1, $2, $3, now(), now(), $4)",
    )
    .bind(id)
    .bind(user_id)
    .bind(refresh_hash)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(id)
}

/// Replaces a live session's refresh token (found by the digest of the old one) and extends
/// it, keeping the old digest as spent; the session id and its user, or `None` when no live
/// session has that token.
pub async fn renew_session(
    db: &PgPool,
    old_hash: &[u8],
    new_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "WITH renewed AS (UPDATE sessions SET previous_hash = refresh_hash, refresh_hash = $2, \
         renewed_at = now(), expires_at = $3 \
         WHERE refresh_hash = $1 AND revoked_at IS NULL AND expires_at > now() \
         RETURNING id, user_id), \
         spent AS (INSERT INTO spent_refresh_tokens (hash, session_id) \
         SELECT $1, id FROM renewed ON CONFLICT DO NOTHING) \
         SELECT id, user_id FROM renewed",
    )
    .bind(old_hash)
    .bind(new_hash)
    .bind(expires_at)
    .fetch_optional(db)
    .await
}

/// The live session that already spent the refresh token with digest `hash`: one whose token
/// is being presented again.
pub async fn session_replaced(db: &PgPool, hash: &[u8]) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s.id FROM spent_refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         WHERE t.hash = $1 AND s.revoked_at IS NULL",
    )
    .bind(hash)
    .fetch_optional(db)
    .await
}

/// Revokes one session; the tokens it spent need no watching any more.
pub async fn revoke_session(db: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH revoked AS (UPDATE sessions SET revoked_at = now() \
         WHERE id = $1 AND revoked_at IS NULL RETURNING id) \
         DELETE FROM spent_refresh_tokens WHERE session_id IN (SELECT id FROM revoked)",
    )
    .bind(id)
    .execute(db)
    .await
    .map(drop)
}

/// Revokes every live session of a user; their ids.
pub async fn revoke_user_sessions(db: &PgPool, user_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH revoked AS (UPDATE sessions SET revoked_at = now() \
         WHERE user_id = $1 AND revoked_at IS NULL RETURNING id), \
         forgotten AS (DELETE FROM spent_refresh_tokens \
         WHERE session_id IN (SELECT id FROM revoked)) \
         SELECT id FROM revoked",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Sessions revoked at or after `since`.
pub async fn revoked_since(db: &PgPool, since: DateTime<Utc>) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM sessions WHERE revoked_at >= $1")
        .bind(since)
        .fetch_all(db)
        .await
}
