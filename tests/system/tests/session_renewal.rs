//! A page's session outlives its access token, in headless Chromium through the gateway: the
//! requests that meet the expired token together share one renewal. A refresh token is spent
//! once; presented twice, the gateway takes it for a copy and ends the session, so five requests
//! renewing each on their own would sign the person out.

use std::time::Duration;

use serde_json::{json, Value};

use sysops_system_tests::driver::{Chromium, PHONE};
use sysops_testkit::Stack;

/// The access tokens' lifetime here, in seconds; the checks allow 5 s more for clock skew.
const ACCESS_TTL: u64 = 1;

#[tokio::test]
async fn requests_that_meet_an_expired_token_together_share_one_renewal() {
    let settings = [("ACCESS_TOKEN_TTL_SECS".to_owned(), ACCESS_TTL.to_string())];
    let stack = Stack::start_with(&settings)
        .await
        .expect("the stack starts");
    let base = stack.gateway.url();
    let r = reqwest::Client::new()
        .post(format!("{base}/api/auth/register"))
        .json(&json!({ "email": "lin@sessions.example", "password": "a long enough password" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 201);
    let session: Value = r.json().await.expect("a token pair");

    // The customer page, holding that session as if the person had signed in on it.
    let chromium = Chromium::launch(PHONE).await.expect("Chromium starts");
    let page = chromium
        .open(&format!("{base}/customer"))
        .await
        .expect("the page opens");
    let stored = format!(
        "sessionStorage.setItem('sysops.session', {}); true",
        serde_json::to_string(&session.to_string()).expect("a JS string")
    );
    let _: bool = page.eval(&stored).await.expect("the session stored");

    // Past the token's lifetime and the leeway, five calls at once.
    tokio::time::sleep(Duration::from_secs(ACCESS_TTL + 6)).await;
    // A session ended by a twice-presented token leaves the calls waiting for a sign-in.
    let calls = page.eval::<Vec<u16>>(
        "Promise.all([0, 1, 2, 3, 4].map(() => Session.fetch('/api/auth/me').then((r) => r.status)))",
    );
    let statuses = tokio::time::timeout(Duration::from_secs(30), calls)
        .await
        .expect("the calls answered without asking to sign in again")
        .expect("the calls ran");
    assert_eq!(statuses, [200; 5]);
    let renewed: String = page
        .eval("JSON.parse(sessionStorage.getItem('sysops.session')).refresh_token")
        .await
        .expect("the session");
    assert_ne!(
        renewed,
        session["refresh_token"].as_str().unwrap_or_default()
    );
    // The session lives on: the renewed refresh token renews again.
    let r = reqwest::Client::new()
        .post(format!("{base}/api/auth/refresh"))
        .json(&json!({ "refresh_token": renewed }))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200, "the session was not ended");
    chromium.close().await;
    stack.env.cleanup().await;
}
