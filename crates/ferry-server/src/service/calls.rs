//! Calls: the driver of ferry-core's call state machine ([`CallRegistry`]).
//!
//! One registry per node, behind a mutex held only for synchronous steps
//! (never across an await). It is fed by
//! - call requests from the gateway, with the endpoint (user and the
//!   login's device) taken from the authenticated session;
//! - sessions coming and going: a device is reported disconnected when its
//!   last connection on this node closes, reconnected whenever one
//!   authenticates (the check runs under the registry's lock, so a close
//!   racing a new connection of the same device cannot be misreported);
//! - one timer task that sleeps until [`CallRegistry::next_deadline`] and
//!   then ticks (woken early whenever a step may have moved a deadline).
//!
//! It performs the effects: a [`Signal`] becomes a `call_event` push to every
//! connection of the listed devices, except the connection whose request
//! caused it (that one gets `call_ack`, which carries the `ended` news when
//! its request ended the call); a [`Finished`] call becomes one `call_log`
//! message in the direct conversation, written through the ordinary message
//! path by a log task behind a bounded queue (so it gets a seq, is pushed,
//! counts as unread for the callee and syncs to offline devices). A
//! peer-to-peer file session (media `file`) is signaled the same way but
//! leaves no call log: the sending client records a verified transfer in the
//! chat itself.
//!
//! In a cluster a call lives on the node that placed it (its id names that
//! node): requests for it from clients on other nodes are forwarded there
//! and answered back, busy is decided by cluster-wide claims, and the owner
//! hears of its parties' sessions on other nodes as presence news (see
//! `bus/calls.rs`). The state machine is the same one, on one node.
//!
//! Calls live in memory only. On a graceful shutdown [`Calls::shutdown`]
//! (called by the pipeline's drain, before the writer stops) ends every live
//! call and writes its call log. After a crash there is no call log for the
//! calls that were live, and no stuck state: nothing about them was stored,
//! so both users can call again at once.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferry_core::{
    ApiError,
    call::{
        CallConfig, CallError, CallEvent, CallId, CallMedia, CallRegistry, Effect, Endpoint, Finished, Invite,
        RejectReason, SdpKind, Signal,
    },
};
use ferry_proto::v1::{self, call_event::Event, call_request::Op};
use futures_util::{StreamExt, stream::FuturesUnordered};
use tokio::{
    sync::{Notify, mpsc},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use super::{messaging::Messaging, now_ms};
use crate::{
    bus::{
        Bus, SessionAt,
        calls::{CallFeed, CallRoute, Claim, PresenceNews, RemoteRequest},
    },
    hub::Outbound,
};

/// How long a client's request for a call held by another node waits for
/// that node's answer.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Call logs waiting for the message writer. Reaching it means the writer
/// is far behind; the step that finished a call then waits for room.
const LOG_QUEUE: usize = 1024;

/// Where a call request came from: the session's endpoint and connection.
#[derive(Debug, Clone)]
pub struct Origin {
    pub endpoint: Endpoint,
    /// The connection, which gets the answer instead of the pushes its
    /// request causes (on another node for a forwarded request).
    pub session: SessionAt,
}

/// The call service of a node.
pub struct Calls {
    /// This node's `node_id`: the owner part of the ids it mints.
    node_id: u16,
    registry: Mutex<CallRegistry>,
    bus: Arc<dyn Bus>,
    messaging: Arc<Messaging>,
    /// Wakes the timer: a deadline may have moved.
    timer: Notify,
    logs: mpsc::Sender<Finished>,
    /// Stops the timer and, once the queue is empty, the log task.
    stop: CancellationToken,
}

/// The background tasks of [`Calls`], stopped by [`Calls::shutdown`].
pub struct CallTasks {
    timer: JoinHandle<()>,
    logs: JoinHandle<()>,
    /// Requests and presence news from other nodes (in a cluster).
    remote: Option<JoinHandle<()>>,
}

impl Calls {
    /// The service and its timer and log tasks.
    pub fn start(
        node_id: u16,
        config: CallConfig,
        bus: Arc<dyn Bus>,
        messaging: Arc<Messaging>,
    ) -> (Arc<Self>, CallTasks) {
        let (logs, queue) = mpsc::channel(LOG_QUEUE);
        let stop = CancellationToken::new();
        let feed = bus.calls().and_then(CallRoute::take_feed);
        let calls = Arc::new(Self {
            node_id,
            registry: Mutex::new(CallRegistry::new(config)),
            bus,
            messaging: Arc::clone(&messaging),
            timer: Notify::new(),
            logs,
            stop: stop.clone(),
        });
        let timer = tokio::spawn(timer(Arc::clone(&calls)));
        let logs = tokio::spawn(write_logs(messaging, queue, stop));
        let remote = feed.map(|feed| tokio::spawn(remote(Arc::clone(&calls), feed)));
        (calls, CallTasks { timer, logs, remote })
    }

    /// The cluster's call routing, if this node is part of one.
    fn route(&self) -> Option<&dyn CallRoute> {
        self.bus.calls()
    }

    fn registry(&self) -> MutexGuard<'_, CallRegistry> {
        // Every registry method leaves it consistent before it returns; a
        // panic inside one is a bug, and the state it left is still the best
        // there is.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one call request from `origin`; the answer for its connection.
    pub async fn request(&self, origin: Origin, request: v1::CallRequest) -> Result<v1::CallAck, ApiError> {
        let op = request.op.ok_or_else(|| ApiError::invalid("call needs an op"))?;
        let me = origin.endpoint.clone();
        let (id, event) = match op {
            Op::Invite(invite) => {
                if !request.call_id.is_empty() {
                    return Err(ApiError::invalid("invite takes no call_id: the server draws it"));
                }
                return self.invite(origin, invite).await;
            }
            op => {
                let id = request.call_id.parse::<CallId>()?;
                if let Some(route) = self.route().filter(|r| id.owner() != r.node_id()) {
                    let request = v1::CallRequest { call_id: request.call_id, op: Some(op) };
                    return forward(route, &origin, id, request).await;
                }
                (id, event_of(me, op)?)
            }
        };
        let mut before = Vec::new();
        let mut out = Vec::new();
        let result = {
            let mut registry = self.registry();
            let now = now_ms();
            // Deadlines due now first, so their effects (other calls', or
            // this one's end) reach every connection.
            registry.tick(now, &mut before);
            registry.handle(id, event, now, &mut out)
        };
        self.timer.notify_one();
        self.perform(before, None).await;
        let ended = self.perform(out, Some(&origin)).await;
        result.map_err(refused)?;
        Ok(v1::CallAck { call_id: id.to_string(), ended })
    }

    async fn invite(&self, origin: Origin, invite: v1::CallInvite) -> Result<v1::CallAck, ApiError> {
        let caller = origin.endpoint.user;
        let media = invite
            .media
            .parse::<CallMedia>()
            .map_err(|_| ApiError::invalid("invite.media must be \"audio\", \"video\" or \"file\""))?;
        if !matches!(invite.room_kind.as_str(), "" | "direct") {
            return Err(ApiError::invalid("invite.room_kind: only \"direct\" calls exist on this server"));
        }
        if invite.participants.iter().any(|&p| p != caller && p != invite.callee_id) {
            return Err(ApiError::invalid("invite.participants: group calls are not supported yet"));
        }
        if invite.callee_id == caller {
            return Err(CallError::SelfCall.into());
        }
        self.messaging.check_direct_allowed(caller, invite.callee_id).await?;
        let id = CallId::minted(self.node_id, rand::random());
        // In a cluster, busy across every node: both users are claimed
        // first (a file session busies nobody).
        let route = self.route().filter(|_| media.is_call());
        let claim = match route {
            Some(route) => route.claim(id, caller, invite.callee_id).await?,
            None => Claim::Taken,
        };
        if claim == Claim::CallerBusy {
            return Err(CallError::AlreadyInCall.into());
        }
        let mut before = Vec::new();
        let mut out = Vec::new();
        let result = {
            let mut registry = self.registry();
            let now = now_ms();
            registry.tick(now, &mut before);
            // Listed under the lock: a device that connects after this
            // reports itself to the registry after the call exists, and rings.
            let invite = Invite {
                id,
                caller: origin.endpoint.clone(),
                callee: invite.callee_id,
                media,
                offer: invite.sdp_offer,
                callee_devices: self.bus.online_devices(invite.callee_id),
            };
            registry.place_in_cluster(invite, claim == Claim::CalleeBusy, now, &mut out)
        };
        if let (Err(_), Some(route)) = (&result, route) {
            route.release(id);
        }
        self.timer.notify_one();
        self.perform(before, None).await;
        let ended = self.perform(out, Some(&origin)).await;
        result.map_err(refused)?;
        Ok(v1::CallAck { call_id: id.to_string(), ended })
    }

    /// A connection of `endpoint` authenticated (after it was registered
    /// for pushes): its device is back, or rings if a call to it rings.
    pub async fn connected(&self, endpoint: Endpoint) {
        let mut out = Vec::new();
        {
            let mut registry = self.registry();
            registry.reconnected(endpoint, now_ms(), &mut out);
        }
        self.timer.notify_one();
        self.perform(out, None).await;
    }

    /// A connection of `endpoint` closed (after it was unregistered): if it
    /// was its device's last one here, the device is away.
    pub async fn disconnected(&self, endpoint: Endpoint) {
        let mut out = Vec::new();
        {
            let mut registry = self.registry();
            let now = now_ms();
            if self.bus.device_online(endpoint.user, &endpoint.device) {
                registry.tick(now, &mut out);
            } else {
                registry.disconnected(endpoint, now, &mut out);
            }
        }
        self.timer.notify_one();
        self.perform(out, None).await;
    }

    /// A request forwarded by another node for a call here; the answer for
    /// its connection.
    async fn remote_request(&self, r: RemoteRequest) -> Result<v1::CallAck, ApiError> {
        let origin = Origin { endpoint: r.endpoint, session: SessionAt { node: Some(r.from), id: r.session } };
        if matches!(r.request.op, Some(Op::Invite(_))) {
            return Err(ApiError::invalid("an invite is placed where it is made"));
        }
        match r.request.call_id.parse::<CallId>() {
            // Never forwarded on: the sender thought this node owns it.
            Ok(id) if id.owner() != self.node_id => Err(ApiError::not_found("no such call")),
            _ => self.request(origin, r.request).await,
        }
    }

    /// Sessions on other nodes changed: the calls here of the users named
    /// hear which of their devices are online now.
    async fn presence(&self, news: PresenceNews) {
        let mut out = Vec::new();
        {
            let mut registry = self.registry();
            let users = match news {
                PresenceNews::Users(users) => users,
                PresenceNews::Everyone => registry.users(),
            };
            let now = now_ms();
            for user in users {
                if registry.call_of(user).is_some() || registry.file_sessions_of(user) > 0 {
                    let online = self.bus.online_devices(user);
                    registry.presence(user, &online, now, &mut out);
                }
            }
        }
        if !out.is_empty() {
            self.timer.notify_one();
            self.perform(out, None).await;
        }
    }

    /// Applies the deadlines due now.
    async fn tick(&self) {
        let mut out = Vec::new();
        self.registry().tick(now_ms(), &mut out);
        self.perform(out, None).await;
    }

    /// Ends every live call (the server is stopping), queues their call
    /// logs, and waits until every queued log is written. Call it while the
    /// message writer still runs.
    pub async fn shutdown(&self, tasks: CallTasks) {
        let mut out = Vec::new();
        self.registry().shutdown(now_ms(), &mut out);
        let ended = out.iter().filter(|e| matches!(e, Effect::Finished(_))).count();
        self.perform(out, None).await;
        self.stop.cancel();
        let _ = tasks.timer.await;
        let _ = tasks.logs.await;
        if let Some(remote) = tasks.remote {
            let _ = remote.await;
        }
        if ended > 0 {
            tracing::info!(calls = ended, "live calls ended by the shutdown");
        }
    }

    /// Performs `effects`. With an `origin`, its connection is skipped and
    /// the `ended` news for its device is returned instead.
    async fn perform(&self, effects: Vec<Effect>, origin: Option<&Origin>) -> Option<v1::CallEnded> {
        let mut news = None;
        for effect in effects {
            match effect {
                Effect::Send { call, to, devices, signal } => {
                    let mine = origin.filter(|o| o.endpoint.user == to && devices.contains(&o.endpoint.device));
                    if let (Some(_), Signal::Ended { .. }) = (mine, &signal) {
                        news = Some(ended(&signal));
                    }
                    let frame = Outbound::new(v1::Frame {
                        id: 0,
                        body: Some(v1::frame::Body::CallEvent(v1::CallEvent {
                            call_id: call.to_string(),
                            event: Some(event(to, signal)),
                        })),
                    });
                    self.bus.deliver_to_devices(to, &devices, mine.map(|o| &o.session), &frame);
                }
                Effect::Finished(f) => {
                    if let Some(route) = self.route() {
                        route.release(f.call);
                    }
                    tracing::info!(
                        call = %f.call, media = %f.media, caller = f.caller, callee = f.callee, outcome = %f.outcome,
                        reason = %f.reason, duration_ms = f.duration_ms, "call ended"
                    );
                    if !f.media.is_call() {
                        // A file session: nothing to log in the chat.
                        continue;
                    }
                    if self.logs.send(f).await.is_err() {
                        tracing::warn!("a call ended after the call log task stopped; no call log written");
                    }
                }
            }
        }
        news
    }
}

/// Maps a refusal, logging what is a bug rather than the client's doing.
fn refused(e: CallError) -> ApiError {
    if let CallError::DuplicateId(id) = e {
        tracing::error!(call = %id, "a drawn call id was already in use");
    }
    e.into()
}

/// The registry event of a call request other than `invite`.
fn event_of(me: Endpoint, op: Op) -> Result<CallEvent, ApiError> {
    Ok(match op {
        // Placed by `Calls::invite`, never handled as an event.
        Op::Invite(_) => return Err(ApiError::invalid("invite takes no call_id")),
        Op::Ringing(_) => CallEvent::Ringing { by: me },
        Op::Accept(a) => CallEvent::Accept { by: me, answer: a.sdp_answer },
        Op::Reject(r) => {
            let reason = match r.reason.as_str() {
                "" | "declined" => RejectReason::Declined,
                "busy" => RejectReason::Busy,
                _ => return Err(ApiError::invalid("reject.reason must be \"declined\" or \"busy\"")),
            };
            CallEvent::Reject { by: me, reason }
        }
        Op::Cancel(_) => CallEvent::Cancel { by: me },
        Op::Hangup(_) => CallEvent::Hangup { by: me },
        Op::Ice(i) => CallEvent::Ice { from: me, candidate: i.candidate },
        Op::Renegotiate(s) => {
            let kind = s
                .kind
                .parse::<SdpKind>()
                .map_err(|_| ApiError::invalid("renegotiate.kind must be \"offer\" or \"answer\""))?;
            CallEvent::Renegotiate { from: me, kind, sdp: s.sdp }
        }
    })
}

fn ended(signal: &Signal) -> v1::CallEnded {
    match *signal {
        Signal::Ended { outcome, reason, duration_ms } => {
            v1::CallEnded { outcome: outcome.as_str().into(), reason: reason.as_str().into(), duration_ms }
        }
        _ => v1::CallEnded::default(),
    }
}

/// The wire form of `signal`, for user `to`.
fn event(to: i64, signal: Signal) -> Event {
    match signal {
        Signal::Incoming { caller, media, room, offer } => Event::Incoming(v1::CallIncoming {
            caller_id: caller,
            media: media.as_str().into(),
            sdp_offer: offer,
            room_kind: room.as_str().into(),
            participants: vec![caller, to],
        }),
        Signal::Ringing => Event::Ringing(v1::Empty {}),
        Signal::Accepted { answer } => Event::Accepted(v1::CallAccept { sdp_answer: answer }),
        Signal::AnsweredElsewhere => Event::AnsweredElsewhere(v1::Empty {}),
        Signal::Ice { candidate } => Event::Ice(v1::CallIce { candidate }),
        Signal::Sdp { kind, sdp } => Event::Sdp(v1::CallSdp { kind: kind.as_str().into(), sdp }),
        Signal::PeerDisconnected => Event::PeerDisconnected(v1::Empty {}),
        Signal::PeerReconnected => Event::PeerReconnected(v1::Empty {}),
        Signal::Resumed { answer } => Event::Resumed(v1::CallResumed { sdp_answer: answer.unwrap_or_default() }),
        s @ Signal::Ended { .. } => Event::Ended(ended(&s)),
    }
}

/// The call log of a finished call.
fn call_log(f: &Finished) -> v1::CallLog {
    v1::CallLog {
        call_id: f.call.to_string(),
        media: f.media.as_str().into(),
        outcome: f.outcome.as_str().into(),
        caller_id: f.caller,
        duration_ms: f.duration_ms,
    }
}

/// Sends a request for a call held by another node there; its answer.
async fn forward(
    route: &dyn CallRoute,
    origin: &Origin,
    id: CallId,
    request: v1::CallRequest,
) -> Result<v1::CallAck, ApiError> {
    let answer = route.forward(id.owner(), &origin.endpoint, origin.session.id, request)?;
    match tokio::time::timeout(FORWARD_TIMEOUT, answer).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) | Err(_) => Err(ApiError::new(
            ferry_core::ErrorCode::Unavailable,
            "the node holding this call did not answer; try again",
        )),
    }
}

/// Takes what other nodes send about calls here, one request at a time (a
/// connection's steps stay in the order it sent them).
async fn remote(calls: Arc<Calls>, mut feed: CallFeed) {
    loop {
        tokio::select! {
            biased;
            () = calls.stop.cancelled() => return,
            Some(news) = feed.presence.recv() => calls.presence(news).await,
            Some(r) = feed.requests.recv() => {
                let (from, id) = (Arc::clone(&r.from), r.id);
                let answer = calls.remote_request(r).await;
                if let Some(route) = calls.route() {
                    route.answer(&from, id, answer);
                }
            }
            else => return,
        }
    }
}

/// The one timer of every call: sleeps until the next deadline, then ticks.
async fn timer(calls: Arc<Calls>) {
    loop {
        let next = calls.registry().next_deadline();
        let wait = match next {
            Some(at) => std::time::Duration::from_millis(u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0)),
            None => std::time::Duration::from_secs(3600),
        };
        tokio::select! {
            () = calls.stop.cancelled() => return,
            // A step may have moved the next deadline: look again.
            () = calls.timer.notified() => continue,
            () = tokio::time::sleep(wait) => calls.tick().await,
        }
    }
}

/// Writes call logs in the order calls finished, without waiting for one
/// commit before enqueueing the next (the writer batches them; at most
/// [`LOGS_IN_FLIGHT`] wait for their commit); after `stop`, writes what is
/// queued, waits for those commits and ends.
async fn write_logs(messaging: Arc<Messaging>, mut queue: mpsc::Receiver<Finished>, stop: CancellationToken) {
    let mut committing = FuturesUnordered::new();
    let mut stopping = false;
    loop {
        let finished = tokio::select! {
            biased;
            Some((call, result)) = committing.next(), if !committing.is_empty() => {
                report(call, result);
                continue;
            }
            f = queue.recv(), if committing.len() < LOGS_IN_FLIGHT => f,
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                queue.close();
                continue;
            }
        };
        let Some(f) = finished else { break };
        match messaging.enqueue_call_log(f.conversation(), f.caller, call_log(&f)).await {
            Ok(pending) => committing.push(async move { (f.call, pending.wait().await) }),
            Err(e) => report(f.call, Err(e)),
        }
    }
    while let Some((call, result)) = committing.next().await {
        report(call, result);
    }
}

/// How many call logs may wait for their commit at once.
const LOGS_IN_FLIGHT: usize = 1024;

fn report(call: CallId, result: Result<v1::SendAck, ApiError>) {
    if let Err(e) = result {
        tracing::warn!(call = %call, error = %e.message, "writing a call log failed");
    }
}
