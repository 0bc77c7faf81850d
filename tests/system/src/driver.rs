//! Headless Chromium that tests drive like a person: open a page, type into its fields, click
//! its buttons, wait for what it shows, take screenshots. Spoken to over the DevTools protocol
//! (chromiumoxide); the browser runs on a fresh profile and reaches nothing but the addresses
//! the test opens.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chromiumoxide::cdp::browser_protocol::page::{CaptureScreenshotFormat, Viewport as Clip};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::browser::{artifacts_dir, chromium};

/// A phone's screen: 375 CSS pixels wide, drawn at twice the density, touch, mobile layout.
pub const PHONE: Viewport = Viewport {
    width: 375,
    height: 812,
    device_scale_factor: Some(2.0),
    emulating_mobile: true,
    is_landscape: false,
    has_touch: true,
};

/// The switches Chromium starts with (without their leading `--`): headless, and nothing that
/// phones home (the browser must work on a machine without internet and must not wait for it).
const SWITCHES: [&str; 10] = [
    "headless",
    "no-sandbox",
    "disable-gpu",
    "disable-quic",
    "no-first-run",
    "disable-background-networking",
    "disable-component-update",
    "disable-sync",
    "disable-dev-shm-usage",
    "hide-scrollbars",
];

/// A running headless Chromium. Close it with [`Chromium::close`]; dropped, it is killed.
pub struct Chromium {
    browser: Browser,
    /// Reads the browser's messages; the browser stalls when nobody does.
    events: JoinHandle<()>,
    /// The profile of this browser only, deleted on close.
    profile: PathBuf,
}

impl Chromium {
    /// Starts Chromium with every page at `viewport`.
    pub async fn launch(viewport: Viewport) -> anyhow::Result<Self> {
        let profile = std::env::temp_dir().join(format!("sysops-chromium-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&profile)
            .with_context(|| format!("creating {}", profile.display()))?;
        let config = BrowserConfig::builder()
            .chrome_executable(which(&chromium())?)
            .disable_default_args()
            .args(SWITCHES)
            .user_data_dir(&profile)
            .window_size(viewport.width, viewport.height)
            .viewport(viewport)
            .launch_timeout(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| anyhow::anyhow!("configuring Chromium: {e}"))?;
        let (browser, mut handler) = Browser::launch(config).await.with_context(|| {
            format!(
                "starting {} (install Debian's `chromium` package; scripts/test.sh does)",
                chromium()
            )
        })?;
        let events = tokio::spawn(async move {
            // A message this version of the protocol does not know is not fatal; the
            // connection closing is.
            while let Some(event) = handler.next().await {
                if let Err(chromiumoxide::error::CdpError::Ws(_)) = event {
                    break;
                }
            }
        });
        Ok(Chromium {
            browser,
            events,
            profile,
        })
    }

    /// Opens `url` in a new tab and waits for it to load.
    pub async fn open(&self, url: &str) -> anyhow::Result<Tab> {
        let page = self
            .browser
            .new_page(url)
            .await
            .with_context(|| format!("opening {url}"))?;
        page.wait_for_navigation()
            .await
            .with_context(|| format!("loading {url}"))?;
        Ok(Tab { page })
    }

    /// Closes the browser (its profile is deleted when it is dropped).
    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
    }
}

impl Drop for Chromium {
    /// Also when a test fails half-way: the browser process is killed with its handle, and
    /// its profile must not pile up in the temporary directory.
    fn drop(&mut self) {
        self.events.abort();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The path of `program`, found on `PATH` unless it is a path already.
fn which(program: &str) -> anyhow::Result<PathBuf> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .with_context(|| {
            format!("{program} is not installed (Debian's `chromium` package; scripts/test.sh installs it)")
        })
}

/// One tab of the browser.
pub struct Tab {
    page: Page,
}

impl Tab {
    /// The value of the JavaScript expression `js` (awaited when it is a promise).
    pub async fn eval<T: DeserializeOwned>(&self, js: &str) -> anyhow::Result<T> {
        self.page
            .evaluate_expression(js)
            .await
            .with_context(|| format!("evaluating {js}"))?
            .into_value()
            .with_context(|| format!("reading the value of {js}"))
    }

    /// Waits up to `timeout` until the expression `js` gives something other than `null`,
    /// `undefined` or `false`, and returns it. On timeout, the error shows what the page says.
    pub async fn wait_for(&self, what: &str, js: &str, timeout: Duration) -> anyhow::Result<Value> {
        let found = sysops_testkit::wait_for(what, timeout, || async {
            let value: Value = self.eval(js).await.ok()?;
            (!matches!(value, Value::Null | Value::Bool(false))).then_some(value)
        })
        .await;
        match found {
            Ok(value) => Ok(value),
            Err(e) => {
                let shown: String = self
                    .eval("document.body.innerText")
                    .await
                    .unwrap_or_default();
                let shown: String = shown.chars().take(3000).collect();
                Err(e.context(format!("the page shows:\n{shown}")))
            }
        }
    }

    /// Clicks the element `selector` where a person would: scrolled into view, in its middle.
    pub async fn click(&self, selector: &str) -> anyhow::Result<()> {
        self.page
            .find_element(selector)
            .await
            .with_context(|| format!("finding {selector}"))?
            .click()
            .await
            .with_context(|| format!("clicking {selector}"))?;
        Ok(())
    }

    /// Clicks the field `selector`, empties it and types `text` key by key.
    pub async fn fill(&self, selector: &str, text: &str) -> anyhow::Result<()> {
        let field = self
            .page
            .find_element(selector)
            .await
            .with_context(|| format!("finding {selector}"))?;
        field
            .click()
            .await
            .with_context(|| format!("clicking {selector}"))?;
        field
            .call_js_fn("function() { this.select(); }", false)
            .await
            .with_context(|| format!("selecting the text of {selector}"))?;
        field
            .type_str(text)
            .await
            .with_context(|| format!("typing into {selector}"))?;
        Ok(())
    }

    /// Chooses the option with `value` in the list `selector`, as picking it would.
    pub async fn choose(&self, selector: &str, value: &str) -> anyhow::Result<()> {
        let js = format!(
            "(() => {{ const s = document.querySelector({sel}); s.value = {value}; \
             s.dispatchEvent(new Event('change', {{ bubbles: true }})); return s.value; }})()",
            sel = serde_json::to_string(selector)?,
            value = serde_json::to_string(value)?,
        );
        let chosen: String = self.eval(&js).await?;
        anyhow::ensure!(chosen == value, "{selector} has no option {value}");
        Ok(())
    }

    /// Brings the tab to the front: a hidden page may pause its refreshing.
    pub async fn show(&self) -> anyhow::Result<()> {
        self.page.bring_to_front().await?;
        Ok(())
    }

    /// Saves the whole page (not only what fits on the screen) as `name`, a PNG in the
    /// artifacts directory.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(name);
        // The whole page, captured beyond the screen, as the screen's emulation draws it (the
        // crate's own full-page capture drops the emulation afterwards, and the page with it).
        let size = self.page.layout_metrics().await?.css_content_size;
        let png = self
            .page
            .screenshot(
                ScreenshotParams::builder()
                    .format(CaptureScreenshotFormat::Png)
                    .clip(Clip {
                        x: 0.0,
                        y: 0.0,
                        width: size.width,
                        height: size.height,
                        scale: 1.0,
                    })
                    .capture_beyond_viewport(true)
                    .build(),
            )
            .await
            .with_context(|| format!("taking {name}"))?;
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}
