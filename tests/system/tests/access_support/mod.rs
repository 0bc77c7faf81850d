//! The world the access walk runs in: the stack, an account of every role, the roster the
//! tickets go to, and the requests that put tickets in each state.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use sysops_platform::auth::Role;
use sysops_system_tests::{sample_ticket, wait_for_ticket_where};
use sysops_testkit::stack::{ADMIN_EMAIL, ADMIN_PASSWORD};
use sysops_testkit::Stack;

pub const PASSWORD: &str = "walking the table";

/// The stack, an account of every role, and the roster the tickets go to.
pub struct World {
    pub stack: Stack,
    pub base: String,
    pub http: reqwest::Client,
    pub tokens: BTreeMap<&'static str, String>,
    /// The roster entry the expert account works; the other one takes reassignments.
    pub expert: Uuid,
    pub other_expert: Uuid,
    /// An expert, off duty, for the admins' changes.
    pub spare_expert: Uuid,
    pub customer_user: Uuid,
    pub pool: String,
    /// A category of that pool.
    pub category: String,
    /// Every pool, proficiency 0.8: the skills of the two working experts.
    pub skills: Value,
}

pub fn role_key(role: Role) -> &'static str {
    role.as_str()
}

impl World {
    pub async fn build() -> World {
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
            let token = world
                .new_account(&format!("{key}@walk.example"), role, expert_id)
                .await;
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

    /// An account made by the admin, with the walk's password; its access token.
    pub async fn new_account(&self, email: &str, role: &str, expert_id: Option<Uuid>) -> String {
        let body =
            json!({ "email": email, "password": PASSWORD, "role": role, "expert_id": expert_id });
        let (status, body) = self
            .call(Method::POST, "/api/users", "admin", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.sign_in(email, PASSWORD).await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        self.session(email, password).await["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    pub async fn session(&self, email: &str, password: &str) -> Value {
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

    pub async fn new_expert(&self, name: &str, skills: &Value, availability: &str) -> Uuid {
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

    pub async fn send(
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

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        who: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send(method, path, Some(&self.tokens[who]), body).await
    }

    pub async fn anonymous(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(method, path, None, Some(body)).await
    }

    /// A new ticket of the customer's.
    pub async fn submit(&self) -> Uuid {
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

    pub async fn wait(&self, id: Uuid, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let admin = sysops_testkit::auth::client_with_token(&self.tokens["admin"]);
        wait_for_ticket_where(&admin, &self.base, id, what, ready)
            .await
            .expect(what)
    }

    /// A new ticket of the customer's, assigned to the expert account's roster entry.
    pub async fn assigned(&self) -> Uuid {
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

    pub async fn moved(&self, id: Uuid, verb: &str, status: &str) -> Uuid {
        let path = format!("/api/tickets/{id}/{verb}");
        let (code, body) = self.call(Method::POST, &path, "admin", None).await;
        assert_eq!(code, StatusCode::OK, "{verb}: {body}");
        self.wait(id, status, |t| t["status"] == status).await;
        id
    }

    /// A ticket waiting in its pool while the working experts are off duty (until
    /// [`World::back_to_work`]).
    pub async fn queued(&self) -> Uuid {
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

    pub async fn back_to_work(&self) {
        for id in [self.expert, self.other_expert] {
            self.put_expert(id, &self.skills, "available").await;
        }
    }

    pub async fn put_expert(&self, id: Uuid, skills: &Value, availability: &str) {
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

pub fn expert_body(name: &str, skills: &Value, availability: &str) -> Value {
    json!({ "name": name, "skills": skills, "capacity": 100, "regions": ["north"],
            "availability": availability })
}
