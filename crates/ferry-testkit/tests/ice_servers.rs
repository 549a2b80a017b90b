//! `GET /api/v1/calls/ice-servers` over real sockets: STUN and TURN URLs
//! from the configuration, TURN credentials in the TURN REST API form a
//! stock coturn (`use-auth-secret`) accepts, and the shared secret every
//! node of a store signs with when none is configured.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ferry_testkit::{TestServer, TestUser, http::Api};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};

const PATH: &str = "/calls/ice-servers";

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64
}

/// What a TURN server with `secret` expects as the password of `username`.
fn turn_password(secret: &[u8], username: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("any key length");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The TURN entry's `(username, credential)`.
fn turn_credential(body: &Value) -> (String, String) {
    let turn = body["ice_servers"].as_array().expect("a list").iter().find(|s| s.get("username").is_some());
    let turn = turn.unwrap_or_else(|| panic!("no TURN entry: {body}"));
    (turn["username"].as_str().expect("string").into(), turn["credential"].as_str().expect("string").into())
}

/// Credentials from `a` and `b` for `user` issued in the same second, so
/// their usernames (the expiry is part of them) are equal.
async fn same_second(a: (&Api, &TestUser), b: (&Api, &TestUser)) -> ((String, String), (String, String)) {
    for _ in 0..10 {
        let from_a = turn_credential(&a.0.get(PATH, a.1).await);
        let from_b = turn_credential(&b.0.get(PATH, b.1).await);
        if from_a.0 == from_b.0 {
            return (from_a, from_b);
        }
    }
    panic!("never two answers within one second");
}

#[tokio::test]
async fn turn_credentials_are_signed_with_the_configured_secret_and_expire_after_the_ttl() {
    let stun = ["stun:stun.example.com:3478", "stun:192.0.2.10"];
    let turn = ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349?transport=tcp"];
    let server = TestServer::start_with(|c| {
        c.calls.turn_secret = "north-sea-ferry".into();
        c.calls.credential_ttl_secs = 600;
        c.calls.stun_urls = stun.map(String::from).into();
        c.calls.turn_urls = turn.map(String::from).into();
    })
    .await;
    let alice = server.user("alice").await;
    let api = Api::new(&server);

    let anonymous = api.request(Method::GET, PATH, None, None).await;
    assert_eq!((anonymous.status, anonymous.code()), (401, "unauthenticated"), "{}", anonymous.body);

    let before = now_secs();
    let body = api.get(PATH, &alice).await;
    let after = now_secs();
    assert_eq!(body["ttl"], 600);
    let servers = body["ice_servers"].as_array().expect("a list");
    assert_eq!(servers.len(), 2, "{body}");
    assert_eq!(servers[0], json!({ "urls": stun }), "STUN without credentials");
    assert_eq!(servers[1]["urls"], json!(turn));

    let (username, credential) = turn_credential(&body);
    let (expiry, user) = username.split_once(':').expect("expiry:user_id");
    assert_eq!(user, alice.id.to_string());
    let expiry: i64 = expiry.parse().expect("Unix seconds");
    assert!((before + 600..=after + 600).contains(&expiry), "expiry {expiry}, asked at {before}..{after}");
    assert_eq!(credential, turn_password(b"north-sea-ferry", &username));
}

#[tokio::test]
async fn without_a_configured_secret_every_node_of_a_store_signs_with_the_same_generated_one() {
    let turn_only = |c: &mut ferry_server::Config| c.calls.turn_urls = vec!["turn:turn.example.com".into()];
    let first = TestServer::start_with(turn_only).await;
    let second = first.start_sharing(|_| {}).await;
    let alice_first = first.user("alice").await;
    let alice_second = second.login("alice").await;
    let (api_first, api_second) = (Api::new(&first), Api::new(&second));

    let (a, b) = same_second((&api_first, &alice_first), (&api_second, &alice_second)).await;
    assert_eq!(a, b, "both nodes sign with the store's secret");
    assert_ne!(a.1, turn_password(b"", &a.0), "a secret was generated");

    // Another store generates another secret: the same user id and expiry
    // get a different credential.
    let elsewhere = TestServer::start_with(turn_only).await;
    let alice_elsewhere = elsewhere.user("alice").await;
    assert_eq!(alice_elsewhere.id, alice_first.id);
    let api_elsewhere = Api::new(&elsewhere);
    let (a, c) = same_second((&api_first, &alice_first), (&api_elsewhere, &alice_elsewhere)).await;
    assert_ne!(a.1, c.1);

    // The generated secret is kept: the first node, restarted, still
    // signs like the second.
    let first = first.restart().await;
    let alice_again = first.login("alice").await;
    let (a, b) = same_second((&Api::new(&first), &alice_again), (&api_second, &alice_second)).await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn no_ice_servers_without_urls_or_the_embedded_relay() {
    let server = TestServer::start_with(|c| c.calls.turn.enabled = false).await;
    let alice = server.user("alice").await;
    assert_eq!(Api::new(&server).get(PATH, &alice).await, json!({ "ice_servers": [], "ttl": 86_400 }));
}
