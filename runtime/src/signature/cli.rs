//! `hookflow signature verify|sign` and `hookflow send`: the command-line face of this module.
//! `verify` runs exactly the code the server runs; `sign` and `send` produce test deliveries the
//! way each sender would.
//!
//! Exit codes: 0 valid / sent with a 2xx answer; 1 invalid / non-2xx answer or network error;
//! 2 bad usage (unknown algorithm, unreadable file, malformed `--header`, ...).

use super::{SecretRef, SignInput, SignatureSpec, SignedRequest, Signer, Verifier};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// `hookflow signature ...`
#[derive(Debug, Args)]
pub struct SignatureArgs {
    #[command(subcommand)]
    pub command: SignatureCommand,
}

/// The `signature` subcommands.
#[derive(Debug, Subcommand)]
pub enum SignatureCommand {
    /// Check a delivery's signature; prints `valid` (exit 0) or `invalid: <reason>` (exit 1).
    Verify(VerifyArgs),
    /// Print the headers a sender would add to this body.
    Sign(SignArgs),
}

/// The options shared by `verify`, `sign` and `send` that describe the check.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Algorithm: sha256, sha1, sha512, stripe, standard-webhooks, svix, shopify, slack, token,
    /// twilio, discord, paddle, linear, square, zoom, twitch, hubspot-v3, mailgun, sendgrid.
    #[arg(long)]
    pub algorithm: String,
    /// Secret (or `env:NAME`, `file:PATH`); repeat to try several (rotation). For discord and
    /// sendgrid: the public key to verify, the private key to sign.
    #[arg(long = "secret", required = true)]
    pub secrets: Vec<String>,
    /// The signature header, if not the sender's standard one.
    #[arg(long = "signature-header")]
    pub signature_header: Option<String>,
    /// `hex` or `base64` (sha256, sha1, sha512 only).
    #[arg(long)]
    pub encoding: Option<String>,
    /// Exact prefix of the signature value, e.g. `sha256=` (sha256, sha1, sha512 only).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Replay window in seconds (0: no timestamp check).
    #[arg(long)]
    pub tolerance: Option<u64>,
}

impl SpecArgs {
    fn spec(&self) -> SignatureSpec {
        let mut secrets = self.secrets.iter().map(|s| SecretRef(s.clone()));
        SignatureSpec {
            algorithm: self.algorithm.clone(),
            header: self.signature_header.clone(),
            secret: secrets.next(),
            secrets: secrets.collect(),
            encoding: self.encoding.clone(),
            prefix: self.prefix.clone(),
            tolerance_seconds: self.tolerance,
        }
    }
}

/// `hookflow signature verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// The raw request body, byte for byte.
    #[arg(long)]
    pub body_file: PathBuf,
    /// A request header, `Name: value`; repeat for each.
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// The full URL the sender posted to (twilio, square, hubspot-v3 sign it).
    #[arg(long, default_value = "http://127.0.0.1:8080/")]
    pub url: String,
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// Current time as unix seconds (default: the clock).
    #[arg(long)]
    pub now: Option<u64>,
}

/// `hookflow signature sign`
#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    #[arg(long)]
    pub body_file: PathBuf,
    /// The full URL the delivery will be posted to (twilio, square, hubspot-v3 sign it).
    #[arg(long, default_value = "http://127.0.0.1:8080/")]
    pub url: String,
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// Signed timestamp as unix seconds (default: the clock).
    #[arg(long)]
    pub now: Option<u64>,
    /// Message id for schemes that sign one (standard-webhooks, svix, twitch, mailgun token).
    #[arg(long)]
    pub id: Option<String>,
    /// Where to write the signed body for schemes that sign inside it (mailgun).
    #[arg(long)]
    pub body_out: Option<PathBuf>,
}

/// `hookflow send`
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The server (e.g. `http://127.0.0.1:8080`) or a full `/events/webhook/...` URL.
    pub url: String,
    /// The `{event_type}` path segment.
    #[arg(long)]
    pub event_type: Option<String>,
    /// The `{tenant}` path segment.
    #[arg(long, default_value = "demo")]
    pub tenant: String,
    /// The body to send, byte for byte.
    #[arg(long)]
    pub payload: PathBuf,
    /// Sign with this algorithm (needs `--secret`).
    #[arg(long, requires = "secrets")]
    pub algorithm: Option<String>,
    /// Signing secret; for discord and sendgrid the private key.
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    #[arg(long = "signature-header")]
    pub signature_header: Option<String>,
    #[arg(long)]
    pub encoding: Option<String>,
    #[arg(long)]
    pub prefix: Option<String>,
    /// The URL the sender signs, when it differs from where the request goes (the server's
    /// `public_base_url` + path, behind a tunnel or proxy).
    #[arg(long)]
    pub signed_url: Option<String>,
    /// Extra header, `Name: value`; repeat for each.
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// Content-Type (default: application/json for bodies that parse as JSON).
    #[arg(long)]
    pub content_type: Option<String>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn parse_header(h: &str) -> Option<(http::HeaderName, http::HeaderValue)> {
    let (k, v) = h.split_once(':')?;
    let name = http::HeaderName::from_bytes(k.trim().as_bytes()).ok()?;
    let value = http::HeaderValue::from_str(v.trim()).ok()?;
    Some((name, value))
}

/// Runs `hookflow signature verify|sign`.
pub fn run(args: SignatureArgs) -> ExitCode {
    match args.command {
        SignatureCommand::Verify(a) => verify(a),
        SignatureCommand::Sign(a) => sign(a),
    }
}

fn verify(a: VerifyArgs) -> ExitCode {
    match check(&a) {
        Err(usage_error) => usage(usage_error),
        Ok(Ok(())) => {
            println!("valid");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            println!("invalid: {e}");
            ExitCode::from(1)
        }
    }
}

/// The verdict of `verify`, or a usage error.
fn check(a: &VerifyArgs) -> Result<Result<(), super::VerifyError>, String> {
    let verifier = Verifier::from_spec(&a.spec.spec()).map_err(|e| format!("--{e}"))?;
    let body = std::fs::read(&a.body_file)
        .map_err(|e| format!("cannot read {}: {e}", a.body_file.display()))?;
    let mut headers = http::HeaderMap::new();
    for h in &a.headers {
        let (k, v) =
            parse_header(h).ok_or_else(|| format!("--header `{h}` is not `Name: value`"))?;
        headers.append(k, v);
    }
    let req = SignedRequest {
        method: &a.method,
        url: &a.url,
        headers: &headers,
        body: &body,
        now: a.now.unwrap_or_else(unix_now),
    };
    Ok(verifier.verify(&req))
}

fn sign(a: SignArgs) -> ExitCode {
    let signed = match sign_delivery(&a) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    for (k, v) in &signed.headers {
        println!("{k}: {v}");
    }
    if let Some(new_body) = signed.body {
        match &a.body_out {
            Some(p) => {
                if let Err(e) = std::fs::write(p, &new_body) {
                    return usage(format_args!("cannot write {}: {e}", p.display()));
                }
                eprintln!("signed body written to {}", p.display());
            }
            None if signed.headers.is_empty() => println!("{}", String::from_utf8_lossy(&new_body)),
            None => println!("\n{}", String::from_utf8_lossy(&new_body)),
        }
    }
    ExitCode::SUCCESS
}

fn sign_delivery(a: &SignArgs) -> Result<super::Signed, String> {
    let signer = Signer::from_spec(&a.spec.spec()).map_err(|e| format!("--{e}"))?;
    let body = std::fs::read(&a.body_file)
        .map_err(|e| format!("cannot read {}: {e}", a.body_file.display()))?;
    let input = SignInput {
        method: &a.method,
        url: &a.url,
        body: &body,
        now: a.now.unwrap_or_else(unix_now),
        id: a.id.as_deref(),
    };
    signer.sign(&input).map_err(|e| e.to_string())
}

/// Runs `hookflow send`: signs (optionally) and POSTs one delivery, prints the answer.
pub fn run_send(a: SendArgs) -> ExitCode {
    let url = if a.url.contains("/events/webhook/") {
        a.url.clone()
    } else {
        let Some(et) = &a.event_type else {
            return usage("--event-type is required unless URL is a full /events/webhook/... URL");
        };
        format!(
            "{}/events/webhook/{}/{}",
            a.url.trim_end_matches('/'),
            a.tenant,
            et
        )
    };
    let mut body = match std::fs::read(&a.payload) {
        Ok(b) => b,
        Err(e) => return usage(format_args!("cannot read {}: {e}", a.payload.display())),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for h in &a.headers {
        match h.split_once(':') {
            Some((k, v)) if parse_header(h).is_some() => {
                headers.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => return usage(format_args!("--header `{h}` is not `Name: value`")),
        }
    }
    if let Some(alg) = &a.algorithm {
        let mut secrets = a.secrets.iter().map(|s| SecretRef(s.clone()));
        let spec = SignatureSpec {
            algorithm: alg.clone(),
            header: a.signature_header.clone(),
            secret: secrets.next(),
            secrets: secrets.collect(),
            encoding: a.encoding.clone(),
            prefix: a.prefix.clone(),
            tolerance_seconds: None,
        };
        let signer = match Signer::from_spec(&spec) {
            Ok(s) => s,
            Err(e) => return usage(format_args!("--{e}")),
        };
        let signed_url = a.signed_url.clone().unwrap_or_else(|| url.clone());
        let signed = match signer.sign(&SignInput {
            method: "POST",
            url: &signed_url,
            body: &body,
            now: unix_now(),
            id: None,
        }) {
            Ok(s) => s,
            Err(e) => return usage(e),
        };
        headers.extend(signed.headers);
        if let Some(b) = signed.body {
            body = b;
        }
    }
    let content_type = a.content_type.clone().unwrap_or_else(|| {
        if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
            "application/json".into()
        } else {
            "application/x-www-form-urlencoded".into()
        }
    });
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let client = match reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let mut req = client
            .post(&url)
            .header("Content-Type", content_type)
            .body(body);
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                println!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                );
                println!("{text}");
                if status.is_success() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("error: could not deliver to {url}: {e}");
                ExitCode::from(1)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::VerifyError;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        Signature(SignatureArgs),
        Send(SendArgs),
    }

    fn parse(args: &[&str]) -> Result<Top, clap::Error> {
        Cli::try_parse_from(std::iter::once("hookflow").chain(args.iter().copied())).map(|c| c.cmd)
    }

    fn body_file(name: &str, body: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hookflow-sigcli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let p = dir.join(name);
        std::fs::write(&p, body).ok();
        p
    }

    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

    fn verify_args(extra: &[&str]) -> Result<VerifyArgs, String> {
        let body = body_file("slack", SLACK_BODY.as_bytes());
        let body = body.display().to_string();
        let mut args = vec![
            "signature",
            "verify",
            "--algorithm",
            "slack",
            "--secret",
            "8f742231b10e8888abcd99yyyzzz85a5",
            "--body-file",
            &body,
            "--header",
            "X-Slack-Request-Timestamp: 1531420618",
        ];
        args.extend_from_slice(extra);
        match parse(&args).map_err(|e| e.to_string())? {
            Top::Signature(SignatureArgs {
                command: SignatureCommand::Verify(v),
            }) => Ok(v),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn verify_reports_valid_invalid_and_usage() {
        let sig = "X-Slack-Signature: v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let ok = verify_args(&["--header", sig, "--now", "1531420618"]).map(|a| check(&a));
        assert_eq!(ok, Ok(Ok(Ok(()))));
        let old = verify_args(&["--header", sig, "--now", "1531430000"]).map(|a| check(&a));
        assert!(
            matches!(
                old,
                Ok(Ok(Err(VerifyError::TimestampOutOfTolerance { .. })))
            ),
            "{old:?}"
        );
        let rotated = verify_args(&["--header", sig, "--now", "1531420618", "--secret", "other"])
            .map(|a| check(&a));
        assert_eq!(rotated, Ok(Ok(Ok(()))), "any --secret may match");
        let missing = verify_args(&["--now", "1531420618"]).map(|a| check(&a));
        assert!(
            matches!(missing, Ok(Ok(Err(VerifyError::Missing { .. })))),
            "{missing:?}"
        );
        let bad_header = verify_args(&["--header", "no colon here"]).map(|a| check(&a));
        assert!(matches!(bad_header, Ok(Err(_))), "{bad_header:?}");
        let mut bad_alg = verify_args(&[]).map_err(|e| e.to_string());
        if let Ok(a) = bad_alg.as_mut() {
            a.spec.algorithm = "nope".into();
            let r = check(a);
            assert!(matches!(&r, Err(m) if m.contains("--algorithm")), "{r:?}");
        }
        assert!(
            parse(&["signature", "verify", "--algorithm", "slack"]).is_err(),
            "--secret and --body-file are required"
        );
    }

    #[test]
    fn sign_output_verifies() {
        let body = body_file("gh.json", br#"{"zen":"Design for failure."}"#);
        let body = body.display().to_string();
        let Ok(Top::Signature(SignatureArgs {
            command: SignatureCommand::Sign(a),
        })) = parse(&[
            "signature",
            "sign",
            "--algorithm",
            "stripe",
            "--secret",
            "whsec_cli",
            "--body-file",
            &body,
            "--now",
            "1700000000",
        ])
        else {
            panic!("parse");
        };
        let signed = sign_delivery(&a).expect("signed");
        let (k, v) = signed.headers.first().cloned().expect("one header");
        assert_eq!(k, "Stripe-Signature");
        assert!(v.starts_with("t=1700000000,v1="), "{v}");
        let header = format!("{k}: {v}");
        let Ok(Top::Signature(SignatureArgs {
            command: SignatureCommand::Verify(v),
        })) = parse(&[
            "signature",
            "verify",
            "--algorithm",
            "stripe",
            "--secret",
            "whsec_cli",
            "--body-file",
            &body,
            "--header",
            &header,
            "--now",
            "1700000100",
        ])
        else {
            panic!("parse");
        };
        assert_eq!(check(&v), Ok(Ok(())));
    }

    #[test]
    fn send_parses() {
        let Ok(Top::Send(s)) = parse(&[
            "send",
            "http://127.0.0.1:8080",
            "--event-type",
            "push",
            "--payload",
            "p.json",
            "--algorithm",
            "sha256",
            "--secret",
            "s",
            "--header",
            "X-GitHub-Event: push",
        ]) else {
            panic!("parse");
        };
        assert_eq!(s.event_type.as_deref(), Some("push"));
        assert!(
            parse(&[
                "send",
                "http://x",
                "--payload",
                "p",
                "--algorithm",
                "sha256"
            ])
            .is_err(),
            "--algorithm needs --secret"
        );
    }

    /// Accepts one HTTP request on a std listener, answers 202, returns (head, body).
    fn one_request(listener: std::net::TcpListener) -> std::thread::JoinHandle<(String, Vec<u8>)> {
        use std::io::{Read, Write};
        std::thread::spawn(move || {
            let Ok((mut sock, _)) = listener.accept() else {
                return (String::new(), Vec::new());
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = sock.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0usize);
                    if buf.len() >= end + 4 + len {
                        let body = buf[end + 4..end + 4 + len].to_vec();
                        let answer = b"HTTP/1.1 202 Accepted\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
                        sock.write_all(answer).ok();
                        return (head, body);
                    }
                }
            }
            (String::from_utf8_lossy(&buf).to_string(), Vec::new())
        })
    }

    #[test]
    fn send_signs_and_posts_a_delivery_the_verifier_accepts() {
        let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
            panic!("bind");
        };
        let addr = listener.local_addr().expect("addr");
        let server = one_request(listener);
        let payload = body_file("push.json", br#"{"ref":"refs/heads/main"}"#);
        let base = format!("http://{addr}");
        let payload_arg = payload.display().to_string();
        let Ok(Top::Send(a)) = parse(&[
            "send",
            &base,
            "--event-type",
            "push",
            "--tenant",
            "acme",
            "--payload",
            &payload_arg,
            "--algorithm",
            "sha256",
            "--secret",
            "gh-secret",
            "--header",
            "X-GitHub-Event: push",
        ]) else {
            panic!("parse");
        };
        assert_eq!(run_send(a), ExitCode::SUCCESS);
        let (head, body) = server.join().expect("server thread");
        assert!(
            head.starts_with("POST /events/webhook/acme/push HTTP/1.1"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase().contains("x-github-event: push"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let mut headers = http::HeaderMap::new();
        for line in head.lines().skip(1) {
            if let Some((k, v)) = parse_header(line) {
                headers.append(k, v);
            }
        }
        let spec = SignatureSpec::new("sha256", "gh-secret");
        let verdict = Verifier::from_spec(&spec)
            .expect("spec")
            .verify(&SignedRequest {
                method: "POST",
                url: &base,
                headers: &headers,
                body: &body,
                now: unix_now(),
            });
        assert_eq!(verdict, Ok(()));
    }
}
