//! `POST /api/routing/reassign/{ticket_id}`: a manager moves a ticket by hand, to a named
//! expert or to the best other one. Recorded like every decision.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use sysops_contract::{CandidateScore, DecisionRecord, EventType, TicketAssigned};
use sysops_platform::auth::Caller;
use sysops_platform::{ApiError, OptionalJson};

use crate::engine::{Origin, Placement, PoolView};
use crate::startup::AppState;
use crate::store::{assignments, experts, lock_pools, routes};

/// Body of the request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    /// The expert to give the ticket to; absent: the best eligible other expert.
    pub expert_id: Option<Uuid>,
    /// Why, for the record: 1 to 2,000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: Option<String>,
}

/// Where the ticket went.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reassigned {
    ticket_id: Uuid,
    /// `assigned`, or `queued` when no other expert could take it now.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expert_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt: Option<i32>,
}

/// The longest reason taken, in characters.
const MAX_REASON: usize = 2000;

/// Route statuses a manager may reassign from.
const REASSIGNABLE: [&str; 4] = ["queued", "assigned", "escalated", "review"];

/// A manager moves a ticket to a named expert, or to the best other eligible one.
#[utoipa::path(
    post, path = "/api/routing/reassign/{ticket_id}", tag = "routing", security(("bearer" = [])),
    params(("ticket_id" = Uuid, Path, description = "The ticket's id")),
    request_body(content = Option<ReassignRequest>, description = "Optional: an empty body picks the best eligible other expert"),
    responses(
        (status = 200, description = "Assigned or queued", body = Reassigned),
        (status = 404, description = "Routing knows no such ticket", body = sysops_platform::http::ErrorBody),
        (status = 409, description = "The ticket cannot be reassigned in its state, or the expert cannot take it", body = sysops_platform::http::ErrorBody),
        (status = 422, description = "No such expert", body = sysops_platform::http::ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(ticket_id))]
pub async fn reassign(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<Uuid>, PathRejection>,
    OptionalJson(req): OptionalJson<ReassignRequest>,
) -> Result<Json<Reassigned>, ApiError> {
    let Path(ticket_id) = id?;
    if let Some(reason) = &req.reason {
        if reason.trim().is_empty() || reason.chars().count() > MAX_REASON {
            return Err(ApiError::unprocessable(format!(
                "reason must be 1 to {MAX_REASON} characters, or left out"
            )));
        }
    }
    tracing::Span::current().record("ticket_id", tracing::field::display(ticket_id));
    let by = caller.author();
    let engine = &state.engine;
    let db = |e| ApiError::from_db(e);
    let mut tx = state.pool.begin().await.map_err(db)?;
    let mut route = routes::lock(&mut tx, ticket_id)
        .await
        .map_err(db)?
        .ok_or_else(|| ApiError::not_found(format!("routing knows no ticket {ticket_id}")))?;
    if !REASSIGNABLE.contains(&route.status.as_str()) || route.pool.is_none() {
        return Err(ApiError::conflict(format!(
            "cannot reassign a ticket whose routing status is {}; allowed: {}",
            route.status,
            REASSIGNABLE.join(", ")
        ))
        .with_detail(json!({ "status": route.status })));
    }
    let pool = route.pool.clone().unwrap_or_default();
    let open = assignments::open_for(&mut tx, ticket_id)
        .await
        .map_err(db)?;
    let mut locks = vec![pool.clone()];
    if let Some(o) = &open {
        locks.extend(o.expert_pools.iter().cloned());
    }
    if let Some(target) = req.expert_id {
        locks.extend(experts::pools_of(&mut tx, target).await.map_err(db)?);
    }
    lock_pools(&mut tx, &locks).await.map_err(db)?;
    let origin = Origin::Fresh("manual_reassignment");
    let mut excluded_now = None;
    // This request holds only the locks of the pools it touches: nothing is cached.
    let mut view = PoolView::uncached();
    if let Some(o) = &open {
        if Some(o.expert_id) == req.expert_id {
            return Err(ApiError::conflict(
                "the ticket is already assigned to that expert",
            ));
        }
        engine
            .close_open(&mut tx, o, "moved", None, &mut view)
            .await
            .map_err(db)?;
        let reason = req
            .reason
            .clone()
            .unwrap_or_else(|| "reassigned by a manager".into());
        let data = o.taken_back(reason, by.clone());
        engine
            .emit(
                &mut tx,
                origin,
                ticket_id,
                EventType::TicketUnassigned,
                data,
            )
            .await
            .map_err(db)?;
        excluded_now = Some(o.expert_id);
    }
    let outcome = match req.expert_id {
        Some(target) => {
            let expert = experts::get(&mut *tx, target)
                .await
                .map_err(db)?
                .ok_or_else(|| ApiError::unprocessable(format!("no expert {target}")))?;
            let attempt = route.attempts + 1;
            if !assignments::open_if_room(&mut tx, ticket_id, target, &pool, attempt, None)
                .await
                .map_err(db)?
            {
                return Err(ApiError::conflict(format!(
                    "{} cannot take the ticket: not available or at capacity ({}/{})",
                    expert.name, expert.load, expert.capacity
                )));
            }
            route.status = "assigned".into();
            route.attempts = attempt;
            route.queued_at = None;
            routes::save(&mut tx, &route).await.map_err(db)?;
            let reason = format!(
                "reassigned by hand by {by}{}",
                req.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            let payload = TicketAssigned {
                pool: pool.clone(),
                expert_id: target,
                expert_name: expert.name.clone(),
                attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                decision: DecisionRecord {
                    candidates: vec![CandidateScore {
                        expert_id: target,
                        name: expert.name.clone(),
                        score: 1.0,
                        note: "chosen by a manager".into(),
                    }],
                    reason: reason.clone(),
                },
            };
            let detail = json!({ "expert_id": target, "expert_name": expert.name, "attempt": attempt, "reason": reason, "by": by });
            let event = engine
                .emit(
                    &mut tx,
                    origin,
                    ticket_id,
                    EventType::TicketAssigned,
                    payload,
                )
                .await
                .map_err(db)?;
            routes::record_decision(&mut tx, event.id, &route, "reassigned", detail)
                .await
                .map_err(db)?;
            Placement::Assigned {
                expert_id: target,
                attempt,
            }
        }
        None => {
            // The previous expert is left out of this choice only, not banned.
            let saved = route.excluded.clone();
            route.excluded.extend(excluded_now);
            route.status = "new".into();
            let placed = engine
                .place(&mut tx, &mut route, origin, &mut view)
                .await
                .map_err(db)?;
            route.excluded = saved;
            routes::save(&mut tx, &route).await.map_err(db)?;
            placed
        }
    };
    let freed: Vec<String> = locks.into_iter().filter(|p| *p != pool).collect();
    engine
        .drain_all(&mut tx, &freed, origin, &mut view)
        .await
        .map_err(db)?;
    engine.outbox.commit(tx).await.map_err(db)?;
    metrics::counter!("routing_manual_reassignments_total").increment(1);
    let body = match outcome {
        Placement::Assigned { expert_id, attempt } => Reassigned {
            ticket_id,
            outcome: "assigned",
            expert_id: Some(expert_id),
            attempt: Some(attempt),
        },
        Placement::Queued => Reassigned {
            ticket_id,
            outcome: "queued",
            expert_id: None,
            attempt: None,
        },
    };
    Ok(Json(body))
}
