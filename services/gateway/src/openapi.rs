//! The OpenAPI document of the whole API, served at `/api/openapi.json`, and a reader for it
//! at `/api/docs` (Swagger UI, compiled into the binary; nothing is fetched from elsewhere).
//!
//! Each service describes its own routes (`utoipa` annotations next to the handlers); the
//! document joins them with [`assemble`]. The gateway cannot link the services, so the joined
//! document is kept in `services/gateway/openapi.json`, written by
//! `cargo run -p sysops-system-tests --bin openapi`; a test fails when it is out of date.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, ResponseBuilder};
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

/// The joined document, as committed.
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";

/// Where its reader is served.
pub const DOCS_PATH: &str = "/api/docs";

/// The gateway's own routes: identity and the system's health.
pub fn own() -> OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(crate::health::system_health),
        tags((name = "gateway", description = "The system as a whole"))
    )]
    struct Gateway;
    let mut doc = Gateway::openapi();
    doc.merge(crate::identity::routes::ApiDoc::openapi());
    doc
}

/// Joins the services' descriptions into the API's document: title and version, the bearer
/// token scheme, and for every operation a `default` answer in the error format (rate limits,
/// size limits, time-outs and an unavailable service can answer any route).
pub fn assemble(parts: impl IntoIterator<Item = OpenApi>) -> OpenApi {
    let mut doc = own();
    for part in parts {
        doc.merge(part);
    }
    doc.info.title = "Sysops Squad triage".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(
        "Penultimate Electronics' support tickets: submitted by customers, categorized, and \
         routed to the best available expert. Every route is reached through the gateway. \
         Sign in at `POST /api/auth/login` and send the access token as \
         `Authorization: Bearer <token>`; who may call what is in docs/api.md."
            .into(),
    );
    doc.info.license = None;
    doc.info.contact = None;
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("The access token from /api/auth/login".to_owned()))
                .build(),
        ),
    );
    let error = ResponseBuilder::new()
        .description("An error; the body says what is wrong")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "Error",
                ))))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            // Handlers of different services share names (`list`, `fetch`): prefixed with
            // their tag, the ids are unique.
            if let (Some(tag), Some(id)) = (
                operation.tags.as_ref().and_then(|t| t.first()),
                operation.operation_id.as_mut(),
            ) {
                *id = format!("{tag}_{id}");
            }
            operation
                .responses
                .responses
                .entry("default".into())
                .or_insert_with(|| RefOr::T(error.clone()));
        }
    }
    doc
}

/// `/api/openapi.json` and `/api/docs`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    // The reader fetches the document from its route below.
    let docs: Router<S> = SwaggerUi::new(DOCS_PATH)
        .config(utoipa_swagger_ui::Config::new([DOCUMENT_PATH]))
        .into();
    Router::new()
        .route(
            DOCUMENT_PATH,
            get(|| async { ([(CONTENT_TYPE, "application/json")], DOCUMENT).into_response() }),
        )
        .merge(docs)
}
