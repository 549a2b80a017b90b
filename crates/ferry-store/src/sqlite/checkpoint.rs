//! WAL checkpoints off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold, so one unlucky batch of messages waits for the WAL to be
//! copied into the database file. The writer turns that off; this thread
//! runs a `PASSIVE` checkpoint on its own connection at a fixed interval
//! instead. A passive checkpoint never blocks the writer or readers: it
//! copies what it can and leaves the rest for the next round. Copying once
//! a second also means a page rewritten by many commits in that second
//! reaches the database file once.

use std::{
    path::Path,
    sync::mpsc::{self, RecvTimeoutError},
    thread::JoinHandle,
    time::Duration,
};

use rusqlite::Connection;

use super::{BUSY_TIMEOUT, backend_err};
use crate::{Result, StoreError};

/// The checkpoint thread; stops when shut down or dropped.
pub(super) struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    /// Opens a connection to `path` and checkpoints every `interval`.
    pub(super) fn spawn(path: &Path, interval: Duration) -> Result<Self> {
        let conn = Connection::open(path).map_err(backend_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend_err)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ferry-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    if let Err(e) = checkpoint(&conn) {
                        tracing::warn!(error = %e, "WAL checkpoint failed; retrying next interval");
                    }
                }
                // The last round: whatever the writer committed before it
                // stopped reaches the database file.
                if let Err(e) = checkpoint(&conn) {
                    tracing::warn!(error = %e, "final WAL checkpoint failed");
                }
            })
            .map_err(|e| StoreError::Backend(format!("spawning the SQLite checkpoint thread: {e}")))?;
        Ok(Self { stop, thread })
    }

    /// Runs a last checkpoint and waits for the thread to end.
    pub(super) async fn shutdown(self) {
        let Self { stop, thread } = self;
        let _ = stop.send(());
        if let Err(e) = tokio::task::spawn_blocking(move || thread.join()).await {
            tracing::error!(error = %e, "joining the SQLite checkpoint thread");
        }
    }
}

/// One passive checkpoint.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}
