//! What the web pages of the services share: the sign-in script every page loads, and serving
//! a file compiled into the binary (pages work offline: nothing is fetched from elsewhere).

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

/// The pages' sign-in script (`assets/session.js`): keeps the tokens in the tab's session
/// storage, sends the access token with every API call, renews it on 401, signs in (or, where
/// a page allows it, signs a customer up) through the page's `#signin` dialog, signs out, and
/// takes a token handed over as `#token=...` in the address.
pub const SESSION_SCRIPT: &str = include_str!("../assets/session.js");

pub const HTML: &str = "text/html; charset=utf-8";
pub const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
pub const CSS: &str = "text/css; charset=utf-8";

/// An embedded file as an answer. Browsers check it again on every load, so a new release is
/// seen at once.
pub fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
}
