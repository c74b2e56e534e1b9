//! Mailgun: the signature travels inside the body, as `signature: {timestamp, token, signature}`
//! in JSON webhooks or as `timestamp`, `token`, `signature` fields in form-encoded ones;
//! `signature` = hex HMAC-SHA256(webhook signing key, timestamp + token). Mailgun publishes no
//! window; hookflow uses ±300 s.

use super::hmac::{ct_eq, mac256};
use super::sign::SignError;
use super::timestamp::parse_unix;
use super::{SignInput, Signed, SignedRequest, Verifier, VerifyError};

/// Mailgun uses no header; errors name the body fields instead.
pub(crate) const NO_HEADER: &str = "(body) signature";
const FIELD: &str = "body field `signature`";

struct Fields {
    timestamp: String,
    token: String,
    signature: String,
}

fn fields(body: &[u8]) -> Result<Fields, VerifyError> {
    let missing = || VerifyError::Missing {
        header: FIELD.into(),
    };
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let sig = json.get("signature").ok_or_else(missing)?;
        let get = |k: &str| -> Result<String, VerifyError> {
            match sig.get(k) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
                _ => Err(VerifyError::Malformed {
                    header: FIELD.into(),
                    detail: format!("`signature.{k}` is missing or not a string"),
                }),
            }
        };
        return Ok(Fields {
            timestamp: get("timestamp")?,
            token: get("token")?,
            signature: get("signature")?,
        });
    }
    let mut f = (None, None, None);
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "timestamp" => f.0 = Some(v.into_owned()),
            "token" => f.1 = Some(v.into_owned()),
            "signature" => f.2 = Some(v.into_owned()),
            _ => {}
        }
    }
    match f {
        (Some(timestamp), Some(token), Some(signature)) => Ok(Fields {
            timestamp,
            token,
            signature,
        }),
        _ => Err(missing()),
    }
}

pub(crate) fn verify(v: &Verifier, req: &SignedRequest<'_>) -> Result<(), VerifyError> {
    let f = fields(req.body)?;
    let ts = parse_unix(&f.timestamp).ok_or_else(|| VerifyError::Malformed {
        header: FIELD.into(),
        detail: "`timestamp` is not a unix time in seconds".into(),
    })?;
    let given = hex::decode(&f.signature).map_err(|_| VerifyError::Malformed {
        header: FIELD.into(),
        detail: "`signature` is not hex".into(),
    })?;
    let ok = v.secrets.iter().any(|s| {
        ct_eq(
            &mac256(s.bytes(), &[f.timestamp.as_bytes(), f.token.as_bytes()]),
            &given,
        )
    });
    if !ok {
        return Err(VerifyError::Mismatch);
    }
    v.window.check(ts, req.now)
}

/// Puts the signature into the body: a JSON object gets a `signature` member, anything else is
/// treated as a form and gets three fields appended.
pub(crate) fn sign(secret: &[u8], token: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
    let t = input.now.to_string();
    let sig = hex::encode(mac256(secret, &[t.as_bytes(), token.as_bytes()]));
    let body = match serde_json::from_slice::<serde_json::Value>(input.body) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.insert(
                "signature".into(),
                serde_json::json!({"timestamp": t, "token": token, "signature": sig}),
            );
            serde_json::to_vec(&m).map_err(|e| SignError::Input(e.to_string()))?
        }
        Ok(_) => {
            return Err(SignError::Input(
                "mailgun signs JSON objects or form bodies".into(),
            ))
        }
        Err(_) => {
            let mut b = input.body.to_vec();
            let extra = form_urlencoded::Serializer::new(String::new())
                .append_pair("timestamp", &t)
                .append_pair("token", token)
                .append_pair("signature", &sig)
                .finish();
            if !b.is_empty() {
                b.push(b'&');
            }
            b.extend_from_slice(extra.as_bytes());
            b
        }
    };
    Ok(Signed {
        headers: Vec::new(),
        body: Some(body),
    })
}
