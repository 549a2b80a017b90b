//! Which engine carries the cluster bus (issue 13): Redis pub/sub or NATS.
//!
//! Starts `redis-server` and `nats-server` itself on free loopback ports (no
//! persistence), then for each engine:
//! - **flood**: one publisher connection sends `--messages` 1 KiB frames to
//!   one subscriber's channel/subject as fast as it can (pipelined, the way
//!   a node's publisher task writes); figures: messages/s received, frames
//!   lost, the engine's CPU seconds per 100k messages;
//! - **paced**: `--rate` frames/s for `--seconds`; figures: publish →
//!   receive latency p50/p99/max (HDR histogram, µs);
//! - Redis only, **registry**: pipelined `HSET` then `HGETALL` of per-node
//!   session hashes (the presence registry a node loads at start).
//!
//! Both clients speak the wire protocols directly over tokio TCP (RESP and
//! NATS's text protocol: a few lines each), so the comparison is of the
//! engines, not of two client libraries.
//!
//! ```sh
//! cargo run --release -p ferry-bench --example bus_engines -- --messages 200000 --rate 20000 --seconds 5
//! ```

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};

#[derive(Debug, Parser)]
struct Args {
    /// Frames sent in the flood run.
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// Frames per second in the paced (latency) run.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Length of the paced run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Users in the registry run.
    #[arg(long, default_value_t = 100_000)]
    users: u64,
}

const FRAME: usize = 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let redis_port = free_port();
    let redis = Engine::spawn(
        "redis-server",
        &["--port", &redis_port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    )?;
    let nats_port = free_port();
    let nats = Engine::spawn("nats-server", &["-a", "127.0.0.1", "-p", &nats_port.to_string()])?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    println!("engine | flood msg/s | lost | engine CPU s per 100k | paced {} /s p50 µs | p99 µs | max µs", args.rate);
    for (name, engine, port) in [("redis", &redis, redis_port), ("nats", &nats, nats_port)] {
        let cpu0 = engine.cpu_s();
        let (rate, lost) = flood(name, port, args.messages).await?;
        let cpu = (engine.cpu_s() - cpu0) / args.messages as f64 * 100_000.0;
        let h = paced(name, port, args.rate, args.seconds).await?;
        println!(
            "{name} | {rate:.0} | {lost} | {cpu:.2} | {} | {} | {}",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max()
        );
    }
    let (writes, reads) = registry(redis_port, args.users).await?;
    println!("redis registry: {writes:.0} HSET/s, {reads:.0} users read/s via HGETALL of 10 node hashes");
    Ok(())
}

/// An engine process, killed on drop.
struct Engine(Child);

impl Engine {
    fn spawn(bin: &str, args: &[&str]) -> anyhow::Result<Self> {
        let child = Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("{bin} not found: apt-get install redis-server nats-server"))?;
        Ok(Self(child))
    }

    /// utime + stime from /proc.
    fn cpu_s(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0.id())).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, s)| s);
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f.get(11..13).map_or(0.0, |t| t.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
        ticks / 100.0
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// A subscriber on one engine: yields each frame's payload.
enum Sub {
    /// The write half is only held: dropping it would shut the socket.
    Redis {
        r: BufReader<OwnedReadHalf>,
        _w: OwnedWriteHalf,
    },
    Nats(BufReader<OwnedReadHalf>, OwnedWriteHalf),
}

async fn connect(port: u16) -> anyhow::Result<(BufReader<OwnedReadHalf>, OwnedWriteHalf)> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    Ok((BufReader::with_capacity(1 << 16, r), w))
}

async fn nats_handshake(r: &mut BufReader<OwnedReadHalf>, w: &mut OwnedWriteHalf) -> anyhow::Result<()> {
    let mut info = String::new();
    r.read_line(&mut info).await?;
    w.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n").await?;
    Ok(())
}

impl Sub {
    async fn start(engine: &str, port: u16) -> anyhow::Result<Self> {
        let (mut r, mut w) = connect(port).await?;
        if engine == "redis" {
            w.write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnode\r\n").await?;
            let mut sub = Self::Redis { r, _w: w };
            sub.next().await?; // the subscribe confirmation
            Ok(sub)
        } else {
            nats_handshake(&mut r, &mut w).await?;
            w.write_all(b"SUB node 1\r\nPING\r\n").await?;
            let mut line = String::new();
            r.read_line(&mut line).await?; // PONG: the subscription is in place
            Ok(Self::Nats(r, w))
        }
    }

    /// The next frame (Redis: the last element of a push array).
    async fn next(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut line = String::new();
        match self {
            Self::Redis { r, .. } => {
                r.read_line(&mut line).await?;
                let n: usize = line.trim_start_matches('*').trim().parse().context("RESP array")?;
                let mut last = Vec::new();
                for _ in 0..n {
                    last = resp_item(r).await?;
                }
                Ok(last)
            }
            Self::Nats(r, w) => loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    bail!("nats closed");
                }
                if line.starts_with("PING") {
                    w.write_all(b"PONG\r\n").await?;
                    continue;
                }
                if !line.starts_with("MSG") {
                    continue;
                }
                let len: usize = line.split_whitespace().last().context("MSG")?.parse()?;
                let mut payload = vec![0; len + 2];
                r.read_exact(&mut payload).await?;
                payload.truncate(len);
                return Ok(payload);
            },
        }
    }
}

async fn resp_item(r: &mut BufReader<OwnedReadHalf>) -> anyhow::Result<Vec<u8>> {
    let mut line = String::new();
    r.read_line(&mut line).await?;
    match line.as_bytes().first() {
        Some(b'$') => {
            let len: usize = line[1..].trim().parse()?;
            let mut v = vec![0; len + 2];
            r.read_exact(&mut v).await?;
            v.truncate(len);
            Ok(v)
        }
        _ => Ok(line.trim().as_bytes().to_vec()),
    }
}

/// A publisher: writes frames, pipelined; Redis replies are drained by a task.
struct Pub {
    w: BufWriter<OwnedWriteHalf>,
    nats: bool,
}

impl Pub {
    async fn start(engine: &str, port: u16) -> anyhow::Result<Self> {
        let (mut r, mut w) = connect(port).await?;
        let nats = engine == "nats";
        if nats {
            nats_handshake(&mut r, &mut w).await?;
        }
        tokio::spawn(async move {
            let mut sink = [0u8; 65536];
            while matches!(r.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        Ok(Self { w: BufWriter::with_capacity(1 << 16, w), nats })
    }

    async fn send(&mut self, payload: &[u8]) -> anyhow::Result<()> {
        if self.nats {
            self.w.write_all(format!("PUB node {}\r\n", payload.len()).as_bytes()).await?;
        } else {
            self.w.write_all(format!("*3\r\n$7\r\nPUBLISH\r\n$4\r\nnode\r\n${}\r\n", payload.len()).as_bytes()).await?;
        }
        self.w.write_all(payload).await?;
        self.w.write_all(b"\r\n").await?;
        Ok(())
    }
}

fn payload(seq: u64, start: Instant) -> Vec<u8> {
    let mut p = vec![0x5a; FRAME];
    p[..8].copy_from_slice(&seq.to_le_bytes());
    p[8..16].copy_from_slice(&(start.elapsed().as_nanos() as u64).to_le_bytes());
    p
}

fn field(p: &[u8], at: usize) -> u64 {
    p.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// Floods `n` frames; returns (frames/s received, frames lost).
async fn flood(engine: &str, port: u16, n: u64) -> anyhow::Result<(f64, u64)> {
    let mut sub = Sub::start(engine, port).await?;
    let receiver = tokio::spawn(async move {
        let mut got = 0u64;
        let mut first = None;
        loop {
            let next = tokio::time::timeout(Duration::from_secs(2), sub.next()).await;
            let Ok(Ok(p)) = next else { break };
            first.get_or_insert_with(Instant::now);
            got += 1;
            if field(&p, 0) == n - 1 {
                break;
            }
        }
        (got, first.map_or(Duration::ZERO, |f| f.elapsed()))
    });
    let start = Instant::now();
    let mut publisher = Pub::start(engine, port).await?;
    for seq in 0..n {
        publisher.send(&payload(seq, start)).await?;
    }
    publisher.w.flush().await?;
    let (got, took) = receiver.await?;
    Ok((got as f64 / took.as_secs_f64().max(1e-9), n - got))
}

/// `rate` frames/s for `seconds`; the latency histogram in µs.
async fn paced(engine: &str, port: u16, rate: u64, seconds: u64) -> anyhow::Result<Histogram<u64>> {
    let mut sub = Sub::start(engine, port).await?;
    let start = Instant::now();
    let total = rate * seconds;
    let receiver = tokio::spawn(async move {
        let mut h = Histogram::<u64>::new(3).expect("histogram");
        for _ in 0..total {
            let Ok(Ok(p)) = tokio::time::timeout(Duration::from_secs(2), sub.next()).await else { break };
            let sent = field(&p, 8);
            let now = start.elapsed().as_nanos() as u64;
            let _ = h.record(now.saturating_sub(sent) / 1000);
        }
        h
    });
    let mut publisher = Pub::start(engine, port).await?;
    // Batches every millisecond, flushed each time: a node's publisher
    // drains its queue the same way.
    let per_ms = (rate / 1000).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut seq = 0;
    while seq < total {
        tick.tick().await;
        for _ in 0..per_ms.min(total - seq) {
            publisher.send(&payload(seq, start)).await?;
            seq += 1;
        }
        publisher.w.flush().await?;
    }
    Ok(receiver.await?)
}

/// Pipelined registry writes and whole-node reads; (writes/s, users read/s).
async fn registry(port: u16, users: u64) -> anyhow::Result<(f64, f64)> {
    let (mut r, w) = connect(port).await?;
    let mut w = BufWriter::with_capacity(1 << 16, w);
    let started = Instant::now();
    for u in 0..users {
        let (key, field, value) = (format!("n{}", u % 10), u.to_string(), "device-1\ndevice-2");
        let cmd = format!(
            "*4\r\n$4\r\nHSET\r\n${}\r\n{key}\r\n${}\r\n{field}\r\n${}\r\n{value}\r\n",
            key.len(),
            field.len(),
            value.len()
        );
        w.write_all(cmd.as_bytes()).await?;
    }
    w.flush().await?;
    for _ in 0..users {
        resp_item(&mut r).await?;
    }
    let writes = users as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut read = 0;
    for node in 0..10 {
        let key = format!("n{node}");
        w.write_all(format!("*2\r\n$7\r\nHGETALL\r\n${}\r\n{key}\r\n", key.len()).as_bytes()).await?;
        w.flush().await?;
        let mut line = String::new();
        r.read_line(&mut line).await?;
        let n: u64 = line.trim_start_matches(['*', '%']).trim().parse()?;
        for _ in 0..n {
            resp_item(&mut r).await?;
        }
        read += n / 2;
    }
    Ok((writes, read as f64 / started.elapsed().as_secs_f64()))
}
