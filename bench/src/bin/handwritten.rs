//! The baseline for hookflow's HTTP benchmark: a hand-written axum handler doing the same work as
//! the shipped GitHub flow (HMAC-SHA256 check of the raw body, JSON parse, branch on
//! `X-GitHub-Event`, count commits, JSON answer), written the way a careful engineer would.
//!
//! Usage: `handwritten ADDR SECRET`.

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::OnceLock;

static SECRET: OnceLock<Vec<u8>> = OnceLock::new();

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response()
}

async fn handle(headers: HeaderMap, body: Bytes) -> Response {
    let Some(sig) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|v| hex::decode(v).ok())
    else {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "missing_signature"}),
        );
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(SECRET.get().map_or(&[][..], |s| s)) else {
        return json(StatusCode::INTERNAL_SERVER_ERROR, serde_json::json!({}));
    };
    mac.update(&body);
    if mac.verify_slice(&sig).is_err() {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "invalid_signature"}),
        );
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "malformed_json"}),
        );
    };
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match event {
        "push" => {
            let n = payload["commits"].as_array().map_or(0, Vec::len);
            json(
                StatusCode::OK,
                serde_json::json!({"ok": true, "message": format!("Received {n} commits")}),
            )
        }
        "pull_request" => json(
            StatusCode::OK,
            serde_json::json!({"ok": true, "action": payload["action"]}),
        ),
        _ => json(
            StatusCode::OK,
            serde_json::json!({"ok": true, "ignored": event}),
        ),
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8090".into());
    let secret = args.next().unwrap_or_else(|| "bench-secret".into());
    SECRET.get_or_init(|| secret.into_bytes());
    let app = Router::new().route("/events/webhook/{tenant}/{event_type}", post(handle));
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| panic!("serve: {e}"));
}
