//! Flow execution alone, no HTTP: the compiled GitHub and Stripe flows against the same logic
//! written by hand over `serde_json::Value` and run by the Rhai interpreter (one engine, a
//! precompiled AST, a fresh scope per delivery). Every engine gets the same parsed payloads.
//!
//! Run: `cargo bench --manifest-path bench/Cargo.toml --bench flow_logic` (or `bench/run.sh logic`).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hookflow_runtime::__gen::{Ctx, Event, Headers, Registry, Yield};
use serde_json::Value;

hookflow_flow_macros::flows!("../flows");

const PUSH: &str = include_str!("../../tests/fixtures/github/push/payload.json");
const STRIPE: &str = r#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded",
  "data":{"object":{"id":"pi_1","object":"payment_intent","amount":2000,"currency":"usd"}}}"#;

fn ctx_for(registry: &'static Registry, event_type: &str, header: Option<(&str, &str)>, body: &str) -> (Ctx, u16, hookflow_runtime::__gen::RunFn) {
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
    (Ctx::new(event, flow), trigger.target, flow.run)
}

fn run_compiled(ctx: &mut Ctx, start: u16, run: hookflow_runtime::__gen::RunFn) -> Yield {
    ctx.trace.clear();
    ctx.spawns.clear();
    run(ctx, start).expect("flow runs")
}

// The hand-written versions build the same answers as the shipped flows (status + JSON body).
fn handwritten_github(event: &str, payload: &Value) -> (u16, Value) {
    match event {
        "push" => {
            let n = payload["commits"].as_array().map_or(0, Vec::len);
            (200, serde_json::json!({"message": format!("Received {n} commits")}))
        }
        "pull_request" => (
            200,
            serde_json::json!({"message": format!("Pull request #{} {}", payload["number"], payload["action"])}),
        ),
        "ping" => (200, serde_json::json!({"message": "pong"})),
        other => (200, serde_json::json!({"ignored": true, "event": other})),
    }
}

fn handwritten_stripe(payload: &Value) -> (u16, Value) {
    match payload["type"].as_str() {
        Some("payment_intent.succeeded") => (
            200,
            serde_json::json!({"received": true, "status": "succeeded",
                "payment_intent": payload["data"]["object"]["id"]}),
        ),
        Some("payment_intent.payment_failed") => (
            200,
            serde_json::json!({"received": true, "status": "failed",
                "payment_intent": payload["data"]["object"]["id"]}),
        ),
        other => (200, serde_json::json!({"received": true, "ignored": other})),
    }
}

const RHAI_GITHUB: &str = r#"
    let ev = headers["x-github-event"];
    if ev == "push" {
        let commits = payload.commits;
        `Received ${commits.len()} commits`
    } else if ev == "pull_request" {
        payload.action
    } else {
        ()
    }
"#;

const RHAI_STRIPE: &str = r#"
    if payload.type == "payment_intent.succeeded" {
        payload.data.object.id
    } else if payload.type == "payment_intent.payment_failed" {
        false
    } else {
        ()
    }
"#;

fn bench(c: &mut Criterion) {
    let push: Value = serde_json::from_str(PUSH).expect("fixture is JSON");
    let stripe: Value = serde_json::from_str(STRIPE).expect("JSON");

    let mut g = c.benchmark_group("github_push");
    let (mut ctx, start, run) = ctx_for(&FLOWS, "github", Some(("X-GitHub-Event", "push")), PUSH);
    g.bench_function("compiled", |b| b.iter(|| black_box(run_compiled(&mut ctx, start, run))));
    g.bench_function("handwritten", |b| b.iter(|| black_box(handwritten_github(black_box("push"), &push))));
    let engine = rhai::Engine::new();
    let ast = engine.compile(RHAI_GITHUB).expect("rhai script compiles");
    let payload_dyn = rhai::serde::to_dynamic(&push).expect("to dynamic").into_shared();
    let mut hdrs = rhai::Map::new();
    hdrs.insert("x-github-event".into(), "push".into());
    let hdrs = rhai::Dynamic::from_map(hdrs).into_shared();
    g.bench_function("rhai", |b| {
        b.iter(|| {
            let mut scope = rhai::Scope::new();
            scope.push_constant_dynamic("payload", payload_dyn.clone());
            scope.push_constant_dynamic("headers", hdrs.clone());
            black_box(engine.eval_ast_with_scope::<rhai::Dynamic>(&mut scope, &ast).expect("rhai runs"))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("stripe_succeeded");
    let (mut ctx, start, run) = ctx_for(&FLOWS, "stripe", None, STRIPE);
    g.bench_function("compiled", |b| b.iter(|| black_box(run_compiled(&mut ctx, start, run))));
    g.bench_function("handwritten", |b| b.iter(|| black_box(handwritten_stripe(&stripe))));
    let ast = engine.compile(RHAI_STRIPE).expect("rhai script compiles");
    let payload_dyn = rhai::serde::to_dynamic(&stripe).expect("to dynamic").into_shared();
    g.bench_function("rhai", |b| {
        b.iter(|| {
            let mut scope = rhai::Scope::new();
            scope.push_constant_dynamic("payload", payload_dyn.clone());
            black_box(engine.eval_ast_with_scope::<rhai::Dynamic>(&mut scope, &ast).expect("rhai runs"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
