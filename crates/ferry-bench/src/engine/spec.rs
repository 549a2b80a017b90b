//! What the parent hands each worker process: the run's settings and one
//! [`ClientSpec`] per connection. Serialised to the worker as JSON.

use serde::{Deserialize, Serialize};

/// Everything one process needs to run its share of a workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// Unique per run; prefixes client_msg_ids.
    pub run_id: String,
    /// The long connection: `tcp://host:port` or `ws://host:port/ws` (the
    /// URL picks the transport).
    pub url: String,
    /// Senders send from t0 for this long; idle clients stay this long.
    pub duration_ms: u64,
    /// After the duration: the run ends once nothing arrived for this long
    /// and every sender has its acks (or the hard deadline passes).
    pub quiet_ms: u64,
    /// Hard limit on the drain after the duration.
    pub drain_max_ms: u64,
    /// Connects (with auth) in flight at once in this process.
    pub connect_concurrency: usize,
    /// Connect only after the go signal (connect and sync measure it);
    /// otherwise connect first and report ready.
    pub connect_after_go: bool,
    /// Reconnect (with resync and resend) when the server closes (storm).
    pub reconnect: bool,
    /// Keep per-message "delivered to the last member" latencies (fanout).
    pub track_last: bool,
    /// End as soon as every client is done, even before the duration
    /// (filling a backlog of a fixed size).
    pub end_when_done: bool,
    pub clients: Vec<ClientSpec>,
}

/// One connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientSpec {
    /// Index in the run (for reports).
    pub idx: u32,
    pub user_id: i64,
    pub token: String,
    pub send: Option<SendSpec>,
    /// Conversations whose seqs this client checks.
    pub expect: Vec<Expect>,
}

/// What a sending client sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendSpec {
    pub to: SendTo,
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
