//! The scenarios: what the suite does to the system while the load runs.

/// A process of the system that a scenario kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Gateway,
    Tickets,
    Categorizer,
    Routing,
    Analytics,
}

/// What a scenario does to the system while the load runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: the reference row.
    None,
    /// SIGKILL, down for the downtime, started again on the same address.
    Kill(Service),
    /// The RabbitMQ node stopped and, after the downtime, started again.
    RestartRabbitMq,
    /// PostgreSQL stopped (fast shutdown: connections cut) and started again.
    RestartPostgres,
    /// The LLM behaves this way for half the load (the categorizer then uses the LLM).
    Llm(LlmFault),
    /// Malformed messages on every work queue's routing keys, malformed requests at the gateway.
    MalformedFlood,
    /// A second categorizer replica started, and stopped (SIGTERM) a few seconds later.
    ScaleCategorizer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmFault {
    /// Answers after 3 s, beyond the categorizer's 1 s timeout.
    Slow,
    /// 500 Internal Server Error to every request.
    ServerError,
    /// 429 Too Many Requests to every request.
    RateLimited,
    /// 200 with a body that is not valid JSON.
    Garbage,
}

impl Fault {
    /// Every scenario, in the order the suite runs them.
    pub const ALL: [Fault; 14] = [
        Fault::None,
        Fault::Kill(Service::Gateway),
        Fault::Kill(Service::Tickets),
        Fault::Kill(Service::Categorizer),
        Fault::Kill(Service::Routing),
        Fault::Kill(Service::Analytics),
        Fault::ScaleCategorizer,
        Fault::MalformedFlood,
        Fault::Llm(LlmFault::Slow),
        Fault::Llm(LlmFault::ServerError),
        Fault::Llm(LlmFault::RateLimited),
        Fault::Llm(LlmFault::Garbage),
        Fault::RestartRabbitMq,
        Fault::RestartPostgres,
    ];

    /// The scenario's name on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Kill(Service::Gateway) => "kill-gateway",
            Fault::Kill(Service::Tickets) => "kill-tickets",
            Fault::Kill(Service::Categorizer) => "kill-categorizer",
            Fault::Kill(Service::Routing) => "kill-routing",
            Fault::Kill(Service::Analytics) => "kill-analytics",
            Fault::RestartRabbitMq => "restart-rabbitmq",
            Fault::RestartPostgres => "restart-postgres",
            Fault::Llm(LlmFault::Slow) => "llm-slow",
            Fault::Llm(LlmFault::ServerError) => "llm-500",
            Fault::Llm(LlmFault::RateLimited) => "llm-429",
            Fault::Llm(LlmFault::Garbage) => "llm-garbage",
            Fault::MalformedFlood => "malformed-flood",
            Fault::ScaleCategorizer => "scale-categorizer",
        }
    }

    pub fn by_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_scenario_has_a_unique_name() {
        let names: HashSet<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Fault::ALL.len());
        assert_eq!(
            Fault::by_name("kill-routing"),
            Some(Fault::Kill(Service::Routing))
        );
        assert_eq!(Fault::by_name("nope"), None);
    }
}
