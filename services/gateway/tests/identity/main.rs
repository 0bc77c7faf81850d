//! Accounts and sessions through the gateway's HTTP API, on a real database: sign-up,
//! sign-in, renewal, sign-out, the first admin, and accounts managed by admins.

mod accounts;
mod harness;
mod sessions;
mod sign_up;
