//! `direct` and `fanout`: senders at a fixed rate (or a window in flight)
//! to 1:1 partners or to groups; throughput, latency and the correctness
//! check.

use std::collections::BTreeMap;

use anyhow::bail;

use super::{Outcome, Target, client, direct_conv, samples, start_monitor};
use crate::{
    engine::{Expect, SendSpec, SendTo, WorkerSpec},
    procmon, setup, stats,
};

pub(super) async fn direct(
    t: &Target,
    pairs: usize,
    rate: Option<f64>,
    size: usize,
    window: u32,
) -> anyhow::Result<Outcome> {
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
pub(super) async fn fanout(
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
