//! The gateway: the public edge of Sysops Squad triage. It proxies `/api/...` to the service
//! that owns each path, reports the health of the whole system at `/api/health` and serves the
//! home page and the customers' and experts' pages. It signs users in and checks, for every
//! request, that the caller may make it.

pub mod config;
pub mod edge;
pub mod headers;
pub mod health;
pub mod home;
pub mod identity;
pub mod openapi;
pub mod ops_access;
pub mod pages;
pub mod policy;
pub mod proxy;
pub mod startup;
pub mod upstream;
