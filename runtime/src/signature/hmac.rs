//! HMAC primitives shared by every symmetric scheme, and the generic "HMAC of the raw body in a
//! header" check: `sha256`/`sha1`/`sha512` (GitHub, Gitea, Bitbucket, Jira, Intercom, Typeform),
//! `shopify` (base64) and `token` (a shared token, no HMAC).

use super::{header, Encoding, SignInput, Signed, SignedRequest, Verifier, VerifyError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Digest as _;
use subtle::ConstantTimeEq;

/// The hash under an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digest {
    Sha1,
    Sha256,
    Sha512,
}

impl Digest {
    pub(crate) fn len(self) -> usize {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha256 => 32,
            Digest::Sha512 => 64,
        }
    }

    /// The algorithm name, which is also the conventional header prefix (`sha256=`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Digest::Sha1 => "sha1",
            Digest::Sha256 => "sha256",
            Digest::Sha512 => "sha512",
        }
    }

    /// The conventional header prefix: the name and `=`.
    fn prefix(self) -> &'static str {
        match self {
            Digest::Sha1 => "sha1=",
            Digest::Sha256 => "sha256=",
            Digest::Sha512 => "sha512=",
        }
    }
}

/// An HMAC with its secret already absorbed (the key's inner and outer pads hashed), built once
/// when the check is built: a request clones the state (two hash states) instead of hashing the
/// key again, and compares in constant time.
#[derive(Clone)]
pub(crate) enum Keyed {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
}

impl Keyed {
    pub(crate) fn new(d: Digest, key: &[u8]) -> Keyed {
        // HMAC takes keys of any length: `new_from_slice` cannot fail for it. Should it ever,
        // the state keyed with nothing can only match signatures made with an empty key,
        // which configuration rejects.
        fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8]) -> M {
            <M as hmac::digest::KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| <M as hmac::digest::KeyInit>::new(&Default::default()))
        }
        match d {
            Digest::Sha1 => Keyed::Sha1(keyed(key)),
            Digest::Sha256 => Keyed::Sha256(keyed(key)),
            Digest::Sha512 => Keyed::Sha512(keyed(key)),
        }
    }

    /// Whether the HMAC of the concatenation of `parts` is `given` (constant time).
    pub(crate) fn matches(&self, parts: &[&[u8]], given: &[u8]) -> bool {
        fn check<M: Mac + Clone>(m: &M, parts: &[&[u8]], given: &[u8]) -> bool {
            let mut m = m.clone();
            for p in parts {
                m.update(p);
            }
            m.verify_slice(given).is_ok()
        }
        match self {
            Keyed::Sha1(m) => check(m, parts, given),
            Keyed::Sha256(m) => check(m, parts, given),
            Keyed::Sha512(m) => check(m, parts, given),
        }
    }
}

/// HMAC of the concatenation of `parts` (no copy of the body is made).
pub(crate) fn mac(d: Digest, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this never fails; an empty result never matches.
        match <M as hmac::digest::KeyInit>::new_from_slice(key) {
            Ok(mut m) => {
                for p in parts {
                    m.update(p);
                }
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    match d {
        Digest::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Digest::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Digest::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// HMAC-SHA256, the most common case.
pub(crate) fn mac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    mac(Digest::Sha256, key, parts)
}

/// Whether HMAC-SHA256 of `parts` under any of `secrets` equals any of the hex signatures
/// `given` (rotation on both sides: several secrets, several signatures in one header).
/// Signatures that are not hex never match.
pub(crate) fn any_hex_mac256_matches(
    secrets: &[super::secret::Secret],
    parts: &[&[u8]],
    given: &[&str],
) -> bool {
    let given: Vec<Vec<u8>> = given.iter().filter_map(|s| hex::decode(s).ok()).collect();
    secrets.iter().any(|s| {
        let expected = mac256(s.bytes(), parts);
        given.iter().any(|g| ct_eq(&expected, g))
    })
}

/// Constant-time equality (length is not secret: every signature of a scheme has the same).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Decodes a hex signature (either case).
pub(crate) fn decode_hex(header: &str, value: &str) -> Result<Vec<u8>, VerifyError> {
    hex::decode(value.trim()).map_err(|_| VerifyError::Malformed {
        header: header.to_string(),
        detail: "expected a hex signature".into(),
    })
}

/// Decodes a standard base64 signature.
pub(crate) fn decode_b64(header: &str, value: &str) -> Result<Vec<u8>, VerifyError> {
    B64.decode(value.trim())
        .map_err(|_| VerifyError::Malformed {
            header: header.to_string(),
            detail: "expected a base64 signature".into(),
        })
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Verifies the generic scheme: `[prefix]encode(HMAC(secret, body))` in one header.
/// Without a configured prefix, the conventional `<algorithm>=` prefix is optional.
pub(crate) fn verify_generic(
    v: &Verifier,
    d: Digest,
    req: &SignedRequest<'_>,
) -> Result<(), VerifyError> {
    let raw = header(req, &v.header)?;
    let value = strip_prefix(&v.header, raw, v.prefix.as_deref(), d)?;
    // A hex signature of the right length decodes on the stack; anything else takes the path
    // that allocates (and explains what is wrong with it).
    let mut buf = [0u8; 64];
    let decoded;
    let given: &[u8] = match v.encoding {
        Encoding::Hex
            if value.len() == 2 * d.len()
                && hex::decode_to_slice(value, &mut buf[..d.len()]).is_ok() =>
        {
            &buf[..d.len()]
        }
        Encoding::Hex => {
            decoded = decode_hex(&v.header, value)?;
            &decoded
        }
        Encoding::Base64 => {
            decoded = decode_b64(&v.header, value)?;
            &decoded
        }
    };
    check_len(&v.header, given, d, v.encoding)?;
    let matched = match &v.keys {
        super::Keys::Hmac(keyed) => keyed.iter().any(|k| k.matches(&[req.body], given)),
        _ => v
            .secrets
            .iter()
            .any(|s| ct_eq(&mac(d, s.bytes(), &[req.body]), given)),
    };
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

fn strip_prefix<'a>(
    header: &str,
    raw: &'a str,
    prefix: Option<&str>,
    d: Digest,
) -> Result<&'a str, VerifyError> {
    match prefix {
        Some(p) => raw.strip_prefix(p).ok_or_else(|| VerifyError::Malformed {
            header: header.to_string(),
            detail: format!("expected the value to start with `{p}`"),
        }),
        None => {
            if let Some(rest) = raw.strip_prefix(d.prefix()) {
                return Ok(rest);
            }
            for other in [Digest::Sha1, Digest::Sha256, Digest::Sha512] {
                if raw.starts_with(other.prefix()) {
                    return Err(VerifyError::Malformed {
                        header: header.to_string(),
                        detail: format!(
                            "the value starts with `{}=` but this check uses {} (wrong header or algorithm?)",
                            other.name(),
                            d.name()
                        ),
                    });
                }
            }
            Ok(raw)
        }
    }
}

/// A decoded signature of the wrong length is a format mistake, not a mismatch: say so.
pub(crate) fn check_len(
    header: &str,
    given: &[u8],
    d: Digest,
    enc: Encoding,
) -> Result<(), VerifyError> {
    if given.len() == d.len() {
        return Ok(());
    }
    let hint = match enc {
        Encoding::Base64 if given.len() == d.len() * 3 / 2 => {
            " (is it hex? this check expects base64)"
        }
        Encoding::Hex => " (is it base64? this check expects hex)",
        Encoding::Base64 => "",
    };
    Err(VerifyError::Malformed {
        header: header.to_string(),
        detail: format!(
            "expected a {}-byte HMAC-{}, got {} bytes{hint}",
            d.len(),
            d.name().to_uppercase(),
            given.len()
        ),
    })
}

pub(crate) fn sign_generic(
    header: &str,
    prefix: Option<&str>,
    enc: Encoding,
    d: Digest,
    secret: &[u8],
    input: &SignInput<'_>,
) -> Signed {
    let m = mac(d, secret, &[input.body]);
    let encoded = match enc {
        Encoding::Hex => hex::encode(m),
        Encoding::Base64 => b64(&m),
    };
    let prefix = prefix.map_or_else(|| format!("{}=", d.name()), str::to_string);
    Signed::headers(vec![(header.to_string(), format!("{prefix}{encoded}"))])
}

/// `token`: the header carries the shared secret itself (GitLab's `X-Gitlab-Token`). Compared as
/// SHA-256 digests so neither the content nor the length of the token leaks through timing.
pub(crate) fn verify_token(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    let given = sha2::Sha256::digest(header(req, &v.header)?.as_bytes());
    if v.secrets
        .iter()
        .any(|s| ct_eq(&sha2::Sha256::digest(s.bytes()), &given))
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}
