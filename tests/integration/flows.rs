//! Integration tests: the shipped flows of `flows/`, compiled by the real `flows!` macro, run on
//! real GitHub payloads and on Stripe-shaped payloads; the answer, the path taken (trace), the
//! spawned flows and the actions (`http_request`, `exec`) the state machines yield are checked.
//! The engine is played by hand here (store the output, resume at `next`, or `catch` and resume
//! at `on_error`); performing actions for real is tested with the engine.

use hookflow_runtime::__gen::{
    catch, Action, Body, Ctx, ErrorKind, Event, ExecCall, FlowDef, HeaderValue, Headers, HttpBody,
    HttpCall, NodeIx, Outcome, Registry, Response, Spawn, Value, Yield,
};
use serde_json::json;

hookflow_flow_macros::flows!("flows");

fn registry() -> &'static Registry {
    &FLOWS
}

fn fixture(path: &str) -> Value {
    let full = format!(
        "{}/tests/fixtures/github/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

struct Run {
    flow: &'static FlowDef,
    ctx: Ctx,
    result: Yield,
}

impl Run {
    fn ix(&self, id: &str) -> NodeIx {
        self.flow
            .node_ix(id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// The action the run stopped for: (node, action, next, on_error).
    fn act(&self) -> (NodeIx, &Action, Option<NodeIx>, Option<NodeIx>) {
        match &self.result {
            Yield::Act {
                node,
                action,
                next,
                on_error,
            } => (*node, action, *next, *on_error),
            other => panic!("expected an action, got {other:?} after {:?}", self.path()),
        }
    }

    /// Resumes the state machine at `at`, as the engine does after an answer or an action.
    fn resume(&mut self, at: NodeIx) {
        self.result = (self.flow.run)(&mut self.ctx, at).unwrap_or_else(|e| panic!("{e}"));
    }

    /// What the engine does when an action succeeded: store the output, record the step.
    fn action_succeeded(&mut self, output: Value) {
        let (node, _, next, _) = self.act();
        self.ctx.outputs[usize::from(node)] = output;
        self.ctx
            .trace
            .push(hookflow_runtime::__gen::TraceStep::new(node, Outcome::Ok));
        match next {
            Some(n) => self.resume(n),
            None => self.result = Yield::Finished,
        }
    }

    /// What the engine does when an action failed and the node has `on_error`.
    fn action_failed(&mut self, kind: ErrorKind, message: &str) {
        let (node, _, _, on_error) = self.act();
        let handler = on_error.expect("the node has on_error");
        catch(&mut self.ctx, self.flow, node, kind, message.to_string());
        self.resume(handler);
    }

    /// The ids of the nodes the run went through, with the branch edge taken if any.
    fn path(&self) -> Vec<String> {
        self.ctx
            .trace
            .iter()
            .map(|s| {
                let id = self.flow.nodes[usize::from(s.node)].id;
                match &s.outcome {
                    Outcome::Took(label) if *label == "default" => format!("{id}:default"),
                    Outcome::Took(_) => format!("{id}:condition"),
                    Outcome::Ok => id.to_owned(),
                    Outcome::Failed(m) => format!("{id}:failed({m})"),
                }
            })
            .collect()
    }

    fn response(&self) -> (&Response, Option<NodeIx>) {
        match &self.result {
            Yield::Respond { response, then } => (response, *then),
            Yield::Finished => panic!("flow finished without answering: {:?}", self.path()),
            Yield::Act { node, .. } => panic!("flow stopped for an action at node {node}"),
        }
    }
}

fn deliver(event_type: &str, headers: &[(&str, &str)], payload: Value) -> Run {
    let (flow, trigger) = registry()
        .for_event(event_type)
        .unwrap_or_else(|| panic!("no flow for {event_type}"));
    let mut h = Headers::new();
    for (k, v) in headers {
        h.push(k, v);
    }
    let event = Event::new("demo", event_type, "d-1", h, payload);
    let mut ctx = Ctx::new(event, flow);
    let result = (flow.run)(&mut ctx, trigger.target).unwrap_or_else(|e| panic!("{e}"));
    Run { flow, ctx, result }
}

fn github(event: &str, payload: Value) -> Run {
    deliver("github", &[("X-GitHub-Event", event)], payload)
}

#[test]
fn registry_lists_the_shipped_flows_sorted() {
    let names: Vec<&str> = registry().flows.iter().map(|f| f.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    for n in [
        "acknowledge_webhook",
        "deploy",
        "github_forward",
        "github_webhook",
        "handle_webhook",
        "process_webhook_data",
        "stripe_webhook",
    ] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    assert_eq!(
        registry().flow("handle_webhook").map(|f| f.file),
        Some("flows/order_created.yaml")
    );
}

#[test]
fn flows_name_the_payload_fields_they_read() {
    let fields = |name: &str| registry().flow(name).and_then(|f| f.payload_fields);
    // `event.payload.commits`, and `pr.number`/`pr.action` through `let pr = event.payload;`.
    assert_eq!(
        fields("github_webhook"),
        Some(&["action", "commits", "number"][..])
    );
    // `body: "{{event.payload}}"` forwards the whole payload.
    assert_eq!(fields("github_forward"), None);
}

#[test]
fn github_push_counts_the_commits_of_real_payloads() {
    for file in ["push/with-new-branch.payload.json", "push/payload.json"] {
        let payload = fixture(file);
        let n = payload["commits"].as_array().map_or(0, Vec::len);
        let run = github("push", payload);
        let (resp, then) = run.response();
        assert_eq!(resp.status, 200);
        assert_eq!(then, None);
        assert_eq!(
            resp.body.to_value(),
            json!({"message": format!("Received {n} commits")}),
            "{file}"
        );
        assert_eq!(
            run.path(),
            ["check_event:condition", "handle_push", "push_done"]
        );
        let ix = run.flow.node_ix("handle_push").expect("node") as usize;
        assert_eq!(run.ctx.outputs[ix], json!(format!("Received {n} commits")));
    }
}

#[test]
fn github_pull_request_uses_number_and_action() {
    let payload = fixture("pull_request/opened.payload.json");
    let expected = format!(
        "Pull request #{} {}",
        payload["number"],
        payload["action"].as_str().expect("action")
    );
    // Header names are case-insensitive.
    let run = deliver("github", &[("x-github-event", "pull_request")], payload);
    let (resp, _) = run.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.to_value(), json!({ "message": expected }));
    assert_eq!(
        run.path(),
        ["check_event:condition", "handle_pr", "pr_done"]
    );
}

#[test]
fn github_ping_is_answered_pong_with_a_static_body() {
    let run = github("ping", fixture("ping/payload.json"));
    let (resp, _) = run.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, Body::Static(r#"{"message":"pong"}"#));
    assert_eq!(run.path(), ["check_event:condition", "pong"]);
}

#[test]
fn github_other_events_are_answered_and_ignored() {
    let run = github("issues", fixture("issues/opened.payload.json"));
    let (resp, _) = run.response();
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.body.to_value(),
        json!({"ignored": true, "event": "issues"})
    );
    assert_eq!(run.path(), ["check_event:default", "ignore"]);
    assert!(run.ctx.spawns.is_empty());
}

fn stripe(kind: &str) -> Run {
    deliver(
        "stripe",
        &[("Stripe-Signature", "t=1,v1=00")],
        json!({"id": "evt_1", "type": kind, "data": {"object": {"id": "pi_123", "object": "payment_intent"}}}),
    )
}

#[test]
fn stripe_payment_intents() {
    let run = stripe("payment_intent.succeeded");
    assert_eq!(
        run.response().0.body.to_value(),
        json!({"received": true, "status": "succeeded", "payment_intent": "pi_123"})
    );
    assert_eq!(run.path(), ["handle_stripe:condition", "payment_success"]);

    let run = stripe("payment_intent.payment_failed");
    assert_eq!(
        run.response().0.body.to_value(),
        json!({"received": true, "status": "failed", "payment_intent": "pi_123"})
    );
    assert_eq!(run.path(), ["handle_stripe:condition", "payment_failed"]);

    let run = stripe("customer.created");
    assert_eq!(
        run.response().0.body.to_value(),
        json!({"received": true, "ignored": "customer.created"})
    );
    assert_eq!(run.path(), ["handle_stripe:default", "other"]);
}

#[test]
fn order_created_stores_the_payload_and_answers_success() {
    let payload = json!({"order_id": 42, "items": [1, 2]});
    let run = deliver("order.created", &[], payload.clone());
    let (resp, then) = run.response();
    assert_eq!((resp.status, then), (200, None));
    assert_eq!(resp.body, Body::Static(r#"{"success":true}"#));
    assert_eq!(run.path(), ["process", "respond"]);
    assert_eq!(run.ctx.outputs[0], payload);
}

#[test]
fn test_event_is_acknowledged_then_processed_async() {
    let payload = json!({"message": "Hello from webhook"});
    let mut run = deliver("test", &[], payload.clone());
    let (resp, then) = run.response();
    assert_eq!(resp.status, 202);
    assert_eq!(resp.body.to_value(), json!({"message": "Processing"}));
    let then = then.expect("continues after answering");
    assert!(
        run.ctx.spawns.is_empty(),
        "nothing spawned before the answer"
    );
    let rest = (run.flow.run)(&mut run.ctx, then).expect("runs");
    assert!(matches!(rest, Yield::Finished));
    assert_eq!(run.path(), ["acknowledge", "process_async"]);
    assert_eq!(
        run.ctx.spawns,
        [Spawn {
            flow: "process_webhook_data",
            payload: payload.clone(),
            path: "/process_async".to_string(),
        }]
    );

    // The spawned flow starts at its first node with the payload as `event.payload`.
    let target = registry().flow("process_webhook_data").expect("flow");
    assert!(target.triggers.is_empty());
    let event = Event::new("demo", "test", "d-1", Headers::new(), payload);
    let mut ctx = Ctx::new(event, target);
    let r = (target.run)(&mut ctx, 0).expect("runs");
    assert!(matches!(r, Yield::Finished));
    assert_eq!(ctx.outputs[0], json!("processed: Hello from webhook"));
}

#[test]
fn a_bad_value_is_a_flow_error_not_a_panic() {
    // `commits.len()` of a string cannot be done: the run fails at `handle_push`.
    let (flow, trigger) = registry().for_event("github").expect("flow");
    let mut h = Headers::new();
    h.push("X-GitHub-Event", "push");
    let mut ctx = Ctx::new(
        Event::new("demo", "github", "d", h, json!({"commits": true})),
        flow,
    );
    let err = (flow.run)(&mut ctx, trigger.target).expect_err("fails");
    assert_eq!((err.flow, err.node), ("github_webhook", "handle_push"));
    assert_eq!(err.file, "flows/github.yaml");
    assert!(matches!(
        ctx.trace.last().map(|s| &s.outcome),
        Some(Outcome::Failed(_))
    ));
}

#[test]
fn github_forward_posts_the_payload_as_json_with_the_event_headers() {
    let payload = fixture("push/payload.json");
    let mut run = deliver(
        "github_forward",
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "72d3162e"),
        ],
        payload.clone(),
    );
    let (node, action, next, on_error) = run.act();
    assert_eq!(node, run.ix("forward"));
    assert_eq!(next, Some(run.ix("forwarded")));
    assert_eq!(on_error, Some(run.ix("forward_failed")));
    assert_eq!(
        action,
        &Action::Http(HttpCall {
            method: "POST",
            url: "http://127.0.0.1:9000/github".to_string(),
            headers: vec![
                ("X-GitHub-Event".into(), HeaderValue::Text("push".into())),
                (
                    "X-GitHub-Delivery".into(),
                    HeaderValue::Text("72d3162e".into())
                ),
                ("X-Hookflow-Tenant".into(), HeaderValue::Text("demo".into())),
            ],
            // `body: "{{event.payload}}"` sends the payload itself as JSON, not its text.
            body: Some(HttpBody::Json(payload)),
            timeout_ms: 5000,
            expect_status: &[(200, 299)],
        })
    );
    assert!(
        run.ctx.trace.is_empty(),
        "the engine records the action's step"
    );
    assert!(run.flow.secrets.is_empty(), "shipped flows need no secrets");

    run.action_succeeded(json!({"status": 201, "headers": {}, "body": {"ok": true}}));
    let (resp, then) = run.response();
    assert_eq!((resp.status, then), (200, None));
    assert_eq!(
        resp.body.to_value(),
        json!({"forwarded": true, "status": 201})
    );
    assert_eq!(run.path(), ["forward", "forwarded"]);
}

#[test]
fn github_forward_failure_is_logged_and_answered_502() {
    let mut run = deliver(
        "github_forward",
        &[("X-GitHub-Event", "ping")],
        fixture("ping/payload.json"),
    );
    run.action_failed(ErrorKind::HttpConnect, "connection refused");
    let (resp, _) = run.response();
    assert_eq!(resp.status, 502);
    assert_eq!(resp.body.to_value(), json!({"forwarded": false}));
    assert_eq!(
        run.path(),
        [
            "forward:failed(connection refused)",
            "forward_failed",
            "bad_gateway"
        ]
    );
    let log = &run.ctx.outputs[usize::from(run.ix("forward_failed"))];
    assert_eq!(
        log,
        &json!("forwarding ping to the local service failed (http_connect): connection refused")
    );
}

#[test]
fn deploy_answers_202_then_runs_the_script_with_payload_text_as_plain_arguments() {
    let message = r#"Fix "quoted" and 'single'; $(rm -rf /) `id` && exit 1 | tee x"#;
    let payload = json!({"ref": "refs/heads/feature/x y", "head_commit": {"message": message}});
    let mut run = deliver("deploy", &[], payload);
    let (resp, then) = run.response();
    assert_eq!(resp.status, 202);
    assert_eq!(resp.body.to_value(), json!({"deploying": "feature/x y"}));
    let then = then.expect("goes on after answering");
    run.resume(then);

    let (node, action, next, on_error) = run.act();
    assert_eq!(node, run.ix("run_deploy"));
    assert_eq!(next, Some(run.ix("deployed")));
    assert_eq!(on_error, Some(run.ix("deploy_failed")));
    let expected = ExecCall {
        command: "scripts/deploy.sh".into(),
        args: vec!["feature/x y".into(), message.into()],
        env: vec![
            ("HOOKFLOW_TENANT".into(), "demo".into()),
            ("HOOKFLOW_DELIVERY".into(), "d-1".into()),
        ],
        stdin: None,
        working_dir: None,
        timeout_ms: 300_000,
        allow_failure: false,
    };
    assert_eq!(action, &Action::Exec(expected.clone()));

    // The shipped script really gets them unchanged: no shell parses the payload text.
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(format!("{root}/{}", expected.command))
        .args(&expected.args)
        .envs(expected.env.iter().map(|(k, v)| (k, v)))
        .current_dir(root)
        .output()
        .expect("scripts/deploy.sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout,
        format!("deploying feature/x y\ncommit message: {message}\ntenant: demo, delivery: d-1\n")
    );

    run.action_succeeded(json!({"exit_code": 0, "stdout": stdout, "stderr": ""}));
    assert!(matches!(run.result, Yield::Finished));
    assert_eq!(
        run.ctx.outputs[usize::from(run.ix("deployed"))],
        json!(format!(
            "deployed feature/x y: deploying feature/x y\ncommit message: {message}\ntenant: demo, delivery: d-1"
        ))
    );
    assert_eq!(run.path(), ["branch", "accepted", "run_deploy", "deployed"]);
}

#[test]
fn deploy_script_failure_goes_to_its_on_error_log() {
    let payload = json!({"ref": "refs/heads/main", "head_commit": {"message": "m"}});
    let mut run = deliver("deploy", &[], payload);
    let then = run.response().1.expect("continues");
    run.resume(then);
    run.action_failed(ErrorKind::ExecExit, "exited with status 3");
    assert!(matches!(run.result, Yield::Finished));
    assert_eq!(
        run.ctx.outputs[usize::from(run.ix("deploy_failed"))],
        json!("deploying main failed (exec_exit): exited with status 3")
    );
    assert_eq!(run.ctx.error["node"], json!("run_deploy"));
}

#[test]
fn an_in_place_script_failure_with_on_error_lands_in_the_handler() {
    // No `ref`: `split` of null fails in the `branch` script, whose `on_error` answers 400.
    let run = deliver("deploy", &[], json!({"zen": "Keep it logically awesome."}));
    let (resp, then) = run.response();
    assert_eq!((resp.status, then), (400, None));
    assert_eq!(run.ctx.error["kind"], json!("eval"));
    assert_eq!(run.ctx.error["node"], json!("branch"));
    let message = run.ctx.error["message"].as_str().expect("a message");
    assert!(message.contains("split"), "{message}");
    assert_eq!(resp.body.to_value(), json!({ "error": message }));
    assert_eq!(
        run.path(),
        [format!("branch:failed({message})"), "bad_request".into()]
    );
}

#[test]
fn an_action_whose_request_cannot_be_built_goes_to_its_on_error_without_yielding() {
    // `head_commit.message` of a string: the `args` template of `run_deploy` fails in place.
    let payload = json!({"ref": "refs/heads/main", "head_commit": "not an object"});
    let mut run = deliver("deploy", &[], payload);
    let then = run.response().1.expect("continues");
    run.resume(then);
    assert!(
        matches!(run.result, Yield::Finished),
        "no action is yielded"
    );
    assert_eq!(run.ctx.error["kind"], json!("eval"));
    assert_eq!(run.ctx.error["node"], json!("run_deploy"));
    let message = run.ctx.error["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert_eq!(
        run.ctx.outputs[usize::from(run.ix("deploy_failed"))],
        json!(format!("deploying main failed (eval): {message}"))
    );
    assert_eq!(
        run.path(),
        [
            "branch".to_string(),
            "accepted".into(),
            format!("run_deploy:failed({message})"),
            "deploy_failed".into()
        ]
    );
}

/// Response headers whose values are templates (a single `{{expr}}`, text with a hole, a
/// constant) compile and are computed per delivery.
mod header_template {
    use hookflow_runtime::__gen::{Ctx, Event, Headers, Yield};
    use serde_json::json;

    hookflow_flow_macros::flows!("tests/fixtures/flows/header_template");

    #[test]
    fn templated_response_headers_compile_and_run() {
        let (flow, trigger) = FLOWS.for_event("echo").expect("echo flow");
        let event = Event::new(
            "demo",
            "echo",
            "d-1",
            Headers::new(),
            json!({"name": "ada"}),
        );
        let mut ctx = Ctx::new(event, flow);
        let Ok(Yield::Respond { response, .. }) = (flow.run)(&mut ctx, trigger.target) else {
            panic!("the flow answers");
        };
        assert_eq!(
            response.headers,
            [
                ("X-Echo".to_owned(), "ada".to_owned()),
                ("X-Tenant".to_owned(), "tenant demo".to_owned()),
                ("X-Fixed".to_owned(), "fixed".to_owned()),
            ]
        );
    }
}
