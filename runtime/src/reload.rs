//! Live configuration: the checked [`Config`] every request reads, swapped atomically by a
//! reload (SIGHUP, or `hookflow reload` through the admin endpoint).
//!
//! A request takes one `Arc<Config>` snapshot ([`Live::get`], a lock-free load) and uses it to the
//! end, so a reload never changes the rules half-way through a delivery. [`Live::reload`] re-reads
//! the same layers the server started from (bundle file, `HOOKFLOW_*` variables, flags), resolves
//! `file:` secrets again and validates everything; only a fully valid configuration replaces the
//! running one. An invalid file changes nothing: the error is logged and returned, and the old
//! configuration keeps serving.
//!
//! What a reload cannot change: the flows (compiled into the binary; a bundle that names an event
//! type no flow handles gets a warning), the listening address and the state directory (bound at
//! start; a change is logged as needing a restart), and `env:` secrets (a running process's
//! environment does not change; restart to pick up new values, or use `file:` references).

use crate::__gen::Registry;
use crate::config::{self, Config, ConfigError, Overrides, RawConfig};
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where a configuration was loaded from, so that it can be loaded again.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// The bundle directory (`None`: embedded defaults).
    pub bundle: Option<PathBuf>,
    /// The command-line flags.
    pub overrides: Overrides,
}

/// Why a reload was refused (the running configuration stays).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReloadError {
    #[error("this server runs on a configuration given in code; there is no file to re-read")]
    NoSource,
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What a successful reload did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reloaded {
    /// The top-level keys whose value changed (`signatures`, `tenants`, ...).
    pub changed: Vec<String>,
    /// Things the reload could not apply or that look wrong (restart needed, unknown event type).
    pub warnings: Vec<String>,
}

/// The live configuration handle; cheap to clone.
#[derive(Debug, Clone)]
pub struct Live(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    current: ArcSwap<Config>,
    source: Option<Source>,
    /// Serialises reloads; holds the raw configuration of the running one (for the diff).
    reloading: Mutex<Option<RawConfig>>,
}

impl From<Config> for Live {
    /// A configuration that cannot be reloaded (tests, embedding).
    fn from(config: Config) -> Live {
        Live(Arc::new(Inner {
            current: ArcSwap::from_pointee(config),
            source: None,
            reloading: Mutex::new(None),
        }))
    }
}

impl Live {
    /// Loads `source` (bundle, `HOOKFLOW_*` variables, flags) for the first time.
    pub fn load(source: Source) -> Result<Live, ConfigError> {
        let (raw, config) = config::load_layers(
            source.bundle.as_deref(),
            &source.overrides,
            &crate::env::process,
        )?;
        Ok(Live(Arc::new(Inner {
            current: ArcSwap::from_pointee(config),
            source: Some(source),
            reloading: Mutex::new(Some(raw)),
        })))
    }

    /// The configuration now. Take it once per request and keep it for the whole request.
    pub fn get(&self) -> Arc<Config> {
        self.0.current.load_full()
    }

    /// Re-reads and validates the configuration and swaps it in; on any error the running one
    /// stays. This is what SIGHUP and `hookflow reload` call.
    pub fn reload(&self, flows: &Registry) -> Result<Reloaded, ReloadError> {
        let source = self.0.source.as_ref().ok_or(ReloadError::NoSource)?;
        let mut previous_raw = self
            .0
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (raw, mut config) = config::load_layers(
            source.bundle.as_deref(),
            &source.overrides,
            &crate::env::process,
        )?;
        let old = self.get();
        let mut warnings = Vec::new();
        if config.listen != old.listen {
            warnings.push(format!(
                "`listen` changed from {} to {}: the listening address changes only on a restart; still listening on {}",
                old.listen, config.listen, old.listen
            ));
            config.listen = old.listen;
        }
        if config.state_dir != old.state_dir {
            warnings.push(
                "the state directory changed: the store moves only on a restart; keeping the running one"
                    .to_string(),
            );
            config.state_dir.clone_from(&old.state_dir);
        }
        if config.idempotency_header != old.idempotency_header {
            warnings.push(format!(
                "`idempotency_header` changed from {} to {}: outgoing calls use the header set at start until a restart",
                old.idempotency_header, config.idempotency_header
            ));
            config
                .idempotency_header
                .clone_from(&old.idempotency_header);
        }
        if config.durable.worker != old.durable.worker
            || config.durable.retention != old.durable.retention
        {
            warnings.push(
                "`worker` or `retention` changed: the worker pool and pruning are set up at start; the change applies on a restart"
                    .to_string(),
            );
        }
        warnings.extend(config_warnings(&config, flows));
        let changed = previous_raw
            .as_ref()
            .map(|before| changed_keys(before, &raw))
            .unwrap_or_default();
        self.0.current.store(Arc::new(config));
        *previous_raw = Some(raw);
        Ok(Reloaded { changed, warnings })
    }

    /// [`Live::reload`], logged (one line for the outcome, one per warning) and counted in
    /// `hookflow_config_reloads_total`. `trigger` says what asked (`SIGHUP`, `admin`).
    pub fn reload_and_log(&self, flows: &Registry, trigger: &str) -> Result<Reloaded, ReloadError> {
        let result = self.reload(flows);
        match &result {
            Ok(r) => {
                crate::metrics::reload(true);
                let changed = if r.changed.is_empty() {
                    "none (file: secrets re-read)".to_string()
                } else {
                    r.changed.join(", ")
                };
                tracing::info!(trigger, changed = %changed, "configuration reloaded");
                for w in &r.warnings {
                    tracing::warn!(trigger, "{w}");
                }
            }
            Err(e) => {
                crate::metrics::reload(false);
                tracing::error!(
                    trigger,
                    error = %e,
                    "configuration reload failed; the previous configuration stays in use"
                );
            }
        }
        result
    }
}

/// Warnings about a configuration that is valid but names event types no compiled flow is
/// triggered by (flows change only by rebuilding the binary).
pub fn config_warnings(config: &Config, flows: &Registry) -> Vec<String> {
    let mut named: Vec<(String, String)> = Vec::new();
    for e in config.signatures.keys() {
        named.push((e.clone(), format!("signatures.{e}")));
    }
    for (tenant, checks) in &config.tenant_checks {
        for e in checks.signatures.keys() {
            named.push((e.clone(), format!("tenants.{tenant}.signatures.{e}")));
        }
    }
    for e in config.access.by_event_type.keys() {
        named.push((e.clone(), format!("allow_ips.{e}")));
    }
    for e in config.durable.dedup.rules.keys() {
        named.push((e.clone(), format!("dedup.event_types.{e}")));
    }
    let mut warnings: Vec<String> = named
        .into_iter()
        .filter(|(e, _)| flows.for_event(e).is_none())
        .map(|(e, key)| {
            format!(
                "{}.{key} names the event type `{e}`, but no flow compiled into this binary is triggered by it; flows change only by rebuilding (add a flow with `event_type: \"{e}\"` to flows/ and `cargo build`)",
                config::PROVIDER
            )
        })
        .collect();
    for flow in config.durable.worker.flow_limits.keys() {
        if flows.flow(flow).is_none() {
            warnings.push(format!(
                "{}.worker.flow_limits.{flow} names the flow `{flow}`, which is not compiled into this binary (`hookflow flows` lists them)",
                config::PROVIDER
            ));
        }
    }
    warnings
}

/// The top-level keys whose value differs.
fn changed_keys(before: &RawConfig, after: &RawConfig) -> Vec<String> {
    let as_map = |r: &RawConfig| match serde_json::to_value(r) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (as_map(before), as_map(after));
    let mut keys: Vec<String> = a.keys().chain(b.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| a.get(k) != b.get(k));
    keys
}

/// Reloads on every SIGHUP until the process ends (spawn it on the server's runtime).
#[cfg(unix)]
pub async fn reload_on_sighup(live: Live, flows: &'static Registry) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; live reload by signal is off");
            return;
        }
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading the configuration");
        let live = live.clone();
        // File reads and secret resolution: off the async workers.
        let _ = tokio::task::spawn_blocking(move || live.reload_and_log(flows, "SIGHUP")).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__gen::{FlowDef, TriggerDef, Yield};

    static FLOW: FlowDef = FlowDef {
        name: "gh",
        version: "1",
        file: "flows/gh.yaml",
        triggers: &[TriggerDef {
            event_type: "github",
            target: 0,
        }],
        nodes: &[],
        secrets: &[],
        payload_fields: None,
        run: |_, _| Ok(Yield::Finished),
    };
    static FLOWS: Registry = Registry { flows: &[&FLOW] };

    fn bundle(dir: &std::path::Path, provider: &str) {
        let text = format!(r#"{{"version": 1, "events-webhook": {provider}}}"#);
        if let Err(e) = std::fs::write(dir.join(config::BUNDLE_FILE), text) {
            panic!("{e}");
        }
    }

    #[test]
    fn reload_swaps_and_a_bad_file_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        bundle(
            dir.path(),
            r#"{"enabled": true, "public_base_url": "https://a.example", "listen": "127.0.0.1:1"}"#,
        );
        let live = Live::load(Source {
            bundle: Some(dir.path().to_path_buf()),
            overrides: Overrides::default(),
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let before = live.get();
        assert_eq!(before.public_base_url, "https://a.example");

        bundle(
            dir.path(),
            r#"{"enabled": false, "public_base_url": "https://b.example", "listen": "127.0.0.1:2",
                "signatures": {"nope": {"algorithm": "sha256", "secret": "s"}}}"#,
        );
        let r = live.reload(&FLOWS).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.changed,
            ["enabled", "listen", "public_base_url", "signatures"]
        );
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("only on a restart; still listening on 127.0.0.1:1"));
        assert!(r.warnings[1].contains("`nope`") && r.warnings[1].contains("rebuilding"));
        let now = live.get();
        assert!(!now.enabled);
        assert_eq!(now.listen, before.listen, "the bound address is kept");
        // The snapshot a request took earlier is unchanged.
        assert!(before.enabled);

        bundle(
            dir.path(),
            r#"{"enabled": true, "public_base_url": "not a url"}"#,
        );
        let e = live.reload(&FLOWS);
        assert!(
            matches!(&e, Err(ReloadError::Config(ConfigError::Invalid { key, .. })) if key.ends_with("events-webhook.public_base_url")),
            "{e:?}"
        );
        assert_eq!(live.get().public_base_url, "https://b.example");
    }

    #[test]
    fn a_fixed_configuration_cannot_reload() {
        let live = Live::from(Config::default());
        assert_eq!(live.reload(&FLOWS), Err(ReloadError::NoSource));
    }
}
