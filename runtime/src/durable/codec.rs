//! The stored form of work after the answer: [`Work`] to [`NewWork`] and back.
//!
//! A continuation keeps what of the run's [`Ctx`] the store does not hold already (the outputs
//! of the nodes that ran, the error in scope, the run's path, flows it asked to start, the
//! payload of a flow started by `async`) as JSON with a version field `v`; a flow started by
//! `async` keeps its payload and path the same way. The store treats both as opaque bytes.
//!
//! The delivery as the flow saw it (tenant, event type, delivery id, headers) is the stored
//! delivery's, which every claimed item comes with ([`WorkBase`]): a resumed run takes it from
//! there, with the headers that may carry secrets redacted as stored
//! ([`crate::store::redact_headers`]), so it sees `[redacted]` where the live one saw a
//! signature or token. The payload of the flow a delivery triggered (the run whose path is `""`)
//! is the delivery's body, parsed by its `Content-Type` as when it arrived.
//!
//! Version history: 1 — the first, with the delivery (`event`: tenant, event type, id,
//! redacted headers, and the payload of an `async` run) repeated in every continuation; 2 —
//! without it (the headers were most of a continuation's bytes), the payload of an `async` run
//! at the top level. A reader must accept every version it was ever written in; a newer version
//! than it knows is an error (the work goes dead with that error, and `deliveries retry-dead`
//! runs it again under a hookflow that knows it).

use crate::__gen::{Ctx, Event, FlowDef, Headers, NodeIx, Registry, Spawn, Value};
use crate::engine::Work;
use crate::store::{is_secret_header, ClaimedWork, NewWork, WorkBase, WorkId, WorkKind, REDACTED};
use serde::{Deserialize, Serialize};

/// The version this build writes.
pub const STATE_VERSION: u32 = 2;

/// Why stored work cannot be turned back into [`Work`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("stored state version {0} is newer than this hookflow understands (it writes {STATE_VERSION})")]
    UnknownVersion(u32),
    #[error("the stored work names the flow `{0}`, which is not compiled into this binary")]
    UnknownFlow(String),
    #[error("the stored state does not fit flow `{flow}`: {reason}")]
    Mismatch { flow: String, reason: String },
    #[error("the stored state cannot be read: {0}")]
    Corrupt(String),
    #[error("the state cannot be written: {0}")]
    Encode(String),
}

/// Version 1's copy of the delivery (read, no longer written).
#[derive(Deserialize)]
struct StoredEvent {
    tenant: Value,
    event_type: Value,
    delivery_id: Value,
    /// `[name, value]` pairs, lower-case names, secrets redacted.
    headers: Vec<(String, String)>,
    /// Absent for the triggered flow's run: its payload is the delivery's body.
    #[serde(default)]
    payload: Option<Value>,
}

#[derive(Serialize, Deserialize)]
struct StoredSpawn {
    flow: String,
    payload: Value,
    path: String,
}

#[derive(Serialize, Deserialize)]
struct StoredCtx {
    v: u32,
    /// Version 1 only.
    #[serde(default, skip_serializing)]
    event: Option<StoredEvent>,
    /// The payload of a flow started by `async`; absent for the triggered flow's run (its payload
    /// is the delivery's body). Version 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload: Option<Value>,
    outputs: Vec<Value>,
    error: Value,
    path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    spawns: Vec<StoredSpawn>,
}

#[derive(Serialize, Deserialize)]
struct StoredStart {
    v: u32,
    payload: Value,
    path: String,
}

/// Only the version, read first so a newer layout is reported as such.
#[derive(Deserialize)]
struct Versioned {
    v: u32,
}

fn headers_from(pairs: &[(String, String)]) -> Headers {
    let mut h = Headers::new();
    for (n, v) in pairs {
        h.push(n, v);
    }
    h
}

/// The stored form of one work item.
pub fn encode(work: &Work) -> Result<NewWork, CodecError> {
    match work {
        Work::Continue { flow, at, ctx } => {
            let stored = StoredCtx {
                v: STATE_VERSION,
                event: None,
                payload: (!ctx.path.is_empty()).then(|| ctx.event.payload.clone()),
                outputs: ctx.outputs.clone(),
                error: ctx.error.clone(),
                path: ctx.path.clone(),
                spawns: ctx
                    .spawns
                    .iter()
                    .map(|s| StoredSpawn {
                        flow: s.flow.to_string(),
                        payload: s.payload.clone(),
                        path: s.path.clone(),
                    })
                    .collect(),
            };
            Ok(NewWork {
                id: WorkId::new_random(),
                flow: flow.to_string(),
                kind: WorkKind::Continue {
                    node: u32::from(*at),
                    state_version: STATE_VERSION,
                    state: to_json(&stored)?,
                },
            })
        }
        Work::Spawn {
            flow,
            payload,
            path,
        } => {
            let stored = StoredStart {
                v: STATE_VERSION,
                payload: payload.clone(),
                path: path.clone(),
            };
            Ok(NewWork {
                id: WorkId::new_random(),
                flow: flow.to_string(),
                kind: WorkKind::Start {
                    payload: to_json(&stored)?,
                },
            })
        }
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(v).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Redacts an event's secret-bearing headers, as its stored form has them: work handed to the
/// workers from memory must see what a run resumed from the store sees.
pub fn redact_event(event: &mut Event) {
    event.headers.redact(is_secret_header, REDACTED);
}

/// [`redact_event`] for the context a work item carries, if any.
pub fn redact_work(work: &mut Work) {
    if let Work::Continue { ctx, .. } = work {
        redact_event(&mut ctx.event);
    }
}

/// Every item's stored form.
pub fn encode_all(work: &[Work]) -> Result<Vec<NewWork>, CodecError> {
    work.iter().map(encode).collect()
}

/// The delivery a flow started by `async` inherits (payload `null`; the engine sets it).
pub fn base_event(base: &WorkBase) -> Event {
    Event::new(
        &base.tenant,
        &base.event_type,
        &base.event_id,
        headers_from(&base.headers),
        Value::Null,
    )
}

/// The delivery's body as `event.payload` for a run of `def`, parsed by its stored
/// `Content-Type`: only the top-level fields the flow reads when it names them, as when the
/// delivery arrived (the rest of a 7 KB GitHub push is skipped, not built).
fn body_payload(base: &WorkBase, def: &FlowDef) -> Result<Value, CodecError> {
    let content_type = base
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    let keep = def
        .payload_fields
        .map(|fields| move |k: &str| fields.contains(&k));
    crate::server::request::parse_payload_keeping(
        content_type,
        &base.body,
        keep.as_ref().map(|k| k as &dyn Fn(&str) -> bool),
    )
    .map_err(|e| CodecError::Corrupt(format!("the stored body: {e}")))
}

fn version(bytes: &[u8]) -> Result<u32, CodecError> {
    serde_json::from_slice::<Versioned>(bytes)
        .map(|v| v.v)
        .map_err(|e| CodecError::Corrupt(e.to_string()))
}

fn flow(flows: &'static Registry, name: &str) -> Result<&'static FlowDef, CodecError> {
    flows
        .flow(name)
        .ok_or_else(|| CodecError::UnknownFlow(name.to_string()))
}

/// A claimed item back as [`Work`] for [`crate::engine::Engine::run_work`].
pub fn decode(claimed: &ClaimedWork, flows: &'static Registry) -> Result<Work, CodecError> {
    let def = flow(flows, &claimed.flow)?;
    match &claimed.kind {
        WorkKind::Continue {
            node,
            state_version,
            state,
        } => {
            let v = version(state)?;
            if v != *state_version {
                return Err(CodecError::Corrupt(format!(
                    "state says version {v}, its row says {state_version}"
                )));
            }
            if v > STATE_VERSION {
                return Err(CodecError::UnknownVersion(v));
            }
            let s: StoredCtx =
                serde_json::from_slice(state).map_err(|e| CodecError::Corrupt(e.to_string()))?;
            let at = NodeIx::try_from(*node)
                .ok()
                .filter(|n| usize::from(*n) < def.nodes.len())
                .ok_or_else(|| CodecError::Mismatch {
                    flow: def.name.to_string(),
                    reason: format!("it has no node {node}"),
                })?;
            if s.outputs.len() != def.nodes.len() {
                return Err(CodecError::Mismatch {
                    flow: def.name.to_string(),
                    reason: format!(
                        "the state has {} node outputs, the flow has {} nodes (was the flow changed since?)",
                        s.outputs.len(),
                        def.nodes.len()
                    ),
                });
            }
            let mut spawns = Vec::with_capacity(s.spawns.len());
            for sp in s.spawns {
                spawns.push(Spawn {
                    flow: flow(flows, &sp.flow)?.name,
                    payload: sp.payload,
                    path: sp.path,
                });
            }
            let mut event = match s.event {
                Some(e) => Event {
                    tenant: e.tenant,
                    event_type: e.event_type,
                    delivery_id: e.delivery_id,
                    payload: e.payload.unwrap_or(Value::Null),
                    headers: headers_from(&e.headers),
                },
                None if v == 1 => {
                    return Err(CodecError::Corrupt("version 1 without `event`".into()))
                }
                None => {
                    let mut e = base_event(&claimed.base);
                    e.payload = s.payload.unwrap_or(Value::Null);
                    e
                }
            };
            if s.path.is_empty() {
                event.payload = body_payload(&claimed.base, def)?;
            }
            let ctx = Ctx {
                event,
                outputs: s.outputs,
                error: s.error,
                spawns,
                trace: Vec::new(),
                path: s.path,
            };
            Ok(Work::Continue {
                flow: def.name,
                at,
                ctx: Box::new(ctx),
            })
        }
        WorkKind::Start { payload } => {
            let v = version(payload)?;
            if v > STATE_VERSION {
                return Err(CodecError::UnknownVersion(v));
            }
            let s: StoredStart =
                serde_json::from_slice(payload).map_err(|e| CodecError::Corrupt(e.to_string()))?;
            Ok(Work::Spawn {
                flow: def.name,
                payload: s.payload,
                path: s.path,
            })
        }
    }
}

/// A fresh run of `flow` from node `at` on `event`, stored as a continuation: how a replay
/// hands a whole flow run to the workers.
pub fn fresh_run(flow: &'static FlowDef, at: NodeIx, event: Event) -> Work {
    Work::Continue {
        flow: flow.name,
        at,
        ctx: Box::new(Ctx::new(event, flow)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__gen::{NodeDef, Yield};
    use crate::store::DeliveryId;

    static FLOW: FlowDef = FlowDef {
        name: "f",
        version: "1",
        file: "f.yaml",
        triggers: &[],
        nodes: &[
            NodeDef {
                id: "a",
                kind: "http_response",
                line: 1,
                edges: &[],
            },
            NodeDef {
                id: "b",
                kind: "script",
                line: 2,
                edges: &[],
            },
        ],
        secrets: &[],
        payload_fields: None,
        run: |_, _| Ok(Yield::Finished),
    };
    static FLOWS: Registry = Registry { flows: &[&FLOW] };

    fn event() -> Event {
        let mut h = Headers::new();
        h.push("X-Hub-Signature-256", "sha256=abc");
        h.push("X-GitHub-Event", "push");
        Event::new("acme", "push", "d-1", h, serde_json::json!({"n": 1}))
    }

    fn claimed(w: NewWork) -> ClaimedWork {
        ClaimedWork {
            id: WorkId("w".into()),
            delivery_id: DeliveryId("d".into()),
            base: WorkBase {
                tenant: "acme".into(),
                body: br#"{"n": 1}"#.to_vec(),
                event_type: "push".into(),
                event_id: "d-1".into(),
                // As the store keeps them: redacted.
                headers: vec![
                    ("x-hub-signature-256".into(), REDACTED.into()),
                    ("x-github-event".into(), "push".into()),
                    ("content-type".into(), "application/json".into()),
                ],
            },
            flow: w.flow,
            kind: w.kind,
            seq: 1,
            attempt: 1,
            lease_expires_ms: 0,
        }
    }

    #[test]
    fn a_continuation_round_trips_with_secrets_redacted() -> Result<(), CodecError> {
        let mut ctx = Ctx::new(event(), &FLOW);
        ctx.outputs[0] = serde_json::json!({"status": 202});
        ctx.path = "/x".into();
        ctx.error = serde_json::json!({"kind": "eval"});
        ctx.spawns.push(Spawn {
            flow: "f",
            payload: Value::from(2),
            path: "/x/b".into(),
        });
        let work = Work::Continue {
            flow: "f",
            at: 1,
            ctx: Box::new(ctx.clone()),
        };
        let stored = encode(&work)?;
        let text = match &stored.kind {
            WorkKind::Continue { state, .. } => String::from_utf8_lossy(state).into_owned(),
            WorkKind::Start { .. } => panic!("a continuation"),
        };
        assert!(text.starts_with(r#"{"v":2,"#), "{text}");
        assert!(!text.contains("sha256=abc"), "secrets never stored: {text}");
        assert!(
            !text.contains("x-github-event"),
            "the delivery's headers are the stored delivery's, not repeated: {text}"
        );
        let back = decode(&claimed(stored), &FLOWS)?;
        let Work::Continue { flow, at, ctx: got } = back else {
            panic!("a continuation")
        };
        assert_eq!((flow, at), ("f", 1));
        assert_eq!(got.outputs, ctx.outputs);
        assert_eq!(got.error, ctx.error);
        assert_eq!(got.path, "/x");
        assert_eq!(got.spawns, ctx.spawns);
        assert_eq!(got.event.payload, ctx.event.payload);
        assert_eq!(got.event.delivery_id, Value::from("d-1"));
        assert_eq!(
            got.event.headers.get("x-hub-signature-256"),
            Some(&Value::from("[redacted]"))
        );
        assert_eq!(
            got.event.headers.get("x-github-event"),
            Some(&Value::from("push"))
        );
        Ok(())
    }

    #[test]
    fn version_1_continuations_are_still_read() -> Result<(), CodecError> {
        // As hookflow wrote them before version 2: the delivery repeated in `event`.
        let mut c = claimed(NewWork {
            id: WorkId::new_random(),
            flow: "f".into(),
            kind: WorkKind::Continue {
                node: 1,
                state_version: 1,
                state: br#"{"v":1,"event":{"tenant":"acme","event_type":"push","delivery_id":"d-1","headers":[["x-hub-signature-256","[redacted]"],["x-github-event","push"]]},"outputs":[{"status":202},null],"error":null,"path":""}"#.to_vec(),
            },
        });
        let Work::Continue { at, ctx, .. } = decode(&c, &FLOWS)? else {
            panic!("a continuation")
        };
        assert_eq!(at, 1);
        assert_eq!(ctx.outputs[0], serde_json::json!({"status": 202}));
        assert_eq!(
            ctx.event.payload,
            serde_json::json!({"n": 1}),
            "from the body"
        );
        assert_eq!(
            ctx.event.headers.get("x-hub-signature-256"),
            Some(&Value::from("[redacted]"))
        );
        // An `async` run's payload was inside `event`.
        c.kind = WorkKind::Continue {
            node: 1,
            state_version: 1,
            state: br#"{"v":1,"event":{"tenant":"acme","event_type":"push","delivery_id":"d-1","headers":[],"payload":{"p":7}},"outputs":[null,null],"error":null,"path":"/go"}"#.to_vec(),
        };
        let Work::Continue { ctx, .. } = decode(&c, &FLOWS)? else {
            panic!("a continuation")
        };
        assert_eq!(ctx.event.payload, serde_json::json!({"p": 7}));
        assert_eq!(ctx.path, "/go");
        Ok(())
    }

    #[test]
    fn an_async_runs_payload_round_trips() -> Result<(), CodecError> {
        let mut ctx = Ctx::new(event(), &FLOW);
        ctx.event.payload = serde_json::json!({"p": [1, 2]});
        ctx.path = "/go".into();
        let c = claimed(encode(&Work::Continue {
            flow: "f",
            at: 1,
            ctx: Box::new(ctx),
        })?);
        let Work::Continue { ctx: got, .. } = decode(&c, &FLOWS)? else {
            panic!("a continuation")
        };
        assert_eq!(got.event.payload, serde_json::json!({"p": [1, 2]}));
        assert_eq!(got.event.tenant, Value::from("acme"));
        assert_eq!(got.event.event_type, Value::from("push"));
        Ok(())
    }

    #[test]
    fn the_triggered_run_takes_its_payload_from_the_stored_body() -> Result<(), CodecError> {
        let ctx = Ctx::new(event(), &FLOW);
        let stored = encode(&Work::Continue {
            flow: "f",
            at: 1,
            ctx: Box::new(ctx),
        })?;
        let WorkKind::Continue { state, .. } = &stored.kind else {
            panic!("a continuation")
        };
        assert!(
            !String::from_utf8_lossy(state).contains("payload"),
            "the body is not stored twice"
        );
        let Work::Continue { ctx: got, .. } = decode(&claimed(stored), &FLOWS)? else {
            panic!("a continuation")
        };
        assert_eq!(got.event.payload, serde_json::json!({"n": 1}));
        Ok(())
    }

    #[test]
    fn the_stored_body_is_parsed_into_the_fields_the_flow_reads() -> Result<(), CodecError> {
        static READS_N: FlowDef = FlowDef {
            payload_fields: Some(&["n"]),
            ..FLOW
        };
        static BOTH: Registry = Registry { flows: &[&READS_N] };
        let stored = encode(&Work::Continue {
            flow: "f",
            at: 1,
            ctx: Box::new(Ctx::new(event(), &READS_N)),
        })?;
        let mut c = claimed(stored);
        c.base.body = br#"{"n": 1, "big": {"rest": [1, 2, 3]}, "s": "x"}"#.to_vec();
        let Work::Continue { ctx: got, .. } = decode(&c, &BOTH)? else {
            panic!("a continuation")
        };
        assert_eq!(got.event.payload, serde_json::json!({"n": 1}));
        // A flow that reads the payload whole gets all of it.
        let Work::Continue { ctx: got, .. } = decode(&c, &FLOWS)? else {
            panic!("a continuation")
        };
        assert_eq!(got.event.payload["big"]["rest"][2], serde_json::json!(3));
        Ok(())
    }

    #[test]
    fn a_spawn_round_trips_and_inherits_the_base() -> Result<(), CodecError> {
        let work = Work::Spawn {
            flow: "f",
            payload: serde_json::json!({"p": [1, 2]}),
            path: "/go".into(),
        };
        let c = claimed(encode(&work)?);
        assert_eq!(decode(&c, &FLOWS)?, work);
        let base = base_event(&c.base);
        assert_eq!(base.delivery_id, Value::from("d-1"));
        assert_eq!(base.payload, Value::Null);
        Ok(())
    }

    #[test]
    fn unknown_flows_versions_and_shapes_are_errors() {
        let mut c = claimed(NewWork {
            id: WorkId::new_random(),
            flow: "gone".into(),
            kind: WorkKind::Start {
                payload: br#"{"v":1,"payload":null,"path":""}"#.to_vec(),
            },
        });
        assert_eq!(
            decode(&c, &FLOWS),
            Err(CodecError::UnknownFlow("gone".into()))
        );
        c.flow = "f".into();
        c.kind = WorkKind::Start {
            payload: br#"{"v":9,"payload":null,"path":""}"#.to_vec(),
        };
        assert_eq!(decode(&c, &FLOWS), Err(CodecError::UnknownVersion(9)));
        c.kind = WorkKind::Start {
            payload: b"not json".to_vec(),
        };
        assert!(matches!(decode(&c, &FLOWS), Err(CodecError::Corrupt(_))));
        c.kind = WorkKind::Continue {
            node: 7,
            state_version: 1,
            state: br#"{"v":1,"event":{"tenant":"a","event_type":"b","delivery_id":"c","headers":[]},"outputs":[null,null],"error":null,"path":""}"#.to_vec(),
        };
        assert!(matches!(
            decode(&c, &FLOWS),
            Err(CodecError::Mismatch { .. })
        ));
        c.kind = WorkKind::Continue {
            node: 1,
            state_version: 1,
            state: br#"{"v":1,"event":{"tenant":"a","event_type":"b","delivery_id":"c","headers":[]},"outputs":[null],"error":null,"path":""}"#.to_vec(),
        };
        assert!(matches!(
            decode(&c, &FLOWS),
            Err(CodecError::Mismatch { .. })
        ));
    }
}
