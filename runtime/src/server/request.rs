//! What arrives at the webhook endpoint, before and after its signature check.
//!
//! An [`Unverified`] request becomes a [`Verified`] one only through [`Unverified::verify`]; the
//! body is parsed into the flow's `event.payload` only from a [`Verified`] request, so nothing can
//! run a flow on a body whose signature was not checked (or not configured to be).

use super::error::ApiError;
use crate::__gen::{Headers, Map, Value};
use crate::engine::DeliveryId;
use crate::signature::{SignedRequest, Verifier, VerifyError};
use axum::http::HeaderMap;
use bytes::Bytes;

/// Headers that carry the sender's own delivery id, in the order they are tried.
pub const DELIVERY_ID_HEADERS: &[&str] = &[
    "x-github-delivery",
    "webhook-id",
    "svix-id",
    "x-shopify-webhook-id",
    "x-twilio-idempotency-token",
    "twitch-eventsub-message-id",
    "x-gitlab-event-uuid",
    "linear-delivery",
    "x-gitea-delivery",
];

/// A request as received: nothing about it is trusted yet.
#[derive(Debug)]
pub struct Unverified<'a> {
    pub method: &'a str,
    /// `public_base_url` + path and query (some senders sign the URL).
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

/// The signature verdict of a request that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The configured check accepted it.
    Valid { algorithm: String },
    /// No check is configured for this event type.
    NotConfigured,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Valid { algorithm } => write!(f, "valid:{algorithm}"),
            Verdict::NotConfigured => f.write_str("none"),
        }
    }
}

/// A request whose signature was checked (or needs none). Only [`Unverified::verify`] builds it.
#[derive(Debug)]
pub struct Verified {
    body: Bytes,
    verdict: Verdict,
}

impl Unverified<'_> {
    /// Checks the signature on the raw body bytes with the event type's verifier, if any.
    pub fn verify(self, verifier: Option<&Verifier>, now: u64) -> Result<Verified, VerifyError> {
        let verdict = match verifier {
            None => Verdict::NotConfigured,
            Some(v) => {
                v.verify(&SignedRequest {
                    method: self.method,
                    url: self.url,
                    headers: self.headers,
                    body: &self.body,
                    now,
                })?;
                Verdict::Valid {
                    algorithm: v.algorithm().to_string(),
                }
            }
        };
        Ok(Verified {
            body: self.body,
            verdict,
        })
    }
}

impl Verified {
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// The raw body, as received (what the store keeps, and what dedup hashes).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as the flow's `event.payload`: JSON parsed; `application/x-www-form-urlencoded`
    /// an object (GitHub's form mode, a lone `payload` field, becomes the JSON inside it);
    /// anything else a string. Without a Content-Type, JSON if it parses, else a string.
    pub fn payload(&self, content_type: Option<&str>) -> Result<Value, ApiError> {
        parse_payload(content_type, &self.body)
    }

    /// [`Self::payload`] for a flow that reads only some top-level fields (`keep` says which):
    /// a JSON object body is parsed into those fields only, the others checked and skipped
    /// without being built. Every other body is parsed as by [`Self::payload`], and a body
    /// [`Self::payload`] would refuse is refused the same way.
    pub fn payload_fields(
        &self,
        content_type: Option<&str>,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Value, ApiError> {
        parse_payload_keeping(content_type, &self.body, Some(keep))
    }
}

/// A JSON object with only the top-level fields `keep` accepts (later duplicates win, as in a
/// full parse). Invalid UTF-8 anywhere is refused, as a full parse refuses it.
fn json_fields(body: &[u8], keep: &dyn Fn(&str) -> bool) -> Result<Value, ApiError> {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
    use std::borrow::Cow;

    struct Fields<'k>(&'k dyn Fn(&str) -> bool);
    impl<'de> Visitor<'de> for Fields<'_> {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                if (self.0)(&k) {
                    out.insert(k.into_owned(), map.next_value::<Value>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Value::Object(out))
        }
    }
    impl<'de> DeserializeSeed<'de> for Fields<'_> {
        type Value = Value;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    /// A key, borrowed from the body unless it has escapes.
    struct Key<'de>(Cow<'de, str>);
    impl<'de> serde::Deserialize<'de> for Key<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a key")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(v)))
                }
            }
            d.deserialize_str(V)
        }
    }

    let malformed = |e: &dyn std::fmt::Display| ApiError::MalformedJson(e.to_string());
    // Skipped strings are not decoded: check the whole body once (a full parse would fail on
    // invalid UTF-8 in any string).
    std::str::from_utf8(body).map_err(|e| malformed(&e))?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let v = Fields(keep)
        .deserialize(&mut de)
        .map_err(|e| malformed(&e))?;
    de.end().map_err(|e| malformed(&e))?;
    Ok(v)
}

/// The body as `event.payload` for a `Content-Type` (see [`Verified::payload`]); also used to
/// rebuild the payload of a stored delivery for a replay.
pub fn parse_payload(content_type: Option<&str>, body: &[u8]) -> Result<Value, ApiError> {
    parse_payload_keeping(content_type, body, None)
}

/// [`parse_payload`]; with `keep`, a JSON object body gets only the top-level fields `keep`
/// accepts ([`json_fields`]).
pub(crate) fn parse_payload_keeping(
    content_type: Option<&str>,
    body: &[u8],
    keep: Option<&dyn Fn(&str) -> bool>,
) -> Result<Value, ApiError> {
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    let blank = body.iter().all(u8::is_ascii_whitespace);
    match mime.as_deref() {
        Some(m) if m == "application/json" || m.ends_with("+json") => {
            let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
            match keep {
                _ if blank => Ok(Value::Null),
                Some(keep) if object => json_fields(body, keep),
                _ => json(body),
            }
        }
        Some("application/x-www-form-urlencoded") => form(body),
        None if blank => Ok(Value::Null),
        None => Ok(serde_json::from_slice(body).unwrap_or_else(|_| text(body))),
        Some(_) => Ok(text(body)),
    }
}

fn json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

fn text(body: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(body).into_owned())
}

fn form(body: &[u8]) -> Result<Value, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let [(k, v)] = pairs.as_slice() {
        if k == "payload" {
            return serde_json::from_str(v)
                .map_err(|e| ApiError::MalformedJson(format!("in the form field `payload`: {e}")));
        }
    }
    let mut map = Map::new();
    for (k, v) in pairs {
        match map.get_mut(&k) {
            None => {
                map.insert(k, Value::String(v));
            }
            Some(Value::Array(items)) => items.push(Value::String(v)),
            Some(first) => {
                let prev = first.take();
                *first = Value::Array(vec![prev, Value::String(v)]);
            }
        }
    }
    Ok(Value::Object(map))
}

/// The sender's delivery id from its headers (see [`DELIVERY_ID_HEADERS`]), if any: the first
/// header of that list present with a sane value (the first value of a repeated header).
///
/// One pass over the request's headers, comparing names, instead of a lookup per candidate
/// name: each `HeaderMap::get(&str)` parses and hashes the name, and this runs on every request.
pub fn sender_delivery_id(headers: &HeaderMap) -> Option<DeliveryId> {
    let mut best: Option<(usize, DeliveryId)> = None;
    let mut seen = 0u32; // names whose first value was looked at
    for (name, value) in headers {
        let Some(rank) = DELIVERY_ID_HEADERS.iter().position(|h| *h == name.as_str()) else {
            continue;
        };
        if seen & (1 << rank) != 0 || best.as_ref().is_some_and(|(b, _)| *b <= rank) {
            continue;
        }
        seen |= 1 << rank;
        if let Some(id) = value.to_str().ok().and_then(DeliveryId::from_sender) {
            best = Some((rank, id));
        }
    }
    best.map(|(_, id)| id)
}

/// The sender's delivery id (headers, or a Stripe event's `evt_...` id in the body), else a fresh
/// random one.
pub fn delivery_id(headers: &HeaderMap, payload: &Value) -> DeliveryId {
    sender_delivery_id(headers)
        .or_else(|| {
            payload
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| id.starts_with("evt_"))
                .and_then(DeliveryId::from_sender)
        })
        .unwrap_or_else(DeliveryId::random)
}

/// The request headers as flows see them (lower-cased names, values as text).
pub fn flow_headers(headers: &HeaderMap) -> Headers {
    let mut out = Headers::with_capacity(headers.len());
    for (name, value) in headers {
        // `HeaderName`s are lower case; most values are visible ASCII.
        let value = match value.to_str() {
            Ok(v) => v.to_owned(),
            Err(_) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
        };
        out.push_lower(name.as_str().to_owned(), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn only<'a>(fields: &'a [&'a str]) -> impl Fn(&str) -> bool + 'a {
        move |k| fields.contains(&k)
    }

    #[test]
    fn a_json_object_is_parsed_into_the_fields_a_flow_reads() {
        let body = br#"{"commits": [{"id": "a"}, {"id": "b"}], "repository": {"name": "x",
            "topics": ["a", {"deep": [1, 2.5e3, null, true]}]}, "ref": "refs/heads/main",
            "w\u0069th_escape": 1, "ref": "refs/heads/dev"}"#;
        let full = json(body);
        let commits = full.map(|f| f["commits"].clone());
        assert_eq!(commits, Ok(json!([{"id": "a"}, {"id": "b"}])));
        let wanted = only(&["commits", "ref", "with_escape", "absent"]);
        assert_eq!(
            json_fields(body, &wanted),
            commits.map(|c| json!({"commits": c, "ref": "refs/heads/dev", "with_escape": 1})),
            "the kept fields as a full parse has them (the last of duplicates)"
        );
        assert_eq!(json_fields(body, &only(&[])), Ok(json!({})));
    }

    #[test]
    fn a_body_a_full_parse_refuses_is_refused_with_only_some_fields() {
        for bad in [
            &br#"{"a": 1, "skipped": [1, 2,]}"#[..],
            br#"{"a": 1, "skipped": {"x" 1}}"#,
            br#"{"a": 1} trailing"#,
            b"{\"a\": 1, \"skipped\": \"\xff\xfe\"}",
            br#"{"a": 1, "skipped": "unterminated}"#,
        ] {
            assert!(serde_json::from_slice::<Value>(bad).is_err());
            assert!(
                matches!(
                    json_fields(bad, &only(&["a"])),
                    Err(ApiError::MalformedJson(_))
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn only_json_objects_are_parsed_in_part() {
        let v = |ct: &str, body: &str| {
            Verified {
                body: Bytes::from(body.to_owned()),
                verdict: Verdict::NotConfigured,
            }
            .payload_fields(Some(ct), &only(&["a"]))
        };
        assert_eq!(
            v("application/json", r#" {"a": 1, "b": 2}"#),
            Ok(json!({"a": 1}))
        );
        assert_eq!(v("application/json", "[1, 2]"), Ok(json!([1, 2])));
        assert_eq!(
            v("text/plain", r#"{"a": 1, "b": 2}"#),
            Ok(json!(r#"{"a": 1, "b": 2}"#))
        );
        assert_eq!(
            v("application/x-www-form-urlencoded", "a=1&b=2"),
            Ok(json!({"a": "1", "b": "2"}))
        );
        assert!(matches!(
            v("application/json", "{oops"),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn bodies_by_content_type() {
        let p = |ct: Option<&str>, b: &str| parse_payload(ct, b.as_bytes());
        assert_eq!(
            p(Some("application/json"), r#"{"a":1}"#),
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            p(Some("application/vnd.x+json; charset=utf-8"), "[1]"),
            Ok(json!([1]))
        );
        assert_eq!(p(Some("application/json"), ""), Ok(Value::Null));
        assert!(matches!(
            p(Some("application/json"), "{"),
            Err(ApiError::MalformedJson(_))
        ));
        assert_eq!(p(Some("text/plain"), "hi"), Ok(json!("hi")));
        assert_eq!(p(None, r#"{"a":1}"#), Ok(json!({"a": 1})));
        assert_eq!(p(None, "not json"), Ok(json!("not json")));
        assert_eq!(
            p(Some("application/x-www-form-urlencoded"), "a=1&b=x+y&a=2"),
            Ok(json!({"a": ["1", "2"], "b": "x y"}))
        );
        assert_eq!(
            p(
                Some("application/x-www-form-urlencoded"),
                "payload=%7B%22zen%22%3A1%7D"
            ),
            Ok(json!({"zen": 1}))
        );
        assert!(matches!(
            p(Some("application/x-www-form-urlencoded"), "payload=%7B"),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn delivery_id_prefers_the_sender() {
        let mut h = HeaderMap::new();
        assert_eq!(delivery_id(&h, &json!({"id": "evt_1"})).as_str(), "evt_1");
        assert_eq!(delivery_id(&h, &json!({"id": "x"})).as_str().len(), 32);
        h.insert(
            "x-github-delivery",
            "abc-123"
                .parse()
                .unwrap_or(axum::http::HeaderValue::from_static("")),
        );
        assert_eq!(delivery_id(&h, &json!({"id": "evt_1"})).as_str(), "abc-123");
    }

    #[test]
    fn sender_delivery_id_follows_the_list_order_and_skips_bad_values() {
        let v = axum::http::HeaderValue::from_static;
        let mut h = HeaderMap::new();
        h.append("svix-id", v("msg_2"));
        h.append("webhook-id", v("  "));
        assert_eq!(
            sender_delivery_id(&h).as_ref().map(DeliveryId::as_str),
            Some("msg_2")
        );
        h.append("x-github-delivery", v("gh-1"));
        assert_eq!(
            sender_delivery_id(&h).as_ref().map(DeliveryId::as_str),
            Some("gh-1")
        );
        // Only the first value of a repeated header counts.
        let mut h = HeaderMap::new();
        h.append("webhook-id", v(""));
        h.append("webhook-id", v("second"));
        h.append("linear-delivery", v("lin-1"));
        assert_eq!(
            sender_delivery_id(&h).as_ref().map(DeliveryId::as_str),
            Some("lin-1")
        );
        assert!(DELIVERY_ID_HEADERS.len() <= 32, "`seen` is a u32 bit set");
    }
}
