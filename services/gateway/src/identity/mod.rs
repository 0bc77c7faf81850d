//! Accounts and sign-in: users in the gateway's `identity` schema, argon2id password hashes,
//! sessions with short-lived access tokens and rotating refresh tokens.

pub mod password;
pub mod routes;
pub mod sessions;
pub mod store;
pub mod users;

use sqlx::PgPool;

use sysops_platform::auth::Role;
use sysops_platform::config::Secret;

/// Creates the first administrator from `ADMIN_EMAIL` and `ADMIN_PASSWORD` when no admin
/// exists yet; later starts leave the accounts alone.
pub async fn bootstrap_admin(
    db: &PgPool,
    email: Option<&str>,
    password: Option<&Secret>,
) -> anyhow::Result<()> {
    if store::any_admin(db).await? {
        return Ok(());
    }
    let (Some(email), Some(password)) = (email, password) else {
        tracing::warn!(
            "no administrator exists; set ADMIN_EMAIL and ADMIN_PASSWORD to create one at start"
        );
        return Ok(());
    };
    let user = routes::checked_new_user(
        email.to_owned(),
        password.expose().to_owned(),
        Some("Administrator".into()),
        Role::Admin,
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("ADMIN_EMAIL / ADMIN_PASSWORD: {}", e.error))?;
    match store::insert(db, &user).await? {
        Some(admin) => tracing::info!(email = %admin.email, "administrator created"),
        None => anyhow::bail!(
            "ADMIN_EMAIL {} belongs to an account that is not an active admin",
            user.email
        ),
    }
    Ok(())
}
