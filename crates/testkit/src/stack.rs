//! The whole system as real processes on one test's database and topology.

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use sysops_platform::auth::Role;

use crate::{wait_for, ServiceProcess, TestEnv};

/// The first administrator every test stack starts with.
pub const ADMIN_EMAIL: &str = "admin@test.example";
pub const ADMIN_PASSWORD: &str = "the test admin's password";

/// All five services, started in dependency order.
#[derive(Debug)]
pub struct Stack {
    pub env: TestEnv,
    pub tickets: ServiceProcess,
    pub categorizer: ServiceProcess,
    pub routing: ServiceProcess,
    pub analytics: ServiceProcess,
    pub gateway: ServiceProcess,
    /// Calls as an admin.
    pub http: reqwest::Client,
}

impl Stack {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&[]).await
    }

    /// Starts the stack with extra environment for every service, the gateway included.
    pub async fn start_with(extra: &[(String, String)]) -> anyhow::Result<Self> {
        let env = TestEnv::new().await;
        let mut service_env = env.service_env();
        service_env.extend_from_slice(extra);
        let tickets = ServiceProcess::start("tickets", &service_env).await?;
        let routing = ServiceProcess::start("routing", &service_env).await?;
        let analytics = ServiceProcess::start("analytics", &service_env).await?;
        let categorizer = ServiceProcess::start("categorizer", &service_env).await?;
        let mut gateway_env = vec![
            ("DATABASE_URL".to_owned(), env.database_url.clone()),
            ("DB_MAX_CONNECTIONS".to_owned(), "5".to_owned()),
            crate::auth::secret_env(),
            ("ADMIN_EMAIL".to_owned(), ADMIN_EMAIL.to_owned()),
            ("ADMIN_PASSWORD".to_owned(), ADMIN_PASSWORD.to_owned()),
            // Tests submit hundreds of tickets at once from one address.
            ("RATE_LIMIT_PER_ADDRESS".to_owned(), "0".to_owned()),
            ("RATE_LIMIT_PER_USER".to_owned(), "0".to_owned()),
            ("SIGN_IN_LIMIT_PER_MINUTE".to_owned(), "0".to_owned()),
            ("TICKETS_URL".to_owned(), tickets.url()),
            ("CATEGORIZER_URL".to_owned(), categorizer.url()),
            ("ROUTING_URL".to_owned(), routing.url()),
            ("ANALYTICS_URL".to_owned(), analytics.url()),
        ];
        gateway_env.extend_from_slice(extra);
        let gateway = ServiceProcess::start("gateway", &gateway_env).await?;
        Ok(Stack {
            env,
            tickets,
            categorizer,
            routing,
            analytics,
            gateway,
            http: crate::auth::client_of(Role::Admin),
        })
    }

    /// Submits a ticket through the gateway; returns its id.
    pub async fn submit(&self, title: &str, description: &str) -> anyhow::Result<Uuid> {
        submit_ticket(&self.http, &self.gateway.url(), title, description).await
    }

    /// Reads a ticket through the gateway.
    pub async fn ticket(&self, id: Uuid) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}/api/tickets/{id}", self.gateway.url()))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Waits until the ticket has the status.
    pub async fn wait_for_status(
        &self,
        id: Uuid,
        status: &str,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        wait_for(&format!("ticket {id} to be {status}"), timeout, || async {
            self.ticket(id).await.ok().filter(|t| t["status"] == status)
        })
        .await
    }

    /// Stops every process and deletes the test's database and topology.
    pub async fn shutdown(mut self) {
        for p in [
            &mut self.gateway,
            &mut self.categorizer,
            &mut self.routing,
            &mut self.analytics,
            &mut self.tickets,
        ] {
            p.kill().await;
        }
        self.env.cleanup().await;
    }
}

/// `POST {base}/api/tickets`; returns the new ticket's id.
pub async fn submit_ticket(
    http: &reqwest::Client,
    base: &str,
    title: &str,
    description: &str,
) -> anyhow::Result<Uuid> {
    let body = serde_json::json!({ "title": title, "description": description });
    let response = http
        .post(format!("{base}/api/tickets"))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 201,
        "submit answered {}",
        response.status()
    );
    let ticket: Value = response.json().await?;
    Ok(ticket["id"].as_str().unwrap_or_default().parse()?)
}
