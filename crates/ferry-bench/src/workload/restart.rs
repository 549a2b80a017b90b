//! Restarting the server under test (storm, `connect --restart-cmd`): SIGTERM
//! to its pid, wait until it has exited, start it with a shell command, wait
//! for `/healthz`, and find the new server's pid (the process listening on
//! the HTTP port) so sampling follows it.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context as _, bail};

use crate::{engine::now_us, procmon::Monitor};

/// How long the restarted server may take to answer `/healthz`.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(120);

/// What a restart did.
pub(super) struct Restarted {
    /// When SIGTERM was sent (Unix µs).
    pub kill_us: u64,
    pub new_pid: u32,
}

/// Stops `pid`, runs `cmd`, waits until `server` is healthy and points `mon`
/// (if any) at the new process as early as its pid is known.
pub(super) async fn restart(pid: u32, cmd: &str, server: &str, mon: Option<&Monitor>) -> anyhow::Result<Restarted> {
    let kill_us = now_us();
    let status = tokio::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().await?;
    if !status.success() {
        bail!("kill -TERM {pid} failed");
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    while proc_dir.exists() && !is_zombie(pid) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // `exec` so that, for a simple command, the pid we get is the server's.
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("exec {cmd}"))
        .stdin(std::process::Stdio::null())
        .spawn()
        .context("restart command")?;
    let mut new_pid = child.id().context("restart command exited at once")?;
    if let Some(m) = mon {
        m.set_pid(new_pid);
    }
    // The server outlives the bench: dropping the handle neither waits for
    // nor kills it.
    drop(child);
    wait_healthy(server).await?;
    // A compound command (`cd x && ./server`) leaves a shell in between:
    // follow whichever process listens on the HTTP port.
    if let Some(found) = http_port(server).and_then(listener_pid)
        && found != new_pid
    {
        new_pid = found;
        if let Some(m) = mon {
            m.set_pid(new_pid);
        }
    }
    Ok(Restarted { kill_us, new_pid })
}

/// Polls `GET {server}/healthz` until it answers 200.
async fn wait_healthy(server: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + HEALTHY_TIMEOUT;
    loop {
        if tokio::time::timeout(Duration::from_secs(2), healthz(server)).await.is_ok_and(|ok| ok) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{server}/healthz not healthy within {HEALTHY_TIMEOUT:?} after the restart");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One plain HTTP/1.0 `GET /healthz` (the server speaks plain HTTP here;
/// this avoids a second HTTP client stack in the bench).
async fn healthz(server: &str) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Some(hostport) = server.strip_prefix("http://").and_then(|s| s.split('/').next()) else { return false };
    let Ok(mut sock) = tokio::net::TcpStream::connect(hostport).await else { return false };
    let req = format!("GET /healthz HTTP/1.0\r\nHost: {hostport}\r\n\r\n");
    if sock.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let n = sock.read(&mut head).await.unwrap_or(0);
    let line = String::from_utf8_lossy(&head[..n]);
    line.starts_with("HTTP/1.") && line.get(9..12) == Some("200")
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// The port of an `http://host:port` URL (80 without one).
fn http_port(url: &str) -> Option<u16> {
    let hostport = url.split("://").nth(1)?.split('/').next()?;
    match hostport.rsplit_once(':') {
        Some((_, p)) => p.parse().ok(),
        None => Some(80),
    }
}

/// The pid holding a socket that listens on TCP `port` (from
/// `/proc/net/tcp{,6}` and every process's fds).
fn listener_pid(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is "ADDR:PORT" in hex; state 0A is LISTEN.
            let listening = f.get(3) == Some(&"0A");
            let local_port =
                f.get(1).and_then(|a| a.rsplit_once(':')).and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if listening && local_port == Some(port) {
                inodes.extend(f.get(9).map(|i| format!("socket:[{i}]")));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = proc_entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| target.as_os_str() == i.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_process_listening_on_a_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(listener_pid(port), Some(std::process::id()));
        assert_eq!(http_port(&format!("http://127.0.0.1:{port}/")), Some(port));
    }
}
