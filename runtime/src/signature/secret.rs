//! Secret references (`env:NAME`, `file:PATH`, inline) resolved once, when a check is built.
//!
//! A resolved [`Secret`] only ever leaves this module as bytes handed to a MAC or key parser;
//! its `Debug` is redacted so it cannot reach a log line or an error message by accident.

use super::{SecretRef, SpecError};
use std::fmt;

/// A resolved secret: the bytes a sender signs with (or a public key, for asymmetric schemes).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    pub(crate) fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as text, for schemes whose secrets are text (keys in hex, base64, `whsec_`).
    pub(crate) fn text(&self, field: &'static str) -> Result<&str, SpecError> {
        std::str::from_utf8(&self.0).map_err(|_| SpecError {
            field,
            message: "the secret is not valid UTF-8 text".into(),
        })
    }
}

impl SecretRef {
    /// Whether this reference names where the secret lives (`env:`/`file:`) rather than holding it.
    pub fn is_reference(&self) -> bool {
        self.0.starts_with("env:") || self.0.starts_with("file:")
    }
}

/// Resolves `env:NAME`, `file:PATH` or an inline value. Errors name `field` and the variable
/// or path, never the secret. A file's trailing newline is dropped (editors add one).
pub(crate) fn resolve(r: &SecretRef, field: &'static str) -> Result<Secret, SpecError> {
    let err = |message: String| SpecError { field, message };
    let bytes = if let Some(name) = r.0.strip_prefix("env:") {
        if name.is_empty() {
            return Err(err(
                "`env:` needs a variable name, e.g. `env:GITHUB_SECRET`".into(),
            ));
        }
        match std::env::var_os(name) {
            Some(v) => v
                .into_string()
                .map_err(|_| err(format!("environment variable `{name}` is not valid UTF-8")))?
                .into_bytes(),
            None => return Err(err(format!("environment variable `{name}` is not set"))),
        }
    } else if let Some(path) = r.0.strip_prefix("file:") {
        if path.is_empty() {
            return Err(err(
                "`file:` needs a path, e.g. `file:/run/secrets/github`".into()
            ));
        }
        let mut v = std::fs::read(path)
            .map_err(|e| err(format!("cannot read secret file `{path}`: {e}")))?;
        while matches!(v.last(), Some(b'\n' | b'\r')) {
            v.pop();
        }
        v
    } else {
        r.0.clone().into_bytes()
    };
    if bytes.is_empty() {
        return Err(err("the secret is empty".into()));
    }
    Ok(Secret(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_env_and_file_resolve() {
        assert_eq!(
            resolve(&SecretRef("abc".into()), "secret").map(|s| s.0),
            Ok(b"abc".to_vec())
        );
        let dir = std::env::temp_dir().join(format!("hookflow-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let path = dir.join("s");
        std::fs::write(&path, "from-file\n").ok();
        let r = SecretRef(format!("file:{}", path.display()));
        assert_eq!(
            resolve(&r, "secret").map(|s| s.0),
            Ok(b"from-file".to_vec())
        );
        std::fs::remove_dir_all(&dir).ok();
        // PATH is always set in a test process.
        assert!(resolve(&SecretRef("env:PATH".into()), "secret").is_ok());
    }

    #[test]
    fn missing_env_var_is_named_and_value_never_printed() {
        let e = resolve(
            &SecretRef("env:HOOKFLOW_TEST_SURELY_UNSET_VAR".into()),
            "secret",
        )
        .err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("HOOKFLOW_TEST_SURELY_UNSET_VAR"), "{e}");
        assert!(e.starts_with("secret:"), "{e}");
        let missing = resolve(&SecretRef("file:/nonexistent/hookflow".into()), "secrets").err();
        assert_eq!(missing.map(|e| e.field), Some("secrets"));
        assert_eq!(
            format!("{:?}", Secret(b"hunter2".to_vec())),
            "Secret(<redacted>)"
        );
        assert_eq!(
            format!("{:?}", SecretRef("hunter2".into())),
            "SecretRef(<redacted>)"
        );
        assert_eq!(
            resolve(&SecretRef(String::new()), "secret")
                .err()
                .map(|e| e.field),
            Some("secret")
        );
    }
}
