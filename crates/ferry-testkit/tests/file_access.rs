//! Who may read a file, over real sockets: its uploader, and whoever can see
//! a message referencing it — in a direct chat both sides, in a group the
//! members who joined before it — until the message is recalled. A message
//! may reference only files its sender may read, and recipients get the
//! reference as the server stores the file, not as the sender claimed it.

use ferry_client::{
    Target,
    api::{FileInfo, NewGroup},
    content::{forward, message_op, revoke_op},
    v1::{self, message_content::Kind},
};
use ferry_core::ErrorCode;
use ferry_testkit::{TestServer, TestUser, http::Api, ids::direct_conversation, sdk::api_code};

fn file_message(id: &str) -> v1::MessageContent {
    let file = v1::FileRef { file_id: id.into(), ..Default::default() };
    v1::MessageContent { kind: Some(Kind::File(v1::File { file: Some(file) })), ..Default::default() }
}

/// Downloads `f` as `user` with their token: the status, and whether the
/// bytes are `expected`.
async fn reads(api: &Api, user: &TestUser, f: &FileInfo, expected: &[u8]) -> u16 {
    let (status, body) = api.download(&format!("/files/{}", f.id), Some(user)).await;
    if status == 200 {
        assert_eq!(body, expected, "{} read other bytes", user.username);
    }
    status
}

#[tokio::test]
async fn a_direct_message_grants_both_sides_and_a_recall_takes_it_back() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let (a, _) = alice.connect_tcp().await;
    let (b, _) = bob.connect_tcp().await;
    let (c, _) = carol.connect_tcp().await;
    let bytes = b"quarterly figures".to_vec();
    let report = api.upload(&alice, "report.txt", "text/plain", bytes.clone()).await;
    assert_eq!(reads(&api, &alice, &report, &bytes).await, 200, "the uploader reads");
    assert_eq!(reads(&api, &bob, &report, &bytes).await, 404, "nobody else, yet");

    // Nobody may send a file they cannot read, and the refusal says which.
    let e = c.send_with_id("steal".into(), Target::User(bob.id), file_message(&report.id)).await.expect_err("refused");
    assert_eq!(api_code(&e), ErrorCode::NotFound);
    assert!(e.to_string().contains("file.file"), "{e}");
    let e = c.send_with_id("ghost".into(), Target::User(bob.id), file_message("no_such_file")).await.expect_err("no");
    assert_eq!(api_code(&e), ErrorCode::NotFound);

    let sent = a.send_with_id("r1".into(), Target::User(bob.id), file_message(&report.id)).await.expect("sent");
    assert_eq!(reads(&api, &bob, &report, &bytes).await, 200, "the peer reads what it was sent");
    assert_eq!(reads(&api, &carol, &report, &bytes).await, 404, "a third user does not");
    // Bob's signed URL works for him without a token.
    let (status, info) = api.call(reqwest::Method::GET, &format!("/files/{}/info", report.id), &bob, None).await;
    assert_eq!(status, 200, "{info}");
    let (status, body) = api.download(info["file"]["url"].as_str().expect("url"), None).await;
    assert_eq!((status, body), (200, bytes.clone()));

    // What bob can read he can pass on: forwarded to carol, she reads it.
    let with_alice = direct_conversation(alice.id, bob.id);
    let fwd = forward("fw1", with_alice.clone(), vec![sent.seq], vec![Target::User(carol.id)], false);
    let result = bob.http.forward(&fwd).await.expect("forwarded");
    assert!(result.outcomes[0].error.is_none(), "{result:?}");
    assert_eq!(reads(&api, &carol, &report, &bytes).await, 200, "the forward's recipient reads");

    // A recall takes back the access it gave (bob's forward still gives his).
    let memo_bytes = b"memo".to_vec();
    let memo = api.upload(&alice, "memo.txt", "text/plain", memo_bytes.clone()).await;
    let memo_msg = a.send_with_id("m1".into(), Target::User(bob.id), file_message(&memo.id)).await.expect("sent");
    assert_eq!(reads(&api, &bob, &memo, &memo_bytes).await, 200);
    a.op(message_op(&with_alice, memo_msg.seq, revoke_op())).await.expect("recalled");
    assert_eq!(reads(&api, &bob, &memo, &memo_bytes).await, 404, "recalled: gone for the peer");
    assert_eq!(reads(&api, &alice, &memo, &memo_bytes).await, 200, "still the uploader's");
    let e = b.send_with_id("again".into(), Target::User(carol.id), file_message(&memo.id)).await.expect_err("no");
    assert_eq!(api_code(&e), ErrorCode::NotFound, "and no longer his to send");
}

#[tokio::test]
async fn group_members_who_joined_before_the_message_read_it() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob, carol, dave) =
        (server.user("alice").await, server.user("bob").await, server.user("carol").await, server.user("dave").await);
    let group = alice
        .http
        .create_group(&NewGroup { name: "crew".into(), members: vec![bob.id, carol.id], ..NewGroup::default() })
        .await
        .expect("group");
    let (a, _) = alice.connect_tcp().await;
    let bytes = b"plan for the offsite".to_vec();
    let plan = api.upload(&alice, "plan.txt", "text/plain", bytes.clone()).await;
    a.send_with_id("p".into(), Target::Conversation(group.conversation_id.clone()), file_message(&plan.id))
        .await
        .expect("sent");
    assert_eq!(reads(&api, &bob, &plan, &bytes).await, 200);
    assert_eq!(reads(&api, &carol, &plan, &bytes).await, 200);

    alice.http.invite(group.id, &[dave.id]).await.expect("invited");
    assert_eq!(reads(&api, &dave, &plan, &bytes).await, 404, "joined after the message: not his history");
    carol.http.leave_group(group.id).await.expect("left");
    assert_eq!(reads(&api, &carol, &plan, &bytes).await, 404, "a former member no longer reads");
}

#[tokio::test]
async fn recipients_get_the_stored_file_not_the_senders_claims() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let (a, _) = alice.connect_tcp().await;
    let f = api.upload(&alice, "notes.txt", "text/plain", b"twelve bytes".to_vec()).await;
    let lie = v1::FileRef {
        file_id: f.id.clone(),
        size: 1 << 30,
        mime: "application/pdf".into(),
        name: "renamed.txt".into(),
        sha256: "00".repeat(32),
    };
    let content = v1::MessageContent { kind: Some(Kind::File(v1::File { file: Some(lie) })), ..Default::default() };
    a.send_with_id("x".into(), Target::User(bob.id), content).await.expect("sent");
    let history = bob.http.messages(&direct_conversation(alice.id, bob.id), 0, 10).await.expect("history");
    let Some(Kind::File(got)) = history.messages[0].content.clone().and_then(|c| c.kind) else { panic!("a file") };
    let got = got.file.expect("a reference");
    assert_eq!((got.size, got.mime.as_str(), got.sha256.as_str()), (12, "text/plain", f.sha256.as_str()));
    assert_eq!(got.name, "renamed.txt", "the sender may name what they send");
}
