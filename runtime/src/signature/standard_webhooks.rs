//! Standard Webhooks (and Svix, its origin): `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` (Svix: `svix-id`, `svix-timestamp`, `svix-signature`; either set is
//! accepted). The signature header holds space-separated `v1,<base64>` entries; each is
//! HMAC-SHA256 of `id.timestamp.body` keyed with the base64-decoded part of the `whsec_` secret.
//! Window: ±300 s (the spec's reference libraries).

use super::hmac::{b64, ct_eq, mac256};
use super::secret::Secret;
use super::timestamp::parse_unix;
use super::{
    bad_timestamp, header, SignInput, Signed, SignedRequest, SpecError, Verifier, VerifyError,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

pub(crate) const SIGNATURE: &str = "webhook-signature";
pub(crate) const SVIX_SIGNATURE: &str = "svix-signature";

/// Decodes a `whsec_<base64>` secret (the prefix is optional, as in the reference libraries).
pub(crate) fn decode_secret(s: &Secret, field: &'static str) -> Result<Secret, SpecError> {
    let text = s.text(field)?;
    let b64 = text.strip_prefix("whsec_").unwrap_or(text);
    match STANDARD.decode(b64) {
        Ok(k) if !k.is_empty() => Ok(Secret::new(k)),
        _ => Err(SpecError {
            field,
            message: "malformed Standard Webhooks secret: expected `whsec_` followed by base64"
                .into(),
        }),
    }
}

/// `webhook-id` next to `webhook-signature`, or `svix-id` next to `svix-signature`.
fn sibling(sig_header: &str, name: &str) -> String {
    let lower = sig_header.to_ascii_lowercase();
    match lower.strip_suffix("signature") {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}{name}"),
        _ => format!("webhook-{name}"),
    }
}

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    // A Svix sender sets both header families; a Standard Webhooks sender only `webhook-*`.
    let sig_header = if req.headers.contains_key(v.header.as_str()) {
        v.header.clone()
    } else if v.header.eq_ignore_ascii_case(SIGNATURE) && req.headers.contains_key(SVIX_SIGNATURE) {
        SVIX_SIGNATURE.to_string()
    } else if v.header.eq_ignore_ascii_case(SVIX_SIGNATURE) && req.headers.contains_key(SIGNATURE) {
        SIGNATURE.to_string()
    } else {
        v.header.clone()
    };
    let id_header = sibling(&sig_header, "id");
    let ts_header = sibling(&sig_header, "timestamp");
    let sigs = header(req, &sig_header)?;
    let id = header(req, &id_header)?;
    let ts_str = header(req, &ts_header)?;
    let ts = parse_unix(ts_str).ok_or_else(|| bad_timestamp(&ts_header))?;
    let given: Vec<Vec<u8>> = sigs
        .split(' ')
        .filter_map(|e| e.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, s)| STANDARD.decode(s).ok())
        .collect();
    if given.is_empty() {
        return Err(VerifyError::Malformed {
            header: sig_header,
            detail: "no `v1,<base64>` signature".into(),
        });
    }
    let ok = v.secrets.iter().any(|s| {
        let expected = mac256(
            s.bytes(),
            &[id.as_bytes(), b".", ts_str.as_bytes(), b".", req.body],
        );
        given.iter().any(|g| ct_eq(&expected, g))
    });
    if !ok {
        return Err(VerifyError::Mismatch);
    }
    v.window.check(ts, req.now)
}

pub(crate) fn sign(
    sig_header: &str,
    svix: bool,
    key: &[u8],
    id: &str,
    input: &SignInput<'_>,
) -> Signed {
    let t = input.now.to_string();
    let sig = b64(&mac256(
        key,
        &[id.as_bytes(), b".", t.as_bytes(), b".", input.body],
    ));
    let family = if svix { "svix-" } else { "webhook-" };
    let sig_header = if sig_header.eq_ignore_ascii_case(SIGNATURE)
        || sig_header.eq_ignore_ascii_case(SVIX_SIGNATURE)
    {
        format!("{family}signature")
    } else {
        sig_header.to_string()
    };
    Signed::headers(vec![
        (sibling(&sig_header, "id"), id.to_string()),
        (sibling(&sig_header, "timestamp"), t),
        (sig_header, format!("v1,{sig}")),
    ])
}
