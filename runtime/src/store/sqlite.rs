//! The embedded SQLite backend of [`Store`]: one file `hookflow.db` in the state directory, WAL
//! mode, one writer thread that owns the write connection, and a small pool of read connections.
//!
//! **Group commit.** Every write (an insert, a claim, a completion, ...) is a job queued to the
//! writer thread. The thread takes every job queued while it was busy (up to [`MAX_BATCH`]), runs
//! them in one transaction, and commits once: many concurrent deliveries and work items share
//! one fsync. A job that fails is undone alone (the group runs again with a savepoint per job,
//! see [`commit_group`]); if the commit fails, every job in the group gets the error. Nothing is
//! answered before its commit.
//!
//! `synchronous=FULL` by default: in WAL mode NORMAL may lose the last commits on power loss,
//! which would break "never a 2xx for something not stored". Group commit pays for it.
//!
//! Reads (`lookup`, `list`, `get`, `counts`) use separate connections, which WAL lets run beside
//! the writer; they see every committed write. Checkpoints (copying the WAL back into the
//! database file) run on a thread of their own every [`CHECKPOINT_INTERVAL`] (more often under
//! load), not inside a commit, so a commit waits for its own fsync only; past
//! [`WAL_LIMIT_FRAMES`] the writer finishes one short checkpoint so the WAL starts over (see
//! [`writer`]).
//!
//! SQL is kept portable (no `RETURNING`, no `ON CONFLICT`, no SQLite-only types besides
//! `BLOB`, which PostgreSQL spells `BYTEA`).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use super::{
    redact_headers, Answer, AttemptRecord, ClaimRequest, ClaimedWork, Completion, Counts,
    DeliveryDetail, DeliveryId, DeliveryStatus, DeliverySummary, Existing, InsertOutcome, Lease,
    ListFilter, NewDelivery, NewWork, PruneRequest, Result, Store, StoreError, TraceEntry,
    TraceRecord, Verdict, WorkBase, WorkId, WorkKind, WorkRecord, WorkStatus,
};
use crate::backoff::Retry;

/// File name of the database inside the state directory.
pub const DB_FILE: &str = "hookflow.db";

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 1024;

/// How often the checkpoint thread copies the WAL into the database file.
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Past this many frames (32 MiB of 4 KiB pages) the WAL is checkpointed and started over, the
/// writer copying the last frames itself if it must (see [`writer`]).
pub const WAL_LIMIT_FRAMES: u32 = 8192;

/// The writer copies the rest of a checkpoint itself only when the checkpoint thread has left
/// at most this many frames (1 MiB, about 2 ms): more would hold up every commit behind it.
const WRITER_CHECKPOINT_FRAMES: u32 = 256;

/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;

/// The schema version this code reads and writes (table `meta`).
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    dedup_key TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    event_type TEXT NOT NULL,
    flow TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    verdict TEXT NOT NULL,
    answer_status INTEGER,
    answer_headers TEXT,
    answer_body BLOB,
    build_id TEXT NOT NULL,
    replay_of TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received_at_ms);
CREATE TABLE IF NOT EXISTS work (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    flow TEXT NOT NULL,
    kind TEXT NOT NULL,
    node INTEGER,
    state_version INTEGER,
    state BLOB NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    retry_base INTEGER NOT NULL,
    due_at_ms BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_ms BIGINT,
    last_error TEXT,
    created_at_ms BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS work_due ON work (status, due_at_ms);
CREATE INDEX IF NOT EXISTS work_delivery ON work (delivery_id);
CREATE TABLE IF NOT EXISTS attempts (
    work_id TEXT NOT NULL REFERENCES work (id),
    number INTEGER NOT NULL,
    owner TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT,
    result TEXT,
    error TEXT,
    PRIMARY KEY (work_id, number)
);
CREATE TABLE IF NOT EXISTS trace_steps (
    seq INTEGER PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    work_id TEXT,
    attempt INTEGER,
    flow TEXT NOT NULL,
    node TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration_us BIGINT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS trace_delivery ON trace_steps (delivery_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
";

/// How the SQLite backend commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Commit queued jobs together (default). `false` commits each job alone (for measuring
    /// what group commit buys).
    pub group_commit: bool,
    /// `synchronous=FULL` (default) rather than NORMAL.
    pub synchronous_full: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            group_commit: true,
            synchronous_full: true,
        }
    }
}

/// A write queued to the writer thread.
trait Job: Send {
    /// Runs the write in the group's transaction and keeps its result; says whether it
    /// succeeded. May run twice (see [`commit_group`]): the second run replaces the first's
    /// result.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the group's commit is known: its result, or `error` (the commit
    /// failed, or the job's savepoint could not be released).
    fn answer(self: Box<Self>, error: Option<String>);
    /// Whether it is an insert of a delivery (counted by [`SqliteStore::insert_commits`]).
    fn is_insert(&self) -> bool;
}

struct WriteJob<T, F> {
    f: F,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
    insert: bool,
}

impl<T, F> Job for WriteJob<T, F>
where
    T: Send + 'static,
    F: Fn(&Connection) -> Result<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let r = (self.f)(conn);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn answer(self: Box<Self>, error: Option<String>) {
        let r = match (error, self.result) {
            (Some(e), _) => Err(StoreError::Db(e)),
            (None, Some(r)) => r,
            (None, None) => Err(StoreError::Db("the write did not run".into())),
        };
        let _ = self.reply.send(r);
    }

    fn is_insert(&self) -> bool {
        self.insert
    }
}

/// Observes commits (the server records them as metrics).
pub type CommitHook = Arc<dyn Fn(std::time::Duration, bool) + Send + Sync>;

/// The SQLite store. Cheap to share behind an `Arc`; dropping it (or [`SqliteStore::close`])
/// stops the writer thread after it finished queued work.
pub struct SqliteStore {
    tx: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    /// Dropped on close: stops the checkpoint thread.
    stop_checkpoints: Mutex<Option<mpsc::Sender<()>>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
    group_commits: Arc<AtomicU64>,
    wal: Arc<WalProgress>,
    /// The database file, for the checkpoint thread's syncs. Closed last, in `drop` after every
    /// connection: closing any descriptor of a file drops all of the process's POSIX locks on it,
    /// SQLite's included, so it must not close while a connection is open.
    _db_file: Arc<std::fs::File>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn open_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Open {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

impl SqliteStore {
    /// Calls `f` with every dedup key in the store (at open, for [`crate::durable::seen`]).
    pub fn each_dedup_key(&self, mut f: impl FnMut(&str)) -> Result<()> {
        self.read(|c| {
            let mut st = c.prepare("SELECT dedup_key FROM deliveries")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                f(r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?);
            }
            Ok(())
        })
    }

    /// Opens (creating if needed) the store in `state_dir` with default options. The directory
    /// must exist.
    pub fn open(state_dir: &Path) -> Result<Self> {
        Self::open_with(state_dir, SqliteOptions::default())
    }

    /// Opens with explicit options.
    pub fn open_with(state_dir: &Path, opts: SqliteOptions) -> Result<Self> {
        Self::open_observed(state_dir, opts, None)
    }

    /// Opens with explicit options and a hook called after every commit attempt with its
    /// duration and whether it succeeded.
    pub fn open_observed(
        state_dir: &Path,
        opts: SqliteOptions,
        on_commit: Option<CommitHook>,
    ) -> Result<Self> {
        if !state_dir.is_dir() {
            return Err(open_err(state_dir, "not a directory"));
        }
        let path = state_dir.join(DB_FILE);
        let mut conn = Connection::open(&path).map_err(|e| open_err(&path, e))?;
        let sync = if opts.synchronous_full {
            "FULL"
        } else {
            "NORMAL"
        };
        conn.execute_batch(&format!(
            "PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; \
             PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=0; \
             PRAGMA journal_size_limit=67108864; PRAGMA cache_size=-8192; PRAGMA temp_store=MEMORY;"
        ))
        .map_err(|e| open_err(&path, e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| open_err(&path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_err(&path, format!("journal_mode is {mode}, not wal")));
        }
        {
            let t = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| open_err(&path, e))?;
            t.execute_batch(SCHEMA).map_err(|e| open_err(&path, e))?;
            let version: String = t
                .query_row(
                    "SELECT value FROM meta WHERE key = 'schema_version'",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| open_err(&path, e))?;
            if version != SCHEMA_VERSION.to_string() {
                return Err(open_err(
                    &path,
                    format!(
                        "the database has schema version {version}; this hookflow reads version \
                         {SCHEMA_VERSION} (was it written by a newer hookflow?)"
                    ),
                ));
            }
            t.commit().map_err(|e| open_err(&path, e))?;
        }
        conn.set_prepared_statement_cache_capacity(64);
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let group = opts.group_commit;
        let group_commits = Arc::new(AtomicU64::new(0));
        let counter = group_commits.clone();
        conn.wal_hook(Some(count_wal_frames));
        let wal = Arc::new(WalProgress::default());
        let progress = wal.clone();
        // Closed when the store and the writer have both dropped their sender: the checkpoint
        // thread then checkpoints once more and ends.
        let (stop_checkpoints, stopped) = mpsc::channel::<()>();
        let nudge = stop_checkpoints.clone();
        let writer_wal = wal.clone();
        let thread = std::thread::Builder::new()
            .name("hookflow-store".into())
            .spawn(move || writer(conn, rx, group, &counter, on_commit, &writer_wal, &nudge))
            .map_err(|e| open_err(&path, e))?;
        let checkpoints = Connection::open(&path).map_err(|e| open_err(&path, e))?;
        checkpoints
            .execute_batch("PRAGMA busy_timeout=5000;")
            .map_err(|e| open_err(&path, e))?;
        let db_file = Arc::new(std::fs::File::open(&path).map_err(|e| open_err(&path, e))?);
        let file = db_file.clone();
        let checkpointer = std::thread::Builder::new()
            .name("hookflow-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpoints, &file, &progress, &stopped))
            .map_err(|e| open_err(&path, e))?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            readers: Mutex::new(Vec::new()),
            stop_checkpoints: Mutex::new(Some(stop_checkpoints)),
            checkpointer: Mutex::new(Some(checkpointer)),
            path,
            group_commits,
            wal,
            _db_file: db_file,
        })
    }

    /// How many transactions holding inserts were committed so far (each holds one or more):
    /// inserts divided by this is the group size.
    pub fn insert_commits(&self) -> u64 {
        self.group_commits.load(Ordering::Relaxed)
    }

    /// How many checkpoints the writer thread completed itself to start the WAL over (see
    /// [`writer`]): at most one per [`WAL_LIMIT_FRAMES`] written, none when idle.
    pub fn writer_checkpoints(&self) -> u64 {
        self.wal.writer_checkpoints.load(Ordering::Relaxed)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting requests, lets the writer finish what is queued, and waits for it.
    /// Later calls return [`StoreError::Closed`].
    pub fn close(&self) {
        if let Ok(mut g) = self.tx.lock() {
            g.take();
        }
        let handle = self.thread.lock().ok().and_then(|mut g| g.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
        if let Ok(mut g) = self.stop_checkpoints.lock() {
            g.take();
        }
        let handle = self.checkpointer.lock().ok().and_then(|mut g| g.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
        if let Ok(mut r) = self.readers.lock() {
            r.clear();
        }
    }

    fn send(&self, job: Box<dyn Job>) -> Result<()> {
        let g = self.tx.lock().map_err(|_| StoreError::Closed)?;
        match g.as_ref() {
            Some(tx) => tx.send(job).map_err(|_| StoreError::Closed),
            None => Err(StoreError::Closed),
        }
    }

    /// Runs the write `f` on the writer thread, in the transaction of its group; answers after
    /// the group's commit. `f` may run twice: a group with a failed write runs again with each
    /// write in a savepoint (see [`commit_group`]).
    async fn write<T: Send + 'static>(
        &self,
        insert: bool,
        f: impl Fn(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.send(Box::new(WriteJob {
            f,
            result: None,
            reply,
            insert,
        }))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs the read `f` on a read connection, in one read transaction (a consistent snapshot).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if self.tx.lock().map_or(true, |g| g.is_none()) {
            return Err(StoreError::Closed);
        }
        let conn = self.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                c.execute_batch("PRAGMA busy_timeout=5000; PRAGMA query_only=ON;")?;
                c.set_prepared_statement_cache_capacity(32);
                c
            }
        };
        // One snapshot for every statement of `f`. Cached statements: parsing BEGIN and COMMIT
        // again for every dedup lookup was a third of its cost.
        let r = (|| {
            conn.prepare_cached("BEGIN")?.execute([])?;
            let r = f(&conn);
            conn.prepare_cached("COMMIT")?.execute([])?;
            r
        })();
        if r.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
        }
        r
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Every connection is closed (close() joins both threads and drops the idle readers,
        // and `&mut self` means no read is in flight); `_db_file` closes after this, with the
        // fields.
        self.close();
    }
}

thread_local! {
    /// Frames in the WAL after the last commit on this thread's connection (the writer's).
    static WAL_FRAMES: Cell<u32> = const { Cell::new(0) };
}

/// The writer connection's WAL hook: SQLite calls it after each commit with the number of frames
/// in the WAL. (The file's size says nothing once the WAL has started over: it keeps its length.)
fn count_wal_frames(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(u32::try_from(frames).unwrap_or(0)));
    Ok(())
}

/// How far the writer and the checkpoint thread have got through the WAL. Each position is a
/// frame count within a generation of the WAL (it starts over after a complete checkpoint),
/// packed as `generation << 32 | frames`, so a checkpoint of an older generation is never
/// taken for progress in the current one.
#[derive(Default)]
struct WalProgress {
    /// Frames after the writer's last commit.
    written: AtomicU64,
    /// Frames copied into the database file by the last checkpoint.
    copied: AtomicU64,
    /// Checkpoints the writer completed itself.
    writer_checkpoints: AtomicU64,
}

/// One PASSIVE checkpoint: (busy, frames in the WAL, frames copied in total). Busy (1) when
/// another checkpoint is running; it then copies nothing.
fn checkpoint_passive(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

fn pack(generation: u32, frames: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(frames)
}

fn unpack(v: u64) -> (u32, u32) {
    let half = |x: u64| u32::try_from(x & 0xffff_ffff).unwrap_or(0);
    (half(v >> 32), half(v))
}

/// Copies the WAL into the database file every [`CHECKPOINT_INTERVAL`] (PASSIVE: never waits for
/// the writer or readers), every 10 ms while the WAL is past half its limit, back to back past
/// it, at once when the writer nudges it, and once more at close. After each, records how many
/// frames are copied.
///
/// SQLite syncs the database file only after a checkpoint that reached the end of the WAL,
/// which under load is only ever the writer's (see [`writer`]): that sync then wrote back
/// everything the checkpoints before it had copied, 32 MiB, and held up every commit for 30 ms.
/// So while the WAL is past half its limit this thread syncs the database file itself after each
/// checkpoint (through the store's `_db_file`), and the writer's sync has only its own few
/// frames to write.
fn checkpoint_loop(
    conn: &Connection,
    db_file: &std::fs::File,
    wal: &WalProgress,
    stop: &mpsc::Receiver<()>,
) {
    // The frames copied in total, after each checkpoint (`None` if it did not run).
    let checkpoint = || {
        let (generation, frames) = unpack(wal.written.load(Ordering::Acquire));
        match checkpoint_passive(conn) {
            Ok((_, _, copied)) => {
                if frames > WAL_LIMIT_FRAMES / 2 {
                    if let Err(e) = db_file.sync_data() {
                        tracing::debug!(error = %e, "cannot sync the database file");
                    }
                }
                let copied = u32::try_from(copied).unwrap_or(0);
                wal.copied
                    .store(pack(generation, copied), Ordering::Release);
                Some(copied)
            }
            Err(e) => {
                tracing::debug!(error = %e, "WAL checkpoint did not run");
                None
            }
        }
    };
    let mut wait = CHECKPOINT_INTERVAL;
    let mut before = None;
    while let Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(wait) {
        let copied = checkpoint();
        let (_, frames) = unpack(wal.written.load(Ordering::Acquire));
        // Past the limit, the next pass at once (the writer's share is what the last pass left;
        // measured: its longest copy 13-21 ms with a 10 ms pause here, 4-7 ms without), unless
        // this one copied nothing (a reader holding old frames): then no busy loop. Past twice
        // the limit the writer copies the rest itself (see [`writer`]); passes back to back would
        // hold the checkpoint lock nearly all the time and make its attempts find it busy.
        let catching_up = frames > WAL_LIMIT_FRAMES && frames <= 2 * WAL_LIMIT_FRAMES;
        wait = if catching_up && copied.is_some() && copied != before {
            std::time::Duration::ZERO
        } else if frames > WAL_LIMIT_FRAMES / 2 {
            std::time::Duration::from_millis(10)
        } else {
            CHECKPOINT_INTERVAL
        };
        before = copied;
    }
    checkpoint();
}

/// The writer thread: takes every queued job into one group commit.
///
/// Under sustained writes the checkpoint thread's PASSIVE checkpoints never finish: SQLite
/// starts the WAL over only after a checkpoint copied all of it, and the writer appends while
/// the checkpoint copies. The file grew by every delivery for as long as the load lasted (1.2 GB
/// in 10 s at 12k deliveries/s). So past [`WAL_LIMIT_FRAMES`], once the checkpoint thread has
/// copied all but the last [`WRITER_CHECKPOINT_FRAMES`], the writer copies those itself between
/// two groups: nothing is appended meanwhile, so that checkpoint completes and the next commit
/// starts the WAL over (truncated to `journal_size_limit`). That is one short checkpoint by the
/// writer per [`WAL_LIMIT_FRAMES`] written; a longer one when the checkpoint thread falls behind
/// past twice the limit.
///
/// Measured alternatives: TRUNCATE from the checkpoint thread made writer and checkpointer wait
/// on each other through SQLite's busy handler's sleeps (p99 over a second); the writer copying
/// whatever was left whenever the WAL was big took a quarter of its time under load; deciding by
/// the WAL file's size (which stays at its largest after the WAL starts over) had the writer
/// checkpoint after two groups in five, half of its time.
fn writer(
    mut conn: Connection,
    rx: mpsc::Receiver<Box<dyn Job>>,
    group: bool,
    commits: &AtomicU64,
    on_commit: Option<CommitHook>,
    wal: &WalProgress,
    nudge: &mpsc::Sender<()>,
) {
    let limit = if group { MAX_BATCH } else { 1 };
    let (mut generation, mut last) = (0u32, 0u32);
    let mut nudged = false;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < limit {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        commit_group(&mut conn, batch, commits, on_commit.as_ref());
        let frames = WAL_FRAMES.with(Cell::get);
        if frames < last {
            // The WAL started over with this commit.
            generation = generation.wrapping_add(1);
            nudged = false;
        }
        last = frames;
        wal.written
            .store(pack(generation, frames), Ordering::Release);
        if frames <= WAL_LIMIT_FRAMES {
            continue;
        }
        let (copied_in, copied) = unpack(wal.copied.load(Ordering::Acquire));
        let left = if copied_in == generation {
            frames.saturating_sub(copied)
        } else {
            frames
        };
        // Past twice the limit the checkpoint thread is not keeping up (writes faster than it
        // copies and syncs): the writer copies what is left, however much, to keep the WAL
        // bounded.
        if left <= WRITER_CHECKPOINT_FRAMES || frames > 2 * WAL_LIMIT_FRAMES {
            // Busy while the checkpoint thread is in the middle of one; then the writer tries
            // again after its next group.
            match checkpoint_passive(&conn) {
                Ok((0, log, copied)) if log == copied => {
                    wal.writer_checkpoints.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "WAL checkpoint by the writer did not run"),
            }
        } else if !nudged {
            // The checkpoint thread may be asleep for most of CHECKPOINT_INTERVAL.
            nudged = nudge.send(()).is_ok();
        }
    }
}

/// Runs a group of jobs in one transaction, commits once, then answers every caller.
///
/// Optimistically first: every job straight in the transaction. Nearly every group passes, and
/// a savepoint per job cost a sixth of the writer's time (SQLite copies every page a savepoint
/// touches first, ~12 B-tree pages per delivery). If a job fails, the group is rolled back and
/// run again with each job in its own savepoint, so that only the failed one is undone.
fn commit_group(
    conn: &mut Connection,
    mut batch: Vec<Box<dyn Job>>,
    commits: &AtomicU64,
    on_commit: Option<&CommitHook>,
) {
    let began = Instant::now();
    let has_insert = batch.iter().any(|j| j.is_insert());
    let outcome = run_group(conn, &mut batch);
    if let Some(h) = on_commit {
        h(began.elapsed(), outcome.is_ok());
    }
    match outcome {
        Ok(errors) => {
            if has_insert {
                commits.fetch_add(1, Ordering::Relaxed);
            }
            for (job, error) in batch.into_iter().zip(errors) {
                job.answer(error);
            }
        }
        Err(e) => {
            for job in batch {
                job.answer(Some(e.clone()));
            }
        }
    }
}

/// [`commit_group`]'s transaction: per job, the error to answer instead of its result (its
/// savepoint could not be released); or the error every job gets (the group did not commit).
fn run_group(
    conn: &mut Connection,
    batch: &mut [Box<dyn Job>],
) -> std::result::Result<Vec<Option<String>>, String> {
    // IMMEDIATE: take the write lock first (waiting up to busy_timeout for another process,
    // e.g. `hookflow deliveries retry-dead`), so that a read-then-write job never fails with
    // SQLITE_BUSY_SNAPSHOT because someone else committed in between.
    let begin = |conn: &mut Connection| {
        conn.prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(|e| e.to_string())
    };
    let commit = |conn: &mut Connection| {
        conn.prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                format!("commit failed: {e}")
            })
    };
    begin(conn)?;
    if batch.iter_mut().all(|job| job.run(conn)) {
        commit(conn)?;
        return Ok(vec![None; batch.len()]);
    }
    // (Some errors end the transaction themselves.)
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK").map_err(|e| e.to_string())?;
    }
    begin(conn)?;
    let mut errors = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        let error = match conn.savepoint() {
            Ok(mut sp) => {
                if job.run(&sp) {
                    sp.commit().err().map(|e| e.to_string())
                } else {
                    let _ = sp.rollback();
                    None
                }
            }
            Err(e) => Some(e.to_string()),
        };
        errors.push(error);
    }
    commit(conn)?;
    Ok(errors)
}

fn headers_to_json(h: &[(String, String)]) -> Result<String> {
    serde_json::to_string(h).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn headers_from_json(s: &str) -> Result<Vec<(String, String)>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("headers: {e}")))
}

fn answer_from(
    status: Option<i64>,
    headers: Option<String>,
    body: Option<Vec<u8>>,
) -> Result<Option<Answer>> {
    match status {
        None => Ok(None),
        Some(s) => Ok(Some(Answer {
            status: u16::try_from(s).map_err(|_| StoreError::Corrupt(format!("status {s}")))?,
            headers: headers_from_json(headers.as_deref().unwrap_or("[]"))?,
            body: body.unwrap_or_default(),
        })),
    }
}

fn lookup_key(c: &Connection, key: &str) -> Result<Option<Existing>> {
    let row = c
        .prepare_cached(
            "SELECT id, answer_status, answer_headers, answer_body FROM deliveries WHERE dedup_key = ?1",
        )?
        .query_row(params![key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
            ))
        })
        .optional()?;
    match row {
        None => Ok(None),
        Some((id, s, h, b)) => Ok(Some(Existing {
            delivery_id: DeliveryId(id),
            answer: answer_from(s, h, b)?,
        })),
    }
}

/// A delivery's columns that take work to build (its redacted headers and its answer's headers
/// as JSON), built on the caller's thread: the writer thread is the store's bottleneck.
struct Encoded {
    headers: String,
    answer_headers: Option<String>,
}

impl Encoded {
    fn of(d: &NewDelivery) -> Result<Self> {
        Ok(Self {
            headers: headers_to_json(&redact_headers(&d.headers))?,
            answer_headers: d
                .answer
                .as_ref()
                .map(|a| headers_to_json(&a.headers))
                .transpose()?,
        })
    }
}

/// Stores a delivery, or reports the first one with its dedup key. The insert is tried first
/// (the unique dedup key decides): a repeat is rare, a lookup before every insert is not.
fn insert_one(t: &Connection, d: &NewDelivery, e: &Encoded) -> Result<InsertOutcome> {
    match insert_row(t, d, e) {
        Ok(()) => {}
        Err(e @ rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            return match lookup_key(t, &d.dedup_key)? {
                Some(first) => Ok(InsertOutcome::Duplicate {
                    delivery_id: first.delivery_id,
                    answer: first.answer,
                }),
                // Another constraint (a clashing id): a real error.
                None => Err(e.into()),
            };
        }
        Err(e) => return Err(e.into()),
    }
    insert_work(t, &d.id, 0, &d.work, d.received_at_ms, d.lease.as_ref())?;
    append_steps(t, &d.id, &d.trace)?;
    Ok(InsertOutcome::Inserted)
}

fn insert_row(t: &Connection, d: &NewDelivery, e: &Encoded) -> rusqlite::Result<()> {
    let (a_status, a_body) = match &d.answer {
        Some(a) => (Some(i64::from(a.status)), Some(a.body.as_slice())),
        None => (None, None),
    };
    t.prepare_cached(
        "INSERT INTO deliveries (id, event_id, dedup_key, tenant, event_type, flow, received_at_ms, \
         headers, body, verdict, answer_status, answer_headers, answer_body, build_id, replay_of) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        d.id.0,
        d.event_id,
        d.dedup_key,
        d.tenant,
        d.event_type,
        d.flow,
        d.received_at_ms,
        e.headers,
        d.body.as_ref(),
        d.verdict.as_str(),
        a_status,
        e.answer_headers,
        a_body,
        d.build_id,
        d.replay_of.as_ref().map(|r| r.0.clone()),
    ])?;
    Ok(())
}

/// Inserts work for a delivery after its first `after` items, due at `now_ms`, in the given
/// order: pending, or running under `lease` with its first attempt started.
fn insert_work(
    t: &Connection,
    delivery: &DeliveryId,
    after: i64,
    work: &[NewWork],
    now_ms: i64,
    lease: Option<&Lease>,
) -> Result<()> {
    if work.is_empty() {
        return Ok(());
    }
    let mut seq = after;
    let mut q = t.prepare_cached(
        "INSERT INTO work (id, delivery_id, flow, kind, node, state_version, state, status, \
         attempts, retry_base, due_at_ms, created_at_ms, seq, lease_owner, lease_expires_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?10, ?11, 0, ?8, ?8, ?9, ?12, ?13)",
    )?;
    let mut attempt = t.prepare_cached(
        "INSERT INTO attempts (work_id, number, owner, started_at_ms) VALUES (?1, 1, ?2, ?3)",
    )?;
    let (status, attempts) = if lease.is_some() {
        ("running", 1)
    } else {
        ("pending", 0)
    };
    for w in work {
        seq += 1;
        let (kind, node, version, state) = match &w.kind {
            WorkKind::Continue {
                node,
                state_version,
                state,
            } => (
                "continue",
                Some(i64::from(*node)),
                Some(i64::from(*state_version)),
                state,
            ),
            WorkKind::Start { payload } => ("start", None, None, payload),
        };
        q.execute(params![
            w.id.0,
            delivery.0,
            w.flow,
            kind,
            node,
            version,
            state,
            now_ms,
            seq,
            status,
            attempts,
            lease.map(|l| l.owner.as_str()),
            lease.map(|l| l.expires_ms),
        ])?;
        if let Some(l) = lease {
            attempt.execute(params![w.id.0, l.owner, now_ms])?;
        }
    }
    Ok(())
}

/// Appends the steps of the run up to a delivery's answer (or of `append_trace`).
fn append_steps(t: &Connection, id: &DeliveryId, steps: &[TraceRecord]) -> Result<()> {
    insert_steps(
        t,
        "INSERT INTO trace_steps (delivery_id, flow, node, outcome, duration_us, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &id.0,
        steps,
    )
}

/// Appends the steps of the current attempt of work `id` to its delivery's path.
fn append_attempt_steps(t: &Connection, id: &WorkId, steps: &[TraceRecord]) -> Result<()> {
    insert_steps(
        t,
        "INSERT INTO trace_steps (delivery_id, work_id, attempt, flow, node, outcome, duration_us, \
         error) SELECT delivery_id, id, attempts, ?2, ?3, ?4, ?5, ?6 FROM work WHERE id = ?1",
        &id.0,
        steps,
    )
}

/// Runs `sql` once per step: `?1` is `key`, `?2` to `?6` the step's flow, node, outcome,
/// duration and error.
fn insert_steps(t: &Connection, sql: &str, key: &str, steps: &[TraceRecord]) -> Result<()> {
    let mut q = t.prepare_cached(sql)?;
    for s in steps {
        q.execute(params![
            key,
            s.flow,
            s.node,
            s.outcome,
            s.duration_us.map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
            s.error
        ])?;
    }
    Ok(())
}

fn kind_from(
    kind: &str,
    node: Option<i64>,
    version: Option<i64>,
    state: Vec<u8>,
) -> Result<WorkKind> {
    let as_u32 = |v: Option<i64>, what: &str| {
        v.and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("work {what}")))
    };
    match kind {
        "continue" => Ok(WorkKind::Continue {
            node: as_u32(node, "node")?,
            state_version: as_u32(version, "state_version")?,
            state,
        }),
        "start" => Ok(WorkKind::Start { payload: state }),
        o => Err(StoreError::Corrupt(format!("work kind {o:?}"))),
    }
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Ends the current attempt of work `id` and leaves the work with `status` (due `due_ms`,
/// `error` kept), if `owner` still holds its lease; else `LeaseLost` (and nothing is written).
fn finish(
    t: &Connection,
    id: &WorkId,
    owner: &str,
    now_ms: i64,
    status: WorkStatus,
    due_ms: Option<i64>,
    error: Option<&str>,
) -> Result<()> {
    let n = t
        .prepare_cached(
            "UPDATE work SET status = ?3, due_at_ms = COALESCE(?4, due_at_ms), \
             last_error = COALESCE(?5, last_error), lease_owner = NULL, lease_expires_ms = NULL \
             WHERE id = ?1 AND status = 'running' AND lease_owner = ?2",
        )?
        .execute(params![id.0, owner, status.as_str(), due_ms, error])?;
    if n == 0 {
        return Err(StoreError::LeaseLost(id.clone()));
    }
    t.prepare_cached(
        "UPDATE attempts SET ended_at_ms = ?2, result = ?3, error = ?4 \
         WHERE work_id = ?1 AND number = (SELECT attempts FROM work WHERE id = ?1)",
    )?
    .execute(params![
        id.0,
        now_ms,
        if error.is_some() { "error" } else { "ok" },
        error
    ])?;
    Ok(())
}

const STATUS_EXPR: &str = "CASE \
    WHEN EXISTS (SELECT 1 FROM work w WHERE w.delivery_id = d.id AND w.status = 'dead') THEN 'dead' \
    WHEN EXISTS (SELECT 1 FROM work w WHERE w.delivery_id = d.id AND w.status = 'running') THEN 'running' \
    WHEN EXISTS (SELECT 1 FROM work w WHERE w.delivery_id = d.id AND w.status = 'pending') THEN 'pending' \
    WHEN EXISTS (SELECT 1 FROM work w WHERE w.delivery_id = d.id) THEN 'done' \
    ELSE 'answered' END";

const SUMMARY_COLUMNS: &str = "d.id, d.event_id, d.tenant, d.event_type, d.flow, \
    d.received_at_ms, d.verdict, d.answer_status";

fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SummaryRow> {
    Ok(SummaryRow {
        id: r.get(0)?,
        event_id: r.get(1)?,
        tenant: r.get(2)?,
        event_type: r.get(3)?,
        flow: r.get(4)?,
        received_at_ms: r.get(5)?,
        verdict: r.get(6)?,
        answer_status: r.get(7)?,
        status: r.get(8)?,
        replay_of: r.get(9)?,
    })
}

struct SummaryRow {
    id: String,
    event_id: String,
    tenant: String,
    event_type: String,
    flow: String,
    received_at_ms: i64,
    verdict: String,
    answer_status: Option<i64>,
    status: String,
    replay_of: Option<String>,
}

fn summary_from(row: SummaryRow) -> Result<DeliverySummary> {
    Ok(DeliverySummary {
        id: DeliveryId(row.id),
        event_id: row.event_id,
        tenant: row.tenant,
        event_type: row.event_type,
        flow: row.flow,
        received_at_ms: row.received_at_ms,
        verdict: Verdict::parse(&row.verdict)?,
        answer_status: row.answer_status.and_then(|s| u16::try_from(s).ok()),
        status: DeliveryStatus::parse(&row.status)?,
        replay_of: row.replay_of.map(DeliveryId),
    })
}

fn claim_in(t: &Connection, req: &ClaimRequest) -> Result<Vec<ClaimedWork>> {
    let limited = req.per_flow_limit.is_some() || !req.flow_limits.is_empty();
    let mut running: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    if limited {
        let mut q = t.prepare_cached(
            "SELECT flow, COUNT(*) FROM work WHERE status = 'running' GROUP BY flow",
        )?;
        let rows = q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (f, n) = row?;
            running.insert(f, to_u32(n));
        }
    }
    let mut out = Vec::new();
    let lease_expires_ms = req.now_ms.saturating_add(req.lease_ms);
    {
        let mut q = t.prepare_cached(
            "SELECT w.id, w.delivery_id, w.flow, w.kind, w.node, w.state_version, w.state, \
             w.attempts, w.retry_base, d.tenant, d.event_type, d.event_id, d.headers, w.seq, d.body \
             FROM work w JOIN deliveries d ON d.id = w.delivery_id \
             WHERE w.status = 'pending' AND w.due_at_ms <= ?1 \
             ORDER BY w.due_at_ms, w.created_at_ms, w.seq, w.id",
        )?;
        let mut rows = q.query(params![req.now_ms])?;
        while out.len() < req.limit as usize {
            let Some(r) = rows.next()? else { break };
            let flow: String = r.get(2)?;
            if limited {
                let limit = req
                    .flow_limits
                    .get(&flow)
                    .copied()
                    .or(req.per_flow_limit)
                    .unwrap_or(u32::MAX);
                let n = running.entry(flow.clone()).or_insert(0);
                if *n >= limit {
                    continue;
                }
                *n += 1;
            }
            let attempts: i64 = r.get(7)?;
            let base: i64 = r.get(8)?;
            out.push(ClaimedWork {
                id: WorkId(r.get(0)?),
                delivery_id: DeliveryId(r.get(1)?),
                base: WorkBase {
                    body: r.get(14)?,
                    tenant: r.get(9)?,
                    event_type: r.get(10)?,
                    event_id: r.get(11)?,
                    headers: headers_from_json(&r.get::<_, String>(12)?)?,
                },
                kind: kind_from(&r.get::<_, String>(3)?, r.get(4)?, r.get(5)?, r.get(6)?)?,
                flow,
                seq: to_u32(r.get(13)?),
                attempt: to_u32(attempts + 1 - base),
                lease_expires_ms,
            });
        }
    }
    let mut lease = t.prepare_cached(
        "UPDATE work SET status = 'running', attempts = attempts + 1, lease_owner = ?2, \
         lease_expires_ms = ?3 WHERE id = ?1",
    )?;
    let mut attempt = t.prepare_cached(
        "INSERT INTO attempts (work_id, number, owner, started_at_ms) \
         SELECT id, attempts, ?2, ?3 FROM work WHERE id = ?1",
    )?;
    for w in &out {
        lease.execute(params![w.id.0, req.owner, lease_expires_ms])?;
        attempt.execute(params![w.id.0, req.owner, req.now_ms])?;
    }
    Ok(out)
}

fn get_in(t: &Connection, id: &DeliveryId) -> Result<Option<DeliveryDetail>> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, {STATUS_EXPR}, d.replay_of, d.dedup_key, d.headers, d.body, \
         d.answer_headers, d.answer_body, d.build_id FROM deliveries d WHERE d.id = ?1"
    );
    let row = t
        .prepare_cached(&sql)?
        .query_row(params![id.0], |r| {
            Ok((
                summary_row(r)?,
                r.get::<_, String>(10)?,
                r.get::<_, String>(11)?,
                r.get::<_, Vec<u8>>(12)?,
                r.get::<_, Option<String>>(13)?,
                r.get::<_, Option<Vec<u8>>>(14)?,
                r.get::<_, String>(15)?,
            ))
        })
        .optional()?;
    let Some((sum, dedup_key, headers, body, ah, ab, build_id)) = row else {
        return Ok(None);
    };
    let answer = answer_from(sum.answer_status, ah, ab)?;
    let summary = summary_from(sum)?;
    let mut work = Vec::new();
    {
        let mut q = t.prepare_cached(
            "SELECT id, flow, kind, node, state_version, state, status, attempts, due_at_ms, \
             lease_owner, last_error FROM work WHERE delivery_id = ?1 ORDER BY seq, id",
        )?;
        let mut rows = q.query(params![id.0])?;
        while let Some(r) = rows.next()? {
            work.push(WorkRecord {
                id: WorkId(r.get(0)?),
                flow: r.get(1)?,
                kind: kind_from(&r.get::<_, String>(2)?, r.get(3)?, r.get(4)?, r.get(5)?)?,
                status: WorkStatus::parse(&r.get::<_, String>(6)?)?,
                attempts: to_u32(r.get(7)?),
                due_at_ms: r.get(8)?,
                lease_owner: r.get(9)?,
                last_error: r.get(10)?,
            });
        }
    }
    let mut attempts = Vec::new();
    {
        let mut q = t.prepare_cached(
            "SELECT a.work_id, a.number, a.owner, a.started_at_ms, a.ended_at_ms, a.result, a.error \
             FROM attempts a JOIN work w ON w.id = a.work_id WHERE w.delivery_id = ?1 \
             ORDER BY w.seq, a.work_id, a.number",
        )?;
        let rows = q.query_map(params![id.0], |r| {
            Ok(AttemptRecord {
                work_id: WorkId(r.get(0)?),
                number: to_u32(r.get(1)?),
                owner: r.get(2)?,
                started_at_ms: r.get(3)?,
                ended_at_ms: r.get(4)?,
                result: r.get(5)?,
                error: r.get(6)?,
            })
        })?;
        for a in rows {
            attempts.push(a?);
        }
    }
    let mut trace = Vec::new();
    {
        let mut q = t.prepare_cached(
            "SELECT flow, node, outcome, duration_us, error, work_id, attempt FROM trace_steps \
             WHERE delivery_id = ?1 ORDER BY seq",
        )?;
        let rows = q.query_map(params![id.0], |r| {
            Ok(TraceEntry {
                step: TraceRecord {
                    flow: r.get(0)?,
                    node: r.get(1)?,
                    outcome: r.get(2)?,
                    duration_us: r
                        .get::<_, Option<i64>>(3)?
                        .map(|d| u64::try_from(d).unwrap_or(0)),
                    error: r.get(4)?,
                },
                work_id: r.get::<_, Option<String>>(5)?.map(WorkId),
                attempt: r.get::<_, Option<i64>>(6)?.map(to_u32),
            })
        })?;
        for s in rows {
            trace.push(s?);
        }
    }
    Ok(Some(DeliveryDetail {
        summary,
        dedup_key,
        headers: headers_from_json(&headers)?,
        body,
        answer,
        build_id,
        work,
        attempts,
        trace,
    }))
}

impl Store for SqliteStore {
    async fn insert(&self, d: NewDelivery) -> Result<InsertOutcome> {
        let encoded = Encoded::of(&d)?;
        // Shared with the job so that the last owner, which frees the body and the rest, is this
        // task and not the writer thread (freeing memory another thread allocated is slow in
        // glibc's allocator, and the writer is the bottleneck).
        let d = Arc::new((d, encoded));
        let job = d.clone();
        self.write(true, move |t| insert_one(t, &job.0, &job.1))
            .await
    }

    async fn lookup(&self, dedup_key: String) -> Result<Option<Existing>> {
        self.read(|c| lookup_key(c, &dedup_key))
    }

    async fn record_answer(&self, id: DeliveryId, answer: Answer) -> Result<()> {
        self.write(false, move |t| {
            let n = t
                .prepare_cached(
                    "UPDATE deliveries SET answer_status = ?2, answer_headers = ?3, answer_body = ?4 WHERE id = ?1",
                )?
                .execute(params![
                    id.0,
                    i64::from(answer.status),
                    headers_to_json(&answer.headers)?,
                    answer.body
                ])?;
            if n == 0 {
                return Err(StoreError::Db(format!("no delivery {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn append_trace(&self, id: DeliveryId, steps: Vec<TraceRecord>) -> Result<()> {
        self.write(false, move |t| append_steps(t, &id, &steps))
            .await
    }

    async fn claim(&self, req: ClaimRequest) -> Result<Vec<ClaimedWork>> {
        self.write(false, move |t| claim_in(t, &req)).await
    }

    async fn complete(
        &self,
        id: WorkId,
        owner: String,
        now_ms: i64,
        done: Completion,
    ) -> Result<()> {
        self.write(false, move |t| {
            finish(t, &id, &owner, now_ms, WorkStatus::Done, None, None)?;
            append_attempt_steps(t, &id, &done.trace)?;
            if !done.work.is_empty() {
                let (delivery, after): (String, i64) = t
                    .prepare_cached(
                        "SELECT w.delivery_id, (SELECT MAX(seq) FROM work o WHERE o.delivery_id = w.delivery_id) \
                         FROM work w WHERE w.id = ?1",
                    )?
                    .query_row(params![id.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
                insert_work(t, &DeliveryId(delivery), after, &done.work, now_ms, None)?;
            }
            Ok(())
        })
        .await
    }

    async fn fail(
        &self,
        id: WorkId,
        owner: String,
        error: String,
        now_ms: i64,
        retry: Retry,
        trace: Vec<TraceRecord>,
    ) -> Result<()> {
        self.write(false, move |t| {
            let (status, due) = match retry {
                Retry::At(at) => (WorkStatus::Pending, at),
                Retry::Dead => (WorkStatus::Dead, now_ms),
            };
            finish(t, &id, &owner, now_ms, status, Some(due), Some(&error))?;
            append_attempt_steps(t, &id, &trace)?;
            Ok(())
        })
        .await
    }

    async fn recover_expired(&self, now_ms: i64) -> Result<u64> {
        self.write(false, move |t| {
            t.execute(
                "UPDATE attempts SET ended_at_ms = ?1, result = 'lease_expired' WHERE result IS NULL AND \
                 EXISTS (SELECT 1 FROM work w WHERE w.id = attempts.work_id AND w.status = 'running' \
                 AND w.lease_expires_ms <= ?1 AND w.attempts = attempts.number)",
                params![now_ms],
            )?;
            let n = t.execute(
                "UPDATE work SET status = 'pending', lease_owner = NULL, lease_expires_ms = NULL, \
                 due_at_ms = CASE WHEN due_at_ms < ?1 THEN due_at_ms ELSE ?1 END \
                 WHERE status = 'running' AND lease_expires_ms <= ?1",
                params![now_ms],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn counts(&self) -> Result<Counts> {
        self.read(|t| {
            let mut q = t.prepare_cached("SELECT COUNT(*) FROM work WHERE status = ?1")?;
            let mut n = |s: WorkStatus| -> Result<u64> {
                let c: i64 = q.query_row(params![s.as_str()], |r| r.get(0))?;
                Ok(u64::try_from(c).unwrap_or(0))
            };
            Ok(Counts {
                pending: n(WorkStatus::Pending)?,
                running: n(WorkStatus::Running)?,
                done: n(WorkStatus::Done)?,
                dead: n(WorkStatus::Dead)?,
            })
        })
    }

    async fn list(&self, filter: ListFilter) -> Result<Vec<DeliverySummary>> {
        self.read(|t| {
            let sql = format!(
                "SELECT * FROM (SELECT {SUMMARY_COLUMNS}, {STATUS_EXPR} AS status, d.replay_of \
                 FROM deliveries d WHERE (?4 IS NULL OR d.event_id = ?4)) s \
                 WHERE (?1 IS NULL OR s.status = ?1) AND (?2 IS NULL OR s.event_type = ?2) \
                 ORDER BY s.received_at_ms DESC, s.id LIMIT ?3"
            );
            let mut q = t.prepare_cached(&sql)?;
            let rows = q.query_map(
                params![
                    filter.status.map(|s| s.as_str()),
                    filter.event_type,
                    i64::from(filter.limit),
                    filter.event_id
                ],
                summary_row,
            )?;
            let mut out = Vec::new();
            for row in rows {
                out.push(summary_from(row?)?);
            }
            Ok(out)
        })
    }

    async fn get(&self, id: DeliveryId) -> Result<Option<DeliveryDetail>> {
        self.read(|t| get_in(t, &id))
    }

    async fn retry_dead(&self, event_type: Option<String>, now_ms: i64) -> Result<u64> {
        self.write(false, move |t| {
            let n = t.execute(
                "UPDATE work SET status = 'pending', due_at_ms = ?1, retry_base = attempts \
                 WHERE status = 'dead' AND (?2 IS NULL OR delivery_id IN \
                 (SELECT id FROM deliveries WHERE event_type = ?2))",
                params![now_ms, event_type],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn prune(&self, req: PruneRequest) -> Result<u64> {
        self.write(false, move |t| {
            let keep = req.keep_last.map(|k| i64::try_from(k).unwrap_or(i64::MAX));
            // Candidates: old, or beyond the newest `keep`; never with unfinished or dead work.
            t.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS prune_ids (id TEXT PRIMARY KEY); DELETE FROM prune_ids;",
            )?;
            t.execute(
                "INSERT INTO prune_ids (id) SELECT d.id FROM deliveries d WHERE \
                 ((?1 IS NOT NULL AND d.received_at_ms < ?1) OR \
                  (?2 IS NOT NULL AND d.id NOT IN (SELECT k.id FROM deliveries k \
                   ORDER BY k.received_at_ms DESC, k.id LIMIT ?2))) \
                 AND NOT EXISTS (SELECT 1 FROM work w WHERE w.delivery_id = d.id \
                   AND w.status IN ('pending', 'running', 'dead'))",
                params![req.older_than_ms, keep],
            )?;
            t.execute(
                "DELETE FROM attempts WHERE work_id IN (SELECT w.id FROM work w JOIN prune_ids p ON p.id = w.delivery_id)",
                [],
            )?;
            t.execute(
                "DELETE FROM work WHERE delivery_id IN (SELECT id FROM prune_ids)",
                [],
            )?;
            t.execute(
                "DELETE FROM trace_steps WHERE delivery_id IN (SELECT id FROM prune_ids)",
                [],
            )?;
            let n = t.execute(
                "DELETE FROM deliveries WHERE id IN (SELECT id FROM prune_ids)",
                [],
            )?;
            t.execute("DELETE FROM prune_ids", [])?;
            Ok(n as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Reply = oneshot::Receiver<Result<()>>;

    /// A job that inserts `key` into `meta`, then fails if `fail`.
    fn job(key: &str, fail: bool, insert: bool) -> (Box<dyn Job>, Reply) {
        let (reply, rx) = oneshot::channel();
        let key = key.to_string();
        let f = move |c: &Connection| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, 'x')",
                params![key],
            )?;
            if fail {
                return Err(StoreError::Db(format!("{key} failed")));
            }
            Ok(())
        };
        let j = WriteJob {
            f,
            result: None,
            reply,
            insert,
        };
        (Box::new(j), rx)
    }

    fn keys(c: &Connection) -> Result<Vec<String>> {
        let mut st = c.prepare("SELECT key FROM meta WHERE key LIKE 'k%' ORDER BY key")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn answer(rx: Reply) -> Result<()> {
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    #[test]
    fn a_failed_write_is_undone_alone_and_the_rest_of_its_group_commits() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        let commits = AtomicU64::new(0);
        let (a, ra) = job("k1", false, true);
        let (b, rb) = job("k2", true, false);
        let (c, rc) = job("k3", false, false);
        commit_group(&mut conn, vec![a, b, c], &commits, None);
        assert_eq!(keys(&conn)?, vec!["k1".to_string(), "k3".to_string()]);
        answer(ra)?;
        assert!(matches!(answer(rb), Err(StoreError::Db(m)) if m == "k2 failed"));
        answer(rc)?;
        assert_eq!(commits.load(Ordering::Relaxed), 1);
        // A group without failures commits in one pass.
        let (d, rd) = job("k4", false, false);
        commit_group(&mut conn, vec![d], &commits, None);
        answer(rd)?;
        assert_eq!(keys(&conn)?.len(), 3);
        assert!(conn.is_autocommit(), "no transaction left open");
        Ok(())
    }

    #[test]
    fn when_the_group_cannot_begin_every_job_gets_the_error() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch("BEGIN")?; // a transaction already open: BEGIN IMMEDIATE fails
        let (a, ra) = job("k1", false, false);
        let (b, rb) = job("k2", false, false);
        commit_group(&mut conn, vec![a, b], &AtomicU64::new(0), None);
        assert!(answer(ra).is_err());
        assert!(answer(rb).is_err());
        Ok(())
    }
}
