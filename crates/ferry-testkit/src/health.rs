//! Checks that a server still serves everyone else after a test has thrown
//! something bad at it.

use ferry_client::Target;

use crate::{TestServer, WAIT, next_message, text_of};

/// The server still answers `/healthz`.
pub async fn assert_healthy(server: &TestServer) {
    tokio::time::timeout(WAIT, server.http().healthz()).await.expect("healthz hung").expect("healthz failed");
}

/// Two fresh users, registered as `a` and `b`, exchange a message end to
/// end: the server still serves real traffic.
pub async fn assert_serving(server: &TestServer, a: &str, b: &str) {
    let (sender, receiver) = (server.user(a).await, server.user(b).await);
    let (rc, mut events) = receiver.connect_tcp().await;
    let (sc, _sevents) = sender.connect_tcp().await;
    let ack = tokio::time::timeout(WAIT, sc.send_text(Target::User(receiver.id), "still here"))
        .await
        .expect("send hung")
        .expect("send failed");
    let m = next_message(&mut events, WAIT).await;
    assert_eq!((m.seq, text_of(&m).as_ref(), m.sender_id), (ack.seq, "still here", sender.id));
    sc.close().await;
    rc.close().await;
}
