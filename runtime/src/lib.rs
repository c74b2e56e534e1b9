//! hookflow's runtime: everything that is compiled once and shared by every build of the flows.
//!
//! - [`__gen`]: the support code generated flows call (hidden; not a stable API).
//! - [`cli`]: the `hookflow` command line, entered from the binary's `main`.
//! - [`config`]: answers.json, the bundle, and the checked configuration.
//! - [`server`]: the HTTP endpoint, health checks, graceful shutdown.
//! - [`engine`]: running compiled flows, and the work after the answer.
//! - [`signature`]: webhook signature schemes.
//! - [`store`]: the durable delivery store (deliveries, work after the answer, attempts, traces).
//! - [`admin`]: the loopback admin endpoint (`hookflow reload`).
//! - [`allow`]: `allow_ips` and the client address behind trusted proxies.
//! - [`env`]: the `HOOKFLOW_*` environment layer of the configuration.
//! - [`logging`]: text/JSON log lines, filters, the per-delivery span.
//! - [`reload`]: the live configuration, swapped on SIGHUP.
//! - [`metrics`]: Prometheus metrics (`GET /metrics`).
//! - [`backoff`]: exponential backoff with full jitter for retried work.

#[doc(hidden)]
#[path = "gen/mod.rs"]
pub mod __gen;

pub mod actions;
pub mod admin;
pub mod allow;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod engine;
pub mod env;
pub mod logging;
pub mod metrics;
pub mod reload;
pub mod server;
pub mod signature;
pub mod store;
