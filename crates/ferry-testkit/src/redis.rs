//! A real Redis server for tests of the cluster bus: Debian's
//! `redis-server` (installed by `.ci/run`) on a free loopback port, without
//! persistence, one per test. Stopped when dropped, and — started under
//! `setpriv --pdeathsig KILL` — killed by the kernel if the test process
//! dies first, so no server outlives its test.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use ferry_server::{Config, config::BusKind};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::WAIT;

/// Said when the binary is missing: the test fails, it never skips.
const INSTALL: &str = "install Debian's redis-server; .ci/run does";

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    /// Starts a server on a free port; panics if it cannot.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let mut server = Self { child: None, port };
        server.restart().await;
        server
    }

    /// `redis://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Points `config` at this server (`cluster.bus = "redis"`).
    pub fn configure(&self, config: &mut Config) {
        config.cluster.bus = BusKind::Redis;
        config.cluster.bus_url = self.url();
    }

    /// Kills the server (SIGKILL: it says goodbye to nobody), as a crash
    /// would. Its data is gone with it (no persistence).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill))
    /// and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        let binary = find("redis-server").unwrap_or_else(|| panic!("redis-server not found on PATH: {INSTALL}"));
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server under setpriv ({e}): {INSTALL}"));
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server exited at start ({status}); port {} taken? {INSTALL}", self.port);
            }
            if self.ping().await {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "redis-server did not answer on port {}", self.port);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the server answers `PING`.
    pub async fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)).await else { return false };
        if stream.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        matches!(tokio::time::timeout(WAIT, stream.read_exact(&mut reply)).await, Ok(Ok(_)) if &reply == b"+PONG\r\n")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `name` on `PATH`.
fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}
