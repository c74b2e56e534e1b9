//! The HTTP errors of the webhook endpoint: each has a stable code and status, and answers
//! `{"error": {"code": "...", "message": "..."}}`. 5xx messages are opaque (details go to the log
//! once, with the delivery id).

use crate::signature::VerifyError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Why a request was not handled by a flow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("use POST to deliver a webhook")]
    MethodNotAllowed,
    #[error("the events-webhook provider is disabled (`enabled: false` in the configuration)")]
    ProviderDisabled,
    #[error("unknown tenant `{0}`")]
    UnknownTenant(String),
    #[error("no flow handles the event type `{0}` (check the URL: /events/webhook/{{tenant}}/{{event_type}})")]
    NoFlow(String),
    #[error("not found; webhooks are delivered to POST /events/webhook/{{tenant}}/{{event_type}}")]
    NotFound,
    #[error("the request body is larger than the {limit} bytes allowed (max_body_bytes)")]
    BodyTooLarge { limit: usize },
    #[error("the request headers are larger than the {limit} bytes allowed")]
    HeadersTooLarge { limit: usize },
    #[error("the request took too long (body read or processing)")]
    RequestTimeout,
    #[error("the request body could not be read")]
    BodyRead,
    #[error(transparent)]
    Signature(VerifyError),
    #[error("no signature check is configured for the event type `{0}` while signatures are required (`require_signature: true`); add `signatures.{0}` or `tenants.<tenant>.signatures.{0}`")]
    SignatureRequired(String),
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the flow failed; the server log has the details for delivery {delivery_id}")]
    Flow { delivery_id: String },
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("{} is not allowed to deliver to this URL (allow_ips)", client.map_or_else(|| "the client address (it could not be determined)".to_string(), |ip| format!("the client address {ip}")))]
    IpNotAllowed { client: Option<std::net::IpAddr> },
}

impl ApiError {
    /// The stable code of the answer (documented in docs/configuration.md).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::ProviderDisabled => "provider_disabled",
            ApiError::UnknownTenant(_) => "unknown_tenant",
            ApiError::NoFlow(_) => "no_flow",
            ApiError::NotFound => "not_found",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::BodyRead => "body_read_error",
            ApiError::Signature(e) => e.code(),
            ApiError::SignatureRequired(_) => "missing_signature",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::Flow { .. } => "flow_error",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::IpNotAllowed { .. } => "ip_not_allowed",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::ProviderDisabled
            | ApiError::UnknownTenant(_)
            | ApiError::NoFlow(_)
            | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::BodyRead | ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::Signature(_) | ApiError::SignatureRequired(_) => StatusCode::UNAUTHORIZED,
            ApiError::Flow { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::IpNotAllowed { .. } => StatusCode::FORBIDDEN,
        }
    }
}

/// The JSON error body.
pub fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({"error": {"code": code, "message": message}}).to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = error_body(self.code(), &self.to_string());
        let mut resp = (self.status(), body).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self == ApiError::MethodNotAllowed {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        resp
    }
}
