//! `/api/auth` (sign-up, sign-in, renewal, sign-out, who am I, password change), the routes of
//! `/api/users` (in [`super::users`]), and the checks every new or changed account passes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use sysops_platform::auth::{unauthorized, Caller, Role};
use sysops_platform::http::ErrorBody;
use sysops_platform::{ApiError, ApiJson};

use super::sessions::TokenPair;
use super::store::{self, NewUser, User};
use super::{password, users};
use crate::startup::AppState;

const MAX_EMAIL_CHARS: usize = 254;
const MAX_NAME_CHARS: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/auth/password", post(change_password))
        .route("/api/users", get(users::list).post(users::create))
        .route("/api/users/{id}", get(users::fetch).patch(users::update))
}

/// The identity routes, described for the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        register,
        login,
        refresh,
        logout,
        me,
        change_password,
        users::list,
        users::create,
        users::fetch,
        users::update
    ),
    tags(
        (name = "auth", description = "Sign-up, sign-in, renewal and sign-out"),
        (name = "users", description = "Accounts, managed by admins"),
    )
)]
pub struct ApiDoc;

/// Body of `POST /api/auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Registration {
    email: String,
    /// At least 10 characters.
    #[schema(min_length = 10, max_length = 256)]
    password: String,
    name: Option<String>,
}

/// A customer signs up and is signed in.
#[utoipa::path(
    post, path = "/api/auth/register", tag = "auth",
    request_body = Registration,
    responses(
        (status = 201, description = "Signed up and signed in", body = TokenPair),
        (status = 409, description = "An account with this e-mail address exists", body = ErrorBody),
        (status = 422, description = "The address or password is not acceptable", body = ErrorBody),
    )
)]
async fn register(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Registration>,
) -> Result<impl IntoResponse, ApiError> {
    let user = checked_new_user(req.email, req.password, req.name, Role::Customer, None).await?;
    let user = insert(&state, &user).await?;
    tracing::info!(user_id = %user.id, "customer registered");
    let pair = state
        .sessions
        .sign_in(&state.db, user)
        .await
        .map_err(ApiError::from_db)?;
    Ok((StatusCode::CREATED, Json(pair)))
}

/// Body of `POST /api/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

/// Signs in: a short-lived access token and a refresh token.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Wrong e-mail address or password", body = ErrorBody),
        (status = 403, description = "The account is disabled", body = ErrorBody),
    )
)]
async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Credentials>,
) -> Result<Json<TokenPair>, axum::response::Response> {
    let email = normalized_email(&req.email);
    let user = store::by_email(&state.db, &email)
        .await
        .map_err(|e| ApiError::from_db(e).into_response())?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    if !password::verify(req.password, hash).await {
        metrics::counter!("gateway_sign_ins_total", "outcome" => "refused").increment(1);
        return Err(unauthorized("wrong e-mail address or password"));
    }
    let user = user.ok_or_else(|| unauthorized("wrong e-mail address or password"))?;
    if user.disabled {
        metrics::counter!("gateway_sign_ins_total", "outcome" => "disabled").increment(1);
        return Err(
            ApiError::new(StatusCode::FORBIDDEN, "this account is disabled").into_response(),
        );
    }
    metrics::counter!("gateway_sign_ins_total", "outcome" => "signed_in").increment(1);
    state
        .sessions
        .sign_in(&state.db, user)
        .await
        .map(Json)
        .map_err(|e| ApiError::from_db(e).into_response())
}

/// Body of `POST /api/auth/refresh`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Renewal {
    refresh_token: String,
}

/// Renews a session: a new pair for the refresh token, which is spent. A spent token
/// presented again ends the session.
#[utoipa::path(
    post, path = "/api/auth/refresh", tag = "auth",
    request_body = Renewal,
    responses(
        (status = 200, description = "Renewed", body = TokenPair),
        (status = 401, description = "Unknown, spent, revoked or expired", body = ErrorBody),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Renewal>,
) -> Result<Json<TokenPair>, axum::response::Response> {
    let renewed = state
        .sessions
        .renew(&state.db, &req.refresh_token)
        .await
        .map_err(|e| ApiError::from_db(e).into_response())?;
    renewed.map(Json).ok_or_else(|| {
        unauthorized(
            "the refresh token is unknown, already used, revoked or expired; sign in again",
        )
    })
}

/// Ends the caller's session; its tokens stop working.
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Signed out"))
)]
async fn logout(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    state
        .sessions
        .revoke(&state.db, caller.session)
        .await
        .map_err(ApiError::from_db)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(
    get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = User),
        (status = 404, description = "The account no longer exists", body = ErrorBody),
    )
)]
async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<User>, ApiError> {
    store::by_id(&state.db, caller.user_id)
        .await
        .map_err(ApiError::from_db)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("the account no longer exists"))
}

/// Body of `POST /api/auth/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    /// At least 10 characters.
    #[schema(min_length = 10, max_length = 256)]
    new_password: String,
}

/// The caller changes their own password. Every session of theirs ends (a stolen token or
/// refresh token stops working), and the answer signs them in anew.
#[utoipa::path(
    post, path = "/api/auth/password", tag = "auth", security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed; a new session", body = TokenPair),
        (status = 404, description = "The account no longer exists", body = ErrorBody),
        (status = 422, description = "The current password is wrong, or the new one is not acceptable", body = ErrorBody),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<Json<TokenPair>, ApiError> {
    let mut user = find(&state, caller.user_id).await?;
    if !password::verify(req.current_password, Some(user.password_hash.clone())).await {
        return Err(ApiError::unprocessable("the current password is wrong")
            .with_detail(serde_json::json!({ "field": "current_password" })));
    }
    user.password_hash = hashed(req.new_password).await?;
    let user = store::update(&state.db, &user)
        .await
        .map_err(ApiError::from_db)?;
    state
        .sessions
        .revoke_user(&state.db, user.id)
        .await
        .map_err(ApiError::from_db)?;
    tracing::info!(user_id = %user.id, "password changed; every session ended");
    state
        .sessions
        .sign_in(&state.db, user)
        .await
        .map(Json)
        .map_err(ApiError::from_db)
}

pub(super) async fn find(state: &AppState, id: Uuid) -> Result<User, ApiError> {
    store::by_id(&state.db, id)
        .await
        .map_err(ApiError::from_db)?
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))
}

pub(super) async fn insert(state: &AppState, user: &NewUser) -> Result<User, ApiError> {
    store::insert(&state.db, user)
        .await
        .map_err(ApiError::from_db)?
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "an account with the e-mail address {} exists",
                user.email
            ))
        })
}

/// Checks every field of a new account, hashing its password.
pub async fn checked_new_user(
    email: String,
    password: String,
    name: Option<String>,
    role: Role,
    expert_id: Option<Uuid>,
) -> Result<NewUser, ApiError> {
    let email = checked_email(&email)?;
    let name = match name {
        Some(name) => checked_name(&name)?,
        None => email.split('@').next().unwrap_or_default().to_owned(),
    };
    check_expert_link(role, expert_id)?;
    Ok(NewUser {
        password_hash: hashed(password).await?,
        email,
        name,
        role,
        expert_id: expert_id.filter(|_| role == Role::Expert),
    })
}

pub(super) async fn hashed(password: String) -> Result<String, ApiError> {
    if let Some(problem) = password::weakness(&password) {
        return Err(ApiError::unprocessable(problem));
    }
    password::hash(password)
        .await
        .map_err(|e| ApiError::internal(e.as_ref()))
}

fn normalized_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn checked_email(email: &str) -> Result<String, ApiError> {
    let email = normalized_email(email);
    let well_formed = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if well_formed {
        Ok(email)
    } else {
        Err(ApiError::unprocessable(format!(
            "`{email}` is not an e-mail address"
        )))
    }
}

pub(super) fn checked_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::unprocessable(format!(
            "name must have 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

/// An expert account works the tickets of one roster entry, so it must name it.
pub(super) fn check_expert_link(role: Role, expert_id: Option<Uuid>) -> Result<(), ApiError> {
    if role == Role::Expert && expert_id.is_none() {
        return Err(ApiError::unprocessable(
            "an expert account needs expert_id: the expert's id in /api/experts",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mail_addresses_are_normalised_and_malformed_ones_refused() {
        assert_eq!(
            checked_email("  Ada@Example.COM ").expect("valid"),
            "ada@example.com"
        );
        for bad in [
            "ada",
            "@example.com",
            "ada@example",
            "ada@.com",
            "a da@example.com",
            "ada@@example.com",
        ] {
            assert!(checked_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_expert_account_must_name_its_roster_entry() {
        assert!(check_expert_link(Role::Expert, None).is_err());
        assert!(check_expert_link(Role::Expert, Some(Uuid::now_v7())).is_ok());
        assert!(check_expert_link(Role::Customer, None).is_ok());
    }
}
