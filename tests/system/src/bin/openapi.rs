//! Writes the API's OpenAPI document to `services/gateway/openapi.json` (the copy the gateway
//! serves), or prints it with `--stdout`.

fn main() -> anyhow::Result<()> {
    let text = sysops_system_tests::openapi::document()?;
    if std::env::args().any(|a| a == "--stdout") {
        print!("{text}");
        return Ok(());
    }
    let path = sysops_system_tests::openapi::committed_path();
    std::fs::write(&path, text)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
