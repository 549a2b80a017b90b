//! `fill`: a fresh group filled to G members one join at a time, with every
//! member online. Each join is a system message to every current member
//! (and a `changed` frame, coalesced per group), so the fill costs
//! G(G-1)/2 deliveries. The owner adds the members one HTTP request after
//! the other (the join latency); every member must get every system message
//! from its own join on, exactly once, and nobody may be kicked as a slow
//! consumer.
//!
//! The engine has no "stop now" signal, so the run ends the way a drain
//! does: the duration only guards the start (until the first push), then
//! the run ends once no frame arrived for `quiet`, longer than any pause
//! between two joins. A join stalling longer would end the run early; that
//! fails the run with its own reason.

use std::{collections::BTreeMap, time::Duration};

use anyhow::bail;
use ferry_client::HttpApi;
use ferry_proto::v1::{self, message_content::Kind};

use super::{Outcome, Target, client, samples, secs, sleep_until_us, start_monitor};
use crate::{
    engine::{Expect, now_us},
    procmon::{self, Monitor},
    setup::{self, BenchUser},
    stats::{self, Hist, RecvSummary, SeqRange},
};

/// Silence after which the run ends: longer than any pause between joins.
const QUIET: Duration = Duration::from_secs(5);
/// Hard limit on the run; the quiet rule ends it long before.
const HARD_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// Messages per page when reading the group's history back.
const PAGE: u32 = 1000;

/// What the owner's adds did.
#[derive(Default)]
struct Adds {
    joined: usize,
    latency: Hist,
    /// When the first add started and the last one ended (Unix µs).
    start_us: u64,
    end_us: u64,
    /// After the closing sample: the end of the CPU/RSS window.
    sampled_to_us: u64,
    /// The add that failed (the fill stops there), and why.
    failure: Option<String>,
}

/// The group's stream read back after the run.
struct History {
    /// User id → seq of the system message that added them.
    joined_at: BTreeMap<i64, u64>,
    first_add: u64,
    last: u64,
}

pub(super) async fn fill(t: &Target, g: usize, rate: Option<f64>) -> anyhow::Result<Outcome> {
    if g < 2 || rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        bail!("need --members >= 2 and --rate > 0");
    }
    let (_, users) = t.users(g).await?;
    // A group of its own per run: only the owner in it.
    let name = format!("fill-{g}-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let (id, conv) = setup::create_group(&t.server, &users[0], &name, Vec::new()).await?;
    let owner = HttpApi::new(&t.server)?.with_token(users[0].token.clone());

    // Everyone online first; a client simply hears nothing until its join.
    let clients = users
        .iter()
        .enumerate()
        .map(|(i, u)| client(i, u, None, vec![Expect { conv: conv.clone(), after_seq: None }]))
        .collect();
    let mut spec = t.spec(clients);
    // At a set rate the pause between joins is known; the quiet must exceed it.
    let quiet = rate.map_or(QUIET, |r| QUIET.max(Duration::from_secs_f64(2.0 / r + 1.0)));
    let scheduled = rate.map_or(Duration::ZERO, |r| Duration::from_secs_f64((g - 1) as f64 / r));
    spec.quiet_ms = quiet.as_millis() as u64;
    spec.duration_ms = quiet.max(scheduled).as_millis() as u64;
    spec.drain_max_ms = HARD_LIMIT.as_millis() as u64;
    let mon = start_monitor(t);
    let (adds_tx, adds_rx) = tokio::sync::oneshot::channel();
    let (owner_ref, users_ref, mon_ref) = (&owner, &users, &mon);
    let (_, mut r) = t
        .execute(spec, |t0| async move {
            let _ = adds_tx.send(add_all(owner_ref, id, users_ref, rate, t0, mon_ref).await);
            Ok(())
        })
        .await?;
    let samples = samples(&mon);
    let adds = adds_rx.await?;
    let history = read_history(&owner, &conv).await;
    // Repeated runs must not reach groups.max_groups_per_user (dismissed
    // groups do not count); the clients are gone, so nothing is measured.
    let dismissed = owner.dismiss_group(id).await;

    let mut o = Outcome::new("fill", serde_json::json!({ "members": g, "rate": rate }), t);
    let fill_s = secs(adds.end_us.saturating_sub(adds.start_us)).max(1e-6);
    let joins = adds.joined as u64;
    o.fig("joins", joins as f64);
    o.fig("joins_per_s", joins as f64 / fill_s);
    o.fig("fill_s", fill_s);
    o.lat("join", &adds.latency);
    // Every member but the owner (the system messages are the owner's own)
    // hears its own join and every later one.
    let expected = joins * (joins + 1) / 2;
    o.fig("deliveries", r.deliveries as f64);
    o.fig("deliveries_expected", expected as f64);
    o.fig("deliveries_per_s", r.deliveries as f64 / fill_s);
    o.fig("slow_consumer_kicks", r.kicks as f64);
    o.server = procmon::window(&samples, adds.start_us, adds.sampled_to_us);
    o.note(
        "join = the owner's HTTP add, answered once its system message is committed; system messages \
         carry no due time, so the engine records no send→deliver latency for them"
            .into(),
    );
    if let Err(e) = dismissed {
        o.note(format!("could not dismiss the group {id} after the run: {e}"));
    }
    if let Some(why) = &adds.failure {
        o.fail(format!("only {joins} of {} joins went through: {why}", g - 1));
    }
    if r.kicks > 0 {
        o.fail(format!("{} members were kicked (see errors for the reasons)", r.kicks));
    }
    if r.deliveries != expected {
        o.fail(format!(
            "{} deliveries, {expected} expected (each member: its own join and the later ones)",
            r.deliveries
        ));
    }
    let c = match history {
        Ok(h) => check(&mut o, &h, &users, joins, quiet, std::mem::take(&mut r.received)),
        Err(e) => {
            o.fail(format!("could not read the group's history back: {e:#}"));
            stats::Correctness::default()
        }
    };
    Ok(o.finish(&r, c))
}

/// The owner adds `users[1..]` one at a time from t0 (at `rate` if set),
/// timing each add; stops at the first one that fails.
async fn add_all(
    api: &HttpApi,
    group: i64,
    users: &[BenchUser],
    rate: Option<f64>,
    t0: u64,
    mon: &Option<Monitor>,
) -> Adds {
    sleep_until_us(t0).await;
    let mut a = Adds { start_us: now_us(), ..Adds::default() };
    // Both ends sampled: a small fill is shorter than the sampling period.
    mon.as_ref().map(Monitor::take_sample);
    for (k, u) in users.iter().enumerate().skip(1) {
        if let Some(r) = rate {
            sleep_until_us(a.start_us + ((k - 1) as f64 * 1e6 / r) as u64).await;
        }
        let started = now_us();
        match api.invite(group, &[u.id]).await {
            Ok(added) if added.added == [u.id] => {
                a.latency.record_us(now_us() - started);
                a.joined += 1;
            }
            Ok(added) => {
                let pending = added.pending.len();
                a.failure = Some(format!("add {k} (user {}): added {:?}, {pending} pending", u.id, added.added));
                break;
            }
            Err(e) => {
                a.failure = Some(format!("add {k} (user {}): {e}", u.id));
                break;
            }
        }
    }
    a.end_us = now_us();
    mon.as_ref().map(Monitor::take_sample);
    a.sampled_to_us = now_us();
    a
}

/// Reads the group's stream back: which seq added whom.
async fn read_history(api: &HttpApi, conv: &str) -> anyhow::Result<History> {
    let mut h = History { joined_at: BTreeMap::new(), first_add: 0, last: 0 };
    loop {
        let batch = api.messages(conv, h.last, PAGE).await?;
        for m in &batch.messages {
            h.last = m.seq;
            if let Some(Kind::System(v1::System { event, target_ids, .. })) =
                m.content.as_ref().and_then(|c| c.kind.as_ref())
                && event == "members_added"
            {
                h.joined_at.extend(target_ids.iter().map(|&u| (u, m.seq)));
                h.first_add = if h.first_add == 0 { m.seq } else { h.first_add };
            }
        }
        if !batch.has_more || batch.messages.is_empty() {
            return Ok(h);
        }
    }
}

/// The correctness check against the stream: member `i` must hold exactly
/// the seqs from its own join to the last one (the owner: from the first
/// join), nothing before. Each (member, join seq) is checked as its own
/// stream, so `check` sees one acked range per member.
fn check(
    o: &mut Outcome,
    h: &History,
    users: &[BenchUser],
    joins: u64,
    quiet: Duration,
    received: Vec<RecvSummary>,
) -> stats::Correctness {
    if h.joined_at.len() as u64 != joins {
        o.fail(format!("the group's stream names {} joins, the owner made {joins}", h.joined_at.len()));
    }
    let mut acked = BTreeMap::new();
    let mut streams = Vec::new();
    // Members that got a message from before their join, and the first.
    let mut early = (0, String::new());
    for mut r in received {
        let i = r.client as usize;
        let from = if i == 0 { h.first_add } else { h.joined_at.get(&users[i].id).copied().unwrap_or(0) };
        if from == 0 {
            // Never joined (the fill stopped early): it must have heard nothing.
            if r.distinct > 0 {
                o.fail(format!("client {i} never joined but got {} messages", r.distinct));
            }
            continue;
        }
        if r.distinct > 0 && r.min < from {
            early.0 += 1;
            if early.1.is_empty() {
                early.1 = format!("client {i} got seq {} and joined at seq {from}", r.min);
            }
        }
        r.conv = format!("{} from seq {from}", r.conv);
        acked.insert(r.conv.clone(), SeqRange { min: from, max: h.last, count: h.last - from + 1 });
        streams.push(r);
    }
    if early.0 > 0 {
        o.fail(format!("{} members got messages from before their join (e.g. {})", early.0, early.1));
    }
    let heard = streams.iter().map(|r| r.max).max().unwrap_or(0);
    if joins > 0 && heard < h.last {
        o.fail(format!(
            "no member got seq {} (the last join) — did a join stall longer than the {} s quiet that ends the run?",
            h.last,
            quiet.as_secs_f64()
        ));
    }
    let mut c = stats::check(&acked, &streams, 0);
    c.conversations = 1;
    // One stream, one fan-out task: out of order is a fault here.
    if c.reordered > 0 {
        o.fail(format!("{} pushes arrived out of seq order", c.reordered));
    }
    c
}
