//! `conversations`: the conversation list of a user with thousands of
//! chats, the shape real users have, as `list_conversations` on the long
//! connection and `GET /api/v1/conversations` serve it.
//!
//! Setup, cached in the state file (key `conversations-N-G`): an owner
//! account of its own, so no other workload adds to its list; N peers (the
//! shared bench users) and G groups the owner creates, each with two peers.
//! The owner sends one text message to every peer and every group over a
//! few connections, pipelined, so its list holds exactly N + G
//! conversations. Because the setup is cached, the measured run of
//! `fresh-run.sh` (after its server restart) sends nothing before its first
//! list.
//!
//! Run: at t0 the owner lists once over each interface, timed on its own
//! (the first is the `cold` list: on a freshly started server nothing has
//! read those rows yet); then `--listers` sessions of the owner list back to
//! back until the duration is over, alternating between the long connection
//! and HTTP under `--via both`. Every answer is checked: exactly the N + G
//! conversations, each with a name, a preview and a last seq, none pinned,
//! ordered by `last_time` descending; one bad answer fails the run. With
//! `--churn R` peers send R messages/s to the owner meanwhile; their
//! streams get the usual correctness check, and the owner's sessions time
//! send → push.
//!
//! With `--incremental` each session lists in full once (keeping the
//! answer's cursor) and then incrementally (`since` the last cursor) back to
//! back, as a client that holds its list does after a reconnect; every
//! incremental answer must list all N + G ids and only well-formed entries
//! of the owner's conversations. The cursor reaches back
//! `messages.list_cursor_overlap_secs` (30 s by default), so run it at
//! least that long after the setup (`SETTLE=35` with fresh-run.sh), or every
//! conversation the setup wrote comes back as changed.

use std::{collections::HashSet, time::Duration};

use anyhow::{Context as _, bail};
use ferry_client::{
    HttpApi,
    conn::{RawConnection, ReadHalf, WriteHalf},
};
use ferry_proto::{Body, Frame, v1};
use futures_util::{StreamExt as _, future, stream};
use serde::{Deserialize, Serialize};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{ListVia, Outcome, Target, TransportKind, client, direct_conv, samples, sleep_until_us, start_monitor};
use crate::{
    engine::{Expect, SendSpec, SendTo, WorkerReport, now_us},
    procmon, runner,
    setup::{self, BenchUser, State},
    stats::{self, Hist},
};

/// Owner connections that send the setup messages.
const SETUP_CONNS: usize = 4;
/// Setup sends in flight per connection.
const SETUP_WINDOW: u32 = 64;
/// Groups created at once during setup.
const GROUP_CONCURRENCY: usize = 16;
/// Text bytes of every message (setup and churn): a chat line.
const TEXT_BYTES: usize = 60;
/// Peers that send the churn, each at `--churn / CHURN_SENDERS` msgs/s.
const CHURN_SENDERS: usize = 50;
/// Time allowed for one list answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// Bad answers described in the failure (the rest are counted).
const SHOWN_BAD: usize = 3;

/// The command line of `conversations`.
pub(super) struct Params {
    pub conversations: usize,
    pub groups: usize,
    pub churn: f64,
    pub via: ListVia,
    pub listers: usize,
    pub incremental: bool,
}

/// What setup made, kept in the state file's `extras`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Prepared {
    owner: BenchUser,
    /// Conversation ids of the owner's groups.
    groups: Vec<String>,
    /// Every conversation has its message.
    filled: bool,
}

/// What the setup of this run did (none when the state file had it all):
/// its whole time (accounts included) and the message phase's.
struct SetupRun {
    secs: f64,
    msgs: u64,
    msgs_secs: f64,
}

/// One list request's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Iface {
    Conn,
    Http,
}

/// The first list of the run over one interface.
struct First {
    iface: Iface,
    us: u64,
    /// Encoded size of the answer: the protobuf frame on the long
    /// connection, the JSON body over HTTP.
    bytes: usize,
}

/// What one session of the owner measured.
#[derive(Default)]
struct Measured {
    conn: Hist,
    http: Hist,
    /// Lists answered within the window, per interface.
    conn_in_window: u64,
    http_in_window: u64,
    /// Incremental lists (`--incremental`) per interface, and the entries
    /// they carried.
    inc_conn: Hist,
    inc_http: Hist,
    inc_entries: u64,
    /// Pushes of messages to the owner (churn) and their send → push
    /// latency.
    pushes: Pushes,
    checked: u64,
    bad: u64,
    bad_examples: Vec<String>,
    /// The request that failed (the session stops there).
    error: Option<String>,
}

/// Messages pushed to one session of the owner.
#[derive(Default)]
struct Pushes {
    n: u64,
    /// Send (due) → push, for this run's churn messages.
    latency: Hist,
}

/// One session of the owner that lists.
struct Lister {
    conn: Option<ConnSession>,
    http: Option<HttpApi>,
    /// Under `--via both`: whether the next list goes over HTTP.
    next_http: bool,
    /// Under `--incremental`: the cursor of the last answer.
    cursor: Option<String>,
    m: Measured,
}

/// The owner's long connection. A reader task takes every frame as it
/// arrives, so pushes are timed when they come even while the session waits
/// on an HTTP list; answers come back on `answers`.
struct ConnSession {
    tx: WriteHalf,
    answers: mpsc::Receiver<anyhow::Result<Frame>>,
    next_id: u64,
    stop: CancellationToken,
    reader: JoinHandle<Pushes>,
}

pub(super) async fn conversations(t: &Target, p: &Params) -> anyhow::Result<Outcome> {
    let (n, g) = (p.conversations, p.groups);
    if n == 0 || p.listers == 0 || !(p.churn >= 0.0 && p.churn.is_finite()) {
        bail!("need --conversations >= 1, --listers >= 1 and --churn >= 0");
    }
    let (peers, prep, setup_run) = prepare(t, n, g).await?;
    let owner = &prep.owner;
    let expected: HashSet<String> =
        peers.iter().map(|u| direct_conv(owner.id, u.id)).chain(prep.groups.iter().cloned()).collect();

    // Churn: the first peers send to the owner; each checks its own stream.
    let senders = if p.churn > 0.0 { CHURN_SENDERS.min(n) } else { 0 };
    let clients = peers[..senders]
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let send = SendSpec {
                to: vec![SendTo::User(owner.id)],
                rate: p.churn / senders as f64,
                window: 64,
                size: TEXT_BYTES,
                max_msgs: 0,
            };
            client(i, u, Some(send), vec![Expect { conv: direct_conv(u.id, owner.id), after_seq: None }])
        })
        .collect();
    let spec = t.spec(clients);
    let run_id = spec.run_id.clone();

    // The owner's sessions are in before the start, so the cold list is
    // only the list.
    let mut listers = Vec::with_capacity(p.listers);
    for i in 0..p.listers {
        listers.push(Lister::connect(t, owner, p.via, i % 2 == 1, &run_id).await?);
    }
    let mon = start_monitor(t);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let (expected_ref, via, dur_us, inc) = (&expected, p.via, t.duration_ms() * 1000, p.incremental);
    let (t0, r) = t
        .execute(spec, |t0| async move {
            let _ = done_tx.send(list_all(listers, via, inc, expected_ref, t0, t0 + dur_us).await);
            Ok(())
        })
        .await?;
    let samples = samples(&mon);
    let (measured, firsts) = done_rx.await?;

    let params = serde_json::json!({
        "conversations": n, "groups": g, "churn": p.churn, "via": p.via, "listers": p.listers,
        "incremental": p.incremental
    });
    let mut o = Outcome::new("conversations", params, t);
    o.fig("conversations_expected", (n + g) as f64);
    match &setup_run {
        Some(s) => {
            o.fig("setup_s", s.secs);
            if s.msgs > 0 {
                o.fig("setup_msgs_per_s", s.msgs as f64 / s.msgs_secs.max(1e-6));
            }
            o.note(
                "setup ran in this run, so the first list is not cold (fresh-run.sh restarts the server \
                 between setup and the measured run)"
                    .into(),
            );
        }
        None => o.note("setup cached in the state file: nothing was sent before the first list".into()),
    }
    report_lists(&mut o, t, &measured, &firsts);
    if senders > 0 {
        report_churn(&mut o, t, &r, &measured, senders);
    }
    o.server = procmon::window(&samples, t0, t0 + dur_us);
    o.note(
        "list latency = request sent → answer decoded by the bench (its decode of every entry included); \
         answer bytes: the protobuf frame on the long connection, the JSON body over HTTP"
            .into(),
    );
    for e in measured.iter().filter_map(|m| m.error.as_ref()) {
        o.fail(e.clone());
    }
    let bad: u64 = measured.iter().map(|m| m.bad).sum();
    if bad > 0 {
        let checked: u64 = measured.iter().map(|m| m.checked).sum();
        let examples: Vec<&str> =
            measured.iter().flat_map(|m| m.bad_examples.iter().map(String::as_str)).take(SHOWN_BAD).collect();
        o.fail(format!("{bad} of {checked} lists failed the check: {}", examples.join("; ")));
    }
    let c = if senders > 0 { stats::check(&r.acked_ranges, &r.received, r.unacked) } else { Default::default() };
    Ok(o.finish(&r, c))
}

/// The lists' figures: the first list per interface, then the rest.
fn report_lists(o: &mut Outcome, t: &Target, measured: &[Measured], firsts: &[First]) {
    let conn = conn_name(t);
    let name = |i: Iface| if i == Iface::Conn { conn } else { "http" };
    if let Some(cold) = firsts.first() {
        o.fig("cold_list_ms", cold.us as f64 / 1000.0);
        o.note(format!("the cold list went over {}", name(cold.iface)));
    }
    for f in firsts {
        o.fig(&format!("first_list_{}_ms", name(f.iface)), f.us as f64 / 1000.0);
        o.fig(&format!("answer_bytes_{}", name(f.iface)), f.bytes as f64);
    }
    let (mut conn_h, mut http_h) = (Hist::default(), Hist::default());
    let (mut conn_n, mut http_n, mut checked) = (0, 0, 0);
    for m in measured {
        conn_h.merge(&m.conn);
        http_h.merge(&m.http);
        conn_n += m.conn_in_window;
        http_n += m.http_in_window;
        checked += m.checked;
    }
    let dur = t.duration;
    o.fig("lists_checked", checked as f64);
    o.fig("lists_per_s", (conn_n + http_n) as f64 / dur);
    if conn_h.count() > 0 {
        o.fig(&format!("lists_per_s_{conn}"), conn_n as f64 / dur);
    }
    if http_h.count() > 0 {
        o.fig("lists_per_s_http", http_n as f64 / dur);
    }
    o.lat(&format!("list_{conn}"), &conn_h);
    o.lat("list_http", &http_h);
    let (mut inc_conn, mut inc_http, mut inc_entries) = (Hist::default(), Hist::default(), 0);
    for m in measured {
        inc_conn.merge(&m.inc_conn);
        inc_http.merge(&m.inc_http);
        inc_entries += m.inc_entries;
    }
    let inc_n = inc_conn.count() + inc_http.count();
    if inc_n > 0 {
        o.fig("incremental_lists", inc_n as f64);
        o.fig("incremental_entries_mean", inc_entries as f64 / inc_n as f64);
        o.lat(&format!("incremental_list_{conn}"), &inc_conn);
        o.lat("incremental_list_http", &inc_http);
    }
    o.fig("bad_lists", measured.iter().map(|m| m.bad).sum::<u64>() as f64);
}

/// The churn's figures: what the peers sent and what reached the owner.
fn report_churn(o: &mut Outcome, t: &Target, r: &WorkerReport, measured: &[Measured], senders: usize) {
    o.fig("churn_senders", senders as f64);
    o.fig("sent", r.sent as f64);
    o.fig("acked", r.acked as f64);
    o.fig("acked_msgs_per_s", r.acked_in_window as f64 / t.duration);
    if r.refused > 0 {
        o.fig("refused", r.refused as f64);
    }
    o.lat("send_to_ack", &r.ack);
    let mut push = Hist::default();
    for m in measured {
        push.merge(&m.pushes.latency);
    }
    o.fig("owner_pushes", measured.iter().map(|m| m.pushes.n).sum::<u64>() as f64);
    o.lat("send_to_owner_push", &push);
    if measured.iter().all(|m| m.pushes.n == 0) {
        o.note("owner_pushes: none, the owner had no long connection (--via http)".into());
    } else {
        o.note(
            "owner_pushes: churn messages pushed to the owner's listing sessions until they stopped (each \
             session with a long connection gets every one)"
                .into(),
        );
    }
}

/// The name of the long connection's transport in figure names.
fn conn_name(t: &Target) -> &'static str {
    match t.transport {
        TransportKind::Tcp => "tcp",
        TransportKind::Ws => "ws",
    }
}

/// Ensures the owner, the peers, the groups and one message in each
/// conversation; returns the peers, what exists and, if this run set
/// anything up, how long that took.
async fn prepare(t: &Target, n: usize, g: usize) -> anyhow::Result<(Vec<BenchUser>, Prepared, Option<SetupRun>)> {
    let started = std::time::Instant::now();
    let (mut state, peers) = t.users(n).await?;
    let key = format!("conversations-{n}-{g}");
    let server = state.servers.get_mut(&t.server).context("users first")?;
    let cached: Option<Prepared> = server.extras.get(&key).and_then(|v| serde_json::from_value(v.clone()).ok());
    if let Some(p) = cached.as_ref().filter(|p| p.filled && p.groups.len() == g) {
        return Ok((peers, p.clone(), None));
    }
    let mut prep = match cached {
        Some(p) => p,
        None => {
            let name = format!("{}c{n}g{g}", server.prefix);
            let owner = setup::create_user(&HttpApi::new(&t.server)?, &name).await?;
            Prepared { owner, groups: Vec::new(), filled: false }
        }
    };
    keep(&mut state, t, &key, &prep)?;

    // Groups, each with two peers (spread over all of them).
    let made: Vec<anyhow::Result<String>> = stream::iter(prep.groups.len()..g)
        .map(|j| {
            let mut members = vec![peers[(2 * j) % n].id, peers[(2 * j + 1) % n].id];
            members.dedup();
            let (server, owner) = (&t.server, &prep.owner);
            async move {
                let name = format!("conv-{n}-{j}");
                let (_, conv) = setup::create_group(server, owner, &name, members)
                    .await
                    .context("(more than groups.max_groups_per_user groups?)")?;
                Ok(conv)
            }
        })
        .buffered(GROUP_CONCURRENCY)
        .collect()
        .await;
    let failed = setup::keep_made_groups(made, &mut prep.groups);
    keep(&mut state, t, &key, &prep)?;
    if let Some(e) = failed {
        return Err(e);
    }

    // One message from the owner into every conversation.
    let mut to: Vec<SendTo> = peers.iter().map(|p| SendTo::User(p.id)).collect();
    to.extend(prep.groups.iter().cloned().map(SendTo::Conversation));
    let total = to.len() as u64;
    let conns = SETUP_CONNS.min(to.len());
    let clients = (0..conns)
        .map(|c| {
            let mine: Vec<SendTo> = to.iter().skip(c).step_by(conns).cloned().collect();
            let max_msgs = mine.len() as u64;
            let send = SendSpec { to: mine, rate: 0.0, window: SETUP_WINDOW, size: TEXT_BYTES, max_msgs };
            client(c, &prep.owner, Some(send), Vec::new())
        })
        .collect();
    let mut fill = t.spec(clients);
    fill.duration_ms = 3_600_000;
    fill.drain_max_ms = 0;
    fill.quiet_ms = 0;
    fill.end_when_done = true;
    let sending = std::time::Instant::now();
    let (_, filled) = runner::execute(vec![fill], None, |_| async { Ok(()) }).await?;
    let msgs_secs = sending.elapsed().as_secs_f64();
    if filled.acked != total {
        bail!("setup: {} of {total} messages acknowledged ({:?})", filled.acked, filled.errors);
    }
    prep.filled = true;
    keep(&mut state, t, &key, &prep)?;
    Ok((peers, prep, Some(SetupRun { secs: started.elapsed().as_secs_f64(), msgs: total, msgs_secs })))
}

/// Writes `prep` into the state file under `key`.
fn keep(state: &mut State, t: &Target, key: &str, prep: &Prepared) -> anyhow::Result<()> {
    let server = state.servers.get_mut(&t.server).context("users first")?;
    server.extras.insert(key.to_owned(), serde_json::to_value(prep)?);
    state.save(&t.state)
}

/// At t0 the first lister lists once over each interface (the firsts); then
/// every lister lists back to back until `end_us`.
async fn list_all(
    mut listers: Vec<Lister>,
    via: ListVia,
    incremental: bool,
    expected: &HashSet<String>,
    t0: u64,
    end_us: u64,
) -> (Vec<Measured>, Vec<First>) {
    sleep_until_us(t0).await;
    let ifaces: &[Iface] = match via {
        ListVia::Conn => &[Iface::Conn],
        ListVia::Http => &[Iface::Http],
        ListVia::Both => &[Iface::Conn, Iface::Http],
    };
    let mut firsts = Vec::new();
    if let Some(first) = listers.first_mut() {
        for &iface in ifaces {
            let started = now_us();
            match first.list(iface, "", true).await {
                Ok((list, bytes)) => {
                    firsts.push(First { iface, us: now_us() - started, bytes });
                    first.m.check(&list, expected);
                    first.cursor = incremental.then_some(list.cursor);
                }
                Err(e) => {
                    first.m.error = Some(format!("first list over {iface:?}: {e:#}"));
                    break;
                }
            }
        }
    }
    future::join_all(listers.iter_mut().map(|l| l.run(via, incremental, expected, end_us))).await;
    (future::join_all(listers.into_iter().map(Lister::finish)).await, firsts)
}

impl Lister {
    /// A session of `owner`: a long connection and an HTTP client, as `via`
    /// needs them. `http_first`: under `both`, start with HTTP.
    async fn connect(
        t: &Target,
        owner: &BenchUser,
        via: ListVia,
        http_first: bool,
        run_id: &str,
    ) -> anyhow::Result<Self> {
        let conn = match via {
            ListVia::Http => None,
            _ => {
                let (conn, _) = RawConnection::connect(&t.conn_url(), false, &owner.token)
                    .await
                    .context("the owner's long connection")?;
                let (tx, rx) = conn.into_split();
                let (answers_tx, answers) = mpsc::channel(4);
                let stop = CancellationToken::new();
                let reader = tokio::spawn(read_loop(rx, answers_tx, run_id.to_owned(), stop.clone()));
                Some(ConnSession { tx, answers, next_id: 0, stop, reader })
            }
        };
        let http = match via {
            ListVia::Conn => None,
            _ => Some(HttpApi::new(&t.server)?.with_token(owner.token.clone())),
        };
        Ok(Self { conn, http, next_http: http_first, cursor: None, m: Measured::default() })
    }

    /// Lists back to back until `end_us` (or the first failed request);
    /// with `incremental`, since the last cursor once there is one.
    async fn run(&mut self, via: ListVia, incremental: bool, expected: &HashSet<String>, end_us: u64) {
        while self.m.error.is_none() && now_us() < end_us {
            let iface = if via.next_is_http(&mut self.next_http) { Iface::Http } else { Iface::Conn };
            let since = self.cursor.clone().unwrap_or_default();
            let started = now_us();
            match self.list(iface, &since, false).await {
                Ok((list, _)) => {
                    let done = now_us();
                    let in_window = u64::from(done <= end_us);
                    if incremental {
                        self.cursor = Some(list.cursor.clone());
                    }
                    if !since.is_empty() {
                        match iface {
                            Iface::Conn => self.m.inc_conn.record_us(done - started),
                            Iface::Http => self.m.inc_http.record_us(done - started),
                        }
                        self.m.inc_entries += list.conversations.len() as u64;
                        self.m.check_incremental(&list, expected);
                        continue;
                    }
                    match iface {
                        Iface::Conn => {
                            self.m.conn.record_us(done - started);
                            self.m.conn_in_window += in_window;
                        }
                        Iface::Http => {
                            self.m.http.record_us(done - started);
                            self.m.http_in_window += in_window;
                        }
                    }
                    self.m.check(&list, expected);
                }
                Err(e) => self.m.error = Some(format!("list over {iface:?}: {e:#}")),
            }
        }
    }

    /// One list (`since` a cursor, if not empty); with `measure`, also the
    /// answer's encoded size.
    async fn list(
        &mut self,
        iface: Iface,
        since: &str,
        measure: bool,
    ) -> anyhow::Result<(v1::ConversationList, usize)> {
        match iface {
            Iface::Conn => self.list_conn(since, measure).await,
            Iface::Http => {
                let api = self.http.as_ref().context("no HTTP client")?;
                let list = api.conversations_since(since).await?;
                // The server writes its body with the same serializer (axum
                // `Json`, uncompressed): the same bytes.
                let bytes = if measure { serde_json::to_vec(&list)?.len() } else { 0 };
                Ok((list, bytes))
            }
        }
    }

    /// `list_conversations` on the long connection.
    async fn list_conn(&mut self, since: &str, measure: bool) -> anyhow::Result<(v1::ConversationList, usize)> {
        let conn = self.conn.as_mut().context("no long connection")?;
        conn.next_id += 1;
        let id = conn.next_id;
        let body = Body::ListConversations(v1::ListConversations { since: since.to_owned() });
        conn.tx.send(&Frame { id, body: Some(body) }).await?;
        loop {
            let frame = tokio::time::timeout(ANSWER_TIMEOUT, conn.answers.recv())
                .await
                .context("no answer in time")?
                .context("the reader stopped")??;
            if frame.id != id {
                continue;
            }
            let bytes = if measure { ferry_proto::encode_frame(&frame).len() } else { 0 };
            return match frame {
                Frame { body: Some(Body::Conversations(list)), .. } => Ok((list, bytes)),
                Frame { body: Some(Body::Error(e)), .. } => bail!("{}: {}", e.code, e.message),
                _ => bail!("unexpected answer to list_conversations"),
            };
        }
    }

    /// Stops the reader and returns what the session measured.
    async fn finish(mut self) -> Measured {
        if let Some(conn) = self.conn.take() {
            conn.stop.cancel();
            self.m.pushes = conn.reader.await.unwrap_or_default();
        }
        self.m
    }
}

/// Reads the owner's long connection: times message pushes, passes the
/// rest (answers) on, until stopped or the connection ends (which the list
/// waiting for an answer then reports).
async fn read_loop(
    mut rx: ReadHalf,
    answers: mpsc::Sender<anyhow::Result<Frame>>,
    run_id: String,
    stop: CancellationToken,
) -> Pushes {
    let mut p = Pushes::default();
    loop {
        let read = tokio::select! {
            r = rx.recv() => r,
            _ = stop.cancelled() => return p,
        };
        let frame = match read {
            Ok(Some(f)) => f,
            Ok(None) => {
                let _ = answers.send(Err(anyhow::anyhow!("closed by the server"))).await;
                return p;
            }
            Err(e) => {
                let _ = answers.send(Err(e.into())).await;
                return p;
            }
        };
        match &frame.body {
            Some(Body::Message(m)) if frame.id == 0 => {
                p.n += 1;
                if let Some(due) = due_of(m, &run_id) {
                    p.latency.record_us(now_us().saturating_sub(due));
                }
            }
            _ if frame.id == 0 => {}
            _ => {
                if answers.send(Ok(frame)).await.is_err() {
                    return p;
                }
            }
        }
    }
}

impl Measured {
    fn check(&mut self, list: &v1::ConversationList, expected: &HashSet<String>) {
        let verdict = check_list(&list.conversations, expected);
        self.verdict(verdict);
    }

    fn check_incremental(&mut self, list: &v1::ConversationList, expected: &HashSet<String>) {
        let verdict = check_incremental(list, expected);
        self.verdict(verdict);
    }

    fn verdict(&mut self, verdict: Result<(), String>) {
        self.checked += 1;
        if let Err(why) = verdict {
            self.bad += 1;
            if self.bad_examples.len() < SHOWN_BAD {
                self.bad_examples.push(why);
            }
        }
    }
}

/// What every incremental answer must be: marked incremental, with a
/// cursor, every expected id exactly once in `conversation_ids`, and only
/// well-formed entries of those conversations.
fn check_incremental(list: &v1::ConversationList, expected: &HashSet<String>) -> Result<(), String> {
    if !list.incremental || list.cursor.is_empty() {
        return Err(format!("not an incremental answer (incremental {}, cursor {:?})", list.incremental, list.cursor));
    }
    let ids: HashSet<&str> = list.conversation_ids.iter().map(String::as_str).collect();
    if ids.len() != list.conversation_ids.len() || ids.len() != expected.len() {
        return Err(format!(
            "{} ids ({} distinct), {} expected",
            list.conversation_ids.len(),
            ids.len(),
            expected.len()
        ));
    }
    if let Some(stray) = ids.iter().find(|id| !expected.contains(**id)) {
        return Err(format!("{stray} is not one of the owner's conversations"));
    }
    for c in &list.conversations {
        if !expected.contains(&c.conversation_id) || c.name.is_empty() || c.preview.is_empty() || c.last_seq == 0 {
            return Err(format!(
                "bad incremental entry {}: name {:?}, preview {:?}, last_seq {}",
                c.conversation_id, c.name, c.preview, c.last_seq
            ));
        }
    }
    Ok(())
}

/// What every answer must be: exactly the `expected` conversations, each
/// with a name, a preview and a last seq (groups too: their last message is
/// the owner's text, not an event), none pinned, by `last_time` descending.
fn check_list(list: &[v1::Conversation], expected: &HashSet<String>) -> Result<(), String> {
    if list.len() != expected.len() {
        return Err(format!("{} conversations listed, {} expected", list.len(), expected.len()));
    }
    let mut seen = HashSet::with_capacity(list.len());
    let mut newer: Option<&v1::Conversation> = None;
    for (i, c) in list.iter().enumerate() {
        let id = &c.conversation_id;
        if !expected.contains(id) {
            return Err(format!("{id} (at {i}) is not one of the owner's conversations"));
        }
        if !seen.insert(id.as_str()) {
            return Err(format!("{id} is listed twice"));
        }
        if c.name.is_empty() || c.preview.is_empty() || c.last_seq == 0 {
            return Err(format!(
                "{id} (at {i}): name {:?}, preview {:?}, last_seq {} (want a name, a preview, last_seq >= 1)",
                c.name, c.preview, c.last_seq
            ));
        }
        if c.pinned {
            return Err(format!("{id} (at {i}) is pinned; nothing was pinned"));
        }
        if let Some(prev) = newer.filter(|p| p.last_time < c.last_time) {
            return Err(format!(
                "not by last_time descending: {id} (at {i}, last_time {}) after {} (last_time {})",
                c.last_time, prev.conversation_id, prev.last_time
            ));
        }
        newer = Some(c);
    }
    Ok(())
}

/// The due time a churn message of this run carries in its text.
fn due_of(m: &v1::Message, run_id: &str) -> Option<u64> {
    if !m.client_msg_id.starts_with(run_id) {
        return None;
    }
    let Some(v1::message_content::Kind::Text(t)) = m.content.as_ref()?.kind.as_ref() else { return None };
    t.text.split(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(id: &str, last_time: i64) -> v1::Conversation {
        v1::Conversation {
            conversation_id: id.into(),
            kind: "direct".into(),
            name: format!("peer of {id}"),
            preview: "hello".into(),
            last_seq: 1,
            last_time,
            ..Default::default()
        }
    }

    fn expected(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_good_list_passes() {
        let list = [conv("d_1_2", 30), conv("d_1_3", 20), conv("g_7", 20)];
        assert_eq!(check_list(&list, &expected(&["d_1_2", "d_1_3", "g_7"])), Ok(()));
    }

    #[test]
    fn every_violation_is_caught() {
        let want = expected(&["d_1_2", "d_1_3"]);
        let good = || vec![conv("d_1_2", 30), conv("d_1_3", 20)];
        let fails = |list: Vec<v1::Conversation>, what: &str| {
            let err = check_list(&list, &want).expect_err(what);
            assert!(err.contains(what), "{err} should mention {what}");
        };
        fails(vec![conv("d_1_2", 30)], "1 conversations listed, 2 expected");
        fails(vec![conv("d_1_2", 30), conv("d_1_4", 20)], "not one of the owner's");
        fails(vec![conv("d_1_2", 30), conv("d_1_2", 20)], "listed twice");
        fails(vec![conv("d_1_3", 20), conv("d_1_2", 30)], "not by last_time descending");
        let mut list = good();
        list[1].preview.clear();
        fails(list, "preview \"\"");
        let mut list = good();
        list[0].name.clear();
        fails(list, "name \"\"");
        let mut list = good();
        list[0].last_seq = 0;
        fails(list, "last_seq 0");
        let mut list = good();
        list[1].pinned = true;
        fails(list, "pinned");
    }

    #[test]
    fn incremental_answers_are_checked() {
        let want = expected(&["d_1_2", "d_1_3"]);
        let good = || v1::ConversationList {
            conversations: vec![conv("d_1_3", 20)],
            cursor: "5.0".into(),
            incremental: true,
            conversation_ids: vec!["d_1_2".into(), "d_1_3".into()],
        };
        assert_eq!(check_incremental(&good(), &want), Ok(()));
        let fails = |list: v1::ConversationList, what: &str| {
            let err = check_incremental(&list, &want).expect_err(what);
            assert!(err.contains(what), "{err} should mention {what}");
        };
        fails(v1::ConversationList { incremental: false, ..good() }, "not an incremental answer");
        fails(v1::ConversationList { conversation_ids: vec!["d_1_2".into()], ..good() }, "1 ids");
        fails(v1::ConversationList { conversation_ids: vec!["d_1_2".into(), "d_1_9".into()], ..good() }, "d_1_9");
        fails(v1::ConversationList { conversations: vec![conv("d_1_9", 1)], ..good() }, "bad incremental entry");
    }
}
