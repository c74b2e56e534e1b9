//! The admin endpoint: an optional second listener, on loopback only, for `hookflow reload` and
//! for scraping metrics privately.
//!
//! - `POST /reload`: [`Live::reload_and_log`] (what SIGHUP does), answering what changed or why
//!   the file was refused (422 `invalid_configuration`; the running configuration stays).
//! - `GET /metrics`: the same text as the public `/metrics`, without `metrics_allow_ips`.
//!
//! It has no authentication, so it refuses to listen anywhere but a loopback address: anyone who
//! can reach it can make the server re-read its configuration. Off unless `--admin-listen` (or
//! `HOOKFLOW_ADMIN_LISTEN`) is given.

use crate::__gen::Registry;
use crate::reload::{Live, ReloadError};
use crate::server::error::error_body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::time::Duration;

/// Parses an admin address and insists on loopback.
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .parse()
        .map_err(|_| format!("`{s}` is not an address like 127.0.0.1:9090 or [::1]:9090"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "`{s}` is not a loopback address; the admin endpoint has no authentication, so it listens on 127.0.0.1 or [::1] only (reach it over SSH or from the same host/container)"
        ));
    }
    Ok(addr)
}

#[derive(Clone)]
struct AdminState {
    live: Live,
    flows: &'static Registry,
}

/// The admin routes.
pub fn router(live: Live, flows: &'static Registry) -> Router {
    Router::new()
        .route("/reload", post(reload))
        .route("/metrics", get(metrics))
        .with_state(AdminState { live, flows })
}

/// Serves the admin routes on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, live: Live, flows: &'static Registry) {
    if let Err(e) = axum::serve(listener, router(live, flows)).await {
        tracing::error!(error = %e, "the admin endpoint stopped");
    }
}

async fn reload(State(state): State<AdminState>) -> Response {
    let AdminState { live, flows } = state;
    let result = tokio::task::spawn_blocking(move || live.reload_and_log(flows, "admin")).await;
    let (status, body) = match result {
        Ok(Ok(r)) => (
            StatusCode::OK,
            serde_json::json!({"reloaded": true, "changed": r.changed, "warnings": r.warnings})
                .to_string(),
        ),
        Ok(Err(e @ ReloadError::Config(_))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            error_body(
                "invalid_configuration",
                &format!("{e}; the previous configuration stays in use"),
            ),
        ),
        Ok(Err(e @ ReloadError::NoSource)) => (
            StatusCode::CONFLICT,
            error_body("no_source", &e.to_string()),
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            error_body("internal", "the reload task failed; see the log"),
        ),
    };
    json(status, body)
}

async fn metrics() -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        )],
        crate::metrics::render(),
    )
        .into_response()
}

fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// What `hookflow reload` got back.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// The server reloaded; the answer's JSON.
    Reloaded(serde_json::Value),
    /// The server refused the file (or has nothing to re-read); the error message.
    Refused(String),
}

/// `hookflow reload`: asks the server listening on the admin address to reload.
pub async fn request_reload(addr: SocketAddr) -> Result<ReloadOutcome, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let resp = client
        .post(format!("http://{addr}/reload"))
        .send()
        .await
        .map_err(|e| {
            format!("cannot reach the admin endpoint at {addr}: {e} (is `hookflow serve --admin-listen {addr}` running? SIGHUP works too: kill -HUP <pid>)")
        })?;
    let ok = resp.status().is_success();
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| format!("the admin endpoint answered something that is not JSON: {e}"))?;
    if ok {
        Ok(ReloadOutcome::Reloaded(body))
    } else {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("the reload was refused")
            .to_string();
        Ok(ReloadOutcome::Refused(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_listens_on_loopback_only() {
        assert!(parse_addr("127.0.0.1:9090").is_ok());
        assert!(parse_addr("[::1]:0").is_ok());
        let e = parse_addr("0.0.0.0:9090").err().unwrap_or_default();
        assert!(e.contains("is not a loopback address"), "{e}");
        let e = parse_addr("localhost").err().unwrap_or_default();
        assert!(e.contains("is not an address like"), "{e}");
    }
}
