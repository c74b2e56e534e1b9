//! The three engines of the flow-execution benchmark, shared by `benches/flow_logic.rs`
//! (criterion, time) and `examples/logic_count.rs` (a fixed number of deliveries, for
//! callgrind's instruction counts).
//!
//! Every engine gets the same parsed payload and does the same work per delivery: route on the
//! event, compute the message, and build the answer as it goes on the wire (status + JSON body
//! bytes). The compiled flows run as the engine runs them: a fresh `Ctx` per delivery.

use hookflow_runtime::__gen::{Ctx, Event, FlowDef, Headers, NodeIx, Registry, Yield};
use serde_json::Value;

hookflow_flow_macros::flows!("../flows");

pub const PUSH: &str = include_str!("../../../tests/fixtures/github/push/payload.json");
pub const STRIPE: &str = r#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded",
  "data":{"object":{"id":"pi_1","object":"payment_intent","amount":2000,"currency":"usd"}}}"#;

/// A shipped flow, compiled into this crate by the real `flows!` macro.
pub struct Compiled {
    flow: &'static FlowDef,
    start: NodeIx,
    event: Option<Event>,
}

impl Compiled {
    pub fn new(event_type: &str, header: Option<(&str, &str)>, body: &str) -> Compiled {
        let registry: &'static Registry = &FLOWS;
        let (flow, trigger) = registry
            .for_event(event_type)
            .unwrap_or_else(|| panic!("no shipped flow handles `{event_type}`"));
        let mut headers = Headers::new();
        headers.push("content-type", "application/json");
        if let Some((n, v)) = header {
            headers.push(n, v);
        }
        let payload: Value = serde_json::from_str(body).expect("fixture is JSON");
        let event = Event::new("bench", event_type, "d-1", headers, payload);
        Compiled {
            flow,
            start: trigger.target,
            event: Some(event),
        }
    }

    /// One delivery: a fresh context around the (moved, not copied) event, the flow up to its
    /// answer, the answer's body bytes.
    pub fn deliver(&mut self) -> (u16, bytes::Bytes) {
        let event = self
            .event
            .take()
            .expect("event is put back after each delivery");
        let mut ctx = Ctx::new(event, self.flow);
        let answer = match (self.flow.run)(&mut ctx, self.start) {
            Ok(Yield::Respond { response, .. }) => (response.status, response.body.to_bytes()),
            other => panic!("the flow did not answer: {other:?}"),
        };
        self.event = Some(ctx.event);
        answer
    }
}

/// The GitHub flow written by hand over `serde_json::Value`.
pub fn handwritten_github(event: &str, payload: &Value) -> (u16, Vec<u8>) {
    let body = match event {
        "push" => {
            let n = payload["commits"].as_array().map_or(0, Vec::len);
            serde_json::json!({"message": format!("Received {n} commits")})
        }
        "pull_request" => serde_json::json!({"message": format!("Pull request #{} {}",
            payload["number"], payload["action"].as_str().unwrap_or_default())}),
        "ping" => serde_json::json!({"message": "pong"}),
        other => serde_json::json!({"ignored": true, "event": other}),
    };
    (200, serde_json::to_vec(&body).unwrap_or_default())
}

/// The Stripe flow written by hand over `serde_json::Value`.
pub fn handwritten_stripe(payload: &Value) -> (u16, Vec<u8>) {
    let body = match payload["type"].as_str() {
        Some("payment_intent.succeeded") => serde_json::json!({"received": true,
            "status": "succeeded", "payment_intent": payload["data"]["object"]["id"]}),
        Some("payment_intent.payment_failed") => serde_json::json!({"received": true,
            "status": "failed", "payment_intent": payload["data"]["object"]["id"]}),
        _ => serde_json::json!({"received": true, "ignored": payload["type"]}),
    };
    (200, serde_json::to_vec(&body).unwrap_or_default())
}

/// The GitHub flow as a Rhai script: same routing, same message, same answer.
pub const RHAI_GITHUB: &str = r#"
    let ev = headers["x-github-event"];
    if ev == "push" {
        let commits = payload.commits;
        let message = `Received ${commits.len()} commits`;
        #{status: 200, body: #{message: message}}
    } else if ev == "pull_request" {
        let message = `Pull request #${payload.number} ${payload.action}`;
        #{status: 200, body: #{message: message}}
    } else if ev == "ping" {
        #{status: 200, body: #{message: "pong"}}
    } else {
        #{status: 200, body: #{ignored: true, event: ev}}
    }
"#;

/// The Stripe flow as a Rhai script.
pub const RHAI_STRIPE: &str = r#"
    if payload.type == "payment_intent.succeeded" {
        #{status: 200, body: #{received: true, status: "succeeded", payment_intent: payload.data.object.id}}
    } else if payload.type == "payment_intent.payment_failed" {
        #{status: 200, body: #{received: true, status: "failed", payment_intent: payload.data.object.id}}
    } else {
        #{status: 200, body: #{received: true, ignored: payload.type}}
    }
"#;

/// The Rhai interpreter at its best: one engine, a precompiled AST, the payload and headers
/// converted once and shared (not copied) into a fresh scope per delivery.
pub struct Rhai {
    engine: rhai::Engine,
    ast: rhai::AST,
    payload: rhai::Dynamic,
    headers: rhai::Dynamic,
}

impl Rhai {
    pub fn new(script: &str, payload: &Value, headers: &[(&str, &str)]) -> Rhai {
        let engine = rhai::Engine::new();
        let ast = engine.compile(script).expect("rhai script compiles");
        let payload = rhai::serde::to_dynamic(payload)
            .expect("to dynamic")
            .into_shared();
        let mut map = rhai::Map::new();
        for (n, v) in headers {
            map.insert(n.to_ascii_lowercase().into(), (*v).into());
        }
        Rhai {
            engine,
            ast,
            payload,
            headers: rhai::Dynamic::from_map(map).into_shared(),
        }
    }

    /// One delivery: evaluate, then turn the answer map into status + JSON body bytes.
    pub fn deliver(&self) -> (u16, Vec<u8>) {
        self.run(self.payload.clone())
    }

    /// One delivery as an interpreting receiver runs it: each delivery brings a new payload, so
    /// it is converted into Rhai's values first (the compiled flow reads the parsed
    /// `serde_json::Value` as it is).
    pub fn deliver_converting(&self, payload: &Value) -> (u16, Vec<u8>) {
        let payload = rhai::serde::to_dynamic(payload).expect("to dynamic");
        self.run(payload)
    }

    fn run(&self, payload: rhai::Dynamic) -> (u16, Vec<u8>) {
        let mut scope = rhai::Scope::new();
        scope.push_constant_dynamic("payload", payload);
        scope.push_constant_dynamic("headers", self.headers.clone());
        let answer: rhai::Map = self
            .engine
            .eval_ast_with_scope(&mut scope, &self.ast)
            .expect("rhai runs");
        let status = answer
            .get("status")
            .and_then(|s| s.as_int().ok())
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(500);
        let body = answer
            .get("body")
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        (status, body)
    }
}

/// The payloads, parsed once.
pub fn push() -> Value {
    serde_json::from_str(PUSH).expect("fixture is JSON")
}

pub fn stripe() -> Value {
    serde_json::from_str(STRIPE).expect("JSON")
}

/// Every engine answers the same bytes (checked before measuring).
pub fn check_same_answers() {
    let push = push();
    let stripe = stripe();
    let gh = Compiled::new("github", Some(("X-GitHub-Event", "push")), PUSH).deliver();
    let gh_hand = handwritten_github("push", &push);
    let gh_rhai = Rhai::new(RHAI_GITHUB, &push, &[("X-GitHub-Event", "push")]).deliver();
    assert_eq!(
        (gh.0, &gh.1[..]),
        (gh_hand.0, &gh_hand.1[..]),
        "github: compiled vs hand-written"
    );
    assert_eq!(
        (gh.0, &gh.1[..]),
        (gh_rhai.0, &gh_rhai.1[..]),
        "github: compiled vs rhai"
    );
    let st = Compiled::new("stripe", None, STRIPE).deliver();
    let st_hand = handwritten_stripe(&stripe);
    let st_rhai = Rhai::new(RHAI_STRIPE, &stripe, &[]).deliver();
    let as_json = |b: &[u8]| serde_json::from_slice::<Value>(b).expect("answer is JSON");
    // Rhai maps are sorted by key: compare the JSON values, not the bytes.
    assert_eq!(
        (st.0, &st.1[..]),
        (st_hand.0, &st_hand.1[..]),
        "stripe: compiled vs hand-written"
    );
    assert_eq!(
        (st.0, as_json(&st.1)),
        (st_rhai.0, as_json(&st_rhai.1)),
        "stripe: compiled vs rhai"
    );
}
