//! Every signature vector in `tests/fixtures/signatures/vectors.json` (official vectors from the
//! senders' docs and SDK test suites, plus vectors constructed with an independent Python
//! implementation; `make_vectors.py` beside it says which is which) run through the same
//! `Verifier` the server uses, and through `Signer` for the sender's side.

use hookflow_runtime::signature::{
    SecretRef, SignInput, SignatureSpec, SignedRequest, Signer, Verifier,
};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/signatures/vectors.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    v.as_array().cloned().unwrap_or_default()
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn spec(v: &Value, secrets: Vec<String>) -> SignatureSpec {
    let mut it = secrets.into_iter().map(SecretRef);
    SignatureSpec {
        algorithm: s(v, "algorithm").unwrap_or_default().to_string(),
        header: s(v, "header").map(str::to_string),
        secret: it.next(),
        secrets: it.collect(),
        encoding: s(v, "encoding").map(str::to_string),
        prefix: s(v, "prefix").map(str::to_string),
        tolerance_seconds: None,
    }
}

fn secrets(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn headers(v: &Value) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, val) in v
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let name = http::HeaderName::from_bytes(k.as_bytes()).expect("header name");
        let value = http::HeaderValue::from_str(val.as_str().unwrap_or_default()).expect("value");
        h.append(name, value);
    }
    h
}

#[test]
fn every_vector_verifies_as_published() {
    let all = vectors();
    assert!(
        all.len() >= 40,
        "expected the full vector set, got {}",
        all.len()
    );
    let mut failures = Vec::new();
    for v in &all {
        let name = s(v, "name").unwrap_or("?");
        let verifier = match Verifier::from_spec(&spec(v, secrets(v, "secrets"))) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{name}: spec rejected: {e}"));
                continue;
            }
        };
        let h = headers(v);
        let req = SignedRequest {
            method: s(v, "method").unwrap_or("POST"),
            url: s(v, "url").unwrap_or_default(),
            headers: &h,
            body: s(v, "body").unwrap_or_default().as_bytes(),
            now: v.get("now").and_then(Value::as_u64).unwrap_or(0),
        };
        let got = verifier.verify(&req);
        let valid = v.get("valid").and_then(Value::as_bool).unwrap_or(true);
        match (&got, valid) {
            (Ok(()), true) => {}
            (Err(e), false) if Some(e.code()) == s(v, "error_code") => {}
            _ => failures.push(format!(
                "{name}: expected valid={valid} {:?}, got {got:?}",
                s(v, "error_code")
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn signer_reproduces_published_headers_and_round_trips() {
    let mut failures = Vec::new();
    let mut reproduced = 0;
    for v in vectors() {
        if !v.get("valid").and_then(Value::as_bool).unwrap_or(true) {
            continue;
        }
        let name = s(&v, "name").unwrap_or("?").to_string();
        let mut sign_secrets = secrets(&v, "sign_secret");
        if sign_secrets.is_empty() {
            if matches!(s(&v, "algorithm"), Some("discord" | "sendgrid")) {
                continue; // a published public-key vector: no private key to sign with
            }
            sign_secrets = secrets(&v, "secrets");
        }
        let signer = match Signer::from_spec(&spec(&v, sign_secrets)) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{name}: signer rejected: {e}"));
                continue;
            }
        };
        let now = v
            .get("sign_now")
            .or_else(|| v.get("now"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let url = s(&v, "url").unwrap_or_default();
        let body = s(&v, "body").unwrap_or_default().as_bytes();
        let input = SignInput {
            method: s(&v, "method").unwrap_or("POST"),
            url,
            body,
            now,
            id: s(&v, "id"),
        };
        let signed = match signer.sign(&input) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{name}: sign failed: {e}"));
                continue;
            }
        };
        if let Some(expected) = v.get("sign_headers").and_then(Value::as_object) {
            reproduced += 1;
            for (k, val) in expected {
                let got = signed
                    .headers
                    .iter()
                    .find(|(hk, _)| hk.eq_ignore_ascii_case(k))
                    .map(|(_, hv)| hv.as_str());
                if got != val.as_str() {
                    failures.push(format!(
                        "{name}: header {k}: expected {val}, signed {got:?}"
                    ));
                }
            }
        }
        // Round trip: what the signer produced verifies with the receiver's configuration.
        let verifier = match Verifier::from_spec(&spec(&v, secrets(&v, "secrets"))) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let mut h = headers(&v);
        for (k, val) in &signed.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes()).expect("name");
            h.insert(name, http::HeaderValue::from_str(val).expect("value"));
        }
        let new_body = signed.body.clone().unwrap_or_else(|| body.to_vec());
        let req = SignedRequest {
            method: input.method,
            url,
            headers: &h,
            body: &new_body,
            now,
        };
        if let Err(e) = verifier.verify(&req) {
            failures.push(format!("{name}: round trip rejected: {e}"));
        }
    }
    assert!(
        reproduced >= 15,
        "only {reproduced} vectors had sign_headers"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
