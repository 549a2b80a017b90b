//! Presence: who is online, told to the people who chat with them.
//!
//! A user is online while at least one device has a live session on this
//! node. Transitions (first device up, last device down) are pushed to the
//! user's contacts: friends and direct-chat peers. Queries answer only for
//! contacts (and yourself): presence is not visible to strangers.

use std::sync::Arc;

use ferry_core::{ApiError, UserId};
use ferry_proto::v1;
use ferry_store::Store;

use crate::{
    error::store_error,
    hub::{Hub, Outbound},
};

pub struct Presence {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
}

impl Presence {
    pub fn new(store: Arc<dyn Store>, hub: Arc<Hub>) -> Self {
        Self { store, hub }
    }

    /// Tells `user`'s online peers that `user` went online or offline.
    /// Runs in the background: a session never waits for it.
    pub fn announce(self: &Arc<Self>, user: UserId, online: bool) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let peers = match this.contacts_of(user).await {
                Ok(p) => p,
                Err(_) => return,
            };
            let devices = this.hub.device_count(user) as u32;
            // A quick reconnect may have flipped the state again; report the truth.
            let event = v1::PresenceEvent { user_id: user, online: devices > 0, devices };
            if event.online != online {
                return;
            }
            let frame = Outbound::new(v1::Frame { id: 0, body: Some(v1::frame::Body::Presence(event)) });
            for peer in peers.into_iter().filter(|p| *p != user) {
                this.hub.deliver(peer, &frame);
            }
        });
    }

    /// Friends and direct-chat peers of `user`, without duplicates.
    async fn contacts_of(&self, user: UserId) -> Result<Vec<UserId>, ApiError> {
        let mut ids = self.store.direct_peers(user).await.map_err(store_error)?;
        ids.extend(self.store.friends_of(user).await.map_err(store_error)?.into_iter().map(|f| f.friend));
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Presence of `ids` (or of every peer when empty), limited to peers and self.
    pub async fn query(&self, me: UserId, ids: &[UserId]) -> Result<Vec<v1::PresenceEvent>, ApiError> {
        let peers = self.contacts_of(me).await?;
        let wanted: Vec<UserId> = if ids.is_empty() {
            peers
        } else {
            if ids.len() > 500 {
                return Err(ApiError::invalid("at most 500 user ids per presence query"));
            }
            let peers: std::collections::HashSet<UserId> = peers.into_iter().collect();
            ids.iter().copied().filter(|id| *id == me || peers.contains(id)).collect()
        };
        Ok(wanted
            .into_iter()
            .map(|user_id| {
                let devices = self.hub.device_count(user_id) as u32;
                v1::PresenceEvent { user_id, online: devices > 0, devices }
            })
            .collect())
    }
}
