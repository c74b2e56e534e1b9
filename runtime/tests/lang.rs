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
