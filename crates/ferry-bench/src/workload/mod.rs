//! The workloads of issue 4 (`connect`, `direct`, `fanout`, `sync`,
//! `storm`) and later ones (`mixed`, `fill`, `conversations`, `search`,
//! `upload`, `download`, `web`, `calls`). Each one ensures its accounts (and
//! groups), builds a [`WorkerSpec`], runs it over one or more processes,
//! and turns the merged report (plus the server's /proc samples) into an
//! [`Outcome`]; the HTTP ones (`upload`, `download`, `web`) and `calls`
//! run their requests in this process instead, and `web` needs no account.
//!
//! Here: the command line ([`Target`], [`Workload`]) and what every workload
//! shares; [`Outcome`] in `outcome`; one module per workload (`connect`,
//! `conversations`, `fill`, `messaging` for direct and fanout, `mixed`,
//! `search`, `sync`, `storm`, `files` for upload and download, `web` for
//! the browser client's page loads, `calls` for call signaling); `restart` stops and starts the server
//! (storm, `connect --restart-cmd`); `disk` measures the server's writes
//! and fsyncs over a window.

mod calls;
mod connect;
mod conversations;
mod disk;
mod files;
mod fill;
mod messaging;
mod mixed;
mod outcome;
mod restart;
mod search;
mod storm;
mod sync;
mod web;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use outcome::Outcome;

use crate::{
    engine::{ClientSpec, Expect, SendSpec, WorkerReport, WorkerSpec},
    procmon::{Monitor, Sample},
    runner,
    setup::{self, BenchUser, State},
};

/// The server under test and how to load it.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// HTTP base URL of the server (accounts, groups; `/ws` for --transport ws).
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080", env = "FERRY_BENCH_SERVER")]
    pub server: String,
    /// TCP gateway address (default: the server's host, port 8081).
    #[arg(long, global = true)]
    pub tcp: Option<String>,
    /// A cluster: the HTTP base URLs of every node (comma-separated). The
    /// long connections are dealt over them in turn (client i on node
    /// i mod N, so the two ends of a pair sit on different nodes); setup
    /// and the workloads' own HTTP requests stay on --server. Default:
    /// --server alone.
    #[arg(long, global = true, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// The TCP gateway of each of --nodes, in the same order
    /// (comma-separated; default: each node's host, port 8081).
    #[arg(long, global = true, value_delimiter = ',')]
    pub nodes_tcp: Vec<String>,
    /// Long-connection transport.
    #[arg(long, global = true, value_enum, default_value_t)]
    pub transport: TransportKind,
    /// Server process to sample for CPU and memory (/proc).
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// Processes to spread the clients over (each is capped at the
    /// open-file limit).
    #[arg(long, global = true, default_value_t = 1)]
    pub procs: usize,
    /// Seconds of load (sending, or staying idle for `connect`).
    #[arg(long, global = true, default_value_t = 10.0)]
    pub duration: f64,
    /// Where accounts and tokens are cached, keyed by server URL.
    #[arg(long, global = true, default_value = "bench-state.json")]
    pub state: PathBuf,
    /// Connects (with auth) in flight at once per process.
    #[arg(long, global = true, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Seconds the connect phase may take: a client not in by then counts
    /// as failed (and fails the run).
    #[arg(long, global = true, default_value_t = 300.0)]
    pub connect_timeout: f64,
    /// Count the server's fsync/fdatasync calls over the measured window
    /// with `perf stat` (messaging workloads; needs perf and --server-pid).
    #[arg(long, global = true)]
    pub fsyncs: bool,
    /// Executable for worker processes (default: this one; tests set it).
    #[arg(skip)]
    pub worker_exe: Option<PathBuf>,
}

/// Which long-connection transport to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Length-prefixed protobuf over TCP.
    #[default]
    Tcp,
    /// Protobuf binary messages over WebSocket `/ws`.
    Ws,
}

/// Where `conversations` lists the owner's conversations, and where
/// `search` searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum ListVia {
    /// The long connection (`--transport`): `list_conversations`, `search`.
    #[value(alias = "tcp")]
    Conn,
    /// HTTP: `GET /api/v1/conversations`, `GET /api/v1/search`.
    Http,
    /// Both, alternating (the first list of each is reported on its own).
    #[default]
    Both,
}

impl ListVia {
    /// Whether the next request goes over HTTP; under `Both` this flips
    /// `alternate` (the caller's per-session toggle) each time.
    pub(crate) fn next_is_http(self, alternate: &mut bool) -> bool {
        match self {
            Self::Conn => false,
            Self::Http => true,
            Self::Both => {
                *alternate = !*alternate;
                !*alternate
            }
        }
    }
}

/// What to run.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Workload {
    /// N clients connect, authenticate with a token and stay idle with
    /// heartbeats for --duration once every one of them is in.
    Connect {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Each client first logs in with its password over HTTP (a new
        /// device) and connects with the fresh token: a login burst.
        #[arg(long)]
        login: bool,
        /// After setup, restart the server (SIGTERM to --server-pid, this
        /// shell command, wait for /healthz) so the memory figures start
        /// from a fresh process.
        #[arg(long)]
        restart_cmd: Option<String>,
    },
    /// P senders, each sending round-robin to K receivers of its own
    /// (P × K 1:1 conversations; K = 1: P pairs).
    Direct {
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        /// Receivers per sender (K): conversations = pairs × K.
        #[arg(long, default_value_t = 1)]
        convs_per_client: usize,
        /// Total messages/s, open loop; without it each sender keeps
        /// --window sends in flight (maximum throughput).
        #[arg(long)]
        rate: Option<f64>,
        /// Text bytes per message.
        #[arg(long, default_value_t = 100)]
        size: usize,
        #[arg(long, default_value_t = 32)]
        window: u32,
    },
    /// Groups with every member online; S members of each send.
    Fanout {
        #[arg(long, default_value_t = 100)]
        group_size: usize,
        #[arg(long, default_value_t = 1)]
        senders: usize,
        #[arg(long, default_value_t = 1)]
        groups: usize,
        /// Total messages/s over all groups, open loop; without it each
        /// sender keeps --window sends in flight.
        #[arg(long)]
        rate: Option<f64>,
        #[arg(long, default_value_t = 100)]
        size: usize,
        #[arg(long, default_value_t = 8)]
        window: u32,
    },
    /// C connected clients; a fraction of them performs a mix of 1:1 sends,
    /// group sends, read marks and reconnects at a total rate.
    Mixed {
        #[arg(long, default_value_t = 19_000)]
        clients: usize,
        /// Fraction of the clients that are active.
        #[arg(long, default_value_t = 0.2)]
        active: f64,
        /// Total operations per second over all active clients.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Groups (Zipf-distributed sizes from 3 to 2,000 members).
        #[arg(long, default_value_t = 100)]
        groups: usize,
        /// Weights of direct sends, group sends, read marks, reconnects.
        #[arg(long, default_value = "50,30,15,5")]
        mix: String,
        #[arg(long, default_value_t = 100)]
        size: usize,
    },
    /// A fresh group of M members filled one join at a time (the owner adds
    /// one member per HTTP request) with every member online: join latency,
    /// deliveries (about M²/2), slow-consumer kicks. The run lasts as long
    /// as the fill (--duration is not used).
    Fill {
        /// Members at the end, the owner included.
        #[arg(long, default_value_t = 2000)]
        members: usize,
        /// Joins per second; without it each add follows the last answer.
        #[arg(long)]
        rate: Option<f64>,
    },
    /// C clients, offline while B messages arrive in their group, reconnect
    /// and pull until caught up.
    Sync {
        #[arg(long, default_value_t = 1000)]
        backlog: u64,
        #[arg(long, default_value_t = 1)]
        clients: usize,
    },
    /// The conversation list of an owner with N direct conversations (and
    /// G groups), listed back to back over the long connection and HTTP:
    /// latency (the first, cold list on its own), lists/s, answer bytes;
    /// every answer is checked (count, names, previews, order).
    Conversations {
        /// Direct conversations of the owner (one peer account each).
        #[arg(long, default_value_t = 5000)]
        conversations: usize,
        /// Groups the owner is in (each with one message).
        #[arg(long, default_value_t = 0)]
        groups: usize,
        /// Messages/s that peers send to the owner while it lists (0: none).
        #[arg(long, default_value_t = 0.0)]
        churn: f64,
        /// Where to list: the long connection (`list_conversations` over
        /// --transport), HTTP (`GET /api/v1/conversations`), or both,
        /// alternating.
        #[arg(long, value_enum, default_value_t)]
        via: ListVia,
        /// Sessions of the owner listing at once, each back to back.
        #[arg(long, default_value_t = 1)]
        listers: usize,
        /// After one full list, list incrementally (`since` the last
        /// answer's cursor) back to back, as a client holding its list does.
        #[arg(long)]
        incremental: bool,
    },
    /// Full-text search by a user with a long history on a server holding M
    /// messages (set up once and cached): p50/p99 per query class and
    /// interface; needles, order, visibility, snippets and completeness
    /// checked.
    Search {
        /// Messages stored on the server (the corpus; cached in the state
        /// file under `search-M`).
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Sessions of the searcher querying at once, each back to back.
        #[arg(long, default_value_t = 1)]
        searchers: usize,
        /// Where to search: the long connection (`search` over
        /// --transport; `tcp` is an alias), HTTP (`GET /api/v1/search`), or
        /// both, a round of every query class on each in turn.
        #[arg(long, value_enum, default_value_t)]
        via: ListVia,
    },
    /// F files of S bytes uploaded at once (one request each up to
    /// --simple-max, else tus): MB/s, per-file latency, server CPU and RSS
    /// growth. Content is generated; the server checks its SHA-256.
    Upload {
        #[arg(long, default_value_t = 1)]
        files: usize,
        /// Bytes per file (suffixes KiB, MiB, GiB).
        #[arg(long, default_value = "1GiB", value_parser = parse_size)]
        size: u64,
        /// Bytes per tus PATCH (0: one PATCH per file).
        #[arg(long, default_value = "0", value_parser = parse_size)]
        chunk: u64,
        /// Files up to this size go up as one `POST /api/v1/files` (the
        /// server's `files.max_simple_upload_bytes`).
        #[arg(long, default_value = "8MiB", value_parser = parse_size)]
        simple_max: u64,
    },
    /// F files of S bytes uploaded (not measured), then downloaded at once,
    /// every byte checked: MB/s, per-file latency, server CPU and RSS growth.
    Download {
        #[arg(long, default_value_t = 1)]
        files: usize,
        #[arg(long, default_value = "1GiB", value_parser = parse_size)]
        size: u64,
        #[arg(long, default_value = "8MiB", value_parser = parse_size)]
        simple_max: u64,
    },
    /// People opening the browser client: C virtual users load the page
    /// back to back, each on a keep-alive connection of its own, with an
    /// empty cache (the index and every file it references) or, with
    /// --revisit, a warm one (the index revalidated: 304). Page loads/s,
    /// requests/s, body bytes/s (compressed, as received), page-load
    /// latency; every response checked against a reference load.
    Web {
        /// Virtual users loading at once.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// A warm cache: only `GET /` with If-None-Match of the index's
        /// ETag (answered 304); the hashed assets are immutable.
        #[arg(long)]
        revisit: bool,
    },
    /// P caller/callee pairs place video calls back to back: invite (a
    /// dummy SDP offer of --sdp-bytes), ringing, accept (an answer of the
    /// same size), --ice candidates each way, hangup. Call setup latency
    /// (invite sent → accepted at the caller), signaling round trips,
    /// calls/s; every call must end completed and leave exactly one
    /// call-log message in its pair's conversation (pulled at the end).
    Calls {
        #[arg(long, default_value_t = 100)]
        pairs: usize,
        /// ICE candidates each side trickles per call.
        #[arg(long, default_value_t = 4)]
        ice: usize,
        /// Bytes of the SDP offer and of the answer.
        #[arg(long, default_value_t = 3000)]
        sdp_bytes: usize,
    },
    /// N clients in pairs with light traffic; the server is restarted
    /// (SIGTERM to --server-pid, then --restart-cmd); time until 99% are back
    /// and synced.
    Storm {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Shell command that starts the server again (same data dir).
        #[arg(long)]
        restart_cmd: String,
        /// Total messages/s (default: one per client every 10 s).
        #[arg(long)]
        rate: Option<f64>,
        /// Seconds after t0 at which the server is stopped.
        #[arg(long, default_value_t = 3.0)]
        kill_after: f64,
    },
}

/// Runs `workload` against `target`.
pub async fn run(t: &Target, workload: &Workload) -> anyhow::Result<Outcome> {
    t.node_urls()?;
    match workload {
        Workload::Connect { clients, login, restart_cmd } => {
            connect::connect(t, *clients, *login, restart_cmd.as_deref()).await
        }
        Workload::Direct { pairs, convs_per_client, rate, size, window } => {
            messaging::direct(t, *pairs, *convs_per_client, *rate, *size, *window).await
        }
        Workload::Mixed { clients, active, rate, groups, mix, size } => {
            let p =
                mixed::Params { clients: *clients, active: *active, rate: *rate, groups: *groups, mix, size: *size };
            mixed::mixed(t, &p).await
        }
        Workload::Fanout { group_size, senders, groups, rate, size, window } => {
            messaging::fanout(t, *group_size, *senders, *groups, *rate, *size, *window).await
        }
        Workload::Conversations { conversations, groups, churn, via, listers, incremental } => {
            let p = conversations::Params {
                conversations: *conversations,
                groups: *groups,
                churn: *churn,
                via: *via,
                listers: *listers,
                incremental: *incremental,
            };
            conversations::conversations(t, &p).await
        }
        Workload::Search { messages, searchers, via } => {
            let p = search::Params { messages: *messages, searchers: *searchers, via: *via };
            search::search(t, &p).await
        }
        Workload::Fill { members, rate } => fill::fill(t, *members, *rate).await,
        Workload::Upload { files, size, chunk, simple_max } => {
            files::upload(t, &files::Params { files: *files, size: *size, chunk: *chunk, simple_max: *simple_max })
                .await
        }
        Workload::Download { files, size, simple_max } => {
            files::download(t, &files::Params { files: *files, size: *size, chunk: 0, simple_max: *simple_max }).await
        }
        Workload::Web { clients, revisit } => web::web(t, &web::Params { clients: *clients, revisit: *revisit }).await,
        Workload::Sync { backlog, clients } => sync::sync(t, *backlog, *clients).await,
        Workload::Calls { pairs, ice, sdp_bytes } => {
            calls::calls(t, &calls::Params { pairs: *pairs, ice: *ice, sdp_bytes: *sdp_bytes }).await
        }
        Workload::Storm { clients, restart_cmd, rate, kill_after } => {
            storm::storm(t, *clients, restart_cmd, *rate, *kill_after).await
        }
    }
}

/// The TCP gateway at `http`'s host, port 8081 (the default layout).
fn default_tcp(http: &str) -> String {
    let host = http.split("://").nth(1).unwrap_or(http);
    let host = host.split('/').next().unwrap_or(host);
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    format!("{host}:8081")
}

fn ws_url(http: &str) -> String {
    let base = http.trim_end_matches('/');
    let base = base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    format!("{base}/ws")
}

impl Target {
    fn tcp_addr(&self) -> String {
        match &self.tcp {
            Some(t) => t.trim_start_matches("tcp://").to_owned(),
            None => default_tcp(&self.server),
        }
    }

    /// The long-connection URL of the chosen transport on --server.
    fn conn_url(&self) -> String {
        match self.transport {
            TransportKind::Tcp => format!("tcp://{}", self.tcp_addr()),
            TransportKind::Ws => ws_url(&self.server),
        }
    }

    /// Each node's (long-connection URL, HTTP URL): --nodes with
    /// --nodes-tcp, or --server alone.
    fn node_urls(&self) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        if self.nodes.is_empty() {
            anyhow::ensure!(self.nodes_tcp.is_empty(), "--nodes-tcp needs --nodes");
            return Ok((vec![self.conn_url()], vec![self.server.clone()]));
        }
        anyhow::ensure!(
            self.nodes_tcp.is_empty() || self.nodes_tcp.len() == self.nodes.len(),
            "--nodes-tcp names {} gateways for {} --nodes",
            self.nodes_tcp.len(),
            self.nodes.len()
        );
        let conns = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, http)| match self.transport {
                TransportKind::Tcp => {
                    let tcp = self
                        .nodes_tcp
                        .get(i)
                        .map_or_else(|| default_tcp(http), |t| t.trim_start_matches("tcp://").to_owned());
                    format!("tcp://{tcp}")
                }
                TransportKind::Ws => ws_url(http),
            })
            .collect();
        Ok((conns, self.nodes.clone()))
    }

    fn duration_ms(&self) -> u64 {
        (self.duration * 1000.0) as u64
    }

    fn spec(&self, clients: Vec<ClientSpec>) -> WorkerSpec {
        let (urls, http_urls) = self.node_urls().expect("--nodes are checked before any workload runs (`run`)");
        WorkerSpec {
            run_id: format!("r{:08x}", rand::random::<u32>()),
            urls,
            http_urls,
            duration_ms: self.duration_ms(),
            quiet_ms: 1000,
            drain_max_ms: 30_000,
            connect_concurrency: self.connect_concurrency,
            connect_timeout_ms: (self.connect_timeout * 1000.0) as u64,
            connect_after_go: false,
            idle_after_connect: false,
            reconnect: false,
            track_last: false,
            end_when_done: false,
            clients,
        }
    }

    /// Ensures `n` users and returns them.
    async fn users(&self, n: usize) -> anyhow::Result<(State, Vec<BenchUser>)> {
        let mut state = State::load(&self.state)?;
        let res = setup::ensure_users(&mut state, &self.server, n).await;
        // Keep what was created even if part of the setup failed.
        state.save(&self.state)?;
        res?;
        let users = state.servers[&self.server].users[..n].to_vec();
        Ok((state, users))
    }

    async fn execute<F, Fut>(&self, spec: WorkerSpec, during: F) -> anyhow::Result<(u64, WorkerReport)>
    where
        F: FnOnce(u64) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        runner::execute(runner::split(spec, self.procs), self.worker_exe.clone(), during).await
    }
}

/// A byte count: digits with an optional `KiB`, `MiB` or `GiB` (or `K`,
/// `M`, `G`) suffix.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(digits);
    let n: u64 = n.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        other => return Err(format!("unknown size unit {other:?} (KiB, MiB, GiB)")),
    };
    n.checked_mul(1 << shift).ok_or_else(|| format!("{s:?} is too large"))
}

fn client(idx: usize, u: &BenchUser, send: Option<SendSpec>, expect: Vec<Expect>) -> ClientSpec {
    ClientSpec { idx: idx as u32, user_id: u.id, token: u.token.clone(), login: None, send, ops: None, expect }
}

fn direct_conv(a: i64, b: i64) -> String {
    format!("d_{}_{}", a.min(b), a.max(b))
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

async fn sleep_until_us(at: u64) {
    let now = crate::engine::now_us();
    if at > now {
        tokio::time::sleep(std::time::Duration::from_micros(at - now)).await;
    }
}

fn start_monitor(t: &Target) -> Option<Monitor> {
    t.server_pid.map(Monitor::start)
}

fn samples(m: &Option<Monitor>) -> Vec<Sample> {
    m.as_ref().map(Monitor::finish).unwrap_or_default()
}

/// Runs `work` as the measured window of an HTTP workload (run in this
/// process): its output, the window's ends (Unix µs) and the server's
/// samples, with one taken at each end.
async fn measured<T>(t: &Target, mon: Option<Monitor>, work: impl Future<Output = T>) -> (T, u64, u64, Vec<Sample>) {
    let t0 = crate::engine::now_us();
    let before = t.server_pid.and_then(crate::procmon::sample);
    let out = work.await;
    let after = t.server_pid.and_then(crate::procmon::sample);
    let t1 = crate::engine::now_us();
    (out, t0, t1, with_ends(samples(&mon), before, after))
}

/// The monitor's samples with one taken right before and one right after
/// the window, so a window shorter than the sampling period still has its
/// CPU and its peak RSS (VmHWM) measured.
fn with_ends(mut samples: Vec<Sample>, before: Option<Sample>, after: Option<Sample>) -> Vec<Sample> {
    samples.extend(before);
    samples.extend(after);
    samples.sort_by_key(|s| s.t_us);
    samples
}
