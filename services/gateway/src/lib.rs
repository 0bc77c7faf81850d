//! The gateway: the public edge of Sysops Squad triage. It proxies `/api/...` to the service
//! that owns each path, reports the health of the whole system at `/api/health` and serves the
//! home page. Authentication, rate limits and the OpenAPI document come later.

pub mod config;
pub mod headers;
pub mod health;
pub mod home;
pub mod proxy;
pub mod startup;
pub mod upstream;
