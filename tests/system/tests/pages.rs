//! The customers' and experts' pages in headless Chromium, at a phone's width, through the
//! gateway, on the whole system. A customer signs up on the customer page, is told what is
//! wrong with a ticket the API refuses, submits one and watches it get assigned; the expert it
//! went to signs in on the expert page and accepts it; the expert's page, the API and the
//! customer's page all show it accepted. She resolves it with a note, which the customer reads
//! before closing the ticket. Screenshots are kept as artifacts.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use sysops_system_tests::driver::{Chromium, Tab, PHONE};
use sysops_system_tests::{event_types, history, sample_ticket, SETTLE};
use sysops_testkit::Stack;

const PASSWORD: &str = "a long enough password";
const EXPERT_NAME: &str = "Ada Lovelace";
/// How long a page may take to react to a click or an answer.
const REACT: Duration = Duration::from_secs(20);

/// A roster entry skilled in every pool and an expert account working it: whatever the
/// category, routing assigns the ticket to her. Returns the roster id and the account's e-mail.
async fn expert_on_duty(stack: &Stack) -> (Uuid, String) {
    let base = stack.gateway.url();
    let pools: Value = stack
        .http
        .get(format!("{base}/api/pools"))
        .send()
        .await
        .expect("pools read")
        .json()
        .await
        .expect("json");
    let skills: BTreeMap<&str, f32> = pools["pools"]
        .as_array()
        .expect("pools")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .map(|name| (name, 0.9))
        .collect();
    let r = stack
        .http
        .post(format!("{base}/api/experts"))
        .json(
            &json!({ "name": EXPERT_NAME, "skills": skills, "capacity": 5,
                       "regions": ["north"], "availability": "available" }),
        )
        .send()
        .await
        .expect("expert created");
    assert_eq!(r.status(), 201);
    let expert: Value = r.json().await.expect("json");
    let expert_id: Uuid = expert["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    let email = "ada@pages.example".to_owned();
    let r = stack
        .http
        .post(format!("{base}/api/users"))
        .json(
            &json!({ "email": email, "password": PASSWORD, "role": "expert",
                       "name": EXPERT_NAME, "expert_id": expert_id }),
        )
        .send()
        .await
        .expect("account created");
    assert_eq!(r.status(), 201);
    (expert_id, email)
}

/// The text of the element `selector`, once it has some.
async fn text_of(tab: &Tab, what: &str, selector: &str) -> String {
    let js = format!(
        "document.querySelector({})?.textContent.trim() || null",
        serde_json::to_string(selector).expect("a string")
    );
    tab.wait_for(what, &js, REACT)
        .await
        .expect(what)
        .as_str()
        .expect("text")
        .to_owned()
}

/// Checks what every page must do on a phone: fit its width, label every control, load
/// nothing from elsewhere.
async fn check_phone_ready(tab: &Tab, page: &str) {
    let width: i64 = tab.eval("window.innerWidth").await.expect("width");
    let wide: Vec<String> = tab
        .eval(
            "[...document.querySelectorAll('body *')]\
             .filter((e) => e.getBoundingClientRect().right > 376 || e.scrollWidth > e.clientWidth + 1)\
             .map((e) => `${e.tagName}#${e.id}.${e.className}: ${e.scrollWidth} px`)\
             .slice(0, 8)",
        )
        .await
        .expect("elements");
    assert_eq!(
        width, 375,
        "{page} is laid out at a phone's width; too wide: {wide:?}"
    );
    let overflow: i64 = tab
        .eval("document.documentElement.scrollWidth - window.innerWidth")
        .await
        .expect("scroll width");
    assert!(overflow <= 0, "{page} scrolls sideways by {overflow} px");
    let unlabelled: Vec<String> = tab
        .eval(
            "[...document.querySelectorAll('input, select, textarea')]\
             .filter((e) => !e.labels.length && !e.getAttribute('aria-label'))\
             .map((e) => e.id || e.name)",
        )
        .await
        .expect("controls");
    assert!(unlabelled.is_empty(), "{page}: unlabelled {unlabelled:?}");
    let foreign: Vec<String> = tab
        .eval(
            "performance.getEntriesByType('resource').map((e) => e.name)\
             .filter((url) => !url.startsWith(location.origin))",
        )
        .await
        .expect("resources");
    assert!(foreign.is_empty(), "{page} loaded {foreign:?}");
}

async fn keep_screenshot(tab: &Tab, name: &str) {
    let path = tab.screenshot(name).await.expect("screenshot");
    let bytes = std::fs::metadata(&path).expect("written").len();
    assert!(
        bytes > 10_000,
        "{} is a real picture ({bytes} bytes)",
        path.display()
    );
    eprintln!("screenshot: {}", path.display());
}

#[tokio::test]
async fn a_customer_submits_a_ticket_on_the_customer_page_and_the_assigned_expert_accepts_and_resolves_it_on_the_expert_page(
) {
    let stack = Stack::start().await.expect("the stack starts");
    let base = stack.gateway.url();
    let (expert_id, expert_email) = expert_on_duty(&stack).await;
    let chromium = Chromium::launch(PHONE).await.expect("Chromium starts");

    // The customer page asks who is there; a newcomer signs up.
    let customer = chromium
        .open(&format!("{base}/customer"))
        .await
        .expect("the customer page opens");
    customer
        .wait_for(
            "the sign-in dialog",
            "document.getElementById('signin').open",
            REACT,
        )
        .await
        .expect("asked to sign in");
    customer.click("#signin-switch").await.expect("clicked");
    customer.fill("#signin-name", "Grace").await.expect("typed");
    customer
        .fill("#signin-email", "grace@pages.example")
        .await
        .expect("typed");
    customer
        .fill("#signin-password", PASSWORD)
        .await
        .expect("typed");
    customer.click("#signin-submit").await.expect("clicked");
    customer
        .wait_for(
            "the ticket form",
            "!document.getElementById('signin').open && !document.getElementById('workspace').hidden",
            REACT,
        )
        .await
        .expect("signed up and in");
    assert_eq!(text_of(&customer, "the name", "#who").await, "Grace");

    // A title the API refuses: the page says why, next to the field, and nothing is stored.
    let (title, description) = sample_ticket(7);
    customer.fill("#title", "Wi").await.expect("typed");
    customer
        .fill("#description", &description)
        .await
        .expect("typed");
    customer
        .click("#ticket-form button[type=submit]")
        .await
        .expect("clicked");
    let said = text_of(&customer, "the title's error", "#title-error").await;
    assert!(said.contains("3 to 200 characters"), "{said}");
    let invalid: Option<String> = customer
        .eval("document.getElementById('title').getAttribute('aria-invalid')")
        .await
        .expect("attribute");
    assert_eq!(invalid.as_deref(), Some("true"));
    let all: Value = stack
        .http
        .get(format!("{base}/api/tickets"))
        .send()
        .await
        .expect("listed")
        .json()
        .await
        .expect("json");
    assert_eq!(all["total"], 0, "the refused ticket is not stored");

    // Corrected, it is submitted and shows in the customer's list.
    customer.fill("#title", &title).await.expect("typed");
    customer.choose("#priority", "high").await.expect("chosen");
    customer
        .click("#ticket-form button[type=submit]")
        .await
        .expect("clicked");
    let thanks = text_of(&customer, "the confirmation", "#form-status").await;
    assert!(thanks.contains(&title), "{thanks}");
    let id: Uuid = customer
        .wait_for(
            "the ticket in the list",
            "document.querySelector('#tickets .ticket')?.dataset.id",
            REACT,
        )
        .await
        .expect("listed")
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    let stored = stack.ticket(id).await.expect("the API has it");
    assert_eq!(stored["customer"], "grace@pages.example");
    assert_eq!(stored["priority"], "high");
    assert_eq!(stored["title"], title.as_str());
    // Sent under an Idempotency-Key, so a submission repeated after a lost answer is stored once.
    let key: Option<String> =
        sqlx::query_scalar("SELECT idempotency_key FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_one(&stack.env.pool("tickets").await)
            .await
            .expect("the ticket's key");
    assert!(
        key.as_deref().is_some_and(|k| k.starts_with("web-")),
        "{key:?}"
    );

    // The page follows the ticket by itself until it is assigned, naming the expert.
    let row = format!("#tickets .ticket[data-id=\"{id}\"]");
    customer
        .wait_for(
            "the ticket shown assigned to the expert",
            &format!(
                "(() => {{ const r = document.querySelector('{row}'); \
                 return !!r && r.dataset.status === 'assigned' && r.textContent.includes('{EXPERT_NAME}'); }})()"
            ),
            SETTLE,
        )
        .await
        .expect("assigned on the page");
    let assigned = stack.ticket(id).await.expect("read");
    assert_eq!(assigned["status"], "assigned");
    assert_eq!(assigned["assignee"], json!(expert_id));
    let shown: Vec<String> = customer
        .wait_for(
            "the assignment in the history",
            "(() => { const t = [...document.querySelectorAll('#detail-history li')].map((li) => li.dataset.type); \
             return t.includes('ticket.assigned') ? t : null; })()",
            REACT,
        )
        .await
        .map(|v| serde_json::from_value(v).expect("strings"))
        .expect("history shown");
    assert_eq!(shown.first().map(String::as_str), Some("ticket.created"));
    let detail = text_of(&customer, "the detail", "#detail").await;
    assert!(
        detail.contains(&format!("Assigned to {EXPERT_NAME}")),
        "{detail}"
    );
    check_phone_ready(&customer, "the customer page").await;
    keep_screenshot(&customer, "customer-phone.png").await;

    // The expert signs in on the expert page and finds the ticket waiting for her.
    let expert = chromium
        .open(&format!("{base}/expert"))
        .await
        .expect("the expert page opens");
    expert
        .wait_for(
            "the sign-in dialog",
            "document.getElementById('signin').open",
            REACT,
        )
        .await
        .expect("asked to sign in");
    expert
        .fill("#signin-email", &expert_email)
        .await
        .expect("typed");
    expert
        .fill("#signin-password", PASSWORD)
        .await
        .expect("typed");
    expert
        .click("#signin button[type=submit]")
        .await
        .expect("clicked");
    let card = format!("#assigned li[data-id=\"{id}\"]");
    let waiting = text_of(&expert, "the ticket waiting", &card).await;
    assert!(waiting.contains(&title), "{waiting}");
    assert!(waiting.contains("grace@pages.example"), "{waiting}");
    keep_screenshot(&expert, "expert-waiting-phone.png").await;
    assert_eq!(
        text_of(&expert, "the name", "#who").await,
        EXPERT_NAME,
        "the expert's name"
    );

    // She accepts it: the page moves it to what is in progress, and the API agrees.
    expert
        .click(&format!("{card} button[data-action=accept]"))
        .await
        .expect("clicked");
    expert
        .wait_for(
            "the ticket in progress",
            &format!(
                "!!document.querySelector('#accepted li[data-id=\"{id}\"][data-status=accepted]')"
            ),
            REACT,
        )
        .await
        .expect("accepted on the page");
    let flash = text_of(&expert, "the confirmation", "#flash").await;
    assert!(flash.contains("You accepted"), "{flash}");
    let accepted = stack.ticket(id).await.expect("read");
    assert_eq!(accepted["status"], "accepted");
    let events = event_types(&history(&stack.http, &base, id).await.expect("history"));
    assert_eq!(events.last().map(String::as_str), Some("ticket.accepted"));
    let resolve: bool = expert
        .eval(&format!(
            "!!document.querySelector('#accepted li[data-id=\"{id}\"] button[data-action=resolve]')"
        ))
        .await
        .expect("evaluated");
    assert!(resolve, "the expert can resolve it next");
    check_phone_ready(&expert, "the expert page").await;
    keep_screenshot(&expert, "expert-phone.png").await;

    // The customer's page, left open, shows it accepted too.
    customer.show().await.expect("shown");
    customer
        .wait_for(
            "the customer's page to show it in progress",
            &format!("document.querySelector('{row}')?.dataset.status === 'accepted'"),
            REACT,
        )
        .await
        .expect("accepted on the customer's page");

    // She resolves it with a note for the customer.
    expert.show().await.expect("shown");
    let in_progress = format!("#accepted li[data-id=\"{id}\"]");
    expert
        .click(&format!("{in_progress} button[data-action=resolve]"))
        .await
        .expect("clicked");
    expert
        .fill(
            &format!("{in_progress} textarea"),
            "Replaced the router's power supply.",
        )
        .await
        .expect("typed");
    expert
        .click(&format!("{in_progress} form.confirm button[type=submit]"))
        .await
        .expect("clicked");
    expert
        .wait_for(
            "the ticket resolved",
            &format!(
                "!!document.querySelector('#resolved li[data-id=\"{id}\"][data-status=resolved]')"
            ),
            REACT,
        )
        .await
        .expect("resolved on the page");

    // The customer reads the note in the history and closes the ticket.
    customer.show().await.expect("shown");
    customer
        .wait_for(
            "the note in the customer's history",
            "document.getElementById('detail-history').textContent.includes('power supply')",
            REACT,
        )
        .await
        .expect("the note shown");
    customer
        .click("#detail-actions button.primary")
        .await
        .expect("clicked");
    customer
        .click("#detail-actions form.confirm button[type=submit]")
        .await
        .expect("clicked");
    customer
        .wait_for(
            "the ticket closed",
            &format!("document.querySelector('{row}')?.dataset.status === 'closed'"),
            REACT,
        )
        .await
        .expect("closed on the page");
    assert_eq!(stack.ticket(id).await.expect("read")["status"], "closed");

    chromium.close().await;
    stack.shutdown().await;
}
