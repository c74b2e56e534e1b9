//! The real `hookflow-testbed` binary as a child process, with a bundle in a temporary directory.

#![allow(dead_code, clippy::unwrap_used)] // shared by several test binaries; panics report

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

pub const BIN: &str = env!("CARGO_BIN_EXE_hookflow-testbed");

/// Writes `DIR/hookflow.json` with the given extra provider keys (`"worker": {...}`, ...).
pub fn write_bundle(dir: &Path, extra: &str) {
    let text = format!(
        r#"{{"version": 1, "events-webhook": {{"enabled": true, "public_base_url": "http://127.0.0.1" {extra}}}}}"#
    );
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("hookflow.json"), text).unwrap();
}

/// A running `hookflow-testbed serve BUNDLE --listen 127.0.0.1:0`.
pub struct Serve {
    pub child: tokio::process::Child,
    pub url: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    pub async fn start(bundle: &Path) -> Serve {
        let mut child = tokio::process::Command::new(BIN)
            .arg("serve")
            .arg(bundle)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .env_remove("HOOKFLOW_STATE")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let keep = log.clone();
        // Keep draining the log so the child never blocks on a full pipe.
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                keep.lock().unwrap().push(l.clone());
                let _ = tx.send(l);
            }
        });
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = rx.recv().await {
                if let Some(i) = line.find("listening on http://") {
                    let rest = &line[i + "listening on ".len()..];
                    return rest.split_whitespace().next().map(str::to_string);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("serve did not start: {:?}", log.lock().unwrap()));
        Serve { child, url, log }
    }

    pub fn log_contains(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(text))
    }

    /// SIGTERM, then waits for the exit.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(40), self.child.wait()).await;
    }
}

/// Runs `hookflow-testbed deliveries ARGS --state STATE`; (exit code, stdout, stderr).
pub fn deliveries(state: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(BIN)
        .arg("deliveries")
        .args(args)
        .arg("--state")
        .arg(state)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn state_of(bundle: &Path) -> PathBuf {
    bundle.join("state")
}
