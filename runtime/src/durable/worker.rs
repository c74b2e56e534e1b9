//! The worker pool: runs the work after answers from the store.
//!
//! One loop claims due work under a lease, within the per-flow limits, and runs each item on its
//! own task through [`Engine::run_work`], at most `pool_size` at once. It claims up to
//! `pool_size` items ahead of the running ones, so that a slot that frees finds its next item
//! without waiting for a claim's commit. A slot frees only once its item's outcome is committed:
//! at most `pool_size` items are ever run but not recorded, which is what a crash can repeat. An item
//! that succeeds is completed together with the work it produced (a continuation, flows started
//! by `async`) and the path it took, in one transaction; one that fails is retried after a
//! backoff with full jitter, or becomes dead after `max_attempts` with its error kept. Work that
//! cannot run at all (a flow this binary lacks, state it cannot read) is dead at once: retrying
//! would not help until a fixed build runs `deliveries retry-dead`.
//!
//! The loop sleeps until a commit wakes it ([`Durable::wake`]), a slot frees, or the poll
//! interval passes (retries that became due, work another process stored). On start it first
//! makes work left `running` by a crashed process pending again (this process holds the state
//! directory's lock, so no other live process can be running it). On stop it claims nothing
//! more and waits for the running items; items still running after the grace period keep their
//! lease and run again on the next start.

use super::{codec, trace_records, Durable};
use crate::__gen::Event;
use crate::backoff::Retry;
use crate::engine::{Engine, EngineError, Work, MAX_WORK_PER_DELIVERY};
use crate::store::{
    now_ms, ClaimRequest, ClaimedWork, Completion, Lease, Store, StoreError, WorkId,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::settings::WorkerSettings;

/// Most items claimed in one go.
const MAX_CLAIM: usize = 256;

/// A running pool; stop it with [`Workers::stop`].
#[derive(Debug)]
pub struct Workers {
    pool: Arc<Pool>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Pool {
    durable: Arc<Durable>,
    engine: Arc<Engine>,
    settings: WorkerSettings,
    owner: String,
    /// Items running a flow.
    slots: Arc<Semaphore>,
    /// Items claimed and not finished (running, waiting for a slot, or being recorded).
    claimed: Arc<Semaphore>,
    /// Every item's task, waited for on stop.
    running: TaskTracker,
    stopping: CancellationToken,
}

/// One item to run: claimed from the store, or handed over by the request path that stored it.
struct Item {
    id: WorkId,
    /// The flow named by the stored item (for logs when it cannot be decoded).
    flow: String,
    seq: u32,
    attempt: u32,
    /// The delivery's `event.delivery_id` (the log span).
    event_id: String,
    work: Result<Work, codec::CodecError>,
    /// What a flow started by `async` inherits.
    base: Event,
}

impl Workers {
    /// Recovers work a crash left running, then starts the pool.
    pub async fn start(
        durable: Arc<Durable>,
        engine: Arc<Engine>,
        settings: WorkerSettings,
    ) -> Result<Workers, StoreError> {
        let recovered = durable.store().recover_expired(i64::MAX).await?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "work left running by a previous process (crash or kill) is pending again"
            );
        }
        let id: [u8; 4] = rand::random();
        let stop = CancellationToken::new();
        let pool = Arc::new(Pool {
            slots: Arc::new(Semaphore::new(settings.pool_size)),
            claimed: Arc::new(Semaphore::new(settings.pool_size * 2)),
            owner: format!("pid{}-{}", std::process::id(), hex::encode(id)),
            running: TaskTracker::new(),
            stopping: stop.clone(),
            durable,
            engine,
            settings,
        });
        let task = tokio::spawn(run(pool.clone(), stop.clone()));
        Ok(Workers { pool, stop, task })
    }

    /// The request path's way to hand work to this pool directly.
    pub fn handoff(&self) -> Handoff {
        Handoff {
            pool: self.pool.clone(),
        }
    }

    /// Claims nothing more, and waits up to `grace` for the running items. Items still running
    /// then keep their lease: the next start runs them again.
    pub async fn stop(self, grace: Duration) {
        self.stop.cancel();
        let wait = async {
            let _ = self.task.await;
            self.pool.running.close();
            self.pool.running.wait().await;
        };
        if tokio::time::timeout(grace, wait).await.is_err() {
            tracing::warn!(
                "work after answers still running after {grace:?}; it runs again on the next start"
            );
        }
    }
}

/// Hands work from the request path to the pool: the work is stored already claimed by this
/// process ([`crate::store::NewDelivery::lease`]) and runs from memory, without a claim and
/// without decoding its stored form. Only when the pool has room (else the work is stored
/// pending and claimed as usual) and no per-flow limit is configured (limits are enforced by
/// claims).
#[derive(Debug, Clone)]
pub struct Handoff {
    pool: Arc<Pool>,
}

/// Room in the pool for work about to be stored, and the lease to store it under.
#[derive(Debug)]
pub struct Reservation {
    permits: OwnedSemaphorePermit,
    /// The lease to store the work under.
    pub lease: Lease,
}

impl Handoff {
    /// Room for `n` items, if the pool has it.
    pub fn reserve(&self, n: usize) -> Option<Reservation> {
        let p = &self.pool;
        if n == 0
            || p.stopping.is_cancelled()
            || p.settings.flow_concurrency.is_some()
            || !p.settings.flow_limits.is_empty()
        {
            return None;
        }
        let permits = p
            .claimed
            .clone()
            .try_acquire_many_owned(u32::try_from(n).ok()?)
            .ok()?;
        let lease_ms = i64::try_from(p.settings.lease.as_millis()).unwrap_or(i64::MAX);
        Some(Reservation {
            permits,
            lease: Lease {
                owner: p.owner.clone(),
                expires_ms: now_ms().saturating_add(lease_ms),
            },
        })
    }

    /// Runs the stored work (in order, with the ids it was stored under); `base` is the delivery
    /// as `async` flows inherit it.
    pub fn dispatch(
        &self,
        mut reservation: Reservation,
        work: Vec<(WorkId, Work)>,
        mut base: Event,
        event_id: &str,
    ) {
        codec::redact_event(&mut base);
        for (i, (id, mut work)) in work.into_iter().enumerate() {
            codec::redact_work(&mut work);
            let Some(claim) = reservation.permits.split(1) else {
                // More items than reserved: the rest stays leased and runs after a restart.
                tracing::error!(work = %id, "work handed over without room; it runs on the next start");
                continue;
            };
            let item = Item {
                flow: work.flow().to_string(),
                id,
                seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                attempt: 1,
                event_id: event_id.to_string(),
                work: Ok(work),
                base: base.clone(),
            };
            spawn_item(&self.pool, item, claim);
        }
    }
}

async fn run(pool: Arc<Pool>, stop: CancellationToken) {
    let mut last_refresh = tokio::time::Instant::now() - pool.settings.poll_interval;
    loop {
        if stop.is_cancelled() {
            break;
        }
        if last_refresh.elapsed() >= pool.settings.poll_interval {
            refresh_counts(&pool.durable).await;
            last_refresh = tokio::time::Instant::now();
        }
        let free = pool.claimed.available_permits();
        if free == 0 {
            tokio::select! {
                () = stop.cancelled() => break,
                () = pool.durable.woken() => continue,
                () = tokio::time::sleep(pool.settings.poll_interval) => continue,
            }
        }
        let want = free.min(MAX_CLAIM);
        let claimed = pool
            .durable
            .store()
            .claim(ClaimRequest {
                owner: pool.owner.clone(),
                limit: u32::try_from(want).unwrap_or(u32::MAX),
                lease_ms: i64::try_from(pool.settings.lease.as_millis()).unwrap_or(i64::MAX),
                now_ms: now_ms(),
                per_flow_limit: pool.settings.flow_concurrency,
                flow_limits: pool.settings.flow_limits.clone(),
            })
            .await;
        let got = match claimed {
            Ok(items) => items,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim work from the store; trying again");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(pool.settings.poll_interval) => continue,
                }
            }
        };
        let n = got.len();
        for c in got {
            let Ok(claim) = pool.claimed.clone().acquire_owned().await else {
                break;
            };
            spawn_item(&pool, decoded(&pool, c), claim);
        }
        if n < want {
            // Nothing more is due now: sleep until woken, or the next poll.
            tokio::select! {
                () = stop.cancelled() => break,
                () = pool.durable.woken() => {}
                () = tokio::time::sleep(pool.settings.poll_interval) => {}
            }
        }
    }
}

/// A claimed item, its stored form decoded.
fn decoded(pool: &Pool, c: ClaimedWork) -> Item {
    Item {
        work: codec::decode(&c, pool.engine.flows()),
        base: codec::base_event(&c.base),
        event_id: c.base.event_id,
        id: c.id,
        flow: c.flow,
        seq: c.seq,
        attempt: c.attempt,
    }
}

/// Runs `item` on its own task once a slot is free; `claim` is its place among the claimed.
fn spawn_item(pool: &Arc<Pool>, item: Item, claim: OwnedSemaphorePermit) {
    let p = pool.clone();
    let span = crate::logging::delivery_span();
    span.record("delivery_id", tracing::field::display(&item.event_id));
    pool.running.spawn(
        async move {
            if let Ok(slot) = p.slots.clone().acquire_owned().await {
                run_item(&p, item, slot).await;
            }
            drop(claim);
            p.durable.wake();
        }
        .instrument(span),
    );
}

async fn refresh_counts(durable: &Durable) {
    match durable.store().counts().await {
        Ok(c) => {
            durable.set_backlog(c.pending + c.running);
            crate::metrics::work_counts(c.pending, c.running, c.dead);
        }
        Err(e) => tracing::warn!(error = %e, "cannot count the work in the store"),
    }
}

/// Runs one item and records its outcome, holding `slot` until the outcome is committed: so at
/// most `pool_size` items can have run without their outcome stored, which bounds what a crash
/// makes run twice.
async fn run_item(pool: &Pool, item: Item, slot: OwnedSemaphorePermit) {
    let _slot = slot;
    let store = pool.durable.store();
    let flows = pool.engine.flows();
    let work = match item.work {
        Ok(w) => w,
        Err(e) => {
            let msg = format!("cannot run: {e}");
            tracing::error!(flow = %item.flow, work = %item.id, error = %msg, "work is dead");
            crate::metrics::dead(metric_flow(flows, &item.flow));
            report(
                store
                    .fail(
                        item.id.clone(),
                        pool.owner.clone(),
                        msg,
                        now_ms(),
                        Retry::Dead,
                        vec![],
                    )
                    .await,
                &item.id,
            );
            return;
        }
    };
    let ran = pool.engine.run_work(&item.base, work).await;
    let flow_name = ran.flow.map_or(item.flow.as_str(), |f| f.name);
    let trace = trace_records(ran.flow, &ran.trace);
    let now = now_ms();
    // (error, permanent): a permanent failure is dead at once.
    let (error, permanent) = match ran.result {
        Ok(more) => {
            let total = usize::try_from(item.seq).unwrap_or(usize::MAX) + more.len();
            if total > MAX_WORK_PER_DELIVERY {
                (
                    format!("more than {MAX_WORK_PER_DELIVERY} work items for one delivery (flows starting each other without end?)"),
                    true,
                )
            } else {
                match codec::encode_all(&more) {
                    Ok(work) => {
                        let produced = !work.is_empty();
                        let r = store
                            .complete(
                                item.id.clone(),
                                pool.owner.clone(),
                                now,
                                Completion { work, trace },
                            )
                            .await;
                        if r.is_ok() && produced {
                            pool.durable.wake();
                        }
                        report(r, &item.id);
                        return;
                    }
                    Err(e) => (format!("cannot store the work it produced: {e}"), true),
                }
            }
        }
        Err(e) => {
            let permanent = matches!(e, EngineError::UnknownFlow(_) | EngineError::BadNode { .. });
            (e.to_string(), permanent)
        }
    };
    let retry = if permanent {
        Retry::Dead
    } else {
        pool.settings
            .backoff
            .decide(item.attempt, now, &mut || rand::random::<f64>())
    };
    match retry {
        Retry::At(at) => {
            crate::metrics::retry(metric_flow(flows, flow_name));
            tracing::warn!(
                flow = flow_name,
                work = %item.id,
                attempt = item.attempt,
                retry_in_ms = at - now,
                error = %error,
                "work after the answer failed; retrying"
            );
        }
        Retry::Dead => {
            crate::metrics::dead(metric_flow(flows, flow_name));
            tracing::error!(
                flow = flow_name,
                work = %item.id,
                attempt = item.attempt,
                error = %error,
                "work after the answer failed for the last time; it is dead (see `hookflow deliveries list --status dead`)"
            );
        }
    }
    report(
        store
            .fail(
                item.id.clone(),
                pool.owner.clone(),
                error,
                now,
                retry,
                trace,
            )
            .await,
        &item.id,
    );
}

/// A compiled flow's name for metric labels (bounded), else `other`.
fn metric_flow(flows: &crate::__gen::Registry, name: &str) -> &'static str {
    flows.flow(name).map_or(crate::metrics::OTHER, |f| f.name)
}

fn report(r: Result<(), StoreError>, id: &WorkId) {
    match r {
        Ok(()) => {}
        Err(StoreError::LeaseLost(_)) => tracing::warn!(
            work = %id,
            "the work's lease was lost while it ran (recovered by another process); its outcome is not recorded here"
        ),
        Err(e) => tracing::error!(
            work = %id,
            error = %e,
            "cannot record the outcome of work; it stays running until its lease is recovered (next start)"
        ),
    }
}
