//! `sync`: clients offline while a backlog fills their group, then
//! reconnecting together and pulling until caught up.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};

use super::{Outcome, Target, client, samples, secs, start_monitor};
use crate::{
    engine::{Expect, SendSpec, SendTo},
    procmon::{self, Monitor},
    runner, setup, stats,
};

pub(super) async fn sync(t: &Target, backlog: u64, n: usize) -> anyhow::Result<Outcome> {
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
    let send = SendSpec {
        to: vec![SendTo::Conversation(group.conv.clone())],
        rate: 0.0,
        window: 64,
        size: 100,
        max_msgs: backlog,
    };
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
