//! Action nodes end to end: flows written in YAML (tests/action_flows/), compiled by the real
//! macro, served by the real server on 127.0.0.1, calling a real HTTP server and running real
//! commands; `log` lines captured from `tracing`.

#![allow(clippy::unwrap_used)] // a test: a panic with the error is the failure report

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hookflow_runtime::config::{Config, RawConfig};
use hookflow_runtime::server::RunningServer;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

hookflow_flow_macros::flows!("tests/action_flows");

static ENV: Once = Once::new();

/// The `env:` secret the `forward` flow sends; set once, before any server resolves it.
fn init() {
    ENV.call_once(|| std::env::set_var("HOOKFLOW_E2E_TOKEN", "Bearer e2e-secret"));
}

/// Log lines written while the returned guard lives (this thread only: `#[tokio::test]` runs
/// the server on the test's thread).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let out = Captured::default();
    let w = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    (out, tracing::subscriber::set_default(subscriber))
}

async fn hookflow() -> RunningServer {
    hookflow_with(Config::default()).await
}

async fn hookflow_with(config: Config) -> RunningServer {
    init();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    RunningServer::start(config, &FLOWS, Some(listener))
        .await
        .unwrap()
}

async fn send(server: &RunningServer, event_type: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/events/webhook/demo/{event_type}", server.url()))
        .header("X-GitHub-Delivery", format!("e2e-{}", rand_id()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn rand_id() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A downstream service: `/ok` answers 201 with JSON, `/fail` 500, `/slow` after 5 s.
async fn downstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = Router::new()
        .route(
            "/ok",
            post(move |headers: HeaderMap, body: axum::Json<Value>| {
                let s = s.clone();
                async move {
                    s.lock().unwrap().push((headers, body.0));
                    (StatusCode::CREATED, axum::Json(json!({"stored": true})))
                }
            }),
        )
        .route(
            "/fail",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn a_yaml_http_request_forwards_and_answers_with_the_downstream_reply() {
    let (base, seen) = downstream().await;
    let server = hookflow().await;
    let data = json!({"order": 7, "note": "it's \"quoted\""});
    let (status, body) = send(
        &server,
        "forward",
        json!({"target": format!("{base}/ok"), "data": data}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"downstream": 201, "reply": {"stored": true}}));
    let seen = seen.lock().unwrap();
    let (headers, sent) = &seen[0];
    assert_eq!(
        sent, &data,
        "`body: {{{{event.payload.data}}}}` sends that JSON value"
    );
    assert_eq!(headers["x-event"], "forward");
    assert_eq!(headers["authorization"], "Bearer e2e-secret");
    let key = headers["idempotency-key"].to_str().unwrap();
    assert!(key.starts_with("e2e-") && key.ends_with(":call"), "{key}");
}

#[tokio::test]
async fn the_idempotency_header_name_is_configurable() {
    let (base, seen) = downstream().await;
    let raw = RawConfig {
        idempotency_header: Some("X-Request-Key".to_string()),
        ..RawConfig::default()
    };
    let server = hookflow_with(raw.check().unwrap()).await;
    let (status, _) = send(
        &server,
        "forward",
        json!({"target": format!("{base}/ok"), "data": {}}),
    )
    .await;
    assert_eq!(status, 200);
    let seen = seen.lock().unwrap();
    let headers = &seen[0].0;
    assert!(headers.get("idempotency-key").is_none());
    assert!(headers["x-request-key"]
        .to_str()
        .unwrap()
        .ends_with(":call"));
}

#[tokio::test]
async fn a_yaml_http_request_failure_goes_to_its_on_error_node() {
    let (base, _) = downstream().await;
    let server = hookflow().await;
    for (path, kind) in [("/fail", "http_status"), ("/slow", "http_timeout")] {
        let (status, body) = send(
            &server,
            "forward",
            json!({"target": format!("{base}{path}"), "data": {}}),
        )
        .await;
        assert_eq!(status, 502, "{path}: {body}");
        assert_eq!(body, json!({"kind": kind, "node": "call"}), "{path}");
    }
    // Nothing listening: refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, body) = send(
        &server,
        "forward",
        json!({"target": format!("http://127.0.0.1:{port}/"), "data": {}}),
    )
    .await;
    assert_eq!((status, body["kind"].clone()), (502, json!("http_connect")));
}

#[tokio::test]
async fn a_yaml_exec_after_the_answer_passes_payload_text_as_one_argument() {
    let (logs, _guard) = capture();
    let server = hookflow().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.txt");
    let text = r#"two words; $(touch /tmp/pwned) "q" 'q' `id`"#;
    let (status, _) = send(
        &server,
        "run",
        json!({"text": text, "file": file.to_str().unwrap()}),
    )
    .await;
    assert_eq!(status, 202);
    let mut got = String::new();
    for _ in 0..100 {
        got = std::fs::read_to_string(&file).unwrap_or_default();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (line_text, delivery) = got.trim_end().rsplit_once('|').unwrap();
    assert_eq!(line_text, text, "the argument arrived unchanged");
    assert!(delivery.starts_with("e2e-"), "env from a template: {got}");
    // The log node after it ran too.
    for _ in 0..50 {
        if logs.text().contains("appended for") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        logs.text()
            .contains(&format!("appended for {delivery} (exit 0)")),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn yaml_log_nodes_write_through_tracing_with_the_delivery_fields() {
    let (logs, _guard) = capture();
    let server = hookflow().await;
    let (status, body) = send(&server, "logs", json!({"who": "world", "n": 41})).await;
    assert_eq!((status, body), (200, json!({"n": 42})));
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("hello world"))
        .unwrap_or_else(|| panic!("no log line in {text}"));
    assert!(line.contains("WARN"), "{line}");
    for field in [
        "tenant=\"demo\"",
        "event_type=\"logs\"",
        "flow=\"logs\"",
        "node=\"say\"",
    ] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
    assert!(line.contains("delivery_id=\"e2e-"), "{line}");

    // A script error is caught by on_error; the flow then ends without an answer (200 ok).
    let (status, body) = send(&server, "logs", json!({"who": "x", "n": "not a number"})).await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("compute failed"))
        .unwrap_or_else(|| panic!("no error line in {text}"));
    assert!(
        line.contains("ERROR") && line.contains("(eval at compute)"),
        "{line}"
    );
}

#[tokio::test]
async fn a_failed_flow_keeps_its_path_with_the_time_of_each_action() {
    use hookflow_runtime::store::sqlite::SqliteStore;
    use hookflow_runtime::store::{ListFilter, Store};
    let dir = tempfile::tempdir().unwrap();
    let server = hookflow_with(Config {
        state_dir: Some(dir.path().to_path_buf()),
        ..Config::default()
    })
    .await;
    let resp = reqwest::Client::new()
        .post(format!("{}/events/webhook/demo/timed", server.url()))
        .header("X-GitHub-Delivery", "timed-1")
        .json(&json!({"pause": "0.2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    server.shutdown().await.unwrap();

    let store = SqliteStore::open(dir.path()).unwrap();
    let found = store
        .list(ListFilter {
            event_id: Some("timed-1".to_string()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let d = store.get(found[0].id.clone()).await.unwrap().unwrap();
    let path: Vec<(&str, &str)> = d
        .trace
        .iter()
        .map(|t| (t.step.node.as_str(), t.step.outcome.as_str()))
        .collect();
    assert_eq!(
        path,
        [("prepare", "ok"), ("wait", "ok"), ("broken", "failed")],
        "the whole path up to the failure, not only the failed node"
    );
    let us = |i: usize| d.trace[i].step.duration_us;
    assert_eq!(us(0), None, "a script is not timed");
    assert!(
        us(1).is_some_and(|t| t >= 200_000),
        "sleep 0.2: {:?}",
        us(1)
    );
    assert!(
        us(2).is_some_and(|t| t >= 50_000),
        "sleep 0.05: {:?}",
        us(2)
    );
    let error = d.trace[2].step.error.as_deref().unwrap_or_default();
    assert!(error.contains("exit"), "{error}");
}
