//! Linear: `Linear-Signature` = hex HMAC-SHA256 of the raw body. The timestamp is the
//! `Linear-Timestamp` header or, in older deliveries, the body's `webhookTimestamp` field (both
//! unix milliseconds); Linear's SDK rejects deliveries more than 60 s away from now.

use super::hmac::{ct_eq, decode_hex, mac256};
use super::{header, SignInput, Signed, SignedRequest, Verifier, VerifyError};

pub(crate) const HEADER: &str = "Linear-Signature";
pub(crate) const TIMESTAMP: &str = "Linear-Timestamp";

fn timestamp_ms(req: &SignedRequest<'_>) -> Option<Result<i64, VerifyError>> {
    if let Ok(t) = header(req, TIMESTAMP) {
        return Some(t.parse::<i64>().map_err(|_| VerifyError::Malformed {
            header: TIMESTAMP.into(),
            detail: "expected unix milliseconds".into(),
        }));
    }
    let json: serde_json::Value = serde_json::from_slice(req.body).ok()?;
    json.get("webhookTimestamp")?.as_i64().map(Ok)
}

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    let given = decode_hex(&v.header, header(req, &v.header)?)?;
    if !v
        .secrets
        .iter()
        .any(|s| ct_eq(&mac256(s.bytes(), &[req.body]), &given))
    {
        return Err(VerifyError::Mismatch);
    }
    if v.window.past.is_none() && v.window.future.is_none() {
        return Ok(());
    }
    match timestamp_ms(req) {
        Some(ms) => v.window.check(ms?.div_euclid(1000), req.now),
        None => Err(VerifyError::Malformed {
            header: TIMESTAMP.into(),
            detail: "no `Linear-Timestamp` header and no `webhookTimestamp` in the body".into(),
        }),
    }
}

pub(crate) fn sign(header: &str, secret: &[u8], input: &SignInput<'_>) -> Signed {
    Signed::headers(vec![
        (
            TIMESTAMP.to_string(),
            input.now.saturating_mul(1000).to_string(),
        ),
        (
            header.to_string(),
            hex::encode(mac256(secret, &[input.body])),
        ),
    ])
}
