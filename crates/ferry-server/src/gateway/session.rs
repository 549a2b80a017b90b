//! One long-connection session: authenticate, then one `select!` loop over
//! kicks, shutdown, the outbound queue, finished requests, the socket and the
//! idle deadline.
//!
//! Requests are pipelined: a connection may have up to
//! `gateway.max_inflight` requests in flight, answered as they complete and
//! correlated by frame id. Sends are *admitted* in the order they arrive
//! (validated and queued for the writer) before the next frame is read, so a
//! connection's messages keep their order in the conversation.

use std::{num::NonZeroU32, pin::Pin, sync::Arc, time::Duration};

use ferry_core::{ApiError, ErrorCode};
use ferry_proto::{PROTOCOL_VERSION, frame_from_json, v1, v1::frame::Body};
use futures_util::{FutureExt as _, StreamExt as _, stream::FuturesUnordered};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter, clock::Clock as _};
use prost::Message as _;
use tokio::{sync::mpsc, time::Instant};
use tracing::Instrument as _;

use super::{Incoming, Transport};
use crate::{
    app::AppRef,
    error::error_frame,
    hub::{Kick, Outbound, SessionHandle},
    service::{accounts::Authed, messaging::Target, now_ms},
};

type Pending = Pin<Box<dyn Future<Output = v1::Frame> + Send>>;

/// How the loop ended, for the log.
enum End {
    PeerClosed,
    Kicked(&'static str),
    Shutdown,
    IdleTimeout,
    Fatal(&'static str),
    WriteFailed,
}

/// Runs a connection to completion.
pub async fn run<T: Transport>(app: AppRef, mut transport: T, peer: String, kind: &'static str) {
    let span = tracing::info_span!("conn", %peer, kind, user = tracing::field::Empty);
    async move {
        let Some((authed, json)) = authenticate(&app, &mut transport).await else {
            transport.close().await;
            return;
        };
        tracing::Span::current().record("user", authed.user.id);
        let end = serve(&app, &mut transport, authed, json).await;
        match end {
            End::PeerClosed => tracing::debug!("peer closed"),
            End::Kicked(reason) => tracing::info!(reason, "kicked"),
            End::Shutdown => tracing::debug!("closed for shutdown"),
            End::IdleTimeout => tracing::info!("idle timeout"),
            End::Fatal(why) => tracing::info!(why, "closed on protocol error"),
            End::WriteFailed => tracing::debug!("write failed"),
        }
        transport.close().await;
    }
    .instrument(span)
    .await
}

/// Decodes an incoming frame. `Ok(None)` = the peer closed.
fn decode(incoming: Incoming) -> Result<Option<(v1::Frame, bool)>, (u64, ApiError, bool)> {
    let (frame, json) = match incoming {
        Incoming::Closed => return Ok(None),
        Incoming::TooLarge => {
            return Err((0, ApiError::new(ErrorCode::PayloadTooLarge, "frame exceeds the size limit"), true));
        }
        Incoming::Binary(bytes) => match v1::Frame::decode(bytes) {
            Ok(f) => (f, false),
            Err(e) => {
                return Err((0, ApiError::new(ErrorCode::MalformedFrame, format!("undecodable frame: {e}")), false));
            }
        },
        Incoming::Text(text) => match frame_from_json(&text) {
            Ok(f) => (f, true),
            Err(ferry_proto::FrameError::UnknownKind) => {
                // Recover the id so the client can match the error.
                let id = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("id").and_then(|id| id.as_str().and_then(|s| s.parse().ok()).or(id.as_u64())))
                    .unwrap_or(0);
                return Err((id, unknown_kind(), false));
            }
            Err(e) => return Err((0, ApiError::new(ErrorCode::MalformedFrame, e.to_string()), false)),
        },
    };
    if frame.body.is_none() {
        return Err((frame.id, unknown_kind(), false));
    }
    Ok(Some((frame, json)))
}

fn unknown_kind() -> ApiError {
    ApiError::new(ErrorCode::UnknownKind, "unknown frame kind")
}

async fn send_one<T: Transport>(transport: &mut T, frame: v1::Frame, json: bool) -> bool {
    transport.send(&[Outbound::new(frame)], json).await.is_ok()
}

/// Waits for the `auth` frame; answers `auth_ok` or a fatal error.
async fn authenticate<T: Transport>(app: &AppRef, transport: &mut T) -> Option<(Authed, bool)> {
    let deadline = Duration::from_millis(app.config.gateway.auth_timeout_ms);
    let incoming = tokio::select! {
        () = app.shutdown.cancelled() => return None,
        r = tokio::time::timeout(deadline, transport.recv()) => match r {
            Ok(i) => i,
            Err(_) => {
                let e = ApiError::new(ErrorCode::Unauthenticated, "no auth frame before the deadline");
                send_one(transport, error_frame(0, &e, true), false).await;
                return None;
            }
        },
    };
    let was_text = matches!(incoming, Incoming::Text(_));
    let (frame, json) = match decode(incoming) {
        Ok(Some(x)) => x,
        Ok(None) => return None,
        Err((id, e, _)) => {
            send_one(transport, error_frame(id, &e, true), was_text).await;
            return None;
        }
    };
    let Some(Body::Auth(auth)) = frame.body else {
        let e = ApiError::new(ErrorCode::AuthRequired, "the first frame must be auth");
        send_one(transport, error_frame(frame.id, &e, true), json).await;
        return None;
    };
    if auth.protocol_version > PROTOCOL_VERSION {
        let e = ApiError::new(
            ErrorCode::UnsupportedVersion,
            format!("protocol version {} is not supported (max {PROTOCOL_VERSION})", auth.protocol_version),
        );
        send_one(transport, error_frame(frame.id, &e, true), json).await;
        return None;
    }
    match app.accounts.authenticate(&auth.token).await {
        Ok(authed) => {
            let g = &app.config.gateway;
            let ok = v1::AuthOk {
                user_id: authed.user.id,
                username: authed.user.username.clone(),
                device_id: authed.session.device_id.clone(),
                platform: authed.session.platform.clone(),
                server_time: now_ms(),
                heartbeat_interval_ms: g.heartbeat_interval_ms.min(u64::from(u32::MAX)) as u32,
                max_frame_bytes: app.config.limits.max_frame_bytes,
                max_text_bytes: app.config.limits.max_text_bytes,
            };
            let reply = v1::Frame { id: frame.id, body: Some(Body::AuthOk(ok)) };
            send_one(transport, reply, json).await.then_some((authed, json))
        }
        Err(e) => {
            send_one(transport, error_frame(frame.id, &e, true), json).await;
            None
        }
    }
}

/// The authenticated session loop.
async fn serve<T: Transport>(app: &AppRef, transport: &mut T, authed: Authed, json: bool) -> End {
    let g = &app.config.gateway;
    let (tx, mut rx) = mpsc::channel(g.outbound_queue);
    let handle = Arc::new(SessionHandle {
        id: app.hub.next_session_id(),
        user_id: authed.user.id,
        device_id: authed.session.device_id.clone(),
        platform: authed.session.platform.clone(),
        token_hash: authed.session.token_hash.clone(),
        tx,
        kick: Kick::default(),
    });
    if app.hub.register(Arc::clone(&handle)) == 1 {
        app.presence.announce(authed.user.id, true);
    }

    let end = session_loop(app, transport, &authed, json, &handle, &mut rx).await;

    if app.hub.unregister(authed.user.id, handle.id) == 0 {
        app.presence.announce(authed.user.id, false);
    }
    end
}

async fn session_loop<T: Transport>(
    app: &AppRef,
    transport: &mut T,
    authed: &Authed,
    json: bool,
    handle: &SessionHandle,
    rx: &mut mpsc::Receiver<Arc<Outbound>>,
) -> End {
    let g = &app.config.gateway;
    let idle = Duration::from_millis(g.idle_timeout_ms);
    let fps = NonZeroU32::new(app.config.limits.frames_per_second).unwrap_or(NonZeroU32::MIN);
    let limiter: DefaultDirectRateLimiter =
        RateLimiter::direct(Quota::per_second(fps).allow_burst(fps.saturating_mul(NonZeroU32::MIN.saturating_add(1))));
    let mut inflight: FuturesUnordered<Pending> = FuturesUnordered::new();
    let mut outbox: Vec<Arc<Outbound>> = Vec::new();
    let mut deadline = Instant::now() + idle;

    loop {
        tokio::select! {
            biased;
            reason = handle.kick.requested() => {
                let frame = v1::Frame { id: 0, body: Some(Body::Kicked(v1::Kicked { reason: reason.to_owned() })) };
                send_one(transport, frame, json).await;
                return End::Kicked(reason);
            }
            () = app.shutdown.cancelled() => {
                let e = ApiError::new(ErrorCode::Unavailable, "server is shutting down; reconnect shortly");
                send_one(transport, error_frame(0, &e, true), json).await;
                return End::Shutdown;
            }
            n = rx.recv_many(&mut outbox, WRITE_BATCH) => {
                if n == 0 { return End::Kicked("closed"); }
                take_ready(&mut outbox, &mut inflight, rx);
                if transport.send(&outbox, json).await.is_err() { return End::WriteFailed; }
                outbox.clear();
            }
            Some(reply) = inflight.next(), if !inflight.is_empty() => {
                outbox.push(Outbound::new(reply));
                take_ready(&mut outbox, &mut inflight, rx);
                if transport.send(&outbox, json).await.is_err() { return End::WriteFailed; }
                outbox.clear();
            }
            incoming = transport.recv(), if inflight.len() < g.max_inflight => {
                deadline = Instant::now() + idle;
                let (frame, _) = match decode(incoming) {
                    Ok(Some(x)) => x,
                    Ok(None) => return End::PeerClosed,
                    Err((id, e, fatal)) => {
                        if !send_one(transport, error_frame(id, &e, fatal), json).await || fatal {
                            return End::Fatal(e.code.as_str());
                        }
                        continue;
                    }
                };
                if let Err(not_until) = limiter.check() {
                    let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                    let e = ApiError::rate_limited(wait.as_millis().max(1) as u64);
                    if !send_one(transport, error_frame(frame.id, &e, false), json).await { return End::WriteFailed; }
                    continue;
                }
                match dispatch(app, authed, frame).await {
                    Dispatched::Reply(reply) => {
                        if !send_one(transport, reply, json).await { return End::WriteFailed; }
                    }
                    Dispatched::Later(fut) => inflight.push(fut),
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                let e = ApiError::new(ErrorCode::Unavailable, "idle timeout: no frame within the heartbeat deadline");
                send_one(transport, error_frame(0, &e, true), json).await;
                return End::IdleTimeout;
            }
        }
    }
}

/// Most frames written with one syscall.
const WRITE_BATCH: usize = 128;

/// Adds whatever else is ready to go — finished requests and queued pushes —
/// so one write (one syscall) carries it all. Pushes keep their order.
fn take_ready(
    outbox: &mut Vec<Arc<Outbound>>,
    inflight: &mut FuturesUnordered<Pending>,
    rx: &mut mpsc::Receiver<Arc<Outbound>>,
) {
    while outbox.len() < WRITE_BATCH {
        match inflight.next().now_or_never() {
            Some(Some(reply)) => outbox.push(Outbound::new(reply)),
            _ => break,
        }
    }
    while outbox.len() < WRITE_BATCH {
        match rx.try_recv() {
            Ok(frame) => outbox.push(frame),
            Err(_) => break,
        }
    }
}

enum Dispatched {
    /// Answer now.
    Reply(v1::Frame),
    /// Answer when this completes.
    Later(Pending),
}

fn reply(id: u64, body: Body) -> v1::Frame {
    v1::Frame { id, body: Some(body) }
}

fn answer(id: u64, r: Result<Body, ApiError>) -> v1::Frame {
    match r {
        Ok(body) => reply(id, body),
        Err(e) => error_frame(id, &e, false),
    }
}

/// Turns one request into its answer (now or later).
async fn dispatch(app: &AppRef, authed: &Authed, frame: v1::Frame) -> Dispatched {
    let id = frame.id;
    let me = authed.user.id;
    // `decode` guarantees a body.
    let Some(body) = frame.body else { return Dispatched::Reply(error_frame(id, &unknown_kind(), false)) };
    match body {
        Body::Ping(p) => {
            Dispatched::Reply(reply(id, Body::Pong(v1::Pong { client_time: p.client_time, server_time: now_ms() })))
        }
        Body::Send(send) => {
            let target = match send.to {
                Some(v1::send_message::To::UserId(u)) => Target::User(u),
                Some(v1::send_message::To::ConversationId(c)) => Target::Conversation(c),
                None => {
                    return Dispatched::Reply(error_frame(
                        id,
                        &ApiError::invalid("send needs a user_id or conversation_id"),
                        false,
                    ));
                }
            };
            // Admission happens here, in arrival order; only the wait for
            // durability runs concurrently.
            match app.messaging.admit(me, send.client_msg_id, target, send.content).await {
                Ok(pending) => {
                    Dispatched::Later(Box::pin(async move { answer(id, pending.wait().await.map(Body::SendAck)) }))
                }
                Err(e) => Dispatched::Reply(error_frame(id, &e, false)),
            }
        }
        Body::ListConversations(_) => {
            let app = Arc::clone(app);
            Dispatched::Later(Box::pin(async move {
                let r = app.messaging.conversations(me).await;
                answer(id, r.map(|conversations| Body::Conversations(v1::ConversationList { conversations })))
            }))
        }
        Body::Pull(p) => {
            let app = Arc::clone(app);
            Dispatched::Later(Box::pin(async move {
                answer(id, app.messaging.pull(me, &p.conversation_id, p.after_seq, p.limit).await.map(Body::Messages))
            }))
        }
        Body::MarkRead(m) => {
            let app = Arc::clone(app);
            Dispatched::Later(Box::pin(async move {
                answer(id, app.messaging.mark_read(me, &m.conversation_id, m.seq).await.map(Body::MarkReadOk))
            }))
        }
        Body::GetPresence(q) => {
            let app = Arc::clone(app);
            Dispatched::Later(Box::pin(async move {
                let r = app.presence.query(me, &q.user_ids).await;
                answer(id, r.map(|users| Body::PresenceList(v1::PresenceList { users })))
            }))
        }
        Body::Auth(_) => Dispatched::Reply(error_frame(id, &ApiError::bad_request("already authenticated"), false)),
        // Frames only the server sends.
        Body::AuthOk(_)
        | Body::Error(_)
        | Body::Pong(_)
        | Body::Kicked(_)
        | Body::SendAck(_)
        | Body::Message(_)
        | Body::Conversations(_)
        | Body::Messages(_)
        | Body::MarkReadOk(_)
        | Body::PresenceList(_)
        | Body::Presence(_)
        | Body::Changed(_) => {
            Dispatched::Reply(error_frame(id, &ApiError::new(ErrorCode::UnknownKind, "not a client request"), false))
        }
    }
}
