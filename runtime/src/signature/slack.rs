//! Slack and Zoom: both sign `v0:<timestamp>:<body>` with HMAC-SHA256 and send `v0=<hex>`.
//! Slack: `X-Slack-Signature` + `X-Slack-Request-Timestamp`, window ±300 s (Slack's SDKs).
//! Zoom: `x-zm-signature` + `x-zm-request-timestamp` (secret token); Zoom publishes no window,
//! hookflow uses ±300 s.

use super::hmac::{ct_eq, decode_hex, mac256};
use super::timestamp::parse_unix;
use super::{bad_timestamp, header, SignInput, Signed, SignedRequest, Verifier, VerifyError};

pub(crate) const SLACK_SIGNATURE: &str = "X-Slack-Signature";
pub(crate) const ZOOM_SIGNATURE: &str = "x-zm-signature";

/// Which sender: the timestamp header differs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flavor {
    timestamp_header: &'static str,
}

pub(crate) const SLACK: Flavor = Flavor {
    timestamp_header: "X-Slack-Request-Timestamp",
};
pub(crate) const ZOOM: Flavor = Flavor {
    timestamp_header: "x-zm-request-timestamp",
};

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>, f: Flavor) -> Result<(), VerifyError> {
    let raw = header(req, &v.header)?;
    let ts_str = header(req, f.timestamp_header)?;
    let ts = parse_unix(ts_str).ok_or_else(|| bad_timestamp(f.timestamp_header))?;
    let hexsig = raw
        .strip_prefix("v0=")
        .ok_or_else(|| VerifyError::Malformed {
            header: v.header.clone(),
            detail: "expected `v0=<hex>`".into(),
        })?;
    let given = decode_hex(&v.header, hexsig)?;
    let ok = v.secrets.iter().any(|s| {
        ct_eq(
            &mac256(s.bytes(), &[b"v0:", ts_str.as_bytes(), b":", req.body]),
            &given,
        )
    });
    if !ok {
        return Err(VerifyError::Mismatch);
    }
    v.window.check(ts, req.now)
}

pub(crate) fn sign(header: &str, f: Flavor, secret: &[u8], input: &SignInput<'_>) -> Signed {
    let t = input.now.to_string();
    let sig = hex::encode(mac256(secret, &[b"v0:", t.as_bytes(), b":", input.body]));
    Signed::headers(vec![
        (f.timestamp_header.to_string(), t),
        (header.to_string(), format!("v0={sig}")),
    ])
}
