//! Operations over real HTTP on port 0: `/metrics` counting real requests (the exposition text
//! parsed), live reload of secrets (the function SIGHUP calls), `allow_ips` with and without
//! trusted proxies, IPv6.
//!
//! The metrics registry is process-wide and these tests run in parallel, so each test uses its
//! own tenants and event types and asserts only on series no other test touches.

use hookflow_runtime::__gen as rt;
use hookflow_runtime::config::{Config, Overrides, RawConfig, BUNDLE_FILE};
use hookflow_runtime::reload::{Live, ReloadError, Source};
use hookflow_runtime::server::RunningServer;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// `ok`: answers 202 `{"ok": true}` for every event type below.
mod ok {
    use super::rt;
    pub static FLOW: rt::FlowDef = rt::FlowDef {
        name: "ok_flow",
        version: "1.0",
        file: "tests/ok.yaml",
        triggers: &[
            rt::TriggerDef {
                event_type: "metered",
                target: 0,
            },
            rt::TriggerDef {
                event_type: "reloaded",
                target: 0,
            },
            rt::TriggerDef {
                event_type: "rotated",
                target: 0,
            },
            rt::TriggerDef {
                event_type: "guarded",
                target: 0,
            },
            rt::TriggerDef {
                event_type: "open",
                target: 0,
            },
        ],
        nodes: &[rt::NodeDef {
            id: "respond",
            kind: "http_response",
            line: 4,
            edges: &[],
        }],
        secrets: &[],
        payload_fields: None,
        run,
    };
    fn run(ctx: &mut rt::Ctx, _start: rt::NodeIx) -> Result<rt::Yield, rt::FlowError> {
        ctx.trace.push(rt::TraceStep::new(0, rt::Outcome::Ok));
        Ok(rt::Yield::Respond {
            response: rt::Response {
                status: 202,
                headers: vec![],
                body: rt::Body::Static(r#"{"ok":true}"#),
            },
            then: None,
        })
    }
}

static FLOWS: rt::Registry = rt::Registry {
    flows: &[&ok::FLOW],
};

fn config(provider: &str) -> Config {
    RawConfig::from_answers_json(&format!(r#"{{"events-webhook": {provider}}}"#))
        .and_then(|r| r.check())
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn start_on(config: impl Into<Live>, addr: &str) -> RunningServer {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    RunningServer::start(config, &FLOWS, Some(listener))
        .await
        .expect("server starts")
}

async fn start(config: impl Into<Live>) -> RunningServer {
    start_on(config, "127.0.0.1:0").await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// POSTs `body` with `headers`; the status and the error code (or "" for a success).
async fn post(url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut req = client()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_string();
    (status, code)
}

fn sha256_header(secret: &str, body: &str) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One sample of the exposition: metric name and labels.
type Series = (String, BTreeMap<String, String>);

/// Parses the text format: every sample line into (name, labels) → value.
fn parse_exposition(text: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value.parse().expect("a number");
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').expect("labels end with }");
                let mut labels = BTreeMap::new();
                // Label values here never contain `",`.
                for pair in rest.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").expect("k=\"v\"");
                    labels.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
                (name.to_string(), labels)
            }
        };
        out.insert((name, labels), value);
    }
    out
}

async fn scrape(server: &RunningServer) -> (String, BTreeMap<Series, f64>) {
    let resp = client()
        .get(format!("{}/metrics", server.url()))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = resp.text().await.expect("body");
    let samples = parse_exposition(&text);
    (text, samples)
}

fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples.get(&(name.to_string(), labels)).copied()
}

#[tokio::test]
async fn metrics_count_real_requests() {
    let server = start(config(
        r#"{"enabled": true, "public_base_url": "https://x.example",
            "tenants": {"m-alpha": {},
                        "m-beta": {"signatures": {"metered": {"algorithm": "sha512", "header": "X-Sig", "secret": "s"}}}}}"#,
    ))
    .await;
    let url =
        |tenant: &str, event: &str| format!("{}/events/webhook/{tenant}/{event}", server.url());
    for _ in 0..3 {
        assert_eq!(
            post(&url("m-alpha", "metered"), &[], "{}").await,
            (202, String::new())
        );
    }
    let wrong = "ab".repeat(64);
    for _ in 0..2 {
        let r = post(
            &url("m-beta", "metered"),
            &[("X-Sig", wrong.as_str())],
            "{}",
        )
        .await;
        assert_eq!(r, (401, "invalid_signature".to_string()));
    }
    let r = post(&url("m-beta", "metered"), &[], "{}").await;
    assert_eq!(r, (401, "missing_signature".to_string()));
    // Event types without a flow and tenants outside the list get no series of their own.
    for i in 0..4 {
        let r = post(&url("m-alpha", &format!("m.unknown.{i}")), &[], "{}").await;
        assert_eq!(r, (404, "no_flow".to_string()));
    }
    let r = post(&url("m-stranger", "metered"), &[], "{}").await;
    assert_eq!(r, (404, "unknown_tenant".to_string()));

    let (text, samples) = scrape(&server).await;
    let deliveries = |tenant: &str, event_type: &str, flow: &str, status: &str| {
        value(
            &samples,
            "hookflow_deliveries_total",
            &[
                ("tenant", tenant),
                ("event_type", event_type),
                ("flow", flow),
                ("status", status),
            ],
        )
    };
    assert_eq!(
        deliveries("m-alpha", "metered", "ok_flow", "202"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        deliveries("m-beta", "metered", "ok_flow", "401"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        deliveries("m-alpha", "other", "none", "404"),
        Some(4.0),
        "{text}"
    );
    assert!(!text.contains("m.unknown"), "{text}");
    assert!(!text.contains("m-stranger"), "{text}");
    let sig = |reason: &str| {
        value(
            &samples,
            "hookflow_signature_failures_total",
            &[("algorithm", "sha512"), ("reason", reason)],
        )
    };
    assert_eq!(sig("mismatch"), Some(2.0), "{text}");
    assert_eq!(sig("header_missing"), Some(1.0), "{text}");
    // Three runs of the flow: the histogram counts them (the rejected ones never ran it).
    let runs = value(
        &samples,
        "hookflow_flow_run_duration_seconds_count",
        &[("flow", "ok_flow"), ("phase", "answer")],
    );
    assert!(runs.is_some_and(|n| n >= 3.0), "{text}");
    for family in [
        "# TYPE hookflow_work gauge",
        "# TYPE hookflow_flow_run_duration_seconds histogram",
        "# TYPE hookflow_config_reloads counter",
        "# TYPE hookflow_build_info gauge",
    ] {
        assert!(text.contains(family), "{family}\n{text}");
    }
    server.shutdown().await.expect("clean shutdown");
}

fn write_bundle(dir: &Path, provider: &str) {
    let text = format!(r#"{{"version": 1, "events-webhook": {provider}}}"#);
    std::fs::write(dir.join(BUNDLE_FILE), text).expect("write bundle");
}

#[tokio::test]
async fn reload_swaps_a_secret_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("rotated.secret");
    std::fs::write(&secret_file, "file-old\n").expect("write secret");
    let bundle = |secret: &str| {
        format!(
            r#"{{"enabled": true, "public_base_url": "https://x.example",
                "signatures": {{
                  "reloaded": {{"algorithm": "sha256", "secret": "{secret}"}},
                  "rotated": {{"algorithm": "sha256", "secret": "file:{}"}}}}}}"#,
            secret_file.display()
        )
    };
    write_bundle(dir.path(), &bundle("old-secret"));
    let live = Live::load(Source {
        bundle: Some(dir.path().to_path_buf()),
        overrides: Overrides::default(),
    })
    .expect("valid bundle");
    let server = start(live.clone()).await;
    let url = |event: &str| format!("{}/events/webhook/r-tenant/{event}", server.url());
    let body = r#"{"n": 1}"#;
    let signed = |secret: &str| sha256_header(secret, body);
    let send = |event: &'static str, secret: &'static str| {
        let url = url(event);
        let sig = signed(secret);
        async move {
            post(&url, &[("X-Hub-Signature-256", sig.as_str())], body)
                .await
                .0
        }
    };
    assert_eq!(send("reloaded", "old-secret").await, 202);
    assert_eq!(send("reloaded", "new-secret").await, 401);
    assert_eq!(send("rotated", "file-old").await, 202);

    // Rotate: the bundle's inline secret and the file behind a `file:` reference.
    write_bundle(dir.path(), &bundle("new-secret"));
    std::fs::write(&secret_file, "file-new\n").expect("write secret");
    let r = live.reload_and_log(&FLOWS, "test").expect("reload");
    assert_eq!(r.changed, ["signatures"]);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(send("reloaded", "old-secret").await, 401);
    assert_eq!(send("reloaded", "new-secret").await, 202);
    assert_eq!(send("rotated", "file-old").await, 401);
    assert_eq!(send("rotated", "file-new").await, 202);

    // An invalid file is refused; the running configuration stays.
    std::fs::write(
        dir.path().join(BUNDLE_FILE),
        r#"{"version": 1, "events-webhook": {"enabled": tru"#,
    )
    .expect("write");
    let e = live.reload_and_log(&FLOWS, "test");
    assert!(matches!(e, Err(ReloadError::Config(_))), "{e:?}");
    write_bundle(
        dir.path(),
        r#"{"enabled": true, "public_base_url": "https://x.example", "allow_ips": {"reloaded": ["10.0.0.1/8"]}}"#,
    );
    let e = live.reload_and_log(&FLOWS, "test").map(|_| ());
    let msg = e.map_err(|e| e.to_string()).err().unwrap_or_default();
    assert!(
        msg.contains("events-webhook.allow_ips.reloaded[0]"),
        "{msg}"
    );
    assert_eq!(send("reloaded", "new-secret").await, 202);
    assert_eq!(send("reloaded", "old-secret").await, 401);

    let (text, samples) = scrape(&server).await;
    let reloads = |result: &str| {
        value(
            &samples,
            "hookflow_config_reloads_total",
            &[("result", result)],
        )
        .unwrap_or(0.0)
    };
    assert!(reloads("ok") >= 1.0 && reloads("error") >= 2.0, "{text}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn allow_ips_without_trusted_proxies_judge_the_peer() {
    let server = start(config(
        r#"{"enabled": true, "public_base_url": "https://x.example",
            "allow_ips": {"guarded": ["203.0.113.0/24"], "open": ["127.0.0.0/8", "::1"]},
            "tenants": {"a-free": {}, "a-locked": {"allow_ips": ["198.51.100.0/24"]}}}"#,
    ))
    .await;
    let url =
        |tenant: &str, event: &str| format!("{}/events/webhook/{tenant}/{event}", server.url());
    let forbidden = (403, "ip_not_allowed".to_string());
    assert_eq!(post(&url("a-free", "open"), &[], "{}").await.0, 202);
    assert_eq!(post(&url("a-free", "guarded"), &[], "{}").await, forbidden);
    // A spoofed header from a peer that is not a trusted proxy changes nothing.
    for (h, v) in [
        ("X-Forwarded-For", "203.0.113.5"),
        ("Forwarded", "for=203.0.113.5"),
    ] {
        assert_eq!(
            post(&url("a-free", "guarded"), &[(h, v)], "{}").await,
            forbidden
        );
    }
    // The tenant's own list applies on top of the event type's.
    assert_eq!(post(&url("a-locked", "open"), &[], "{}").await, forbidden);
    // Event types without a list stay open.
    assert_eq!(post(&url("a-free", "metered"), &[], "{}").await.0, 202);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn allow_ips_behind_trusted_proxies_walk_the_chain() {
    let server = start(config(
        r#"{"enabled": true, "public_base_url": "https://x.example",
            "trusted_proxies": ["127.0.0.1", "10.0.0.0/8"],
            "allow_ips": {"guarded": ["203.0.113.0/24"]},
            "tenants": {"p-free": {}, "p-locked": {"allow_ips": ["203.0.113.128/25"]}},
            "metrics_allow_ips": ["192.0.2.1"]}"#,
    ))
    .await;
    let url = |tenant: &str| format!("{}/events/webhook/{tenant}/guarded", server.url());
    let xff = |v: &'static str| [("X-Forwarded-For", v)];
    let status = |r: (u16, String)| r.0;
    assert_eq!(
        status(post(&url("p-free"), &xff("203.0.113.5"), "{}").await),
        202
    );
    // Entries left of the first untrusted hop were written by the client: ignored.
    assert_eq!(
        status(post(&url("p-free"), &xff("6.6.6.6, 203.0.113.5, 10.1.2.3"), "{}").await),
        202
    );
    assert_eq!(
        post(&url("p-free"), &xff("203.0.113.5, 6.6.6.6"), "{}").await,
        (403, "ip_not_allowed".to_string())
    );
    // No header: the proxy itself is the client, and it is not allowed.
    assert_eq!(status(post(&url("p-free"), &[], "{}").await), 403);
    // Both lists: the event type's and the tenant's.
    assert_eq!(
        status(post(&url("p-locked"), &xff("203.0.113.5"), "{}").await),
        403
    );
    assert_eq!(
        status(post(&url("p-locked"), &xff("203.0.113.200"), "{}").await),
        202
    );
    // Only X-Forwarded-For is read by default.
    let fwd = [("Forwarded", "for=203.0.113.5")];
    assert_eq!(status(post(&url("p-free"), &fwd, "{}").await), 403);

    // /metrics is behind metrics_allow_ips, judged the same way.
    let get = |h: Option<&'static str>| {
        let mut req = client().get(format!("{}/metrics", server.url()));
        if let Some(v) = h {
            req = req.header("X-Forwarded-For", v);
        }
        async move { req.send().await.expect("GET").status().as_u16() }
    };
    assert_eq!(get(None).await, 403);
    assert_eq!(get(Some("192.0.2.1")).await, 200);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn rfc7239_forwarded_and_ipv6() {
    // The Forwarded header, chosen with client_ip_header, over IPv6 loopback.
    let server = start_on(
        config(
            r#"{"enabled": true, "public_base_url": "https://x.example",
                "trusted_proxies": ["::1"], "client_ip_header": "forwarded",
                "allow_ips": {"guarded": ["2001:db8::/32"], "open": ["::1/128"]}}"#,
        ),
        "[::1]:0",
    )
    .await;
    let url = |event: &str| format!("{}/events/webhook/v6/{event}", server.url());
    let ok = [("Forwarded", r#"for="[2001:db8::17]:4711";proto=https"#)];
    assert_eq!(post(&url("guarded"), &ok, "{}").await.0, 202);
    let xff = [("X-Forwarded-For", "2001:db8::17")];
    assert_eq!(
        post(&url("guarded"), &xff, "{}").await.0,
        403,
        "only Forwarded is read"
    );
    assert_eq!(
        post(&url("open"), &[], "{}").await.0,
        202,
        "the IPv6 peer itself"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[test]
fn bad_allow_ips_are_configuration_errors() {
    let err = |provider: &str| {
        RawConfig::from_answers_json(&format!(r#"{{"events-webhook": {provider}}}"#))
            .and_then(|r| r.check())
            .map(|_| ())
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default()
    };
    let base = r#""enabled": true, "public_base_url": "https://x""#;
    assert_eq!(
        err(&format!(r#"{{{base}, "allow_ips": {{"github": ["192.30.252.1/22"]}}}}"#)),
        "events-webhook.allow_ips.github[0]: `192.30.252.1/22` has address bits set after the /22 prefix; write 192.30.252.0/22 (the network), or the address alone for one host"
    );
    assert!(
        err(&format!(r#"{{{base}, "trusted_proxies": ["localhost"]}}"#))
            .starts_with("events-webhook.trusted_proxies[0]: `localhost` is not an IP address")
    );
    assert!(err(&format!(
        r#"{{{base}, "tenants": {{"t": {{"allow_ips": ["1.2.3.4/40"]}}}}}}"#
    ))
    .starts_with("events-webhook.tenants.t.allow_ips[0]: `1.2.3.4/40` is not a CIDR"));
    assert!(err(&format!(
        r#"{{{base}, "tenants": {{"t": {{"allow_ip": []}}}}}}"#
    ))
    .starts_with("events-webhook.tenants.t.allow_ip: unknown key"));
}
