//! The high-level client: one long connection that reconnects by itself,
//! reliable sends, and an ordered, exactly-once stream of messages.
//!
//! Two background tasks sit behind a [`Client`]:
//! - the **driver** owns the socket. It writes requests, routes answers to
//!   their waiting callers by frame id, pings on the heartbeat interval,
//!   notices a dead connection and reconnects with backoff. It never waits on
//!   anyone: pushes go to the processor with `try_send`, and when that queue
//!   is full the push is dropped and a resync requested instead, so a slow
//!   consumer costs a pull, never a stalled socket or a lost message;
//! - the **processor** owns delivery order. It checks every pushed message
//!   against the last delivered seq of its conversation, fills gaps by
//!   pulling, runs the sync after a reconnect, and emits [`Event`]s into the
//!   bounded channel the caller reads. It is the only task that advances the
//!   seqs, so each message is delivered once. Group system messages (member
//!   joined, muted...) are ordinary messages with seqs and take the same path.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use ferry_core::{ErrorCode, UserId};
use ferry_proto::{Body, Frame, v1};
use rand::Rng;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::{
    conn::{RawConnection, Transport, into_answer, unexpected},
    content::{Mentions, text_content, text_with_mentions},
    error::{ClientError, Result},
    order::{PushAction, SeqTracker},
};

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A direct message to this user (the conversation is created on first
    /// send).
    User(UserId),
    /// An existing conversation, by wire id (`d_1_2`, `g_5`; see
    /// `ferry_core::ConversationId`'s `Display`).
    Conversation(String),
}

impl Target {
    /// The conversation of group `group_id` (`g_<id>`).
    pub fn group(group_id: i64) -> Self {
        Self::Conversation(crate::http::groups::group_conversation_id(group_id))
    }
}

/// Settings of a [`Client`]. Build with [`ClientConfig::new`] and adjust the
/// public fields.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `tcp://host:port`, `ws://host:port/ws` or `wss://host/ws`.
    pub url: String,
    /// Session token from HTTP login.
    pub token: String,
    /// On WebSocket, send proto3-JSON text frames instead of protobuf binary.
    pub json: bool,
    /// How long a request waits for its answer.
    pub request_timeout: Duration,
    /// Last seq already held per conversation (e.g. from a saved profile);
    /// only later messages are delivered.
    pub known_seqs: HashMap<String, u64>,
    /// Capacity of the event channel.
    pub event_capacity: usize,
    /// First reconnect delay (doubles per failed attempt, with jitter).
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Page size of sync pulls (the server caps it at 1000).
    pub pull_page: u32,
}

impl ClientConfig {
    /// Defaults: binary frames, 10 s request timeout, reconnect 100 ms → 5 s,
    /// 1024 buffered events, pages of 500 messages, nothing known.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: token.into(),
            json: false,
            request_timeout: Duration::from_secs(10),
            known_seqs: HashMap::new(),
            event_capacity: 1024,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            pull_page: 500,
        }
    }
}

/// What the client tells its owner, in order.
#[derive(Debug, Clone)]
pub enum Event {
    /// A message, exactly once and in seq order within its conversation
    /// (including the user's own messages, from this or other devices).
    Message(v1::Message),
    /// A peer went online or offline. Best effort: dropped if the event
    /// queue overflows.
    Presence(v1::PresenceEvent),
    /// Something synced incrementally over HTTP changed (contacts, a group's
    /// members, info or join requests): fetch its changes. Best effort like
    /// presence, and not replayed after a reconnect, so on
    /// [`Event::Reconnected`] fetch every domain's changes once.
    Changed(v1::Changed),
    /// The connection dropped; the client is reconnecting.
    Disconnected,
    /// The client reconnected and synced: the messages missed while away were
    /// emitted just before this.
    Reconnected,
    /// The server ended the session on purpose ("replaced", "logout",
    /// "banned"...). The client will not reconnect; this is the last event.
    /// ("slow_consumer" and "shutdown" kicks are transient: the client
    /// reconnects and resyncs instead.)
    Kicked {
        /// The server's reason.
        reason: String,
    },
    /// The client stopped: `None` after [`Client::close`], else the fatal
    /// error (e.g. the token was refused on reconnect). The last event.
    Closed {
        /// Why, if not on request.
        error: Option<ClientError>,
    },
}

/// The stream of [`Event`]s. It ends (returns `None`) after `Kicked` or
/// `Closed`. Keep reading it: a full channel holds up delivery and `sync()`.
pub type EventReceiver = mpsc::Receiver<Event>;

/// A fresh client_msg_id: 128 random bits as 32 hex digits.
pub fn new_client_msg_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A handle to the connection. Cheap to clone; all clones share it.
/// Dropping every clone closes the connection.
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    cmd_tx: mpsc::Sender<Command>,
    sync_tx: mpsc::Sender<oneshot::Sender<Result<Vec<v1::Message>>>>,
    ids: Arc<AtomicU64>,
    seqs: Arc<Mutex<SeqTracker>>,
    state: watch::Receiver<ConnState>,
    request_timeout: Duration,
    reconnect_min: Duration,
    reconnect_max: Duration,
}

/// A request to the driver.
#[derive(Debug)]
enum Command {
    Request { frame: Frame, reply: oneshot::Sender<Result<Body>> },
    Close { done: oneshot::Sender<()> },
}

/// The connection's state, published by the driver.
#[derive(Debug, Clone)]
enum ConnState {
    /// Authenticated; `generation` counts connections (0 = the first).
    Connected {
        generation: u64,
        auth: v1::AuthOk,
    },
    Reconnecting,
    Kicked(String),
    Closed(Option<ClientError>),
}

/// A pushed frame on its way from the driver to the processor.
#[derive(Debug)]
enum Push {
    Message(v1::Message),
    Presence(v1::PresenceEvent),
    Changed(v1::Changed),
}

/// "Pull everything again": set by the driver when it had to drop pushes.
#[derive(Debug, Default)]
struct ResyncFlag {
    set: AtomicBool,
    notify: Notify,
}

impl ResyncFlag {
    fn raise(&self) {
        self.set.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    fn take(&self) -> bool {
        self.set.swap(false, Ordering::AcqRel)
    }
}

impl Client {
    /// Connects and authenticates, then starts the background tasks. Fails
    /// if the first connection or its auth fails (no retry here).
    pub async fn connect(config: ClientConfig) -> Result<(Client, EventReceiver)> {
        let (conn, auth) = RawConnection::connect(&config.url, config.json, &config.token).await?;
        let (transport, next_id) = conn.into_transport();
        let ids = Arc::new(AtomicU64::new(next_id.max(1)));
        let heartbeat = heartbeat_of(&auth);

        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (sync_tx, sync_rx) = mpsc::channel(16);
        let (push_tx, push_rx) = mpsc::channel(config.event_capacity.max(1));
        let (event_tx, event_rx) = mpsc::channel(config.event_capacity.max(1));
        let (state_tx, state_rx) = watch::channel(ConnState::Connected { generation: 0, auth });
        let seqs = Arc::new(Mutex::new(SeqTracker::new(config.known_seqs.clone())));
        let resync = Arc::new(ResyncFlag::default());

        let processor = Processor {
            cmd: cmd_tx.downgrade(),
            ids: ids.clone(),
            request_timeout: config.request_timeout,
            seqs: seqs.clone(),
            push_rx,
            sync_rx,
            state_rx: state_rx.clone(),
            resync: resync.clone(),
            events: event_tx,
            page: config.pull_page.clamp(1, 1000),
        };
        let driver = Driver { config: config.clone(), cmd_rx, push_tx, state_tx, resync, ids: ids.clone() };
        tokio::spawn(driver.run(transport, heartbeat));
        tokio::spawn(processor.run());

        let shared = Shared {
            cmd_tx,
            sync_tx,
            ids,
            seqs,
            state: state_rx,
            request_timeout: config.request_timeout,
            reconnect_min: config.reconnect_min,
            reconnect_max: config.reconnect_max,
        };
        Ok((Client { shared: Arc::new(shared) }, event_rx))
    }

    /// The `auth_ok` of the current connection (of the last one while
    /// reconnecting): user id, device, server limits.
    pub fn auth_info(&self) -> Option<v1::AuthOk> {
        match &*self.shared.state.borrow() {
            ConnState::Connected { auth, .. } => Some(auth.clone()),
            _ => None,
        }
    }

    /// Whether the connection is up right now.
    pub fn is_connected(&self) -> bool {
        matches!(&*self.shared.state.borrow(), ConnState::Connected { .. })
    }

    /// The last delivered seq of every conversation: save it and pass it back
    /// as [`ClientConfig::known_seqs`] to resume where this client stopped.
    pub fn known_seqs(&self) -> HashMap<String, u64> {
        lock(&self.shared.seqs).snapshot()
    }

    /// Sends `body` as a request and returns the answer's body. An `error`
    /// answer becomes [`ClientError::Api`]; no answer within the request
    /// timeout is [`ClientError::Timeout`]; while reconnecting the request
    /// fails at once with [`ClientError::Transport`].
    pub async fn request(&self, body: Body) -> Result<Body> {
        let s = &self.shared;
        request_on(&s.cmd_tx, &s.ids, s.request_timeout, body).await
    }

    /// Sends a text to `target` with a new client_msg_id, retrying until the
    /// server acknowledges it (see [`send_with_id`](Self::send_with_id)).
    pub async fn send_text(&self, target: Target, text: impl Into<String>) -> Result<v1::SendAck> {
        self.send_with_id(new_client_msg_id(), target, text_content(text)).await
    }

    /// Sends a text to a group's conversation (`g_<id>`) mentioning
    /// `mentions`, retrying until acknowledged like
    /// [`send_text`](Self::send_text).
    pub async fn send_group_text(
        &self,
        conversation_id: impl Into<String>,
        text: impl Into<String>,
        mentions: Mentions,
    ) -> Result<v1::SendAck> {
        let content = text_with_mentions(text, mentions);
        self.send_with_id(new_client_msg_id(), Target::Conversation(conversation_id.into()), content).await
    }

    /// Sends with the given client_msg_id until acknowledged: on a timeout or
    /// a lost connection it waits (backoff) and resends the same id, which the
    /// server deduplicates, so the message is stored once. An `error` answer
    /// (`text_too_long`, `not_found`, `rate_limited`...) is final, as is
    /// [`ClientError::Closed`]. Wrap in a timeout to bound the wait.
    pub async fn send_with_id(
        &self,
        client_msg_id: String,
        target: Target,
        content: v1::MessageContent,
    ) -> Result<v1::SendAck> {
        let mut delay = self.shared.reconnect_min;
        loop {
            match self.send_once(client_msg_id.clone(), target.clone(), content.clone()).await {
                Err(e) if e.is_retryable() => {
                    debug!(%client_msg_id, error = %e, "send failed, retrying");
                    tokio::time::sleep(jitter(delay)).await;
                    delay = (delay * 2).min(self.shared.reconnect_max);
                }
                other => return other,
            }
        }
    }

    /// One attempt at sending, without retry.
    pub async fn send_once(
        &self,
        client_msg_id: String,
        target: Target,
        content: v1::MessageContent,
    ) -> Result<v1::SendAck> {
        let to = match target {
            Target::User(id) => v1::send_message::To::UserId(id),
            Target::Conversation(c) => v1::send_message::To::ConversationId(c),
        };
        let body = Body::Send(v1::SendMessage { client_msg_id, to: Some(to), content: Some(content) });
        match self.request(body).await? {
            Body::SendAck(ack) => Ok(ack),
            other => Err(unexpected("send_ack", &other)),
        }
    }

    /// Pulls everything newer than what was delivered, in every conversation,
    /// and returns it (by conversation, then seq). These messages are *not*
    /// also emitted as events; together with the events each message shows
    /// up exactly once. Waits behind event delivery, so keep draining events.
    pub async fn sync(&self) -> Result<Vec<v1::Message>> {
        let (tx, rx) = oneshot::channel();
        self.shared.sync_tx.send(tx).await.map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// The caller's conversations.
    pub async fn list_conversations(&self) -> Result<Vec<v1::Conversation>> {
        match self.request(Body::ListConversations(v1::ListConversations {})).await? {
            Body::Conversations(list) => Ok(list.conversations),
            other => Err(unexpected("conversations", &other)),
        }
    }

    /// One page of messages with seq > `after_seq`. A raw read: it does not
    /// affect what the client delivers or [`known_seqs`](Self::known_seqs).
    pub async fn pull(&self, conversation_id: &str, after_seq: u64, limit: u32) -> Result<v1::MessageBatch> {
        let s = &self.shared;
        pull_on(&s.cmd_tx, &s.ids, s.request_timeout, conversation_id, after_seq, limit).await
    }

    /// Moves the read position of `conversation_id` to `seq`.
    pub async fn mark_read(&self, conversation_id: &str, seq: u64) -> Result<v1::MarkReadOk> {
        let body = Body::MarkRead(v1::MarkRead { conversation_id: conversation_id.to_owned(), seq });
        match self.request(body).await? {
            Body::MarkReadOk(ok) => Ok(ok),
            other => Err(unexpected("mark_read_ok", &other)),
        }
    }

    /// Presence of `user_ids`; empty = everyone the user shares a
    /// conversation with.
    pub async fn get_presence(&self, user_ids: &[UserId]) -> Result<Vec<v1::PresenceEvent>> {
        let body = Body::GetPresence(v1::GetPresence { user_ids: user_ids.to_vec() });
        match self.request(body).await? {
            Body::PresenceList(list) => Ok(list.users),
            other => Err(unexpected("presence_list", &other)),
        }
    }

    /// Round-trip time of a ping.
    pub async fn ping(&self) -> Result<Duration> {
        let start = Instant::now();
        match self.request(Body::Ping(v1::Ping { client_time: now_ms() })).await? {
            Body::Pong(_) => Ok(start.elapsed()),
            other => Err(unexpected("pong", &other)),
        }
    }

    /// Closes the connection gracefully and stops reconnecting. Pending
    /// requests fail with [`ClientError::Closed`]; the event stream ends with
    /// `Closed { error: None }` after the events already received.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.shared.cmd_tx.send(Command::Close { done }).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Sends a request through the driver and waits for its answer.
async fn request_on(cmd: &mpsc::Sender<Command>, ids: &AtomicU64, timeout: Duration, body: Body) -> Result<Body> {
    let id = ids.fetch_add(1, Ordering::Relaxed);
    let (reply, answer) = oneshot::channel();
    let exchange = async {
        let frame = Frame { id, body: Some(body) };
        cmd.send(Command::Request { frame, reply }).await.map_err(|_| ClientError::Closed)?;
        // The driver answers every request it accepted; a dropped sender
        // means it stopped for good.
        answer.await.map_err(|_| ClientError::Closed)?
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| ClientError::Timeout)?
}

async fn pull_on(
    cmd: &mpsc::Sender<Command>,
    ids: &AtomicU64,
    timeout: Duration,
    conversation_id: &str,
    after_seq: u64,
    limit: u32,
) -> Result<v1::MessageBatch> {
    let body = Body::Pull(v1::PullMessages { conversation_id: conversation_id.to_owned(), after_seq, limit });
    match request_on(cmd, ids, timeout, body).await? {
        Body::Messages(batch) => Ok(batch),
        other => Err(unexpected("messages", &other)),
    }
}

// --- driver ------------------------------------------------------------------

/// Why a connection ended.
enum Exit {
    /// Lost (network, server restart, silence): reconnect.
    Dropped(ClientError),
    /// Kicked for good.
    Kicked(String),
    /// A fatal error (e.g. the token is no longer valid).
    Fatal(ClientError),
    /// `close()` (with its completion signal) or every handle dropped.
    Closed(Option<oneshot::Sender<()>>),
}

struct Driver {
    config: ClientConfig,
    cmd_rx: mpsc::Receiver<Command>,
    push_tx: mpsc::Sender<Push>,
    state_tx: watch::Sender<ConnState>,
    resync: Arc<ResyncFlag>,
    ids: Arc<AtomicU64>,
}

impl Driver {
    async fn run(mut self, mut transport: Transport, mut heartbeat: Duration) {
        let mut generation = 0;
        let (final_state, done) = loop {
            match self.serve(&mut transport, heartbeat).await {
                Exit::Dropped(error) => info!(%error, "connection lost; reconnecting"),
                Exit::Kicked(reason) => break (ConnState::Kicked(reason), None),
                Exit::Fatal(error) => break (ConnState::Closed(Some(error)), None),
                Exit::Closed(done) => {
                    close_quietly(&mut transport).await;
                    break (ConnState::Closed(None), done);
                }
            }
            self.state_tx.send_replace(ConnState::Reconnecting);
            match self.reconnect().await {
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
                Err(Exit::Fatal(e) | Exit::Dropped(e)) => break (ConnState::Closed(Some(e)), None),
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
            Exit::Dropped(_) => ClientError::Transport("connection lost".into()),
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
            Body::Presence(p) => self.forward(Push::Presence(p)),
            Body::Changed(c) => self.forward(Push::Changed(c)),
            Body::Kicked(k) if is_transient_kick(&k.reason) => {
                return Some(Exit::Dropped(ClientError::Transport(format!("kicked: {}", k.reason))));
            }
            Body::Kicked(k) => return Some(Exit::Kicked(k.reason)),
            Body::Error(e) if e.fatal => {
                let error = ClientError::from(e);
                return Some(if is_fatal_auth(&error) { Exit::Fatal(error) } else { Exit::Dropped(error) });
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
    /// with "not connected" meanwhile.
    async fn reconnect(&mut self) -> std::result::Result<(RawConnection, v1::AuthOk), Exit> {
        let mut delay = self.config.reconnect_min;
        loop {
            self.while_disconnected(tokio::time::sleep(jitter(delay))).await?;
            let c = self.config.clone();
            let attempt = RawConnection::connect(&c.url, c.json, &c.token);
            match self.while_disconnected(attempt).await? {
                Ok(connected) => return Ok(connected),
                Err(e) if is_fatal_auth(&e) => return Err(Exit::Fatal(e)),
                Err(e) => {
                    debug!(error = %e, ?delay, "reconnect failed");
                    delay = (delay * 2).min(self.config.reconnect_max);
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
fn is_fatal_auth(e: &ClientError) -> bool {
    matches!(e.code(), Some(ErrorCode::Unauthenticated | ErrorCode::UnsupportedVersion | ErrorCode::Forbidden))
}

async fn close_quietly(t: &mut Transport) {
    let _ = tokio::time::timeout(Duration::from_secs(2), t.close()).await;
}

// --- processor -----------------------------------------------------------------

/// Where delivered messages go: out as events, or back to a `sync()` caller.
enum Delivery {
    Emit,
    Collect(Vec<v1::Message>),
}

struct Processor {
    /// Weak, so that the processor alone does not keep the driver running
    /// after every `Client` is dropped.
    cmd: mpsc::WeakSender<Command>,
    ids: Arc<AtomicU64>,
    request_timeout: Duration,
    seqs: Arc<Mutex<SeqTracker>>,
    push_rx: mpsc::Receiver<Push>,
    sync_rx: mpsc::Receiver<oneshot::Sender<Result<Vec<v1::Message>>>>,
    state_rx: watch::Receiver<ConnState>,
    resync: Arc<ResyncFlag>,
    events: mpsc::Sender<Event>,
    page: u32,
}

/// Delay before retrying a sync that failed while connected.
const SYNC_RETRY: Duration = Duration::from_secs(1);

impl Processor {
    async fn run(mut self) {
        let mut generation = 0;
        let mut announced_disconnect = false;
        let mut retry_sync = false;
        loop {
            let retry = async {
                if retry_sync {
                    tokio::time::sleep(SYNC_RETRY).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                // Pushes first: those sent before a state change must be
                // handled before it.
                biased;
                Some(push) = self.push_rx.recv() => {
                    if !self.on_push(push).await {
                        retry_sync = true;
                    }
                }
                Some(reply) = self.sync_rx.recv() => {
                    let mut delivery = Delivery::Collect(Vec::new());
                    let result = self.sync(&mut delivery).await;
                    let _ = reply.send(result.map(|()| match delivery {
                        Delivery::Collect(messages) => messages,
                        Delivery::Emit => Vec::new(),
                    }));
                }
                changed = self.state_rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let state = self.state_rx.borrow_and_update().clone();
                    match state {
                        ConnState::Connected { generation: g, .. } if g > generation => {
                            generation = g;
                            if !announced_disconnect {
                                self.emit(Event::Disconnected).await;
                            }
                            announced_disconnect = false;
                            retry_sync = !self.sync_and_emit().await;
                            self.emit(Event::Reconnected).await;
                        }
                        ConnState::Connected { .. } => {}
                        ConnState::Reconnecting => {
                            if !announced_disconnect {
                                announced_disconnect = true;
                                self.emit(Event::Disconnected).await;
                            }
                        }
                        ConnState::Kicked(reason) => {
                            self.drain_without_pulling().await;
                            self.emit(Event::Kicked { reason }).await;
                            break;
                        }
                        ConnState::Closed(error) => {
                            self.drain_without_pulling().await;
                            self.emit(Event::Closed { error }).await;
                            break;
                        }
                    }
                }
                () = self.resync.notify.notified() => {
                    if self.resync.take() {
                        retry_sync = !self.sync_and_emit().await;
                    }
                }
                () = retry => {
                    retry_sync = !self.sync_and_emit().await;
                }
            }
        }
    }

    /// Delivers one push in order; returns false if a gap could not be
    /// filled (a sync should be retried).
    async fn on_push(&mut self, push: Push) -> bool {
        let m = match push {
            Push::Presence(p) => {
                self.emit(Event::Presence(p)).await;
                return true;
            }
            Push::Changed(c) => {
                self.emit(Event::Changed(c)).await;
                return true;
            }
            Push::Message(m) => m,
        };
        let action = lock(&self.seqs).classify(&m.conversation_id, m.seq);
        match action {
            PushAction::Duplicate => {}
            PushAction::Deliver => self.deliver_one(m, &mut Delivery::Emit).await,
            PushAction::Gap { after } => {
                debug!(conversation = %m.conversation_id, after, seq = m.seq, "gap; pulling");
                if let Err(error) = self.pull_all(&m.conversation_id, &mut Delivery::Emit).await {
                    // Nothing was skipped: the seq did not move past the gap,
                    // so the next sync fetches this message too.
                    if !matches!(error, ClientError::Closed) {
                        warn!(%error, conversation = %m.conversation_id, "could not fill gap");
                    }
                    return false;
                }
                self.deliver_one(m, &mut Delivery::Emit).await;
            }
        }
        true
    }

    /// After the connection ended: deliver what is queued and in order; gaps
    /// are left for the next session's sync.
    async fn drain_without_pulling(&mut self) {
        while let Ok(push) = self.push_rx.try_recv() {
            match push {
                Push::Presence(p) => self.emit(Event::Presence(p)).await,
                Push::Changed(c) => self.emit(Event::Changed(c)).await,
                Push::Message(m) => {
                    let action = lock(&self.seqs).classify(&m.conversation_id, m.seq);
                    if action == PushAction::Deliver {
                        self.deliver_one(m, &mut Delivery::Emit).await;
                    }
                }
            }
        }
    }

    /// Runs a sync whose messages become events; returns whether it worked.
    async fn sync_and_emit(&mut self) -> bool {
        match self.sync(&mut Delivery::Emit).await {
            Ok(()) => true,
            Err(ClientError::Closed) => false,
            Err(error) => {
                warn!(%error, "sync failed");
                false
            }
        }
    }

    /// Pulls, for every conversation with messages newer than the last
    /// delivered one, everything after it.
    async fn sync(&mut self, delivery: &mut Delivery) -> Result<()> {
        let mut conversations = match self.request(Body::ListConversations(v1::ListConversations {})).await? {
            Body::Conversations(list) => list.conversations,
            other => return Err(unexpected("conversations", &other)),
        };
        conversations.sort_by(|a, b| a.conversation_id.cmp(&b.conversation_id));
        for c in conversations {
            if c.max_seq > lock(&self.seqs).last(&c.conversation_id) {
                self.pull_all(&c.conversation_id, delivery).await?;
            }
        }
        Ok(())
    }

    /// Pulls pages after the last delivered seq until the server has no more.
    async fn pull_all(&mut self, conversation_id: &str, delivery: &mut Delivery) -> Result<()> {
        loop {
            let after = lock(&self.seqs).last(conversation_id);
            let cmd = self.cmd.upgrade().ok_or(ClientError::Closed)?;
            let batch = pull_on(&cmd, &self.ids, self.request_timeout, conversation_id, after, self.page).await?;
            drop(cmd);
            let progressed = batch.messages.last().is_some_and(|m| m.seq > after);
            for m in batch.messages {
                self.deliver_one(m, delivery).await;
            }
            // Stop on an empty page too, whatever has_more says, so a
            // confused server cannot spin us.
            if !batch.has_more || !progressed {
                return Ok(());
            }
        }
    }

    /// Delivers `m` if it is newer than the last delivered message.
    async fn deliver_one(&mut self, m: v1::Message, delivery: &mut Delivery) {
        if !lock(&self.seqs).advance(&m.conversation_id, m.seq) {
            return;
        }
        match delivery {
            Delivery::Emit => self.emit(Event::Message(m)).await,
            Delivery::Collect(out) => out.push(m),
        }
    }

    async fn request(&self, body: Body) -> Result<Body> {
        let cmd = self.cmd.upgrade().ok_or(ClientError::Closed)?;
        request_on(&cmd, &self.ids, self.request_timeout, body).await
    }

    /// Emits an event; a dropped receiver just means nobody listens.
    async fn emit(&self, event: Event) {
        let _ = self.events.send(event).await;
    }
}

// --- helpers -------------------------------------------------------------------

/// Locks the tracker. A panic while holding it cannot leave it inconsistent
/// (every method is a single map operation), so poisoning is ignored.
fn lock(seqs: &Mutex<SeqTracker>) -> std::sync::MutexGuard<'_, SeqTracker> {
    seqs.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The ping interval the server asked for (15 s if it did not say).
fn heartbeat_of(auth: &v1::AuthOk) -> Duration {
    match auth.heartbeat_interval_ms {
        0 => Duration::from_secs(15),
        ms => Duration::from_millis(u64::from(ms)),
    }
}

/// `delay` scaled by a random factor in [0.5, 1.0), so that clients dropped
/// together do not come back together.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::rng().random_range(0.5..1.0))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_msg_ids_are_32_hex_digits_and_unique() {
        let a = new_client_msg_id();
        let b = new_client_msg_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn jitter_stays_within_half_to_full_delay() {
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(1000));
            assert!(d >= Duration::from_millis(500) && d < Duration::from_millis(1000));
        }
    }

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

    #[test]
    fn heartbeat_defaults_when_unset() {
        let mut auth = v1::AuthOk::default();
        assert_eq!(heartbeat_of(&auth), Duration::from_secs(15));
        auth.heartbeat_interval_ms = 3000;
        assert_eq!(heartbeat_of(&auth), Duration::from_secs(3));
    }
}
