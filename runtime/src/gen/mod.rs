//! The support code that generated flows call: the only part of the runtime the `flows!` macro
//! refers to (as `::hookflow_runtime::__gen`).
//!
//! Generated code is data and control flow only: a state enum, a `match`, literals, and calls into
//! the non-generic helpers here, which are compiled once with the runtime. That keeps a YAML edit
//! cheap to rebuild (see BENCHMARKS.md) and keeps every operation that can fail in one place where
//! it returns an [`EvalError`] instead of panicking.
//!
//! Values are `serde_json::Value`s held as [`V`] (`Cow`): paths into the delivery (`event.payload.x`)
//! are borrowed, computed values are owned.

mod action;
mod json_out;
mod ops;
pub use action::*;
pub use json_out::JsonOut;
pub use ops::*;
pub use serde_json::{Map, Value};
pub use std::borrow::Cow;

/// A value during evaluation: borrowed from the delivery or a node output, or computed.
pub type V<'a> = Cow<'a, Value>;

/// Everything the compiled flows of one binary are; the runtime knows flows only through this.
#[derive(Debug)]
pub struct Registry {
    /// Sorted by name.
    pub flows: &'static [&'static FlowDef],
}

impl Registry {
    pub fn flow(&self, name: &str) -> Option<&'static FlowDef> {
        self.flows.iter().copied().find(|f| f.name == name)
    }

    /// The flow and trigger that handle `event_type`, if any (the compiler guarantees at most one).
    pub fn for_event(&self, event_type: &str) -> Option<(&'static FlowDef, &'static TriggerDef)> {
        self.flows.iter().copied().find_map(|f| {
            f.triggers
                .iter()
                .find(|t| t.event_type == event_type)
                .map(|t| (f, t))
        })
    }
}

/// The entry point of a compiled flow: runs from `start` until the flow answers or finishes.
pub type RunFn = fn(&mut Ctx, NodeIx) -> Result<Yield, FlowError>;

/// Index of a node in its flow's [`FlowDef::nodes`].
pub type NodeIx = u16;

/// One compiled flow.
#[derive(Debug)]
pub struct FlowDef {
    pub name: &'static str,
    pub version: &'static str,
    /// The YAML file it came from, relative to the crate (`flows/github.yaml`).
    pub file: &'static str,
    pub triggers: &'static [TriggerDef],
    pub nodes: &'static [NodeDef],
    /// Environment variables the flow's `env:NAME` header values name; resolved (and required)
    /// at start-up, sorted and deduplicated.
    pub secrets: &'static [&'static str],
    /// The top-level fields of `event.payload` the flow reads (`event.payload.<field>`), sorted;
    /// `None` when it uses the payload as a whole. A JSON body is parsed into only these fields
    /// (plus what deduplication reads); the rest is checked for syntax and skipped.
    pub payload_fields: Option<&'static [&'static str]>,
    pub run: RunFn,
}

impl FlowDef {
    pub fn node_ix(&self, id: &str) -> Option<NodeIx> {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .and_then(|i| NodeIx::try_from(i).ok())
    }
}

#[derive(Debug)]
pub struct TriggerDef {
    pub event_type: &'static str,
    pub target: NodeIx,
}

/// What a node is, for listings, diagrams and traces.
#[derive(Debug)]
pub struct NodeDef {
    pub id: &'static str,
    /// The YAML `type` (`script`, `branch`, `http_response`, `async`, ...).
    pub kind: &'static str,
    /// Where the node is defined (1-based line in [`FlowDef::file`]).
    pub line: u32,
    /// Outgoing edges: a label (`next`, `default`, the condition text, `on_error`) and the target.
    pub edges: &'static [EdgeDef],
}

#[derive(Debug)]
pub struct EdgeDef {
    pub label: &'static str,
    pub to: NodeIx,
}

/// How a run of a flow stopped.
#[derive(Debug)]
pub enum Yield {
    /// The flow ran to its end without an `http_response`.
    Finished,
    /// An `http_response` node answered; `then` is where the flow goes on after the answer is sent.
    Respond {
        response: Response,
        then: Option<NodeIx>,
    },
    /// An action node (`http_request`, `exec`) needs I/O. The engine performs `action`; on
    /// success it stores the output as `nodes.<id>` of `node`, records the step and resumes at
    /// `next` (`None`: the flow finishes); on failure it calls [`catch`] and resumes at
    /// `on_error`, or fails the flow at `node` when there is none.
    Act {
        node: NodeIx,
        action: Action,
        next: Option<NodeIx>,
        on_error: Option<NodeIx>,
    },
}

/// The answer an `http_response` node produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A body known at compile time, already serialised as JSON.
    Static(&'static str),
    /// A body built at run time as a value (hand-written flows, tests).
    Json(Value),
    /// A body with templates, written as JSON text while the flow ran ([`JsonOut`]).
    JsonText(bytes::Bytes),
}

impl Body {
    pub fn to_bytes(&self) -> bytes::Bytes {
        match self {
            Body::Static(s) => bytes::Bytes::from_static(s.as_bytes()),
            Body::Json(v) => bytes::Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
            Body::JsonText(b) => b.clone(),
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            Body::Static(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            Body::Json(v) => v.clone(),
            Body::JsonText(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
        }
    }
}

/// The delivery as flows see it (`event.*`, `headers[...]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub tenant: Value,
    pub event_type: Value,
    pub delivery_id: Value,
    pub payload: Value,
    pub headers: Headers,
}

impl Event {
    pub fn new(
        tenant: &str,
        event_type: &str,
        delivery_id: &str,
        headers: Headers,
        payload: Value,
    ) -> Self {
        Event {
            tenant: Value::String(tenant.to_owned()),
            event_type: Value::String(event_type.to_owned()),
            delivery_id: Value::String(delivery_id.to_owned()),
            payload,
            headers,
        }
    }
}

/// Request headers with lower-cased names, for case-insensitive lookup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headers {
    /// `(lower-case name, Value::String(value))`, in arrival order; repeated names keep the first.
    entries: Vec<(String, Value)>,
}

impl Headers {
    pub fn new() -> Self {
        Headers::default()
    }

    /// Room for `n` headers.
    pub fn with_capacity(n: usize) -> Self {
        Headers {
            entries: Vec::with_capacity(n),
        }
    }

    /// Adds a header; the name is lower-cased. Later duplicates of a name are ignored on lookup.
    pub fn push(&mut self, name: &str, value: &str) {
        self.entries
            .push((name.to_ascii_lowercase(), Value::String(value.to_owned())));
    }

    /// [`Headers::push`] for a name known to be lower case already (an `http::HeaderName`).
    pub fn push_lower(&mut self, lower: String, value: String) {
        debug_assert!(!lower.bytes().any(|b| b.is_ascii_uppercase()));
        self.entries.push((lower, Value::String(value)));
    }

    /// Looks up a header by an already lower-cased name.
    pub fn get_lower(&self, lower: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(n, _)| n == lower)
            .map(|(_, v)| v)
    }

    /// Looks up a header by any-case name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Replaces the value of every header whose name `secret` picks with `replacement`, in place.
    pub fn redact(&mut self, secret: impl Fn(&str) -> bool, replacement: &str) {
        for (n, v) in &mut self.entries {
            if secret(n) {
                *v = Value::String(replacement.to_owned());
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str().unwrap_or_default()))
    }

    /// The headers as a JSON object (first value of each name).
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (n, v) in &self.entries {
            map.entry(n.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(map)
    }
}

/// The state of one run of a flow: the delivery, the outputs of the nodes that ran, and the work
/// the run asked for (async flows). Plain data, so that a run can be stored and resumed.
#[derive(Debug, Clone, PartialEq)]
pub struct Ctx {
    pub event: Event,
    /// Output of each node by [`NodeIx`]; `Null` until the node has run.
    pub outputs: Vec<Value>,
    /// The error in scope of an `on_error` target (`error.kind`, `error.message`), else `Null`.
    pub error: Value,
    /// Flows started by `async` nodes, to run once the current flow has answered.
    pub spawns: Vec<Spawn>,
    /// The nodes this run went through, in order.
    pub trace: Vec<TraceStep>,
    /// Where this run sits in its delivery: `""` for the flow the delivery triggered; a flow
    /// started by an `async` node has its parent's path + `/` + that node's id. Makes
    /// idempotency keys of outgoing calls unique and stable across retries.
    pub path: String,
}

impl Ctx {
    pub fn new(event: Event, flow: &FlowDef) -> Self {
        // `resize_with` writes `Null`s; `vec![Null; n]` clones one n times through a call each.
        let mut outputs = Vec::with_capacity(flow.nodes.len());
        outputs.resize_with(flow.nodes.len(), || Value::Null);
        Ctx {
            event,
            outputs,
            error: Value::Null,
            spawns: Vec::new(),
            trace: Vec::new(),
            path: String::new(),
        }
    }
}

/// A flow started by an `async` node.
#[derive(Debug, Clone, PartialEq)]
pub struct Spawn {
    pub flow: &'static str,
    pub payload: Value,
    /// The spawned run's [`Ctx::path`].
    pub path: String,
}

/// One node of a run: which node, how it ended, and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceStep {
    pub node: NodeIx,
    pub outcome: Outcome,
    /// Wall time of the node, measured for the nodes that wait on the world (`http_request`,
    /// `exec`). `None` for the nodes that only compute (script, branch, template, answer): they
    /// take well under a microsecond, and two clock reads per node would cost more than the node.
    pub duration: Option<std::time::Duration>,
}

impl TraceStep {
    /// A step without a measured duration (a node that only computes).
    pub fn new(node: NodeIx, outcome: Outcome) -> TraceStep {
        TraceStep {
            node,
            outcome,
            duration: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok,
    /// A branch took the edge with this label (the condition's text, or `default`).
    Took(&'static str),
    Failed(String),
}

/// An operation that could not be done on the values it got (reading a field of a number,
/// `len()` of a boolean, ...). Never a panic: the runtime turns it into a flow error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub message: String,
}

impl EvalError {
    pub fn new(message: impl Into<String>) -> Self {
        EvalError {
            message: message.into(),
        }
    }
}

/// A run of a flow failed at a node.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("flow `{flow}` failed at node `{node}` ({file}:{line}): {message}")]
pub struct FlowError {
    pub flow: &'static str,
    pub node: &'static str,
    pub file: &'static str,
    pub line: u32,
    pub message: String,
}

/// Attaches the flow and node to an [`EvalError`]; called by generated code on the error path.
#[inline(never)]
#[cold]
pub fn node_error(flow: &FlowDef, node: NodeIx, err: EvalError) -> FlowError {
    let (id, line) = flow
        .nodes
        .get(usize::from(node))
        .map_or(("?", 0), |n| (n.id, n.line));
    FlowError {
        flow: flow.name,
        node: id,
        file: flow.file,
        line,
        message: err.message,
    }
}

// ------------------------------------------------------------------ steps of generated `run`

/// A node failed: records the step and attaches the flow and node to the error.
#[inline(never)]
#[cold]
pub fn fail(ctx: &mut Ctx, flow: &FlowDef, node: NodeIx, err: EvalError) -> FlowError {
    ctx.trace
        .push(TraceStep::new(node, Outcome::Failed(err.message.clone())));
    node_error(flow, node, err)
}

/// A script node ran: stores its output (`nodes.<id>`) and records the step.
#[inline(never)]
pub fn store(
    ctx: &mut Ctx,
    flow: &FlowDef,
    node: NodeIx,
    r: Result<Value, EvalError>,
) -> Result<(), FlowError> {
    match r {
        Ok(v) => {
            if let Some(slot) = ctx.outputs.get_mut(usize::from(node)) {
                *slot = v;
            }
            ctx.trace.push(TraceStep::new(node, Outcome::Ok));
            Ok(())
        }
        Err(e) => Err(fail(ctx, flow, node, e)),
    }
}

/// One condition of a branch was evaluated: on `true` records that the edge `label` was taken.
#[inline(never)]
pub fn branch(
    ctx: &mut Ctx,
    flow: &FlowDef,
    node: NodeIx,
    r: Result<bool, EvalError>,
    label: &'static str,
) -> Result<bool, FlowError> {
    match r {
        Ok(true) => {
            took(ctx, node, label);
            Ok(true)
        }
        Ok(false) => Ok(false),
        Err(e) => Err(fail(ctx, flow, node, e)),
    }
}

/// A branch took the edge `label` (`default`, or `none` when no condition held and there is
/// no default: the flow finishes).
#[inline(never)]
pub fn took(ctx: &mut Ctx, node: NodeIx, label: &'static str) {
    ctx.trace.push(TraceStep::new(node, Outcome::Took(label)));
}

/// An `http_response` node built its answer.
#[inline(never)]
pub fn respond(
    ctx: &mut Ctx,
    flow: &FlowDef,
    node: NodeIx,
    r: Result<Response, EvalError>,
) -> Result<Response, FlowError> {
    match r {
        Ok(resp) => {
            ctx.trace.push(TraceStep::new(node, Outcome::Ok));
            Ok(resp)
        }
        Err(e) => Err(fail(ctx, flow, node, e)),
    }
}

/// An `async` node: asks for `target` to be started with `payload` once the answer is sent.
#[inline(never)]
pub fn spawn(
    ctx: &mut Ctx,
    flow: &FlowDef,
    node: NodeIx,
    target: &'static str,
    r: Result<Value, EvalError>,
) -> Result<(), FlowError> {
    match r {
        Ok(payload) => {
            let id = flow.nodes.get(usize::from(node)).map_or("?", |n| n.id);
            let path = format!("{}/{id}", ctx.path);
            ctx.spawns.push(Spawn {
                flow: target,
                payload,
                path,
            });
            ctx.trace.push(TraceStep::new(node, Outcome::Ok));
            Ok(())
        }
        Err(e) => Err(fail(ctx, flow, node, e)),
    }
}

/// `run` was asked to start at a node the flow does not have.
#[inline(never)]
#[cold]
pub fn bad_start(flow: &FlowDef, start: NodeIx) -> FlowError {
    FlowError {
        flow: flow.name,
        node: "?",
        file: flow.file,
        line: 0,
        message: format!("no node with index {start}"),
    }
}
