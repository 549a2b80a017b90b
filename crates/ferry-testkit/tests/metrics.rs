//! `GET /metrics` against a running server: Prometheus text that moves with
//! what the node did, and absent when turned off.

use ferry_testkit::{TestServer, http::Api};

/// The value of the sample `name` (with its labels, if any) in `text`.
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (key, v) = l.rsplit_once(' ')?;
        (key == name).then(|| v.parse().ok()).flatten()
    })
}

async fn scrape(server: &TestServer) -> String {
    let resp = reqwest::get(format!("{}/metrics", server.http_url())).await.expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    let kind = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    resp.text().await.expect("body")
}

#[tokio::test]
async fn metrics_count_connections_commits_and_cache_lookups() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let before = scrape(&server).await;
    assert_eq!(value(&before, "ferry_connections"), Some(0.0), "{before}");
    let committed_before = value(&before, "ferry_messages_committed_total").expect("committed");

    let (_conn, _ok) = bob.raw_tcp().await;
    let api = Api::new(&server);
    for i in 0..3 {
        let (status, body) = api.send_text(&alice, &bob, &format!("m{i}"), "hello").await;
        assert_eq!(status, 200, "{body}");
    }
    // A retry is answered with the original ack: not a new commit.
    let (status, _) = api.send_text(&alice, &bob, "m0", "hello").await;
    assert_eq!(status, 200);

    let after = scrape(&server).await;
    assert_eq!(value(&after, "ferry_connections"), Some(1.0), "{after}");
    assert_eq!(value(&after, "ferry_messages_committed_total"), Some(committed_before + 3.0), "{after}");
    assert!(value(&after, "ferry_commit_batches_total").is_some_and(|b| b >= 1.0), "{after}");
    // Three commits took some time; the fan-out wait is there (maybe ~0).
    assert!(value(&after, "ferry_commit_seconds_total").is_some_and(|s| s > 0.0), "{after}");
    assert!(value(&after, "ferry_fanout_wait_seconds_total").is_some_and(|s| s >= 0.0), "{after}");
    assert!(value(&after, "ferry_deliveries_total").is_some_and(|d| d >= 3.0), "bob's pushes: {after}");
    assert!(value(&after, "ferry_cache_hits_total{cache=\"sessions\"}").is_some(), "{after}");
    assert!(value(&after, "process_resident_memory_bytes").is_some_and(|b| b > 0.0), "{after}");
    assert!(value(&after, "process_disk_write_bytes_total").is_some(), "{after}");
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let server = TestServer::start_with(|c| c.metrics = false).await;
    let resp = reqwest::get(format!("{}/metrics", server.http_url())).await.expect("GET /metrics");
    assert_eq!(resp.status(), 404);
}
