//! `GET /`: a small page saying what this is and where to look next.

use axum::response::Html;

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sysops Squad triage</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5; color: #222; }
  h1 { font-size: 1.6rem; }
  code { background: #f3f3f3; padding: 0 .2rem; }
</style>
</head>
<body>
<h1>Sysops Squad triage</h1>
<p>Penultimate Electronics' support ticket system. Customers submit tickets; each one is stored
durably, categorized, and routed to the best available Sysops Squad expert of the matching
skill pool.</p>
<p>Everything is reached through this gateway under <code>/api</code>. Sign in with
<code>POST /api/auth/login</code> (customers sign up with <code>POST /api/auth/register</code>)
and send the access token it returns as <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<ul>
  <li><a href="/dashboard">/dashboard</a> &mdash; the managers' dashboard, live (asks you to sign in)</li>
  <li><a href="/api/health">/api/health</a> &mdash; the health of every service</li>
  <li><code>/api/tickets</code> &mdash; tickets: customers see their own, experts those assigned to them</li>
  <li><code>/api/pools</code>, <code>/api/experts</code>, <code>/api/routing/statistics</code> &mdash; skill pools, the roster and routing, for managers</li>
  <li><code>/api/users</code> &mdash; accounts, for admins</li>
</ul>
</body>
</html>
"#;

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}
