//! `GET /`: a small page saying what this is and leading to the pages of each kind of user.

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
  .pages { list-style: none; padding: 0; display: grid; gap: .6rem; }
  .pages a { display: block; padding: .7rem 1rem; border: 1px solid #d0d5dd; border-radius: 8px; text-decoration: none; color: inherit; }
  .pages a:hover, .pages a:focus { border-color: #2f6fde; }
  .pages strong { color: #2f6fde; }
</style>
</head>
<body>
<h1>Sysops Squad triage</h1>
<p>Penultimate Electronics' support ticket system. Customers submit tickets; each one is stored
durably, categorized, and routed to the best available Sysops Squad expert of the matching
skill pool.</p>
<ul class="pages">
  <li><a href="/customer"><strong>Customers</strong> &mdash; report a problem and follow your tickets (sign up or sign in)</a></li>
  <li><a href="/expert"><strong>Experts</strong> &mdash; the tickets assigned to you: accept, reject, resolve</a></li>
  <li><a href="/dashboard"><strong>Managers</strong> &mdash; the live dashboard</a></li>
</ul>
<p>Everything is reached through this gateway under <code>/api</code>. Sign in with
<code>POST /api/auth/login</code> (customers sign up with <code>POST /api/auth/register</code>)
and send the access token it returns as <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<ul>
  <li><a href="/api/docs/">/api/docs</a> &mdash; the whole API, every request and answer (the OpenAPI document is <a href="/api/openapi.json">/api/openapi.json</a>)</li>
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
