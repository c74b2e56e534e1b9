//! The `HOOKFLOW_*` environment layer: every top-level setting of the bundle can also come from
//! an environment variable (containers, systemd `Environment=`, CI).
//!
//! Precedence, highest first: command-line flag, environment variable, the bundle's
//! `hookflow.json`, the embedded default. [`apply`] lays the variables over the bundle's
//! [`RawConfig`] before it is checked, so an environment value goes through exactly the same
//! validation as the file; a value that cannot even be read (`HOOKFLOW_MAX_BODY_BYTES=ten`) is an
//! error naming the variable. An empty variable counts as unset.
//!
//! Nested settings (`signatures`, `tenants.<tenant>.*`, `allow_ips.<event_type>`) come from the
//! bundle only; their secrets can still live outside it, as `env:NAME` or `file:PATH`.
//!
//! Variables read by the command line itself (not bundle keys): [`CLI_VARS`].

use crate::config::{ConfigError, RawConfig, Tenant, PROVIDER};
use crate::signature::SecretRef;

/// One variable and the bundle key it sets.
pub struct Var {
    /// `HOOKFLOW_...`
    pub name: &'static str,
    /// The provider key (`events-webhook.<key>`).
    pub key: &'static str,
    /// What a value looks like (for the docs and errors).
    pub form: &'static str,
    apply: fn(&mut RawConfig, &str) -> Result<(), String>,
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every bundle setting that has a variable, in the order of docs/configuration.md.
pub const VARS: &[Var] = &[
    Var {
        name: "HOOKFLOW_ENABLED",
        key: "enabled",
        form: "true|false",
        apply: |r, v| {
            r.enabled = boolean(v)?;
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_PUBLIC_BASE_URL",
        key: "public_base_url",
        form: "URL",
        apply: |r, v| {
            r.public_base_url = v.to_string();
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_SECRET_HEADER",
        key: "secret_header",
        form: "header name",
        apply: |r, v| {
            r.secret_header = Some(v.to_string());
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_SECRET_KEY",
        key: "secret_key",
        form: "secret, env:NAME or file:PATH",
        apply: |r, v| {
            r.secret_key = Some(SecretRef(v.to_string()));
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_REQUIRE_SIGNATURE",
        key: "require_signature",
        form: "true|false",
        apply: |r, v| {
            r.require_signature = Some(boolean(v)?);
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_TENANTS",
        key: "tenants",
        form: "comma-separated names",
        apply: tenants,
    },
    Var {
        name: "HOOKFLOW_LISTEN",
        key: "listen",
        form: "ADDR:PORT",
        apply: |r, v| {
            r.listen = Some(v.to_string());
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_MAX_BODY_BYTES",
        key: "max_body_bytes",
        form: "integer",
        apply: |r, v| {
            r.max_body_bytes = Some(integer(v)?);
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_REQUEST_TIMEOUT_SECONDS",
        key: "request_timeout_seconds",
        form: "integer",
        apply: |r, v| {
            r.request_timeout_seconds = Some(integer(v)?);
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_IDEMPOTENCY_HEADER",
        key: "idempotency_header",
        form: "header name",
        apply: |r, v| {
            r.idempotency_header = Some(v.to_string());
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_TRUSTED_PROXIES",
        key: "trusted_proxies",
        form: "comma-separated CIDRs",
        apply: |r, v| {
            r.access.trusted_proxies = list(v);
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_CLIENT_IP_HEADER",
        key: "client_ip_header",
        form: "x-forwarded-for|forwarded",
        apply: |r, v| {
            r.access.client_ip_header = Some(v.to_string());
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_MAX_PENDING_WORK",
        key: "max_pending_work",
        form: "integer",
        apply: |r, v| {
            r.durable.max_pending_work = Some(integer(v)?);
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_RETRY_AFTER_SECONDS",
        key: "retry_after_seconds",
        form: "integer",
        apply: |r, v| {
            r.durable.retry_after_seconds = Some(integer(v)?);
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_RECORD",
        key: "record",
        form: "all|work_and_failures",
        apply: |r, v| {
            r.durable.record = Some(v.to_string());
            Ok(())
        },
    },
    Var {
        name: "HOOKFLOW_METRICS_ALLOW_IPS",
        key: "metrics_allow_ips",
        form: "comma-separated CIDRs",
        apply: |r, v| {
            r.access.metrics_allow_ips = Some(list(v));
            Ok(())
        },
    },
];

/// Variables the command line reads (clap), documented beside [`VARS`].
pub const CLI_VARS: &[&str] = &[
    "HOOKFLOW_BUNDLE",
    "HOOKFLOW_LOG_FORMAT",
    "HOOKFLOW_LOG",
    "HOOKFLOW_ADMIN_LISTEN",
    "HOOKFLOW_STATE",
];

/// Lays the set variables over `raw`; returns the ones applied (to name them in later errors).
pub fn apply(
    raw: &mut RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<&'static Var>, ConfigError> {
    let mut applied = Vec::new();
    for var in VARS {
        let Some(value) = env(var.name).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        (var.apply)(raw, value.trim()).map_err(|message| ConfigError::Invalid {
            key: var.name.to_string(),
            message,
        })?;
        applied.push(var);
    }
    Ok(applied)
}

/// Renames a checked error about a key that came from a variable: `HOOKFLOW_X (events-webhook.x...)`.
pub fn rename(e: ConfigError, applied: &[&'static Var]) -> ConfigError {
    match e {
        ConfigError::Invalid { key, message } => {
            let from_env = applied.iter().find(|v| {
                let k = format!("{PROVIDER}.{}", v.key);
                key == k || key.starts_with(&format!("{k}[")) || key.starts_with(&format!("{k}."))
            });
            let key = match from_env {
                Some(v) => format!("{} ({key})", v.name),
                None => key,
            };
            ConfigError::Invalid { key, message }
        }
        other => other,
    }
}

/// The process environment, for [`apply`].
pub fn process(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn boolean(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {v:?}")),
    }
}

fn integer(v: &str) -> Result<u64, String> {
    v.parse()
        .map_err(|_| format!("expected a non-negative integer, got {v:?}"))
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The accepted tenants; a tenant the bundle configures keeps its own settings.
fn tenants(r: &mut RawConfig, v: &str) -> Result<(), String> {
    let mut out = std::collections::BTreeMap::new();
    for name in list(v) {
        Tenant::parse(&name)?;
        let own = r.tenants.remove(&name).unwrap_or_default();
        out.insert(name, own);
    }
    r.tenants = out;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawTenant;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn variables_override_the_bundle() {
        let mut raw = RawConfig {
            max_body_bytes: Some(5),
            ..RawConfig::default()
        };
        raw.tenants.insert(
            "acme".into(),
            RawTenant {
                require_signature: Some(true),
                ..RawTenant::default()
            },
        );
        let applied = apply(
            &mut raw,
            &env(&[
                ("HOOKFLOW_ENABLED", "false"),
                ("HOOKFLOW_MAX_BODY_BYTES", " 1024 "),
                ("HOOKFLOW_TENANTS", "acme, beta"),
                ("HOOKFLOW_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
                ("HOOKFLOW_LISTEN", ""),
            ]),
        );
        let names: Vec<&str> = match applied {
            Ok(a) => a.iter().map(|v| v.name).collect(),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            names,
            [
                "HOOKFLOW_ENABLED",
                "HOOKFLOW_TENANTS",
                "HOOKFLOW_MAX_BODY_BYTES",
                "HOOKFLOW_TRUSTED_PROXIES"
            ]
        );
        assert!(!raw.enabled);
        assert_eq!(raw.max_body_bytes, Some(1024));
        assert_eq!(raw.listen, None, "an empty variable is unset");
        assert_eq!(raw.access.trusted_proxies, ["10.0.0.0/8", "::1"]);
        assert_eq!(raw.tenants.keys().collect::<Vec<_>>(), ["acme", "beta"]);
        assert_eq!(raw.tenants["acme"].require_signature, Some(true));
    }

    #[test]
    fn errors_name_the_variable() {
        let err = |k: &str, v: &str| {
            let mut raw = RawConfig::default();
            let r = apply(&mut raw, &env(&[(k, v)]))
                .and_then(|applied| raw.check().map(|_| ()).map_err(|e| rename(e, &applied)));
            match r {
                Ok(()) => String::from("ok"),
                Err(e) => e.to_string(),
            }
        };
        assert_eq!(
            err("HOOKFLOW_MAX_BODY_BYTES", "ten"),
            "HOOKFLOW_MAX_BODY_BYTES: expected a non-negative integer, got \"ten\""
        );
        assert_eq!(
            err("HOOKFLOW_ENABLED", "maybe"),
            "HOOKFLOW_ENABLED: expected true or false, got \"maybe\""
        );
        assert!(err("HOOKFLOW_TENANTS", "a b")
            .starts_with("HOOKFLOW_TENANTS: `a b` is not a valid tenant"));
        assert!(err("HOOKFLOW_TRUSTED_PROXIES", "10.0.0.0/8,nope")
            .starts_with("HOOKFLOW_TRUSTED_PROXIES (events-webhook.trusted_proxies[1]): `nope`"));
        assert!(err("HOOKFLOW_PUBLIC_BASE_URL", "example.com")
            .starts_with("HOOKFLOW_PUBLIC_BASE_URL (events-webhook.public_base_url):"));
        assert!(
            err("HOOKFLOW_SECRET_KEY", "s").starts_with("events-webhook.secret_header: missing")
        );
        assert_eq!(err("HOOKFLOW_REQUIRE_SIGNATURE", "yes"), "ok");
    }

    #[test]
    fn every_variable_is_documented() {
        let docs = include_str!("../../docs/configuration.md");
        for name in VARS.iter().map(|v| v.name).chain(CLI_VARS.iter().copied()) {
            assert!(
                docs.contains(&format!("`{name}`")),
                "{name} is not in docs/configuration.md"
            );
        }
    }
}
