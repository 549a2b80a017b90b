//! The cluster's failure behaviour with real processes (issue 13): three
//! `ferry-server` binaries on one PostgreSQL database and one Redis, SDK
//! clients spread over them, each client given every node's address (the
//! one it starts on first) the way a load balancer would hand it another.
//!
//! - Three nodes: direct and group messages cross nodes exactly once and
//!   in order, to a user's devices on two nodes (one of them a raw
//!   connection, so the wire itself is checked, not the SDK's dedup).
//! - SIGKILL of a node while every node's clients send: its clients move
//!   to the others and sync; sends it had stored but not acknowledged,
//!   retried on another node, are stored once.
//! - Redis killed and started again: sends keep committing, `/readyz`
//!   says the bus is gone and then back, receivers recover by gap
//!   detection.
//! - PostgreSQL stopped: sends and reads are answered `unavailable` (HTTP
//!   503; never a false ack, never a hang), `/readyz` says 503, the nodes
//!   stay up, and everything works again once it is back.
//!
//! Across every run the same check: each conversation's history is dense
//! from seq 1, every acknowledged message is in it once where its ack said,
//! nothing is in it that was not acknowledged, and every client received
//! exactly that history, in order. Every wait is bounded; nothing asserts
//! a time.

mod common;

use std::{
    collections::{BTreeMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{Node, readyz, start, wait_healthy};
use ferry_client::{
    Client, ClientConfig, ClientError, Event, HttpApi, RawConnection, Target, api::NewGroup, new_client_msg_id,
    text_content, v1,
};
use ferry_core::ErrorCode;
use ferry_pgtest::{PgServer, TestDatabase};
use tempfile::TempDir;
use tokio::task::JoinHandle;

/// Upper bound on any one wait. Healthy nodes answer in milliseconds; this
/// is for a loaded 2-core machine running debug builds.
const WAIT: Duration = Duration::from_secs(30);

const PASSWORD: &str = "correct horse battery";

/// One test at a time: each runs three server processes, a Redis and
/// (one of them) a PostgreSQL of its own; four such clusters at once on a
/// small CI machine would test its scheduler more than the cluster.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// --- the cluster -------------------------------------------------------------

/// Three nodes on one database and one Redis.
struct Cluster {
    /// `None` once killed.
    nodes: Vec<Option<Node>>,
    redis: redis::RedisServer,
    /// Dropped (with an external server) after the nodes.
    _db: TestDatabase,
    /// A server of this test's own when it is to be stopped (else the
    /// process's shared one holds `db`).
    pg: Option<PgServer>,
    _dirs: Vec<TempDir>,
    http: reqwest::Client,
}

/// How a client reaches a node.
#[derive(Clone, Copy)]
enum Transport {
    Tcp,
    Ws,
}

impl Cluster {
    /// Three nodes on the process's shared PostgreSQL server.
    async fn start() -> Self {
        let db = PgServer::shared().database().await;
        Self::start_on(db, None).await
    }

    /// Three nodes on a PostgreSQL server of the test's own, which it may
    /// stop and start.
    async fn start_with_own_postgres() -> Self {
        let pg = PgServer::dedicated();
        let db = pg.database().await;
        Self::start_on(db, Some(pg)).await
    }

    async fn start_on(db: TestDatabase, pg: Option<PgServer>) -> Self {
        let redis = redis::RedisServer::start().await;
        let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().expect("temp dir")).collect();
        let mut starting = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            let (dir, db_url, bus_url) = (dir.path().to_path_buf(), db.url.clone(), redis.url());
            starting.push(tokio::task::spawn_blocking(move || {
                let (id, name) = (i.to_string(), format!("node{i}"));
                start(
                    &dir,
                    &[
                        ("FERRY_NODE_ID", &id),
                        ("FERRY_STORAGE__BACKEND", "postgres"),
                        ("FERRY_STORAGE__POSTGRES_URL", &db_url),
                        ("FERRY_STORAGE__POSTGRES_CONNECTIONS", "4"),
                        ("FERRY_CLUSTER__BUS", "redis"),
                        ("FERRY_CLUSTER__BUS_URL", &bus_url),
                        ("FERRY_CLUSTER__NODE_NAME", &name),
                        ("FERRY_AUTH__LOGIN_PER_IP_PER_MINUTE", "100000"),
                        ("FERRY_AUTH__REGISTER_PER_IP_PER_MINUTE", "100000"),
                        ("FERRY_AUTH__LOGIN_PER_USERNAME_PER_MINUTE", "1000"),
                    ],
                )
            }));
        }
        let mut nodes = Vec::new();
        for s in starting {
            nodes.push(Some(s.await.expect("node started")));
        }
        let cluster = Self { nodes, redis, _db: db, pg, _dirs: dirs, http: reqwest::Client::new() };
        for node in cluster.live() {
            wait_healthy(&HttpApi::new(format!("http://{}", node.http)).expect("http client")).await;
        }
        cluster.until_readiness("every node ready", |status, _| status == 200).await;
        cluster
    }

    fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().expect("a live node")
    }

    fn live(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().flatten()
    }

    /// The first live node's HTTP API (for setup and reads).
    fn api(&self) -> HttpApi {
        let node = self.live().next().expect("a live node");
        HttpApi::new(format!("http://{}", node.http)).expect("http client")
    }

    fn api_on(&self, i: usize) -> HttpApi {
        HttpApi::new(format!("http://{}", self.node(i).http)).expect("http client")
    }

    /// Node `i`'s long-connection address over `transport`.
    fn url(&self, i: usize, transport: Transport) -> String {
        let node = self.node(i);
        match transport {
            Transport::Tcp => format!("tcp://{}", node.tcp),
            Transport::Ws => format!("ws://{}/ws", node.http),
        }
    }

    /// SIGKILL, as a crash would.
    fn kill(&mut self, i: usize) {
        let mut node = self.nodes[i].take().expect("a live node");
        node.child.kill().expect("SIGKILL");
        node.child.wait().expect("reaped");
    }

    /// Asserts every live process is still running and answering.
    async fn assert_all_up(&mut self) {
        for node in self.nodes.iter_mut().flatten() {
            assert!(node.child.try_wait().expect("try_wait").is_none(), "a node exited");
            let api = HttpApi::new(format!("http://{}", node.http)).expect("http client");
            api.healthz().await.expect("alive");
        }
    }

    /// Waits until every live node's `/readyz` satisfies `ok`.
    async fn until_readiness(&self, what: &str, ok: impl Fn(u16, &serde_json::Value) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        for node in self.live() {
            loop {
                let (status, body) = readyz(&self.http, node).await;
                if ok(status, &body) {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "not {what}: {status} {body}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    async fn register(&self, name: &str) -> i64 {
        self.api().register(name, PASSWORD, None).await.expect("register").id
    }

    /// Logs `user` in on node `i` (a new device) and connects an SDK client
    /// there, given the other nodes' addresses to fall back on.
    async fn device(&self, name: &str, i: usize, transport: Transport) -> Device {
        let login = self.api_on(i).login(name, PASSWORD, "cli", None).await.expect("login");
        let mut config = ClientConfig::new(self.url(i, transport), login.token.clone());
        config.fallback_urls = (1..self.nodes.len())
            .map(|k| (i + k) % self.nodes.len())
            .filter(|&k| self.nodes[k].is_some())
            .map(|k| self.url(k, transport))
            .collect();
        config.reconnect_min = Duration::from_millis(20);
        config.reconnect_max = Duration::from_millis(500);
        let (client, mut events) = Client::connect(config).await.expect("connect");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let log = Arc::clone(&seen);
        let collector = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let mut seen = log.lock().expect("not poisoned");
                match event {
                    Event::Message(m) => {
                        seen.messages.entry(m.conversation_id.clone()).or_default().push((m.seq, m.server_msg_id))
                    }
                    Event::Reconnected => seen.reconnects += 1,
                    Event::Kicked { reason } => seen.ended = Some(format!("kicked: {reason}")),
                    Event::Closed { error } => seen.ended = Some(format!("closed: {error:?}")),
                    _ => {}
                }
            }
        });
        let label = format!("{name}@node{i}");
        Device { label, token: login.token, user: login.user.id, client, seen, collector }
    }

    /// Waits until every live node knows every session of `devices`' users
    /// (`expected` sessions per user): from then on a push reaches them all.
    async fn until_sessions_known(&self, expected: &[(&Device, u32)]) {
        let deadline = tokio::time::Instant::now() + WAIT;
        for node in self.live() {
            for (device, count) in expected {
                let api = HttpApi::new(format!("http://{}", node.http)).expect("http").with_token(device.token.clone());
                loop {
                    let answer = api.presence(&[device.user]).await.expect("presence");
                    if answer.first().is_some_and(|p| p.devices == *count) {
                        break;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "node at {} never saw {count} sessions of {}: {answer:?}",
                        node.http,
                        device.label
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// The whole history of `conversation` as `device`'s user reads it.
    async fn history(&self, device: &Device, conversation: &str) -> Vec<v1::Message> {
        let api = self.api().with_token(device.token.clone());
        let mut all: Vec<v1::Message> = Vec::new();
        loop {
            let after = all.last().map_or(0, |m| m.seq);
            let page = api.messages(conversation, after, 1000).await.expect("history");
            let more = page.has_more && !page.messages.is_empty();
            all.extend(page.messages);
            if !more {
                return all;
            }
        }
    }

    /// The check every run ends with (see the module's doc), over
    /// `conversations`: each with its members' user ids (members from its
    /// first seq), read by the first of `devices` among them.
    async fn check(&self, conversations: &[(String, Vec<i64>)], acks: &[v1::SendAck], devices: &[&Device]) {
        let mut histories = BTreeMap::new();
        let mut keys = HashSet::new();
        for (conversation, members) in conversations {
            let reader = devices.iter().find(|d| members.contains(&d.user)).expect("a member reads it");
            let history = self.history(reader, conversation).await;
            for (i, m) in history.iter().enumerate() {
                assert_eq!(m.seq, i as u64 + 1, "{conversation}: seqs dense from 1");
                if !m.client_msg_id.is_empty() {
                    assert!(keys.insert((m.sender_id, m.client_msg_id.clone())), "{conversation}: stored twice: {m:?}");
                }
            }
            histories.insert(conversation.clone(), (history, members));
        }
        let mut acked = HashSet::new();
        for ack in acks {
            let (history, _) =
                histories.get(&ack.conversation_id).expect("an acknowledged send's conversation is known");
            let stored =
                history.get(ack.seq as usize - 1).unwrap_or_else(|| panic!("acknowledged, not stored: {ack:?}"));
            assert_eq!(
                (stored.seq, stored.server_msg_id, stored.client_msg_id.as_str()),
                (ack.seq, ack.server_msg_id, ack.client_msg_id.as_str()),
                "stored where its ack said"
            );
            acked.insert((ack.conversation_id.clone(), ack.seq));
        }
        for (conversation, (history, _)) in &histories {
            for m in history.iter().filter(|m| !is_system(m)) {
                assert!(acked.contains(&(conversation.clone(), m.seq)), "stored but never acknowledged: {m:?}");
            }
        }
        // Every client ends with exactly that history, in order, by its own
        // pushes and pulls.
        for device in devices {
            for (conversation, (history, _)) in histories.iter().filter(|(_, (_, m))| m.contains(&device.user)) {
                let mine = self.history(device, conversation).await;
                assert_eq!(mine.len(), history.len(), "{}: sees all of {conversation}", device.label);
                let want: Vec<(u64, u64)> = mine.iter().map(|m| (m.seq, m.server_msg_id)).collect();
                let deadline = tokio::time::Instant::now() + WAIT;
                loop {
                    let got = device.delivered(conversation);
                    if got.len() >= want.len() {
                        assert_eq!(got, want, "{}: every message of {conversation} once, in order", device.label);
                        break;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{}: has {} of the {} messages of {conversation} (last {:?}; {:?})",
                        device.label,
                        got.len(),
                        want.len(),
                        got.last(),
                        device.seen.lock().expect("not poisoned").ended,
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            assert_eq!(device.seen.lock().expect("not poisoned").ended, None, "{}: still running", device.label);
        }
    }
}

// --- clients -----------------------------------------------------------------

/// A logged-in device with its SDK client; a task records its events.
struct Device {
    label: String,
    user: i64,
    token: String,
    client: Client,
    seen: Arc<Mutex<Seen>>,
    collector: JoinHandle<()>,
}

/// What a device's client emitted.
#[derive(Default)]
struct Seen {
    /// (seq, server_msg_id) per conversation, in the order emitted.
    messages: BTreeMap<String, Vec<(u64, u64)>>,
    reconnects: usize,
    /// Set if the client stopped (it never should here).
    ended: Option<String>,
}

impl Device {
    fn delivered(&self, conversation: &str) -> Vec<(u64, u64)> {
        self.seen.lock().expect("not poisoned").messages.get(conversation).cloned().unwrap_or_default()
    }

    /// Waits until the client reconnected (and synced) at least once.
    async fn until_reconnected(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.seen.lock().expect("not poisoned").reconnects == 0 {
            assert!(tokio::time::Instant::now() < deadline, "{} never reconnected", self.label);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.collector.abort();
    }
}

/// A send that was answered with an error.
struct Refused {
    client_msg_id: String,
    target: Target,
    text: String,
    error: ClientError,
}

/// What one sender did.
#[derive(Default)]
struct SenderLog {
    acks: Vec<v1::SendAck>,
    refused: Vec<Refused>,
}

/// Senders sending continuously until stopped: each device in turn to each
/// of its targets, one message at a time under a fresh client_msg_id that
/// the SDK retries until the server answers.
struct Traffic {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    /// Refusals per sender.
    refused: Arc<Vec<AtomicUsize>>,
    senders: Vec<JoinHandle<SenderLog>>,
}

impl Traffic {
    fn start(senders: Vec<(&Device, Vec<Target>)>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let refused: Arc<Vec<AtomicUsize>> = Arc::new(senders.iter().map(|_| AtomicUsize::new(0)).collect());
        let senders = senders
            .into_iter()
            .enumerate()
            .map(|(i, (device, targets))| {
                let (client, label) = (device.client.clone(), device.label.clone());
                let (stop, acked, refused) = (Arc::clone(&stop), Arc::clone(&acked), Arc::clone(&refused));
                tokio::spawn(async move {
                    let mut log = SenderLog::default();
                    for n in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let target = targets[n % targets.len()].clone();
                        let (client_msg_id, text) = (new_client_msg_id(), format!("{label} #{n}"));
                        let send = client.send_with_id(client_msg_id.clone(), target.clone(), text_content(&text));
                        match tokio::time::timeout(WAIT, send).await {
                            Ok(Ok(ack)) => {
                                log.acks.push(ack);
                                acked.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Err(error)) => {
                                log.refused.push(Refused { client_msg_id, target, text, error });
                                refused[i].fetch_add(1, Ordering::Relaxed);
                                // As an application would, rather than spin on a failing server.
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            Err(_) => panic!("{label}: a send neither acknowledged nor refused within {WAIT:?}"),
                        }
                    }
                    log
                })
            })
            .collect();
        Self { stop, acked, refused, senders }
    }

    fn acked(&self) -> usize {
        self.acked.load(Ordering::Relaxed)
    }

    fn refused(&self) -> Vec<usize> {
        self.refused.iter().map(|n| n.load(Ordering::Relaxed)).collect()
    }

    /// Waits until `n` sends more than now were acknowledged.
    async fn until_more_acked(&self, n: usize) {
        let target = self.acked() + n;
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.acked() < target {
            assert!(
                tokio::time::Instant::now() < deadline,
                "traffic stalled: {} acknowledged, {:?} refused",
                self.acked(),
                self.refused()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every sender has had a send refused.
    async fn until_each_refused(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.refused().contains(&0) {
            assert!(tokio::time::Instant::now() < deadline, "refusals per sender: {:?}", self.refused());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the senders (each finishes the send it is in) and returns
    /// their logs.
    async fn stop(self) -> Vec<SenderLog> {
        self.stop.store(true, Ordering::Relaxed);
        let mut logs = Vec::new();
        for sender in self.senders {
            logs.push(sender.await.expect("sender"));
        }
        logs
    }
}

/// The conversation id of a direct chat (`d_<low>_<high>`).
fn direct(a: i64, b: i64) -> String {
    format!("d_{}_{}", a.min(b), a.max(b))
}

/// Whether `m` is a system message (the group's own events), which no
/// client sent.
fn is_system(m: &v1::Message) -> bool {
    matches!(m.content.as_ref().and_then(|c| c.kind.as_ref()), Some(v1::message_content::Kind::System(_)))
}

/// A direct chat between two devices' users, with its members.
fn dm_of(a: &Device, b: &Device) -> (String, Vec<i64>) {
    (direct(a.user, b.user), vec![a.user, b.user])
}

/// Every user of `devices`.
fn users(devices: &[&Device]) -> Vec<i64> {
    devices.iter().map(|d| d.user).collect()
}

/// Creates a group of `owner` with `members` (over HTTP, on the first live
/// node) and returns its conversation id.
async fn group(cluster: &Cluster, owner: &Device, members: &[&Device]) -> String {
    let api = cluster.api().with_token(owner.token.clone());
    let new =
        NewGroup { name: "crew".into(), members: members.iter().map(|d| d.user).collect(), ..NewGroup::default() };
    api.create_group(&new).await.expect("create group").conversation_id
}

/// Every sender's acks.
fn all_acks(logs: &[SenderLog]) -> Vec<v1::SendAck> {
    logs.iter().flat_map(|l| l.acks.iter().cloned()).collect()
}

/// The next `n` messages pushed on a raw connection (other frames skipped).
async fn pushes(raw: &mut RawConnection, n: usize) -> Vec<v1::Message> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let frame = raw.recv_timeout(WAIT).await.expect("a push in time").expect("connection open");
        if let Some(v1::frame::Body::Message(m)) = frame.body {
            got.push(m);
        }
    }
    got
}

/// The seqs of `messages`, which must all be of `conversation`.
fn seqs_in(messages: &[v1::Message], conversation: &str) -> Vec<u64> {
    assert!(messages.iter().all(|m| m.conversation_id == conversation), "{messages:?}");
    messages.iter().map(|m| m.seq).collect()
}

// --- the tests ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_carry_direct_and_group_messages_exactly_once_in_order() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::start().await;
    for name in ["alice", "bob", "carol", "dave"] {
        cluster.register(name).await;
    }
    // Alice on node 0, bob's phone on 1 and his laptop on 2 (a raw
    // connection: what the wire carries, before any SDK dedup), carol on
    // 2, dave on 1.
    let alice = cluster.device("alice", 0, Transport::Tcp).await;
    let bob = cluster.device("bob", 1, Transport::Ws).await;
    let carol = cluster.device("carol", 2, Transport::Ws).await;
    let dave = cluster.device("dave", 1, Transport::Tcp).await;
    let laptop_login = cluster.api_on(2).login("bob", PASSWORD, "cli", None).await.expect("login");
    let (mut laptop, _) =
        RawConnection::connect(&cluster.url(2, Transport::Tcp), false, &laptop_login.token).await.expect("raw");
    cluster.until_sessions_known(&[(&alice, 1), (&bob, 2), (&carol, 1), (&dave, 1)]).await;

    // Direct, node 0 → nodes 1 and 2, then back: one sender at a time.
    let dm = direct(alice.user, bob.user);
    let mut acks = Vec::new();
    for i in 1..=30 {
        let ack = alice.client.send_text(Target::User(bob.user), format!("a{i}")).await.expect("send on 0");
        assert_eq!((ack.conversation_id.as_str(), ack.seq), (dm.as_str(), i));
        acks.push(ack);
    }
    // The laptop, on the third node, is pushed them once each, in order.
    // (Read before bob answers from node 1: pushes from two nodes may
    // cross on their way to a third.)
    let pushed = pushes(&mut laptop, 30).await;
    assert_eq!(seqs_in(&pushed, &dm), (1..=30).collect::<Vec<_>>());
    for i in 31..=50 {
        let ack = bob.client.send_text(Target::User(alice.user), format!("b{i}")).await.expect("send on 1");
        assert_eq!(ack.seq, i);
        acks.push(ack);
    }
    // Bob's own messages reach his other device too.
    let pushed = pushes(&mut laptop, 20).await;
    assert_eq!(seqs_in(&pushed, &dm), (31..=50).collect::<Vec<_>>());
    // Carol (2) and dave (1) at the same time as each other.
    let cd = direct(carol.user, dave.user);
    let (c, d) = (carol.client.clone(), dave.client.clone());
    let (to_dave, to_carol) = (Target::User(dave.user), Target::User(carol.user));
    let (from_carol, from_dave) = tokio::join!(
        async move {
            let mut acks = Vec::new();
            for i in 0..20 {
                acks.push(c.send_text(to_dave.clone(), format!("c{i}")).await.expect("send on 2"));
            }
            acks
        },
        async move {
            let mut acks = Vec::new();
            for i in 0..20 {
                acks.push(d.send_text(to_carol.clone(), format!("d{i}")).await.expect("send on 1"));
            }
            acks
        }
    );
    acks.extend(from_carol.into_iter().chain(from_dave));

    // A group across all three nodes, every member sending at once.
    let g = group(&cluster, &alice, &[&bob, &carol, &dave]).await;
    let traffic = Traffic::start(
        [&alice, &bob, &carol, &dave].into_iter().map(|d| (d, vec![Target::Conversation(g.clone())])).collect(),
    );
    traffic.until_more_acked(60).await;
    acks.extend(all_acks(&traffic.stop().await));

    let everyone = [&alice, &bob, &carol, &dave];
    let conversations = [dm_of(&alice, &bob), dm_of(&carol, &dave), (g.clone(), users(&everyone))];
    assert_eq!((conversations[0].0.as_str(), conversations[1].0.as_str()), (dm.as_str(), cd.as_str()));
    cluster.check(&conversations, &acks, &everyone).await;

    // The laptop was pushed every message of the group once: in seq
    // order for each sender (each sat on one node, whose pushes keep their
    // order), senders interleaved as their nodes' pushes crossed.
    let history = cluster.history(&bob, &g).await;
    let pushed = pushes(&mut laptop, history.len()).await;
    let mut seqs = seqs_in(&pushed, &g);
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=history.len() as u64).collect::<Vec<_>>(), "each message pushed once");
    let mut by_sender: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for m in &pushed {
        by_sender.entry(m.sender_id).or_default().push(m.seq);
    }
    for (sender, seqs) in by_sender {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sender {sender}'s messages pushed out of order: {seqs:?}");
    }
    // And nothing more.
    laptop.send_body(v1::frame::Body::Ping(v1::Ping { client_time: 1 })).await.expect("ping");
    loop {
        let frame = laptop.recv_timeout(WAIT).await.expect("an answer in time").expect("connection open");
        match frame.body {
            Some(v1::frame::Body::Pong(_)) => break,
            Some(v1::frame::Body::Message(m)) => panic!("pushed beyond the history: {m:?}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_traffic_loses_and_duplicates_nothing_and_its_clients_move_on() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start().await;
    let names = ["user0", "user1", "user2", "user3", "user4", "user5", "xavier"];
    for name in names {
        cluster.register(name).await;
    }
    // Two users per node, over both transports; node 2 is the one to die.
    let devices = [
        cluster.device("user0", 0, Transport::Tcp).await,
        cluster.device("user1", 0, Transport::Ws).await,
        cluster.device("user2", 1, Transport::Tcp).await,
        cluster.device("user3", 1, Transport::Ws).await,
        cluster.device("user4", 2, Transport::Tcp).await,
        cluster.device("user5", 2, Transport::Ws).await,
    ];
    let d: Vec<&Device> = devices.iter().collect();
    let g = group(&cluster, d[0], &d[1..]).await;
    cluster.until_sessions_known(&d.iter().map(|&d| (d, 1)).collect::<Vec<_>>()).await;
    // Direct chats between nodes, and the group; everyone sends.
    let pairs = [(0, 2), (1, 4), (3, 5), (2, 4), (0, 5)];
    let mut targets: Vec<Vec<Target>> = vec![vec![Target::Conversation(g.clone())]; 6];
    for &(a, b) in &pairs {
        targets[a].push(Target::User(d[b].user));
        targets[b].push(Target::User(d[a].user));
    }
    let traffic = Traffic::start(d.iter().copied().zip(targets).collect());
    traffic.until_more_acked(40).await;

    // Xavier on node 2 pipelines sends without reading their acks: when
    // the node dies, some are stored but unacknowledged.
    let xavier_login = cluster.api_on(2).login("xavier", PASSWORD, "cli", None).await.expect("login");
    let (mut raw, _) =
        RawConnection::connect(&cluster.url(2, Transport::Tcp), false, &xavier_login.token).await.expect("raw");
    let ids: Vec<String> = (0..100).map(|_| new_client_msg_id()).collect();
    for (i, id) in ids.iter().enumerate() {
        let send = v1::SendMessage {
            client_msg_id: id.clone(),
            to: Some(v1::send_message::To::UserId(d[0].user)),
            content: Some(text_content(format!("x{i}"))),
        };
        raw.send_body(v1::frame::Body::Send(send)).await.expect("pipelined");
    }
    let first_ack = loop {
        let frame = raw.recv_timeout(WAIT).await.expect("an answer").expect("open");
        if let Some(v1::frame::Body::SendAck(ack)) = frame.body {
            break ack;
        }
    };
    let xd = direct(xavier_login.user.id, d[0].user);
    let reader = cluster.api_on(0).with_token(xavier_login.token.clone());
    let deadline = tokio::time::Instant::now() + WAIT;
    let stored_before = loop {
        let n = reader.messages(&xd, 0, 1000).await.expect("read on node 0").messages.len();
        if n >= 10 {
            break n;
        }
        assert!(tokio::time::Instant::now() < deadline, "node 2 stored only {n} of xavier's sends");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };

    cluster.kill(2);
    drop(raw);
    // Its clients reconnect elsewhere and go on sending; so does everyone.
    for device in &d[4..] {
        device.until_reconnected().await;
    }
    traffic.until_more_acked(120).await;
    let mut acks = all_acks(&traffic.stop().await);

    // Xavier retries everything on node 0 under the same ids: what node 2
    // stored comes back as the original, once.
    let xavier = cluster.device("xavier", 0, Transport::Tcp).await;
    let mut duplicates = 0;
    for (i, id) in ids.iter().enumerate() {
        let send = xavier.client.send_with_id(id.clone(), Target::User(d[0].user), text_content(format!("x{i}")));
        let ack = tokio::time::timeout(WAIT, send).await.expect("in time").expect("retry acknowledged");
        assert_eq!(ack.seq, i as u64 + 1, "pipelined sends are stored in order, retries after them");
        if ack.duplicate {
            duplicates += 1;
        }
        if ack.client_msg_id == first_ack.client_msg_id {
            assert!(ack.duplicate);
            assert_eq!((ack.seq, ack.server_msg_id), (first_ack.seq, first_ack.server_msg_id));
        }
        acks.push(ack);
    }
    assert!(
        duplicates >= stored_before && stored_before > 1,
        "{duplicates} retries found their original; {stored_before} were stored before the kill, 1 acknowledged"
    );
    // The node may have died before pushing its last messages, and
    // retries are not pushed again: the next message shows user0 the gap.
    let after = xavier.client.send_text(Target::User(d[0].user), "after the retries").await.expect("send");
    assert_eq!(after.seq, ids.len() as u64 + 1);
    acks.push(after);

    let mut conversations = vec![(g.clone(), users(&d)), dm_of(&xavier, d[0])];
    assert_eq!(conversations[1].0, xd);
    conversations.extend(pairs.iter().map(|&(a, b)| dm_of(d[a], d[b])));
    // Xavier's client connected after his messages were stored, and the
    // retries are not pushed again: what he holds is not the point; user0,
    // who received them all, is checked with the others.
    cluster.check(&conversations, &acks, &d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_traffic_sends_commit_and_receivers_catch_up() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start().await;
    for name in ["user0", "user1", "user2", "user3", "user4", "user5"] {
        cluster.register(name).await;
    }
    let devices = [
        cluster.device("user0", 0, Transport::Tcp).await,
        cluster.device("user1", 0, Transport::Ws).await,
        cluster.device("user2", 1, Transport::Tcp).await,
        cluster.device("user3", 1, Transport::Ws).await,
        cluster.device("user4", 2, Transport::Tcp).await,
        cluster.device("user5", 2, Transport::Ws).await,
    ];
    let d: Vec<&Device> = devices.iter().collect();
    let g = group(&cluster, d[0], &d[1..]).await;
    let known: Vec<(&Device, u32)> = d.iter().map(|&d| (d, 1)).collect();
    cluster.until_sessions_known(&known).await;
    let pairs = [(0, 2), (1, 4), (3, 5)];
    let mut targets: Vec<Vec<Target>> = vec![vec![Target::Conversation(g.clone())]; 6];
    for &(a, b) in &pairs {
        targets[a].push(Target::User(d[b].user));
        targets[b].push(Target::User(d[a].user));
    }
    let traffic = Traffic::start(d.iter().copied().zip(targets).collect());
    traffic.until_more_acked(40).await;

    cluster.redis.kill();
    cluster
        .until_readiness("reporting the bus gone", |status, body| {
            status == 503 && body["error"]["message"].as_str().is_some_and(|m| m.contains("bus"))
        })
        .await;
    // The store is PostgreSQL: sends go on committing without the bus.
    traffic.until_more_acked(40).await;

    cluster.redis.restart().await;
    cluster.until_readiness("ready again", |status, _| status == 200).await;
    // The nodes registered their sessions again; the pushes that follow
    // reach every node, and their receivers pull what they missed.
    cluster.until_sessions_known(&known).await;
    traffic.until_more_acked(60).await;
    let logs = traffic.stop().await;
    assert!(logs.iter().all(|l| l.refused.is_empty()), "no send was refused");

    let mut conversations = vec![(g.clone(), users(&d))];
    conversations.extend(pairs.iter().map(|&(a, b)| dm_of(d[a], d[b])));
    cluster.check(&conversations, &all_acks(&logs), &d).await;
    cluster.assert_all_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_traffic_sends_and_reads_fail_cleanly_and_all_recovers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start_with_own_postgres().await;
    for name in ["user0", "user1", "user2", "user3"] {
        cluster.register(name).await;
    }
    let devices = [
        cluster.device("user0", 0, Transport::Tcp).await,
        cluster.device("user1", 1, Transport::Ws).await,
        cluster.device("user2", 2, Transport::Tcp).await,
        cluster.device("user3", 2, Transport::Ws).await,
    ];
    let d: Vec<&Device> = devices.iter().collect();
    let g = group(&cluster, d[0], &d[1..]).await;
    cluster.until_sessions_known(&d.iter().map(|&d| (d, 1)).collect::<Vec<_>>()).await;
    let pairs = [(0, 1), (1, 2), (2, 3), (3, 0)];
    let mut targets: Vec<Vec<Target>> = vec![vec![Target::Conversation(g.clone())]; 4];
    for &(a, b) in &pairs {
        targets[a].push(Target::User(d[b].user));
    }
    let traffic = Traffic::start(d.iter().copied().zip(targets).collect());
    traffic.until_more_acked(40).await;

    cluster.pg.as_mut().expect("a server of our own").stop();
    // Sends are refused with an error answer (`unavailable`, checked below;
    // not a timeout, not a dropped connection), every node says it is not
    // ready, and stays up.
    traffic.until_each_refused().await;
    cluster
        .until_readiness("reporting the store gone", |status, body| {
            status == 503 && body["error"]["message"].as_str().is_some_and(|m| m.starts_with("store"))
        })
        .await;
    cluster.assert_all_up().await;
    // Reads fail the same way, over HTTP and over the long connection:
    // `unavailable` (503), something to retry, not `internal`.
    let dm = direct(d[0].user, d[1].user);
    for i in 0..3 {
        let url = format!("http://{}/api/v1/conversations/{dm}/messages", cluster.node(i).http);
        let read = cluster.http.get(&url).bearer_auth(&d[0].token).send();
        let resp = tokio::time::timeout(WAIT, read).await.expect("a read answers").expect("HTTP answer");
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.expect("a JSON error body");
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("unavailable")), "{body}");
    }
    let pulled = tokio::time::timeout(WAIT, d[0].client.pull(&dm, 0, 10)).await.expect("a pull answers");
    assert_eq!(pulled.map(|_| ()).map_err(|e| e.code()), Err(Some(ErrorCode::Unavailable)));
    // A send over HTTP too: an error body, no ack (retried below).
    let (http_id, http_target) = (new_client_msg_id(), Target::User(d[1].user));
    let url = format!("http://{}/api/v1/messages", cluster.node(1).http);
    let message = ferry_client::send_message(&http_id, http_target.clone(), text_content("over HTTP"));
    let send = cluster.http.post(&url).bearer_auth(&d[0].token).json(&message).send();
    let resp = tokio::time::timeout(WAIT, send).await.expect("a send answers").expect("HTTP answer");
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.expect("a JSON error body");
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("unavailable")), "{body}");

    cluster.pg.as_mut().expect("a server of our own").restart();
    cluster.until_readiness("ready again", |status, _| status == 200).await;
    traffic.until_more_acked(40).await;
    let logs = traffic.stop().await;
    cluster.assert_all_up().await;

    // Every refused send, retried now under its id, is stored once: a
    // refusal may have come after the commit (the answer lost with the
    // connection), never the other way round.
    let mut acks = all_acks(&logs);
    let mut retried = 0;
    for (device, log) in d.iter().zip(&logs) {
        for r in &log.refused {
            let code = r.error.code();
            assert_eq!(code, Some(ErrorCode::Unavailable), "{}: refused with an answer: {:?}", device.label, r.error);
            let retry = device.client.send_with_id(r.client_msg_id.clone(), r.target.clone(), text_content(&r.text));
            acks.push(tokio::time::timeout(WAIT, retry).await.expect("in time").expect("stored now"));
            retried += 1;
        }
    }
    assert!(retried >= 4);
    let retry = d[0].client.send_with_id(http_id, http_target, text_content("over HTTP"));
    acks.push(tokio::time::timeout(WAIT, retry).await.expect("in time").expect("stored now"));
    let mut conversations = vec![(g.clone(), users(&d))];
    conversations.extend(pairs.iter().map(|&(a, b)| dm_of(d[a], d[b])));
    cluster.check(&conversations, &acks, &d).await;
}

// --- Redis ---------------------------------------------------------------------

/// A real `redis-server` for the cluster bus. ferry-testkit has the same
/// (`ferry_testkit::redis`), but the test kit depends on this crate and
/// these tests need this crate's binary (`CARGO_BIN_EXE_ferry-server`
/// exists only here), so a minimal copy lives with them.
mod redis {
    use std::{
        path::PathBuf,
        process::{Child, Command, Stdio},
        time::Duration,
    };

    use tokio::{
        io::{AsyncReadExt as _, AsyncWriteExt as _},
        net::TcpStream,
    };

    use super::WAIT;

    /// Said when the binary is missing: the test fails, it never skips.
    const INSTALL: &str = "install Debian's redis-server; .ci/run does";

    /// A `redis-server` on a free loopback port, without persistence;
    /// killed when dropped and — started under `setpriv --pdeathsig KILL` —
    /// by the kernel if the test process dies first.
    pub struct RedisServer {
        child: Option<Child>,
        port: u16,
    }

    impl RedisServer {
        pub async fn start() -> Self {
            let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
            let mut server = Self { child: None, port };
            server.restart().await;
            server
        }

        pub fn url(&self) -> String {
            format!("redis://127.0.0.1:{}", self.port)
        }

        /// SIGKILL: gone with everything it held.
        pub fn kill(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }

        /// Starts it (again) on the same port and waits until it answers.
        pub async fn restart(&mut self) {
            self.kill();
            let binary = find("redis-server").unwrap_or_else(|| panic!("redis-server not found on PATH: {INSTALL}"));
            let child = Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "--"])
                .arg(binary)
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start redis-server under setpriv ({e}): {INSTALL}"));
            self.child = Some(child);
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                    panic!("redis-server exited at start ({status}); port {} taken?", self.port);
                }
                if self.ping().await {
                    return;
                }
                assert!(tokio::time::Instant::now() < deadline, "redis-server did not answer on port {}", self.port);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        async fn ping(&self) -> bool {
            let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)).await else { return false };
            if stream.write_all(b"PING\r\n").await.is_err() {
                return false;
            }
            let mut reply = [0u8; 7];
            let read = tokio::time::timeout(WAIT, stream.read_exact(&mut reply)).await;
            matches!(read, Ok(Ok(_)) if &reply == b"+PONG\r\n")
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            self.kill();
        }
    }

    fn find(name: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
    }
}
