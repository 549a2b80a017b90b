//! `connect`: N clients connect, authenticate (with a cached token, or with
//! a password login first: `--login`) and, once every one of them is in,
//! stay idle for the duration; connects and logins per second, and the
//! server's memory and CPU per idle connection.
//!
//! The connect phase is not bounded by `--duration` but by
//! `--connect-timeout`: a run in which not every client got in FAILS.

use anyhow::Context as _;

use super::{Outcome, Target, client, restart, samples, secs};
use crate::{
    procmon::{self, Monitor},
    stats::Correctness,
};

pub(super) async fn connect(t: &Target, n: usize, login: bool, restart_cmd: Option<&str>) -> anyhow::Result<Outcome> {
    let (_, users) = t.users(n).await?;
    // Setup (registrations, logins) grows the heap; a restarted server
    // measures connections alone.
    let mut pid = t.server_pid;
    if let Some(cmd) = restart_cmd {
        let old = pid.context("--restart-cmd needs --server-pid (the server to restart)")?;
        pid = Some(restart::restart(old, cmd, &t.server, None).await?.new_pid);
    }
    let clients = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let mut c = client(i, u, None, Vec::new());
            c.login = login.then(|| u.username.clone());
            c
        })
        .collect();
    let mut spec = t.spec(clients);
    spec.connect_after_go = true;
    spec.idle_after_connect = true;
    spec.quiet_ms = 0;
    let mon = pid.map(Monitor::start);
    let before = mon.as_ref().and_then(Monitor::take_sample);
    let (t0, r) = t.execute(spec, |_| async { Ok(()) }).await?;
    let samples = samples(&mon);
    let params = serde_json::json!({ "clients": n, "login": login, "restart_cmd": restart_cmd });
    let mut o = Outcome::new("connect", params, t);
    o.fig("clients_asked", n as f64);
    o.fig("clients_connected", r.connected as f64);
    o.fig("connect_phase_s", secs(r.settled_us.saturating_sub(t0)));
    if (r.connected as usize) < n {
        o.fail(format!(
            "only {} of {n} clients connected (connect phase {:.1} s, --connect-timeout {} s)",
            r.connected,
            secs(r.settled_us.saturating_sub(t0)),
            t.connect_timeout
        ));
    }
    let connect_window = secs(r.last_ready_us.saturating_sub(r.first_connect_us));
    if connect_window > 0.0 {
        o.fig("connects_per_s", r.connected as f64 / connect_window);
    }
    o.lat("connect_to_ready", &r.connect);
    if login {
        o.fig("logins", r.logins as f64);
        let burst = secs(r.last_login_us.saturating_sub(r.first_login_us));
        if burst > 0.0 {
            o.fig("login_burst_s", burst);
            o.fig("logins_per_s", r.logins as f64 / burst);
        }
        o.lat("login", &r.login);
        if r.login_failed > 0 {
            o.fail(format!("{} password logins failed (see errors; raise the login rate limits?)", r.login_failed));
        }
    }
    if mon.is_some() {
        let restarted = restart_cmd.is_some();
        o.fig("server_restarted_after_setup", f64::from(u8::from(restarted)));
        o.note(if restarted {
            "the server was restarted after setup: memory figures are of a fresh process".to_owned()
        } else {
            "the server was not restarted after setup: its heap may still hold setup's work (--restart-cmd)".to_owned()
        });
    }
    // The idle window: everyone is in (every process), until the end.
    let settle = (t.duration_ms() * 1000 / 2).min(1_000_000);
    let idle_from = r.settled_us + settle;
    let idle_to = r.settled_us + t.duration_ms() * 1000;
    if let (Some(before), Some(w)) = (before, procmon::window(&samples, idle_from, idle_to))
        && r.connected > 0
    {
        memory_figures(&mut o, before.rss_kib, w.rss_end_kib, r.connected);
        o.fig("server_idle_cpu_pct_per_10k_conns", w.cpu_pct / r.connected as f64 * 10_000.0);
        o.fig("idle_window_s", secs(idle_to.saturating_sub(idle_from)));
        o.server = Some(w);
    }
    Ok(o.finish(&r, Correctness::default()))
}

/// RSS per connection: the growth over the connect phase (only if the heap
/// did not shrink meanwhile, which would make it meaningless), and the
/// total after divided by the connections (an upper bound, never negative).
fn memory_figures(o: &mut Outcome, before_kib: u64, after_kib: u64, conns: u64) {
    let conns_f = conns as f64;
    o.fig("server_rss_before_kib", before_kib as f64);
    o.fig("server_rss_after_kib", after_kib as f64);
    o.fig("server_rss_total_per_conn_kib", after_kib as f64 / conns_f);
    if after_kib >= before_kib {
        o.fig("server_rss_per_conn_kib", (after_kib - before_kib) as f64 / conns_f);
    } else {
        o.note(format!(
            "the server's heap shrank during the run (RSS {before_kib} KiB before connecting, {after_kib} KiB after): \
             server_rss_per_conn_kib omitted; server_rss_total_per_conn_kib is an upper bound"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::TransportKind;

    fn outcome() -> Outcome {
        let t = Target {
            server: String::new(),
            tcp: None,
            nodes: Vec::new(),
            nodes_tcp: Vec::new(),
            transport: TransportKind::Tcp,
            server_pid: None,
            procs: 1,
            duration: 1.0,
            state: "s".into(),
            connect_concurrency: 1,
            connect_timeout: 1.0,
            fsyncs: false,
            worker_exe: None,
        };
        Outcome::new("connect", serde_json::Value::Null, &t)
    }

    #[test]
    fn rss_per_connection_is_never_negative() {
        let mut o = outcome();
        memory_figures(&mut o, 100_000, 90_000, 1000);
        assert!(!o.figures.contains_key("server_rss_per_conn_kib"));
        assert_eq!(o.figures["server_rss_total_per_conn_kib"], 90.0);
        assert!(o.notes[0].contains("shrank"));

        let mut o = outcome();
        memory_figures(&mut o, 100_000, 104_000, 1000);
        assert_eq!(o.figures["server_rss_per_conn_kib"], 4.0);
        assert!(o.notes.is_empty());
    }
}
