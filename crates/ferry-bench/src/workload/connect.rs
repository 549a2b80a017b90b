//! `connect`: N clients connect, authenticate and stay idle; logins per
//! second, and the server's memory and CPU per idle connection.

use super::{Outcome, Target, client, samples, secs, start_monitor};
use crate::{
    procmon::{self, Monitor},
    stats::Correctness,
};

pub(super) async fn connect(t: &Target, n: usize) -> anyhow::Result<Outcome> {
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
