//! The finer rules of the message model: a retry is answered with its
//! original ack even when it could no longer be sent, system events cannot
//! collide with client ids, times follow seqs, pages respect the frame
//! limit, and reading an empty direct chat is not an error.

use ferry_client::{Target, api::NewGroup, text_content};
use ferry_testkit::{TestServer, ids::direct_conversation, sdk::api_code};

#[tokio::test]
async fn a_retry_that_can_no_longer_be_sent_gets_its_original_ack() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (a, _events) = alice.connect_tcp().await;
    let first = a.send_with_id("r-1".into(), Target::User(bob.id), text_content("hello")).await.expect("send");

    // Bob blocks alice: new messages are refused...
    bob.http.block(alice.id).await.expect("block");
    let refused = a.send_with_id("r-2".into(), Target::User(bob.id), text_content("again")).await.expect_err("blocked");
    assert_eq!(api_code(&refused).as_str(), "blocked");
    // ...but the retry of the stored one is answered as every retry is.
    let retry = a.send_with_id("r-1".into(), Target::User(bob.id), text_content("hello")).await.expect("retry acked");
    assert_eq!((retry.seq, retry.server_msg_id, retry.duplicate), (first.seq, first.server_msg_id, true));
    let over_http = alice.http.send_text("r-1", &Target::User(bob.id), "hello").await.expect("retry over HTTP");
    assert_eq!((over_http.seq, over_http.duplicate), (first.seq, true));
}

#[tokio::test]
async fn system_events_never_take_a_client_msg_id_and_times_follow_seqs() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let new = NewGroup { name: "crew".into(), members: vec![bob.id], ..Default::default() };
    let group = alice.http.create_group(&new).await.expect("group");
    let conversation = format!("g_{}", group.id);
    let (a, _events) = alice.connect_tcp().await;
    for i in 0..20 {
        a.send_text(Target::Conversation(conversation.clone()), format!("m{i}")).await.expect("send");
    }
    let page = bob.http.messages(&conversation, 0, 100).await.expect("history");
    let creation = &page.messages[0];
    assert!(creation.client_msg_id.contains(' '), "{:?} is not a valid client id", creation.client_msg_id);
    // A client cannot even try to use it.
    let taken =
        a.send_with_id(creation.client_msg_id.clone(), Target::Conversation(conversation.clone()), text_content("x"));
    assert_eq!(api_code(&taken.await.expect_err("invalid id")).as_str(), "invalid_argument");
    let times: Vec<i64> = page.messages.iter().map(|m| m.server_time).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "server_time never goes back along seqs: {times:?}");
}

#[tokio::test]
async fn a_page_stops_short_of_the_frame_limit() {
    let server = TestServer::start_with(|c| {
        c.limits.max_frame_bytes = 64 * 1024;
        c.limits.max_text_bytes = 16 * 1024;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (a, _events) = alice.connect_tcp().await;
    let big = "y".repeat(16 * 1024);
    for _ in 0..10 {
        a.send_text(Target::User(bob.id), big.clone()).await.expect("send");
    }
    let conversation = direct_conversation(alice.id, bob.id);
    let (b, _events) = bob.connect_tcp().await;
    let mut after = 0;
    let mut pages = 0;
    loop {
        let page = b.pull(&conversation, after, 1000).await.expect("pull");
        assert!(!page.messages.is_empty());
        let bytes: usize = page.messages.iter().map(prost::Message::encoded_len).sum();
        assert!(bytes <= 64 * 1024, "a page of {bytes} bytes exceeds the frame limit");
        assert_eq!(page.messages[0].seq, after + 1, "pages continue where the last one stopped");
        after = page.messages.last().expect("non-empty").seq;
        pages += 1;
        if !page.has_more {
            break;
        }
    }
    assert_eq!((after, pages > 1), (10, true));
}

#[tokio::test]
async fn reading_an_empty_direct_chat_is_position_zero() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let conversation = direct_conversation(alice.id, bob.id);
    let (a, _events) = alice.connect_tcp().await;
    assert!(a.pull(&conversation, 0, 10).await.expect("pull").messages.is_empty());
    assert_eq!(a.mark_read(&conversation, 5).await.expect("mark read").read_seq, 0);
    assert_eq!(alice.http.mark_read(&conversation, 5).await.expect("mark read over HTTP").read_seq, 0);
}
