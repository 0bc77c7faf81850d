//! The moves of a ticket's lifecycle (accept, reject, resolve, cancel, close), each checked
//! against who the caller is and what the ticket's status allows, and a manager's choice of
//! category.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use sysops_contract::{Envelope, EventType, LifecycleMove, TicketRecategorized};
use sysops_platform::auth::Caller;
use sysops_platform::http::optional_json;
use sysops_platform::{ApiError, ApiJson};

use super::tickets::ticket_not_found;
use crate::domain::{access, Action};
use crate::startup::AppState;
use crate::store::Ticket;

/// Optional body of a lifecycle move; who makes it is the caller.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MoveRequest {
    /// Why, in a few words; up to 2,000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    reason: Option<String>,
}

pub(super) type IdPath = Result<Path<Uuid>, PathRejection>;

/// The assigned expert takes the ticket on (`assigned` to `accepted`).
#[utoipa::path(
    post, path = "/api/tickets/{id}/accept", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The ticket's id")),
    request_body(content = Option<MoveRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Accepted", body = Ticket),
        (status = 404, description = "No such ticket, or not assigned to you", body = sysops_platform::http::ErrorBody),
        (status = 409, description = "Not in a state that allows it; `detail.status` says which", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn accept(
    state: State<AppState>,
    caller: Caller,
    id: IdPath,
    body: Bytes,
) -> MoveResult {
    lifecycle_move(state, caller, id, Action::Accept, body).await
}

/// The assigned expert gives the ticket back; routing offers it to another expert.
#[utoipa::path(
    post, path = "/api/tickets/{id}/reject", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The ticket's id")),
    request_body(content = Option<MoveRequest>, description = "Optional: why"),
    responses(
        (status = 200, description = "Rejected; routing reassigns it", body = Ticket),
        (status = 404, description = "No such ticket, or not assigned to you", body = sysops_platform::http::ErrorBody),
        (status = 409, description = "Not in a state that allows it", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn reject(
    state: State<AppState>,
    caller: Caller,
    id: IdPath,
    body: Bytes,
) -> MoveResult {
    lifecycle_move(state, caller, id, Action::Reject, body).await
}

/// The expert fixed it.
#[utoipa::path(
    post, path = "/api/tickets/{id}/resolve", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The ticket's id")),
    request_body(content = Option<MoveRequest>, description = "Optional: what was done"),
    responses(
        (status = 200, description = "Resolved", body = Ticket),
        (status = 404, description = "No such ticket, or not assigned to you", body = sysops_platform::http::ErrorBody),
        (status = 409, description = "Not in a state that allows it", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn resolve(
    state: State<AppState>,
    caller: Caller,
    id: IdPath,
    body: Bytes,
) -> MoveResult {
    lifecycle_move(state, caller, id, Action::Resolve, body).await
}

/// The customer withdraws the ticket before it is resolved.
#[utoipa::path(
    post, path = "/api/tickets/{id}/cancel", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The ticket's id")),
    request_body(content = Option<MoveRequest>, description = "Optional: why"),
    responses(
        (status = 200, description = "Cancelled", body = Ticket),
        (status = 404, description = "No such ticket, or not yours", body = sysops_platform::http::ErrorBody),
        (status = 409, description = "Not in a state that allows it", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn cancel(
    state: State<AppState>,
    caller: Caller,
    id: IdPath,
    body: Bytes,
) -> MoveResult {
    lifecycle_move(state, caller, id, Action::Cancel, body).await
}

/// The customer confirms the fix.
#[utoipa::path(
    post, path = "/api/tickets/{id}/close", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The ticket's id")),
    request_body(content = Option<MoveRequest>, description = "Optional: a remark"),
    responses(
        (status = 200, description = "Closed", body = Ticket),
        (status = 404, description = "No such ticket, or not yours", body = sysops_platform::http::ErrorBody),
        (status = 409, description = "Not in a state that allows it", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn close(
    state: State<AppState>,
    caller: Caller,
    id: IdPath,
    body: Bytes,
) -> MoveResult {
    lifecycle_move(state, caller, id, Action::Close, body).await
}

pub(super) type MoveResult = Result<Json<Ticket>, ApiError>;

/// Times a move is decided again when the ticket changed under it before giving up (409).
const MOVE_ATTEMPTS: usize = 5;

#[tracing::instrument(skip_all, fields(ticket_id, action = action.verb()))]
async fn lifecycle_move(
    State(state): State<AppState>,
    caller: Caller,
    id: IdPath,
    action: Action,
    body: Bytes,
) -> MoveResult {
    let Path(id) = id?;
    tracing::Span::current().record("ticket_id", tracing::field::display(id));
    let req: MoveRequest = optional_json(&body)?;
    check_length("reason", req.reason.as_deref(), 2000)?;

    // Decided on the ticket as read, written only if its status and assignee are still those
    // (`Store::apply_move`); otherwise decided again on what it has become.
    for _ in 0..MOVE_ATTEMPTS {
        let before = state
            .store
            .get(id)
            .await
            .map_err(ApiError::from_db)?
            .filter(|t| access::can_see(&caller, t.parties()))
            .ok_or_else(|| ticket_not_found(id))?;
        access::may(&caller, action)?;
        let next = action.apply(before.status()).map_err(|e| {
            ApiError::conflict(e.to_string()).with_detail(json!({ "status": before.status }))
        })?;
        let payload = LifecycleMove {
            by: caller.author(),
            reason: req.reason.clone(),
            assignee: before.assignee,
        };
        let mut after = before.clone();
        after.status = next.as_str().to_owned();
        match action {
            Action::Reject => {
                after.assignee = None;
                after.assignee_name = None;
            }
            Action::Resolve => after.resolved_at = Some(Utc::now()),
            _ => {}
        }
        let event = Envelope::new(action.event_type(), Some(id), payload)
            .to_raw()
            .map_err(|e| ApiError::internal(&e))?;
        if let Some(moved) = state
            .store
            .apply_move(&before, &after, &event)
            .await
            .map_err(ApiError::from_db)?
        {
            tracing::info!(status = %next, "ticket moved");
            return Ok(Json(moved));
        }
        tracing::debug!("the ticket changed while the move was decided; deciding again");
    }
    Err(ApiError::conflict(
        "the ticket kept changing while the move was made; try again",
    ))
}

/// Body of `PUT /api/tickets/{id}/category`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CategoryRequest {
    /// A category of the taxonomy.
    category: String,
}

/// A manager sets the category by hand; the ticket goes back to routing for the new pool, and
/// the categorizer learns from the correction.
#[utoipa::path(
    put, path = "/api/tickets/{id}/category", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The ticket's id")),
    request_body = CategoryRequest,
    responses(
        (status = 200, description = "Recategorized", body = Ticket),
        (status = 404, description = "No such ticket", body = sysops_platform::http::ErrorBody),
        (status = 409, description = "The ticket is finished", body = sysops_platform::http::ErrorBody),
        (status = 422, description = "Not a category of the taxonomy; `detail.known` lists them", body = sysops_platform::http::ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(ticket_id))]
pub(super) async fn recategorize(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<Uuid>, PathRejection>,
    ApiJson(req): ApiJson<CategoryRequest>,
) -> Result<Json<Ticket>, ApiError> {
    let Path(id) = id?;
    tracing::Span::current().record("ticket_id", tracing::field::display(id));
    access::may(&caller, Action::Recategorize)?;
    if state.taxonomy.category(&req.category).is_none() {
        let known: Vec<&str> = state
            .taxonomy
            .categories()
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        return Err(
            ApiError::unprocessable(format!("unknown category `{}`", req.category))
                .with_detail(json!({ "known": known })),
        );
    }
    let mut tx = state.store.begin().await.map_err(ApiError::from_db)?;
    let mut ticket = state
        .store
        .get_for_update(&mut tx, id)
        .await
        .map_err(ApiError::from_db)?
        .ok_or_else(|| ticket_not_found(id))?;
    let next = Action::Recategorize.apply(ticket.status()).map_err(|e| {
        ApiError::conflict(e.to_string()).with_detail(json!({ "status": ticket.status }))
    })?;
    let payload = TicketRecategorized {
        from: ticket.category.clone(),
        to: req.category.clone(),
        by: caller.author(),
        text: Some(format!("{}\n{}", ticket.title, ticket.description)),
        priority: ticket.priority.parse().unwrap_or_default(),
        region: ticket.region.clone(),
    };
    ticket.status = next.as_str().to_owned();
    ticket.category = Some(req.category);
    ticket.confidence = Some(1.0);
    ticket.method = Some("human".into());
    ticket.needs_review = false;
    ticket.pool = None;
    ticket.categorized_at = Some(Utc::now());
    let event = Envelope::new(EventType::TicketRecategorized, Some(id), payload)
        .to_raw()
        .map_err(|e| ApiError::internal(&e))?;
    state
        .store
        .commit_change(tx, &ticket, &event)
        .await
        .map_err(ApiError::from_db)?;
    Ok(Json(ticket))
}

/// Checks a free-text field a person supplies.
fn check_length(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(ApiError::unprocessable(format!(
            "{field} must not be empty"
        ))),
        Some(v) if v.chars().count() > max => Err(ApiError::unprocessable(format!(
            "{field} must be at most {max} characters"
        ))),
        _ => Ok(()),
    }
}
