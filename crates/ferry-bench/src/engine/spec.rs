//! What the parent hands each worker process: the run's settings and one
//! [`ClientSpec`] per connection. Serialised to the worker as JSON.

use serde::{Deserialize, Serialize};

/// Everything one process needs to run its share of a workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// Unique per run; prefixes client_msg_ids.
    pub run_id: String,
    /// The long connection of each node: `tcp://host:port` or
    /// `ws://host:port/ws` (the URL picks the transport). Client `idx`
    /// connects to `urls[idx % urls.len()]`.
    pub urls: Vec<String>,
    /// Senders send from t0 for this long; idle clients stay this long.
    pub duration_ms: u64,
    /// After the duration: the run ends once nothing arrived for this long
    /// and every sender has its acks (or the hard deadline passes).
    pub quiet_ms: u64,
    /// Hard limit on the drain after the duration.
    pub drain_max_ms: u64,
    /// HTTP base URL of each node, in the order of `urls` (password logins
    /// of `ClientSpec::login` go to the client's node).
    pub http_urls: Vec<String>,
    /// Connects (with auth) in flight at once in this process.
    pub connect_concurrency: usize,
    /// A client not connected this long after the connect phase began (t0,
    /// or the worker's start) gives up and counts as a failed connection.
    pub connect_timeout_ms: u64,
    /// Connect only after the go signal (connect and sync measure it);
    /// otherwise connect first and report ready.
    pub connect_after_go: bool,
    /// `connect`: the duration runs from the moment every client of every
    /// process is in (the parent sends the end), not from t0, so a slow
    /// connect phase is never cut short.
    pub idle_after_connect: bool,
    /// Reconnect (with resync and resend) when the server closes (storm).
    pub reconnect: bool,
    /// Keep per-message "delivered to the last member" latencies (fanout).
    pub track_last: bool,
    /// End as soon as every client is done, even before the duration
    /// (filling a backlog of a fixed size).
    pub end_when_done: bool,
    pub clients: Vec<ClientSpec>,
}

impl WorkerSpec {
    /// Which node client `idx` uses: clients are dealt over the nodes in
    /// turn, so the two ends of a pair (consecutive indexes) sit on
    /// different nodes whenever there are several.
    pub fn node_of(&self, idx: u32) -> usize {
        idx as usize % self.urls.len().max(1)
    }
}

/// One connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientSpec {
    /// Index in the run (for reports).
    pub idx: u32,
    pub user_id: i64,
    pub token: String,
    /// Log in with this username and the bench password over HTTP first (a
    /// new device each time) and connect with the fresh token.
    pub login: Option<String>,
    pub send: Option<SendSpec>,
    /// `mixed`: a schedule of mixed operations instead of plain sends.
    pub ops: Option<OpsSpec>,
    /// Conversations whose seqs this client checks.
    pub expect: Vec<Expect>,
}

/// What a sending client sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendSpec {
    /// Message `k` goes to `to[k % to.len()]` (one or more conversations).
    pub to: Vec<SendTo>,
    /// Messages per second from this client (open loop); 0 = closed loop
    /// with `window` sends in flight (maximum throughput).
    pub rate: f64,
    pub window: u32,
    /// Text size in bytes.
    pub size: usize,
    /// Stop after this many messages (0 = until the duration ends).
    pub max_msgs: u64,
}

/// Where sends go.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SendTo {
    User(i64),
    Conversation(String),
}

/// A conversation a client tracks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expect {
    pub conv: String,
    /// Pull everything after this seq right after connecting (sync); `None`:
    /// only what arrives from now on.
    pub after_seq: Option<u64>,
}

/// The operations of one active `mixed` client: open loop at `rate`, the
/// kind of operation `k` drawn from the weights by a hash of (client, k).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpsSpec {
    /// Operations per second from this client.
    pub rate: f64,
    /// Relative weights of direct sends, group sends, read marks and
    /// reconnects.
    pub weights: [f64; 4],
    /// 1:1 partners (user ids) for direct sends.
    pub peers: Vec<i64>,
    /// Group conversations this client may send to.
    pub groups: Vec<String>,
    pub size: usize,
}

/// One operation of a `mixed` client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Direct,
    Group,
    MarkRead,
    Reconnect,
}

impl OpsSpec {
    /// The kind of operation `k` of client `idx` (deterministic).
    pub fn op(&self, idx: u32, k: u64) -> (Op, u64) {
        let h = splitmix64((u64::from(idx) << 40) ^ k);
        let total: f64 = self.weights.iter().sum();
        let mut x = (h >> 11) as f64 / (1u64 << 53) as f64 * total;
        let kinds = [Op::Direct, Op::Group, Op::MarkRead, Op::Reconnect];
        for (kind, w) in kinds.iter().zip(self.weights) {
            if x < w {
                return (*kind, splitmix64(h));
            }
            x -= w;
        }
        (Op::Direct, splitmix64(h))
    }
}

/// A fast, well-mixed 64-bit hash (deterministic choices without an RNG).
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
