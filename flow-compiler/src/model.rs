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
    /// The node could not be read (a diagnostic was reported).
    Invalid,
}

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
const NODE_KEYS: &[&str] = &["id", "type", "config", "next"];
const TRIGGER_KEYS: &[&str] = &["type", "event_type", "target"];
/// The node types and the keys of their `config`.
pub const NODE_TYPES: &[(&str, &[&str])] = &[
    ("script", &["script"]),
    ("branch", &["conditions", "default"]),
    ("http_response", &["status", "headers", "body"]),
    ("async", &["flow", "payload"]),
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
                        .note("node types are `script`, `branch`, `http_response` and `async`");
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
        _ => None,
    }
}
