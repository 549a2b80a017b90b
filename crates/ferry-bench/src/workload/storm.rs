//! `storm`: clients in pairs with light traffic while the server is stopped
//! and started again; how long until they are all back and synced.

use std::time::Duration;

use anyhow::Context as _;

use super::{Outcome, Target, client, direct_conv, restart, secs};
use crate::{
    engine::{Expect, SendSpec, SendTo, now_us},
    procmon::{self, Monitor},
    stats,
};

pub(super) async fn storm(
    t: &Target,
    n: usize,
    restart_cmd: &str,
    rate: Option<f64>,
    kill_after: f64,
) -> anyhow::Result<Outcome> {
    let pid = t.server_pid.context("storm needs --server-pid (the server to restart)")?;
    let pairs = (n / 2).max(1);
    let (_, users) = t.users(2 * pairs).await?;
    let rate = rate.unwrap_or(n as f64 / 10.0);
    let mut clients = Vec::new();
    for p in 0..pairs {
        let (s, r) = (&users[2 * p], &users[2 * p + 1]);
        let conv = direct_conv(s.id, r.id);
        let send =
            SendSpec { to: vec![SendTo::User(r.id)], rate: rate / pairs as f64, window: 0, size: 100, max_msgs: 0 };
        clients.push(client(2 * p, s, Some(send), vec![Expect { conv: conv.clone(), after_seq: None }]));
        clients.push(client(2 * p + 1, r, None, vec![Expect { conv, after_seq: None }]));
    }
    let mut spec = t.spec(clients);
    spec.reconnect = true;
    spec.drain_max_ms = 120_000;
    let mon = Monitor::start(pid);
    let control =
        StormControl { pid, cmd: restart_cmd.to_owned(), server: t.server.clone(), kill_after, mon: mon.clone() };
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel();
    let (t0, r) = t
        .execute(spec, |t0| async move {
            let killed = control.run(t0).await?;
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

/// Stops the server after `kill_after` and starts it again (`restart`).
struct StormControl {
    pid: u32,
    cmd: String,
    server: String,
    kill_after: f64,
    mon: Monitor,
}

impl StormControl {
    /// Returns the kill time (Unix µs) and the steady RSS before it (KiB).
    async fn run(self, t0: u64) -> anyhow::Result<(u64, u64)> {
        let at = t0 + (self.kill_after * 1e6) as u64;
        tokio::time::sleep(Duration::from_micros(at.saturating_sub(now_us()))).await;
        let steady = self.mon.take_sample().map_or(0, |s| s.rss_kib);
        let r = restart::restart(self.pid, &self.cmd, &self.server, Some(&self.mon)).await?;
        Ok((r.kill_us, steady))
    }
}
