//! SendGrid signed event webhook: `X-Twilio-Email-Event-Webhook-Signature` is a base64 DER
//! ECDSA P-256/SHA-256 signature of `X-Twilio-Email-Event-Webhook-Timestamp` + body, checked
//! with the verification key shown in SendGrid's settings (base64 DER public key; PEM accepted).
//! SendGrid publishes no window; hookflow uses ±300 s.

use super::secret::Secret;
use super::timestamp::parse_unix;
use super::{
    bad_timestamp, header, Keys, SignInput, Signed, SignedRequest, SpecError, Verifier, VerifyError,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};

pub(crate) const SIGNATURE: &str = "X-Twilio-Email-Event-Webhook-Signature";
pub(crate) const TIMESTAMP: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

/// Base64 DER, or PEM (whose body is base64 DER between `-----` lines).
fn der(s: &Secret, field: &'static str, what: &str) -> Result<Vec<u8>, SpecError> {
    let text = s.text(field)?;
    let b64: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).map_err(|_| SpecError {
        field,
        message: format!("malformed SendGrid {what}: expected base64 DER (or PEM)"),
    })
}

pub(crate) fn parse_public_key(s: &Secret, field: &'static str) -> Result<VerifyingKey, SpecError> {
    let der = der(s, field, "public key")?;
    VerifyingKey::from_public_key_der(&der)
        .or_else(|_| VerifyingKey::from_sec1_bytes(&der))
        .map_err(|_| SpecError {
            field,
            message: "malformed SendGrid public key: not an ECDSA P-256 public key".into(),
        })
}

pub(crate) fn parse_private_key(s: &Secret, field: &'static str) -> Result<SigningKey, SpecError> {
    let der = der(s, field, "private key")?;
    SigningKey::from_pkcs8_der(&der)
        .or_else(|_| {
            p256::SecretKey::from_sec1_der(&der).map(|k| SigningKey::from(&k))
        })
        .map_err(|_| SpecError {
            field,
            message: "malformed SendGrid private key: not an ECDSA P-256 private key (PKCS#8 or SEC1 DER)"
                .into(),
        })
}

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    let Keys::P256(keys) = &v.keys else {
        return Err(VerifyError::Mismatch);
    };
    let sig_b64 = header(req, &v.header)?;
    let ts_str = header(req, TIMESTAMP)?;
    let ts = parse_unix(ts_str).ok_or_else(|| bad_timestamp(TIMESTAMP))?;
    let sig = STANDARD
        .decode(sig_b64)
        .ok()
        .and_then(|d| Signature::from_der(&d).ok())
        .ok_or_else(|| VerifyError::Malformed {
            header: v.header.clone(),
            detail: "expected a base64 DER ECDSA signature".into(),
        })?;
    // Accept high-S signatures too (other ECDSA stacks produce them); verify the normalised form.
    let sig = sig.normalize_s().unwrap_or(sig);
    let mut msg = Vec::with_capacity(ts_str.len() + req.body.len());
    msg.extend_from_slice(ts_str.as_bytes());
    msg.extend_from_slice(req.body);
    if !keys.iter().any(|k| k.verify(&msg, &sig).is_ok()) {
        return Err(VerifyError::Mismatch);
    }
    v.window.check(ts, req.now)
}

pub(crate) fn sign(header: &str, key: &SigningKey, input: &SignInput<'_>) -> Signed {
    let t = input.now.to_string();
    let mut msg = t.as_bytes().to_vec();
    msg.extend_from_slice(input.body);
    let sig: DerSignature = key.sign(&msg);
    Signed::headers(vec![
        (TIMESTAMP.to_string(), t),
        (header.to_string(), STANDARD.encode(sig.as_bytes())),
    ])
}
