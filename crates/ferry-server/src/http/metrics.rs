//! `GET /metrics`: the node's counters in the Prometheus text exposition
//! format (version 0.0.4) — connections, deliveries, the message writer,
//! caches, password hashing, the TURN relay, and the process's own memory,
//! CPU and disk I/O.

use std::{fmt::Write as _, sync::atomic::Ordering};

use axum::{extract::State, http::header, response::IntoResponse};

use crate::app::AppRef;

/// Renders every metric.
pub(super) async fn serve(State(app): State<AppRef>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render(&app))
}

fn render(app: &AppRef) -> String {
    let mut m = Metrics::default();
    let hub = &app.hub;
    m.gauge("ferry_connections", "Authenticated long connections on this node.", hub.session_count() as f64);
    let free = app.connection_slots.available_permits();
    m.gauge(
        "ferry_connection_slots_free",
        "Connections this node still accepts (gateway.max_connections minus open ones).",
        free as f64,
    );
    m.counter(
        "ferry_deliveries_total",
        "Frames queued to sessions by deliveries.",
        hub.stats.delivered.load(Ordering::Relaxed),
    );
    m.counter(
        "ferry_slow_consumer_kicks_total",
        "Sessions disconnected because their outbound queue was full.",
        hub.stats.slow_consumers.load(Ordering::Relaxed),
    );
    if let Some(bus) = app.bus.report() {
        for (name, help, value) in [
            (
                "ferry_bus_published_total",
                "Frames published to one other node (a fan-out: one per node).",
                bus.published,
            ),
            (
                "ferry_bus_broadcast_total",
                "Messages published to every node (kicks, invalidations, presence).",
                bus.broadcast,
            ),
            ("ferry_bus_received_total", "Frames received from other nodes for this node's sessions.", bus.received),
            ("ferry_bus_received_broadcast_total", "Broadcasts received from other nodes.", bus.received_broadcast),
            ("ferry_bus_dropped_total", "Bus messages dropped because the publish queue was full.", bus.dropped),
            (
                "ferry_bus_publish_failures_total",
                "Bus messages lost because the engine failed or was unreachable.",
                bus.publish_failures,
            ),
            (
                "ferry_bus_reconnects_total",
                "Connections to the bus engine re-established after a loss.",
                bus.reconnects,
            ),
        ] {
            m.counter(name, help, value);
        }
        m.gauge("ferry_bus_nodes", "Other nodes this node knows of.", bus.nodes as f64);
        m.gauge("ferry_bus_connected", "1 while the bus subscription is up.", f64::from(u8::from(bus.connected)));
    }
    let w = app.messaging.writer_stats();
    m.counter("ferry_messages_committed_total", "New messages made durable.", w.messages.load(Ordering::Relaxed));
    m.counter(
        "ferry_commit_batches_total",
        "Message batches committed (one fsync each with storage.synchronous = full).",
        w.batches.load(Ordering::Relaxed),
    );
    m.counter(
        "ferry_commit_failures_total",
        "Message batches whose commit failed.",
        w.failed_batches.load(Ordering::Relaxed),
    );
    for (name, help, us) in [
        ("ferry_commit_seconds_total", "Time the message writer spent in store commits.", &w.commit_us),
        (
            "ferry_fanout_wait_seconds_total",
            "Time the message writer waited for room in the fan-out queue.",
            &w.fanout_wait_us,
        ),
    ] {
        m.family(name, "counter", help);
        m.sample(name, &[], us.load(Ordering::Relaxed) as f64 / 1e6);
    }
    m.counter(
        "ferry_password_hashes_refused_total",
        "Logins and registrations refused because the hashing queue was full.",
        app.accounts.hashes_refused(),
    );
    if app.config.calls.turn.enabled {
        let t = &app.turn_stats;
        m.gauge(
            "ferry_turn_allocations",
            "Live allocations on the embedded TURN relay.",
            app.turn_allocations.live() as f64,
        );
        for (name, help, counter) in [
            (
                "ferry_turn_relayed_bytes_total",
                "Bytes the TURN relay carried between clients and peers (both directions).",
                &t.relayed_bytes,
            ),
            (
                "ferry_turn_dropped_bytes_total",
                "Bytes the TURN relay dropped over calls.turn.bandwidth_bytes_per_sec.",
                &t.dropped_bytes,
            ),
            (
                "ferry_turn_auth_failures_total",
                "TURN requests answered 400: a wrong, expired or malformed credential, or a malformed request.",
                &t.auth_failures,
            ),
            (
                "ferry_turn_allocations_refused_total",
                "TURN allocations refused by calls.turn.max_allocations_per_user or max_allocations.",
                &t.allocations_refused,
            ),
        ] {
            m.counter(name, help, counter.load(Ordering::Relaxed));
        }
    }
    let caches = app.caches.reports();
    m.family("ferry_cache_hits_total", "counter", "Cache lookups answered from memory.");
    for c in &caches {
        m.sample("ferry_cache_hits_total", &[("cache", c.name)], c.hits as f64);
    }
    m.family("ferry_cache_misses_total", "counter", "Cache lookups that went to the store.");
    for c in &caches {
        m.sample("ferry_cache_misses_total", &[("cache", c.name)], c.misses as f64);
    }
    m.family("ferry_cache_entries", "gauge", "Entries held (weighted caches: their weight).");
    for c in &caches {
        m.sample("ferry_cache_entries", &[("cache", c.name)], c.entries as f64);
    }
    process(&mut m);
    m.out
}

/// The process's own figures from `/proc/self` (Linux; absent elsewhere).
fn process(m: &mut Metrics) {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(kib) = field(&status, "VmRSS:") {
            m.gauge("process_resident_memory_bytes", "Resident set size in bytes.", (kib * 1024) as f64);
        }
        if let Some(threads) = field(&status, "Threads:") {
            m.gauge("process_threads", "OS threads.", threads as f64);
        }
    }
    if let Ok(io) = std::fs::read_to_string("/proc/self/io") {
        if let Some(b) = field(&io, "write_bytes:") {
            m.counter("process_disk_write_bytes_total", "Bytes this process caused to be written to storage.", b);
        }
        if let Some(b) = field(&io, "read_bytes:") {
            m.counter("process_disk_read_bytes_total", "Bytes this process caused to be read from storage.", b);
        }
    }
    if let Some(cpu) = cpu_seconds() {
        m.family("process_cpu_seconds_total", "counter", "User and system CPU time in seconds.");
        m.sample("process_cpu_seconds_total", &[], cpu);
    }
}

/// The first number after `key` on its line.
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// utime + stime from `/proc/self/stat`, in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// A text exposition being written.
#[derive(Default)]
struct Metrics {
    out: String,
}

impl Metrics {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let _ = write!(self.out, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", help);
        self.sample(name, &[], value as f64);
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }
}
