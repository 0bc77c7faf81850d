//! HTTP routes of the tickets service.

pub mod tickets;

use axum::extract::rejection::{PathRejection, QueryRejection};
use sysops_platform::ApiError;

/// A path parameter that does not parse (e.g. a ticket id that is not a UUID).
pub fn bad_path(rejection: PathRejection) -> ApiError {
    ApiError::bad_request(format!("invalid path: {}", rejection.body_text()))
}

/// A query string that does not parse.
pub fn bad_query(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request(rejection.body_text())
}
