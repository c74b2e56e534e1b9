//! HubSpot v3: `X-HubSpot-Signature-v3` = base64(HMAC-SHA256(client secret,
//! method + URI + body + timestamp)), with `X-HubSpot-Request-Timestamp` in unix milliseconds. The URI is the full
//! request URL with HubSpot's listed percent-escapes decoded. Window: HubSpot says to reject
//! requests whose timestamp is older than 5 minutes.

use super::hmac::{b64, check_len, ct_eq, decode_b64, mac256, Digest};
use super::{header, Encoding, SignInput, Signed, SignedRequest, Verifier, VerifyError};

pub(crate) const SIGNATURE: &str = "X-HubSpot-Signature-v3";
pub(crate) const TIMESTAMP: &str = "X-HubSpot-Request-Timestamp";

/// Decodes the escapes HubSpot's documentation lists (and nothing else).
fn decode_uri(url: &str) -> String {
    const MAP: [(&str, &str); 12] = [
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
        ("%3B", ";"),
    ];
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    'outer: while !rest.is_empty() {
        if rest.starts_with('%') {
            for (esc, ch) in MAP {
                if rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(esc)) {
                    out.push_str(ch);
                    rest = rest.get(3..).unwrap_or_default();
                    continue 'outer;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    let given = decode_b64(&v.header, header(req, &v.header)?)?;
    let ts_str = header(req, TIMESTAMP)?;
    let ms: i64 = ts_str.parse().map_err(|_| VerifyError::Malformed {
        header: TIMESTAMP.into(),
        detail: "expected unix milliseconds".into(),
    })?;
    check_len(&v.header, &given, Digest::Sha256, Encoding::Base64)?;
    let uri = decode_uri(req.url);
    let method = req.method.to_ascii_uppercase();
    let ok = v.secrets.iter().any(|s| {
        let parts: [&[u8]; 4] = [
            method.as_bytes(),
            uri.as_bytes(),
            req.body,
            ts_str.as_bytes(),
        ];
        ct_eq(&mac256(s.bytes(), &parts), &given)
    });
    if !ok {
        return Err(VerifyError::Mismatch);
    }
    v.window.check(ms.div_euclid(1000), req.now)
}

pub(crate) fn sign(header: &str, secret: &[u8], input: &SignInput<'_>) -> Signed {
    let t = input.now.saturating_mul(1000).to_string();
    let method = input.method.to_ascii_uppercase();
    let uri = decode_uri(input.url);
    let parts: [&[u8]; 4] = [method.as_bytes(), uri.as_bytes(), input.body, t.as_bytes()];
    let sig = b64(&mac256(secret, &parts));
    Signed::headers(vec![(TIMESTAMP.to_string(), t), (header.to_string(), sig)])
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_only_listed_escapes() {
        assert_eq!(
            super::decode_uri("https://x.example/a%3Ab%2fc?q=%20%40"),
            "https://x.example/a:b/c?q=%20@"
        );
        // A `%` before a multi-byte character must not split it.
        assert_eq!(super::decode_uri("/%€%"), "/%€%");
    }
}
