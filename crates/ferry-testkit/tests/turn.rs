//! The embedded STUN/TURN relay over real sockets, driven by webrtc-rs's own
//! TURN client (`turn::client::Client`): allocations with the REST
//! credentials of `GET /api/v1/calls/ice-servers`, refusals of wrong and
//! expired ones, the per-user quota, relayed data both ways, the bandwidth
//! limit, and the relay turned off. `turn_stock_client.rs` drives it with
//! coturn's `turnutils_uclient`.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ferry_testkit::{TestServer, TestUser, WAIT, http::Api};
use hmac::{Hmac, Mac};
use serde_json::Value;
use tokio::net::UdpSocket;
use turn::client::{Client, ClientConfig};
use webrtc_util::Conn;

const SECRET: &str = "north-sea-ferry";

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64
}

/// A TURN REST password signed with [`SECRET`].
fn password(username: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

async fn relay_server(f: impl FnOnce(&mut ferry_server::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.calls.turn_secret = SECRET.into();
        f(c)
    })
    .await
}

/// `user`'s ICE servers from the real endpoint: (STUN URLs, TURN URLs,
/// username, credential).
async fn ice_servers(server: &TestServer, user: &TestUser) -> (Vec<String>, Vec<String>, String, String) {
    let body = Api::new(server).get("/calls/ice-servers", user).await;
    let urls = |entry: &Value| -> Vec<String> {
        entry["urls"].as_array().expect("urls").iter().map(|u| u.as_str().expect("url").to_owned()).collect()
    };
    let servers = body["ice_servers"].as_array().expect("a list");
    let [stun, turn] = &servers[..] else { panic!("STUN and TURN entries: {body}") };
    let text = |v: &Value| v.as_str().unwrap_or_else(|| panic!("a string: {body}")).to_owned();
    (urls(stun), urls(turn), text(&turn["username"]), text(&turn["credential"]))
}

/// A TURN client of the relay at `server` on its own UDP socket.
async fn client(server: SocketAddr, username: &str, password: &str) -> Client {
    let conn = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind a client socket"));
    let client = Client::new(ClientConfig {
        stun_serv_addr: server.to_string(),
        turn_serv_addr: server.to_string(),
        username: username.into(),
        password: password.into(),
        realm: String::new(),
        software: String::new(),
        rto_in_ms: 0,
        conn,
        vnet: None,
    })
    .await
    .expect("a TURN client");
    client.listen().await.expect("the client's read loop");
    client
}

/// Allocates through a new client: the client (kept, or the allocation
/// goes with it) and the relay conn, or the refusal.
async fn allocate(server: SocketAddr, username: &str, password: &str) -> Result<(Client, impl Conn), String> {
    let client = client(server, username, password).await;
    let relay = tokio::time::timeout(WAIT, client.allocate()).await.expect("an answer within WAIT");
    relay.map(|relay| (client, relay)).map_err(|e| e.to_string())
}

async fn metric(server: &TestServer, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", server.http_url())).await.expect("GET /metrics");
    let text = text.text().await.expect("body");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn allocates_with_the_credentials_of_the_ice_servers_endpoint_and_relays_both_ways() {
    let server = relay_server(|c| {
        c.calls.turn.relay_port_min = 41000;
        c.calls.turn.relay_port_max = 41999;
    })
    .await;
    let turn_addr = server.turn_addr.expect("the relay is on by default");
    let alice = server.user("alice").await;

    // The default URLs name the host the client asked and the relay's port.
    let (stun, turn, username, credential) = ice_servers(&server, &alice).await;
    let port = turn_addr.port();
    assert_eq!(stun, [format!("stun:127.0.0.1:{port}")]);
    assert_eq!(turn, [format!("turn:127.0.0.1:{port}?transport=udp"), format!("turn:127.0.0.1:{port}?transport=tcp")]);
    assert!(username.ends_with(&format!(":{}", alice.id)), "{username}");

    // STUN: the relay tells a client its address.
    let stun_client = client(turn_addr, "", "").await;
    let mapped = stun_client.send_binding_request().await.expect("a binding answer");
    assert_eq!(mapped.ip().to_string(), "127.0.0.1");

    let (_client, relay) = allocate(turn_addr, &username, &credential).await.expect("allocation");
    let relayed = relay.local_addr().expect("relayed address");
    assert_eq!(relayed.ip().to_string(), "127.0.0.1", "the listen address is the relay address");
    assert!((41000..=41999).contains(&relayed.port()), "{relayed} in the configured range");
    assert_eq!(metric(&server, "ferry_turn_allocations").await, 1.0);

    // Client → peer: the first send creates the permission for the peer.
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind the peer");
    let peer_addr = peer.local_addr().expect("addr");
    relay.send_to(b"hello peer", peer_addr).await.expect("send through the relay");
    let mut buf = [0u8; 1500];
    let (n, from) = tokio::time::timeout(WAIT, peer.recv_from(&mut buf)).await.expect("within WAIT").expect("recv");
    assert_eq!((&buf[..n], from), (&b"hello peer"[..], relayed), "the peer hears the relayed address");

    // Peer → client, through the allocation.
    peer.send_to(b"hello client", relayed).await.expect("send to the relay");
    let (n, from) = tokio::time::timeout(WAIT, relay.recv_from(&mut buf)).await.expect("within WAIT").expect("recv");
    assert_eq!((&buf[..n], from), (&b"hello client"[..], peer_addr));
    assert!(metric(&server, "ferry_turn_relayed_bytes_total").await >= 22.0);

    // A stranger (no permission: permissions are per IP address) is not
    // relayed: the next thing the client hears is the peer again.
    let stranger = UdpSocket::bind("127.0.0.2:0").await.expect("bind another loopback address");
    stranger.send_to(b"let me in", relayed).await.expect("send");
    peer.send_to(b"still me", relayed).await.expect("send");
    let (n, from) = tokio::time::timeout(WAIT, relay.recv_from(&mut buf)).await.expect("within WAIT").expect("recv");
    assert_eq!((&buf[..n], from), (&b"still me"[..], peer_addr));
}

#[tokio::test]
async fn wrong_expired_and_malformed_credentials_are_refused() {
    let server = relay_server(|_| {}).await;
    let turn_addr = server.turn_addr.expect("on");
    let alice = server.user("alice").await;
    let (_, _, username, credential) = ice_servers(&server, &alice).await;
    assert_eq!(credential, password(&username), "signed with the configured secret");

    let wrong = allocate(turn_addr, &username, "not-the-password").await.err().expect("a wrong password is refused");
    // The crate answers a failed credential check with 400 Bad Request.
    assert!(wrong.contains("400"), "{wrong}");

    let expired = format!("{}:{}", now_secs() - 5, alice.id);
    let refused = allocate(turn_addr, &expired, &password(&expired)).await.err().expect("an expired one is refused");
    assert!(refused.contains("400"), "{refused}");

    for malformed in
        [alice.id.to_string(), format!("{}:alice", now_secs() + 600), format!("+{}:{}", now_secs() + 600, alice.id)]
    {
        assert!(allocate(turn_addr, &malformed, &password(&malformed)).await.is_err(), "{malformed:?} is refused");
    }
    // Another secret's signature does not pass either.
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"another secret").expect("any key length");
    mac.update(username.as_bytes());
    let forged = STANDARD.encode(mac.finalize().into_bytes());
    assert!(allocate(turn_addr, &username, &forged).await.is_err());
    assert!(metric(&server, "ferry_turn_auth_failures_total").await >= 6.0);
    assert_eq!(metric(&server, "ferry_turn_allocations").await, 0.0);

    // The relay kept serving: the real credential still works, and one
    // signed outside Ferry with the shared secret (as coturn would check).
    let own = format!("{}:{}", now_secs() + 60, alice.id);
    allocate(turn_addr, &own, &password(&own)).await.expect("a fresh credential works");
    allocate(turn_addr, &username, &credential).await.expect("the handed-out credential works");
}

#[tokio::test]
async fn one_user_gets_at_most_the_quota_of_allocations_while_others_still_get_theirs() {
    let server = relay_server(|c| c.calls.turn.max_allocations_per_user = 2).await;
    let turn_addr = server.turn_addr.expect("on");
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let (_, _, alice_name, alice_pass) = ice_servers(&server, &alice).await;
    let (_, _, bob_name, bob_pass) = ice_servers(&server, &bob).await;

    let first = allocate(turn_addr, &alice_name, &alice_pass).await.expect("1st");
    let _second = allocate(turn_addr, &alice_name, &alice_pass).await.expect("2nd");
    let third = allocate(turn_addr, &alice_name, &alice_pass).await.err().expect("the 3rd is over the quota");
    assert!(third.contains("508"), "refused as Insufficient Capacity: {third}");
    assert_eq!(metric(&server, "ferry_turn_allocations_refused_total").await, 1.0);

    let _bob = allocate(turn_addr, &bob_name, &bob_pass).await.expect("bob has his own quota");
    assert_eq!(metric(&server, "ferry_turn_allocations").await, 3.0);

    // Releasing one (a refresh with lifetime 0) gives the slot back.
    let (client, relay) = first;
    relay.close().await.expect("release the allocation");
    drop(client);
    allocate(turn_addr, &alice_name, &alice_pass).await.expect("a released slot is free again");
}

#[tokio::test]
async fn the_bandwidth_limit_bounds_what_an_allocation_relays() {
    const RATE: u64 = 20_000;
    let server = relay_server(|c| c.calls.turn.bandwidth_bytes_per_sec = RATE).await;
    let turn_addr = server.turn_addr.expect("on");
    let alice = server.user("alice").await;
    let (_, _, username, credential) = ice_servers(&server, &alice).await;
    let (_client, relay) = allocate(turn_addr, &username, &credential).await.expect("allocation");
    let relayed = relay.local_addr().expect("addr");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    relay.send_to(b"open", peer.local_addr().expect("addr")).await.expect("permission");
    let mut buf = [0u8; 1500];
    tokio::time::timeout(WAIT, peer.recv_from(&mut buf)).await.expect("within WAIT").expect("recv");

    // Ten seconds' worth of the limit, as fast as the peer can send.
    let started = Instant::now();
    let packet = [7u8; 1000];
    let sent = 200 * packet.len() as u64;
    for _ in 0..200 {
        peer.send_to(&packet, relayed).await.expect("send");
    }
    let mut received = 0u64;
    let mut last = started;
    while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(700), relay.recv_from(&mut buf)).await {
        received += n as u64;
        last = Instant::now();
    }
    // The bucket holds one second's worth and refills at RATE: whatever the
    // machine's speed, no more than that can have passed (one packet of
    // slack for the refill's rounding).
    let allowed = RATE + (RATE as f64 * last.duration_since(started).as_secs_f64()) as u64 + 1000;
    assert!(received > 0, "some of it is relayed");
    assert!(received <= allowed, "{received} bytes relayed, at most {allowed} allowed (of {sent} sent)");
    // What was not relayed was dropped by the limit (the kernel may drop
    // some of the burst before the relay reads it, so no exact sum).
    assert!(metric(&server, "ferry_turn_dropped_bytes_total").await > 0.0);
}

#[tokio::test]
async fn turned_off_nothing_listens_and_no_relay_is_handed_out() {
    let server = relay_server(|c| c.calls.turn.enabled = false).await;
    assert_eq!(server.turn_addr, None);
    let alice = server.user("alice").await;
    let body = Api::new(&server).get("/calls/ice-servers", &alice).await;
    assert_eq!(body["ice_servers"], serde_json::json!([]), "{body}");
    let text = reqwest::get(format!("{}/metrics", server.http_url())).await.expect("GET").text().await.expect("body");
    assert!(!text.contains("ferry_turn_"), "no relay metrics");

    // Configured URLs (a coturn) are handed out as they are.
    let server = relay_server(|c| {
        c.calls.turn.enabled = false;
        c.calls.turn_urls = vec!["turn:coturn.example:3478?transport=udp".into()];
    })
    .await;
    let alice = server.user("alice").await;
    let body = Api::new(&server).get("/calls/ice-servers", &alice).await;
    assert_eq!(body["ice_servers"][0]["urls"], serde_json::json!(["turn:coturn.example:3478?transport=udp"]));
}

#[tokio::test]
async fn a_public_host_names_the_relay_and_the_relay_stops_with_the_server() {
    let server = relay_server(|c| {
        c.calls.turn.public_host = "turn.ferry.example".into();
        c.calls.turn.tcp = false;
    })
    .await;
    let turn_addr = server.turn_addr.expect("on");
    let alice = server.user("alice").await;
    let (stun, turn, username, credential) = ice_servers(&server, &alice).await;
    let port = turn_addr.port();
    assert_eq!(stun, [format!("stun:turn.ferry.example:{port}")]);
    assert_eq!(turn, [format!("turn:turn.ferry.example:{port}?transport=udp")], "no TCP URL with tcp off");
    let (_client, _relay) = allocate(turn_addr, &username, &credential).await.expect("allocation");

    server.stop().await;
    // The port is free again: the relay closed its socket.
    UdpSocket::bind(turn_addr).await.expect("the relay's port is released on shutdown");
}
