//! The driver task, which owns the socket: requests out, answers routed by
//! frame id, heartbeats, reconnects (see [the overview](super)).

use crate::Event;
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use ferry_core::ErrorCode;
use ferry_proto::{Body, Frame, v1};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::{CallEvent, ClientConfig, Command, ConnState, Push, ResyncFlag, heartbeat_of, jitter, now_ms};
use crate::{
    conn::{RawConnection, Transport, into_answer},
    error::{ClientError, Result},
};

/// Why a connection ended.
enum Exit {
    /// Lost (network, server restart, silence): reconnect.
    Dropped(ClientError),
    /// The server will not go on serving this connection (it is shutting
    /// down, or timed it out): reconnect, to another address first.
    Leaving(ClientError),
    /// Kicked for good.
    Kicked(String),
    /// A fatal error (e.g. the token is no longer valid).
    Fatal(ClientError),
    /// `close()` (with its completion signal) or every handle dropped.
    Closed(Option<oneshot::Sender<()>>),
}

pub(super) struct Driver {
    pub(super) config: ClientConfig,
    pub(super) cmd_rx: mpsc::Receiver<Command>,
    pub(super) push_tx: mpsc::Sender<Push>,
    pub(super) state_tx: watch::Sender<ConnState>,
    pub(super) resync: Arc<ResyncFlag>,
    pub(super) ids: Arc<AtomicU64>,
    /// Which of the config's [`urls`](ClientConfig::urls) serves now.
    pub(super) current: usize,
}

impl Driver {
    pub(super) async fn run(mut self, mut transport: Transport, mut heartbeat: Duration) {
        let mut generation = 0;
        let (final_state, done) = loop {
            let move_on = match self.serve(&mut transport, heartbeat).await {
                Exit::Dropped(error) => {
                    info!(%error, "connection lost; reconnecting");
                    false
                }
                Exit::Leaving(error) => {
                    info!(%error, "server ended the session; reconnecting, to another address first");
                    true
                }
                Exit::Kicked(reason) => break (ConnState::Kicked(reason), None),
                Exit::Fatal(error) => break (ConnState::Closed(Some(error)), None),
                Exit::Closed(done) => {
                    close_quietly(&mut transport).await;
                    break (ConnState::Closed(None), done);
                }
            };
            self.state_tx.send_replace(ConnState::Reconnecting);
            match self.reconnect(move_on).await {
                Ok((conn, auth)) => {
                    let (t, next_id) = conn.into_transport();
                    transport = t;
                    self.ids.fetch_max(next_id, Ordering::Relaxed);
                    heartbeat = heartbeat_of(&auth);
                    generation += 1;
                    info!(generation, "reconnected");
                    self.state_tx.send_replace(ConnState::Connected { generation, auth });
                }
                Err(Exit::Closed(done)) => break (ConnState::Closed(None), done),
                Err(Exit::Kicked(reason)) => break (ConnState::Kicked(reason), None),
                Err(Exit::Fatal(e) | Exit::Dropped(e) | Exit::Leaving(e)) => break (ConnState::Closed(Some(e)), None),
            }
        };
        self.state_tx.send_replace(final_state);
        // Refuse whatever is still queued; later sends fail as the receiver
        // is dropped with `self`.
        self.cmd_rx.close();
        while let Some(cmd) = self.cmd_rx.recv().await {
            match cmd {
                Command::Request { reply, .. } => drop(reply.send(Err(ClientError::Closed))),
                Command::Close { done } => drop(done.send(())),
            }
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// Runs one connection until it ends; answers every pending request
    /// before returning.
    async fn serve(&mut self, t: &mut Transport, heartbeat: Duration) -> Exit {
        let mut pending: HashMap<u64, oneshot::Sender<Result<Body>>> = HashMap::new();
        // Ping twice per interval so one late tick never costs the session.
        let mut ticker = tokio::time::interval((heartbeat / 2).max(Duration::from_millis(50)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The server answers pings, so this much silence means a dead link.
        let silence_limit = (heartbeat * 2).max(Duration::from_secs(2));
        let mut last_read = Instant::now();

        let exit = loop {
            tokio::select! {
                cmd = self.cmd_rx.recv() => match cmd {
                    None => break Exit::Closed(None),
                    Some(Command::Close { done }) => break Exit::Closed(Some(done)),
                    Some(Command::Request { frame, reply }) => {
                        let id = frame.id;
                        if let Err(e) = t.send(&frame).await {
                            let _ = reply.send(Err(e.clone()));
                            break Exit::Dropped(e);
                        }
                        pending.insert(id, reply);
                    }
                },
                frame = t.recv() => match frame {
                    Ok(Some(frame)) => {
                        last_read = Instant::now();
                        if let Some(exit) = self.on_frame(frame, &mut pending) {
                            break exit;
                        }
                    }
                    Ok(None) => break Exit::Dropped(ClientError::Transport("closed by server".into())),
                    // A frame we cannot decode leaves the stream intact.
                    Err(ClientError::Protocol(e)) => warn!(error = %e, "undecodable frame ignored"),
                    Err(e) => break Exit::Dropped(e),
                },
                _ = ticker.tick() => {
                    if last_read.elapsed() > silence_limit {
                        break Exit::Dropped(ClientError::Transport("server stopped answering".into()));
                    }
                    // Forget callers that gave up (timed out).
                    pending.retain(|_, reply| !reply.is_closed());
                    let id = self.ids.fetch_add(1, Ordering::Relaxed);
                    let ping = Frame { id, body: Some(Body::Ping(v1::Ping { client_time: now_ms() })) };
                    if let Err(e) = t.send(&ping).await {
                        break Exit::Dropped(e);
                    }
                }
            }
        };
        let error = match &exit {
            Exit::Dropped(_) | Exit::Leaving(_) => ClientError::Transport("connection lost".into()),
            _ => ClientError::Closed,
        };
        for (_, reply) in pending.drain() {
            let _ = reply.send(Err(error.clone()));
        }
        exit
    }

    /// Routes one incoming frame; returns how the connection ends, if it does.
    fn on_frame(&mut self, frame: Frame, pending: &mut HashMap<u64, oneshot::Sender<Result<Body>>>) -> Option<Exit> {
        if frame.id != 0 {
            // Unclaimed answers belong to heartbeats or to timed-out callers.
            if let Some(reply) = pending.remove(&frame.id) {
                let _ = reply.send(into_answer(frame));
            }
            return None;
        }
        match frame.body? {
            Body::Message(m) => self.forward(Push::Message(m)),
            Body::Presence(p) => self.forward(Push::Signal(Event::Presence(p))),
            Body::Changed(c) => self.forward(Push::Signal(Event::Changed(c))),
            Body::ReadReceipt(r) => self.forward(Push::Signal(Event::ReadReceipt(r))),
            Body::Typing(t) => self.forward(Push::Signal(Event::Typing(t))),
            Body::CallEvent(e) => match CallEvent::from_proto(e) {
                Some(call) => self.forward(Push::Signal(Event::Call(call))),
                None => debug!("call event of an unknown kind ignored"),
            },
            Body::Kicked(k) if k.reason == "shutdown" => {
                return Some(Exit::Leaving(ClientError::Transport("kicked: shutdown".into())));
            }
            Body::Kicked(k) if is_transient_kick(&k.reason) => {
                return Some(Exit::Dropped(ClientError::Transport(format!("kicked: {}", k.reason))));
            }
            Body::Kicked(k) => return Some(Exit::Kicked(k.reason)),
            Body::Error(e) if e.fatal => {
                let error = ClientError::from(e);
                return Some(if is_fatal_auth(&error) {
                    Exit::Fatal(error)
                } else if error.code() == Some(ErrorCode::Unavailable) {
                    // A node stopping ("reconnect shortly") or ending an idle
                    // session: another node may serve us at once.
                    Exit::Leaving(error)
                } else {
                    Exit::Dropped(error)
                });
            }
            Body::Error(e) => warn!(code = %e.code, message = %e.message, "server error"),
            other => debug!(kind = crate::conn::body_name(&other), "unexpected push ignored"),
        }
        None
    }

    /// Hands a push to the processor without waiting: if its queue is full
    /// the push is dropped and a resync requested, which pulls it later.
    fn forward(&self, push: Push) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.push_tx.try_send(push) {
            self.resync.raise();
        }
    }

    /// Reconnects with exponential backoff and jitter, answering requests
    /// with "not connected" meanwhile. Starts with the address that served
    /// last (the next one if `move_on`) and goes round the addresses, one
    /// attempt each; the delay doubles after every round that failed.
    async fn reconnect(&mut self, move_on: bool) -> std::result::Result<(RawConnection, v1::AuthOk), Exit> {
        let urls = self.config.urls();
        let (json, token) = (self.config.json, self.config.token.clone());
        let mut delay = self.config.reconnect_min;
        let mut next = self.current + usize::from(move_on);
        let mut failed = 0;
        loop {
            self.while_disconnected(tokio::time::sleep(jitter(delay))).await?;
            let i = next % urls.len();
            let attempt = RawConnection::connect(&urls[i], json, &token);
            match self.while_disconnected(attempt).await? {
                Ok(connected) => {
                    self.current = i;
                    return Ok(connected);
                }
                Err(e) if is_fatal_auth(&e) => return Err(Exit::Fatal(e)),
                Err(e) => {
                    debug!(url = %urls[i], error = %e, ?delay, "reconnect failed");
                    next = i + 1;
                    failed += 1;
                    if failed % urls.len() == 0 {
                        delay = (delay * 2).min(self.config.reconnect_max);
                    }
                }
            }
        }
    }

    /// Awaits `fut` while serving commands: requests fail fast, `close()`
    /// wins.
    async fn while_disconnected<F: Future>(&mut self, fut: F) -> std::result::Result<F::Output, Exit> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return Ok(out),
                cmd = self.cmd_rx.recv() => match cmd {
                    None => return Err(Exit::Closed(None)),
                    Some(Command::Close { done }) => return Err(Exit::Closed(Some(done))),
                    Some(Command::Request { reply, .. }) => {
                        let _ = reply.send(Err(ClientError::Transport("not connected (reconnecting)".into())));
                    }
                },
            }
        }
    }
}

/// Kicks after which the server expects the client back: it dropped a slow
/// consumer (which resyncs) or is shutting down (another node may serve).
fn is_transient_kick(reason: &str) -> bool {
    matches!(reason, "slow_consumer" | "shutdown")
}

/// Errors that retrying cannot fix: the token or the protocol was refused.
pub(super) fn is_fatal_auth(e: &ClientError) -> bool {
    matches!(e.code(), Some(ErrorCode::Unauthenticated | ErrorCode::UnsupportedVersion | ErrorCode::Forbidden))
}

async fn close_quietly(t: &mut Transport) {
    let _ = tokio::time::timeout(Duration::from_secs(2), t.close()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kicks_and_auth_errors_are_classified() {
        assert!(is_transient_kick("slow_consumer") && is_transient_kick("shutdown"));
        assert!(!is_transient_kick("replaced") && !is_transient_kick("logout"));
        let unauth = ClientError::Api(ferry_core::ApiError::unauthenticated());
        assert!(is_fatal_auth(&unauth));
        let busy = ClientError::Api(ferry_core::ApiError::new(ErrorCode::Unavailable, "busy"));
        assert!(!is_fatal_auth(&busy));
        assert!(!is_fatal_auth(&ClientError::Timeout));
    }
}
