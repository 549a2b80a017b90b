//! `mixed`: C connected clients, a fraction of them active, doing at a
//! total rate a mix of 1:1 sends, group sends (groups of Zipf-distributed
//! sizes from 3 to 2,000 members drawn from all clients), read marks and
//! reconnects (then a resync). Latency per operation, slow-consumer kicks,
//! and the correctness check over every conversation: online members must
//! get every acked message live; a client that reconnected pulls what it
//! missed, so it too must end up with every message exactly once.

use anyhow::{Context as _, bail};

use super::{Outcome, Target, client, direct_conv, messaging};
use crate::{
    engine::{Expect, OpsSpec, splitmix64},
    setup,
};

/// Largest and smallest group.
const GROUP_MAX: usize = 2000;
const GROUP_MIN: usize = 3;
/// 1:1 partners of each active client.
const PEERS: usize = 3;

/// The command line of `mixed`.
pub(super) struct Params<'a> {
    pub clients: usize,
    pub active: f64,
    pub rate: f64,
    pub groups: usize,
    pub mix: &'a str,
    pub size: usize,
}

pub(super) async fn mixed(t: &Target, p: &Params<'_>) -> anyhow::Result<Outcome> {
    let n = p.clients;
    if n < GROUP_MIN || !(p.active > 0.0 && p.active <= 1.0) || p.rate <= 0.0 {
        bail!("need --clients >= {GROUP_MIN}, 0 < --active <= 1 and --rate > 0");
    }
    let weights = parse_mix(p.mix)?;
    let (mut state, users) = t.users(n).await?;

    // Groups, cached in the state file like the users.
    let mut member_of: Vec<Vec<String>> = vec![Vec::new(); n];
    for g in 0..p.groups {
        let members = group_members(g, p.groups, n);
        let res = setup::ensure_group(&mut state, &t.server, &format!("mixed-{n}-{}-{g}", p.groups), &members).await;
        state.save(&t.state)?;
        let group = res?;
        for &m in &members {
            member_of[m].push(group.conv.clone());
        }
    }

    // Active clients and their 1:1 partners; every client tracks every
    // conversation it is in.
    let active = ((n as f64 * p.active).round() as usize).clamp(1, n);
    let mut tracked = member_of.clone();
    let mut peers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for a in 0..active {
        for j in 0..PEERS.min(n - 1) {
            let q = (a + 1 + (splitmix64((a as u64) << 8 | j as u64) % (n as u64 - 1)) as usize) % n;
            if q != a && !peers[a].contains(&q) {
                peers[a].push(q);
                let conv = direct_conv(users[a].id, users[q].id);
                tracked[a].push(conv.clone());
                tracked[q].push(conv);
            }
        }
    }
    let per_client = p.rate / active as f64;
    let mut clients = Vec::with_capacity(n);
    let mut conversations = std::collections::BTreeSet::new();
    for (i, u) in users.iter().enumerate() {
        let mut convs = std::mem::take(&mut tracked[i]);
        convs.sort_unstable();
        convs.dedup();
        conversations.extend(convs.iter().cloned());
        let expect = convs.into_iter().map(|conv| Expect { conv, after_seq: None }).collect();
        let mut c = client(i, u, None, expect);
        if i < active {
            c.ops = Some(OpsSpec {
                rate: per_client,
                weights,
                peers: peers[i].iter().map(|&q| users[q].id).collect(),
                groups: member_of[i].clone(),
                size: p.size,
            });
        }
        clients.push(c);
    }
    let mut spec = t.spec(clients);
    spec.track_last = true;
    let params = serde_json::json!({
        "clients": n, "active": active, "rate": p.rate, "groups": p.groups, "mix": weights, "size": p.size
    });
    messaging::messaging_outcome(t, "mixed", params, spec, |o, r| {
        o.fig("active_clients", active as f64);
        o.fig("conversations", conversations.len() as f64);
        o.fig("mark_reads", r.mark_reads as f64);
        o.fig("reconnects", r.reconnects as f64);
        o.fig("ops_skipped", r.ops_skipped as f64);
        o.fig("slow_consumer_kicks", r.kicks as f64);
        o.lat("send_to_deliver_direct", &r.deliver_direct);
        o.lat("send_to_deliver_group", &r.deliver_group);
        // Over every conversation, 1:1 included, it says little here.
        o.latency.remove("send_to_last_member");
        let groups: Vec<_> = r.last_member.iter().filter(|m| m.0.starts_with("g_")).cloned().collect();
        o.lat("send_to_last_member_group", &messaging::last_member(&groups));
        o.lat("mark_read_ack", &r.mark_read);
        o.lat("reconnect_to_synced", &r.reconnect);
        if r.kicks > 0 {
            o.fail(format!("{} healthy clients were kicked (see errors for the reasons)", r.kicks));
        }
    })
    .await
}

/// `direct,group,read,reconnect` weights.
fn parse_mix(mix: &str) -> anyhow::Result<[f64; 4]> {
    let v: Vec<f64> = mix.split(',').map(|w| w.trim().parse::<f64>()).collect::<Result<_, _>>().context("--mix")?;
    let w: [f64; 4] = v.try_into().ok().context("--mix needs four weights: direct,group,read,reconnect")?;
    if w.iter().any(|x| *x < 0.0) || w.iter().sum::<f64>() <= 0.0 {
        bail!("--mix weights must be >= 0 and not all 0");
    }
    Ok(w)
}

/// The size of group `g` of `groups`: the Zipf (P(k) ∝ 1/k) quantile at
/// the group's rank, so the sizes are log-uniform from 2,000 (group 0) down
/// to 3 (the last group), capped at the number of clients.
fn group_size(g: usize, groups: usize, clients: usize) -> usize {
    let hi = GROUP_MAX.min(clients) as f64;
    let lo = GROUP_MIN.min(clients) as f64;
    let u = 1.0 - g as f64 / (groups.max(2) - 1) as f64;
    (lo * (hi / lo).powf(u)).round() as usize
}

/// The members of group `g` (user indexes, the owner first): a
/// deterministic sample of all clients, so a cached group matches.
fn group_members(g: usize, groups: usize, clients: usize) -> Vec<usize> {
    let size = group_size(g, groups, clients);
    let mut all: Vec<usize> = (0..clients).collect();
    let mut h = splitmix64(g as u64 ^ (clients as u64) << 32);
    // Partial Fisher–Yates: the first `size` entries are the sample.
    for i in 0..size {
        h = splitmix64(h);
        let j = i + (h % (clients - i) as u64) as usize;
        all.swap(i, j);
    }
    all.truncate(size);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_sizes_span_three_to_two_thousand() {
        let sizes: Vec<usize> = (0..100).map(|g| group_size(g, 100, 19_000)).collect();
        assert_eq!((sizes[0], sizes[99]), (GROUP_MAX, GROUP_MIN), "{sizes:?}");
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
        let m = group_members(7, 10, 50);
        let mut d = m.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), m.len());
        assert_eq!(m, group_members(7, 10, 50));
        assert_eq!(group_size(0, 1, 5), 5);
    }

    #[test]
    fn mix_needs_four_weights() {
        assert_eq!(parse_mix("50,30,15,5").unwrap(), [50.0, 30.0, 15.0, 5.0]);
        assert!(parse_mix("1,2,3").is_err());
        assert!(parse_mix("0,0,0,0").is_err());
    }
}
