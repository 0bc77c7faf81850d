//! The customers' and experts' pages as the gateway serves them: every file a page names is
//! served by the gateway itself, with its type, under the content policy; the sign-in script is
//! the platform's; the home page links the pages.

mod support;

use reqwest::StatusCode;

use sysops_platform::web::SESSION_SCRIPT;

use support::{spawn_gateway, TestGateway};

/// The body and content type of `GET path`, which must succeed.
async fn fetch(gateway: &TestGateway, path: &str) -> (String, String, reqwest::header::HeaderMap) {
    let response = gateway
        .client
        .get(gateway.url(path))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let headers = response.headers().clone();
    let content_type = headers["content-type"].to_str().expect("ascii").to_owned();
    (
        response.text().await.expect("a body"),
        content_type,
        headers,
    )
}

/// The values of the `src` and `href` attributes of `html`.
fn references(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| html.split(attribute).skip(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn each_page_gets_every_file_it_names_from_the_gateway_with_its_type() {
    let gateway = spawn_gateway().await;

    for page in ["/customer", "/expert"] {
        let (html, content_type, headers) = fetch(&gateway, page).await;

        assert!(
            content_type.starts_with("text/html"),
            "{page}: {content_type}"
        );
        let policy = headers["content-security-policy"].to_str().expect("ascii");
        assert!(policy.contains("default-src 'self'"), "{policy}");
        let files = references(&html);
        assert!(
            files.iter().any(|f| f == "/pages/session.js"),
            "{page} signs in with the shared script: {files:?}"
        );
        for file in files.iter().filter(|f| f.starts_with("/pages/")) {
            let (_, file_type, _) = fetch(&gateway, file).await;
            let wanted = if file.ends_with(".js") {
                "text/javascript"
            } else {
                "text/css"
            };
            assert!(file_type.starts_with(wanted), "{file}: {file_type}");
        }
        assert!(
            files.iter().all(|f| f.starts_with('/')),
            "{page} names nothing elsewhere: {files:?}"
        );
    }
    let (script, _, _) = fetch(&gateway, "/pages/session.js").await;
    assert_eq!(script, SESSION_SCRIPT);
}

#[tokio::test]
async fn the_home_page_links_the_pages_of_customers_experts_and_managers() {
    let gateway = spawn_gateway().await;

    let (html, _, _) = fetch(&gateway, "/").await;

    let links = references(&html);
    for page in ["/customer", "/expert", "/dashboard"] {
        assert!(links.iter().any(|l| l == page), "{page} in {links:?}");
    }
}
