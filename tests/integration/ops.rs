//! Operations through the real `hookflow` binary: a SIGHUP (and `hookflow reload`) reloads a
//! rotated secret in a running process, `HOOKFLOW_*` variables override the bundle and flags override them, JSON and text
//! logs carry the delivery id.

use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_hookflow");

/// A running `hookflow serve` child and its log lines.
struct Serve {
    child: tokio::process::Child,
    url: String,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

/// The text of a line: a JSON line's `message`, or the line itself.
fn message(line: &str) -> String {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| line.to_string())
}

impl Serve {
    async fn start(args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("serve").args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        // Keep draining the log so the child never blocks on a full pipe.
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(l)) = reader.next_line().await {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut serve = Serve {
            child,
            url: String::new(),
            lines,
            seen: Vec::new(),
        };
        let line = serve.wait_for("listening on http://").await;
        let text = message(&line);
        let i = text.find("http://").expect("an URL");
        serve.url = text[i..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        serve
    }

    /// Waits (at most 20 s) for a log line containing `needle`.
    async fn wait_for(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(l) = self.lines.recv().await {
                self.seen.push(l.clone());
                if l.contains(needle) {
                    return Some(l);
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        match found {
            Some(l) => l,
            None => panic!(
                "no log line with {needle:?}; log so far:\n{}",
                self.seen.join("\n")
            ),
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().expect("pid").to_string();
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    async fn stop(mut self) -> Vec<String> {
        self.signal("-TERM");
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .expect("wait");
        assert_eq!(status.code(), Some(0));
        while let Ok(Some(l)) =
            tokio::time::timeout(Duration::from_secs(5), self.lines.recv()).await
        {
            self.seen.push(l);
        }
        self.seen
    }
}

async fn post(url: &str, headers: &[(&str, &str)], body: &str) -> u16 {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("post").status().as_u16()
}

fn github_signature(secret: &str, body: &str) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn write_bundle(dir: &Path, github_secret: &str) {
    let text = format!(
        r#"{{"version": 1, "events-webhook": {{"enabled": true, "public_base_url": "https://hooks.example",
            "signatures": {{"github": {{"algorithm": "sha256", "secret": "{github_secret}"}}}}}}}}"#
    );
    std::fs::write(dir.join("hookflow.json"), text).expect("write bundle");
    std::fs::create_dir_all(dir.join("state")).expect("state dir");
}

#[tokio::test]
async fn sighup_reloads_a_rotated_secret_and_json_lines_carry_the_delivery_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_bundle(dir.path(), "old-secret");
    let bundle = dir.path().to_str().expect("utf-8");
    let mut serve = Serve::start(
        &[
            bundle,
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[("HOOKFLOW_LOG", "info")],
    )
    .await;
    // Logged before the main listener's line, so already read.
    let admin_line = serve
        .seen
        .iter()
        .find(|l| l.contains("admin endpoint on http://"))
        .map(|l| message(l))
        .expect("serve logs its admin address");
    let admin = admin_line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("admin address")
        .to_string();
    let url = format!("{}/events/webhook/demo/github", serve.url);
    let body = r#"{"zen": "Keep it logically awesome.", "hook_id": 1}"#;
    let send = |secret: &'static str, id: &'static str| {
        let sig = github_signature(secret, body);
        let url = url.clone();
        async move {
            post(
                &url,
                &[
                    ("X-Hub-Signature-256", sig.as_str()),
                    ("X-GitHub-Event", "ping"),
                    ("X-GitHub-Delivery", id),
                ],
                body,
            )
            .await
        }
    };
    assert_eq!(send("old-secret", "d-1").await, 200);
    assert_eq!(send("new-secret", "d-2").await, 401);

    write_bundle(dir.path(), "new-secret");
    serve.signal("-HUP");
    serve.wait_for("configuration reloaded").await;
    assert_eq!(send("old-secret", "d-3").await, 401);
    assert_eq!(send("new-secret", "d-4").await, 200);

    // A broken file: logged, and the running configuration stays.
    std::fs::write(dir.path().join("hookflow.json"), "{ not json").expect("write");
    serve.signal("-HUP");
    let failed = serve.wait_for("configuration reload failed").await;
    assert!(failed.contains("not valid JSON"), "{failed}");
    assert_eq!(send("new-secret", "d-5").await, 200);

    // `hookflow reload` through the admin endpoint: a refused file is exit 1 with the reason...
    let reload = || {
        std::process::Command::new(BIN)
            .args(["reload", "--admin", &admin])
            .output()
            .expect("run reload")
    };
    let out = reload();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
    // ...and a good one is swapped in.
    write_bundle(dir.path(), "third-secret");
    let out = reload();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("reloaded; changed: signatures"));
    assert_eq!(send("third-secret", "d-6").await, 200);
    assert_eq!(send("new-secret", "d-7").await, 401);

    let log = serve.stop().await;
    let lines: Vec<Value> = log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    for id in ["d-1", "d-2", "d-3", "d-4", "d-5", "d-6", "d-7"] {
        let of_delivery: Vec<&Value> = lines
            .iter()
            .filter(|l| l["span"]["delivery_id"] == id)
            .collect();
        assert!(
            of_delivery
                .iter()
                .any(|l| l["message"] == "delivery" && l["delivery_id"] == id),
            "no delivery line in the span of {id}:\n{}",
            log.join("\n")
        );
    }
    let rejected = lines
        .iter()
        .find(|l| l["span"]["delivery_id"] == "d-3")
        .expect("d-3 logged");
    assert_eq!(rejected["signature"], "rejected:mismatch");
    assert_eq!(rejected["client_ip"], "127.0.0.1");
}

#[tokio::test]
async fn environment_overrides_the_bundle_and_flags_override_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_bundle(dir.path(), "s");
    let bundle = dir.path().to_str().expect("utf-8");
    let serve = Serve::start(
        &["--listen", "127.0.0.1:0"],
        &[
            ("HOOKFLOW_BUNDLE", bundle),
            // The flag wins over this (invalid) address.
            ("HOOKFLOW_LISTEN", "not-an-address"),
            ("HOOKFLOW_MAX_BODY_BYTES", "64"),
            ("HOOKFLOW_TENANTS", "envco"),
            ("HOOKFLOW_LOG", "hookflow=info"),
        ],
    )
    .await;
    let url = |tenant: &str| format!("{}/events/webhook/{tenant}/order.created", serve.url);
    assert_eq!(
        post(&url("envco"), &[("X-GitHub-Delivery", "t-1")], "{}").await,
        200
    );
    assert_eq!(post(&url("demo"), &[], "{}").await, 404, "HOOKFLOW_TENANTS");
    let big = format!(r#"{{"pad": "{}"}}"#, "x".repeat(100));
    assert_eq!(
        post(&url("envco"), &[], &big).await,
        413,
        "HOOKFLOW_MAX_BODY_BYTES"
    );
    // /metrics counts the env-configured tenant by name.
    let text = reqwest::get(format!("{}/metrics", serve.url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(r#"hookflow_deliveries_total{tenant="envco",event_type="order.created",flow="handle_webhook",status="200"} 1"#),
        "{text}"
    );
    let log = serve.stop().await.join("\n");
    // Text lines carry the delivery span.
    assert!(log.contains("delivery{delivery_id=t-1}"), "{log}");

    // A value that cannot be read is a configuration error naming the variable.
    let out = std::process::Command::new(BIN)
        .args(["serve", bundle])
        .env("HOOKFLOW_MAX_BODY_BYTES", "ten")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HOOKFLOW_MAX_BODY_BYTES: expected a non-negative integer, got \"ten\""),
        "{err}"
    );
}
