//! The connections behind [`SqliteStore`](super::SqliteStore): one writer
//! thread and a small pool of read-only connections.
//!
//! SQLite allows one writer at a time. Rather than let async tasks contend
//! for the write lock (and sleep in `busy_timeout`), every write is a job sent
//! over a bounded channel to a dedicated thread that owns the only read-write
//! connection and runs jobs one after another. That serialisation is also
//! what makes seq assignment race-free without any further locking. Between
//! jobs the same thread merges the message log (see `log.rs`): when idle,
//! and at least every [`MERGE_EVERY`] jobs while a merge is pending. Readers
//! never block the writer in WAL mode, so reads run on their own connections
//! on tokio's blocking pool.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex, PoisonError},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use rusqlite::Connection;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::backend_err;
use super::log::MessageLog;
use crate::{Result, StoreError};

/// How many write jobs may wait for the writer before senders wait too.
const WRITE_QUEUE: usize = 256;

/// While a merge is pending, one merge chunk runs at least after this many
/// jobs, so a writer that is never idle still finishes merging before the
/// next log table fills.
const MERGE_EVERY: usize = 4;

/// How long merging pauses after it failed (e.g. the disk is full).
const MERGE_BACKOFF: Duration = Duration::from_secs(1);

/// Most small writes that may share one transaction (and so one fsync).
const MAX_GROUP: usize = 128;

/// A unit of work for the writer thread.
enum Job {
    /// Runs alone, managing its own transaction.
    Solo(SoloJob),
    /// Runs inside a transaction shared with the grouped jobs queued after
    /// it; returns what to do once that transaction committed (or failed).
    Grouped(GroupedJob),
}

type SoloJob = Box<dyn FnOnce(&mut Connection, &MessageLog) + Send>;
type GroupedJob = Box<dyn FnOnce(&Connection) -> Finish + Send>;

/// Replies to a grouped job's caller with the commit's outcome.
type Finish = Box<dyn FnOnce(Result<()>) + Send>;

/// Handle to the writer thread. Dropping it closes the job channel; the
/// thread finishes the queued jobs, closes its connection and exits.
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
    thread: JoinHandle<()>,
}

impl Writer {
    /// Moves `conn` and the message log to a new thread that runs write
    /// jobs (and merges the log between them) until every [`Writer`] handle
    /// is gone.
    pub(super) fn spawn(mut conn: Connection, log: MessageLog) -> Result<Self> {
        let (jobs, mut rx) = mpsc::channel::<Job>(WRITE_QUEUE);
        let thread = std::thread::Builder::new()
            .name("ferry-sqlite-writer".into())
            .spawn(move || {
                let mut since_merge = 0;
                let mut wal = WalWrap::new(&conn);
                let mut held: Option<Job> = None;
                let mut paused_until: Option<Instant> = None;
                loop {
                    let merge_pending = log.merging() && paused_until.is_none_or(|until| Instant::now() >= until);
                    if merge_pending && (log.must_merge() || since_merge >= MERGE_EVERY || rx.is_empty()) {
                        if rx.is_closed() && rx.is_empty() {
                            // Shutting down: what is logged is merged after the next start.
                            break;
                        }
                        since_merge = 0;
                        paused_until = None;
                        if let Err(e) = guarded(&mut conn, |c| log.merge_step(c)) {
                            tracing::error!(error = %e, "merging the message log failed; pausing merges");
                            paused_until = Some(Instant::now() + MERGE_BACKOFF);
                        }
                        continue;
                    }
                    // A job held back from the last group runs first.
                    let job = if let Some(job) = held.take() {
                        job
                    } else if merge_pending {
                        // With merge work pending, poll for jobs; else wait for one.
                        match rx.try_recv() {
                            Ok(job) => job,
                            Err(mpsc::error::TryRecvError::Empty) => continue,
                            Err(mpsc::error::TryRecvError::Disconnected) => break,
                        }
                    } else {
                        match rx.blocking_recv() {
                            Some(job) => job,
                            None => break,
                        }
                    };
                    match job {
                        // A panicking job must not take every later write down
                        // with it: its caller sees a dropped reply, the
                        // transaction it held rolled back while unwinding.
                        Job::Solo(job) => {
                            let _ = guarded(&mut conn, |c| {
                                job(c, &log);
                                Ok(false)
                            });
                        }
                        Job::Grouped(first) => held = run_group(&mut conn, first, &mut rx),
                    }
                    since_merge += 1;
                    wal.after_job(&conn);
                }
                // Lets SQLite refresh its planner statistics if worthwhile.
                if let Err(e) = conn.execute_batch("PRAGMA optimize") {
                    tracing::warn!(error = %e, "PRAGMA optimize at close failed");
                }
            })
            .map_err(|e| StoreError::Backend(format!("spawning the SQLite writer thread: {e}")))?;
        Ok(Self { jobs, thread })
    }

    /// Runs `f` on the writer connection and returns its result. `f` runs
    /// even if the returned future is dropped before it completes.
    pub(super) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &MessageLog) -> Result<T> + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job = Job::Solo(Box::new(move |conn, log| {
            // The caller may have gone away; the work is done either way.
            let _ = reply.send(f(conn, log));
        }));
        self.jobs.send(job).await.map_err(|_| writer_gone())?;
        result.await.map_err(|_| writer_gone())?
    }

    /// Runs `f` on the writer connection inside a transaction it shares
    /// with the other grouped writes queued at the same time (group commit:
    /// one fsync for all of them), and returns its result once that
    /// transaction committed. `f` must not open a transaction itself; when
    /// it fails, only its own changes are rolled back (a savepoint).
    pub(super) async fn run_grouped<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job = Job::Grouped(Box::new(move |conn| {
            let outcome = in_savepoint(conn, f);
            Box::new(move |committed: Result<()>| {
                // The caller may have gone away; the work is done either way.
                let _ = reply.send(committed.and(outcome));
            })
        }));
        self.jobs.send(job).await.map_err(|_| writer_gone())?;
        result.await.map_err(|_| writer_gone())?
    }

    /// Closes the channel and waits until the thread has drained it and
    /// closed the connection.
    pub(super) async fn shutdown(self) {
        let Self { jobs, thread } = self;
        drop(jobs);
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => tracing::error!("SQLite writer thread panicked"),
            Err(e) => tracing::error!(error = %e, "joining the SQLite writer thread"),
        }
    }
}

/// Keeps the WAL wrapping instead of growing. Under continuous writes the
/// background checkpoint never catches up with the last frame, so SQLite
/// never restarts the WAL at its beginning: the file grows without bound
/// (262 MB in 12 s at 27,000 msgs/s) and every frame extends it, which on
/// ext4 costs zeroing a fresh page-cache folio per write (16% of the
/// server's CPU in that run). Once the WAL passes [`WAL_WRAP_BYTES`], the
/// writer checkpoints itself between jobs: no frame is appended meanwhile,
/// so the checkpoint completes (it only copies what the background
/// checkpointer has not yet copied) and the next commit starts over at
/// offset 0, on pages already in the cache.
struct WalWrap {
    path: Option<std::path::PathBuf>,
    jobs: usize,
}

/// WAL size past which the writer checkpoints (see [`WalWrap`]).
const WAL_WRAP_BYTES: u64 = 64 * 1024 * 1024;

/// Jobs between two looks at the WAL's size.
const WAL_CHECK_EVERY: usize = 16;

impl WalWrap {
    fn new(conn: &Connection) -> Self {
        let path = conn.path().filter(|p| !p.is_empty()).map(|p| std::path::PathBuf::from(format!("{p}-wal")));
        Self { path, jobs: 0 }
    }

    fn after_job(&mut self, conn: &Connection) {
        self.jobs += 1;
        if !self.jobs.is_multiple_of(WAL_CHECK_EVERY) {
            return;
        }
        let Some(path) = &self.path else { return };
        let Ok(size) = std::fs::metadata(path).map(|m| m.len()) else { return };
        if size < WAL_WRAP_BYTES {
            return;
        }
        let started = Instant::now();
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))) {
            Ok((frames, copied)) => {
                tracing::debug!(frames, copied, ms = started.elapsed().as_millis() as u64, "WAL wrapped by the writer")
            }
            Err(e) => tracing::warn!(error = %e, "writer checkpoint failed"),
        }
    }
}

/// Runs `first` and the grouped jobs queued behind it (up to
/// [`MAX_GROUP`]) in one transaction, commits, then tells each caller. A solo
/// job met in the queue ends the group and is returned to run next.
fn run_group(conn: &mut Connection, first: GroupedJob, rx: &mut mpsc::Receiver<Job>) -> Option<Job> {
    let mut finishers = Vec::new();
    let mut held = None;
    let outcome = guarded(conn, |c| {
        c.execute_batch("BEGIN IMMEDIATE").map_err(backend_err)?;
        finishers.push(first(c));
        while finishers.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(Job::Grouped(job)) => finishers.push(job(c)),
                Ok(solo) => {
                    held = Some(solo);
                    break;
                }
                Err(_) => break,
            }
        }
        c.execute_batch("COMMIT").map_err(backend_err)?;
        Ok(false)
    });
    let committed = outcome.map(|_| ()).inspect_err(|e| {
        tracing::error!(error = %e, jobs = finishers.len(), "a group of writes failed to commit");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    });
    for finish in finishers {
        finish(committed.as_ref().map(|_| ()).map_err(|e| StoreError::Backend(e.to_string())));
    }
    held
}

/// Runs `f` under a savepoint: its changes are undone if it fails.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT grouped").map_err(backend_err)?;
    let result = f(conn);
    let end = if result.is_ok() { "RELEASE grouped" } else { "ROLLBACK TO grouped; RELEASE grouped" };
    conn.execute_batch(end).map_err(backend_err)?;
    result
}

/// Runs `f` on the writer connection, turning a panic into an error and
/// rolling back whatever transaction it left open.
fn guarded(conn: &mut Connection, f: impl FnOnce(&mut Connection) -> Result<bool>) -> Result<bool> {
    match catch_unwind(AssertUnwindSafe(|| f(conn))) {
        Ok(result) => result,
        Err(_) => {
            tracing::error!("SQLite write job panicked");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(StoreError::Backend("a write job panicked".into()))
        }
    }
}

fn writer_gone() -> StoreError {
    StoreError::Backend("the SQLite writer thread has stopped".into())
}

/// Read-only connections, lent out one per blocking task.
pub(super) struct Readers {
    /// One permit per connection: a task holding a permit is guaranteed an
    /// idle connection in `idle`.
    permits: Arc<Semaphore>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Readers {
    pub(super) fn new(conns: Vec<Connection>) -> Self {
        Self { permits: Arc::new(Semaphore::new(conns.len())), idle: Arc::new(Mutex::new(conns)) }
    }

    /// Runs `f` on an idle read-only connection on tokio's blocking pool,
    /// waiting for one if all are busy.
    pub(super) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("the SQLite reader pool is closed".into()))?;
        let idle = Arc::clone(&self.idle);
        let task = tokio::task::spawn_blocking(move || {
            let lent = Lent::take(idle)?;
            let result = f(lent.conn());
            drop(lent);
            drop(permit);
            result
        });
        task.await.map_err(|e| StoreError::Backend(format!("SQLite read task failed: {e}")))?
    }
}

/// A connection taken from the idle list; goes back on drop, also when the
/// read panics, so the pool never shrinks.
struct Lent {
    idle: Arc<Mutex<Vec<Connection>>>,
    conn: Option<Connection>,
}

impl Lent {
    fn take(idle: Arc<Mutex<Vec<Connection>>>) -> Result<Self> {
        // A poisoned lock is harmless: push and pop leave the Vec valid.
        let conn = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match conn {
            Some(conn) => Ok(Self { idle, conn: Some(conn) }),
            None => Err(StoreError::Backend("no idle SQLite reader despite a permit".into())),
        }
    }

    fn conn(&self) -> &Connection {
        // Invariant: `conn` is only taken out in `drop`.
        self.conn.as_ref().expect("a lent connection is present until drop")
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
        }
    }
}
