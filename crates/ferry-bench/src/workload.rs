//! The workloads of issue 4: `connect`, `direct`, `fanout`, `sync` and
//! `storm`. Each one ensures its accounts (and groups), builds a
//! [`WorkerSpec`], runs it over one or more processes, and turns the merged
//! report (plus the server's /proc samples) into an [`Outcome`].

use std::{collections::BTreeMap, fmt, path::PathBuf, time::Duration};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::{
    engine::{ClientSpec, Expect, SendSpec, SendTo, WorkerReport, WorkerSpec, now_us},
    procmon::{self, Monitor, Sample},
    runner,
    setup::{self, BenchUser, State},
    stats::{self, Correctness, LatencySummary},
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

/// What to run.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Workload {
    /// N clients connect, authenticate with a token and stay idle with heartbeats.
    Connect {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
    },
    /// P sender→receiver pairs of 1:1 messages.
    Direct {
        #[arg(long, default_value_t = 50)]
        pairs: usize,
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
    /// C clients, offline while B messages arrive in their group, reconnect
    /// and pull until caught up.
    Sync {
        #[arg(long, default_value_t = 1000)]
        backlog: u64,
        #[arg(long, default_value_t = 1)]
        clients: usize,
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

/// Everything a run measured, for the summary and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub workload: String,
    pub params: serde_json::Value,
    pub transport: TransportKind,
    pub procs: usize,
    /// Named figures (units in the names).
    pub figures: BTreeMap<String, f64>,
    pub latency: BTreeMap<String, LatencySummary>,
    /// Server CPU/RSS over the measured window, if --server-pid was given.
    pub server: Option<procmon::Window>,
    pub correctness: Correctness,
    pub errors: BTreeMap<String, u64>,
    pub passed: bool,
}

impl Outcome {
    fn new(workload: &str, params: serde_json::Value, t: &Target) -> Self {
        Self {
            workload: workload.into(),
            params,
            transport: t.transport,
            procs: t.procs,
            figures: BTreeMap::new(),
            latency: BTreeMap::new(),
            server: None,
            correctness: Correctness::default(),
            errors: BTreeMap::new(),
            passed: false,
        }
    }

    fn fig(&mut self, name: &str, v: f64) {
        self.figures.insert(name.into(), v);
    }

    fn lat(&mut self, name: &str, h: &stats::Hist) {
        if h.count() > 0 {
            self.latency.insert(name.into(), h.summary());
        }
    }

    fn finish(mut self, r: &WorkerReport, mut c: Correctness) -> Self {
        c.connection_failed(r.connect_failed, "could not connect");
        c.connection_failed(r.unexpected_closes, "lost their connection");
        self.errors = r.errors.clone();
        self.passed = !c.failed();
        self.correctness = c;
        self
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ferry-bench {} {} ({:?}, {} proc)", self.workload, self.params, self.transport, self.procs)?;
        for (k, v) in &self.figures {
            writeln!(f, "  {k:<32} {v:>14.2}")?;
        }
        for (k, v) in &self.latency {
            writeln!(f, "  {k:<20} {v}")?;
        }
        if let Some(s) = &self.server {
            writeln!(
                f,
                "  server: cpu {:.1}% of a core, rss {} → {} KiB (peak {} KiB, hwm {} KiB)",
                s.cpu_pct, s.rss_start_kib, s.rss_end_kib, s.rss_peak_kib, s.hwm_kib
            )?;
        }
        if !self.errors.is_empty() {
            writeln!(f, "  errors: {:?}", self.errors)?;
        }
        let c = &self.correctness;
        writeln!(
            f,
            "  correctness: {} streams in {} conversations; lost {}, duplicated {}, non-contiguous {}, unacked {}, \
             reordered pushes {}, connection failures {}",
            c.streams_checked,
            c.conversations,
            c.lost,
            c.duplicated,
            c.non_contiguous,
            c.unacked,
            c.reordered,
            c.connection_failures
        )?;
        for v in &c.violations {
            writeln!(f, "    ! {v}")?;
        }
        write!(f, "{}", if self.passed { "PASSED" } else { "FAILED" })
    }
}

/// Runs `workload` against `target`.
pub async fn run(t: &Target, workload: &Workload) -> anyhow::Result<Outcome> {
    match workload {
        Workload::Connect { clients } => connect(t, *clients).await,
        Workload::Direct { pairs, rate, size, window } => direct(t, *pairs, *rate, *size, *window).await,
        Workload::Fanout { group_size, senders, groups, rate, size, window } => {
            fanout(t, *group_size, *senders, *groups, *rate, *size, *window).await
        }
        Workload::Sync { backlog, clients } => sync(t, *backlog, *clients).await,
        Workload::Storm { clients, restart_cmd, rate, kill_after } => {
            storm(t, *clients, restart_cmd, *rate, *kill_after).await
        }
    }
}

impl Target {
    fn tcp_addr(&self) -> String {
        if let Some(t) = &self.tcp {
            return t.trim_start_matches("tcp://").to_owned();
        }
        let host = self.server.split("://").nth(1).unwrap_or(&self.server);
        let host = host.split('/').next().unwrap_or(host);
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        format!("{host}:8081")
    }

    fn ws_url(&self) -> String {
        let base = self.server.trim_end_matches('/');
        let base = base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
        format!("{base}/ws")
    }

    /// The long-connection URL of the chosen transport.
    fn conn_url(&self) -> String {
        match self.transport {
            TransportKind::Tcp => format!("tcp://{}", self.tcp_addr()),
            TransportKind::Ws => self.ws_url(),
        }
    }

    fn duration_ms(&self) -> u64 {
        (self.duration * 1000.0) as u64
    }

    fn spec(&self, clients: Vec<ClientSpec>) -> WorkerSpec {
        WorkerSpec {
            run_id: format!("r{:08x}", rand::random::<u32>()),
            url: self.conn_url(),
            duration_ms: self.duration_ms(),
            quiet_ms: 1000,
            drain_max_ms: 30_000,
            connect_concurrency: self.connect_concurrency,
            connect_after_go: false,
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

fn client(idx: usize, u: &BenchUser, send: Option<SendSpec>, expect: Vec<Expect>) -> ClientSpec {
    ClientSpec { idx: idx as u32, user_id: u.id, token: u.token.clone(), send, expect }
}

fn direct_conv(a: i64, b: i64) -> String {
    format!("d_{}_{}", a.min(b), a.max(b))
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

fn start_monitor(t: &Target) -> Option<Monitor> {
    t.server_pid.map(Monitor::start)
}

fn samples(m: &Option<Monitor>) -> Vec<Sample> {
    m.as_ref().map(Monitor::finish).unwrap_or_default()
}

async fn connect(t: &Target, n: usize) -> anyhow::Result<Outcome> {
    let (_, users) = t.users(n).await?;
    let clients = users.iter().enumerate().map(|(i, u)| client(i, u, None, Vec::new())).collect();
    let mut spec = t.spec(clients);
    spec.connect_after_go = true;
    spec.quiet_ms = 0;
    let mon = start_monitor(t);
    let before = mon.as_ref().and_then(Monitor::take_sample);
    let (t0, r) = t.execute(spec, |_| async { Ok(()) }).await?;
    let samples = samples(&mon);
    let mut o = Outcome::new("connect", serde_json::json!({ "clients": n }), t);
    o.fig("clients_connected", r.connected as f64);
    let login_window = secs(r.last_ready_us.saturating_sub(r.first_connect_us));
    if login_window > 0.0 {
        o.fig("logins_per_s", r.connected as f64 / login_window);
    }
    o.fig("connect_phase_s", login_window);
    o.lat("connect_to_ready", &r.connect);
    // The idle window: from 1 s after the last login to the end of the run.
    let idle_from = r.last_ready_us + 1_000_000;
    let idle_to = t0 + t.duration_ms() * 1000;
    if let (Some(before), Some(w)) = (before, procmon::window(&samples, idle_from, idle_to)) {
        let conns = r.connected.max(1) as f64;
        o.fig("server_rss_before_kib", before.rss_kib as f64);
        o.fig("server_rss_per_conn_kib", (w.rss_end_kib as f64 - before.rss_kib as f64) / conns);
        o.fig("server_idle_cpu_pct_per_10k_conns", w.cpu_pct / conns * 10_000.0);
        o.fig("idle_window_s", secs(idle_to.saturating_sub(idle_from)));
        o.server = Some(w);
    }
    let c = Correctness::default();
    Ok(o.finish(&r, c))
}

async fn direct(t: &Target, pairs: usize, rate: Option<f64>, size: usize, window: u32) -> anyhow::Result<Outcome> {
    let (_, users) = t.users(2 * pairs).await?;
    let per_sender = rate.map_or(0.0, |r| r / pairs as f64);
    let mut clients = Vec::new();
    for p in 0..pairs {
        let (s, r) = (&users[2 * p], &users[2 * p + 1]);
        let conv = direct_conv(s.id, r.id);
        let send = SendSpec { to: SendTo::User(r.id), rate: per_sender, window, size, max_msgs: 0 };
        clients.push(client(2 * p, s, Some(send), vec![Expect { conv: conv.clone(), after_seq: None }]));
        clients.push(client(2 * p + 1, r, None, vec![Expect { conv, after_seq: None }]));
    }
    let spec = t.spec(clients);
    let params = serde_json::json!({ "pairs": pairs, "rate": rate, "size": size, "window": window });
    messaging_outcome(t, "direct", params, spec).await
}

#[allow(clippy::too_many_arguments)]
async fn fanout(
    t: &Target,
    group_size: usize,
    senders: usize,
    groups: usize,
    rate: Option<f64>,
    size: usize,
    window: u32,
) -> anyhow::Result<Outcome> {
    if group_size < 2 || senders == 0 || senders > group_size {
        bail!("need 2 <= --group-size and 1 <= --senders <= --group-size");
    }
    let (mut state, users) = t.users(group_size * groups).await?;
    let per_sender = rate.map_or(0.0, |r| r / (senders * groups) as f64);
    let mut clients = Vec::new();
    for g in 0..groups {
        let members: Vec<usize> = (g * group_size..(g + 1) * group_size).collect();
        let key = format!("fanout-{group_size}-{g}");
        let res = setup::ensure_group(&mut state, &t.server, &key, &members).await;
        state.save(&t.state)?;
        let group = res?;
        for (k, &i) in members.iter().enumerate() {
            let send = (k < senders).then(|| SendSpec {
                to: SendTo::Conversation(group.conv.clone()),
                rate: per_sender,
                window,
                size,
                max_msgs: 0,
            });
            clients.push(client(i, &users[i], send, vec![Expect { conv: group.conv.clone(), after_seq: None }]));
        }
    }
    let mut spec = t.spec(clients);
    spec.track_last = true;
    let params = serde_json::json!({ "group_size": group_size, "senders": senders, "groups": groups, "rate": rate, "size": size });
    let mut o = messaging_outcome(t, "fanout", params, spec).await?;
    o.fig("receivers_per_message", (group_size - 1) as f64);
    Ok(o)
}

/// Runs a sending workload (direct, fanout) and reports throughput, latency
/// and the correctness check.
async fn messaging_outcome(
    t: &Target,
    name: &str,
    params: serde_json::Value,
    spec: WorkerSpec,
) -> anyhow::Result<Outcome> {
    let mon = start_monitor(t);
    let (t0, r) = t.execute(spec, |_| async { Ok(()) }).await?;
    let samples = samples(&mon);
    let mut o = Outcome::new(name, params, t);
    let dur = t.duration;
    o.fig("sent", r.sent as f64);
    o.fig("acked", r.acked as f64);
    o.fig("acked_msgs_per_s", r.acked as f64 / dur);
    o.fig("deliveries", r.deliveries as f64);
    o.fig("deliveries_per_s", r.deliveries as f64 / dur);
    if r.refused > 0 {
        o.fig("refused", r.refused as f64);
    }
    o.lat("send_to_ack", &r.ack);
    o.lat("send_to_deliver", &r.deliver);
    if !r.last_member.is_empty() {
        let mut by_msg: BTreeMap<(String, u64), (u32, u64)> = BTreeMap::new();
        for (c, s, n, us) in &r.last_member {
            let e = by_msg.entry((c.clone(), *s)).or_insert((0, 0));
            e.0 += n;
            e.1 = e.1.max(*us);
        }
        let full = by_msg.values().map(|(n, _)| *n).max().unwrap_or(0);
        let mut h = stats::Hist::default();
        for (n, us) in by_msg.values() {
            if *n == full {
                h.record_us(*us);
            }
        }
        o.lat("send_to_last_member", &h);
    }
    o.server = procmon::window(&samples, t0, t0 + t.duration_ms() * 1000);
    let c = stats::check(&r.acked_ranges, &r.received, r.unacked);
    Ok(o.finish(&r, c))
}

async fn sync(t: &Target, backlog: u64, n: usize) -> anyhow::Result<Outcome> {
    if backlog == 0 || n == 0 {
        bail!("--backlog and --clients must be at least 1");
    }
    // User 0 fills the group; users 1..=n are the offline members.
    let (mut state, users) = t.users(n + 1).await?;
    let members: Vec<usize> = (0..=n).collect();
    let res = setup::ensure_group(&mut state, &t.server, &format!("sync-{n}"), &members).await;
    state.save(&t.state)?;
    let group = res?;

    // Fill the backlog (closed loop, not measured).
    let send =
        SendSpec { to: SendTo::Conversation(group.conv.clone()), rate: 0.0, window: 64, size: 100, max_msgs: backlog };
    let mut fill = t.spec(vec![client(0, &users[0], Some(send), Vec::new())]);
    fill.duration_ms = 3_600_000;
    fill.drain_max_ms = 0;
    fill.quiet_ms = 0;
    fill.end_when_done = true;
    let filled_at = std::time::Instant::now();
    let (_, filled) = runner::execute(vec![fill], None, |_| async { Ok(()) }).await?;
    let fill_s = filled_at.elapsed().as_secs_f64();
    let range = *filled.acked_ranges.get(&group.conv).context("backlog not acknowledged")?;
    if filled.acked != backlog {
        bail!("backlog: {} of {backlog} messages acknowledged ({:?})", filled.acked, filled.errors);
    }

    let clients = (1..=n)
        .map(|i| client(i, &users[i], None, vec![Expect { conv: group.conv.clone(), after_seq: Some(range.min - 1) }]))
        .collect();
    let mut spec = t.spec(clients);
    spec.connect_after_go = true;
    spec.duration_ms = 0;
    spec.quiet_ms = 0;
    spec.drain_max_ms = 600_000;
    let mon = start_monitor(t);
    let before = mon.as_ref().and_then(Monitor::take_sample).map_or(0, |s| s.t_us);
    let (t0, r) = t.execute(spec, |_| async { Ok(()) }).await?;
    // Catching up can be shorter than the sampling period: sample the ends.
    let after = mon.as_ref().and_then(Monitor::take_sample).map_or(0, |s| s.t_us);
    let samples = samples(&mon);
    let mut o = Outcome::new("sync", serde_json::json!({ "backlog": backlog, "clients": n }), t);
    o.fig("backlog_fill_msgs_per_s", backlog as f64 / fill_s);
    o.fig("pulled_msgs", r.pulled as f64);
    let all_s = secs(r.last_caught_up_us.saturating_sub(t0));
    o.fig("all_caught_up_s", all_s);
    if all_s > 0.0 {
        o.fig("aggregate_pull_msgs_per_s", r.pulled as f64 / all_s);
    }
    o.lat("reconnect_to_caught_up", &r.catchup);
    o.lat("connect_to_ready", &r.connect);
    o.server = procmon::window(&samples, before, after);
    let mut acked = BTreeMap::new();
    acked.insert(group.conv.clone(), range);
    let c = stats::check(&acked, &r.received, r.unacked);
    Ok(o.finish(&r, c))
}

async fn storm(t: &Target, n: usize, restart_cmd: &str, rate: Option<f64>, kill_after: f64) -> anyhow::Result<Outcome> {
    let pid = t.server_pid.context("storm needs --server-pid (the server to restart)")?;
    let pairs = (n / 2).max(1);
    let (_, users) = t.users(2 * pairs).await?;
    let rate = rate.unwrap_or(n as f64 / 10.0);
    let mut clients = Vec::new();
    for p in 0..pairs {
        let (s, r) = (&users[2 * p], &users[2 * p + 1]);
        let conv = direct_conv(s.id, r.id);
        let send = SendSpec { to: SendTo::User(r.id), rate: rate / pairs as f64, window: 0, size: 100, max_msgs: 0 };
        clients.push(client(2 * p, s, Some(send), vec![Expect { conv: conv.clone(), after_seq: None }]));
        clients.push(client(2 * p + 1, r, None, vec![Expect { conv, after_seq: None }]));
    }
    let mut spec = t.spec(clients);
    spec.reconnect = true;
    spec.drain_max_ms = 120_000;
    let mon = Monitor::start(pid);
    let restart = StormControl { pid, cmd: restart_cmd.to_owned(), kill_after, mon: mon.clone() };
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel();
    let (t0, r) = t
        .execute(spec, |t0| async move {
            let killed = restart.run(t0).await?;
            let _ = kill_tx.send(killed);
            Ok(())
        })
        .await?;
    let samples = mon.finish();
    let (kill_us, steady_kib) = kill_rx.await.context("restart did not happen")?;
    let mut o = Outcome::new("storm", serde_json::json!({ "clients": 2 * pairs, "rate": rate }), t);
    let mut back: Vec<u64> = r.resynced_at_us.iter().map(|at| at.saturating_sub(kill_us)).collect();
    back.sort_unstable();
    let total = 2 * pairs;
    o.fig("clients", total as f64);
    o.fig("clients_back_and_synced", back.len() as f64);
    let k99 = (total as f64 * 0.99).ceil() as usize;
    if k99 > 0 && back.len() >= k99 {
        o.fig("s_until_99pct_back_and_synced", secs(back[k99 - 1]));
    }
    if let Some(last) = back.last() {
        o.fig("s_until_all_back_and_synced", secs(*last));
    }
    o.fig("reconnects", r.reconnects as f64);
    o.fig("sent", r.sent as f64);
    o.fig("acked", r.acked as f64);
    o.fig("duplicate_acks", r.duplicate_acks as f64);
    o.lat("send_to_ack", &r.ack);
    o.lat("send_to_deliver", &r.deliver);
    let after = procmon::window(&samples, kill_us, t0 + t.duration_ms() * 1000 + 120_000_000);
    if let Some(w) = after {
        o.fig("server_rss_steady_kib", steady_kib as f64);
        o.fig("server_rss_peak_after_restart_kib", w.rss_peak_kib as f64);
        o.fig("server_rss_end_kib", w.rss_end_kib as f64);
        // Steady = the restarted server at the end, every client back (the
        // old process's RSS also holds its history, e.g. setup's argon2).
        if w.rss_end_kib > 0 {
            o.fig("peak_over_end_rss", w.rss_peak_kib as f64 / w.rss_end_kib as f64);
        }
        o.server = Some(w);
    }
    let mut c = stats::check(&r.acked_ranges, &r.received, r.unacked);
    c.connection_failed((total - back.len()) as u64, "never came back and synced");
    Ok(o.finish(&r, c))
}

/// Stops the server with SIGTERM, waits for it to exit, starts it again.
struct StormControl {
    pid: u32,
    cmd: String,
    kill_after: f64,
    mon: Monitor,
}

impl StormControl {
    /// Returns the kill time (Unix µs) and the steady RSS before it (KiB).
    async fn run(self, t0: u64) -> anyhow::Result<(u64, u64)> {
        let at = t0 + (self.kill_after * 1e6) as u64;
        tokio::time::sleep(Duration::from_micros(at.saturating_sub(now_us()))).await;
        let steady = self.mon.take_sample().map_or(0, |s| s.rss_kib);
        let kill_us = now_us();
        let status = tokio::process::Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().await?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        let proc_dir = PathBuf::from(format!("/proc/{}", self.pid));
        while proc_dir.exists() && !is_zombie(self.pid) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // `exec` so the pid we get is the server's, not the shell's.
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec {}", self.cmd))
            .stdin(std::process::Stdio::null())
            .spawn()
            .context("restart command")?;
        if let Some(pid) = child.id() {
            self.mon.set_pid(pid);
        }
        // The server outlives the bench: dropping the handle neither waits
        // for nor kills it.
        drop(child);
        Ok((kill_us, steady))
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().starts_with('Z')))
        .unwrap_or(true)
}
