//! `/api/auth` (sign-up, sign-in, renewal, sign-out, who am I) and `/api/users` (accounts,
//! managed by admins).

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use sysops_platform::auth::{unauthorized, Caller, Role};
use sysops_platform::http::ErrorBody;
use sysops_platform::{ApiError, ApiJson};

use super::password;
use super::sessions::TokenPair;
use super::store::{self, NewUser, RoleName, User};
use crate::startup::AppState;

const MAX_EMAIL_CHARS: usize = 254;
const MAX_NAME_CHARS: usize = 200;
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/auth/password", post(change_password))
        .route("/api/users", get(list).post(create))
        .route("/api/users/{id}", get(fetch).patch(update))
}

/// The identity routes, described for the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(register, login, refresh, logout, me, change_password, list, create, fetch, update),
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

/// Query string of `GET /api/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only accounts of this role.
    #[param(value_type = Option<Role>)]
    role: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Accounts to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
struct UserPage {
    items: Vec<User>,
    total: i64,
    limit: i64,
    offset: i64,
}

/// The accounts, oldest first.
#[utoipa::path(
    get, path = "/api/users", tag = "users", security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of accounts", body = UserPage),
        (status = 400, description = "A bad filter or paging", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<UserPage>, ApiError> {
    caller.require(&[Role::Admin])?;
    let Query(p) = params?;
    let role = p
        .role
        .as_deref()
        .map(str::parse::<Role>)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let offset = p.offset.unwrap_or(0).max(0);
    let (items, total) = store::list(&state.db, role, limit, offset)
        .await
        .map_err(ApiError::from_db)?;
    Ok(Json(UserPage {
        items,
        total,
        limit,
        offset,
    }))
}

/// Body of `POST /api/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    email: String,
    /// At least 10 characters.
    #[schema(min_length = 10, max_length = 256)]
    password: String,
    role: Role,
    name: Option<String>,
    /// For an expert account: the routing expert it works as (required).
    expert_id: Option<Uuid>,
}

/// An admin creates an account of any role.
#[utoipa::path(
    post, path = "/api/users", tag = "users", security(("bearer" = [])),
    request_body = NewAccount,
    responses(
        (status = 201, description = "Created; `Location` names it", body = User,
         headers(("location" = String, description = "The account's URL"))),
        (status = 409, description = "An account with this e-mail address exists", body = ErrorBody),
        (status = 422, description = "A field is not acceptable", body = ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewAccount>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let user = checked_new_user(req.email, req.password, req.name, req.role, req.expert_id).await?;
    let user = insert(&state, &user).await?;
    tracing::info!(user_id = %user.id, role = %user.role(), by = %caller.email, "account created");
    let location = format!("/api/users/{}", user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(user),
    ))
}

/// One account.
#[utoipa::path(
    get, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The account", body = User),
        (status = 404, description = "No such account", body = ErrorBody),
    )
)]
async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<User>, ApiError> {
    caller.require(&[Role::Admin])?;
    let Path(id) = id?;
    find(&state, id).await.map(Json)
}

/// Body of `PATCH /api/users/{id}`: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AccountChange {
    name: Option<String>,
    role: Option<Role>,
    expert_id: Option<Uuid>,
    disabled: Option<bool>,
    password: Option<String>,
}

/// An admin changes an account. A change of role, password or a disabling signs the user
/// out everywhere.
#[utoipa::path(
    patch, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The account's id")),
    request_body = AccountChange,
    responses(
        (status = 200, description = "Changed", body = User),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "Admins may not disable or demote themselves", body = ErrorBody),
        (status = 422, description = "A field is not acceptable", body = ErrorBody),
    )
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<Uuid>, PathRejection>,
    ApiJson(req): ApiJson<AccountChange>,
) -> Result<Json<User>, ApiError> {
    caller.require(&[Role::Admin])?;
    let Path(id) = id?;
    let mut user = find(&state, id).await?;
    let before = (user.role(), user.disabled);
    if id == caller.user_id
        && (req.disabled == Some(true) || req.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(ApiError::conflict(
            "admins may not disable or demote themselves; another admin can",
        ));
    }
    if let Some(name) = req.name {
        user.name = checked_name(&name)?;
    }
    if let Some(role) = req.role {
        user.role = RoleName(role);
    }
    if req.expert_id.is_some() {
        user.expert_id = req.expert_id;
    }
    if user.role() != Role::Expert {
        user.expert_id = None;
    }
    check_expert_link(user.role(), user.expert_id)?;
    if let Some(disabled) = req.disabled {
        user.disabled = disabled;
    }
    let new_password = req.password.is_some();
    if let Some(password) = req.password {
        user.password_hash = hashed(password).await?;
    }
    let user = store::update(&state.db, &user)
        .await
        .map_err(ApiError::from_db)?;
    if new_password || before != (user.role(), user.disabled) {
        state
            .sessions
            .revoke_user(&state.db, user.id)
            .await
            .map_err(ApiError::from_db)?;
    }
    tracing::info!(user_id = %user.id, by = %caller.email, "account changed");
    Ok(Json(user))
}

async fn find(state: &AppState, id: Uuid) -> Result<User, ApiError> {
    store::by_id(&state.db, id)
        .await
        .map_err(ApiError::from_db)?
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))
}

async fn insert(state: &AppState, user: &NewUser) -> Result<User, ApiError> {
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

async fn hashed(password: String) -> Result<String, ApiError> {
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

fn checked_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::unprocessable(format!(
            "name must have 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

/// An expert account works the tickets of one roster entry, so it must name it.
fn check_expert_link(role: Role, expert_id: Option<Uuid>) -> Result<(), ApiError> {
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
