//! Presence: who is online, told to the people who chat with them.
//!
//! A user is online while at least one device has a live session. Changes
//! (first device up, last device down) are pushed to the user's presence
//! peers: friends and direct-chat peers (cached, see [`Caches::peers`]).
//! Queries answer only for peers (and yourself): presence is not visible to
//! strangers, nor between two users when either has blocked the other.

use std::{collections::HashSet, sync::Arc};

use ferry_core::{ApiError, UserId};
use ferry_proto::v1;

use super::caches::Caches;
use crate::{bus::Bus, hub::Outbound};

/// Most user ids one presence query may name.
pub const MAX_QUERY_IDS: usize = 500;

pub struct Presence {
    bus: Arc<dyn Bus>,
    caches: Arc<Caches>,
}

impl Presence {
    pub fn new(bus: Arc<dyn Bus>, caches: Arc<Caches>) -> Self {
        Self { bus, caches }
    }

    /// Tells `user`'s peers that `user` went online or offline. Runs in the
    /// background: a session never waits for it.
    pub fn announce(self: &Arc<Self>, user: UserId, online: bool) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let Ok(peers) = this.caches.peers(user).await else { return };
            let Ok(peers) = this.unblocked(user, &peers).await else { return };
            let devices = this.bus.devices(user);
            // A quick reconnect may have flipped the state again; report the truth.
            let event = v1::PresenceEvent { user_id: user, online: devices > 0, devices };
            if event.online != online {
                return;
            }
            let frame = Outbound::new(v1::Frame { id: 0, body: Some(v1::frame::Body::Presence(event)) });
            this.bus.deliver(&peers, &frame);
        });
    }

    /// `peers` without anyone `user` blocked or who blocked `user`: a block
    /// stops presence both ways, like messages.
    async fn unblocked(&self, user: UserId, peers: &[UserId]) -> Result<Vec<UserId>, ApiError> {
        let mut kept = Vec::with_capacity(peers.len());
        for &peer in peers {
            if !self.caches.is_blocked(user, peer).await? && !self.caches.is_blocked(peer, user).await? {
                kept.push(peer);
            }
        }
        Ok(kept)
    }

    /// Presence of `ids` (or of every peer when empty), limited to peers and self.
    pub async fn query(&self, me: UserId, ids: &[UserId]) -> Result<Vec<v1::PresenceEvent>, ApiError> {
        if ids.len() > MAX_QUERY_IDS {
            return Err(ApiError::invalid(format!("at most {MAX_QUERY_IDS} user ids per presence query")));
        }
        let peers = self.unblocked(me, &self.caches.peers(me).await?).await?;
        let wanted: Vec<UserId> = if ids.is_empty() {
            peers
        } else {
            let peers: HashSet<UserId> = peers.into_iter().collect();
            ids.iter().copied().filter(|id| *id == me || peers.contains(id)).collect()
        };
        Ok(wanted
            .into_iter()
            .map(|user_id| {
                let devices = self.bus.devices(user_id);
                v1::PresenceEvent { user_id, online: devices > 0, devices }
            })
            .collect())
    }
}
