//! `/api/tickets`: create, read, list, history, and the lifecycle moves.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use sysops_contract::{
    Envelope, EventType, LifecycleMove, TicketCreated, TicketRecategorized, TicketStatus,
};
use sysops_platform::auth::{Caller, Identity, Role};
use sysops_platform::{ApiError, ApiJson};

use crate::domain::{access, Action, NewTicket, NewTicketRequest};
use crate::startup::AppState;
use crate::store::{HistoryEntry, ListQuery, Ticket};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tickets", post(create).get(list))
        .route("/api/tickets/{id}", get(fetch))
        .route("/api/tickets/{id}/history", get(history))
        .route("/api/tickets/{id}/category", put(recategorize))
        .route("/api/tickets/{id}/accept", post(accept))
        .route("/api/tickets/{id}/reject", post(reject))
        .route("/api/tickets/{id}/resolve", post(resolve))
        .route("/api/tickets/{id}/cancel", post(cancel))
        .route("/api/tickets/{id}/close", post(close))
}

/// The routes of this service, described for the gateway's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(create, list, fetch, history, recategorize, accept, reject, resolve, cancel, close),
    tags((name = "tickets", description = "Tickets and their lifecycle"))
)]
pub struct ApiDoc;

/// Submits a ticket. A customer submits for themselves; managers and admins enter tickets for
/// a customer (`customer`). The ticket is stored and announced before the answer.
#[utoipa::path(
    post, path = "/api/tickets", tag = "tickets", security(("bearer" = [])),
    request_body = NewTicketRequest,
    responses(
        (status = 201, description = "Stored; `Location` names it", body = Ticket,
         headers(("location" = String, description = "The ticket's URL"))),
        (status = 422, description = "A field is invalid; `detail` lists each one", body = sysops_platform::http::ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewTicketRequest>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(&[Role::Customer, Role::Manager, Role::Admin])?;
    // A customer submits for themselves; staff enter tickets for whoever called them.
    let owner = (caller.role == Role::Customer).then_some(caller.user_id);
    if owner.is_some() && req.customer.is_some() {
        return Err(ApiError::unprocessable(
            "customer is taken from your account; leave it out",
        ));
    }
    let new = NewTicket::parse(req).map_err(|errors| {
        let summary = errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::unprocessable(format!("invalid ticket: {summary}")).with_detail(json!(errors))
    })?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    let ticket = Ticket {
        id,
        title: new.title().to_owned(),
        description: new.description().to_owned(),
        customer: match owner {
            Some(_) => caller.email.clone(),
            None => new.customer().to_owned(),
        },
        customer_id: owner,
        region: new.region().map(str::to_owned),
        channel: new.channel().as_str().to_owned(),
        priority: new.priority().as_str().to_owned(),
        status: TicketStatus::New.as_str().to_owned(),
        category: None,
        confidence: None,
        method: None,
        needs_review: false,
        pool: None,
        assignee: None,
        assignee_name: None,
        created_at: now,
        updated_at: now,
        categorized_at: None,
        assigned_at: None,
        resolved_at: None,
    };
    let payload = TicketCreated {
        title: ticket.title.clone(),
        description: ticket.description.clone(),
        customer: ticket.customer.clone(),
        region: ticket.region.clone(),
        channel: new.channel(),
        priority: new.priority(),
    };
    let event = Envelope::new(EventType::TicketCreated, Some(id), payload)
        .to_raw()
        .map_err(|e| ApiError::internal(&e))?;
    state
        .store
        .insert(&ticket, &event)
        .await
        .map_err(ApiError::from_db)?;
    metrics::counter!("tickets_created_total", "channel" => ticket.channel.clone()).increment(1);
    tracing::info!(ticket_id = %id, "ticket created");
    let location = format!("/api/tickets/{id}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(ticket),
    ))
}

/// One ticket. Tickets the caller may not see answer 404, as if they did not exist.
#[utoipa::path(
    get, path = "/api/tickets/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The ticket's id")),
    responses(
        (status = 200, description = "The ticket", body = Ticket),
        (status = 404, description = "No such ticket, or not yours", body = sysops_platform::http::ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<Ticket>, ApiError> {
    let Path(id) = id?;
    visible(&state, &caller, id).await.map(Json)
}

/// The ticket, if it exists and `caller` may see it; a ticket the caller may not see is
/// reported as missing, so that ids of other people's tickets reveal nothing.
async fn visible(state: &AppState, caller: &Identity, id: Uuid) -> Result<Ticket, ApiError> {
    let ticket = state.store.get(id).await.map_err(ApiError::from_db)?;
    ticket
        .filter(|t| access::can_see(caller, t.parties()))
        .ok_or_else(|| ticket_not_found(id))
}

/// A ticket's history, oldest first.
#[derive(Debug, Serialize, ToSchema)]
struct TicketHistory {
    ticket_id: Uuid,
    events: Vec<HistoryEntry>,
}

/// Every event of a ticket, oldest first: what happened to it, when, and why.
#[utoipa::path(
    get, path = "/api/tickets/{id}/history", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The ticket's id")),
    responses(
        (status = 200, description = "The ticket's events", body = TicketHistory),
        (status = 404, description = "No such ticket, or not yours", body = sysops_platform::http::ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<TicketHistory>, ApiError> {
    let Path(id) = id?;
    visible(&state, &caller, id).await?;
    let events = state.store.history(id).await.map_err(ApiError::from_db)?;
    Ok(Json(TicketHistory {
        ticket_id: id,
        events,
    }))
}

/// Query string of `GET /api/tickets`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only tickets in this status.
    #[param(value_type = Option<sysops_contract::TicketStatus>)]
    status: Option<String>,
    /// Only tickets of this category.
    category: Option<String>,
    /// Only tickets of this skill pool.
    pool: Option<String>,
    /// Only tickets assigned to this expert (an expert always sees only their own).
    assignee: Option<Uuid>,
    /// Only tickets of this customer (a customer always sees only their own).
    customer: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Tickets to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
}

/// One page of tickets, newest first.
#[derive(Debug, Serialize, ToSchema)]
struct TicketPage {
    items: Vec<Ticket>,
    /// Tickets matching the filters, all pages together.
    total: i64,
    limit: i64,
    offset: i64,
    /// The offset of the next page; none on the last.
    next_offset: Option<i64>,
}

/// Lists tickets: a customer's own, an expert's assigned ones, every ticket for staff.
#[utoipa::path(
    get, path = "/api/tickets", tag = "tickets", security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of tickets", body = TicketPage),
        (status = 400, description = "A filter or the paging is invalid", body = sysops_platform::http::ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<TicketPage>, ApiError> {
    let Query(p) = params?;
    let status = p
        .status
        .as_deref()
        .map(str::parse::<TicketStatus>)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("{e}; known statuses: {}", known_statuses())))?;
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let offset = p.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::bad_request("offset must not be negative"));
    }
    let mut query = ListQuery {
        status,
        category: p.category,
        pool: p.pool,
        assignee: p.assignee,
        customer: p.customer,
        customer_id: None,
        limit,
        offset,
    };
    if let Some(scope) = access::list_scope(&caller) {
        query.customer_id = scope.customer_id;
        query.assignee = scope.assignee.or(query.assignee);
    }
    let (items, total) = state.store.list(&query).await.map_err(ApiError::from_db)?;
    let next_offset =
        (offset + (items.len() as i64) < total).then_some(offset + items.len() as i64);
    Ok(Json(TicketPage {
        items,
        total,
        limit,
        offset,
        next_offset,
    }))
}

/// Optional body of a lifecycle move; who makes it is the caller.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MoveRequest {
    /// Why, in a few words; up to 2,000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    reason: Option<String>,
}

type IdPath = Result<Path<Uuid>, PathRejection>;

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
async fn accept(state: State<AppState>, caller: Caller, id: IdPath, body: Bytes) -> MoveResult {
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
async fn reject(state: State<AppState>, caller: Caller, id: IdPath, body: Bytes) -> MoveResult {
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
async fn resolve(state: State<AppState>, caller: Caller, id: IdPath, body: Bytes) -> MoveResult {
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
async fn cancel(state: State<AppState>, caller: Caller, id: IdPath, body: Bytes) -> MoveResult {
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
async fn close(state: State<AppState>, caller: Caller, id: IdPath, body: Bytes) -> MoveResult {
    lifecycle_move(state, caller, id, Action::Close, body).await
}

type MoveResult = Result<Json<Ticket>, ApiError>;

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
    let req: MoveRequest = parse_optional_body(&body)?;
    check_length("reason", req.reason.as_deref(), 2000)?;

    let mut tx = state.store.begin().await.map_err(ApiError::from_db)?;
    let mut ticket = state
        .store
        .get_for_update(&mut tx, id)
        .await
        .map_err(ApiError::from_db)?
        .filter(|t| access::can_see(&caller, t.parties()))
        .ok_or_else(|| ticket_not_found(id))?;
    access::may(&caller, action)?;
    let next = action.apply(ticket.status()).map_err(|e| {
        ApiError::conflict(e.to_string()).with_detail(json!({ "status": ticket.status }))
    })?;
    let payload = LifecycleMove {
        by: caller.author(),
        reason: req.reason,
        assignee: ticket.assignee,
    };
    ticket.status = next.as_str().to_owned();
    match action {
        Action::Reject => {
            ticket.assignee = None;
            ticket.assignee_name = None;
        }
        Action::Resolve => ticket.resolved_at = Some(Utc::now()),
        _ => {}
    }
    let event = Envelope::new(action.event_type(), Some(id), payload)
        .to_raw()
        .map_err(|e| ApiError::internal(&e))?;
    state
        .store
        .commit_change(tx, &ticket, &event)
        .await
        .map_err(ApiError::from_db)?;
    tracing::info!(status = %next, "ticket moved");
    Ok(Json(ticket))
}

/// Body of `PUT /api/tickets/{id}/category`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CategoryRequest {
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
async fn recategorize(
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

fn parse_optional_body<T: Default + serde::de::DeserializeOwned>(
    body: &Bytes,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::unprocessable(format!("invalid request body: {e}"))
        }
        _ => ApiError::bad_request(format!("the body is not valid JSON: {e}")),
    })
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

fn ticket_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no ticket with id {id}"))
}

fn known_statuses() -> String {
    TicketStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
