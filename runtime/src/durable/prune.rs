//! Retention: deliveries older than `retention.max_age_days`, or beyond the newest
//! `retention.max_deliveries`, are pruned every `retention.prune_interval_seconds` (and once at
//! start) with their work, attempts and path, except those with pending, running or dead work:
//! unfinished and dead work is never pruned silently.

use super::settings::Retention;
use super::Durable;
use crate::store::{now_ms, PruneRequest, Store, StoreError};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The store's prune request for `retention` at `now_ms`.
pub fn request(retention: &Retention, now_ms: i64) -> PruneRequest {
    PruneRequest {
        older_than_ms: retention
            .max_age
            .map(|age| now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))),
        keep_last: retention.max_deliveries,
    }
}

/// Prunes once; returns how many deliveries were removed.
pub async fn prune_once<S: Store>(store: &S, retention: &Retention) -> Result<u64, StoreError> {
    store.prune(request(retention, now_ms())).await
}

/// Prunes now and then every `retention.interval` until `stop`.
pub fn spawn(
    durable: Arc<Durable>,
    retention: Retention,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if retention.max_age.is_none() && retention.max_deliveries.is_none() {
            return;
        }
        loop {
            match prune_once(durable.store(), &retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "old deliveries pruned (retention)"),
                Err(e) => tracing::warn!(error = %e, "pruning old deliveries failed"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(retention.interval) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn limits_become_a_request() {
        let r = Retention {
            max_age: Some(Duration::from_secs(10)),
            max_deliveries: Some(5),
            interval: Duration::from_secs(1),
        };
        assert_eq!(
            request(&r, 100_000),
            PruneRequest {
                older_than_ms: Some(90_000),
                keep_last: Some(5)
            }
        );
        let none = Retention {
            max_age: None,
            max_deliveries: None,
            interval: Duration::from_secs(1),
        };
        assert_eq!(request(&none, 1), PruneRequest::default());
    }
}
