//! The services behind the gateway, which `/api` paths each one owns, and where they live.

use crate::config::Config;

/// A service the gateway forwards to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Tickets,
    Categorizer,
    Routing,
    Analytics,
}

impl Service {
    /// Every service, in the order they are reported.
    pub const ALL: [Service; 4] = [
        Service::Tickets,
        Service::Categorizer,
        Service::Routing,
        Service::Analytics,
    ];

    /// The name used in error messages, metrics labels and `/api/health`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Tickets => "tickets",
            Service::Categorizer => "categorizer",
            Service::Routing => "routing",
            Service::Analytics => "analytics",
        }
    }

    /// The service that owns `path`, by its first segment after `/api/` (or the managers'
    /// page, `/dashboard`, which analytics serves); `None` when no service does.
    pub fn owning(path: &str) -> Option<Service> {
        if path == "/dashboard" || path.starts_with("/dashboard/") {
            return Some(Service::Analytics);
        }
        let rest = path.strip_prefix("/api/")?;
        let resource = rest.split('/').next().unwrap_or_default();
        match resource {
            "tickets" => Some(Service::Tickets),
            "experts" | "pools" | "routing" => Some(Service::Routing),
            "dashboard" | "analytics" => Some(Service::Analytics),
            "categorizer" => Some(Service::Categorizer),
            _ => None,
        }
    }
}

/// A base URL in the configuration that the gateway cannot forward to.
#[derive(Debug, thiserror::Error)]
#[error("the {service} URL `{url}` is not an http:// or https:// URL")]
pub struct BadUpstreamUrl {
    pub service: &'static str,
    pub url: String,
}

/// Base URLs of the services, checked once at start, without a trailing slash.
#[derive(Debug, Clone)]
pub struct Upstreams {
    tickets: String,
    categorizer: String,
    routing: String,
    analytics: String,
}

impl Upstreams {
    pub fn from_config(config: &Config) -> Result<Self, BadUpstreamUrl> {
        Ok(Upstreams {
            tickets: checked(Service::Tickets, &config.tickets_url)?,
            categorizer: checked(Service::Categorizer, &config.categorizer_url)?,
            routing: checked(Service::Routing, &config.routing_url)?,
            analytics: checked(Service::Analytics, &config.analytics_url)?,
        })
    }

    /// The URL of `path_and_query` (starting with `/`) on `service`.
    pub fn url(&self, service: Service, path_and_query: &str) -> String {
        let base = match service {
            Service::Tickets => &self.tickets,
            Service::Categorizer => &self.categorizer,
            Service::Routing => &self.routing,
            Service::Analytics => &self.analytics,
        };
        format!("{base}{path_and_query}")
    }
}

fn checked(service: Service, url: &str) -> Result<String, BadUpstreamUrl> {
    let bad = || BadUpstreamUrl {
        service: service.name(),
        url: url.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        return Err(bad());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_resource_belongs_to_the_service_that_owns_it() {
        let cases = [
            ("/api/tickets", Some(Service::Tickets)),
            ("/api/tickets/42/history", Some(Service::Tickets)),
            ("/api/experts", Some(Service::Routing)),
            ("/api/experts/7", Some(Service::Routing)),
            ("/api/pools/hardware", Some(Service::Routing)),
            ("/api/routing/statistics", Some(Service::Routing)),
            ("/api/dashboard/summary", Some(Service::Analytics)),
            ("/api/analytics/trends", Some(Service::Analytics)),
            ("/dashboard", Some(Service::Analytics)),
            ("/dashboard/app.js", Some(Service::Analytics)),
            ("/api/categorizer/categorize", Some(Service::Categorizer)),
        ];
        for (path, expected) in cases {
            assert_eq!(Service::owning(path), expected, "{path}");
        }
    }

    #[test]
    fn unknown_or_look_alike_paths_belong_to_no_service() {
        for path in [
            "/api",
            "/api/",
            "/api/ticketsx",
            "/api/auth/login",
            "/tickets",
            "/apitickets",
            "/dashboards",
        ] {
            assert_eq!(Service::owning(path), None, "{path}");
        }
    }

    #[test]
    fn upstream_urls_join_the_base_and_the_path_without_doubling_slashes() {
        let config = Config::for_tests(
            "postgres://unused",
            "http://t:1/",
            "http://c:2",
            "http://r:3",
            "http://a:4",
        );
        let upstreams = Upstreams::from_config(&config).expect("valid URLs");
        assert_eq!(
            upstreams.url(Service::Tickets, "/api/tickets?x=1"),
            "http://t:1/api/tickets?x=1"
        );
        assert_eq!(
            upstreams.url(Service::Analytics, "/health"),
            "http://a:4/health"
        );
    }

    #[test]
    fn a_base_url_that_is_not_http_is_refused() {
        let config = Config::for_tests(
            "postgres://unused",
            "ftp://t",
            "http://c",
            "http://r",
            "http://a",
        );
        let err = Upstreams::from_config(&config).expect_err("ftp is not http");
        assert_eq!(err.service, "tickets");
    }
}
