//! Performing the I/O of action nodes: `http_request` through one pooled HTTP client (reqwest
//! with rustls, so the binary stays static) and `exec` as a child process without a shell.
//!
//! The generated state machine yields an [`Action`] with its templates already evaluated; the
//! engine hands it to [`Actions::perform`] and gets back the node's output (`nodes.<id>`) or a
//! [`Failure`] with the [`ErrorKind`] an `on_error` target sees as `error.kind`. Nothing here
//! panics or blocks a runtime thread; every wait is bounded by the node's `timeout_ms`.

use crate::__gen::{Action, ErrorKind, ExecCall, HeaderValue, HttpBody, HttpCall, Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Settings of action nodes (from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOptions {
    /// The header that carries the idempotency key of outgoing calls.
    pub idempotency_header: String,
    /// Most bytes kept of each of an `exec`'s stdout and stderr.
    pub max_exec_output_bytes: usize,
    /// Most bytes read of an `http_request`'s response body.
    pub max_response_bytes: usize,
}

impl Default for ActionOptions {
    fn default() -> Self {
        ActionOptions {
            idempotency_header: "Idempotency-Key".to_string(),
            max_exec_output_bytes: 64 * 1024,
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// An action that did not succeed: what `error.kind` and `error.message` say. `output` is the
/// node's output when there is one (an unexpected status still has a response; a failed command
/// still has its exit code and output), so the `on_error` target can read `nodes.<id>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    pub output: Option<Value>,
}

impl Failure {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            output: None,
        }
    }
}

/// Why the action executor could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("flow `{flow}` sends the environment variable `{name}` in a header (`env:{name}`), but it is not set")]
    MissingSecret {
        flow: &'static str,
        name: &'static str,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// A resolved `env:` value; its `Debug` never shows it.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Performs actions; one per server, shared by every delivery (the HTTP client pools
/// connections).
#[derive(Debug)]
pub struct Actions {
    http: reqwest::Client,
    secrets: BTreeMap<&'static str, Secret>,
    opts: ActionOptions,
}

impl Actions {
    /// Builds the client and resolves the `env:` secrets every flow names, reading each variable
    /// with `lookup` (the process environment in production).
    pub fn new(
        flows: &crate::__gen::Registry,
        opts: ActionOptions,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Actions, SetupError> {
        let mut secrets = BTreeMap::new();
        for f in flows.flows {
            for &name in f.secrets {
                let value = lookup(name).ok_or(SetupError::MissingSecret { flow: f.name, name })?;
                secrets.insert(name, Secret(value));
            }
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("hookflow/", env!("CARGO_PKG_VERSION")))
            // A POST answered with a redirect is not silently re-sent elsewhere: the node sees
            // the 3xx (a failure unless `expect_status` accepts it).
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| SetupError::Client(e.to_string()))?;
        Ok(Actions {
            http,
            secrets,
            opts,
        })
    }

    pub fn options(&self) -> &ActionOptions {
        &self.opts
    }

    /// Performs `action`; `idempotency_key` goes into the configured header of HTTP calls.
    pub async fn perform(&self, action: Action, idempotency_key: &str) -> Result<Value, Failure> {
        match action {
            Action::Http(call) => self.http(call, idempotency_key).await,
            Action::Exec(call) => self.exec(call).await,
        }
    }

    async fn http(&self, call: HttpCall, idempotency_key: &str) -> Result<Value, Failure> {
        let connect = |m: String| Failure::new(ErrorKind::HttpConnect, m);
        let method = reqwest::Method::from_bytes(call.method.as_bytes())
            .map_err(|_| connect(format!("`{}` is not an HTTP method", call.method)))?;
        let url = reqwest::Url::parse(&call.url)
            .map_err(|e| connect(format!("`{}` is not a valid URL: {e}", call.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(connect(format!(
                "`{}` is not an http or https URL",
                call.url
            )));
        }
        let what = format!("{} {}", call.method, redact_url(&url));
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &call.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| connect(format!("`{name}` is not a valid header name")))?;
            let value = match value {
                HeaderValue::Text(t) => {
                    reqwest::header::HeaderValue::from_str(t).map_err(|_| {
                        connect(format!("the value of header `{name}` is not valid in HTTP"))
                    })?
                }
                HeaderValue::Secret(env) => {
                    let s = self.secrets.get(env).ok_or_else(|| {
                        connect(format!("the secret `env:{env}` was not resolved at start"))
                    })?;
                    let mut v = reqwest::header::HeaderValue::from_str(&s.0)
                        .map_err(|_| connect(format!("`env:{env}` is not a valid header value")))?;
                    v.set_sensitive(true);
                    v
                }
            };
            headers.append(name, value);
        }
        if let Ok(name) =
            reqwest::header::HeaderName::from_bytes(self.opts.idempotency_header.as_bytes())
        {
            if !headers.contains_key(&name) {
                if let Ok(v) = reqwest::header::HeaderValue::from_str(idempotency_key) {
                    headers.insert(name, v);
                }
            }
        }
        let body = match call.body {
            None => None,
            Some(HttpBody::Json(v)) => {
                default_header(&mut headers, "application/json");
                Some(serde_json::to_vec(&v).unwrap_or_default())
            }
            Some(HttpBody::Text(t)) => {
                default_header(&mut headers, "text/plain; charset=utf-8");
                Some(t.into_bytes())
            }
        };
        let timeout = Duration::from_millis(call.timeout_ms.max(1));
        let mut req = self
            .http
            .request(method, url)
            .headers(headers)
            .timeout(timeout);
        if let Some(b) = body {
            req = req.body(b);
        }
        let exchange = async {
            let resp = req.send().await.map_err(|e| send_failure(&what, &e))?;
            let status = resp.status().as_u16();
            let mut out_headers = Map::new();
            for (n, v) in resp.headers() {
                out_headers
                    .entry(n.as_str().to_string())
                    .or_insert_with(|| Value::String(String::from_utf8_lossy(v.as_bytes()).into()));
            }
            let is_json = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.contains("json"));
            let mut bytes = Vec::new();
            let mut resp = resp;
            let mut truncated = false;
            while let Some(chunk) = resp.chunk().await.map_err(|e| send_failure(&what, &e))? {
                let room = self.opts.max_response_bytes.saturating_sub(bytes.len());
                if chunk.len() > room {
                    bytes.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                bytes.extend_from_slice(&chunk);
            }
            let body = if is_json && !truncated {
                serde_json::from_slice(&bytes)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
            } else {
                Value::String(String::from_utf8_lossy(&bytes).into())
            };
            let mut out = Map::new();
            out.insert("status".into(), Value::from(status));
            out.insert("headers".into(), Value::Object(out_headers));
            out.insert("body".into(), body);
            if truncated {
                out.insert("truncated".into(), Value::Bool(true));
            }
            Ok::<_, Failure>((status, Value::Object(out)))
        };
        // reqwest's timeout covers the body too; this one is the backstop for the whole exchange.
        let (status, output) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| {
                Failure::new(
                    ErrorKind::HttpTimeout,
                    format!("{what}: no answer within {} ms", call.timeout_ms),
                )
            })??;
        if status_accepted(status, call.expect_status) {
            Ok(output)
        } else {
            Err(Failure {
                kind: ErrorKind::HttpStatus,
                message: format!(
                    "{what} answered {status}, expected {}",
                    describe_expected(call.expect_status)
                ),
                output: Some(output),
            })
        }
    }

    async fn exec(&self, call: ExecCall) -> Result<Value, Failure> {
        let mut cmd = tokio::process::Command::new(&call.command);
        cmd.args(&call.args)
            .envs(call.env.iter().map(|(k, v)| (k, v)))
            .stdin(if call.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group, so that a timeout kills what the command started too.
        #[cfg(unix)]
        cmd.process_group(0);
        if let Some(dir) = &call.working_dir {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().map_err(|e| {
            let mut m = format!("cannot start `{}`: {e}", call.command);
            if let Some(dir) = &call.working_dir {
                m.push_str(&format!(" (working_dir `{dir}`)"));
            }
            Failure::new(ErrorKind::ExecSpawn, m)
        })?;
        let limit = self.opts.max_exec_output_bytes;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let input = call.stdin.clone().unwrap_or_default();
        let run = async {
            let feed = async move {
                if let Some(mut w) = stdin {
                    // A command that does not read its input closes the pipe: not an error.
                    let _ = w.write_all(input.as_bytes()).await;
                    let _ = w.shutdown().await;
                }
            };
            let (_, out, err, status) = tokio::join!(
                feed,
                read_capped(stdout, limit),
                read_capped(stderr, limit),
                child.wait()
            );
            (out, err, status)
        };
        let timeout = Duration::from_millis(call.timeout_ms.max(1));
        let Ok((out, err, status)) = tokio::time::timeout(timeout, run).await else {
            kill_group(&mut child).await;
            return Err(Failure::new(
                ErrorKind::ExecTimeout,
                format!("`{}` was killed after {} ms", call.command, call.timeout_ms),
            ));
        };
        let status = status.map_err(|e| {
            Failure::new(
                ErrorKind::ExecExit,
                format!("waiting for `{}` failed: {e}", call.command),
            )
        })?;
        let (stdout, out_cut) = out;
        let (stderr, err_cut) = err;
        let mut o = Map::new();
        o.insert(
            "exit_code".into(),
            status.code().map_or(Value::Null, Value::from),
        );
        o.insert("stdout".into(), Value::String(stdout));
        o.insert("stderr".into(), Value::String(stderr.clone()));
        if out_cut || err_cut {
            o.insert("truncated".into(), Value::Bool(true));
        }
        let output = Value::Object(o);
        if status.success() || (call.allow_failure && status.code().is_some()) {
            return Ok(output);
        }
        let how = match status.code() {
            Some(c) => format!("exited with {c}"),
            None => "was killed by a signal".to_string(),
        };
        let tail = last_line(&stderr);
        let message = if tail.is_empty() {
            format!("`{}` {how}", call.command)
        } else {
            format!("`{}` {how}: {tail}", call.command)
        };
        Err(Failure {
            kind: ErrorKind::ExecExit,
            message,
            output: Some(output),
        })
    }
}

fn default_header(headers: &mut reqwest::header::HeaderMap, content_type: &'static str) {
    if !headers.contains_key(reqwest::header::CONTENT_TYPE) {
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static(content_type),
        );
    }
}

fn send_failure(what: &str, e: &reqwest::Error) -> Failure {
    // The chain of sources says *why* (connection refused, dns, tls); without the URL, which may
    // carry a token in its query.
    let mut why = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        why = s.to_string();
        src = s.source();
    }
    if why.is_empty() {
        why = e.without_url_ref().to_string();
    }
    let kind = if e.is_timeout() {
        ErrorKind::HttpTimeout
    } else {
        ErrorKind::HttpConnect
    };
    Failure::new(kind, format!("{what}: {why}"))
}

/// `reqwest::Error::without_url` takes self; this borrows.
trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let s = self.to_string();
        match self.url() {
            Some(u) => s.replace(u.as_str(), "<url>"),
            None => s,
        }
    }
}

/// The URL without its query and credentials, for messages and logs.
fn redact_url(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

fn status_accepted(status: u16, expect: &[(u16, u16)]) -> bool {
    if expect.is_empty() {
        (200..=299).contains(&status)
    } else {
        expect.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

fn describe_expected(expect: &[(u16, u16)]) -> String {
    if expect.is_empty() {
        return "2xx".to_string();
    }
    expect
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a whole stream, keeping at most `limit` bytes (the rest is drained so that the child
/// never blocks on a full pipe). Returns the text (lossy UTF-8) and whether it was cut.
async fn read_capped<R: AsyncRead + Unpin>(r: Option<R>, limit: usize) -> (String, bool) {
    let Some(mut r) = r else {
        return (String::new(), false);
    };
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                if n > room {
                    cut = true;
                }
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), cut)
}

fn last_line(s: &str) -> &str {
    let line = s.trim_end().lines().last().unwrap_or_default().trim();
    match line.char_indices().nth(300) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// Kills the child's whole process group (it was started as its leader), then reaps it.
async fn kill_group(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_default_to_2xx_and_ranges_are_inclusive() {
        assert!(status_accepted(200, &[]));
        assert!(status_accepted(299, &[]));
        assert!(!status_accepted(301, &[]));
        assert!(status_accepted(404, &[(200, 299), (404, 404)]));
        assert!(!status_accepted(500, &[(200, 299), (404, 404)]));
        assert_eq!(describe_expected(&[(200, 299), (404, 404)]), "200-299, 404");
        assert_eq!(describe_expected(&[]), "2xx");
    }

    #[test]
    fn urls_in_messages_lose_credentials_and_query() {
        let Ok(u) = reqwest::Url::parse("https://user:pw@example.com/hook?token=abc#x") else {
            panic!("a valid URL")
        };
        assert_eq!(redact_url(&u), "https://example.com/hook");
    }

    #[test]
    fn last_line_is_bounded() {
        assert_eq!(last_line("a\nb\n\n"), "b");
        assert_eq!(last_line(&"é".repeat(400)).chars().count(), 300);
    }
}
