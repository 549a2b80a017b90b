//! The single-node [`Bus`]: deliveries and kicks go to this process's
//! [`Hub`], invalidations to this process's [`Caches`].

use std::sync::Arc;

use ferry_core::{DeviceId, UserId};

use super::{Bus, Invalidation, SessionAt, Sessions};
use crate::{
    hub::{Hub, Outbound, SessionHandle},
    service::caches::Caches,
};

/// Everything in one process.
pub struct LocalBus {
    hub: Arc<Hub>,
    caches: Arc<Caches>,
}

impl LocalBus {
    pub fn new(hub: Arc<Hub>, caches: Arc<Caches>) -> Self {
        Self { hub, caches }
    }
}

impl Bus for LocalBus {
    fn attach(&self, session: Arc<SessionHandle>) -> u32 {
        count(self.hub.register(session))
    }

    fn detach(&self, user: UserId, session_id: u64) -> u32 {
        count(self.hub.unregister(user, session_id))
    }

    fn deliver(&self, users: &[UserId], frame: &Arc<Outbound>) {
        for user in users {
            self.hub.deliver(*user, frame);
        }
    }

    fn deliver_to_devices(
        &self,
        user: UserId,
        devices: &[DeviceId],
        except: Option<&SessionAt>,
        frame: &Arc<Outbound>,
    ) {
        self.hub.deliver_to_devices(user, devices, except.and_then(SessionAt::here), frame);
    }

    fn online_devices(&self, user: UserId) -> Vec<DeviceId> {
        self.hub.online_devices(user)
    }

    fn device_online(&self, user: UserId, device: &DeviceId) -> bool {
        self.hub.device_online(user, device)
    }

    fn kick(&self, user: UserId, which: Sessions, reason: &'static str) {
        match which {
            Sessions::All => self.hub.kick_where(user, reason, |_| true),
            Sessions::Token(hash) => self.hub.kick_where(user, reason, |s| s.session.token_hash == hash),
        };
    }

    fn devices(&self, user: UserId) -> u32 {
        count(self.hub.device_count(user))
    }

    fn invalidate(&self, what: Invalidation) {
        self.caches.apply(&what);
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
