//! The store conformance suite on the SQLite backend, plus failure behaviour and a
//! group-commit measurement (ignored; run explicitly).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use hookflow_runtime::store::conformance as c;
use hookflow_runtime::store::sqlite::{SqliteOptions, SqliteStore};
use hookflow_runtime::store::{Store, StoreError};

type R = Result<(), StoreError>;

fn fresh() -> Result<(tempfile::TempDir, SqliteStore), StoreError> {
    let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
    let s = SqliteStore::open(dir.path())?;
    Ok((dir, s))
}

#[tokio::test]
async fn dedup() -> R {
    let (_d, s) = fresh()?;
    c::dedup(&s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomicity() -> R {
    let (_d, s) = fresh()?;
    c::atomicity(Arc::new(s)).await
}

#[tokio::test]
async fn insert_leased() -> R {
    let (_d, s) = fresh()?;
    c::insert_leased(&s).await
}

#[tokio::test]
async fn lookup() -> R {
    let (_d, s) = fresh()?;
    c::lookup(&s).await
}

#[tokio::test]
async fn complete_with_new_work() -> R {
    let (_d, s) = fresh()?;
    c::complete_with_new_work(&s).await
}

#[tokio::test]
async fn flow_limits_and_event_ids() -> R {
    let (_d, s) = fresh()?;
    c::flow_limits_and_event_ids(&s).await
}

#[tokio::test]
async fn round_trip() -> R {
    let (_d, s) = fresh()?;
    c::round_trip(&s).await
}

#[tokio::test]
async fn leases_and_recovery() -> R {
    let (_d, s) = fresh()?;
    c::leases_and_recovery(&s).await
}

#[tokio::test]
async fn claim_rules() -> R {
    let (_d, s) = fresh()?;
    c::claim_rules(&s).await
}

#[tokio::test]
async fn retry_and_dead() -> R {
    let (_d, s) = fresh()?;
    c::retry_and_dead(&s).await
}

#[tokio::test]
async fn prune_rules() -> R {
    let (_d, s) = fresh()?;
    c::prune_rules(&s).await
}

#[tokio::test]
async fn list_filters() -> R {
    let (_d, s) = fresh()?;
    c::list_filters(&s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_group_commit() -> R {
    let (_d, s) = fresh()?;
    let s = Arc::new(s);
    c::concurrent_inserts(s.clone(), 500).await?;
    let commits = s.insert_commits();
    eprintln!("500 concurrent inserts in {commits} commits");
    assert!(
        (1..500).contains(&commits),
        "inserts must share commits, got {commits} for 500"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_one_commit_each() -> R {
    let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
    let s = SqliteStore::open_with(
        dir.path(),
        SqliteOptions {
            group_commit: false,
            synchronous_full: true,
        },
    )?;
    let s = Arc::new(s);
    c::concurrent_inserts(s.clone(), 100).await?;
    // Every insert commits alone (duplicates too: they are answered after their own commit).
    assert_eq!(s.insert_commits(), 100);
    Ok(())
}

#[tokio::test]
async fn durability_across_reopen() -> R {
    let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
    let path = dir.path().to_owned();
    c::durability(move || SqliteStore::open(&path), SqliteStore::close).await
}

#[tokio::test]
async fn wal_file_in_state_dir() -> R {
    let (dir, s) = fresh()?;
    s.insert(c::sample("w", "push", 1)).await?;
    assert_eq!(s.path(), dir.path().join("hookflow.db"));
    assert!(dir.path().join("hookflow.db-wal").exists(), "WAL mode");
    Ok(())
}

#[tokio::test]
async fn missing_directory_is_an_open_error() {
    let dir = tempfile::tempdir().ok();
    let gone = dir.as_ref().map_or_else(
        || Path::new("/nonexistent").to_owned(),
        |d| d.path().join("gone"),
    );
    assert!(matches!(
        SqliteStore::open(&gone),
        Err(StoreError::Open { .. })
    ));
}

#[tokio::test]
async fn closed_store_returns_errors() -> R {
    let (_d, s) = fresh()?;
    s.insert(c::sample("x", "push", 1)).await?;
    s.close();
    assert!(matches!(
        s.insert(c::sample("y", "push", 2)).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(s.counts().await, Err(StoreError::Closed)));
    Ok(())
}

#[tokio::test]
async fn unwritable_database_fails_inserts() -> R {
    let (_d, s) = fresh()?;
    s.insert(c::sample("x", "push", 1)).await?;
    // Make further writes impossible from inside SQLite (as a full disk or a read-only file
    // would): the commit must fail and the caller must see an error, never Inserted.
    let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
    let ro = SqliteStore::open(dir.path())?;
    ro.close();
    let db = dir.path().join("hookflow.db");
    let mut perms = std::fs::metadata(&db)
        .map_err(|e| StoreError::Db(e.to_string()))?
        .permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&db, perms).map_err(|e| StoreError::Db(e.to_string()))?;
    let running_as_root = std::fs::OpenOptions::new().write(true).open(&db).is_ok();
    if running_as_root {
        eprintln!("skipping read-only check: file permissions are not enforced for this user");
        return Ok(());
    }
    match SqliteStore::open(dir.path()) {
        Err(_) => Ok(()),
        Ok(s) => {
            let r = s.insert(c::sample("y", "push", 2)).await;
            assert!(
                r.is_err(),
                "insert into a read-only database returned {r:?}"
            );
            Ok(())
        }
    }
}

/// Measurement, not a test: `cargo test -p hookflow-runtime --release --test store -- --ignored
/// --nocapture measure_group_commit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run explicitly"]
async fn measure_group_commit() -> R {
    let n: usize = std::env::var("STORE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let tasks: usize = std::env::var("STORE_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    for group in [true, false] {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
        let s = Arc::new(SqliteStore::open_with(
            dir.path(),
            SqliteOptions {
                group_commit: group,
                synchronous_full: true,
            },
        )?);
        let start = Instant::now();
        let mut handles = Vec::new();
        for t in 0..tasks {
            let s = s.clone();
            handles.push(tokio::spawn(async move {
                let mut i = t;
                while i < n {
                    s.insert(c::sample(&format!("m{i}"), "push", 0)).await?;
                    i += tasks;
                }
                Ok::<(), StoreError>(())
            }));
        }
        for h in handles {
            h.await.map_err(|e| StoreError::Db(e.to_string()))??;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "group_commit={group}: {n} inserts from {tasks} tasks in {secs:.2}s = {:.0} inserts/s, \
             {} commits (synchronous=FULL)",
            n as f64 / secs,
            s.insert_commits()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_writes_are_errors_not_success() -> R {
    let (dir, s) = fresh()?;
    let s = Arc::new(s);
    s.insert(c::sample("before", "push", 1)).await?;
    // Another connection makes every write to `deliveries` fail, as a full disk would.
    let other = rusqlite::Connection::open(dir.path().join("hookflow.db"))?;
    other.execute_batch(
        "CREATE TRIGGER fail_inserts BEFORE INSERT ON deliveries \
         BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END;",
    )?;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.insert(c::sample(&format!("f{i}"), "push", 2)).await
        }));
    }
    for t in tasks {
        let r = t.await.map_err(|e| StoreError::Db(e.to_string()))?;
        assert!(
            matches!(r, Err(StoreError::Db(_))),
            "a failed write must be an error, got {r:?}"
        );
    }
    let counts = s.counts().await?;
    assert_eq!(counts.pending, 1, "no work from failed inserts: {counts:?}");
    other.execute_batch("DROP TRIGGER fail_inserts;")?;
    assert!(matches!(
        s.insert(c::sample("after", "push", 3)).await?,
        hookflow_runtime::store::InsertOutcome::Inserted
    ));
    Ok(())
}

/// Sustained writes do not grow the WAL without bound: a PASSIVE checkpoint alone never finishes
/// while the writer keeps appending, so the WAL grew by every delivery (1.2 GB in 10 s under
/// load). 64 writers store 160 MiB of bodies back to back; the WAL must stay a fraction of that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_sustained_writes() -> R {
    let (dir, s) = fresh()?;
    let s = Arc::new(s);
    let wal = dir
        .path()
        .join(format!("{}-wal", hookflow_runtime::store::sqlite::DB_FILE));
    let largest = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watch = {
        let (wal, largest) = (wal.clone(), largest.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(m) = std::fs::metadata(&wal) {
                    largest.fetch_max(m.len(), std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for t in 0..64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                let mut d = c::sample(&format!("wal-{t}-{i}"), "push", 1);
                d.body = vec![b'x'; 64 * 1024].into();
                s.insert(d).await?;
            }
            Ok::<(), StoreError>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| StoreError::Db(e.to_string()))??;
    }
    watch.abort();
    let largest = largest.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        largest < 96 * 1024 * 1024,
        "the WAL reached {} MiB for 160 MiB written",
        largest / 1024 / 1024
    );
    // The writer finishes at most one checkpoint per WAL_LIMIT_FRAMES (32 MiB) written, not one
    // after every checkpoint of the checkpoint thread (it did when it went by the file's size,
    // which stays at its largest after the WAL starts over: 40% of its groups under load).
    let by_writer = s.writer_checkpoints();
    assert!(
        (1..=6).contains(&by_writer),
        "the writer ran {by_writer} checkpoints for 160 MiB written"
    );
    Ok(())
}
