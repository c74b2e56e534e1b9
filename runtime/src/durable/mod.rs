//! Durable deliveries: what connects the HTTP server, the engine and the store.
//!
//! - On the request path ([`Durable::existing`], [`Durable::commit`], [`Durable::record`]): a
//!   repeated delivery is answered from the store without running its flow; a delivery whose flow
//!   left work after its answer is committed with that work (and its path so far) **before** the
//!   answer goes out; a delivery with nothing after its answer is recorded in the background.
//! - After the answer ([`worker`]): a pool of workers claims the stored work, resumes the flow's
//!   state machine ([`codec`] turns the stored form back into [`crate::engine::Work`]), and
//!   completes it together with the work it produced, or retries it with backoff, or moves it to
//!   the dead letters.
//! - Around it: deduplication keys ([`dedup`]), settings ([`settings`]), retention ([`prune`]),
//!   replay of stored deliveries ([`replay`]) and the `hookflow deliveries` commands ([`cli`]).
//!
//! Why deliveries without work are recorded in the background: nothing is promised after their
//! answer, so the answer does not wait for an fsync. Their dedup still holds: the key is kept in
//! memory until its record is committed, and a repeat that arrives in between is answered from
//! there. The in-flight records are bounded ([`MAX_UNCOMMITTED_RECORDS`]); past it a request waits
//! for room. If the process dies in that window, the record (and only the record) is lost: a retry
//! by the sender then runs the flow again.

pub mod cli;
pub mod codec;
pub mod dedup;
pub mod prune;
pub mod replay;
pub mod seen;
pub mod settings;
pub mod worker;

use crate::__gen::{FlowDef, Outcome, TraceStep};
use crate::store::sqlite::{CommitHook, SqliteOptions, SqliteStore};
use crate::store::{Answer, InsertOutcome, NewDelivery, Store, StoreError, TraceRecord};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, Semaphore};
use tokio_util::task::TaskTracker;

/// Most deliveries without work whose record may wait for its commit at once.
/// About 10 KB each for a 7.3 KB body: this bounds their memory to ~3 MiB; past it requests
/// wait for the store, whose rate then sets the pace.
pub const MAX_UNCOMMITTED_RECORDS: usize = 256;

/// The lock file that keeps two servers off one state directory.
pub const LOCK_FILE: &str = "hookflow.lock";

/// The build of hookflow that ran a delivery: the version, and the git commit when the build set
/// `HOOKFLOW_GIT_HASH` (e.g. `HOOKFLOW_GIT_HASH=$(git rev-parse --short HEAD) cargo build`).
pub fn build_id() -> String {
    match option_env!("HOOKFLOW_GIT_HASH") {
        Some(h) if !h.is_empty() => format!("hookflow {}+{h}", env!("CARGO_PKG_VERSION")),
        _ => format!("hookflow {}", env!("CARGO_PKG_VERSION")),
    }
}

/// Why the durable store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the state directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another hookflow serve uses the state directory {0} (its lock file hookflow.lock is held); stop it, or give this one its own --state")]
    Locked(PathBuf),
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The state directory of a server: a given one, or a temporary one removed when the server
/// stops (servers embedded without a state directory, e.g. in tests).
#[derive(Debug)]
struct StateDir {
    path: PathBuf,
    temporary: bool,
    /// Held while the server runs; the lock is released when the file is closed.
    _lock: std::fs::File,
}

impl StateDir {
    fn open(dir: Option<&Path>) -> Result<StateDir, OpenError> {
        let (path, temporary) = match dir {
            Some(d) => (d.to_path_buf(), false),
            None => {
                let bytes: [u8; 8] = rand::random();
                (
                    std::env::temp_dir().join(format!("hookflow-state-{}", hex::encode(bytes))),
                    true,
                )
            }
        };
        std::fs::create_dir_all(&path).map_err(|source| OpenError::CreateDir {
            path: path.clone(),
            source,
        })?;
        let lock_path = path.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| OpenError::Lock {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(OpenError::Locked(path)),
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(OpenError::Lock {
                    path: lock_path,
                    source,
                })
            }
        }
        Ok(StateDir {
            path,
            temporary,
            _lock: lock,
        })
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The durable store of a running server, shared by the request path and the workers.
pub struct Durable {
    store: SqliteStore,
    state: StateDir,
    /// Wakes the workers: new work was committed, or a worker slot is free.
    wake: Notify,
    /// Pending + running work, refreshed from the store by the workers and raised by each
    /// commit in between (for back-pressure).
    backlog: AtomicU64,
    /// Every dedup key this process stored or found in the store at open ([`seen`]).
    seen: seen::SeenKeys,
    /// Dedup keys of records queued but not committed yet, with their answers.
    uncommitted: Mutex<HashMap<String, Option<Answer>>>,
    record_slots: Arc<Semaphore>,
    records: TaskTracker,
    build_id: String,
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable")
            .field("state_dir", &self.state.path)
            .finish_non_exhaustive()
    }
}

impl Durable {
    /// Opens the store in `state_dir` (created if needed; `None`: a temporary directory removed
    /// at close) and locks it for this process.
    pub fn open(state_dir: Option<&Path>) -> Result<Durable, OpenError> {
        let state = StateDir::open(state_dir)?;
        let hook: CommitHook = Arc::new(|took, ok| {
            if ok {
                crate::metrics::store_commit(took);
            } else {
                crate::metrics::store_commit_failed();
            }
        });
        let store = SqliteStore::open_observed(&state.path, SqliteOptions::default(), Some(hook))?;
        let seen = seen::SeenKeys::default();
        store.each_dedup_key(|k| seen.insert(k))?;
        Ok(Durable {
            store,
            state,
            seen,
            wake: Notify::new(),
            backlog: AtomicU64::new(0),
            uncommitted: Mutex::new(HashMap::new()),
            record_slots: Arc::new(Semaphore::new(MAX_UNCOMMITTED_RECORDS)),
            records: TaskTracker::new(),
            build_id: build_id(),
        })
    }

    /// The store.
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state.path
    }

    /// Whether the state directory is a temporary one (no `--state`, no bundle).
    pub fn is_temporary(&self) -> bool {
        self.state.temporary
    }

    /// The build id stored with each delivery.
    pub fn build_id(&self) -> &str {
        &self.build_id
    }

    /// The answer stored for the first delivery with this dedup key, if there was one.
    /// `Some(None)`: stored without an answer.
    pub async fn existing(&self, dedup_key: &str) -> Result<Option<Option<Answer>>, StoreError> {
        if let Some(a) = self
            .uncommitted
            .lock()
            .ok()
            .and_then(|m| m.get(dedup_key).cloned())
        {
            return Ok(Some(a));
        }
        if !self.seen.may_contain(dedup_key) {
            return Ok(None);
        }
        Ok(self
            .store
            .lookup(dedup_key.to_string())
            .await?
            .map(|e| e.answer))
    }

    /// Whether pending and running work exceed `limit` (then deliveries that would add work
    /// are refused).
    pub fn over_limit(&self, limit: u64) -> bool {
        self.backlog.load(Ordering::Relaxed) >= limit
    }

    /// Commits a delivery with its work, durably; wakes the workers unless the work was
    /// `handed_off` to them ([`worker::Handoff`]). The caller answers only after this returned
    /// `Inserted`.
    pub async fn commit(
        &self,
        d: NewDelivery,
        handed_off: bool,
    ) -> Result<InsertOutcome, StoreError> {
        let n = d.work.len() as u64;
        self.seen.insert(&d.dedup_key);
        let out = self.store.insert(d).await?;
        if out == InsertOutcome::Inserted && n > 0 {
            self.backlog.fetch_add(n, Ordering::Relaxed);
            if !handed_off {
                self.wake.notify_one();
            }
        }
        Ok(out)
    }

    /// Records a delivery that has no work after its answer, in the background (see the module
    /// documentation); waits only when [`MAX_UNCOMMITTED_RECORDS`] are already waiting.
    pub async fn record(self: &Arc<Self>, d: NewDelivery) {
        let Ok(permit) = self.record_slots.clone().acquire_owned().await else {
            return;
        };
        let key = d.dedup_key.clone();
        self.seen.insert(&key);
        if let Ok(mut m) = self.uncommitted.lock() {
            m.insert(key.clone(), d.answer.clone());
        }
        let this = self.clone();
        self.records.spawn(async move {
            let id = d.id.clone();
            if let Err(e) = this.store.insert(d).await {
                tracing::error!(delivery = %id, error = %e, "could not record a delivery (it had no work after its answer, so nothing else is lost)");
            }
            if let Ok(mut m) = this.uncommitted.lock() {
                m.remove(&key);
            }
            drop(permit);
        });
    }

    /// Wakes a worker (work was stored, or a slot freed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    pub(crate) fn set_backlog(&self, n: u64) {
        self.backlog.store(n, Ordering::Relaxed);
    }

    /// Waits for the background records, then closes the store (the writer finishes what is
    /// queued). The state directory's lock is released when `self` is dropped.
    pub async fn close(&self) {
        self.records.close();
        self.records.wait().await;
        self.store.close();
    }
}

/// A run's steps as stored: node ids and outcomes (`ok`, `took:<edge>`, `failed` with the error).
pub fn trace_records(flow: Option<&FlowDef>, steps: &[TraceStep]) -> Vec<TraceRecord> {
    let Some(flow) = flow else {
        return Vec::new();
    };
    steps
        .iter()
        .map(|s| {
            let node = flow
                .nodes
                .get(usize::from(s.node))
                .map_or_else(|| format!("#{}", s.node), |n| n.id.to_string());
            let (outcome, error) = match &s.outcome {
                Outcome::Ok => ("ok".to_string(), None),
                Outcome::Took(label) => (format!("took:{label}"), None),
                Outcome::Failed(m) => ("failed".to_string(), Some(m.clone())),
            };
            TraceRecord {
                flow: flow.name.to_string(),
                node,
                outcome,
                duration_us: s
                    .duration
                    .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
                error,
            }
        })
        .collect()
}
