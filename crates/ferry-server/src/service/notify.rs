//! `changed` pushes: telling a user's devices that something they sync
//! incrementally over HTTP (contacts, a group's members, info or join
//! requests) has changed; `read_receipt` pushes when a read position moves;
//! `typing` pushes.
//!
//! Group pokes are coalesced per (group, domain): the first change is pushed
//! at once, further changes within [`WINDOW`] become one trailing push at
//! its end carrying the latest version. Filling a group of G members one
//! join at a time therefore costs each member a handful of `changed` frames
//! per second instead of G of them, and nobody is kicked as a slow consumer
//! for it. Read receipts are coalesced the same way per (reader,
//! conversation) over [`READ_WINDOW`]; typing pushes are rate-limited per
//! (sender, conversation).

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use dashmap::{DashMap, mapref::entry::Entry};
use ferry_core::{ConversationId, Role, UserId};
use ferry_proto::v1;
use ferry_store::Store;

use super::caches::Caches;
use crate::{bus::Bus, hub::Outbound};

/// How long group pokes of one kind are held back after a push.
pub const WINDOW: Duration = Duration::from_millis(250);

/// How long a reader's receipts in one conversation are held back after a
/// push.
pub const READ_WINDOW: Duration = Duration::from_secs(1);

/// The least time between two `typing = true` pushes of one sender in one
/// conversation.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(1);

/// Typing gates kept before stale ones are swept.
const TYPING_GATES: usize = 10_000;

/// What a group poke tells clients to re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupDomain {
    /// `GET /groups/{id}/members/changes`; every member.
    Members,
    /// `GET /groups/{id}`; every member.
    Info,
    /// `GET /groups/{id}/requests`; owner and admins.
    Requests,
}

impl GroupDomain {
    fn as_str(self) -> &'static str {
        match self {
            Self::Members => "group_members",
            Self::Info => "group_info",
            Self::Requests => "group_requests",
        }
    }
}

/// A `changed` push telling clients to sync `domain` incrementally.
pub fn changed_frame(domain: &str, group_id: i64, version: u64) -> Arc<Outbound> {
    Outbound::new(v1::Frame {
        id: 0,
        body: Some(v1::frame::Body::Changed(v1::Changed { domain: domain.to_owned(), group_id, version })),
    })
}

/// A coalesced push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Poke {
    /// A group's members, info or requests changed.
    Group(i64, GroupDomain),
    /// A reader's read position in a conversation moved.
    Read(UserId, ConversationId),
}

impl Poke {
    fn window(self) -> Duration {
        match self {
            Self::Group(..) => WINDOW,
            Self::Read(..) => READ_WINDOW,
        }
    }
}

/// Per poke: whether a change arrived while cooling down.
type Cooling = DashMap<Poke, bool>;

/// Sends `changed` pushes.
pub struct Notifier {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    caches: Arc<Caches>,
    cooling: Arc<Cooling>,
    /// When each (sender, conversation) last had a `typing = true` pushed.
    typing: DashMap<(UserId, ConversationId), Instant>,
}

impl Notifier {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, caches: Arc<Caches>) -> Arc<Self> {
        Arc::new(Self { store, bus, caches, cooling: Arc::default(), typing: DashMap::new() })
    }

    /// `reader`'s read position in `conversation` moved: tells their other
    /// devices and, in a direct conversation, the other member's — now if
    /// the pair was quiet, else once at the end of the window with the
    /// latest position.
    pub fn read_moved(self: &Arc<Self>, reader: UserId, conversation: ConversationId) {
        self.poke(Poke::Read(reader, conversation));
    }

    /// Passes a typing state to `peer`'s devices; a `typing` sooner than
    /// [`TYPING_INTERVAL`] after the last one pushed is dropped.
    pub fn typing(&self, sender: UserId, conversation: ConversationId, peer: UserId, typing: bool) {
        let key = (sender, conversation);
        let now = Instant::now();
        if typing {
            match self.typing.entry(key) {
                Entry::Occupied(e) if now.duration_since(*e.get()) < TYPING_INTERVAL => return,
                Entry::Occupied(mut e) => {
                    e.insert(now);
                }
                Entry::Vacant(v) => {
                    v.insert(now);
                }
            }
            if self.typing.len() > TYPING_GATES {
                self.typing.retain(|_, at| now.duration_since(*at) < TYPING_INTERVAL * 10);
            }
        }
        // A stop always goes out and leaves the gate as it is, so
        // alternating stop and start cannot get past the rate limit.
        let push = v1::Typing { conversation_id: conversation.to_string(), typing, user_id: sender };
        self.bus.deliver(&[peer], &Outbound::new(v1::Frame { id: 0, body: Some(v1::frame::Body::Typing(push)) }));
    }

    /// Tells every device of `users` that their contacts changed.
    pub async fn contacts(&self, users: &[UserId]) {
        for user in users {
            let version = self.store.contact_changes(*user, u64::MAX).await.map_or(0, |c| c.version);
            self.bus.deliver(&[*user], &changed_frame("contacts", 0, version));
        }
    }

    /// Tells `user`'s devices that their conversation settings changed.
    pub fn settings(&self, user: UserId, version: u64) {
        self.bus.deliver(&[user], &changed_frame("conversations", 0, version));
    }

    /// Tells `user`'s devices that their hidden messages changed.
    pub fn hidden(&self, user: UserId, version: u64) {
        self.bus.deliver(&[user], &changed_frame("hidden", 0, version));
    }

    /// Tells `user` (no longer a member, so not reached by group pokes) to
    /// refresh their view of the group.
    pub fn left_group(&self, user: UserId, group: i64) {
        self.bus.deliver(&[user], &changed_frame(GroupDomain::Members.as_str(), group, 0));
    }

    /// Tells the group's members (or admins) that `domain` changed: now if
    /// the group was quiet, else once at the end of the current window.
    pub fn group(self: &Arc<Self>, group: i64, domain: GroupDomain) {
        self.poke(Poke::Group(group, domain));
    }

    /// Pushes now if `poke` is quiet, else marks it for the end of its window.
    fn poke(self: &Arc<Self>, poke: Poke) {
        match self.cooling.entry(poke) {
            Entry::Occupied(mut e) => {
                *e.get_mut() = true;
                return;
            }
            Entry::Vacant(v) => {
                v.insert(false);
            }
        }
        // The timer holds only a weak reference: a node shutting down does
        // not wait for it.
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            let Some(me) = this.upgrade() else { return };
            me.push(poke).await;
            drop(me);
            cool_down(this, poke).await;
        });
    }

    async fn push(&self, poke: Poke) {
        match poke {
            Poke::Group(group, domain) => self.push_group(group, domain).await,
            Poke::Read(reader, conversation) => self.push_read(reader, conversation).await,
        }
    }

    async fn push_read(&self, reader: UserId, conversation: ConversationId) {
        let Ok(Some(read_seq)) = self.store.read_position(reader, conversation).await else { return };
        let receipt = v1::ReadReceipt { conversation_id: conversation.to_string(), user_id: reader, read_seq };
        let frame = Outbound::new(v1::Frame { id: 0, body: Some(v1::frame::Body::ReadReceipt(receipt)) });
        match conversation.peer_of(reader).filter(|&peer| peer != reader) {
            Some(peer) => self.bus.deliver(&[reader, peer], &frame),
            None => self.bus.deliver(&[reader], &frame),
        }
    }

    async fn push_group(&self, group: i64, domain: GroupDomain) {
        let version = match domain {
            GroupDomain::Members => self.store.group(group).await.ok().flatten().map_or(0, |g| g.member_version),
            GroupDomain::Info | GroupDomain::Requests => 0,
        };
        let frame = changed_frame(domain.as_str(), group, version);
        match domain {
            GroupDomain::Members | GroupDomain::Info => {
                if let Ok(members) = self.caches.member_ids(group).await {
                    self.bus.deliver(&members.ids, &frame);
                }
            }
            GroupDomain::Requests => self.bus.deliver(&self.admins(group).await, &frame),
        }
    }

    async fn admins(&self, group: i64) -> Vec<UserId> {
        const PAGE: u32 = 1000;
        let (mut admins, mut after) = (Vec::new(), 0);
        loop {
            let Ok(page) = self.store.members(group, after, PAGE).await else { return admins };
            admins.extend(page.iter().filter(|m| m.role >= Role::Admin).map(|m| m.user_id));
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = last.user_id,
                _ => return admins,
            }
        }
    }
}

/// Waits out the window; pushes once more if something changed meanwhile,
/// and keeps cooling until a window passes quietly.
async fn cool_down(this: Weak<Notifier>, poke: Poke) {
    loop {
        tokio::time::sleep(poke.window()).await;
        let Some(me) = this.upgrade() else { return };
        let dirty = match me.cooling.entry(poke) {
            Entry::Occupied(mut e) if *e.get() => {
                *e.get_mut() = false;
                true
            }
            Entry::Occupied(e) => {
                e.remove();
                false
            }
            Entry::Vacant(_) => false,
        };
        if !dirty {
            return;
        }
        me.push(poke).await;
    }
}

#[cfg(test)]
mod tests {
    use ferry_store::GroupPatch;

    use super::*;
    use crate::testing::TestNode;

    fn changed(frame: &Outbound) -> Option<&v1::Changed> {
        match &frame.frame().body {
            Some(v1::frame::Body::Changed(c)) => Some(c),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_burst_of_group_changes_is_one_push_now_and_one_at_the_end_of_the_window() {
        let node = TestNode::start(|_| {}).await;
        let (alice, bob) = (node.user("alice").await, node.user("bob").await);
        let app = &node.app;
        let patch = GroupPatch { name: Some("crew".into()), ..Default::default() };
        let group = app.groups.create(&app.messaging, alice.id, patch, vec![bob.id]).await.expect("group");
        // The app's own notifier coalesces the creation's changes too: let
        // its window run out before listening, so only this test's count.
        tokio::time::pause();
        tokio::time::sleep(WINDOW * 4).await;
        let bob_sees = node.listen(bob.id);
        let take = || {
            let mut out = Vec::new();
            bob_sees.outbox.take(&mut out, usize::MAX);
            out
        };
        let notifier = Notifier::new(Arc::clone(&node.pipeline.store), Arc::clone(&app.bus), Arc::clone(&app.caches));

        for _ in 0..50 {
            notifier.group(group.id, GroupDomain::Members);
        }
        notifier.group(group.id, GroupDomain::Info);
        // Let every timer run out (the paused clock jumps ahead when idle).
        tokio::time::sleep(WINDOW * 4).await;
        let mut pushes = Vec::new();
        // (The group's creation message may reach bob too; only `changed` counts.)
        for f in take() {
            pushes.extend(changed(&f).cloned());
        }
        let members = pushes.iter().filter(|c| c.domain == "group_members").count();
        let info = pushes.iter().filter(|c| c.domain == "group_info").count();
        assert_eq!((members, info), (2, 1), "{pushes:?}");
        assert!(pushes.iter().all(|c| c.group_id == group.id));
        assert!(notifier.cooling.is_empty(), "quiet groups leave no state behind");

        // After a quiet window the next change goes out at once again.
        notifier.group(group.id, GroupDomain::Members);
        tokio::time::sleep(WINDOW * 2).await;
        let again = take();
        assert_eq!(again.len(), 1, "exactly one");
        assert_eq!(changed(&again[0]).map(|c| c.domain.as_str()), Some("group_members"));
    }
}
