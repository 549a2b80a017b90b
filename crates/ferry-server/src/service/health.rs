//! Readiness: whether this node should be sent new clients (`GET /readyz`).
//!
//! A node is ready while it is not draining, its store answers within
//! [`STORE_TIMEOUT`] and, in a cluster, its bus is connected to the engine
//! (without it, its clients would miss what other nodes' clients send until
//! they sync). Draining starts when the node is told to stop: for
//! `drain_secs` it goes on serving everyone already connected while
//! `/readyz` answers 503, so a load balancer takes it out of rotation before
//! its sessions are closed (and told to reconnect, which then reaches
//! another node). Liveness (`/healthz`) stays a plain "the process answers".

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use ferry_store::Store;

use crate::bus::Bus;

/// Longest wait for the store's answer before the node counts as not ready.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a node is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// Shutting down: stays out of rotation until it stops.
    Draining,
    /// The store failed or did not answer in time.
    Store(String),
    /// The cluster bus has lost its engine (it reconnects by itself).
    Bus,
    /// Another live node has this node's `node_id` (named here): the ids
    /// the two mint can clash.
    NodeIdClash(String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Draining => f.write_str("draining: the node is shutting down"),
            Self::Store(e) => write!(f, "store: {e}"),
            Self::Bus => f.write_str("bus: not connected to the bus engine"),
            Self::NodeIdClash(node) => write!(f, "node_id: node {node} has the same node_id; give each node its own"),
        }
    }
}

/// The node's readiness.
pub struct Health {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    draining: AtomicBool,
}

impl Health {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> Self {
        Self { store, bus, draining: AtomicBool::new(false) }
    }

    /// From now on the node is not ready (it is about to stop).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Ready, or why not.
    pub async fn check(&self) -> Result<(), NotReady> {
        if self.draining() {
            return Err(NotReady::Draining);
        }
        if let Some(report) = self.bus.report() {
            if !report.connected {
                return Err(NotReady::Bus);
            }
            if let Some(node) = report.node_id_clash {
                return Err(NotReady::NodeIdClash(node));
            }
        }
        match tokio::time::timeout(STORE_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NotReady::Store(e.to_string())),
            Err(_) => Err(NotReady::Store(format!("no answer within {} s", STORE_TIMEOUT.as_secs()))),
        }
    }
}
