//! `calls`: call signaling under load (docs/PROTOCOL.md §12). P pairs of
//! bench users (caller `2i`, callee `2i + 1`), each on a long connection of
//! its own, place video calls back to back until `--duration` is over:
//!
//! ```text
//! caller: invite {sdp_offer}       → call_ack {call_id}
//! callee:   ← incoming; ringing    → call_ack     caller: ← ringing
//! callee: accept {sdp_answer}      → call_ack     caller: ← accepted
//! caller: ice × K                  → call_ack × K callee: ← ice × K
//! callee: ice × K                  → call_ack × K caller: ← ice × K
//! caller: hangup                   → call_ack {ended: completed}
//!                                                 callee: ← ended
//! ```
//!
//! The offer and answer are dummy SDPs of `--sdp-bytes` (a real one with a
//! few codecs and candidates is 2–4 KB). One task drives both ends of a
//! pair, so each step waits for the last: the figures are per-call
//! latencies under the load of every pair at once, not what one pair could
//! pipeline.
//!
//! Measured: call setup (invite sent → `accepted` read at the caller), ring
//! (invite sent → `incoming` read at the callee), the round trip of the
//! invite, ringing, accept and hangup requests each (sent → `call_ack`;
//! the hangup's includes queueing the call log), ICE relay (candidate sent → its
//! event read at the peer; includes the task's turn-taking between the two
//! sockets), and calls/s (calls completed within the window).
//!
//! Checked: every call ends `completed`/`hung_up` on both sides, and leaves
//! exactly one call-log message (its id, outcome `completed`, the caller
//! as caller) in its pair's conversation, read back by pulling after the
//! seq the conversation had before the run. A call still in progress at the
//! end of the window is finished (and checked) but not counted in calls/s.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    time::{Duration, Instant},
};

use anyhow::bail;
use ferry_client::conn::RawConnection;
use ferry_proto::{
    Body, Frame,
    v1::{self, call_event::Event, call_request::Op, message_content::Kind},
};
use futures_util::{StreamExt as _, stream};

use super::{Outcome, Target, direct_conv, samples, start_monitor};
use crate::{
    engine::{WorkerReport, now_us},
    procmon,
    setup::BenchUser,
    stats::{Correctness, Hist},
};

/// How long one step may wait for its answer or event.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the check waits for the last call logs to be written.
const LOG_WAIT: Duration = Duration::from_secs(30);
/// Messages per page when reading a conversation back.
const PAGE: u32 = 1000;
/// Violations described in full (the rest are counted).
const SHOWN: usize = 5;

/// The command line of `calls`.
pub(super) struct Params {
    pub pairs: usize,
    pub ice: usize,
    pub sdp_bytes: usize,
}

/// What one pair measured.
#[derive(Default)]
struct Tally {
    /// Calls that ended completed on both sides.
    completed: u64,
    /// Of those, the ones whose hangup was answered within the window.
    completed_in_window: u64,
    setup: Hist,
    ring: Hist,
    /// Request → `call_ack`, per request kind.
    invite_rtt: Hist,
    ringing_rtt: Hist,
    accept_rtt: Hist,
    hangup_rtt: Hist,
    ice: Hist,
    /// Ids of every call placed, in order.
    placed: Vec<String>,
    /// Calls that ended otherwise, as `outcome/reason` (first few).
    bad_ends: Vec<String>,
    bad_end_count: u64,
    /// The step that failed (the pair stops there).
    failure: Option<String>,
}

/// One end of a pair: its connection, and the call events that arrived
/// while it waited for something else.
struct End {
    conn: RawConnection,
    events: VecDeque<(String, Event, Instant)>,
}

impl End {
    /// Sends a call request and waits for its `call_ack`, timing the round
    /// trip.
    async fn call(&mut self, call_id: &str, op: Op, rtt: &mut Hist) -> anyhow::Result<v1::CallAck> {
        let sent = Instant::now();
        let id = self.send(call_id, op).await?;
        let ack = self.answer(id).await?;
        rtt.record_us(sent.elapsed().as_micros() as u64);
        Ok(ack)
    }

    async fn send(&mut self, call_id: &str, op: Op) -> anyhow::Result<u64> {
        let request = v1::CallRequest { call_id: call_id.to_owned(), op: Some(op) };
        Ok(self.conn.send_body(Body::Call(request)).await?)
    }

    /// The `call_ack` answering request `id`.
    async fn answer(&mut self, id: u64) -> anyhow::Result<v1::CallAck> {
        loop {
            let Some(frame) = self.pump().await? else { continue };
            if frame.id != id {
                continue;
            }
            return match frame.body {
                Some(Body::CallAck(ack)) => Ok(ack),
                Some(Body::Error(e)) => bail!("refused: {} ({})", e.code, e.message),
                other => bail!("expected call_ack, got {other:?}"),
            };
        }
    }

    /// The next call event of `call_id`, and when it was read.
    async fn event(&mut self, call_id: &str) -> anyhow::Result<(Event, Instant)> {
        loop {
            if let Some(i) = self.events.iter().position(|(id, _, _)| id == call_id) {
                let (_, event, at) = self.events.remove(i).expect("position is in range");
                return Ok((event, at));
            }
            if let Some(frame) = self.pump().await? {
                bail!("unexpected answer {frame:?}");
            }
        }
    }

    /// Reads one frame: a push is kept aside (call events queued, others,
    /// such as the call logs, passed over) and gives `None`; an answer is
    /// returned.
    async fn pump(&mut self) -> anyhow::Result<Option<Frame>> {
        let frame = match self.conn.recv_timeout(STEP_TIMEOUT).await {
            Ok(Some(frame)) => frame,
            Ok(None) => bail!("connection closed by the server"),
            Err(ferry_client::ClientError::Timeout) => bail!("timeout: nothing within {STEP_TIMEOUT:?}"),
            Err(e) => bail!("connection: {e}"),
        };
        match frame {
            Frame { id: 0, body: Some(Body::CallEvent(e)) } => match e.event {
                Some(event) => self.events.push_back((e.call_id, event, Instant::now())),
                None => bail!("call_event without an event"),
            },
            Frame { id: 0, body: Some(Body::Error(e)) } if e.fatal => bail!("fatal error: {}", e.code),
            Frame { id: 0, .. } => {}
            frame => return Ok(Some(frame)),
        }
        Ok(None)
    }
}

pub(super) async fn calls(t: &Target, p: &Params) -> anyhow::Result<Outcome> {
    if p.pairs == 0 {
        bail!("need --pairs >= 1");
    }
    let (_, users) = t.users(2 * p.pairs).await?;
    let params = serde_json::json!({"pairs": p.pairs, "ice": p.ice, "sdp_bytes": p.sdp_bytes});
    let mut o = Outcome::new("calls", params, t);
    let offer = dummy_sdp("offer", p.sdp_bytes);
    let answer = dummy_sdp("answer", p.sdp_bytes);

    // Everyone connects first; each pair notes where its conversation was.
    let url = t.conn_url();
    let connected: Vec<anyhow::Result<(End, End, u64)>> = stream::iter(users.chunks(2))
        .map(|pair| {
            let url = url.clone();
            async move {
                let mut caller = connect(&url, &pair[0]).await?;
                let callee = connect(&url, &pair[1]).await?;
                let base = max_seq(&mut caller.conn, &direct_conv(pair[0].id, pair[1].id)).await?;
                Ok((caller, callee, base))
            }
        })
        // In order: the results are matched with the pairs below.
        .buffered(t.connect_concurrency.max(1))
        .collect()
        .await;
    let mut pairs = Vec::with_capacity(p.pairs);
    let mut connect_failed = 0;
    for (c, pair) in connected.into_iter().zip(users.chunks(2)) {
        match c {
            Ok((caller, callee, base)) => pairs.push((caller, callee, base, pair[0].clone(), pair[1].clone())),
            Err(e) => {
                connect_failed += 2;
                o.errors.entry(format!("connect: {e:#}")).and_modify(|n| *n += 1).or_insert(1);
            }
        }
    }

    let mon = start_monitor(t);
    let t0 = now_us();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(t.duration);
    let ice = p.ice;
    let runs = pairs.into_iter().map(|(caller, callee, base, a, b)| {
        let (offer, answer) = (offer.clone(), answer.clone());
        tokio::spawn(async move {
            let mut pair = (caller, callee);
            let tally = run_pair(&mut pair, b.id, &offer, &answer, ice, end).await;
            (pair, tally, base, a, b)
        })
    });
    let mut finished = Vec::new();
    for run in runs.collect::<Vec<_>>() {
        finished.push(run.await?);
    }
    let t1 = now_us();
    let window = start.elapsed().min(Duration::from_secs_f64(t.duration)).as_secs_f64();
    o.server = procmon::window(&samples(&mon), t0, t1);

    // Read every pair's conversation back.
    let checks: Vec<(Tally, LogCheck)> = stream::iter(finished)
        .map(|((mut caller, _callee), tally, base, a, b)| async move {
            let check = check_logs(&mut caller.conn, &direct_conv(a.id, b.id), base, &tally.placed, a.id).await;
            (tally, check)
        })
        .buffer_unordered(64)
        .collect()
        .await;

    let mut total = Tally::default();
    let mut logs = LogCheck::default();
    let mut failures = Vec::new();
    for (tally, check) in checks {
        total.completed += tally.completed;
        total.completed_in_window += tally.completed_in_window;
        total.setup.merge(&tally.setup);
        total.ring.merge(&tally.ring);
        total.invite_rtt.merge(&tally.invite_rtt);
        total.ringing_rtt.merge(&tally.ringing_rtt);
        total.accept_rtt.merge(&tally.accept_rtt);
        total.hangup_rtt.merge(&tally.hangup_rtt);
        total.ice.merge(&tally.ice);
        total.placed.extend(tally.placed);
        total.bad_end_count += tally.bad_end_count;
        total.bad_ends.extend(tally.bad_ends);
        failures.extend(tally.failure);
        logs.merge(check);
    }

    o.fig("pairs", p.pairs as f64);
    o.fig("calls_placed", total.placed.len() as f64);
    o.fig("calls_completed", total.completed as f64);
    o.fig("calls_per_s", total.completed_in_window as f64 / window.max(1e-9));
    let signals_per_call = 4 + 2 * p.ice as u64; // invite, ringing, accept, hangup, ICE
    o.fig("call_requests_per_s", (total.completed_in_window * signals_per_call) as f64 / window.max(1e-9));
    o.fig("call_logs_read_back", logs.found as f64);
    o.lat("call_setup", &total.setup);
    o.lat("ring", &total.ring);
    o.lat("rtt_invite", &total.invite_rtt);
    o.lat("rtt_ringing", &total.ringing_rtt);
    o.lat("rtt_accept", &total.accept_rtt);
    o.lat("rtt_hangup", &total.hangup_rtt);
    o.lat("ice_relay", &total.ice);
    o.note(format!(
        "one task drives both ends of a pair, one step after the other; SDPs of {} bytes, {} ICE candidates each way",
        p.sdp_bytes, p.ice
    ));
    if t.procs > 1 {
        o.note("calls runs in one process: --procs is not used".into());
    }

    let mut c = Correctness { conversations: p.pairs as u64, ..Default::default() };
    c.connection_failed(connect_failed, "could not connect");
    let stopped = failures.len();
    for f in failures.iter().take(SHOWN) {
        o.fail(format!("a pair stopped: {f}"));
    }
    if stopped > SHOWN {
        o.fail(format!("{} more pairs stopped", stopped - SHOWN));
    }
    if total.bad_end_count > 0 {
        o.fail(format!("{} calls did not end completed/hung_up: {:?}", total.bad_end_count, total.bad_ends));
    }
    for v in &logs.violations {
        c.violation(v.clone());
    }
    c.lost = logs.missing;
    c.duplicated = logs.duplicated;
    if logs.unexpected > 0 {
        o.fail(format!("{} call logs of calls this run did not place, or of another outcome", logs.unexpected));
    }
    if total.placed.is_empty() && connect_failed == 0 {
        o.fail("no call was placed".into());
    }
    let errors = std::mem::take(&mut o.errors);
    let mut o = o.finish(&WorkerReport::default(), c);
    o.errors = errors;
    Ok(o)
}

async fn connect(url: &str, user: &BenchUser) -> anyhow::Result<End> {
    let (conn, _) = RawConnection::connect(url, false, &user.token).await?;
    Ok(End { conn, events: VecDeque::new() })
}

/// The last seq of `conversation` as `conn`'s user lists it (0: none yet).
async fn max_seq(conn: &mut RawConnection, conversation: &str) -> anyhow::Result<u64> {
    match conn.request(Body::ListConversations(v1::ListConversations::default())).await? {
        Body::Conversations(list) => {
            Ok(list.conversations.iter().find(|c| c.conversation_id == conversation).map_or(0, |c| c.max_seq))
        }
        other => bail!("expected conversations, got {}", ferry_client::conn::body_name(&other)),
    }
}

/// Calls back to back until `end`; stops at the first step that fails.
async fn run_pair(
    (caller, callee): &mut (End, End),
    callee_id: i64,
    offer: &str,
    answer: &str,
    ice: usize,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < end {
        if let Err(e) = one_call(caller, callee, callee_id, offer, answer, ice, &mut tally, end).await {
            tally.failure = Some(format!("{e:#}"));
            break;
        }
    }
    tally
}

#[allow(clippy::too_many_arguments)] // one call's steps, each argument used once
async fn one_call(
    caller: &mut End,
    callee: &mut End,
    callee_id: i64,
    offer: &str,
    answer: &str,
    ice: usize,
    tally: &mut Tally,
    end: Instant,
) -> anyhow::Result<()> {
    let invite = v1::CallInvite { callee_id, media: "video".into(), sdp_offer: offer.to_owned(), ..Default::default() };
    let placed = Instant::now();
    let ack = caller.call("", Op::Invite(invite), &mut tally.invite_rtt).await?;
    let call = ack.call_id;
    tally.placed.push(call.clone());
    if let Some(e) = ack.ended {
        // Busy or unavailable: the call never rang.
        return Err(bad_end(tally, &e));
    }

    match callee.event(&call).await? {
        (Event::Incoming(_), at) => tally.ring.record_us(at.duration_since(placed).as_micros() as u64),
        (other, _) => bail!("callee expected incoming, got {other:?}"),
    }
    callee.call(&call, Op::Ringing(v1::Empty {}), &mut tally.ringing_rtt).await?;
    expect(caller, &call, |e| matches!(e, Event::Ringing(_)), "ringing").await?;
    let accept = v1::CallAccept { sdp_answer: answer.to_owned() };
    callee.call(&call, Op::Accept(accept), &mut tally.accept_rtt).await?;
    let at = expect(caller, &call, |e| matches!(e, Event::Accepted(_)), "accepted").await?;
    tally.setup.record_us(at.duration_since(placed).as_micros() as u64);

    trickle(caller, callee, &call, ice, "c", tally).await?;
    trickle(callee, caller, &call, ice, "e", tally).await?;

    let ack = caller.call(&call, Op::Hangup(v1::Empty {}), &mut tally.hangup_rtt).await?;
    let in_window = Instant::now() <= end;
    let Some(ended) = ack.ended else { bail!("the hangup's answer carries no end") };
    let pushed = match callee.event(&call).await? {
        (Event::Ended(e), _) => e,
        (other, _) => bail!("callee expected ended, got {other:?}"),
    };
    for e in [&ended, &pushed] {
        if e.outcome != "completed" || e.reason != "hung_up" {
            return Err(bad_end(tally, e));
        }
    }
    tally.completed += 1;
    tally.completed_in_window += u64::from(in_window);
    Ok(())
}

/// `from` sends `n` candidates (pipelined), `to` reads them in order.
async fn trickle(
    from: &mut End,
    to: &mut End,
    call: &str,
    n: usize,
    tag: &str,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let mut sent = Vec::with_capacity(n);
    for i in 0..n {
        let candidate = dummy_candidate(tag, i);
        sent.push((Instant::now(), from.send(call, Op::Ice(v1::CallIce { candidate })).await?));
    }
    for (i, (at, _)) in sent.iter().enumerate() {
        match to.event(call).await? {
            (Event::Ice(c), got) if c.candidate == dummy_candidate(tag, i) => {
                tally.ice.record_us(got.duration_since(*at).as_micros() as u64)
            }
            (other, _) => bail!("expected ICE candidate {i}, got {other:?}"),
        }
    }
    // Their round trips would include the peer's reads: not timed.
    for (_, id) in sent {
        from.answer(id).await?;
    }
    Ok(())
}

/// Waits for the event of `call` that `want` accepts; when it was read.
async fn expect(end: &mut End, call: &str, want: impl Fn(&Event) -> bool, what: &str) -> anyhow::Result<Instant> {
    match end.event(call).await? {
        (e, at) if want(&e) => Ok(at),
        (other, _) => bail!("expected {what}, got {other:?}"),
    }
}

/// Counts a call that ended otherwise than completed/hung_up; the pair
/// stops there (the same cause would end every later call too).
fn bad_end(tally: &mut Tally, e: &v1::CallEnded) -> anyhow::Error {
    tally.bad_end_count += 1;
    if tally.bad_ends.len() < SHOWN {
        tally.bad_ends.push(format!("{}/{}", e.outcome, e.reason));
    }
    anyhow::anyhow!("a call ended {}/{}", e.outcome, e.reason)
}

/// What reading the conversations back found.
#[derive(Default)]
struct LogCheck {
    found: u64,
    missing: u64,
    duplicated: u64,
    /// Call logs of calls not placed by this run, or not `completed` by
    /// the caller.
    unexpected: u64,
    violations: Vec<String>,
}

impl LogCheck {
    fn merge(&mut self, other: LogCheck) {
        self.found += other.found;
        self.missing += other.missing;
        self.duplicated += other.duplicated;
        self.unexpected += other.unexpected;
        let room = SHOWN.saturating_sub(self.violations.len());
        self.violations.extend(other.violations.into_iter().take(room));
    }
}

/// Pulls `conversation` after `base` until every call in `placed` has its
/// log (or [`LOG_WAIT`] passed) and compares.
async fn check_logs(
    conn: &mut RawConnection,
    conversation: &str,
    base: u64,
    placed: &[String],
    caller: i64,
) -> LogCheck {
    let deadline = Instant::now() + LOG_WAIT;
    loop {
        let logs = match pull_logs(conn, conversation, base).await {
            Ok(logs) => logs,
            Err(e) => {
                return LogCheck {
                    missing: placed.len() as u64,
                    violations: vec![format!("{conversation}: reading back failed: {e:#}")],
                    ..Default::default()
                };
            }
        };
        if logs.len() >= placed.len() || Instant::now() >= deadline {
            return compare(conversation, &logs, placed, caller);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every call log after `base`, oldest first.
async fn pull_logs(conn: &mut RawConnection, conversation: &str, base: u64) -> anyhow::Result<Vec<v1::CallLog>> {
    let mut logs = Vec::new();
    let mut after = base;
    loop {
        let pull = v1::PullMessages { conversation_id: conversation.to_owned(), after_seq: after, limit: PAGE };
        let batch = match conn.request(Body::Pull(pull)).await? {
            Body::Messages(batch) => batch,
            other => bail!("expected messages, got {}", ferry_client::conn::body_name(&other)),
        };
        let Some(last) = batch.messages.last().map(|m| m.seq) else { return Ok(logs) };
        logs.extend(batch.messages.into_iter().filter_map(|m| match m.content?.kind? {
            Kind::CallLog(log) => Some(log),
            _ => None,
        }));
        if !batch.has_more || last <= after {
            return Ok(logs);
        }
        after = last;
    }
}

fn compare(conversation: &str, logs: &[v1::CallLog], placed: &[String], caller: i64) -> LogCheck {
    let mut check = LogCheck { found: logs.len() as u64, ..Default::default() };
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for log in logs {
        *seen.entry(log.call_id.as_str()).or_default() += 1;
        if log.outcome != "completed" || log.caller_id != caller || !placed.contains(&log.call_id) {
            check.unexpected += 1;
            check.violations.push(format!("{conversation}: unexpected call log {log:?}"));
        }
    }
    let mut missing = BTreeMap::new();
    for id in placed {
        match seen.get(id.as_str()) {
            None => {
                check.missing += 1;
                missing.insert(id.clone(), ());
            }
            Some(1) => {}
            Some(n) => {
                check.duplicated += u64::from(n - 1);
                check.violations.push(format!("{conversation}: {n} call logs for call {id}"));
            }
        }
    }
    if !missing.is_empty() {
        check.violations.push(format!("{conversation}: {} calls without a call log", missing.len()));
    }
    check.violations.truncate(SHOWN);
    check
}

/// A dummy SDP of about `bytes` bytes, shaped like a browser's: a session
/// header, then attribute and candidate lines until the size is reached.
fn dummy_sdp(kind: &str, bytes: usize) -> String {
    let mut sdp = format!(
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=ferry-bench {kind}\r\nt=0 0\r\n\
         a=group:BUNDLE 0 1\r\na=msid-semantic: WMS\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF 111 63 103 104 9 0 8 106 105 13 110 112 113 126\r\n"
    );
    let mut i = 0;
    while sdp.len() < bytes {
        sdp.push_str(&format!(
            "a=candidate:{i} 1 udp 2122260223 192.168.1.{} {} typ host generation 0 network-id 1\r\n",
            i % 250 + 1,
            50_000 + i
        ));
        i += 1;
    }
    sdp.truncate(bytes.max(1));
    sdp
}

/// A trickled candidate as a browser's `RTCIceCandidateInit` JSON.
fn dummy_candidate(tag: &str, i: usize) -> String {
    format!(
        r#"{{"candidate":"candidate:{i} 1 udp 2122260223 10.0.{tag}.{} {} typ host generation 0","sdpMid":"0","sdpMLineIndex":0}}"#,
        i % 250,
        40_000 + i
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_sdps_have_the_size_asked_for() {
        for bytes in [200, 3000, 4096] {
            let sdp = dummy_sdp("offer", bytes);
            assert_eq!(sdp.len(), bytes);
            assert!(sdp.starts_with("v=0\r\n"));
        }
        assert_ne!(dummy_candidate("c", 1), dummy_candidate("e", 1));
    }

    #[test]
    fn the_log_check_counts_missing_duplicated_and_foreign_logs() {
        let log = |id: &str, outcome: &str| v1::CallLog {
            call_id: id.into(),
            outcome: outcome.into(),
            caller_id: 1,
            media: "video".into(),
            duration_ms: 0,
        };
        let placed = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let ok = compare("d_1_2", &[log("a", "completed"), log("b", "completed"), log("c", "completed")], &placed, 1);
        assert_eq!((ok.found, ok.missing, ok.duplicated, ok.unexpected), (3, 0, 0, 0));
        let bad = compare("d_1_2", &[log("a", "completed"), log("a", "completed"), log("x", "busy")], &placed, 1);
        assert_eq!((bad.missing, bad.duplicated, bad.unexpected), (2, 1, 1));
        assert!(!bad.violations.is_empty());
    }
}
