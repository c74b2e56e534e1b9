//! The HTTP server: `POST /events/webhook/{tenant}/{event_type}`, `/healthz`, `/readyz`,
//! `/metrics`.
//!
//! [`run`] takes a checked [`Config`] (or a [`Live`] one that SIGHUP reloads), the compiled flows
//! and optionally an already bound listener (tests bind port 0), and serves until its `shutdown`
//! future completes; then it stops accepting, lets requests in flight finish, and waits for the
//! work items the workers are running. Connections are served by hyper's HTTP/1 builder with a header read
//! timeout and header size limits; each request has an overall timeout and a body size limit, so
//! no client can hang or exhaust the server. Each request reads one snapshot of the live
//! configuration, and carries its TCP peer as a [`crate::allow::PeerAddr`] extension.
//!
//! A delivery goes: method → provider enabled → tenant → flow for the event type → client address
//! allowed ([`crate::allow`]) → body read (size, time) → signature on the raw bytes
//! ([`request::Unverified::verify`]) → body parsed → dedup, the flow up to its answer, commit to
//! the delivery store, answer ([`deliver`]); the store's workers ([`crate::durable::worker`]) run
//! the work after the answer. One log line per delivery records tenant, event type,
//! flow, status, duration, delivery id, client address and signature verdict; never secrets or
//! signature header values. Every line a delivery logs is in its `delivery` span (its id), and it
//! is counted in [`crate::metrics`].

mod deliver;
pub mod error;
mod ops;
pub mod request;

pub use deliver::DUPLICATE_HEADER;

use crate::__gen::Registry;
use crate::config::{
    Config, SignatureCheck, Tenant, HEADER_READ_TIMEOUT, MAX_HEADERS, MAX_HEADER_BYTES,
};
use crate::durable::worker::Workers;
use crate::durable::{Durable, OpenError};
use crate::engine::{ActionOptions, DeliveryId, Engine, SetupError};
use crate::reload::Live;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use error::ApiError;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use request::{Unverified, Verdict};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing::Instrument;

/// The header every webhook answer carries with the delivery id (to find it in the log).
pub const DELIVERY_ID_HEADER: &str = "x-hookflow-delivery";

/// How long shutdown waits for requests in flight and work after answers.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source} (is another process using the port? use --listen or HOOKFLOW_LISTEN)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the listening address: {0}")]
    LocalAddr(std::io::Error),
    #[error("the server task failed: {0}")]
    Join(String),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("cannot open the delivery store: {0}")]
    Store(#[from] OpenError),
    #[error("cannot recover the work a previous run left: {0}")]
    Recover(crate::store::StoreError),
}

/// Shared by every request.
struct AppState {
    /// The configuration, swapped by a reload; a request takes one snapshot.
    live: Live,
    flows: &'static Registry,
    engine: Arc<Engine>,
    ready: AtomicBool,
    /// The delivery store; its workers run the work after answers.
    durable: Arc<Durable>,
    /// Hands work stored by a request straight to the workers.
    handoff: crate::durable::worker::Handoff,
}

/// The given listener (tests pass one bound to port 0), or a new one on `config.listen`.
async fn bind(config: &Config, listener: Option<TcpListener>) -> Result<TcpListener, ServerError> {
    match listener {
        Some(l) => Ok(l),
        None => TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            }),
    }
}

/// Serves until `shutdown` completes, then shuts down gracefully. Binds `config.listen` unless a
/// listener is given.
pub async fn run(
    config: impl Into<Live>,
    flows: &'static Registry,
    listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let live: Live = config.into();
    let config = live.get();
    let actions = ActionOptions {
        idempotency_header: config.idempotency_header.clone(),
        ..ActionOptions::default()
    };
    let engine = Arc::new(Engine::new(flows, actions)?);
    let listener = bind(&config, listener).await?;
    let addr = listener.local_addr().map_err(ServerError::LocalAddr)?;
    let durable = Arc::new(Durable::open(config.state_dir.as_deref())?);
    if durable.is_temporary() {
        tracing::warn!(
            state_dir = %durable.state_dir().display(),
            "no state directory configured: deliveries are stored in a temporary directory, removed when the server stops"
        );
    } else {
        tracing::info!(state_dir = %durable.state_dir().display(), "delivery store open");
    }
    let workers = Workers::start(
        durable.clone(),
        engine.clone(),
        config.durable.worker.clone(),
    )
    .await
    .map_err(ServerError::Recover)?;
    let stop_pruning = tokio_util::sync::CancellationToken::new();
    let pruning = crate::durable::prune::spawn(
        durable.clone(),
        config.durable.retention.clone(),
        stop_pruning.clone(),
    );
    let state = Arc::new(AppState {
        live,
        flows,
        engine,
        ready: AtomicBool::new(true),
        durable: durable.clone(),
        handoff: workers.handoff(),
    });
    let app = router(state.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tracing::info!(
        %addr,
        flows = flows.flows.len(),
        enabled = config.enabled,
        public_base_url = %config.public_base_url,
        "hookflow listening on http://{addr}"
    );

    for f in flows.flows {
        for t in f.triggers {
            tracing::info!(
                flow = f.name,
                "POST {}/events/webhook/{{tenant}}/{}",
                config.public_base_url,
                t.event_type
            );
        }
    }

    for w in crate::reload::config_warnings(&config, flows) {
        tracing::warn!("{w}");
    }
    drop(config);

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let app = app.clone();
                let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    req.extensions_mut().insert(crate::allow::PeerAddr(peer));
                    async move {
                        // hyper's buffer limit is approximate; this is the exact one.
                        if header_bytes(req.headers()) > MAX_HEADER_BYTES {
                            return Ok(ApiError::HeadersTooLarge { limit: MAX_HEADER_BYTES }.into_response());
                        }
                        app.oneshot(req.map(Body::new)).await
                    }
                });
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }

    tracing::info!("shutting down: no new connections; finishing requests in flight");
    state.ready.store(false, Ordering::SeqCst);
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; closing them");
    }
    workers.stop(SHUTDOWN_GRACE).await;
    stop_pruning.cancel();
    let _ = pruning.await;
    durable.close().await;
    drop(state);
    tracing::info!("stopped");
    Ok(())
}

/// A server running in the background (for tests and embedding): its address and a way to stop it.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// Starts [`run`] on a task; binds `config.listen` unless a listener is given.
    pub async fn start(
        config: impl Into<Live>,
        flows: &'static Registry,
        listener: Option<TcpListener>,
    ) -> Result<RunningServer, ServerError> {
        let config: Live = config.into();
        let listener = bind(&config.get(), listener).await?;
        let addr = listener.local_addr().map_err(ServerError::LocalAddr)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(config, flows, Some(listener), async move {
            let _ = stopped.await;
        }));
        Ok(RunningServer { addr, stop, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Triggers a graceful shutdown and waits for it.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| ServerError::Join(e.to_string()))?
    }
}

/// Bytes the headers take on the wire (name, `: `, value, CRLF).
fn header_bytes(headers: &axum::http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum()
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { json_ok(r#"{"status":"ok"}"#) }).fallback(method_not_allowed),
        )
        .route("/readyz", get(readyz).fallback(method_not_allowed))
        .route("/metrics", get(ops::metrics).fallback(method_not_allowed))
        .route("/events/webhook/{tenant}/{event_type}", any(webhook))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn json_ok(body: &'static str) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        json_ok(r#"{"status":"ready"}"#)
    } else {
        ApiError::ShuttingDown.into_response()
    }
}

/// What the delivery's log line reports; filled in as the request goes.
struct LogLine {
    tenant: String,
    event_type: String,
    flow: &'static str,
    delivery_id: Option<DeliveryId>,
    /// The client address (see [`crate::allow`]); `None` when it cannot be known.
    client: Option<std::net::IpAddr>,
    signature: String,
    error_code: &'static str,
    /// Why it failed, for the log only (a flow error's node and message; a signature verdict).
    detail: Option<String>,
}

async fn webhook(State(state): State<Arc<AppState>>, req: Request) -> Response {
    // Every line this delivery logs, here and in the work after its answer, carries its id.
    let span = crate::logging::delivery_span();
    webhook_in_span(state, req).instrument(span).await
}

async fn webhook_in_span(state: Arc<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let config = state.live.get();
    let (tenant, event_type) = path_segments(req.uri().path());
    let mut line = LogLine {
        tenant: tenant.to_string(),
        event_type: event_type.to_string(),
        flow: "-",
        delivery_id: None,
        client: None,
        signature: "unchecked".to_string(),
        error_code: "",
        detail: None,
    };
    let timeout = config.request_timeout;
    let result = match tokio::time::timeout(timeout, handle(&state, &config, req, &mut line)).await
    {
        Ok(r) => r,
        Err(_) => Err(ApiError::RequestTimeout),
    };
    let mut response = match result {
        Ok(r) => r,
        Err(e) => {
            line.error_code = e.code();
            e.into_response()
        }
    };
    if let Some(id) = &line.delivery_id {
        if let Ok(v) = HeaderValue::from_str(id.as_str()) {
            // A duplicate's stored answer already names the first delivery.
            if !response.headers().contains_key(DELIVERY_ID_HEADER) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(DELIVERY_ID_HEADER), v);
            }
        }
    }
    log_delivery(&line, response.status(), started.elapsed());
    crate::metrics::delivery(
        &config,
        state.flows,
        &line.tenant,
        &line.event_type,
        response.status().as_u16(),
    );
    response
}

fn path_segments(path: &str) -> (&str, &str) {
    let rest = path.strip_prefix("/events/webhook/").unwrap_or_default();
    rest.split_once('/').unwrap_or((rest, ""))
}

fn log_delivery(line: &LogLine, status: StatusCode, took: Duration) {
    let delivery_id = line
        .delivery_id
        .as_ref()
        .map_or("-", |d| d.as_str())
        .to_string();
    let duration_ms = took.as_secs_f64() * 1000.0;
    let client_ip = line.client.map_or("-".to_string(), |ip| ip.to_string());
    macro_rules! emit {
        ($level:expr) => {
            tracing::event!(
                target: "hookflow::delivery",
                $level,
                tenant = %line.tenant,
                event_type = %line.event_type,
                flow = %line.flow,
                status = status.as_u16(),
                duration_ms,
                delivery_id = %delivery_id,
                client_ip = %client_ip,
                signature = %line.signature,
                error = %line.error_code,
                detail = line.detail.as_deref().unwrap_or(""),
                "delivery"
            )
        };
    }
    if status.is_server_error() {
        emit!(tracing::Level::ERROR)
    } else if status.is_client_error() {
        emit!(tracing::Level::WARN)
    } else {
        emit!(tracing::Level::INFO)
    }
}

async fn handle(
    state: &AppState,
    config: &Config,
    req: Request,
    line: &mut LogLine,
) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    if !config.enabled {
        return Err(ApiError::ProviderDisabled);
    }
    let tenant = Tenant::parse(&line.tenant)
        .ok()
        .filter(|t| config.accepts_tenant(t))
        .ok_or_else(|| ApiError::UnknownTenant(line.tenant.clone()))?;
    let event_type = line.event_type.clone();
    let (flow, trigger) = state
        .flows
        .for_event(&event_type)
        .ok_or_else(|| ApiError::NoFlow(event_type.clone()))?;
    line.flow = flow.name;

    let (parts, body) = req.into_parts();
    // Known early when the sender sends one, so even rejected deliveries can be found in the log.
    line.delivery_id = request::sender_delivery_id(&parts.headers);
    if let Some(id) = &line.delivery_id {
        crate::logging::record_delivery_id(id.as_str());
    }
    let peer = parts.extensions.get::<crate::allow::PeerAddr>();
    line.client = config
        .access
        .client_ip(peer.map(|p| p.0.ip()), &parts.headers);
    if !config
        .access
        .admits(tenant.as_str(), &event_type, line.client)
    {
        return Err(ApiError::IpNotAllowed {
            client: line.client,
        });
    }
    let limit = config.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let body = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::BodyTooLarge { limit }
            } else {
                ApiError::BodyRead
            }
        })?
        .to_bytes();

    let path_and_query = parts.uri.path_and_query().map_or("", |p| p.as_str());
    let verifier = match config.check_for(&tenant, &event_type) {
        SignatureCheck::Verify(v) => Some(v),
        SignatureCheck::None => None,
        SignatureCheck::Required => {
            line.signature = "rejected:not_configured".to_string();
            crate::metrics::signature_failure("none", "not_configured");
            return Err(ApiError::SignatureRequired(event_type.clone()));
        }
    };
    let url = match verifier {
        Some(_) => format!("{}{}", config.public_base_url, path_and_query),
        None => String::new(),
    };
    let unverified = Unverified {
        method: parts.method.as_str(),
        url: &url,
        headers: &parts.headers,
        body,
    };
    let verified = match unverified.verify(verifier, unix_now()) {
        Ok(v) => v,
        Err(e) => {
            // The line names the case (header missing, malformed, mismatch, timestamp) and the
            // header; never its value or the secret.
            line.signature = format!("rejected:{}", e.reason());
            line.detail = Some(e.to_string());
            crate::metrics::signature_failure(
                verifier.map_or("none", |v| v.algorithm()),
                e.reason(),
            );
            return Err(ApiError::Signature(e));
        }
    };
    line.signature = match verified.verdict() {
        v @ Verdict::Valid { .. } => v.to_string(),
        Verdict::NotConfigured => "none".to_string(),
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    // Only what the flow reads (and deduplication: a Stripe-style `id`, the event type's
    // `payload_field`), when the flow reads named fields only.
    let payload = match flow.payload_fields {
        None => verified.payload(content_type)?,
        Some(fields) => {
            let dedup_field = config
                .durable
                .dedup
                .rule(&event_type)
                .payload_field
                .as_deref();
            let keep = |k: &str| k == "id" || Some(k) == dedup_field || fields.contains(&k);
            verified.payload_fields(content_type, &keep)?
        }
    };
    deliver::deliver(
        state,
        config,
        deliver::Verified {
            tenant: &tenant,
            event_type: &event_type,
            flow,
            trigger,
            headers: &parts.headers,
            body: verified.body(),
            payload,
            verdict: verified.verdict(),
            algorithm: verifier.map(|v| v.algorithm()),
        },
        line,
    )
    .await
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
