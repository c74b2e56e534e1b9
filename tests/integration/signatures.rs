//! Integration tests: signatures through the real server on port 0, for GitHub, Stripe,
//! Standard Webhooks, Shopify, Slack and Twilio. Deliveries are signed with
//! `hookflow_runtime::signature::Signer` (checked against the senders' published vectors in
//! `runtime/tests/signature_vectors.rs`), then sent over HTTP; accepted ones reach a flow, rejected
//! ones answer 401 with the stable error code.
//!
//! The flow here is written against the generated-code contract (`__gen`) by hand, so these tests
//! do not depend on which flows the binary ships: it answers 200 with the parsed payload.

use hookflow_runtime::__gen::{
    Body, Ctx, FlowDef, FlowError, NodeDef, NodeIx, Registry, Response, TriggerDef, Yield,
};
use hookflow_runtime::config::RawConfig;
use hookflow_runtime::server::RunningServer;
use hookflow_runtime::signature::{SecretRef, SignInput, SignatureSpec, Signer};
use serde_json::{json, Value};

const PUBLIC: &str = "https://hooks.example.com";

fn echo(ctx: &mut Ctx, _start: NodeIx) -> Result<Yield, FlowError> {
    Ok(Yield::Respond {
        response: Response {
            status: 200,
            headers: Vec::new(),
            body: Body::Json(json!({"verified": true, "payload": ctx.event.payload.clone()})),
        },
        then: None,
    })
}

static TRIGGERS: [TriggerDef; 7] = [
    TriggerDef {
        event_type: "push",
        target: 0,
    },
    TriggerDef {
        event_type: "stripe.event",
        target: 0,
    },
    TriggerDef {
        event_type: "svix.event",
        target: 0,
    },
    TriggerDef {
        event_type: "orders.create",
        target: 0,
    },
    TriggerDef {
        event_type: "slack.command",
        target: 0,
    },
    TriggerDef {
        event_type: "twilio.sms",
        target: 0,
    },
    TriggerDef {
        event_type: "unsigned",
        target: 0,
    },
];
static NODES: [NodeDef; 1] = [NodeDef {
    id: "echo",
    kind: "http_response",
    line: 1,
    edges: &[],
}];
static ECHO: FlowDef = FlowDef {
    name: "signature_echo",
    version: "1.0",
    file: "tests/integration/signatures.rs",
    triggers: &TRIGGERS,
    nodes: &NODES,
    secrets: &[],
    payload_fields: None,
    run: echo,
};
static FLOWS: Registry = Registry { flows: &[&ECHO] };

const STRIPE_OLD: &str = "whsec_old_rotated_out_soon";
const STRIPE_NEW: &str = "whsec_new_current";
const SVIX: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn answers(github_secret_file: &str) -> String {
    json!({"events-webhook": {
        "enabled": true,
        "public_base_url": PUBLIC,
        "signatures": {
            "push": {"header": "X-Hub-Signature-256", "algorithm": "sha256", "secret": format!("file:{github_secret_file}")},
            "stripe.event": {"algorithm": "stripe", "secrets": [STRIPE_NEW, STRIPE_OLD]},
            "svix.event": {"algorithm": "standard-webhooks", "secret": SVIX},
            "orders.create": {"algorithm": "shopify", "secret": "shopify-app-secret"},
            "slack.command": {"algorithm": "slack", "secret": "8f742231b10e8888abcd99yyyzzz85a5"},
            "twilio.sms": {"algorithm": "twilio", "secret": "twilio-auth-token"}
        }
    }})
    .to_string()
}

struct Harness {
    server: RunningServer,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("github-secret");
    std::fs::write(&secret_file, "gh-webhook-secret\n").expect("write secret");
    let raw = RawConfig::from_answers_json(&answers(&secret_file.display().to_string()))
        .expect("answers parse");
    let config = raw.check().expect("answers valid");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = RunningServer::start(config, &FLOWS, Some(listener))
        .await
        .expect("server starts");
    Harness {
        server,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn path(event_type: &str) -> String {
    format!("/events/webhook/demo/{event_type}")
}

/// Signs like the sender: over `PUBLIC` + path (what the sender was told to call).
fn sign(alg: &str, secret: &str, event_type: &str, body: &[u8], at: u64) -> Vec<(String, String)> {
    let spec = SignatureSpec {
        secret: Some(SecretRef(secret.to_string())),
        ..SignatureSpec::new(alg, "")
    };
    let url = format!("{PUBLIC}{}", path(event_type));
    Signer::from_spec(&spec)
        .expect("signer")
        .sign(&SignInput {
            method: "POST",
            url: &url,
            body,
            now: at,
            id: Some("msg_integration_1"),
        })
        .expect("signed")
        .headers
}

impl Harness {
    async fn post(
        &self,
        event_type: &str,
        content_type: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}{}", self.server.url(), path(event_type)))
            .header("Content-Type", content_type)
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let json = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, json)
    }

    async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }
}

fn code(v: &Value) -> &str {
    v.pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn message(v: &Value) -> &str {
    v.pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn github_push() -> Vec<u8> {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/github/push/payload.json"
    );
    std::fs::read(p).expect("GitHub push fixture")
}

#[tokio::test]
async fn github_push_signed_with_the_file_secret() {
    let h = start().await;
    let body = github_push();
    let good = sign("sha256", "gh-webhook-secret", "push", &body, 0);
    let mut with_event = good.clone();
    with_event.push(("X-GitHub-Event".into(), "push".into()));

    let (status, v) = h.post("push", "application/json", &with_event, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["verified"], true);
    let sent: Value = serde_json::from_slice(&body).expect("fixture is JSON");
    assert_eq!(v["payload"]["ref"], sent["ref"]);

    let wrong = sign("sha256", "not-the-secret", "push", &body, 0);
    let (status, v) = h.post("push", "application/json", &wrong, &body).await;
    assert_eq!((status, code(&v)), (401, "invalid_signature"), "{v}");
    assert!(message(&v).contains("secret"), "{v}");

    let (status, v) = h.post("push", "application/json", &[], &body).await;
    assert_eq!((status, code(&v)), (401, "missing_signature"), "{v}");
    assert!(message(&v).contains("X-Hub-Signature-256"), "{v}");

    // The same JSON re-serialised (as a proxy that parses bodies would) no longer verifies.
    let reserialised = serde_json::to_vec(&sent).expect("json");
    assert_ne!(reserialised, body);
    let (status, v) = h
        .post("push", "application/json", &good, &reserialised)
        .await;
    assert_eq!((status, code(&v)), (401, "invalid_signature"), "{v}");

    // The legacy sha1 header value in the sha256 header: malformed, named as such.
    let sha1 = sign("sha1", "gh-webhook-secret", "push", &body, 0);
    let as_256 = vec![("X-Hub-Signature-256".to_string(), sha1[0].1.clone())];
    let (status, v) = h.post("push", "application/json", &as_256, &body).await;
    assert_eq!((status, code(&v)), (401, "invalid_signature"), "{v}");
    assert!(message(&v).contains("malformed"), "{v}");
    h.stop().await;
}

#[tokio::test]
async fn stripe_valid_rotated_expired_and_tampered() {
    let h = start().await;
    let body =
        br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"amount":2000}}}"#;
    for secret in [STRIPE_NEW, STRIPE_OLD] {
        let headers = sign("stripe", secret, "stripe.event", body, now());
        let (status, v) = h
            .post("stripe.event", "application/json", &headers, body)
            .await;
        assert_eq!(status, 200, "{secret}: {v}");
        assert_eq!(v["payload"]["type"], "payment_intent.succeeded");
    }
    let expired = sign("stripe", STRIPE_NEW, "stripe.event", body, now() - 600);
    let (status, v) = h
        .post("stripe.event", "application/json", &expired, body)
        .await;
    assert_eq!(
        (status, code(&v)),
        (401, "timestamp_out_of_tolerance"),
        "{v}"
    );

    let headers = sign("stripe", STRIPE_NEW, "stripe.event", body, now());
    let tampered =
        br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"amount":9000}}}"#;
    let (status, v) = h
        .post("stripe.event", "application/json", &headers, tampered)
        .await;
    assert_eq!((status, code(&v)), (401, "invalid_signature"), "{v}");

    let other = sign("stripe", "whsec_someone_else", "stripe.event", body, now());
    let (status, v) = h
        .post("stripe.event", "application/json", &other, body)
        .await;
    assert_eq!((status, code(&v)), (401, "invalid_signature"), "{v}");
    h.stop().await;
}

#[tokio::test]
async fn standard_webhooks_valid_future_and_wrong_secret() {
    let h = start().await;
    let body = br#"{"type":"user.created","data":{"id":"user_1"}}"#;
    let good = sign("standard-webhooks", SVIX, "svix.event", body, now());
    let (status, v) = h.post("svix.event", "application/json", &good, body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["payload"]["type"], "user.created");

    let future = sign("standard-webhooks", SVIX, "svix.event", body, now() + 600);
    let (status, v) = h
        .post("svix.event", "application/json", &future, body)
        .await;
    assert_eq!(
        (status, code(&v)),
        (401, "timestamp_out_of_tolerance"),
        "{v}"
    );

    let wrong = sign(
        "standard-webhooks",
        "whsec_dGhlLXdyb25nLXNlY3JldA==",
        "svix.event",
        body,
        now(),
    );
    let (status, v) = h.post("svix.event", "application/json", &wrong, body).await;
    assert_eq!((status, code(&v)), (401, "invalid_signature"), "{v}");

    let no_id: Vec<_> = good
        .iter()
        .filter(|(k, _)| k != "webhook-id")
        .cloned()
        .collect();
    let (status, v) = h.post("svix.event", "application/json", &no_id, body).await;
    assert_eq!((status, code(&v)), (401, "missing_signature"), "{v}");
    h.stop().await;
}

#[tokio::test]
async fn shopify_base64_and_hex_mistake() {
    let h = start().await;
    let body = br#"{"id":820982911946154508,"email":"jon@example.com","total_price":"10.00"}"#;
    let good = sign("shopify", "shopify-app-secret", "orders.create", body, 0);
    let (status, v) = h
        .post("orders.create", "application/json", &good, body)
        .await;
    assert_eq!(status, 200, "{v}");

    // A hex HMAC where Shopify sends base64: rejected, and the message says so.
    let hex_headers = sign("sha256", "shopify-app-secret", "orders.create", body, 0);
    let hex_value = hex_headers[0].1.trim_start_matches("sha256=").to_string();
    let (status, v) = h
        .post(
            "orders.create",
            "application/json",
            &[("X-Shopify-Hmac-Sha256".into(), hex_value)],
            body,
        )
        .await;
    assert_eq!((status, code(&v)), (401, "invalid_signature"), "{v}");
    assert!(message(&v).contains("hex"), "{v}");
    h.stop().await;
}

#[tokio::test]
async fn slack_form_command_and_stale_request() {
    let h = start().await;
    let body = b"token=x&team_id=T1&command=%2Fdeploy&text=prod&user_name=roadrunner";
    let form = "application/x-www-form-urlencoded";
    let good = sign(
        "slack",
        "8f742231b10e8888abcd99yyyzzz85a5",
        "slack.command",
        body,
        now(),
    );
    let (status, v) = h.post("slack.command", form, &good, body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["payload"]["command"], "/deploy");

    let stale = sign(
        "slack",
        "8f742231b10e8888abcd99yyyzzz85a5",
        "slack.command",
        body,
        now() - 400,
    );
    let (status, v) = h.post("slack.command", form, &stale, body).await;
    assert_eq!(
        (status, code(&v)),
        (401, "timestamp_out_of_tolerance"),
        "{v}"
    );
    h.stop().await;
}

#[tokio::test]
async fn twilio_signs_the_public_url_and_form_parameters() {
    let h = start().await;
    let body = b"MessageSid=SM123&From=%2B15551234567&To=%2B15557654321&Body=Hello+hookflow";
    let form = "application/x-www-form-urlencoded";
    let good = sign("twilio", "twilio-auth-token", "twilio.sms", body, 0);
    let (status, v) = h.post("twilio.sms", form, &good, body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["payload"]["Body"], "Hello hookflow");

    // Signed for another URL (e.g. the local address instead of public_base_url): rejected.
    let spec = SignatureSpec::new("twilio", "twilio-auth-token");
    let local = format!("{}{}", h.server.url(), path("twilio.sms"));
    let wrong_url = Signer::from_spec(&spec)
        .expect("signer")
        .sign(&SignInput {
            method: "POST",
            url: &local,
            body,
            now: 0,
            id: None,
        })
        .expect("signed")
        .headers;
    let (status, v) = h.post("twilio.sms", form, &wrong_url, body).await;
    assert_eq!((status, code(&v)), (401, "invalid_signature"), "{v}");

    let (status, v) = h
        .post("twilio.sms", form, &good, b"MessageSid=SM123&Body=changed")
        .await;
    assert_eq!((status, code(&v)), (401, "invalid_signature"), "{v}");
    h.stop().await;
}

#[tokio::test]
async fn event_types_without_a_check_are_not_verified() {
    let h = start().await;
    let (status, v) = h
        .post(
            "unsigned",
            "application/json",
            &[],
            br#"{"message":"Hello from webhook"}"#,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    h.stop().await;
}
