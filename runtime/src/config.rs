//! Configuration: the seed's `answers.json` (`{"events-webhook": {...}}`), the bundle that
//! `hookflow setup` writes from it, and the checked [`Config`] the server runs on.
//!
//! Layers, lowest first: embedded defaults, the bundle's `hookflow.json`, the environment
//! (`HOOKFLOW_*`, see [`crate::env`]), command-line flags. The raw, user-written form ([`RawConfig`]) is
//! validated exactly once, at start, into [`Config`] (like ripgrep's `LowArgs` → `HiArgs`):
//! every signature spec becomes a ready [`Verifier`] (secrets resolved), every error names the
//! key at fault (`events-webhook.signatures.github.secret: ...`), and nothing downstream has to
//! re-check anything.

use crate::__gen::Registry;
use crate::allow::{Access, RawAccess};
use crate::durable::settings::{DurableSettings, RawDurable};
use crate::signature::{SecretRef, SignatureSpec, Verifier};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The provider's key in answers.json and in the bundle file.
pub const PROVIDER: &str = "events-webhook";
/// The bundle's configuration file, inside the bundle directory.
pub const BUNDLE_FILE: &str = "hookflow.json";
/// The bundle's state folder: the durable delivery store (`hookflow.db`).
pub const STATE_DIR: &str = "state";
/// The version of the bundle file's format.
pub const BUNDLE_VERSION: u64 = 1;

/// Embedded defaults.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_PUBLIC_BASE_URL: &str = "http://127.0.0.1:8080";
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 30;
/// The header outgoing `http_request` calls carry their idempotency key in.
pub const DEFAULT_IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// How long a client may take to send the request line and headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Most header bytes a request may carry (request line and headers together).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most headers a request may carry.
pub const MAX_HEADERS: usize = 100;

/// Every key of the provider object, for the "unknown key" message.
const KEYS: &[&str] = &[
    "enabled",
    "public_base_url",
    "secret_header",
    "secret_key",
    "signatures",
    "tenants",
    "require_signature",
    "listen",
    "max_body_bytes",
    "request_timeout_seconds",
    "idempotency_header",
    // crate::allow::KEYS
    "trusted_proxies",
    "client_ip_header",
    "allow_ips",
    "metrics_allow_ips",
    // crate::durable::settings::KEYS
    "worker",
    "retention",
    "dedup",
    "max_pending_work",
    "retry_after_seconds",
    "record",
];

/// A configuration mistake; `key` is the dotted path of the key at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The provider configuration as the user wrote it (answers.json's `events-webhook` object), with
/// the optional server settings. Unchecked; turn it into a [`Config`] with [`RawConfig::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawConfig {
    pub enabled: bool,
    pub public_base_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<SecretRef>,
    /// Per event type (the `{event_type}` path segment).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signatures: BTreeMap<String, SignatureSpec>,
    /// The accepted `{tenant}` path segments, each with its own overrides; empty means any
    /// tenant. answers.json may also give a plain list of names (no overrides).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tenants: BTreeMap<String, RawTenant>,
    /// Reject deliveries for event types that have no signature check configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signature: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_seconds: Option<u64>,
    /// The header that carries the idempotency key of `http_request` calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_header: Option<String>,
    /// `trusted_proxies`, `client_ip_header`, `allow_ips`, `metrics_allow_ips`.
    #[serde(flatten)]
    pub access: RawAccess,
    /// `worker`, `retention`, `dedup`, `max_pending_work`, `retry_after_seconds`.
    #[serde(flatten)]
    pub durable: RawDurable,
}

impl Default for RawConfig {
    /// The embedded defaults: enabled, local URL, no signature checks.
    fn default() -> Self {
        RawConfig {
            enabled: true,
            public_base_url: DEFAULT_PUBLIC_BASE_URL.to_string(),
            secret_header: None,
            secret_key: None,
            signatures: BTreeMap::new(),
            tenants: BTreeMap::new(),
            require_signature: None,
            listen: None,
            max_body_bytes: None,
            request_timeout_seconds: None,
            idempotency_header: None,
            access: RawAccess::default(),
            durable: RawDurable::default(),
        }
    }
}

impl RawConfig {
    /// Parses answers.json text (`{"events-webhook": {...}}`), naming the key of every mistake.
    pub fn from_answers_json(text: &str) -> Result<RawConfig, ConfigError> {
        let root: Value = serde_json::from_str(text)
            .map_err(|e| ConfigError::invalid("(file)", format!("not valid JSON: {e}")))?;
        let Value::Object(root) = root else {
            return Err(ConfigError::invalid(
                "(file)",
                format!("expected a JSON object with the key `{PROVIDER}`"),
            ));
        };
        let mut provider = None;
        for (k, v) in root {
            match k.as_str() {
                PROVIDER => provider = Some(v),
                // The bundle file records its format version beside the provider.
                "version" => {
                    if v.as_u64() != Some(BUNDLE_VERSION) {
                        return Err(ConfigError::invalid(
                            "version",
                            format!("unsupported bundle version {v} (this hookflow reads {BUNDLE_VERSION})"),
                        ));
                    }
                }
                _ => {
                    return Err(ConfigError::invalid(
                        k.as_str(),
                        format!("unknown key (expected `{PROVIDER}`)"),
                    ))
                }
            }
        }
        let Some(provider) = provider else {
            return Err(ConfigError::invalid(PROVIDER, "missing (required)"));
        };
        Self::from_provider_value(provider)
    }

    fn from_provider_value(v: Value) -> Result<RawConfig, ConfigError> {
        let Value::Object(map) = v else {
            return Err(ConfigError::invalid(PROVIDER, "expected an object"));
        };
        let key = |k: &str| format!("{PROVIDER}.{k}");
        for k in map.keys() {
            if !KEYS.contains(&k.as_str()) {
                return Err(ConfigError::invalid(
                    key(k),
                    format!("unknown key (valid keys: {})", KEYS.join(", ")),
                ));
            }
        }
        let enabled = match map.get("enabled") {
            None => return Err(ConfigError::invalid(key("enabled"), "missing (required)")),
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(ConfigError::invalid(
                    key("enabled"),
                    format!("expected true or false, got {other}"),
                ))
            }
        };
        let public_base_url = match map.get("public_base_url") {
            None => {
                return Err(ConfigError::invalid(
                    key("public_base_url"),
                    "missing (required)",
                ))
            }
            Some(v) => string(v, &key("public_base_url"))?,
        };
        let opt_string = |name: &str| -> Result<Option<String>, ConfigError> {
            map.get(name).map(|v| string(v, &key(name))).transpose()
        };
        let opt_u64 = |name: &str| -> Result<Option<u64>, ConfigError> {
            map.get(name)
                .map(|v| {
                    v.as_u64().ok_or_else(|| {
                        ConfigError::invalid(
                            key(name),
                            format!("expected a non-negative integer, got {v}"),
                        )
                    })
                })
                .transpose()
        };
        let signatures = signature_specs(map.get("signatures"), &key("signatures"))?;
        let mut tenants = BTreeMap::new();
        match map.get("tenants") {
            None | Some(Value::Null) => {}
            // The plain form: just the accepted names, no overrides.
            Some(Value::Array(items)) => {
                for (i, v) in items.iter().enumerate() {
                    let k = format!("{PROVIDER}.tenants[{i}]");
                    let name = string(v, &k)?;
                    Tenant::parse(&name).map_err(|m| ConfigError::invalid(&k, m))?;
                    tenants.insert(name, RawTenant::default());
                }
            }
            Some(Value::Object(items)) => {
                for (name, v) in items {
                    let k = format!("{PROVIDER}.tenants.{name}");
                    Tenant::parse(name).map_err(|m| ConfigError::invalid(&k, m))?;
                    tenants.insert(name.clone(), raw_tenant(v, &k)?);
                }
            }
            Some(other) => {
                return Err(ConfigError::invalid(
                    key("tenants"),
                    format!(
                    "expected an object keyed by tenant (or a list of tenant names), got {other}"
                ),
                ))
            }
        }
        let require_signature = match map.get("require_signature") {
            None | Some(Value::Null) => None,
            Some(v) => Some(boolean(v, &key("require_signature"))?),
        };
        Ok(RawConfig {
            enabled,
            public_base_url,
            secret_header: opt_string("secret_header")?,
            secret_key: opt_string("secret_key")?.map(SecretRef),
            signatures,
            tenants,
            require_signature,
            listen: opt_string("listen")?,
            max_body_bytes: opt_u64("max_body_bytes")?,
            request_timeout_seconds: opt_u64("request_timeout_seconds")?,
            idempotency_header: opt_string("idempotency_header")?,
            access: RawAccess::from_provider_map(&map, PROVIDER)?,
            durable: RawDurable::from_provider_map(&map, PROVIDER)?,
        })
    }

    /// Reads a bundle directory's configuration file.
    pub fn from_bundle(dir: &Path) -> Result<RawConfig, ConfigError> {
        let path = dir.join(BUNDLE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read {
            path: path.clone(),
            message: format!(
                "{e} (is {} a bundle written by `hookflow setup`?)",
                dir.display()
            ),
        })?;
        Self::from_answers_json(&text).map_err(|e| match e {
            ConfigError::Invalid { key, message } => ConfigError::Invalid {
                key: format!("{}: {key}", path.display()),
                message,
            },
            other => other,
        })
    }

    /// The bundle file's JSON text for this configuration.
    pub fn to_bundle_json(&self) -> String {
        let mut root = Map::new();
        root.insert("version".into(), Value::from(BUNDLE_VERSION));
        root.insert(
            PROVIDER.into(),
            serde_json::to_value(self).unwrap_or(Value::Null),
        );
        let mut text = serde_json::to_string_pretty(&Value::Object(root)).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Validates everything once: URL, address, limits, tenants, and every signature spec
    /// (secrets resolved now, so a missing `env:` variable fails at start, not per request).
    pub fn check(&self) -> Result<Config, ConfigError> {
        let key = |k: &str| format!("{PROVIDER}.{k}");
        let url = url::Url::parse(&self.public_base_url).map_err(|e| {
            ConfigError::invalid(
                key("public_base_url"),
                format!(
                    "`{}` is not an absolute URL ({e}); write it like https://your-domain.example",
                    self.public_base_url
                ),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::invalid(
                key("public_base_url"),
                format!(
                    "`{}` must be an absolute http:// or https:// URL with a host",
                    self.public_base_url
                ),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::invalid(
                key("public_base_url"),
                "must not have a query or fragment",
            ));
        }
        let public_base_url = self.public_base_url.trim_end_matches('/').to_string();

        let listen_text = self.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen =
            parse_listen(listen_text).map_err(|m| ConfigError::invalid(key("listen"), m))?;

        let max_body_bytes = self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes == 0 {
            return Err(ConfigError::invalid(
                key("max_body_bytes"),
                "must be at least 1",
            ));
        }
        let max_body_bytes = usize::try_from(max_body_bytes).map_err(|_| {
            ConfigError::invalid(key("max_body_bytes"), "too large for this machine")
        })?;
        let timeout = self
            .request_timeout_seconds
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECONDS);
        if timeout == 0 {
            return Err(ConfigError::invalid(
                key("request_timeout_seconds"),
                "must be at least 1",
            ));
        }

        let idempotency_header = match &self.idempotency_header {
            None => DEFAULT_IDEMPOTENCY_HEADER.to_string(),
            Some(h) => {
                http::HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                    ConfigError::invalid(
                        key("idempotency_header"),
                        format!("`{h}` is not a valid HTTP header name"),
                    )
                })?;
                h.clone()
            }
        };

        let mut tenants = Vec::with_capacity(self.tenants.len());
        let mut tenant_checks = BTreeMap::new();
        for (name, raw) in &self.tenants {
            let k = format!("{PROVIDER}.tenants.{name}");
            let tenant = Tenant::parse(name).map_err(|m| ConfigError::invalid(&k, m))?;
            let checks = TenantChecks {
                signatures: verifiers(&raw.signatures, &format!("{k}.signatures"))?,
                require_signature: raw.require_signature,
            };
            if !checks.signatures.is_empty() || checks.require_signature.is_some() {
                tenant_checks.insert(tenant.clone(), checks);
            }
            tenants.push(tenant);
        }

        let generic = match (&self.secret_header, &self.secret_key) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    key("secret_key"),
                    "missing: `secret_header` is set, so `secret_key` is required too",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    key("secret_header"),
                    "missing: `secret_key` is set, so `secret_header` is required too",
                ))
            }
            (Some(h), Some(s)) => Some(
                Verifier::generic(h, s)
                    .map_err(|e| ConfigError::invalid(key(e.field), e.message))?,
            ),
        };
        let signatures = verifiers(&self.signatures, &key("signatures"))?;
        let access = self.access.check(&self.tenants, PROVIDER)?;
        let durable = self.durable.check(PROVIDER)?;
        Ok(Config {
            listen,
            enabled: self.enabled,
            public_base_url,
            tenants,
            tenant_checks,
            require_signature: self.require_signature.unwrap_or(false),
            signatures,
            generic,
            max_body_bytes,
            request_timeout: Duration::from_secs(timeout),
            idempotency_header,
            state_dir: None,
            access,
            durable,
        })
    }
}

/// Every inline secret written into the bundle, by the key that holds it
/// (`events-webhook.signatures.github`, `events-webhook.tenants.acme.signatures.github`,
/// `events-webhook.secret_key`), for `setup`'s advice to use `env:`/`file:` references.
impl RawConfig {
    pub fn inline_secret_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if self.secret_key.as_ref().is_some_and(|s| !s.is_reference()) {
            keys.push(format!("{PROVIDER}.secret_key"));
        }
        for (event_type, spec) in &self.signatures {
            if spec.has_inline_secret() {
                keys.push(format!("{PROVIDER}.signatures.{event_type}"));
            }
        }
        for (tenant, raw) in &self.tenants {
            for (event_type, spec) in &raw.signatures {
                if spec.has_inline_secret() {
                    keys.push(format!(
                        "{PROVIDER}.tenants.{tenant}.signatures.{event_type}"
                    ));
                }
            }
        }
        keys
    }
}

/// One `tenants.<tenant>` entry as written by the user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTenant {
    /// Per event type; looked up before the global `signatures`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signatures: BTreeMap<String, SignatureSpec>,
    /// Overrides the global `require_signature` for this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signature: Option<bool>,
    /// The networks that may deliver for this tenant (CIDRs), see [`crate::allow`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_ips: Option<Vec<String>>,
}

const TENANT_KEYS: &[&str] = &["signatures", "require_signature", "allow_ips"];

/// One `tenants.<tenant>` entry, with errors naming `tenants.<tenant>.<key>`.
fn raw_tenant(v: &Value, key: &str) -> Result<RawTenant, ConfigError> {
    let map = match v {
        Value::Null => return Ok(RawTenant::default()),
        Value::Object(map) => map,
        other => {
            return Err(ConfigError::invalid(
                key,
                format!(
                    "expected an object with `signatures`, `require_signature` and/or `allow_ips`, got {other}"
                ),
            ))
        }
    };
    for k in map.keys() {
        if !TENANT_KEYS.contains(&k.as_str()) {
            return Err(ConfigError::invalid(
                format!("{key}.{k}"),
                format!("unknown key (valid keys: {})", TENANT_KEYS.join(", ")),
            ));
        }
    }
    let signatures = signature_specs(map.get("signatures"), &format!("{key}.signatures"))?;
    let require_signature = match map.get("require_signature") {
        None | Some(Value::Null) => None,
        Some(v) => Some(boolean(v, &format!("{key}.require_signature"))?),
    };
    let allow_ips = match map.get("allow_ips") {
        None | Some(Value::Null) => None,
        Some(v) => Some(crate::allow::string_list(v, &format!("{key}.allow_ips"))?),
    };
    Ok(RawTenant {
        signatures,
        require_signature,
        allow_ips,
    })
}

/// A `signatures` object (global or a tenant's), errors naming `<key>.<event_type>...`.
fn signature_specs(
    v: Option<&Value>,
    key: &str,
) -> Result<BTreeMap<String, SignatureSpec>, ConfigError> {
    let mut out = BTreeMap::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(sigs)) => {
            for (event_type, spec) in sigs {
                let k = format!("{key}.{event_type}");
                out.insert(event_type.clone(), signature_spec(spec, &k)?);
            }
        }
        Some(other) => {
            return Err(ConfigError::invalid(
                key,
                format!("expected an object keyed by event type, got {other}"),
            ))
        }
    }
    Ok(out)
}

/// Turns specs into ready verifiers; `key` is `events-webhook.signatures` or
/// `events-webhook.tenants.<tenant>.signatures`.
fn verifiers(
    specs: &BTreeMap<String, SignatureSpec>,
    key: &str,
) -> Result<BTreeMap<String, Verifier>, ConfigError> {
    let mut out = BTreeMap::new();
    for (event_type, spec) in specs {
        if event_type.is_empty() || event_type.contains('/') {
            return Err(ConfigError::invalid(
                format!("{key}.{event_type}"),
                "not a valid event type (the `{event_type}` URL segment: no `/`, not empty)",
            ));
        }
        let verifier = Verifier::from_spec(spec).map_err(|e| {
            ConfigError::invalid(format!("{key}.{event_type}.{}", e.field), e.message)
        })?;
        out.insert(event_type.clone(), verifier);
    }
    Ok(out)
}

fn boolean(v: &Value, key: &str) -> Result<bool, ConfigError> {
    v.as_bool()
        .ok_or_else(|| ConfigError::invalid(key, format!("expected true or false, got {v}")))
}

fn string(v: &Value, key: &str) -> Result<String, ConfigError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(ConfigError::invalid(
            key,
            format!("expected a string, got {other}"),
        )),
    }
}

/// One `signatures.<event_type>` entry, with errors naming `signatures.<event_type>.<key>`.
fn signature_spec(v: &Value, key: &str) -> Result<SignatureSpec, ConfigError> {
    let Value::Object(map) = v else {
        return Err(ConfigError::invalid(
            key,
            format!("expected an object with `algorithm`, `header`, `secret`, got {v}"),
        ));
    };
    if !map.contains_key("algorithm") {
        return Err(ConfigError::invalid(
            format!("{key}.algorithm"),
            format!(
                "missing (required; one of: {})",
                crate::signature::ALGORITHMS.join(", ")
            ),
        ));
    }
    serde_json::from_value::<SignatureSpec>(v.clone()).map_err(|e| {
        // serde names the field in its message ("unknown field `x`, expected ...").
        let msg = e.to_string();
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("unknown field") || msg.starts_with("invalid type"))
            .map(str::to_string);
        match field {
            Some(f) if msg.starts_with("unknown field") => {
                ConfigError::invalid(format!("{key}.{f}"), format!("unknown key ({msg})"))
            }
            _ => ConfigError::invalid(key, msg),
        }
    })
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| format!("`{s}` is not an address like 127.0.0.1:8080 or 0.0.0.0:8080"))
}

/// Overrides applied on top of the bundle and the environment: the command-line flags.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub state_dir: Option<PathBuf>,
}

/// Loads the layers (defaults or bundle, then `HOOKFLOW_*` variables, then flags) and checks
/// them once.
pub fn load(bundle: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
    load_layers(bundle, overrides, &crate::env::process).map(|(_, config)| config)
}

/// [`load`] with a given environment; also returns the merged raw configuration (what a reload
/// compares and reports).
pub fn load_layers(
    bundle: Option<&Path>,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(RawConfig, Config), ConfigError> {
    let mut raw = match bundle {
        Some(dir) => RawConfig::from_bundle(dir)?,
        None => RawConfig::default(),
    };
    let applied = crate::env::apply(&mut raw, env)?;
    let from_env = |key: &str| applied.iter().any(|v| v.key == key);
    if let Some(l) = &overrides.listen {
        raw.listen = Some(l.clone());
    }
    // On embedded defaults the public URL follows the address (there is nothing else to go by).
    if let (None, false, Some(l)) = (bundle, from_env("public_base_url"), &raw.listen) {
        if parse_listen(l).is_ok() {
            raw.public_base_url = format!("http://{l}");
        }
    }
    let mut config = raw.check().map_err(|e| match (e, &overrides.listen) {
        (ConfigError::Invalid { key, message }, Some(_)) if key.ends_with(".listen") => {
            ConfigError::invalid("--listen", message)
        }
        (e, _) => crate::env::rename(e, &applied),
    })?;
    config.state_dir = Some(state_dir(bundle, overrides.state_dir.as_deref(), env));
    Ok((raw, config))
}

/// The state directory (the durable store's folder): `--state`, else the bundle's `state/`,
/// else [`default_state_dir`].
pub fn state_dir(
    bundle: Option<&Path>,
    state: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> PathBuf {
    match (state, bundle) {
        (Some(s), _) => s.to_path_buf(),
        (None, Some(b)) => b.join(STATE_DIR),
        (None, None) => default_state_dir(env),
    }
}

/// Where `serve` keeps its store without a bundle or `--state`: `$XDG_STATE_HOME/hookflow`, else
/// `$HOME/.local/state/hookflow`, else `./hookflow-state`.
pub fn default_state_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(x) = set("XDG_STATE_HOME") {
        return PathBuf::from(x).join("hookflow");
    }
    if let Some(h) = set("HOME") {
        return PathBuf::from(h).join(".local/state/hookflow");
    }
    PathBuf::from("hookflow-state")
}

/// The checked configuration the server runs on. Built only by [`RawConfig::check`].
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub enabled: bool,
    /// Without a trailing slash.
    pub public_base_url: String,
    /// Accepted tenants; empty means any.
    pub tenants: Vec<Tenant>,
    /// Per tenant: its own signature checks and `require_signature`, ahead of the global ones.
    pub tenant_checks: BTreeMap<Tenant, TenantChecks>,
    /// Reject event types with no check configured (a tenant's own value wins).
    pub require_signature: bool,
    /// Per event type.
    pub signatures: BTreeMap<String, Verifier>,
    /// The seed's `secret_header` + `secret_key` check, for event types without their own.
    pub generic: Option<Verifier>,
    pub max_body_bytes: usize,
    /// Longest time a request may take from its headers to its answer (body read included).
    pub request_timeout: Duration,
    /// The header that carries the idempotency key of `http_request` calls.
    pub idempotency_header: String,
    /// The state directory (the durable store). [`load`] always sets it (`--state`, the
    /// bundle's `state/`, or the default); `None` (a configuration built in code) makes the
    /// server use a temporary directory removed when it stops.
    pub state_dir: Option<PathBuf>,
    /// `allow_ips`, `trusted_proxies`, `metrics_allow_ips` (see [`crate::allow`]).
    pub access: Access,
    /// The store, workers, retention, dedup and back-pressure settings.
    pub durable: DurableSettings,
}

impl Default for Config {
    /// The embedded defaults, checked.
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            enabled: true,
            public_base_url: DEFAULT_PUBLIC_BASE_URL.to_string(),
            tenants: Vec::new(),
            tenant_checks: BTreeMap::new(),
            require_signature: false,
            signatures: BTreeMap::new(),
            generic: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES as usize,
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECONDS),
            idempotency_header: DEFAULT_IDEMPOTENCY_HEADER.to_string(),
            state_dir: None,
            access: Access::default(),
            durable: DurableSettings::default(),
        }
    }
}

impl Config {
    /// The global signature check for an event type: its own entry, else the generic one, else
    /// none. Ignores tenant overrides; the server uses [`Config::check_for`].
    pub fn verifier_for(&self, event_type: &str) -> Option<&Verifier> {
        self.signatures.get(event_type).or(self.generic.as_ref())
    }

    /// The signature check for a delivery: the tenant's own entry for the event type, then the
    /// global `signatures.<event_type>`, then the generic `secret_header`/`secret_key` check.
    /// Without any, [`SignatureCheck::Required`] when `require_signature` holds for the tenant
    /// (its own value, else the global one). A tenant's entry is only ever used for that tenant.
    pub fn check_for(&self, tenant: &Tenant, event_type: &str) -> SignatureCheck<'_> {
        let own = self.tenant_checks.get(tenant);
        let verifier = own
            .and_then(|t| t.signatures.get(event_type))
            .or_else(|| self.verifier_for(event_type));
        match verifier {
            Some(v) => SignatureCheck::Verify(v),
            None if own
                .and_then(|t| t.require_signature)
                .unwrap_or(self.require_signature) =>
            {
                SignatureCheck::Required
            }
            None => SignatureCheck::None,
        }
    }

    /// Whether some check covers this event type for every tenant that can deliver it (used by
    /// `setup` to warn about unsigned event types).
    pub fn is_signed_for_all_tenants(&self, event_type: &str) -> bool {
        if self.verifier_for(event_type).is_some() {
            return true;
        }
        // Without a global check, only a closed tenant list all carrying their own check counts.
        !self.tenants.is_empty()
            && self.tenants.iter().all(|t| {
                self.tenant_checks
                    .get(t)
                    .is_some_and(|c| c.signatures.contains_key(event_type))
            })
    }

    /// The `{event_type}` of every compiled trigger, sorted, deduplicated.
    pub fn event_types(flows: &Registry) -> Vec<&'static str> {
        let mut event_types: Vec<&'static str> = flows
            .flows
            .iter()
            .flat_map(|f| f.triggers.iter().map(|t| t.event_type))
            .collect();
        event_types.sort_unstable();
        event_types.dedup();
        event_types
    }

    /// Whether requests for this tenant are accepted.
    pub fn accepts_tenant(&self, tenant: &Tenant) -> bool {
        self.tenants.is_empty() || self.tenants.contains(tenant)
    }

    /// One URL to register per compiled trigger (and per configured tenant, else `{tenant}`).
    pub fn webhook_urls(&self, flows: &Registry) -> Vec<String> {
        let tenants: Vec<&str> = if self.tenants.is_empty() {
            vec!["{tenant}"]
        } else {
            self.tenants.iter().map(Tenant::as_str).collect()
        };
        let event_types = Config::event_types(flows);
        let mut urls = Vec::new();
        for t in &tenants {
            for e in &event_types {
                urls.push(format!("{}/events/webhook/{t}/{e}", self.public_base_url));
            }
        }
        urls
    }
}

/// One tenant's own checks (see [`Config::check_for`]).
#[derive(Debug, Clone, Default)]
pub struct TenantChecks {
    /// Per event type.
    pub signatures: BTreeMap<String, Verifier>,
    /// Overrides [`Config::require_signature`] when set.
    pub require_signature: Option<bool>,
}

/// What a delivery's signature must satisfy.
#[derive(Debug, Clone, Copy)]
pub enum SignatureCheck<'a> {
    /// Verify with this.
    Verify(&'a Verifier),
    /// No check configured; accept unsigned.
    None,
    /// No check configured, but `require_signature` is on: reject.
    Required,
}

/// The `{tenant}` path segment: 1 to 64 characters of `A-Z a-z 0-9 _ - .`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

impl Tenant {
    pub fn parse(s: &str) -> Result<Tenant, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(Tenant(s.to_string()))
        } else {
            Err(format!(
                "`{s}` is not a valid tenant (1-64 characters of A-Z, a-z, 0-9, `_`, `-`, `.`)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Validates answers.json text and writes the bundle directory: `hookflow.json` and `state/`.
/// Everything is checked before anything is written; the config file is written to a temporary
/// name and renamed, so a failed setup leaves no partial bundle file behind.
pub fn write_bundle(answers: &str, dir: &Path) -> Result<Config, ConfigError> {
    let raw = RawConfig::from_answers_json(answers)?;
    let config = raw.check()?;
    let write_err = |path: &Path, e: std::io::Error| ConfigError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    let state = dir.join(STATE_DIR);
    std::fs::create_dir_all(&state).map_err(|e| write_err(&state, e))?;
    let path = dir.join(BUNDLE_FILE);
    let tmp = dir.join(format!(".{BUNDLE_FILE}.tmp"));
    write_private(&tmp, raw.to_bundle_json().as_bytes()).map_err(|e| write_err(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| write_err(&path, e))?;
    Ok(config)
}

/// Writes a file readable only by its owner (it may hold inline secrets).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match RawConfig::from_answers_json(text).and_then(|r| r.check()) {
            Ok(_) => String::from("ok"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn seed_answers_are_valid() {
        let c = RawConfig::from_answers_json(
            r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x.example/",
                "signatures": {"github": {"header": "X-Hub-Signature-256", "algorithm": "sha256", "secret": "s"},
                               "stripe": {"header": "Stripe-Signature", "algorithm": "stripe", "secret": "whsec_xxx"}}}}"#,
        )
        .and_then(|r| r.check());
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.public_base_url, "https://x.example");
        assert_eq!(c.signatures.len(), 2);
        assert!(c.verifier_for("github").is_some());
        assert!(c.verifier_for("other").is_none());
    }

    #[test]
    fn every_error_names_its_key() {
        let cases = [
            (
                r#"{"events-webhook": {"public_base_url": "https://x"}}"#,
                "events-webhook.enabled",
            ),
            (
                r#"{"events-webhook": {"enabled": true}}"#,
                "events-webhook.public_base_url",
            ),
            (
                r#"{"events-webhook": {"enabled": true, "public_base_url": "x.example"}}"#,
                "events-webhook.public_base_url",
            ),
            (
                r#"{"events-webhook": {"enabled": "yes", "public_base_url": "https://x"}}"#,
                "events-webhook.enabled",
            ),
            (
                r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x", "colour": 1}}"#,
                "events-webhook.colour",
            ),
            (
                r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x", "signatures": {"gh": {"algorithm": "md5", "secret": "s"}}}}"#,
                "events-webhook.signatures.gh.algorithm",
            ),
            (
                r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x", "signatures": {"gh": {"algorithm": "sha256"}}}}"#,
                "events-webhook.signatures.gh.secret",
            ),
            (
                r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x", "signatures": {"gh": {"algorithm": "sha512", "secret": "s"}}}}"#,
                "events-webhook.signatures.gh.header",
            ),
            (
                r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x", "signatures": {"gh": {"secret": "s"}}}}"#,
                "events-webhook.signatures.gh.algorithm",
            ),
            (
                r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x", "signatures": {"gh": {"algorithm": "sha256", "secret": "s", "hdr": "x"}}}}"#,
                "events-webhook.signatures.gh.hdr",
            ),
            (
                r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x", "secret_header": "X-Sig"}}"#,
                "events-webhook.secret_key",
            ),
            (
                r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x", "max_body_bytes": -1}}"#,
                "events-webhook.max_body_bytes",
            ),
            (
                r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x", "idempotency_header": "Idem Key"}}"#,
                "events-webhook.idempotency_header",
            ),
            (
                r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x", "tenants": ["a b"]}}"#,
                "events-webhook.tenants[0]",
            ),
            (r#"{"other": {}}"#, "other"),
            (r#"{}"#, "events-webhook"),
        ];
        for (text, key) in cases {
            let e = err(text);
            assert!(e.starts_with(&format!("{key}:")), "{text}\n=> {e}");
        }
    }

    #[test]
    fn bundle_round_trips() {
        let raw = RawConfig {
            secret_header: Some("X-Signature".into()),
            secret_key: Some(SecretRef("k".into())),
            ..RawConfig::default()
        };
        let back = RawConfig::from_answers_json(&raw.to_bundle_json());
        assert_eq!(back, Ok(raw));
    }

    #[test]
    fn tenant_overrides_round_trip_through_the_bundle() {
        let raw = RawConfig::from_answers_json(
            r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x",
                "require_signature": true,
                "tenants": {"acme": {"require_signature": false,
                   "signatures": {"gh": {"algorithm": "sha256", "secret": "env:ACME_GH"}}},
                 "beta": {}}}}"#,
        )
        .expect("valid");
        assert_eq!(raw.tenants.len(), 2);
        let back = RawConfig::from_answers_json(&raw.to_bundle_json());
        assert_eq!(back, Ok(raw.clone()));
        // A reference is not an inline secret; the old list form still parses.
        assert!(raw.inline_secret_keys().is_empty());
        let list = RawConfig::from_answers_json(
            r#"{"events-webhook": {"enabled": true, "public_base_url": "https://x", "tenants": ["a", "b"]}}"#,
        )
        .expect("valid");
        assert_eq!(list.tenants.keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn urls_per_trigger_and_tenant() {
        let mut c = Config::default();
        static NO_FLOWS: Registry = Registry { flows: &[] };
        assert!(c.webhook_urls(&NO_FLOWS).is_empty());
        c.tenants = vec![Tenant("demo".into())];
        assert!(c.accepts_tenant(&Tenant("demo".into())));
        assert!(!c.accepts_tenant(&Tenant("other".into())));
    }
}
