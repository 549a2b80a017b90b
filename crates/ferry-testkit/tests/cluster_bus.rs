//! The cluster bus over a real `redis-server`: several nodes' buses in one
//! process, each with its own hub and sessions (the gateway's
//! `SessionHandle`s with their bounded outboxes, without sockets) and its
//! own caches. Every wait is bounded by [`WAIT`]; nothing asserts a time.

use std::{sync::Arc, time::Duration};

use ferry_client::v1;
use ferry_core::{DeviceId, call::CallId};
use ferry_server::{
    bus::{
        Bus, BusReport, BusTasks, Invalidation, RedisBus, Sessions,
        calls::{CallRoute, Claim},
    },
    config::{CacheConfig, ClusterConfig},
    hub::{Hub, Kick, Outbound, Outbox, SessionHandle},
    service::caches::Caches,
};
use ferry_store::{Session, Store};
use ferry_testkit::{WAIT, redis::RedisServer, test_config};
use tempfile::TempDir;

/// One node's bus with its hub and caches.
struct Node {
    hub: Arc<Hub>,
    caches: Arc<Caches>,
    bus: Arc<RedisBus>,
    tasks: Option<BusTasks>,
}

/// The store the nodes' caches read (only the session cache is used here).
/// The next node's `node_id` (tests run concurrently in one process).
static NODE_IDS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(1);

struct Cluster {
    store: Arc<dyn Store>,
    redis: RedisServer,
    _dir: TempDir,
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = ferry_server::Config { data_dir: dir.path().to_path_buf(), ..test_config() };
        let store = ferry_server::open_store(&config).await.expect("store");
        Self { store, redis: RedisServer::start().await, _dir: dir }
    }

    /// A node with a given `node_id` (tests of a misconfigured cluster).
    async fn node_with_id(&self, node_id: u16) -> Node {
        let config = ClusterConfig { bus_url: self.redis.url(), ..ClusterConfig::default() };
        let hub = Arc::new(Hub::new());
        let caches = Arc::new(Caches::with_ttl(Arc::clone(&self.store), &CacheConfig::default(), None));
        let (bus, tasks) = RedisBus::start(Arc::clone(&hub), Arc::clone(&caches), node_id, &config).expect("bus");
        let node = Node { hub, caches, bus, tasks: Some(tasks) };
        until("the bus subscribes", || node.report().connected).await;
        node
    }

    /// A cluster with two nodes of default settings.
    async fn with_two_nodes() -> (Self, Node, Node) {
        let cluster = Self::start().await;
        let a = cluster.node(|_| {}).await;
        let b = cluster.node(|_| {}).await;
        (cluster, a, b)
    }

    /// A node; `f` adjusts its cluster settings.
    async fn node(&self, f: impl FnOnce(&mut ClusterConfig)) -> Node {
        let mut config = ClusterConfig { bus_url: self.redis.url(), ..ClusterConfig::default() };
        f(&mut config);
        let hub = Arc::new(Hub::new());
        let caches = Arc::new(Caches::with_ttl(Arc::clone(&self.store), &CacheConfig::default(), None));
        // Every node its own node_id, as operators must configure them.
        let node_id = NODE_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (bus, tasks) = RedisBus::start(Arc::clone(&hub), Arc::clone(&caches), node_id, &config).expect("bus");
        let node = Node { hub, caches, bus, tasks: Some(tasks) };
        until("the bus subscribes", || node.report().connected).await;
        node
    }
}

impl Node {
    fn report(&self) -> BusReport {
        self.bus.report().expect("a cluster bus reports")
    }

    /// A live session of `user` on `device`, as the gateway registers one.
    fn connect(&self, user: i64, device: &str, token: u8) -> Arc<SessionHandle> {
        let handle = Arc::new(SessionHandle {
            id: self.hub.next_session_id(),
            user_id: user,
            session: Arc::new(Session {
                token_hash: vec![token; 32],
                user_id: user,
                device_id: device.into(),
                platform: "test".into(),
                created_at: 0,
            }),
            outbox: Outbox::new(4096),
            kick: Kick::default(),
        });
        self.bus.attach(Arc::clone(&handle));
        handle
    }

    /// Crashes the node's bus: no goodbye, its registry entry stays until
    /// it expires.
    fn crash(&mut self) {
        self.tasks.take().expect("running").abort();
    }
}

/// Waits (bounded) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ping(n: i64) -> Arc<Outbound> {
    Outbound::new(v1::Frame { id: 0, body: Some(v1::frame::Body::Ping(v1::Ping { client_time: n })) })
}

fn number(frame: &Arc<Outbound>) -> i64 {
    match frame.frame().body {
        Some(v1::frame::Body::Ping(v1::Ping { client_time })) => client_time,
        ref other => panic!("not a ping: {other:?}"),
    }
}

/// The next frame queued to `session`.
async fn next(session: &SessionHandle) -> Arc<Outbound> {
    tokio::time::timeout(WAIT, async {
        loop {
            session.outbox.ready().await;
            let mut out = Vec::new();
            if session.outbox.take(&mut out, 1) == 1 {
                return out.pop().expect("one frame");
            }
        }
    })
    .await
    .expect("no frame arrived")
}

/// Frames up to and including the one numbered `marker`.
async fn frames_until(session: &SessionHandle, marker: i64) -> Vec<i64> {
    let mut seen = Vec::new();
    loop {
        let n = number(&next(session).await);
        seen.push(n);
        if n == marker {
            return seen;
        }
    }
}

const MARKER: i64 = i64::MAX;

#[tokio::test]
async fn frames_cross_nodes_exactly_once_and_in_publish_order() {
    let (_cluster, a, b) = Cluster::with_two_nodes().await;
    let bob = b.connect(2, "phone", 1);
    until("a sees bob's session on b", || a.bus.devices(2) == 1).await;

    for n in 0..500 {
        a.bus.deliver(&[2], &ping(n));
    }
    a.bus.deliver(&[2], &ping(MARKER));
    let seen = frames_until(&bob, MARKER).await;
    let expected: Vec<i64> = (0..500).chain([MARKER]).collect();
    assert_eq!(seen, expected, "every frame once, in the order a published them");
    assert_eq!(a.report().published, 501);
    assert_eq!(b.report().received, 501);
    for node in [&a, &b] {
        let r = node.report();
        assert_eq!((r.dropped, r.publish_failures, r.reconnects), (0, 0, 0), "{r:?}");
    }
}

#[tokio::test]
async fn a_frame_sent_after_a_session_attached_arrives_after_the_news_of_it() {
    let (_cluster, a, b) = Cluster::with_two_nodes().await;
    let alice = a.connect(1, "phone", 1);
    until("b sees alice", || b.bus.devices(1) == 1).await;
    for n in 0..20 {
        // Bob comes online on b, and b tells alice at once (a presence push).
        let bob = b.connect(2, "phone", 2);
        b.bus.deliver(&[1], &ping(n));
        assert_eq!(number(&next(&alice).await), n);
        assert_eq!(a.bus.devices(2), 1, "a knew of bob's session before the frame about it came");
        b.bus.detach(2, bob.id);
        b.bus.deliver(&[1], &ping(n));
        assert_eq!(number(&next(&alice).await), n);
        assert_eq!(a.bus.devices(2), 0, "and of its end");
    }
}

#[tokio::test]
async fn a_fanout_is_published_once_per_node_with_recipients_and_never_elsewhere() {
    let (cluster, a, b) = Cluster::with_two_nodes().await;
    let c = cluster.node(|_| {}).await;
    let d = cluster.node(|_| {}).await;
    let (b1, b2, c3, a4) = (b.connect(1, "d1", 1), b.connect(2, "d2", 2), c.connect(3, "d3", 3), a.connect(4, "d4", 4));
    let d5 = d.connect(5, "d5", 5);
    until("a sees every remote session", || (1..=3).chain([5]).all(|u| a.bus.devices(u) == 1)).await;
    let (before_a, before_d) = (a.report(), d.report());

    // A group of 1, 2 (on b), 3 (on c), 4 (on a) and an offline 99.
    let frame = ping(7);
    a.bus.deliver(&[1, 2, 3, 4, 99], &frame);
    // Then something for d's user: once it is there, a group frame for d
    // would have been too (one publisher, one engine connection, in order).
    a.bus.deliver(&[5], &ping(MARKER));

    assert!(Arc::ptr_eq(&next(&a4).await, &frame), "the local recipient shares the caller's frame");
    let (f1, f2) = (next(&b1).await, next(&b2).await);
    assert_eq!((number(&f1), number(&f2)), (7, 7));
    assert!(Arc::ptr_eq(&f1, &f2), "b decoded the frame once for both of its recipients");
    assert_eq!(number(&next(&c3).await), 7);
    assert_eq!(number(&next(&d5).await), MARKER);

    assert_eq!(a.report().published - before_a.published, 3, "b, c, then d's marker: one publish per node");
    assert_eq!(b.report().received, 1, "one publish carried both of b's recipients");
    assert_eq!(c.report().received, 1);
    assert_eq!(d.report().received - before_d.received, 1, "d got its marker and nothing of the group");
}

#[tokio::test]
async fn device_frames_reach_only_those_devices_and_presence_is_cluster_wide() {
    let (cluster, a, b) = Cluster::with_two_nodes().await;
    let c = cluster.node(|_| {}).await;
    let tablet = a.connect(1, "tablet", 1);
    let phone = b.connect(1, "phone", 2);
    let laptop = c.connect(1, "laptop", 3);
    let laptop_too = c.connect(1, "laptop", 4);
    until("a sees all four sessions", || a.bus.devices(1) == 4).await;
    let mut devices = a.bus.online_devices(1);
    devices.sort();
    assert_eq!(devices, ["laptop", "phone", "tablet"].map(DeviceId::from));
    assert!(a.bus.device_online(1, &DeviceId::from("laptop")));
    assert!(!a.bus.device_online(1, &DeviceId::from("watch")));

    a.bus.deliver_to_devices(1, &["phone", "tablet"].map(DeviceId::from), None, &ping(1));
    // A marker to every device: nothing of the first frame may precede it on the laptop.
    a.bus.deliver(&[1], &ping(MARKER));
    assert_eq!(frames_until(&tablet, MARKER).await, [1, MARKER]);
    assert_eq!(frames_until(&phone, MARKER).await, [1, MARKER]);
    assert_eq!(frames_until(&laptop, MARKER).await, [MARKER]);
    assert_eq!(frames_until(&laptop_too, MARKER).await, [MARKER]);
    assert_eq!(c.report().received, 1, "c was sent only the marker");

    // Detaching shows everywhere; a node started now learns it all at once.
    c.bus.detach(1, laptop_too.id);
    until("a sees the laptop's second session go", || a.bus.devices(1) == 3).await;
    let late = cluster.node(|_| {}).await;
    assert_eq!(late.bus.devices(1), 3, "loaded from the registry when it subscribed");
    b.bus.detach(1, phone.id);
    until("the late node sees the phone go", || !late.bus.device_online(1, &DeviceId::from("phone"))).await;
    assert_eq!(late.bus.devices(1), 2);
}

#[tokio::test]
async fn a_kick_closes_the_session_on_another_node_and_invalidations_reach_every_node() {
    let (cluster, a, b) = Cluster::with_two_nodes().await;
    let c = cluster.node(|_| {}).await;
    let logged_out = b.connect(1, "phone", 7);
    let other = b.connect(1, "laptop", 8);
    until("a sees both sessions", || a.bus.devices(1) == 2).await;

    a.bus.kick(1, Sessions::Token(vec![7; 32]), "logout");
    let reason = tokio::time::timeout(WAIT, logged_out.kick.requested()).await.expect("kicked on b");
    assert_eq!(reason, "logout");
    // Then a ban of user 1 kicks the rest; the logout had not touched it.
    a.bus.deliver(&[1], &ping(MARKER));
    assert_eq!(frames_until(&other, MARKER).await, [MARKER]);
    assert!(tokio::time::timeout(Duration::ZERO, other.kick.requested()).await.is_err(), "another token's session");
    a.bus.kick(1, Sessions::All, "banned");
    assert_eq!(tokio::time::timeout(WAIT, other.kick.requested()).await.expect("kicked"), "banned");

    // A cached session everywhere, revoked on a: dropped on every node.
    let hash = vec![9u8; 32];
    let key: [u8; 32] = [9; 32];
    let session =
        Session { token_hash: hash.clone(), user_id: 1, device_id: "x".into(), platform: "t".into(), created_at: 0 };
    for node in [&a, &b, &c] {
        let ticket = node.caches.sessions.ticket(&key);
        assert!(node.caches.sessions.insert(key, Arc::new(session.clone()), ticket));
    }
    a.bus.invalidate(Invalidation::Session(hash));
    until("every node dropped it", || [&a, &b, &c].iter().all(|n| !n.caches.sessions.contains(&key))).await;
}

#[tokio::test]
async fn an_invalidation_lost_with_the_engine_is_healed_by_the_cache_ttl() {
    let (mut cluster, a, b) = Cluster::with_two_nodes().await;
    let b = Node {
        caches: Arc::new(Caches::with_ttl(
            Arc::clone(&cluster.store),
            &CacheConfig::default(),
            Some(Duration::from_millis(300)),
        )),
        ..b
    };
    let key: [u8; 32] = [9; 32];
    let session =
        Session { token_hash: key.to_vec(), user_id: 1, device_id: "x".into(), platform: "t".into(), created_at: 0 };
    let ticket = b.caches.sessions.ticket(&key);
    assert!(b.caches.sessions.insert(key, Arc::new(session), ticket));
    cluster.redis.kill();
    a.bus.invalidate(Invalidation::Session(key.to_vec()));
    assert!(b.caches.sessions.contains(&key), "the invalidation cannot reach b");
    until("b's entry expires", || b.caches.sessions.get(&key).is_none()).await;
}

#[tokio::test]
async fn a_dead_nodes_sessions_expire_after_the_presence_ttl_and_a_stopped_node_leaves_at_once() {
    let cluster = Cluster::start().await;
    let short = |c: &mut ClusterConfig| c.presence_ttl_ms = 600;
    let a = cluster.node(short).await;
    let mut b = cluster.node(short).await;
    b.connect(1, "phone", 1);
    until("a sees b's session", || a.bus.devices(1) == 1).await;
    b.crash();
    until("a forgets the dead node's session", || a.bus.devices(1) == 0).await;
    until("a forgets the dead node", || a.report().nodes == 0).await;
    // The registry forgot it as well: a node starting now does not see it.
    let c = cluster.node(short).await;
    assert_eq!(c.bus.devices(1), 0);

    // A long TTL: only b's goodbye can explain that a forgets it.
    let long = |c: &mut ClusterConfig| c.presence_ttl_ms = 600_000;
    let a = cluster.node(long).await;
    let mut b = cluster.node(long).await;
    b.connect(2, "phone", 2);
    until("a sees b's session", || a.bus.devices(2) == 1).await;
    b.tasks.take().expect("running").stop().await;
    until("a forgets the node that left", || a.bus.devices(2) == 0).await;
}

#[tokio::test]
async fn the_engine_restarted_mid_traffic_the_bus_reconnects_and_delivery_resumes() {
    let (mut cluster, a, b) = Cluster::with_two_nodes().await;
    let bob = b.connect(2, "phone", 1);
    until("a sees bob", || a.bus.devices(2) == 1).await;
    for n in 0..100 {
        a.bus.deliver(&[2], &ping(n));
    }
    assert_eq!(frames_until(&bob, 99).await, (0..100).collect::<Vec<_>>());
    cluster.redis.kill();
    // Services keep calling the bus meanwhile; none of it blocks.
    for n in 100..200 {
        a.bus.deliver(&[2], &ping(n));
    }
    cluster.redis.restart().await;
    until("both buses reconnect", || a.report().reconnects > 0 && b.report().reconnects > 0).await;
    // b registered its sessions again in the fresh engine; a reloaded them.
    until("a sees bob again", || a.bus.devices(2) == 1).await;
    // Send until frames reach bob again.
    let mut seen = Vec::new();
    for n in 1000.. {
        a.bus.deliver(&[2], &ping(n));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut out = Vec::new();
        bob.outbox.take(&mut out, usize::MAX);
        seen.extend(out.iter().map(number));
        if seen.last().is_some_and(|&last| last >= 1000) {
            break;
        }
        assert!(n < 1500, "delivery did not resume: {seen:?}");
    }
    // What arrived arrived once and in publish order; what did not is the
    // client's to pull (it sees the seq gap).
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(seen[0] >= 100, "nothing from before the kill came again: {seen:?}");
}

#[tokio::test]
async fn without_its_engine_a_node_serves_its_own_sessions_and_joins_once_it_is_back() {
    let mut cluster = Cluster::start().await;
    cluster.redis.kill();
    let config = ClusterConfig { bus_url: cluster.redis.url(), ..ClusterConfig::default() };
    let (hub, caches) =
        (Arc::new(Hub::new()), Arc::new(Caches::new(Arc::clone(&cluster.store), &CacheConfig::default())));
    let (bus, tasks) =
        RedisBus::start(Arc::clone(&hub), Arc::clone(&caches), 1000, &config).expect("starts without its engine");
    let node = Node { hub, caches, bus, tasks: Some(tasks) };
    let alice = node.connect(1, "phone", 1);
    node.bus.deliver(&[1], &ping(1));
    assert_eq!(number(&next(&alice).await), 1);
    assert!(!node.report().connected);

    cluster.redis.restart().await;
    let other = cluster.node(|_| {}).await;
    until("the other node sees alice", || other.bus.devices(1) == 1).await;
    other.bus.deliver(&[1], &ping(2));
    assert_eq!(number(&next(&alice).await), 2);
}

#[tokio::test]
async fn two_nodes_with_one_node_id_both_report_the_clash_until_one_is_gone() {
    let cluster = Cluster::start().await;
    let a = cluster.node_with_id(77).await;
    let mut b = cluster.node_with_id(77).await;
    let c = cluster.node_with_id(78).await;
    // Heard of in the first presence or heartbeat each sends.
    until("a sees the clash", || a.report().node_id_clash.is_some()).await;
    until("b sees the clash", || b.report().node_id_clash.is_some()).await;
    assert_eq!(c.report().node_id_clash, None);
    b.tasks.take().expect("running").stop().await;
    until("a forgets the clash", || a.report().node_id_clash.is_none()).await;
}

#[tokio::test]
async fn call_claims_busy_users_cluster_wide_until_released_or_their_node_dies() {
    let cluster = Cluster::start().await;
    let ttl = |c: &mut ClusterConfig| c.presence_ttl_ms = 600;
    let mut a = cluster.node(ttl).await;
    let b = cluster.node(ttl).await;
    let (route_a, route_b) = (a.bus.calls().expect("cluster calls"), b.bus.calls().expect("cluster calls"));
    let (x, y, z) = (CallId::minted(route_a.node_id(), 1), CallId::minted(route_b.node_id(), 2), CallId::minted(9, 3));
    assert_eq!(route_a.claim(x, 1, 2).await.expect("claim"), Claim::Taken);
    assert_eq!(route_b.claim(y, 3, 2).await.expect("claim"), Claim::CalleeBusy);
    assert_eq!(route_b.claim(y, 1, 3).await.expect("claim"), Claim::CallerBusy);
    // Released: free on every node at once.
    route_a.release(x);
    until_claimed(route_b, y, 3, 2).await;
    // Held by a node that dies: re-asserted while it lives, gone within the TTL after.
    assert_eq!(route_a.claim(z, 4, 5).await.expect("claim"), Claim::Taken);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(route_b.claim(CallId::minted(1, 4), 5, 6).await.expect("claim"), Claim::CallerBusy, "kept alive");
    a.tasks.take().expect("running").abort();
    until_claimed(route_b, CallId::minted(1, 4), 5, 6).await;
}

/// Claims `caller` and `callee` for `call` on `route`, retrying until free.
async fn until_claimed(route: &dyn CallRoute, call: CallId, caller: i64, callee: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while route.claim(call, caller, callee).await.expect("claim") != Claim::Taken {
        assert!(tokio::time::Instant::now() < deadline, "never free");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
