//! `/api/tickets`: create, read, list, history, and the lifecycle moves.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use sysops_contract::{
    Envelope, EventType, LifecycleMove, TicketCreated, TicketRecategorized, TicketStatus,
};
use sysops_platform::auth::{Caller, Identity, Role};
use sysops_platform::{ApiError, ApiJson};

use crate::domain::{access, Action, NewTicket, NewTicketRequest};
use crate::startup::AppState;
use crate::store::{ListQuery, Ticket};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tickets", post(create).get(list))
        .route("/api/tickets/{id}", get(fetch))
        .route("/api/tickets/{id}/history", get(history))
        .route("/api/tickets/{id}/category", put(recategorize))
        .route("/api/tickets/{id}/{action}", post(lifecycle_move))
}

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

#[tracing::instrument(skip_all)]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(id) = id?;
    visible(&state, &caller, id).await?;
    let events = state.store.history(id).await.map_err(ApiError::from_db)?;
    Ok(Json(json!({ "ticket_id": id, "events": events })))
}

/// Query string of `GET /api/tickets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    category: Option<String>,
    pool: Option<String>,
    assignee: Option<Uuid>,
    customer: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
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
    Ok(Json(json!({
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": next_offset,
    })))
}

/// Optional body of a lifecycle move; who makes it is the caller.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveRequest {
    reason: Option<String>,
}

#[tracing::instrument(skip_all, fields(ticket_id))]
async fn lifecycle_move(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<(Uuid, String)>, PathRejection>,
    body: Bytes,
) -> Result<Json<Ticket>, ApiError> {
    let Path((id, verb)) = path?;
    tracing::Span::current().record("ticket_id", tracing::field::display(id));
    let action = match verb.as_str() {
        "accept" => Action::Accept,
        "reject" => Action::Reject,
        "resolve" => Action::Resolve,
        "cancel" => Action::Cancel,
        "close" => Action::Close,
        _ => {
            return Err(ApiError::not_found(format!(
                "no such action `{verb}`; use accept, reject, resolve, cancel or close"
            )))
        }
    };
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
    tracing::info!(action = action.verb(), status = %next, "ticket moved");
    Ok(Json(ticket))
}

/// Body of `PUT /api/tickets/{id}/category`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryRequest {
    category: String,
}

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
    if body.iter().all(u8::is_ascii_whitespace) {
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
