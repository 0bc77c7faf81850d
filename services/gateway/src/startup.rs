//! Building and running the gateway: the identity database, the HTTP client to the services,
//! the routes and who may call them, serving.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::FromRef;
use axum::routing::{any, get};
use axum::{middleware, Router};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use sysops_platform::auth::TokenKeys;

use sysops_platform::http::{self, with_middleware};
use sysops_platform::ops::Ops;

use crate::config::Config;
use crate::edge::{self, Limits};
use crate::identity::sessions::Sessions;
use crate::identity::{self, bootstrap_admin};
use crate::upstream::{Service, Upstreams};
use crate::{health, home, openapi, ops_access, pages, policy, proxy};

/// Longest wait for a TCP connection to a service; a service that is down refuses at once,
/// one that is unreachable should not hold the client for the whole upstream timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an idle pooled connection to a service is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Added to the upstream timeout for the gateway's own request timeout, so that a slow
/// upstream is reported as such (504 naming it) rather than as a bare 408.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

/// The gateway's schema: users and sessions.
pub const SCHEMA: &str = "identity";

/// What request handlers share.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// One pooled client for every upstream, with the upstream timeout.
    pub client: reqwest::Client,
    /// Where each service lives.
    pub upstreams: Arc<Upstreams>,
    /// Largest request body forwarded.
    pub max_body_bytes: usize,
    /// Users and sessions.
    pub db: PgPool,
    /// Signs and checks access tokens.
    pub keys: Arc<TokenKeys>,
    pub sessions: Arc<Sessions>,
    pub limits: Arc<Limits>,
}

/// A built gateway, bound to its port, not yet running.
pub struct Application {
    config: Config,
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Checks the upstream URLs and the signing secret, prepares the identity schema (and the
    /// first admin), builds the HTTP client and binds the listener. The services need not be
    /// up: requests to one that is down are answered 503.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let upstreams = Upstreams::from_config(&config)?;
        let keys = Arc::new(TokenKeys::new(&config.auth)?);
        let db = config
            .db
            .connect(SCHEMA, sqlx::migrate!("./migrations"))
            .await
            .context("preparing the database")?;
        bootstrap_admin(
            &db,
            config.admin_email.as_deref(),
            config.admin_password.as_ref(),
        )
        .await
        .context("creating the first administrator")?;
        let sessions = Arc::new(Sessions::new(
            keys.clone(),
            config.access_token_ttl(),
            config.refresh_token_ttl(),
        ));
        let client = reqwest::Client::builder()
            .timeout(config.upstream_timeout())
            .connect_timeout(CONNECT_TIMEOUT.min(config.upstream_timeout()))
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // A proxy hands redirects to the client instead of following them itself.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        let listener = http::bind(&config.http_addr)
            .await
            .context("binding the HTTP listener")?;
        Ok(Application {
            state: AppState {
                client,
                upstreams: Arc::new(upstreams),
                max_body_bytes: config.max_body_bytes,
                db,
                keys,
                sessions,
                limits: Arc::new(Limits::from_config(&config)),
            },
            config,
            listener,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The HTTP routes, ready to serve.
    pub fn router(&self) -> anyhow::Result<Router> {
        let client = self.state.client.clone();
        let upstreams = self.state.upstreams.clone();
        // The gateway is useful as long as tickets can be submitted.
        let ops = Ops::new("gateway")
            .postgres(self.state.db.clone())
            .check("tickets", move || {
                let client = client.clone();
                let upstreams = upstreams.clone();
                async move { health::probe(&client, &upstreams, Service::Tickets).await }
            });
        let api = identity::routes::router()
            .route("/", get(home::page))
            .route("/api/health", get(health::system_health))
            .route("/api/{*path}", any(proxy::forward))
            .route("/dashboard", any(proxy::forward))
            .route("/dashboard/{*path}", any(proxy::forward))
            .merge(pages::router())
            .merge(openapi::router())
            .fallback(http::not_found)
            .layer(middleware::from_fn_with_state(
                self.state.clone(),
                policy::enforce,
            ))
            .with_state(self.state.clone());
        let api = edge::protect(api, &self.config)?;
        Ok(
            with_middleware(api, self.config.upstream_timeout() + TIMEOUT_MARGIN).merge(
                ops.router().layer(middleware::from_fn_with_state(
                    self.config
                        .metrics_token
                        .clone()
                        .filter(|t| !t.expose().is_empty())
                        .map(Arc::new),
                    ops_access::guard,
                )),
            ),
        )
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests finish.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let router = self.router()?;
        let limits = self.state.limits.clone();
        let forget = tokio::spawn(async move {
            let mut every = tokio::time::interval(edge::FORGET_EVERY);
            loop {
                every.tick().await;
                limits.forget_idle();
            }
        });
        let sync = tokio::spawn(
            self.state
                .sessions
                .clone()
                .sync_revocations(self.state.db.clone(), shutdown.clone()),
        );
        // Client addresses feed `x-forwarded-for`.
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("serving HTTP")?;
        sync.abort();
        forget.abort();
        self.state.db.close().await;
        tracing::info!("gateway stopped");
        Ok(())
    }
}
