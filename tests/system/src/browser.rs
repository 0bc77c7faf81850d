//! Headless Chromium for the browser tests: the DOM of a page after its scripts ran, and
//! screenshots kept as test artifacts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::process::Command;

/// The Chromium binary (`CHROMIUM` overrides Debian's).
pub(crate) fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Where screenshots are kept: `SYSOPS_ARTIFACTS_DIR`, or `artifacts/` in the workspace.
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("SYSOPS_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| sysops_platform::repo::path("Cargo.lock").with_file_name("artifacts"))
}

async fn run(args: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .args(args)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .context("Chromium did not finish within 90 s")?
        .with_context(|| {
            format!(
                "running {} (install Debian's `chromium` package; scripts/test.sh does)",
                chromium()
            )
        })?;
    anyhow::ensure!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output.stdout)
}

/// The DOM of `url` once its scripts have had `budget` of (virtual) time.
pub async fn dom(url: &str, budget: Duration) -> anyhow::Result<String> {
    let out = run(&[
        format!("--virtual-time-budget={}", budget.as_millis()),
        "--dump-dom".into(),
        url.into(),
    ])
    .await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Saves a screenshot of `url` at `width`x`height` as `name` in the artifacts directory.
pub async fn screenshot(
    url: &str,
    name: &str,
    (width, height): (u32, u32),
    budget: Duration,
) -> anyhow::Result<PathBuf> {
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    run(&[
        format!("--virtual-time-budget={}", budget.as_millis()),
        format!("--window-size={width},{height}"),
        format!("--screenshot={}", path.display()),
        url.into(),
    ])
    .await?;
    Ok(path)
}

/// A start tag of a serialized DOM: its name and attributes, and the `data-chart` of the
/// SVG chart it is in, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub name: String,
    pub attrs: BTreeMap<String, String>,
    pub chart: Option<String>,
    /// The text right after the tag, up to the next tag.
    pub text: String,
}

impl Tag {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }
}

/// The start tags of `html` in document order. Enough for the attributes the dashboard
/// writes (quoted values without `>` or `"`), not a general HTML parser.
pub fn tags(html: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    let mut chart: Option<String> = None;
    for piece in html.split('<').skip(1) {
        let (inside, text) = piece.split_once('>').unwrap_or((piece, ""));
        if let Some(closing) = inside.strip_prefix('/') {
            if closing.trim() == "svg" {
                chart = None;
            }
            continue;
        }
        let mut parts = inside.splitn(2, char::is_whitespace);
        let name = parts.next().unwrap_or_default().to_lowercase();
        let mut attrs = BTreeMap::new();
        let mut rest = parts.next().unwrap_or_default();
        while let Some(eq) = rest.find("=\"") {
            let key = rest[..eq].trim().to_owned();
            let after = &rest[eq + 2..];
            let end = after.find('"').unwrap_or(after.len());
            attrs.insert(key, after[..end].replace("&amp;", "&"));
            rest = after.get(end + 1..).unwrap_or_default();
        }
        if name == "svg" {
            chart = attrs.get("data-chart").cloned();
        }
        out.push(Tag {
            name,
            attrs,
            chart: chart.clone(),
            text: text.to_owned(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_know_their_chart_and_attributes() {
        let html = r#"<div id="x"><svg data-chart="pools"><rect class="bar" data-label="a &amp; b" data-value="3"></rect></svg><span data-kpi="t">12</span></div>"#;
        let t = tags(html);
        let rect = t.iter().find(|t| t.name == "rect").expect("present");
        assert_eq!(rect.chart.as_deref(), Some("pools"));
        assert_eq!(rect.attr("data-label"), Some("a & b"));
        let span = t.iter().find(|t| t.name == "span").expect("present");
        assert_eq!(span.chart, None);
        assert_eq!(span.text, "12");
    }
}
