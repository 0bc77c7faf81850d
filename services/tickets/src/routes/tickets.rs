//! `/api/tickets`: create, read, list and history; the routes of every endpoint (the moves
//! and the category are in [`super::moves`]).

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use sysops_contract::TicketStatus;
use sysops_platform::auth::{Caller, Identity, Role};
use sysops_platform::{ApiError, ApiJson};

use super::moves;
use crate::domain::{access, customer_view, NewTicket, NewTicketRequest};
use crate::intake::Stored;
use crate::startup::AppState;
use crate::store::{Created, HistoryEntry, Idempotency, ListQuery, Ticket};

/// The request header that makes a submission safe to send again.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tickets", post(create).get(list))
        .route("/api/tickets/{id}", get(fetch))
        .route("/api/tickets/{id}/history", get(history))
        .route("/api/tickets/{id}/category", put(moves::recategorize))
        .route("/api/tickets/{id}/accept", post(moves::accept))
        .route("/api/tickets/{id}/reject", post(moves::reject))
        .route("/api/tickets/{id}/resolve", post(moves::resolve))
        .route("/api/tickets/{id}/cancel", post(moves::cancel))
        .route("/api/tickets/{id}/close", post(moves::close))
}

/// The routes of this service, described for the gateway's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        create,
        list,
        fetch,
        history,
        moves::recategorize,
        moves::accept,
        moves::reject,
        moves::resolve,
        moves::cancel,
        moves::close
    ),
    tags((name = "tickets", description = "Tickets and their lifecycle"))
)]
pub struct ApiDoc;

/// Submits a ticket. A customer submits for themselves; managers and admins enter tickets for
/// a customer (`customer`). The ticket is stored and announced before the answer. A client
/// that may send a submission again (after a timeout or a lost answer) gives it an
/// `Idempotency-Key`: the same submission under the same key is stored once.
#[utoipa::path(
    post, path = "/api/tickets", tag = "tickets", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header,
            description = "1 to 255 printable ASCII characters, chosen by the client for this submission; the same submission sent again under it returns the ticket stored the first time (200)")),
    request_body = NewTicketRequest,
    responses(
        (status = 201, description = "Stored; `Location` names it", body = Ticket,
         headers(("location" = String, description = "The ticket's URL"))),
        (status = 200, description = "The same submission was stored before under this `Idempotency-Key`: the ticket stored then", body = Ticket,
         headers(("location" = String, description = "The ticket's URL"))),
        (status = 400, description = "The `Idempotency-Key` is empty, too long or not printable ASCII", body = sysops_platform::http::ErrorBody),
        (status = 422, description = "A field is invalid (`detail` lists each one), or the `Idempotency-Key` was used for a different ticket (`detail.ticket_id`)", body = sysops_platform::http::ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<NewTicketRequest>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(&[Role::Customer, Role::Manager, Role::Admin])?;
    let key = idempotency_key(&headers)?;
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
    let customer = match owner {
        Some(_) => caller.email.clone(),
        None => new.customer().to_owned(),
    };
    let mut created =
        Created::submitted(&new, customer, owner).map_err(|e| ApiError::internal(&e))?;
    if let Some(key) = key {
        created = created.with_key(caller.user_id, key);
    }
    let ticket = created.ticket.clone();
    let idempotency = created.idempotency.clone();
    let stored = state
        .intake
        .store(created)
        .await
        .map_err(ApiError::from_db)?;
    let (status, ticket) = match (stored, idempotency) {
        (Stored::New, _) => {
            metrics::counter!("tickets_created_total", "channel" => ticket.channel.clone())
                .increment(1);
            tracing::info!(ticket_id = %ticket.id, "ticket created");
            (StatusCode::CREATED, ticket)
        }
        (Stored::KeyUsed, Some(key)) => (StatusCode::OK, earlier_submission(&state, &key).await?),
        (Stored::KeyUsed, None) => {
            let e = std::io::Error::other("a submission without a key was not stored");
            return Err(ApiError::internal(&e));
        }
    };
    let location = format!("/api/tickets/{}", ticket.id);
    Ok((status, [(header::LOCATION, location)], Json(ticket)))
}

/// The longest `Idempotency-Key` taken.
const MAX_KEY_LEN: usize = 255;

/// The request's `Idempotency-Key`, if it has one: 1 to 255 printable ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty()
        || key.len() > MAX_KEY_LEN
        || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(ApiError::bad_request(format!(
            "{IDEMPOTENCY_KEY} must be 1 to {MAX_KEY_LEN} printable ASCII characters"
        )));
    }
    Ok(Some(key.to_owned()))
}

/// The ticket stored the first time a submission came with this key, if it was the same
/// submission; a different ticket under a key already used is refused.
async fn earlier_submission(state: &AppState, key: &Idempotency) -> Result<Ticket, ApiError> {
    let (ticket, digest) = state
        .store
        .by_idempotency_key(key.submitter, &key.key)
        .await
        .map_err(ApiError::from_db)?
        .ok_or_else(|| {
            ApiError::internal(&std::io::Error::other(
                "no ticket is stored under the key its insert conflicted with",
            ))
        })?;
    if digest != key.digest {
        return Err(ApiError::unprocessable(format!(
            "{IDEMPOTENCY_KEY} `{}` was used for a different ticket; send a new key for a new ticket",
            key.key
        ))
        .with_detail(json!({ "ticket_id": ticket.id })));
    }
    tracing::info!(ticket_id = %ticket.id, "a repeated submission answered with its ticket");
    Ok(ticket)
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
pub(super) async fn visible(
    state: &AppState,
    caller: &Identity,
    id: Uuid,
) -> Result<Ticket, ApiError> {
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
///
/// Customers read what happened to their ticket: routing's decisions, the categorizer's
/// particulars, staff's addresses and the notes staff wrote for each other are left out of the
/// events' data.
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
    let mut events = state.store.history(id).await.map_err(ApiError::from_db)?;
    if caller.role == Role::Customer {
        let me = caller.author();
        for e in &mut events {
            e.data = customer_view::redact(&e.event_type, &e.data, &me);
        }
    }
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

pub(super) fn ticket_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no ticket with id {id}"))
}

fn known_statuses() -> String {
    TicketStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
