//! Presence: who is online, told to the people who chat with them.
//!
//! A user is online while at least one device has a live session. Changes
//! (first device up, last device down) are pushed to the user's presence
//! peers: friends and direct-chat peers (cached, see [`Caches::peers`]).
//! Queries answer only for peers (and yourself): presence is not visible to
//! strangers.

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

    /// Presence of `ids` (or of every peer when empty), limited to peers and self.
    pub async fn query(&self, me: UserId, ids: &[UserId]) -> Result<Vec<v1::PresenceEvent>, ApiError> {
        if ids.len() > MAX_QUERY_IDS {
            return Err(ApiError::invalid(format!("at most {MAX_QUERY_IDS} user ids per presence query")));
        }
        let peers = self.caches.peers(me).await?;
        let wanted: Vec<UserId> = if ids.is_empty() {
            peers.to_vec()
        } else {
            let peers: HashSet<UserId> = peers.iter().copied().collect();
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
