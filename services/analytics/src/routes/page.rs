//! `GET /dashboard`: the managers' page. Everything it needs is served from here (no CDN):
//! the page, its scripts and its style sheet, compiled into the binary. The page signs in
//! (the platform's session.js, which the gateway's pages load too) before it reads any figure.

use axum::routing::get;
use axum::Router;

use sysops_platform::web::{asset, CSS, HTML, JAVASCRIPT, SESSION_SCRIPT};

use crate::startup::AppState;

const PAGE: &str = include_str!("../../assets/dashboard.html");
const SCRIPT: &str = include_str!("../../assets/dashboard.js");
const STYLE: &str = include_str!("../../assets/dashboard.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(|| async { asset(HTML, PAGE) }))
        .route(
            "/dashboard/app.js",
            get(|| async { asset(JAVASCRIPT, SCRIPT) }),
        )
        .route(
            "/dashboard/session.js",
            get(|| async { asset(JAVASCRIPT, SESSION_SCRIPT) }),
        )
        .route("/dashboard/app.css", get(|| async { asset(CSS, STYLE) }))
}
