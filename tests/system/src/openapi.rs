//! The API's OpenAPI document as the services describe it today, joined as the gateway
//! serves it.

use std::collections::BTreeMap;

use utoipa::openapi::OpenApi;

/// The whole document, pretty-printed with a final newline (as committed). Fails when two
/// services give one schema name to different schemas (joined, one would replace the other).
pub fn document() -> anyhow::Result<String> {
    let parts = [
        ("tickets", sysops_tickets::openapi()),
        ("routing", sysops_routing::openapi()),
        ("analytics", sysops_analytics::openapi()),
    ];
    let mut seen: BTreeMap<String, (&str, serde_json::Value)> = BTreeMap::new();
    let gateway = sysops_gateway::openapi::own();
    for (service, part) in
        std::iter::once(("gateway", &gateway)).chain(parts.iter().map(|(s, p)| (*s, p)))
    {
        for (name, schema) in schemas(part) {
            let schema = serde_json::to_value(schema)?;
            match seen.get(name) {
                Some((other, earlier)) if *earlier != schema => anyhow::bail!(
                    "the schema name `{name}` means one thing in {other} and another in {service}"
                ),
                Some(_) => {}
                None => {
                    seen.insert(name.clone(), (service, schema));
                }
            }
        }
    }
    let doc = sysops_gateway::openapi::assemble(parts.into_iter().map(|(_, p)| p));
    let mut text = doc.to_pretty_json()?;
    text.push('\n');
    Ok(text)
}

fn schemas(
    doc: &OpenApi,
) -> impl Iterator<Item = (&String, &utoipa::openapi::RefOr<utoipa::openapi::Schema>)> {
    doc.components.iter().flat_map(|c| c.schemas.iter())
}

/// Where the committed copy lives.
pub fn committed_path() -> std::path::PathBuf {
    sysops_platform::repo::path("services/gateway/openapi.json")
}
