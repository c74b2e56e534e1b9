//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 of `t.body` keyed
//! with the whole `whsec_...` string. Any `v1` matching any secret accepts (Stripe sends several
//! while an endpoint secret is being rolled). Window: 300 s into the past, future accepted
//! (as Stripe's SDKs do).

use super::hmac::{any_hex_mac256_matches, mac256};
use super::timestamp::parse_unix;
use super::{bad_timestamp, header, SignInput, Signed, SignedRequest, Verifier, VerifyError};

pub(crate) const HEADER: &str = "Stripe-Signature";

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    let raw = header(req, &v.header)?;
    let mut ts = None;
    let mut sigs = Vec::new();
    for item in raw.split(',') {
        let Some((k, val)) = item.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" => ts = Some(val),
            "v1" => sigs.push(val),
            _ => {}
        }
    }
    let ts_str = ts.ok_or_else(|| VerifyError::Malformed {
        header: v.header.clone(),
        detail: "no `t=` timestamp".into(),
    })?;
    let ts = parse_unix(ts_str).ok_or_else(|| bad_timestamp(&v.header))?;
    if sigs.is_empty() {
        return Err(VerifyError::Malformed {
            header: v.header.clone(),
            detail: "no `v1=` signature".into(),
        });
    }
    if !any_hex_mac256_matches(&v.secrets, &[ts_str.as_bytes(), b".", req.body], &sigs) {
        return Err(VerifyError::Mismatch);
    }
    v.window.check(ts, req.now)
}

pub(crate) fn sign(header: &str, secret: &[u8], input: &SignInput<'_>) -> Signed {
    let t = input.now.to_string();
    let sig = hex::encode(mac256(secret, &[t.as_bytes(), b".", input.body]));
    Signed::headers(vec![(header.to_string(), format!("t={t},v1={sig}"))])
}
