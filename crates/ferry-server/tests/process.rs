//! The real `ferry-server` binary as an operator runs it: flags, port 0 with
//! the real address logged, SIGKILL in the middle of traffic (messages, and
//! a file upload), restart on the same data directory with nothing
//! acknowledged lost; SIGTERM with a drain period (readiness off first,
//! sessions served, then told to reconnect).

mod common;

use std::{process::Command, time::Duration};

use common::{readyz, start, wait_healthy};
use ferry_client::{HttpApi, RawConnection, Target, v1};

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
                ..Default::default()
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

#[tokio::test]
async fn sigterm_takes_the_node_out_of_rotation_serves_the_drain_then_tells_clients_to_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), &[("FERRY_DRAIN_SECS", "3")]);
    let api = HttpApi::new(format!("http://{}", node.http)).unwrap();
    wait_healthy(&api).await;
    let http = reqwest::Client::new();
    assert_eq!(readyz(&http, &node).await, (200, serde_json::json!({ "status": "ready" })));

    let pw = "correct horse battery";
    api.register("alice", pw, None).await.unwrap();
    let bob = api.register("bob", pw, None).await.unwrap();
    let token = api.login("alice", pw, "cli", None).await.unwrap().token;
    let (mut raw, _) = RawConnection::connect(&format!("tcp://{}", node.tcp), false, &token).await.unwrap();

    let term = Command::new("kill").args(["-TERM", &node.child.id().to_string()]).status().expect("kill");
    assert!(term.success());
    let mut answer = (0, serde_json::Value::Null);
    for _ in 0..200 {
        answer = readyz(&http, &node).await;
        if answer.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(answer.0, 503, "{answer:?}");
    assert_eq!(answer.1["error"]["code"], "unavailable", "{answer:?}");
    assert!(answer.1["error"]["message"].as_str().unwrap().contains("draining"), "{answer:?}");
    // Still alive, and still serving the sessions it holds.
    api.healthz().await.expect("alive while draining");
    let send = v1::SendMessage {
        client_msg_id: "during-drain".into(),
        to: Some(v1::send_message::To::UserId(bob.id)),
        content: Some(v1::MessageContent {
            kind: Some(v1::message_content::Kind::Text(v1::Text { text: "still here".into(), ..Default::default() })),
            ..Default::default()
        }),
    };
    raw.send_body(v1::frame::Body::Send(send)).await.unwrap();
    let ack = loop {
        let frame = raw.recv_timeout(Duration::from_secs(10)).await.unwrap().expect("a frame");
        if let Some(v1::frame::Body::SendAck(ack)) = frame.body {
            break ack;
        }
    };
    assert_eq!((ack.client_msg_id.as_str(), ack.seq), ("during-drain", 1));

    // Then the session is told to reconnect (elsewhere) and the node exits cleanly.
    let told = loop {
        match raw.recv_timeout(Duration::from_secs(20)).await.unwrap() {
            Some(v1::Frame { body: Some(v1::frame::Body::Error(e)), .. }) => break e,
            Some(_) => continue,
            None => panic!("closed without telling the client why"),
        }
    };
    assert_eq!(told.code, "unavailable", "{told:?}");
    assert!(told.fatal && told.message.contains("reconnect"), "{told:?}");
    let status = node.child.wait().expect("exits");
    assert!(status.success(), "{status:?}");
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

/// The server's resident memory, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// With one thread per concurrent login (tokio's blocking pool, before),
/// this flood took the server from 50 MB to 7 GB and kept it there.
#[tokio::test]
async fn a_flood_of_wrong_password_logins_from_many_addresses_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // Default argon2 costs (19 MiB per hash) and default limits: 400
    // addresses, each trying a different username once (unknown users cost
    // the same hash as wrong passwords), stay within every rate limit.
    let node = start(dir.path(), &[("FERRY_AUTH__ARGON2_MEMORY_KIB", "19456"), ("FERRY_AUTH__ARGON2_ITERATIONS", "2")]);
    let base = format!("http://{}", node.http);
    let api = HttpApi::new(&base).unwrap();
    wait_healthy(&api).await;
    api.register("victim", "correct horse battery", None).await.expect("register");
    let before = rss_kib(node.child.id());

    let mut attempts = Vec::new();
    for i in 0..400u32 {
        let ip = std::net::IpAddr::from([127, 1, (i / 250) as u8, (i % 250 + 1) as u8]);
        let client = reqwest::Client::builder().local_address(ip).build().unwrap();
        let url = format!("{base}/api/v1/auth/login");
        attempts.push(tokio::spawn(async move {
            let username = if i == 0 { "victim".to_owned() } else { format!("nobody{i}") };
            let body = serde_json::json!({ "username": username, "password": "wrong password here" });
            let resp = client.post(url).json(&body).send().await.expect("answered");
            (resp.status().as_u16(), resp.json::<serde_json::Value>().await.expect("json"))
        }));
    }
    let (mut wrong, mut busy) = (0, 0);
    for a in attempts {
        let (status, body) = a.await.unwrap();
        match (status, body["error"]["code"].as_str()) {
            (401, Some("invalid_credentials")) => wrong += 1,
            (503, Some("unavailable")) => {
                assert!(body["error"]["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{body}");
                busy += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(wrong + busy, 400);
    assert!(wrong > 0, "some attempts were checked");
    let after = rss_kib(node.child.id());
    let grown_mib = after.saturating_sub(before) / 1024;
    assert!(grown_mib < 200, "RSS grew by {grown_mib} MiB ({before} -> {after} KiB)");
    // And the right password still works.
    assert!(api.login("victim", "correct horse battery", "cli", None).await.is_ok());
}

/// Noise: `len` reproducible bytes no sniffer recognises.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// tus HEAD: the upload's durable offset, `None` if it is not there.
async fn upload_offset(http: &reqwest::Client, url: &str, token: &str) -> Option<u64> {
    let resp = http.head(url).bearer_auth(token).header("tus-resumable", "1.0.0").send().await.expect("HEAD");
    if resp.status() == 404 {
        return None;
    }
    assert_eq!(resp.status(), 200, "HEAD {url}");
    Some(resp.headers()["upload-offset"].to_str().unwrap().parse().unwrap())
}

/// Issue 10: "a SIGKILL of the server mid-upload and a resume after
/// restart". A long PATCH is made durable every 16 MiB; the server is
/// killed after one such checkpoint with more bytes in flight, comes back
/// on the same data directory, and the upload resumes from what HEAD says
/// and completes byte-identical.
#[tokio::test]
async fn sigkill_mid_upload_resumes_after_restart_from_the_durable_offset() {
    use base64::Engine as _;
    use tokio::io::AsyncWriteExt as _;
    const MIB: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]);
    let api = HttpApi::new(format!("http://{}", node.http)).unwrap();
    wait_healthy(&api).await;
    let pw = "correct horse battery";
    api.register("alice", pw, None).await.unwrap();
    let token = api.login("alice", pw, "cli", None).await.unwrap().token;
    let http = reqwest::Client::new();

    let bytes = noise(40 * MIB);
    let sha = sha256_hex(&bytes);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let created = http
        .post(format!("http://{}/api/v1/uploads", node.http))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", bytes.len().to_string())
        .header("upload-metadata", format!("filename {},sha256 {}", b64("big.bin"), b64(&sha)))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_string();

    // One PATCH for everything, of which 20 MiB are sent; the connection
    // stays open, the server mid-request, while it is killed.
    let mut stream = tokio::net::TcpStream::connect(node.http).await.unwrap();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        node.http,
        bytes.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in bytes[..20 * MIB].chunks(MIB) {
        stream.write_all(piece).await.unwrap();
    }
    stream.flush().await.unwrap();
    // Another client watches the durable offset pass the first checkpoint.
    let url = format!("http://{}{location}", node.http);
    let mut before = 0;
    for _ in 0..600 {
        before = upload_offset(&http, &url, &token).await.expect("the upload exists");
        if before >= 16 * MIB as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(before >= 16 * MIB as u64, "no checkpoint after 20 MiB: offset {before}");
    let mut node = node;
    node.child.kill().unwrap(); // SIGKILL
    node.child.wait().unwrap();
    drop(node);
    drop(stream);

    let node = start(dir.path(), &[]);
    wait_healthy(&HttpApi::new(format!("http://{}", node.http)).unwrap()).await;
    let url = format!("http://{}{location}", node.http);
    let offset = upload_offset(&http, &url, &token).await.expect("the upload survives the crash");
    assert!(
        offset >= before && offset <= 20 * MIB as u64,
        "resumes from {offset} (HEAD said {before} before the kill)"
    );
    let resp = http
        .patch(&url)
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes[offset as usize..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{:?}", resp.headers());
    let id = resp.headers()["ferry-file-id"].to_str().unwrap().to_string();
    let download =
        http.get(format!("http://{}/api/v1/files/{id}", node.http)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(download.status(), 200);
    let back = download.bytes().await.unwrap();
    assert_eq!(back.len(), bytes.len());
    assert_eq!(sha256_hex(&back), sha, "the resumed file is byte-identical");
}
