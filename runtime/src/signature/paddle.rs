//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>...]`, HMAC-SHA256 of
//! `ts:body` with the notification destination's secret key. Window: 5 s into the past, the
//! default of Paddle's SDKs (their `maxVariance`); set `tolerance_seconds` for more.

use super::hmac::{any_hex_mac256_matches, mac256};
use super::timestamp::parse_unix;
use super::{bad_timestamp, header, SignInput, Signed, SignedRequest, Verifier, VerifyError};

pub(crate) const HEADER: &str = "Paddle-Signature";

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    let raw = header(req, &v.header)?;
    let mut ts = None;
    let mut sigs = Vec::new();
    for item in raw.split(';') {
        match item.trim().split_once('=') {
            Some(("ts", t)) => ts = Some(t),
            Some(("h1", h)) => sigs.push(h),
            _ => {}
        }
    }
    let (Some(ts_str), false) = (ts, sigs.is_empty()) else {
        return Err(VerifyError::Malformed {
            header: v.header.clone(),
            detail: "expected `ts=<unix>;h1=<hex>`".into(),
        });
    };
    let ts = parse_unix(ts_str).ok_or_else(|| bad_timestamp(&v.header))?;
    if !any_hex_mac256_matches(&v.secrets, &[ts_str.as_bytes(), b":", req.body], &sigs) {
        return Err(VerifyError::Mismatch);
    }
    v.window.check(ts, req.now)
}

pub(crate) fn sign(header: &str, secret: &[u8], input: &SignInput<'_>) -> Signed {
    let t = input.now.to_string();
    let sig = hex::encode(mac256(secret, &[t.as_bytes(), b":", input.body]));
    Signed::headers(vec![(header.to_string(), format!("ts={t};h1={sig}"))])
}
