//! What the tests of the real binary share: starting `ferry-server` as an
//! operator would (port 0, the real addresses read from its log), waiting
//! until it answers, and asking whether it is ready.
//!
//! `CARGO_BIN_EXE_ferry-server` exists only for this package's own tests,
//! which is why the tests of the binary live here and not in ferry-testkit.

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use ferry_client::HttpApi;

/// A running `ferry-server`, SIGKILLed when dropped.
pub struct Node {
    pub child: Child,
    pub http: SocketAddr,
    pub tcp: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on port 0 and reads the real addresses from its log.
/// The rest of its log goes to the test's captured output (shown when the
/// test fails), each line tagged with the process id.
pub fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Node {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry-server"));
    cmd.args(["--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("FERRY_AUTH__ARGON2_MEMORY_KIB", "1024")
        .env("FERRY_AUTH__ARGON2_ITERATIONS", "1")
        // The TURN relay too on a free port (its default is 3478 on every address).
        .env("FERRY_CALLS__TURN__LISTEN", "127.0.0.1:0")
        .env_remove("FERRY_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn ferry-server");
    // Owned by the guard from here on, so a failed start still reaps it.
    let unset: SocketAddr = "0.0.0.0:0".parse().expect("literal");
    let mut node = Node { child, http: unset, tcp: unset };
    let stdout = node.child.stdout.take().expect("stdout");
    let pid = node.child.id();
    let (tx, rx) = mpsc::channel();
    // Keeps reading to the end, so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("[ferry-server {pid}] {line}");
            let _ = tx.send(line);
        }
    });
    let field = |line: &str, key: &str| -> Option<SocketAddr> {
        let rest = &line[line.find(&format!("{key}="))? + key.len() + 1..];
        rest.split_whitespace().next()?.parse().ok()
    };
    loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("server logs where it listens");
        if line.contains("ferry listening") {
            node.http = field(&line, "http").expect("http addr");
            node.tcp = field(&line, "tcp").expect("tcp addr");
            assert_ne!(node.http.port(), 0, "port 0 is resolved in the log");
            return node;
        }
    }
}

/// Waits (bounded) until `/healthz` answers.
pub async fn wait_healthy(api: &HttpApi) {
    for _ in 0..200 {
        if api.healthz().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server never became healthy");
}

/// `GET /readyz`: (status, JSON body).
pub async fn readyz(http: &reqwest::Client, node: &Node) -> (u16, serde_json::Value) {
    let resp = http.get(format!("http://{}/readyz", node.http)).send().await.expect("readyz answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON body"))
}
