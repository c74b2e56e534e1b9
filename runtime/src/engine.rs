//! Running compiled flows: the one place that drives the generated state machines.
//!
//! A delivery starts its flow at the trigger's target ([`start`]). The run stops at the first
//! `http_response` (or at the end of the flow, which answers 200 `{"ok": true}`); whatever is left
//! (the nodes after an `http_response` with `next`, and the flows `async` nodes asked for) comes
//! back as a list of [`Work`] items to do *after* the answer. [`run_work`] does one item and
//! returns the items it produced; [`run_after`] does them all in-process.
//!
//! That split is the seam for what comes next: the durable store persists the delivery and its
//! `Vec<Work>` before the 2xx and a worker calls [`run_work`] (the items are plain data); action
//! nodes (`http_request`, `exec`) will make a run yield an I/O request, which the loop in
//! [`drive`] performs before resuming the state machine.

use crate::__gen::{
    Body, Ctx, Event, FlowDef, FlowError, NodeIx, Registry, Response, Value, Yield,
};
use std::fmt;

/// Most work items one delivery may produce after its answer (a guard against flows that spawn
/// each other forever).
pub const MAX_WORK_PER_DELIVERY: usize = 1024;

/// A delivery's id: the sender's (`X-GitHub-Delivery`, `webhook-id`, ...) or a fresh random one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryId(String);

impl DeliveryId {
    /// A fresh random id (32 hex characters).
    pub fn random() -> DeliveryId {
        let bytes: [u8; 16] = rand::random();
        DeliveryId(hex::encode(bytes))
    }

    /// A sender-provided id, if it is sane: 1 to 200 visible ASCII characters.
    pub fn from_sender(s: &str) -> Option<DeliveryId> {
        let s = s.trim();
        let ok = !s.is_empty() && s.len() <= 200 && s.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| DeliveryId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why work could not be done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error("`async` names the flow `{0}`, which is not compiled into this binary")]
    UnknownFlow(String),
    #[error("the start node {node} is not a node of flow `{flow}`")]
    BadNode { flow: &'static str, node: NodeIx },
}

/// Something to do after the answer. Plain data: a store can keep it and a worker resume it.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Go on with `flow` at node `at`, with the run's state so far.
    Continue {
        flow: &'static str,
        at: NodeIx,
        ctx: Box<Ctx>,
    },
    /// Start `flow` at its first node with `event.payload` = `payload` (an `async` node).
    Spawn {
        flow: &'static str,
        payload: Value,
        path: String,
    },
}

impl Work {
    /// The flow this item runs (for logs).
    pub fn flow(&self) -> &'static str {
        match self {
            Work::Continue { flow, .. } | Work::Spawn { flow, .. } => flow,
        }
    }
}

/// The outcome of starting a delivery's flow.
#[derive(Debug)]
pub struct Started {
    /// What to answer the caller.
    pub response: Response,
    /// Whether the flow's `http_response` decided the answer (else it is the default one).
    pub answered_by_flow: bool,
    /// What is left to do after the answer, in order.
    pub work: Vec<Work>,
    /// The delivery (with a `null` payload) that spawned flows inherit; only when `work` is not
    /// empty, so a delivery with nothing after its answer copies nothing.
    pub base: Option<Event>,
}

/// The answer of a flow that ends without an `http_response`.
pub fn default_response() -> Response {
    Response {
        status: 200,
        headers: Vec::new(),
        body: Body::Static(r#"{"ok":true}"#),
    }
}

/// Runs `flow` for a delivery from `start` (the trigger's target) until it answers or ends.
pub fn start(flow: &'static FlowDef, start: NodeIx, event: Event) -> Result<Started, EngineError> {
    let mut ctx = Ctx::new(event, flow);
    let stop = drive(flow, &mut ctx, start)?;
    let (response, answered_by_flow, then) = match stop {
        Yield::Finished => (default_response(), false, None),
        Yield::Respond { response, then } => (response, true, then),
        Yield::Act { .. } => unreachable_act(flow)?,
    };
    let base = (then.is_some() || !ctx.spawns.is_empty()).then(|| Event {
        payload: Value::Null,
        ..ctx.event.clone()
    });
    Ok(Started {
        response,
        answered_by_flow,
        work: leftovers(flow, ctx, then),
        base,
    })
}

/// Does one work item; returns the items it produced (a continuation, spawned flows). `base` is
/// the delivery whose tenant, event type, id and headers a spawned flow inherits.
/// An `http_response` reached here is not sent anywhere (the caller has its answer already).
pub fn run_work(flows: &Registry, base: &Event, work: Work) -> Result<Vec<Work>, EngineError> {
    let (flow, at, mut ctx) = match work {
        Work::Continue { flow, at, ctx } => {
            let def = flows
                .flow(flow)
                .ok_or_else(|| EngineError::UnknownFlow(flow.to_string()))?;
            (def, at, *ctx)
        }
        Work::Spawn {
            flow,
            payload,
            path,
        } => {
            let def = flows
                .flow(flow)
                .ok_or_else(|| EngineError::UnknownFlow(flow.to_string()))?;
            let event = Event {
                payload,
                ..base.clone()
            };
            let mut ctx = Ctx::new(event, def);
            ctx.path = path;
            (def, 0, ctx)
        }
    };
    let then = match drive(flow, &mut ctx, at)? {
        Yield::Finished => None,
        Yield::Respond { then, .. } => then,
        Yield::Act { .. } => unreachable_act(flow)?,
    };
    Ok(leftovers(flow, ctx, then))
}

/// Does all work of one delivery, in-process, in order (breadth first). Errors are logged with the
/// delivery id and do not stop the other items. Returns how many items failed.
pub fn run_after(
    flows: &Registry,
    delivery_id: &DeliveryId,
    base: &Event,
    work: Vec<Work>,
) -> usize {
    let mut queue = std::collections::VecDeque::from(work);
    let mut done = 0usize;
    let mut failed = 0usize;
    while let Some(item) = queue.pop_front() {
        if done >= MAX_WORK_PER_DELIVERY {
            tracing::error!(
                delivery_id = %delivery_id,
                dropped = queue.len() + 1,
                "work after the answer stopped: more than {MAX_WORK_PER_DELIVERY} items (flows spawning each other without end?)"
            );
            return failed + queue.len() + 1;
        }
        done += 1;
        let flow = item.flow();
        match run_work(flows, base, item) {
            Ok(more) => queue.extend(more),
            Err(e) => {
                failed += 1;
                tracing::error!(delivery_id = %delivery_id, flow, error = %e, "work after the answer failed");
            }
        }
    }
    failed
}

/// Runs the state machine from `at` until it answers or finishes. (When nodes can yield I/O
/// requests, this is the loop that performs them and resumes.)
fn drive(flow: &'static FlowDef, ctx: &mut Ctx, at: NodeIx) -> Result<Yield, EngineError> {
    if usize::from(at) >= flow.nodes.len() {
        return Err(EngineError::BadNode {
            flow: flow.name,
            node: at,
        });
    }
    Ok((flow.run)(ctx, at)?)
}

/// Placeholder until the engine performs actions (lands with the action executors).
fn unreachable_act<T>(flow: &'static FlowDef) -> Result<T, EngineError> {
    Err(EngineError::UnknownFlow(flow.name.to_string()))
}

/// The continuation (if any) followed by the flows the run spawned.
fn leftovers(flow: &'static FlowDef, mut ctx: Ctx, then: Option<NodeIx>) -> Vec<Work> {
    let spawns = std::mem::take(&mut ctx.spawns);
    let mut work = Vec::with_capacity(spawns.len() + 1);
    if let Some(at) = then {
        work.push(Work::Continue {
            flow: flow.name,
            at,
            ctx: Box::new(ctx),
        });
    }
    work.extend(spawns.into_iter().map(|s| Work::Spawn {
        flow: s.flow,
        payload: s.payload,
        path: s.path,
    }));
    work
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__gen::{Headers, NodeDef, Spawn, TriggerDef};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn event(payload: Value) -> Event {
        Event::new("demo", "t", "d1", Headers::new(), payload)
    }

    /// `answer_then`: node 0 spawns `echo_spawn` and answers 202 with `next: 1`; node 1 spawns
    /// `missing`.
    static ANSWER_THEN: FlowDef = FlowDef {
        name: "answer_then",
        version: "1",
        file: "t.yaml",
        triggers: &[TriggerDef {
            event_type: "t",
            target: 0,
        }],
        nodes: &[
            NodeDef {
                id: "ack",
                kind: "http_response",
                line: 1,
                edges: &[],
            },
            NodeDef {
                id: "more",
                kind: "async",
                line: 2,
                edges: &[],
            },
        ],
        secrets: &[],
        run: answer_then,
    };

    fn answer_then(ctx: &mut Ctx, start: NodeIx) -> Result<Yield, FlowError> {
        if start == 0 {
            ctx.spawns.push(Spawn {
                flow: "forever",
                payload: Value::from(1),
                path: String::new(),
            });
            Ok(Yield::Respond {
                response: Response {
                    status: 202,
                    headers: Vec::new(),
                    body: Body::Static("{}"),
                },
                then: Some(1),
            })
        } else {
            ctx.spawns.push(Spawn {
                flow: "missing",
                payload: Value::Null,
                path: String::new(),
            });
            Ok(Yield::Finished)
        }
    }

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    /// `forever`: spawns itself (a runaway the guard must stop).
    static FOREVER: FlowDef = FlowDef {
        name: "forever",
        version: "1",
        file: "f.yaml",
        triggers: &[],
        nodes: &[NodeDef {
            id: "again",
            kind: "async",
            line: 1,
            edges: &[],
        }],
        secrets: &[],
        run: forever,
    };

    fn forever(ctx: &mut Ctx, _start: NodeIx) -> Result<Yield, FlowError> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            ctx.event.payload,
            Value::from(1),
            "spawned with its payload"
        );
        assert_eq!(ctx.event.delivery_id, Value::from("d1"), "same delivery");
        ctx.spawns.push(Spawn {
            flow: "forever",
            payload: Value::from(1),
            path: String::new(),
        });
        Ok(Yield::Finished)
    }

    static FAILS: FlowDef = FlowDef {
        name: "fails",
        version: "1",
        file: "x.yaml",
        triggers: &[],
        nodes: &[NodeDef {
            id: "bad",
            kind: "script",
            line: 9,
            edges: &[],
        }],
        secrets: &[],
        run: |_, _| Err(node_error(&FAILS, 0, EvalError::new("nope"))),
    };

    use crate::__gen::{node_error, EvalError};

    static REGISTRY: Registry = Registry {
        flows: &[&ANSWER_THEN, &FAILS, &FOREVER],
    };

    #[test]
    fn an_answer_with_next_leaves_the_continuation_then_the_spawns() {
        let started = start(&ANSWER_THEN, 0, event(Value::Null)).map_err(|e| e.to_string());
        let Ok(started) = started else {
            panic!("{started:?}")
        };
        assert!(started.answered_by_flow);
        assert_eq!(started.response.status, 202);
        assert!(matches!(
            started.work.as_slice(),
            [
                Work::Continue {
                    flow: "answer_then",
                    at: 1,
                    ..
                },
                Work::Spawn {
                    flow: "forever",
                    ..
                }
            ]
        ));
        // The continuation's own spawn of an unknown flow fails on its own.
        let more = run_work(&REGISTRY, &event(Value::Null), started.work[0].clone());
        let Ok(more) = more else { panic!("{more:?}") };
        assert_eq!(
            run_work(&REGISTRY, &event(Value::Null), more[0].clone()),
            Err(EngineError::UnknownFlow("missing".into()))
        );
    }

    #[test]
    fn a_flow_without_an_answer_gets_the_default_one() {
        let started = start(&FOREVER, 0, event(Value::from(1))).map_err(|e| e.to_string());
        let Ok(started) = started else {
            panic!("{started:?}")
        };
        assert!(!started.answered_by_flow);
        assert_eq!(started.base.map(|b| b.payload), Some(Value::Null));
        assert_eq!(started.response, default_response());
        assert_eq!(
            started.response.body.to_value(),
            serde_json::json!({"ok": true})
        );
        assert_eq!(started.work.len(), 1);
    }

    #[test]
    fn flow_errors_and_bad_nodes_are_errors() {
        assert!(matches!(
            start(&FAILS, 0, event(Value::Null)),
            Err(EngineError::Flow(FlowError {
                node: "bad",
                line: 9,
                ..
            }))
        ));
        assert!(matches!(
            start(&FAILS, 5, event(Value::Null)),
            Err(EngineError::BadNode { node: 5, .. })
        ));
    }

    #[test]
    fn runaway_spawning_is_stopped() {
        let before = RUNS.load(Ordering::SeqCst);
        let work = vec![Work::Spawn {
            flow: "forever",
            payload: Value::from(1),
            path: String::new(),
        }];
        let failed = run_after(&REGISTRY, &DeliveryId::random(), &event(Value::Null), work);
        assert_eq!(RUNS.load(Ordering::SeqCst) - before, MAX_WORK_PER_DELIVERY);
        assert_eq!(failed, 1);
    }

    #[test]
    fn sender_ids_are_checked() {
        assert_eq!(
            DeliveryId::from_sender(" abc-1 ").map(|d| d.to_string()),
            Some("abc-1".to_string())
        );
        assert!(DeliveryId::from_sender("").is_none());
        assert!(DeliveryId::from_sender("a b").is_none());
        assert!(DeliveryId::from_sender(&"x".repeat(201)).is_none());
        let a = DeliveryId::random();
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(a, DeliveryId::random());
    }
}
