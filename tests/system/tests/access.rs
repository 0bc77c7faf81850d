//! Walks the table of routes by role (the gateway's `policy::RULES`, the table in
//! docs/api.md) against the whole system, with real accounts: every protected route answers
//! 401 without a token and 403 to a role it does not allow, and succeeds for each role it
//! allows; tickets answer 404 to customers and experts whose tickets they are not.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use sysops_gateway::policy::{Access, Rule, RULES};
use sysops_platform::auth::Role;
use sysops_system_tests::{sample_ticket, wait_for_ticket_where, SETTLE};
use sysops_testkit::stack::{ADMIN_EMAIL, ADMIN_PASSWORD};
use sysops_testkit::Stack;

const PASSWORD: &str = "walking the table";

/// The stack, an account of every role, and the roster the tickets go to.
struct World {
    stack: Stack,
    base: String,
    http: reqwest::Client,
    tokens: BTreeMap<&'static str, String>,
    /// The roster entry the expert account works; the other one takes reassignments.
    expert: Uuid,
    other_expert: Uuid,
    /// An expert, off duty, for the admins' changes.
    spare_expert: Uuid,
    customer_user: Uuid,
    pool: String,
    /// A category of that pool.
    category: String,
    /// Every pool, proficiency 0.8: the skills of the two working experts.
    skills: Value,
}

fn role_key(role: Role) -> &'static str {
    role.as_str()
}

impl World {
    async fn build() -> World {
        let stack = Stack::start().await.expect("the stack starts");
        let base = stack.gateway.url();
        let http = reqwest::Client::new();
        let mut world = World {
            stack,
            base,
            http,
            tokens: BTreeMap::new(),
            expert: Uuid::nil(),
            other_expert: Uuid::nil(),
            spare_expert: Uuid::nil(),
            customer_user: Uuid::nil(),
            pool: String::new(),
            category: String::new(),
            skills: Value::Null,
        };
        let admin = world.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        world.tokens.insert("admin", admin);
        let (_, pools) = world.call(Method::GET, "/api/pools", "admin", None).await;
        let names: Vec<String> = pools["pools"]
            .as_array()
            .expect("pools")
            .iter()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        let skills: BTreeMap<&str, f32> = names.iter().map(|n| (n.as_str(), 0.8)).collect();
        world.skills = json!(skills);
        world.pool = names[0].clone();
        world.category = pools["pools"][0]["categories"][0]
            .as_str()
            .expect("a category")
            .to_owned();
        world.expert = world.new_expert("Ada", &world.skills, "available").await;
        world.other_expert = world.new_expert("Lin", &world.skills, "available").await;
        world.spare_expert = world
            .new_expert("Sam", &json!({ &world.pool: 0.5 }), "off")
            .await;

        for (key, role, expert_id) in [
            ("manager", "manager", None),
            ("expert", "expert", Some(world.expert)),
            ("stranger-expert", "expert", Some(world.spare_expert)),
        ] {
            let email = format!("{key}@walk.example");
            let (status, body) = world
                .call(
                    Method::POST,
                    "/api/users",
                    "admin",
                    Some(json!({ "email": email, "password": PASSWORD, "role": role, "expert_id": expert_id })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let token = world.sign_in(&email, PASSWORD).await;
            world.tokens.insert(key, token);
        }
        for key in ["customer", "stranger-customer"] {
            let (status, body) = world
                .anonymous(
                    Method::POST,
                    "/api/auth/register",
                    json!({ "email": format!("{key}@walk.example"), "password": PASSWORD }),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            if key == "customer" {
                world.customer_user = body["user"]["id"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .expect("an id");
            }
            world
                .tokens
                .insert(key, body["access_token"].as_str().expect("a token").into());
        }
        world
    }

    async fn sign_in(&self, email: &str, password: &str) -> String {
        self.session(email, password).await["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    async fn session(&self, email: &str, password: &str) -> Value {
        let (status, body) = self
            .anonymous(
                Method::POST,
                "/api/auth/login",
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn new_expert(&self, name: &str, skills: &Value, availability: &str) -> Uuid {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/experts",
                "admin",
                Some(expert_body(name, skills, availability)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("an expert id")
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        who: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send(method, path, Some(&self.tokens[who]), body).await
    }

    async fn anonymous(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(method, path, None, Some(body)).await
    }

    /// A new ticket of the customer's.
    async fn submit(&self) -> Uuid {
        let (title, description) = sample_ticket(7);
        let (status, body) = self
            .call(
                Method::POST,
                "/api/tickets",
                "customer",
                Some(json!({ "title": title, "description": description })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("an id")
    }

    async fn wait(&self, id: Uuid, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let admin = sysops_testkit::auth::client_with_token(&self.tokens["admin"]);
        wait_for_ticket_where(&admin, &self.base, id, what, ready)
            .await
            .expect(what)
    }

    /// A new ticket of the customer's, assigned to the expert account's roster entry.
    async fn assigned(&self) -> Uuid {
        let id = self.submit().await;
        let t = self
            .wait(id, "assigned", |t| t["status"] == "assigned")
            .await;
        if t["assignee"] != json!(self.expert) {
            let path = format!("/api/routing/reassign/{id}");
            let (status, body) = self
                .call(
                    Method::POST,
                    &path,
                    "admin",
                    Some(json!({ "expert_id": self.expert })),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let expert = json!(self.expert);
            self.wait(id, "assigned to the expert", |t| {
                t["status"] == "assigned" && t["assignee"] == expert
            })
            .await;
        }
        id
    }

    async fn moved(&self, id: Uuid, verb: &str, status: &str) -> Uuid {
        let path = format!("/api/tickets/{id}/{verb}");
        let (code, body) = self.call(Method::POST, &path, "admin", None).await;
        assert_eq!(code, StatusCode::OK, "{verb}: {body}");
        self.wait(id, status, |t| t["status"] == status).await;
        id
    }

    /// A ticket waiting in its pool while the working experts are off duty (until
    /// [`World::back_to_work`]).
    async fn queued(&self) -> Uuid {
        for id in [self.expert, self.other_expert] {
            self.put_expert(id, &self.skills, "off").await;
        }
        let id = self.submit().await;
        self.wait(id, "waiting for an expert", |t| {
            t["status"] == "queued" || t["status"] == "needs_review"
        })
        .await;
        id
    }

    async fn back_to_work(&self) {
        for id in [self.expert, self.other_expert] {
            self.put_expert(id, &self.skills, "available").await;
        }
    }

    async fn put_expert(&self, id: Uuid, skills: &Value, availability: &str) {
        let (status, body) = self
            .call(
                Method::PUT,
                &format!("/api/experts/{id}"),
                "admin",
                Some(expert_body("Walker", skills, availability)),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

fn expert_body(name: &str, skills: &Value, availability: &str) -> Value {
    json!({ "name": name, "skills": skills, "capacity": 100, "regions": ["north"],
            "availability": availability })
}

/// A concrete request for `rule` that the allowed role `who` should succeed with: the path
/// with its parameters filled in, the body, and the token when it must be a session of its own.
async fn request_for(w: &World, rule: &Rule, who: &str) -> (String, Option<Value>, Option<String>) {
    let unique = Uuid::now_v7().simple().to_string();
    let fill = |id: &dyn std::fmt::Display| {
        let mut path = rule.path.to_owned();
        for param in ["{id}", "{ticket_id}", "{name}", "{pool}"] {
            path = path.replace(param, &id.to_string());
        }
        path
    };
    match (rule.method, rule.path) {
        ("GET", "/api/docs/{file}") => ("/api/docs/swagger-initializer.js".into(), None, None),
        ("POST", "/api/auth/register") => (
            fill(&""),
            Some(json!({ "email": format!("{unique}@walk.example"), "password": PASSWORD })),
            None,
        ),
        ("POST", "/api/auth/login") => (
            fill(&""),
            Some(json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD })),
            None,
        ),
        ("POST", "/api/auth/refresh") => {
            let session = w.session(ADMIN_EMAIL, ADMIN_PASSWORD).await;
            (
                fill(&""),
                Some(json!({ "refresh_token": session["refresh_token"] })),
                None,
            )
        }
        ("POST", "/api/auth/logout") => {
            // A session of its own, so that the walk's tokens stay valid.
            let email = match who {
                "admin" => ADMIN_EMAIL.to_owned(),
                other => format!("{other}@walk.example"),
            };
            let password = if who == "admin" {
                ADMIN_PASSWORD
            } else {
                PASSWORD
            };
            (fill(&""), None, Some(w.sign_in(&email, password).await))
        }
        ("POST", "/api/auth/password") => {
            // An account of its own: the change ends every session of the account.
            let email = format!("{unique}@walk.example");
            let role = if who == "anyone" { "customer" } else { who };
            let expert_id = (role == "expert").then_some(w.spare_expert);
            let (status, body) = w
                .call(
                    Method::POST,
                    "/api/users",
                    "admin",
                    Some(json!({ "email": email, "password": PASSWORD, "role": role, "expert_id": expert_id })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            (
                fill(&""),
                Some(json!({ "current_password": PASSWORD, "new_password": "walked the table" })),
                Some(w.sign_in(&email, PASSWORD).await),
            )
        }
        ("POST", "/api/users") => (
            fill(&""),
            Some(
                json!({ "email": format!("{unique}@walk.example"), "password": PASSWORD, "role": "manager" }),
            ),
            None,
        ),
        ("PATCH", "/api/users/{id}") => (
            fill(&w.customer_user),
            Some(json!({ "name": "Walked" })),
            None,
        ),
        ("GET", "/api/users/{id}") => (fill(&w.customer_user), None, None),
        ("POST", "/api/tickets") => {
            let (title, description) = sample_ticket(3);
            (
                fill(&""),
                Some(json!({ "title": title, "description": description })),
                None,
            )
        }
        ("GET", "/api/tickets/{id}") | ("GET", "/api/tickets/{id}/history") => {
            (fill(&w.assigned().await), None, None)
        }
        ("POST", "/api/tickets/{id}/accept") | ("POST", "/api/tickets/{id}/reject") => {
            (fill(&w.assigned().await), None, None)
        }
        ("POST", "/api/tickets/{id}/resolve") => {
            let id = w.assigned().await;
            (fill(&w.moved(id, "accept", "accepted").await), None, None)
        }
        ("POST", "/api/tickets/{id}/cancel") => (fill(&w.submit().await), None, None),
        ("POST", "/api/tickets/{id}/close") => {
            let id = w.moved(w.assigned().await, "accept", "accepted").await;
            (fill(&w.moved(id, "resolve", "resolved").await), None, None)
        }
        ("PUT", "/api/tickets/{id}/category") => (
            fill(&w.queued().await),
            Some(json!({ "category": w.category })),
            None,
        ),
        ("POST", "/api/experts") => (
            fill(&""),
            Some(expert_body("Newcomer", &json!({ &w.pool: 0.5 }), "off")),
            None,
        ),
        ("PUT", "/api/experts/{id}") => (
            fill(&w.spare_expert),
            Some(expert_body("Sam", &json!({ &w.pool: 0.6 }), "off")),
            None,
        ),
        ("GET", "/api/experts/{id}") => (fill(&w.expert), None, None),
        ("GET", "/api/pools/{name}") => (fill(&w.pool), None, None),
        ("GET", "/api/routing/history/{ticket_id}") => (fill(&w.assigned().await), None, None),
        ("POST", "/api/routing/reassign/{ticket_id}") => {
            (fill(&w.assigned().await), Some(json!({})), None)
        }
        ("GET", "/api/analytics/pools/{pool}") => {
            let (_, t) = w
                .call(
                    Method::GET,
                    &format!("/api/tickets/{}", w.assigned().await),
                    "admin",
                    None,
                )
                .await;
            let pool = t["pool"].as_str().expect("a pool").to_owned();
            let path = fill(&pool);
            sysops_testkit::wait_for("analytics to know the pool", SETTLE, || async {
                let (status, _) = w.call(Method::GET, &path, "admin", None).await;
                status.is_success().then_some(())
            })
            .await
            .expect("the pool is known");
            (path, None, None)
        }
        _ => (fill(&Uuid::now_v7()), None, None),
    }
}

/// `path` with a new id in each parameter: enough for requests refused before they reach a
/// service.
fn placeholder(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                Uuid::now_v7().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says() {
    let w = World::build().await;
    let everyone = ["customer", "expert", "manager", "admin"];
    let mut walked = 0;
    for rule in RULES {
        let method: Method = rule.method.parse().expect("a method");
        let Access::Roles(allowed) = rule.access else {
            let (path, body, _) = request_for(&w, rule, "anyone").await;
            let (status, answer) = w.send(method, &path, None, body).await;
            assert!(
                status.is_success(),
                "{} {path} is public: {status} {answer}",
                rule.method
            );
            walked += 1;
            continue;
        };
        let placeholder = placeholder(rule.path);
        let (status, _) = w.send(method.clone(), &placeholder, None, None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{} {} without a token",
            rule.method,
            rule.path
        );
        for who in everyone {
            let role: Role = who.parse().expect("a role");
            if allowed.contains(&role) {
                let (path, body, token) = request_for(&w, rule, who).await;
                let token = token.unwrap_or_else(|| w.tokens[role_key(role)].clone());
                let (status, answer) = w.send(method.clone(), &path, Some(&token), body).await;
                assert!(
                    status.is_success(),
                    "{} {path} as {who}: {status} {answer}",
                    rule.method
                );
            } else {
                let (status, answer) = w
                    .send(method.clone(), &placeholder, Some(&w.tokens[who]), None)
                    .await;
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {} as {who}: {answer}",
                    rule.method,
                    rule.path
                );
            }
        }
        if rule.path.ends_with("/category") {
            w.back_to_work().await;
        }
        walked += 1;
    }
    assert_eq!(walked, RULES.len());

    // Tickets of others: 404 for customers and experts, as if they did not exist.
    let id = w.assigned().await;
    for (who, method, action) in [
        ("stranger-customer", Method::GET, ""),
        ("stranger-customer", Method::GET, "/history"),
        ("stranger-customer", Method::POST, "/cancel"),
        ("stranger-expert", Method::GET, ""),
        ("stranger-expert", Method::POST, "/accept"),
    ] {
        let (status, body) = w
            .call(method, &format!("/api/tickets/{id}{action}"), who, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who} {action}: {body}");
    }
    for who in ["stranger-customer", "stranger-expert"] {
        let (_, page) = w.call(Method::GET, "/api/tickets", who, None).await;
        assert_eq!(page["total"], 0, "{who} lists nothing: {page}");
    }
    w.stack.env.cleanup().await;
}
