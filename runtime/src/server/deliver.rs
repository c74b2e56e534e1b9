//! The durable part of a delivery, once its signature is checked and its body parsed: dedup, the
//! flow up to its answer, storing, answering (see [`crate::durable`]).
//!
//! 1. The dedup key ([`crate::durable::dedup`]): a key the store already has is answered with the
//!    stored answer (header `X-Hookflow-Duplicate: true`) and the flow does not run.
//! 2. The flow runs until it answers ([`crate::engine::Engine::start`]).
//! 3. With work after the answer: 503 `overloaded` (with `Retry-After`) when too much work is
//!    pending; else the delivery, its work and its path so far are committed, and only then is
//!    the answer sent. A failed commit is 503 `store_unavailable` (with `Retry-After`): never a
//!    2xx for something not stored.
//! 4. Without work: the answer is sent at once and the delivery recorded in the background.
//!
//! Only answers below 500 are replayed to repeats: a delivery the flow answered with a 5xx (or
//! failed on) is stored under a key of its own, so the sender's retry runs the flow again.

use super::error::{error_body, ApiError};
use super::request::Verdict;
use super::{AppState, LogLine, DELIVERY_ID_HEADER};
use crate::__gen::{Event, FlowDef, Response as FlowResponse, TriggerDef, Value};
use crate::config::Tenant;
use crate::durable::settings::Record;
use crate::durable::{codec, dedup, trace_records};
use crate::engine::{DeliveryId as EventId, EngineError, Failed};
use crate::store::{self, Answer, DeliveryId, InsertOutcome, NewDelivery, TraceRecord};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use std::time::Instant;

/// The header that marks an answer replayed from the store for a repeated delivery.
pub const DUPLICATE_HEADER: &str = "x-hookflow-duplicate";

/// A verified delivery, ready for its flow.
pub(super) struct Verified<'a> {
    pub tenant: &'a Tenant,
    pub event_type: &'a str,
    pub flow: &'static FlowDef,
    pub trigger: &'static TriggerDef,
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
    pub payload: Value,
    pub verdict: &'a Verdict,
    /// The signature algorithm that checked it, if any (`stripe` takes the event id from the body).
    pub algorithm: Option<&'a str>,
}

pub(super) async fn deliver(
    state: &AppState,
    config: &crate::config::Config,
    v: Verified<'_>,
    line: &mut LogLine,
) -> Result<Response, ApiError> {
    let durable = &state.durable;
    let settings = &config.durable;
    let retry_after = settings.retry_after_seconds;
    let tenant = v.tenant.as_str();
    let received_at_ms = store::now_ms();
    let id = DeliveryId::new_random();
    let identity = dedup::identify(
        settings.dedup.rule(v.event_type),
        v.algorithm == Some("stripe"),
        &dedup::Incoming {
            tenant,
            event_type: v.event_type,
            headers: v.headers,
            payload: &v.payload,
            body: v.body,
        },
        &id.0,
    );
    let event_id = identity
        .sender_id
        .clone()
        .or_else(|| EventId::from_sender(&id.0))
        .unwrap_or_else(EventId::random);
    if line.delivery_id.is_none() {
        crate::logging::record_delivery_id(event_id.as_str());
    }
    line.delivery_id = Some(event_id.clone());

    let unavailable = |line: &mut LogLine, e: store::StoreError| {
        line.detail = Some(format!("store: {e}"));
        ApiError::StoreUnavailable { retry_after }
    };
    match durable.existing(&identity.dedup_key).await {
        Ok(Some(answer)) => return Ok(duplicate(answer.as_ref(), &event_id, line)),
        Ok(None) => {}
        Err(e) => return Err(unavailable(line, e)),
    }

    let event = Event::new(
        tenant,
        v.event_type,
        event_id.as_str(),
        super::request::flow_headers(v.headers),
        v.payload,
    );
    let run_started = Instant::now();
    let started = state.engine.start(v.flow, v.trigger.target, event).await;
    crate::metrics::flow_run(
        v.flow.name,
        crate::metrics::Phase::Answer,
        run_started.elapsed(),
    );
    let verdict = match v.verdict {
        Verdict::Valid { .. } => store::Verdict::Valid,
        Verdict::NotConfigured => store::Verdict::Unchecked,
    };
    let new = |dedup_key: String, answer: Answer, trace: Vec<TraceRecord>| NewDelivery {
        id: id.clone(),
        event_id: event_id.to_string(),
        dedup_key,
        tenant: tenant.to_string(),
        event_type: v.event_type.to_string(),
        flow: v.flow.name.to_string(),
        received_at_ms,
        headers: v
            .headers
            .iter()
            .map(|(k, val)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(val.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: v.body.clone(),
        verdict,
        answer: Some(answer),
        build_id: durable.build_id().to_string(),
        replay_of: None,
        lease: None,
        work: Vec::new(),
        trace,
    };
    let own_key = || dedup::unique_key(tenant, v.event_type, &id.0);
    let started = match started {
        Ok(s) => s,
        Err(failed) => {
            line.detail = Some(failed.error.to_string());
            let err = ApiError::Flow {
                delivery_id: event_id.to_string(),
            };
            // Kept for `deliveries show`, under a key of its own: the sender's retry runs again.
            let answer = Answer {
                status: err.status().as_u16(),
                headers: vec![("content-type".into(), "application/json".into())],
                body: error_body(err.code(), &err.to_string()).into_bytes(),
            };
            durable
                .record(new(own_key(), answer, failed_trace(v.flow, &failed)))
                .await;
            return Err(err);
        }
    };
    let answer = answer_of(&started.response, &event_id);
    let key = if answer.status < 500 {
        identity.dedup_key
    } else {
        own_key()
    };
    if started.work.is_empty() {
        let response = respond(Some(&answer), false);
        // Built only when it is written: the copy of the body and headers is the larger part
        // of what a delivery costs besides its flow.
        if settings.record == Record::All || answer.status >= 500 {
            let d = new(key, answer, trace_records(Some(v.flow), &started.trace));
            durable.record(d).await;
        }
        return Ok(response);
    }
    let mut d = new(key, answer, trace_records(Some(v.flow), &started.trace));
    if durable.over_limit(settings.max_pending_work) {
        line.detail = Some(format!(
            "more than max_pending_work ({}) work items pending",
            settings.max_pending_work
        ));
        return Err(ApiError::Overloaded { retry_after });
    }
    d.work = match codec::encode_all(&started.work) {
        Ok(w) => w,
        Err(e) => {
            line.detail = Some(e.to_string());
            return Err(ApiError::StoreUnavailable { retry_after });
        }
    };
    // Stored already claimed by this process when its workers have room: they run it from
    // memory as soon as it is committed.
    let handoff = started
        .base
        .as_ref()
        .and_then(|_| state.handoff.reserve(d.work.len()));
    d.lease = handoff.as_ref().map(|r| r.lease.clone());
    let ids: Vec<_> = d.work.iter().map(|w| w.id.clone()).collect();
    let answer = d.answer.clone();
    // On a task of its own: if the caller goes away (or the request times out) while the commit
    // is in flight, the commit still completes and claimed work is still handed over; dropping
    // this future half-way would leave it claimed by nobody until the next start.
    let (durable, workers, work, base) = (
        durable.clone(),
        state.handoff.clone(),
        started.work,
        started.base,
    );
    let event = event_id.to_string();
    let committed = tokio::spawn(async move {
        let out = durable.commit(d, handoff.is_some()).await;
        if let (Ok(InsertOutcome::Inserted), Some(r), Some(base)) = (&out, handoff, base) {
            workers.dispatch(r, ids.into_iter().zip(work).collect(), base, &event);
        }
        out
    })
    .await
    .unwrap_or_else(|e| {
        Err(store::StoreError::Db(format!(
            "the commit task failed: {e}"
        )))
    });
    match committed {
        Ok(InsertOutcome::Inserted) => Ok(respond(answer.as_ref(), false)),
        // The same delivery arrived twice at once and the other one was stored first.
        Ok(InsertOutcome::Duplicate { answer, .. }) => {
            Ok(duplicate(answer.as_ref(), &event_id, line))
        }
        Err(e) => Err(unavailable(line, e)),
    }
}

/// The path of a flow that failed before answering, the failed node last. A failure outside
/// any node (a start node the flow lacks) has no step of its own: it is recorded as one.
fn failed_trace(flow: &FlowDef, failed: &Failed) -> Vec<TraceRecord> {
    let mut trace = trace_records(Some(flow), &failed.trace);
    if trace.last().is_none_or(|s| s.outcome != "failed") {
        if let EngineError::Flow(f) = &failed.error {
            trace.push(TraceRecord {
                flow: f.flow.to_string(),
                node: f.node.to_string(),
                outcome: "failed".to_string(),
                duration_us: None,
                error: Some(f.message.clone()),
            });
        }
    }
    trace
}

/// The flow's answer as it goes on the wire (and into the store): its status (500 if invalid),
/// its valid headers, a JSON content type unless it set one, the delivery id header, the body.
pub(super) fn answer_of(r: &FlowResponse, event_id: &EventId) -> Answer {
    let status = if StatusCode::from_u16(r.status).is_ok() {
        r.status
    } else {
        tracing::error!(
            status = r.status,
            "flow answered an invalid status; sending 500"
        );
        500
    };
    let mut headers: Vec<(String, String)> = Vec::with_capacity(r.headers.len() + 2);
    for (name, value) in &r.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(_)) => headers.push((n.as_str().to_string(), value.clone())),
            _ => tracing::warn!(
                header = %name,
                "flow answered a header that is not valid HTTP; left out"
            ),
        }
    }
    if !headers
        .iter()
        .any(|(n, _)| n == header::CONTENT_TYPE.as_str())
    {
        headers.push((
            header::CONTENT_TYPE.as_str().to_string(),
            "application/json".to_string(),
        ));
    }
    headers.push((DELIVERY_ID_HEADER.to_string(), event_id.to_string()));
    Answer {
        status,
        headers,
        body: r.body.to_bytes().to_vec(),
    }
}

/// An answer as an HTTP response (a stored one replayed, when `duplicate`).
fn respond(answer: Option<&Answer>, duplicate: bool) -> Response {
    let Some(a) = answer else {
        // Stored without an answer (a replay): the default answer.
        let mut resp = Response::new(Body::from(r#"{"ok":true}"#));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if duplicate {
            resp.headers_mut().insert(
                HeaderName::from_static(DUPLICATE_HEADER),
                HeaderValue::from_static("true"),
            );
        }
        return resp;
    };
    let mut resp = Response::new(Body::from(a.body.clone()));
    *resp.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    let headers = resp.headers_mut();
    for (n, v) in &a.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(n, v);
        }
    }
    if duplicate {
        headers.insert(
            HeaderName::from_static(DUPLICATE_HEADER),
            HeaderValue::from_static("true"),
        );
    }
    resp
}

/// The stored answer of the first delivery, marked as a duplicate's; the log line names the
/// first delivery's id (its answer's `X-Hookflow-Delivery`).
fn duplicate(answer: Option<&Answer>, event_id: &EventId, line: &mut LogLine) -> Response {
    line.detail = Some("duplicate: answered with the stored answer, the flow did not run".into());
    let first = answer
        .and_then(|a| a.headers.iter().find(|(n, _)| n == DELIVERY_ID_HEADER))
        .and_then(|(_, v)| EventId::from_sender(v));
    if let Some(first) = first {
        line.delivery_id = Some(first);
    }
    let mut resp = respond(answer, true);
    if !resp.headers().contains_key(DELIVERY_ID_HEADER) {
        if let Ok(v) = HeaderValue::from_str(event_id.as_str()) {
            resp.headers_mut()
                .insert(HeaderName::from_static(DELIVERY_ID_HEADER), v);
        }
    }
    resp
}
