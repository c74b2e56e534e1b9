//! The crash test: nothing acknowledged is lost when the process is killed.
//!
//! The real binary serves `flows/crash.yaml` (answer 202, then an `http_request` to a server this
//! test runs). The test sends N deliveries, each with its own `X-GitHub-Delivery`, SIGKILLs the
//! process mid-way, restarts it on the same state directory, re-sends what was not acknowledged
//! (as a sender would), and checks that:
//! - every acknowledged delivery's call reached the test's server at least once;
//! - a delivery was called more than once only if its call was in flight at the kill: the
//!   repeats are at most the worker pool's size, and each repeated one was first called before
//!   the kill;
//! - every call of a delivery carried the same `Idempotency-Key` (`{delivery id}:call`).

#![allow(clippy::unwrap_used)] // a test: a panic with the error is the failure report

mod common;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use common::{write_bundle, Serve};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const N: usize = 600;
const POOL: usize = 4;
const KILL_AFTER_ACKS: usize = 250;
const SENDERS: usize = 16;

/// One call the downstream server received: (delivery, idempotency key, when).
type Call = (String, String, Instant);

async fn downstream() -> (String, Arc<Mutex<Vec<Call>>>) {
    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(calls): State<Arc<Mutex<Vec<Call>>>>,
                 headers: HeaderMap,
                 Json(body): Json<Value>| async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let id = body["delivery"].as_str().unwrap_or("").to_string();
                    calls.lock().unwrap().push((id, key, Instant::now()));
                    // Long enough for calls to be in flight when the kill comes.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    "ok"
                },
            ),
        )
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

/// Sends delivery `i`; true when it was acknowledged (2xx).
async fn send(client: &reqwest::Client, url: &str, i: usize, callback: &str) -> bool {
    let r = client
        .post(format!("{url}/events/webhook/acme/crash"))
        .header("X-GitHub-Delivery", format!("c-{i}"))
        .header("Content-Type", "application/json")
        .body(json!({"callback": callback, "n": i}).to_string())
        .send()
        .await;
    matches!(r, Ok(resp) if resp.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_way_loses_no_acknowledged_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    write_bundle(
        &bundle,
        &format!(
            r#", "worker": {{"pool_size": {POOL}, "poll_interval_ms": 50, "retry_base_ms": 50,
                 "retry_max_ms": 200}}"#
        ),
    );
    let (callback, calls) = downstream().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    // First run: send until KILL_AFTER_ACKS are acknowledged, then SIGKILL.
    let serve = Serve::start(&bundle).await;
    let url = serve.url.clone();
    let acked: Arc<Mutex<Vec<bool>>> = Arc::new(Mutex::new(vec![false; N]));
    let next = Arc::new(AtomicUsize::new(0));
    let acks = Arc::new(AtomicUsize::new(0));
    let child = Arc::new(tokio::sync::Mutex::new(serve.child));
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (client, url, callback) = (client.clone(), url.clone(), callback.clone());
        let (acked, next, acks, child, killed_at) = (
            acked.clone(),
            next.clone(),
            acks.clone(),
            child.clone(),
            killed_at.clone(),
        );
        senders.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= N {
                    return;
                }
                if send(&client, &url, i, &callback).await {
                    acked.lock().unwrap()[i] = true;
                    if acks.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER_ACKS {
                        let mut c = child.lock().await;
                        c.start_kill().unwrap(); // SIGKILL
                        *killed_at.lock().unwrap() = Some(Instant::now());
                        let _ = c.wait().await;
                    }
                }
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    killed_at.lock().unwrap().expect("the process was killed");
    let acked_before_kill = acked.lock().unwrap().iter().filter(|a| **a).count();
    let called_before_restart = calls.lock().unwrap().len();
    eprintln!(
        "first run: {acked_before_kill} of {N} acknowledged, {called_before_restart} calls made, then SIGKILL"
    );
    assert!(acked_before_kill >= KILL_AFTER_ACKS);
    assert!(
        called_before_restart < acked_before_kill,
        "the kill must come while acknowledged work is still waiting"
    );

    // Second run on the same state directory; the sender retries what was not acknowledged.
    // A call that reached the test's server before this instant was sent by the killed process
    // (its request may arrive a moment after the kill, but never after the restart).
    let restarted_at = Instant::now();
    let serve = Serve::start(&bundle).await;
    for round in 0..5 {
        let missing: Vec<usize> = (0..N).filter(|i| !acked.lock().unwrap()[*i]).collect();
        if missing.is_empty() {
            break;
        }
        eprintln!("retry round {round}: {} unacknowledged", missing.len());
        for i in missing {
            if send(&client, &serve.url, i, &callback).await {
                acked.lock().unwrap()[i] = true;
            }
        }
    }
    assert!(
        acked.lock().unwrap().iter().all(|a| *a),
        "every delivery acknowledged in the end"
    );

    // Every acknowledged delivery is processed.
    let deadline = Instant::now() + Duration::from_secs(90);
    let counts = loop {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for (id, _, _) in calls.lock().unwrap().iter() {
            *counts.entry(id.clone()).or_default() += 1;
        }
        if counts.len() == N || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let missing: Vec<String> = (0..N)
        .map(|i| format!("c-{i}"))
        .filter(|id| !counts.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but never processed: {missing:?}"
    );

    // Repeats: only work in flight at the kill, at most the pool's size, same key each time.
    let calls = calls.lock().unwrap().clone();
    let repeated: Vec<&String> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    eprintln!(
        "{} calls for {N} deliveries; repeated after the kill: {repeated:?}",
        calls.len()
    );
    assert!(
        repeated.len() <= POOL,
        "{} deliveries ran twice, more than the pool of {POOL}: {repeated:?}",
        repeated.len()
    );
    for id in &repeated {
        assert!(counts[*id] == 2, "{id} ran {} times", counts[*id]);
        let first = calls.iter().find(|(d, _, _)| d == *id).unwrap();
        assert!(
            first.2 < restarted_at,
            "{id} was repeated but its first call was not made by the killed process"
        );
    }
    for (id, key, _) in &calls {
        assert_eq!(
            key,
            &format!("{id}:call"),
            "every call of {id} carries its key"
        );
    }
    if !repeated.is_empty() {
        assert!(serve.log_contains("work left running by a previous process"));
    }
    serve.stop().await;
}
