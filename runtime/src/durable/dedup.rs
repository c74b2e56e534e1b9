//! A delivery's identity: the sender's delivery id, and the dedup key the store keeps unique.
//!
//! The sender's id comes from the event type's rule ([`DedupRule`]): the first of its headers
//! that is present (read from the request as received, before any redaction), else a top-level
//! field of the JSON body (`payload_field`; `id` for event types checked with the `stripe`
//! algorithm), else a Stripe event id (`evt_...`) in the body's `id`. The key is scoped by tenant
//! and event type, so that one tenant's ids can never suppress another's deliveries:
//! `{tenant}/{event_type}/id:{sender id}`. Without a sender id, the key is a SHA-256 of tenant,
//! event type and body (`.../sha256:{hex}`), or, with `body_hash: false`, unique to the delivery.

use super::settings::DedupRule;
use crate::__gen::Value;
use crate::engine::DeliveryId;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

/// Who a delivery is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The sender's delivery id, if it sent one.
    pub sender_id: Option<DeliveryId>,
    /// The key the store deduplicates on.
    pub dedup_key: String,
}

/// The sender's id from the rule's headers or the body.
pub fn sender_id(
    rule: &DedupRule,
    stripe_signed: bool,
    headers: &HeaderMap,
    payload: &Value,
) -> Option<DeliveryId> {
    let from_headers = rule
        .headers
        .iter()
        .filter_map(|h| headers.get(h.as_str()))
        .filter_map(|v| v.to_str().ok())
        .find_map(DeliveryId::from_sender);
    let field = rule
        .payload_field
        .as_deref()
        .or(stripe_signed.then_some("id"));
    let from_field = || {
        field
            .and_then(|f| payload.get(f))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .and_then(|s| DeliveryId::from_sender(&s))
    };
    let stripe_event = || {
        payload
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| id.starts_with("evt_"))
            .and_then(DeliveryId::from_sender)
    };
    from_headers.or_else(from_field).or_else(stripe_event)
}

/// What identifies a delivery.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub tenant: &'a str,
    pub event_type: &'a str,
    /// As received (not redacted).
    pub headers: &'a HeaderMap,
    pub payload: &'a Value,
    /// The raw body.
    pub body: &'a [u8],
}

/// The identity of a delivery; `unique` names it when it has neither a sender id nor a body hash
/// rule (hookflow's own id for it).
pub fn identify(
    rule: &DedupRule,
    stripe_signed: bool,
    incoming: &Incoming<'_>,
    unique: &str,
) -> Identity {
    let Incoming {
        tenant,
        event_type,
        headers,
        payload,
        body,
    } = *incoming;
    let sender_id = sender_id(rule, stripe_signed, headers, payload);
    let dedup_key = match &sender_id {
        Some(id) => format!("{tenant}/{event_type}/id:{id}"),
        None if rule.body_hash => format!(
            "{tenant}/{event_type}/sha256:{}",
            body_hash(tenant, event_type, body)
        ),
        None => unique_key(tenant, event_type, unique),
    };
    Identity {
        sender_id,
        dedup_key,
    }
}

/// A key no other delivery has (replays, deliveries whose answer must not be replayed).
pub fn unique_key(tenant: &str, event_type: &str, id: &str) -> String {
    format!("{tenant}/{event_type}/new:{id}")
}

/// SHA-256 over the length-prefixed tenant, event type and body, hex.
fn body_hash(tenant: &str, event_type: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [tenant.as_bytes(), event_type.as_bytes(), body] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule() -> DedupRule {
        crate::durable::settings::DurableSettings::default()
            .dedup
            .default
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, axum::http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn sender_ids_by_header_then_body() {
        let id = |h: &HeaderMap, p: &Value, stripe: bool| {
            sender_id(&rule(), stripe, h, p).map(|d| d.to_string())
        };
        let none = HeaderMap::new();
        assert_eq!(
            id(&headers(&[("x-github-delivery", "g-1")]), &json!({}), false),
            Some("g-1".into())
        );
        assert_eq!(
            id(
                &headers(&[("webhook-id", "msg_1"), ("svix-id", "x")]),
                &json!({}),
                false
            ),
            Some("msg_1".into())
        );
        assert_eq!(
            id(
                &headers(&[("x-twilio-idempotency-token", "tw-1")]),
                &json!({}),
                false
            ),
            Some("tw-1".into())
        );
        assert_eq!(
            id(&none, &json!({"id": "evt_9"}), false),
            Some("evt_9".into())
        );
        assert_eq!(id(&none, &json!({"id": "abc"}), false), None);
        assert_eq!(id(&none, &json!({"id": "abc"}), true), Some("abc".into()));
        assert_eq!(id(&none, &json!({"id": 42}), true), Some("42".into()));
        assert_eq!(
            id(&headers(&[("x-request-id", "r")]), &json!({}), false),
            None
        );
        let mut custom = rule();
        custom.headers = vec!["x-order-id".into()];
        custom.payload_field = Some("uuid".into());
        assert_eq!(
            sender_id(
                &custom,
                false,
                &headers(&[("x-github-delivery", "g")]),
                &json!({"uuid": "u-1"})
            )
            .map(|d| d.to_string()),
            Some("u-1".into())
        );
    }

    fn key(
        rule: &DedupRule,
        tenant: &str,
        headers: &HeaderMap,
        body: &[u8],
        unique: &str,
    ) -> Identity {
        let payload = serde_json::from_slice(body).unwrap_or(Value::Null);
        let incoming = Incoming {
            tenant,
            event_type: "push",
            headers,
            payload: &payload,
            body,
        };
        identify(rule, false, &incoming, unique)
    }

    #[test]
    fn keys_are_scoped_and_hash_the_body() {
        let h = headers(&[("x-github-delivery", "g-1")]);
        let a = key(&rule(), "acme", &h, b"{}", "n1");
        assert_eq!(a.dedup_key, "acme/push/id:g-1");
        let b = key(&rule(), "beta", &h, b"{}", "n2");
        assert_ne!(a.dedup_key, b.dedup_key, "tenants never share keys");
        let none = HeaderMap::new();
        let x = key(&rule(), "acme", &none, b"{\"n\":1}", "n3");
        let y = key(&rule(), "acme", &none, b"{\"n\":1}", "n4");
        let z = key(&rule(), "acme", &none, b"{\"n\":2}", "n5");
        assert!(x.dedup_key.starts_with("acme/push/sha256:"));
        assert_eq!(x, y, "same body, same key");
        assert_ne!(x.dedup_key, z.dedup_key);
        // Length prefixes: moving bytes between tenant and event type changes the key.
        assert_ne!(body_hash("ab", "c", b""), body_hash("a", "bc", b""));
        let mut off = rule();
        off.body_hash = false;
        let u = key(&off, "acme", &none, b"{}", "n6");
        assert_eq!(u.dedup_key, "acme/push/new:n6");
    }
}
