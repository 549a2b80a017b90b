//! Password hashing on a fixed pool: one thread per core and a bounded
//! queue in front of them.
//!
//! argon2id is deliberately expensive in CPU and memory (19 MiB per hash
//! with the defaults). On tokio's blocking pool every concurrent login got
//! its own thread — up to 512 — and each thread's allocator arena kept its
//! 19 MiB after the burst: 400 concurrent wrong-password logins left a
//! server at 3.85 GB. Here at most `threads` hashes run at once, whatever
//! arrives; what does not fit in the queue is refused at once with
//! `unavailable` and a `retry_after_ms`, and memory stays at `threads` ×
//! the argon2 cost.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
};

use ferry_core::{ApiError, ErrorCode};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// How long a refused caller is told to wait.
const RETRY_AFTER_MS: u64 = 500;

/// The pool; dropping it lets the threads finish queued work and exit.
pub struct HashPool {
    jobs: mpsc::SyncSender<Job>,
    refused: Arc<AtomicU64>,
}

impl HashPool {
    /// `threads` workers (0 = one per core) behind a queue of `queue` jobs.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let threads = match threads {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (jobs, rx) = mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            thread::Builder::new().name(format!("ferry-argon2-{i}")).spawn(move || {
                loop {
                    // The lock is held only to take the next job.
                    let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })?;
        }
        Ok(Self { jobs, refused: Arc::default() })
    }

    /// Runs `f` on the pool, or refuses at once when the queue is full.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(f());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(busy());
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(ApiError::internal()),
        }
        result.await.map_err(|_| ApiError::internal())
    }

    /// Requests refused because the queue was full (for `/metrics`).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

fn busy() -> ApiError {
    let mut e = ApiError::new(ErrorCode::Unavailable, "the server is busy checking passwords; retry shortly");
    e.retry_after_ms = Some(RETRY_AFTER_MS);
    e
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn at_most_threads_run_and_the_queue_overflow_is_refused() {
        let pool = Arc::new(HashPool::new(2, 2).expect("pool"));
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let running = Arc::new(AtomicU64::new(0));
        let most = Arc::new(AtomicU64::new(0));
        let mut waiting = Vec::new();
        // Two occupy the threads (each held until released), two wait queued.
        for _ in 0..4 {
            let (pool, gate, running, most) =
                (Arc::clone(&pool), Arc::clone(&gate), Arc::clone(&running), Arc::clone(&most));
            waiting.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let _ = gate.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let refused = pool.run(|| ()).await.expect_err("queue full");
        assert_eq!((refused.code, refused.retry_after_ms), (ErrorCode::Unavailable, Some(RETRY_AFTER_MS)));
        assert_eq!(pool.refused(), 1);
        for _ in 0..4 {
            release.send(()).expect("release one");
        }
        for w in waiting {
            w.await.expect("task").expect("ran");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "never more than the threads at once");
        pool.run(|| ()).await.expect("room again");
    }
}
