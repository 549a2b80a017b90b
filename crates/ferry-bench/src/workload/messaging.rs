//! `direct` and `fanout`: senders at a fixed rate (or a window in flight)
//! to 1:1 partners or to groups; throughput, latency and the correctness
//! check.

use std::collections::BTreeMap;

use anyhow::bail;

use super::{Outcome, Target, client, direct_conv, disk::DiskProbe, samples, start_monitor};
use crate::{
    engine::{Expect, SendSpec, SendTo, WorkerReport, WorkerSpec},
    procmon, setup, stats,
};

/// `pairs` senders and as many receivers; sender `p` sends round-robin to
/// receivers `p, p+1, …, p+K-1` (mod `pairs`), so each receiver hears from
/// K senders and there are `pairs × K` distinct conversations, each with one
/// sender (its acked seqs are contiguous and every one must reach the
/// receiver once).
pub(super) async fn direct(
    t: &Target,
    pairs: usize,
    convs_per_client: usize,
    rate: Option<f64>,
    size: usize,
    window: u32,
) -> anyhow::Result<Outcome> {
    let k = convs_per_client;
    if pairs == 0 || k == 0 || k > pairs {
        bail!("need 1 <= --convs-per-client <= --pairs");
    }
    let (_, users) = t.users(2 * pairs).await?;
    let per_sender = rate.map_or(0.0, |r| r / pairs as f64);
    let sender = |p: usize| &users[2 * p];
    let receiver = |p: usize| &users[2 * p + 1];
    let mut clients = Vec::new();
    for p in 0..pairs {
        let s = sender(p);
        let peers: Vec<usize> = (0..k).map(|j| (p + j) % pairs).collect();
        let to = peers.iter().map(|&q| SendTo::User(receiver(q).id)).collect();
        let expect =
            peers.iter().map(|&q| Expect { conv: direct_conv(s.id, receiver(q).id), after_seq: None }).collect();
        let send = SendSpec { to, rate: per_sender, window, size, max_msgs: 0 };
        clients.push(client(2 * p, s, Some(send), expect));
        // Receiver p hears from senders p, p-1, …, p-K+1.
        let r = receiver(p);
        let expect =
            (0..k).map(|j| Expect { conv: direct_conv(sender((p + pairs - j) % pairs).id, r.id), after_seq: None });
        clients.push(client(2 * p + 1, r, None, expect.collect()));
    }
    let spec = t.spec(clients);
    let params = serde_json::json!({
        "pairs": pairs, "convs_per_client": k, "rate": rate, "size": size, "window": window
    });
    messaging_outcome(t, "direct", params, spec, |o, _| o.fig("active_conversations", (pairs * k) as f64)).await
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
                to: vec![SendTo::Conversation(group.conv.clone())],
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
    messaging_outcome(t, "fanout", params, spec, |o, _| o.fig("receivers_per_message", (group_size - 1) as f64)).await
}

/// Runs a sending workload (direct, fanout) and reports throughput, latency,
/// the server's disk writes (and fsyncs) per acked message, and the
/// correctness check.
/// `extra` adds the workload's own figures (and failures) before the
/// verdict.
pub(super) async fn messaging_outcome(
    t: &Target,
    name: &str,
    params: serde_json::Value,
    spec: WorkerSpec,
    extra: impl FnOnce(&mut Outcome, &WorkerReport),
) -> anyhow::Result<Outcome> {
    let mon = start_monitor(t);
    let (probe_tx, probe_rx) = tokio::sync::oneshot::channel();
    let (t0, r) = t
        .execute(spec, |_| async move {
            // Called at the go signal, a little before t0: time for perf.
            let _ = probe_tx.send(DiskProbe::start(t).await);
            Ok(())
        })
        .await?;
    let samples = samples(&mon);
    let mut o = Outcome::new(name, params, t);
    if let Ok(Some(probe)) = probe_rx.await {
        probe.finish(&mut o, r.acked).await;
    }
    let dur = t.duration;
    o.fig("sent", r.sent as f64);
    o.fig("acked", r.acked as f64);
    // Rates count what arrived within the window; what the drain after it
    // brought in is in `acked` and `deliveries`.
    o.fig("acked_msgs_per_s", r.acked_in_window as f64 / dur);
    o.fig("deliveries", r.deliveries as f64);
    o.fig("deliveries_per_s", r.delivered_in_window as f64 / dur);
    if r.refused > 0 {
        o.fig("refused", r.refused as f64);
    }
    o.lat("send_to_ack", &r.ack);
    o.lat("send_to_deliver", &r.deliver);
    if !r.last_member.is_empty() {
        o.lat("send_to_last_member", &last_member(&r.last_member));
    }
    o.server = procmon::window(&samples, t0, t0 + t.duration_ms() * 1000);
    extra(&mut o, &r);
    let c = stats::check(&r.acked_ranges, &r.received, r.unacked);
    Ok(o.finish(&r, c))
}

/// Per message delivered to every (online) member of its conversation, the
/// latency to the slowest one. "Every member" is the most receivers any
/// message of that conversation reached.
pub(super) fn last_member(per_msg: &[(String, u64, u32, u64)]) -> stats::Hist {
    let mut by_msg: BTreeMap<(&str, u64), (u32, u64)> = BTreeMap::new();
    for (c, s, n, us) in per_msg {
        let e = by_msg.entry((c.as_str(), *s)).or_insert((0, 0));
        e.0 += n;
        e.1 = e.1.max(*us);
    }
    let mut full: BTreeMap<&str, u32> = BTreeMap::new();
    for ((c, _), (n, _)) in &by_msg {
        let f = full.entry(c).or_default();
        *f = (*f).max(*n);
    }
    let mut h = stats::Hist::default();
    for ((c, _), (n, us)) in &by_msg {
        if full.get(c) == Some(n) {
            h.record_us(*us);
        }
    }
    h
}
