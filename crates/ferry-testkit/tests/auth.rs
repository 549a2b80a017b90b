//! Accounts and sessions end to end: registration rules, login without user
//! enumeration, tokens on HTTP and on the long connection, logout and device
//! replacement kicking live connections, login rate limits, heartbeats and
//! the auth deadline.

use std::{net::IpAddr, time::Duration};

use ferry_client::{ClientError, Event, RawConnection, Transport};
use ferry_core::ErrorCode;
use ferry_proto::{Body, Frame};
use ferry_server::config::DevicePolicy;
use ferry_testkit::{
    PASSWORD, TestServer, TestUser, WAIT,
    frames::auth_frame,
    http::{Answer, Api, answer},
    raw::{assert_usable, expect_fatal, expect_kicked},
    sdk::{api_code, next_kicked},
};
use reqwest::Method;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;

// --- registration ---------------------------------------------------------------

#[tokio::test]
async fn register_returns_201_with_the_public_user() {
    let server = TestServer::start().await;
    let http = Api::new(&server);
    let body = json!({"username": " Carol.M ", "password": PASSWORD, "display_name": "Carol"});
    let a = http.request(Method::POST, "/auth/register", None, Some(&body)).await;
    assert_eq!(a.status, 201, "{a:?}");
    let user = &a.body["user"];
    assert_eq!(user["username"], "carol.m", "usernames are trimmed and lower-cased");
    assert_eq!(user["display_name"], "Carol");
    assert!(user["id"].as_i64().is_some_and(|id| id > 0), "{user}");
    assert!(user["created_at"].as_i64().is_some_and(|t| t > 0), "{user}");
    let keys: Vec<&String> = user.as_object().expect("object").keys().collect();
    assert!(!keys.iter().any(|k| k.contains("password")), "no password material in {keys:?}");

    // The account works.
    let login = http.login("CAROL.M", PASSWORD).await;
    assert_eq!(login.status, 200, "{login:?}");
    assert_eq!(login.body["user"]["id"], user["id"]);
}

#[tokio::test]
async fn duplicate_username_is_409_username_taken() {
    let server = TestServer::start().await;
    let http = Api::new(&server);
    assert_eq!(http.register("alice", PASSWORD).await.status, 201);
    for name in ["alice", "ALICE", " Alice "] {
        let a = http.register(name, "another good password").await;
        assert_eq!((a.status, a.code()), (409, "username_taken"), "{name:?}: {a:?}");
    }
    // The original password still logs in: the duplicate did not overwrite it.
    assert_eq!(http.login("alice", PASSWORD).await.status, 200);
    assert_eq!(http.login("alice", "another good password").await.code(), "invalid_credentials");
}

#[tokio::test]
async fn bad_usernames_are_400_invalid_argument() {
    let server = TestServer::start().await;
    let http = Api::new(&server);
    let long = "x".repeat(33);
    for name in ["", "ab", "_alice", ".alice", "has space", "ünïcode", "a/b", "semi;colon", long.as_str()] {
        let a = http.register(name, PASSWORD).await;
        assert_eq!((a.status, a.code()), (400, "invalid_argument"), "{name:?}: {a:?}");
    }
    // The edges of the rule are accepted.
    for name in ["abc", &"y".repeat(32), "0-start_ok.x"] {
        assert_eq!(http.register(name, PASSWORD).await.status, 201, "{name:?}");
    }
}

#[tokio::test]
async fn weak_passwords_are_400_weak_password() {
    let server = TestServer::start().await;
    let http = Api::new(&server);
    let huge = "ab".repeat(513);
    for pw in ["", "short", "1234567", "aaaaaaaaaaaa", "DaveyDave", huge.as_str()] {
        let a = http.register("daveydave", pw).await;
        assert_eq!((a.status, a.code()), (400, "weak_password"), "{pw:.20?}: {a:?}");
    }
    // None of the refusals reserved the name.
    assert_eq!(http.register("daveydave", PASSWORD).await.status, 201);
}

// --- login -------------------------------------------------------------------------

#[tokio::test]
async fn login_failures_are_invalid_credentials_and_do_not_reveal_users() {
    let server = TestServer::start().await;
    let http = Api::new(&server);
    assert_eq!(http.register("alice", PASSWORD).await.status, 201);

    let wrong_password = http.login("alice", "not the password").await;
    let unknown_user = http.login("nobody", PASSWORD).await;
    let invalid_name = http.login("x", PASSWORD).await;
    for a in [&wrong_password, &unknown_user, &invalid_name] {
        assert_eq!((a.status, a.code()), (401, "invalid_credentials"), "{a:?}");
        assert!(a.body.get("token").is_none() && a.body["error"].get("token").is_none());
    }
    // Same message too: nothing tells an attacker which usernames exist.
    assert_eq!(wrong_password.body, unknown_user.body);
    assert_eq!(unknown_user.body, invalid_name.body);

    // The SDK sees the same code.
    let err = server.http().login("alice", "nope nope nope", "cli", None).await.unwrap_err();
    assert_eq!(api_code(&err), ErrorCode::InvalidCredentials);
}

#[tokio::test]
async fn me_describes_the_tokens_user_and_device() {
    let server = TestServer::start().await;
    server.http().register("alice", PASSWORD, Some("Alice A.")).await.expect("register");
    let web = server.http().login("alice", PASSWORD, "web", None).await.expect("login");
    let cli = server.http().login("alice", PASSWORD, "cli", None).await.expect("login");
    assert_ne!(web.device_id, cli.device_id);
    assert_ne!(web.token, cli.token);

    let me = server.http().with_token(web.token.clone()).me().await.expect("me");
    assert_eq!((me.user.id, me.user.username.as_str()), (web.user.id, "alice"));
    assert_eq!(me.user.display_name, "Alice A.");
    assert_eq!((me.device_id.as_str(), me.platform.as_str()), (web.device_id.as_str(), "web"));
    let me = server.http().with_token(cli.token).me().await.expect("me");
    assert_eq!((me.device_id, me.platform), (cli.device_id, "cli".to_owned()));

    // The long connection agrees.
    let (_conn, ok) = RawConnection::connect(&server.tcp_url(), false, &web.token).await.expect("connect");
    assert_eq!(
        (ok.user_id, ok.username.as_str(), ok.device_id.as_str()),
        (web.user.id, "alice", web.device_id.as_str())
    );
    assert_eq!(ok.platform, "web");
}

#[tokio::test]
async fn unknown_token_is_unauthenticated_on_http_and_on_the_connection() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let http = Api::new(&server);

    for token in ["garbage", "", &format!("{}A", alice.token), &"t".repeat(4000)] {
        let a = http.me(token).await;
        assert_eq!((a.status, a.code()), (401, "unauthenticated"), "{token:.20?}: {a:?}");
    }
    let a = http.request(Method::GET, "/me", None, None).await;
    assert_eq!((a.status, a.code()), (401, "unauthenticated"), "no header: {a:?}");
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/me", server.http_url()))
        .header("authorization", format!("Basic {}", alice.token))
        .send()
        .await
        .expect("get");
    let a = answer(resp).await;
    assert_eq!((a.status, a.code()), (401, "unauthenticated"), "wrong scheme: {a:?}");

    // The long connection: a fatal error, then the close; on TCP and WS.
    for url in [server.tcp_url(), server.ws_url()] {
        let mut conn = RawConnection::open(&url, false).await.expect("open");
        conn.send(&auth_frame(1, "garbage", 1)).await.expect("send auth");
        expect_fatal(&mut conn, "unauthenticated").await;
    }
    let mut config = alice.client_config(&server.tcp_url());
    config.token = "garbage".into();
    let err = ferry_client::Client::connect(config).await.map(drop).unwrap_err();
    assert_eq!(api_code(&err), ErrorCode::Unauthenticated);
}

// --- logout ------------------------------------------------------------------------

#[tokio::test]
async fn logout_revokes_the_token_and_kicks_its_live_connections() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let other_device = server.login("alice").await;

    let mut raw_conn = alice.raw_tcp().await.0;
    let (sdk, mut events) = alice.connect_ws().await;
    let mut other_conn = other_device.raw_tcp().await.0;
    assert_usable(&mut raw_conn).await;
    sdk.ping().await.expect("sdk ping");

    alice.http.logout().await.expect("logout");

    // Both live connections on the token are told why, then closed.
    expect_kicked(&mut raw_conn, "logout").await;
    let kicked = next_kicked(&mut events).await;
    assert_eq!(kicked, "logout");
    assert!(tokio::time::timeout(WAIT, events.recv()).await.expect("event stream did not end").is_none());
    assert!(!sdk.is_connected());

    // The token is dead on HTTP and for new connections.
    let err = alice.http.me().await.unwrap_err();
    assert_eq!(api_code(&err), ErrorCode::Unauthenticated);
    let err = RawConnection::connect(&server.tcp_url(), false, &alice.token).await.unwrap_err();
    assert_eq!(api_code(&err), ErrorCode::Unauthenticated);
    let err = alice.http.logout().await.unwrap_err();
    assert_eq!(api_code(&err), ErrorCode::Unauthenticated);

    // The user's other device is untouched.
    assert_usable(&mut other_conn).await;
    assert_eq!(other_device.http.me().await.expect("me").device_id, other_device.device_id);
}

// --- rate limits -------------------------------------------------------------------

fn assert_rate_limited(a: &Answer) {
    assert_eq!((a.status, a.code()), (429, "rate_limited"), "{a:?}");
    let ms = a.body["error"]["retry_after_ms"].as_u64().or(a.body["retry_after_ms"].as_u64());
    assert!(ms.is_some_and(|ms| ms > 0), "retry_after_ms > 0 expected: {a:?}");
    let secs: u64 = a.retry_after.as_deref().expect("Retry-After header").parse().expect("Retry-After in seconds");
    assert!(secs >= 1, "{a:?}");
}

#[tokio::test]
async fn login_is_rate_limited_per_username() {
    let server = TestServer::start_with(|c| c.auth.login_per_username_per_minute = 3).await;
    let http = Api::new(&server);
    assert_eq!(http.register("alice", PASSWORD).await.status, 201);
    assert_eq!(http.register("bob", PASSWORD).await.status, 201);

    assert_eq!(http.login("alice", PASSWORD).await.status, 200);
    assert_eq!(http.login("alice", "wrong password!").await.code(), "invalid_credentials");
    assert_eq!(http.login("alice", "wrong password!").await.code(), "invalid_credentials");
    // The 4th attempt within the minute is refused, even with the right
    // password and however the name is spelled.
    assert_rate_limited(&http.login("alice", PASSWORD).await);
    assert_rate_limited(&http.login(" ALICE ", PASSWORD).await);

    // The SDK surfaces the wait.
    let err = server.http().login("alice", PASSWORD, "cli", None).await.unwrap_err();
    let ClientError::Api(e) = err else { panic!("not an API error: {err}") };
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert!(e.retry_after_ms.is_some_and(|ms| ms > 0), "{e:?}");

    // Another username is not affected.
    assert_eq!(http.login("bob", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn login_is_rate_limited_per_ip() {
    let server = TestServer::start_with(|c| c.auth.login_per_ip_per_minute = 3).await;
    let http = Api::new(&server);
    // Registrations have their own budget and do not use the login one.
    for name in ["alice", "bob", "carol", "dave"] {
        assert_eq!(http.register(name, PASSWORD).await.status, 201);
    }
    assert_eq!(http.login("alice", PASSWORD).await.status, 200);
    assert_eq!(http.login("bob", PASSWORD).await.status, 200);
    assert_eq!(http.login("alice", "wrong password!").await.code(), "invalid_credentials");

    // Any username from this address is refused now.
    assert_rate_limited(&http.login("carol", PASSWORD).await);

    // Another client address still logs in.
    let elsewhere = Api::from_ip(&server, IpAddr::from([127, 0, 0, 2]));
    let a = elsewhere.login("bob", PASSWORD).await;
    assert_eq!(a.status, 200, "{a:?}");
}

#[tokio::test]
async fn registration_is_rate_limited_per_ip_on_its_own_budget() {
    let server = TestServer::start_with(|c| c.auth.register_per_ip_per_minute = 2).await;
    let http = Api::new(&server);
    assert_eq!(http.register("alice", PASSWORD).await.status, 201);
    // A refused registration (taken name) still counts: it cost a lookup.
    assert_eq!(http.register("alice", PASSWORD).await.code(), "username_taken");
    assert_rate_limited(&http.register("bob", PASSWORD).await);
    // Logging in from the same address is not affected.
    assert_eq!(http.login("alice", PASSWORD).await.status, 200);
    let elsewhere = Api::from_ip(&server, IpAddr::from([127, 0, 0, 2]));
    assert_eq!(elsewhere.register("bob", PASSWORD).await.status, 201);
}

// --- devices -----------------------------------------------------------------------

#[tokio::test]
async fn multi_device_policy_keeps_every_login_connected() {
    let server = TestServer::start().await;
    let first = server.user("alice").await;
    let mut first_conn = first.raw_tcp().await.0;
    let second = server.login("alice").await;
    let mut second_conn = second.raw_tcp().await.0;
    assert_ne!(first.device_id, second.device_id);

    assert_usable(&mut first_conn).await;
    assert_usable(&mut second_conn).await;
    first.http.me().await.expect("first token still valid");
    second.http.me().await.expect("second token valid");
}

#[tokio::test]
async fn one_per_platform_policy_replaces_the_same_platform_only() {
    let server = TestServer::start_with(|c| c.auth.device_policy = DevicePolicy::OnePerPlatform).await;
    let cli1 = server.user("alice").await;
    let mut cli1_conn = cli1.raw_tcp().await.0;
    let (cli1_sdk, mut cli1_events) = cli1.connect_tcp().await;
    let web = server.login_on("alice", "web").await;
    let mut web_conn = web.raw_tcp().await.0;
    // A web login did not replace the cli device.
    assert_usable(&mut cli1_conn).await;
    cli1.http.me().await.expect("cli token survives a web login");

    let cli2 = server.login("alice").await;
    expect_kicked(&mut cli1_conn, "replaced").await;
    let reason = next_kicked(&mut cli1_events).await;
    assert_eq!(reason, "replaced");
    assert!(!cli1_sdk.is_connected());
    assert_eq!(api_code(&cli1.http.me().await.unwrap_err()), ErrorCode::Unauthenticated);
    let err = RawConnection::connect(&server.tcp_url(), false, &cli1.token).await.unwrap_err();
    assert_eq!(api_code(&err), ErrorCode::Unauthenticated);

    // The web device is untouched; the new cli device works.
    assert_usable(&mut web_conn).await;
    web.http.me().await.expect("web token survives a cli login");
    let mut cli2_conn = cli2.raw_tcp().await.0;
    assert_usable(&mut cli2_conn).await;
}

#[tokio::test]
async fn relogin_on_the_same_device_replaces_its_token() {
    let server = TestServer::start().await;
    let first = server.user("alice").await;
    let mut first_conn = first.raw_tcp().await.0;
    let other_device = server.login("alice").await;

    let again = server.http().login("alice", PASSWORD, "cli", Some(&first.device_id)).await.expect("re-login");
    assert_eq!(again.device_id, first.device_id);
    assert_ne!(again.token, first.token);

    expect_kicked(&mut first_conn, "replaced").await;
    assert_eq!(api_code(&first.http.me().await.unwrap_err()), ErrorCode::Unauthenticated);
    let me = server.http().with_token(again.token.clone()).me().await.expect("new token");
    assert_eq!(me.device_id, first.device_id);
    // Only that device: the user's other device keeps its token.
    other_device.http.me().await.expect("other device untouched");

    // Another user naming the same device id touches nothing of alice's.
    let bob = server.user("bob").await;
    let bob_again = server.http().login("bob", PASSWORD, "cli", Some(&first.device_id)).await.expect("bob login");
    assert_eq!(bob_again.user.id, bob.id);
    server.http().with_token(again.token).me().await.expect("alice's token survives bob's login");

    // A malformed device id is refused.
    let err = server.http().login("alice", PASSWORD, "cli", Some("no spaces allowed")).await.unwrap_err();
    assert_eq!(api_code(&err), ErrorCode::InvalidArgument);
}

// --- heartbeat and deadlines ---------------------------------------------------------

#[tokio::test]
async fn silent_connections_are_closed_while_pinging_clients_stay() {
    let server = TestServer::start_with(|c| {
        c.gateway.heartbeat_interval_ms = 200;
        c.gateway.idle_timeout_ms = 400;
    })
    .await;
    let alice: TestUser = server.user("alice").await;
    let (client, mut events) = alice.connect_tcp().await;
    let (mut silent, ok) = alice.raw_tcp().await;
    assert_eq!(ok.heartbeat_interval_ms, 200);

    // The silent one gets a fatal error, then the close.
    match silent.recv_timeout(WAIT).await.expect("no frame within the wait") {
        Some(Frame { body: Some(Body::Error(e)), .. }) => assert!(e.fatal, "{e:?}"),
        other => panic!("expected a fatal error frame, got {other:?}"),
    }
    assert_eq!(silent.recv_timeout(WAIT).await.expect("no close within the wait"), None);

    // The SDK pings on the interval it was given, so it outlives several
    // idle timeouts without a single reconnect.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(client.is_connected());
    client.ping().await.expect("ping after 1.5 s");
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(event, Event::Disconnected | Event::Reconnected | Event::Closed { .. } | Event::Kicked { .. }),
            "the SDK connection dropped: {event:?}"
        );
    }
}

#[tokio::test]
async fn connections_that_never_authenticate_are_closed() {
    let server = TestServer::start_with(|c| c.gateway.auth_timeout_ms = 300).await;

    // Nothing at all.
    let mut idle = RawConnection::open(&server.tcp_url(), false).await.expect("open");
    expect_fatal(&mut idle, "unauthenticated").await;

    // Half a length prefix, then nothing (slowloris).
    let mut slow = RawConnection::open(&server.tcp_url(), false).await.expect("open");
    let Transport::Tcp(framed) = slow.transport_mut() else { panic!("tcp url gave a websocket") };
    framed.get_mut().write_all(&[0, 0]).await.expect("write");
    expect_fatal(&mut slow, "unauthenticated").await;

    // A WebSocket that never sends auth.
    let mut ws = RawConnection::open(&server.ws_url(), false).await.expect("open");
    expect_fatal(&mut ws, "unauthenticated").await;

    // The server itself is fine.
    let alice = server.user("alice").await;
    let (mut conn, _) = alice.raw_tcp().await;
    assert_usable(&mut conn).await;
}

/// Authentication is cached per token; a profile edit must still show in
/// `/me` at once, and a revoked token must stop working at once.
#[tokio::test]
async fn cached_sessions_follow_profile_edits_and_revocation() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let http = Api::new(&server);
    // Warm the cache, edit, read again.
    assert_eq!(http.me(&alice.token).await.status, 200);
    let patch = json!({ "display_name": "Alice Liddell" });
    assert_eq!(http.request(Method::PATCH, "/me", Some(&alice.token), Some(&patch)).await.status, 200);
    let a = http.me(&alice.token).await;
    assert_eq!(a.body["user"]["display_name"], "Alice Liddell");
    // Revocation through logout is immediate even though the token was cached.
    alice.http.logout().await.expect("logout");
    assert_eq!(http.me(&alice.token).await.status, 401);
}
