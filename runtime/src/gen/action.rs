//! Action nodes (`http_request`, `exec`, `log`) as generated code sees them.
//!
//! A generated `run` never does I/O: an action node builds its request (templates evaluated) and
//! returns [`Yield::Act`](super::Yield::Act); the engine performs it, stores the output as
//! `nodes.<id>`, and resumes the state machine at `next`, or at `on_error` with `error` set.
//! `log` needs no I/O beyond `tracing`, so it runs in place ([`log`]).

use super::{fail, Ctx, EvalError, FlowDef, FlowError, NodeIx, Outcome, TraceStep, Value};

/// The I/O an action node asks the engine to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Http(HttpCall),
    Exec(ExecCall),
}

/// An `http_request` node's request, templates evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCall {
    /// Checked at compile time (`GET`, `POST`, ...).
    pub method: &'static str,
    /// The URL text; literal URLs are checked at compile time, templated ones when built.
    pub url: String,
    pub headers: Vec<(String, HeaderValue)>,
    pub body: Option<HttpBody>,
    /// Whole request, connect included. Never zero (checked at compile time).
    pub timeout_ms: u64,
    /// Accepted statuses as inclusive ranges; empty means 200..=299.
    pub expect_status: &'static [(u16, u16)],
}

/// The value of an outgoing header.
#[derive(Clone, PartialEq)]
pub enum HeaderValue {
    /// Built from a template.
    Text(String),
    /// `env:NAME` in the YAML: the environment variable, resolved once at start-up (a missing
    /// variable stops the start). Never logged.
    Secret(&'static str),
}

impl std::fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderValue::Text(t) => f.debug_tuple("Text").field(t).finish(),
            HeaderValue::Secret(name) => write!(f, "Secret(env:{name})"),
        }
    }
}

/// An outgoing body.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpBody {
    /// A YAML mapping/list, or a string that is one `{{expr}}`: sent as JSON
    /// (`Content-Type: application/json` unless the node sets one).
    Json(Value),
    /// Any other string template: sent as is (`text/plain; charset=utf-8` unless set).
    Text(String),
}

/// An `exec` node's command, templates evaluated. No shell is involved.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecCall {
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdin: Option<String>,
    pub working_dir: Option<String>,
    /// The process is killed past it. Never zero (checked at compile time).
    pub timeout_ms: u64,
    /// A non-zero exit is a success (its output is still `{exit_code, stdout, stderr}`).
    pub allow_failure: bool,
}

/// Default `timeout_ms` of `http_request` when the YAML gives none.
pub const DEFAULT_HTTP_TIMEOUT_MS: u64 = 10_000;
/// Default `timeout_ms` of `exec` when the YAML gives none.
pub const DEFAULT_EXEC_TIMEOUT_MS: u64 = 60_000;

/// What went wrong in a node, as `error.kind` in `on_error` targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A script, condition or template could not be evaluated.
    Eval,
    /// `http_request`: no connection (refused, DNS, TLS) or the request could not be sent.
    HttpConnect,
    /// `http_request`: no complete answer within `timeout_ms`.
    HttpTimeout,
    /// `http_request`: an answer whose status `expect_status` does not accept.
    HttpStatus,
    /// `exec`: the command could not be started (not found, not executable, bad working_dir).
    ExecSpawn,
    /// `exec`: killed after `timeout_ms`.
    ExecTimeout,
    /// `exec`: exited non-zero (and `allow_failure` is not set), or was killed by a signal.
    ExecExit,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Eval => "eval",
            ErrorKind::HttpConnect => "http_connect",
            ErrorKind::HttpTimeout => "http_timeout",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::ExecSpawn => "exec_spawn",
            ErrorKind::ExecTimeout => "exec_timeout",
            ErrorKind::ExecExit => "exec_exit",
        }
    }
}

/// Puts a failure in scope for an `on_error` target: `error = {kind, message, node}`, and records
/// the failed step. Generated code calls it for in-place failures (scripts, templates) of a node
/// with `on_error`; the engine calls it for failed actions.
#[inline(never)]
#[cold]
pub fn catch(ctx: &mut Ctx, flow: &FlowDef, node: NodeIx, kind: ErrorKind, message: String) {
    let id = flow.nodes.get(usize::from(node)).map_or("?", |n| n.id);
    let mut e = serde_json::Map::new();
    e.insert("kind".into(), Value::from(kind.as_str()));
    e.insert("message".into(), Value::from(message.clone()));
    e.insert("node".into(), Value::from(id));
    ctx.error = Value::Object(e);
    ctx.trace
        .push(TraceStep::new(node, Outcome::Failed(message)));
}

/// Generated code: a node with `on_error` failed in place (a script, condition or template
/// error, already recorded in the trace by [`fail`]): puts it in scope as
/// `error = {kind: "eval", message, node}` instead of failing the flow.
#[inline(never)]
#[cold]
pub fn recover(ctx: &mut Ctx, err: FlowError) {
    let mut e = serde_json::Map::new();
    e.insert("kind".into(), Value::from(ErrorKind::Eval.as_str()));
    e.insert("message".into(), Value::from(err.message));
    e.insert("node".into(), Value::from(err.node));
    ctx.error = Value::Object(e);
}

/// Level of a `log` node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// A `log` node: emits `message` through `tracing` (target `hookflow::flow`) with the delivery's
/// tenant, event type, delivery id, flow and node; its output (`nodes.<id>`) is the message.
#[inline(never)]
pub fn log(
    ctx: &mut Ctx,
    flow: &FlowDef,
    node: NodeIx,
    level: LogLevel,
    message: Result<String, EvalError>,
) -> Result<(), FlowError> {
    let message = match message {
        Ok(m) => m,
        Err(e) => return Err(fail(ctx, flow, node, e)),
    };
    let id = flow.nodes.get(usize::from(node)).map_or("?", |n| n.id);
    let ev = &ctx.event;
    let (tenant, event_type, delivery_id) = (
        ev.tenant.as_str().unwrap_or_default(),
        ev.event_type.as_str().unwrap_or_default(),
        ev.delivery_id.as_str().unwrap_or_default(),
    );
    macro_rules! emit {
        ($level:expr) => {
            tracing::event!(
                target: "hookflow::flow",
                $level,
                tenant,
                event_type,
                delivery_id,
                flow = flow.name,
                node = id,
                "{message}"
            )
        };
    }
    match level {
        LogLevel::Trace => emit!(tracing::Level::TRACE),
        LogLevel::Debug => emit!(tracing::Level::DEBUG),
        LogLevel::Info => emit!(tracing::Level::INFO),
        LogLevel::Warn => emit!(tracing::Level::WARN),
        LogLevel::Error => emit!(tracing::Level::ERROR),
    }
    if let Some(slot) = ctx.outputs.get_mut(usize::from(node)) {
        *slot = Value::String(message);
    }
    ctx.trace.push(TraceStep::new(node, Outcome::Ok));
    Ok(())
}

/// Generated code: an action node built its request (`Err`: a template could not be evaluated,
/// recorded as the node's failed step). Success records nothing: the engine records the step
/// once it has performed the action.
#[inline(never)]
pub fn act(
    ctx: &mut Ctx,
    flow: &FlowDef,
    node: NodeIx,
    r: Result<Action, EvalError>,
) -> Result<Action, FlowError> {
    r.map_err(|e| fail(ctx, flow, node, e))
}

/// Generated code: a `log` message from its template (a function of `text`, not a new
/// function per node).
#[inline(never)]
pub fn text(r: Result<super::V<'_>, EvalError>) -> Result<String, EvalError> {
    r.map(into_text)
}

/// The text of a template's value (as `to_text`), without copying a computed string.
#[inline(never)]
pub fn into_text(v: super::V<'_>) -> String {
    match v {
        super::Cow::Owned(Value::String(s)) => s,
        other => super::to_text(&other),
    }
}
