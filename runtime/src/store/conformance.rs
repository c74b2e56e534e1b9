//! The conformance suite every [`Store`] backend must pass (SQLite now, PostgreSQL later).
//! Each check takes a fresh, empty store and panics (it is test code) on a broken semantic.

use std::sync::Arc;

use super::{
    Answer, ClaimRequest, Completion, DeliveryId, DeliveryStatus, Existing, InsertOutcome, Lease,
    ListFilter, NewDelivery, NewWork, PruneRequest, Result, Store, StoreError, TraceRecord,
    Verdict, WorkId, WorkKind, WorkStatus, REDACTED,
};
use crate::backoff::{Backoff, Retry};

/// A delivery with one continuation work item, received at `at_ms`.
pub fn sample(key: &str, event_type: &str, at_ms: i64) -> NewDelivery {
    let id = DeliveryId::new_random();
    NewDelivery {
        event_id: format!("evt-{key}"),
        id,
        dedup_key: key.to_owned(),
        tenant: "acme".into(),
        event_type: event_type.into(),
        flow: "handle".into(),
        received_at_ms: at_ms,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Hub-Signature-256".into(), "sha256=abc".into()),
            ("Authorization".into(), "Bearer s3cret".into()),
            ("X-Shopify-Access-Token".into(), "tok".into()),
            ("Cookie".into(), "session=1".into()),
            ("X-GitHub-Event".into(), "push".into()),
        ],
        body: format!("{{\"key\":\"{key}\"}}").into_bytes().into(),
        verdict: Verdict::Valid,
        answer: Some(Answer {
            status: 202,
            headers: vec![("x-handled-by".into(), "acme".into())],
            body: format!("accepted {key}").into_bytes(),
        }),
        build_id: "build-1".into(),
        replay_of: None,
        lease: None,
        work: vec![NewWork {
            id: WorkId::new_random(),
            flow: "handle".into(),
            kind: WorkKind::Continue {
                node: 3,
                state_version: 1,
                state: b"{\"outputs\":[]}".to_vec(),
            },
        }],
        trace: vec![step("respond", "ok", None)],
    }
}

/// A trace step of flow `handle`.
pub fn step(node: &str, outcome: &str, error: Option<&str>) -> TraceRecord {
    TraceRecord {
        flow: "handle".into(),
        node: node.into(),
        outcome: outcome.into(),
        duration_us: Some(12),
        error: error.map(str::to_owned),
    }
}

fn claim_req(owner: &str, limit: u32, now_ms: i64) -> ClaimRequest {
    ClaimRequest {
        owner: owner.into(),
        limit,
        lease_ms: 30_000,
        now_ms,
        per_flow_limit: None,
        flow_limits: Default::default(),
    }
}

/// Dedup: a repeated key writes nothing and returns the first delivery's id and answer.
pub async fn dedup<S: Store>(s: &S) -> Result<()> {
    let first = sample("k1", "push", 1_000);
    let first_id = first.id.clone();
    let first_answer = first.answer.clone();
    assert_eq!(s.insert(first).await?, InsertOutcome::Inserted);
    let mut again = sample("k1", "push", 2_000);
    again.answer = Some(Answer {
        status: 500,
        headers: vec![],
        body: b"other".to_vec(),
    });
    match s.insert(again).await? {
        InsertOutcome::Duplicate {
            delivery_id,
            answer,
        } => {
            assert_eq!(delivery_id, first_id);
            assert_eq!(answer, first_answer);
        }
        InsertOutcome::Inserted => panic!("duplicate dedup key was inserted"),
    }
    assert_eq!(
        s.counts().await?.pending,
        1,
        "the duplicate's work must not be stored"
    );
    assert_eq!(
        s.list(ListFilter {
            limit: 10,
            ..Default::default()
        })
        .await?
        .len(),
        1
    );
    // A recorded answer is what later duplicates get.
    let later = Answer {
        status: 200,
        headers: vec![],
        body: b"later".to_vec(),
    };
    s.record_answer(first_id.clone(), later.clone()).await?;
    match s.insert(sample("k1", "push", 3_000)).await? {
        InsertOutcome::Duplicate { answer, .. } => assert_eq!(answer, Some(later)),
        InsertOutcome::Inserted => panic!("duplicate dedup key was inserted"),
    }
    Ok(())
}

/// Atomicity: a delivery that cannot be stored leaves none of its work behind, and does not
/// spoil other inserts committed in the same group.
pub async fn atomicity<S: Store>(s: Arc<S>) -> Result<()> {
    let ok = sample("a1", "push", 1_000);
    let mut clash = sample("a2", "push", 1_000);
    clash.id = ok.id.clone(); // same primary key, different dedup key: must fail
    clash.work.push(NewWork {
        id: WorkId::new_random(),
        flow: "other".into(),
        kind: WorkKind::Start {
            payload: b"{}".to_vec(),
        },
    });
    assert_eq!(s.insert(ok).await?, InsertOutcome::Inserted);
    let (s1, s2) = (s.clone(), s.clone());
    let bad = tokio::spawn(async move { s1.insert(clash).await });
    let good = tokio::spawn(async move { s2.insert(sample("a3", "push", 1_000)).await });
    let bad = bad.await.map_err(|e| StoreError::Db(e.to_string()))?;
    let good = good.await.map_err(|e| StoreError::Db(e.to_string()))?;
    assert!(
        bad.is_err(),
        "a delivery with a clashing id must fail, got {bad:?}"
    );
    assert_eq!(good?, InsertOutcome::Inserted);
    let c = s.counts().await?;
    assert_eq!(
        c.pending, 2,
        "only the two stored deliveries' work exists: {c:?}"
    );
    Ok(())
}

/// Everything stored comes back: redacted headers, body, answer, work, trace, replay link.
pub async fn round_trip<S: Store>(s: &S) -> Result<()> {
    let d = sample("r1", "push", 5_000);
    let id = d.id.clone();
    s.insert(d.clone()).await?;
    let got = s
        .get(id.clone())
        .await?
        .unwrap_or_else(|| panic!("delivery {id} not found"));
    assert_eq!(got.summary.id, id);
    assert_eq!(got.summary.status, DeliveryStatus::Pending);
    assert_eq!(got.summary.answer_status, Some(202));
    assert_eq!(got.summary.verdict, Verdict::Valid);
    assert_eq!(got.dedup_key, "r1");
    assert_eq!(got.body, d.body);
    assert_eq!(got.answer, d.answer);
    assert_eq!(got.build_id, "build-1");
    for (k, v) in &got.headers {
        let secret = [
            "x-hub-signature-256",
            "authorization",
            "x-shopify-access-token",
            "cookie",
        ]
        .contains(&k.to_ascii_lowercase().as_str());
        assert_eq!(secret, v == REDACTED, "header {k} stored as {v:?}");
    }
    assert!(got
        .headers
        .iter()
        .any(|(k, v)| k == "X-GitHub-Event" && v == "push"));
    assert_eq!(got.work.len(), 1);
    assert_eq!(got.work[0].kind, d.work[0].kind);
    assert_eq!(got.work[0].status, WorkStatus::Pending);
    assert_eq!(got.summary.event_id, "evt-r1");
    let steps: Vec<&TraceRecord> = got.trace.iter().map(|t| &t.step).collect();
    assert_eq!(steps, d.trace.iter().collect::<Vec<_>>());
    assert!(got
        .trace
        .iter()
        .all(|t| t.work_id.is_none() && t.attempt.is_none()));
    s.append_trace(id.clone(), vec![step("later", "failed", Some("boom"))])
        .await?;
    let got = s
        .get(id.clone())
        .await?
        .unwrap_or_else(|| panic!("delivery {id} not found"));
    assert_eq!(got.trace.len(), 2);
    assert_eq!(got.trace[1].step.error.as_deref(), Some("boom"));
    let mut replay = sample("r2", "push", 6_000);
    replay.replay_of = Some(id.clone());
    replay.work.clear();
    let rid = replay.id.clone();
    s.insert(replay).await?;
    let got = s
        .get(rid.clone())
        .await?
        .unwrap_or_else(|| panic!("replay {rid} not found"));
    assert_eq!(got.summary.replay_of, Some(id));
    assert_eq!(got.summary.status, DeliveryStatus::Answered);
    assert!(s.get(DeliveryId("nope".into())).await?.is_none());
    Ok(())
}

/// Leases: claimed work is invisible to others, only its owner can finish it, an expired lease
/// is recovered to pending, and the late owner then gets `LeaseLost`.
pub async fn leases_and_recovery<S: Store>(s: &S) -> Result<()> {
    for i in 0..3 {
        s.insert(sample(&format!("l{i}"), "push", 1_000 + i))
            .await?;
    }
    let a = s.claim(claim_req("worker-a", 2, 10_000)).await?;
    assert_eq!(a.len(), 2);
    assert!(a
        .iter()
        .all(|w| w.attempt == 1 && w.lease_expires_ms == 40_000));
    let b = s.claim(claim_req("worker-b", 10, 10_000)).await?;
    assert_eq!(b.len(), 1, "claimed work must not be claimed twice");
    assert!(a.iter().all(|w| w.id != b[0].id));
    assert!(matches!(
        s.complete(
            a[0].id.clone(),
            "worker-b".into(),
            11_000,
            Completion::default()
        )
        .await,
        Err(StoreError::LeaseLost(_))
    ));
    s.complete(
        a[0].id.clone(),
        "worker-a".into(),
        11_000,
        Completion::default(),
    )
    .await?;
    assert_eq!(
        s.recover_expired(39_999).await?,
        0,
        "leases not expired yet"
    );
    let c = s.counts().await?;
    assert_eq!((c.pending, c.running, c.done), (0, 2, 1));
    // worker-a crashed holding a[1]; worker-b's lease expires at the same time.
    assert_eq!(s.recover_expired(40_000).await?, 2);
    let c = s.counts().await?;
    assert_eq!((c.pending, c.running), (2, 0));
    assert!(matches!(
        s.complete(
            a[1].id.clone(),
            "worker-a".into(),
            40_001,
            Completion::default()
        )
        .await,
        Err(StoreError::LeaseLost(_))
    ));
    let again = s.claim(claim_req("worker-c", 10, 40_001)).await?;
    assert_eq!(again.len(), 2);
    assert!(
        again.iter().all(|w| w.attempt == 2),
        "a recovered run is a new attempt"
    );
    let detail = s
        .get(a[1].delivery_id.clone())
        .await?
        .unwrap_or_else(|| panic!("missing delivery"));
    assert_eq!(detail.attempts.len(), 2);
    assert_eq!(detail.attempts[0].result.as_deref(), Some("lease_expired"));
    assert_eq!(detail.attempts[1].owner, "worker-c");
    assert!(detail.attempts[1].result.is_none());
    Ok(())
}

/// Claim order and due times: only due work, oldest first; per-flow limit.
pub async fn claim_rules<S: Store>(s: &S) -> Result<()> {
    let mut d = sample("c1", "push", 2_000);
    d.work.push(NewWork {
        id: WorkId::new_random(),
        flow: "slow".into(),
        kind: WorkKind::Start {
            payload: b"{\"n\":1}".to_vec(),
        },
    });
    d.work.push(NewWork {
        id: WorkId::new_random(),
        flow: "slow".into(),
        kind: WorkKind::Start {
            payload: b"{\"n\":2}".to_vec(),
        },
    });
    s.insert(d).await?;
    s.insert(sample("c2", "push", 9_000)).await?;
    assert!(
        s.claim(claim_req("w", 10, 1_999)).await?.is_empty(),
        "nothing due yet"
    );
    let mut req = claim_req("w", 10, 10_000);
    req.per_flow_limit = Some(1);
    let got = s.claim(req.clone()).await?;
    let mut flows: Vec<&str> = got.iter().map(|w| w.flow.as_str()).collect();
    flows.sort_unstable();
    assert_eq!(flows, vec!["handle", "slow"], "one per flow");
    assert!(
        s.claim(req.clone()).await?.is_empty(),
        "both flows at their limit"
    );
    let slow = got
        .iter()
        .find(|w| w.flow == "slow")
        .unwrap_or_else(|| panic!("no slow work"));
    s.complete(slow.id.clone(), "w".into(), 10_001, Completion::default())
        .await?;
    let more = s.claim(req).await?;
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].flow, "slow");
    assert_ne!(more[0].id, slow.id);
    assert!(
        matches!(&more[0].kind, WorkKind::Start { payload } if payload != match &slow.kind {
            WorkKind::Start { payload } => payload,
            WorkKind::Continue { state, .. } => state,
        })
    );
    Ok(())
}

/// Retry and dead letters: failures follow the given retry time, the last one goes dead with
/// its error kept, and `retry_dead` (filtered by event type) gives it fresh attempts.
pub async fn retry_and_dead<S: Store>(s: &S) -> Result<()> {
    let policy = Backoff::new(1_000, 60_000, 3).map_err(|e| StoreError::Db(e.to_string()))?;
    s.insert(sample("f1", "push", 0)).await?;
    s.insert(sample("f2", "order.created", 0)).await?;
    let mut now = 1_000;
    let mut half = || 0.5;
    for round in 1..=3u32 {
        let got = s.claim(claim_req("w", 10, now)).await?;
        assert_eq!(got.len(), 2, "round {round}: both due");
        for w in &got {
            assert_eq!(w.attempt, round);
            let r = policy.decide(w.attempt, now, &mut half);
            s.fail(
                w.id.clone(),
                "w".into(),
                format!("failure {round}"),
                now,
                r,
                vec![],
            )
            .await?;
        }
        if round < 3 {
            assert!(
                s.claim(claim_req("w", 10, now)).await?.is_empty(),
                "not due before backoff"
            );
            now += i64::try_from(policy.ceiling_ms(round)).unwrap_or(0) / 2;
        }
    }
    let c = s.counts().await?;
    assert_eq!((c.pending, c.running, c.dead), (0, 0, 2));
    assert!(
        s.claim(claim_req("w", 10, i64::MAX / 2)).await?.is_empty(),
        "dead work never runs"
    );
    let dead = s
        .list(ListFilter {
            status: Some(DeliveryStatus::Dead),
            limit: 10,
            ..Default::default()
        })
        .await?;
    assert_eq!(dead.len(), 2);
    let detail = s
        .get(dead[0].id.clone())
        .await?
        .unwrap_or_else(|| panic!("missing"));
    assert_eq!(detail.work[0].last_error.as_deref(), Some("failure 3"));
    assert_eq!(detail.work[0].attempts, 3);
    assert_eq!(detail.attempts.len(), 3);
    assert!(detail
        .attempts
        .iter()
        .all(|a| a.result.as_deref() == Some("error")));
    assert_eq!(s.retry_dead(Some("order.created".into()), now).await?, 1);
    let again = s.claim(claim_req("w", 10, now)).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 1, "retried dead work gets fresh attempts");
    s.fail(
        again[0].id.clone(),
        "w".into(),
        "still".into(),
        now,
        Retry::Dead,
        vec![],
    )
    .await?;
    assert_eq!(s.retry_dead(None, now).await?, 2);
    assert_eq!(s.counts().await?.pending, 2);
    Ok(())
}

/// Prune by age and by count, never removing deliveries with pending, running or dead work.
pub async fn prune_rules<S: Store>(s: &S) -> Result<()> {
    // d0..d5 at t = 0..5 s. d0: done; d1: dead; d2: running; d3: pending; d4, d5: no work.
    let mut ids = Vec::new();
    for i in 0..6i64 {
        let mut d = sample(&format!("p{i}"), "push", i * 1_000);
        if i >= 4 {
            d.work.clear();
        }
        ids.push(d.id.clone());
        s.insert(d).await?;
    }
    let claimed = s.claim(claim_req("w", 3, 10_000)).await?;
    assert_eq!(claimed.len(), 3);
    s.complete(
        claimed[0].id.clone(),
        "w".into(),
        10_000,
        Completion::default(),
    )
    .await?;
    s.fail(
        claimed[1].id.clone(),
        "w".into(),
        "bad".into(),
        10_000,
        Retry::Dead,
        vec![],
    )
    .await?;
    // By age: everything older than 4.5 s except those with work left: only d0, d4 go.
    assert_eq!(
        s.prune(PruneRequest {
            older_than_ms: Some(4_500),
            keep_last: None
        })
        .await?,
        2
    );
    assert!(s.get(ids[0].clone()).await?.is_none());
    assert!(s.get(ids[4].clone()).await?.is_none());
    for i in [1, 2, 3, 5] {
        assert!(s.get(ids[i].clone()).await?.is_some(), "d{i} must survive");
    }
    // By count: keep 1 newest (d5); d1..d3 are protected.
    assert_eq!(
        s.prune(PruneRequest {
            older_than_ms: None,
            keep_last: Some(1)
        })
        .await?,
        0
    );
    assert_eq!(
        s.prune(PruneRequest {
            older_than_ms: None,
            keep_last: Some(0)
        })
        .await?,
        1
    );
    let c = s.counts().await?;
    assert_eq!((c.pending, c.running, c.dead, c.done), (1, 1, 1, 0));
    assert_eq!(
        s.prune(PruneRequest::default()).await?,
        0,
        "no limits, nothing pruned"
    );
    Ok(())
}

/// List filters and order (newest first).
pub async fn list_filters<S: Store>(s: &S) -> Result<()> {
    for i in 0..5i64 {
        let ev = if i % 2 == 0 { "push" } else { "issues" };
        let mut d = sample(&format!("q{i}"), ev, i);
        if i == 4 {
            d.work.clear();
        }
        s.insert(d).await?;
    }
    let all = s
        .list(ListFilter {
            limit: 100,
            ..Default::default()
        })
        .await?;
    let times: Vec<i64> = all.iter().map(|d| d.received_at_ms).collect();
    assert_eq!(times, vec![4, 3, 2, 1, 0]);
    let push = s
        .list(ListFilter {
            event_type: Some("push".into()),
            limit: 100,
            ..Default::default()
        })
        .await?;
    assert_eq!(push.len(), 3);
    let pending_push = s
        .list(ListFilter {
            status: Some(DeliveryStatus::Pending),
            event_type: Some("push".into()),
            limit: 100,
            event_id: None,
        })
        .await?;
    assert_eq!(pending_push.len(), 2);
    assert_eq!(
        s.list(ListFilter {
            limit: 2,
            ..Default::default()
        })
        .await?
        .len(),
        2
    );
    Ok(())
}

/// Group commit under load: `n` concurrent inserts from many tasks all succeed and are all
/// stored, and concurrent duplicates of one key yield exactly one `Inserted`.
pub async fn concurrent_inserts<S: Store>(s: Arc<S>, n: usize) -> Result<()> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let key = if i % 10 == 0 {
                "same".to_owned()
            } else {
                format!("g{i}")
            };
            s.insert(sample(&key, "push", i64::try_from(i).unwrap_or(0)))
                .await
        }));
    }
    let mut inserted = 0;
    let mut dups = 0;
    for t in tasks {
        match t.await.map_err(|e| StoreError::Db(e.to_string()))?? {
            InsertOutcome::Inserted => inserted += 1,
            InsertOutcome::Duplicate { .. } => dups += 1,
        }
    }
    let same = n.div_ceil(10);
    assert_eq!(dups, same - 1);
    assert_eq!(inserted, n - same + 1);
    assert_eq!(s.counts().await?.pending, inserted as u64);
    Ok(())
}

/// Durability: what `open` returned `Ok` for is there after closing and reopening; running
/// work left by the "crash" is recovered.
pub async fn durability<S: Store>(open: impl Fn() -> Result<S>, close: impl Fn(&S)) -> Result<()> {
    let s = open()?;
    let d = sample("dur", "push", 1);
    let id = d.id.clone();
    s.insert(d).await?;
    s.insert(sample("dur2", "push", 2)).await?;
    let claimed = s.claim(claim_req("crashed", 1, 100)).await?;
    assert_eq!(claimed.len(), 1);
    close(&s);
    drop(s);
    let s = open()?;
    assert!(s.get(id).await?.is_some());
    let c = s.counts().await?;
    assert_eq!((c.pending, c.running), (1, 1));
    assert_eq!(
        s.recover_expired(i64::MAX).await?,
        1,
        "startup recovery of a single node"
    );
    assert_eq!(s.claim(claim_req("new", 10, 200)).await?.len(), 2);
    Ok(())
}

/// `lookup` sees committed deliveries by dedup key, with the answer later duplicates get.
pub async fn lookup<S: Store>(s: &S) -> Result<()> {
    assert_eq!(s.lookup("u1".into()).await?, None);
    let d = sample("u1", "push", 1_000);
    let id = d.id.clone();
    let answer = d.answer.clone();
    s.insert(d).await?;
    assert_eq!(
        s.lookup("u1".into()).await?,
        Some(Existing {
            delivery_id: id,
            answer
        })
    );
    assert_eq!(s.lookup("u2".into()).await?, None);
    Ok(())
}

/// Completing an attempt stores the work it produced and its trace in the same transaction;
/// the new work is pending at once, belongs to the same delivery, and runs in order. A late
/// completion (lease lost) writes nothing.
pub async fn complete_with_new_work<S: Store>(s: &S) -> Result<()> {
    let d = sample("n1", "push", 1_000);
    let id = d.id.clone();
    s.insert(d).await?;
    let got = s.claim(claim_req("w", 10, 2_000)).await?;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].base.tenant, "acme");
    assert_eq!(got[0].base.event_type, "push");
    assert_eq!(got[0].base.event_id, "evt-n1");
    assert!(got[0]
        .base
        .headers
        .iter()
        .any(|(k, v)| k == "Authorization" && v == REDACTED));
    let produced = vec![
        NewWork {
            id: WorkId::new_random(),
            flow: "handle".into(),
            kind: WorkKind::Continue {
                node: 5,
                state_version: 1,
                state: b"{\"next\":1}".to_vec(),
            },
        },
        NewWork {
            id: WorkId::new_random(),
            flow: "spawned".into(),
            kind: WorkKind::Start {
                payload: b"{\"p\":2}".to_vec(),
            },
        },
    ];
    // A completion under a lost lease writes nothing: no work, no trace.
    assert!(matches!(
        s.complete(
            got[0].id.clone(),
            "intruder".into(),
            2_500,
            Completion {
                work: produced.clone(),
                trace: vec![step("x", "ok", None)],
            }
        )
        .await,
        Err(StoreError::LeaseLost(_))
    ));
    s.complete(
        got[0].id.clone(),
        "w".into(),
        3_000,
        Completion {
            work: produced.clone(),
            trace: vec![step("process", "ok", None), step("more", "ok", None)],
        },
    )
    .await?;
    let c = s.counts().await?;
    assert_eq!((c.pending, c.running, c.done), (2, 0, 1));
    let detail = s
        .get(id.clone())
        .await?
        .unwrap_or_else(|| panic!("missing delivery"));
    assert_eq!(detail.summary.status, DeliveryStatus::Pending);
    let kinds: Vec<&WorkKind> = detail.work.iter().skip(1).map(|w| &w.kind).collect();
    assert_eq!(kinds, produced.iter().map(|w| &w.kind).collect::<Vec<_>>());
    assert_eq!(
        detail.trace.len(),
        3,
        "answer step + two steps of the attempt"
    );
    assert_eq!(detail.trace[1].work_id.as_ref(), Some(&got[0].id));
    assert_eq!(detail.trace[1].attempt, Some(1));
    assert_eq!(detail.trace[2].step.node, "more");
    // The produced work is due at once, in the order it was produced.
    let next = s.claim(claim_req("w", 10, 3_000)).await?;
    let flows: Vec<&str> = next.iter().map(|w| w.flow.as_str()).collect();
    assert_eq!(flows, vec!["handle", "spawned"]);
    assert!(next.iter().all(|w| w.delivery_id == id && w.attempt == 1));
    // A failed attempt keeps its path too.
    s.fail(
        next[1].id.clone(),
        "w".into(),
        "flow `spawned` failed at node `x`".into(),
        3_100,
        Retry::Dead,
        vec![step("x", "failed", Some("nope"))],
    )
    .await?;
    let detail = s
        .get(id)
        .await?
        .unwrap_or_else(|| panic!("missing delivery"));
    let last = detail.trace.last().unwrap_or_else(|| panic!("no trace"));
    assert_eq!(last.step.error.as_deref(), Some("nope"));
    assert_eq!(last.work_id.as_ref(), Some(&next[1].id));
    assert_eq!(detail.summary.status, DeliveryStatus::Dead);
    Ok(())
}

/// Per-flow overrides of the concurrency limit, and lookups by `event_id`.
pub async fn flow_limits_and_event_ids<S: Store>(s: &S) -> Result<()> {
    for i in 0..4 {
        let mut d = sample(&format!("o{i}"), "push", 1_000 + i);
        d.event_id = "shared-sender-id".into();
        d.work.push(NewWork {
            id: WorkId::new_random(),
            flow: "bulk".into(),
            kind: WorkKind::Start {
                payload: b"{}".to_vec(),
            },
        });
        s.insert(d).await?;
    }
    let mut req = claim_req("w", 100, 5_000);
    req.per_flow_limit = Some(1);
    req.flow_limits.insert("bulk".into(), 3);
    let got = s.claim(req).await?;
    let bulk = got.iter().filter(|w| w.flow == "bulk").count();
    let handle = got.iter().filter(|w| w.flow == "handle").count();
    assert_eq!((bulk, handle), (3, 1));
    let same = s
        .list(ListFilter {
            event_id: Some("shared-sender-id".into()),
            limit: 10,
            ..Default::default()
        })
        .await?;
    assert_eq!(same.len(), 4);
    assert!(same.iter().all(|d| d.event_id == "shared-sender-id"));
    Ok(())
}

/// Work claimed at insert: running under the inserter's lease with its first attempt started,
/// never claimed by others, completed by its id, recovered like any lease when it expires.
pub async fn insert_leased<S: Store>(s: &S) -> Result<()> {
    let mut d = sample("i1", "push", 1_000);
    let id = d.work[0].id.clone();
    d.lease = Some(Lease {
        owner: "me".into(),
        expires_ms: 31_000,
    });
    s.insert(d).await?;
    let mut other = sample("i2", "push", 1_000);
    let other_id = other.work[0].id.clone();
    other.lease = Some(Lease {
        owner: "crashed".into(),
        expires_ms: 31_000,
    });
    s.insert(other).await?;
    let c = s.counts().await?;
    assert_eq!((c.pending, c.running), (0, 2));
    assert!(s.claim(claim_req("w", 10, 2_000)).await?.is_empty());
    assert!(matches!(
        s.complete(id.clone(), "w".into(), 2_000, Completion::default())
            .await,
        Err(StoreError::LeaseLost(_))
    ));
    s.complete(id, "me".into(), 2_000, Completion::default())
        .await?;
    assert_eq!(s.recover_expired(31_000).await?, 1);
    let again = s.claim(claim_req("w", 10, 31_000)).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, other_id);
    assert_eq!(again[0].attempt, 2, "the leased run was attempt 1");
    Ok(())
}
