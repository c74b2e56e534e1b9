//! The flow model: the YAML tree of one file checked against the flow format (known keys,
//! required keys, value types) and turned into [`Flow`]. Every mistake is an HF01xx diagnostic
//! at the exact key or value; a flow with schema errors is still returned as far as it could be
//! read, so later checks can run on the rest without cascading.

use crate::diag::{did_you_mean, Code, Diagnostic, FileId, Origin, Span};
use crate::yaml::{Node, Val};

/// Unknown key.
pub const HF0102: Code = Code("HF0102");
/// Missing required key.
pub const HF0103: Code = Code("HF0103");
/// Wrong type of value.
pub const HF0104: Code = Code("HF0104");
/// Unknown node type.
pub const HF0105: Code = Code("HF0105");
/// Duplicate key in a mapping.
pub const HF0106: Code = Code("HF0106");
/// `http_request.method` that is not a literal upper-case HTTP method.
pub const HF0107: Code = Code("HF0107");
/// `http_request.url` without templates that is not an absolute http/https URL.
pub const HF0108: Code = Code("HF0108");
/// `timeout_ms` that is zero or negative.
pub const HF0109: Code = Code("HF0109");
/// `expect_status` item that is not a status (100..=599), a range or a class.
pub const HF0110: Code = Code("HF0110");
/// Outgoing header name that is not an HTTP token.
pub const HF0111: Code = Code("HF0111");
/// Invalid environment variable name (`env:NAME` header values, `exec.env` keys).
pub const HF0112: Code = Code("HF0112");
/// `exec.command` that is empty.
pub const HF0113: Code = Code("HF0113");
/// Unknown `log.level`.
pub const HF0114: Code = Code("HF0114");

/// A string with its place in the file.
#[derive(Debug, Clone)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// A script, expression or template: its text and where its content starts.
#[derive(Debug, Clone)]
pub struct Text {
    pub text: String,
    pub origin: Origin,
    pub span: Span,
}

/// YAML turned into JSON where every string is a template.
#[derive(Debug, Clone)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

#[derive(Debug, Clone)]
pub struct Flow {
    pub file: FileId,
    pub name: Name,
    pub version: String,
    pub nodes: Vec<FlowNode>,
    pub triggers: Vec<Trigger>,
    /// Where the `nodes` key is (for "flow has no nodes").
    pub nodes_span: Span,
}

#[derive(Debug, Clone)]
pub struct FlowNode {
    pub id: Name,
    /// The YAML `type`.
    pub kind_name: String,
    pub kind: Kind,
    pub next: Option<Name>,
    /// Where a failure of this node goes (with `error` in scope) instead of failing the flow.
    pub on_error: Option<Name>,
    /// The `- ` item's line.
    pub line: u32,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Script(Text),
    Branch {
        conditions: Vec<(Text, Name)>,
        default: Option<Name>,
    },
    HttpResponse {
        status: (i64, Span),
        headers: Vec<(String, Text)>,
        body: Option<Json>,
    },
    Async {
        flow: Name,
        payload: Option<Json>,
    },
    HttpRequest(HttpRequest),
    Exec(Exec),
    Log {
        level: LogLevel,
        message: Text,
    },
    /// The node could not be read (a diagnostic was reported).
    Invalid,
}

/// An `http_request` node's config.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Upper case, one of [`METHODS`].
    pub method: String,
    pub url: Text,
    pub headers: Vec<(String, HeaderSrc)>,
    /// A string is a template (one `{{expr}}`: its JSON value; else text); anything else JSON.
    pub body: Option<Json>,
    /// Positive; `None` is the runtime's default.
    pub timeout_ms: Option<u64>,
    /// Inclusive ranges; empty means 2xx.
    pub expect_status: Vec<(u16, u16)>,
}

/// The value of an outgoing header.
#[derive(Debug, Clone)]
pub enum HeaderSrc {
    Template(Text),
    /// `env:NAME`: the environment variable `NAME`, resolved at start-up.
    Secret(String),
}

/// An `exec` node's config.
#[derive(Debug, Clone)]
pub struct Exec {
    pub command: Text,
    pub args: Vec<Text>,
    pub env: Vec<(String, Text)>,
    pub stdin: Option<Text>,
    pub working_dir: Option<Text>,
    /// Positive; `None` is the runtime's default.
    pub timeout_ms: Option<u64>,
    pub allow_failure: bool,
}

/// `log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// The accepted `http_request` methods.
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// The `log` levels, in the order of [`LogLevel`].
pub const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error"];

#[derive(Debug, Clone)]
pub struct Trigger {
    pub kind: Name,
    pub event_type: Name,
    pub target: Name,
}

/// Reads a mapping against a list of keys: reports unknown and duplicate keys, gives access to
/// the values and reports missing required ones.
struct Obj<'n> {
    node: &'n Node,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

fn mapping<'n>(
    node: &'n Node,
    what: &str,
    keys: &[&str],
    diags: &mut Vec<Diagnostic>,
) -> Option<Obj<'n>> {
    let Val::Map(m) = &node.val else {
        diags.push(type_error(
            node,
            &format!("{what} must be a mapping"),
            "a mapping",
        ));
        return None;
    };
    let mut entries: Vec<(&str, &Node, &Node)> = Vec::new();
    for (k, v) in m {
        let Some(name) = k.as_str() else {
            diags.push(type_error(k, "keys must be strings", "a string"));
            continue;
        };
        if !keys.contains(&name) {
            let mut d = Diagnostic::new(HF0102, k.span, format!("unknown key `{name}` in {what}"))
                .label("unknown key")
                .note(format!(
                    "the keys of {what} are: {}",
                    keys.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            if let Some(h) = did_you_mean(name, keys.iter().copied()) {
                d = d.help(h);
            }
            diags.push(d);
            continue;
        }
        if entries.iter().any(|(n, _, _)| *n == name) {
            diags.push(
                Diagnostic::new(HF0106, k.span, format!("duplicate key `{name}`"))
                    .label("this key was already given"),
            );
            continue;
        }
        entries.push((name, k, v));
    }
    Some(Obj { node, entries })
}

impl<'n> Obj<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(n, _, _)| *n == key)
            .map(|(_, _, v)| *v)
    }

    fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(n, _, _)| *n == key)
            .map(|(_, k, _)| k.span)
    }

    fn required(&self, key: &str, what: &str, diags: &mut Vec<Diagnostic>) -> Option<&'n Node> {
        let v = self.get(key);
        if v.is_none() {
            let span = Span {
                len: 1,
                ..self.node.span
            };
            diags.push(
                Diagnostic::new(HF0103, span, format!("missing key `{key}` in {what}"))
                    .label(format!("{what} starts here")),
            );
        }
        v
    }
}

fn type_error(node: &Node, message: &str, expected: &str) -> Diagnostic {
    Diagnostic::new(HF0104, node.span, message.to_owned())
        .label(format!("expected {expected}, found {}", node.kind()))
}

fn name(node: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Name> {
    match &node.val {
        Val::Str(s) => Some(Name {
            text: s.clone(),
            span: Span {
                // After the opening quote of a quoted scalar.
                col: if node.origin.line == node.span.line && !node.origin.block {
                    node.origin.col
                } else {
                    node.span.col
                },
                len: (s.chars().count() as u32).max(1),
                ..node.span
            },
        }),
        _ => {
            diags.push(type_error(
                node,
                &format!("{what} must be a string"),
                "a string",
            ));
            None
        }
    }
}

/// A name that may also be written as a plain scalar (`version: 1.0`).
fn scalar_text(node: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> Option<String> {
    match &node.val {
        Val::Str(s) => Some(s.clone()),
        Val::Int(i) => Some(i.to_string()),
        Val::Float(f) => Some(f.to_string()),
        _ => {
            diags.push(type_error(
                node,
                &format!("{what} must be a string"),
                "a string",
            ));
            None
        }
    }
}

fn text(node: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Text> {
    match &node.val {
        Val::Str(s) => Some(Text {
            text: s.clone(),
            origin: node.origin,
            span: node.span,
        }),
        _ => {
            diags.push(type_error(
                node,
                &format!("{what} must be a string"),
                "a string",
            ));
            None
        }
    }
}

fn json(node: &Node, diags: &mut Vec<Diagnostic>) -> Option<Json> {
    Some(match &node.val {
        Val::Null => Json::Null,
        Val::Bool(b) => Json::Bool(*b),
        Val::Int(i) => Json::Int(*i),
        Val::Float(f) => Json::Float(*f),
        Val::Str(s) => Json::Str(Text {
            text: s.clone(),
            origin: node.origin,
            span: node.span,
        }),
        Val::Seq(items) => Json::Arr(
            items
                .iter()
                .map(|i| json(i, diags))
                .collect::<Option<_>>()?,
        ),
        Val::Map(m) => {
            let mut out = Vec::with_capacity(m.len());
            for (k, v) in m {
                let key = match &k.val {
                    Val::Str(s) => s.clone(),
                    Val::Int(i) => i.to_string(),
                    Val::Bool(b) => b.to_string(),
                    _ => {
                        diags.push(type_error(
                            k,
                            "JSON object keys must be strings",
                            "a string",
                        ));
                        return None;
                    }
                };
                if out.iter().any(|(n, _)| *n == key) {
                    diags.push(
                        Diagnostic::new(HF0106, k.span, format!("duplicate key `{key}`"))
                            .label("this key was already given"),
                    );
                    return None;
                }
                out.push((key, json(v, diags)?));
            }
            Json::Obj(out)
        }
    })
}

const FLOW_KEYS: &[&str] = &["name", "version", "nodes", "triggers"];
const NODE_KEYS: &[&str] = &["id", "type", "config", "next", "on_error"];
const TRIGGER_KEYS: &[&str] = &["type", "event_type", "target"];
/// The node types and the keys of their `config`.
pub const NODE_TYPES: &[(&str, &[&str])] = &[
    ("script", &["script"]),
    ("branch", &["conditions", "default"]),
    ("http_response", &["status", "headers", "body"]),
    ("async", &["flow", "payload"]),
    (
        "http_request",
        &[
            "method",
            "url",
            "headers",
            "body",
            "timeout_ms",
            "expect_status",
        ],
    ),
    (
        "exec",
        &[
            "command",
            "args",
            "env",
            "stdin",
            "working_dir",
            "timeout_ms",
            "allow_failure",
        ],
    ),
    ("log", &["level", "message"]),
];

/// Reads one file's YAML tree as a flow. `None` when not even the flow's name could be read.
pub fn read_flow(file: FileId, root: &Node, diags: &mut Vec<Diagnostic>) -> Option<Flow> {
    let top = mapping(root, "a flow", FLOW_KEYS, diags)?;
    let name_node = top.required("name", "the flow", diags);
    let flow_name = name_node.and_then(|n| name(n, "`name`", diags));
    let version = top
        .get("version")
        .and_then(|v| scalar_text(v, "`version`", diags))
        .unwrap_or_default();
    let mut nodes = Vec::new();
    let nodes_span = top.key_span("nodes").unwrap_or(root.span);
    if let Some(list) = top.required("nodes", "the flow", diags) {
        match &list.val {
            Val::Seq(items) => {
                for item in items {
                    if let Some(n) = read_node(item, diags) {
                        nodes.push(n);
                    }
                }
            }
            _ => diags.push(type_error(
                list,
                "`nodes` must be a list of nodes",
                "a list",
            )),
        }
    }
    let mut triggers = Vec::new();
    if let Some(list) = top.get("triggers") {
        match &list.val {
            Val::Seq(items) => {
                for item in items {
                    if let Some(t) = read_trigger(item, diags) {
                        triggers.push(t);
                    }
                }
            }
            Val::Null => {}
            _ => diags.push(type_error(list, "`triggers` must be a list", "a list")),
        }
    }
    Some(Flow {
        file,
        name: flow_name?,
        version,
        nodes,
        triggers,
        nodes_span,
    })
}

fn read_trigger(item: &Node, diags: &mut Vec<Diagnostic>) -> Option<Trigger> {
    let m = mapping(item, "a trigger", TRIGGER_KEYS, diags)?;
    let kind = m
        .required("type", "a trigger", diags)
        .and_then(|n| name(n, "`type`", diags));
    let event_type = m
        .required("event_type", "a trigger", diags)
        .and_then(|n| name(n, "`event_type`", diags));
    let target = m
        .required("target", "a trigger", diags)
        .and_then(|n| name(n, "`target`", diags));
    Some(Trigger {
        kind: kind?,
        event_type: event_type?,
        target: target?,
    })
}

fn read_node(item: &Node, diags: &mut Vec<Diagnostic>) -> Option<FlowNode> {
    let m = mapping(item, "a node", NODE_KEYS, diags)?;
    let id = m
        .required("id", "a node", diags)
        .and_then(|n| name(n, "`id`", diags));
    let next = m.get("next").and_then(|n| name(n, "`next`", diags));
    let on_error = m.get("on_error").and_then(|n| name(n, "`on_error`", diags));
    let type_node = m.required("type", "a node", diags);
    let kind_name = type_node.and_then(|n| name(n, "`type`", diags));
    let config = m.get("config");
    let mut kind = Kind::Invalid;
    if let Some(k) = &kind_name {
        match NODE_TYPES.iter().find(|(t, _)| *t == k.text) {
            None => {
                let mut d =
                    Diagnostic::new(HF0105, k.span, format!("unknown node type `{}`", k.text))
                        .label("unknown node type")
                        .note(format!(
                            "node types are {}",
                            NODE_TYPES
                                .iter()
                                .map(|(t, _)| format!("`{t}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                if let Some(h) = did_you_mean(&k.text, NODE_TYPES.iter().map(|(t, _)| *t)) {
                    d = d.help(h);
                }
                diags.push(d);
            }
            Some((t, keys)) => {
                let what = format!("the config of a `{t}` node");
                match config {
                    None => {
                        m.required("config", "a node", diags);
                    }
                    Some(c) => {
                        if let Some(cfg) = mapping(c, &what, keys, diags) {
                            kind = read_config(t, &cfg, &what, diags).unwrap_or(Kind::Invalid);
                        }
                    }
                }
            }
        }
    }
    let next = match (&kind, next) {
        (Kind::Branch { .. }, Some(n)) => {
            let key = m.key_span("next").unwrap_or(n.span);
            diags.push(
                Diagnostic::new(HF0102, key, "a `branch` node has no `next`")
                    .label("not allowed on a branch")
                    .help("the node taken when no condition holds is `config.default`"),
            );
            None
        }
        (_, n) => n,
    };
    Some(FlowNode {
        id: id?,
        kind_name: kind_name.map(|k| k.text).unwrap_or_default(),
        kind,
        next,
        on_error,
        line: item.span.line,
    })
}

fn read_config(t: &str, cfg: &Obj<'_>, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Kind> {
    match t {
        "script" => {
            let s = cfg.required("script", what, diags)?;
            Some(Kind::Script(text(s, "`script`", diags)?))
        }
        "branch" => {
            let list = cfg.required("conditions", what, diags);
            let default = cfg.get("default").and_then(|n| name(n, "`default`", diags));
            let mut conditions = Vec::new();
            let mut ok = true;
            match list.map(|l| &l.val) {
                Some(Val::Seq(items)) => {
                    for item in items {
                        let Some(c) = mapping(item, "a condition", &["expression", "next"], diags)
                        else {
                            ok = false;
                            continue;
                        };
                        let e = c
                            .required("expression", "a condition", diags)
                            .and_then(|n| text(n, "`expression`", diags));
                        let n = c
                            .required("next", "a condition", diags)
                            .and_then(|n| name(n, "`next`", diags));
                        match (e, n) {
                            (Some(e), Some(n)) => conditions.push((e, n)),
                            _ => ok = false,
                        }
                    }
                }
                Some(_) => {
                    if let Some(l) = list {
                        diags.push(type_error(l, "`conditions` must be a list", "a list"));
                    }
                    ok = false;
                }
                None => ok = false,
            }
            ok.then_some(Kind::Branch {
                conditions,
                default,
            })
        }
        "http_response" => {
            let s = cfg.required("status", what, diags)?;
            let status = match s.val {
                Val::Int(i) => (i, s.span),
                _ => {
                    diags.push(type_error(s, "`status` must be an integer", "an integer"));
                    return None;
                }
            };
            let mut headers = Vec::new();
            if let Some(h) = cfg.get("headers") {
                match &h.val {
                    Val::Map(m) => {
                        for (k, v) in m {
                            let key = name(k, "a header name", diags)?;
                            let value = match &v.val {
                                Val::Int(_) | Val::Float(_) | Val::Bool(_) => Text {
                                    text: scalar_text(v, "a header value", diags)
                                        .unwrap_or_else(|| format!("{:?}", v.val)),
                                    origin: v.origin,
                                    span: v.span,
                                },
                                _ => text(v, "a header value", diags)?,
                            };
                            headers.push((key.text, value));
                        }
                    }
                    _ => {
                        diags.push(type_error(h, "`headers` must be a mapping", "a mapping"));
                        return None;
                    }
                }
            }
            let body = match cfg.get("body") {
                Some(b) => Some(json(b, diags)?),
                None => None,
            };
            Some(Kind::HttpResponse {
                status,
                headers,
                body,
            })
        }
        "async" => {
            let f = cfg.required("flow", what, diags)?;
            let flow = name(f, "`flow`", diags)?;
            let payload = match cfg.get("payload") {
                Some(p) => Some(json(p, diags)?),
                None => None,
            };
            Some(Kind::Async { flow, payload })
        }
        "http_request" => read_http_request(cfg, what, diags).map(Kind::HttpRequest),
        "exec" => read_exec(cfg, what, diags).map(Kind::Exec),
        "log" => read_log(cfg, what, diags),
        _ => None,
    }
}

// ------------------------------------------------------------------ action nodes

/// A template that may also be written as a plain scalar (`X-Count: 3`, `args: [--n, 3]`).
fn template(node: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Text> {
    match &node.val {
        Val::Int(_) | Val::Float(_) | Val::Bool(_) => {
            let text = match &node.val {
                Val::Bool(b) => b.to_string(),
                _ => scalar_text(node, what, diags)?,
            };
            Some(Text {
                text,
                origin: node.origin,
                span: node.span,
            })
        }
        _ => text(node, what, diags),
    }
}

/// `timeout_ms`: a positive integer.
fn timeout_ms(node: &Node, diags: &mut Vec<Diagnostic>) -> Option<u64> {
    match node.val {
        Val::Int(i) if i > 0 => u64::try_from(i).ok(),
        Val::Int(i) => {
            diags.push(
                Diagnostic::new(HF0109, node.span, "`timeout_ms` must be positive")
                    .label(if i == 0 {
                        "a timeout of 0 ms would fail every time".to_owned()
                    } else {
                        format!("{i} is not a positive number of milliseconds")
                    })
                    .help("leave `timeout_ms` out for the default"),
            );
            None
        }
        _ => {
            diags.push(type_error(
                node,
                "`timeout_ms` must be an integer",
                "an integer (milliseconds)",
            ));
            None
        }
    }
}

fn boolean(node: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> Option<bool> {
    match node.val {
        Val::Bool(b) => Some(b),
        _ => {
            diags.push(type_error(
                node,
                &format!("{what} must be `true` or `false`"),
                "a boolean",
            ));
            None
        }
    }
}

/// The entries of a mapping whose keys are strings; `None` (reported) when it is not one.
fn entries<'n>(
    node: &'n Node,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(Name, &'n Node)>> {
    let Val::Map(m) = &node.val else {
        diags.push(type_error(
            node,
            &format!("{what} must be a mapping"),
            "a mapping",
        ));
        return None;
    };
    let mut out = Vec::with_capacity(m.len());
    let mut ok = true;
    for (k, v) in m {
        match name(k, "a key", diags) {
            Some(n) => out.push((n, v)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `[A-Za-z_][A-Za-z0-9_]*` (`upper_only`: `[A-Z_][A-Z0-9_]*`).
fn is_env_name(s: &str, upper_only: bool) -> bool {
    let letter = |c: char| {
        c == '_'
            || if upper_only {
                c.is_ascii_uppercase()
            } else {
                c.is_ascii_alphabetic()
            }
    };
    let mut chars = s.chars();
    chars.next().is_some_and(letter) && chars.all(|c| letter(c) || c.is_ascii_digit())
}

/// An HTTP header name: a non-empty RFC 9110 token.
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// One `expect_status` entry: `204`, `"204"`, `"200-299"` or `"2xx"`.
fn status_spec(s: &str) -> Option<(u16, u16)> {
    let s = s.trim();
    let num = |t: &str| {
        let t = t.trim();
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u16>().ok())
            .flatten()
            .filter(|n| (100..=599).contains(n))
    };
    if let Some(class) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
        let d = num(&format!("{class}00"))?;
        return Some((d, d + 99));
    }
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            (a <= b).then_some((a, b))
        }
        None => num(s).map(|n| (n, n)),
    }
}

fn status_error(node: &Node, message: String) -> Diagnostic {
    Diagnostic::new(HF0110, node.span, message)
        .label("expected a status in 100..=599, a range or a class")
        .help("write a status (`204`), a range (`\"200-299\"`) or a class (`\"2xx\"`)")
}

fn status_item(node: &Node, diags: &mut Vec<Diagnostic>) -> Option<(u16, u16)> {
    match &node.val {
        Val::Int(i) => match u16::try_from(*i) {
            Ok(n) if (100..=599).contains(&n) => Some((n, n)),
            _ => {
                diags.push(status_error(node, format!("invalid HTTP status {i}")));
                None
            }
        },
        Val::Str(s) => {
            let r = status_spec(s);
            if r.is_none() {
                diags.push(status_error(node, format!("invalid status range `{s}`")));
            }
            r
        }
        _ => {
            diags.push(type_error(
                node,
                "an `expect_status` item must be a status or a range",
                "an integer or a string",
            ));
            None
        }
    }
}

fn expect_status(node: &Node, diags: &mut Vec<Diagnostic>) -> Option<Vec<(u16, u16)>> {
    match &node.val {
        Val::Seq(items) if items.is_empty() => {
            diags.push(
                Diagnostic::new(HF0110, node.span, "`expect_status` is empty")
                    .label("no status would be accepted")
                    .help("leave `expect_status` out to accept any 2xx status"),
            );
            None
        }
        Val::Seq(items) => {
            let all: Vec<Option<(u16, u16)>> =
                items.iter().map(|i| status_item(i, diags)).collect();
            all.into_iter().collect()
        }
        Val::Int(_) | Val::Str(_) => status_item(node, diags).map(|r| vec![r]),
        _ => {
            diags.push(type_error(
                node,
                "`expect_status` must be a list of statuses and ranges",
                "a list, a status or a range",
            ));
            None
        }
    }
}

fn method(node: &Node, diags: &mut Vec<Diagnostic>) -> Option<String> {
    let m = name(node, "`method`", diags)?;
    if METHODS.contains(&m.text.as_str()) {
        return Some(m.text);
    }
    let upper = m.text.to_ascii_uppercase();
    let listed = METHODS
        .iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut d = Diagnostic::new(
        HF0107,
        node.span,
        format!("invalid HTTP method `{}`", m.text),
    );
    d = if METHODS.contains(&upper.as_str()) {
        d.label("methods are written in upper case")
            .help(format!("write `{upper}`"))
    } else if m.text.contains("{{") {
        d.label("the method cannot be a template")
            .note(format!("methods: {listed}"))
    } else {
        let d = d.label("unknown method").note(format!("methods: {listed}"));
        match did_you_mean(&upper, METHODS.iter().copied()) {
            Some(h) => d.help(h),
            None => d,
        }
    };
    diags.push(d);
    None
}

/// A URL without templates must be an absolute http/https URL.
fn check_url(url: &Text, diags: &mut Vec<Diagnostic>) -> bool {
    if !crate::lang::template_is_constant(&url.text) {
        return true;
    }
    let mut help =
        "write an absolute http or https URL, e.g. `http://127.0.0.1:9000/hook`".to_owned();
    let problem = match url::Url::parse(&url.text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => return true,
        // `localhost:9000/hook` parses with the scheme `localhost`.
        Ok(_) if !url.text.contains("://") => {
            help = format!("write `http://{}`", url.text);
            "no `http://` or `https://`".to_owned()
        }
        Ok(u) => format!("`{}` URLs cannot be requested", u.scheme()),
        Err(url::ParseError::RelativeUrlWithoutBase) => "a relative URL".to_owned(),
        Err(e) => e.to_string(),
    };
    diags.push(
        Diagnostic::new(HF0108, url.span, format!("invalid URL `{}`", url.text))
            .label(problem)
            .help(help),
    );
    false
}

fn header_value(v: &Node, diags: &mut Vec<Diagnostic>) -> Option<HeaderSrc> {
    if let Some(var) = v.as_str().and_then(|s| s.strip_prefix("env:")) {
        if is_env_name(var, true) {
            return Some(HeaderSrc::Secret(var.to_owned()));
        }
        let message = if var.is_empty() {
            "`env:` without a variable name".to_owned()
        } else {
            format!("`{var}` is not an environment variable name")
        };
        let mut d = Diagnostic::new(HF0112, v.span, message)
            .label("`env:` must be followed by a name like `GITHUB_TOKEN`")
            .note("names are upper-case letters, digits and `_`, not starting with a digit");
        let upper = var.to_ascii_uppercase();
        if is_env_name(&upper, true) {
            d = d.help(format!("did you mean `env:{upper}`?"));
        }
        diags.push(d);
        return None;
    }
    template(v, "a header value", diags).map(HeaderSrc::Template)
}

fn read_http_request(
    cfg: &Obj<'_>,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<HttpRequest> {
    let mut ok = true;
    let method = cfg
        .required("method", what, diags)
        .and_then(|n| method(n, diags));
    let url = cfg
        .required("url", what, diags)
        .and_then(|n| text(n, "`url`", diags))
        .filter(|u| check_url(u, diags));
    let mut headers: Vec<(String, HeaderSrc)> = Vec::new();
    if let Some(h) = cfg.get("headers") {
        match entries(h, "`headers`", diags) {
            Some(list) => {
                for (k, v) in list {
                    if !is_header_name(&k.text) {
                        diags.push(
                            Diagnostic::new(
                                HF0111,
                                k.span,
                                format!("invalid header name `{}`", k.text),
                            )
                            .label("not a valid HTTP header name")
                            .note("header names are letters, digits and ``!#$%&'*+-.^_`|~``"),
                        );
                        ok = false;
                        continue;
                    }
                    if headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(&k.text)) {
                        diags.push(
                            Diagnostic::new(
                                HF0106,
                                k.span,
                                format!("header `{}` is given twice", k.text),
                            )
                            .label("header names are case-insensitive"),
                        );
                        ok = false;
                        continue;
                    }
                    match header_value(v, diags) {
                        Some(value) => headers.push((k.text, value)),
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    let body = match cfg.get("body") {
        Some(b) => {
            let j = json(b, diags);
            ok &= j.is_some();
            j
        }
        None => None,
    };
    let timeout = match cfg.get("timeout_ms") {
        Some(t) => {
            let v = timeout_ms(t, diags);
            ok &= v.is_some();
            v
        }
        None => None,
    };
    let expect = match cfg.get("expect_status") {
        Some(e) => {
            let v = expect_status(e, diags);
            ok &= v.is_some();
            v.unwrap_or_default()
        }
        None => Vec::new(),
    };
    let (method, url) = (method?, url?);
    ok.then_some(HttpRequest {
        method,
        url,
        headers,
        body,
        timeout_ms: timeout,
        expect_status: expect,
    })
}

fn read_exec(cfg: &Obj<'_>, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Exec> {
    let mut ok = true;
    let command = cfg
        .required("command", what, diags)
        .and_then(|n| text(n, "`command`", diags))
        .filter(|c| {
            let empty = c.text.trim().is_empty();
            if empty {
                diags.push(
                    Diagnostic::new(HF0113, c.span, "empty `command`")
                        .label("expected the program to run")
                        .help("name a program (`/usr/bin/git`, `scripts/deploy.sh`); its arguments go in `args`"),
                );
            }
            !empty
        });
    let mut args = Vec::new();
    if let Some(a) = cfg.get("args") {
        match &a.val {
            Val::Seq(items) => {
                for i in items {
                    match template(i, "an argument", diags) {
                        Some(t) => args.push(t),
                        None => ok = false,
                    }
                }
            }
            _ => {
                diags.push(
                    type_error(a, "`args` must be a list", "a list").help(
                        "one item per argument: `args: [\"--ref\", \"{{event.payload.ref}}\"]`",
                    ),
                );
                ok = false;
            }
        }
    }
    let mut env: Vec<(String, Text)> = Vec::new();
    if let Some(e) = cfg.get("env") {
        match entries(e, "`env`", diags) {
            Some(list) => {
                for (k, v) in list {
                    if !is_env_name(&k.text, false) {
                        diags.push(
                            Diagnostic::new(
                                HF0112,
                                k.span,
                                format!("`{}` is not an environment variable name", k.text),
                            )
                            .label("expected letters, digits and `_`, not starting with a digit"),
                        );
                        ok = false;
                        continue;
                    }
                    match template(v, "an `env` value", diags) {
                        Some(t) => env.push((k.text, t)),
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    let mut optional_text = |key: &str| match cfg.get(key) {
        Some(n) => {
            let t = text(n, &format!("`{key}`"), diags);
            ok &= t.is_some();
            t
        }
        None => None,
    };
    let stdin = optional_text("stdin");
    let working_dir = optional_text("working_dir");
    let timeout = match cfg.get("timeout_ms") {
        Some(t) => {
            let v = timeout_ms(t, diags);
            ok &= v.is_some();
            v
        }
        None => None,
    };
    let allow_failure = match cfg.get("allow_failure") {
        Some(b) => {
            let v = boolean(b, "`allow_failure`", diags);
            ok &= v.is_some();
            v.unwrap_or(false)
        }
        None => false,
    };
    let command = command?;
    ok.then_some(Exec {
        command,
        args,
        env,
        stdin,
        working_dir,
        timeout_ms: timeout,
        allow_failure,
    })
}

fn read_log(cfg: &Obj<'_>, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Kind> {
    let level = match cfg.get("level") {
        None => Some(LogLevel::Info),
        Some(n) => name(n, "`level`", diags).and_then(|l| {
            let levels = [
                LogLevel::Trace,
                LogLevel::Debug,
                LogLevel::Info,
                LogLevel::Warn,
                LogLevel::Error,
            ];
            if let Some(i) = LOG_LEVELS.iter().position(|x| *x == l.text) {
                return Some(levels[i]);
            }
            let lower = l.text.to_ascii_lowercase();
            let mut d = Diagnostic::new(HF0114, n.span, format!("unknown log level `{}`", l.text))
                .label("unknown level")
                .note("levels are `trace`, `debug`, `info`, `warn`, `error`");
            if LOG_LEVELS.contains(&lower.as_str()) {
                d = d.help(format!("write `{lower}`"));
            } else if let Some(h) = did_you_mean(&lower, LOG_LEVELS.iter().copied()) {
                d = d.help(h);
            }
            diags.push(d);
            None
        }),
    };
    let message = cfg
        .required("message", what, diags)
        .and_then(|n| template(n, "`message`", diags));
    Some(Kind::Log {
        level: level?,
        message: message?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_specs() {
        assert_eq!(status_spec("204"), Some((204, 204)));
        assert_eq!(status_spec(" 200-299 "), Some((200, 299)));
        assert_eq!(status_spec("200 - 204"), Some((200, 204)));
        assert_eq!(status_spec("2xx"), Some((200, 299)));
        assert_eq!(status_spec("5XX"), Some((500, 599)));
        for bad in [
            "", "abc", "300-200", "99", "600", "1xx1", "6xx", "0xx", "-", "200-", "+200",
        ] {
            assert_eq!(status_spec(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_and_environment_names() {
        for ok in ["X-GitHub-Event", "content-type", "a!#$%&'*+-.^_`|~9"] {
            assert!(is_header_name(ok), "{ok}");
        }
        for bad in ["", "X Event", "a:b", "é", "a\n"] {
            assert!(!is_header_name(bad), "{bad}");
        }
        assert!(is_env_name("GITHUB_TOKEN", true));
        assert!(is_env_name("_A1", true));
        assert!(!is_env_name("github_token", true));
        assert!(is_env_name("http_proxy", false));
        for bad in ["", "1A", "A-B", "A B"] {
            assert!(!is_env_name(bad, false), "{bad}");
        }
    }

    fn read(config: &str, kind: &str) -> (Option<Kind>, Vec<Diagnostic>) {
        let yaml = format!("- id: a\n  type: {kind}\n  config: {config}\n");
        let mut diags = Vec::new();
        let root = crate::yaml::parse(0, &yaml, &mut diags).expect("yaml");
        let Val::Seq(items) = &root.val else {
            panic!("list")
        };
        let node = read_node(&items[0], &mut diags).expect("node");
        let kind = (!matches!(node.kind, Kind::Invalid)).then_some(node.kind);
        (kind, diags)
    }

    #[test]
    fn http_request_config() {
        let (k, d) = read(
            "{method: PUT, url: 'https://x.test/{{event.tenant}}', headers: {A: 'env:TOKEN', B: 3}, body: 'hi {{event.tenant}}', timeout_ms: 1500, expect_status: [204, '3xx']}",
            "http_request",
        );
        assert!(d.is_empty(), "{d:?}");
        let Some(Kind::HttpRequest(r)) = k else {
            panic!("{k:?}")
        };
        assert_eq!(r.method, "PUT");
        assert_eq!(r.timeout_ms, Some(1500));
        assert_eq!(r.expect_status, [(204, 204), (300, 399)]);
        assert!(matches!(&r.headers[0], (n, HeaderSrc::Secret(v)) if n == "A" && v == "TOKEN"));
        assert!(matches!(&r.headers[1], (n, HeaderSrc::Template(t)) if n == "B" && t.text == "3"));
        assert!(matches!(r.body, Some(Json::Str(_))));
    }

    #[test]
    fn exec_and_log_config_defaults() {
        let (k, d) = read("{command: git, args: [fetch, 1, true]}", "exec");
        assert!(d.is_empty(), "{d:?}");
        let Some(Kind::Exec(e)) = k else {
            panic!("{k:?}")
        };
        let args: Vec<&str> = e.args.iter().map(|a| a.text.as_str()).collect();
        assert_eq!(args, ["fetch", "1", "true"]);
        assert_eq!((e.timeout_ms, e.allow_failure), (None, false));
        assert!(e.stdin.is_none() && e.working_dir.is_none() && e.env.is_empty());

        let (k, d) = read("{message: hi}", "log");
        assert!(d.is_empty(), "{d:?}");
        assert!(matches!(
            k,
            Some(Kind::Log {
                level: LogLevel::Info,
                ..
            })
        ));
    }

    #[test]
    fn every_mistake_of_one_node_is_reported() {
        let (k, d) = read(
            "{method: get, url: 'x', timeout_ms: 0, expect_status: [99], headers: {'a b': 1}}",
            "http_request",
        );
        assert!(k.is_none());
        let codes: Vec<&str> = d.iter().map(|d| d.code.0).collect();
        assert_eq!(codes, ["HF0107", "HF0108", "HF0111", "HF0109", "HF0110"]);
    }
}
