//! The durable store's settings in the bundle: `worker`, `retention`, `dedup`,
//! `max_pending_work` and `retry_after_seconds` (flattened into the provider object, beside the
//! other keys of [`crate::config::RawConfig`]).
//!
//! As everywhere in the configuration, the raw form ([`RawDurable`]) is read with errors that
//! name the key at fault, then checked once into [`DurableSettings`].

use crate::backoff::Backoff;
use crate::config::ConfigError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The provider keys this module reads.
pub const KEYS: &[&str] = &[
    "worker",
    "retention",
    "dedup",
    "max_pending_work",
    "retry_after_seconds",
    "record",
];

const WORKER_KEYS: &[&str] = &[
    "pool_size",
    "flow_concurrency",
    "flow_limits",
    "max_attempts",
    "retry_base_ms",
    "retry_max_ms",
    "lease_seconds",
    "poll_interval_ms",
];
const RETENTION_KEYS: &[&str] = &["max_age_days", "max_deliveries", "prune_interval_seconds"];
const DEDUP_KEYS: &[&str] = &["headers", "body_hash", "event_types"];
const DEDUP_RULE_KEYS: &[&str] = &["headers", "payload_field", "body_hash"];

/// Defaults (docs/configuration.md lists them).
///
/// 32 workers: work after the answer mostly waits on other services, and on 2 cores 32 keep up
/// with ~16k deliveries/s of a one-script continuation where 8 fell 10 s behind in 10 s
/// (`WORKERS=8 bench/ack_rate.sh`). A crash repeats at most this many items.
pub const DEFAULT_POOL_SIZE: u64 = 32;
pub const DEFAULT_MAX_ATTEMPTS: u64 = 8;
pub const DEFAULT_RETRY_BASE_MS: u64 = 1_000;
pub const DEFAULT_RETRY_MAX_MS: u64 = 600_000;
pub const DEFAULT_LEASE_SECONDS: u64 = 300;
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 1_000;
pub const DEFAULT_MAX_AGE_DAYS: u64 = 30;
pub const DEFAULT_MAX_DELIVERIES: u64 = 100_000;
pub const DEFAULT_PRUNE_INTERVAL_SECONDS: u64 = 600;
pub const DEFAULT_MAX_PENDING_WORK: u64 = 100_000;
pub const DEFAULT_RETRY_AFTER_SECONDS: u64 = 10;

/// The headers that carry a sender's delivery id, tried in order, when `dedup.headers` is not
/// set. `X-Request-Id` is deliberately absent: proxies set it per request, so a sender's retry
/// would get a new one.
pub use crate::server::request::DELIVERY_ID_HEADERS as DEFAULT_DEDUP_HEADERS;

/// `worker` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorker {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_concurrency: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flow_limits: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_base_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_max_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u64>,
}

/// `retention` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_days: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deliveries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune_interval_seconds: Option<u64>,
}

/// `dedup` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDedup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_hash: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_types: BTreeMap<String, RawDedupRule>,
}

/// `dedup.event_types.<event_type>` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDedupRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_hash: Option<bool>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The durable store's keys as written (flattened into the provider object).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawDurable {
    #[serde(default, skip_serializing_if = "is_default")]
    pub worker: RawWorker,
    #[serde(default, skip_serializing_if = "is_default")]
    pub retention: RawRetention,
    #[serde(default, skip_serializing_if = "is_default")]
    pub dedup: RawDedup,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pending_work: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// `all` or `work_and_failures` (see [`Record`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The object at `key`, its keys checked against `valid`.
fn object<'a>(
    v: Option<&'a Value>,
    key: &str,
    valid: &[&str],
) -> Result<Option<&'a Map<String, Value>>, ConfigError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            for k in m.keys() {
                if !valid.contains(&k.as_str()) {
                    return Err(invalid(
                        format!("{key}.{k}"),
                        format!("unknown key (valid keys: {})", valid.join(", ")),
                    ));
                }
            }
            Ok(Some(m))
        }
        Some(other) => Err(invalid(
            key,
            format!(
                "expected an object with the keys {}, got {other}",
                valid.join(", ")
            ),
        )),
    }
}

fn uint(m: &Map<String, Value>, name: &str, key: &str) -> Result<Option<u64>, ConfigError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            invalid(
                format!("{key}.{name}"),
                format!("expected a non-negative integer, got {v}"),
            )
        }),
    }
}

fn boolean(m: &Map<String, Value>, name: &str, key: &str) -> Result<Option<bool>, ConfigError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(invalid(
            format!("{key}.{name}"),
            format!("expected true or false, got {v}"),
        )),
    }
}

fn strings(
    m: &Map<String, Value>,
    name: &str,
    key: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    let k = format!("{key}.{name}");
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(invalid(
                    format!("{k}[{i}]"),
                    format!("expected a string, got {other}"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(invalid(
            k,
            format!("expected a list of strings, got {other}"),
        )),
    }
}

impl RawDurable {
    /// Reads this module's keys from the provider object; errors name `{prefix}.{key}...`.
    pub fn from_provider_map(map: &Map<String, Value>, prefix: &str) -> Result<Self, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let mut raw = RawDurable::default();
        if let Some(m) = object(map.get("worker"), &key("worker"), WORKER_KEYS)? {
            let k = key("worker");
            let mut flow_limits = BTreeMap::new();
            match m.get("flow_limits") {
                None | Some(Value::Null) => {}
                Some(Value::Object(limits)) => {
                    for (flow, v) in limits {
                        let n = v.as_u64().ok_or_else(|| {
                            invalid(
                                format!("{k}.flow_limits.{flow}"),
                                format!("expected a positive integer, got {v}"),
                            )
                        })?;
                        flow_limits.insert(flow.clone(), n);
                    }
                }
                Some(other) => {
                    return Err(invalid(
                        format!("{k}.flow_limits"),
                        format!("expected an object keyed by flow name (`{{\"slow_flow\": 2}}`), got {other}"),
                    ))
                }
            }
            raw.worker = RawWorker {
                pool_size: uint(m, "pool_size", &k)?,
                flow_concurrency: uint(m, "flow_concurrency", &k)?,
                flow_limits,
                max_attempts: uint(m, "max_attempts", &k)?,
                retry_base_ms: uint(m, "retry_base_ms", &k)?,
                retry_max_ms: uint(m, "retry_max_ms", &k)?,
                lease_seconds: uint(m, "lease_seconds", &k)?,
                poll_interval_ms: uint(m, "poll_interval_ms", &k)?,
            };
        }
        if let Some(m) = object(map.get("retention"), &key("retention"), RETENTION_KEYS)? {
            let k = key("retention");
            raw.retention = RawRetention {
                max_age_days: uint(m, "max_age_days", &k)?,
                max_deliveries: uint(m, "max_deliveries", &k)?,
                prune_interval_seconds: uint(m, "prune_interval_seconds", &k)?,
            };
        }
        if let Some(m) = object(map.get("dedup"), &key("dedup"), DEDUP_KEYS)? {
            let k = key("dedup");
            let mut event_types = BTreeMap::new();
            match m.get("event_types") {
                None | Some(Value::Null) => {}
                Some(Value::Object(items)) => {
                    for (event_type, v) in items {
                        let rk = format!("{k}.event_types.{event_type}");
                        let rule = object(Some(v), &rk, DEDUP_RULE_KEYS)?
                            .cloned()
                            .unwrap_or_default();
                        let payload_field = match rule.get("payload_field") {
                            None | Some(Value::Null) => None,
                            Some(Value::String(s)) => Some(s.clone()),
                            Some(other) => {
                                return Err(invalid(
                                    format!("{rk}.payload_field"),
                                    format!("expected a string, got {other}"),
                                ))
                            }
                        };
                        event_types.insert(
                            event_type.clone(),
                            RawDedupRule {
                                headers: strings(&rule, "headers", &rk)?,
                                payload_field,
                                body_hash: boolean(&rule, "body_hash", &rk)?,
                            },
                        );
                    }
                }
                Some(other) => {
                    return Err(invalid(
                        format!("{k}.event_types"),
                        format!("expected an object keyed by event type, got {other}"),
                    ))
                }
            }
            raw.dedup = RawDedup {
                headers: strings(m, "headers", &k)?,
                body_hash: boolean(m, "body_hash", &k)?,
                event_types,
            };
        }
        raw.max_pending_work = uint(map, "max_pending_work", prefix)?;
        raw.retry_after_seconds = uint(map, "retry_after_seconds", prefix)?;
        raw.record = match map.get("record") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                return Err(invalid(
                    key("record"),
                    format!("expected a string, got {v}"),
                ))
            }
        };
        Ok(raw)
    }

    /// Checks everything into [`DurableSettings`].
    pub fn check(&self, prefix: &str) -> Result<DurableSettings, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let w = &self.worker;
        let wk = |k: &str| format!("{prefix}.worker.{k}");
        let at_least = |v: u64, min: u64, k: String| -> Result<u64, ConfigError> {
            if v < min {
                Err(invalid(k, format!("must be at least {min}")))
            } else {
                Ok(v)
            }
        };
        let pool_size = at_least(w.pool_size.unwrap_or(DEFAULT_POOL_SIZE), 1, wk("pool_size"))?;
        if pool_size > 1024 {
            return Err(invalid(wk("pool_size"), "must be at most 1024"));
        }
        let to_u32 = |v: u64, k: String| {
            u32::try_from(v).map_err(|_| invalid(k, "too large (at most 4294967295)"))
        };
        let flow_concurrency = w
            .flow_concurrency
            .map(|n| {
                at_least(n, 1, wk("flow_concurrency"))
                    .and_then(|n| to_u32(n, wk("flow_concurrency")))
            })
            .transpose()?;
        let mut flow_limits = BTreeMap::new();
        for (flow, n) in &w.flow_limits {
            let k = format!("{}.{flow}", wk("flow_limits"));
            flow_limits.insert(flow.clone(), to_u32(at_least(*n, 1, k.clone())?, k)?);
        }
        let max_attempts = to_u32(
            at_least(
                w.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
                1,
                wk("max_attempts"),
            )?,
            wk("max_attempts"),
        )?;
        let base = w.retry_base_ms.unwrap_or(DEFAULT_RETRY_BASE_MS);
        let max = w.retry_max_ms.unwrap_or(DEFAULT_RETRY_MAX_MS.max(base));
        let backoff = Backoff::new(base, max, max_attempts).map_err(|e| {
            invalid(
                wk("retry_base_ms"),
                format!("{e}: `retry_base_ms` must not exceed `retry_max_ms`"),
            )
        })?;
        let lease = at_least(
            w.lease_seconds.unwrap_or(DEFAULT_LEASE_SECONDS),
            1,
            wk("lease_seconds"),
        )?;
        let poll = at_least(
            w.poll_interval_ms.unwrap_or(DEFAULT_POLL_INTERVAL_MS),
            10,
            wk("poll_interval_ms"),
        )?;

        let r = &self.retention;
        let rk = |k: &str| format!("{prefix}.retention.{k}");
        let max_age_days = r.max_age_days.unwrap_or(DEFAULT_MAX_AGE_DAYS);
        if max_age_days > 36_500 {
            return Err(invalid(
                rk("max_age_days"),
                "must be at most 36500 (0 keeps deliveries of any age)",
            ));
        }
        let max_deliveries = r.max_deliveries.unwrap_or(DEFAULT_MAX_DELIVERIES);
        let prune_interval = at_least(
            r.prune_interval_seconds
                .unwrap_or(DEFAULT_PRUNE_INTERVAL_SECONDS),
            1,
            rk("prune_interval_seconds"),
        )?;

        let d = &self.dedup;
        let dk = |k: &str| format!("{prefix}.dedup.{k}");
        let headers = match &d.headers {
            None => DEFAULT_DEDUP_HEADERS
                .iter()
                .map(|h| (*h).to_string())
                .collect(),
            Some(list) => header_names(list, &dk("headers"))?,
        };
        let body_hash = d.body_hash.unwrap_or(true);
        let mut rules = BTreeMap::new();
        for (event_type, raw) in &d.event_types {
            let k = format!("{}.{event_type}", dk("event_types"));
            if event_type.is_empty() || event_type.contains('/') {
                return Err(invalid(
                    k,
                    "not a valid event type (the `{event_type}` URL segment: no `/`, not empty)",
                ));
            }
            if let Some(f) = &raw.payload_field {
                if f.is_empty() {
                    return Err(invalid(
                        format!("{k}.payload_field"),
                        "must name a top-level field of the JSON body, e.g. `id`",
                    ));
                }
            }
            rules.insert(
                event_type.clone(),
                DedupRule {
                    headers: match &raw.headers {
                        None => headers.clone(),
                        Some(list) => header_names(list, &format!("{k}.headers"))?,
                    },
                    payload_field: raw.payload_field.clone(),
                    body_hash: raw.body_hash.unwrap_or(body_hash),
                },
            );
        }

        let max_pending_work = at_least(
            self.max_pending_work.unwrap_or(DEFAULT_MAX_PENDING_WORK),
            1,
            key("max_pending_work"),
        )?;
        let retry_after = at_least(
            self.retry_after_seconds
                .unwrap_or(DEFAULT_RETRY_AFTER_SECONDS),
            1,
            key("retry_after_seconds"),
        )?;
        Ok(DurableSettings {
            worker: WorkerSettings {
                pool_size: usize::try_from(pool_size).unwrap_or(1024),
                flow_concurrency,
                flow_limits,
                backoff,
                lease: Duration::from_secs(lease),
                poll_interval: Duration::from_millis(poll),
            },
            retention: Retention {
                max_age: (max_age_days > 0).then(|| Duration::from_secs(max_age_days * 86_400)),
                max_deliveries: (max_deliveries > 0).then_some(max_deliveries),
                interval: Duration::from_secs(prune_interval),
            },
            dedup: Dedup {
                default: DedupRule {
                    headers,
                    payload_field: None,
                    body_hash,
                },
                rules,
            },
            max_pending_work,
            retry_after_seconds: retry_after,
            record: match self.record.as_deref() {
                None | Some("all") => Record::All,
                Some("work_and_failures") => Record::WorkAndFailures,
                Some(other) => {
                    return Err(invalid(
                        key("record"),
                        format!("expected `all` or `work_and_failures`, got `{other}`"),
                    ))
                }
            },
        })
    }
}

fn header_names(list: &[String], key: &str) -> Result<Vec<String>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, h)| {
            axum::http::HeaderName::from_bytes(h.as_bytes())
                .map(|n| n.as_str().to_string())
                .map_err(|_| invalid(format!("{key}[{i}]"), format!("`{h}` is not a header name")))
        })
        .collect()
}

/// The checked settings of the store, the workers, retention and deduplication.
#[derive(Debug, Clone, PartialEq)]
pub struct DurableSettings {
    pub worker: WorkerSettings,
    pub retention: Retention,
    pub dedup: Dedup,
    /// Deliveries that would add work get 503 `overloaded` while more work than this is pending.
    pub max_pending_work: u64,
    /// The `Retry-After` of 503 `store_unavailable` and `overloaded`.
    pub retry_after_seconds: u64,
    /// Which deliveries the store keeps.
    pub record: Record,
}

/// Which deliveries are written to the store (`record`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Record {
    /// Every delivery that reached a flow: `deliveries list/show/replay` see them all, and every
    /// repeat is answered from the store.
    #[default]
    All,
    /// Only what must be kept: deliveries with work after their answer (committed before it, as
    /// always) and deliveries whose flow failed. A delivery answered with nothing left to do is
    /// not written: no disk, no store time; a repeat of it runs its flow again.
    WorkAndFailures,
}

impl Default for DurableSettings {
    /// The embedded defaults (the same as an empty configuration, checked by a test).
    fn default() -> Self {
        DurableSettings {
            worker: WorkerSettings {
                pool_size: DEFAULT_POOL_SIZE as usize,
                flow_concurrency: None,
                flow_limits: BTreeMap::new(),
                backoff: Backoff::default(),
                lease: Duration::from_secs(DEFAULT_LEASE_SECONDS),
                poll_interval: Duration::from_millis(DEFAULT_POLL_INTERVAL_MS),
            },
            retention: Retention {
                max_age: Some(Duration::from_secs(DEFAULT_MAX_AGE_DAYS * 86_400)),
                max_deliveries: Some(DEFAULT_MAX_DELIVERIES),
                interval: Duration::from_secs(DEFAULT_PRUNE_INTERVAL_SECONDS),
            },
            dedup: Dedup {
                default: DedupRule {
                    headers: DEFAULT_DEDUP_HEADERS
                        .iter()
                        .map(|h| (*h).to_string())
                        .collect(),
                    payload_field: None,
                    body_hash: true,
                },
                rules: BTreeMap::new(),
            },
            max_pending_work: DEFAULT_MAX_PENDING_WORK,
            retry_after_seconds: DEFAULT_RETRY_AFTER_SECONDS,
            record: Record::All,
        }
    }
}

/// How workers run the work after answers.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSettings {
    /// Work items running at once in this process.
    pub pool_size: usize,
    /// Most items of one flow claimed at once (all replicas together); `None`: no limit but the
    /// pool's.
    pub flow_concurrency: Option<u32>,
    /// Per-flow overrides of `flow_concurrency`.
    pub flow_limits: BTreeMap<String, u32>,
    /// Retry timing and `max_attempts`.
    pub backoff: Backoff,
    /// How long a claimed item is reserved for its worker.
    pub lease: Duration,
    /// How often idle workers look for due work (retries, work other processes stored); new
    /// deliveries wake them at once.
    pub poll_interval: Duration,
}

/// How long deliveries are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Prune deliveries older than this (`None`: any age).
    pub max_age: Option<Duration>,
    /// Keep at most this many (`None`: any number).
    pub max_deliveries: Option<u64>,
    /// How often pruning runs.
    pub interval: Duration,
}

/// Where a delivery's dedup key comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dedup {
    /// For event types without a rule of their own.
    pub default: DedupRule,
    /// Per event type.
    pub rules: BTreeMap<String, DedupRule>,
}

/// The dedup rule of one event type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DedupRule {
    /// Headers holding the sender's delivery id, lower-case, tried in order.
    pub headers: Vec<String>,
    /// A top-level field of a JSON body holding the sender's id (Stripe: `id`).
    pub payload_field: Option<String>,
    /// Without a sender id: deduplicate by a hash of tenant, event type and body (else every
    /// such delivery is new).
    pub body_hash: bool,
}

impl Dedup {
    /// The rule for an event type.
    pub fn rule(&self, event_type: &str) -> &DedupRule {
        self.rules.get(event_type).unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DurableSettings, ConfigError> {
        let v: Value = serde_json::from_str(text).map_err(|e| invalid("json", e.to_string()))?;
        let Value::Object(map) = v else {
            return Err(invalid("json", "not an object"));
        };
        RawDurable::from_provider_map(&map, "events-webhook")?.check("events-webhook")
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let d = DurableSettings::default();
        assert_eq!(d.worker.pool_size, 32);
        assert_eq!(d.worker.backoff.max_attempts(), 8);
        assert_eq!(d.max_pending_work, DEFAULT_MAX_PENDING_WORK);
        assert!(d
            .dedup
            .default
            .headers
            .contains(&"x-github-delivery".to_string()));
        assert!(d.dedup.default.body_hash);
        assert_eq!(d.record, Record::All);
        assert_eq!(parse("{}"), Ok(d));
    }

    #[test]
    fn values_are_read() -> Result<(), ConfigError> {
        let d = parse(
            r#"{"worker": {"pool_size": 2, "flow_concurrency": 1, "flow_limits": {"slow": 3},
                 "max_attempts": 3, "retry_base_ms": 10, "retry_max_ms": 100, "lease_seconds": 9,
                 "poll_interval_ms": 50},
                "retention": {"max_age_days": 0, "max_deliveries": 10, "prune_interval_seconds": 5},
                "dedup": {"headers": ["X-Id"], "body_hash": false,
                          "event_types": {"stripe": {"payload_field": "id", "body_hash": true}}},
                "max_pending_work": 7, "retry_after_seconds": 3, "record": "work_and_failures"}"#,
        )?;
        assert_eq!(d.record, Record::WorkAndFailures);
        assert_eq!(d.worker.pool_size, 2);
        assert_eq!(d.worker.flow_concurrency, Some(1));
        assert_eq!(d.worker.flow_limits.get("slow"), Some(&3));
        assert_eq!(d.worker.backoff.ceiling_ms(1), 10);
        assert_eq!(d.worker.poll_interval, Duration::from_millis(50));
        assert_eq!(d.retention.max_age, None);
        assert_eq!(d.retention.max_deliveries, Some(10));
        assert_eq!(d.dedup.default.headers, vec!["x-id".to_string()]);
        let stripe = d.dedup.rule("stripe");
        assert_eq!(stripe.payload_field.as_deref(), Some("id"));
        assert_eq!(
            stripe.headers,
            vec!["x-id".to_string()],
            "inherits the list"
        );
        assert!(stripe.body_hash);
        assert!(!d.dedup.rule("other").body_hash);
        assert_eq!((d.max_pending_work, d.retry_after_seconds), (7, 3));
        Ok(())
    }

    #[test]
    fn every_error_names_its_key() {
        let cases = [
            (r#"{"worker": 3}"#, "events-webhook.worker"),
            (r#"{"worker": {"pool": 3}}"#, "events-webhook.worker.pool"),
            (
                r#"{"worker": {"pool_size": 0}}"#,
                "events-webhook.worker.pool_size",
            ),
            (
                r#"{"worker": {"pool_size": "8"}}"#,
                "events-webhook.worker.pool_size",
            ),
            (
                r#"{"worker": {"max_attempts": 0}}"#,
                "events-webhook.worker.max_attempts",
            ),
            (
                r#"{"worker": {"retry_base_ms": 10, "retry_max_ms": 5}}"#,
                "events-webhook.worker.retry_base_ms",
            ),
            (
                r#"{"worker": {"flow_limits": {"a": 0}}}"#,
                "events-webhook.worker.flow_limits.a",
            ),
            (
                r#"{"worker": {"poll_interval_ms": 1}}"#,
                "events-webhook.worker.poll_interval_ms",
            ),
            (
                r#"{"retention": {"max_age_days": -1}}"#,
                "events-webhook.retention.max_age_days",
            ),
            (
                r#"{"dedup": {"headers": ["a b"]}}"#,
                "events-webhook.dedup.headers[0]",
            ),
            (
                r#"{"dedup": {"event_types": {"x": {"header": "a"}}}}"#,
                "events-webhook.dedup.event_types.x.header",
            ),
            (
                r#"{"dedup": {"event_types": {"x": {"payload_field": ""}}}}"#,
                "events-webhook.dedup.event_types.x.payload_field",
            ),
            (
                r#"{"max_pending_work": 0}"#,
                "events-webhook.max_pending_work",
            ),
            (r#"{"record": "some"}"#, "events-webhook.record"),
            (r#"{"record": true}"#, "events-webhook.record"),
        ];
        for (text, key) in cases {
            let e = err(text);
            assert!(e.starts_with(&format!("{key}:")), "{text}\n=> {e}");
        }
    }
}
