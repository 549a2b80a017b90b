//! Back-off between retries, what is worth retrying, and waiting on
//! something unless the caller cancels.

use std::{future::Future, time::Duration};

use ferry_core::ErrorCode;
use tokio_util::sync::CancellationToken;

use super::{RetryPolicy, TransferEvent};
use crate::error::{ClientError, Result};

/// The callback transfers report to.
pub(crate) type Events<'e> = dyn FnMut(TransferEvent<'_>) + Send + 'e;

/// Retries in a row, and the delay before the next one.
#[derive(Debug)]
pub(crate) struct Backoff {
    policy: RetryPolicy,
    attempts: u32,
}

impl Backoff {
    pub fn new(policy: &RetryPolicy) -> Self {
        Self { policy: policy.clone(), attempts: 0 }
    }

    /// Progress was made: the next failure is the first in a row again.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// The attempt number and delay of the next retry, or `None` when the
    /// policy allows no more. The delay doubles from `initial_delay` up to
    /// `max_delay`, less up to a quarter at random so that clients cut off
    /// together do not come back together.
    pub fn next(&mut self) -> Option<(u32, Duration)> {
        if self.attempts >= self.policy.max_attempts {
            return None;
        }
        let full = self.policy.initial_delay.saturating_mul(1u32 << self.attempts.min(20)).min(self.policy.max_delay);
        self.attempts += 1;
        let jitter = full.mul_f64(rand::random_range(0.0..0.25));
        Some((self.attempts, full - jitter))
    }
}

/// Whether a failed request may succeed if made again (after asking the
/// server where an upload stands): the pipe failed, the server is busy or
/// restarting, or it refused bytes that may have been damaged on the way.
pub(crate) fn transient(e: &ClientError) -> bool {
    e.is_retryable()
        || matches!(
            e.code(),
            Some(
                ErrorCode::Unavailable
                    | ErrorCode::Internal
                    | ErrorCode::RateLimited
                    | ErrorCode::Conflict
                    | ErrorCode::ChecksumMismatch
            )
        )
}

/// `fut`, unless `cancel` fires first.
pub(crate) async fn cancellable<T>(cancel: &CancellationToken, fut: impl Future<Output = T>) -> Result<T> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(ClientError::Cancelled),
        out = fut => Ok(out),
    }
}

/// Waits before retry number `attempt`, telling the caller why.
pub(crate) async fn pause(
    cancel: &CancellationToken,
    events: &mut Events<'_>,
    (attempt, delay): (u32, Duration),
    error: &ClientError,
) -> Result<()> {
    tracing::debug!(attempt, ?delay, %error, "transfer: retrying");
    events(TransferEvent::Retrying { attempt, delay, error });
    cancellable(cancel, tokio::time::sleep(delay)).await
}

/// Runs `op` until it succeeds, retrying [`transient`] failures under
/// `policy`; for requests that are safe to repeat.
pub(crate) async fn retrying<T, F, Fut>(
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    events: &mut Events<'_>,
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut backoff = Backoff::new(policy);
    loop {
        match cancellable(cancel, op()).await? {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) => match backoff.next() {
                Some(next) => pause(cancel, events, next, &e).await?,
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
}

/// The progress a transfer reports: never backwards, never twice the same.
#[derive(Debug)]
pub(crate) struct Meter {
    reported: Option<u64>,
    total: u64,
}

impl Meter {
    pub fn new(total: u64) -> Self {
        Self { reported: None, total }
    }

    /// Changes the size (an upload learns it from the file).
    pub fn set_total(&mut self, total: u64) {
        self.total = total;
    }

    /// Reports `done` bytes if that is more than reported so far.
    pub fn report(&mut self, done: u64, events: &mut Events<'_>) {
        let done = done.min(self.total);
        if self.reported.is_none_or(|r| done > r) {
            self.reported = Some(done);
            events(TransferEvent::Progress { done, total: self.total });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ApiError;

    #[test]
    fn backoff_doubles_up_to_the_cap_then_gives_up() {
        let policy = RetryPolicy {
            max_attempts: 6,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let mut b = Backoff::new(&policy);
        let full = [100, 200, 400, 500, 500, 500];
        for (i, full) in full.into_iter().enumerate() {
            let (attempt, delay) = b.next().expect("within the policy");
            assert_eq!(attempt as usize, i + 1);
            let full = Duration::from_millis(full);
            assert!(delay <= full && delay >= full.mul_f64(0.75), "{i}: {delay:?} vs {full:?}");
        }
        assert_eq!(b.next(), None);
        b.reset();
        assert_eq!(b.next().map(|(a, _)| a), Some(1));
    }

    #[test]
    fn only_passing_failures_are_retried() {
        assert!(transient(&ClientError::Transport("reset".into())));
        assert!(transient(&ClientError::Timeout));
        assert!(transient(&ClientError::Api(ApiError::new(ErrorCode::Conflict, "offset"))));
        assert!(transient(&ClientError::Api(ApiError::new(ErrorCode::ChecksumMismatch, "chunk"))));
        assert!(!transient(&ClientError::Api(ApiError::not_found("gone"))));
        assert!(!transient(&ClientError::Api(ApiError::new(ErrorCode::QuotaExceeded, "full"))));
        assert!(!transient(&ClientError::Cancelled));
        assert!(!transient(&ClientError::Io("disk".into())));
    }

    #[test]
    fn the_meter_never_goes_backwards() {
        let mut seen = Vec::new();
        let mut events = |e: TransferEvent<'_>| {
            if let TransferEvent::Progress { done, total } = e {
                seen.push((done, total));
            }
        };
        let mut m = Meter::new(100);
        for done in [0, 0, 40, 30, 40, 70, 150] {
            m.report(done, &mut events);
        }
        assert_eq!(seen, [(0, 100), (40, 100), (70, 100), (100, 100)]);
    }

    #[tokio::test]
    async fn retrying_stops_at_success_or_a_final_error() {
        let policy = RetryPolicy { max_attempts: 3, initial_delay: Duration::ZERO, max_delay: Duration::ZERO };
        let cancel = CancellationToken::new();
        let mut retries = 0;
        let mut events = |e: TransferEvent<'_>| {
            if matches!(e, TransferEvent::Retrying { .. }) {
                retries += 1;
            }
        };
        let mut calls = 0;
        let got = retrying(&policy, &cancel, &mut events, || {
            calls += 1;
            let n = calls;
            async move { if n < 3 { Err(ClientError::Timeout) } else { Ok(n) } }
        })
        .await;
        assert_eq!(got.unwrap(), 3);

        let mut calls = 0;
        let got: Result<()> = retrying(&policy, &cancel, &mut events, || {
            calls += 1;
            async { Err(ClientError::Timeout) }
        })
        .await;
        assert!(matches!(got, Err(ClientError::Timeout)));
        assert_eq!(calls, 4, "the first try and three retries");

        let got: Result<()> =
            retrying(&policy, &cancel, &mut events, || async { Err(ClientError::Api(ApiError::not_found("x"))) }).await;
        assert_eq!(got.unwrap_err().code(), Some(ErrorCode::NotFound));

        cancel.cancel();
        let got: Result<()> = retrying(&policy, &cancel, &mut events, || async { Ok(()) }).await;
        assert!(matches!(got, Err(ClientError::Cancelled)));
        assert_eq!(retries, 2 + 3, "none for the final error or the cancelled call");
    }
}
