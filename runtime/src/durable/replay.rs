//! `hookflow deliveries replay ID`: run a stored delivery's flow again, as a new delivery.
//!
//! The replay goes through the store, not through a running server's HTTP endpoint: it is
//! stored as a new delivery (`replay_of` = the original, a fresh id, a dedup key of its own, the
//! original's tenant, event type, headers and body) with one work item, a fresh run of the flow
//! that handles the event type, from its trigger. The workers of the `serve` using that state
//! directory run it like any other work: with retries, dead letters, a recorded path and
//! attempts. So a replay needs no running server to be accepted (it runs when one starts), never
//! needs the flows' secrets in the shell that asks for it, and is not an HTTP request (it is not
//! answered to anyone, and its signature is not checked again: it was when the original arrived).
//!
//! What the replayed flow sees differs from the original run in two ways: `event.delivery_id`
//! is the replay's own id (so outgoing calls carry new idempotency keys, and downstream services
//! treat them as new requests), and secret-bearing headers read `[redacted]` (they were never
//! stored).

use super::{codec, dedup};
use crate::__gen::{Event, Headers, Registry};
use crate::store::{
    now_ms, DeliveryDetail, DeliveryId, InsertOutcome, NewDelivery, Store, StoreError,
};

/// Why a delivery cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no compiled flow is triggered by the event type `{0}` any more (`hookflow flows` lists them)")]
    NoFlow(String),
    #[error("the stored body cannot be read as the flow's payload: {0}")]
    Payload(String),
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The stored replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The new delivery's id.
    pub id: DeliveryId,
    /// The flow that will run.
    pub flow: &'static str,
}

/// Stores a replay of `original` for the workers.
pub async fn replay<S: Store>(
    store: &S,
    flows: &'static Registry,
    original: &DeliveryDetail,
    build_id: &str,
) -> Result<Replayed, ReplayError> {
    let s = &original.summary;
    let (flow, trigger) = flows
        .for_event(&s.event_type)
        .ok_or_else(|| ReplayError::NoFlow(s.event_type.clone()))?;
    let content_type = original
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    let payload = crate::server::request::parse_payload(content_type, &original.body)
        .map_err(|e| ReplayError::Payload(e.to_string()))?;
    let id = DeliveryId::new_random();
    let mut headers = Headers::new();
    for (k, v) in &original.headers {
        headers.push(k, v);
    }
    let event = Event::new(&s.tenant, &s.event_type, &id.0, headers, payload);
    let work = codec::encode(&codec::fresh_run(flow, trigger.target, event))?;
    let d = NewDelivery {
        id: id.clone(),
        event_id: id.0.clone(),
        dedup_key: dedup::unique_key(&s.tenant, &s.event_type, &id.0),
        tenant: s.tenant.clone(),
        event_type: s.event_type.clone(),
        flow: flow.name.to_string(),
        received_at_ms: now_ms(),
        headers: original.headers.clone(),
        body: original.body.clone().into(),
        verdict: s.verdict,
        answer: None,
        build_id: build_id.to_string(),
        replay_of: Some(s.id.clone()),
        lease: None,
        work: vec![work],
        trace: Vec::new(),
    };
    match store.insert(d).await? {
        InsertOutcome::Inserted => Ok(Replayed {
            id,
            flow: flow.name,
        }),
        // A fresh random id cannot collide; report it as the store error it would be.
        InsertOutcome::Duplicate { delivery_id, .. } => Err(ReplayError::Store(StoreError::Db(
            format!("the replay's fresh key is already used by {delivery_id}"),
        ))),
    }
}
