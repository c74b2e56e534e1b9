//! `hookflow deliveries`: look into the durable store from the command line, and act on it.
//!
//! - `list [--status S] [--event-type T] [--limit N] [--json]`: newest first.
//! - `show ID [--json]`: the stored request (redacted headers, body), verdict, answer, the path
//!   through the flow, each work item with its attempts and errors.
//! - `retry-dead [--event-type T]`: dead work becomes pending again with fresh attempts; a running
//!   server's workers pick it up.
//! - `replay ID`: runs the delivery's flow again on the stored request, as a new delivery linked
//!   to the original, through the store (see [`super::replay`]).
//!
//! `ID` is hookflow's delivery id, or the delivery id the sender gave (`X-Hookflow-Delivery` of
//! the answer) when exactly one stored delivery has it.
//!
//! The store is opened in the state directory `serve` uses (`--state`, else the bundle's
//! `state/`, else the default); SQLite in WAL mode lets these commands run beside a live server.
//! Exit codes: 0 done; 1 not found or the store failed; 2 a usage mistake (no store there).

use crate::__gen::Registry;
use crate::store::sqlite::SqliteStore;
use crate::store::{
    DeliveryDetail, DeliveryId, DeliveryStatus, DeliverySummary, ListFilter, Store, StoreError,
    WorkKind,
};
use clap::{Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the store is: the same resolution as `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// The state directory (as given to `serve --state`).
    #[arg(long, global = true, env = "HOOKFLOW_STATE", value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// A bundle directory: its `state/` folder holds the store.
    #[arg(long, global = true, env = "HOOKFLOW_BUNDLE", value_name = "DIR")]
    pub bundle: Option<PathBuf>,
}

impl StateArgs {
    /// `--state`, else the bundle's `state/`, else the default serve uses without a bundle.
    pub fn dir(&self) -> PathBuf {
        crate::config::state_dir(
            self.bundle.as_deref(),
            self.state.as_deref(),
            &crate::env::process,
        )
    }
}

#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {
    #[command(flatten)]
    pub state: StateArgs,
    #[command(subcommand)]
    pub command: DeliveriesCommand,
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// List stored deliveries, newest first.
    List {
        /// Only deliveries whose work is in this state.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only this event type.
        #[arg(long, value_name = "TYPE")]
        event_type: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything stored about one delivery.
    Show {
        id: String,
        /// As one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Run a delivery's flow again on its stored request, as a new delivery linked to it.
    Replay { id: String },
    /// Make dead work pending again (with fresh attempts) for a running server's workers.
    RetryDead {
        /// Only work of deliveries of this event type.
        #[arg(long, value_name = "TYPE")]
        event_type: Option<String>,
    },
}

/// `--status` values (a delivery's state is the worst state of its work).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// Answered with nothing to do after the answer.
    Answered,
    /// All work after the answer done.
    Done,
    /// Work waiting (first try or a retry).
    Pending,
    /// Work running now.
    Running,
    /// Work out of attempts.
    Dead,
}

impl From<StatusArg> for DeliveryStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Answered => DeliveryStatus::Answered,
            StatusArg::Done => DeliveryStatus::Done,
            StatusArg::Pending => DeliveryStatus::Pending,
            StatusArg::Running => DeliveryStatus::Running,
            StatusArg::Dead => DeliveryStatus::Dead,
        }
    }
}

/// Why a `deliveries` command failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveriesError {
    #[error("no delivery store in {0} (has `hookflow serve` run with this state directory? use --state or --bundle)")]
    NoStore(PathBuf),
    #[error("no delivery with id `{0}`")]
    NotFound(String),
    #[error("{count} deliveries have the sender's id `{id}`; use hookflow's id: {ids}")]
    Ambiguous {
        id: String,
        count: usize,
        ids: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot replay `{id}`: {reason}")]
    Replay { id: String, reason: String },
}

impl DeliveriesError {
    fn exit_code(&self) -> ExitCode {
        match self {
            DeliveriesError::NoStore(_) => ExitCode::from(2),
            _ => ExitCode::from(1),
        }
    }
}

/// Runs a `deliveries` command; prints to stdout, errors to stderr.
pub fn main(args: DeliveriesArgs, flows: &'static Registry) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args, flows)) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Runs a command and returns what it prints.
pub async fn run(
    args: DeliveriesArgs,
    flows: &'static Registry,
) -> Result<String, DeliveriesError> {
    let dir = args.state.dir();
    let store = open(&dir)?;
    let out = match args.command {
        DeliveriesCommand::List {
            status,
            event_type,
            limit,
            json,
        } => {
            let rows = store
                .list(ListFilter {
                    status: status.map(Into::into),
                    event_type,
                    limit,
                    event_id: None,
                })
                .await?;
            if json {
                rows.iter().fold(String::new(), |mut s, r| {
                    let _ = writeln!(s, "{}", summary_json(r));
                    s
                })
            } else {
                list_table(&rows)
            }
        }
        DeliveriesCommand::Show { id, json } => {
            let d = find(&store, &id).await?;
            if json {
                format!("{:#}\n", detail_json(&d))
            } else {
                show_text(&d)
            }
        }
        DeliveriesCommand::RetryDead { event_type } => {
            let n = store
                .retry_dead(event_type.clone(), crate::store::now_ms())
                .await?;
            let which = event_type.map_or(String::new(), |t| format!(" of event type `{t}`"));
            format!("{n} dead work item(s){which} made pending again; a running `hookflow serve` with this state directory runs them\n")
        }
        DeliveriesCommand::Replay { id } => replay(&store, flows, &id).await?,
    };
    store.close();
    Ok(out)
}

/// The delivery with hookflow's id `id`, else the one delivery whose sender's id is `id`.
async fn find(store: &SqliteStore, id: &str) -> Result<DeliveryDetail, DeliveriesError> {
    if let Some(d) = store.get(DeliveryId(id.to_string())).await? {
        return Ok(d);
    }
    let same = store
        .list(ListFilter {
            event_id: Some(id.to_string()),
            limit: 20,
            ..Default::default()
        })
        .await?;
    match same.as_slice() {
        [] => Err(DeliveriesError::NotFound(id.to_string())),
        [one] => store
            .get(one.id.clone())
            .await?
            .ok_or_else(|| DeliveriesError::NotFound(id.to_string())),
        many => Err(DeliveriesError::Ambiguous {
            id: id.to_string(),
            count: many.len(),
            ids: many
                .iter()
                .map(|d| d.id.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn open(dir: &Path) -> Result<SqliteStore, DeliveriesError> {
    if !dir.join(crate::store::sqlite::DB_FILE).is_file() {
        return Err(DeliveriesError::NoStore(dir.to_path_buf()));
    }
    Ok(SqliteStore::open(dir)?)
}

/// Replays a stored delivery through the store (see [`super::replay`]): a new delivery linked
/// to the original, whose flow the workers of a `serve` on this state directory run.
pub async fn replay(
    store: &SqliteStore,
    flows: &'static Registry,
    id: &str,
) -> Result<String, DeliveriesError> {
    let d = find(store, id).await?;
    let new = super::replay::replay(store, flows, &d, &super::build_id())
        .await
        .map_err(|e| DeliveriesError::Replay {
            id: id.to_string(),
            reason: e.to_string(),
        })?;
    Ok(format!(
        "{}\nreplay of {} stored; flow `{}` runs in the workers of a `hookflow serve` using this state directory (now, if one runs; else when it starts). Follow it with: hookflow deliveries show {}\n",
        new.id, d.summary.id, new.flow, new.id
    ))
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds.
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn list_table(rows: &[DeliverySummary]) -> String {
    if rows.is_empty() {
        return "no deliveries\n".to_string();
    }
    let header = [
        "ID",
        "SENDER ID",
        "RECEIVED",
        "TENANT",
        "EVENT TYPE",
        "FLOW",
        "ANSWER",
        "STATUS",
        "SIGNATURE",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.id.0.clone(),
                if r.event_id == r.id.0 {
                    "-".to_string()
                } else {
                    r.event_id.clone()
                },
                time(r.received_at_ms),
                r.tenant.clone(),
                r.event_type.clone(),
                r.flow.clone(),
                r.answer_status.map_or("-".to_string(), |s| s.to_string()),
                match &r.replay_of {
                    Some(o) => format!("{} (replay of {o})", r.status.as_str()),
                    None => r.status.as_str().to_string(),
                },
                r.verdict.as_str().to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |cols: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cols.enumerate() {
            let _ = write!(l, "{c:<w$}  ", w = widths[i]);
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in &cells {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

fn summary_json(r: &DeliverySummary) -> Value {
    json!({
        "id": r.id.0,
        "event_id": r.event_id,
        "received_at": time(r.received_at_ms),
        "tenant": r.tenant,
        "event_type": r.event_type,
        "flow": r.flow,
        "answer_status": r.answer_status,
        "status": r.status.as_str(),
        "signature": r.verdict.as_str(),
        "replay_of": r.replay_of.as_ref().map(|o| o.0.clone()),
    })
}

/// A body as JSON when it is JSON, else as text (lossy).
fn body_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn kind_json(k: &WorkKind) -> Value {
    match k {
        WorkKind::Continue { node, .. } => json!({"continue_at_node": node}),
        WorkKind::Start { payload } => json!({"start_with": body_value(payload)}),
    }
}

fn detail_json(d: &DeliveryDetail) -> Value {
    let mut v = summary_json(&d.summary);
    let extra = json!({
        "dedup_key": d.dedup_key,
        "build": d.build_id,
        "headers": d.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "body": body_value(&d.body),
        "answer": d.answer.as_ref().map(|a| json!({
            "status": a.status,
            "headers": a.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "body": body_value(&a.body),
        })),
        "path": d.trace.iter().map(|t| json!({
            "flow": t.step.flow, "node": t.step.node, "outcome": t.step.outcome,
            "duration_us": t.step.duration_us, "error": t.step.error,
            "work_id": t.work_id.as_ref().map(|w| w.0.clone()), "attempt": t.attempt,
        })).collect::<Vec<_>>(),
        "work": d.work.iter().map(|w| json!({
            "id": w.id.0, "flow": w.flow, "kind": kind_json(&w.kind), "status": w.status.as_str(),
            "attempts": w.attempts, "due_at": time(w.due_at_ms), "last_error": w.last_error,
            "attempt_log": d.attempts.iter().filter(|a| a.work_id == w.id).map(|a| json!({
                "number": a.number, "owner": a.owner, "started_at": time(a.started_at_ms),
                "ended_at": a.ended_at_ms.map(time), "result": a.result, "error": a.error,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut v, extra) {
        a.extend(b);
    }
    v
}

fn show_text(d: &DeliveryDetail) -> String {
    let s = &d.summary;
    let mut o = String::new();
    let _ = writeln!(o, "delivery    {}", s.id);
    if s.event_id != s.id.0 {
        let _ = writeln!(o, "sender id   {}", s.event_id);
    }
    if let Some(r) = &s.replay_of {
        let _ = writeln!(o, "replay of   {r}");
    }
    let _ = writeln!(o, "received    {}", time(s.received_at_ms));
    let _ = writeln!(
        o,
        "tenant      {}    event type {}    flow {}",
        s.tenant, s.event_type, s.flow
    );
    let _ = writeln!(
        o,
        "status      {}    signature {}",
        s.status.as_str(),
        s.verdict.as_str()
    );
    let _ = writeln!(o, "dedup key   {}", d.dedup_key);
    let _ = writeln!(o, "build       {}", d.build_id);
    let _ = writeln!(o, "\nrequest headers (secrets redacted):");
    for (k, v) in &d.headers {
        let _ = writeln!(o, "  {k}: {v}");
    }
    let _ = writeln!(o, "\nrequest body ({} bytes):", d.body.len());
    let _ = writeln!(o, "{}", indent(&pretty(&d.body)));
    match &d.answer {
        Some(a) => {
            let _ = writeln!(o, "\nanswer {}:", a.status);
            for (k, v) in &a.headers {
                let _ = writeln!(o, "  {k}: {v}");
            }
            let _ = writeln!(o, "{}", indent(&pretty(&a.body)));
        }
        None => {
            let _ = writeln!(o, "\nanswer: not recorded");
        }
    }
    let _ = writeln!(o, "\npath through the flow:");
    if d.trace.is_empty() {
        let _ = writeln!(o, "  (none recorded)");
    }
    let mut from = None;
    for t in &d.trace {
        let here = (t.work_id.clone(), t.attempt);
        if from.as_ref() != Some(&here) {
            let _ = match &here {
                (Some(w), Some(n)) => writeln!(o, "  work {w}, attempt {n}:"),
                _ => writeln!(o, "  until the answer:"),
            };
            from = Some(here);
        }
        let s = &t.step;
        let took = s
            .duration_us
            .map_or(String::new(), |us| format!("  {us} µs"));
        let _ = write!(o, "    {}.{}  {}{took}", s.flow, s.node, s.outcome);
        if let Some(e) = &s.error {
            let _ = write!(o, "  error: {e}");
        }
        o.push('\n');
    }
    let _ = writeln!(o, "\nwork after the answer:");
    if d.work.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for w in &d.work {
        let what = match &w.kind {
            WorkKind::Continue { node, .. } => format!("continue at node {node}"),
            WorkKind::Start { .. } => "start".to_string(),
        };
        let _ = writeln!(
            o,
            "  {}  {} ({what})  {}  attempts {}  due {}",
            w.id,
            w.flow,
            w.status.as_str(),
            w.attempts,
            time(w.due_at_ms)
        );
        if let Some(e) = &w.last_error {
            let _ = writeln!(o, "    last error: {e}");
        }
        for a in d.attempts.iter().filter(|a| a.work_id == w.id) {
            let _ = writeln!(
                o,
                "    attempt {} by {}  {} .. {}  {}{}",
                a.number,
                a.owner,
                time(a.started_at_ms),
                a.ended_at_ms.map_or("running".to_string(), time),
                a.result.as_deref().unwrap_or("-"),
                a.error
                    .as_deref()
                    .map_or(String::new(), |e| format!(": {e}"))
            );
        }
    }
    o
}

/// JSON pretty-printed, else the text (lossy), else a note for binary.
fn pretty(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(empty)".to_string();
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => format!("{v:#}"),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
