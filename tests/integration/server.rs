//! Integration tests: the real server on port 0 running the shipped flows (`flows/*.yaml`,
//! compiled here by the same macro as the binary), with the seed's configuration.

use hookflow_runtime::config::{Config, RawConfig};
use hookflow_runtime::server::RunningServer;
use serde_json::{json, Value};
use std::time::Duration;

hookflow_flow_macros::flows!("flows");

const GITHUB_SECRET: &str = "your-github-secret";
const STRIPE_SECRET: &str = "whsec_test_secret";

/// The seed's answers.json with signatures for the GitHub and Stripe flows.
fn seed_config() -> Config {
    RawConfig::from_answers_json(&format!(
        r#"{{"events-webhook": {{
            "enabled": true,
            "public_base_url": "https://your-domain.example",
            "signatures": {{
              "github": {{"header": "X-Hub-Signature-256", "algorithm": "sha256", "secret": "{GITHUB_SECRET}"}},
              "stripe": {{"header": "Stripe-Signature", "algorithm": "stripe", "secret": "{STRIPE_SECRET}"}}
            }}}}}}"#
    ))
    .and_then(|r| r.check())
    .expect("the seed's answers are valid")
}

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

async fn send(
    server: &RunningServer,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = client()
        .post(format!("{}{path}", server.url()))
        .header("Content-Type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

fn assert_shipped(event_type: &str) {
    assert!(
        FLOWS.for_event(event_type).is_some(),
        "no shipped flow in flows/ is triggered by `{event_type}`"
    );
}

fn hmac_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn fixture(path: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/github")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[tokio::test]
async fn the_seeds_curl_works_on_embedded_defaults() {
    assert_shipped("test");
    let server = start(Config::default()).await;
    let (status, body) = send(
        &server,
        "/events/webhook/demo/test",
        &[],
        br#"{"message": "Hello from webhook"}"#.to_vec(),
    )
    .await;
    assert!((200..300).contains(&status), "{status} {body}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn order_created_is_handled() {
    assert_shipped("order.created");
    let server = start(seed_config()).await;
    let (status, body) = send(
        &server,
        "/events/webhook/demo/order.created",
        &[],
        br#"{"order_id": "ord_1001", "total": 42.5}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], json!(true), "{body}");
}

#[tokio::test]
async fn every_shipped_trigger_answers_without_a_server_error() {
    let server = start(Config::default()).await;
    for flow in FLOWS.flows {
        for t in flow.triggers {
            let (status, body) = send(
                &server,
                &format!("/events/webhook/demo/{}", t.event_type),
                &[("X-GitHub-Event", "ping".to_string())],
                br#"{"zen": "Keep it logically awesome.", "type": "unknown.event", "data": {"object": {}}}"#.to_vec(),
            )
            .await;
            // A failing flow is a 500. Other statuses are the flow's own answers, 5xx included:
            // `github_forward` answers 502 by design when nothing listens on 127.0.0.1:9000.
            assert!(
                status != 500,
                "{} ({}): {status} {body}",
                flow.name,
                t.event_type
            );
        }
    }
}

async fn github(
    server: &RunningServer,
    event: &str,
    body: &[u8],
    sig: Option<String>,
) -> (u16, Value) {
    let mut headers = vec![
        ("X-GitHub-Event", event.to_string()),
        (
            "X-GitHub-Delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_string(),
        ),
    ];
    if let Some(s) = sig {
        headers.push(("X-Hub-Signature-256", s));
    }
    send(
        server,
        "/events/webhook/demo/github",
        &headers,
        body.to_vec(),
    )
    .await
}

#[tokio::test]
async fn a_signed_github_push_is_accepted_and_bad_signatures_are_401() {
    assert_shipped("github");
    let server = start(seed_config()).await;
    let body = fixture("push/payload.json");
    let payload: Value = serde_json::from_slice(&body).expect("fixture is JSON");
    let commits = payload["commits"].as_array().map_or(0, Vec::len);
    let good = format!("sha256={}", hmac_hex(GITHUB_SECRET.as_bytes(), &[&body]));

    let (status, answer) = github(&server, "push", &body, Some(good.clone())).await;
    assert!((200..300).contains(&status), "{status} {answer}");
    assert!(
        answer.to_string().contains(&commits.to_string()),
        "the push flow's answer reports the {commits} commits: {answer}"
    );

    let wrong = format!("sha256={}", hmac_hex(b"not-the-secret", &[&body]));
    let (status, answer) = github(&server, "push", &body, Some(wrong)).await;
    assert_eq!((status, code(&answer)), (401, "invalid_signature"));
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("secret"));

    let mut changed = body.clone();
    changed.extend_from_slice(b" ");
    let (status, answer) = github(&server, "push", &changed, Some(good)).await;
    assert_eq!((status, code(&answer)), (401, "invalid_signature"));

    let (status, answer) = github(&server, "push", &body, None).await;
    assert_eq!((status, code(&answer)), (401, "missing_signature"));
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("X-Hub-Signature-256"));
}

#[tokio::test]
async fn github_pull_requests_and_other_events_are_answered() {
    assert_shipped("github");
    let server = start(seed_config()).await;
    for (event, file) in [
        ("pull_request", "pull_request/opened.payload.json"),
        ("ping", "ping/payload.json"),
        ("issues", "issues/opened.payload.json"),
    ] {
        let body = fixture(file);
        let sig = format!("sha256={}", hmac_hex(GITHUB_SECRET.as_bytes(), &[&body]));
        let (status, answer) = github(&server, event, &body, Some(sig)).await;
        assert!((200..300).contains(&status), "{event}: {status} {answer}");
    }
}

#[tokio::test]
async fn a_form_encoded_github_delivery_is_unwrapped() {
    assert_shipped("github");
    let server = start(Config::default()).await;
    let json = fixture("push/payload.json");
    let form: String = form_urlencoded_payload(&json);
    let resp = client()
        .post(format!("{}/events/webhook/demo/github", server.url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-GitHub-Event", "push")
        .body(form)
        .send()
        .await
        .expect("request");
    assert!(resp.status().is_success(), "{}", resp.status());
}

fn form_urlencoded_payload(json: &[u8]) -> String {
    let mut out = String::from("payload=");
    for &b in json {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn stripe(server: &RunningServer, body: &str, t: u64, signed_body: &str) -> (u16, Value) {
    let sig = format!(
        "t={t},v1={}",
        hmac_hex(
            STRIPE_SECRET.as_bytes(),
            &[t.to_string().as_bytes(), b".", signed_body.as_bytes()]
        )
    );
    send(
        server,
        "/events/webhook/demo/stripe",
        &[("Stripe-Signature", sig)],
        body.as_bytes().to_vec(),
    )
    .await
}

#[tokio::test]
async fn stripe_valid_expired_and_tampered() {
    assert_shipped("stripe");
    let server = start(seed_config()).await;
    let body = r#"{"id": "evt_3MtwBwLkdIwHu7ix28a3tqPa", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1", "amount": 2000, "currency": "usd"}}}"#;
    let (status, answer) = stripe(&server, body, now(), body).await;
    assert!((200..300).contains(&status), "{status} {answer}");

    let (status, answer) = stripe(&server, body, now() - 301, body).await;
    assert_eq!(
        (status, code(&answer)),
        (401, "timestamp_out_of_tolerance"),
        "{answer}"
    );

    let tampered = body.replace("2000", "1");
    let (status, answer) = stripe(&server, &tampered, now(), body).await;
    assert_eq!(
        (status, code(&answer)),
        (401, "invalid_signature"),
        "{answer}"
    );

    let failed = body.replace("payment_intent.succeeded", "payment_intent.payment_failed");
    let (status, answer) = stripe(&server, &failed, now(), &failed).await;
    assert!((200..300).contains(&status), "{status} {answer}");
}

#[tokio::test]
async fn unknown_event_types_are_404() {
    let server = start(Config::default()).await;
    let (status, answer) = send(
        &server,
        "/events/webhook/demo/no.such.event",
        &[],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!((status, code(&answer)), (404, "no_flow"));
}
