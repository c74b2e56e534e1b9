//! The engine performing action nodes for real: `http_request` against an HTTP server this test
//! runs on 127.0.0.1, `exec` with real commands. The flow here is written by hand in the shape
//! the compiler generates (node 0 yields the action the payload describes; node 1 is `next`,
//! node 2 the `on_error` target), so that every failure kind can be driven from a test.

#![allow(clippy::unwrap_used)] // a test: a panic with the error is the failure report

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use hookflow_runtime::__gen::{self as rt, Ctx, Event, FlowDef, FlowError, NodeDef, Value, Yield};
use hookflow_runtime::engine::{ActionOptions, Engine, EngineError};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static NODES: [NodeDef; 3] = [
    NodeDef {
        id: "act",
        kind: "http_request",
        line: 1,
        edges: &[],
    },
    NodeDef {
        id: "done",
        kind: "script",
        line: 2,
        edges: &[],
    },
    NodeDef {
        id: "handler",
        kind: "script",
        line: 3,
        edges: &[],
    },
];

static ACT: FlowDef = FlowDef {
    name: "act",
    version: "1",
    file: "flows/act.yaml",
    triggers: &[],
    nodes: &NODES,
    secrets: &["HOOKFLOW_TEST_TOKEN"],
    payload_fields: None,
    run: act,
};

/// What nodes 1 and 2 saw, by the payload's `case`: (node that ran, `nodes.act`, `error`).
type Seen2 = (&'static str, Value, Value);
static RESULTS: Mutex<Vec<(String, Seen2)>> = Mutex::new(Vec::new());

static FLOWS: rt::Registry = rt::Registry { flows: &[&ACT] };

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Node 0 builds the action from `event.payload`; nodes 1 and 2 record that they ran.
fn act(ctx: &mut Ctx, start: rt::NodeIx) -> Result<Yield, FlowError> {
    let p = ctx.event.payload.clone();
    let on_error = p.get("on_error").and_then(Value::as_bool).unwrap_or(false);
    match start {
        0 => {
            let timeout_ms = p.get("timeout_ms").and_then(Value::as_u64).unwrap_or(5_000);
            let action = if let Some(url) = p.get("url").and_then(Value::as_str) {
                rt::Action::Http(rt::HttpCall {
                    method: "POST",
                    url: url.to_string(),
                    headers: vec![
                        ("X-Event".into(), rt::HeaderValue::Text("push".into())),
                        (
                            "Authorization".into(),
                            rt::HeaderValue::Secret("HOOKFLOW_TEST_TOKEN"),
                        ),
                    ],
                    body: Some(rt::HttpBody::Json(
                        p.get("body").cloned().unwrap_or_default(),
                    )),
                    timeout_ms,
                    expect_status: if p.get("accept_404").is_some() {
                        &[(200, 299), (404, 404)]
                    } else {
                        &[]
                    },
                })
            } else {
                let strings = |k: &str| -> Vec<String> {
                    p.get(k)
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(String::from)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                rt::Action::Exec(rt::ExecCall {
                    command: s(&p, "command"),
                    args: strings("args"),
                    env: vec![("HOOKFLOW_TEST_VAR".into(), "from the flow".into())],
                    stdin: p.get("stdin").and_then(Value::as_str).map(String::from),
                    working_dir: p
                        .get("working_dir")
                        .and_then(Value::as_str)
                        .map(String::from),
                    timeout_ms,
                    allow_failure: p.get("allow_failure").is_some(),
                })
            };
            Ok(Yield::Act {
                node: 0,
                action,
                next: Some(1),
                on_error: on_error.then_some(2),
            })
        }
        1 | 2 => {
            ctx.trace.push(rt::TraceStep::new(start, rt::Outcome::Ok));
            let case = s(&ctx.event.payload, "case");
            let node = NODES[usize::from(start)].id;
            let out = (node, ctx.outputs[0].clone(), ctx.error.clone());
            RESULTS.lock().unwrap().push((case, out));
            Ok(Yield::Finished)
        }
        _ => Err(rt::bad_start(&ACT, start)),
    }
}

fn engine() -> Engine {
    Engine::with_env(&FLOWS, ActionOptions::default(), |name| {
        (name == "HOOKFLOW_TEST_TOKEN").then(|| "Bearer s3cret".to_string())
    })
    .expect("engine")
}

/// Runs the flow on `payload` (with a unique `case`); returns the engine's verdict and what the
/// node after the action saw, if one ran.
async fn run(case: &str, mut payload: Value) -> (Result<(), EngineError>, Option<Seen2>) {
    payload["case"] = Value::from(case);
    let event = Event::new("demo", "t", "d-42", rt::Headers::new(), payload);
    let started = engine().start(&ACT, 0, event).await;
    let seen = RESULTS
        .lock()
        .unwrap()
        .iter()
        .find(|(c, _)| c == case)
        .map(|(_, s)| s.clone());
    (started.map(|_| ()).map_err(|f| f.error), seen)
}

/// What the test server saw.
#[derive(Default)]
struct Seen {
    requests: Vec<(HeaderMap, String)>,
}

async fn server() -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route(
            "/ok",
            post(
                |State(seen): State<Arc<Mutex<Seen>>>, headers: HeaderMap, body: String| async move {
                    seen.lock().unwrap().requests.push((headers, body));
                    (
                        StatusCode::CREATED,
                        [("content-type", "application/json"), ("x-reply", "yes")],
                        r#"{"accepted": true, "n": 3}"#,
                    )
                },
            ),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/fail", post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken") }))
        .route("/missing", post(|| async { (StatusCode::NOT_FOUND, "no such thing") }))
        .route("/health", get(|| async { "ok" }))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn http_request_sends_json_headers_secret_and_idempotency_key_and_reads_the_answer() {
    let (base, seen) = server().await;
    let body = json!({"ref": "refs/heads/main", "commits": [1, 2, 3]});
    let (r, after) = run(
        "http_ok",
        json!({"url": format!("{base}/ok"), "body": body}),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    let (node, out, error) = after.expect("next ran");
    assert_eq!(node, "done");
    assert_eq!(error, Value::Null);
    assert_eq!(out["status"], 201);
    assert_eq!(out["headers"]["x-reply"], "yes");
    assert_eq!(
        out["body"],
        json!({"accepted": true, "n": 3}),
        "JSON body parsed"
    );

    let seen = seen.lock().unwrap();
    let (headers, sent) = &seen.requests[0];
    assert_eq!(serde_json::from_str::<Value>(sent).unwrap(), body);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-event"], "push");
    assert_eq!(
        headers["authorization"], "Bearer s3cret",
        "env: secret resolved"
    );
    assert_eq!(headers["idempotency-key"], "d-42:act");
}

#[tokio::test]
async fn http_request_timeout_goes_to_on_error_with_its_kind() {
    let (base, _) = server().await;
    let t = Instant::now();
    let (r, after) = run(
        "http_timeout",
        json!({"url": format!("{base}/slow"), "timeout_ms": 300, "on_error": true}),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let (node, _, error) = after.expect("handler ran");
    assert_eq!(node, "handler");
    assert_eq!(error["kind"], "http_timeout");
    assert_eq!(error["node"], "act");
    assert!(
        error["message"].as_str().unwrap().contains("300 ms")
            || error["message"].as_str().unwrap().contains("timed out"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unexpected_status_fails_with_the_response_still_readable() {
    let (base, _) = server().await;
    let (r, after) = run(
        "http_500",
        json!({"url": format!("{base}/fail"), "on_error": true}),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    let (node, out, error) = after.expect("handler ran");
    assert_eq!(node, "handler");
    assert_eq!(error["kind"], "http_status");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("answered 500, expected 2xx"));
    assert_eq!(out["status"], 500);
    assert_eq!(out["body"], "broken");

    // expect_status can accept a 404.
    let (r, after) = run(
        "http_404_ok",
        json!({"url": format!("{base}/missing"), "accept_404": true}),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(after.expect("next ran").1["status"], 404);
}

#[tokio::test]
async fn without_on_error_a_failed_call_fails_the_flow_at_its_node() {
    let (base, _) = server().await;
    let (r, after) = run("http_fail_flow", json!({"url": format!("{base}/fail")})).await;
    assert!(after.is_none(), "nothing ran after the failure");
    match r {
        Err(EngineError::Flow(e)) => {
            assert_eq!(e.node, "act");
            assert!(e.message.contains("http_status"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connection_refused_is_http_connect() {
    // A port that was free a moment ago and has nothing listening now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (r, after) = run(
        "http_refused",
        json!({"url": format!("http://127.0.0.1:{port}/x"), "on_error": true}),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    let (_, _, error) = after.expect("handler ran");
    assert_eq!(error["kind"], "http_connect");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("refused"),
        "{error}"
    );
}

#[tokio::test]
async fn exec_passes_arguments_unchanged_without_a_shell() {
    let tricky = vec![
        "%s\n".to_string(),
        "two words".to_string(),
        r#"it's "quoted"; $(rm -rf /) `id` && echo pwned"#.to_string(),
        "".to_string(),
    ];
    let (r, after) = run("exec_args", json!({"command": "printf", "args": tricky})).await;
    assert!(r.is_ok(), "{r:?}");
    let (node, out, _) = after.expect("next ran");
    assert_eq!(node, "done");
    assert_eq!(out["exit_code"], 0);
    assert_eq!(
        out["stdout"],
        format!("{}\n{}\n\n", tricky[1], tricky[2]),
        "each argument arrives as one argv entry, shell syntax untouched"
    );
    assert_eq!(out["stderr"], "");
}

#[tokio::test]
async fn exec_gets_stdin_env_and_working_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (r, after) = run(
        "exec_stdin",
        json!({
            "command": "sh",
            "args": ["-c", "cat; echo \"|$HOOKFLOW_TEST_VAR|$(pwd)\""],
            "stdin": "from stdin ",
            "working_dir": dir.path().to_str().unwrap(),
        }),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    let out = after.expect("next ran").1;
    let pwd = dir.path().canonicalize().unwrap();
    assert_eq!(
        out["stdout"],
        format!("from stdin |from the flow|{}\n", pwd.display())
    );
}

#[tokio::test]
async fn exec_non_zero_exit_fails_unless_allowed() {
    let script = json!(["-c", "echo partial; echo 'disk full' >&2; exit 3"]);
    let (r, after) = run(
        "exec_exit",
        json!({"command": "sh", "args": script, "on_error": true}),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    let (node, out, error) = after.expect("handler ran");
    assert_eq!(node, "handler");
    assert_eq!(error["kind"], "exec_exit");
    assert_eq!(error["message"], "`sh` exited with 3: disk full");
    assert_eq!(out["exit_code"], 3);
    assert_eq!(out["stdout"], "partial\n");

    let (r, after) = run(
        "exec_allowed",
        json!({"command": "sh", "args": script, "allow_failure": true}),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    let (node, out, _) = after.expect("next ran");
    assert_eq!(node, "done");
    assert_eq!(out["exit_code"], 3);
}

#[tokio::test]
async fn exec_timeout_kills_the_command_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("survived");
    let t = Instant::now();
    let (r, after) = run(
        "exec_timeout",
        json!({
            "command": "sh",
            // A grandchild that would write the marker after 1.5 s, and a long wait.
            "args": ["-c", format!("(sleep 1.5; touch {}) & sleep 30", marker.display())],
            "timeout_ms": 300,
            "on_error": true,
        }),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let (_, _, error) = after.expect("handler ran");
    assert_eq!(error["kind"], "exec_timeout");
    assert_eq!(error["message"], "`sh` was killed after 300 ms");
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert!(!marker.exists(), "the whole process group was killed");
}

#[tokio::test]
async fn exec_of_a_missing_command_is_exec_spawn() {
    let (r, after) = run(
        "exec_missing",
        json!({"command": "hookflow-no-such-command", "on_error": true}),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    let (_, _, error) = after.expect("handler ran");
    assert_eq!(error["kind"], "exec_spawn");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("cannot start `hookflow-no-such-command`"));
}

#[tokio::test]
async fn exec_output_is_bounded() {
    let (r, after) = run(
        "exec_big",
        json!({"command": "sh", "args": ["-c", "head -c 300000 /dev/zero | tr '\\0' x"]}),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    let out = after.expect("next ran").1;
    assert_eq!(
        out["stdout"].as_str().unwrap().len(),
        ActionOptions::default().max_exec_output_bytes
    );
    assert_eq!(out["truncated"], true);
}

#[test]
fn a_missing_secret_stops_the_start_naming_it() {
    let e = Engine::with_env(&FLOWS, ActionOptions::default(), |_| None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "flow `act` sends the environment variable `HOOKFLOW_TEST_TOKEN` in a header (`env:HOOKFLOW_TEST_TOKEN`), but it is not set"
    );
    // Debug of the engine never shows a resolved secret.
    assert!(!format!("{:?}", engine()).contains("s3cret"));
}
