//! Integration tests: the real `hookflow` binary's `setup`, `flows` and `--help`.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hookflow");

fn hookflow(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("HOOKFLOW_LISTEN")
        .output()
        .expect("run hookflow")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn setup(answers: &str, bundle: &Path) -> Output {
    let dir = bundle.parent().expect("bundle has a parent");
    let file = dir.join("answers.json");
    std::fs::write(&file, answers).expect("write answers");
    hookflow(&[
        "setup",
        "--answers",
        file.to_str().expect("utf-8 path"),
        bundle.to_str().expect("utf-8 path"),
    ])
}

/// `{event_type}` of every compiled trigger, sorted and deduplicated.
fn event_types() -> Vec<&'static str> {
    let mut v: Vec<&str> = super::server::FLOWS
        .flows
        .iter()
        .flat_map(|f| f.triggers.iter().map(|t| t.event_type))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn setup_writes_the_bundle_and_prints_one_url_per_trigger() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bundle = tmp.path().join("my-bundle");
    let out = setup(
        r#"{"events-webhook": {
            "enabled": true,
            "public_base_url": "https://your-domain.example/",
            "signatures": {
              "github": {"header": "X-Hub-Signature-256", "algorithm": "sha256", "secret": "your-github-secret"},
              "stripe": {"header": "Stripe-Signature", "algorithm": "stripe", "secret": "whsec_xxx"}
            }}}"#,
        &bundle,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(bundle.join("hookflow.json").is_file());
    assert!(bundle.join("state").is_dir());
    let urls: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    let want: Vec<String> = event_types()
        .iter()
        .map(|e| format!("https://your-domain.example/events/webhook/{{tenant}}/{e}"))
        .collect();
    assert_eq!(urls, want);

    // The bundle is what `serve` reads: it must round-trip through the same validation.
    let written = std::fs::read_to_string(bundle.join("hookflow.json")).expect("read bundle");
    let raw = hookflow_runtime::config::RawConfig::from_answers_json(&written).expect("valid");
    assert_eq!(raw.public_base_url, "https://your-domain.example/");
    assert_eq!(raw.signatures.len(), 2);
}

#[test]
fn setup_with_tenants_prints_their_urls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bundle = tmp.path().join("b");
    let out = setup(
        r#"{"events-webhook": {"enabled": true, "public_base_url": "http://127.0.0.1:8080",
            "tenants": ["acme", "demo"]}}"#,
        &bundle,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2 * event_types().len());
    for e in event_types() {
        for t in ["acme", "demo"] {
            let url = format!("http://127.0.0.1:8080/events/webhook/{t}/{e}");
            assert!(stdout.lines().any(|l| l == url), "{url} in\n{stdout}");
        }
    }
}

#[test]
fn setup_warns_about_unsigned_event_types_and_inline_secrets() {
    let events = event_types();
    assert!(events.len() >= 2, "the test flows have several triggers");
    let tmp = tempfile::tempdir().expect("tempdir");
    let secret_file = tmp.path().join("secret.txt");
    std::fs::write(&secret_file, "from-a-file").expect("write secret");
    let file_ref = format!("file:{}", secret_file.display());
    // Every event type but the first is signed globally through a `file:` reference; the first is
    // signed only for tenant acme (inline), so beta can deliver it unsigned.
    let signatures: serde_json::Map<String, serde_json::Value> = events[1..]
        .iter()
        .map(|e| {
            (
                e.to_string(),
                serde_json::json!({"algorithm": "sha256", "header": "X-Sig", "secret": file_ref}),
            )
        })
        .collect();
    let answers = serde_json::json!({"events-webhook": {
        "enabled": true, "public_base_url": "https://x.example",
        "signatures": signatures,
        "tenants": {
            "acme": {"signatures": {events[0]: {"algorithm": "sha256", "header": "X-Sig", "secret": "inline-acme"}}},
            "beta": {}}}});
    let bundle = tmp.path().join("b");
    let out = setup(&answers.to_string(), &bundle);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: event type `{}` has no signature check configured",
            events[0]
        )),
        "{stderr}"
    );
    for e in &events[1..] {
        assert!(
            !stderr.contains(&format!("event type `{e}`")),
            "{e} is signed:\n{stderr}"
        );
    }
    assert!(
        stderr.contains(&format!(
            "warning: events-webhook.tenants.acme.signatures.{}: the secret is written inline",
            events[0]
        )) && stderr.contains("`env:NAME` or `file:PATH`"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("warning:").count(),
        2,
        "file: references are not warned about:\n{stderr}"
    );
    assert_eq!(text(&out.stdout).lines().count(), 2 * events.len());

    // Everything signed: no warnings at all.
    let all: serde_json::Map<String, serde_json::Value> = events
        .iter()
        .map(|e| {
            (
                e.to_string(),
                serde_json::json!({"algorithm": "sha256", "header": "X-Sig", "secret": file_ref}),
            )
        })
        .collect();
    let answers = serde_json::json!({"events-webhook": {
        "enabled": true, "public_base_url": "https://x.example", "signatures": all}});
    let out = setup(&answers.to_string(), &tmp.path().join("c"));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("warning:"), "{stderr}");
}

#[test]
fn bad_answers_exit_2_name_the_key_and_write_nothing() {
    let cases = [
        (
            r#"{"events-webhook": {"public_base_url": "https://x.example"}}"#,
            "events-webhook.enabled",
        ),
        (
            r#"{"events-webhook": {"enabled": true}}"#,
            "events-webhook.public_base_url",
        ),
        (
            r#"{"events-webhook": {"enabled": true, "public_base_url": "your-domain.example"}}"#,
            "events-webhook.public_base_url",
        ),
        (
            r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x.example", "signatures": {"github": {"algorithm": "md5", "secret": "s"}}}}"#,
            "events-webhook.signatures.github.algorithm",
        ),
        (
            r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x.example", "signatures": {"github": {"algorithm": "sha256", "header": "X-Hub-Signature-256"}}}}"#,
            "events-webhook.signatures.github.secret",
        ),
        (
            r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x.example", "signatures": {"custom": {"algorithm": "sha512", "secret": "s"}}}}"#,
            "events-webhook.signatures.custom.header",
        ),
        (
            r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x.example", "secret_heder": "X-Sig"}}"#,
            "events-webhook.secret_heder",
        ),
        (
            r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x.example", "signatures": {"github": {"algorithm": "sha256", "secret": "s", "secrett": "t"}}}}"#,
            "events-webhook.signatures.github.secrett",
        ),
        (
            r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x.example"}, "extra": 1}"#,
            "extra",
        ),
        (r#"{"events-webhook": {"enabled": true,"#, "(file)"),
    ];
    for (answers, key) in cases {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bundle = tmp.path().join("bundle");
        let out = setup(answers, &bundle);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{answers}\n{stderr}");
        assert!(
            stderr.contains(&format!("{key}:")),
            "{answers}\nexpected `{key}` in: {stderr}"
        );
        assert!(out.stdout.is_empty(), "no URLs printed on error");
        assert!(!bundle.exists(), "nothing written for {answers}");
    }
}

#[test]
fn setup_into_an_existing_bundle_leaves_it_alone_on_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bundle = tmp.path().join("bundle");
    std::fs::create_dir_all(&bundle).expect("mkdir");
    let out = setup(r#"{"events-webhook": {"enabled": true}}"#, &bundle);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_dir(&bundle).expect("read dir").count(), 0);
}

#[test]
fn an_unreadable_answers_file_is_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("nope.json");
    let out = hookflow(&[
        "setup",
        "--answers",
        missing.to_str().expect("utf-8"),
        tmp.path().join("b").to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nope.json"));
}

#[test]
fn serve_rejects_a_bad_listen_address_with_exit_2() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["serve"])
        .env("HOOKFLOW_STATE", state.path())
        .env("HOOKFLOW_LISTEN", "not-an-address")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("HOOKFLOW_LISTEN"));
}

#[test]
fn flows_lists_every_compiled_flow_with_its_triggers_and_nodes() {
    let out = hookflow(&["flows"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    for f in super::server::FLOWS.flows {
        assert!(stdout.contains(&format!("flow {} ", f.name)), "{stdout}");
        for t in f.triggers {
            assert!(stdout.contains(&format!("{:?}", t.event_type)), "{stdout}");
        }
        for n in f.nodes {
            assert!(
                stdout.contains(&format!("node {} [{}]", n.id, n.kind)),
                "{stdout}"
            );
        }
    }
}

#[test]
fn every_command_has_help() {
    for cmd in [
        &["--help"][..],
        &["serve", "--help"],
        &["setup", "--help"],
        &["flows", "--help"],
        &["signature", "--help"],
        &["signature", "verify", "--help"],
        &["send", "--help"],
    ] {
        let out = hookflow(cmd);
        assert!(out.status.success(), "{cmd:?}");
        assert!(text(&out.stdout).contains("Usage: hookflow"), "{cmd:?}");
    }
    let serve = text(&hookflow(&["serve", "--help"]).stdout);
    for word in ["--listen", "HOOKFLOW_LISTEN", "--log-format", "BUNDLE_DIR"] {
        assert!(serve.contains(word), "serve --help mentions {word}");
    }
}

/// `serve` on port 0 as a real process: answers, then exits 0 on SIGTERM.
#[tokio::test]
async fn serve_runs_and_stops_gracefully_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    // Without a bundle the store would go to ~/.local/state/hookflow; keep tests out of it.
    let state = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HOOKFLOW_STATE", state.path())
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let url = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(i) = line.find("listening on http://") {
                let rest = &line[i + "listening on ".len()..];
                return rest.split_whitespace().next().map(str::to_string);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("serve logs its address");
    // Keep draining the log so the child never blocks on a full pipe.
    let drain = tokio::spawn(async move {
        let mut rest = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            rest.push(l);
        }
        rest
    });

    let resp = reqwest::get(format!("{url}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = reqwest::Client::new()
        .post(format!("{url}/events/webhook/demo/no.such.event"))
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 404);

    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    let log = drain.await.expect("log").join("\n");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("event_type=no.such.event"), "{log}");
}
