//! Service binaries run as real processes, each on a port it picks itself (port 0) and
//! reports in its first log lines.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Where cargo put the binary `name` of this workspace: beside the running executable, or
/// beside its `deps/` directory when it is a test. Build them first (`cargo build --bins`).
pub fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the executable has a path");
    let mut dir = exe.parent().expect("an executable lives in a directory");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("deps/ lives in <target>/<profile>");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing; build the service binaries first (cargo build --bins)",
        path.display()
    );
    path
}

/// A running service process. Killed when dropped.
#[derive(Debug)]
pub struct ServiceProcess {
    pub name: String,
    pub addr: SocketAddr,
    child: Child,
    env: Vec<(String, String)>,
}

impl ServiceProcess {
    /// Starts `name` with `env` (plus `HTTP_ADDR=127.0.0.1:0` and JSON logs) and waits until it
    /// listens.
    pub async fn start(name: &str, env: &[(String, String)]) -> anyhow::Result<Self> {
        let mut cmd = Command::new(binary_path(name));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HTTP_ADDR", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info,sqlx=warn")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if crate::logs_enabled() {
                    eprintln!("[{name}] {line}");
                }
                if let Some(addr) = listening_addr(&line) {
                    return Ok(addr);
                }
            }
            anyhow::bail!("{name} exited before listening")
        })
        .await
        .with_context(|| format!("{name} did not start listening in time"))??;
        let label = name.to_owned();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if crate::logs_enabled() {
                    eprintln!("[{label}] {line}");
                }
            }
        });
        Ok(ServiceProcess {
            name: name.to_owned(),
            addr,
            child,
            env: env.to_vec(),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: no chance to finish anything.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM, then waits for a graceful exit.
    pub async fn terminate(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        if let Some(pid) = self.child.id() {
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await?;
            anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("the process did not exit after SIGTERM")??;
        Ok(status)
    }

    /// Kills the process and starts the same binary again where it was.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        self.revive().await
    }

    /// Starts the binary again, after it was killed or terminated, with the same environment
    /// and on the same address, so whoever calls it finds it again.
    pub async fn revive(&mut self) -> anyhow::Result<()> {
        let mut env = self.env.clone();
        env.push(("HTTP_ADDR".to_owned(), self.addr.to_string()));
        let mut revived = ServiceProcess::start(&self.name, &env).await?;
        revived.env = self.env.clone();
        *self = revived;
        Ok(())
    }

    /// Sets (or replaces) a variable of the environment the next `revive` starts with.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.remove_env(key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Leaves a variable out of the environment the next `revive` starts with.
    pub fn remove_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }
}

fn listening_addr(line: &str) -> Option<SocketAddr> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v.get("message")?.as_str()? != "listening" {
        return None;
    }
    v.get("addr")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_listening_line_gives_the_address() {
        let line = r#"{"timestamp":"x","level":"INFO","message":"listening","addr":"127.0.0.1:4321","target":"t"}"#;
        assert_eq!(super::listening_addr(line), "127.0.0.1:4321".parse().ok());
        assert_eq!(super::listening_addr("not json"), None);
    }
}
