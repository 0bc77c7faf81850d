/// Where the broker is and how this process names its queues.
#[derive(Clone)]
pub struct BusConfig {
    /// AMQP URI, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub url: String,
    /// The topic exchange all events go through (`tickets`).
    pub exchange: String,
    /// Prepended to every queue name; empty in production, unique per test.
    pub queue_prefix: String,
    /// Shown in the broker's management UI.
    pub connection_name: String,
    /// Deliveries after which a message that keeps failing is dead-lettered.
    pub delivery_limit: u32,
}

impl BusConfig {
    pub fn new(url: impl Into<String>, exchange: impl Into<String>) -> Self {
        BusConfig {
            url: url.into(),
            exchange: exchange.into(),
            queue_prefix: String::new(),
            connection_name: "sysops".into(),
            delivery_limit: 5,
        }
    }

    /// The full name of a queue of this bus.
    pub fn queue_name(&self, queue: &str) -> String {
        format!("{}{}", self.queue_prefix, queue)
    }

    /// The exchange that receives dead letters.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.exchange)
    }
}

impl std::fmt::Debug for BusConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusConfig")
            .field("url", &redact_password(&self.url))
            .field("exchange", &self.exchange)
            .field("queue_prefix", &self.queue_prefix)
            .field("connection_name", &self.connection_name)
            .field("delivery_limit", &self.delivery_limit)
            .finish()
    }
}

/// `scheme://user:secret@host` -> `scheme://user:***@host`.
fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..s + 3], &creds[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_output_hides_the_password() {
        let c = super::BusConfig::new("amqp://guest:secret@127.0.0.1:5672/%2f", "tickets");
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret"));
        assert!(shown.contains("guest:***@127.0.0.1"));
    }
}
