//! Walks the table of routes by role (the gateway's `policy::RULES`, the table in
//! docs/api.md) against the whole system, with real accounts: every protected route answers
//! 401 without a token and 403 to a role it does not allow, and succeeds for each role it
//! allows; tickets answer 404 to customers and experts whose tickets they are not.

mod access_support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use access_support::{expert_body, role_key, World, PASSWORD};
use sysops_gateway::policy::{Access, Rule, RULES};
use sysops_platform::auth::Role;
use sysops_system_tests::{sample_ticket, SETTLE};
use sysops_testkit::stack::{ADMIN_EMAIL, ADMIN_PASSWORD};

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
            let token = w.new_account(&email, role, expert_id).await;
            (
                fill(&""),
                Some(json!({ "current_password": PASSWORD, "new_password": "walked the table" })),
                Some(token),
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
