//! This node's copy of the other nodes' sessions: user → (node, device of
//! each session there). The bus answers presence questions and routes
//! deliveries from it without a network round trip; the cluster bus's
//! receiver task is its only writer (presence events, snapshots from the
//! engine's registry, and forgetting a node that stopped talking).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use dashmap::DashMap;
use ferry_core::{DeviceId, UserId};
use smallvec::SmallVec;
use tokio::time::Instant;

/// A node's name on the bus.
pub type NodeName = Arc<str>;

/// One user's sessions on one other node: the device id of each session.
#[derive(Debug, Clone)]
struct Placement {
    node: NodeName,
    devices: SmallVec<[Box<str>; 1]>,
}

/// What is known of another node.
#[derive(Debug)]
struct NodeState {
    /// Its registry version as last applied.
    version: u64,
    /// When it was last heard from.
    seen: Instant,
    /// Users it holds sessions of (to forget them with the node).
    users: HashSet<UserId>,
}

/// The other nodes' sessions, by user.
#[derive(Debug, Default)]
pub struct Mirror {
    /// Most users are on one node: inline, no allocation.
    users: DashMap<UserId, SmallVec<[Placement; 1]>>,
    nodes: Mutex<HashMap<NodeName, NodeState>>,
}

impl Mirror {
    fn nodes(&self) -> std::sync::MutexGuard<'_, HashMap<NodeName, NodeState>> {
        // Every update leaves the map valid even if a holder panicked.
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The nodes other than this one holding sessions of `user`.
    pub fn nodes_of(&self, user: UserId) -> SmallVec<[NodeName; 2]> {
        self.users.get(&user).map(|list| list.iter().map(|p| Arc::clone(&p.node)).collect()).unwrap_or_default()
    }

    /// The nodes holding a session of `user` on one of `devices`, each with
    /// the devices it holds.
    pub fn nodes_with_devices(&self, user: UserId, devices: &[DeviceId]) -> Vec<(NodeName, Vec<String>)> {
        let Some(list) = self.users.get(&user) else { return Vec::new() };
        list.iter()
            .filter_map(|p| {
                let held: Vec<String> = devices
                    .iter()
                    .filter(|d| p.devices.iter().any(|h| &**h == d.as_str()))
                    .map(|d| d.as_str().to_owned())
                    .collect();
                (!held.is_empty()).then(|| (Arc::clone(&p.node), held))
            })
            .collect()
    }

    /// Sessions of `user` on other nodes.
    pub fn session_count(&self, user: UserId) -> usize {
        self.users.get(&user).map_or(0, |list| list.iter().map(|p| p.devices.len()).sum())
    }

    /// Adds the distinct devices `user` has sessions on elsewhere to `out`.
    pub fn add_devices(&self, user: UserId, out: &mut Vec<DeviceId>) {
        let Some(list) = self.users.get(&user) else { return };
        for device in list.iter().flat_map(|p| p.devices.iter()) {
            if !out.iter().any(|d| d.as_str() == &**device) {
                out.push(DeviceId::from(&**device));
            }
        }
    }

    /// Whether `user` has a session on `device` on another node.
    pub fn device_online(&self, user: UserId, device: &DeviceId) -> bool {
        self.users.get(&user).is_some_and(|list| list.iter().any(|p| p.devices.iter().any(|d| &**d == device.as_str())))
    }

    /// The version applied for `node`, if it is known.
    pub fn version(&self, node: &str) -> Option<u64> {
        self.nodes().get(node).map(|n| n.version)
    }

    /// Notes that `node` is alive (any message from it).
    pub fn touch(&self, node: &str) {
        if let Some(n) = self.nodes().get_mut(node) {
            n.seen = Instant::now();
        }
    }

    /// Applies `node`'s sessions of some users at `version` (full state per
    /// user: an empty list means the user left that node).
    pub fn apply(&self, node: &NodeName, version: u64, users: impl IntoIterator<Item = (UserId, Vec<String>)>) {
        let mut nodes = self.nodes();
        let state = nodes.entry(Arc::clone(node)).or_insert_with(|| NodeState {
            version,
            seen: Instant::now(),
            users: HashSet::new(),
        });
        state.version = version;
        state.seen = Instant::now();
        for (user, devices) in users {
            if devices.is_empty() {
                state.users.remove(&user);
                self.remove(user, node);
            } else {
                state.users.insert(user);
                let placement =
                    Placement { node: Arc::clone(node), devices: devices.into_iter().map(Into::into).collect() };
                let mut list = self.users.entry(user).or_default();
                match list.iter_mut().find(|p| p.node == *node) {
                    Some(p) => *p = placement,
                    None => list.push(placement),
                }
            }
        }
    }

    /// Forgets `node` and every session it held.
    pub fn forget(&self, node: &str) {
        let Some(state) = self.nodes().remove(node) else { return };
        for user in state.users {
            self.remove(user, node);
        }
    }

    /// Forgets every node not heard from within `ttl`; returns them.
    pub fn reap(&self, ttl: Duration) -> Vec<NodeName> {
        let now = Instant::now();
        let dead: Vec<NodeName> = {
            let nodes = self.nodes();
            nodes.iter().filter(|(_, n)| now.duration_since(n.seen) > ttl).map(|(name, _)| Arc::clone(name)).collect()
        };
        for node in &dead {
            self.forget(node);
        }
        dead
    }

    /// The nodes known now.
    pub fn known(&self) -> Vec<NodeName> {
        self.nodes().keys().cloned().collect()
    }

    fn remove(&self, user: UserId, node: &str) {
        if let Some(mut list) = self.users.get_mut(&user) {
            list.retain(|p| &*p.node != node);
            if !list.is_empty() {
                return;
            }
        }
        self.users.remove_if(&user, |_, list| list.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices(list: &[&str]) -> Vec<String> {
        list.iter().map(|d| (*d).to_owned()).collect()
    }

    #[test]
    fn placements_follow_full_state_updates_and_node_loss() {
        let m = Mirror::default();
        let (a, b): (NodeName, NodeName) = ("a".into(), "b".into());
        m.apply(&a, 1, [(1, devices(&["phone", "phone"])), (2, devices(&["pc"]))]);
        m.apply(&b, 7, [(1, devices(&["pc"]))]);
        assert_eq!(m.session_count(1), 3);
        assert_eq!(m.nodes_of(1).len(), 2);
        let mut seen = Vec::new();
        m.add_devices(1, &mut seen);
        assert_eq!(seen, [DeviceId::from("phone"), DeviceId::from("pc")]);
        assert_eq!(m.nodes_with_devices(1, &[DeviceId::from("pc")]), [(b.clone(), devices(&["pc"]))]);
        assert!(m.device_online(2, &DeviceId::from("pc")));

        m.apply(&a, 2, [(1, Vec::new())]);
        assert_eq!((m.session_count(1), m.version(&a)), (1, Some(2)));
        m.forget(&b);
        assert_eq!(m.session_count(1), 0);
        assert!(m.users.get(&1).is_none(), "no empty entry is left behind");
        assert_eq!(m.known(), [a]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_node_is_reaped_after_the_ttl() {
        let m = Mirror::default();
        let (a, b): (NodeName, NodeName) = ("a".into(), "b".into());
        m.apply(&a, 1, [(1, devices(&["d"]))]);
        m.apply(&b, 1, [(2, devices(&["d"]))]);
        tokio::time::advance(Duration::from_secs(20)).await;
        m.touch(&b);
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(m.reap(Duration::from_secs(30)), [a]);
        assert_eq!((m.session_count(1), m.session_count(2)), (0, 1));
    }
}
