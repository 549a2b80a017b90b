//! The rich content kinds over real sockets: every kind a user may send
//! reaches the peer's devices live and by sync exactly as sent, with its
//! preview line; out-of-bounds fields and server-only kinds are refused
//! with `invalid_argument` naming the field, the connection goes on and
//! nothing refused is stored; the HTTP API speaks the same kinds in
//! proto3 JSON.

use ferry_client::{
    Target,
    content::{kind_of, text_of},
    v1,
    v1::message_content::Kind,
};
use ferry_testkit::{TestServer, WAIT, http::Api, http::error_code, next_message, sdk::api_code};
use reqwest::Method;
use serde_json::json;

fn file(name: &str, mime: &str) -> v1::FileRef {
    v1::FileRef {
        file_id: "f_0123".into(),
        size: 48_213,
        mime: mime.into(),
        name: name.into(),
        sha256: "ab".repeat(32),
    }
}

fn content(kind: Kind) -> v1::MessageContent {
    v1::MessageContent { kind: Some(kind), ..Default::default() }
}

/// One valid message of every kind a user may send, with its preview.
fn every_kind(card_user: i64) -> Vec<(v1::MessageContent, &'static str, &'static str)> {
    vec![
        (
            content(Kind::Image(v1::Image {
                file: Some(file("cat.png", "image/png")),
                width: 1024,
                height: 768,
                thumbnail: Some(file("cat-thumb.jpg", "image/jpeg")),
            })),
            "image",
            "[Image]",
        ),
        (
            content(Kind::File(v1::File { file: Some(file("季度报告.pdf", "application/pdf")) })),
            "file",
            "[File] 季度报告.pdf",
        ),
        (
            content(Kind::Voice(v1::Voice {
                file: Some(file("note.ogg", "audio/ogg")),
                duration_ms: 7_400,
                waveform: vec![1, 5, 9, 5, 1].into(),
            })),
            "voice",
            "[Voice 0:07]",
        ),
        (
            content(Kind::Video(v1::Video {
                file: Some(file("clip.mp4", "video/mp4")),
                duration_ms: 62_000,
                width: 1920,
                height: 1080,
                cover: None,
            })),
            "video",
            "[Video 1:02]",
        ),
        (
            content(Kind::Location(v1::Location {
                latitude: 31.2304,
                longitude: 121.4737,
                title: "人民广场".into(),
                address: "上海市黄浦区".into(),
            })),
            "location",
            "[Location] 人民广场",
        ),
        (content(Kind::ContactCard(v1::ContactCard { user_id: card_user })), "contact_card", "[Contact card]"),
        (
            content(Kind::Link(v1::Link {
                url: "https://example.com/post?id=7#top".into(),
                title: "A post".into(),
                description: "Line one\nline two".into(),
                image: None,
            })),
            "link",
            "[Link] A post",
        ),
        (
            content(Kind::Custom(v1::Custom {
                r#type: "acme.poll".into(),
                payload_json: r#"{"question":"Lunch?","options":["noodles","rice"]}"#.into(),
                fallback_text: "[Poll] Lunch?".into(),
            })),
            "custom",
            "[Poll] Lunch?",
        ),
    ]
}

#[tokio::test]
async fn every_kind_reaches_both_devices_and_sync_as_sent() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let (a, _a_events) = alice.connect_tcp().await;
    let (_b1, mut b1_events) = bob.connect_tcp().await;
    let (_b2, mut b2_events) = bob.connect_ws().await;
    let kinds = every_kind(carol.id);
    let mut acks = Vec::new();
    for (i, (c, _, _)) in kinds.iter().enumerate() {
        acks.push(a.send_with_id(format!("rich-{i}"), Target::User(bob.id), c.clone()).await.expect("sent"));
    }
    for events in [&mut b1_events, &mut b2_events] {
        for (i, (c, kind, preview)) in kinds.iter().enumerate() {
            let m = next_message(events, WAIT).await;
            assert_eq!(m.seq, acks[i].seq);
            assert_eq!(m.content.as_ref(), Some(c), "pushed as sent");
            assert_eq!((kind_of(&m), text_of(&m).as_ref()), (*kind, *preview));
        }
    }
    // Offline catch-up (sync over HTTP) returns the same content.
    let synced = bob.http.messages(&ferry_testkit::ids::direct_conversation(alice.id, bob.id), 0, 100).await;
    let synced = synced.expect("history").messages;
    let contents: Vec<_> = synced.iter().map(|m| m.content.clone().expect("content")).collect();
    let sent: Vec<_> = kinds.into_iter().map(|(c, _, _)| c).collect();
    assert_eq!(contents, sent);
}

#[tokio::test]
async fn out_of_bounds_fields_are_refused_naming_the_field_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let (a, _events) = alice.connect_tcp().await;
    let mut bad_sha = file("a.png", "image/png");
    bad_sha.sha256 = "AB".repeat(32);
    let cases = [
        (content(Kind::Image(v1::Image { file: Some(bad_sha), width: 10, height: 10, thumbnail: None })), "sha256"),
        (content(Kind::Image(v1::Image { file: Some(file("a.png", "image/png")), ..Default::default() })), "width"),
        (content(Kind::File(v1::File { file: None })), "file.file"),
        (content(Kind::File(v1::File { file: Some(file("../../etc/passwd", "text/plain")) })), "name"),
        (content(Kind::Voice(v1::Voice { file: Some(file("v.ogg", "audio/ogg")), ..Default::default() })), "duration"),
        (content(Kind::Location(v1::Location { latitude: 91.0, ..Default::default() })), "latitude"),
        (content(Kind::ContactCard(v1::ContactCard { user_id: 999_999 })), "contact_card"),
        (content(Kind::Link(v1::Link { url: "javascript:alert(1)".into(), ..Default::default() })), "link.url"),
        (
            content(Kind::Custom(v1::Custom {
                r#type: "acme.poll".into(),
                payload_json: "[1,2,3]".into(),
                fallback_text: String::new(),
            })),
            "custom.payload",
        ),
        (content(Kind::CallLog(v1::CallLog { outcome: "missed".into(), ..Default::default() })), "server"),
    ];
    for (i, (c, field)) in cases.into_iter().enumerate() {
        let e = a.send_with_id(format!("bad-{i}"), Target::User(bob.id), c).await.expect_err("refused");
        assert_eq!(api_code(&e).as_str(), "invalid_argument", "case {i}: {e}");
        assert!(e.to_string().contains(field), "case {i}: {e} should name {field}");
    }
    // The connection goes on, and only the valid message is stored.
    let ok = a.send_with_id("good".into(), Target::User(bob.id), every_kind(bob.id).remove(0).0).await.expect("valid");
    assert_eq!(ok.seq, 1, "no refused message took a seq");
}

#[tokio::test]
async fn http_sends_and_reads_rich_kinds_in_proto3_json() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let image = json!({"image": {
        "file": {"fileId": "f_9", "size": "1234", "mime": "image/jpeg", "name": "猫.jpg", "sha256": "0f".repeat(32)},
        "width": 640, "height": 480
    }});
    let body = json!({"clientMsgId": "h-1", "userId": bob.id.to_string(), "content": image});
    let (status, ack) = api.call(Method::POST, "/messages", &alice, Some(body)).await;
    assert_eq!(status, 200, "{ack}");
    let conv = ferry_testkit::ids::direct_conversation(alice.id, bob.id);
    let history = api.get(&format!("/conversations/{conv}/messages"), &bob).await;
    assert_eq!(history["messages"][0]["content"], image, "read back as sent: {history}");

    let card = json!({"contactCard": {"userId": "424242"}});
    let body = json!({"clientMsgId": "h-2", "userId": bob.id.to_string(), "content": card});
    let (status, err) = api.call(Method::POST, "/messages", &alice, Some(body)).await;
    assert_eq!((status, error_code(&err)), (400, "invalid_argument"), "{err}");
    let call = json!({"callLog": {"outcome": "missed", "media": "audio"}});
    let body = json!({"clientMsgId": "h-3", "userId": bob.id.to_string(), "content": call});
    let (status, err) = api.call(Method::POST, "/messages", &alice, Some(body)).await;
    assert_eq!((status, error_code(&err)), (400, "invalid_argument"), "{err}");
}
