//! Who sees and changes which ticket, on the tickets service itself: tokens are checked again
//! behind the gateway, customers see their own tickets, experts those assigned to them.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use sysops_contract::{DecisionRecord, Envelope, EventType, TicketAssigned};
use sysops_platform::auth::Role;
use sysops_testkit::auth;

use support::{call, App};

#[tokio::test]
async fn a_request_without_a_valid_token_is_refused_401() {
    let app = App::spawn().await;
    let (status, body) = call(
        &app,
        &reqwest::Client::new(),
        reqwest::Method::GET,
        "/api/tickets",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let forged = auth::client_with_token("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.");
    let (status, _) = call(&app, &forged, reqwest::Method::GET, "/api/tickets", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_customer_sees_and_cancels_only_their_own_tickets() {
    use reqwest::Method;
    let app = App::spawn().await;
    let ada = auth::someone(Role::Customer);
    let as_ada = auth::client_as(&ada);
    let as_bob = auth::client_of(Role::Customer);
    let ticket = json!({"title": "Laptop will not boot", "description": "black screen"});

    let (status, body) = call(
        &app,
        &as_ada,
        Method::POST,
        "/api/tickets",
        Some(json!({"title": "For someone else", "description": "x", "customer": "bob"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, mine) = call(&app, &as_ada, Method::POST, "/api/tickets", Some(ticket)).await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    assert_eq!(mine["customer"], ada.email.as_str());
    assert_eq!(mine["customer_id"], json!(ada.user_id));
    app.create("Entered by the help desk").await;
    let id = mine["id"].as_str().expect("an id");

    let (_, listed) = call(&app, &as_ada, Method::GET, "/api/tickets", None).await;
    assert_eq!(listed["total"], 1, "ada lists only her ticket: {listed}");
    let (_, listed) = call(&app, &as_bob, Method::GET, "/api/tickets", None).await;
    assert_eq!(listed["total"], 0, "{listed}");
    let (_, listed) = app.get("/api/tickets").await;
    assert_eq!(listed["total"], 2, "the manager lists both");

    let (status, _) = call(
        &app,
        &as_bob,
        Method::GET,
        &format!("/api/tickets/{id}"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another customer's ticket does not exist for bob"
    );
    let (status, _) = call(
        &app,
        &as_bob,
        Method::GET,
        &format!("/api/tickets/{id}/history"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &app,
        &as_bob,
        Method::POST,
        &format!("/api/tickets/{id}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(
        &app,
        &as_ada,
        Method::POST,
        &format!("/api/tickets/{id}/accept"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "customers do not accept tickets: {body}"
    );
    let (status, body) = call(
        &app,
        &as_ada,
        Method::PUT,
        &format!("/api/tickets/{id}/category"),
        Some(json!({"category": "audio"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let (status, cancelled) = call(
        &app,
        &as_ada,
        Method::POST,
        &format!("/api/tickets/{id}/cancel"),
        Some(json!({"reason": "fixed it myself"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let (_, history) = call(
        &app,
        &as_ada,
        Method::GET,
        &format!("/api/tickets/{id}/history"),
        None,
    )
    .await;
    let events = history["events"].as_array().expect("events");
    let last = events.last().expect("the cancellation");
    assert_eq!(
        last["data"]["by"],
        format!("{} (customer)", ada.email),
        "{last}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_expert_sees_and_works_only_the_tickets_assigned_to_them() {
    use reqwest::Method;
    let app = App::spawn().await;
    let expert_id = Uuid::now_v7();
    let as_expert = auth::client_as(&auth::expert(expert_id));
    let as_other_expert = auth::client_of(Role::Expert);
    let created = app.create("Router drops Wi-Fi").await;
    let id: Uuid = created["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    let path = format!("/api/tickets/{id}");

    let (status, _) = call(&app, &as_expert, Method::GET, &path, None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "not theirs before it is assigned"
    );
    let (status, body) = call(
        &app,
        &as_expert,
        Method::POST,
        "/api/tickets",
        Some(json!({"title": "An expert's ticket", "description": "x"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "experts do not submit tickets: {body}"
    );

    let bus = app.env.bus();
    let assigned = TicketAssigned {
        pool: "networking".into(),
        expert_id,
        expert_name: "Ines".into(),
        attempt: 1,
        decision: DecisionRecord {
            candidates: vec![],
            reason: "the only expert".into(),
        },
    };
    let assigned = serde_json::to_value(assigned).expect("serialises");
    bus.publish(&Envelope::new(
        EventType::TicketAssigned,
        Some(id),
        assigned,
    ))
    .await
    .expect("published");
    let ticket = sysops_testkit::wait_for(
        "the assignment applied",
        Duration::from_secs(30),
        || async {
            let (status, t) = call(&app, &as_expert, Method::GET, &path, None).await;
            (status == StatusCode::OK && t["status"] == "assigned").then_some(t)
        },
    )
    .await
    .expect("the expert sees the ticket assigned to them");
    assert_eq!(ticket["assignee"], json!(expert_id));

    let (_, listed) = call(&app, &as_expert, Method::GET, "/api/tickets", None).await;
    assert_eq!(listed["total"], 1, "{listed}");
    let (_, listed) = call(&app, &as_other_expert, Method::GET, "/api/tickets", None).await;
    assert_eq!(listed["total"], 0, "{listed}");
    let (status, _) = call(
        &app,
        &as_other_expert,
        Method::POST,
        &format!("{path}/accept"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(
        &app,
        &as_expert,
        Method::POST,
        &format!("{path}/cancel"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "experts reject, they do not cancel: {body}"
    );
    let (status, accepted) = call(
        &app,
        &as_expert,
        Method::POST,
        &format!("{path}/accept"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    bus.close().await;
    app.stop().await;
}
