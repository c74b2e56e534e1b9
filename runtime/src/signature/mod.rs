//! Webhook signature verification: every sender's scheme, on the raw body bytes.
//!
//! The server and the `hookflow signature` command share this one code path: a
//! [`SignatureSpec`] (the `signatures.<event_type>` entry of answers.json) is turned once, at
//! start, into a [`Verifier`], which then checks each [`SignedRequest`].
//!
//! API contract (used by the server and config code):
//! - `SignatureSpec`: serde form of one entry, `deny_unknown_fields`.
//! - `Verifier::from_spec(&SignatureSpec) -> Result<Verifier, SpecError>` validates (unknown
//!   algorithm, missing secret or header, malformed `whsec_` secret or key) and resolves secret
//!   references (`env:NAME`, `file:PATH`).
//! - `Verifier::generic(header, secret)`: the seed's `secret_header` + `secret_key` check.
//! - `Verifier::verify(&SignedRequest) -> Result<(), VerifyError>`; `VerifyError::code()` is
//!   the stable HTTP error code, `Display` is the message safe to return and log.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One `signatures.<event_type>` entry of answers.json, as written by the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureSpec {
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_seconds: Option<u64>,
}

/// A secret as written in configuration: inline, `env:NAME` or `file:PATH`.
/// Its `Debug` never shows an inline value.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(pub String);

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.starts_with("env:") || self.0.starts_with("file:") {
            write!(f, "SecretRef({:?})", self.0)
        } else {
            f.write_str("SecretRef(<redacted>)")
        }
    }
}

/// What a verifier looks at.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// `public_base_url` + the request path and query, for senders that sign the URL.
    pub url: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    /// Unix seconds, for timestamp tolerance.
    pub now: u64,
}

/// Why a delivery's signature was rejected; each maps to a seed troubleshooting case.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error("signature header `{header}` is missing (check the header name configured for this event type)")]
    Missing { header: String },
    #[error("signature header `{header}` is malformed: {detail}")]
    Malformed { header: String, detail: String },
    #[error("signature does not match the body (check the secret, and that the body is sent raw)")]
    Mismatch,
    #[error("signature timestamp is outside the {tolerance_seconds} s tolerance")]
    TimestampOutOfTolerance { tolerance_seconds: u64 },
}

impl VerifyError {
    /// The stable error code of the HTTP answer.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Missing { .. } => "missing_signature",
            VerifyError::Malformed { .. } | VerifyError::Mismatch => "invalid_signature",
            VerifyError::TimestampOutOfTolerance { .. } => "timestamp_out_of_tolerance",
        }
    }

    /// A short machine-friendly reason for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::Missing { .. } => "header_missing",
            VerifyError::Malformed { .. } => "header_malformed",
            VerifyError::Mismatch => "mismatch",
            VerifyError::TimestampOutOfTolerance { .. } => "timestamp",
        }
    }
}

/// A configuration mistake in a [`SignatureSpec`]; `field` is the key at fault
/// (`algorithm`, `secret`, `header`, ...), so config errors can name `signatures.github.secret`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: &'static str,
    pub message: String,
}

/// A checked, ready-to-use signature check (secrets resolved, keys parsed).
#[derive(Clone)]
pub struct Verifier {
    algorithm: String,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Validates a spec and resolves its secrets. (Placeholder: being implemented.)
    pub fn from_spec(spec: &SignatureSpec) -> Result<Verifier, SpecError> {
        Err(SpecError {
            field: "algorithm",
            message: format!("unknown algorithm `{}`", spec.algorithm),
        })
    }

    /// The seed's generic check: HMAC-SHA256 of the raw body, hex, with or without `sha256=`.
    pub fn generic(_header: &str, _secret: &SecretRef) -> Result<Verifier, SpecError> {
        Err(SpecError {
            field: "secret_key",
            message: "not implemented yet".into(),
        })
    }

    /// The algorithm name, for logs and metrics.
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// Checks one request. (Placeholder: being implemented.)
    pub fn verify(&self, _req: &SignedRequest<'_>) -> Result<(), VerifyError> {
        Err(VerifyError::Mismatch)
    }
}
