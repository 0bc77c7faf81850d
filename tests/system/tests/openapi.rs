//! The OpenAPI document: the committed copy is what the code describes, it covers exactly the
//! API routes of the gateway's table, the gateway serves it with its reader, and the running
//! system keeps its word: schemathesis (from PyPI) sends requests generated from the document
//! through the gateway and finds no server error and no answer that breaks it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use sysops_gateway::policy::RULES;
use sysops_platform::auth::Role;
use sysops_system_tests::openapi::{committed_path, document};
use sysops_system_tests::sample_ticket;
use sysops_testkit::{auth, Stack};

/// The gateway's own paths for the document and its reader: in the table, not in the document.
fn describes_itself(path: &str) -> bool {
    path == "/api/openapi.json" || path == "/api/docs" || path.starts_with("/api/docs/")
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

#[test]
fn the_committed_document_is_the_one_the_code_describes() {
    let current = document().expect("the document");
    let committed = std::fs::read_to_string(committed_path()).expect("the committed document");
    assert!(
        current == committed,
        "services/gateway/openapi.json is out of date: run `cargo run -p sysops-system-tests --bin openapi`"
    );
}

#[test]
fn every_api_route_of_the_table_is_described_and_nothing_else() {
    let doc: Value = serde_json::from_str(&document().expect("the document")).expect("json");
    let described = operations(&doc);
    let table: BTreeSet<(String, String)> = RULES
        .iter()
        .filter(|r| r.path.starts_with("/api/") && !describes_itself(r.path))
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let undescribed: Vec<_> = table.difference(&described).collect();
    let unknown: Vec<_> = described.difference(&table).collect();
    assert!(
        undescribed.is_empty(),
        "routes not described: {undescribed:?}"
    );
    assert!(unknown.is_empty(), "described but not routed: {unknown:?}");
    // Every operation names its answers and, where it takes a token, the scheme.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|code| code.starts_with('2')),
                "{method} {path}: no success answer"
            );
            assert!(responses.contains_key("default"), "{method} {path}");
        }
    }
}

/// The schemathesis command: `SCHEMATHESIS`, or the one scripts/test.sh installs.
fn schemathesis() -> PathBuf {
    std::env::var_os("SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/sysops-venv/bin/schemathesis")
        })
}

#[tokio::test]
async fn the_running_system_answers_as_its_document_says() {
    let command = schemathesis();
    assert!(
        command.exists(),
        "{} is missing: scripts/test.sh installs schemathesis (or set SCHEMATHESIS)",
        command.display()
    );
    let stack = Stack::start().await.expect("the stack starts");
    let base = stack.gateway.url();
    let http = &stack.http;

    let served = http
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .expect("document requested");
    assert_eq!(served.status(), 200);
    let served = served.text().await.expect("text");
    assert_eq!(
        served,
        std::fs::read_to_string(committed_path()).expect("committed")
    );
    let reader = reqwest::Client::new()
        .get(format!("{base}/api/docs/"))
        .send()
        .await
        .expect("reader requested");
    assert_eq!(reader.status(), 200);
    let page = reader.text().await.expect("text");
    assert!(page.contains("swagger-ui"), "{page}");
    let init = reqwest::get(format!("{base}/api/docs/swagger-initializer.js"))
        .await
        .expect("initializer")
        .text()
        .await
        .expect("text");
    assert!(init.contains("/api/openapi.json"), "{init}");

    // Something to read: a few tickets, categorized and routed.
    for i in 0..3 {
        let (title, description) = sample_ticket(i);
        let r = http
            .post(format!("{base}/api/tickets"))
            .json(&json!({ "title": title, "description": description, "customer": "walk-in" }))
            .send()
            .await
            .expect("ticket sent");
        assert_eq!(r.status(), 201);
    }

    let token = auth::token(&auth::someone(Role::Admin));
    let mut run = tokio::process::Command::new(&command);
    run.args([
        "--no-color",
        "run",
        &format!("{base}/api/openapi.json"),
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--header",
        &format!("Authorization: Bearer {token}"),
        // Signing out would end the session the run signs its requests with.
        "--exclude-path",
        "/api/auth/logout",
        "--max-examples",
        "10",
        "--seed",
        "20261124",
        "--phases",
        "examples,coverage,fuzzing",
        // One worker: with two, the worker threads parse Python source at once (hypothesis
        // describing its strategies), and CPython 3.11's `ast.parse` is not safe for that
        // ("AST constructor recursion depth mismatch", a runtime error of the run, not a
        // finding about the API).
        "--workers",
        "1",
        "--request-timeout",
        "20",
        // Bounded: the fuzzing phase stops at this budget, whatever it has not reached yet.
        "--max-time",
        "180",
    ])
    .env("SCHEMATHESIS_TELEMETRY", "false")
    .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(420), run.output())
        .await
        .expect("schemathesis finishes within 7 minutes")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}\n{stderr}");
    assert!(
        output.status.success(),
        "schemathesis found answers that break the document (above)"
    );
    stack.shutdown().await;
}
