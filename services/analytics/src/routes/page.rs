//! `GET /dashboard`: the managers' page. Everything it needs is served from here (no CDN):
//! the page, its scripts and its style sheet, compiled into the binary. The page signs in
//! (session.js) before it reads any figure.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::startup::AppState;

const PAGE: &str = include_str!("../../assets/dashboard.html");
const SCRIPT: &str = include_str!("../../assets/dashboard.js");
const SESSION: &str = include_str!("../../assets/session.js");
const STYLE: &str = include_str!("../../assets/dashboard.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/dashboard",
            get(|| serve("text/html; charset=utf-8", PAGE)),
        )
        .route(
            "/dashboard/app.js",
            get(|| serve("text/javascript; charset=utf-8", SCRIPT)),
        )
        .route(
            "/dashboard/session.js",
            get(|| serve("text/javascript; charset=utf-8", SESSION)),
        )
        .route(
            "/dashboard/app.css",
            get(|| serve("text/css; charset=utf-8", STYLE)),
        )
}

async fn serve(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
}
