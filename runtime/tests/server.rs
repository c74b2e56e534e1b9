//! Server mechanics over real HTTP on port 0, with hand-written flows shaped like generated code
//! (a state enum and a loop per flow, see `runtime/src/gen/mod.rs`): every error code, body
//! kinds, limits, signatures, the work after the answer, and graceful shutdown.

use hookflow_runtime::__gen as rt;
use hookflow_runtime::config::{Config, RawConfig, Tenant};
use hookflow_runtime::server::RunningServer;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `echo`: answers 201 with the event it saw. Triggers: echo, signed, stripe, generic.
mod echo {
    use super::rt;
    pub static FLOW: rt::FlowDef = rt::FlowDef {
        name: "echo",
        version: "1.0",
        file: "tests/echo.yaml",
        triggers: &[
            rt::TriggerDef {
                event_type: "echo",
                target: 0,
            },
            rt::TriggerDef {
                event_type: "generic",
                target: 0,
            },
            rt::TriggerDef {
                event_type: "signed",
                target: 0,
            },
            rt::TriggerDef {
                event_type: "stripe",
                target: 0,
            },
        ],
        nodes: &[rt::NodeDef {
            id: "respond",
            kind: "http_response",
            line: 4,
            edges: &[],
        }],
        secrets: &[],
        payload_fields: None,
        run,
    };
    enum S {
        Respond,
    }
    fn run(ctx: &mut rt::Ctx, start: rt::NodeIx) -> Result<rt::Yield, rt::FlowError> {
        let s = match start {
            0 => S::Respond,
            _ => return Ok(rt::Yield::Finished),
        };
        match s {
            S::Respond => {
                ctx.trace.push(rt::TraceStep::new(0, rt::Outcome::Ok));
                let e = &ctx.event;
                let body = serde_json::json!({
                    "tenant": e.tenant, "event_type": e.event_type,
                    "delivery_id": e.delivery_id, "payload": e.payload,
                    "event_header": e.headers.get("X-Event").cloned(),
                });
                Ok(rt::Yield::Respond {
                    response: rt::Response {
                        status: 201,
                        headers: vec![(
                            "X-Handled-By".into(),
                            format!("echo/{}", e.tenant.as_str().unwrap_or("")),
                        )],
                        body: rt::Body::Json(body),
                    },
                    then: None,
                })
            }
        }
    }
}

/// `plain`: a script, then the end of the flow (no http_response).
mod plain {
    use super::rt;
    pub static FLOW: rt::FlowDef = rt::FlowDef {
        name: "plain",
        version: "1.0",
        file: "tests/plain.yaml",
        triggers: &[rt::TriggerDef {
            event_type: "plain",
            target: 0,
        }],
        nodes: &[rt::NodeDef {
            id: "process",
            kind: "script",
            line: 4,
            edges: &[],
        }],
        secrets: &[],
        payload_fields: None,
        run,
    };
    fn run(ctx: &mut rt::Ctx, start: rt::NodeIx) -> Result<rt::Yield, rt::FlowError> {
        if start == 0 {
            ctx.outputs[0] = ctx.event.payload.clone();
            ctx.trace.push(rt::TraceStep::new(0, rt::Outcome::Ok));
        }
        Ok(rt::Yield::Finished)
    }
}

/// `boom`: a script that fails (like `1 + 'a'` would).
mod boom {
    use super::rt;
    pub static FLOW: rt::FlowDef = rt::FlowDef {
        name: "boom",
        version: "1.0",
        file: "tests/boom.yaml",
        triggers: &[rt::TriggerDef {
            event_type: "boom",
            target: 0,
        }],
        nodes: &[rt::NodeDef {
            id: "explode",
            kind: "script",
            line: 7,
            edges: &[],
        }],
        secrets: &[],
        payload_fields: None,
        run,
    };
    fn run(_ctx: &mut rt::Ctx, _start: rt::NodeIx) -> Result<rt::Yield, rt::FlowError> {
        Err(rt::node_error(
            &FLOW,
            0,
            rt::EvalError::new("SECRET-DETAIL: cannot add text to a number"),
        ))
    }
}

/// Deliveries seen by the work after the answer (`ack` continuation, `later` async flow).
static AFTER: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// `ack`: answers 202 at once, then (`next`) records the delivery and spawns `later`.
mod ack {
    use super::rt;
    pub static FLOW: rt::FlowDef = rt::FlowDef {
        name: "ack",
        version: "1.0",
        file: "tests/ack.yaml",
        triggers: &[rt::TriggerDef {
            event_type: "ack",
            target: 0,
        }],
        nodes: &[
            rt::NodeDef {
                id: "acknowledge",
                kind: "http_response",
                line: 3,
                edges: &[rt::EdgeDef {
                    label: "next",
                    to: 1,
                }],
            },
            rt::NodeDef {
                id: "process",
                kind: "async",
                line: 9,
                edges: &[],
            },
        ],
        secrets: &[],
        payload_fields: None,
        run,
    };
    enum S {
        Acknowledge,
        Process,
    }
    fn run(ctx: &mut rt::Ctx, start: rt::NodeIx) -> Result<rt::Yield, rt::FlowError> {
        let s = match start {
            0 => S::Acknowledge,
            _ => S::Process,
        };
        match s {
            S::Acknowledge => {
                ctx.trace.push(rt::TraceStep::new(0, rt::Outcome::Ok));
                Ok(rt::Yield::Respond {
                    response: rt::Response {
                        status: 202,
                        headers: vec![],
                        body: rt::Body::Static(r#"{"message":"Processing"}"#),
                    },
                    then: Some(1),
                })
            }
            S::Process => {
                ctx.trace.push(rt::TraceStep::new(1, rt::Outcome::Ok));
                let id = ctx.event.delivery_id.as_str().unwrap_or("").to_string();
                super::record(format!("continued {id}"));
                ctx.spawns.push(rt::Spawn {
                    flow: "later",
                    payload: ctx.event.payload.clone(),
                    path: "/process".to_string(),
                });
                Ok(rt::Yield::Finished)
            }
        }
    }
}

/// `later`: no trigger; started by `ack`'s async node at its first node.
mod later {
    use super::rt;
    pub static FLOW: rt::FlowDef = rt::FlowDef {
        name: "later",
        version: "1.0",
        file: "tests/later.yaml",
        triggers: &[],
        nodes: &[rt::NodeDef {
            id: "work",
            kind: "script",
            line: 3,
            edges: &[],
        }],
        secrets: &[],
        payload_fields: None,
        run,
    };
    fn run(ctx: &mut rt::Ctx, start: rt::NodeIx) -> Result<rt::Yield, rt::FlowError> {
        if start == 0 {
            let id = ctx.event.delivery_id.as_str().unwrap_or("").to_string();
            super::record(format!("later {id} {}", ctx.event.payload));
        }
        Ok(rt::Yield::Finished)
    }
}

fn record(s: String) {
    if let Ok(mut v) = AFTER.lock() {
        v.push(s);
    }
}

fn recorded() -> Vec<String> {
    AFTER.lock().map(|v| v.clone()).unwrap_or_default()
}

static FLOWS: rt::Registry = rt::Registry {
    flows: &[
        &ack::FLOW,
        &boom::FLOW,
        &echo::FLOW,
        &later::FLOW,
        &plain::FLOW,
    ],
};

async fn start(config: Config) -> RunningServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    RunningServer::start(config, &FLOWS, Some(listener))
        .await
        .expect("server starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn post(
    server: &RunningServer,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = client()
        .post(format!("{}{path}", server.url()))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    parts(resp).await
}

async fn parts(resp: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

#[tokio::test]
async fn json_delivery_runs_the_flow_and_answers_with_its_response() {
    let server = start(Config::default()).await;
    let resp = client()
        .post(format!("{}/events/webhook/demo/echo", server.url()))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .header("X-Event", "push")
        .body(r#"{"message": "Hello from webhook"}"#)
        .send()
        .await
        .expect("request");
    let (status, headers, body) = parts(resp).await;
    assert_eq!(status, 201);
    assert_eq!(headers["x-handled-by"], "echo/demo");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        headers["x-hookflow-delivery"],
        "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    );
    assert_eq!(
        body,
        json!({"tenant": "demo", "event_type": "echo", "delivery_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
               "payload": {"message": "Hello from webhook"}, "event_header": "push"})
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn delivery_ids_are_fresh_without_a_sender_id() {
    let server = start(Config::default()).await;
    let (_, _, a) = post(
        &server,
        "/events/webhook/demo/echo",
        "application/json",
        "{}",
    )
    .await;
    let (_, _, b) = post(
        &server,
        "/events/webhook/demo/echo",
        "application/json",
        r#"{"n": 2}"#,
    )
    .await;
    let (a, b) = (
        a["delivery_id"].as_str().unwrap_or(""),
        b["delivery_id"].as_str().unwrap_or(""),
    );
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    // The same body again, without a sender id, is a repeat (dedup by a hash of the body).
    let (status, headers, again) = post(
        &server,
        "/events/webhook/demo/echo",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(headers["x-hookflow-duplicate"], "true");
    assert_eq!(again["delivery_id"], a);
}

#[tokio::test]
async fn a_flow_without_http_response_answers_ok() {
    let server = start(Config::default()).await;
    let (status, _, body) = post(
        &server,
        "/events/webhook/t1/plain",
        "application/json",
        "[1,2]",
    )
    .await;
    assert_eq!((status, body), (200, json!({"ok": true})));
}

#[tokio::test]
async fn a_failing_flow_is_an_opaque_500() {
    let server = start(Config::default()).await;
    let (status, headers, body) = post(
        &server,
        "/events/webhook/demo/boom",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(code(&body), "flow_error");
    let text = body.to_string();
    assert!(
        !text.contains("SECRET-DETAIL") && !text.contains("explode"),
        "{text}"
    );
    let id = headers["x-hookflow-delivery"].to_str().unwrap_or("-");
    assert!(
        text.contains(id),
        "the message names the delivery id to look up: {text}"
    );
}

#[tokio::test]
async fn bodies_by_content_type() {
    let server = start(Config::default()).await;
    let echo = "/events/webhook/demo/echo";
    let (_, _, b) = post(
        &server,
        echo,
        "application/x-www-form-urlencoded",
        "a=1&b=two+words",
    )
    .await;
    assert_eq!(b["payload"], json!({"a": "1", "b": "two words"}));
    // GitHub's form mode: one `payload` field holding the JSON.
    let form = format!(
        "payload={}",
        "%7B%22zen%22%3A%22Keep%20it%20simple.%22%2C%22hook_id%22%3A1%7D"
    );
    let (_, _, b) = post(&server, echo, "application/x-www-form-urlencoded", form).await;
    assert_eq!(
        b["payload"],
        json!({"zen": "Keep it simple.", "hook_id": 1})
    );
    let (_, _, b) = post(&server, echo, "text/plain", "just text").await;
    assert_eq!(b["payload"], json!("just text"));
    let (status, _, b) = post(&server, echo, "application/json", "{\"a\": ").await;
    assert_eq!((status, code(&b)), (400, "malformed_json"));
    let (status, _, b) = post(
        &server,
        echo,
        "application/x-www-form-urlencoded",
        "payload=%7Bnope",
    )
    .await;
    assert_eq!((status, code(&b)), (400, "malformed_json"));
}

#[tokio::test]
async fn routing_errors() {
    let server = start(Config::default()).await;
    let (status, _, b) = post(
        &server,
        "/events/webhook/demo/nothing.here",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!((status, code(&b)), (404, "no_flow"));
    assert!(b["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("nothing.here"));
    let (status, _, b) = post(&server, "/events/webhook/demo", "application/json", "{}").await;
    assert_eq!((status, code(&b)), (404, "not_found"));
    let (status, _, b) = post(
        &server,
        "/events/webhook/bad%20tenant/echo",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!((status, code(&b)), (404, "unknown_tenant"));

    let resp = client()
        .get(format!("{}/events/webhook/demo/echo", server.url()))
        .send()
        .await
        .expect("get");
    let allow = resp
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap_or("").to_string());
    let (status, _, b) = parts(resp).await;
    assert_eq!(
        (status, code(&b), allow.as_deref()),
        (405, "method_not_allowed", Some("POST"))
    );
    let resp = client()
        .post(format!("{}/healthz", server.url()))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 405);

    for path in ["/healthz", "/readyz"] {
        let resp = client()
            .get(format!("{}{path}", server.url()))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
    }
}

#[tokio::test]
async fn tenants_when_configured() {
    let config = Config {
        tenants: vec![Tenant::parse("demo").expect("tenant")],
        ..Config::default()
    };
    let server = start(config).await;
    let (status, _, _) = post(
        &server,
        "/events/webhook/demo/echo",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, b) = post(
        &server,
        "/events/webhook/other/echo",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!((status, code(&b)), (404, "unknown_tenant"));
}

#[tokio::test]
async fn a_disabled_provider_answers_404() {
    let server = start(Config {
        enabled: false,
        ..Config::default()
    })
    .await;
    let (status, _, b) = post(
        &server,
        "/events/webhook/demo/echo",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!((status, code(&b)), (404, "provider_disabled"));
    let resp = client()
        .get(format!("{}/healthz", server.url()))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let server = start(Config {
        max_body_bytes: 1024,
        ..Config::default()
    })
    .await;
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(2000));
    let (status, _, b) = post(
        &server,
        "/events/webhook/demo/echo",
        "application/json",
        big.clone(),
    )
    .await;
    assert_eq!((status, code(&b)), (413, "body_too_large"));
    // Without Content-Length (chunked), the limit holds while reading.
    let mut raw = String::from(
        "POST /events/webhook/demo/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for chunk in big.as_bytes().chunks(500) {
        raw.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            String::from_utf8_lossy(chunk)
        ));
    }
    raw.push_str("0\r\n\r\n");
    let answer = raw_request(server.addr(), raw.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    let (status, _, _) = post(
        &server,
        "/events/webhook/demo/echo",
        "application/json",
        "{\"small\": true}",
    )
    .await;
    assert_eq!(status, 201);
}

/// Sends raw bytes and reads the answer until the server closes the connection.
async fn raw_request(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn oversized_headers_are_rejected() {
    let server = start(Config::default()).await;
    let resp = client()
        .post(format!("{}/events/webhook/demo/echo", server.url()))
        .header("X-Big", "a".repeat(100 * 1024))
        .body("{}")
        .send()
        .await;
    // 431, or (when hyper's own buffer limit trips first) a closed connection.
    if let Ok(r) = resp {
        let (status, _, b) = parts(r).await;
        assert_eq!(status, 431);
        if b.is_object() {
            assert_eq!(code(&b), "headers_too_large");
        }
    }
    let (status, _, _) = post(
        &server,
        "/events/webhook/demo/echo",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(status, 201, "the server still serves");
}

fn hmac_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn signed_config() -> Config {
    RawConfig::from_answers_json(
        r#"{"events-webhook": {"enabled": true, "public_base_url": "https://hooks.example",
            "secret_header": "X-Signature", "secret_key": "generic-secret",
            "signatures": {
              "signed": {"header": "X-Hub-Signature-256", "algorithm": "sha256", "secret": "gh-secret"},
              "stripe": {"header": "Stripe-Signature", "algorithm": "stripe", "secret": "whsec_test"}}}}"#,
    )
    .and_then(|r| r.check())
    .expect("valid config")
}

async fn post_signed(
    server: &RunningServer,
    event_type: &str,
    body: &str,
    header: Option<(&str, String)>,
) -> (u16, Value) {
    let mut req = client()
        .post(format!("{}/events/webhook/demo/{event_type}", server.url()))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some((h, v)) = header {
        req = req.header(h, v);
    }
    let (status, _, body) = parts(req.send().await.expect("request")).await;
    (status, body)
}

#[tokio::test]
async fn signatures_are_checked_per_event_type() {
    let server = start(signed_config()).await;
    let body = r#"{"ref":"refs/heads/main","commits":[]}"#;
    let good = format!("sha256={}", hmac_hex(b"gh-secret", &[body.as_bytes()]));
    let (status, b) = post_signed(
        &server,
        "signed",
        body,
        Some(("X-Hub-Signature-256", good.clone())),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["payload"]["ref"], "refs/heads/main");

    let (status, b) = post_signed(&server, "signed", body, None).await;
    assert_eq!((status, code(&b)), (401, "missing_signature"));
    assert!(b["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("X-Hub-Signature-256"));
    let wrong = format!("sha256={}", hmac_hex(b"not-the-secret", &[body.as_bytes()]));
    let (status, b) = post_signed(
        &server,
        "signed",
        body,
        Some(("X-Hub-Signature-256", wrong)),
    )
    .await;
    assert_eq!((status, code(&b)), (401, "invalid_signature"));
    let changed = body.replace("main", "evil");
    let (status, b) = post_signed(
        &server,
        "signed",
        &changed,
        Some(("X-Hub-Signature-256", good)),
    )
    .await;
    assert_eq!((status, code(&b)), (401, "invalid_signature"));
    let (status, b) = post_signed(
        &server,
        "signed",
        body,
        Some(("X-Hub-Signature-256", "sha256=zz".into())),
    )
    .await;
    assert_eq!((status, code(&b)), (401, "invalid_signature"));

    // The generic check applies to event types without their own entry.
    let generic = hmac_hex(b"generic-secret", &[body.as_bytes()]);
    let (status, _) = post_signed(&server, "generic", body, Some(("X-Signature", generic))).await;
    assert_eq!(status, 201);
    let (status, b) = post_signed(&server, "generic", body, None).await;
    assert_eq!((status, code(&b)), (401, "missing_signature"));
}

#[tokio::test]
async fn stripe_valid_expired_and_tampered() {
    let server = start(signed_config()).await;
    let body = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","type":"payment_intent.succeeded"}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let sign = |t: u64, b: &str| {
        format!(
            "t={t},v1={}",
            hmac_hex(
                b"whsec_test",
                &[t.to_string().as_bytes(), b".", b.as_bytes()]
            )
        )
    };
    let (status, b) = post_signed(
        &server,
        "stripe",
        body,
        Some(("Stripe-Signature", sign(now, body))),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(
        b["delivery_id"], "evt_1NG8Du2eZvKYlo2CUI79vXWy",
        "Stripe's event id is the delivery id"
    );
    let (status, b) = post_signed(
        &server,
        "stripe",
        body,
        Some(("Stripe-Signature", sign(now - 3600, body))),
    )
    .await;
    assert_eq!((status, code(&b)), (401, "timestamp_out_of_tolerance"));
    let tampered = body.replace("succeeded", "failed");
    let (status, b) = post_signed(
        &server,
        "stripe",
        &tampered,
        Some(("Stripe-Signature", sign(now, body))),
    )
    .await;
    assert_eq!((status, code(&b)), (401, "invalid_signature"));
}

#[tokio::test]
async fn work_after_the_answer_runs() {
    let server = start(Config::default()).await;
    let resp = client()
        .post(format!("{}/events/webhook/demo/ack", server.url()))
        .header("Content-Type", "application/json")
        .header("webhook-id", "msg_after_1")
        .body(r#"{"n": 7}"#)
        .send()
        .await
        .expect("request");
    let (status, _, body) = parts(resp).await;
    assert_eq!((status, body), (202, json!({"message": "Processing"})));
    let want = [
        "continued msg_after_1".to_string(),
        r#"later msg_after_1 {"n":7}"#.to_string(),
    ];
    for _ in 0..100 {
        let seen = recorded();
        if want.iter().all(|w| seen.contains(w)) {
            // The continuation runs before the flow it spawned.
            let pos = |w: &String| seen.iter().position(|s| s == w);
            assert!(pos(&want[0]) < pos(&want[1]));
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("work after the answer did not run: {:?}", recorded());
}

#[tokio::test]
async fn graceful_shutdown_finishes_a_request_in_flight() {
    let server = start(Config::default()).await;
    let addr = server.addr();
    let body = br#"{"message": "slow sender"}"#;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /events/webhook/demo/echo HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(&body[..5]).await.expect("write part");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown waits for the request in flight"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections once shutting down"
    );

    stream.write_all(&body[5..]).await.expect("write rest");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answer in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("slow sender"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown completes")
        .expect("join")
        .expect("clean shutdown");
}

/// Everything logged by this test binary (a global subscriber: the server logs from its tasks).
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut l) = LOGS.lock() {
            l.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(|| LogWriter)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// The captured log lines that mention `needle`.
fn log_lines(needle: &str) -> Vec<String> {
    let logs = LOGS.lock().map(|l| l.clone()).unwrap_or_default();
    String::from_utf8_lossy(&logs)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn one_log_line_per_delivery_without_secrets() {
    capture_logs();
    let server = start(signed_config()).await;
    let body = r#"{"ref":"refs/heads/main"}"#;
    let wrong = hmac_hex(b"not-the-secret", &[body.as_bytes()]);
    let resp = client()
        .post(format!("{}/events/webhook/acme/signed", server.url()))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Delivery", "log-test-rejected")
        .header("X-Hub-Signature-256", format!("sha256={wrong}"))
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 401);
    let good = format!("sha256={}", hmac_hex(b"gh-secret", &[body.as_bytes()]));
    let resp = client()
        .post(format!("{}/events/webhook/acme/signed", server.url()))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Delivery", "log-test-accepted")
        .header("X-Hub-Signature-256", good.clone())
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 201);
    let resp = client()
        .post(format!("{}/events/webhook/acme/boom", server.url()))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Delivery", "log-test-failed")
        .header("X-Signature", hmac_hex(b"generic-secret", &[b"{}"]))
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 500);
    server.shutdown().await.expect("clean shutdown");

    let accepted = log_lines("log-test-accepted");
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    for field in [
        "tenant=acme",
        "event_type=signed",
        "flow=echo",
        "status=201",
        "duration_ms=",
        "signature=valid:sha256",
    ] {
        assert!(accepted[0].contains(field), "{field} in {}", accepted[0]);
    }
    let failed = log_lines("log-test-failed");
    assert_eq!(failed.len(), 1, "a flow error is logged once: {failed:?}");
    assert!(failed[0].contains("ERROR") && failed[0].contains("status=500"));
    assert!(
        failed[0].contains("SECRET-DETAIL") && failed[0].contains("explode"),
        "{}",
        failed[0]
    );
    let rejected = log_lines("log-test-rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    for field in [
        "tenant=acme",
        "status=401",
        "signature=rejected:mismatch",
        "error=invalid_signature",
        "delivery_id=log-test-rejected",
    ] {
        assert!(rejected[0].contains(field), "{field} in {}", rejected[0]);
    }

    let all = log_lines("");
    for secret in ["gh-secret", "generic-secret", wrong.as_str(), &good[7..]] {
        assert!(
            !all.iter().any(|l| l.contains(secret)),
            "`{secret}` was logged"
        );
    }
}

#[tokio::test]
async fn a_body_that_never_arrives_times_out() {
    let config = Config {
        request_timeout: Duration::from_millis(500),
        ..Config::default()
    };
    let server = start(config).await;
    let started = std::time::Instant::now();
    let answer = raw_request(
        server.addr(),
        b"POST /events/webhook/demo/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(4));
    let (status, _, _) = post(
        &server,
        "/events/webhook/demo/echo",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(status, 201, "the server still serves");
}

fn tenant_config(json: &str) -> Config {
    RawConfig::from_answers_json(json)
        .and_then(|r| r.check())
        .expect("valid config")
}

async fn post_tenant(
    server: &RunningServer,
    tenant: &str,
    event_type: &str,
    body: &str,
    header: Option<(&str, String)>,
) -> (u16, Value) {
    let mut req = client()
        .post(format!(
            "{}/events/webhook/{tenant}/{event_type}",
            server.url()
        ))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some((h, v)) = header {
        req = req.header(h, v);
    }
    let (status, _, body) = parts(req.send().await.expect("request")).await;
    (status, body)
}

#[tokio::test]
async fn a_tenant_secret_validates_only_that_tenant() {
    let server = start(tenant_config(
        r#"{"events-webhook": {"enabled": true, "public_base_url": "https://hooks.example",
            "signatures": {"signed": {"header": "X-Hub-Signature-256", "algorithm": "sha256", "secret": "global-secret"}},
            "tenants": {
              "acme": {"signatures": {"signed": {"header": "X-Hub-Signature-256", "algorithm": "sha256", "secret": "acme-secret"}}},
              "beta": {}}}}"#,
    ))
    .await;
    let body = r#"{"n":1}"#;
    let sig = |secret: &[u8]| {
        Some((
            "X-Hub-Signature-256",
            format!("sha256={}", hmac_hex(secret, &[body.as_bytes()])),
        ))
    };
    // acme's own secret: accepted for acme.
    let (status, b) = post_tenant(&server, "acme", "signed", body, sig(b"acme-secret")).await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["tenant"], "acme");
    // acme's secret never validates beta, which uses the global secret.
    let (status, b) = post_tenant(&server, "beta", "signed", body, sig(b"acme-secret")).await;
    assert_eq!((status, code(&b)), (401, "invalid_signature"));
    let (status, b) = post_tenant(&server, "beta", "signed", body, sig(b"global-secret")).await;
    assert_eq!(status, 201, "{b}");
    // The tenant's entry takes precedence: the global secret no longer works for acme.
    let (status, b) = post_tenant(&server, "acme", "signed", body, sig(b"global-secret")).await;
    assert_eq!((status, code(&b)), (401, "invalid_signature"));
}

#[tokio::test]
async fn tenant_override_then_global_then_generic() {
    let server = start(tenant_config(
        r#"{"events-webhook": {"enabled": true, "public_base_url": "https://hooks.example",
            "secret_header": "X-Signature", "secret_key": "generic-secret",
            "signatures": {"signed": {"header": "X-Hub-Signature-256", "algorithm": "sha256", "secret": "global-secret"}},
            "tenants": {
              "acme": {"signatures": {"generic": {"header": "X-Acme-Signature", "algorithm": "sha256", "secret": "acme-generic"}}},
              "beta": {}}}}"#,
    ))
    .await;
    let body = r#"{"n":2}"#;
    let hex = |secret: &[u8]| hmac_hex(secret, &[body.as_bytes()]);
    // acme, `generic`: its own entry wins over the generic secret_header/secret_key check.
    let (status, b) = post_tenant(
        &server,
        "acme",
        "generic",
        body,
        Some(("X-Acme-Signature", hex(b"acme-generic"))),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    let (status, b) = post_tenant(
        &server,
        "acme",
        "generic",
        body,
        Some(("X-Signature", hex(b"generic-secret"))),
    )
    .await;
    assert_eq!((status, code(&b)), (401, "missing_signature"), "{b}");
    // beta, `generic`: no own entry, no global entry: the generic check.
    let (status, b) = post_tenant(
        &server,
        "beta",
        "generic",
        body,
        Some(("X-Signature", hex(b"generic-secret"))),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    let (status, b) = post_tenant(
        &server,
        "beta",
        "generic",
        body,
        Some(("X-Acme-Signature", hex(b"acme-generic"))),
    )
    .await;
    assert_eq!((status, code(&b)), (401, "missing_signature"), "{b}");
    // acme, `signed`: no own entry, so the global one (not the generic one).
    let (status, b) = post_tenant(
        &server,
        "acme",
        "signed",
        body,
        Some((
            "X-Hub-Signature-256",
            format!("sha256={}", hex(b"global-secret")),
        )),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    let (status, b) = post_tenant(
        &server,
        "acme",
        "signed",
        body,
        Some(("X-Signature", hex(b"generic-secret"))),
    )
    .await;
    assert_eq!((status, code(&b)), (401, "missing_signature"), "{b}");
}

fn assert_signature_required(status: u16, b: &Value) {
    assert_eq!((status, code(b)), (401, "missing_signature"), "{b}");
    let message = b["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("no signature check is configured for the event type `echo`")
            && message.contains("signatures are required"),
        "{message}"
    );
}

#[tokio::test]
async fn require_signature_globally_with_a_tenant_exception() {
    let server = start(tenant_config(
        r#"{"events-webhook": {"enabled": true, "public_base_url": "https://hooks.example",
            "require_signature": true,
            "signatures": {"signed": {"header": "X-Hub-Signature-256", "algorithm": "sha256", "secret": "global-secret"}},
            "tenants": {"acme": {}, "open": {"require_signature": false}}}}"#,
    ))
    .await;
    let body = r#"{"n":3}"#;
    let (status, b) = post_tenant(&server, "acme", "echo", body, None).await;
    assert_signature_required(status, &b);
    // The tenant's own `false` overrides the global `true`.
    let (status, b) = post_tenant(&server, "open", "echo", body, None).await;
    assert_eq!(status, 201, "{b}");
    // Configured event types still verify as usual.
    let good = format!("sha256={}", hmac_hex(b"global-secret", &[body.as_bytes()]));
    let (status, b) = post_tenant(
        &server,
        "acme",
        "signed",
        body,
        Some(("X-Hub-Signature-256", good)),
    )
    .await;
    assert_eq!(status, 201, "{b}");
}

#[tokio::test]
async fn require_signature_per_tenant() {
    let server = start(tenant_config(
        r#"{"events-webhook": {"enabled": true, "public_base_url": "https://hooks.example",
            "tenants": {"strict": {"require_signature": true}, "lax": {}}}}"#,
    ))
    .await;
    let body = r#"{"n":4}"#;
    let (status, b) = post_tenant(&server, "strict", "echo", body, None).await;
    assert_signature_required(status, &b);
    let (status, b) = post_tenant(&server, "lax", "echo", body, None).await;
    assert_eq!(status, 201, "{b}");
}

#[test]
fn tenant_config_errors_name_the_key() {
    let cases = [
        (
            r#""tenants": {"acme": {"signatures": {"github": {"algorithm": "sha256"}}}}"#,
            "events-webhook.tenants.acme.signatures.github.secret",
        ),
        (
            r#""tenants": {"acme": {"signatures": {"github": {"algorithm": "md5", "secret": "s"}}}}"#,
            "events-webhook.tenants.acme.signatures.github.algorithm",
        ),
        (
            r#""tenants": {"acme": {"signatures": {"github": {"secret": "s"}}}}"#,
            "events-webhook.tenants.acme.signatures.github.algorithm",
        ),
        (
            r#""tenants": {"acme": {"signatures": {"github": {"algorithm": "sha256", "secret": "s", "hdr": "x"}}}}"#,
            "events-webhook.tenants.acme.signatures.github.hdr",
        ),
        (
            r#""tenants": {"acme": {"signatures": []}}"#,
            "events-webhook.tenants.acme.signatures",
        ),
        (
            r#""tenants": {"acme": {"require_signature": "yes"}}"#,
            "events-webhook.tenants.acme.require_signature",
        ),
        (
            r#""tenants": {"acme": {"secrets": {}}}"#,
            "events-webhook.tenants.acme.secrets",
        ),
        (r#""tenants": {"a b": {}}"#, "events-webhook.tenants.a b"),
        (r#""tenants": ["ok", "a b"]"#, "events-webhook.tenants[1]"),
        (r#""tenants": 3"#, "events-webhook.tenants"),
        (
            r#""require_signature": 1"#,
            "events-webhook.require_signature",
        ),
    ];
    for (extra, key) in cases {
        let text = format!(
            r#"{{"events-webhook": {{"enabled": true, "public_base_url": "https://x", {extra}}}}}"#
        );
        let e = match RawConfig::from_answers_json(&text).and_then(|r| r.check()) {
            Ok(_) => String::from("ok"),
            Err(e) => e.to_string(),
        };
        assert!(e.starts_with(&format!("{key}:")), "{text}\n=> {e}");
    }
}
