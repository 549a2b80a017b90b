//! The real `ferry-server` binary as an operator runs it: flags, port 0 with
//! the real address logged, SIGKILL in the middle of traffic, restart on the
//! same data directory with nothing acknowledged lost.

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use ferry_client::{HttpApi, RawConnection, Target, v1};

struct Node {
    child: Child,
    http: SocketAddr,
    tcp: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on port 0 and reads the real addresses from its log.
fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Node {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry-server"));
    cmd.args(["--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("FERRY_AUTH__ARGON2_MEMORY_KIB", "1024")
        .env("FERRY_AUTH__ARGON2_ITERATIONS", "1")
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
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
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

async fn wait_healthy(api: &HttpApi) {
    for _ in 0..200 {
        if api.healthz().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server never became healthy");
}

#[tokio::test]
async fn sigkill_loses_nothing_that_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]);
    let api = HttpApi::new(format!("http://{}", node.http)).unwrap();
    wait_healthy(&api).await;
    let pw = "correct horse battery";
    api.register("alice", pw, None).await.unwrap();
    let bob = api.register("bob", pw, None).await.unwrap();
    let token = api.login("alice", pw, "cli", None).await.unwrap().token;

    // Pipeline sends on a raw TCP connection and record every ack received,
    // then kill -9 the server while sends are still in flight.
    let (mut raw, _) = RawConnection::connect(&format!("tcp://{}", node.tcp), false, &token).await.unwrap();
    for i in 0..500 {
        let send = v1::SendMessage {
            client_msg_id: format!("k{i}"),
            to: Some(v1::send_message::To::UserId(bob.id)),
            content: Some(v1::MessageContent {
                kind: Some(v1::message_content::Kind::Text(v1::Text { text: format!("m{i}"), ..Default::default() })),
            }),
        };
        raw.send_body(v1::frame::Body::Send(send)).await.unwrap();
    }
    let mut acked = Vec::new();
    while acked.len() < 200 {
        let frame = raw.recv_timeout(Duration::from_secs(10)).await.unwrap().expect("frame");
        if let Some(v1::frame::Body::SendAck(ack)) = frame.body {
            acked.push(ack);
        }
    }
    let mut node = node;
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    drop(node);

    let node = start(dir.path(), &[]);
    let api = HttpApi::new(format!("http://{}", node.http)).unwrap();
    wait_healthy(&api).await;
    let alice = api.clone().with_token(api.login("alice", pw, "cli", None).await.unwrap().token);
    let conv = acked[0].conversation_id.clone();
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = alice.messages(&conv, after, 1000).await.unwrap();
        after = page.messages.last().map_or(after, |m| m.seq);
        stored.extend(page.messages);
        if !page.has_more {
            break;
        }
    }
    // Dense seqs from 1, and every acknowledged message is there, unchanged.
    for (i, m) in stored.iter().enumerate() {
        assert_eq!(m.seq, i as u64 + 1);
    }
    for ack in &acked {
        let m = stored.iter().find(|m| m.seq == ack.seq).expect("acknowledged message survives");
        assert_eq!((m.server_msg_id, m.client_msg_id.as_str()), (ack.server_msg_id, ack.client_msg_id.as_str()));
    }
    // Retrying an acknowledged id after the crash returns the original ack.
    let retry = alice.send_text(&acked[0].client_msg_id, &Target::User(bob.id), "m0").await.unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.seq, acked[0].seq);
}

#[test]
fn help_explains_every_flag_and_print_config_emits_toml() {
    let bin = env!("CARGO_BIN_EXE_ferry-server");
    let help = String::from_utf8(Command::new(bin).arg("--help").output().unwrap().stdout).unwrap();
    for flag in ["--http", "--tcp", "--data-dir", "--config", "--print-config", "FERRY_HTTP", "FERRY_DATA_DIR"] {
        assert!(help.contains(flag), "--help mentions {flag}");
    }
    let out = Command::new(bin).args(["--print-config", "--http", "127.0.0.1:9999"]).output().unwrap();
    assert!(out.status.success());
    let toml = String::from_utf8(out.stdout).unwrap();
    assert!(toml.contains("http = \"127.0.0.1:9999\""), "{toml}");
    assert!(toml.contains("[gateway]") && toml.contains("heartbeat_interval_ms"));

    let bad = Command::new(bin).arg("--print-config").env("FERRY_GATEWAY__IDLE_TIMEOUT_MS", "1").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("idle_timeout_ms"));
}
