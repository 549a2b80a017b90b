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

/// A unit of work for the writer thread.
type Job = Box<dyn FnOnce(&mut Connection, &MessageLog) + Send>;

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
                    // With merge work pending, poll for jobs; else wait for one.
                    let job = if merge_pending {
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
                    // A panicking job must not take every later write down
                    // with it: its caller sees a dropped reply, the
                    // transaction it held rolled back while unwinding.
                    let _ = guarded(&mut conn, |c| {
                        job(c, &log);
                        Ok(false)
                    });
                    since_merge += 1;
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
        let job: Job = Box::new(move |conn, log| {
            // The caller may have gone away; the work is done either way.
            let _ = reply.send(f(conn, log));
        });
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
