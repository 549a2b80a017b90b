//! One long-connection session: authenticate, register for pushes, answer
//! `auth_ok`, then one `select!` loop over kicks, shutdown, the outbound
//! queue, finished requests, the socket and the idle deadline.
//!
//! The session is registered for pushes *before* `auth_ok` goes out: a
//! message committed at any point after the client sees `auth_ok` is either
//! pushed to it or already visible to the pull the client then makes.
//!
//! Requests are pipelined: a connection may have up to
//! `gateway.max_inflight` requests in flight, answered as they complete and
//! correlated by frame id. Each request is handled by its feature's handler
//! in [`frames`](super::frames).

use std::{
    future::Future,
    net::SocketAddr,
    num::NonZeroU32,
    pin::Pin,
    sync::{Arc, LazyLock},
    time::Duration,
};

use ferry_core::{ApiError, ErrorCode, call::Endpoint};
use ferry_proto::{PROTOCOL_VERSION, frame_from_json, peek_frame_id, peek_json_frame_id, v1, v1::frame::Body};
use futures_util::{FutureExt as _, StreamExt as _, stream::FuturesUnordered};
use governor::{
    DefaultDirectRateLimiter, Quota, RateLimiter,
    clock::{Clock as _, QuantaClock},
};
use prost::Message as _;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::{
    Incoming, Transport,
    frames::{self, Ctx, Dispatched, Pending},
};
use crate::{
    app::AppRef,
    error::error_frame,
    hub::{Kick, Outbound, Outbox, SessionHandle},
    service::{accounts::Authed, now_ms},
};

/// One clock for every connection's frame limiter. Making a quanta clock
/// calibrates it with CPUID, which traps to the hypervisor in a VM: with a
/// clock per connection that was 12% of the server's CPU during a burst of
/// token connects (`perf`: `raw_cpuid` and `quanta::Clock::default`).
static CLOCK: LazyLock<QuantaClock> = LazyLock::new(QuantaClock::default);
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
pub async fn run<T: Transport>(app: AppRef, mut transport: T, peer: SocketAddr, kind: &'static str) {
    let span = tracing::info_span!("conn", %peer, kind, user = tracing::field::Empty);
    async move {
        // Boxed, like the other one-off steps below: an idle session's task
        // then holds only the loop's own state (memory per connection), not
        // space for the largest future it might ever await.
        let Some(hello) = Box::pin(authenticate(&app, &mut transport)).await else {
            transport.close().await;
            return;
        };
        tracing::Span::current().record("user", hello.authed.user.id);
        match serve(&app, &mut transport, hello).await {
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

/// Why a frame could not be taken: the error to answer with, the id it
/// echoes (0 when the id could not be read), and whether the connection
/// cannot go on.
struct Refused {
    id: u64,
    error: ApiError,
    fatal: bool,
}

/// Decodes an incoming frame. `Ok(None)` = the peer closed.
fn decode(incoming: Incoming) -> Result<Option<(v1::Frame, bool)>, Refused> {
    let refused = |id, error, fatal| Err(Refused { id, error, fatal });
    let (frame, json) = match incoming {
        Incoming::Closed => return Ok(None),
        Incoming::TooLarge => {
            // The stream is out of sync past this point: nothing to read an id from.
            return refused(0, ApiError::new(ErrorCode::PayloadTooLarge, "frame exceeds the size limit"), true);
        }
        Incoming::Binary(bytes) => match v1::Frame::decode(bytes.as_ref()) {
            Ok(f) => (f, false),
            Err(e) => {
                let e = ApiError::new(ErrorCode::MalformedFrame, format!("undecodable frame: {e}"));
                return refused(peek_frame_id(&bytes), e, false);
            }
        },
        Incoming::Text(text) => match frame_from_json(&text) {
            Ok(f) => (f, true),
            Err(ferry_proto::FrameError::UnknownKind) => {
                return refused(peek_json_frame_id(&text), unknown_kind(), false);
            }
            Err(e) => {
                let e = ApiError::new(ErrorCode::MalformedFrame, e.to_string());
                return refused(peek_json_frame_id(&text), e, false);
            }
        },
    };
    if frame.body.is_none() {
        return refused(frame.id, unknown_kind(), false);
    }
    Ok(Some((frame, json)))
}

fn unknown_kind() -> ApiError {
    ApiError::new(ErrorCode::UnknownKind, "unknown frame kind")
}

/// Writes one frame. Boxed: answers written one at a time (errors, pongs,
/// kicks) are rare next to the batched writes of the loop, and an unboxed
/// write would reserve its space in every idle session's task.
fn send_one<T: Transport>(
    transport: &mut T,
    frame: v1::Frame,
    json: bool,
) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
    let frame = Outbound::new(frame);
    Box::pin(async move { transport.send(&[frame], json).await.is_ok() })
}

/// A client that passed authentication, not yet answered.
struct Hello {
    authed: Authed,
    /// The encoding the `auth` frame used, which every answer uses.
    json: bool,
    /// The `auth` frame's id, echoed by `auth_ok`.
    id: u64,
}

/// Waits for the `auth` frame and checks its token; answers a fatal error
/// when that fails. `auth_ok` is sent by [`serve`], after registration.
async fn authenticate<T: Transport>(app: &AppRef, transport: &mut T) -> Option<Hello> {
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
        Err(r) => {
            send_one(transport, error_frame(r.id, &r.error, true), was_text).await;
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
        Ok(authed) => Some(Hello { authed, json, id: frame.id }),
        Err(e) => {
            send_one(transport, error_frame(frame.id, &e, true), json).await;
            None
        }
    }
}

fn auth_ok(app: &AppRef, hello: &Hello) -> v1::Frame {
    let (g, l, a) = (&app.config.gateway, &app.config.limits, &hello.authed);
    let ok = v1::AuthOk {
        user_id: a.user.id,
        username: a.user.username.clone(),
        device_id: a.session.device_id.clone(),
        platform: a.session.platform.clone(),
        server_time: now_ms(),
        heartbeat_interval_ms: g.heartbeat_interval_ms.min(u64::from(u32::MAX)) as u32,
        max_frame_bytes: l.max_frame_bytes,
        max_text_bytes: l.max_text_bytes,
    };
    v1::Frame { id: hello.id, body: Some(Body::AuthOk(ok)) }
}

/// Registers the session, answers `auth_ok`, runs the loop, unregisters.
async fn serve<T: Transport>(app: &AppRef, transport: &mut T, hello: Hello) -> End {
    let user = hello.authed.user.id;
    let handle = Arc::new(SessionHandle {
        id: app.hub.next_session_id(),
        user_id: user,
        session: Arc::clone(&hello.authed.session),
        outbox: Outbox::new(app.config.gateway.outbound_queue),
        kick: Kick::default(),
    });
    if app.bus.attach(Arc::clone(&handle)) == 1 {
        app.presence.announce(user, true);
    }
    // After registering: a call's frames for this device can reach it.
    let device = || Endpoint::new(user, hello.authed.session.device_id.as_str());
    Box::pin(app.calls.connected(device())).await;
    let end = match Box::pin(app.accounts.still_valid(&hello.authed)).await {
        // A logout that committed during the handshake kicked sessions before
        // this one was registered: refuse it here.
        Ok(false) | Err(_) => {
            let e = ApiError::unauthenticated();
            send_one(transport, error_frame(hello.id, &e, true), hello.json).await;
            End::Fatal(e.code.as_str())
        }
        Ok(true) if !send_one(transport, auth_ok(app, &hello), hello.json).await => End::WriteFailed,
        Ok(true) => session_loop(app, transport, &hello, &handle).await,
    };
    if app.bus.detach(user, handle.id) == 0 {
        app.presence.announce(user, false);
    }
    Box::pin(app.calls.disconnected(device())).await;
    end
}

async fn session_loop<T: Transport>(app: &AppRef, transport: &mut T, hello: &Hello, handle: &SessionHandle) -> End {
    let (g, json) = (&app.config.gateway, hello.json);
    let ctx = Ctx { app, authed: &hello.authed, session: handle.id };
    let idle = Duration::from_millis(g.idle_timeout_ms);
    let fps = NonZeroU32::new(app.config.limits.frames_per_second).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::per_second(fps).allow_burst(fps.saturating_mul(NonZeroU32::MIN.saturating_add(1)));
    let limiter: DefaultDirectRateLimiter = RateLimiter::direct_with_clock(quota, CLOCK.clone());
    let mut inflight = Inflight::default();
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
            // Reads before writes: a session whose outbox never empties (a
            // busy receiver) must still read its client's heartbeats, or it
            // would be timed out as idle. Reading is bounded by the rate
            // limiter and `max_inflight`, so writes are not starved either.
            incoming = transport.recv(), if inflight.len() < g.max_inflight => {
                deadline = Instant::now() + idle;
                if let Err(end) = on_frame(&ctx, transport, incoming, &limiter, &mut inflight, json).await {
                    return end;
                }
            }
            () = handle.outbox.ready() => {
                handle.outbox.take(&mut outbox, WRITE_BATCH);
                take_ready(&mut outbox, &mut inflight, handle);
                if transport.send(&outbox, json).await.is_err() { return End::WriteFailed; }
                outbox.clear();
            }
            Some(reply) = inflight.next(), if inflight.len() > 0 => {
                outbox.push(Outbound::new(reply));
                take_ready(&mut outbox, &mut inflight, handle);
                if transport.send(&outbox, json).await.is_err() { return End::WriteFailed; }
                outbox.clear();
            }
            () = tokio::time::sleep_until(deadline) => {
                let e = ApiError::new(ErrorCode::Unavailable, "idle timeout: no frame within the heartbeat deadline");
                send_one(transport, error_frame(0, &e, true), json).await;
                return End::IdleTimeout;
            }
        }
    }
}

/// Requests being answered, created on the first one and dropped when the
/// last is answered: an idle connection holds none.
#[derive(Default)]
struct Inflight(Option<FuturesUnordered<Pending>>);

impl Inflight {
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, FuturesUnordered::len)
    }

    fn push(&mut self, answer: Pending) {
        self.0.get_or_insert_with(FuturesUnordered::new).push(answer);
    }

    /// The next answer; pending forever while nothing is in flight.
    async fn next(&mut self) -> Option<v1::Frame> {
        let Some(futures) = self.0.as_mut() else { return std::future::pending().await };
        let answer = futures.next().await;
        if futures.is_empty() {
            self.0 = None;
        }
        answer
    }
}

/// Takes one incoming frame: decodes it, rate-limits it and hands it to
/// its handler; answers now or adds the pending answer to `inflight`.
/// `Err` ends the session.
///
/// Awaited inline by the loop (it is part of every session's task), so it
/// keeps nothing large across an await: [`take`] turns the frame into the
/// handler's future or the refusal's write before the first, and writes are
/// boxed.
async fn on_frame<T: Transport>(
    ctx: &Ctx<'_>,
    transport: &mut T,
    incoming: Incoming,
    limiter: &DefaultDirectRateLimiter,
    inflight: &mut Inflight,
    json: bool,
) -> Result<(), End> {
    let handling = match take(ctx, transport, incoming, limiter, json) {
        Taken::Request(handling) => handling,
        Taken::Refused(answer) => return answer.await,
        Taken::Closed => return Err(End::PeerClosed),
    };
    let reply = match handling.await {
        Dispatched::Reply(reply) => reply,
        Dispatched::Later(fut) => {
            inflight.push(fut);
            return Ok(());
        }
    };
    match send_one(transport, reply, json).await {
        true => Ok(()),
        false => Err(End::WriteFailed),
    }
}

/// What an incoming frame became.
enum Taken<'c, 't> {
    /// A request, being handled.
    Request(frames::Handling<'c>),
    /// Not taken (undecodable, over the rate limit): the error being
    /// written, then whether the session goes on.
    Refused(Pin<Box<dyn Future<Output = Result<(), End>> + Send + 't>>),
    /// The peer closed the connection.
    Closed,
}

fn take<'c, 't, T: Transport>(
    ctx: &'c Ctx<'c>,
    transport: &'t mut T,
    incoming: Incoming,
    limiter: &DefaultDirectRateLimiter,
    json: bool,
) -> Taken<'c, 't> {
    let frame = match decode(incoming) {
        Ok(Some((frame, _))) => frame,
        Ok(None) => return Taken::Closed,
        Err(r) => return refuse(transport, r, false, json),
    };
    if let Err(not_until) = limiter.check() {
        let wait = not_until.wait_time_from(limiter.clock().now());
        let error = ApiError::rate_limited(wait.as_millis().max(1) as u64);
        return refuse(transport, Refused { id: frame.id, error, fatal: false }, true, json);
    }
    match frame.body {
        Some(body) => Taken::Request(frames::dispatch(ctx, frame.id, body)),
        // `decode` guarantees a body.
        None => refuse(transport, Refused { id: frame.id, error: unknown_kind(), fatal: false }, false, json),
    }
}

/// Answers a frame that was not taken. A session goes on after a refusal
/// unless it is fatal or cannot be written.
fn refuse<'c, 't, T: Transport>(transport: &'t mut T, r: Refused, limited: bool, json: bool) -> Taken<'c, 't> {
    let code = r.error.code.as_str();
    let written = if r.fatal { Err(End::Fatal(code)) } else { Ok(()) };
    let unwritten = if limited { End::WriteFailed } else { End::Fatal(code) };
    let write = send_one(transport, error_frame(r.id, &r.error, r.fatal), json);
    Taken::Refused(Box::pin(async move { if write.await { written } else { Err(unwritten) } }))
}

/// Most frames written with one syscall.
const WRITE_BATCH: usize = 128;

/// Adds whatever else is ready to go — finished requests and queued pushes —
/// so one write (one syscall) carries it all. Pushes keep their order.
fn take_ready(outbox: &mut Vec<Arc<Outbound>>, inflight: &mut Inflight, handle: &SessionHandle) {
    while outbox.len() < WRITE_BATCH {
        match inflight.next().now_or_never() {
            Some(Some(reply)) => outbox.push(Outbound::new(reply)),
            _ => break,
        }
    }
    let room = WRITE_BATCH.saturating_sub(outbox.len());
    handle.outbox.take(outbox, room);
}
