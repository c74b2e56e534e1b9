//! Prometheus metrics, served at `GET /metrics` (OpenMetrics text, which Prometheus scrapes).
//!
//! One process-wide registry ([`prometheus_client`]) behind small functions, so every part of
//! hookflow (server, worker, store) records with one call and none of them holds a handle:
//!
//! | function | metric |
//! |---|---|
//! | [`delivery`] | `hookflow_deliveries_total{tenant, event_type, flow, status}` |
//! | [`signature_failure`] | `hookflow_signature_failures_total{algorithm, reason}` |
//! | [`flow_run`] | `hookflow_flow_run_duration_seconds{flow, phase}` (histogram) |
//! | [`work_counts`] | `hookflow_work{state="pending"\|"running"\|"dead"}` (gauge) |
//! | [`store_commit`] | `hookflow_store_commit_duration_seconds` (histogram) |
//! | [`store_commit_failed`] | `hookflow_store_commit_failures_total` |
//! | [`retry`] | `hookflow_work_retries_total{flow}` |
//! | [`dead`] | `hookflow_work_dead_total{flow}` |
//! | [`reload`] | `hookflow_config_reloads_total{result}` |
//! | (always) | `hookflow_build_info{version}` = 1 |
//!
//! Cardinality is bounded by construction: `tenant` is a configured tenant or `other` (every
//! tenant is `other` when no tenant list is configured); `event_type` is an event type some
//! compiled flow is triggered by, or `other`, with `flow="none"`; `flow` is always a compiled
//! flow's name; `status` is the HTTP status; `algorithm` and `reason` come from fixed lists.
//! A request for an event type no flow handles never creates a series of its own.

use crate::__gen::Registry as Flows;
use crate::config::Config;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::Duration;

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label value standing for everything outside the bounded set.
pub const OTHER: &str = "other";

/// Flow run buckets, seconds: 0.5 ms to 30 s.
const RUN_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Store commit buckets, seconds: 0.1 ms to 2.5 s (an fsync is typically 0.1 to 20 ms).
const COMMIT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

type Label = Cow<'static, str>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    tenant: Label,
    event_type: Label,
    flow: Label,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignatureLabels {
    algorithm: Label,
    reason: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    flow: Label,
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowLabel {
    flow: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    signature_failures: Family<SignatureLabels, Counter>,
    flow_runs: HistogramFamily<RunLabels>,
    work: Family<StateLabel, Gauge>,
    store_commits: Histogram,
    store_commit_failures: Counter,
    retries: Family<FlowLabel, Counter>,
    dead: Family<FlowLabel, Counter>,
    reloads: Family<ResultLabel, Counter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hookflow");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Webhook deliveries answered, by tenant, event type, flow and HTTP status",
            deliveries.clone(),
        );
        let signature_failures = Family::<SignatureLabels, Counter>::default();
        registry.register(
            "signature_failures",
            "Deliveries rejected by their signature check, by algorithm and reason",
            signature_failures.clone(),
        );
        let flow_runs: HistogramFamily<RunLabels> =
            Family::new_with_constructor(|| Histogram::new(RUN_BUCKETS.iter().copied()));
        registry.register_with_unit(
            "flow_run_duration",
            "Time a flow ran: phase=answer until the delivery was answered, phase=after for work after the answer",
            Unit::Seconds,
            flow_runs.clone(),
        );
        let work = Family::<StateLabel, Gauge>::default();
        registry.register(
            "work",
            "Work items after answers in the store, by state (pending, running, dead)",
            work.clone(),
        );
        for state in ["pending", "running", "dead"] {
            work.get_or_create(&StateLabel { state }).set(0);
        }
        let store_commits = Histogram::new(COMMIT_BUCKETS.iter().copied());
        registry.register_with_unit(
            "store_commit_duration",
            "Time a store commit (transaction and fsync) took",
            Unit::Seconds,
            store_commits.clone(),
        );
        let store_commit_failures = Counter::default();
        registry.register(
            "store_commit_failures",
            "Store commits that failed (each answered 503)",
            store_commit_failures.clone(),
        );
        let retries = Family::<FlowLabel, Counter>::default();
        registry.register(
            "work_retries",
            "Failed work attempts scheduled to run again, by flow",
            retries.clone(),
        );
        let dead = Family::<FlowLabel, Counter>::default();
        registry.register(
            "work_dead",
            "Work items that used up their attempts and became dead, by flow",
            dead.clone(),
        );
        let reloads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads (SIGHUP or `hookflow reload`), by result (ok, error)",
            reloads.clone(),
        );
        for result in ["ok", "error"] {
            reloads.get_or_create(&ResultLabel { result }).inc_by(0);
        }
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "hookflow's version", build_info);
        Metrics {
            registry,
            deliveries,
            signature_failures,
            flow_runs,
            work,
            store_commits,
            store_commit_failures,
            retries,
            dead,
            reloads,
        }
    }
}

/// The `tenant` label: the tenant when the configuration lists it, else [`OTHER`].
pub fn tenant_label(config: &Config, tenant: &str) -> Label {
    match config.tenants.iter().find(|t| t.as_str() == tenant) {
        Some(t) => Cow::Owned(t.as_str().to_string()),
        None => Cow::Borrowed(OTHER),
    }
}

/// Counts one answered delivery. `event_type` is the URL segment as received; it becomes a label
/// only when a compiled flow is triggered by it.
pub fn delivery(config: &Config, flows: &Flows, tenant: &str, event_type: &str, status: u16) {
    let (event_type, flow): (Label, Label) = match flows.for_event(event_type) {
        Some((flow, trigger)) => (Cow::Borrowed(trigger.event_type), Cow::Borrowed(flow.name)),
        None => (Cow::Borrowed(OTHER), Cow::Borrowed("none")),
    };
    METRICS
        .deliveries
        .get_or_create(&DeliveryLabels {
            tenant: tenant_label(config, tenant),
            event_type,
            flow,
            status,
        })
        .inc();
}

/// Counts one delivery rejected by its signature check. `algorithm` is the configured
/// algorithm (`none` when `require_signature` found no check); `reason` is
/// [`crate::signature::VerifyError::reason`] or `not_configured`.
pub fn signature_failure(algorithm: &str, reason: &'static str) {
    METRICS
        .signature_failures
        .get_or_create(&SignatureLabels {
            algorithm: Cow::Owned(algorithm.to_string()),
            reason: Cow::Borrowed(reason),
        })
        .inc();
}

/// Which part of a delivery's flow a [`flow_run`] measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// From the trigger until the answer (or the end of the flow).
    Answer,
    /// One work item after the answer (a continuation or a spawned flow).
    After,
}

/// Records how long a compiled flow ran (`flow` is its name).
pub fn flow_run(flow: &'static str, phase: Phase, took: Duration) {
    let phase = match phase {
        Phase::Answer => "answer",
        Phase::After => "after",
    };
    METRICS
        .flow_runs
        .get_or_create(&RunLabels {
            flow: Cow::Borrowed(flow),
            phase,
        })
        .observe(took.as_secs_f64());
}

/// Sets the work gauges from the store's counts (call after each poll or change).
pub fn work_counts(pending: u64, running: u64, dead: u64) {
    for (state, n) in [("pending", pending), ("running", running), ("dead", dead)] {
        METRICS
            .work
            .get_or_create(&StateLabel { state })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// Records one successful store commit (transaction plus fsync).
pub fn store_commit(took: Duration) {
    METRICS.store_commits.observe(took.as_secs_f64());
}

/// Counts one failed store commit.
pub fn store_commit_failed() {
    METRICS.store_commit_failures.inc();
}

/// Counts one failed work attempt that will run again (`flow` is a compiled flow's name).
pub fn retry(flow: &str) {
    METRICS
        .retries
        .get_or_create(&FlowLabel {
            flow: Cow::Owned(flow.to_string()),
        })
        .inc();
}

/// Counts one work item that became dead (`flow` is a compiled flow's name).
pub fn dead(flow: &str) {
    METRICS
        .dead
        .get_or_create(&FlowLabel {
            flow: Cow::Owned(flow.to_string()),
        })
        .inc();
}

/// Counts one configuration reload.
pub fn reload(ok: bool) {
    let result = if ok { "ok" } else { "error" };
    METRICS.reloads.get_or_create(&ResultLabel { result }).inc();
}

/// The exposition text of every metric.
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line that starts with `prefix` (name and labels).
    fn sample(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn exposition_has_every_family_and_counts() {
        work_counts(3, 1, 2);
        store_commit(Duration::from_millis(2));
        store_commit_failed();
        retry("unit_retry_flow");
        retry("unit_retry_flow");
        dead("unit_dead_flow");
        signature_failure("unit-algo", "mismatch");
        let text = render();
        // Families without a sample yet (deliveries, flow runs) are left out of the text.
        for family in [
            "hookflow_signature_failures counter",
            "hookflow_work gauge",
            "hookflow_store_commit_duration_seconds histogram",
            "hookflow_store_commit_failures counter",
            "hookflow_work_retries counter",
            "hookflow_work_dead counter",
            "hookflow_config_reloads counter",
            "hookflow_build_info gauge",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family}\n")),
                "{family}:\n{text}"
            );
        }
        assert!(
            sample(&text, r#"hookflow_config_reloads_total{result="error"}"#).is_some(),
            "reload results start at 0"
        );
        assert_eq!(
            sample(&text, r#"hookflow_work{state="pending"}"#),
            Some(3.0)
        );
        assert_eq!(sample(&text, r#"hookflow_work{state="dead"}"#), Some(2.0));
        assert_eq!(
            sample(
                &text,
                r#"hookflow_work_retries_total{flow="unit_retry_flow"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, r#"hookflow_work_dead_total{flow="unit_dead_flow"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"hookflow_signature_failures_total{algorithm="unit-algo",reason="mismatch"}"#
            ),
            Some(1.0)
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn tenants_outside_the_configuration_are_other() {
        let mut c = Config::default();
        assert_eq!(tenant_label(&c, "acme"), OTHER);
        c.tenants = vec![crate::config::Tenant::parse("acme").unwrap_or_else(|e| panic!("{e}"))];
        assert_eq!(tenant_label(&c, "acme"), "acme");
        assert_eq!(tenant_label(&c, "evil"), OTHER);
    }

    #[test]
    fn unknown_event_types_make_no_series() {
        static NONE: Flows = Flows { flows: &[] };
        let c = Config::default();
        for i in 0..50 {
            delivery(&c, &NONE, "t", &format!("unit.unknown.{i}"), 404);
        }
        let text = render();
        assert!(!text.contains("unit.unknown"), "{text}");
        assert!(
            sample(
                &text,
                r#"hookflow_deliveries_total{tenant="other",event_type="other",flow="none",status="404"}"#
            )
            .is_some_and(|n| n >= 50.0)
        );
    }
}
