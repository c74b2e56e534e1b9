//! The embedded SQLite backend of [`Store`]: one file `hookflow.db` in the state directory, WAL
//! mode, one writer thread that owns the connection and commits queued inserts in groups (many
//! concurrent inserts share one transaction and one fsync).
//!
//! `synchronous=FULL` by default: in WAL mode NORMAL may lose the last commits on power loss,
//! which would break "never a 2xx for something not stored". Group commit pays for it.
//! SQL is kept portable (no `RETURNING`, no `ON CONFLICT`, no SQLite-only types besides
//! `BLOB`, which PostgreSQL spells `BYTEA`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use tokio::sync::oneshot;

use super::{
    redact_headers, Answer, AttemptRecord, ClaimRequest, ClaimedWork, Counts, DeliveryDetail,
    DeliveryId, DeliveryStatus, DeliverySummary, InsertOutcome, ListFilter, NewDelivery,
    PruneRequest, Result, Store, StoreError, TraceRecord, Verdict, WorkId, WorkKind, WorkRecord,
    WorkStatus,
};
use crate::backoff::Retry;

/// File name of the database inside the state directory.
pub const DB_FILE: &str = "hookflow.db";

/// Most inserts committed in one transaction.
const MAX_BATCH: usize = 1024;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
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
    created_at_ms BIGINT NOT NULL
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
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    seq INTEGER NOT NULL,
    node TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration_us BIGINT NOT NULL,
    error TEXT,
    PRIMARY KEY (delivery_id, seq)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
";

/// How the SQLite backend commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Commit queued inserts together (default). `false` commits each insert alone (for
    /// measuring what group commit buys).
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

type Task = Box<dyn FnOnce(&mut Connection) + Send>;
type InsertReply = oneshot::Sender<Result<InsertOutcome>>;

enum Job {
    Insert(Box<NewDelivery>, InsertReply),
    Run(Task),
}

/// The SQLite store. Cheap to share behind an `Arc`; dropping it (or [`SqliteStore::close`])
/// stops the writer thread after it finished queued work.
pub struct SqliteStore {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
    group_commits: Arc<AtomicU64>,
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
    /// Opens (creating if needed) the store in `state_dir` with default options. The directory
    /// must exist.
    pub fn open(state_dir: &Path) -> Result<Self> {
        Self::open_with(state_dir, SqliteOptions::default())
    }

    /// Opens with explicit options.
    pub fn open_with(state_dir: &Path, opts: SqliteOptions) -> Result<Self> {
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
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON; \
             PRAGMA busy_timeout=5000;"
        ))
        .map_err(|e| open_err(&path, e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| open_err(&path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_err(&path, format!("journal_mode is {mode}, not wal")));
        }
        {
            let t = conn.transaction().map_err(|e| open_err(&path, e))?;
            t.execute_batch(SCHEMA).map_err(|e| open_err(&path, e))?;
            t.commit().map_err(|e| open_err(&path, e))?;
        }
        let (tx, rx) = mpsc::channel::<Job>();
        let group = opts.group_commit;
        let group_commits = Arc::new(AtomicU64::new(0));
        let counter = group_commits.clone();
        let thread = std::thread::Builder::new()
            .name("hookflow-store".into())
            .spawn(move || writer(conn, rx, group, &counter))
            .map_err(|e| open_err(&path, e))?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            path,
            group_commits,
        })
    }

    /// How many insert transactions were committed so far (each holds one or more inserts):
    /// inserts divided by this is the group size.
    pub fn insert_commits(&self) -> u64 {
        self.group_commits.load(Ordering::Relaxed)
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
    }

    fn send(&self, job: Job) -> Result<()> {
        let g = self.tx.lock().map_err(|_| StoreError::Closed)?;
        match g.as_ref() {
            Some(tx) => tx.send(job).map_err(|_| StoreError::Closed),
            None => Err(StoreError::Closed),
        }
    }

    /// Runs `f` in its own transaction on the writer thread.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let task: Task = Box::new(move |conn: &mut Connection| {
            let r = (|| {
                let t = conn.transaction()?;
                let v = f(&t)?;
                t.commit()?;
                Ok(v)
            })();
            let _ = tx.send(r);
        });
        self.send(Job::Run(task))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Job>, group: bool, commits: &AtomicU64) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let mut inserts: Vec<(Box<NewDelivery>, InsertReply)> = Vec::new();
        for job in batch {
            match job {
                Job::Insert(d, reply) => {
                    inserts.push((d, reply));
                    if !group {
                        flush(&mut conn, &mut inserts, commits);
                    }
                }
                Job::Run(task) => {
                    flush(&mut conn, &mut inserts, commits);
                    task(&mut conn);
                }
            }
        }
        flush(&mut conn, &mut inserts, commits);
    }
}

/// Commits queued inserts in one transaction. Each insert runs in a savepoint so one bad
/// delivery does not fail the others; if the commit fails, every caller gets the error.
fn flush(
    conn: &mut Connection,
    inserts: &mut Vec<(Box<NewDelivery>, InsertReply)>,
    commits: &AtomicU64,
) {
    if inserts.is_empty() {
        return;
    }
    let batch = std::mem::take(inserts);
    let mut t = match conn.transaction() {
        Ok(t) => t,
        Err(e) => {
            let msg = e.to_string();
            for (_, reply) in batch {
                let _ = reply.send(Err(StoreError::Db(msg.clone())));
            }
            return;
        }
    };
    let mut results = Vec::with_capacity(batch.len());
    for (d, reply) in batch {
        let r = (|| {
            let sp = t.savepoint()?;
            let out = insert_one(&sp, &d)?;
            sp.commit()?;
            Ok(out)
        })();
        results.push((r, reply));
    }
    match t.commit() {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            for (r, reply) in results {
                let _ = reply.send(r);
            }
        }
        Err(e) => {
            let msg = format!("commit failed: {e}");
            for (_, reply) in results {
                let _ = reply.send(Err(StoreError::Db(msg.clone())));
            }
        }
    }
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

fn insert_one(t: &Connection, d: &NewDelivery) -> Result<InsertOutcome> {
    let existing = t
        .query_row(
            "SELECT id, answer_status, answer_headers, answer_body FROM deliveries WHERE dedup_key = ?1",
            params![d.dedup_key],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                ))
            },
        )
        .optional()?;
    if let Some((id, s, h, b)) = existing {
        return Ok(InsertOutcome::Duplicate {
            delivery_id: DeliveryId(id),
            answer: answer_from(s, h, b)?,
        });
    }
    let headers = headers_to_json(&redact_headers(&d.headers))?;
    let (a_status, a_headers, a_body) = match &d.answer {
        Some(a) => (
            Some(i64::from(a.status)),
            Some(headers_to_json(&a.headers)?),
            Some(a.body.clone()),
        ),
        None => (None, None, None),
    };
    t.execute(
        "INSERT INTO deliveries (id, dedup_key, tenant, event_type, flow, received_at_ms, headers, \
         body, verdict, answer_status, answer_headers, answer_body, build_id, replay_of) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            d.id.0,
            d.dedup_key,
            d.tenant,
            d.event_type,
            d.flow,
            d.received_at_ms,
            headers,
            d.body,
            d.verdict.as_str(),
            a_status,
            a_headers,
            a_body,
            d.build_id,
            d.replay_of.as_ref().map(|r| r.0.clone()),
        ],
    )?;
    for w in &d.work {
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
        t.execute(
            "INSERT INTO work (id, delivery_id, flow, kind, node, state_version, state, status, \
             attempts, retry_base, due_at_ms, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, 0, ?8, ?8)",
            params![
                WorkId::new_random().0,
                d.id.0,
                w.flow,
                kind,
                node,
                version,
                state,
                d.received_at_ms
            ],
        )?;
    }
    append_steps(t, &d.id, &d.trace)?;
    Ok(InsertOutcome::Inserted)
}

fn append_steps(t: &Connection, id: &DeliveryId, steps: &[TraceRecord]) -> Result<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let start: i64 = t.query_row(
        "SELECT COUNT(*) FROM trace_steps WHERE delivery_id = ?1",
        params![id.0],
        |r| r.get(0),
    )?;
    for (i, s) in steps.iter().enumerate() {
        let seq = start + i64::try_from(i).unwrap_or(i64::MAX);
        t.execute(
            "INSERT INTO trace_steps (delivery_id, seq, node, outcome, duration_us, error) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id.0,
                seq,
                s.node,
                s.outcome,
                i64::try_from(s.duration_us).unwrap_or(i64::MAX),
                s.error
            ],
        )?;
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

/// Ends a running attempt of `id` and leaves the work item with the given status fields.
fn end_attempt(
    t: &Transaction<'_>,
    id: &WorkId,
    now_ms: i64,
    result: &str,
    error: Option<&str>,
) -> Result<()> {
    t.execute(
        "UPDATE attempts SET ended_at_ms = ?2, result = ?3, error = ?4 \
         WHERE work_id = ?1 AND number = (SELECT attempts FROM work WHERE id = ?1)",
        params![id.0, now_ms, result, error],
    )?;
    Ok(())
}

const STATUS_EXPR: &str = "CASE \
    WHEN EXISTS (SELECT 1 FROM work w WHERE w.delivery_id = d.id AND w.status = 'dead') THEN 'dead' \
    WHEN EXISTS (SELECT 1 FROM work w WHERE w.delivery_id = d.id AND w.status = 'running') THEN 'running' \
    WHEN EXISTS (SELECT 1 FROM work w WHERE w.delivery_id = d.id AND w.status = 'pending') THEN 'pending' \
    WHEN EXISTS (SELECT 1 FROM work w WHERE w.delivery_id = d.id) THEN 'done' \
    ELSE 'answered' END";

fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SummaryRow> {
    Ok((
        DeliveryId(r.get(0)?),
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

type SummaryRow = (
    DeliveryId,
    String,
    String,
    String,
    i64,
    String,
    Option<i64>,
    String,
    Option<String>,
);

fn summary_from(row: SummaryRow) -> Result<DeliverySummary> {
    let (id, tenant, event_type, flow, received_at_ms, verdict, status, dstatus, replay_of) = row;
    Ok(DeliverySummary {
        id,
        tenant,
        event_type,
        flow,
        received_at_ms,
        verdict: Verdict::parse(&verdict)?,
        answer_status: status.and_then(|s| u16::try_from(s).ok()),
        status: DeliveryStatus::parse(&dstatus)?,
        replay_of: replay_of.map(DeliveryId),
    })
}

impl Store for SqliteStore {
    async fn insert(&self, d: NewDelivery) -> Result<InsertOutcome> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Insert(Box::new(d), tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn record_answer(&self, id: DeliveryId, answer: Answer) -> Result<()> {
        self.run(move |t| {
            let n = t.execute(
                "UPDATE deliveries SET answer_status = ?2, answer_headers = ?3, answer_body = ?4 WHERE id = ?1",
                params![id.0, i64::from(answer.status), headers_to_json(&answer.headers)?, answer.body],
            )?;
            if n == 0 {
                return Err(StoreError::Db(format!("no delivery {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn append_trace(&self, id: DeliveryId, steps: Vec<TraceRecord>) -> Result<()> {
        self.run(move |t| append_steps(t, &id, &steps)).await
    }

    async fn claim(&self, req: ClaimRequest) -> Result<Vec<ClaimedWork>> {
        self.run(move |t| {
            let mut running: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
            if req.per_flow_limit.is_some() {
                let mut q = t.prepare("SELECT flow, COUNT(*) FROM work WHERE status = 'running' GROUP BY flow")?;
                let rows = q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
                for row in rows {
                    let (f, n) = row?;
                    running.insert(f, to_u32(n));
                }
            }
            let mut q = t.prepare(
                "SELECT id, delivery_id, flow, kind, node, state_version, state, attempts, retry_base \
                 FROM work WHERE status = 'pending' AND due_at_ms <= ?1 ORDER BY due_at_ms, created_at_ms, id",
            )?;
            let mut rows = q.query(params![req.now_ms])?;
            let mut out = Vec::new();
            let lease_expires_ms = req.now_ms.saturating_add(req.lease_ms);
            while out.len() < req.limit as usize {
                let Some(r) = rows.next()? else { break };
                let flow: String = r.get(2)?;
                if let Some(limit) = req.per_flow_limit {
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
                    kind: kind_from(&r.get::<_, String>(3)?, r.get(4)?, r.get(5)?, r.get(6)?)?,
                    flow,
                    attempt: to_u32(attempts + 1 - base),
                    lease_expires_ms,
                });
            }
            drop(rows);
            drop(q);
            for w in &out {
                t.execute(
                    "UPDATE work SET status = 'running', attempts = attempts + 1, lease_owner = ?2, \
                     lease_expires_ms = ?3 WHERE id = ?1",
                    params![w.id.0, req.owner, lease_expires_ms],
                )?;
                t.execute(
                    "INSERT INTO attempts (work_id, number, owner, started_at_ms) \
                     SELECT id, attempts, ?2, ?3 FROM work WHERE id = ?1",
                    params![w.id.0, req.owner, req.now_ms],
                )?;
            }
            Ok(out)
        })
        .await
    }

    async fn complete(&self, id: WorkId, owner: String, now_ms: i64) -> Result<()> {
        self.run(move |t| {
            let held: i64 = t.query_row(
                "SELECT COUNT(*) FROM work WHERE id = ?1 AND status = 'running' AND lease_owner = ?2",
                params![id.0, owner],
                |r| r.get(0),
            )?;
            if held == 0 {
                return Err(StoreError::LeaseLost(id));
            }
            end_attempt(t, &id, now_ms, "ok", None)?;
            t.execute(
                "UPDATE work SET status = 'done', lease_owner = NULL, lease_expires_ms = NULL WHERE id = ?1",
                params![id.0],
            )?;
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
    ) -> Result<()> {
        self.run(move |t| {
            let held: i64 = t.query_row(
                "SELECT COUNT(*) FROM work WHERE id = ?1 AND status = 'running' AND lease_owner = ?2",
                params![id.0, owner],
                |r| r.get(0),
            )?;
            if held == 0 {
                return Err(StoreError::LeaseLost(id));
            }
            end_attempt(t, &id, now_ms, "error", Some(&error))?;
            let (status, due) = match retry {
                Retry::At(at) => ("pending", at),
                Retry::Dead => ("dead", now_ms),
            };
            t.execute(
                "UPDATE work SET status = ?2, due_at_ms = ?3, last_error = ?4, lease_owner = NULL, \
                 lease_expires_ms = NULL WHERE id = ?1",
                params![id.0, status, due, error],
            )?;
            Ok(())
        })
        .await
    }

    async fn recover_expired(&self, now_ms: i64) -> Result<u64> {
        self.run(move |t| {
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
        self.run(|t| {
            let mut q = t.prepare("SELECT status, COUNT(*) FROM work GROUP BY status")?;
            let rows = q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            let mut c = Counts::default();
            for row in rows {
                let (s, n) = row?;
                let n = u64::try_from(n).unwrap_or(0);
                match WorkStatus::parse(&s)? {
                    WorkStatus::Pending => c.pending = n,
                    WorkStatus::Running => c.running = n,
                    WorkStatus::Done => c.done = n,
                    WorkStatus::Dead => c.dead = n,
                }
            }
            Ok(c)
        })
        .await
    }

    async fn list(&self, filter: ListFilter) -> Result<Vec<DeliverySummary>> {
        self.run(move |t| {
            let sql = format!(
                "SELECT * FROM (SELECT d.id, d.tenant, d.event_type, d.flow, d.received_at_ms, d.verdict, \
                 d.answer_status, {STATUS_EXPR} AS status, d.replay_of FROM deliveries d) s \
                 WHERE (?1 IS NULL OR s.status = ?1) AND (?2 IS NULL OR s.event_type = ?2) \
                 ORDER BY s.received_at_ms DESC, s.id LIMIT ?3"
            );
            let mut q = t.prepare(&sql)?;
            let rows = q.query_map(
                params![filter.status.map(|s| s.as_str()), filter.event_type, i64::from(filter.limit)],
                summary_row,
            )?;
            let mut out = Vec::new();
            for row in rows {
                out.push(summary_from(row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn get(&self, id: DeliveryId) -> Result<Option<DeliveryDetail>> {
        self.run(move |t| {
            let sql = format!(
                "SELECT d.id, d.tenant, d.event_type, d.flow, d.received_at_ms, d.verdict, d.answer_status, \
                 {STATUS_EXPR}, d.replay_of, d.dedup_key, d.headers, d.body, d.answer_headers, \
                 d.answer_body, d.build_id FROM deliveries d WHERE d.id = ?1"
            );
            let row = t
                .query_row(&sql, params![id.0], |r| {
                    Ok((
                        summary_row(r)?,
                        r.get::<_, String>(9)?,
                        r.get::<_, String>(10)?,
                        r.get::<_, Vec<u8>>(11)?,
                        r.get::<_, Option<String>>(12)?,
                        r.get::<_, Option<Vec<u8>>>(13)?,
                        r.get::<_, String>(14)?,
                    ))
                })
                .optional()?;
            let Some((sum, dedup_key, headers, body, ah, ab, build_id)) = row else {
                return Ok(None);
            };
            let answer = answer_from(sum.6, ah, ab)?;
            let summary = summary_from(sum)?;
            let mut work = Vec::new();
            {
                let mut q = t.prepare(
                    "SELECT id, flow, kind, node, state_version, state, status, attempts, due_at_ms, \
                     lease_owner, last_error FROM work WHERE delivery_id = ?1 ORDER BY created_at_ms, id",
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
                let mut q = t.prepare(
                    "SELECT a.work_id, a.number, a.owner, a.started_at_ms, a.ended_at_ms, a.result, a.error \
                     FROM attempts a JOIN work w ON w.id = a.work_id WHERE w.delivery_id = ?1 \
                     ORDER BY w.created_at_ms, a.work_id, a.number",
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
                let mut q = t.prepare(
                    "SELECT node, outcome, duration_us, error FROM trace_steps WHERE delivery_id = ?1 ORDER BY seq",
                )?;
                let rows = q.query_map(params![id.0], |r| {
                    Ok(TraceRecord {
                        node: r.get(0)?,
                        outcome: r.get(1)?,
                        duration_us: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                        error: r.get(3)?,
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
        })
        .await
    }

    async fn retry_dead(&self, event_type: Option<String>, now_ms: i64) -> Result<u64> {
        self.run(move |t| {
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
        self.run(move |t| {
            let keep = req.keep_last.map(|k| i64::try_from(k).unwrap_or(i64::MAX));
            // Candidates: old, or beyond the newest `keep`; never with unfinished or dead work.
            t.execute_batch("CREATE TEMP TABLE IF NOT EXISTS prune_ids (id TEXT PRIMARY KEY); DELETE FROM prune_ids;")?;
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
            t.execute("DELETE FROM work WHERE delivery_id IN (SELECT id FROM prune_ids)", [])?;
            t.execute("DELETE FROM trace_steps WHERE delivery_id IN (SELECT id FROM prune_ids)", [])?;
            let n = t.execute("DELETE FROM deliveries WHERE id IN (SELECT id FROM prune_ids)", [])?;
            t.execute("DELETE FROM prune_ids", [])?;
            Ok(n as u64)
        })
        .await
    }
}
