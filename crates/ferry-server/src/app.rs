//! The application state shared by the gateway and the HTTP routes.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    bus::Bus,
    config::Config,
    hub::Hub,
    service::{
        accounts::Accounts, caches::Caches, contacts::Contacts, groups::Groups, messaging::Messaging,
        presence::Presence,
    },
};

/// Everything a request or a session needs, behind one `Arc`.
pub struct App {
    pub config: Config,
    /// This node's sessions (the gateway's view; services use `bus`).
    pub hub: Arc<Hub>,
    pub bus: Arc<dyn Bus>,
    pub caches: Arc<Caches>,
    pub accounts: Accounts,
    pub messaging: Messaging,
    pub contacts: Contacts,
    pub groups: Groups,
    pub presence: Arc<Presence>,
    /// Cancelled when the node begins shutting down.
    pub shutdown: CancellationToken,
    /// Tracks every connection task so shutdown can wait for them.
    pub connections: TaskTracker,
    /// One permit per live long connection (TCP and WebSocket).
    pub connection_slots: Arc<Semaphore>,
}

pub type AppRef = Arc<App>;
