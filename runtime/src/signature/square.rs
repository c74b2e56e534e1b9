//! Square: `X-Square-HmacSha256-Signature` = base64(HMAC-SHA256(signature key, notification
//! URL + body)). The notification URL is `public_base_url` + the request path and query, and must be
//! exactly the URL registered with Square. Square signs no timestamp.

use super::hmac::{b64, check_len, ct_eq, decode_b64, mac256, Digest};
use super::{header, Encoding, SignInput, Signed, SignedRequest, Verifier, VerifyError};

pub(crate) const HEADER: &str = "X-Square-HmacSha256-Signature";

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    let given = decode_b64(&v.header, header(req, &v.header)?)?;
    check_len(&v.header, &given, Digest::Sha256, Encoding::Base64)?;
    if v.secrets
        .iter()
        .any(|s| ct_eq(&mac256(s.bytes(), &[req.url.as_bytes(), req.body]), &given))
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

pub(crate) fn sign(header: &str, secret: &[u8], input: &SignInput<'_>) -> Signed {
    let sig = mac256(secret, &[input.url.as_bytes(), input.body]);
    Signed::headers(vec![(header.to_string(), b64(&sig))])
}
