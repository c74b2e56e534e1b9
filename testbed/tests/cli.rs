//! `hookflow deliveries` as a real process beside a real `serve` on the same state directory:
//! list, show (by hookflow's id and by the sender's), retry-dead, replay; and the errors.
//! The flow (`flows/gate.yaml`) appends the delivery id to a file after its answer, but fails
//! until a flag file exists.

#![allow(clippy::unwrap_used)] // a test: a panic with the error is the failure report

mod common;

use common::{deliveries, state_of, write_bundle, Serve};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Polls `deliveries list --json` until a delivery with the sender id `id` is in `status`.
async fn until_status(state: &Path, id: &str, status: &str) -> Value {
    for _ in 0..300 {
        let (code, out, err) = deliveries(state, &["list", "--json"]);
        assert_eq!(code, 0, "{err}");
        let found = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["event_id"] == id && v["status"] == status);
        if let Some(v) = found {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} never became {status}");
}

async fn until_file_has(path: &Path, line: &str) {
    for _ in 0..300 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(|l| l == line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never got the line {line}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_show_retry_dead_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    write_bundle(
        &bundle,
        r#", "worker": {"max_attempts": 2, "retry_base_ms": 10, "retry_max_ms": 20,
             "poll_interval_ms": 50}"#,
    );
    let state = state_of(&bundle);
    let flag = dir.path().join("flag");
    let out = dir.path().join("out.txt");
    let serve = Serve::start(&bundle).await;

    let body = json!({"flag": flag, "out": out}).to_string();
    let resp = reqwest::Client::new()
        .post(format!("{}/events/webhook/acme/gate", serve.url))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Delivery", "gate-1")
        .header("Authorization", "Bearer do-not-store")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);

    // Both attempts fail: dead.
    let row = until_status(&state, "gate-1", "dead").await;
    let id = row["id"].as_str().unwrap().to_string();
    assert_eq!(row["flow"], "gate");
    assert_eq!(row["answer_status"], 202);

    // The table, filtered.
    let (code, table, _) = deliveries(
        &state,
        &["list", "--status", "dead", "--event-type", "gate"],
    );
    assert_eq!(code, 0);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains(&id) && table.contains("gate-1") && table.contains("dead"),
        "{table}"
    );
    let (_, none, _) = deliveries(&state, &["list", "--event-type", "other"]);
    assert_eq!(none, "no deliveries\n");

    // `show` by the sender's id: request (secrets redacted), answer, attempts with errors, path.
    let (code, text, err) = deliveries(&state, &["show", "gate-1"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        id.as_str(),
        "sender id   gate-1",
        "authorization: [redacted]",
        "answer 202",
        "attempt 1",
        "attempt 2",
        "exec_exit",
        "gate.ack  ok",
        "gate.append  failed",
        "hookflow 0.1.0",
    ] {
        assert!(text.contains(want), "show lacks {want:?}:\n{text}");
    }
    assert!(!text.contains("do-not-store"), "{text}");
    let (_, json_text, _) = deliveries(&state, &["show", &id, "--json"]);
    let detail: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(detail["body"]["flag"], json!(flag));
    assert_eq!(detail["work"][0]["status"], "dead");
    assert_eq!(
        detail["work"][0]["attempt_log"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(detail["work"][0]["last_error"]
        .as_str()
        .is_some_and(|e| e.contains("exec_exit")));

    // retry-dead, once the flag exists: the running server's workers run it.
    std::fs::write(&flag, "").unwrap();
    let (code, said, _) = deliveries(&state, &["retry-dead", "--event-type", "gate"]);
    assert_eq!(code, 0);
    assert!(said.starts_with("1 dead work item(s)"), "{said}");
    until_file_has(&out, "gate-1").await;
    until_status(&state, "gate-1", "done").await;

    // replay: a new delivery linked to the original; the workers run the flow again.
    let (code, said, err) = deliveries(&state, &["replay", "gate-1"]);
    assert_eq!(code, 0, "{err}");
    let new_id = said.lines().next().unwrap().to_string();
    assert_eq!(new_id.len(), 32, "{said}");
    until_file_has(&out, &new_id).await;
    let (_, json_text, _) = deliveries(&state, &["show", &new_id, "--json"]);
    let replay: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(replay["replay_of"], json!(id));
    assert_eq!(replay["tenant"], "acme");
    assert_eq!(replay["body"]["out"], json!(out));
    let (_, listed, _) = deliveries(&state, &["list", "--event-type", "gate", "--json"]);
    assert_eq!(listed.lines().count(), 2);

    // Mistakes.
    let (code, _, err) = deliveries(&state, &["show", "nope"]);
    assert_eq!((code, err.trim()), (1, "error: no delivery with id `nope`"));
    let empty = dir.path().join("empty");
    let (code, _, err) = deliveries(&empty, &["list"]);
    assert_eq!(code, 2);
    assert!(err.contains("no delivery store in"), "{err}");
    serve.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_the_same_state_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    write_bundle(&bundle, "");
    let serve = Serve::start(&bundle).await;
    let out = std::process::Command::new(common::BIN)
        .arg("serve")
        .arg(&bundle)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another hookflow serve uses the state directory"),
        "{err}"
    );
    serve.stop().await;
}
