//! The processor task, which owns delivery order: gaps filled by pulling,
//! the sync after a reconnect, [`Event`]s out (see [the overview](super)).

use std::{
    sync::{Arc, Mutex, atomic::AtomicU64},
    time::Duration,
};

use ferry_proto::{Body, v1};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use super::{Command, ConnState, Event, Push, ResyncFlag, lock, pull_on, request_on};
use crate::{
    conn::unexpected,
    error::{ClientError, Result},
    order::{PushAction, SeqTracker},
};

/// Where delivered messages go: out as events, or back to a `sync()` caller.
enum Delivery {
    Emit,
    Collect(Vec<v1::Message>),
}

pub(super) struct Processor {
    /// Weak, so that the processor alone does not keep the driver running
    /// after every `Client` is dropped.
    pub(super) cmd: mpsc::WeakSender<Command>,
    pub(super) ids: Arc<AtomicU64>,
    pub(super) request_timeout: Duration,
    pub(super) seqs: Arc<Mutex<SeqTracker>>,
    pub(super) push_rx: mpsc::Receiver<Push>,
    pub(super) sync_rx: mpsc::Receiver<oneshot::Sender<Result<Vec<v1::Message>>>>,
    pub(super) state_rx: watch::Receiver<ConnState>,
    pub(super) resync: Arc<ResyncFlag>,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) page: u32,
}

/// Delay before retrying a sync that failed while connected.
const SYNC_RETRY: Duration = Duration::from_secs(1);

impl Processor {
    pub(super) async fn run(mut self) {
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
            Push::Signal(event) => {
                self.emit(event).await;
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
                Push::Signal(event) => self.emit(event).await,
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
        let mut conversations = match self.request(Body::ListConversations(v1::ListConversations::default())).await? {
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
