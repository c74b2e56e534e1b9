//! Durable deliveries end to end: the real server on port 0, a real SQLite store in a temporary
//! state directory, hand-written flows in the shape of generated code. Retries then success,
//! dead letters and retry-dead, dedup (sequential and concurrent), 503 when the store cannot be
//! written, back-pressure, flows started by `async` through the store, pruning, and a graceful
//! stop that waits for running work.

#![allow(clippy::unwrap_used)] // a test: a panic with the error is the failure report

use hookflow_runtime::__gen as rt;
use hookflow_runtime::config::{Config, RawConfig};
use hookflow_runtime::server::RunningServer;
use hookflow_runtime::store::sqlite::SqliteStore;
use hookflow_runtime::store::{
    DeliveryDetail, DeliveryId, DeliveryStatus, ListFilter, Store, WorkStatus,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Runs of the work after the answer, by `event.delivery_id` (the flows record them).
static RUNS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
/// Failed attempts so far, by delivery id (`flaky` fails `payload.fail_times` times).
static FAILED: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

fn record(what: &str, ctx: &rt::Ctx) {
    let id = ctx.event.delivery_id.as_str().unwrap_or("").to_string();
    RUNS.lock().unwrap().push((id, what.to_string()));
}

fn runs(id: &str) -> Vec<String> {
    RUNS.lock()
        .unwrap()
        .iter()
        .filter(|(d, _)| d == id)
        .map(|(_, w)| w.clone())
        .collect()
}

fn step(ctx: &mut rt::Ctx, node: rt::NodeIx) {
    ctx.trace.push(rt::TraceStep::new(node, rt::Outcome::Ok));
}

fn ack(ctx: &mut rt::Ctx, then: rt::NodeIx) -> Result<rt::Yield, rt::FlowError> {
    step(ctx, 0);
    Ok(rt::Yield::Respond {
        response: rt::Response {
            status: 202,
            headers: vec![("X-Flow".into(), "ack".into())],
            body: rt::Body::Json(json!({"accepted": ctx.event.delivery_id})),
        },
        then: Some(then),
    })
}

const fn node(id: &'static str, kind: &'static str) -> rt::NodeDef {
    rt::NodeDef {
        id,
        kind,
        line: 1,
        edges: &[],
    }
}

/// `flaky`: answers 202, then `process` fails `payload.fail_times` times before it succeeds.
static FLAKY: rt::FlowDef = rt::FlowDef {
    name: "flaky",
    version: "1",
    file: "tests/flaky.yaml",
    triggers: &[rt::TriggerDef {
        event_type: "flaky",
        target: 0,
    }],
    nodes: &[node("ack", "http_response"), node("process", "script")],
    secrets: &[],
    payload_fields: None,
    run: flaky,
};

fn flaky(ctx: &mut rt::Ctx, start: rt::NodeIx) -> Result<rt::Yield, rt::FlowError> {
    if start == 0 {
        return ack(ctx, 1);
    }
    let id = ctx.event.delivery_id.as_str().unwrap_or("").to_string();
    let want = ctx.event.payload["fail_times"].as_u64().unwrap_or(0);
    let mut failed = FAILED.lock().unwrap();
    let n = failed
        .get_or_insert_with(HashMap::new)
        .entry(id)
        .or_insert(0);
    if *n < want {
        *n += 1;
        let msg = format!("failure {n} of {want}");
        drop(failed);
        return Err(rt::fail(ctx, &FLAKY, 1, rt::EvalError::new(msg)));
    }
    drop(failed);
    step(ctx, 1);
    record("processed", ctx);
    Ok(rt::Yield::Finished)
}

/// `spawner`: answers 202, then starts `child` with the payload (an `async` node).
static SPAWNER: rt::FlowDef = rt::FlowDef {
    name: "spawner",
    version: "1",
    file: "tests/spawner.yaml",
    triggers: &[rt::TriggerDef {
        event_type: "spawn",
        target: 0,
    }],
    nodes: &[node("ack", "http_response"), node("go", "async")],
    secrets: &[],
    payload_fields: None,
    run: |ctx, start| {
        if start == 0 {
            return ack(ctx, 1);
        }
        step(ctx, 1);
        ctx.spawns.push(rt::Spawn {
            flow: "child",
            payload: ctx.event.payload.clone(),
            path: "/go".into(),
        });
        Ok(rt::Yield::Finished)
    },
};

/// `child`: no trigger; records what it inherited.
static CHILD: rt::FlowDef = rt::FlowDef {
    name: "child",
    version: "1",
    file: "tests/child.yaml",
    triggers: &[],
    nodes: &[node("work", "script")],
    secrets: &[],
    payload_fields: None,
    run: |ctx, _| {
        step(ctx, 0);
        let e = &ctx.event;
        let seen = json!({
            "payload": e.payload, "tenant": e.tenant, "path": ctx.path,
            "event": e.headers.get("x-github-event"),
            "signature": e.headers.get("x-hub-signature-256"),
        });
        record(&seen.to_string(), ctx);
        Ok(rt::Yield::Finished)
    },
};

/// `counter`: no work after the answer; the answer says how often the flow ran so far.
static COUNTER: rt::FlowDef = rt::FlowDef {
    name: "counter",
    version: "1",
    file: "tests/counter.yaml",
    triggers: &[rt::TriggerDef {
        event_type: "count",
        target: 0,
    }],
    nodes: &[node("respond", "http_response")],
    secrets: &[],
    payload_fields: None,
    run: |ctx, _| {
        step(ctx, 0);
        record("answered", ctx);
        let id = ctx.event.delivery_id.as_str().unwrap_or("").to_string();
        Ok(rt::Yield::Respond {
            response: rt::Response {
                status: 200,
                headers: vec![],
                body: rt::Body::Json(json!({"runs": runs(&id).len()})),
            },
            then: None,
        })
    },
};

/// `slow`: answers 202, then runs `sleep 0.5` (a real `exec`), then records.
static SLOW: rt::FlowDef = rt::FlowDef {
    name: "slow",
    version: "1",
    file: "tests/slow.yaml",
    triggers: &[rt::TriggerDef {
        event_type: "slow",
        target: 0,
    }],
    nodes: &[
        node("ack", "http_response"),
        node("wait", "exec"),
        node("done", "script"),
    ],
    secrets: &[],
    payload_fields: None,
    run: |ctx, start| match start {
        0 => ack(ctx, 1),
        1 => Ok(rt::Yield::Act {
            node: 1,
            action: rt::Action::Exec(rt::ExecCall {
                command: "sleep".into(),
                args: vec!["0.5".into()],
                env: vec![],
                stdin: None,
                working_dir: None,
                timeout_ms: 10_000,
                allow_failure: false,
            }),
            next: Some(2),
            on_error: None,
        }),
        _ => {
            step(ctx, 2);
            record("slept", ctx);
            Ok(rt::Yield::Finished)
        }
    },
};

/// `broken`: fails before its answer (500 `flow_error`).
static BROKEN: rt::FlowDef = rt::FlowDef {
    name: "broken",
    version: "1",
    file: "tests/broken.yaml",
    triggers: &[rt::TriggerDef {
        event_type: "broken",
        target: 0,
    }],
    nodes: &[node("decide", "script")],
    secrets: &[],
    payload_fields: None,
    run: |ctx, _| {
        Err(rt::fail(
            ctx,
            &BROKEN,
            0,
            rt::EvalError::new("no such field"),
        ))
    },
};

static FLOWS: rt::Registry = rt::Registry {
    flows: &[&BROKEN, &CHILD, &COUNTER, &FLAKY, &SLOW, &SPAWNER],
};

/// A configuration with fast workers and the given extra provider keys, on `state`.
fn config(extra: &str, state: &Path) -> Config {
    config_with("20", extra, state)
}

/// [`config`] with the retry delays (base and max) given.
fn config_with(retry_ms: &str, extra: &str, state: &Path) -> Config {
    let text = format!(
        r#"{{"events-webhook": {{"enabled": true, "public_base_url": "http://127.0.0.1",
            "worker": {{"pool_size": 4, "max_attempts": 4, "retry_base_ms": {retry_ms},
                        "retry_max_ms": {retry_ms}, "poll_interval_ms": 20}} {extra}}}}}"#
    );
    let mut c = RawConfig::from_answers_json(&text)
        .and_then(|r| r.check())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    c.state_dir = Some(state.to_path_buf());
    c
}

async fn start(config: Config) -> RunningServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    RunningServer::start(config, &FLOWS, Some(listener))
        .await
        .expect("server starts")
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn post(
    server: &RunningServer,
    event_type: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> Answer {
    let mut req = reqwest::Client::new()
        .post(format!("{}/events/webhook/acme/{event_type}", server.url()))
        .header("Content-Type", "application/json")
        .timeout(Duration::from_secs(10))
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// Polls `f` every 20 ms until it holds (up to 10 s).
async fn eventually<F: Fn() -> bool>(what: &str, f: F) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// The one stored delivery with this sender's id, once `ready` holds for it.
async fn stored(
    dir: &Path,
    event_id: &str,
    ready: impl Fn(&DeliveryDetail) -> bool,
) -> DeliveryDetail {
    let store = SqliteStore::open(dir).unwrap();
    for _ in 0..500 {
        let found = store
            .list(ListFilter {
                event_id: Some(event_id.to_string()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        if let [one] = found.as_slice() {
            let d = store.get(one.id.clone()).await.unwrap().unwrap();
            if ready(&d) {
                return d;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("delivery {event_id} not stored as expected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_then_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config("", dir.path())).await;
    let a = post(
        &server,
        "flaky",
        &[("X-GitHub-Delivery", "retry-1")],
        json!({"fail_times": 2}),
    )
    .await;
    assert_eq!(a.status, 202);
    assert_eq!(a.body, json!({"accepted": "retry-1"}));
    assert_eq!(a.headers["x-hookflow-delivery"], "retry-1");
    eventually("the third attempt succeeds", || {
        runs("retry-1") == ["processed"]
    })
    .await;
    let d = stored(dir.path(), "retry-1", |d| {
        d.summary.status == DeliveryStatus::Done
    })
    .await;
    assert_eq!(d.work.len(), 1);
    assert_eq!(d.work[0].attempts, 3);
    let results: Vec<Option<&str>> = d.attempts.iter().map(|a| a.result.as_deref()).collect();
    assert_eq!(results, [Some("error"), Some("error"), Some("ok")]);
    assert_eq!(
        d.attempts[0]
            .error
            .as_deref()
            .map(|e| e.contains("failure 1 of 2")),
        Some(true)
    );
    // The path: the answer, then each attempt's steps.
    let path: Vec<(String, Option<u32>)> = d
        .trace
        .iter()
        .map(|t| {
            (
                format!("{}.{}:{}", t.step.flow, t.step.node, t.step.outcome),
                t.attempt,
            )
        })
        .collect();
    assert_eq!(
        path,
        [
            ("flaky.ack:ok".to_string(), None),
            ("flaky.process:failed".to_string(), Some(1)),
            ("flaky.process:failed".to_string(), Some(2)),
            ("flaky.process:ok".to_string(), Some(3)),
        ]
    );
    assert!(d.build_id.starts_with("hookflow "));
    assert_eq!(d.answer.as_ref().map(|a| a.status), Some(202));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_out_of_attempts_is_dead_until_retried() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config("", dir.path())).await;
    let a = post(
        &server,
        "flaky",
        &[("X-GitHub-Delivery", "dead-1")],
        json!({"fail_times": 6}),
    )
    .await;
    assert_eq!(a.status, 202);
    let d = stored(dir.path(), "dead-1", |d| {
        d.summary.status == DeliveryStatus::Dead
    })
    .await;
    assert_eq!(d.work[0].status, WorkStatus::Dead);
    assert_eq!(d.work[0].attempts, 4, "max_attempts");
    assert!(d.work[0]
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("failure 4 of 6")));
    assert!(runs("dead-1").is_empty());
    // Dead work stays dead...
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(runs("dead-1").is_empty());
    // ...until retried: fresh attempts; the 5th and 6th fail, the 7th succeeds.
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        store
            .retry_dead(Some("flaky".into()), hookflow_runtime::store::now_ms())
            .await
            .unwrap(),
        1
    );
    eventually("the retried work succeeds", || {
        runs("dead-1") == ["processed"]
    })
    .await;
    let d = stored(dir.path(), "dead-1", |d| {
        d.summary.status == DeliveryStatus::Done
    })
    .await;
    assert_eq!(d.work[0].attempts, 7);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_delivery_gets_the_first_answer_and_does_not_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config("", dir.path())).await;
    // With work after the answer.
    let first = post(
        &server,
        "flaky",
        &[("X-GitHub-Delivery", "dup-1")],
        json!({"fail_times": 0}),
    )
    .await;
    let again = post(
        &server,
        "flaky",
        &[("X-GitHub-Delivery", "dup-1")],
        json!({"fail_times": 0}),
    )
    .await;
    assert_eq!((first.status, again.status), (202, 202));
    assert_eq!(first.body, again.body);
    assert_eq!(first.headers["x-flow"], again.headers["x-flow"]);
    assert_eq!(again.headers["x-hookflow-delivery"], "dup-1");
    assert!(first.headers.get("x-hookflow-duplicate").is_none());
    assert_eq!(again.headers["x-hookflow-duplicate"], "true");
    eventually("processed", || runs("dup-1") == ["processed"]).await;
    // A sender that repeats with the same id while the first is still running.
    let a = post(
        &server,
        "flaky",
        &[("X-GitHub-Delivery", "dup-1")],
        json!({}),
    )
    .await;
    assert_eq!(a.headers["x-hookflow-duplicate"], "true");

    // Without work: the flow's answer counts its runs, so an identical answer proves it did
    // not run again.
    let one = post(&server, "count", &[("webhook-id", "msg_c1")], json!({})).await;
    let two = post(&server, "count", &[("webhook-id", "msg_c1")], json!({})).await;
    assert_eq!(one.body, json!({"runs": 1}));
    assert_eq!(two.body, json!({"runs": 1}));
    assert_eq!(two.headers["x-hookflow-duplicate"], "true");
    assert_eq!(runs("msg_c1"), ["answered"]);

    // Concurrent repeats of one delivery: one run of the work.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let url = server.url();
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{url}/events/webhook/acme/flaky"))
                .header("X-GitHub-Delivery", "dup-burst")
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    eventually("processed once", || runs("dup-burst") == ["processed"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(runs("dup-burst"), ["processed"]);
    // The same sender id under another tenant is another delivery.
    let other = reqwest::Client::new()
        .post(format!("{}/events/webhook/beta/flaky", server.url()))
        .header("X-GitHub-Delivery", "dup-1")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("x-hookflow-duplicate").is_none());
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_written_answers_503_never_2xx() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(r#", "retry_after_seconds": 7"#, dir.path())).await;
    assert_eq!(
        post(&server, "flaky", &[("X-GitHub-Delivery", "w-0")], json!({}))
            .await
            .status,
        202
    );
    // Every write to `deliveries` fails from now on, inside SQLite, as a full disk or an I/O
    // error would (file permissions do not stop root, which runs these tests in CI containers).
    let other = rusqlite::Connection::open(dir.path().join("hookflow.db")).unwrap();
    other
        .execute_batch(
            "CREATE TRIGGER fail_inserts BEFORE INSERT ON deliveries \
             BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END;",
        )
        .unwrap();
    let a = post(&server, "flaky", &[("X-GitHub-Delivery", "w-1")], json!({})).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.body["error"]["code"], "store_unavailable");
    assert_eq!(a.headers["retry-after"], "7");
    assert!(
        !a.body.to_string().contains("simulated"),
        "5xx bodies are opaque"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        runs("w-1").is_empty(),
        "nothing runs for a delivery that was not stored"
    );
    // The sender retries once the store works again: accepted and processed.
    other.execute_batch("DROP TRIGGER fail_inserts;").unwrap();
    let a = post(&server, "flaky", &[("X-GitHub-Delivery", "w-1")], json!({})).await;
    assert_eq!(a.status, 202);
    assert!(a.headers.get("x-hookflow-duplicate").is_none());
    eventually("processed after the retry", || runs("w-1") == ["processed"]).await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_is_done_even_when_the_caller_leaves_during_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config("", dir.path())).await;
    assert_eq!(
        post(&server, "count", &[], json!({"warm": 1})).await.status,
        200
    );
    // Another connection holds the write lock: the commit waits (busy_timeout)...
    let other = rusqlite::Connection::open(dir.path().join("hookflow.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    // ...and the caller gives up meanwhile.
    let gone = reqwest::Client::new()
        .post(format!("{}/events/webhook/acme/flaky", server.url()))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Delivery", "left-1")
        .timeout(Duration::from_millis(300))
        .body("{}")
        .send()
        .await;
    assert!(gone.is_err(), "the caller timed out: {gone:?}");
    other.execute_batch("COMMIT").unwrap();
    // The commit completed after all, and the work claimed with it still runs.
    eventually("the work ran", || runs("left-1") == ["processed"]).await;
    // The sender's retry is a duplicate.
    let again = post(
        &server,
        "flaky",
        &[("X-GitHub-Delivery", "left-1")],
        json!({}),
    )
    .await;
    assert_eq!(again.headers["x-hookflow-duplicate"], "true");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_much_pending_work_is_503_overloaded() {
    let dir = tempfile::tempdir().unwrap();
    // Work that fails and waits up to a minute before its retry stays pending.
    let server = start(config_with(
        "60000",
        r#", "max_pending_work": 2, "retry_after_seconds": 3"#,
        dir.path(),
    ))
    .await;
    for i in 0..2 {
        let id = format!("bp-{i}");
        let a = post(
            &server,
            "flaky",
            &[("X-GitHub-Delivery", &id)],
            json!({"fail_times": 1000}),
        )
        .await;
        assert_eq!(a.status, 202);
    }
    let a = post(
        &server,
        "flaky",
        &[("X-GitHub-Delivery", "bp-2")],
        json!({"fail_times": 1000}),
    )
    .await;
    assert_eq!(a.status, 503);
    assert_eq!(a.body["error"]["code"], "overloaded");
    assert_eq!(a.headers["retry-after"], "3");
    // Deliveries that add no work are still answered.
    assert_eq!(
        post(&server, "count", &[], json!({"x": 1})).await.status,
        200
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_flows_run_from_the_store_with_the_delivery_they_inherit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config("", dir.path())).await;
    let a = post(
        &server,
        "spawn",
        &[
            ("X-GitHub-Delivery", "sp-1"),
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", "sha256=not-checked-here"),
        ],
        json!({"n": 7}),
    )
    .await;
    assert_eq!(a.status, 202);
    eventually("the child ran", || runs("sp-1").len() == 1).await;
    let seen: Value = serde_json::from_str(&runs("sp-1")[0]).unwrap();
    assert_eq!(
        seen,
        json!({"payload": {"n": 7}, "tenant": "acme", "path": "/go", "event": "push",
               "signature": "[redacted]"})
    );
    let d = stored(dir.path(), "sp-1", |d| {
        d.summary.status == DeliveryStatus::Done
    })
    .await;
    let flows: Vec<&str> = d.work.iter().map(|w| w.flow.as_str()).collect();
    assert_eq!(flows, ["spawner", "child"]);
    let signature = d.headers.iter().find(|(k, _)| k == "x-hub-signature-256");
    assert_eq!(signature.map(|(_, v)| v.as_str()), Some("[redacted]"));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_deliveries_are_pruned_but_not_dead_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(
        r#", "retention": {"max_deliveries": 3, "prune_interval_seconds": 1}"#,
        dir.path(),
    ))
    .await;
    let a = post(
        &server,
        "flaky",
        &[("X-GitHub-Delivery", "keep-dead")],
        json!({"fail_times": 99}),
    )
    .await;
    assert_eq!(a.status, 202);
    stored(dir.path(), "keep-dead", |d| {
        d.summary.status == DeliveryStatus::Dead
    })
    .await;
    for i in 0..6 {
        let id = format!("pr-{i}");
        assert_eq!(
            post(&server, "count", &[("webhook-id", &id)], json!({}))
                .await
                .status,
            200
        );
        // Distinct receive times, so "the newest 3" is well defined.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut left = Vec::new();
    for _ in 0..150 {
        left = store
            .list(ListFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        if left.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut ids: Vec<&str> = left.iter().map(|d| d.event_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["keep-dead", "pr-3", "pr-4", "pr-5"],
        "the 3 newest and the dead one"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_waits_for_running_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config("", dir.path())).await;
    let a = post(
        &server,
        "slow",
        &[("X-GitHub-Delivery", "slow-1")],
        json!({}),
    )
    .await;
    assert_eq!(a.status, 202);
    // Let a worker pick it up (it runs `sleep 0.5`), then stop.
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.shutdown().await.unwrap();
    assert_eq!(
        runs("slow-1"),
        ["slept"],
        "the running item finished before the stop"
    );
    let store = SqliteStore::open(dir.path()).unwrap();
    let found = store
        .list(ListFilter {
            event_id: Some("slow-1".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found[0].status, DeliveryStatus::Done);
    let d = store
        .get(DeliveryId(found[0].id.0.clone()))
        .await
        .unwrap()
        .unwrap();
    assert!(d
        .trace
        .iter()
        .any(|t| t.step.node == "wait" && t.step.outcome == "ok"));
}

#[tokio::test]
async fn one_state_directory_one_server() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(config("", dir.path())).await;
    // Answered: the first server has its store open.
    assert_eq!(post(&first, "count", &[], json!({})).await.status, 200);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = hookflow_runtime::server::run(
        config("", dir.path()),
        &FLOWS,
        Some(listener),
        std::future::ready(()),
    )
    .await;
    let err = second.map(|()| "started").unwrap_err().to_string();
    assert!(
        err.contains("another hookflow serve uses the state directory"),
        "{err}"
    );
    first.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_work_and_failures_keeps_only_work_and_failed_flows() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(r#", "record": "work_and_failures""#, dir.path())).await;
    let first = post(
        &server,
        "count",
        &[("X-GitHub-Delivery", "rec-plain")],
        json!({}),
    )
    .await;
    assert_eq!((first.status, first.body), (200, json!({"runs": 1})));
    // Not recorded, so not deduplicated: the repeat runs the flow again.
    let again = post(
        &server,
        "count",
        &[("X-GitHub-Delivery", "rec-plain")],
        json!({}),
    )
    .await;
    assert_eq!((again.status, again.body), (200, json!({"runs": 2})));
    let work = post(
        &server,
        "flaky",
        &[("X-GitHub-Delivery", "rec-work")],
        json!({"fail_times": 0}),
    )
    .await;
    assert_eq!(work.status, 202);
    let failed = post(
        &server,
        "broken",
        &[("X-GitHub-Delivery", "rec-failed")],
        json!({}),
    )
    .await;
    assert_eq!(failed.status, 500);
    eventually("the work ran", || runs("rec-work") == ["processed"]).await;
    server.shutdown().await.unwrap();

    let store = SqliteStore::open(dir.path()).unwrap();
    let all = store
        .list(ListFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut kept: Vec<&str> = all.iter().map(|d| d.event_id.as_str()).collect();
    kept.sort_unstable();
    assert_eq!(kept, ["rec-failed", "rec-work"]);
    let failed = all.iter().find(|d| d.event_id == "rec-failed").unwrap();
    let failed = store.get(failed.id.clone()).await.unwrap().unwrap();
    assert_eq!(failed.trace.len(), 1);
    assert_eq!(failed.trace[0].step.error.as_deref(), Some("no such field"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_after_a_restart_is_still_answered_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config("", dir.path())).await;
    let first = post(
        &server,
        "count",
        &[("webhook-id", "msg_restart")],
        json!({}),
    )
    .await;
    assert_eq!(first.body, json!({"runs": 1}));
    server.shutdown().await.unwrap();
    // A new process knows the stored keys from the store itself (the request path only asks
    // the store about keys it may have seen).
    let server = start(config("", dir.path())).await;
    let again = post(
        &server,
        "count",
        &[("webhook-id", "msg_restart")],
        json!({}),
    )
    .await;
    assert_eq!(again.body, json!({"runs": 1}));
    assert_eq!(again.headers["x-hookflow-duplicate"], "true");
    assert_eq!(runs("msg_restart"), ["answered"]);
    server.shutdown().await.unwrap();
}
