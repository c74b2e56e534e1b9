//! Run-time semantics of the flow language, through rustc: each `__snippet!` compiles a script,
//! condition or template with the real compiler into the same function shape the flow code
//! generator uses, and the tests run it on real GitHub payloads.

use hookflow_flow_macros::__snippet;
use hookflow_runtime::__gen::{Ctx, EvalError, Event, Headers, Value};
use serde_json::json;

const PUSH: &str = include_str!("../../tests/fixtures/github/push/with-new-branch.payload.json");
const PUSH_TAG: &str = include_str!("../../tests/fixtures/github/push/payload.json");
const PR: &str = include_str!("../../tests/fixtures/github/pull_request/opened.payload.json");

fn ctx(event: &str, payload: &str, outputs: Vec<Value>) -> Ctx {
    let mut h = Headers::new();
    h.push("X-GitHub-Event", event);
    h.push("Content-Type", "application/json");
    h.push("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    let payload: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    assert!(!payload.is_null(), "fixture must parse");
    Ctx {
        event: Event::new("demo", "github", "d-1", h, payload),
        outputs,
        error: Value::Null,
        spawns: Vec::new(),
        trace: Vec::new(),
        path: String::new(),
    }
}

fn run(
    f: for<'a> fn(&'a Ctx) -> Result<hookflow_runtime::__gen::V<'a>, EvalError>,
    c: &Ctx,
) -> Result<Value, String> {
    f(c).map(|v| v.into_owned()).map_err(|e| e.message)
}

__snippet!(fn is_push: condition "headers['x-github-event'] == 'push'");
__snippet!(fn is_push_upper: condition "headers['X-GitHub-Event'] == 'push'");
__snippet!(fn is_pi_succeeded: condition "event.payload.type == 'payment_intent.succeeded'");
__snippet!(fn passthrough: script "let data = event.payload;\n// process the webhook data\ndata\n");
__snippet!(fn count: script "let commits = event.payload.commits; format!(\"Received {} commits\", commits.len())");

#[test]
fn seed_examples() {
    let c = ctx("push", PUSH, vec![]);
    assert_eq!(is_push(&c), Ok(true));
    assert_eq!(is_push_upper(&c), Ok(true));
    assert_eq!(is_pi_succeeded(&c), Ok(false));
    let pr = ctx("pull_request", PR, vec![]);
    assert_eq!(is_push(&pr), Ok(false));
    assert_eq!(run(passthrough, &c), Ok(c.event.payload.clone()));
    let n = c.event.payload["commits"].as_array().map_or(0, Vec::len);
    assert_eq!(run(count, &c), Ok(json!(format!("Received {n} commits"))));
    let tag = ctx("push", PUSH_TAG, vec![]);
    assert_eq!(run(count, &tag), Ok(json!("Received 0 commits")));
}

#[test]
fn borrowed_paths_are_not_copied() {
    let c = ctx("push", PUSH, vec![]);
    let v = passthrough(&c);
    assert!(matches!(v, Ok(std::borrow::Cow::Borrowed(_))));
}

// ---------------------------------------------------------------- paths, headers, nodes

__snippet!(fn repo_name: script "event.payload.repository.full_name");
__snippet!(fn missing: script "event.payload.no.such.path");
__snippet!(fn field_of_string: script "event.payload.ref.x");
__snippet!(fn first_commit_author: script "event.payload.commits[0].author.name");
__snippet!(fn last_commit_id: script "event.payload.commits[-1].id");
__snippet!(fn delivery_header: script "headers['X-GITHUB-DELIVERY']");
__snippet!(fn missing_header: condition "headers['x-nope'] == null");
__snippet!(fn dyn_header: script "let name = 'Content-' + 'Type'; event.headers[name]");
__snippet!(fn event_fields: template "{{event.tenant}}/{{event.event_type}}/{{event.delivery_id}}");
__snippet!(fn node_out: script "nodes.process.count + 1" nodes(process = 0, respond = 1));
__snippet!(fn node_not_run: condition "nodes.respond == null" nodes(process = 0, respond = 1));
__snippet!(fn all_nodes: script "nodes" nodes(b = 1, a = 0));
__snippet!(fn error_msg: template "failed: {{error.kind}}: {{error.message}}" error);

#[test]
fn paths_headers_nodes() {
    let c = ctx("push", PUSH, vec![]);
    assert_eq!(run(repo_name, &c), Ok(json!("Codertocat/Hello-World")));
    assert_eq!(run(missing, &c), Ok(Value::Null));
    assert_eq!(
        run(field_of_string, &c),
        Err("cannot read field `x` of a string".to_owned())
    );
    let author = c.event.payload["commits"][0]["author"]["name"].clone();
    assert!(author.is_string());
    assert_eq!(run(first_commit_author, &c), Ok(author));
    let last = c.event.payload["commits"]
        .as_array()
        .and_then(|a| a.last())
        .map(|x| x["id"].clone());
    assert_eq!(run(last_commit_id, &c).ok(), last);
    let tag = ctx("push", PUSH_TAG, vec![]);
    assert_eq!(run(first_commit_author, &tag), Ok(Value::Null));
    assert_eq!(
        run(delivery_header, &c),
        Ok(json!("72d3162e-cc78-11e3-81ab-4c9367dc0958"))
    );
    assert_eq!(missing_header(&c), Ok(true));
    assert_eq!(run(dyn_header, &c), Ok(json!("application/json")));
    assert_eq!(run(event_fields, &c), Ok(json!("demo/github/d-1")));

    let n = ctx("push", PUSH, vec![json!({"count": 41}), Value::Null]);
    assert_eq!(run(node_out, &n), Ok(json!(42)));
    assert_eq!(node_not_run(&n), Ok(true));
    assert_eq!(
        run(all_nodes, &n),
        Ok(json!({"a": {"count": 41}, "b": null}))
    );
    let mut e = ctx("push", PUSH, vec![]);
    e.error = json!({"kind": "timeout", "message": "took too long"});
    assert_eq!(
        run(error_msg, &e),
        Ok(json!("failed: timeout: took too long"))
    );
}

// ---------------------------------------------------------------- operators

__snippet!(fn arith: script "let a = 7; let b = 2; [a + b, a - b, a * b, a / b, a % b, -a, (a + b) * 2]");
__snippet!(fn div_zero: script "let z = event.payload.commits.len() - event.payload.commits.len(); 1 / z");
__snippet!(fn concat: script "'refs: ' + event.payload.ref");
__snippet!(fn dyn_add_bad: script "event.payload.ref + event.payload.forced");
__snippet!(fn dyn_add_num: script "event.payload.repository.stargazers_count + event.payload.repository.forks");
__snippet!(fn logic: script "[true && false, true || false, !false, 1 < 2, 2 <= 2, 'b' > 'a', 'a' >= 'b', 1 == 1.0, [1, {a: 'x'}] == [1, {a: 'x'}], 'a' != 'b']");
__snippet!(fn dyn_cmp_bad: condition "event.payload.ref < event.payload.size");
__snippet!(fn short_circuit: condition "false && event.payload.ref.x == 1");
__snippet!(fn json_cond: condition "event.payload.forced");
__snippet!(fn json_cond_bad: condition "event.payload.ref");
__snippet!(fn not_json: condition "!event.payload.created");
__snippet!(fn eq_json: condition "event.payload.repository.owner == event.payload.sender");

#[test]
fn operators() {
    let c = ctx("push", PUSH, vec![]);
    assert_eq!(run(arith, &c), Ok(json!([9, 5, 14, 3.5, 1, -7, 18])));
    assert_eq!(run(div_zero, &c), Err("division by zero".to_owned()));
    let r = c.event.payload["ref"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(run(concat, &c), Ok(json!(format!("refs: {r}"))));
    assert_eq!(
        run(dyn_add_bad, &c),
        Err("cannot add a string and a bool".to_owned())
    );
    let repo = &c.event.payload["repository"];
    let sum =
        repo["stargazers_count"].as_f64().unwrap_or(-1.0) + repo["forks"].as_f64().unwrap_or(-1.0);
    assert_eq!(run(dyn_add_num, &c), Ok(json!(sum as i64)));
    assert_eq!(
        run(logic, &c),
        Ok(json!([
            false, true, true, true, true, true, false, true, true, true
        ]))
    );
    assert_eq!(
        dyn_cmp_bad(&c).map_err(|e| e.message),
        Err("cannot compare a string with null".to_owned())
    );
    assert_eq!(short_circuit(&c), Ok(false));
    assert_eq!(json_cond(&c), Ok(false));
    assert_eq!(
        json_cond_bad(&c).map_err(|e| e.message),
        Err("expected a bool, found a string".to_owned())
    );
    let created = c.event.payload["created"].as_bool();
    assert_eq!(not_json(&c).ok(), created.map(|b| !b));
    let same = c.event.payload["repository"]["owner"] == c.event.payload["sender"];
    assert_eq!(eq_json(&c), Ok(same));
}

// ---------------------------------------------------------------- let, if, literals

__snippet!(fn branchy: script "let n = event.payload.commits.len();\nif n == 0 { 'none' } else if n == 1 { 'one' } else { 'many' }");
__snippet!(fn no_else: script "if event.payload.forced { 'forced' }");
__snippet!(fn blocks: script "let x = if true { let y = event.payload.repository; y.name } else { event.payload.ref }; x");
__snippet!(fn literals: script "{name: 'x', \"with space\": [1, 2.5, -3, null, true, \"d\\\"q\"], nested: {a: {b: []}}, e: {}}");
__snippet!(fn shadow: script "let x = 1; let x = x + 1; let x = [x, x]; x");
__snippet!(fn comments: script "/* block */ let a = 1; // line\n a /* tail */");
__snippet!(fn computed_nav: script "let repo = {r: event.payload.repository}; [repo.r.name, repo['r'].owner.login, [10, 20, 30][1]]");

#[test]
fn let_if_literals() {
    let c = ctx("push", PUSH, vec![]);
    assert_eq!(run(branchy, &c), Ok(json!("one")));
    let tag = ctx("push", PUSH_TAG, vec![]);
    assert_eq!(run(branchy, &tag), Ok(json!("none")));
    assert_eq!(run(no_else, &c), Ok(Value::Null));
    assert_eq!(run(blocks, &c), Ok(json!("Hello-World")));
    assert_eq!(
        run(literals, &c),
        Ok(
            json!({"name": "x", "with space": [1, 2.5, -3, null, true, "d\"q"], "nested": {"a": {"b": []}}, "e": {}})
        )
    );
    assert_eq!(run(shadow, &c), Ok(json!([2, 2])));
    assert_eq!(run(comments, &c), Ok(json!(1)));
    assert_eq!(
        run(computed_nav, &c),
        Ok(json!(["Hello-World", "Codertocat", 20]))
    );
}

// ---------------------------------------------------------------- methods

__snippet!(fn string_methods: script "let r = event.payload.ref; [r.len(), r.is_empty(), r.contains('heads'), r.starts_with('refs/heads/'), r.ends_with('main'), '  Ab '.trim().to_lower(), 'ab'.to_upper(), r.split('/'), r.split('/').last()]");
__snippet!(fn array_methods: script "let c = event.payload.commits; [c.len(), c.is_empty(), c.first().id == c.last().id, ['a', 1, null].join(', '), [1, 2].contains(2), [1, 2].get(5), ['x'].first()]");
__snippet!(fn object_methods: script "let o = {b: 1, a: 'x'}; [o.keys(), o.values(), o.contains('a'), o.get('b'), o.len(), {}.is_empty()]");
__snippet!(fn conversions: script "[(42).to_string(), (1.5).to_string(), true.to_string(), null.to_string(), [1].to_string(), ' 12 '.to_number() + 1, true.to_number(), 'x'.to_string()]");
__snippet!(fn len_of_bool: script "event.payload.forced.len()");
__snippet!(fn bad_number: script "event.payload.ref.to_number()");
__snippet!(fn upper_null: script "headers['x-nope'].to_upper()");
__snippet!(fn keys_of_array: script "event.payload.commits.keys()");
__snippet!(fn header_methods: condition "headers['content-type'].starts_with('application/')");
__snippet!(fn event_keys: script "event.keys()");

#[test]
fn methods() {
    let c = ctx("push", PUSH, vec![]);
    let r = c.event.payload["ref"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let parts: Vec<&str> = r.split('/').collect();
    assert_eq!(
        run(string_methods, &c),
        Ok(json!([
            r.chars().count(),
            false,
            r.contains("heads"),
            r.starts_with("refs/heads/"),
            r.ends_with("main"),
            "ab",
            "AB",
            parts,
            parts.last()
        ]))
    );
    let n = c.event.payload["commits"].as_array().map_or(0, Vec::len);
    assert_eq!(
        run(array_methods, &c),
        Ok(json!([n, n == 0, true, "a, 1, null", true, null, "x"]))
    );
    assert_eq!(
        run(object_methods, &c),
        Ok(json!([["b", "a"], [1, "x"], true, 1, 2, true]))
    );
    assert_eq!(
        run(conversions, &c),
        Ok(json!(["42", "1.5", "true", "null", "[1]", 13, 1, "x"]))
    );
    assert_eq!(
        run(len_of_bool, &c),
        Err("cannot call `len` on a bool".to_owned())
    );
    assert_eq!(
        run(bad_number, &c),
        Err(format!("cannot convert the string {r:?} to a number"))
    );
    assert_eq!(
        run(upper_null, &c),
        Err("cannot call `to_upper` on null".to_owned())
    );
    assert_eq!(
        run(keys_of_array, &c),
        Err("cannot call `keys` on an array".to_owned())
    );
    assert_eq!(header_methods(&c), Ok(true));
    assert_eq!(
        run(event_keys, &c),
        Ok(json!([
            "tenant",
            "event_type",
            "delivery_id",
            "headers",
            "payload"
        ]))
    );
}

// ---------------------------------------------------------------- format! and templates

__snippet!(fn fmt_all: script "format!(\"{} {} {} {} {} {{lit}} {}\", 'str', 3, 1.5, true, null, [1, 'a'])");
__snippet!(fn fmt_pr: script "format!(\"PR #{} by {}: {}\", event.payload.number, event.payload.pull_request.user.login, event.payload.pull_request.title)");
__snippet!(fn tpl_value: template "{{event.payload.repository.id}}");
__snippet!(fn tpl_whole: template "{{event.payload}}");
__snippet!(fn tpl_text: template "repo {{event.payload.repository.name}} has {{event.payload.repository.forks}} forks, private={{event.payload.repository.private}}, owner={{ {login: event.payload.repository.owner.login} }}");
__snippet!(fn tpl_const: template "just text }} here");
__snippet!(fn tpl_expr: template "{{event.payload.commits.len() * 2}}");

#[test]
fn format_and_templates() {
    let c = ctx("push", PUSH, vec![]);
    assert_eq!(
        run(fmt_all, &c),
        Ok(json!("str 3 1.5 true null {lit} [1,\"a\"]"))
    );
    let pr = ctx("pull_request", PR, vec![]);
    let p = &pr.event.payload;
    assert_eq!(
        run(fmt_pr, &pr),
        Ok(json!(format!(
            "PR #{} by {}: {}",
            p["number"],
            p["pull_request"]["user"]["login"]
                .as_str()
                .unwrap_or_default(),
            p["pull_request"]["title"].as_str().unwrap_or_default()
        )))
    );
    // Exactly one hole: the value itself, not its text.
    assert_eq!(
        run(tpl_value, &c),
        Ok(c.event.payload["repository"]["id"].clone())
    );
    assert!(matches!(tpl_whole(&c), Ok(std::borrow::Cow::Borrowed(_))));
    let repo = &c.event.payload["repository"];
    assert_eq!(
        run(tpl_text, &c),
        Ok(json!(format!(
            "repo {} has {} forks, private={}, owner={{\"login\":\"{}\"}}",
            repo["name"].as_str().unwrap_or_default(),
            repo["forks"],
            repo["private"],
            repo["owner"]["login"].as_str().unwrap_or_default()
        )))
    );
    assert_eq!(run(tpl_const, &c), Ok(json!("just text }} here")));
    let n = c.event.payload["commits"].as_array().map_or(0, Vec::len);
    assert_eq!(run(tpl_expr, &c), Ok(json!(n * 2)));
}

__snippet!(fn str_branches: script "let kind = if event.payload.created { 'created' } else { event.payload.ref.to_upper() }; kind + '!'");
__snippet!(fn statements: script "event.payload.ref.len(); let x = 2; x;\n x * x");
__snippet!(fn statement_fails: script "event.payload.forced.len(); 1");

#[test]
fn branches_and_statements() {
    let c = ctx("push", PUSH, vec![]);
    let created = c.event.payload["created"].as_bool().unwrap_or(false);
    let r = c.event.payload["ref"]
        .as_str()
        .unwrap_or_default()
        .to_uppercase();
    let want = if created {
        "created!".to_owned()
    } else {
        format!("{r}!")
    };
    assert_eq!(run(str_branches, &c), Ok(json!(want)));
    assert_eq!(run(statements, &c), Ok(json!(4)));
    assert_eq!(
        run(statement_fails, &c),
        Err("cannot call `len` on a bool".to_owned())
    );
}

// Shapes that stress the borrowed/owned representation choices.
__snippet!(fn tricky1: script "let o = {a: {b: [event.payload.repository, 2]}}; let inner = o.a.b; let first = inner[0]; if first.name == 'Hello-World' { let t = first.owner; t.login } else { inner.last() }");
__snippet!(fn tricky2: script "let x = event.payload.repository; let y = if x.private { x } else { x.owner }; [y.login, y.id > 0, headers, error, nodes]" nodes(a = 0) error);
__snippet!(fn tricky3: script "let s = 'a' + 'b'; let t = s; let u = t.to_upper(); let n = u.len(); let b = n > 1; [s, t, u, n, b, b && true, -n]");
__snippet!(fn tricky4: template "{{ if event.payload.created { [1, 2].first() } else { event.payload.ref } }}");

#[test]
fn representation_edge_cases() {
    let mut c = ctx("push", PUSH, vec![json!("out")]);
    c.error = json!({"kind": "k", "message": "m"});
    assert_eq!(run(tricky1, &c), Ok(json!("Codertocat")));
    let y = if c.event.payload["repository"]["private"] == json!(true) {
        &c.event.payload["repository"]
    } else {
        &c.event.payload["repository"]["owner"]
    };
    assert_eq!(
        run(tricky2, &c),
        Ok(json!([
            y["login"],
            y["id"].as_f64().unwrap_or(0.0) > 0.0,
            c.event.headers.to_json(),
            {"kind": "k", "message": "m"},
            {"a": "out"}
        ]))
    );
    assert_eq!(
        run(tricky3, &c),
        Ok(json!(["ab", "ab", "AB", 2, true, true, -2]))
    );
    let want = if c.event.payload["created"] == json!(true) {
        json!(1)
    } else {
        c.event.payload["ref"].clone()
    };
    assert_eq!(run(tricky4, &c), Ok(want));
}
