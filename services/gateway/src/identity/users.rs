//! `/api/users`: accounts, managed by admins. Creating one checks it as a sign-up does; a change
//! of role or password, or a disabling, signs the user out everywhere.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use sysops_platform::auth::{Caller, Role};
use sysops_platform::http::ErrorBody;
use sysops_platform::{ApiError, ApiJson};

use super::routes::{check_expert_link, checked_name, checked_new_user, find, hashed, insert};
use super::store::{self, RoleName, User};
use crate::startup::AppState;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

/// Query string of `GET /api/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListParams {
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
pub(super) struct UserPage {
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
pub(super) async fn list(
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
pub(super) struct NewAccount {
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
pub(super) async fn create(
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
pub(super) async fn fetch(
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
pub(super) struct AccountChange {
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
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<Uuid>, PathRejection>,
    ApiJson(req): ApiJson<AccountChange>,
) -> Result<Json<User>, ApiError> {
    caller.require(&[Role::Admin])?;
    let Path(id) = id?;
    let mut user = find(&state, id).await?;
    // What the account's tokens carry or depend on: a change ends its sessions.
    let before = (user.role(), user.disabled, user.expert_id);
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
    if new_password || before != (user.role(), user.disabled, user.expert_id) {
        state
            .sessions
            .revoke_user(&state.db, user.id)
            .await
            .map_err(ApiError::from_db)?;
    }
    tracing::info!(user_id = %user.id, by = %caller.email, "account changed");
    Ok(Json(user))
}
