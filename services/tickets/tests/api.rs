//! The tickets API against a real database and broker, in process on port 0. Requests are
//! made as a manager unless a test says otherwise.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use sysops_contract::{DecisionRecord, Envelope, EventType, TicketAssigned};

use sysops_platform::auth::Role;
use sysops_testkit::{auth, TestEnv};
use sysops_tickets::config::Config;
use sysops_tickets::startup::Application;

struct App {
    base: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    env: TestEnv,
}

impl App {
    async fn spawn() -> App {
        sysops_platform::telemetry::init_for_tests(sysops_testkit::logs_enabled());
        let env = TestEnv::new().await;
        let config = Config::for_tests(&env.database_url, &env.exchange);
        let app = Application::build(config)
            .await
            .expect("the service builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run(shutdown.clone()));
        App {
            base,
            http: auth::client_of(Role::Manager),
            shutdown,
            env,
        }
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("request sent");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, title: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/tickets",
                json!({"title": title, "description": "it broke"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.env.cleanup().await;
    }
}

#[tokio::test]
async fn a_created_ticket_can_be_read_back_and_has_a_created_event() {
    let app = App::spawn().await;
    let (status, body) = app
        .post(
            "/api/tickets",
            json!({"title": "Wi-Fi drops", "description": "the router reboots hourly", "region": "North", "priority": "high", "channel": "phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"], "new");
    assert_eq!(body["region"], "north");
    assert_eq!(body["priority"], "high");

    let id = body["id"].as_str().expect("an id");
    let (status, fetched) = app.get(&format!("/api/tickets/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["title"], "Wi-Fi drops");

    let (_, history) = app.get(&format!("/api/tickets/{id}/history")).await;
    let types: Vec<&str> = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(types, ["ticket.created"]);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_nothing_is_stored() {
    let app = App::spawn().await;
    let cases = [
        (
            json!({"description": "no title"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `title`",
        ),
        (
            json!({"title": "ok title", "description": "x", "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field `colour`",
        ),
        (
            json!({"title": 42, "description": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid type",
        ),
        (
            json!({"title": "  ", "description": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title must not be empty",
        ),
        (
            json!({"title": "ok title", "description": "x", "priority": "asap"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown variant `asap`",
        ),
    ];
    for (body, expected, message) in cases {
        let (status, error) = app.post("/api/tickets", body.clone()).await;
        assert_eq!(status, expected, "{body}");
        let text = error["error"].as_str().unwrap_or_default();
        assert!(
            text.contains(message),
            "{body}: `{text}` should mention `{message}`"
        );
    }

    let r = app
        .http
        .post(format!("{}/api/tickets", app.base))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .http
        .post(format!("{}/api/tickets", app.base))
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({"title": "big", "description": "x".repeat(100_000)});
    let r = app
        .http
        .post(format!("{}/api/tickets", app.base))
        .json(&huge)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let error: Value = r.json().await.expect("json error");
    assert!(error["error"]
        .as_str()
        .unwrap_or_default()
        .contains("too large"));

    let (_, list) = app.get("/api/tickets").await;
    assert_eq!(list["total"], 0);
    app.stop().await;
}

#[tokio::test]
async fn illegal_moves_are_refused_with_409_naming_the_current_state() {
    let app = App::spawn().await;
    let ticket = app.create("Laptop will not boot").await;
    let id = ticket["id"].as_str().expect("an id");

    let (status, error) = app
        .post(&format!("/api/tickets/{id}/resolve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        error["error"]
            .as_str()
            .unwrap_or_default()
            .contains("ticket that is new"),
        "{error}"
    );

    let (status, cancelled) = app
        .post(
            &format!("/api/tickets/{id}/cancel"),
            json!({"reason": "fixed it myself"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");

    let (status, _) = app
        .post(&format!("/api/tickets/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(&format!("/api/tickets/{id}/explode"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/api/tickets/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .get(&format!("/api/tickets/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_person_can_pick_the_category_and_unknown_categories_are_refused() {
    let app = App::spawn().await;
    let id = app.create("Strange noise").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = app
        .http
        .put(format!("{}/api/tickets/{id}/category", app.base))
        .json(&json!({"category": "teleporters"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .http
        .put(format!("{}/api/tickets/{id}/category", app.base))
        .json(&json!({"category": "audio"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.expect("ticket");
    assert_eq!(t["category"], "audio");
    assert_eq!(t["method"], "human");
    assert_eq!(t["status"], "categorized");
    app.stop().await;
}

#[tokio::test]
async fn the_list_filters_and_pages() {
    let app = App::spawn().await;
    for i in 0..5 {
        app.create(&format!("Ticket number {i}")).await;
    }
    let cancelled = app.create("To be cancelled").await;
    app.post(
        &format!(
            "/api/tickets/{}/cancel",
            cancelled["id"].as_str().expect("id")
        ),
        json!({}),
    )
    .await;

    let (_, page) = app.get("/api/tickets?limit=2").await;
    assert_eq!(page["total"], 6);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["next_offset"], 2);
    assert_eq!(page["items"][0]["title"], "To be cancelled", "newest first");

    let (_, last) = app.get("/api/tickets?limit=4&offset=4").await;
    assert_eq!(last["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(last["next_offset"], Value::Null);

    let (_, new_only) = app.get("/api/tickets?status=new").await;
    assert_eq!(new_only["total"], 5);
    let (status, error) = app.get("/api/tickets?status=sleeping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"]
        .as_str()
        .unwrap_or_default()
        .contains("unknown ticket status"));
    let (status, _) = app.get("/api/tickets?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.get("/api/tickets?sort=asc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

/// Routing's `ticket.queued` and the categorizer's `ticket.categorized` come on one queue and
/// may be applied in either order: a ticket queued first shows its category at once, and the
/// decision's confidence and method when they come.
#[tokio::test]
async fn a_ticket_queued_before_its_categorization_shows_its_category() {
    let app = App::spawn().await;
    let created = app.create("Printer jams").await;
    let id: Uuid = created["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    let bus = app.env.bus();
    let ticket_when = |what: &'static str, ready: fn(&Value) -> bool| {
        let app = &app;
        sysops_testkit::wait_for(what, Duration::from_secs(30), move || async move {
            let (_, t) = app.get(&format!("/api/tickets/{id}")).await;
            ready(&t).then_some(t)
        })
    };

    let queued = json!({"category": "printers", "pool": "printers"});
    bus.publish(&Envelope::new(EventType::TicketQueued, Some(id), queued))
        .await
        .expect("published");
    let t = ticket_when("the ticket queued", |t| t["status"] == "queued")
        .await
        .expect("queued");
    assert_eq!(t["category"], "printers", "{t}");
    assert_eq!(t["pool"], "printers");
    assert!(t["method"].is_null(), "{t}");

    let categorized = json!({"category": "printers", "confidence": 0.75, "method": "keyword",
        "candidates": [], "latency_ms": 1.0, "needs_review": false});
    bus.publish(&Envelope::new(
        EventType::TicketCategorized,
        Some(id),
        categorized,
    ))
    .await
    .expect("published");
    let t = ticket_when("the categorization applied", |t| t["method"] == "keyword")
        .await
        .expect("categorized");
    assert_eq!(t["status"], "queued", "a later event does not move it back");
    assert_eq!(t["confidence"].as_f64(), Some(0.75));
    assert_eq!(t["pool"], "printers");
    bus.close().await;
    app.stop().await;
}

/// Calls `method path` on the app as `client`; the status and the JSON body (or null).
async fn call(
    app: &App,
    client: &reqwest::Client,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, format!("{}{path}", app.base));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.expect("request sent");
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

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
