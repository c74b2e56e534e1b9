//! Discord interactions: `X-Signature-Ed25519` (hex) is an Ed25519 signature of
//! `X-Signature-Timestamp` + body, checked with the application's public key (hex, 32 bytes).
//! Discord publishes no window; hookflow uses ±300 s.

use super::secret::Secret;
use super::timestamp::parse_unix;
use super::{
    bad_timestamp, header, Keys, SignInput, Signed, SignedRequest, SpecError, Verifier, VerifyError,
};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

pub(crate) const SIGNATURE: &str = "X-Signature-Ed25519";
pub(crate) const TIMESTAMP: &str = "X-Signature-Timestamp";

fn key32(s: &Secret, field: &'static str, what: &str) -> Result<[u8; 32], SpecError> {
    let text = s.text(field)?;
    hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| SpecError {
            field,
            message: format!("malformed Discord {what}: expected 64 hex characters (32 bytes)"),
        })
}

pub(crate) fn parse_public_key(s: &Secret, field: &'static str) -> Result<VerifyingKey, SpecError> {
    VerifyingKey::from_bytes(&key32(s, field, "public key")?).map_err(|_| SpecError {
        field,
        message: "malformed Discord public key: not a valid Ed25519 point".into(),
    })
}

pub(crate) fn parse_private_key(s: &Secret, field: &'static str) -> Result<SigningKey, SpecError> {
    Ok(SigningKey::from_bytes(&key32(s, field, "private key")?))
}

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    let Keys::Ed25519(keys) = &v.keys else {
        return Err(VerifyError::Mismatch);
    };
    let sig_hex = header(req, &v.header)?;
    let ts_str = header(req, TIMESTAMP)?;
    let ts = parse_unix(ts_str).ok_or_else(|| bad_timestamp(TIMESTAMP))?;
    let sig = hex::decode(sig_hex)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b))
        .ok_or_else(|| VerifyError::Malformed {
            header: v.header.clone(),
            detail: "expected 128 hex characters (a 64-byte Ed25519 signature)".into(),
        })?;
    let mut msg = Vec::with_capacity(ts_str.len() + req.body.len());
    msg.extend_from_slice(ts_str.as_bytes());
    msg.extend_from_slice(req.body);
    if !keys.iter().any(|k| k.verify_strict(&msg, &sig).is_ok()) {
        return Err(VerifyError::Mismatch);
    }
    v.window.check(ts, req.now)
}

pub(crate) fn sign(header: &str, key: &SigningKey, input: &SignInput<'_>) -> Signed {
    let t = input.now.to_string();
    let mut msg = t.as_bytes().to_vec();
    msg.extend_from_slice(input.body);
    let sig = key.sign(&msg);
    Signed::headers(vec![
        (TIMESTAMP.to_string(), t),
        (header.to_string(), hex::encode(sig.to_bytes())),
    ])
}
