//! Presence: people who share a conversation see each other come and go;
//! strangers see nothing, neither by asking nor by push.

use ferry_client::{Client, Event, Target, v1};
use ferry_testkit::{TestServer, TestUser, WAIT, sdk::next_presence};

/// Makes `a` and `b` peers: one direct message, then `a` disconnects.
async fn make_peers(a: &TestUser, b: &TestUser) {
    let (client, _events) = a.connect_tcp().await;
    tokio::time::timeout(WAIT, client.send_text(Target::User(b.id), "hello")).await.expect("send hung").expect("send");
    client.close().await;
}

/// Everything the server pushed to `client` before now has been turned into
/// events: the session writes queued pushes before answering the ping, and
/// the client handles received pushes before serving `sync`.
async fn flush(client: &Client) {
    client.ping().await.expect("ping");
    client.sync().await.expect("sync");
}

fn presence_of(list: &[v1::PresenceEvent], user: i64) -> Option<&v1::PresenceEvent> {
    list.iter().find(|p| p.user_id == user)
}

#[tokio::test]
async fn peers_see_each_other_come_and_go() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    make_peers(&alice, &bob).await;

    let (alice_client, mut alice_events) = alice.connect_tcp().await;
    let before = alice_client.get_presence(&[bob.id]).await.expect("presence");
    assert_eq!(before, vec![v1::PresenceEvent { user_id: bob.id, online: false, devices: 0 }]);

    // Bob comes online: alice is told.
    let (bob_client, _bob_events) = bob.connect_tcp().await;
    let p = next_presence(&mut alice_events).await;
    assert_eq!(p, v1::PresenceEvent { user_id: bob.id, online: true, devices: 1 });

    // Bob sees alice among his peers, on both transports.
    let list = bob_client.get_presence(&[]).await.expect("presence");
    assert_eq!(presence_of(&list, alice.id), Some(&v1::PresenceEvent { user_id: alice.id, online: true, devices: 1 }));
    let list = bob.http.presence(&[]).await.expect("http presence");
    let alice_there = list.iter().find(|p| p.user_id == alice.id).expect("alice listed");
    assert!(alice_there.online && alice_there.devices == 1, "{alice_there:?}");

    // A second device of bob's: no new transition, but the count shows it.
    let bob_phone = server.login_on("bob", "ios").await;
    let (phone_client, _phone_events) = bob_phone.connect_tcp().await;
    let list = alice_client.get_presence(&[bob.id]).await.expect("presence");
    assert_eq!(list, vec![v1::PresenceEvent { user_id: bob.id, online: true, devices: 2 }]);
    phone_client.close().await;

    // Bob's last device leaves: alice is told he is offline, and that is the
    // next presence event she gets (no "offline" while a device remained).
    bob_client.close().await;
    let p = next_presence(&mut alice_events).await;
    assert_eq!(p, v1::PresenceEvent { user_id: bob.id, online: false, devices: 0 });
    let list = alice_client.get_presence(&[]).await.expect("presence");
    assert_eq!(presence_of(&list, bob.id).map(|p| p.online), Some(false));
}

#[tokio::test]
async fn strangers_cannot_see_presence() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    make_peers(&alice, &bob).await;

    let (carol_client, mut carol_events) = carol.connect_tcp().await;
    let (_bob_client, mut bob_events) = bob.connect_tcp().await;

    // Alice comes online: her peer bob hears of it. (The news that she left
    // after `make_peers` may reach him first: presence is pushed as it
    // happens, with no ordering promise against his own connect.)
    let (alice_client, _alice_events) = alice.connect_tcp().await;
    let mut p = next_presence(&mut bob_events).await;
    if (p.user_id, p.online) == (alice.id, false) {
        p = next_presence(&mut bob_events).await;
    }
    assert_eq!((p.user_id, p.online), (alice.id, true));

    // Carol asks about alice by id: alice is left out, as if unknown.
    assert_eq!(carol_client.get_presence(&[alice.id]).await.expect("presence"), vec![]);
    assert_eq!(carol_client.get_presence(&[alice.id, bob.id]).await.expect("presence"), vec![]);
    assert!(carol.http.presence(&[alice.id]).await.expect("http presence").is_empty());
    // Her own presence and her (empty) peer list are fine.
    assert_eq!(carol_client.get_presence(&[]).await.expect("presence"), vec![]);
    let me = carol_client.get_presence(&[carol.id]).await.expect("presence");
    assert_eq!(me, vec![v1::PresenceEvent { user_id: carol.id, online: true, devices: 1 }]);

    // Alice leaves: bob hears of it; carol heard of neither transition.
    alice_client.close().await;
    let p = next_presence(&mut bob_events).await;
    assert_eq!((p.user_id, p.online), (alice.id, false));
    flush(&carol_client).await;
    while let Ok(event) = carol_events.try_recv() {
        assert!(!matches!(event, Event::Presence(_)), "a stranger got a presence event: {event:?}");
    }
}

#[tokio::test]
async fn a_block_stops_presence_both_ways() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    make_peers(&alice, &bob).await;
    bob.http.block(alice.id).await.expect("block");

    let (alice_client, mut alice_events) = alice.connect_tcp().await;
    let (bob_client, mut bob_events) = bob.connect_tcp().await;
    // Neither sees the other, by asking or by push.
    assert!(alice_client.get_presence(&[bob.id]).await.expect("presence").is_empty());
    assert!(bob_client.get_presence(&[alice.id]).await.expect("presence").is_empty());
    assert!(alice_client.get_presence(&[]).await.expect("presence").is_empty());
    flush(&alice_client).await;
    flush(&bob_client).await;
    for events in [&mut alice_events, &mut bob_events] {
        while let Ok(event) = events.try_recv() {
            assert!(!matches!(event, Event::Presence(_)), "presence crossed a block: {event:?}");
        }
    }
    // Unblocked, they are peers again.
    bob.http.unblock(alice.id).await.expect("unblock");
    let seen = alice_client.get_presence(&[bob.id]).await.expect("presence");
    assert_eq!(seen, vec![v1::PresenceEvent { user_id: bob.id, online: true, devices: 1 }]);
}
