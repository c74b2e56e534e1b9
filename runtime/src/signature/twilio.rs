//! Twilio: `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + sorted form parameters)).
//! The URL is the full URL Twilio requested (`public_base_url` + path and query). Parameters are
//! the POST form fields sorted by name, each as `name` + `value` (repeated names: values sorted).
//! For JSON bodies Twilio adds `bodySHA256=<hex sha256 of the body>` to the URL's query and signs
//! the URL alone. Like Twilio's SDKs, the URL is also tried with the default port added or the
//! explicit port removed. Twilio signs no timestamp.

use super::hmac::{b64, ct_eq, decode_b64, mac, Digest};
use super::sign::SignError;
use super::{header, SignInput, Signed, SignedRequest, Verifier, VerifyError};
use sha2::Digest as _;

pub(crate) const HEADER: &str = "X-Twilio-Signature";

/// The string Twilio signs for `url` and the form `params`.
fn data(url: &str, params: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out = url.as_bytes().to_vec();
    for (k, v) in sorted {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    let q = q.split('#').next().unwrap_or(q);
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The URL as given, plus the variant Twilio's SDKs also accept (port removed, or default added).
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let hostport = &authority[host_start..];
    let port_sep = hostport
        .rfind(':')
        .filter(|&i| !hostport[i..].contains(']'));
    let variant = match port_sep {
        Some(i) => format!(
            "{scheme}://{}{}{tail}",
            &authority[..host_start],
            &hostport[..i]
        ),
        None => {
            let port = match scheme.to_ascii_lowercase().as_str() {
                "https" => "443",
                "http" => "80",
                _ => return out,
            };
            format!("{scheme}://{authority}:{port}{tail}")
        }
    };
    out.push(variant);
    out
}

fn is_form(req: &SignedRequest<'_>) -> bool {
    match req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct) => ct
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded"),
        None => true,
    }
}

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    let given = decode_b64(&v.header, header(req, &v.header)?)?;
    if given.len() != Digest::Sha1.len() {
        return Err(VerifyError::Malformed {
            header: v.header.clone(),
            detail: format!("expected a 20-byte HMAC-SHA1, got {} bytes", given.len()),
        });
    }
    let params: Vec<(String, String)> = match query_param(req.url, "bodySHA256") {
        Some(expected) => {
            // JSON variant: the body is bound by its hash in the (signed) URL.
            let actual = hex::encode(sha2::Sha256::digest(req.body));
            if !ct_eq(actual.as_bytes(), expected.to_ascii_lowercase().as_bytes()) {
                return Err(VerifyError::Mismatch);
            }
            Vec::new()
        }
        None if req.method.eq_ignore_ascii_case("POST") && is_form(req) => {
            form_urlencoded::parse(req.body).into_owned().collect()
        }
        None => Vec::new(),
    };
    let ok = url_variants(req.url).iter().any(|u| {
        let d = data(u, &params);
        v.secrets
            .iter()
            .any(|s| ct_eq(&mac(Digest::Sha1, s.bytes(), &[&d]), &given))
    });
    if ok {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Signs form bodies with their parameters; any other body the JSON way (`bodySHA256` must then
/// already be in the URL, as Twilio puts it there).
pub(crate) fn sign(
    header: &str,
    secret: &[u8],
    input: &SignInput<'_>,
) -> Result<Signed, SignError> {
    let looks_json = input
        .body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    let params: Vec<(String, String)> = if query_param(input.url, "bodySHA256").is_some() {
        Vec::new()
    } else if looks_json {
        return Err(SignError::Input(format!(
            "twilio signs JSON bodies through the URL: add `bodySHA256={}` to the URL's query",
            hex::encode(sha2::Sha256::digest(input.body))
        )));
    } else if input.method.eq_ignore_ascii_case("POST") {
        form_urlencoded::parse(input.body).into_owned().collect()
    } else {
        Vec::new()
    };
    let sig = mac(Digest::Sha1, secret, &[&data(input.url, &params)]);
    Ok(Signed::headers(vec![(header.to_string(), b64(&sig))]))
}
