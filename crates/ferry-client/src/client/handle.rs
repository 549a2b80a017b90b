//! [`Client`]: the cheap, clonable handle its owner calls. It starts the two
//! tasks and talks to them over channels; it never touches the socket.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::AtomicU64},
    time::{Duration, Instant},
};

use ferry_core::UserId;
use ferry_proto::{Body, v1};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::debug;

use super::{
    ClientConfig, Command, ConnState, EventReceiver, ResyncFlag, Target,
    driver::{Driver, is_fatal_auth},
    heartbeat_of, jitter, lock, new_client_msg_id, now_ms,
    processor::Processor,
    pull_on, request_on,
};
use crate::{
    conn::{RawConnection, unexpected},
    content::{Mentions, text_content, text_with_mentions},
    error::{ClientError, Result},
    order::SeqTracker,
};

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

impl Client {
    /// Connects and authenticates — to `url`, else to each of the
    /// [`fallback_urls`](ClientConfig::fallback_urls) in turn — then starts
    /// the background tasks. Fails if no address takes the connection and
    /// its auth, with the last address's error (no retry here); a refused
    /// token fails at once.
    pub async fn connect(config: ClientConfig) -> Result<(Client, EventReceiver)> {
        let (current, (conn, auth)) = connect_first(&config).await?;
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
        let driver = Driver { config: config.clone(), cmd_rx, push_tx, state_tx, resync, ids: ids.clone(), current };
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
        match self.request(Body::ListConversations(v1::ListConversations::default())).await? {
            Body::Conversations(list) => Ok(list.conversations),
            other => Err(unexpected("conversations", &other)),
        }
    }

    /// The conversation list with its cursor: all of it (`since` empty), or
    /// only what changed after an earlier answer's `cursor` (then
    /// `incremental`, with `conversation_ids` listing all of yours).
    pub async fn list_conversations_since(&self, since: &str) -> Result<v1::ConversationList> {
        match self.request(Body::ListConversations(v1::ListConversations { since: since.to_owned() })).await? {
            Body::Conversations(list) => Ok(list),
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

    /// Applies an operation on a sent message (recall, edit, reaction,
    /// pin; see [`crate::message_op`]) and returns the ack of its event.
    /// Not retried: an operation that timed out may have been applied, and
    /// repeating it answers `conflict`.
    pub async fn op(&self, op: v1::MessageOp) -> Result<v1::OpAck> {
        match self.request(Body::Op(op)).await? {
            Body::OpAck(ack) => Ok(ack),
            other => Err(unexpected("op_ack", &other)),
        }
    }

    /// Forwards messages (see the proto's `Forward`); the answer has one
    /// outcome per target. Retrying with the same `client_msg_id` stores
    /// nothing twice.
    pub async fn forward(&self, forward: v1::Forward) -> Result<v1::ForwardResult> {
        match self.request(Body::Forward(forward)).await? {
            Body::ForwardResult(result) => Ok(result),
            other => Err(unexpected("forward_result", &other)),
        }
    }

    /// Changes your own settings of a conversation (the fields set in `s`).
    pub async fn update_conversation(&self, s: v1::ConversationSettings) -> Result<v1::ConversationSettings> {
        match self.request(Body::UpdateConversation(s)).await? {
            Body::ConversationSettings(saved) => Ok(saved),
            other => Err(unexpected("conversation_settings", &other)),
        }
    }

    /// Deletes messages for yourself, or clears your history (see the
    /// proto's `HideMessages`).
    pub async fn hide(&self, hide: v1::HideMessages) -> Result<v1::HideOk> {
        match self.request(Body::Hide(hide)).await? {
            Body::HideOk(ok) => Ok(ok),
            other => Err(unexpected("hide_ok", &other)),
        }
    }

    /// One page of a full-text search over the messages you can see (see
    /// the proto's `Search`); pass `next_cursor` back as `cursor` for more.
    pub async fn search(&self, search: v1::Search) -> Result<v1::SearchResult> {
        match self.request(Body::Search(search)).await? {
            Body::SearchResult(result) => Ok(result),
            other => Err(unexpected("search_result", &other)),
        }
    }

    /// Who has read message `seq` you sent (group members by whether their
    /// read position reached it; in a direct chat, the peer).
    pub async fn read_status(&self, conversation_id: &str, seq: u64) -> Result<v1::ReadStatus> {
        let body = Body::GetReadStatus(v1::GetReadStatus { conversation_id: conversation_id.to_owned(), seq });
        match self.request(body).await? {
            Body::ReadStatus(status) => Ok(status),
            other => Err(unexpected("read_status", &other)),
        }
    }

    /// Tells the other member of a direct chat you are typing (repeat every
    /// few seconds while typing) or stopped.
    pub async fn typing(&self, conversation_id: &str, typing: bool) -> Result<()> {
        let body = Body::Typing(v1::Typing { conversation_id: conversation_id.to_owned(), typing, user_id: 0 });
        match self.request(body).await? {
            Body::Ack(_) => Ok(()),
            other => Err(unexpected("ack", &other)),
        }
    }

    /// Who reacted to message `seq`, oldest first (at most `limit`, 0 = the
    /// server's cap).
    pub async fn reactions(&self, conversation_id: &str, seq: u64, limit: u32) -> Result<v1::ReactionList> {
        let body = Body::GetReactions(v1::GetReactions { conversation_id: conversation_id.to_owned(), seq, limit });
        match self.request(body).await? {
            Body::Reactions(list) => Ok(list),
            other => Err(unexpected("reactions", &other)),
        }
    }

    /// The pinned messages of a conversation, most recently pinned first.
    pub async fn pins(&self, conversation_id: &str) -> Result<Vec<v1::PinnedMessage>> {
        match self.request(Body::GetPins(v1::GetPins { conversation_id: conversation_id.to_owned() })).await? {
            Body::Pins(list) => Ok(list.pins),
            other => Err(unexpected("pins", &other)),
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

/// The first of `config`'s addresses that accepts the connection and its
/// auth, with its index.
async fn connect_first(config: &ClientConfig) -> Result<(usize, (RawConnection, v1::AuthOk))> {
    let mut last = None;
    for (i, url) in config.urls().iter().enumerate() {
        match RawConnection::connect(url, config.json, &config.token).await {
            Ok(connected) => return Ok((i, connected)),
            Err(e) if is_fatal_auth(&e) => return Err(e),
            Err(e) => {
                debug!(%url, error = %e, "connect failed");
                last = Some(e);
            }
        }
    }
    // `urls` always holds `url`, so an attempt was made and failed.
    Err(last.unwrap_or(ClientError::Closed))
}
