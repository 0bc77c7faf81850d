use reqwest::StatusCode;

use crate::harness::Analytics;

#[tokio::test]
async fn bad_parameters_are_refused_with_a_reason() {
    let mut a = Analytics::start().await;
    for (path, needle) in [
        ("/api/dashboard/summary?colour=blue", "colour"),
        ("/api/dashboard/summary?from=yesterday", "yesterday"),
        ("/api/dashboard/summary?from=1h&to=2h", "before"),
        ("/api/analytics/trends?days=0", "days"),
        ("/api/analytics/tickets?period=year", "period"),
        (
            "/api/analytics/trends?from=7d",
            "`days` sets the time window",
        ),
        (
            "/api/analytics/tickets?to=1h",
            "`period` sets the time window",
        ),
        ("/api/analytics/drilldown?status=lost", "status"),
        ("/api/analytics/drilldown?limit=5000", "limit"),
        ("/api/analytics/drilldown?format=xlsx", "format"),
        (
            "/api/analytics/drilldown?needs_review=maybe",
            "needs_review",
        ),
        ("/api/dashboard/routing?pool=a&pool=b", "more than once"),
    ] {
        let (status, body) = a.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{path}: {error}");
    }
    a.process.kill().await;
    a.env.cleanup().await;
}
