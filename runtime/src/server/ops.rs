//! Operator endpoints on the main listener: `GET /metrics` (Prometheus), guarded by
//! `metrics_allow_ips` when it is set.

use super::error::ApiError;
use super::AppState;
use crate::allow::PeerAddr;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `GET /metrics`: every metric in the OpenMetrics text format (see [`crate::metrics`]).
pub(super) async fn metrics(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let config = state.live.get();
    let peer = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
    let client = config.access.client_ip(peer, req.headers());
    if !config.access.admits_metrics(client) {
        tracing::warn!(client_ip = ?client, "GET /metrics refused (metrics_allow_ips)");
        return ApiError::IpNotAllowed { client }.into_response();
    }
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
