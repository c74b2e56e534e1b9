//! Webhook signature verification: every sender's scheme, on the raw body bytes.
//!
//! The server and the `hookflow signature` command share this one code path: a
//! [`SignatureSpec`] (the `signatures.<event_type>` entry of answers.json) is turned once, at
//! start, into a [`Verifier`], which then checks each [`SignedRequest`]. [`Signer`] is the
//! sender's side of the same schemes (for `hookflow signature sign`, `hookflow send` and tests).
//!
//! API contract (used by the server and config code):
//! - `SignatureSpec`: serde form of one entry, `deny_unknown_fields`.
//! - `Verifier::from_spec(&SignatureSpec) -> Result<Verifier, SpecError>` validates (unknown
//!   algorithm, missing secret or header, malformed `whsec_` secret or key) and resolves secret
//!   references (`env:NAME`, `file:PATH`).
//! - `Verifier::generic(header, secret)`: the seed's `secret_header` + `secret_key` check.
//! - `Verifier::verify(&SignedRequest) -> Result<(), VerifyError>`; `VerifyError::code()` is
//!   the stable HTTP error code, `Display` is the message safe to return and log.
//!
//! Each scheme lives in its own module; see `docs/signatures.md` for the table of senders.

use serde::{Deserialize, Serialize};
use std::fmt;

pub mod cli;
mod discord;
mod hmac;
mod hubspot;
mod linear;
mod mailgun;
mod paddle;
mod secret;
mod sendgrid;
mod sign;
mod slack;
mod square;
mod standard_webhooks;
mod stripe;
mod timestamp;
mod twilio;
mod twitch;

pub use sign::{SignError, SignInput, Signed, Signer};

use secret::Secret;
use timestamp::Window;

/// Every accepted `algorithm` value, in documentation order.
pub const ALGORITHMS: &[&str] = &[
    "sha256",
    "sha1",
    "sha512",
    "stripe",
    "standard-webhooks",
    "svix",
    "shopify",
    "slack",
    "token",
    "twilio",
    "discord",
    "paddle",
    "linear",
    "square",
    "zoom",
    "twitch",
    "hubspot-v3",
    "mailgun",
    "sendgrid",
];

/// One `signatures.<event_type>` entry of answers.json, as written by the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureSpec {
    /// One of [`ALGORITHMS`].
    pub algorithm: String,
    /// The signature header; defaults to the sender's standard header (see docs/signatures.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRef>,
    /// More secrets, for rotation: a delivery is valid if any of them matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    /// `hex` (default) or `base64`; only for `sha256`/`sha1`/`sha512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Exact prefix of the header value (e.g. `sha256=`); only for `sha256`/`sha1`/`sha512`.
    /// When absent, the conventional `<algorithm>=` prefix is optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Replay window in seconds, replacing the sender's default; `0` turns the check off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_seconds: Option<u64>,
}

impl SignatureSpec {
    /// A spec with just an algorithm and one secret (CLI and tests).
    pub fn new(algorithm: &str, secret: &str) -> SignatureSpec {
        SignatureSpec {
            algorithm: algorithm.to_string(),
            header: None,
            secret: Some(SecretRef(secret.to_string())),
            secrets: Vec::new(),
            encoding: None,
            prefix: None,
            tolerance_seconds: None,
        }
    }

    /// Every configured secret reference: `secret` first, then `secrets`.
    pub fn secret_refs(&self) -> impl Iterator<Item = &SecretRef> {
        self.secret.iter().chain(self.secrets.iter())
    }

    /// Whether any secret is given inline (so a bundle writer knows it holds a secret value).
    pub fn has_inline_secret(&self) -> bool {
        self.secret_refs().any(|s| !s.is_reference())
    }
}

/// A secret as written in configuration: inline, `env:NAME` or `file:PATH`.
/// Its `Debug` never shows an inline value.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(pub String);

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_reference() {
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

impl SpecError {
    fn new(field: &'static str, message: impl Into<String>) -> SpecError {
        SpecError {
            field,
            message: message.into(),
        }
    }
}

/// How the generic HMAC schemes encode the MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Hex,
    Base64,
}

/// The scheme behind an `algorithm` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Hmac(hmac::Digest),
    Stripe,
    StandardWebhooks { svix: bool },
    Shopify,
    Slack,
    Token,
    Twilio,
    Discord,
    Paddle,
    Linear,
    Square,
    Zoom,
    Twitch,
    HubspotV3,
    Mailgun,
    Sendgrid,
}

impl Scheme {
    fn parse(name: &str) -> Option<Scheme> {
        use hmac::Digest::*;
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "sha256" | "hmac-sha256" => Scheme::Hmac(Sha256),
            "sha1" | "hmac-sha1" => Scheme::Hmac(Sha1),
            "sha512" | "hmac-sha512" => Scheme::Hmac(Sha512),
            "stripe" => Scheme::Stripe,
            "standard-webhooks" | "standard_webhooks" => Scheme::StandardWebhooks { svix: false },
            "svix" => Scheme::StandardWebhooks { svix: true },
            "shopify" => Scheme::Shopify,
            "slack" => Scheme::Slack,
            "token" => Scheme::Token,
            "twilio" => Scheme::Twilio,
            "discord" => Scheme::Discord,
            "paddle" => Scheme::Paddle,
            "linear" => Scheme::Linear,
            "square" => Scheme::Square,
            "zoom" => Scheme::Zoom,
            "twitch" => Scheme::Twitch,
            "hubspot-v3" | "hubspot" => Scheme::HubspotV3,
            "mailgun" => Scheme::Mailgun,
            "sendgrid" => Scheme::Sendgrid,
            _ => return None,
        })
    }

    /// The sender's standard signature header (`None`: the user must name one).
    fn default_header(self) -> Option<&'static str> {
        Some(match self {
            Scheme::Hmac(hmac::Digest::Sha256) => "X-Hub-Signature-256",
            Scheme::Hmac(hmac::Digest::Sha1) => "X-Hub-Signature",
            Scheme::Hmac(hmac::Digest::Sha512) | Scheme::Token => return None,
            Scheme::Stripe => stripe::HEADER,
            Scheme::StandardWebhooks { svix: false } => standard_webhooks::SIGNATURE,
            Scheme::StandardWebhooks { svix: true } => standard_webhooks::SVIX_SIGNATURE,
            Scheme::Shopify => "X-Shopify-Hmac-Sha256",
            Scheme::Slack => slack::SLACK_SIGNATURE,
            Scheme::Twilio => twilio::HEADER,
            Scheme::Discord => discord::SIGNATURE,
            Scheme::Paddle => paddle::HEADER,
            Scheme::Linear => linear::HEADER,
            Scheme::Square => square::HEADER,
            Scheme::Zoom => slack::ZOOM_SIGNATURE,
            Scheme::Twitch => twitch::SIGNATURE,
            Scheme::HubspotV3 => hubspot::SIGNATURE,
            Scheme::Mailgun => mailgun::NO_HEADER,
            Scheme::Sendgrid => sendgrid::SIGNATURE,
        })
    }

    /// The sender's replay window (see docs/signatures.md for the source of each).
    fn default_window(self) -> Window {
        match self {
            Scheme::Hmac(_) | Scheme::Shopify | Scheme::Token | Scheme::Twilio | Scheme::Square => {
                Window::NONE
            }
            Scheme::Stripe => Window::past(300),
            Scheme::StandardWebhooks { .. } | Scheme::Slack => Window::both(300),
            Scheme::Paddle => Window::past(5),
            Scheme::Linear => Window::both(60),
            Scheme::Twitch => Window::past(600),
            Scheme::HubspotV3 => Window::past(300),
            // These senders sign a timestamp but publish no window: hookflow uses ±300 s.
            Scheme::Discord | Scheme::Zoom | Scheme::Mailgun | Scheme::Sendgrid => {
                Window::both(300)
            }
        }
    }
}

/// The parts of a spec every scheme needs, validated; shared by [`Verifier`] and [`Signer`].
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub(crate) algorithm: String,
    pub(crate) scheme: Scheme,
    pub(crate) header: String,
    pub(crate) encoding: Encoding,
    pub(crate) prefix: Option<String>,
    pub(crate) window: Window,
    pub(crate) secrets: Vec<Secret>,
}

impl Checked {
    fn from_spec(spec: &SignatureSpec) -> Result<Checked, SpecError> {
        let scheme = Scheme::parse(&spec.algorithm).ok_or_else(|| {
            SpecError::new(
                "algorithm",
                format!(
                    "unknown algorithm `{}` (valid: {})",
                    spec.algorithm,
                    ALGORITHMS.join(", ")
                ),
            )
        })?;
        let generic = matches!(scheme, Scheme::Hmac(_));
        let header = match (&spec.header, scheme.default_header()) {
            (Some(h), _) if scheme == Scheme::Mailgun => {
                return Err(SpecError::new(
                    "header",
                    format!("mailgun signs inside the body; remove `header` (got `{h}`)"),
                ))
            }
            (Some(h), _) => {
                if h.trim().is_empty() || http::HeaderName::from_bytes(h.trim().as_bytes()).is_err()
                {
                    return Err(SpecError::new(
                        "header",
                        format!("`{h}` is not a valid HTTP header name"),
                    ));
                }
                h.trim().to_string()
            }
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                return Err(SpecError::new(
                    "header",
                    format!(
                    "algorithm `{}` needs `header` (the header the sender puts the signature in)",
                    spec.algorithm
                ),
                ))
            }
        };
        let encoding = match spec.encoding.as_deref() {
            _ if !generic && spec.encoding.is_some() => {
                return Err(SpecError::new(
                    "encoding",
                    format!(
                    "`encoding` only applies to sha256, sha1 and sha512; `{}` has a fixed format",
                    spec.algorithm
                ),
                ))
            }
            None => Encoding::Hex,
            Some(e) => match e.to_ascii_lowercase().as_str() {
                "hex" => Encoding::Hex,
                "base64" => Encoding::Base64,
                _ => {
                    return Err(SpecError::new(
                        "encoding",
                        format!("unknown encoding `{e}` (valid: hex, base64)"),
                    ))
                }
            },
        };
        if !generic && spec.prefix.is_some() {
            return Err(SpecError::new(
                "prefix",
                format!(
                    "`prefix` only applies to sha256, sha1 and sha512; `{}` has a fixed format",
                    spec.algorithm
                ),
            ));
        }
        let mut secrets = Vec::new();
        if let Some(s) = &spec.secret {
            secrets.push(secret::resolve(s, "secret")?);
        }
        for s in &spec.secrets {
            secrets.push(secret::resolve(s, "secrets")?);
        }
        if secrets.is_empty() {
            return Err(SpecError::new(
                "secret",
                format!(
                    "algorithm `{}` needs `secret` (or `secrets`)",
                    spec.algorithm
                ),
            ));
        }
        // Shopify is the generic check with a fixed format: base64, no prefix.
        let (encoding, prefix) = match scheme {
            Scheme::Shopify => (Encoding::Base64, Some(String::new())),
            _ => (encoding, spec.prefix.clone()),
        };
        Ok(Checked {
            algorithm: spec.algorithm.trim().to_ascii_lowercase(),
            scheme,
            header,
            encoding,
            prefix,
            window: scheme
                .default_window()
                .with_tolerance(spec.tolerance_seconds),
            secrets,
        })
    }
}

/// Keys prepared once, when the check is built: public keys for the asymmetric schemes, HMAC
/// states with the secret already absorbed for the generic HMAC schemes.
#[derive(Clone)]
pub(crate) enum Keys {
    None,
    /// One per secret, in order (`sha256`/`sha1`/`sha512`/`shopify`).
    Hmac(Vec<hmac::Keyed>),
    Ed25519(Vec<ed25519_dalek::VerifyingKey>),
    P256(Vec<p256::ecdsa::VerifyingKey>),
}

/// A checked, ready-to-use signature check (secrets resolved, keys parsed).
#[derive(Clone)]
pub struct Verifier {
    pub(crate) algorithm: String,
    pub(crate) scheme: Scheme,
    pub(crate) header: String,
    pub(crate) encoding: Encoding,
    pub(crate) prefix: Option<String>,
    pub(crate) window: Window,
    pub(crate) secrets: Vec<Secret>,
    pub(crate) keys: Keys,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithm", &self.algorithm)
            .field("header", &self.header)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Validates a spec and resolves its secrets (and parses public keys).
    pub fn from_spec(spec: &SignatureSpec) -> Result<Verifier, SpecError> {
        let c = Checked::from_spec(spec)?;
        let field = |i: usize| {
            if i == 0 && spec.secret.is_some() {
                "secret"
            } else {
                "secrets"
            }
        };
        let mut secrets = c.secrets;
        let keys = match c.scheme {
            Scheme::StandardWebhooks { .. } => {
                secrets = secrets
                    .iter()
                    .enumerate()
                    .map(|(i, s)| standard_webhooks::decode_secret(s, field(i)))
                    .collect::<Result<_, _>>()?;
                Keys::None
            }
            Scheme::Discord => Keys::Ed25519(
                secrets
                    .iter()
                    .enumerate()
                    .map(|(i, s)| discord::parse_public_key(s, field(i)))
                    .collect::<Result<_, _>>()?,
            ),
            Scheme::Sendgrid => Keys::P256(
                secrets
                    .iter()
                    .enumerate()
                    .map(|(i, s)| sendgrid::parse_public_key(s, field(i)))
                    .collect::<Result<_, _>>()?,
            ),
            Scheme::Hmac(d) => Keys::Hmac(
                secrets
                    .iter()
                    .map(|s| hmac::Keyed::new(d, s.bytes()))
                    .collect(),
            ),
            Scheme::Shopify => Keys::Hmac(
                secrets
                    .iter()
                    .map(|s| hmac::Keyed::new(hmac::Digest::Sha256, s.bytes()))
                    .collect(),
            ),
            _ => Keys::None,
        };
        Ok(Verifier {
            algorithm: c.algorithm,
            scheme: c.scheme,
            header: c.header,
            encoding: c.encoding,
            prefix: c.prefix,
            window: c.window,
            secrets,
            keys,
        })
    }

    /// The seed's generic check: HMAC-SHA256 of the raw body, hex, with or without `sha256=`.
    pub fn generic(header: &str, secret: &SecretRef) -> Result<Verifier, SpecError> {
        let spec = SignatureSpec {
            header: Some(header.to_string()),
            secret: Some(secret.clone()),
            ..SignatureSpec::new("sha256", "")
        };
        Verifier::from_spec(&spec).map_err(|e| SpecError {
            field: match e.field {
                "header" => "secret_header",
                _ => "secret_key",
            },
            message: e.message,
        })
    }

    /// The algorithm name, for logs and metrics.
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// The signature header this check reads (for logs and error messages).
    pub fn header(&self) -> &str {
        &self.header
    }

    /// Checks one request.
    pub fn verify(&self, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
        match self.scheme {
            Scheme::Hmac(d) => hmac::verify_generic(self, d, req),
            Scheme::Shopify => hmac::verify_generic(self, hmac::Digest::Sha256, req),
            Scheme::Token => hmac::verify_token(self, req),
            Scheme::Stripe => stripe::verify(self, req),
            Scheme::StandardWebhooks { .. } => standard_webhooks::verify(self, req),
            Scheme::Slack => slack::verify(self, req, slack::SLACK),
            Scheme::Zoom => slack::verify(self, req, slack::ZOOM),
            Scheme::Twilio => twilio::verify(self, req),
            Scheme::Discord => discord::verify(self, req),
            Scheme::Paddle => paddle::verify(self, req),
            Scheme::Linear => linear::verify(self, req),
            Scheme::Square => square::verify(self, req),
            Scheme::Twitch => twitch::verify(self, req),
            Scheme::HubspotV3 => hubspot::verify(self, req),
            Scheme::Mailgun => mailgun::verify(self, req),
            Scheme::Sendgrid => sendgrid::verify(self, req),
        }
    }
}

/// A header's value as text: `Missing` if absent or empty, `Malformed` if not visible ASCII.
pub(crate) fn header<'r>(req: &SignedRequest<'r>, name: &str) -> Result<&'r str, VerifyError> {
    let Some(v) = req.headers.get(name) else {
        return Err(VerifyError::Missing {
            header: name.to_string(),
        });
    };
    let s = v.to_str().map_err(|_| VerifyError::Malformed {
        header: name.to_string(),
        detail: "the value is not ASCII text".into(),
    })?;
    let s = s.trim();
    if s.is_empty() {
        return Err(VerifyError::Missing {
            header: name.to_string(),
        });
    }
    Ok(s)
}

/// A signed timestamp header that is not a number.
pub(crate) fn bad_timestamp(header: &str) -> VerifyError {
    VerifyError::Malformed {
        header: header.to_string(),
        detail: "the timestamp is not a unix time in seconds".into(),
    }
}

#[cfg(test)]
mod tests;
