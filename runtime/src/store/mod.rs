//! The durable delivery store: every delivery hookflow answered, the work after its answer,
//! each attempt of that work, and the path each delivery took through its flow.
//!
//! One interface ([`Store`]) with the embedded SQLite backend ([`sqlite::SqliteStore`]) as the
//! default. The semantics a backend must keep (checked by [`conformance`]):
//! - a delivery, its work and its path so far are committed atomically (before the answer);
//! - deliveries are deduplicated by a unique dedup key: a repeat writes nothing and gets the
//!   first answer back ([`Store::lookup`] finds it before a flow runs);
//! - work is claimed with leases (owner + expiry), by [`Store::claim`] or at insert
//!   ([`NewDelivery::lease`]); expired leases are recovered;
//! - completing an attempt stores the work it produced and its path in the same transaction;
//! - failed work is retried at a time the caller's [`crate::backoff::Backoff`] chose, or dead;
//! - prune never removes a delivery that still has pending, running or dead work.
//!
//! Times are milliseconds since the Unix epoch, passed in by the caller ([`now_ms`]) so that
//! tests and several replicas agree on one clock source.

pub mod sqlite;

#[doc(hidden)]
pub mod conformance;

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::backoff::Retry;

/// Why a store operation failed. Callers on the request path answer 503 for any of these.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database reported an error (including a failed commit or fsync).
    #[error("store database error: {0}")]
    Db(String),
    /// The store was closed, or its writer thread stopped.
    #[error("store is closed")]
    Closed,
    /// Opening the store failed (directory missing, not writable, ...).
    #[error("cannot open store at {path}: {reason}")]
    Open {
        /// The state directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The work item is not running under this owner's lease any more (expired and recovered).
    #[error("work {0} is not leased by this owner")]
    LeaseLost(WorkId),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The current time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A fresh id: 32 hex characters, the first 12 the current time in milliseconds, the other 20
/// random (80 bits). Time-ordered, so that new rows land at the end of the tables' B-trees: a
/// group commit then rewrites a few pages instead of one random page per row and index.
fn random_id() -> String {
    let ms = u64::try_from(now_ms()).unwrap_or(0) & 0xffff_ffff_ffff;
    let rand: [u8; 10] = rand::random();
    format!("{ms:012x}{}", hex::encode(rand))
}

/// A delivery's id (hookflow's own, time-ordered and random; distinct from the dedup key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(pub String);

impl DeliveryId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(random_id())
    }
}

impl std::fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A work item's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkId(pub String);

impl WorkId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(random_id())
    }
}

impl std::fmt::Display for WorkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The signature check's result for a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A signature was configured and matched.
    Valid,
    /// A signature was configured and did not match (normally not stored: answered 401).
    Invalid,
    /// No signature scheme configured for this event type.
    Unchecked,
}

impl Verdict {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unchecked => "unchecked",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        match s {
            "valid" => Ok(Verdict::Valid),
            "invalid" => Ok(Verdict::Invalid),
            "unchecked" => Ok(Verdict::Unchecked),
            o => Err(StoreError::Corrupt(format!("verdict {o:?}"))),
        }
    }
}

/// The HTTP answer hookflow sent for a delivery (replayed verbatim to a duplicate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body bytes.
    pub body: Vec<u8>,
}

/// What a work item does when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkKind {
    /// Continue a flow at `node` with a saved, serialised context (opaque to the store).
    Continue {
        /// Node index to resume at.
        node: u32,
        /// Version of the serialised form of `state`.
        state_version: u32,
        /// The serialised context.
        state: Vec<u8>,
    },
    /// Start a flow (an `async` node) at its first node with this JSON payload.
    Start {
        /// The payload, serialised JSON.
        payload: Vec<u8>,
    },
}

/// Work to store with a new delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWork {
    /// Its id, chosen by the caller ([`WorkId::new_random`]), so that work claimed at insert
    /// ([`NewDelivery::lease`]) can be completed without asking the store.
    pub id: WorkId,
    /// The flow this work runs.
    pub flow: String,
    /// What to run.
    pub kind: WorkKind,
}

/// One step of a delivery's path through a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRecord {
    /// The flow the node belongs to (a delivery's work may run other flows, through `async`).
    pub flow: String,
    /// Node id.
    pub node: String,
    /// Outcome (`ok`, `failed`, `took:<edge label>` for a branch).
    pub outcome: String,
    /// How long the node took, in microseconds, when it was measured.
    pub duration_us: Option<u64>,
    /// The error message, when it failed.
    pub error: Option<String>,
}

/// A stored trace step with where it was recorded: before the answer (no work item), or by an
/// attempt of a work item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    /// The step.
    pub step: TraceRecord,
    /// The work item whose attempt recorded it (`None`: the run up to the answer).
    pub work_id: Option<WorkId>,
    /// That attempt's number (over the item's whole life).
    pub attempt: Option<u32>,
}

/// A new delivery, as received.
#[derive(Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// hookflow's id for it.
    pub id: DeliveryId,
    /// The id flows see as `event.delivery_id` and answers carry in `X-Hookflow-Delivery`: the
    /// sender's delivery id when it sent one, else the same as `id`. Not unique across tenants.
    pub event_id: String,
    /// The dedup key (sender's delivery id, or a hash of tenant, event type and body).
    pub dedup_key: String,
    /// Tenant.
    pub tenant: String,
    /// Event type (the URL segment).
    pub event_type: String,
    /// The flow that handled it.
    pub flow: String,
    /// When it was received.
    pub received_at_ms: i64,
    /// Request headers. Secret-bearing headers are redacted by the store ([`redact_headers`]).
    pub headers: Vec<(String, String)>,
    /// The raw body (shared with the request that brought it: not copied).
    pub body: bytes::Bytes,
    /// Signature verdict.
    pub verdict: Verdict,
    /// The answer, when known at insert time (it is, for flows that answer before their work).
    pub answer: Option<Answer>,
    /// The hookflow build that ran it.
    pub build_id: String,
    /// For a replay: the delivery it replays.
    pub replay_of: Option<DeliveryId>,
    /// Work after the answer, committed in the same transaction.
    pub work: Vec<NewWork>,
    /// Claim the work at insert for this owner (its first attempt starts now): the process that
    /// stored it runs it at once, without a claim. `None`: the work is pending.
    pub lease: Option<Lease>,
    /// The path up to the answer.
    pub trace: Vec<TraceRecord>,
}

impl std::fmt::Debug for NewDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers may still carry secrets before redaction; the body may carry anything.
        f.debug_struct("NewDelivery")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("event_type", &self.event_type)
            .field("flow", &self.flow)
            .field("headers", &format_args!("<{} headers>", self.headers.len()))
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("work", &self.work.len())
            .finish_non_exhaustive()
    }
}

/// What [`Store::lookup`] finds for a dedup key: the first delivery with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// The first delivery with this key.
    pub delivery_id: DeliveryId,
    /// Its answer, if recorded.
    pub answer: Option<Answer>,
}

/// A claim made at insert ([`NewDelivery::lease`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who runs the work.
    pub owner: String,
    /// When the lease expires.
    pub expires_ms: i64,
}

/// The result of [`Store::insert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored (with its work), committed durably.
    Inserted,
    /// The dedup key was already stored: nothing was written; answer with the first answer.
    Duplicate {
        /// The first delivery with this key.
        delivery_id: DeliveryId,
        /// Its answer, if recorded.
        answer: Option<Answer>,
    },
}

/// Status of a work item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkStatus {
    /// Waiting until its due time.
    Pending,
    /// Claimed under a lease.
    Running,
    /// Finished successfully.
    Done,
    /// Out of attempts; the last error is kept.
    Dead,
}

impl WorkStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkStatus::Pending => "pending",
            WorkStatus::Running => "running",
            WorkStatus::Done => "done",
            WorkStatus::Dead => "dead",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(WorkStatus::Pending),
            "running" => Ok(WorkStatus::Running),
            "done" => Ok(WorkStatus::Done),
            "dead" => Ok(WorkStatus::Dead),
            o => Err(StoreError::Corrupt(format!("work status {o:?}"))),
        }
    }
}

/// A delivery's overall status, derived from its work (worst first: dead, running, pending, done).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// No work after the answer.
    Answered,
    /// All its work is done.
    Done,
    /// Some work pending.
    Pending,
    /// Some work running.
    Running,
    /// Some work dead.
    Dead,
}

impl DeliveryStatus {
    /// The stored/derived text.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Answered => "answered",
            DeliveryStatus::Done => "done",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Running => "running",
            DeliveryStatus::Dead => "dead",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        match s {
            "answered" => Ok(DeliveryStatus::Answered),
            "done" => Ok(DeliveryStatus::Done),
            "pending" => Ok(DeliveryStatus::Pending),
            "running" => Ok(DeliveryStatus::Running),
            "dead" => Ok(DeliveryStatus::Dead),
            o => Err(StoreError::Corrupt(format!("delivery status {o:?}"))),
        }
    }
}

/// Parameters of [`Store::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// Who claims (worker or replica id); only it may complete or fail the work.
    pub owner: String,
    /// At most this many items.
    pub limit: u32,
    /// Lease length.
    pub lease_ms: i64,
    /// Now.
    pub now_ms: i64,
    /// Per-flow limit on running items (all owners together), if any.
    pub per_flow_limit: Option<u32>,
    /// Limits for particular flows, overriding `per_flow_limit`.
    pub flow_limits: std::collections::BTreeMap<String, u32>,
}

/// What a successful attempt leaves behind ([`Store::complete`]), committed with it atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completion {
    /// Work the attempt produced (a continuation, flows started by `async`), pending at once.
    pub work: Vec<NewWork>,
    /// The path the attempt took.
    pub trace: Vec<TraceRecord>,
}

/// The parts of a stored delivery that work after its answer needs: a flow started by `async`
/// inherits the delivery's tenant, event type, id and (redacted) headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkBase {
    /// Tenant.
    pub tenant: String,
    /// The raw request body (a continuation of the triggered flow rebuilds its payload from it).
    pub body: Vec<u8>,
    /// Event type.
    pub event_type: String,
    /// The delivery's `event.delivery_id`.
    pub event_id: String,
    /// The stored (redacted) request headers.
    pub headers: Vec<(String, String)>,
}

/// A claimed work item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedWork {
    /// Its id.
    pub id: WorkId,
    /// The delivery it belongs to.
    pub delivery_id: DeliveryId,
    /// What the work inherits from the delivery.
    pub base: WorkBase,
    /// The flow to run.
    pub flow: String,
    /// What to run.
    pub kind: WorkKind,
    /// Its position among its delivery's work items (1-based, in the order they were stored):
    /// a guard against flows that start each other without end.
    pub seq: u32,
    /// This attempt's number (1-based, counted since the last retry of dead work): pass it to
    /// [`crate::backoff::Backoff::decide`] when it fails.
    pub attempt: u32,
    /// When the lease expires.
    pub lease_expires_ms: i64,
}

/// Work counts by status (for back-pressure and health).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Pending items.
    pub pending: u64,
    /// Running items.
    pub running: u64,
    /// Done items.
    pub done: u64,
    /// Dead items.
    pub dead: u64,
}

/// Filter of [`Store::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only deliveries with this `event.delivery_id` (the `X-Hookflow-Delivery` of answers).
    /// Not indexed (an index on sender ids, which are random, would cost every insert a random
    /// page): a lookup for the command line, not for the request path.
    pub event_id: Option<String>,
    /// Only deliveries with this derived status.
    pub status: Option<DeliveryStatus>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// At most this many (newest first).
    pub limit: u32,
}

/// One row of [`Store::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySummary {
    /// Id.
    pub id: DeliveryId,
    /// `event.delivery_id`.
    pub event_id: String,
    /// Tenant.
    pub tenant: String,
    /// Event type.
    pub event_type: String,
    /// Flow.
    pub flow: String,
    /// Received at.
    pub received_at_ms: i64,
    /// Verdict.
    pub verdict: Verdict,
    /// Status code answered, if recorded.
    pub answer_status: Option<u16>,
    /// Derived status.
    pub status: DeliveryStatus,
    /// For a replay: the original.
    pub replay_of: Option<DeliveryId>,
}

/// A work item as shown by [`Store::get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkRecord {
    /// Id.
    pub id: WorkId,
    /// Flow.
    pub flow: String,
    /// What it runs.
    pub kind: WorkKind,
    /// Status.
    pub status: WorkStatus,
    /// Attempts made in total.
    pub attempts: u32,
    /// Due time (pending) or last due time.
    pub due_at_ms: i64,
    /// Lease owner while running.
    pub lease_owner: Option<String>,
    /// The last error.
    pub last_error: Option<String>,
}

/// One attempt of a work item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The work item.
    pub work_id: WorkId,
    /// Attempt number (1-based, over the item's whole life).
    pub number: u32,
    /// Owner that ran it.
    pub owner: String,
    /// Start.
    pub started_at_ms: i64,
    /// End, unless still running.
    pub ended_at_ms: Option<i64>,
    /// `ok`, `error`, `lease_expired`, or `None` while running.
    pub result: Option<String>,
    /// Error message.
    pub error: Option<String>,
}

/// Everything stored about one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDetail {
    /// Summary.
    pub summary: DeliverySummary,
    /// Dedup key.
    pub dedup_key: String,
    /// Redacted request headers.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// The answer sent.
    pub answer: Option<Answer>,
    /// hookflow build id.
    pub build_id: String,
    /// Work items.
    pub work: Vec<WorkRecord>,
    /// Attempts, by work item then number.
    pub attempts: Vec<AttemptRecord>,
    /// Path through the flows, in order: up to the answer, then each attempt's.
    pub trace: Vec<TraceEntry>,
}

/// Parameters of [`Store::prune`]. A delivery is pruned if it is older than `older_than_ms` OR
/// not among the newest `keep_last`, and none of its work is pending, running or dead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneRequest {
    /// Prune deliveries received before this time.
    pub older_than_ms: Option<i64>,
    /// Keep at most this many newest deliveries.
    pub keep_last: Option<u64>,
}

/// The text stored instead of a redacted header's value.
pub const REDACTED: &str = "[redacted]";

/// Headers whose names look secret but that carry a sender's delivery id (kept: `deliveries
/// show` displays the id deduplication used).
const NOT_SECRET: [&str; 1] = ["x-twilio-idempotency-token"];

/// Whether a header may carry a secret (signature, token, credentials) and must not be stored.
/// Any case; no allocation for lower-case names (all of HTTP's: it runs for every header of
/// every stored delivery).
pub fn is_secret_header(name: &str) -> bool {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return is_secret_header(&name.to_ascii_lowercase());
    }
    if NOT_SECRET.contains(&name) {
        return false;
    }
    const EXACT: [&str; 4] = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ];
    const PARTS: [&str; 6] = [
        "signature",
        "token",
        "secret",
        "api-key",
        "apikey",
        "password",
    ];
    EXACT.contains(&name) || PARTS.iter().any(|p| name.contains(p))
}

/// Replaces the values of secret-bearing headers with [`REDACTED`].
pub fn redact_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            if is_secret_header(k) {
                (k.clone(), REDACTED.to_owned())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect()
}

/// The durable delivery store. Every method is one atomic operation; a returned `Ok` means the
/// change is committed durably.
pub trait Store: Send + Sync + 'static {
    /// Stores a delivery with its work and trace atomically, or reports the first delivery with
    /// the same dedup key (then nothing is written).
    fn insert(&self, d: NewDelivery) -> impl Future<Output = Result<InsertOutcome>> + Send;
    /// The committed delivery with this dedup key, if any (checked before a flow runs, so that a
    /// repeated delivery does not run it again; [`Store::insert`] still decides races).
    fn lookup(&self, dedup_key: String) -> impl Future<Output = Result<Option<Existing>>> + Send;
    /// Records (or replaces) the answer sent for a delivery.
    fn record_answer(
        &self,
        id: DeliveryId,
        answer: Answer,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Appends trace steps (e.g. of a continuation run) to a delivery's path.
    fn append_trace(
        &self,
        id: DeliveryId,
        steps: Vec<TraceRecord>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Claims due pending work (oldest due first) under a lease.
    fn claim(&self, req: ClaimRequest) -> impl Future<Output = Result<Vec<ClaimedWork>>> + Send;
    /// Marks claimed work done, and in the same transaction stores the work it produced
    /// (pending, due `now_ms`, same delivery) and appends its trace. `LeaseLost` if `owner` no
    /// longer holds it (then nothing is written).
    fn complete(
        &self,
        id: WorkId,
        owner: String,
        now_ms: i64,
        done: Completion,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records a failed attempt with the path it took; the work becomes pending at `retry`'s
    /// time, or dead with `error` kept. `LeaseLost` if `owner` no longer holds it.
    fn fail(
        &self,
        id: WorkId,
        owner: String,
        error: String,
        now_ms: i64,
        retry: Retry,
        trace: Vec<TraceRecord>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Makes running work whose lease expired at or before `now_ms` pending again; returns how
    /// many. A single node recovering after a crash may pass `i64::MAX` (every lease is its own).
    fn recover_expired(&self, now_ms: i64) -> impl Future<Output = Result<u64>> + Send;
    /// Work counts by status.
    fn counts(&self) -> impl Future<Output = Result<Counts>> + Send;
    /// Deliveries, newest first.
    fn list(&self, filter: ListFilter)
        -> impl Future<Output = Result<Vec<DeliverySummary>>> + Send;
    /// One delivery with its work, attempts and trace.
    fn get(&self, id: DeliveryId) -> impl Future<Output = Result<Option<DeliveryDetail>>> + Send;
    /// Makes dead work (optionally of one event type) pending again with fresh attempts.
    fn retry_dead(
        &self,
        event_type: Option<String>,
        now_ms: i64,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// Prunes old deliveries (see [`PruneRequest`]); returns how many were removed.
    fn prune(&self, req: PruneRequest) -> impl Future<Output = Result<u64>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_are_recognised_in_any_case() {
        for secret in [
            "Authorization",
            "proxy-authorization",
            "COOKIE",
            "Set-Cookie",
            "X-Hub-Signature-256",
            "Stripe-Signature",
            "X-Shopify-Hmac-Sha256-Signature",
            "x-gitlab-token",
            "X-Webhook-Secret",
            "X-Api-Key",
            "x-apikey",
            "X-Password",
        ] {
            assert!(is_secret_header(secret), "{secret} must be redacted");
        }
        for secret in ["x-hub-signature-256", "authorization", "x-gitlab-token"] {
            assert!(is_secret_header(secret), "{secret} must be redacted");
        }
        for plain in [
            "X-Twilio-Idempotency-Token",
            "x-twilio-idempotency-token",
            "content-type",
            "Content-Type",
            "X-GitHub-Delivery",
            "X-GitHub-Event",
            "User-Agent",
            "webhook-id",
            "Cookies-Count-Not",
            "sig",
            "",
        ] {
            assert!(!is_secret_header(plain), "{plain} is not a secret");
        }
    }

    #[test]
    fn redact_headers_replaces_only_secret_values() {
        let h = vec![
            ("X-Hub-Signature-256".to_string(), "sha256=ab".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        assert_eq!(
            redact_headers(&h),
            vec![
                ("X-Hub-Signature-256".to_string(), REDACTED.to_string()),
                ("Content-Type".to_string(), "application/json".to_string()),
            ]
        );
    }
}
