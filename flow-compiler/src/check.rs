//! Whole-program checks over the flow models (HF02xx): node ids and references, flow names and
//! triggers across files, reachability, cycles, identifiers, HTTP statuses, answering twice.
//! Everything is reported at once; a check whose input is already known to be wrong (a flow
//! with an unknown reference is not checked for unreachable nodes) is skipped, so one mistake
//! gives one error.

use crate::diag::{did_you_mean, Code, Diagnostic, Sources};
use crate::model::{Flow, FlowNode, Kind, Name};
use std::collections::{BTreeMap, HashMap};

/// A `next`, `default`, condition `next`, `on_error` or trigger `target` naming a node that does
/// not exist.
pub const HF0201: Code = Code("HF0201");
/// Two nodes of a flow with the same id.
pub const HF0202: Code = Code("HF0202");
/// `async.flow` naming a flow that does not exist.
pub const HF0203: Code = Code("HF0203");
/// Two flows triggered by the same `event_type`.
pub const HF0204: Code = Code("HF0204");
/// Two flows with the same name.
pub const HF0205: Code = Code("HF0205");
/// A node that no trigger (or the flow's start) can reach.
pub const HF0206: Code = Code("HF0206");
/// A cycle of nodes.
pub const HF0207: Code = Code("HF0207");
/// A node id or flow name that is not an identifier.
pub const HF0208: Code = Code("HF0208");
/// An HTTP status outside 100..=599.
pub const HF0209: Code = Code("HF0209");
/// A trigger type other than `event`.
pub const HF0210: Code = Code("HF0210");
/// An `http_response` reachable after the flow already answered.
pub const HF0211: Code = Code("HF0211");
/// A flow without nodes.
pub const HF0212: Code = Code("HF0212");
/// A node whose `on_error` is the node itself.
pub const HF0213: Code = Code("HF0213");

/// `[A-Za-z_][A-Za-z0-9_]*`, not `_` alone.
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s != "_"
}

fn ident_error(what: &str, n: &Name) -> Diagnostic {
    Diagnostic::new(
        HF0208,
        n.span,
        format!("{what} `{}` is not an identifier", n.text),
    )
    .label("must match `[A-Za-z_][A-Za-z0-9_]*`")
    .help("use letters, digits and `_`, e.g. `handle_push`")
}

/// The edges of a node: (label, target name); `on_error` last.
pub fn edges(node: &FlowNode) -> Vec<(String, Name)> {
    let mut out = Vec::new();
    if let Kind::Branch {
        conditions,
        default,
    } = &node.kind
    {
        for (e, n) in conditions {
            out.push((e.text.clone(), n.clone()));
        }
        if let Some(d) = default {
            out.push(("default".to_owned(), d.clone()));
        }
    }
    if let Some(n) = &node.next {
        out.push(("next".to_owned(), n.clone()));
    }
    if let Some(n) = &node.on_error {
        out.push(("on_error".to_owned(), n.clone()));
    }
    out
}

/// Runs every check over all flows (sorted by file, in reading order).
pub fn check(flows: &[Flow], sources: &Sources, diags: &mut Vec<Diagnostic>) {
    let flow_names: Vec<&str> = flows.iter().map(|f| f.name.text.as_str()).collect();
    let mut first_name: HashMap<&str, &Flow> = HashMap::new();
    let mut first_event: HashMap<&str, (&Flow, &Name)> = HashMap::new();
    for f in flows {
        if !is_ident(&f.name.text) {
            diags.push(ident_error("flow name", &f.name));
        }
        if let Some(prev) = first_name.get(f.name.text.as_str()) {
            diags.push(
                Diagnostic::new(
                    HF0205,
                    f.name.span,
                    format!("two flows are named `{}`", f.name.text),
                )
                .label("second flow with this name")
                .note(format!(
                    "the first one is in {}:{}:{}",
                    sources.path(prev.file),
                    prev.name.span.line,
                    prev.name.span.col
                )),
            );
        } else {
            first_name.insert(&f.name.text, f);
        }
        for t in &f.triggers {
            if t.kind.text != "event" {
                diags.push(
                    Diagnostic::new(
                        HF0210,
                        t.kind.span,
                        format!("unknown trigger type `{}`", t.kind.text),
                    )
                    .label("the only trigger type is `event`"),
                );
            }
            if let Some((pf, pt)) = first_event.get(t.event_type.text.as_str()) {
                diags.push(
                    Diagnostic::new(
                        HF0204,
                        t.event_type.span,
                        format!(
                            "event type `{}` already triggers flow `{}`",
                            t.event_type.text, pf.name.text
                        ),
                    )
                    .label("second trigger for this event type")
                    .note(format!(
                        "the first trigger is in {}:{}:{}",
                        sources.path(pf.file),
                        pt.span.line,
                        pt.span.col
                    ))
                    .note("each event type starts exactly one flow"),
                );
            } else {
                first_event.insert(&t.event_type.text, (f, &t.event_type));
            }
        }
        check_flow(f, &flow_names, diags);
    }
}

fn check_flow(f: &Flow, flow_names: &[&str], diags: &mut Vec<Diagnostic>) {
    if f.nodes.is_empty() {
        diags.push(
            Diagnostic::new(
                HF0212,
                f.nodes_span,
                format!("flow `{}` has no nodes", f.name.text),
            )
            .label("expected at least one node"),
        );
        return;
    }
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in f.nodes.iter().enumerate() {
        if !is_ident(&n.id.text) {
            diags.push(ident_error("node id", &n.id));
        }
        if let Some(&p) = index.get(n.id.text.as_str()) {
            diags.push(
                Diagnostic::new(
                    HF0202,
                    n.id.span,
                    format!("duplicate node id `{}`", n.id.text),
                )
                .label("second node with this id")
                .note(format!(
                    "the first one is at line {}",
                    f.nodes[p].id.span.line
                )),
            );
        } else {
            index.insert(&n.id.text, i);
        }
        if let Kind::HttpResponse { status, .. } = &n.kind {
            if !(100..=599).contains(&status.0) {
                diags.push(
                    Diagnostic::new(
                        HF0209,
                        status.1,
                        format!("invalid HTTP status {}", status.0),
                    )
                    .label("expected a status in 100..=599"),
                );
            }
        }
        if let Kind::Async { flow, .. } = &n.kind {
            if !flow_names.contains(&flow.text.as_str()) {
                let mut d =
                    Diagnostic::new(HF0203, flow.span, format!("unknown flow `{}`", flow.text))
                        .label("no flow has this name");
                if let Some(h) = did_you_mean(&flow.text, flow_names.iter().copied()) {
                    d = d.help(h);
                }
                diags.push(d);
            }
        }
    }
    let ids: Vec<&str> = index.keys().copied().collect();
    let mut broken = false;
    let unknown = |n: &Name, diags: &mut Vec<Diagnostic>| {
        let mut d = Diagnostic::new(HF0201, n.span, format!("unknown node `{}`", n.text))
            .label("no node of this flow has this id");
        if let Some(h) = did_you_mean(&n.text, ids.iter().copied()) {
            d = d.help(h);
        } else {
            d = d.note(format!("the nodes of this flow are: {}", ids.join(", ")));
        }
        diags.push(d);
    };
    // Adjacency by node index; unknown targets reported once each.
    let mut adj: Vec<Vec<(usize, Name)>> = vec![Vec::new(); f.nodes.len()];
    for (i, n) in f.nodes.iter().enumerate() {
        for (label, to) in edges(n) {
            match index.get(to.text.as_str()) {
                Some(&j) if j == i && label == "on_error" => {
                    diags.push(
                        Diagnostic::new(
                            HF0213,
                            to.span,
                            format!("node `{}` is its own `on_error`", to.text),
                        )
                        .label("a failure of this node cannot be handled by the node itself")
                        .help("point `on_error` at a node that handles the failure, e.g. a `log` or an `http_response`"),
                    );
                    broken = true;
                }
                Some(&j) => adj[i].push((j, to)),
                None => {
                    unknown(&to, diags);
                    broken = true;
                }
            }
        }
    }
    let mut roots = Vec::new();
    for t in &f.triggers {
        match index.get(t.target.text.as_str()) {
            Some(&j) => roots.push(j),
            None => {
                unknown(&t.target, diags);
                broken = true;
            }
        }
    }
    // A flow started by `async` (or without triggers) starts at its first node.
    if f.triggers.is_empty() || roots.is_empty() {
        roots.push(0);
    }
    let invalid = f.nodes.iter().any(|n| matches!(n.kind, Kind::Invalid));
    if broken || invalid || index.len() != f.nodes.len() {
        return;
    }
    // Cycles: DFS with colours; report the edge closing the cycle.
    let mut colour = vec![0u8; f.nodes.len()];
    let mut found_cycle = false;
    for start in 0..f.nodes.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            if let Some((w, name)) = adj[v].get(*k) {
                *k += 1;
                match colour[*w] {
                    0 => {
                        colour[*w] = 1;
                        stack.push((*w, 0));
                    }
                    1 => {
                        found_cycle = true;
                        let path: Vec<&str> = stack
                            .iter()
                            .skip_while(|(x, _)| x != w)
                            .map(|(x, _)| f.nodes[*x].id.text.as_str())
                            .collect();
                        diags.push(
                            Diagnostic::new(HF0207, name.span, "cycle of nodes")
                                .label(format!("goes back to `{}`", name.text))
                                .note(format!("cycle: {} -> {}", path.join(" -> "), name.text))
                                .note("a flow must always finish: nodes cannot loop"),
                        );
                    }
                    _ => {}
                }
            } else {
                colour[v] = 2;
                stack.pop();
            }
        }
    }
    // Reachability from the roots.
    let mut seen = vec![false; f.nodes.len()];
    let mut todo = roots.clone();
    while let Some(v) = todo.pop() {
        if std::mem::replace(&mut seen[v], true) {
            continue;
        }
        todo.extend(adj[v].iter().map(|(w, _)| *w));
    }
    for (i, n) in f.nodes.iter().enumerate() {
        if !seen[i] {
            let how = if f.triggers.is_empty() {
                "the flow starts at its first node"
            } else {
                "the flow starts at its trigger targets"
            };
            diags.push(
                Diagnostic::new(HF0206, n.id.span, format!("node `{}` is never reached", n.id.text))
                    .label("no path leads here")
                    .note(format!(
                        "{how}; point a `next`, `default`, condition `next` or `on_error` at this node, or remove it"
                    )),
            );
        }
    }
    if found_cycle {
        return;
    }
    // Answering twice: from the `next` of an http_response, another http_response is reachable
    // (its own `on_error` runs only when it could not answer).
    for n in &f.nodes {
        if !matches!(n.kind, Kind::HttpResponse { .. }) {
            continue;
        }
        let mut seen = vec![false; f.nodes.len()];
        let mut todo: Vec<usize> = n
            .next
            .as_ref()
            .and_then(|x| index.get(x.text.as_str()).copied())
            .into_iter()
            .collect();
        while let Some(v) = todo.pop() {
            if std::mem::replace(&mut seen[v], true) {
                continue;
            }
            if matches!(f.nodes[v].kind, Kind::HttpResponse { .. }) {
                diags.push(
                    Diagnostic::new(
                        HF0211,
                        f.nodes[v].id.span,
                        format!("node `{}` would answer a second time", f.nodes[v].id.text),
                    )
                    .label("this `http_response` runs after the answer was sent")
                    .note(format!(
                        "`{}` (line {}) already answered the request",
                        n.id.text, n.id.span.line
                    ))
                    .help("after answering, use `script`, `async`, `http_request`, `exec` or `log` nodes"),
                );
                continue;
            }
            todo.extend(adj[v].iter().map(|(w, _)| *w));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile_sources;

    #[test]
    fn identifiers() {
        for ok in ["a", "_a", "handle_push", "N1", "match"] {
            assert!(is_ident(ok), "{ok}");
        }
        for bad in ["", "_", "1a", "handle-push", "a.b", "é"] {
            assert!(!is_ident(bad), "{bad}");
        }
    }

    fn codes(yaml: &str) -> Vec<&'static str> {
        let out = compile_sources(vec![("f/a.yaml".into(), yaml.into())]);
        out.diagnostics.iter().map(|d| d.code.0).collect()
    }

    #[test]
    fn a_flow_without_triggers_starts_at_its_first_node() {
        let yaml = "name: f\nnodes:\n  - id: a\n    type: script\n    config: {script: \"1\"}\n    next: b\n  - id: b\n    type: script\n    config: {script: \"2\"}\n  - id: c\n    type: script\n    config: {script: \"3\"}\n";
        assert_eq!(codes(yaml), ["HF0206"]);
    }

    #[test]
    fn an_unknown_reference_does_not_also_report_unreachable_nodes() {
        let yaml = "name: f\nnodes:\n  - id: a\n    type: script\n    config: {script: \"1\"}\n    next: bb\n  - id: b\n    type: script\n    config: {script: \"2\"}\n";
        assert_eq!(codes(yaml), ["HF0201"]);
    }

    #[test]
    fn answering_after_an_async_is_fine_but_not_after_an_answer() {
        let ok = "name: f\nnodes:\n  - id: a\n    type: http_response\n    config: {status: 202}\n    next: b\n  - id: b\n    type: script\n    config: {script: \"1\"}\n";
        assert!(codes(ok).is_empty());
        let twice = "name: f\nnodes:\n  - id: a\n    type: http_response\n    config: {status: 202}\n    next: b\n  - id: b\n    type: script\n    config: {script: \"1\"}\n    next: c\n  - id: c\n    type: http_response\n    config: {status: 200}\n";
        assert_eq!(codes(twice), ["HF0211"]);
    }

    const CALL: &str =
        "    type: http_request\n    config: {method: GET, url: 'http://127.0.0.1:1/'}\n";

    #[test]
    fn a_node_reached_only_through_on_error_is_reachable() {
        let yaml = format!(
            "name: f\nnodes:\n  - id: a\n{CALL}    on_error: h\n  - id: h\n    type: log\n    config: {{message: \"{{{{error.kind}}}}\"}}\n"
        );
        assert!(codes(&yaml).is_empty(), "{:?}", codes(&yaml));
    }

    #[test]
    fn on_error_edges_can_close_a_cycle() {
        let yaml = format!(
            "name: f\nnodes:\n  - id: a\n{CALL}    next: b\n  - id: b\n{CALL}    on_error: a\n"
        );
        assert_eq!(codes(&yaml), ["HF0207"]);
    }

    #[test]
    fn answering_in_an_on_error_target_is_not_answering_twice() {
        // `ok`'s own failure goes to `oops` before anything was answered: fine.
        let fine = "name: f\nnodes:\n  - id: ok\n    type: http_response\n    config: {status: 200, body: {a: \"{{event.payload.a}}\"}}\n    on_error: oops\n  - id: oops\n    type: http_response\n    config: {status: 500}\n";
        assert!(codes(fine).is_empty(), "{:?}", codes(fine));
        // An action after the answer whose failure answers: twice.
        let twice = format!(
            "name: f\nnodes:\n  - id: ack\n    type: http_response\n    config: {{status: 202}}\n    next: a\n  - id: a\n{CALL}    on_error: oops\n  - id: oops\n    type: http_response\n    config: {{status: 500}}\n"
        );
        assert_eq!(codes(&twice), ["HF0211"]);
    }

    #[test]
    fn error_is_in_scope_only_in_on_error_targets() {
        let yaml = format!(
            "name: f\nnodes:\n  - id: a\n{CALL}    next: b\n    on_error: h\n  - id: b\n    type: log\n    config: {{message: \"{{{{error.kind}}}}\"}}\n  - id: h\n    type: log\n    config: {{message: \"{{{{error.kind}}}}\"}}\n"
        );
        let out = compile_sources(vec![("f/a.yaml".into(), yaml)]);
        let found: Vec<(&str, u32)> = out
            .diagnostics
            .iter()
            .map(|d| (d.code.0, d.span.line))
            .collect();
        assert_eq!(found, [("HF0303", 10)], "{}", out.render());
    }

    /// 1-based line of the first line containing `needle`.
    fn yaml_line_of(yaml: &str, needle: &str) -> u32 {
        let i = yaml.lines().position(|l| l.contains(needle)).unwrap_or(0);
        u32::try_from(i + 1).unwrap_or(0)
    }

    #[test]
    fn error_stays_in_scope_after_the_handler_but_not_where_a_normal_path_joins() {
        // a -on_error-> h -> h2 (only via the failure: `error` allowed in h and h2);
        // a -next-> j and h2 -next-> j (j is also reached normally: `error` refused there).
        let log = |id: &str, next: &str| {
            format!("  - id: {id}\n    type: log\n    config: {{message: \"{{{{error.kind}}}}\"}}\n{next}")
        };
        let yaml = format!(
            "name: f\nnodes:\n  - id: a\n{CALL}    next: j\n    on_error: h\n{}{}{}",
            log("h", "    next: h2\n"),
            log("h2", "    next: j\n"),
            log("j", ""),
        );
        let out = compile_sources(vec![("f/a.yaml".into(), yaml.clone())]);
        let found: Vec<(&str, u32)> = out
            .diagnostics
            .iter()
            .map(|d| (d.code.0, d.span.line))
            .collect();
        let j_line = yaml_line_of(&yaml, "- id: j") + 2; // its `config:` line
        assert_eq!(found, [("HF0303", j_line)], "{}", out.render());
    }

    #[test]
    fn edges_secrets_and_defaults_in_generated_code() {
        let yaml = "name: f\nnodes:\n  - id: a\n    type: http_request\n    config: {method: GET, url: 'http://x.test/', headers: {A: env:TOKEN_B, B: env:TOKEN_A}}\n    next: b\n    on_error: h\n  - id: b\n    type: http_request\n    config: {method: GET, url: 'http://x.test/', headers: {C: env:TOKEN_B}}\n  - id: h\n    type: exec\n    config: {command: /bin/true}\n";
        let out = compile_sources(vec![("f/a.yaml".into(), yaml.into())]);
        assert!(out.diagnostics.is_empty(), "{}", out.render());
        let code = out.tokens.to_string();
        assert!(
            code.contains(r#"secrets : & ["TOKEN_A" , "TOKEN_B"]"#),
            "{code}"
        );
        assert!(
            code.contains(r#"rt :: EdgeDef { label : "on_error" , to : 2 }"#),
            "{code}"
        );
        assert!(code.contains("rt :: HeaderValue :: Secret (\"TOKEN_B\")"));
        assert!(code.contains("timeout_ms : rt :: DEFAULT_HTTP_TIMEOUT_MS"));
        assert!(code.contains("timeout_ms : rt :: DEFAULT_EXEC_TIMEOUT_MS"));
        assert!(
            code.contains("next : :: core :: option :: Option :: Some (1) , on_error : :: core :: option :: Option :: Some (2)"),
            "{code}"
        );
    }
}
