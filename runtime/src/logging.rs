//! Logging: the global `tracing` subscriber (text or JSON lines on stderr, filtered like
//! `RUST_LOG`) and the per-delivery span that puts the delivery id on every line a delivery
//! logs: the delivery line, flow `log` nodes, action failures, the work after the answer.

use tracing_subscriber::EnvFilter;

/// The filter variables, first set wins; without either, `info`.
pub const FILTER_VARS: &[&str] = &["HOOKFLOW_LOG", "RUST_LOG"];

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The filter from `HOOKFLOW_LOG`, else `RUST_LOG`, else `info`; a filter that does not parse is
/// reported (returned as a warning) and replaced by `info`.
pub fn filter(env: &dyn Fn(&str) -> Option<String>) -> (EnvFilter, Option<String>) {
    for var in FILTER_VARS {
        if let Some(text) = env(var).filter(|t| !t.trim().is_empty()) {
            return match EnvFilter::try_new(&text) {
                Ok(f) => (f, None),
                Err(e) => (
                    EnvFilter::new("info"),
                    Some(format!("{var}={text:?} is not a valid log filter ({e}); logging at `info` (examples: `debug`, `warn,hookflow::delivery=info`)")),
                ),
            };
        }
    }
    (EnvFilter::new("info"), None)
}

/// Installs the global subscriber. Text lines get ANSI colours only on a terminal; JSON lines
/// carry the event's fields at the top level and the delivery span's fields under `span`.
pub fn init(format: LogFormat) {
    use std::io::IsTerminal;
    let (filter, warning) = filter(&|k| std::env::var(k).ok());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second install (tests) is not an error worth reporting.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
}

/// The span a delivery runs in; [`record_delivery_id`] fills its id once known. At ERROR level
/// so that it is enabled whenever any line is (an `info` span would vanish under
/// `HOOKFLOW_LOG=warn` and take the id off the warnings).
pub fn delivery_span() -> tracing::Span {
    tracing::error_span!(
        target: "hookflow::delivery",
        "delivery",
        delivery_id = tracing::field::Empty
    )
}

/// Records the delivery id on the current delivery span (once: text lines would show every
/// recorded value).
pub fn record_delivery_id(id: &str) {
    tracing::Span::current().record("delivery_id", tracing::field::display(id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_variables() {
        let (f, w) = filter(&|_| None);
        assert_eq!(f.to_string(), "info");
        assert!(w.is_none());
        let (f, _) = filter(&|k| (k == "RUST_LOG").then(|| "debug".to_string()));
        assert_eq!(f.to_string(), "debug");
        let (f, _) = filter(&|k| Some(if k == "HOOKFLOW_LOG" { "warn" } else { "debug" }.into()));
        assert_eq!(f.to_string(), "warn", "HOOKFLOW_LOG wins");
        let (f, w) = filter(&|k| (k == "HOOKFLOW_LOG").then(|| "a=b=c".to_string()));
        assert_eq!(f.to_string(), "info");
        assert!(
            w.is_some_and(|w| w.starts_with("HOOKFLOW_LOG=\"a=b=c\" is not a valid log filter"))
        );
    }
}
