//! Running compiled flows: the one place that drives the generated state machines.
//!
//! A delivery starts its flow at the trigger's target ([`Engine::start`]). The state machine runs
//! until it answers (`http_response`), finishes, or yields an action (`http_request`, `exec`):
//! the engine performs the action ([`crate::actions`]), stores its output and resumes the machine
//! at `next`, or at `on_error` with `error` in scope. Whatever is left after the answer (the nodes
//! after an `http_response` with `next`, and the flows `async` nodes asked for) comes back as a
//! list of [`Work`] items; [`Engine::run_work`] does one item and returns the items it produced.
//! Work items are plain data, so the durable store can keep them and a worker resume them.

use crate::__gen::{
    catch, fail, Body, Ctx, EvalError, Event, FlowDef, FlowError, NodeIx, Outcome, Registry,
    Response, TraceStep, Value, Yield,
};
use crate::actions::Actions;
pub use crate::actions::{ActionOptions, SetupError};
use std::fmt;
use std::time::Instant;

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

/// A run that failed before its answer: why, and the nodes it went through (the failed one
/// last), for the delivery's record.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failed {
    pub error: EngineError,
    pub trace: Vec<TraceStep>,
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
    /// Start `flow` at its first node with `event.payload` = `payload` (an `async` node);
    /// `path` is the new run's [`Ctx::path`].
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
    /// The nodes the run went through up to the answer.
    pub trace: Vec<TraceStep>,
}

/// The outcome of one work item ([`Engine::run_work`]).
#[derive(Debug)]
pub struct Ran {
    /// The flow it ran (`None` when the item named a flow this binary lacks).
    pub flow: Option<&'static FlowDef>,
    /// The nodes it went through, including a failed one.
    pub trace: Vec<TraceStep>,
    /// The work it produced (a continuation, spawned flows), or why it failed.
    pub result: Result<Vec<Work>, EngineError>,
}

/// The answer of a flow that ends without an `http_response`.
pub fn default_response() -> Response {
    Response {
        status: 200,
        headers: Vec::new(),
        body: Body::Static(r#"{"ok":true}"#),
    }
}

/// Runs compiled flows: the state machines, and the actions they yield.
#[derive(Debug)]
pub struct Engine {
    flows: &'static Registry,
    actions: Actions,
}

impl Engine {
    /// An engine for `flows`; resolves the `env:` secrets the flows name from the process
    /// environment (a missing one is an error naming it).
    pub fn new(flows: &'static Registry, opts: ActionOptions) -> Result<Engine, SetupError> {
        Self::with_env(flows, opts, |name| std::env::var(name).ok())
    }

    /// [`Engine::new`] with the environment given as a lookup function (tests).
    pub fn with_env(
        flows: &'static Registry,
        opts: ActionOptions,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Engine, SetupError> {
        Ok(Engine {
            flows,
            actions: Actions::new(flows, opts, lookup)?,
        })
    }

    pub fn flows(&self) -> &'static Registry {
        self.flows
    }

    /// Runs `flow` for a delivery from `start` (the trigger's target) until it answers or ends,
    /// performing the actions on the way.
    pub async fn start(
        &self,
        flow: &'static FlowDef,
        start: NodeIx,
        event: Event,
    ) -> Result<Started, Failed> {
        let mut ctx = Ctx::new(event, flow);
        let stop = match self.drive(flow, &mut ctx, start).await {
            Ok(stop) => stop,
            Err(error) => {
                return Err(Failed {
                    error,
                    trace: ctx.trace,
                })
            }
        };
        let (response, answered_by_flow, then) = match stop {
            Stop::Finished => (default_response(), false, None),
            Stop::Respond { response, then } => (response, true, then),
        };
        let base = (then.is_some() || !ctx.spawns.is_empty()).then(|| Event {
            payload: Value::Null,
            ..ctx.event.clone()
        });
        let trace = std::mem::take(&mut ctx.trace);
        Ok(Started {
            response,
            answered_by_flow,
            work: leftovers(flow, ctx, then),
            base,
            trace,
        })
    }

    /// Does one work item. `base` is the delivery whose tenant, event type, id and headers a
    /// spawned flow inherits. An `http_response` reached here is not sent anywhere (the caller
    /// has its answer already).
    pub async fn run_work(&self, base: &Event, work: Work) -> Ran {
        let (flow, at, mut ctx) = match work {
            Work::Continue { flow, at, ctx } => match self.flows.flow(flow) {
                Some(def) => (def, at, *ctx),
                None => return Ran::unknown(flow),
            },
            Work::Spawn {
                flow,
                payload,
                path,
            } => match self.flows.flow(flow) {
                Some(def) => {
                    let event = Event {
                        payload,
                        ..base.clone()
                    };
                    let mut ctx = Ctx::new(event, def);
                    ctx.path = path;
                    (def, 0, ctx)
                }
                None => return Ran::unknown(flow),
            },
        };
        ctx.trace.clear();
        let began = Instant::now();
        let result = self.drive(flow, &mut ctx, at).await;
        crate::metrics::flow_run(flow.name, crate::metrics::Phase::After, began.elapsed());
        let trace = std::mem::take(&mut ctx.trace);
        let result = result.map(|stop| {
            let then = match stop {
                Stop::Finished => None,
                Stop::Respond { then, .. } => then,
            };
            leftovers(flow, ctx, then)
        });
        Ran {
            flow: Some(flow),
            trace,
            result,
        }
    }

    /// Does all work of one delivery, in-process, in order (breadth first). Errors are logged
    /// with the delivery id and do not stop the other items. Returns how many items failed.
    pub async fn run_after(
        &self,
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
            match self.run_work(base, item).await.result {
                Ok(more) => queue.extend(more),
                Err(e) => {
                    failed += 1;
                    tracing::error!(delivery_id = %delivery_id, flow, error = %e, "work after the answer failed");
                }
            }
        }
        failed
    }

    /// Runs the state machine from `at` until it answers or finishes, performing the actions it
    /// yields and resuming after each (at `next`, or at `on_error` with `error` set).
    async fn drive(
        &self,
        flow: &'static FlowDef,
        ctx: &mut Ctx,
        mut at: NodeIx,
    ) -> Result<Stop, EngineError> {
        loop {
            if usize::from(at) >= flow.nodes.len() {
                return Err(EngineError::BadNode {
                    flow: flow.name,
                    node: at,
                });
            }
            let (node, action, next, on_error) = match (flow.run)(ctx, at)? {
                Yield::Finished => return Ok(Stop::Finished),
                Yield::Respond { response, then } => return Ok(Stop::Respond { response, then }),
                Yield::Act {
                    node,
                    action,
                    next,
                    on_error,
                } => (node, action, next, on_error),
            };
            let key = idempotency_key(flow, ctx, node);
            // Boxed: the action's future (an HTTP client call or a child process) is ~18 KB;
            // held inline it made every delivery's future that big, and moving it cost more
            // than the flow itself (BENCHMARKS.md, history). Only action nodes pay the box.
            let action = Box::pin(self.actions.perform(action, &key));
            let started = Instant::now();
            let result = action.await;
            let took = Some(started.elapsed());
            match result {
                Ok(output) => {
                    if let Some(slot) = ctx.outputs.get_mut(usize::from(node)) {
                        *slot = output;
                    }
                    ctx.trace.push(TraceStep {
                        node,
                        outcome: Outcome::Ok,
                        duration: took,
                    });
                    match next {
                        Some(n) => at = n,
                        None => return Ok(Stop::Finished),
                    }
                }
                Err(failure) => {
                    if let (Some(out), Some(slot)) =
                        (failure.output, ctx.outputs.get_mut(usize::from(node)))
                    {
                        *slot = out;
                    }
                    let failed = match on_error {
                        Some(handler) => {
                            catch(ctx, flow, node, failure.kind, failure.message);
                            Ok(handler)
                        }
                        None => {
                            let message =
                                format!("{} ({})", failure.message, failure.kind.as_str());
                            Err(fail(ctx, flow, node, EvalError::new(message)))
                        }
                    };
                    // `catch` and `fail` recorded the failed step: give it the action's time.
                    if let Some(step) = ctx.trace.last_mut() {
                        step.duration = took;
                    }
                    at = failed?;
                }
            }
        }
    }
}

impl Ran {
    fn unknown(flow: &str) -> Ran {
        Ran {
            flow: None,
            trace: Vec::new(),
            result: Err(EngineError::UnknownFlow(flow.to_string())),
        }
    }
}

/// Where a run of the state machine stopped for good.
enum Stop {
    Finished,
    Respond {
        response: Response,
        then: Option<NodeIx>,
    },
}

/// The idempotency key of an outgoing call: `{delivery id}{run path}:{node id}`; the same for
/// every retry of the same node of the same delivery.
fn idempotency_key(flow: &FlowDef, ctx: &Ctx, node: NodeIx) -> String {
    let id = flow.nodes.get(usize::from(node)).map_or("?", |n| n.id);
    format!(
        "{}{}:{id}",
        ctx.event.delivery_id.as_str().unwrap_or_default(),
        ctx.path
    )
}

/// The continuation (if any) followed by the flows the run spawned.
fn leftovers(flow: &'static FlowDef, mut ctx: Ctx, then: Option<NodeIx>) -> Vec<Work> {
    let spawns = std::mem::take(&mut ctx.spawns);
    let mut work = Vec::with_capacity(spawns.len() + 1);
    if let Some(at) = then {
        ctx.trace.clear();
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
        payload_fields: None,
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
            ctx.trace.push(TraceStep::new(1, Outcome::Ok));
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
        payload_fields: None,
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
        payload_fields: None,
        run: |_, _| Err(node_error(&FAILS, 0, EvalError::new("nope"))),
    };

    use crate::__gen::{node_error, EvalError};

    static REGISTRY: Registry = Registry {
        flows: &[&ANSWER_THEN, &FAILS, &FOREVER],
    };

    fn engine() -> Engine {
        Engine::with_env(&REGISTRY, ActionOptions::default(), |_| None).expect("engine")
    }

    #[tokio::test]
    async fn an_answer_with_next_leaves_the_continuation_then_the_spawns() {
        let engine = engine();
        let started = engine
            .start(&ANSWER_THEN, 0, event(Value::Null))
            .await
            .map_err(|e| e.to_string());
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
        let more = engine
            .run_work(&event(Value::Null), started.work[0].clone())
            .await;
        assert_eq!(more.flow.map(|f| f.name), Some("answer_then"));
        assert_eq!(more.trace, [TraceStep::new(1, Outcome::Ok)]);
        let Ok(more) = more.result else {
            panic!("{more:?}")
        };
        let missing = engine.run_work(&event(Value::Null), more[0].clone()).await;
        assert_eq!(
            missing.result.map(|_| ()),
            Err(EngineError::UnknownFlow("missing".into()))
        );
    }

    #[tokio::test]
    async fn a_flow_without_an_answer_gets_the_default_one() {
        let started = engine()
            .start(&FOREVER, 0, event(Value::from(1)))
            .await
            .map_err(|e| e.to_string());
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

    #[tokio::test]
    async fn flow_errors_and_bad_nodes_are_errors() {
        let engine = engine();
        assert!(matches!(
            engine
                .start(&FAILS, 0, event(Value::Null))
                .await
                .map_err(|f| f.error),
            Err(EngineError::Flow(FlowError {
                node: "bad",
                line: 9,
                ..
            }))
        ));
        assert!(matches!(
            engine
                .start(&FAILS, 5, event(Value::Null))
                .await
                .map_err(|f| f.error),
            Err(EngineError::BadNode { node: 5, .. })
        ));
    }

    #[tokio::test]
    async fn runaway_spawning_is_stopped() {
        let before = RUNS.load(Ordering::SeqCst);
        let work = vec![Work::Spawn {
            flow: "forever",
            payload: Value::from(1),
            path: String::new(),
        }];
        let failed = engine()
            .run_after(&DeliveryId::random(), &event(Value::Null), work)
            .await;
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
