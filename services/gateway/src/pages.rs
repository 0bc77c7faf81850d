//! The web pages of the people the system serves, apart from the managers' dashboard (which
//! analytics serves behind `/dashboard`): `/customer`, where customers sign up or sign in,
//! report a problem and follow their tickets, and `/expert`, where experts work the tickets
//! assigned to them. Plain HTML, CSS and scripts compiled into the binary; nothing is loaded
//! from elsewhere, and no script is inline (the content policy of [`crate::edge`] forbids it).
//! The pages are public; they sign in (the platform's session.js) before they read anything.

use axum::routing::get;
use axum::Router;

use sysops_platform::web::{asset, CSS, HTML, JAVASCRIPT, SESSION_SCRIPT};

use crate::startup::AppState;

/// Every file of the pages: its path, content type and body. Each path has a public rule in
/// [`crate::policy::RULES`].
pub const FILES: [(&str, &str, &str); 7] = [
    ("/customer", HTML, include_str!("../assets/customer.html")),
    ("/expert", HTML, include_str!("../assets/expert.html")),
    ("/pages/pages.css", CSS, include_str!("../assets/pages.css")),
    ("/pages/session.js", JAVASCRIPT, SESSION_SCRIPT),
    ("/pages/ui.js", JAVASCRIPT, include_str!("../assets/ui.js")),
    (
        "/pages/customer.js",
        JAVASCRIPT,
        include_str!("../assets/customer.js"),
    ),
    (
        "/pages/expert.js",
        JAVASCRIPT,
        include_str!("../assets/expert.js"),
    ),
];

pub fn router() -> Router<AppState> {
    FILES
        .iter()
        .fold(Router::new(), |router, &(path, content_type, body)| {
            router.route(path, get(move || async move { asset(content_type, body) }))
        })
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;
    use crate::policy::{lookup, Access, Lookup};

    #[test]
    fn every_file_of_the_pages_is_public() {
        for (path, _, _) in FILES {
            assert_eq!(
                lookup(&Method::GET, path),
                Lookup::Allowed(Access::Public),
                "{path}"
            );
        }
    }

    #[test]
    fn the_pages_load_nothing_from_elsewhere_and_run_no_inline_script() {
        for (path, _, body) in FILES {
            for outside in ["http://", "https://", "//fonts.", "@import"] {
                assert!(!body.contains(outside), "{path} refers to {outside}");
            }
            if path == "/customer" || path == "/expert" {
                let inline = body
                    .split("<script")
                    .skip(1)
                    .filter(|tag| !tag.trim_start().starts_with("src="))
                    .count();
                assert_eq!(inline, 0, "{path} has an inline script");
                assert!(!body.contains(" onclick="), "{path} has an inline handler");
            }
        }
    }
}
