//! Twitch EventSub: `Twitch-Eventsub-Message-Signature: sha256=<hex>` of HMAC-SHA256 over
//! message id + timestamp + body (`Twitch-Eventsub-Message-Id`, `-Timestamp`, RFC 3339).
//! Window: Twitch says to reject messages older than 10 minutes.

use super::hmac::{ct_eq, decode_hex, mac256};
use super::timestamp::{format_rfc3339, parse_rfc3339};
use super::{header, SignInput, Signed, SignedRequest, Verifier, VerifyError};

pub(crate) const SIGNATURE: &str = "Twitch-Eventsub-Message-Signature";
pub(crate) const ID: &str = "Twitch-Eventsub-Message-Id";
pub(crate) const TIMESTAMP: &str = "Twitch-Eventsub-Message-Timestamp";

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    let raw = header(req, &v.header)?;
    let id = header(req, ID)?;
    let ts_str = header(req, TIMESTAMP)?;
    let ts = parse_rfc3339(ts_str).ok_or_else(|| VerifyError::Malformed {
        header: TIMESTAMP.into(),
        detail: "expected an RFC 3339 timestamp".into(),
    })?;
    let hexsig = raw
        .strip_prefix("sha256=")
        .ok_or_else(|| VerifyError::Malformed {
            header: v.header.clone(),
            detail: "expected `sha256=<hex>`".into(),
        })?;
    let given = decode_hex(&v.header, hexsig)?;
    let ok = v.secrets.iter().any(|s| {
        ct_eq(
            &mac256(s.bytes(), &[id.as_bytes(), ts_str.as_bytes(), req.body]),
            &given,
        )
    });
    if !ok {
        return Err(VerifyError::Mismatch);
    }
    v.window.check(ts, req.now)
}

pub(crate) fn sign(header: &str, secret: &[u8], id: &str, input: &SignInput<'_>) -> Signed {
    let t = format_rfc3339(input.now);
    let sig = hex::encode(mac256(secret, &[id.as_bytes(), t.as_bytes(), input.body]));
    Signed::headers(vec![
        (ID.to_string(), id.to_string()),
        (TIMESTAMP.to_string(), t),
        (header.to_string(), format!("sha256={sig}")),
    ])
}
